//! Use cases, one function per operation. The only layer that decides and the only place where a write
//! transaction begins. Handlers call these; these call `store/`.

pub mod audit;
mod catalog;
pub mod identity;
pub mod privacy;
mod public;
mod query;
mod routing;
pub mod staff;
pub mod status;
mod submit;
pub mod updates;

pub use catalog::{
    catalog_changed, discovery, jurisdiction as jurisdiction_catalog,
    jurisdiction_in as jurisdiction_catalog_in, service_definition, services, watch_catalog,
    CatalogCache, Discovery, JurisdictionCatalog,
};
pub use public::{PublicAttribute, PublicRequest};
pub use query::{
    export, get_request, list_requests, media_file, resolve_token, sync_requests, Cursor, Export,
    ListQuery, Page, SyncItem, SyncPage, TokenLookup, LARGE_PAGES_AT_ONCE, SYNC_SETTLE_SECS,
};
pub use routing::{open_decisions, reroute, RoutingCache};
pub use submit::{
    authenticate, submit, submit_request, web_key, with_places, AppKey, Entered, KeyCache,
    PhotoUpload, Source, Submitted, STAFF_INTAKE_KEY, WEB_PAGE_KEY,
};

use crate::domain::Jurisdiction;
use crate::error::ApiError;
use crate::store::{Store, StoreError};
use std::path::PathBuf;

/// Now, to the second (stored times have no fractions, so that inclusive filters behave).
pub(crate) fn now() -> chrono::NaiveDateTime {
    use chrono::DurationRound;
    let t = chrono::Utc::now();
    t.duration_trunc(chrono::TimeDelta::seconds(1))
        .unwrap_or(t)
        .naive_utc()
}

/// Whether the database answers (the health check of load balancers).
pub async fn health(state: &AppState) -> Result<(), StoreError> {
    state.store.read(crate::store::ping).await
}

/// Password hashes at once: the cores, so that hashing never waits behind itself for long.
pub fn hashing_permits() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

/// What every use case may need, built once at start.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    /// Base URL clients reach us at, without a trailing slash.
    pub public_url: String,
    pub data_dir: PathBuf,
    /// Key for hashing device ids.
    pub secret: Vec<u8>,
    pub routing: RoutingCache,
    /// Domain of the Message-IDs of department e-mail (that of the From address).
    pub mail_domain: String,
    /// Keys signing staff access tokens, derived from the server secret.
    pub tokens: crate::auth::staff::TokenKeys,
    /// Failed staff sign-ins per account and per client address.
    pub throttle: staff::Throttle,
    /// Jurisdictions, services and definitions, read once per import.
    pub catalog: CatalogCache,
    /// Active API keys, read once per configuration change.
    pub keys: KeyCache,
    /// Permits for making large public pages (`query::LARGE_PAGES_AT_ONCE`).
    pub large_pages: std::sync::Arc<tokio::sync::Semaphore>,
    /// Published API keys (`ApiKeyRow::published`) are accepted (`--demo`).
    pub demo: bool,
    /// Password hashes computed at once (each takes 19 MiB and a core for a moment): about the core count,
    /// so that a storm of sign-ins queues briefly or is told to retry, and memory stays flat.
    pub hashing: std::sync::Arc<tokio::sync::Semaphore>,
    /// How long a staff session may last from its sign-in, however often it is refreshed.
    pub session_lifetime: chrono::TimeDelta,
}

impl AppState {
    /// Moves with every write transaction of this process: what the answer cache of the read path is
    /// keyed by.
    pub fn data_epoch(&self) -> u64 {
        self.store.data_epoch()
    }

    pub fn media_url(&self, file_name: &str) -> String {
        format!("{}/open311/v2/media/{}", self.public_url, file_name)
    }
}

/// The jurisdiction a request is about (spec §2.5, D17), from the cached catalogue.
pub async fn resolve_jurisdiction(
    state: &AppState,
    requested: Option<&str>,
) -> Result<Jurisdiction, ApiError> {
    Ok(catalog::jurisdiction(state, requested)
        .await?
        .jurisdiction
        .clone())
}

/// With one jurisdiction configured, an empty or absent id means it and another non-empty id is 404; with
/// several, the id is required.
pub(crate) fn pick_jurisdiction<'a, T>(
    all: &'a [T],
    id_of: impl Fn(&T) -> &str,
    requested: Option<&str>,
) -> Result<&'a T, ApiError> {
    let requested = requested.map(str::trim).filter(|s| !s.is_empty());
    match (requested, all) {
        (_, []) => Err(ApiError::NotFound(
            "no jurisdiction is configured on this server yet (run civic311 import)".into(),
        )),
        (None, [only]) => Ok(only),
        (None, _) => Err(ApiError::invalid(
            "jurisdiction_id",
            "jurisdiction_id was not provided",
        )),
        (Some(id), _) => all
            .iter()
            .find(|j| id_of(j).eq_ignore_ascii_case(id))
            .ok_or_else(|| {
                ApiError::NotFound(format!(
                    "jurisdiction_id '{}' not found",
                    id.chars().take(100).collect::<String>()
                ))
            }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn j(id: &str) -> Jurisdiction {
        Jurisdiction {
            id: id.into(),
            name: id.into(),
            contact: String::new(),
            key_service: String::new(),
            zone: crate::domain::Zone::Fixed(0),
            endpoint_type: "test".into(),
            near_meters: 0.0,
            data_license: crate::domain::DEFAULT_DATA_LICENSE.into(),
            language: "en".into(),
            citizen_updates: "off".into(),
        }
    }

    fn pick<'a>(
        all: &'a [Jurisdiction],
        requested: Option<&str>,
    ) -> Result<&'a Jurisdiction, ApiError> {
        pick_jurisdiction(all, |j| &j.id, requested)
    }

    #[test]
    fn one_jurisdiction_is_optional_several_are_required() {
        assert_eq!(pick(&[j("a.org")], None).unwrap().id, "a.org");
        assert_eq!(pick(&[j("a.org")], Some(" ")).unwrap().id, "a.org");
        assert_eq!(
            pick(&[j("a.org")], Some("b.org")).unwrap_err().status(),
            404
        );
        assert_eq!(
            pick(&[j("a.org"), j("b.org")], None).unwrap_err().status(),
            400
        );
        assert_eq!(
            pick(&[j("a.org"), j("b.org")], Some("B.org")).unwrap().id,
            "b.org"
        );
        assert_eq!(
            pick(&[j("a.org"), j("b.org")], Some("c.org"))
                .unwrap_err()
                .status(),
            404
        );
    }
}
