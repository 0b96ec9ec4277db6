//! The plain web page (issue #11), read as what it is: well-formed markup parsed into elements. The browser
//! test (tests/browser) drives the same pages in Chromium with JavaScript off.

use crate::both_backends;
use crate::helpers::*;

both_backends!(
    pages_are_small_labelled_and_in_the_browsers_language,
    a_report_from_the_page_is_an_open311_report_under_the_pages_key,
    a_mistake_shows_the_form_again_with_what_was_typed,
    revoking_the_pages_key_closes_the_form,
    pressing_send_twice_stores_one_report,
);

const MAX_PAGE_BYTES: usize = 30 * 1024;

async fn page(app: &TestApp, path: &str, lang: Option<&str>) -> (u16, String) {
    let mut req = app.client.get(app.url(path));
    if let Some(l) = lang {
        req = req.header("accept-language", l);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert!(resp.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("default-src 'none'"));
    (status, resp.text().await.unwrap())
}

fn doc(html: &str) -> roxmltree::Document<'_> {
    let opts = roxmltree::ParsingOptions {
        allow_dtd: true,
        ..Default::default()
    };
    roxmltree::Document::parse_with_options(html, opts)
        .unwrap_or_else(|e| panic!("not well-formed ({e}): {html}"))
}

fn by_id<'a>(d: &'a roxmltree::Document<'a>, id: &str) -> Option<roxmltree::Node<'a, 'a>> {
    d.descendants().find(|n| n.attribute("id") == Some(id))
}

fn text_of(n: roxmltree::Node) -> String {
    n.descendants()
        .filter(|t| t.is_text())
        .filter_map(|t| t.text())
        .collect::<String>()
}

/// Every field a person fills has exactly one label naming it.
fn assert_labelled(d: &roxmltree::Document) -> usize {
    let fields: Vec<_> = d
        .descendants()
        .filter(|n| matches!(n.tag_name().name(), "input" | "select" | "textarea"))
        .filter(|n| n.attribute("type") != Some("hidden"))
        .collect();
    for f in &fields {
        let id = f.attribute("id").expect("a field with an id");
        let labels = d
            .descendants()
            .filter(|n| n.has_tag_name("label") && n.attribute("for") == Some(id))
            .count();
        assert_eq!(labels, 1, "field {id}");
    }
    assert!(
        d.descendants().all(|n| !n.has_tag_name("script")),
        "no script"
    );
    fields.len()
}

async fn pages_are_small_labelled_and_in_the_browsers_language(app: TestApp) {
    let code = civic311::domain::refcode::encode(app.post_flood(&[]).await.parse().unwrap());
    for path in [
        "/".to_string(),
        "/report?service=FLOOD".into(),
        "/report?service=DUMPING".into(),
        "/lookup".into(),
        format!("/lookup?code={code}"),
    ] {
        let (status, html) = page(&app, &path, None).await;
        assert_eq!(status, 200, "{path}");
        assert!(html.len() < MAX_PAGE_BYTES, "{path}: {} bytes", html.len());
        let d = doc(&html);
        assert_eq!(d.root_element().attribute("lang"), Some("en"));
        assert_labelled(&d);
        assert!(html.contains("width=device-width"));
    }
    // The report form renders the service definition: a number with its bounds, a radio group, checkboxes.
    let (_, html) = page(&app, "/report?service=FLOOD", None).await;
    let d = doc(&html);
    let depth = by_id(&d, "attr-DEPTH").unwrap();
    assert_eq!(depth.attribute("type"), Some("number"));
    assert_eq!(depth.attribute("min"), Some("0"));
    assert_eq!(depth.attribute("max"), Some("300"));
    assert_eq!(depth.attribute("required"), Some("required"));
    assert_eq!(
        by_id(&d, "attr-PASSABLE-0").unwrap().attribute("type"),
        Some("radio")
    );
    assert_eq!(
        by_id(&d, "attr-HAZARDS-0").unwrap().attribute("name"),
        Some("attribute[HAZARDS][]")
    );
    let places = by_id(&d, "place").unwrap();
    assert!(
        places
            .children()
            .filter(|n| n.has_tag_name("option"))
            .count()
            > 250
    );
    // In Indonesian when the browser prefers it, with a link back to English.
    let (_, html) = page(&app, "/report?service=FLOOD", Some("id-ID,id;q=0.9")).await;
    let d = doc(&html);
    assert_eq!(d.root_element().attribute("lang"), Some("id"));
    assert_eq!(
        text_of(d.descendants().find(|n| n.has_tag_name("h1")).unwrap()),
        "Jalan banjir"
    );
    let legend = d.descendants().find(|n| n.has_tag_name("legend")).unwrap();
    assert!(text_of(legend).starts_with("Apakah kendaraan masih bisa lewat?"));
    assert!(
        d.descendants()
            .any(|n| n.has_tag_name("a")
                && n.attribute("href").is_some_and(|h| h.contains("lang=en")))
    );
    let (_, html) = page(&app, "/?lang=id", Some("en")).await;
    assert_eq!(
        doc(&html).root_element().attribute("lang"),
        Some("id"),
        "lang= wins"
    );
}

/// The multipart body the page's form sends.
fn form(fields: &[(&str, &str)]) -> reqwest::multipart::Form {
    let mut f = reqwest::multipart::Form::new();
    for (k, v) in fields {
        f = f.text(k.to_string(), v.to_string());
    }
    f
}

async fn send(app: &TestApp, fields: &[(&str, &str)], photo: bool) -> reqwest::Response {
    let mut f = form(fields);
    if photo {
        f = f.part(
            "media",
            reqwest::multipart::Part::bytes(jpeg_with_gps())
                .file_name("banjir.jpg")
                .mime_str("image/jpeg")
                .unwrap(),
        );
    }
    app.client
        .post(app.url("/report"))
        .multipart(f)
        .send()
        .await
        .unwrap()
}

async fn a_report_from_the_page_is_an_open311_report_under_the_pages_key(app: TestApp) {
    let (_, html) = page(&app, "/report?service=FLOOD", None).await;
    let d = doc(&html);
    // The first kelurahan of the list, as a resident would pick it.
    let place = by_id(&d, "place")
        .unwrap()
        .children()
        .filter(|n| n.has_tag_name("option"))
        .nth(1)
        .unwrap();
    let (place_code, place_label) = (
        place.attribute("value").unwrap().to_string(),
        text_of(place),
    );
    let resp = send(
        &app,
        &[
            ("service_code", "FLOOD"),
            ("lang", "en"),
            ("place", &place_code),
            ("address_string", "Gang Mawar 3"),
            ("attribute[DEPTH]", "40"),
            ("attribute[PASSABLE]", "none"),
            ("attribute[HAZARDS][]", "debris"),
            ("attribute[HAZARDS][]", "sewage"),
            ("attribute[STARTED]", "2026-12-01T06:30"),
            ("phone", "0812 0000 2222"),
            // What the page never offers is not taken from a crafted post either.
            ("lat", "-6.9"),
            ("long", "107.6"),
            ("device_id", "crafted"),
        ],
        true,
    )
    .await;
    assert_eq!(resp.status(), 303);
    let location = resp.headers()["location"].to_str().unwrap().to_string();
    let code = location
        .split(['?', '&'])
        .find_map(|p| p.strip_prefix("code="))
        .unwrap()
        .to_string();
    let id = civic311::domain::refcode::decode(&code)
        .unwrap()
        .to_string();

    let row = app.stored(&id).await;
    assert_eq!(row.api_key_id, "web-page");
    assert_eq!(row.channel.as_deref(), Some("web"));
    assert!(row.device_id_hash.is_none());
    assert_eq!(row.phone.as_deref(), Some("0812 0000 2222"));
    assert_eq!(
        row.address.as_deref(),
        Some(format!("Gang Mawar 3, {place_label}").as_str())
    );
    // Located inside the kelurahan picked, and routed by it.
    let trace = app.trace(&id).await;
    assert!(
        trace.matched_areas.iter().any(|a| a.code == place_code),
        "{:?}",
        trace.matched_areas
    );
    let report = app
        .get_json(&format!("/open311/v2/requests/{id}.json?extensions=true"))
        .await;
    let r = &report[0];
    assert_eq!(r["extended_attributes"]["channel"], "web");
    assert_eq!(r["extended_attributes"]["reference_code"], code.as_str());
    assert!(r["media_url"].is_string(), "the photo is there");
    let started = r["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["code"] == "STARTED")
        .unwrap();
    assert_eq!(
        started["value"], "2026-12-01T06:30:00+07:00",
        "the city's offset"
    );
    assert!(!report.to_string().contains("0812"));

    // The page after the redirect shows the code and the status.
    let (status, html) = page(&app, &location, None).await;
    assert_eq!(status, 200);
    let d = doc(&html);
    assert_eq!(text_of(by_id(&d, "reference-code").unwrap()), code);
    assert_eq!(text_of(by_id(&d, "status").unwrap()), "Received");
    assert_eq!(text_of(by_id(&d, "service").unwrap()), "Flooded street");
}

async fn a_mistake_shows_the_form_again_with_what_was_typed(app: TestApp) {
    let resp = send(
        &app,
        &[
            ("service_code", "FLOOD"),
            ("lang", "en"),
            ("address_string", "Jl. Kebon Sirih"),
            ("attribute[DEPTH]", "900"),
            ("attribute[PASSABLE]", "all"),
            ("description", "Sampai pinggang <b>deras</b>"),
        ],
        false,
    )
    .await;
    assert_eq!(resp.status(), 400);
    let html = resp.text().await.unwrap();
    let d = doc(&html);
    let problems = text_of(by_id(&d, "problems").unwrap());
    assert!(problems.contains("DEPTH"), "{problems}");
    assert_eq!(
        by_id(&d, "attr-DEPTH").unwrap().attribute("value"),
        Some("900")
    );
    assert_eq!(
        text_of(by_id(&d, "description").unwrap()),
        "Sampai pinggang <b>deras</b>",
        "kept, and escaped"
    );
    assert_eq!(
        by_id(&d, "attr-PASSABLE-0").unwrap().attribute("checked"),
        Some("checked")
    );
    // Neither a place nor an address: the form says so, nothing is stored.
    let resp = send(
        &app,
        &[("service_code", "LIGHT"), ("attribute[STATE]", "dark")],
        false,
    )
    .await;
    assert_eq!(resp.status(), 400);
    assert!(app
        .get_json("/open311/v2/requests.json")
        .await
        .as_array()
        .unwrap()
        .is_empty());
    // A code typed wrong on the lookup page.
    let good = civic311::domain::refcode::encode(1);
    let bad: String = good.chars().rev().collect();
    let (status, _) = page(&app, &format!("/lookup?code={bad}"), None).await;
    assert!(status == 400 || status == 404, "{status}");
}

async fn revoking_the_pages_key_closes_the_form(app: TestApp) {
    app.run_cli(&["apikey", "revoke", "civic311 web page"]);
    // Another process revoked it: this server sees it at once (the key is read per post).
    let resp = send(
        &app,
        &[
            ("service_code", "LIGHT"),
            ("address_string", "Jl. Sabang"),
            ("attribute[STATE]", "dark"),
        ],
        false,
    )
    .await;
    assert_eq!(resp.status(), 403);
    assert!(app
        .get_json("/open311/v2/requests.json")
        .await
        .as_array()
        .unwrap()
        .is_empty());
}

async fn pressing_send_twice_stores_one_report(app: TestApp) {
    let (_, html) = page(&app, "/report?service=LIGHT", None).await;
    let d = doc(&html);
    let key = d
        .descendants()
        .find(|n| n.attribute("name") == Some("idempotency_key"))
        .and_then(|n| n.attribute("value"))
        .unwrap()
        .to_string();
    let fields = [
        ("service_code", "LIGHT"),
        ("address_string", "Jl. Sabang 10"),
        ("attribute[STATE]", "flicker"),
        ("idempotency_key", key.as_str()),
    ];
    let first = send(&app, &fields, false).await;
    let again = send(&app, &fields, false).await;
    assert_eq!(first.status(), 303);
    assert_eq!(first.headers()["location"], again.headers()["location"]);
    assert_eq!(
        app.get_json("/open311/v2/requests.json")
            .await
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // Each form shown has a key of its own.
    let (_, other) = page(&app, "/report?service=LIGHT", None).await;
    assert!(!other.contains(&key));
}
