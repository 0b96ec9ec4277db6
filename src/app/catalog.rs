//! Discovery, the service list and service definitions.

use super::{resolve_jurisdiction, AppState};
use crate::domain::{AttributeDef, Jurisdiction, Service};
use crate::error::ApiError;
use crate::store::catalog;
use chrono::{DateTime, Utc};

pub struct Discovery {
    pub jurisdiction: Jurisdiction,
    pub changeset: DateTime<Utc>,
    pub endpoint_url: String,
}

/// The discovery document of a jurisdiction. Clients usually ask without `jurisdiction_id` (the spec lists
/// no parameters), so without a known id it describes the first jurisdiction by id.
pub async fn discovery(
    state: &AppState,
    jurisdiction_id: Option<&str>,
) -> Result<Discovery, ApiError> {
    let all = state.store.read(catalog::jurisdictions).await?;
    // The spec gives discovery no parameters: a jurisdiction_id that names a configured jurisdiction selects
    // it, anything else is ignored.
    let wanted = jurisdiction_id.map(str::trim).filter(|s| !s.is_empty());
    let position = wanted
        .and_then(|w| all.iter().position(|j| j.id.eq_ignore_ascii_case(w)))
        .unwrap_or(0);
    let jurisdiction = all.into_iter().nth(position).ok_or_else(|| {
        ApiError::NotFound("no jurisdiction is configured on this server yet".into())
    })?;
    let id = jurisdiction.id.clone();
    let changeset = state
        .store
        .read(move |conn| catalog::changeset(conn, &id))
        .await?;
    Ok(Discovery {
        jurisdiction,
        changeset: changeset
            .map(|t| t.and_utc())
            .unwrap_or(DateTime::<Utc>::UNIX_EPOCH),
        endpoint_url: format!("{}/open311/v2", state.public_url),
    })
}

/// Active services, each with whether it has a definition (`metadata`).
pub async fn services(
    state: &AppState,
    jurisdiction_id: Option<&str>,
) -> Result<Vec<(Service, bool)>, ApiError> {
    let j = resolve_jurisdiction(state, jurisdiction_id).await?;
    Ok(state
        .store
        .read(move |conn| catalog::services(conn, &j.id))
        .await?)
}

/// A service's attribute definitions (D3: an empty list for a service without metadata).
pub async fn service_definition(
    state: &AppState,
    jurisdiction_id: Option<&str>,
    code: &str,
) -> Result<(Service, Vec<AttributeDef>), ApiError> {
    let j = resolve_jurisdiction(state, jurisdiction_id).await?;
    let code = code.to_string();
    let found = state
        .store
        .read(move |conn| {
            let Some(service) = catalog::service(conn, &j.id, &code)? else {
                return Ok(None);
            };
            let attributes = catalog::attributes(conn, &j.id, &code)?;
            Ok(Some((service, attributes)))
        })
        .await?;
    found.ok_or_else(|| ApiError::NotFound("service_code not found".into()))
}
