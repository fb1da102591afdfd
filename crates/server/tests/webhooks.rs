//! A practice's webhooks (issue 19, point 5) over real HTTP, on SQLite and PostgreSQL: a small
//! axum receiver in the test checks every request's `Careslot-Signature` with the secret
//! given at creation, sees each event once (booked, moved, cancelled), no patient identity
//! in any body, then goes down (503) while two more bookings happen and gets both once it is
//! back; the delivery log shows the failed attempts and the deliveries.

mod common;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode as AxumStatus};
use careslot_messages::RetryPolicy;
use careslot_server::services::AppConfig;
use careslot_server::webhooks::WebhooksConfig;
use common::{app_configured, open_custody, serve_app, start_configured, Backend, TestServer};
use hmac::{Hmac, Mac};
use jiff::SignedDuration;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sha2::Sha256;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the receiver saw.
#[derive(Default)]
struct Seen {
    /// The signing secret, once the webhook exists.
    secret: Mutex<Option<String>>,
    /// Accepted events: (webhook id header, event header, body).
    events: Mutex<Vec<(String, String, Value)>>,
    /// Requests refused while down.
    refused: AtomicUsize,
    /// Requests whose signature did not verify (none expected).
    bad_signatures: AtomicUsize,
    down: AtomicBool,
}

/// The receiver's check, as the README tells integrators: `t` and `v1` from the header,
/// HMAC-SHA256 of `"{t}.{body}"` keyed with the secret, compared in constant time.
fn verify(secret: &str, header: &str, body: &[u8]) -> bool {
    let mut t = None;
    let mut v1 = None;
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", v)) => t = Some(v),
            Some(("v1", v)) => v1 = Some(v),
            _ => {}
        }
    }
    let (Some(t), Some(v1)) = (t, v1) else {
        return false;
    };
    let Ok(expected) = hex::decode(v1) else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(t.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
}

async fn receive(State(seen): State<Arc<Seen>>, headers: HeaderMap, body: Bytes) -> AxumStatus {
    if seen.down.load(Ordering::SeqCst) {
        seen.refused.fetch_add(1, Ordering::SeqCst);
        return AxumStatus::SERVICE_UNAVAILABLE;
    }
    let header = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    let secret = seen.secret.lock().unwrap().clone().unwrap_or_default();
    if !verify(&secret, &header("careslot-signature"), &body) {
        seen.bad_signatures.fetch_add(1, Ordering::SeqCst);
        return AxumStatus::BAD_REQUEST;
    }
    let value: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    seen.events.lock().unwrap().push((
        header("careslot-webhook-id"),
        header("careslot-event"),
        value,
    ));
    AxumStatus::NO_CONTENT
}

async fn receiver() -> (String, Arc<Seen>) {
    let seen = Arc::new(Seen::default());
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(receive))
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, seen)
}

/// Waits (polling, bounded) until `done` holds; panics with `what` if it never does.
async fn until(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..600 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("never happened: {what}");
}

fn events(seen: &Seen) -> Vec<(String, String, Value)> {
    seen.events.lock().unwrap().clone()
}

async fn deliveries(srv: &TestServer, token: &str, hook: &str) -> Vec<Value> {
    let (s, body) = srv
        .get(
            &format!("/api/v1/practitioner/webhooks/{hook}/deliveries"),
            Some(token),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    body["deliveries"].as_array().unwrap().clone()
}

fn quick() -> AppConfig {
    AppConfig {
        webhooks: WebhooksConfig {
            // Quick retries: the outage lasts a few of them.
            retry: RetryPolicy {
                base: SignedDuration::from_millis(50),
                cap: SignedDuration::from_millis(200),
                floor: SignedDuration::from_millis(10),
                max_attempts: 10_000,
            },
            poll: Duration::from_millis(50),
            ..Default::default()
        },
        ..Default::default()
    }
}

/// Sleeps until the webhook's `active_from` (after checking it is not before its creation).
async fn until_active(hook: &Value) {
    let created: jiff::Timestamp = hook["created_at"].as_str().unwrap().parse().unwrap();
    let active: jiff::Timestamp = hook["active_from"].as_str().unwrap().parse().unwrap();
    assert!(active >= created, "{hook}");
    let wait = active.duration_since(jiff::Timestamp::now());
    if wait.is_positive() {
        tokio::time::sleep(Duration::try_from(wait).unwrap()).await;
    }
}

async fn signed_events_once_and_after_an_outage(backend: Backend) {
    let (srv, _loc) = start_configured(backend, quick()).await;
    let p = srv.practice("Dr Crochet", 20, 1).await;
    let (patient, _) = srv.account("patient", "Léa Confidentielle").await;
    let (_, me) = srv.get("/api/v1/me", Some(&patient)).await;
    let patient_id = me["id"].as_str().unwrap().to_owned();
    let (url, seen) = receiver().await;

    // Bad subscriptions: 422; patients have none.
    let hooks = "/api/v1/practitioner/webhooks";
    for bad in [
        json!({"url": "http://pms.example/hook", "events": ["appointment.booked"]}),
        json!({"url": url, "events": ["appointment.created"]}),
        json!({"url": url, "events": []}),
    ] {
        let (s, body) = srv.post(hooks, Some(&p.token), bad.clone()).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {body}");
    }
    let (s, _) = srv
        .post(
            hooks,
            Some(&patient),
            json!({"url": url, "events": ["appointment.booked"]}),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    let all = [
        "appointment.booked",
        "appointment.cancelled",
        "appointment.moved",
        "appointment.no_show",
    ];
    let (s, hook) = srv
        .post(hooks, Some(&p.token), json!({"url": url, "events": all}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{hook}");
    let secret = hook["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"), "{hook}");
    *seen.secret.lock().unwrap() = Some(secret);
    let hook_id = hook["id"].as_str().unwrap().to_owned();
    // Changes reach it from `active_from`: its creation on SQLite's one node, a few seconds
    // later on PostgreSQL (every node learns of it first).
    until_active(&hook).await;
    // The secret is shown once.
    let (_, list) = srv.get(hooks, Some(&p.token)).await;
    assert_eq!(list["webhooks"][0]["id"], hook_id.as_str());
    assert!(list["webhooks"][0].get("secret").is_none(), "{list}");

    // Booked, moved, cancelled: each once, in order, signed.
    let slots = srv.slots(&p).await;
    let (s, a) = srv
        .post(
            "/api/v1/appointments",
            Some(&patient),
            json!({"agenda_id": p.agenda_id, "motive_id": p.motive_id, "start": slots[0]["start"]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{a}");
    let id = a["id"].as_str().unwrap().to_owned();
    until("booked", || events(&seen).len() == 1).await;
    let (s, moved) = srv
        .post(
            &format!("/api/v1/appointments/{id}/move"),
            Some(&patient),
            json!({"start": slots[2]["start"]}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{moved}");
    until("moved", || events(&seen).len() == 2).await;
    let (s, _) = srv
        .post(
            &format!("/api/v1/appointments/{id}/cancel"),
            Some(&patient),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    until("cancelled", || events(&seen).len() == 3).await;
    // A refused booking (the place is taken) sends nothing.
    let (other, _) = srv.account("patient", "Autre").await;
    let (s, _) = srv
        .post(
            "/api/v1/appointments",
            Some(&other),
            json!({"agenda_id": p.agenda_id, "motive_id": p.motive_id, "start": slots[4]["start"]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, _) = srv
        .post(
            "/api/v1/appointments",
            Some(&patient),
            json!({"agenda_id": p.agenda_id, "motive_id": p.motive_id, "start": slots[4]["start"]}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    until("the other booking", || events(&seen).len() == 4).await;

    let got = events(&seen);
    let kinds: Vec<&str> = got.iter().map(|(_, k, _)| k.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "appointment.booked",
            "appointment.moved",
            "appointment.cancelled",
            "appointment.booked"
        ]
    );
    for (hid, kind, body) in &got {
        assert_eq!(body["id"], hid.as_str(), "{body}");
        assert_eq!(body["type"], kind.as_str(), "{body}");
        assert_eq!(body["data"]["agenda_id"], p.agenda_id.as_str(), "{body}");
        assert_eq!(
            body["data"]["practitioner_id"],
            p.practitioner_id.as_str(),
            "{body}"
        );
        // Ids and times only: no patient identity, no motive.
        let text = body.to_string();
        for secret in [
            "Léa",
            "Confidentielle",
            "Autre",
            patient_id.as_str(),
            "Consultation",
            "@",
        ] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
    }
    assert_eq!(got[0].2["data"]["appointment_id"], id.as_str());
    assert!(
        got[1].2["data"]["previous_start"].as_str().is_some(),
        "{}",
        got[1].2
    );
    assert_eq!(got[2].2["data"]["cancelled_by"], "patient");
    let ids: std::collections::BTreeSet<&str> = got.iter().map(|(h, _, _)| h.as_str()).collect();
    assert_eq!(ids.len(), got.len(), "each event once");
    assert_eq!(seen.bad_signatures.load(Ordering::SeqCst), 0);

    // Outage: two bookings while the receiver answers 503; they arrive once it is back.
    seen.down.store(true, Ordering::SeqCst);
    let mut missed = Vec::new();
    for (n, slot) in [6, 8].into_iter().enumerate() {
        let (t, _) = srv.account("patient", &format!("Pendant {n}")).await;
        let (s, a) = srv
            .post("/api/v1/appointments", Some(&t),
                  json!({"agenda_id": p.agenda_id, "motive_id": p.motive_id, "start": slots[slot]["start"]}))
            .await;
        assert_eq!(s, StatusCode::CREATED, "{a}");
        missed.push(a["id"].as_str().unwrap().to_owned());
    }
    until("attempts refused during the outage", || {
        seen.refused.load(Ordering::SeqCst) >= 4
    })
    .await;
    let log = deliveries(&srv, &p.token, &hook_id).await;
    let pending: Vec<&Value> = log.iter().filter(|d| d["status"] == "pending").collect();
    assert_eq!(pending.len(), 2, "{log:?}");
    assert!(
        pending.iter().all(|d| d["last_status"] == 503),
        "{pending:?}"
    );
    seen.down.store(false, Ordering::SeqCst);
    until("the missed events", || events(&seen).len() == 6).await;
    let got = events(&seen);
    let late: Vec<&str> = got[4..]
        .iter()
        .map(|(_, _, b)| b["data"]["appointment_id"].as_str().unwrap())
        .collect();
    for m in &missed {
        assert!(
            late.contains(&m.as_str()),
            "{m} delivered after the outage: {late:?}"
        );
    }
    let ids: std::collections::BTreeSet<&str> = got.iter().map(|(h, _, _)| h.as_str()).collect();
    assert_eq!(ids.len(), 6, "each event once");
    assert_eq!(seen.bad_signatures.load(Ordering::SeqCst), 0);

    // The delivery log: all delivered, the missed ones after several attempts.
    // (The receiver answers before the worker records it: poll the log.)
    let mut log = Vec::new();
    for _ in 0..600 {
        log = deliveries(&srv, &p.token, &hook_id).await;
        if log.iter().all(|d| d["status"] == "delivered") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(log.len(), 6, "{log:?}");
    assert!(log.iter().all(|d| d["status"] == "delivered"), "{log:?}");
    for d in log.iter().filter(|d| {
        missed.contains(
            &d["payload"]["data"]["appointment_id"]
                .as_str()
                .unwrap()
                .to_owned(),
        )
    }) {
        assert!(d["attempts"].as_u64().unwrap() >= 2, "{d}");
    }
    // Only the practice reads its log; another practice gets 404.
    let q = srv.practice("Dr Autre", 20, 1).await;
    let (s, _) = srv
        .get(
            &format!("/api/v1/practitioner/webhooks/{hook_id}/deliveries"),
            Some(&q.token),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // Deleted: nothing more is sent.
    let (s, _) = srv
        .call(
            Method::DELETE,
            &format!("{hooks}/{hook_id}"),
            Some(&p.token),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (_, list) = srv.get(hooks, Some(&p.token)).await;
    assert!(list["webhooks"].as_array().unwrap().is_empty());

    let (_, doc) = srv.get("/api/v1/openapi.json", None).await;
    assert!(doc["paths"][hooks]["post"].is_object());
    assert!(doc["paths"]["/api/v1/practitioner/webhooks/{id}/deliveries"]["get"].is_object());
    srv.stop().await;
}

on_both_backends!(signed_events_once_and_after_an_outage);

/// Two nodes on one PostgreSQL database. Node B has read its list of practices with webhooks
/// (none) when node A makes one; B does not learn of it by any message, only by reading the
/// list again, and still, from the webhook's `active_from` on, B's bookings reach it.
#[tokio::test]
async fn a_webhook_made_on_one_node_hears_the_other_nodes_bookings() {
    let (a, loc) = start_configured(Backend::Postgres, quick()).await;
    let b = serve_app(app_configured(&loc, open_custody(&loc).await, quick()).await).await;
    let p = a.practice("Dr Deux-Noeuds", 20, 1).await;
    let (patient, _) = a.account("patient", "Jean Deuxnoeuds").await;
    let (url, seen) = receiver().await;
    let slots = b.slots(&p).await;
    let book = |i: usize| json!({"agenda_id": p.agenda_id, "motive_id": p.motive_id, "start": slots[i]["start"]});
    // Before the webhook: B books (and reads the empty list).
    let (s, first) = b
        .post("/api/v1/appointments", Some(&patient), book(0))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{first}");

    let (s, hook) = a
        .post(
            "/api/v1/practitioner/webhooks",
            Some(&p.token),
            json!({"url": url, "events": ["appointment.booked"]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{hook}");
    *seen.secret.lock().unwrap() = Some(hook["secret"].as_str().unwrap().to_owned());
    until_active(&hook).await;

    let (s, second) = b
        .post("/api/v1/appointments", Some(&patient), book(1))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{second}");
    let id = second["id"].as_str().unwrap().to_owned();
    until("node B's booking heard", || {
        events(&seen)
            .iter()
            .any(|(_, _, body)| body["data"]["appointment_id"] == id.as_str())
    })
    .await;
    // Only that one: the first booking came before the webhook.
    let heard = events(&seen);
    assert_eq!(heard.len(), 1, "{heard:?}");
    assert_eq!(seen.bad_signatures.load(Ordering::SeqCst), 0);
    a.stop().await;
    b.stop().await;
}
