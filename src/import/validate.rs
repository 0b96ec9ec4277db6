//! Every problem of the files at once, with file and item, before anything is written: the plan of an import.

use super::*;
use std::collections::HashMap;

pub(super) fn parse_offset(s: &str) -> Option<i32> {
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
pub(super) fn resolve_jurisdiction(
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

pub(super) type Parsed = (String, PathBuf, CityFile);

/// A language tag as the files may use it: ISO 639-1 (`id`), optionally with a region (`en_GB`).
pub(super) fn valid_locale(l: &str) -> bool {
    let (lang, region) = l.split_once('_').unwrap_or((l, ""));
    (2..=3).contains(&lang.len())
        && lang.chars().all(|c| c.is_ascii_lowercase())
        && (region.is_empty()
            || (region.len() == 2 && region.chars().all(|c| c.is_ascii_uppercase())))
}

/// Collects one translated text, refusing empty and over-long ones.
fn translated(
    out: &mut Vec<catalog::TranslationRow>,
    problems: &mut Vec<String>,
    at: &str,
    (jurisdiction, scope, locale): (&str, &str, &str),
    item: String,
    text: Option<&String>,
) {
    let Some(text) = text else { return };
    if text.trim().is_empty() || text.chars().count() > 2000 {
        problems.push(format!(
            "{at}: the {locale} text of {item} must be 1 to 2000 characters"
        ));
        return;
    }
    out.push(catalog::TranslationRow {
        jurisdiction_id: jurisdiction.to_string(),
        scope: scope.to_string(),
        locale: locale.to_string(),
        item,
        text: text.clone(),
    });
}

pub(super) fn validate(
    files: &[Parsed],
    existing: &[String],
    db: &routing::Known,
) -> Result<Plan, ImportError> {
    let mut problems = Vec::new();
    let now = now();
    let mut jurisdictions = Vec::new();
    // Declared extents, by jurisdiction (`bbox`): the layers are checked against them.
    let mut extents: HashMap<String, [f64; 4]> = HashMap::new();
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
                contact_retention_days: j.contact_retention_days,
                media_retention_days: j.media_retention_days,
                data_license: j.data_license.clone(),
                language: j.language.clone().unwrap_or_else(|| "en".into()),
                citizen_updates: j.citizen_updates.clone().unwrap_or_else(|| "off".into()),
                timezone: j.timezone.clone(),
            });
            if let Some(b) = j.bbox {
                let in_range = b.iter().all(|v| v.is_finite())
                    && (-180.0..=180.0).contains(&b[0])
                    && (-180.0..=180.0).contains(&b[2])
                    && (-90.0..=90.0).contains(&b[1])
                    && (-90.0..=90.0).contains(&b[3]);
                if !in_range || b[0] >= b[2] || b[1] >= b[3] {
                    problems.push(format!(
                        "{at}: bbox must be [min_long, min_lat, max_long, max_lat] within WGS84, minimum below maximum"
                    ));
                } else {
                    extents.insert(j.id.clone(), b);
                }
            }
            if let Some(tz) = &j.timezone {
                if crate::domain::Zone::named(tz).is_none() {
                    problems.push(format!(
                        "{at}: timezone {tz} is not an IANA time zone name such as Europe/Paris or Asia/Jakarta"
                    ));
                }
                if j.utc_offset.is_some() {
                    problems.push(format!(
                        "{at}: give timezone or utc_offset, not both (timezone follows daylight saving time)"
                    ));
                }
            }
            if j.citizen_updates
                .as_deref()
                .is_some_and(|c| !crate::domain::fms::CITIZEN_UPDATES.contains(&c))
            {
                problems.push(format!(
                    "{at}: citizen_updates must be one of {}",
                    crate::domain::fms::CITIZEN_UPDATES.join(", ")
                ));
            }
            if j.language.as_deref().is_some_and(|l| !valid_locale(l)) {
                problems.push(format!(
                    "{at}: language must be an ISO 639-1 code such as id or en"
                ));
            }
            for (name, days) in [
                ("contact_retention_days", j.contact_retention_days),
                ("media_retention_days", j.media_retention_days),
            ] {
                if days.is_some_and(|d| !(1..=36_500).contains(&d)) {
                    problems.push(format!(
                        "{at}: {name} must be a number of days from 1 to 36500 (leave it out to keep them)"
                    ));
                }
            }
            if j.data_license.as_deref().is_some_and(|l| {
                l.trim().is_empty() || l.len() > 200 || l.chars().any(char::is_control)
            }) {
                problems.push(format!(
                    "{at}: data_license must be a licence's SPDX id or URL (at most 200 characters)"
                ));
            }
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
    let mut translations: std::collections::BTreeMap<
        (String, String),
        Vec<catalog::TranslationRow>,
    > = Default::default();
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
            if s.public_precision_m
                .is_some_and(|m| !(m.is_finite() && (1.0..=10_000.0).contains(&m)))
            {
                problems.push(format!(
                    "{at}: public_precision_m is the public grid in metres, from 1 to 10000 (leave it out for the exact point)"
                ));
            }
            let moderation = s.moderation.clone().unwrap_or_else(|| "none".into());
            if crate::domain::Moderation::parse(&moderation).is_none() {
                problems.push(format!("{at}: moderation must be pre or none"));
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
            let scope = format!("service:{}", s.code);
            let mut texts = Vec::new();
            for (locale, t) in &s.translations {
                if !valid_locale(locale) {
                    problems.push(format!(
                        "{at}: translations.{locale}: not a language code such as id or en"
                    ));
                }
                let key = (jurisdiction.as_str(), scope.as_str(), locale.as_str());
                for (item, text) in [
                    ("name", &t.name),
                    ("description", &t.description),
                    ("group", &t.group),
                    ("service_notice", &t.service_notice),
                ] {
                    translated(
                        &mut texts,
                        &mut problems,
                        &at,
                        key,
                        item.into(),
                        text.as_ref(),
                    );
                }
            }
            for a in &s.attributes {
                for (locale, t) in &a.translations {
                    let at = format!("{at}: attributes ({}): translations.{locale}", a.code);
                    if !valid_locale(locale) {
                        problems.push(format!("{at}: not a language code such as id or en"));
                    }
                    let key = (jurisdiction.as_str(), scope.as_str(), locale.as_str());
                    for (item, text) in [
                        ("description", &t.description),
                        ("datatype_description", &t.datatype_description),
                        ("label", &t.label),
                    ] {
                        let item = format!("attr.{}.{item}", a.code);
                        translated(&mut texts, &mut problems, &at, key, item, text.as_ref());
                    }
                    for (value, text) in &t.values {
                        if !a.values.iter().any(|v| v.key == *value) {
                            problems.push(format!(
                                "{at}: values.{value} is not one of the attribute's values"
                            ));
                        }
                        let item = format!("value.{}.{value}", a.code);
                        translated(&mut texts, &mut problems, &at, key, item, Some(text));
                    }
                }
            }
            texts.sort();
            translations.insert((jurisdiction.clone(), scope), texts);
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
                    public_precision_m: s.public_precision_m,
                    moderation,
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
        extents,
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
            let texts = translations
                .entry((j.clone(), "statuses".to_string()))
                .or_default();
            for (locale, t) in &s.translations {
                if !valid_locale(locale) {
                    problems.push(format!(
                        "{at}: translations.{locale}: not a language code such as id or en"
                    ));
                }
                let key = (j.as_str(), "statuses", locale.as_str());
                for (item, text) in [("name", &t.name), ("description", &t.description)] {
                    let item = format!("{}.{item}", s.code);
                    translated(texts, &mut problems, &at, key, item, text.as_ref());
                }
            }
            texts.sort();
            check_fms(&at, s, set, &mut problems);
            set.push(catalog::StatusRow {
                jurisdiction_id: j,
                code: s.code.clone(),
                name: s.name.clone(),
                closed: s.closed,
                position,
                description: s.description.clone(),
                fms: s.fms.clone(),
                from_fms: s.from_fms.as_ref().map(|f| f.join(",")),
                initial: s.initial,
            });
            if s.initial && s.closed {
                problems.push(format!(
                    "{at}: the initial status, where new reports start, must be an open one"
                ));
            }
        }
    }
    for (file, _, f) in files {
        for (locale, texts) in &f.texts {
            let at = format!("{file}: texts.{locale}");
            if !valid_locale(locale) {
                problems.push(format!("{at}: not a language code such as fr or id"));
                continue;
            }
            let Some(j) = resolve_jurisdiction(
                &at,
                texts.get("jurisdiction").map(String::as_str),
                &known,
                &mut problems,
            ) else {
                continue;
            };
            // Texts in a language the jurisdiction does not speak would be read by nothing: a misspelt
            // locale (`fra`, `fe`) is refused with the language it has.
            if let Some(own) = jurisdictions
                .iter()
                .find(|r: &&JurisdictionRow| r.id == j)
                .map(|r| r.language.clone())
            {
                let spoken: Vec<String> = std::iter::once(own.clone())
                    .chain(
                        translations
                            .iter()
                            .filter(|((tj, scope), _)| *tj == j && scope != "texts")
                            .flat_map(|(_, rows)| rows.iter().map(|r| r.locale.clone())),
                    )
                    .collect();
                if !spoken.contains(locale) {
                    let refs: Vec<&str> = spoken.iter().map(String::as_str).collect();
                    problems.push(format!(
                        "{at}: {j} speaks {own}{}; texts in {locale} would be used by nothing{}",
                        if refs.len() > 1 {
                            " and the languages of its translations"
                        } else {
                            ""
                        },
                        did_you_mean(locale, &refs)
                    ));
                    continue;
                }
            }
            let rows = translations
                .entry((j.clone(), "texts".to_string()))
                .or_default();
            let keys: Vec<&str> = crate::domain::i18n::SERVER_TEXTS
                .iter()
                .map(|(k, ..)| *k)
                .collect();
            for (key, text) in texts.iter().filter(|(k, _)| *k != "jurisdiction") {
                let Some(names) = crate::domain::i18n::server_text_placeholders(key) else {
                    problems.push(format!(
                        "{at}: {key} is not one of the server's texts{}",
                        did_you_mean(key, &keys)
                    ));
                    continue;
                };
                for name in names {
                    if !text.contains(&format!("{{{name}}}")) {
                        problems.push(format!("{at}: {key} must keep {{{name}}}"));
                    }
                }
                if rows.iter().any(|r| r.locale == *locale && r.item == *key) {
                    problems.push(format!(
                        "{at}: {key} is given twice in {locale} (in this file and another); keep one"
                    ));
                    continue;
                }
                translated(
                    rows,
                    &mut problems,
                    &at,
                    (&j, "texts", locale),
                    key.clone(),
                    Some(text),
                );
            }
            rows.sort();
        }
    }
    for (j, set) in &statuses {
        if !set.iter().any(|s| !s.closed) || !set.iter().any(|s| s.closed) {
            problems.push(format!(
                "the status vocabulary of {j} needs at least one open and one closed status"
            ));
        }
        let initial: Vec<&str> = set
            .iter()
            .filter(|s| s.initial)
            .map(|s| s.code.as_str())
            .collect();
        if initial.len() > 1 {
            problems.push(format!(
                "the status vocabulary of {j} marks {} as initial; new reports start in one",
                initial.join(" and ")
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
            translations,
        })
    } else {
        Err(ImportError::Invalid(problems))
    }
}

/// A status's FixMyStreet mapping: a feed status FixMyStreet knows with the same open or closed meaning, and
/// FixMyStreet statuses of that meaning, each claimed by one status of the vocabulary.
fn check_fms(
    at: &str,
    s: &super::files::StatusDef,
    earlier: &[catalog::StatusRow],
    problems: &mut Vec<String>,
) {
    use crate::domain::fms;
    if let Some(f) = &s.fms {
        match fms::FEED.iter().find(|(name, _)| name == f) {
            None => problems.push(format!(
                "{at}: fms must be one of {}",
                fms::FEED
                    .iter()
                    .map(|(n, _)| *n)
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
            Some((_, closed)) if *closed != s.closed => problems.push(format!(
                "{at}: fms {f} is {} in FixMyStreet, and this status is {}",
                if *closed { "closed" } else { "open" },
                if s.closed { "closed" } else { "open" },
            )),
            Some(_) => {}
        }
    }
    for posted in s.from_fms.iter().flatten() {
        match fms::POSTED.iter().find(|(name, _)| name == posted) {
            None => problems.push(format!(
                "{at}: from_fms: {posted} is not a status FixMyStreet posts ({})",
                fms::POSTED
                    .iter()
                    .filter(|(_, c)| c.is_some())
                    .map(|(n, _)| *n)
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
            Some((_, Some(closed))) if *closed != s.closed => problems.push(format!(
                "{at}: from_fms: {posted} {} a report, and this status is {}",
                if *closed { "closes" } else { "opens" },
                if s.closed { "closed" } else { "open" },
            )),
            Some((_, None)) => problems.push(format!(
                "{at}: from_fms: UNCHANGED keeps a report's status; it cannot set one"
            )),
            Some(_) => {}
        }
        if let Some(other) = earlier.iter().find(|r| {
            r.from_fms
                .as_deref()
                .is_some_and(|f| f.split(',').any(|p| p == posted))
        }) {
            problems.push(format!(
                "{at}: from_fms: {posted} already sets status {}",
                other.code
            ));
        }
    }
}

/// ", did you mean X?" for the known word nearest to a misspelt one (at most a third of it differs), or
/// nothing: an officer's typo is caught with its fix.
pub(super) fn did_you_mean(word: &str, known: &[&str]) -> String {
    let best = known
        .iter()
        .map(|k| (edit_distance(word, k), *k))
        // Ties by the name, so that the same typo gets the same answer whatever order the set is in.
        .min_by_key(|(d, k)| (*d, k.len(), *k));
    match best {
        Some((d, k)) if d > 0 && d * 3 <= word.chars().count().max(3) => {
            format!("; did you mean {k}?")
        }
        _ => String::new(),
    }
}

/// Edit distance by characters, an exchange of two neighbours counting as one edit (the commonest typo).
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

#[cfg(test)]
mod suggestion_tests {
    use super::*;

    #[test]
    fn a_typo_gets_the_nearest_known_word() {
        let known = ["SDA-JP", "SDA-JU", "PJU", "LH"];
        assert_eq!(did_you_mean("SDA-PJ", &known), "; did you mean SDA-JP?");
        assert_eq!(
            did_you_mean("FLOOOD", &["FLOOD", "LIGHT"]),
            "; did you mean FLOOD?"
        );
        assert_eq!(did_you_mean("XYZ123", &known), "");
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("SDA-UJ", "SDA-JU"), 1);
        assert_eq!(did_you_mean("SDA-UJ", &known), "; did you mean SDA-JU?");
    }
}
