//! What the staff use cases answer with: views of reports, accounts, keys and audit entries, made from the
//! store's rows here so that no row leaves the application layer. Only `ReportDetail` carries a reporter's
//! contact details; a list of reports never does.

use crate::domain::{ApiKeyKind, Role};
use crate::error::ApiError;
use crate::store::api_keys::ApiKeyRow;
use crate::store::deliveries::{DeliveryRow, EventRow};
use crate::store::requests::RequestRow;
use crate::store::staff::{AuditRow, UserRow};
use chrono::NaiveDateTime;

/// A report as the staff queue shows it: every public field plus department, flags and priority.
#[derive(Debug, Clone)]
pub struct ReportSummary {
    pub id: i64,
    pub jurisdiction_id: String,
    pub service_code: String,
    pub status: String,
    pub detailed_status: String,
    pub status_notes: Option<String>,
    pub description: Option<String>,
    pub address: Option<String>,
    pub address_id: Option<String>,
    pub lat: Option<f64>,
    pub long: Option<f64>,
    pub department_code: Option<String>,
    pub agency_responsible: Option<String>,
    pub hidden: bool,
    pub moderation_state: String,
    pub requested_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub channel: Option<String>,
    pub priority: i32,
    pub duplicate_of: Option<i64>,
    /// When staff typed it in, for a report entered on someone's behalf (`requested_at` is the citizen's).
    pub entered_at: Option<NaiveDateTime>,
    /// The staff account that typed it in.
    pub entered_by: Option<String>,
    pub contact_consent: Option<bool>,
    /// The time zone of its jurisdiction, in which staff read its datetimes (as the public does).
    pub zone: crate::domain::Zone,
}

impl From<&RequestRow> for ReportSummary {
    fn from(r: &RequestRow) -> Self {
        Self {
            id: r.id,
            jurisdiction_id: r.jurisdiction_id.clone(),
            service_code: r.service_code.clone(),
            status: r.status.clone(),
            detailed_status: r.detailed_status.clone(),
            status_notes: r.status_notes.clone(),
            description: r.description.clone(),
            address: r.address.clone(),
            address_id: r.address_id.clone(),
            lat: r.lat,
            long: r.long,
            department_code: r.department_code.clone(),
            agency_responsible: r.agency_responsible.clone(),
            hidden: r.hidden,
            moderation_state: r.moderation_state.clone(),
            requested_at: r.requested_at,
            updated_at: r.updated_at,
            channel: r.channel.clone(),
            priority: r.priority,
            duplicate_of: r.duplicate_of,
            entered_at: r
                .entered_by
                .as_ref()
                .map(|_| r.entered_at.unwrap_or(r.requested_at)),
            entered_by: r.entered_by.clone(),
            contact_consent: r.contact_consent,
            // Set from the catalogue by the use case (`with_zones`); UTC until then.
            zone: crate::domain::Zone::Fixed(0),
        }
    }
}

/// How to reach the reporter: shown to staff who open one report, and that reading is audited.
#[derive(Debug, Clone)]
pub struct ReporterContact {
    pub email: Option<String>,
    pub phone: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub account_id: Option<String>,
}

/// One report with everything staff may see.
#[derive(Debug, Clone)]
pub struct ReportDetail {
    pub summary: ReportSummary,
    pub contact: ReporterContact,
    /// The routing decision as stored (JSON), when the report was routed.
    pub routing_trace: Option<serde_json::Value>,
    pub duplicates: i64,
    pub deliveries: Vec<DeliveryInfo>,
    pub history: Vec<HistoryEntry>,
    /// Scans of the paper form it was typed in from.
    pub scans: Vec<super::intake::ScanInfo>,
}

impl ReportDetail {
    pub(super) fn new(
        r: &RequestRow,
        deliveries: &[DeliveryRow],
        events: &[EventRow],
        duplicates: i64,
        scans: Vec<super::intake::ScanInfo>,
        commenters: &[crate::store::requests::UpdateContactRow],
    ) -> Self {
        Self {
            summary: r.into(),
            contact: ReporterContact {
                email: r.email.clone(),
                phone: r.phone.clone(),
                first_name: r.first_name.clone(),
                last_name: r.last_name.clone(),
                account_id: r.account_id.clone(),
            },
            routing_trace: r
                .routing_trace
                .as_deref()
                .and_then(|t| serde_json::from_str(t).ok()),
            duplicates,
            scans,
            deliveries: deliveries
                .iter()
                .map(|d| DeliveryInfo {
                    id: d.id.clone(),
                    recipient: d.recipient.clone(),
                    fallback: d.is_fallback,
                    state: d.state.clone(),
                    attempts: d.attempts,
                    last_error: d.last_error.clone(),
                    message_id: d.message_id.clone(),
                })
                .collect(),
            history: events
                .iter()
                .map(|e| HistoryEntry {
                    at: e.at,
                    actor: e.actor.clone(),
                    action: e.action.clone(),
                    detail: e.detail.clone(),
                    public: e.public,
                    status: e.status.clone(),
                    contact: commenters.iter().find(|c| c.event_id == e.id).map(|c| {
                        ReporterContact {
                            email: c.email.clone(),
                            phone: c.phone.clone(),
                            first_name: c.first_name.clone(),
                            last_name: c.last_name.clone(),
                            account_id: None,
                        }
                    }),
                })
                .collect(),
        }
    }
}

/// One e-mail to a department about the report.
#[derive(Debug, Clone)]
pub struct DeliveryInfo {
    pub id: String,
    pub recipient: String,
    pub fallback: bool,
    pub state: String,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub message_id: String,
}

/// One entry of the report's history, public or internal.
#[derive(Debug, Clone)]
pub struct HistoryEntry {
    pub at: NaiveDateTime,
    pub actor: String,
    pub action: String,
    pub detail: Option<String>,
    pub public: bool,
    pub status: Option<String>,
    /// The commenter's contact details, for a citizen's comment that came with them.
    pub contact: Option<ReporterContact>,
}

/// A staff account, without its password hash.
#[derive(Debug, Clone)]
pub struct Account {
    pub id: String,
    pub username: String,
    pub display_name: String,
    pub role: Role,
    pub jurisdiction_id: Option<String>,
    pub departments: Vec<String>,
    pub active: bool,
}

impl TryFrom<&UserRow> for Account {
    type Error = ApiError;

    fn try_from(u: &UserRow) -> Result<Self, ApiError> {
        Ok(Self {
            id: u.id.clone(),
            username: u.username.clone(),
            display_name: u.display_name.clone(),
            role: role_of(u)?,
            jurisdiction_id: u.jurisdiction_id.clone(),
            departments: u.departments(),
            active: u.active,
        })
    }
}

/// The role of a stored account; only our own writes make one, so another value is corruption (500).
pub(super) fn role_of(u: &UserRow) -> Result<Role, ApiError> {
    Role::parse(&u.role)
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("user {} has role {}", u.id, u.role)))
}

/// An API key as administrators see it: never the key, nor its hash.
#[derive(Debug, Clone)]
pub struct KeyInfo {
    pub id: String,
    pub name: String,
    pub kind: ApiKeyKind,
    pub created_at: NaiveDateTime,
    pub revoked_at: Option<NaiveDateTime>,
    pub published: bool,
    pub rate_limit: Option<String>,
}

impl TryFrom<&ApiKeyRow> for KeyInfo {
    type Error = ApiError;

    fn try_from(k: &ApiKeyRow) -> Result<Self, ApiError> {
        Ok(Self {
            id: k.id.clone(),
            name: k.name.clone(),
            kind: ApiKeyKind::parse(&k.kind).ok_or_else(|| {
                ApiError::Internal(anyhow::anyhow!("api key {} has kind {}", k.id, k.kind))
            })?,
            created_at: k.created_at,
            revoked_at: k.revoked_at,
            published: k.published,
            rate_limit: k.rate_limit.clone(),
        })
    }
}

/// One entry of the audit log.
#[derive(Debug, Clone)]
pub struct AuditEntry {
    pub at: NaiveDateTime,
    pub actor: String,
    pub action: String,
    pub target: Option<String>,
    pub detail: Option<String>,
    pub client_addr: Option<String>,
}

impl From<AuditRow> for AuditEntry {
    fn from(a: AuditRow) -> Self {
        Self {
            at: a.at,
            actor: a.actor,
            action: a.action,
            target: a.target,
            detail: a.detail,
            client_addr: a.client_addr,
        }
    }
}
