//! API keys: administrators only. A new key is shown once.

use super::{body, name_of, ok, respond, wire, State};
use crate::app::staff::{self as uc, Admin, KeyRequest};
use crate::domain::ApiKeyKind;
use crate::error::ApiError;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::json;

pub async fn api_keys(admin: Admin, state: State) -> HttpResponse {
    respond(uc::api_keys(&state, &admin).await, |list| {
        ok(&wire::all::<_, wire::Key>(list))
    })
}

#[derive(Deserialize)]
struct NewKey {
    name: String,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    jurisdiction_id: Option<String>,
    #[serde(default)]
    rate_limit: Option<String>,
}

pub async fn create_api_key(
    admin: Admin,
    req: HttpRequest,
    state: State,
    payload: web::Payload,
) -> HttpResponse {
    let result = async {
        let b: NewKey = body(&req, payload).await?;
        let kind = b.kind.as_deref().unwrap_or("production");
        let kind = ApiKeyKind::parse(kind)
            .ok_or_else(|| ApiError::invalid("kind", format!("kind is {}", ApiKeyKind::CHOICES)))?;
        let request = KeyRequest {
            name: b.name,
            kind,
            jurisdiction_id: b.jurisdiction_id,
            rate_limit: b.rate_limit,
        };
        uc::create_api_key(&state, &admin, request).await
    }
    .await;
    respond(result, |(info, key)| ok(&wire::NewKey::new(info, key)))
}

pub async fn revoke_api_key(admin: Admin, req: HttpRequest, state: State) -> HttpResponse {
    let id = name_of(&req);
    respond(uc::revoke_api_key(&state, &admin, &id).await, |_| {
        ok(&json!({"id": id, "revoked": true}))
    })
}
