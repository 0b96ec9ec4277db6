//! Rows and queries. The only module that writes SQL; use cases in `app/` call it inside the transactions
//! they own. Everything is written once against `AnyConnection`; the few places where the dialects differ
//! say so and match on the variant.

pub mod api_keys;
pub mod catalog;
mod conn;
pub mod deliveries;
pub mod migrate;
pub mod requests;
pub mod routing;
pub mod schema;
pub mod staff;

pub use conn::{establish, AnyConnection, ConnError};

use crate::config::DatabaseUrl;
use diesel::Connection;
use std::time::Duration;

pub type Pool = r2d2::Pool<conn::Manager>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No connection could be had in time: the database is down or saturated; clients may retry.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error(transparent)]
    Query(#[from] diesel::result::Error),
    #[error("blocking task failed: {0}")]
    Join(String),
    #[error("{0}")]
    Corrupt(String),
    /// What a use case looked for is not there (for this caller): a 404.
    #[error("{0}")]
    Gone(String),
}

impl StoreError {
    /// The database is busy or gone for now (SQLite locked past busy_timeout, a closed connection): the client
    /// may retry, so this is a 503 rather than a 500.
    pub fn is_transient(&self) -> bool {
        use diesel::result::{DatabaseErrorKind, Error};
        match self {
            StoreError::Unavailable(_) => true,
            StoreError::Query(Error::DatabaseError(DatabaseErrorKind::ClosedConnection, _)) => true,
            StoreError::Query(Error::DatabaseError(_, info)) => {
                let m = info.message().to_ascii_lowercase();
                m.contains("database is locked")
                    || m.contains("database is busy")
                    || m.contains("terminating connection")
            }
            _ => false,
        }
    }
}

impl From<r2d2::Error> for StoreError {
    fn from(e: r2d2::Error) -> Self {
        StoreError::Unavailable(e.to_string())
    }
}

impl StoreError {
    pub fn is_unique_violation(&self) -> bool {
        matches!(
            self,
            StoreError::Query(diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                _
            ))
        )
    }
}

/// The database, as the rest of the program sees it: a pool for reads and a path for writes.
///
/// On SQLite all writes go through a one-connection pool: a deferred transaction that reads before it writes
/// fails at once with SQLITE_BUSY when another connection commits first, and busy_timeout cannot help it.
/// Serialising writers in-process avoids that; WAL lets readers continue meanwhile. PostgreSQL writes use the
/// read pool.
#[derive(Clone)]
pub struct Store {
    read: Pool,
    write: Option<Pool>,
}

impl Store {
    /// Connects (failing fast with the real error when the database cannot be reached) and runs migrations.
    pub fn open(url: &DatabaseUrl) -> anyhow::Result<Self> {
        migrate::run(url)?;
        let build = |size: u32| {
            r2d2::Pool::builder()
                .max_size(size)
                // No idle minimum: r2d2 refills it from a background thread, and a PostgreSQL TLS handshake
                // still running there when the process exits crashes inside libpq/OpenSSL (seen with
                // `civic311 apikey list`: a segfault in half the runs).
                .min_idle(Some(0))
                .connection_timeout(Duration::from_secs(5))
                .build(conn::Manager::new(url.clone()))
        };
        let (read, write) = match url {
            DatabaseUrl::Sqlite(_) => (build(8)?, Some(build(1)?)),
            DatabaseUrl::Postgres(_) => (build(10)?, None),
        };
        Ok(Self { read, write })
    }

    /// Runs read-only queries on a pooled connection, off the async executor.
    pub async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(&mut AnyConnection) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        let pool = self.read.clone();
        blocking(move || f(&mut *pool.get()?)).await
    }

    /// Runs `f` in one transaction on the write path; it commits (durably: see the pragmas) before this returns.
    pub async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(&mut AnyConnection) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        let pool = self.write.clone().unwrap_or_else(|| self.read.clone());
        blocking(move || {
            let mut conn = pool.get()?;
            transaction(&mut conn, f)
        })
        .await
    }

    /// Synchronous write transaction for the command-line tools.
    pub fn write_blocking<T>(
        &self,
        f: impl FnOnce(&mut AnyConnection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let pool = self.write.as_ref().unwrap_or(&self.read);
        let mut conn = pool.get()?;
        transaction(&mut conn, f)
    }

    /// Synchronous reads for the command-line tools.
    pub fn read_blocking<T>(
        &self,
        f: impl FnOnce(&mut AnyConnection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        f(&mut *self.read.get()?)
    }
}

/// Whether the database answers (the health check).
pub fn ping(conn: &mut AnyConnection) -> Result<(), StoreError> {
    use diesel::connection::SimpleConnection;
    Ok(conn.batch_execute("SELECT 1")?)
}

/// One write transaction. On SQLite it begins IMMEDIATE: it takes the write lock first (waiting up to
/// busy_timeout), because a deferred transaction that reads before it writes fails at once with SQLITE_BUSY
/// when another process (an import, a `civic311 worker`) commits in between. The write functions of this
/// module never open nested transactions, so managing BEGIN/COMMIT here by hand is safe; on PostgreSQL it is an
/// ordinary diesel transaction.
fn transaction<T>(
    conn: &mut AnyConnection,
    f: impl FnOnce(&mut AnyConnection) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    use diesel::connection::SimpleConnection;
    if !matches!(conn, AnyConnection::Sqlite(_)) {
        return conn.transaction(f);
    }
    conn.batch_execute("BEGIN IMMEDIATE")?;
    match f(conn) {
        Ok(value) => match conn.batch_execute("COMMIT") {
            Ok(()) => Ok(value),
            Err(e) => {
                let _ = conn.batch_execute("ROLLBACK");
                Err(e.into())
            }
        },
        Err(e) => {
            let _ = conn.batch_execute("ROLLBACK");
            Err(e)
        }
    }
}

async fn blocking<T, F>(f: F) -> Result<T, StoreError>
where
    F: FnOnce() -> Result<T, StoreError> + Send + 'static,
    T: Send + 'static,
{
    let span = tracing::Span::current();
    tokio::task::spawn_blocking(move || span.in_scope(f))
        .await
        .map_err(|e| StoreError::Join(e.to_string()))?
}
