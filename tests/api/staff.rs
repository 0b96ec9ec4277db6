//! The staff API (issue #4): sign-in and sessions, roles and scope, triage actions and their effect on the
//! public Open311 output, the audit log, and an authorization matrix generated from the route table.

use crate::both_backends;
use crate::helpers::*;
use crate::smtp::SmtpServer;
use serde_json::{json, Value};

both_backends!(
    sign_in_refresh_and_sign_out,
    disabling_an_account_ends_its_sessions_at_once,
    sign_in_is_throttled_per_account,
    triage_actions_show_on_the_public_side,
    reassigning_emails_the_new_department,
    every_action_and_every_contact_read_is_audited,
    authorization_matrix_over_every_staff_route,
    priority_duplicates_and_the_city_vocabulary,
    administrators_manage_api_keys,
    back_office_updates_in_the_fixmystreet_shape,
    hidden_reports_are_never_emailed,
    lists_filter_by_area_and_moderation_state,
    administrators_change_roles_scope_and_passwords,
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

async fn triage_actions_show_on_the_public_side(app: TestApp) {
    app.expect_deliveries(&["cancelled"]);
    app.staff_user("rina", "dispatcher", &[]).await;
    let t = token(&app.sign_in("rina").await);
    let id = app.post_flood(&[("email", "siti@mail.example")]).await;
    let before = app
        .get_json(&format!("/open311/v2/requests/{id}.json"))
        .await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;

    let (status, _) = app
        .call(
            "POST",
            &format!("/staff/v1/requests/{id}/status"),
            Some(&t),
            Some(json!({"status": "in_progress", "status_notes": "Pump truck 3 is on its way"})),
        )
        .await;
    assert_eq!(status, 200);
    let r = app
        .get_json(&format!("/open311/v2/requests/{id}.json?extensions=true"))
        .await;
    assert_eq!(r[0]["status"], "open");
    assert_eq!(r[0]["status_notes"], "Pump truck 3 is on its way");
    assert_eq!(
        r[0]["extended_attributes"]["detailed_status"],
        "in_progress"
    );
    assert_ne!(
        r[0]["updated_datetime"], before[0]["updated_datetime"],
        "updated_after sync sees the change"
    );

    app.call(
        "POST",
        &format!("/staff/v1/requests/{id}/notes"),
        Some(&t),
        Some(json!({"text": "Reporter sounded upset; call back", "public": false})),
    )
    .await;
    app.call(
        "POST",
        &format!("/staff/v1/requests/{id}/notes"),
        Some(&t),
        Some(json!({"text": "Water receding", "public": true})),
    )
    .await;
    let (status, _) = app
        .call(
            "POST",
            &format!("/staff/v1/requests/{id}/status"),
            Some(&t),
            Some(json!({"status": "fixed", "status_notes": "Drain cleared"})),
        )
        .await;
    assert_eq!(status, 200);
    let r = app
        .get_json(&format!("/open311/v2/requests/{id}.json?extensions=true"))
        .await;
    assert_eq!(r[0]["status"], "closed");
    let notes: Vec<String> = r[0]["notes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["description"].as_str().unwrap_or("").to_string())
        .collect();
    assert!(
        notes.contains(&"Water receding".to_string())
            && notes.contains(&"Drain cleared".to_string()),
        "{notes:?}"
    );
    let all = serde_json::to_string(
        &app.get_json("/open311/v2/requests.json?extensions=true")
            .await,
    )
    .unwrap();
    assert!(!all.contains("upset"), "internal notes are never public");
    let xml = app
        .get_xml(&format!("/open311/v2/requests/{id}.xml?extensions=true"))
        .await;
    assert!(!xml.contains("upset"));
    let (status, body) = app
        .call(
            "POST",
            &format!("/staff/v1/requests/{id}/status"),
            Some(&t),
            Some(json!({"status": "done-ish"})),
        )
        .await;
    assert_eq!(status, 400);
    assert!(json_errors(&body)[0].1.contains("in_progress"));

    assert_eq!(
        app.call(
            "POST",
            &format!("/staff/v1/requests/{id}/hide"),
            Some(&t),
            None
        )
        .await
        .0,
        200
    );
    assert_eq!(
        app.get(&format!("/open311/v2/requests/{id}.json"))
            .await
            .status(),
        404
    );
    let (status, listed) = app
        .call("GET", "/staff/v1/requests?hidden=true", Some(&t), None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(
        app.call(
            "POST",
            &format!("/staff/v1/requests/{id}/unhide"),
            Some(&t),
            None
        )
        .await
        .0,
        200
    );
    assert_eq!(
        app.get(&format!("/open311/v2/requests/{id}.json"))
            .await
            .status(),
        200
    );

    // Filters: text, status, department.
    let (_, found) = app
        .call(
            "GET",
            "/staff/v1/requests?q=NOTHING-LIKE-THIS",
            Some(&t),
            None,
        )
        .await;
    assert_eq!(found, json!([]));
    let (_, found) = app
        .call(
            "GET",
            "/staff/v1/requests?status=closed&department=SDA-JP",
            Some(&t),
            None,
        )
        .await;
    assert_eq!(found.as_array().unwrap().len(), 1);
}

async fn reassigning_emails_the_new_department(app: TestApp) {
    let smtp = SmtpServer::start().await;
    app.staff_user("rina", "dispatcher", &[]).await;
    let t = token(&app.sign_in("rina").await);
    let id = app.post_flood(&[]).await;
    app.worker(&smtp.url(), |_| {}).drain().await.unwrap();
    let (status, _) = app
        .call(
            "POST",
            &format!("/staff/v1/requests/{id}/assign"),
            Some(&t),
            Some(json!({"department": "POMPA-CILIWUNG", "why": "the pumps are closer"})),
        )
        .await;
    assert_eq!(status, 200);
    app.worker(&smtp.url(), |_| {}).drain().await.unwrap();
    let recipients: Vec<String> = smtp
        .received()
        .iter()
        .flat_map(|m| m.recipients.clone())
        .collect();
    assert!(
        recipients.contains(&"pompa.ciliwung@sda.jakarta.example".to_string()),
        "{recipients:?}"
    );
    let public = app
        .get_json(&format!("/open311/v2/requests/{id}.json"))
        .await;
    assert_eq!(
        public[0]["agency_responsible"],
        "UPT Pompa Ciliwung (flood pumps)"
    );
    let (status, _) = app
        .call(
            "POST",
            &format!("/staff/v1/requests/{id}/assign"),
            Some(&t),
            Some(json!({"department": "NOPE", "why": "x"})),
        )
        .await;
    assert_eq!(status, 404);
}

async fn every_action_and_every_contact_read_is_audited(app: TestApp) {
    app.staff_user("admin", "admin", &[]).await;
    app.staff_user("rina", "dispatcher", &[]).await;
    let admin = token(&app.sign_in("admin").await);
    let rina = token(&app.sign_in("rina").await);
    let id = app.post_flood(&[("phone", "+62 812 0000 1111")]).await;
    let (status, detail) = app
        .call(
            "GET",
            &format!("/staff/v1/requests/{id}"),
            Some(&rina),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(detail["contact"]["phone"], "+62 812 0000 1111");
    assert_eq!(detail["routing_trace"]["rule_id"], "flood-jakpus");
    assert_eq!(detail["deliveries"][0]["state"], "queued");
    app.call(
        "POST",
        &format!("/staff/v1/requests/{id}/status"),
        Some(&rina),
        Some(json!({"status": "verified"})),
    )
    .await;
    assert_eq!(
        app.call("GET", "/staff/v1/audit", Some(&rina), None)
            .await
            .0,
        403,
        "only administrators read the audit log"
    );
    let (status, log) = app
        .call("GET", "/staff/v1/audit?actor=rina", Some(&admin), None)
        .await;
    assert_eq!(status, 200);
    let actions: Vec<&str> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for a in ["sign-in", "read report", "set status"] {
        assert!(actions.contains(&a), "{a} in {actions:?}");
    }
    let read = log
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "read report")
        .unwrap();
    assert_eq!(read["target"], format!("request {id}"));
    assert_eq!(read["client_addr"], "127.0.0.1");
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Access {
    /// Sign-in and refresh: no token needed; a bad credential is 401 whoever asks.
    Public,
    /// Any signed-in staff member.
    Staff,
    /// A report: 404 outside the caller's scope.
    Report,
    /// Administrators only: 403 for other roles.
    Admin,
}

/// The policy of every staff route. A route missing here fails the matrix test.
fn policy(path: &str, method: &str) -> Option<Access> {
    Some(match (path, method) {
        ("/staff/v1/session", "POST") | ("/staff/v1/session/refresh", "POST") => Access::Public,
        ("/staff/v1/session", "DELETE")
        | ("/staff/v1/requests", "GET")
        | ("/staff/v1/statuses", "GET") => Access::Staff,
        ("/staff/v1/requests/{id}", "GET")
        | ("/staff/v1/requests/{id}/status", "POST")
        | ("/staff/v1/requests/{id}/notes", "POST")
        | ("/staff/v1/requests/{id}/assign", "POST")
        | ("/staff/v1/requests/{id}/hide", "POST")
        | ("/staff/v1/requests/{id}/unhide", "POST")
        | ("/staff/v1/requests/{id}/publish", "POST")
        | ("/staff/v1/requests/{id}/priority", "POST")
        | ("/staff/v1/requests/{id}/duplicate", "POST") => Access::Report,
        ("/staff/v1/users", "GET")
        | ("/staff/v1/users", "POST")
        | ("/staff/v1/users/{id}", "POST")
        | ("/staff/v1/users/{id}/disable", "POST")
        | ("/staff/v1/users/{id}/enable", "POST")
        | ("/staff/v1/audit", "GET")
        | ("/staff/v1/apikeys", "GET")
        | ("/staff/v1/apikeys", "POST")
        | ("/staff/v1/apikeys/{id}/revoke", "POST") => Access::Admin,
        _ => return None,
    })
}

async fn authorization_matrix_over_every_staff_route(app: TestApp) {
    app.expect_deliveries(&["cancelled"]);
    use sha2::Digest;
    app.staff_user("admin", "admin", &[]).await;
    app.staff_user("rina", "dispatcher", &[]).await;
    app.staff_user("owner", "staff", &["SDA-JP"]).await;
    app.staff_user("other", "staff", &["PJU"]).await;
    let spare = app.staff_user("spare", "dispatcher", &[]).await;
    let report = app.post_flood(&[]).await; // routed to SDA-JP
    let master = app.post_flood(&[]).await;
    let admin_for_keys = token(&app.sign_in("admin").await);

    // Tokens that must all be refused: expired, wrong audience, tampered, signed with another key.
    let secret = std::fs::read(app.data_dir.join("secret.key")).unwrap();
    let keys = civic311::auth::staff::TokenKeys::from_secret(&secret);
    let admin_tokens = app.sign_in("admin").await;
    let claims = keys.verify(&token(&admin_tokens)).unwrap();
    let now = chrono::Utc::now().timestamp();
    let expired = keys.issue(&claims.sub, &claims.sid, now - 3600).unwrap();
    let key = sha2::Sha256::digest([b"civic311 staff tokens v1:".as_slice(), &secret].concat());
    let mut wrong = claims.clone();
    wrong.aud = "someone-else".into();
    let wrong_audience = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &wrong,
        &jsonwebtoken::EncodingKey::from_secret(&key),
    )
    .unwrap();
    let mut tampered = token(&admin_tokens);
    let at = tampered.len() - 3;
    tampered.replace_range(
        at..at + 1,
        if &tampered[at..at + 1] == "A" {
            "B"
        } else {
            "A"
        },
    );
    let foreign =
        civic311::auth::staff::TokenKeys::from_secret(b"a different server secret entirely")
            .issue(&claims.sub, &claims.sid, now)
            .unwrap();

    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Who {
        Admin,
        Dispatcher,
        Owner,
        OtherDept,
        Invalid,
    }
    let principals: Vec<(&str, Who, Option<String>)> = vec![
        ("admin", Who::Admin, None),
        ("dispatcher", Who::Dispatcher, None),
        ("staff of the owning department", Who::Owner, None),
        ("staff of another department", Who::OtherDept, None),
        ("no token", Who::Invalid, None),
        ("expired token", Who::Invalid, Some(expired)),
        (
            "token with wrong audience",
            Who::Invalid,
            Some(wrong_audience),
        ),
        ("tampered token", Who::Invalid, Some(tampered)),
        ("token signed with another key", Who::Invalid, Some(foreign)),
    ];
    let staff_routes: Vec<(&str, &str)> = civic311::http::ROUTES
        .iter()
        .filter(|r| r.path.starts_with("/staff/"))
        .flat_map(|r| r.methods.iter().map(move |(m, _)| (r.path, *m)))
        .collect();
    assert!(staff_routes.len() >= 15);
    for (path, method) in &staff_routes {
        assert!(
            policy(path, method).is_some(),
            "{method} {path} has no policy in this test: add one"
        );
    }
    // Sign-out ends the session, so it goes last.
    let mut ordered = staff_routes.clone();
    ordered.sort_by_key(|(p, m)| (*p == "/staff/v1/session" && *m == "DELETE", *p, *m));

    for (label, who, fixed) in &principals {
        let bearer: Option<String> = match who {
            Who::Admin => Some(token(&app.sign_in("admin").await)),
            Who::Dispatcher => Some(token(&app.sign_in("rina").await)),
            Who::Owner => Some(token(&app.sign_in("owner").await)),
            Who::OtherDept => Some(token(&app.sign_in("other").await)),
            Who::Invalid => fixed.clone(),
        };
        for (path, method) in &ordered {
            let access = policy(path, method).unwrap();
            let concrete = if path.starts_with("/staff/v1/apikeys/") {
                // A fresh key per call: a revoked key cannot be revoked twice.
                let (_, k) = app
                    .call(
                        "POST",
                        "/staff/v1/apikeys",
                        Some(&admin_for_keys),
                        Some(json!({"name": format!("k {}", civic311::auth::random_id(8))})),
                    )
                    .await;
                path.replace("{id}", k["id"].as_str().unwrap())
            } else {
                path.replace(
                    "{id}",
                    if path.starts_with("/staff/v1/users/") {
                        &spare
                    } else {
                        &report
                    },
                )
            };
            let body = match (*path, *method) {
                // A different unknown name per principal: the account throttle would otherwise answer 429.
                ("/staff/v1/session", "POST") => Some(
                    json!({"username": format!("nobody-{label}"), "password": "not a password"}),
                ),
                ("/staff/v1/session/refresh", _) => Some(json!({"refresh_token": "not a token"})),
                (p, _) if p.ends_with("/status") => Some(json!({"status": "verified"})),
                (p, _) if p.ends_with("/notes") => Some(json!({"text": "matrix"})),
                (p, _) if p.ends_with("/assign") => {
                    Some(json!({"department": "SDA-JP", "why": "matrix"}))
                }
                (p, _) if p.ends_with("/priority") => Some(json!({"priority": 3})),
                (p, _) if p.ends_with("/duplicate") => Some(json!({"of": master})),
                ("/staff/v1/apikeys", "POST") => {
                    Some(json!({"name": format!("key {}", civic311::auth::random_id(8))}))
                }
                ("/staff/v1/users/{id}", "POST") => {
                    Some(json!({"display_name": "Spare dispatcher"}))
                }
                ("/staff/v1/users", "POST") => Some(
                    json!({"username": format!("u{}", civic311::auth::random_id(8)), "password": PASSWORD, "role": "admin"}),
                ),
                _ => None,
            };
            let (status, errors) = app.call(method, &concrete, bearer.as_deref(), body).await;
            let expected = match (access, who) {
                (Access::Public, _) => 401,
                (_, Who::Invalid) => 401,
                (Access::Staff, _) => 200,
                (Access::Report, Who::OtherDept) => 404,
                (Access::Report, _) => 200,
                (Access::Admin, Who::Admin) => 200,
                (Access::Admin, _) => 403,
            };
            assert_eq!(status, expected, "{label}: {method} {concrete} → {errors}");
            if status != 200 {
                assert_eq!(
                    json_errors(&errors)[0].0,
                    i64::from(status),
                    "{label}: {method} {concrete}"
                );
            }
        }
    }
    // Staff of another department do not even see the report in their list.
    let other = token(&app.sign_in("other").await);
    let (_, listed) = app
        .call("GET", "/staff/v1/requests", Some(&other), None)
        .await;
    assert!(listed
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["service_request_id"] != report.as_str()));
}

async fn priority_duplicates_and_the_city_vocabulary(app: TestApp) {
    app.staff_user("rina", "dispatcher", &[]).await;
    let t = token(&app.sign_in("rina").await);
    let (status, vocabulary) = app.call("GET", "/staff/v1/statuses", Some(&t), None).await;
    assert_eq!(status, 200);
    let codes: Vec<&str> = vocabulary
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["code"].as_str().unwrap())
        .collect();
    assert_eq!(
        codes,
        [
            "open",
            "verified",
            "in_progress",
            "fixed",
            "not_responsible",
            "duplicate",
            "rejected"
        ],
        "the demo city's own vocabulary"
    );
    let id = app.post_flood(&[]).await;
    let (status, _) = app
        .call(
            "POST",
            &format!("/staff/v1/requests/{id}/status"),
            Some(&t),
            Some(json!({"status": "verified"})),
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = app
        .call(
            "POST",
            &format!("/staff/v1/requests/{id}/status"),
            Some(&t),
            Some(json!({"status": "acknowledged"})),
        )
        .await;
    assert_eq!(status, 400, "not in the city's vocabulary");
    let (status, _) = app
        .call(
            "POST",
            &format!("/staff/v1/requests/{id}/status"),
            Some(&t),
            Some(json!({"status": "rejected", "status_notes": "No flooding found"})),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        app.get_json(&format!("/open311/v2/requests/{id}.json"))
            .await[0]["status"],
        "closed"
    );

    assert_eq!(
        app.call(
            "POST",
            &format!("/staff/v1/requests/{id}/priority"),
            Some(&t),
            Some(json!({"priority": 4}))
        )
        .await
        .0,
        200
    );
    assert_eq!(
        app.call(
            "POST",
            &format!("/staff/v1/requests/{id}/priority"),
            Some(&t),
            Some(json!({"priority": 9}))
        )
        .await
        .0,
        400
    );

    let master = app.post_flood(&[]).await;
    let dup = app.post_flood(&[]).await;
    let (status, _) = app
        .call(
            "POST",
            &format!("/staff/v1/requests/{dup}/duplicate"),
            Some(&t),
            Some(json!({"of": master})),
        )
        .await;
    assert_eq!(status, 200);
    let public = app
        .get_json(&format!("/open311/v2/requests/{dup}.json?extensions=true"))
        .await;
    assert_eq!(public[0]["status"], "closed");
    assert_eq!(public[0]["extended_attributes"]["duplicate"], json!(true));
    assert_eq!(
        public[0]["extended_attributes"]["parent_service_request_id"],
        json!(master)
    );
    let (_, m) = app
        .call(
            "GET",
            &format!("/staff/v1/requests/{master}"),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(m["duplicates"], 1, "the master counts its duplicates");
    let (status, _) = app
        .call(
            "POST",
            &format!("/staff/v1/requests/{master}/duplicate"),
            Some(&t),
            Some(json!({"of": dup})),
        )
        .await;
    assert_eq!(status, 400, "a duplicate cannot be a master");
    let (status, _) = app
        .call(
            "POST",
            &format!("/staff/v1/requests/{master}/duplicate"),
            Some(&t),
            Some(json!({"of": master})),
        )
        .await;
    assert_eq!(status, 400);
    let (_, d) = app
        .call("GET", &format!("/staff/v1/requests/{id}"), Some(&t), None)
        .await;
    assert_eq!(d["priority"], 4);
}

async fn administrators_manage_api_keys(app: TestApp) {
    app.staff_user("admin", "admin", &[]).await;
    let t = token(&app.sign_in("admin").await);
    let (status, created) = app
        .call(
            "POST",
            "/staff/v1/apikeys",
            Some(&t),
            Some(json!({"name": "Qlue app", "kind": "test"})),
        )
        .await;
    assert_eq!(status, 200);
    let key = created["api_key"].as_str().unwrap().to_string();
    assert_eq!(created["kind"], "test");
    let report = light(&[]);
    let with_key: Vec<(&str, &str)> = report
        .iter()
        .map(|(k, v)| {
            if *k == "api_key" {
                (*k, key.as_str())
            } else {
                (*k, *v)
            }
        })
        .collect();
    assert_eq!(app.post_form("json", &with_key).await.status(), 200);
    let (_, listed) = app.call("GET", "/staff/v1/apikeys", Some(&t), None).await;
    assert!(listed
        .as_array()
        .unwrap()
        .iter()
        .any(|k| k["name"] == "Qlue app" && k["revoked"].is_null()));
    assert!(!listed.to_string().contains(&key), "keys are never listed");
    let id = created["id"].as_str().unwrap();
    assert_eq!(
        app.call(
            "POST",
            &format!("/staff/v1/apikeys/{id}/revoke"),
            Some(&t),
            None
        )
        .await
        .0,
        200
    );
    assert_eq!(
        app.post_form("json", &with_key).await.status(),
        403,
        "a revoked key is refused at once"
    );
    assert_eq!(
        app.call(
            "POST",
            "/staff/v1/apikeys",
            Some(&t),
            Some(json!({"name": "x", "kind": "superuser"}))
        )
        .await
        .0,
        400
    );
}

async fn back_office_updates_in_the_fixmystreet_shape(app: TestApp) {
    let id = app.post_flood(&[]).await;
    let update = |key: &'static str, update_id: &'static str, status: &'static str| {
        let form = vec![
            ("api_key", key.to_string()),
            ("service_request_id", id.clone()),
            ("update_id", update_id.to_string()),
            ("status", status.to_string()),
            ("updated_datetime", "2026-11-25T10:00:00+07:00".to_string()),
            ("description", "Crew on site, pumping".to_string()),
        ];
        let req = app
            .client
            .post(app.url("/open311/v2/servicerequestupdates.xml"))
            .form(&form);
        async move { req.send().await.unwrap() }
    };
    let resp = update("demo-backoffice-jakarta", "wo-77", "IN_PROGRESS").await;
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.unwrap();
    let doc = roxmltree::Document::parse(&text).unwrap();
    assert_eq!(
        doc.root_element().tag_name().name(),
        "service_request_updates"
    );
    let first_id = doc
        .descendants()
        .find(|n| n.has_tag_name("update_id"))
        .unwrap()
        .text()
        .unwrap()
        .to_string();
    // A resend of the same update is recognised.
    let again = update("demo-backoffice-jakarta", "wo-77", "IN_PROGRESS")
        .await
        .text()
        .await
        .unwrap();
    assert!(again.contains(&first_id));
    assert_eq!(
        update(DEMO_KEY, "wo-78", "FIXED").await.status(),
        403,
        "an app's key may not change statuses"
    );
    // A late message older than the current status is kept in the history but does not turn the status back.
    let late = app
        .client
        .post(app.url("/open311/v2/servicerequestupdates.json"))
        .form(&[
            ("api_key", "demo-backoffice-jakarta"),
            ("service_request_id", id.as_str()),
            ("update_id", "wo-76"),
            ("status", "FIXED"),
            ("updated_datetime", "2026-11-25T09:00:00+07:00"),
            ("description", "old news"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(late.status(), 200);
    let audit_rows = app
        .store
        .read(|c| civic311::store::staff::audit(c, None, None, 100))
        .await
        .unwrap();
    assert!(
        audit_rows
            .iter()
            .any(|a| a.action == "back-office update" && a.actor == "api key demo back office"),
        "{audit_rows:?}"
    );
    let bad = update("demo-backoffice-jakarta", "wo-79", "MAYBE").await;
    assert_eq!(bad.status(), 400);
    assert!(xml_errors(&bad.text().await.unwrap())[0]
        .1
        .contains("status"));

    let public = app
        .get_json(&format!("/open311/v2/requests/{id}.json?extensions=true"))
        .await;
    assert_eq!(public[0]["status"], "open");
    assert_eq!(
        public[0]["extended_attributes"]["detailed_status"],
        "in_progress"
    );
    assert_eq!(public[0]["status_notes"], "Crew on site, pumping");
    let feed = app.get_json("/open311/v2/servicerequestupdates.json?start_date=2026-11-24T00:00:00Z&end_date=2026-11-26T00:00:00Z").await;
    let feed: Vec<Value> = feed
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| u["description"] != "old news")
        .cloned()
        .collect();
    assert_eq!(feed.len(), 1, "{feed:?}");
    assert_eq!(feed[0]["service_request_id"], json!(id));
    assert_eq!(feed[0]["status"], "in_progress");
    assert_eq!(feed[0]["description"], "Crew on site, pumping");
    assert_eq!(feed[0]["media_url"], "");
    let xml = app.get_xml("/open311/v2/servicerequestupdates.xml?start_date=2026-11-24T00:00:00Z&end_date=2026-11-26T00:00:00Z").await;
    let doc = roxmltree::Document::parse(&xml).unwrap();
    assert_eq!(
        doc.root_element()
            .children()
            .filter(|n| n.has_tag_name("request_update"))
            .count(),
        2,
        "the late update stays in the history"
    );
}

async fn hidden_reports_are_never_emailed(app: TestApp) {
    app.expect_deliveries(&["cancelled"]);
    let smtp = SmtpServer::start().await;
    app.staff_user("rina", "dispatcher", &[]).await;
    let t = token(&app.sign_in("rina").await);
    let queued = app.post_flood(&[]).await;
    // Hidden while its e-mail waits: the waiting delivery is cancelled.
    assert_eq!(
        app.call(
            "POST",
            &format!("/staff/v1/requests/{queued}/hide"),
            Some(&t),
            None
        )
        .await
        .0,
        200
    );
    // Reassigning a hidden report routes it but queues nothing.
    let (status, _) = app
        .call(
            "POST",
            &format!("/staff/v1/requests/{queued}/assign"),
            Some(&t),
            Some(json!({"department": "PJU", "why": "test"})),
        )
        .await;
    assert_eq!(status, 200);
    // Hidden after a worker claimed nothing yet, through the database directly: the worker still refuses.
    let late = app.post_flood(&[]).await;
    app.sql(&format!(
        "UPDATE requests SET hidden = {} WHERE id = {late}",
        if app.backend == Backend::Sqlite {
            "1"
        } else {
            "TRUE"
        }
    ))
    .await;
    app.worker(&smtp.url(), |_| {}).drain().await.unwrap();
    assert!(smtp.received().is_empty(), "{:?}", smtp.received());
    let rows = app.deliveries().await;
    assert!(
        rows.iter().all(|d| d.state == "failed" && !d.is_fallback),
        "{rows:?}"
    );
    assert!(rows
        .iter()
        .any(|d| d.last_error.as_deref().unwrap_or("").contains("hidden")));
}

async fn lists_filter_by_area_and_moderation_state(app: TestApp) {
    app.staff_user("rina", "dispatcher", &[]).await;
    let t = token(&app.sign_in("rina").await);
    let monas = app.post_flood(&[]).await; // Jakarta Pusat (31.71), kelurahan Gambir
    let ids = |v: &Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|r| r["service_request_id"].as_str().unwrap().to_string())
            .collect()
    };
    let (_, in_pusat) = app
        .call("GET", "/staff/v1/requests?area=31.71", Some(&t), None)
        .await;
    assert_eq!(ids(&in_pusat), vec![monas.clone()]);
    let (_, in_gambir) = app
        .call(
            "GET",
            "/staff/v1/requests?area=31.71.01.1001",
            Some(&t),
            None,
        )
        .await;
    assert_eq!(ids(&in_gambir), vec![monas.clone()]);
    let (_, in_selatan) = app
        .call("GET", "/staff/v1/requests?area=31.74", Some(&t), None)
        .await;
    assert!(ids(&in_selatan).is_empty());
    let (_, published) = app
        .call(
            "GET",
            "/staff/v1/requests?moderation_state=published",
            Some(&t),
            None,
        )
        .await;
    assert_eq!(ids(&published), [monas]);
    let (_, held) = app
        .call(
            "GET",
            "/staff/v1/requests?moderation_state=pending",
            Some(&t),
            None,
        )
        .await;
    assert!(ids(&held).is_empty());
}

async fn administrators_change_roles_scope_and_passwords(app: TestApp) {
    app.staff_user("admin", "admin", &[]).await;
    let budi = app.staff_user("budi", "staff", &["SDA-JP"]).await;
    let admin = token(&app.sign_in("admin").await);
    let staff = token(&app.sign_in("budi").await);
    let report = app.post_flood(&[]).await; // SDA-JP
    assert_eq!(
        app.call(
            "GET",
            &format!("/staff/v1/requests/{report}"),
            Some(&staff),
            None
        )
        .await
        .0,
        200
    );

    // Moving budi to the lighting department ends his sessions and his view of the flood report.
    let (status, changed) = app
        .call(
            "POST",
            &format!("/staff/v1/users/{budi}"),
            Some(&admin),
            Some(json!({"departments": ["PJU"]})),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(changed["departments"], json!(["PJU"]));
    assert_eq!(
        app.call("GET", "/staff/v1/requests", Some(&staff), None)
            .await
            .0,
        401,
        "a new scope ends old sessions"
    );
    let staff = token(&app.sign_in("budi").await);
    assert_eq!(
        app.call(
            "GET",
            &format!("/staff/v1/requests/{report}"),
            Some(&staff),
            None
        )
        .await
        .0,
        404
    );

    // A new password: the old one stops working.
    let (status, _) = app
        .call(
            "POST",
            &format!("/staff/v1/users/{budi}"),
            Some(&admin),
            Some(json!({"password": "hujan-deras-sore-ini"})),
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = app
        .call(
            "POST",
            "/staff/v1/session",
            None,
            Some(json!({"username": "budi", "password": PASSWORD})),
        )
        .await;
    assert_eq!(status, 401);
    let (status, _) = app
        .call(
            "POST",
            "/staff/v1/session",
            None,
            Some(json!({"username": "budi", "password": "hujan-deras-sore-ini"})),
        )
        .await;
    assert_eq!(status, 200);

    for (body, field) in [
        (json!({"departments": ["NOPE"]}), "NOPE"),
        (json!({"role": "king"}), "role"),
        (json!({"password": "short"}), "12"),
        (json!({"role": "staff", "departments": []}), "department"),
    ] {
        let (status, errors) = app
            .call(
                "POST",
                &format!("/staff/v1/users/{budi}"),
                Some(&admin),
                Some(body.clone()),
            )
            .await;
        assert_eq!(status, 400, "{body}");
        assert!(
            json_errors(&errors)[0].1.contains(field),
            "{body}: {errors}"
        );
    }
    assert_eq!(
        app.call(
            "POST",
            "/staff/v1/users/nobody",
            Some(&admin),
            Some(json!({"display_name": "x"}))
        )
        .await
        .0,
        404
    );
    let (_, log) = app
        .call(
            "GET",
            &format!("/staff/v1/audit?target=user%20{budi}"),
            Some(&admin),
            None,
        )
        .await;
    let details: Vec<&str> = log
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "update user")
        .map(|e| e["detail"].as_str().unwrap())
        .collect();
    assert!(
        details.contains(&"role or scope") && details.contains(&"password"),
        "{details:?}"
    );
}
