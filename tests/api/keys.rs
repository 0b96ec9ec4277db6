//! API keys whose plaintext is published (the demo city's, in this repository) work only on a server that
//! asked for the demo, and a revoked key stays revoked whatever is imported later.

use crate::both_backends;
use crate::helpers::*;
use civic311::store::api_keys::{self, ApiKeyRow};

both_backends!(a_revoked_key_stays_revoked_after_another_import);

both_backends!(backend: published_keys_work_only_on_a_demo_server);

const OWN_KEY: &str = "a-key-nobody-has-read-9f3c";

async fn post_with(app: &TestApp, key: &str) -> reqwest::Response {
    app.post_form("json", &flood(&[("api_key", key)])).await
}

async fn backoffice_update(app: &TestApp, key: &str, id: &str) -> reqwest::Response {
    app.client
        .post(app.url("/open311/v2/servicerequestupdates.json"))
        .form(&[
            ("api_key", key),
            ("service_request_id", id),
            ("update_id", "wo-1"),
            ("status", "CLOSED"),
            ("updated_datetime", "2026-11-25T09:00:00+07:00"),
            ("description", "closed by whoever read the README"),
        ])
        .send()
        .await
        .unwrap()
}

async fn published_keys_work_only_on_a_demo_server(backend: Backend) {
    let app = spawn_app_tuned(backend, &[repo_path("examples/demo-city")], |s| {
        s.demo = false;
    })
    .await;
    let refused = post_with(&app, DEMO_KEY).await;
    assert_eq!(refused.status(), 403);
    let errors = json_errors(&refused.json().await.unwrap());
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].0, 403);

    // A key of the city's own, kept out of the files (created as `civic311 apikey create` does).
    let row = ApiKeyRow {
        id: "own-key".into(),
        name: "the city's app".into(),
        key_hash: civic311::auth::hash_api_key(OWN_KEY),
        kind: "production".into(),
        created_at: chrono::Utc::now().naive_utc(),
        revoked_at: None,
        may_update: false,
        jurisdiction_id: None,
        published: false,
        rate_limit: None,
    };
    app.store
        .write(move |c| api_keys::insert(c, &row))
        .await
        .unwrap();
    let posted = post_with(&app, OWN_KEY).await;
    assert_eq!(posted.status(), 200);
    let id = posted.json::<serde_json::Value>().await.unwrap()[0]["service_request_id"]
        .as_str()
        .unwrap()
        .to_string();

    // The published back-office key cannot close the report.
    let update = backoffice_update(&app, "demo-backoffice-jakarta", &id).await;
    assert_eq!(update.status(), 403);
    let stored = app.stored(&id).await;
    assert_eq!(stored.status, "open");

    // The same keys on a demo server.
    let demo = spawn_app(backend).await;
    assert_eq!(post_with(&demo, DEMO_KEY).await.status(), 200);
}

async fn a_revoked_key_stays_revoked_after_another_import(app: TestApp) {
    assert_eq!(post_with(&app, DEMO_KEY).await.status(), 200);
    let (n, version) = app
        .store
        .write(|c| api_keys::revoke(c, "demo", chrono::Utc::now().naive_utc()))
        .await
        .unwrap();
    assert_eq!(n, 1, "the demo city's test key is named 'demo'");
    app.store.catalog_changed_to(version.unwrap());
    assert_eq!(post_with(&app, DEMO_KEY).await.status(), 403);

    let (store, dir) = (app.store.clone(), repo_path("examples/demo-city"));
    let summary = tokio::task::spawn_blocking(move || civic311::import::import_dir(&store, &dir))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(summary.revoked_keys, vec!["demo".to_string()]);
    assert!(
        summary.test_keys.is_empty(),
        "a revoked key is not offered: {:?}",
        summary.test_keys
    );
    assert_eq!(post_with(&app, DEMO_KEY).await.status(), 403);
    let row = app
        .store
        .read(|c| api_keys::by_name(c, "demo"))
        .await
        .unwrap()
        .unwrap();
    assert!(row.revoked_at.is_some());
}
