//! API keys: administrators list, create and revoke them over the API, operators at the command line, and
//! imports give them in files. Every key is created by `store_key`, which also audits it.

use super::views::KeyInfo;
use super::{now, Admin};
use crate::app::audit::{record, Actor};
use crate::app::AppState;
use crate::auth;
use crate::domain::ApiKeyKind;
use crate::error::ApiError;
use crate::store::api_keys::{self as ak, ApiKeyRow};
use crate::store::{catalog, AnyConnection, StoreError};

/// A key to create with a fresh secret.
#[derive(Debug, Clone)]
pub struct KeyRequest {
    pub name: String,
    pub kind: ApiKeyKind,
    /// A back-office key's jurisdiction; with one jurisdiction configured it may be left out.
    pub jurisdiction_id: Option<String>,
    /// Its own POST rate (`30/min`, `off`); none: the server's default for keys.
    pub rate_limit: Option<String>,
}

/// Inserts a key and audits it in the caller's transaction. A key of the same name is a unique violation
/// (after which a PostgreSQL transaction is unusable: the caller returns).
pub(crate) fn store_key(
    conn: &mut AnyConnection,
    by: Actor<'_>,
    row: &ApiKeyRow,
) -> Result<(), StoreError> {
    ak::insert(conn, row)?;
    record(
        conn,
        by,
        "create api key",
        Some(format!("api key {}", row.id)),
        Some(format!("{} ({})", row.name, row.kind)),
    )
}

/// Creates a key in the caller's transaction: the API and the command line. Answers the key's view and the
/// key itself, which is shown this once (only its hash is kept).
pub fn create_key(
    conn: &mut AnyConnection,
    by: Actor<'_>,
    req: &KeyRequest,
) -> Result<(KeyInfo, String), ApiError> {
    crate::domain::check_text("name", &req.name, 200, false)?;
    if req.name.trim().is_empty() {
        return Err(ApiError::invalid("name", "name must not be empty"));
    }
    let rate_limit = req
        .rate_limit
        .as_deref()
        .map(|r| {
            r.parse::<crate::limits::RateSetting>()
                .map(|r| r.to_string())
                .map_err(|e| ApiError::invalid("rate_limit", e))
        })
        .transpose()?;
    // A back-office key may update the reports of one jurisdiction only.
    let jurisdiction = match req.kind {
        ApiKeyKind::Backoffice => {
            let all = catalog::jurisdictions(conn)?;
            let picked =
                crate::app::pick_jurisdiction(&all, |j| &j.id, req.jurisdiction_id.as_deref())?;
            Some(picked.id.clone())
        }
        ApiKeyKind::Production | ApiKeyKind::Test => None,
    };
    let key = auth::generate_api_key();
    let row = ApiKeyRow::new(
        &req.name,
        req.kind,
        auth::hash_api_key(&key),
        jurisdiction,
        rate_limit,
        false,
    );
    match store_key(conn, by, &row) {
        Ok(()) => {}
        Err(e) if e.is_unique_violation() => {
            return Err(ApiError::invalid(
                "name",
                format!("an API key named '{}' exists already", req.name),
            ))
        }
        Err(e) => return Err(e.into()),
    }
    Ok((KeyInfo::try_from(&row)?, key))
}

pub async fn api_keys(state: &AppState, _admin: &Admin) -> Result<Vec<KeyInfo>, ApiError> {
    let rows = state.store.read(ak::list).await?;
    rows.iter().map(KeyInfo::try_from).collect()
}

pub async fn create_api_key(
    state: &AppState,
    admin: &Admin,
    req: KeyRequest,
) -> Result<(KeyInfo, String), ApiError> {
    let admin = admin.clone();
    state
        .store
        .write(move |conn| create_key(conn, Actor::Staff(&admin), &req))
        .await
}

/// Revokes a key by id or name, in the caller's transaction, and audits it. Answers how many keys changed and
/// the catalogue epoch it moved to.
pub fn revoke_key(
    conn: &mut AnyConnection,
    by: Actor<'_>,
    id_or_name: &str,
) -> Result<(usize, Option<i64>), StoreError> {
    let ids = ak::revoke_ids(conn, id_or_name, now())?;
    if ids.is_empty() {
        return Ok((0, None));
    }
    let version = crate::store::catalog::bump_version(conn)?;
    for id in &ids {
        // By id, as its creation was: `?target=api key <id>` finds the key's whole life.
        record(
            conn,
            by,
            "revoke api key",
            Some(format!("api key {id}")),
            None,
        )?;
    }
    Ok((ids.len(), Some(version)))
}

pub async fn revoke_api_key(state: &AppState, admin: &Admin, id: &str) -> Result<(), ApiError> {
    let (admin, id) = (admin.clone(), id.to_string());
    let (_, version) = state
        .store
        .write(move |conn| revoke_key(conn, Actor::Staff(&admin), &id))
        .await?;
    let Some(version) = version else {
        return Err(ApiError::NotFound("no active API key with that id".into()));
    };
    // The key stops working here at once (the key cache is keyed by this epoch).
    state.store.catalog_changed_to(version);
    Ok(())
}
