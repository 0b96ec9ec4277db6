//! Citizens' personal data stays private (issue item 7): stored for staff, never in any public response.

use crate::both_backends;
use crate::helpers::*;
use proptest::prelude::*;
use reqwest::multipart::Form;
use serde_json::{json, Value};

both_backends!(
    device_id_is_stored_only_as_a_keyed_hash,
    post_answer_account_id_is_null,
    a_dumping_report_is_public_on_a_grid_and_exact_for_staff,
    text_that_looks_like_contact_details_is_held_for_review,
    no_public_get_route_shows_personal_data,
    public_points_follow_the_grid_after_a_migration_and_an_import,
);

both_backends!(backend: a_service_that_reviews_everything_holds_every_report);

async fn device_id_is_stored_only_as_a_keyed_hash(app: TestApp) {
    let id = app
        .post_flood(&[
            ("device_id", "356938035643809"),
            ("email", "siti@mail.example"),
            ("phone", "+62 812 3456 789"),
            ("first_name", "Siti"),
            ("last_name", "Rahma"),
            ("account_id", "acct-77"),
        ])
        .await;
    let row = app
        .store
        .read(move |c| civic311::store::requests::get_any(c, id.parse().unwrap()))
        .await
        .unwrap()
        .unwrap();
    let hash = row.device_id_hash.clone().unwrap();
    assert_eq!(hash.len(), 64);
    assert_ne!(
        hash,
        civic311::auth::hash_api_key("356938035643809"),
        "keyed, not a bare hash"
    );
    assert_eq!(row.email.as_deref(), Some("siti@mail.example"));
    assert_eq!(row.phone.as_deref(), Some("+62 812 3456 789"));
    assert_eq!(row.first_name.as_deref(), Some("Siti"));
    assert_eq!(row.account_id.as_deref(), Some("acct-77"));
    let secret = std::fs::read(app.data_dir.join("secret.key")).unwrap();
    assert_eq!(
        hash,
        civic311::auth::hash_device_id(&secret, "356938035643809")
    );
}

async fn post_answer_account_id_is_null(app: TestApp) {
    let resp = app
        .post_form(
            "json",
            &light(&[("account_id", "acct-1"), ("email", "a@b.org")]),
        )
        .await;
    let ack: Value = resp.json().await.unwrap();
    assert_eq!(ack[0]["account_id"], Value::Null);
    assert!(!ack.to_string().contains("acct-1") && !ack.to_string().contains("a@b.org"));
}

/// Random personal data in every contact field, sent in all three encodings, must appear in no public
/// answer in any format, with or without extensions.
fn pii_never_appears_in_public_output(backend: Backend) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let app = rt.block_on(spawn_app(backend));
    let token = "[A-Za-z]{6}[0-9]{6}";
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 12,
        ..ProptestConfig::default()
    });
    runner
        .run(
            &(token, token, token, token, token, token, 0..3usize),
            |(email_user, phone, first, last, device, account, encoding)| {
                let email = format!("{email_user}@mail.example");
                let phone = format!("+62{}", phone.to_ascii_lowercase());
                rt.block_on(async {
                    let fields: Vec<(&str, String)> = vec![
                        ("api_key", DEMO_KEY.into()),
                        ("service_code", "FLOOD".into()),
                        ("lat", "-6.2".into()),
                        ("long", "106.8".into()),
                        ("attribute[DEPTH]", "20".into()),
                        ("attribute[PASSABLE]", "all".into()),
                        ("email", email.clone()),
                        ("phone", phone.clone()),
                        ("first_name", first.clone()),
                        ("last_name", last.clone()),
                        ("device_id", device.clone()),
                        ("account_id", account.clone()),
                    ];
                    let url = app.url("/open311/v2/requests.json");
                    let req = match encoding {
                        0 => app.client.post(&url).form(&fields),
                        1 => {
                            let mut obj = serde_json::Map::new();
                            for (k, v) in &fields {
                                if let Some(code) = k
                                    .strip_prefix("attribute[")
                                    .and_then(|c| c.strip_suffix(']'))
                                {
                                    obj.entry("attribute").or_insert_with(|| json!({}))[code] =
                                        json!(v);
                                } else {
                                    obj.insert(k.to_string(), json!(v));
                                }
                            }
                            app.client.post(&url).json(&obj)
                        }
                        _ => app.client.post(&url).multipart(
                            fields
                                .iter()
                                .fold(Form::new(), |f, (k, v)| f.text(k.to_string(), v.clone())),
                        ),
                    };
                    let resp = req.send().await.unwrap();
                    assert_eq!(resp.status(), 200);
                    let ack = resp.text().await.unwrap();
                    let id = serde_json::from_str::<Value>(&ack).unwrap()[0]["service_request_id"]
                        .as_str()
                        .unwrap()
                        .to_string();
                    let mut bodies = vec![ack];
                    for path in [
                        "/open311/v2/requests.json".to_string(),
                        "/open311/v2/requests.xml".to_string(),
                        "/open311/v2/requests.json?extensions=true".to_string(),
                        "/open311/v2/requests.xml?extensions=true".to_string(),
                        format!("/open311/v2/requests/{id}.json?extensions=true"),
                        format!("/open311/v2/requests/{id}.xml?extensions=true"),
                        format!("/open311/v2/requests.json?service_request_id={id}"),
                    ] {
                        bodies.push(app.get(&path).await.text().await.unwrap());
                    }
                    for body in &bodies {
                        for secret in [
                            &email,
                            &email_user,
                            &phone,
                            &first,
                            &last,
                            &device,
                            &account,
                        ] {
                            assert!(
                                !body.contains(secret.as_str()),
                                "{secret} leaked into {body}"
                            );
                        }
                    }
                });
                Ok(())
            },
        )
        .unwrap();
}

#[test]
fn pii_never_appears_in_public_output_sqlite() {
    pii_never_appears_in_public_output(Backend::Sqlite);
}

#[test]
fn pii_never_appears_in_public_output_postgres() {
    pii_never_appears_in_public_output(Backend::Postgres);
}

/// Publishes a report held for review, as the dispatcher "moderator" (made at first use).
async fn publish(app: &TestApp, id: &str) {
    let credentials = json!({"username": "moderator", "password": PASSWORD});
    let (status, session) = app
        .call("POST", "/staff/v1/session", None, Some(credentials))
        .await;
    let session = if status == 200 {
        session
    } else {
        app.staff_user("moderator", "dispatcher", &[]).await;
        app.sign_in("moderator").await
    };
    let t = token(&session);
    let (status, body) = app
        .call(
            "POST",
            &format!("/staff/v1/requests/{id}/publish"),
            Some(&t),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

/// The id of the newest stored report (a batch report's POST answer carries only a token).
async fn newest_id(app: &TestApp) -> String {
    app.store
        .read(|conn| {
            use civic311::store::schema::requests::dsl::*;
            use diesel::prelude::*;
            Ok(requests.select(id).order(id.desc()).first::<i64>(conn)?)
        })
        .await
        .unwrap()
        .to_string()
}

fn metres(a: (f64, f64), b: (f64, f64)) -> f64 {
    let (la1, la2) = (a.0.to_radians(), b.0.to_radians());
    let (dla, dlo) = ((b.0 - a.0).to_radians(), (b.1 - a.1).to_radians());
    let h = (dla / 2.0).sin().powi(2) + la1.cos() * la2.cos() * (dlo / 2.0).sin().powi(2);
    2.0 * 6_371_000.0 * h.sqrt().asin()
}

async fn post_dumping(app: &TestApp, lat: &str, long: &str) -> String {
    let resp = app
        .post_form(
            "json",
            &[
                ("api_key", DEMO_KEY),
                ("service_code", "DUMPING"),
                ("lat", lat),
                ("long", long),
                ("address_string", "Jl. Kebon Sirih No. 17, Menteng"),
                ("attribute[AMOUNT]", "car"),
            ],
        )
        .await;
    assert_eq!(resp.status(), 200);
    let id = newest_id(app).await;
    publish(app, &id).await;
    id
}

/// DUMPING publishes its point on a 100 m grid, in every format and on every read, without the address;
/// staff see the exact point. FLOOD, which declares no precision, stays exact.
async fn a_dumping_report_is_public_on_a_grid_and_exact_for_staff(app: TestApp) {
    let exact = (-6.186123, 106.834567);
    let id = post_dumping(&app, "-6.186123", "106.834567").await;
    // Ten metres away: the same cell, the same public point.
    let neighbour = post_dumping(&app, "-6.186123", "106.834477").await;
    let point = |v: &Value| (v["lat"].as_f64().unwrap(), v["long"].as_f64().unwrap());
    let one = app
        .get_json(&format!("/open311/v2/requests/{id}.json"))
        .await;
    let public = point(&one[0]);
    assert_ne!(public, exact);
    assert!(metres(public, exact) <= 71.0, "{public:?}");
    assert!(one[0].get("address").is_none_or(Value::is_null), "{one}");
    assert!(one[0].get("address_id").is_none_or(Value::is_null), "{one}");
    for _ in 0..3 {
        let again = app
            .get_json(&format!("/open311/v2/requests/{id}.json"))
            .await;
        assert_eq!(point(&again[0]), public, "snapped, never jittered");
    }
    let other = app
        .get_json(&format!("/open311/v2/requests/{neighbour}.json"))
        .await;
    assert_eq!(point(&other[0]), public, "one cell, one public point");
    let list = app
        .get_json("/open311/v2/requests.json?service_code=DUMPING")
        .await;
    for r in list.as_array().unwrap() {
        assert_eq!(point(r), public);
    }
    let xml = app.get_xml(&format!("/open311/v2/requests/{id}.xml")).await;
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let f = xml_fields(
        doc.descendants()
            .find(|n| n.has_tag_name("request"))
            .unwrap(),
    );
    let xml_point = (
        f["lat"].as_deref().unwrap().parse::<f64>().unwrap(),
        f["long"].as_deref().unwrap().parse::<f64>().unwrap(),
    );
    assert_eq!(xml_point, public);
    assert!(
        f.get("address")
            .is_none_or(|a| a.as_deref().unwrap_or("").is_empty()),
        "{xml}"
    );
    assert!(!xml.contains("Kebon Sirih"), "{xml}");

    // GeoJSON and CSV, paged and streamed, and the command-line export: the same point on the grid.
    let export =
        |format: &str| app.run_cli(&["export", "--format", format, "--service-code", "DUMPING"]);
    let mut geojsons = Vec::new();
    for path in [
        "requests.geojson?service_code=DUMPING",
        "requests.geojson?service_code=DUMPING&all=true",
    ] {
        geojsons.push(
            app.get(&format!("/open311/v2/{path}"))
                .await
                .text()
                .await
                .unwrap(),
        );
    }
    geojsons.push(export("geojson"));
    for body in &geojsons {
        assert!(!body.contains("Kebon Sirih"), "{body}");
        let doc: Value = serde_json::from_str(body).unwrap();
        for f in doc["features"].as_array().unwrap() {
            let c = &f["geometry"]["coordinates"];
            assert_eq!(
                (c[1].as_f64().unwrap(), c[0].as_f64().unwrap()),
                public,
                "{f}"
            );
        }
    }
    let mut csvs = Vec::new();
    for path in [
        "requests.csv?service_code=DUMPING",
        "requests.csv?service_code=DUMPING&all=true",
    ] {
        csvs.push(
            app.get(&format!("/open311/v2/{path}"))
                .await
                .text()
                .await
                .unwrap(),
        );
    }
    csvs.push(export("csv"));
    for body in &csvs {
        assert!(!body.contains("Kebon Sirih"), "{body}");
        let mut reader = csv::Reader::from_reader(body.as_bytes());
        let header = reader.headers().unwrap().clone();
        let at = |name: &str| header.iter().position(|h| h == name).unwrap();
        let mut rows = 0;
        for r in reader.records() {
            let r = r.unwrap();
            let p = (
                r[at("lat")].parse::<f64>().unwrap(),
                r[at("long")].parse::<f64>().unwrap(),
            );
            assert_eq!(p, public);
            assert_eq!(&r[at("address")], "");
            rows += 1;
        }
        assert_eq!(rows, 2);
    }

    // Staff, and the department's e-mail, have the exact point and the address.
    let t = token(&app.sign_in("moderator").await);
    let (_, staff) = app
        .call("GET", &format!("/staff/v1/requests/{id}"), Some(&t), None)
        .await;
    assert_eq!(point(&staff), exact);
    assert_eq!(staff["address"], "Jl. Kebon Sirih No. 17, Menteng");
    let stored = app.stored(&id).await;
    assert_eq!((stored.lat, stored.long), (Some(exact.0), Some(exact.1)));

    // Spatial filters test the public point: a box or a circle around the exact place that misses the
    // public point does not find the report, so filters cannot be used to find where it really is.
    let found = |query: String| {
        let app = &app;
        async move {
            app.get_json(&format!(
                "/open311/v2/requests.json?service_code=DUMPING&{query}"
            ))
            .await
            .as_array()
            .unwrap()
            .len()
        }
    };
    let d = 0.00001;
    let tiny_box =
        |(lat, long): (f64, f64)| format!("bbox={},{},{},{}", long - d, lat - d, long + d, lat + d);
    assert_eq!(found(tiny_box(exact)).await, 0);
    assert_eq!(found(tiny_box(public)).await, 2);
    let away = metres(public, exact);
    assert_eq!(
        found(format!(
            "lat={}&long={}&radius={}",
            exact.0,
            exact.1,
            away * 0.5
        ))
        .await,
        0
    );
    assert_eq!(
        found(format!("lat={}&long={}&radius=1", public.0, public.1)).await,
        2
    );

    let flood = app
        .post_flood(&[("lat", "-6.175392"), ("long", "106.827153")])
        .await;
    let f = app
        .get_json(&format!("/open311/v2/requests/{flood}.json"))
        .await;
    assert_eq!(
        point(&f[0]),
        (-6.175392, 106.827153),
        "FLOOD declares no precision"
    );
}

/// A phone number or e-mail address in the public text holds the report for review: the POST succeeds, the
/// report stays out of every public answer until staff publish it.
async fn text_that_looks_like_contact_details_is_held_for_review(app: TestApp) {
    let held = app
        .post_flood(&[(
            "description",
            "Air sepinggang, hubungi saya WA 0812-3456-7890",
        )])
        .await;
    let email = app
        .post_flood(&[("description", "flooded, write to siti.rahma@mail.example")])
        .await;
    let plain = app
        .post_flood(&[(
            "description",
            "Banjir 40 cm di Jl. Thamrin No. 12 sejak 14:30",
        )])
        .await;
    for id in [&held, &email] {
        assert_eq!(
            app.get(&format!("/open311/v2/requests/{id}.json"))
                .await
                .status(),
            404
        );
        assert_eq!(app.stored(id).await.moderation_state, "pending");
    }
    assert_eq!(
        app.get(&format!("/open311/v2/requests/{plain}.json"))
            .await
            .status(),
        200
    );
    let listed: Vec<String> = app
        .get_json("/open311/v2/requests.json?service_code=FLOOD")
        .await
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["service_request_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(listed, std::slice::from_ref(&plain));
    // Staff find it in the queue and publish it.
    app.staff_user("moderator", "dispatcher", &[]).await;
    let t = token(&app.sign_in("moderator").await);
    let (_, queue) = app
        .call(
            "GET",
            "/staff/v1/requests?moderation_state=pending",
            Some(&t),
            None,
        )
        .await;
    let mut pending: Vec<&str> = queue
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["service_request_id"].as_str().unwrap())
        .collect();
    pending.sort();
    let mut expected = [held.as_str(), email.as_str()];
    expected.sort();
    assert_eq!(pending, expected);
    publish(&app, &held).await;
    assert_eq!(
        app.get(&format!("/open311/v2/requests/{held}.json"))
            .await
            .status(),
        200
    );
}

/// `moderation = "pre"` on a realtime service: every report waits for staff, whatever its text.
async fn a_service_that_reviews_everything_holds_every_report(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let city = dir.path().join("city");
    copy_dir(&repo_path("examples/demo-city"), &city);
    let streets = city.join("services/streets.toml");
    let text = std::fs::read_to_string(&streets).unwrap();
    let text = text.replacen(
        "code = \"LIGHT\"\n",
        "code = \"LIGHT\"\nmoderation = \"pre\"\n",
        1,
    );
    std::fs::write(&streets, text).unwrap();
    let app = spawn_app_with(backend, &[city]).await;
    let resp = app.post_form("json", &light(&[])).await;
    assert_eq!(resp.status(), 200);
    let ack: Value = resp.json().await.unwrap();
    let id = ack[0]["service_request_id"].as_str().unwrap().to_string();
    assert_eq!(
        app.get(&format!("/open311/v2/requests/{id}.json"))
            .await
            .status(),
        404
    );
    assert_eq!(app.stored(&id).await.moderation_state, "pending");
    app.staff_user("moderator", "dispatcher", &[]).await;
    publish(&app, &id).await;
    assert_eq!(
        app.get(&format!("/open311/v2/requests/{id}.json"))
            .await
            .status(),
        200
    );
}

/// Every public GET of the route table, in every format, with and without extensions, after staff acted on
/// the reports: no contact value appears, nor a held report. A new public route with a path parameter this
/// test does not know fails it, so that it cannot be forgotten here.
async fn no_public_get_route_shows_personal_data(app: TestApp) {
    let canaries = CANARIES;
    let id = app.post_flood(&canaries).await;
    // Contact details written into the description by the citizen: held, so in no public answer.
    let held = app
        .post_flood(&[("description", "Canaryheld: call 0812 0000 4242")])
        .await;
    assert_eq!(app.stored(&held).await.moderation_state, "pending");
    let batch = app
        .post_form(
            "json",
            &[
                ("api_key", DEMO_KEY),
                ("service_code", "DUMPING"),
                ("lat", "-6.186123"),
                ("long", "106.834567"),
                ("attribute[AMOUNT]", "car"),
                ("email", CANARIES[0].1),
            ],
        )
        .await;
    let ack: Value = batch.json().await.unwrap();
    let token = ack[0]["token"].as_str().unwrap().to_string();
    // Staff act: a status with a public note, a public update and an internal note.
    app.staff_user("rina", "dispatcher", &[]).await;
    let t = crate::helpers::token(&app.sign_in("rina").await);
    for (path, body) in [
        (
            "status",
            json!({"status": "in_progress", "status_notes": "Pompa dikirim"}),
        ),
        (
            "notes",
            json!({"text": "Tim sudah di lokasi", "public": true}),
        ),
        (
            "notes",
            json!({"text": "Canaryinternal: pelapor Canaryfirst", "public": false}),
        ),
    ] {
        let (status, answer) = app
            .call(
                "POST",
                &format!("/staff/v1/requests/{id}/{path}"),
                Some(&t),
                Some(body),
            )
            .await;
        assert_eq!(status, 200, "{answer}");
    }
    // Settled, so that the change feed (cursor) lists them too (held ones it never lists).
    app.sql("UPDATE requests SET updated_at = '2026-11-30 08:00:00'")
        .await;
    let mut checked = 0;
    let mut showed_the_report = 0;
    for path in public_get_paths(&[
        ("{service_code}", "FLOOD"),
        ("{service_request_id}", id.as_str()),
        ("{token}", token.as_str()),
        ("{file_name}", "none.jpg"),
        (
            "{code}",
            civic311::domain::refcode::encode(id.parse().unwrap()).as_str(),
        ),
    ]) {
        for query in ["", "?extensions=true", "?start_date=2000-01-01T00:00:00Z&end_date=2000-03-01T00:00:00Z&updated_after=2000-01-01T00:00:00Z", "?all=true&extensions=true", "?cursor=0&extensions=true"] {
                let url = format!("{path}{query}");
                let body = app.get(&url).await.text().await.unwrap();
                checked += 1;
                if body.contains(&id) {
                    showed_the_report += 1;
                }
                for (_, value) in canaries {
                    assert!(!body.contains(value), "{value} in {url}: {body}");
                }
                // Also the held report's text ("Canaryheld") and the internal note ("Canaryinternal").
                assert!(!body.to_lowercase().contains("canary"), "{url}: {body}");
        }
    }
    assert!(checked >= 30, "{checked}");
    assert!(
        showed_the_report >= 8,
        "the report was in {showed_the_report} answers"
    );
}

/// The stored public points that spatial filters test are made again where they are missing (a database
/// from before they existed: the migration's data step) and when a service's grid changes (an import).
async fn public_points_follow_the_grid_after_a_migration_and_an_import(app: TestApp) {
    let exact = (-6.186123, 106.834567);
    let id = post_dumping(&app, "-6.186123", "106.834567").await;
    let stored = |app: &TestApp, id: &str| {
        let (store, wanted) = (app.store.clone(), id.parse::<i64>().unwrap());
        async move {
            store
                .read(move |conn| {
                    use civic311::store::schema::requests::dsl::*;
                    use diesel::prelude::*;
                    Ok(requests
                        .find(wanted)
                        .select((public_lat, public_long))
                        .first::<(Option<f64>, Option<f64>)>(conn)?)
                })
                .await
                .unwrap()
        }
    };
    let on_grid = civic311::domain::coarsen(exact.0, exact.1, 100.0);
    assert_eq!(stored(&app, &id).await, (Some(on_grid.0), Some(on_grid.1)));

    // As a database from before public points: the migration fills them, on the grid.
    app.sql("UPDATE requests SET public_lat = NULL, public_long = NULL")
        .await;
    civic311::store::migrate::run(&app.database_url).unwrap();
    assert_eq!(stored(&app, &id).await, (Some(on_grid.0), Some(on_grid.1)));

    // A coarser grid by import: the public answer and the stored point move together.
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&repo_path("examples/demo-city"), dir.path());
    let file = dir.path().join("services/streets.toml");
    let text = std::fs::read_to_string(&file)
        .unwrap()
        .replace("public_precision_m = 100", "public_precision_m = 500");
    std::fs::write(&file, text).unwrap();
    let (store, path) = (app.store.clone(), dir.path().to_path_buf());
    tokio::task::spawn_blocking(move || civic311::import::import_dir(&store, &path))
        .await
        .unwrap()
        .unwrap();
    let coarser = civic311::domain::coarsen(exact.0, exact.1, 500.0);
    assert_ne!(coarser, on_grid);
    assert_eq!(stored(&app, &id).await, (Some(coarser.0), Some(coarser.1)));
    let d = 0.00001;
    let listed = app
        .get_json(&format!(
            "/open311/v2/requests.json?service_code=DUMPING&bbox={},{},{},{}",
            coarser.1 - d,
            coarser.0 - d,
            coarser.1 + d,
            coarser.0 + d
        ))
        .await;
    assert_eq!(listed[0]["service_request_id"], Value::String(id.clone()));
    assert_eq!(listed[0]["lat"].as_f64(), Some(coarser.0));
}
