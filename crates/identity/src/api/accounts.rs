//! Accounts and sessions.

use super::dto::*;
use super::extract::{ApiJson, Caller};
use crate::{Accounts, NewIdentity};
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use careslot_core::error::{ApiError, Problem};
use careslot_core::time::format_instant;
use careslot_store::Role;
use std::sync::Arc;

/// Create an account.
#[utoipa::path(post, path = "/api/v1/accounts", tag = "accounts", request_body = NewAccountBody,
    responses((status = 201, body = AccountBody), (status = 409, description = "email taken", body = Problem),
              (status = 422, description = "invalid field or weak password", body = Problem)))]
pub async fn create_account(
    State(app): State<Arc<Accounts>>,
    ApiJson(body): ApiJson<NewAccountBody>,
) -> Result<(StatusCode, Json<AccountBody>), ApiError> {
    let role = match body.role {
        RoleBody::Patient => Role::Patient,
        RoleBody::Practitioner => Role::Practitioner,
        RoleBody::Assistant => {
            return Err(ApiError::invalid(
                "role",
                "assistants join through a practitioner's invitation link",
            ))
        }
    };
    let account = app
        .register(NewIdentity {
            email: &body.email,
            password: &body.password,
            name: &body.name,
            role,
            phone: body.phone.as_deref(),
            birth_date: body.birth_date.as_deref(),
        })
        .await?;
    Ok((StatusCode::CREATED, Json(AccountBody::from(&account))))
}

/// Log in; returns a bearer token.
#[utoipa::path(post, path = "/api/v1/sessions", tag = "accounts", request_body = NewSessionBody,
    responses((status = 201, body = SessionBody), (status = 401, body = Problem)))]
pub async fn create_session(
    State(app): State<Arc<Accounts>>,
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
pub async fn me(
    State(app): State<Arc<Accounts>>,
    Caller(caller): Caller,
) -> Result<Json<AccountBody>, ApiError> {
    Ok(Json(AccountBody::from(&app.me(&caller).await?)))
}

/// Who accessed the caller's data, from the audit log.
#[utoipa::path(get, path = "/api/v1/me/access-log", tag = "accounts", security(("bearer" = [])),
    responses((status = 200, body = AccessLogBody), (status = 401, body = Problem)))]
pub async fn access_log(
    State(app): State<Arc<Accounts>>,
    Caller(caller): Caller,
) -> Result<Json<AccessLogBody>, ApiError> {
    let utc = jiff::tz::TimeZone::UTC;
    let entries = app
        .access_log(&caller)
        .await?
        .into_iter()
        .map(|e| AccessEntryBody {
            at: format_instant(e.at, &utc),
            actor_id: e.actor.to_string(),
            what: e.what,
        })
        .collect();
    Ok(Json(AccessLogBody { entries }))
}
