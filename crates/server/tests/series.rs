//! Recurring care through the API (issue 18, point 5), over real HTTP on SQLite and
//! PostgreSQL: a series with one date already taken books nothing and the 409 names that
//! date; skipping it books the rest in one go and the patient gets one message; the series
//! reads back with its positions; another booking cannot take an occurrence's time;
//! cancelling "this one and all following" leaves the earlier ones booked; other practices
//! and patients see nothing of it; malformed rules are refused. Moving the series shifts
//! its future appointments together (onto times it leaves itself), all or none; the patient
//! gets one message for a move and one for a cancellation, through a real SMTP server.

mod common;
#[path = "common/smtp.rs"]
mod smtp;

use careslot_messages::{Kind, Message, Recipient, RecordingChannel};
use careslot_server::outbox::MessagesConfig;
use careslot_server::services::AppConfig;
use common::{start_configured, Backend, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};

const WEEKDAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// 10:00 in Paris, `days` from today.
fn at_ten(days: i64) -> jiff::Zoned {
    at(days, 10)
}

/// `hour`:00 in Paris, `days` from today.
fn at(days: i64, hour: i8) -> jiff::Zoned {
    let today = jiff::Timestamp::now()
        .in_tz("Europe/Paris")
        .expect("tz")
        .date();
    today
        .checked_add(jiff::Span::new().days(days))
        .expect("date")
        .at(hour, 0, 0, 0)
        .in_tz("Europe/Paris")
        .expect("zoned")
}

fn code(z: &jiff::Zoned) -> &'static str {
    WEEKDAYS[z.weekday().to_monday_zero_offset() as usize]
}

fn sent_to(channel: &RecordingChannel, who: &str, kind: Kind) -> Vec<Message> {
    channel
        .sent()
        .into_iter()
        .filter(|m| m.kind == kind)
        .filter(|m| matches!(&m.recipient, Recipient::Email(e) if e.contains(who)))
        .collect()
}

async fn appointments(srv: &TestServer, token: &str, agenda: &str) -> Vec<Value> {
    let from = at_ten(0).date();
    let to = at_ten(30).date();
    let (s, body) = srv
        .get(
            &format!("/api/v1/agendas/{agenda}/appointments?from={from}&to={to}"),
            Some(token),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    body["appointments"].as_array().cloned().unwrap_or_default()
}

async fn book_all_or_nothing_then_cancel_following(backend: Backend) {
    let channel = RecordingChannel::new();
    let config = AppConfig {
        messages: MessagesConfig {
            channel: Some(Arc::new(channel.clone())),
            poll: Duration::from_millis(50),
            ..Default::default()
        },
        ..AppConfig::default()
    };
    let (srv, _loc) = start_configured(backend, config).await;
    let p = srv.practice("Dr Kiné", 30, 1).await;
    // Twice a week: the first date's weekday and two days later, three weeks.
    let first = at_ten(2);
    let second = at_ten(4);
    let rule = json!({"weekdays": [code(&first), code(&second)], "count": 6});
    let dates: Vec<jiff::Zoned> = [2, 4, 9, 11, 16, 18].iter().map(|d| at_ten(*d)).collect();

    // Alice is a patient of the practice (she booked online once); Bob holds the third date.
    let (alice, alice_id) = srv.account("patient", "Alice Serie").await;
    let (s, online) = srv
        .post(
            "/api/v1/appointments",
            Some(&alice),
            json!({"agenda_id": p.agenda_id, "motive_id": p.motive_id,
                   "start": at_ten(1).timestamp().to_string()}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{online}");
    let (bob, _) = srv.account("patient", "Bob Ailleurs").await;
    let (s, taken) = srv
        .post(
            "/api/v1/appointments",
            Some(&bob),
            json!({"agenda_id": p.agenda_id, "motive_id": p.motive_id,
                   "start": dates[2].timestamp().to_string()}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{taken}");
    let before = appointments(&srv, &p.token, &p.agenda_id).await.len();

    let url = format!("/api/v1/agendas/{}/series", p.agenda_id);
    let body = |skip: Vec<String>| {
        json!({"motive_id": p.motive_id, "start": first.timestamp().to_string(), "rule": rule,
               "account_id": alice_id, "skip": skip})
    };
    let (s, refused) = srv.post(&url, Some(&p.token), body(vec![])).await;
    assert_eq!(s, StatusCode::CONFLICT, "{refused}");
    assert_eq!(
        refused["conflicts"],
        json!([{"date": dates[2].date().to_string(),
                "start": refused["conflicts"][0]["start"], "reason": "taken"}]),
        "{refused}"
    );
    assert_eq!(refused["status"], 409);
    assert_eq!(
        appointments(&srv, &p.token, &p.agenda_id).await.len(),
        before,
        "nothing was booked"
    );

    // Skipping that date books the five others in one go.
    let (s, series) = srv
        .post(
            &url,
            Some(&p.token),
            body(vec![dates[2].date().to_string()]),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{series}");
    let id = series["id"].as_str().expect("series id").to_owned();
    let booked = series["appointments"].as_array().expect("appointments");
    assert_eq!(booked.len(), 5, "{series}");
    let mut days = [first.weekday(), second.weekday()].map(|w| w.to_monday_zero_offset());
    days.sort();
    let summary = format!(
        "weekly:1:{},{}:count=6",
        WEEKDAYS[days[0] as usize], WEEKDAYS[days[1] as usize]
    );
    assert_eq!(series["rule"], summary.as_str());
    for (i, (a, date)) in booked
        .iter()
        .zip(
            dates
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != 2)
                .map(|(_, d)| d),
        )
        .enumerate()
    {
        assert_eq!(a["position"], i + 1);
        assert_eq!(a["status"], "booked");
        let start: jiff::Timestamp = a["start"].as_str().expect("start").parse().expect("ts");
        assert_eq!(start, date.timestamp(), "{a}");
    }
    assert_eq!(
        appointments(&srv, &p.token, &p.agenda_id).await.len(),
        before + 5
    );

    // One message for the series, naming every date (the online booking had its own).
    let waited = Instant::now();
    while sent_to(&channel, "alice.serie", Kind::SeriesConfirmation).is_empty()
        || sent_to(&channel, "alice.serie", Kind::BookingConfirmation).is_empty()
    {
        assert!(
            waited.elapsed() < Duration::from_secs(60),
            "the series' message never went out"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let series_mail = sent_to(&channel, "alice.serie", Kind::SeriesConfirmation);
    assert_eq!(series_mail.len(), 1, "one message, not five");
    assert_eq!(
        series_mail[0].attachments.len(),
        5,
        "one calendar file per appointment"
    );
    assert_eq!(
        sent_to(&channel, "alice.serie", Kind::BookingConfirmation).len(),
        1,
        "no confirmation per appointment"
    );

    // An occurrence's time is taken like any appointment's.
    let (s, _) = srv
        .post(
            "/api/v1/appointments",
            Some(&bob),
            json!({"agenda_id": p.agenda_id, "motive_id": p.motive_id,
                   "start": dates[0].timestamp().to_string()}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);

    // Nobody else reads or cancels it.
    let other = srv.practice("Dr Ailleurs", 30, 1).await;
    for token in [&other.token, &alice] {
        let (s, _) = srv.get(&format!("/api/v1/series/{id}"), Some(token)).await;
        assert!(
            s == StatusCode::NOT_FOUND || s == StatusCode::FORBIDDEN,
            "{s}"
        );
        let (s, _) = srv
            .call(
                Method::DELETE,
                &format!("/api/v1/series/{id}"),
                Some(token),
                None,
            )
            .await;
        assert!(
            s == StatusCode::NOT_FOUND || s == StatusCode::FORBIDDEN,
            "{s}"
        );
    }

    // "This one and all following" from the third appointment: the first two stay.
    let from = booked[2]["start"].as_str().expect("start");
    let encoded = reqwest::Url::parse_with_params("http://x/", &[("from", from)]).expect("url");
    let (s, after) = srv
        .call(
            Method::DELETE,
            &format!(
                "/api/v1/series/{id}?{}",
                encoded.query().unwrap_or_default()
            ),
            Some(&p.token),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{after}");
    assert_eq!(
        after["cancelled"].as_array().map(Vec::len),
        Some(3),
        "{after}"
    );
    let statuses: Vec<&str> = after["appointments"]
        .as_array()
        .expect("appointments")
        .iter()
        .filter_map(|a| a["status"].as_str())
        .collect();
    assert_eq!(
        statuses,
        ["booked", "booked", "cancelled", "cancelled", "cancelled"]
    );
    let (s, read) = srv
        .get(&format!("/api/v1/series/{id}"), Some(&p.token))
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(read["appointments"], after["appointments"]);
    // The whole series now: the last two booked ones go, nothing else.
    let (s, rest) = srv
        .call(
            Method::DELETE,
            &format!("/api/v1/series/{id}"),
            Some(&p.token),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{rest}");
    assert_eq!(
        rest["cancelled"].as_array().map(Vec::len),
        Some(2),
        "{rest}"
    );
    srv.stop().await;
}

async fn refusals_are_clear(backend: Backend) {
    let (srv, _loc) = start_configured(backend, AppConfig::default()).await;
    let p = srv.practice("Dr Règles", 30, 1).await;
    let (_, patient_id) = srv.account("patient", "Paul Regle").await;
    let first = at_ten(3);
    let url = format!("/api/v1/agendas/{}/series", p.agenda_id);
    let base = json!({"motive_id": p.motive_id, "start": first.timestamp().to_string(),
                      "rule": {"count": 3}, "patient_id": "no-such-entry"});
    let with = |patch: Value| {
        let mut b = base.clone();
        for (k, v) in patch.as_object().expect("object") {
            b[k] = v.clone();
        }
        b
    };
    for bad in [
        with(json!({"rule": {"count": 53}})),
        with(json!({"rule": {}})),
        with(json!({"rule": {"count": 2, "until": "2040-01-01"}})),
        with(json!({"rule": {"count": 2, "every_weeks": 5}})),
        with(json!({"rule": {"count": 2, "weekdays": ["someday"]}})),
        with(json!({"account_id": patient_id})),
        with(json!({"skip": ["tomorrow"]})),
    ] {
        let (s, body) = srv.post(&url, Some(&p.token), bad.clone()).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{bad} → {body}");
    }
    // An unknown patient, a patient token, another practice's agenda.
    let (s, _) = srv.post(&url, Some(&p.token), base.clone()).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (patient, _) = srv.account("patient", "Paula Patiente").await;
    let (s, _) = srv.post(&url, Some(&patient), base.clone()).await;
    assert!(
        s == StatusCode::FORBIDDEN || s == StatusCode::NOT_FOUND,
        "{s}"
    );
    let (s, _) = srv
        .get("/api/v1/series/no-such-series", Some(&p.token))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    srv.stop().await;
}

fn starts(series: &Value) -> Vec<jiff::Timestamp> {
    series["appointments"]
        .as_array()
        .expect("appointments")
        .iter()
        .filter_map(|a| a["start"].as_str()?.parse().ok())
        .collect()
}

/// The mails received for addresses containing `who`, each as python's `email` reads it.
fn mails_to(sink: &smtp::SmtpSink, who: &str) -> Vec<Value> {
    sink.messages()
        .iter()
        .map(|p| smtp::summary(p))
        .filter(|m| m["to"].as_str().is_some_and(|t| t.contains(who)))
        .collect()
}

async fn wait_mails(sink: &smtp::SmtpSink, who: &str, n: usize) -> Vec<Value> {
    let waited = Instant::now();
    loop {
        let got = mails_to(sink, who);
        if got.len() >= n {
            return got;
        }
        assert!(
            waited.elapsed() < Duration::from_secs(60),
            "{} mail(s) to {who}, {n} expected",
            got.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn calendar_files(mail: &Value) -> usize {
    mail["parts"]
        .as_array()
        .map(|parts| {
            parts
                .iter()
                .filter(|p| p["filename"].as_str().is_some_and(|f| f.ends_with(".ics")))
                .count()
        })
        .unwrap_or(0)
}

/// Every message due to `account` went out (reminders stay queued for later).
async fn nothing_due(app: &careslot_server::services::App, account: &str) {
    let waited = Instant::now();
    loop {
        let rows = app
            .store
            .outbox_of(&careslot_domain::AccountId(account.to_owned()))
            .await
            .expect("outbox");
        if rows.iter().all(|r| r.available_at > jiff::Timestamp::now()) {
            return;
        }
        assert!(waited.elapsed() < Duration::from_secs(60), "{rows:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn move_the_series_then_cancel_it_one_message_each(backend: Backend) {
    let sink = smtp::SmtpSink::start();
    sink.hide_sign_up_mail();
    let channel =
        careslot_messages::SmtpChannel::from_url(&sink.url(), "careslot <no-reply@careslot.test>")
            .expect("smtp channel");
    let config = AppConfig {
        messages: MessagesConfig {
            channel: Some(Arc::new(channel)),
            poll: Duration::from_millis(50),
            ..Default::default()
        },
        ..AppConfig::default()
    };
    let loc = common::new_location(backend).await;
    let custody = common::open_custody(&loc).await;
    let app = common::app_configured(&loc, custody, config).await;
    let srv = common::serve_app(app.clone()).await;
    let p = srv.practice("Dr Déplace", 30, 1).await;
    let (alice, alice_id) = srv.account("patient", "Alice Deplace").await;
    app.store
        .put_account_settings(
            &careslot_domain::AccountId(alice_id.clone()),
            &careslot_store::AccountSettings {
                lang: "en".into(),
                ..Default::default()
            },
        )
        .await
        .expect("settings");
    let (s, online) = srv
        .post(
            "/api/v1/appointments",
            Some(&alice),
            json!({"agenda_id": p.agenda_id, "motive_id": p.motive_id,
                   "start": at_ten(1).timestamp().to_string()}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{online}");
    // Weekly, three times from the day after tomorrow.
    let first = at_ten(2);
    let (s, series) = srv
        .post(
            &format!("/api/v1/agendas/{}/series", p.agenda_id),
            Some(&p.token),
            json!({"motive_id": p.motive_id, "start": first.timestamp().to_string(),
                   "rule": {"weekdays": [code(&first)], "count": 3}, "account_id": alice_id}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{series}");
    let id = series["id"].as_str().expect("series id").to_owned();
    assert_eq!(
        starts(&series),
        [2, 9, 16].map(|d| at_ten(d).timestamp()).to_vec()
    );
    wait_mails(&sink, "alice.deplace", 2).await;
    let move_url = format!("/api/v1/series/{id}/move");

    // A week later: each appointment takes the time the next one leaves.
    let (s, moved) = srv
        .post(&move_url, Some(&p.token), json!({"days": 7}))
        .await;
    assert_eq!(s, StatusCode::OK, "{moved}");
    assert_eq!(moved["moved"].as_array().map(Vec::len), Some(3), "{moved}");
    assert_eq!(
        starts(&moved),
        [9, 16, 23].map(|d| at_ten(d).timestamp()).to_vec()
    );

    // Bob takes 14:00 on the second date: moving to 14:00 moves nothing and names that date.
    let (bob, _) = srv.account("patient", "Bob Occupe").await;
    let (s, taken) = srv
        .post(
            "/api/v1/appointments",
            Some(&bob),
            json!({"agenda_id": p.agenda_id, "motive_id": p.motive_id,
                   "start": at(16, 14).timestamp().to_string()}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{taken}");
    let (s, refused) = srv
        .post(&move_url, Some(&p.token), json!({"time": "14:00"}))
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{refused}");
    assert_eq!(refused["status"], 409);
    let conflicts = refused["conflicts"].as_array().expect("conflicts");
    assert_eq!(conflicts.len(), 1, "{refused}");
    assert_eq!(conflicts[0]["date"], at(16, 14).date().to_string());
    assert_eq!(conflicts[0]["reason"], "taken");
    // After the opening hours: every date is named, nothing moves.
    let (s, closed) = srv
        .post(&move_url, Some(&p.token), json!({"time": "19:00"}))
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{closed}");
    assert_eq!(closed["conflicts"].as_array().map(Vec::len), Some(3));
    assert_eq!(closed["conflicts"][0]["reason"], "closed");
    let (s, read) = srv
        .get(&format!("/api/v1/series/{id}"), Some(&p.token))
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(starts(&read), starts(&moved), "nothing moved");
    // Nothing to move, or another practice: refused.
    let (s, _) = srv.post(&move_url, Some(&p.token), json!({})).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let (s, _) = srv
        .post(&move_url, Some(&p.token), json!({"time": "noon"}))
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let other = srv.practice("Dr Autre", 30, 1).await;
    let (s, _) = srv
        .post(&move_url, Some(&other.token), json!({"days": 1}))
        .await;
    assert!(
        s == StatusCode::NOT_FOUND || s == StatusCode::FORBIDDEN,
        "{s}"
    );

    // The move told Alice once, with the three new times, one calendar file each.
    let mails = wait_mails(&sink, "alice.deplace", 3).await;
    let moved_mail: Vec<&Value> = mails
        .iter()
        .filter(|m| {
            m["subject"]
                .as_str()
                .is_some_and(|s| s.contains("series moved"))
        })
        .collect();
    assert_eq!(moved_mail.len(), 1, "{mails:?}");
    assert_eq!(calendar_files(moved_mail[0]), 3);

    // Cancelling the whole series: one message listing the three dates.
    let (s, gone) = srv
        .call(
            Method::DELETE,
            &format!("/api/v1/series/{id}"),
            Some(&p.token),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{gone}");
    assert_eq!(gone["cancelled"].as_array().map(Vec::len), Some(3));
    wait_mails(&sink, "alice.deplace", 4).await;
    nothing_due(&app, &alice_id).await;
    let mails = mails_to(&sink, "alice.deplace");
    let cancelled: Vec<&Value> = mails
        .iter()
        .filter(|m| {
            m["subject"]
                .as_str()
                .is_some_and(|s| s.contains("series cancelled"))
        })
        .collect();
    assert_eq!(cancelled.len(), 1, "one message, not three: {mails:?}");
    assert_eq!(calendar_files(cancelled[0]), 0);
    let text = cancelled[0]["parts"]
        .as_array()
        .and_then(|p| p.iter().find(|p| p["type"] == "text/plain"))
        .and_then(|p| p["text"].as_str())
        .unwrap_or_default()
        .to_owned();
    for n in 1..=3 {
        assert!(text.contains(&format!("Appointment {n}")), "{text}");
    }
    assert_eq!(mails.len(), 4, "no message per appointment: {mails:?}");
    srv.stop().await;
}

on_both_backends!(
    book_all_or_nothing_then_cancel_following,
    refusals_are_clear,
    move_the_series_then_cancel_it_one_message_each
);
