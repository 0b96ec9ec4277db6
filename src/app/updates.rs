//! FixMyStreet-compatible status updates (GEOREPORT_V2 §4.6): a city back-office system posts updates with a
//! `backoffice` API key, and anyone reads the public updates feed back.

use super::{resolve_jurisdiction, AppState};
use crate::auth;
use crate::domain::{parse_w3c, Problem};
use crate::error::ApiError;
use crate::store::deliveries::{self as dl, EventRow};
use crate::store::{requests as rq, StoreError};
use chrono::{NaiveDateTime, TimeDelta, Utc};

/// FixMyStreet's UPPERCASE statuses and what they are in civic311's vocabulary (`None`: leave it unchanged).
pub fn map_status(s: &str) -> Option<Option<&'static str>> {
    Some(Some(match s {
        "OPEN" | "FOR_TRIAGE" => "open",
        "INVESTIGATING" => "investigating",
        "IN_PROGRESS" => "in_progress",
        "ACTION_SCHEDULED" | "PLANNED" => "action_scheduled",
        "REOPEN" => "reopen",
        "FIXED" => "fixed",
        "CLOSED" => "closed",
        "DUPLICATE" => "duplicate",
        "NOT_COUNCILS_RESPONSIBILITY" | "INTERNAL_REFERRAL" => "not_responsible",
        "NO_FURTHER_ACTION" => "no_further_action",
        "CANCELLED" => "cancelled",
        "UNCHANGED" => return Some(None),
        _ => return None,
    }))
}

pub struct InboundUpdate {
    pub jurisdiction_id: Option<String>,
    pub service_request_id: String,
    pub update_id: String,
    pub status: String,
    pub updated_datetime: String,
    pub description: String,
}

/// Stores an update; the same `update_id` posted again answers with the stored update (a resend).
pub async fn post_update(
    state: &AppState,
    key: &super::submit::AppKey,
    u: InboundUpdate,
) -> Result<String, ApiError> {
    if !key.row.may_update {
        return Err(ApiError::Forbidden);
    }
    let j = resolve_jurisdiction(
        state,
        u.jurisdiction_id
            .as_deref()
            .or(key.row.jurisdiction_id.as_deref()),
    )
    .await?;
    // A back-office key updates the reports of its own jurisdiction only.
    if key.row.jurisdiction_id.as_deref() != Some(j.id.as_str()) {
        return Err(ApiError::Forbidden);
    }
    let mut problems = Vec::new();
    let mapped = match map_status(&u.status) {
        Some(m) => m,
        None => {
            problems.push(Problem::new("status", "status must be OPEN, CLOSED, FIXED, IN_PROGRESS, ACTION_SCHEDULED, INVESTIGATING, DUPLICATE, NOT_COUNCILS_RESPONSIBILITY, NO_FURTHER_ACTION, INTERNAL_REFERRAL, REOPEN, PLANNED, CANCELLED, FOR_TRIAGE or UNCHANGED"));
            None
        }
    };
    let at = parse_w3c("updated_datetime", &u.updated_datetime)
        .map_err(|p| problems.push(p))
        .ok();
    if u.update_id.trim().is_empty() || u.update_id.chars().count() > 200 {
        problems.push(Problem::new(
            "update_id",
            "update_id is required (at most 200 characters)",
        ));
    }
    if let Err(p) = crate::domain::check_text(
        "description",
        &u.description,
        crate::domain::MAX_DESCRIPTION_CHARS,
        true,
    ) {
        problems.push(p);
    }
    if !problems.is_empty() {
        return Err(ApiError::Invalid(problems));
    }
    let not_found = || ApiError::no_request(&u.service_request_id);
    let id: i64 = u
        .service_request_id
        .trim()
        .parse()
        .map_err(|_| not_found())?;
    let request = state
        .store
        .read(move |conn| rq::get_any(conn, id))
        .await?
        .filter(|r| r.jurisdiction_id == j.id)
        .ok_or_else(not_found)?;
    // A future timestamp from a skewed clock would sort the update ahead of later ones: cap it at now.
    let now = Utc::now().naive_utc();
    let at: NaiveDateTime = at.map_or(now, |t| t.naive_utc().min(now));
    let actor = key.row.name.clone();
    let (request_id, update_id) = (request.id, u.update_id.clone());
    let written: Result<_, StoreError> = state
        .store
        .write(move |conn| {
            if let Some(existing) = rq::event_by_external(conn, request.id, &u.update_id)? {
                return Ok(existing.id);
            }
            let event = EventRow {
                id: auth::sortable_id(),
                request_id: request.id,
                at,
                actor: actor.clone(),
                action: "back-office update".into(),
                detail: Some(u.description.clone()).filter(|d| !d.trim().is_empty()),
                public: true,
                // UNCHANGED keeps the current status, which the feed then repeats.
                status: Some(
                    mapped.map_or_else(|| request.detailed_status.clone(), str::to_string),
                ),
                external_id: Some(u.update_id.clone()),
            };
            // An update older than the report's latest status (a late or replayed message) is kept in the
            // history but does not turn the status back.
            let latest = rq::latest_status_at(conn, request.id)?;
            dl::insert_event(conn, &event)?;
            let now = super::now();
            match mapped {
                Some(code) if latest.is_none_or(|l| at >= l) => {
                    let closed = super::staff::vocabulary(conn, &request.jurisdiction_id)?
                        .iter()
                        .find(|s| s.code == code)
                        .map_or(crate::domain::closed_by_default(code), |s| s.closed);
                    let notes = event.detail.as_deref().or(request.status_notes.as_deref());
                    rq::set_status(
                        conn,
                        request.id,
                        if closed { "closed" } else { "open" },
                        code,
                        notes,
                        now,
                    )?;
                }
                _ => rq::touch(conn, request.id, now)?,
            }
            super::audit::record(
                conn,
                super::audit::Actor::ApiKey(&actor),
                "back-office update",
                Some(format!("request {}", request.id)),
                Some(format!("{} ({})", u.status, u.update_id)),
            )?;
            Ok(event.id)
        })
        .await;
    match written {
        Ok(id) => Ok(id),
        // A resend of the same update committed between our check and our insert: answer with it.
        Err(e) if e.is_unique_violation() => state
            .store
            .read(move |conn| rq::event_by_external(conn, request_id, &update_id))
            .await?
            .map(|existing| existing.id)
            .ok_or_else(|| ApiError::Internal(anyhow::anyhow!(e))),
        Err(e) => Err(e.into()),
    }
}

/// The public updates feed: updates in [start, end] (default: the last 24 hours), at most 1,000.
pub async fn list_updates(
    state: &AppState,
    jurisdiction_id: Option<&str>,
    start: Option<&str>,
    end: Option<&str>,
) -> Result<(i32, Vec<PublicUpdate>), ApiError> {
    let j = resolve_jurisdiction(state, jurisdiction_id).await?;
    let now = Utc::now();
    let mut problems = Vec::new();
    let end = end
        .map(|e| parse_w3c("end_date", e))
        .transpose()
        .map_err(|p| problems.push(p))
        .ok()
        .flatten()
        .unwrap_or(now);
    let start = start
        .map(|s| parse_w3c("start_date", s))
        .transpose()
        .map_err(|p| problems.push(p))
        .ok()
        .flatten()
        .unwrap_or(end - TimeDelta::hours(24));
    if problems.is_empty() && start > end {
        problems.push(Problem::new(
            "end_date",
            "end_date is earlier than start_date",
        ));
    }
    if !problems.is_empty() {
        return Err(ApiError::Invalid(problems));
    }
    let (jid, offset) = (j.id.clone(), j.utc_offset_minutes);
    let rows = state
        .store
        .read(move |conn| rq::public_updates(conn, &jid, start.naive_utc(), end.naive_utc(), 1000))
        .await?;
    let updates = rows
        .into_iter()
        .map(|e| PublicUpdate {
            id: e.id,
            request_id: e.request_id,
            status: e.status,
            at: e.at,
            text: e.detail,
        })
        .collect();
    Ok((offset, updates))
}

/// One public change of a report, as the updates feed shows it.
#[derive(Debug, Clone)]
pub struct PublicUpdate {
    pub id: String,
    pub request_id: i64,
    /// The detailed status after it (none: unchanged from open).
    pub status: Option<String>,
    pub at: chrono::NaiveDateTime,
    pub text: Option<String>,
}
