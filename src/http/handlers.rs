//! Handlers: extract, convert wire to domain, call one use case, render. No SQL and no rules here.

use super::intake::{Limits, RequestForm};
use super::params::Params;
use super::{wire, Format};
use crate::app::{self, AppState, ListQuery, PhotoUpload};
use crate::domain::NewRequest;
use crate::error::ApiError;
use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};

type State = web::Data<AppState>;

/// A path identifier. A NUL can never be part of a stored identifier (and PostgreSQL refuses it in a query),
/// so such a path names nothing.
fn path_id<'a>(req: &'a HttpRequest, name: &str, what: &str) -> Result<&'a str, ApiError> {
    let id = req.match_info().get(name).unwrap_or_default();
    if id.contains('\0') {
        return Err(ApiError::NotFound(format!("{what} not found")));
    }
    Ok(id)
}

pub(super) fn query(req: &HttpRequest) -> Result<Params, ApiError> {
    Params::parse(req.query_string().as_bytes(), "query string")
}

/// Runs `f` with the format of the URL; an unknown format is a 404 in XML before anything else happens.
macro_rules! with_format {
    ($req:expr, $root:expr, |$fmt:ident| $body:expr) => {{
        match Format::of(&$req) {
            Ok($fmt) => {
                let result: Result<_, ApiError> = async { $body }.await;
                $fmt.reply($root, result)
            }
            Err(e) => Format::Xml.error(&e),
        }
    }};
}

/// Like `with_format!`, for public GETs whose 200 answers may be served again from the response cache.
macro_rules! with_format_cached {
    ($req:expr, $state:expr, $cache:expr, $root:expr, |$fmt:ident| $body:expr) => {{
        let key = format!("{}?{}", $req.path(), $req.query_string());
        let epoch = $state.data_epoch();
        if let Some((content_type, body)) = $cache.get(&key, epoch) {
            return super::format::ok_bytes(content_type, body);
        }
        match Format::of(&$req) {
            Ok($fmt) => {
                let result: Result<_, ApiError> = async { $body }.await;
                match result {
                    Ok(node) => {
                        let body = bytes::Bytes::from($fmt.body($root, &node));
                        $cache.put(key, epoch, $fmt.content_type(), body.clone());
                        super::format::ok_bytes($fmt.content_type(), body)
                    }
                    Err(e) => $fmt.error(&e),
                }
            }
            Err(e) => Format::Xml.error(&e),
        }
    }};
}

type Cache = web::Data<super::cache::ResponseCache>;

pub async fn discovery(req: HttpRequest, state: State) -> HttpResponse {
    with_format!(req, "discovery", |fmt| {
        let q = query(&req)?;
        let d = app::discovery(&state, q.get("jurisdiction_id")).await?;
        Ok(wire::discovery(&d))
    })
}

pub async fn services(req: HttpRequest, state: State) -> HttpResponse {
    with_format!(req, "services", |fmt| {
        let q = query(&req)?;
        Ok(wire::services(
            &app::services(&state, q.get("jurisdiction_id")).await?,
        ))
    })
}

pub async fn service_definition(req: HttpRequest, state: State) -> HttpResponse {
    with_format!(req, "service_definition", |fmt| {
        let q = query(&req)?;
        let code = path_id(&req, "service_code", "service_code")?;
        let (service, attributes) =
            app::service_definition(&state, q.get("jurisdiction_id"), code).await?;
        Ok(wire::service_definition(&service, &attributes))
    })
}

pub(super) fn extensions(q: &Params) -> bool {
    q.get("extensions")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

/// The filters and paging of `GET requests`, in every format.
pub(super) fn list_query(q: &Params) -> ListQuery {
    let owned = |name: &str| q.get(name).map(str::to_string);
    ListQuery {
        jurisdiction_id: owned("jurisdiction_id"),
        service_request_ids: q.list("service_request_id"),
        service_codes: q.list("service_code"),
        statuses: q.list("status"),
        start_date: owned("start_date"),
        end_date: owned("end_date"),
        updated_after: owned("updated_after"),
        updated_before: owned("updated_before"),
        page: owned("page"),
        page_size: owned("page_size"),
        timeperiod: owned("timeperiod"),
    }
}

pub async fn list_requests(req: HttpRequest, state: State, cache: Cache) -> HttpResponse {
    with_format_cached!(req, state, cache, "service_requests", |fmt| {
        let q = query(&req)?;
        let page = app::list_requests(&state, list_query(&q)).await?;
        Ok(wire::Requests {
            list: page.list,
            offset_minutes: page.offset_minutes,
            extensions: extensions(&q),
            _turn: page.turn,
        })
    })
}

pub async fn get_request(req: HttpRequest, state: State, cache: Cache) -> HttpResponse {
    with_format_cached!(req, state, cache, "service_requests", |fmt| {
        let q = query(&req)?;
        let id = path_id(&req, "service_request_id", "service_request_id")?;
        let (offset_minutes, r) = app::get_request(&state, q.get("jurisdiction_id"), id).await?;
        Ok(wire::Requests {
            list: vec![r],
            offset_minutes,
            extensions: extensions(&q),
            _turn: None,
        })
    })
}

pub async fn token(req: HttpRequest, state: State) -> HttpResponse {
    with_format!(req, "service_requests", |fmt| {
        let q = query(&req)?;
        let token = path_id(&req, "token", "token")?;
        Ok(wire::token(
            &app::resolve_token(&state, q.get("jurisdiction_id"), token).await?,
        ))
    })
}

pub async fn post_request(
    req: HttpRequest,
    state: State,
    limits: web::Data<Limits>,
    payload: web::Payload,
) -> HttpResponse {
    with_format!(req, "service_requests", |fmt| {
        let (form, key) = authenticated_form(&req, &state, payload, &limits).await?;
        let new = NewRequest::try_from(form.raw_request()?)?;
        let photos = form
            .uploads
            .into_iter()
            .map(|u| PhotoUpload { file: u.file })
            .collect();
        let submitted = app::submit_request(&state, &key, new, photos).await?;
        Ok(wire::post_ack(&submitted))
    })
}

/// Reads a POST body and checks its API key. A key in the query string or the `Authorization` header is
/// checked before a byte of the body is read, so that a client without a valid key cannot make the server
/// read an upload; a key in the body must then agree with it. A client without a valid key learns nothing
/// else (403 before any field is looked at).
async fn authenticated_form(
    req: &HttpRequest,
    state: &AppState,
    payload: web::Payload,
    limits: &Limits,
) -> Result<(RequestForm, app::AppKey), ApiError> {
    let early = match super::intake::key_outside_body(req)? {
        Some(k) => {
            let row = app::authenticate(state, &k).await?;
            Some((k, row))
        }
        None => None,
    };
    let form = RequestForm::read(req, payload, limits).await?;
    let given = form.api_key()?;
    let key = match early {
        Some((k, row)) if k == given => row,
        _ => app::authenticate(state, &given).await?,
    };
    if let Some(rates) = req.app_data::<web::Data<crate::limits::RateLimits>>() {
        let own = key.rate_limit().and_then(|r| r.parse().ok());
        rates
            .check_key(key.id(), own)
            .map_err(ApiError::TooManyRequests)?;
    }
    Ok((form, key))
}

pub async fn media(req: HttpRequest, state: State) -> HttpResponse {
    let file_name = req
        .match_info()
        .get("file_name")
        .unwrap_or_default()
        .to_string();
    let found = match app::media_file(&state, &file_name).await {
        Ok(found) => found,
        Err(e) => return Format::Xml.error(&e),
    };
    let (content_type, path) = found;
    match tokio::fs::read(&path).await {
        Ok(bytes) => HttpResponse::Ok()
            .content_type(content_type)
            // Not immutable: staff may hide a report and its photos; caches must let go within minutes.
            .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
            .insert_header(("X-Content-Type-Options", "nosniff"))
            .body(bytes),
        Err(e) => {
            tracing::error!(file = %file_name, error = %e, "a stored photo is missing");
            Format::Xml.error(&ApiError::NotFound("media not found".into()))
        }
    }
}

pub async fn health(state: State) -> HttpResponse {
    match app::health(&state).await {
        Ok(()) => HttpResponse::Ok()
            .content_type("application/json; charset=utf-8")
            .body(r#"{"status":"ok"}"#),
        // Whatever failed, the answer to a load balancer is "not ready".
        Err(e) => Format::Json.error(&ApiError::Unavailable(e)),
    }
}

/// POST servicerequestupdates: a back-office system's status update (FixMyStreet's extension, §4.6).
pub async fn post_update(
    req: HttpRequest,
    state: State,
    limits: web::Data<super::Limits>,
    payload: web::Payload,
) -> HttpResponse {
    with_format!(req, "service_request_updates", |fmt| {
        let (form, key) = authenticated_form(&req, &state, payload, &limits).await?;
        let b = &form.body;
        let field = |name: &str| b.get(name).map(str::to_string);
        let required = |name: &str| {
            field(name).ok_or_else(|| ApiError::invalid(name, format!("{name} is required")))
        };
        let update = app::updates::InboundUpdate {
            jurisdiction_id: field("jurisdiction_id")
                .or_else(|| form.query.get("jurisdiction_id").map(str::to_string)),
            service_request_id: required("service_request_id")?,
            update_id: required("update_id")?,
            status: required("status")?,
            updated_datetime: required("updated_datetime")?,
            description: field("description").unwrap_or_default(),
        };
        let id = app::updates::post_update(&state, &key, update).await?;
        Ok(wire::update_ack(&id))
    })
}

/// GET servicerequestupdates: the public updates feed.
pub async fn list_updates(req: HttpRequest, state: State) -> HttpResponse {
    with_format!(req, "service_request_updates", |fmt| {
        let q = query(&req)?;
        let (offset, rows) = app::updates::list_updates(
            &state,
            q.get("jurisdiction_id"),
            q.get("start_date"),
            q.get("end_date"),
        )
        .await?;
        Ok(wire::updates(&rows, offset))
    })
}
