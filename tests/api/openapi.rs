//! The router and openapi/openapi.yaml describe the same routes, both ways.

use std::collections::BTreeSet;

/// (path, method) pairs of the document: paths at two spaces under `paths:`, methods at four.
fn documented() -> BTreeSet<(String, String)> {
    let text = std::fs::read_to_string(crate::helpers::repo_path("openapi/openapi.yaml")).unwrap();
    let mut out = BTreeSet::new();
    let (mut in_paths, mut path) = (false, None::<String>);
    for line in text.lines() {
        if !line.starts_with(' ') && !line.trim().is_empty() {
            in_paths = line.trim_end() == "paths:";
            continue;
        }
        if !in_paths {
            continue;
        }
        if let Some(p) = line.strip_prefix("  /").and_then(|l| l.strip_suffix(':')) {
            path = Some(format!("/{p}"));
        } else if let (Some(m), Some(p)) = (
            line.strip_prefix("    ").and_then(|l| l.strip_suffix(':')),
            &path,
        ) {
            if ["get", "post", "put", "patch", "delete", "head", "options"].contains(&m) {
                out.insert((p.clone(), m.to_uppercase()));
            }
        }
    }
    out
}

#[test]
fn router_and_openapi_document_agree() {
    let served: BTreeSet<(String, String)> = civic311::http::ROUTES
        .iter()
        .flat_map(|r| {
            r.methods
                .iter()
                .map(move |(m, _)| (r.path.to_string(), m.to_string()))
        })
        .collect();
    let documented = documented();
    assert!(!documented.is_empty());
    let undocumented: Vec<_> = served.difference(&documented).collect();
    let unserved: Vec<_> = documented.difference(&served).collect();
    assert!(
        undocumented.is_empty(),
        "routes missing from openapi.yaml: {undocumented:?}"
    );
    assert!(
        unserved.is_empty(),
        "openapi.yaml documents routes the server does not have: {unserved:?}"
    );
}

#[test]
fn openapi_document_is_3_1() {
    let text = std::fs::read_to_string(crate::helpers::repo_path("openapi/openapi.yaml")).unwrap();
    assert!(
        text.lines().any(|l| l.starts_with("openapi: 3.1")),
        "OpenAPI 3.1 document"
    );
}
