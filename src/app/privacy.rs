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
    /// Reports whose contact details went (and the scans of their paper forms).
    pub contacts: Vec<i64>,
    pub photos: Vec<RemovedPhoto>,
    /// Files of the scans removed with them (empty for a dry run).
    pub scans: Vec<String>,
}

#[derive(Debug)]
pub struct RemovedPhoto {
    pub request_id: i64,
    pub media_id: String,
    /// A stored file; `None` for a link the client gave.
    pub file_name: Option<String>,
    /// Whether the report is still public (rejected but shown): its `updated_datetime` moves.
    pub public: bool,
}

impl RemovedPhoto {
    /// How operators and the audit log name it.
    pub fn name(&self) -> &str {
        self.file_name
            .as_deref()
            .unwrap_or("(a link the client gave)")
    }
}

/// The name retention's audit entries are made under.
const RETENTION: &str = "retention";

/// Reports (and photos) one retention transaction handles at most: the first pass after a city turns
/// retention on may find years of reports, and a transaction that long would hold every report waiting.
const RETENTION_BATCH: i64 = 500;

/// One retention pass over every jurisdiction, as of `now`. With `apply` false nothing is changed and the
/// answer says what would be. Each batch is selected and removed in one transaction, so a report reopened a
/// moment before keeps its reporter's details, and several processes may run passes at once; photo files
/// are deleted once their batch has committed. Photos are left alone (with a warning) when the data
/// directory has no media folder: a process started with the wrong `--data-dir` must not remove the rows
/// and leave the files behind.
pub async fn retention(
    state: &AppState,
    now: NaiveDateTime,
    apply: bool,
) -> Result<Removed, StoreError> {
    let media = crate::media::media_dir(&state.data_dir);
    let photos = media.is_dir();
    let scans_dir = super::staff::intake::scans_dir(&state.data_dir);
    let scans = scans_dir.is_dir();
    if !apply {
        return state
            .store
            .read(move |conn| select(conn, now, i64::MAX, photos, scans))
            .await;
    }
    let mut all = Removed::default();
    loop {
        let batch = state
            .store
            .write(move |conn| -> Result<_, StoreError> {
                let mut removed = select(conn, now, RETENTION_BATCH, photos, scans)?;
                removed.scans = remove(conn, &removed, scans)?;
                Ok(removed)
            })
            .await?;
        for photo in &batch.photos {
            let Some(file) = &photo.file_name else {
                continue;
            };
            match std::fs::remove_file(media.join(file)) {
                Ok(()) => {}
                Err(e) => {
                    tracing::warn!(file = %file, error = %e, "retention: a photo's file could not be deleted")
                }
            }
        }
        for file in &batch.scans {
            if let Err(e) = std::fs::remove_file(scans_dir.join(file)) {
                tracing::warn!(file = %file, error = %e, "retention: a scan's file could not be deleted");
            }
        }
        let done = batch.contacts.len() < RETENTION_BATCH as usize
            && batch.photos.len() < RETENTION_BATCH as usize;
        all.contacts.extend(batch.contacts);
        all.photos.extend(batch.photos);
        all.scans.extend(batch.scans);
        if done {
            return Ok(all);
        }
    }
}

/// Removes what `select` found, in its transaction, and audits each removal. Answers the files of the
/// scans it removed (only when their folder is there: `scans`).
fn remove(
    conn: &mut AnyConnection,
    removed: &Removed,
    scans: bool,
) -> Result<Vec<String>, StoreError> {
    pv::clear_contact(conn, &removed.contacts)?;
    pv::clear_commenters(conn, &removed.contacts)?;
    let scan_files = if scans {
        pv::delete_scans(conn, &removed.contacts)?
    } else {
        Vec::new()
    };
    let media_ids: Vec<String> = removed.photos.iter().map(|p| p.media_id.clone()).collect();
    pv::delete_media(conn, &media_ids)?;
    for id in &removed.contacts {
        record(
            conn,
            Actor::Operator(RETENTION),
            "contact details removed",
            Some(format!("request {id}")),
            Some("closed past the jurisdiction's contact_retention_days".into()),
        )?;
    }
    let mut touched = std::collections::BTreeSet::new();
    for photo in &removed.photos {
        record(
            conn,
            Actor::Operator(RETENTION),
            "photo removed",
            Some(format!("request {}", photo.request_id)),
            Some(format!(
                "{} (hidden or rejected past the jurisdiction's media_retention_days)",
                photo.name()
            )),
        )?;
        // A rejected report is still public: its media_url changes, so copies must look again.
        if photo.public && touched.insert(photo.request_id) {
            crate::store::requests::touch(conn, photo.request_id, super::now())?;
        }
    }
    Ok(scan_files)
}

/// The retention job of `serve` and `worker`: a pass every `every`, the first a minute after start.
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

/// What retention removes as of `now`, at most `limit` of each kind per jurisdiction.
fn select(
    conn: &mut AnyConnection,
    now: NaiveDateTime,
    limit: i64,
    photos: bool,
    scans: bool,
) -> Result<Removed, StoreError> {
    let mut removed = Removed::default();
    for j in pv::retention_periods(conn)? {
        if let Some(days) = j.contact_days {
            let before = now - TimeDelta::days(i64::from(days));
            removed.contacts.extend(pv::closed_with_contact(
                conn,
                &j.jurisdiction_id,
                before,
                limit,
                scans,
            )?);
        }
        if let Some(days) = j.media_days {
            let before = now - TimeDelta::days(i64::from(days));
            let mut found = pv::withdrawn_photos(conn, &j.jurisdiction_id, before, limit)?;
            // A full batch may end inside one report's photos: its last report waits for the next batch
            // whole, so that no report is left with part of its photos (and a new time that would hold the
            // rest back another period).
            if found.len() as i64 == limit {
                let last = found.last().map(|(m, _)| m.request_id);
                if found.iter().any(|(m, _)| Some(m.request_id) != last) {
                    found.retain(|(m, _)| Some(m.request_id) != last);
                }
            }
            for (m, public) in found {
                // Without the media folder, links go but stored files stay for a process that has it.
                if m.file_name.is_some() && !photos {
                    continue;
                }
                removed.photos.push(RemovedPhoto {
                    request_id: m.request_id,
                    media_id: m.id,
                    file_name: m.file_name,
                    public,
                });
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
    /// A subject from what an administrator typed, or why it cannot be one. Exactly one of the two; a
    /// value that is given must be valid (an empty one is a mistake, not an absence).
    pub fn parse(email: Option<&str>, phone: Option<&str>) -> Result<Subject, ApiError> {
        match (email, phone) {
            (Some(e), None) if e.contains('@') && e.chars().count() <= 254 => {
                Ok(Subject::Email(e.trim().to_lowercase()))
            }
            (Some(_), None) => Err(ApiError::invalid(
                "email",
                "email must be an e-mail address (at most 254 characters)",
            )),
            (None, Some(p)) if digits(p).len() >= 6 && p.chars().count() <= 40 => {
                Ok(Subject::Phone(p.trim().to_string()))
            }
            (None, Some(_)) => Err(ApiError::invalid(
                "phone",
                "phone must be a phone number of at least 6 digits (at most 40 characters)",
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

    /// Whether a report's stored e-mail or phone is this person's.
    fn holds(&self, email: Option<&str>, phone: Option<&str>) -> bool {
        match self {
            Subject::Email(e) => email.is_some_and(|stored| stored.trim().to_lowercase() == *e),
            Subject::Phone(p) => phone.is_some_and(|stored| same_number(p, stored)),
        }
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
    /// The comments on reports (servicerequestupdates) that held them.
    pub comments: usize,
    /// Texts (descriptions and free-text answers) replaced because they held personal data.
    pub texts_replaced: usize,
    /// The audit log's fingerprint of the subject.
    pub fingerprint: String,
    /// Scans of paper forms removed with the contact details.
    pub scans_removed: usize,
}

/// What a replaced text says instead.
pub const REMOVED_TEXT: &str = "[removed: personal data]";

/// Erases a person's data: contact fields of every report that holds them, and texts of those reports
/// that mention them or look like contact details. Reports stay public; a replaced text moves the report's
/// `updated_datetime` (stamped inside the transaction, after the scan), so that copies kept by the change
/// feed take the new text. The scan for candidates is a read; the write transaction checks each candidate
/// again as it sees it.
pub async fn erase_by(
    store: &crate::store::Store,
    data_dir: &std::path::Path,
    by: By,
    subject: Subject,
    secret: Vec<u8>,
) -> Result<Erased, StoreError> {
    let wanted = subject.clone();
    let candidates = store
        .read(move |conn| pv::candidates(conn, i64::MIN, |e, p| wanted.holds(e, p)))
        .await?;
    let scans_dir = super::staff::intake::scans_dir(data_dir);
    let scans = scans_dir.is_dir();
    let (erased, files) = store
        .write(move |conn| {
            let actor = match &by {
                By::Admin(admin) => Actor::Staff(admin),
                By::Operator(name) => Actor::Operator(name),
            };
            let mut erased = erase_in(conn, actor, &subject, &secret, &candidates)?;
            // The scans of the forms they wrote: their name and number are on them.
            let files = if scans {
                pv::delete_scans(conn, &erased.reports)?
            } else {
                Vec::new()
            };
            erased.scans_removed = files.len();
            Ok::<_, StoreError>((erased, files))
        })
        .await?;
    for file in &files {
        if let Err(e) = std::fs::remove_file(scans_dir.join(file)) {
            tracing::warn!(file = %file, error = %e, "erasure: a scan's file could not be deleted");
        }
    }
    Ok(erased)
}

/// Who erases.
pub enum By {
    Admin(Admin),
    /// At the command line, as they named themselves.
    Operator(String),
}

fn erase_in(
    conn: &mut AnyConnection,
    actor: Actor<'_>,
    subject: &Subject,
    secret: &[u8],
    candidates: &[i64],
) -> Result<Erased, StoreError> {
    // Reports stored since the scan are looked at here, in the transaction.
    let after = candidates.iter().copied().max().unwrap_or(i64::MIN);
    let mut ids = candidates.to_vec();
    ids.extend(pv::candidates(conn, after, |e, p| subject.holds(e, p))?);
    let touched: Vec<pv::Touched> = pv::touched(conn, &ids)?
        .into_iter()
        .filter(|t| subject.holds(t.email.as_deref(), t.phone.as_deref()))
        .collect();
    let ids: Vec<i64> = touched.iter().map(|t| t.id).collect();
    let now = super::now();
    let personal = |text: &str| subject.mentioned_in(text) || looks_like_contact(text);
    let mut texts_replaced = 0;
    // Comments they posted through an app or FixMyStreet, on anyone's report: their details go, and a text
    // that names them or carries contact details is replaced like a report's. Other people's comments on
    // the person's reports keep theirs.
    let comments = pv::erase_commenters(conn, |e, p| subject.holds(e, p))?;
    for c in &comments {
        if c.text.as_deref().is_some_and(personal) {
            pv::replace_comment(conn, &c.event_id, REMOVED_TEXT)?;
            texts_replaced += 1;
            crate::store::requests::touch(conn, c.request_id, now)?;
        }
    }
    pv::clear_contact(conn, &ids)?;
    for t in &touched {
        let mut changed = false;
        if t.description.as_deref().is_some_and(personal) {
            pv::replace_description(conn, t.id, REMOVED_TEXT)?;
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
            "{} report(s), {} comment(s); {texts_replaced} text(s) replaced",
            ids.len(),
            comments.len()
        )),
    )?;
    Ok(Erased {
        reports: ids,
        comments: comments.len(),
        texts_replaced,
        fingerprint,
        scans_removed: 0,
    })
}

/// Erasure over the staff API: administrators only.
pub async fn erase(state: &AppState, admin: &Admin, subject: Subject) -> Result<Erased, ApiError> {
    Ok(erase_by(
        &state.store,
        &state.data_dir,
        By::Admin(admin.clone()),
        subject,
        state.secret.clone(),
    )
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
            (Some(""), Some("0812345678")),
            (None, Some("12")),
            (None, Some("   ")),
            (Some("a@b"), Some("0812345678")),
        ] {
            assert!(Subject::parse(email, phone).is_err(), "{email:?} {phone:?}");
        }
    }
}
