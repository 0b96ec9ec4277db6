//! Queries of the retention job and of erasure: who still holds contact details, and removing them.

use super::requests::MediaRow;
use super::schema::{jurisdictions, request_attributes, request_media, requests};
use super::{AnyConnection, StoreError};
use chrono::NaiveDateTime;
use diesel::prelude::*;

diesel::define_sql_function!(fn lower(x: diesel::sql_types::Nullable<diesel::sql_types::Text>) -> diesel::sql_types::Nullable<diesel::sql_types::Text>);

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

/// Closed reports last changed before `before` that still hold any contact detail, oldest first.
pub fn closed_with_contact(
    conn: &mut AnyConnection,
    jurisdiction_id: &str,
    before: NaiveDateTime,
) -> Result<Vec<i64>, StoreError> {
    Ok(requests::table
        .filter(requests::jurisdiction_id.eq(jurisdiction_id))
        .filter(requests::status.eq("closed"))
        .filter(requests::updated_at.lt(before))
        .filter(
            requests::email
                .is_not_null()
                .or(requests::phone.is_not_null())
                .or(requests::first_name.is_not_null())
                .or(requests::last_name.is_not_null())
                .or(requests::device_id_hash.is_not_null())
                .or(requests::account_id.is_not_null()),
        )
        .order((requests::updated_at, requests::id))
        .select(requests::id)
        .load(conn)?)
}

/// Stored photos of reports hidden or rejected by staff and last changed before `before`.
pub fn withdrawn_photos(
    conn: &mut AnyConnection,
    jurisdiction_id: &str,
    before: NaiveDateTime,
) -> Result<Vec<MediaRow>, StoreError> {
    Ok(request_media::table
        .inner_join(requests::table.on(requests::id.eq(request_media::request_id)))
        .filter(requests::jurisdiction_id.eq(jurisdiction_id))
        .filter(
            requests::hidden
                .eq(true)
                .or(requests::detailed_status.eq("rejected")),
        )
        .filter(requests::updated_at.lt(before))
        .filter(request_media::file_name.is_not_null())
        .order((request_media::request_id, request_media::position))
        .select(MediaRow::as_select())
        .load(conn)?)
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

pub fn delete_media(conn: &mut AnyConnection, ids: &[String]) -> Result<(), StoreError> {
    for chunk in ids.chunks(500) {
        diesel::delete(request_media::table.filter(request_media::id.eq_any(chunk)))
            .execute(conn)?;
    }
    Ok(())
}

/// A report a person's erasure touches: its id, description and free-text answers.
pub struct Touched {
    pub id: i64,
    pub description: Option<String>,
    pub answers: Vec<(String, i32, String)>,
}

/// Reports whose e-mail is `email` (case-insensitively), or whose phone `matches`.
pub fn reports_of(
    conn: &mut AnyConnection,
    email: Option<&str>,
    matches: impl Fn(&str) -> bool,
) -> Result<Vec<Touched>, StoreError> {
    let ids: Vec<i64> = match email {
        Some(e) => requests::table
            .filter(lower(requests::email).eq(e.to_lowercase()))
            .select(requests::id)
            .load(conn)?,
        // Phone numbers are written in many ways (+62 812…, 0812-…): compared digit by digit here, so every
        // stored number is read. Erasure is rare; a scan of one column is its price.
        None => requests::table
            .filter(requests::phone.is_not_null())
            .select((requests::id, requests::phone))
            .load::<(i64, Option<String>)>(conn)?
            .into_iter()
            .filter(|(_, p)| p.as_deref().is_some_and(&matches))
            .map(|(id, _)| id)
            .collect(),
    };
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(500) {
        let rows: Vec<(i64, Option<String>)> = requests::table
            .filter(requests::id.eq_any(chunk))
            .select((requests::id, requests::description))
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
        for (id, description) in rows {
            out.push(Touched {
                id,
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

/// Replaces a report's description and moves `updated_datetime`, so that copies kept by sync take it again.
pub fn replace_description(
    conn: &mut AnyConnection,
    id: i64,
    text: &str,
    now: NaiveDateTime,
) -> Result<(), StoreError> {
    diesel::update(requests::table.find(id))
        .set((requests::description.eq(text), requests::updated_at.eq(now)))
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
