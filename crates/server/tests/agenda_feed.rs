//! Agenda feeds (issue 18 point 6), over real HTTP on SQLite and PostgreSQL, every file read
//! by python's `icalendar`: a practice makes a private URL for its agenda; booking, moving
//! and cancelling through the API show in the feed (same UID at the new time, the
//! cancellation as `STATUS:CANCELLED`); the motive only, until the practice turns names on
//! (then the patient's name, recorded in the patient's access log); rotation and revocation
//! make the old URL answer 404; nobody else manages the agenda's feed.

mod common;

use common::{start, Backend, Practice, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// The events of a calendar as python's `icalendar` reads them.
fn parse(ics: &str) -> Vec<Value> {
    common::ics::parse_events(ics)
}

/// GET without credentials: (status, content type, cache-control, body).
async fn fetch(srv: &TestServer, url: &str) -> (StatusCode, String, String, String) {
    let resp = srv.client.get(url).send().await.unwrap();
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    let (ct, cc) = (header("content-type"), header("cache-control"));
    (resp.status(), ct, cc, resp.text().await.unwrap())
}

/// The feed's events, after checking the answer's headers and RFC 5545 shape.
async fn events(srv: &TestServer, url: &str) -> (String, Vec<Value>) {
    let (s, ct, cc, ics) = fetch(srv, url).await;
    assert_eq!(s, StatusCode::OK, "{ics}");
    assert!(ct.starts_with("text/calendar"), "{ct}");
    assert!(cc.contains("no-store"), "{cc}");
    assert!(ics.ends_with("\r\n"));
    assert!(
        !ics.replace("\r\n", "").contains(['\r', '\n']),
        "bare CR/LF"
    );
    for line in ics.split("\r\n") {
        assert!(line.len() <= 75, "folded: {line}");
    }
    let evs = parse(&ics);
    (ics, evs)
}

fn event<'a>(events: &'a [Value], appointment: &Value) -> &'a Value {
    let id = appointment["id"].as_str().unwrap();
    events
        .iter()
        .find(|e| {
            e["uid"]
                .as_str()
                .unwrap()
                .starts_with(&format!("agenda-{id}@"))
        })
        .unwrap_or_else(|| panic!("{id} not in {events:?}"))
}

fn epoch(v: &Value) -> i64 {
    v.as_str()
        .unwrap()
        .parse::<jiff::Timestamp>()
        .unwrap()
        .as_second()
}

async fn book(srv: &TestServer, p: &Practice, patient: &str, nth: usize) -> Value {
    let slots = srv.slots(p).await;
    let (s, a) = srv
        .post(
            "/api/v1/appointments",
            Some(patient),
            json!({"agenda_id": p.agenda_id, "motive_id": p.motive_id, "start": slots[nth]["start"]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{a}");
    a
}

async fn agenda_feed(backend: Backend) {
    let (srv, _loc) = start(backend).await;
    let p = srv.practice("Dr Agenda Flux", 20, 1).await;
    let (patient, patient_id) = srv.account("patient", "Léa Discrète").await;
    let moved = book(&srv, &p, &patient, 0).await;
    let cancelled = book(&srv, &p, &patient, 3).await;
    let path = format!("/api/v1/agendas/{}/feed", p.agenda_id);
    let t = Some(p.token.as_str());

    // None until the practice makes one.
    let (s, body) = srv.get(&path, t).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{body}");
    let (s, feed) = srv.post(&path, t, json!({})).await;
    assert_eq!(s, StatusCode::CREATED, "{feed}");
    let url = feed["url"].as_str().unwrap().to_owned();
    assert!(
        url.starts_with(&format!("{}/api/v1/agenda-feeds/", srv.base)) && url.ends_with(".ics"),
        "{url}"
    );
    let token = url.rsplit('/').next().unwrap().trim_end_matches(".ics");
    assert_eq!(token.len(), 64, "{url}");
    assert!(feed["webcal_url"]
        .as_str()
        .unwrap()
        .starts_with("webcal://"));
    assert_eq!(feed["show_patient_names"], false);
    assert_eq!(feed["days_back"], 7);
    assert_eq!(feed["days_ahead"], 92);
    let (s, again) = srv.get(&path, t).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(again["url"], feed["url"]);

    // The URL alone opens it (with or without `.ics`): the motive, no patient name.
    let (ics, evs) = events(&srv, &url).await;
    assert_eq!(evs.len(), 2, "{evs:?}");
    assert!(!ics.contains("Léa") && !ics.contains("Discrète"), "{ics}");
    for e in &evs {
        assert_eq!(e["summary"], "Consultation");
        assert_eq!(e["status"], "CONFIRMED");
        assert_eq!(e["alarms"], 0);
    }
    let before = event(&evs, &moved).clone();
    assert_eq!(before["start"], epoch(&moved["start"]));
    let (_, bare) = events(&srv, url.trim_end_matches(".ics")).await;
    assert_eq!(bare.len(), 2);

    // Moved and cancelled through the API: same UID at the new time, the other cancelled.
    let slots = srv.slots(&p).await;
    let new_start = slots[6]["start"].clone();
    let (s, body) = srv
        .post(
            &format!(
                "/api/v1/appointments/{}/move",
                moved["id"].as_str().unwrap()
            ),
            Some(&patient),
            json!({"start": new_start}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let (s, body) = srv
        .post(
            &format!(
                "/api/v1/appointments/{}/cancel",
                cancelled["id"].as_str().unwrap()
            ),
            Some(&patient),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let (_, evs) = events(&srv, &url).await;
    assert_eq!(evs.len(), 2, "{evs:?}");
    let after = event(&evs, &moved);
    assert_eq!(after["uid"], before["uid"]);
    assert_eq!(after["start"], epoch(&new_start));
    assert_ne!(after["start"], before["start"]);
    assert!(after["sequence"].as_i64() >= before["sequence"].as_i64());
    assert_eq!(after["status"], "CONFIRMED");
    assert_eq!(event(&evs, &cancelled)["status"], "CANCELLED");

    // Names on: the patient's name beside the motive, and the read in their access log.
    let (s, changed) = srv
        .call(
            Method::PATCH,
            &path,
            t,
            Some(json!({"show_patient_names": true})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{changed}");
    assert_eq!(changed["url"], feed["url"]);
    assert_eq!(changed["show_patient_names"], true);
    let (_, evs) = events(&srv, &url).await;
    let summary = event(&evs, &moved)["summary"].as_str().unwrap().to_owned();
    assert!(
        summary.contains("Léa Discrète") && summary.contains("Consultation"),
        "{summary}"
    );
    let (s, log) = srv.get("/api/v1/me/access-log", Some(&patient)).await;
    assert_eq!(s, StatusCode::OK, "{log}");
    assert!(
        log["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["what"] == "agenda.feed"),
        "{log} ({patient_id})"
    );
    // And off again.
    let (s, _) = srv
        .call(
            Method::PATCH,
            &path,
            t,
            Some(json!({"show_patient_names": false})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (ics, _) = events(&srv, &url).await;
    assert!(!ics.contains("Léa"), "{ics}");

    // Nobody else manages it: another practitioner gets 404, a patient 403; nothing changed.
    let other = srv.practice("Dr Voisin", 20, 1).await;
    let o = Some(other.token.as_str());
    let (s, _) = srv.get(&path, o).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = srv.post(&path, o, json!({})).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = srv
        .call(
            Method::PATCH,
            &path,
            o,
            Some(json!({"show_patient_names": true})),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = srv.call(Method::DELETE, &path, o, None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = srv.get(&path, Some(&patient)).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = srv.get(&path, None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, same) = srv.get(&path, t).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(same["url"], feed["url"]);

    // Rotation: a new URL, the names setting kept; the old URL answers 404 at once.
    srv.call(
        Method::PATCH,
        &path,
        t,
        Some(json!({"show_patient_names": true})),
    )
    .await;
    let (s, rotated) = srv.post(&path, t, json!({})).await;
    assert_eq!(s, StatusCode::CREATED, "{rotated}");
    assert_ne!(rotated["url"], feed["url"]);
    assert_eq!(rotated["show_patient_names"], true);
    let (s, _, _, _) = fetch(&srv, &url).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let new_url = rotated["url"].as_str().unwrap().to_owned();
    let (_, evs) = events(&srv, &new_url).await;
    assert_eq!(evs.len(), 2);

    // Revoked: 404 for the URL, for the read and for a second revocation.
    let (s, _) = srv.call(Method::DELETE, &path, t, None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _, _, body) = fetch(&srv, &new_url).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{body}");
    let (s, _) = srv.get(&path, t).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = srv.call(Method::DELETE, &path, t, None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = srv
        .call(
            Method::PATCH,
            &path,
            t,
            Some(json!({"show_patient_names": false})),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // Made-up tokens open nothing.
    for made_up in [
        "0".repeat(64),
        format!("{}.ics", "f".repeat(64)),
        "x.ics".into(),
    ] {
        let (s, _, _, _) =
            fetch(&srv, &format!("{}/api/v1/agenda-feeds/{made_up}", srv.base)).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{made_up}");
    }

    // Documented.
    let (_, doc) = srv.get("/api/v1/openapi.json", None).await;
    for method in ["get", "post", "patch", "delete"] {
        assert!(
            doc["paths"]["/api/v1/agendas/{agenda_id}/feed"][method].is_object(),
            "{method}"
        );
    }
    assert!(doc["paths"]["/api/v1/agenda-feeds/{token}"]["get"].is_object());
    srv.stop().await;
}

on_both_backends!(agenda_feed);
