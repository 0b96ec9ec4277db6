//! Accounts and the audit log: administrators only.

use super::{body, name_of, ok, respond, wire, State};
use crate::app::staff::{self as uc, Admin};
use crate::http::params::Params;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::json;

pub async fn users(admin: Admin, state: State) -> HttpResponse {
    respond(uc::users(&state, &admin).await, |list| {
        ok(&wire::all::<_, wire::User>(list))
    })
}

#[derive(Deserialize)]
struct NewUser {
    username: String,
    #[serde(default)]
    display_name: Option<String>,
    password: String,
    role: String,
    #[serde(default)]
    jurisdiction_id: Option<String>,
    #[serde(default)]
    departments: Vec<String>,
}

pub async fn create_user(
    admin: Admin,
    req: HttpRequest,
    state: State,
    payload: web::Payload,
) -> HttpResponse {
    let result = async {
        let b: NewUser = body(&req, payload).await?;
        let account = uc::NewUser {
            display_name: b.display_name.unwrap_or_else(|| b.username.clone()),
            username: b.username,
            role: b.role,
            jurisdiction: b.jurisdiction_id,
            departments: b.departments,
        };
        uc::new_user(&state, &admin, account, b.password).await
    }
    .await;
    respond(result, |u| ok(&wire::User::from(u)))
}

pub async fn disable_user(admin: Admin, req: HttpRequest, state: State) -> HttpResponse {
    user_active(admin, req, state, false).await
}

pub async fn enable_user(admin: Admin, req: HttpRequest, state: State) -> HttpResponse {
    user_active(admin, req, state, true).await
}

async fn user_active(admin: Admin, req: HttpRequest, state: State, active: bool) -> HttpResponse {
    let id = name_of(&req);
    respond(
        uc::set_user_active(&state, &admin, &id, active).await,
        |_| ok(&json!({"id": id, "active": active})),
    )
}

#[derive(Deserialize)]
struct UserPatch {
    #[serde(default)]
    display_name: Option<String>,
    #[serde(default)]
    role: Option<String>,
    #[serde(default)]
    jurisdiction_id: Option<String>,
    #[serde(default)]
    departments: Option<Vec<String>>,
    #[serde(default)]
    password: Option<String>,
}

pub async fn update_user(
    admin: Admin,
    req: HttpRequest,
    state: State,
    payload: web::Payload,
) -> HttpResponse {
    let result = async {
        let b: UserPatch = body(&req, payload).await?;
        let change = uc::UserChange {
            display_name: b.display_name,
            role: b.role,
            jurisdiction_id: b.jurisdiction_id,
            departments: b.departments,
            password: b.password,
        };
        uc::update_user(&state, &admin, &name_of(&req), change).await
    }
    .await;
    respond(result, |u| ok(&wire::User::from(u)))
}

pub async fn audit(admin: Admin, req: HttpRequest, state: State) -> HttpResponse {
    let result = async {
        let q = Params::parse(req.query_string().as_bytes(), "query string")?;
        let (actor, target) = (
            q.get("actor").map(str::to_string),
            q.get("target").map(str::to_string),
        );
        uc::audit_log(&state, &admin, actor, target).await
    }
    .await;
    respond(result, |list| ok(&wire::all::<_, wire::Audit>(list)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Erasure {
    email: Option<String>,
    phone: Option<String>,
}

/// POST /staff/v1/erasures: a person's data removed from every report (administrators only).
pub async fn erase(
    admin: Admin,
    req: HttpRequest,
    state: State,
    payload: web::Payload,
) -> HttpResponse {
    let result = async {
        let b: Erasure = body(&req, payload).await?;
        let subject = crate::app::privacy::Subject::parse(b.email.as_deref(), b.phone.as_deref())?;
        crate::app::privacy::erase(&state, &admin, subject).await
    }
    .await;
    respond(result, |e| {
        ok(&json!({
            "reports": e.reports.iter().map(|id| id.to_string()).collect::<Vec<_>>(),
            "comments": e.comments,
            "texts_replaced": e.texts_replaced,
            "scans_removed": e.scans_removed,
            "fingerprint": e.fingerprint,
        }))
    })
}
