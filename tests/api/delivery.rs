//! E-mail to departments that is never lost (issue #3), against a real SMTP server on loopback: SMTP down while
//! reports arrive, 451, 550 and the fallback address, a stalled server, a delivery too old, a worker killed
//! mid-queue, and two workers sharing one PostgreSQL database.

use crate::both_backends;
use crate::helpers::*;
use crate::smtp::{Behaviour, SmtpServer};
use civic311::outbox::worker::Outcome;
use std::collections::{HashMap, HashSet};
use std::time::Duration;

both_backends!(
    smtp_down_while_reports_arrive_then_every_email_arrives,
    temporary_failure_451_is_retried_with_backoff_and_delivered,
    permanent_550_fails_at_once_and_the_fallback_receives_it,
    a_stalled_server_times_out_and_the_delivery_is_retried,
    a_delivery_failing_past_its_age_goes_to_the_fallback,
    the_email_is_useful_to_a_field_crew_and_private_where_it_should_be,
    a_worker_killed_mid_queue_loses_nothing,
    operators_list_and_retry_deliveries,
    posting_opens_no_smtp_connection,
    the_memory_transport_receives_what_smtp_would,
    the_mail_directory_holds_one_file_per_email,
);

async fn flood_at_monas(app: &TestApp, extra: &[(&str, &str)]) -> i64 {
    app.post_flood(extra).await.parse().unwrap()
}

const JAKPUS: &str = "sda.jakpus@sda.jakarta.example";
const SDA: &str = "pengaduan@sda.jakarta.example";

async fn smtp_down_while_reports_arrive_then_every_email_arrives(app: TestApp) {
    let port = SmtpServer::refusing_port().await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(flood_at_monas(&app, &[]).await);
    }
    let worker = app.worker(&format!("smtp://127.0.0.1:{port}"), |_| {});
    assert_eq!(worker.drain().await.unwrap(), vec![Outcome::Retrying; 3]);
    let waiting = app.deliveries().await;
    assert!(
        waiting
            .iter()
            .all(|d| d.state == "retrying" && d.attempts == 1 && d.last_error.is_some()),
        "{waiting:?}"
    );

    let smtp = SmtpServer::start_on(port).await;
    app.make_due().await;
    assert_eq!(worker.drain().await.unwrap(), vec![Outcome::Sent; 3]);
    let got = smtp.received();
    assert_eq!(got.len(), 3);
    let stored: HashMap<String, i64> = app
        .deliveries()
        .await
        .into_iter()
        .map(|d| (d.message_id, d.request_id))
        .collect();
    for m in &got {
        assert_eq!(m.recipients, [JAKPUS]);
        let id = m.header("Message-ID").unwrap();
        assert!(stored.contains_key(&id), "{id} in {stored:?}");
    }
    assert!(app
        .deliveries()
        .await
        .iter()
        .all(|d| d.state == "sent" && d.sent_at.is_some()));
}

async fn temporary_failure_451_is_retried_with_backoff_and_delivered(app: TestApp) {
    let smtp = SmtpServer::start().await;
    smtp.script(JAKPUS, &[Behaviour::TempFail]);
    let id = flood_at_monas(&app, &[]).await;
    let worker = app.worker(&smtp.url(), |_| {});
    assert_eq!(worker.deliver_next().await.unwrap(), Outcome::Retrying);
    let d = app.deliveries().await.pop().unwrap();
    assert_eq!((d.state.as_str(), d.attempts), ("retrying", 1));
    assert!(
        d.last_error.as_deref().unwrap().contains("451"),
        "{:?}",
        d.last_error
    );
    let wait = (d.next_attempt_at - d.updated_at).num_seconds();
    assert!(
        (48..=72).contains(&wait),
        "first retry after about a minute, got {wait} s"
    );
    assert_eq!(
        worker.deliver_next().await.unwrap(),
        Outcome::Empty,
        "not due before its backoff"
    );
    app.make_due().await;
    assert_eq!(worker.deliver_next().await.unwrap(), Outcome::Sent);
    let got = smtp.received();
    assert_eq!(got.len(), 1);
    assert!(got[0]
        .header("Subject")
        .unwrap()
        .contains(&format!("#{id}")));
    let d = app.deliveries().await.pop().unwrap();
    assert_eq!((d.state.as_str(), d.attempts), ("sent", 2));
}

async fn permanent_550_fails_at_once_and_the_fallback_receives_it(app: TestApp) {
    app.expect_deliveries(&["failed"]);
    let smtp = SmtpServer::start().await;
    smtp.script(JAKPUS, &[Behaviour::PermFail]);
    let id = flood_at_monas(&app, &[]).await;
    let worker = app.worker(&smtp.url(), |_| {});
    assert_eq!(
        worker.drain().await.unwrap(),
        vec![Outcome::Failed, Outcome::Sent]
    );
    let rows = app.deliveries().await;
    let failed = rows.iter().find(|d| d.recipient == JAKPUS).unwrap();
    assert_eq!((failed.state.as_str(), failed.attempts), ("failed", 1));
    assert!(failed.last_error.as_deref().unwrap().contains("550"));
    let fallback = rows.iter().find(|d| d.recipient == SDA).unwrap();
    assert!(fallback.is_fallback && fallback.state == "sent");
    let got = smtp.received();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].recipients, [SDA]);
    assert!(got[0].body().contains("fallback address"));
    let events = app
        .store
        .read(move |c| civic311::store::deliveries::events_of(c, id))
        .await
        .unwrap();
    assert!(events
        .iter()
        .any(|e| e.action == "fallback" && e.detail.as_deref().unwrap().contains(JAKPUS)));
}

async fn a_stalled_server_times_out_and_the_delivery_is_retried(app: TestApp) {
    let smtp = SmtpServer::start().await;
    smtp.script(JAKPUS, &[Behaviour::Stall]);
    flood_at_monas(&app, &[]).await;
    let worker = app.worker(&smtp.url(), |m| m.smtp_timeout_secs = 1);
    let started = std::time::Instant::now();
    assert_eq!(worker.deliver_next().await.unwrap(), Outcome::Retrying);
    assert!(started.elapsed() < Duration::from_secs(10));
    app.make_due().await;
    // A fresh worker: the stalled connection is not reused.
    let worker = app.worker(&smtp.url(), |m| m.smtp_timeout_secs = 1);
    assert_eq!(worker.drain().await.unwrap(), vec![Outcome::Sent]);
    assert_eq!(smtp.received().len(), 1);
}

async fn a_delivery_failing_past_its_age_goes_to_the_fallback(app: TestApp) {
    app.expect_deliveries(&["failed"]);
    let smtp = SmtpServer::start().await;
    smtp.script(JAKPUS, &[Behaviour::TempFail, Behaviour::TempFail]);
    flood_at_monas(&app, &[]).await;
    let worker = app.worker(&smtp.url(), |_| {});
    assert_eq!(worker.deliver_next().await.unwrap(), Outcome::Retrying);
    // A day later it still fails: it is given up and the fallback gets the report.
    app.sql("UPDATE deliveries SET created_at = '2000-01-01 00:00:00'")
        .await;
    app.make_due().await;
    assert_eq!(
        worker.drain().await.unwrap(),
        vec![Outcome::Failed, Outcome::Sent]
    );
    let rows = app.deliveries().await;
    let failed = rows.iter().find(|d| d.recipient == JAKPUS).unwrap();
    assert!(
        failed.state == "failed" && failed.last_error.as_deref().unwrap().contains("given up"),
        "{failed:?}"
    );
    assert_eq!(smtp.received()[0].recipients, [SDA]);
}

async fn the_email_is_useful_to_a_field_crew_and_private_where_it_should_be(app: TestApp) {
    let smtp = SmtpServer::start().await;
    let id = flood_at_monas(
        &app,
        &[
            ("attribute[HAZARDS][]", "sewage"),
            ("attribute[HAZARDS][]", "electric"),
            ("attribute[LANDMARK]", "Monas east gate"),
            (
                "description",
                "Air setinggi lutut.\r\nSubject: injected\r\nBcc: x@evil.example",
            ),
            ("address_string", "Jl. Medan Merdeka Timur"),
            ("first_name", "Siti"),
            ("email", "siti@mail.example"),
            ("phone", "+62 812 0000 1111"),
        ],
    )
    .await;
    let light = app
        .post_form(
            "json",
            &light(&[("email", "budi@mail.example"), ("first_name", "Budi")]),
        )
        .await;
    assert_eq!(light.status(), 200);
    app.worker(&smtp.url(), |_| {}).drain().await.unwrap();
    let got = smtp.received();
    let flood = got.iter().find(|m| m.recipients == [JAKPUS]).unwrap();
    let subject = flood.header("Subject").unwrap();
    assert!(
        subject.contains(&format!("#{id}")) && subject.contains("Flooded street"),
        "{subject}"
    );
    assert_eq!(
        flood.header("Bcc"),
        None,
        "citizen text never becomes a header"
    );
    let body = flood.body();
    for needle in [
        format!("Reference:  {id}"),
        "Service:    Flooded street (FLOOD)".to_string(),
        "Address:    Jl. Medan Merdeka Timur".to_string(),
        "Location:   -6.175400, 106.827200".to_string(),
        "https://www.openstreetmap.org/?mlat=-6.175400&mlon=106.827200".to_string(),
        "Water depth: 45 cm".to_string(),
        "Passable by: Only trucks and buses".to_string(),
        "Hazards: Sewage, Electric cables in the water".to_string(),
        "Nearest landmark: Monas east gate".to_string(),
        "Air setinggi lutut.".to_string(),
        "Siti, siti@mail.example, +62 812 0000 1111".to_string(),
        "+07:00".to_string(),
        format!("/open311/v2/requests/{id}.json"),
    ] {
        assert!(body.contains(&needle), "missing {needle:?} in\n{body}");
    }
    let light = got
        .iter()
        .find(|m| m.recipients == ["pju@binamarga.jakarta.example"])
        .unwrap();
    let body = light.body();
    assert!(
        !body.contains("budi@mail.example") && !body.contains("Budi"),
        "LIGHT does not share contact details:\n{body}"
    );
    // The Message-ID is the one stored at enqueue.
    let stored: HashSet<String> = app
        .deliveries()
        .await
        .into_iter()
        .map(|d| d.message_id)
        .collect();
    assert!(got
        .iter()
        .all(|m| stored.contains(&m.header("Message-ID").unwrap())));
}

async fn a_worker_killed_mid_queue_loses_nothing(app: TestApp) {
    let smtp = SmtpServer::start().await;
    smtp.set_data_delay(Duration::from_millis(250));
    for _ in 0..8 {
        flood_at_monas(&app, &[]).await;
    }
    let url = match &app.database_url {
        civic311::config::DatabaseUrl::Sqlite(p) => format!("sqlite://{}", p.display()),
        civic311::config::DatabaseUrl::Postgres(u) => u.clone(),
    };
    let spawn = |once: bool| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_civic311"));
        cmd.arg("worker")
            .env("CIVIC311_DATABASE_URL", &url)
            .env("CIVIC311_SMTP_URL", smtp.url())
            .env("CIVIC311_DELIVERY_LEASE_SECS", "2")
            .env("CIVIC311_DELIVERY_POLL_MS", "50")
            .env("RUST_LOG", "warn");
        if once {
            cmd.arg("--once");
        }
        cmd.stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    let mut first = spawn(false);
    // Let it send a few, then kill it without warning, most likely in the middle of a send.
    for _ in 0..100 {
        if smtp.received().len() >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(120)).await;
    first.kill().unwrap();
    first.wait().unwrap();
    let before = smtp.received().len();
    assert!(
        (1..8).contains(&before),
        "killed mid-queue: {before} of 8 sent"
    );
    // Past the lease, a new worker takes over whatever the dead one held.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let mut second = spawn(true);
    let status = tokio::task::spawn_blocking(move || second.wait().unwrap())
        .await
        .unwrap();
    assert!(status.success());
    let rows = app.deliveries().await;
    assert!(rows.iter().all(|d| d.state == "sent"), "{rows:?}");
    let mut by_id: HashMap<String, usize> = HashMap::new();
    for m in smtp.received() {
        *by_id.entry(m.header("Message-ID").unwrap()).or_default() += 1;
    }
    let stored: HashSet<String> = rows.iter().map(|d| d.message_id.clone()).collect();
    assert_eq!(
        by_id.keys().cloned().collect::<HashSet<_>>(),
        stored,
        "every delivery arrived; duplicates share a Message-ID"
    );
}

async fn operators_list_and_retry_deliveries(app: TestApp) {
    let smtp = SmtpServer::start().await;
    smtp.script(JAKPUS, &[Behaviour::PermFail]);
    smtp.script(SDA, &[Behaviour::PermFail]);
    let id = flood_at_monas(&app, &[]).await;
    app.worker(&smtp.url(), |_| {}).drain().await.unwrap();
    let url = match &app.database_url {
        civic311::config::DatabaseUrl::Sqlite(p) => format!("sqlite://{}", p.display()),
        civic311::config::DatabaseUrl::Postgres(u) => u.clone(),
    };
    let run = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_civic311"))
            .args(args)
            .env("CIVIC311_DATABASE_URL", &url)
            .env("RUST_LOG", "warn")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let listing = run(&["deliveries"]);
    assert_eq!(listing.matches("failed").count(), 2, "{listing}");
    assert!(
        listing.contains("550") && listing.contains("(fallback)"),
        "{listing}"
    );
    let shown = run(&["request", &id.to_string()]);
    assert!(
        shown.contains("rule flood-jakpus")
            && shown.contains("kelurahan Gambir")
            && shown.contains("fallback"),
        "{shown}"
    );
    assert!(run(&["deliveries", "--retry-failed"]).contains("2 deliveries"));
    app.worker(&smtp.url(), |_| {}).drain().await.unwrap();
    assert!(app.deliveries().await.iter().all(|d| d.state == "sent"));
    assert!(run(&["deliveries"]).contains("no pending"));
}

/// Two workers draining one PostgreSQL queue at the same time never send an e-mail twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_workers_on_postgres_send_each_email_once() {
    let app = spawn_app(Backend::Postgres).await;
    let smtp = SmtpServer::start().await;
    smtp.set_data_delay(Duration::from_millis(20));
    for _ in 0..20 {
        flood_at_monas(&app, &[]).await;
    }
    let (a, b) = (
        app.worker(&smtp.url(), |_| {}),
        app.worker(&smtp.url(), |_| {}),
    );
    let (ra, rb) = tokio::join!(a.drain(), b.drain());
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    assert_eq!(ra.len() + rb.len(), 20);
    assert!(
        !ra.is_empty() && !rb.is_empty(),
        "both workers took part: {} / {}",
        ra.len(),
        rb.len()
    );
    let ids: Vec<String> = smtp
        .received()
        .iter()
        .map(|m| m.header("Message-ID").unwrap())
        .collect();
    assert_eq!(ids.len(), 20);
    assert_eq!(
        ids.iter().collect::<HashSet<_>>().len(),
        20,
        "no e-mail sent twice"
    );
}

/// The POST path opens no SMTP connection: reports are accepted whatever the mail server does.
async fn posting_opens_no_smtp_connection(app: TestApp) {
    let smtp = SmtpServer::start().await;
    for _ in 0..3 {
        flood_at_monas(&app, &[]).await;
    }
    assert_eq!(smtp.connections(), 0);
    assert_eq!(app.deliveries().await.len(), 3);
}

/// The transport of the test suite and of local runs without a mail server: what the worker hands it is the
/// message SMTP would carry, and the outbox ends drained.
async fn the_memory_transport_receives_what_smtp_would(app: TestApp) {
    let ids = [
        flood_at_monas(&app, &[]).await,
        flood_at_monas(&app, &[]).await,
    ];
    let (worker, mailbox) = app.memory_worker();
    assert_eq!(worker.drain().await.unwrap(), vec![Outcome::Sent; 2]);
    let sent = mailbox.messages();
    let stored: HashMap<String, i64> = app
        .deliveries()
        .await
        .into_iter()
        .map(|d| {
            (
                format!("<{}>", d.message_id.trim_matches(['<', '>'])),
                d.request_id,
            )
        })
        .collect();
    assert_eq!(sent.len(), 2);
    let mut reported = HashSet::new();
    for m in &sent {
        assert_eq!(m.to, [JAKPUS]);
        let head = m.raw.split("\r\n\r\n").next().unwrap();
        let id = head
            .lines()
            .find_map(|l| l.strip_prefix("Message-ID: "))
            .unwrap_or_else(|| panic!("a Message-ID in {head}"));
        reported.insert(stored[id.trim()]);
    }
    assert_eq!(reported, HashSet::from(ids));
    assert!(app.deliveries().await.iter().all(|d| d.state == "sent"));
    assert_eq!(
        worker.drain().await.unwrap(),
        vec![],
        "nothing is sent twice"
    );
}

/// `CIVIC311_MAIL_DIR`: every e-mail a file of its own, readable as a message, counted as sent.
async fn the_mail_directory_holds_one_file_per_email(app: TestApp) {
    let id = flood_at_monas(&app, &[]).await;
    let dir = app.data_dir.join("mail");
    let worker = app.worker("smtp://unused", |m| {
        m.smtp_url = None;
        m.mail_dir = Some(dir.clone());
    });
    assert_eq!(worker.drain().await.unwrap(), vec![Outcome::Sent]);
    let files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    assert_eq!(files[0].extension().unwrap(), "eml");
    let text = std::fs::read_to_string(&files[0]).unwrap();
    let d = app.deliveries().await.pop().unwrap();
    assert_eq!((d.request_id, d.state.as_str()), (id, "sent"));
    let head = text.split("\r\n\r\n").next().unwrap();
    let header = |name: &str| {
        head.lines()
            .find_map(|l| l.strip_prefix(name).map(str::trim).map(str::to_string))
    };
    assert_eq!(header("To:").as_deref(), Some(JAKPUS));
    assert_eq!(
        header("Message-ID:").map(|m| m.trim_matches(['<', '>']).to_string()),
        Some(d.message_id.trim_matches(['<', '>']).to_string())
    );
}
