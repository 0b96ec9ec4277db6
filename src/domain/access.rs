//! Who may do what: the roles of staff accounts and the kinds of API keys. Stored as text, compared only as
//! these enums.

/// A staff account's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Everything, including accounts and the audit log.
    Admin,
    /// Every report of one jurisdiction.
    Dispatcher,
    /// Only reports routed to the member's departments.
    Staff,
    /// Enters reports on citizens' behalf (paper forms, phone calls, walk-ins, volunteers) for one
    /// jurisdiction, and sees only the reports it entered; no triage.
    Intake,
}

impl Role {
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "admin" => Some(Role::Admin),
            "dispatcher" => Some(Role::Dispatcher),
            "staff" => Some(Role::Staff),
            "intake" => Some(Role::Intake),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Dispatcher => "dispatcher",
            Role::Staff => "staff",
            Role::Intake => "intake",
        }
    }

    pub const CHOICES: &'static str = "admin, dispatcher, staff or intake";

    /// Whether this role may type in a report on a citizen's behalf.
    pub fn may_enter_reports(self) -> bool {
        matches!(self, Role::Admin | Role::Dispatcher | Role::Intake)
    }
}

/// What an API key is for: `production` (a published app), `test` (an app under test), `backoffice` (a city
/// system that may also post status updates to `servicerequestupdates`, for one jurisdiction).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiKeyKind {
    Production,
    Test,
    Backoffice,
}

impl ApiKeyKind {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "production" => Some(Self::Production),
            "test" => Some(Self::Test),
            "backoffice" => Some(Self::Backoffice),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Production => "production",
            Self::Test => "test",
            Self::Backoffice => "backoffice",
        }
    }

    /// Only a back-office system's key may change statuses.
    pub fn may_update(self) -> bool {
        self == Self::Backoffice
    }

    pub const CHOICES: &'static str = "production, test or backoffice";
}

#[cfg(test)]
mod tests {
    use super::{ApiKeyKind, Role};

    #[test]
    fn every_role_and_kind_reads_back_what_it_writes() {
        for r in [Role::Admin, Role::Dispatcher, Role::Staff, Role::Intake] {
            assert_eq!(Role::parse(r.as_str()), Some(r));
            assert!(Role::CHOICES.contains(r.as_str()));
        }
        for k in [
            ApiKeyKind::Production,
            ApiKeyKind::Test,
            ApiKeyKind::Backoffice,
        ] {
            assert_eq!(ApiKeyKind::parse(k.as_str()), Some(k));
            assert!(ApiKeyKind::CHOICES.contains(k.as_str()));
        }
        assert_eq!(Role::parse("Admin"), None, "stored values are lower case");
        assert!(!ApiKeyKind::Production.may_update());
    }
}
