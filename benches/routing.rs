//! Routing benchmark (not a test): points per second through the area index and the rule precedence, over
//! Jakarta's 262 kelurahan and France's 35,357 communes, with load and import times and memory.
//!
//!     cargo bench --bench routing                    # data from ../shared/data
//!     CIVIC311_BENCH_DATA=/path/to/data cargo bench --bench routing
//!
//! Figures are recorded in docs/BENCHMARKS.md.

// A benchmark program: panicking on unreadable input data is the right failure here.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use civic311::routing::{route, Area, AreaIndex, Rule, RuleSet, Subject};
use rand::{Rng, SeedableRng};
use std::path::{Path, PathBuf};
use std::time::Instant;

fn status(field: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

fn load(path: &Path, code: &str, name: &str) -> Vec<Area> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let geojson::GeoJson::FeatureCollection(fc) =
        text.parse::<geojson::GeoJson>().expect("GeoJSON")
    else {
        panic!("not a FeatureCollection")
    };
    fc.features
        .into_iter()
        .enumerate()
        .filter_map(|(i, f)| {
            let props = f.properties.clone().unwrap_or_default();
            let get = |k: &str| {
                props.get(k).and_then(|v| {
                    v.as_str()
                        .map(str::to_string)
                        .or_else(|| v.as_i64().map(|n| n.to_string()))
                })
            };
            let geometry =
                civic311::store::routing::parse_geometry(&f.geometry?.to_string()).ok()?;
            Some(Area {
                code: get(code).unwrap_or_else(|| format!("#{i}")),
                name: get(name).unwrap_or_default(),
                layer: "bench".into(),
                parent_code: None,
                geometry,
            })
        })
        .collect()
}

fn bench(label: &str, path: &Path, code: &str, name: &str, points: usize, near_m: f64) {
    let rss_before = status("VmRSS:");
    let t = Instant::now();
    let areas = load(path, code, name);
    let parse_s = t.elapsed().as_secs_f64();
    // Reports happen where people are, not at sea: each point falls in the bounding box of a random area.
    let boxes: Vec<(f64, f64, f64, f64)> = areas
        .iter()
        .filter_map(|a| {
            use geo::BoundingRect;
            let r = a.geometry.bounding_rect()?;
            Some((r.min().x, r.min().y, r.max().x, r.max().y))
        })
        .collect();
    // One rule per area (a national service routed to each commune's office) and a catch-all.
    let mut rules: Vec<Rule> = areas
        .iter()
        .map(|a| Rule {
            id: format!("r-{}", a.code),
            service_code: None,
            service_group: None,
            area_code: Some(a.code.clone()),
            department_code: format!("D-{}", a.code),
            priority: 0,
        })
        .collect();
    rules.push(Rule {
        id: "catch-all".into(),
        service_code: None,
        service_group: None,
        area_code: None,
        department_code: "HQ".into(),
        priority: 0,
    });
    let n_areas = areas.len();
    let t = Instant::now();
    let index = AreaIndex::new(areas);
    let rules = RuleSet::new(rules);
    let index_s = t.elapsed().as_secs_f64();
    let rss_after = status("VmRSS:");

    let mut rng = rand::rngs::StdRng::seed_from_u64(311);
    let pts: Vec<(f64, f64)> = (0..points)
        .map(|_| {
            let (x0, y0, x1, y1) = boxes[rng.random_range(0..boxes.len())];
            (rng.random_range(x0..=x1), rng.random_range(y0..=y1))
        })
        .collect();
    let t = Instant::now();
    let mut inside = 0usize;
    for &p in &pts {
        let trace = route(
            &index,
            &rules,
            &Subject {
                service_code: "ANY",
                service_group: None,
                location: Some(p),
            },
            near_m,
            "bench",
        );
        if !trace.matched_areas.is_empty() {
            inside += 1;
        }
    }
    let route_s = t.elapsed().as_secs_f64();
    println!(
        "{label}: {n_areas} areas | parse {parse_s:.2} s | index {index_s:.3} s | RSS +{:.0} MiB (now {rss_after:.0} MiB, peak {:.0} MiB) | {points} random points in random areas' bounding boxes ({:.0} % inside an area), near = {near_m} m: {:.0} points/s, {:.1} µs/point",
        rss_after - rss_before,
        status("VmHWM:"),
        100.0 * inside as f64 / points as f64,
        points as f64 / route_s,
        route_s * 1e6 / points as f64,
    );
}

/// `code` is a TOML value: a property name in quotes, or a list of them.
fn import(label: &str, path: &Path, code: &str, name: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    let toml = format!(
        "[[jurisdictions]]\nid = \"bench.example\"\nname = \"Bench\"\ncontact = \"c\"\nkey_service = \"k\"\n\n\
         [[area_layers]]\nlayer = \"areas\"\nfile = \"{}\"\ncode_property = {code}\nname_property = \"{name}\"\n",
        path.display()
    );
    std::fs::write(dir.path().join("city.toml"), toml).expect("write");
    let db = civic311::config::DatabaseUrl::Sqlite(dir.path().join("bench.db"));
    let store = civic311::store::Store::open(&db).expect("store");
    let t = Instant::now();
    let summary = civic311::import::import_dir(&store, dir.path()).expect("import");
    let first = t.elapsed().as_secs_f64();
    let t = Instant::now();
    civic311::import::import_dir(&store, dir.path()).expect("import");
    let again = t.elapsed().as_secs_f64();
    println!("{label}: civic311 import into SQLite: {} rows created in {first:.2} s; re-import (nothing changed) {again:.2} s", summary.created);
}

fn main() {
    let data = std::env::var("CIVIC311_BENCH_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data"));
    let jakarta = data.join("jakarta-kelurahan.geojson");
    let france = data.join("france-communes.geojson");
    println!(
        "civic311 routing benchmark · {} cores",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    bench(
        "Jakarta kelurahan",
        &jakarta,
        "code",
        "official_name",
        200_000,
        0.0,
    );
    bench(
        "Jakarta kelurahan",
        &jakarta,
        "code",
        "official_name",
        200_000,
        150.0,
    );
    import(
        "Jakarta kelurahan",
        &jakarta,
        r#"["code", "source_pkey"]"#,
        "official_name",
    );
    bench("France communes", &france, "code", "nom", 200_000, 0.0);
    bench("France communes", &france, "code", "nom", 200_000, 150.0);
    import("France communes", &france, r#""code""#, "nom");
}
