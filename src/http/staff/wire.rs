//! The staff API's documents. Each is made from a view of `app::staff::views`, field by field, so a new
//! column in the store shows here only when someone writes it here; contact details appear only in
//! `ReportDetail`. Times are W3C datetimes in UTC.

use crate::app::staff::views::{
    Account, AuditEntry, DeliveryInfo, HistoryEntry, KeyInfo, ReportDetail as DetailView,
    ReportSummary, ReporterContact,
};
use crate::app::staff::{StatusInfo, Tokens};
use crate::domain::format_w3c;
use chrono::NaiveDateTime;
use serde::Serialize;

/// A report's datetime in its jurisdiction's time, as the public API shows it.
fn local(t: NaiveDateTime, zone: crate::domain::Zone) -> String {
    format_w3c(t.and_utc(), zone)
}

fn utc(t: NaiveDateTime) -> String {
    format_w3c(t.and_utc(), 0)
}

#[derive(Serialize)]
pub struct Session<'a> {
    access_token: &'a str,
    token_type: &'static str,
    expires_in: i64,
    refresh_token: &'a str,
    username: &'a str,
    role: &'static str,
}

impl<'a> From<&'a Tokens> for Session<'a> {
    fn from(t: &'a Tokens) -> Self {
        Session {
            access_token: &t.access_token,
            token_type: "Bearer",
            expires_in: t.expires_in,
            refresh_token: &t.refresh_token,
            username: &t.username,
            role: t.role.as_str(),
        }
    }
}

/// A report in the queue: every public field plus department, flags and priority; no contact details.
#[derive(Serialize)]
pub struct Report<'a> {
    service_request_id: String,
    jurisdiction_id: &'a str,
    service_code: &'a str,
    status: &'a str,
    detailed_status: &'a str,
    status_notes: Option<&'a str>,
    description: Option<&'a str>,
    address: Option<&'a str>,
    address_id: Option<&'a str>,
    lat: Option<f64>,
    long: Option<f64>,
    department_code: Option<&'a str>,
    agency_responsible: Option<&'a str>,
    hidden: bool,
    moderation_state: &'a str,
    requested_datetime: String,
    updated_datetime: String,
    channel: Option<&'a str>,
    priority: i32,
    duplicate_of: Option<String>,
    reference_code: String,
    /// For a report typed in by staff: when, and by which account (`requested_datetime` is the citizen's).
    #[serde(skip_serializing_if = "Option::is_none")]
    entered_datetime: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    entered_by: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    contact_consent: Option<bool>,
}

impl<'a> From<&'a ReportSummary> for Report<'a> {
    fn from(r: &'a ReportSummary) -> Self {
        Report {
            service_request_id: r.id.to_string(),
            jurisdiction_id: &r.jurisdiction_id,
            service_code: &r.service_code,
            status: &r.status,
            detailed_status: &r.detailed_status,
            status_notes: r.status_notes.as_deref(),
            description: r.description.as_deref(),
            address: r.address.as_deref(),
            address_id: r.address_id.as_deref(),
            lat: r.lat,
            long: r.long,
            department_code: r.department_code.as_deref(),
            agency_responsible: r.agency_responsible.as_deref(),
            hidden: r.hidden,
            moderation_state: &r.moderation_state,
            requested_datetime: local(r.requested_at, r.zone),
            updated_datetime: local(r.updated_at, r.zone),
            channel: r.channel.as_deref(),
            priority: r.priority,
            duplicate_of: r.duplicate_of.map(|m| m.to_string()),
            reference_code: crate::domain::refcode::encode(r.id),
            entered_datetime: r.entered_at.map(|t| local(t, r.zone)),
            entered_by: r.entered_by.as_deref(),
            contact_consent: r.contact_consent,
        }
    }
}

#[derive(Serialize)]
struct Contact<'a> {
    email: Option<&'a str>,
    phone: Option<&'a str>,
    first_name: Option<&'a str>,
    last_name: Option<&'a str>,
    account_id: Option<&'a str>,
}

impl<'a> From<&'a ReporterContact> for Contact<'a> {
    fn from(c: &'a ReporterContact) -> Self {
        Contact {
            email: c.email.as_deref(),
            phone: c.phone.as_deref(),
            first_name: c.first_name.as_deref(),
            last_name: c.last_name.as_deref(),
            account_id: c.account_id.as_deref(),
        }
    }
}

#[derive(Serialize)]
struct Delivery<'a> {
    id: &'a str,
    recipient: &'a str,
    fallback: bool,
    state: &'a str,
    attempts: i32,
    last_error: Option<&'a str>,
    message_id: &'a str,
}

impl<'a> From<&'a DeliveryInfo> for Delivery<'a> {
    fn from(d: &'a DeliveryInfo) -> Self {
        Delivery {
            id: &d.id,
            recipient: &d.recipient,
            fallback: d.fallback,
            state: &d.state,
            attempts: d.attempts,
            last_error: d.last_error.as_deref(),
            message_id: &d.message_id,
        }
    }
}

#[derive(Serialize)]
struct History<'a> {
    at: String,
    actor: &'a str,
    action: &'a str,
    detail: Option<&'a str>,
    public: bool,
    status: Option<&'a str>,
    /// A commenter's contact details (a citizen's comment forwarded by FixMyStreet or an app).
    #[serde(skip_serializing_if = "Option::is_none")]
    contact: Option<Contact<'a>>,
}

impl<'a> History<'a> {
    fn of(e: &'a HistoryEntry, zone: crate::domain::Zone) -> Self {
        History {
            at: local(e.at, zone),
            actor: &e.actor,
            action: &e.action,
            detail: e.detail.as_deref(),
            public: e.public,
            status: e.status.as_deref(),
            contact: e.contact.as_ref().map(Contact::from),
        }
    }
}

/// One report with everything staff may see: the queue's fields, the reporter's contact, the routing trace,
/// deliveries and history.
#[derive(Serialize)]
pub struct ReportDetail<'a> {
    #[serde(flatten)]
    report: Report<'a>,
    contact: Contact<'a>,
    routing_trace: Option<&'a serde_json::Value>,
    duplicates: i64,
    deliveries: Vec<Delivery<'a>>,
    history: Vec<History<'a>>,
    scans: Vec<Scan<'a>>,
}

/// A scan of the paper form, downloaded at `url` (staff only; every download is audited).
#[derive(Serialize)]
pub struct Scan<'a> {
    id: &'a str,
    content_type: &'a str,
    byte_size: i64,
    uploaded_by: &'a str,
    uploaded_datetime: String,
    url: String,
}

impl<'a> Scan<'a> {
    pub fn of(
        report: i64,
        s: &'a crate::app::staff::intake::ScanInfo,
        zone: crate::domain::Zone,
    ) -> Self {
        Scan {
            id: &s.id,
            content_type: &s.content_type,
            byte_size: s.byte_size,
            uploaded_by: &s.uploaded_by,
            uploaded_datetime: format_w3c(s.uploaded_at, zone),
            url: format!("/staff/v1/requests/{report}/scans/{}", s.id),
        }
    }
}

impl<'a> From<&'a DetailView> for ReportDetail<'a> {
    fn from(v: &'a DetailView) -> Self {
        ReportDetail {
            report: (&v.summary).into(),
            contact: Contact::from(&v.contact),
            routing_trace: v.routing_trace.as_ref(),
            duplicates: v.duplicates,
            deliveries: v.deliveries.iter().map(Delivery::from).collect(),
            history: v
                .history
                .iter()
                .map(|h| History::of(h, v.summary.zone))
                .collect(),
            scans: v
                .scans
                .iter()
                .map(|s| Scan::of(v.summary.id, s, v.summary.zone))
                .collect(),
        }
    }
}

#[derive(Serialize)]
pub struct User<'a> {
    id: &'a str,
    username: &'a str,
    display_name: &'a str,
    role: &'static str,
    jurisdiction_id: Option<&'a str>,
    departments: &'a [String],
    active: bool,
}

impl<'a> From<&'a Account> for User<'a> {
    fn from(u: &'a Account) -> Self {
        User {
            id: &u.id,
            username: &u.username,
            display_name: &u.display_name,
            role: u.role.as_str(),
            jurisdiction_id: u.jurisdiction_id.as_deref(),
            departments: &u.departments,
            active: u.active,
        }
    }
}

#[derive(Serialize)]
pub struct Key<'a> {
    id: &'a str,
    name: &'a str,
    kind: &'static str,
    created: String,
    revoked: Option<String>,
    published: bool,
    rate_limit: Option<&'a str>,
}

impl<'a> From<&'a KeyInfo> for Key<'a> {
    fn from(k: &'a KeyInfo) -> Self {
        Key {
            id: &k.id,
            name: &k.name,
            kind: k.kind.as_str(),
            created: utc(k.created_at),
            revoked: k.revoked_at.map(utc),
            published: k.published,
            rate_limit: k.rate_limit.as_deref(),
        }
    }
}

/// A key just created, with the key itself: shown this once, only its hash is kept.
#[derive(Serialize)]
pub struct NewKey<'a> {
    #[serde(flatten)]
    key: Key<'a>,
    api_key: &'a str,
}

impl<'a> NewKey<'a> {
    pub fn new(info: &'a KeyInfo, api_key: &'a str) -> Self {
        NewKey {
            key: info.into(),
            api_key,
        }
    }
}

#[derive(Serialize)]
pub struct Audit<'a> {
    at: String,
    actor: &'a str,
    action: &'a str,
    target: Option<&'a str>,
    detail: Option<&'a str>,
    client_addr: Option<&'a str>,
}

impl<'a> From<&'a AuditEntry> for Audit<'a> {
    fn from(a: &'a AuditEntry) -> Self {
        Audit {
            at: utc(a.at),
            actor: &a.actor,
            action: &a.action,
            target: a.target.as_deref(),
            detail: a.detail.as_deref(),
            client_addr: a.client_addr.as_deref(),
        }
    }
}

#[derive(Serialize)]
pub struct Status<'a> {
    code: &'a str,
    name: &'a str,
    open311_status: &'static str,
}

impl<'a> From<&'a StatusInfo> for Status<'a> {
    fn from(s: &'a StatusInfo) -> Self {
        Status {
            code: &s.code,
            name: &s.name,
            open311_status: if s.closed { "closed" } else { "open" },
        }
    }
}

/// Converts a list of views into a list of documents.
pub fn all<'a, V, D: From<&'a V>>(views: &'a [V]) -> Vec<D> {
    views.iter().map(D::from).collect()
}
