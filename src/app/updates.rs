//! FixMyStreet-compatible status updates (GEOREPORT_V2 §4.6): a city back-office system posts updates with a
//! `backoffice` API key, and anyone reads the public updates feed back.

use super::{resolve_jurisdiction, AppState};
use crate::auth;
use crate::domain::{fms, parse_w3c, Problem};
use crate::error::ApiError;
use crate::store::deliveries::{self as dl, EventRow};
use crate::store::{requests as rq, StoreError};
use chrono::{NaiveDateTime, TimeDelta, Utc};

pub struct InboundUpdate {
    pub jurisdiction_id: Option<String>,
    pub service_request_id: String,
    pub update_id: String,
    pub status: String,
    pub updated_datetime: String,
    pub description: String,
    /// The commenter's contact details, as FixMyStreet forwards them: kept for staff only.
    pub contact: crate::domain::Contact,
}

/// Who may post updates: a back-office key of the jurisdiction, or an application key where the
/// jurisdiction takes citizens' comments (`citizen_updates`). Answers whether the update's status counts.
fn may_post(
    key: &super::submit::AppKey,
    j: &crate::domain::Jurisdiction,
) -> Result<bool, ApiError> {
    if key.row.may_update {
        // A back-office key updates the reports of its own jurisdiction only.
        if key.row.jurisdiction_id.as_deref() != Some(j.id.as_str()) {
            return Err(ApiError::NotAllowed(
                "this back-office api_key belongs to another jurisdiction".into(),
            ));
        }
        return Ok(true);
    }
    if key
        .row
        .jurisdiction_id
        .as_deref()
        .is_some_and(|own| own != j.id)
    {
        return Err(ApiError::NotAllowed(
            "this api_key belongs to another jurisdiction".into(),
        ));
    }
    match j.citizen_updates.as_str() {
        "notes" => Ok(false),
        "status" => Ok(true),
        _ => Err(ApiError::NotAllowed(format!(
            "this api_key is an application's, and jurisdiction {} takes updates only from back-office keys \
             (kind backoffice); its citizen_updates setting lets applications post citizens' comments",
            j.id
        ))),
    }
}

/// Stores an update; the same `update_id` posted again answers with the stored update (a resend).
pub async fn post_update(
    state: &AppState,
    key: &super::submit::AppKey,
    u: InboundUpdate,
) -> Result<String, ApiError> {
    let j = resolve_jurisdiction(
        state,
        u.jurisdiction_id
            .as_deref()
            .or(key.row.jurisdiction_id.as_deref()),
    )
    .await?;
    let status_counts = may_post(key, &j)?;
    let mut problems = Vec::new();
    // FixMyStreet's own vocabulary, as it posts it: UPPERCASE.
    let posted = u.status.clone();
    if !fms::is_posted_status(&posted) {
        problems.push(Problem::new(
            "status",
            format!(
                "status must be one of {}",
                fms::POSTED
                    .iter()
                    .map(|(p, _)| *p)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    let at = parse_w3c("updated_datetime", &u.updated_datetime)
        .map_err(|p| problems.push(p))
        .ok();
    if u.update_id.trim().is_empty() || u.update_id.chars().count() > 200 {
        problems.push(Problem::new(
            "update_id",
            "update_id is required (at most 200 characters)",
        ));
    }
    let description = crate::domain::normalize_newlines(&u.description);
    if let Err(p) = crate::domain::check_text(
        "description",
        &description,
        crate::domain::MAX_DESCRIPTION_CHARS,
        true,
    ) {
        problems.push(p);
    }
    if let Err(mut p) = u.contact.check() {
        problems.append(&mut p);
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
    let citizen = !key.row.may_update;
    let key_id = key.id().to_string();
    let request = state
        .store
        .read(move |conn| rq::get_any(conn, id))
        .await?
        .filter(|r| r.jurisdiction_id == j.id)
        // An application comments on what the public sees, and on the non-public reports it sent itself;
        // anything else does not exist for it.
        .filter(|r| {
            !citizen
                || (!r.hidden
                    && (r.moderation_state == "published"
                        || (r.moderation_state == rq::PRIVATE && r.api_key_id == key_id)))
        })
        .ok_or_else(not_found)?;
    // A citizen's comment that looks as if it carries contact details is kept for staff and changes
    // nothing, as a report's text would be held for review.
    let screened = citizen && crate::domain::looks_like_contact(&description);
    // A future timestamp from a skewed clock would sort the update ahead of later ones: cap it at now.
    let now = Utc::now().naive_utc();
    let at: NaiveDateTime = at.map_or(now, |t| t.naive_utc().min(now));
    let actor = key.row.name.clone();
    let action = if citizen {
        "citizen comment"
    } else {
        "back-office update"
    };
    // Applications number their comments alike (FixMyStreet's are its comment ids): a resend is
    // recognised within the key that sent it.
    let external_id = if citizen {
        format!("{}:{}", key.id(), u.update_id)
    } else {
        u.update_id.clone()
    };
    let contact = u.contact.clone();
    let (request_id, update_id) = (request.id, external_id.clone());
    let written: Result<_, StoreError> = state
        .store
        .write(move |conn| {
            if let Some(existing) = rq::event_by_external(conn, request.id, &external_id)? {
                return Ok(existing.id);
            }
            let vocabulary = super::staff::vocabulary(conn, &request.jurisdiction_id)?;
            let mapped: Vec<fms::Mapped> = vocabulary.iter().map(|s| s.fms.clone()).collect();
            let effect = if status_counts && !screened {
                fms::incoming(
                    &posted,
                    &mapped,
                    &request.detailed_status,
                    request.status == "closed",
                )
                // Checked above: every status FixMyStreet posts has an effect.
                .unwrap_or(fms::Effect::Keep)
            } else {
                fms::Effect::Keep
            };
            // An update older than the report's latest status (a late or replayed message) is kept in the
            // history but does not turn the status back.
            let latest = rq::latest_status_at(conn, request.id)?;
            let new_status = match effect {
                fms::Effect::Set(code) if latest.is_none_or(|l| at >= l) => Some(code),
                _ => None,
            };
            let event = EventRow {
                id: auth::sortable_id(),
                request_id: request.id,
                at,
                actor: actor.clone(),
                action: action.into(),
                detail: Some(description.clone()).filter(|d| !d.trim().is_empty()),
                public: !screened,
                // An update that changes no status is a note: the feed shows the report's status with it.
                status: new_status.clone(),
                external_id: Some(external_id.clone()),
            };
            dl::insert_event(conn, &event)?;
            if !contact.is_empty() {
                rq::insert_update_contact(conn, &event.id, request.id, &contact)?;
            }
            let now = super::now();
            match new_status {
                Some(code) => {
                    let closed = vocabulary
                        .iter()
                        .find(|s| s.code == code)
                        .map_or(crate::domain::closed_by_default(&code), |s| s.closed);
                    let notes = event.detail.as_deref().or(request.status_notes.as_deref());
                    rq::set_status(
                        conn,
                        request.id,
                        if closed { "closed" } else { "open" },
                        &code,
                        notes,
                        now,
                    )?;
                }
                None => rq::touch(conn, request.id, now)?,
            }
            super::audit::record(
                conn,
                super::audit::Actor::ApiKey(&actor),
                action,
                Some(format!("request {}", request.id)),
                Some(format!("{} ({})", posted, u.update_id)),
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

/// The public updates feed: updates in [start, end] (default: the last 24 hours), at most 1,000. `key`: the
/// API key the client sent, which also sees the updates of the non-public reports it sent.
pub async fn list_updates(
    state: &AppState,
    jurisdiction_id: Option<&str>,
    start: Option<&str>,
    end: Option<&str>,
    key: Option<&super::submit::AppKey>,
) -> Result<(crate::domain::Zone, Vec<PublicUpdate>), ApiError> {
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
    let (jid, offset) = (j.id.clone(), j.zone);
    let key_id = key.map(|k| k.id().to_string());
    let (rows, vocabulary) = state
        .store
        .read(move |conn| -> Result<_, StoreError> {
            Ok((
                rq::public_updates(
                    conn,
                    &jid,
                    start.naive_utc(),
                    end.naive_utc(),
                    1000,
                    key_id.as_deref(),
                )?,
                super::staff::vocabulary(conn, &jid)?,
            ))
        })
        .await?;
    let feed_of = |code: &str| {
        vocabulary.iter().find(|s| s.code == code).map_or_else(
            || fms::default_feed(code, crate::domain::closed_by_default(code)).to_string(),
            |s| s.fms.feed.clone(),
        )
    };
    let updates = rows
        .into_iter()
        .map(|(e, current)| {
            // A note changes no status: the feed shows the report's, as FixMyStreet expects the state after
            // every update.
            let status = e.status.unwrap_or(current);
            PublicUpdate {
                id: e.id,
                request_id: e.request_id,
                fms_status: feed_of(&status),
                status,
                at: e.at,
                text: e.detail,
            }
        })
        .collect();
    Ok((offset, updates))
}

/// One public change of a report, as the updates feed shows it.
#[derive(Debug, Clone)]
pub struct PublicUpdate {
    pub id: String,
    pub request_id: i64,
    /// The city's detailed status after it (the feed's `external_status_code`).
    pub status: String,
    /// What FixMyStreet reads for that status (the feed's `status`).
    pub fms_status: String,
    pub at: chrono::NaiveDateTime,
    pub text: Option<String>,
}
