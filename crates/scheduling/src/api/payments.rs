//! Payment endpoints: motive fees, the practice's cancellation (which releases an
//! authorised payment) and the payment provider's webhook.

use super::dto::*;
use super::extract::{ApiJson, ApiPath, Caller};
use crate::{parse_fee, AppError, Appointment, Scheduling};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use careslot_core::error::{ApiError, Problem};
use careslot_domain::{AgendaId, DomainError};
use std::sync::Arc;

fn invalid(d: DomainError) -> ApiError {
    AppError::from(d).into()
}

/// The fee of a practitioner's input, checked (422 naming the field).
pub fn fee_of(b: &NewFeeBody) -> Result<careslot_store::Fee, ApiError> {
    parse_fee(b.amount_cents, b.currency.as_deref()).map_err(invalid)
}

/// The payment state of an appointment, for teleconsultations (other motives carry none,
/// and are not looked up).
pub async fn payment_body(
    app: &Scheduling,
    a: &Appointment,
) -> Result<Option<PaymentBody>, ApiError> {
    let view = app.view(&a.row.agenda_id).await?;
    if !view
        .motive(&a.motive_id)
        .is_some_and(|m| m.policy.teleconsultation)
    {
        return Ok(None);
    }
    Ok(app
        .payment_of(&a.row.id)
        .await?
        .as_ref()
        .map(PaymentBody::from))
}

/// An appointment as the API shows it, with its payment.
pub async fn appointment_with_payment(
    app: &Scheduling,
    a: &Appointment,
) -> Result<AppointmentBody, ApiError> {
    let view = app.view(&a.row.agenda_id).await?;
    let mut body = AppointmentBody::new(a, &view.tz);
    body.payment = payment_body(app, a).await?;
    Ok(body)
}

/// Set the online fee of a teleconsultation motive (422 for other motives).
#[utoipa::path(put, path = "/api/v1/agendas/{agenda_id}/motives/{motive_id}/fee", tag = "practitioner", security(("bearer" = [])),
    params(("agenda_id" = String, Path), ("motive_id" = String, Path)), request_body = NewFeeBody,
    responses((status = 200, body = FeeBody), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn put_fee(
    State(app): State<Arc<Scheduling>>,
    Caller(me): Caller,
    ApiPath((agenda_id, motive_id)): ApiPath<(String, String)>,
    ApiJson(b): ApiJson<NewFeeBody>,
) -> Result<Json<FeeBody>, ApiError> {
    let fee = fee_of(&b)?;
    app.set_motive_fee(&me, &AgendaId(agenda_id), &motive_id, Some(fee.clone()))
        .await?;
    Ok(Json(FeeBody::from(&fee)))
}

/// Remove a motive's online fee (appointments already booked keep theirs).
#[utoipa::path(delete, path = "/api/v1/agendas/{agenda_id}/motives/{motive_id}/fee", tag = "practitioner", security(("bearer" = [])),
    params(("agenda_id" = String, Path), ("motive_id" = String, Path)),
    responses((status = 204), (status = 404, body = Problem)))]
pub async fn delete_fee(
    State(app): State<Arc<Scheduling>>,
    Caller(me): Caller,
    ApiPath((agenda_id, motive_id)): ApiPath<(String, String)>,
) -> Result<StatusCode, ApiError> {
    app.set_motive_fee(&me, &AgendaId(agenda_id), &motive_id, None)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The practice (practitioner or assistant) cancels an appointment that has not ended; an
/// authorised payment is released (nothing is charged). 403 for the patient (who cancels
/// with `POST /api/v1/appointments/{id}/cancel`), 404 for anyone else.
#[utoipa::path(post, path = "/api/v1/practice/appointments/{id}/cancel", tag = "practitioner", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = AppointmentBody), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn practice_cancel(
    State(app): State<Arc<Scheduling>>,
    Caller(me): Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<AppointmentBody>, ApiError> {
    let a = app.practice_cancel(&me, &id).await?;
    Ok(Json(appointment_with_payment(&app, &a).await?))
}

/// Stripe's webhook: `Stripe-Signature` verified over the raw body (HMAC-SHA256, 300 s
/// tolerance); replayed, forged and stale deliveries answer 400. Handles
/// `payment_intent.amount_capturable_updated`, `.succeeded`, `.canceled` and
/// `.payment_failed`; other events are acknowledged. 404 unless Stripe is configured.
#[utoipa::path(post, path = "/api/v1/payments/stripe/webhook", tag = "payments",
    params(("Stripe-Signature" = String, Header, description = "t=<unix time>,v1=<hex HMAC-SHA256 of \"<t>.<body>\">")),
    request_body(content = String, content_type = "application/json", description = "a Stripe event"),
    responses((status = 200, body = WebhookAckBody), (status = 400, body = Problem), (status = 404, body = Problem)))]
pub async fn stripe_webhook(
    State(app): State<Arc<Scheduling>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<WebhookAckBody>, ApiError> {
    // The signature is checked for presence first, so a malformed call is told what is wrong
    // whether or not this node takes Stripe payments.
    if !headers.contains_key("stripe-signature") {
        return Err(ApiError::bad_request("Stripe-Signature: missing"));
    }
    if app.payments.provider().name() != "stripe" {
        return Err(ApiError::not_found("webhook"));
    }
    app.payment_webhook(&headers, &body, jiff::Timestamp::now())
        .await?;
    Ok(Json(WebhookAckBody { received: true }))
}
