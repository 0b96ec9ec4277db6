//! Departments, areas and routing rules.

use super::schema::{areas, departments, routing_rules};
use super::{AnyConnection, StoreError};
use crate::routing::{Area, Rule};
use chrono::NaiveDateTime;
use diesel::prelude::*;

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = departments, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
#[diesel(treat_none_as_null = true)]
pub struct DepartmentRow {
    pub jurisdiction_id: String,
    pub code: String,
    pub name: String,
    pub emails_json: String,
    pub fallback_email: Option<String>,
    pub active: bool,
    pub updated_at: NaiveDateTime,
}

impl DepartmentRow {
    pub fn emails(&self) -> Vec<String> {
        serde_json::from_str(&self.emails_json).unwrap_or_default()
    }
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = areas, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
#[diesel(treat_none_as_null = true)]
pub struct AreaRow {
    pub jurisdiction_id: String,
    pub code: String,
    pub name: String,
    pub layer: String,
    pub parent_code: Option<String>,
    pub geometry: String,
    pub min_lon: f64,
    pub min_lat: f64,
    pub max_lon: f64,
    pub max_lat: f64,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = routing_rules, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub struct RuleRow {
    pub jurisdiction_id: String,
    pub id: String,
    pub service_code: Option<String>,
    pub service_group: Option<String>,
    pub area_code: Option<String>,
    pub department_code: String,
    pub priority: i32,
    pub updated_at: NaiveDateTime,
}

impl From<RuleRow> for Rule {
    fn from(r: RuleRow) -> Self {
        Rule {
            id: r.id,
            service_code: r.service_code,
            service_group: r.service_group,
            area_code: r.area_code,
            department_code: r.department_code,
            priority: r.priority,
        }
    }
}

/// Parses a stored GeoJSON geometry into a multipolygon (a polygon becomes a multipolygon of one).
pub fn parse_geometry(text: &str) -> Result<geo::MultiPolygon<f64>, String> {
    let g: geojson::Geometry = text.parse().map_err(|e: geojson::Error| e.to_string())?;
    match geo::Geometry::<f64>::try_from(g).map_err(|e| e.to_string())? {
        geo::Geometry::Polygon(p) => Ok(geo::MultiPolygon(vec![p])),
        geo::Geometry::MultiPolygon(m) => Ok(m),
        _ => Err("not a Polygon or MultiPolygon".into()),
    }
}

impl TryFrom<AreaRow> for Area {
    type Error = StoreError;
    fn try_from(r: AreaRow) -> Result<Self, StoreError> {
        let geometry = parse_geometry(&r.geometry)
            .map_err(|e| StoreError::Corrupt(format!("area {}: {e}", r.code)))?;
        Ok(Area {
            code: r.code,
            name: r.name,
            layer: r.layer,
            parent_code: r.parent_code,
            geometry,
        })
    }
}

pub fn departments(
    conn: &mut AnyConnection,
    jurisdiction_id: &str,
) -> Result<Vec<DepartmentRow>, StoreError> {
    Ok(departments::table
        .filter(departments::jurisdiction_id.eq(jurisdiction_id))
        .order(departments::code)
        .select(DepartmentRow::as_select())
        .load(conn)?)
}

pub fn department(
    conn: &mut AnyConnection,
    jurisdiction_id: &str,
    code: &str,
) -> Result<Option<DepartmentRow>, StoreError> {
    Ok(departments::table
        .find((jurisdiction_id, code))
        .select(DepartmentRow::as_select())
        .first(conn)
        .optional()?)
}

pub fn rules(conn: &mut AnyConnection, jurisdiction_id: &str) -> Result<Vec<Rule>, StoreError> {
    let rows: Vec<RuleRow> = routing_rules::table
        .filter(routing_rules::jurisdiction_id.eq(jurisdiction_id))
        .order(routing_rules::id)
        .select(RuleRow::as_select())
        .load(conn)?;
    Ok(rows.into_iter().map(Rule::from).collect())
}

pub fn rule_rows(
    conn: &mut AnyConnection,
    jurisdiction_id: &str,
) -> Result<Vec<RuleRow>, StoreError> {
    // Sorted byte-wise here, as the import sorts its own, whatever the database's collation.
    let mut rows: Vec<RuleRow> = routing_rules::table
        .filter(routing_rules::jurisdiction_id.eq(jurisdiction_id))
        .select(RuleRow::as_select())
        .load(conn)?;
    rows.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(rows)
}

pub fn areas(conn: &mut AnyConnection, jurisdiction_id: &str) -> Result<Vec<Area>, StoreError> {
    let rows: Vec<AreaRow> = areas::table
        .filter(areas::jurisdiction_id.eq(jurisdiction_id))
        .order(areas::code)
        .select(AreaRow::as_select())
        .load(conn)?;
    rows.into_iter().map(Area::try_from).collect()
}

pub fn area_row(
    conn: &mut AnyConnection,
    jurisdiction_id: &str,
    code: &str,
) -> Result<Option<AreaRow>, StoreError> {
    Ok(areas::table
        .find((jurisdiction_id, code))
        .select(AreaRow::as_select())
        .first(conn)
        .optional()?)
}

pub fn area_rows_of_layer(
    conn: &mut AnyConnection,
    jurisdiction_id: &str,
    layer: &str,
) -> Result<Vec<AreaRow>, StoreError> {
    Ok(areas::table
        .filter(areas::jurisdiction_id.eq(jurisdiction_id))
        .filter(areas::layer.eq(layer))
        .select(AreaRow::as_select())
        .load(conn)?)
}

pub fn upsert_department(
    conn: &mut AnyConnection,
    row: &DepartmentRow,
    exists: bool,
) -> Result<(), StoreError> {
    if exists {
        diesel::update(departments::table.find((&row.jurisdiction_id, &row.code)))
            .set(row)
            .execute(conn)?;
    } else {
        diesel::insert_into(departments::table)
            .values(row)
            .execute(conn)?;
    }
    Ok(())
}

pub fn upsert_area(
    conn: &mut AnyConnection,
    row: &AreaRow,
    exists: bool,
) -> Result<(), StoreError> {
    if exists {
        diesel::update(areas::table.find((&row.jurisdiction_id, &row.code)))
            .set(row)
            .execute(conn)?;
    } else {
        diesel::insert_into(areas::table)
            .values(row)
            .execute(conn)?;
    }
    Ok(())
}

pub fn delete_area(
    conn: &mut AnyConnection,
    jurisdiction_id: &str,
    code: &str,
) -> Result<(), StoreError> {
    diesel::delete(areas::table.find((jurisdiction_id, code))).execute(conn)?;
    Ok(())
}

/// Replaces a jurisdiction's rule set.
pub fn replace_rules(
    conn: &mut AnyConnection,
    jurisdiction_id: &str,
    rows: &[RuleRow],
) -> Result<(), StoreError> {
    diesel::delete(routing_rules::table.filter(routing_rules::jurisdiction_id.eq(jurisdiction_id)))
        .execute(conn)?;
    for row in rows {
        diesel::insert_into(routing_rules::table)
            .values(row)
            .execute(conn)?;
    }
    Ok(())
}
