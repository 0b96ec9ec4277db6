//! The staff side of requests: the triage queue with the caller's scope in the query, and the triage writes
//! (status, priority, duplicates, hiding, publishing).

use super::{Db, RequestRow};
use crate::store::schema::requests;
use crate::store::{AnyConnection, StoreError};
use chrono::NaiveDateTime;
use diesel::prelude::*;

/// What a staff listing asks for. `jurisdiction_id` and `departments` carry the caller's scope.
#[derive(Debug, Clone, Default)]
pub struct StaffFilter {
    pub jurisdiction_id: Option<String>,
    /// Only reports routed to one of these departments (a staff member's scope).
    pub departments: Option<Vec<String>>,
    /// Only reports this account typed in (an intake clerk's scope).
    pub entered_by: Option<String>,
    pub statuses: Option<Vec<String>>,
    pub detailed_statuses: Option<Vec<String>>,
    pub service_codes: Option<Vec<String>>,
    pub department: Option<String>,
    /// Only reports lying in this area.
    pub area: Option<String>,
    pub moderation_state: Option<String>,
    pub hidden: Option<bool>,
    /// Case-insensitive text in the description.
    pub text: Option<String>,
    pub requested_from: Option<NaiveDateTime>,
    pub requested_to: Option<NaiveDateTime>,
    pub offset: i64,
    pub limit: i64,
}

diesel::define_sql_function!(fn lower(x: diesel::sql_types::Nullable<diesel::sql_types::Text>) -> diesel::sql_types::Nullable<diesel::sql_types::Text>);

/// Staff listing: hidden and held reports included (unless filtered), newest first.
pub fn list_staff(
    conn: &mut AnyConnection,
    f: &StaffFilter,
) -> Result<Vec<RequestRow>, StoreError> {
    let mut q = requests::table
        .select(RequestRow::as_select())
        .into_boxed::<Db>();
    if let Some(j) = &f.jurisdiction_id {
        q = q.filter(requests::jurisdiction_id.eq(j.clone()));
    }
    if let Some(d) = &f.departments {
        q = q.filter(requests::department_code.eq_any(d.clone()));
    }
    if let Some(u) = &f.entered_by {
        q = q.filter(requests::entered_by.eq(u.clone()));
    }
    if let Some(s) = &f.statuses {
        q = q.filter(requests::status.eq_any(s.clone()));
    }
    if let Some(s) = &f.detailed_statuses {
        q = q.filter(requests::detailed_status.eq_any(s.clone()));
    }
    if let Some(c) = &f.service_codes {
        q = q.filter(requests::service_code.eq_any(c.clone()));
    }
    if let Some(d) = &f.department {
        q = q.filter(requests::department_code.eq(d.clone()));
    }
    if let Some(h) = f.hidden {
        q = q.filter(requests::hidden.eq(h));
    }
    if let Some(m) = &f.moderation_state {
        q = q.filter(requests::moderation_state.eq(m.clone()));
    }
    if let Some(a) = &f.area {
        use crate::store::schema::request_areas as ra;
        q = q.filter(
            requests::id.eq_any(
                ra::table
                    .filter(ra::area_code.eq(a.clone()))
                    .select(ra::request_id),
            ),
        );
    }
    if let Some(t) = &f.text {
        let escaped: String = t
            .to_lowercase()
            .chars()
            .flat_map(|c| {
                if matches!(c, '%' | '_' | '\\') {
                    vec!['\\', c]
                } else {
                    vec![c]
                }
            })
            .collect();
        q = q.filter(
            lower(requests::description)
                .like(format!("%{escaped}%"))
                .escape('\\'),
        );
    }
    if let Some(t) = f.requested_from {
        q = q.filter(requests::requested_at.ge(t));
    }
    if let Some(t) = f.requested_to {
        q = q.filter(requests::requested_at.le(t));
    }
    Ok(
        q.order((requests::requested_at.desc(), requests::id.desc()))
            .offset(f.offset)
            .limit(f.limit)
            .load(conn)?,
    )
}

pub fn count_duplicates(conn: &mut AnyConnection, id: i64) -> Result<i64, StoreError> {
    Ok(requests::table
        .filter(requests::duplicate_of.eq(id))
        .count()
        .get_result(conn)?)
}

pub fn set_status(
    conn: &mut AnyConnection,
    id: i64,
    status: &str,
    detailed: &str,
    notes: Option<&str>,
    now: NaiveDateTime,
) -> Result<(), StoreError> {
    diesel::update(requests::table.find(id))
        .set((
            requests::status.eq(status),
            requests::detailed_status.eq(detailed),
            requests::status_notes.eq(notes),
            requests::updated_at.eq(now),
            // A new status ends a duplicate link (a reopened duplicate stands on its own again).
            requests::duplicate_of.eq(None::<i64>),
        ))
        .execute(conn)?;
    Ok(())
}

/// Moves `updated_datetime`, so that sync clients see a change.
pub fn touch(conn: &mut AnyConnection, id: i64, now: NaiveDateTime) -> Result<(), StoreError> {
    diesel::update(requests::table.find(id))
        .set(requests::updated_at.eq(now))
        .execute(conn)?;
    Ok(())
}

pub fn set_hidden(
    conn: &mut AnyConnection,
    id: i64,
    hidden: bool,
    now: NaiveDateTime,
) -> Result<(), StoreError> {
    diesel::update(requests::table.find(id))
        .set((requests::hidden.eq(hidden), requests::updated_at.eq(now)))
        .execute(conn)?;
    // Its duplicates name it as their master only while it is public: what they show changes too.
    diesel::update(requests::table.filter(requests::duplicate_of.eq(id)))
        .set(requests::updated_at.eq(now))
        .execute(conn)?;
    Ok(())
}

/// Publishes a report held for review; false when it was not held (a public report, or a private one, which
/// stays out of public answers for good).
pub fn publish(conn: &mut AnyConnection, id: i64, now: NaiveDateTime) -> Result<bool, StoreError> {
    let n = diesel::update(
        requests::table
            .find(id)
            .filter(requests::moderation_state.eq("pending")),
    )
    .set((
        requests::moderation_state.eq("published"),
        requests::updated_at.eq(now),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

pub fn set_priority(
    conn: &mut AnyConnection,
    id: i64,
    priority: i32,
    now: NaiveDateTime,
) -> Result<(), StoreError> {
    diesel::update(requests::table.find(id))
        .set((
            requests::priority.eq(priority),
            requests::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// (priority, duplicate_of) of a request: triage fields the row type does not carry.
pub fn triage(conn: &mut AnyConnection, id: i64) -> Result<Option<(i32, Option<i64>)>, StoreError> {
    Ok(requests::table
        .find(id)
        .select((requests::priority, requests::duplicate_of))
        .first(conn)
        .optional()?)
}

/// Closes a request as a duplicate of `master`.
pub fn mark_duplicate(
    conn: &mut AnyConnection,
    id: i64,
    master: i64,
    notes: &str,
    now: NaiveDateTime,
) -> Result<(), StoreError> {
    diesel::update(requests::table.find(id))
        .set((
            requests::duplicate_of.eq(Some(master)),
            requests::status.eq("closed"),
            requests::detailed_status.eq("duplicate"),
            requests::status_notes.eq(Some(notes)),
            requests::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}
