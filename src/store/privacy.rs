//! Queries of the retention job and of erasure: who still holds contact details, and removing them.

use super::requests::MediaRow;
use super::schema::{
    jurisdictions, request_attributes, request_events, request_media, request_scans, requests,
    update_contacts,
};
use super::{AnyConnection, StoreError};
use chrono::NaiveDateTime;
use diesel::prelude::*;

/// A jurisdiction's retention periods in days (`None`: kept until erased).
pub struct Retention {
    pub jurisdiction_id: String,
    pub contact_days: Option<i32>,
    pub media_days: Option<i32>,
}

pub fn retention_periods(conn: &mut AnyConnection) -> Result<Vec<Retention>, StoreError> {
    let rows: Vec<(String, Option<i32>, Option<i32>)> = jurisdictions::table
        .select((
            jurisdictions::id,
            jurisdictions::contact_retention_days,
            jurisdictions::media_retention_days,
        ))
        .order(jurisdictions::id)
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(jurisdiction_id, contact_days, media_days)| Retention {
            jurisdiction_id,
            contact_days,
            media_days,
        })
        .collect())
}

/// Closed reports last changed before `before` that still hold any contact detail, oldest first, at most
/// `limit`.
pub fn closed_with_contact(
    conn: &mut AnyConnection,
    jurisdiction_id: &str,
    before: NaiveDateTime,
    limit: i64,
    with_scans: bool,
) -> Result<Vec<i64>, StoreError> {
    let contact = requests::email
        .is_not_null()
        .or(requests::phone.is_not_null())
        .or(requests::first_name.is_not_null())
        .or(requests::last_name.is_not_null())
        .or(requests::device_id_hash.is_not_null())
        .or(requests::account_id.is_not_null())
        // A citizen's comment forwarded with its author's details (servicerequestupdates).
        .or(requests::id.eq_any(update_contacts::table.select(update_contacts::request_id)));
    let mut q = requests::table
        .filter(requests::jurisdiction_id.eq(jurisdiction_id))
        .filter(requests::status.eq("closed"))
        .filter(requests::updated_at.lt(before))
        .into_boxed::<super::requests::Db>();
    // A scan of a paper form is contact data too (a name, a number, a signature): a report holding only
    // scans is looked at when their folder is there to delete them from.
    q = if with_scans {
        q.filter(
            contact.or(requests::id.eq_any(request_scans::table.select(request_scans::request_id))),
        )
    } else {
        q.filter(contact)
    };
    Ok(q.order((requests::updated_at, requests::id))
        .limit(limit)
        .select(requests::id)
        .load(conn)?)
}

/// Photos (stored files and links a client gave) of reports hidden or rejected by staff and last changed
/// before `before`, with whether their report is public now; at most `limit`.
pub fn withdrawn_photos(
    conn: &mut AnyConnection,
    jurisdiction_id: &str,
    before: NaiveDateTime,
    limit: i64,
) -> Result<Vec<(MediaRow, bool)>, StoreError> {
    let rows: Vec<(MediaRow, bool, String)> = request_media::table
        .inner_join(requests::table.on(requests::id.eq(request_media::request_id)))
        .filter(requests::jurisdiction_id.eq(jurisdiction_id))
        .filter(
            requests::hidden
                .eq(true)
                .or(requests::detailed_status.eq("rejected")),
        )
        .filter(requests::updated_at.lt(before))
        .order((request_media::request_id, request_media::position))
        .limit(limit)
        .select((
            MediaRow::as_select(),
            requests::hidden,
            requests::moderation_state,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(m, hidden, state)| (m, !hidden && state == "published"))
        .collect())
}

/// Removes every contact detail of these reports. Their `updated_datetime` stays: nothing public changed.
pub fn clear_contact(conn: &mut AnyConnection, ids: &[i64]) -> Result<usize, StoreError> {
    let mut n = 0;
    // In slices: one parameter per id, within every backend's parameter limit.
    for chunk in ids.chunks(500) {
        n += diesel::update(requests::table.filter(requests::id.eq_any(chunk)))
            .set((
                requests::email.eq(None::<String>),
                requests::phone.eq(None::<String>),
                requests::first_name.eq(None::<String>),
                requests::last_name.eq(None::<String>),
                requests::device_id_hash.eq(None::<String>),
                requests::account_id.eq(None::<String>),
            ))
            .execute(conn)?;
    }
    Ok(n)
}

/// Removes the details of everyone who commented on these reports (retention: their clock is the report's).
pub fn clear_commenters(conn: &mut AnyConnection, ids: &[i64]) -> Result<(), StoreError> {
    for chunk in ids.chunks(500) {
        diesel::delete(update_contacts::table.filter(update_contacts::request_id.eq_any(chunk)))
            .execute(conn)?;
    }
    Ok(())
}

/// A citizen's comment whose author's details match, and its text.
pub struct Comment {
    pub event_id: String,
    pub request_id: i64,
    pub text: Option<String>,
}

/// The comments whose authors `matches` (compared in Rust, like `candidates`), with their details removed.
/// Run inside the erasure's transaction: comments are few beside reports.
pub fn erase_commenters(
    conn: &mut AnyConnection,
    matches: impl Fn(Option<&str>, Option<&str>) -> bool,
) -> Result<Vec<Comment>, StoreError> {
    // (event, report, e-mail, phone, text)
    type Row = (String, i64, Option<String>, Option<String>, Option<String>);
    let rows: Vec<Row> = update_contacts::table
        .inner_join(request_events::table.on(request_events::id.eq(update_contacts::event_id)))
        .filter(
            update_contacts::email
                .is_not_null()
                .or(update_contacts::phone.is_not_null()),
        )
        .select((
            update_contacts::event_id,
            update_contacts::request_id,
            update_contacts::email,
            update_contacts::phone,
            request_events::detail,
        ))
        .load(conn)?;
    let found: Vec<Comment> = rows
        .into_iter()
        .filter(|(_, _, e, p, _)| matches(e.as_deref(), p.as_deref()))
        .map(|(event_id, request_id, _, _, text)| Comment {
            event_id,
            request_id,
            text,
        })
        .collect();
    let ids: Vec<&str> = found.iter().map(|c| c.event_id.as_str()).collect();
    for chunk in ids.chunks(500) {
        diesel::delete(update_contacts::table.filter(update_contacts::event_id.eq_any(chunk)))
            .execute(conn)?;
    }
    Ok(found)
}

/// Replaces a comment's text (the caller moves its report's `updated_datetime`).
pub fn replace_comment(
    conn: &mut AnyConnection,
    event_id: &str,
    text: &str,
) -> Result<(), StoreError> {
    diesel::update(request_events::table.find(event_id))
        .set(request_events::detail.eq(text))
        .execute(conn)?;
    Ok(())
}

/// Deletes the scans of these reports; answers their files, to delete once the transaction commits.
pub fn delete_scans(conn: &mut AnyConnection, ids: &[i64]) -> Result<Vec<String>, StoreError> {
    let mut files = Vec::new();
    for chunk in ids.chunks(500) {
        files.extend(
            request_scans::table
                .filter(request_scans::request_id.eq_any(chunk))
                .select(request_scans::file_name)
                .load::<String>(conn)?,
        );
        diesel::delete(request_scans::table.filter(request_scans::request_id.eq_any(chunk)))
            .execute(conn)?;
    }
    Ok(files)
}

pub fn delete_media(conn: &mut AnyConnection, ids: &[String]) -> Result<(), StoreError> {
    for chunk in ids.chunks(500) {
        diesel::delete(request_media::table.filter(request_media::id.eq_any(chunk)))
            .execute(conn)?;
    }
    Ok(())
}

/// A report a person's erasure touches: its id, contact values, description and answers.
pub struct Touched {
    pub id: i64,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub description: Option<String>,
    pub answers: Vec<(String, i32, String)>,
}

/// The ids of reports after `after` whose e-mail or phone `matches`. Addresses and numbers are compared in Rust (case
/// folded beyond ASCII; numbers digit by digit, written in many ways), so every stored one is read, ten
/// thousand at a time so that memory stays flat on a large city: erasure is rare, and a scan of two
/// columns is its price. Run as a read, outside the write transaction.
pub fn candidates(
    conn: &mut AnyConnection,
    after: i64,
    matches: impl Fn(Option<&str>, Option<&str>) -> bool,
) -> Result<Vec<i64>, StoreError> {
    const SLICE: i64 = 10_000;
    let mut found = Vec::new();
    let mut after = after;
    loop {
        let rows: Vec<(i64, Option<String>, Option<String>)> = requests::table
            .filter(requests::id.gt(after))
            .filter(
                requests::email
                    .is_not_null()
                    .or(requests::phone.is_not_null()),
            )
            .order(requests::id)
            .limit(SLICE)
            .select((requests::id, requests::email, requests::phone))
            .load(conn)?;
        let Some(last) = rows.last().map(|r| r.0) else {
            return Ok(found);
        };
        let full = rows.len() as i64 == SLICE;
        found.extend(
            rows.into_iter()
                .filter(|(_, e, p)| matches(e.as_deref(), p.as_deref()))
                .map(|(id, ..)| id),
        );
        if !full {
            return Ok(found);
        }
        after = last;
    }
}

/// A report's e-mail, phone and description.
type Texts = (Option<String>, Option<String>, Option<String>);

/// These reports as the transaction sees them.
pub fn touched(conn: &mut AnyConnection, ids: &[i64]) -> Result<Vec<Touched>, StoreError> {
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(500) {
        let rows: Vec<(i64, Texts)> = requests::table
            .filter(requests::id.eq_any(chunk))
            .select((
                requests::id,
                (requests::email, requests::phone, requests::description),
            ))
            .order(requests::id)
            .load(conn)?;
        let answers: Vec<(i64, String, i32, String)> = request_attributes::table
            .filter(request_attributes::request_id.eq_any(chunk))
            .select((
                request_attributes::request_id,
                request_attributes::code,
                request_attributes::position,
                request_attributes::value,
            ))
            .load(conn)?;
        for (id, (email, phone, description)) in rows {
            out.push(Touched {
                id,
                email,
                phone,
                description,
                answers: answers
                    .iter()
                    .filter(|a| a.0 == id)
                    .map(|a| (a.1.clone(), a.2, a.3.clone()))
                    .collect(),
            });
        }
    }
    Ok(out)
}

/// Replaces a report's description (the caller moves `updated_datetime`).
pub fn replace_description(
    conn: &mut AnyConnection,
    id: i64,
    text: &str,
) -> Result<(), StoreError> {
    diesel::update(requests::table.find(id))
        .set(requests::description.eq(text))
        .execute(conn)?;
    Ok(())
}

pub fn replace_answer(
    conn: &mut AnyConnection,
    id: i64,
    code: &str,
    position: i32,
    text: &str,
) -> Result<(), StoreError> {
    diesel::update(
        request_attributes::table
            .filter(request_attributes::request_id.eq(id))
            .filter(request_attributes::code.eq(code))
            .filter(request_attributes::position.eq(position)),
    )
    .set(request_attributes::value.eq(text))
    .execute(conn)?;
    Ok(())
}
