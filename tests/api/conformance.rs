//! What the schema-driven run (tests/schema) found where the server and openapi/openapi.yaml disagreed and
//! the server was wrong; each answer is checked here as the document now states it.

use crate::both_backends;
use crate::helpers::*;
use serde_json::{json, Value};

both_backends!(
    an_integral_priority_may_be_written_as_a_float,
    the_staff_list_validates_status,
    character_limits_count_characters,
    a_new_account_needs_a_display_name_on_one_line,
    back_office_update_times_are_years_1_to_9999_and_notes_stay_in_order,
);

async fn staff_call(
    app: &TestApp,
    t: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = app
        .client
        .request(method.parse().unwrap(), app.url(path))
        .bearer_auth(t);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn admin(app: &TestApp) -> String {
    app.staff_user("admin", "admin", &[]).await;
    token(&app.sign_in("admin").await)
}

async fn an_integral_priority_may_be_written_as_a_float(app: TestApp) {
    let t = admin(&app).await;
    let id = app.post_flood(&[]).await;
    let path = format!("/staff/v1/requests/{id}/priority");
    let (status, body) = staff_call(&app, &t, "POST", &path, Some(json!({"priority": 2.0}))).await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = staff_call(&app, &t, "POST", &path, Some(json!({"priority": 2.5}))).await;
    assert_eq!(status, 400);
    let (_, shown) = staff_call(&app, &t, "GET", &format!("/staff/v1/requests/{id}"), None).await;
    assert_eq!(shown["priority"], 2, "{shown}");
}

async fn the_staff_list_validates_status(app: TestApp) {
    let t = admin(&app).await;
    let (status, body) = staff_call(&app, &t, "GET", "/staff/v1/requests?status=bogus", None).await;
    assert_eq!(status, 400);
    assert!(json_errors(&body)[0].1.contains("open, closed"), "{body}");
    let (status, _) = staff_call(
        &app,
        &t,
        "GET",
        "/staff/v1/requests?status=open,closed",
        None,
    )
    .await;
    assert_eq!(status, 200);
}

async fn character_limits_count_characters(app: TestApp) {
    let t = admin(&app).await;
    // 60 characters of two bytes each: within "1 to 100 characters".
    let name = "é".repeat(60);
    let (status, body) = staff_call(
        &app,
        &t,
        "POST",
        "/staff/v1/users",
        Some(json!({"username": name, "password": "banjir-jakarta-2026", "role": "admin"})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let url = format!("https://e.example/{}", "é".repeat(1500));
    let resp = app
        .post_form("json", &flood(&[("media_url", url.as_str())]))
        .await;
    assert_eq!(resp.status(), 200);
    let id = app.post_flood(&[]).await;
    let update_id = "é".repeat(150);
    let resp = app
        .client
        .post(app.url("/open311/v2/servicerequestupdates.json"))
        .form(&[
            ("api_key", "demo-backoffice-jakarta"),
            ("service_request_id", id.as_str()),
            ("update_id", update_id.as_str()),
            ("status", "IN_PROGRESS"),
            ("updated_datetime", "2026-11-25T10:00:00+07:00"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
}

async fn a_new_account_needs_a_display_name_on_one_line(app: TestApp) {
    let t = admin(&app).await;
    for bad in ["", "   ", "a\nb", &"x".repeat(201)] {
        let (status, body) = staff_call(
            &app,
            &t,
            "POST",
            "/staff/v1/users",
            Some(json!({"username": "dn1", "password": "banjir-jakarta-2026", "role": "admin", "display_name": bad})),
        )
        .await;
        assert_eq!(status, 400, "{bad:?}: {body}");
    }
}

async fn back_office_update_times_are_years_1_to_9999_and_notes_stay_in_order(app: TestApp) {
    let id = app.post_flood(&[]).await;
    let update = |update_id: &'static str, at: &'static str| {
        let id = id.clone();
        let app = &app;
        async move {
            app.client
                .post(app.url("/open311/v2/servicerequestupdates.json"))
                .form(&[
                    ("api_key", "demo-backoffice-jakarta"),
                    ("service_request_id", id.as_str()),
                    ("update_id", update_id),
                    ("status", "IN_PROGRESS"),
                    ("updated_datetime", at),
                ])
                .send()
                .await
                .unwrap()
        }
    };
    let resp = update("far", "0000-01-01T00:00:00+01:00").await;
    assert_eq!(resp.status(), 400);
    let errors = json_errors(&resp.json().await.unwrap());
    assert!(errors[0].1.contains("0001 and 9999"), "{errors:?}");
    // Dated before the report (a wrong clock): kept, and the public notes stay in time order.
    assert_eq!(
        update("early", "2001-01-01T00:00:00+07:00").await.status(),
        200
    );
    let shown = app
        .get_json(&format!("/open311/v2/requests/{id}.json?extensions=true"))
        .await;
    let notes = shown[0]["notes"]
        .as_array()
        .or_else(|| shown[0]["extended_attributes"]["notes"].as_array())
        .unwrap()
        .clone();
    let times: Vec<String> = notes
        .iter()
        .map(|n| n["datetime"].as_str().unwrap().to_string())
        .collect();
    assert!(times.len() >= 2, "{times:?}");
    let mut sorted = times.clone();
    sorted.sort();
    assert_eq!(times, sorted);
}
