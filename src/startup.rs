//! Building the server: open the store, bind the listener (port 0 picks a free one and `port()` tells which),
//! and run until stopped. Tests use exactly this path.

use crate::app::AppState;
use crate::config::Settings;
use crate::http::{self, Limits};
use crate::store::Store;
use actix_web::dev::Service;
use actix_web::{middleware, web, App, HttpServer};
use anyhow::Context;
use std::net::TcpListener;
use std::time::{Duration, Instant};

/// Ids of requests for the log, in arrival order within one process.
fn next_request_id() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

pub struct Application {
    port: u16,
    server: actix_web::dev::Server,
    state: AppState,
    mail: crate::config::MailArgs,
}

/// The application state without an HTTP server, for command-line tools that run use cases.
pub fn state_for_tools(settings: &Settings) -> anyhow::Result<AppState> {
    let store = Store::open(&settings.db.database_url)?;
    Ok(AppState {
        store,
        public_url: settings
            .public_url
            .clone()
            .unwrap_or_else(|| "http://127.0.0.1:8080".into()),
        data_dir: settings.data_dir.clone(),
        secret: Vec::new(),
        routing: Default::default(),
        mail_domain: crate::outbox::domain_of(&settings.mail.mail_from),
        // Command-line tools never issue staff tokens.
        tokens: crate::auth::staff::TokenKeys::from_secret(b"command-line tools issue no tokens"),
        throttle: Default::default(),
        catalog: Default::default(),
        keys: Default::default(),
        large_pages: std::sync::Arc::new(tokio::sync::Semaphore::new(
            crate::app::LARGE_PAGES_AT_ONCE,
        )),
        demo: settings.demo,
        hashing: std::sync::Arc::new(tokio::sync::Semaphore::new(
            settings
                .password_hashers
                .unwrap_or_else(crate::app::hashing_permits)
                .max(1),
        )),
        session_lifetime: chrono::TimeDelta::days(settings.session_days.max(1)),
    })
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let url = settings.db.database_url.clone();
        let store = tokio::task::spawn_blocking(move || Store::open(&url)).await??;
        let secret = crate::config::DataArgs {
            data_dir: settings.data_dir.clone(),
            secret: settings.secret.clone(),
        }
        .secret()?;
        let listener = TcpListener::bind(settings.bind)
            .with_context(|| format!("binding {}", settings.bind))?;
        let addr = listener.local_addr()?;
        let public_url = match &settings.public_url {
            Some(u) => u.trim_end_matches('/').to_string(),
            None if addr.ip().is_unspecified() => format!("http://127.0.0.1:{}", addr.port()),
            None => format!("http://{addr}"),
        };
        let mail_domain = crate::outbox::domain_of(&settings.mail.mail_from);
        let tokens = crate::auth::staff::TokenKeys::from_secret(&secret);
        let state = AppState {
            tokens,
            throttle: Default::default(),
            catalog: Default::default(),
            keys: Default::default(),
            large_pages: std::sync::Arc::new(tokio::sync::Semaphore::new(
                crate::app::LARGE_PAGES_AT_ONCE,
            )),
            demo: settings.demo,
            hashing: std::sync::Arc::new(tokio::sync::Semaphore::new(
                settings
                    .password_hashers
                    .unwrap_or_else(crate::app::hashing_permits)
                    .max(1),
            )),
            session_lifetime: chrono::TimeDelta::days(settings.session_days.max(1)),
            routing: Default::default(),
            mail_domain,
            store,
            public_url,
            data_dir: settings.data_dir.clone(),
            secret,
        };
        tokio::spawn(crate::app::watch_catalog(
            state.store.clone(),
            std::time::Duration::from_secs(1),
        ));
        crate::media::sweep_spool(&settings.data_dir);
        let mut limits = Limits::new(
            settings.max_photo_bytes,
            settings.max_photos,
            crate::media::spool_dir(&settings.data_dir),
        );
        limits.body_deadline = Duration::from_secs(settings.body_timeout_secs.max(1));
        limits.body_stall = Duration::from_secs(settings.body_idle_secs.max(1));
        let limits = web::Data::new(limits);
        let rates = web::Data::new(crate::limits::RateLimits::new(&settings.limits));
        let sweeping = rates.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(60));
            loop {
                every.tick().await;
                sweeping.sweep();
            }
        });
        let data = web::Data::new(state.clone());
        // 16 MiB: a few hundred lists, or the 1,000-report pages of a few dozen filters.
        let cache = web::Data::new(http::ResponseCache::new(
            std::time::Duration::from_millis(settings.cache_ms),
            16 << 20,
        ));
        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .app_data(limits.clone())
                .app_data(rates.clone())
                .app_data(cache.clone())
                .wrap(middleware::from_fn(http::conditional))
                .wrap(
                    middleware::DefaultHeaders::new()
                        .add(("Access-Control-Allow-Origin", "*"))
                        // Browser apps read the validators and the change feed's cursor too.
                        .add((
                            "Access-Control-Expose-Headers",
                            "ETag, Last-Modified, Sync-Cursor, Link",
                        ))
                        .add(("X-Content-Type-Options", "nosniff")),
                )
                // Tolerant paths (§2.1): `//` merged and a trailing `/` dropped before routing.
                .wrap(middleware::NormalizePath::trim())
                .wrap(middleware::from_fn(http::guard))
                .wrap_fn(|req, srv| {
                    use tracing::Instrument;
                    // Only method, path and status: query strings and bodies may carry personal data. Every
                    // line logged while the request runs, in its blocking reads and writes too (the store
                    // carries the span into its threads), names the request's id.
                    let (method, path, start) =
                        (req.method().clone(), req.path().to_string(), Instant::now());
                    // The route pattern, status and duration are known only at the end; they are recorded
                    // on the span then (for subscribers that export spans) and logged on the "http" line.
                    let span = tracing::info_span!(
                        "request",
                        id = next_request_id(),
                        %method,
                        %path,
                        route = tracing::field::Empty,
                        status = tracing::field::Empty,
                        ms = tracing::field::Empty,
                    );
                    let fut = span.in_scope(|| srv.call(req));
                    let current = span.clone();
                    async move {
                        let res = fut.await?;
                        let ms = start.elapsed().as_millis() as u64;
                        if let Some(route) = res.request().match_pattern() {
                            current.record("route", route);
                        }
                        current.record("status", res.status().as_u16());
                        current.record("ms", ms);
                        tracing::info!(status = res.status().as_u16(), ms, "http");
                        Ok(res)
                    }
                    .instrument(span)
                })
                .configure(http::configure)
        })
        .client_request_timeout(Duration::from_secs(settings.header_timeout_secs.max(1)))
        .keep_alive(Duration::from_secs(settings.keep_alive_secs))
        .client_disconnect_timeout(Duration::from_secs(1));
        // actix counts connections per worker.
        let workers = settings
            .workers
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
            .max(1);
        server = server
            .workers(workers)
            .max_connections(settings.max_connections.div_ceil(workers).max(1))
            .listen(listener)?;
        Ok(Self {
            port: addr.port(),
            server: server.run(),
            state,
            mail: settings.mail.clone(),
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    pub fn mail_settings(&self) -> &crate::config::MailArgs {
        &self.mail
    }

    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}
