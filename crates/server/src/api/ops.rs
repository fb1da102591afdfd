//! What an operator needs of a node: readiness (`/readyz`, apart from liveness `/healthz`),
//! Prometheus metrics (`/metrics`), and for every request an id (`X-Request-Id`) that is
//! echoed, written in every log line of the request and in every problem+json body, with the
//! request counted and timed under its route pattern.

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use careslot_core::error::ApiError;
use careslot_core::observe::{self, RequestContext, METRICS_CONTENT_TYPE};
use careslot_core::Core;
use serde::Serialize;
use std::sync::Arc;
use std::time::Instant;
use tracing::Instrument;
use utoipa::ToSchema;

/// The request id header: taken from the client when sane, else generated; always answered.
pub static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Route label of requests no route matched (unknown paths): never the raw path.
const UNMATCHED: &str = "unmatched";

/// Readiness answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReadyBody {
    pub status: &'static str,
}

/// Readiness: the database answers a trivial query and the key service answers. A balancer
/// sends traffic only to ready nodes; `/healthz` only says the process is alive.
#[utoipa::path(get, path = "/readyz", tag = "public", responses(
    (status = 200, description = "ready: database and key service answer", body = ReadyBody),
    (status = 503, description = "not ready (`Retry-After` set)", body = careslot_core::error::Problem, content_type = "application/problem+json"),
))]
pub async fn readyz(State(core): State<Arc<Core>>) -> Result<Json<ReadyBody>, ApiError> {
    match core.ready().await {
        Ok(()) => Ok(Json(ReadyBody { status: "ready" })),
        Err(what) => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not-ready",
            format!("not ready: the {what} does not answer"),
        )),
    }
}

/// The node's metrics in the Prometheus text format (0.0.4): requests by route pattern and
/// status with latency histograms, bookings and conflicts, waiting-room admissions, the
/// database pool, the booking writer (group sizes, queue), the outbox (depth by state,
/// deliveries by outcome), the key service (latency, cache hits). Labels never carry ids or
/// personal data.
#[utoipa::path(get, path = "/metrics", tag = "public", responses(
    (status = 200, description = "Prometheus text exposition format 0.0.4", body = String, content_type = "text/plain"),
))]
pub async fn metrics(State(core): State<Arc<Core>>) -> Response {
    core.metrics.sample(&*core.store).await;
    match core.metrics.render() {
        Ok(text) => ([(header::CONTENT_TYPE, METRICS_CONTENT_TYPE)], text).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "metrics cannot be rendered");
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "an internal error occurred",
            )
            .into_response()
        }
    }
}

/// Around every routed request: its id, its span (every log line of the request carries
/// `request_id`), its context (problem bodies carry the id) and its metrics.
pub async fn observe(State(core): State<Arc<Core>>, mut req: Request, next: Next) -> Response {
    let id = req
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| observe::sane_request_id(v))
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
    let header_value = HeaderValue::from_str(&id).ok();
    if let Some(v) = &header_value {
        req.headers_mut().insert(REQUEST_ID.clone(), v.clone());
    }
    let method = req.method().clone();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned());
    let route = route.as_deref().unwrap_or(UNMATCHED);
    let write = !matches!(method, Method::GET | Method::HEAD | Method::OPTIONS);
    // ERROR level: a span's level only decides when it is enabled, and this one must be
    // whenever anything is logged (CARESLOT_LOG=warn too), so every line carries the id.
    let span = tracing::error_span!("request", request_id = %id, method = %method, route = %route);
    let started = Instant::now();
    let ctx = RequestContext { id, write };
    let mut resp = observe::with_request(ctx, next.run(req))
        .instrument(span)
        .await;
    core.metrics.http_request(
        method.as_str(),
        route,
        resp.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    if let Some(v) = header_value {
        resp.headers_mut().insert(REQUEST_ID.clone(), v);
    }
    resp
}
