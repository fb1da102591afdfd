//! Appointments as iCalendar over the API (issue 19): one appointment's `.ics` with a bearer
//! token, and the patient's private subscription URL of every upcoming appointment (shown,
//! made on first ask, revoked), and that feed itself (its token is the credential).

use super::bulk_publish::base_url;
use super::extract::{ApiPath, Caller};
use crate::calendar::FEED_PATH;
use crate::Scheduling;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use careslot_core::error::{ApiError, Problem};
use careslot_core::time::format_instant;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::ToSchema;

const CALENDAR: &str = "text/calendar; charset=utf-8";

/// The patient's private calendar subscription.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CalendarFeedBody {
    /// The feed, for calendar apps that take an `https` URL. Anyone with it reads the
    /// patient's upcoming appointments: keep it private, revoke it when it leaks.
    pub url: String,
    /// The same feed for apps that subscribe through the `webcal` scheme.
    pub webcal_url: String,
    /// When this URL was made (it stays the same until revoked).
    pub created_at: String,
}

fn calendar(body: String, filename: &str) -> Response {
    (
        [
            (header::CONTENT_TYPE, CALENDAR.to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{filename}\""),
            ),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        body,
    )
        .into_response()
}

/// One appointment of the caller (or of a relative they booked for) as an iCalendar file:
/// times in UTC, the practitioner and place, the visit reason only if the patient opted in.
#[utoipa::path(get, path = "/api/v1/appointments/{id}/ics", operation_id = "appointmentIcs", tag = "patient",
    security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 200, description = "RFC 5545 calendar with one VEVENT", body = String, content_type = "text/calendar"),
              (status = 404, body = Problem)))]
pub async fn appointment_ics(
    State(app): State<Arc<Scheduling>>,
    Caller(me): Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    let ics = app.appointment_ics(&me, &id).await?;
    Ok(calendar(ics, "appointment.ics"))
}

/// The URL of the patient's private calendar feed, made on the first call and the same at
/// every later one until it is revoked.
#[utoipa::path(get, path = "/api/v1/me/calendar-feed", operation_id = "getCalendarFeed", tag = "patient",
    security(("bearer" = [])),
    responses((status = 200, body = CalendarFeedBody)))]
pub async fn get_feed(
    State(app): State<Arc<Scheduling>>,
    Caller(me): Caller,
    headers: HeaderMap,
) -> Result<Json<CalendarFeedBody>, ApiError> {
    let feed = app.calendar_feed(&me).await?;
    let base = app
        .config
        .public_url
        .clone()
        .map(|u| u.trim_end_matches('/').to_owned())
        .unwrap_or_else(|| base_url(&headers));
    let url = format!("{base}{FEED_PATH}/{}", feed.token);
    let webcal_url = match url.split_once("://") {
        Some((_, rest)) => format!("webcal://{rest}"),
        None => url.clone(),
    };
    Ok(Json(CalendarFeedBody {
        url,
        webcal_url,
        created_at: format_instant(feed.created_at, &jiff::tz::TimeZone::UTC),
    }))
}

/// Revokes the feed: its URL answers 404 from now on; the next `GET` makes a new one.
#[utoipa::path(delete, path = "/api/v1/me/calendar-feed", operation_id = "revokeCalendarFeed", tag = "patient",
    security(("bearer" = [])),
    responses((status = 204, description = "revoked"), (status = 404, description = "no feed", body = Problem)))]
pub async fn revoke_feed(
    State(app): State<Arc<Scheduling>>,
    Caller(me): Caller,
) -> Result<StatusCode, ApiError> {
    app.revoke_calendar_feed(&me).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A patient's upcoming appointments as an iCalendar feed. The token in the path is the
/// credential (no bearer token: calendar apps cannot send one); 404 once revoked.
#[utoipa::path(get, path = "/api/v1/calendar-feeds/{token}", operation_id = "calendarFeed", tag = "patient",
    params(("token" = String, Path, description = "the feed's secret token")),
    responses((status = 200, description = "RFC 5545 calendar of the upcoming appointments", body = String, content_type = "text/calendar"),
              (status = 404, body = Problem)))]
pub async fn feed(
    State(app): State<Arc<Scheduling>>,
    ApiPath(token): ApiPath<String>,
) -> Result<Response, ApiError> {
    match app.calendar_feed_ics(&token).await? {
        Some(ics) => Ok(calendar(ics, "careslot.ics")),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not-found",
            "no calendar feed has this token",
        )),
    }
}
