//! `civic311 import <dir>`: a city's configuration from plain TOML files. Everything is validated first and
//! every problem is reported with its file and item; then one transaction applies it. Rows that did not
//! change are not touched, so importing the same files twice changes nothing (and the discovery changeset
//! stays put).

mod routing;

use crate::auth;
use crate::domain::{Datatype, ListValue, ServiceType};
use crate::limits::RateSetting;
use crate::store::api_keys::{self, ApiKeyRow};
use crate::store::catalog::{self, AttributeRow, JurisdictionRow, ServiceRow};
use crate::store::{AnyConnection, Store, StoreError};
use chrono::{DurationRound, NaiveDateTime, TimeDelta, Utc};
use serde::Deserialize;
use std::collections::HashSet;
use std::path::{Path, PathBuf};

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct CityFile {
    #[serde(default)]
    jurisdictions: Vec<JurisdictionDef>,
    #[serde(default)]
    services: Vec<ServiceDef>,
    #[serde(default)]
    api_keys: Vec<ApiKeyDef>,
    #[serde(default)]
    departments: Vec<routing::DepartmentDef>,
    #[serde(default)]
    area_layers: Vec<routing::AreaLayerDef>,
    #[serde(default)]
    rules: Vec<routing::RuleDef>,
    #[serde(default)]
    statuses: Vec<StatusDef>,
}

/// One status of a jurisdiction's vocabulary for staff, mapped to Open311 open or closed.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StatusDef {
    #[serde(default)]
    jurisdiction: Option<String>,
    code: String,
    name: String,
    /// Whether the status means the report is closed (fixed, not responsible, …).
    closed: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct JurisdictionDef {
    id: String,
    name: String,
    contact: String,
    key_service: String,
    /// e.g. "+07:00"; datetimes are shown in this offset.
    #[serde(default)]
    utc_offset: Option<String>,
    /// "production" or "test" (discovery `type`).
    #[serde(default)]
    endpoint_type: Option<String>,
    /// Areas within this many metres of a report are listed as "near" in its routing trace (default 100).
    #[serde(default)]
    near_meters: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ServiceDef {
    #[serde(default)]
    jurisdiction: Option<String>,
    code: String,
    name: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default, rename = "type")]
    service_type: Option<String>,
    #[serde(default)]
    keywords: Vec<String>,
    #[serde(default)]
    group: Option<String>,
    #[serde(default)]
    service_notice: Option<String>,
    #[serde(default)]
    expected_hours: Option<i32>,
    #[serde(default)]
    active: Option<bool>,
    /// Whether the department's e-mail carries the reporter's contact details (default false).
    #[serde(default)]
    share_contact: Option<bool>,
    #[serde(default)]
    attributes: Vec<AttributeDefFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AttributeDefFile {
    code: String,
    datatype: String,
    description: String,
    #[serde(default)]
    variable: Option<bool>,
    #[serde(default)]
    required: Option<bool>,
    #[serde(default)]
    datatype_description: Option<String>,
    #[serde(default)]
    order: Option<i32>,
    #[serde(default)]
    values: Vec<ListValue>,
    #[serde(default)]
    min: Option<f64>,
    #[serde(default)]
    max: Option<f64>,
    #[serde(default)]
    unit: Option<String>,
    #[serde(default)]
    label: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ApiKeyDef {
    name: String,
    /// The key itself (only its hash is stored). Fine for test keys kept in a repository; for production
    /// keys prefer `key_sha256` or `civic311 apikey create`.
    #[serde(default)]
    key: Option<String>,
    #[serde(default)]
    key_sha256: Option<String>,
    #[serde(default)]
    kind: Option<String>,
    /// For a backoffice key: the jurisdiction whose reports it may update (default: the only one).
    #[serde(default)]
    jurisdiction: Option<String>,
    /// Its own POST rate, e.g. `1200/min` or `off` (default: the server's `CIVIC311_RATE_LIMIT_KEY`).
    #[serde(default)]
    rate_limit: Option<String>,
}

/// An API key to create or update.
struct KeyPlan {
    name: String,
    hash: String,
    kind: api_keys::ApiKeyKind,
    /// The plaintext of a test key, to show on the console.
    shown: Option<String>,
    jurisdiction: Option<String>,
    /// Given in plaintext (`key =`): see `ApiKeyRow::published`.
    published: bool,
    rate_limit: Option<String>,
}

/// What an import did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Summary {
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
    /// Test keys whose plaintext was in the files, so that `serve` can tell a developer how to post.
    pub test_keys: Vec<(String, String)>,
    /// Names of the keys whose plaintext was in the files (they work only with `--demo`).
    pub published_keys: Vec<String>,
    /// Names of keys in the files that were revoked and stay so.
    pub revoked_keys: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("the import was refused; nothing was changed:\n  {}", .0.join("\n  "))]
    Invalid(Vec<String>),
    #[error(transparent)]
    Store(#[from] StoreError),
}

struct Plan {
    jurisdictions: Vec<JurisdictionRow>,
    services: Vec<(ServiceRow, Vec<AttributeRow>)>,
    keys: Vec<KeyPlan>,
    routing: routing::Plan,
    /// Vocabularies replace a jurisdiction's statuses as a whole.
    statuses: std::collections::BTreeMap<String, Vec<catalog::StatusRow>>,
}

/// Reads every `*.toml` file under `dir` (sorted, recursively), validates the whole set and applies it.
pub fn import_dir(store: &Store, dir: &Path) -> Result<Summary, ImportError> {
    let files = toml_files(dir)
        .map_err(|e| ImportError::Invalid(vec![format!("{}: {e}", dir.display())]))?;
    if files.is_empty() {
        return Err(ImportError::Invalid(vec![format!(
            "{}: no .toml files found",
            dir.display()
        )]));
    }
    let mut parsed = Vec::new();
    let mut problems = Vec::new();
    for path in files {
        let shown = path
            .strip_prefix(dir)
            .unwrap_or(&path)
            .display()
            .to_string();
        match std::fs::read_to_string(&path)
            .map_err(|e| e.to_string())
            .and_then(|s| toml::from_str::<CityFile>(&s).map_err(|e| e.to_string()))
        {
            Ok(file) => parsed.push((shown, path.parent().unwrap_or(dir).to_path_buf(), file)),
            Err(e) => problems.push(format!("{shown}: {}", e.trim())),
        }
    }
    if !problems.is_empty() {
        return Err(ImportError::Invalid(problems));
    }
    let existing: Vec<String> = store
        .read_blocking(catalog::jurisdictions)?
        .into_iter()
        .map(|j| j.id)
        .collect();
    let known = store.read_blocking(|conn| routing::Known::load(conn, &existing))?;
    let plan = validate(&parsed, &existing, &known)?;
    let (summary, version) = store.write_blocking(|conn| apply(conn, &plan))?;
    store.catalog_changed_to(version);
    Ok(summary)
}

fn toml_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d)? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "toml") {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

fn parse_offset(s: &str) -> Option<i32> {
    let (sign, rest) = match s.as_bytes().first()? {
        b'+' => (1, &s[1..]),
        b'-' => (-1, &s[1..]),
        _ => return None,
    };
    let (h, m) = rest.split_once(':')?;
    let (h, m): (i32, i32) = (h.parse().ok()?, m.parse().ok()?);
    (h <= 14 && m < 60 && h.to_string().len() <= 2 && m.to_string().len() <= 2)
        .then_some(sign * (h * 60 + m))
}

/// The jurisdiction an item belongs to: the one it names, or the only one there is.
fn resolve_jurisdiction(
    at: &str,
    explicit: Option<&str>,
    known: &HashSet<String>,
    problems: &mut Vec<String>,
) -> Option<String> {
    match (explicit, known.len()) {
        (Some(j), _) if known.contains(j) => Some(j.to_string()),
        (Some(j), _) => {
            problems.push(format!(
                "{at}: jurisdiction {j} is neither in these files nor in the database"
            ));
            None
        }
        (None, 1) => known.iter().next().cloned(),
        (None, 0) => {
            problems.push(format!(
                "{at}: no jurisdiction is defined; add a [[jurisdictions]] entry"
            ));
            None
        }
        (None, _) => {
            problems.push(format!(
                "{at}: several jurisdictions exist; say which with jurisdiction = \"…\""
            ));
            None
        }
    }
}

fn now() -> NaiveDateTime {
    let t = Utc::now();
    t.duration_trunc(TimeDelta::seconds(1))
        .unwrap_or(t)
        .naive_utc()
}

type Parsed = (String, PathBuf, CityFile);

fn validate(
    files: &[Parsed],
    existing: &[String],
    db: &routing::Known,
) -> Result<Plan, ImportError> {
    let mut problems = Vec::new();
    let now = now();
    let mut jurisdictions = Vec::new();
    for (file, _, f) in files {
        for (i, j) in f.jurisdictions.iter().enumerate() {
            let at = format!("{file}: jurisdictions[{i}] ({})", j.id);
            if j.id.trim().is_empty() || j.id.contains(char::is_whitespace) {
                problems.push(format!(
                    "{at}: id must be a non-empty word such as city.example.org"
                ));
            }
            if jurisdictions.iter().any(|r: &JurisdictionRow| r.id == j.id) {
                problems.push(format!("{at}: jurisdiction {} is defined twice", j.id));
            }
            let offset = match &j.utc_offset {
                None => 0,
                Some(s) => parse_offset(s).unwrap_or_else(|| {
                    problems.push(format!("{at}: utc_offset must look like +07:00 or -05:30"));
                    0
                }),
            };
            let endpoint_type = j
                .endpoint_type
                .clone()
                .unwrap_or_else(|| "production".into());
            if endpoint_type != "production" && endpoint_type != "test" {
                problems.push(format!("{at}: endpoint_type must be production or test"));
            }
            jurisdictions.push(JurisdictionRow {
                id: j.id.clone(),
                name: j.name.clone(),
                contact: j.contact.clone(),
                key_service: j.key_service.clone(),
                utc_offset_minutes: offset,
                endpoint_type,
                updated_at: now,
                near_meters: j.near_meters.unwrap_or(100.0),
            });
            if j.near_meters
                .is_some_and(|m| !(0.0..=10_000.0).contains(&m))
            {
                problems.push(format!("{at}: near_meters must be between 0 and 10000"));
            }
        }
    }
    let known: HashSet<String> = jurisdictions
        .iter()
        .map(|j| j.id.clone())
        .chain(existing.iter().cloned())
        .collect();
    let mut services: Vec<(ServiceRow, Vec<AttributeRow>)> = Vec::new();
    for (file, _, f) in files {
        for (i, s) in f.services.iter().enumerate() {
            let at = format!("{file}: services[{i}] ({})", s.code);
            let Some(jurisdiction) =
                resolve_jurisdiction(&at, s.jurisdiction.as_deref(), &known, &mut problems)
            else {
                continue;
            };
            if s.code.is_empty()
                || s.code.chars().any(|c| {
                    c.is_whitespace()
                        || c == '/'
                        || c == '?'
                        || c == '#'
                        || c == '%'
                        || c.is_control()
                })
            {
                problems.push(format!(
                    "{at}: code must be non-empty, without spaces, '/', '?', '#' or '%'"
                ));
            }
            if services
                .iter()
                .any(|(r, _)| r.code == s.code && r.jurisdiction_id == jurisdiction)
            {
                problems.push(format!("{at}: service {} is defined twice", s.code));
            }
            let service_type = s.service_type.clone().unwrap_or_else(|| "realtime".into());
            if ServiceType::parse(&service_type).is_none() {
                problems.push(format!("{at}: type must be realtime, batch or blackbox"));
            }
            if s.expected_hours
                .is_some_and(|h| !(1..=24 * 365).contains(&h))
            {
                problems.push(format!("{at}: expected_hours must be between 1 and 8760"));
            }
            let mut attrs: Vec<AttributeRow> = Vec::new();
            for (k, a) in s.attributes.iter().enumerate() {
                let at = format!("{at}: attributes[{k}] ({})", a.code);
                let Some(datatype) = Datatype::parse(&a.datatype) else {
                    problems.push(format!("{at}: datatype must be string, number, datetime, text, singlevaluelist or multivaluelist"));
                    continue;
                };
                if a.code.is_empty()
                    || a.code.contains(['[', ']'])
                    || a.code.chars().any(char::is_whitespace)
                {
                    problems.push(format!(
                        "{at}: code must be non-empty, without spaces or brackets"
                    ));
                }
                if attrs.iter().any(|r| r.code == a.code) {
                    problems.push(format!("{at}: attribute {} is defined twice", a.code));
                }
                let order = a.order.unwrap_or(k as i32 + 1);
                if order < 1 {
                    problems.push(format!("{at}: order must be 1 or more"));
                }
                if attrs.iter().any(|r| r.position == order) {
                    problems.push(format!("{at}: order {order} is used twice"));
                }
                if datatype.is_list() {
                    if a.values.is_empty() {
                        problems.push(format!("{at}: a {} needs values", datatype.as_str()));
                    }
                    let mut keys = HashSet::new();
                    for v in &a.values {
                        if v.key.is_empty() || !keys.insert(v.key.clone()) {
                            problems.push(format!(
                                "{at}: value key '{}' is empty or used twice",
                                v.key
                            ));
                        }
                    }
                } else if !a.values.is_empty() {
                    problems.push(format!("{at}: only list datatypes take values"));
                }
                if (a.min.is_some() || a.max.is_some()) && datatype != Datatype::Number {
                    problems.push(format!("{at}: min and max apply to number attributes only"));
                }
                if let (Some(min), Some(max)) = (a.min, a.max) {
                    if min > max {
                        problems.push(format!("{at}: min is greater than max"));
                    }
                }
                let variable = a.variable.unwrap_or(true);
                let required = a.required.unwrap_or(false);
                if required && !variable {
                    problems.push(format!(
                        "{at}: an informational attribute (variable = false) cannot be required"
                    ));
                }
                attrs.push(AttributeRow {
                    jurisdiction_id: jurisdiction.clone(),
                    service_code: s.code.clone(),
                    code: a.code.clone(),
                    variable,
                    datatype: datatype.as_str().into(),
                    required,
                    datatype_description: a.datatype_description.clone(),
                    position: order,
                    description: a.description.clone(),
                    values_json: serde_json::to_string(&a.values).unwrap_or_else(|_| "[]".into()),
                    min_value: a.min,
                    max_value: a.max,
                    unit: a.unit.clone(),
                    label: a.label.clone(),
                });
            }
            attrs.sort_by(|a, b| a.code.cmp(&b.code));
            let keywords = s
                .keywords
                .iter()
                .map(|k| k.trim())
                .filter(|k| !k.is_empty())
                .collect::<Vec<_>>()
                .join(",");
            services.push((
                ServiceRow {
                    jurisdiction_id: jurisdiction,
                    code: s.code.clone(),
                    name: s.name.clone(),
                    description: s.description.clone(),
                    service_type,
                    keywords: (!keywords.is_empty()).then_some(keywords),
                    group_name: s.group.clone(),
                    service_notice: s.service_notice.clone(),
                    expected_hours: s.expected_hours,
                    active: s.active.unwrap_or(true),
                    updated_at: now,
                    share_contact: s.share_contact.unwrap_or(false),
                },
                attrs,
            ));
        }
    }
    let mut keys = Vec::new();
    for (file, _, f) in files {
        for (i, k) in f.api_keys.iter().enumerate() {
            let at = format!("{file}: api_keys[{i}] ({})", k.name);
            let Some(kind) = api_keys::ApiKeyKind::parse(k.kind.as_deref().unwrap_or("production"))
            else {
                problems.push(format!(
                    "{at}: kind must be {}",
                    api_keys::ApiKeyKind::CHOICES
                ));
                continue;
            };
            if keys.iter().any(|p: &KeyPlan| p.name == k.name) {
                problems.push(format!("{at}: key {} is defined twice", k.name));
            }
            let hash = match (&k.key, &k.key_sha256) {
                (Some(key), None) if key.len() >= 12 => auth::hash_api_key(key),
                (Some(_), None) => {
                    problems.push(format!("{at}: key must be at least 12 characters"));
                    continue;
                }
                (None, Some(h)) if h.len() == 64 && h.chars().all(|c| c.is_ascii_hexdigit()) => {
                    h.to_ascii_lowercase()
                }
                (None, Some(_)) => {
                    problems.push(format!(
                        "{at}: key_sha256 must be 64 hexadecimal characters"
                    ));
                    continue;
                }
                _ => {
                    problems.push(format!("{at}: give exactly one of key and key_sha256"));
                    continue;
                }
            };
            let shown = (kind == api_keys::ApiKeyKind::Test)
                .then(|| k.key.clone())
                .flatten();
            let jurisdiction = if kind == api_keys::ApiKeyKind::Backoffice {
                resolve_jurisdiction(&at, k.jurisdiction.as_deref(), &known, &mut problems)
            } else {
                None
            };
            let rate_limit = match k.rate_limit.as_deref().map(str::parse::<RateSetting>) {
                Some(Err(e)) => {
                    problems.push(format!("{at}: rate_limit {e}"));
                    continue;
                }
                // Stored as written back by the parser, so that equal settings compare equal.
                Some(Ok(r)) => Some(r.to_string()),
                None => None,
            };
            keys.push(KeyPlan {
                name: k.name.clone(),
                hash,
                kind,
                shown,
                jurisdiction,
                published: k.key.is_some(),
                rate_limit,
            });
        }
    }
    let input = routing::Input {
        files: files
            .iter()
            .map(|(file, dir, f)| {
                (
                    file.as_str(),
                    dir.as_path(),
                    f.departments.as_slice(),
                    f.area_layers.as_slice(),
                    f.rules.as_slice(),
                )
            })
            .collect(),
        jurisdictions: &known,
        services: services
            .iter()
            .map(|(s, _)| (s.jurisdiction_id.clone(), s.code.clone()))
            .collect(),
        groups: services
            .iter()
            .filter_map(|(s, _)| s.group_name.clone().map(|g| (s.jurisdiction_id.clone(), g)))
            .collect(),
    };
    let routing = routing::validate(&input, db, &mut problems);
    let mut statuses: std::collections::BTreeMap<String, Vec<catalog::StatusRow>> =
        Default::default();
    for (file, _, f) in files {
        for (i, s) in f.statuses.iter().enumerate() {
            let at = format!("{file}: statuses[{i}] ({})", s.code);
            let Some(j) =
                resolve_jurisdiction(&at, s.jurisdiction.as_deref(), &known, &mut problems)
            else {
                continue;
            };
            let set = statuses.entry(j.clone()).or_default();
            if s.code.is_empty()
                || !s
                    .code
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            {
                problems.push(format!(
                    "{at}: a status code is lowercase letters, digits and _"
                ));
            }
            if set.iter().any(|r| r.code == s.code) {
                problems.push(format!("{at}: status {} is defined twice", s.code));
            }
            let position = set.len() as i32;
            set.push(catalog::StatusRow {
                jurisdiction_id: j,
                code: s.code.clone(),
                name: s.name.clone(),
                closed: s.closed,
                position,
            });
        }
    }
    for (j, set) in &statuses {
        if !set.iter().any(|s| !s.closed) || !set.iter().any(|s| s.closed) {
            problems.push(format!(
                "the status vocabulary of {j} needs at least one open and one closed status"
            ));
        }
    }
    if problems.is_empty() {
        Ok(Plan {
            jurisdictions,
            services,
            keys,
            routing,
            statuses,
        })
    } else {
        Err(ImportError::Invalid(problems))
    }
}

/// Writes the plan; returns what it did and the catalogue version it wrote.
fn apply(conn: &mut AnyConnection, plan: &Plan) -> Result<(Summary, i64), StoreError> {
    // Moved even when nothing changes: a reload costs one query, a stale cache would cost correctness.
    let version = catalog::bump_version(conn)?;
    let mut summary = Summary::default();
    let mut count = |existed: bool, changed: bool| match (existed, changed) {
        (false, _) => summary.created += 1,
        (true, true) => summary.updated += 1,
        (true, false) => summary.unchanged += 1,
    };
    for row in &plan.jurisdictions {
        let current = catalog::jurisdiction_row(conn, &row.id)?;
        let changed = current.as_ref().is_none_or(|c| {
            JurisdictionRow {
                updated_at: row.updated_at,
                ..c.clone()
            } != *row
        });
        if changed {
            catalog::upsert_jurisdiction(conn, row, current.is_some())?;
        }
        count(current.is_some(), changed);
    }
    for (row, attrs) in &plan.services {
        let current = catalog::service_row(conn, &row.jurisdiction_id, &row.code)?;
        let current_attrs = catalog::attribute_rows(conn, &row.jurisdiction_id, &row.code)?;
        let changed = current.as_ref().is_none_or(|c| {
            ServiceRow {
                updated_at: row.updated_at,
                ..c.clone()
            } != *row
        }) || current_attrs != *attrs;
        if changed {
            catalog::upsert_service(conn, row, current.is_some())?;
            catalog::replace_attributes(conn, &row.jurisdiction_id, &row.code, attrs)?;
        }
        count(current.is_some(), changed);
    }
    routing::apply(conn, &plan.routing, &mut count)?;
    for (j, rows) in &plan.statuses {
        let current = catalog::statuses(conn, j)?;
        let same = current == *rows;
        if !same {
            catalog::replace_statuses(conn, j, rows)?;
        }
        count(!current.is_empty(), !same);
    }
    for KeyPlan {
        name,
        hash,
        kind,
        shown,
        jurisdiction,
        published,
        rate_limit,
    } in &plan.keys
    {
        let current = api_keys::by_name(conn, name)?;
        if current.as_ref().is_some_and(|c| c.revoked_at.is_some()) {
            summary.revoked_keys.push(name.clone());
        }
        match &current {
            Some(c)
                if c.key_hash == *hash
                    && c.kind == kind.as_str()
                    && c.published == *published
                    && c.rate_limit == *rate_limit
                    && c.jurisdiction_id == *jurisdiction =>
            {
                count(true, false)
            }
            Some(c) => {
                api_keys::update_key(
                    conn,
                    &c.id,
                    hash,
                    *kind,
                    jurisdiction.as_deref(),
                    *published,
                    rate_limit.as_deref(),
                )?;
                count(true, true);
            }
            None => {
                let row = ApiKeyRow::new(
                    name,
                    *kind,
                    hash.clone(),
                    jurisdiction.clone(),
                    rate_limit.clone(),
                    *published,
                );
                crate::app::staff::keys::store_key(
                    conn,
                    crate::app::audit::Actor::Operator("import"),
                    &row,
                )?;
                count(false, true);
            }
        }
        if *published {
            summary.published_keys.push(name.clone());
        }
        if let Some(key) = shown
            .as_ref()
            .filter(|_| current.as_ref().is_none_or(|c| c.revoked_at.is_none()))
        {
            summary.test_keys.push((name.clone(), key.clone()));
        }
    }
    Ok((summary, version))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets() {
        assert_eq!(parse_offset("+07:00"), Some(420));
        assert_eq!(parse_offset("-05:30"), Some(-330));
        assert_eq!(parse_offset("07:00"), None);
        assert_eq!(parse_offset("+7"), None);
        assert_eq!(parse_offset("+15:00"), None);
    }

    #[test]
    fn every_problem_is_reported_with_file_and_item() {
        let file: CityFile = toml::from_str(
            r#"
            [[jurisdictions]]
            id = "x.org"
            name = "X"
            contact = "c"
            key_service = "k"
            utc_offset = "7"

            [[services]]
            code = "A B"
            name = "A"
            type = "sometimes"
            [[services.attributes]]
            code = "L"
            datatype = "singlevaluelist"
            description = "?"
            [[services.attributes]]
            code = "N"
            datatype = "number"
            description = "?"
            min = 5.0
            max = 1.0
            order = 1
            "#,
        )
        .unwrap();
        let Err(ImportError::Invalid(problems)) = validate(
            &[("city.toml".into(), PathBuf::from("."), file)],
            &[],
            &routing::Known::default(),
        ) else {
            panic!("accepted")
        };
        let text = problems.join("\n");
        for needle in [
            "jurisdictions[0] (x.org): utc_offset",
            "services[0] (A B): code",
            "type must be",
            "attributes[0] (L): a singlevaluelist needs values",
            "order 1 is used twice",
            "min is greater than max",
        ] {
            assert!(text.contains(needle), "missing {needle:?} in\n{text}");
        }
        assert!(problems.iter().all(|p| p.starts_with("city.toml: ")));
    }

    #[test]
    fn unknown_keys_are_refused() {
        assert!(
            toml::from_str::<CityFile>("[[services]]\ncode='A'\nname='A'\ncolour='red'\n").is_err()
        );
    }
}
