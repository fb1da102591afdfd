//! Online payment of teleconsultations behind one interface.
//!
//! The flow (see `services/payment.rs`): the card is authorised when the patient books
//! (funds held, nothing charged), captured once the consultation's slot has ended, and
//! released if the appointment is cancelled. Providers: [`AtPractice`] (the default: no
//! online payment, the fee is paid at the practice) and [`Stripe`] (PaymentIntents with
//! manual capture). Every call that changes money carries an idempotency key derived from
//! the appointment and the operation, so a retried call never charges twice.

mod practice;
pub mod signature;
mod stripe;

pub use careslot_core::payment_failure::{PaymentError, WebhookError};
pub use practice::AtPractice;
pub use stripe::{Stripe, StripeConfig};

use async_trait::async_trait;
use axum::http::HeaderMap;
use jiff::Timestamp;
use std::sync::Arc;

/// What to authorise: an amount for one appointment, on one payment method.
#[derive(Debug, Clone)]
pub struct Authorisation<'a> {
    pub appointment_id: &'a str,
    pub amount_cents: i64,
    /// ISO 4217, upper case.
    pub currency: &'a str,
    /// The provider's payment method (Stripe: `pm_…`, produced by Stripe.js in a browser).
    pub payment_method: &'a str,
    pub idempotency_key: &'a str,
}

/// A provider's payment as it stands (Stripe's PaymentIntent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Intent {
    pub id: String,
    pub status: IntentStatus,
    pub amount_capturable: i64,
    pub amount_received: i64,
    /// Our appointment id, from the intent's metadata.
    pub appointment_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IntentStatus {
    /// Authorised, waiting for capture.
    RequiresCapture,
    Succeeded,
    Canceled,
    /// The card needs the holder's action (3-D Secure), which this flow cannot ask for.
    RequiresAction,
    RequiresPaymentMethod,
    Processing,
    Other(String),
}

impl IntentStatus {
    pub fn parse(s: &str) -> Self {
        match s {
            "requires_capture" => Self::RequiresCapture,
            "succeeded" => Self::Succeeded,
            "canceled" => Self::Canceled,
            "requires_action" => Self::RequiresAction,
            "requires_payment_method" => Self::RequiresPaymentMethod,
            "processing" => Self::Processing,
            other => Self::Other(other.to_owned()),
        }
    }
}

/// The webhook events that reconcile a payment's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventKind {
    /// `payment_intent.amount_capturable_updated`: authorised.
    Authorised,
    /// `payment_intent.succeeded`: captured.
    Succeeded,
    /// `payment_intent.canceled`: released (by us, or by the provider after 7 days).
    Canceled,
    /// `payment_intent.payment_failed`.
    Failed,
    /// Anything else (acknowledged, not acted upon).
    Other(String),
}

#[derive(Debug, Clone)]
pub struct WebhookEvent {
    pub id: String,
    pub kind: EventKind,
    /// The payment intent the event is about (`None` for events about other objects).
    pub intent: Option<Intent>,
}

#[async_trait]
pub trait PaymentProvider: Send + Sync + 'static {
    /// Stored with each payment: `stripe`, `practice`.
    fn name(&self) -> &'static str;
    /// Whether cards are taken online; `false` means "pay at the practice".
    fn online(&self) -> bool;
    /// Authorises (holds) the amount without capturing it.
    async fn authorise(&self, a: &Authorisation<'_>) -> Result<Intent, PaymentError>;
    /// Captures an authorised payment in full.
    async fn capture(&self, intent_id: &str, idempotency_key: &str)
        -> Result<Intent, PaymentError>;
    /// Cancels an authorisation: nothing is charged.
    async fn release(&self, intent_id: &str, idempotency_key: &str)
        -> Result<Intent, PaymentError>;
    /// Verifies a webhook request (signature, freshness) and reads its event.
    fn webhook_event(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        now: Timestamp,
    ) -> Result<WebhookEvent, WebhookError>;
}

/// The configured provider, shared by the services (defaults to pay at the practice).
#[derive(Clone)]
pub struct Payments(pub Arc<dyn PaymentProvider>);

impl Payments {
    pub fn new(provider: impl PaymentProvider) -> Self {
        Self(Arc::new(provider))
    }

    pub fn provider(&self) -> &dyn PaymentProvider {
        &*self.0
    }
}

impl Default for Payments {
    fn default() -> Self {
        Self::new(AtPractice)
    }
}

impl std::fmt::Debug for Payments {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Payments({})", self.0.name())
    }
}

/// The operations that carry an idempotency key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Authorise,
    Capture,
    Release,
}

/// The idempotency key of an operation on an appointment: the same appointment and
/// operation always give the same key, so a retry (after a timeout, a crash, a second
/// sweep) is answered with the first result instead of acting twice. An authorisation's key
/// also depends on the payment method, so that after a declined card the patient can try
/// another one on the same hold.
pub fn idempotency_key(
    op: Operation,
    appointment_id: &str,
    payment_method: Option<&str>,
) -> String {
    let op = match op {
        Operation::Authorise => "authorise",
        Operation::Capture => "capture",
        Operation::Release => "release",
    };
    match payment_method {
        Some(pm) => {
            use sha2::{Digest, Sha256};
            let h = Sha256::digest(pm.as_bytes());
            format!("careslot-{op}-{appointment_id}-{}", hex::encode(&h[..8]))
        }
        None => format!("careslot-{op}-{appointment_id}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_deterministic_and_distinct_per_operation() {
        let a = idempotency_key(Operation::Capture, "r1", None);
        assert_eq!(a, idempotency_key(Operation::Capture, "r1", None));
        assert_ne!(a, idempotency_key(Operation::Release, "r1", None));
        assert_ne!(a, idempotency_key(Operation::Capture, "r2", None));
        let visa = idempotency_key(Operation::Authorise, "r1", Some("pm_card_visa"));
        assert_eq!(
            visa,
            idempotency_key(Operation::Authorise, "r1", Some("pm_card_visa"))
        );
        assert_ne!(
            visa,
            idempotency_key(Operation::Authorise, "r1", Some("pm_card_mastercard"))
        );
        assert!(visa.len() <= 255);
    }
}
