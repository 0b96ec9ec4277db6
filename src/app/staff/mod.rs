//! Staff use cases, one file per kind of operation: sessions (sign-in, refresh, the access check), triage
//! (the queue and the actions on a report), accounts and the audit log, API keys, and the status vocabulary.
//! Every action and every read of a reporter's personal data is written to the audit log in the transaction
//! that does it. Answers are the views of `views`, never store rows.

pub mod accounts;
pub mod intake;
pub mod keys;
pub mod sessions;
pub mod triage;
pub mod views;
pub mod vocabulary;

pub(crate) use super::identity::recheck;
pub use super::identity::{Admin, Principal, Role};
pub(crate) use super::now;

pub use accounts::{
    audit_log, create_user, new_user, prepare_password, set_user_active, update_user, users,
    NewUser, UserChange,
};
pub use keys::{api_keys, create_api_key, create_key, revoke_api_key, revoke_key, KeyRequest};
pub use sessions::{authenticate, refresh, sign_in, sign_out, Throttle, Tokens};
pub use triage::{
    add_note, assign, get, list, mark_duplicate, publish, set_hidden, set_priority, set_status,
    ReportFilter,
};
pub use vocabulary::{statuses, vocabulary, StatusInfo};
