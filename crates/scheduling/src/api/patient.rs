//! The patient side: holds and appointments.

use super::dto::*;
use super::extract::{ApiJson, ApiPath, Caller};
use super::queue::Admitted;
use crate::{Appointment, BookingDetails, BookingInput, Holder, Scheduling};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use careslot_core::error::{ApiError, Problem};
use careslot_core::time::format_instant;

use std::collections::HashMap;
use std::sync::Arc;

async fn appointment_body(app: &Scheduling, a: &Appointment) -> Result<AppointmentBody, ApiError> {
    super::payments::appointment_with_payment(app, a).await
}

/// Hold a slot for about five minutes while the patient confirms.
#[utoipa::path(post, path = "/api/v1/holds", tag = "patient", security(("bearer" = [])), request_body = NewHoldBody,
    responses((status = 201, body = HoldBody), (status = 409, description = "not free", body = Problem), (status = 404, body = Problem)))]
pub async fn create_hold(
    State(app): State<Arc<Scheduling>>,
    _: Admitted,
    Caller(me): Caller,
    ApiJson(b): ApiJson<NewHoldBody>,
) -> Result<(StatusCode, Json<HoldBody>), ApiError> {
    let held = app
        .hold(Holder::Patient(&me), &b.agenda_id, &b.motive_id, &b.start)
        .await?;
    let hold = &held.row;
    let view = app.view(&hold.agenda_id).await?;
    let expires_at = hold
        .expires_at
        .map(|e| format_instant(e, &view.tz))
        .unwrap_or_default();
    Ok((
        StatusCode::CREATED,
        Json(HoldBody {
            id: hold.id.to_string(),
            agenda_id: hold.agenda_id.to_string(),
            motive_id: held.motive_id.to_string(),
            start: format_instant(hold.start, &view.tz),
            end: format_instant(hold.end, &view.tz),
            expires_at,
        }),
    ))
}

/// The client's Idempotency-Key and the request as parsed and re-serialised (the same
/// request in another field order or spacing is the same request).
fn idempotency(
    headers: &HeaderMap,
    body: &NewAppointmentBody,
) -> Result<Option<(String, Vec<u8>)>, ApiError> {
    let Some(key) = idempotency_key(headers)? else {
        return Ok(None);
    };
    let canonical = serde_json::to_vec(body).map_err(|_| ApiError::bad_request("body"))?;
    Ok(Some((key.to_owned(), canonical)))
}

/// The client's `Idempotency-Key` header, if any: 1 to 255 visible ASCII characters.
pub fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(raw) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    raw.to_str()
        .ok()
        .map(str::trim)
        .filter(|k| !k.is_empty() && k.len() <= 255 && k.bytes().all(|b| b.is_ascii_graphic()))
        .map(|k| Some(k.to_owned()))
        .ok_or_else(|| ApiError::bad_request("Idempotency-Key: 1 to 255 visible ASCII characters"))
}

/// Book an appointment, directly or from a hold. Safe to retry with `Idempotency-Key`.
#[utoipa::path(post, path = "/api/v1/appointments", operation_id = "bookAppointment", tag = "patient", security(("bearer" = [])), request_body = NewAppointmentBody,
    params(("Idempotency-Key" = Option<String>, Header, description = "repeat the same key to retry safely")),
    responses((status = 201, body = AppointmentBody), (status = 402, description = "card declined (teleconsultation paid online): nothing booked", body = Problem), (status = 409, description = "not free", body = Problem),
              (status = 422, description = "invalid, or key reused with another body", body = Problem)))]
pub async fn book(
    State(app): State<Arc<Scheduling>>,
    _: Admitted,
    Caller(me): Caller,
    headers: HeaderMap,
    ApiJson(b): ApiJson<NewAppointmentBody>,
) -> Result<(StatusCode, Json<AppointmentBody>), ApiError> {
    let idem = idempotency(&headers, &b)?;
    let note = b.note.clone();
    let relative_id = b.relative_id.clone();
    let payment_method = b.payment_method.clone();
    let input = match b {
        NewAppointmentBody {
            hold_id: Some(hold_id),
            agenda_id: None,
            motive_id: None,
            start: None,
            ..
        } => BookingInput::FromHold { hold_id },
        NewAppointmentBody {
            hold_id: None,
            agenda_id: Some(agenda_id),
            motive_id: Some(motive_id),
            start: Some(start),
            ..
        } => BookingInput::Direct {
            agenda_id,
            motive_id,
            start,
        },
        _ => {
            return Err(ApiError::invalid(
                "body",
                "give either hold_id alone, or agenda_id, motive_id and start",
            ))
        }
    };
    let appointment = app
        .book_with_payment(
            &me,
            input,
            BookingDetails {
                note: note.as_deref(),
                relative_id: relative_id.as_deref(),
            },
            idem.as_ref().map(|(k, b)| (k.as_str(), b.as_slice())),
            payment_method.as_deref(),
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(appointment_body(&app, &appointment).await?),
    ))
}

/// The caller's appointments.
#[utoipa::path(get, path = "/api/v1/appointments", operation_id = "listAppointments", tag = "patient", security(("bearer" = [])),
    responses((status = 200, body = AppointmentsBody), (status = 401, body = Problem)))]
pub async fn list(
    State(app): State<Arc<Scheduling>>,
    Caller(me): Caller,
) -> Result<Json<AppointmentsBody>, ApiError> {
    let rows = app.my_appointments(&me).await?;
    let mut zones = HashMap::new();
    let mut appointments = Vec::with_capacity(rows.len());
    for r in &rows {
        if !zones.contains_key(&r.row.agenda_id) {
            zones.insert(
                r.row.agenda_id.clone(),
                app.view(&r.row.agenda_id).await?.tz.clone(),
            );
        }
        if let Some(tz) = zones.get(&r.row.agenda_id) {
            let mut body = AppointmentBody::new(r, tz);
            body.payment = super::payments::payment_body(&app, r).await?;
            appointments.push(body);
        }
    }
    Ok(Json(AppointmentsBody { appointments }))
}

/// Cancel; the place is free again at once.
#[utoipa::path(post, path = "/api/v1/appointments/{id}/cancel", tag = "patient", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, body = AppointmentBody), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn cancel(
    State(app): State<Arc<Scheduling>>,
    Caller(me): Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<AppointmentBody>, ApiError> {
    let r = app.cancel(&me, &id).await?;
    Ok(Json(appointment_body(&app, &r).await?))
}

/// Move to another start; on 409 the appointment stays where it was.
#[utoipa::path(post, path = "/api/v1/appointments/{id}/move", tag = "patient", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = MoveBody,
    responses((status = 200, body = AppointmentBody), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn move_appointment(
    State(app): State<Arc<Scheduling>>,
    Caller(me): Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(b): ApiJson<MoveBody>,
) -> Result<Json<AppointmentBody>, ApiError> {
    let r = app.move_appointment(&me, &id, &b.start).await?;
    Ok(Json(appointment_body(&app, &r).await?))
}
