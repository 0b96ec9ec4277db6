//! The response format (the `.json` / `.xml` suffix) and the one place where a result becomes a response.

use super::render::{self, Document, Node};
use crate::error::ApiError;
use actix_web::body::{BodySize, MessageBody};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use std::pin::Pin;
use std::task::{Context, Poll};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Xml,
}

impl Format {
    /// The format named by the route's `{format}` segment, case-insensitively (D2: anything else is 404).
    pub fn of(req: &HttpRequest) -> Result<Format, ApiError> {
        let raw = req.match_info().get("format").unwrap_or("");
        Self::parse(raw).ok_or_else(|| {
            ApiError::NotFound(format!(
                "unknown format '{raw}': this server speaks .xml and .json"
            ))
        })
    }

    pub fn parse(s: &str) -> Option<Format> {
        if s.eq_ignore_ascii_case("json") {
            Some(Format::Json)
        } else if s.eq_ignore_ascii_case("xml") {
            Some(Format::Xml)
        } else {
            None
        }
    }

    /// For responses made before a route matched: JSON when the path ends in `.json` (or is an open-data
    /// format, whose errors are JSON), XML otherwise (§3.8).
    pub fn guess(path: &str) -> Format {
        if path.starts_with("/staff/") {
            return Format::Json;
        }
        let last = path.trim_end_matches('/').rsplit('/').next().unwrap_or("");
        match last.rsplit_once('.') {
            Some((_, ext))
                if ["json", "geojson", "csv"]
                    .iter()
                    .any(|j| ext.eq_ignore_ascii_case(j)) =>
            {
                Format::Json
            }
            _ => Format::Xml,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Json => "application/json; charset=utf-8",
            Format::Xml => "text/xml; charset=utf-8",
        }
    }

    pub fn body<D: Document + ?Sized>(self, root: &str, doc: &D) -> Vec<u8> {
        match self {
            Format::Json => render::json(doc),
            Format::Xml => render::xml(doc, root),
        }
    }

    pub fn ok<D: Document + ?Sized>(self, root: &str, doc: &D) -> HttpResponse {
        Answer::new(
            self.content_type(),
            self.body(root, doc).into(),
            doc.last_modified(),
        )
        .respond()
    }

    /// The Open311 `errors` document for an error, with its status and headers.
    pub fn error(self, e: &ApiError) -> HttpResponse {
        let status = e.status();
        if status >= 500 {
            tracing::error!(status, error = %ErrorChain(e), "request failed");
        }
        let node = Node::List(
            "error",
            e.descriptions()
                .into_iter()
                .map(|d| {
                    Node::Object(vec![
                        ("code", Node::Integer(i64::from(status))),
                        ("description", Node::Text(d)),
                    ])
                })
                .collect(),
        );
        let mut resp = HttpResponse::build(
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        );
        resp.content_type(self.content_type());
        match e {
            ApiError::MethodNotAllowed(allowed) => {
                resp.insert_header((header::ALLOW, allowed.join(", ")));
            }
            ApiError::Unavailable(_) => {
                resp.insert_header((header::RETRY_AFTER, "5"));
            }
            ApiError::TooManyRequests(secs) => {
                resp.insert_header((header::RETRY_AFTER, secs.to_string()));
            }
            ApiError::Unauthorized(_) => {
                resp.insert_header((header::WWW_AUTHENTICATE, "Bearer realm=\"civic311-staff\""));
            }
            // The rest of the body was not read: the connection cannot carry another request.
            ApiError::Timeout(_) | ApiError::TooLarge(_) => {
                resp.force_close();
            }
            _ => {}
        }
        resp.body(self.body("errors", &node))
    }

    /// Renders a handler's result: the document on success, the errors document otherwise.
    pub fn reply<D: Document>(self, root: &str, result: Result<D, ApiError>) -> HttpResponse {
        match result {
            Ok(doc) => self.ok(root, &doc),
            Err(e) => self.error(&e),
        }
    }
}

/// Bodies larger than this go to actix in slices of this size.
const SLICE: usize = 64 * 1024;

/// A public 200 answer, ready to be sent again: its bytes with the validators a client revalidates it by
/// (`super::conditional` turns a match into a 304). The validators are kept as header values, made once:
/// a cached answer is sent again without formatting a date or hashing its body.
#[derive(Clone)]
pub struct Answer {
    pub content_type: &'static str,
    pub body: Bytes,
    /// A strong validator made from the bytes themselves, so that two processes (or a restarted one) give
    /// the same answer the same tag, and any change of a byte changes it.
    pub etag: HeaderValue,
    pub last_modified: Option<HeaderValue>,
}

impl Answer {
    pub fn new(
        content_type: &'static str,
        body: Bytes,
        last_modified: Option<DateTime<Utc>>,
    ) -> Self {
        Answer {
            content_type,
            etag: etag_of(&body),
            body,
            last_modified: last_modified.map(http_date),
        }
    }

    /// The 200 response. A large body goes to actix in slices of the same buffer: handed over whole, it is
    /// copied into the connection's write buffer, and a crowd of clients reading pages of a thousand reports
    /// would each hold a second copy of theirs until it is sent.
    pub fn respond(&self) -> HttpResponse {
        let mut r = HttpResponse::Ok();
        r.content_type(self.content_type);
        validators(&mut r, self.etag.clone(), self.last_modified.clone());
        let body = self.body.clone();
        if body.len() <= SLICE {
            r.body(body)
        } else {
            r.body(Sliced {
                size: body.len() as u64,
                rest: body,
            })
        }
    }
}

/// `ETag`, `Last-Modified` (when the answer has a time of its own) and `Cache-Control: no-cache`: without
/// it a browser may reuse an answer that has a `Last-Modified` for a while without asking (RFC 9111
/// §4.2.2), and a citizen would not see the status of their report change.
pub fn validators(
    r: &mut actix_web::HttpResponseBuilder,
    etag: HeaderValue,
    last_modified: Option<HeaderValue>,
) {
    r.insert_header((header::ETAG, etag));
    if let Some(t) = last_modified {
        r.insert_header((header::LAST_MODIFIED, t));
    }
    r.insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-cache")));
}

/// A strong entity tag of a body: a 64-bit SipHash with fixed keys and the length. It is compared only
/// with a tag the same URL gave before, so a collision would need two versions of one answer with the same
/// length and hash; a cryptographic digest would cost a large page several times as much.
/// Whether a request's body is JSON by its `Content-Type`.
pub fn has_json_body(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim()
                .to_ascii_lowercase()
                .starts_with("application/json")
        })
}

/// An error's items as JSON documents carry them inside a larger answer (a batch's results, a status
/// answer): `[{"code": 400, "description": "…"}]`, the shape of the Open311 errors document.
pub fn error_items(e: &ApiError) -> serde_json::Value {
    let status = e.status();
    e.descriptions()
        .into_iter()
        .map(|d| serde_json::json!({"code": status, "description": d}))
        .collect()
}

pub fn etag_of(body: &[u8]) -> HeaderValue {
    use std::hash::Hasher;
    // `new` has fixed keys: every process of one build gives a body the same tag.
    let mut h = std::hash::DefaultHasher::new();
    h.write(body);
    let tag = format!("\"{:016x}-{:x}\"", h.finish(), body.len());
    // Hex digits and quotes only.
    HeaderValue::from_str(&tag).unwrap_or_else(|_| HeaderValue::from_static("\"\""))
}

/// An IMF-fixdate (RFC 9110 §5.6.7), written by actix's own date formatter (chrono's `format` parses its
/// pattern on every call).
pub fn http_date(t: DateTime<Utc>) -> HeaderValue {
    let date = header::HttpDate::from(std::time::SystemTime::from(t));
    header::TryIntoHeaderValue::try_into_value(date)
        .unwrap_or_else(|_| HeaderValue::from_static("Thu, 01 Jan 1970 00:00:00 GMT"))
}

struct Sliced {
    size: u64,
    rest: Bytes,
}

impl MessageBody for Sliced {
    type Error = std::convert::Infallible;

    fn size(&self) -> BodySize {
        BodySize::Sized(self.size)
    }

    fn poll_next(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        if self.rest.is_empty() {
            return Poll::Ready(None);
        }
        let n = self.rest.len().min(SLICE);
        Poll::Ready(Some(Ok(self.rest.split_to(n))))
    }
}

/// Prints an error with its sources, for the log.
struct ErrorChain<'a>(&'a dyn std::error::Error);

impl std::fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(s) = source {
            write!(f, ": {s}")?;
            source = s.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guesses_from_the_last_segment() {
        assert_eq!(Format::guess("/open311/v2/requests.JSON"), Format::Json);
        assert_eq!(Format::guess("/open311/v2/requests.json/"), Format::Json);
        assert_eq!(Format::guess("/open311/v2/requests.yaml"), Format::Xml);
        assert_eq!(Format::guess("/open311/v2/requests"), Format::Xml);
        assert_eq!(Format::guess("/open311/v2.json/requests"), Format::Xml);
    }
}
