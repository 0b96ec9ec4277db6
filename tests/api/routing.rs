//! Routing at intake over the demo city's real Jakarta polygons (issue #3): nested areas, an overlapping flood
//! zone, a point on a boundary, a point outside every area, an address-only report, re-routing.

use crate::both_backends;
use crate::helpers::*;
use serde_json::Value;

both_backends!(
    routing_matrix_over_jakarta,
    a_point_on_a_kota_boundary_is_in_both_and_routed_deterministically,
    near_areas_and_the_gunung_sahari_utara_quirk_are_in_the_trace,
    reroute_moves_the_report_records_who_and_why_and_emails_the_new_department,
    a_bad_area_or_rule_file_changes_nothing,
);

async fn post(app: &TestApp, service: &str, at: Option<(&str, &str)>) -> String {
    let mut form = vec![("api_key", DEMO_KEY), ("service_code", service)];
    match at {
        Some((lat, long)) => form.extend([("lat", lat), ("long", long)]),
        None => form.push(("address_string", "Jl. Kebon Sirih 22")),
    }
    match service {
        "FLOOD" => form.extend([("attribute[DEPTH]", "30"), ("attribute[PASSABLE]", "all")]),
        "LIGHT" => form.push(("attribute[STATE]", "dark")),
        "DUMPING" => form.push(("attribute[AMOUNT]", "bags")),
        _ => {}
    }
    let resp = app.post_form("json", &form).await;
    assert_eq!(resp.status(), 200);
    let ack: Value = resp.json().await.unwrap();
    if let Some(id) = ack[0]["service_request_id"].as_str() {
        return id.to_string();
    }
    // A batch report is held for review, so its token names no id yet: look it up, and publish it as
    // staff would, so that the public side can be checked too.
    let token = ack[0]["token"].as_str().unwrap().to_string();
    let id = app
        .store
        .read(move |conn| {
            use civic311::store::schema::requests::dsl;
            use diesel::prelude::*;
            Ok(dsl::requests
                .filter(dsl::token.eq(&token))
                .select(dsl::id)
                .first::<i64>(conn)?)
        })
        .await
        .unwrap();
    app.sql(&format!(
        "UPDATE requests SET moderation_state = 'published' WHERE id = {id}"
    ))
    .await;
    id.to_string()
}

const MONAS: (&str, &str) = ("-6.1754", "106.8272");
const BUKIT_DURI: (&str, &str) = ("-6.2200", "106.8600");
const OFF_SHORE: (&str, &str) = ("-5.6000", "106.5000");

async fn routing_matrix_over_jakarta(app: TestApp) {
    // (service, location, department, rule)
    type Case<'a> = (&'a str, Option<(&'a str, &'a str)>, &'a str, &'a str);
    let cases: [Case; 9] = [
        ("FLOOD", Some(MONAS), "SDA-JP", "flood-jakpus"),
        ("DRAIN", Some(MONAS), "SDA-JP", "water-jakpus"),
        ("LIGHT", Some(MONAS), "PJU", "light-city"),
        ("DUMPING", Some(MONAS), "LH-JP", "dumping-jakpus"),
        (
            "FLOOD",
            Some(BUKIT_DURI),
            "POMPA-CILIWUNG",
            "flood-ciliwung-zone",
        ),
        ("DRAIN", Some(BUKIT_DURI), "SDA-JS", "water-jaksel"),
        ("FLOOD", Some(OFF_SHORE), "SDA", "flood-city"),
        ("DUMPING", Some(OFF_SHORE), "LH", "dumping-city"),
        ("FLOOD", None, "SDA", "flood-city"),
    ];
    for (service, at, department, rule) in cases {
        let id = post(&app, service, at).await;
        let stored = app.stored(&id).await;
        let trace = app.trace(&id).await;
        assert_eq!(
            stored.department_code.as_deref(),
            Some(department),
            "{service} at {at:?}: {}",
            trace.reason
        );
        assert_eq!(trace.rule_id.as_deref(), Some(rule), "{service} at {at:?}");
        let public = app
            .get_json(&format!("/open311/v2/requests/{id}.json"))
            .await;
        assert_eq!(
            public[0]["agency_responsible"].as_str(),
            stored.agency_responsible.as_deref()
        );
        assert!(
            public[0]["agency_responsible"].as_str().is_some(),
            "{public}"
        );
        let deliveries: Vec<_> = app
            .deliveries()
            .await
            .into_iter()
            .filter(|d| d.request_id.to_string() == id)
            .collect();
        assert!(
            !deliveries.is_empty()
                && deliveries
                    .iter()
                    .all(|d| d.department_code == department && d.state == "queued")
        );
    }
    let bukit_duri = app
        .trace(&post(&app, "FLOOD", Some(BUKIT_DURI)).await)
        .await;
    let layers: Vec<&str> = bukit_duri
        .matched_areas
        .iter()
        .map(|a| a.layer.as_str())
        .collect();
    assert_eq!(
        layers,
        ["kelurahan", "flood-zone", "kecamatan", "kota"],
        "nested and overlapping areas, smallest first"
    );
    let outside = app.trace(&post(&app, "FLOOD", Some(OFF_SHORE)).await).await;
    assert!(outside.matched_areas.is_empty());
    assert!(outside
        .warnings
        .iter()
        .any(|w| w.contains("outside every area")));
    let address_only = app.trace(&post(&app, "FLOOD", None).await).await;
    assert!(!address_only.located);
    // Two addresses for the flood pumps: one delivery each.
    let pumps = app
        .deliveries()
        .await
        .into_iter()
        .filter(|d| d.department_code == "POMPA-CILIWUNG")
        .count();
    assert_eq!(pumps, 4);
}

async fn a_point_on_a_kota_boundary_is_in_both_and_routed_deterministically(app: TestApp) {
    // A vertex shared by the Jakarta Pusat and Jakarta Selatan polygons.
    let on_edge = ("-6.207859", "106.792331");
    let mut departments = Vec::new();
    for _ in 0..3 {
        let id = post(&app, "FLOOD", Some(on_edge)).await;
        let trace = app.trace(&id).await;
        let kota: Vec<&str> = trace
            .matched_areas
            .iter()
            .filter(|a| a.layer == "kota")
            .map(|a| a.code.as_str())
            .collect();
        assert_eq!(kota.len(), 2, "{trace:?}");
        assert!(kota.contains(&"31.71") && kota.contains(&"31.74"));
        departments.push(trace.department_code.unwrap());
    }
    // Equally specific rules: the smaller kota (Jakarta Pusat) wins, every time.
    assert_eq!(departments, ["SDA-JP", "SDA-JP", "SDA-JP"]);
}

async fn near_areas_and_the_gunung_sahari_utara_quirk_are_in_the_trace(app: TestApp) {
    let trace = app
        .trace(&post(&app, "FLOOD", Some(BUKIT_DURI)).await)
        .await;
    let near: Vec<(&str, f64)> = trace
        .near_areas
        .iter()
        .map(|n| (n.code.as_str(), n.distance_m))
        .collect();
    assert!(
        near.iter().any(|(c, d)| *c == "31.75" && *d < 150.0),
        "Jakarta Timur is within 150 m: {near:?}"
    );
    assert!(near.iter().all(|(_, d)| *d <= 150.0));
    // Inside kelurahan Gunung Sahari Utara, whose data names kecamatan Sawah Besar, but whose polygon lies in
    // the Kemayoran polygon of the kecamatan layer.
    let trace = app
        .trace(&post(&app, "DRAIN", Some(("-6.14746", "106.83914"))).await)
        .await;
    let codes: Vec<&str> = trace
        .matched_areas
        .iter()
        .map(|a| a.code.as_str())
        .collect();
    assert!(
        codes.contains(&"31.71.02.1004") && codes.contains(&"31.71.03"),
        "{codes:?}"
    );
    let warning = trace
        .warnings
        .iter()
        .find(|w| w.contains("31.71.02.1004"))
        .unwrap_or_else(|| panic!("{:?}", trace.warnings));
    assert!(
        warning.contains("31.71.02") && warning.contains("Kemayoran"),
        "{warning}"
    );
}

async fn reroute_moves_the_report_records_who_and_why_and_emails_the_new_department(app: TestApp) {
    let id = post(&app, "FLOOD", Some(MONAS)).await;
    let before = app
        .get_json(&format!("/open311/v2/requests/{id}.json"))
        .await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let settings = civic311::config::Settings::new(app.database_url.clone(), app.data_dir.clone());
    let state = civic311::startup::state_for_tools(&settings).unwrap();
    let rid: i64 = id.parse().unwrap();
    let trace = civic311::app::reroute(
        &state,
        rid,
        Some("POMPA-CILIWUNG".into()),
        "dispatcher rina",
        "pumps are closer",
    )
    .await
    .unwrap();
    assert_eq!(trace.department_code.as_deref(), Some("POMPA-CILIWUNG"));
    let after = app
        .get_json(&format!("/open311/v2/requests/{id}.json"))
        .await;
    assert_eq!(
        after[0]["agency_responsible"],
        "UPT Pompa Ciliwung (flood pumps)"
    );
    assert_ne!(
        after[0]["updated_datetime"], before[0]["updated_datetime"],
        "sync clients see the change"
    );
    let events = app
        .store
        .read(move |c| civic311::store::deliveries::events_of(c, rid))
        .await
        .unwrap();
    let last = events.last().unwrap();
    assert_eq!(
        (last.actor.as_str(), last.action.as_str()),
        ("dispatcher rina", "rerouted")
    );
    assert!(last
        .detail
        .as_deref()
        .unwrap()
        .contains("from SDA-JP to POMPA-CILIWUNG: pumps are closer"));
    let to_pumps = app
        .deliveries()
        .await
        .into_iter()
        .filter(|d| d.request_id == rid && d.department_code == "POMPA-CILIWUNG")
        .count();
    assert_eq!(to_pumps, 2);
    // Re-evaluating the rules sends it back where the areas say.
    let trace = civic311::app::reroute(&state, rid, None, "admin", "areas fixed")
        .await
        .unwrap();
    assert_eq!(trace.department_code.as_deref(), Some("SDA-JP"));
    assert_eq!(trace.by, "admin");
    let err = civic311::app::reroute(&state, rid, Some("NOPE".into()), "admin", "x")
        .await
        .unwrap_err();
    assert_eq!(err.status(), 404);
}

async fn a_bad_area_or_rule_file_changes_nothing(app: TestApp) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("zone.geojson"),
        r#"{"type":"FeatureCollection","features":[
            {"type":"Feature","properties":{"id":"Z1"},"geometry":{"type":"Polygon","coordinates":[[[106.8,-6.2],[106.9,-6.2],[106.9,-6.1],[106.8,-6.1]]]}},
            {"type":"Feature","properties":{"id":"Z2"},"geometry":{"type":"Point","coordinates":[106.8,-6.2]}},
            {"type":"Feature","properties":{"id":"Z3"},"geometry":{"type":"Polygon","coordinates":[[[106.8,-6.2],[206.9,-6.2],[106.9,-6.1],[106.8,-6.2]]]}}]}"#,
    )
    .unwrap();
    std::fs::write(
        dir.path().join("routing.toml"),
        "[[departments]]\ncode = \"NEW\"\nname = \"New\"\nemails = [\"not an address\"]\n\n\
         [[area_layers]]\nlayer = \"zones\"\nfile = \"zone.geojson\"\ncode_property = \"id\"\n\n\
         [[rules]]\nid = \"r1\"\nservice = \"FLOOD\"\narea = \"Z9\"\ndepartment = \"GHOST\"\n",
    )
    .unwrap();
    let (store, path) = (app.store.clone(), dir.path().to_path_buf());
    let err = tokio::task::spawn_blocking(move || civic311::import::import_dir(&store, &path))
        .await
        .unwrap()
        .unwrap_err()
        .to_string();
    for needle in [
        "routing.toml: departments[0] (NEW): 'not an address' is not a valid e-mail address",
        "zone.geojson: features[0] (Z1): polygon 0 ring 0 is not closed",
        "zone.geojson: features[1] (Z2): a Point is not an area",
        "zone.geojson: features[2] (Z3): polygon 0 ring 0 has a position outside WGS84",
        "routing.toml: rules[0] (r1): area Z9 is not defined",
        "routing.toml: rules[0] (r1): department GHOST is not defined",
    ] {
        assert!(err.contains(needle), "missing {needle:?} in\n{err}");
    }
    // The demo city's rules are intact.
    let id = post(&app, "FLOOD", Some(MONAS)).await;
    assert_eq!(
        app.stored(&id).await.department_code.as_deref(),
        Some("SDA-JP")
    );
}
