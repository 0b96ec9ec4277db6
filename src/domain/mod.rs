//! Pure types of the GeoReport v2 domain. No IO, no HTTP, no SQL: a value of one of these types proves that
//! its rules were checked, so later layers never re-validate.

mod access;
pub mod attributes;
mod datetime;
pub mod fms;
pub mod i18n;
mod location;
pub mod refcode;
mod request;
mod screening;

pub use access::{ApiKeyKind, Role};
pub use attributes::{AttributeDef, Datatype, ListValue, SubmittedAttributes, ValidatedAttribute};
pub use datetime::{format_w3c, parse_w3c, Zone};
pub use location::{coarsen, LatLong, METRES_PER_DEGREE};
pub use request::{Contact, NewRequest, RawRequest, MAX_MEDIA_URLS};
pub use screening::looks_like_contact;

use std::fmt;

/// One thing wrong with the input, naming the parameter, shown to the citizen as an Open311 error entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub field: String,
    pub description: String,
}

impl Problem {
    pub fn new(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            description: description.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.description)
    }
}

/// How a service answers a POST (spec §3.2 `type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceType {
    /// The answer carries the service_request_id.
    Realtime,
    /// The answer carries a token, exchanged later at `tokens/{token}`.
    Batch,
    /// The answer carries neither.
    Blackbox,
}

impl ServiceType {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "realtime" => Some(Self::Realtime),
            "batch" => Some(Self::Batch),
            "blackbox" => Some(Self::Blackbox),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Realtime => "realtime",
            Self::Batch => "batch",
            Self::Blackbox => "blackbox",
        }
    }
}

/// A request type as the catalogue defines it.
#[derive(Debug, Clone)]
pub struct Service {
    pub jurisdiction_id: String,
    pub code: String,
    pub name: String,
    pub description: Option<String>,
    pub service_type: ServiceType,
    pub keywords: Option<String>,
    pub group: Option<String>,
    pub service_notice: Option<String>,
    pub expected_hours: Option<i32>,
    /// Whether the department's e-mail includes the reporter's contact details.
    pub share_contact: bool,
    /// Public answers locate its reports on a grid of cells this many metres wide; `None`: exactly.
    pub public_precision_m: Option<f64>,
    pub moderation: Moderation,
}

/// Whether a service's reports wait for staff before they are public.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Moderation {
    /// Public at once, unless intake holds one back (a batch service, text that looks like contact details).
    None,
    /// Every report is reviewed first (`POST /staff/v1/requests/{id}/publish`).
    Pre,
}

impl Moderation {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "none" => Some(Self::None),
            "pre" => Some(Self::Pre),
            _ => None,
        }
    }
}

/// A jurisdiction served by this endpoint.
#[derive(Debug, Clone)]
pub struct Jurisdiction {
    pub id: String,
    pub name: String,
    pub contact: String,
    pub key_service: String,
    /// Datetimes are shown in the city's own time, as its residents read them.
    pub zone: Zone,
    pub endpoint_type: String,
    /// Areas within this distance of a report (in metres) are listed as "near" in its routing trace.
    pub near_meters: f64,
    /// The licence its open data is published under (named in discovery and the data dictionary).
    pub data_license: String,
    /// The language its own texts are written in (ISO 639-1): what `locale` falls back to.
    pub language: String,
    /// What application keys may post to servicerequestupdates (`fms::CITIZEN_UPDATES`).
    pub citizen_updates: String,
}

/// Open data is published under this licence unless the jurisdiction names another.
pub const DEFAULT_DATA_LICENSE: &str = "CC-BY-4.0";

/// Core Open311 status (spec §3.9). Richer vocabularies map onto these two.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Open,
    Closed,
}

impl Status {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "open" => Some(Self::Open),
            "closed" => Some(Self::Closed),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Closed => "closed",
        }
    }
}

/// The default status vocabulary, for jurisdictions that import none: each detailed status, its name, and
/// whether it means the report is closed (GEOREPORT_V2 §3.9).
pub const DEFAULT_STATUSES: &[(&str, &str, bool)] = &[
    ("open", "Open", false),
    ("acknowledged", "Acknowledged", false),
    ("investigating", "Investigating", false),
    ("in_progress", "In progress", false),
    ("action_scheduled", "Action scheduled", false),
    ("reopen", "Reopened", false),
    ("fixed", "Fixed", true),
    ("closed", "Closed", true),
    ("duplicate", "Duplicate", true),
    ("not_responsible", "Not our responsibility", true),
    ("no_further_action", "No further action", true),
    ("cancelled", "Cancelled", true),
];

/// Whether a detailed status means closed when a jurisdiction's vocabulary does not say.
pub fn closed_by_default(code: &str) -> bool {
    DEFAULT_STATUSES
        .iter()
        .any(|(c, _, closed)| *c == code && *closed)
}

/// The longest description the spec allows (D14).
pub const MAX_DESCRIPTION_CHARS: usize = 4000;
/// Longest value of any other free-text field; long enough for any real address or name.
pub const MAX_FIELD_CHARS: usize = 1000;

/// Text with its line breaks as `\n`: FixMyStreet's HTTP library sends `\r\n` in form bodies, and a report
/// reads the same whichever client sent it.
pub fn normalize_newlines(s: &str) -> String {
    if !s.contains('\r') {
        return s.to_string();
    }
    s.replace("\r\n", "\n").replace('\r', "\n")
}

/// Checks a free-text field: length in characters, no NUL (PostgreSQL cannot store it), and in single-line
/// fields no line breaks or other control characters. Multi-line text keeps what the citizen typed; the XML
/// encoder replaces characters XML cannot carry.
pub fn check_text(
    field: &str,
    value: &str,
    max_chars: usize,
    multiline: bool,
) -> Result<(), Problem> {
    let count = value.chars().count();
    if count > max_chars {
        return Err(Problem::new(
            field,
            format!("{field} is {count} characters long; at most {max_chars} are allowed"),
        ));
    }
    if value.contains('\0') {
        return Err(Problem::new(
            field,
            format!("{field} contains a NUL character"),
        ));
    }
    if !multiline && value.chars().any(|c| c.is_control() && c != '\t') {
        return Err(Problem::new(
            field,
            format!("{field} must be a single line of text"),
        ));
    }
    Ok(())
}

/// A syntactic e-mail check: one `@`, a non-empty local part, a dotted domain, no spaces.
pub fn check_email(value: &str) -> Result<(), Problem> {
    let bad = || Problem::new("email", "email is not a valid e-mail address");
    let (local, domain) = value.rsplit_once('@').ok_or_else(bad)?;
    let ok = !local.is_empty()
        && local.len() <= 64
        && value.len() <= 254
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !value
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '<' || c == '>')
        && !domain.contains('@');
    if ok {
        Ok(())
    } else {
        Err(bad())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_limits_count_characters_not_bytes() {
        let s = "é".repeat(MAX_DESCRIPTION_CHARS);
        assert!(check_text("description", &s, MAX_DESCRIPTION_CHARS, true).is_ok());
        let s = "é".repeat(MAX_DESCRIPTION_CHARS + 1);
        let p = check_text("description", &s, MAX_DESCRIPTION_CHARS, true).unwrap_err();
        assert!(p.description.contains("4000"));
    }

    #[test]
    fn control_characters_are_refused_where_they_cannot_belong() {
        assert!(check_text("description", "a\u{1}b\nc\td", 100, true).is_ok());
        assert!(check_text("description", "a\0b", 100, true).is_err());
        assert!(check_text("address_id", "a\nb", 100, false).is_err());
        assert!(check_text("address_id", "a\u{1b}b", 100, false).is_err());
        assert!(check_text("address_id", "a\tb", 100, false).is_ok());
    }

    #[test]
    fn emails() {
        assert!(check_email("siti@mail.example").is_ok());
        for bad in ["", "siti", "@x.org", "a@b", "a b@c.org", "a@.org", "a@org."] {
            assert!(check_email(bad).is_err(), "{bad}");
        }
    }
}
