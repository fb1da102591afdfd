//! An agenda's private calendar subscription over the API (issue 18 point 6): its URL read,
//! made or rotated, its patient names turned on or off, revoked — by the practice that runs
//! the agenda — and the feed itself, opened by the token in its URL.

use super::bulk_publish::base_url;
use super::extract::{ApiJson, ApiPath, Caller};
use crate::agenda_feed::{AgendaFeedToken, DAYS_AHEAD, DAYS_BACK, FEED_PATH};
use crate::Scheduling;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use careslot_core::error::{ApiError, Problem};
use careslot_core::time::format_instant;
use careslot_domain::AgendaId;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::ToSchema;

/// An agenda's private calendar subscription.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AgendaFeedBody {
    /// The feed (`…/api/v1/agenda-feeds/{token}.ics`), for calendar apps that take an
    /// `https` URL. Anyone with it reads the agenda's appointments: keep it private, rotate
    /// or revoke it when it leaks.
    pub url: String,
    /// The same feed for apps that subscribe through the `webcal` scheme.
    pub webcal_url: String,
    /// Whether the events carry the patients' names (else the motive only).
    pub show_patient_names: bool,
    /// When this URL was made (it stays the same until rotated or revoked).
    pub created_at: String,
    /// The feed holds the appointments starting from this many days ago…
    pub days_back: i64,
    /// …to this many days ahead.
    pub days_ahead: i64,
}

/// Making or rotating the URL.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAgendaFeedBody {
    /// Patients' names in the events (default: as the previous URL had it, off for a first
    /// one). Turning it on needs a session with a second factor.
    pub show_patient_names: Option<bool>,
}

/// Changing the feed without changing its URL.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AgendaFeedChangesBody {
    /// Patients' names in the events. Turning it on needs a session with a second factor.
    pub show_patient_names: bool,
}

/// The feed's URLs: below `--public-url` when set (as every absolute URL the server gives
/// out), else below `request_base`, the address the request came to (`scheme://host`).
pub fn feed_urls(app: &Scheduling, request_base: &str, token: &str) -> (String, String) {
    let base = app
        .config
        .public_url
        .as_deref()
        .unwrap_or(request_base)
        .trim_end_matches('/');
    let url = format!("{base}{FEED_PATH}/{token}.ics");
    let webcal_url = match url.split_once("://") {
        Some((_, rest)) => format!("webcal://{rest}"),
        None => url.clone(),
    };
    (url, webcal_url)
}

fn body(app: &Scheduling, headers: &HeaderMap, feed: &AgendaFeedToken) -> AgendaFeedBody {
    let (url, webcal_url) = feed_urls(app, &base_url(headers), &feed.token);
    AgendaFeedBody {
        url,
        webcal_url,
        show_patient_names: feed.show_patient_names,
        created_at: format_instant(feed.created_at, &jiff::tz::TimeZone::UTC),
        days_back: DAYS_BACK,
        days_ahead: DAYS_AHEAD,
    }
}

fn no_feed() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not-found",
        "this agenda has no calendar feed",
    )
}

/// The URL of an agenda's calendar feed (practitioner, or their assistant); 404 when it has
/// none (make one with `POST`).
#[utoipa::path(get, path = "/api/v1/agendas/{agenda_id}/feed", operation_id = "getAgendaFeed", tag = "practitioner",
    security(("bearer" = [])), params(("agenda_id" = String, Path)),
    responses((status = 200, body = AgendaFeedBody), (status = 404, description = "no such agenda of the caller's, or no feed", body = Problem)))]
pub async fn get_feed(
    State(app): State<Arc<Scheduling>>,
    Caller(me): Caller,
    ApiPath(agenda_id): ApiPath<String>,
    headers: HeaderMap,
) -> Result<Json<AgendaFeedBody>, ApiError> {
    match app.agenda_feed(&me, &AgendaId(agenda_id)).await? {
        Some(feed) => Ok(Json(body(&app, &headers, &feed))),
        None => Err(no_feed()),
    }
}

/// Makes the agenda's feed URL, or a new one in place of the current one (rotation: the old
/// URL answers 404 from now on).
#[utoipa::path(post, path = "/api/v1/agendas/{agenda_id}/feed", operation_id = "makeAgendaFeed", tag = "practitioner",
    security(("bearer" = [])), params(("agenda_id" = String, Path)), request_body = NewAgendaFeedBody,
    responses((status = 201, body = AgendaFeedBody), (status = 404, body = Problem)))]
pub async fn make_feed(
    State(app): State<Arc<Scheduling>>,
    Caller(me): Caller,
    ApiPath(agenda_id): ApiPath<String>,
    headers: HeaderMap,
    ApiJson(b): ApiJson<NewAgendaFeedBody>,
) -> Result<(StatusCode, Json<AgendaFeedBody>), ApiError> {
    let feed = app
        .make_agenda_feed(&me, &AgendaId(agenda_id), b.show_patient_names)
        .await?;
    Ok((StatusCode::CREATED, Json(body(&app, &headers, &feed))))
}

/// Turns the patients' names in the agenda's feed on or off; the URL stays the same.
#[utoipa::path(patch, path = "/api/v1/agendas/{agenda_id}/feed", operation_id = "changeAgendaFeed", tag = "practitioner",
    security(("bearer" = [])), params(("agenda_id" = String, Path)), request_body = AgendaFeedChangesBody,
    responses((status = 200, body = AgendaFeedBody), (status = 404, description = "no such agenda of the caller's, or no feed", body = Problem)))]
pub async fn change_feed(
    State(app): State<Arc<Scheduling>>,
    Caller(me): Caller,
    ApiPath(agenda_id): ApiPath<String>,
    headers: HeaderMap,
    ApiJson(b): ApiJson<AgendaFeedChangesBody>,
) -> Result<Json<AgendaFeedBody>, ApiError> {
    let feed = app
        .set_agenda_feed_names(&me, &AgendaId(agenda_id), b.show_patient_names)
        .await?;
    Ok(Json(body(&app, &headers, &feed)))
}

/// Revokes the agenda's feed: its URL answers 404 from now on.
#[utoipa::path(delete, path = "/api/v1/agendas/{agenda_id}/feed", operation_id = "revokeAgendaFeed", tag = "practitioner",
    security(("bearer" = [])), params(("agenda_id" = String, Path)),
    responses((status = 204, description = "revoked"), (status = 404, description = "no such agenda of the caller's, or no feed", body = Problem)))]
pub async fn revoke_feed(
    State(app): State<Arc<Scheduling>>,
    Caller(me): Caller,
    ApiPath(agenda_id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    app.revoke_agenda_feed(&me, &AgendaId(agenda_id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// An agenda's appointments as an iCalendar feed, from 7 days back to 92 days ahead: the
/// motive as summary (with the patient's name only when the practice turned names on), a
/// stable UID per appointment (a move keeps it and raises `SEQUENCE`), cancelled ones as
/// `STATUS:CANCELLED` while in that window. The token in the path (optionally followed by
/// `.ics`) is the credential: no bearer token, calendar apps cannot send one. 404 once
/// rotated or revoked.
#[utoipa::path(get, path = "/api/v1/agenda-feeds/{token}", operation_id = "agendaFeed", tag = "practitioner",
    params(("token" = String, Path, description = "the feed's secret token, optionally followed by `.ics`")),
    responses((status = 200, description = "RFC 5545 calendar of the agenda's appointments", body = String, content_type = "text/calendar"),
              (status = 404, body = Problem)))]
pub async fn feed(
    State(app): State<Arc<Scheduling>>,
    ApiPath(token): ApiPath<String>,
) -> Result<Response, ApiError> {
    match app.agenda_feed_ics(&token).await? {
        Some(ics) => Ok((
            [
                (header::CONTENT_TYPE, "text/calendar; charset=utf-8"),
                (
                    header::CONTENT_DISPOSITION,
                    "inline; filename=\"agenda.ics\"",
                ),
                (header::CACHE_CONTROL, "private, no-store"),
            ],
            ics,
        )
            .into_response()),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not-found",
            "no calendar feed has this token",
        )),
    }
}
