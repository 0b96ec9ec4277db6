//! The server's read path: a fixed set of threads, each owning one connection, taking read jobs from one
//! queue.
//!
//! Reads used to run on the async runtime's blocking pool and check a connection out of the r2d2 pool. Each
//! actix worker has a blocking pool of its own of up to 512 threads, so 32 concurrent clients meant some 40
//! threads (and their allocator arenas: > 100 MB RSS) waiting for 8 connections, and every read paid a pool
//! lock and a thread hand-off on top. A thread per connection does the same work with neither.

use super::conn::{establish, Pooled};
use super::{AnyConnection, StoreError};
use crate::config::DatabaseUrl;
use std::sync::{mpsc, Arc, Mutex};

/// Runs on a connection (or learns why there is none); says whether the connection was lost meanwhile, or
/// asks to run once more on a new one.
type Job = Box<dyn FnOnce(Result<&mut AnyConnection, StoreError>) -> Retry + Send>;

/// The last try of a job: says whether the connection was lost.
type LastTry = Box<dyn FnOnce(Result<&mut AnyConnection, StoreError>) -> bool + Send>;

enum Retry {
    Done { lost: bool },
    Again(LastTry),
}

#[derive(Clone)]
pub struct Readers {
    jobs: mpsc::Sender<Job>,
}

impl Readers {
    /// Starts `threads` readers; each opens its connection at its first job and again after it broke.
    pub fn start(url: &DatabaseUrl, threads: usize) -> Result<Self, StoreError> {
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for i in 0..threads.max(1) {
            let (queue, url) = (queue.clone(), url.clone());
            std::thread::Builder::new()
                .name(format!("civic311-read-{i}"))
                .spawn(move || run(url, queue))
                .map_err(|e| StoreError::Unavailable(format!("starting a reader: {e}")))?;
        }
        Ok(Self { jobs })
    }

    /// Runs `f` on one of the readers' connections; marks the connection broken when the server went away.
    pub async fn run<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        F: Fn(&mut AnyConnection) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        let span = tracing::Span::current();
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |conn| {
            let result = span.in_scope(|| conn.and_then(&f));
            let lost = result.as_ref().is_err_and(StoreError::is_connection_lost);
            if lost {
                // A read changes nothing: after the database restarted, it is run again at once on a new
                // connection, so that the first request on each stale connection does not fail for it.
                return Retry::Again(Box::new(move |conn| {
                    let result = span.in_scope(|| conn.and_then(f));
                    let lost = result.as_ref().is_err_and(StoreError::is_connection_lost);
                    let _ = tx.send(result);
                    lost
                }));
            }
            let _ = tx.send(result);
            Retry::Done { lost }
        });
        self.jobs
            .send(job)
            .map_err(|_| StoreError::Unavailable("the readers have stopped".into()))?;
        rx.await
            .map_err(|_| StoreError::Join("a read was dropped".into()))?
    }
}

fn run(url: DatabaseUrl, queue: Arc<Mutex<mpsc::Receiver<Job>>>) {
    let mut conn: Option<Pooled> = None;
    loop {
        let job = {
            let Ok(q) = queue.lock() else { return };
            match q.recv() {
                Ok(job) => job,
                Err(_) => return,
            }
        };
        let first = match connected(&url, &mut conn) {
            Ok(c) => {
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(Ok(&mut c.conn))))
                    .unwrap_or(Retry::Done { lost: true })
            }
            Err(e) => job(Err(e)),
        };
        let last = match first {
            Retry::Done { lost } => {
                mark(&mut conn, lost);
                continue;
            }
            Retry::Again(last) => {
                mark(&mut conn, true);
                last
            }
        };
        let lost = match connected(&url, &mut conn) {
            Ok(c) => {
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| last(Ok(&mut c.conn))))
                    .unwrap_or(true)
            }
            Err(e) => last(Err(e)),
        };
        mark(&mut conn, lost);
    }
}

/// The reader's connection, opened anew when there is none or it broke.
fn connected<'a>(
    url: &DatabaseUrl,
    conn: &'a mut Option<Pooled>,
) -> Result<&'a mut Pooled, StoreError> {
    if conn.as_ref().is_none_or(|c| c.broken) {
        *conn = Some(Pooled {
            conn: establish(url).map_err(|e| StoreError::Unavailable(e.to_string()))?,
            broken: false,
        });
    }
    conn.as_mut()
        .ok_or_else(|| StoreError::Unavailable("no connection".into()))
}

fn mark(conn: &mut Option<Pooled>, lost: bool) {
    if let Some(c) = conn.as_mut() {
        c.broken |= lost;
    }
}
