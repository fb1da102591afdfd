//! Earlier-slot alerts (issue 14): `POST`/`GET /api/v1/me/alerts`, `DELETE
//! /api/v1/me/alerts/{id}`. An offered place is confirmed like any hold:
//! `POST /api/v1/appointments {hold_id}`.

use super::extract::{ApiJson, ApiPath, Caller};
use crate::alerts::AlertView;
use crate::Scheduling;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use careslot_core::error::{ApiError, Problem};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::ToSchema;

#[derive(Debug, Deserialize, ToSchema)]
pub struct NewAlertBody {
    pub agenda_id: String,
    pub motive_id: String,
    /// Only places starting before this local date (`YYYY-MM-DD`); any earlier place if absent.
    pub before: Option<String>,
}

/// A place held for the patient until `expires_at`; confirm it with
/// `POST /api/v1/appointments {"hold_id": ...}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct OfferBody {
    pub hold_id: String,
    pub start: String,
    pub expires_at: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AlertBody {
    pub id: String,
    pub agenda_id: String,
    pub motive_id: String,
    /// The first instant no longer wanted (local midnight of the requested date).
    pub before: Option<String>,
    pub created_at: String,
    pub offers: Vec<OfferBody>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AlertListBody {
    pub alerts: Vec<AlertBody>,
}

fn local(t: Timestamp, tz: &jiff::tz::TimeZone) -> String {
    t.to_zoned(tz.clone())
        .strftime("%Y-%m-%dT%H:%M:%S%:z")
        .to_string()
}

impl From<&AlertView> for AlertBody {
    fn from(v: &AlertView) -> Self {
        Self {
            id: v.alert.id.clone(),
            agenda_id: v.alert.agenda_id.to_string(),
            motive_id: v.motive_id.to_string(),
            before: v.alert.before.map(|t| local(t, &v.tz)),
            created_at: local(v.alert.created_at, &v.tz),
            offers: v
                .offers
                .iter()
                .map(|o| OfferBody {
                    hold_id: o.hold_id.to_string(),
                    start: local(o.start, &v.tz),
                    expires_at: local(o.expires_at, &v.tz),
                })
                .collect(),
        }
    }
}

/// Ask to be offered an earlier place in an agenda for a motive.
#[utoipa::path(post, path = "/api/v1/me/alerts", tag = "patient", security(("bearer" = [])),
    request_body = NewAlertBody,
    responses((status = 201, body = AlertBody), (status = 403, body = Problem), (status = 404, body = Problem),
              (status = 409, description = "too many alerts", body = Problem), (status = 422, body = Problem)))]
pub async fn create_alert(
    State(app): State<Arc<Scheduling>>,
    Caller(me): Caller,
    ApiJson(b): ApiJson<NewAlertBody>,
) -> Result<(StatusCode, Json<AlertBody>), ApiError> {
    let v = app
        .subscribe_alert(&me, &b.agenda_id, &b.motive_id, b.before.as_deref())
        .await?;
    Ok((StatusCode::CREATED, Json(AlertBody::from(&v))))
}

/// The caller's alerts in subscription order, with the places currently held for them.
#[utoipa::path(get, path = "/api/v1/me/alerts", tag = "patient", security(("bearer" = [])),
    responses((status = 200, body = AlertListBody), (status = 403, body = Problem)))]
pub async fn list_alerts(
    State(app): State<Arc<Scheduling>>,
    Caller(me): Caller,
) -> Result<Json<AlertListBody>, ApiError> {
    let alerts = app.alerts_of(&me).await?;
    Ok(Json(AlertListBody {
        alerts: alerts.iter().map(AlertBody::from).collect(),
    }))
}

/// Stop an alert (a place held for it lapses at its expiry).
#[utoipa::path(delete, path = "/api/v1/me/alerts/{id}", tag = "patient", security(("bearer" = [])),
    params(("id" = String, Path, description = "alert id")),
    responses((status = 204, description = "deleted"), (status = 404, body = Problem)))]
pub async fn delete_alert(
    State(app): State<Arc<Scheduling>>,
    Caller(me): Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    app.delete_alert(&me, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
