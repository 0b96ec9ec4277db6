//! A report's status by its reference code, short enough for one SMS: for the citizen who reported on paper
//! or by phone and has only a basic phone, and for SMS gateways that relay `STATUS JK7Q3FX`. It shows only
//! what the public answers show (a held report says only that it is under review; a hidden one is unknown).

use super::catalog::{self, JurisdictionCatalog};
use super::AppState;
use crate::domain::i18n::{self, Lang, Text};
use crate::domain::{format_w3c, refcode};
use crate::error::ApiError;
use crate::store::requests as rq;
use std::sync::Arc;

/// The status of one report, in one language.
#[derive(Debug, Clone)]
pub struct StatusAnswer {
    pub reference_code: String,
    /// Absent while the report waits for review (its content is not public yet).
    pub service_request_id: Option<i64>,
    pub service_code: String,
    pub service_name: String,
    /// Open311's `open`/`closed`, or `under_review`.
    pub status: String,
    pub detailed_status: Option<String>,
    pub status_name: String,
    pub status_description: Option<String>,
    /// The last change, in the jurisdiction's offset.
    pub updated_datetime: String,
    pub note: Option<String>,
    /// All of it in at most 160 characters.
    pub text: String,
    pub language: &'static str,
    /// When what it shows last changed: the report, or the catalogue that names its service and status.
    pub changed: chrono::DateTime<chrono::Utc>,
}

/// Why a code gives no status, in words for the person who typed it.
#[derive(Debug)]
pub struct NoStatus {
    pub error: ApiError,
    pub text: String,
    pub language: &'static str,
}

/// The language of the answer: what the client prefers among the jurisdiction's, else the jurisdiction's.
fn language_of(j: &JurisdictionCatalog, locale: Option<&str>, accept: Option<&str>) -> String {
    i18n::choose(&j.languages, &j.jurisdiction.language, locale, accept)
}

/// The report a reference code names: a code of no report's shape is 404, one whose check character
/// fails is a 400 that says it was mistyped (the reader can try again, a guesser learns nothing).
pub fn id_of_code(code: &str) -> Result<i64, ApiError> {
    refcode::decode(code).map_err(|e| match e {
        refcode::Bad::Shape => ApiError::NotFound("no report has this reference code".into()),
        refcode::Bad::Check => ApiError::invalid(
            "code",
            "this reference code has a mistyped or swapped character",
        ),
    })
}

/// The status of the report a code names. `locale` (an explicit choice) wins over `accept` (the
/// `Accept-Language` header); both fall back to the jurisdiction's language.
pub async fn by_code(
    state: &AppState,
    code: &str,
    locale: Option<&str>,
    accept: Option<&str>,
) -> Result<StatusAnswer, NoStatus> {
    let first = catalog::jurisdiction(state, None).await.ok();
    let refuse = |error: ApiError, what: Text| {
        let language = first
            .as_ref()
            .map(|j| language_of(j, locale, accept))
            .unwrap_or_else(|| "en".into());
        let lang = Lang::of(&language);
        NoStatus {
            error,
            text: i18n::text(lang, what).to_string(),
            language: lang.code(),
        }
    };
    let id = match id_of_code(code) {
        Ok(id) => id,
        Err(e @ ApiError::NotFound(_)) => return Err(refuse(e, Text::NotFound)),
        Err(e) => return Err(refuse(e, Text::Mistyped)),
    };
    let loaded = state
        .store
        .read(move |conn| -> Result<_, crate::store::StoreError> {
            let Some(row) = rq::get_any(conn, id)? else {
                return Ok(None);
            };
            let events = rq::public_events(conn, &[id])?;
            Ok(Some((row, events)))
        })
        .await;
    let (row, events) = match loaded {
        // A non-public report has no public status either, even for its code.
        Ok(Some((row, events))) if !row.hidden && row.moderation_state != rq::PRIVATE => {
            (row, events)
        }
        Ok(_) => {
            return Err(refuse(
                ApiError::NotFound("no report has this reference code".into()),
                Text::NotFound,
            ))
        }
        Err(e) => return Err(refuse(e.into(), Text::NotFound)),
    };
    let base = catalog::jurisdiction(state, Some(&row.jurisdiction_id))
        .await
        .map_err(|e| refuse(e, Text::NotFound))?;
    let language = language_of(&base, locale, accept);
    let j: Arc<JurisdictionCatalog> =
        catalog::jurisdiction_in(state, Some(&row.jurisdiction_id), Some(&language))
            .await
            .map_err(|e| refuse(e, Text::NotFound))?;
    let lang = Lang::of(&language);
    let offset = j.jurisdiction.zone;
    let service_name = j
        .services
        .get(&row.service_code)
        .map_or_else(|| row.service_code.clone(), |s| s.service.name.clone());
    let reference_code = refcode::encode(id);
    let published = row.moderation_state == "published";
    let (status, detailed, status_name, status_description, changed, note) = if published {
        let s = j.status(&row.detailed_status);
        let note = events
            .iter()
            .rev()
            .find_map(|e| e.detail.clone().filter(|d| !d.trim().is_empty()))
            .or(row.status_notes.clone());
        (
            row.status.clone(),
            Some(row.detailed_status.clone()),
            s.map_or_else(|| row.detailed_status.replace('_', " "), |s| s.name.clone()),
            s.and_then(|s| s.description.clone()),
            row.updated_at,
            note,
        )
    } else {
        (
            "under_review".to_string(),
            None,
            i18n::text(lang, Text::UnderReview).to_string(),
            None,
            row.requested_at,
            None,
        )
    };
    let updated = format_w3c(changed.and_utc(), offset);
    // "since" is when the report took the status it shows (a note or a priority change moves `updated`,
    // not this): its last public change of status, or its arrival.
    let since = if published {
        events
            .iter()
            .rev()
            .find(|e| e.status.is_some())
            .map(|e| e.at)
    } else {
        None
    }
    .unwrap_or(row.entered_at.unwrap_or(row.requested_at));
    let since = format_w3c(since.and_utc(), offset);
    let date = since.get(..10).unwrap_or(&since).to_string();
    let text = i18n::status_sms(
        &reference_code,
        &service_name,
        &status_name,
        &date,
        note.as_deref(),
        lang,
    );
    Ok(StatusAnswer {
        reference_code,
        service_request_id: published.then_some(id),
        service_code: row.service_code,
        service_name,
        status,
        detailed_status: detailed,
        status_name,
        status_description,
        updated_datetime: updated,
        note,
        text,
        language: lang.code(),
        changed: row
            .updated_at
            .max(j.changeset.unwrap_or(row.updated_at))
            .and_utc(),
    })
}

/// What an SMS gateway relays: `STATUS JK7Q3FX`, `CEK JK7Q3FX` (Indonesian), or the code alone. Anything
/// else is answered with how to ask.
pub async fn sms(
    state: &AppState,
    message: &str,
    locale: Option<&str>,
) -> Result<StatusAnswer, NoStatus> {
    let words: Vec<&str> = message.split_whitespace().collect();
    let (keyword_locale, code) = match words.as_slice() {
        [k, rest @ ..] if k.eq_ignore_ascii_case("status") && !rest.is_empty() => {
            (None, rest.concat())
        }
        [k, rest @ ..] if k.eq_ignore_ascii_case("cek") && !rest.is_empty() => {
            (Some("id"), rest.concat())
        }
        [only] => (None, only.to_string()),
        _ => {
            let language = catalog::jurisdiction(state, None)
                .await
                .ok()
                .map(|j| language_of(&j, locale, None))
                .unwrap_or_else(|| "en".into());
            let lang = Lang::of(&language);
            return Err(NoStatus {
                error: ApiError::invalid("text", "send STATUS and a reference code"),
                text: i18n::text(lang, Text::Usage).to_string(),
                language: lang.code(),
            });
        }
    };
    let answer = by_code(state, &code, locale.or(keyword_locale), None).await;
    match answer {
        Err(mut no) if matches!(no.error, ApiError::NotFound(_)) && words.len() == 1 => {
            // A lone word that is no code is more likely a question than a mistyped code.
            let lang = Lang::of(no.language);
            no.text = format!("{} {}", no.text, i18n::text(lang, Text::Usage));
            no.text = i18n::fit(&no.text, i18n::SMS_CHARS);
            Err(no)
        }
        other => other,
    }
}
