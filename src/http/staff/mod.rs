//! The staff API (`/staff/v1/…`): JSON in, JSON out, errors in the Open311 `errors` shape. Handlers take the
//! caller as an argument (`Principal`, or `Admin` where only administrators may act: both are checked before
//! the body is read), call one use case in `app::staff`, and answer with a document of `wire`.

mod accounts;
mod intake;
mod keys;
mod sessions;
mod triage;
mod wire;

pub use accounts::{audit, create_user, disable_user, enable_user, erase, update_user, users};
pub use intake::{add_scan, enter, scan};
pub use keys::{api_keys, create_api_key, revoke_api_key};
pub use sessions::{refresh, sign_in, sign_out};
pub use triage::{
    add_note, assign, get, hide, list, mark_duplicate, publish, set_priority, set_status, statuses,
    unhide,
};

use super::intake::{bearer_of, read_body};
use super::Format;
use crate::app::staff::{authenticate, Admin, Principal};
use crate::app::AppState;
use crate::error::ApiError;
use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest, HttpResponse, ResponseError};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::future::Future;
use std::pin::Pin;

type State = web::Data<AppState>;

const MAX_BODY: usize = 64 * 1024;

/// 200 with a staff document. Never cached: staff answers carry personal data.
fn ok<T: Serialize + ?Sized>(doc: &T) -> HttpResponse {
    match serde_json::to_string(doc) {
        Ok(body) => HttpResponse::Ok()
            .content_type("application/json; charset=utf-8")
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .body(body),
        Err(e) => Format::Json.error(&ApiError::Internal(anyhow::anyhow!(e))),
    }
}

/// The answer to a use case: its result rendered by `render`, or the error in the Open311 shape.
fn respond<V>(
    result: Result<V, ApiError>,
    render: impl FnOnce(&V) -> HttpResponse,
) -> HttpResponse {
    match result {
        Ok(v) => render(&v),
        Err(e) => Format::Json.error(&e),
    }
}

fn client_addr(req: &HttpRequest) -> Option<String> {
    super::client_ip(req).map(|ip| ip.to_string())
}

/// A refused caller, answered like every staff error.
#[derive(Debug)]
pub struct Refused(ApiError);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0.descriptions().join("; "))
    }
}

impl ResponseError for Refused {
    fn status_code(&self) -> actix_web::http::StatusCode {
        actix_web::http::StatusCode::from_u16(self.0.status())
            .unwrap_or(actix_web::http::StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        Format::Json.error(&self.0)
    }
}

type Extracted<T> = Pin<Box<dyn Future<Output = Result<T, Refused>>>>;

/// The caller of a staff route, from `Authorization: Bearer <access token>` and a live session.
impl FromRequest for Principal {
    type Error = Refused;
    type Future = Extracted<Principal>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let Some(state) = req.app_data::<State>() else {
                return Err(Refused(ApiError::Internal(anyhow::anyhow!(
                    "the staff API is mounted without its state"
                ))));
            };
            authenticate(state, bearer_of(&req).as_deref(), client_addr(&req))
                .await
                .map_err(Refused)
        })
    }
}

/// A caller with the administrator role; anyone else gets 403 before the body is read.
impl FromRequest for Admin {
    type Error = Refused;
    type Future = Extracted<Admin>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let principal = Principal::from_request(req, payload);
        Box::pin(async move { Admin::try_from(principal.await?).map_err(Refused) })
    }
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

/// A report id from the path; anything that is not one is a report that does not exist.
fn id_of(req: &HttpRequest) -> Result<i64, ApiError> {
    let raw = req.match_info().get("id").unwrap_or_default();
    report_id(raw)
}

/// A report's number, or its reference code (staff told a code over the phone look it up directly; a
/// mistyped one is a 400 that says so).
fn report_id(raw: &str) -> Result<i64, ApiError> {
    raw.parse().or_else(|_| crate::app::status::id_of_code(raw))
}

/// The `{id}` of a user or key route.
fn name_of(req: &HttpRequest) -> String {
    req.match_info().get("id").unwrap_or_default().to_string()
}
