//! What an operator sees, over real HTTP: `/metrics` in the Prometheus text format (checked
//! by a strict structural reader here and by the `prometheus-client` Python package's
//! parser), moving with traffic and labelled by route pattern only; `/readyz` apart from
//! `/healthz`, failing when the key service stops; `X-Request-Id` on every answer and in
//! problem bodies.

mod common;

use careslot_vault::{keyd, HttpCustody, KeyCustody, KeyEngine, MasterKey, SecretToken};
use common::*;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

/// Where this test's log lines go (JSON, one per line), to find request ids in them.
#[derive(Clone, Default)]
struct LogBuffer(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log buffer").extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogBuffer {
    type Writer = LogBuffer;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

impl LogBuffer {
    fn lines(&self) -> Vec<String> {
        let bytes = self.0.lock().expect("log buffer").clone();
        String::from_utf8_lossy(&bytes)
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

/// One sample: its name, labels and value.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

const PARSER: &str = r#"
import json, sys
try:
    from prometheus_client.parser import text_string_to_metric_families
except ImportError:
    sys.exit(3)
out = []
for family in text_string_to_metric_families(sys.stdin.read()):
    for s in family.samples:
        out.append({"family": family.name, "type": family.type, "name": s.name, "labels": s.labels, "value": s.value})
print(json.dumps(out))
"#;

/// The samples of a scrape, as the `prometheus-client` Python package's parser reads them.
fn python_parse(text: &str) -> Vec<Sample> {
    let child = Command::new("python3")
        .args(["-c", PARSER])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => panic!(
            "python3 is needed to parse /metrics ({e}): apt-get install python3 python3-pip, \
             then pip install prometheus-client (scripts/install-test-deps does both)"
        ),
    };
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write to the parser");
    let out = child.wait_with_output().expect("parser");
    if out.status.code() == Some(3) {
        panic!(
            "the prometheus-client Python package is missing: pip install prometheus-client \
             (scripts/install-test-deps installs it)"
        );
    }
    assert!(
        out.status.success(),
        "the Prometheus parser refused /metrics: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    let parsed: Vec<Value> = serde_json::from_slice(&out.stdout).expect("parser output");
    parsed
        .into_iter()
        .map(|s| Sample {
            name: s["name"].as_str().expect("name").to_owned(),
            labels: s["labels"]
                .as_object()
                .expect("labels")
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().expect("label").to_owned()))
                .collect(),
            value: s["value"].as_f64().expect("value"),
        })
        .collect()
}

/// A strict reading of the text format (0.0.4): every family is announced by `# HELP` and
/// `# TYPE` before its samples, every sample line is `name{label="value",...} number` with
/// a name of the announced family, and label values are escaped.
fn check_text_format(text: &str) {
    let name_ok = |n: &str| {
        !n.is_empty()
            && n.chars().enumerate().all(|(i, c)| {
                c.is_ascii_alphabetic() || c == '_' || c == ':' || (i > 0 && c.is_ascii_digit())
            })
    };
    let mut typed: BTreeMap<String, String> = BTreeMap::new();
    let mut helped: Vec<String> = Vec::new();
    for line in text.lines() {
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let name = rest.split(' ').next().unwrap_or("");
            assert!(name_ok(name), "bad HELP line: {line}");
            helped.push(name.to_owned());
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut parts = rest.split(' ');
            let (name, kind) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
            assert!(name_ok(name), "bad TYPE line: {line}");
            assert!(
                ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind),
                "bad TYPE line: {line}"
            );
            assert!(
                helped.contains(&name.to_owned()),
                "TYPE before HELP: {line}"
            );
            assert!(
                typed.insert(name.to_owned(), kind.to_owned()).is_none(),
                "TYPE twice: {line}"
            );
            continue;
        }
        assert!(!line.starts_with('#'), "unexpected comment: {line}");
        let (series, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("no value: {line}"));
        assert!(
            value.parse::<f64>().is_ok() || ["+Inf", "-Inf", "NaN"].contains(&value),
            "bad value: {line}"
        );
        let name = match series.split_once('{') {
            Some((name, labels)) => {
                let labels = labels
                    .strip_suffix('}')
                    .unwrap_or_else(|| panic!("unclosed labels: {line}"));
                let mut rest = labels;
                while !rest.is_empty() {
                    let (key, after) = rest
                        .split_once("=\"")
                        .unwrap_or_else(|| panic!("bad label: {line}"));
                    assert!(name_ok(key), "bad label name: {line}");
                    // The value runs to the first unescaped quote.
                    let mut end = None;
                    let mut escaped = false;
                    for (i, c) in after.char_indices() {
                        match (escaped, c) {
                            (true, _) => escaped = false,
                            (false, '\\') => escaped = true,
                            (false, '"') => {
                                end = Some(i);
                                break;
                            }
                            (false, '\n') => panic!("raw newline in a label: {line}"),
                            _ => {}
                        }
                    }
                    let end = end.unwrap_or_else(|| panic!("unterminated label: {line}"));
                    rest = after[end + 1..]
                        .strip_prefix(',')
                        .unwrap_or(&after[end + 1..]);
                }
                name
            }
            None => series,
        };
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| {
                name.strip_suffix(s)
                    .filter(|f| typed.get(*f).map(String::as_str) == Some("histogram"))
            })
            .unwrap_or(name);
        assert!(
            typed.contains_key(family),
            "sample of an undeclared family: {line}"
        );
    }
    assert!(!typed.is_empty(), "no metric at all");
}

async fn scrape(srv: &TestServer) -> Vec<Sample> {
    let resp = srv
        .client
        .get(format!("{}/metrics", srv.base))
        .send()
        .await
        .expect("GET /metrics");
    assert_eq!(resp.status(), StatusCode::OK);
    let ct = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    assert!(
        ct.starts_with("text/plain; version=0.0.4"),
        "content type {ct}"
    );
    let text = resp.text().await.expect("metrics body");
    check_text_format(&text);
    python_parse(&text)
}

fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .filter(|s| {
            s.name == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|s| s.value)
        .sum()
}

async fn run_keyd(
    dir: &Path,
    master_b64: &str,
    token: &str,
) -> (std::net::SocketAddr, tokio::sync::oneshot::Sender<()>) {
    let engine = Arc::new(
        KeyEngine::open(dir, MasterKey::from_base64(master_b64).expect("master"))
            .await
            .expect("key engine"),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind keyd");
    let addr = listener.local_addr().expect("keyd address");
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let token = SecretToken::new(token).expect("token");
    tokio::spawn(async move {
        let _ = keyd::serve(listener, engine, token, async {
            let _ = rx.await;
        })
        .await;
    });
    (addr, tx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn metrics_readiness_and_request_ids() {
    // Logs as an operator would keep them: JSON, warnings and worse only.
    let logs = LogBuffer::default();
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(tracing_subscriber::EnvFilter::new("warn"))
        .with_writer(logs.clone())
        .try_init()
        .expect("the only subscriber of this test binary");
    let loc = new_location(Backend::Sqlite).await;
    let keyd_dir = tempfile::tempdir().expect("keyd dir");
    let master = MasterKey::generate().to_base64();
    let token = SecretToken::generate();
    let (addr, stop_keyd) = run_keyd(keyd_dir.path(), &master, token.expose()).await;
    let custody: Arc<dyn KeyCustody> = Arc::new(
        HttpCustody::new(
            &format!("http://{addr}"),
            SecretToken::new(token.expose()).expect("token"),
        )
        .expect("custody"),
    );
    let srv = start_with(&loc, custody).await;

    // --- request ids -----------------------------------------------------------------------
    let resp = srv
        .client
        .get(format!("{}/api/v1/no-such-endpoint", srv.base))
        .header("X-Request-Id", "obs-test-42")
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        resp.headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok()),
        Some("obs-test-42"),
        "a sane request id is echoed"
    );
    let problem: Value = resp.json().await.expect("problem");
    assert_eq!(problem["request_id"], "obs-test-42", "{problem}");
    assert_eq!(problem["status"], 404, "{problem}");
    assert!(
        problem["type"].is_string()
            && problem["title"].is_string()
            && problem["detail"].is_string()
    );

    for sent in [None, Some("x".repeat(100)), Some("with space".to_owned())] {
        let mut req = srv.client.get(format!("{}/healthz", srv.base));
        if let Some(id) = &sent {
            req = req.header("X-Request-Id", id);
        }
        let resp = req.send().await.expect("healthz");
        assert_eq!(resp.status(), StatusCode::OK);
        let id = resp
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .expect("a request id on every answer")
            .to_owned();
        assert_eq!(id.len(), 32, "a generated id replaces {sent:?}: {id}");
        assert!(id.bytes().all(|b| b.is_ascii_hexdigit()), "{id}");
    }

    // --- metrics move with traffic -----------------------------------------------------------
    let before = scrape(&srv).await;
    let booked = |s: &[Sample]| value(s, "careslot_bookings_total", &[("kind", "appointment")]);
    let conflicts = |s: &[Sample]| {
        value(
            s,
            "careslot_booking_conflicts_total",
            &[("kind", "appointment")],
        )
    };
    let p = srv.practice("Dr Metrics", 20, 1).await;
    let (mia, _) = srv.account("patient", "Mia Metric").await;
    let (noa, _) = srv.account("patient", "Noa Metric").await;
    let slots = srv.slots(&p).await;
    let body =
        json!({"agenda_id": p.agenda_id, "motive_id": p.motive_id, "start": slots[0]["start"]});
    let (s, appt) = srv
        .post("/api/v1/appointments", Some(&mia), body.clone())
        .await;
    assert_eq!(s, StatusCode::CREATED, "{appt}");
    let (s, refused) = srv.post("/api/v1/appointments", Some(&noa), body).await;
    assert_eq!(s, StatusCode::CONFLICT, "{refused}");
    assert!(refused["request_id"].is_string(), "{refused}");

    let after = scrape(&srv).await;
    assert_eq!(
        booked(&after),
        booked(&before) + 1.0,
        "the booking counter moves"
    );
    assert_eq!(
        conflicts(&after),
        conflicts(&before) + 1.0,
        "the conflict counter moves"
    );
    let route = [("method", "POST"), ("route", "/api/v1/appointments")];
    assert!(
        value(
            &after,
            "careslot_http_requests_total",
            &[route[0], route[1], ("status", "201")]
        ) >= 1.0
    );
    assert!(
        value(
            &after,
            "careslot_http_requests_total",
            &[route[0], route[1], ("status", "409")]
        ) >= 1.0
    );
    assert!(
        value(
            &after,
            "careslot_http_request_duration_seconds_count",
            &[route[0], route[1], ("status", "201")]
        ) >= 1.0,
        "latency histogram by route"
    );
    assert!(
        after.iter().any(
            |s| s.name == "careslot_http_request_duration_seconds_bucket"
                && s.labels.get("le").map(String::as_str) == Some("+Inf")
        ),
        "histogram buckets"
    );
    assert!(
        value(
            &after,
            "careslot_http_requests_total",
            &[("route", "/api/v1/agendas/{agenda_id}/slots")]
        ) >= 1.0,
        "routes are patterns"
    );
    let appt_id = appt["id"].as_str().expect("appointment id");
    for s in &after {
        for v in s.labels.values() {
            assert!(
                !v.contains(&p.agenda_id)
                    && !v.contains(appt_id)
                    && !v.contains("no-such-endpoint"),
                "an id or a raw path became a label: {s:?}"
            );
        }
    }
    assert!(
        after
            .iter()
            .any(|s| s.name == "careslot_db_pool_connections"),
        "pool gauges"
    );

    // --- readiness ---------------------------------------------------------------------------
    let (s, ready) = srv.get("/readyz", None).await;
    assert_eq!(s, StatusCode::OK, "{ready}");
    assert_eq!(ready["status"], "ready");

    let _ = stop_keyd.send(());
    let mut answer = None;
    for _ in 0..100 {
        let resp = srv
            .client
            .get(format!("{}/readyz", srv.base))
            .send()
            .await
            .expect("readyz");
        if resp.status() == StatusCode::SERVICE_UNAVAILABLE {
            answer = Some(resp);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let resp = answer.expect("/readyz turns 503 once the key service is down");
    // The request's log lines carry its id.
    let resp_logged = srv
        .client
        .get(format!("{}/readyz", srv.base))
        .header("X-Request-Id", "ready-check-7")
        .send()
        .await
        .expect("readyz");
    assert_eq!(resp_logged.status(), StatusCode::SERVICE_UNAVAILABLE);
    let lines = logs.lines();
    let line = lines
        .iter()
        .find(|l| l.contains("ready-check-7"))
        .unwrap_or_else(|| panic!("no log line of the request carries its id: {lines:#?}"));
    let line: Value = serde_json::from_str(line).expect("a JSON log line");
    assert_eq!(line["span"]["request_id"], "ready-check-7", "{line}");
    assert!(
        line["fields"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("not ready")),
        "{line}"
    );
    assert!(
        resp.headers().get("retry-after").is_some(),
        "every 503 carries Retry-After"
    );
    assert!(resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/problem+json")));
    let problem: Value = resp.json().await.expect("problem");
    assert_eq!(
        problem["type"], "https://careslot.eu/problems/not-ready",
        "{problem}"
    );
    assert!(problem["request_id"].is_string(), "{problem}");
    let (s, _) = srv.get("/healthz", None).await;
    assert_eq!(s, StatusCode::OK, "alive while not ready");

    // The key service's own 503 carries Retry-After too.
    let resp = srv
        .client
        .post(format!("{}/api/v1/accounts", srv.base))
        .json(&json!({"email": "late@example.test", "password": "correct horse battery", "name": "Late", "role": "patient"}))
        .send()
        .await
        .expect("accounts");
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(resp.headers().get("retry-after").is_some());

    // The OpenAPI document describes the operations endpoints beside /healthz.
    let (s, doc) = srv.get("/api/v1/openapi.json", None).await;
    assert_eq!(s, StatusCode::OK);
    for path in ["/healthz", "/readyz", "/metrics"] {
        assert!(doc["paths"][path]["get"].is_object(), "{path} in OpenAPI");
    }
    srv.stop().await;
}

// --- operations metrics (issue 16) --------------------------------------------------------

/// Scrapes until `ok` holds for the parsed samples (the outbox count is refreshed at most
/// every few seconds and the worker runs on its own), or fails with the last scrape.
async fn scrape_until(srv: &TestServer, what: &str, ok: impl Fn(&[Sample]) -> bool) -> Vec<Sample> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let samples = scrape(srv).await;
        if ok(&samples) {
            return samples;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{what} never held; last scrape: {samples:#?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
}

fn family_count(samples: &[Sample], name: &str) -> f64 {
    value(samples, name, &[])
}

/// The writer's group sizes, the outbox's depth and deliveries, the key service's latency and
/// cache all move with one booking whose messages first fail, then go out.
async fn operations_metrics_move_with_traffic(backend: Backend) {
    use careslot_messages::{Channel, FileChannel, RetryPolicy};
    use careslot_server::outbox::MessagesConfig;
    use careslot_server::services::AppConfig;
    use jiff::SignedDuration;

    // The file channel's directory is first blocked by a plain file: every send fails
    // (transient) until the file goes.
    let spool = tempfile::tempdir().expect("spool");
    let blocker = spool.path().join("outbox");
    std::fs::write(&blocker, b"a file where the directory should be").expect("blocker");
    let channel: Arc<dyn Channel> = Arc::new(
        FileChannel::new(blocker.join("mail"), "careslot <no-reply@careslot.test>")
            .expect("file channel"),
    );
    let config = AppConfig {
        messages: MessagesConfig {
            channel: Some(channel),
            retry: RetryPolicy {
                base: SignedDuration::from_millis(100),
                cap: SignedDuration::from_millis(300),
                floor: SignedDuration::from_millis(50),
                max_attempts: 10_000,
            },
            poll: std::time::Duration::from_millis(100),
            ..Default::default()
        },
        ..AppConfig::default()
    };
    let loc = new_location(backend).await;
    let custody = open_custody(&loc).await;
    let srv = serve_app(app_configured(&loc, custody, config).await).await;

    let before = scrape(&srv).await;
    for family in [
        "careslot_writer_group_size_count",
        "careslot_writer_queue_depth",
        "careslot_outbox_messages",
        "careslot_outbox_deliveries_total",
        "careslot_key_cache_lookups_total",
        "careslot_db_pool_connections",
    ] {
        assert!(
            before.iter().any(|s| s.name == family),
            "{family} is exported from the start"
        );
    }
    let key_calls =
        |s: &[Sample]| family_count(s, "careslot_key_service_request_duration_seconds_count");
    let groups = |s: &[Sample]| family_count(s, "careslot_writer_group_size_count");
    let cache = |s: &[Sample]| family_count(s, "careslot_key_cache_lookups_total");
    let delivered = |s: &[Sample], outcome: &str| {
        value(
            s,
            "careslot_outbox_deliveries_total",
            &[("channel", "email"), ("outcome", outcome)],
        )
    };
    let outbox =
        |s: &[Sample], state: &str| value(s, "careslot_outbox_messages", &[("state", state)]);

    // A booking a week ahead: its confirmation is due now, its reminder in four days.
    let p = srv.practice("Dr Gauge", 20, 1).await;
    let (patient, _) = srv.account("patient", "Ops Patient").await;
    let slots = srv.slots(&p).await;
    let last = slots.last().expect("slots")["start"].clone();
    let (s, appt) = srv
        .post(
            "/api/v1/appointments",
            Some(&patient),
            json!({"agenda_id": p.agenda_id, "motive_id": p.motive_id, "start": last}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{appt}");
    let (s, _) = srv
        .get(
            &format!(
                "/api/v1/agendas/{}/appointments?from={}&to={}",
                p.agenda_id,
                jiff::Zoned::now().date(),
                jiff::Zoned::now()
                    .date()
                    .checked_add(jiff::Span::new().days(8))
                    .expect("date")
            ),
            Some(&p.token),
        )
        .await;
    assert_eq!(s, StatusCode::OK);

    // Sends fail while the directory is blocked: retries are counted, both messages queued.
    let failing = scrape_until(
        &srv,
        "a failed delivery counted and two messages queued",
        |s| delivered(s, "retried") > delivered(&before, "retried") && outbox(s, "queued") >= 2.0,
    )
    .await;
    assert!(
        groups(&failing) > groups(&before),
        "the booking went through a writer group"
    );
    assert!(
        key_calls(&failing) > key_calls(&before),
        "key-service calls are timed"
    );
    assert!(
        cache(&failing) > cache(&before),
        "data-key lookups are counted"
    );
    assert!(
        value(
            &failing,
            "careslot_key_service_request_duration_seconds_count",
            &[("op", "datakey"), ("outcome", "ok")]
        ) >= 1.0,
        "new accounts asked the key service for data keys"
    );
    assert_eq!(
        delivered(&failing, "sent"),
        delivered(&before, "sent"),
        "nothing could be sent yet"
    );

    // Unblocked: the confirmation goes out; only the reminder (not due for days) is left.
    std::fs::remove_file(&blocker).expect("unblock");
    let sent = scrape_until(
        &srv,
        "the confirmation sent and only the reminder left",
        |s| {
            delivered(s, "sent") > delivered(&before, "sent")
                && outbox(s, "queued") == 1.0
                && outbox(s, "due") == 0.0
        },
    )
    .await;
    assert_eq!(outbox(&sent, "dead"), 0.0);
    // Besides the sign-ups' verification mails.
    let files = std::fs::read_dir(blocker.join("mail"))
        .expect("mail dir")
        .flatten()
        .filter(|e| {
            !std::fs::read_to_string(e.path())
                .unwrap_or_default()
                .contains("/email-verification?token=")
        })
        .count();
    assert_eq!(files, 1, "one message written: the confirmation");
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn operations_metrics_move_with_traffic_on_sqlite() {
    operations_metrics_move_with_traffic(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn operations_metrics_move_with_traffic_on_postgres() {
    operations_metrics_move_with_traffic(Backend::Postgres).await;
}
