//! Citizens' personal data stays private (issue item 7): stored for staff, never in any public response.

use crate::both_backends;
use crate::helpers::*;
use proptest::prelude::*;
use reqwest::multipart::Form;
use serde_json::{json, Value};

both_backends!(
    device_id_is_stored_only_as_a_keyed_hash,
    post_answer_account_id_is_null
);

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
