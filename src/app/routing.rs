//! Routing use cases: the cached area index, routing inside the intake transaction, and re-routing.

use super::AppState;
use crate::error::ApiError;
use crate::outbox;
use crate::routing::{self, AreaIndex, RoutingTrace, Subject};
use crate::store::requests::RequestRow;
use crate::store::routing::DepartmentRow;
use crate::store::{catalog, requests as rq, routing as rs, AnyConnection, Store, StoreError};
use chrono::NaiveDateTime;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The store's catalogue epoch the index was built at: areas change only by import, which moves it.
type Version = u64;

/// Area indexes per jurisdiction, rebuilt when the areas change (an import in this or another process).
#[derive(Clone, Default)]
pub struct RoutingCache {
    cached: Arc<Mutex<Cached>>,
    building: Arc<tokio::sync::Mutex<()>>,
    builds: Arc<std::sync::atomic::AtomicU64>,
}

type Cached = HashMap<String, (Version, Arc<Routing>)>;

/// What routing a report needs of its jurisdiction, built once per import: the area index, the rules, the
/// departments and the few catalogue facts a decision reads. Imports are the only writers of all of them, so a
/// report is routed before its write transaction and the transaction only stores the decision.
pub struct Routing {
    pub areas: AreaIndex,
    pub rules: routing::RuleSet,
    /// The jurisdiction's boundary buffer (`near_meters`).
    near_meters: f64,
    /// Service code → service group, inactive services included.
    groups: HashMap<String, Option<String>>,
    departments: HashMap<String, DepartmentRow>,
}

/// A routing decision, made outside the transaction that stores it.
pub struct Decision {
    pub trace: RoutingTrace,
    pub department: Option<DepartmentRow>,
    /// Whether the department gets e-mails: it is active and the report is not hidden.
    send: bool,
}

impl Routing {
    fn load(conn: &mut AnyConnection, jurisdiction_id: &str) -> Result<Self, StoreError> {
        Ok(Routing {
            areas: AreaIndex::new(rs::areas(conn, jurisdiction_id)?),
            rules: routing::RuleSet::new(rs::rules(conn, jurisdiction_id)?),
            near_meters: catalog::jurisdiction_row(conn, jurisdiction_id)?
                .map_or(0.0, |j| j.near_meters),
            groups: catalog::service_groups(conn, jurisdiction_id)?
                .into_iter()
                .collect(),
            departments: rs::departments(conn, jurisdiction_id)?
                .into_iter()
                .map(|d| (d.code.clone(), d))
                .collect(),
        })
    }

    /// Picks the department for a report (or takes the forced one) and says whether it is sent.
    pub fn decide(&self, request: &RouteInput, by: &str) -> Decision {
        let mut trace = match &request.forced_department {
            Some(code) => RoutingTrace {
                department_code: Some(code.clone()),
                rule_id: None,
                reason: format!("assigned to {code} by {by}"),
                located: request.location.is_some(),
                matched_areas: Vec::new(),
                near_areas: Vec::new(),
                warnings: Vec::new(),
                by: by.to_string(),
            },
            None => routing::route(
                &self.areas,
                &self.rules,
                &Subject {
                    service_code: &request.service_code,
                    service_group: self
                        .groups
                        .get(&request.service_code)
                        .and_then(|g| g.as_deref()),
                    location: request.location,
                },
                self.near_meters,
                by,
            ),
        };
        let department = trace
            .department_code
            .as_ref()
            .and_then(|code| self.departments.get(code))
            .cloned();
        let send = match &department {
            Some(_) if request.hidden => {
                trace
                    .warnings
                    .push("the report is hidden: nothing was sent".into());
                false
            }
            Some(d) if d.active => true,
            Some(d) => {
                trace.warnings.push(format!(
                    "department {} is inactive: nothing was sent",
                    d.code
                ));
                false
            }
            None => false,
        };
        Decision {
            trace,
            department,
            send,
        }
    }

    /// Whether the jurisdiction has a department of this code.
    pub fn has_department(&self, code: &str) -> bool {
        self.departments.contains_key(code)
    }
}

impl Decision {
    pub fn department_name(&self) -> Option<&str> {
        self.department.as_ref().map(|d| d.name.as_str())
    }

    pub fn trace_json(&self) -> Option<String> {
        serde_json::to_string(&self.trace).ok()
    }

    /// The codes of the areas the report lies in.
    pub fn area_codes(&self) -> Vec<String> {
        self.trace
            .matched_areas
            .iter()
            .map(|a| a.code.clone())
            .collect()
    }

    /// The e-mails this decision sends (none when the report is hidden or the department inactive).
    pub fn deliveries(
        &self,
        request_id: i64,
        now: NaiveDateTime,
        id_domain: &str,
    ) -> Vec<crate::store::deliveries::DeliveryRow> {
        match &self.department {
            Some(d) if self.send => outbox::deliveries_for(request_id, d, now, id_domain),
            _ => Vec::new(),
        }
    }

    /// Replaces a stored report's areas and queues its e-mails, inside the caller's transaction.
    pub fn apply_in_tx(
        &self,
        conn: &mut AnyConnection,
        request_id: i64,
        now: NaiveDateTime,
        id_domain: &str,
    ) -> Result<(), StoreError> {
        rq::clear_areas(conn, request_id)?;
        rq::insert_areas(conn, request_id, &self.area_codes())?;
        crate::store::deliveries::insert(conn, &self.deliveries(request_id, now, id_domain))
    }
}

impl RoutingCache {
    pub async fn index(
        &self,
        store: &Store,
        jurisdiction_id: &str,
    ) -> Result<Arc<Routing>, StoreError> {
        if let Some(index) = self.cached(store, jurisdiction_id) {
            return Ok(index);
        }
        // One build at a time: when the epoch moves under load, every request in flight misses at once, and
        // each building its own index (a whole country's communes is over 100 MB) would multiply the memory
        // and the work by the number of requests. The others wait, then take the one just built.
        let _building = self.building.lock().await;
        if let Some(index) = self.cached(store, jurisdiction_id) {
            return Ok(index);
        }
        // Taken before reading, so that an import landing during the read makes the next call rebuild.
        let version = store.catalog_epoch();
        let j = jurisdiction_id.to_string();
        let index = Arc::new(store.read(move |conn| Routing::load(conn, &j)).await?);
        self.builds
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if let Ok(mut cache) = self.cached.lock() {
            cache.insert(jurisdiction_id.to_string(), (version, index.clone()));
        }
        Ok(index)
    }

    fn cached(&self, store: &Store, jurisdiction_id: &str) -> Option<Arc<Routing>> {
        let cache = self.cached.lock().ok()?;
        let (v, index) = cache.get(jurisdiction_id)?;
        (*v == store.catalog_epoch()).then(|| index.clone())
    }

    /// How many indexes this cache has built.
    pub fn builds(&self) -> u64 {
        self.builds.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// Where the areas and rules, as this connection sees them, send each open report of a jurisdiction:
/// (report, department). An import's dry run asks before and after applying the files in its transaction,
/// and counts the reports whose department the files change (not those staff moved by hand, which the
/// same rules would route as before).
pub fn open_decisions(
    conn: &mut AnyConnection,
    jurisdiction_id: &str,
) -> Result<Vec<(i64, Option<String>)>, StoreError> {
    let routing = Routing::load(conn, jurisdiction_id)?;
    let open = rq::open_for_routing(conn, jurisdiction_id)?;
    Ok(open
        .iter()
        .map(|r| {
            let decided = routing.decide(&RouteInput::from(r), "dry run");
            (r.id, decided.trace.department_code)
        })
        .collect())
}

/// A report as routing sees it; its jurisdiction is that of the `Routing` it is decided by.
pub struct RouteInput {
    pub service_code: String,
    /// (lon, lat)
    pub location: Option<(f64, f64)>,
    pub forced_department: Option<String>,
    /// A hidden report is routed but never e-mailed.
    pub hidden: bool,
}

impl From<&RequestRow> for RouteInput {
    fn from(r: &RequestRow) -> Self {
        RouteInput {
            service_code: r.service_code.clone(),
            location: r.long.zip(r.lat),
            forced_department: None,
            hidden: r.hidden,
        }
    }
}

/// Sends a report to another department (`to`), or routes it again by the current areas and rules (`None`):
/// an operator at the command line. Records who and why in the report's history and the audit log, and
/// queues deliveries to the department it now belongs to.
pub async fn reroute(
    state: &AppState,
    request_id: i64,
    to: Option<String>,
    actor: &str,
    why: &str,
) -> Result<RoutingTrace, ApiError> {
    let request = state
        .store
        .read(move |conn| rq::get_any(conn, request_id))
        .await?
        .ok_or_else(|| ApiError::no_request(request_id))?;
    let plan = Reroute::plan(state, &request, to).await?;
    let (actor, why) = (actor.to_string(), why.to_string());
    state
        .store
        .write(move |conn| -> Result<_, ApiError> {
            let now = super::now();
            // As the transaction sees it: hidden or moved in the meantime, it is routed as it is now.
            let request =
                rq::get_any(conn, request_id)?.ok_or_else(|| ApiError::no_request(request_id))?;
            let done = plan.apply(conn, &request, &actor, now)?;
            outbox::record(
                conn,
                request.id,
                now,
                &actor,
                "rerouted",
                Some(done.history_detail(&why)),
            )?;
            super::audit::record(
                conn,
                super::audit::Actor::Operator(&actor),
                "reroute",
                Some(format!("request {}", request.id)),
                Some(done.audit_detail(&why)),
            )?;
            Ok(done.trace)
        })
        .await
}

/// A re-routing prepared outside the transaction: the jurisdiction's index, and the department asked for,
/// known to exist.
pub(crate) struct Reroute {
    index: Arc<Routing>,
    to: Option<String>,
    id_domain: String,
}

/// A re-routing done: its trace, and where the report was and now is.
pub(crate) struct Rerouted {
    pub trace: RoutingTrace,
    from: String,
}

impl Rerouted {
    fn to(&self) -> &str {
        self.trace
            .department_code
            .as_deref()
            .unwrap_or("no department")
    }

    /// The history entry's text: from where to where, why, and routing's own reason.
    pub fn history_detail(&self, why: &str) -> String {
        format!(
            "from {} to {}: {why} ({})",
            self.from,
            self.to(),
            self.trace.reason
        )
    }

    pub fn audit_detail(&self, why: &str) -> String {
        format!("to {}: {why}", self.to())
    }
}

impl Reroute {
    pub async fn plan(
        state: &AppState,
        request: &RequestRow,
        to: Option<String>,
    ) -> Result<Self, ApiError> {
        let index = state
            .routing
            .index(&state.store, &request.jurisdiction_id)
            .await?;
        if let Some(code) = &to {
            if !index.has_department(code) {
                return Err(ApiError::NotFound(format!("department '{code}' not found")));
            }
        }
        Ok(Reroute {
            index,
            to,
            id_domain: state.mail_domain.clone(),
        })
    }

    /// Routes `request` (as the transaction sees it) again, stores the decision and queues its deliveries.
    pub fn apply(
        &self,
        conn: &mut AnyConnection,
        request: &RequestRow,
        by: &str,
        now: NaiveDateTime,
    ) -> Result<Rerouted, StoreError> {
        let mut input = RouteInput::from(request);
        input.forced_department = self.to.clone();
        let routed = self.index.decide(&input, by);
        routed.apply_in_tx(conn, request.id, now, &self.id_domain)?;
        rq::set_routing(
            conn,
            request.id,
            routed.trace.department_code.as_deref(),
            routed.department_name(),
            routed.trace_json().as_deref(),
            now,
        )?;
        Ok(Rerouted {
            from: request
                .department_code
                .clone()
                .unwrap_or_else(|| "no department".into()),
            trace: routed.trace,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::RoutingCache;
    use crate::config::DatabaseUrl;
    use crate::store::Store;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn requests_that_miss_together_build_the_index_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&DatabaseUrl::Sqlite(dir.path().join("civic311.db"))).unwrap();
        let demo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/demo-city");
        let s = store.clone();
        tokio::task::spawn_blocking(move || crate::import::import_dir(&s, &demo))
            .await
            .unwrap()
            .unwrap();
        let cache = RoutingCache::default();
        for round in 1..=2 {
            let tasks: Vec<_> = (0..32)
                .map(|_| {
                    let (cache, store) = (cache.clone(), store.clone());
                    tokio::spawn(async move {
                        cache
                            .index(&store, "jakarta.go.id")
                            .await
                            .map(|r| r.areas.len())
                    })
                })
                .collect();
            for t in tasks {
                assert!(t.await.unwrap().unwrap() > 200, "the demo city's areas");
            }
            assert_eq!(
                cache.builds(),
                round,
                "one build per epoch, however many ask"
            );
            // An import elsewhere: every cached index is stale at once.
            store.catalog_changed();
        }
    }
}
