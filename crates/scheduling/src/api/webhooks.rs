//! A practice's webhooks (issue 19, point 5): subscribe an URL to appointment events (the
//! signing secret is in the creation answer only), list, delete, and read the delivery log.
//! How a receiver checks a signature: the README's "Webhooks" section and
//! [`crate::webhooks`].

use super::extract::{ApiJson, ApiPath, ApiQuery, Caller};
use crate::Scheduling;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use careslot_core::error::{ApiError, Problem};
use careslot_store::{WebhookDelivery, WebhookSubscription};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::{IntoParams, ToSchema};

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWebhookBody {
    /// Where events are POSTed: `https://…` (`http://` only to localhost).
    pub url: String,
    /// Any of `appointment.booked`, `appointment.cancelled`, `appointment.moved`,
    /// `appointment.no_show`.
    pub events: Vec<String>,
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
pub struct WebhookBody {
    pub id: String,
    pub url: String,
    pub events: Vec<String>,
    pub created_at: String,
    /// From when changes reach this webhook: its creation on a single-node installation, a
    /// few seconds later where several nodes serve the database (the time every node takes
    /// to learn of it).
    pub active_from: String,
    /// Only in the answer to the creation: the key of the `Careslot-Signature` HMAC. It is
    /// never shown again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
pub struct WebhooksBody {
    pub webhooks: Vec<WebhookBody>,
}

/// One event sent (or to send) to one webhook.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
pub struct DeliveryBody {
    /// The event's id: the `Careslot-Webhook-Id` header and the payload's `id`.
    pub id: String,
    pub event: String,
    /// `pending` (queued or being retried), `delivered` or `dead` (no more attempts).
    pub status: String,
    pub attempts: u32,
    /// HTTP status of the receiver's last answer.
    pub last_status: Option<u16>,
    pub last_error: Option<String>,
    pub created_at: String,
    pub delivered_at: Option<String>,
    /// When a pending delivery is tried next.
    pub next_attempt_at: Option<String>,
    /// The JSON body sent.
    pub payload: serde_json::Value,
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
pub struct DeliveriesBody {
    pub deliveries: Vec<DeliveryBody>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeliveriesQuery {
    /// At most this many, newest first (1 to 500, default 100).
    limit: Option<i64>,
}

fn instant(t: Timestamp) -> String {
    Timestamp::from_second(t.as_second())
        .unwrap_or(t)
        .to_string()
}

fn body(app: &Scheduling, sub: &WebhookSubscription, secret: Option<String>) -> WebhookBody {
    let active = sub
        .created_at
        .checked_add(app.store.webhook_activation_delay())
        .unwrap_or(sub.created_at);
    // Whole seconds, rounded up: a client that waits until then is past it.
    let up = if active.subsec_nanosecond() > 0 {
        Timestamp::from_second(active.as_second().saturating_add(1)).unwrap_or(active)
    } else {
        active
    };
    WebhookBody {
        id: sub.id.clone(),
        url: sub.url.clone(),
        events: sub.events.iter().map(|e| e.code().to_owned()).collect(),
        created_at: instant(sub.created_at),
        active_from: up.to_string(),
        secret,
    }
}

fn delivery(d: &WebhookDelivery) -> DeliveryBody {
    let status = if d.delivered_at.is_some() {
        "delivered"
    } else if d.dead_at.is_some() {
        "dead"
    } else {
        "pending"
    };
    DeliveryBody {
        id: d.event_id.clone(),
        event: d.event.code().to_owned(),
        status: status.to_owned(),
        attempts: d.attempts,
        last_status: d.last_status,
        last_error: d.last_error.clone(),
        created_at: instant(d.created_at),
        delivered_at: d.delivered_at.map(instant),
        next_attempt_at: (status == "pending").then(|| instant(d.available_at)),
        payload: serde_json::from_str(&d.payload).unwrap_or(serde_json::Value::Null),
    }
}

/// Subscribes an URL to the practice's appointment events. The answer carries the signing
/// secret, shown this once.
///
/// Each event is POSTed as JSON (ids and times only, never the patient's identity) with the
/// headers `Careslot-Webhook-Id` (the event id, the same on every retry: deduplicate on it),
/// `Careslot-Event` and `Careslot-Signature: t=<unix seconds>,v1=<hex>`. To verify: compute
/// HMAC-SHA256 keyed with the secret (its text, `whsec_…`) over `t`, a `.` and the raw body;
/// compare it with `v1` in constant time; refuse a `t` more than five minutes from your
/// clock. Any 2xx acknowledges; other answers are retried with exponential backoff, then the
/// delivery is parked dead (at once on 410 Gone). Changes reach the webhook from its
/// `active_from`: at once on one node, a few seconds after its creation on several.
#[utoipa::path(post, path = "/api/v1/practitioner/webhooks", operation_id = "createWebhook", tag = "practitioner",
    security(("bearer" = [])), request_body = NewWebhookBody,
    responses((status = 201, body = WebhookBody), (status = 409, description = "too many webhooks", body = Problem),
              (status = 422, body = Problem)))]
pub async fn create(
    State(app): State<Arc<Scheduling>>,
    Caller(me): Caller,
    ApiJson(b): ApiJson<NewWebhookBody>,
) -> Result<(StatusCode, Json<WebhookBody>), ApiError> {
    let (sub, secret) = app.create_webhook(&me, &b.url, &b.events).await?;
    Ok((StatusCode::CREATED, Json(body(&app, &sub, Some(secret)))))
}

/// The practice's webhooks (without their secrets).
#[utoipa::path(get, path = "/api/v1/practitioner/webhooks", operation_id = "listWebhooks", tag = "practitioner",
    security(("bearer" = [])), responses((status = 200, body = WebhooksBody)))]
pub async fn list(
    State(app): State<Arc<Scheduling>>,
    Caller(me): Caller,
) -> Result<Json<WebhooksBody>, ApiError> {
    let subs = app.webhooks(&me).await?;
    Ok(Json(WebhooksBody {
        webhooks: subs.iter().map(|s| body(&app, s, None)).collect(),
    }))
}

/// Deletes a webhook and its delivery log; nothing more is sent to it.
#[utoipa::path(delete, path = "/api/v1/practitioner/webhooks/{id}", operation_id = "deleteWebhook", tag = "practitioner",
    security(("bearer" = [])), params(("id" = String, Path)),
    responses((status = 204, description = "deleted"), (status = 404, body = Problem)))]
pub async fn delete(
    State(app): State<Arc<Scheduling>>,
    Caller(me): Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    app.delete_webhook(&me, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The webhook's delivery log, newest first: each event, its state, attempts and the
/// receiver's last answer.
#[utoipa::path(get, path = "/api/v1/practitioner/webhooks/{id}/deliveries", operation_id = "webhookDeliveries", tag = "practitioner",
    security(("bearer" = [])), params(("id" = String, Path), DeliveriesQuery),
    responses((status = 200, body = DeliveriesBody), (status = 404, body = Problem)))]
pub async fn deliveries(
    State(app): State<Arc<Scheduling>>,
    Caller(me): Caller,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<DeliveriesQuery>,
) -> Result<Json<DeliveriesBody>, ApiError> {
    let rows = app
        .webhook_deliveries(&me, &id, q.limit.unwrap_or(100))
        .await?;
    Ok(Json(DeliveriesBody {
        deliveries: rows.iter().map(delivery).collect(),
    }))
}
