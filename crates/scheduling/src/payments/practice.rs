//! "Pay at the practice": no online payment. Appointments with a fee record that it is
//! paid at the practice; no provider is ever called.

use super::*;

#[derive(Debug, Clone, Copy, Default)]
pub struct AtPractice;

#[async_trait]
impl PaymentProvider for AtPractice {
    fn name(&self) -> &'static str {
        "practice"
    }

    fn online(&self) -> bool {
        false
    }

    async fn authorise(&self, _: &Authorisation<'_>) -> Result<Intent, PaymentError> {
        Err(PaymentError::NotOnline)
    }

    async fn capture(&self, _: &str, _: &str) -> Result<Intent, PaymentError> {
        Err(PaymentError::NotOnline)
    }

    async fn release(&self, _: &str, _: &str) -> Result<Intent, PaymentError> {
        Err(PaymentError::NotOnline)
    }

    fn webhook_event(
        &self,
        _: &HeaderMap,
        _: &[u8],
        _: Timestamp,
    ) -> Result<WebhookEvent, WebhookError> {
        Err(WebhookError::NotConfigured)
    }
}
