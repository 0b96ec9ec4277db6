//! The `civic311` command line: serve, migrate, import and API-key management.

use crate::config::{DataArgs, DbArgs, MailArgs, Settings};
use crate::store::{api_keys, Store};
use crate::{import, operators, startup::Application};
use anyhow::Context;
use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser)]
#[command(name = "civic311", version, about = "An Open311 GeoReport v2 server")]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP server (runs migrations first).
    Serve {
        #[command(flatten)]
        settings: Box<Settings>,
        /// Import a city directory before serving (repeatable); the same as `civic311 import DIR`.
        #[arg(long = "import", value_name = "DIR")]
        import: Vec<PathBuf>,
    },
    /// Bring the database schema up to date.
    Migrate {
        #[command(flatten)]
        db: DbArgs,
    },
    /// Load a city's files from DIR: jurisdictions, services, statuses, API keys, departments, areas and
    /// routing rules (see docs/IMPORT.md).
    Import {
        dir: PathBuf,
        /// Print what would change, and how many open reports would route differently; change nothing.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Manage application API keys.
    Apikey {
        #[command(subcommand)]
        action: KeyAction,
    },
    /// Manage staff accounts (the first administrator is made here; administrators manage the rest over
    /// the staff API).
    User {
        #[command(subcommand)]
        action: UserAction,
    },
    /// Send queued department e-mail (several workers may share one PostgreSQL database).
    Worker {
        #[command(flatten)]
        db: DbArgs,
        #[command(flatten)]
        mail: MailArgs,
        /// Base URL of the public API, for links in the e-mails.
        #[arg(
            long,
            env = "CIVIC311_PUBLIC_URL",
            default_value = "http://127.0.0.1:8080"
        )]
        public_url: String,
        /// Send what is due now and exit, instead of running until stopped.
        #[arg(long)]
        once: bool,
        /// The data directory, for the retention job's photos (the worker runs it as `serve` does).
        #[arg(long, env = "CIVIC311_DATA_DIR", default_value = "civic311-data")]
        data_dir: PathBuf,
    },
    /// Remove what the jurisdictions' retention periods say is due: contact details of reports closed
    /// long enough ago, photos of hidden or rejected reports (docs/PRIVACY.md). `serve` and `worker` run
    /// it every hour.
    Retention {
        /// List what would be removed, and change nothing.
        #[arg(long, conflicts_with = "apply", required_unless_present = "apply")]
        dry_run: bool,
        /// Remove it (audited).
        #[arg(long)]
        apply: bool,
        #[command(flatten)]
        data: DataArgs,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Write the whole public dataset (the projection of the public API: coarsened points, no personal
    /// data, no held or hidden reports) as CSV or GeoJSON, for an open-data portal (docs/OPEN_DATA.md).
    Export {
        /// csv or geojson.
        #[arg(long, value_parser = ["csv", "geojson"])]
        format: String,
        /// Only reports changed at or after this W3C datetime (e.g. 2026-12-01T00:00:00+07:00).
        #[arg(long)]
        since: Option<String>,
        /// Only reports of this service (repeatable); with exactly one, CSV has its attribute columns.
        #[arg(long = "service-code")]
        service_codes: Vec<String>,
        /// With GeoJSON, add detailed_status and attributes to each feature's properties.
        #[arg(long)]
        extensions: bool,
        /// The jurisdiction (needed when the server has several).
        #[arg(long)]
        jurisdiction: Option<String>,
        /// Write here instead of standard output (replaced only once the export is complete).
        #[arg(long, short)]
        output: Option<PathBuf>,
        /// The base URL of the public API, for the photos' media_url.
        #[arg(
            long,
            env = "CIVIC311_PUBLIC_URL",
            default_value = "http://127.0.0.1:8080"
        )]
        public_url: String,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Erase a person's data from every report: their contact details, and texts that mention them or look
    /// like contact details (docs/PRIVACY.md). The reports stay as open data. Audited without the value.
    Erase {
        #[arg(long, conflicts_with = "phone", required_unless_present = "phone")]
        email: Option<String>,
        #[arg(long)]
        phone: Option<String>,
        /// Who is doing this (recorded in the audit log; default: the operating-system account).
        #[arg(long)]
        by: Option<String>,
        #[command(flatten)]
        data: DataArgs,
        #[command(flatten)]
        db: DbArgs,
    },
    /// List pending, retrying and failed deliveries (oldest first, with the reason), or retry them.
    Deliveries {
        /// Make this delivery due now (a failed one is tried again).
        #[arg(long, value_name = "DELIVERY_ID", conflicts_with = "retry_failed")]
        retry: Option<String>,
        /// Make every failed delivery due now.
        #[arg(long)]
        retry_failed: bool,
        /// Also list sent deliveries.
        #[arg(long)]
        all: bool,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Show a report as operators see it: routing trace, deliveries and history.
    Request {
        id: i64,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Send a report to another department, or route it again after the areas or rules changed.
    Reroute {
        id: i64,
        /// The department code to send it to; without it the current rules decide.
        #[arg(long)]
        to: Option<String>,
        /// Who is doing this (recorded in the report's history).
        #[arg(long)]
        by: String,
        /// Why (recorded in the report's history).
        #[arg(long)]
        why: String,
        #[command(flatten)]
        db: DbArgs,
        #[command(flatten)]
        mail: MailArgs,
    },
}

#[derive(Subcommand)]
enum UserAction {
    /// Create an account. The password is read from CIVIC311_NEW_PASSWORD or, with --password-stdin, from the
    /// first line of standard input (never from a flag: flags show in process lists).
    Create {
        username: String,
        /// admin, dispatcher, staff or intake (enters paper and phone reports, docs/INTAKE.md).
        #[arg(long, default_value = "admin")]
        role: String,
        #[arg(long)]
        display_name: Option<String>,
        /// The jurisdiction of a dispatcher, staff member or intake clerk.
        #[arg(long)]
        jurisdiction: Option<String>,
        /// A department of a staff member (repeatable).
        #[arg(long = "department")]
        departments: Vec<String>,
        #[arg(long)]
        password_stdin: bool,
        #[command(flatten)]
        db: DbArgs,
    },
}

#[derive(Subcommand)]
enum KeyAction {
    /// Create a key; the key is printed once, as the last line of the output.
    Create {
        name: String,
        /// production (an app), test (an app under test) or backoffice (a city system that also posts status
        /// updates to servicerequestupdates).
        #[arg(long, default_value = "production")]
        kind: String,
        /// For a backoffice key: the jurisdiction whose reports it may update (default: the only one).
        #[arg(long)]
        jurisdiction: Option<String>,
        /// This key's own POST rate, e.g. 1200/min or off (default: the server's CIVIC311_RATE_LIMIT_KEY).
        #[arg(long)]
        rate_limit: Option<crate::limits::RateSetting>,
        /// Do nothing (and succeed) when a key of this name exists already: for a start-up script that
        /// creates the first key once and prints it in the first start's log.
        #[arg(long)]
        unless_exists: bool,
        #[command(flatten)]
        db: DbArgs,
    },
    /// List keys (never the keys themselves).
    List {
        #[command(flatten)]
        db: DbArgs,
    },
    /// Revoke a key by id or name.
    Revoke {
        id_or_name: String,
        #[command(flatten)]
        db: DbArgs,
    },
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve { settings, import } => serve(*settings, import).await,
        Command::Migrate { db } => {
            crate::store::migrate::run(&db.database_url)?;
            println!("migrations are up to date on {}", db.database_url);
            Ok(())
        }
        Command::Import { dir, dry_run, db } => {
            let store = Store::open(&db.database_url)?;
            let s = import::import_dir_with(&store, &dir, dry_run)?;
            println!(
                "{} {}: {} created, {} updated, {} unchanged",
                if dry_run {
                    "dry run, nothing was changed; importing"
                } else {
                    "imported"
                },
                dir.display(),
                s.created,
                s.updated,
                s.unchanged
            );
            for (kind, c) in &s.kinds {
                let removed = if c.removed > 0 {
                    format!(", {} removed", c.removed)
                } else {
                    String::new()
                };
                println!(
                    "  {kind}: {} created, {} updated, {} unchanged{removed}",
                    c.created, c.updated, c.unchanged
                );
            }
            for layer in &s.layers {
                println!("  {layer}");
            }
            for (j, n) in &s.rerouted {
                println!(
                    "  {j}: {n} open report(s) would now route to another department (civic311 reroute ID moves one)"
                );
            }
            if !dry_run {
                explain_keys(&s.published_keys, &s.revoked_keys, None);
            }
            Ok(())
        }
        Command::Apikey { action } => apikey(action),
        Command::User {
            action:
                UserAction::Create {
                    username,
                    role,
                    display_name,
                    jurisdiction,
                    departments,
                    password_stdin,
                    db,
                },
        } => {
            let password = if password_stdin {
                let mut line = String::new();
                std::io::stdin().read_line(&mut line)?;
                line.trim_end_matches(['\r', '\n']).to_string()
            } else {
                std::env::var("CIVIC311_NEW_PASSWORD").map_err(|_| {
                    anyhow::anyhow!("set CIVIC311_NEW_PASSWORD or use --password-stdin")
                })?
            };
            let hash =
                crate::app::staff::prepare_password(&password).map_err(|e| anyhow::anyhow!(e))?;
            let store = Store::open(&db.database_url)?;
            let display = display_name.unwrap_or_else(|| username.clone());
            let new = crate::app::staff::NewUser {
                username,
                display_name: display,
                role,
                jurisdiction,
                departments,
            };
            let by = crate::app::audit::operator_name();
            let user = store
                .write_blocking(|conn| {
                    crate::app::staff::create_user(
                        conn,
                        crate::app::audit::Actor::Operator(&by),
                        &new,
                        &hash,
                    )
                })
                .map_err(|e| anyhow::anyhow!(e.descriptions().join("; ")))?;
            println!(
                "created {} account '{}' (id {})",
                user.role.as_str(),
                user.username,
                user.id
            );
            Ok(())
        }
        Command::Worker {
            db,
            mail,
            public_url,
            once,
            data_dir,
        } => {
            let store = Store::open(&db.database_url)?;
            if !once {
                let mut settings = Settings::new(db.database_url.clone(), data_dir);
                settings.mail = mail.clone();
                let state = crate::startup::state_for_tools(&settings)?;
                tokio::spawn(crate::app::privacy::run_retention_every(
                    state,
                    std::time::Duration::from_secs(3600),
                ));
            }
            let worker =
                make_worker(store, &mail, public_url.trim_end_matches('/'))?.ok_or_else(|| {
                    anyhow::anyhow!("civic311 worker needs CIVIC311_SMTP_URL or CIVIC311_MAIL_DIR")
                })?;
            if once {
                let outcomes = worker.drain().await?;
                println!("{} deliveries handled: {:?}", outcomes.len(), outcomes);
                return Ok(());
            }
            let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
            tokio::spawn(async move {
                let _ = tokio::signal::ctrl_c().await;
                let _ = stop_tx.send(true);
            });
            worker.run(stop_rx).await;
            Ok(())
        }
        Command::Deliveries {
            retry,
            retry_failed,
            all,
            db,
        } => operators::deliveries(&db, retry.as_deref(), retry_failed, all),
        Command::Request { id, db } => operators::show_request(&db, id),
        Command::Retention {
            dry_run: _,
            apply,
            data,
            db,
        } => {
            let settings = Settings::new(db.database_url.clone(), data.data_dir.clone());
            let state = crate::startup::state_for_tools(&settings)?;
            let now = chrono::Utc::now().naive_utc();
            let removed = crate::app::privacy::retention(&state, now, apply).await?;
            let (contacts, photos) = (removed.contacts.len(), removed.photos.len());
            for id in &removed.contacts {
                println!("request {id}: contact details");
            }
            for p in &removed.photos {
                println!("request {}: photo {}", p.request_id, p.name());
            }
            if apply {
                println!("removed: contact details of {contacts} report(s), {photos} photo(s)");
            } else {
                println!("would remove: contact details of {contacts} report(s), {photos} photo(s) (dry run: nothing changed)");
            }
            Ok(())
        }
        Command::Export {
            format,
            since,
            service_codes,
            extensions,
            jurisdiction,
            output,
            public_url,
            db,
        } => {
            let mut settings = Settings::new(db.database_url.clone(), PathBuf::from("."));
            settings.public_url = Some(public_url.trim_end_matches('/').to_string());
            let state = crate::startup::state_for_tools(&settings)?;
            crate::operators::export(
                &state,
                &format,
                crate::app::ListQuery {
                    jurisdiction_id: jurisdiction,
                    service_codes: (!service_codes.is_empty()).then_some(service_codes),
                    updated_after: since,
                    ..Default::default()
                },
                extensions,
                output.as_deref(),
            )
            .await
        }
        Command::Erase {
            email,
            phone,
            by,
            data,
            db,
        } => {
            let subject = crate::app::privacy::Subject::parse(email.as_deref(), phone.as_deref())
                .map_err(|e| anyhow::anyhow!(e.descriptions().join("; ")))?;
            // The server's own secret, never a new one: the fingerprint must be the one the server makes.
            let secret = data.existing_secret()?;
            let store = Store::open(&db.database_url)?;
            let by = by.unwrap_or_else(crate::app::audit::operator_name);
            let erased = crate::app::privacy::erase_by(
                &store,
                &data.data_dir,
                crate::app::privacy::By::Operator(by),
                subject,
                secret,
            )
            .await?;
            let ids: Vec<String> = erased.reports.iter().map(|i| i.to_string()).collect();
            println!(
                "erased from {} report(s) [{}] and {} comment(s); {} text(s) replaced; {} scan(s) of paper forms removed; audited as person {}",
                ids.len(),
                ids.join(", "),
                erased.comments,
                erased.texts_replaced,
                erased.scans_removed,
                erased.fingerprint
            );
            Ok(())
        }
        Command::Reroute {
            id,
            to,
            by,
            why,
            db,
            mail,
        } => {
            let mut settings =
                Settings::new(db.database_url.clone(), std::path::PathBuf::from("."));
            settings.mail = mail;
            let state = crate::startup::state_for_tools(&settings)?;
            let trace = crate::app::reroute(&state, id, to, &by, &why)
                .await
                .map_err(|e| anyhow::anyhow!("{}", e.descriptions().join("; ")))?;
            println!("request {id}: {}", trace.reason);
            for w in &trace.warnings {
                println!("  warning: {w}");
            }
            Ok(())
        }
    }
}

/// The delivery worker for these settings, or `None` when neither an SMTP server nor a mail directory is
/// configured.
pub fn make_worker(
    store: Store,
    mail: &MailArgs,
    public_url: &str,
) -> anyhow::Result<Option<crate::outbox::worker::Worker>> {
    use crate::outbox::transport::Mailer;
    let timeout = std::time::Duration::from_secs(mail.smtp_timeout_secs);
    let mailer = match (&mail.smtp_url, &mail.mail_dir) {
        (Some(crate::config::Secret(url)), _) => Mailer::smtp(url, timeout),
        (None, Some(dir)) => Mailer::directory(dir.clone()),
        (None, None) => return Ok(None),
    }
    .map_err(|e| anyhow::anyhow!(e))?;
    worker_with(store, mail, public_url, mailer).map(Some)
}

/// A delivery worker for these settings that hands its messages to `mailer`.
pub fn worker_with(
    store: Store,
    mail: &MailArgs,
    public_url: &str,
    mailer: crate::outbox::transport::Mailer,
) -> anyhow::Result<crate::outbox::worker::Worker> {
    use crate::outbox::worker::{Worker, WorkerConfig};
    use std::time::Duration;
    let from = mail
        .mail_from
        .parse()
        .map_err(|e| anyhow::anyhow!("CIVIC311_MAIL_FROM '{}': {e}", mail.mail_from))?;
    let cfg = WorkerConfig {
        from,
        lease: Duration::from_secs(mail.delivery_lease_secs.max(1)),
        max_age: Duration::from_secs_f64((mail.delivery_max_age_hours * 3600.0).max(0.0)),
        backoff: Duration::from_secs(mail.delivery_backoff_secs),
        poll: Duration::from_millis(mail.delivery_poll_ms.max(10)),
        send_timeout: Duration::from_secs(mail.smtp_timeout_secs.max(1)),
        public_url: public_url.to_string(),
    };
    Ok(Worker::new(store, mailer, cfg))
}

/// What an operator must know about the keys of imported files. `demo`: whether this server accepts published
/// keys (`None`: the import command, which serves nothing).
fn explain_keys(published: &[String], revoked: &[String], demo: Option<bool>) {
    for name in revoked {
        eprintln!(
            "note: key '{name}' is revoked and stays revoked; to replace it, give the new key another name"
        );
    }
    if !published.is_empty() && demo != Some(true) {
        eprintln!(
            "note: the files give these keys in plaintext, so anyone who reads them knows the keys: {}. \
             They work only on a server started with --demo (CIVIC311_DEMO=true). For real apps: \
             civic311 apikey create <name>, or key_sha256 in the files.",
            published.join(", ")
        );
    }
}

async fn serve(settings: Settings, dirs: Vec<PathBuf>) -> anyhow::Result<()> {
    let demo = settings.demo;
    let app = Application::build(settings).await?;
    let (mut test_keys, mut published, mut revoked) = (Vec::new(), Vec::new(), Vec::new());
    for dir in dirs {
        let store = app.state().store.clone();
        let d = dir.clone();
        let s = tokio::task::spawn_blocking(move || import::import_dir(&store, &d)).await??;
        tracing::info!(dir = %dir.display(), created = s.created, updated = s.updated, unchanged = s.unchanged, "imported");
        for layer in &s.layers {
            tracing::info!(%layer, "area layer");
        }
        test_keys.extend(s.test_keys);
        published.extend(s.published_keys);
        revoked.extend(s.revoked_keys);
    }
    explain_keys(&published, &revoked, Some(demo));
    if !demo {
        test_keys.clear();
    }
    tokio::spawn(crate::app::privacy::run_retention_every(
        app.state().clone(),
        std::time::Duration::from_secs(3600),
    ));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    match make_worker(app.state().store.clone(), app.mail_settings(), &app.state().public_url)? {
        Some(worker) => {
            tokio::spawn(worker.run(stop_rx));
        }
        None => tracing::warn!("neither CIVIC311_SMTP_URL nor CIVIC311_MAIL_DIR is set: department e-mail is queued but not sent (see civic311 deliveries)"),
    }
    let base = format!("{}/open311/v2", app.state().public_url);
    println!(
        "civic311 is listening on {base}  (discovery: {}/open311/discovery.json)",
        app.state().public_url
    );
    match test_keys.first() {
        Some((name, key)) => println!(
            "Post a first report with the test key '{name}':\n  curl -X POST {base}/requests.json -d api_key={key} -d service_code=FLOOD \
             -d lat=-6.1754 -d long=106.8272 -d 'attribute[DEPTH]=40' -d 'attribute[PASSABLE]=large' -d 'description=Water up to the knees'"
        ),
        None => println!("Create an API key for your app with: civic311 apikey create <name>"),
    }
    let result = app
        .run_until_stopped()
        .await
        .context("server stopped with an error");
    let _ = stop_tx.send(true);
    result
}

fn apikey(action: KeyAction) -> anyhow::Result<()> {
    match action {
        KeyAction::Create {
            name,
            kind,
            jurisdiction,
            rate_limit,
            unless_exists,
            db,
        } => {
            let Some(kind) = api_keys::ApiKeyKind::parse(&kind) else {
                anyhow::bail!("--kind must be {}", api_keys::ApiKeyKind::CHOICES);
            };
            let store = Store::open(&db.database_url)?;
            if unless_exists {
                let wanted = name.clone();
                if let Some(k) = store.read_blocking(move |c| api_keys::by_name(c, &wanted))? {
                    println!(
                        "an API key named '{name}' exists already (id {}); nothing created",
                        k.id
                    );
                    return Ok(());
                }
            }
            let request = crate::app::staff::KeyRequest {
                name: name.clone(),
                kind,
                jurisdiction_id: jurisdiction,
                rate_limit: rate_limit.map(|r| r.to_string()),
            };
            let by = crate::app::audit::operator_name();
            let (created, key) = store
                .write_blocking(|conn| {
                    crate::app::staff::create_key(
                        conn,
                        crate::app::audit::Actor::Operator(&by),
                        &request,
                    )
                })
                .map_err(|e| anyhow::anyhow!(e.descriptions().join("; ")))?;
            println!(
                "created API key '{name}' (id {}); it is shown only this once:",
                created.id
            );
            println!("{key}");
            Ok(())
        }
        KeyAction::List { db } => {
            let store = Store::open(&db.database_url)?;
            let keys = store.read_blocking(api_keys::list)?;
            println!(
                "{:<18} {:<11} {:<20} {:<20} name",
                "id", "kind", "created", "revoked"
            );
            for k in keys {
                let revoked = k
                    .revoked_at
                    .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
                    .unwrap_or_else(|| "-".into());
                println!(
                    "{:<18} {:<11} {:<20} {:<20} {}",
                    k.id,
                    k.kind,
                    k.created_at.format("%Y-%m-%d %H:%M"),
                    revoked,
                    k.name
                );
            }
            Ok(())
        }
        KeyAction::Revoke { id_or_name, db } => {
            let store = Store::open(&db.database_url)?;
            let by = crate::app::audit::operator_name();
            let (n, _) = store.write_blocking(|conn| {
                crate::app::staff::revoke_key(
                    conn,
                    crate::app::audit::Actor::Operator(&by),
                    &id_or_name,
                )
            })?;
            if n == 0 {
                anyhow::bail!("no active key with id or name '{id_or_name}'");
            }
            println!("revoked {n} key(s)");
            Ok(())
        }
    }
}
