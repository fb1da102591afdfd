//! Accounts and sessions.

use super::dto::*;
use super::extract::{ApiJson, Caller};
use crate::error::{ApiError, Problem};
use crate::services::App;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use careslot_store::Role;
use std::sync::Arc;

/// Create an account.
#[utoipa::path(post, path = "/api/v1/accounts", tag = "accounts", request_body = NewAccountBody,
    responses((status = 201, body = AccountBody), (status = 409, description = "email taken", body = Problem),
              (status = 422, description = "invalid field or weak password", body = Problem)))]
pub async fn create_account(
    State(app): State<Arc<App>>,
    ApiJson(body): ApiJson<NewAccountBody>,
) -> Result<(StatusCode, Json<AccountBody>), ApiError> {
    let role = match body.role {
        RoleBody::Patient => Role::Patient,
        RoleBody::Practitioner => Role::Practitioner,
    };
    let account = app
        .register(&body.email, &body.password, &body.name, role)
        .await?;
    Ok((StatusCode::CREATED, Json(AccountBody::from(&account))))
}

/// Log in; returns a bearer token.
#[utoipa::path(post, path = "/api/v1/sessions", tag = "accounts", request_body = NewSessionBody,
    responses((status = 201, body = SessionBody), (status = 401, body = Problem)))]
pub async fn create_session(
    State(app): State<Arc<App>>,
    ApiJson(body): ApiJson<NewSessionBody>,
) -> Result<(StatusCode, Json<SessionBody>), ApiError> {
    let (token, account) = app.login(&body.email, &body.password).await?;
    Ok((
        StatusCode::CREATED,
        Json(SessionBody {
            token,
            account: AccountBody::from(&account),
        }),
    ))
}

/// The authenticated account.
#[utoipa::path(get, path = "/api/v1/me", tag = "accounts", security(("bearer" = [])),
    responses((status = 200, body = AccountBody), (status = 401, body = Problem)))]
pub async fn me(Caller(account): Caller) -> Json<AccountBody> {
    Json(AccountBody::from(&account))
}
