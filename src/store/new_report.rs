//! Everything stored with a new report besides its own row — the areas it lies in, its e-mails, the first
//! history event, its attribute answers, photos and idempotency key — in as few statements as the database
//! allows. On PostgreSQL every statement is a round trip to a server that shares the machine's cores, and the
//! intake path is the one that has to hold in a surge, so there it is one statement (a data-modifying `WITH`
//! over `unnest`ed columns); on SQLite, where a statement is a function call, the rows go in one by one
//! through statements prepared once per connection.

use super::deliveries::{self, DeliveryRow, EventRow};
use super::requests::{self, AttributeValueRow, MediaRow};
use super::{AnyConnection, StoreError};
use chrono::NaiveDateTime;
use diesel::pg::Pg;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::sql_types::{Array, BigInt, Bool, Integer, Nullable, Text, Timestamp};
use diesel::{QueryResult, RunQueryDsl};

/// The rows of a new report's child tables, all naming the report's id.
pub struct Children {
    pub request_id: i64,
    pub areas: Vec<String>,
    pub deliveries: Vec<DeliveryRow>,
    pub events: Vec<EventRow>,
    pub attributes: Vec<AttributeValueRow>,
    pub media: Vec<MediaRow>,
    /// (api key id, idempotency key, when).
    pub idempotency: Option<(String, String, NaiveDateTime)>,
}

pub fn insert(conn: &mut AnyConnection, c: &Children) -> Result<(), StoreError> {
    debug_assert!(
        c.deliveries.iter().all(|d| d.request_id == c.request_id)
            && c.events.iter().all(|e| e.request_id == c.request_id)
            && c.attributes.iter().all(|a| a.request_id == c.request_id)
            && c.media.iter().all(|m| m.request_id == c.request_id)
    );
    match conn {
        AnyConnection::Postgres(pg) => insert_pg(pg, c),
        AnyConnection::Sqlite(_) => {
            requests::insert_areas(conn, c.request_id, &c.areas)?;
            deliveries::insert(conn, &c.deliveries)?;
            for e in &c.events {
                deliveries::insert_event(conn, e)?;
            }
            requests::insert_attributes(conn, &c.attributes)?;
            requests::insert_media(conn, &c.media)?;
            if let Some((key_id, key, at)) = &c.idempotency {
                requests::insert_idempotency(conn, key_id, key, c.request_id, *at)?;
            }
            Ok(())
        }
    }
}

/// One statement: each child table's rows as parallel arrays, one array per column. Every column of the row
/// types is bound, so that nothing differs from the diesel inserts the SQLite branch makes. A typed query
/// fragment with a static query id rather than `sql_query`, which diesel never caches: PostgreSQL would parse
/// and plan this statement again for every report (measured: the parser was the top of its profile).
struct PgChildren<'a> {
    request_id: i64,
    areas: &'a [String],
    d_id: Vec<&'a str>,
    d_department: Vec<&'a str>,
    d_recipient: Vec<&'a str>,
    d_fallback: Vec<bool>,
    d_state: Vec<&'a str>,
    d_attempts: Vec<i32>,
    d_last_error: Vec<Option<&'a str>>,
    d_message_id: Vec<&'a str>,
    d_created: Vec<NaiveDateTime>,
    d_updated: Vec<NaiveDateTime>,
    d_next: Vec<NaiveDateTime>,
    d_lease: Vec<Option<NaiveDateTime>>,
    d_sent: Vec<Option<NaiveDateTime>>,
    e_id: Vec<&'a str>,
    e_at: Vec<NaiveDateTime>,
    e_actor: Vec<&'a str>,
    e_action: Vec<&'a str>,
    e_detail: Vec<Option<&'a str>>,
    e_public: Vec<bool>,
    e_status: Vec<Option<&'a str>>,
    e_external: Vec<Option<&'a str>>,
    a_code: Vec<&'a str>,
    a_position: Vec<i32>,
    a_value: Vec<&'a str>,
    m_id: Vec<&'a str>,
    m_position: Vec<i32>,
    m_url: Vec<Option<&'a str>>,
    m_file: Vec<Option<&'a str>>,
    m_type: Vec<Option<&'a str>>,
    m_size: Vec<Option<i64>>,
    k_key_id: Vec<&'a str>,
    k_key: Vec<&'a str>,
    k_at: Vec<NaiveDateTime>,
}

impl<'a> PgChildren<'a> {
    fn of(c: &'a Children) -> Self {
        fn col<'a, T, U>(rows: &'a [T], f: impl Fn(&'a T) -> U) -> Vec<U> {
            rows.iter().map(f).collect()
        }
        let (d, e, a, m) = (
            &c.deliveries[..],
            &c.events[..],
            &c.attributes[..],
            &c.media[..],
        );
        let k = c.idempotency.as_slice();
        PgChildren {
            request_id: c.request_id,
            areas: &c.areas,
            d_id: col(d, |r| r.id.as_str()),
            d_department: col(d, |r| r.department_code.as_str()),
            d_recipient: col(d, |r| r.recipient.as_str()),
            d_fallback: col(d, |r| r.is_fallback),
            d_state: col(d, |r| r.state.as_str()),
            d_attempts: col(d, |r| r.attempts),
            d_last_error: col(d, |r| r.last_error.as_deref()),
            d_message_id: col(d, |r| r.message_id.as_str()),
            d_created: col(d, |r| r.created_at),
            d_updated: col(d, |r| r.updated_at),
            d_next: col(d, |r| r.next_attempt_at),
            d_lease: col(d, |r| r.lease_until),
            d_sent: col(d, |r| r.sent_at),
            e_id: col(e, |r| r.id.as_str()),
            e_at: col(e, |r| r.at),
            e_actor: col(e, |r| r.actor.as_str()),
            e_action: col(e, |r| r.action.as_str()),
            e_detail: col(e, |r| r.detail.as_deref()),
            e_public: col(e, |r| r.public),
            e_status: col(e, |r| r.status.as_deref()),
            e_external: col(e, |r| r.external_id.as_deref()),
            a_code: col(a, |r| r.code.as_str()),
            a_position: col(a, |r| r.position),
            a_value: col(a, |r| r.value.as_str()),
            m_id: col(m, |r| r.id.as_str()),
            m_position: col(m, |r| r.position),
            m_url: col(m, |r| r.external_url.as_deref()),
            m_file: col(m, |r| r.file_name.as_deref()),
            m_type: col(m, |r| r.content_type.as_deref()),
            m_size: col(m, |r| r.byte_size),
            k_key_id: col(k, |r| r.0.as_str()),
            k_key: col(k, |r| r.1.as_str()),
            k_at: col(k, |r| r.2),
        }
    }
}

impl QueryId for PgChildren<'_> {
    type QueryId = PgChildren<'static>;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl QueryFragment<Pg> for PgChildren<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql("WITH r AS (SELECT ");
        out.push_bind_param::<BigInt, _>(&self.request_id)?;
        out.push_sql(
            "::bigint AS id), areas AS (\
             INSERT INTO request_areas (request_id, area_code) \
             SELECT r.id, t.code FROM r, unnest(",
        );
        out.push_bind_param::<Array<Text>, _>(self.areas)?;
        out.push_sql(
            "::text[]) AS t(code)), dl AS (\
             INSERT INTO deliveries (id, request_id, department_code, recipient, is_fallback, state, \
             attempts, last_error, message_id, created_at, updated_at, next_attempt_at, lease_until, sent_at) \
             SELECT t.id, r.id, t.department_code, t.recipient, t.is_fallback, t.state, t.attempts, \
             t.last_error, t.message_id, t.created_at, t.updated_at, t.next_attempt_at, t.lease_until, \
             t.sent_at FROM r, unnest(",
        );
        out.push_bind_param::<Array<Text>, _>(&self.d_id)?;
        out.push_sql("::text[], ");
        out.push_bind_param::<Array<Text>, _>(&self.d_department)?;
        out.push_sql("::text[], ");
        out.push_bind_param::<Array<Text>, _>(&self.d_recipient)?;
        out.push_sql("::text[], ");
        out.push_bind_param::<Array<Bool>, _>(&self.d_fallback)?;
        out.push_sql("::bool[], ");
        out.push_bind_param::<Array<Text>, _>(&self.d_state)?;
        out.push_sql("::text[], ");
        out.push_bind_param::<Array<Integer>, _>(&self.d_attempts)?;
        out.push_sql("::int[], ");
        out.push_bind_param::<Array<Nullable<Text>>, _>(&self.d_last_error)?;
        out.push_sql("::text[], ");
        out.push_bind_param::<Array<Text>, _>(&self.d_message_id)?;
        out.push_sql("::text[], ");
        out.push_bind_param::<Array<Timestamp>, _>(&self.d_created)?;
        out.push_sql("::timestamp[], ");
        out.push_bind_param::<Array<Timestamp>, _>(&self.d_updated)?;
        out.push_sql("::timestamp[], ");
        out.push_bind_param::<Array<Timestamp>, _>(&self.d_next)?;
        out.push_sql("::timestamp[], ");
        out.push_bind_param::<Array<Nullable<Timestamp>>, _>(&self.d_lease)?;
        out.push_sql("::timestamp[], ");
        out.push_bind_param::<Array<Nullable<Timestamp>>, _>(&self.d_sent)?;
        out.push_sql(
            "::timestamp[]) AS t(id, department_code, recipient, is_fallback, state, attempts, \
             last_error, message_id, created_at, updated_at, next_attempt_at, lease_until, sent_at)), \
             ev AS (INSERT INTO request_events (id, request_id, at, actor, action, detail, public, status, \
             external_id) SELECT t.id, r.id, t.at, t.actor, t.action, t.detail, t.public, t.status, \
             t.external_id FROM r, unnest(",
        );
        out.push_bind_param::<Array<Text>, _>(&self.e_id)?;
        out.push_sql("::text[], ");
        out.push_bind_param::<Array<Timestamp>, _>(&self.e_at)?;
        out.push_sql("::timestamp[], ");
        out.push_bind_param::<Array<Text>, _>(&self.e_actor)?;
        out.push_sql("::text[], ");
        out.push_bind_param::<Array<Text>, _>(&self.e_action)?;
        out.push_sql("::text[], ");
        out.push_bind_param::<Array<Nullable<Text>>, _>(&self.e_detail)?;
        out.push_sql("::text[], ");
        out.push_bind_param::<Array<Bool>, _>(&self.e_public)?;
        out.push_sql("::bool[], ");
        out.push_bind_param::<Array<Nullable<Text>>, _>(&self.e_status)?;
        out.push_sql("::text[], ");
        out.push_bind_param::<Array<Nullable<Text>>, _>(&self.e_external)?;
        out.push_sql(
            "::text[]) AS t(id, at, actor, action, detail, public, status, external_id)), \
             attrs AS (INSERT INTO request_attributes (request_id, code, position, value) \
             SELECT r.id, t.code, t.position, t.value FROM r, unnest(",
        );
        out.push_bind_param::<Array<Text>, _>(&self.a_code)?;
        out.push_sql("::text[], ");
        out.push_bind_param::<Array<Integer>, _>(&self.a_position)?;
        out.push_sql("::int[], ");
        out.push_bind_param::<Array<Text>, _>(&self.a_value)?;
        out.push_sql(
            "::text[]) AS t(code, position, value)), \
             media AS (INSERT INTO request_media (id, request_id, position, external_url, file_name, \
             content_type, byte_size) SELECT t.id, r.id, t.position, t.external_url, t.file_name, \
             t.content_type, t.byte_size FROM r, unnest(",
        );
        out.push_bind_param::<Array<Text>, _>(&self.m_id)?;
        out.push_sql("::text[], ");
        out.push_bind_param::<Array<Integer>, _>(&self.m_position)?;
        out.push_sql("::int[], ");
        out.push_bind_param::<Array<Nullable<Text>>, _>(&self.m_url)?;
        out.push_sql("::text[], ");
        out.push_bind_param::<Array<Nullable<Text>>, _>(&self.m_file)?;
        out.push_sql("::text[], ");
        out.push_bind_param::<Array<Nullable<Text>>, _>(&self.m_type)?;
        out.push_sql("::text[], ");
        out.push_bind_param::<Array<Nullable<BigInt>>, _>(&self.m_size)?;
        out.push_sql(
            "::bigint[]) AS t(id, position, external_url, file_name, content_type, byte_size)), \
             idem AS (INSERT INTO idempotency_keys (api_key_id, idem_key, request_id, created_at) \
             SELECT t.api_key_id, t.idem_key, r.id, t.created_at FROM r, unnest(",
        );
        out.push_bind_param::<Array<Text>, _>(&self.k_key_id)?;
        out.push_sql("::text[], ");
        out.push_bind_param::<Array<Text>, _>(&self.k_key)?;
        out.push_sql("::text[], ");
        out.push_bind_param::<Array<Timestamp>, _>(&self.k_at)?;
        out.push_sql("::timestamp[]) AS t(api_key_id, idem_key, created_at)) SELECT 1");
        Ok(())
    }
}

impl RunQueryDsl<diesel::PgConnection> for PgChildren<'_> {}

fn insert_pg(conn: &mut diesel::PgConnection, c: &Children) -> Result<(), StoreError> {
    PgChildren::of(c).execute(conn)?;
    Ok(())
}
