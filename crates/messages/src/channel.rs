//! The one trait every channel implements, its error, and the recording channel for tests.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use crate::message::Message;

/// Why a send failed, and whether trying again can help.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Retrying will not help: bad address or number, a 5xx SMTP reply, a provider validation
    /// error. The outbox parks the message as a dead letter at once.
    #[error("permanent delivery failure: {0}")]
    Permanent(String),
    /// The channel may accept it later: connection refused, timeout, 4xx SMTP reply, provider
    /// 5xx or 429. The outbox reschedules with [`crate::retry::RetryPolicy`].
    #[error("transient delivery failure: {0}")]
    Transient(String),
}

impl SendError {
    pub fn is_permanent(&self) -> bool {
        matches!(self, SendError::Permanent(_))
    }

    pub fn is_transient(&self) -> bool {
        matches!(self, SendError::Transient(_))
    }

    /// The text to keep as the row's last error.
    pub fn reason(&self) -> &str {
        match self {
            SendError::Permanent(r) | SendError::Transient(r) => r,
        }
    }
}

/// A channel's settings are unusable (bad URL, bad sender address…): found at start-up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// Delivers one message. Implementations must be idempotent by `message.id` as far as the
/// transport allows (Message-ID, provider idempotency token, file name), since the outbox
/// may send the same message again after a crash between sending and recording it.
#[async_trait]
pub trait Channel: Send + Sync {
    /// Short name for logs and the outbox's channel column (`smtp`, `sms`, `file`, …).
    fn name(&self) -> &'static str;

    async fn send(&self, message: &Message) -> Result<(), SendError>;
}

#[async_trait]
impl<C: Channel + ?Sized> Channel for Arc<C> {
    fn name(&self) -> &'static str {
        (**self).name()
    }

    async fn send(&self, message: &Message) -> Result<(), SendError> {
        (**self).send(message).await
    }
}

#[async_trait]
impl<C: Channel + ?Sized> Channel for Box<C> {
    fn name(&self) -> &'static str {
        (**self).name()
    }

    async fn send(&self, message: &Message) -> Result<(), SendError> {
        (**self).send(message).await
    }
}

/// Keeps every message it is given, in order; can be told to fail the next sends. Clones share
/// the same record, so a test keeps one clone and hands the other to the worker.
#[derive(Debug, Clone, Default)]
pub struct RecordingChannel {
    inner: Arc<Mutex<Recording>>,
}

#[derive(Debug, Default)]
struct Recording {
    sent: Vec<Message>,
    failures: Vec<SendError>,
}

impl RecordingChannel {
    pub fn new() -> Self {
        Self::default()
    }

    /// What was sent successfully, oldest first.
    pub fn sent(&self) -> Vec<Message> {
        self.lock().sent.clone()
    }

    /// Forget what was sent.
    pub fn take(&self) -> Vec<Message> {
        std::mem::take(&mut self.lock().sent)
    }

    /// The next send fails with `error` (queued: several calls fail several sends).
    pub fn fail_next(&self, error: SendError) {
        self.lock().failures.push(error);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Recording> {
        // A panic while holding the lock cannot leave the record half-written.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait]
impl Channel for RecordingChannel {
    fn name(&self) -> &'static str {
        "recording"
    }

    async fn send(&self, message: &Message) -> Result<(), SendError> {
        let mut rec = self.lock();
        if !rec.failures.is_empty() {
            return Err(rec.failures.remove(0));
        }
        rec.sent.push(message.clone());
        Ok(())
    }
}

/// Sends email through one channel and SMS through another: what the outbox worker is given
/// when both are configured (or when SMS falls back to the file drop).
pub struct Router {
    pub email: Arc<dyn Channel>,
    pub sms: Arc<dyn Channel>,
}

#[async_trait]
impl Channel for Router {
    fn name(&self) -> &'static str {
        "router"
    }

    async fn send(&self, message: &Message) -> Result<(), SendError> {
        match message.recipient {
            crate::message::Recipient::Email(_) => self.email.send(message).await,
            crate::message::Recipient::Phone(_) => self.sms.send(message).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::i18n::Lang;
    use crate::message::{Kind, Recipient};

    fn msg() -> Message {
        Message {
            id: Message::new_id(),
            recipient: Recipient::Email("a@example.org".into()),
            lang: Lang::Fr,
            kind: Kind::PasswordReset,
            subject: "s".into(),
            text: "t".into(),
            html: None,
            attachments: vec![],
            unsubscribe_url: None,
        }
    }

    #[tokio::test]
    async fn records_and_fails_on_demand() {
        let rec = RecordingChannel::new();
        let shared: Arc<dyn Channel> = Arc::new(rec.clone());
        rec.fail_next(SendError::Transient("down".into()));
        let m = msg();
        assert!(shared.send(&m).await.unwrap_err().is_transient());
        shared.send(&m).await.unwrap();
        assert_eq!(rec.sent(), vec![m]);
        assert_eq!(rec.take().len(), 1);
        assert!(rec.sent().is_empty());
    }
}
