//! Payment failures, as every layer sees them: the payment feature raises them, the HTTP
//! layer maps them to 402/502/503 problems and the pages to messages.

use crate::AppError;
use thiserror::Error;

/// Why a provider call failed. Messages never carry card data.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum PaymentError {
    /// The card was declined (Stripe: HTTP 402, `card_error`).
    #[error("card declined ({0})")]
    Declined(String),
    /// The card needs the holder's authentication, which this flow cannot ask for.
    #[error("card requires authentication")]
    ActionRequired,
    /// Network failure, rate limit or provider outage: safe to retry with the same key.
    #[error("payment provider unavailable: {0}")]
    Unavailable(String),
    /// The provider refused the request (bad key, invalid parameters, idempotency misuse).
    #[error("payment provider refused the request: {0}")]
    Rejected(String),
    /// The provider answered something we cannot read.
    #[error("unexpected answer from the payment provider: {0}")]
    Protocol(String),
    /// This installation takes no online payment.
    #[error("online payment is not configured")]
    NotOnline,
}

/// Why a webhook request was refused (all answered 400, except `NotConfigured`).
#[derive(Debug, Error, Clone, Copy, PartialEq, Eq)]
pub enum WebhookError {
    #[error("webhooks are not configured")]
    NotConfigured,
    #[error("missing or malformed signature header")]
    BadHeader,
    #[error("signature does not match")]
    Forged,
    #[error("signature timestamp outside the tolerance")]
    Stale,
    #[error("event already processed")]
    Replayed,
    #[error("event body is not a readable event")]
    BadPayload,
}

/// A payment that went wrong, as the HTTP layers report it.
#[derive(Debug, Error)]
pub enum PaymentFailure {
    #[error(transparent)]
    Provider(#[from] PaymentError),
    #[error(transparent)]
    Webhook(#[from] WebhookError),
}

impl From<PaymentError> for AppError {
    fn from(e: PaymentError) -> Self {
        AppError::Payment(PaymentFailure::Provider(e))
    }
}

impl From<WebhookError> for AppError {
    fn from(e: WebhookError) -> Self {
        AppError::Payment(PaymentFailure::Webhook(e))
    }
}
