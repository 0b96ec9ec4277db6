//! Sign-in, refresh and sign-out.

use super::{body, client_addr, ok, respond, wire, State};
use crate::app::staff::{self as uc, Principal};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::json;

#[derive(Deserialize)]
struct SignIn {
    username: String,
    password: String,
}

pub async fn sign_in(req: HttpRequest, state: State, payload: web::Payload) -> HttpResponse {
    let result = async {
        let b: SignIn = body(&req, payload).await?;
        uc::sign_in(&state, &b.username, &b.password, client_addr(&req)).await
    }
    .await;
    respond(result, |t| ok(&wire::Session::from(t)))
}

#[derive(Deserialize)]
struct Refresh {
    refresh_token: String,
}

pub async fn refresh(req: HttpRequest, state: State, payload: web::Payload) -> HttpResponse {
    let result = async {
        let b: Refresh = body(&req, payload).await?;
        uc::refresh(&state, &b.refresh_token, client_addr(&req)).await
    }
    .await;
    respond(result, |t| ok(&wire::Session::from(t)))
}

pub async fn sign_out(p: Principal, state: State) -> HttpResponse {
    respond(uc::sign_out(&state, &p).await, |_| {
        ok(&json!({"signed_out": true}))
    })
}
