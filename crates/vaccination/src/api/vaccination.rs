//! Vaccination: protocols, a centre's dose stock, dose-2 proposals, and booking the doses of
//! a series together (both or neither).

use super::dto::*;
use super::extract::{ApiJson, ApiPath, ApiQuery, Caller};
use crate::{AppError, Appointment, DoseChoice, SeriesInput, Vaccination, VaccinationRequest};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Json;
use careslot_core::answer::Answer;
use careslot_core::error::{ApiError, Problem};
use careslot_core::time::{format_instant, parse_instant};
use careslot_domain::AgendaId;
use careslot_domain::DomainError;
use careslot_scheduling::api::dto::*;
use careslot_scheduling::api::patient::idempotency_key;
use careslot_scheduling::api::queue::Admitted;
use careslot_scheduling::api::{slot_days, slot_json};
use std::sync::Arc;

fn choice(b: Option<DoseChoiceBody>) -> Option<DoseChoice> {
    b.map(|d| DoseChoice {
        agenda_id: d.agenda_id,
        motive_id: d.motive_id,
        start: d.start,
    })
}

fn request(b: VaccinationBookingBody) -> VaccinationRequest {
    VaccinationRequest {
        dose1: choice(b.dose1),
        dose2: choice(b.dose2),
        booster: choice(b.booster),
        previous_dose_date: b.previous_dose_date,
        birth_date: b.birth_date,
        priority_groups: b.priority_groups,
    }
}

async fn bodies(
    app: &Vaccination,
    booked: &[Appointment],
) -> Result<Vec<AppointmentBody>, ApiError> {
    let mut appointments = Vec::with_capacity(booked.len());
    for a in booked {
        let view = app.view(&a.row.agenda_id).await?;
        appointments.push(AppointmentBody::new(a, &view.tz));
    }
    Ok(appointments)
}

/// Book the doses of a vaccination together: all or none. With `hold_id`, books the doses
/// held by `POST /api/v1/vaccination/holds` (again: the same appointments, nothing new).
#[utoipa::path(post, path = "/api/v1/vaccination/bookings", operation_id = "bookVaccination", tag = "vaccination", security(("bearer" = [])),
    request_body = VaccinationBookingBody,
    responses((status = 201, body = VaccinationBookingResult),
              (status = 404, description = "no such hold of this patient", body = Problem),
              (status = 409, description = "a place or a dose is gone, or the hold has expired (type hold-expired); nothing is booked", body = Problem),
              (status = 422, description = "interval outside the protocol, wrong doses, or the Idempotency-Key reused with another request; nothing is booked", body = Problem)),
    params(("Idempotency-Key" = Option<String>, Header, description = "repeat the same key to retry safely: the same appointments, booked once")))]
pub async fn book(
    State(app): State<Arc<Vaccination>>,
    _: Admitted,
    Caller(me): Caller,
    headers: HeaderMap,
    ApiJson(b): ApiJson<VaccinationBookingBody>,
) -> Result<(StatusCode, Json<VaccinationBookingResult>), ApiError> {
    if b.hold_id.is_some() && (b.dose1.is_some() || b.dose2.is_some() || b.booster.is_some()) {
        return Err(ApiError::from(AppError::from(DomainError::new(
            "hold_id",
            "give either hold_id or the doses, not both",
        ))));
    }
    let booked = match idempotency_key(&headers)? {
        Some(key) => {
            // The request as parsed and re-serialised: another field order or spacing is
            // the same request.
            let canonical = serde_json::to_vec(&b).map_err(|_| ApiError::bad_request("body"))?;
            let input = match b.hold_id.clone() {
                Some(hold) => SeriesInput::Hold(hold),
                None => SeriesInput::Doses(Box::new(request(b))),
            };
            app.book_vaccination_keyed(&me, input, &key, &canonical)
                .await?
        }
        None => match b.hold_id.clone() {
            Some(hold) => app.book_vaccination_hold(&me, &hold).await?,
            None => app.book_vaccination(&me, request(b)).await?,
        },
    };
    let appointments = bodies(&app, &booked).await?;
    Ok((
        StatusCode::CREATED,
        Json(VaccinationBookingResult { appointments }),
    ))
}

/// Hold the doses of a vaccination together (all or none) while the patient confirms: the
/// places and the doses are theirs until `expires_at`.
#[utoipa::path(post, path = "/api/v1/vaccination/holds", tag = "vaccination", security(("bearer" = [])),
    request_body = VaccinationBookingBody,
    responses((status = 201, body = VaccinationHoldResult),
              (status = 404, description = "no such agenda, motive or place", body = Problem),
              (status = 409, description = "a place or a dose is gone; nothing is held", body = Problem),
              (status = 422, description = "interval outside the protocol, wrong doses; nothing is held", body = Problem)))]
pub async fn hold(
    State(app): State<Arc<Vaccination>>,
    _: Admitted,
    Caller(me): Caller,
    ApiJson(b): ApiJson<VaccinationBookingBody>,
) -> Result<(StatusCode, Json<VaccinationHoldResult>), ApiError> {
    if b.hold_id.is_some() {
        return Err(ApiError::from(AppError::from(DomainError::new(
            "hold_id",
            "a hold is made from doses, not from another hold",
        ))));
    }
    let (id, until, held) = app.hold_vaccination(&me, request(b)).await?;
    let appointments = bodies(&app, &held).await?;
    let expires_at = match held.first() {
        Some(a) => format_instant(until, &app.view(&a.row.agenda_id).await?.tz),
        None => until.to_string(),
    };
    Ok((
        StatusCode::CREATED,
        Json(VaccinationHoldResult {
            id,
            expires_at,
            appointments,
        }),
    ))
}

/// Dose-2 slots at the same centre inside the protocol's window after a chosen dose-1 start.
#[utoipa::path(get, path = "/api/v1/vaccination/second-dose-slots", tag = "vaccination",
    params(("agenda_id" = String, Query), ("motive_id" = String, Query, description = "the dose-1 motive"),
           ("start" = String, Query, description = "the chosen dose-1 start"),
           ("If-None-Match" = Option<String>, Header, description = "an `ETag` of an earlier answer: 304 when unchanged")),
    responses((status = 200, body = SecondDoseSlotsBody, headers(("ETag" = String, description = "strong validator of this answer"))),
              (status = 304, description = "unchanged since the `ETag` in `If-None-Match`", headers(("ETag" = String))),
              (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn second_dose_slots(
    State(app): State<Arc<Vaccination>>,
    ApiQuery(q): ApiQuery<SecondDoseQuery>,
    headers: axum::http::HeaderMap,
) -> Result<Response, ApiError> {
    // The answer depends on the dose-1 day, not its time: kept per day like slot answers.
    let agenda = AgendaId(q.agenda_id.clone());
    let generation = app.agendas.generation(&agenda);
    let view = app.view(&agenda).await?;
    let start = parse_instant("start", &q.start).map_err(AppError::from)?;
    let key = format!(
        "second\n{}\n{}",
        q.motive_id,
        start.to_zoned(view.tz.clone()).date()
    );
    let now_s = jiff::Timestamp::now().as_second();
    if let Some(answer) = app.agendas.response(&agenda, &key, now_s) {
        return Ok(answer.respond(&headers));
    }
    let w = app
        .second_dose_window(&q.agenda_id, &q.motive_id, &q.start)
        .await?;
    // Day by day, as slot lists are (and with their pieces: the same motive and days), so
    // that a booking writes its own days again, not the whole window.
    let now = jiff::Timestamp::now();
    let (pieces, all_fresh) = slot_days::pieces(
        &app.agendas,
        &w.view,
        &w.motive,
        (w.from, w.to),
        SlotFormat::Full,
        generation,
        now,
    );
    let opening = slot_json::opening(Some(w.motive.id.as_str()));
    let body = slot_json::assemble(&[&opening, slot_json::SLOTS_OPEN], &pieces);
    debug_assert!(
        !all_fresh
            || body
                == slot_json::slots_json(
                    Some(w.motive.id.as_str()),
                    &w.view.slots(&w.motive, w.from, w.to, now),
                    &w.view.tz
                ),
        "day pieces differ from the window's answer"
    );
    let answer = Answer::new(bytes::Bytes::from(body));
    if let Some(g) = generation {
        app.agendas
            .keep_response(&agenda, g, key, answer.clone(), now_s);
    }
    Ok(answer.respond(&headers))
}

/// Every version of every vaccine's protocol.
#[utoipa::path(get, path = "/api/v1/vaccination/protocols", tag = "vaccination",
    responses((status = 200, body = ProtocolsBody)))]
pub async fn protocols(
    State(app): State<Arc<Vaccination>>,
) -> Result<Json<ProtocolsBody>, ApiError> {
    Ok(Json(ProtocolsBody {
        protocols: app
            .protocols()
            .await?
            .iter()
            .map(ProtocolBody::from)
            .collect(),
    }))
}

/// Set a centre's doses of a product for a day (practice staff). Availability follows at once.
#[utoipa::path(put, path = "/api/v1/agendas/{agenda_id}/stock", tag = "vaccination", security(("bearer" = [])),
    params(("agenda_id" = String, Path)), request_body = StockBody,
    responses((status = 200, body = StockRowBody), (status = 404, body = Problem),
              (status = 409, description = "fewer doses than already booked", body = Problem), (status = 422, body = Problem)))]
pub async fn set_stock(
    State(app): State<Arc<Vaccination>>,
    Caller(me): Caller,
    ApiPath(agenda_id): ApiPath<String>,
    ApiJson(b): ApiJson<StockBody>,
) -> Result<Json<StockRowBody>, ApiError> {
    let row = app
        .set_stock(&me, &AgendaId(agenda_id), &b.product, &b.day, b.doses)
        .await?;
    Ok(Json(StockRowBody::from(&row)))
}

/// Set (or, with `doses: null`, remove) a centre's default doses per day of a product
/// (practice staff): every day without its own stock offers that many. Days that already
/// took the policy follow the new value but keep their bookings.
#[utoipa::path(put, path = "/api/v1/agendas/{agenda_id}/stock-policy", tag = "vaccination", security(("bearer" = [])),
    params(("agenda_id" = String, Path)), request_body = StockPolicyBody,
    responses((status = 200, body = StockPolicyBody), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn set_stock_policy(
    State(app): State<Arc<Vaccination>>,
    Caller(me): Caller,
    ApiPath(agenda_id): ApiPath<String>,
    ApiJson(b): ApiJson<StockPolicyBody>,
) -> Result<Json<StockPolicyBody>, ApiError> {
    let doses = app
        .set_stock_policy(&me, &AgendaId(agenda_id), &b.product, b.doses)
        .await?;
    Ok(Json(StockPolicyBody {
        product: b.product,
        doses: doses.map(i64::from),
    }))
}

/// Per product and day of a centre: capacity, stock, booked doses, no-shows (practice staff).
#[utoipa::path(get, path = "/api/v1/agendas/{agenda_id}/vaccination/days", tag = "vaccination", security(("bearer" = [])),
    params(("agenda_id" = String, Path), ("from" = String, Query), ("to" = String, Query)),
    responses((status = 200, body = DaysBody), (status = 404, body = Problem)))]
pub async fn days(
    State(app): State<Arc<Vaccination>>,
    Caller(me): Caller,
    ApiPath(agenda_id): ApiPath<String>,
    ApiQuery(q): ApiQuery<DaysQuery>,
) -> Result<Json<DaysBody>, ApiError> {
    let days = app
        .vaccination_days(&me, &AgendaId(agenda_id), &q.from, &q.to)
        .await?;
    Ok(Json(DaysBody {
        days: days
            .iter()
            .map(|d| DayReportBody {
                day: d.day.to_string(),
                product: d.product.code().to_owned(),
                capacity: d.capacity,
                doses: d.doses,
                explicit: d.explicit,
                policy: d.policy,
                booked: d.booked,
                no_shows: d.no_shows,
            })
            .collect(),
    }))
}

/// Set how many lines a centre runs on one day (a centre adds two lines on Saturday).
#[utoipa::path(put, path = "/api/v1/agendas/{agenda_id}/lines", tag = "vaccination", security(("bearer" = [])),
    params(("agenda_id" = String, Path)), request_body = LinesBody,
    responses((status = 200, body = LinesBody), (status = 404, body = Problem),
              (status = 409, description = "a time that day already has more appointments", body = Problem),
              (status = 422, body = Problem)))]
pub async fn set_lines(
    State(app): State<Arc<Vaccination>>,
    Caller(me): Caller,
    ApiPath(agenda_id): ApiPath<String>,
    ApiJson(b): ApiJson<LinesBody>,
) -> Result<Json<LinesBody>, ApiError> {
    let lines = app
        .set_lines(&me, &AgendaId(agenda_id), &b.day, b.lines)
        .await?;
    Ok(Json(LinesBody {
        day: b.day,
        lines: i64::from(lines),
    }))
}
