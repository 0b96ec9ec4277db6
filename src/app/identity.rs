//! Who is calling the staff API: a signed-in member with a role and a scope. Routing and the triage actions
//! both decide by it, so it lives apart from both.

use crate::error::ApiError;
use crate::store::requests::{self as rq, RequestRow};
use crate::store::AnyConnection;

pub use crate::domain::Role;

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
            Role::Intake => {
                self.jurisdiction_id.as_deref() == Some(r.jurisdiction_id.as_str())
                    && r.entered_by.as_deref() == Some(self.user_id.as_str())
            }
        }
    }
}

/// A caller proved to be an administrator. The use cases for accounts, keys and the audit log take one, so
/// the role is checked once, where the value is made, and cannot be forgotten.
#[derive(Debug, Clone)]
pub struct Admin(Principal);

impl TryFrom<Principal> for Admin {
    type Error = ApiError;

    fn try_from(p: Principal) -> Result<Self, ApiError> {
        match p.role {
            Role::Admin => Ok(Admin(p)),
            _ => Err(ApiError::NotAllowed(
                "this action needs the administrator role".into(),
            )),
        }
    }
}

impl std::ops::Deref for Admin {
    type Target = Principal;

    fn deref(&self) -> &Principal {
        &self.0
    }
}

/// Re-checks the caller's scope inside the transaction that acts, so that a report reassigned in the meantime
/// is not changed by someone who no longer sees it. Returns the report as the transaction sees it.
pub(crate) fn recheck(
    conn: &mut AnyConnection,
    p: &Principal,
    id: i64,
) -> Result<RequestRow, ApiError> {
    match rq::get_any(conn, id)? {
        Some(r) if p.sees(&r) => Ok(r),
        _ => Err(ApiError::no_request(id)),
    }
}

#[cfg(test)]
mod tests {
    use super::{Admin, Principal, Role};
    use crate::error::ApiError;

    fn member(role: Role) -> Principal {
        Principal {
            user_id: "u1".into(),
            username: "rina".into(),
            role,
            jurisdiction_id: Some("jakarta.go.id".into()),
            departments: vec!["SDA-JAKPUS".into()],
            session_id: "s1".into(),
            client_addr: None,
        }
    }

    #[test]
    fn only_an_administrator_becomes_an_admin() {
        assert!(Admin::try_from(member(Role::Admin)).is_ok());
        for role in [Role::Dispatcher, Role::Staff] {
            match Admin::try_from(member(role)) {
                Err(e @ ApiError::NotAllowed(_)) => assert_eq!(e.status(), 403),
                other => panic!("{role:?}: {other:?}"),
            }
        }
    }
}
