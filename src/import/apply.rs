//! One transaction that writes an import's plan, touching only rows that changed.

use super::*;

/// Writes the plan; returns what it did and the catalogue version it wrote.
pub(super) fn apply(conn: &mut AnyConnection, plan: &Plan) -> Result<(Summary, i64), StoreError> {
    // Moved even when nothing changes: a reload costs one query, a stale cache would cost correctness.
    let version = catalog::bump_version(conn)?;
    let mut summary = Summary::default();
    // Field by field, so that the closure and the key lists below borrow different parts of the summary.
    let mut count = |kind: &'static str, existed: bool, changed: bool| {
        let k = summary.kinds.entry(kind).or_default();
        match (existed, changed) {
            (false, _) => {
                summary.created += 1;
                k.created += 1;
            }
            (true, true) => {
                summary.updated += 1;
                k.updated += 1;
            }
            (true, false) => {
                summary.unchanged += 1;
                k.unchanged += 1;
            }
        }
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
        count("jurisdictions", current.is_some(), changed);
    }
    let mut regridded: Vec<(String, String)> = Vec::new();
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
            if current
                .as_ref()
                .is_some_and(|c| c.public_precision_m != row.public_precision_m)
            {
                // Its reports' public points move to the new grid (or to the exact point).
                crate::store::requests::reset_public_points(conn, &row.jurisdiction_id, &row.code)?;
                regridded.push((row.jurisdiction_id.clone(), row.code.clone()));
            }
        }
        count("services", current.is_some(), changed);
    }
    if !regridded.is_empty() {
        crate::store::requests::fill_public_points(conn)?;
        // Stamped now, at the end of the transaction: the change feed takes a change as settled a few
        // seconds after its time, so the time must not run ahead of the commit by the import's own work.
        let now = crate::app::now();
        for (jurisdiction, code) in &regridded {
            crate::store::requests::touch_public_of_service(conn, jurisdiction, code, now)?;
        }
    }
    let areas_removed = routing::apply(conn, &plan.routing, &mut count)?;
    for (j, rows) in &plan.statuses {
        let current = catalog::statuses(conn, j)?;
        let same = current == *rows;
        if !same {
            catalog::replace_statuses(conn, j, rows)?;
        }
        count("status vocabularies", !current.is_empty(), !same);
    }
    for ((j, scope), rows) in &plan.translations {
        let current = catalog::translations(conn, j, scope)?;
        if current != *rows {
            catalog::replace_translations(conn, j, scope, rows)?;
            // The answers these texts appear in changed: their Last-Modified must move.
            catalog::touch(conn, j, scope.strip_prefix("service:"), crate::app::now())?;
            // Counted as a change of its own: a service whose texts alone changed was "unchanged" above.
            count("translations", !current.is_empty(), true);
        }
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
                count("api keys", true, false)
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
                crate::app::audit::record(
                    conn,
                    crate::app::audit::Actor::Operator("import"),
                    "update api key",
                    Some(format!("api key {}", c.id)),
                    Some(format!("{name} ({})", kind.as_str())),
                )?;
                count("api keys", true, true);
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
                count("api keys", false, true);
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
    if areas_removed > 0 {
        summary.kinds.entry("areas").or_default().removed += areas_removed;
    }
    Ok((summary, version))
}
