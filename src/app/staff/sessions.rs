//! Sign-in, refresh, sign-out and the access check of every staff request, with the sign-in throttle.

use super::views::role_of;
use super::{now, Principal, Role};
use crate::app::audit::{record, Actor};
use crate::app::AppState;
use crate::auth::{self, staff as sa};
use crate::error::ApiError;
use crate::store::staff::{self as st, SessionRow, UserRow};
use crate::store::StoreError;
use chrono::{TimeDelta, Utc};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

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
    pub role: Role,
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
        role: role_of(user)?,
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
            crate::telemetry::spawn_blocking(move || sa::verify_password(&pw, &hash))
                .await
                .unwrap_or(false)
        }
        _ => {
            // Spend the same time as for a real account, so response times do not reveal which names exist.
            let _ = crate::telemetry::spawn_blocking(move || sa::hash_password(&pw)).await;
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
                record(
                    conn,
                    Actor::SigningIn {
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
            record(
                conn,
                Actor::SigningIn {
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
                        record(
                            conn,
                            Actor::SigningIn {
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
                role: role_of(&user)?,
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
            record(conn, Actor::Staff(&p), "sign-out", None, None)
        })
        .await?)
}

#[cfg(test)]
mod tests {
    use super::{Throttle, MAX_FAILURES_PER_ACCOUNT_AND_ADDRESS, MAX_FAILURES_PER_ADDRESS};

    fn attempt(t: &Throttle, account: &str, address: &str) -> bool {
        t.reserve(&[
            (account, MAX_FAILURES_PER_ACCOUNT_AND_ADDRESS),
            (address, MAX_FAILURES_PER_ADDRESS),
        ])
        .is_ok()
    }

    #[test]
    fn failures_are_counted_per_account_and_address_and_per_address() {
        let t = Throttle::default();
        for _ in 0..MAX_FAILURES_PER_ACCOUNT_AND_ADDRESS {
            assert!(attempt(&t, "user:rina@10.0.0.1", "addr:10.0.0.1"));
        }
        assert!(
            !attempt(&t, "user:rina@10.0.0.1", "addr:10.0.0.1"),
            "the account is throttled from this address"
        );
        assert!(
            attempt(&t, "user:rina@10.0.0.2", "addr:10.0.0.2"),
            "but not from another: nobody can lock rina out"
        );
        // Other accounts from the first address, up to the address's own limit.
        let mut others = 0;
        while attempt(&t, &format!("user:u{others}@10.0.0.1"), "addr:10.0.0.1") {
            others += 1;
        }
        assert_eq!(
            others + MAX_FAILURES_PER_ACCOUNT_AND_ADDRESS,
            MAX_FAILURES_PER_ADDRESS
        );
    }

    #[test]
    fn a_success_forgives_the_account_and_a_released_attempt_counts_nothing() {
        let t = Throttle::default();
        for _ in 0..MAX_FAILURES_PER_ACCOUNT_AND_ADDRESS - 1 {
            assert!(attempt(&t, "user:budi@a", "addr:a"));
        }
        assert!(attempt(&t, "user:budi@a", "addr:a"));
        t.succeeded("user:budi@a", "addr:a");
        for _ in 0..MAX_FAILURES_PER_ACCOUNT_AND_ADDRESS {
            assert!(attempt(&t, "user:budi@a", "addr:a"), "starts afresh");
        }
        let t = Throttle::default();
        for _ in 0..MAX_FAILURES_PER_ACCOUNT_AND_ADDRESS * 3 {
            assert!(attempt(&t, "user:siti@b", "addr:b"));
            t.release(&["user:siti@b", "addr:b"]);
        }
    }
}
