//! `DELETE /api/v1/me`: erasure reaches every feature's data, so its handler is here.

use crate::App;
use axum::extract::State;
use axum::http::StatusCode;
use careslot_core::error::{ApiError, Problem};
use careslot_identity::api::Bearer;
use careslot_store::Role;

/// Erase the caller's account and personal data (crypto-shredding). Booked appointments
/// stay in agendas without identity. Needs a sign-in or re-authentication (`POST
/// /api/v1/sessions/current/reauthenticate`) within the last 10 minutes.
#[utoipa::path(delete, path = "/api/v1/me", tag = "accounts", security(("bearer" = [])),
    responses((status = 204, description = "erased"),
              (status = 403, description = "not a patient account, or re-authenticate first (`reauthentication-required`)", body = Problem),
              (status = 503, body = Problem)))]
pub async fn erase_me(State(app): State<App>, bearer: Bearer) -> Result<StatusCode, ApiError> {
    let caller = bearer.caller;
    if caller.role != Role::Patient {
        return Err(careslot_core::AppError::Forbidden(
            "practitioner accounts are closed by the operator, not erased",
        )
        .into());
    }
    app.require_recent_auth(&bearer.token).await?;
    app.erase(&caller.id).await?;
    Ok(StatusCode::NO_CONTENT)
}
