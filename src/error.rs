//! The one error type of the API. Every failure maps to an HTTP status and to Open311 `errors` entries whose
//! integer `code` equals that status (spec §3.8). Causes of server faults go to the log, never to the body.

use crate::domain::Problem;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: one entry per problem, each naming the parameter.
    #[error("invalid request")]
    Invalid(Vec<Problem>),
    /// 403: api_key missing, empty, unknown, revoked, or two different keys given.
    #[error("api_key is missing or not valid")]
    Forbidden,
    /// 401: a staff route without a valid access token (missing, expired, tampered, signed out, disabled).
    #[error("{0}")]
    Unauthorized(String),
    /// 403 for a signed-in staff member whose role does not allow the action.
    #[error("{0}")]
    NotAllowed(String),
    /// 429: too many requests or attempts; retry after the given number of seconds.
    #[error("too many requests; try again in {0} s")]
    TooManyRequests(u64),
    /// 404 with a description naming what was not found.
    #[error("{0}")]
    NotFound(String),
    /// 405 with the methods the resource allows.
    #[error("method not allowed")]
    MethodNotAllowed(Vec<&'static str>),
    /// 408: the request body did not arrive within its deadline.
    #[error("{0}")]
    Timeout(String),
    /// 413: a body or a photo past a documented limit.
    #[error("{0}")]
    TooLarge(String),
    /// 415: a body in an encoding we do not read.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 503: the database cannot be reached or is saturated; the client may retry.
    #[error("database unavailable")]
    Unavailable(#[source] StoreError),
    /// 500: a bug. The cause is logged, never sent.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl ApiError {
    pub fn invalid(field: &str, description: impl Into<String>) -> Self {
        ApiError::Invalid(vec![Problem::new(field, description)])
    }

    /// No such report, or none the caller may see (the same answer, so that nobody learns which exist). The
    /// id is echoed cut short: it may be anything a client sent.
    pub fn no_request(id: impl std::fmt::Display) -> Self {
        let shown: String = id.to_string().chars().take(50).collect();
        ApiError::NotFound(format!("service_request_id '{shown}' not found"))
    }

    pub fn status(&self) -> u16 {
        match self {
            ApiError::Invalid(_) => 400,
            ApiError::Forbidden | ApiError::NotAllowed(_) => 403,
            ApiError::Unauthorized(_) => 401,
            ApiError::TooManyRequests(_) => 429,
            ApiError::NotFound(_) => 404,
            ApiError::MethodNotAllowed(_) => 405,
            ApiError::Timeout(_) => 408,
            ApiError::TooLarge(_) => 413,
            ApiError::UnsupportedMediaType(_) => 415,
            ApiError::Unavailable(_) => 503,
            ApiError::Internal(_) => 500,
        }
    }

    /// The `description` of each `errors` entry.
    pub fn descriptions(&self) -> Vec<String> {
        match self {
            ApiError::Invalid(problems) if !problems.is_empty() => {
                problems.iter().map(|p| p.description.clone()).collect()
            }
            ApiError::Invalid(_) => vec!["invalid request".into()],
            ApiError::MethodNotAllowed(allowed) => vec![format!(
                "method not allowed; this resource allows {}",
                allowed.join(", ")
            )],
            ApiError::Unavailable(_) => {
                vec!["the service is temporarily unavailable; please retry shortly".into()]
            }
            ApiError::Internal(_) => vec!["internal server error".into()],
            other => vec![other.to_string()],
        }
    }
}

impl ApiError {
    /// A file write that failed: a full disk (or quota) is the server's trouble for now, and the client may
    /// retry (503); anything else is a fault (500).
    pub fn from_io(e: std::io::Error, what: &str) -> Self {
        const ENOSPC: i32 = 28;
        const EDQUOT: i32 = 122;
        if e.kind() == std::io::ErrorKind::StorageFull
            || matches!(e.raw_os_error(), Some(ENOSPC | EDQUOT))
        {
            tracing::error!(error = %e, "{what}: the disk is full");
            ApiError::Unavailable(StoreError::Unavailable(format!("{what}: the disk is full")))
        } else {
            ApiError::Internal(anyhow::Error::new(e).context(what.to_string()))
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        if e.is_transient() {
            ApiError::Unavailable(e)
        } else {
            ApiError::Internal(anyhow::Error::new(e))
        }
    }
}

impl From<Vec<Problem>> for ApiError {
    fn from(p: Vec<Problem>) -> Self {
        ApiError::Invalid(p)
    }
}

impl From<Problem> for ApiError {
    fn from(p: Problem) -> Self {
        ApiError::Invalid(vec![p])
    }
}
