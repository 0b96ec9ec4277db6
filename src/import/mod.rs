//! `civic311 import <dir>`: a city's configuration from plain TOML files. Everything is validated first and
//! every problem is reported with its file and item; then one transaction applies it. Rows that did not
//! change are not touched, so importing the same files twice changes nothing (and the discovery changeset
//! stays put).

mod apply;
mod files;
mod routing;
mod validate;

use apply::apply;
use files::*;
use validate::*;

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

/// What an import did.
#[derive(Debug, Default, PartialEq)]
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
    /// Every area layer in the files, with its area count and bounding box.
    pub layers: Vec<LayerSummary>,
    /// The same counts by kind (`services`, `areas`, …), with what was removed.
    pub kinds: std::collections::BTreeMap<&'static str, KindCounts>,
    /// For a dry run: by jurisdiction, how many of its open reports the imported areas and rules would send
    /// to another department than the one they are with.
    pub rerouted: Vec<(String, usize)>,
    /// Whether nothing was written (`--dry-run`).
    pub dry_run: bool,
}

/// What an import did (or would do) to one kind of row.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct KindCounts {
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub removed: usize,
}

/// One imported area layer, as the import reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerSummary {
    pub jurisdiction: String,
    pub layer: String,
    pub areas: usize,
    /// `[min_long, min_lat, max_long, max_lat]` of its areas.
    pub bbox: [f64; 4],
}

impl std::fmt::Display for LayerSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let [w, s, e, n] = self.bbox;
        if self.areas == 0 {
            return write!(f, "{} / {}: no areas", self.jurisdiction, self.layer);
        }
        write!(
            f,
            "{} / {}: {} area{} within [{w:.5}, {s:.5}, {e:.5}, {n:.5}] (min_long, min_lat, max_long, max_lat)",
            self.jurisdiction,
            self.layer,
            self.areas,
            if self.areas == 1 { "" } else { "s" }
        )
    }
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
    /// Translations replace what a service or a vocabulary had, by (jurisdiction, scope).
    translations: std::collections::BTreeMap<(String, String), Vec<catalog::TranslationRow>>,
}

/// Reads every `*.toml` file under `dir` (sorted, recursively), validates the whole set and applies it.
pub fn import_dir(store: &Store, dir: &Path) -> Result<Summary, ImportError> {
    import_dir_with(store, dir, false)
}

/// An import's own transaction, rolled back on purpose after a dry run has counted.
enum DryRun {
    Counted(Box<Summary>),
    Store(StoreError),
}

impl From<StoreError> for DryRun {
    fn from(e: StoreError) -> Self {
        DryRun::Store(e)
    }
}

/// `dry_run`: apply the whole import in a transaction, count what it changes and how many open reports its
/// areas and rules would route elsewhere, then roll it back. The counts are exactly those of a real import,
/// because they come from the same code on the same rows.
pub fn import_dir_with(store: &Store, dir: &Path, dry_run: bool) -> Result<Summary, ImportError> {
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
    let mut summary = if dry_run {
        let counted = store.write_blocking(|conn| -> Result<(), DryRun> {
            let touched = plan.routing.jurisdictions();
            let mut before = Vec::new();
            for j in &touched {
                before.push(crate::app::open_decisions(conn, j)?);
            }
            let (mut summary, _) = apply(conn, &plan)?;
            for (j, was) in touched.into_iter().zip(before) {
                let now = crate::app::open_decisions(conn, &j)?;
                let moved = was.iter().zip(&now).filter(|(a, b)| a != b).count();
                summary.rerouted.push((j, moved));
            }
            summary.dry_run = true;
            Err(DryRun::Counted(Box::new(summary)))
        });
        match counted {
            Err(DryRun::Counted(summary)) => *summary,
            Err(DryRun::Store(e)) => return Err(e.into()),
            Ok(()) => unreachable!("a dry run always rolls back"),
        }
    } else {
        let (summary, version) = store.write_blocking(|conn| apply(conn, &plan))?;
        store.catalog_changed_to(version);
        summary
    };
    summary.layers = plan.routing.layer_extents();
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

fn now() -> NaiveDateTime {
    let t = Utc::now();
    t.duration_trunc(TimeDelta::seconds(1))
        .unwrap_or(t)
        .naive_utc()
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
