//! Staff accounts (administrators over the API, operators at the command line) and the audit log.

use super::views::{Account, AuditEntry};
use super::{now, Admin, Role};
use crate::app::audit::{record, Actor};
use crate::app::AppState;
use crate::auth::{self, staff as sa};
use crate::error::ApiError;
use crate::store::staff::{self as st, UserRow};
use crate::store::{catalog, routing as rs, AnyConnection, StoreError};

/// A new account as asked for.
pub struct NewUser {
    pub username: String,
    pub display_name: String,
    pub role: String,
    pub jurisdiction: Option<String>,
    pub departments: Vec<String>,
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

fn parse_role(field: &str, role: &str) -> Result<Role, ApiError> {
    Role::parse(role).ok_or_else(|| {
        ApiError::invalid(field, format!("role must be {}, not {role}", Role::CHOICES))
    })
}

fn check_display_name(field: &str, name: &str) -> Result<(), ApiError> {
    if name.trim().is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
        return Err(ApiError::invalid(
            field,
            "display_name is 1 to 200 characters on one line",
        ));
    }
    Ok(())
}

/// The scope a role needs, and that it names what exists: a mistyped jurisdiction or department would make an
/// account that silently sees nothing. `fields`: the names of the jurisdiction and departments in errors.
fn check_scope(
    conn: &mut AnyConnection,
    role: Role,
    jurisdiction: Option<&str>,
    departments: &[String],
    fields: (&str, &str),
) -> Result<(), ApiError> {
    if role != Role::Admin && jurisdiction.is_none() {
        return Err(ApiError::invalid(
            fields.0,
            "dispatchers, staff and intake clerks belong to a jurisdiction (jurisdiction_id; --jurisdiction at the command line)",
        ));
    }
    if role == Role::Staff && departments.is_empty() {
        return Err(ApiError::invalid(
            fields.1,
            "staff members belong to at least one department (departments; --department at the command line)",
        ));
    }
    if let Some(j) = jurisdiction {
        if catalog::jurisdiction_row(conn, j)?.is_none() {
            return Err(ApiError::invalid(
                fields.0,
                format!("jurisdiction {j} does not exist"),
            ));
        }
        for d in departments {
            if rs::department(conn, j, d)?.is_none() {
                return Err(ApiError::invalid(
                    fields.1,
                    format!("department {d} does not exist in {j}"),
                ));
            }
        }
    }
    Ok(())
}

/// Creates a staff account in the caller's transaction and audits it: the command line's `civic311 user
/// create` and administrators over the API. `password_hash` comes from `prepare_password`.
pub fn create_user(
    conn: &mut AnyConnection,
    by: Actor<'_>,
    u: &NewUser,
    password_hash: &str,
) -> Result<Account, ApiError> {
    let role = parse_role("user", &u.role)?;
    let username = &u.username;
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
    check_display_name("user", &u.display_name)?;
    check_scope(
        conn,
        role,
        u.jurisdiction.as_deref(),
        &u.departments,
        ("user", "user"),
    )?;
    if st::user_by_name(conn, username)?.is_some() {
        return Err(ApiError::invalid(
            "user",
            format!("user {username} exists already"),
        ));
    }
    let row = UserRow {
        id: auth::random_id(16),
        username: username.clone(),
        display_name: u.display_name.clone(),
        password_hash: password_hash.into(),
        role: role.as_str().into(),
        jurisdiction_id: u.jurisdiction.clone(),
        departments_json: serde_json::to_string(&u.departments).unwrap_or_else(|_| "[]".into()),
        active: true,
        created_at: now(),
        updated_at: now(),
    };
    st::insert_user(conn, &row)?;
    record(
        conn,
        by,
        "create user",
        Some(format!("user {}", row.id)),
        Some(format!("{} ({})", row.username, row.role)),
    )?;
    Account::try_from(&row)
}

/// Checks a new password and hashes it (slow on purpose: call it outside any transaction).
pub fn prepare_password(password: &str) -> Result<String, String> {
    sa::check_password_strength(password)?;
    sa::hash_password(password)
}

async fn hash_off_thread(password: String) -> Result<String, ApiError> {
    crate::telemetry::spawn_blocking(move || prepare_password(&password))
        .await
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("hashing task failed: {e}")))?
        .map_err(|e| ApiError::invalid("password", e))
}

pub async fn new_user(
    state: &AppState,
    admin: &Admin,
    u: NewUser,
    password: String,
) -> Result<Account, ApiError> {
    let hash = hash_off_thread(password).await?;
    let admin = admin.clone();
    state
        .store
        .write(move |conn| create_user(conn, Actor::Staff(&admin), &u, &hash))
        .await
}

pub async fn users(state: &AppState, admin: &Admin) -> Result<Vec<Account>, ApiError> {
    let admin = admin.clone();
    state
        .store
        .write(move |conn| -> Result<_, ApiError> {
            record(conn, Actor::Staff(&admin), "list users", None, None)?;
            st::users(conn)?.iter().map(Account::try_from).collect()
        })
        .await
}

/// Disables or re-enables an account; disabling ends its sessions at once.
pub async fn set_user_active(
    state: &AppState,
    admin: &Admin,
    user_id: &str,
    active: bool,
) -> Result<(), ApiError> {
    let (admin, uid) = (admin.clone(), user_id.to_string());
    let n = state
        .store
        .write(move |conn| -> Result<_, StoreError> {
            let n = st::set_active(conn, &uid, active, now())?;
            if n > 0 {
                if !active {
                    st::delete_sessions_of(conn, &uid)?;
                }
                let action = if active {
                    "enable user"
                } else {
                    "disable user"
                };
                record(
                    conn,
                    Actor::Staff(&admin),
                    action,
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

pub async fn update_user(
    state: &AppState,
    admin: &Admin,
    user_id: &str,
    change: UserChange,
) -> Result<Account, ApiError> {
    let hash = match change.password.clone() {
        Some(pw) => Some(hash_off_thread(pw).await?),
        None => None,
    };
    let (admin, uid) = (admin.clone(), user_id.to_string());
    state
        .store
        .write(move |conn| -> Result<_, ApiError> {
            let Some(current) = st::user(conn, &uid)? else {
                return Err(ApiError::NotFound(format!("user '{uid}' not found")));
            };
            let role = parse_role("role", change.role.as_deref().unwrap_or(&current.role))?;
            let jurisdiction = match role {
                Role::Admin => None,
                _ => change
                    .jurisdiction_id
                    .clone()
                    .or(current.jurisdiction_id.clone()),
            };
            let departments = match role {
                Role::Staff => change
                    .departments
                    .clone()
                    .unwrap_or_else(|| current.departments()),
                _ => Vec::new(),
            };
            check_scope(
                conn,
                role,
                jurisdiction.as_deref(),
                &departments,
                ("jurisdiction_id", "departments"),
            )?;
            if let Some(name) = &change.display_name {
                check_display_name("display_name", name)?;
            }
            let departments_json =
                serde_json::to_string(&departments).unwrap_or_else(|_| "[]".into());
            let scope_changed = role.as_str() != current.role
                || jurisdiction != current.jurisdiction_id
                || departments_json != current.departments_json;
            let updated = UserRow {
                display_name: change
                    .display_name
                    .clone()
                    .unwrap_or_else(|| current.display_name.clone()),
                role: role.as_str().into(),
                jurisdiction_id: jurisdiction,
                departments_json,
                password_hash: hash
                    .clone()
                    .unwrap_or_else(|| current.password_hash.clone()),
                updated_at: now(),
                ..current
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
            record(
                conn,
                Actor::Staff(&admin),
                "update user",
                Some(format!("user {uid}")),
                Some(what.join(", ")),
            )?;
            Account::try_from(&updated)
        })
        .await
}

/// The newest 1,000 audit entries, by actor and target when given.
pub async fn audit_log(
    state: &AppState,
    _admin: &Admin,
    actor: Option<String>,
    target: Option<String>,
) -> Result<Vec<AuditEntry>, ApiError> {
    let rows = state
        .store
        .read(move |conn| st::audit(conn, actor.as_deref(), target.as_deref(), 1000))
        .await?;
    Ok(rows.into_iter().map(AuditEntry::from).collect())
}
