//! Staff sign-in and sessions under attack: a throttle that cannot lock staff out, refresh tokens that
//! cannot be shared with a thief, sessions that end, and a sign-in storm that keeps memory flat.

use crate::both_backends;
use crate::helpers::*;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

both_backends!(
    a_reused_refresh_token_revokes_the_whole_session,
    sessions_end_at_their_absolute_lifetime,
    staff_bodies_must_be_json_objects,
);
both_backends!(backend:
    failures_from_one_address_never_lock_out_another,
    a_sign_in_storm_is_bounded_and_answered_quickly,
);

async fn post(
    app: &TestApp,
    path: &str,
    from: Option<&str>,
    body: Value,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let mut req = app.client.post(app.url(path)).json(&body);
    if let Some(addr) = from {
        req = req.header("X-Forwarded-For", addr);
    }
    let resp = req.send().await.unwrap();
    let (status, headers) = (resp.status().as_u16(), resp.headers().clone());
    (status, headers, resp.json().await.unwrap_or(Value::Null))
}

async fn behind_proxy(
    backend: Backend,
    tune: impl FnOnce(&mut civic311::config::Settings),
) -> TestApp {
    spawn_app_tuned(backend, &[repo_path("examples/demo-city")], |s| {
        s.limits.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
        tune(s);
    })
    .await
}

async fn failures_from_one_address_never_lock_out_another(backend: Backend) {
    let app = behind_proxy(backend, |_| {}).await;
    app.staff_user("sari", "dispatcher", &[]).await;
    let attempt = |from: &'static str, password: &'static str| {
        let app = &app;
        async move {
            post(
                app,
                "/staff/v1/session",
                Some(from),
                json!({"username": "sari", "password": password}),
            )
            .await
        }
    };
    for _ in 0..5 {
        assert_eq!(attempt("203.0.113.66", "guess").await.0, 401);
    }
    // The guesser's address waits, even with the right password…
    let (status, headers, _) = attempt("203.0.113.66", PASSWORD).await;
    assert_eq!(status, 429);
    assert!(headers.contains_key("retry-after"));
    // …and Sari, elsewhere, signs in.
    let (status, _, body) = attempt("198.51.100.7", PASSWORD).await;
    assert_eq!(status, 200, "{body}");
    // One address guessing at many accounts is throttled too.
    for i in 0..15 {
        let name = format!("nobody{i}");
        let (status, _, _) = post(
            &app,
            "/staff/v1/session",
            Some("192.0.2.99"),
            json!({"username": name, "password": "x"}),
        )
        .await;
        assert_eq!(status, 401);
    }
    let (status, _, _) = post(
        &app,
        "/staff/v1/session",
        Some("192.0.2.99"),
        json!({"username": "sari", "password": PASSWORD}),
    )
    .await;
    assert_eq!(status, 200, "a success gives its attempt back");
    for i in 0..5 {
        let name = format!("other{i}");
        post(
            &app,
            "/staff/v1/session",
            Some("192.0.2.99"),
            json!({"username": name, "password": "x"}),
        )
        .await;
    }
    let (status, _, _) = post(
        &app,
        "/staff/v1/session",
        Some("192.0.2.99"),
        json!({"username": "sari", "password": PASSWORD}),
    )
    .await;
    assert_eq!(status, 429, "twenty failures from one address");
}

async fn a_reused_refresh_token_revokes_the_whole_session(app: TestApp) {
    app.staff_user("sari", "dispatcher", &[]).await;
    let first = app.sign_in("sari").await;
    let stolen = first["refresh_token"].clone();
    // The thief refreshes first and holds a fresh pair.
    let (status, _, thief) = post(
        &app,
        "/staff/v1/session/refresh",
        None,
        json!({"refresh_token": stolen}),
    )
    .await;
    assert_eq!(status, 200);
    // The rightful owner's refresh uses the same, now spent, token.
    let (status, _, _) = post(
        &app,
        "/staff/v1/session/refresh",
        None,
        json!({"refresh_token": stolen}),
    )
    .await;
    assert_eq!(status, 401);
    // That ends the session for everyone: the thief's refresh and access tokens no longer work.
    let (status, _, _) = post(
        &app,
        "/staff/v1/session/refresh",
        None,
        json!({"refresh_token": thief["refresh_token"]}),
    )
    .await;
    assert_eq!(status, 401);
    let resp = app
        .client
        .get(app.url("/staff/v1/requests"))
        .bearer_auth(token(&thief))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let resp = app
        .client
        .get(app.url("/staff/v1/requests"))
        .bearer_auth(token(&first))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    // The owner signs in again, and the audit log says what happened.
    app.staff_user("admin", "admin", &[]).await;
    let admin = app.sign_in("admin").await;
    let log: Value = app
        .client
        .get(app.url("/staff/v1/audit"))
        .bearer_auth(token(&admin))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let entries = log
        .as_array()
        .or_else(|| log["entries"].as_array())
        .unwrap();
    assert!(
        entries.iter().any(|e| e["action"] == "session revoked: refresh token reused" && e["actor"] == "sari"),
        "{log}"
    );
}

async fn sessions_end_at_their_absolute_lifetime(app: TestApp) {
    app.staff_user("sari", "dispatcher", &[]).await;
    let t = app.sign_in("sari").await;
    // Signed in 20 days ago and refreshed since: the next refresh may not carry it past 30 days.
    let started = chrono::Utc::now().naive_utc() - chrono::TimeDelta::days(20);
    app.sql(&format!(
        "UPDATE staff_sessions SET created_at = '{}'",
        started.format("%Y-%m-%d %H:%M:%S")
    ))
    .await;
    let (status, _, renewed) = post(
        &app,
        "/staff/v1/session/refresh",
        None,
        json!({"refresh_token": t["refresh_token"]}),
    )
    .await;
    assert_eq!(status, 200);
    let sessions = app
        .store
        .read(|conn| {
            use civic311::store::schema::staff_sessions::dsl::*;
            use diesel::prelude::*;
            Ok(staff_sessions
                .select(expires_at)
                .load::<chrono::NaiveDateTime>(conn)?)
        })
        .await
        .unwrap();
    let ends = started + chrono::TimeDelta::days(30);
    assert_eq!(sessions.len(), 1);
    assert!(sessions[0] <= ends, "{:?} is past {ends}", sessions[0]);
    // Past its lifetime, neither refresh nor the access token works.
    let long_ago = chrono::Utc::now().naive_utc() - chrono::TimeDelta::days(31);
    app.sql(&format!(
        "UPDATE staff_sessions SET created_at = '{0}', expires_at = '{0}'",
        long_ago.format("%Y-%m-%d %H:%M:%S")
    ))
    .await;
    let (status, _, _) = post(
        &app,
        "/staff/v1/session/refresh",
        None,
        json!({"refresh_token": renewed["refresh_token"]}),
    )
    .await;
    assert_eq!(status, 401);
    let resp = app
        .client
        .get(app.url("/staff/v1/requests"))
        .bearer_auth(token(&renewed))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
}

async fn staff_bodies_must_be_json_objects(app: TestApp) {
    app.staff_user("admin", "admin", &[]).await;
    let (status, _, body) = post(&app, "/staff/v1/session", None, json!(["admin", PASSWORD])).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        json_errors(&body)[0].1.contains("must be an object"),
        "{body}"
    );
    let t = token(&app.sign_in("admin").await);
    for (path, body) in [
        (
            "/staff/v1/users",
            json!(["bob", "secret-password-1", "admin"]),
        ),
        ("/staff/v1/apikeys", json!(["an app"])),
    ] {
        let resp = app
            .client
            .post(app.url(path))
            .bearer_auth(&t)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400, "{path}");
    }
}

async fn a_sign_in_storm_is_bounded_and_answered_quickly(backend: Backend) {
    let app = behind_proxy(backend, |s| s.password_hashers = Some(1)).await;
    let start = Instant::now();
    let mut attempts = Vec::new();
    for i in 0..40 {
        let (client, url) = (app.client.clone(), app.url("/staff/v1/session"));
        attempts.push(tokio::spawn(async move {
            let resp = client
                .post(url)
                .header("X-Forwarded-For", format!("198.18.0.{i}"))
                .json(&json!({"username": format!("nobody{i}"), "password": "x"}))
                .send()
                .await
                .unwrap();
            (
                resp.status().as_u16(),
                resp.headers().get("retry-after").is_some(),
            )
        }));
    }
    let mut answers = Vec::new();
    for a in attempts {
        answers.push(a.await.unwrap());
    }
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "{:?}",
        start.elapsed()
    );
    assert!(
        answers.iter().all(|(s, _)| *s == 401 || *s == 429),
        "{answers:?}"
    );
    let busy = answers.iter().filter(|(s, _)| *s == 429).count();
    assert!(
        busy > 0,
        "one hasher cannot check 40 passwords in half a second: {answers:?}"
    );
    assert!(answers
        .iter()
        .filter(|(s, _)| *s == 429)
        .all(|(_, retry)| *retry));
}
