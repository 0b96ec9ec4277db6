//! Triage actions and their effect on the public Open311 output and on department e-mail; the queue's filters.

use crate::both_backends;
use crate::helpers::*;
use crate::smtp::SmtpServer;
use serde_json::{json, Value};

both_backends!(
    triage_actions_show_on_the_public_side,
    reassigning_emails_the_new_department,
    priority_duplicates_and_the_city_vocabulary,
    hidden_reports_are_never_emailed,
    lists_filter_by_area_and_moderation_state,
);

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
