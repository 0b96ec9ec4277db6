//! Delivery of reports to departments by e-mail, never lost. Deliveries are queued in the same transaction as
//! the report (`deliveries_for`), and a worker (`worker.rs`) sends them later with lettre, outside any transaction,
//! retrying with backoff and falling back to the department's fallback address. The POST path never opens an
//! SMTP connection.

pub mod message;
pub mod transport;
pub mod worker;

use crate::auth;
use crate::store::deliveries::{self, DeliveryRow, EventRow};
use crate::store::routing::DepartmentRow;
use crate::store::{AnyConnection, StoreError};
use chrono::NaiveDateTime;

/// One fresh delivery per address of the department.
pub fn deliveries_for(
    request_id: i64,
    department: &DepartmentRow,
    now: NaiveDateTime,
    id_domain: &str,
) -> Vec<DeliveryRow> {
    department
        .emails()
        .iter()
        .map(|email| new_delivery(request_id, &department.code, email, false, now, id_domain))
        .collect()
}

/// A fresh delivery row. Its Message-ID is minted here, once, so that every resend is recognisable.
pub fn new_delivery(
    request_id: i64,
    department_code: &str,
    recipient: &str,
    is_fallback: bool,
    now: NaiveDateTime,
    id_domain: &str,
) -> DeliveryRow {
    let id = auth::sortable_id();
    DeliveryRow {
        message_id: format!("<civic311.{request_id}.{id}@{id_domain}>"),
        id,
        request_id,
        department_code: department_code.to_string(),
        recipient: recipient.to_string(),
        is_fallback,
        state: deliveries::QUEUED.to_string(),
        attempts: 0,
        last_error: None,
        created_at: now,
        updated_at: now,
        next_attempt_at: now,
        lease_until: None,
        sent_at: None,
    }
}

/// Appends to a report's history.
pub fn record(
    conn: &mut AnyConnection,
    request_id: i64,
    at: NaiveDateTime,
    actor: &str,
    action: &str,
    detail: Option<String>,
) -> Result<(), StoreError> {
    deliveries::insert_event(conn, &event(request_id, at, actor, action, detail))
}

/// An internal history event (not shown to the public).
pub fn event(
    request_id: i64,
    at: NaiveDateTime,
    actor: &str,
    action: &str,
    detail: Option<String>,
) -> EventRow {
    EventRow {
        id: auth::sortable_id(),
        request_id,
        at,
        actor: actor.to_string(),
        action: action.to_string(),
        detail,
        public: false,
        status: None,
        external_id: None,
    }
}

/// The domain part of an address (`civic311@city.example` → `city.example`), for Message-IDs.
pub fn domain_of(address: &str) -> String {
    address
        .rsplit_once('@')
        .map(|(_, d)| d.trim_end_matches('>').trim().to_string())
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| "civic311.invalid".to_string())
}
