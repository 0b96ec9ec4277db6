//! Keeping a copy of the open data (issue #10, item 7): conditional GETs on every public route, and a change
//! feed whose cursor never skips nor repeats a change, however many reports share a second.

use crate::both_backends;
use crate::helpers::*;
use serde_json::Value;

both_backends!(
    every_public_get_answers_304_to_a_client_that_has_it,
    the_sync_cursor_never_skips_nor_repeats_a_change,
    a_sync_feed_tells_a_copy_to_drop_a_hidden_report,
    sync_parameters_are_checked,
);

/// Every public GET route of the route table, with real values for its parameters.
async fn public_gets(app: &TestApp) -> Vec<String> {
    let (id, file_name) = app.post_light_with_photo().await;
    let code = civic311::domain::refcode::encode(id.parse().unwrap());
    public_get_paths(&[
        ("{service_code}", "FLOOD"),
        ("{service_request_id}", id.as_str()),
        ("{file_name}", file_name.as_str()),
        ("{token}", "none"),
        ("{code}", code.as_str()),
    ])
    .into_iter()
    // Tokens belong to batch services; the route answers 404 for an unknown one, and a 404 has no
    // validators to compare.
    .filter(|p| !p.contains("/tokens/"))
    .collect()
}

fn header(resp: &reqwest::Response, name: &str) -> Option<String> {
    resp.headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_string())
}

async fn get_with(app: &TestApp, path: &str, name: &str, value: &str) -> reqwest::Response {
    app.client
        .get(app.url(path))
        .header(name, value)
        .send()
        .await
        .unwrap()
}

async fn every_public_get_answers_304_to_a_client_that_has_it(app: TestApp) {
    app.post_flood(&[]).await;
    let paths = public_gets(&app).await;
    assert!(paths.len() >= 10, "{paths:?}");
    // A date of the current second proves nothing (a change may follow within it): let it pass.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    for path in &paths {
        let first = app.get(path).await;
        assert_eq!(first.status(), 200, "{path}");
        let etag = header(&first, "etag").unwrap_or_else(|| panic!("{path}: no ETag"));
        assert!(
            etag.starts_with('"') && etag.ends_with('"'),
            "{path}: {etag}"
        );
        let modified = header(&first, "last-modified");
        let body = first.bytes().await.unwrap();

        let again = get_with(&app, path, "if-none-match", &etag).await;
        assert_eq!(again.status(), 304, "{path}");
        assert_eq!(
            header(&again, "etag").as_deref(),
            Some(etag.as_str()),
            "{path}"
        );
        assert!(
            again.bytes().await.unwrap().is_empty(),
            "{path}: a 304 has no body"
        );

        // Another tag: the whole answer, the same as before.
        let other = get_with(&app, path, "if-none-match", "\"not-this-one\"").await;
        assert_eq!(other.status(), 200, "{path}");
        assert_eq!(other.bytes().await.unwrap(), body, "{path}");

        if let Some(modified) = modified {
            // Lists and the updates feed change without a time of their own: their time is always now.
            let moving = path.contains("/requests.") || path.contains("servicerequestupdates");
            let since = get_with(&app, path, "if-modified-since", &modified).await;
            assert_eq!(since.status(), if moving { 200 } else { 304 }, "{path}");
            let earlier = get_with(
                &app,
                path,
                "if-modified-since",
                "Thu, 01 Jan 2015 00:00:00 GMT",
            )
            .await;
            assert_eq!(earlier.status(), 200, "{path}");
        } else {
            panic!("{path}: no Last-Modified");
        }
    }

    // A report that leaves a list (hidden by staff) changes the list although no report it shows changed:
    // the client's tag no longer matches, and it gets the shorter list.
    let list = "/open311/v2/requests.json";
    let first = app.get(list).await;
    let etag = header(&first, "etag").unwrap();
    let shown: Value = first.json().await.unwrap();
    assert_eq!(shown.as_array().unwrap().len(), 2);
    assert_eq!(
        get_with(&app, list, "if-none-match", &etag).await.status(),
        304
    );
    app.staff_user("dispatch", "dispatcher", &[]).await;
    let t = token(&app.sign_in("dispatch").await);
    let hidden = shown[0]["service_request_id"].as_str().unwrap();
    let (status, _) = app
        .call(
            "POST",
            &format!("/staff/v1/requests/{hidden}/hide"),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(status, 200);
    let after = get_with(&app, list, "if-none-match", &etag).await;
    assert_eq!(after.status(), 200);
    let listed: Value = after.json().await.unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    app.expect_deliveries(&["cancelled"]);

    // A change makes the list's old tag stale: the client gets the new list.
    let list = "/open311/v2/requests.json";
    let etag = header(&app.get(list).await, "etag").unwrap();
    let new_id = app.post_flood(&[]).await;
    let after = get_with(&app, list, "if-none-match", &etag).await;
    assert_eq!(after.status(), 200);
    assert_ne!(header(&after, "etag").unwrap(), etag);
    let listed: Value = after.json().await.unwrap();
    assert_eq!(listed[0]["service_request_id"], Value::String(new_id));
}

/// Follows the feed from `cursor` to its end; answers the items (as JSON) and the last cursor.
async fn follow(app: &TestApp, cursor: &str, page_size: usize) -> (Vec<Value>, String) {
    let mut cursor = cursor.to_string();
    let mut items = Vec::new();
    for _ in 0..1000 {
        let resp = app
            .get(&format!(
                "/open311/v2/requests.json?cursor={cursor}&page_size={page_size}"
            ))
            .await;
        assert_eq!(resp.status(), 200);
        let next = header(&resp, "sync-cursor").expect("a Sync-Cursor");
        let link = header(&resp, "link");
        let page: Vec<Value> = resp.json().await.unwrap();
        match &link {
            // No `next` once caught up, so that a generic follower stops.
            None => assert!(page.is_empty()),
            Some(link) => assert!(
                link.ends_with(&format!("cursor={next}>; rel=\"next\""))
                    && link.contains("page_size="),
                "{link}"
            ),
        }
        assert!(page.len() <= page_size);
        if page.is_empty() {
            assert_eq!(next, cursor, "an empty page leaves the cursor where it was");
            return (items, cursor);
        }
        items.extend(page);
        cursor = next;
    }
    panic!("the feed never ended");
}

fn ids(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .map(|i| i["service_request_id"].as_str().unwrap().to_string())
        .collect()
}

async fn the_sync_cursor_never_skips_nor_repeats_a_change(app: TestApp) {
    let mut posted = Vec::new();
    for _ in 0..23 {
        posted.push(app.post_flood(&[]).await);
    }
    // Changes are shown once they have settled: changes of a moment ago are not listed yet.
    app.sql(&format!(
        "UPDATE requests SET updated_at = '{}'",
        (chrono::Utc::now() - chrono::TimeDelta::seconds(2)).format("%Y-%m-%d %H:%M:%S")
    ))
    .await;
    let (items, start) = follow(&app, "0", 5).await;
    assert!(items.is_empty(), "{items:?}");
    assert_eq!(start, "0");
    // The clock the test controls: every report changed in one and the same second, long enough ago.
    app.sql("UPDATE requests SET updated_at = '2026-11-30 08:00:00'")
        .await;
    let (items, cursor) = follow(&app, "0", 5).await;
    assert_eq!(
        ids(&items),
        posted,
        "each once, in id order within the second"
    );
    assert!(items
        .iter()
        .all(|i| i["status"] == "open" && i.get("withdrawn").is_none()));
    // Two of them change later, in the same second again; the copy sees exactly those.
    let (a, b) = (&posted[3], &posted[17]);
    app.sql(&format!(
        "UPDATE requests SET updated_at = '2026-11-30 09:00:00', status = 'closed' WHERE id IN ({a}, {b})"
    ))
    .await;
    let (items, end) = follow(&app, &cursor, 1).await;
    assert_eq!(ids(&items), [a.clone(), b.clone()]);
    assert!(items.iter().all(|i| i["status"] == "closed"));
    assert_eq!(end, format!("{}-{b}", 1_796_029_200));
    // XML pages the same way.
    let resp = app
        .get("/open311/v2/requests.xml?cursor=0&page_size=1000")
        .await;
    assert_eq!(header(&resp, "sync-cursor").as_deref(), Some(end.as_str()));
    let xml = resp.text().await.unwrap();
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let listed: Vec<String> = doc
        .descendants()
        .filter(|n| n.has_tag_name("service_request_id"))
        .map(|n| n.text().unwrap().to_string())
        .collect();
    let mut expected: Vec<String> = posted
        .iter()
        .filter(|p| *p != a && *p != b)
        .cloned()
        .collect();
    expected.extend([a.clone(), b.clone()]);
    assert_eq!(listed, expected);
}

async fn a_sync_feed_tells_a_copy_to_drop_a_hidden_report(app: TestApp) {
    let kept = app.post_flood(&[]).await;
    let hidden = app
        .post_flood(&[("description", "my neighbour is an idiot")])
        .await;
    // Held for review (its text looks like a phone number): never public, so never in the feed at all.
    let held = app
        .post_flood(&[("description", "call 0812 3456 7890")])
        .await;
    assert_eq!(app.stored(&held).await.moderation_state, "pending");
    app.sql("UPDATE requests SET updated_at = '2026-11-30 08:00:00'")
        .await;
    let (items, cursor) = follow(&app, "0", 10).await;
    assert_eq!(ids(&items), [kept.clone(), hidden.clone()]);

    app.staff_user("dispatch", "dispatcher", &[]).await;
    let t = token(&app.sign_in("dispatch").await);
    let (status, _) = app
        .call(
            "POST",
            &format!("/staff/v1/requests/{hidden}/hide"),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(status, 200);
    app.sql(&format!(
        "UPDATE requests SET updated_at = '2026-11-30 08:00:05' WHERE id = {hidden}"
    ))
    .await;
    let (items, _) = follow(&app, &cursor, 10).await;
    assert_eq!(items.len(), 1, "{items:?}");
    let gone = items[0].as_object().unwrap();
    assert_eq!(gone["service_request_id"], Value::String(hidden.clone()));
    assert_eq!(gone["withdrawn"], Value::Bool(true));
    // Nothing of the report but that it is gone.
    let mut keys: Vec<&str> = gone.keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(
        keys,
        ["service_request_id", "updated_datetime", "withdrawn"]
    );
    app.expect_deliveries(&["cancelled"]);
}

async fn sync_parameters_are_checked(app: TestApp) {
    for (query, field) in [
        ("cursor=yesterday", "cursor"),
        ("cursor=12-", "cursor"),
        ("cursor=-5-3", "cursor"),
        ("cursor=0&page=2", "page"),
        ("cursor=0&status=open", "status"),
        ("cursor=0&start_date=2026-01-01", "start_date"),
        ("cursor=0&page_size=5000", "page_size"),
        // Filters that would tell where or what a withdrawn report was.
        ("cursor=0&service_code=FLOOD", "service_code"),
        ("cursor=0&bbox=106.8,-6.2,106.9,-6.1", "bbox"),
        ("cursor=0&lat=-6.2&long=106.8&radius=100", "lat"),
        ("cursor=253402300800-1", "cursor"),
    ] {
        let resp = app.get(&format!("/open311/v2/requests.json?{query}")).await;
        assert_eq!(resp.status(), 400, "{query}");
        let errors = json_errors(&resp.json().await.unwrap());
        assert!(
            errors
                .iter()
                .any(|(code, d)| *code == 400 && d.contains(field)),
            "{query}: {errors:?}"
        );
    }
}
