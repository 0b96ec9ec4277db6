//! Staff accounts, their sessions and the audit log.

use super::schema::{audit_log, staff_sessions, staff_spent_refresh, staff_users};
use super::{AnyConnection, StoreError};
use chrono::NaiveDateTime;
use diesel::prelude::*;

#[derive(Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = staff_users, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct UserRow {
    pub id: String,
    pub username: String,
    pub display_name: String,
    pub password_hash: String,
    pub role: String,
    pub jurisdiction_id: Option<String>,
    pub departments_json: String,
    pub active: bool,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

impl std::fmt::Debug for UserRow {
    /// Never prints the password hash.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserRow")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

impl UserRow {
    pub fn departments(&self) -> Vec<String> {
        serde_json::from_str(&self.departments_json).unwrap_or_default()
    }
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = staff_sessions, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct SessionRow {
    pub id: String,
    pub user_id: String,
    pub refresh_hash: String,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub client_addr: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = audit_log, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct AuditRow {
    pub id: String,
    pub at: NaiveDateTime,
    pub actor: String,
    pub action: String,
    pub target: Option<String>,
    pub detail: Option<String>,
    pub client_addr: Option<String>,
}

pub fn insert_user(conn: &mut AnyConnection, row: &UserRow) -> Result<(), StoreError> {
    diesel::insert_into(staff_users::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

pub fn user(conn: &mut AnyConnection, id: &str) -> Result<Option<UserRow>, StoreError> {
    Ok(staff_users::table
        .find(id)
        .select(UserRow::as_select())
        .first(conn)
        .optional()?)
}

pub fn user_by_name(
    conn: &mut AnyConnection,
    username: &str,
) -> Result<Option<UserRow>, StoreError> {
    Ok(staff_users::table
        .filter(staff_users::username.eq(username))
        .select(UserRow::as_select())
        .first(conn)
        .optional()?)
}

pub fn users(conn: &mut AnyConnection) -> Result<Vec<UserRow>, StoreError> {
    let mut rows: Vec<UserRow> = staff_users::table.select(UserRow::as_select()).load(conn)?;
    rows.sort_by(|a, b| a.username.cmp(&b.username));
    Ok(rows)
}

pub fn set_active(
    conn: &mut AnyConnection,
    id: &str,
    active: bool,
    now: NaiveDateTime,
) -> Result<usize, StoreError> {
    Ok(diesel::update(staff_users::table.find(id))
        .set((
            staff_users::active.eq(active),
            staff_users::updated_at.eq(now),
        ))
        .execute(conn)?)
}

pub fn insert_session(conn: &mut AnyConnection, row: &SessionRow) -> Result<(), StoreError> {
    diesel::insert_into(staff_sessions::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

pub fn session(conn: &mut AnyConnection, id: &str) -> Result<Option<SessionRow>, StoreError> {
    Ok(staff_sessions::table
        .find(id)
        .select(SessionRow::as_select())
        .first(conn)
        .optional()?)
}

pub fn session_by_refresh(
    conn: &mut AnyConnection,
    refresh_hash: &str,
) -> Result<Option<SessionRow>, StoreError> {
    Ok(staff_sessions::table
        .filter(staff_sessions::refresh_hash.eq(refresh_hash))
        .select(SessionRow::as_select())
        .first(conn)
        .optional()?)
}

/// Rotates a session's refresh token, only if it still holds `old_hash` (a replayed old token fails), and
/// remembers the old one as spent.
pub fn rotate_refresh(
    conn: &mut AnyConnection,
    id: &str,
    old_hash: &str,
    new_hash: &str,
    expires_at: NaiveDateTime,
    now: NaiveDateTime,
) -> Result<bool, StoreError> {
    let n = diesel::update(
        staff_sessions::table
            .find(id)
            .filter(staff_sessions::refresh_hash.eq(old_hash)),
    )
    .set((
        staff_sessions::refresh_hash.eq(new_hash),
        staff_sessions::expires_at.eq(expires_at),
    ))
    .execute(conn)?;
    if n == 1 {
        diesel::insert_into(staff_spent_refresh::table)
            .values((
                staff_spent_refresh::refresh_hash.eq(old_hash),
                staff_spent_refresh::session_id.eq(id),
                staff_spent_refresh::spent_at.eq(now),
            ))
            .execute(conn)?;
    }
    Ok(n == 1)
}

/// The session a spent refresh token belonged to, while that session lives.
pub fn session_of_spent(
    conn: &mut AnyConnection,
    refresh_hash: &str,
) -> Result<Option<String>, StoreError> {
    Ok(staff_spent_refresh::table
        .find(refresh_hash)
        .select(staff_spent_refresh::session_id)
        .first(conn)
        .optional()?)
}

pub fn delete_session(conn: &mut AnyConnection, id: &str) -> Result<(), StoreError> {
    diesel::delete(staff_sessions::table.find(id)).execute(conn)?;
    Ok(())
}

pub fn delete_sessions_of(conn: &mut AnyConnection, user_id: &str) -> Result<(), StoreError> {
    diesel::delete(staff_sessions::table.filter(staff_sessions::user_id.eq(user_id)))
        .execute(conn)?;
    Ok(())
}

pub fn insert_audit(conn: &mut AnyConnection, row: &AuditRow) -> Result<(), StoreError> {
    diesel::insert_into(audit_log::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

/// The newest entries first, optionally only those of one actor or one target.
pub fn audit(
    conn: &mut AnyConnection,
    actor: Option<&str>,
    target: Option<&str>,
    limit: i64,
) -> Result<Vec<AuditRow>, StoreError> {
    let mut q = audit_log::table
        .select(AuditRow::as_select())
        .into_boxed::<<AnyConnection as diesel::Connection>::Backend>();
    if let Some(a) = actor {
        q = q.filter(audit_log::actor.eq(a.to_string()));
    }
    if let Some(t) = target {
        q = q.filter(audit_log::target.eq(t.to_string()));
    }
    Ok(q.order((audit_log::at.desc(), audit_log::id.desc()))
        .limit(limit)
        .load(conn)?)
}

/// Writes an account's changed profile (display name, role, scope, password).
pub fn update_user(conn: &mut AnyConnection, row: &UserRow) -> Result<(), StoreError> {
    diesel::update(staff_users::table.find(&row.id))
        .set((
            staff_users::display_name.eq(&row.display_name),
            staff_users::role.eq(&row.role),
            staff_users::jurisdiction_id.eq(&row.jurisdiction_id),
            staff_users::departments_json.eq(&row.departments_json),
            staff_users::password_hash.eq(&row.password_hash),
            staff_users::updated_at.eq(row.updated_at),
        ))
        .execute(conn)?;
    Ok(())
}
