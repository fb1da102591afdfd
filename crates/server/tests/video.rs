//! Video consultations over real HTTP and real WebSockets, on SQLite and PostgreSQL: the
//! appointment's patient and practitioner get a session (WebSocket URL, ICE servers with
//! TURN REST API credentials, expiry); anybody else gets 404 at the REST step and is
//! refused before the WebSocket upgrade; the room admits, relays and hangs up.
//!
//! The room opens 15 minutes before the start, so the tests book a slot starting within
//! 15 minutes: their agendas are open all day, every day, with a 5-minute teleconsultation
//! for that (15-minute steps leave no start within 15 minutes from 23:30 to 23:45, the
//! last slot of the day being at 23:30).

mod common;

use base64::Engine as _;
use careslot_consultation::video::VideoConfig;
use careslot_core::clock::{ManualClock, SharedClock};
use careslot_server::services::AppConfig;
use common::{start_configured, Backend, TestServer};
use futures::{SinkExt, StreamExt};
use hmac::{Hmac, Mac};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::{self, Message};

const TURN_SECRET: &str = "turn-shared-secret-for-tests-0042";

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn server(backend: Backend) -> (TestServer, common::DataLocation) {
    server_with_clock(backend, SharedClock::default()).await
}

async fn server_with_clock(
    backend: Backend,
    clock: SharedClock,
) -> (TestServer, common::DataLocation) {
    let config = AppConfig {
        clock,
        video: VideoConfig {
            stun_urls: vec!["stun:127.0.0.1:3478".into()],
            turn_urls: vec!["turn:127.0.0.1:3478?transport=udp".into()],
            turn_secret: Some(Arc::new(
                careslot_vault::SecretToken::new(TURN_SECRET).expect("secret"),
            )),
            turn_grace: jiff::SignedDuration::from_mins(60),
            ..Default::default()
        },
        ..Default::default()
    };
    start_configured(backend, config).await
}

/// A practitioner whose agenda is open all day, every day, with a teleconsultation motive
/// and an in-person one (15 minutes each), and a 5-minute teleconsultation whose next
/// start is never more than 10 minutes away.
struct Tele {
    token: String,
    agenda: String,
    video_motive: String,
    office_motive: String,
    quick_motive: String,
}

async fn tele_practice(s: &TestServer, name: &str) -> Tele {
    let (token, _) = s.account("practitioner", name).await;
    let t = Some(token.as_str());
    let (st, _) = s
        .call(
            Method::PUT,
            "/api/v1/practitioner/profile",
            t,
            Some(json!({"name": name, "specialty": "general-practitioner"})),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    let (st, place) = s
        .post("/api/v1/places", t, json!({"name": "Cabinet", "address": "1 rue de la Paix", "postcode": "75002",
            "city": "Paris", "country": "FR", "lat": 48.869, "lon": 2.331, "timezone": "Europe/Paris"}))
        .await;
    assert_eq!(st, StatusCode::CREATED, "{place}");
    let (st, agenda) = s
        .post(
            "/api/v1/agendas",
            t,
            json!({"place_id": place["id"], "holidays": null}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{agenda}");
    let agenda = agenda["id"].as_str().expect("agenda").to_owned();
    let mut motives = Vec::new();
    for (label, video, minutes) in [
        ("Téléconsultation", true, 15),
        ("Consultation", false, 15),
        ("Téléconsultation brève", true, 5),
    ] {
        let (st, m) = s
            .post(
                &format!("/api/v1/agendas/{agenda}/motives"),
                t,
                json!({"name": label, "duration_min": minutes, "teleconsultation": video}),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED, "{m}");
        motives.push(m["id"].as_str().expect("motive").to_owned());
    }
    let (st, rule) = s
        .post(&format!("/api/v1/agendas/{agenda}/opening-rules"), t,
            json!({"weekdays": [1, 2, 3, 4, 5, 6, 7], "start": "00:00", "end": "23:59", "motive_ids": motives}))
        .await;
    assert_eq!(st, StatusCode::CREATED, "{rule}");
    Tele {
        token,
        agenda,
        video_motive: motives[0].clone(),
        office_motive: motives[1].clone(),
        quick_motive: motives[2].clone(),
    }
}

/// Books the `nth` free slot of `motive` for `patient`; returns (appointment id, start).
async fn book(
    s: &TestServer,
    p: &Tele,
    motive: &str,
    patient: &str,
    nth: usize,
) -> (String, jiff::Timestamp) {
    let today = jiff::Zoned::now()
        .in_tz("Europe/Paris")
        .expect("zone")
        .date();
    let to = today.checked_add(jiff::Span::new().days(2)).expect("date");
    let (st, body) = s
        .get(
            &format!(
                "/api/v1/agendas/{}/slots?motive_id={motive}&from={today}&to={to}",
                p.agenda
            ),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{body}");
    let slot = body["slots"][nth].clone();
    let (st, appt) = s
        .post(
            "/api/v1/appointments",
            Some(patient),
            json!({"agenda_id": p.agenda, "motive_id": motive, "start": slot["start"]}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{appt}");
    let start: jiff::Timestamp = slot["start"]
        .as_str()
        .expect("start")
        .parse()
        .expect("instant");
    (appt["id"].as_str().expect("id").to_owned(), start)
}

/// The first free slot: the room of an appointment there is open now.
async fn book_now(s: &TestServer, p: &Tele, patient: &str) -> String {
    let (id, start) = book(s, p, &p.quick_motive, patient, 0).await;
    let lead = start.duration_since(jiff::Timestamp::now());
    assert!(
        lead <= jiff::SignedDuration::from_mins(15),
        "the first slot starts within 15 minutes (agenda open all day in 5-minute steps), got {lead:?}"
    );
    id
}

async fn session(s: &TestServer, id: &str, token: Option<&str>) -> (StatusCode, Value) {
    s.post(
        &format!("/api/v1/appointments/{id}/video-session"),
        token,
        json!({}),
    )
    .await
}

/// Opens the room's WebSocket offering these subprotocols; the HTTP status if refused.
async fn connect(url: &str, protocols: Option<&str>) -> Result<Ws, u16> {
    let mut req = url.into_client_request().expect("request");
    if let Some(p) = protocols {
        req.headers_mut().insert(
            "sec-websocket-protocol",
            HeaderValue::from_str(p).expect("header"),
        );
    }
    match tokio_tungstenite::connect_async(req).await {
        Ok((ws, resp)) => {
            assert_eq!(resp.status(), 101);
            assert_eq!(
                resp.headers()
                    .get("sec-websocket-protocol")
                    .and_then(|v| v.to_str().ok()),
                Some("careslot.v1"),
                "only the protocol is echoed, never the credential"
            );
            Ok(ws)
        }
        Err(tungstenite::Error::Http(resp)) => {
            let problem: Value = serde_json::from_slice(resp.body().as_deref().unwrap_or(b"null"))
                .unwrap_or(Value::Null);
            assert_eq!(
                problem["status"],
                resp.status().as_u16(),
                "refusals are problem+json: {problem}"
            );
            Err(resp.status().as_u16())
        }
        Err(e) => panic!("WebSocket failed otherwise: {e}"),
    }
}

fn offer(session: &Value) -> String {
    format!(
        "careslot.v1, cred.{}",
        session["credential"].as_str().expect("credential")
    )
}

async fn send(ws: &mut Ws, v: Value) {
    ws.send(Message::text(v.to_string())).await.expect("send");
}

/// The next JSON message of type `kind` (others skipped), within a bound.
async fn next_of(ws: &mut Ws, kind: &str) -> Value {
    let wait = async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Text(t))) => {
                    let v: Value = serde_json::from_str(t.as_str()).expect("json");
                    if v["type"] == kind {
                        return v;
                    }
                }
                Some(Ok(_)) => {}
                other => panic!("connection ended while waiting for {kind}: {other:?}"),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), wait)
        .await
        .unwrap_or_else(|_| panic!("no {kind} message"))
}

/// The next state message matching `pred`.
async fn state_where(ws: &mut Ws, pred: impl Fn(&Value) -> bool) -> Value {
    loop {
        let v = next_of(ws, "state").await;
        if pred(&v) {
            return v;
        }
    }
}

fn expected_turn_password(username: &str) -> String {
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(TURN_SECRET.as_bytes()).expect("key");
    mac.update(username.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

async fn participants_get_sessions_others_get_404(backend: Backend) {
    let (s, _loc) = server(backend).await;
    let doc = tele_practice(&s, "Dr Vidéo").await;
    let (patient, _) = s.account("patient", "Paula Patient").await;
    let id = book_now(&s, &doc, &patient).await;

    for (who, token, side) in [
        ("patient", &patient, "patient"),
        ("practitioner", &doc.token, "practice"),
    ] {
        let (st, v) = session(&s, &id, Some(token)).await;
        assert_eq!(st, StatusCode::OK, "{who}: {v}");
        assert_eq!(v["side"], side);
        let ws_url = v["ws_url"].as_str().expect("ws_url");
        assert_eq!(
            ws_url,
            format!(
                "{}/api/v1/appointments/{id}/video-session/ws",
                s.base.replace("http://", "ws://")
            )
        );
        assert!(
            !ws_url.contains(v["credential"].as_str().expect("credential")),
            "no credential in the URL"
        );
        let expires: jiff::Timestamp = v["expires_at"]
            .as_str()
            .expect("expires_at")
            .parse()
            .expect("RFC 3339");
        let end: jiff::Timestamp = v["end"].as_str().expect("end").parse().expect("end");
        assert!(expires > jiff::Timestamp::now() && expires <= end, "{v}");
        assert_eq!(v["ice_transport_policy"], "all");
        let servers = v["ice_servers"].as_array().expect("ice_servers");
        assert_eq!(servers[0], json!({"urls": ["stun:127.0.0.1:3478"]}));
        let turn = &servers[1];
        assert_eq!(turn["urls"], json!(["turn:127.0.0.1:3478?transport=udp"]));
        let username = turn["username"].as_str().expect("username");
        let (expiry, user) = username.split_once(':').expect("<expiry>:<user>");
        let expiry: i64 = expiry.parse().expect("unix seconds");
        assert!(
            expiry > end.as_second(),
            "TURN outlives the slot a little: {expiry}"
        );
        assert!(
            !user.is_empty()
                && user
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
            "opaque user id: {user}"
        );
        assert_eq!(
            turn["credential"].as_str(),
            Some(expected_turn_password(username).as_str())
        );
    }

    // Anybody else: 404, whatever their role; no token: 401.
    let (stranger, _) = s.account("patient", "Sam Stranger").await;
    let other_doc = tele_practice(&s, "Dr Autre").await;
    for token in [&stranger, &other_doc.token] {
        let (st, v) = session(&s, &id, Some(token)).await;
        assert_eq!(st, StatusCode::NOT_FOUND, "{v}");
    }
    assert_eq!(session(&s, &id, None).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(
        session(&s, "no-such-appointment", Some(&patient)).await.0,
        StatusCode::NOT_FOUND
    );

    // Not a teleconsultation, or not yet open: 409 with a slug that says which.
    let (office, _) = book(&s, &doc, &doc.office_motive, &patient, 1).await;
    let (st, v) = session(&s, &office, Some(&patient)).await;
    assert_eq!(
        (st, v["type"].as_str()),
        (
            StatusCode::CONFLICT,
            Some("https://careslot.eu/problems/not-teleconsultation")
        )
    );
    let (later, start) = book(&s, &doc, &doc.video_motive, &patient, 8).await;
    assert!(start.duration_since(jiff::Timestamp::now()) > jiff::SignedDuration::from_mins(15));
    let (st, v) = session(&s, &later, Some(&doc.token)).await;
    assert_eq!(
        (st, v["type"].as_str()),
        (
            StatusCode::CONFLICT,
            Some("https://careslot.eu/problems/room-not-open")
        )
    );
    // A cancelled appointment has no room.
    let (st, _) = s
        .post(
            &format!("/api/v1/appointments/{later}/cancel"),
            Some(&patient),
            json!({}),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    let (st, v) = session(&s, &later, Some(&patient)).await;
    assert_eq!(
        (st, v["type"].as_str()),
        (
            StatusCode::CONFLICT,
            Some("https://careslot.eu/problems/appointment-not-booked")
        )
    );
    s.stop().await;
}

async fn websocket_refuses_without_this_rooms_credential(backend: Backend) {
    let (s, _loc) = server(backend).await;
    let doc = tele_practice(&s, "Dr Salle").await;
    let (patient, _) = s.account("patient", "Pia Patient").await;
    let id = book_now(&s, &doc, &patient).await;
    let (_, mine) = session(&s, &id, Some(&patient)).await;
    let url = mine["ws_url"].as_str().expect("ws_url").to_owned();

    // A third party with a valid account and an open room of their own.
    let doc2 = tele_practice(&s, "Dr Ailleurs").await;
    let (third, _) = s.account("patient", "Tom Third").await;
    let theirs_id = book_now(&s, &doc2, &third).await;
    assert_eq!(
        session(&s, &id, Some(&third)).await.0,
        StatusCode::NOT_FOUND,
        "refused at the REST step"
    );
    let (_, theirs) = session(&s, &theirs_id, Some(&third)).await;

    // ... and at the WebSocket step: no credential, only the protocol, a forged or garbled
    // credential, or a genuine one for another room.
    assert_eq!(connect(&url, None).await.err(), Some(401));
    assert_eq!(connect(&url, Some("careslot.v1")).await.err(), Some(401));
    let genuine = mine["credential"].as_str().expect("credential");
    let (payload, tag) = genuine.split_once('.').expect("payload.tag");
    let mut forged_tag = tag.to_owned();
    forged_tag.replace_range(0..1, if tag.starts_with('A') { "B" } else { "A" });
    assert_eq!(
        connect(
            &url,
            Some(&format!("careslot.v1, cred.{payload}.{forged_tag}"))
        )
        .await
        .err(),
        Some(401)
    );
    assert_eq!(
        connect(&url, Some("careslot.v1, cred.garbage")).await.err(),
        Some(401)
    );
    assert_eq!(connect(&url, Some(&offer(&theirs))).await.err(), Some(404));
    // Not a WebSocket request at all, even with the credential: 400, no upgrade.
    let resp = s
        .client
        .get(format!(
            "{}/api/v1/appointments/{id}/video-session/ws",
            s.base
        ))
        .header("sec-websocket-protocol", offer(&mine))
        .send()
        .await
        .expect("get");
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);

    // The genuine credential opens it.
    let mut ws = connect(&url, Some(&offer(&mine)))
        .await
        .expect("the patient's credential opens the room");
    send(
        &mut ws,
        json!({"type": "hello", "instance": "patient-page-1"}),
    )
    .await;
    let st = next_of(&mut ws, "state").await;
    assert_eq!(
        (st["side"].as_str(), st["admitted"].as_bool()),
        (Some("patient"), Some(false))
    );
    s.stop().await;
}

/// A credential handed out before the appointment was cancelled opens nothing (409 before
/// the upgrade), though its signature and expiry are still good.
async fn a_cancelled_appointments_credential_is_refused(backend: Backend) {
    let (s, _loc) = server(backend).await;
    let doc = tele_practice(&s, "Dr Annule").await;
    let (patient, _) = s.account("patient", "Carla Cancel").await;
    let id = book_now(&s, &doc, &patient).await;
    let (st, mine) = session(&s, &id, Some(&patient)).await;
    assert_eq!(st, StatusCode::OK, "{mine}");
    let url = mine["ws_url"].as_str().expect("ws_url").to_owned();
    let (st, b) = s
        .post(
            &format!("/api/v1/appointments/{id}/cancel"),
            Some(&patient),
            json!({}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{b}");
    assert_eq!(connect(&url, Some(&offer(&mine))).await.err(), Some(409));
    // And no new session is handed out.
    assert_eq!(
        session(&s, &id, Some(&patient)).await.0,
        StatusCode::CONFLICT
    );
    s.stop().await;
}

async fn waiting_room_admission_relay_reconnect_hangup(backend: Backend) {
    let (s, _loc) = server(backend).await;
    let doc = tele_practice(&s, "Dr Attente").await;
    let (patient, _) = s.account("patient", "Rita Patient").await;
    let id = book_now(&s, &doc, &patient).await;
    let (_, ps) = session(&s, &id, Some(&patient)).await;
    let (_, ds) = session(&s, &id, Some(&doc.token)).await;
    let url = ps["ws_url"].as_str().expect("url").to_owned();

    // The patient joins first and waits.
    let mut pat = connect(&url, Some(&offer(&ps))).await.expect("patient");
    send(&mut pat, json!({"type": "hello", "instance": "p-1"})).await;
    let st = next_of(&mut pat, "state").await;
    assert_eq!(
        (st["admitted"].as_bool(), st["in_call"].as_bool()),
        (Some(false), Some(false))
    );
    // The patient cannot admit themselves.
    send(&mut pat, json!({"type": "admit"})).await;

    // The practice sees who is waiting and admits them.
    let mut pro = connect(&url, Some(&offer(&ds))).await.expect("practice");
    send(&mut pro, json!({"type": "hello", "instance": "d-1"})).await;
    let st = next_of(&mut pro, "state").await;
    assert_eq!(st["side"], "practice");
    assert_eq!(st["waiting"].as_array().map(Vec::len), Some(1), "{st}");
    assert_eq!(st["in_call"], false);
    // Nothing is relayed before the admission.
    send(&mut pro, json!({"type": "signal", "data": {"early": true}})).await;
    send(&mut pro, json!({"type": "admit"})).await;
    let st = state_where(&mut pro, |v| v["in_call"] == true).await;
    assert_eq!(
        (st["waiting"].clone(), st["peer_instance"].clone()),
        (json!([]), json!("p-1"))
    );
    let st = state_where(&mut pat, |v| v["in_call"] == true).await;
    assert_eq!(st["peer_instance"], "d-1");

    // SDP and candidates are relayed as they are, both ways.
    let sdp = json!({"description": {"type": "offer", "sdp": "v=0\r\n"}});
    send(&mut pro, json!({"type": "signal", "data": sdp})).await;
    assert_eq!(
        next_of(&mut pat, "signal").await["data"],
        sdp,
        "the early signal was dropped, this one arrives"
    );
    let cand = json!({"candidate": {"candidate": "candidate:1 1 udp 1 127.0.0.1 9 typ host", "sdpMid": "0"}});
    send(&mut pat, json!({"type": "signal", "data": cand})).await;
    assert_eq!(next_of(&mut pro, "signal").await["data"], cand);

    // A network drop: the patient reconnects with the same credential and is still in the
    // call; the old connection is told it was replaced.
    let mut pat2 = connect(&url, Some(&offer(&ps)))
        .await
        .expect("same credential again");
    send(&mut pat2, json!({"type": "hello", "instance": "p-1"})).await;
    assert_eq!(next_of(&mut pat, "replaced").await["type"], "replaced");
    let st = state_where(&mut pat2, |v| v["in_call"] == true).await;
    assert_eq!(st["admitted"], true);

    // The practice hangs up: the patient hears it and is no longer admitted.
    send(&mut pro, json!({"type": "hangup"})).await;
    next_of(&mut pat2, "hangup").await;
    let st = state_where(&mut pat2, |v| v["peer_present"] == false).await;
    assert_eq!(
        (st["admitted"].as_bool(), st["in_call"].as_bool()),
        (Some(false), Some(false))
    );
    s.stop().await;
}

/// The room opens 15 minutes before the start by the server's clock (a manual one here):
/// before, the session endpoint refuses with `room-not-open`, the opening instant in its
/// detail and the seconds until then in `Retry-After`; from then on both sides get a
/// session and the WebSocket opens; at the end of the slot it is closed.
async fn the_room_opens_fifteen_minutes_before_by_the_servers_clock(backend: Backend) {
    let clock = ManualClock::new(jiff::Timestamp::now());
    let (s, _loc) = server_with_clock(backend, SharedClock(Arc::new(clock.clone()))).await;
    let doc = tele_practice(&s, "Dr Horloge").await;
    let (patient, _) = s.account("patient", "Hugo Patient").await;
    // About two hours ahead (15-minute steps).
    let (id, start) = book(&s, &doc, &doc.video_motive, &patient, 8).await;
    let opens = start - jiff::SignedDuration::from_mins(15);
    let end = start + jiff::SignedDuration::from_mins(15);
    assert!(opens > clock_now(&clock) + jiff::SignedDuration::from_mins(60));

    let refused = |token: String| {
        let s = &s;
        let id = id.clone();
        async move {
            let resp = s
                .client
                .post(format!("{}/api/v1/appointments/{id}/video-session", s.base))
                .bearer_auth(token)
                .json(&json!({}))
                .send()
                .await
                .expect("post");
            let status = resp.status();
            let retry = resp
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<i64>().ok());
            let ctype = resp
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            let body: Value = resp.json().await.unwrap_or(Value::Null);
            (status, retry, ctype, body)
        }
    };

    // Two hours before: refused for both sides, with when it opens.
    for token in [&patient, &doc.token] {
        let (st, retry, ctype, body) = refused(token.clone()).await;
        assert_eq!(st, StatusCode::CONFLICT, "{body}");
        assert_eq!(ctype, "application/problem+json");
        assert_eq!(
            body["type"], "https://careslot.eu/problems/room-not-open",
            "{body}"
        );
        let detail = body["detail"].as_str().expect("detail");
        let at: jiff::Timestamp = detail
            .rsplit(" at ")
            .next()
            .and_then(|t| t.parse().ok())
            .unwrap_or_else(|| panic!("the detail ends with the opening instant: {detail}"));
        assert_eq!(at, opens, "{detail}");
        assert!(
            detail.ends_with("+01:00") || detail.ends_with("+02:00"),
            "in Paris time: {detail}"
        );
        assert_eq!(
            retry,
            Some(opens.duration_since(clock_now(&clock)).as_secs()),
            "Retry-After: the seconds until the opening"
        );
    }

    // One second before: still refused, come back in a second.
    clock.set(opens - jiff::SignedDuration::from_secs(1));
    let (st, retry, _, body) = refused(patient.clone()).await;
    assert_eq!((st, retry), (StatusCode::CONFLICT, Some(1)), "{body}");

    // At the opening: both sides get a session and the room's WebSocket opens.
    clock.set(opens);
    let (st, ps) = session(&s, &id, Some(&patient)).await;
    assert_eq!(st, StatusCode::OK, "{ps}");
    let (st, ds) = session(&s, &id, Some(&doc.token)).await;
    assert_eq!(st, StatusCode::OK, "{ds}");
    let expires: jiff::Timestamp = ps["expires_at"]
        .as_str()
        .expect("expires_at")
        .parse()
        .expect("instant");
    assert_eq!(
        expires, end,
        "the credential lasts until the end of the slot"
    );
    let url = ps["ws_url"].as_str().expect("url").to_owned();
    let mut pat = connect(&url, Some(&offer(&ps))).await.expect("patient");
    send(&mut pat, json!({"type": "hello", "instance": "p-clock"})).await;
    assert_eq!(next_of(&mut pat, "state").await["side"], "patient");
    drop(pat);

    // At the end of the slot: closed, and the credential opens nothing any more.
    clock.set(end);
    let (st, v) = session(&s, &id, Some(&patient)).await;
    assert_eq!(
        (st, v["type"].as_str()),
        (
            StatusCode::CONFLICT,
            Some("https://careslot.eu/problems/room-closed")
        )
    );
    assert!(connect(&url, Some(&offer(&ds))).await.is_err());
    s.stop().await;
}

fn clock_now(clock: &ManualClock) -> jiff::Timestamp {
    use careslot_core::clock::Clock as _;
    clock.now()
}

/// Two nodes on one PostgreSQL database: the patient on node A, the practice on node B.
/// Presence, admission and signals (one larger than a NOTIFY payload) cross through the
/// database; a reconnection through the other node replaces the first connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_two_sides_on_different_nodes() {
    let loc = common::new_location(Backend::Postgres).await;
    let config = || AppConfig {
        video: VideoConfig {
            stun_urls: vec!["stun:127.0.0.1:3478".into()],
            ..Default::default()
        },
        ..Default::default()
    };
    let mut nodes = Vec::new();
    for _ in 0..2 {
        let custody = common::open_custody(&loc).await;
        nodes.push(common::serve_app(common::app_configured(&loc, custody, config()).await).await);
    }
    let (a, b) = (&nodes[0], &nodes[1]);
    let doc = tele_practice(a, "Dr Deuxnoeuds").await;
    let (patient, _) = a.account("patient", "Rémi Relais").await;
    let id = book_now(a, &doc, &patient).await;
    // Each side asks its own node for the session.
    let (st, ps) = session(a, &id, Some(&patient)).await;
    assert_eq!(st, StatusCode::OK, "{ps}");
    let (st, ds) = session(b, &id, Some(&doc.token)).await;
    assert_eq!(st, StatusCode::OK, "{ds}");
    let host = |base: &str| base.trim_start_matches("http://").to_owned();
    let on = |url: &str, base: &str| {
        let path = url.splitn(4, '/').nth(3).expect("path");
        format!("ws://{}/{path}", host(base))
    };
    let url_a = on(ps["ws_url"].as_str().expect("url"), &a.base);
    let url_b = on(ds["ws_url"].as_str().expect("url"), &b.base);

    let mut pat = connect(&url_a, Some(&offer(&ps)))
        .await
        .expect("patient on A");
    send(&mut pat, json!({"type": "hello", "instance": "p-a"})).await;
    next_of(&mut pat, "state").await;
    let mut pro = connect(&url_b, Some(&offer(&ds)))
        .await
        .expect("practice on B");
    send(&mut pro, json!({"type": "hello", "instance": "d-b"})).await;
    // B learns from A that the patient waits; A learns from B that the practice is there.
    let st = state_where(&mut pro, |v| {
        v["waiting"].as_array().map(Vec::len) == Some(1)
    })
    .await;
    assert_eq!(st["peer_instance"], "p-a", "{st}");
    let st = state_where(&mut pat, |v| v["peer_present"] == true).await;
    assert_eq!(st["peer_instance"], "d-b", "{st}");

    send(&mut pro, json!({"type": "admit"})).await;
    state_where(&mut pat, |v| v["in_call"] == true).await;
    state_where(&mut pro, |v| v["in_call"] == true).await;

    // An offer larger than a NOTIFY payload (8,000 bytes) crosses whole; then a candidate
    // the other way.
    let sdp = json!({"description": {"type": "offer", "sdp": format!("v=0\r\n{}", "a=x\r\n".repeat(4000))}});
    send(&mut pro, json!({"type": "signal", "data": sdp})).await;
    assert_eq!(next_of(&mut pat, "signal").await["data"], sdp);
    let cand = json!({"candidate": {"candidate": "candidate:1 1 udp 1 127.0.0.1 9 typ host", "sdpMid": "0"}});
    send(&mut pat, json!({"type": "signal", "data": cand})).await;
    assert_eq!(next_of(&mut pro, "signal").await["data"], cand);

    // The patient's network drops and they come back through node B: node A's connection
    // is told it was replaced; the call goes on (still admitted).
    let mut pat2 = connect(&url_b, Some(&offer(&ps)))
        .await
        .expect("patient on B");
    send(&mut pat2, json!({"type": "hello", "instance": "p-a"})).await;
    assert_eq!(next_of(&mut pat, "replaced").await["type"], "replaced");
    let st = state_where(&mut pat2, |v| v["in_call"] == true).await;
    assert_eq!(st["admitted"], true);

    // The practice hangs up: the patient hears it.
    send(&mut pro, json!({"type": "hangup"})).await;
    next_of(&mut pat2, "hangup").await;
    for n in nodes {
        n.stop().await;
    }
}

async fn openapi_describes_the_video_endpoints(backend: Backend) {
    let (s, _loc) = server(backend).await;
    let (st, doc) = s.get("/api/v1/openapi.json", None).await;
    assert_eq!(st, StatusCode::OK);
    let paths = &doc["paths"];
    assert!(paths["/api/v1/appointments/{id}/video-session"]["post"].is_object());
    assert!(paths["/api/v1/appointments/{id}/video-session/ws"]["get"].is_object());
    let body = &doc["components"]["schemas"]["VideoSessionBody"]["properties"];
    for field in ["ws_url", "ice_servers", "expires_at", "credential"] {
        assert!(body[field].is_object(), "{field} described: {body}");
    }
    s.stop().await;
}

on_both_backends!(
    openapi_describes_the_video_endpoints,
    participants_get_sessions_others_get_404,
    websocket_refuses_without_this_rooms_credential,
    a_cancelled_appointments_credential_is_refused,
    waiting_room_admission_relay_reconnect_hangup,
    the_room_opens_fifteen_minutes_before_by_the_servers_clock,
);
