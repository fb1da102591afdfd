//! A local stand-in for Stripe's PaymentIntents API, following Stripe's documented request
//! and response shapes closely enough for careslot's adapter to be tested end to end:
//!
//! - `POST /v1/payment_intents`, `/v1/payment_intents/{id}/capture`, `/{id}/cancel`, form
//!   encoded, `Authorization: Bearer <secret key>` (else 401);
//! - `payment_intent` objects (`pi_…`) moving `requires_capture` → `succeeded` | `canceled`,
//!   with `amount_capturable` and `amount_received`;
//! - errors as `{"error": {"type", "code", "decline_code", "message"}}`: the test card
//!   `pm_card_chargeDeclined` is declined with 402; capturing or cancelling in the wrong
//!   state is a 400 `payment_intent_unexpected_state`; unknown ids 404;
//!   `pm_card_authenticationRequired` leaves the intent in `requires_action` (3-D Secure);
//! - `Idempotency-Key`: the same key with the same parameters replays the first response
//!   (header `Idempotent-Replayed: true`); with other parameters, 400 `idempotency_error`;
//! - events (`evt_…`) recorded for each state change, delivered on request to careslot's
//!   webhook signed as Stripe does (`Stripe-Signature: t=…,v1=HMAC-SHA256`).
//!
//! Test support only: not product code.

#![allow(dead_code)]

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use hmac::{Hmac, Mac};
use parking_lot::Mutex;
use serde_json::{json, Value};
use sha2::Sha256;
use std::collections::HashMap;
use std::sync::Arc;

pub const SECRET_KEY: &str = "sk_test_careslot_standin_0123456789";
pub const WEBHOOK_SECRET: &str = "whsec_careslot_standin_0123456789";

/// One request as the stand-in received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub path: String,
    pub params: Vec<(String, String)>,
    pub idempotency_key: Option<String>,
    pub replayed: bool,
}

impl Recorded {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
struct Inner {
    intents: HashMap<String, Value>,
    /// key → (path and sorted parameters, status, body)
    idempotency: HashMap<String, (String, u16, Value)>,
    requests: Vec<Recorded>,
    events: Vec<Value>,
    seq: u64,
}

#[derive(Clone)]
struct Shared(Arc<Mutex<Inner>>);

pub struct StripeStandin {
    pub base: String,
    shared: Shared,
    http: reqwest::Client,
}

fn error(status: StatusCode, kind: &str, code: Option<&str>, message: &str) -> (u16, Value) {
    let mut e = json!({"type": kind, "message": message});
    if let Some(c) = code {
        e["code"] = json!(c);
    }
    (status.as_u16(), json!({ "error": e }))
}

impl Inner {
    fn next(&mut self, prefix: &str) -> String {
        self.seq += 1;
        format!("{prefix}_standin{:08}", self.seq)
    }

    fn emit(&mut self, kind: &str, intent: &Value) {
        let id = self.next("evt");
        self.events.push(json!({
            "id": id,
            "object": "event",
            "type": kind,
            "created": jiff::Timestamp::now().as_second(),
            "livemode": false,
            "data": {"object": intent},
        }));
    }

    fn create(&mut self, p: &HashMap<String, String>) -> (u16, Value) {
        let Some(amount) = p
            .get("amount")
            .and_then(|a| a.parse::<i64>().ok())
            .filter(|a| *a > 0)
        else {
            return error(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                Some("parameter_missing"),
                "Missing required param: amount.",
            );
        };
        let Some(currency) = p.get("currency") else {
            return error(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                Some("parameter_missing"),
                "Missing required param: currency.",
            );
        };
        let id = self.next("pi");
        let manual = p.get("capture_method").map(String::as_str) == Some("manual");
        let confirm = p.get("confirm").map(String::as_str) == Some("true");
        let pm = p.get("payment_method").cloned();
        let metadata: serde_json::Map<String, Value> = p
            .iter()
            .filter_map(|(k, v)| {
                k.strip_prefix("metadata[")
                    .and_then(|k| k.strip_suffix(']'))
                    .map(|k| (k.to_owned(), json!(v)))
            })
            .collect();
        let mut intent = json!({
            "id": id,
            "object": "payment_intent",
            "amount": amount,
            "amount_capturable": 0,
            "amount_received": 0,
            "capture_method": if manual { "manual" } else { "automatic" },
            "client_secret": format!("{id}_secret_standin"),
            "confirmation_method": "automatic",
            "created": jiff::Timestamp::now().as_second(),
            "currency": currency,
            "livemode": false,
            "metadata": metadata,
            "payment_method": pm,
            "status": "requires_payment_method",
        });
        if confirm {
            match pm.as_deref() {
                None => {
                    return error(StatusCode::BAD_REQUEST, "invalid_request_error", Some("payment_intent_unexpected_state"), "You cannot confirm this PaymentIntent because it's missing a payment method.");
                }
                Some("pm_card_chargeDeclined") | Some("pm_card_visa_chargeDeclined") => {
                    intent["last_payment_error"] = json!({"type": "card_error", "code": "card_declined", "decline_code": "generic_decline"});
                    self.intents.insert(id.clone(), intent.clone());
                    self.emit("payment_intent.payment_failed", &intent);
                    let (status, mut body) = error(
                        StatusCode::PAYMENT_REQUIRED,
                        "card_error",
                        Some("card_declined"),
                        "Your card was declined.",
                    );
                    body["error"]["decline_code"] = json!("generic_decline");
                    body["error"]["payment_intent"] = intent;
                    return (status, body);
                }
                // Stripe's test card that asks for 3-D Secure.
                Some("pm_card_authenticationRequired") => {
                    intent["status"] = json!("requires_action");
                    intent["next_action"] = json!({"type": "use_stripe_sdk"});
                    self.emit("payment_intent.requires_action", &intent);
                }
                Some(_) if manual => {
                    intent["status"] = json!("requires_capture");
                    intent["amount_capturable"] = json!(amount);
                    self.emit("payment_intent.amount_capturable_updated", &intent);
                }
                Some(_) => {
                    intent["status"] = json!("succeeded");
                    intent["amount_received"] = json!(amount);
                    self.emit("payment_intent.succeeded", &intent);
                }
            }
        } else if pm.is_some() {
            intent["status"] = json!("requires_confirmation");
        }
        self.intents.insert(id, intent.clone());
        (200, intent)
    }

    fn capture(&mut self, id: &str) -> (u16, Value) {
        let Some(intent) = self.intents.get_mut(id) else {
            return error(
                StatusCode::NOT_FOUND,
                "invalid_request_error",
                Some("resource_missing"),
                "No such payment_intent.",
            );
        };
        if intent["status"] != "requires_capture" {
            return error(StatusCode::BAD_REQUEST, "invalid_request_error", Some("payment_intent_unexpected_state"), "This PaymentIntent could not be captured because it has a status other than requires_capture.");
        }
        let amount = intent["amount_capturable"].clone();
        intent["amount_received"] = amount;
        intent["amount_capturable"] = json!(0);
        intent["status"] = json!("succeeded");
        let intent = intent.clone();
        self.emit("payment_intent.succeeded", &intent);
        (200, intent)
    }

    fn cancel(&mut self, id: &str) -> (u16, Value) {
        let Some(intent) = self.intents.get_mut(id) else {
            return error(
                StatusCode::NOT_FOUND,
                "invalid_request_error",
                Some("resource_missing"),
                "No such payment_intent.",
            );
        };
        let cancellable = [
            "requires_payment_method",
            "requires_capture",
            "requires_confirmation",
            "requires_action",
            "processing",
        ];
        if !cancellable.iter().any(|s| intent["status"] == *s) {
            return error(StatusCode::BAD_REQUEST, "invalid_request_error", Some("payment_intent_unexpected_state"), "You cannot cancel this PaymentIntent because it has a status of succeeded or canceled.");
        }
        intent["status"] = json!("canceled");
        intent["amount_capturable"] = json!(0);
        intent["canceled_at"] = json!(jiff::Timestamp::now().as_second());
        let intent = intent.clone();
        self.emit("payment_intent.canceled", &intent);
        (200, intent)
    }
}

async fn handle(shared: &Shared, headers: &HeaderMap, path: String, body: &[u8]) -> Response {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if auth != format!("Bearer {SECRET_KEY}") {
        let (s, b) = error(
            StatusCode::UNAUTHORIZED,
            "invalid_request_error",
            None,
            "Invalid API Key provided.",
        );
        return reply(s, b, false);
    }
    let params: Vec<(String, String)> = serde_urlencoded::from_bytes(body).unwrap_or_default();
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let mut inner = shared.0.lock();
    let mut sorted = params.clone();
    sorted.sort();
    let fingerprint = format!(
        "{path}?{}",
        serde_urlencoded::to_string(&sorted).unwrap_or_default()
    );
    if let Some(k) = &key {
        if let Some((fp, status, body)) = inner.idempotency.get(k).cloned() {
            let replay = fp == fingerprint;
            inner.requests.push(Recorded {
                path: path.clone(),
                params,
                idempotency_key: key.clone(),
                replayed: replay,
            });
            if replay {
                return reply(status, body, true);
            }
            let (s, b) = error(StatusCode::BAD_REQUEST, "idempotency_error", None, "Keys for idempotent requests can only be used with the same parameters they were first used with.");
            return reply(s, b, false);
        }
    }
    inner.requests.push(Recorded {
        path: path.clone(),
        params: params.clone(),
        idempotency_key: key.clone(),
        replayed: false,
    });
    let map: HashMap<String, String> = params.into_iter().collect();
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let (status, body) = match parts.as_slice() {
        ["v1", "payment_intents"] => inner.create(&map),
        ["v1", "payment_intents", id, "capture"] => inner.capture(id),
        ["v1", "payment_intents", id, "cancel"] => inner.cancel(id),
        _ => error(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            None,
            "Unrecognized request URL.",
        ),
    };
    if let Some(k) = key {
        inner
            .idempotency
            .insert(k, (fingerprint, status, body.clone()));
    }
    reply(status, body, false)
}

fn reply(status: u16, body: Value, replayed: bool) -> Response {
    let mut resp = (
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        Json(body),
    )
        .into_response();
    resp.headers_mut().insert(
        "request-id",
        axum::http::HeaderValue::from_static("req_standin"),
    );
    if replayed {
        resp.headers_mut().insert(
            "idempotent-replayed",
            axum::http::HeaderValue::from_static("true"),
        );
    }
    resp
}

async fn create(State(s): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    handle(&s, &headers, "/v1/payment_intents".into(), &body).await
}

async fn action(
    State(s): State<Shared>,
    Path((id, op)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    handle(
        &s,
        &headers,
        format!("/v1/payment_intents/{id}/{op}"),
        &body,
    )
    .await
}

/// `t=<t>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`, as Stripe signs its deliveries.
pub fn signature_header(secret: &str, t: i64, body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()).expect("hmac key");
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
}

impl StripeStandin {
    pub async fn start() -> Self {
        let shared = Shared(Arc::new(Mutex::new(Inner::default())));
        let app = Router::new()
            .route("/v1/payment_intents", post(create))
            .route("/v1/payment_intents/{id}/{op}", post(action))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind stand-in");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            base,
            shared,
            http: reqwest::Client::new(),
        }
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.0.lock().requests.clone()
    }

    pub fn intent(&self, id: &str) -> Option<Value> {
        self.shared.0.lock().intents.get(id).cloned()
    }

    /// The intents whose metadata names this appointment.
    pub fn intents_for(&self, appointment: &str) -> Vec<Value> {
        self.shared
            .0
            .lock()
            .intents
            .values()
            .filter(|i| i["metadata"]["appointment_id"] == appointment)
            .cloned()
            .collect()
    }

    /// Events recorded for an intent, oldest first.
    pub fn events_for(&self, intent_id: &str) -> Vec<Value> {
        self.shared
            .0
            .lock()
            .events
            .iter()
            .filter(|e| e["data"]["object"]["id"] == intent_id)
            .cloned()
            .collect()
    }

    /// Posts a raw body with a given signature header to careslot's webhook.
    pub async fn post_webhook(&self, url: &str, body: &[u8], signature: &str) -> (u16, Value) {
        let resp = self
            .http
            .post(url)
            .header("content-type", "application/json")
            .header("stripe-signature", signature)
            .body(body.to_vec())
            .send()
            .await
            .expect("webhook request");
        let status = resp.status().as_u16();
        let v = resp.json::<Value>().await.unwrap_or(Value::Null);
        (status, v)
    }

    /// Delivers an event to careslot as Stripe would: signed now with the endpoint secret.
    pub async fn deliver(&self, url: &str, event: &Value) -> (u16, Value) {
        let body = serde_json::to_vec(event).expect("event json");
        let t = jiff::Timestamp::now().as_second();
        self.post_webhook(url, &body, &signature_header(WEBHOOK_SECRET, t, &body))
            .await
    }
}
