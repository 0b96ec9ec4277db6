//! GET requests and GET request (spec §3.6, §3.7, §4.1–4.3): filters, the 90-day window, paging, extensions.

use crate::both_backends;
use crate::helpers::*;
use serde_json::{json, Value};

both_backends!(
    single_request_is_an_array_of_one_with_every_field,
    xml_request_has_every_field_and_empty_elements,
    empty_list_is_an_empty_container,
    filters_by_service_code_status_and_ids,
    ids_override_every_other_filter,
    default_window_is_90_days_and_ranges_are_checked,
    paging_is_one_based_and_bounded,
    updated_after_and_before_filter_on_updated_datetime,
    extensions_only_when_asked,
    unknown_or_malformed_ids_are_404,
);

fn ids(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|r| r["service_request_id"].as_str().unwrap().to_string())
        .collect()
}

const FIELDS: [&str; 17] = [
    "service_request_id",
    "status",
    "status_notes",
    "service_name",
    "service_code",
    "description",
    "agency_responsible",
    "service_notice",
    "requested_datetime",
    "updated_datetime",
    "expected_datetime",
    "address",
    "address_id",
    "zipcode",
    "lat",
    "long",
    "media_url",
];

async fn single_request_is_an_array_of_one_with_every_field(app: TestApp) {
    let id = app.post_flood(&[]).await;
    let r = app
        .get_json(&format!("/open311/v2/requests/{id}.json"))
        .await;
    let r = r.as_array().unwrap();
    assert_eq!(r.len(), 1);
    let keys: Vec<&String> = r[0].as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        FIELDS.iter().collect::<Vec<_>>(),
        "every field, in the documented order, nothing else"
    );
    assert_eq!(r[0]["status_notes"], Value::Null);
    assert_eq!(r[0]["address"], Value::Null);
    let w3c = regex_like_w3c(r[0]["updated_datetime"].as_str().unwrap());
    assert!(w3c, "{}", r[0]["updated_datetime"]);
}

/// `^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(Z|[+-]\d{2}:\d{2})$`, the output contract of §2.3.
fn regex_like_w3c(s: &str) -> bool {
    let b = s.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| r.clone().all(|i| b.get(i).is_some_and(u8::is_ascii_digit));
    let base = b.len() >= 20
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && b[10] == b'T'
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19);
    base && (s.len() == 20 && b[19] == b'Z'
        || s.len() == 25
            && matches!(b[19], b'+' | b'-')
            && digits(20..22)
            && b[22] == b':'
            && digits(23..25))
}

async fn xml_request_has_every_field_and_empty_elements(app: TestApp) {
    let id = app
        .post_flood(&[("description", "Genangan <30cm> & licin")])
        .await;
    let text = app.get_xml(&format!("/open311/v2/requests/{id}.xml")).await;
    let doc = roxmltree::Document::parse(&text).unwrap();
    assert_eq!(doc.root_element().tag_name().name(), "service_requests");
    let requests: Vec<_> = doc
        .root_element()
        .children()
        .filter(|n| n.has_tag_name("request"))
        .collect();
    assert_eq!(requests.len(), 1);
    let f = xml_fields(requests[0]);
    assert_eq!(
        f.keys()
            .map(String::as_str)
            .collect::<std::collections::BTreeSet<_>>(),
        FIELDS.into_iter().collect()
    );
    assert_eq!(f["description"].as_deref(), Some("Genangan <30cm> & licin"));
    assert_eq!(f["status_notes"], None);
    assert_eq!(f["lat"].as_deref(), Some("-6.1754"));
}

async fn empty_list_is_an_empty_container(app: TestApp) {
    assert_eq!(app.get_json("/open311/v2/requests.json").await, json!([]));
    let text = app.get_xml("/open311/v2/requests.xml").await;
    let doc = roxmltree::Document::parse(&text).unwrap();
    assert_eq!(doc.root_element().tag_name().name(), "service_requests");
    assert_eq!(
        doc.root_element()
            .children()
            .filter(|n| n.is_element())
            .count(),
        0
    );
}

async fn filters_by_service_code_status_and_ids(app: TestApp) {
    let flood = app.post_flood(&[]).await;
    let resp = app
        .post_form("json", &light(&[("address_string", "Jl. Cikini")]))
        .await;
    let light = resp.json::<Value>().await.unwrap()[0]["service_request_id"]
        .as_str()
        .unwrap()
        .to_string();
    app.sql(&format!(
        "UPDATE requests SET status = 'closed' WHERE id = {light}"
    ))
    .await;

    assert_eq!(
        ids(&app
            .get_json("/open311/v2/requests.json?service_code=FLOOD")
            .await),
        vec![flood.clone()]
    );
    assert_eq!(
        ids(&app
            .get_json("/open311/v2/requests.json?service_code=FLOOD%2CLIGHT")
            .await),
        [light.clone(), flood.clone()]
    );
    assert_eq!(
        ids(&app
            .get_json("/open311/v2/requests.json?service_code=NOPE")
            .await),
        Vec::<String>::new()
    );
    assert_eq!(
        ids(&app.get_json("/open311/v2/requests.json?status=open").await),
        vec![flood.clone()]
    );
    assert_eq!(
        ids(&app
            .get_json("/open311/v2/requests.json?status=closed")
            .await),
        vec![light.clone()]
    );
    assert_eq!(
        ids(&app
            .get_json("/open311/v2/requests.json?status=open,closed&service_code=&jurisdiction_id=")
            .await)
        .len(),
        2
    );
    let bad = app.get("/open311/v2/requests.json?status=pending").await;
    assert_eq!(bad.status(), 400);
    assert!(json_errors(&bad.json().await.unwrap())[0]
        .1
        .contains("status"));
}

async fn ids_override_every_other_filter(app: TestApp) {
    let a = app.post_flood(&[]).await;
    let b = app.post_flood(&[]).await;
    app.sql(
        &format!(
            "UPDATE requests SET requested_at = requested_at - INTERVAL '400 days' WHERE id = {a}"
        )
        .replace(
            "requested_at - INTERVAL '400 days'",
            if app.backend == Backend::Sqlite {
                "datetime(requested_at, '-400 days')"
            } else {
                "requested_at - INTERVAL '400 days'"
            },
        ),
    )
    .await;
    let got = app.get_json(&format!("/open311/v2/requests.json?service_request_id={a}%2C{b},999999,abc&status=closed&service_code=LIGHT&page_size=1")).await;
    let mut got = ids(&got);
    got.sort();
    let mut want = vec![a, b];
    want.sort();
    assert_eq!(got, want);
}

async fn age(app: &TestApp, id: &str, days: i64) {
    let sql = match app.backend {
        Backend::Sqlite => format!("UPDATE requests SET requested_at = datetime(requested_at, '-{days} days'), updated_at = datetime(updated_at, '-{days} days') WHERE id = {id}"),
        Backend::Postgres => format!("UPDATE requests SET requested_at = requested_at - INTERVAL '{days} days', updated_at = updated_at - INTERVAL '{days} days' WHERE id = {id}"),
    };
    app.sql(&sql).await;
}

async fn default_window_is_90_days_and_ranges_are_checked(app: TestApp) {
    let recent = app.post_flood(&[]).await;
    let old = app.post_flood(&[]).await;
    age(&app, &old, 120).await;
    assert_eq!(
        ids(&app.get_json("/open311/v2/requests.json").await),
        vec![recent.clone()],
        "default: the last 90 days"
    );
    let now = chrono::Utc::now();
    let fmt = |t: chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let start = fmt(now - chrono::Duration::days(150));
    assert_eq!(
        ids(&app
            .get_json(&format!("/open311/v2/requests.json?start_date={start}"))
            .await),
        vec![old.clone()],
        "start only: start..start+90d"
    );
    let end = fmt(now - chrono::Duration::days(100));
    assert_eq!(
        ids(&app
            .get_json(&format!("/open311/v2/requests.json?end_date={end}"))
            .await),
        vec![old.clone()],
        "end only: end-90d..end"
    );
    let (s, e) = (
        fmt(now - chrono::Duration::days(80)),
        fmt(now + chrono::Duration::days(1)),
    );
    assert_eq!(
        ids(&app
            .get_json(&format!(
                "/open311/v2/requests.json?start_date={s}&end_date={e}"
            ))
            .await),
        vec![recent.clone()]
    );
    // The lenient input forms: a space where '+' was, no zone, fractional seconds.
    let local = (now - chrono::Duration::days(150))
        .format("%Y-%m-%dT%H:%M:%S.123 00:00")
        .to_string();
    assert_eq!(
        ids(&app
            .get_json(&format!(
                "/open311/v2/requests.json?start_date={}",
                local.replace(' ', "%20")
            ))
            .await),
        vec![old.clone()]
    );

    for (query, needle) in [
        (
            "start_date=2026-01-01T00:00:00Z&end_date=2026-06-01T00:00:00Z",
            "90 days",
        ),
        (
            "start_date=2026-03-01T00:00:00Z&end_date=2026-02-01T00:00:00Z",
            "earlier",
        ),
        ("start_date=yesterday", "start_date"),
        ("updated_after=2026-13-01", "updated_after"),
    ] {
        let resp = app.get(&format!("/open311/v2/requests.xml?{query}")).await;
        assert_eq!(resp.status(), 400, "{query}");
        let errors = xml_errors(&resp.text().await.unwrap());
        assert!(errors[0].1.contains(needle), "{query}: {errors:?}");
    }
}

async fn paging_is_one_based_and_bounded(app: TestApp) {
    let mut posted = Vec::new();
    for _ in 0..5 {
        posted.push(app.post_flood(&[]).await);
    }
    posted.reverse(); // newest first
    let page = |p: &str, s: &str| format!("/open311/v2/requests.json?page={p}&page_size={s}");
    assert_eq!(ids(&app.get_json(&page("1", "2")).await), posted[0..2]);
    assert_eq!(ids(&app.get_json(&page("2", "2")).await), posted[2..4]);
    assert_eq!(ids(&app.get_json(&page("3", "2")).await), posted[4..5]);
    assert_eq!(
        ids(&app.get_json(&page("4", "2")).await),
        Vec::<String>::new(),
        "past the end: empty, not the last page again"
    );
    assert_eq!(
        ids(&app
            .get_json("/open311/v2/requests.json?page_size=1000")
            .await)
        .len(),
        5
    );
    for (p, s) in [
        ("0", "2"),
        ("-1", "2"),
        ("x", "2"),
        ("1", "0"),
        ("1", "1001"),
        ("1", "ten"),
    ] {
        let resp = app.get(&page(p, s)).await;
        assert_eq!(resp.status(), 400, "page={p} page_size={s}");
    }
}

async fn updated_after_and_before_filter_on_updated_datetime(app: TestApp) {
    let old = app.post_flood(&[]).await;
    let new = app.post_flood(&[]).await;
    age(&app, &old, 200).await;
    let fmt = |days: i64| {
        (chrono::Utc::now() - chrono::Duration::days(days))
            .format("%Y-%m-%dT%H:%M:%SZ")
            .to_string()
    };
    assert_eq!(
        ids(&app
            .get_json(&format!(
                "/open311/v2/requests.json?updated_after={}",
                fmt(1)
            ))
            .await),
        vec![new.clone()]
    );
    // updated_* lift the default requested window: a sync client sees an old report that changed.
    assert_eq!(
        ids(&app
            .get_json(&format!(
                "/open311/v2/requests.json?updated_before={}",
                fmt(100)
            ))
            .await),
        vec![old.clone()]
    );
    assert_eq!(
        ids(&app
            .get_json(&format!(
                "/open311/v2/requests.json?updated_after={}&updated_before={}",
                fmt(300),
                fmt(100)
            ))
            .await),
        [old]
    );
}

async fn extensions_only_when_asked(app: TestApp) {
    let id = app.post_flood(&[("attribute[HAZARDS][]", "sewage")]).await;
    for q in ["", "?extensions=false", "?extensions="] {
        let r = app
            .get_json(&format!("/open311/v2/requests/{id}.json{q}"))
            .await;
        assert!(
            r[0].get("attributes").is_none()
                && r[0].get("extended_attributes").is_none()
                && r[0].get("notes").is_none(),
            "{q}"
        );
    }
    let r = app
        .get_json("/open311/v2/requests.json?extensions=true")
        .await;
    let ext = &r[0]["extended_attributes"];
    assert_eq!(ext["channel"], "demo");
    assert_eq!(ext["duplicate"], json!(false));
    assert_eq!(ext["parent_service_request_id"], Value::Null);
    assert_eq!(ext["detailed_status"], "open");
    assert_eq!(r[0]["notes"][0]["type"], "opened");
    let xml = app
        .get_xml(&format!("/open311/v2/requests/{id}.xml?extensions=true"))
        .await;
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let hazards = doc
        .descendants()
        .filter(|n| n.has_tag_name("attribute"))
        .find(|n| {
            n.children()
                .any(|c| c.has_tag_name("code") && c.text() == Some("HAZARDS"))
        })
        .unwrap();
    let value = hazards
        .children()
        .find(|c| c.has_tag_name("value"))
        .unwrap();
    let values: Vec<&str> = value
        .children()
        .filter(|c| c.has_tag_name("value"))
        .filter_map(|c| c.text())
        .collect();
    assert_eq!(values, ["sewage"]);
}

async fn unknown_or_malformed_ids_are_404(app: TestApp) {
    for path in [
        "/open311/v2/requests/999999.json",
        "/open311/v2/requests/abc.json",
        "/open311/v2/requests/1%2C2.json",
        "/open311/v2/requests/%00.json",
    ] {
        let resp = app.get(path).await;
        assert_eq!(resp.status(), 404, "{path}");
        assert_eq!(json_errors(&resp.json().await.unwrap())[0].0, 404, "{path}");
    }
    let id = app.post_flood(&[]).await;
    app.sql(&format!(
        "UPDATE requests SET hidden = {} WHERE id = {id}",
        if app.backend == Backend::Sqlite {
            "1"
        } else {
            "TRUE"
        }
    ))
    .await;
    assert_eq!(
        app.get(&format!("/open311/v2/requests/{id}.json"))
            .await
            .status(),
        404,
        "hidden reports are not public"
    );
    assert_eq!(
        ids(&app.get_json("/open311/v2/requests.json").await),
        Vec::<String>::new()
    );
}
