//! Reports from people without a smartphone (issue #11): paper and phone reports typed in by staff, scans
//! of paper forms, batches, reference codes, the status by code and by SMS, and the catalogue in two
//! languages.

use crate::both_backends;
use crate::helpers::*;
use serde_json::{json, Value};

both_backends!(
    a_paper_report_is_routed_mailed_and_open_data_with_its_channel_and_observed_time,
    a_scan_of_the_paper_form_is_for_staff_only,
    a_batch_with_one_bad_form_stores_the_good_ones,
    the_intake_role_enters_reports_and_sees_only_its_own,
    contact_details_need_consent_and_observed_times_are_checked,
    the_status_by_code_fits_one_sms_in_both_languages,
    an_sms_gateway_gets_the_same_answer,
    every_open311_get_honours_locale,
    an_idempotency_key_is_per_clerk,
    scans_go_with_the_contact_details_by_retention_and_erasure,
    translations_are_checked_and_a_changed_one_reaches_every_answer,
    a_form_and_its_scans_are_stored_together,
    the_status_text_dates_the_status_not_the_last_change,
);

/// A clerk of the district office with the intake role, signed in.
async fn clerk(app: &TestApp, name: &str) -> (String, String) {
    let id = app.staff_user(name, "intake", &[]).await;
    (id, token(&app.sign_in(name).await))
}

fn paper_form(observed: &str) -> Value {
    json!({
        "service_code": "FLOOD",
        "lat": -6.1754,
        "long": 106.8272,
        "address_string": "Jl. Medan Merdeka Barat, RT 03/RW 02",
        "description": "Air setinggi lutut di depan sekolah",
        "attribute": {"DEPTH": 50, "PASSABLE": "large"},
        "channel": "paper",
        "observed_at": observed,
        "contact_consent": true,
        "first_name": "Siti",
        "phone": "+62 812 5555 0101",
    })
}

/// Every string anywhere in a JSON document.
fn strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Array(a) => a.iter().for_each(|x| strings(x, out)),
        Value::Object(m) => m.iter().for_each(|(k, x)| {
            out.push(k.clone());
            strings(x, out)
        }),
        _ => {}
    }
}

fn two_days_ago() -> (String, chrono::DateTime<chrono::FixedOffset>) {
    let t = (chrono::Utc::now() - chrono::TimeDelta::days(2))
        .with_timezone(&chrono::FixedOffset::east_opt(7 * 3600).unwrap());
    let t = t - chrono::TimeDelta::nanoseconds(t.timestamp_subsec_nanos() as i64);
    (t.to_rfc3339(), t)
}

async fn a_paper_report_is_routed_mailed_and_open_data_with_its_channel_and_observed_time(
    app: TestApp,
) {
    let (clerk_id, tok) = clerk(&app, "kelurahan-gambir").await;
    let (observed, at) = two_days_ago();
    let (status, ack) = app
        .call(
            "POST",
            "/staff/v1/requests",
            Some(&tok),
            Some(paper_form(&observed)),
        )
        .await;
    assert_eq!(status, 201, "{ack}");
    let id = ack["service_request_id"].as_str().unwrap().to_string();
    let code = ack["reference_code"].as_str().unwrap();
    assert_eq!(code.len(), 7);
    assert_eq!(
        civic311::domain::refcode::decode(code).unwrap().to_string(),
        id
    );
    let receipt = ack["receipt"].as_str().unwrap();
    assert!(
        receipt.contains(code) && receipt.contains("Flooded street"),
        "{receipt}"
    );

    // Routed and e-mailed like an app report.
    let row = app.stored(&id).await;
    assert!(row.department_code.is_some(), "routed");
    assert_eq!(row.entered_by.as_deref(), Some(clerk_id.as_str()));
    assert_eq!(row.channel.as_deref(), Some("paper"));
    assert!(app
        .deliveries()
        .await
        .iter()
        .any(|d| d.request_id.to_string() == id));

    // Open data: the channel and the citizen's time; never the reporter.
    let report = app
        .get_json(&format!("/open311/v2/requests/{id}.json?extensions=true"))
        .await;
    let r = &report[0];
    assert_eq!(r["extended_attributes"]["channel"], "paper");
    assert_eq!(r["extended_attributes"]["reference_code"], code);
    let requested =
        chrono::DateTime::parse_from_rfc3339(r["requested_datetime"].as_str().unwrap()).unwrap();
    assert_eq!(requested, at);
    assert!(r["agency_responsible"].is_string());
    let mut all = Vec::new();
    strings(&report, &mut all);
    for secret in [
        "Siti",
        "+62 812 5555 0101",
        clerk_id.as_str(),
        "kelurahan-gambir",
    ] {
        assert!(
            !all.iter().any(|s| s.contains(secret)),
            "{secret} is public"
        );
    }
    let geo = app
        .get_json("/open311/v2/requests.geojson?extensions=true")
        .await;
    let feature = geo["features"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["properties"]["service_request_id"] == id.as_str())
        .expect("in the GeoJSON");
    assert_eq!(feature["properties"]["channel"], "paper");

    // Staff see who typed it in, when, and the consent.
    let (_, detail) = app
        .call("GET", &format!("/staff/v1/requests/{id}"), Some(&tok), None)
        .await;
    assert_eq!(detail["entered_by"], clerk_id.as_str());
    assert_eq!(detail["contact_consent"], true);
    assert_eq!(detail["reference_code"], code);
    assert_eq!(detail["contact"]["phone"], "+62 812 5555 0101");
    let entered =
        chrono::DateTime::parse_from_rfc3339(detail["entered_datetime"].as_str().unwrap()).unwrap();
    assert!(entered > requested + chrono::TimeDelta::days(1));
    // A code read over the phone opens the report for staff too.
    let (status, by_code) = app
        .call(
            "GET",
            &format!("/staff/v1/requests/{code}"),
            Some(&tok),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(by_code["service_request_id"], id.as_str());
}

async fn a_scan_of_the_paper_form_is_for_staff_only(app: TestApp) {
    use reqwest::multipart::{Form, Part};
    let (_, tok) = clerk(&app, "rw-volunteer").await;
    let form = Form::new()
        .text("service_code", "LIGHT")
        .text("address_string", "Jl. Kramat Raya, gang 5")
        .text("attribute[STATE]", "dark")
        .text("channel", "volunteer")
        .part(
            "scan",
            Part::bytes(jpeg_with_gps())
                .file_name("form.jpg")
                .mime_str("image/jpeg")
                .unwrap(),
        );
    let resp = app
        .client
        .post(app.url("/staff/v1/requests"))
        .bearer_auth(&tok)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let ack: Value = resp.json().await.unwrap();
    let id = ack["service_request_id"].as_str().unwrap().to_string();
    // A second scan, a PDF sent as the body itself.
    let resp = app
        .client
        .post(app.url(&format!("/staff/v1/requests/{id}/scans")))
        .bearer_auth(&tok)
        .header("content-type", "application/pdf")
        .body(b"%PDF-1.4\n% a scanned form\n".to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);

    let (_, detail) = app
        .call("GET", &format!("/staff/v1/requests/{id}"), Some(&tok), None)
        .await;
    let scans = detail["scans"].as_array().unwrap();
    assert_eq!(scans.len(), 2);
    assert_eq!(
        scans[0]["content_type"], "image/jpeg",
        "in the order they came"
    );
    assert_eq!(scans[1]["content_type"], "application/pdf");
    let url = scans[0]["url"].as_str().unwrap();
    let resp = app
        .client
        .get(app.url(url))
        .bearer_auth(&tok)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "image/jpeg");
    let bytes = resp.bytes().await.unwrap();
    assert!(
        !bytes.windows(11).any(|w| w == b"GPSLatitude"),
        "cleaned like a photo"
    );
    // Without a token, or publicly, never.
    assert_eq!(app.get(url).await.status(), 401);
    let id_num: i64 = id.parse().unwrap();
    let files = app
        .store
        .read(move |c| civic311::store::requests::scans_of(c, id_num))
        .await
        .unwrap();
    let code = ack["reference_code"].as_str().unwrap().to_string();
    for f in &files {
        assert_eq!(
            app.get(&format!("/open311/v2/media/{}", f.file_name))
                .await
                .status(),
            404
        );
    }
    for path in public_get_paths(&[
        ("{service_code}", "LIGHT"),
        ("{service_request_id}", &id),
        ("{token}", "none"),
        ("{file_name}", "none.jpg"),
        ("{code}", &code),
    ]) {
        let text = app.get(&path).await.text().await.unwrap();
        for f in &files {
            assert!(
                !text.contains(&f.file_name) && !text.contains(&f.id),
                "{path}"
            );
        }
    }
    // The reading is audited.
    let admin = app.staff_user("admin-1", "admin", &[]).await;
    let _ = admin;
    let at = token(&app.sign_in("admin-1").await);
    let (_, audit) = app.call("GET", "/staff/v1/audit", Some(&at), None).await;
    let mut all = Vec::new();
    strings(&audit, &mut all);
    assert!(all.iter().any(|s| s == "read scan"), "{audit}");
}

async fn a_batch_with_one_bad_form_stores_the_good_ones(app: TestApp) {
    let (_, tok) = clerk(&app, "kecamatan-menteng").await;
    let (observed, _) = two_days_ago();
    let mut bad = paper_form(&observed);
    bad["attribute"]["DEPTH"] = json!(900);
    let mut phone = paper_form(&observed);
    phone["channel"] = json!("phone");
    phone["service_code"] = json!("LIGHT");
    phone["attribute"] = json!({"STATE": "flicker"});
    let (status, answer) = app
        .call(
            "POST",
            "/staff/v1/requests",
            Some(&tok),
            Some(json!({"reports": [paper_form(&observed), bad, phone]})),
        )
        .await;
    assert_eq!(status, 207, "some stored, some refused: {answer}");
    assert_eq!(answer["stored"], 2);
    assert_eq!(answer["refused"], 1);
    let results = answer["results"].as_array().unwrap();
    assert_eq!(results[0]["status"], 201);
    assert_eq!(results[1]["status"], 400);
    assert_eq!(results[1]["index"], 1);
    let errors = json_errors(&json!(results[1]["errors"]));
    assert!(
        errors.iter().any(|(_, d)| d.contains("DEPTH")),
        "{errors:?}"
    );
    assert_eq!(results[2]["status"], 201);
    for r in [&results[0], &results[2]] {
        let id = r["service_request_id"].as_str().unwrap();
        app.get_json(&format!("/open311/v2/requests/{id}.json"))
            .await;
    }
    let listed = app.get_json("/open311/v2/requests.json").await;
    assert_eq!(listed.as_array().unwrap().len(), 2);
}

async fn the_intake_role_enters_reports_and_sees_only_its_own(app: TestApp) {
    let (_, tok) = clerk(&app, "clerk-a").await;
    let (_, other) = clerk(&app, "clerk-b").await;
    let (observed, _) = two_days_ago();
    let (_, mine) = app
        .call(
            "POST",
            "/staff/v1/requests",
            Some(&tok),
            Some(paper_form(&observed)),
        )
        .await;
    let mine = mine["service_request_id"].as_str().unwrap().to_string();
    let app_report = app.post_flood(&[]).await;
    let (_, list) = app
        .call("GET", "/staff/v1/requests", Some(&tok), None)
        .await;
    let ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["service_request_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [mine.as_str()]);
    let (status, _) = app
        .call(
            "GET",
            &format!("/staff/v1/requests/{app_report}"),
            Some(&tok),
            None,
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = app
        .call(
            "GET",
            &format!("/staff/v1/requests/{mine}"),
            Some(&other),
            None,
        )
        .await;
    assert_eq!(status, 404, "another clerk's report");
    // No triage.
    let (status, body) = app
        .call(
            "POST",
            &format!("/staff/v1/requests/{mine}/status"),
            Some(&tok),
            Some(json!({"status": "fixed"})),
        )
        .await;
    assert_eq!(status, 403, "{body}");
    // Department staff do not enter reports; dispatchers do.
    app.staff_user("dept-1", "staff", &["SDA"]).await;
    let dept = token(&app.sign_in("dept-1").await);
    let (status, _) = app
        .call(
            "POST",
            "/staff/v1/requests",
            Some(&dept),
            Some(paper_form(&observed)),
        )
        .await;
    assert_eq!(status, 403);
    app.staff_user("dispatch-1", "dispatcher", &[]).await;
    let dispatch = token(&app.sign_in("dispatch-1").await);
    let (status, body) = app
        .call(
            "POST",
            "/staff/v1/requests",
            Some(&dispatch),
            Some(paper_form(&observed)),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, _) = app
        .call(
            "POST",
            "/staff/v1/requests",
            None,
            Some(paper_form(&observed)),
        )
        .await;
    assert_eq!(status, 401);
}

async fn contact_details_need_consent_and_observed_times_are_checked(app: TestApp) {
    let (_, tok) = clerk(&app, "clerk-c").await;
    let (observed, _) = two_days_ago();
    let cases: Vec<(Value, &str)> = vec![
        (
            {
                let mut f = paper_form(&observed);
                f["contact_consent"] = json!(false);
                f
            },
            "contact_consent",
        ),
        (
            {
                let mut f = paper_form(&observed);
                f.as_object_mut().unwrap().remove("contact_consent");
                f
            },
            "contact_consent",
        ),
        (
            {
                let mut f = paper_form(&observed);
                f["observed_at"] = json!("2099-01-01T00:00:00+07:00");
                f
            },
            "observed_at",
        ),
        (
            {
                let mut f = paper_form(&observed);
                f["observed_at"] = json!("yesterday");
                f
            },
            "observed_at",
        ),
        (
            {
                let mut f = paper_form(&observed);
                f["channel"] = json!("pigeon");
                f
            },
            "channel",
        ),
        (
            {
                let mut f = paper_form(&observed);
                f.as_object_mut().unwrap().remove("channel");
                f
            },
            "channel",
        ),
    ];
    for (form, field) in cases {
        let (status, body) = app
            .call("POST", "/staff/v1/requests", Some(&tok), Some(form))
            .await;
        assert_eq!(status, 400, "{field}: {body}");
        assert!(body.to_string().contains(field), "{field}: {body}");
    }
    // Without contact details no consent is needed, and without observed_at the entry time is used.
    let (status, body) = app
        .call(
            "POST",
            "/staff/v1/requests",
            Some(&tok),
            Some(json!({"service_code": "LIGHT", "address_string": "Jl. Sabang", "attribute": {"STATE": "day"}, "channel": "walk_in"})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let row = app
        .stored(body["service_request_id"].as_str().unwrap())
        .await;
    assert!(row.email.is_none() && row.phone.is_none() && row.entered_at.is_none());
    assert!(
        (chrono::Utc::now().naive_utc() - row.requested_at)
            .num_seconds()
            .abs()
            < 60
    );
    assert_eq!(
        app.get_json("/open311/v2/requests.json")
            .await
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

/// The reference code of an app's report, from its POST answer.
async fn post_with_code(app: &TestApp, form: &[(&str, &str)]) -> (String, String) {
    let resp = app.post_form("json", form).await;
    assert_eq!(resp.status(), 200);
    let ack: Value = resp.json().await.unwrap();
    (
        ack[0]["service_request_id"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        ack[0]["reference_code"].as_str().unwrap().to_string(),
    )
}

async fn status_text(app: &TestApp, path: &str, lang: Option<&str>) -> (u16, String, String) {
    let mut req = app.client.get(app.url(path));
    if let Some(l) = lang {
        req = req.header("accept-language", l);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let language = resp.headers()["content-language"]
        .to_str()
        .unwrap()
        .to_string();
    (status, language, resp.text().await.unwrap())
}

async fn the_status_by_code_fits_one_sms_in_both_languages(app: TestApp) {
    // Hiding the report at the end cancels its e-mail.
    app.expect_deliveries(&["cancelled"]);
    let (id, code) = post_with_code(&app, &flood(&[])).await;
    // The XML answer carries the code too.
    let resp = app.post_form("xml", &light(&[])).await;
    let xml = resp.text().await.unwrap();
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let xml_code = doc
        .descendants()
        .find(|n| n.has_tag_name("reference_code"))
        .and_then(|n| n.text())
        .unwrap();
    assert!(civic311::domain::refcode::decode(xml_code).is_ok());

    let (status, lang, en) = status_text(&app, &format!("/status/{code}"), None).await;
    assert_eq!((status, lang.as_str()), (200, "en"));
    assert!(
        en.starts_with(&format!("{code}: Flooded street - Received since ")),
        "{en}"
    );
    let (_, lang, id_text) = status_text(
        &app,
        &format!("/status/{}", code.to_lowercase()),
        Some("id-ID,id;q=0.9,en;q=0.5"),
    )
    .await;
    assert_eq!(lang, "id");
    assert!(
        id_text.starts_with(&format!("{code}: Jalan banjir - Diterima sejak ")),
        "{id_text}"
    );

    // A long public note still fits, in both languages.
    app.staff_user("admin-s", "admin", &[]).await;
    let at = token(&app.sign_in("admin-s").await);
    let note = "Pompa sudah dikirim ke lokasi dan air mulai surut, tetapi underpass tetap ditutup sampai besok pagi karena lumpur dan sampah yang harus dibersihkan lebih dulu oleh petugas";
    let (s, body) = app
        .call(
            "POST",
            &format!("/staff/v1/requests/{id}/status"),
            Some(&at),
            Some(json!({"status": "in_progress", "status_notes": note})),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    for lang in ["en", "id"] {
        let (_, _, text) = status_text(&app, &format!("/status/{code}"), Some(lang)).await;
        assert!(
            text.chars().count() <= 160,
            "{} {text}",
            text.chars().count()
        );
        assert!(text.contains("Pompa sudah dikirim"), "{text}");
        assert!(
            text.contains(if lang == "en" {
                "In progress"
            } else {
                "Sedang ditangani"
            }),
            "{text}"
        );
    }
    // JSON, by extension or by Accept.
    let v = app
        .get_json(&format!("/status/{code}.json?locale=id"))
        .await;
    assert_eq!(v["service_request_id"], id.as_str());
    assert_eq!(v["status"], "open");
    assert_eq!(v["detailed_status"], "in_progress");
    assert_eq!(v["status_name"], "Sedang ditangani");
    assert_eq!(v["status_description"], "Petugas sedang menanganinya.");
    assert_eq!(v["note"], note);
    let resp = app
        .client
        .get(app.url(&format!("/status/{code}")))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["status_name"], "In progress");

    // Typos are caught, unknown codes are unknown, and a held report shows nothing but that.
    let mut typo: Vec<char> = code.chars().collect();
    typo.swap(2, 3);
    let typo: String = typo.into_iter().collect();
    if typo != code {
        let (status, _, text) = status_text(&app, &format!("/status/{typo}"), None).await;
        assert_eq!(status, 400, "{text}");
        assert!(text.contains("mistyped"));
    }
    let (status, _, _) = status_text(&app, "/status/ABC", None).await;
    assert_eq!(status, 404);
    let (held, held_code) = post_with_code(
        &app,
        &flood(&[("description", "call me on 0812 5555 0101 please")]),
    )
    .await;
    let v = app.get_json(&format!("/status/{held_code}.json")).await;
    assert_eq!(v["status"], "under_review");
    assert!(v["service_request_id"].is_null(), "{held}");
    assert!(v["note"].is_null());
    assert!(!v.to_string().contains("0812"));
    // A hidden report is unknown.
    app.call(
        "POST",
        &format!("/staff/v1/requests/{id}/hide"),
        Some(&at),
        Some(json!({"reason": "spam"})),
    )
    .await;
    let (status, _, _) = status_text(&app, &format!("/status/{code}"), None).await;
    assert_eq!(status, 404);
}

async fn an_sms_gateway_gets_the_same_answer(app: TestApp) {
    let (_, code) = post_with_code(&app, &flood(&[])).await;
    let (_, _, direct) = status_text(&app, &format!("/status/{code}"), None).await;
    let sms = |body: Vec<(&'static str, String)>, query: &'static str| {
        let app = &app;
        async move {
            let resp = app
                .client
                .post(app.url(&format!("/sms/inbound{query}")))
                .form(&body)
                .send()
                .await
                .unwrap();
            (resp.status().as_u16(), resp.text().await.unwrap())
        }
    };
    let (status, text) = sms(
        vec![
            ("Body", format!("STATUS {code}")),
            ("From", "+6281200000000".into()),
        ],
        "",
    )
    .await;
    assert_eq!((status, text.as_str()), (200, direct.as_str()));
    let (_, text) = sms(
        vec![("text", format!("status  {}", code.to_lowercase()))],
        "",
    )
    .await;
    assert_eq!(text, direct);
    let (_, text) = sms(vec![("text", format!("CEK {code}"))], "").await;
    assert!(text.contains("Jalan banjir - Diterima"), "{text}");
    // Whatever the message, the gateway gets a reply to send (a gateway sends none with an error status).
    let (status, text) = sms(vec![("message", "halo apa kabar".into())], "").await;
    assert_eq!(status, 200);
    assert!(text.contains("STATUS"), "{text}");
    let (status, text) = sms(vec![("Body", "STATUS ABCDEFG".into())], "").await;
    assert_eq!(status, 200);
    assert!(
        text.contains("mistyped") || text.contains("No report"),
        "{text}"
    );
    let resp = app
        .client
        .post(app.url("/sms/inbound"))
        .form(&[("From", "+6281200000000")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400, "no message at all");
    let (status, xml) = sms(vec![("Body", format!("STATUS {code}"))], "?format=twiml").await;
    assert_eq!(status, 200);
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let message = doc
        .descendants()
        .find(|n| n.has_tag_name("Message"))
        .unwrap();
    assert_eq!(message.text().unwrap(), direct);
    let resp = app
        .client
        .post(app.url("/sms/inbound"))
        .json(&json!({"text": format!("STATUS {code}")}))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["text"], direct.as_str());
}

async fn every_open311_get_honours_locale(app: TestApp) {
    let id = app.post_flood(&[]).await;
    // Services, in both formats.
    let services = app.get_json("/open311/v2/services.json?locale=id").await;
    let flood = services
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["service_code"] == "FLOOD")
        .unwrap();
    assert_eq!(flood["service_name"], "Jalan banjir");
    assert_eq!(flood["group"], "Air & drainase");
    let xml = app.get_xml("/open311/v2/services.xml?locale=id").await;
    let doc = roxmltree::Document::parse(&xml).unwrap();
    assert!(doc
        .descendants()
        .any(|n| n.has_tag_name("service_name") && n.text() == Some("Jalan banjir")));
    // A definition, with a region variant.
    let def = app
        .get_json("/open311/v2/services/FLOOD.json?locale=id_ID")
        .await;
    let passable = def["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["code"] == "PASSABLE")
        .unwrap();
    assert_eq!(
        passable["description"],
        "Apakah kendaraan masih bisa lewat?"
    );
    assert_eq!(passable["values"][0]["name"], "Semua kendaraan");
    assert_eq!(
        passable["values"][0]["key"], "all",
        "keys are never translated"
    );
    // Reports: the service's name and the attribute questions.
    for path in [
        "/open311/v2/requests.json?locale=id&extensions=true".to_string(),
        format!("/open311/v2/requests/{id}.json?locale=id&extensions=true"),
    ] {
        let v = app.get_json(&path).await;
        assert_eq!(v[0]["service_name"], "Jalan banjir", "{path}");
        let depth = v[0]["attributes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["code"] == "DEPTH")
            .unwrap();
        assert_eq!(depth["name"], "Seberapa dalam airnya?");
        assert_eq!(
            v[0]["status"], "open",
            "Open311's status values are never translated"
        );
    }
    let geo = app.get_json("/open311/v2/requests.geojson?locale=id").await;
    assert_eq!(
        geo["features"][0]["properties"]["service_name"],
        "Jalan banjir"
    );
    let csv = app
        .get("/open311/v2/requests.csv?locale=id")
        .await
        .text()
        .await
        .unwrap();
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let headers = reader.headers().unwrap().clone();
    let col = headers.iter().position(|h| h == "service_name").unwrap();
    assert_eq!(
        &reader.records().next().unwrap().unwrap()[col],
        "Jalan banjir"
    );
    // Without a locale, or in one the city has no texts for: its own language.
    for q in ["", "?locale=fr", "?locale=en"] {
        let v = app
            .get_json(&format!("/open311/v2/requests/{id}.json{q}"))
            .await;
        assert_eq!(v[0]["service_name"], "Flooded street", "{q}");
    }
    // Every other public GET answers with a locale as without one.
    for path in public_get_paths(&[
        ("{service_code}", "FLOOD"),
        ("{service_request_id}", &id),
        ("{token}", "none"),
        ("{file_name}", "none.jpg"),
        ("{code}", "ABC"),
    ]) {
        let sep = if path.contains('?') { '&' } else { '?' };
        let a = app.get(&path).await.status();
        let b = app.get(&format!("{path}{sep}locale=id")).await.status();
        assert_eq!(a, b, "{path}");
    }
}

async fn an_idempotency_key_is_per_clerk(app: TestApp) {
    let (_, a) = clerk(&app, "clerk-1").await;
    let (_, b) = clerk(&app, "clerk-2").await;
    let (observed, _) = two_days_ago();
    let mut form = paper_form(&observed);
    form["idempotency_key"] = json!("form-0001");
    let (_, first) = app
        .call("POST", "/staff/v1/requests", Some(&a), Some(form.clone()))
        .await;
    let (_, again) = app
        .call("POST", "/staff/v1/requests", Some(&a), Some(form.clone()))
        .await;
    assert_eq!(first["service_request_id"], again["service_request_id"]);
    let (_, other) = app
        .call("POST", "/staff/v1/requests", Some(&b), Some(form))
        .await;
    assert_ne!(first["service_request_id"], other["service_request_id"]);
}

/// Enters a report with a PDF scan; answers its id.
async fn with_scan(app: &TestApp, tok: &str, form: Value) -> String {
    let (status, ack) = app
        .call("POST", "/staff/v1/requests", Some(tok), Some(form))
        .await;
    assert_eq!(status, 201, "{ack}");
    let id = ack["service_request_id"].as_str().unwrap().to_string();
    let resp = app
        .client
        .post(app.url(&format!("/staff/v1/requests/{id}/scans")))
        .bearer_auth(tok)
        .header("content-type", "application/pdf")
        .body(b"%PDF-1.4\n% Siti, 0812 5555 0101\n".to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    id
}

fn scan_files(app: &TestApp) -> usize {
    std::fs::read_dir(app.data_dir.join("scans"))
        .map(|d| {
            d.filter(|e| {
                !e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .starts_with('.')
            })
            .count()
        })
        .unwrap_or(0)
}

async fn scans_go_with_the_contact_details_by_retention_and_erasure(app: TestApp) {
    app.staff_user("dpo", "admin", &[]).await;
    let admin = token(&app.sign_in("dpo").await);
    let (observed, _) = two_days_ago();
    // One form with the reporter's number, one without any contact detail but closed long ago.
    let named = with_scan(&app, &admin, paper_form(&observed)).await;
    let anonymous = with_scan(
        &app,
        &admin,
        json!({"service_code": "LIGHT", "address_string": "Jl. Sabang", "attribute": {"STATE": "dark"}, "channel": "paper"}),
    )
    .await;
    assert_eq!(scan_files(&app), 2);
    let (s, _) = app
        .call(
            "POST",
            &format!("/staff/v1/requests/{anonymous}/status"),
            Some(&admin),
            Some(json!({"status": "fixed"})),
        )
        .await;
    assert_eq!(s, 200);
    app.sql(&format!(
        "UPDATE requests SET updated_at = '2024-01-01 00:00:00' WHERE id = {anonymous}"
    ))
    .await;
    let out = app.run_cli(&["retention", "--apply"]);
    assert!(
        out.contains(&format!("request {anonymous}: contact details")),
        "{out}"
    );
    let (_, detail) = app
        .call(
            "GET",
            &format!("/staff/v1/requests/{anonymous}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(detail["scans"].as_array().unwrap().len(), 0);
    assert_eq!(scan_files(&app), 1);

    // Erasure by the reporter's number takes the scan of the form she wrote.
    let (s, erased) = app
        .call(
            "POST",
            "/staff/v1/erasures",
            Some(&admin),
            Some(json!({"phone": "0812-5555-0101"})),
        )
        .await;
    assert_eq!(s, 200, "{erased}");
    assert_eq!(erased["reports"], json!([named]));
    assert_eq!(erased["scans_removed"], 1);
    let (_, detail) = app
        .call(
            "GET",
            &format!("/staff/v1/requests/{named}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(detail["scans"].as_array().unwrap().len(), 0);
    assert!(detail["contact"]["phone"].is_null());
    assert_eq!(scan_files(&app), 0);
}

async fn translations_are_checked_and_a_changed_one_reaches_every_answer(app: TestApp) {
    let import = |dir: std::path::PathBuf| {
        let store = app.store.clone();
        async move {
            tokio::task::spawn_blocking(move || civic311::import::import_dir(&store, &dir))
                .await
                .unwrap()
        }
    };
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&repo_path("examples/demo-city"), dir.path());
    let flood_file = dir.path().join("services/flood.toml");
    let original = std::fs::read_to_string(&flood_file).unwrap();
    // A value key the attribute does not have, and a language that is not a code.
    let bad = original
        .replace(
            "none = \"Tidak ada yang bisa lewat\"",
            "nothing = \"Tidak ada yang bisa lewat\"",
        )
        .replace(
            "[services.translations.id]",
            "[services.translations.Indonesian]",
        );
    std::fs::write(&flood_file, bad).unwrap();
    let err = import(dir.path().to_path_buf())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("values.nothing is not one of the attribute's values"),
        "{err}"
    );
    assert!(err.contains("translations.Indonesian"), "{err}");

    // A translation alone changes: the list's answer and its Last-Modified move with it.
    let before = app.get("/open311/v2/services.json?locale=id").await;
    let modified = before.headers()["last-modified"]
        .to_str()
        .unwrap()
        .to_string();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    std::fs::write(
        &flood_file,
        original.replace("name = \"Jalan banjir\"", "name = \"Jalan tergenang\""),
    )
    .unwrap();
    let summary = import(dir.path().to_path_buf()).await.unwrap();
    assert_eq!(summary.updated, 1, "{summary:?}");
    let after = app
        .client
        .get(app.url("/open311/v2/services.json?locale=id"))
        .header("if-modified-since", &modified)
        .send()
        .await
        .unwrap();
    assert_eq!(after.status(), 200);
    let services: Value = after.json().await.unwrap();
    assert!(services
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s["service_name"] == "Jalan tergenang"));
    let (_, _, text) = status_text(&app, "/status/ABC", Some("id")).await;
    assert!(text.contains("Tidak ada laporan"), "{text}");
}

/// A form with a scan is stored whole or not at all: when the scan cannot be written, no report is stored,
/// and the clerk's retry with the same idempotency key stores the report with its scan.
async fn a_form_and_its_scans_are_stored_together(app: TestApp) {
    use reqwest::multipart::{Form, Part};
    let (_, tok) = clerk(&app, "kelurahan-gondangdia").await;
    let send = || {
        let form = Form::new()
            .text("service_code", "LIGHT")
            .text("address_string", "Jl. Kramat Raya, gang 5")
            .text("attribute[STATE]", "dark")
            .text("channel", "paper")
            .text("idempotency_key", "form-0042")
            .part(
                "scan",
                Part::bytes(b"%PDF-1.4\n% a form\n".to_vec())
                    .file_name("form.pdf")
                    .mime_str("application/pdf")
                    .unwrap(),
            );
        app.client
            .post(app.url("/staff/v1/requests"))
            .bearer_auth(&tok)
            .multipart(form)
            .send()
    };
    // The scans folder cannot be made: a file stands in its place.
    let dir = app.data_dir.join("scans");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::write(&dir, b"not a folder").unwrap();
    let resp = send().await.unwrap();
    assert!(resp.status().is_server_error(), "{}", resp.status());
    let (_, listed) = app
        .call("GET", "/staff/v1/requests", Some(&tok), None)
        .await;
    assert_eq!(listed.as_array().unwrap().len(), 0, "{listed}");

    std::fs::remove_file(&dir).unwrap();
    let resp = send().await.unwrap();
    assert_eq!(resp.status(), 201);
    let ack: Value = resp.json().await.unwrap();
    let id = ack["service_request_id"].as_str().unwrap().to_string();
    // A second retry answers with the same report and attaches nothing more.
    let again: Value = send().await.unwrap().json().await.unwrap();
    assert_eq!(again["service_request_id"].as_str(), Some(id.as_str()));
    let (_, detail) = app
        .call("GET", &format!("/staff/v1/requests/{id}"), Some(&tok), None)
        .await;
    assert_eq!(detail["scans"].as_array().unwrap().len(), 1, "{detail}");
    assert_eq!(scan_files(&app), 1, "no file without its row");
}

/// The status text's date is when the report took the status it shows, not its last change of any kind.
async fn the_status_text_dates_the_status_not_the_last_change(app: TestApp) {
    let (id, code) = post_with_code(&app, &flood(&[])).await;
    let three_days_ago = (chrono::Utc::now() - chrono::TimeDelta::days(3))
        .with_timezone(&chrono::FixedOffset::east_opt(7 * 3600).unwrap());
    let resp = app
        .client
        .post(app.url("/open311/v2/servicerequestupdates.json"))
        .form(&[
            ("api_key", "demo-backoffice-jakarta"),
            ("service_request_id", id.as_str()),
            ("update_id", "wo-1"),
            ("status", "IN_PROGRESS"),
            (
                "updated_datetime",
                &three_days_ago.format("%Y-%m-%dT%H:%M:%S%:z").to_string(),
            ),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    // A later change that is not one of status: an internal note.
    app.staff_user("rina", "dispatcher", &[]).await;
    let t = token(&app.sign_in("rina").await);
    let (status, _) = app
        .call(
            "POST",
            &format!("/staff/v1/requests/{id}/notes"),
            Some(&t),
            Some(json!({"text": "called the crew"})),
        )
        .await;
    assert_eq!(status, 200);
    let answer = app.get_json(&format!("/status/{code}.json")).await;
    let text = answer["text"].as_str().unwrap();
    let day = three_days_ago.format("%Y-%m-%d").to_string();
    // Staff told the code over the phone: typed right it opens the report, mistyped it says so.
    let (status, detail) = app
        .call("GET", &format!("/staff/v1/requests/{code}"), Some(&t), None)
        .await;
    assert_eq!(
        (status, detail["service_request_id"].as_str()),
        (200, Some(id.as_str()))
    );
    let mut swapped: Vec<char> = code.chars().collect();
    let k = (1..swapped.len())
        .find(|&k| swapped[k] != swapped[k - 1])
        .unwrap();
    swapped.swap(k, k - 1);
    let swapped: String = swapped.into_iter().collect();
    let (status, errors) = app
        .call(
            "GET",
            &format!("/staff/v1/requests/{swapped}"),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(status, 400, "{errors}");
    assert!(text.contains(&format!("since {day}")), "{text}");
}
