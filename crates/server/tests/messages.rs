//! Messages through the transactional outbox, end to end over real HTTP on SQLite and
//! PostgreSQL, delivered to a real SMTP server (aiosmtpd): booking, move and cancellation each
//! send exactly one message, in French and the place's time zone, with an `.ics` that python's
//! `icalendar` reads with its alarm; an SMTP outage delays messages without losing a booking;
//! two nodes drain one outbox without sending anything twice; erasure leaves no queued message
//! and the host never holds an address or a body in clear.

mod common;
#[path = "common/smtp.rs"]
mod smtp;

use careslot_core::protection::subject_key_name;
use careslot_domain::AccountId;
use careslot_messages::{Channel, Kind, Lang, Message, Recipient, RetryPolicy, SmtpChannel};
use careslot_scheduling::notify::{PAYLOAD_COLUMN, PAYLOAD_TABLE};
use careslot_server::outbox::MessagesConfig;
use careslot_server::services::{App, AppConfig};
use careslot_store::{NewOutboxMessage, OutboxChannel, OutboxPayload, OutboxWrite};
use common::host::{find, host_bytes};
use common::{app_configured, new_location, open_custody, serve_app, Backend, TestServer};
use jiff::{SignedDuration, Timestamp};
use reqwest::StatusCode;
use serde_json::{json, Value};
use smtp::{closed_port, parse_ics, summary, SmtpSink};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

const PUBLIC_URL: &str = "https://careslot.example";
const WITHIN: Duration = Duration::from_secs(30);

/// Retries every ~0.1 s in tests (the default waits 30 s and more).
fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        base: SignedDuration::from_millis(100),
        cap: SignedDuration::from_millis(300),
        floor: SignedDuration::from_millis(50),
        max_attempts: 10_000,
    }
}

fn config(channel: Option<Arc<dyn Channel>>) -> AppConfig {
    AppConfig {
        public_url: Some(PUBLIC_URL.to_owned()),
        messages: MessagesConfig {
            channel,
            retry: fast_retry(),
            poll: Duration::from_millis(100),
            ..Default::default()
        },
        ..AppConfig::default()
    }
}

fn smtp_to(url: &str) -> Option<Arc<dyn Channel>> {
    Some(Arc::new(
        SmtpChannel::from_url(url, "careslot <no-reply@careslot.test>").expect("smtp channel"),
    ))
}

/// A server over a fresh database whose messages go to `channel`; its `App` for the checks
/// that look inside the store.
async fn server(
    backend: Backend,
    channel: Option<Arc<dyn Channel>>,
) -> (TestServer, App, common::DataLocation) {
    let loc = new_location(backend).await;
    let custody = open_custody(&loc).await;
    let app = app_configured(&loc, custody, config(channel)).await;
    (serve_app(app.clone()).await, app, loc)
}

/// Registers a patient with this email and logs in: (token, account id).
async fn patient(srv: &TestServer, email: &str, name: &str) -> (String, String) {
    let (s, acc) = srv
        .post(
            "/api/v1/accounts",
            None,
            json!({"email": email, "password": "correct horse battery", "name": name, "role": "patient"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{acc}");
    let (s, session) = srv
        .post(
            "/api/v1/sessions",
            None,
            json!({"email": email, "password": "correct horse battery"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{session}");
    (
        session["token"].as_str().expect("token").to_owned(),
        acc["id"].as_str().expect("id").to_owned(),
    )
}

fn starts(slots: &[Value]) -> Vec<String> {
    slots
        .iter()
        .map(|s| s["start"].as_str().expect("start").to_owned())
        .collect()
}

/// "à HH:MM" of an instant in Paris, as the French messages write it.
fn paris_time(start: &str) -> String {
    let t: Timestamp = start.parse().expect("instant");
    let z = t.to_zoned(jiff::tz::TimeZone::get("Europe/Paris").expect("tz"));
    format!("à {:02}:{:02}", z.hour(), z.minute())
}

fn text_part(m: &Value) -> String {
    m["parts"]
        .as_array()
        .expect("parts")
        .iter()
        .find(|p| p["type"] == "text/plain")
        .and_then(|p| p["text"].as_str())
        .expect("text part")
        .to_owned()
}

fn ics_part(m: &Value) -> Option<String> {
    m["parts"]
        .as_array()
        .expect("parts")
        .iter()
        .find(|p| p["type"] == "text/calendar")
        .and_then(|p| p["text"].as_str())
        .map(str::to_owned)
}

/// Only future reminders may be left in the account's outbox once everything due was sent.
async fn only_reminders_left(app: &App, account: &str) {
    let rows = app
        .store
        .outbox_of(&AccountId(account.to_owned()))
        .await
        .expect("outbox");
    assert!(
        rows.iter().all(|r| r.dedupe_key.starts_with("reminder72:")
            && r.available_at > Timestamp::now()
            && r.attempts == 0),
        "{rows:?}"
    );
}

async fn booking_move_and_cancellation_send_one_message_each(backend: Backend) {
    let sink = SmtpSink::start();
    let (srv, app, _loc) = server(backend, smtp_to(&sink.url())).await;
    let practice = srv.practice("Dr Mailer", 30, 1).await;
    let (_, practitioner_me) = srv.get("/api/v1/me", Some(&practice.token)).await;
    let practitioner_email = practitioner_me["email"].as_str().expect("email").to_owned();
    let email = format!("pat-{}@example.test", common::uuid_like());
    let (token, patient_id) = patient(&srv, &email, "Patiente Courrier").await;
    // The two sign-ups' verification mails (issue 14) come first; this test counts the rest.
    sink.wait_for(2, WITHIN).await;
    sink.clear();
    let t = Some(token.as_str());
    let slots = starts(&srv.slots(&practice).await);
    assert!(slots.len() > 12);

    // Booking: one confirmation to the patient, in French and Paris time, with the .ics.
    let (s, booked) = srv
        .post(
            "/api/v1/appointments",
            t,
            json!({"agenda_id": practice.agenda_id, "motive_id": practice.motive_id, "start": slots[1]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{booked}");
    let id = booked["id"].as_str().expect("id").to_owned();
    let got = sink.wait_for(1, WITHIN).await;
    let m = summary(&got[0]);
    assert_eq!(m["to"], email.as_str(), "{m}");
    assert_eq!(m["content_language"], "fr", "{m}");
    assert!(!m["subject"].as_str().unwrap_or("").contains("Consultation"));
    let text = text_part(&m);
    assert!(text.contains(&paris_time(&slots[1])), "{text}");
    assert!(
        text.contains(&format!("{PUBLIC_URL}/appointments/{id}")),
        "{text}"
    );
    let ics = parse_ics(&ics_part(&m).expect("an .ics"));
    assert_eq!(ics["events"], 1, "{ics}");
    assert!(ics["alarms"].as_u64().unwrap_or(0) >= 1, "a VALARM: {ics}");
    let start: Timestamp = slots[1].parse().expect("instant");
    assert_eq!(ics["start"], start.as_second(), "{ics}");

    // Move: one notice with the new time and an updated .ics.
    let (s, moved) = srv
        .post(
            &format!("/api/v1/appointments/{id}/move"),
            t,
            json!({"start": slots[3]}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{moved}");
    let got = sink.wait_for(2, WITHIN).await;
    let m = summary(&got[1]);
    assert_eq!(m["to"], email.as_str(), "{m}");
    assert_eq!(m["content_language"], "fr");
    assert!(text_part(&m).contains(&paris_time(&slots[3])));
    let ics = parse_ics(&ics_part(&m).expect("an .ics"));
    assert!(ics["alarms"].as_u64().unwrap_or(0) >= 1, "{ics}");
    let new_start: Timestamp = slots[3].parse().expect("instant");
    assert_eq!(ics["start"], new_start.as_second(), "{ics}");

    // Cancellation by the patient: the practice hears of it, once.
    let (s, cancelled) = srv
        .post(&format!("/api/v1/appointments/{id}/cancel"), t, json!({}))
        .await;
    assert_eq!(s, StatusCode::OK, "{cancelled}");
    let got = sink.wait_for(3, WITHIN).await;
    let m = summary(&got[2]);
    assert_eq!(m["to"], practitioner_email.as_str(), "{m}");
    assert!(text_part(&m).contains("Patiente Courrier"));

    // Cancellation by the practice: the patient hears of it, once.
    let (s, second) = srv
        .post(
            "/api/v1/appointments",
            t,
            json!({"agenda_id": practice.agenda_id, "motive_id": practice.motive_id, "start": slots[slots.len() - 1]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{second}");
    let second_id = second["id"].as_str().expect("id").to_owned();
    sink.wait_for(4, WITHIN).await;
    let (s, body) = srv
        .post(
            &format!("/api/v1/practice/appointments/{second_id}/cancel"),
            Some(&practice.token),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let got = sink.wait_for(5, WITHIN).await;
    let m = summary(&got[4]);
    assert_eq!(m["to"], email.as_str(), "{m}");
    assert!(text_part(&m).contains(&paris_time(&slots[slots.len() - 1])));

    // Exactly one message each: distinct Message-IDs, and nothing due left to send (a later
    // reminder may wait for its time; the cancelled appointment's reminder is gone).
    let got = sink.messages();
    assert_eq!(got.len(), 5);
    let ids: HashSet<String> = got
        .iter()
        .map(|p| summary(p)["message_id"].as_str().unwrap_or("").to_owned())
        .collect();
    assert_eq!(ids.len(), 5, "{ids:?}");
    only_reminders_left(&app, &patient_id).await;
    let left = app
        .store
        .outbox_of(&AccountId(patient_id.clone()))
        .await
        .expect("outbox");
    assert!(
        left.iter()
            .all(|r| r.dedupe_key != format!("reminder72:{id}")
                && r.dedupe_key != format!("reminder72:{second_id}")),
        "{left:?}"
    );
    srv.stop().await;
}

async fn smtp_down_while_booking_delivers_later(backend: Backend) {
    let port = closed_port();
    let (srv, app, _loc) = server(backend, smtp_to(&format!("smtp://127.0.0.1:{port}"))).await;
    let practice = srv.practice("Dr Outage", 30, 1).await;
    let email = format!("pat-{}@example.test", common::uuid_like());
    let (token, patient_id) = patient(&srv, &email, "Patient Patient").await;
    let slots = starts(&srv.slots(&practice).await);
    let (s, booked) = srv
        .post(
            "/api/v1/appointments",
            Some(&token),
            json!({"agenda_id": practice.agenda_id, "motive_id": practice.motive_id, "start": slots[0]}),
        )
        .await;
    assert_eq!(
        s,
        StatusCode::CREATED,
        "the outage never blocks a booking: {booked}"
    );
    let id = booked["id"].as_str().expect("id").to_owned();
    // The worker tries and fails a few times; the message stays queued, its error recorded.
    let account = AccountId(patient_id.clone());
    let deadline = tokio::time::Instant::now() + WITHIN;
    loop {
        let rows = app.store.outbox_of(&account).await.expect("outbox");
        let confirm = rows
            .iter()
            .find(|r| r.dedupe_key == format!("confirm:{id}"))
            .expect("the confirmation stays queued");
        if confirm.attempts >= 2 && confirm.last_error.is_some() {
            assert!(confirm.dead_at.is_none());
            let error = confirm.last_error.as_deref().unwrap_or("");
            assert!(error.starts_with("transient"), "{error}");
            assert!(!error.contains(&email), "{error}");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{rows:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The server comes back on its port: the confirmation arrives, once (with the two
    // sign-ups' verification mails, queued before it).
    let sink = SmtpSink::start_on(port);
    let got = sink.wait_for(3, WITHIN).await;
    let to_patient: Vec<Value> = got
        .iter()
        .map(|p| summary(p))
        .filter(|m| m["to"] == email.as_str())
        .collect();
    assert_eq!(to_patient.len(), 2, "verification and confirmation");
    only_reminders_left(&app, &patient_id).await;
    assert_eq!(sink.messages().len(), 3);
    srv.stop().await;
}

async fn refused_address_becomes_a_dead_letter(backend: Backend) {
    let sink = SmtpSink::start();
    let (srv, app, _loc) = server(backend, smtp_to(&sink.url())).await;
    let practice = srv.practice("Dr Bounce", 30, 1).await;
    // The SMTP server answers 550 to recipients starting with "reject".
    let email = format!("reject-{}@example.test", common::uuid_like());
    let (token, patient_id) = patient(&srv, &email, "Patient Refused").await;
    let slots = starts(&srv.slots(&practice).await);
    let (s, booked) = srv
        .post(
            "/api/v1/appointments",
            Some(&token),
            json!({"agenda_id": practice.agenda_id, "motive_id": practice.motive_id, "start": slots[0]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{booked}");
    let account = AccountId(patient_id);
    let deadline = tokio::time::Instant::now() + WITHIN;
    let dead = loop {
        let rows = app.store.dead_letters(100).await.expect("dead letters");
        if let Some(row) = rows.into_iter().find(|r| r.account_id == account) {
            break row;
        }
        assert!(tokio::time::Instant::now() < deadline, "no dead letter");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // Parked at the first refusal (no retries), with a reason that names no address.
    assert_eq!(dead.attempts, 1);
    let error = dead.last_error.unwrap_or_default();
    assert!(error.starts_with("permanent"), "{error}");
    assert!(
        !error.contains("example.test") && !error.contains("reject-"),
        "{error}"
    );
    assert!(sink
        .messages()
        .iter()
        .all(|p| summary(p)["to"] != email.as_str()));
    // The operator retries it: claimed again, refused again, parked again.
    assert!(app
        .store
        .retry_dead_letter(&dead.id, Timestamp::now())
        .await
        .expect("retry"));
    let deadline = tokio::time::Instant::now() + WITHIN;
    loop {
        let rows = app.store.outbox_of(&account).await.expect("outbox");
        let row = rows.iter().find(|r| r.id == dead.id).expect("still there");
        if row.dead_at.is_some() && row.attempts == 1 && row.locked_until.is_none() {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{rows:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    srv.stop().await;
}

async fn password_reset_by_email(backend: Backend) {
    let sink = SmtpSink::start();
    let (srv, _app, _loc) = server(backend, smtp_to(&sink.url())).await;
    let email = format!("forgetful-{}@example.test", common::uuid_like());
    let (old_session, _) = patient(&srv, &email, "Patient Forgetful").await;
    // The sign-up's verification mail (issue 14) first.
    sink.wait_for(1, WITHIN).await;
    sink.clear();
    // The same answer for an unknown, a malformed and a known address; one mail, to the known.
    for address in ["nobody-here@example.test", "not an address", email.as_str()] {
        let (s, body) = srv
            .post("/api/v1/password-resets", None, json!({"email": address}))
            .await;
        assert_eq!(s, StatusCode::ACCEPTED, "{body}");
    }
    let got = sink.wait_for(1, WITHIN).await;
    let m = summary(&got[0]);
    assert_eq!(m["to"], email.as_str(), "{m}");
    let text = text_part(&m);
    let marker = format!("{PUBLIC_URL}/password-reset?token=");
    let at = text.find(&marker).expect("the link") + marker.len();
    let token: String = text[at..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    assert!(token.len() >= 40, "{token}");
    // A weak password is refused and the token still works afterwards.
    let (s, _) = srv
        .post(
            "/api/v1/password-resets/confirm",
            None,
            json!({"token": token, "password": "short"}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let (s, body) = srv
        .post(
            "/api/v1/password-resets/confirm",
            None,
            json!({"token": token, "password": "a brand new passphrase"}),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{body}");
    // Every old session is revoked; the new password signs in, the old one does not.
    let (s, _) = srv.get("/api/v1/me", Some(&old_session)).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _) = srv
        .post(
            "/api/v1/sessions",
            None,
            json!({"email": email, "password": "correct horse battery"}),
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, body) = srv
        .post(
            "/api/v1/sessions",
            None,
            json!({"email": email, "password": "a brand new passphrase"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    // Single use.
    let (s, _) = srv
        .post(
            "/api/v1/password-resets/confirm",
            None,
            json!({"token": token, "password": "yet another passphrase"}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    // Only the known address got a mail.
    assert_eq!(sink.messages().len(), 1);
    // The sign-in page links to it; the API document describes it.
    let page = srv
        .client
        .get(format!("{}/signin", srv.base))
        .send()
        .await
        .expect("sign-in page")
        .text()
        .await
        .expect("html");
    assert!(
        page.contains("href=\"/password-reset\""),
        "no forgot-password link"
    );
    let (_, doc) = srv.get("/api/v1/openapi.json", None).await;
    for path in ["/api/v1/password-resets", "/api/v1/password-resets/confirm"] {
        assert!(
            doc["paths"][path]["post"].is_object(),
            "{path} not in OpenAPI"
        );
    }
    srv.stop().await;
}

/// A message to `account` sealed as the service layer seals it, for bulk queuing.
async fn sealed(app: &App, account: &AccountId, email: &str, n: usize) -> NewOutboxMessage {
    let record = app
        .store
        .account(account)
        .await
        .expect("store")
        .expect("account");
    let key = app
        .protect
        .data_key(&subject_key_name(account), &record.wrapped_key)
        .await
        .expect("key");
    let message = Message {
        id: Message::new_id(),
        recipient: Recipient::Email(email.to_owned()),
        lang: Lang::Fr,
        kind: Kind::Reminder,
        subject: format!("Rappel {n}"),
        text: format!("Message numéro {n}"),
        html: None,
        attachments: vec![],
        unsubscribe_url: None,
    };
    let json = serde_json::to_vec(&message).expect("json");
    let now = Timestamp::now();
    NewOutboxMessage {
        payload: OutboxPayload::Sealed(app.protect.seal(
            &key,
            &json,
            PAYLOAD_TABLE,
            PAYLOAD_COLUMN,
            &message.id,
        )),
        id: message.id,
        channel: OutboxChannel::Email,
        dedupe_key: format!("test:{n}"),
        account_id: account.clone(),
        subject_account_id: None,
        available_at: now,
        created_at: now,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_deliver_each_of_1000_messages_once() {
    let sink = SmtpSink::start();
    let loc = new_location(Backend::Postgres).await;
    let custody = open_custody(&loc).await;
    // Node A holds the messages until they are all queued; nodes B and C drain them.
    let a = app_configured(&loc, custody.clone(), config(None)).await;
    let b = app_configured(&loc, custody.clone(), config(smtp_to(&sink.url()))).await;
    let c = app_configured(&loc, custody.clone(), config(smtp_to(&sink.url()))).await;
    let email = format!("bulk-{}@example.test", common::uuid_like());
    let who = a
        .accounts
        .register(
            careslot_identity::NewIdentity {
                email: &email,
                password: "correct horse battery",
                name: "Bulk Recipient",
                role: careslot_store::Role::Patient,
                phone: None,
                birth_date: None,
            },
            std::net::IpAddr::from([127, 0, 0, 1]),
        )
        .await
        .expect("account");
    // The sign-up's verification mail (issue 14) first; the test counts the rest.
    sink.wait_for(1, WITHIN).await;
    sink.clear();
    let mut w = OutboxWrite::default();
    for n in 0..1000 {
        w.enqueue.push(sealed(&a, &who.id, &email, n).await);
    }
    let queued: HashSet<String> = w.enqueue.iter().map(|m| m.id.clone()).collect();
    a.store.enqueue(&w).await.expect("enqueue");
    let got = sink.wait_for(1000, Duration::from_secs(180)).await;
    // Everything was sent and recorded: nothing left, so nothing more can come.
    let deadline = tokio::time::Instant::now() + WITHIN;
    while !a.store.outbox_of(&who.id).await.expect("outbox").is_empty() {
        assert!(tokio::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let got_now = sink.messages();
    assert_eq!(got_now.len(), 1000, "no message twice");
    let mut ids = HashSet::new();
    for p in &got {
        let raw = std::fs::read_to_string(p).expect("eml");
        let id = raw
            .lines()
            .find_map(|l| {
                l.strip_prefix("Message-ID: ")
                    .or_else(|| l.strip_prefix("Message-Id: "))
            })
            .expect("Message-ID")
            .trim()
            .trim_start_matches('<')
            .split('@')
            .next()
            .unwrap_or("")
            .to_owned();
        assert!(queued.contains(&id), "{id} was not queued");
        assert!(ids.insert(id.clone()), "{id} delivered twice");
    }
    assert_eq!(ids.len(), 1000);
    drop((b, c));
}

async fn erasure_removes_queued_messages(backend: Backend) {
    // No channel: the messages stay queued, as during an outage.
    let (srv, app, loc) = server(backend, None).await;
    let practice = srv.practice("Dr Shredder", 30, 1).await;
    let email = "ermengarde.vantongerloo@example.test";
    let name = "Ermengarde Vantongerloo";
    let (token, patient_id) = patient(&srv, email, name).await;
    let t = Some(token.as_str());
    let slots = starts(&srv.slots(&practice).await);
    let mut ids = vec![];
    for start in [&slots[0], &slots[slots.len() - 1]] {
        let (s, booked) = srv
            .post(
                "/api/v1/appointments",
                t,
                json!({"agenda_id": practice.agenda_id, "motive_id": practice.motive_id, "start": start}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{booked}");
        ids.push(booked["id"].as_str().expect("id").to_owned());
    }
    let account = AccountId(patient_id.clone());
    let queued = app.store.outbox_of(&account).await.expect("outbox");
    assert!(queued.len() >= 2, "{queued:?}");
    // Queued, the messages are sealed: no address, name or body on the host.
    let link = format!("careslot.example/appointments/{}", ids[0]);
    let scan = |bytes: &[u8]| {
        // Positive control: the practitioner's public name is in clear, so the scan reads.
        assert!(find(bytes, b"Dr Shredder"), "the scan must see public data");
        for needle in [email, name, "Vantongerloo", link.as_str(), "Rendez-vous"] {
            assert!(
                !find(bytes, needle.as_bytes()),
                "{needle:?} in clear on the host"
            );
        }
    };
    scan(&host_bytes(&loc));
    let (s, _) = srv
        .call(reqwest::Method::DELETE, "/api/v1/me", t, None)
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert!(app
        .store
        .outbox_of(&account)
        .await
        .expect("outbox")
        .is_empty());
    scan(&host_bytes(&loc));
    srv.stop().await;
}

on_both_backends!(
    booking_move_and_cancellation_send_one_message_each,
    smtp_down_while_booking_delivers_later,
    erasure_removes_queued_messages,
    refused_address_becomes_a_dead_letter,
    password_reset_by_email,
);
