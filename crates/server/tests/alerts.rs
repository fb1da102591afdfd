//! Earlier-slot alerts (issue 14), end to end over real HTTP on SQLite and PostgreSQL, with
//! the server's clock a `ManualClock`, email to a real SMTP server (aiosmtpd) and SMS through
//! `SmsChannel` to the Twilio-shaped stand-in. Two subscribers; a cancellation offers the place
//! to the first only (the second gets nothing, a third party cannot book it); once the hold
//! lapses on the clock the second is offered it; confirming books it and consumes the alert.

mod common;
#[allow(dead_code)]
#[path = "common/sms.rs"]
mod sms;
#[path = "common/smtp.rs"]
mod smtp;

use careslot_core::clock::{ManualClock, SharedClock};
use careslot_domain::AccountId;
use careslot_messages::{Channel, RetryPolicy, Router, SmtpChannel};
use careslot_server::outbox::MessagesConfig;
use careslot_server::services::{App, AppConfig};
use common::{app_configured, new_location, open_custody, serve_app, Backend, TestServer};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sms::SmsStandIn;
use smtp::{summary, SmtpSink};
use std::sync::Arc;
use std::time::Duration;

const PUBLIC_URL: &str = "https://careslot.example";
const WITHIN: Duration = Duration::from_secs(30);

struct Env {
    srv: TestServer,
    app: App,
    clock: ManualClock,
    sink: SmtpSink,
    sms: SmsStandIn,
    _loc: common::DataLocation,
}

async fn env(backend: Backend) -> Env {
    let _ = tracing_subscriber::fmt()
        .with_env_filter("warn")
        .with_test_writer()
        .try_init();
    let sink = SmtpSink::start();
    let sms = SmsStandIn::start().await;
    let clock = ManualClock::new(Timestamp::now());
    let email: Arc<dyn Channel> = Arc::new(
        SmtpChannel::from_url(&sink.url(), "careslot <no-reply@careslot.test>")
            .expect("smtp channel"),
    );
    let router: Arc<dyn Channel> = Arc::new(Router {
        email,
        sms: Arc::new(sms.channel()),
    });
    let mut config = AppConfig {
        public_url: Some(PUBLIC_URL.to_owned()),
        clock: SharedClock::from(clock.clone()),
        messages: MessagesConfig {
            channel: Some(router),
            retry: RetryPolicy {
                base: SignedDuration::from_millis(100),
                cap: SignedDuration::from_millis(300),
                floor: SignedDuration::from_millis(50),
                max_attempts: 10_000,
            },
            poll: Duration::from_millis(100),
            ..Default::default()
        },
        ..AppConfig::default()
    };
    config.alerts.poll = Duration::from_millis(100);
    let loc = new_location(backend).await;
    let custody = open_custody(&loc).await;
    let app = app_configured(&loc, custody, config).await;
    Env {
        srv: serve_app(app.clone()).await,
        app,
        clock,
        sink,
        sms,
        _loc: loc,
    }
}

/// A patient: (token, account id, email); `phone` is set and verified when given.
async fn patient(env: &Env, name: &str, phone: Option<&str>) -> (String, String, String) {
    let email = format!(
        "{}-{}@example.test",
        name.to_lowercase(),
        common::uuid_like()
    );
    let mut body = json!({"email": email, "password": "correct horse battery", "name": name, "role": "patient"});
    if let Some(p) = phone {
        body["phone"] = json!(p);
    }
    let (s, acc) = env.srv.post_retrying_busy("/api/v1/accounts", body).await;
    assert_eq!(s, StatusCode::CREATED, "{acc}");
    let (s, session) = env
        .srv
        .post_retrying_busy(
            "/api/v1/sessions",
            json!({"email": email, "password": "correct horse battery"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{session}");
    let id = acc["id"].as_str().expect("id").to_owned();
    if phone.is_some() {
        let aid = AccountId(id.clone());
        let mut st = env
            .app
            .store
            .account_settings(&aid)
            .await
            .expect("settings");
        st.phone_verified_at = Some(Timestamp::now());
        env.app
            .store
            .put_account_settings(&aid, &st)
            .await
            .expect("settings");
    }
    (
        session["token"].as_str().expect("token").to_owned(),
        id,
        email,
    )
}

async fn alerts(env: &Env, token: &str) -> Vec<Value> {
    let (s, b) = env.srv.get("/api/v1/me/alerts", Some(token)).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    b["alerts"].as_array().expect("alerts").clone()
}

/// Waits (bounded) until the caller's alert holds an offer; returns its hold id.
async fn wait_for_offer(env: &Env, token: &str) -> String {
    let deadline = tokio::time::Instant::now() + WITHIN;
    loop {
        let a = alerts(env, token).await;
        if let Some(hold) = a
            .first()
            .and_then(|a| a["offers"].as_array())
            .and_then(|o| o.first())
            .and_then(|o| o["hold_id"].as_str())
        {
            return hold.to_owned();
        }
        assert!(tokio::time::Instant::now() < deadline, "no offer: {a:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The messages the SMTP server received for `to`.
fn mail_to(env: &Env, to: &str) -> Vec<Value> {
    env.sink
        .messages()
        .iter()
        .map(|p| summary(p))
        .filter(|m| m["to"] == to)
        .collect()
}

async fn wait_for_mail(env: &Env, to: &str, n: usize) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + WITHIN;
    loop {
        let got = mail_to(env, to);
        if got.len() >= n {
            return got;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} mail(s) to {to}",
            got.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn text_of(m: &Value) -> String {
    m["parts"]
        .as_array()
        .expect("parts")
        .iter()
        .find(|p| p["type"] == "text/plain")
        .and_then(|p| p["text"].as_str())
        .unwrap_or_default()
        .to_owned()
}

async fn a_freed_place_goes_to_subscribers_in_order(backend: Backend) {
    let env = env(backend).await;
    let p = env.srv.practice("Dr Alerte", 30, 1).await;
    let (tx, _, _) = patient(&env, "Xavier", None).await;
    let (ta, _, email_a) = patient(&env, "Alice", Some("+33611111111")).await;
    let (tb, _, email_b) = patient(&env, "Bruno", None).await;
    let (tc, _, _) = patient(&env, "Chloe", None).await;

    // X books a place in four days at 10:00 Paris.
    let tz = TimeZone::get("Europe/Paris").expect("tz");
    let day = Timestamp::now()
        .to_zoned(tz.clone())
        .date()
        .checked_add(jiff::Span::new().days(4))
        .expect("date");
    let start = day
        .at(10, 0, 0, 0)
        .to_zoned(tz.clone())
        .expect("local")
        .timestamp();
    let start_s = start
        .to_zoned(tz.clone())
        .strftime("%Y-%m-%dT%H:%M:%S%:z")
        .to_string();
    let (s, booked) = env
        .srv
        .post(
            "/api/v1/appointments",
            Some(&tx),
            json!({"agenda_id": p.agenda_id, "motive_id": p.motive_id, "start": start_s}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{booked}");
    let id = booked["id"].as_str().expect("id").to_owned();

    // A then B subscribe (validation first: an unknown motive, a past date, a practitioner).
    let (s, b) = env
        .srv
        .post(
            "/api/v1/me/alerts",
            Some(&ta),
            json!({"agenda_id": p.agenda_id, "motive_id": "nope"}),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{b}");
    let (s, b) = env
        .srv
        .post(
            "/api/v1/me/alerts",
            Some(&ta),
            json!({"agenda_id": p.agenda_id, "motive_id": p.motive_id, "before": "2001-01-01"}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    let (s, b) = env
        .srv
        .post(
            "/api/v1/me/alerts",
            Some(&p.token),
            json!({"agenda_id": p.agenda_id, "motive_id": p.motive_id}),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{b}");
    for t in [&ta, &tb] {
        let (s, b) = env
            .srv
            .post(
                "/api/v1/me/alerts",
                Some(t),
                json!({"agenda_id": p.agenda_id, "motive_id": p.motive_id}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        assert_eq!(b["motive_id"], p.motive_id.as_str());
    }

    // X cancels: the place is offered to A alone, held for A.
    let (s, b) = env
        .srv
        .post(
            &format!("/api/v1/appointments/{id}/cancel"),
            Some(&tx),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let hold_a = wait_for_offer(&env, &ta).await;
    let offer_a = &alerts(&env, &ta).await[0]["offers"][0];
    let offered: Timestamp = offer_a["start"]
        .as_str()
        .expect("start")
        .parse()
        .expect("instant");
    assert_eq!(offered, start);
    assert!(alerts(&env, &tb).await[0]["offers"]
        .as_array()
        .expect("offers")
        .is_empty());
    // Nobody else can take it meanwhile: not a third party, not B.
    for t in [&tc, &tb] {
        let (s, b) = env
            .srv
            .post(
                "/api/v1/appointments",
                Some(t),
                json!({"agenda_id": p.agenda_id, "motive_id": p.motive_id, "start": start_s}),
            )
            .await;
        assert_eq!(s, StatusCode::CONFLICT, "{b}");
    }
    // A is told by email and, to the verified number, by SMS, with the link to confirm.
    let mail = wait_for_mail(&env, &email_a, 1).await;
    let text = text_of(&mail[0]);
    assert!(
        text.contains(&format!("{PUBLIC_URL}/book/{hold_a}")),
        "{text}"
    );
    assert!(!mail[0]["subject"]
        .as_str()
        .unwrap_or("")
        .contains("Consultation"));
    let sent = env.sms.wait_for(1, WITHIN).await;
    assert_eq!(sent[0].to, "+33611111111");
    assert!(
        sent[0].body.contains(&format!("/book/{hold_a}")),
        "{}",
        sent[0].body
    );
    assert!(mail_to(&env, &email_b).is_empty(), "B is told nothing yet");

    // A lets the hold lapse: once the clock passes it, B is offered the place.
    env.clock.advance(SignedDuration::from_mins(16));
    let hold_b = wait_for_offer(&env, &tb).await;
    assert_ne!(hold_a, hold_b);
    assert!(alerts(&env, &ta).await[0]["offers"]
        .as_array()
        .expect("offers")
        .is_empty());
    wait_for_mail(&env, &email_b, 1).await;
    // A's lapsed hold cannot be booked any more; B's can, and it is a normal booking.
    let (s, b) = env
        .srv
        .post(
            "/api/v1/appointments",
            Some(&ta),
            json!({"hold_id": hold_a}),
        )
        .await;
    // (an expired hold is no longer the patient's: 404, as for any lapsed hold)
    assert!(
        [
            StatusCode::NOT_FOUND,
            StatusCode::CONFLICT,
            StatusCode::GONE
        ]
        .contains(&s),
        "{s} {b}"
    );
    let (s, b) = env
        .srv
        .post(
            "/api/v1/appointments",
            Some(&tb),
            json!({"hold_id": hold_b}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    assert_eq!(b["status"], "booked");
    let confirmed: Timestamp = b["start"]
        .as_str()
        .expect("start")
        .parse()
        .expect("instant");
    assert_eq!(confirmed, start);
    // B's alert is consumed; A's stays for the next place; B gets the confirmation.
    assert!(alerts(&env, &tb).await.is_empty());
    assert_eq!(alerts(&env, &ta).await.len(), 1);
    wait_for_mail(&env, &email_b, 2).await;

    // A stops the alert; and an unknown one is 404.
    let alert_a = alerts(&env, &ta).await[0]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let (s, _) = env
        .srv
        .call(
            Method::DELETE,
            &format!("/api/v1/me/alerts/{alert_a}"),
            Some(&tb),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = env
        .srv
        .call(
            Method::DELETE,
            &format!("/api/v1/me/alerts/{alert_a}"),
            Some(&ta),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert!(alerts(&env, &ta).await.is_empty());
}

async fn erasure_removes_alerts(backend: Backend) {
    let env = env(backend).await;
    let p = env.srv.practice("Dr Oubli", 30, 1).await;
    let (ta, id_a, _) = patient(&env, "Alice", None).await;
    let (s, b) = env
        .srv
        .post(
            "/api/v1/me/alerts",
            Some(&ta),
            json!({"agenda_id": p.agenda_id, "motive_id": p.motive_id}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let account = AccountId(id_a);
    assert_eq!(
        env.app
            .store
            .slot_alerts_of(&account)
            .await
            .expect("alerts")
            .len(),
        1
    );
    let (s, b) = env
        .srv
        .call(Method::DELETE, "/api/v1/me", Some(&ta), None)
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{b}");
    assert!(env
        .app
        .store
        .slot_alerts_of(&account)
        .await
        .expect("alerts")
        .is_empty());
}

on_both_backends!(
    a_freed_place_goes_to_subscribers_in_order,
    erasure_removes_alerts
);
