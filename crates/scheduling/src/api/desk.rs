//! What the desk does, through the API (issue 18, point 8): the time grid's move and resize
//! (cancelling is `POST /api/v1/practice/appointments/{id}/cancel`, in payments.rs: it
//! releases a payment), and the settings' edits and removals.

use super::dto::{AppointmentBody, MotiveBody, MoveBody};
use super::extract::{ApiJson, ApiPath, Caller};
use crate::{MotiveChanges, Scheduling};
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use careslot_core::error::{ApiError, Problem};
use careslot_domain::{AgendaId, MotivePolicy};
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

/// A motive as the practice edits it: every field given is its new value.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MotiveEditBody {
    #[schema(max_length = 120)]
    pub name: String,
    /// New length in minutes for slots from now on; booked appointments keep theirs.
    /// Absent: unchanged. Motives with parallel places keep their length.
    #[serde(default)]
    pub duration_min: Option<i64>,
    #[serde(default)]
    pub teleconsultation: bool,
    #[serde(default)]
    pub new_patients_only: bool,
    #[serde(default = "yes")]
    pub bookable_online: bool,
    #[serde(default)]
    pub min_notice_min: i64,
    #[serde(default = "ninety")]
    pub max_horizon_days: i64,
    /// The name per language (`fr`, `en`, `de`, `it`) where it differs; replaces those set.
    #[serde(default)]
    pub labels: std::collections::BTreeMap<String, String>,
}

fn yes() -> bool {
    true
}

fn ninety() -> i64 {
    90
}

fn non_negative(field: &'static str, v: i64) -> Result<u32, ApiError> {
    u32::try_from(v).map_err(|_| ApiError::invalid(field, "must be a non-negative number"))
}

/// Edits a motive of one of the caller's agendas (as the desk's settings do). A motive that
/// stops being a teleconsultation loses its online fee.
#[utoipa::path(put, path = "/api/v1/agendas/{agenda_id}/motives/{motive_id}", operation_id = "editMotive", tag = "practitioner", security(("bearer" = [])),
    params(("agenda_id" = String, Path), ("motive_id" = String, Path)), request_body = MotiveEditBody,
    responses((status = 200, body = MotiveBody), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn edit_motive(
    State(app): State<Arc<Scheduling>>,
    Caller(me): Caller,
    ApiPath((agenda_id, motive_id)): ApiPath<(String, String)>,
    ApiJson(b): ApiJson<MotiveEditBody>,
) -> Result<Json<MotiveBody>, ApiError> {
    let policy = MotivePolicy {
        teleconsultation: b.teleconsultation,
        new_patients_only: b.new_patients_only,
        bookable_online: b.bookable_online,
        min_notice_min: non_negative("min_notice_min", b.min_notice_min)?,
        max_horizon_days: non_negative("max_horizon_days", b.max_horizon_days)?,
    };
    let motive = app
        .update_motive(
            &me,
            &AgendaId(agenda_id),
            &motive_id,
            MotiveChanges {
                name: b.name,
                duration_min: b.duration_min,
                policy,
                labels: b.labels,
            },
        )
        .await?;
    Ok(Json(MotiveBody::from(&motive)))
}

/// Removes a weekly opening rule of one of the caller's agendas (booked appointments stay).
#[utoipa::path(delete, path = "/api/v1/agendas/{agenda_id}/opening-rules/{rule_id}", operation_id = "deleteOpeningRule", tag = "practitioner", security(("bearer" = [])),
    params(("agenda_id" = String, Path), ("rule_id" = String, Path)),
    responses((status = 204, description = "removed"), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn delete_rule(
    State(app): State<Arc<Scheduling>>,
    Caller(me): Caller,
    ApiPath((agenda_id, rule_id)): ApiPath<(String, String)>,
) -> Result<StatusCode, ApiError> {
    app.delete_rule(&me, &AgendaId(agenda_id), &rule_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Removes an absence of one of the caller's agendas (its times open again).
#[utoipa::path(delete, path = "/api/v1/agendas/{agenda_id}/absences/{absence_id}", operation_id = "deleteAbsence", tag = "practitioner", security(("bearer" = [])),
    params(("agenda_id" = String, Path), ("absence_id" = String, Path)),
    responses((status = 204, description = "removed"), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn delete_absence(
    State(app): State<Arc<Scheduling>>,
    Caller(me): Caller,
    ApiPath((agenda_id, absence_id)): ApiPath<(String, String)>,
) -> Result<StatusCode, ApiError> {
    app.delete_absence(&me, &AgendaId(agenda_id), &absence_id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
