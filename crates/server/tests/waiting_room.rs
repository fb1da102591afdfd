//! The waiting room over real HTTP, on SQLite and PostgreSQL: an inactive room changes
//! nothing; once the operator switches it on (or demand crosses the automatic threshold),
//! holds and bookings need an admitted queue ticket; tickets are signed and stateless;
//! pre-opening arrivals are served in random order, later ones first in first out.
//! No test asserts a duration: waits are polls with a bound.

mod common;

use careslot_scheduling::waiting_room::RoomConfig;
use careslot_server::services::AppConfig;
use common::{start_configured, Backend, Practice, TestServer};
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const TICKET: &str = "Careslot-Queue-Ticket";

struct Room {
    srv: TestServer,
    _loc: common::DataLocation,
    op: String,
}

async fn room(backend: Backend, waiting_room: RoomConfig) -> Room {
    let token = careslot_vault::SecretToken::generate();
    let op = token.expose().to_owned();
    let config = AppConfig {
        operator_token: Some(std::sync::Arc::new(token)),
        waiting_room,
        ..Default::default()
    };
    let (srv, loc) = start_configured(backend, config).await;
    Room { srv, _loc: loc, op }
}

/// A request with an optional bearer token, queue ticket and JSON body; errors must be
/// problem+json.
async fn send(
    srv: &TestServer,
    method: Method,
    path: &str,
    token: Option<&str>,
    ticket: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, HeaderMap, Value) {
    let mut req = srv.client.request(method, format!("{}{}", srv.base, path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(t) = ticket {
        req = req.header(TICKET, t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status();
    let headers = resp.headers().clone();
    let text = resp.text().await.expect("body");
    let value = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    if status.is_client_error() || status.is_server_error() {
        let ct = headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        assert!(
            ct.starts_with("application/problem+json"),
            "{status}: {value}"
        );
        assert_eq!(value["status"], status.as_u16(), "{value}");
    }
    (status, headers, value)
}

async fn set_room(r: &Room, body: Value) -> Value {
    let (s, _, state) = send(
        &r.srv,
        Method::PUT,
        "/api/v1/operator/waiting-room",
        Some(&r.op),
        None,
        Some(body),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{state}");
    state
}

async fn room_state(r: &Room) -> Value {
    let (s, _, state) = send(
        &r.srv,
        Method::GET,
        "/api/v1/operator/waiting-room",
        Some(&r.op),
        None,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{state}");
    state
}

async fn take_ticket(srv: &TestServer) -> Value {
    let (s, _, t) = send(srv, Method::POST, "/api/v1/queue/tickets", None, None, None).await;
    assert_eq!(s, StatusCode::CREATED, "{t}");
    for field in ["ticket", "admitted", "position", "eta_s", "poll_after_ms"] {
        assert!(!t[field].is_null(), "{field} in {t}");
    }
    t
}

async fn status(srv: &TestServer, ticket: &str) -> Value {
    let (s, _, t) = send(
        srv,
        Method::GET,
        "/api/v1/queue/status",
        None,
        Some(ticket),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{t}");
    t
}

/// Polls the ticket's status until admitted (bounded), returning the last status.
async fn until_admitted(srv: &TestServer, ticket: &str, bound: Duration) -> Value {
    let deadline = Instant::now() + bound;
    loop {
        let st = status(srv, ticket).await;
        if st["admitted"] == true {
            return st;
        }
        assert!(Instant::now() < deadline, "never admitted: {st}");
        let wait = st["poll_after_ms"].as_u64().unwrap_or(100).clamp(20, 200);
        tokio::time::sleep(Duration::from_millis(wait)).await;
    }
}

fn hold_body(p: &Practice, slot: &Value) -> Value {
    json!({"agenda_id": p.agenda_id, "motive_id": p.motive_id, "start": slot["start"]})
}

fn assert_queue_required(s: StatusCode, headers: &HeaderMap, body: &Value) {
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert!(
        body["type"]
            .as_str()
            .is_some_and(|t| t.ends_with("/problems/queue-required")),
        "{body}"
    );
    assert!(
        body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("POST /api/v1/queue/tickets")
                || d.contains("GET /api/v1/queue/status")),
        "{body}"
    );
    let retry: u64 = headers
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After in seconds");
    assert!(retry >= 1);
}

async fn inactive_room_changes_nothing(backend: Backend) {
    let r = room(backend, RoomConfig::default()).await;
    let srv = &r.srv;
    let st = room_state(&r).await;
    assert_eq!(st["enabled"], false);
    assert_eq!(st["active"], false);
    assert_eq!(st["admission_rate"], 50);
    assert!(st["auto_threshold"].is_null());
    // Holds and bookings without any ticket, as before.
    let p = srv.practice("Dr Sans File", 15, 1).await;
    let (patient, _) = srv.account("patient", "Paul Patient").await;
    let slots = srv.slots(&p).await;
    let (s, _, hold) = send(
        srv,
        Method::POST,
        "/api/v1/holds",
        Some(&patient),
        None,
        Some(hold_body(&p, &slots[0])),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{hold}");
    let (s, _, booked) = send(
        srv,
        Method::POST,
        "/api/v1/appointments",
        Some(&patient),
        None,
        Some(json!({"hold_id": hold["id"]})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{booked}");
    // A ticket is admitted at once, so clients can always follow the same flow; even a
    // garbled ticket does not matter while the room is inactive.
    let t = take_ticket(srv).await;
    assert_eq!(t["admitted"], true);
    assert_eq!(t["position"], 0);
    assert_eq!(t["eta_s"], 0);
    let (s, _, _) = send(
        srv,
        Method::POST,
        "/api/v1/holds",
        Some(&patient),
        Some("garbled"),
        Some(hold_body(&p, &slots[1])),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    // The operator endpoints need the operator's token.
    let (s, _, _) = send(
        srv,
        Method::GET,
        "/api/v1/operator/waiting-room",
        Some(&patient),
        None,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    // The OpenAPI document describes the queue and the guard.
    let (s, _, doc) = send(srv, Method::GET, "/api/v1/openapi.json", None, None, None).await;
    assert_eq!(s, StatusCode::OK);
    assert!(doc["paths"]["/api/v1/queue/tickets"]["post"].is_object());
    assert!(doc["paths"]["/api/v1/queue/status"]["get"].is_object());
    assert!(doc["paths"]["/api/v1/operator/waiting-room"]["put"].is_object());
    for guarded in [
        "/api/v1/holds",
        "/api/v1/appointments",
        "/api/v1/vaccination/bookings",
    ] {
        assert!(
            doc["paths"][guarded]["post"]["responses"]["429"].is_object(),
            "{guarded}"
        );
    }
    r.srv.stop().await;
}

async fn operator_room_guards_holds_and_bookings(backend: Backend) {
    let r = room(backend, RoomConfig::default()).await;
    let srv = &r.srv;
    let p = srv.practice("Dr File", 15, 1).await;
    let (patient, _) = srv.account("patient", "Pia Patiente").await;
    let slots = srv.slots(&p).await;
    let st = set_room(&r, json!({"enabled": true, "admission_rate": 1000})).await;
    assert_eq!(st["enabled"], true);
    assert_eq!(st["active"], true);
    assert_eq!(st["admission_rate"], 1000);
    assert!(st["opens_at"].is_string(), "{st}");

    // Without a ticket: 429 on every entry point, saying how to join.
    for (path, body) in [
        ("/api/v1/holds", hold_body(&p, &slots[0])),
        ("/api/v1/appointments", hold_body(&p, &slots[0])),
        ("/api/v1/vaccination/bookings", json!({})),
    ] {
        let (s, h, body) = send(srv, Method::POST, path, Some(&patient), None, Some(body)).await;
        assert_queue_required(s, &h, &body);
    }
    // Reading stays open.
    let (s, _, _) = send(
        srv,
        Method::GET,
        "/api/v1/appointments",
        Some(&patient),
        None,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);

    // A forged or garbled ticket: 400 on the status, 429 on the entry points.
    let t = take_ticket(srv).await;
    let real = t["ticket"].as_str().unwrap().to_owned();
    let mut forged = real.clone().into_bytes();
    let i = forged.len() / 2;
    forged[i] = if forged[i] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(forged).unwrap();
    for bad in [forged.as_str(), "garbled", "x".repeat(300).as_str()] {
        let (s, _, body) = send(
            srv,
            Method::GET,
            "/api/v1/queue/status",
            None,
            Some(bad),
            None,
        )
        .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
        let (s, h, body) = send(
            srv,
            Method::POST,
            "/api/v1/holds",
            Some(&patient),
            Some(bad),
            Some(hold_body(&p, &slots[0])),
        )
        .await;
        assert_queue_required(s, &h, &body);
    }
    let (s, _, _) = send(srv, Method::GET, "/api/v1/queue/status", None, None, None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "no ticket at all");

    // An admitted ticket lets the hold and the booking through.
    let st = until_admitted(srv, &real, Duration::from_secs(20)).await;
    assert_eq!(st["position"], 0);
    assert!(st["admitted_until"].is_string(), "{st}");
    let real = st["ticket"].as_str().unwrap().to_owned();
    let (s, _, hold) = send(
        srv,
        Method::POST,
        "/api/v1/holds",
        Some(&patient),
        Some(&real),
        Some(hold_body(&p, &slots[0])),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{hold}");
    let (s, _, booked) = send(
        srv,
        Method::POST,
        "/api/v1/appointments",
        Some(&patient),
        Some(&real),
        Some(json!({"hold_id": hold["id"]})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{booked}");

    // Switched off: everybody through again.
    let st = set_room(&r, json!({"enabled": false})).await;
    assert_eq!(st["active"], false);
    let (s, _, hold) = send(
        srv,
        Method::POST,
        "/api/v1/holds",
        Some(&patient),
        None,
        Some(hold_body(&p, &slots[1])),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{hold}");
    // Bad settings are refused.
    let (s, _, _) = send(
        srv,
        Method::PUT,
        "/api/v1/operator/waiting-room",
        Some(&r.op),
        None,
        Some(json!({"enabled": true, "admission_rate": 0})),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let (s, _, _) = send(
        srv,
        Method::PUT,
        "/api/v1/operator/waiting-room",
        Some(&r.op),
        None,
        Some(json!({"enabled": true, "opens_at": "tomorrow"})),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    r.srv.stop().await;
}

async fn later_arrivals_wait_their_turn_first_in_first_out(backend: Backend) {
    let r = room(backend, RoomConfig::default()).await;
    let srv = &r.srv;
    set_room(&r, json!({"enabled": true, "admission_rate": 5})).await;
    let mut tickets = Vec::new();
    for _ in 0..20 {
        tickets.push(take_ticket(srv).await);
    }
    // The last arrival waits, with a place and an estimate.
    let last = tickets.last().unwrap();
    assert_eq!(last["admitted"], false, "{last}");
    assert!(last["position"].as_u64().unwrap() >= 1);
    assert!(last["eta_s"].as_u64().unwrap() >= 1, "{last}");
    assert!(last["poll_after_ms"].as_u64().unwrap() >= 500, "{last}");
    assert!(last["opens_at"].is_null());
    let texts: Vec<String> = tickets
        .iter()
        .map(|t| t["ticket"].as_str().unwrap().to_owned())
        .collect();
    // A waiting ticket does not open the entry points yet.
    let (s, h, body) = send(
        srv,
        Method::POST,
        "/api/v1/holds",
        None,
        Some(&texts[19]),
        Some(json!({})),
    )
    .await;
    if s == StatusCode::TOO_MANY_REQUESTS {
        assert_queue_required(s, &h, &body);
        assert!(
            body["detail"]
                .as_str()
                .unwrap()
                .contains("not admitted yet"),
            "{body}"
        );
    }
    // Rounds over every ticket, last arrival first: an earlier arrival is never admitted in a
    // later round than a later one, and everybody gets in.
    let mut admitted_in: Vec<Option<usize>> = vec![None; texts.len()];
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut round = 0;
    while admitted_in.iter().any(Option::is_none) {
        assert!(
            Instant::now() < deadline,
            "not all admitted: {admitted_in:?}"
        );
        for i in (0..texts.len()).rev() {
            if admitted_in[i].is_none() && status(srv, &texts[i]).await["admitted"] == true {
                admitted_in[i] = Some(round);
            }
        }
        round += 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let rounds: Vec<usize> = admitted_in.into_iter().flatten().collect();
    assert!(rounds.windows(2).all(|w| w[0] <= w[1]), "FIFO: {rounds:?}");
    assert!(
        rounds.last() > rounds.first(),
        "admitted over time: {rounds:?}"
    );
    let st = room_state(&r).await;
    assert_eq!(st["issued"], 20);
    assert!(st["admitted_watermark"].as_u64().unwrap() >= 20, "{st}");
    r.srv.stop().await;
}

async fn pre_opening_arrivals_are_drawn_at_random(backend: Backend) {
    let r = room(backend, RoomConfig::default()).await;
    let srv = &r.srv;
    let opens = jiff::Timestamp::now()
        .checked_add(jiff::SignedDuration::from_mins(10))
        .unwrap();
    let st = set_room(
        &r,
        json!({"enabled": true, "admission_rate": 1, "opens_at": opens.to_string()}),
    )
    .await;
    assert_eq!(st["active"], true);
    let mut texts = Vec::new();
    for _ in 0..200 {
        let t = take_ticket(srv).await;
        assert_eq!(t["admitted"], false, "{t}");
        assert!(t["opens_at"].is_string(), "{t}");
        texts.push(t["ticket"].as_str().unwrap().to_owned());
    }
    // Before the opening nothing moves: the positions are the final draw.
    let mut positions = Vec::new();
    for t in &texts {
        let st = status(srv, t).await;
        assert_eq!(st["admitted"], false);
        positions.push(st["position"].as_u64().unwrap());
    }
    assert!(
        positions.iter().all(|p| (1..=200).contains(p)),
        "{positions:?}"
    );
    let descents = positions.windows(2).filter(|w| w[0] > w[1]).count();
    assert!(descents > 50, "not the order of arrival: {positions:?}");
    let mut distinct = positions.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert!(distinct.len() > 100, "spread out: {distinct:?}");
    // Nobody gets in before the opening.
    let (s, h, body) = send(
        srv,
        Method::POST,
        "/api/v1/holds",
        None,
        Some(&texts[0]),
        Some(json!({})),
    )
    .await;
    assert_queue_required(s, &h, &body);

    // Open now, fast: everybody who came early is admitted, in the drawn order.
    let st = set_room(
        &r,
        json!({"enabled": true, "admission_rate": 1000, "opens_at": jiff::Timestamp::now().to_string()}),
    )
    .await;
    assert_eq!(st["issued"], 200);
    for t in &texts {
        until_admitted(srv, t, Duration::from_secs(20)).await;
    }
    // The opening cannot move once passed.
    let (s, _, _) = send(
        srv,
        Method::PUT,
        "/api/v1/operator/waiting-room",
        Some(&r.op),
        None,
        Some(json!({"enabled": true, "opens_at": opens.to_string()})),
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT);
    r.srv.stop().await;
}

async fn automatic_activation_past_the_threshold(backend: Backend) {
    let r = room(
        backend,
        RoomConfig {
            auto_threshold: Some(10),
            auto_calm: jiff::SignedDuration::from_secs(1),
            ..RoomConfig::default()
        },
    )
    .await;
    let srv = &r.srv;
    let p = srv.practice("Dr Affluence", 15, 1).await;
    let (patient, _) = srv.account("patient", "Rita Rush").await;
    let slots = srv.slots(&p).await;
    assert_eq!(room_state(&r).await["auto_threshold"], 10);
    // Bursts of requests to an entry point: past 10 a second the room switches itself on
    // (with PostgreSQL it is written to the database and announced: a moment later).
    let mut activated = false;
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        let burst = (0..40).map(|_| {
            send(
                srv,
                Method::POST,
                "/api/v1/holds",
                None,
                None,
                Some(json!({})),
            )
        });
        let results = futures::future::join_all(burst).await;
        if results
            .iter()
            .any(|(s, _, _)| *s == StatusCode::TOO_MANY_REQUESTS)
        {
            activated = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(activated, "the burst never activated the room");
    let st = room_state(&r).await;
    assert_eq!(st["active"], true, "{st}");
    assert_eq!(st["enabled"], false, "{st}");
    // Queue, get in, hold.
    let t = take_ticket(srv).await;
    let st = until_admitted(srv, t["ticket"].as_str().unwrap(), Duration::from_secs(20)).await;
    let (s, _, hold) = send(
        srv,
        Method::POST,
        "/api/v1/holds",
        Some(&patient),
        Some(st["ticket"].as_str().unwrap()),
        Some(hold_body(&p, &slots[0])),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{hold}");
    // Once drained and calm, it switches itself off.
    let deadline = Instant::now() + Duration::from_secs(30);
    while room_state(&r).await["active"] == true {
        assert!(
            Instant::now() < deadline,
            "the room never switched itself off"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (s, _, hold) = send(
        srv,
        Method::POST,
        "/api/v1/holds",
        Some(&patient),
        None,
        Some(hold_body(&p, &slots[1])),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{hold}");
    r.srv.stop().await;
}

on_both_backends!(
    inactive_room_changes_nothing,
    operator_room_guards_holds_and_bookings,
    later_arrivals_wait_their_turn_first_in_first_out,
    pre_opening_arrivals_are_drawn_at_random,
    automatic_activation_past_the_threshold,
);
