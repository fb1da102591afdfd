//! What the desk does, through the API (issue 18, points 1 and 8), over real HTTP on SQLite
//! and PostgreSQL:
//! - merging a patient recorded twice: the duplicate's appointments (a cancelled one too)
//!   move to the kept record with the notes joined, the practice-made duplicate is erased, a
//!   patient's own account is always the one kept, two own accounts are refused, and nobody
//!   outside the practice can merge;
//! - the grid's move and resize, refused where the time is not free;
//! - the settings' motive edit and removals of opening rules and absences; the team.

mod common;

use careslot_domain::AccountId;
use careslot_messages::RecordingChannel;
use careslot_server::outbox::MessagesConfig;
use careslot_server::services::AppConfig;
use common::{open_store, start_configured, Backend, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};

async fn file(srv: &TestServer, token: &str, entry: &str) -> (StatusCode, Value) {
    srv.get(
        &format!("/api/v1/practitioner/patients/{entry}"),
        Some(token),
    )
    .await
}

async fn set_note(srv: &TestServer, token: &str, entry: &str, note: &str) {
    let (s, body) = srv
        .call(
            Method::PUT,
            &format!("/api/v1/practitioner/patients/{entry}/note"),
            Some(token),
            Some(json!({ "note": note })),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{body}");
}

async fn merge(srv: &TestServer, token: &str, into: &str, dup: &str) -> (StatusCode, Value) {
    srv.post(
        &format!("/api/v1/practitioner/patients/{into}/merge"),
        Some(token),
        json!({ "duplicate": dup }),
    )
    .await
}

async fn duplicates_become_one(backend: Backend) {
    let channel = RecordingChannel::new();
    let config = AppConfig {
        messages: MessagesConfig {
            channel: Some(Arc::new(channel.clone())),
            poll: Duration::from_millis(50),
            ..Default::default()
        },
        ..AppConfig::default()
    };
    let (srv, loc) = start_configured(backend, config).await;
    let p = srv.practice("Dr Fusion", 15, 1).await;
    let slots = srv.slots(&p).await;
    assert!(slots.len() >= 6, "{slots:?}");
    let start = |i: usize| slots[i]["start"].clone();

    // Marcel, booked once from his mobile and twice from his landline: two records.
    let first = srv.desk_book(&p,
        &start(0),
        json!({"patient": {"name": "Marcel Fusion", "phone": "06 11 22 33 44", "birth_date": "1948-07-02"}}),
    )
    .await;
    let kept = first["patient_id"].as_str().expect("entry").to_owned();
    let second = srv
        .desk_book(
            &p,
            &start(1),
            json!({"patient": {"name": "Marcel Fusion", "phone": "01 44 55 66 77"}}),
        )
        .await;
    let dup = second["patient_id"].as_str().expect("entry").to_owned();
    assert_ne!(kept, dup, "another number: another record");
    let third = srv
        .desk_book(&p, &start(2), json!({"patient_id": dup}))
        .await;
    let (s, body) = srv
        .post(
            &format!(
                "/api/v1/practice/appointments/{}/cancel",
                third["id"].as_str().expect("id")
            ),
            Some(&p.token),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    set_note(&srv, &p.token, &kept, "Allergique à la pénicilline.").await;
    set_note(&srv, &p.token, &dup, "Préfère le matin.").await;
    let (_, dup_file) = file(&srv, &p.token, &dup).await;
    let dup_account = dup_file["patient"]["account_id"]
        .as_str()
        .expect("account")
        .to_owned();

    // Refusals first: itself, another practice, a patient, an unknown entry.
    let (s, body) = merge(&srv, &p.token, &kept, &kept).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let other = srv.practice("Dr Ailleurs", 15, 1).await;
    let (s, _) = merge(&srv, &other.token, &kept, &dup).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (patient, _) = srv.account("patient", "Zoé Patiente").await;
    let (s, _) = merge(&srv, &patient, &kept, &dup).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = merge(&srv, &p.token, &kept, "no-such-entry").await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    let (s, merged) = merge(&srv, &p.token, &kept, &dup).await;
    assert_eq!(s, StatusCode::OK, "{merged}");
    assert_eq!(merged["patient"]["id"], kept.as_str());
    assert_eq!(merged["moved_appointments"], 2, "the cancelled one too");
    let (s, kept_file) = file(&srv, &p.token, &kept).await;
    assert_eq!(s, StatusCode::OK);
    let appointments = kept_file["appointments"].as_array().expect("list");
    let ids: Vec<&str> = appointments
        .iter()
        .filter_map(|a| a["id"].as_str())
        .collect();
    for a in [&first, &second] {
        assert!(ids.contains(&a["id"].as_str().expect("id")), "{kept_file}");
    }
    assert_eq!(
        kept_file["note"],
        "Allergique à la pénicilline.\n\nPréfère le matin."
    );
    // The duplicate is gone from the directory, and its account erased.
    let (s, _) = file(&srv, &p.token, &dup).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = merge(&srv, &p.token, &kept, &dup).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "merged once");
    let store = open_store(&loc).await;
    assert_eq!(
        store.account(&AccountId(dup_account)).await.expect("read"),
        None
    );

    // A patient's own account is kept, whichever side the desk started from.
    let (online, _) = srv.account("patient", "Hélène Fusion").await;
    let (s, booked) = srv
        .post(
            "/api/v1/appointments",
            Some(&online),
            json!({"agenda_id": p.agenda_id, "motive_id": p.motive_id, "start": start(4)}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{booked}");
    let own = wait_for_entry(&srv, &p.token, "helene").await;
    let phone = srv
        .desk_book(
            &p,
            &start(5),
            json!({"patient": {"name": "Hélène Fusion", "phone": "06 99 88 77 66"}}),
        )
        .await;
    let phone_entry = phone["patient_id"].as_str().expect("entry").to_owned();
    let (s, merged) = merge(&srv, &p.token, &phone_entry, &own).await;
    assert_eq!(s, StatusCode::OK, "{merged}");
    assert_eq!(merged["patient"]["id"], own.as_str(), "{merged}");
    assert_eq!(merged["patient"]["managed"], false);
    assert_eq!(merged["moved_appointments"], 1);
    let (_, own_file) = file(&srv, &p.token, &own).await;
    assert_eq!(own_file["appointments"].as_array().map(Vec::len), Some(2));
    // The patient sees the appointment the desk booked among their own.
    let (s, mine) = srv.get("/api/v1/appointments", Some(&online)).await;
    assert_eq!(s, StatusCode::OK, "{mine}");
    let text = mine.to_string();
    assert!(
        text.contains(phone["id"].as_str().expect("id")),
        "the desk's booking is the patient's now: {mine}"
    );

    // Two patients' own accounts are two sign-ins: refused.
    let (other_online, _) = srv.account("patient", "Hélène Seconde").await;
    let (s, _) = srv
        .post(
            "/api/v1/appointments",
            Some(&other_online),
            json!({"agenda_id": p.agenda_id, "motive_id": p.motive_id, "start": start(3)}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let second_own = wait_for_entry(&srv, &p.token, "seconde").await;
    let (s, body) = merge(&srv, &p.token, &own, &second_own).await;
    assert_eq!(s, StatusCode::CONFLICT, "{body}");
    assert_eq!(
        body["type"].as_str().map(|t| t.ends_with("own-accounts")),
        Some(true),
        "{body}"
    );
    srv.stop().await;
}

/// The directory entry of the only patient `q` finds, once their confirmation filed them.
async fn wait_for_entry(srv: &TestServer, token: &str, q: &str) -> String {
    let waited = Instant::now();
    loop {
        let (_, body) = srv
            .get(&format!("/api/v1/practitioner/patients?q={q}"), Some(token))
            .await;
        if let Some(id) = body["patients"][0]["id"].as_str() {
            return id.to_owned();
        }
        assert!(
            waited.elapsed() < Duration::from_secs(60),
            "{q}: never entered the directory"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The slots of the first whole day offered (opening at 08:00, so they follow each other),
/// whatever the hour the test runs at.
fn whole_day(slots: Vec<Value>) -> Vec<Value> {
    let day = |v: &Value| v["start"].as_str().unwrap_or_default()[..10].to_owned();
    let first = slots.first().map(day).unwrap_or_default();
    let later: Vec<Value> = slots.iter().filter(|v| day(v) != first).cloned().collect();
    let next = later.first().map(day).unwrap_or_default();
    later.into_iter().filter(|v| day(v) == next).collect()
}

async fn the_desk_moves_and_resizes(backend: Backend) {
    let (srv, _loc) = start_configured(backend, AppConfig::default()).await;
    let p = srv.practice("Dr Grille", 15, 1).await;
    let slots = whole_day(srv.slots(&p).await);
    assert!(slots.len() >= 6, "{slots:?}");
    let booked = srv
        .desk_book(
            &p,
            &slots[0]["start"],
            json!({"patient": {"name": "Anne Grille", "phone": "06 12 12 12 12"}}),
        )
        .await;
    let id = booked["id"].as_str().expect("id");
    let blocker = srv
        .desk_book(
            &p,
            &slots[5]["start"],
            json!({"patient": {"name": "Bob Grille", "phone": "06 13 13 13 13"}}),
        )
        .await;

    let (s, moved) = srv
        .post(
            &format!("/api/v1/practice/appointments/{id}/move"),
            Some(&p.token),
            json!({"start": slots[3]["start"]}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{moved}");
    assert_eq!(moved["start"], slots[3]["start"]);
    // Onto another appointment: 409, and it stays.
    let (s, body) = srv
        .post(
            &format!("/api/v1/practice/appointments/{id}/move"),
            Some(&p.token),
            json!({"start": blocker["start"]}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{body}");

    let length = |minutes: i64| json!({ "minutes": minutes });
    let path = format!("/api/v1/practice/appointments/{id}/length");
    let (s, longer) = srv
        .call(Method::PUT, &path, Some(&p.token), Some(length(30)))
        .await;
    assert_eq!(s, StatusCode::OK, "{longer}");
    assert_eq!(longer["start"], slots[3]["start"]);
    let at = |v: &Value| {
        v.as_str()
            .and_then(|s| s.parse::<jiff::Timestamp>().ok())
            .expect("an RFC 3339 time")
            .as_second()
            / 60
    };
    assert_eq!(at(&longer["end"]) - at(&longer["start"]), 30);
    // Into the other appointment: refused by the database's overlap rule.
    let into_blocker = at(&blocker["start"]) - at(&longer["start"]) + 15;
    let (s, body) = srv
        .call(
            Method::PUT,
            &path,
            Some(&p.token),
            Some(length(into_blocker)),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{body}");
    for bad in [7, 0, 600] {
        let (s, _) = srv
            .call(Method::PUT, &path, Some(&p.token), Some(length(bad)))
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
    }
    // Not the practice's: another practice gets 404, a patient 403.
    let other = srv.practice("Dr Ailleurs", 15, 1).await;
    let (s, _) = srv
        .call(Method::PUT, &path, Some(&other.token), Some(length(20)))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (patient, _) = srv.account("patient", "Zoé Patiente").await;
    let (s, _) = srv
        .post(
            &format!("/api/v1/practice/appointments/{id}/move"),
            Some(&patient),
            json!({"start": slots[4]["start"]}),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    srv.stop().await;
}

async fn settings_and_team(backend: Backend) {
    let (srv, _loc) = start_configured(backend, AppConfig::default()).await;
    let p = srv.practice("Dr Réglages", 15, 1).await;
    let t = Some(p.token.as_str());
    let motive = format!("/api/v1/agendas/{}/motives/{}", p.agenda_id, p.motive_id);
    let (s, edited) = srv
        .call(
            Method::PUT,
            &motive,
            t,
            Some(json!({"name": "Suivi", "duration_min": 30, "labels": {"de": "Kontrolle"}})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{edited}");
    assert_eq!(
        (edited["name"].as_str(), edited["duration_min"].as_i64()),
        (Some("Suivi"), Some(30))
    );
    let slot = srv.slots(&p).await[0].clone();
    let minutes = |k: &str| {
        slot[k]
            .as_str()
            .and_then(|s| s.parse::<jiff::Timestamp>().ok())
            .expect("time")
            .as_second()
            / 60
    };
    assert_eq!(minutes("end") - minutes("start"), 30, "{slot}");
    let (s, _) = srv
        .call(
            Method::PUT,
            &motive,
            t,
            Some(json!({"name": "Suivi", "labels": {"xx": "?"}})),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let other = srv.practice("Dr Ailleurs", 15, 1).await;
    let (s, _) = srv
        .call(
            Method::PUT,
            &motive,
            Some(&other.token),
            Some(json!({"name": "x"})),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // An absence and an opening rule removed again.
    let (s, absence) = srv
        .post(
            &format!("/api/v1/agendas/{}/absences", p.agenda_id),
            t,
            json!({"start": "2030-01-07T08:00:00+01:00", "end": "2030-01-07T12:00:00+01:00", "reason": "Formation"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{absence}");
    let path = format!(
        "/api/v1/agendas/{}/absences/{}",
        p.agenda_id,
        absence["id"].as_str().expect("id")
    );
    let (s, _) = srv
        .call(Method::DELETE, &path, Some(&other.token), None)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "not another practice's");
    let (s, _) = srv.call(Method::DELETE, &path, t, None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = srv.call(Method::DELETE, &path, t, None).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "gone");
    let (s, rule) = srv
        .post(
            &format!("/api/v1/agendas/{}/opening-rules", p.agenda_id),
            t,
            json!({"weekdays": [6], "start": "19:00", "end": "20:00", "motive_ids": [p.motive_id]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{rule}");
    let path = format!(
        "/api/v1/agendas/{}/opening-rules/{}",
        p.agenda_id,
        rule["id"].as_str().expect("id")
    );
    let (s, _) = srv.call(Method::DELETE, &path, t, None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = srv.call(Method::DELETE, &path, t, None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // The team: an invitation (a link to pass on, or mailed), the list, a removal.
    let (s, team) = srv.get("/api/v1/practice/team", t).await;
    assert_eq!(
        (s, team["assistants"].as_array().map(Vec::len)),
        (StatusCode::OK, Some(0))
    );
    let (s, inv) = srv
        .post("/api/v1/practice/team/invitations", t, json!({}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{inv}");
    assert_eq!(inv["mailed"], false);
    assert!(
        inv["token"].as_str().is_some_and(|t| t.len() >= 20),
        "{inv}"
    );
    let (s, inv) = srv
        .post(
            "/api/v1/practice/team/invitations",
            t,
            json!({"email": "anne@example.test"}),
        )
        .await;
    assert_eq!(
        (s, &inv["mailed"]),
        (StatusCode::CREATED, &json!(true)),
        "{inv}"
    );
    let (s, _) = srv
        .post(
            "/api/v1/practice/team/invitations",
            t,
            json!({"email": "not an address"}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let (s, _) = srv
        .call(
            Method::DELETE,
            "/api/v1/practice/team/no-such-assistant",
            t,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (patient, _) = srv.account("patient", "Zoé Patiente").await;
    let (s, _) = srv.get("/api/v1/practice/team", Some(&patient)).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    srv.stop().await;
}

on_both_backends!(
    duplicates_become_one,
    the_desk_moves_and_resizes,
    settings_and_team
);
