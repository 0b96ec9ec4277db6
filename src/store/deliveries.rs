//! The delivery outbox: one row per e-mail to send. Rows are claimed by compare-and-set with a lease, not by
//! row locks, so that SQLite (one writer) and several PostgreSQL workers share one code path
//! (docs/decisions/0003). Sending happens outside any transaction.

use super::schema::{deliveries, request_events};
use super::{insert_rows, per_backend, AnyConnection, StoreError};
use chrono::NaiveDateTime;
use diesel::prelude::*;

pub const QUEUED: &str = "queued";
pub const SENDING: &str = "sending";
pub const SENT: &str = "sent";
pub const RETRYING: &str = "retrying";
pub const FAILED: &str = "failed";

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = deliveries, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
#[diesel(treat_none_as_default_value = false)]
pub struct DeliveryRow {
    pub id: String,
    pub request_id: i64,
    pub department_code: String,
    pub recipient: String,
    pub is_fallback: bool,
    pub state: String,
    pub attempts: i32,
    pub last_error: Option<String>,
    /// Set at enqueue, so that every resend of this delivery carries the same Message-ID.
    pub message_id: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub next_attempt_at: NaiveDateTime,
    pub lease_until: Option<NaiveDateTime>,
    pub sent_at: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = request_events, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
#[diesel(treat_none_as_default_value = false)]
pub struct EventRow {
    pub id: String,
    pub request_id: i64,
    #[diesel(deserialize_as = super::stamp::Stamp)]
    pub at: NaiveDateTime,
    pub actor: String,
    pub action: String,
    pub detail: Option<String>,
    /// Shown to the public (status notes, public updates); internal notes are not.
    pub public: bool,
    /// The detailed status after this event, when it changed it.
    pub status: Option<String>,
    /// The id a back-office system gave this update (FixMyStreet's `update_id`), to recognise a resend.
    pub external_id: Option<String>,
}

// On the concrete connection, with every column bound (`treat_none_as_default_value = false`): one statement
// shape, prepared once per connection.

pub fn insert(conn: &mut AnyConnection, rows: &[DeliveryRow]) -> Result<(), StoreError> {
    insert_rows!(conn, deliveries::table, rows)
}

pub fn insert_event(conn: &mut AnyConnection, row: &EventRow) -> Result<(), StoreError> {
    per_backend!(conn, |c| diesel::insert_into(request_events::table)
        .values(row)
        .execute(c))?;
    Ok(())
}

pub fn events_of(conn: &mut AnyConnection, request_id: i64) -> Result<Vec<EventRow>, StoreError> {
    Ok(request_events::table
        .filter(request_events::request_id.eq(request_id))
        .order((request_events::at, request_events::id))
        .select(EventRow::as_select())
        .load(conn)?)
}

/// The condition under which a delivery may be claimed at `now`: waiting and due, or held by a worker whose
/// lease ran out. Used both to find candidates and, again, inside the claiming UPDATE.
#[diesel::dsl::auto_type(no_type_alias)]
fn claimable(now: NaiveDateTime) -> _ {
    let waiting: [&'static str; 2] = [QUEUED, RETRYING];
    let sending: &'static str = SENDING;
    deliveries::state
        .eq_any(waiting)
        .and(deliveries::next_attempt_at.le(now))
        .or(deliveries::state
            .eq(sending)
            .and(deliveries::lease_until.lt(now)))
}

/// Deliveries that may be claimed now: waiting and due, or claimed by a worker whose lease ran out.
pub fn due(
    conn: &mut AnyConnection,
    now: NaiveDateTime,
    limit: i64,
) -> Result<Vec<String>, StoreError> {
    Ok(deliveries::table
        .filter(claimable(now))
        .order((
            deliveries::next_attempt_at,
            deliveries::created_at,
            deliveries::id,
        ))
        .select(deliveries::id)
        .limit(limit)
        .load(conn)?)
}

/// Claims a delivery for one attempt. Only one of several racing workers sees `Some`: the UPDATE re-checks
/// the claimable condition, and PostgreSQL re-evaluates it after waiting for a competing UPDATE's row lock.
/// The returned row carries the attempt number that identifies this claim.
pub fn claim(
    conn: &mut AnyConnection,
    id: &str,
    now: NaiveDateTime,
    lease_until: NaiveDateTime,
) -> Result<Option<DeliveryRow>, StoreError> {
    let n = diesel::update(deliveries::table.find(id).filter(claimable(now)))
        .set((
            deliveries::state.eq(SENDING),
            deliveries::lease_until.eq(Some(lease_until)),
            deliveries::attempts.eq(deliveries::attempts + 1),
            deliveries::updated_at.eq(now),
        ))
        .execute(conn)?;
    if n == 0 {
        return Ok(None);
    }
    Ok(deliveries::table
        .find(id)
        .select(DeliveryRow::as_select())
        .first(conn)
        .optional()?)
}

/// Records the outcome of the attempt `attempt` (the claim's number): a worker whose lease was taken over
/// changes nothing.
pub fn finish(
    conn: &mut AnyConnection,
    id: &str,
    attempt: i32,
    state: &str,
    now: NaiveDateTime,
    next_attempt_at: Option<NaiveDateTime>,
    error: Option<&str>,
) -> Result<bool, StoreError> {
    let sent_at = (state == SENT).then_some(now);
    let n = diesel::update(
        deliveries::table
            .find(id)
            .filter(deliveries::state.eq(SENDING))
            .filter(deliveries::attempts.eq(attempt)),
    )
    .set((
        deliveries::state.eq(state),
        deliveries::updated_at.eq(now),
        deliveries::lease_until.eq(None::<NaiveDateTime>),
        deliveries::next_attempt_at.eq(next_attempt_at.unwrap_or(now)),
        deliveries::last_error.eq(error),
        deliveries::sent_at.eq(sent_at),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

pub fn get(conn: &mut AnyConnection, id: &str) -> Result<Option<DeliveryRow>, StoreError> {
    Ok(deliveries::table
        .find(id)
        .select(DeliveryRow::as_select())
        .first(conn)
        .optional()?)
}

pub fn of_request(
    conn: &mut AnyConnection,
    request_id: i64,
) -> Result<Vec<DeliveryRow>, StoreError> {
    Ok(deliveries::table
        .filter(deliveries::request_id.eq(request_id))
        .order((deliveries::created_at, deliveries::id))
        .select(DeliveryRow::as_select())
        .load(conn)?)
}

/// Deliveries in the given states, oldest first.
pub fn in_states(
    conn: &mut AnyConnection,
    states: &[&str],
    limit: i64,
) -> Result<Vec<DeliveryRow>, StoreError> {
    Ok(deliveries::table
        .filter(deliveries::state.eq_any(states.iter().map(|s| s.to_string()).collect::<Vec<_>>()))
        .order((deliveries::created_at, deliveries::id))
        .limit(limit)
        .select(DeliveryRow::as_select())
        .load(conn)?)
}

/// Makes failed (or waiting) deliveries due now; `None` means every failed one. Returns how many changed.
pub fn retry_now(
    conn: &mut AnyConnection,
    id: Option<&str>,
    now: NaiveDateTime,
) -> Result<usize, StoreError> {
    let set = (
        deliveries::state.eq(RETRYING),
        deliveries::next_attempt_at.eq(now),
        deliveries::updated_at.eq(now),
    );
    Ok(match id {
        Some(id) => diesel::update(
            deliveries::table
                .find(id)
                .filter(deliveries::state.eq_any([FAILED, RETRYING, QUEUED])),
        )
        .set(set)
        .execute(conn)?,
        None => diesel::update(deliveries::table.filter(deliveries::state.eq(FAILED)))
            .set(set)
            .execute(conn)?,
    })
}

/// Cancels a report's deliveries that have not been sent (a hidden report is never e-mailed).
pub fn cancel_waiting(
    conn: &mut AnyConnection,
    request_id: i64,
    now: NaiveDateTime,
) -> Result<usize, StoreError> {
    Ok(diesel::update(
        deliveries::table
            .filter(deliveries::request_id.eq(request_id))
            .filter(deliveries::state.eq_any([QUEUED, RETRYING])),
    )
    .set((
        deliveries::state.eq(FAILED),
        deliveries::last_error.eq(Some("cancelled: the report was hidden")),
        deliveries::updated_at.eq(now),
    ))
    .execute(conn)?)
}
