//! The HTTP error type: every failure leaves as RFC 9457 `application/problem+json`.
//! Details name the offending field but never echo values (they may be health data), and
//! internal errors are logged with context while the client gets a generic message.

use crate::AppError;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use careslot_store::{ConflictKind, StoreError};
use serde::Serialize;
use utoipa::ToSchema;

/// RFC 9457 problem details.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// The request's `X-Request-Id`, to find its log lines.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

/// Seconds a client is told to wait (`Retry-After`) before retrying a 503.
pub const RETRY_AFTER_SECONDS: u32 = 1;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub slug: &'static str,
    pub detail: String,
    /// Seconds for the `Retry-After` header, when the client should come back later.
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, slug: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            slug,
            detail: detail.into(),
            retry_after: None,
        }
    }

    /// Adds a `Retry-After` header (seconds) to the problem.
    pub fn retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds.max(1));
        self
    }

    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad-request", detail)
    }

    pub fn invalid(field: &str, message: &str) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-field",
            format!("{field}: {message}"),
        )
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not-found",
            format!("{what} not found"),
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let request = crate::observe::current_request();
        let (slug, detail) = match (self.slug, &request) {
            // The database failed under a write: it may or may not have been done (a COMMIT
            // whose answer was lost). The same Idempotency-Key answers what was done, or does
            // it once.
            ("database-unavailable", Some(r)) if r.write => (
                "retry-with-same-key",
                "the database is unavailable and this request may or may not have been carried out; retry it shortly with the same Idempotency-Key, which answers what was done or does it once".to_owned(),
            ),
            (slug, _) => (slug, self.detail),
        };
        let title = self.status.canonical_reason().unwrap_or("Error").to_owned();
        let body = Problem {
            kind: format!("https://careslot.eu/problems/{slug}"),
            title,
            status: self.status.as_u16(),
            detail,
            request_id: request.map(|r| r.id),
        };
        let json = serde_json::to_vec(&body).unwrap_or_default();
        let mut resp = (
            self.status,
            [(header::CONTENT_TYPE, "application/problem+json")],
            json,
        )
            .into_response();
        let retry = self
            .retry_after
            .or((self.status == StatusCode::SERVICE_UNAVAILABLE)
                .then_some(u64::from(RETRY_AFTER_SECONDS)));
        if let Some(s) = retry {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from(s));
        }
        resp
    }
}

impl From<AppError> for ApiError {
    fn from(e: AppError) -> Self {
        use AppError as E;
        match e {
            E::Invalid(d) => ApiError::invalid(d.field, &d.message),
            E::BadRequest(m) => ApiError::bad_request(m),
            E::Unauthenticated => ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "missing, invalid or expired credentials",
            ),
            E::BadCredentials => ApiError::new(
                StatusCode::UNAUTHORIZED,
                "bad-credentials",
                "email or password is incorrect",
            ),
            E::Forbidden(m) => ApiError::new(StatusCode::FORBIDDEN, "forbidden", m),
            E::NotVerified => ApiError::new(
                StatusCode::FORBIDDEN,
                "practitioner-not-verified",
                "your professional identifier is not verified yet: declare it (PUT /api/v1/practitioner/identifier) and wait for the platform's review; only verified practitioners sign prescriptions and are listed in search",
            ),
            E::NotFound(what) => ApiError::not_found(what),
            E::Conflict(slug, m) => ApiError::new(StatusCode::CONFLICT, slug, m),
            E::Rule(m) => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "booking-rule", m),
            E::TooLarge(m) => ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "too-large", m),
            E::UnsupportedType(m) => {
                ApiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported-type", m)
            }
            E::KeyService => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "key-service-unavailable",
                "the key-custody service is unavailable, so health data cannot be read or written; retry shortly",
            ),
            E::TooManyAttempts { retry_after_s } => ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too-many-attempts",
                "too many failed attempts; wait for the time given in Retry-After, then try again",
            )
            .retry_after(retry_after_s),
            E::Busy { retry_after_s } => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "authentication-busy",
                "too many sign-ins are being checked right now; retry after the time given in Retry-After",
            )
            .retry_after(retry_after_s),
            E::MfaRequired => ApiError::new(
                StatusCode::FORBIDDEN,
                "mfa-required",
                "practice accounts read patient data only after signing in with two-factor authentication: set it up (POST /api/v1/me/mfa, then POST /api/v1/me/mfa/confirm) or sign in again with your code",
            ),
            E::BadCode => ApiError::new(
                StatusCode::UNAUTHORIZED,
                "bad-code",
                "code: the code is incorrect, expired or already used",
            ),
            E::ReauthRequired => ApiError::new(
                StatusCode::FORBIDDEN,
                "reauthentication-required",
                "confirm your password (and your two-factor code, where set up) with POST /api/v1/sessions/current/reauthenticate, then retry within the time allowed",
            ),
            E::Store(s) => s.into(),
            E::Payment(p) => payment_problem(p),
        }
    }
}

/// Payment failures: a declined card is the patient's to fix (402, nothing booked); the
/// provider's trouble is ours (502/503); a refused webhook is 400 (404 when none is
/// configured).
fn payment_problem(p: crate::PaymentFailure) -> ApiError {
    use crate::payment_failure::{PaymentError as P, WebhookError as W};
    use crate::PaymentFailure as F;
    match p {
        F::Provider(P::Declined(_)) => ApiError::new(
            StatusCode::PAYMENT_REQUIRED,
            "payment-declined",
            "payment_method: the card was declined; nothing was booked",
        ),
        F::Provider(P::ActionRequired) => ApiError::new(
            StatusCode::PAYMENT_REQUIRED,
            "payment-declined",
            "payment_method: the card requires authentication, which this booking flow cannot ask for; nothing was booked",
        ),
        F::Provider(P::Unavailable(e)) => {
            tracing::warn!(error = %e, "payment provider unavailable");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "payment-unavailable",
                "the payment provider cannot be reached; nothing was booked, retry shortly",
            )
        }
        F::Provider(P::NotOnline) => ApiError::new(
            StatusCode::NOT_FOUND,
            "not-found",
            "online payment is not configured",
        ),
        F::Provider(e @ (P::Rejected(_) | P::Protocol(_))) => {
            tracing::error!(error = %e, "payment provider error");
            ApiError::new(
                StatusCode::BAD_GATEWAY,
                "payment-provider-error",
                "the payment provider refused the request; nothing was booked",
            )
        }
        F::Webhook(W::NotConfigured) => ApiError::new(
            StatusCode::NOT_FOUND,
            "not-found",
            "no payment webhook is configured",
        ),
        F::Webhook(w) => {
            let slug = match w {
                W::Replayed => "webhook-replayed",
                W::Stale => "webhook-stale",
                W::BadPayload => "webhook-payload",
                _ => "webhook-signature",
            };
            ApiError::new(StatusCode::BAD_REQUEST, slug, w.to_string())
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(kind) => {
                let (slug, detail) = match kind {
                    ConflictKind::EmailTaken => {
                        ("email-taken", "an account with this email exists")
                    }
                    ConflictKind::SlotTaken => ("slot-taken", "this time is no longer free"),
                    ConflictKind::CapacityExhausted => {
                        ("capacity-exhausted", "no place is left at this time")
                    }
                    ConflictKind::Duplicate => ("duplicate", "this resource exists already"),
                    ConflictKind::NotLive => ("not-live", "this reservation is no longer active"),
                    ConflictKind::StockExhausted => (
                        "stock-exhausted",
                        "no dose of this vaccine is left for that day",
                    ),
                    ConflictKind::StockBelowBooked => (
                        "stock-below-booked",
                        "the stock cannot be lower than the doses already booked that day",
                    ),
                    ConflictKind::Changed => (
                        "changed-meanwhile",
                        "this changed while the request was prepared; try again",
                    ),
                };
                ApiError::new(StatusCode::CONFLICT, slug, detail)
            }
            StoreError::NotFound => ApiError::not_found("resource"),
            StoreError::IdempotencyMismatch => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency-key-reused",
                "Idempotency-Key: this key was used with a different request",
            ),
            StoreError::HoldExpired => ApiError::new(
                StatusCode::CONFLICT,
                "hold-expired",
                "the hold has expired; choose a slot again",
            ),
            StoreError::Unavailable(msg) => {
                tracing::warn!(error = %msg, "database unavailable");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "database-unavailable",
                    "the database is unavailable; retry shortly",
                )
            }
            StoreError::Internal(msg) => {
                tracing::error!(error = %msg, "storage error");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "an internal error occurred",
                )
            }
        }
    }
}

/// Serde messages may quote the rejected value; keep only what names the problem.
pub fn scrub_serde_message(msg: &str) -> String {
    let msg = msg.split(" at line ").next().unwrap_or(msg);
    for prefix in ["invalid type", "invalid value", "invalid length"] {
        if let Some(rest) = msg.strip_prefix(prefix) {
            return match rest.find(", expected ") {
                Some(i) => format!("{prefix}{}", &rest[i..]),
                None => prefix.to_owned(),
            };
        }
    }
    if msg.starts_with("unknown variant") {
        return match msg.find(", expected ") {
            Some(i) => format!("unknown variant{}", &msg[i..]),
            None => "unknown variant".to_owned(),
        };
    }
    msg.to_owned()
}

#[cfg(test)]
mod tests {
    use super::scrub_serde_message as scrub;

    /// A database failure answers 503 with Retry-After; under a write it says to retry with
    /// the same Idempotency-Key; the request id is in the body.
    #[tokio::test]
    async fn database_failures_say_how_to_retry() {
        use crate::observe::{with_request, RequestContext};
        use axum::response::IntoResponse;
        async fn answer(
            ctx: Option<RequestContext>,
        ) -> (axum::http::Response<axum::body::Body>, serde_json::Value) {
            let fail = async {
                super::ApiError::from(careslot_store::StoreError::Unavailable("lost".into()))
                    .into_response()
            };
            let resp = match ctx {
                Some(ctx) => with_request(ctx, fail).await,
                None => fail.await,
            };
            let (parts, body) = resp.into_parts();
            let bytes = axum::body::to_bytes(body, 1 << 16).await.unwrap();
            (
                axum::http::Response::from_parts(parts, axum::body::Body::empty()),
                serde_json::from_slice(&bytes).unwrap(),
            )
        }
        let write = RequestContext {
            id: "req-1".into(),
            write: true,
        };
        let (resp, body) = answer(Some(write)).await;
        assert_eq!(resp.status(), 503);
        assert_eq!(resp.headers()["retry-after"], "1");
        assert_eq!(
            body["type"],
            "https://careslot.eu/problems/retry-with-same-key"
        );
        assert_eq!(body["request_id"], "req-1");
        let read = RequestContext {
            id: "req-2".into(),
            write: false,
        };
        let (_, body) = answer(Some(read)).await;
        assert_eq!(
            body["type"],
            "https://careslot.eu/problems/database-unavailable"
        );
        let (resp, body) = answer(None).await;
        assert_eq!(resp.headers()["retry-after"], "1");
        assert!(body.get("request_id").is_none());
        assert!(body.get("detail").is_some() && body.get("title").is_some());
    }

    #[test]
    fn scrubs_values() {
        assert_eq!(
            scrub("invalid type: string \"Jean Dupont\", expected u32 at line 1 column 20"),
            "invalid type, expected u32"
        );
        assert_eq!(
            scrub("unknown variant `secret`, expected `patient` or `practitioner`"),
            "unknown variant, expected `patient` or `practitioner`"
        );
        assert_eq!(scrub("missing field `email`"), "missing field `email`");
    }
}
