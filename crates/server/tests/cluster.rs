//! Two app nodes on one PostgreSQL database: a booking on one node disappears from the
//! other node's in-memory availability through LISTEN/NOTIFY.

mod common;

use common::{new_location, start_on, Backend};
use reqwest::StatusCode;
use serde_json::json;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_write_on_one_node_invalidates_the_other() {
    let loc = new_location(Backend::Postgres).await;
    let a = start_on(&loc).await;
    let b = start_on(&loc).await;
    let p = a.practice("Dr Twonodes", 30, 1).await;
    let (patient, _) = a.account("patient", "Nina Morel").await;

    // Node B loads the agenda into its cache.
    let before = b.slots(&p).await;
    let target = before[3]["start"].as_str().unwrap().to_owned();

    let (s, _) = a
        .post(
            "/api/v1/appointments",
            Some(&patient),
            json!({"agenda_id": p.agenda_id, "motive_id": p.motive_id, "start": target}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);

    // NOTIFY is asynchronous: allow it a moment, but it must arrive.
    let started = Instant::now();
    loop {
        let now: Vec<String> = b
            .slots(&p)
            .await
            .iter()
            .map(|s| s["start"].as_str().unwrap().to_owned())
            .collect();
        if !now.contains(&target) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "node B still offers a start booked on node A"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // And B refuses it (the database has the last word regardless).
    let (s, _) = b
        .post(
            "/api/v1/appointments",
            Some(&patient),
            json!({"agenda_id": p.agenda_id, "motive_id": p.motive_id, "start": target}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
}

/// What a ticket says of its holder's arrival: (kind, rank or draw). Tickets are signed,
/// not secret: version, kind (0 before the opening, 1 after), value, issue time.
fn ticket_arrival(ticket: &str) -> (u8, u64) {
    use base64::Engine as _;
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(ticket)
        .expect("base64url ticket");
    let mut value = [0u8; 8];
    value.copy_from_slice(&raw[2..10]);
    (raw[1], u64::from_be_bytes(value))
}

async fn waiting_room_put(srv: &common::TestServer, op: &str, body: serde_json::Value) {
    let r = srv
        .client
        .put(format!("{}/api/v1/operator/waiting-room", srv.base))
        .bearer_auth(op)
        .json(&body)
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), StatusCode::OK);
}

async fn waiting_room_state(srv: &common::TestServer, op: &str) -> serde_json::Value {
    let (s, st) = srv.get("/api/v1/operator/waiting-room", Some(op)).await;
    assert_eq!(s, StatusCode::OK, "{st}");
    st
}

/// A hold without a queue ticket: 201 while the room is off, 429 while it is on.
async fn hold_without_ticket(
    srv: &common::TestServer,
    patient: &str,
    p: &common::Practice,
    start: &serde_json::Value,
) -> StatusCode {
    srv.post(
        "/api/v1/holds",
        Some(patient),
        json!({"agenda_id": p.agenda_id, "motive_id": p.motive_id, "start": start}),
    )
    .await
    .0
}

/// Polls `check` on every node until it holds on all of them (the announcement is
/// asynchronous), within a bound.
async fn until_every_node<F, Fut>(nodes: &[&common::TestServer], what: &str, check: F)
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    for i in 0..nodes.len() {
        while !check(i).await {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "node {i}: {what}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Three nodes, one PostgreSQL database: the operator's switch on one node guards every
/// node, ranks are taken in the database (one queue, whichever node issued the ticket),
/// and a ticket issued by one node is honoured by the others.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_waiting_room_is_shared_by_every_node() {
    use careslot_scheduling::waiting_room::RoomConfig;
    use careslot_server::services::AppConfig;
    let loc = new_location(Backend::Postgres).await;
    let token = careslot_vault::SecretToken::generate();
    let op = token.expose().to_owned();
    let token = std::sync::Arc::new(token);
    let mut nodes = Vec::new();
    for _ in 0..3 {
        let config = AppConfig {
            operator_token: Some(token.clone()),
            waiting_room: RoomConfig {
                admission_rate: 2,
                ..RoomConfig::default()
            },
            ..Default::default()
        };
        let custody = common::open_custody(&loc).await;
        nodes.push(common::serve_app(common::app_configured(&loc, custody, config).await).await);
    }
    let (a, b, c) = (&nodes[0], &nodes[1], &nodes[2]);
    let all = [a, b, c];
    let p = a.practice("Dr Troisnoeuds", 15, 1).await;
    let (patient, _) = a.account("patient", "Queue Everywhere").await;
    let slots = a.slots(&p).await;

    // Switched on at node A: every node guards its entry points.
    waiting_room_put(a, &op, json!({"enabled": true})).await;
    until_every_node(&all, "does not guard holds", |i| {
        let (n, patient, p, start) = (all[i], patient.clone(), &p, slots[0]["start"].clone());
        async move { hold_without_ticket(n, &patient, p, &start).await == StatusCode::TOO_MANY_REQUESTS }
    })
    .await;

    // One queue: tickets taken in turn on the three nodes get ranks 0, 1, 2… in order.
    let mut tickets = Vec::new();
    for i in 0..6 {
        let (s, t) = all[i % 3]
            .post("/api/v1/queue/tickets", None, json!({}))
            .await;
        assert_eq!(s, StatusCode::CREATED, "{t}");
        tickets.push(t["ticket"].as_str().expect("ticket").to_owned());
    }
    let ranks: Vec<(u8, u64)> = tickets.iter().map(|t| ticket_arrival(t)).collect();
    assert_eq!(
        ranks,
        (0..6).map(|r| (1u8, r)).collect::<Vec<_>>(),
        "one sequence across the nodes"
    );
    for n in all {
        assert_eq!(waiting_room_state(n, &op).await["issued"], 6);
    }

    // A ticket issued by node B: its status on node C, then a hold with it on node A.
    let ticket = &tickets[1];
    let started = Instant::now();
    loop {
        let r = c
            .client
            .get(format!("{}/api/v1/queue/status", c.base))
            .header("Careslot-Queue-Ticket", ticket.as_str())
            .send()
            .await
            .expect("status");
        assert_eq!(r.status(), StatusCode::OK);
        let st: serde_json::Value = r.json().await.expect("json");
        assert_eq!(
            st["ticket"],
            ticket.as_str(),
            "not renewed: the same session"
        );
        if st["admitted"] == true {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "never admitted: {st}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let r = a
        .client
        .post(format!("{}/api/v1/holds", a.base))
        .bearer_auth(&patient)
        .header("Careslot-Queue-Ticket", ticket.as_str())
        .json(&json!({"agenda_id": p.agenda_id, "motive_id": p.motive_id, "start": slots[1]["start"]}))
        .send()
        .await
        .expect("hold");
    assert_eq!(
        r.status(),
        StatusCode::CREATED,
        "node A honours node B's ticket"
    );

    // Switched off at node C: every node lets everybody through again.
    waiting_room_put(c, &op, json!({"enabled": false})).await;
    let mut k = 2;
    for (i, n) in all.iter().enumerate() {
        let started = Instant::now();
        loop {
            let s = hold_without_ticket(n, &patient, &p, &slots[k]["start"]).await;
            if s == StatusCode::CREATED {
                k += 1;
                break;
            }
            assert_eq!(s, StatusCode::TOO_MANY_REQUESTS);
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "node {i} still guards"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    for n in nodes {
        n.stop().await;
    }
}
