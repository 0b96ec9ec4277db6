//! The SQLite write path: one thread owns the one write connection and commits the write transactions of
//! concurrent callers together (group commit).
//!
//! With `synchronous=FULL` every commit waits for an fsync, so committing one report at a time caps intake
//! at one report per fsync. The writer takes every job that is queued when it starts a transaction, runs each
//! inside a savepoint of its own (a job that fails rolls back alone, exactly as if it had had its own
//! transaction), commits once, and only then answers every job: a success still means "on disk". Jobs of one
//! batch see each other's writes, as consecutive transactions would.

use super::conn::{establish, Pooled};
use super::{AnyConnection, StoreError};
use crate::config::DatabaseUrl;
use diesel::connection::SimpleConnection;
use std::sync::mpsc;

/// The most jobs committed together; bounds the time the first of them waits for the others.
const MAX_BATCH: usize = 128;

/// One queued write: runs inside the batch's transaction, answers after its commit.
trait Job: Send {
    /// Runs the work; returns whether it succeeded (its savepoint is released) or failed (rolled back).
    fn run(&mut self, conn: &mut AnyConnection) -> bool;
    /// Delivers the outcome once the batch's fate is known (`Err` when the commit failed).
    fn finish(self: Box<Self>, commit: Result<(), String>);
}

struct Work<T, F, R> {
    f: Option<F>,
    result: Option<Result<T, StoreError>>,
    reply: R,
}

impl<T, F, R> Job for Work<T, F, R>
where
    T: Send,
    F: FnOnce(&mut AnyConnection) -> Result<T, StoreError> + Send,
    R: FnOnce(Result<T, StoreError>) + Send,
{
    fn run(&mut self, conn: &mut AnyConnection) -> bool {
        let Some(f) = self.f.take() else { return false };
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(conn)))
            .unwrap_or_else(|_| Err(StoreError::Join("a write panicked".into())));
        let ok = result.is_ok();
        self.result = Some(result);
        ok
    }

    fn finish(self: Box<Self>, commit: Result<(), String>) {
        let Work { result, reply, .. } = *self;
        let outcome = match (commit, result) {
            (_, Some(Err(e))) => Err(e),
            (Ok(()), Some(Ok(v))) => Ok(v),
            (Err(e), Some(Ok(_))) => Err(StoreError::Unavailable(format!("commit failed: {e}"))),
            (Err(e), None) => Err(StoreError::Unavailable(format!("not written: {e}"))),
            (Ok(()), None) => Err(StoreError::Join("a write never ran".into())),
        };
        reply(outcome);
    }
}

/// The handle callers hold; the thread stops when the last handle is dropped.
#[derive(Clone)]
pub struct Writer {
    jobs: mpsc::Sender<Box<dyn Job>>,
}

impl Writer {
    pub fn start(url: DatabaseUrl) -> Result<Self, StoreError> {
        let conn = establish(&url).map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let (jobs, queue) = mpsc::channel::<Box<dyn Job>>();
        std::thread::Builder::new()
            .name("civic311-writer".into())
            .spawn(move || run(url, conn, queue))
            .map_err(|e| StoreError::Unavailable(format!("starting the writer: {e}")))?;
        Ok(Self { jobs })
    }

    /// Queues `f`; `reply` gets its result after the commit of its batch.
    pub fn submit<T, F, R>(&self, f: F, reply: R) -> Result<(), StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut AnyConnection) -> Result<T, StoreError> + Send + 'static,
        R: FnOnce(Result<T, StoreError>) + Send + 'static,
    {
        self.jobs
            .send(Box::new(Work {
                f: Some(f),
                result: None,
                reply,
            }))
            .map_err(|_| StoreError::Unavailable("the writer has stopped".into()))
    }
}

fn run(url: DatabaseUrl, conn: AnyConnection, queue: mpsc::Receiver<Box<dyn Job>>) {
    let mut conn = Some(Pooled {
        conn,
        broken: false,
    });
    while let Ok(first) = queue.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        // A connection lost to an error is opened again for the next batch.
        let c = match conn.take().filter(|c| !c.broken) {
            Some(c) => c,
            None => match establish(&url) {
                Ok(c) => Pooled {
                    conn: c,
                    broken: false,
                },
                Err(e) => {
                    let msg = e.to_string();
                    for job in batch {
                        job.finish(Err(msg.clone()));
                    }
                    continue;
                }
            },
        };
        conn = Some(commit_batch(c, batch));
    }
}

fn commit_batch(mut c: Pooled, mut batch: Vec<Box<dyn Job>>) -> Pooled {
    // IMMEDIATE: take the write lock first (waiting up to busy_timeout for another process, such as an
    // import or a `civic311 worker`), so that no job fails half-way with SQLITE_BUSY.
    if let Err(e) = c.conn.batch_execute("BEGIN IMMEDIATE") {
        let msg = e.to_string();
        for job in batch {
            job.finish(Err(msg.clone()));
        }
        return c;
    }
    for job in batch.iter_mut() {
        let step = c.conn.batch_execute("SAVEPOINT job").and_then(|()| {
            if job.run(&mut c.conn) {
                c.conn.batch_execute("RELEASE job")
            } else {
                c.conn.batch_execute("ROLLBACK TO job; RELEASE job")
            }
        });
        if let Err(e) = step {
            // The transaction is in an unknown state: give it up whole.
            let msg = e.to_string();
            let _ = c.conn.batch_execute("ROLLBACK");
            c.broken = true;
            for job in batch {
                job.finish(Err(msg.clone()));
            }
            return c;
        }
    }
    let commit = c.conn.batch_execute("COMMIT").map_err(|e| {
        let _ = c.conn.batch_execute("ROLLBACK");
        e.to_string()
    });
    for job in batch {
        job.finish(commit.clone());
    }
    c
}
