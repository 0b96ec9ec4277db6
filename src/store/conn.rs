//! The one connection type and its pool. The backend is chosen from the URL scheme by our own r2d2 manager,
//! because the derived `establish` tries every variant and discards the real error (docs/decisions/0001).

use crate::config::DatabaseUrl;
use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection, SqliteConnection};

/// The one connection type; queries are written once against it.
#[derive(diesel::MultiConnection)]
pub enum AnyConnection {
    Postgres(PgConnection),
    /// Last on purpose: SqliteConnection::establish takes any string as a file path.
    Sqlite(SqliteConnection),
}

/// Opens connections of the variant the URL names and prepares each one.
pub struct Manager {
    url: DatabaseUrl,
}

impl Manager {
    pub fn new(url: DatabaseUrl) -> Self {
        Self { url }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConnError {
    #[error(transparent)]
    Connect(#[from] diesel::ConnectionError),
    #[error(transparent)]
    Query(#[from] diesel::result::Error),
}

/// Per-connection SQLite settings. `busy_timeout` comes first: set after the others, a fresh database logs
/// "database is locked" while the pool fills. `synchronous=FULL` because an acknowledged report must survive
/// power loss, not only a crash (WAL with NORMAL may lose the last commits). `journal_mode=WAL` persists in
/// the file and is set by the migrator. `temp_store = MEMORY` keeps the statement journals of the group
/// writer's savepoints in memory: in a file they cost a write system call per changed page (≈ 15 % of intake).
pub const SQLITE_PRAGMAS: &str = "PRAGMA busy_timeout = 5000; PRAGMA synchronous = FULL; \
     PRAGMA foreign_keys = ON; PRAGMA temp_store = MEMORY;";

/// Open one connection of the configured backend.
pub fn establish(url: &DatabaseUrl) -> Result<AnyConnection, ConnError> {
    match url {
        DatabaseUrl::Postgres(u) => {
            // A server that does not answer must fail the request fast (503), not hold it for libpq's
            // unbounded default.
            let bounded;
            let u = if u.contains("connect_timeout") {
                u
            } else {
                let sep = if u.contains('?') { '&' } else { '?' };
                bounded = format!("{u}{sep}connect_timeout=2");
                &bounded
            };
            let mut c = PgConnection::establish(u)?;
            // The default, stated so that a server-wide `off` cannot weaken what a success answer promises.
            c.batch_execute("SET synchronous_commit = on")?;
            Ok(AnyConnection::Postgres(c))
        }
        DatabaseUrl::Sqlite(path) => {
            let mut c = SqliteConnection::establish(&path.to_string_lossy())?;
            c.batch_execute(SQLITE_PRAGMAS)?;
            Ok(AnyConnection::Sqlite(c))
        }
    }
}

/// A pooled connection and whether a query on it found the server gone. The pool does not test connections
/// before handing them out (that cost a statement per request), so the store marks a connection whose
/// query failed that way, and the pool drops it instead of handing it out again.
pub struct Pooled {
    pub conn: AnyConnection,
    pub broken: bool,
}

impl r2d2::ManageConnection for Manager {
    type Connection = Pooled;
    type Error = ConnError;

    fn connect(&self) -> Result<Pooled, ConnError> {
        Ok(Pooled {
            conn: establish(&self.url)?,
            broken: false,
        })
    }

    fn is_valid(&self, c: &mut Pooled) -> Result<(), ConnError> {
        c.conn.batch_execute("SELECT 1").map_err(ConnError::Query)
    }

    fn has_broken(&self, c: &mut Pooled) -> bool {
        c.broken || std::thread::panicking()
    }
}

// Queries that still run through the multi-connection wrapper read `Stamp` columns as their backend would.
impl diesel::deserialize::FromSql<diesel::sql_types::Timestamp, MultiBackend>
    for super::stamp::Stamp
{
    fn from_sql(
        bytes: <MultiBackend as diesel::backend::Backend>::RawValue<'_>,
    ) -> diesel::deserialize::Result<Self> {
        bytes.from_sql::<Self, diesel::sql_types::Timestamp>()
    }
}
