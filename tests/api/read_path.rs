//! What the fast read and write paths (issue #7) must not break: the cached catalogue follows every import,
//! in this process at once and from another process within the watcher's second; lists follow every write;
//! the group-committing writer answers each report only once it is on disk, fails one transaction alone, and
//! loses no acknowledged report when the server is killed.

use crate::both_backends;
use crate::helpers::*;
use serde_json::Value;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

both_backends!(
    an_import_reaches_every_cached_answer_at_once,
    an_import_by_another_process_reaches_the_running_server,
    a_hidden_report_leaves_every_list_at_once,
    deep_pages_and_filters_answer_like_the_first_page,
    concurrent_posts_commit_together_and_each_answer_is_its_own,
    acknowledged_reports_survive_a_killed_server,
    the_write_path_is_durable_and_sqlite_plans_stay_stable,
    updated_before_finds_exactly_the_reports_updated_before,
    large_pages_asked_for_together_all_answer_in_full,
    the_servers_own_import_is_not_taken_for_another_processs,
);

/// The watcher moves the catalogue epoch when another process imports. The test server's import comes after
/// the watcher's first look at the stored version, as `serve --import` does: taking that import for another
/// process's emptied every cache a second time within a second of every start.
async fn the_servers_own_import_is_not_taken_for_another_processs(app: TestApp) {
    let epoch = app.store.catalog_epoch();
    // Two of the watcher's ticks.
    tokio::time::sleep(Duration::from_millis(2200)).await;
    assert_eq!(app.store.catalog_epoch(), epoch);
}

both_backends!(backend: an_answer_is_kept_from_its_second_asking);

/// The response cache keeps an answer the second time it is made, so that query strings asked once (a
/// scraper, a client that makes every URL unique) take no room. A change made behind the server's back
/// (another connection: the server's own writes empty the cache) shows which answers were kept.
async fn an_answer_is_kept_from_its_second_asking(backend: Backend) {
    let app = spawn_app_tuned(backend, &[repo_path("examples/demo-city")], |s| {
        s.cache_ms = 600_000;
    })
    .await;
    let id = app.post_flood(&[]).await;
    let path = format!("/open311/v2/requests/{id}.json?asked=1");
    let description = |v: Value| v[0]["description"].as_str().unwrap_or_default().to_string();
    let behind_the_back = |text: &'static str| {
        let (url, id) = (app.database_url.clone(), id.clone());
        async move {
            tokio::task::spawn_blocking(move || {
                use diesel::connection::SimpleConnection;
                let mut conn = civic311::store::establish(&url).unwrap();
                conn.batch_execute(&format!(
                    "UPDATE requests SET description = '{text}' WHERE id = {id}"
                ))
                .unwrap();
            })
            .await
            .unwrap()
        }
    };
    let first = description(app.get_json(&path).await);
    behind_the_back("second").await;
    assert_eq!(
        description(app.get_json(&path).await),
        "second",
        "an answer made once was kept (it was {first:?})"
    );
    behind_the_back("third").await;
    assert_eq!(
        description(app.get_json(&path).await),
        "second",
        "an answer made twice is served again until data changes in this process"
    );
    // A write of this server's own ends every kept answer at once.
    app.post_flood(&[]).await;
    assert_eq!(description(app.get_json(&path).await), "third");
}

/// Large pages are made a few at a time (so that memory does not follow a crowd of clients): many asked for
/// at once must all still answer, each in full, none refused or cut short.
async fn large_pages_asked_for_together_all_answer_in_full(app: TestApp) {
    for _ in 0..210 {
        app.post_flood(&[]).await;
    }
    let asks = (0..8).map(|i| {
        let url = app.url(&format!(
            "/open311/v2/requests.{}?page_size=1000&nocache={i}",
            if i % 2 == 0 { "json" } else { "xml" }
        ));
        let client = app.client.clone();
        async move {
            let r = client.get(url).send().await.unwrap();
            (r.status(), r.text().await.unwrap())
        }
    });
    for (i, (status, body)) in futures_util::future::join_all(asks)
        .await
        .into_iter()
        .enumerate()
    {
        assert_eq!(status, 200, "{body}");
        let n = if i % 2 == 0 {
            serde_json::from_str::<Value>(&body)
                .unwrap()
                .as_array()
                .unwrap()
                .len()
        } else {
            roxmltree::Document::parse(&body)
                .unwrap()
                .descendants()
                .filter(|n| n.has_tag_name("request"))
                .count()
        };
        assert_eq!(n, 210, "every report of the page");
    }
}

/// `updated_before` is served through the requested-time index (a report is never updated before it was
/// requested): the answer must be exactly the reports updated before the bound, old and new alike.
async fn updated_before_finds_exactly_the_reports_updated_before(app: TestApp) {
    let untouched = app.post_flood(&[]).await;
    let changed = app.post_flood(&[]).await;
    let recent = app.post_flood(&[]).await;
    for (id, requested, updated) in [
        (&untouched, "2025-01-10 08:00:00", "2025-01-10 08:00:00"),
        (&changed, "2025-01-05 08:00:00", "2025-03-01 08:00:00"),
    ] {
        app.sql(&format!(
            "UPDATE requests SET requested_at = '{requested}', updated_at = '{updated}' WHERE id = {id}"
        ))
        .await;
    }
    let found = |bound: &'static str| {
        let app = &app;
        async move {
            let mut v = ids(&app
                .get_json(&format!("/open311/v2/requests.json?updated_before={bound}"))
                .await);
            v.sort();
            v
        }
    };
    assert_eq!(found("2025-02-01T00:00:00Z").await, vec![untouched.clone()]);
    let mut both = vec![untouched.clone(), changed.clone()];
    both.sort();
    assert_eq!(found("2025-06-01T00:00:00Z").await, both);
    assert!(found("2099-01-01T00:00:00Z").await.contains(&recent));
    assert!(found("2025-01-01T00:00:00Z").await.is_empty());
}

#[derive(diesel::QueryableByName)]
struct Number {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    value: i64,
}

/// The SQLite writer's own connection has the durable settings (the read pool is checked in durability.rs),
/// and the bundled SQLite is built with the query planner stability guarantee (.cargo/config.toml): without
/// it every cached statement with a `LIMIT ?` is compiled again at each call.
async fn the_write_path_is_durable_and_sqlite_plans_stay_stable(app: TestApp) {
    use diesel::RunQueryDsl;
    if app.backend == Backend::Postgres {
        let on: Vec<String> = app
            .store
            .write(|conn| -> Result<_, civic311::store::StoreError> {
                #[derive(diesel::QueryableByName)]
                struct Setting {
                    #[diesel(sql_type = diesel::sql_types::Text)]
                    value: String,
                }
                Ok(
                    diesel::sql_query("SELECT current_setting('synchronous_commit') AS value")
                        .load::<Setting>(conn)?
                        .into_iter()
                        .map(|s| s.value)
                        .collect(),
                )
            })
            .await
            .unwrap();
        assert_eq!(on, ["on"]);
        return;
    }
    let (sync, qpsg) = app
        .store
        .write(|conn| -> Result<_, civic311::store::StoreError> {
            let sync = diesel::sql_query("SELECT synchronous AS value FROM pragma_synchronous")
                .get_result::<Number>(conn)?
                .value;
            let qpsg = diesel::sql_query(
                "SELECT count(*) AS value FROM pragma_compile_options WHERE compile_options = 'ENABLE_QPSG'",
            )
            .get_result::<Number>(conn)?
            .value;
            Ok((sync, qpsg))
        })
        .await
        .unwrap();
    assert_eq!(sync, 2, "synchronous=FULL on the writer");
    assert_eq!(qpsg, 1, "SQLite built with SQLITE_ENABLE_QPSG");
}

const TREE: &str = r#"
[[services]]
code = "TREE"
name = "Fallen tree"
type = "realtime"

[[services.attributes]]
code = "BLOCKING"
datatype = "singlevaluelist"
required = true
order = 1
description = "Does it block the road?"
values = [{ key = "yes", name = "Yes" }, { key = "no", name = "No" }]
"#;

fn tree_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("tree.toml"), TREE).unwrap();
    dir
}

/// The app's database as a `CIVIC311_DATABASE_URL` for a second process.
fn url_of(app: &TestApp) -> String {
    match &app.database_url {
        civic311::config::DatabaseUrl::Sqlite(p) => format!("sqlite://{}", p.display()),
        civic311::config::DatabaseUrl::Postgres(u) => u.clone(),
    }
}

fn codes(services: &Value) -> Vec<String> {
    services
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["service_code"].as_str().unwrap().to_string())
        .collect()
}

async fn an_import_reaches_every_cached_answer_at_once(app: TestApp) {
    // Warm every cached answer first.
    assert!(!codes(&app.get_json("/open311/v2/services.json").await).contains(&"TREE".into()));
    assert_eq!(
        app.get("/open311/v2/services/TREE.json").await.status(),
        404
    );
    let tree = [
        ("api_key", DEMO_KEY),
        ("service_code", "TREE"),
        ("address_string", "Jl. Sudirman 1"),
        ("attribute[BLOCKING]", "yes"),
    ];
    assert_eq!(app.post_form("json", &tree).await.status(), 404);

    let dir = tree_dir();
    let (store, path) = (app.store.clone(), dir.path().to_path_buf());
    tokio::task::spawn_blocking(move || civic311::import::import_dir(&store, &path))
        .await
        .unwrap()
        .unwrap();

    assert!(codes(&app.get_json("/open311/v2/services.json").await).contains(&"TREE".into()));
    let xml = app.get_xml("/open311/v2/services.xml").await;
    let doc = roxmltree::Document::parse(&xml).unwrap();
    assert!(doc
        .descendants()
        .any(|n| n.has_tag_name("service_code") && n.text() == Some("TREE")));
    let def = app.get_json("/open311/v2/services/TREE.json").await;
    assert_eq!(def["attributes"][0]["code"], "BLOCKING");
    // Intake and the lists use the same catalogue.
    let resp = app.post_form("json", &tree).await;
    assert_eq!(resp.status(), 200);
    let id = resp.json::<Value>().await.unwrap()[0]["service_request_id"]
        .as_str()
        .unwrap()
        .to_string();
    let one = app
        .get_json(&format!("/open311/v2/requests/{id}.json"))
        .await;
    assert_eq!(one[0]["service_name"], "Fallen tree");
    let listed = app
        .get_json("/open311/v2/requests.json?service_code=TREE")
        .await;
    assert_eq!(listed.as_array().unwrap().len(), 1);
}

async fn an_import_by_another_process_reaches_the_running_server(app: TestApp) {
    assert!(!codes(&app.get_json("/open311/v2/services.json").await).contains(&"TREE".into()));
    let dir = tree_dir();
    let url = url_of(&app);
    let path = dir.path().to_path_buf();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_civic311"))
            .arg("import")
            .arg(&path)
            .env("CIVIC311_DATABASE_URL", url)
            .env("RUST_LOG", "warn")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The watcher looks once a second; allow for a slow machine.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let listed = codes(&app.get_json("/open311/v2/services.json").await);
        if listed.contains(&"TREE".into()) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "another process's import never reached the cache: {listed:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        app.get("/open311/v2/services/TREE.json").await.status(),
        200
    );
}

/// The DEPTH answer of a flood report shown with `extensions=true`.
fn depth_of(r: &Value) -> Value {
    r["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["code"] == "DEPTH")
        .unwrap()["value"]
        .clone()
}

fn ids(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|r| r["service_request_id"].as_str().unwrap().to_string())
        .collect()
}

fn xml_ids(xml: &str) -> Vec<String> {
    let doc = roxmltree::Document::parse(xml).unwrap();
    doc.descendants()
        .filter(|n| n.has_tag_name("service_request_id"))
        .filter_map(|n| n.text().map(str::to_string))
        .collect()
}

async fn a_hidden_report_leaves_every_list_at_once(app: TestApp) {
    let kept = app.post_flood(&[]).await;
    let hidden = app.post_flood(&[]).await;
    for path in [
        "/open311/v2/requests.json",
        "/open311/v2/requests.json?page_size=1",
    ] {
        // Twice: the response cache keeps an answer from its second asking.
        for _ in 0..2 {
            assert!(ids(&app.get_json(path).await).contains(&hidden), "{path}");
        }
    }
    app.sql(&format!(
        "UPDATE requests SET hidden = TRUE WHERE id = {hidden}"
    ))
    .await;
    for path in [
        "/open311/v2/requests.json",
        "/open311/v2/requests.json?page_size=1",
        "/open311/v2/requests.json?service_code=FLOOD",
        &format!("/open311/v2/requests.json?service_request_id={hidden},{kept}"),
    ] {
        let listed = ids(&app.get_json(path).await);
        assert!(!listed.contains(&hidden), "{path}: {listed:?}");
        assert!(listed.contains(&kept), "{path}: {listed:?}");
    }
    let xml = xml_ids(&app.get_xml("/open311/v2/requests.xml").await);
    assert!(!xml.contains(&hidden) && xml.contains(&kept));
    assert_eq!(
        app.get(&format!("/open311/v2/requests/{hidden}.json"))
            .await
            .status(),
        404
    );
}

/// Deep pages are read id-first and child rows by id range: a page must hold exactly the rows, attributes
/// and photos it held when every query asked for the whole list.
async fn deep_pages_and_filters_answer_like_the_first_page(app: TestApp) {
    let mut posted = Vec::new();
    for i in 0..12 {
        let id = if i % 3 == 0 {
            let resp = app.post_form("json", &light(&[])).await;
            assert_eq!(resp.status(), 200);
            resp.json::<Value>().await.unwrap()[0]["service_request_id"]
                .as_str()
                .unwrap()
                .to_string()
        } else {
            let depth = (10 + i).to_string();
            app.post_flood(&[("attribute[DEPTH]", depth.as_str())])
                .await
        };
        posted.push(id);
    }
    let all = app
        .get_json("/open311/v2/requests.json?extensions=true")
        .await;
    let all = all.as_array().unwrap().clone();
    assert_eq!(all.len(), 12);
    let mut paged = Vec::new();
    for page in 1..=4 {
        let p = app
            .get_json(&format!(
                "/open311/v2/requests.json?extensions=true&page_size=3&page={page}"
            ))
            .await;
        paged.extend(p.as_array().unwrap().clone());
    }
    assert_eq!(
        paged, all,
        "pages put together are the whole list, in order"
    );
    let beyond = app
        .get_json("/open311/v2/requests.json?page_size=3&page=5")
        .await;
    assert_eq!(beyond.as_array().unwrap().len(), 0);
    // Every flood report kept its own depth.
    for r in all.iter().filter(|r| r["service_code"] == "FLOOD") {
        let depth = depth_of(r);
        let id: usize = r["service_request_id"].as_str().unwrap().parse().unwrap();
        let i = posted
            .iter()
            .position(|p| p.parse::<usize>().unwrap() == id)
            .unwrap();
        assert_eq!(depth, Value::String((10 + i).to_string()), "report {id}");
    }
    // A sparse id list (not a range) and a filter answer the same rows as the full list.
    let sparse = format!("{},{}", posted[0], posted[11]);
    let listed = app
        .get_json(&format!(
            "/open311/v2/requests.json?extensions=true&service_request_id={sparse}"
        ))
        .await;
    let expected: Vec<&Value> = all
        .iter()
        .filter(|r| {
            let id = r["service_request_id"].as_str().unwrap();
            id == posted[0] || id == posted[11]
        })
        .collect();
    assert_eq!(
        listed.as_array().unwrap().iter().collect::<Vec<_>>(),
        expected
    );
    let lights = app
        .get_json("/open311/v2/requests.json?service_code=LIGHT&page_size=2&page=2")
        .await;
    assert_eq!(ids(&lights), vec![posted[3].clone(), posted[0].clone()]);
}

async fn concurrent_posts_commit_together_and_each_answer_is_its_own(app: TestApp) {
    // Forty reports at once, eight of them sent twice with the same idempotency key: the writer commits them
    // in batches, and a retry that loses its race inside a batch must roll back alone.
    let mut tasks = Vec::new();
    for i in 0..48 {
        let client = app.client.clone();
        let url = app.url("/open311/v2/requests.json");
        let key = format!("burst-{}", i % 40);
        let depth = (i % 40).to_string();
        tasks.push(tokio::spawn(async move {
            let form = flood(&[
                ("attribute[DEPTH]", depth.as_str()),
                ("idempotency_key", key.as_str()),
            ]);
            let resp = client.post(url).form(&form).send().await.unwrap();
            let status = resp.status().as_u16();
            let body: Value = resp.json().await.unwrap();
            (i % 40, status, body)
        }));
    }
    let mut by_key: std::collections::HashMap<usize, String> = Default::default();
    for t in tasks {
        let (k, status, body) = t.await.unwrap();
        assert_eq!(status, 200, "{body}");
        let id = body[0]["service_request_id"].as_str().unwrap().to_string();
        if let Some(other) = by_key.insert(k, id.clone()) {
            assert_eq!(other, id, "a retry got another report");
        }
    }
    assert_eq!(crate::post_requests::civic311_count(&app).await, 40);
    for (k, id) in by_key {
        let r = app
            .get_json(&format!("/open311/v2/requests/{id}.json?extensions=true"))
            .await;
        let depth = depth_of(&r[0]);
        assert_eq!(depth, Value::String(k.to_string()), "report {id}");
    }
}

/// A second server process on the same database is killed (SIGKILL) while clients post to it, three times
/// over; every report it acknowledged must be stored with its delivery rows. On SQLite this exercises the
/// group-committing writer.
async fn acknowledged_reports_survive_a_killed_server(app: TestApp) {
    let url = url_of(&app);
    let acked = std::sync::Arc::new(std::sync::Mutex::new(Vec::<i64>::new()));
    for round in 1..=3 {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut server = Command::new(env!("CARGO_BIN_EXE_civic311"))
            .arg("serve")
            .env("CIVIC311_DEMO", "true")
            .env("CIVIC311_RATE_LIMIT_POST", "off")
            .env("CIVIC311_DATABASE_URL", &url)
            .env("CIVIC311_BIND", format!("127.0.0.1:{port}"))
            .env("CIVIC311_DATA_DIR", app.data_dir.join("second"))
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        while app
            .client
            .get(format!("{base}/health"))
            .send()
            .await
            .is_err()
        {
            assert!(Instant::now() < deadline, "the second server did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let mut clients = Vec::new();
        for _ in 0..8 {
            let (client, acked, url) = (
                app.client.clone(),
                acked.clone(),
                format!("{base}/open311/v2/requests.json"),
            );
            clients.push(tokio::spawn(async move {
                loop {
                    let Ok(resp) = client.post(&url).form(&flood(&[])).send().await else {
                        break;
                    };
                    if resp.status() != 200 {
                        break;
                    }
                    let Ok(body) = resp.json::<Value>().await else {
                        break;
                    };
                    let id = body[0]["service_request_id"]
                        .as_str()
                        .unwrap()
                        .parse()
                        .unwrap();
                    acked.lock().unwrap().push(id);
                }
            }));
        }
        // Kill it once it has acknowledged a good number, in the middle of the stream.
        let deadline = Instant::now() + Duration::from_secs(30);
        while acked.lock().unwrap().len() < 40 * round && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        server.kill().unwrap();
        server.wait().unwrap();
        for c in clients {
            c.await.unwrap();
        }
    }
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() >= 120, "only {} acknowledged", acked.len());
    let delivered: std::collections::HashSet<i64> = app
        .deliveries()
        .await
        .iter()
        .map(|d| d.request_id)
        .collect();
    let undelivered: Vec<i64> = acked
        .iter()
        .copied()
        .filter(|id| !delivered.contains(id))
        .collect();
    assert!(
        undelivered.is_empty(),
        "acknowledged without a delivery: {undelivered:?}"
    );
    let store = app.store.clone();
    let missing = store
        .read(move |conn| {
            let mut missing = Vec::new();
            for &id in &acked {
                if civic311::store::requests::get_any(conn, id)?.is_none() {
                    missing.push(id);
                }
            }
            Ok(missing)
        })
        .await
        .unwrap();
    assert!(missing.is_empty(), "acknowledged but lost: {missing:?}");
}
