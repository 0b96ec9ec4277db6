//! Privacy by the calendar and on request (issue #10): the retention job removes reporters' contact details
//! some days after their report was closed, and photos of reports staff took down; erasure removes one
//! person's data from every report at once. Both leave the reports themselves as open data, and both are
//! audited without the personal data they removed.

use super::audit::{record, Actor};
use super::identity::Admin;
use super::AppState;
use crate::domain::looks_like_contact;
use crate::error::ApiError;
use crate::store::privacy as pv;
use crate::store::{AnyConnection, StoreError};
use chrono::{NaiveDateTime, TimeDelta};

/// What a retention run removed (or, dry, would remove).
#[derive(Debug, Default)]
pub struct Removed {
    /// Reports whose contact details went.
    pub contacts: Vec<i64>,
    pub photos: Vec<RemovedPhoto>,
}

#[derive(Debug)]
pub struct RemovedPhoto {
    pub request_id: i64,
    pub media_id: String,
    pub file_name: String,
}

/// The name retention's audit entries are made under.
const RETENTION: &str = "retention";

/// One retention pass over every jurisdiction, as of `now`. With `apply` false nothing is changed and the
/// answer says what would be. Selection and removal happen in one transaction, so a report reopened a moment
/// before keeps its reporter's details; photo files are deleted once the transaction has committed.
pub async fn retention(
    state: &AppState,
    now: NaiveDateTime,
    apply: bool,
) -> Result<Removed, StoreError> {
    let removed = if apply {
        state
            .store
            .write(move |conn| -> Result<_, StoreError> {
                let removed = select(conn, now)?;
                pv::clear_contact(conn, &removed.contacts)?;
                let photo_ids: Vec<String> =
                    removed.photos.iter().map(|p| p.media_id.clone()).collect();
                pv::delete_media(conn, &photo_ids)?;
                for id in &removed.contacts {
                    record(
                        conn,
                        Actor::Operator(RETENTION),
                        "contact details removed",
                        Some(format!("request {id}")),
                        Some("closed past the jurisdiction's contact_retention_days".into()),
                    )?;
                }
                for photo in &removed.photos {
                    record(
                        conn,
                        Actor::Operator(RETENTION),
                        "photo removed",
                        Some(format!("request {}", photo.request_id)),
                        Some(format!(
                            "{} (hidden or rejected past the jurisdiction's media_retention_days)",
                            photo.file_name
                        )),
                    )?;
                }
                Ok(removed)
            })
            .await?
    } else {
        state.store.read(move |conn| select(conn, now)).await?
    };
    if apply && !removed.photos.is_empty() {
        let dir = crate::media::media_dir(&state.data_dir);
        for photo in &removed.photos {
            if let Err(e) = std::fs::remove_file(dir.join(&photo.file_name)) {
                if e.kind() != std::io::ErrorKind::NotFound {
                    tracing::warn!(file = %photo.file_name, error = %e, "a photo past retention could not be deleted");
                }
            }
        }
    }
    Ok(removed)
}

/// The retention job of `serve` and `worker`: a pass every `every`, the first a minute after start. Several
/// processes may run it on one database: each pass selects and removes in one transaction, so what one has
/// removed the next does not find.
pub async fn run_retention_every(state: AppState, every: std::time::Duration) {
    tokio::time::sleep(std::time::Duration::from_secs(60).min(every)).await;
    let mut ticks = tokio::time::interval(every);
    loop {
        ticks.tick().await;
        match retention(&state, chrono::Utc::now().naive_utc(), true).await {
            Ok(r) if r.contacts.is_empty() && r.photos.is_empty() => {}
            Ok(r) => tracing::info!(
                contacts = r.contacts.len(),
                photos = r.photos.len(),
                "retention: personal data past its period removed"
            ),
            Err(e) => {
                tracing::warn!(error = %e, "retention pass failed; the next one will try again")
            }
        }
    }
}

/// What retention removes as of `now`.
fn select(conn: &mut AnyConnection, now: NaiveDateTime) -> Result<Removed, StoreError> {
    let mut removed = Removed::default();
    for j in pv::retention_periods(conn)? {
        if let Some(days) = j.contact_days {
            let before = now - TimeDelta::days(i64::from(days));
            removed
                .contacts
                .extend(pv::closed_with_contact(conn, &j.jurisdiction_id, before)?);
        }
        if let Some(days) = j.media_days {
            let before = now - TimeDelta::days(i64::from(days));
            for m in pv::withdrawn_photos(conn, &j.jurisdiction_id, before)? {
                if let Some(file_name) = m.file_name {
                    removed.photos.push(RemovedPhoto {
                        request_id: m.request_id,
                        media_id: m.id,
                        file_name,
                    });
                }
            }
        }
    }
    Ok(removed)
}

/// Whose data an erasure removes.
#[derive(Debug, Clone)]
pub enum Subject {
    Email(String),
    Phone(String),
}

impl Subject {
    /// A subject from what an administrator typed, or why it cannot be one.
    pub fn parse(email: Option<&str>, phone: Option<&str>) -> Result<Subject, ApiError> {
        let email = email.map(str::trim).filter(|s| !s.is_empty());
        let phone = phone.map(str::trim).filter(|s| !s.is_empty());
        match (email, phone) {
            (Some(e), None) if e.contains('@') && e.len() <= 254 => {
                Ok(Subject::Email(e.to_lowercase()))
            }
            (Some(_), None) => Err(ApiError::invalid(
                "email",
                "email must be an e-mail address",
            )),
            (None, Some(p)) if digits(p).len() >= 6 && p.len() <= 40 => {
                Ok(Subject::Phone(p.to_string()))
            }
            (None, Some(_)) => Err(ApiError::invalid(
                "phone",
                "phone must be a phone number of at least 6 digits",
            )),
            _ => Err(ApiError::invalid(
                "email",
                "give either email or phone (one person at a time)",
            )),
        }
    }

    /// A keyed fingerprint of the subject, for the audit log: the same person always gives the same one, so
    /// an administrator can show that an erasure was done, but the log cannot be read back into an address.
    pub fn fingerprint(&self, secret: &[u8]) -> String {
        let normal = match self {
            Subject::Email(e) => format!("email:{e}"),
            Subject::Phone(p) => format!("phone:{}", tail(p)),
        };
        crate::auth::hash_device_id(secret, &normal)[..32].to_string()
    }

    fn phone_matches(&self, stored: &str) -> bool {
        let Subject::Phone(p) = self else {
            return false;
        };
        same_number(p, stored)
    }

    /// Whether free text mentions the subject.
    fn mentioned_in(&self, text: &str) -> bool {
        match self {
            Subject::Email(e) => text.to_lowercase().contains(e.as_str()),
            Subject::Phone(p) => {
                let wanted = tail(p);
                wanted.len() >= 6 && digits(text).contains(&wanted)
            }
        }
    }
}

fn digits(s: &str) -> String {
    s.chars().filter(char::is_ascii_digit).collect()
}

/// A number's digits without leading zeros (a trunk prefix such as Indonesia's 0).
fn significant(s: &str) -> String {
    digits(s).trim_start_matches('0').to_string()
}

/// A number's last nine digits: the same with or without a country code or trunk prefix, and still one
/// subscriber's in any national plan.
fn tail(s: &str) -> String {
    let d = significant(s);
    d[d.len().saturating_sub(9)..].to_string()
}

/// `+62 812-3456-7890` and `0812 3456 7890` are one number: the digits after the trunk prefix agree, one
/// number ending in the other, with at least eight digits in common.
fn same_number(a: &str, b: &str) -> bool {
    let (a, b) = (significant(a), significant(b));
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    !short.is_empty() && (short == long || (short.len() >= 8 && long.ends_with(&short)))
}

/// What an erasure did.
#[derive(Debug)]
pub struct Erased {
    /// The reports that held the person's contact details.
    pub reports: Vec<i64>,
    /// Texts (descriptions and free-text answers) replaced because they held personal data.
    pub texts_replaced: usize,
    /// The audit log's fingerprint of the subject.
    pub fingerprint: String,
}

/// What a replaced text says instead.
pub const REMOVED_TEXT: &str = "[removed: personal data]";

/// Erases a person's data in one transaction: contact fields of every report that holds them, and texts of
/// those reports that mention them or look like contact details. Reports stay public; a replaced text moves
/// the report's `updated_datetime`, so that copies kept by sync take the new text.
pub fn erase_in(
    conn: &mut AnyConnection,
    actor: Actor<'_>,
    subject: &Subject,
    secret: &[u8],
    now: NaiveDateTime,
) -> Result<Erased, StoreError> {
    let email = match subject {
        Subject::Email(e) => Some(e.as_str()),
        Subject::Phone(_) => None,
    };
    let touched = pv::reports_of(conn, email, |stored| subject.phone_matches(stored))?;
    let ids: Vec<i64> = touched.iter().map(|t| t.id).collect();
    pv::clear_contact(conn, &ids)?;
    let personal = |text: &str| subject.mentioned_in(text) || looks_like_contact(text);
    let mut texts_replaced = 0;
    for t in &touched {
        let mut changed = false;
        if t.description.as_deref().is_some_and(personal) {
            pv::replace_description(conn, t.id, REMOVED_TEXT, now)?;
            texts_replaced += 1;
            changed = true;
        }
        for (code, position, value) in &t.answers {
            if personal(value) {
                pv::replace_answer(conn, t.id, code, *position, REMOVED_TEXT)?;
                texts_replaced += 1;
                changed = true;
            }
        }
        if changed {
            crate::store::requests::touch(conn, t.id, now)?;
        }
    }
    let fingerprint = subject.fingerprint(secret);
    record(
        conn,
        actor,
        "erase",
        Some(format!("person {fingerprint}")),
        Some(format!(
            "{} report(s); {texts_replaced} text(s) replaced",
            ids.len()
        )),
    )?;
    Ok(Erased {
        reports: ids,
        texts_replaced,
        fingerprint,
    })
}

/// Erasure over the staff API: administrators only.
pub async fn erase(state: &AppState, admin: &Admin, subject: Subject) -> Result<Erased, ApiError> {
    let (admin, secret) = (admin.clone(), state.secret.clone());
    Ok(state
        .store
        .write(move |conn| erase_in(conn, Actor::Staff(&admin), &subject, &secret, super::now()))
        .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_number_written_many_ways() {
        for (a, b) in [
            ("+62 812-3456-7890", "0812 3456 7890"),
            ("081234567890", "(0812) 3456.7890"),
            ("+6281234567890", "6281234567890"),
        ] {
            assert!(same_number(a, b), "{a} ~ {b}");
        }
        for (a, b) in [
            ("0812 3456 7890", "0812 3456 7891"),
            ("4567890", "0812 3456 7890"),
            ("", ""),
        ] {
            assert!(!same_number(a, b), "{a} !~ {b}");
        }
    }

    #[test]
    fn subjects_are_checked_and_fingerprinted_alike() {
        let a = Subject::parse(Some(" Siti@Example.ID "), None).unwrap();
        let b = Subject::parse(Some("siti@example.id"), None).unwrap();
        assert_eq!(a.fingerprint(b"k"), b.fingerprint(b"k"));
        assert_ne!(a.fingerprint(b"k"), a.fingerprint(b"other key"));
        assert!(!a.fingerprint(b"k").contains("siti"));
        let p = Subject::parse(None, Some("+62 812 3456 7890")).unwrap();
        let q = Subject::parse(None, Some("0812-3456-7890")).unwrap();
        assert_eq!(p.fingerprint(b"k"), q.fingerprint(b"k"));
        assert!(p.mentioned_in("call me on 0812 3456 7890 please"));
        assert!(!p.mentioned_in("the water is 45 cm deep"));
        for (email, phone) in [
            (None, None),
            (Some("x"), None),
            (None, Some("12")),
            (Some("a@b"), Some("0812345678")),
        ] {
            assert!(Subject::parse(email, phone).is_err(), "{email:?} {phone:?}");
        }
    }
}
