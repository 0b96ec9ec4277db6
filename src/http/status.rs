//! `GET /status/{code}` (plain text for one SMS, or JSON) and `POST /sms/inbound`, the webhook an SMS
//! gateway calls with an incoming text.

use super::intake::read_body;
use super::params::Params;
use super::Format;
use crate::app::status::{self, NoStatus, StatusAnswer};
use crate::app::AppState;
use crate::error::ApiError;
use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;

type State = web::Data<AppState>;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Shape {
    Text,
    Json,
    /// Twilio's reply document, for a gateway that wants one.
    TwiML,
}

/// JSON when the path ends in `.json`, `format=json` is given, or `Accept` prefers it; else plain text.
fn shape(req: &HttpRequest, q: &Params, path_json: bool) -> Shape {
    match q.get("format") {
        Some("json") => return Shape::Json,
        Some("twiml") => return Shape::TwiML,
        Some(_) => return Shape::Text,
        None => {}
    }
    if path_json {
        return Shape::Json;
    }
    let accept = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if accept.contains("application/json") && !accept.contains("text/plain") {
        Shape::Json
    } else {
        Shape::Text
    }
}

fn header_of(req: &HttpRequest, name: header::HeaderName) -> Option<&str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

fn answer(shape: Shape, result: Result<StatusAnswer, NoStatus>) -> HttpResponse {
    let changed = result
        .as_ref()
        .ok()
        .map(|a| super::format::http_date(a.changed));
    let (code, language, text, doc) = match &result {
        Ok(a) => (
            200,
            a.language,
            a.text.clone(),
            json!({
                "reference_code": a.reference_code,
                "service_request_id": a.service_request_id.map(|id| id.to_string()),
                "service_code": a.service_code,
                "service_name": a.service_name,
                "status": a.status,
                "detailed_status": a.detailed_status,
                "status_name": a.status_name,
                "status_description": a.status_description,
                "updated_datetime": a.updated_datetime,
                "note": a.note,
                "text": a.text,
                "language": a.language,
            }),
        ),
        Err(no) => (
            no.error.status(),
            no.language,
            no.text.clone(),
            json!({
                "errors": super::format::error_items(&no.error),
                "text": no.text,
                "language": no.language,
            }),
        ),
    };
    let status = code;
    let mut res = HttpResponse::build(
        actix_web::http::StatusCode::from_u16(status).unwrap_or(actix_web::http::StatusCode::OK),
    );
    res.insert_header((header::CONTENT_LANGUAGE, language))
        .insert_header((header::VARY, "Accept, Accept-Language"))
        .insert_header((header::CACHE_CONTROL, "no-cache"));
    let (content_type, body) = match shape {
        Shape::Text => ("text/plain; charset=utf-8", text),
        Shape::Json => ("application/json; charset=utf-8", doc.to_string()),
        Shape::TwiML => {
            let mut body =
                String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Message>");
            super::render::escape_into(&mut body, &text);
            body.push_str("</Message></Response>");
            ("application/xml; charset=utf-8", body)
        }
    };
    // Polled like the other public answers: revalidated by its bytes (a status changes with no date the
    // answer could promise).
    super::format::validators(&mut res, super::format::etag_of(body.as_bytes()), changed);
    res.content_type(content_type).body(body)
}

/// `GET /status/{code}` (also `{code}.json` and `{code}.txt`).
pub async fn status(req: HttpRequest, state: State) -> HttpResponse {
    let q = match Params::parse(req.query_string().as_bytes(), "query string") {
        Ok(q) => q,
        Err(e) => return Format::Json.error(&e),
    };
    let raw = req.match_info().get("code").unwrap_or_default();
    let (code, path_json) = match raw.rsplit_once('.') {
        Some((c, "json")) => (c, true),
        Some((c, "txt")) => (c, false),
        _ => (raw, false),
    };
    let result = status::by_code(
        &state,
        code,
        q.get("locale"),
        header_of(&req, header::ACCEPT_LANGUAGE),
    )
    .await;
    answer(shape(&req, &q, path_json), result)
}

const MESSAGE_FIELDS: [&str; 4] = ["text", "Body", "message", "content"];

/// The message fields of a JSON body, which must be text; the gateway's other fields are not read.
fn message_fields(m: &serde_json::Map<String, serde_json::Value>) -> Result<Params, ApiError> {
    let mut pairs = Vec::new();
    for name in MESSAGE_FIELDS {
        match m.get(name) {
            None | Some(serde_json::Value::Null) => {}
            Some(serde_json::Value::String(s)) => pairs.push((name.to_string(), s.clone())),
            Some(_) => {
                return Err(ApiError::invalid(name, format!("{name} must be text")));
            }
        }
    }
    Ok(Params(pairs))
}

/// `POST /sms/inbound`: the incoming text in a form or JSON field named `text`, `Body` (Twilio),
/// `message` or `content`; answered with the reply to send back.
pub async fn sms(req: HttpRequest, state: State, payload: web::Payload) -> HttpResponse {
    let q = match Params::parse(req.query_string().as_bytes(), "query string") {
        Ok(q) => q,
        Err(e) => return Format::Json.error(&e),
    };
    let shape = shape(&req, &q, false);
    let body = match read_body(&req, payload, 16 * 1024).await {
        Ok(b) => b,
        Err(e) => return Format::Json.error(&e),
    };
    let fields = if super::format::has_json_body(&req) {
        match serde_json::from_slice::<serde_json::Value>(&body) {
            Ok(serde_json::Value::Object(m)) => message_fields(&m),
            _ => Err(ApiError::invalid("body", "the JSON body must be an object")),
        }
    } else {
        Params::parse(&body, "request body")
    };
    let fields = match fields {
        Ok(f) => f,
        Err(e) => return Format::Json.error(&e),
    };
    let Some(text) = MESSAGE_FIELDS.iter().find_map(|n| fields.get(n)) else {
        return Format::Json.error(&ApiError::invalid(
            "text",
            "the incoming message is in a field named text, Body, message or content",
        ));
    };
    let result = status::sms(&state, text, q.get("locale")).await;
    // A gateway sends the reply only with a success: whatever the message said, the answer is 200 and its
    // text says what went wrong (TwiML already is).
    let mut res = answer(shape, result);
    *res.status_mut() = actix_web::http::StatusCode::OK;
    res
}
