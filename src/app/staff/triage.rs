//! Triage: the queue, one report with everything staff may see, and the actions on a report (status,
//! priority, duplicate, note, hide, publish, assign). Every action goes through `InScope`: loaded in the
//! caller's scope, re-checked inside the write transaction, changed, and recorded in the report's history and
//! the audit log in that same transaction.

use super::views::{ReportDetail, ReportSummary};
use super::vocabulary::vocabulary;
use super::{now, recheck, Principal, Role};
use crate::app::audit::{record, Actor};
use crate::app::routing::Reroute;
use crate::app::AppState;
use crate::auth;
use crate::error::ApiError;
use crate::store::deliveries::{self as dl, EventRow};
use crate::store::requests::{self as rq, RequestRow, StaffFilter};
use crate::store::{AnyConnection, StoreError};
use chrono::NaiveDateTime;

/// What the queue may be filtered by. The caller's scope is not among it: `list` adds it.
#[derive(Debug, Default)]
pub struct ReportFilter {
    pub statuses: Option<Vec<String>>,
    pub detailed_statuses: Option<Vec<String>>,
    pub service_codes: Option<Vec<String>>,
    pub department: Option<String>,
    /// Only reports lying in this area.
    pub area: Option<String>,
    pub moderation_state: Option<String>,
    pub hidden: Option<bool>,
    /// Case-insensitive text in the description.
    pub text: Option<String>,
    pub requested_from: Option<NaiveDateTime>,
    pub requested_to: Option<NaiveDateTime>,
    pub offset: i64,
    pub limit: i64,
}

/// Reports in the caller's scope, newest first; staff see hidden ones too, filtered by `hidden` when given.
pub async fn list(
    state: &AppState,
    p: &Principal,
    f: ReportFilter,
) -> Result<Vec<ReportSummary>, ApiError> {
    // The caller's scope is part of the query, so that paging counts only what the caller may see.
    let (jurisdiction_id, departments) = match p.role {
        Role::Admin => (None, None),
        Role::Dispatcher => (p.jurisdiction_id.clone(), None),
        Role::Staff => (p.jurisdiction_id.clone(), Some(p.departments.clone())),
        Role::Intake => (p.jurisdiction_id.clone(), None),
    };
    let entered_by = (p.role == Role::Intake).then(|| p.user_id.clone());
    let query = StaffFilter {
        jurisdiction_id,
        departments,
        entered_by,
        statuses: f.statuses,
        detailed_statuses: f.detailed_statuses,
        service_codes: f.service_codes,
        department: f.department,
        area: f.area,
        moderation_state: f.moderation_state,
        hidden: f.hidden,
        text: f.text,
        requested_from: f.requested_from,
        requested_to: f.requested_to,
        offset: f.offset,
        limit: f.limit,
    };
    let rows = state
        .store
        .read(move |conn| rq::list_staff(conn, &query))
        .await?;
    let mut list: Vec<ReportSummary> = rows
        .iter()
        .filter(|r| p.sees(r))
        .map(ReportSummary::from)
        .collect();
    // One catalogue lookup per jurisdiction of the page, not per report.
    let mut zones: std::collections::HashMap<String, crate::domain::Zone> =
        std::collections::HashMap::new();
    for r in &mut list {
        if !zones.contains_key(&r.jurisdiction_id) {
            let zone = zone_of(state, &r.jurisdiction_id).await;
            zones.insert(r.jurisdiction_id.clone(), zone);
        }
        r.zone = zones[&r.jurisdiction_id];
    }
    Ok(list)
}

/// The time zone a jurisdiction's datetimes are shown in (the catalogue is cached per import).
pub(crate) async fn zone_of(state: &AppState, jurisdiction_id: &str) -> crate::domain::Zone {
    crate::app::catalog::jurisdiction(state, Some(jurisdiction_id))
        .await
        .map_or(crate::domain::Zone::Fixed(0), |j| j.jurisdiction.zone)
}

/// One report with contact details, trace, deliveries and history. Reading it is audited (it shows a
/// reporter's personal data).
pub async fn get(state: &AppState, p: &Principal, id: i64) -> Result<ReportDetail, ApiError> {
    let request = InScope::load(state, p, id).await?.request;
    let zone = zone_of(state, &request.jurisdiction_id).await;
    let p = p.clone();
    let mut detail = state
        .store
        .write(move |conn| -> Result<_, StoreError> {
            record(
                conn,
                Actor::Staff(&p),
                "read report",
                Some(format!("request {id}")),
                Some("contact details shown".into()),
            )?;
            Ok(ReportDetail::new(
                &request,
                &dl::of_request(conn, id)?,
                &dl::events_of(conn, id)?,
                rq::count_duplicates(conn, id)?,
                super::intake::scans_of(conn, id)?,
                &rq::update_contacts_of(conn, id)?,
            ))
        })
        .await
        .map_err(ApiError::from)?;
    detail.summary.zone = zone;
    Ok(detail)
}

/// What a triage action records: a history event (public or internal) and an audit entry. Recording also
/// moves `updated_datetime`: every staff change does, so that sync clients look again.
struct Change {
    /// The history entry's action; public ones named "status" or "duplicate" show as status changes.
    event: &'static str,
    /// The audit log's action.
    audit: &'static str,
    detail: Option<String>,
    public: bool,
    /// The detailed status after the change (public events carry it for the updates feed).
    status: Option<String>,
    audit_detail: Option<String>,
}

impl Change {
    fn internal(event: &'static str, audit: &'static str) -> Self {
        Change {
            event,
            audit,
            detail: None,
            public: false,
            status: None,
            audit_detail: None,
        }
    }

    fn record(self, conn: &mut AnyConnection, p: &Principal, id: i64) -> Result<(), StoreError> {
        dl::insert_event(
            conn,
            &EventRow {
                id: auth::sortable_id(),
                request_id: id,
                at: now(),
                actor: p.username.clone(),
                action: self.event.into(),
                detail: self.detail,
                public: self.public,
                status: self.status,
                external_id: None,
            },
        )?;
        rq::touch(conn, id, now())?;
        record(
            conn,
            Actor::Staff(p),
            self.audit,
            Some(format!("request {id}")),
            self.audit_detail,
        )
    }
}

/// A report loaded in the caller's scope: the only way to act on one.
struct InScope {
    p: Principal,
    request: RequestRow,
}

impl InScope {
    /// 404 for a report that does not exist or that the caller does not see, before any write begins.
    async fn load(state: &AppState, p: &Principal, id: i64) -> Result<Self, ApiError> {
        let row = state.store.read(move |conn| rq::get_any(conn, id)).await?;
        let request = row
            .filter(|r| p.sees(r))
            .ok_or_else(|| ApiError::no_request(id))?;
        Ok(InScope {
            p: p.clone(),
            request,
        })
    }

    /// Runs `f` in one write transaction on the report as that transaction sees it, after checking again that
    /// the caller sees it (it may have been reassigned since `load`), and records the change `f` returns
    /// (none: nothing changed). Any error rolls all of it back.
    async fn change<T: Send + 'static>(
        self,
        state: &AppState,
        f: impl FnOnce(
                &mut AnyConnection,
                &Principal,
                &RequestRow,
            ) -> Result<(T, Option<Change>), ApiError>
            + Send
            + 'static,
    ) -> Result<T, ApiError> {
        let (p, id) = (self.p, self.request.id);
        // Intake clerks see what they typed in; what happens to it next is for dispatchers and departments.
        if p.role == Role::Intake {
            return Err(ApiError::NotAllowed(
                "the intake role enters reports; triage needs the dispatcher, staff or administrator role"
                    .into(),
            ));
        }
        state
            .store
            .write(move |conn| -> Result<_, ApiError> {
                let current = recheck(conn, &p, id)?;
                let (answer, change) = f(conn, &p, &current)?;
                if let Some(change) = change {
                    change.record(conn, &p, id)?;
                }
                Ok(answer)
            })
            .await
    }
}

/// Changes the detailed status (which the jurisdiction's vocabulary maps to Open311 open/closed) with an
/// optional public note.
pub async fn set_status(
    state: &AppState,
    p: &Principal,
    id: i64,
    status: &str,
    notes: Option<String>,
) -> Result<(), ApiError> {
    if status == "duplicate" {
        return Err(ApiError::invalid(
            "status",
            "mark a duplicate with POST …/duplicate, which names its master",
        ));
    }
    let status = status.to_string();
    InScope::load(state, p, id)
        .await?
        .change(state, move |conn, _, r| {
            let vocabulary = vocabulary(conn, &r.jurisdiction_id)?;
            let Some(found) = vocabulary.iter().find(|s| s.code == status) else {
                let known: Vec<&str> = vocabulary.iter().map(|s| s.code.as_str()).collect();
                return Err(ApiError::invalid(
                    "status",
                    format!("status must be one of {}", known.join(", ")),
                ));
            };
            let core = if found.closed { "closed" } else { "open" };
            rq::set_status(conn, id, core, &found.code, notes.as_deref(), now())?;
            let change = Change {
                detail: notes,
                public: true,
                status: Some(found.code.clone()),
                audit_detail: Some(found.code.clone()),
                ..Change::internal("status", "set status")
            };
            Ok(((), Some(change)))
        })
        .await
}

/// Priority 0 (none) to 5 (urgent), for the triage queue.
pub async fn set_priority(
    state: &AppState,
    p: &Principal,
    id: i64,
    priority: i32,
) -> Result<(), ApiError> {
    if !(0..=5).contains(&priority) {
        return Err(ApiError::invalid(
            "priority",
            "priority is a whole number from 0 (none) to 5 (urgent)",
        ));
    }
    InScope::load(state, p, id)
        .await?
        .change(state, move |conn, _, _| {
            rq::set_priority(conn, id, priority, now())?;
            let change = Change {
                detail: Some(priority.to_string()),
                audit_detail: Some(priority.to_string()),
                ..Change::internal("priority", "set priority")
            };
            Ok(((), Some(change)))
        })
        .await
}

/// Closes a report as a duplicate of another (its master), which must be in the caller's scope too.
pub async fn mark_duplicate(
    state: &AppState,
    p: &Principal,
    id: i64,
    master: i64,
) -> Result<(), ApiError> {
    if id == master {
        return Err(ApiError::invalid("of", "a report cannot duplicate itself"));
    }
    // A hidden master's id would become public as parent_service_request_id.
    let unfit = move |master_row: &RequestRow, report: &RequestRow| {
        (master_row.jurisdiction_id != report.jurisdiction_id || master_row.hidden).then(|| {
            ApiError::invalid(
                "of",
                format!(
                    "report {master} cannot be a master: it is hidden or in another jurisdiction"
                ),
            )
        })
    };
    let report = InScope::load(state, p, id).await?;
    let master_row = InScope::load(state, p, master).await?.request;
    if let Some(e) = unfit(&master_row, &report.request) {
        return Err(e);
    }
    report
        .change(state, move |conn, p, current| {
            // Checked again as the transaction sees both: hidden or moved in the meantime, it is refused.
            if let Some(e) = unfit(&recheck(conn, p, master)?, current) {
                return Err(e);
            }
            // Checked inside the transaction: no chains of duplicates, whatever happens in between.
            if let Some((_, Some(m))) = rq::triage(conn, master)? {
                return Err(ApiError::invalid(
                    "of",
                    format!("{master} is itself a duplicate of {m}: mark it as a duplicate of {m}"),
                ));
            }
            if rq::count_duplicates(conn, id)? > 0 {
                return Err(ApiError::invalid(
                    "of",
                    format!("report {id} has duplicates of its own: it stays a master"),
                ));
            }
            let notes = format!("Duplicate of report {master}");
            rq::mark_duplicate(conn, id, master, &notes, now())?;
            rq::touch(conn, master, now())?;
            let change = Change {
                detail: Some(notes),
                public: true,
                status: Some("duplicate".into()),
                audit_detail: Some(format!("of {master}")),
                ..Change::internal("duplicate", "mark duplicate")
            };
            Ok(((), Some(change)))
        })
        .await
}

/// A note: internal (staff only) or a public update shown with `extensions=true`.
pub async fn add_note(
    state: &AppState,
    p: &Principal,
    id: i64,
    text: &str,
    public: bool,
) -> Result<(), ApiError> {
    crate::domain::check_text("text", text, crate::domain::MAX_DESCRIPTION_CHARS, true)?;
    if text.trim().is_empty() {
        return Err(ApiError::invalid("text", "text must not be empty"));
    }
    let text = text.to_string();
    InScope::load(state, p, id)
        .await?
        .change(state, move |_, _, r| {
            let action = if public {
                "public update"
            } else {
                "internal note"
            };
            let change = Change {
                detail: Some(text),
                public,
                // A public update carries the report's current status, so that the updates feed never
                // implies a change.
                status: public.then(|| r.detailed_status.clone()),
                ..Change::internal(action, action)
            };
            Ok(((), Some(change)))
        })
        .await
}

/// Hides a report (404 publicly, never e-mailed: its waiting deliveries are cancelled) or shows it again.
pub async fn set_hidden(
    state: &AppState,
    p: &Principal,
    id: i64,
    hidden: bool,
) -> Result<(), ApiError> {
    InScope::load(state, p, id)
        .await?
        .change(state, move |conn, _, _| {
            rq::set_hidden(conn, id, hidden, now())?;
            if hidden {
                dl::cancel_waiting(conn, id, now())?;
            }
            let change = if hidden {
                Change::internal("hidden", "hide")
            } else {
                Change::internal("unhidden", "unhide")
            };
            Ok(((), Some(change)))
        })
        .await
}

/// Publishes a report held for review: from now on it is in every public answer, and its token answers
/// with its id. Publishing a public report changes nothing (false).
pub async fn publish(state: &AppState, p: &Principal, id: i64) -> Result<bool, ApiError> {
    let scope = InScope::load(state, p, id).await?;
    if scope.request.moderation_state == rq::PRIVATE {
        return Err(ApiError::invalid(
            "moderation_state",
            "this report is non-public (a private service, or its client asked) and stays out of public answers",
        ));
    }
    scope
        .change(state, move |conn, _, _| {
            if !rq::publish(conn, id, now())? {
                return Ok((false, None));
            }
            Ok((true, Some(Change::internal("published", "publish"))))
        })
        .await
}

/// Sends a report to another department: re-routes, records who and why, e-mails the new department.
pub async fn assign(
    state: &AppState,
    p: &Principal,
    id: i64,
    department: &str,
    why: &str,
) -> Result<(), ApiError> {
    let report = InScope::load(state, p, id).await?;
    let plan = Reroute::plan(state, &report.request, Some(department.to_string())).await?;
    let why = why.to_string();
    report
        .change(state, move |conn, p, r| {
            let done = plan.apply(conn, r, &p.username, now())?;
            let change = Change {
                detail: Some(done.history_detail(&why)),
                audit_detail: Some(done.audit_detail(&why)),
                ..Change::internal("rerouted", "assign")
            };
            Ok(((), Some(change)))
        })
        .await
}
