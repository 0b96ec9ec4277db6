//! The test harness: a real server on a random port over a fresh database of either backend, and helpers
//! that parse answers by the spec's own field names (JSON through serde_json::Value, XML through roxmltree).

use civic311::config::{DatabaseUrl, Settings};
use civic311::startup::Application;
use civic311::store::Store;
use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection, RunQueryDsl};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

pub const DEMO_KEY: &str = "demo-key-jakarta";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs each named `async fn name(app: TestApp)` once per backend, as `name::sqlite` and `name::postgres`.
#[macro_export]
macro_rules! both_backends {
    // Tests that start a server of their own (`spawn_app_tuned`) take only the backend.
    (backend: $($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::helpers::Backend::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name($crate::helpers::Backend::Postgres).await
            }
        }
    )*};
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::helpers::spawn_app($crate::helpers::Backend::Sqlite).await).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name($crate::helpers::spawn_app($crate::helpers::Backend::Postgres).await).await
            }
        }
    )*};
}

pub struct TestApp {
    /// e.g. http://127.0.0.1:39123
    pub address: String,
    pub backend: Backend,
    pub client: reqwest::Client,
    pub store: Store,
    pub database_url: DatabaseUrl,
    pub data_dir: PathBuf,
    _dir: tempfile::TempDir,
    pg_database: Option<String>,
    /// Delivery states a test may leave behind besides queued and sent (`expect_deliveries`).
    expected_deliveries: std::sync::Mutex<Vec<&'static str>>,
    /// The test drops the database itself: there is no outbox left to check.
    database_removed: std::sync::atomic::AtomicBool,
}

/// Copies a directory tree (a city's files, to change one of them in a test).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_dir(&path, &target);
        } else {
            std::fs::copy(&path, &target).unwrap();
        }
    }
}

pub fn repo_path(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// A server with the demo city imported.
pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, &[repo_path("examples/demo-city")]).await
}

pub async fn spawn_app_with(backend: Backend, imports: &[PathBuf]) -> TestApp {
    spawn_app_tuned(backend, imports, |_| {}).await
}

/// A test server with settings of its own (`tune` runs after the test suite's defaults).
pub async fn spawn_app_tuned(
    backend: Backend,
    imports: &[PathBuf],
    tune: impl FnOnce(&mut Settings),
) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let (database_url, pg_database) = match backend {
        Backend::Sqlite => (DatabaseUrl::Sqlite(dir.path().join("civic311.db")), None),
        Backend::Postgres => {
            let (url, name) = tokio::task::spawn_blocking(fresh_pg_database)
                .await
                .unwrap();
            (url, Some(name))
        }
    };
    let data_dir = dir.path().join("data");
    let mut settings = Settings::new(database_url.clone(), data_dir.clone());
    settings.workers = Some(2);
    settings.max_photo_bytes = 256 * 1024;
    settings.max_photos = 3;
    // The suite posts with the demo city's published keys.
    settings.demo = true;
    // Many tests post from one address within a second; the limits have tests of their own.
    settings.limits = civic311::limits::LimitArgs::off();
    tune(&mut settings);
    let app = Application::build(settings)
        .await
        .expect("the server starts");
    let store = app.state().store.clone();
    for d in imports {
        let (s, d) = (store.clone(), d.clone());
        tokio::task::spawn_blocking(move || civic311::import::import_dir(&s, &d))
            .await
            .unwrap()
            .expect("import");
    }
    let address = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    TestApp {
        address,
        backend,
        client,
        store,
        database_url,
        data_dir,
        _dir: dir,
        pg_database,
        expected_deliveries: std::sync::Mutex::new(vec!["queued", "sent"]),
        database_removed: Default::default(),
    }
}

/// The PostgreSQL server of the tests, without TLS: on loopback it protects nothing, and libpq's TLS state
/// can crash a test process that exits while another thread still closes a connection ("double free").
pub fn admin_url() -> String {
    let url = std::env::var("CIVIC311_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    no_tls(&url)
}

fn no_tls(url: &str) -> String {
    if url.contains("sslmode=") {
        url.to_string()
    } else if url.contains('?') {
        format!("{url}&sslmode=disable")
    } else {
        format!("{url}?sslmode=disable")
    }
}

/// The same server and options, another database.
fn with_database(url: &str, db: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let base = match base.rfind('/') {
        Some(i) if i > base.find("://").map_or(0, |p| p + 2) => format!("{}/{db}", &base[..i]),
        _ => format!("{base}/{db}"),
    };
    match query {
        Some(q) => format!("{base}?{q}"),
        None => base,
    }
}

/// A new database cloned from a template that holds the current migrations. The template is made once per
/// migration set, under an advisory lock, and renamed into place only when complete, so concurrent test
/// processes never clone a half-migrated one.
fn fresh_pg_database() -> (DatabaseUrl, String) {
    let admin = admin_url();
    let mut conn = PgConnection::establish(&admin).unwrap_or_else(|e| {
        panic!("PostgreSQL must be reachable at {admin} (set CIVIC311_TEST_DATABASE_URL): {e}")
    });
    let template = format!("civic311_tpl_{}", &migrations_hash()[..12]);
    conn.batch_execute("SELECT pg_advisory_lock(3110312)")
        .unwrap();
    let exists = diesel::sql_query(format!(
        "SELECT 1 AS one FROM pg_database WHERE datname = '{template}'"
    ))
    .execute(&mut conn)
    .unwrap()
        == 1;
    if !exists {
        let tmp = format!("{template}_tmp");
        conn.batch_execute(&format!("DROP DATABASE IF EXISTS {tmp} WITH (FORCE)"))
            .unwrap();
        conn.batch_execute(&format!("CREATE DATABASE {tmp}"))
            .unwrap();
        civic311::store::migrate::run(&DatabaseUrl::Postgres(with_database(&admin, &tmp))).unwrap();
        conn.batch_execute(&format!("ALTER DATABASE {tmp} RENAME TO {template}"))
            .unwrap();
    }
    conn.batch_execute("SELECT pg_advisory_unlock(3110312)")
        .unwrap();
    let name = format!("t_{}", civic311::auth::random_id(16).to_ascii_lowercase());
    conn.batch_execute(&format!("CREATE DATABASE {name} TEMPLATE {template}"))
        .unwrap();
    (DatabaseUrl::Postgres(with_database(&admin, &name)), name)
}

fn migrations_hash() -> String {
    let mut files: Vec<PathBuf> = Vec::new();
    let mut stack = vec![repo_path("migrations/postgres")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p)
            } else {
                files.push(p)
            }
        }
    }
    files.sort();
    let mut h = Sha256::new();
    for f in files {
        h.update(f.to_string_lossy().as_bytes());
        h.update(std::fs::read(f).unwrap());
    }
    hex::encode(h.finalize())
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let stray = if std::thread::panicking()
            || self
                .database_removed
                .load(std::sync::atomic::Ordering::Relaxed)
        {
            Ok(Vec::new())
        } else {
            self.stray_deliveries()
        };
        if let Some(name) = &self.pg_database {
            if let Ok(mut conn) = PgConnection::establish(&admin_url()) {
                let _ = conn.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
            }
        }
        // After the database is gone, so that a failing check does not leave it behind.
        let stray = stray.expect("the outbox can be read at the end of the test");
        assert!(
            stray.is_empty(),
            "deliveries left in states the test did not expect: {stray:?}"
        );
    }
}

impl TestApp {
    /// Every test ends with the outbox in states it expected. Queued is always expected (most tests run no
    /// worker) and so is sent; a delivery left claimed (`sending`), retrying, failed or cancelled where the
    /// test did not say so (`expect_deliveries`) is a lost or stuck e-mail.
    fn stray_deliveries(&self) -> Result<Vec<String>, civic311::store::StoreError> {
        let expected = self
            .expected_deliveries
            .lock()
            .map(|e| e.clone())
            .unwrap_or_default();
        let read = || {
            self.store.read_blocking(|conn| {
                civic311::store::deliveries::in_states(
                    conn,
                    &["queued", "sending", "retrying", "failed", "sent"],
                    100_000,
                )
            })
        };
        // A test that restarted the database leaves a pooled connection that learns it only now.
        let rows = read().or_else(|_| read())?;
        // A delivery cancelled because its report was hidden is failed, with a reason saying so.
        fn state(d: &civic311::store::deliveries::DeliveryRow) -> &str {
            if d.state == "failed"
                && d.last_error
                    .as_deref()
                    .is_some_and(|e| e.starts_with("cancelled"))
            {
                "cancelled"
            } else {
                d.state.as_str()
            }
        }
        Ok(rows
            .iter()
            .filter(|d| !expected.contains(&state(d)))
            .map(|d| {
                format!(
                    "{} to {} ({}; expected {expected:?})",
                    state(d),
                    d.recipient,
                    d.last_error.clone().unwrap_or_default()
                )
            })
            .collect())
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    pub async fn get_json(&self, path: &str) -> Value {
        let resp = self.get(path).await;
        let status = resp.status();
        let text = resp.text().await.unwrap();
        assert_eq!(status, 200, "GET {path} on {:?}: {text}", self.backend);
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("GET {path}: not JSON ({e}): {text}"))
    }

    pub async fn get_xml(&self, path: &str) -> String {
        let resp = self.get(path).await;
        let status = resp.status();
        let text = resp.text().await.unwrap();
        assert_eq!(status, 200, "GET {path} on {:?}: {text}", self.backend);
        text
    }

    pub async fn post_form(&self, fmt: &str, form: &[(&str, &str)]) -> reqwest::Response {
        self.client
            .post(self.url(&format!("/open311/v2/requests.{fmt}")))
            .form(form)
            .send()
            .await
            .unwrap()
    }

    /// Posts a valid flood report (`flood(extra)`); returns its id.
    pub async fn post_flood(&self, extra: &[(&str, &str)]) -> String {
        let resp = self.post_form("json", &flood(extra)).await;
        let status = resp.status();
        let body: Value = resp.json().await.unwrap();
        assert_eq!(status, 200, "{body}");
        body[0]["service_request_id"]
            .as_str()
            .expect("an id")
            .to_string()
    }

    /// Runs SQL against this app's database directly (to inspect what was stored, or to age rows).
    pub async fn sql(&self, sql: &str) {
        let sql = sql.to_string();
        self.store
            .write(move |conn| -> Result<_, civic311::store::StoreError> {
                conn.batch_execute(&sql)?;
                Ok(())
            })
            .await
            .unwrap();
    }
}

/// Every public GET route of the route table (`/health` aside), in each of its formats, with its path
/// parameters replaced by `values` (`("{service_code}", "FLOOD")`, …). A route with a parameter that
/// `values` does not name fails the test, so that a new public route cannot be left out of the tests that
/// walk them all.
pub fn public_get_paths(values: &[(&str, &str)]) -> Vec<String> {
    let mut paths = Vec::new();
    for route in civic311::http::ROUTES {
        if route.path.starts_with("/staff/")
            || route.path == "/health"
            || !route.methods.iter().any(|(m, _)| *m == "GET")
        {
            continue;
        }
        let formats: &[&str] = if route.path.contains("{format}") {
            &["json", "xml"]
        } else {
            &[""]
        };
        for format in formats {
            let mut path = route.path.replace("{format}", format);
            for (param, value) in values {
                path = path.replace(param, value);
            }
            assert!(
                !path.contains('{'),
                "a public route these tests do not know: {}",
                route.path
            );
            paths.push(path);
        }
    }
    paths
}

/// `base` with `extra` added; a name in `extra` replaces that name's value in `base`.
fn form<'a>(base: &[(&'a str, &'a str)], extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut out: Vec<_> = base
        .iter()
        .filter(|(k, _)| !extra.iter().any(|(e, _)| e == k))
        .copied()
        .collect();
    out.extend_from_slice(extra);
    out
}

/// A complete flood report with the demo key, plus `extra` fields.
pub fn flood<'a>(extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let base = [
        ("api_key", DEMO_KEY),
        ("service_code", "FLOOD"),
        ("lat", "-6.1754"),
        ("long", "106.8272"),
        ("attribute[DEPTH]", "45"),
        ("attribute[PASSABLE]", "large"),
    ];
    form(&base, extra)
}

/// A complete street-light report with the demo key, plus `extra` fields.
pub fn light<'a>(extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let base = [
        ("api_key", DEMO_KEY),
        ("service_code", "LIGHT"),
        ("address_string", "Jl. Cikini Raya 73"),
        ("attribute[STATE]", "dark"),
    ];
    form(&base, extra)
}

/// `(code, description)` of each `errors/error` of an XML errors document.
pub fn xml_errors(text: &str) -> Vec<(i64, String)> {
    let doc = roxmltree::Document::parse(text).unwrap_or_else(|e| panic!("not XML ({e}): {text}"));
    assert_eq!(doc.root_element().tag_name().name(), "errors", "{text}");
    doc.root_element()
        .children()
        .filter(|n| n.has_tag_name("error"))
        .map(|e| {
            let child = |name: &str| {
                e.children()
                    .find(|c| c.has_tag_name(name))
                    .and_then(|c| c.text())
                    .unwrap_or("")
                    .to_string()
            };
            (child("code").parse().unwrap(), child("description"))
        })
        .collect()
}

/// `(code, description)` of each entry of a JSON errors array; the code must be an integer.
pub fn json_errors(v: &Value) -> Vec<(i64, String)> {
    v.as_array()
        .unwrap_or_else(|| panic!("errors must be an array: {v}"))
        .iter()
        .map(|e| {
            (
                e["code"]
                    .as_i64()
                    .unwrap_or_else(|| panic!("integer code: {e}")),
                e["description"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// The text of every child element of `node`, by name.
pub fn xml_fields(node: roxmltree::Node) -> std::collections::BTreeMap<String, Option<String>> {
    node.children()
        .filter(|c| c.is_element())
        .map(|c| {
            (
                c.tag_name().name().to_string(),
                c.text().map(str::to_string),
            )
        })
        .collect()
}

/// A 1×1 JPEG with EXIF GPS data and a comment naming the photographer.
pub fn jpeg_with_gps() -> Vec<u8> {
    let mut v = vec![0xFF, 0xD8];
    let app1 = b"Exif\0\0MM\0*GPSLatitude-6.2088;GPSLongitude106.8456";
    v.extend([0xFF, 0xE1, 0, (app1.len() + 2) as u8]);
    v.extend_from_slice(app1);
    let com = b"photo by Siti Rahma";
    v.extend([0xFF, 0xFE, 0, (com.len() + 2) as u8]);
    v.extend_from_slice(com);
    v.extend([0xFF, 0xC0, 0, 11, 8, 0, 1, 0, 1, 1, 1, 0x11, 0]);
    v.extend([
        0xFF, 0xDA, 0, 8, 1, 1, 0, 0, 0x3F, 0, 0x12, 0x34, 0xFF, 0xD9,
    ]);
    v
}

/// A minimal valid PNG (1×1, no metadata beyond a tEXt chunk naming the author).
pub fn png_with_text() -> Vec<u8> {
    fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
        out.extend((data.len() as u32).to_be_bytes());
        let mut crc_input = kind.to_vec();
        crc_input.extend_from_slice(data);
        out.extend_from_slice(&crc_input);
        out.extend(crc32(&crc_input).to_be_bytes());
    }
    let mut v = b"\x89PNG\r\n\x1a\n".to_vec();
    chunk(&mut v, b"IHDR", &[0, 0, 0, 1, 0, 0, 0, 1, 8, 0, 0, 0, 0]);
    chunk(&mut v, b"tEXt", b"Author\0Siti Rahma");
    chunk(
        &mut v,
        b"IDAT",
        &[0x78, 0x9c, 0x63, 0x60, 0x00, 0x00, 0x00, 0x02, 0x00, 0x01],
    );
    chunk(&mut v, b"IEND", &[]);
    v
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for b in data {
        crc ^= u32::from(*b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// Mail settings for a worker of the test suite: short timeouts and leases.
pub fn mail_args(smtp_url: &str) -> civic311::config::MailArgs {
    civic311::config::MailArgs {
        smtp_url: Some(civic311::config::Secret(smtp_url.to_string())),
        mail_from: "civic311 test <noreply@city.example>".into(),
        mail_dir: None,
        smtp_timeout_secs: 2,
        delivery_max_age_hours: 24.0,
        delivery_backoff_secs: 60,
        delivery_lease_secs: 30,
        delivery_poll_ms: 50,
    }
}

impl TestApp {
    /// A delivery worker sending to `smtp_url` (see `mail_args`, changed by `tweak`).
    pub fn worker(
        &self,
        smtp_url: &str,
        tweak: impl FnOnce(&mut civic311::config::MailArgs),
    ) -> civic311::outbox::worker::Worker {
        let mut mail = mail_args(smtp_url);
        tweak(&mut mail);
        civic311::cli::make_worker(self.store.clone(), &mail, &self.address)
            .unwrap()
            .unwrap()
    }

    /// Delivery states this test may leave behind besides queued and sent (checked when the app is dropped):
    /// `sending`, `retrying`, `failed`, or `cancelled` (failed because its report was hidden).
    pub fn expect_deliveries(&self, states: &[&'static str]) {
        if let Ok(mut e) = self.expected_deliveries.lock() {
            e.extend_from_slice(states);
        }
    }

    /// For a test that drops its own database: the end-of-test outbox check has nothing to read.
    pub fn expect_no_database_at_end(&self) {
        self.database_removed
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// A delivery worker that "sends" into memory, and the mailbox to read what it sent.
    pub fn memory_worker(
        &self,
    ) -> (
        civic311::outbox::worker::Worker,
        civic311::outbox::transport::MemoryMailbox,
    ) {
        let mut mail = mail_args("smtp://unused");
        mail.smtp_url = None;
        let mailbox = civic311::outbox::transport::MemoryMailbox::default();
        let worker = civic311::cli::worker_with(
            self.store.clone(),
            &mail,
            &self.address,
            civic311::outbox::transport::Mailer::memory(mailbox.clone()),
        )
        .unwrap();
        (worker, mailbox)
    }

    /// Makes every waiting delivery due now (instead of waiting for its backoff).
    pub async fn make_due(&self) {
        self.sql("UPDATE deliveries SET next_attempt_at = '2000-01-01 00:00:00' WHERE state IN ('queued', 'retrying')").await;
    }

    pub async fn deliveries(&self) -> Vec<civic311::store::deliveries::DeliveryRow> {
        self.store
            .read(|conn| {
                civic311::store::deliveries::in_states(
                    conn,
                    &["queued", "sending", "retrying", "failed", "sent"],
                    10_000,
                )
            })
            .await
            .unwrap()
    }

    /// The database URL as the command line takes it.
    pub fn database_url_arg(&self) -> String {
        match &self.database_url {
            DatabaseUrl::Sqlite(p) => format!("sqlite://{}", p.display()),
            DatabaseUrl::Postgres(u) => u.clone(),
        }
    }

    /// Runs `civic311 ARGS` on this app's database and data directory; answers its standard output, and
    /// fails the test if it fails.
    pub fn run_cli(&self, args: &[&str]) -> String {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_civic311"));
        cmd.args(args);
        self.run_for_stdout(cmd, &format!("civic311 {args:?}"))
    }

    /// Runs a command with this app's database and data directory in its environment, as an operator's
    /// shell would have them; answers its standard output, and fails the test if it fails.
    pub fn run_for_stdout(&self, mut cmd: std::process::Command, what: &str) -> String {
        let out = cmd
            .env("CIVIC311_DATABASE_URL", self.database_url_arg())
            .env("CIVIC311_DATA_DIR", &self.data_dir)
            .env("RUST_LOG", "warn")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{what}: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    }

    /// Posts a street-light report with a photo; answers its id and the stored photo's file name.
    pub async fn post_light_with_photo(&self) -> (String, String) {
        use reqwest::multipart::{Form, Part};
        let form = Form::new()
            .text("api_key", DEMO_KEY)
            .text("service_code", "LIGHT")
            .text("address_string", "Jl. Merdeka")
            .text("attribute[STATE]", "dark")
            .part(
                "media",
                Part::bytes(jpeg_with_gps())
                    .file_name("lamp.jpg")
                    .mime_str("image/jpeg")
                    .unwrap(),
            );
        let resp = self
            .client
            .post(self.url("/open311/v2/requests.json"))
            .multipart(form)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let ack: Value = resp.json().await.unwrap();
        let id = ack[0]["service_request_id"].as_str().unwrap().to_string();
        let report = self
            .get_json(&format!("/open311/v2/requests/{id}.json"))
            .await;
        let file = report[0]["media_url"]
            .as_str()
            .unwrap()
            .rsplit('/')
            .next()
            .unwrap()
            .to_string();
        (id, file)
    }

    pub async fn stored(&self, id: &str) -> civic311::store::requests::RequestRow {
        let id: i64 = id.parse().unwrap();
        self.store
            .read(move |c| civic311::store::requests::get_any(c, id))
            .await
            .unwrap()
            .unwrap()
    }

    pub async fn trace(&self, id: &str) -> civic311::routing::RoutingTrace {
        serde_json::from_str(
            self.stored(id)
                .await
                .routing_trace
                .as_deref()
                .expect("a routing trace"),
        )
        .unwrap()
    }
}

/// A reporter's contact details as POST fields, each value findable in any body: the word "canary" is in
/// none of the demo city's texts, so a public answer that holds it leaked one.
pub const CANARIES: [(&str, &str); 6] = [
    ("email", "canary.rahma@mail.example"),
    ("phone", "+62 811 0000 4242"),
    ("first_name", "Canaryfirst"),
    ("last_name", "Canarylast"),
    ("device_id", "canary-device-77"),
    ("account_id", "canary-account-77"),
];

/// The password of every staff account the tests create.
pub const PASSWORD: &str = "banjir-jakarta-2026";

/// The access token of a sign-in answer.
pub fn token(v: &Value) -> String {
    v["access_token"].as_str().unwrap().to_string()
}

impl TestApp {
    /// Creates a staff account directly, as `civic311 user create` does; in the demo jurisdiction unless it
    /// is an administrator. Answers its id.
    pub async fn staff_user(&self, name: &str, role: &str, departments: &[&str]) -> String {
        let new = civic311::app::staff::NewUser {
            username: name.to_string(),
            display_name: name.to_string(),
            role: role.to_string(),
            jurisdiction: (role != "admin").then(|| "jakarta.go.id".to_string()),
            departments: departments.iter().map(|d| d.to_string()).collect(),
        };
        let hash = civic311::app::staff::prepare_password(PASSWORD).unwrap();
        self.store
            .write(move |conn| {
                civic311::app::staff::create_user(
                    conn,
                    civic311::app::audit::Actor::Operator("test"),
                    &new,
                    &hash,
                )
            })
            .await
            .unwrap()
            .id
    }

    /// Signs in with `PASSWORD`; the answer holds the tokens.
    /// Sets a report's status through the staff API (`t`: an access token); it must answer 200.
    pub async fn set_status(&self, t: &str, id: &str, status: &str) {
        let (code, body) = self
            .call(
                "POST",
                &format!("/staff/v1/requests/{id}/status"),
                Some(t),
                Some(serde_json::json!({"status": status})),
            )
            .await;
        assert_eq!(code, 200, "{body}");
    }

    pub async fn sign_in(&self, name: &str) -> Value {
        let resp = self
            .client
            .post(self.url("/staff/v1/session"))
            .json(&serde_json::json!({"username": name, "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "sign-in of {name}");
        resp.json().await.unwrap()
    }

    /// A staff API call: its status and its JSON answer (every staff answer is JSON, errors too).
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self.client.request(method.parse().unwrap(), self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text)
                .unwrap_or_else(|_| panic!("{method} {path}: not JSON: {text}")),
        )
    }
}
