//! The layering of docs/ARCHITECTURE.md, checked on the source: handlers never reach the store, the use
//! cases do not depend on each other in a circle, and a use case's error never leaves a transaction as a
//! success (`Ok(Err(..))` commits).

use crate::helpers::repo_path;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn sources(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(sources(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out.sort();
    out
}

/// The code of a file without its comments, so that prose may name any module.
fn code(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| match l.find("//") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn handlers_import_nothing_from_the_store() {
    let offenders: Vec<String> = sources(&repo_path("src/http"))
        .iter()
        .filter(|f| {
            let c = code(f);
            c.contains("crate::store") || c.contains("store::") || c.contains(".store.")
        })
        .map(|f| f.display().to_string())
        .collect();
    assert!(
        offenders.is_empty(),
        "http reaches the store: {offenders:?}"
    );
}

#[test]
fn no_use_case_returns_its_error_as_a_committed_success() {
    let offenders: Vec<String> = sources(&repo_path("src/app"))
        .iter()
        .filter(|f| code(f).contains("Ok(Err("))
        .map(|f| f.display().to_string())
        .collect();
    assert!(offenders.is_empty(), "Ok(Err( in {offenders:?}");
}

/// The top-level module of `src/app/` a file belongs to (`staff` for `src/app/staff/keys.rs`).
fn app_module(file: &Path) -> String {
    let rel = file.strip_prefix(repo_path("src/app")).unwrap();
    let first = rel
        .components()
        .next()
        .unwrap()
        .as_os_str()
        .to_string_lossy();
    first.trim_end_matches(".rs").to_string()
}

#[test]
fn the_use_cases_depend_on_each_other_without_a_cycle() {
    let files = sources(&repo_path("src/app"));
    let modules: BTreeSet<String> = files
        .iter()
        .map(|f| app_module(f))
        .filter(|m| m != "mod")
        .collect();
    let mut uses: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in &files {
        let from = app_module(f);
        if from == "mod" {
            continue;
        }
        let c = code(f);
        for to in &modules {
            let named = [
                format!("crate::app::{to}::"),
                format!("crate::app::{to};"),
                format!("crate::app::{{{to}"),
            ];
            // `super::x` means a sibling from a top-level file, but the parent module from a nested one.
            let nested = f.parent() != Some(repo_path("src/app").as_path());
            let sibling = if nested {
                format!("super::super::{to}::")
            } else {
                format!("super::{to}::")
            };
            if to != &from && (named.iter().any(|n| c.contains(n.as_str())) || c.contains(&sibling))
            {
                uses.entry(from.clone()).or_default().insert(to.clone());
            }
        }
    }
    // Depth-first search for a path back to where it started.
    fn cycle(
        at: &str,
        uses: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = path.iter().position(|p| p == at) {
            return Some(path[i..].iter().cloned().chain([at.to_string()]).collect());
        }
        path.push(at.to_string());
        for next in uses.get(at).into_iter().flatten() {
            if let Some(c) = cycle(next, uses, path) {
                return Some(c);
            }
        }
        path.pop();
        None
    }
    for m in &modules {
        if let Some(c) = cycle(m, &uses, &mut Vec::new()) {
            panic!(
                "a cycle between use cases: {} (all: {uses:?})",
                c.join(" → ")
            );
        }
    }
    // The graph must have been read at all: staff acts through routing, routing records through audit.
    assert!(uses["staff"].contains("routing"), "{uses:?}");
    assert!(uses["routing"].contains("audit"), "{uses:?}");
}
