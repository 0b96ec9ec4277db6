//! Reading requests: the list with its date window and paging rules, one request, tokens and photos.

use super::public::PublicService;
use super::{resolve_jurisdiction, AppState, JurisdictionCatalog, PublicRequest};
use crate::domain::{parse_w3c, Problem, Status};
use crate::error::ApiError;
use crate::store::requests::{
    self as rq, Area, PublicRow, RequestFilter, SyncFilter, SyncPosition,
};
use crate::store::{AnyConnection, StoreError};
use chrono::{DateTime, Duration, NaiveDateTime, Utc};

/// The spec's cap on one answer and on `page_size` (D9).
pub const MAX_PAGE_SIZE: i64 = 1000;
/// The widest requested-date window (D7).
pub const MAX_WINDOW_DAYS: i64 = 90;

/// The query parameters of GET requests, as given (empty values already dropped).
#[derive(Debug, Default, Clone)]
pub struct ListQuery {
    pub jurisdiction_id: Option<String>,
    pub service_request_ids: Option<Vec<String>>,
    pub service_codes: Option<Vec<String>>,
    pub statuses: Option<Vec<String>>,
    pub start_date: Option<String>,
    pub end_date: Option<String>,
    pub updated_after: Option<String>,
    pub updated_before: Option<String>,
    pub page: Option<String>,
    pub page_size: Option<String>,
    /// CogniCity's "the last N seconds": requested in [now − N s, now], instead of start and end dates.
    pub timeperiod: Option<String>,
    /// Where a sync reader stands (`sync_requests`); `0` from the beginning.
    pub cursor: Option<String>,
    /// `minlong,minlat,maxlong,maxlat` (RFC 7946's order), on the public point.
    pub bbox: Option<String>,
    /// A circle on the public point: its centre and radius in metres, all three together.
    pub lat: Option<String>,
    pub long: Option<String>,
    pub radius: Option<String>,
    /// The whole result, streamed a page at a time (`export`): no 1,000-report cap, no default window.
    pub all: bool,
    /// CitySDK's `locale`: service names and attribute questions in this language where translated.
    pub locale: Option<String>,
}

/// The widest circle a list may be asked for: a metropolitan region.
pub const MAX_RADIUS_M: f64 = 50_000.0;

/// The spatial filter of a list, if any, or its problems.
fn area(q: &ListQuery, problems: &mut Vec<Problem>) -> Option<Area> {
    let number = |raw: &str| raw.trim().parse::<f64>().ok().filter(|v| v.is_finite());
    let circle = [&q.lat, &q.long, &q.radius];
    let given = circle.iter().filter(|v| v.is_some()).count();
    if q.bbox.is_some() && given > 0 {
        problems.push(Problem::new(
            "bbox",
            "bbox and lat/long/radius are two ways to ask for an area: give one",
        ));
        return None;
    }
    if let Some(raw) = &q.bbox {
        let parts: Vec<Option<f64>> = raw.split(',').map(number).collect();
        return match parts[..] {
            [Some(min_long), Some(min_lat), Some(max_long), Some(max_lat)]
                if (-180.0..=180.0).contains(&min_long)
                    && (-180.0..=180.0).contains(&max_long)
                    && (-90.0..=90.0).contains(&min_lat)
                    && (-90.0..=90.0).contains(&max_lat)
                    && min_long <= max_long
                    && min_lat <= max_lat =>
            {
                Some(Area::Bbox {
                    min_long,
                    min_lat,
                    max_long,
                    max_lat,
                })
            }
            _ => {
                problems.push(Problem::new(
                    "bbox",
                    "bbox is minlong,minlat,maxlong,maxlat in degrees (west, south, east, north), \
                     each minimum at most its maximum",
                ));
                None
            }
        };
    }
    if given == 0 {
        return None;
    }
    let lat = q
        .lat
        .as_deref()
        .and_then(number)
        .filter(|v| (-90.0..=90.0).contains(v));
    let long = q
        .long
        .as_deref()
        .and_then(number)
        .filter(|v| (-180.0..=180.0).contains(v));
    let radius = q
        .radius
        .as_deref()
        .and_then(number)
        .filter(|v| *v > 0.0 && *v <= MAX_RADIUS_M);
    match (lat, long, radius) {
        (Some(lat), Some(long), Some(radius_m)) => Some(Area::Circle {
            lat,
            long,
            radius_m,
        }),
        _ => {
            for (name, value, raw, rule) in [
                (
                    "lat",
                    lat,
                    &q.lat,
                    "lat is a latitude in degrees, -90 to 90",
                ),
                (
                    "long",
                    long,
                    &q.long,
                    "long is a longitude in degrees, -180 to 180",
                ),
                (
                    "radius",
                    radius,
                    &q.radius,
                    "radius is in metres, more than 0 and at most 50000",
                ),
            ] {
                if value.is_none() {
                    problems.push(Problem::new(
                        name,
                        match raw {
                            None => format!("{name} is needed with lat, long and radius together"),
                            Some(_) => rule.to_string(),
                        },
                    ));
                }
            }
            None
        }
    }
}

/// Turns the parameters into a filter, applying the spec's window rules, or every problem found.
pub fn build_filter(
    q: &ListQuery,
    jurisdiction_id: String,
    now: DateTime<Utc>,
) -> Result<RequestFilter, Vec<Problem>> {
    let mut problems = Vec::new();
    let mut filter = RequestFilter {
        jurisdiction_id,
        limit: MAX_PAGE_SIZE,
        ..Default::default()
    };
    // A list of ids overrides every other filter (their windows and paging do not apply), but what the
    // others say must still make sense; ids that are not numbers cannot exist (D10).
    let ids: Option<Vec<i64>> = match &q.service_request_ids {
        Some(ids) if ids.len() > MAX_PAGE_SIZE as usize => {
            return Err(vec![Problem::new(
                "service_request_id",
                format!("at most {MAX_PAGE_SIZE} ids may be requested at once"),
            )]);
        }
        Some(ids) => Some(ids.iter().filter_map(|id| id.parse::<i64>().ok()).collect()),
        None => None,
    };
    let mut date = |field: &str, v: &Option<String>| {
        v.as_deref()
            .and_then(|s| parse_w3c(field, s).map_err(|p| problems.push(p)).ok())
    };
    let mut start = date("start_date", &q.start_date);
    let mut end = date("end_date", &q.end_date);
    let updated_after = date("updated_after", &q.updated_after);
    let updated_before = date("updated_before", &q.updated_before);
    let window = Duration::days(MAX_WINDOW_DAYS);
    if let Some(raw) = &q.timeperiod {
        match raw.trim().parse::<i64>() {
            _ if q.start_date.is_some() || q.end_date.is_some() => problems.push(Problem::new(
                "timeperiod",
                "timeperiod replaces start_date and end_date: give one or the other",
            )),
            Ok(secs) if (1..=window.num_seconds()).contains(&secs) => {
                (start, end) = (Some(now - Duration::seconds(secs)), Some(now));
            }
            _ => problems.push(Problem::new(
                "timeperiod",
                format!(
                    "timeperiod is a whole number of seconds from 1 to {} ({MAX_WINDOW_DAYS} days)",
                    window.num_seconds()
                ),
            )),
        }
    }
    match (start, end) {
        _ if ids.is_some() => {}
        (Some(s), Some(e)) if s > e => problems.push(Problem::new(
            "end_date",
            "end_date is earlier than start_date",
        )),
        (Some(s), Some(e)) if e - s > window && !q.all => problems.push(Problem::new(
            "end_date",
            format!("start_date and end_date may not span more than {MAX_WINDOW_DAYS} days"),
        )),
        (Some(s), Some(e)) => (filter.requested_from, filter.requested_to) = (naive(s), naive(e)),
        // A whole export reaches as far as it is asked to, and by default to the first report.
        (Some(s), None) if q.all => filter.requested_from = naive(s),
        (None, Some(e)) if q.all => filter.requested_to = naive(e),
        (None, None) if q.all => {}
        (Some(s), None) => {
            (filter.requested_from, filter.requested_to) = (naive(s), naive((s + window).min(now)))
        }
        (None, Some(e)) => {
            (filter.requested_from, filter.requested_to) = (naive(e - window), naive(e))
        }
        // Sync clients asking for what changed are not limited to the default requested window (§4.3).
        (None, None) if updated_after.is_some() || updated_before.is_some() => {}
        (None, None) => {
            (filter.requested_from, filter.requested_to) = (naive(now - window), naive(now))
        }
    }
    filter.updated_from = updated_after.and_then(naive);
    filter.updated_to = updated_before.and_then(naive);
    if let Some(statuses) = &q.statuses {
        for s in statuses {
            if Status::parse(s).is_none() && problems.iter().all(|p| p.field != "status") {
                let shown: String = s.chars().take(30).collect();
                problems.push(Problem::new(
                    "status",
                    format!("status '{shown}' is not one of open, closed"),
                ));
            }
        }
        let mut unique: Vec<String> = statuses.clone();
        unique.sort();
        unique.dedup();
        filter.statuses = Some(unique);
    }
    /// More codes than any city has services: a longer list is a mistake (and would exceed SQL parameter limits).
    const MAX_CODES: usize = 200;
    if let Some(codes) = &q.service_codes {
        // In arrival order, and in one pass that stops at the cap, however long the list.
        let mut seen = std::collections::HashSet::new();
        let mut unique: Vec<String> = Vec::new();
        for c in codes {
            if seen.insert(c.as_str()) {
                unique.push(c.clone());
                if unique.len() > MAX_CODES {
                    break;
                }
            }
        }
        if unique.len() > MAX_CODES {
            problems.push(Problem::new(
                "service_code",
                format!("at most {MAX_CODES} service codes may be given"),
            ));
        }
        filter.service_codes = Some(unique);
    }
    let page_size = page_size(&q.page_size, &mut problems);
    let page = match &q.page {
        None => 1,
        Some(v) => match v.trim().parse::<i64>() {
            Ok(n) if (1..=1_000_000).contains(&n) => n,
            _ => {
                problems.push(Problem::new(
                    "page",
                    "page must be a whole number from 1 (the first page)",
                ));
                1
            }
        },
    };
    filter.area = area(q, &mut problems);
    if q.all {
        for (name, given) in [("page", &q.page), ("page_size", &q.page_size)] {
            if given.is_some() {
                problems.push(Problem::new(
                    name,
                    format!("{name} does not go with all=true, which streams the whole result"),
                ));
            }
        }
    }
    filter.limit = page_size;
    filter.offset = (page - 1) * page_size;
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(match ids {
        Some(ids) => RequestFilter {
            jurisdiction_id: filter.jurisdiction_id,
            limit: MAX_PAGE_SIZE,
            ids: Some(ids),
            ..Default::default()
        },
        None => filter,
    })
}

fn page_size(raw: &Option<String>, problems: &mut Vec<Problem>) -> i64 {
    match raw {
        None => MAX_PAGE_SIZE,
        Some(v) => match v.trim().parse::<i64>() {
            Ok(n) if (1..=MAX_PAGE_SIZE).contains(&n) => n,
            _ => {
                problems.push(Problem::new(
                    "page_size",
                    format!("page_size must be a whole number from 1 to {MAX_PAGE_SIZE}"),
                ));
                MAX_PAGE_SIZE
            }
        },
    }
}

fn naive(t: DateTime<Utc>) -> Option<chrono::NaiveDateTime> {
    Some(t.naive_utc())
}

/// Pages of more reports than this are made at most `LARGE_PAGES_AT_ONCE` at a time.
const LARGE_PAGE: i64 = 200;
pub const LARGE_PAGES_AT_ONCE: usize = 2;

/// A page of reports, in the jurisdiction's UTC offset.
pub struct Page {
    pub zone: crate::domain::Zone,
    pub list: Vec<PublicRequest>,
    /// A large page's turn: kept until the answer has been written from it, so that no more than
    /// `LARGE_PAGES_AT_ONCE` large pages are in memory at once.
    pub turn: Option<tokio::sync::OwnedSemaphorePermit>,
    /// `Last-Modified`: now. A list can change without any report it shows changing (a report hidden or
    /// closed leaves it, the window moves with the clock), and a change stamped a moment ago may commit after
    /// a later one has been read: no earlier time is sure. Clients revalidate lists by their `ETag`.
    pub changed: DateTime<Utc>,
}

/// GET requests.
pub async fn list_requests(state: &AppState, q: ListQuery) -> Result<Page, ApiError> {
    let j =
        super::catalog::jurisdiction_in(state, q.jurisdiction_id.as_deref(), q.locale.as_deref())
            .await?;
    let now = Utc::now();
    let filter = build_filter(&q, j.jurisdiction.id.clone(), now)?;
    let (st, zone) = (state.clone(), j.jurisdiction.zone);
    // A large page is several megabytes while it is materialised and written; with every reader thread
    // making one for a crowd of clients at once, the server's memory would follow the crowd. The core is
    // shared anyway, so two at a time cost no throughput.
    let turn = if filter.limit > LARGE_PAGE {
        let turn = state.large_pages.clone().acquire_owned().await;
        Some(turn.map_err(|e| ApiError::Internal(anyhow::anyhow!("large pages: {e}")))?)
    } else {
        None
    };
    let list = state
        .store
        .read(move |conn| {
            let rows = rq::list_public(conn, &filter)?;
            project(conn, &st, &j, rows)
        })
        .await?;
    let changed = now;
    Ok(Page {
        zone,
        list,
        turn,
        changed,
    })
}

/// GET request: 404 for unknown ids and for requests that are not public (hidden, held for moderation).
/// Answers the report with the jurisdiction's offset and when what it shows last changed (the report, or
/// the catalogue that names its service).
pub async fn get_request(
    state: &AppState,
    jurisdiction_id: Option<&str>,
    id: &str,
    locale: Option<&str>,
) -> Result<(crate::domain::Zone, PublicRequest, DateTime<Utc>), ApiError> {
    let j = super::catalog::jurisdiction_in(state, jurisdiction_id, locale).await?;
    let offset = j.jurisdiction.zone;
    let catalog_changed = j.changeset.map(|t| t.and_utc());
    let not_found = || ApiError::no_request(id);
    let id: i64 = id.parse().map_err(|_| not_found())?;
    let st = state.clone();
    let found = state
        .store
        .read(move |conn| {
            let rows: Vec<PublicRow> = rq::get_public(conn, &j.jurisdiction.id, id)?
                .into_iter()
                .collect();
            project(conn, &st, &j, rows)
        })
        .await?;
    found
        .into_iter()
        .next()
        .map(|r| {
            let changed = catalog_changed.map_or(r.updated, |c| c.max(r.updated));
            (offset, r, changed)
        })
        .ok_or_else(not_found)
}

/// Loads answers, photos and service names for rows, in as many queries as there are tables.
fn project(
    conn: &mut AnyConnection,
    state: &AppState,
    catalog: &JurisdictionCatalog,
    rows: Vec<PublicRow>,
) -> Result<Vec<PublicRequest>, StoreError> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let mut rows = rows;
    // A duplicate points at its master only while the master itself is public: a hidden master's id says
    // that it exists.
    let masters: Vec<i64> = rows.iter().filter_map(|r| r.duplicate_of).collect();
    if !masters.is_empty() {
        let shown = rq::public_among(conn, &masters)?;
        for r in &mut rows {
            if r.duplicate_of.is_some_and(|m| !shown.contains(&m)) {
                r.duplicate_of = None;
            }
        }
    }
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let answers = rq::attributes_of(conn, &ids)?;
    let media = rq::media_of(conn, &ids)?;
    let events = rq::public_events(conn, &ids)?;
    let answers = by_request(answers, |a| a.request_id);
    let media = by_request(media, |m| m.request_id);
    let events = by_request(events, |e| e.request_id);
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let service = catalog.services.get(&row.service_code);
        let public = PublicService {
            name: service.map_or_else(|| row.service_code.clone(), |s| s.service.name.clone()),
            defs: service.map_or(&[][..], |s| &s.attributes[..]),
            precision_m: service.and_then(|s| s.service.public_precision_m),
        };
        let id = row.id;
        out.push(PublicRequest::build(
            state,
            row,
            public,
            answers.get(&id).map_or(&[][..], Vec::as_slice),
            media.get(&id).map_or(&[][..], Vec::as_slice),
            events.get(&id).map_or(&[][..], Vec::as_slice),
            catalog,
        ));
    }
    Ok(out)
}

/// Child rows grouped by their request, in their query order.
fn by_request<T>(rows: Vec<T>, id: impl Fn(&T) -> i64) -> std::collections::HashMap<i64, Vec<T>> {
    let mut map: std::collections::HashMap<i64, Vec<T>> = std::collections::HashMap::new();
    for r in rows {
        map.entry(id(&r)).or_default().push(r);
    }
    map
}

/// A whole result, read a page at a time in the list's order (`requests.csv?all=true`, the GeoJSON
/// equivalent, `civic311 export`): however many reports match, no more than one page is in memory.
pub struct Export {
    state: AppState,
    catalog: std::sync::Arc<JurisdictionCatalog>,
    filter: RequestFilter,
    done: bool,
    pub zone: crate::domain::Zone,
}

/// Reports read at once by an export.
const EXPORT_PAGE: i64 = 1000;

/// Checks an export's filters (those of the list, with `all`) and prepares it; nothing is read yet.
pub async fn export(state: &AppState, q: ListQuery) -> Result<Export, ApiError> {
    let j =
        super::catalog::jurisdiction_in(state, q.jurisdiction_id.as_deref(), q.locale.as_deref())
            .await?;
    let q = ListQuery { all: true, ..q };
    let mut filter = build_filter(&q, j.jurisdiction.id.clone(), Utc::now())?;
    filter.limit = EXPORT_PAGE;
    filter.offset = 0;
    Ok(Export {
        state: state.clone(),
        zone: j.jurisdiction.zone,
        catalog: j,
        filter,
        done: false,
    })
}

impl Export {
    /// How many reports the export holds now (for a progress bar; reports may arrive while it runs).
    pub async fn total(&self) -> Result<i64, ApiError> {
        let f = self.filter.clone();
        Ok(self
            .state
            .store
            .read(move |conn| rq::count_public(conn, &f))
            .await?)
    }

    /// The next page, or `None` at the end. Each page takes a large page's turn (`LARGE_PAGES_AT_ONCE`)
    /// while it is read and projected, so that exports share the server with large pages fairly.
    pub async fn next_page(&mut self) -> Result<Option<Vec<PublicRequest>>, ApiError> {
        if self.done {
            return Ok(None);
        }
        let _turn = self
            .state
            .large_pages
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| ApiError::Internal(anyhow::anyhow!("large pages: {e}")))?;
        let (st, j, f) = (
            self.state.clone(),
            self.catalog.clone(),
            self.filter.clone(),
        );
        let page = self
            .state
            .store
            .read(move |conn| {
                let rows = rq::list_public(conn, &f)?;
                project(conn, &st, &j, rows)
            })
            .await?;
        // An id list is one page whatever its length.
        self.done = (page.len() as i64) < EXPORT_PAGE || self.filter.ids.is_some();
        match page.last() {
            Some(last) => self.filter.before = Some((last.requested.naive_utc(), last.id)),
            None => self.done = true,
        }
        Ok((!page.is_empty()).then_some(page))
    }
}

/// How old a change must be before the sync feed shows it. A change's time is taken inside its transaction,
/// but concurrent transactions commit in their own order: one stamped at 10:00:00 may become visible after
/// one stamped 10:00:01 has been read, and a reader that had moved past 10:00:01 would never see it. Showing
/// only changes some seconds old closes that gap for any transaction shorter than this.
pub const SYNC_SETTLE_SECS: i64 = 5;

/// A position in the change order (`updated_at`, then id), as clients carry it: `SECONDS-ID` (or
/// `SECONDS.FRACTION-ID` for a time with a fraction), or `0` for the beginning. Plain on purpose: a mirror may
/// log it, and a person may start from a time they know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor(SyncPosition);

impl Cursor {
    pub fn start() -> Cursor {
        Cursor(SyncPosition {
            updated_at: DateTime::<Utc>::UNIX_EPOCH.naive_utc(),
            id: 0,
        })
    }

    fn at(updated: DateTime<Utc>, id: i64) -> Cursor {
        Cursor(SyncPosition {
            updated_at: updated.naive_utc(),
            id,
        })
    }

    pub fn parse(raw: &str) -> Option<Cursor> {
        let raw = raw.trim();
        if raw == "0" {
            return Some(Cursor::start());
        }
        let (time, id) = raw.split_once('-')?;
        let (secs, nanos) = match time.split_once('.') {
            Some((s, f)) if (1..=9).contains(&f.len()) && f.bytes().all(|b| b.is_ascii_digit()) => {
                (s, f.parse::<u32>().ok()? * 10u32.pow(9 - f.len() as u32))
            }
            Some(_) => return None,
            None => (time, 0u32),
        };
        // As the API describes it: seconds without leading zeros, up to eleven digits (before the year 9999,
        // past which SQLite's text times would not sort as times); an id up to eighteen.
        let digits = |s: &str, most: usize| {
            (1..=most).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
        };
        if !digits(secs, 11) || secs.starts_with('0') || !digits(id, 18) {
            return None;
        }
        let secs: i64 = secs.parse().ok()?;
        let id: i64 = id.parse().ok()?;
        Some(Cursor::at(DateTime::from_timestamp(secs, nanos)?, id))
    }
}

impl std::fmt::Display for Cursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if *self == Cursor::start() {
            return f.write_str("0");
        }
        let t = self.0.updated_at.and_utc();
        // Every writer stamps whole seconds; a fraction, should one ever be stored, is kept so that the row
        // it belongs to is not read again and again.
        match t.timestamp_subsec_nanos() {
            0 => write!(f, "{}-{}", t.timestamp(), self.0.id),
            ns => write!(f, "{}.{ns:09}-{}", t.timestamp(), self.0.id),
        }
    }
}

/// One change in a sync page.
pub enum SyncItem {
    Report(Box<PublicRequest>),
    /// A report that staff took down after it was published: a copy must drop it.
    Withdrawn {
        id: i64,
        updated: DateTime<Utc>,
    },
}

pub struct SyncPage {
    pub zone: crate::domain::Zone,
    pub items: Vec<SyncItem>,
    /// Where the next page begins: after the last item, or where this one began when it is empty.
    pub next: Cursor,
    /// A large page's turn (see `Page::turn`).
    pub turn: Option<tokio::sync::OwnedSemaphorePermit>,
}

/// Parameters that a sync page does not take. Its order and window are its own; a status filter would hide
/// a report's leaving that status from a copy that had it; and a service or area filter would tell, through
/// which withdrawn reports it lets through, where and what a report no longer public was.
const NOT_WITH_CURSOR: [&str; 13] = [
    "service_request_id",
    "service_code",
    "status",
    "start_date",
    "end_date",
    "updated_after",
    "updated_before",
    "timeperiod",
    "page",
    "bbox",
    "lat",
    "long",
    "radius",
];

/// GET requests with `cursor`: every change after the cursor, oldest first, reports that left the public
/// list among them as withdrawn, so that a copy kept by following the cursor is the public list exactly.
pub async fn sync_requests(state: &AppState, q: ListQuery) -> Result<SyncPage, ApiError> {
    let j =
        super::catalog::jurisdiction_in(state, q.jurisdiction_id.as_deref(), q.locale.as_deref())
            .await?;
    let mut problems = Vec::new();
    let given = [
        q.service_request_ids.is_some(),
        q.service_codes.is_some(),
        q.statuses.is_some(),
        q.start_date.is_some(),
        q.end_date.is_some(),
        q.updated_after.is_some(),
        q.updated_before.is_some(),
        q.timeperiod.is_some(),
        q.page.is_some(),
        q.bbox.is_some(),
        q.lat.is_some(),
        q.long.is_some(),
        q.radius.is_some(),
    ];
    for (name, _) in NOT_WITH_CURSOR.iter().zip(given).filter(|(_, g)| *g) {
        problems.push(Problem::new(
            *name,
            format!(
                "{name} cannot be combined with cursor: a sync page has its own order and window"
            ),
        ));
    }
    let cursor = q.cursor.as_deref().and_then(Cursor::parse);
    if cursor.is_none() {
        problems.push(Problem::new(
            "cursor",
            "cursor is 0 (from the beginning) or the Sync-Cursor header of the previous page",
        ));
    }
    let limit = page_size(&q.page_size, &mut problems);
    let Some(cursor) = cursor.filter(|_| problems.is_empty()) else {
        return Err(problems.into());
    };
    // Stamps are whole seconds: the horizon is too, so that a change is SYNC_SETTLE_SECS old at least.
    let now = super::now().and_utc();
    let filter = SyncFilter {
        jurisdiction_id: j.jurisdiction.id.clone(),
        after: cursor.0,
        until: (now - Duration::seconds(SYNC_SETTLE_SECS)).naive_utc(),
        limit,
    };
    let (st, zone) = (state.clone(), j.jurisdiction.zone);
    let turn = if limit > LARGE_PAGE {
        let turn = state.large_pages.clone().acquire_owned().await;
        Some(turn.map_err(|e| ApiError::Internal(anyhow::anyhow!("large pages: {e}")))?)
    } else {
        None
    };
    let items = state
        .store
        .read(move |conn| {
            let rows = rq::changed_since(conn, &filter)?;
            let order: Vec<(i64, NaiveDateTime, bool)> = rows
                .iter()
                .map(|(r, public)| (r.id, r.updated_at, *public))
                .collect();
            let public: Vec<PublicRow> = rows
                .into_iter()
                .filter_map(|(r, public)| public.then_some(r))
                .collect();
            let mut shown = project(conn, &st, &j, public)?.into_iter();
            Ok(order
                .into_iter()
                .map(|(id, updated, public)| match public {
                    true => shown.next().map_or(
                        SyncItem::Withdrawn {
                            id,
                            updated: updated.and_utc(),
                        },
                        |r| SyncItem::Report(Box::new(r)),
                    ),
                    false => SyncItem::Withdrawn {
                        id,
                        updated: updated.and_utc(),
                    },
                })
                .collect::<Vec<_>>())
        })
        .await?;
    let next = match items.last() {
        Some(SyncItem::Report(r)) => Cursor::at(r.updated, r.id),
        Some(SyncItem::Withdrawn { id, updated }) => Cursor::at(*updated, *id),
        None => cursor,
    };
    Ok(SyncPage {
        zone,
        items,
        next,
        turn,
    })
}

pub struct TokenLookup {
    pub token: String,
    pub service_request_id: Option<i64>,
}

/// GET tokens/{token}: the id once the report is public; a known token whose report is held answers with a
/// null id (D11) so that clients keep polling.
pub async fn resolve_token(
    state: &AppState,
    jurisdiction_id: Option<&str>,
    token: &str,
) -> Result<TokenLookup, ApiError> {
    let j = resolve_jurisdiction(state, jurisdiction_id).await?;
    let t = token.to_string();
    let found = state
        .store
        .read(move |conn| rq::by_token(conn, &j.id, &t))
        .await?;
    match found {
        Some((id, visible)) => Ok(TokenLookup {
            token: token.to_string(),
            service_request_id: visible.then_some(id),
        }),
        None => Err(ApiError::NotFound("token not found".into())),
    }
}

/// A stored photo of a public request: its content type and path.
pub async fn media_file(
    state: &AppState,
    file_name: &str,
) -> Result<(&'static str, std::path::PathBuf), ApiError> {
    let not_found = || ApiError::NotFound("media not found".into());
    let kind = crate::media::PhotoKind::from_file_name(file_name).ok_or_else(not_found)?;
    if !file_name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '.')
    {
        return Err(not_found());
    }
    let name = file_name.to_string();
    let row = state
        .store
        .read(move |conn| rq::public_media_file(conn, &name))
        .await?;
    row.ok_or_else(not_found)?;
    Ok((
        kind.content_type(),
        crate::media::media_dir(&state.data_dir).join(file_name),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        parse_w3c("now", "2026-06-01T00:00:00Z").unwrap()
    }

    fn q() -> ListQuery {
        ListQuery::default()
    }

    #[test]
    fn default_window_is_the_last_90_days() {
        let f = build_filter(&q(), "j".into(), now()).unwrap();
        assert_eq!(f.requested_to, naive(now()));
        assert_eq!(f.requested_from, naive(now() - Duration::days(90)));
        assert_eq!((f.offset, f.limit), (0, 1000));
    }

    #[test]
    fn timeperiod_is_the_last_seconds_and_replaces_the_dates() {
        let f = build_filter(
            &ListQuery {
                timeperiod: Some("3600".into()),
                ..q()
            },
            "j".into(),
            now(),
        )
        .unwrap();
        assert_eq!(f.requested_from, naive(now() - Duration::hours(1)));
        assert_eq!(f.requested_to, naive(now()));
        for (period, start) in [
            ("0", None),
            ("7776001", None),
            ("1h", None),
            ("60", Some("2026-05-01")),
        ] {
            let problems = build_filter(
                &ListQuery {
                    timeperiod: Some(period.into()),
                    start_date: start.map(Into::into),
                    ..q()
                },
                "j".into(),
                now(),
            )
            .unwrap_err();
            assert_eq!(problems[0].field, "timeperiod", "{period}");
        }
    }

    #[test]
    fn one_bound_opens_a_90_day_window() {
        let f = build_filter(
            &ListQuery {
                start_date: Some("2026-05-01".into()),
                ..q()
            },
            "j".into(),
            now(),
        )
        .unwrap();
        assert_eq!(f.requested_to, naive(now()));
        let f = build_filter(
            &ListQuery {
                end_date: Some("2026-01-01T00:00:00Z".into()),
                ..q()
            },
            "j".into(),
            now(),
        )
        .unwrap();
        assert_eq!(
            f.requested_from,
            naive(parse_w3c("x", "2025-10-03T00:00:00Z").unwrap())
        );
    }

    #[test]
    fn bad_windows_paging_and_statuses_are_all_reported() {
        let bad = ListQuery {
            start_date: Some("2026-01-01".into()),
            end_date: Some("2026-05-01".into()),
            statuses: Some(vec!["pending".into()]),
            page: Some("0".into()),
            page_size: Some("1001".into()),
            ..q()
        };
        let fields: Vec<String> = build_filter(&bad, "j".into(), now())
            .unwrap_err()
            .into_iter()
            .map(|p| p.field)
            .collect();
        assert_eq!(fields, ["end_date", "status", "page_size", "page"]);
    }

    #[test]
    fn ids_override_every_other_filter_that_makes_sense() {
        // A start years ago (past the 90-day window), a status and a page: all overridden by the ids.
        let f = build_filter(
            &ListQuery {
                service_request_ids: Some(vec!["3".into(), "x".into()]),
                statuses: Some(vec!["closed".into()]),
                start_date: Some("2020-01-01T00:00:00Z".into()),
                page: Some("3".into()),
                ..q()
            },
            "j".into(),
            now(),
        )
        .unwrap();
        assert_eq!(f.ids, Some(vec![3]));
        assert_eq!(f.requested_from, None);
        assert_eq!(f.statuses, None);
        assert_eq!(f.offset, 0);
        // What does not make sense is still a 400, as without ids (found by the schema-driven run).
        let bad = build_filter(
            &ListQuery {
                service_request_ids: Some(vec!["3".into()]),
                statuses: Some(vec!["bogus".into()]),
                page: Some("0".into()),
                ..q()
            },
            "j".into(),
            now(),
        )
        .unwrap_err();
        let fields: Vec<&str> = bad.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(fields, ["status", "page"]);
    }

    #[test]
    fn updated_filters_drop_the_default_window() {
        let f = build_filter(
            &ListQuery {
                updated_after: Some("2020-01-01T00:00:00Z".into()),
                ..q()
            },
            "j".into(),
            now(),
        )
        .unwrap();
        assert_eq!(f.requested_from, None);
        assert!(f.updated_from.is_some());
    }

    #[test]
    fn cursors_read_back_what_they_write() {
        for raw in [
            "0",
            "1796029200-17",
            "1796029200.250000000-3",
            "1796029200.000000001-3",
        ] {
            let c = Cursor::parse(raw).unwrap();
            assert_eq!(c.to_string(), raw);
        }
        assert_eq!(
            Cursor::parse("1796029200.25-3").unwrap().to_string(),
            "1796029200.250000000-3"
        );
        for bad in [
            "",
            "x",
            "12-",
            "-5-3",
            "12--3",
            "1.-3",
            "1.1234567890-3",
            "+5-3",
            "253402300800-1",
            "99999999999999999999-1",
            "0-5",
            "05-3",
            "1-1234567890123456789",
        ] {
            assert!(Cursor::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn page_maps_to_offset() {
        let f = build_filter(
            &ListQuery {
                page: Some("3".into()),
                page_size: Some("50".into()),
                ..q()
            },
            "j".into(),
            now(),
        )
        .unwrap();
        assert_eq!((f.offset, f.limit), (100, 50));
    }
}
