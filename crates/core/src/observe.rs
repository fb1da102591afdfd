//! What an operator sees of a running node: the request id of the request being served (set
//! by the server's middleware for the whole request, read by the problem+json mapping) and the
//! Prometheus metrics every feature records into.
//!
//! Metric labels never carry ids, personal or health data: routes are patterns
//! (`/api/v1/agendas/{agenda_id}/slots`), kinds are fixed words.

use careslot_store::{OutboxDepth, Store};
use careslot_vault::{DataKey, KeyCustody, KeyInfo, VaultError};
use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The request being served: its id (`X-Request-Id`) and whether it asks to change state
/// (any method but GET, HEAD, OPTIONS), which decides what a failure tells the client.
#[derive(Debug, Clone)]
pub struct RequestContext {
    pub id: String,
    pub write: bool,
}

tokio::task_local! {
    static REQUEST: RequestContext;
}

/// Runs `fut` (a request's handling) with `ctx` as its request context.
pub async fn with_request<F: std::future::Future>(ctx: RequestContext, fut: F) -> F::Output {
    REQUEST.scope(ctx, fut).await
}

/// The context of the request this task serves, if any.
pub fn current_request() -> Option<RequestContext> {
    REQUEST.try_with(Clone::clone).ok()
}

/// Whether `id` may be taken from a client's `X-Request-Id`: 1 to 64 characters among
/// `A-Z a-z 0-9 - _ . : /`, so it can go into logs and headers as it is.
pub fn sane_request_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':' | b'/'))
}

/// What a booking was, as a metric label.
#[derive(Debug, Clone, Copy)]
pub enum BookingKind {
    /// An appointment with a practitioner (or its hold turned into one).
    Appointment,
    /// A vaccination (all doses of a series count as one).
    Vaccination,
}

impl BookingKind {
    fn label(self) -> &'static str {
        match self {
            BookingKind::Appointment => "appointment",
            BookingKind::Vaccination => "vaccination",
        }
    }
}

/// What became of one message the delivery worker claimed, as a metric label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Handed to the channel and deleted.
    Sent,
    /// Failed for now; due again later.
    Retried,
    /// Failed for good: parked as a dead letter.
    Dead,
    /// The recipient was erased: dropped unsent.
    Dropped,
    /// The outcome could not be recorded (the lease brings the message back).
    Unrecorded,
}

impl Delivery {
    fn label(self) -> &'static str {
        match self {
            Delivery::Sent => "sent",
            Delivery::Retried => "retried",
            Delivery::Dead => "dead",
            Delivery::Dropped => "dropped",
            Delivery::Unrecorded => "unrecorded",
        }
    }
}

/// How long `/metrics` may wait for the outbox count before answering with the last one.
const OUTBOX_COUNT_BOUND: Duration = Duration::from_secs(2);
/// A fresher outbox count than this is reused: frequent scrapes cost one query at most.
const OUTBOX_COUNT_REUSE: Duration = Duration::from_secs(5);

/// The node's metrics, in one registry rendered by `/metrics`.
pub struct Metrics {
    registry: Registry,
    http_requests: IntCounterVec,
    http_duration: HistogramVec,
    bookings: IntCounterVec,
    booking_conflicts: IntCounterVec,
    admissions: IntCounter,
    pool: IntGaugeVec,
    // --- operations (issue 16) ---
    writer_groups: Histogram,
    writer_queue: IntGauge,
    outbox: IntGaugeVec,
    outbox_count_failures: IntCounter,
    outbox_counted: parking_lot::Mutex<Option<Instant>>,
    deliveries: IntCounterVec,
}

impl Metrics {
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let http_requests = IntCounterVec::new(
            Opts::new(
                "careslot_http_requests_total",
                "HTTP requests answered, by method, route pattern and status",
            ),
            &["method", "route", "status"],
        )?;
        let http_duration = HistogramVec::new(
            HistogramOpts::new(
                "careslot_http_request_duration_seconds",
                "Time to answer an HTTP request, by method, route pattern and status",
            )
            .buckets(vec![
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ]),
            &["method", "route", "status"],
        )?;
        let bookings = IntCounterVec::new(
            Opts::new("careslot_bookings_total", "Bookings committed, by kind"),
            &["kind"],
        )?;
        let booking_conflicts = IntCounterVec::new(
            Opts::new(
                "careslot_booking_conflicts_total",
                "Bookings refused because the slot, its capacity or the stock was taken, by kind",
            ),
            &["kind"],
        )?;
        let admissions = IntCounter::new(
            "careslot_waiting_room_admissions_total",
            "Queue tickets the waiting room admitted to the booking entry points",
        )?;
        let pool = IntGaugeVec::new(
            Opts::new(
                "careslot_db_pool_connections",
                "Connections of the database pool that serves reads, by state (open, idle)",
            ),
            &["state"],
        )?;
        let writer_groups = Histogram::with_opts(
            HistogramOpts::new(
                "careslot_writer_group_size",
                "Requests (holds, bookings, dose series) committed together in one transaction \
                 by the booking writer (group commit)",
            )
            .buckets(vec![1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0]),
        )?;
        let writer_queue = IntGauge::new(
            "careslot_writer_queue_depth",
            "Requests waiting for the booking writer, as sampled at scrape time",
        )?;
        let outbox = IntGaugeVec::new(
            Opts::new(
                "careslot_outbox_messages",
                "Outbox rows by state (queued = not dead; due = queued, available and not \
                 leased; dead = dead letters), counted at scrape time",
            ),
            &["state"],
        )?;
        let outbox_count_failures = IntCounter::new(
            "careslot_outbox_count_failures_total",
            "Scrapes whose outbox count failed or exceeded its bound (the gauges kept their \
             last values)",
        )?;
        let deliveries = IntCounterVec::new(
            Opts::new(
                "careslot_outbox_deliveries_total",
                "Messages the delivery worker handled, by channel and outcome \
                 (sent, retried, dead, dropped, unrecorded)",
            ),
            &["channel", "outcome"],
        )?;
        registry.register(Box::new(writer_groups.clone()))?;
        registry.register(Box::new(writer_queue.clone()))?;
        registry.register(Box::new(outbox.clone()))?;
        registry.register(Box::new(outbox_count_failures.clone()))?;
        registry.register(Box::new(deliveries.clone()))?;
        for state in ["queued", "due", "dead"] {
            outbox.with_label_values(&[state]);
        }
        for channel in ["email", "sms"] {
            for outcome in [Delivery::Sent, Delivery::Retried, Delivery::Dead] {
                deliveries.with_label_values(&[channel, outcome.label()]);
            }
        }
        registry.register(Box::new(http_requests.clone()))?;
        registry.register(Box::new(http_duration.clone()))?;
        registry.register(Box::new(bookings.clone()))?;
        registry.register(Box::new(booking_conflicts.clone()))?;
        registry.register(Box::new(admissions.clone()))?;
        registry.register(Box::new(pool.clone()))?;
        for kind in [BookingKind::Appointment, BookingKind::Vaccination] {
            bookings.with_label_values(&[kind.label()]);
            booking_conflicts.with_label_values(&[kind.label()]);
        }
        Ok(Self {
            registry,
            http_requests,
            http_duration,
            bookings,
            booking_conflicts,
            admissions,
            pool,
            writer_groups,
            writer_queue,
            outbox,
            outbox_count_failures,
            outbox_counted: parking_lot::Mutex::new(None),
            deliveries,
        })
    }

    /// Registers the key-service metrics a [`Protector`](crate::protection::Protector)
    /// records into (it exists before the node's metrics do).
    pub fn register_keys(&self, keys: &KeyMetrics) -> Result<(), prometheus::Error> {
        self.registry.register(Box::new(keys.latency.clone()))?;
        self.registry.register(Box::new(keys.cache.clone()))
    }

    /// One transaction of the booking writer, carrying `size` requests.
    pub fn writer_group(&self, size: usize) {
        self.writer_groups.observe(size as f64);
    }

    /// One message handled by the delivery worker; `channel` is `email` or `sms`.
    pub fn delivered(&self, channel: &str, outcome: Delivery) {
        self.deliveries
            .with_label_values(&[channel, outcome.label()])
            .inc();
    }

    /// Refreshes what is sampled rather than counted: pool, writer queue, outbox depth.
    /// The outbox count is bounded in time and reused for a few seconds, so scrapes never
    /// pile queries onto a busy database.
    pub async fn sample(&self, store: &dyn Store) {
        if let Some((open, idle)) = store.pool_stats() {
            self.set_pool(open, idle);
        }
        if let Some(depth) = store.writer_queue_depth() {
            self.writer_queue
                .set(i64::try_from(depth).unwrap_or(i64::MAX));
        }
        let fresh = self
            .outbox_counted
            .lock()
            .is_some_and(|at| at.elapsed() < OUTBOX_COUNT_REUSE);
        if fresh {
            return;
        }
        let count = tokio::time::timeout(
            OUTBOX_COUNT_BOUND,
            store.outbox_depth(jiff::Timestamp::now()),
        )
        .await;
        match count {
            Ok(Ok(depth)) => {
                self.set_outbox(depth);
                *self.outbox_counted.lock() = Some(Instant::now());
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "metrics: outbox count failed");
                self.outbox_count_failures.inc();
            }
            Err(_) => {
                tracing::warn!("metrics: outbox count took too long");
                self.outbox_count_failures.inc();
            }
        }
    }

    fn set_outbox(&self, depth: OutboxDepth) {
        self.outbox.with_label_values(&["queued"]).set(depth.queued);
        self.outbox.with_label_values(&["due"]).set(depth.due);
        self.outbox.with_label_values(&["dead"]).set(depth.dead);
    }

    /// One answered request: `route` is the matched pattern, never the raw path.
    pub fn http_request(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let status = status.to_string();
        let labels = [method, route, status.as_str()];
        self.http_requests.with_label_values(&labels).inc();
        self.http_duration
            .with_label_values(&labels)
            .observe(seconds);
    }

    pub fn booked(&self, kind: BookingKind) {
        self.bookings.with_label_values(&[kind.label()]).inc();
    }

    pub fn booking_conflict(&self, kind: BookingKind) {
        self.booking_conflicts
            .with_label_values(&[kind.label()])
            .inc();
    }

    pub fn admitted(&self) {
        self.admissions.inc();
    }

    /// The reading pool's size and idle connections, as sampled at scrape time.
    pub fn set_pool(&self, open: u32, idle: u32) {
        self.pool.with_label_values(&["open"]).set(i64::from(open));
        self.pool.with_label_values(&["idle"]).set(i64::from(idle));
    }

    /// Everything, in the Prometheus text format (version 0.0.4).
    pub fn render(&self) -> Result<String, prometheus::Error> {
        let mut out = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut out)?;
        String::from_utf8(out).map_err(|e| prometheus::Error::Msg(e.to_string()))
    }
}

/// What the key service costs a node: the latency of each call to the custody (by operation
/// and outcome) and how often a data key came from the in-memory cache instead.
#[derive(Clone)]
pub struct KeyMetrics {
    latency: HistogramVec,
    cache: IntCounterVec,
}

impl KeyMetrics {
    pub fn new() -> Result<Self, prometheus::Error> {
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "careslot_key_service_request_duration_seconds",
                "Time of calls to the key-custody service, by operation and outcome (ok, error)",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            ]),
            &["op", "outcome"],
        )?;
        let cache = IntCounterVec::new(
            Opts::new(
                "careslot_key_cache_lookups_total",
                "Data-key lookups by result: hit (unwrapped key cached in memory) or miss \
                 (asked the key service)",
            ),
            &["result"],
        )?;
        for r in ["hit", "miss"] {
            cache.with_label_values(&[r]);
        }
        Ok(Self { latency, cache })
    }

    pub fn cache_hit(&self) {
        self.cache.with_label_values(&["hit"]).inc();
    }

    pub fn cache_miss(&self) {
        self.cache.with_label_values(&["miss"]).inc();
    }

    async fn time<T>(
        &self,
        op: &str,
        call: impl std::future::Future<Output = Result<T, VaultError>>,
    ) -> Result<T, VaultError> {
        let started = Instant::now();
        let out = call.await;
        let outcome = if out.is_ok() { "ok" } else { "error" };
        self.latency
            .with_label_values(&[op, outcome])
            .observe(started.elapsed().as_secs_f64());
        out
    }
}

/// A key custody whose every call is timed into [`KeyMetrics`] (whatever the custody is:
/// the embedded engine, keyd over HTTP, a transit-compatible KMS).
pub struct TimedCustody {
    inner: Arc<dyn KeyCustody>,
    metrics: KeyMetrics,
}

impl TimedCustody {
    pub fn new(inner: Arc<dyn KeyCustody>, metrics: KeyMetrics) -> Self {
        Self { inner, metrics }
    }
}

#[async_trait::async_trait]
impl KeyCustody for TimedCustody {
    async fn create_key(&self, name: &str, deletable: bool) -> Result<(), VaultError> {
        self.metrics
            .time("create_key", self.inner.create_key(name, deletable))
            .await
    }
    async fn datakey(&self, name: &str) -> Result<(DataKey, String), VaultError> {
        self.metrics.time("datakey", self.inner.datakey(name)).await
    }
    async fn unwrap(
        &self,
        name: &str,
        wrapped: &[String],
    ) -> Result<Vec<Result<DataKey, VaultError>>, VaultError> {
        self.metrics
            .time("unwrap", self.inner.unwrap(name, wrapped))
            .await
    }
    async fn rewrap(&self, name: &str, wrapped: &[String]) -> Result<Vec<String>, VaultError> {
        self.metrics
            .time("rewrap", self.inner.rewrap(name, wrapped))
            .await
    }
    async fn rotate(&self, name: &str) -> Result<u32, VaultError> {
        self.metrics.time("rotate", self.inner.rotate(name)).await
    }
    async fn retire_before(&self, name: &str, min_version: u32) -> Result<(), VaultError> {
        self.metrics
            .time("retire_before", self.inner.retire_before(name, min_version))
            .await
    }
    async fn delete_key(&self, name: &str) -> Result<(), VaultError> {
        self.metrics
            .time("delete_key", self.inner.delete_key(name))
            .await
    }
    async fn list_keys(&self) -> Result<Vec<String>, VaultError> {
        self.metrics.time("list_keys", self.inner.list_keys()).await
    }
    async fn key_info(&self, name: &str) -> Result<KeyInfo, VaultError> {
        self.metrics
            .time("key_info", self.inner.key_info(name))
            .await
    }
}

/// The node's stop: set once on SIGTERM/SIGINT. Long-lived connections (WebSockets), which
/// the HTTP server's graceful shutdown does not wait for once upgraded, wait on it to tell
/// their peers to reconnect, and are counted so that the process can wait for them to say so.
#[derive(Clone)]
pub struct Shutdown {
    stop: tokio::sync::watch::Sender<bool>,
    open: tokio::sync::watch::Sender<usize>,
}

impl Default for Shutdown {
    fn default() -> Self {
        Self {
            stop: tokio::sync::watch::channel(false).0,
            open: tokio::sync::watch::channel(0).0,
        }
    }
}

/// One long-lived connection, counted by [`Shutdown::drained`] until dropped.
pub struct Tracked(tokio::sync::watch::Sender<usize>);

impl Drop for Tracked {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n = n.saturating_sub(1));
    }
}

impl Shutdown {
    /// Starts the stop (idempotent).
    pub fn begin(&self) {
        self.stop.send_replace(true);
    }

    pub fn begun(&self) -> bool {
        *self.stop.borrow()
    }

    /// Resolves once the stop has begun.
    pub async fn wait(&self) {
        let mut rx = self.stop.subscribe();
        let _ = rx.wait_for(|stopping| *stopping).await;
    }

    /// Counts a long-lived connection until the guard is dropped.
    pub fn track(&self) -> Tracked {
        self.open.send_modify(|n| *n += 1);
        Tracked(self.open.clone())
    }

    /// Resolves once no tracked connection is open.
    pub async fn drained(&self) {
        let mut rx = self.open.subscribe();
        let _ = rx.wait_for(|n| *n == 0).await;
    }
}

/// The content type of [`Metrics::render`]'s text.
pub const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids() {
        assert!(sane_request_id("b7c1-9f_2.a:x/y"));
        assert!(!sane_request_id(""));
        assert!(!sane_request_id("has space"));
        assert!(!sane_request_id("new\nline"));
        assert!(!sane_request_id(&"a".repeat(65)));
    }

    #[test]
    fn renders_text() {
        let m = Metrics::new().unwrap();
        m.http_request("GET", "/api/v1/agendas/{agenda_id}/slots", 200, 0.003);
        m.booked(BookingKind::Appointment);
        m.writer_group(3);
        m.delivered("email", Delivery::Sent);
        let text = m.render().unwrap();
        assert!(text.contains("careslot_writer_group_size_bucket{le=\"4\"} 1"));
        assert!(
            text.contains("careslot_outbox_deliveries_total{channel=\"email\",outcome=\"sent\"} 1")
        );
        assert!(text.contains("# TYPE careslot_http_requests_total counter"));
        assert!(text.contains("careslot_bookings_total{kind=\"appointment\"} 1"));
    }
}

#[cfg(test)]
mod shutdown_tests {
    use super::Shutdown;

    #[tokio::test]
    async fn waiters_wake_once_begun() {
        let s = Shutdown::default();
        let waiter = tokio::spawn({
            let s = s.clone();
            async move { s.wait().await }
        });
        assert!(!s.begun());
        s.begin();
        waiter.await.unwrap();
        assert!(s.begun());
        s.wait().await; // already begun: returns at once
    }

    #[tokio::test]
    async fn drained_waits_for_tracked_connections() {
        let s = Shutdown::default();
        s.drained().await; // none open
        let guard = s.track();
        let drained = tokio::spawn({
            let s = s.clone();
            async move { s.drained().await }
        });
        tokio::task::yield_now().await;
        assert!(!drained.is_finished());
        drop(guard);
        drained.await.unwrap();
    }
}
