//! Two-factor authentication, the account's sessions, and re-authentication.

use super::dto::*;
use super::extract::{ApiJson, Bearer, ClientIp};
use crate::Accounts;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::Json;
use careslot_core::error::{ApiError, Problem};
use careslot_core::time::format_instant;
use careslot_core::AppError;
use careslot_store::session_public_id;
use std::sync::Arc;

/// The bearer token as sent, valid or not (a pending session's, for the second step).
pub struct RawBearer(pub String);

impl<S: Send + Sync> FromRequestParts<S> for RawBearer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        super::bearer_token(parts)
            .map(|t| RawBearer(t.to_owned()))
            .ok_or(ApiError::from(AppError::Unauthenticated))
    }
}

fn utc(t: jiff::Timestamp) -> String {
    format_instant(t, &jiff::tz::TimeZone::UTC)
}

/// Second step of signing in: the pending session of the bearer token gets a TOTP code or a
/// recovery code (each works once) and becomes a full session (same token). Wrong codes are
/// throttled per account and per address like failed sign-ins.
#[utoipa::path(post, path = "/api/v1/sessions/current/mfa", tag = "accounts", security(("bearer" = [])), request_body = SecondFactorBody,
    responses((status = 200, body = SessionBody),
              (status = 401, description = "not a pending session (`unauthenticated`), or a wrong, expired or used code (`bad-code`)", body = Problem),
              (status = 429, description = "too many wrong codes; see Retry-After", body = Problem,
                  headers(("Retry-After" = u64, description = "seconds to wait")))))]
pub async fn second_factor(
    State(app): State<Arc<Accounts>>,
    ClientIp(client): ClientIp,
    RawBearer(token): RawBearer,
    ApiJson(body): ApiJson<SecondFactorBody>,
) -> Result<Json<SessionBody>, ApiError> {
    let identity = app.complete_sign_in(&token, &body.code, client).await?;
    Ok(Json(SessionBody {
        token,
        account: AccountBody::from(&identity),
        mfa_required: false,
    }))
}

/// The account's sessions (pending ones left out): device, creation, last use (recorded at
/// most once a minute), expiry, and which one is the caller's.
#[utoipa::path(get, path = "/api/v1/sessions", tag = "accounts", security(("bearer" = [])),
    responses((status = 200, body = SessionListBody), (status = 401, body = Problem)))]
pub async fn list_sessions(
    State(app): State<Arc<Accounts>>,
    bearer: Bearer,
) -> Result<Json<SessionListBody>, ApiError> {
    let current = crate::hash_token(&bearer.token);
    let current = session_public_id(&current);
    let sessions = app
        .sessions(&bearer.caller)
        .await?
        .into_iter()
        .map(|s| SessionInfoBody {
            current: s.id == current,
            id: s.id,
            device: s.device,
            created_at: utc(s.created_at),
            last_used_at: utc(s.last_used_at),
            expires_at: utc(s.expires_at),
            second_factor: s.second_factor,
        })
        .collect();
    Ok(Json(SessionListBody { sessions }))
}

/// Revoke one of the account's sessions: its token stops working on every node at once.
/// 404 for an id that is not one of the caller's sessions.
#[utoipa::path(delete, path = "/api/v1/sessions/{id}", tag = "accounts", security(("bearer" = [])),
    params(("id" = String, Path, description = "a session id from GET /api/v1/sessions")),
    responses((status = 204, description = "revoked"), (status = 401, body = Problem), (status = 404, body = Problem)))]
pub async fn delete_session(
    State(app): State<Arc<Accounts>>,
    bearer: Bearer,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    app.revoke_session(&bearer.caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Re-authenticate: the password again, and a TOTP or recovery code where two-factor
/// authentication is set up. For 10 minutes after this (or after signing in) the session may
/// erase the account, change its email or password, and remove two-factor authentication;
/// later they answer 403 `reauthentication-required`. Throttled like sign-ins.
#[utoipa::path(post, path = "/api/v1/sessions/current/reauthenticate", tag = "accounts", security(("bearer" = [])), request_body = ReauthBody,
    responses((status = 204, description = "re-authenticated"),
              (status = 401, description = "wrong password (`bad-credentials`) or code (`bad-code`)", body = Problem),
              (status = 429, description = "too many failures; see Retry-After", body = Problem,
                  headers(("Retry-After" = u64, description = "seconds to wait")))))]
pub async fn reauthenticate(
    State(app): State<Arc<Accounts>>,
    ClientIp(client): ClientIp,
    bearer: Bearer,
    ApiJson(body): ApiJson<ReauthBody>,
) -> Result<StatusCode, ApiError> {
    app.reauthenticate(
        &bearer.caller,
        &bearer.token,
        &body.password,
        body.code.as_deref(),
        client,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Where the account stands with two-factor authentication.
#[utoipa::path(get, path = "/api/v1/me/mfa", tag = "accounts", security(("bearer" = [])),
    responses((status = 200, body = MfaStatusBody), (status = 401, body = Problem)))]
pub async fn mfa_status(
    State(app): State<Arc<Accounts>>,
    bearer: Bearer,
) -> Result<Json<MfaStatusBody>, ApiError> {
    let s = app.mfa_status(&bearer.caller).await?;
    Ok(Json(MfaStatusBody {
        enabled: s.enabled,
        pending: s.pending,
        required: s.required,
        recovery_codes_left: s.recovery_left,
        session_second_factor: bearer.caller.second_factor,
    }))
}

/// Start setting up two-factor authentication (TOTP, RFC 6238: SHA-1, 6 digits, 30 s): a new
/// secret, shown once, to add to an authenticator app; it counts once confirmed. Starting
/// again replaces a set-up not yet confirmed. 409 when it is already set up.
#[utoipa::path(post, path = "/api/v1/me/mfa", tag = "accounts", security(("bearer" = [])),
    responses((status = 201, body = MfaEnrolmentBody), (status = 401, body = Problem), (status = 409, body = Problem)))]
pub async fn mfa_enrol(
    State(app): State<Arc<Accounts>>,
    bearer: Bearer,
) -> Result<(StatusCode, Json<MfaEnrolmentBody>), ApiError> {
    let e = app.mfa_enrol(&bearer.caller).await?;
    Ok((
        StatusCode::CREATED,
        Json(MfaEnrolmentBody {
            secret: e.secret,
            otpauth_uri: e.uri,
        }),
    ))
}

/// Confirm the set-up with a first code from the app: two-factor authentication is on, this
/// session counts as having given it, and ten recovery codes are returned (only now).
#[utoipa::path(post, path = "/api/v1/me/mfa/confirm", tag = "accounts", security(("bearer" = [])), request_body = SecondFactorBody,
    responses((status = 200, body = RecoveryCodesBody),
              (status = 401, description = "wrong code (`bad-code`)", body = Problem),
              (status = 409, description = "no set-up waiting", body = Problem),
              (status = 429, description = "too many wrong codes; see Retry-After", body = Problem,
                  headers(("Retry-After" = u64, description = "seconds to wait")))))]
pub async fn mfa_confirm(
    State(app): State<Arc<Accounts>>,
    ClientIp(client): ClientIp,
    bearer: Bearer,
    ApiJson(body): ApiJson<SecondFactorBody>,
) -> Result<Json<RecoveryCodesBody>, ApiError> {
    let recovery_codes = app
        .mfa_confirm(&bearer.caller, &bearer.token, &body.code, client)
        .await?;
    Ok(Json(RecoveryCodesBody { recovery_codes }))
}

/// New recovery codes (the previous ones stop working), from a session that gave a second
/// factor.
#[utoipa::path(post, path = "/api/v1/me/mfa/recovery-codes", tag = "accounts", security(("bearer" = [])),
    responses((status = 200, body = RecoveryCodesBody), (status = 401, body = Problem),
              (status = 403, description = "this session gave no second factor", body = Problem),
              (status = 404, description = "two-factor authentication is not set up", body = Problem)))]
pub async fn mfa_recovery_codes(
    State(app): State<Arc<Accounts>>,
    bearer: Bearer,
) -> Result<Json<RecoveryCodesBody>, ApiError> {
    let recovery_codes = app.mfa_renew_recovery(&bearer.caller).await?;
    Ok(Json(RecoveryCodesBody { recovery_codes }))
}

/// Remove two-factor authentication (needs a re-authentication within 10 minutes). A
/// practice account then reads no patient data until it sets it up again.
#[utoipa::path(delete, path = "/api/v1/me/mfa", tag = "accounts", security(("bearer" = [])),
    responses((status = 204, description = "removed"), (status = 401, body = Problem),
              (status = 403, description = "re-authenticate first (`reauthentication-required`)", body = Problem),
              (status = 404, body = Problem)))]
pub async fn mfa_remove(
    State(app): State<Arc<Accounts>>,
    bearer: Bearer,
) -> Result<StatusCode, ApiError> {
    app.mfa_remove(&bearer.caller, &bearer.token).await?;
    Ok(StatusCode::NO_CONTENT)
}
