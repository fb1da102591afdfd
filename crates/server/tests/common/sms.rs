//! A stand-in SMS provider for the server tests, speaking the shape of Twilio's Messages API
//! (`POST /2010-04-01/Accounts/{sid}/Messages.json`, form `To`/`From`/`Body`, basic auth,
//! `I-Twilio-Idempotency-Token`). It refuses what the real provider refuses — wrong
//! credentials or account, an unknown sender, a number that is not E.164, an empty body or one
//! over 1,600 characters — and accepts a repeated idempotency token once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Form, Json, Router};
use base64::Engine;
use careslot_messages::{SmsChannel, SmsConfig};

pub const SID: &str = "AC00000000000000000000000000000014";
pub const TOKEN: &str = "server-tests-sms-token";
pub const FROM: &str = "+33700000014";

/// One SMS the stand-in accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sms {
    pub to: String,
    pub from: String,
    pub body: String,
    pub token: String,
}

#[derive(Default)]
struct Inbox {
    accepted: Mutex<Vec<Sms>>,
    refused: Mutex<Vec<String>>,
}

/// The provider, served on 127.0.0.1 by a task of the test's runtime.
pub struct SmsStandIn {
    base: String,
    inbox: Arc<Inbox>,
}

impl SmsStandIn {
    pub async fn start() -> SmsStandIn {
        let inbox = Arc::new(Inbox::default());
        let app = Router::new()
            .route("/2010-04-01/Accounts/{sid}/Messages.json", post(create))
            .with_state(inbox.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        SmsStandIn { base, inbox }
    }

    /// The server's SMS channel, configured for this stand-in.
    pub fn channel(&self) -> SmsChannel {
        SmsChannel::new(SmsConfig {
            base_url: self.base.clone(),
            account_sid: SID.to_owned(),
            auth_token: TOKEN.to_owned(),
            from: FROM.to_owned(),
            timeout: Duration::from_secs(10),
        })
        .expect("sms channel")
    }

    pub fn accepted(&self) -> Vec<Sms> {
        self.inbox
            .accepted
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Why requests were refused (the provider's error codes and messages).
    pub fn refused(&self) -> Vec<String> {
        self.inbox
            .refused
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Waits (bounded) until at least `n` SMS were accepted; returns them all.
    pub async fn wait_for(&self, n: usize, within: Duration) -> Vec<Sms> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let got = self.accepted();
            if got.len() >= n {
                return got;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{} SMS accepted, {n} expected; refused: {:?}",
                got.len(),
                self.refused()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn e164(n: &str) -> bool {
    n.strip_prefix('+').is_some_and(|d| {
        (8..=15).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit()) && !d.starts_with('0')
    })
}

fn refuse(inbox: &Inbox, status: StatusCode, code: u32, message: &str) -> Response {
    inbox
        .refused
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(format!("{code} {message}"));
    let body = serde_json::json!({"code": code, "message": message, "status": status.as_u16()});
    (status, Json(body)).into_response()
}

async fn create(
    State(inbox): State<Arc<Inbox>>,
    Path(sid): Path<String>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{SID}:{TOKEN}"))
    );
    let auth = headers.get("authorization").and_then(|v| v.to_str().ok());
    if auth != Some(expected.as_str()) || sid != SID {
        return refuse(&inbox, StatusCode::UNAUTHORIZED, 20003, "Authenticate");
    }
    let Some(token) = headers
        .get("i-twilio-idempotency-token")
        .and_then(|v| v.to_str().ok())
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
    else {
        return refuse(
            &inbox,
            StatusCode::BAD_REQUEST,
            20001,
            "Missing idempotency token",
        );
    };
    let field = |k: &str| form.get(k).cloned().unwrap_or_default();
    let (to, from, body) = (field("To"), field("From"), field("Body"));
    if from != FROM {
        return refuse(&inbox, StatusCode::BAD_REQUEST, 21606, "unknown sender");
    }
    if !e164(&to) {
        return refuse(
            &inbox,
            StatusCode::BAD_REQUEST,
            21211,
            "not an E.164 number",
        );
    }
    if body.trim().is_empty() || body.chars().count() > 1600 {
        return refuse(
            &inbox,
            StatusCode::BAD_REQUEST,
            21617,
            "body empty or too long",
        );
    }
    let mut accepted = inbox.accepted.lock().unwrap_or_else(|p| p.into_inner());
    if !accepted.iter().any(|s| s.token == token) {
        accepted.push(Sms {
            to: to.clone(),
            from,
            body,
            token: token.clone(),
        });
    }
    let answer = serde_json::json!({"sid": format!("SM{}", token.replace('-', "")), "to": to, "status": "queued"});
    (StatusCode::CREATED, Json(answer)).into_response()
}
