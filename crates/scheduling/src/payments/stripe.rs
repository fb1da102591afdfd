//! The Stripe adapter: PaymentIntents with manual capture, as Stripe documents them.
//!
//! - authorise: `POST /v1/payment_intents` (form-encoded: `amount`, `currency`,
//!   `capture_method=manual`, `confirm=true`, `payment_method`, `payment_method_types[]=card`,
//!   `metadata[appointment_id]`) → a `payment_intent` in `requires_capture`;
//! - capture: `POST /v1/payment_intents/{id}/capture` → `succeeded`;
//! - release: `POST /v1/payment_intents/{id}/cancel` → `canceled`.
//!
//! Every POST carries `Authorization: Bearer <secret key>` and an `Idempotency-Key`.
//! Errors come as `{"error": {"type", "code", "decline_code", "message"}}`: a 402 or a
//! `card_error` is a declined card; 429 and 5xx are transient. Nothing about the
//! consultation (motive, practitioner, patient) is sent: only the amount and our opaque
//! appointment id.

use super::*;
use careslot_vault::SecretToken;
use serde::Deserialize;
use std::time::Duration;

#[derive(Clone, Debug)]
pub struct StripeConfig {
    /// `https://api.stripe.com` (a local stand-in in tests).
    pub api_base: String,
    pub secret_key: SecretToken,
    pub webhook_secret: SecretToken,
    /// Accepted age of a webhook signature, in seconds.
    pub tolerance_s: i64,
}

pub struct Stripe {
    http: reqwest::Client,
    config: StripeConfig,
}

impl Stripe {
    pub fn new(config: StripeConfig) -> Result<Self, PaymentError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| PaymentError::Protocol(format!("http client: {e}")))?;
        Ok(Self { http, config })
    }

    async fn post(
        &self,
        path: &str,
        form: &[(&str, &str)],
        idempotency_key: &str,
    ) -> Result<Intent, PaymentError> {
        let url = format!("{}{path}", self.config.api_base.trim_end_matches('/'));
        let body = serde_urlencoded::to_string(form)
            .map_err(|e| PaymentError::Protocol(format!("form: {e}")))?;
        let resp = self
            .http
            .post(url)
            .bearer_auth(self.config.secret_key.expose())
            .header("Idempotency-Key", idempotency_key)
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(body)
            .send()
            .await
            .map_err(|e| PaymentError::Unavailable(without_url(e)))?;
        let status = resp.status();
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| PaymentError::Unavailable(without_url(e)))?;
        if status.is_success() {
            let pi: StripeIntent = serde_json::from_slice(&bytes)
                .map_err(|e| PaymentError::Protocol(format!("payment_intent: {e}")))?;
            return pi.into_intent();
        }
        let err = serde_json::from_slice::<StripeErrorBody>(&bytes)
            .map(|b| b.error)
            .unwrap_or_default();
        Err(map_error(status.as_u16(), err))
    }
}

/// reqwest's errors name the URL; ours is harmless, but keep logs to the cause.
fn without_url(e: reqwest::Error) -> String {
    e.without_url().to_string()
}

fn map_error(status: u16, e: StripeError) -> PaymentError {
    let what = format!(
        "{} {}",
        e.kind.as_deref().unwrap_or("?"),
        e.code.as_deref().unwrap_or("")
    );
    match status {
        402 => PaymentError::Declined(e.decline_code.or(e.code).unwrap_or_default()),
        _ if e.kind.as_deref() == Some("card_error") => {
            PaymentError::Declined(e.decline_code.or(e.code).unwrap_or_default())
        }
        429 | 500..=599 => PaymentError::Unavailable(format!("HTTP {status} {what}")),
        _ => PaymentError::Rejected(format!("HTTP {status} {what}")),
    }
}

#[derive(Debug, Deserialize)]
struct StripeErrorBody {
    error: StripeError,
}

#[derive(Debug, Default, Deserialize)]
struct StripeError {
    #[serde(rename = "type")]
    kind: Option<String>,
    code: Option<String>,
    decline_code: Option<String>,
}

#[derive(Debug, Deserialize)]
struct StripeIntent {
    id: String,
    object: String,
    status: String,
    #[serde(default)]
    amount_capturable: i64,
    #[serde(default)]
    amount_received: i64,
    #[serde(default)]
    metadata: std::collections::HashMap<String, String>,
}

impl StripeIntent {
    fn into_intent(mut self) -> Result<Intent, PaymentError> {
        if self.object != "payment_intent" {
            return Err(PaymentError::Protocol(format!(
                "expected a payment_intent, got {}",
                self.object
            )));
        }
        Ok(Intent {
            status: IntentStatus::parse(&self.status),
            appointment_id: self.metadata.remove("appointment_id"),
            id: self.id,
            amount_capturable: self.amount_capturable,
            amount_received: self.amount_received,
        })
    }
}

#[derive(Debug, Deserialize)]
struct StripeEvent {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    data: StripeEventData,
}

#[derive(Debug, Deserialize)]
struct StripeEventData {
    object: serde_json::Value,
}

/// Intent ids go into URL paths: only what Stripe's ids are made of.
fn valid_intent_id(id: &str) -> bool {
    id.starts_with("pi_")
        && id.len() <= 255
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

#[async_trait]
impl PaymentProvider for Stripe {
    fn name(&self) -> &'static str {
        "stripe"
    }

    fn online(&self) -> bool {
        true
    }

    async fn authorise(&self, a: &Authorisation<'_>) -> Result<Intent, PaymentError> {
        let amount = a.amount_cents.to_string();
        let currency = a.currency.to_ascii_lowercase();
        let intent = self
            .post(
                "/v1/payment_intents",
                &[
                    ("amount", &amount),
                    ("currency", &currency),
                    ("capture_method", "manual"),
                    ("confirm", "true"),
                    ("payment_method", a.payment_method),
                    ("payment_method_types[]", "card"),
                    ("metadata[appointment_id]", a.appointment_id),
                ],
                a.idempotency_key,
            )
            .await?;
        match intent.status {
            IntentStatus::RequiresCapture => Ok(intent),
            IntentStatus::RequiresAction => {
                // Nothing is held yet, but leave no half-open payment behind.
                let key = idempotency_key(Operation::Release, a.appointment_id, None);
                if let Err(e) = self.release(&intent.id, &key).await {
                    tracing::info!(error = %e, "cancelling an intent awaiting authentication failed");
                }
                Err(PaymentError::ActionRequired)
            }
            IntentStatus::RequiresPaymentMethod => {
                Err(PaymentError::Declined("requires_payment_method".into()))
            }
            // Returned as is: the caller releases what it cannot use.
            _ => Ok(intent),
        }
    }

    async fn capture(&self, intent_id: &str, key: &str) -> Result<Intent, PaymentError> {
        if !valid_intent_id(intent_id) {
            return Err(PaymentError::Rejected("malformed intent id".into()));
        }
        self.post(
            &format!("/v1/payment_intents/{intent_id}/capture"),
            &[],
            key,
        )
        .await
    }

    async fn release(&self, intent_id: &str, key: &str) -> Result<Intent, PaymentError> {
        if !valid_intent_id(intent_id) {
            return Err(PaymentError::Rejected("malformed intent id".into()));
        }
        self.post(&format!("/v1/payment_intents/{intent_id}/cancel"), &[], key)
            .await
    }

    fn webhook_event(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        now: Timestamp,
    ) -> Result<WebhookEvent, WebhookError> {
        let header = headers
            .get("stripe-signature")
            .and_then(|v| v.to_str().ok())
            .ok_or(WebhookError::BadHeader)?;
        signature::verify(
            header,
            body,
            self.config.webhook_secret.expose().as_bytes(),
            now,
            self.config.tolerance_s,
        )?;
        let event: StripeEvent =
            serde_json::from_slice(body).map_err(|_| WebhookError::BadPayload)?;
        let kind = match event.kind.as_str() {
            "payment_intent.amount_capturable_updated" => EventKind::Authorised,
            "payment_intent.succeeded" => EventKind::Succeeded,
            "payment_intent.canceled" => EventKind::Canceled,
            "payment_intent.payment_failed" => EventKind::Failed,
            other => EventKind::Other(other.to_owned()),
        };
        let intent =
            if event.data.object.get("object").and_then(|o| o.as_str()) == Some("payment_intent") {
                let pi: StripeIntent = serde_json::from_value(event.data.object)
                    .map_err(|_| WebhookError::BadPayload)?;
                Some(pi.into_intent().map_err(|_| WebhookError::BadPayload)?)
            } else {
                None
            };
        Ok(WebhookEvent {
            id: event.id,
            kind,
            intent,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_map_to_kinds() {
        let declined = StripeError {
            kind: Some("card_error".into()),
            code: Some("card_declined".into()),
            decline_code: Some("generic_decline".into()),
        };
        assert_eq!(
            map_error(402, declined),
            PaymentError::Declined("generic_decline".into())
        );
        assert!(matches!(
            map_error(503, StripeError::default()),
            PaymentError::Unavailable(_)
        ));
        assert!(matches!(
            map_error(401, StripeError::default()),
            PaymentError::Rejected(_)
        ));
        let idem = StripeError {
            kind: Some("idempotency_error".into()),
            ..Default::default()
        };
        assert!(matches!(map_error(400, idem), PaymentError::Rejected(_)));
    }

    #[test]
    fn intent_ids_are_checked_before_they_reach_a_path() {
        assert!(valid_intent_id("pi_3MtwBwLkdIwHu7ix28a3tqPa"));
        assert!(!valid_intent_id("pi_../../v1/charges"));
        assert!(!valid_intent_id("ch_123"));
    }
}
