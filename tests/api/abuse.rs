//! Holding under abuse: bodies that never end or never come, keys checked before bodies, caps on parts and
//! attributes, deadlines, rate limits. Some tests speak raw HTTP over TCP, because an HTTP client library
//! always sends the whole body it was given.

use crate::both_backends;
use crate::helpers::*;
use crate::post_requests::civic311_count;
use reqwest::multipart::{Form, Part};
use serde_json::Value;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

both_backends!(
    a_declared_body_past_the_cap_is_refused_before_it_is_read,
    a_bad_key_outside_the_body_is_refused_before_the_body_is_read,
    a_body_without_a_length_is_cut_at_the_cap,
    parts_are_counted_and_their_names_weigh,
    attribute_codes_and_values_are_capped,
    form_fields_are_capped,
);
both_backends!(backend:
    a_stalled_body_is_given_up_with_408,
    idle_connections_are_closed,
    posts_and_reads_are_limited_per_address_with_429,
    posts_are_limited_per_key_and_a_key_may_have_its_own_rate,
    forwarded_for_counts_only_behind_a_trusted_proxy,
);

/// An answer read off a raw connection: status and body.
struct Raw {
    status: u16,
    headers: String,
    body: Vec<u8>,
}

/// Reads one HTTP/1.1 answer (with `Content-Length`) from `stream`, within `within`.
async fn read_answer(stream: &mut TcpStream, within: Duration) -> Raw {
    let mut buf = Vec::new();
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_string();
            let length: usize = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse().ok())?
                })
                .unwrap_or(0);
            if buf.len() >= end + 4 + length {
                let status = head.split(' ').nth(1).unwrap().parse().unwrap();
                return Raw {
                    status,
                    headers: head,
                    body: buf[end + 4..end + 4 + length].to_vec(),
                };
            }
        }
        let mut chunk = [0u8; 8192];
        let n = tokio::time::timeout_at(deadline, stream.read(&mut chunk))
            .await
            .expect("the server answered in time")
            .expect("the connection stays readable until the answer");
        assert!(n > 0, "the connection closed before an answer: {buf:?}");
        buf.extend_from_slice(&chunk[..n]);
    }
}

async fn connect(app: &TestApp) -> TcpStream {
    TcpStream::connect(app.address.trim_start_matches("http://"))
        .await
        .unwrap()
}

async fn a_declared_body_past_the_cap_is_refused_before_it_is_read(app: TestApp) {
    let mut s = connect(&app).await;
    let head = "POST /open311/v2/requests.json HTTP/1.1\r\nHost: x\r\n\
        Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 300000000\r\n\r\n";
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(b"--b\r\nContent-Disposition: form-data; name=\"\"\r\n\r\n")
        .await
        .unwrap();
    let answer = read_answer(&mut s, Duration::from_secs(5)).await;
    assert_eq!(answer.status, 413);
    let v: Value = serde_json::from_slice(&answer.body).unwrap();
    assert_eq!(json_errors(&v)[0].0, 413);
    assert!(json_errors(&v)[0].1.contains("larger than"), "{v}");
    assert!(
        answer
            .headers
            .to_ascii_lowercase()
            .contains("connection: close"),
        "{}",
        answer.headers
    );
}

async fn a_bad_key_outside_the_body_is_refused_before_the_body_is_read(app: TestApp) {
    for (path, auth) in [
        ("/open311/v2/requests.json?api_key=wrong", ""),
        (
            "/open311/v2/requests.json",
            "Authorization: Bearer wrong\r\n",
        ),
        (
            "/open311/v2/servicerequestupdates.json",
            "Authorization: Bearer wrong\r\n",
        ),
    ] {
        let mut s = connect(&app).await;
        // Under the cap, so only the key can stop it; not a byte of the body is sent.
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\n{auth}\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 200000\r\n\r\n"
        );
        s.write_all(head.as_bytes()).await.unwrap();
        let answer = read_answer(&mut s, Duration::from_secs(5)).await;
        assert_eq!(answer.status, 403, "{path}");
        let v: Value = serde_json::from_slice(&answer.body).unwrap();
        assert_eq!(json_errors(&v)[0].0, 403);
    }
    // A valid key outside the body and another one inside it are still two keys.
    let resp = app
        .client
        .post(app.url("/open311/v2/requests.json?api_key=demo-key-jakarta"))
        .form(&[("api_key", "another"), ("service_code", "FLOOD")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    // And a good key in the query string posts as before.
    let mut form = flood(&[]);
    form.retain(|(k, _)| *k != "api_key");
    let resp = app
        .client
        .post(app.url("/open311/v2/requests.json?api_key=demo-key-jakarta"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
}

async fn a_body_without_a_length_is_cut_at_the_cap(app: TestApp) {
    let mut s = connect(&app).await;
    let head = "POST /open311/v2/requests.json HTTP/1.1\r\nHost: x\r\n\
        Content-Type: multipart/form-data; boundary=b\r\nTransfer-Encoding: chunked\r\n\r\n";
    s.write_all(head.as_bytes()).await.unwrap();
    let mut part =
        b"--b\r\nContent-Disposition: form-data; name=\"media\"; filename=\"x.bin\"\r\n\r\n"
            .to_vec();
    part.extend(vec![b'a'; 64 * 1024]);
    let chunk = [
        format!("{:x}\r\n", part.len()).into_bytes(),
        part,
        b"\r\n".to_vec(),
    ]
    .concat();
    let (mut reader, mut writer) = s.into_split();
    let writing = tokio::spawn(async move {
        // Endless: only the server can end it.
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(30) {
            if writer.write_all(&chunk).await.is_err() {
                break;
            }
        }
        start.elapsed()
    });
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), reader.read_to_end(&mut buf)).await;
    let text = String::from_utf8_lossy(&buf);
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
    // Past the cap the server answers, reads what is in flight for a moment and closes.
    let writing_for = writing.await.unwrap();
    assert!(writing_for < Duration::from_secs(10), "{writing_for:?}");
    assert_eq!(civic311_count(&app).await, 0);
}

async fn parts_are_counted_and_their_names_weigh(app: TestApp) {
    let mut form = Form::new().text("api_key", DEMO_KEY);
    for _ in 0..250 {
        form = form.text("x", "");
    }
    let resp = app
        .client
        .post(app.url("/open311/v2/requests.json"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 413);
    let errors = json_errors(&resp.json().await.unwrap());
    assert!(errors[0].1.contains("at most 200 parts"), "{errors:?}");

    // Names count toward the 256 KiB of text (one name past the parser's 64 KiB of headers is a 400).
    let mut form = Form::new().text("api_key", DEMO_KEY);
    for i in 0..5 {
        form = form.text(format!("{i}{}", "n".repeat(60 * 1024)), "");
    }
    let resp = app
        .client
        .post(app.url("/open311/v2/requests.json"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 413);

    // A file under another name is refused (a photo lost without a word is worse), and nothing is stored.
    let mut form = Form::new();
    for (k, v) in flood(&[]) {
        form = form.text(k, v);
    }
    let form = form.part(
        "other",
        Part::bytes(vec![0u8; 100 * 1024]).file_name("x.bin"),
    );
    let resp = app
        .client
        .post(app.url("/open311/v2/requests.json"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let errors = json_errors(&resp.json().await.unwrap());
    assert!(errors[0].1.contains("'other'"), "{errors:?}");
    assert_eq!(civic311_count(&app).await, 0);
}

async fn attribute_codes_and_values_are_capped(app: TestApp) {
    let codes: Vec<(String, String)> = (0..101)
        .map(|i| (format!("attribute[X{i}]"), "v".to_string()))
        .collect();
    let post = |extra: Vec<(String, String)>| {
        let mut form: Vec<(String, String)> = flood(&[])
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        form.extend(extra);
        app.client
            .post(app.url("/open311/v2/requests.json"))
            .form(&form)
            .send()
    };
    let resp = post(codes.clone()).await.unwrap();
    assert_eq!(resp.status(), 400);
    let errors = json_errors(&resp.json().await.unwrap());
    assert!(
        errors[0].1.contains("at most 100 attribute codes"),
        "{errors:?}"
    );

    let values: Vec<(String, String)> = (0..501)
        .map(|i| ("attribute[MANY][]".to_string(), format!("v{i}")))
        .collect();
    let resp = post(values).await.unwrap();
    assert_eq!(resp.status(), 400);
    let errors = json_errors(&resp.json().await.unwrap());
    assert!(
        errors[0].1.contains("at most 500 attribute values"),
        "{errors:?}"
    );
    assert_eq!(civic311_count(&app).await, 0);

    // Up to the caps, unknown attributes are kept as before (D4). DEPTH, the flood's own, is one of them.
    let resp = post(codes[..98].to_vec()).await.unwrap();
    assert_eq!(resp.status(), 200);
    let id = resp.json::<Value>().await.unwrap()[0]["service_request_id"]
        .as_str()
        .unwrap()
        .to_string();
    let stored = app.stored(&id).await;
    assert_eq!(civic311_count(&app).await, 1, "{stored:?}");
}

async fn form_fields_are_capped(app: TestApp) {
    let body = "a=1&".repeat(1_001);
    let resp = app
        .client
        .post(app.url("/open311/v2/requests.json"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(format!("api_key={DEMO_KEY}&{body}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let errors = json_errors(&resp.json().await.unwrap());
    assert!(
        errors[0].1.contains("more than 1000 parameters"),
        "{errors:?}"
    );
    let query = "a=1&".repeat(1_001);
    let resp = app.get(&format!("/open311/v2/requests.json?{query}")).await;
    assert_eq!(resp.status(), 400);
}

async fn a_stalled_body_is_given_up_with_408(backend: Backend) {
    let app = spawn_app_tuned(backend, &[repo_path("examples/demo-city")], |s| {
        s.body_idle_secs = 1;
    })
    .await;
    let mut s = connect(&app).await;
    let head = "POST /open311/v2/requests.xml HTTP/1.1\r\nHost: x\r\n\
        Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\napi_key=demo";
    s.write_all(head.as_bytes()).await.unwrap();
    let start = Instant::now();
    let answer = read_answer(&mut s, Duration::from_secs(5)).await;
    assert_eq!(answer.status, 408);
    assert!(start.elapsed() < Duration::from_secs(4));
    let errors = xml_errors(&String::from_utf8_lossy(&answer.body));
    assert_eq!(errors[0].0, 408);
    // The connection is closed after it.
    let mut rest = Vec::new();
    let n = tokio::time::timeout(Duration::from_secs(3), s.read_to_end(&mut rest))
        .await
        .expect("closed")
        .unwrap_or(0);
    assert_eq!(n, 0);
}

async fn idle_connections_are_closed(backend: Backend) {
    let app = spawn_app_tuned(backend, &[], |s| {
        s.keep_alive_secs = 1;
        s.header_timeout_secs = 1;
    })
    .await;
    // A keep-alive connection idle after its answer.
    let mut s = connect(&app).await;
    s.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    assert_eq!(
        read_answer(&mut s, Duration::from_secs(5)).await.status,
        200
    );
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(4), s.read_to_end(&mut rest)).await;
    assert!(closed.is_ok(), "an idle keep-alive connection stays open");
    // A connection that never finishes its headers.
    let mut s = connect(&app).await;
    s.write_all(b"GET /health HTTP/1.1\r\nHo").await.unwrap();
    let closed = tokio::time::timeout(Duration::from_secs(4), s.read_to_end(&mut rest)).await;
    assert!(closed.is_ok(), "a connection without headers stays open");
}

fn limited(post: &str, read: &str, key: &str) -> impl FnOnce(&mut civic311::config::Settings) {
    let (post, read, key) = (post.parse(), read.parse(), key.parse());
    move |s| {
        s.limits.rate_limit_post = post.unwrap();
        s.limits.rate_limit_read = read.unwrap();
        s.limits.rate_limit_key = key.unwrap();
    }
}

async fn posts_and_reads_are_limited_per_address_with_429(backend: Backend) {
    let app = spawn_app_tuned(
        backend,
        &[repo_path("examples/demo-city")],
        limited("3/min", "5/min", "off"),
    )
    .await;
    for _ in 0..3 {
        assert_eq!(app.post_form("json", &flood(&[])).await.status(), 200);
    }
    let refused = app.post_form("json", &flood(&[])).await;
    assert_eq!(refused.status(), 429);
    let retry: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    let errors = json_errors(&refused.json().await.unwrap());
    assert_eq!(errors[0].0, 429);
    let refused = app.post_form("xml", &flood(&[])).await;
    assert_eq!(refused.status(), 429);
    assert_eq!(xml_errors(&refused.text().await.unwrap())[0].0, 429);
    assert_eq!(civic311_count(&app).await, 3);

    // Reads have their own quota: five, then 429 in the format asked for.
    for _ in 0..5 {
        assert_eq!(app.get("/open311/v2/services.json").await.status(), 200);
    }
    let refused = app.get("/open311/v2/requests.xml").await;
    assert_eq!(refused.status(), 429);
    assert!(refused.headers().contains_key("retry-after"));
    assert_eq!(xml_errors(&refused.text().await.unwrap())[0].0, 429);
    // Health checks and the staff API are not counted.
    for _ in 0..10 {
        assert_eq!(app.get("/health").await.status(), 200);
    }
    assert_eq!(app.get("/staff/v1/requests").await.status(), 401);
}

async fn posts_are_limited_per_key_and_a_key_may_have_its_own_rate(backend: Backend) {
    let app = spawn_app_tuned(
        backend,
        &[repo_path("examples/demo-city")],
        limited("off", "off", "2/min"),
    )
    .await;
    for _ in 0..2 {
        assert_eq!(app.post_form("json", &flood(&[])).await.status(), 200);
    }
    let refused = app.post_form("json", &flood(&[])).await;
    assert_eq!(refused.status(), 429);
    assert!(refused.headers().contains_key("retry-after"));

    // A key with a rate of its own, as `apikey create --rate-limit` and key files set it.
    let row = civic311::store::api_keys::ApiKeyRow {
        id: "busy-app".into(),
        name: "busy app".into(),
        key_hash: civic311::auth::hash_api_key("busy-app-key"),
        kind: "production".into(),
        created_at: chrono::Utc::now().naive_utc(),
        revoked_at: None,
        may_update: false,
        jurisdiction_id: None,
        published: false,
        rate_limit: Some("5/min".into()),
    };
    app.store
        .write(move |c| civic311::store::api_keys::insert(c, &row))
        .await
        .unwrap();
    let with_key = |key: &'static str| {
        let mut form = flood(&[]);
        form.retain(|(k, _)| *k != "api_key");
        form.push(("api_key", key));
        form
    };
    for _ in 0..5 {
        let resp = app.post_form("json", &with_key("busy-app-key")).await;
        assert_eq!(resp.status(), 200);
    }
    assert_eq!(
        app.post_form("json", &with_key("busy-app-key"))
            .await
            .status(),
        429
    );
    assert_eq!(civic311_count(&app).await, 7);
}

async fn forwarded_for_counts_only_behind_a_trusted_proxy(backend: Backend) {
    let post_from = |app: &TestApp, from: &str| {
        app.client
            .post(app.url("/open311/v2/requests.json"))
            .header("X-Forwarded-For", from)
            .form(&flood(&[]))
            .send()
    };
    // Not behind a proxy: the header is the client's to write and changes nothing.
    let app = spawn_app_tuned(
        backend,
        &[repo_path("examples/demo-city")],
        limited("1/min", "off", "off"),
    )
    .await;
    assert_eq!(post_from(&app, "203.0.113.1").await.unwrap().status(), 200);
    assert_eq!(post_from(&app, "203.0.113.2").await.unwrap().status(), 429);

    // Behind a trusted proxy on loopback, each forwarded client has its own quota, read from the right.
    let tune = limited("1/min", "off", "off");
    let app = spawn_app_tuned(backend, &[repo_path("examples/demo-city")], move |s| {
        tune(s);
        s.limits.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
    })
    .await;
    assert_eq!(post_from(&app, "203.0.113.1").await.unwrap().status(), 200);
    assert_eq!(post_from(&app, "203.0.113.2").await.unwrap().status(), 200);
    assert_eq!(post_from(&app, "203.0.113.1").await.unwrap().status(), 429);
    // A client cannot escape by writing addresses on the left.
    assert_eq!(
        post_from(&app, "198.51.100.9, 203.0.113.2")
            .await
            .unwrap()
            .status(),
        429
    );
}

both_backends!(phone_photos_lose_every_metadata_segment);

/// A JPEG as phones write them: EXIF with GPS and an orientation, XMP, an MPF index, a second metadata block
/// between the scans of a progressive image, and a secondary image (a depth map) with its own GPS after the
/// primary image's end.
fn phone_jpeg() -> Vec<u8> {
    fn segment(out: &mut Vec<u8>, marker: u8, payload: &[u8]) {
        out.extend([0xFF, marker]);
        out.extend(((payload.len() + 2) as u16).to_be_bytes());
        out.extend_from_slice(payload);
    }
    let mut tiff = b"MM\0\x2a\0\0\0\x08\0\x02".to_vec();
    tiff.extend([0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 6, 0, 0]); // orientation 6
    tiff.extend([0x88, 0x25, 0, 4, 0, 0, 0, 1, 0, 0, 0, 0x26]); // GPS IFD
    tiff.extend([0, 0, 0, 0]);
    tiff.extend_from_slice(b"GPSLatitude-6.2088 Pixel 9 Pro SN 4821");
    let exif = [b"Exif\0\0".as_slice(), &tiff].concat();
    let image = |out: &mut Vec<u8>, secret: &[u8]| {
        segment(out, 0xDB, &[0; 65]); // DQT
        segment(out, 0xC2, &[8, 0, 1, 0, 1, 1, 1, 0x11, 0]); // SOF2, progressive
        segment(out, 0xC4, &[0; 17]); // DHT
        segment(out, 0xDA, &[1, 1, 0, 0, 0x3F, 0]);
        out.extend([0x12, 0xFF, 0x00, 0x34, 0xFF, 0xD0, 0x56]);
        segment(out, 0xE1, secret); // metadata between scans
        segment(out, 0xDA, &[1, 1, 0, 0, 0x3F, 0]);
        out.extend([0x78, 0x9A]);
        out.extend([0xFF, 0xD9]);
    };
    let mut v = vec![0xFF, 0xD8];
    segment(&mut v, 0xE0, b"JFIF\0\x01\x02\0\0\x01\0\x01\0\0");
    segment(&mut v, 0xE1, &exif);
    segment(
        &mut v,
        0xE1,
        b"http://ns.adobe.com/xap/1.0/\0<x:xmpmeta>GPSAltitude 12</x:xmpmeta>",
    );
    segment(&mut v, 0xE2, b"MPF\0MM\0\x2a secondary images index");
    segment(&mut v, 0xE4, b"Samsung SEF Siti Rahma");
    segment(&mut v, 0xED, b"Photoshop 3.0\0IPTC Siti Rahma");
    segment(&mut v, 0xFE, b"taken by Siti Rahma");
    image(&mut v, b"Exif\0\0MM\0\x2aGPSLongitude106.8456");
    // The depth map, appended after the end of the primary image.
    v.extend([0xFF, 0xD8]);
    segment(&mut v, 0xE1, b"Exif\0\0MM\0\x2aGPSLatitude-6.2088 depth");
    image(&mut v, b"Exif\0\0GPS");
    v.extend_from_slice(b"trailer: Siti Rahma");
    v
}

async fn phone_photos_lose_every_metadata_segment(app: TestApp) {
    let mut form = Form::new();
    for (k, v) in light(&[]) {
        form = form.text(k, v);
    }
    let form = form.part("media", Part::bytes(phone_jpeg()).file_name("IMG_0001.jpg"));
    let resp = app
        .client
        .post(app.url("/open311/v2/requests.json"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let id = resp.json::<Value>().await.unwrap()[0]["service_request_id"]
        .as_str()
        .unwrap()
        .to_string();
    let report = app
        .get_json(&format!("/open311/v2/requests/{id}.json"))
        .await;
    let url = report[0]["media_url"].as_str().unwrap().to_string();
    let photo = app.client.get(&url).send().await.unwrap();
    let cache = photo.headers()["cache-control"]
        .to_str()
        .unwrap()
        .to_string();
    let bytes = photo.bytes().await.unwrap().to_vec();
    let text = String::from_utf8_lossy(&bytes);
    for secret in [
        "GPS",
        "Siti",
        "Pixel",
        "xmpmeta",
        "MPF",
        "JFIF",
        "Photoshop",
        "trailer",
    ] {
        assert!(!text.contains(secret), "{secret} survived: {text}");
    }
    // One image, ending where it ends, with both scans and the orientation alone in a fresh EXIF block.
    assert_eq!(bytes.windows(2).filter(|w| *w == [0xFF, 0xD8]).count(), 1);
    assert!(bytes.ends_with(&[0x78, 0x9A, 0xFF, 0xD9]));
    assert!(bytes
        .windows(7)
        .any(|w| w == [0x12, 0xFF, 0x00, 0x34, 0xFF, 0xD0, 0x56]));
    assert_eq!(&bytes[2..4], &[0xFF, 0xE1]);
    assert_eq!(&bytes[6..12], b"Exif\0\0");
    let orientation = &bytes[12..12 + 26];
    assert_eq!(&orientation[..4], b"MM\0\x2a");
    assert_eq!(&orientation[8..12], &[0, 1, 0x01, 0x12]);
    assert_eq!(&orientation[18..20], &[0, 6]);
    // A photo may be hidden later (moderation): it must not sit in caches for a year.
    assert!(!cache.contains("immutable"), "{cache}");
}

both_backends!(
    parallel_resends_of_one_update_land_once,
    a_hidden_master_is_not_named_by_its_duplicates,
    long_service_code_lists_are_refused_quickly,
);

async fn parallel_resends_of_one_update_land_once(app: TestApp) {
    let id = app.post_flood(&[]).await;
    let mut sends = Vec::new();
    for _ in 0..12 {
        let form = vec![
            ("api_key", "demo-backoffice-jakarta".to_string()),
            ("service_request_id", id.clone()),
            ("update_id", "wo-900".to_string()),
            ("status", "IN_PROGRESS".to_string()),
            ("updated_datetime", "2026-11-25T10:00:00+07:00".to_string()),
            ("description", "Crew on site".to_string()),
        ];
        let req = app
            .client
            .post(app.url("/open311/v2/servicerequestupdates.json"))
            .form(&form);
        sends.push(tokio::spawn(async move { req.send().await.unwrap() }));
    }
    let mut ids = Vec::new();
    for s in sends {
        let resp = s.await.unwrap();
        assert_eq!(resp.status(), 200);
        let v: Value = resp.json().await.unwrap();
        ids.push(v[0]["update_id"].as_str().unwrap().to_string());
    }
    ids.dedup();
    assert_eq!(
        ids.len(),
        1,
        "every resend answers with the one stored update"
    );
    let events = app
        .store
        .read(|conn| {
            use civic311::store::schema::request_events::dsl::*;
            use diesel::prelude::*;
            Ok(request_events
                .filter(external_id.eq("wo-900"))
                .count()
                .get_result::<i64>(conn)?)
        })
        .await
        .unwrap();
    assert_eq!(events, 1);
}

async fn a_hidden_master_is_not_named_by_its_duplicates(app: TestApp) {
    app.expect_deliveries(&["cancelled"]);
    app.staff_user("admin", "admin", &[]).await;
    let t = token(&app.sign_in("admin").await);
    let master = app.post_flood(&[]).await;
    let dup = app.post_flood(&[]).await;
    let staff_post = |path: String, body: Value| {
        app.client
            .post(app.url(&path))
            .bearer_auth(&t)
            .json(&body)
            .send()
    };
    let resp = staff_post(
        format!("/staff/v1/requests/{dup}/duplicate"),
        serde_json::json!({"of": master}),
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), 200);
    let shown = app
        .get_json(&format!("/open311/v2/requests/{dup}.json?extensions=true"))
        .await;
    assert_eq!(
        shown[0]["extended_attributes"]["parent_service_request_id"],
        master.as_str()
    );
    let resp = staff_post(
        format!("/staff/v1/requests/{master}/hide"),
        serde_json::json!({"reason": "a photo of a face"}),
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), 200);
    for path in [
        format!("/open311/v2/requests/{dup}.json?extensions=true"),
        format!("/open311/v2/requests.json?extensions=true&service_request_id={dup}"),
    ] {
        let shown = app.get_json(&path).await;
        let ext = &shown[0]["extended_attributes"];
        assert_eq!(
            ext["parent_service_request_id"],
            Value::Null,
            "{path}: {shown}"
        );
        assert_eq!(ext["duplicate"], false, "{path}");
    }
    let xml = app
        .get_xml(&format!("/open311/v2/requests/{dup}.xml?extensions=true"))
        .await;
    assert!(!xml.contains(&format!(">{master}<")), "{xml}");
}

async fn long_service_code_lists_are_refused_quickly(app: TestApp) {
    // 3,000 distinct codes in one value (as long as a URL gets): refused by the 200-code cap in one pass.
    let codes: Vec<String> = (0..3_000).map(|i| format!("C{i}")).collect();
    let resp = app
        .get(&format!(
            "/open311/v2/requests.json?service_code={}",
            codes.join(",")
        ))
        .await;
    assert_eq!(resp.status(), 400);
    let errors = json_errors(&resp.json().await.unwrap());
    assert!(
        errors[0].1.contains("at most 200 service codes"),
        "{errors:?}"
    );
    // Repeats of known codes are one code each.
    let resp = app
        .get(&format!(
            "/open311/v2/requests.json?service_code={}",
            vec!["FLOOD"; 2_000].join(",")
        ))
        .await;
    assert_eq!(resp.status(), 200);
}
