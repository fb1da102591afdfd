//! Real components for the integration tests: an SMTP server (aiosmtpd, started and stopped
//! here) and a stand-in SMS provider speaking the shape of Twilio's Messages API.

#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Form, Json, Router};
use base64::Engine;

const HINT: &str = "the SMTP tests need python3 with aiosmtpd: \
    pip install aiosmtpd (or pip install --break-system-packages aiosmtpd); .ci/run installs it";

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/smtp_sink.py")
}

/// aiosmtpd on 127.0.0.1, on a port it picked; every message it accepts lands in `dir`.
pub struct SmtpSink {
    child: Child,
    pub port: u16,
    pub dir: tempfile::TempDir,
}

impl SmtpSink {
    /// Starts the sink, trying again (at most three times) when it exits before it is ready:
    /// once in a long CI run, python exited with status 2 before printing READY, and the
    /// next start worked.
    pub fn start() -> SmtpSink {
        let mut last = String::new();
        for _ in 0..3 {
            match Self::try_start() {
                Ok(sink) => return sink,
                Err(why) => {
                    eprintln!("SMTP sink: {why}; starting it again");
                    last = why;
                }
            }
        }
        panic!("the SMTP server did not start ({last}); {HINT}");
    }

    fn try_start() -> Result<SmtpSink, String> {
        let dir = tempfile::tempdir().unwrap();
        let mut child = Command::new("python3")
            .arg(script())
            .arg("serve")
            .arg(dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("python3 could not be started ({e}); {HINT}"));
        let stdout = child.stdout.take().unwrap();
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        let port = match line.trim().strip_prefix("READY ") {
            Some(p) => p.parse().unwrap(),
            None => {
                let status = child.wait().unwrap();
                if status.code() == Some(3) {
                    panic!("aiosmtpd is missing; {HINT}");
                }
                return Err(format!("exit {status}, first line {line:?}"));
            }
        };
        Ok(SmtpSink { child, port, dir })
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// The stored messages, oldest first.
    pub fn messages(&self) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "eml"))
            .collect();
        files.sort();
        files
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The message as python's `email` package reads it: headers, and each part decoded.
pub fn summary(path: &Path) -> serde_json::Value {
    let out = Command::new("python3")
        .arg(script())
        .arg("summary")
        .arg(path)
        .output()
        .unwrap_or_else(|e| panic!("python3 could not be started ({e}); {HINT}"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A port nothing listens on (bound, then released).
pub fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

pub const SID: &str = "AC0123456789abcdef0123456789abcdef";
pub const TOKEN: &str = "stand-in-token";
pub const FROM: &str = "+33700000001";
/// Passes E.164 but the provider says it cannot deliver there (Twilio's test number).
pub const INVALID_TO: &str = "+15005550001";

/// What the SMS stand-in accepted, keyed by idempotency token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sms {
    pub to: String,
    pub from: String,
    pub body: String,
    pub token: String,
}

#[derive(Default)]
pub struct SmsState {
    pub accepted: Mutex<Vec<Sms>>,
    /// Every request, valid or not.
    pub requests: Mutex<usize>,
    /// Answer 503 to everything while set.
    pub down: Mutex<bool>,
}

/// The stand-in provider, served on 127.0.0.1 by a task of the test's runtime.
pub struct SmsStandIn {
    pub addr: SocketAddr,
    pub state: Arc<SmsState>,
}

impl SmsStandIn {
    pub async fn start() -> SmsStandIn {
        let state = Arc::new(SmsState::default());
        let app = Router::new()
            .route(
                "/2010-04-01/Accounts/{sid}/Messages.json",
                post(create_message),
            )
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        SmsStandIn { addr, state }
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn accepted(&self) -> Vec<Sms> {
        self.state.accepted.lock().unwrap().clone()
    }
}

fn error(status: StatusCode, code: u32, message: &str) -> Response {
    let body = serde_json::json!({
        "code": code,
        "message": message,
        "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
        "status": status.as_u16(),
    });
    (status, Json(body)).into_response()
}

fn e164(n: &str) -> bool {
    n.strip_prefix('+').is_some_and(|d| {
        (8..=15).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit()) && !d.starts_with('0')
    })
}

/// Checks what the real provider checks: credentials, account, sender, number, body length;
/// a repeated idempotency token returns the first answer without sending again.
async fn create_message(
    State(state): State<Arc<SmsState>>,
    UrlPath(sid): UrlPath<String>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    *state.requests.lock().unwrap() += 1;
    if *state.down.lock().unwrap() {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            20503,
            "Service unavailable",
        );
    }
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{SID}:{TOKEN}"))
    );
    let auth = headers.get("authorization").and_then(|v| v.to_str().ok());
    if auth != Some(expected.as_str()) || sid != SID {
        return error(StatusCode::UNAUTHORIZED, 20003, "Authenticate");
    }
    let token = match headers
        .get("i-twilio-idempotency-token")
        .and_then(|v| v.to_str().ok())
    {
        Some(t) if !t.is_empty() => t.to_owned(),
        _ => return error(StatusCode::BAD_REQUEST, 20001, "Missing idempotency token"),
    };
    let field = |k: &str| form.get(k).cloned().unwrap_or_default();
    let (to, from, body) = (field("To"), field("From"), field("Body"));
    if from != FROM {
        return error(
            StatusCode::BAD_REQUEST,
            21606,
            "The 'From' phone number provided is not a valid message-capable phone number for this account.",
        );
    }
    if !e164(&to) || to == INVALID_TO {
        return error(
            StatusCode::BAD_REQUEST,
            21211,
            &format!("The 'To' number {to} is not a valid phone number."),
        );
    }
    if body.is_empty() {
        return error(StatusCode::BAD_REQUEST, 21602, "Message body is required.");
    }
    if body.chars().count() > 1600 {
        return error(
            StatusCode::BAD_REQUEST,
            21617,
            "The concatenated message body exceeds the 1600 character limit.",
        );
    }
    let mut accepted = state.accepted.lock().unwrap();
    let index = match accepted.iter().position(|s| s.token == token) {
        Some(i) => i,
        None => {
            accepted.push(Sms {
                to: to.clone(),
                from: from.clone(),
                body: body.clone(),
                token: token.clone(),
            });
            accepted.len() - 1
        }
    };
    let sms = &accepted[index];
    let answer = serde_json::json!({
        "sid": format!("SM{:032x}", index + 1),
        "account_sid": SID,
        "to": sms.to,
        "from": sms.from,
        "body": sms.body,
        "status": "queued",
        "num_segments": "1",
        "error_code": null,
        "error_message": null,
    });
    (StatusCode::CREATED, Json(answer)).into_response()
}
