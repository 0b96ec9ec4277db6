//! Rows and queries. The only module that writes SQL; use cases in `app/` call it inside the transactions
//! they own. Everything is written once against `AnyConnection`; the few places where the dialects differ
//! say so and match on the variant.

pub mod api_keys;
pub mod catalog;
mod conn;
pub mod deliveries;
pub mod migrate;
pub mod new_report;
pub mod privacy;
mod readers;
pub mod requests;
pub mod routing;
pub mod schema;
pub mod staff;
pub mod stamp;
mod writer;

pub use conn::{establish, AnyConnection, ConnError};

/// Runs a query written once on the concrete connection inside `AnyConnection`. Through the multi-connection
/// wrapper diesel cannot key its statement cache by the query's type, so it writes the SQL out again for every
/// call (≈ 13 % of a single-report GET); on the concrete connection a query of static shape is looked up by
/// type. For the public read path only: everything else goes through the wrapper as usual.
macro_rules! per_backend {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            $crate::store::AnyConnection::Sqlite($c) => $body,
            $crate::store::AnyConnection::Postgres($c) => $body,
        }
    };
}
pub(crate) use per_backend;

/// Inserts the rows (a slice) of a new record's child table. SQLite: one single-row statement, prepared once
/// per connection and stepped per row, costs less than preparing a statement for N rows each time (a statement
/// with a varying number of rows is never cached). PostgreSQL: one statement for all rows, one round trip.
/// Expands to a `Result<(), StoreError>`.
macro_rules! insert_rows {
    ($conn:expr, $table:expr, $rows:expr) => {{
        let rows = $rows;
        let done: Result<(), diesel::result::Error> = match $conn {
            $crate::store::AnyConnection::Sqlite(c) => rows.iter().try_for_each(|row| {
                diesel::insert_into($table)
                    .values(row)
                    .execute(c)
                    .map(|_| ())
            }),
            $crate::store::AnyConnection::Postgres(c) if !rows.is_empty() => {
                diesel::insert_into($table)
                    .values(rows)
                    .execute(c)
                    .map(|_| ())
            }
            $crate::store::AnyConnection::Postgres(_) => Ok(()),
        };
        done.map_err($crate::store::StoreError::from)
    }};
}
pub(crate) use insert_rows;

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
    /// The caller's own error ended a write transaction, which rolled back; `Store::write` hands the error
    /// itself back, so this never leaves the store.
    #[error("the transaction was rolled back by its caller's error")]
    RolledBack,
}

impl StoreError {
    /// The database is busy or gone for now (SQLite locked past busy_timeout, a closed connection): the client
    /// may retry, so this is a 503 rather than a 500.
    pub fn is_transient(&self) -> bool {
        use diesel::result::Error;
        match self {
            StoreError::Unavailable(_) => true,
            e if e.is_connection_lost() => true,
            StoreError::Query(Error::DatabaseError(_, info)) => {
                let m = info.message().to_ascii_lowercase();
                // A full disk (SQLITE_FULL) passes once space is freed.
                m.contains("database is locked")
                    || m.contains("database is busy")
                    || m.contains("disk is full")
            }
            _ => false,
        }
    }
}

impl StoreError {
    /// The connection itself is gone (the server restarted, a socket closed): it must not be reused.
    pub fn is_connection_lost(&self) -> bool {
        use diesel::result::{DatabaseErrorKind, Error};
        match self {
            StoreError::Query(Error::DatabaseError(
                DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
                _,
            )) => true,
            StoreError::Query(Error::DatabaseError(_, info)) => {
                let m = info.message().to_ascii_lowercase();
                m.contains("terminating connection")
                    || m.contains("server closed the connection")
                    || m.contains("no connection to the server")
                    || m.contains("connection to server")
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
/// On SQLite the server's writes go through one writer thread that commits concurrent transactions together
/// (`writer.rs`): a deferred transaction that reads before it writes fails at once with SQLITE_BUSY when
/// another connection commits first, and busy_timeout cannot help it, so writers are serialised in-process;
/// WAL lets readers continue meanwhile. The command-line tools' synchronous writes use a connection of their
/// own and take the write lock like another process would. PostgreSQL writes use the read pool, and the
/// server batches concurrent commits into one WAL flush by itself.
#[derive(Clone)]
pub struct Store {
    /// Connections for the command-line tools' synchronous reads, and for PostgreSQL's writes.
    read: Pool,
    /// SQLite: the command-line tools' synchronous writes.
    write: Option<Pool>,
    readers: readers::Readers,
    writer: Option<writer::Writer>,
    /// Moves whenever the catalogue (jurisdictions, services, definitions, areas) may have changed: after an
    /// import in this process at once, after one in another process when the watcher sees the stored version
    /// move. Caches compare it instead of asking the database.
    catalog_epoch: std::sync::Arc<std::sync::atomic::AtomicU64>,
    /// Moves after every write transaction of this process, committed or not: answers made from the data
    /// before it may be stale (`http::cache`).
    data_epoch: std::sync::Arc<std::sync::atomic::AtomicU64>,
    /// The highest catalogue version this process wrote and has already moved `catalog_epoch` for, so that
    /// the watcher does not take this process's own change for another's and empty every cache again.
    catalog_written: std::sync::Arc<std::sync::atomic::AtomicI64>,
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
                // r2d2 runs `SELECT 1` before handing out each connection by default: a statement, and on
                // PostgreSQL a round trip, added to every request. A connection whose server went away
                // fails its query instead; `on` marks it broken and the pool drops it.
                .test_on_check_out(false)
                // A request waits at most this long for a connection: past it the database is away or
                // saturated, and a 503 with Retry-After serves the client better than a longer wait.
                .connection_timeout(Duration::from_millis(1500))
                .build(conn::Manager::new(url.clone()))
        };
        let (read, write, readers, writer) = match url {
            DatabaseUrl::Sqlite(_) => (
                build(8)?,
                Some(build(1)?),
                readers::Readers::start(url, 8)?,
                Some(writer::Writer::start(url.clone())?),
            ),
            DatabaseUrl::Postgres(_) => (build(10)?, None, readers::Readers::start(url, 10)?, None),
        };
        Ok(Self {
            read,
            write,
            readers,
            writer,
            catalog_epoch: Default::default(),
            data_epoch: Default::default(),
            catalog_written: Default::default(),
        })
    }

    /// `catalog_changed` for a change whose committed catalogue version is known (`catalog::bump_version`).
    pub fn catalog_changed_to(&self, version: i64) {
        self.catalog_written
            .fetch_max(version, std::sync::atomic::Ordering::AcqRel);
        self.catalog_changed();
    }

    /// The highest catalogue version this process has written (`catalog_changed_to`).
    pub fn catalog_written(&self) -> i64 {
        self.catalog_written
            .load(std::sync::atomic::Ordering::Acquire)
    }

    /// See `catalog_epoch`: call after a committed change to the catalogue. It moves the data epoch too:
    /// rendered answers name services and follow their grids, so the answer cache must let go of them.
    pub fn catalog_changed(&self) {
        self.catalog_epoch
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        self.data_changed();
    }

    pub fn data_epoch(&self) -> u64 {
        self.data_epoch.load(std::sync::atomic::Ordering::Acquire)
    }

    fn data_changed(&self) {
        self.data_epoch
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    }

    pub fn catalog_epoch(&self) -> u64 {
        self.catalog_epoch
            .load(std::sync::atomic::Ordering::Acquire)
    }

    /// Runs read-only queries on a pooled connection, off the async executor.
    pub async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        F: Fn(&mut AnyConnection) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        self.readers.run(f).await
    }

    /// Runs `f` in one transaction on the write path; it commits (durably: see the pragmas) before this
    /// returns. Any error `f` returns, the store's or the caller's own (a use case's 400 or 404 found after a
    /// first write), rolls the whole transaction back and is returned as it was.
    pub async fn write<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut AnyConnection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        // Both write paths roll back on a store error; the caller's error travels beside it.
        let failed = std::sync::Arc::new(std::sync::Mutex::new(None::<E>));
        let slot = failed.clone();
        let f = move |conn: &mut AnyConnection| -> Result<T, StoreError> {
            f(conn).map_err(|e| {
                if let Ok(mut s) = slot.lock() {
                    *s = Some(e);
                }
                StoreError::RolledBack
            })
        };
        let span = tracing::Span::current();
        let result = match &self.writer {
            None => {
                let pool = self.read.clone();
                blocking(move || on(&mut *pool.get()?, |conn| conn.transaction(f))).await
            }
            Some(writer) => {
                let (tx, rx) = tokio::sync::oneshot::channel();
                writer.submit(
                    move |conn| span.in_scope(|| f(conn)),
                    move |result| {
                        let _ = tx.send(result);
                    },
                )?;
                rx.await
                    .map_err(|_| StoreError::Join("the writer dropped a transaction".into()))?
            }
        };
        // Before the caller answers anyone: a client that reads after our answer sees the change.
        self.data_changed();
        match result {
            Ok(t) => Ok(t),
            Err(StoreError::RolledBack) => Err(failed
                .lock()
                .ok()
                .and_then(|mut s| s.take())
                .unwrap_or_else(|| {
                    E::from(StoreError::Corrupt("a rollback lost its cause".into()))
                })),
            Err(e) => Err(E::from(e)),
        }
    }

    /// Synchronous write transaction for the command-line tools; like `write`, any error rolls it back.
    pub fn write_blocking<T, E: From<StoreError>>(
        &self,
        f: impl FnOnce(&mut AnyConnection) -> Result<T, E>,
    ) -> Result<T, E> {
        let pool = self.write.as_ref().unwrap_or(&self.read);
        let mut failed = None;
        let mut pooled = pool.get().map_err(|e| E::from(StoreError::from(e)))?;
        let result = on(&mut pooled, |conn| {
            transaction(conn, |conn| {
                f(conn).map_err(|e| {
                    failed = Some(e);
                    StoreError::RolledBack
                })
            })
        });
        self.data_changed();
        match result {
            Ok(t) => Ok(t),
            Err(StoreError::RolledBack) => Err(failed.unwrap_or_else(|| {
                E::from(StoreError::Corrupt("a rollback lost its cause".into()))
            })),
            Err(e) => Err(E::from(e)),
        }
    }

    /// Synchronous reads for the command-line tools.
    pub fn read_blocking<T>(
        &self,
        f: impl FnOnce(&mut AnyConnection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        on(&mut *self.read.get()?, f)
    }
}

/// Runs `f` on a pooled connection and marks the connection broken when the server went away under it.
fn on<T>(
    c: &mut conn::Pooled,
    f: impl FnOnce(&mut AnyConnection) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let result = f(&mut c.conn);
    if let Err(e) = &result {
        if e.is_connection_lost() {
            c.broken = true;
        }
    }
    result
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
    crate::telemetry::spawn_blocking(f)
        .await
        .map_err(|e| StoreError::Join(e.to_string()))?
}

#[cfg(test)]
mod span_tests {
    use super::{Store, StoreError};
    use crate::config::DatabaseUrl;
    use std::sync::{Arc, Mutex, OnceLock};
    use tracing::Instrument;
    use tracing_subscriber::layer::{Context, SubscriberExt};
    use tracing_subscriber::registry::LookupSpan;

    /// Per event: its message, the name and `id` of the span it was logged in, and the thread.
    type Seen = Arc<Mutex<Vec<(String, Option<String>, std::thread::ThreadId)>>>;

    struct Recorder(Seen);

    #[derive(Default)]
    struct Fields(String);

    impl tracing::field::Visit for Fields {
        fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
            if matches!(field.name(), "message" | "id") {
                self.0 = format!("{value:?}");
            }
        }

        fn record_u64(&mut self, field: &tracing::field::Field, value: u64) {
            if field.name() == "id" {
                self.0 = value.to_string();
            }
        }
    }

    impl<S: tracing::Subscriber + for<'a> LookupSpan<'a>> tracing_subscriber::Layer<S> for Recorder {
        fn on_new_span(
            &self,
            attrs: &tracing::span::Attributes<'_>,
            id: &tracing::span::Id,
            ctx: Context<'_, S>,
        ) {
            let mut f = Fields::default();
            attrs.record(&mut f);
            if let Some(span) = ctx.span(id) {
                span.extensions_mut()
                    .insert(format!("{}{{id={}}}", span.name(), f.0));
            }
        }

        fn on_event(&self, event: &tracing::Event<'_>, ctx: Context<'_, S>) {
            let mut f = Fields::default();
            event.record(&mut f);
            let span = ctx
                .event_span(event)
                .and_then(|s| s.extensions().get::<String>().cloned());
            if let Ok(mut seen) = self.0.lock() {
                seen.push((f.0, span, std::thread::current().id()));
            }
        }
    }

    fn recorder() -> Seen {
        static SEEN: OnceLock<Seen> = OnceLock::new();
        SEEN.get_or_init(|| {
            let seen = Seen::default();
            let subscriber = tracing_subscriber::registry().with(Recorder(seen.clone()));
            let _ = tracing::subscriber::set_global_default(subscriber);
            seen
        })
        .clone()
    }

    /// A line logged inside a read or a write transaction, on the store's own threads, names the request it
    /// serves: the span of the caller goes with the closure.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn work_on_the_store_threads_is_logged_in_the_callers_span() {
        let seen = recorder();
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&DatabaseUrl::Sqlite(dir.path().join("civic311.db"))).unwrap();
        let caller = std::thread::current().id();
        async {
            store
                .write(|_| {
                    tracing::info!("inside the write 4711");
                    Ok::<_, StoreError>(())
                })
                .await
                .unwrap();
            store
                .read(|_| {
                    tracing::info!("inside the read 4711");
                    Ok(())
                })
                .await
                .unwrap();
        }
        .instrument(tracing::info_span!("request", id = 4711_u64))
        .await;
        let seen = seen.lock().unwrap().clone();
        for what in ["write", "read"] {
            let (_, span, thread) = seen
                .iter()
                .find(|(m, ..)| m == &format!("inside the {what} 4711"))
                .unwrap_or_else(|| panic!("the {what} logged: {seen:?}"));
            assert_eq!(span.as_deref(), Some("request{id=4711}"), "{what}");
            assert_ne!(*thread, caller, "the {what} ran on a store thread");
        }
    }
}
