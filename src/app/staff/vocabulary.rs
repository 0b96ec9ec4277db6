//! The status vocabulary of a jurisdiction: its detailed statuses, their names, and which of them close a
//! report.

use super::Principal;
use crate::app::AppState;
use crate::domain::{fms, DEFAULT_STATUSES};
use crate::error::ApiError;
use crate::store::{catalog, AnyConnection, StoreError};

/// One detailed status and the Open311 status it maps to.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusInfo {
    pub code: String,
    pub name: String,
    pub closed: bool,
    /// What FixMyStreet's feed shows for it, and the FixMyStreet statuses that set it (`domain::fms`).
    pub fms: fms::Mapped,
}

/// A jurisdiction's vocabulary: its own, or the default.
pub fn vocabulary(
    conn: &mut AnyConnection,
    jurisdiction_id: &str,
) -> Result<Vec<StatusInfo>, StoreError> {
    let own = catalog::statuses(conn, jurisdiction_id)?;
    if own.is_empty() {
        return Ok(DEFAULT_STATUSES
            .iter()
            .map(|(code, name, closed)| StatusInfo {
                code: code.to_string(),
                name: name.to_string(),
                closed: *closed,
                fms: fms::Mapped {
                    code: code.to_string(),
                    closed: *closed,
                    feed: fms::default_feed(code, *closed).to_string(),
                    from_fms: Vec::new(),
                },
            })
            .collect());
    }
    Ok(own
        .into_iter()
        .map(|r| StatusInfo {
            fms: fms::Mapped {
                code: r.code.clone(),
                closed: r.closed,
                feed: r
                    .fms
                    .unwrap_or_else(|| fms::default_feed(&r.code, r.closed).to_string()),
                from_fms: r
                    .from_fms
                    .iter()
                    .flat_map(|f| f.split(','))
                    .filter(|f| !f.is_empty())
                    .map(str::to_string)
                    .collect(),
            },
            code: r.code,
            name: r.name,
            closed: r.closed,
        })
        .collect())
}

/// The vocabulary of the caller's jurisdiction (an administrator names one, or gets the first).
pub async fn statuses(
    state: &AppState,
    p: &Principal,
    jurisdiction_id: Option<String>,
) -> Result<Vec<StatusInfo>, ApiError> {
    let j = match (&p.jurisdiction_id, jurisdiction_id) {
        (Some(own), _) => Some(own.clone()),
        (None, Some(j)) => Some(j),
        (None, None) => None,
    };
    let j = crate::app::resolve_jurisdiction(state, j.as_deref()).await?;
    Ok(state
        .store
        .read(move |conn| vocabulary(conn, &j.id))
        .await?)
}
