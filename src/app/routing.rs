//! Routing use cases: the cached area index, routing inside the intake transaction, and re-routing.

use super::AppState;
use crate::error::ApiError;
use crate::outbox;
use crate::routing::{self, AreaIndex, RoutingTrace, Subject};
use crate::store::requests::RequestRow;
use crate::store::{catalog, requests as rq, routing as rs, AnyConnection, Store, StoreError};
use chrono::{DurationRound, NaiveDateTime, TimeDelta, Utc};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The store's catalogue epoch the index was built at: areas change only by import, which moves it.
type Version = u64;

/// Area indexes per jurisdiction, rebuilt when the areas change (an import in this or another process).
#[derive(Clone, Default)]
pub struct RoutingCache(Arc<Mutex<Cached>>);

type Cached = HashMap<String, (Version, Arc<Routing>)>;

/// What routing a report needs of its jurisdiction, built once per import: the area index and the rules.
pub struct Routing {
    pub areas: AreaIndex,
    pub rules: routing::RuleSet,
}

impl RoutingCache {
    pub async fn index(
        &self,
        store: &Store,
        jurisdiction_id: &str,
    ) -> Result<Arc<Routing>, StoreError> {
        // Taken before reading, so that an import landing during the read makes the next call rebuild.
        let version = store.catalog_epoch();
        if let Ok(cache) = self.0.lock() {
            if let Some((v, index)) = cache.get(jurisdiction_id) {
                if *v == version {
                    return Ok(index.clone());
                }
            }
        }
        let j = jurisdiction_id.to_string();
        let index = Arc::new(
            store
                .read(move |conn| {
                    Ok(Routing {
                        areas: AreaIndex::new(rs::areas(conn, &j)?),
                        rules: routing::RuleSet::new(rs::rules(conn, &j)?),
                    })
                })
                .await?,
        );
        if let Ok(mut cache) = self.0.lock() {
            cache.insert(jurisdiction_id.to_string(), (version, index.clone()));
        }
        Ok(index)
    }
}

/// Routes a stored or new request and queues its deliveries. Runs inside the caller's transaction.
pub fn route_in_tx(
    conn: &mut AnyConnection,
    cached: &Routing,
    request: &RouteInput,
    by: &str,
    now: NaiveDateTime,
    id_domain: &str,
) -> Result<Routed, StoreError> {
    let near =
        catalog::jurisdiction_row(conn, &request.jurisdiction_id)?.map_or(0.0, |j| j.near_meters);
    let group = catalog::service_row(conn, &request.jurisdiction_id, &request.service_code)?
        .and_then(|s| s.group_name);
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
            &cached.areas,
            &cached.rules,
            &Subject {
                service_code: &request.service_code,
                service_group: group.as_deref(),
                location: request.location,
            },
            near,
            by,
        ),
    };
    let department = match &trace.department_code {
        Some(code) => rs::department(conn, &request.jurisdiction_id, code)?,
        None => None,
    };
    let codes: Vec<String> = trace.matched_areas.iter().map(|a| a.code.clone()).collect();
    rq::set_areas(conn, request.id, &codes)?;
    match &department {
        Some(_) if request.hidden => trace
            .warnings
            .push("the report is hidden: nothing was sent".into()),
        Some(d) if d.active => {
            outbox::enqueue(conn, request.id, d, now, id_domain)?;
        }
        Some(d) => trace.warnings.push(format!(
            "department {} is inactive: nothing was sent",
            d.code
        )),
        None => {}
    }
    Ok(Routed {
        department_name: department.map(|d| d.name),
        trace,
    })
}

pub struct RouteInput {
    pub id: i64,
    pub jurisdiction_id: String,
    pub service_code: String,
    /// (lon, lat)
    pub location: Option<(f64, f64)>,
    pub forced_department: Option<String>,
    /// A hidden report is routed but never e-mailed.
    pub hidden: bool,
}

pub struct Routed {
    pub department_name: Option<String>,
    pub trace: RoutingTrace,
}

impl From<&RequestRow> for RouteInput {
    fn from(r: &RequestRow) -> Self {
        RouteInput {
            id: r.id,
            jurisdiction_id: r.jurisdiction_id.clone(),
            service_code: r.service_code.clone(),
            location: r.long.zip(r.lat),
            forced_department: None,
            hidden: r.hidden,
        }
    }
}

/// Sends a report to another department (`to`), or routes it again by the current areas and rules (`None`).
/// Records who and why in the report's history and queues deliveries to the department it now belongs to.
pub async fn reroute(
    state: &AppState,
    request_id: i64,
    to: Option<String>,
    actor: &str,
    why: &str,
) -> Result<RoutingTrace, ApiError> {
    reroute_as(state, request_id, to, actor, why, None).await
}

/// `reroute` by a staff member: the audit entry commits with the change.
pub async fn reroute_as(
    state: &AppState,
    request_id: i64,
    to: Option<String>,
    actor: &str,
    why: &str,
    staff: Option<super::staff::Principal>,
) -> Result<RoutingTrace, ApiError> {
    let request = state
        .store
        .read(move |conn| rq::get_any(conn, request_id))
        .await?
        .ok_or_else(|| {
            ApiError::NotFound(format!("service_request_id '{request_id}' not found"))
        })?;
    if let Some(code) = &to {
        let (j, c) = (request.jurisdiction_id.clone(), code.clone());
        if state
            .store
            .read(move |conn| rs::department(conn, &j, &c))
            .await?
            .is_none()
        {
            return Err(ApiError::NotFound(format!("department '{code}' not found")));
        }
    }
    let index = state
        .routing
        .index(&state.store, &request.jurisdiction_id)
        .await?;
    let (actor, why, domain) = (
        actor.to_string(),
        why.to_string(),
        state.mail_domain.clone(),
    );
    let trace = state
        .store
        .write(move |conn| {
            let now = Utc::now()
                .duration_trunc(TimeDelta::seconds(1))
                .unwrap_or_else(|_| Utc::now())
                .naive_utc();
            let mut input = RouteInput::from(&request);
            input.forced_department = to;
            let routed = route_in_tx(conn, &index, &input, &actor, now, &domain)?;
            let trace_json = serde_json::to_string(&routed.trace).ok();
            rq::set_routing(
                conn,
                request.id,
                routed.trace.department_code.as_deref(),
                routed.department_name.as_deref(),
                trace_json.as_deref(),
                now,
            )?;
            let from = request
                .department_code
                .as_deref()
                .unwrap_or("no department");
            let to = routed
                .trace
                .department_code
                .as_deref()
                .unwrap_or("no department");
            outbox::record(
                conn,
                request.id,
                now,
                &actor,
                "rerouted",
                Some(format!(
                    "from {from} to {to}: {why} ({})",
                    routed.trace.reason
                )),
            )?;
            if let Some(p) = &staff {
                super::staff::audit(
                    conn,
                    p,
                    "assign",
                    Some(format!("request {}", request.id)),
                    Some(format!("to {to}: {why}")),
                )?;
            }
            Ok(routed.trace)
        })
        .await?;
    Ok(trace)
}
