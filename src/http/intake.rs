//! POST bodies in the three encodings real apps use (urlencoded, multipart with photos, JSON), read within
//! explicit limits into one `RequestForm`.

use super::params::Params;
use crate::domain::{Contact, RawRequest, SubmittedAttributes};
use crate::error::ApiError;
use actix_web::http::header;
use actix_web::{web, HttpRequest};
use futures_util::StreamExt;
use std::cell::RefCell;
use std::rc::Rc;

/// Largest urlencoded or JSON body: a 4,000-character description in a non-Latin script is up to 48 KB once
/// percent-encoded, and attributes and names come on top.
pub const MAX_FORM_BYTES: usize = 256 * 1024;

/// Most parts of one multipart body: the report's fields, its photos and what FixMyStreet and other apps add.
pub const MAX_PARTS: usize = 200;

/// An uploaded file part, already on disk (not yet checked): a POST holds only a chunk of it in memory.
pub struct Upload {
    pub file: tempfile::TempPath,
    /// A scan of a paper form (`scan` parts, staff intake only) rather than a photo of the problem.
    pub scan: bool,
}

/// What a POST carried, whatever its encoding.
pub struct RequestForm {
    pub body: Params,
    pub query: Params,
    pub uploads: Vec<Upload>,
    pub bearer: Option<String>,
    pub idempotency_header: Option<String>,
}

/// Which file parts a multipart body may carry besides photos (`media`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Files {
    Photos,
    /// Staff intake: also `scan` parts, scans of the paper form.
    PhotosAndScans,
}

pub struct Limits {
    pub max_photo_bytes: usize,
    pub max_photos: usize,
    /// The whole body, whatever its encoding: 413 as soon as it is passed, or at once from `Content-Length`.
    pub max_body_bytes: usize,
    /// The whole body must arrive within this time (408 past it).
    pub body_deadline: std::time::Duration,
    /// A body that sends nothing for this long is given up (408).
    pub body_stall: std::time::Duration,
    /// Where uploads are spooled while the body arrives.
    pub spool_dir: std::path::PathBuf,
}

impl Limits {
    /// The whole body may hold every photo at its largest and the text fields beside them.
    pub fn new(max_photo_bytes: usize, max_photos: usize, spool_dir: std::path::PathBuf) -> Self {
        Self {
            max_photo_bytes,
            max_photos,
            max_body_bytes: max_photo_bytes
                .saturating_mul(max_photos)
                .saturating_add(2 * MAX_FORM_BYTES),
            body_deadline: std::time::Duration::from_secs(120),
            body_stall: std::time::Duration::from_secs(15),
            spool_dir,
        }
    }
}

/// Reads a body's chunks within the deadlines and a total size cap.
pub(crate) struct BodyReader<S> {
    stream: S,
    read: usize,
    max: usize,
    deadline: tokio::time::Instant,
    stall: std::time::Duration,
}

impl<S, E> BodyReader<S>
where
    S: futures_util::Stream<Item = Result<bytes::Bytes, E>> + Unpin + 'static,
    E: std::fmt::Display,
{
    pub fn new(
        headers: &header::HeaderMap,
        stream: S,
        max: usize,
        limits: &Limits,
    ) -> Result<Self, ApiError> {
        // A declared length past the cap is refused before a byte of the body is read.
        let declared = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        if declared.is_some_and(|n| n > max as u64) {
            return Err(too_large(max));
        }
        Ok(Self {
            stream,
            read: 0,
            max,
            deadline: tokio::time::Instant::now() + limits.body_deadline,
            stall: limits.body_stall,
        })
    }

    pub async fn next(&mut self) -> Result<Option<bytes::Bytes>, ApiError> {
        let until = self.deadline.min(tokio::time::Instant::now() + self.stall);
        match tokio::time::timeout_at(until, self.stream.next()).await {
            Err(_) => Err(ApiError::Timeout(
                "the request body did not arrive in time".into(),
            )),
            Ok(None) => Ok(None),
            Ok(Some(Err(e))) => Err(ApiError::invalid(
                "body",
                format!("the request body could not be read: {e}"),
            )),
            Ok(Some(Ok(chunk))) => {
                self.read += chunk.len();
                if self.read > self.max {
                    return Err(too_large(self.max));
                }
                Ok(Some(chunk))
            }
        }
    }

    /// The chunks as the stream a parser takes. The parser sees only that the body failed; why (413, 408)
    /// waits in the returned cell for the caller.
    pub fn into_stream(
        self,
    ) -> (
        impl futures_util::Stream<Item = Result<bytes::Bytes, actix_web::error::PayloadError>>,
        Rc<RefCell<Option<ApiError>>>,
    ) {
        let failure = Rc::new(RefCell::new(None));
        let cell = failure.clone();
        let stream = futures_util::stream::unfold(Some(self), move |reader| {
            let cell = cell.clone();
            async move {
                let mut reader = reader?;
                match reader.next().await {
                    Ok(Some(chunk)) => Some((Ok(chunk), Some(reader))),
                    Ok(None) => None,
                    Err(e) => {
                        *cell.borrow_mut() = Some(e);
                        let gone = std::io::Error::other("the request body was given up");
                        Some((Err(actix_web::error::PayloadError::Io(gone)), None))
                    }
                }
            }
        });
        // The multipart parser may poll again after the end.
        (Box::pin(stream.fuse()), failure)
    }
}

fn too_large(max: usize) -> ApiError {
    ApiError::TooLarge(format!("the request body is larger than {max} bytes"))
}

/// The api_key when it comes outside the body (query string or `Authorization`), so that it can be checked
/// before the body is read. Two different keys there are refused at once.
pub fn key_outside_body(req: &HttpRequest) -> Result<Option<String>, ApiError> {
    let query = Params::parse(req.query_string().as_bytes(), "query string")?;
    let mut keys = query.all("api_key").map(str::to_string).collect::<Vec<_>>();
    keys.extend(bearer_of(req));
    match keys.first() {
        Some(first) if keys.iter().any(|k| k != first) => Err(ApiError::Forbidden),
        first => Ok(first.cloned()),
    }
}

/// The token of an `Authorization: Bearer …` header, when it has one.
pub(crate) fn bearer_of(req: &HttpRequest) -> Option<String> {
    let v = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_string())
        .filter(|t| !t.is_empty())
}

impl RequestForm {
    pub async fn read(
        req: &HttpRequest,
        payload: web::Payload,
        limits: &Limits,
    ) -> Result<Self, ApiError> {
        Self::read_with(req, payload, limits, Files::Photos).await
    }

    pub async fn read_with(
        req: &HttpRequest,
        payload: web::Payload,
        limits: &Limits,
        files: Files,
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
            "application/x-www-form-urlencoded" | "" => {
                let raw = read_body(req, payload, MAX_FORM_BYTES).await?;
                (Params::parse(&raw, "request body")?, Vec::new())
            }
            "application/json" => (json_params(&read_body(req, payload, MAX_FORM_BYTES).await?)?, Vec::new()),
            "multipart/form-data" => {
                read_multipart(req.headers(), payload.into_inner(), limits, files).await?
            }
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
        Ok(Self {
            body,
            query,
            uploads,
            bearer: bearer_of(req),
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
                attributes.push(code, value.clone())?;
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
            non_public: get("non_public"),
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

/// The whole body, up to `limit` bytes, within the deadlines of the server's `Limits`.
pub(crate) async fn read_body(
    req: &HttpRequest,
    payload: web::Payload,
    limit: usize,
) -> Result<Vec<u8>, ApiError> {
    static DEFAULT: std::sync::LazyLock<Limits> =
        std::sync::LazyLock::new(|| Limits::new(0, 0, std::env::temp_dir()));
    let limits = req
        .app_data::<web::Data<Limits>>()
        .map(|l| l.get_ref())
        .unwrap_or(&DEFAULT);
    let mut reader = BodyReader::new(req.headers(), payload, limit, limits)?;
    let mut body = Vec::new();
    while let Some(chunk) = reader.next().await? {
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
    object_params(&map)
}

/// The fields of one JSON object, as `json_params` reads them.
pub(crate) fn object_params(
    map: &serde_json::Map<String, serde_json::Value>,
) -> Result<Params, ApiError> {
    use serde_json::Value;
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
    for (key, v) in map {
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
        if pairs.len() > super::params::MAX_PAIRS {
            return Err(ApiError::invalid(
                "body",
                format!(
                    "the JSON body has more than {} fields and values",
                    super::params::MAX_PAIRS
                ),
            ));
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
            | "non_public"
    ) || key.starts_with("attribute[")
}

/// The name of a file part that carries a photo of the problem: `media` (Open311 clients), `media[]`, or
/// `photo1` … `photoN` (FixMyStreet's uploads).
fn is_photo_part(name: &str) -> bool {
    name == "media"
        || name == "media[]"
        || name.strip_prefix("photo").is_some_and(|n| {
            !n.is_empty()
                && n.len() <= 3
                && n.bytes().all(|b| b.is_ascii_digit())
                && !n.starts_with('0')
        })
}

/// Text parts become fields; file parts named `media`, `media[]` or `photoN` become uploads, spooled to disk
/// as they arrive (photos are checked later, by content). Names count toward the text budget and parts are
/// counted, so no shape of body can make one POST hold much memory. A file part under any other name is a
/// 400: dropping it silently would lose a photo without anyone knowing.
pub(crate) async fn read_multipart<S>(
    headers: &header::HeaderMap,
    payload: S,
    limits: &Limits,
    files: Files,
) -> Result<(Params, Vec<Upload>), ApiError>
where
    S: futures_util::Stream<Item = Result<bytes::Bytes, actix_web::error::PayloadError>>
        + Unpin
        + 'static,
{
    let reader = BodyReader::new(headers, payload, limits.max_body_bytes, limits)?;
    let (stream, failure) = reader.into_stream();
    let mut multipart = actix_multipart::Multipart::new(headers, stream);
    let multipart_error = |e: actix_multipart::MultipartError| {
        failure.borrow_mut().take().unwrap_or_else(|| {
            ApiError::invalid("body", format!("the multipart body is not valid: {e}"))
        })
    };
    let mut pairs = Vec::new();
    let mut uploads = Vec::new();
    let mut text_bytes = 0usize;
    let mut parts = 0usize;
    while let Some(field) = multipart.next().await {
        let mut field = field.map_err(multipart_error)?;
        parts += 1;
        if parts > MAX_PARTS {
            return Err(ApiError::TooLarge(format!(
                "a multipart body may have at most {MAX_PARTS} parts"
            )));
        }
        let disposition = field.content_disposition().cloned();
        let name = disposition
            .as_ref()
            .and_then(|d| d.get_name())
            .unwrap_or("")
            .to_string();
        text_bytes += name.len();
        if text_bytes > MAX_FORM_BYTES {
            return Err(text_too_large());
        }
        let is_scan = files == Files::PhotosAndScans && (name == "scan" || name == "scan[]");
        let is_media = is_photo_part(&name) || is_scan;
        let is_file = is_media
            || disposition
                .as_ref()
                .and_then(|d| d.get_filename())
                .is_some();
        if is_media {
            if let Some(mut upload) = spool(&mut field, &name, limits, &multipart_error).await? {
                upload.scan = is_scan;
                if uploads.len() == limits.max_photos {
                    return Err(ApiError::TooLarge(format!(
                        "at most {} photos are accepted with one report",
                        limits.max_photos
                    )));
                }
                uploads.push(upload);
            }
        } else if is_file {
            // A file under another name would be lost without a word: the client must hear of it.
            let shown: String = name.chars().take(40).collect();
            return Err(ApiError::invalid(
                &shown,
                format!(
                    "the file part '{shown}' is not read here: photos go in parts named media or photo1, photo2, …{}",
                    if files == Files::PhotosAndScans {
                        ", scans of a paper form in parts named scan"
                    } else {
                        ""
                    }
                ),
            ));
        } else {
            let mut bytes = Vec::new();
            while let Some(chunk) = field.next().await {
                let chunk = chunk.map_err(multipart_error)?;
                text_bytes += chunk.len();
                if text_bytes > MAX_FORM_BYTES {
                    return Err(text_too_large());
                }
                bytes.extend_from_slice(&chunk);
            }
            if bytes.is_empty() {
                continue;
            }
            let value = String::from_utf8(bytes)
                .map_err(|_| ApiError::invalid(&name, format!("{name} is not valid UTF-8")))?;
            pairs.push((name, value));
        }
    }
    Ok((Params(pairs), uploads))
}

fn text_too_large() -> ApiError {
    ApiError::TooLarge(format!(
        "the text fields are larger than {MAX_FORM_BYTES} bytes"
    ))
}

/// Writes one photo part to a temporary file in the spool directory; `None` for an empty part.
async fn spool(
    field: &mut actix_multipart::Field,
    name: &str,
    limits: &Limits,
    multipart_error: &impl Fn(actix_multipart::MultipartError) -> ApiError,
) -> Result<Option<Upload>, ApiError> {
    use tokio::io::AsyncWriteExt;
    let io = |e: std::io::Error| ApiError::from_io(e, "spooling a photo");
    let dir = limits.spool_dir.clone();
    let path = crate::telemetry::spawn_blocking(move || {
        std::fs::create_dir_all(&dir)?;
        tempfile::Builder::new()
            .prefix(".upload-")
            .tempfile_in(&dir)
            .map(tempfile::NamedTempFile::into_temp_path)
    })
    .await
    .map_err(|e| ApiError::Internal(anyhow::anyhow!("spool task failed: {e}")))?
    .map_err(io)?;
    let mut file = tokio::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .await
        .map_err(io)?;
    let mut len = 0usize;
    while let Some(chunk) = field.next().await {
        let chunk = chunk.map_err(multipart_error)?;
        len += chunk.len();
        if len > limits.max_photo_bytes {
            return Err(ApiError::TooLarge(format!(
                "the photo in part '{name}' is larger than {} bytes",
                limits.max_photo_bytes
            )));
        }
        file.write_all(&chunk).await.map_err(io)?;
    }
    file.flush().await.map_err(io)?;
    Ok((len > 0).then_some(Upload {
        file: path,
        scan: false,
    }))
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
