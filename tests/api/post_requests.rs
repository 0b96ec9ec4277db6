//! POST requests (spec §3.4, §4.5) in the three encodings, attribute validation, api_key rules, tokens.

use crate::both_backends;
use crate::helpers::*;
use reqwest::multipart::{Form, Part};
use serde_json::{json, Value};

both_backends!(
    flood_report_is_answered_with_its_id_and_reads_back,
    post_answer_in_xml_has_the_spec_shape,
    every_bad_attribute_gets_its_own_error_naming_its_code,
    missing_required_attribute_says_code_required,
    optional_list_left_empty_is_no_answer,
    unknown_attributes_and_fields_are_accepted_and_kept_private,
    api_key_from_body_query_or_bearer_with_precedence,
    location_is_lat_and_long_or_an_address,
    json_body_with_attribute_object,
    multipart_photos_are_cleaned_stored_and_served,
    photos_are_checked_by_content,
    client_media_url_is_stored_as_given_and_never_fetched,
    batch_reports_are_reviewed_before_their_token_resolves,
    every_row_stored_with_a_report_lands_in_its_columns,
);

async fn flood_report_is_answered_with_its_id_and_reads_back(app: TestApp) {
    let resp = app
        .post_form(
            "json",
            &[
                ("api_key", DEMO_KEY),
                ("service_code", "FLOOD"),
                ("lat", "-6.2088"),
                ("long", "106.8456"),
                ("address_string", "Jl. Sudirman 1, Jakarta"),
                (
                    "description",
                    "Air setinggi lutut di depan sekolah\nWater up to the knees",
                ),
                ("attribute[DEPTH]", "45"),
                ("attribute[PASSABLE]", "large"),
                ("attribute[HAZARDS][]", "debris"),
                ("attribute[HAZARDS][]", "sewage"),
                ("attribute[STARTED]", "2026-11-25T06:30:00+07:00"),
            ],
        )
        .await;
    assert_eq!(resp.status(), 200);
    let ack: Value = resp.json().await.unwrap();
    let ack = &ack[0];
    let id = ack["service_request_id"].as_str().unwrap();
    assert!(
        ack.get("token").is_none(),
        "realtime answers carry no token: {ack}"
    );
    assert_eq!(ack["account_id"], Value::Null);
    assert!(ack["service_notice"].as_str().unwrap().contains("4 hours"));

    let got = app
        .get_json(&format!("/open311/v2/requests/{id}.json?extensions=true"))
        .await;
    assert_eq!(got.as_array().unwrap().len(), 1);
    let r = &got[0];
    assert_eq!(r["service_request_id"], id);
    assert_eq!(r["status"], "open");
    assert_eq!(r["service_code"], "FLOOD");
    assert_eq!(r["service_name"], "Flooded street");
    assert_eq!(r["lat"], json!(-6.2088));
    assert_eq!(r["long"], json!(106.8456));
    assert_eq!(r["address"], "Jl. Sudirman 1, Jakarta");
    assert_eq!(
        r["description"],
        "Air setinggi lutut di depan sekolah\nWater up to the knees"
    );
    let attrs = r["attributes"].as_array().unwrap();
    let find = |code: &str| {
        attrs
            .iter()
            .find(|a| a["code"] == code)
            .unwrap_or_else(|| panic!("{code} in {attrs:?}"))["value"]
            .clone()
    };
    assert_eq!(find("DEPTH"), json!("45"));
    assert_eq!(find("PASSABLE"), json!("large"));
    assert_eq!(find("HAZARDS"), json!(["debris", "sewage"]));
    assert_eq!(find("STARTED"), json!("2026-11-25T06:30:00+07:00"));
    let requested =
        chrono::DateTime::parse_from_rfc3339(r["requested_datetime"].as_str().unwrap()).unwrap();
    let expected =
        chrono::DateTime::parse_from_rfc3339(r["expected_datetime"].as_str().unwrap()).unwrap();
    assert_eq!(expected - requested, chrono::Duration::hours(4));
    assert!(r["requested_datetime"]
        .as_str()
        .unwrap()
        .ends_with("+07:00"));
}

async fn post_answer_in_xml_has_the_spec_shape(app: TestApp) {
    let resp = app
        .post_form(
            "xml",
            &[
                ("api_key", DEMO_KEY),
                ("service_code", "LIGHT"),
                ("lat", "-6.2"),
                ("long", "106.8"),
                ("attribute[STATE]", "dark"),
            ],
        )
        .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "text/xml; charset=utf-8");
    let text = resp.text().await.unwrap();
    let doc = roxmltree::Document::parse(&text).unwrap();
    assert_eq!(doc.root_element().tag_name().name(), "service_requests");
    let request = doc
        .root_element()
        .children()
        .find(|n| n.has_tag_name("request"))
        .unwrap();
    let f = xml_fields(request);
    assert!(f["service_request_id"]
        .as_deref()
        .unwrap()
        .parse::<i64>()
        .is_ok());
    assert_eq!(f["account_id"], None);
    assert!(!f.contains_key("token"));
}

async fn every_bad_attribute_gets_its_own_error_naming_its_code(app: TestApp) {
    let form = [
        ("api_key", DEMO_KEY),
        ("service_code", "FLOOD"),
        ("lat", "-6.2"),
        ("long", "106.8"),
        ("attribute[DEPTH]", "knee-deep"),
        ("attribute[PASSABLE]", "maybe"),
        ("attribute[HAZARDS][]", "lava"),
        ("attribute[STARTED]", "this morning"),
    ];
    let resp = app.post_form("xml", &form).await;
    assert_eq!(resp.status(), 400);
    let errors = xml_errors(&resp.text().await.unwrap());
    assert_eq!(errors.len(), 4, "{errors:?}");
    for (code, (status, description)) in ["DEPTH", "PASSABLE", "HAZARDS", "STARTED"]
        .iter()
        .zip(&errors)
    {
        assert_eq!(*status, 400);
        assert!(
            description.contains(code),
            "{description} should name {code}"
        );
    }
    let resp = app.post_form("json", &form).await;
    assert_eq!(resp.status(), 400);
    assert_eq!(json_errors(&resp.json().await.unwrap()).len(), 4);
    let depth = app
        .post_form("json", &flood(&[("attribute[DEPTH]", "301")]))
        .await;
    assert_eq!(depth.status(), 400);
    assert!(json_errors(&depth.json().await.unwrap())[0]
        .1
        .contains("between 0 and 300"));
    assert_eq!(
        civic311_count(&app).await,
        0,
        "nothing is stored for a refused report"
    );
}

pub async fn civic311_count(app: &TestApp) -> i64 {
    app.store
        .read(civic311::store::requests::count)
        .await
        .unwrap()
}

async fn missing_required_attribute_says_code_required(app: TestApp) {
    let resp = app
        .post_form(
            "json",
            &[
                ("api_key", DEMO_KEY),
                ("service_code", "FLOOD"),
                ("lat", "-6.2"),
                ("long", "106.8"),
                ("attribute[PASSABLE]", "all"),
            ],
        )
        .await;
    assert_eq!(resp.status(), 400);
    let errors = json_errors(&resp.json().await.unwrap());
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].0, 400);
    assert!(errors[0].1.contains("DEPTH required"), "{errors:?}");
    // An empty value is no value.
    let resp = app
        .post_form("json", &flood(&[("attribute[DEPTH]", "")]))
        .await;
    assert_eq!(resp.status(), 400);
}

async fn optional_list_left_empty_is_no_answer(app: TestApp) {
    let id = app
        .post_flood(&[("attribute[HAZARDS][]", ""), ("attribute[LANDMARK]", "")])
        .await;
    let r = app
        .get_json(&format!("/open311/v2/requests/{id}.json?extensions=true"))
        .await;
    let codes: Vec<&str> = r[0]["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["DEPTH", "PASSABLE"]);
}

async fn unknown_attributes_and_fields_are_accepted_and_kept_private(app: TestApp) {
    let id = app
        .post_flood(&[
            ("attribute[fixmystreet_id]", "4471"),
            ("attribute[closest_address]", "Jl. Thamrin 10"),
            ("deviceid", "x"),
            ("title", "t"),
        ])
        .await;
    let stored = app
        .store
        .read(move |c| civic311::store::requests::attributes_of(c, &[id.parse().unwrap()]))
        .await
        .unwrap();
    assert!(
        stored
            .iter()
            .any(|a| a.code == "fixmystreet_id" && a.value == "4471"),
        "{stored:?}"
    );
    let r = app
        .get_json("/open311/v2/requests.json?extensions=true")
        .await;
    let text = r.to_string();
    assert!(
        !text.contains("4471") && !text.contains("Thamrin"),
        "unknown attributes stay out of public output: {text}"
    );
}

async fn api_key_from_body_query_or_bearer_with_precedence(app: TestApp) {
    let fields = [
        ("service_code", "LIGHT"),
        ("address_string", "Jl. Kebon Sirih 22"),
        ("attribute[STATE]", "flicker"),
    ];
    let post = |query: &'static str,
                bearer: Option<&'static str>,
                extra: Vec<(&'static str, &'static str)>| {
        let mut form: Vec<(&str, &str)> = fields.to_vec();
        form.extend(extra);
        let mut req = app
            .client
            .post(app.url(&format!("/open311/v2/requests.json{query}")))
            .form(&form);
        if let Some(b) = bearer {
            req = req.bearer_auth(b);
        }
        async move { req.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(
        post("", None, vec![("api_key", DEMO_KEY)]).await,
        200,
        "body"
    );
    assert_eq!(
        post("?api_key=demo-key-jakarta", None, vec![]).await,
        200,
        "query"
    );
    assert_eq!(post("", Some(DEMO_KEY), vec![]).await, 200, "bearer");
    assert_eq!(
        post("", Some(DEMO_KEY), vec![("api_key", "")]).await,
        200,
        "an empty api_key is absent"
    );
    assert_eq!(
        post(
            "?api_key=demo-key-jakarta",
            Some(DEMO_KEY),
            vec![("api_key", DEMO_KEY)]
        )
        .await,
        200,
        "the same key thrice"
    );
    assert_eq!(post("", None, vec![]).await, 403, "missing");
    assert_eq!(post("", None, vec![("api_key", "")]).await, 403, "empty");
    assert_eq!(
        post("", None, vec![("api_key", "wrong-key-123")]).await,
        403,
        "unknown"
    );
    assert_eq!(
        post("?api_key=wrong-key-123", None, vec![("api_key", DEMO_KEY)]).await,
        403,
        "two different keys"
    );
    assert_eq!(
        post("", Some("wrong-key-123"), vec![("api_key", DEMO_KEY)]).await,
        403,
        "two different keys"
    );
    let resp = app.post_form("xml", &[("service_code", "NOPE")]).await;
    assert_eq!(
        resp.status(),
        403,
        "the key is checked before anything else"
    );
    let errors = xml_errors(&resp.text().await.unwrap());
    assert_eq!(
        errors,
        vec![(403, "api_key is missing or not valid".to_string())]
    );
}

async fn location_is_lat_and_long_or_an_address(app: TestApp) {
    let base = [
        ("api_key", DEMO_KEY),
        ("service_code", "LIGHT"),
        ("attribute[STATE]", "dark"),
    ];
    let app = &app;
    let status = |extra: Vec<(&'static str, &'static str)>| {
        let mut form = base.to_vec();
        form.extend(extra);
        async move { app.post_form("json", &form).await.status().as_u16() }
    };
    assert_eq!(status(vec![]).await, 400, "no location");
    assert_eq!(status(vec![("lat", "-6.2")]).await, 400, "lat alone");
    assert_eq!(status(vec![("long", "106.8")]).await, 400, "long alone");
    assert_eq!(
        status(vec![("address_string", "Jl. Cikini Raya 73")]).await,
        200
    );
    assert_eq!(status(vec![("address_id", "#NOTPINPOINTED#")]).await, 200);
    assert_eq!(
        status(vec![
            ("lat", "-6.2"),
            ("long", "106.8"),
            ("address_string", "Cikini")
        ])
        .await,
        200
    );
    let resp = app
        .post_form(
            "json",
            &[
                ("api_key", DEMO_KEY),
                ("service_code", "NOPE"),
                ("address_string", "x"),
            ],
        )
        .await;
    assert_eq!(resp.status(), 404);
    assert!(json_errors(&resp.json().await.unwrap())[0]
        .1
        .contains("service_code"));
    let resp = app
        .post_form("json", &[("api_key", DEMO_KEY), ("address_string", "x")])
        .await;
    assert_eq!(resp.status(), 400);
    assert!(json_errors(&resp.json().await.unwrap())[0]
        .1
        .contains("service_code"));
}

async fn json_body_with_attribute_object(app: TestApp) {
    let body = json!({
        "api_key": DEMO_KEY,
        "service_code": "FLOOD",
        "lat": -6.1862,
        "long": 106.8063,
        "description": "Banjir di underpass",
        "attribute": {"DEPTH": 80, "PASSABLE": "none", "HAZARDS": ["current", "electric"], "app_version": "2.3"},
        "media_url": ["https://img.example/a.jpg", "https://img.example/b.jpg"],
        "some_future_field": {"nested": true}
    });
    let resp = app
        .client
        .post(app.url("/open311/v2/requests.json"))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let ack: Value = resp.json().await.unwrap();
    assert_eq!(status, 200, "{ack}");
    let id = ack[0]["service_request_id"].as_str().unwrap();
    let r = app
        .get_json(&format!("/open311/v2/requests/{id}.json?extensions=true"))
        .await;
    let attrs = r[0]["attributes"].as_array().unwrap();
    assert!(
        attrs.contains(&json!({"code": "DEPTH", "name": "How deep is the water?", "value": "80"}))
    );
    assert!(attrs
        .iter()
        .any(|a| a["code"] == "HAZARDS" && a["value"] == json!(["current", "electric"])));
    assert_eq!(r[0]["media_url"], "https://img.example/a.jpg");
    assert_eq!(
        r[0]["extended_attributes"]["media_urls"],
        json!(["https://img.example/a.jpg", "https://img.example/b.jpg"])
    );
    let bad = app.client.post(app.url("/open311/v2/requests.json")).json(&json!({"api_key": DEMO_KEY, "service_code": "FLOOD", "lat": -6.2, "long": 106.8, "attribute": {"DEPTH": 10, "PASSABLE": "flying"}})).send().await.unwrap();
    assert_eq!(bad.status(), 400);
    assert!(json_errors(&bad.json().await.unwrap())[0]
        .1
        .contains("PASSABLE"));
}

async fn multipart_photos_are_cleaned_stored_and_served(app: TestApp) {
    let form = Form::new()
        .text("api_key", DEMO_KEY)
        .text("service_code", "FLOOD")
        .text("lat", "-6.2")
        .text("long", "106.8")
        .text("attribute[DEPTH]", "30")
        .text("attribute[PASSABLE]", "all")
        .text("attribute[HAZARDS][]", "debris")
        .part(
            "media",
            Part::bytes(jpeg_with_gps()).file_name("IMG_0001.JPG"),
        )
        .part(
            "media[]",
            Part::bytes(png_with_text())
                .file_name("second.png")
                .mime_str("image/png")
                .unwrap(),
        );
    let resp = app
        .client
        .post(app.url("/open311/v2/requests.json"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let ack: Value = resp.json().await.unwrap();
    assert_eq!(status, 200, "{ack}");
    let id = ack[0]["service_request_id"].as_str().unwrap();
    let r = app
        .get_json(&format!("/open311/v2/requests/{id}.json?extensions=true"))
        .await;
    let urls: Vec<String> = r[0]["extended_attributes"]["media_urls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u.as_str().unwrap().to_string())
        .collect();
    assert_eq!(urls.len(), 2);
    assert_eq!(r[0]["media_url"], json!(urls[0]));
    assert!(
        urls[0].starts_with(&app.url("/open311/v2/media/")) && urls[0].ends_with(".jpg"),
        "{urls:?}"
    );
    assert_eq!(
        r[0]["attributes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["code"] == "HAZARDS")
            .unwrap()["value"],
        json!(["debris"])
    );

    let photo = app.client.get(&urls[0]).send().await.unwrap();
    assert_eq!(photo.status(), 200);
    assert_eq!(photo.headers()["content-type"], "image/jpeg");
    let bytes = photo.bytes().await.unwrap();
    assert!(bytes.starts_with(&[0xFF, 0xD8]));
    let text = String::from_utf8_lossy(&bytes);
    assert!(
        !text.contains("GPS") && !text.contains("Siti"),
        "EXIF and comments removed"
    );
    let png = app.client.get(&urls[1]).send().await.unwrap();
    assert_eq!(png.headers()["content-type"], "image/png");
    let bytes = png.bytes().await.unwrap();
    assert!(bytes.starts_with(b"\x89PNG") && !String::from_utf8_lossy(&bytes).contains("Siti"));
    // Files live in the data directory, and unknown names are 404.
    let media_dir = app.data_dir.join("media");
    assert_eq!(std::fs::read_dir(&media_dir).unwrap().count(), 2);
    assert_eq!(app.get("/open311/v2/media/nope.jpg").await.status(), 404);
    assert_eq!(
        app.get("/open311/v2/media/..%2Fsecret.key").await.status(),
        404
    );
}

async fn photos_are_checked_by_content(app: TestApp) {
    for (name, bytes) in [
        ("cat.jpg", b"GIF89a\x01\x00\x01\x00".to_vec()),
        ("x.png", b"<svg onload=alert(1)>".to_vec()),
        ("y.jpg", vec![0xFF, 0xD8, 0xFF, 0xE0, 0, 2]),
    ] {
        let form = Form::new()
            .text("api_key", DEMO_KEY)
            .text("service_code", "LIGHT")
            .text("address_string", "Jl. Merdeka")
            .text("attribute[STATE]", "dark")
            .part(
                "media",
                Part::bytes(bytes)
                    .file_name(name)
                    .mime_str("image/jpeg")
                    .unwrap(),
            );
        let resp = app
            .client
            .post(app.url("/open311/v2/requests.xml"))
            .multipart(form)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400, "{name}");
        assert!(
            xml_errors(&resp.text().await.unwrap())[0]
                .1
                .contains("photo 1"),
            "{name}"
        );
    }
    assert_eq!(post_requests_count(&app).await, 0);
}

async fn post_requests_count(app: &TestApp) -> i64 {
    civic311_count(app).await
}

async fn client_media_url_is_stored_as_given_and_never_fetched(app: TestApp) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let url = format!(
        "http://127.0.0.1:{}/photo.jpg?x=1&y=2",
        listener.local_addr().unwrap().port()
    );
    let id = app.post_flood(&[("media_url", &url)]).await;
    let r = app
        .get_json(&format!("/open311/v2/requests/{id}.json"))
        .await;
    assert_eq!(r[0]["media_url"], json!(url));
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(
        listener.accept().unwrap_err().kind(),
        std::io::ErrorKind::WouldBlock,
        "the server fetched the client's URL"
    );
    let bad = app
        .post_form("json", &light(&[("media_url", "javascript:alert(1)")]))
        .await;
    assert_eq!(bad.status(), 400);
}

async fn batch_reports_are_reviewed_before_their_token_resolves(app: TestApp) {
    let resp = app
        .post_form(
            "json",
            &[
                ("api_key", DEMO_KEY),
                ("service_code", "DUMPING"),
                ("lat", "-6.12"),
                ("long", "106.79"),
                ("attribute[AMOUNT]", "truck"),
            ],
        )
        .await;
    assert_eq!(resp.status(), 200);
    let ack: Value = resp.json().await.unwrap();
    let token = ack[0]["token"].as_str().unwrap().to_string();
    assert!(
        ack[0].get("service_request_id").is_none(),
        "a batch answer carries no id: {ack}"
    );
    assert!(ack[0]["service_notice"]
        .as_str()
        .unwrap()
        .contains("reviewed"));
    // Held for review, as the service says: the token is known but names no report yet (D11), and no
    // public list shows it.
    let t = app
        .get_json(&format!("/open311/v2/tokens/{token}.json"))
        .await;
    assert_eq!(t[0]["service_request_id"], Value::Null, "{t}");
    assert_eq!(t[0]["token"], json!(token));
    let listed = app
        .get_json("/open311/v2/requests.json?service_code=DUMPING")
        .await;
    assert_eq!(listed.as_array().unwrap().len(), 0, "{listed}");
    let stored_id = app
        .store
        .read(|conn| {
            use civic311::store::schema::requests::dsl::*;
            use diesel::prelude::*;
            Ok(requests.select(id).first::<i64>(conn)?)
        })
        .await
        .unwrap();
    assert_eq!(
        app.get(&format!("/open311/v2/requests/{stored_id}.json"))
            .await
            .status(),
        404
    );
    // Staff publish it; now the token resolves.
    app.staff_user("siti", "dispatcher", &[]).await;
    let staff = crate::helpers::token(&app.sign_in("siti").await);
    let published = app
        .client
        .post(app.url(&format!("/staff/v1/requests/{stored_id}/publish")))
        .bearer_auth(&staff)
        .send()
        .await
        .unwrap();
    assert_eq!(published.status(), 200);
    let t = app
        .get_json(&format!("/open311/v2/tokens/{token}.json"))
        .await;
    let id = t[0]["service_request_id"].as_str().unwrap();
    assert_eq!(id, stored_id.to_string());
    let r = app
        .get_json(&format!("/open311/v2/requests/{id}.json"))
        .await;
    assert_eq!(r[0]["service_code"], "DUMPING");
    let xml = app
        .get_xml(&format!("/open311/v2/tokens/{token}.xml"))
        .await;
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let f = xml_fields(
        doc.root_element()
            .children()
            .find(|n| n.has_tag_name("request"))
            .unwrap(),
    );
    assert_eq!(f["service_request_id"].as_deref(), Some(id));
    let missing = app.get("/open311/v2/tokens/nosuchtoken.json").await;
    assert_eq!(missing.status(), 404);
    assert_eq!(json_errors(&missing.json().await.unwrap())[0].0, 404);
}

/// The child rows of a new report are written in one statement on PostgreSQL and row by row on SQLite: both
/// must store the same thing, column by column.
async fn every_row_stored_with_a_report_lands_in_its_columns(app: TestApp) {
    use civic311::store::{deliveries, requests};
    let id = app
        .post_flood(&[
            ("attribute[HAZARDS][]", "sewage"),
            ("attribute[HAZARDS][]", "electric"),
            ("media_url", "https://photos.example/flood.jpg"),
            ("idempotency_key", "form-17"),
        ])
        .await;
    let id: i64 = id.parse().unwrap();
    let (request, sent, events, answers, media, areas) = app
        .store
        .read(move |conn| {
            use diesel::prelude::*;
            let areas: Vec<String> = civic311::store::schema::request_areas::table
                .filter(civic311::store::schema::request_areas::request_id.eq(id))
                .select(civic311::store::schema::request_areas::area_code)
                .order(civic311::store::schema::request_areas::area_code)
                .load(conn)?;
            Ok((
                requests::get_any(conn, id)?.unwrap(),
                deliveries::of_request(conn, id)?,
                deliveries::events_of(conn, id)?,
                requests::attributes_of(conn, &[id])?,
                requests::media_of(conn, &[id])?,
                areas,
            ))
        })
        .await
        .unwrap();

    // Routed at intake: the department is on the row, with the trace that explains it.
    let department = request.department_code.clone().expect("a department");
    let trace: Value = serde_json::from_str(request.routing_trace.as_deref().unwrap()).unwrap();
    assert_eq!(trace["department_code"], json!(department));
    assert!(request.agency_responsible.is_some());
    let mut traced: Vec<String> = trace["matched_areas"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["code"].as_str().unwrap().to_string())
        .collect();
    traced.sort();
    assert!(!areas.is_empty());
    assert_eq!(areas, traced, "the areas stored are those the trace names");

    assert!(!sent.is_empty());
    for d in &sent {
        assert_eq!(
            (d.request_id, d.department_code.as_str(), d.state.as_str()),
            (id, department.as_str(), "queued")
        );
        assert_eq!((d.attempts, d.is_fallback), (0, false));
        assert!(d.last_error.is_none() && d.lease_until.is_none() && d.sent_at.is_none());
        assert!(d.recipient.contains('@'), "{d:?}");
        assert!(
            d.message_id
                .starts_with(&format!("<civic311.{id}.{}@", d.id)),
            "{}",
            d.message_id
        );
        assert_eq!(d.created_at, request.requested_at);
        assert_eq!(d.next_attempt_at, request.requested_at);
    }

    assert_eq!(events.len(), 1, "{events:?}");
    let created = &events[0];
    assert_eq!(
        (created.action.as_str(), created.public, created.at),
        ("created", false, request.requested_at)
    );
    assert_eq!(created.detail.as_deref(), trace["reason"].as_str());
    assert!(created.status.is_none() && created.external_id.is_none());
    assert_eq!(created.actor, request.channel.clone().unwrap());

    let mut got: Vec<(String, i32, String)> = answers
        .iter()
        .map(|a| (a.code.clone(), a.position, a.value.clone()))
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            ("DEPTH".to_string(), 0, "45".to_string()),
            ("HAZARDS".to_string(), 0, "sewage".to_string()),
            ("HAZARDS".to_string(), 1, "electric".to_string()),
            ("PASSABLE".to_string(), 0, "large".to_string()),
        ]
    );
    assert_eq!(media.len(), 1);
    assert_eq!(
        (
            media[0].position,
            media[0].external_url.as_deref(),
            media[0].file_name.as_deref(),
            media[0].byte_size
        ),
        (0, Some("https://photos.example/flood.jpg"), None, None)
    );

    // The idempotency key was stored with it: the retry is the same report, and nothing new was queued.
    let again = app
        .post_flood(&[
            ("attribute[HAZARDS][]", "sewage"),
            ("media_url", "https://photos.example/flood.jpg"),
            ("idempotency_key", "form-17"),
        ])
        .await;
    assert_eq!(again, id.to_string());
    let queued = app
        .store
        .read(move |conn| deliveries::of_request(conn, id))
        .await
        .unwrap();
    assert_eq!(queued.len(), sent.len());
}
