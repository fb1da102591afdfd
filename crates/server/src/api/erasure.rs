//! `DELETE /api/v1/me`: erasure reaches every feature's data, so its handler is here.

use crate::App;
use axum::extract::State;
use axum::http::StatusCode;
use careslot_core::error::{ApiError, Problem};
use careslot_identity::api::Caller;
use careslot_store::Role;

/// Erase the caller's account and personal data (crypto-shredding). Booked appointments
/// stay in agendas without identity.
#[utoipa::path(delete, path = "/api/v1/me", tag = "accounts", security(("bearer" = [])),
    responses((status = 204, description = "erased"), (status = 403, body = Problem), (status = 503, body = Problem)))]
pub async fn erase_me(
    State(app): State<App>,
    Caller(caller): Caller,
) -> Result<StatusCode, ApiError> {
    if caller.role != Role::Patient {
        return Err(careslot_core::AppError::Forbidden(
            "practitioner accounts are closed by the operator, not erased",
        )
        .into());
    }
    app.erase(&caller.id).await?;
    Ok(StatusCode::NO_CONTENT)
}
