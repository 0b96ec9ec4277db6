//! POST bodies in the three encodings real apps use (urlencoded, multipart with photos, JSON), read within
//! explicit limits into one `RequestForm`.

use super::params::Params;
use crate::domain::{Contact, RawRequest, SubmittedAttributes};
use crate::error::ApiError;
use actix_web::http::header;
use actix_web::{web, HttpRequest};
use futures_util::StreamExt;

/// Largest urlencoded or JSON body: a 4,000-character description in a non-Latin script is up to 48 KB once
/// percent-encoded, and attributes and names come on top.
pub const MAX_FORM_BYTES: usize = 256 * 1024;

/// An uploaded file part, not yet checked.
pub struct Upload {
    pub bytes: Vec<u8>,
}

/// What a POST carried, whatever its encoding.
pub struct RequestForm {
    pub body: Params,
    pub query: Params,
    pub uploads: Vec<Upload>,
    pub bearer: Option<String>,
    pub idempotency_header: Option<String>,
}

pub struct Limits {
    pub max_photo_bytes: usize,
    pub max_photos: usize,
}

impl RequestForm {
    pub async fn read(
        req: &HttpRequest,
        payload: web::Payload,
        limits: &Limits,
    ) -> Result<Self, ApiError> {
        let query = Params::parse(req.query_string().as_bytes(), "query string")?;
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("application/x-www-form-urlencoded")
            .to_ascii_lowercase();
        let essence = content_type
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_string();
        let (body, uploads) = match essence.as_str() {
            "application/x-www-form-urlencoded" | "" => (Params::parse(&read_body(payload, MAX_FORM_BYTES).await?, "request body")?, Vec::new()),
            "application/json" => (json_params(&read_body(payload, MAX_FORM_BYTES).await?)?, Vec::new()),
            "multipart/form-data" => read_multipart(req, payload, limits).await?,
            other => {
                return Err(ApiError::UnsupportedMediaType(format!(
                    "Content-Type {other} is not accepted: use application/x-www-form-urlencoded, multipart/form-data or application/json"
                )))
            }
        };
        let header_value = |name: &str| {
            req.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_string)
        };
        let bearer = header_value(header::AUTHORIZATION.as_str()).and_then(|v| {
            let (scheme, token) = v.split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then(|| token.trim().to_string())
                .filter(|t| !t.is_empty())
        });
        Ok(Self {
            body,
            query,
            uploads,
            bearer,
            idempotency_header: header_value("idempotency-key"),
        })
    }

    /// The api_key by the precedence of §2.6: the first non-empty of body, query string and Bearer header;
    /// two different non-empty keys are refused.
    pub fn api_key(&self) -> Result<String, ApiError> {
        let candidates: Vec<&str> = self
            .body
            .all("api_key")
            .chain(self.query.all("api_key"))
            .chain(self.bearer.as_deref())
            .collect();
        let first = *candidates.first().ok_or(ApiError::Forbidden)?;
        if candidates.iter().any(|k| *k != first) {
            return Err(ApiError::Forbidden);
        }
        Ok(first.to_string())
    }

    /// The fields of the report, with `jurisdiction_id` from the body or else the query string.
    pub fn raw_request(&self) -> Result<RawRequest, ApiError> {
        let b = &self.body;
        let get = |name: &str| b.get(name).map(str::to_string);
        let mut attributes = SubmittedAttributes::default();
        for (name, value) in &b.0 {
            if let Some(code) = attribute_code(name) {
                attributes.push(code, value.clone());
            }
        }
        let idempotency_key = match (&self.idempotency_header, get("idempotency_key")) {
            (Some(h), Some(f)) if *h != f => {
                return Err(ApiError::invalid(
                    "idempotency_key",
                    "the Idempotency-Key header and the idempotency_key field differ",
                ))
            }
            (Some(h), _) => Some(h.clone()),
            (None, f) => f,
        };
        Ok(RawRequest {
            jurisdiction_id: get("jurisdiction_id")
                .or_else(|| self.query.get("jurisdiction_id").map(str::to_string)),
            service_code: get("service_code"),
            lat: get("lat"),
            long: get("long"),
            address_string: get("address_string"),
            address_id: get("address_id"),
            description: get("description"),
            contact: Contact {
                email: get("email").map(|e| e.trim().to_string()),
                phone: get("phone"),
                first_name: get("first_name"),
                last_name: get("last_name"),
                device_id: get("device_id"),
                account_id: get("account_id"),
            },
            media_urls: b
                .all("media_url")
                .chain(b.all("media_url[]"))
                .map(str::to_string)
                .collect(),
            attributes,
            idempotency_key,
        })
    }
}

/// `attribute[CODE]` and `attribute[CODE][]` → `CODE`.
fn attribute_code(name: &str) -> Option<&str> {
    let inner = name.strip_prefix("attribute[")?;
    inner
        .strip_suffix("][]")
        .or_else(|| inner.strip_suffix(']'))
}

pub(crate) async fn read_body(
    mut payload: web::Payload,
    limit: usize,
) -> Result<Vec<u8>, ApiError> {
    let mut body = Vec::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| {
            ApiError::invalid("body", format!("the request body could not be read: {e}"))
        })?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::TooLarge(format!(
                "the request body is larger than {limit} bytes"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A JSON object with the spec's field names. `attribute` may be an object of code → value or list of
/// values; unknown keys are ignored.
fn json_params(body: &[u8]) -> Result<Params, ApiError> {
    use serde_json::Value;
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::invalid("body", format!("the JSON body is not valid: {e}")))?;
    let Value::Object(map) = value else {
        return Err(ApiError::invalid("body", "the JSON body must be an object"));
    };
    let scalar = |field: &str, v: &Value| -> Result<Option<String>, ApiError> {
        match v {
            Value::Null => Ok(None),
            Value::String(s) => Ok(Some(s.clone())),
            Value::Number(n) => Ok(Some(n.to_string())),
            Value::Bool(b) => Ok(Some(b.to_string())),
            _ => Err(ApiError::invalid(
                field,
                format!("{field} must be a string or a number"),
            )),
        }
    };
    let mut pairs = Vec::new();
    for (key, v) in &map {
        match (key.as_str(), v) {
            ("attribute" | "attributes", Value::Object(attrs)) => {
                for (code, v) in attrs {
                    let field = format!("attribute[{code}]");
                    match v {
                        Value::Array(items) => {
                            for item in items {
                                if let Some(s) = scalar(&field, item)? {
                                    pairs.push((format!("attribute[{code}][]"), s));
                                }
                            }
                        }
                        v => {
                            if let Some(s) = scalar(&field, v)? {
                                pairs.push((field, s));
                            }
                        }
                    }
                }
            }
            ("media_url", Value::Array(items)) => {
                for item in items {
                    if let Some(s) = scalar("media_url", item)? {
                        pairs.push(("media_url".to_string(), s));
                    }
                }
            }
            (_, Value::Object(_) | Value::Array(_)) if is_known_field(key) => {
                return Err(ApiError::invalid(
                    key,
                    format!("{key} must be a string or a number"),
                ));
            }
            (_, Value::Object(_) | Value::Array(_)) => {}
            (_, v) => {
                if let Some(s) = scalar(key, v)? {
                    pairs.push((key.clone(), s));
                }
            }
        }
    }
    Ok(Params(pairs))
}

fn is_known_field(key: &str) -> bool {
    matches!(
        key,
        "api_key"
            | "jurisdiction_id"
            | "service_code"
            | "lat"
            | "long"
            | "address_string"
            | "address_id"
            | "email"
            | "device_id"
            | "account_id"
            | "first_name"
            | "last_name"
            | "phone"
            | "description"
            | "idempotency_key"
    ) || key.starts_with("attribute[")
}

/// Text parts become fields; file parts named `media` or `media[]` become uploads (photos are checked later,
/// by content). Each part is read within its own limit, so a huge part is refused before it is buffered.
async fn read_multipart(
    req: &HttpRequest,
    payload: web::Payload,
    limits: &Limits,
) -> Result<(Params, Vec<Upload>), ApiError> {
    let mut multipart = actix_multipart::Multipart::new(req.headers(), payload.into_inner());
    let mut pairs = Vec::new();
    let mut uploads = Vec::new();
    let mut text_bytes = 0usize;
    while let Some(field) = multipart.next().await {
        let mut field = field.map_err(|e| {
            ApiError::invalid("body", format!("the multipart body is not valid: {e}"))
        })?;
        let disposition = field.content_disposition().cloned();
        let name = disposition
            .as_ref()
            .and_then(|d| d.get_name())
            .unwrap_or("")
            .to_string();
        let is_file = disposition
            .as_ref()
            .and_then(|d| d.get_filename())
            .is_some()
            || name == "media"
            || name == "media[]";
        let limit = if is_file {
            limits.max_photo_bytes
        } else {
            MAX_FORM_BYTES.saturating_sub(text_bytes)
        };
        let mut bytes = Vec::new();
        while let Some(chunk) = field.next().await {
            let chunk = chunk.map_err(|e| {
                ApiError::invalid("body", format!("the multipart body could not be read: {e}"))
            })?;
            if bytes.len() + chunk.len() > limit {
                return Err(if is_file {
                    ApiError::TooLarge(format!(
                        "the photo in part '{name}' is larger than {} bytes",
                        limits.max_photo_bytes
                    ))
                } else {
                    ApiError::TooLarge(format!(
                        "the text fields are larger than {MAX_FORM_BYTES} bytes"
                    ))
                });
            }
            bytes.extend_from_slice(&chunk);
        }
        if is_file {
            if name != "media" && name != "media[]" {
                continue;
            }
            if bytes.is_empty() {
                continue;
            }
            if uploads.len() == limits.max_photos {
                return Err(ApiError::TooLarge(format!(
                    "at most {} photos are accepted with one report",
                    limits.max_photos
                )));
            }
            uploads.push(Upload { bytes });
        } else {
            text_bytes += bytes.len();
            let value = String::from_utf8(bytes)
                .map_err(|_| ApiError::invalid(&name, format!("{name} is not valid UTF-8")))?;
            pairs.push((name, value));
        }
    }
    Ok((Params(pairs), uploads))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attribute_names() {
        assert_eq!(attribute_code("attribute[DEPTH]"), Some("DEPTH"));
        assert_eq!(attribute_code("attribute[HAZARDS][]"), Some("HAZARDS"));
        assert_eq!(attribute_code("attribute[]"), Some(""));
        assert_eq!(attribute_code("attributes"), None);
    }

    #[test]
    fn json_attributes_become_form_pairs() {
        let p = json_params(br#"{"service_code":"FLOOD","lat":-6.2,"long":106.8,"attribute":{"DEPTH":45,"HAZARDS":["debris","sewage"]},"media_url":["https://a/1.jpg"],"extra":{"x":1}}"#).unwrap();
        assert_eq!(p.get("lat"), Some("-6.2"));
        assert_eq!(p.get("attribute[DEPTH]"), Some("45"));
        assert_eq!(
            p.all("attribute[HAZARDS][]").collect::<Vec<_>>(),
            ["debris", "sewage"]
        );
        assert_eq!(p.get("media_url"), Some("https://a/1.jpg"));
        assert!(json_params(br#"{"description":{"a":1}}"#).is_err());
        assert!(json_params(b"[1]").is_err());
    }
}
