//! Who is calling the staff API: a signed-in member with a role and a scope. Routing and the triage actions
//! both decide by it, so it lives apart from both.

use crate::error::ApiError;
use crate::store::requests::{self as rq, RequestRow};
use crate::store::AnyConnection;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Everything, including accounts and the audit log.
    Admin,
    /// Every report of one jurisdiction.
    Dispatcher,
    /// Only reports routed to the member's departments.
    Staff,
}

impl Role {
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "admin" => Some(Role::Admin),
            "dispatcher" => Some(Role::Dispatcher),
            "staff" => Some(Role::Staff),
            _ => None,
        }
    }
}

/// Who is calling, as established from a valid access token and a live session.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user_id: String,
    pub username: String,
    pub role: Role,
    pub jurisdiction_id: Option<String>,
    pub departments: Vec<String>,
    pub session_id: String,
    pub client_addr: Option<String>,
}

impl Principal {
    /// Whether this report is in the caller's scope. Out of scope answers 404, never 403, so that staff cannot
    /// learn which reports exist elsewhere.
    pub fn sees(&self, r: &RequestRow) -> bool {
        match self.role {
            Role::Admin => true,
            Role::Dispatcher => self.jurisdiction_id.as_deref() == Some(r.jurisdiction_id.as_str()),
            Role::Staff => {
                self.jurisdiction_id.as_deref() == Some(r.jurisdiction_id.as_str())
                    && r.department_code
                        .as_ref()
                        .is_some_and(|d| self.departments.contains(d))
            }
        }
    }

    pub fn require_admin(&self) -> Result<(), ApiError> {
        match self.role {
            Role::Admin => Ok(()),
            _ => Err(ApiError::NotAllowed(
                "this action needs the administrator role".into(),
            )),
        }
    }
}

/// Re-checks the caller's scope inside the transaction that acts, so that a report reassigned in the meantime
/// is not changed by someone who no longer sees it.
pub(crate) fn recheck(conn: &mut AnyConnection, p: &Principal, id: i64) -> Result<(), ApiError> {
    match rq::get_any(conn, id)? {
        Some(r) if p.sees(&r) => Ok(()),
        _ => Err(ApiError::NotFound(format!(
            "service_request_id '{id}' not found"
        ))),
    }
}
