//! API keys managed by administrators, and back-office systems posting updates in the FixMyStreet shape.

use crate::both_backends;
use crate::helpers::*;
use serde_json::{json, Value};

both_backends!(
    administrators_manage_api_keys,
    back_office_updates_in_the_fixmystreet_shape,
);

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
    // An app's key posts a citizen's comment where the city takes them (the demo city: as notes), and
    // changes no status.
    assert_eq!(update(DEMO_KEY, "wo-78", "FIXED").await.status(), 200);
    let r = app
        .get_json(&format!("/open311/v2/requests/{id}.json?extensions=true"))
        .await;
    assert_eq!(
        r[0]["extended_attributes"]["detailed_status"], "in_progress",
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
    // The back-office update once (it was sent twice), then the citizen's comment.
    assert_eq!(feed.len(), 2, "{feed:?}");
    assert_eq!(feed[0]["update_id"], json!(first_id));
    assert_eq!(
        feed[1]["status"], "in_progress",
        "a note shows the status it left"
    );
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
        3,
        "the late update stays in the history"
    );
}
