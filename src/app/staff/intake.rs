//! Reports typed in by staff and volunteers for people without a smartphone: a paper form, a phone call, a
//! walk-in at the district office, a volunteer's notebook. They go through the same use case as an app's
//! POST (validation, routing, e-mail, open data); what differs is kept beside them: the channel, the time
//! the citizen saw the problem, who typed it in, and the reporter's consent to be contacted. Scans of paper
//! forms are stored like photos but only staff can read them.

use super::{now, recheck, Principal};
use crate::app::audit::{record, Actor};
use crate::app::{self, AppState, Entered, PhotoUpload, Source, Submitted};
use crate::domain::{parse_w3c, NewRequest, RawRequest};
use crate::error::ApiError;
use crate::store::requests as rq;
use chrono::{DateTime, TimeDelta, Utc};

/// How a report reached the person typing it in.
pub const CHANNELS: &[&str] = &[
    "paper",
    "phone",
    "walk_in",
    "volunteer",
    "sms",
    "chat",
    "email",
];

/// Most forms in one batch call.
pub const MAX_BATCH: usize = 100;

/// How far back an observed time may lie: paper forms collected in a kampung can take weeks to arrive.
const MAX_OBSERVED_AGE_DAYS: i64 = 366;

/// One form as staff typed it: the Open311 fields and what assisted intake adds.
#[derive(Debug, Default)]
pub struct AssistedForm {
    pub report: RawRequest,
    pub channel: Option<String>,
    pub observed_at: Option<String>,
    pub contact_consent: Option<bool>,
}

/// What staff get back for a form: the report and what to write on the citizen's receipt.
#[derive(Debug, Clone)]
pub struct Entry {
    pub submitted: Submitted,
    pub receipt: String,
}

/// Entering reports, and adding the scans of their forms, is for intake clerks, dispatchers and administrators.
pub fn may_enter(p: &Principal) -> Result<(), ApiError> {
    if p.role.may_enter_reports() {
        return Ok(());
    }
    Err(ApiError::NotAllowed(
        "entering reports and their scans needs the intake, dispatcher or administrator role"
            .into(),
    ))
}

/// Checks the assisted-intake fields and turns a form into the report and its source.
fn prepare(p: &Principal, form: AssistedForm) -> Result<(NewRequest, Source), ApiError> {
    may_enter(p)?;
    let channel = form
        .channel
        .ok_or_else(|| ApiError::invalid("channel", "channel is required"))?;
    if !CHANNELS.contains(&channel.as_str()) {
        let shown: String = channel.chars().take(30).collect();
        return Err(ApiError::invalid(
            "channel",
            format!("channel '{shown}' is not one of {}", CHANNELS.join(", ")),
        ));
    }
    let observed_at = form
        .observed_at
        .as_deref()
        .map(|v| parse_w3c("observed_at", v))
        .transpose()?;
    if let Some(t) = observed_at {
        check_observed(t, now().and_utc())?;
    }
    let mut report = form.report;
    if report.jurisdiction_id.is_none() {
        report.jurisdiction_id = p.jurisdiction_id.clone();
    }
    let c = &report.contact;
    let gives_contact =
        c.email.is_some() || c.phone.is_some() || c.first_name.is_some() || c.last_name.is_some();
    if gives_contact && form.contact_consent != Some(true) {
        return Err(ApiError::invalid(
            "contact_consent",
            "contact details are kept only when the reporter agreed to be contacted (contact_consent: true)",
        ));
    }
    if c.device_id.is_some() || c.account_id.is_some() {
        return Err(ApiError::invalid(
            "device_id",
            "device_id and account_id belong to apps; a form entered by staff has neither",
        ));
    }
    let mut new = NewRequest::try_from(report)?;
    // Idempotency keys are per account: two clerks numbering their forms alike must not meet.
    new.idempotency_key = new.idempotency_key.map(|k| format!("{}:{k}", p.user_id));
    let source = Source::assisted(
        &channel,
        Entered {
            by: p.clone(),
            observed_at,
            consent: form.contact_consent,
            scans: Vec::new(),
        },
    );
    Ok((new, source))
}

/// An observed time is the citizen's own, so it cannot lie in the future (five minutes of clock skew
/// allowed) nor further back than a year.
fn check_observed(t: DateTime<Utc>, now: DateTime<Utc>) -> Result<(), ApiError> {
    if t > now + TimeDelta::minutes(5) {
        return Err(ApiError::invalid(
            "observed_at",
            "observed_at lies in the future",
        ));
    }
    if t < now - TimeDelta::days(MAX_OBSERVED_AGE_DAYS) {
        return Err(ApiError::invalid(
            "observed_at",
            format!("observed_at lies more than {MAX_OBSERVED_AGE_DAYS} days back"),
        ));
    }
    Ok(())
}

/// One form, with photos of the problem and scans of the form itself.
pub async fn enter(
    state: &AppState,
    p: &Principal,
    form: AssistedForm,
    photos: Vec<PhotoUpload>,
    scans: Vec<PhotoUpload>,
) -> Result<Entry, ApiError> {
    let (new, mut source) = prepare(p, form)?;
    // Scans are checked and written before the report, and their rows commit with it: a bad file refuses
    // the whole form, like a bad photo, and a report is never stored without the scans sent with it.
    let mut rows = Vec::new();
    for (bytes, kind) in read_scans(scans).await? {
        match write_scan_file(state, p, 0, bytes, kind).await {
            Ok(row) => rows.push(row),
            Err(e) => {
                discard_scan_files(&state.data_dir, &rows);
                return Err(e);
            }
        }
    }
    source.attach_scans(rows);
    let submitted = app::submit(state, source, new, photos).await?;
    let receipt = receipt(state, &submitted).await?;
    Ok(Entry { submitted, receipt })
}

/// Many forms in one call, each stored or refused on its own: one bad form costs only itself.
pub async fn enter_batch(
    state: &AppState,
    p: &Principal,
    forms: Vec<Result<AssistedForm, ApiError>>,
) -> Result<Vec<Result<Entry, ApiError>>, ApiError> {
    may_enter(p)?;
    if forms.is_empty() || forms.len() > MAX_BATCH {
        return Err(ApiError::invalid(
            "reports",
            format!("a batch holds 1 to {MAX_BATCH} forms"),
        ));
    }
    let mut out = Vec::with_capacity(forms.len());
    for form in forms {
        out.push(match form {
            Ok(form) => enter(state, p, form, Vec::new(), Vec::new()).await,
            Err(e) => Err(e),
        });
    }
    Ok(out)
}

/// The text for the citizen's paper receipt, in the jurisdiction's language.
async fn receipt(state: &AppState, s: &Submitted) -> Result<String, ApiError> {
    let id = s.id;
    let row = state
        .store
        .read(move |conn| rq::get_any(conn, id))
        .await?
        .ok_or_else(|| ApiError::no_request(id))?;
    let catalog = app::catalog::jurisdiction(state, Some(&row.jurisdiction_id)).await?;
    let lang = crate::domain::i18n::Lang::of(&catalog.jurisdiction.language);
    let service = catalog
        .services
        .get(&row.service_code)
        .map_or_else(|| row.service_code.clone(), |s| s.service.name.clone());
    Ok(crate::domain::i18n::receipt(
        lang,
        &s.reference_code,
        &service,
        &crate::domain::format_w3c(
            DateTime::from_naive_utc_and_offset(row.requested_at, Utc),
            catalog.jurisdiction.zone,
        ),
    ))
}

/// A scan's bytes and kind: an image, cleaned of its metadata like a photo, or a PDF as the scanner made it.
async fn read_scans(scans: Vec<PhotoUpload>) -> Result<Vec<(Vec<u8>, ScanKind)>, ApiError> {
    if scans.is_empty() {
        return Ok(Vec::new());
    }
    crate::telemetry::spawn_blocking(move || {
        let mut out = Vec::new();
        for (i, s) in scans.into_iter().enumerate() {
            let bytes =
                std::fs::read(&s.file).map_err(|e| ApiError::from_io(e, "reading a scan"))?;
            out.push(check_scan(bytes, i + 1)?);
        }
        Ok(out)
    })
    .await
    .map_err(|e| ApiError::Internal(anyhow::anyhow!("scan task failed: {e}")))?
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScanKind {
    Photo(crate::media::PhotoKind),
    Pdf,
}

impl ScanKind {
    pub fn content_type(self) -> &'static str {
        match self {
            ScanKind::Photo(k) => k.content_type(),
            ScanKind::Pdf => "application/pdf",
        }
    }

    fn extension(self) -> &'static str {
        match self {
            ScanKind::Photo(k) => k.extension(),
            ScanKind::Pdf => "pdf",
        }
    }
}

fn check_scan(bytes: Vec<u8>, index: usize) -> Result<(Vec<u8>, ScanKind), ApiError> {
    if bytes.starts_with(b"%PDF-") {
        return Ok((bytes, ScanKind::Pdf));
    }
    match crate::media::clean(bytes, index) {
        Ok(c) => Ok((c.bytes.to_vec(), ScanKind::Photo(c.kind))),
        Err(_) => Err(ApiError::invalid(
            "scan",
            format!("scan {index} is not a readable JPEG, PNG, WebP or PDF file"),
        )),
    }
}

/// Where scans live: apart from photos, which the public media route serves.
pub fn scans_dir(data_dir: &std::path::Path) -> std::path::PathBuf {
    data_dir.join("scans")
}

/// A scan as staff see it listed with its report.
#[derive(Debug, Clone)]
pub struct ScanInfo {
    pub id: String,
    pub content_type: String,
    pub byte_size: i64,
    pub uploaded_by: String,
    pub uploaded_at: DateTime<Utc>,
}

/// Writes a scan's file durably and returns the row that will point at it; nothing refers to the file until
/// that row commits, so whoever gets the row deletes the file when its transaction fails.
async fn write_scan_file(
    state: &AppState,
    p: &Principal,
    request_id: i64,
    bytes: Vec<u8>,
    kind: ScanKind,
) -> Result<rq::ScanRow, ApiError> {
    let file_name = format!("{}.{}", crate::auth::random_id(32), kind.extension());
    let size = bytes.len() as i64;
    let (dir, name) = (scans_dir(&state.data_dir), file_name.clone());
    crate::telemetry::spawn_blocking(move || crate::media::store(&dir, &name, &bytes))
        .await
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("scan task failed: {e}")))?
        .map_err(|e| ApiError::from_io(e, "storing a scan"))?;
    Ok(rq::ScanRow {
        id: crate::auth::random_id(24),
        request_id,
        file_name,
        content_type: kind.content_type().into(),
        byte_size: size,
        uploaded_by: p.username.clone(),
        // To the microsecond: scans are listed in the order they came, and a form's pages come within a
        // second.
        uploaded_at: chrono::Utc::now().naive_utc(),
    })
}

/// Deletes scan files whose rows did not commit.
pub fn discard_scan_files(data_dir: &std::path::Path, rows: &[rq::ScanRow]) {
    let dir = scans_dir(data_dir);
    for r in rows {
        let _ = std::fs::remove_file(dir.join(&r.file_name));
    }
}

/// Records a scan's row and its audit entry (inside the caller's transaction).
pub fn insert_scan(
    conn: &mut crate::store::AnyConnection,
    who: &Principal,
    row: &rq::ScanRow,
) -> Result<(), crate::store::StoreError> {
    rq::insert_scan(conn, row)?;
    record(
        conn,
        Actor::Staff(who),
        "add scan",
        Some(format!("request {}", row.request_id)),
        Some(format!("scan {}", row.id)),
    )
}

impl From<&rq::ScanRow> for ScanInfo {
    fn from(s: &rq::ScanRow) -> Self {
        ScanInfo {
            id: s.id.clone(),
            content_type: s.content_type.clone(),
            byte_size: s.byte_size,
            uploaded_by: s.uploaded_by.clone(),
            uploaded_at: DateTime::from_naive_utc_and_offset(s.uploaded_at, Utc),
        }
    }
}

/// Adds a scan of the paper form to a report the caller sees (a batch entry's scans come this way).
pub async fn add_scan(
    state: &AppState,
    p: &Principal,
    id: i64,
    scan: PhotoUpload,
) -> Result<(ScanInfo, crate::domain::Zone), ApiError> {
    may_enter(p)?;
    let row = state.store.read(move |conn| rq::get_any(conn, id)).await?;
    let Some(row) = row.filter(|r| p.sees(r)) else {
        return Err(ApiError::no_request(id));
    };
    let zone = super::triage::zone_of(state, &row.jurisdiction_id).await;
    let mut scans = read_scans(vec![scan]).await?;
    let (bytes, kind) = scans
        .pop()
        .ok_or_else(|| ApiError::invalid("scan", "no scan was sent"))?;
    let row = write_scan_file(state, p, id, bytes, kind).await?;
    let (who, stored_row) = (p.clone(), row.clone());
    let stored = state
        .store
        .write(move |conn| -> Result<(), ApiError> {
            recheck(conn, &who, id)?;
            insert_scan(conn, &who, &stored_row)?;
            Ok(())
        })
        .await;
    if let Err(e) = stored {
        discard_scan_files(&state.data_dir, std::slice::from_ref(&row));
        return Err(e);
    }
    Ok((ScanInfo::from(&row), zone))
}

/// A report's scans, for its staff view.
pub fn scans_of(
    conn: &mut crate::store::AnyConnection,
    id: i64,
) -> Result<Vec<ScanInfo>, crate::store::StoreError> {
    Ok(rq::scans_of(conn, id)?.iter().map(ScanInfo::from).collect())
}

/// One scan's file, for a caller who sees its report. Reading it is audited: a form carries the reporter's
/// name and number.
pub async fn scan_file(
    state: &AppState,
    p: &Principal,
    id: i64,
    scan_id: &str,
) -> Result<(String, std::path::PathBuf), ApiError> {
    let (who, sid) = (p.clone(), scan_id.to_string());
    let row = state
        .store
        .write(move |conn| -> Result<_, ApiError> {
            recheck(conn, &who, id)?;
            let scan = rq::scans_of(conn, id)?
                .into_iter()
                .find(|s| s.id == sid)
                .ok_or_else(|| ApiError::NotFound("scan not found".into()))?;
            record(
                conn,
                Actor::Staff(&who),
                "read scan",
                Some(format!("request {id}")),
                Some(format!("scan {sid}")),
            )?;
            Ok(scan)
        })
        .await?;
    Ok((
        row.content_type,
        scans_dir(&state.data_dir).join(row.file_name),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observed_times_are_the_citizens_own() {
        let now = parse_w3c("t", "2026-12-07T10:00:00Z").unwrap();
        assert!(check_observed(now - TimeDelta::days(30), now).is_ok());
        assert!(check_observed(now + TimeDelta::minutes(4), now).is_ok());
        assert!(check_observed(now + TimeDelta::hours(1), now).is_err());
        assert!(check_observed(now - TimeDelta::days(400), now).is_err());
    }

    #[test]
    fn scans_are_images_or_pdfs() {
        assert_eq!(
            check_scan(b"%PDF-1.7\n...".to_vec(), 1).unwrap().1,
            ScanKind::Pdf
        );
        assert!(check_scan(b"<html>".to_vec(), 1).is_err());
        let jpeg = crate::media::tests::jpeg_with_exif();
        assert!(matches!(
            check_scan(jpeg, 1).unwrap().1,
            ScanKind::Photo(crate::media::PhotoKind::Jpeg)
        ));
    }
}
