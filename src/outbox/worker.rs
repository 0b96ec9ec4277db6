//! The delivery worker: claim a due delivery (compare-and-set with a lease), compose and send it with lettre
//! outside any transaction, record the outcome. Runs inside `civic311 serve` and as `civic311 worker`; several
//! workers may share one PostgreSQL database. A worker that dies mid-send leaves a lease that expires, and the
//! delivery is sent again with the same Message-ID (at-least-once).

use super::message::{self, Report};
use super::transport::Mailer;
use crate::domain::Service;
use crate::store::deliveries::{self as dl, DeliveryRow};
use crate::store::{catalog, requests as rq, routing as rs, AnyConnection, Store, StoreError};
use chrono::{NaiveDateTime, TimeDelta, Utc};
use lettre::message::{header::ContentType, Mailbox};
use lettre::Message;
use rand::Rng;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Sent,
    Retrying,
    Failed,
    /// Nothing was due.
    Empty,
}

#[derive(Clone)]
pub struct WorkerConfig {
    pub from: Mailbox,
    /// How long a claim lasts; a worker silent for longer is presumed dead.
    pub lease: Duration,
    /// A delivery still failing this long after it was queued goes to the fallback address.
    pub max_age: Duration,
    /// First retry delay; it doubles with each attempt (with ±20 % jitter), up to six hours.
    pub backoff: Duration,
    pub poll: Duration,
    /// Deadline of one whole send (connect, dialogue, data).
    pub send_timeout: Duration,
    pub public_url: String,
}

pub struct Worker {
    store: Store,
    transport: Mailer,
    cfg: WorkerConfig,
}

fn now() -> NaiveDateTime {
    Utc::now().naive_utc()
}

fn delta(d: Duration) -> TimeDelta {
    TimeDelta::from_std(d).unwrap_or(TimeDelta::MAX)
}

/// Exponential backoff with ±20 % jitter: base × 2^(attempt−1), capped at six hours.
pub fn backoff(base: Duration, attempt: i32) -> Duration {
    let exp = u32::try_from(attempt.saturating_sub(1).clamp(0, 20)).unwrap_or(20);
    let raw = base
        .saturating_mul(2u32.saturating_pow(exp))
        .min(Duration::from_secs(6 * 3600));
    raw.mul_f64(rand::rng().random_range(0.8..1.2))
}

impl Worker {
    pub fn new(store: Store, transport: Mailer, cfg: WorkerConfig) -> Self {
        Self {
            store,
            transport,
            cfg,
        }
    }

    /// Claims and handles one due delivery.
    pub async fn deliver_next(&self) -> Result<Outcome, StoreError> {
        let lease = delta(self.cfg.lease);
        let claimed = self
            .store
            .write(move |conn| -> Result<_, StoreError> {
                let now = now();
                for id in dl::due(conn, now, 8)? {
                    if let Some(row) = dl::claim(conn, &id, now, now + lease)? {
                        return Ok(Some(row));
                    }
                }
                Ok(None)
            })
            .await?;
        let Some(d) = claimed else {
            return Ok(Outcome::Empty);
        };
        let request_id = d.request_id;
        let report = self
            .store
            .read(move |conn| load_report(conn, request_id))
            .await?;
        // A report hidden after its e-mail was queued is never sent (and not sent to a fallback either).
        if report.as_ref().is_some_and(|r| r.request.hidden) {
            let row = d.clone();
            self.store
                .write(move |conn| -> Result<_, StoreError> {
                    dl::finish(
                        conn,
                        &row.id,
                        row.attempts,
                        dl::FAILED,
                        now(),
                        None,
                        Some("cancelled: the report was hidden"),
                    )?;
                    Ok(())
                })
                .await?;
            return Ok(Outcome::Failed);
        }
        let sent = match report.as_ref().map(|r| self.compose(r, &d)) {
            // lettre's async client times out only the connect; a server that stops answering mid-dialogue
            // would hold this worker forever, so the whole send has a deadline.
            Some(Ok(message)) => {
                match tokio::time::timeout(self.cfg.send_timeout, self.transport.send(message))
                    .await
                {
                    Ok(result) => result.map_err(|f| (f.permanent, f.error)),
                    Err(_) => Err((
                        false,
                        format!(
                            "no answer from {} within {} s",
                            self.transport.kind(),
                            self.cfg.send_timeout.as_secs()
                        ),
                    )),
                }
            }
            Some(Err(e)) => Err((true, e)),
            None => Err((true, "the report no longer exists".to_string())),
        };
        let max_age = delta(self.cfg.max_age);
        let base = self.cfg.backoff;
        let row = d.clone();
        let outcome = self
            .store
            .write(move |conn| -> Result<_, StoreError> {
                let d = row;
                let now = now();
                match sent {
                    Ok(()) => {
                        dl::finish(conn, &d.id, d.attempts, dl::SENT, now, None, None)?;
                        Ok(Outcome::Sent)
                    }
                    Err((permanent, error)) => {
                        let too_old = now - d.created_at > max_age;
                        if permanent || too_old {
                            let why = if permanent {
                                error
                            } else {
                                format!(
                                    "{error} (still failing after {}; given up)",
                                    human(max_age)
                                )
                            };
                            if dl::finish(
                                conn,
                                &d.id,
                                d.attempts,
                                dl::FAILED,
                                now,
                                None,
                                Some(&why),
                            )? {
                                fall_back(conn, &d, now)?;
                            }
                            Ok(Outcome::Failed)
                        } else {
                            let next = now + delta(backoff(base, d.attempts));
                            dl::finish(
                                conn,
                                &d.id,
                                d.attempts,
                                dl::RETRYING,
                                now,
                                Some(next),
                                Some(&error),
                            )?;
                            Ok(Outcome::Retrying)
                        }
                    }
                }
            })
            .await?;
        match outcome {
            Outcome::Sent => {
                tracing::info!(delivery = %d.id, request = d.request_id, attempt = d.attempts, "delivered")
            }
            o => {
                tracing::warn!(delivery = %d.id, request = d.request_id, attempt = d.attempts, outcome = ?o, "delivery not completed")
            }
        }
        Ok(outcome)
    }

    fn compose(&self, report: &Report, d: &DeliveryRow) -> Result<Message, String> {
        let public_url = self.cfg.public_url.clone();
        let text = message::compose(report, d, &self.cfg.public_url, |file| {
            format!("{public_url}/open311/v2/media/{file}")
        });
        let to: Mailbox = d
            .recipient
            .parse()
            .map_err(|e| format!("recipient {}: {e}", d.recipient))?;
        Message::builder()
            .from(self.cfg.from.clone())
            .to(to)
            .subject(text.subject)
            .message_id(Some(d.message_id.clone()))
            .header(ContentType::TEXT_PLAIN)
            .body(text.body)
            .map_err(|e| e.to_string())
    }

    /// Sends until nothing is due (tests and `civic311 worker --once`). Returns the outcomes.
    pub async fn drain(&self) -> Result<Vec<Outcome>, StoreError> {
        let mut out = Vec::new();
        loop {
            match self.deliver_next().await? {
                Outcome::Empty => return Ok(out),
                o => out.push(o),
            }
        }
    }

    /// Runs until `stop` turns true.
    pub async fn run(self, mut stop: tokio::sync::watch::Receiver<bool>) {
        tracing::info!("delivery worker started");
        loop {
            if *stop.borrow() {
                return;
            }
            let idle = match self.deliver_next().await {
                Ok(Outcome::Empty) => true,
                Ok(_) => false,
                Err(e) => {
                    tracing::error!(error = %e, "delivery worker: database error");
                    true
                }
            };
            if idle {
                tokio::select! {
                    _ = tokio::time::sleep(self.cfg.poll) => {}
                    _ = stop.changed() => {}
                }
            }
        }
    }
}

fn human(d: TimeDelta) -> String {
    if d.num_hours() >= 1 {
        format!("{} h", d.num_hours())
    } else {
        format!("{} s", d.num_seconds())
    }
}

/// Queues the report to the department's fallback address, once.
fn fall_back(
    conn: &mut AnyConnection,
    d: &DeliveryRow,
    now: NaiveDateTime,
) -> Result<(), StoreError> {
    if d.is_fallback {
        return Ok(());
    }
    let Some(request) = rq::get_any(conn, d.request_id)? else {
        return Ok(());
    };
    let Some(dept) = rs::department(conn, &request.jurisdiction_id, &d.department_code)? else {
        return Ok(());
    };
    let Some(fallback) = dept
        .fallback_email
        .filter(|f| !f.eq_ignore_ascii_case(&d.recipient))
    else {
        return Ok(());
    };
    let domain = d
        .message_id
        .rsplit_once('@')
        .map_or("civic311.invalid".to_string(), |(_, dom)| {
            dom.trim_end_matches('>').to_string()
        });
    dl::insert(
        conn,
        &[super::new_delivery(
            d.request_id,
            &d.department_code,
            &fallback,
            true,
            now,
            &domain,
        )],
    )?;
    super::record(
        conn,
        d.request_id,
        now,
        "outbox",
        "fallback",
        Some(format!(
            "{} failed: sent to {fallback} instead",
            d.recipient
        )),
    )
}

/// Everything a message needs, or `None` when the report is gone.
pub fn load_report(
    conn: &mut AnyConnection,
    request_id: i64,
) -> Result<Option<Report>, StoreError> {
    let Some(request) = rq::get_any(conn, request_id)? else {
        return Ok(None);
    };
    let j = &request.jurisdiction_id;
    let Some(service) = catalog::service_row(conn, j, &request.service_code)? else {
        return Ok(None);
    };
    let Some(jurisdiction) = catalog::jurisdiction_row(conn, j)? else {
        return Ok(None);
    };
    let attributes = catalog::attributes(conn, j, &request.service_code)?;
    let answers = rq::attributes_of(conn, &[request_id])?;
    let media = rq::media_of(conn, &[request_id])?;
    let department = match &request.department_code {
        Some(code) => rs::department(conn, j, code)?,
        None => None,
    };
    // The city's own wording in its language, where its files give one (`[texts.LOCALE]`).
    let language = jurisdiction.language.clone();
    let words = crate::domain::i18n::Words::new(
        &language,
        catalog::translations(conn, j, "texts")?
            .into_iter()
            .filter(|t| t.locale == language)
            .map(|t| (t.item, t.text)),
    );
    Ok(Some(Report {
        words,
        service: Service::try_from(service)?,
        jurisdiction: jurisdiction.into(),
        request,
        attributes,
        answers,
        media,
        department,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        let base = Duration::from_secs(60);
        for attempt in 1..6 {
            let d = backoff(base, attempt).as_secs_f64();
            let expected = 60.0 * 2f64.powi(attempt - 1);
            assert!(
                d >= expected * 0.8 && d <= expected * 1.2,
                "attempt {attempt}: {d}"
            );
        }
        assert!(backoff(base, 40) <= Duration::from_secs(6 * 3600 * 12 / 10));
    }
}
