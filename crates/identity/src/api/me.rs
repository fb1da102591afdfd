//! The account page's endpoints (issue 14): settings and profile changes, the email
//! verification link, address and password changes, and phone verification by SMS code.

use super::dto::*;
use super::extract::{ApiJson, Bearer, Caller};
use crate::{Accounts, ProfileUpdate};
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use careslot_core::error::{ApiError, Problem};
use std::sync::Arc;

/// The caller's account and message settings (language, what is verified, reminders).
#[utoipa::path(get, path = "/api/v1/me/settings", tag = "accounts", security(("bearer" = [])),
    responses((status = 200, body = ProfileBody), (status = 401, body = Problem)))]
pub async fn settings(
    State(app): State<Arc<Accounts>>,
    Caller(caller): Caller,
) -> Result<Json<ProfileBody>, ApiError> {
    Ok(Json(ProfileBody::from(&app.account_view(&caller).await?)))
}

/// Change the caller's name, phone (E.164; a new number is unverified until its SMS code is
/// entered), language and reminder preferences. The address changes through
/// `POST /api/v1/me/email-change`, the password through `POST /api/v1/me/password`.
#[utoipa::path(patch, path = "/api/v1/me", tag = "accounts", security(("bearer" = [])), request_body = ProfilePatchBody,
    responses((status = 200, body = ProfileBody), (status = 401, body = Problem),
              (status = 422, description = "invalid field (the detail names it)", body = Problem)))]
pub async fn patch_me(
    State(app): State<Arc<Accounts>>,
    Caller(caller): Caller,
    ApiJson(body): ApiJson<ProfilePatchBody>,
) -> Result<Json<ProfileBody>, ApiError> {
    let view = app
        .update_profile(
            &caller,
            &ProfileUpdate {
                name: body.name,
                phone: body.phone,
                lang: body.lang,
                reminders_email: body.reminders_email,
                reminders_sms: body.reminders_sms,
                show_motive: body.show_motive,
            },
        )
        .await?;
    Ok(Json(ProfileBody::from(&view)))
}

/// Follow an email link: verifies the account's address, or completes an address change
/// (the old address is told). Single use, 24 hours.
#[utoipa::path(post, path = "/api/v1/email-verifications/confirm", tag = "accounts", request_body = TokenBody,
    responses((status = 204, description = "address verified (or changed)"),
              (status = 400, description = "unknown, used or expired token", body = Problem),
              (status = 409, description = "the new address got an account meanwhile", body = Problem)))]
pub async fn confirm_email(
    State(app): State<Arc<Accounts>>,
    ApiJson(body): ApiJson<TokenBody>,
) -> Result<StatusCode, ApiError> {
    app.confirm_email_token(&body.token).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Send a new verification link to the caller's address (earlier links stop working).
#[utoipa::path(post, path = "/api/v1/me/email-verification", tag = "accounts", security(("bearer" = [])),
    responses((status = 202, description = "a link is on its way (nothing when already verified)"),
              (status = 401, body = Problem)))]
pub async fn resend_email_verification(
    State(app): State<Arc<Accounts>>,
    Caller(caller): Caller,
) -> Result<StatusCode, ApiError> {
    app.resend_email_verification(&caller).await?;
    Ok(StatusCode::ACCEPTED)
}

/// Move the account to a new address: a link goes to the new address; the address (and
/// sign-in with it) changes only once it is followed. Requires the current password, and a
/// sign-in or re-authentication within the last 10 minutes (else 403
/// `reauthentication-required`).
#[utoipa::path(post, path = "/api/v1/me/email-change", tag = "accounts", security(("bearer" = [])), request_body = EmailChangeBody,
    responses((status = 202, description = "a link is on its way to the new address"),
              (status = 401, body = Problem),
              (status = 422, description = "invalid address, or wrong `current_password`", body = Problem)))]
pub async fn request_email_change(
    State(app): State<Arc<Accounts>>,
    bearer: Bearer,
    ApiJson(body): ApiJson<EmailChangeBody>,
) -> Result<StatusCode, ApiError> {
    app.require_recent_auth(&bearer.token).await?;
    app.request_email_change(&bearer.caller, &body.email, &body.password)
        .await?;
    Ok(StatusCode::ACCEPTED)
}

/// Change the password (the current one required, the policy of sign-up applies). Every
/// other session of the account ends; this one stays. The account is told by mail. Needs a
/// sign-in or re-authentication within the last 10 minutes (else 403
/// `reauthentication-required`).
#[utoipa::path(post, path = "/api/v1/me/password", tag = "accounts", security(("bearer" = [])), request_body = PasswordChangeBody,
    responses((status = 204, description = "changed; other sessions revoked"),
              (status = 401, body = Problem),
              (status = 422, description = "wrong `current_password` or weak `password`", body = Problem),
              (status = 503, description = "password hashing saturated; see Retry-After", body = Problem,
                  headers(("Retry-After" = u64, description = "seconds to wait")))))]
pub async fn change_password(
    State(app): State<Arc<Accounts>>,
    bearer: Bearer,
    ApiJson(body): ApiJson<PasswordChangeBody>,
) -> Result<StatusCode, ApiError> {
    app.require_recent_auth(&bearer.token).await?;
    app.change_password(
        &bearer.caller,
        &body.current_password,
        &body.new_password,
        Some(&bearer.token),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Send a six-digit code by SMS to the account's phone (valid 10 minutes, 5 tries). Sends
/// are throttled per account like failed sign-ins.
#[utoipa::path(post, path = "/api/v1/me/phone-verification", tag = "accounts", security(("bearer" = [])),
    responses((status = 202, description = "the code is on its way"),
              (status = 401, body = Problem),
              (status = 422, description = "no phone, or not an E.164 number (field `phone`)", body = Problem),
              (status = 429, description = "too many codes asked; see Retry-After", body = Problem,
                  headers(("Retry-After" = u64, description = "seconds to wait")))))]
pub async fn request_phone_code(
    State(app): State<Arc<Accounts>>,
    Caller(caller): Caller,
) -> Result<StatusCode, ApiError> {
    app.request_phone_code(&caller).await?;
    Ok(StatusCode::ACCEPTED)
}

/// Enter the SMS code: the right one verifies the phone. After 5 wrong codes the code is
/// dead and a new one must be asked for.
#[utoipa::path(post, path = "/api/v1/me/phone-verification/confirm", tag = "accounts", security(("bearer" = [])), request_body = CodeBody,
    responses((status = 204, description = "phone verified"),
              (status = 401, body = Problem),
              (status = 422, description = "wrong or dead code (field `code`)", body = Problem)))]
pub async fn confirm_phone_code(
    State(app): State<Arc<Accounts>>,
    Caller(caller): Caller,
    ApiJson(body): ApiJson<CodeBody>,
) -> Result<StatusCode, ApiError> {
    app.confirm_phone_code(&caller, &body.code).await?;
    Ok(StatusCode::NO_CONTENT)
}
