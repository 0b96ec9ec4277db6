//! Staff use cases: sign-in, sessions, roles and scope, triage actions, and the audit trail. Every action and
//! every read of a reporter's personal data is written to the audit log in the transaction that does it.

use super::AppState;
use crate::auth::{self, staff as sa};
use crate::error::ApiError;
use crate::store::deliveries::{self as dl, DeliveryRow, EventRow};
use crate::store::requests::{self as rq, RequestRow};
use crate::store::staff::{self as st, AuditRow, SessionRow, UserRow};
use crate::store::{AnyConnection, StoreError};
use chrono::{TimeDelta, Utc};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

pub(crate) use super::identity::recheck;
pub use super::identity::{Principal, Role};

pub(crate) use super::now;

/// The audit row of a staff member's action (`audit::record` with the member as its actor).
pub fn audit(
    conn: &mut AnyConnection,
    p: &Principal,
    action: &str,
    target: Option<String>,
    detail: Option<String>,
) -> Result<(), StoreError> {
    super::audit::record(conn, super::audit::Actor::Staff(p), action, target, detail)
}

/// Failed sign-ins per (account, client address) and per client address, in a sliding window. Never per
/// account alone: then anyone could lock a staff member out by failing on purpose.
#[derive(Clone, Default)]
pub struct Throttle(Arc<Mutex<HashMap<String, Vec<Instant>>>>);

/// At most this many failures per key in the window; then 429 until the oldest failure leaves it.
const MAX_FAILURES_PER_ACCOUNT_AND_ADDRESS: usize = 5;
const MAX_FAILURES_PER_ADDRESS: usize = 20;
const WINDOW_SECS: u64 = 15 * 60;

impl Throttle {
    /// Counts an attempt against every key before the password is checked, under one lock, so that a burst of
    /// parallel attempts cannot all slip under the limit. A successful sign-in gives the attempt back.
    fn reserve(&self, keys: &[(&str, usize)]) -> Result<(), ApiError> {
        let Ok(mut map) = self.0.lock() else {
            return Ok(());
        };
        let now = Instant::now();
        let fresh = |t: &Instant| now.duration_since(*t).as_secs() < WINDOW_SECS;
        // Keys are chosen by clients: keep the map from growing without bound.
        if map.len() > 10_000 {
            map.retain(|_, list| {
                list.retain(fresh);
                !list.is_empty()
            });
        }
        for (key, max) in keys {
            let list = map.entry(key.to_string()).or_default();
            list.retain(fresh);
            if list.len() >= *max {
                let oldest = list.first().map_or(0, |t| now.duration_since(*t).as_secs());
                return Err(ApiError::TooManyRequests(
                    WINDOW_SECS.saturating_sub(oldest).max(1),
                ));
            }
        }
        for (key, _) in keys {
            map.entry(key.to_string()).or_default().push(now);
        }
        Ok(())
    }

    /// After a successful sign-in: the account starts afresh from that address, and the address gets its
    /// attempt back.
    fn succeeded(&self, account_key: &str, address_key: &str) {
        if let Ok(mut map) = self.0.lock() {
            map.remove(account_key);
            if let Some(list) = map.get_mut(address_key) {
                list.pop();
            }
        }
    }

    /// An attempt that was never checked (the server was too busy to hash) gives back what it reserved.
    fn release(&self, keys: &[&str]) {
        if let Ok(mut map) = self.0.lock() {
            for key in keys {
                if let Some(list) = map.get_mut(*key) {
                    list.pop();
                }
            }
        }
    }
}

#[derive(Debug, Clone)]
pub struct Tokens {
    pub access_token: String,
    pub refresh_token: String,
    pub expires_in: i64,
    pub username: String,
    pub role: String,
}

fn tokens(
    state: &AppState,
    user: &UserRow,
    session_id: &str,
    refresh: String,
) -> Result<Tokens, ApiError> {
    let access = state
        .tokens
        .issue(&user.id, session_id, Utc::now().timestamp())
        .map_err(|e| ApiError::Internal(anyhow::anyhow!(e)))?;
    Ok(Tokens {
        access_token: access,
        refresh_token: refresh,
        expires_in: sa::ACCESS_SECONDS,
        username: user.username.clone(),
        role: user.role.clone(),
    })
}

/// Sign-in: 401 for a wrong name or password (the same answer for both), 429 after repeated failures for the
/// account from the same client address or for the address, and 429 at once when every password hasher is
/// busy for longer than a moment.
pub async fn sign_in(
    state: &AppState,
    username: &str,
    password: &str,
    client_addr: Option<String>,
) -> Result<Tokens, ApiError> {
    if username.chars().count() > 100 || password.len() > 1000 {
        return Err(ApiError::Unauthorized("wrong username or password".into()));
    }
    let address = client_addr.as_deref().unwrap_or("-");
    let account_key = format!("user:{}@{address}", username.to_lowercase());
    let address_key = format!("addr:{address}");
    state.throttle.reserve(&[
        (&account_key, MAX_FAILURES_PER_ACCOUNT_AND_ADDRESS),
        (&address_key, MAX_FAILURES_PER_ADDRESS),
    ])?;
    let Ok(Ok(_hasher)) =
        tokio::time::timeout(HASHER_WAIT, state.hashing.clone().acquire_owned()).await
    else {
        state.throttle.release(&[&account_key, &address_key]);
        return Err(ApiError::TooManyRequests(1));
    };
    let name = username.to_string();
    let user = state
        .store
        .read(move |conn| st::user_by_name(conn, &name))
        .await?;
    let pw = password.to_string();
    let ok = match &user {
        Some(u) if u.active => {
            let hash = u.password_hash.clone();
            tokio::task::spawn_blocking(move || sa::verify_password(&pw, &hash))
                .await
                .unwrap_or(false)
        }
        _ => {
            // Spend the same time as for a real account, so response times do not reveal which names exist.
            let _ = tokio::task::spawn_blocking(move || sa::hash_password(&pw)).await;
            false
        }
    };
    let Some(user) = user.clone().filter(|_| ok) else {
        // The audit names the account only when it exists: a username field can hold a mistyped password.
        let name = user.map_or_else(|| "(unknown account)".to_string(), |u| u.username);
        let addr = client_addr.clone();
        state
            .store
            .write(move |conn| {
                super::audit::record(
                    conn,
                    super::audit::Actor::SigningIn {
                        name: &name,
                        client_addr: addr.as_deref(),
                    },
                    "sign-in failed",
                    None,
                    None,
                )
            })
            .await?;
        return Err(ApiError::Unauthorized("wrong username or password".into()));
    };
    state.throttle.succeeded(&account_key, &address_key);
    let refresh = auth::random_id(48);
    let session = SessionRow {
        id: auth::random_id(20),
        user_id: user.id.clone(),
        refresh_hash: sa::hash_refresh(&refresh),
        created_at: now(),
        expires_at: now() + TimeDelta::days(sa::REFRESH_DAYS).min(state.session_lifetime),
        client_addr: client_addr.clone(),
    };
    let (s, u) = (session.clone(), user.clone());
    state
        .store
        .write(move |conn| {
            st::insert_session(conn, &s)?;
            super::audit::record(
                conn,
                super::audit::Actor::SigningIn {
                    name: &u.username.clone(),
                    client_addr: s.client_addr.clone().as_deref(),
                },
                "sign-in",
                None,
                None,
            )
        })
        .await?;
    tokens(state, &user, &session.id, refresh)
}

/// How long a sign-in waits for a free password hasher before it is told to retry.
const HASHER_WAIT: std::time::Duration = std::time::Duration::from_millis(500);

/// Renews a session: the refresh token is single-use (rotated), the account must still be active, and the
/// session ends at its absolute lifetime whatever is refreshed. A token used twice means that two parties
/// hold the session, one of them a thief: the whole session is revoked, whoever refreshed first.
pub async fn refresh(
    state: &AppState,
    refresh_token: &str,
    client_addr: Option<String>,
) -> Result<Tokens, ApiError> {
    let old = sa::hash_refresh(refresh_token);
    let new_token = auth::random_id(48);
    let new = sa::hash_refresh(&new_token);
    let lifetime = state.session_lifetime;
    let found = state
        .store
        .write(move |conn| -> Result<_, StoreError> {
            let Some(session) = st::session_by_refresh(conn, &old)? else {
                if let Some(sid) = st::session_of_spent(conn, &old)? {
                    if let Some(s) = st::session(conn, &sid)? {
                        let actor = st::user(conn, &s.user_id)?
                            .map_or_else(|| s.user_id.clone(), |u| u.username);
                        st::delete_session(conn, &sid)?;
                        super::audit::record(
                            conn,
                            super::audit::Actor::SigningIn {
                                name: &actor,
                                client_addr: client_addr.as_deref(),
                            },
                            "session revoked: refresh token reused",
                            None,
                            None,
                        )?;
                    }
                }
                return Ok(None);
            };
            let Some(user) = st::user(conn, &session.user_id)?.filter(|u| u.active) else {
                return Ok(None);
            };
            let now = now();
            let ends = session.created_at + lifetime;
            let expires = (now + TimeDelta::days(sa::REFRESH_DAYS)).min(ends);
            if session.expires_at < now
                || ends <= now
                || !st::rotate_refresh(conn, &session.id, &old, &new, expires, now)?
            {
                return Ok(None);
            }
            Ok(Some((user, session.id)))
        })
        .await?;
    let (user, sid) =
        found.ok_or_else(|| ApiError::Unauthorized("the refresh token is not valid".into()))?;
    tokens(state, &user, &sid, new_token)
}

/// The caller of a staff route, from `Authorization: Bearer <access token>`.
pub async fn authenticate(
    state: &AppState,
    bearer: Option<&str>,
    client_addr: Option<String>,
) -> Result<Principal, ApiError> {
    let token = bearer.ok_or_else(|| {
        ApiError::Unauthorized("a staff access token is required (Authorization: Bearer …)".into())
    })?;
    let claims = state
        .tokens
        .verify(token)
        .map_err(|_| ApiError::Unauthorized("the access token is not valid".into()))?;
    let (uid, sid) = (claims.sub.clone(), claims.sid.clone());
    let found = state
        .store
        .read(move |conn| Ok((st::user(conn, &uid)?, st::session(conn, &sid)?)))
        .await?;
    match found {
        (Some(user), Some(session))
            if user.active && session.user_id == user.id && session.expires_at >= now() =>
        {
            Ok(Principal {
                departments: user.departments(),
                role: Role::parse(&user.role).ok_or_else(|| {
                    ApiError::Internal(anyhow::anyhow!("user {} has role {}", user.id, user.role))
                })?,
                user_id: user.id,
                username: user.username,
                jurisdiction_id: user.jurisdiction_id,
                session_id: session.id,
                client_addr,
            })
        }
        _ => Err(ApiError::Unauthorized(
            "the session has ended or the account is disabled".into(),
        )),
    }
}

pub async fn sign_out(state: &AppState, p: &Principal) -> Result<(), ApiError> {
    let p = p.clone();
    Ok(state
        .store
        .write(move |conn| {
            st::delete_session(conn, &p.session_id)?;
            audit(conn, &p, "sign-out", None, None)
        })
        .await?)
}

/// The default status vocabulary, for jurisdictions that import none: each detailed status and whether it
/// means the report is closed (GEOREPORT_V2 §3.9).
pub const DEFAULT_STATUSES: &[(&str, &str, bool)] = &[
    ("open", "Open", false),
    ("acknowledged", "Acknowledged", false),
    ("investigating", "Investigating", false),
    ("in_progress", "In progress", false),
    ("action_scheduled", "Action scheduled", false),
    ("reopen", "Reopened", false),
    ("fixed", "Fixed", true),
    ("closed", "Closed", true),
    ("duplicate", "Duplicate", true),
    ("not_responsible", "Not our responsibility", true),
    ("no_further_action", "No further action", true),
    ("cancelled", "Cancelled", true),
];

/// (code, name, closed) of a jurisdiction's vocabulary: its own, or the default.
pub fn vocabulary(
    conn: &mut AnyConnection,
    jurisdiction_id: &str,
) -> Result<Vec<(String, String, bool)>, StoreError> {
    let own = crate::store::catalog::statuses(conn, jurisdiction_id)?;
    if own.is_empty() {
        return Ok(DEFAULT_STATUSES
            .iter()
            .map(|(c, n, x)| (c.to_string(), n.to_string(), *x))
            .collect());
    }
    Ok(own
        .into_iter()
        .map(|r| (r.code, r.name, r.closed))
        .collect())
}

/// The vocabulary of the caller's jurisdiction (an administrator names one, or gets the first).
pub async fn statuses(
    state: &AppState,
    p: &Principal,
    jurisdiction_id: Option<String>,
) -> Result<Vec<(String, String, bool)>, ApiError> {
    let j = match (&p.jurisdiction_id, jurisdiction_id) {
        (Some(own), _) => Some(own.clone()),
        (None, Some(j)) => Some(j),
        (None, None) => None,
    };
    let j = super::resolve_jurisdiction(state, j.as_deref()).await?;
    Ok(state
        .store
        .read(move |conn| vocabulary(conn, &j.id))
        .await?)
}

/// A report with everything staff may see.
pub struct StaffView {
    pub request: RequestRow,
    pub deliveries: Vec<DeliveryRow>,
    pub events: Vec<EventRow>,
    pub duplicates: i64,
}

async fn in_scope(state: &AppState, p: &Principal, id: i64) -> Result<RequestRow, ApiError> {
    let row = state.store.read(move |conn| rq::get_any(conn, id)).await?;
    row.filter(|r| p.sees(r))
        .ok_or_else(|| ApiError::NotFound(format!("service_request_id '{id}' not found")))
}

/// Reports in the caller's scope, newest first; staff see hidden ones too, filtered by `hidden` when given.
pub async fn list(
    state: &AppState,
    p: &Principal,
    mut f: StaffFilter,
) -> Result<Vec<RequestRow>, ApiError> {
    // The caller's scope is part of the query, so that paging counts only what the caller may see.
    match p.role {
        Role::Admin => {}
        Role::Dispatcher => f.jurisdiction_id = p.jurisdiction_id.clone(),
        Role::Staff => {
            f.jurisdiction_id = p.jurisdiction_id.clone();
            f.departments = Some(p.departments.clone());
        }
    }
    let p2 = p.clone();
    let rows = state
        .store
        .read(move |conn| rq::list_staff(conn, &f))
        .await?;
    Ok(rows.into_iter().filter(|r| p2.sees(r)).collect())
}

pub use crate::store::requests::StaffFilter;

/// One report with contact details, trace, deliveries and history. Reading it is audited (it shows a
/// reporter's personal data).
pub async fn get(state: &AppState, p: &Principal, id: i64) -> Result<StaffView, ApiError> {
    let request = in_scope(state, p, id).await?;
    let p2 = p.clone();
    let (deliveries, events, duplicates) = state
        .store
        .write(move |conn| -> Result<_, StoreError> {
            audit(
                conn,
                &p2,
                "read report",
                Some(format!("request {id}")),
                Some("contact details shown".into()),
            )?;
            Ok((
                dl::of_request(conn, id)?,
                dl::events_of(conn, id)?,
                rq::count_duplicates(conn, id)?,
            ))
        })
        .await?;
    Ok(StaffView {
        request,
        deliveries,
        events,
        duplicates,
    })
}

/// One staff change to a report: a history event (public or internal) and an audit entry, written in the
/// caller's transaction. It also moves `updated_datetime`: every staff change does, so that sync clients look
/// again.
struct Change<'a> {
    /// The history entry's action; public ones named "status" or "duplicate" show as status changes.
    event: &'a str,
    /// The audit log's action.
    audit: &'a str,
    detail: Option<String>,
    public: bool,
    /// The detailed status after the change (public events carry it for the updates feed).
    status: Option<String>,
    audit_detail: Option<String>,
}

fn record(conn: &mut AnyConnection, p: &Principal, id: i64, c: Change) -> Result<(), StoreError> {
    dl::insert_event(
        conn,
        &EventRow {
            id: auth::sortable_id(),
            request_id: id,
            at: now(),
            actor: p.username.clone(),
            action: c.event.into(),
            detail: c.detail,
            public: c.public,
            status: c.status,
            external_id: None,
        },
    )?;
    rq::touch(conn, id, now())?;
    audit(
        conn,
        p,
        c.audit,
        Some(format!("request {id}")),
        c.audit_detail,
    )
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
    let request = in_scope(state, p, id).await?;
    let (p, status) = (p.clone(), status.to_string());
    state
        .store
        .write(move |conn| -> Result<_, ApiError> {
            recheck(conn, &p, id)?;
            let vocabulary = vocabulary(conn, &request.jurisdiction_id)?;
            let Some((code, _, closed)) = vocabulary.iter().find(|(c, ..)| *c == status) else {
                let known: Vec<&str> = vocabulary.iter().map(|(c, ..)| c.as_str()).collect();
                return Err(ApiError::invalid(
                    "status",
                    format!("status must be one of {}", known.join(", ")),
                ));
            };
            let core = if *closed { "closed" } else { "open" };
            rq::set_status(conn, id, core, code, notes.as_deref(), now())?;
            let change = Change {
                event: "status",
                audit: "set status",
                detail: notes.clone(),
                public: true,
                status: Some(code.clone()),
                audit_detail: Some(code.clone()),
            };
            record(conn, &p, id, change)?;
            Ok(())
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
    in_scope(state, p, id).await?;
    let p = p.clone();
    state
        .store
        .write(move |conn| -> Result<_, ApiError> {
            recheck(conn, &p, id)?;
            rq::set_priority(conn, id, priority, now())?;
            let change = Change {
                event: "priority",
                audit: "set priority",
                detail: Some(priority.to_string()),
                public: false,
                status: None,
                audit_detail: Some(priority.to_string()),
            };
            Ok(record(conn, &p, id, change)?)
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
    let report = in_scope(state, p, id).await?;
    let master_row = in_scope(state, p, master).await?;
    if master_row.jurisdiction_id != report.jurisdiction_id || master_row.hidden {
        // A hidden master's id would become public as parent_service_request_id.
        return Err(ApiError::invalid(
            "of",
            format!("report {master} cannot be a master: it is hidden or in another jurisdiction"),
        ));
    }
    let p = p.clone();
    state
        .store
        .write(move |conn| -> Result<_, ApiError> {
            recheck(conn, &p, id)?;
            recheck(conn, &p, master)?;
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
            let change = Change {
                event: "duplicate",
                audit: "mark duplicate",
                detail: Some(notes),
                public: true,
                status: Some("duplicate".into()),
                audit_detail: Some(format!("of {master}")),
            };
            record(conn, &p, id, change)?;
            rq::touch(conn, master, now())?;
            Ok(())
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
    let request = in_scope(state, p, id).await?;
    // A public update carries the report's current status, so that the updates feed never implies a change.
    let current = public.then(|| request.detailed_status.clone());
    let (p, text) = (p.clone(), text.to_string());
    state
        .store
        .write(move |conn| -> Result<_, ApiError> {
            recheck(conn, &p, id)?;
            let action = if public {
                "public update"
            } else {
                "internal note"
            };
            let change = Change {
                event: action,
                audit: action,
                detail: Some(text),
                public,
                status: current,
                audit_detail: None,
            };
            Ok(record(conn, &p, id, change)?)
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
    in_scope(state, p, id).await?;
    let p = p.clone();
    state
        .store
        .write(move |conn| -> Result<_, ApiError> {
            recheck(conn, &p, id)?;
            rq::set_hidden(conn, id, hidden, now())?;
            if hidden {
                dl::cancel_waiting(conn, id, now())?;
            }
            let change = Change {
                event: if hidden { "hidden" } else { "unhidden" },
                audit: if hidden { "hide" } else { "unhide" },
                detail: None,
                public: false,
                status: None,
                audit_detail: None,
            };
            Ok(record(conn, &p, id, change)?)
        })
        .await
}

/// Publishes a report held for review: from now on it is in every public answer, and its token answers
/// with its id. Publishing a public report changes nothing (false).
pub async fn publish(state: &AppState, p: &Principal, id: i64) -> Result<bool, ApiError> {
    in_scope(state, p, id).await?;
    let p = p.clone();
    state
        .store
        .write(move |conn| -> Result<_, ApiError> {
            recheck(conn, &p, id)?;
            if !rq::publish(conn, id, now())? {
                return Ok(false);
            }
            let change = Change {
                event: "published",
                audit: "publish",
                detail: None,
                public: false,
                status: None,
                audit_detail: None,
            };
            record(conn, &p, id, change)?;
            Ok(true)
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
    in_scope(state, p, id).await?;
    super::routing::reroute_as(
        state,
        id,
        Some(department.to_string()),
        &p.username,
        why,
        Some(p.clone()),
    )
    .await?;
    Ok(())
}

pub async fn audit_log(
    state: &AppState,
    p: &Principal,
    actor: Option<String>,
    target: Option<String>,
) -> Result<Vec<AuditRow>, ApiError> {
    p.require_admin()?;
    Ok(state
        .store
        .read(move |conn| st::audit(conn, actor.as_deref(), target.as_deref(), 1000))
        .await?)
}

/// Creates a staff account (the command line's `civic311 user create`, and administrators over the API).
pub fn create_user(
    conn: &mut AnyConnection,
    username: &str,
    display_name: &str,
    password_hash: &str,
    role: &str,
    jurisdiction: Option<&str>,
    departments: &[String],
) -> Result<UserRow, ApiError> {
    let Some(parsed) = Role::parse(role) else {
        return Err(ApiError::invalid(
            "user",
            format!("role must be admin, dispatcher or staff, not {role}"),
        ));
    };
    if username.trim().is_empty()
        || username
            .chars()
            .any(|c| c.is_whitespace() || c.is_control())
        || username.chars().count() > 100
    {
        return Err(ApiError::invalid(
            "user",
            "a username is 1 to 100 characters without spaces",
        ));
    }
    if display_name.trim().is_empty()
        || display_name.chars().count() > 200
        || display_name.chars().any(char::is_control)
    {
        return Err(ApiError::invalid(
            "user",
            "display_name is 1 to 200 characters on one line",
        ));
    }
    if parsed != Role::Admin && jurisdiction.is_none() {
        return Err(ApiError::invalid(
            "user",
            "dispatchers and staff belong to a jurisdiction (--jurisdiction)",
        ));
    }
    if parsed == Role::Staff && departments.is_empty() {
        return Err(ApiError::invalid(
            "user",
            "staff members belong to at least one department (--department)",
        ));
    }
    // A mistyped jurisdiction or department would make an account that silently sees nothing.
    if let Some(j) = jurisdiction {
        if crate::store::catalog::jurisdiction_row(conn, j)?.is_none() {
            return Err(ApiError::invalid(
                "user",
                format!("jurisdiction {j} does not exist"),
            ));
        }
        for d in departments {
            if crate::store::routing::department(conn, j, d)?.is_none() {
                return Err(ApiError::invalid(
                    "user",
                    format!("department {d} does not exist in {j}"),
                ));
            }
        }
    }
    if st::user_by_name(conn, username)?.is_some() {
        return Err(ApiError::invalid(
            "user",
            format!("user {username} exists already"),
        ));
    }
    let row = UserRow {
        id: auth::random_id(16),
        username: username.into(),
        display_name: display_name.into(),
        password_hash: password_hash.into(),
        role: role.into(),
        jurisdiction_id: jurisdiction.map(Into::into),
        departments_json: serde_json::to_string(departments).unwrap_or_else(|_| "[]".into()),
        active: true,
        created_at: now(),
        updated_at: now(),
    };
    st::insert_user(conn, &row)?;
    Ok(row)
}

/// Checks a new password and hashes it (slow on purpose: call it outside any transaction).
pub fn prepare_password(password: &str) -> Result<String, String> {
    sa::check_password_strength(password)?;
    sa::hash_password(password)
}

/// Disables or re-enables an account; disabling ends its sessions at once.
pub async fn set_user_active(
    state: &AppState,
    p: &Principal,
    user_id: &str,
    active: bool,
) -> Result<(), ApiError> {
    p.require_admin()?;
    let (p, uid) = (p.clone(), user_id.to_string());
    let n = state
        .store
        .write(move |conn| -> Result<_, StoreError> {
            let n = st::set_active(conn, &uid, active, now())?;
            if n > 0 {
                if !active {
                    st::delete_sessions_of(conn, &uid)?;
                }
                audit(
                    conn,
                    &p,
                    if active {
                        "enable user"
                    } else {
                        "disable user"
                    },
                    Some(format!("user {uid}")),
                    None,
                )?;
            }
            Ok(n)
        })
        .await?;
    if n == 0 {
        return Err(ApiError::NotFound(format!("user '{user_id}' not found")));
    }
    Ok(())
}

pub async fn users(state: &AppState, p: &Principal) -> Result<Vec<UserRow>, ApiError> {
    p.require_admin()?;
    let p2 = p.clone();
    Ok(state
        .store
        .write(move |conn| {
            audit(conn, &p2, "list users", None, None)?;
            st::users(conn)
        })
        .await?)
}

pub async fn new_user(state: &AppState, p: &Principal, u: NewUser) -> Result<UserRow, ApiError> {
    p.require_admin()?;
    let password = u.password.clone();
    let hash = tokio::task::spawn_blocking(move || prepare_password(&password))
        .await
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("hashing task failed: {e}")))?
        .map_err(|e| ApiError::invalid("password", e))?;
    let p2 = p.clone();
    let created = state
        .store
        .write(move |conn| -> Result<_, ApiError> {
            let row = create_user(
                conn,
                &u.username,
                &u.display_name,
                &hash,
                &u.role,
                u.jurisdiction.as_deref(),
                &u.departments,
            )?;
            audit(
                conn,
                &p2,
                "create user",
                Some(format!("user {}", row.id)),
                Some(format!("{} ({})", row.username, row.role)),
            )?;
            Ok(row)
        })
        .await;
    created
}

pub struct NewUser {
    pub username: String,
    pub display_name: String,
    pub password: String,
    pub role: String,
    pub jurisdiction: Option<String>,
    pub departments: Vec<String>,
}

/// API keys over the API (administrators): list, create (the key is shown once), revoke.
pub async fn api_keys(
    state: &AppState,
    p: &Principal,
) -> Result<Vec<crate::store::api_keys::ApiKeyRow>, ApiError> {
    p.require_admin()?;
    Ok(state.store.read(crate::store::api_keys::list).await?)
}

pub async fn create_api_key(
    state: &AppState,
    p: &Principal,
    name: &str,
    kind: &str,
    jurisdiction_id: Option<&str>,
    rate_limit: Option<&str>,
) -> Result<(crate::store::api_keys::ApiKeyRow, String), ApiError> {
    p.require_admin()?;
    let rate_limit = rate_limit
        .map(|r| {
            r.parse::<crate::limits::RateSetting>()
                .map(|r| r.to_string())
                .map_err(|e| ApiError::invalid("rate_limit", e))
        })
        .transpose()?;
    use crate::store::api_keys::{ApiKeyKind, ApiKeyRow};
    let kind = ApiKeyKind::parse(kind)
        .ok_or_else(|| ApiError::invalid("kind", format!("kind is {}", ApiKeyKind::CHOICES)))?;
    // A back-office key may update the reports of one jurisdiction only.
    let jurisdiction = match kind {
        ApiKeyKind::Backoffice => Some(
            super::resolve_jurisdiction(state, jurisdiction_id)
                .await?
                .id,
        ),
        _ => None,
    };
    crate::domain::check_text("name", name, 200, false)?;
    if name.trim().is_empty() {
        return Err(ApiError::invalid("name", "name must not be empty"));
    }
    let key = auth::generate_api_key();
    let row = ApiKeyRow::new(
        name,
        kind,
        auth::hash_api_key(&key),
        jurisdiction,
        rate_limit,
        false,
    );
    let (p, r) = (p.clone(), row.clone());
    let created = state
        .store
        .write(move |conn| match crate::store::api_keys::insert(conn, &r) {
            Ok(()) => {
                audit(
                    conn,
                    &p,
                    "create api key",
                    Some(format!("api key {}", r.id)),
                    Some(format!("{} ({})", r.name, r.kind)),
                )?;
                Ok(true)
            }
            Err(e) if e.is_unique_violation() => Ok(false),
            Err(e) => Err(e),
        })
        .await?;
    if !created {
        return Err(ApiError::invalid(
            "name",
            format!("an API key named '{name}' exists already"),
        ));
    }
    Ok((row, key))
}

pub async fn revoke_api_key(state: &AppState, p: &Principal, id: &str) -> Result<(), ApiError> {
    p.require_admin()?;
    let (p, id) = (p.clone(), id.to_string());
    let version = state
        .store
        .write(move |conn| -> Result<_, StoreError> {
            let (n, version) = crate::store::api_keys::revoke(conn, &id, now())?;
            if n > 0 {
                audit(
                    conn,
                    &p,
                    "revoke api key",
                    Some(format!("api key {id}")),
                    None,
                )?;
            }
            Ok(version)
        })
        .await?;
    let Some(version) = version else {
        return Err(ApiError::NotFound("no active API key with that id".into()));
    };
    // The key stops working here at once (the key cache is keyed by this epoch).
    state.store.catalog_changed_to(version);
    Ok(())
}

/// Changes to an account, by an administrator. A new role, scope or password ends the account's sessions, so
/// that it takes effect at once.
#[derive(Debug, Default)]
pub struct UserChange {
    pub display_name: Option<String>,
    pub role: Option<String>,
    pub jurisdiction_id: Option<String>,
    pub departments: Option<Vec<String>>,
    pub password: Option<String>,
}

pub async fn update_user(
    state: &AppState,
    p: &Principal,
    user_id: &str,
    change: UserChange,
) -> Result<UserRow, ApiError> {
    p.require_admin()?;
    let hash = match change.password.clone() {
        Some(pw) => Some(
            tokio::task::spawn_blocking(move || prepare_password(&pw))
                .await
                .map_err(|e| ApiError::Internal(anyhow::anyhow!("hashing task failed: {e}")))?
                .map_err(|e| ApiError::invalid("password", e))?,
        ),
        None => None,
    };
    let (p, uid) = (p.clone(), user_id.to_string());
    state
        .store
        .write(move |conn| -> Result<_, ApiError> {
            let Some(current) = st::user(conn, &uid)? else {
                return Err(ApiError::NotFound(format!("user '{uid}' not found")));
            };
            let role = change.role.clone().unwrap_or_else(|| current.role.clone());
            let Some(parsed) = Role::parse(&role) else {
                return Err(ApiError::invalid(
                    "role",
                    "role must be admin, dispatcher or staff",
                ));
            };
            let jurisdiction = match parsed {
                Role::Admin => None,
                _ => change
                    .jurisdiction_id
                    .clone()
                    .or(current.jurisdiction_id.clone()),
            };
            let departments = match parsed {
                Role::Staff => change
                    .departments
                    .clone()
                    .unwrap_or_else(|| current.departments()),
                _ => Vec::new(),
            };
            if parsed != Role::Admin && jurisdiction.is_none() {
                return Err(ApiError::invalid(
                    "jurisdiction_id",
                    "dispatchers and staff belong to a jurisdiction",
                ));
            }
            if parsed == Role::Staff && departments.is_empty() {
                return Err(ApiError::invalid(
                    "departments",
                    "staff members belong to at least one department",
                ));
            }
            if let Some(j) = &jurisdiction {
                if crate::store::catalog::jurisdiction_row(conn, j)?.is_none() {
                    return Err(ApiError::invalid(
                        "jurisdiction_id",
                        format!("jurisdiction {j} does not exist"),
                    ));
                }
                for d in &departments {
                    if crate::store::routing::department(conn, j, d)?.is_none() {
                        return Err(ApiError::invalid(
                            "departments",
                            format!("department {d} does not exist in {j}"),
                        ));
                    }
                }
            }
            if let Some(name) = &change.display_name {
                if name.trim().is_empty() || name.chars().count() > 200 {
                    return Err(ApiError::invalid(
                        "display_name",
                        "display_name is 1 to 200 characters",
                    ));
                }
            }
            let departments_json =
                serde_json::to_string(&departments).unwrap_or_else(|_| "[]".into());
            let scope_changed = role != current.role
                || jurisdiction != current.jurisdiction_id
                || departments_json != current.departments_json;
            let updated = UserRow {
                display_name: change
                    .display_name
                    .clone()
                    .unwrap_or_else(|| current.display_name.clone()),
                role: role.clone(),
                jurisdiction_id: jurisdiction.clone(),
                departments_json: departments_json.clone(),
                password_hash: hash
                    .clone()
                    .unwrap_or_else(|| current.password_hash.clone()),
                updated_at: now(),
                ..current.clone()
            };
            st::update_user(conn, &updated)?;
            if scope_changed || hash.is_some() {
                st::delete_sessions_of(conn, &uid)?;
            }
            let what: Vec<&str> = [
                change.display_name.as_ref().map(|_| "display name"),
                scope_changed.then_some("role or scope"),
                hash.as_ref().map(|_| "password"),
            ]
            .into_iter()
            .flatten()
            .collect();
            audit(
                conn,
                &p,
                "update user",
                Some(format!("user {uid}")),
                Some(what.join(", ")),
            )?;
            st::user(conn, &uid)?
                .ok_or_else(|| ApiError::NotFound(format!("user '{uid}' not found")))
        })
        .await
}
