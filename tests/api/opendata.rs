//! The report list as open data (issue #10): GeoJSON by RFC 7946 and CSV by RFC 4180, the same reports as
//! the JSON list for the same filter, and the same privacy.

use crate::both_backends;
use crate::helpers::*;
use serde_json::Value;
use std::collections::BTreeMap;

both_backends!(
    geojson_and_csv_list_what_json_lists,
    open_data_is_as_private_as_the_json_list,
    open_data_errors_are_open311_errors,
    timeperiod_lists_the_last_seconds_in_every_format,
    spatial_filters_find_reports_within_a_box_or_a_radius,
    the_data_dictionary_is_what_the_formats_write,
    a_whole_export_streams_every_report_once,
);

fn csv_rows(text: &str) -> Vec<BTreeMap<String, String>> {
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_string)
        .collect();
    reader
        .records()
        .map(|r| {
            header
                .iter()
                .cloned()
                .zip(r.unwrap().iter().map(str::to_string))
                .collect()
        })
        .collect()
}

/// RFC 7946: a FeatureCollection of Features, each a Point as [longitude, latitude] in range or no geometry,
/// no `crs` member. Answers each feature's id and point.
/// A feature's id, its point as (lat, long), and its properties.
type Feature = (String, Option<(f64, f64)>, Value);

fn features(doc: &Value) -> Vec<Feature> {
    assert_eq!(doc["type"], "FeatureCollection", "{doc}");
    assert!(doc.get("crs").is_none());
    doc["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            assert_eq!(f["type"], "Feature", "{f}");
            let point = match &f["geometry"] {
                Value::Null => None,
                g => {
                    assert_eq!(g["type"], "Point", "{g}");
                    let c = g["coordinates"].as_array().unwrap();
                    assert_eq!(c.len(), 2, "{g}");
                    let (long, lat) = (c[0].as_f64().unwrap(), c[1].as_f64().unwrap());
                    assert!((-180.0..=180.0).contains(&long) && (-90.0..=90.0).contains(&lat));
                    Some((lat, long))
                }
            };
            let id = f["properties"]["service_request_id"]
                .as_str()
                .unwrap()
                .to_string();
            assert_eq!(f["id"], Value::String(id.clone()));
            (id, point, f["properties"].clone())
        })
        .collect()
}

async fn text(app: &TestApp, path: &str) -> (u16, String, String) {
    let resp = app.get(path).await;
    let status = resp.status().as_u16();
    let kind = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, kind, resp.text().await.unwrap())
}

async fn geojson_and_csv_list_what_json_lists(app: TestApp) {
    let deep = app
        .post_flood(&[
            ("attribute[DEPTH]", "120"),
            ("description", "Sampai dada, \"deras\"\nbaris dua"),
        ])
        .await;
    let shallow = app
        .post_flood(&[("lat", "-6.2001"), ("long", "106.8167")])
        .await;
    let lamp = app.post_form("json", &light(&[])).await;
    assert_eq!(lamp.status(), 200);

    for filter in [
        "",
        "?service_code=FLOOD",
        "?service_code=FLOOD&page_size=1&page=2",
        // Spatial filters: the deep flood at Monas, not the one 2.8 km south-west of it.
        "?bbox=106.82,-6.18,106.83,-6.17",
        "?lat=-6.1754&long=106.8272&radius=1000",
    ] {
        let json = app
            .get_json(&format!("/open311/v2/requests.json{filter}"))
            .await;
        let ids: Vec<String> = json
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["service_request_id"].as_str().unwrap().to_string())
            .collect();
        let points: Vec<Option<(f64, f64)>> = json
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["lat"].as_f64().zip(r["long"].as_f64()))
            .collect();

        let xml = app
            .get_xml(&format!("/open311/v2/requests.xml{filter}"))
            .await;
        let doc = roxmltree::Document::parse(&xml).unwrap();
        let xml_ids: Vec<String> = doc
            .descendants()
            .filter(|n| n.has_tag_name("service_request_id"))
            .map(|n| n.text().unwrap().to_string())
            .collect();
        assert_eq!(xml_ids, ids, "{filter}");

        let (status, kind, body) =
            text(&app, &format!("/open311/v2/requests.geojson{filter}")).await;
        assert_eq!(
            (status, kind.as_str()),
            (200, "application/geo+json"),
            "{body}"
        );
        let fs = features(&serde_json::from_str(&body).unwrap());
        assert_eq!(
            fs.iter().map(|f| f.0.clone()).collect::<Vec<_>>(),
            ids,
            "{filter}"
        );
        assert_eq!(
            fs.iter().map(|f| f.1).collect::<Vec<_>>(),
            points,
            "{filter}"
        );

        let (status, kind, body) = text(&app, &format!("/open311/v2/requests.csv{filter}")).await;
        assert_eq!(status, 200, "{body}");
        assert!(kind.starts_with("text/csv"), "{kind}");
        let rows = csv_rows(&body);
        assert_eq!(
            rows.iter()
                .map(|r| r["service_request_id"].clone())
                .collect::<Vec<_>>(),
            ids,
            "{filter}"
        );
        let csv_points: Vec<Option<(f64, f64)>> = rows
            .iter()
            .map(|r| r["lat"].parse().ok().zip(r["long"].parse().ok()))
            .collect();
        assert_eq!(csv_points, points, "{filter}");
    }

    // With one service, its attributes are columns; free text survives quotes and line breaks.
    let (_, _, body) = text(&app, "/open311/v2/requests.csv?service_code=FLOOD").await;
    let rows = csv_rows(&body);
    let row = rows
        .iter()
        .find(|r| r["service_request_id"] == deep)
        .unwrap();
    assert_eq!(row["attribute[DEPTH]"], "120");
    assert_eq!(row["attribute[PASSABLE]"], "large");
    assert_eq!(row["description"], "Sampai dada, \"deras\"\nbaris dua");
    assert_eq!(row["service_name"], "Flooded street");
    let header: Vec<String> = csv::Reader::from_reader(body.as_bytes())
        .headers()
        .unwrap()
        .iter()
        .map(str::to_string)
        .collect();
    let json = app
        .get_json(&format!("/open311/v2/requests/{deep}.json"))
        .await;
    let fields: std::collections::BTreeSet<String> =
        json[0].as_object().unwrap().keys().cloned().collect();
    let (attributes, columns): (Vec<String>, Vec<String>) = header
        .into_iter()
        // How it arrived and its reference code follow GeoReport's fields (in JSON they are extensions).
        .filter(|h| h != "channel" && h != "reference_code")
        .partition(|h| h.starts_with("attribute["));
    assert_eq!(
        columns
            .into_iter()
            .collect::<std::collections::BTreeSet<_>>(),
        fields,
        "every GeoReport field is a column"
    );
    // Every attribute the service asks, answered or not.
    for code in ["DEPTH", "PASSABLE", "HAZARDS"] {
        assert!(
            attributes.contains(&format!("attribute[{code}]")),
            "{attributes:?}"
        );
    }
    assert!(row["requested_datetime"].ends_with("+07:00"), "{row:?}");
    let other = rows
        .iter()
        .find(|r| r["service_request_id"] == shallow)
        .unwrap();
    assert_eq!(other["attribute[DEPTH]"], "45");
    // Without one service, no attribute columns; a report without a point has no geometry.
    let (_, _, body) = text(&app, "/open311/v2/requests.csv").await;
    assert!(csv_rows(&body)
        .iter()
        .all(|r| !r.keys().any(|k| k.starts_with("attribute["))));
    let (_, _, body) = text(
        &app,
        "/open311/v2/requests.geojson?service_code=LIGHT&extensions=true",
    )
    .await;
    let fs = features(&serde_json::from_str(&body).unwrap());
    assert_eq!(fs.len(), 1);
    assert_eq!(fs[0].1, None);
    assert_eq!(fs[0].2["attributes"]["STATE"], "dark", "{}", fs[0].2);
}

async fn open_data_is_as_private_as_the_json_list(app: TestApp) {
    let canaries = CANARIES;
    let id = app.post_flood(&canaries).await;
    // A spreadsheet would run this as a formula.
    let formula = app
        .post_flood(&[(
            "description",
            "=HYPERLINK(\"http://evil.example\",\"klik\")",
        )])
        .await;
    for path in [
        "/open311/v2/requests.geojson?extensions=true",
        "/open311/v2/requests.csv?service_code=FLOOD",
        "/open311/v2/requests.csv",
    ] {
        let (status, _, body) = text(&app, path).await;
        assert_eq!(status, 200);
        assert!(body.contains(&id), "{path}");
        for (_, value) in canaries {
            assert!(!body.contains(value), "{value} in {path}");
        }
        assert!(!body.contains("canary"), "{path}");
    }
    let (_, _, body) = text(&app, "/open311/v2/requests.csv").await;
    let rows = csv_rows(&body);
    let row = rows
        .iter()
        .find(|r| r["service_request_id"] == formula)
        .unwrap();
    assert!(row["description"].starts_with("'=HYPERLINK"), "{row:?}");
    // A report held for review is in no format.
    let held = app
        .post_flood(&[("description", "WA 0812 3456 7890")])
        .await;
    for path in ["/open311/v2/requests.geojson", "/open311/v2/requests.csv"] {
        let (_, _, body) = text(&app, path).await;
        assert!(
            !body.contains(&format!("\"{held}\"")) && !body.contains(&format!("\n{held},")),
            "{path}"
        );
    }
}

async fn open_data_errors_are_open311_errors(app: TestApp) {
    for path in [
        "/open311/v2/requests.geojson?status=pending",
        "/open311/v2/requests.csv?page_size=5000",
        "/open311/v2/requests.csv?start_date=yesterday",
    ] {
        let resp = app.get(path).await;
        assert_eq!(resp.status(), 400, "{path}");
        let errors = json_errors(&resp.json().await.unwrap());
        assert!(errors.iter().all(|(code, _)| *code == 400), "{errors:?}");
    }
    let post = app
        .client
        .post(app.url("/open311/v2/requests.geojson"))
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), 405);
}

/// CogniCity's `timeperiod=3600`: "the last hour", on every list format.
async fn timeperiod_lists_the_last_seconds_in_every_format(app: TestApp) {
    let fresh = app.post_flood(&[]).await;
    let earlier = app.post_flood(&[]).await;
    let two_hours_ago = (chrono::Utc::now() - chrono::TimeDelta::hours(2))
        .format("%Y-%m-%d %H:%M:%S")
        .to_string();
    app.sql(&format!(
        "UPDATE requests SET requested_at = '{two_hours_ago}' WHERE id = {earlier}"
    ))
    .await;
    let ids = |v: &Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|r| r["service_request_id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        ids(&app.get_json("/open311/v2/requests.json").await).len(),
        2
    );
    let json = app
        .get_json("/open311/v2/requests.json?timeperiod=3600")
        .await;
    assert_eq!(ids(&json), std::slice::from_ref(&fresh));
    let (_, _, body) = text(&app, "/open311/v2/requests.geojson?timeperiod=3600").await;
    let fs = features(&serde_json::from_str(&body).unwrap());
    assert_eq!(
        fs.iter().map(|f| f.0.clone()).collect::<Vec<_>>(),
        std::slice::from_ref(&fresh)
    );
    let (_, _, body) = text(&app, "/open311/v2/requests.csv?timeperiod=10800").await;
    assert_eq!(csv_rows(&body).len(), 2);
    let xml = app
        .get_xml("/open311/v2/requests.xml?timeperiod=3600")
        .await;
    let doc = roxmltree::Document::parse(&xml).unwrap();
    assert_eq!(
        doc.descendants()
            .filter(|n| n.has_tag_name("request"))
            .count(),
        1
    );
    for bad in [
        "timeperiod=0",
        "timeperiod=hour",
        "timeperiod=60&start_date=2026-11-30T00:00:00Z",
    ] {
        let resp = app.get(&format!("/open311/v2/requests.json?{bad}")).await;
        assert_eq!(resp.status(), 400, "{bad}");
        let errors = json_errors(&resp.json().await.unwrap());
        assert!(
            errors.iter().any(|(_, d)| d.contains("timeperiod")),
            "{errors:?}"
        );
    }
}

/// The ids a list answers.
async fn listed(app: &TestApp, query: &str) -> Vec<String> {
    app.get_json(&format!("/open311/v2/requests.json?{query}"))
        .await
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["service_request_id"].as_str().unwrap().to_string())
        .collect()
}

async fn spatial_filters_find_reports_within_a_box_or_a_radius(app: TestApp) {
    // Monas, and points about 900 m north and 1,200 m east of it.
    let centre = app
        .post_flood(&[("lat", "-6.1754"), ("long", "106.8272")])
        .await;
    let north = app
        .post_flood(&[("lat", "-6.167315"), ("long", "106.8272")])
        .await;
    let east = app
        .post_flood(&[("lat", "-6.1754"), ("long", "106.838055")])
        .await;
    let nowhere = app.post_form("json", &light(&[])).await;
    assert_eq!(nowhere.status(), 200);

    let around = |r: u32| format!("lat=-6.1754&long=106.8272&radius={r}");
    assert_eq!(listed(&app, &around(10)).await, [centre.as_str()]);
    assert_eq!(listed(&app, &around(850)).await, [centre.as_str()]);
    assert_eq!(
        listed(&app, &around(950)).await,
        [north.clone(), centre.clone()]
    );
    assert_eq!(
        listed(&app, &around(1300)).await,
        [east.clone(), north.clone(), centre.clone()],
        "newest first, as every list"
    );
    // The box is west, south, east, north; a report without a point is in no area.
    assert_eq!(
        listed(&app, "bbox=106.82,-6.18,106.83,-6.16").await,
        [north.clone(), centre.clone()]
    );
    assert_eq!(
        listed(&app, "bbox=106.83,-6.18,106.84,-6.17&service_code=FLOOD").await,
        [east.as_str()]
    );
    assert!(listed(&app, "bbox=0,0,1,1").await.is_empty());

    for (query, field) in [
        ("bbox=106.8,-6.2,106.9", "bbox"),
        ("bbox=106.9,-6.2,106.8,-6.1", "bbox"),
        ("bbox=a,b,c,d", "bbox"),
        ("bbox=106.8,-95,106.9,-6.1", "bbox"),
        ("lat=-6.17&long=106.82", "radius"),
        ("lat=-6.17&radius=100", "long"),
        ("lat=-6.17&long=106.82&radius=0", "radius"),
        ("lat=-6.17&long=106.82&radius=50001", "radius"),
        ("lat=91&long=106.82&radius=10", "lat"),
        (
            "lat=-6.17&long=106.82&radius=10&bbox=106.8,-6.2,106.9,-6.1",
            "bbox",
        ),
    ] {
        for format in ["json", "geojson", "csv"] {
            let resp = app
                .get(&format!("/open311/v2/requests.{format}?{query}"))
                .await;
            assert_eq!(resp.status(), 400, "{format}?{query}");
            let errors = json_errors(&resp.json().await.unwrap());
            assert!(
                errors.iter().any(|(_, d)| d.contains(field)),
                "{format}?{query}: {errors:?}"
            );
        }
    }
}

async fn the_data_dictionary_is_what_the_formats_write(app: TestApp) {
    let id = app.post_flood(&[("description", "Knee deep")]).await;
    let discovery = app.get_json("/open311/discovery.json").await;
    assert_eq!(discovery["license"], "CC-BY-4.0");
    let link = discovery["data_dictionary"].as_str().unwrap();
    assert!(link.ends_with("/open311/v2/dictionary.json"), "{link}");
    let xml = app.get_xml("/open311/discovery.xml").await;
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let license = doc
        .descendants()
        .find(|n| n.has_tag_name("license"))
        .unwrap();
    assert_eq!(license.text(), Some("CC-BY-4.0"));

    let dict = app.get_json("/open311/v2/dictionary.json").await;
    assert_eq!(dict["license"], "CC-BY-4.0");
    let fields: Vec<String> = dict["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            assert!(
                f["description"].as_str().is_some_and(|d| !d.is_empty()),
                "{f}"
            );
            f["name"].as_str().unwrap().to_string()
        })
        .collect();
    let field = |name: &str| {
        dict["fields"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["name"] == name)
            .unwrap()
            .clone()
    };
    assert_eq!(field("lat")["unit"], "degree (WGS 84)");
    assert!(field("address")["privacy"]
        .as_str()
        .unwrap()
        .contains("grid"));

    // The JSON list writes exactly the GeoReport fields, in this order; the open-data formats add two.
    let list = app.get_json("/open311/v2/requests.json").await;
    let written: Vec<String> = list[0].as_object().unwrap().keys().cloned().collect();
    assert_eq!(written, fields[..fields.len() - 2]);
    assert_eq!(fields[fields.len() - 2..], ["channel", "reference_code"]);
    // The CSV header: these fields, then the service's attribute columns as the dictionary names them.
    let (_, _, csv) = text(&app, "/open311/v2/requests.csv?service_code=FLOOD").await;
    let header: Vec<String> = csv::Reader::from_reader(csv.as_bytes())
        .headers()
        .unwrap()
        .iter()
        .map(str::to_string)
        .collect();
    let flood = dict["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["service_code"] == "FLOOD")
        .unwrap();
    let columns: Vec<String> = flood["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["csv_column"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(header, [fields.clone(), columns].concat());
    let depth = flood["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["code"] == "DEPTH")
        .unwrap();
    assert_eq!(depth["unit"], "cm");
    assert_eq!(depth["datatype"], "number");
    // GeoJSON: the same fields as properties, the point as geometry.
    let geo: Value =
        serde_json::from_str(&text(&app, "/open311/v2/requests.geojson").await.2).unwrap();
    let feature = &geo["features"][0];
    assert_eq!(feature["id"], Value::String(id));
    let properties: Vec<String> = feature["properties"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    let expected: Vec<String> = fields
        .iter()
        .filter(|f| *f != "lat" && *f != "long")
        .cloned()
        .collect();
    assert_eq!(properties, expected);
    // Grid services and what is never published are said.
    let dumping = dict["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["service_code"] == "DUMPING")
        .unwrap();
    assert_eq!(dumping["public_precision_m"], 100.0);
    assert_eq!(dumping["reviewed_before_publication"], true);
    let withheld: Vec<&str> = dict["withheld"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["name"].as_str().unwrap())
        .collect();
    for name in [
        "email",
        "phone",
        "first_name",
        "last_name",
        "device_id",
        "account_id",
    ] {
        assert!(withheld.contains(&name), "{name}");
        assert!(!fields.iter().any(|f| f == name), "{name}");
    }
}

/// Every column of a stored report but its id, to copy reports in SQL.
const COLUMNS: &str = "jurisdiction_id, service_code, status, detailed_status, status_notes, description, \
    agency_responsible, service_notice, requested_at, updated_at, expected_at, address, address_id, zipcode, \
    lat, long, token, api_key_id, channel, email, phone, first_name, last_name, device_id_hash, account_id, \
    hidden, moderation_state, department_code, routing_trace, priority, duplicate_of, public_lat, public_long";

async fn ids_of_csv(text: &str) -> Vec<String> {
    csv_rows(text)
        .into_iter()
        .map(|r| r["service_request_id"].clone())
        .collect()
}

async fn a_whole_export_streams_every_report_once(app: TestApp) {
    app.post_flood(&[("email", "canary-export@mail.example")])
        .await;
    // 2,048 reports, all requested in the same second: past the 1,000 of a page, and ties for the order.
    for _ in 0..11 {
        app.sql(&format!(
            "INSERT INTO requests ({COLUMNS}) SELECT {COLUMNS} FROM requests"
        ))
        .await;
    }
    // Some of them years old: outside the list's 90-day window, inside a whole export.
    app.sql("UPDATE requests SET requested_at = '2021-03-01 00:00:00', updated_at = '2021-03-01 00:00:00' WHERE id <= 100")
        .await;
    let (status, kind, body) = text(&app, "/open311/v2/requests.csv?all=true").await;
    assert_eq!(status, 200, "{body}");
    assert!(kind.starts_with("text/csv"));
    assert!(!body.contains("canary-export"));
    let ids = ids_of_csv(&body).await;
    assert_eq!(ids.len(), 2048);
    let unique: std::collections::BTreeSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), 2048, "each report once");
    let numbers: Vec<i64> = ids.iter().map(|i| i.parse().unwrap()).collect();
    assert!(
        numbers.windows(2).all(|w| w[0] > w[1]),
        "newest first, ids breaking ties"
    );
    assert_eq!(*numbers.last().unwrap(), 1, "the oldest reports too");

    let (status, kind, body) = text(
        &app,
        "/open311/v2/requests.geojson?all=true&service_code=FLOOD",
    )
    .await;
    assert_eq!((status, kind.as_str()), (200, "application/geo+json"));
    let fs = features(&serde_json::from_str(&body).unwrap());
    assert_eq!(fs.iter().map(|f| f.0.clone()).collect::<Vec<_>>(), ids);

    // A filter narrows a whole export as it narrows a page; paging does not go with it.
    let (_, _, body) = text(
        &app,
        "/open311/v2/requests.csv?all=true&end_date=2022-01-01T00:00:00Z",
    )
    .await;
    assert_eq!(ids_of_csv(&body).await.len(), 100);
    let resp = app
        .get("/open311/v2/requests.csv?all=true&page_size=10")
        .await;
    assert_eq!(resp.status(), 400);

    // civic311 export writes the same reports to a file.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("reports.csv");
    app.run_cli(&[
        "export",
        "--format",
        "csv",
        "--output",
        out.to_str().unwrap(),
    ]);
    let written = std::fs::read_to_string(&out).unwrap();
    assert_eq!(ids_of_csv(&written).await, ids);
    assert!(!dir.path().join("reports.csv.partial").exists());
    let stdout = app.run_cli(&[
        "export",
        "--format",
        "geojson",
        "--since",
        "2025-01-01T00:00:00Z",
    ]);
    let fs = features(&serde_json::from_str(&stdout).unwrap());
    assert_eq!(fs.len(), 2048 - 100, "changed since 2025");
}
