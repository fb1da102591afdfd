//! iCalendar over the API (issue 19, point 4), on SQLite and PostgreSQL, every file read by
//! python's `icalendar`: a motive name with control characters is refused at input (422);
//! an appointment's `.ics` with a bearer token (and only for its patient); the private
//! subscription feed of upcoming appointments, the same URL until revoked, without the visit
//! reason unless the patient opted in, and 404 once revoked.

mod common;

use common::{start, Backend, Practice, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// The events of a calendar as python's `icalendar` reads them.
fn parse(ics: &str) -> Vec<Value> {
    common::ics::parse_events(ics)
}

/// RFC 5545's shape, checked on the raw text: CRLF only, lines of at most 75 octets, no
/// control character but in the line ends.
fn assert_rfc5545(ics: &str) {
    assert!(ics.ends_with("\r\n"), "{ics}");
    assert!(
        !ics.replace("\r\n", "").contains(['\r', '\n']),
        "bare CR/LF"
    );
    for line in ics.split("\r\n") {
        assert!(line.len() <= 75, "folded: {line}");
        assert!(
            !line.chars().any(|c| c.is_control() && c != '\t'),
            "control character: {line:?}"
        );
    }
}

/// GET returning (status, content type, body text).
async fn get_text(
    srv: &TestServer,
    url: &str,
    token: Option<&str>,
) -> (StatusCode, String, String) {
    let mut req = srv.client.get(url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.unwrap();
    let ct = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    (resp.status(), ct, resp.text().await.unwrap())
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

async fn motive_names_are_checked(backend: Backend) {
    let (srv, _loc) = start(backend).await;
    let p = srv.practice("Dr Calendrier", 20, 1).await;
    let path = format!("/api/v1/agendas/{}/motives", p.agenda_id);
    for bad in [
        "Vaccin\u{7}",
        "Suivi\u{b}post-op",
        "Ligne 1\nLigne 2",
        "\u{1b}[31mRouge",
    ] {
        let (s, body) = srv
            .post(
                &path,
                Some(&p.token),
                json!({"name": bad, "duration_min": 15}),
            )
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{bad:?}: {body}");
        assert!(body["detail"].as_str().unwrap().contains("name"), "{body}");
    }
    let (s, _) = srv
        .post(
            &path,
            Some(&p.token),
            json!({"name": "Suivi, bilan; contrôle \\ 2", "duration_min": 15}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    srv.stop().await;
}

async fn appointment_ics_with_a_bearer_token(backend: Backend) {
    let (srv, _loc) = start(backend).await;
    let p = srv.practice("Dr Zoé Martin, cabinet; étage 2", 20, 1).await;
    let (patient, _) = srv.account("patient", "Léa Patient").await;
    let (other, _) = srv.account("patient", "Autre Patient").await;
    let a = book(&srv, &p, &patient, 0).await;
    let id = a["id"].as_str().unwrap();
    let url = format!("{}/api/v1/appointments/{id}/ics", srv.base);

    let (s, ct, ics) = get_text(&srv, &url, Some(&patient)).await;
    assert_eq!(s, StatusCode::OK, "{ics}");
    assert!(ct.starts_with("text/calendar"), "{ct}");
    assert_rfc5545(&ics);
    let events = parse(&ics);
    assert_eq!(events.len(), 1);
    let ev = &events[0];
    assert!(
        ev["uid"].as_str().unwrap().starts_with(&format!("{id}@")),
        "{ev}"
    );
    let start: jiff::Timestamp = a["start"].as_str().unwrap().parse().unwrap();
    assert_eq!(ev["start"], start.as_second());
    assert_eq!(ev["status"], "CONFIRMED");
    // The practitioner's name as typed (escaped on the wire, whole once parsed); no motive.
    assert!(
        ev["summary"]
            .as_str()
            .unwrap()
            .contains("Dr Zoé Martin, cabinet; étage 2"),
        "{ev}"
    );
    assert!(
        !ev["summary"].as_str().unwrap().contains("Consultation"),
        "{ev}"
    );

    // Only its patient: another patient, a practitioner and nobody get no file.
    let (s, _, _) = get_text(&srv, &url, Some(&other)).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, body) = srv
        .get(&format!("/api/v1/appointments/{id}/ics"), Some(&p.token))
        .await;
    assert!(
        matches!(s, StatusCode::FORBIDDEN | StatusCode::NOT_FOUND),
        "{s} {body}"
    );
    let (s, _) = srv
        .get(&format!("/api/v1/appointments/{id}/ics"), None)
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _) = srv
        .get("/api/v1/appointments/nope/ics", Some(&patient))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // Cancelled: the file says so, for calendars that hold the event.
    let (s, _) = srv
        .post(
            &format!("/api/v1/appointments/{id}/cancel"),
            Some(&patient),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (_, _, ics) = get_text(&srv, &url, Some(&patient)).await;
    assert_eq!(parse(&ics)[0]["status"], "CANCELLED");

    // Documented.
    let (_, doc) = srv.get("/api/v1/openapi.json", None).await;
    assert!(doc["paths"]["/api/v1/appointments/{id}/ics"]["get"].is_object());
    srv.stop().await;
}

async fn subscription_feed(backend: Backend) {
    let (srv, _loc) = start(backend).await;
    let p = srv.practice("Dr Flux", 20, 1).await;
    let (patient, _) = srv.account("patient", "Léa Abonnée").await;
    let first = book(&srv, &p, &patient, 0).await;
    let second = book(&srv, &p, &patient, 3).await;
    let cancelled = book(&srv, &p, &patient, 6).await;
    let (s, _) = srv
        .post(
            &format!(
                "/api/v1/appointments/{}/cancel",
                cancelled["id"].as_str().unwrap()
            ),
            Some(&patient),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);

    // Made on the first ask, the same at the next.
    let (s, feed) = srv.get("/api/v1/me/calendar-feed", Some(&patient)).await;
    assert_eq!(s, StatusCode::OK, "{feed}");
    let (s, again) = srv.get("/api/v1/me/calendar-feed", Some(&patient)).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(again["url"], feed["url"]);
    let url = feed["url"].as_str().unwrap().to_owned();
    assert!(
        url.starts_with(&format!("{}/api/v1/calendar-feeds/", srv.base)),
        "{url}"
    );
    assert!(
        feed["webcal_url"]
            .as_str()
            .unwrap()
            .starts_with("webcal://"),
        "{feed}"
    );
    // The URL carries no account id, no name: only the token.
    let token = url.rsplit('/').next().unwrap();
    assert_eq!(token.len(), 64, "{url}");

    // No credentials but the URL: the two upcoming appointments, not the cancelled one, and
    // no visit reason (the patient did not opt in).
    let (s, ct, ics) = get_text(&srv, &url, None).await;
    assert_eq!(s, StatusCode::OK, "{ics}");
    assert!(ct.starts_with("text/calendar"), "{ct}");
    assert_rfc5545(&ics);
    assert!(
        !ics.contains("Consultation"),
        "no motive in the feed:\n{ics}"
    );
    let events = parse(&ics);
    let uids: Vec<&str> = events.iter().map(|e| e["uid"].as_str().unwrap()).collect();
    assert_eq!(events.len(), 2, "{uids:?}");
    for a in [&first, &second] {
        let id = a["id"].as_str().unwrap();
        assert!(
            uids.iter().any(|u| u.starts_with(&format!("{id}@"))),
            "{id}: {uids:?}"
        );
    }

    // Opted in: the visit reason appears.
    let (s, body) = srv
        .call(
            Method::PATCH,
            "/api/v1/me",
            Some(&patient),
            Some(json!({"show_motive": true})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let (_, _, ics) = get_text(&srv, &url, None).await;
    let events = parse(&ics);
    assert!(
        events
            .iter()
            .all(|e| e["summary"].as_str().unwrap().contains("Consultation")),
        "{events:?}"
    );

    // Another patient's token is not this one; a made-up token opens nothing.
    let (other, _) = srv.account("patient", "Autre").await;
    let (_, theirs) = srv.get("/api/v1/me/calendar-feed", Some(&other)).await;
    assert_ne!(theirs["url"], feed["url"]);
    let (s, _, _) = get_text(
        &srv,
        &format!("{}/api/v1/calendar-feeds/{}", srv.base, "0".repeat(64)),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // A practitioner has no feed.
    let (s, _) = srv.get("/api/v1/me/calendar-feed", Some(&p.token)).await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    // Revoked: 404 at once; the next ask makes another URL.
    let (s, _) = srv
        .call(
            Method::DELETE,
            "/api/v1/me/calendar-feed",
            Some(&patient),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _, _) = get_text(&srv, &url, None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = srv
        .call(
            Method::DELETE,
            "/api/v1/me/calendar-feed",
            Some(&patient),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (_, renewed) = srv.get("/api/v1/me/calendar-feed", Some(&patient)).await;
    assert_ne!(renewed["url"], feed["url"]);
    let (s, _, _) = get_text(&srv, renewed["url"].as_str().unwrap(), None).await;
    assert_eq!(s, StatusCode::OK);

    // Erasing the account takes the feed along.
    let (s, _) = srv
        .call(Method::DELETE, "/api/v1/me", Some(&patient), None)
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _, _) = get_text(&srv, renewed["url"].as_str().unwrap(), None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    let (_, doc) = srv.get("/api/v1/openapi.json", None).await;
    assert!(doc["paths"]["/api/v1/me/calendar-feed"]["get"].is_object());
    assert!(doc["paths"]["/api/v1/me/calendar-feed"]["delete"].is_object());
    assert!(doc["paths"]["/api/v1/calendar-feeds/{token}"]["get"].is_object());
    srv.stop().await;
}

on_both_backends!(
    motive_names_are_checked,
    appointment_ics_with_a_bearer_token,
    subscription_feed
);
