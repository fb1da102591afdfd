//! The waiting room over HTTP: queue tickets and their status, the operator's switch, and
//! the [`Admitted`] extractor that guards the booking entry points.

use super::extract::ApiJson;
use crate::waiting_room::{
    now_ms, poll_after_ms, ConfigureError, Pass, Refusal, RoomState, Standing, StatusError,
    TICKET_COOKIE, TICKET_HEADER,
};
use crate::{AppError, Scheduling};
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use careslot_core::cookies::{cookie, set_cookie};
use careslot_core::error::{ApiError, Problem};
use careslot_identity::api::{Operator, Permission};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::openapi::path::{Operation, ParameterBuilder, ParameterIn};
use utoipa::openapi::{ObjectBuilder, Ref, RefOr, ResponseBuilder, Type};
use utoipa::{Modify, OpenApi, ToSchema};

/// The endpoints that need an admitted ticket while the waiting room is active.
pub const GUARDED: &[&str] = &[
    "/api/v1/holds",
    "/api/v1/appointments",
    "/api/v1/vaccination/bookings",
    "/api/v1/vaccination/holds",
];

/// A queue ticket and where it stands.
#[derive(Debug, Serialize, ToSchema)]
pub struct QueueTicketBody {
    /// The signed ticket: send it in the `Careslot-Queue-Ticket` header. Always keep the
    /// latest one returned (an expired ticket is replaced by a new one).
    pub ticket: String,
    /// Whether the ticket lets its holder hold and book now.
    pub admitted: bool,
    /// Place in the queue: 1 is next; 0 once admitted.
    pub position: u64,
    /// Estimated seconds until admission; 0 once admitted.
    pub eta_s: u64,
    /// When to ask `GET /api/v1/queue/status` again (0: no need).
    pub poll_after_ms: u64,
    /// Before the opening: when the room opens (RFC 3339). Everybody who arrives before it
    /// gets a random place; positions shown until then are an estimate.
    pub opens_at: Option<String>,
    /// Once admitted: until when the ticket is honoured (RFC 3339), then take a new one.
    /// `null` while waiting or when the room is inactive.
    pub admitted_until: Option<String>,
}

fn rfc3339(ms: i64) -> Option<String> {
    jiff::Timestamp::from_millisecond(ms)
        .ok()
        .map(|t| t.to_string())
}

impl QueueTicketBody {
    pub fn new(pass: &Pass, now: i64) -> Self {
        let (admitted, position, eta_ms, opens_at, until) = match pass.standing {
            Standing::Open | Standing::Expired => (true, 0, 0, None, None),
            Standing::Admitted { until_ms } => (true, 0, 0, None, Some(until_ms)),
            Standing::Waiting {
                position,
                eta_ms,
                opens_at_ms,
            } => (false, position, eta_ms, opens_at_ms, None),
        };
        Self {
            ticket: pass.ticket.clone(),
            admitted,
            position,
            eta_s: u64::try_from((eta_ms + 999) / 1000).unwrap_or(0),
            poll_after_ms: poll_after_ms(&pass.standing, now),
            opens_at: opens_at.and_then(rfc3339),
            admitted_until: until.and_then(rfc3339),
        }
    }
}

/// The operator's view of the waiting room.
#[derive(Debug, Serialize, ToSchema)]
pub struct WaitingRoomBody {
    /// Switched on by the operator.
    pub enabled: bool,
    /// In force now: switched on by the operator or by itself past `auto_threshold`.
    pub active: bool,
    /// People admitted per second (by every node together when they share a PostgreSQL
    /// database).
    pub admission_rate: u32,
    /// Requests per second to guarded endpoints past which the room switches itself on
    /// (`null`: never).
    pub auto_threshold: Option<u32>,
    /// When the active room opens or opened (RFC 3339).
    pub opens_at: Option<String>,
    /// Tickets issued since the room was switched on.
    pub issued: u64,
    /// Queue ranks below this are admitted.
    pub admitted_watermark: u64,
}

impl From<RoomState> for WaitingRoomBody {
    fn from(s: RoomState) -> Self {
        Self {
            enabled: s.enabled,
            active: s.active,
            admission_rate: s.admission_rate,
            auto_threshold: s.auto_threshold,
            opens_at: s.opens_at_ms.and_then(rfc3339),
            issued: s.issued,
            admitted_watermark: s.admitted_watermark,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WaitingRoomUpdate {
    /// Switch the room on or off. Off lets everybody through at once.
    pub enabled: bool,
    /// People admitted per second (1 to 1,000,000); unchanged when absent.
    pub admission_rate: Option<u32>,
    /// With `enabled: true`, when the room opens (RFC 3339 instant with offset): everybody
    /// arriving before gets a random place. Can be moved until the room has opened.
    pub opens_at: Option<String>,
}

/// The ticket a request presents: the header (API), else the cookie (web pages).
pub fn presented_ticket(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(TICKET_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .or_else(|| cookie(headers, TICKET_COOKIE))
}

/// Join the queue: a signed ticket at the back of it (admitted at once when the waiting
/// room is inactive, so that clients can always follow the same flow).
#[utoipa::path(post, path = "/api/v1/queue/tickets", operation_id = "issueQueueTicket", tag = "queue",
    responses((status = 201, body = QueueTicketBody)))]
pub async fn issue(
    State(app): State<Arc<Scheduling>>,
) -> Result<(StatusCode, Json<QueueTicketBody>), ApiError> {
    let now = now_ms();
    let pass = app.waiting_room.issue(now).await.map_err(AppError::from)?;
    Ok((StatusCode::CREATED, Json(QueueTicketBody::new(&pass, now))))
}

/// Where a ticket stands: position, estimated wait, and when to ask again. A ticket of an
/// earlier opening of the room, or admitted too long ago, comes back replaced by a new one.
#[utoipa::path(get, path = "/api/v1/queue/status", tag = "queue",
    params(("Careslot-Queue-Ticket" = String, Header, description = "the ticket from POST /api/v1/queue/tickets")),
    responses((status = 200, body = QueueTicketBody),
              (status = 400, description = "missing, garbled or forged ticket", body = Problem)))]
pub async fn status(
    State(app): State<Arc<Scheduling>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let from_header = headers.contains_key(TICKET_HEADER);
    let presented = presented_ticket(&headers).ok_or_else(|| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid-queue-ticket",
            "Careslot-Queue-Ticket: missing; join the queue with POST /api/v1/queue/tickets",
        )
    })?;
    let now = now_ms();
    let pass = app
        .waiting_room
        .status(presented, now)
        .await
        .map_err(|e| match e {
            StatusError::Store(e) => ApiError::from(AppError::from(e)),
            StatusError::Invalid(_) => ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid-queue-ticket",
                "Careslot-Queue-Ticket: not a valid ticket; join the queue with POST /api/v1/queue/tickets",
            ),
        })?;
    let mut resp = (
        [(header::CACHE_CONTROL, "no-store")],
        Json(QueueTicketBody::new(&pass, now)),
    )
        .into_response();
    // The web page's script cannot read its HttpOnly cookie: renew it from here.
    if pass.renewed && !from_header {
        if let Ok(v) = HeaderValue::from_str(&ticket_cookie(&pass.ticket)) {
            resp.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    Ok(resp)
}

/// The `Set-Cookie` value that stores a ticket in the browser.
pub fn ticket_cookie(ticket: &str) -> String {
    set_cookie(TICKET_COOKIE, ticket, Some(24 * 3600))
}

/// The waiting room as the operator sees it.
#[utoipa::path(get, path = "/api/v1/operator/waiting-room", tag = "operator", security(("bearer" = [])),
    responses((status = 200, body = WaitingRoomBody), (status = 401, body = Problem)))]
pub async fn room_state(
    State(app): State<Arc<Scheduling>>,
    op: Operator,
) -> Result<Json<WaitingRoomBody>, ApiError> {
    op.require(Permission::Campaign)?;
    let state = app
        .waiting_room
        .state(now_ms())
        .await
        .map_err(AppError::from)?;
    Ok(Json(state.into()))
}

/// Switch the waiting room on (optionally from an opening time) or off, or change its
/// admission rate.
#[utoipa::path(put, path = "/api/v1/operator/waiting-room", tag = "operator", security(("bearer" = [])),
    request_body = WaitingRoomUpdate,
    responses((status = 200, body = WaitingRoomBody), (status = 401, body = Problem),
              (status = 409, description = "the room has opened already: switch it off first to schedule another opening", body = Problem),
              (status = 422, body = Problem)))]
pub async fn configure(
    State(app): State<Arc<Scheduling>>,
    op: Operator,
    ApiJson(b): ApiJson<WaitingRoomUpdate>,
) -> Result<Json<WaitingRoomBody>, ApiError> {
    op.require(Permission::Campaign)?;
    let opens_at = match &b.opens_at {
        Some(s) => Some(
            careslot_core::time::parse_instant("opens_at", s)
                .map_err(AppError::from)?
                .as_millisecond(),
        ),
        None => None,
    };
    match app
        .waiting_room
        .configure(b.enabled, b.admission_rate, opens_at, now_ms())
        .await
    {
        Ok(state) => {
            let what = if b.enabled { "on" } else { "off" };
            app.record_operator_action(&op.actor(), "waiting-room", Some(what))
                .await?;
            Ok(Json(state.into()))
        }
        Err(ConfigureError::Invalid(field, message)) => Err(ApiError::invalid(field, message)),
        Err(ConfigureError::AlreadyOpen) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "waiting-room-open",
            "the waiting room has opened already; switch it off first to schedule another opening",
        )),
        Err(ConfigureError::Unavailable) => Err(ApiError::from(AppError::Store(
            careslot_store::StoreError::Unavailable("waiting room".into()),
        ))),
    }
}

/// Proof that a request may reach a booking entry point: the waiting room is inactive, or
/// the request carries an admitted ticket (`Careslot-Queue-Ticket` header or the web's
/// cookie). Otherwise 429 with `Retry-After`.
pub struct Admitted;

impl<S> FromRequestParts<S> for Admitted
where
    S: Send + Sync,
    Arc<Scheduling>: axum::extract::FromRef<S>,
{
    type Rejection = QueueRequired;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, QueueRequired> {
        let app = <Arc<Scheduling> as axum::extract::FromRef<S>>::from_ref(state);
        let ticket = presented_ticket(&parts.headers);
        app.waiting_room
            .admit(ticket, now_ms())
            .map(|()| {
                if ticket.is_some() {
                    app.metrics.admitted();
                }
                Admitted
            })
            .map_err(QueueRequired)
    }
}

/// 429 problem+json telling how to join the queue.
pub struct QueueRequired(pub Refusal);

impl IntoResponse for QueueRequired {
    fn into_response(self) -> Response {
        let join =
            "join the queue with POST /api/v1/queue/tickets, follow GET /api/v1/queue/status, \
                    then send the admitted ticket in the Careslot-Queue-Ticket header";
        let (retry_s, detail) = match self.0 {
            Refusal::NoTicket => (1, format!("the waiting room is active: {join}")),
            Refusal::Invalid => (
                1,
                format!("the waiting room is active and this queue ticket is not valid: {join}"),
            ),
            Refusal::Expired => (
                1,
                format!("this queue ticket has expired or is from an earlier opening: {join}"),
            ),
            Refusal::Waiting { position, eta_ms } => (
                ((eta_ms + 999) / 1000).max(1),
                format!(
                    "this queue ticket is not admitted yet (position {position}); \
                     follow GET /api/v1/queue/status"
                ),
            ),
        };
        let mut resp =
            ApiError::new(StatusCode::TOO_MANY_REQUESTS, "queue-required", detail).into_response();
        if let Ok(v) = HeaderValue::from_str(&retry_s.to_string()) {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
        resp
    }
}

#[derive(OpenApi)]
#[openapi(paths(issue, status, room_state, configure))]
struct QueueApi;

/// The waiting room in the OpenAPI document: its endpoints, and the ticket header and the
/// 429 answer on the guarded operations (their handlers take [`Admitted`]).
pub struct QueueDoc;

impl Modify for QueueDoc {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        openapi.merge(QueueApi::openapi());
        for path in GUARDED {
            let Some(item) = openapi.paths.paths.get_mut(*path) else {
                continue;
            };
            if let Some(op) = item.post.as_mut() {
                document_guard(op);
            }
        }
    }
}

fn document_guard(op: &mut Operation) {
    let param = ParameterBuilder::new()
        .name("Careslot-Queue-Ticket")
        .parameter_in(ParameterIn::Header)
        .description(Some(
            "an admitted queue ticket; required while the waiting room is active",
        ))
        .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
        .build();
    op.parameters.get_or_insert_with(Vec::new).push(param);
    let response = ResponseBuilder::new()
        .description(
            "the waiting room is active and no admitted ticket was sent: join the queue with \
             POST /api/v1/queue/tickets (`Retry-After` says when to try again)",
        )
        .content(
            "application/problem+json",
            utoipa::openapi::ContentBuilder::new()
                .schema(Some(RefOr::Ref(Ref::from_schema_name("Problem"))))
                .build(),
        )
        .build();
    op.responses
        .responses
        .insert("429".to_owned(), RefOr::T(response));
}
