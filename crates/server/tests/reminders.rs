//! Reminders on a clock (issue 14), end to end over real HTTP on SQLite and PostgreSQL: the
//! server's clock is a `ManualClock` the test moves, email goes to a real SMTP server
//! (aiosmtpd) and SMS through the real `SmsChannel` to a Twilio-shaped stand-in. Reminders
//! fire at their instant and not before, across the October DST change; an opt-out stops them
//! even after booking; the practice's delays move them; a move replaces both, a cancellation
//! deletes both.

mod common;
#[allow(dead_code)]
#[path = "common/sms.rs"]
mod sms;
#[path = "common/smtp.rs"]
mod smtp;

use careslot_core::clock::{Clock, ManualClock, SharedClock};
use careslot_domain::{AccountId, ReservationId};
use careslot_messages::{compose, Channel, Content, Lang, RetryPolicy, Router, SmtpChannel};
use careslot_server::outbox::MessagesConfig;
use careslot_server::services::{App, AppConfig};
use careslot_store::{
    AccountSettings, IntentKind, NewOutboxMessage, OutboxPayload, OutboxRow, OutboxWrite,
};
use common::{app_configured, new_location, open_custody, serve_app, Backend, TestServer};
use jiff::civil::{date, Date, Weekday};
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
const PHONE: &str = "+33612345678";

struct Env {
    srv: TestServer,
    app: App,
    clock: ManualClock,
    sink: SmtpSink,
    sms: SmsStandIn,
    _loc: common::DataLocation,
}

/// A server whose clock starts at the real now and whose messages go to aiosmtpd (email) and
/// the SMS stand-in, through the same `Router` the binary builds.
async fn env(backend: Backend) -> Env {
    let sink = SmtpSink::start();
    sink.hide_sign_up_mail();
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
    let config = AppConfig {
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

struct Practice {
    token: String,
    agenda_id: String,
    motive_id: String,
}

/// A practitioner in Paris open every day 08:00–18:00 (no holiday closures), with a 30-minute
/// motive bookable up to two years ahead.
async fn practice(srv: &TestServer) -> Practice {
    let (token, _) = srv.account("practitioner", "Dr Rappel").await;
    let t = Some(token.as_str());
    let (s, b) = srv
        .call(
            Method::PUT,
            "/api/v1/practitioner/profile",
            t,
            Some(json!({"name": "Dr Rappel", "specialty": "psychiatrist"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (s, place) = srv
        .post("/api/v1/places", t, json!({"name": "Cabinet", "address": "1 rue de Rivoli", "postcode": "75004", "city": "Paris",
                  "country": "FR", "lat": 48.8556, "lon": 2.3590, "timezone": "Europe/Paris"}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{place}");
    let (s, agenda) = srv
        .post(
            "/api/v1/agendas",
            t,
            json!({"place_id": place["id"], "holidays": null}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{agenda}");
    let agenda_id = agenda["id"].as_str().expect("agenda").to_owned();
    let (s, motive) = srv
        .post(
            &format!("/api/v1/agendas/{agenda_id}/motives"),
            t,
            json!({"name": "Suivi confidentiel", "duration_min": 30, "max_horizon_days": 730}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{motive}");
    let motive_id = motive["id"].as_str().expect("motive").to_owned();
    let (s, rule) = srv
        .post(&format!("/api/v1/agendas/{agenda_id}/opening-rules"), t,
              json!({"weekdays": [1, 2, 3, 4, 5, 6, 7], "start": "08:00", "end": "18:00", "motive_ids": [motive_id]}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{rule}");
    Practice {
        token,
        agenda_id,
        motive_id,
    }
}

/// A patient with a phone number; `verified` marks the number proven (as an SMS code would).
async fn patient(env: &Env, verified: bool) -> (String, String, String) {
    let email = format!("pat-{}@example.test", common::uuid_like());
    let (s, acc) = env
        .srv
        .post_retrying_busy(
            "/api/v1/accounts",
            json!({"email": email, "password": "correct horse battery",
              "name": "Patiente Rappel", "role": "patient", "phone": PHONE}),
        )
        .await;
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
    if verified {
        set_settings(env, &id, |s| s.phone_verified_at = Some(Timestamp::now())).await;
    }
    (
        session["token"].as_str().expect("token").to_owned(),
        id,
        email,
    )
}

async fn set_settings(env: &Env, account: &str, change: impl FnOnce(&mut AccountSettings)) {
    let id = AccountId(account.to_owned());
    let mut s = env.app.store.account_settings(&id).await.expect("settings");
    change(&mut s);
    env.app
        .store
        .put_account_settings(&id, &s)
        .await
        .expect("put settings");
}

fn paris() -> TimeZone {
    TimeZone::get("Europe/Paris").expect("tz")
}

/// `day` at `hh:00` in Paris.
fn paris_at(day: Date, hh: i8) -> Timestamp {
    day.at(hh, 0, 0, 0)
        .to_zoned(paris())
        .expect("local time")
        .timestamp()
}

/// 10:00 in Paris `days` days from today.
fn days_ahead(days: i64) -> Timestamp {
    let today = Timestamp::now().to_zoned(paris()).date();
    paris_at(
        today
            .checked_add(jiff::Span::new().days(days))
            .expect("date"),
        10,
    )
}

/// The Monday after the next October DST change in Paris that is at least five days away.
fn monday_after_october_change() -> Date {
    let now = Timestamp::now();
    let mut year = now.to_zoned(paris()).year();
    loop {
        let last_sunday = date(year, 10, 31)
            .nth_weekday_of_month(-1, Weekday::Sunday)
            .expect("last Sunday");
        let monday = last_sunday.tomorrow().expect("monday");
        if paris_at(monday, 9) > now + SignedDuration::from_hours(24 * 5) {
            return monday;
        }
        year += 1;
    }
}

async fn book(env: &Env, p: &Practice, token: &str, start: Timestamp) -> String {
    let start = start
        .to_zoned(paris())
        .strftime("%Y-%m-%dT%H:%M:%S%:z")
        .to_string();
    let (s, b) = env
        .srv
        .post(
            "/api/v1/appointments",
            Some(token),
            json!({"agenda_id": p.agenda_id, "motive_id": p.motive_id, "start": start}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    b["id"].as_str().expect("id").to_owned()
}

async fn outbox(env: &Env, account: &str) -> Vec<OutboxRow> {
    env.app
        .store
        .outbox_of(&AccountId(account.to_owned()))
        .await
        .expect("outbox")
}

fn row<'a>(rows: &'a [OutboxRow], key: &str) -> Option<&'a OutboxRow> {
    rows.iter().find(|r| r.dedupe_key == key)
}

/// Queues a message due at the clock's now and waits until it was delivered: once it is,
/// the worker has run a claim at the clock's current time, so anything due then would have
/// been claimed with it. How the tests see that something was NOT sent, without sleeping.
async fn barrier(env: &Env, account: &str, email: &str, emails_before: usize) {
    let record = env
        .app
        .store
        .account(&AccountId(account.to_owned()))
        .await
        .expect("account")
        .expect("exists");
    let now = env.clock.now();
    let m = compose(
        &env.app.message_site(),
        &Content::EmailVerification {
            link: format!("{PUBLIC_URL}/barrier"),
        },
        careslot_messages::Recipient::Email(email.to_owned()),
        Lang::En,
        now,
    )
    .expect("compose");
    let sealed = env
        .app
        .seal_message(&record, &m, format!("barrier:{}", m.id), now)
        .await
        .expect("seal");
    let w = OutboxWrite {
        enqueue: vec![sealed],
        ..Default::default()
    };
    env.app.store.enqueue(&w).await.expect("enqueue");
    env.app.wake_outbox(&w);
    let got = env.sink.wait_for(emails_before + 1, WITHIN).await;
    assert_eq!(got.len(), emails_before + 1, "only the barrier arrived");
    let last = summary(&got[emails_before]);
    assert!(
        text_of(&last).contains("/barrier"),
        "the last message is the barrier: {last}"
    );
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

async fn reminders_fire_at_their_instant_across_the_october_change(backend: Backend) {
    let env = env(backend).await;
    let p = practice(&env.srv).await;
    let (token, patient_id, email) = patient(&env, true).await;
    let monday = monday_after_october_change();
    let start = paris_at(monday, 9);
    let id = book(&env, &p, &token, start).await;
    env.sink.wait_for(1, WITHIN).await; // the confirmation
    handled(&env, &patient_id, &format!("confirm:{id}")).await;

    // 72 h of elapsed time before 09:00 CET on Monday is 10:00 CEST on Friday (the night to
    // Sunday has 25 hours), not 09:00.
    let email_due = start - SignedDuration::from_hours(72);
    let friday = monday
        .checked_sub(jiff::Span::new().days(3))
        .expect("friday");
    assert_eq!(email_due, paris_at(friday, 10));
    let sms_due = start - SignedDuration::from_hours(24);
    assert_eq!(sms_due, paris_at(monday.yesterday().expect("sunday"), 9));
    let rows = outbox(&env, &patient_id).await;
    let email_row = row(&rows, &format!("reminder72:{id}")).expect("email reminder queued");
    assert_eq!(email_row.available_at, email_due);
    let sms_row = row(&rows, &format!("reminder-sms:{id}")).expect("SMS reminder queued");
    assert_eq!(sms_row.available_at, sms_due);

    // At 09:00 CEST on Friday (the wall-clock "three days before") and one second before the
    // instant: nothing.
    env.clock.set(paris_at(friday, 9));
    barrier(&env, &patient_id, &email, 1).await;
    env.clock.set(email_due - SignedDuration::from_secs(1));
    barrier(&env, &patient_id, &email, 2).await;
    assert!(row(
        &outbox(&env, &patient_id).await,
        &format!("reminder72:{id}")
    )
    .is_some());

    // At the instant: the email reminder, in French and Paris time, without the motive.
    env.clock.set(email_due);
    let got = env.sink.wait_for(4, WITHIN).await;
    let m = summary(&got[3]);
    assert_eq!(m["to"], email.as_str(), "{m}");
    let text = text_of(&m);
    assert!(text.contains("09:00"), "{text}");
    assert!(
        text.contains(&format!("{PUBLIC_URL}/appointments/{id}")),
        "{text}"
    );
    assert!(!text.contains("confidentiel"), "{text}");
    assert!(!m["subject"].as_str().unwrap_or("").contains("confidentiel"));
    assert!(env.sms.accepted().is_empty(), "no SMS yet");

    // The SMS: a day before, 09:00 CET on Sunday (after the change).
    env.clock.set(sms_due - SignedDuration::from_secs(1));
    barrier(&env, &patient_id, &email, 4).await;
    assert!(env.sms.accepted().is_empty(), "no SMS before its instant");
    env.clock.set(sms_due);
    let sent = env.sms.wait_for(1, WITHIN).await;
    assert_eq!(sent.len(), 1);
    let s = &sent[0];
    assert_eq!(s.to, PHONE);
    assert_eq!(s.from, sms::FROM);
    assert!(s.body.contains("09:00"), "{}", s.body);
    assert!(
        s.body.contains(&format!("{PUBLIC_URL}/appointments/{id}")),
        "{}",
        s.body
    );
    for secret in ["confidentiel", "Suivi", "Rappel", "psychiat", "Psychiat"] {
        assert!(
            !s.body.contains(secret),
            "health data in the SMS: {}",
            s.body
        );
    }
    assert!(s.body.chars().count() <= 320, "short: {}", s.body);
    assert!(env.sms.refused().is_empty(), "{:?}", env.sms.refused());
    // Nothing left for the patient once the worker recorded the send.
    wait_until_gone(&env, &patient_id, &format!("reminder-sms:{id}")).await;
}

/// Waits (bounded) until the worker handled the intent with `key` (its row is gone): a
/// confirmation or move notice queues the appointment's reminders when handled.
async fn handled(env: &Env, account: &str, key: &str) {
    wait_until_gone(env, account, key).await;
}

/// Waits (bounded) until the outbox holds no row with `key` for the account.
async fn wait_until_gone(env: &Env, account: &str, key: &str) {
    let deadline = tokio::time::Instant::now() + WITHIN;
    while row(&outbox(env, account).await, key).is_some() {
        assert!(tokio::time::Instant::now() < deadline, "{key} still queued");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn opt_outs_and_practice_delays(backend: Backend) {
    let env = env(backend).await;
    let p = practice(&env.srv).await;
    let pt = Some(p.token.as_str());

    // The practice's delays: defaults, validation, who may set them.
    let (s, d) = env.srv.get("/api/v1/practitioner/reminders", pt).await;
    assert_eq!(s, StatusCode::OK, "{d}");
    assert_eq!(d, json!({"email_hours_before": 72, "sms_hours_before": 24}));
    for bad in [
        json!({"email_hours_before": 337, "sms_hours_before": 24}),
        json!({"email_hours_before": 48, "sms_hours_before": -1}),
    ] {
        let (s, b) = env
            .srv
            .call(Method::PUT, "/api/v1/practitioner/reminders", pt, Some(bad))
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    }
    let (s, d) = env
        .srv
        .call(
            Method::PUT,
            "/api/v1/practitioner/reminders",
            pt,
            Some(json!({"email_hours_before": 48, "sms_hours_before": 0})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{d}");
    assert_eq!(d, json!({"email_hours_before": 48, "sms_hours_before": 0}));
    let (token, patient_id, email) = patient(&env, true).await;
    let (s, b) = env
        .srv
        .call(
            Method::PUT,
            "/api/v1/practitioner/reminders",
            Some(&token),
            Some(json!({"email_hours_before": 1, "sms_hours_before": 1})),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{b}");

    // The practice's delays place the email reminder 48 h before, and no SMS (0 = off).
    let start = days_ahead(6);
    let id = book(&env, &p, &token, start).await;
    handled(&env, &patient_id, &format!("confirm:{id}")).await;
    let rows = outbox(&env, &patient_id).await;
    let r = row(&rows, &format!("reminder72:{id}")).expect("email reminder");
    assert_eq!(r.available_at, start - SignedDuration::from_hours(48));
    assert!(
        row(&rows, &format!("reminder-sms:{id}")).is_none(),
        "{rows:?}"
    );
    env.sink.wait_for(1, WITHIN).await;

    // Turned off after booking: the queued reminder is dropped when it falls due.
    set_settings(&env, &patient_id, |s| s.reminders_email = false).await;
    env.clock.set(start - SignedDuration::from_hours(48));
    barrier(&env, &patient_id, &email, 1).await;
    // The reminder was claimed with the barrier; once its row is gone, it was either sent or
    // dropped: only the confirmation and the barrier reached the mailbox, so it was dropped.
    wait_until_gone(&env, &patient_id, &format!("reminder72:{id}")).await;
    assert_eq!(
        env.sink.messages().len(),
        2,
        "the unwanted reminder was not sent"
    );

    // Turned off before the confirmation is handled: no reminder is queued, by email or SMS.
    let (s, _) = env
        .srv
        .call(
            Method::PUT,
            "/api/v1/practitioner/reminders",
            pt,
            Some(json!({"email_hours_before": 72, "sms_hours_before": 24})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    set_settings(&env, &patient_id, |s| s.reminders_sms = false).await;
    let later = book(&env, &p, &token, days_ahead(9)).await;
    handled(&env, &patient_id, &format!("confirm:{later}")).await;
    let rows = outbox(&env, &patient_id).await;
    assert!(
        rows.iter()
            .all(|r| !r.dedupe_key.ends_with(&later) || r.dedupe_key.starts_with("confirm:")),
        "{rows:?}"
    );
    // An unverified number gets no SMS reminder even when SMS reminders are on.
    let (token2, patient2, _) = patient(&env, false).await;
    let third = book(&env, &p, &token2, days_ahead(10)).await;
    handled(&env, &patient2, &format!("confirm:{third}")).await;
    let rows = outbox(&env, &patient2).await;
    assert!(
        row(&rows, &format!("reminder72:{third}")).is_some(),
        "{rows:?}"
    );
    assert!(
        row(&rows, &format!("reminder-sms:{third}")).is_none(),
        "{rows:?}"
    );
    assert!(env.sms.accepted().is_empty());
}

async fn move_replaces_and_cancel_deletes_both_reminders(backend: Backend) {
    let env = env(backend).await;
    let p = practice(&env.srv).await;
    let (token, patient_id, _) = patient(&env, true).await;
    let start = days_ahead(7);
    let id = book(&env, &p, &token, start).await;
    handled(&env, &patient_id, &format!("confirm:{id}")).await;
    let rows = outbox(&env, &patient_id).await;
    assert_eq!(
        row(&rows, &format!("reminder72:{id}")).map(|r| r.available_at),
        Some(start - SignedDuration::from_hours(72))
    );
    assert_eq!(
        row(&rows, &format!("reminder-sms:{id}")).map(|r| r.available_at),
        Some(start - SignedDuration::from_hours(24))
    );

    let new_start = days_ahead(8) + SignedDuration::from_hours(2);
    let (s, b) = env
        .srv
        .post(&format!("/api/v1/appointments/{id}/move"), Some(&token),
              json!({"start": new_start.to_zoned(paris()).strftime("%Y-%m-%dT%H:%M:%S%:z").to_string()}))
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    // The move notice queues the reminders at the new start when it is handled.
    handled(
        &env,
        &patient_id,
        &format!("moved:{id}:{}", new_start.as_second()),
    )
    .await;
    let rows = outbox(&env, &patient_id).await;
    let reminders: Vec<&OutboxRow> = rows
        .iter()
        .filter(|r| r.dedupe_key.starts_with("reminder"))
        .collect();
    assert_eq!(reminders.len(), 2, "{rows:?}");
    assert_eq!(
        row(&rows, &format!("reminder72:{id}")).map(|r| r.available_at),
        Some(new_start - SignedDuration::from_hours(72))
    );
    assert_eq!(
        row(&rows, &format!("reminder-sms:{id}")).map(|r| r.available_at),
        Some(new_start - SignedDuration::from_hours(24))
    );

    let (s, b) = env
        .srv
        .post(
            &format!("/api/v1/appointments/{id}/cancel"),
            Some(&token),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let rows = outbox(&env, &patient_id).await;
    assert!(
        rows.iter().all(|r| !r.dedupe_key.starts_with("reminder")),
        "{rows:?}"
    );
}

/// Intents are composed from the appointment as it is when delivered: a move notice for a
/// start the appointment no longer has, and a confirmation of a cancelled appointment, are
/// dropped (their rows removed, nothing sent); the row id is the message's id.
async fn intents_follow_the_appointment_at_delivery(backend: Backend) {
    let env = env(backend).await;
    let p = practice(&env.srv).await;
    let (token, patient_id, email) = patient(&env, false).await;
    let start = days_ahead(7);
    let id = book(&env, &p, &token, start).await;
    handled(&env, &patient_id, &format!("confirm:{id}")).await;
    let got = env.sink.wait_for(1, WITHIN).await;
    assert_eq!(got.len(), 1, "one confirmation");
    // Its Message-ID is the intent row's id: the row is gone, the id was a UUIDv7.
    let message_id = summary(&got[0])["message_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        message_id.starts_with('<') && message_id.len() > 38,
        "{message_id}"
    );

    let account = AccountId(patient_id.clone());
    let now = env.clock.now();
    let intent = |kind: IntentKind, at: Timestamp, key: String| {
        NewOutboxMessage::intent(
            kind,
            account.clone(),
            ReservationId(id.clone()),
            at,
            key,
            now,
            now,
        )
    };
    let mut stale = intent(
        IntentKind::Moved,
        start + SignedDuration::from_hours(1),
        format!("moved:{id}:stale"),
    );
    if let OutboxPayload::Intent(i) = &mut stale.payload {
        i.previous_start = Some(start);
    }
    env.app
        .store
        .enqueue(&OutboxWrite {
            enqueue: vec![stale],
            ..Default::default()
        })
        .await
        .expect("enqueue");
    barrier(&env, &patient_id, &email, 1).await;
    wait_until_gone(&env, &patient_id, &format!("moved:{id}:stale")).await;
    assert_eq!(
        env.sink.messages().len(),
        2,
        "the stale move notice was dropped"
    );

    // Cancelled by the patient: the practice hears of it (one mail); a confirmation of the
    // cancelled appointment still queued is dropped.
    let (s, b) = env
        .srv
        .post(
            &format!("/api/v1/appointments/{id}/cancel"),
            Some(&token),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    env.sink.wait_for(3, WITHIN).await;
    env.app
        .store
        .enqueue(&OutboxWrite {
            enqueue: vec![intent(
                IntentKind::Confirmation,
                start,
                format!("confirm-late:{id}"),
            )],
            ..Default::default()
        })
        .await
        .expect("enqueue");
    barrier(&env, &patient_id, &email, 3).await;
    wait_until_gone(&env, &patient_id, &format!("confirm-late:{id}")).await;
    assert_eq!(
        env.sink.messages().len(),
        4,
        "no confirmation of a cancelled appointment"
    );
}

on_both_backends!(
    intents_follow_the_appointment_at_delivery,
    reminders_fire_at_their_instant_across_the_october_change,
    opt_outs_and_practice_delays,
    move_replaces_and_cancel_deletes_both_reminders,
);
