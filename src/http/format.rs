//! The response format (the `.json` / `.xml` suffix) and the one place where a result becomes a response.

use super::render::{self, Document, Node};
use crate::error::ApiError;
use actix_web::body::{BodySize, MessageBody};
use actix_web::http::{header, StatusCode};
use actix_web::{HttpRequest, HttpResponse};
use bytes::Bytes;
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
        ok_bytes(self.content_type(), self.body(root, doc).into())
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

/// A 200 answer of `body`. A large body goes to actix in slices of the same buffer: handed over whole, it is
/// copied into the connection's write buffer, and a crowd of clients reading pages of a thousand reports
/// would each hold a second copy of theirs until it is sent.
pub fn ok_bytes(content_type: &'static str, body: Bytes) -> HttpResponse {
    let mut r = HttpResponse::Ok();
    r.content_type(content_type);
    if body.len() <= SLICE {
        r.body(body)
    } else {
        r.body(Sliced {
            size: body.len() as u64,
            rest: body,
        })
    }
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
