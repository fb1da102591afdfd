//! The practice's patient directory (issue 18, point 1), over real HTTP on SQLite and
//! PostgreSQL: two phone bookings of the same person (the number written two ways) give one
//! entry holding both appointments; the start of a name (any case, accents or not), the phone
//! number and the birth date find them; another practice and a patient find nothing; a
//! patient who books online enters the directory when their confirmation goes out; the
//! practice's note is kept; and the database host holds none of the names, numbers or birth
//! dates in clear.

mod common;

use careslot_messages::RecordingChannel;
use careslot_server::outbox::MessagesConfig;
use careslot_server::services::AppConfig;
use common::host::{encodings, find, host_bytes};
use common::{start_configured, Backend, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};

const NAME: &str = "Marcel Dupré-Lafontaine";
const PHONE: &str = "06 47 21 93 58";
const BIRTH: &str = "1950-03-14";

async fn search(srv: &TestServer, token: &str, q: &str) -> (StatusCode, Vec<Value>) {
    let encoded = reqwest::Url::parse_with_params("http://x/", &[("q", q)]).expect("url");
    let url = format!(
        "/api/v1/practitioner/patients?{}",
        encoded.query().unwrap_or_default()
    );
    let (s, body) = srv.get(&url, Some(token)).await;
    let list = body["patients"].as_array().cloned().unwrap_or_default();
    (s, list)
}

fn ids(list: &[Value]) -> Vec<&str> {
    list.iter().filter_map(|p| p["id"].as_str()).collect()
}

async fn one_entry_per_person_found_every_way(backend: Backend) {
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
    let p = srv.practice("Dr Annuaire", 15, 1).await;
    let slots = srv.slots(&p).await;
    assert!(slots.len() >= 5, "{slots:?}");
    let start = |i: usize| slots[i]["start"].clone();

    // Two phone bookings of the same person: one entry, both appointments.
    let first = srv
        .desk_book(
            &p,
            &start(0),
            json!({"patient": {"name": NAME, "phone": PHONE, "birth_date": BIRTH}}),
        )
        .await;
    let entry = first["patient_id"].as_str().expect("entry").to_owned();
    let second = srv
        .desk_book(
            &p,
            &start(1),
            json!({"patient": {"name": "marcel dupre-lafontaine", "phone": "+33 6 47 21 93 58"}}),
        )
        .await;
    assert_eq!(second["patient_id"], entry.as_str(), "{second}");
    // Someone else on the same (family) number: their own entry.
    let jeanne = srv
        .desk_book(
            &p,
            &start(2),
            json!({"patient": {"name": "Jeanne Dupré-Lafontaine", "phone": PHONE}}),
        )
        .await;
    let jeanne = jeanne["patient_id"].as_str().expect("entry").to_owned();
    assert_ne!(jeanne, entry);
    // Picked from the directory by its id.
    let third = srv
        .desk_book(&p, &start(3), json!({"patient_id": entry}))
        .await;
    assert_eq!(third["patient_id"], entry.as_str());

    // Found by the start of the name (case and accents aside), the number, the birth date.
    for q in [
        "marc",
        "MARCEL",
        "dupre",
        "Dupré-Laf",
        "marcel lafon",
        "dupré marc",
    ] {
        let (s, list) = search(&srv, &p.token, q).await;
        assert_eq!(s, StatusCode::OK, "{q}");
        assert!(ids(&list).contains(&entry.as_str()), "{q}: {list:?}");
        assert!(
            !ids(&list).contains(&jeanne.as_str()) || q.to_lowercase().starts_with("dupr"),
            "{q}: {list:?}"
        );
    }
    let (_, list) = search(&srv, &p.token, "dupre").await;
    assert_eq!(list.len(), 2, "both Dupré-Lafontaine: {list:?}");
    for q in ["06 47 21 93 58", "0647219358", "+33647219358"] {
        let (_, list) = search(&srv, &p.token, q).await;
        let mut found = ids(&list);
        found.sort();
        let mut want = vec![entry.as_str(), jeanne.as_str()];
        want.sort();
        assert_eq!(found, want, "{q}");
    }
    for q in ["14/03/1950", "1950-03-14", "14.03.1950"] {
        let (_, list) = search(&srv, &p.token, q).await;
        assert_eq!(ids(&list), vec![entry.as_str()], "{q}");
    }
    assert_eq!(
        list_names(&srv, &p.token, "marcel").await,
        vec![NAME.to_owned()]
    );
    for q in ["zz", "marcelle", "0600000000", "01/01/1951"] {
        let (s, list) = search(&srv, &p.token, q).await;
        assert_eq!((s, list.len()), (StatusCode::OK, 0), "{q}");
    }
    let (s, _) = search(&srv, &p.token, "m").await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "one letter is refused");

    // The file: identity, the three appointments, the note.
    let (s, file) = srv
        .get(
            &format!("/api/v1/practitioner/patients/{entry}"),
            Some(&p.token),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{file}");
    assert_eq!(file["patient"]["name"], NAME);
    assert_eq!(file["patient"]["birth_date"], BIRTH);
    assert_eq!(file["patient"]["managed"], true);
    assert_eq!(
        file["appointments"].as_array().map(Vec::len),
        Some(3),
        "{file}"
    );
    let (s, _) = srv
        .call(
            Method::PUT,
            &format!("/api/v1/practitioner/patients/{entry}/note"),
            Some(&p.token),
            Some(json!({"note": "Préfère les rendez-vous du matin."})),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (_, file) = srv
        .get(
            &format!("/api/v1/practitioner/patients/{entry}"),
            Some(&p.token),
        )
        .await;
    assert_eq!(file["note"], "Préfère les rendez-vous du matin.");

    // A patient who books online enters the directory once their confirmation is sent.
    let (patient, _) = srv.account("patient", "Hélène Enligne").await;
    let (s, booked) = srv
        .post(
            "/api/v1/appointments",
            Some(&patient),
            json!({"agenda_id": p.agenda_id, "motive_id": p.motive_id, "start": start(4)}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{booked}");
    let waited = Instant::now();
    let online = loop {
        let (_, list) = search(&srv, &p.token, "helene").await;
        if let Some(found) = list.first() {
            break found.clone();
        }
        assert!(
            waited.elapsed() < Duration::from_secs(60),
            "the online patient never entered the directory"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(online["name"], "Hélène Enligne");
    assert_eq!(online["managed"], false);
    assert!(!channel.sent().is_empty(), "the confirmation went out");

    // Nobody else sees the directory: another practice, a patient.
    let other = srv.practice("Dr Ailleurs", 15, 1).await;
    let (s, list) = search(&srv, &other.token, "marc").await;
    assert_eq!((s, list.len()), (StatusCode::OK, 0));
    let (s, _) = srv
        .get(
            &format!("/api/v1/practitioner/patients/{entry}"),
            Some(&other.token),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = desk_book_status(
        &srv,
        &other,
        &srv.slots(&other).await[0]["start"],
        json!({"patient_id": entry}),
    )
    .await;
    assert_eq!(
        s,
        StatusCode::NOT_FOUND,
        "another practice cannot book this entry"
    );
    let (s, _) = search(&srv, &patient, "marc").await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    // The database host holds none of it in clear.
    let bytes = host_bytes(&loc);
    for value in [
        NAME,
        "Dupré-Lafontaine",
        "0647219358",
        BIRTH,
        "Préfère les rendez-vous",
    ] {
        for (form, needle) in encodings(value) {
            assert!(!find(&bytes, &needle), "{value} found in clear ({form})");
        }
    }
    srv.stop().await;
}

async fn desk_book_status(
    srv: &TestServer,
    p: &common::Practice,
    start: &Value,
    patient: Value,
) -> (StatusCode, Value) {
    let mut body = json!({"agenda_id": p.agenda_id, "motive_id": p.motive_id, "start": start});
    body.as_object_mut()
        .expect("object")
        .extend(patient.as_object().expect("object").clone());
    srv.post("/api/v1/practitioner/appointments", Some(&p.token), body)
        .await
}

async fn list_names(srv: &TestServer, token: &str, q: &str) -> Vec<String> {
    let (_, list) = search(srv, token, q).await;
    list.iter()
        .filter_map(|p| p["name"].as_str().map(str::to_owned))
        .collect()
}

async fn refusals_are_clear(backend: Backend) {
    let (srv, _loc) = start_configured(backend, AppConfig::default()).await;
    let p = srv.practice("Dr Refus", 15, 1).await;
    let slots = srv.slots(&p).await;
    for (patient, field) in [
        (json!({}), "patient"),
        (
            json!({"patient_id": "x", "patient": {"name": "A B", "phone": PHONE}}),
            "patient",
        ),
        (
            json!({"patient": {"name": "A B", "phone": "call me"}}),
            "patient_phone",
        ),
        (
            json!({"patient": {"name": "A B", "phone": PHONE, "birth_date": "2999-01-01"}}),
            "patient_birth_date",
        ),
    ] {
        let (s, body) = desk_book_status(&srv, &p, &slots[0]["start"], patient).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert!(
            body["detail"].as_str().unwrap_or("").contains(field),
            "{body}"
        );
    }
    let (s, body) = desk_book_status(
        &srv,
        &p,
        &slots[0]["start"],
        json!({"patient_id": "no-such-entry"}),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{body}");
    let (s, _) = srv
        .get(
            "/api/v1/practitioner/patients/no-such-entry",
            Some(&p.token),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let long = "x".repeat(4001);
    let booked = srv
        .desk_book(
            &p,
            &slots[1]["start"],
            json!({"patient": {"name": "Anna Long", "phone": PHONE}}),
        )
        .await;
    let entry = booked["patient_id"].as_str().expect("entry");
    let (s, _) = srv
        .call(
            Method::PUT,
            &format!("/api/v1/practitioner/patients/{entry}/note"),
            Some(&p.token),
            Some(json!({"note": long})),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    srv.stop().await;
}

on_both_backends!(one_entry_per_person_found_every_way, refusals_are_clear);
