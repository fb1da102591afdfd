//! Accounts and sessions.

use super::dto::*;
use super::extract::{ApiJson, Bearer, Caller, ClientIp};
use crate::{Accounts, NewIdentity};
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use careslot_core::error::{ApiError, Problem};
use careslot_core::time::format_instant;
use careslot_messages::Lang;
use careslot_store::Role;
use std::sync::Arc;

/// Create an account. Passwords: at least 10 characters (12 for practitioners) and hard
/// to guess (a zxcvbn strength estimate of 3 or more). Refused sign-ups are throttled per
/// client address and per email like failed sign-ins.
#[utoipa::path(post, path = "/api/v1/accounts", tag = "accounts", request_body = NewAccountBody,
    responses((status = 201, body = AccountBody), (status = 409, description = "email taken", body = Problem),
              (status = 422, description = "invalid field or weak password (the detail names `password`)", body = Problem),
              (status = 429, description = "too many attempts (type .../problems/too-many-attempts); see Retry-After", body = Problem,
                  headers(("Retry-After" = u64, description = "seconds to wait"))),
              (status = 503, description = "password hashing saturated (type .../problems/authentication-busy); see Retry-After", body = Problem,
                  headers(("Retry-After" = u64, description = "seconds to wait")))))]
pub async fn create_account(
    State(app): State<Arc<Accounts>>,
    ClientIp(client): ClientIp,
    headers: axum::http::HeaderMap,
    ApiJson(body): ApiJson<NewAccountBody>,
) -> Result<(StatusCode, Json<AccountBody>), ApiError> {
    let role =
        match body.role {
            RoleBody::Patient => Role::Patient,
            RoleBody::Practitioner => Role::Practitioner,
            RoleBody::Assistant => {
                return Err(ApiError::invalid(
                    "role",
                    "assistants join through a practitioner's invitation link",
                ))
            }
            RoleBody::Operator => return Err(ApiError::invalid(
                "role",
                "must be patient or practitioner: operator accounts are created by the operator",
            )),
        };
    // The account's language: the body's, else the client's Accept-Language, else French.
    let lang = match body.lang.as_deref() {
        Some(l) => Lang::parse(l)
            .ok_or_else(|| ApiError::invalid("lang", "must be one of fr, en, de, it"))?,
        None => headers
            .get(axum::http::header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .map(|h| careslot_core::i18n::Lang::from_accept_language(h).code())
            .and_then(Lang::parse)
            .unwrap_or(Lang::Fr),
    };
    let account = app
        .register_in(
            NewIdentity {
                email: &body.email,
                password: &body.password,
                name: &body.name,
                role,
                phone: body.phone.as_deref(),
                birth_date: body.birth_date.as_deref(),
            },
            lang,
            client,
        )
        .await?;
    Ok((StatusCode::CREATED, Json(AccountBody::from(&account))))
}

/// Log in; returns a bearer token. For an account with two-factor authentication the answer
/// says `mfa_required: true` and the token is good only for `POST
/// /api/v1/sessions/current/mfa` (within 10 minutes). After 5 failures of an account (20 of a client address),
/// each further failure blocks it for 1 s, 2 s, 4 s… up to 15 minutes; while blocked every
/// attempt, the right password included, gets 429 with `Retry-After`.
#[utoipa::path(post, path = "/api/v1/sessions", tag = "accounts", request_body = NewSessionBody,
    responses((status = 201, body = SessionBody), (status = 401, body = Problem),
              (status = 429, description = "too many failed attempts (type .../problems/too-many-attempts); see Retry-After", body = Problem,
                  headers(("Retry-After" = u64, description = "seconds to wait"))),
              (status = 503, description = "password hashing saturated (type .../problems/authentication-busy); see Retry-After", body = Problem,
                  headers(("Retry-After" = u64, description = "seconds to wait")))))]
pub async fn create_session(
    State(app): State<Arc<Accounts>>,
    ClientIp(client): ClientIp,
    headers: axum::http::HeaderMap,
    ApiJson(body): ApiJson<NewSessionBody>,
) -> Result<(StatusCode, Json<SessionBody>), ApiError> {
    let device = headers
        .get(axum::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok());
    let s = app
        .sign_in(&body.email, &body.password, client, device)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(SessionBody {
            token: s.token,
            account: AccountBody::from(&s.identity),
            mfa_required: s.mfa_pending,
        }),
    ))
}

/// Ask for a password-reset link: 202 whatever the address (known, unknown or malformed),
/// so the answer reveals nothing. A known address gets an email whose link carries a
/// single-use token valid 30 minutes.
#[utoipa::path(post, path = "/api/v1/password-resets", tag = "accounts", request_body = PasswordResetBody,
    responses((status = 202, description = "a link is on its way if the address has an account"),
              (status = 429, description = "too many requests for this address or from this client (each request counts: 5 per address, 20 per client, then 1 s, 2 s, 4 s… up to 15 minutes); see Retry-After", body = Problem,
                  headers(("Retry-After" = u64, description = "seconds to wait"))),
              (status = 503, description = "database or key service unavailable", body = Problem)))]
pub async fn request_password_reset(
    State(app): State<Arc<Accounts>>,
    ClientIp(client): ClientIp,
    ApiJson(body): ApiJson<PasswordResetBody>,
) -> Result<StatusCode, ApiError> {
    app.request_password_reset_from(&body.email, client).await?;
    Ok(StatusCode::ACCEPTED)
}

/// Set a new password with a reset link's token (single use, 30 minutes). Every session of
/// the account is revoked.
#[utoipa::path(post, path = "/api/v1/password-resets/confirm", tag = "accounts", request_body = PasswordResetConfirmBody,
    responses((status = 204, description = "password changed, every session revoked"),
              (status = 400, description = "unknown, used or expired token", body = Problem),
              (status = 422, description = "weak password", body = Problem)))]
pub async fn confirm_password_reset(
    State(app): State<Arc<Accounts>>,
    ApiJson(body): ApiJson<PasswordResetConfirmBody>,
) -> Result<StatusCode, ApiError> {
    app.confirm_password_reset(&body.token, &body.password)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Sign out: deletes the bearer's session; the token stops working on every node at once.
#[utoipa::path(delete, path = "/api/v1/sessions/current", tag = "accounts", security(("bearer" = [])),
    responses((status = 204, description = "the session is deleted"), (status = 401, body = Problem)))]
pub async fn delete_current_session(
    State(app): State<Arc<Accounts>>,
    bearer: Bearer,
) -> Result<StatusCode, ApiError> {
    app.sign_out(&bearer.token).await?;
    Ok(StatusCode::NO_CONTENT)
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
