//! POST requests: authenticate the app, validate against the service definition, store photos durably, then
//! commit the report with its answers, photo references and idempotency key in one transaction.

use super::routing::RouteInput;
use super::AppState;
use crate::auth;
use crate::domain::{self, NewRequest, ServiceType};
use crate::error::ApiError;
use crate::media;
use crate::outbox;
use crate::store::requests::{self as rq, AttributeValueRow, MediaRow, NewRequestRow, RequestRow};
use crate::store::{api_keys, new_report, StoreError};
use chrono::{DurationRound, TimeDelta, Utc};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// A photo file as uploaded, spooled to disk and not yet checked; removed when dropped.
pub struct PhotoUpload {
    pub file: tempfile::TempPath,
}

/// What the POST answer reports.
#[derive(Debug, Clone)]
pub struct Submitted {
    pub id: i64,
    /// The short code a reporter quotes (`domain::refcode`).
    pub reference_code: String,
    pub token: Option<String>,
    pub service_type: ServiceType,
    pub service_notice: Option<String>,
    /// The answer of an earlier attempt with the same idempotency key: nothing new was stored.
    pub replayed: bool,
    /// Never public (a private service, or the client asked): no public answer, not even by code, shows it.
    pub private: bool,
}

/// Active API keys by hash, valid while the store's catalogue epoch stands. Every change that can take a key
/// away (an import, a revocation) moves the catalogue version: in this process at once, in another (`civic311
/// apikey revoke`) when the server's catalogue watcher sees it, within a second. Only keys found active are
/// kept, so that a stream of wrong keys cannot grow it.
#[derive(Clone, Default)]
pub struct KeyCache(Arc<Mutex<CachedKeys>>);

#[derive(Default)]
struct CachedKeys {
    epoch: u64,
    by_hash: HashMap<String, api_keys::ApiKeyRow>,
}

/// More keys than any city issues; past it the cache starts again rather than grow.
const MAX_CACHED_KEYS: usize = 10_000;

/// An API key that `authenticate` accepted: what a client posting reports or updates is.
#[derive(Debug, Clone)]
pub struct AppKey {
    pub(crate) row: api_keys::ApiKeyRow,
}

impl AppKey {
    pub fn id(&self) -> &str {
        &self.row.id
    }

    /// The key's own POST rate (`30/min`, `off`), when it has one.
    pub fn rate_limit(&self) -> Option<&str> {
        self.row.rate_limit.as_deref()
    }
}

/// Checks the API key: missing, unknown and revoked keys are all 403.
pub async fn authenticate(state: &AppState, api_key: &str) -> Result<AppKey, ApiError> {
    let hash = auth::hash_api_key(api_key);
    // Anyone can read a published key (the demo city's are in this repository).
    let usable = |row: api_keys::ApiKeyRow| {
        if row.published && !state.demo {
            tracing::debug!(key = %row.name, "a published key was refused: it works only with --demo");
            return Err(ApiError::Forbidden);
        }
        Ok(AppKey { row })
    };
    // Taken before reading, so that a revocation landing during the read is not cached past it.
    let epoch = state.store.catalog_epoch();
    if let Ok(cached) = state.keys.0.lock() {
        if cached.epoch == epoch {
            if let Some(row) = cached.by_hash.get(&hash) {
                return usable(row.clone());
            }
        }
    }
    let key = hash.clone();
    let row = state
        .store
        .read(move |conn| api_keys::find_active(conn, &key))
        .await?
        .ok_or(ApiError::Forbidden)?;
    if let Ok(mut cached) = state.keys.0.lock() {
        if cached.epoch != epoch || cached.by_hash.len() >= MAX_CACHED_KEYS {
            cached.by_hash.clear();
            cached.epoch = epoch;
        }
        cached.by_hash.insert(hash, row.clone());
    }
    usable(row)
}

/// Where a report comes from: the key it is stored under, the channel public answers show, and, for a
/// report typed in by staff, who did and when the citizen saw the problem.
#[derive(Debug, Clone)]
pub struct Source {
    key_id: String,
    channel: String,
    entered: Option<Entered>,
}

/// A report entered on someone's behalf (`POST /staff/v1/requests`).
#[derive(Debug, Clone)]
pub struct Entered {
    pub by: super::identity::Principal,
    /// When the citizen observed or wrote it (`requested_datetime`); the entry time is kept beside it.
    pub observed_at: Option<chrono::DateTime<Utc>>,
    /// The reporter's answer to whether the city may contact them.
    pub consent: Option<bool>,
    /// Scans of the paper form, their files written; their rows commit with the report.
    pub scans: Vec<rq::ScanRow>,
}

impl Source {
    /// An app, by its key: the channel is the key's name, as before this existed.
    pub fn app(key: &AppKey) -> Self {
        Self {
            key_id: key.row.id.clone(),
            channel: key.row.name.clone(),
            entered: None,
        }
    }

    /// The server's own web page, under its key of its own.
    pub fn web(key: &AppKey) -> Self {
        Self {
            key_id: key.row.id.clone(),
            channel: "web".into(),
            entered: None,
        }
    }

    /// Staff typing in a paper form, a phone call, a walk-in or a volunteer's report.
    pub fn assisted(channel: &str, entered: Entered) -> Self {
        Self {
            key_id: STAFF_INTAKE_KEY.into(),
            channel: channel.into(),
            entered: Some(entered),
        }
    }
}

impl Source {
    /// Scans of the form, written and waiting for the report's transaction.
    pub fn attach_scans(&mut self, scans: Vec<rq::ScanRow>) {
        if let Some(e) = &mut self.entered {
            e.scans = scans;
        }
    }
}

/// The key row reports typed in by staff are stored under (made by the migration; no client can present it).
pub const STAFF_INTAKE_KEY: &str = "staff-intake";
/// The key row of the server's web page.
pub const WEB_PAGE_KEY: &str = "web-page";

/// The web page's own key; revoking it (`civic311 apikey revoke "civic311 web page"`) closes the page's form.
pub async fn web_key(state: &AppState) -> Result<AppKey, ApiError> {
    state
        .store
        .read(|conn| api_keys::active_by_id(conn, WEB_PAGE_KEY))
        .await?
        .map(|row| AppKey { row })
        .ok_or(ApiError::Forbidden)
}

/// The places (the finest areas, such as kelurahan) someone without a map can say a problem is in.
pub async fn with_places<T>(
    state: &AppState,
    jurisdiction_id: &str,
    f: impl FnOnce(&[crate::routing::Place]) -> T,
) -> Result<T, ApiError> {
    let index = state.routing.index(&state.store, jurisdiction_id).await?;
    Ok(f(index.areas.places()))
}

#[tracing::instrument(skip_all, fields(service_code = %new.service_code))]
pub async fn submit_request(
    state: &AppState,
    key: &AppKey,
    new: NewRequest,
    photos: Vec<PhotoUpload>,
) -> Result<Submitted, ApiError> {
    submit(state, Source::app(key), new, photos).await
}

pub async fn submit(
    state: &AppState,
    source: Source,
    new: NewRequest,
    photos: Vec<PhotoUpload>,
) -> Result<Submitted, ApiError> {
    let scans = source
        .entered
        .as_ref()
        .map_or_else(Vec::new, |e| e.scans.clone());
    let result = store_report(state, source, new, photos).await;
    // Scan files written for this form belong to no committed row when it was refused or was a retry of a
    // form already stored (which keeps the scans it came with the first time).
    if !scans.is_empty() && !matches!(&result, Ok(s) if !s.replayed) {
        super::staff::intake::discard_scan_files(&state.data_dir, &scans);
    }
    result
}

async fn store_report(
    state: &AppState,
    source: Source,
    new: NewRequest,
    photos: Vec<PhotoUpload>,
) -> Result<Submitted, ApiError> {
    let catalog = super::catalog::jurisdiction(state, new.jurisdiction_id.as_deref()).await?;
    let jurisdiction = catalog.jurisdiction.clone();
    if let Some(e) = &source.entered {
        if e.by
            .jurisdiction_id
            .as_ref()
            .is_some_and(|j| *j != jurisdiction.id)
        {
            return Err(ApiError::NotAllowed(
                "reports can be entered only for your own jurisdiction".into(),
            ));
        }
    }

    if let Some(idem) = new.idempotency_key.clone() {
        let key_id = source.key_id.clone();
        if let Some(row) = state
            .store
            .read(move |conn| rq::find_idempotent(conn, &key_id, &idem))
            .await?
        {
            return replay(&catalog, row);
        }
    }

    let cached = catalog.active_service(&new.service_code).ok_or_else(|| {
        ApiError::NotFound(format!(
            "service_code '{}' not found",
            new.service_code.chars().take(100).collect::<String>()
        ))
    })?;
    let (service, defs) = (&cached.service, &cached.attributes);
    let answers = domain::attributes::validate(defs, &new.attributes)?;

    let stored_photos = store_photos(state, photos).await?;
    let photo_files: Vec<String> = stored_photos
        .iter()
        .map(|(name, ..)| name.clone())
        .collect();

    let now = stamp();
    let observed = source.entered.as_ref().and_then(|e| e.observed_at);
    let token = (service.service_type == ServiceType::Batch).then(|| auth::random_id(20));
    // Held for staff to publish: a batch service's reports (GeoReport's "batch": the token answers with the
    // id once published), a service that reviews everything, and any report whose public text looks as if
    // it carries someone's contact details; the POST succeeds all the same.
    let free_text = defs
        .iter()
        .filter(|d| {
            d.variable
                && matches!(
                    d.datatype,
                    domain::Datatype::String | domain::Datatype::Text
                )
        })
        .flat_map(|d| answers.iter().filter(move |a| a.code == d.code))
        .flat_map(|a| a.values.iter());
    let held = service.service_type == ServiceType::Batch
        || service.moderation == domain::Moderation::Pre
        || new
            .description
            .iter()
            .chain(free_text)
            .any(|t| domain::looks_like_contact(t));
    // FixMyStreet's `private` category keyword, or the client's `non_public`: never public, from the start.
    let private = new.non_public
        || service.keywords.as_deref().is_some_and(|k| {
            k.split(',')
                .any(|w| w.trim().eq_ignore_ascii_case("private"))
        });
    // Routed before the write: the decision reads only what imports change (cached per import), so the
    // transaction stores the report with its department in one statement.
    let index = state.routing.index(&state.store, &jurisdiction.id).await?;
    let routed = index.decide(
        &RouteInput {
            service_code: service.code.clone(),
            location: new.location.map(|l| (l.long(), l.lat())),
            forced_department: None,
            hidden: false,
        },
        "intake",
    );
    let location = new.location.map(|l| (l.lat(), l.long()));
    let shown_at = public_point(location, service.public_precision_m);
    let (grid_used, service_code) = (service.public_precision_m, service.code.clone());
    let row = NewRequestRow {
        jurisdiction_id: jurisdiction.id.clone(),
        service_code: service.code.clone(),
        status: "open".into(),
        // The city's own first status (`initial` in its vocabulary, else its first open one).
        detailed_status: catalog.initial_status().to_string(),
        description: new.description.clone(),
        service_notice: service.service_notice.clone(),
        requested_at: now.naive_utc(),
        updated_at: now.naive_utc(),
        expected_at: service
            .expected_hours
            .map(|h| (now + TimeDelta::hours(i64::from(h))).naive_utc()),
        address: new.address.clone(),
        address_id: new.address_id.clone(),
        zipcode: None,
        lat: new.location.map(|l| l.lat()),
        long: new.location.map(|l| l.long()),
        token: token.clone(),
        api_key_id: source.key_id.clone(),
        channel: Some(source.channel.clone()),
        email: new.contact.email.clone(),
        phone: new.contact.phone.clone(),
        first_name: new.contact.first_name.clone(),
        last_name: new.contact.last_name.clone(),
        device_id_hash: new
            .contact
            .device_id
            .as_deref()
            .map(|d| auth::hash_device_id(&state.secret, d)),
        account_id: new.contact.account_id.clone(),
        agency_responsible: routed.department_name().map(str::to_string),
        department_code: routed.trace.department_code.clone(),
        routing_trace: routed.trace_json(),
        moderation_state: if private {
            rq::PRIVATE.into()
        } else if held {
            "pending".into()
        } else {
            "published".into()
        },
        public_lat: shown_at.map(|p| p.0),
        public_long: shown_at.map(|p| p.1),
        entered_at: None,
        entered_by: source.entered.as_ref().map(|e| e.by.user_id.clone()),
        contact_consent: source.entered.as_ref().and_then(|e| e.consent),
    };
    let mail_domain = state.mail_domain.clone();
    // The history names who acted: the app's key, or the staff member who typed it in.
    let actor = match &source.entered {
        Some(e) => e.by.username.clone(),
        None => source.channel.clone(),
    };
    let by = source.entered.as_ref().map(|e| e.by.clone());
    let scans = source
        .entered
        .as_ref()
        .map_or_else(Vec::new, |e| e.scans.clone());
    let external: Vec<String> = new.media_urls.clone();
    let idem = new.idempotency_key.clone();
    let key_id = source.key_id.clone();
    let expected_hours = service.expected_hours;
    let row_channel = source.channel.clone();
    let result: Result<_, StoreError> = state
        .store
        .write(move |conn| {
            // Stamped as late as it can be, inside the transaction: the sync cursor takes a change as settled
            // a few seconds after its time, so the time must not run ahead of the commit by a queue's wait.
            let now = stamp();
            let mut row = row;
            row.requested_at = observed.unwrap_or(now).naive_utc();
            row.updated_at = now.naive_utc();
            row.entered_at = observed.map(|_| now.naive_utc());
            row.expected_at =
                expected_hours.map(|h| (now + TimeDelta::hours(i64::from(h))).naive_utc());
            let jurisdiction_id = row.jurisdiction_id.clone();
            let id = rq::insert(conn, &row)?;
            // The grid as this transaction sees it, read after the insert: an import that changed it since
            // the catalogue was cached has either committed (and is seen here) or waits for this report to
            // commit and resets it with the others (`rq::reset_public_points`).
            if location.is_some() {
                let grid = rq::service_precision(conn, &jurisdiction_id, &service_code)?;
                if grid != grid_used {
                    rq::set_public_point(conn, id, public_point(location, grid))?;
                }
            }
            // The report, its areas, its e-mails and its answers commit together.
            let at = now.naive_utc();
            new_report::insert(
                conn,
                &new_report::Children {
                    request_id: id,
                    areas: routed.area_codes(),
                    deliveries: routed.deliveries(id, at, &mail_domain),
                    events: vec![outbox::event(
                        id,
                        at,
                        &actor,
                        "created",
                        Some(routed.trace.reason.clone()),
                    )],
                    attributes: answers
                        .iter()
                        .flat_map(|a| {
                            a.values.iter().enumerate().map(|(i, v)| AttributeValueRow {
                                request_id: id,
                                code: a.code.clone(),
                                position: i as i32,
                                value: v.clone(),
                            })
                        })
                        .collect(),
                    media: stored_photos
                        .iter()
                        .map(|(file_name, kind, size)| {
                            (
                                Some(file_name.clone()),
                                None,
                                Some(kind.content_type().to_string()),
                                Some(*size),
                            )
                        })
                        .chain(
                            external
                                .iter()
                                .map(|url| (None, Some(url.clone()), None, None)),
                        )
                        .enumerate()
                        .map(
                            |(i, (file_name, external_url, content_type, byte_size))| MediaRow {
                                id: auth::random_id(24),
                                request_id: id,
                                position: i as i32,
                                external_url,
                                file_name,
                                content_type,
                                byte_size,
                            },
                        )
                        .collect(),
                    idempotency: idem.map(|k| (key_id, k, at)),
                },
            )?;
            if let Some(p) = &by {
                super::audit::record(
                    conn,
                    super::audit::Actor::Staff(p),
                    "enter report",
                    Some(format!("request {id}")),
                    Some(format!("channel {row_channel}")),
                )?;
                for scan in &scans {
                    let mut scan = scan.clone();
                    scan.request_id = id;
                    super::staff::intake::insert_scan(conn, p, &scan)?;
                }
            }
            Ok(id)
        })
        .await;
    if result.is_err() {
        // No row points at these files: the transaction that would have did not commit.
        let dir = media::media_dir(&state.data_dir);
        for name in &photo_files {
            let _ = std::fs::remove_file(dir.join(name));
        }
    }
    match result {
        Ok(id) => {
            tracing::info!(service_request_id = id, "request stored");
            Ok(Submitted {
                id,
                reference_code: domain::refcode::encode(id),
                token,
                service_type: service.service_type,
                service_notice: service.service_notice.clone(),
                replayed: false,
                private,
            })
        }
        // Two attempts with the same key raced: the other one committed first, so answer with its report.
        Err(e) if e.is_unique_violation() && new.idempotency_key.is_some() => {
            let (key_id, idem) = (
                source.key_id.clone(),
                new.idempotency_key.clone().unwrap_or_default(),
            );
            match state
                .store
                .read(move |conn| rq::find_idempotent(conn, &key_id, &idem))
                .await?
            {
                Some(row) => replay(&catalog, row),
                None => Err(e.into()),
            }
        }
        Err(e) => Err(e.into()),
    }
}

/// The point public answers show for a location on a service's grid (`None`: exact).
fn public_point(location: Option<(f64, f64)>, grid: Option<f64>) -> Option<(f64, f64)> {
    location.map(|(lat, long)| match grid {
        Some(m) => domain::coarsen(lat, long, m),
        None => (lat, long),
    })
}

/// Now, to the second (the spec's datetimes have no fractions).
fn stamp() -> chrono::DateTime<Utc> {
    Utc::now()
        .duration_trunc(TimeDelta::seconds(1))
        .unwrap_or_else(|_| Utc::now())
}

/// The answer an earlier attempt got.
fn replay(catalog: &super::JurisdictionCatalog, row: RequestRow) -> Result<Submitted, ApiError> {
    let service_type = catalog
        .services
        .get(&row.service_code)
        .map(|s| s.service.service_type)
        .ok_or_else(|| {
            ApiError::Internal(anyhow::anyhow!(StoreError::Corrupt(
                "request without its service".into()
            )))
        })?;
    Ok(Submitted {
        id: row.id,
        reference_code: domain::refcode::encode(row.id),
        token: row.token,
        service_type,
        service_notice: row.service_notice,
        replayed: true,
        private: row.moderation_state == rq::PRIVATE,
    })
}

/// Checks, cleans and durably writes every photo; returns (file name, kind, size) for each.
async fn store_photos(
    state: &AppState,
    photos: Vec<PhotoUpload>,
) -> Result<Vec<(String, media::PhotoKind, i64)>, ApiError> {
    if photos.is_empty() {
        return Ok(Vec::new());
    }
    let dir = media::media_dir(&state.data_dir);
    crate::telemetry::spawn_blocking(move || -> Result<Vec<_>, ApiError> {
        let io = |e| ApiError::from_io(e, "storing a photo");
        let mut problems = Vec::new();
        let mut stored: Vec<(String, media::PhotoKind, i64)> = Vec::new();
        // One photo in memory at a time: each is cleaned and written before the next is read. A problem with
        // any of them refuses the report, and what was written for it is removed again.
        let outcome = (|| {
            for (i, p) in photos.into_iter().enumerate() {
                let bytes = std::fs::read(&p.file).map_err(io)?;
                drop(p);
                match media::clean(bytes, i + 1) {
                    Ok(c) if problems.is_empty() => {
                        let name = format!("{}.{}", auth::random_id(32), c.kind.extension());
                        media::store(&dir, &name, &c.bytes).map_err(io)?;
                        stored.push((name, c.kind, c.bytes.len() as i64));
                    }
                    Ok(_) => {}
                    Err(p) => problems.push(p),
                }
            }
            if problems.is_empty() {
                Ok(())
            } else {
                Err(ApiError::Invalid(std::mem::take(&mut problems)))
            }
        })();
        match outcome {
            Ok(()) => Ok(stored),
            Err(e) => {
                for (name, ..) in &stored {
                    let _ = std::fs::remove_file(dir.join(name));
                }
                Err(e)
            }
        }
    })
    .await
    .map_err(|e| ApiError::Internal(anyhow::anyhow!("photo task failed: {e}")))?
}
