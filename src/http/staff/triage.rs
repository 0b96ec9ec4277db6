//! The queue, one report, and the triage actions.

use super::{body, id_of, ok, report_id, respond, wire, State};
use crate::app::staff::{self as uc, Principal, ReportFilter};
use crate::domain::parse_w3c;
use crate::error::ApiError;
use crate::http::params::Params;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::json;

fn filter(req: &HttpRequest) -> Result<ReportFilter, ApiError> {
    let q = Params::parse(req.query_string().as_bytes(), "query string")?;
    let date = |name: &str| {
        q.get(name)
            .map(|v| parse_w3c(name, v).map(|t| t.naive_utc()))
            .transpose()
    };
    let page: i64 = q.get("page").map_or(Ok(1), |v| {
        v.parse()
            .map_err(|_| ApiError::invalid("page", "page must be a whole number from 1"))
    })?;
    let page_size: i64 = q.get("page_size").map_or(Ok(100), |v| {
        v.parse()
            .map_err(|_| ApiError::invalid("page_size", "page_size must be a whole number"))
    })?;
    if page < 1 || !(1..=1000).contains(&page_size) {
        return Err(ApiError::invalid(
            "page",
            "page starts at 1 and page_size is 1 to 1000",
        ));
    }
    let hidden = match q.get("hidden") {
        None => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(_) => return Err(ApiError::invalid("hidden", "hidden is true or false")),
    };
    let statuses = q.list("status");
    if let Some(bad) = statuses
        .iter()
        .flatten()
        .find(|s| !matches!(s.as_str(), "open" | "closed"))
    {
        let shown: String = bad.chars().take(30).collect();
        return Err(ApiError::invalid(
            "status",
            format!("status '{shown}' is not one of open, closed"),
        ));
    }
    Ok(ReportFilter {
        statuses,
        detailed_statuses: q.list("detailed_status"),
        service_codes: q.list("service_code"),
        department: q.get("department").map(str::to_string),
        area: q.get("area").map(str::to_string),
        moderation_state: q.get("moderation_state").map(str::to_string),
        hidden,
        text: q.get("q").map(str::to_string),
        requested_from: date("start_date")?,
        requested_to: date("end_date")?,
        offset: (page - 1).saturating_mul(page_size),
        limit: page_size,
    })
}

pub async fn list(p: Principal, req: HttpRequest, state: State) -> HttpResponse {
    let result = async { uc::list(&state, &p, filter(&req)?).await }.await;
    respond(result, |list| ok(&wire::all::<_, wire::Report>(list)))
}

pub async fn get(p: Principal, req: HttpRequest, state: State) -> HttpResponse {
    let result = async { uc::get(&state, &p, id_of(&req)?).await }.await;
    respond(result, |v| ok(&wire::ReportDetail::from(v)))
}

pub async fn statuses(p: Principal, req: HttpRequest, state: State) -> HttpResponse {
    let result = async {
        let q = Params::parse(req.query_string().as_bytes(), "query string")?;
        uc::statuses(&state, &p, q.get("jurisdiction_id").map(str::to_string)).await
    }
    .await;
    respond(result, |list| ok(&wire::all::<_, wire::Status>(list)))
}

#[derive(Deserialize)]
struct StatusChange {
    status: String,
    #[serde(default)]
    status_notes: Option<String>,
}

pub async fn set_status(
    p: Principal,
    req: HttpRequest,
    state: State,
    payload: web::Payload,
) -> HttpResponse {
    let result = async {
        let id = id_of(&req)?;
        let b: StatusChange = body(&req, payload).await?;
        if let Some(n) = &b.status_notes {
            crate::domain::check_text(
                "status_notes",
                n,
                crate::domain::MAX_DESCRIPTION_CHARS,
                true,
            )?;
        }
        let notes = b.status_notes.filter(|n| !n.trim().is_empty());
        uc::set_status(&state, &p, id, &b.status, notes).await?;
        Ok(json!({"service_request_id": id.to_string(), "status": b.status}))
    }
    .await;
    respond(result, ok)
}

#[derive(Deserialize)]
struct Note {
    text: String,
    #[serde(default)]
    public: bool,
}

pub async fn add_note(
    p: Principal,
    req: HttpRequest,
    state: State,
    payload: web::Payload,
) -> HttpResponse {
    let result = async {
        let id = id_of(&req)?;
        let b: Note = body(&req, payload).await?;
        uc::add_note(&state, &p, id, &b.text, b.public).await?;
        Ok(json!({"service_request_id": id.to_string(), "public": b.public}))
    }
    .await;
    respond(result, ok)
}

#[derive(Deserialize)]
struct Assign {
    department: String,
    why: String,
}

pub async fn assign(
    p: Principal,
    req: HttpRequest,
    state: State,
    payload: web::Payload,
) -> HttpResponse {
    let result = async {
        let id = id_of(&req)?;
        let b: Assign = body(&req, payload).await?;
        crate::domain::check_text("why", &b.why, 1000, true)?;
        uc::assign(&state, &p, id, &b.department, &b.why).await?;
        Ok(json!({"service_request_id": id.to_string(), "department": b.department}))
    }
    .await;
    respond(result, ok)
}

pub async fn hide(p: Principal, req: HttpRequest, state: State) -> HttpResponse {
    set_hidden(p, req, state, true).await
}

pub async fn unhide(p: Principal, req: HttpRequest, state: State) -> HttpResponse {
    set_hidden(p, req, state, false).await
}

async fn set_hidden(p: Principal, req: HttpRequest, state: State, hidden: bool) -> HttpResponse {
    let result = async {
        let id = id_of(&req)?;
        uc::set_hidden(&state, &p, id, hidden).await?;
        Ok(json!({"service_request_id": id.to_string(), "hidden": hidden}))
    }
    .await;
    respond(result, ok)
}

/// Publishes a report held for review (a `batch` service's).
pub async fn publish(p: Principal, req: HttpRequest, state: State) -> HttpResponse {
    let result = async {
        let id = id_of(&req)?;
        let changed = uc::publish(&state, &p, id).await?;
        Ok(json!({"service_request_id": id.to_string(), "moderation_state": "published", "changed": changed}))
    }
    .await;
    respond(result, ok)
}

#[derive(Deserialize)]
struct Priority {
    /// JSON does not tell 2 from 2.0; both are the integer 2.
    #[serde(deserialize_with = "integral")]
    priority: i32,
}

fn integral<'de, D: serde::Deserializer<'de>>(d: D) -> Result<i32, D::Error> {
    let n = serde_json::Number::deserialize(d)?;
    n.as_i64()
        .or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 1e15)
                .map(|f| f as i64)
        })
        .and_then(|i| i32::try_from(i).ok())
        .ok_or_else(|| serde::de::Error::custom(format!("priority must be an integer, not {n}")))
}

pub async fn set_priority(
    p: Principal,
    req: HttpRequest,
    state: State,
    payload: web::Payload,
) -> HttpResponse {
    let result = async {
        let id = id_of(&req)?;
        let b: Priority = body(&req, payload).await?;
        uc::set_priority(&state, &p, id, b.priority).await?;
        Ok(json!({"service_request_id": id.to_string(), "priority": b.priority}))
    }
    .await;
    respond(result, ok)
}

#[derive(Deserialize)]
struct Duplicate {
    of: String,
}

pub async fn mark_duplicate(
    p: Principal,
    req: HttpRequest,
    state: State,
    payload: web::Payload,
) -> HttpResponse {
    let result = async {
        let id = id_of(&req)?;
        let b: Duplicate = body(&req, payload).await?;
        let master = report_id(b.of.trim())?;
        uc::mark_duplicate(&state, &p, id, master).await?;
        Ok(json!({"service_request_id": id.to_string(), "duplicate_of": master.to_string()}))
    }
    .await;
    respond(result, ok)
}
