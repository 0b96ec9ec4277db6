//! FixMyStreet in front of civic311 (issue #12): what its Open311 client posts (its field names, UPPERCASE
//! statuses, `last_name=-`, CRLF text, `photo1` parts) and what its fetchers read back (XML only,
//! `servicerequestupdates.xml` with `start_date` and `end_date`), with the demo city.

use crate::both_backends;
use crate::helpers::*;
use serde_json::{json, Value};
use std::collections::BTreeMap;

both_backends!(
    the_feed_speaks_fixmystreets_statuses_and_carries_the_citys_own,
    an_update_changes_the_status_only_when_it_says_something_new,
    citizen_comments_follow_the_jurisdictions_setting_and_their_authors_stay_private,
    photos_in_fixmystreet_file_parts_are_kept,
    non_public_reports_stay_out_of_every_public_answer,
    the_documented_endpoint_serves_every_call_fixmystreet_makes,
    a_commenters_details_go_by_the_retention_calendar,
    an_applications_comments_reach_only_what_it_may_see,
);

/// The back-office key of the demo city, and the ordinary key FixMyStreet's body would hold.
const BACKOFFICE: &str = "demo-backoffice-jakarta";
const APP: &str = "demo-key-jakarta";

/// Times as FixMyStreet writes them: UTC, seconds, `Z`.
fn fms_time(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// What FixMyStreet's `PostServiceRequestUpdates` posts for a comment, urlencoded (so its text has CRLF).
async fn fms_update(
    app: &TestApp,
    key: &str,
    id: &str,
    update_id: &str,
    status: &str,
    text: &str,
) -> (u16, String) {
    let resp = app
        .client
        .post(app.url("/open311/v2/servicerequestupdates.xml"))
        .form(&[
            ("jurisdiction_id", "jakarta.go.id"),
            ("api_key", key),
            ("updated_datetime", &fms_time(chrono::Utc::now())),
            ("service_request_id", id),
            ("status", status),
            ("description", text),
            ("first_name", "Budi"),
            ("last_name", "-"),
            ("email", "budi.santoso@mail.example"),
            ("phone", "+62 812 7777 0202"),
            ("update_id", update_id),
            ("service_request_id_ext", "4242"),
        ])
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

/// The feed as FixMyStreet's `GetServiceRequestUpdates` reads it: XML, a window of two hours ending now.
async fn fms_feed(app: &TestApp, key: Option<&str>) -> Vec<BTreeMap<String, Option<String>>> {
    let now = chrono::Utc::now();
    let mut path = format!(
        "/open311/v2/servicerequestupdates.xml?jurisdiction_id=jakarta.go.id&start_date={}&end_date={}",
        fms_time(now - chrono::TimeDelta::hours(2)),
        fms_time(now + chrono::TimeDelta::minutes(1)),
    );
    if let Some(k) = key {
        path.push_str(&format!("&api_key={k}"));
    }
    let xml = app.get_xml(&path).await;
    let doc = roxmltree::Document::parse(&xml).unwrap();
    assert_eq!(
        doc.root_element().tag_name().name(),
        "service_request_updates"
    );
    doc.root_element()
        .children()
        .filter(|n| n.has_tag_name("request_update"))
        .map(xml_fields)
        .collect()
}

fn updates_of<'a>(
    feed: &'a [BTreeMap<String, Option<String>>],
    id: &str,
) -> Vec<&'a BTreeMap<String, Option<String>>> {
    feed.iter()
        .filter(|u| u["service_request_id"].as_deref() == Some(id))
        .collect()
}

fn field<'a>(u: &'a BTreeMap<String, Option<String>>, name: &str) -> &'a str {
    u.get(name).and_then(|v| v.as_deref()).unwrap_or("")
}

async fn dispatcher(app: &TestApp) -> String {
    app.staff_user("rina", "dispatcher", &[]).await;
    token(&app.sign_in("rina").await)
}

/// The text of the first element named `tag` in an XML answer.
fn xml_text(xml: &str, tag: &str) -> String {
    roxmltree::Document::parse(xml)
        .unwrap_or_else(|e| panic!("not XML ({e}): {xml}"))
        .descendants()
        .find(|n| n.has_tag_name(tag))
        .and_then(|n| n.text())
        .unwrap_or_else(|| panic!("no {tag}: {xml}"))
        .to_string()
}

async fn detailed_status(app: &TestApp, id: &str) -> String {
    let r = app
        .get_json(&format!("/open311/v2/requests/{id}.json?extensions=true"))
        .await;
    r[0]["extended_attributes"]["detailed_status"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn the_feed_speaks_fixmystreets_statuses_and_carries_the_citys_own(app: TestApp) {
    let t = dispatcher(&app).await;
    let verified = app.post_flood(&[]).await;
    let rejected = app.post_flood(&[]).await;
    app.set_status(&t, &verified, "verified").await;
    app.set_status(&t, &rejected, "rejected").await;
    // A public note on the rejected report changes no status: the feed still says closed.
    let (code, _) = app
        .call(
            "POST",
            &format!("/staff/v1/requests/{rejected}/notes"),
            Some(&t),
            Some(json!({"text": "Photo shows a puddle after rain", "public": true})),
        )
        .await;
    assert_eq!(code, 200);

    let feed = fms_feed(&app, None).await;
    let v = updates_of(&feed, &verified);
    assert_eq!(v.len(), 1, "{feed:?}");
    // FixMyStreet has no "verified"; the demo city maps it to "investigating" (fms = in its TOML).
    assert_eq!(field(v[0], "status"), "investigating");
    assert_eq!(field(v[0], "external_status_code"), "verified");
    let r = updates_of(&feed, &rejected);
    assert_eq!(r.len(), 2, "{feed:?}");
    for u in &r {
        // Closed in FixMyStreet too ("rejected" would change nothing there); the demo city shows it as
        // no_further_action, which FixMyStreet reads "unable to fix" rather than "fixed".
        assert_eq!(field(u, "status"), "no_further_action", "{u:?}");
        assert_eq!(field(u, "external_status_code"), "rejected");
    }
    assert_eq!(
        field(r[1], "description"),
        "Photo shows a puddle after rain"
    );
    // Every date as FixMyStreet parses it, with a zone.
    for u in &feed {
        let d = field(u, "updated_datetime");
        assert!(chrono::DateTime::parse_from_rfc3339(d).is_ok(), "{d}");
        assert!(!field(u, "update_id").is_empty());
    }
    // JSON says the same.
    let json = app.get_json("/open311/v2/servicerequestupdates.json").await;
    let statuses: Vec<(&str, &str)> = json
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            (
                u["status"].as_str().unwrap(),
                u["external_status_code"].as_str().unwrap(),
            )
        })
        .collect();
    assert!(
        statuses.contains(&("investigating", "verified")),
        "{statuses:?}"
    );
}

async fn an_update_changes_the_status_only_when_it_says_something_new(app: TestApp) {
    let t = dispatcher(&app).await;
    let id = app.post_flood(&[]).await;
    app.set_status(&t, &id, "in_progress").await;

    // FixMyStreet's default: every comment says OPEN. The report is open: nothing new, a public note.
    let (code, xml) = fms_update(
        &app,
        BACKOFFICE,
        &id,
        "fms-101",
        "OPEN",
        "Still flooded\nwater is knee deep",
    )
    .await;
    assert_eq!(code, 200, "{xml}");
    let ack = xml_text(&xml, "update_id");
    assert!(!ack.is_empty());
    assert_eq!(detailed_status(&app, &id).await, "in_progress");
    let feed = fms_feed(&app, None).await;
    let note = updates_of(&feed, &id)
        .into_iter()
        .find(|u| field(u, "update_id") == ack)
        .unwrap()
        .clone();
    assert_eq!(field(&note, "status"), "in_progress");
    assert_eq!(
        field(&note, "description"),
        "Still flooded\nwater is knee deep",
        "CRLF read as one line break"
    );

    // The commenter's details are for staff, with the placeholder last name dropped.
    let (_, detail) = app
        .call("GET", &format!("/staff/v1/requests/{id}"), Some(&t), None)
        .await;
    let entry = detail["history"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["contact"].is_object())
        .unwrap_or_else(|| panic!("{detail}"));
    assert_eq!(entry["contact"]["email"], "budi.santoso@mail.example");
    assert_eq!(entry["contact"]["first_name"], "Budi");
    assert!(entry["contact"]["last_name"].is_null());
    assert_eq!(entry["detail"], "Still flooded\nwater is knee deep");
    for path in [
        format!("/open311/v2/requests/{id}.json?extensions=true"),
        format!("/open311/v2/requests/{id}.xml?extensions=true"),
        "/open311/v2/servicerequestupdates.xml".to_string(),
        "/open311/v2/servicerequestupdates.json".to_string(),
        "/open311/v2/requests.csv".to_string(),
        "/open311/v2/requests.geojson".to_string(),
    ] {
        let text = app.get(&path).await.text().await.unwrap();
        for personal in ["budi.santoso", "7777", "Budi"] {
            assert!(!text.contains(personal), "{path} shows {personal}");
        }
    }

    // A resend is the same update.
    let (_, again) = fms_update(&app, BACKOFFICE, &id, "fms-101", "OPEN", "Still flooded").await;
    assert!(again.contains(&ack), "{again}");

    // Extended statuses map to the city's vocabulary; CLOSED on an open report closes it as fixed.
    let (code, _) = fms_update(&app, BACKOFFICE, &id, "fms-102", "INVESTIGATING", "").await;
    assert_eq!(code, 200);
    assert_eq!(detailed_status(&app, &id).await, "verified");
    let (code, _) = fms_update(&app, BACKOFFICE, &id, "fms-103", "CLOSED", "Fixed, thanks").await;
    assert_eq!(code, 200);
    assert_eq!(detailed_status(&app, &id).await, "fixed");
    // CLOSED again agrees: the detailed status stays; OPEN reopens.
    app.set_status(&t, &id, "not_responsible").await;
    let (code, _) = fms_update(&app, BACKOFFICE, &id, "fms-104", "CLOSED", "ok").await;
    assert_eq!(code, 200);
    assert_eq!(detailed_status(&app, &id).await, "not_responsible");
    let (code, _) = fms_update(&app, BACKOFFICE, &id, "fms-105", "OPEN", "It is back").await;
    assert_eq!(code, 200);
    assert_eq!(detailed_status(&app, &id).await, "open");

    // A status FixMyStreet does not post is a 400 that names the ones it does, in XML.
    let (code, xml) = fms_update(&app, BACKOFFICE, &id, "fms-106", "SOLVED", "").await;
    assert_eq!(code, 400);
    let errors = xml_errors(&xml);
    assert!(
        errors[0].1.contains("OPEN") && errors[0].1.contains("NOT_COUNCILS_RESPONSIBILITY"),
        "{errors:?}"
    );
}

/// Imports the demo city again with `edit` applied to city.toml.
async fn reimport(app: &TestApp, edit: impl Fn(String) -> String) {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&repo_path("examples/demo-city"), dir.path());
    let city = dir.path().join("city.toml");
    std::fs::write(&city, edit(std::fs::read_to_string(&city).unwrap())).unwrap();
    let store = app.store.clone();
    let path = dir.path().to_path_buf();
    tokio::task::spawn_blocking(move || civic311::import::import_dir(&store, &path))
        .await
        .unwrap()
        .unwrap();
}

async fn citizen_comments_follow_the_jurisdictions_setting_and_their_authors_stay_private(
    app: TestApp,
) {
    let id = app.post_flood(&[]).await;
    // The demo city takes citizens' comments from applications as notes: the status they carry stays out.
    let (code, xml) = fms_update(&app, APP, &id, "c-1", "CLOSED", "Looks fixed to me").await;
    assert_eq!(code, 200, "{xml}");
    assert_eq!(detailed_status(&app, &id).await, "open");
    let feed = fms_feed(&app, None).await;
    let u = updates_of(&feed, &id);
    assert_eq!(field(u[0], "description"), "Looks fixed to me");
    assert_eq!(field(u[0], "status"), "open");

    // With "status", a citizen marking it fixed counts.
    reimport(&app, |c| {
        c.replace(
            "citizen_updates = \"notes\"",
            "citizen_updates = \"status\"",
        )
    })
    .await;
    let (code, _) = fms_update(&app, APP, &id, "c-2", "CLOSED", "Really fixed").await;
    assert_eq!(code, 200);
    assert_eq!(detailed_status(&app, &id).await, "fixed");

    // With "off", an application's key gets a 403 that says which kind of key it needs.
    reimport(&app, |c| {
        c.replace("citizen_updates = \"notes\"", "citizen_updates = \"off\"")
    })
    .await;
    let (code, xml) = fms_update(&app, APP, &id, "c-3", "OPEN", "Hello").await;
    assert_eq!(code, 403);
    let errors = xml_errors(&xml);
    assert!(
        errors[0].1.contains("back-office") && errors[0].1.contains("citizen_updates"),
        "{errors:?}"
    );
    // A key nobody issued is still the plain 403.
    let (code, xml) = fms_update(&app, "no-such-key", &id, "c-4", "OPEN", "Hello").await;
    assert_eq!(code, 403);
    assert!(xml_errors(&xml)[0].1.contains("api_key"));
    // A setting the import does not know is refused with the allowed ones.
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&repo_path("examples/demo-city"), dir.path());
    let city = dir.path().join("city.toml");
    let text = std::fs::read_to_string(&city).unwrap();
    std::fs::write(
        &city,
        text.replace("citizen_updates = \"notes\"", "citizen_updates = \"yes\"")
            .replace("fms = \"investigating\"", "fms = \"verified\""),
    )
    .unwrap();
    let store = app.store.clone();
    let path = dir.path().to_path_buf();
    let err = tokio::task::spawn_blocking(move || civic311::import::import_dir(&store, &path))
        .await
        .unwrap()
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("citizen_updates must be one of off, notes, status"),
        "{err}"
    );
    assert!(
        err.contains("fms must be one of open, investigating"),
        "{err}"
    );

    // Erasure takes the commenter's details, and a text that names them; on the person's own report too,
    // where another commenter keeps hers.
    let (code, _) = fms_update(
        &app,
        BACKOFFICE,
        &id,
        "c-5",
        "OPEN",
        "Budi Santoso again, call 0812 7777 0202",
    )
    .await;
    assert_eq!(code, 200);
    let own = app
        .post_flood(&[("email", "budi.santoso@mail.example")])
        .await;
    let (code, _) = fms_update(
        &app,
        BACKOFFICE,
        &own,
        "c-6",
        "OPEN",
        "Me again: 0812 7777 0202",
    )
    .await;
    assert_eq!(code, 200);
    let resp = app
        .client
        .post(app.url("/open311/v2/servicerequestupdates.xml"))
        .form(&[
            ("api_key", BACKOFFICE),
            ("service_request_id", own.as_str()),
            ("update_id", "c-7"),
            ("status", "OPEN"),
            ("updated_datetime", &fms_time(chrono::Utc::now())),
            ("description", "Same here"),
            ("email", "siti@mail.example"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    app.staff_user("dpo", "admin", &[]).await;
    let admin = token(&app.sign_in("dpo").await);
    let (code, erased) = app
        .call(
            "POST",
            "/staff/v1/erasures",
            Some(&admin),
            Some(json!({"email": "BUDI.SANTOSO@mail.example"})),
        )
        .await;
    assert_eq!(code, 200, "{erased}");
    assert_eq!(erased["comments"], 4, "{erased}");
    assert_eq!(erased["texts_replaced"], 2, "{erased}");
    let (_, detail) = app
        .call(
            "GET",
            &format!("/staff/v1/requests/{own}"),
            Some(&admin),
            None,
        )
        .await;
    let kept: Vec<&Value> = detail["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["contact"].is_object())
        .collect();
    assert_eq!(kept.len(), 1, "{detail}");
    assert_eq!(kept[0]["contact"]["email"], "siti@mail.example");
    let (_, detail) = app
        .call(
            "GET",
            &format!("/staff/v1/requests/{id}"),
            Some(&admin),
            None,
        )
        .await;
    assert!(
        detail["history"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["contact"].is_null()),
        "{detail}"
    );
    let text = app
        .get("/open311/v2/servicerequestupdates.json")
        .await
        .text()
        .await
        .unwrap();
    assert!(!text.contains("0812 7777"), "{text}");
}

async fn photos_in_fixmystreet_file_parts_are_kept(app: TestApp) {
    use reqwest::multipart::{Form, Part};
    // FixMyStreet with upload_files (a private report, or always_upload_photos): text parts keep LF.
    let form = Form::new()
        .text("api_key", APP)
        .text("jurisdiction_id", "jakarta.go.id")
        .text("service_code", "LIGHT")
        .text("lat", "-6.1754")
        .text("long", "106.8272")
        .text("description", "Lamp out\n\nhttps://fms.example/report/77\n")
        .text("first_name", "Siti")
        .text("last_name", "")
        .text("email", "siti@mail.example")
        .text("attribute[STATE]", "dark")
        .text("attribute[fixmystreet_id]", "77")
        .part(
            "photo1",
            Part::bytes(jpeg_with_gps())
                .file_name("3f2a.jpeg")
                .mime_str("image/jpeg")
                .unwrap(),
        )
        .part(
            "photo2",
            Part::bytes(png_with_text())
                .file_name("9b1c.png")
                .mime_str("image/png")
                .unwrap(),
        );
    let resp = app
        .client
        .post(app.url("/open311/v2/requests.xml"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let xml = resp.text().await.unwrap();
    assert_eq!(status, 200, "{xml}");
    let id = xml_text(&xml, "service_request_id");
    let r = app
        .get_json(&format!("/open311/v2/requests/{id}.json?extensions=true"))
        .await;
    assert_eq!(
        r[0]["extended_attributes"]["media_urls"]
            .as_array()
            .unwrap()
            .len(),
        2,
        "{r}"
    );
    // Any other file part is a 400 that names it; nothing is stored.
    let form = Form::new()
        .text("api_key", APP)
        .text("service_code", "LIGHT")
        .text("lat", "-6.1754")
        .text("long", "106.8272")
        .text("attribute[STATE]", "dark")
        .part(
            "file_enquiry",
            Part::bytes(b"%PDF-1.4\n".to_vec()).file_name("letter.pdf"),
        );
    let resp = app
        .client
        .post(app.url("/open311/v2/requests.xml"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let errors = xml_errors(&resp.text().await.unwrap());
    assert!(errors[0].1.contains("file_enquiry"), "{errors:?}");
    let all = app.get_json("/open311/v2/requests.json").await;
    assert_eq!(all.as_array().unwrap().len(), 1);
}

async fn non_public_reports_stay_out_of_every_public_answer(app: TestApp) {
    let resp = app
        .post_form("json", &flood(&[("non_public", "TRUE")]))
        .await;
    assert_eq!(resp.status(), 200);
    let ack: Value = resp.json().await.unwrap();
    let id = ack[0]["service_request_id"].as_str().unwrap().to_string();
    let code = ack[0]["reference_code"].as_str().unwrap().to_string();
    let public = app.post_flood(&[]).await;
    let bad = app
        .post_form("json", &flood(&[("non_public", "maybe")]))
        .await;
    assert_eq!(bad.status(), 400);

    assert_eq!(
        app.get(&format!("/open311/v2/requests/{id}.json"))
            .await
            .status(),
        404
    );
    assert_eq!(app.get(&format!("/status/{code}")).await.status(), 404);
    let listed = app.get_json("/open311/v2/requests.json").await;
    let ids: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["service_request_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [public.as_str()]);
    let csv = app
        .get("/open311/v2/requests.csv")
        .await
        .text()
        .await
        .unwrap();
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
    assert_eq!(rows.len(), 1);
    let geojson = app.get_json("/open311/v2/requests.geojson").await;
    assert_eq!(geojson["features"].as_array().unwrap().len(), 1);

    // Staff see it, and cannot publish it.
    let t = dispatcher(&app).await;
    let (code, detail) = app
        .call("GET", &format!("/staff/v1/requests/{id}"), Some(&t), None)
        .await;
    assert_eq!(code, 200);
    assert_eq!(detail["moderation_state"], "private");
    let (code, _) = app
        .call(
            "POST",
            &format!("/staff/v1/requests/{id}/publish"),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(code, 400);
    assert_eq!(
        app.get(&format!("/open311/v2/requests/{id}.json"))
            .await
            .status(),
        404
    );

    // Its updates reach the client that sent it (FixMyStreet follows its private reports by the feed,
    // sending its key), and nobody else.
    app.set_status(&t, &id, "in_progress").await;
    assert!(updates_of(&fms_feed(&app, None).await, &id).is_empty());
    let mine = fms_feed(&app, Some(APP)).await;
    assert_eq!(field(updates_of(&mine, &id)[0], "status"), "in_progress");
    assert_eq!(
        app.get("/open311/v2/servicerequestupdates.xml?api_key=no-such-key")
            .await
            .status(),
        403
    );

    // A service with FixMyStreet's `private` keyword keeps all its reports out.
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&repo_path("examples/demo-city"), dir.path());
    let streets = dir.path().join("services/streets.toml");
    let text = std::fs::read_to_string(&streets).unwrap();
    std::fs::write(
        &streets,
        text.replace(
            "keywords = [\"lamp\", \"light\", \"lampu\", \"PJU\"]",
            "keywords = [\"lamp\", \"light\", \"lampu\", \"PJU\", \"private\"]",
        ),
    )
    .unwrap();
    let store = app.store.clone();
    let path = dir.path().to_path_buf();
    tokio::task::spawn_blocking(move || civic311::import::import_dir(&store, &path))
        .await
        .unwrap()
        .unwrap();
    let services = app.get_xml("/open311/v2/services.xml").await;
    assert!(
        services.contains("PJU,private"),
        "FixMyStreet reads the keyword from the list"
    );
    let resp = app.post_form("json", &light(&[])).await;
    assert_eq!(resp.status(), 200);
    let ack: Value = resp.json().await.unwrap();
    let lamp = ack[0]["service_request_id"].as_str().unwrap();
    assert_eq!(
        app.get(&format!("/open311/v2/requests/{lamp}.json"))
            .await
            .status(),
        404
    );
    // From the web page, the reporter is shown the code at once (looking it up would say "no report").
    let mut form = reqwest::multipart::Form::new();
    for (k, v) in [
        ("service_code", "LIGHT"),
        ("jurisdiction_id", "jakarta.go.id"),
        ("lang", "en"),
        ("idempotency_key", "page-form-1"),
        ("address_string", "Jl. Sabang 12"),
        ("attribute[STATE]", "dark"),
    ] {
        form = form.text(k, v);
    }
    let resp = app
        .client
        .post(app.url("/report"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let html = resp.text().await.unwrap();
    let opts = roxmltree::ParsingOptions {
        allow_dtd: true,
        ..Default::default()
    };
    let doc = roxmltree::Document::parse_with_options(&html, opts).unwrap();
    let shown = doc
        .descendants()
        .find(|n| n.attribute("id") == Some("reference-code"))
        .and_then(|n| n.text())
        .unwrap();
    assert_eq!(shown.len(), 7, "{html}");
}

/// docs/FIXMYSTREET.md: the endpoint with its trailing `/`, to which FixMyStreet appends each path as text.
async fn the_documented_endpoint_serves_every_call_fixmystreet_makes(app: TestApp) {
    let endpoint = app.url("/open311/v2/");
    let get = |path: &str| {
        let url = format!("{endpoint}{path}");
        let client = app.client.clone();
        async move {
            let resp = client.get(&url).send().await.unwrap();
            assert_eq!(resp.status(), 200, "{url}");
            let text = resp.text().await.unwrap();
            roxmltree::Document::parse(&text).unwrap_or_else(|e| panic!("{url}: {e}"));
            text
        }
    };
    let services = get("services.xml").await;
    let doc = roxmltree::Document::parse(&services).unwrap();
    let flood = doc
        .descendants()
        .filter(|n| n.has_tag_name("service"))
        .map(xml_fields)
        .find(|s| s["service_code"].as_deref() == Some("FLOOD"))
        .unwrap();
    assert!(flood["metadata"]
        .as_deref()
        .is_some_and(|m| m.eq_ignore_ascii_case("true")));
    let definition = get("services/FLOOD.xml").await;
    let doc = roxmltree::Document::parse(&definition).unwrap();
    assert!(doc.descendants().any(|n| n.has_tag_name("attribute")));

    // send-reports: urlencoded, the description FixMyStreet builds (CRLF), a one-word name.
    let resp = app
        .client
        .post(format!("{endpoint}requests.xml"))
        .form(&[
            ("api_key", APP),
            ("jurisdiction_id", "jakarta.go.id"),
            ("service_code", "FLOOD"),
            (
                "description",
                "Banjir di underpass\n\nAir setinggi lutut\n\nhttps://fms.example/report/9\n",
            ),
            ("first_name", "Siti"),
            ("last_name", ""),
            ("email", "siti@mail.example"),
            ("lat", "-6.1754"),
            ("long", "106.8272"),
            ("media_url", "https://fms.example/photo/9.0.full.jpeg"),
            ("attribute[DEPTH]", "50"),
            ("attribute[PASSABLE]", "large"),
            ("attribute[title]", "Banjir di underpass"),
            ("attribute[report_url]", "https://fms.example/report/9"),
        ])
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let xml = resp.text().await.unwrap();
    assert_eq!(status, 200, "{xml}");
    let id = xml_text(&xml, "service_request_id");
    // fetch-reports and GetUpdates read it back with every field they need; its text has one kind of
    // line break.
    let now = chrono::Utc::now();
    let window = get(&format!(
        "requests.xml?jurisdiction_id=jakarta.go.id&start_date={}&end_date={}",
        fms_time(now - chrono::TimeDelta::hours(1)),
        fms_time(now + chrono::TimeDelta::minutes(1)),
    ))
    .await;
    for text in [
        window,
        get(&format!("requests.xml?service_request_id={id}")).await,
    ] {
        let doc = roxmltree::Document::parse(&text).unwrap();
        let r = doc
            .descendants()
            .filter(|n| n.has_tag_name("request"))
            .map(xml_fields)
            .find(|r| r["service_request_id"].as_deref() == Some(id.as_str()))
            .unwrap_or_else(|| panic!("{text}"));
        for f in ["lat", "long", "updated_datetime", "status"] {
            assert!(r[f].is_some(), "{f}: {r:?}");
        }
        assert!(!r.contains_key("non_public"));
        let d = r["description"].as_deref().unwrap();
        assert!(d.contains("underpass\n\nAir") && !d.contains('\r'), "{d:?}");
    }
}

/// A report whose only contact details are a commenter's is found by retention, like a reporter's.
async fn a_commenters_details_go_by_the_retention_calendar(app: TestApp) {
    let t = dispatcher(&app).await;
    let id = app.post_flood(&[]).await;
    let (code, _) = fms_update(&app, BACKOFFICE, &id, "fms-1", "CLOSED", "Fixed").await;
    assert_eq!(code, 200);
    assert_eq!(detailed_status(&app, &id).await, "fixed");
    let commenter = |detail: &Value| {
        detail["history"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["contact"]["email"] == "budi.santoso@mail.example")
    };
    let (_, detail) = app
        .call("GET", &format!("/staff/v1/requests/{id}"), Some(&t), None)
        .await;
    assert!(commenter(&detail), "{detail}");
    // The demo city keeps contact details 365 days after closing.
    app.sql(&format!(
        "UPDATE requests SET updated_at = '2024-01-01 00:00:00' WHERE id = {id}"
    ))
    .await;
    let applied = app.run_cli(&["retention", "--apply"]);
    assert!(
        applied.contains("removed: contact details of 1 report(s)"),
        "{applied}"
    );
    let (_, detail) = app
        .call("GET", &format!("/staff/v1/requests/{id}"), Some(&t), None)
        .await;
    assert!(!commenter(&detail), "{detail}");
    assert_eq!(
        detail["history"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["detail"] == "Fixed")
            .count(),
        1,
        "the comment itself stays"
    );
}

/// An application's key comments on public reports and on the non-public ones it sent, nothing else; a
/// comment that looks as if it carries contact details stays with staff; its update ids are its own.
async fn an_applications_comments_reach_only_what_it_may_see(app: TestApp) {
    // Held for review: its text looks like a phone number.
    let held = app
        .post_flood(&[("description", "Banjir, hubungi 0812 3456 7890")])
        .await;
    let (code, _) = fms_update(&app, APP, &held, "a-1", "OPEN", "Me too").await;
    assert_eq!(code, 404);
    let (code, _) = fms_update(&app, BACKOFFICE, &held, "a-1", "OPEN", "Seen").await;
    assert_eq!(code, 200, "a back office updates every report of its city");
    // Its own non-public report, yes.
    let resp = app.post_form("json", &flood(&[("non_public", "1")])).await;
    let mine: Value = resp.json().await.unwrap();
    let mine = mine[0]["service_request_id"].as_str().unwrap().to_string();
    let (code, _) = fms_update(&app, APP, &mine, "a-2", "OPEN", "Any news?").await;
    assert_eq!(code, 200);

    // A comment with a phone number in it is for staff only and changes nothing.
    let id = app.post_flood(&[]).await;
    let (code, _) = fms_update(&app, APP, &id, "7", "OPEN", "Call me on 0812 7777 0202").await;
    assert_eq!(code, 200);
    let feed = fms_feed(&app, None).await;
    assert!(updates_of(&feed, &id).is_empty(), "{feed:?}");
    let t = dispatcher(&app).await;
    let (_, detail) = app
        .call("GET", &format!("/staff/v1/requests/{id}"), Some(&t), None)
        .await;
    let comment = detail["history"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "citizen comment")
        .unwrap()
        .clone();
    assert_eq!(comment["public"], false);

    // The application's update 8 and the back office's update 8 are two updates.
    let (_, first) = fms_update(&app, APP, &id, "8", "OPEN", "Still there").await;
    let (_, second) = fms_update(&app, BACKOFFICE, &id, "8", "OPEN", "Crew informed").await;
    assert_ne!(
        xml_text(&first, "update_id"),
        xml_text(&second, "update_id")
    );

    // non_public must be a plain value: a list is a 400, not a public report.
    let resp = app
        .client
        .post(app.url("/open311/v2/requests.json"))
        .json(
            &json!({"api_key": APP, "service_code": "FLOOD", "lat": -6.2, "long": 106.8,
                      "attribute": {"DEPTH": 20, "PASSABLE": "all"}, "non_public": [true]}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);

    // A non-public report of a batch service: its token still answers its id (FixMyStreet polls it).
    let resp = app
        .post_form(
            "json",
            &[
                ("api_key", APP),
                ("service_code", "DUMPING"),
                ("address_string", "Kali Ciliwung, Manggarai"),
                ("attribute[AMOUNT]", "truck"),
                ("non_public", "true"),
            ],
        )
        .await;
    assert_eq!(resp.status(), 200);
    let ack: Value = resp.json().await.unwrap();
    let token = ack[0]["token"].as_str().unwrap();
    let by_token = app
        .get_json(&format!("/open311/v2/tokens/{token}.json"))
        .await;
    assert!(by_token[0]["service_request_id"].is_string(), "{by_token}");
}
