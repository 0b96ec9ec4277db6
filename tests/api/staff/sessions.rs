//! Sign-in, refresh and sign-out, the end of sessions when an account is disabled, and the sign-in throttle.

use crate::both_backends;
use crate::helpers::*;
use serde_json::json;

both_backends!(
    sign_in_refresh_and_sign_out,
    disabling_an_account_ends_its_sessions_at_once,
    sign_in_is_throttled_per_account,
);

async fn sign_in_refresh_and_sign_out(app: TestApp) {
    app.staff_user("rina", "dispatcher", &[]).await;
    let (status, body) = app
        .call(
            "POST",
            "/staff/v1/session",
            None,
            Some(json!({"username": "rina", "password": "wrong password!!"})),
        )
        .await;
    assert_eq!(status, 401);
    assert_eq!(json_errors(&body)[0].0, 401);
    let (status, _) = app
        .call(
            "POST",
            "/staff/v1/session",
            None,
            Some(json!({"username": "nobody", "password": PASSWORD})),
        )
        .await;
    assert_eq!(status, 401, "unknown users get the same answer");

    let t = app.sign_in("rina").await;
    assert_eq!(t["token_type"], "Bearer");
    assert_eq!(t["expires_in"], 600);
    assert_eq!(
        app.call("GET", "/staff/v1/requests", Some(&token(&t)), None)
            .await
            .0,
        200
    );

    let (status, renewed) = app
        .call(
            "POST",
            "/staff/v1/session/refresh",
            None,
            Some(json!({"refresh_token": t["refresh_token"]})),
        )
        .await;
    assert_eq!(status, 200);
    assert_ne!(renewed["refresh_token"], t["refresh_token"]);
    let (status, _) = app
        .call(
            "POST",
            "/staff/v1/session/refresh",
            None,
            Some(json!({"refresh_token": t["refresh_token"]})),
        )
        .await;
    assert_eq!(status, 401, "a refresh token is single-use");
    // Its second use revoked the session (see sessions.rs); sign-out is shown on a new one.
    assert_eq!(
        app.call("GET", "/staff/v1/requests", Some(&token(&renewed)), None)
            .await
            .0,
        401
    );
    let t = app.sign_in("rina").await;
    let (status, renewed) = app
        .call(
            "POST",
            "/staff/v1/session/refresh",
            None,
            Some(json!({"refresh_token": t["refresh_token"]})),
        )
        .await;
    assert_eq!(status, 200);

    assert_eq!(
        app.call("DELETE", "/staff/v1/session", Some(&token(&renewed)), None)
            .await
            .0,
        200
    );
    assert_eq!(
        app.call("GET", "/staff/v1/requests", Some(&token(&renewed)), None)
            .await
            .0,
        401,
        "signed out at once"
    );
    assert_eq!(
        app.call("GET", "/staff/v1/requests", Some(&token(&t)), None)
            .await
            .0,
        401,
        "the session is gone for every token of it"
    );
}

async fn disabling_an_account_ends_its_sessions_at_once(app: TestApp) {
    app.staff_user("admin", "admin", &[]).await;
    let budi = app.staff_user("budi", "staff", &["SDA-JP"]).await;
    let admin = token(&app.sign_in("admin").await);
    let staff = token(&app.sign_in("budi").await);
    assert_eq!(
        app.call("GET", "/staff/v1/requests", Some(&staff), None)
            .await
            .0,
        200
    );
    assert_eq!(
        app.call(
            "POST",
            &format!("/staff/v1/users/{budi}/disable"),
            Some(&admin),
            None
        )
        .await
        .0,
        200
    );
    assert_eq!(
        app.call("GET", "/staff/v1/requests", Some(&staff), None)
            .await
            .0,
        401
    );
    let (status, _) = app
        .call(
            "POST",
            "/staff/v1/session",
            None,
            Some(json!({"username": "budi", "password": PASSWORD})),
        )
        .await;
    assert_eq!(status, 401, "a disabled account cannot sign in");
    assert_eq!(
        app.call(
            "POST",
            &format!("/staff/v1/users/{budi}/enable"),
            Some(&admin),
            None
        )
        .await
        .0,
        200
    );
    app.sign_in("budi").await;
}

async fn sign_in_is_throttled_per_account(app: TestApp) {
    app.staff_user("sari", "dispatcher", &[]).await;
    for _ in 0..5 {
        let (status, _) = app
            .call(
                "POST",
                "/staff/v1/session",
                None,
                Some(json!({"username": "sari", "password": "not the password"})),
            )
            .await;
        assert_eq!(status, 401);
    }
    let resp = app
        .client
        .post(app.url("/staff/v1/session"))
        .json(&json!({"username": "sari", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 429, "even the right password waits");
    let retry: u64 = resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry > 0 && retry <= 900);
}
