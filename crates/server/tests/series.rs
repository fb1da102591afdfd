//! Recurring care through the API (issue 18, point 5), over real HTTP on SQLite and
//! PostgreSQL: a series with one date already taken books nothing and the 409 names that
//! date; skipping it books the rest in one go and the patient gets one message; the series
//! reads back with its positions; another booking cannot take an occurrence's time;
//! cancelling "this one and all following" leaves the earlier ones booked; other practices
//! and patients see nothing of it; malformed rules are refused.

mod common;

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
    let today = jiff::Timestamp::now()
        .in_tz("Europe/Paris")
        .expect("tz")
        .date();
    today
        .checked_add(jiff::Span::new().days(days))
        .expect("date")
        .at(10, 0, 0, 0)
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

on_both_backends!(
    book_all_or_nothing_then_cancel_following,
    refusals_are_clear
);
