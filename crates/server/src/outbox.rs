//! Delivery of the outbox (issue 14): a worker per process claims due messages with a lease,
//! composes each (an appointment's intent, from the data as it is now: see
//! `careslot_scheduling::intents`) or opens it with the recipient's key (a message sealed when
//! queued), sends it through the configured channel outside any transaction (SQLite's single
//! writer is never held during a send), then deletes it, reschedules it with the retry policy
//! (exponential backoff, full jitter) or parks it as a dead letter. The row id is the
//! message id in every attempt. Woken by the service layer (this process), by NOTIFY (other
//! nodes on PostgreSQL), and by polling as a fallback. "Due" is read from the configured clock
//! (tests move a manual one). A reminder is sent only if its recipient still wants it when it
//! falls due (reminders turned off, or the phone number no longer verified: dropped).

use careslot_core::observe::Delivery;
use careslot_core::protection::{subject_key_name, ProtectError};
use careslot_messages::{Channel, Kind, Message, Recipient, RetryPolicy, SendError};
use careslot_scheduling::intents::Composed;
use careslot_scheduling::notify::{PAYLOAD_COLUMN, PAYLOAD_TABLE};
use careslot_scheduling::Scheduling;
use careslot_store::{OutboxPayload, OutboxRow};
use futures::StreamExt;
use jiff::SignedDuration;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

/// How messages leave: the channel and the worker's pace.
#[derive(Clone)]
pub struct MessagesConfig {
    /// Where email goes. `None`: no delivery worker in this process (messages stay queued
    /// for another node; nothing is dropped).
    pub channel: Option<Arc<dyn Channel>>,
    pub retry: RetryPolicy,
    /// Polling period when nothing wakes the worker.
    pub poll: Duration,
    /// How long a claimed message is reserved to this worker (a crashed worker's messages
    /// come back after it).
    pub lease: SignedDuration,
    /// Messages claimed at once.
    pub batch: i64,
    /// Sends in flight at once.
    pub concurrency: usize,
    /// Whether changes queue messages at all (only `careslot bench messages` turns it off).
    pub compose: bool,
}

impl Default for MessagesConfig {
    fn default() -> Self {
        Self {
            channel: None,
            retry: RetryPolicy::default(),
            poll: Duration::from_secs(1),
            lease: SignedDuration::from_mins(2),
            batch: 64,
            concurrency: 8,
            compose: true,
        }
    }
}

impl std::fmt::Debug for MessagesConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MessagesConfig")
            .field("channel", &self.channel.as_ref().map(|c| c.name()))
            .field("retry", &self.retry)
            .field("poll", &self.poll)
            .field("lease", &self.lease)
            .field("batch", &self.batch)
            .field("concurrency", &self.concurrency)
            .field("compose", &self.compose)
            .finish()
    }
}

/// Keeps addresses and numbers out of an error kept in the database or written to logs
/// (SMTP replies often echo the recipient).
pub fn redact(reason: &str) -> String {
    let words: Vec<String> = reason
        .split_whitespace()
        .map(|w| {
            let digits = w.chars().filter(char::is_ascii_digit).count();
            if w.contains('@') {
                "<address>".to_owned()
            } else if digits >= 6 {
                "<number>".to_owned()
            } else {
                w.to_owned()
            }
        })
        .collect();
    let mut out = words.join(" ");
    if out.len() > 300 {
        let mut cut = 300;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
    }
    out
}

/// What became of one claimed message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Sent,
    Retried,
    Dead,
    /// The recipient was erased: the message went with them.
    Dropped,
    /// Nothing to send any more: a reminder its recipient no longer wants, an intent whose
    /// appointment changed, or whose recipient or appointment is gone.
    Suppressed,
    /// The store could not record the outcome; the lease brings the message back.
    Unrecorded,
}

impl Outcome {
    fn metric(self) -> Delivery {
        match self {
            Outcome::Sent => Delivery::Sent,
            Outcome::Retried => Delivery::Retried,
            Outcome::Dead => Delivery::Dead,
            Outcome::Dropped | Outcome::Suppressed => Delivery::Dropped,
            Outcome::Unrecorded => Delivery::Unrecorded,
        }
    }
}

/// What becomes of a message after an attempt.
#[derive(Debug)]
enum Next {
    /// Sent, or nothing to send any more: the row goes.
    Remove,
    /// Due again at this time; the error (redacted) is kept.
    Retry(jiff::Timestamp, String),
    /// Parked as a dead letter, with the error (redacted).
    Dead(String),
}

impl Next {
    /// A batched confirmation's row as it is to be queued on its own, if it stays queued.
    fn requeued(self, row: &OutboxRow, now: jiff::Timestamp) -> Option<OutboxRow> {
        let mut left = OutboxRow {
            locked_until: None,
            batch: None,
            ..row.clone()
        };
        match self {
            Next::Remove => return None,
            Next::Retry(at, reason) => {
                left.available_at = at;
                left.last_error = Some(reason);
            }
            Next::Dead(reason) => {
                left.dead_at = Some(now);
                left.last_error = Some(reason);
            }
        }
        Some(left)
    }
}

/// One process's delivery worker.
pub struct Worker {
    scheduling: Weak<Scheduling>,
    channel: Arc<dyn Channel>,
    config: MessagesConfig,
}

/// A delivery worker's life: `drain` claims and delivers one batch (`None`: the service is
/// gone, stop). After a full batch it drains again at once; after an empty one it waits for
/// a wake (then lets further wakes gather for `gather`) or for `poll`.
pub(crate) fn drain_loop<F, Fut>(
    wake: Arc<tokio::sync::Notify>,
    poll: Duration,
    gather: Duration,
    mut drain: F,
) where
    F: FnMut() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Option<usize>> + Send,
{
    tokio::spawn(async move {
        while let Some(claimed) = drain().await {
            if claimed == 0 {
                tokio::select! {
                    _ = wake.notified() => {
                        if !gather.is_zero() {
                            tokio::time::sleep(gather).await;
                        }
                    }
                    _ = tokio::time::sleep(poll) => {}
                }
            }
        }
    });
}

impl Worker {
    /// Starts the worker when a channel is configured; it stops with the service.
    pub fn spawn(scheduling: &Arc<Scheduling>, config: &MessagesConfig) {
        let Some(channel) = config.channel.clone() else {
            return;
        };
        let wake = scheduling.outbox_wake.clone();
        let on_notify = wake.clone();
        scheduling
            .store
            .watch_outbox(Arc::new(move || on_notify.notify_one()));
        let worker = Worker {
            scheduling: Arc::downgrade(scheduling),
            channel,
            config: config.clone(),
        };
        let (poll, worker) = (worker.config.poll, Arc::new(worker));
        drain_loop(wake, poll, Duration::ZERO, move || {
            let worker = worker.clone();
            async move { worker.drain_once().await }
        });
    }

    /// Claims one batch and delivers it; how many were claimed (None: the service is gone).
    async fn drain_once(&self) -> Option<usize> {
        let app = self.scheduling.upgrade()?;
        let claimed = match app
            .store
            .claim_due(app.now(), self.config.lease, self.config.batch)
            .await
        {
            Ok(rows) => rows,
            Err(e) => {
                tracing::warn!(error = %e, "outbox claim failed; will retry");
                return Some(0);
            }
        };
        let n = claimed.len();
        // Confirmations claimed in a batch: those not delivered, as they are to be queued.
        let requeued: Mutex<BTreeMap<String, Vec<OutboxRow>>> = Mutex::default();
        futures::stream::iter(claimed)
            .for_each_concurrent(self.config.concurrency.max(1), |row| {
                let app = app.clone();
                let requeued = &requeued;
                async move {
                    let (outcome, next) = self.deliver(&app, &row).await;
                    let outcome = match &row.batch {
                        None => self.record(&app, &row, outcome, next).await,
                        Some(batch) => {
                            let left = next.requeued(&row, app.now());
                            requeued
                                .lock()
                                .unwrap_or_else(|p| p.into_inner())
                                .entry(batch.clone())
                                .or_default()
                                .extend(left);
                            outcome
                        }
                    };
                    app.metrics.delivered(row.channel.code(), outcome.metric());
                    tracing::debug!(message = %row.id, attempts = row.attempts, ?outcome, "outbox delivery");
                }
            })
            .await;
        let batches = requeued.into_inner().unwrap_or_else(|p| p.into_inner());
        for (batch, left) in batches {
            if let Err(e) = app.store.settle_batch(&batch, &left).await {
                // Its lease brings the batch back; its confirmations go again, same ids.
                tracing::warn!(batch = %batch, error = %e, "confirmation batch not settled; the lease will bring it back");
            }
        }
        Some(n)
    }

    /// The message of `row`: an intent composed now, or a sealed payload opened. `Ok(Err(why))`:
    /// nothing to send (the recipient was erased, the appointment changed, a reminder is no
    /// longer wanted); `Err`: try again later.
    async fn open(
        &self,
        app: &Scheduling,
        row: &OutboxRow,
    ) -> Result<Result<Message, Outcome>, String> {
        let ct = match &row.payload {
            OutboxPayload::Intent(intent) => {
                return match app.compose_intent(row, intent).await {
                    Ok(Composed::Send(m)) => Ok(Ok(*m)),
                    Ok(Composed::Drop(why)) => {
                        tracing::debug!(message = %row.id, why, "intent dropped");
                        Ok(Err(Outcome::Suppressed))
                    }
                    Err(e) => Err(e.to_string()),
                };
            }
            OutboxPayload::Sealed(ct) => ct,
        };
        let Some(account) = app
            .store
            .account(&row.account_id)
            .await
            .map_err(|e| e.to_string())?
        else {
            return Ok(Err(Outcome::Dropped));
        };
        let key = match app
            .protect
            .data_key(&subject_key_name(&account.id), &account.wrapped_key)
            .await
        {
            Ok(k) => k,
            Err(ProtectError::Erased) => return Ok(Err(Outcome::Dropped)),
            Err(e) => return Err(format!("key service: {e}")),
        };
        let json = app
            .protect
            .open(&key, ct, PAYLOAD_TABLE, PAYLOAD_COLUMN, &row.id)
            .map_err(|_| "payload cannot be opened".to_owned())?;
        let message = serde_json::from_slice::<Message>(&json)
            .map_err(|_| "payload is not a message".to_owned())?;
        // A reminder queued sealed (before intents) is sent only if still wanted.
        if still_wanted(app, row, &message).await? {
            Ok(Ok(message))
        } else {
            Ok(Err(Outcome::Suppressed))
        }
    }

    /// Tries `row` once: what happened, and what becomes of the row.
    async fn deliver(&self, app: &Scheduling, row: &OutboxRow) -> (Outcome, Next) {
        let result = match self.open(app, row).await {
            Ok(Ok(message)) => self.channel.send(&message).await,
            Ok(Err(outcome)) => return (outcome, Next::Remove),
            Err(reason) => Err(SendError::Transient(reason)),
        };
        match result {
            Ok(()) => (Outcome::Sent, Next::Remove),
            Err(SendError::Permanent(reason)) => {
                let reason = format!("permanent: {}", redact(&reason));
                tracing::warn!(message = %row.id, error = %reason, "message refused; dead letter");
                (Outcome::Dead, Next::Dead(reason))
            }
            Err(SendError::Transient(reason)) => {
                let reason = format!("transient: {}", redact(&reason));
                let next = self.config.retry.next_attempt(
                    row.attempts,
                    app.now(),
                    &mut rand::thread_rng(),
                );
                match next {
                    Some(at) => (Outcome::Retried, Next::Retry(at, reason)),
                    None => {
                        tracing::warn!(message = %row.id, attempts = row.attempts, error = %reason, "message undeliverable; dead letter");
                        (Outcome::Dead, Next::Dead(reason))
                    }
                }
            }
        }
    }

    /// Records what became of an ordinary row (by its id).
    async fn record(
        &self,
        app: &Scheduling,
        row: &OutboxRow,
        outcome: Outcome,
        next: Next,
    ) -> Outcome {
        let store = &app.store;
        let recorded = match next {
            Next::Remove => store.complete_message(&row.id).await,
            Next::Retry(at, reason) => store.reschedule_message(&row.id, at, &reason).await,
            Next::Dead(reason) => store.dead_letter(&row.id, &reason, app.now()).await,
        };
        match recorded {
            Ok(_) => outcome,
            Err(e) => {
                tracing::warn!(message = %row.id, error = %e, "outbox outcome not recorded; the lease will bring it back");
                Outcome::Unrecorded
            }
        }
    }
}

/// Whether the recipient still wants `message` now that it is due: only reminders can be
/// unwanted (by email unless turned off; by SMS only to a verified number, unless turned off).
async fn still_wanted(
    app: &Scheduling,
    row: &OutboxRow,
    message: &Message,
) -> Result<bool, String> {
    if message.kind != Kind::Reminder {
        return Ok(true);
    }
    let settings = app
        .store
        .account_settings(&row.account_id)
        .await
        .map_err(|e| e.to_string())?;
    Ok(match message.recipient {
        Recipient::Email(_) => settings.reminders_email,
        Recipient::Phone(_) => settings.reminders_sms && settings.phone_verified_at.is_some(),
    })
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn redaction_keeps_no_address_or_number() {
        let r = redact("550 5.1.1 <alice@example.org>: recipient unknown, call +33612345678");
        assert!(!r.contains("alice"));
        assert!(!r.contains("612345678"));
        assert!(r.contains("550 5.1.1"));
    }
}
