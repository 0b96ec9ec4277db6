//! Reports typed in by staff: one form (JSON, or multipart with photos and scans of the paper form), or a
//! batch of forms in one JSON call, each answered on its own; scans added later; scans read back.

use super::{id_of, respond, State};
use crate::app::staff::intake::{self as uc, AssistedForm, Entry};
use crate::app::staff::Principal;
use crate::app::PhotoUpload;
use crate::error::ApiError;
use crate::http::intake::{object_params, read_body, Files, RequestForm};
use crate::http::params::Params;
use crate::http::{Format, Limits};
use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};

/// A batch of a hundred forms with long descriptions, in a non-Latin script.
const MAX_BATCH_BODY: usize = 4 * 1024 * 1024;

/// The assisted-intake fields beside the Open311 ones.
fn form_of(
    body: Params,
    query: Params,
    idempotency_header: Option<String>,
) -> Result<AssistedForm, ApiError> {
    let consent = match body.get("contact_consent") {
        None => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(_) => {
            return Err(ApiError::invalid(
                "contact_consent",
                "contact_consent is true or false",
            ))
        }
    };
    let channel = body.get("channel").map(str::to_string);
    let observed_at = body.get("observed_at").map(str::to_string);
    let form = RequestForm {
        body,
        query,
        uploads: Vec::new(),
        bearer: None,
        idempotency_header,
    };
    Ok(AssistedForm {
        report: form.raw_request()?,
        channel,
        observed_at,
        contact_consent: consent,
    })
}

/// The fields of one JSON form: the Open311 ones as the public POST reads them, and the assisted-intake
/// ones, which must have their documented types (a consent given as anything but true or false is not one).
fn json_form(
    m: &serde_json::Map<String, Value>,
    query: Params,
    idempotency_header: Option<String>,
) -> Result<AssistedForm, ApiError> {
    match m.get("contact_consent") {
        None | Some(Value::Null) | Some(Value::Bool(_)) => {}
        Some(_) => {
            return Err(ApiError::invalid(
                "contact_consent",
                "contact_consent is true or false",
            ))
        }
    }
    for name in ["channel", "observed_at"] {
        if !matches!(
            m.get(name),
            None | Some(Value::Null) | Some(Value::String(_))
        ) {
            return Err(ApiError::invalid(name, format!("{name} must be text")));
        }
    }
    form_of(object_params(m)?, query, idempotency_header)
}

/// One entry's answer: the report, its code and the receipt text.
fn entry_json(e: &Entry) -> Value {
    let s = &e.submitted;
    json!({
        "service_request_id": s.id.to_string(),
        "reference_code": s.reference_code,
        "token": s.token,
        "service_notice": s.service_notice,
        "receipt": e.receipt,
    })
}

fn error_json(e: &ApiError) -> Value {
    json!({
        "status": e.status(),
        "errors": crate::http::format::error_items(e),
    })
}

/// `POST /staff/v1/requests`: one form, or `{"reports": [...]}`.
pub async fn enter(
    p: Principal,
    req: HttpRequest,
    state: State,
    limits: web::Data<Limits>,
    payload: web::Payload,
) -> HttpResponse {
    if let Err(e) = uc::may_enter(&p) {
        return Format::Json.error(&e);
    }
    let idem = req
        .headers()
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty());
    let query = match Params::parse(req.query_string().as_bytes(), "query string") {
        Ok(q) => q,
        Err(e) => return Format::Json.error(&e),
    };
    if crate::http::format::has_json_body(&req) {
        let value: Result<Value, ApiError> = async {
            let bytes = read_body(&req, payload, MAX_BATCH_BODY).await?;
            serde_json::from_slice(&bytes)
                .map_err(|e| ApiError::invalid("body", format!("the JSON body is not valid: {e}")))
        }
        .await;
        let map = match value {
            Ok(Value::Object(map)) => map,
            Ok(_) => {
                return Format::Json.error(&ApiError::invalid(
                    "body",
                    "the JSON body must be an object",
                ))
            }
            Err(e) => return Format::Json.error(&e),
        };
        if let Some(reports) = map.get("reports") {
            let Value::Array(items) = reports else {
                return Format::Json
                    .error(&ApiError::invalid("reports", "reports is a list of forms"));
            };
            let forms = items
                .iter()
                .map(|item| match item {
                    Value::Object(m) => json_form(m, query.clone(), None),
                    _ => Err(ApiError::invalid("reports", "each form is an object")),
                })
                .collect();
            let result = uc::enter_batch(&state, &p, forms).await;
            return respond(result, |results| {
                let stored = results.iter().filter(|r| r.is_ok()).count();
                // Every form stored: 200; some refused: 207; none stored: 400. The body says which, form by
                // form, whatever the status.
                let status = match (stored, results.len() - stored) {
                    (_, 0) => 200,
                    (0, _) => 400,
                    _ => 207,
                };
                let list: Vec<Value> = results
                    .iter()
                    .enumerate()
                    .map(|(i, r)| {
                        let mut v = match r {
                            Ok(e) => {
                                let mut v = entry_json(e);
                                v["status"] = json!(201);
                                v
                            }
                            Err(e) => error_json(e),
                        };
                        v["index"] = json!(i);
                        v
                    })
                    .collect();
                HttpResponse::build(
                    actix_web::http::StatusCode::from_u16(status)
                        .unwrap_or(actix_web::http::StatusCode::OK),
                )
                .content_type("application/json; charset=utf-8")
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .body(
                    json!({
                        "stored": stored,
                        "refused": results.len() - stored,
                        "results": list,
                    })
                    .to_string(),
                )
            });
        }
        let result = async {
            let form = json_form(&map, query, idem)?;
            uc::enter(&state, &p, form, Vec::new(), Vec::new()).await
        }
        .await;
        return respond(result, |e| created(&entry_json(e)));
    }
    let result = async {
        let form = RequestForm::read_with(&req, payload, &limits, Files::PhotosAndScans).await?;
        let (scans, photos): (Vec<_>, Vec<_>) = form.uploads.into_iter().partition(|u| u.scan);
        let assisted = form_of(form.body, form.query, form.idempotency_header)?;
        let photos = photos
            .into_iter()
            .map(|u| PhotoUpload { file: u.file })
            .collect();
        let scans = scans
            .into_iter()
            .map(|u| PhotoUpload { file: u.file })
            .collect();
        uc::enter(&state, &p, assisted, photos, scans).await
    }
    .await;
    respond(result, |e| created(&entry_json(e)))
}

fn created(doc: &Value) -> HttpResponse {
    HttpResponse::Created()
        .content_type("application/json; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(doc.to_string())
}

/// `POST /staff/v1/requests/{id}/scans`: a scan as a multipart `scan` part, or as the body itself
/// (`Content-Type: image/jpeg`, `image/png`, `image/webp` or `application/pdf`).
pub async fn add_scan(
    p: Principal,
    req: HttpRequest,
    state: State,
    limits: web::Data<Limits>,
    payload: web::Payload,
) -> HttpResponse {
    let result = async {
        let id = id_of(&req)?;
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        let upload = if content_type.starts_with("multipart/form-data") {
            let form =
                RequestForm::read_with(&req, payload, &limits, Files::PhotosAndScans).await?;
            form.uploads
                .into_iter()
                .find(|u| u.scan)
                .map(|u| PhotoUpload { file: u.file })
                .ok_or_else(|| ApiError::invalid("scan", "send the scan as a part named scan"))?
        } else {
            let bytes = read_body(&req, payload, limits.max_photo_bytes).await?;
            let dir = limits.spool_dir.clone();
            let file = crate::telemetry::spawn_blocking(move || -> std::io::Result<_> {
                std::fs::create_dir_all(&dir)?;
                let mut f = tempfile::Builder::new()
                    .prefix(".scan-")
                    .tempfile_in(&dir)?;
                std::io::Write::write_all(&mut f, &bytes)?;
                Ok(f.into_temp_path())
            })
            .await
            .map_err(|e| ApiError::Internal(anyhow::anyhow!("spool task failed: {e}")))?
            .map_err(|e| ApiError::from_io(e, "spooling a scan"))?;
            PhotoUpload { file }
        };
        uc::add_scan(&state, &p, id, upload)
            .await
            .map(|(s, zone)| (id, s, zone))
    }
    .await;
    respond(result, |(id, s, zone)| {
        created(&serde_json::to_value(super::wire::Scan::of(*id, s, *zone)).unwrap_or_default())
    })
}

/// `GET /staff/v1/requests/{id}/scans/{scan_id}`: the file, never cached.
pub async fn scan(p: Principal, req: HttpRequest, state: State) -> HttpResponse {
    let result = async {
        let id = id_of(&req)?;
        let scan_id = req
            .match_info()
            .get("scan_id")
            .unwrap_or_default()
            .to_string();
        let (content_type, path) = uc::scan_file(&state, &p, id, &scan_id).await?;
        let bytes = tokio::fs::read(&path)
            .await
            .map_err(|_| ApiError::NotFound("scan not found".into()))?;
        Ok((content_type, bytes))
    }
    .await;
    match result {
        Ok((content_type, bytes)) => HttpResponse::Ok()
            .content_type(content_type)
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .insert_header(("X-Content-Type-Options", "nosniff"))
            .insert_header((header::CONTENT_DISPOSITION, "attachment"))
            .body(bytes),
        Err(e) => Format::Json.error(&e),
    }
}
