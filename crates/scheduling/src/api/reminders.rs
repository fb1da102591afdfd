//! The practice's reminder delays (issue 14): `GET`/`PUT /api/v1/practitioner/reminders`.

use super::extract::{ApiJson, Caller};
use crate::Scheduling;
use axum::extract::State;
use axum::Json;
use careslot_core::error::{ApiError, Problem};
use careslot_store::ReminderDelays;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::ToSchema;

/// Hours before an appointment its reminders go out; 0 sends none on that channel.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ReminderDelaysBody {
    /// Email reminder, 0–336 hours before (default 72).
    pub email_hours_before: i64,
    /// SMS reminder to a verified number, 0–336 hours before (default 24).
    pub sms_hours_before: i64,
}

impl From<ReminderDelays> for ReminderDelaysBody {
    fn from(d: ReminderDelays) -> Self {
        Self {
            email_hours_before: i64::from(d.email_hours_before),
            sms_hours_before: i64::from(d.sms_hours_before),
        }
    }
}

/// The caller's reminder delays.
#[utoipa::path(get, path = "/api/v1/practitioner/reminders", tag = "practitioner", security(("bearer" = [])),
    responses((status = 200, body = ReminderDelaysBody), (status = 403, body = Problem), (status = 409, description = "no profile yet", body = Problem)))]
pub async fn get_reminders(
    State(app): State<Arc<Scheduling>>,
    Caller(me): Caller,
) -> Result<Json<ReminderDelaysBody>, ApiError> {
    Ok(Json(app.reminder_delays_of(&me).await?.into()))
}

/// Sets how long before an appointment its patients are reminded (applies to appointments
/// booked or moved afterwards).
#[utoipa::path(put, path = "/api/v1/practitioner/reminders", tag = "practitioner", security(("bearer" = [])),
    request_body = ReminderDelaysBody,
    responses((status = 200, body = ReminderDelaysBody), (status = 403, body = Problem), (status = 409, description = "no profile yet", body = Problem), (status = 422, body = Problem)))]
pub async fn put_reminders(
    State(app): State<Arc<Scheduling>>,
    Caller(me): Caller,
    ApiJson(b): ApiJson<ReminderDelaysBody>,
) -> Result<Json<ReminderDelaysBody>, ApiError> {
    let d = app
        .set_reminder_delays(&me, b.email_hours_before, b.sms_hours_before)
        .await?;
    Ok(Json(d.into()))
}
