//! An authorization matrix generated from the route table: every staff route, every role, in and out of scope.

use crate::both_backends;
use crate::helpers::*;
use serde_json::json;

both_backends!(authorization_matrix_over_every_staff_route,);

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
    /// Entering a report on someone's behalf: administrators, dispatchers and intake clerks (201).
    Enter,
    /// A scan of a report's paper form: the roles that enter reports, each within its scope (404 outside
    /// it); department staff may not (403, whatever the report).
    AddScan,
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
        | ("/staff/v1/requests/{id}/duplicate", "POST")
        | ("/staff/v1/requests/{id}/scans/{scan_id}", "GET") => Access::Report,
        ("/staff/v1/requests/{id}/scans", "POST") => Access::AddScan,
        ("/staff/v1/requests", "POST") => Access::Enter,
        ("/staff/v1/users", "GET")
        | ("/staff/v1/users", "POST")
        | ("/staff/v1/users/{id}", "POST")
        | ("/staff/v1/users/{id}/disable", "POST")
        | ("/staff/v1/users/{id}/enable", "POST")
        | ("/staff/v1/audit", "GET")
        | ("/staff/v1/apikeys", "GET")
        | ("/staff/v1/apikeys", "POST")
        | ("/staff/v1/apikeys/{id}/revoke", "POST")
        | ("/staff/v1/erasures", "POST") => Access::Admin,
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
    app.staff_user("clerk", "intake", &[]).await;
    let spare = app.staff_user("spare", "dispatcher", &[]).await;
    let report = app.post_flood(&[]).await; // routed to SDA-JP
    let master = app.post_flood(&[]).await;
    let admin_for_keys = token(&app.sign_in("admin").await);
    // A scan to read back, and one the clerk entered (the only report an intake clerk sees).
    let pdf = b"%PDF-1.4\n% matrix\n".to_vec();
    let upload = |id: String, bearer: Option<String>| {
        let (app, pdf) = (&app, pdf.clone());
        async move {
            let mut req = app
                .client
                .post(app.url(&format!("/staff/v1/requests/{id}/scans")))
                .header("content-type", "application/pdf")
                .body(pdf);
            if let Some(b) = bearer {
                req = req.bearer_auth(b);
            }
            let resp = req.send().await.unwrap();
            (
                resp.status().as_u16(),
                resp.json::<serde_json::Value>().await.unwrap(),
            )
        }
    };
    let (s, scan) = upload(report.clone(), Some(admin_for_keys.clone())).await;
    assert_eq!(s, 201, "{scan}");
    let scan_id = scan["id"].as_str().unwrap().to_string();
    let paper = json!({"service_code": "LIGHT", "address_string": "Jl. Sabang", "attribute": {"STATE": "dark"}, "channel": "paper"});

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
        Intake,
        Invalid,
    }
    let principals: Vec<(&str, Who, Option<String>)> = vec![
        ("admin", Who::Admin, None),
        ("dispatcher", Who::Dispatcher, None),
        ("staff of the owning department", Who::Owner, None),
        ("staff of another department", Who::OtherDept, None),
        ("intake clerk", Who::Intake, None),
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
            Who::Intake => Some(token(&app.sign_in("clerk").await)),
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
                path.replace("{scan_id}", &scan_id).replace(
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
                ("/staff/v1/erasures", "POST") => Some(json!({"email": "nobody@mail.example"})),
                ("/staff/v1/requests", "POST") => Some(paper.clone()),
                ("/staff/v1/users/{id}", "POST") => {
                    Some(json!({"display_name": "Spare dispatcher"}))
                }
                ("/staff/v1/users", "POST") => Some(
                    json!({"username": format!("u{}", civic311::auth::random_id(8)), "password": PASSWORD, "role": "admin"}),
                ),
                _ => None,
            };
            let (status, errors) = if path.ends_with("/scans") {
                upload(report.clone(), bearer.clone()).await
            } else if path.ends_with("{scan_id}") {
                let mut req = app.client.get(app.url(&concrete));
                if let Some(b) = &bearer {
                    req = req.bearer_auth(b);
                }
                let resp = req.send().await.unwrap();
                let status = resp.status().as_u16();
                let bytes = resp.bytes().await.unwrap();
                if status == 200 {
                    assert_eq!(bytes.as_ref(), pdf.as_slice(), "{label}");
                    (200, json!(null))
                } else {
                    (status, serde_json::from_slice(&bytes).unwrap())
                }
            } else {
                app.call(method, &concrete, bearer.as_deref(), body).await
            };
            let created = if path.ends_with("/scans") { 201 } else { 200 };
            let expected = match (access, who) {
                (Access::Public, _) => 401,
                (_, Who::Invalid) => 401,
                (Access::Staff, _) => 200,
                (Access::Report, Who::OtherDept | Who::Intake) => 404,
                (Access::Report, _) => created,
                (Access::Admin, Who::Admin) => 200,
                (Access::Admin, _) => 403,
                (Access::Enter, Who::Admin | Who::Dispatcher | Who::Intake) => 201,
                (Access::Enter, _) => 403,
                (Access::AddScan, Who::Admin | Who::Dispatcher) => 201,
                (Access::AddScan, Who::Intake) => 404,
                (Access::AddScan, _) => 403,
            };
            assert_eq!(status, expected, "{label}: {method} {concrete} → {errors}");
            if status >= 400 {
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
