//! Accounts managed by administrators, and the audit log of every action and every read of contact details.

use crate::both_backends;
use crate::helpers::*;
use serde_json::json;

both_backends!(
    every_action_and_every_contact_read_is_audited,
    administrators_change_roles_scope_and_passwords,
);

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
