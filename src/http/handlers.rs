//! Handlers: extract, convert wire to domain, call one use case, render. No SQL and no rules here.

use super::intake::{Limits, RequestForm};
use super::params::Params;
use super::render::Dated;
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
        if let Some(answer) = $cache.get(&key, epoch) {
            return answer.respond();
        }
        match Format::of(&$req) {
            Ok($fmt) => {
                let result: Result<_, ApiError> = async { $body }.await;
                match result {
                    Ok(doc) => {
                        let answer = super::format::Answer::new(
                            $fmt.content_type(),
                            $fmt.body($root, &doc).into(),
                            super::render::Document::last_modified(&doc),
                        );
                        let response = answer.respond();
                        $cache.put(key, epoch, answer);
                        response
                    }
                    Err(e) => $fmt.error(&e),
                }
            }
            Err(e) => Format::Xml.error(&e),
        }
    }};
}

type Cache = web::Data<super::cache::ResponseCache>;

// The catalogue's documents change only by import; they are served from the answer cache like the lists
// (every one of them is asked for by every app at start-up).
pub async fn discovery(req: HttpRequest, state: State, cache: Cache) -> HttpResponse {
    with_format_cached!(req, state, cache, "discovery", |fmt| {
        let q = query(&req)?;
        let d = app::discovery(&state, q.get("jurisdiction_id")).await?;
        Ok(Dated(wire::discovery(&d), Some(d.changeset)))
    })
}

pub async fn services(req: HttpRequest, state: State, cache: Cache) -> HttpResponse {
    with_format_cached!(req, state, cache, "services", |fmt| {
        let q = query(&req)?;
        let j = q.get("jurisdiction_id");
        Ok(Dated(
            wire::services(&app::services(&state, j, q.get("locale")).await?),
            app::catalog_changed(&state, j).await?,
        ))
    })
}

pub async fn service_definition(req: HttpRequest, state: State, cache: Cache) -> HttpResponse {
    with_format_cached!(req, state, cache, "service_definition", |fmt| {
        let q = query(&req)?;
        let code = path_id(&req, "service_code", "service_code")?;
        let j = q.get("jurisdiction_id");
        let (service, attributes) =
            app::service_definition(&state, j, code, q.get("locale")).await?;
        Ok(Dated(
            wire::service_definition(&service, &attributes),
            app::catalog_changed(&state, j).await?,
        ))
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
        cursor: owned("cursor"),
        bbox: owned("bbox"),
        lat: owned("lat"),
        long: owned("long"),
        radius: owned("radius"),
        all: false,
        locale: owned("locale"),
    }
}

pub async fn list_requests(req: HttpRequest, state: State, cache: Cache) -> HttpResponse {
    // A sync page carries its next cursor in headers, which the answer cache does not keep.
    if req.query_string().contains("cursor") {
        if let Ok(q) = query(&req) {
            if q.get("cursor").is_some() {
                return sync_requests(req, q, state).await;
            }
        }
    }
    with_format_cached!(req, state, cache, "service_requests", |fmt| {
        let q = query(&req)?;
        let page = app::list_requests(&state, list_query(&q)).await?;
        Ok(wire::Requests {
            list: page.list,
            zone: page.zone,
            extensions: extensions(&q),
            changed: page.changed,
            _turn: page.turn,
        })
    })
}

/// GET requests with `cursor`: a page of the change feed (docs/OPEN_DATA.md, "Keeping a copy"). The next
/// cursor is in `Sync-Cursor` and in a `Link` with `rel="next"`, since a GeoReport list has no place for it.
async fn sync_requests(req: HttpRequest, q: Params, state: State) -> HttpResponse {
    let fmt = match Format::of(&req) {
        Ok(fmt) => fmt,
        Err(e) => return Format::Xml.error(&e),
    };
    let page = match app::sync_requests(&state, list_query(&q)).await {
        Ok(page) => page,
        Err(e) => return fmt.error(&e),
    };
    let next = page.next.to_string();
    let caught_up = page.items.is_empty();
    let doc = wire::Sync {
        page,
        extensions: extensions(&q),
    };
    let mut res = fmt.ok("service_requests", &doc);
    // RFC 3986's unreserved characters stay as they are.
    const KEEP: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~');
    let enc = |s: &str| percent_encoding::utf8_percent_encode(s, KEEP).to_string();
    let mut pairs: Vec<String> =
        q.0.iter()
            .filter(|(name, _)| name != "cursor")
            .map(|(name, value)| format!("{}={}", enc(name), enc(value)))
            .collect();
    pairs.push(format!("cursor={next}"));
    let link = format!("<{}?{}>; rel=\"next\"", req.path(), pairs.join("&"));
    let headers = res.headers_mut();
    // An empty page means up to date: no `next` for a generic follower to loop on.
    let link = (!caught_up).then_some(link);
    for (name, value) in [("sync-cursor", Some(next)), ("link", link)] {
        if let Some(v) = value.and_then(|v| header::HeaderValue::from_str(&v).ok()) {
            headers.insert(header::HeaderName::from_static(name), v);
        }
    }
    res
}

pub async fn get_request(req: HttpRequest, state: State, cache: Cache) -> HttpResponse {
    with_format_cached!(req, state, cache, "service_requests", |fmt| {
        let q = query(&req)?;
        let id = path_id(&req, "service_request_id", "service_request_id")?;
        let (zone, r, changed) =
            app::get_request(&state, q.get("jurisdiction_id"), id, q.get("locale")).await?;
        Ok(wire::Requests {
            list: vec![r],
            zone,
            extensions: extensions(&q),
            changed,
            _turn: None,
        })
    })
}

pub async fn token(req: HttpRequest, state: State) -> HttpResponse {
    with_format!(req, "service_requests", |fmt| {
        let q = query(&req)?;
        let token = path_id(&req, "token", "token")?;
        // A token's answer changes when staff publish its report, with no time of its own to say so.
        Ok(Dated(
            wire::token(&app::resolve_token(&state, q.get("jurisdiction_id"), token).await?),
            Some(chrono::Utc::now()),
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
    let modified = tokio::fs::metadata(&path)
        .await
        .and_then(|m| m.modified())
        .ok()
        .map(chrono::DateTime::<chrono::Utc>::from);
    match tokio::fs::read(&path).await {
        Ok(bytes) => {
            let mut r = HttpResponse::Ok();
            r.content_type(content_type);
            super::format::validators(
                &mut r,
                super::format::etag_of(&bytes),
                modified.map(super::format::http_date),
            );
            // Not immutable: staff may hide a report and its photos; caches must let go within minutes.
            r.insert_header((header::CACHE_CONTROL, "public, max-age=300"))
                .insert_header(("X-Content-Type-Options", "nosniff"))
                .body(bytes)
        }
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
        if !form.uploads.is_empty() {
            return Err(ApiError::invalid(
                "media",
                "an update carries no files (photos of updates are not kept)",
            ));
        }
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
            contact: crate::domain::Contact {
                email: field("email"),
                phone: field("phone"),
                first_name: field("first_name"),
                last_name: field("last_name"),
                ..Default::default()
            }
            .tidied(),
        };
        let id = app::updates::post_update(&state, &key, update).await?;
        Ok(wire::update_ack(&id))
    })
}

/// GET servicerequestupdates: the public updates feed.
pub async fn list_updates(req: HttpRequest, state: State) -> HttpResponse {
    with_format!(req, "service_request_updates", |fmt| {
        let q = query(&req)?;
        // FixMyStreet sends its key (possibly empty) with this GET; a key that is given must be valid, and
        // it also shows the updates of the non-public reports it sent.
        let key = match q.get("api_key") {
            Some(k) => Some(app::authenticate(&state, k).await?),
            None => None,
        };
        let (offset, rows) = app::updates::list_updates(
            &state,
            q.get("jurisdiction_id"),
            q.get("start_date"),
            q.get("end_date"),
            key.as_ref(),
        )
        .await?;
        // Its window ends now by default, and a report leaving the public list takes its updates along.
        Ok(Dated(
            wire::updates(&rows, offset),
            Some(chrono::Utc::now()),
        ))
    })
}
