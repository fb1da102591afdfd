//! Delivery of the practices' webhooks (issue 19, point 5), beside the outbox worker and
//! shaped like it: claim due deliveries with a lease (two nodes never send the same one at
//! once), POST each outside any transaction, signed, then mark it delivered, due again
//! after a backoff with jitter (the messages' [`RetryPolicy`]) or dead after the last
//! attempt (at once on `410 Gone`: the receiver says it is gone for good). The event id is
//! the same in every attempt, so a receiver that saw it already can ignore it. Woken by
//! polling (each node) and by the service after a write that queued events.

use careslot_messages::RetryPolicy;
use careslot_scheduling::webhooks::{signature_header, EVENT_HEADER, ID_HEADER, SIGNATURE_HEADER};
use careslot_scheduling::Scheduling;
use careslot_store::{WebhookDelivery, WebhookOutcome};
use futures::StreamExt;
use jiff::SignedDuration;
use std::sync::{Arc, Weak};
use std::time::Duration;

/// How webhooks leave.
#[derive(Debug, Clone)]
pub struct WebhooksConfig {
    /// Whether this process runs a webhook worker.
    pub enabled: bool,
    pub retry: RetryPolicy,
    /// Polling period when nothing is due.
    pub poll: Duration,
    /// How long the worker lets wakes gather before it looks: every booking wakes it (most
    /// practices have no webhook), so it looks at most once per gather period instead of
    /// once per group commit (a query and thread hops each on the booking path's database).
    pub gather: Duration,
    /// How long a claimed delivery is reserved to this worker.
    pub lease: SignedDuration,
    pub batch: i64,
    pub concurrency: usize,
    /// How long a receiver has to answer.
    pub timeout: Duration,
}

impl Default for WebhooksConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            retry: RetryPolicy::default(),
            poll: Duration::from_secs(1),
            gather: Duration::from_millis(200),
            lease: SignedDuration::from_mins(2),
            batch: 32,
            concurrency: 8,
            timeout: Duration::from_secs(10),
        }
    }
}

pub struct WebhookWorker {
    scheduling: Weak<Scheduling>,
    client: reqwest::Client,
    config: WebhooksConfig,
}

impl WebhookWorker {
    /// Starts the worker (unless disabled); it stops with the service.
    pub fn spawn(scheduling: &Arc<Scheduling>, config: &WebhooksConfig) {
        if !config.enabled {
            return;
        }
        let client = match reqwest::Client::builder()
            .timeout(config.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("careslot-webhooks/", env!("CARGO_PKG_VERSION")))
            .build()
        {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "webhook client not built; webhooks stay queued");
                return;
            }
        };
        let wake = scheduling.webhook_wake.clone();
        let worker = WebhookWorker {
            scheduling: Arc::downgrade(scheduling),
            client,
            config: config.clone(),
        };
        let (poll, gather) = (worker.config.poll, worker.config.gather);
        let worker = Arc::new(worker);
        crate::outbox::drain_loop(wake, poll, gather, move || {
            let worker = worker.clone();
            async move { worker.drain_once().await }
        });
    }

    async fn drain_once(&self) -> Option<usize> {
        let app = self.scheduling.upgrade()?;
        let claimed = match app
            .store
            .claim_webhook_deliveries(app.now(), self.config.lease, self.config.batch)
            .await
        {
            Ok(rows) => rows,
            Err(e) => {
                tracing::warn!(error = %e, "webhook claim failed; will retry");
                return Some(0);
            }
        };
        let n = claimed.len();
        futures::stream::iter(claimed)
            .for_each_concurrent(self.config.concurrency.max(1), |d| {
                let app = app.clone();
                async move {
                    let outcome = self.attempt(&app, &d).await;
                    match app
                        .store
                        .record_webhook_delivery(&d.event_id, &d.subscription_id, &outcome, app.now())
                        .await
                    {
                        Ok(_) => tracing::debug!(event = %d.event_id, webhook = %d.subscription_id, attempts = d.attempts, ?outcome, "webhook delivery"),
                        Err(e) => tracing::warn!(event = %d.event_id, error = %e, "webhook outcome not recorded; the lease will bring it back"),
                    }
                }
            })
            .await;
        Some(n)
    }

    /// One attempt: the outcome to record.
    async fn attempt(&self, app: &Scheduling, d: &WebhookDelivery) -> WebhookOutcome {
        let now = app.now();
        let retry = |status: Option<u16>, error: String| match self.config.retry.next_attempt(
            d.attempts,
            now,
            &mut rand::thread_rng(),
        ) {
            Some(at) => WebhookOutcome::Retry { at, status, error },
            None => WebhookOutcome::Dead { status, error },
        };
        let sub = match app.store.webhook(&d.subscription_id).await {
            Ok(Some(s)) => s,
            Ok(None) => {
                return WebhookOutcome::Dead {
                    status: None,
                    error: "webhook deleted".into(),
                }
            }
            Err(e) => return retry(None, format!("store: {e}")),
        };
        let secret = match app.webhook_secret(&sub).await {
            Ok(Some(s)) => s,
            Ok(None) => {
                return WebhookOutcome::Dead {
                    status: None,
                    error: "the practice's account was erased".into(),
                }
            }
            Err(e) => return retry(None, format!("secret: {e}")),
        };
        let t = now.as_second();
        let sent = self
            .client
            .post(&sub.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(ID_HEADER, &d.event_id)
            .header(EVENT_HEADER, d.event.code())
            .header(SIGNATURE_HEADER, signature_header(&secret, t, &d.payload))
            .body(d.payload.clone())
            .send()
            .await;
        match sent {
            Ok(resp) if resp.status().is_success() => WebhookOutcome::Delivered {
                status: resp.status().as_u16(),
            },
            Ok(resp) if resp.status() == reqwest::StatusCode::GONE => WebhookOutcome::Dead {
                status: Some(410),
                error: "the receiver answered 410 Gone".into(),
            },
            Ok(resp) => {
                let status = resp.status().as_u16();
                retry(Some(status), format!("the receiver answered {status}"))
            }
            // The transport error names the host, never a person.
            Err(e) => retry(None, transport_error(&e)),
        }
    }
}

/// Why a request got no answer, in a few words (no URL: it may carry a token).
fn transport_error(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "no answer in time".into()
    } else if e.is_connect() {
        "connection refused or unreachable".into()
    } else {
        "transport error".into()
    }
}
