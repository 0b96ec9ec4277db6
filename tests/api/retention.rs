//! Retention and erasure (issue #10, items 3–5): contact details removed on the jurisdiction's calendar,
//! photos of reports staff took down removed, a person's data erased on request; the reports remain as open
//! data and the audit log records each removal without the data it removed.

use crate::both_backends;
use crate::helpers::*;
use serde_json::{json, Value};

both_backends!(
    retention_removes_contact_details_and_photos_on_the_calendar,
    erasure_removes_a_person_from_every_report,
    erasure_at_the_command_line_matches_a_phone_however_written,
);

const CONTACT: [(&str, &str); 6] = [
    ("email", "Siti.Rahma@mail.example"),
    ("phone", "+62 812-3456-7890"),
    ("first_name", "Siti"),
    ("last_name", "Rahma"),
    ("device_id", "356938035643809"),
    ("account_id", "acct-77"),
];

fn has_contact(r: &civic311::store::requests::RequestRow) -> bool {
    r.email.is_some()
        || r.phone.is_some()
        || r.first_name.is_some()
        || r.last_name.is_some()
        || r.device_id_hash.is_some()
        || r.account_id.is_some()
}

async fn audit(app: &TestApp, admin: &str) -> Vec<Value> {
    let (code, body) = app.call("GET", "/staff/v1/audit", Some(admin), None).await;
    assert_eq!(code, 200, "{body}");
    body.as_array().unwrap().clone()
}

async fn retention_removes_contact_details_and_photos_on_the_calendar(app: TestApp) {
    app.expect_deliveries(&["cancelled"]);
    let closed_long_ago = app.post_flood(&CONTACT).await;
    let closed_lately = app.post_flood(&CONTACT).await;
    let still_open = app.post_flood(&CONTACT).await;
    let (hidden, photo) = app.post_light_with_photo().await;
    let (shown, kept_photo) = app.post_light_with_photo().await;
    let (rejected, rejected_photo) = app.post_light_with_photo().await;
    app.staff_user("admin", "admin", &[]).await;
    let t = token(&app.sign_in("admin").await);
    app.set_status(&t, &closed_long_ago, "fixed").await;
    app.set_status(&t, &closed_lately, "fixed").await;
    app.set_status(&t, &rejected, "rejected").await;
    let (code, _) = app
        .call(
            "POST",
            &format!("/staff/v1/requests/{hidden}/hide"),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(code, 200);
    // The clock the test controls: the demo city keeps contact details 365 days after closing and photos
    // of hidden reports 30 days.
    app.sql(&format!(
        "UPDATE requests SET updated_at = '2024-01-01 00:00:00' WHERE id IN ({closed_long_ago}, {still_open}, {hidden}, {shown}, {rejected})"
    ))
    .await;
    app.sql(&format!(
        "UPDATE requests SET updated_at = '{}' WHERE id = {closed_lately}",
        (chrono::Utc::now() - chrono::TimeDelta::days(364)).format("%Y-%m-%d %H:%M:%S")
    ))
    .await;
    let media = civic311::media::media_dir(&app.data_dir);

    let dry = app.run_cli(&["retention", "--dry-run"]);
    assert!(
        dry.contains(&format!("request {closed_long_ago}: contact details")),
        "{dry}"
    );
    assert!(
        dry.contains(&format!("request {hidden}: photo {photo}")),
        "{dry}"
    );
    assert!(
        dry.contains("would remove: contact details of 1 report(s), 2 photo(s)"),
        "{dry}"
    );
    assert!(
        has_contact(&app.stored(&closed_long_ago).await),
        "a dry run changes nothing"
    );
    assert!(media.join(&photo).exists());

    let applied = app.run_cli(&["retention", "--apply"]);
    assert!(
        applied.contains("removed: contact details of 1 report(s), 2 photo(s)"),
        "{applied}"
    );
    assert!(!has_contact(&app.stored(&closed_long_ago).await));
    assert!(
        has_contact(&app.stored(&closed_lately).await),
        "not a year yet"
    );
    assert!(
        has_contact(&app.stored(&still_open).await),
        "open reports keep their reporter"
    );
    assert!(
        !media.join(&photo).exists(),
        "the hidden report's photo is gone"
    );
    assert!(
        media.join(&kept_photo).exists(),
        "a public report keeps its photo"
    );
    // The report itself stays open data, with its time unchanged.
    let public = app
        .get_json(&format!("/open311/v2/requests/{closed_long_ago}.json"))
        .await;
    assert_eq!(public[0]["status"], "closed");
    assert!(public[0]["updated_datetime"]
        .as_str()
        .unwrap()
        .starts_with("2024-01-01"));
    let shown_now = app
        .get_json(&format!("/open311/v2/requests/{shown}.json"))
        .await;
    assert!(shown_now[0]["media_url"].is_string());
    // A rejected report stays public without its photo; its time moves, so that copies look again.
    assert!(!media.join(&rejected_photo).exists());
    let rejected_now = app
        .get_json(&format!("/open311/v2/requests/{rejected}.json"))
        .await;
    assert!(rejected_now[0]["media_url"].is_null(), "{rejected_now}");
    assert!(!rejected_now[0]["updated_datetime"]
        .as_str()
        .unwrap()
        .starts_with("2024"));

    // Audited by report, without the values removed.
    let log = audit(&app, &t).await;
    let entries: Vec<(String, String)> = log
        .iter()
        .filter(|e| e["actor"] == "operator retention")
        .map(|e| {
            (
                e["action"].as_str().unwrap().to_string(),
                e["target"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(entries.len(), 3, "{entries:?}");
    assert!(entries.contains(&(
        "contact details removed".into(),
        format!("request {closed_long_ago}")
    )));
    assert!(entries.contains(&("photo removed".into(), format!("request {hidden}"))));
    let text = serde_json::to_string(&log).unwrap().to_lowercase();
    assert!(!text.contains("siti") && !text.contains("3456"), "{text}");

    // A second pass finds nothing more.
    let again = app.run_cli(&["retention", "--apply"]);
    assert!(
        again.contains("removed: contact details of 0 report(s), 0 photo(s)"),
        "{again}"
    );
}

async fn erasure_removes_a_person_from_every_report(app: TestApp) {
    let with_text = app
        .post_flood(&[
            ("email", "siti.rahma@MAIL.example"),
            ("description", "Flooded again, call me on 0812 3456 7890"),
        ])
        .await;
    let plain = app
        .post_flood(&[
            ("email", "Siti.Rahma@mail.example"),
            ("description", "Knee deep"),
        ])
        .await;
    let someone_else = app.post_flood(&[("email", "budi@mail.example")]).await;
    app.staff_user("admin", "admin", &[]).await;
    app.staff_user("rina", "dispatcher", &[]).await;
    let t = token(&app.sign_in("admin").await);
    // The held report is published first: erasure leaves reports public.
    let (code, _) = app
        .call(
            "POST",
            &format!("/staff/v1/requests/{with_text}/publish"),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(code, 200);

    for bad in [
        json!({}),
        json!({"email": "nobody"}),
        json!({"email": "a@b.c", "phone": "0812345678"}),
        json!({"phone": "12"}),
    ] {
        let (code, body) = app
            .call("POST", "/staff/v1/erasures", Some(&t), Some(bad.clone()))
            .await;
        assert_eq!(code, 400, "{bad}: {body}");
    }
    let dispatcher = token(&app.sign_in("rina").await);
    let (code, _) = app
        .call(
            "POST",
            "/staff/v1/erasures",
            Some(&dispatcher),
            Some(json!({"email": "siti.rahma@mail.example"})),
        )
        .await;
    assert_eq!(code, 403);

    let before = app.stored(&with_text).await.updated_at;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let (code, erased) = app
        .call(
            "POST",
            "/staff/v1/erasures",
            Some(&t),
            Some(json!({"email": " SITI.RAHMA@mail.example "})),
        )
        .await;
    assert_eq!(code, 200, "{erased}");
    let mut reports: Vec<String> = erased["reports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    reports.sort();
    let mut expected = vec![with_text.clone(), plain.clone()];
    expected.sort();
    assert_eq!(reports, expected);
    assert_eq!(erased["texts_replaced"], 1);
    for id in [&with_text, &plain] {
        assert!(app.stored(id).await.email.is_none(), "{id}");
    }
    assert_eq!(
        app.stored(&someone_else).await.email.as_deref(),
        Some("budi@mail.example")
    );
    // Still open data; the text that held a phone number is replaced, the other kept.
    let public = app
        .get_json(&format!("/open311/v2/requests/{with_text}.json"))
        .await;
    assert_eq!(
        public[0]["description"],
        civic311::app::privacy::REMOVED_TEXT
    );
    // Its time moved, to a whole second as every stamp (the change feed's cursor counts on it); the
    // report whose text stayed did not change in public.
    let after = app.stored(&with_text).await.updated_at;
    assert!(after > before);
    assert_eq!(chrono::Timelike::nanosecond(&after), 0);
    let plain_row = app.stored(&plain).await;
    assert_eq!(plain_row.updated_at, plain_row.requested_at);
    let public = app
        .get_json(&format!("/open311/v2/requests/{plain}.json"))
        .await;
    assert_eq!(public[0]["description"], "Knee deep");

    // Audited with a fingerprint that is the same for the same person, never the address.
    let log = audit(&app, &t).await;
    let entry = log.iter().find(|e| e["action"] == "erase").unwrap();
    assert_eq!(entry["actor"], "admin");
    let fingerprint = erased["fingerprint"].as_str().unwrap();
    assert_eq!(entry["target"], format!("person {fingerprint}"));
    let text = serde_json::to_string(&log).unwrap().to_lowercase();
    assert!(!text.contains("siti") && !text.contains("rahma"), "{text}");
    let (_, again) = app
        .call(
            "POST",
            "/staff/v1/erasures",
            Some(&t),
            Some(json!({"email": "siti.rahma@mail.example"})),
        )
        .await;
    assert_eq!(again["fingerprint"], erased["fingerprint"]);
    assert_eq!(again["reports"], json!([]), "nothing left to erase");
}

async fn erasure_at_the_command_line_matches_a_phone_however_written(app: TestApp) {
    let a = app
        .post_flood(&[("phone", "0812 3456 7890"), ("first_name", "Siti")])
        .await;
    let b = app.post_flood(&[("phone", "+62-812-3456-7890")]).await;
    let other = app.post_flood(&[("phone", "0812 3456 7891")]).await;
    let out = app.run_cli(&["erase", "--phone", "+62 812 3456 7890", "--by", "dpo"]);
    assert!(out.contains("erased from 2 report(s)"), "{out}");
    for id in [&a, &b] {
        let row = app.stored(id).await;
        assert!(row.phone.is_none() && row.first_name.is_none(), "{id}");
    }
    assert!(app.stored(&other).await.phone.is_some());
}
