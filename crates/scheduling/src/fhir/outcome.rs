//! Errors as `OperationOutcome`. Handlers and extractors refuse with the shared
//! [`careslot_core::error::ApiError`] (so statuses, `Retry-After` and the scrubbed details are
//! exactly those of `/api/v1`); this layer rewrites every refusal of the `/fhir` routes into
//! an `OperationOutcome`, keeping the status and the headers.

use super::FHIR_JSON;
use axum::body::{to_bytes, Body};
use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use serde_json::{json, Value};

/// Largest refusal body read back (problem+json bodies are a few hundred bytes).
const MAX_PROBLEM_BYTES: usize = 16 * 1024;

/// The FHIR `issue.code` of an HTTP refusal.
pub fn issue_code(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "invalid",
        401 => "login",
        403 => "forbidden",
        404 => "not-found",
        405 | 406 | 415 => "not-supported",
        409 => "conflict",
        410 => "deleted",
        413 => "too-long",
        422 => "business-rule",
        429 => "throttled",
        503 => "transient",
        _ => "exception",
    }
}

/// An `OperationOutcome` of one error issue.
pub fn operation_outcome(status: StatusCode, text: &str, diagnostics: Option<&str>) -> Value {
    let mut issue = json!({
        "severity": "error",
        "code": issue_code(status),
        "details": {"text": text},
    });
    if let Some(d) = diagnostics {
        issue["diagnostics"] = Value::from(d);
    }
    json!({"resourceType": "OperationOutcome", "issue": [issue]})
}

/// Rewrites refusals (4xx, 5xx) into `OperationOutcome`s; the problem's detail becomes the
/// issue's text, its type and request id the diagnostics.
pub async fn to_operation_outcome(req: Request, next: Next) -> Response {
    let resp = next.run(req).await;
    let status = resp.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    let bytes = to_bytes(body, MAX_PROBLEM_BYTES).await.unwrap_or_default();
    let problem: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let text = problem["detail"]
        .as_str()
        .or(status.canonical_reason())
        .unwrap_or("error")
        .to_owned();
    let diagnostics = match (problem["type"].as_str(), problem["request_id"].as_str()) {
        (Some(t), Some(r)) => Some(format!("{t} (request {r})")),
        (Some(t), None) => Some(t.to_owned()),
        (None, Some(r)) => Some(format!("request {r}")),
        (None, None) => None,
    };
    let outcome = operation_outcome(status, &text, diagnostics.as_deref());
    let out = serde_json::to_vec(&outcome).unwrap_or_default();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts
        .headers
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(FHIR_JSON));
    if status == StatusCode::UNAUTHORIZED {
        parts
            .headers
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    Response::from_parts(parts, Body::from(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::get;
    use axum::Router;
    use careslot_core::error::ApiError;
    use careslot_store::StoreError;
    use tower::ServiceExt;

    async fn answer(uri: &str) -> (StatusCode, axum::http::HeaderMap, Value) {
        let router = Router::new()
            .route(
                "/down",
                get(|| async { ApiError::from(StoreError::Unavailable("lost".into())) }),
            )
            .route("/ok", get(|| async { "fine" }))
            .layer(axum::middleware::from_fn(to_operation_outcome));
        let req = axum::http::Request::builder()
            .uri(uri)
            .body(Body::empty())
            .expect("request");
        let resp = router.oneshot(req).await.expect("answer");
        let (parts, body) = resp.into_parts();
        let bytes = to_bytes(body, 1 << 16).await.expect("body");
        let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        (parts.status, parts.headers, value)
    }

    /// A store failure stays a 503 with Retry-After, as an OperationOutcome; successes pass
    /// through untouched.
    #[tokio::test]
    async fn store_failures_are_transient_outcomes() {
        let (status, headers, body) = answer("/down").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(headers[header::RETRY_AFTER], "1");
        assert!(headers[header::CONTENT_TYPE]
            .to_str()
            .is_ok_and(|v| v.starts_with("application/fhir+json")));
        assert_eq!(body["resourceType"], "OperationOutcome");
        assert_eq!(body["issue"][0]["code"], "transient");
        assert_eq!(body["issue"][0]["severity"], "error");
        assert!(body["issue"][0]["diagnostics"]
            .as_str()
            .is_some_and(|d| d.contains("database-unavailable")));
        let (status, _, _) = answer("/ok").await;
        assert_eq!(status, StatusCode::OK);
    }
}
