//! The routing part of a city's files: departments, area layers (GeoJSON) and routing rules.

use super::{now, resolve_jurisdiction};
use crate::store::routing::{self as rs, AreaRow, DepartmentRow, RuleRow};
use crate::store::{AnyConnection, StoreError};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::Path;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DepartmentDef {
    #[serde(default)]
    jurisdiction: Option<String>,
    code: String,
    name: String,
    /// Every address gets its own delivery of each report.
    emails: Vec<String>,
    /// Where a report goes when an address is refused for good (5xx) or keeps failing.
    #[serde(default)]
    fallback_email: Option<String>,
    #[serde(default)]
    active: Option<bool>,
}

/// One property name, or several tried in order (the first present, non-null value wins).
#[derive(Debug, Deserialize, Clone)]
#[serde(untagged)]
pub enum PropertyNames {
    One(String),
    Several(Vec<String>),
}

impl PropertyNames {
    fn names(&self) -> Vec<&str> {
        match self {
            PropertyNames::One(n) => vec![n.as_str()],
            PropertyNames::Several(v) => v.iter().map(String::as_str).collect(),
        }
    }

    fn pick(&self, props: Option<&serde_json::Map<String, serde_json::Value>>) -> Option<String> {
        let props = props?;
        self.names().into_iter().find_map(|n| match props.get(n)? {
            serde_json::Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
            serde_json::Value::Number(x) => Some(x.to_string()),
            _ => None,
        })
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AreaLayerDef {
    #[serde(default)]
    jurisdiction: Option<String>,
    /// The layer's name (`kota`, `kelurahan`, `flood-zone`); re-importing a layer replaces its areas.
    layer: String,
    /// A GeoJSON FeatureCollection of Polygons and MultiPolygons, relative to this TOML file.
    file: String,
    code_property: PropertyNames,
    #[serde(default)]
    name_property: Option<PropertyNames>,
    /// The layer holding each area's parent (`kecamatan` for a kelurahan), for boundary-consistency warnings.
    #[serde(default)]
    parent_layer: Option<String>,
    /// The property of this layer naming the parent …
    #[serde(default)]
    parent_property: Option<String>,
    /// … matched against this property of the parent layer's features (default: the parent's code property).
    #[serde(default)]
    parent_key_property: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleDef {
    #[serde(default)]
    jurisdiction: Option<String>,
    id: String,
    #[serde(default)]
    service: Option<String>,
    #[serde(default)]
    group: Option<String>,
    #[serde(default)]
    area: Option<String>,
    department: String,
    #[serde(default)]
    priority: Option<i32>,
}

/// What the database holds already, so that files may refer to it.
#[derive(Default)]
pub struct Known {
    pub services: HashSet<(String, String)>,
    pub groups: HashSet<(String, String)>,
    pub departments: HashSet<(String, String)>,
    pub areas: HashSet<(String, String)>,
}

impl Plan {
    /// Each imported layer: (jurisdiction, layer, how many areas, their bounding box
    /// `[min_long, min_lat, max_long, max_lat]`), for the officer to check against the map.
    pub fn layer_extents(&self) -> Vec<super::LayerSummary> {
        self.layers
            .iter()
            .map(|(j, layer, rows)| super::LayerSummary {
                jurisdiction: j.clone(),
                layer: layer.clone(),
                areas: rows.len(),
                bbox: rows.iter().fold(
                    [
                        f64::INFINITY,
                        f64::INFINITY,
                        f64::NEG_INFINITY,
                        f64::NEG_INFINITY,
                    ],
                    |b, r| {
                        [
                            b[0].min(r.min_lon),
                            b[1].min(r.min_lat),
                            b[2].max(r.max_lon),
                            b[3].max(r.max_lat),
                        ]
                    },
                ),
            })
            .collect()
    }
}

impl Known {
    pub fn load(conn: &mut AnyConnection, jurisdictions: &[String]) -> Result<Self, StoreError> {
        let mut k = Known::default();
        for j in jurisdictions {
            for (s, _) in crate::store::catalog::services(conn, j)? {
                if let Some(g) = &s.group {
                    k.groups.insert((j.clone(), g.clone()));
                }
                k.services.insert((j.clone(), s.code));
            }
            for d in rs::departments(conn, j)? {
                k.departments.insert((j.clone(), d.code));
            }
            for a in rs::areas(conn, j)? {
                k.areas.insert((j.clone(), a.code));
            }
        }
        Ok(k)
    }
}

#[derive(Default)]
pub struct Plan {
    departments: Vec<DepartmentRow>,
    /// (jurisdiction, layer, areas)
    layers: Vec<(String, String, Vec<AreaRow>)>,
    /// Rule sets replace a jurisdiction's rules as a whole.
    rules: BTreeMap<String, Vec<RuleRow>>,
}

/// One city file's routing sections: (file shown in messages, its directory, departments, layers, rules).
pub type FileInput<'a> = (
    &'a str,
    &'a Path,
    &'a [DepartmentDef],
    &'a [AreaLayerDef],
    &'a [RuleDef],
);

/// A feature read from a layer file: code, name, properties, geometry, bounding box.
type Feature = (
    String,
    String,
    Option<serde_json::Map<String, serde_json::Value>>,
    geojson::Geometry,
    [f64; 4],
);

pub struct Input<'a> {
    pub files: Vec<FileInput<'a>>,
    pub jurisdictions: &'a HashSet<String>,
    /// The extents jurisdictions declare (`bbox`), `[min_long, min_lat, max_long, max_lat]`.
    pub extents: HashMap<String, [f64; 4]>,
    /// Services and groups defined by the files being imported.
    pub services: HashSet<(String, String)>,
    pub groups: HashSet<(String, String)>,
}

fn valid_email(s: &str) -> bool {
    s.parse::<lettre::Address>().is_ok()
}

pub fn validate(input: &Input, known: &Known, problems: &mut Vec<String>) -> Plan {
    let mut plan = Plan::default();
    let now = now();
    for (file, _, departments, _, _) in &input.files {
        for (i, d) in departments.iter().enumerate() {
            let at = format!("{file}: departments[{i}] ({})", d.code);
            let Some(j) = resolve_jurisdiction(
                &at,
                d.jurisdiction.as_deref(),
                input.jurisdictions,
                problems,
            ) else {
                continue;
            };
            if d.code.is_empty() || d.code.chars().any(char::is_whitespace) {
                problems.push(format!("{at}: code must be a non-empty word"));
            }
            if plan
                .departments
                .iter()
                .any(|x| x.jurisdiction_id == j && x.code == d.code)
            {
                problems.push(format!("{at}: department {} is defined twice", d.code));
            }
            if d.emails.is_empty() {
                problems.push(format!("{at}: emails must list at least one address"));
            }
            for e in d.emails.iter().chain(d.fallback_email.iter()) {
                if !valid_email(e) {
                    problems.push(format!("{at}: '{e}' is not a valid e-mail address"));
                }
            }
            plan.departments.push(DepartmentRow {
                jurisdiction_id: j,
                code: d.code.clone(),
                name: d.name.clone(),
                emails_json: serde_json::to_string(&d.emails).unwrap_or_else(|_| "[]".into()),
                fallback_email: d.fallback_email.clone(),
                active: d.active.unwrap_or(true),
                updated_at: now,
            });
        }
    }

    // Layers: read every file first, so that parents can be resolved across layers.
    struct Loaded<'a> {
        at: String,
        jurisdiction: String,
        def: &'a AreaLayerDef,
        features: Vec<Feature>,
    }
    let mut loaded: Vec<Loaded> = Vec::new();
    for (file, dir, _, layers, _) in &input.files {
        for (i, l) in layers.iter().enumerate() {
            let at = format!("{file}: area_layers[{i}] ({})", l.layer);
            let Some(j) = resolve_jurisdiction(
                &at,
                l.jurisdiction.as_deref(),
                input.jurisdictions,
                problems,
            ) else {
                continue;
            };
            if loaded
                .iter()
                .any(|x| x.jurisdiction == j && x.def.layer == l.layer)
            {
                problems.push(format!("{at}: layer {} is defined twice", l.layer));
                continue;
            }
            // Relative to the TOML file that names it: the message shows where that led.
            let path = dir.join(&l.file);
            let shown = format!("{file} → {}", path.display());
            let collection = match std::fs::read_to_string(&path)
                .map_err(|e| e.to_string())
                .and_then(|t| t.parse::<geojson::GeoJson>().map_err(|e| e.to_string()))
            {
                Ok(geojson::GeoJson::FeatureCollection(fc)) => fc,
                Ok(_) => {
                    problems.push(format!("{shown}: must be a GeoJSON FeatureCollection"));
                    continue;
                }
                Err(e) => {
                    problems.push(format!("{shown}: {e}"));
                    continue;
                }
            };
            let mut features = Vec::new();
            for (k, f) in collection.features.into_iter().enumerate() {
                let code = l.code_property.pick(f.properties.as_ref());
                let name = l
                    .name_property
                    .as_ref()
                    .and_then(|n| n.pick(f.properties.as_ref()))
                    .or_else(|| code.clone());
                let fat = format!(
                    "{shown}: features[{k}] ({})",
                    code.as_deref().unwrap_or("no code")
                );
                let Some(code) = code else {
                    problems.push(format!(
                        "{fat}: none of the properties {:?} holds a code",
                        l.code_property.names()
                    ));
                    continue;
                };
                let Some(geometry) = f.geometry else {
                    problems.push(format!("{fat}: the feature has no geometry"));
                    continue;
                };
                match check_geometry(&geometry) {
                    Ok(bbox) => features.push((
                        code,
                        name.unwrap_or_default(),
                        f.properties,
                        geometry,
                        bbox,
                    )),
                    Err(e) => problems.push(format!("{fat}: {e}")),
                }
            }
            let mut seen = HashSet::new();
            for (code, ..) in &features {
                if !seen.insert(code.clone()) {
                    problems.push(format!("{shown}: area code {code} appears twice"));
                }
            }
            if let Some(extent) = input.extents.get(&j) {
                check_extent(&shown, extent, &features, problems);
            }
            loaded.push(Loaded {
                at,
                jurisdiction: j,
                def: l,
                features,
            });
        }
    }
    let mut all_codes: HashMap<(String, String), String> = HashMap::new();
    for l in &loaded {
        for (code, ..) in &l.features {
            if let Some(other) =
                all_codes.insert((l.jurisdiction.clone(), code.clone()), l.def.layer.clone())
            {
                if other != l.def.layer {
                    problems.push(format!(
                        "{}: area code {code} is also used in layer {other}",
                        l.at
                    ));
                }
            }
        }
    }
    for l in &loaded {
        let parents: Option<HashMap<String, String>> =
            match (&l.def.parent_layer, &l.def.parent_property) {
                (Some(pl), Some(_)) => match loaded
                    .iter()
                    .find(|x| x.jurisdiction == l.jurisdiction && &x.def.layer == pl)
                {
                    Some(parent) => {
                        let key = l.def.parent_key_property.clone();
                        Some(
                            parent
                                .features
                                .iter()
                                .filter_map(|(code, _, props, ..)| {
                                    let k = match &key {
                                        Some(k) => {
                                            PropertyNames::One(k.clone()).pick(props.as_ref())?
                                        }
                                        None => code.clone(),
                                    };
                                    Some((k.to_lowercase(), code.clone()))
                                })
                                .collect(),
                        )
                    }
                    None => {
                        problems.push(format!(
                            "{}: parent_layer {pl} is not among the imported layers",
                            l.at
                        ));
                        None
                    }
                },
                (None, None) => None,
                _ => {
                    problems.push(format!(
                        "{}: parent_layer and parent_property go together",
                        l.at
                    ));
                    None
                }
            };
        let mut rows = Vec::new();
        for (code, name, props, geometry, bbox) in &l.features {
            let parent_code = match (&parents, &l.def.parent_property) {
                (Some(map), Some(prop)) => {
                    let value = PropertyNames::One(prop.clone()).pick(props.as_ref());
                    match value.as_ref().and_then(|v| map.get(&v.to_lowercase())) {
                        Some(p) => Some(p.clone()),
                        None => {
                            problems.push(format!("{}: area {code}: its {prop} {:?} matches no area of the parent layer", l.at, value));
                            None
                        }
                    }
                }
                _ => None,
            };
            rows.push(AreaRow {
                jurisdiction_id: l.jurisdiction.clone(),
                code: code.clone(),
                name: name.clone(),
                layer: l.def.layer.clone(),
                parent_code,
                geometry: geometry.to_string(),
                min_lon: bbox[0],
                min_lat: bbox[1],
                max_lon: bbox[2],
                max_lat: bbox[3],
                updated_at: now,
            });
        }
        plan.layers
            .push((l.jurisdiction.clone(), l.def.layer.clone(), rows));
    }

    let department_known = |j: &str, code: &str| {
        plan.departments
            .iter()
            .any(|d| d.jurisdiction_id == j && d.code == code)
            || known
                .departments
                .contains(&(j.to_string(), code.to_string()))
    };
    let area_known = |j: &str, code: &str| {
        plan.layers
            .iter()
            .any(|(lj, _, rows)| lj == j && rows.iter().any(|r| r.code == code))
            || known.areas.contains(&(j.to_string(), code.to_string()))
    };
    let mut rules: BTreeMap<String, Vec<RuleRow>> = BTreeMap::new();
    for (file, _, _, _, defs) in &input.files {
        for (i, r) in defs.iter().enumerate() {
            let at = format!("{file}: rules[{i}] ({})", r.id);
            let Some(j) = resolve_jurisdiction(
                &at,
                r.jurisdiction.as_deref(),
                input.jurisdictions,
                problems,
            ) else {
                continue;
            };
            let set = rules.entry(j.clone()).or_default();
            if set.iter().any(|x| x.id == r.id) {
                problems.push(format!("{at}: rule {} is defined twice", r.id));
            }
            if r.service.is_some() && r.group.is_some() {
                problems.push(format!("{at}: name a service or a group, not both"));
            }
            // What the jurisdiction has, to suggest for a misspelt code.
            let of_j = |set: &HashSet<(String, String)>| -> Vec<String> {
                set.iter()
                    .filter(|(x, _)| *x == j)
                    .map(|(_, c)| c.clone())
                    .collect()
            };
            let suggest = |word: &str, candidates: Vec<String>| {
                let refs: Vec<&str> = candidates.iter().map(String::as_str).collect();
                super::validate::did_you_mean(word, &refs)
            };
            if let Some(s) = &r.service {
                let key = (j.clone(), s.clone());
                if !input.services.contains(&key) && !known.services.contains(&key) {
                    let mut all = of_j(&input.services);
                    all.extend(of_j(&known.services));
                    problems.push(format!(
                        "{at}: service {s} is not defined{}",
                        suggest(s, all)
                    ));
                }
            }
            if let Some(g) = &r.group {
                let key = (j.clone(), g.clone());
                if !input.groups.contains(&key) && !known.groups.contains(&key) {
                    problems.push(format!("{at}: no service is in group {g}"));
                }
            }
            if let Some(a) = &r.area {
                if !area_known(&j, a) {
                    let mut all = of_j(&known.areas);
                    all.extend(
                        plan.layers
                            .iter()
                            .filter(|(lj, ..)| *lj == j)
                            .flat_map(|(_, _, rows)| rows.iter().map(|r| r.code.clone())),
                    );
                    problems.push(format!("{at}: area {a} is not defined{}", suggest(a, all)));
                }
            }
            if !department_known(&j, &r.department) {
                let mut all = of_j(&known.departments);
                all.extend(
                    plan.departments
                        .iter()
                        .filter(|d| d.jurisdiction_id == j)
                        .map(|d| d.code.clone()),
                );
                problems.push(format!(
                    "{at}: department {} is not defined{}",
                    r.department,
                    suggest(&r.department, all)
                ));
            }
            set.push(RuleRow {
                jurisdiction_id: j,
                id: r.id.clone(),
                service_code: r.service.clone(),
                service_group: r.group.clone(),
                area_code: r.area.clone(),
                department_code: r.department.clone(),
                priority: r.priority.unwrap_or(0),
                updated_at: now,
            });
        }
    }
    for set in rules.values_mut() {
        set.sort_by(|a, b| a.id.cmp(&b.id));
    }
    plan.rules = rules;
    plan
}

/// Whether `inner` lies within `outer` (both `[min_lon, min_lat, max_lon, max_lat]`).
fn within(inner: &[f64; 4], outer: &[f64; 4]) -> bool {
    inner[0] >= outer[0] && inner[1] >= outer[1] && inner[2] <= outer[2] && inner[3] <= outer[3]
}

/// Every area of a layer must lie within its jurisdiction's extent. A layer whose areas are outside it but
/// would be inside with longitude and latitude exchanged was written `[lat, lon]`: the message says so,
/// because "outside the city" alone would not tell the officer what to fix. Swapped coordinates are still
/// valid WGS84 for most cities, so no other check catches them.
fn check_extent(shown: &str, extent: &[f64; 4], features: &[Feature], problems: &mut Vec<String>) {
    let outside: Vec<&Feature> = features
        .iter()
        .filter(|(.., bbox)| !within(bbox, extent))
        .collect();
    if outside.is_empty() {
        return;
    }
    let swapped_inside = outside
        .iter()
        .all(|(.., b)| within(&[b[1], b[0], b[3], b[2]], extent));
    let [w, s, e, n] = extent;
    if swapped_inside {
        problems.push(format!(
            "{shown}: the coordinate order looks swapped: {} of {} areas lie outside the jurisdiction's bbox \
             [{w}, {s}, {e}, {n}] and would lie inside it with longitude and latitude exchanged (GeoJSON \
             positions are [longitude, latitude])",
            outside.len(),
            features.len()
        ));
        return;
    }
    for (code, _, _, _, b) in outside.iter().take(5) {
        problems.push(format!(
            "{shown}: area {code} (bbox [{:.5}, {:.5}, {:.5}, {:.5}]) lies outside the jurisdiction's bbox [{w}, {s}, {e}, {n}]",
            b[0], b[1], b[2], b[3]
        ));
    }
    if outside.len() > 5 {
        problems.push(format!(
            "{shown}: and {} more areas outside the jurisdiction's bbox",
            outside.len() - 5
        ));
    }
}

/// Checks a Polygon or MultiPolygon: rings closed with at least 4 positions, coordinates in range. Returns its
/// bounding box `[min_lon, min_lat, max_lon, max_lat]`.
fn check_geometry(g: &geojson::Geometry) -> Result<[f64; 4], String> {
    let polygons: Vec<&geojson::PolygonType> = match &g.value {
        geojson::GeometryValue::Polygon { coordinates } => vec![coordinates],
        geojson::GeometryValue::MultiPolygon { coordinates } => coordinates.iter().collect(),
        other => {
            return Err(format!(
                "a {} is not an area; use Polygon or MultiPolygon",
                other.type_name()
            ))
        }
    };
    let mut bbox = [
        f64::INFINITY,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NEG_INFINITY,
    ];
    for (pi, polygon) in polygons.iter().enumerate() {
        if polygon.is_empty() {
            return Err(format!("polygon {pi} has no rings"));
        }
        for (ri, ring) in polygon.iter().enumerate() {
            if ring.len() < 4 {
                return Err(format!(
                    "polygon {pi} ring {ri} has {} positions; a ring needs at least 4",
                    ring.len()
                ));
            }
            if ring.first() != ring.last() {
                return Err(format!(
                    "polygon {pi} ring {ri} is not closed (its first and last positions differ)"
                ));
            }
            for pos in ring {
                let (Some(&lon), Some(&lat)) = (pos.as_slice().first(), pos.as_slice().get(1))
                else {
                    return Err(format!(
                        "polygon {pi} ring {ri} has a position with fewer than 2 numbers"
                    ));
                };
                if !(lon.is_finite()
                    && lat.is_finite()
                    && (-180.0..=180.0).contains(&lon)
                    && (-90.0..=90.0).contains(&lat))
                {
                    // [-6.2, 106.8] is Jakarta written [lat, lon]: say so, it is the likely mistake.
                    let swapped = (-90.0..=90.0).contains(&lon) && (-180.0..=180.0).contains(&lat);
                    return Err(format!(
                        "polygon {pi} ring {ri} has a position outside WGS84 lon/lat: [{lon}, {lat}]{}",
                        if swapped {
                            "; the coordinate order looks swapped (GeoJSON positions are [longitude, latitude])"
                        } else {
                            ""
                        }
                    ));
                }
                bbox = [
                    bbox[0].min(lon),
                    bbox[1].min(lat),
                    bbox[2].max(lon),
                    bbox[3].max(lat),
                ];
            }
        }
    }
    Ok(bbox)
}

/// Applies the plan; `count(kind, existed, changed)` tallies the summary, `removed(kind)` what went.
pub fn apply(
    conn: &mut AnyConnection,
    plan: &Plan,
    count: &mut dyn FnMut(&'static str, bool, bool),
) -> Result<usize, StoreError> {
    let mut areas_removed = 0;
    for row in &plan.departments {
        let current = rs::department(conn, &row.jurisdiction_id, &row.code)?;
        let changed = current.as_ref().is_none_or(|c| {
            DepartmentRow {
                updated_at: row.updated_at,
                ..c.clone()
            } != *row
        });
        if changed {
            rs::upsert_department(conn, row, current.is_some())?;
        }
        count("departments", current.is_some(), changed);
    }
    for (j, layer, rows) in &plan.layers {
        // One query for the layer, not one per area: a national layer has tens of thousands.
        let mut before: HashMap<String, AreaRow> = rs::area_rows_of_layer(conn, j, layer)?
            .into_iter()
            .map(|r| (r.code.clone(), r))
            .collect();
        for row in rows {
            let current = match before.remove(&row.code) {
                Some(r) => Some(r),
                // Possibly in another layer until now.
                None => rs::area_row(conn, j, &row.code)?,
            };
            let changed = current.as_ref().is_none_or(|c| {
                AreaRow {
                    updated_at: row.updated_at,
                    ..c.clone()
                } != *row
            });
            if changed {
                rs::upsert_area(conn, row, current.is_some())?;
            }
            count("areas", current.is_some(), changed);
        }
        // What is left was in the layer but is no longer in its file.
        for gone in before.keys() {
            rs::delete_area(conn, j, gone)?;
            areas_removed += 1;
        }
    }
    for (j, rows) in &plan.rules {
        let current = rs::rule_rows(conn, j)?;
        let same = current.len() == rows.len()
            && current.iter().zip(rows).all(|(c, r)| {
                RuleRow {
                    updated_at: r.updated_at,
                    ..c.clone()
                } == *r
            });
        if !same {
            rs::replace_rules(conn, j, rows)?;
        }
        count("rule sets", !current.is_empty(), !same);
    }
    Ok(areas_removed)
}

impl Plan {
    /// The jurisdictions whose routing the plan changes (departments, areas or rules).
    pub fn jurisdictions(&self) -> BTreeSet<String> {
        self.departments
            .iter()
            .map(|d| d.jurisdiction_id.clone())
            .chain(self.layers.iter().map(|(j, ..)| j.clone()))
            .chain(self.rules.keys().cloned())
            .collect()
    }
}
