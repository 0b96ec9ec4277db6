//! The audit log's one writer: who (a staff member, someone signing in, an API key, an operator at the
//! command line) did what to which target, from where, in the transaction of the action.

use super::identity::Principal;
use crate::store::staff::{self as st, AuditRow};
use crate::store::{AnyConnection, StoreError};

/// Who acted.
#[derive(Clone, Copy)]
pub enum Actor<'a> {
    /// A signed-in staff member (their address comes with the session).
    Staff(&'a Principal),
    /// Someone at the sign-in or refresh endpoint: an account name (or a placeholder for none) and an address.
    SigningIn {
        name: &'a str,
        client_addr: Option<&'a str>,
    },
    /// A back-office system, by its API key's name.
    ApiKey(&'a str),
    /// Someone at the command line of the server (`civic311 user create`, `apikey`, `reroute`), or an import;
    /// named as they named themselves (`--by`) or by the operating-system account.
    Operator(&'a str),
}

pub fn record(
    conn: &mut AnyConnection,
    actor: Actor<'_>,
    action: &str,
    target: Option<String>,
    detail: Option<String>,
) -> Result<(), StoreError> {
    let (actor, client_addr) = match actor {
        Actor::Staff(p) => (p.username.clone(), p.client_addr.clone()),
        Actor::SigningIn { name, client_addr } => {
            (name.to_string(), client_addr.map(str::to_string))
        }
        Actor::ApiKey(name) => (format!("api key {name}"), None),
        Actor::Operator(name) => (format!("operator {name}"), None),
    };
    st::insert_audit(
        conn,
        &AuditRow {
            id: crate::auth::sortable_id(),
            at: super::now(),
            actor,
            action: action.into(),
            target,
            detail,
            client_addr,
        },
    )
}

/// The operating-system account running a command, for `Actor::Operator`.
pub fn operator_name() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("USERNAME"))
        .ok()
        .filter(|u| !u.trim().is_empty())
        .unwrap_or_else(|| "(command line)".into())
}
