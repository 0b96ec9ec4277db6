//! Settings for every subcommand: each field has a flag and a `CIVIC311_*` variable, so `--help` is the
//! reference. Nothing here is global: tests build `Settings` themselves.

use std::{fmt, net::SocketAddr, path::PathBuf, str::FromStr};

/// Which database to use, decided once from the URL scheme. Unknown schemes are rejected so that a mistyped
/// `postgres://` URL can never silently become an empty SQLite file.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    Sqlite(PathBuf),
    Postgres(String),
}

impl FromStr for DatabaseUrl {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.is_empty() {
            return Err("the database URL is empty".into());
        }
        if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            return Ok(Self::Postgres(s.to_string()));
        }
        if let Some(path) = s.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err("sqlite:// needs a file path, e.g. sqlite://civic311.db".into());
            }
            return Ok(Self::Sqlite(PathBuf::from(path)));
        }
        if let Some((scheme, _)) = s.split_once("://") {
            return Err(format!(
                "unsupported database URL scheme '{scheme}': use postgres://, postgresql://, sqlite:// or a file path"
            ));
        }
        Ok(Self::Sqlite(PathBuf::from(s)))
    }
}

impl fmt::Debug for DatabaseUrl {
    /// Never print a PostgreSQL password into logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sqlite(p) => write!(f, "sqlite://{}", p.display()),
            Self::Postgres(url) => {
                let shown = match (url.find("://"), url.rfind('@')) {
                    (Some(start), Some(at)) if at > start => {
                        format!("{}://[redacted]@{}", &url[..start], &url[at + 1..])
                    }
                    _ => url.clone(),
                };
                f.write_str(&shown)
            }
        }
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// A secret from the configuration; `Debug` never prints it.
#[derive(Clone)]
pub struct Secret(pub String);

impl FromStr for Secret {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Secret(s.to_string()))
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Where the database lives; shared by every subcommand.
#[derive(clap::Args, Clone, Debug)]
pub struct DbArgs {
    /// postgres://… or postgresql://… selects PostgreSQL; sqlite://PATH or a plain path is a SQLite file.
    #[arg(
        long,
        env = "CIVIC311_DATABASE_URL",
        default_value = "sqlite://civic311-data/civic311.db",
        hide_env_values = true
    )]
    pub database_url: DatabaseUrl,
}

/// Where the server keeps photos and its secret, for the tools that remove personal data.
#[derive(clap::Args, Clone, Debug)]
pub struct DataArgs {
    /// Directory for uploaded photos and the generated server secret.
    #[arg(long, env = "CIVIC311_DATA_DIR", default_value = "civic311-data")]
    pub data_dir: PathBuf,
    /// The server's secret (the same as `serve`'s); without it, `<data-dir>/secret.key`.
    #[arg(long, env = "CIVIC311_SECRET", hide_env_values = true)]
    pub secret: Option<Secret>,
}

impl DataArgs {
    /// The secret of a server that has run here before; an error instead of a new secret.
    pub fn existing_secret(&self) -> anyhow::Result<Vec<u8>> {
        let file = self.data_dir.join("secret.key");
        if self.secret.is_none() && !file.exists() {
            anyhow::bail!(
                "no server secret: set CIVIC311_SECRET, or --data-dir to the server's data directory ({} does not exist)",
                file.display()
            );
        }
        self.secret()
    }

    /// The server secret as `serve` uses it.
    pub fn secret(&self) -> anyhow::Result<Vec<u8>> {
        match &self.secret {
            Some(s) if s.0.len() >= 32 => Ok(s.0.as_bytes().to_vec()),
            Some(_) => anyhow::bail!("CIVIC311_SECRET must be at least 32 characters"),
            None => crate::auth::load_or_create_secret(&self.data_dir),
        }
    }
}

/// E-mail delivery to departments.
#[derive(clap::Args, Clone, Debug)]
pub struct MailArgs {
    /// SMTP server for department e-mail: smtp://host:25, smtp://user:pass@host:587?tls=required (STARTTLS) or
    /// smtps://user:pass@host:465 (TLS). Without it reports are still routed and their e-mails queued, but
    /// nothing is sent until a worker with an SMTP URL runs.
    #[arg(long, env = "CIVIC311_SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<Secret>,

    /// Instead of an SMTP server: write each department e-mail as a `.eml` file into this directory (local
    /// runs and trials, where no mail server is at hand). Deliveries count as sent once the file is written.
    #[arg(long, env = "CIVIC311_MAIL_DIR", conflicts_with = "smtp_url")]
    pub mail_dir: Option<std::path::PathBuf>,

    /// The From address of department e-mail.
    #[arg(
        long,
        env = "CIVIC311_MAIL_FROM",
        default_value = "civic311 <civic311@localhost>"
    )]
    pub mail_from: String,

    /// Seconds before an SMTP connection or command is given up (the attempt is then retried).
    #[arg(long, env = "CIVIC311_SMTP_TIMEOUT_SECS", default_value_t = 30)]
    pub smtp_timeout_secs: u64,

    /// A delivery still failing this many hours after it was queued goes to the department's fallback address.
    #[arg(long, env = "CIVIC311_DELIVERY_MAX_AGE_HOURS", default_value_t = 24.0)]
    pub delivery_max_age_hours: f64,

    /// First retry delay in seconds; it doubles with each attempt (with jitter), up to six hours.
    #[arg(long, env = "CIVIC311_DELIVERY_BACKOFF_SECS", default_value_t = 60)]
    pub delivery_backoff_secs: u64,

    /// Seconds a worker holds a claimed delivery; a worker silent for longer is presumed dead.
    #[arg(long, env = "CIVIC311_DELIVERY_LEASE_SECS", default_value_t = 120)]
    pub delivery_lease_secs: u64,

    /// Milliseconds an idle worker waits before looking for due deliveries again.
    #[arg(long, env = "CIVIC311_DELIVERY_POLL_MS", default_value_t = 1000)]
    pub delivery_poll_ms: u64,
}

impl Default for MailArgs {
    fn default() -> Self {
        Self {
            smtp_url: None,
            mail_dir: None,
            mail_from: "civic311 <civic311@localhost>".into(),
            smtp_timeout_secs: 30,
            delivery_max_age_hours: 24.0,
            delivery_backoff_secs: 60,
            delivery_lease_secs: 120,
            delivery_poll_ms: 1000,
        }
    }
}

/// Settings of the HTTP server.
#[derive(clap::Args, Clone, Debug)]
pub struct Settings {
    #[command(flatten)]
    pub db: DbArgs,

    /// host:port to listen on (port 0 picks a free port).
    #[arg(long, env = "CIVIC311_BIND", default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,

    /// Directory for uploaded photos and the generated server secret.
    #[arg(long, env = "CIVIC311_DATA_DIR", default_value = "civic311-data")]
    pub data_dir: PathBuf,

    /// The public base URL clients reach this server at (used in media_url and discovery), e.g.
    /// https://311.example.org. Defaults to http://<bind>.
    #[arg(long, env = "CIVIC311_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// Secret key for hashing device ids. When absent, one is generated into <data-dir>/secret.key on first start.
    #[arg(long, env = "CIVIC311_SECRET", hide_env_values = true)]
    pub secret: Option<Secret>,

    /// HTTP worker threads (default: one per core).
    #[arg(long, env = "CIVIC311_WORKERS")]
    pub workers: Option<usize>,

    /// Largest accepted photo, in bytes (413 past it).
    #[arg(long, env = "CIVIC311_MAX_PHOTO_BYTES", default_value_t = 10 * 1024 * 1024)]
    pub max_photo_bytes: usize,

    /// Most photos accepted with one report (413 past it).
    #[arg(long, env = "CIVIC311_MAX_PHOTOS", default_value_t = 5)]
    pub max_photos: usize,

    /// How long a rendered public list or report may be served again, in milliseconds, unless a write
    /// commits first (0: never). Bounds how late a change made by another process is seen.
    #[arg(long, env = "CIVIC311_CACHE_MS", default_value_t = 1000)]
    pub cache_ms: u64,

    /// Accept the published API keys of example files (the demo city's, whose plaintext is in this
    /// repository). For trying civic311 out; never on a server that real apps use.
    #[arg(long, env = "CIVIC311_DEMO")]
    pub demo: bool,

    /// A request body must arrive completely within this many seconds (408 past it).
    #[arg(long, env = "CIVIC311_BODY_TIMEOUT_SECS", default_value_t = 120)]
    pub body_timeout_secs: u64,

    /// A request body that sends nothing for this many seconds is given up (408).
    #[arg(long, env = "CIVIC311_BODY_IDLE_SECS", default_value_t = 15)]
    pub body_idle_secs: u64,

    /// Request headers must arrive within this many seconds of connecting, or the connection is closed.
    #[arg(long, env = "CIVIC311_HEADER_TIMEOUT_SECS", default_value_t = 5)]
    pub header_timeout_secs: u64,

    /// An idle keep-alive connection is closed after this many seconds.
    #[arg(long, env = "CIVIC311_KEEP_ALIVE_SECS", default_value_t = 15)]
    pub keep_alive_secs: u64,

    /// Most connections open at once, all workers together; past it new connections wait to be accepted.
    #[arg(long, env = "CIVIC311_MAX_CONNECTIONS", default_value_t = 4096)]
    pub max_connections: usize,

    /// Password hashes computed at once (each takes 19 MiB for a moment); default: one per core. Sign-ins
    /// past it wait half a second, then are answered 429.
    #[arg(long, env = "CIVIC311_PASSWORD_HASHERS")]
    pub password_hashers: Option<usize>,

    /// A staff session ends this many days after its sign-in, however often it is refreshed.
    #[arg(long, env = "CIVIC311_SESSION_DAYS", default_value_t = 30)]
    pub session_days: i64,

    #[command(flatten)]
    pub limits: crate::limits::LimitArgs,

    #[command(flatten)]
    pub mail: MailArgs,
}

impl Settings {
    /// Settings for a given database with every other value at its default (tests, tools).
    pub fn new(database_url: DatabaseUrl, data_dir: PathBuf) -> Self {
        Self {
            db: DbArgs { database_url },
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            data_dir,
            public_url: None,
            secret: None,
            workers: None,
            max_photo_bytes: 10 * 1024 * 1024,
            max_photos: 5,
            cache_ms: 1000,
            demo: false,
            body_timeout_secs: 120,
            body_idle_secs: 15,
            header_timeout_secs: 5,
            keep_alive_secs: 15,
            max_connections: 4096,
            session_days: 30,
            password_hashers: None,
            limits: crate::limits::LimitArgs::default(),
            mail: MailArgs::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scheme_selects_the_backend() {
        assert_eq!(
            "postgres://u:p@h/db".parse::<DatabaseUrl>(),
            Ok(DatabaseUrl::Postgres("postgres://u:p@h/db".into()))
        );
        assert!(matches!(
            "postgresql://h/db".parse(),
            Ok(DatabaseUrl::Postgres(_))
        ));
        assert_eq!(
            "sqlite://a/b.db".parse::<DatabaseUrl>(),
            Ok(DatabaseUrl::Sqlite("a/b.db".into()))
        );
        assert_eq!(
            "b.db".parse::<DatabaseUrl>(),
            Ok(DatabaseUrl::Sqlite("b.db".into()))
        );
        let err = "mysql://h/db".parse::<DatabaseUrl>().unwrap_err();
        assert!(err.contains("mysql"), "{err}");
    }

    #[test]
    fn debug_hides_the_password() {
        let url: DatabaseUrl = "postgres://civic:s3cret@db:5432/x".parse().unwrap();
        let shown = format!("{url:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("db:5432/x"));
    }
}
