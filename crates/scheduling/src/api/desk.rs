//! The practice's own changes to its appointments (issue 18, point 8): what the desk's time
//! grid does by drag and drop, through the API. Cancelling is
//! `POST /api/v1/practice/appointments/{id}/cancel` (payments.rs: it releases a payment).

use super::dto::{AppointmentBody, MoveBody};
use super::extract::{ApiJson, ApiPath, Caller};
use crate::Scheduling;
use axum::extract::State;
use axum::Json;
use careslot_core::error::{ApiError, Problem};
use serde::Deserialize;
use std::sync::Arc;
use utoipa::ToSchema;

async fn answer(
    app: &Scheduling,
    a: &crate::Appointment,
) -> Result<Json<AppointmentBody>, ApiError> {
    let view = app.view(&a.row.agenda_id).await?;
    Ok(Json(AppointmentBody::new(a, &view.tz)))
}

/// The practice (practitioner or assistant) moves an appointment of its agenda to another
/// start: the checks of a patient's move (free, inside opening hours, outside absences)
/// without the motive's notice period; the patient is told. On 409 it stays where it was.
#[utoipa::path(post, path = "/api/v1/practice/appointments/{id}/move", operation_id = "deskMove", tag = "practice desk", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = MoveBody,
    responses((status = 200, body = AppointmentBody), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, description = "the time is not free, or the appointment is not booked or has started", body = Problem),
        (status = 422, body = Problem)))]
pub async fn move_appointment(
    State(app): State<Arc<Scheduling>>,
    Caller(me): Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(b): ApiJson<MoveBody>,
) -> Result<Json<AppointmentBody>, ApiError> {
    let a = app.desk_move(&me, &id, &b.start).await?;
    answer(&app, &a).await
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct LengthBody {
    /// The appointment's length from its unchanged start: a multiple of 5 from 5 to 480.
    #[schema(minimum = 5, maximum = 480, multiple_of = 5)]
    pub minutes: u32,
}

/// The practice gives an appointment a length of its own (its motive's stays as it is).
/// The same checks as a move; a length running into another appointment is refused by the
/// database's overlap rule (409). The start does not change, so the patient is not told.
#[utoipa::path(put, path = "/api/v1/practice/appointments/{id}/length", operation_id = "deskResize", tag = "practice desk", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = LengthBody,
    responses((status = 200, body = AppointmentBody), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, description = "the time is not free, or the appointment is not booked or has started", body = Problem),
        (status = 422, body = Problem)))]
pub async fn set_length(
    State(app): State<Arc<Scheduling>>,
    Caller(me): Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(b): ApiJson<LengthBody>,
) -> Result<Json<AppointmentBody>, ApiError> {
    let a = app.desk_resize(&me, &id, b.minutes).await?;
    answer(&app, &a).await
}
