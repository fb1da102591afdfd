//! Recurring care through the API (issue 18 points 5 and 8): `POST /api/v1/agendas/{id}/series`
//! books a series for a patient of the practice all or none (409 naming the dates that are
//! not free), `GET /api/v1/series/{id}` reads it, `DELETE /api/v1/series/{id}` cancels its
//! future appointments and `POST /api/v1/series/{id}/move` moves them, all or none.

use super::dto::AppointmentBody;
use super::extract::{ApiJson, ApiPath, ApiQuery, Caller};
use crate::care_series::{
    DeskSeries, PlannedOccurrence, SeriesBooking, SeriesMove, SeriesRule, SeriesShift,
};
use crate::{DeskPatient, Scheduling};
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use careslot_core::error::{ApiError, Problem};
use careslot_core::time::parse_instant;
use careslot_domain::AgendaId;
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::{IntoParams, ToSchema};

/// Which dates a series takes from its first appointment on.
#[derive(Debug, Deserialize, ToSchema)]
pub struct SeriesRuleBody {
    /// `mon` … `sun`; the first appointment's weekday must be one of them. Empty: that
    /// weekday only.
    #[serde(default)]
    #[schema(max_items = 7)]
    pub weekdays: Vec<String>,
    /// 1 (every week, the default) to 4.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 4)]
    pub every_weeks: Option<i64>,
    /// How many appointments (1 to 52). Exactly one of `count` and `until`.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 52)]
    pub count: Option<i64>,
    /// The last date (`YYYY-MM-DD`, included), at most a year after the first.
    #[serde(default)]
    pub until: Option<String>,
}

/// A series booked by the practice for a patient: a directory entry (`patient_id`) or a
/// patient's account known to the practice (`account_id`), exactly one of the two.
#[derive(Debug, Deserialize, ToSchema)]
pub struct SeriesBookingBody {
    pub motive_id: String,
    /// The first appointment, RFC 3339; the others keep its local time.
    pub start: String,
    pub rule: SeriesRuleBody,
    /// Dates (`YYYY-MM-DD`) of the rule to leave out, e.g. those a 409 named.
    #[serde(default)]
    #[schema(max_items = 52)]
    pub skip: Vec<String>,
    #[serde(default)]
    pub patient_id: Option<String>,
    #[serde(default)]
    pub account_id: Option<String>,
    #[serde(default)]
    #[schema(max_length = 2000)]
    pub note: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SeriesOccurrenceBody {
    /// 1-based, by start.
    pub position: usize,
    #[serde(flatten)]
    pub appointment: AppointmentBody,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SeriesBody {
    pub id: String,
    pub agenda_id: String,
    /// The rule's summary, e.g. `weekly:1:tue,thu:count=12`.
    pub rule: String,
    /// Every appointment of the series (cancelled ones included), by start.
    pub appointments: Vec<SeriesOccurrenceBody>,
    /// The appointments this request cancelled (DELETE only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cancelled: Vec<String>,
    /// The appointments this request moved (move only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub moved: Vec<String>,
}

impl SeriesBody {
    fn new(s: &DeskSeries, tz: &TimeZone, cancelled: Vec<String>) -> Self {
        Self::changed(s, tz, cancelled, Vec::new())
    }

    fn changed(s: &DeskSeries, tz: &TimeZone, cancelled: Vec<String>, moved: Vec<String>) -> Self {
        Self {
            id: s.id.clone(),
            agenda_id: s.agenda_id.to_string(),
            rule: s.rule.clone(),
            appointments: s
                .occurrences
                .iter()
                .enumerate()
                .map(|(i, a)| SeriesOccurrenceBody {
                    position: i + 1,
                    appointment: AppointmentBody::new(a, tz),
                })
                .collect(),
            cancelled,
            moved,
        }
    }
}

/// A date of the series that is not free (for a move: a new time).
#[derive(Debug, Serialize, ToSchema)]
pub struct SeriesConflictBody {
    /// `YYYY-MM-DD`, the place's local date.
    pub date: String,
    /// RFC 3339 in the place's offset.
    pub start: String,
    /// taken (another appointment has the time) | closed (outside the motive's hours, or
    /// the practice is closed that day)
    pub reason: String,
}

/// The problem of a series that could not be booked or moved: nothing was booked or moved.
#[derive(Debug, Serialize, ToSchema)]
pub struct SeriesConflictProblem {
    #[serde(flatten)]
    pub problem: Problem,
    /// Skip these dates (`skip`) or pick another time, then try again.
    pub conflicts: Vec<SeriesConflictBody>,
}

fn conflict_response(conflicts: &[PlannedOccurrence], tz: &TimeZone, detail: &str) -> Response {
    let body = SeriesConflictProblem {
        problem: Problem {
            kind: "https://careslot.eu/problems/series-conflict".into(),
            title: "Conflict".into(),
            status: 409,
            detail: detail.into(),
            request_id: careslot_core::observe::current_request().map(|r| r.id),
        },
        conflicts: conflicts
            .iter()
            .map(|c| SeriesConflictBody {
                date: c.date.to_string(),
                start: careslot_core::time::format_instant(c.start, tz),
                reason: c.state.code().into(),
            })
            .collect(),
    };
    let json = serde_json::to_vec(&body).unwrap_or_default();
    (
        StatusCode::CONFLICT,
        [(header::CONTENT_TYPE, "application/problem+json")],
        json,
    )
        .into_response()
}

/// Book a series of appointments for a patient of the practice (e.g. twice a week for six
/// weeks), all or none: when a date is not free nothing is booked and the 409 names the
/// dates (skip them with `skip`, or choose another time). The patient gets one message.
#[utoipa::path(post, path = "/api/v1/agendas/{agenda_id}/series", operation_id = "bookSeries", tag = "practice desk", security(("bearer" = [])),
    params(("agenda_id" = String, Path)), request_body = SeriesBookingBody,
    responses((status = 201, body = SeriesBody), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem),
        (status = 409, description = "dates not free: nothing was booked", body = SeriesConflictProblem),
        (status = 422, body = Problem)))]
pub async fn book(
    State(app): State<Arc<Scheduling>>,
    Caller(me): Caller,
    ApiPath(agenda_id): ApiPath<String>,
    ApiJson(b): ApiJson<SeriesBookingBody>,
) -> Result<Response, ApiError> {
    let patient = match (&b.patient_id, &b.account_id) {
        (Some(id), None) => DeskPatient::Entry(id),
        (None, Some(id)) => DeskPatient::Known(id),
        _ => {
            return Err(ApiError::invalid(
                "patient_id",
                "give exactly one of patient_id and account_id",
            ))
        }
    };
    let rule = SeriesRule::parse(
        &b.rule.weekdays,
        b.rule.every_weeks,
        b.rule.count,
        b.rule.until.as_deref(),
    )
    .map_err(|e| ApiError::from(crate::AppError::from(e)))?;
    if b.skip.len() > 52 {
        return Err(ApiError::invalid("skip", "at most 52 dates"));
    }
    let mut skip = Vec::with_capacity(b.skip.len());
    for s in &b.skip {
        skip.push(
            s.trim()
                .parse()
                .map_err(|_| ApiError::invalid("skip", "dates are YYYY-MM-DD"))?,
        );
    }
    let agenda = AgendaId(agenda_id);
    let out = app
        .desk_book_series(
            &me,
            &agenda,
            &b.motive_id,
            &b.start,
            &rule,
            &skip,
            patient,
            b.note.as_deref(),
        )
        .await?;
    let view = app.view(&agenda).await?;
    match out {
        SeriesBooking::Conflicts(c) => Ok(conflict_response(
            &c,
            &view.tz,
            "some dates of the series are not free: nothing was booked",
        )),
        SeriesBooking::Booked(s) => Ok((
            StatusCode::CREATED,
            Json(SeriesBody::new(&s, &view.tz, Vec::new())),
        )
            .into_response()),
    }
}

/// A series of the caller's practice with all its appointments.
#[utoipa::path(get, path = "/api/v1/series/{id}", operation_id = "getSeries", tag = "practice desk", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = SeriesBody), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn get(
    State(app): State<Arc<Scheduling>>,
    Caller(me): Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<SeriesBody>, ApiError> {
    let s = app.desk_series(&me, &id).await?;
    let view = app.view(&s.agenda_id).await?;
    Ok(Json(SeriesBody::new(&s, &view.tz, Vec::new())))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CancelSeriesQuery {
    /// Cancel the appointments starting at or after this instant (RFC 3339), e.g. one
    /// appointment's start for "this one and all following". Default: now. Appointments
    /// already started or past are never cancelled.
    #[serde(default)]
    pub from: Option<String>,
}

/// Cancel the series' future appointments (past ones stay); each patient is told as for
/// any cancellation by the practice.
#[utoipa::path(delete, path = "/api/v1/series/{id}", operation_id = "cancelSeries", tag = "practice desk", security(("bearer" = [])),
    params(("id" = String, Path), CancelSeriesQuery),
    responses((status = 200, body = SeriesBody), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn cancel(
    State(app): State<Arc<Scheduling>>,
    Caller(me): Caller,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<CancelSeriesQuery>,
) -> Result<Json<SeriesBody>, ApiError> {
    let from = q
        .from
        .as_deref()
        .map(|f| parse_instant("from", f))
        .transpose()
        .map_err(|e| ApiError::from(crate::AppError::from(e)))?;
    let (s, cancelled) = app.cancel_desk_series(&me, &id, from).await?;
    let view = app.view(&s.agenda_id).await?;
    Ok(Json(SeriesBody::new(
        &s,
        &view.tz,
        cancelled.iter().map(ToString::to_string).collect(),
    )))
}

/// How to move a series' appointments: `days` later (earlier when negative) and/or at a new
/// local `time`; at least one of the two.
#[derive(Debug, Deserialize, ToSchema)]
pub struct MoveSeriesBody {
    /// Days later, negative for earlier (-366 to 366). Default 0.
    #[serde(default)]
    #[schema(minimum = -366, maximum = 366)]
    pub days: i32,
    /// The new local time of day (`HH:MM`) of every moved appointment. Default: each keeps
    /// its own.
    #[serde(default)]
    pub time: Option<String>,
    /// Move the appointments starting at or after this instant (RFC 3339), e.g. one
    /// appointment's start for "this one and all following". Default: now. Appointments
    /// already started or past never move.
    #[serde(default)]
    pub from: Option<String>,
}

/// Move the series' future appointments together (e.g. two days later, or at 14:00), all or
/// none under the same rules as a booking: when a new time is outside the hours or taken,
/// nothing moves and the 409 names those dates. The patient gets one message with the new
/// dates.
#[utoipa::path(post, path = "/api/v1/series/{id}/move", operation_id = "moveSeries", tag = "practice desk", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = MoveSeriesBody,
    responses((status = 200, body = SeriesBody), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem),
        (status = 409, description = "new times not free: nothing was moved", body = SeriesConflictProblem),
        (status = 422, body = Problem)))]
pub async fn move_series(
    State(app): State<Arc<Scheduling>>,
    Caller(me): Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(b): ApiJson<MoveSeriesBody>,
) -> Result<Response, ApiError> {
    let from = b
        .from
        .as_deref()
        .map(|f| parse_instant("from", f))
        .transpose()
        .map_err(|e| ApiError::from(crate::AppError::from(e)))?;
    let time = b
        .time
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| {
            t.parse::<jiff::civil::Time>()
                .map_err(|_| ApiError::invalid("time", "a time of day, HH:MM"))
        })
        .transpose()?;
    let out = app
        .move_desk_series(&me, &id, from, SeriesShift { days: b.days, time })
        .await?;
    match out {
        SeriesMove::Conflicts(c) => {
            let s = app.desk_series(&me, &id).await?;
            let view = app.view(&s.agenda_id).await?;
            Ok(conflict_response(
                &c,
                &view.tz,
                "some new times are not free: nothing was moved",
            ))
        }
        SeriesMove::Moved(s, moved) => {
            let view = app.view(&s.agenda_id).await?;
            Ok(Json(SeriesBody::changed(
                &s,
                &view.tz,
                Vec::new(),
                moved.iter().map(ToString::to_string).collect(),
            ))
            .into_response())
        }
    }
}
