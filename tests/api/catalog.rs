//! Discovery, service list and service definitions (spec §3.1–3.3), jurisdiction rules (§2.5), path tolerance.

use crate::both_backends;
use crate::helpers::*;
use serde_json::json;
use std::io::Write;

both_backends!(
    discovery_is_served_at_both_paths_in_both_formats,
    service_list_has_the_demo_services_with_spec_types,
    service_list_xml_has_every_field,
    flood_definition_matches_the_spec_shape,
    definition_alias_and_service_without_metadata,
    unknown_service_code_is_404_in_the_requested_format,
    single_jurisdiction_accepts_empty_and_its_own_id_only,
    several_jurisdictions_require_the_id,
    paths_are_tolerant_and_formats_strict,
    wrong_method_is_405_with_allow,
);

async fn discovery_is_served_at_both_paths_in_both_formats(app: TestApp) {
    for path in ["/open311/discovery.json", "/open311/v2/discovery.json"] {
        let d = app.get_json(path).await;
        assert!(d["contact"].as_str().unwrap().contains("Jakarta"));
        assert!(!d["key_service"].as_str().unwrap().is_empty());
        let changeset =
            chrono::DateTime::parse_from_rfc3339(d["changeset"].as_str().unwrap()).unwrap();
        assert!(changeset <= chrono::Utc::now());
        let e = &d["endpoints"][0];
        assert_eq!(e["specification"], "http://wiki.open311.org/GeoReport_v2");
        assert_eq!(e["url"], app.url("/open311/v2"));
        assert_eq!(e["type"], "test");
        assert_eq!(e["formats"], json!(["text/xml", "application/json"]));
    }
    let resp = app.get("/open311/discovery.xml").await;
    assert_eq!(resp.headers()["content-type"], "text/xml; charset=utf-8");
    let text = resp.text().await.unwrap();
    assert!(text.starts_with("<?xml version=\"1.0\" encoding=\"utf-8\"?>"));
    let doc = roxmltree::Document::parse(&text).unwrap();
    let formats: Vec<&str> = doc
        .descendants()
        .filter(|n| n.has_tag_name("format"))
        .filter_map(|n| n.text())
        .collect();
    assert_eq!(formats, ["text/xml", "application/json"]);
}

async fn service_list_has_the_demo_services_with_spec_types(app: TestApp) {
    let resp = app.get("/open311/v2/services.json").await;
    assert_eq!(
        resp.headers()["content-type"],
        "application/json; charset=utf-8"
    );
    let list: serde_json::Value = resp.json().await.unwrap();
    let codes: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["service_code"].as_str().unwrap())
        .collect();
    for code in ["FLOOD", "LIGHT", "DRAIN", "DUMPING"] {
        assert!(codes.contains(&code), "{codes:?}");
    }
    let flood = list
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["service_code"] == "FLOOD")
        .unwrap();
    assert_eq!(flood["metadata"], json!(true));
    assert_eq!(flood["type"], "realtime");
    assert_eq!(flood["group"], "Water & drainage");
    assert!(flood["keywords"]
        .as_str()
        .unwrap()
        .split(',')
        .any(|k| k == "banjir"));
    let dumping = list
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["service_code"] == "DUMPING")
        .unwrap();
    assert_eq!(dumping["type"], "batch");
}

async fn service_list_xml_has_every_field(app: TestApp) {
    let text = app.get_xml("/open311/v2/services.xml").await;
    let doc = roxmltree::Document::parse(&text).unwrap();
    assert_eq!(doc.root_element().tag_name().name(), "services");
    let services: Vec<_> = doc
        .root_element()
        .children()
        .filter(|n| n.has_tag_name("service"))
        .collect();
    assert_eq!(services.len(), 4);
    for s in services {
        let f = xml_fields(s);
        for key in [
            "service_code",
            "service_name",
            "description",
            "metadata",
            "type",
            "keywords",
            "group",
        ] {
            assert!(f.contains_key(key), "{key} missing in {f:?}");
        }
        assert!(matches!(f["metadata"].as_deref(), Some("true" | "false")));
    }
}

async fn flood_definition_matches_the_spec_shape(app: TestApp) {
    let d = app.get_json("/open311/v2/services/FLOOD.json").await;
    assert_eq!(d["service_code"], "FLOOD");
    let attrs = d["attributes"].as_array().unwrap();
    let codes: Vec<&str> = attrs.iter().map(|a| a["code"].as_str().unwrap()).collect();
    assert_eq!(
        codes,
        ["SAFETY", "DEPTH", "PASSABLE", "HAZARDS", "STARTED", "LANDMARK"]
    );
    let orders: Vec<i64> = attrs.iter().map(|a| a["order"].as_i64().unwrap()).collect();
    assert_eq!(orders, [1, 2, 3, 4, 5, 6]);
    assert_eq!(attrs[0]["variable"], json!(false));
    assert_eq!(attrs[1]["datatype"], "number");
    assert_eq!(attrs[1]["required"], json!(true));
    assert_eq!(attrs[2]["datatype"], "singlevaluelist");
    assert_eq!(
        attrs[2]["values"][0],
        json!({"key": "all", "name": "All vehicles"})
    );
    assert_eq!(attrs[3]["datatype"], "multivaluelist");
    assert_eq!(attrs[4]["datatype"], "datetime");
    assert_eq!(attrs[5]["datatype"], "string");
    assert_eq!(attrs[5]["datatype_description"], json!(null));
    assert!(
        attrs[1].get("values").is_none(),
        "values only for list types"
    );

    let text = app.get_xml("/open311/v2/services/FLOOD.xml").await;
    let doc = roxmltree::Document::parse(&text).unwrap();
    assert_eq!(doc.root_element().tag_name().name(), "service_definition");
    let wrapper = doc
        .root_element()
        .children()
        .find(|n| n.has_tag_name("attributes"))
        .expect("<attributes> wrapper");
    let xml_attrs: Vec<_> = wrapper
        .children()
        .filter(|n| n.has_tag_name("attribute"))
        .collect();
    assert_eq!(xml_attrs.len(), 6);
    let values = xml_attrs[2]
        .children()
        .find(|n| n.has_tag_name("values"))
        .unwrap();
    assert_eq!(
        values
            .children()
            .filter(|n| n.has_tag_name("value"))
            .count(),
        3
    );
}

async fn definition_alias_and_service_without_metadata(app: TestApp) {
    let a = app.get_json("/open311/v2/services/LIGHT.json").await;
    let b = app.get_json("/open311/v2/service/LIGHT.json").await;
    assert_eq!(a, b);

    let dir = tempfile::tempdir().unwrap();
    std::fs::File::create(dir.path().join("extra.toml"))
        .unwrap()
        .write_all(b"[[services]]\ncode = \"GRAFFITI\"\nname = \"Graffiti\"\n")
        .unwrap();
    let (store, path) = (app.store.clone(), dir.path().to_path_buf());
    tokio::task::spawn_blocking(move || civic311::import::import_dir(&store, &path))
        .await
        .unwrap()
        .unwrap();
    let list = app.get_json("/open311/v2/services.json").await;
    let g = list
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["service_code"] == "GRAFFITI")
        .unwrap();
    assert_eq!(g["metadata"], json!(false));
    assert_eq!(g["description"], json!(null));
    let d = app.get_json("/open311/v2/services/GRAFFITI.json").await;
    assert_eq!(d, json!({"service_code": "GRAFFITI", "attributes": []}));
}

async fn unknown_service_code_is_404_in_the_requested_format(app: TestApp) {
    let resp = app.get("/open311/v2/services/NOPE.json").await;
    assert_eq!(resp.status(), 404);
    let errors = json_errors(&resp.json().await.unwrap());
    assert_eq!(errors[0].0, 404);
    assert!(errors[0].1.contains("service_code"));
    let resp = app.get("/open311/v2/services/NOPE.xml").await;
    assert_eq!(resp.status(), 404);
    assert_eq!(xml_errors(&resp.text().await.unwrap())[0].0, 404);
}

async fn single_jurisdiction_accepts_empty_and_its_own_id_only(app: TestApp) {
    for q in ["", "?jurisdiction_id=", "?jurisdiction_id=jakarta.go.id"] {
        app.get_json(&format!("/open311/v2/services.json{q}")).await;
    }
    let resp = app
        .get("/open311/v2/services.json?jurisdiction_id=bandung.go.id")
        .await;
    assert_eq!(resp.status(), 404);
    let errors = json_errors(&resp.json().await.unwrap());
    assert!(errors[0].1.contains("jurisdiction_id"), "{errors:?}");
}

async fn several_jurisdictions_require_the_id(app: TestApp) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bandung.toml"),
        "[[jurisdictions]]\nid = \"bandung.go.id\"\nname = \"Bandung\"\ncontact = \"c\"\nkey_service = \"k\"\n\n\
         [[services]]\njurisdiction = \"bandung.go.id\"\ncode = \"POTHOLE\"\nname = \"Pothole\"\n",
    )
    .unwrap();
    let (store, path) = (app.store.clone(), dir.path().to_path_buf());
    tokio::task::spawn_blocking(move || civic311::import::import_dir(&store, &path))
        .await
        .unwrap()
        .unwrap();

    let resp = app.get("/open311/v2/services.json").await;
    assert_eq!(resp.status(), 400);
    assert!(json_errors(&resp.json().await.unwrap())[0]
        .1
        .contains("jurisdiction_id was not provided"));
    let resp = app.get("/open311/v2/requests.xml?jurisdiction_id=").await;
    assert_eq!(resp.status(), 400);
    let resp = app
        .get("/open311/v2/services.json?jurisdiction_id=medan.go.id")
        .await;
    assert_eq!(resp.status(), 404);
    let d = app
        .get_json("/open311/discovery.json?jurisdiction_id=bandung.go.id")
        .await;
    assert_eq!(d["contact"], "c");
    let d = app
        .get_json("/open311/discovery.json?jurisdiction_id=jakarta.go.id")
        .await;
    assert!(d["contact"].as_str().unwrap().contains("Jakarta"), "{d}");
    let d = app.get_json("/open311/discovery.json").await;
    assert_eq!(
        d["contact"], "c",
        "without an id, the first jurisdiction by id"
    );
    let d = app
        .get_json("/open311/discovery.json?jurisdiction_id=medan.go.id")
        .await;
    assert_eq!(
        d["contact"], "c",
        "an unknown id is ignored: the spec gives discovery no parameters"
    );
    let bandung = app
        .get_json("/open311/v2/services.json?jurisdiction_id=bandung.go.id")
        .await;
    assert_eq!(bandung.as_array().unwrap().len(), 1);
    assert_eq!(bandung[0]["service_code"], "POTHOLE");
    let jakarta = app
        .get_json("/open311/v2/services.json?jurisdiction_id=jakarta.go.id")
        .await;
    assert_eq!(jakarta.as_array().unwrap().len(), 4);
    // A POST takes jurisdiction_id from the body or, as the open311 client sends it, from the query string.
    let resp = app
        .post_form(
            "json",
            &[
                ("api_key", DEMO_KEY),
                ("service_code", "POTHOLE"),
                ("address_string", "Jl. Asia Afrika 8"),
            ],
        )
        .await;
    assert_eq!(resp.status(), 400);
    let resp = app
        .client
        .post(app.url("/open311/v2/requests.json?jurisdiction_id=bandung.go.id"))
        .form(&[
            ("api_key", DEMO_KEY),
            ("service_code", "POTHOLE"),
            ("address_string", "Jl. Asia Afrika 8"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
}

async fn paths_are_tolerant_and_formats_strict(app: TestApp) {
    for path in [
        "/open311/v2//services.json",
        "/open311/v2/services.json/",
        "/open311/v2/services.JSON",
        "/open311//v2/services.Json",
    ] {
        let resp = app.get(path).await;
        assert_eq!(resp.status(), 200, "{path}");
        assert!(
            resp.json::<serde_json::Value>().await.unwrap().is_array(),
            "{path}"
        );
    }
    for path in [
        "/open311/v2/services.yaml",
        "/open311/v2/services",
        "/open311/v2/requests/1.csv",
        "/nothing/here",
    ] {
        let resp = app.get(path).await;
        assert_eq!(resp.status(), 404, "{path}");
        assert_eq!(
            resp.headers()["content-type"],
            "text/xml; charset=utf-8",
            "{path}"
        );
        assert_eq!(xml_errors(&resp.text().await.unwrap())[0].0, 404, "{path}");
    }
}

async fn wrong_method_is_405_with_allow(app: TestApp) {
    let resp = app
        .client
        .delete(app.url("/open311/v2/requests.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 405);
    assert_eq!(resp.headers()["allow"], "GET, POST");
    assert_eq!(json_errors(&resp.json().await.unwrap())[0].0, 405);
    let resp = app
        .client
        .post(app.url("/open311/v2/services.xml"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 405);
    assert_eq!(resp.headers()["allow"], "GET");
    assert_eq!(xml_errors(&resp.text().await.unwrap())[0].0, 405);
}
