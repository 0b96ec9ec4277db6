//! Discovery, the service list and service definitions, served from a cached catalogue.
//!
//! The catalogue changes only on import, yet every public call needs it (the jurisdiction, the service, its
//! definitions). It is read in one go into memory and kept until the store's catalogue epoch moves: at once
//! after an import in this process, within a second after one in another process (`watch_catalog`).

use super::AppState;
use crate::domain::{AttributeDef, Jurisdiction, Service};
use crate::error::ApiError;
use crate::store::{catalog, Store, StoreError};
use chrono::{DateTime, NaiveDateTime, Utc};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

pub struct Discovery {
    pub jurisdiction: Jurisdiction,
    pub changeset: DateTime<Utc>,
    pub endpoint_url: String,
}

/// One service as the public side needs it.
pub struct CachedService {
    pub service: Service,
    pub active: bool,
    /// In display order.
    pub attributes: Vec<AttributeDef>,
}

/// One jurisdiction's catalogue.
pub struct JurisdictionCatalog {
    pub jurisdiction: Jurisdiction,
    pub changeset: Option<NaiveDateTime>,
    /// Active services in the list's order, each with whether it has a definition.
    pub listed: Vec<(Service, bool)>,
    /// Every service by code, inactive ones included.
    pub services: HashMap<String, CachedService>,
    /// The status vocabulary: its own, or the default one.
    pub statuses: Vec<CachedStatus>,
    /// The languages it speaks: its own first, then those its files translate into.
    pub languages: Vec<String>,
    /// The language of this copy's texts (a translated copy's locale, or the jurisdiction's language).
    pub locale: String,
    /// The server's own words in that language (note summaries; `i18n::SERVER_TEXTS`).
    pub words: crate::domain::i18n::Words,
}

/// The city's own server texts (`[texts.LOCALE]`) among a language's translated texts.
fn words_of(
    locale: &str,
    texts: Option<&HashMap<(String, String), String>>,
) -> crate::domain::i18n::Words {
    crate::domain::i18n::Words::new(
        locale,
        texts
            .into_iter()
            .flatten()
            .filter(|((scope, _), _)| scope == "texts")
            .map(|((_, item), text)| (item.clone(), text.clone())),
    )
}

/// A detailed status with its name and meaning in the copy's language.
#[derive(Debug, Clone, PartialEq)]
pub struct CachedStatus {
    pub code: String,
    pub name: String,
    pub description: Option<String>,
    pub closed: bool,
    /// New reports start in it.
    pub initial: bool,
}

impl JurisdictionCatalog {
    pub fn active_service(&self, code: &str) -> Option<&CachedService> {
        self.services.get(code).filter(|s| s.active)
    }

    pub fn status(&self, code: &str) -> Option<&CachedStatus> {
        self.statuses.iter().find(|s| s.code == code)
    }

    /// The status new reports start in: the one the vocabulary marks, else its first open one.
    pub fn initial_status(&self) -> &str {
        self.statuses
            .iter()
            .find(|s| s.initial)
            .or_else(|| self.statuses.iter().find(|s| !s.closed))
            .map_or("open", |s| s.code.as_str())
    }

    /// A copy with every text in `locale` where the files translate it, and in the jurisdiction's own
    /// language where they do not.
    fn translated(&self, locale: &str, texts: &HashMap<(String, String), String>) -> Self {
        let t =
            |scope: &str, item: &str| texts.get(&(scope.to_string(), item.to_string())).cloned();
        let services = self
            .services
            .iter()
            .map(|(code, s)| {
                let scope = format!("service:{code}");
                let mut service = s.service.clone();
                service.name = t(&scope, "name").unwrap_or(service.name);
                service.description = t(&scope, "description").or(service.description);
                service.group = t(&scope, "group").or(service.group);
                service.service_notice = t(&scope, "service_notice").or(service.service_notice);
                let attributes = s
                    .attributes
                    .iter()
                    .map(|a| {
                        let mut a = a.clone();
                        let item = |what: &str| format!("attr.{}.{what}", a.code);
                        a.description = t(&scope, &item("description")).unwrap_or(a.description);
                        a.datatype_description =
                            t(&scope, &item("datatype_description")).or(a.datatype_description);
                        a.label = t(&scope, &item("label")).or(a.label);
                        for v in &mut a.values {
                            if let Some(name) = t(&scope, &format!("value.{}.{}", a.code, v.key)) {
                                v.name = name;
                            }
                        }
                        a
                    })
                    .collect();
                (
                    code.clone(),
                    CachedService {
                        service,
                        active: s.active,
                        attributes,
                    },
                )
            })
            .collect::<HashMap<_, _>>();
        let mut listed: Vec<(Service, bool)> = self
            .listed
            .iter()
            .map(|(s, has)| (services[&s.code].service.clone(), *has))
            .collect();
        // In the order of the names people read, as the list in the city's own language is.
        listed.sort_by(|(a, _), (b, _)| {
            (&a.group, &a.name, &a.code).cmp(&(&b.group, &b.name, &b.code))
        });
        let statuses = self
            .statuses
            .iter()
            .map(|s| CachedStatus {
                name: t("statuses", &format!("{}.name", s.code)).unwrap_or(s.name.clone()),
                description: t("statuses", &format!("{}.description", s.code))
                    .or(s.description.clone()),
                ..s.clone()
            })
            .collect();
        Self {
            jurisdiction: self.jurisdiction.clone(),
            changeset: self.changeset,
            listed,
            services,
            statuses,
            languages: self.languages.clone(),
            words: words_of(locale, Some(texts)),
            locale: locale.to_string(),
        }
    }
}

/// The whole catalogue, immutable once built.
#[derive(Default)]
pub struct Catalog {
    /// Sorted by id.
    pub jurisdictions: Vec<Arc<JurisdictionCatalog>>,
    /// Translated copies by (jurisdiction id, locale), made once per import.
    translated: HashMap<(String, String), Arc<JurisdictionCatalog>>,
}

impl Catalog {
    fn build(s: catalog::Snapshot) -> Result<Self, StoreError> {
        let mut attributes: HashMap<(String, String), Vec<AttributeDef>> = HashMap::new();
        let mut rows = s.attributes;
        // Sorted here, byte-wise: the two databases collate text differently.
        rows.sort_by(|a, b| (a.position, &a.code).cmp(&(b.position, &b.code)));
        for r in rows {
            let key = (r.jurisdiction_id.clone(), r.service_code.clone());
            attributes
                .entry(key)
                .or_default()
                .push(AttributeDef::try_from(r)?);
        }
        let mut services = s.services;
        services.sort_by(|a, b| {
            (&a.group_name, &a.name, &a.code).cmp(&(&b.group_name, &b.name, &b.code))
        });
        let mut jurisdictions = s.jurisdictions;
        jurisdictions.sort_by(|a, b| a.id.cmp(&b.id));
        let mut out = Vec::with_capacity(jurisdictions.len());
        let mut translated = HashMap::new();
        // (jurisdiction, locale) → (scope, item) → text
        let mut texts: HashMap<(String, String), HashMap<(String, String), String>> =
            HashMap::new();
        for t in s.translations {
            texts
                .entry((t.jurisdiction_id, t.locale))
                .or_default()
                .insert((t.scope, t.item), t.text);
        }
        let mut status_rows = s.statuses;
        status_rows.sort_by_key(|r| r.position);
        for j in jurisdictions {
            let mut listed = Vec::new();
            let mut by_code = HashMap::new();
            let mut changeset = Some(j.updated_at);
            for row in services.iter().filter(|r| r.jurisdiction_id == j.id) {
                changeset = changeset.max(Some(row.updated_at));
                let active = row.active;
                let service = Service::try_from(row.clone())?;
                let defs = attributes
                    .remove(&(j.id.clone(), row.code.clone()))
                    .unwrap_or_default();
                if active {
                    listed.push((service.clone(), !defs.is_empty()));
                }
                by_code.insert(
                    row.code.clone(),
                    CachedService {
                        service,
                        active,
                        attributes: defs,
                    },
                );
            }
            let own: Vec<CachedStatus> = status_rows
                .iter()
                .filter(|r| r.jurisdiction_id == j.id)
                .map(|r| CachedStatus {
                    code: r.code.clone(),
                    name: r.name.clone(),
                    description: r.description.clone(),
                    closed: r.closed,
                    initial: r.initial,
                })
                .collect();
            let statuses = if own.is_empty() {
                crate::domain::DEFAULT_STATUSES
                    .iter()
                    .map(|(code, name, closed)| CachedStatus {
                        code: code.to_string(),
                        name: name.to_string(),
                        description: None,
                        closed: *closed,
                        initial: false,
                    })
                    .collect()
            } else {
                own
            };
            let language = j.language.clone();
            let mut languages = vec![language.clone()];
            // The languages its catalogue is translated into; the server's own texts (`texts`) in a language
            // do not make one.
            let mut others: Vec<&String> = texts
                .iter()
                .filter(|((jid, l), items)| {
                    *jid == j.id
                        && *l != language
                        && items.keys().any(|(scope, _)| scope != "texts")
                })
                .map(|((_, l), _)| l)
                .collect();
            others.sort();
            languages.extend(others.into_iter().cloned());
            let j_id = j.id.clone();
            let base = JurisdictionCatalog {
                jurisdiction: j.into(),
                changeset,
                listed,
                services: by_code,
                statuses,
                languages: languages.clone(),
                words: words_of(&language, texts.get(&(j_id.clone(), language.clone()))),
                locale: language,
            };
            for l in languages.iter().skip(1) {
                if let Some(t) = texts.get(&(base.jurisdiction.id.clone(), l.clone())) {
                    translated.insert(
                        (base.jurisdiction.id.clone(), l.clone()),
                        Arc::new(base.translated(l, t)),
                    );
                }
            }
            out.push(Arc::new(base));
        }
        Ok(Self {
            jurisdictions: out,
            translated,
        })
    }

    /// The jurisdiction a request is about (spec §2.5, D17).
    pub fn pick(&self, requested: Option<&str>) -> Result<Arc<JurisdictionCatalog>, ApiError> {
        super::pick_jurisdiction(&self.jurisdictions, |j| &j.jurisdiction.id, requested).cloned()
    }

    /// The jurisdiction a request is about, its texts in `locale` (CitySDK's `locale`: `id`, `en_GB`) where
    /// translated and in its own language elsewhere.
    pub fn pick_in(
        &self,
        requested: Option<&str>,
        locale: Option<&str>,
    ) -> Result<Arc<JurisdictionCatalog>, ApiError> {
        let base = self.pick(requested)?;
        let Some(want) = locale
            .map(crate::domain::i18n::primary)
            .filter(|l| !l.is_empty())
        else {
            return Ok(base);
        };
        let found = base
            .languages
            .iter()
            .skip(1)
            .find(|l| crate::domain::i18n::primary(l) == want)
            .and_then(|l| {
                self.translated
                    .get(&(base.jurisdiction.id.clone(), l.clone()))
            });
        Ok(found.cloned().unwrap_or(base))
    }
}

/// The store epoch a catalogue was read at, and the catalogue.
type Stamped = (u64, Arc<Catalog>);

/// The cached catalogue.
#[derive(Clone, Default)]
pub struct CatalogCache {
    cached: Arc<RwLock<Option<Stamped>>>,
    /// One load at a time (see `RoutingCache::index`): requests that miss together wait for one read.
    loading: Arc<tokio::sync::Mutex<()>>,
}

impl CatalogCache {
    pub async fn get(&self, store: &Store) -> Result<Arc<Catalog>, StoreError> {
        if let Some(c) = self.cached(store) {
            return Ok(c);
        }
        let _loading = self.loading.lock().await;
        if let Some(c) = self.cached(store) {
            return Ok(c);
        }
        // The epoch is taken before reading, so a change that lands during the read moves it again and the
        // next call reloads.
        let epoch = store.catalog_epoch();
        let catalog = Arc::new(
            store
                .read(|conn| Catalog::build(catalog::snapshot(conn)?))
                .await?,
        );
        if let Ok(mut guard) = self.cached.write() {
            *guard = Some((epoch, catalog.clone()));
        }
        Ok(catalog)
    }

    fn cached(&self, store: &Store) -> Option<Arc<Catalog>> {
        let guard = self.cached.read().ok()?;
        let (e, c) = guard.as_ref()?;
        (*e == store.catalog_epoch()).then(|| c.clone())
    }
}

/// Watches the stored catalogue version, so that an import made by another process (`civic311 import`
/// against the running server's database) reaches this one's caches within `every`.
pub async fn watch_catalog(store: Store, every: std::time::Duration) {
    let mut seen: Option<i64> = None;
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match store.read(catalog::version).await {
            Ok(v) => {
                // A version this process wrote itself has been accounted for when it was written.
                if seen.is_some_and(|s| s != v) && v > store.catalog_written() {
                    store.catalog_changed();
                }
                seen = Some(v);
            }
            Err(e) => tracing::debug!(error = %e, "catalogue version check failed"),
        }
    }
}

/// The discovery document of a jurisdiction. Clients usually ask without `jurisdiction_id` (the spec lists
/// no parameters), so without a known id it describes the first jurisdiction by id.
pub async fn discovery(
    state: &AppState,
    jurisdiction_id: Option<&str>,
) -> Result<Discovery, ApiError> {
    let catalog = state.catalog.get(&state.store).await?;
    // The spec gives discovery no parameters: a jurisdiction_id that names a configured jurisdiction selects
    // it, anything else is ignored.
    let wanted = jurisdiction_id.map(str::trim).filter(|s| !s.is_empty());
    let all = &catalog.jurisdictions;
    let j = wanted
        .and_then(|w| {
            all.iter()
                .find(|j| j.jurisdiction.id.eq_ignore_ascii_case(w))
        })
        .or_else(|| all.first())
        .ok_or_else(|| {
            ApiError::NotFound("no jurisdiction is configured on this server yet".into())
        })?;
    Ok(Discovery {
        jurisdiction: j.jurisdiction.clone(),
        changeset: j
            .changeset
            .map(|t| t.and_utc())
            .unwrap_or(DateTime::<Utc>::UNIX_EPOCH),
        endpoint_url: format!("{}/open311/v2", state.public_url),
    })
}

/// Active services of a jurisdiction, each with whether it has a definition (`metadata`).
pub async fn services(
    state: &AppState,
    jurisdiction_id: Option<&str>,
    locale: Option<&str>,
) -> Result<Vec<(Service, bool)>, ApiError> {
    Ok(jurisdiction_in(state, jurisdiction_id, locale)
        .await?
        .listed
        .clone())
}

/// When a jurisdiction's catalogue (services, definitions) last changed, for `Last-Modified`.
pub async fn catalog_changed(
    state: &AppState,
    jurisdiction_id: Option<&str>,
) -> Result<Option<DateTime<Utc>>, ApiError> {
    Ok(jurisdiction(state, jurisdiction_id)
        .await?
        .changeset
        .map(|t| t.and_utc()))
}

/// A service's attribute definitions (D3: an empty list for a service without metadata).
pub async fn service_definition(
    state: &AppState,
    jurisdiction_id: Option<&str>,
    code: &str,
    locale: Option<&str>,
) -> Result<(Service, Vec<AttributeDef>), ApiError> {
    let j = jurisdiction_in(state, jurisdiction_id, locale).await?;
    let s = j
        .active_service(code)
        .ok_or_else(|| ApiError::NotFound("service_code not found".into()))?;
    Ok((s.service.clone(), s.attributes.clone()))
}

/// The catalogue of the jurisdiction a request is about (see `Catalog::pick`).
pub async fn jurisdiction(
    state: &AppState,
    jurisdiction_id: Option<&str>,
) -> Result<Arc<JurisdictionCatalog>, ApiError> {
    state.catalog.get(&state.store).await?.pick(jurisdiction_id)
}

/// The same in a locale (see `Catalog::pick_in`).
pub async fn jurisdiction_in(
    state: &AppState,
    jurisdiction_id: Option<&str>,
    locale: Option<&str>,
) -> Result<Arc<JurisdictionCatalog>, ApiError> {
    state
        .catalog
        .get(&state.store)
        .await?
        .pick_in(jurisdiction_id, locale)
}
