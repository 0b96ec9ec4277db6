//! Bad input never hurts (issue item 6): every malformed request gets a 4xx in the Open311 shape, in the
//! requested format, and leaves nothing half-written.

use crate::both_backends;
use crate::helpers::*;
use crate::post_requests::civic311_count;
use reqwest::multipart::{Form, Part};
use serde_json::Value;

both_backends!(
    description_limit_is_4000_characters_even_in_non_latin_scripts,
    coordinates_must_be_finite_and_in_range,
    control_characters_are_kept_and_never_break_the_xml,
    nul_and_invalid_utf8_are_refused,
    bodies_we_cannot_read_are_4xx,
    photo_size_and_count_are_capped_with_413,
    random_bodies_never_cause_a_server_error,
);

async fn description_limit_is_4000_characters_even_in_non_latin_scripts(app: TestApp) {
    // 4,000 three-byte characters are 36 KB percent-encoded: more than a default 16 KiB form limit.
    let max = "水".repeat(4000);
    let id = app.post_flood(&[("description", &max)]).await;
    let r = app
        .get_json(&format!("/open311/v2/requests/{id}.json"))
        .await;
    assert_eq!(r[0]["description"].as_str().unwrap().chars().count(), 4000);
    let over = "é".repeat(4001);
    let resp = app
        .post_form("json", &light(&[("description", &over)]))
        .await;
    assert_eq!(resp.status(), 400);
    assert!(json_errors(&resp.json().await.unwrap())[0]
        .1
        .contains("4000"));
}

async fn coordinates_must_be_finite_and_in_range(app: TestApp) {
    for (lat, long) in [
        ("NaN", "106.8"),
        ("-6.2", "inf"),
        ("-Infinity", "0"),
        ("91", "0"),
        ("0", "180.01"),
        ("-6,2", "106,8"),
        ("1e400", "0"),
        ("", "106.8"),
    ] {
        let resp = app
            .post_form(
                "xml",
                &[
                    ("api_key", DEMO_KEY),
                    ("service_code", "LIGHT"),
                    ("attribute[STATE]", "dark"),
                    ("lat", lat),
                    ("long", long),
                ],
            )
            .await;
        assert_eq!(resp.status(), 400, "{lat},{long}");
        let errors = xml_errors(&resp.text().await.unwrap());
        assert!(errors.iter().all(|(c, _)| *c == 400));
        assert!(
            errors
                .iter()
                .any(|(_, d)| d.contains("lat") || d.contains("long")),
            "{lat},{long}: {errors:?}"
        );
    }
    assert_eq!(civic311_count(&app).await, 0);
}

async fn control_characters_are_kept_and_never_break_the_xml(app: TestApp) {
    let id = app
        .post_flood(&[("description", "air\u{1}\u{8} naik\u{1b}[31m\r\n\u{FFFF}!")])
        .await;
    let xml = app
        .get_xml(&format!("/open311/v2/requests/{id}.xml?extensions=true"))
        .await;
    let doc = roxmltree::Document::parse(&xml).expect("well-formed XML");
    let d = doc
        .descendants()
        .find(|n| n.has_tag_name("description"))
        .unwrap()
        .text()
        .unwrap();
    // A CRLF line break is stored as LF (FixMyStreet's form bodies carry CRLF); the rest is kept.
    assert_eq!(d, "air\u{FFFD}\u{FFFD} naik\u{FFFD}[31m\n\u{FFFD}!");
    let json = app
        .get_json(&format!("/open311/v2/requests/{id}.json"))
        .await;
    assert_eq!(
        json[0]["description"],
        "air\u{1}\u{8} naik\u{1b}[31m\n\u{FFFF}!"
    );
    // Single-line fields refuse them.
    let resp = app
        .post_form(
            "json",
            &[
                ("api_key", DEMO_KEY),
                ("service_code", "LIGHT"),
                ("attribute[STATE]", "dark"),
                ("address_id", "A\u{1}"),
            ],
        )
        .await;
    assert_eq!(resp.status(), 400);
}

async fn nul_and_invalid_utf8_are_refused(app: TestApp) {
    let post_raw = |body: &'static [u8], ct: &'static str| {
        let req = app
            .client
            .post(app.url("/open311/v2/requests.json"))
            .header("content-type", ct)
            .body(body);
        async move { req.send().await.unwrap() }
    };
    for body in [
        &b"api_key=demo-key-jakarta&service_code=LIGHT&address_string=x&attribute%5BSTATE%5D=dark&description=%FF%FE"[..],
        b"api_key=demo-key-jakarta&service_code=LIGHT&address_string=x&attribute%5BSTATE%5D=dark&description=a%00b",
        b"api_key=demo-key-jakarta&service_code=LIGHT&address_string=x&attribute%5BSTATE%5D=dark&description=\xff",
    ] {
        let resp = post_raw(body, "application/x-www-form-urlencoded").await;
        assert_eq!(resp.status(), 400, "{}", String::from_utf8_lossy(body));
        assert_eq!(json_errors(&resp.json().await.unwrap())[0].0, 400);
    }
    let resp = post_raw(b"{\"api_key\":\"demo-key-jakarta\",\"service_code\":\"LIGHT\",\"address_string\":\"x\\u0000\",\"attribute\":{\"STATE\":\"dark\"}}", "application/json").await;
    assert_eq!(resp.status(), 400);
    let resp = post_raw(
        b"{\"api_key\":\"demo-key-jakarta\",\"description\":\"\xff\xfe\"}",
        "application/json",
    )
    .await;
    assert_eq!(resp.status(), 400);
    for path in [
        "/open311/v2/requests.json?service_code=%FF",
        "/open311/v2/services.json?jurisdiction_id=%00",
        "/open311/v2/services/%00.json",
        "/open311/v2/tokens/%00.json",
    ] {
        let status = app.get(path).await.status().as_u16();
        assert!((400..500).contains(&status), "{path}: {status}");
    }
    assert_eq!(civic311_count(&app).await, 0);
}

async fn bodies_we_cannot_read_are_4xx(app: TestApp) {
    let cases: [(&str, &[u8], u16); 5] = [
        ("application/json", b"{not json", 400),
        ("application/json", b"[1,2,3]", 400),
        ("application/json", br#"{"api_key":"demo-key-jakarta","service_code":"LIGHT","address_string":"x","description":{"a":1}}"#, 400),
        ("text/plain", b"api_key=demo-key-jakarta", 415),
        ("multipart/form-data; boundary=zzz", b"--zzz\r\nContent-Disposition: form-data; name=\"api_key\"\r\n\r\ndemo-key-jakarta\r\n--zzz\r\nbroken", 400),
    ];
    for (ct, body, status) in cases {
        let resp = app
            .client
            .post(app.url("/open311/v2/requests.xml"))
            .header("content-type", ct)
            .body(body.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(
            resp.status(),
            status,
            "{ct}: {}",
            String::from_utf8_lossy(body)
        );
        assert_eq!(
            xml_errors(&resp.text().await.unwrap())[0].0,
            i64::from(status)
        );
    }
    let huge = vec![b'a'; civic311::http::MAX_FORM_BYTES + 1];
    let resp = app
        .client
        .post(app.url("/open311/v2/requests.json"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 413);
    assert_eq!(json_errors(&resp.json().await.unwrap())[0].0, 413);
    assert_eq!(civic311_count(&app).await, 0);
}

fn photo_form(photos: Vec<Vec<u8>>) -> Form {
    let mut form = Form::new()
        .text("api_key", DEMO_KEY)
        .text("service_code", "LIGHT")
        .text("address_string", "Jl. Salemba Raya")
        .text("attribute[STATE]", "dark");
    for (i, p) in photos.into_iter().enumerate() {
        form = form.part("media", Part::bytes(p).file_name(format!("p{i}.jpg")));
    }
    form
}

async fn photo_size_and_count_are_capped_with_413(app: TestApp) {
    // The test server allows 3 photos of 256 KiB each.
    let mut big = jpeg_with_gps();
    big.extend(vec![0u8; 300 * 1024]);
    let resp = app
        .client
        .post(app.url("/open311/v2/requests.json"))
        .multipart(photo_form(vec![big]))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 413);
    assert!(json_errors(&resp.json().await.unwrap())[0]
        .1
        .contains("larger than"));
    let resp = app
        .client
        .post(app.url("/open311/v2/requests.xml"))
        .multipart(photo_form(vec![jpeg_with_gps(); 4]))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 413);
    assert!(xml_errors(&resp.text().await.unwrap())[0]
        .1
        .contains("at most 3 photos"));
    let resp = app
        .client
        .post(app.url("/open311/v2/requests.json"))
        .multipart(photo_form(vec![jpeg_with_gps(); 3]))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(civic311_count(&app).await, 1);
}

async fn random_bodies_never_cause_a_server_error(app: TestApp) {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(311);
    let pieces: [&[u8]; 14] = [
        b"api_key=demo-key-jakarta",
        b"service_code=FLOOD",
        b"lat=",
        b"long=",
        b"attribute[DEPTH]=",
        b"attribute%5BPASSABLE%5D=",
        b"%",
        b"%E2%82",
        b"&",
        b"=",
        b"\xff",
        b"-6.2",
        b"1e999",
        b"attribute[]=x",
    ];
    for _ in 0..150 {
        let mut body = Vec::new();
        for _ in 0..rng.random_range(0..12) {
            body.extend_from_slice(pieces[rng.random_range(0..pieces.len())]);
            if rng.random_bool(0.2) {
                body.push(rng.random());
            }
        }
        let ct = [
            "application/x-www-form-urlencoded",
            "application/json",
            "multipart/form-data; boundary=x",
        ][rng.random_range(0..3)];
        let fmt = if rng.random_bool(0.5) { "json" } else { "xml" };
        let resp = app
            .client
            .post(app.url(&format!("/open311/v2/requests.{fmt}")))
            .header("content-type", ct)
            .body(body.clone())
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        assert!(
            status == 200 || (400..500).contains(&status),
            "{status} for {ct} {:?}: {text}",
            String::from_utf8_lossy(&body)
        );
        if status != 200 {
            if fmt == "json" {
                let v: Value = serde_json::from_str(&text).unwrap();
                assert!(json_errors(&v).iter().all(|(c, _)| i64::from(status) == *c));
            } else {
                assert!(xml_errors(&text)
                    .iter()
                    .all(|(c, _)| i64::from(status) == *c));
            }
        }
    }
}

/// With the database gone, clients get a 503 with Retry-After in the Open311 shape (they may retry), never a
/// hang, a 500 or a success.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_outage_is_503_with_retry_after() {
    use diesel::connection::SimpleConnection;
    use diesel::Connection;
    let app = spawn_app(Backend::Postgres).await;
    app.expect_no_database_at_end();
    let name = match &app.database_url {
        civic311::config::DatabaseUrl::Postgres(url) => url
            .rsplit('/')
            .next()
            .unwrap()
            .split('?')
            .next()
            .unwrap()
            .to_string(),
        other => panic!("{other:?}"),
    };
    tokio::task::spawn_blocking(move || {
        let mut admin = diesel::PgConnection::establish(&admin_url()).unwrap();
        admin
            .batch_execute(&format!("DROP DATABASE {name} WITH (FORCE)"))
            .unwrap();
    })
    .await
    .unwrap();
    let resp = app.get("/health").await;
    assert_eq!(resp.status(), 503);
    let resp = app.get("/open311/v2/services.xml").await;
    assert_eq!(resp.status(), 503);
    assert_eq!(resp.headers()["retry-after"], "5");
    assert_eq!(xml_errors(&resp.text().await.unwrap())[0].0, 503);
    let resp = app.post_form("json", &light(&[])).await;
    assert_eq!(resp.status(), 503);
    assert_eq!(json_errors(&resp.json().await.unwrap())[0].0, 503);
}
