//! The `civic311` command line: serve, migrate, import and API-key management.

use crate::config::{DbArgs, Settings};
use crate::store::{api_keys, Store};
use crate::{auth, import, startup::Application};
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
        settings: Settings,
        /// Import a city directory before serving (repeatable); the same as `civic311 import DIR`.
        #[arg(long = "import", value_name = "DIR")]
        import: Vec<PathBuf>,
    },
    /// Bring the database schema up to date.
    Migrate {
        #[command(flatten)]
        db: DbArgs,
    },
    /// Load jurisdictions, services and API keys from the TOML files in DIR (see docs/IMPORT.md).
    Import {
        dir: PathBuf,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Manage application API keys.
    Apikey {
        #[command(subcommand)]
        action: KeyAction,
    },
}

#[derive(Subcommand)]
enum KeyAction {
    /// Create a key; the key is printed once, as the last line of the output.
    Create {
        name: String,
        /// production or test.
        #[arg(long, default_value = "production")]
        kind: String,
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
        Command::Serve { settings, import } => serve(settings, import).await,
        Command::Migrate { db } => {
            crate::store::migrate::run(&db.database_url)?;
            println!("migrations are up to date on {}", db.database_url);
            Ok(())
        }
        Command::Import { dir, db } => {
            let store = Store::open(&db.database_url)?;
            let s = import::import_dir(&store, &dir)?;
            println!(
                "imported {}: {} created, {} updated, {} unchanged",
                dir.display(),
                s.created,
                s.updated,
                s.unchanged
            );
            Ok(())
        }
        Command::Apikey { action } => apikey(action),
    }
}

async fn serve(settings: Settings, dirs: Vec<PathBuf>) -> anyhow::Result<()> {
    let app = Application::build(settings).await?;
    let mut test_keys = Vec::new();
    for dir in dirs {
        let store = app.state().store.clone();
        let d = dir.clone();
        let s = tokio::task::spawn_blocking(move || import::import_dir(&store, &d)).await??;
        tracing::info!(dir = %dir.display(), created = s.created, updated = s.updated, unchanged = s.unchanged, "imported");
        test_keys.extend(s.test_keys);
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
    app.run_until_stopped()
        .await
        .context("server stopped with an error")
}

fn apikey(action: KeyAction) -> anyhow::Result<()> {
    match action {
        KeyAction::Create { name, kind, db } => {
            if kind != "production" && kind != "test" {
                anyhow::bail!("--kind must be production or test");
            }
            let store = Store::open(&db.database_url)?;
            let key = auth::generate_api_key();
            let row = api_keys::ApiKeyRow {
                id: auth::random_id(16),
                name: name.clone(),
                key_hash: auth::hash_api_key(&key),
                kind,
                created_at: chrono::Utc::now().naive_utc(),
                revoked_at: None,
            };
            let id = row.id.clone();
            store
                .write_blocking(|conn| api_keys::insert(conn, &row))
                .map_err(|e| {
                    if e.is_unique_violation() {
                        anyhow::anyhow!("a key named '{name}' exists already")
                    } else {
                        e.into()
                    }
                })?;
            println!("created API key '{name}' (id {id}); it is shown only this once:");
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
            let n = store.write_blocking(|conn| {
                api_keys::revoke(conn, &id_or_name, chrono::Utc::now().naive_utc())
            })?;
            if n == 0 {
                anyhow::bail!("no active key with id or name '{id_or_name}'");
            }
            println!("revoked {n} key(s)");
            Ok(())
        }
    }
}
