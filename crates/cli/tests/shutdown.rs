//! A bounded, graceful stop of the real binary: on SIGTERM `careslot serve` stops accepting,
//! tells WebSocket peers to reconnect (close 1012 "service restart"), gives up on a request
//! that never finishes once `--shutdown-timeout` has passed, and exits with status 0; a
//! booking acknowledged before the signal is there after a restart. On SQLite and PostgreSQL.

mod common;

use common::{new_place, Node};
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::io::Write;
use std::time::Duration;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message;

/// Generous: the check is that the process ends by itself, not how fast.
const EXIT_WITHIN: Duration = Duration::from_secs(60);

/// A teleconsultation booked in the first slot (the agenda is open all day, so it starts
/// within 15 minutes and its room is open): (patient token, appointment id).
async fn video_appointment(node: &Node) -> (String, String) {
    let (doctor, _) = node
        .account("practitioner", "Dr Arrêt", "stop-doctor@example.test")
        .await;
    let t = Some(doctor.as_str());
    let (s, _) = node
        .call(
            reqwest::Method::PUT,
            "/api/v1/practitioner/profile",
            t,
            Some(json!({"name": "Dr Arrêt", "specialty": "general-practitioner"})),
        )
        .await;
    assert_eq!(s, 200);
    let (s, place) = node
        .post("/api/v1/places", t, json!({"name": "Cabinet", "address": "1 rue de la Paix", "postcode": "75002",
            "city": "Paris", "country": "FR", "lat": 48.869, "lon": 2.331, "timezone": "Europe/Paris"}))
        .await;
    assert_eq!(s, 201, "{place}");
    let (s, agenda) = node
        .post(
            "/api/v1/agendas",
            t,
            json!({"place_id": place["id"], "holidays": null}),
        )
        .await;
    assert_eq!(s, 201, "{agenda}");
    let agenda = agenda["id"].as_str().unwrap().to_owned();
    let (s, motive) = node
        .post(
            &format!("/api/v1/agendas/{agenda}/motives"),
            t,
            // 5-minute steps: the first free slot always starts within the 15 minutes before
            // which its room is closed (with 15-minute steps, none did from 23:30 to 23:45
            // Paris time, after the day's last slot).
            json!({"name": "Téléconsultation", "duration_min": 5, "teleconsultation": true}),
        )
        .await;
    assert_eq!(s, 201, "{motive}");
    let motive = motive["id"].as_str().unwrap().to_owned();
    let (s, rule) = node
        .post(&format!("/api/v1/agendas/{agenda}/opening-rules"), t,
            json!({"weekdays": [1, 2, 3, 4, 5, 6, 7], "start": "00:00", "end": "23:59", "motive_ids": [motive]}))
        .await;
    assert_eq!(s, 201, "{rule}");
    let today = jiff::Zoned::now().in_tz("Europe/Paris").unwrap().date();
    let to = today.checked_add(jiff::Span::new().days(2)).unwrap();
    let (s, slots) = node
        .get(
            &format!("/api/v1/agendas/{agenda}/slots?motive_id={motive}&from={today}&to={to}"),
            None,
        )
        .await;
    assert_eq!(s, 200, "{slots}");
    let (patient, _) = node
        .account("patient", "Paul Patient", "stop-patient@example.test")
        .await;
    let (s, appt) = node
        .post(
            "/api/v1/appointments",
            Some(&patient),
            json!({"agenda_id": agenda, "motive_id": motive, "start": slots["slots"][0]["start"]}),
        )
        .await;
    assert_eq!(s, 201, "{appt}");
    (patient, appt["id"].as_str().unwrap().to_owned())
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The patient's signalling WebSocket, past its hello.
async fn open_room(node: &Node, patient: &str, id: &str) -> Ws {
    let (s, session) = node
        .post(
            &format!("/api/v1/appointments/{id}/video-session"),
            Some(patient),
            json!({}),
        )
        .await;
    assert_eq!(s, 200, "{session}");
    let url = session["ws_url"].as_str().expect("ws_url");
    let mut req = url.into_client_request().expect("request");
    let offer = format!(
        "careslot.v1, cred.{}",
        session["credential"].as_str().expect("credential")
    );
    req.headers_mut().insert(
        "sec-websocket-protocol",
        HeaderValue::from_str(&offer).unwrap(),
    );
    let (mut ws, resp) = tokio_tungstenite::connect_async(req)
        .await
        .expect("upgrade");
    assert_eq!(resp.status(), 101);
    ws.send(Message::Text(
        json!({"type": "hello", "instance": "patient-page-1"})
            .to_string()
            .into(),
    ))
    .await
    .expect("hello");
    // The room answers with its state once the seat is taken.
    let first = tokio::time::timeout(Duration::from_secs(30), ws.next())
        .await
        .expect("the room answers")
        .expect("a message")
        .expect("a frame");
    assert!(first.is_text(), "{first:?}");
    ws
}

/// The close frame the server sends (skipping pings and room messages).
async fn close_code(ws: &mut Ws) -> Option<(u16, String)> {
    while let Some(msg) = ws.next().await {
        match msg {
            Ok(Message::Close(Some(frame))) => {
                return Some((u16::from(frame.code), frame.reason.to_string()))
            }
            Ok(Message::Close(None)) | Err(_) => return None,
            Ok(_) => {}
        }
    }
    None
}

async fn stops_within_its_bound(postgres: bool) {
    let root = tempfile::tempdir().unwrap();
    let place = new_place(root.path(), "node", postgres).await;
    let mut node = Node::start(&place, &["--shutdown-timeout", "3"]).await;

    // Acknowledged before the signal: must survive it.
    let (patient, booked) = video_appointment(&node).await;
    let mut ws = open_room(&node, &patient, &booked).await;

    // A request that never finishes: its body is announced and never sent in full.
    let mut lingering =
        std::net::TcpStream::connect(node.base.trim_start_matches("http://")).unwrap();
    write!(
        lingering,
        "POST /api/v1/appointments HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {patient}\r\n\
         Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{\"agenda_id\""
    )
    .unwrap();
    lingering.flush().unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;

    let pid = node.pid();
    let exited = tokio::task::spawn_blocking(move || {
        let outcome = node.signal_and_wait(libc::SIGTERM, EXIT_WITHIN);
        (node, outcome)
    });
    let close = tokio::time::timeout(Duration::from_secs(30), close_code(&mut ws))
        .await
        .expect("the WebSocket hears of the stop");
    let (node, outcome) = exited.await.unwrap();
    let (status, _took) = outcome.unwrap_or_else(|| {
        panic!(
            "careslot serve (pid {pid}) still ran {EXIT_WITHIN:?} after SIGTERM; log:\n{}",
            node.log_text()
        )
    });
    assert!(
        status.success(),
        "exit status {status:?}; log:\n{}",
        node.log_text()
    );
    assert_eq!(
        close,
        Some((1012, "service restart".to_owned())),
        "log:\n{}",
        node.log_text()
    );
    let log = node.log_text();
    assert!(
        log.contains("shutdown timeout"),
        "the lingering request hit the bound:\n{log}"
    );
    drop(lingering);
    drop(node);

    // Restarted on the same data: the booking is there.
    let node = Node::start(&place, &[]).await;
    let token = node.sign_in("stop-patient@example.test").await;
    let (s, mine) = node.get("/api/v1/appointments", Some(&token)).await;
    assert_eq!(s, 200, "{mine}");
    let ids: Vec<&Value> = mine["appointments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| &a["id"])
        .collect();
    assert!(ids.contains(&&json!(booked)), "{mine}");
}

#[tokio::test]
async fn stops_within_its_bound_on_sqlite() {
    stops_within_its_bound(false).await;
}

#[tokio::test]
async fn stops_within_its_bound_on_postgres() {
    stops_within_its_bound(true).await;
}

/// Without lingering connections the stop is quick and clean: status 0 and the log's last
/// word is "stopped".
#[tokio::test]
async fn an_idle_node_stops_cleanly() {
    let root = tempfile::tempdir().unwrap();
    let place = new_place(root.path(), "idle", false).await;
    let mut node = Node::start(&place, &[]).await;
    let (s, _) = node.get("/healthz", None).await;
    assert_eq!(s, 200);
    let (status, _) = node
        .signal_and_wait(libc::SIGINT, EXIT_WITHIN)
        .expect("stops after SIGINT");
    assert!(status.success(), "{status:?}");
    let log = node.log_text();
    assert!(log.contains("stopped"), "{log}");
    assert!(!log.contains("shutdown timeout"), "{log}");
}
