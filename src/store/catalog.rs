//! Jurisdictions, services and their attribute definitions.

use super::schema::{jurisdictions, service_attributes, services};
use super::{AnyConnection, StoreError};
use crate::domain::{AttributeDef, Datatype, Jurisdiction, ListValue, Service, ServiceType};
use chrono::NaiveDateTime;
use diesel::prelude::*;

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = jurisdictions, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
#[diesel(treat_none_as_null = true)]
pub struct JurisdictionRow {
    pub id: String,
    pub name: String,
    pub contact: String,
    pub key_service: String,
    pub utc_offset_minutes: i32,
    pub endpoint_type: String,
    pub updated_at: NaiveDateTime,
    pub near_meters: f64,
    /// Days after a closed report's last change when its reporter's contact details are removed.
    pub contact_retention_days: Option<i32>,
    /// Days after a hidden or rejected report's last change when its photos are removed.
    pub media_retention_days: Option<i32>,
    /// The licence of the open data; `None`: `domain::DEFAULT_DATA_LICENSE`.
    pub data_license: Option<String>,
    /// The language its own texts are written in (ISO 639-1).
    pub language: String,
    /// Whether application keys may post citizens' comments to servicerequestupdates (`off`, `notes`,
    /// `status`; docs/FIXMYSTREET.md).
    pub citizen_updates: String,
    /// An IANA time zone (`Europe/Paris`); when set, it wins over `utc_offset_minutes`.
    pub timezone: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = services, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
#[diesel(treat_none_as_null = true)]
pub struct ServiceRow {
    pub jurisdiction_id: String,
    pub code: String,
    pub name: String,
    pub description: Option<String>,
    pub service_type: String,
    pub keywords: Option<String>,
    pub group_name: Option<String>,
    pub service_notice: Option<String>,
    pub expected_hours: Option<i32>,
    pub active: bool,
    pub updated_at: NaiveDateTime,
    pub share_contact: bool,
    /// The side of the public grid cell in metres; `None`: the exact point is public.
    pub public_precision_m: Option<f64>,
    /// `pre` or `none` (`domain::Moderation`).
    pub moderation: String,
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = service_attributes, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct AttributeRow {
    pub jurisdiction_id: String,
    pub service_code: String,
    pub code: String,
    pub variable: bool,
    pub datatype: String,
    pub required: bool,
    pub datatype_description: Option<String>,
    pub position: i32,
    pub description: String,
    pub values_json: String,
    pub min_value: Option<f64>,
    pub max_value: Option<f64>,
    pub unit: Option<String>,
    pub label: Option<String>,
}

impl From<JurisdictionRow> for Jurisdiction {
    fn from(r: JurisdictionRow) -> Self {
        Self {
            id: r.id,
            name: r.name,
            contact: r.contact,
            key_service: r.key_service,
            zone: r
                .timezone
                .as_deref()
                .and_then(crate::domain::Zone::named)
                .unwrap_or(crate::domain::Zone::Fixed(r.utc_offset_minutes)),
            endpoint_type: r.endpoint_type,
            near_meters: r.near_meters,
            data_license: r
                .data_license
                .unwrap_or_else(|| crate::domain::DEFAULT_DATA_LICENSE.to_string()),
            language: r.language,
            citizen_updates: r.citizen_updates,
        }
    }
}

impl TryFrom<ServiceRow> for Service {
    type Error = StoreError;
    fn try_from(r: ServiceRow) -> Result<Self, StoreError> {
        let service_type = ServiceType::parse(&r.service_type).ok_or_else(|| {
            StoreError::Corrupt(format!(
                "service {} has unknown type {}",
                r.code, r.service_type
            ))
        })?;
        let moderation = crate::domain::Moderation::parse(&r.moderation).ok_or_else(|| {
            StoreError::Corrupt(format!(
                "service {} has unknown moderation {}",
                r.code, r.moderation
            ))
        })?;
        Ok(Self {
            jurisdiction_id: r.jurisdiction_id,
            code: r.code,
            name: r.name,
            description: r.description,
            service_type,
            keywords: r.keywords,
            group: r.group_name,
            service_notice: r.service_notice,
            expected_hours: r.expected_hours,
            share_contact: r.share_contact,
            public_precision_m: r.public_precision_m,
            moderation,
        })
    }
}

impl TryFrom<AttributeRow> for AttributeDef {
    type Error = StoreError;
    fn try_from(r: AttributeRow) -> Result<Self, StoreError> {
        let datatype = Datatype::parse(&r.datatype).ok_or_else(|| {
            StoreError::Corrupt(format!(
                "attribute {} has unknown datatype {}",
                r.code, r.datatype
            ))
        })?;
        let values: Vec<ListValue> = serde_json::from_str(&r.values_json)
            .map_err(|e| StoreError::Corrupt(format!("attribute {} values: {e}", r.code)))?;
        Ok(Self {
            code: r.code,
            variable: r.variable,
            datatype,
            required: r.required,
            datatype_description: r.datatype_description,
            order: r.position,
            description: r.description,
            values,
            min: r.min_value,
            max: r.max_value,
            unit: r.unit,
            label: r.label,
        })
    }
}

pub fn jurisdictions(conn: &mut AnyConnection) -> Result<Vec<Jurisdiction>, StoreError> {
    let rows = jurisdictions::table
        .select(JurisdictionRow::as_select())
        .order(jurisdictions::id)
        .load(conn)?;
    Ok(rows.into_iter().map(Into::into).collect())
}

/// Active services of a jurisdiction, in a stable order (group, then name, then code).
pub fn services(
    conn: &mut AnyConnection,
    jurisdiction_id: &str,
) -> Result<Vec<(Service, bool)>, StoreError> {
    let mut rows: Vec<ServiceRow> = services::table
        .filter(services::jurisdiction_id.eq(jurisdiction_id))
        .filter(services::active.eq(true))
        .select(ServiceRow::as_select())
        .load(conn)?;
    // The same order on both databases (they sort NULL groups and mixed case differently).
    rows.sort_by(|a, b| (&a.group_name, &a.name, &a.code).cmp(&(&b.group_name, &b.name, &b.code)));
    let with_attributes: Vec<String> = service_attributes::table
        .filter(service_attributes::jurisdiction_id.eq(jurisdiction_id))
        .select(service_attributes::service_code)
        .distinct()
        .load(conn)?;
    rows.into_iter()
        .map(|r| {
            let has = with_attributes.contains(&r.code);
            Service::try_from(r).map(|s| (s, has))
        })
        .collect()
}

/// An active service by code.
pub fn service(
    conn: &mut AnyConnection,
    jurisdiction_id: &str,
    code: &str,
) -> Result<Option<Service>, StoreError> {
    services::table
        .find((jurisdiction_id, code))
        .filter(services::active.eq(true))
        .select(ServiceRow::as_select())
        .first(conn)
        .optional()?
        .map(Service::try_from)
        .transpose()
}

/// Attribute definitions of a service, in display order.
pub fn attributes(
    conn: &mut AnyConnection,
    jurisdiction_id: &str,
    code: &str,
) -> Result<Vec<AttributeDef>, StoreError> {
    service_attributes::table
        .filter(service_attributes::jurisdiction_id.eq(jurisdiction_id))
        .filter(service_attributes::service_code.eq(code))
        .order((service_attributes::position, service_attributes::code))
        .select(AttributeRow::as_select())
        .load(conn)?
        .into_iter()
        .map(AttributeDef::try_from)
        .collect()
}

/// When the jurisdiction's published catalogue last changed (discovery `changeset`).
pub fn changeset(
    conn: &mut AnyConnection,
    jurisdiction_id: &str,
) -> Result<Option<NaiveDateTime>, StoreError> {
    let j: Option<NaiveDateTime> = jurisdictions::table
        .find(jurisdiction_id)
        .select(jurisdictions::updated_at)
        .first(conn)
        .optional()?;
    let s: Option<NaiveDateTime> = services::table
        .filter(services::jurisdiction_id.eq(jurisdiction_id))
        .select(diesel::dsl::max(services::updated_at))
        .first(conn)?;
    Ok(j.max(s))
}

pub fn jurisdiction_row(
    conn: &mut AnyConnection,
    id: &str,
) -> Result<Option<JurisdictionRow>, StoreError> {
    Ok(jurisdictions::table
        .find(id)
        .select(JurisdictionRow::as_select())
        .first(conn)
        .optional()?)
}

pub fn service_row(
    conn: &mut AnyConnection,
    jurisdiction_id: &str,
    code: &str,
) -> Result<Option<ServiceRow>, StoreError> {
    Ok(services::table
        .find((jurisdiction_id, code))
        .select(ServiceRow::as_select())
        .first(conn)
        .optional()?)
}

/// Every service's group (inactive services too: a stored report of one may be routed again).
pub fn service_groups(
    conn: &mut AnyConnection,
    jurisdiction_id: &str,
) -> Result<Vec<(String, Option<String>)>, StoreError> {
    Ok(services::table
        .filter(services::jurisdiction_id.eq(jurisdiction_id))
        .select((services::code, services::group_name))
        .load(conn)?)
}

pub fn attribute_rows(
    conn: &mut AnyConnection,
    jurisdiction_id: &str,
    code: &str,
) -> Result<Vec<AttributeRow>, StoreError> {
    // Sorted here, byte-wise, not by the database: collations differ between SQLite and PostgreSQL, and the
    // import compares this list with its own to decide whether anything changed.
    let mut rows: Vec<AttributeRow> = service_attributes::table
        .filter(service_attributes::jurisdiction_id.eq(jurisdiction_id))
        .filter(service_attributes::service_code.eq(code))
        .select(AttributeRow::as_select())
        .load(conn)?;
    rows.sort_by(|a, b| a.code.cmp(&b.code));
    Ok(rows)
}

pub fn upsert_jurisdiction(
    conn: &mut AnyConnection,
    row: &JurisdictionRow,
    exists: bool,
) -> Result<(), StoreError> {
    if exists {
        diesel::update(jurisdictions::table.find(&row.id))
            .set(row)
            .execute(conn)?;
    } else {
        diesel::insert_into(jurisdictions::table)
            .values(row)
            .execute(conn)?;
    }
    Ok(())
}

pub fn upsert_service(
    conn: &mut AnyConnection,
    row: &ServiceRow,
    exists: bool,
) -> Result<(), StoreError> {
    if exists {
        diesel::update(services::table.find((&row.jurisdiction_id, &row.code)))
            .set(row)
            .execute(conn)?;
    } else {
        diesel::insert_into(services::table)
            .values(row)
            .execute(conn)?;
    }
    Ok(())
}

/// Replaces a service's attribute definitions.
pub fn replace_attributes(
    conn: &mut AnyConnection,
    jurisdiction_id: &str,
    code: &str,
    rows: &[AttributeRow],
) -> Result<(), StoreError> {
    diesel::delete(
        service_attributes::table
            .filter(service_attributes::jurisdiction_id.eq(jurisdiction_id))
            .filter(service_attributes::service_code.eq(code)),
    )
    .execute(conn)?;
    for row in rows {
        diesel::insert_into(service_attributes::table)
            .values(row)
            .execute(conn)?;
    }
    Ok(())
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = super::schema::jurisdiction_statuses, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct StatusRow {
    pub jurisdiction_id: String,
    pub code: String,
    pub name: String,
    pub closed: bool,
    pub position: i32,
    /// What the status means, for the citizen who asks (the SMS answer, the web page).
    pub description: Option<String>,
    /// What FixMyStreet's feed shows for it (`domain::fms::FEED`); `None`: derived.
    pub fms: Option<String>,
    /// The FixMyStreet statuses that set it, comma-separated; `None`: derived from `fms`.
    pub from_fms: Option<String>,
    /// New reports start in it (at most one of a vocabulary; none: the first open status).
    pub initial: bool,
}

/// One translated text of a jurisdiction's catalogue. `scope` is what an import replaces as a whole
/// (`service:CODE`, `statuses`); `item` names the text within it (`name`, `attr.DEPTH.description`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Queryable, Selectable, Insertable)]
#[diesel(table_name = super::schema::translations, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct TranslationRow {
    pub jurisdiction_id: String,
    pub scope: String,
    pub locale: String,
    pub item: String,
    pub text: String,
}

/// The translations of one scope, sorted.
pub fn translations(
    conn: &mut AnyConnection,
    jurisdiction_id: &str,
    scope: &str,
) -> Result<Vec<TranslationRow>, StoreError> {
    use super::schema::translations as t;
    let mut rows: Vec<TranslationRow> = t::table
        .filter(t::jurisdiction_id.eq(jurisdiction_id))
        .filter(t::scope.eq(scope))
        .select(TranslationRow::as_select())
        .load(conn)?;
    rows.sort();
    Ok(rows)
}

/// Moves a service's change time (or the jurisdiction's, for `None`), when only its translations changed.
pub fn touch(
    conn: &mut AnyConnection,
    jurisdiction_id: &str,
    service_code: Option<&str>,
    at: NaiveDateTime,
) -> Result<(), StoreError> {
    match service_code {
        Some(code) => diesel::update(
            services::table
                .filter(services::jurisdiction_id.eq(jurisdiction_id))
                .filter(services::code.eq(code)),
        )
        .set(services::updated_at.eq(at))
        .execute(conn)?,
        None => diesel::update(jurisdictions::table.find(jurisdiction_id))
            .set(jurisdictions::updated_at.eq(at))
            .execute(conn)?,
    };
    Ok(())
}

pub fn replace_translations(
    conn: &mut AnyConnection,
    jurisdiction_id: &str,
    scope: &str,
    rows: &[TranslationRow],
) -> Result<(), StoreError> {
    use super::schema::translations as t;
    diesel::delete(
        t::table
            .filter(t::jurisdiction_id.eq(jurisdiction_id))
            .filter(t::scope.eq(scope)),
    )
    .execute(conn)?;
    super::insert_rows!(conn, t::table, rows)
}

/// A jurisdiction's own status vocabulary, in its order (empty when it uses the default one).
pub fn statuses(
    conn: &mut AnyConnection,
    jurisdiction_id: &str,
) -> Result<Vec<StatusRow>, StoreError> {
    use super::schema::jurisdiction_statuses as js;
    let mut rows: Vec<StatusRow> = js::table
        .filter(js::jurisdiction_id.eq(jurisdiction_id))
        .select(StatusRow::as_select())
        .load(conn)?;
    rows.sort_by_key(|r| r.position);
    Ok(rows)
}

pub fn replace_statuses(
    conn: &mut AnyConnection,
    jurisdiction_id: &str,
    rows: &[StatusRow],
) -> Result<(), StoreError> {
    use super::schema::jurisdiction_statuses as js;
    diesel::delete(js::table.filter(js::jurisdiction_id.eq(jurisdiction_id))).execute(conn)?;
    for r in rows {
        diesel::insert_into(js::table).values(r).execute(conn)?;
    }
    Ok(())
}

/// The catalogue's version, moved by every import (see `bump_version`).
pub fn version(conn: &mut AnyConnection) -> Result<i64, StoreError> {
    use super::schema::catalog_version as cv;
    Ok(cv::table
        .find(1)
        .select(cv::version)
        .first::<i64>(conn)
        .optional()?
        .unwrap_or(0))
}

/// Moves the catalogue's version inside the caller's (import) transaction, so that running servers, in this
/// process or another, reload what they cached. Returns the version written, for `Store::catalog_changed_to`.
pub fn bump_version(conn: &mut AnyConnection) -> Result<i64, StoreError> {
    use super::schema::catalog_version as cv;
    diesel::update(cv::table.find(1))
        .set(cv::version.eq(cv::version + 1))
        .execute(conn)?;
    version(conn)
}

/// Everything the public catalogue is made of, in one read: jurisdictions, every service (inactive ones
/// too: old reports still name them) and every attribute definition.
pub struct Snapshot {
    pub version: i64,
    pub jurisdictions: Vec<JurisdictionRow>,
    pub services: Vec<ServiceRow>,
    pub attributes: Vec<AttributeRow>,
    pub translations: Vec<TranslationRow>,
    pub statuses: Vec<StatusRow>,
}

pub fn snapshot(conn: &mut AnyConnection) -> Result<Snapshot, StoreError> {
    Ok(Snapshot {
        version: version(conn)?,
        jurisdictions: jurisdictions::table
            .select(JurisdictionRow::as_select())
            .load(conn)?,
        services: services::table.select(ServiceRow::as_select()).load(conn)?,
        attributes: service_attributes::table
            .select(AttributeRow::as_select())
            .load(conn)?,
        translations: super::schema::translations::table
            .select(TranslationRow::as_select())
            .load(conn)?,
        statuses: super::schema::jurisdiction_statuses::table
            .select(StatusRow::as_select())
            .load(conn)?,
    })
}
