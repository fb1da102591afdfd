//! What an operator sees of a running node: the request id of the request being served (set
//! by the server's middleware for the whole request, read by the problem+json mapping) and the
//! Prometheus metrics every feature records into.
//!
//! Metric labels never carry ids, personal or health data: routes are patterns
//! (`/api/v1/agendas/{agenda_id}/slots`), kinds are fixed words.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

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

/// The node's metrics, in one registry rendered by `/metrics`.
pub struct Metrics {
    registry: Registry,
    http_requests: IntCounterVec,
    http_duration: HistogramVec,
    bookings: IntCounterVec,
    booking_conflicts: IntCounterVec,
    admissions: IntCounter,
    pool: IntGaugeVec,
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
        })
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
        let text = m.render().unwrap();
        assert!(text.contains("# TYPE careslot_http_requests_total counter"));
        assert!(text.contains("careslot_bookings_total{kind=\"appointment\"} 1"));
    }
}
