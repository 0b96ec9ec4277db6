//! Faults an operator meets: PostgreSQL going away and coming back, a full disk, a mail server that stalls.
//! (A server killed while it acknowledges reports is in read_path.rs.) Nothing here stops a server that
//! other tests share: PostgreSQL is cut off through a TCP proxy of the test's own, and the full disk is a
//! small tmpfs mounted for the test.

use crate::both_backends;
use crate::helpers::*;
use crate::post_requests::civic311_count;
use reqwest::multipart::{Form, Part};
use serde_json::Value;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};

both_backends!(backend: a_full_disk_is_503_and_passes_without_a_restart);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_away_is_503_within_2_s_and_back_without_a_restart() {
    let proxy = Proxy::start(pg_host_port()).await;
    let port = proxy.port;
    let app = spawn_app_tuned(Backend::Postgres, &[repo_path("examples/demo-city")], |s| {
        let civic311::config::DatabaseUrl::Postgres(url) = &s.db.database_url else {
            unreachable!()
        };
        s.db.database_url = civic311::config::DatabaseUrl::Postgres(
            url.replace(&pg_host_port(), &format!("127.0.0.1:{port}")),
        );
    })
    .await;
    assert_eq!(app.post_form("json", &flood(&[])).await.status(), 200);

    proxy.cut();
    for _ in 0..3 {
        let start = Instant::now();
        let health = app.get("/health").await;
        assert_eq!(health.status(), 503);
        let posted = app.post_form("json", &flood(&[])).await;
        assert_eq!(posted.status(), 503);
        assert!(posted.headers().contains_key("retry-after"));
        assert_eq!(json_errors(&posted.json().await.unwrap())[0].0, 503);
        let listed = app.get("/open311/v2/requests.xml?status=closed").await;
        assert_eq!(listed.status(), 503);
        assert_eq!(xml_errors(&listed.text().await.unwrap())[0].0, 503);
        // Each of the three answers came within 2 s.
        assert!(
            start.elapsed() < Duration::from_secs(6),
            "{:?}",
            start.elapsed()
        );
    }

    proxy.restore();
    let deadline = Instant::now() + Duration::from_secs(15);
    while app.get("/health").await.status() != 200 {
        assert!(Instant::now() < deadline, "the server did not reconnect");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(app.post_form("json", &flood(&[])).await.status(), 200);
    assert_eq!(
        civic311_count(&app).await,
        2,
        "nothing half-written while it was away"
    );
}

/// `host:port` of the test suite's PostgreSQL.
fn pg_host_port() -> String {
    let url = admin_url();
    let after_at = url.rsplit_once('@').map_or(url.as_str(), |(_, r)| r);
    after_at.split('/').next().unwrap().to_string()
}

/// A TCP proxy the test can cut: every open connection is closed and new ones are refused until restored.
struct Proxy {
    port: u16,
    open: Arc<AtomicBool>,
    cut: tokio::sync::watch::Sender<u64>,
}

impl Proxy {
    async fn start(upstream: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let open = Arc::new(AtomicBool::new(true));
        let (cut, mut cuts) = tokio::sync::watch::channel(0u64);
        let is_open = open.clone();
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if !is_open.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                // A connection made after a cut is not cut by it.
                cuts.borrow_and_update();
                let (upstream, mut cuts) = (upstream.clone(), cuts.clone());
                tokio::spawn(async move {
                    let Ok(mut server) = TcpStream::connect(&upstream).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = cuts.changed() => {}
                    }
                });
            }
        });
        Self { port, open, cut }
    }

    fn cut(&self) {
        self.open.store(false, Ordering::SeqCst);
        self.cut.send_modify(|n| *n += 1);
    }

    fn restore(&self) {
        self.open.store(true, Ordering::SeqCst);
    }
}

/// A tmpfs of `size` mounted at a fresh directory, unmounted when dropped.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(size: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .expect("mount runs (the fault tests need root, as CI has)");
        assert!(status.success(), "mounting a tmpfs needs root");
        Self { dir }
    }

    fn path(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// Fills the disk to the last byte; returns the filler to delete.
    fn fill(&self) -> std::path::PathBuf {
        use std::io::Write;
        let filler = self.path().join("filler");
        let mut f = std::fs::File::create(&filler).unwrap();
        let block = vec![0u8; 64 * 1024];
        while f.write_all(&block).is_ok() {}
        let mut byte = [0u8; 1];
        while f.write_all(&byte).is_ok() {
            byte[0] = 1;
        }
        let _ = f.sync_all();
        filler
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

fn report_with_photo() -> Form {
    let mut form = Form::new();
    for (k, v) in light(&[]) {
        form = form.text(k, v);
    }
    form.part("media", Part::bytes(jpeg_with_gps()).file_name("p.jpg"))
}

async fn a_full_disk_is_503_and_passes_without_a_restart(backend: Backend) {
    let disk = SmallDisk::mount("48m");
    let data = disk.path().join("data");
    let db = disk.path().join("civic311.db");
    let app = spawn_app_tuned(backend, &[repo_path("examples/demo-city")], |s| {
        s.data_dir = data.clone();
        if backend == Backend::Sqlite {
            s.db.database_url = civic311::config::DatabaseUrl::Sqlite(db.clone());
        }
    })
    .await;
    let post = || async {
        app.client
            .post(app.url("/open311/v2/requests.json"))
            .multipart(report_with_photo())
            .send()
            .await
            .unwrap()
    };
    assert_eq!(post().await.status(), 200);
    let before = civic311_count(&app).await;

    let filler = disk.fill();
    for _ in 0..5 {
        let resp = post().await;
        assert_eq!(
            resp.status(),
            503,
            "a full disk is the server's trouble, for now"
        );
        assert!(resp.headers().contains_key("retry-after"));
        assert_eq!(json_errors(&resp.json().await.unwrap())[0].0, 503);
    }
    if backend == Backend::Sqlite {
        // The database file is on the full disk too: a report without a photo cannot commit either.
        let resp = app.post_form("json", &flood(&[])).await;
        assert_eq!(resp.status(), 503);
    }
    assert_eq!(civic311_count(&app).await, before, "nothing half-written");

    std::fs::remove_file(filler).unwrap();
    let resp = post().await;
    assert_eq!(resp.status(), 200, "space is back, no restart needed");
    let id = resp.json::<Value>().await.unwrap()[0]["service_request_id"]
        .as_str()
        .unwrap()
        .to_string();
    let shown = app
        .get_json(&format!("/open311/v2/requests/{id}.json"))
        .await;
    let photo = app
        .client
        .get(shown[0]["media_url"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(photo.status(), 200);
    // Every stored photo is a file, and no upload was left behind.
    let files = std::fs::read_dir(data.join("media")).unwrap().count();
    assert_eq!(files, 2);
    let spooled = std::fs::read_dir(data.join("spool")).map_or(0, |d| d.count());
    assert_eq!(spooled, 0);
    if backend == Backend::Sqlite {
        let check = app
            .store
            .read(|conn| {
                use diesel::RunQueryDsl;
                #[derive(diesel::QueryableByName)]
                struct Check {
                    #[diesel(sql_type = diesel::sql_types::Text)]
                    integrity_check: String,
                }
                let rows: Vec<Check> = diesel::sql_query("PRAGMA integrity_check").load(conn)?;
                Ok(rows
                    .into_iter()
                    .map(|r| r.integrity_check)
                    .collect::<Vec<_>>())
            })
            .await
            .unwrap();
        assert_eq!(check, ["ok"]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_mail_server_never_slows_a_post() {
    let app = spawn_app(Backend::Sqlite).await;
    // The worker is stopped while its first e-mail waits on the silent server: that one stays claimed.
    app.expect_deliveries(&["sending"]);
    // Accepts connections and never says a word.
    let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let smtp_port = silent.local_addr().unwrap().port();
    let held = Arc::new(std::sync::Mutex::new(Vec::new()));
    let keep = held.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = silent.accept().await {
            keep.lock().unwrap().push(socket);
        }
    });
    let worker = app.worker(&format!("smtp://127.0.0.1:{smtp_port}"), |m| {
        m.smtp_timeout_secs = 30;
    });
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let running = tokio::spawn(worker.run(stopped));
    // The first report's e-mail puts the worker in front of the silent server.
    assert_eq!(app.post_form("json", &flood(&[])).await.status(), 200);
    let deadline = Instant::now() + Duration::from_secs(10);
    while held.lock().unwrap().is_empty() {
        assert!(Instant::now() < deadline, "the worker did not try to send");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut slowest = Duration::ZERO;
    for _ in 0..20 {
        let start = Instant::now();
        assert_eq!(app.post_form("json", &flood(&[])).await.status(), 200);
        slowest = slowest.max(start.elapsed());
    }
    // Far above a POST's milliseconds, far below the mail server's 30 s timeout.
    assert!(slowest < Duration::from_secs(2), "{slowest:?}");
    assert!(
        !held.lock().unwrap().is_empty(),
        "the worker did try to send"
    );
    // The reports wait in the outbox for the mail server, none lost.
    let waiting = app
        .deliveries()
        .await
        .iter()
        .filter(|d| d.state != "sent")
        .count();
    assert!(waiting >= 21, "{waiting}");
    let _ = stop.send(true);
    let _ = tokio::time::timeout(Duration::from_secs(5), running).await;
}
