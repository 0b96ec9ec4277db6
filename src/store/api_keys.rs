//! Application API keys: only a SHA-256 of each key is stored.

use super::schema::api_keys;
use super::{AnyConnection, StoreError};
use chrono::NaiveDateTime;
use diesel::prelude::*;

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = api_keys, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct ApiKeyRow {
    pub id: String,
    pub name: String,
    pub key_hash: String,
    pub kind: String,
    pub created_at: NaiveDateTime,
    pub revoked_at: Option<NaiveDateTime>,
    /// A back-office system's key: it may post status updates (`servicerequestupdates`), not only reports.
    pub may_update: bool,
    /// The jurisdiction whose reports a back-office key may update.
    pub jurisdiction_id: Option<String>,
    /// Its plaintext was written in an import file (the demo city's keys are in this repository): anyone may
    /// know it, so it works only on a server started with `--demo`.
    pub published: bool,
    /// Its own POST rate (`30/min`, `off`); `None`: the server's default for keys.
    pub rate_limit: Option<String>,
}

pub use crate::domain::ApiKeyKind;

impl ApiKeyRow {
    /// A new, active key: the one constructor of the staff API, the command line and import.
    pub fn new(
        name: &str,
        kind: ApiKeyKind,
        key_hash: String,
        jurisdiction_id: Option<String>,
        rate_limit: Option<String>,
        published: bool,
    ) -> Self {
        Self {
            id: crate::auth::random_id(16),
            name: name.to_string(),
            key_hash,
            kind: kind.as_str().to_string(),
            created_at: chrono::Utc::now().naive_utc(),
            revoked_at: None,
            may_update: kind.may_update(),
            jurisdiction_id,
            published,
            rate_limit,
        }
    }
}

pub fn insert(conn: &mut AnyConnection, row: &ApiKeyRow) -> Result<(), StoreError> {
    diesel::insert_into(api_keys::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

/// The active key with this hash.
pub fn find_active(
    conn: &mut AnyConnection,
    key_hash: &str,
) -> Result<Option<ApiKeyRow>, StoreError> {
    Ok(api_keys::table
        .filter(api_keys::key_hash.eq(key_hash))
        .filter(api_keys::revoked_at.is_null())
        .select(ApiKeyRow::as_select())
        .first(conn)
        .optional()?)
}

/// The active key with this id (the server's own keys, which no client can present).
pub fn active_by_id(conn: &mut AnyConnection, id: &str) -> Result<Option<ApiKeyRow>, StoreError> {
    Ok(api_keys::table
        .find(id)
        .filter(api_keys::revoked_at.is_null())
        .select(ApiKeyRow::as_select())
        .first(conn)
        .optional()?)
}

pub fn by_name(conn: &mut AnyConnection, name: &str) -> Result<Option<ApiKeyRow>, StoreError> {
    Ok(api_keys::table
        .filter(api_keys::name.eq(name))
        .select(ApiKeyRow::as_select())
        .first(conn)
        .optional()?)
}

pub fn list(conn: &mut AnyConnection) -> Result<Vec<ApiKeyRow>, StoreError> {
    Ok(api_keys::table
        .order(api_keys::created_at)
        .select(ApiKeyRow::as_select())
        .load(conn)?)
}

/// Revokes by id or name; returns how many keys changed. Moves the catalogue version with it: running
/// servers cache active keys until it moves (`app::KeyCache`); the caller's own process learns it from
/// `Store::catalog_changed_to` after the commit, with the version returned beside the count (`None` when
/// nothing was revoked).
pub fn revoke(
    conn: &mut AnyConnection,
    id_or_name: &str,
    at: NaiveDateTime,
) -> Result<(usize, Option<i64>), StoreError> {
    let ids = revoke_ids(conn, id_or_name, at)?;
    if ids.is_empty() {
        return Ok((0, None));
    }
    Ok((ids.len(), Some(super::catalog::bump_version(conn)?)))
}

/// `revoke`, answering the ids of the keys it revoked.
pub fn revoke_ids(
    conn: &mut AnyConnection,
    id_or_name: &str,
    at: NaiveDateTime,
) -> Result<Vec<String>, StoreError> {
    Ok(diesel::update(
        api_keys::table
            .filter(
                api_keys::id
                    .eq(id_or_name)
                    .or(api_keys::name.eq(id_or_name)),
            )
            .filter(api_keys::revoked_at.is_null()),
    )
    .set(api_keys::revoked_at.eq(Some(at)))
    .returning(api_keys::id)
    .get_results(conn)?)
}

/// Re-keys an existing key (import of a changed key). A revocation stays: a key revoked because it leaked
/// must not come back with the next import of files that still hold it.
pub fn update_key(
    conn: &mut AnyConnection,
    id: &str,
    key_hash: &str,
    kind: ApiKeyKind,
    jurisdiction_id: Option<&str>,
    published: bool,
    rate_limit: Option<&str>,
) -> Result<(), StoreError> {
    diesel::update(api_keys::table.find(id))
        .set((
            api_keys::key_hash.eq(key_hash),
            api_keys::kind.eq(kind.as_str()),
            api_keys::may_update.eq(kind.may_update()),
            api_keys::jurisdiction_id.eq(jurisdiction_id),
            api_keys::published.eq(published),
            api_keys::rate_limit.eq(rate_limit),
        ))
        .execute(conn)?;
    Ok(())
}
