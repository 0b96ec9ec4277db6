//! A success answer means the report is on disk (issue item 5): durable settings, one transaction, and
//! idempotent retries that never create a second report, also when the attempts race.

use crate::both_backends;
use crate::helpers::*;
use crate::post_requests::civic311_count;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use serde_json::Value;

both_backends!(
    connections_commit_durably,
    retry_with_the_same_idempotency_key_gets_the_same_report,
    idempotency_keys_are_scoped_to_the_api_key,
    racing_retries_create_one_report,
    batch_retry_gets_the_same_token,
    an_error_after_a_write_leaves_nothing_behind,
);

#[derive(QueryableByName)]
struct Setting {
    #[diesel(sql_type = Text)]
    value: String,
}

#[derive(QueryableByName)]
struct Number {
    #[diesel(sql_type = BigInt)]
    value: i64,
}

async fn connections_commit_durably(app: TestApp) {
    let backend = app.backend;
    let checks = app
        .store
        .read(move |conn| {
            Ok(match backend {
                Backend::Sqlite => vec![
                    diesel::sql_query("SELECT synchronous AS value FROM pragma_synchronous")
                        .get_result::<Number>(conn)?
                        .value
                        .to_string(),
                    diesel::sql_query("SELECT journal_mode AS value FROM pragma_journal_mode")
                        .get_result::<Setting>(conn)?
                        .value,
                    diesel::sql_query("SELECT foreign_keys AS value FROM pragma_foreign_keys")
                        .get_result::<Number>(conn)?
                        .value
                        .to_string(),
                ],
                Backend::Postgres => vec![
                    diesel::sql_query("SELECT current_setting('synchronous_commit') AS value")
                        .get_result::<Setting>(conn)?
                        .value,
                ],
            })
        })
        .await
        .unwrap();
    match backend {
        // 2 = FULL: every commit is fsynced before the answer.
        Backend::Sqlite => assert_eq!(checks, ["2", "wal", "1"]),
        Backend::Postgres => assert_eq!(checks, ["on"]),
    }
}

async fn post_with_key(
    app: &TestApp,
    api_key: &str,
    header: Option<&str>,
    field: Option<&str>,
) -> Value {
    let mut form = vec![
        ("api_key", api_key),
        ("service_code", "FLOOD"),
        ("lat", "-6.2"),
        ("long", "106.8"),
        ("attribute[DEPTH]", "12"),
        ("attribute[PASSABLE]", "all"),
    ];
    if let Some(f) = field {
        form.push(("idempotency_key", f));
    }
    let mut req = app
        .client
        .post(app.url("/open311/v2/requests.json"))
        .form(&form);
    if let Some(h) = header {
        req = req.header("Idempotency-Key", h);
    }
    let resp = req.send().await.unwrap();
    assert_eq!(resp.status(), 200);
    resp.json().await.unwrap()
}

async fn retry_with_the_same_idempotency_key_gets_the_same_report(app: TestApp) {
    let a = post_with_key(&app, DEMO_KEY, Some("7d1c7a0e-retry"), None).await;
    let b = post_with_key(&app, DEMO_KEY, Some("7d1c7a0e-retry"), None).await;
    let c = post_with_key(&app, DEMO_KEY, None, Some("7d1c7a0e-retry")).await;
    assert_eq!(a, b);
    assert_eq!(a, c, "the header and the field are the same key");
    assert_eq!(civic311_count(&app).await, 1);
    let d = post_with_key(&app, DEMO_KEY, Some("another"), None).await;
    assert_ne!(a[0]["service_request_id"], d[0]["service_request_id"]);
    assert_eq!(civic311_count(&app).await, 2);
    let conflict = app
        .client
        .post(app.url("/open311/v2/requests.json"))
        .header("Idempotency-Key", "one")
        .form(&[
            ("api_key", DEMO_KEY),
            ("idempotency_key", "two"),
            ("service_code", "LIGHT"),
            ("address_string", "x"),
            ("attribute[STATE]", "dark"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(conflict.status(), 400);
}

async fn idempotency_keys_are_scoped_to_the_api_key(app: TestApp) {
    let other_key = "second-app-key-0001";
    app.sql(&format!(
        "INSERT INTO api_keys (id, name, key_hash, kind, created_at) VALUES ('k2', 'second app', '{}', 'test', '2026-01-01 00:00:00')",
        civic311::auth::hash_api_key(other_key)
    ))
    .await;
    let a = post_with_key(&app, DEMO_KEY, Some("shared-key"), None).await;
    let b = post_with_key(&app, other_key, Some("shared-key"), None).await;
    assert_ne!(a[0]["service_request_id"], b[0]["service_request_id"]);
    assert_eq!(civic311_count(&app).await, 2);
}

async fn racing_retries_create_one_report(app: TestApp) {
    let mut handles = Vec::new();
    for _ in 0..8 {
        let (client, url) = (app.client.clone(), app.url("/open311/v2/requests.json"));
        handles.push(tokio::spawn(async move {
            let form = [
                ("api_key", DEMO_KEY),
                ("service_code", "FLOOD"),
                ("lat", "-6.2"),
                ("long", "106.8"),
                ("attribute[DEPTH]", "12"),
                ("attribute[PASSABLE]", "all"),
            ];
            let resp = client
                .post(url)
                .header("Idempotency-Key", "race-1")
                .form(&form)
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 200);
            resp.json::<Value>().await.unwrap()[0]["service_request_id"]
                .as_str()
                .unwrap()
                .to_string()
        }));
    }
    let mut ids = Vec::new();
    for h in handles {
        ids.push(h.await.unwrap());
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "{ids:?}");
    assert_eq!(civic311_count(&app).await, 1);
}

async fn batch_retry_gets_the_same_token(app: TestApp) {
    let post = || {
        app.client
            .post(app.url("/open311/v2/requests.json"))
            .header("Idempotency-Key", "dump-1")
            .form(&[
                ("api_key", DEMO_KEY),
                ("service_code", "DUMPING"),
                ("address_string", "Kali Ciliwung, Manggarai"),
                ("attribute[AMOUNT]", "car"),
            ])
            .send()
    };
    let a: Value = post().await.unwrap().json().await.unwrap();
    let b: Value = post().await.unwrap().json().await.unwrap();
    assert!(a[0]["token"].is_string());
    assert_eq!(a, b);
    assert_eq!(civic311_count(&app).await, 1);
}

/// A use case that finds a problem after its first write returns its own error from the transaction; the
/// store rolls everything back and hands the error back unchanged. On SQLite the transaction runs in the
/// group-committing writer beside others, which must still commit.
async fn an_error_after_a_write_leaves_nothing_behind(app: TestApp) {
    use civic311::error::ApiError;
    use civic311::store::api_keys::{self, ApiKeyRow};
    let row = |id: &str| ApiKeyRow {
        id: id.into(),
        name: id.into(),
        key_hash: civic311::auth::hash_api_key(id),
        kind: "production".into(),
        created_at: chrono::Utc::now().naive_utc(),
        revoked_at: None,
        may_update: false,
        jurisdiction_id: None,
        published: false,
        rate_limit: None,
    };
    let (doomed, kept) = (row("doomed"), row("kept"));
    let failing = app.store.write(move |conn| -> Result<(), ApiError> {
        api_keys::insert(conn, &doomed)?;
        Err(ApiError::invalid("name", "found wrong after the insert"))
    });
    let beside = app
        .store
        .write(move |conn| -> Result<(), civic311::store::StoreError> {
            api_keys::insert(conn, &kept)
        });
    let (failed, committed) = tokio::join!(failing, beside);
    match failed {
        Err(ApiError::Invalid(problems)) => assert_eq!(problems[0].field, "name"),
        other => panic!("the caller's own error comes back: {other:?}"),
    }
    committed.unwrap();
    let names: Vec<String> = app
        .store
        .read(api_keys::list)
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.name)
        .collect();
    assert!(names.contains(&"kept".to_string()), "{names:?}");
    assert!(!names.contains(&"doomed".to_string()), "{names:?}");
}
