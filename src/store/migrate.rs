//! Two migration sets with the same names, one per dialect, picked at runtime (docs/decisions/0002).

use super::conn::{establish, AnyConnection};
use crate::config::DatabaseUrl;
use anyhow::{anyhow, Context};
use diesel::connection::SimpleConnection;
use diesel::RunQueryDsl;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

pub const SQLITE: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
pub const POSTGRES: EmbeddedMigrations = embed_migrations!("migrations/postgres");

#[derive(diesel::QueryableByName)]
struct Violation {
    #[diesel(sql_type = diesel::sql_types::Text)]
    tbl: String,
}

/// Brings the schema up to date. Safe to run at every start; on PostgreSQL also from several processes at once
/// (an advisory lock serialises them), on SQLite the file lock does.
pub fn run(url: &DatabaseUrl) -> anyhow::Result<()> {
    if let DatabaseUrl::Sqlite(path) = url {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
    }
    let mut conn = establish(url).with_context(|| format!("connecting to {url}"))?;
    match &mut conn {
        AnyConnection::Sqlite(c) => {
            // foreign_keys is a no-op inside a transaction, and migrations run in one: switch it off for the
            // harness and check the result afterwards instead.
            c.batch_execute("PRAGMA journal_mode = WAL; PRAGMA foreign_keys = OFF;")?;
            c.run_pending_migrations(SQLITE)
                .map_err(|e| anyhow!("migrating SQLite: {e}"))?;
            let violations: Vec<Violation> =
                diesel::sql_query("SELECT \"table\" AS tbl FROM pragma_foreign_key_check")
                    .load(c)?;
            if let Some(v) = violations.first() {
                anyhow::bail!(
                    "after migrating, {} row(s) break foreign keys (first in table {})",
                    violations.len(),
                    v.tbl
                );
            }
            c.batch_execute("PRAGMA foreign_keys = ON;")?;
        }
        AnyConnection::Postgres(c) => {
            // Two processes starting at once must not both migrate.
            c.batch_execute("SELECT pg_advisory_lock(3110311)")?;
            let result = c
                .run_pending_migrations(POSTGRES)
                .map(|_| ())
                .map_err(|e| anyhow!("migrating PostgreSQL: {e}"));
            c.batch_execute("SELECT pg_advisory_unlock(3110311)")?;
            result?;
        }
    }
    // The data half of the public_points migration: grid points are computed in Rust.
    let filled = super::requests::fill_public_points(&mut conn)?;
    if filled > 0 {
        tracing::info!(reports = filled, "public points stored");
    }
    Ok(())
}
