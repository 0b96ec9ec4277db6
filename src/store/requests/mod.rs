//! Service requests, their attribute answers, media and idempotency keys.

mod staff;

pub use staff::*;

use super::schema::{idempotency_keys, request_attributes, request_media, requests};
use super::{insert_rows, per_backend, AnyConnection, StoreError};
use chrono::NaiveDateTime;
use diesel::prelude::*;

pub(crate) type Db = <AnyConnection as diesel::Connection>::Backend;

/// A stored request with every column, personal data included: it never leaves `app/` except through the
/// public or staff projections.
#[derive(Clone, Queryable, Selectable)]
#[diesel(table_name = requests, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct RequestRow {
    pub id: i64,
    pub jurisdiction_id: String,
    pub service_code: String,
    pub status: String,
    pub detailed_status: String,
    pub status_notes: Option<String>,
    pub description: Option<String>,
    pub agency_responsible: Option<String>,
    pub service_notice: Option<String>,
    pub requested_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub expected_at: Option<NaiveDateTime>,
    pub address: Option<String>,
    pub address_id: Option<String>,
    pub zipcode: Option<String>,
    pub lat: Option<f64>,
    pub long: Option<f64>,
    pub token: Option<String>,
    pub api_key_id: String,
    pub channel: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub device_id_hash: Option<String>,
    pub account_id: Option<String>,
    pub hidden: bool,
    pub moderation_state: String,
    pub department_code: Option<String>,
    /// The routing decision as JSON (`routing::RoutingTrace`).
    pub routing_trace: Option<String>,
    /// 0 (none) to 5 (urgent), set by staff.
    pub priority: i32,
    /// The master report when staff marked this one a duplicate.
    pub duplicate_of: Option<i64>,
    /// When staff typed it in, for a report whose `requested_at` is the citizen's own time.
    pub entered_at: Option<NaiveDateTime>,
    /// The staff account that entered it on someone's behalf.
    pub entered_by: Option<String>,
    pub contact_consent: Option<bool>,
}

/// The columns a public answer is made of, and nothing else: the public read path never loads contact
/// details, the routing trace or staff fields (half the columns, and the half with the long strings).
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = requests, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct PublicRow {
    pub id: i64,
    pub service_code: String,
    pub status: String,
    pub detailed_status: String,
    pub status_notes: Option<String>,
    pub description: Option<String>,
    pub agency_responsible: Option<String>,
    pub service_notice: Option<String>,
    #[diesel(deserialize_as = super::stamp::Stamp)]
    pub requested_at: NaiveDateTime,
    #[diesel(deserialize_as = super::stamp::Stamp)]
    pub updated_at: NaiveDateTime,
    pub expected_at: Option<NaiveDateTime>,
    pub address: Option<String>,
    pub address_id: Option<String>,
    pub zipcode: Option<String>,
    pub lat: Option<f64>,
    pub long: Option<f64>,
    pub channel: Option<String>,
    pub duplicate_of: Option<i64>,
    /// The point public answers show (the spatial filters test it too).
    pub public_lat: Option<f64>,
    pub public_long: Option<f64>,
}

// `treat_none_as_default_value = false`: a `None` is bound as NULL instead of leaving the column out, so that
// the statement has one shape (prepared once, cached) and rows can be inserted several at a time on SQLite.
#[derive(Clone, Insertable)]
#[diesel(table_name = requests, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
#[diesel(treat_none_as_default_value = false)]
pub struct NewRequestRow {
    pub jurisdiction_id: String,
    pub service_code: String,
    pub status: String,
    pub detailed_status: String,
    pub description: Option<String>,
    pub service_notice: Option<String>,
    pub requested_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub expected_at: Option<NaiveDateTime>,
    pub address: Option<String>,
    pub address_id: Option<String>,
    pub zipcode: Option<String>,
    pub lat: Option<f64>,
    pub long: Option<f64>,
    pub token: Option<String>,
    pub api_key_id: String,
    pub channel: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub device_id_hash: Option<String>,
    pub account_id: Option<String>,
    pub agency_responsible: Option<String>,
    pub department_code: Option<String>,
    pub routing_trace: Option<String>,
    /// `pending` until staff publish it (reports of `batch` services), else `published`.
    pub moderation_state: String,
    /// The point public answers show (`domain::coarsen` for services published on a grid).
    pub public_lat: Option<f64>,
    pub public_long: Option<f64>,
    pub entered_at: Option<NaiveDateTime>,
    pub entered_by: Option<String>,
    pub contact_consent: Option<bool>,
}

/// Rows with contact details print without them: a `{:?}` in a log line must not leak a reporter.
impl std::fmt::Debug for RequestRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestRow")
            .field("id", &self.id)
            .field("jurisdiction_id", &self.jurisdiction_id)
            .field("service_code", &self.service_code)
            .field("status", &self.status)
            .field("requested_at", &self.requested_at)
            .field("department_code", &self.department_code)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for NewRequestRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewRequestRow")
            .field("jurisdiction_id", &self.jurisdiction_id)
            .field("service_code", &self.service_code)
            .field("requested_at", &self.requested_at)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = request_attributes, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
#[diesel(treat_none_as_default_value = false)]
pub struct AttributeValueRow {
    pub request_id: i64,
    pub code: String,
    pub position: i32,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = request_media, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
#[diesel(treat_none_as_default_value = false)]
pub struct MediaRow {
    pub id: String,
    pub request_id: i64,
    pub position: i32,
    /// A URL the client gave; stored as given, never fetched.
    pub external_url: Option<String>,
    /// A photo stored by this server under the data directory.
    pub file_name: Option<String>,
    pub content_type: Option<String>,
    pub byte_size: Option<i64>,
}

/// Which requests a public listing wants. Absent filters do not restrict.
#[derive(Debug, Clone, Default)]
pub struct RequestFilter {
    pub jurisdiction_id: String,
    pub ids: Option<Vec<i64>>,
    pub service_codes: Option<Vec<String>>,
    pub statuses: Option<Vec<String>>,
    pub requested_from: Option<NaiveDateTime>,
    pub requested_to: Option<NaiveDateTime>,
    pub updated_from: Option<NaiveDateTime>,
    pub updated_to: Option<NaiveDateTime>,
    /// Only reports whose public point lies here.
    pub area: Option<Area>,
    /// Only reports after this (`requested_at`, `id`) in the list's order: where a streamed export stands.
    pub before: Option<(NaiveDateTime, i64)>,
    pub offset: i64,
    pub limit: i64,
}

/// A spatial filter on the public point (reports without a point never match).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Area {
    Bbox {
        min_long: f64,
        min_lat: f64,
        max_long: f64,
        max_lat: f64,
    },
    Circle {
        lat: f64,
        long: f64,
        radius_m: f64,
    },
}

impl Area {
    /// The box that holds the area, for the index-friendly half of the test.
    fn bounds(self) -> (f64, f64, f64, f64) {
        match self {
            Area::Bbox {
                min_long,
                min_lat,
                max_long,
                max_lat,
            } => (min_long, min_lat, max_long, max_lat),
            Area::Circle {
                lat,
                long,
                radius_m,
            } => {
                let dlat = radius_m / crate::domain::METRES_PER_DEGREE;
                let dlong = radius_m / (crate::domain::METRES_PER_DEGREE * metres_scale(lat));
                (long - dlong, lat - dlat, long + dlong, lat + dlat)
            }
        }
    }
}

/// How much shorter a degree of longitude is than one of latitude at `lat`.
fn metres_scale(lat: f64) -> f64 {
    lat.to_radians().cos().max(0.01)
}

/// Adds an `Area` to a boxed query: the bounding box on the public point, and for a circle the distance,
/// on a plane tangent at its centre (exact to well under a metre at a city's scale, and plain arithmetic
/// that SQLite and PostgreSQL both evaluate).
macro_rules! within_area {
    ($q:expr, $area:expr) => {{
        let mut q = $q;
        if let Some(area) = $area {
            let (min_long, min_lat, max_long, max_lat) = area.bounds();
            q = q
                .filter(requests::public_lat.ge(min_lat))
                .filter(requests::public_lat.le(max_lat))
                .filter(requests::public_long.ge(min_long))
                .filter(requests::public_long.le(max_long));
            if let Area::Circle {
                lat,
                long,
                radius_m,
            } = area
            {
                use diesel::sql_types::Double;
                let ky = crate::domain::METRES_PER_DEGREE;
                let kx = ky * metres_scale(lat);
                q = q.filter(
                    diesel::dsl::sql::<diesel::sql_types::Bool>("((public_lat - ")
                        .bind::<Double, _>(lat)
                        .sql(") * ")
                        .bind::<Double, _>(ky)
                        .sql(") * ((public_lat - ")
                        .bind::<Double, _>(lat)
                        .sql(") * ")
                        .bind::<Double, _>(ky)
                        .sql(") + ((public_long - ")
                        .bind::<Double, _>(long)
                        .sql(") * ")
                        .bind::<Double, _>(kx)
                        .sql(") * ((public_long - ")
                        .bind::<Double, _>(long)
                        .sql(") * ")
                        .bind::<Double, _>(kx)
                        .sql(") <= ")
                        .bind::<Double, _>(radius_m * radius_m),
                );
            }
        }
        q
    }};
}

/// Publicly visible: not hidden by staff and published by moderation.
fn public() -> diesel::dsl::And<
    diesel::dsl::Eq<requests::hidden, bool>,
    diesel::dsl::Eq<requests::moderation_state, &'static str>,
> {
    requests::hidden
        .eq(false)
        .and(requests::moderation_state.eq("published"))
}

/// Inserts a request and returns its id.
pub fn insert(conn: &mut AnyConnection, row: &NewRequestRow) -> Result<i64, StoreError> {
    Ok(per_backend!(conn, |c| diesel::insert_into(
        requests::table
    )
    .values(row)
    .returning(requests::id)
    .get_result(c))?)
}

pub fn insert_attributes(
    conn: &mut AnyConnection,
    rows: &[AttributeValueRow],
) -> Result<(), StoreError> {
    insert_rows!(conn, request_attributes::table, rows)
}

pub fn insert_media(conn: &mut AnyConnection, rows: &[MediaRow]) -> Result<(), StoreError> {
    insert_rows!(conn, request_media::table, rows)
}

/// A scan of the paper form a report was typed in from: staff only, never in a public answer.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = super::schema::request_scans, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct ScanRow {
    pub id: String,
    pub request_id: i64,
    pub file_name: String,
    pub content_type: String,
    pub byte_size: i64,
    pub uploaded_by: String,
    pub uploaded_at: NaiveDateTime,
}

/// The contact details of a citizen who commented on a report (servicerequestupdates): staff only.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = super::schema::update_contacts, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct UpdateContactRow {
    pub event_id: String,
    pub request_id: i64,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
}

pub fn insert_update_contact(
    conn: &mut AnyConnection,
    event_id: &str,
    request_id: i64,
    c: &crate::domain::Contact,
) -> Result<(), StoreError> {
    use super::schema::update_contacts as uc;
    let row = UpdateContactRow {
        event_id: event_id.to_string(),
        request_id,
        email: c.email.clone(),
        phone: c.phone.clone(),
        first_name: c.first_name.clone(),
        last_name: c.last_name.clone(),
    };
    per_backend!(conn, |c| diesel::insert_into(uc::table)
        .values(&row)
        .execute(c))?;
    Ok(())
}

/// The commenters' contact details of a report's updates.
pub fn update_contacts_of(
    conn: &mut AnyConnection,
    request_id: i64,
) -> Result<Vec<UpdateContactRow>, StoreError> {
    use super::schema::update_contacts as uc;
    Ok(uc::table
        .filter(uc::request_id.eq(request_id))
        .select(UpdateContactRow::as_select())
        .load(conn)?)
}

pub fn insert_scan(conn: &mut AnyConnection, row: &ScanRow) -> Result<(), StoreError> {
    use super::schema::request_scans as s;
    per_backend!(conn, |c| diesel::insert_into(s::table)
        .values(row)
        .execute(c))?;
    Ok(())
}

/// A report's scans, oldest first.
pub fn scans_of(conn: &mut AnyConnection, id: i64) -> Result<Vec<ScanRow>, StoreError> {
    use super::schema::request_scans as s;
    let mut rows: Vec<ScanRow> = s::table
        .filter(s::request_id.eq(id))
        .select(ScanRow::as_select())
        .load(conn)?;
    rows.sort_by(|a, b| (a.uploaded_at, &a.id).cmp(&(b.uploaded_at, &b.id)));
    Ok(rows)
}

/// Records an idempotency key. A key already used by the same API key fails with a unique violation, which
/// the caller turns into "answer with the stored request".
pub fn insert_idempotency(
    conn: &mut AnyConnection,
    api_key_id: &str,
    key: &str,
    request_id: i64,
    at: NaiveDateTime,
) -> Result<(), StoreError> {
    diesel::insert_into(idempotency_keys::table)
        .values((
            idempotency_keys::api_key_id.eq(api_key_id),
            idempotency_keys::idem_key.eq(key),
            idempotency_keys::request_id.eq(request_id),
            idempotency_keys::created_at.eq(at),
        ))
        .execute(conn)?;
    Ok(())
}

pub fn find_idempotent(
    conn: &mut AnyConnection,
    api_key_id: &str,
    key: &str,
) -> Result<Option<RequestRow>, StoreError> {
    Ok(idempotency_keys::table
        .inner_join(requests::table.on(requests::id.eq(idempotency_keys::request_id)))
        .filter(idempotency_keys::api_key_id.eq(api_key_id))
        .filter(idempotency_keys::idem_key.eq(key))
        .select(RequestRow::as_select())
        .first(conn)
        .optional()?)
}

/// The public list's conditions and order for a `RequestFilter`, boxed for whichever backend runs it.
macro_rules! public_filtered {
    ($f:expr) => {
        public_conditions!($f).order((requests::requested_at.desc(), requests::id.desc()))
    };
}

/// The public list's conditions for a `RequestFilter`, without its order (PostgreSQL refuses an order with
/// a count).
macro_rules! public_conditions {
    ($f:expr) => {{
        let f: &RequestFilter = $f;
        let mut q = requests::table
            .filter(requests::jurisdiction_id.eq(f.jurisdiction_id.clone()))
            .filter(public())
            .into_boxed();
        if let Some(ids) = &f.ids {
            q = q.filter(requests::id.eq_any(ids.clone()));
        }
        if let Some(codes) = &f.service_codes {
            q = q.filter(requests::service_code.eq_any(codes.clone()));
        }
        if let Some(statuses) = &f.statuses {
            q = q.filter(requests::status.eq_any(statuses.clone()));
        }
        if let Some(t) = f.requested_from {
            q = q.filter(requests::requested_at.ge(t));
        }
        if let Some(t) = f.requested_to {
            q = q.filter(requests::requested_at.le(t));
        }
        if let Some(t) = f.updated_from {
            q = q.filter(requests::updated_at.ge(t));
        }
        q = within_area!(q, f.area);
        if let Some((t, id)) = f.before {
            // Both halves, so that the list's index bounds the scan.
            q = q.filter(requests::requested_at.le(t)).filter(
                requests::requested_at
                    .lt(t)
                    .or(requests::id.lt(id)),
            );
        }
        if let Some(t) = f.updated_to {
            // Implied by the bound itself, since a report is never updated before it was requested (every
            // write sets `updated_at` to the time of the write). Stated so that the list's own index serves
            // "updated before" newest first, instead of sorting every report updated before that time.
            q = q
                .filter(requests::updated_at.le(t))
                .filter(requests::requested_at.le(t));
        }
        q
    }};
}

/// How to ask for the rows of a set of request ids. A dense set (a page of newest reports, one report) is
/// asked for as a range: a statement of one shape, prepared once, where an `IN` list with one parameter per
/// id is compiled again for every call on SQLite. Rows of the range outside the set are dropped afterwards.
enum IdSet {
    Range(i64, i64),
    List(Vec<i64>),
}

impl IdSet {
    fn of(ids: &[i64]) -> IdSet {
        let (Some(lo), Some(hi)) = (ids.iter().min(), ids.iter().max()) else {
            return IdSet::List(Vec::new());
        };
        // At most four times as many candidate rows as wanted ones.
        if (hi - lo) / 4 <= ids.len() as i64 {
            IdSet::Range(*lo, *hi)
        } else {
            IdSet::List(ids.to_vec())
        }
    }
}

fn sorted(ids: &[i64]) -> Vec<i64> {
    let mut v = ids.to_vec();
    v.sort_unstable();
    v
}

/// Child rows of a set of requests (see `IdSet`), each query written once for both shapes.
macro_rules! children_of {
    ($conn:expr, $ids:expr, $column:expr, |$q:ident| $rest:expr, $id_of:expr) => {{
        let ids: &[i64] = $ids;
        let mut rows: Vec<_> = match IdSet::of(ids) {
            IdSet::Range(lo, hi) => per_backend!($conn, |c| {
                let $q = $column.between(lo, hi);
                $rest.load(c)
            })?,
            IdSet::List(list) => per_backend!($conn, |c| {
                let $q = $column.eq_any(list.clone());
                $rest.load(c)
            })?,
        };
        let wanted = sorted(ids);
        rows.retain(|r| wanted.binary_search(&$id_of(r)).is_ok());
        rows
    }};
}

/// Public requests matching the filter, newest first (D8), one page.
///
/// The page is chosen on ids alone, then its rows are read: each filter is served by an index that ends in
/// the list's order (see the read_path migration), so a deep page skips index entries rather than rows.
pub fn list_public(
    conn: &mut AnyConnection,
    f: &RequestFilter,
) -> Result<Vec<PublicRow>, StoreError> {
    if f.offset == 0 {
        return Ok(per_backend!(conn, |c| public_filtered!(f)
            .select(PublicRow::as_select())
            .limit(f.limit)
            .load(c))?);
    }
    let page: Vec<i64> = per_backend!(conn, |c| public_filtered!(f)
        .select(requests::id)
        .offset(f.offset)
        .limit(f.limit)
        .load(c))?;
    if page.is_empty() {
        return Ok(Vec::new());
    }
    // Public or not does not matter here: the ids were chosen by the public query.
    let mut rows = children_of!(
        conn,
        &page,
        requests::id,
        |cond| requests::table.filter(cond).select(PublicRow::as_select()),
        |r: &PublicRow| r.id
    );
    rows.sort_by_key(|r| std::cmp::Reverse((r.requested_at, r.id)));
    Ok(rows)
}

/// Where a sync reader stands: every change up to and including (`updated_at`, `id`) has been read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncPosition {
    pub updated_at: NaiveDateTime,
    pub id: i64,
}

/// Which changes a sync page wants: those after `after`, settled by `until`, oldest first.
#[derive(Debug, Clone)]
pub struct SyncFilter {
    pub jurisdiction_id: String,
    pub after: SyncPosition,
    pub until: NaiveDateTime,
    pub limit: i64,
}

/// Reports changed after a position, in (`updated_at`, `id`) order, with whether each is public now. Reports
/// that staff hid after publication are among them, so that a copy learns to drop them; the caller shows
/// them as withdrawn, without their content. Reports held for review have never been public and are not
/// listed at all. One statement: whether a row is public and what it shows come from the same snapshot.
pub fn changed_since(
    conn: &mut AnyConnection,
    f: &SyncFilter,
) -> Result<Vec<(PublicRow, bool)>, StoreError> {
    let rows: Vec<(PublicRow, bool)> = per_backend!(conn, |c| requests::table
        .filter(requests::jurisdiction_id.eq(f.jurisdiction_id.clone()))
        // Both halves of the position test, written so that the (jurisdiction, updated_at, id) index bounds
        // the scan.
        .filter(requests::updated_at.ge(f.after.updated_at))
        .filter(
            requests::updated_at
                .gt(f.after.updated_at)
                .or(requests::id.gt(f.after.id)),
        )
        .filter(requests::updated_at.le(f.until))
        .filter(requests::moderation_state.eq("published"))
        .order((requests::updated_at.asc(), requests::id.asc()))
        .limit(f.limit)
        .select((PublicRow::as_select(), requests::hidden))
        .load(c))?;
    Ok(rows
        .into_iter()
        .map(|(row, hidden)| (row, !hidden))
        .collect())
}

/// How many public requests match the filter, paging aside.
pub fn count_public(conn: &mut AnyConnection, f: &RequestFilter) -> Result<i64, StoreError> {
    Ok(per_backend!(conn, |c| public_conditions!(f)
        .count()
        .get_result(c))?)
}

/// Stores a routing decision and moves `updated_datetime`.
pub fn set_routing(
    conn: &mut AnyConnection,
    id: i64,
    department_code: Option<&str>,
    agency_responsible: Option<&str>,
    trace: Option<&str>,
    now: NaiveDateTime,
) -> Result<(), StoreError> {
    diesel::update(requests::table.find(id))
        .set((
            requests::department_code.eq(department_code),
            requests::agency_responsible.eq(agency_responsible),
            requests::routing_trace.eq(trace),
            requests::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// One public request.
pub fn get_public(
    conn: &mut AnyConnection,
    jurisdiction_id: &str,
    id: i64,
) -> Result<Option<PublicRow>, StoreError> {
    Ok(per_backend!(conn, |c| requests::table
        .find(id)
        .filter(requests::jurisdiction_id.eq(jurisdiction_id))
        .filter(public())
        .select(PublicRow::as_select())
        .first(c)
        .optional())?)
}

/// Those of `ids` that are public now.
pub fn public_among(conn: &mut AnyConnection, ids: &[i64]) -> Result<Vec<i64>, StoreError> {
    Ok(requests::table
        .filter(requests::id.eq_any(ids))
        .filter(public())
        .select(requests::id)
        .load(conn)?)
}

/// The request a token stands for, with whether it may be shown yet.
pub fn by_token(
    conn: &mut AnyConnection,
    jurisdiction_id: &str,
    token: &str,
) -> Result<Option<(i64, bool)>, StoreError> {
    let row: Option<(i64, bool, String)> = requests::table
        .filter(requests::token.eq(token))
        .filter(requests::jurisdiction_id.eq(jurisdiction_id))
        .select((requests::id, requests::hidden, requests::moderation_state))
        .first(conn)
        .optional()?;
    // A non-public report's token answers its id all the same: the id alone shows nothing (a 404 by id), and
    // its client (FixMyStreet polls tokens) needs it.
    Ok(row.map(|(id, hidden, state)| (id, !hidden && (state == "published" || state == PRIVATE))))
}

pub fn attributes_of(
    conn: &mut AnyConnection,
    ids: &[i64],
) -> Result<Vec<AttributeValueRow>, StoreError> {
    Ok(children_of!(
        conn,
        ids,
        request_attributes::request_id,
        |cond| request_attributes::table
            .filter(cond)
            .order((
                request_attributes::request_id,
                request_attributes::code,
                request_attributes::position,
            ))
            .select(AttributeValueRow::as_select()),
        |r: &AttributeValueRow| r.request_id
    ))
}

pub fn media_of(conn: &mut AnyConnection, ids: &[i64]) -> Result<Vec<MediaRow>, StoreError> {
    Ok(children_of!(
        conn,
        ids,
        request_media::request_id,
        |cond| request_media::table
            .filter(cond)
            .order((request_media::request_id, request_media::position))
            .select(MediaRow::as_select()),
        |r: &MediaRow| r.request_id
    ))
}

/// A stored photo by file name, only when its request is public.
pub fn public_media_file(
    conn: &mut AnyConnection,
    file_name: &str,
) -> Result<Option<MediaRow>, StoreError> {
    Ok(request_media::table
        .inner_join(requests::table.on(requests::id.eq(request_media::request_id)))
        .filter(request_media::file_name.eq(file_name))
        .filter(public())
        .select(MediaRow::as_select())
        .first(conn)
        .optional()?)
}

/// Every stored request with its personal data (tests and the privacy tooling use this; never a public path).
pub fn get_any(conn: &mut AnyConnection, id: i64) -> Result<Option<RequestRow>, StoreError> {
    Ok(requests::table
        .find(id)
        .select(RequestRow::as_select())
        .first(conn)
        .optional()?)
}

pub fn count(conn: &mut AnyConnection) -> Result<i64, StoreError> {
    Ok(requests::table.count().get_result(conn)?)
}

/// Public updates of a request (status notes and public notes), oldest first.
pub fn public_events(
    conn: &mut AnyConnection,
    ids: &[i64],
) -> Result<Vec<crate::store::deliveries::EventRow>, StoreError> {
    use crate::store::deliveries::EventRow;
    use crate::store::schema::request_events;
    Ok(children_of!(
        conn,
        ids,
        request_events::request_id,
        |cond| request_events::table
            .filter(cond)
            .filter(request_events::public.eq(true))
            .order((request_events::at, request_events::id))
            .select(EventRow::as_select()),
        |r: &EventRow| r.request_id
    ))
}

pub fn duplicate_of_many(
    conn: &mut AnyConnection,
    ids: &[i64],
) -> Result<Vec<(i64, Option<i64>)>, StoreError> {
    Ok(requests::table
        .filter(requests::id.eq_any(ids.to_vec()))
        .select((requests::id, requests::duplicate_of))
        .load(conn)?)
}

/// Public status updates in [`from`, `to`] (the FixMyStreet `servicerequestupdates` feed), oldest first, each
/// with its report's current detailed status. `key_id`: the key asking, which also sees the updates of the
/// non-public reports it sent (FixMyStreet follows its private reports by this feed too).
pub fn public_updates(
    conn: &mut AnyConnection,
    jurisdiction_id: &str,
    from: NaiveDateTime,
    to: NaiveDateTime,
    limit: i64,
    key_id: Option<&str>,
) -> Result<Vec<(crate::store::deliveries::EventRow, String)>, StoreError> {
    use crate::store::schema::request_events as ev;
    let mut q = ev::table
        .inner_join(requests::table.on(requests::id.eq(ev::request_id)))
        .filter(requests::jurisdiction_id.eq(jurisdiction_id))
        .filter(requests::hidden.eq(false))
        .filter(ev::public.eq(true))
        .filter(ev::at.ge(from))
        .filter(ev::at.le(to))
        .into_boxed::<Db>();
    q = match key_id {
        Some(key) => q.filter(
            requests::moderation_state
                .eq("published")
                .or(requests::moderation_state
                    .eq(PRIVATE)
                    .and(requests::api_key_id.eq(key.to_string()))),
        ),
        None => q.filter(requests::moderation_state.eq("published")),
    };
    Ok(q.order((ev::at, ev::id))
        .limit(limit)
        .select((
            crate::store::deliveries::EventRow::as_select(),
            requests::detailed_status,
        ))
        .load(conn)?)
}

/// The open reports of a jurisdiction, for an import's dry run to route again.
pub fn open_for_routing(
    conn: &mut AnyConnection,
    jurisdiction_id: &str,
) -> Result<Vec<RequestRow>, StoreError> {
    Ok(requests::table
        .filter(requests::jurisdiction_id.eq(jurisdiction_id))
        .filter(requests::status.eq("open"))
        .order(requests::id)
        .select(RequestRow::as_select())
        .load(conn)?)
}

/// The moderation state of a report that is never public: its service is private (FixMyStreet's `private`
/// keyword) or its client asked (`non_public`).
pub const PRIVATE: &str = "private";

pub fn event_by_external(
    conn: &mut AnyConnection,
    request_id: i64,
    external_id: &str,
) -> Result<Option<crate::store::deliveries::EventRow>, StoreError> {
    use crate::store::schema::request_events as ev;
    Ok(ev::table
        .filter(ev::request_id.eq(request_id))
        .filter(ev::external_id.eq(external_id))
        .select(crate::store::deliveries::EventRow::as_select())
        .first(conn)
        .optional()?)
}

/// Stores the public point of every located report that has none yet (new after the migration that added
/// it, or reset by an import that changed its service's precision). Answers how many it filled.
pub fn fill_public_points(conn: &mut AnyConnection) -> Result<usize, StoreError> {
    use crate::store::schema::services;
    let mut filled = diesel::sql_query(
        "UPDATE requests SET public_lat = lat, public_long = long \
         WHERE public_lat IS NULL AND lat IS NOT NULL AND long IS NOT NULL AND NOT EXISTS ( \
           SELECT 1 FROM services s WHERE s.jurisdiction_id = requests.jurisdiction_id \
             AND s.code = requests.service_code AND s.public_precision_m IS NOT NULL)",
    )
    .execute(conn)?;
    let grids: Vec<(String, String, Option<f64>)> = services::table
        .filter(services::public_precision_m.is_not_null())
        .select((
            services::jurisdiction_id,
            services::code,
            services::public_precision_m,
        ))
        .load(conn)?;
    for (jurisdiction, code, metres) in grids {
        let Some(metres) = metres else { continue };
        let points: Vec<(i64, Option<f64>, Option<f64>)> = requests::table
            .filter(requests::jurisdiction_id.eq(&jurisdiction))
            .filter(requests::service_code.eq(&code))
            .filter(requests::public_lat.is_null())
            .filter(requests::lat.is_not_null())
            .select((requests::id, requests::lat, requests::long))
            .load(conn)?;
        for (id, lat, long) in points {
            let (Some(lat), Some(long)) = (lat, long) else {
                continue;
            };
            let (plat, plong) = crate::domain::coarsen(lat, long, metres);
            filled += diesel::update(requests::table.find(id))
                .set((
                    requests::public_lat.eq(plat),
                    requests::public_long.eq(plong),
                ))
                .execute(conn)?;
        }
    }
    Ok(filled)
}

/// Forgets the public points of a service's reports, after its precision changed (`fill_public_points`
/// makes them again; `touch_public_of_service` then tells copies).
///
/// On PostgreSQL the table is locked against writers first, until the import commits: a report being
/// stored at this moment (with a point from the old grid) is waited for and reset with the others, and one
/// stored after it finds the new grid (intake reads it again in its transaction). SQLite runs one write at
/// a time anyway. The wait is bounded: an import that cannot have the lock within ten seconds fails (and
/// changes nothing) rather than hold every report waiting behind it.
pub fn reset_public_points(
    conn: &mut AnyConnection,
    jurisdiction_id: &str,
    service_code: &str,
) -> Result<(), StoreError> {
    if let AnyConnection::Postgres(c) = conn {
        use diesel::connection::SimpleConnection;
        c.batch_execute(
            "SET LOCAL lock_timeout = '10s'; LOCK TABLE requests IN SHARE ROW EXCLUSIVE MODE",
        )?;
    }
    diesel::update(
        requests::table
            .filter(requests::jurisdiction_id.eq(jurisdiction_id))
            .filter(requests::service_code.eq(service_code)),
    )
    .set((
        requests::public_lat.eq(None::<f64>),
        requests::public_long.eq(None::<f64>),
    ))
    .execute(conn)?;
    Ok(())
}

/// Moves `updated_datetime` of a service's public, located reports (their public point changed), so that
/// copies kept by the change feed take the new point. Hidden and held reports are left alone: moving them
/// would list them as withdrawn beside their service's reports, and say which service they were.
pub fn touch_public_of_service(
    conn: &mut AnyConnection,
    jurisdiction_id: &str,
    service_code: &str,
    now: NaiveDateTime,
) -> Result<(), StoreError> {
    diesel::update(
        requests::table
            .filter(requests::jurisdiction_id.eq(jurisdiction_id))
            .filter(requests::service_code.eq(service_code))
            .filter(requests::lat.is_not_null())
            .filter(public()),
    )
    .set(requests::updated_at.eq(now))
    .execute(conn)?;
    Ok(())
}

/// A service's grid as the transaction sees it (`None`: exact, or no such service).
pub fn service_precision(
    conn: &mut AnyConnection,
    jurisdiction_id: &str,
    service_code: &str,
) -> Result<Option<f64>, StoreError> {
    use crate::store::schema::services;
    Ok(per_backend!(conn, |c| services::table
        .find((jurisdiction_id, service_code))
        .select(services::public_precision_m)
        .first::<Option<f64>>(c)
        .optional())?
    .flatten())
}

/// Sets a report's public point.
pub fn set_public_point(
    conn: &mut AnyConnection,
    id: i64,
    point: Option<(f64, f64)>,
) -> Result<(), StoreError> {
    diesel::update(requests::table.find(id))
        .set((
            requests::public_lat.eq(point.map(|p| p.0)),
            requests::public_long.eq(point.map(|p| p.1)),
        ))
        .execute(conn)?;
    Ok(())
}

/// Forgets the areas a previous routing recorded.
pub fn clear_areas(conn: &mut AnyConnection, id: i64) -> Result<(), StoreError> {
    use crate::store::schema::request_areas as ra;
    diesel::delete(ra::table.filter(ra::request_id.eq(id))).execute(conn)?;
    Ok(())
}

/// Records the areas a report lies in.
pub fn insert_areas(conn: &mut AnyConnection, id: i64, codes: &[String]) -> Result<(), StoreError> {
    use crate::store::schema::request_areas as ra;
    let rows: Vec<_> = codes
        .iter()
        .map(|code| (ra::request_id.eq(id), ra::area_code.eq(code)))
        .collect();
    insert_rows!(conn, ra::table, &rows[..])
}

/// When the report's status was last set or confirmed by a public event.
pub fn latest_status_at(
    conn: &mut AnyConnection,
    request_id: i64,
) -> Result<Option<NaiveDateTime>, StoreError> {
    use crate::store::schema::request_events as ev;
    Ok(ev::table
        .filter(ev::request_id.eq(request_id))
        .filter(ev::public.eq(true))
        .filter(ev::status.is_not_null())
        .select(diesel::dsl::max(ev::at))
        .first(conn)?)
}
