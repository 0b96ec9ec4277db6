//! The staff API (`/staff/v1/…`): JSON in, JSON out, errors in the Open311 `errors` shape. Handlers extract,
//! call one use case in `app::staff`, and render the staff representation — a separate type from the public
//! one, because it carries the reporter's contact details.

use super::intake::read_body;
use super::params::Params;
use super::Format;
use crate::app::staff::{self as uc, Principal, StaffFilter};
use crate::app::AppState;
use crate::domain::{format_w3c, parse_w3c};
use crate::error::ApiError;
use crate::store::requests::RequestRow;
use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};

type State = web::Data<AppState>;

const MAX_BODY: usize = 64 * 1024;

fn reply(result: Result<Value, ApiError>) -> HttpResponse {
    match result {
        Ok(v) => HttpResponse::Ok()
            .content_type("application/json; charset=utf-8")
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .body(v.to_string()),
        Err(e) => Format::Json.error(&e),
    }
}

fn client_addr(req: &HttpRequest) -> Option<String> {
    super::client_ip(req).map(|ip| ip.to_string())
}

use super::intake::bearer_of as bearer;

async fn principal(req: &HttpRequest, state: &AppState) -> Result<Principal, ApiError> {
    uc::authenticate(state, bearer(req).as_deref(), client_addr(req)).await
}

/// A JSON object bound to `T` by field name. Arrays are refused: serde would bind them by position.
async fn body<T: for<'de> Deserialize<'de>>(
    req: &HttpRequest,
    payload: web::Payload,
) -> Result<T, ApiError> {
    let bytes = read_body(req, payload, MAX_BODY).await?;
    let invalid = |e: serde_json::Error| {
        ApiError::invalid("body", format!("the JSON body is not valid: {e}"))
    };
    let value: Value = serde_json::from_slice(&bytes).map_err(invalid)?;
    if !value.is_object() {
        return Err(ApiError::invalid("body", "the JSON body must be an object"));
    }
    T::deserialize(value).map_err(invalid)
}

fn id_of(req: &HttpRequest) -> Result<i64, ApiError> {
    let raw = req.match_info().get("id").unwrap_or_default();
    raw.parse().map_err(|_| {
        ApiError::NotFound(format!(
            "service_request_id '{}' not found",
            raw.chars().take(30).collect::<String>()
        ))
    })
}

fn tokens_json(t: uc::Tokens) -> Value {
    json!({
        "access_token": t.access_token,
        "token_type": "Bearer",
        "expires_in": t.expires_in,
        "refresh_token": t.refresh_token,
        "username": t.username,
        "role": t.role,
    })
}

#[derive(Deserialize)]
struct SignIn {
    username: String,
    password: String,
}

pub async fn sign_in(req: HttpRequest, state: State, payload: web::Payload) -> HttpResponse {
    reply(
        async {
            let b: SignIn = body(&req, payload).await?;
            Ok(tokens_json(
                uc::sign_in(&state, &b.username, &b.password, client_addr(&req)).await?,
            ))
        }
        .await,
    )
}

#[derive(Deserialize)]
struct Refresh {
    refresh_token: String,
}

pub async fn refresh(req: HttpRequest, state: State, payload: web::Payload) -> HttpResponse {
    reply(
        async {
            let b: Refresh = body(&req, payload).await?;
            Ok(tokens_json(
                uc::refresh(&state, &b.refresh_token, client_addr(&req)).await?,
            ))
        }
        .await,
    )
}

pub async fn sign_out(req: HttpRequest, state: State) -> HttpResponse {
    reply(
        async {
            let p = principal(&req, &state).await?;
            uc::sign_out(&state, &p).await?;
            Ok(json!({"signed_out": true}))
        }
        .await,
    )
}

/// A report as staff see it: every public field plus contact details, department, flags.
fn summary(r: &RequestRow) -> Value {
    let off = 0;
    json!({
        "service_request_id": r.id.to_string(),
        "jurisdiction_id": r.jurisdiction_id,
        "service_code": r.service_code,
        "status": r.status,
        "detailed_status": r.detailed_status,
        "status_notes": r.status_notes,
        "description": r.description,
        "address": r.address,
        "address_id": r.address_id,
        "lat": r.lat,
        "long": r.long,
        "department_code": r.department_code,
        "agency_responsible": r.agency_responsible,
        "hidden": r.hidden,
        "moderation_state": r.moderation_state,
        "requested_datetime": format_w3c(r.requested_at.and_utc(), off),
        "updated_datetime": format_w3c(r.updated_at.and_utc(), off),
        "channel": r.channel,
        "priority": r.priority,
        "duplicate_of": r.duplicate_of.map(|m| m.to_string()),
    })
}

pub async fn list(req: HttpRequest, state: State) -> HttpResponse {
    reply(
        async {
            let p = principal(&req, &state).await?;
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
            let f = StaffFilter {
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
                ..Default::default()
            };
            let rows = uc::list(&state, &p, f).await?;
            Ok(Value::Array(rows.iter().map(summary).collect()))
        }
        .await,
    )
}

pub async fn get(req: HttpRequest, state: State) -> HttpResponse {
    reply(
        async {
            let p = principal(&req, &state).await?;
            let v = uc::get(&state, &p, id_of(&req)?).await?;
            let r = &v.request;
            let mut out = summary(r);
            out["contact"] = json!({
                "email": r.email, "phone": r.phone, "first_name": r.first_name, "last_name": r.last_name, "account_id": r.account_id,
            });
            out["routing_trace"] = r.routing_trace.as_deref().and_then(|t| serde_json::from_str(t).ok()).unwrap_or(Value::Null);
            out["duplicates"] = json!(v.duplicates);
            out["deliveries"] = v
                .deliveries
                .iter()
                .map(|d| json!({"id": d.id, "recipient": d.recipient, "fallback": d.is_fallback, "state": d.state, "attempts": d.attempts, "last_error": d.last_error, "message_id": d.message_id}))
                .collect();
            out["history"] = v
                .events
                .iter()
                .map(|e| json!({"at": format_w3c(e.at.and_utc(), 0), "actor": e.actor, "action": e.action, "detail": e.detail, "public": e.public, "status": e.status}))
                .collect();
            Ok(out)
        }
        .await,
    )
}

#[derive(Deserialize)]
struct StatusChange {
    status: String,
    #[serde(default)]
    status_notes: Option<String>,
}

pub async fn set_status(req: HttpRequest, state: State, payload: web::Payload) -> HttpResponse {
    reply(
        async {
            let p = principal(&req, &state).await?;
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
            uc::set_status(
                &state,
                &p,
                id,
                &b.status,
                b.status_notes.filter(|n| !n.trim().is_empty()),
            )
            .await?;
            Ok(json!({"service_request_id": id.to_string(), "status": b.status}))
        }
        .await,
    )
}

#[derive(Deserialize)]
struct Note {
    text: String,
    #[serde(default)]
    public: bool,
}

pub async fn add_note(req: HttpRequest, state: State, payload: web::Payload) -> HttpResponse {
    reply(
        async {
            let p = principal(&req, &state).await?;
            let id = id_of(&req)?;
            let b: Note = body(&req, payload).await?;
            uc::add_note(&state, &p, id, &b.text, b.public).await?;
            Ok(json!({"service_request_id": id.to_string(), "public": b.public}))
        }
        .await,
    )
}

#[derive(Deserialize)]
struct Assign {
    department: String,
    why: String,
}

pub async fn assign(req: HttpRequest, state: State, payload: web::Payload) -> HttpResponse {
    reply(
        async {
            let p = principal(&req, &state).await?;
            let id = id_of(&req)?;
            let b: Assign = body(&req, payload).await?;
            crate::domain::check_text("why", &b.why, 1000, true)?;
            uc::assign(&state, &p, id, &b.department, &b.why).await?;
            Ok(json!({"service_request_id": id.to_string(), "department": b.department}))
        }
        .await,
    )
}

pub async fn hide(req: HttpRequest, state: State) -> HttpResponse {
    set_hidden(req, state, true).await
}

pub async fn unhide(req: HttpRequest, state: State) -> HttpResponse {
    set_hidden(req, state, false).await
}

async fn set_hidden(req: HttpRequest, state: State, hidden: bool) -> HttpResponse {
    reply(
        async {
            let p = principal(&req, &state).await?;
            let id = id_of(&req)?;
            uc::set_hidden(&state, &p, id, hidden).await?;
            Ok(json!({"service_request_id": id.to_string(), "hidden": hidden}))
        }
        .await,
    )
}

/// Publishes a report held for review (a `batch` service's).
pub async fn publish(req: HttpRequest, state: State) -> HttpResponse {
    reply(
        async {
            let p = principal(&req, &state).await?;
            let id = id_of(&req)?;
            let changed = uc::publish(&state, &p, id).await?;
            Ok(json!({"service_request_id": id.to_string(), "moderation_state": "published", "changed": changed}))
        }
        .await,
    )
}

fn user_json(u: &crate::store::staff::UserRow) -> Value {
    json!({
        "id": u.id, "username": u.username, "display_name": u.display_name, "role": u.role,
        "jurisdiction_id": u.jurisdiction_id, "departments": u.departments(), "active": u.active,
    })
}

pub async fn users(req: HttpRequest, state: State) -> HttpResponse {
    reply(
        async {
            let p = principal(&req, &state).await?;
            Ok(uc::users(&state, &p).await?.iter().map(user_json).collect())
        }
        .await,
    )
}

#[derive(Deserialize)]
struct NewUser {
    username: String,
    #[serde(default)]
    display_name: Option<String>,
    password: String,
    role: String,
    #[serde(default)]
    jurisdiction_id: Option<String>,
    #[serde(default)]
    departments: Vec<String>,
}

pub async fn create_user(req: HttpRequest, state: State, payload: web::Payload) -> HttpResponse {
    reply(
        async {
            let p = principal(&req, &state).await?;
            p.require_admin()?;
            let b: NewUser = body(&req, payload).await?;
            let u = uc::new_user(
                &state,
                &p,
                uc::NewUser {
                    display_name: b.display_name.unwrap_or_else(|| b.username.clone()),
                    username: b.username,
                    password: b.password,
                    role: b.role,
                    jurisdiction: b.jurisdiction_id,
                    departments: b.departments,
                },
            )
            .await?;
            Ok(user_json(&u))
        }
        .await,
    )
}

pub async fn disable_user(req: HttpRequest, state: State) -> HttpResponse {
    user_active(req, state, false).await
}

pub async fn enable_user(req: HttpRequest, state: State) -> HttpResponse {
    user_active(req, state, true).await
}

async fn user_active(req: HttpRequest, state: State, active: bool) -> HttpResponse {
    reply(
        async {
            let p = principal(&req, &state).await?;
            let id = req.match_info().get("id").unwrap_or_default().to_string();
            uc::set_user_active(&state, &p, &id, active).await?;
            Ok(json!({"id": id, "active": active}))
        }
        .await,
    )
}

pub async fn audit(req: HttpRequest, state: State) -> HttpResponse {
    reply(
        async {
            let p = principal(&req, &state).await?;
            let q = Params::parse(req.query_string().as_bytes(), "query string")?;
            let rows = uc::audit_log(&state, &p, q.get("actor").map(str::to_string), q.get("target").map(str::to_string)).await?;
            Ok(rows
                .iter()
                .map(|a| json!({"at": format_w3c(a.at.and_utc(), 0), "actor": a.actor, "action": a.action, "target": a.target, "detail": a.detail, "client_addr": a.client_addr}))
                .collect())
        }
        .await,
    )
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

pub async fn set_priority(req: HttpRequest, state: State, payload: web::Payload) -> HttpResponse {
    reply(
        async {
            let p = principal(&req, &state).await?;
            let id = id_of(&req)?;
            let b: Priority = body(&req, payload).await?;
            uc::set_priority(&state, &p, id, b.priority).await?;
            Ok(json!({"service_request_id": id.to_string(), "priority": b.priority}))
        }
        .await,
    )
}

#[derive(Deserialize)]
struct Duplicate {
    of: String,
}

pub async fn mark_duplicate(req: HttpRequest, state: State, payload: web::Payload) -> HttpResponse {
    reply(
        async {
            let p = principal(&req, &state).await?;
            let id = id_of(&req)?;
            let b: Duplicate = body(&req, payload).await?;
            let master: i64 = b.of.trim().parse().map_err(|_| {
                ApiError::NotFound(format!(
                    "service_request_id '{}' not found",
                    b.of.chars().take(30).collect::<String>()
                ))
            })?;
            uc::mark_duplicate(&state, &p, id, master).await?;
            Ok(json!({"service_request_id": id.to_string(), "duplicate_of": master.to_string()}))
        }
        .await,
    )
}

pub async fn statuses(req: HttpRequest, state: State) -> HttpResponse {
    reply(
        async {
            let p = principal(&req, &state).await?;
            let q = Params::parse(req.query_string().as_bytes(), "query string")?;
            let list = uc::statuses(&state, &p, q.get("jurisdiction_id").map(str::to_string)).await?;
            Ok(list.iter().map(|(code, name, closed)| json!({"code": code, "name": name, "open311_status": if *closed { "closed" } else { "open" }})).collect())
        }
        .await,
    )
}

fn key_json(k: &crate::store::api_keys::ApiKeyRow) -> Value {
    json!({
        "id": k.id, "name": k.name, "kind": k.kind,
        "created": format_w3c(k.created_at.and_utc(), 0),
        "revoked": k.revoked_at.map(|t| format_w3c(t.and_utc(), 0)),
        "published": k.published,
        "rate_limit": k.rate_limit,
    })
}

pub async fn api_keys(req: HttpRequest, state: State) -> HttpResponse {
    reply(
        async {
            let p = principal(&req, &state).await?;
            Ok(uc::api_keys(&state, &p)
                .await?
                .iter()
                .map(key_json)
                .collect())
        }
        .await,
    )
}

#[derive(Deserialize)]
struct NewKey {
    name: String,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    jurisdiction_id: Option<String>,
    #[serde(default)]
    rate_limit: Option<String>,
}

pub async fn create_api_key(req: HttpRequest, state: State, payload: web::Payload) -> HttpResponse {
    reply(
        async {
            let p = principal(&req, &state).await?;
            p.require_admin()?;
            let b: NewKey = body(&req, payload).await?;
            let (row, key) = uc::create_api_key(
                &state,
                &p,
                &b.name,
                b.kind.as_deref().unwrap_or("production"),
                b.jurisdiction_id.as_deref(),
                b.rate_limit.as_deref(),
            )
            .await?;
            let mut out = key_json(&row);
            // Shown this once; only its hash is kept.
            out["api_key"] = json!(key);
            Ok(out)
        }
        .await,
    )
}

pub async fn revoke_api_key(req: HttpRequest, state: State) -> HttpResponse {
    reply(
        async {
            let p = principal(&req, &state).await?;
            let id = req.match_info().get("id").unwrap_or_default().to_string();
            uc::revoke_api_key(&state, &p, &id).await?;
            Ok(json!({"id": id, "revoked": true}))
        }
        .await,
    )
}

#[derive(Deserialize)]
struct UserPatch {
    #[serde(default)]
    display_name: Option<String>,
    #[serde(default)]
    role: Option<String>,
    #[serde(default)]
    jurisdiction_id: Option<String>,
    #[serde(default)]
    departments: Option<Vec<String>>,
    #[serde(default)]
    password: Option<String>,
}

pub async fn update_user(req: HttpRequest, state: State, payload: web::Payload) -> HttpResponse {
    reply(
        async {
            let p = principal(&req, &state).await?;
            p.require_admin()?;
            let id = req.match_info().get("id").unwrap_or_default().to_string();
            let b: UserPatch = body(&req, payload).await?;
            let change = uc::UserChange {
                display_name: b.display_name,
                role: b.role,
                jurisdiction_id: b.jurisdiction_id,
                departments: b.departments,
                password: b.password,
            };
            Ok(user_json(&uc::update_user(&state, &p, &id, change).await?))
        }
        .await,
    )
}
