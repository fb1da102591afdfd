//! The booking core over real HTTP, on SQLite and on PostgreSQL.

mod common;

use common::web::WebClient;
use common::{start, start_on, Backend};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

fn starts(slots: &[Value]) -> Vec<String> {
    slots
        .iter()
        .map(|s| s["start"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// Search, slots, hold, book, the slot vanishing, cancel, move, listings.
async fn booking_flow(backend: Backend) {
    let (srv, _loc) = start(backend).await;
    let p = srv.practice("Dr Hélène Martin", 30, 1).await;
    let (patient, patient_id) = srv.account("patient", "Alice Durand").await;
    let t = Some(patient.as_str());

    // Search by specialty near Paris and by folded name; next_slot is given.
    let (s, found) = srv
        .get(
            "/api/v1/search?specialty=general-practitioner&lat=48.86&lon=2.35&radius_km=5",
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let hit = found["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["agenda_id"] == p.agenda_id.as_str())
        .cloned()
        .expect("found by distance");
    assert_eq!(hit["practitioner_id"], p.practitioner_id.as_str());
    assert!(hit["distance_km"].as_f64().unwrap() < 5.0);
    assert!(hit["next_slot"].is_string(), "{hit}");
    let (_, by_name) = srv.get("/api/v1/search?q=helene%20mart", None).await;
    assert!(by_name["results"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["agenda_id"] == p.agenda_id.as_str()));
    let (_, far) = srv
        .get("/api/v1/search?lat=43.30&lon=5.37&radius_km=10", None)
        .await;
    assert!(
        !far["results"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["agenda_id"] == p.agenda_id.as_str()),
        "Marseille is not near Paris"
    );
    let (s, pub_agenda) = srv
        .get(&format!("/api/v1/agendas/{}", p.agenda_id), None)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(pub_agenda["motives"][0]["id"], p.motive_id.as_str());

    // Hold a slot, then book from the hold.
    let slots = srv.slots(&p).await;
    assert!(slots.len() > 20, "an open week has many slots");
    let first = slots[1]["start"].as_str().unwrap().to_owned();
    assert_eq!(slots[1]["remaining"], 1);
    let (s, hold) = srv
        .post(
            "/api/v1/holds",
            t,
            json!({"agenda_id": p.agenda_id, "motive_id": p.motive_id, "start": first}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{hold}");
    assert!(hold["expires_at"].is_string());
    assert!(
        !starts(&srv.slots(&p).await).contains(&first),
        "a held start is not offered"
    );
    let (other, _) = srv.account("patient", "Bob Leroy").await;
    let (s, _) = srv
        .post(
            "/api/v1/holds",
            Some(&other),
            json!({"agenda_id": p.agenda_id, "motive_id": p.motive_id, "start": first}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    let (s, appt) = srv
        .post("/api/v1/appointments", t, json!({"hold_id": hold["id"]}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{appt}");
    assert_eq!(appt["status"], "booked");
    assert_eq!(appt["start"], first.as_str());
    assert_eq!(appt["id"], hold["id"]);

    // Book directly; the start vanishes from the very next /slots.
    let second = slots[5]["start"].as_str().unwrap().to_owned();
    let (s, direct) = srv
        .post(
            "/api/v1/appointments",
            t,
            json!({"agenda_id": p.agenda_id, "motive_id": p.motive_id, "start": second}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{direct}");
    assert!(!starts(&srv.slots(&p).await).contains(&second));
    let (s, _) = srv
        .post(
            "/api/v1/appointments",
            Some(&other),
            json!({"agenda_id": p.agenda_id, "motive_id": p.motive_id, "start": second}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);

    // Listings: the patient's own; the practitioner's agenda with the patient's name.
    let (s, mine) = srv.get("/api/v1/appointments", t).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(mine["appointments"].as_array().unwrap().len(), 2);
    let day = &first[..10];
    let to = &srv.slots(&p).await.last().unwrap()["start"]
        .as_str()
        .unwrap()[..10]
        .to_owned();
    let (s, agenda) = srv
        .get(
            &format!(
                "/api/v1/agendas/{}/appointments?from={day}&to={to}",
                p.agenda_id
            ),
            Some(&p.token),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{agenda}");
    let rows = agenda["appointments"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["patient"]["id"], patient_id.as_str());
    assert_eq!(rows[0]["patient"]["name"], "Alice Durand");

    // Move onto a taken start: 409 and nothing changes.
    let (s, _) = srv
        .post(
            &format!(
                "/api/v1/appointments/{}/move",
                direct["id"].as_str().unwrap()
            ),
            t,
            json!({"start": first}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    let (_, mine_after) = srv.get("/api/v1/appointments", t).await;
    assert_eq!(
        mine_after, mine,
        "a refused move leaves everything as it was"
    );
    // Move to a free start: the old one is offered again, the new one is gone.
    let third = slots[9]["start"].as_str().unwrap().to_owned();
    let (s, moved) = srv
        .post(
            &format!(
                "/api/v1/appointments/{}/move",
                direct["id"].as_str().unwrap()
            ),
            t,
            json!({"start": third}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{moved}");
    assert_eq!(
        (&moved["id"], &moved["start"]),
        (&direct["id"], &json!(third))
    );
    let now = starts(&srv.slots(&p).await);
    assert!(now.contains(&second) && !now.contains(&third));

    // Cancel: the start is offered again at once; cancelling twice is harmless.
    let (s, c) = srv
        .post(
            &format!(
                "/api/v1/appointments/{}/cancel",
                appt["id"].as_str().unwrap()
            ),
            t,
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(c["status"], "cancelled");
    assert!(starts(&srv.slots(&p).await).contains(&first));
    let (s, c2) = srv
        .post(
            &format!(
                "/api/v1/appointments/{}/cancel",
                appt["id"].as_str().unwrap()
            ),
            t,
            json!({}),
        )
        .await;
    assert_eq!((s, &c2["status"]), (StatusCode::OK, &json!("cancelled")));
}

/// Idempotency-Key: a retry books once; the same key with another body is refused.
async fn idempotent_retries(backend: Backend) {
    let (srv, _loc) = start(backend).await;
    let p = srv.practice("Dr Retry", 20, 1).await;
    let (patient, _) = srv.account("patient", "Carla Petit").await;
    let slots = srv.slots(&p).await;
    let body =
        json!({"agenda_id": p.agenda_id, "motive_id": p.motive_id, "start": slots[3]["start"]});
    let send = |b: Value| {
        srv.client
            .post(format!("{}/api/v1/appointments", srv.base))
            .bearer_auth(&patient)
            .header("Idempotency-Key", "3f1c2a9e-booking-1")
            .json(&b)
            .send()
    };
    let r1 = send(body.clone()).await.unwrap();
    assert_eq!(r1.status(), StatusCode::CREATED);
    let a1: Value = r1.json().await.unwrap();
    let r2 = send(body.clone()).await.unwrap();
    assert_eq!(
        r2.status(),
        StatusCode::CREATED,
        "a retry is answered like the first time"
    );
    let a2: Value = r2.json().await.unwrap();
    assert_eq!(a1["id"], a2["id"]);
    let other =
        json!({"agenda_id": p.agenda_id, "motive_id": p.motive_id, "start": slots[4]["start"]});
    let r3 = send(other).await.unwrap();
    assert_eq!(r3.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let (_, mine) = srv.get("/api/v1/appointments", Some(&patient)).await;
    assert_eq!(
        mine["appointments"].as_array().unwrap().len(),
        1,
        "booked exactly once"
    );
}

/// Patients see only their own; practitioners touch only their own agendas.
async fn authorization(backend: Backend) {
    let (srv, _loc) = start(backend).await;
    let p = srv.practice("Dr Owner", 30, 1).await;
    let intruder = srv.practice("Dr Intruder", 30, 1).await;
    let (alice, _) = srv.account("patient", "Alice").await;
    let (mallory, _) = srv.account("patient", "Mallory").await;
    let slots = srv.slots(&p).await;
    let (_, appt) = srv
        .post(
            "/api/v1/appointments",
            Some(&alice),
            json!({"agenda_id": p.agenda_id, "motive_id": p.motive_id, "start": slots[0]["start"]}),
        )
        .await;
    let id = appt["id"].as_str().unwrap();

    let (s, _) = srv
        .post(
            &format!("/api/v1/appointments/{id}/cancel"),
            Some(&mallory),
            json!({}),
        )
        .await;
    assert_eq!(
        s,
        StatusCode::NOT_FOUND,
        "another patient's appointment does not exist for you"
    );
    let (s, _) = srv
        .post(
            &format!("/api/v1/appointments/{id}/move"),
            Some(&mallory),
            json!({"start": slots[2]["start"]}),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (_, theirs) = srv.get("/api/v1/appointments", Some(&mallory)).await;
    assert!(theirs["appointments"].as_array().unwrap().is_empty());

    let it = Some(intruder.token.as_str());
    let (s, _) = srv
        .post(
            &format!("/api/v1/agendas/{}/motives", p.agenda_id),
            it,
            json!({"name": "Hijack", "duration_min": 5}),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = srv
        .post(
            &format!("/api/v1/agendas/{}/opening-rules", p.agenda_id),
            it,
            json!({"weekdays": [1], "start": "08:00", "end": "09:00", "motive_ids": [p.motive_id]}),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = srv
        .post(
            &format!("/api/v1/agendas/{}/absences", p.agenda_id),
            it,
            json!({"start": "2030-01-01T00:00:00Z", "end": "2030-01-02T00:00:00Z"}),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = srv
        .get(
            &format!(
                "/api/v1/agendas/{}/appointments?from=2030-01-01&to=2030-01-02",
                p.agenda_id
            ),
            it,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // A rule of my agenda cannot name another agenda's motive.
    let (s, body) = srv
        .post(
            &format!("/api/v1/agendas/{}/opening-rules", intruder.agenda_id),
            it,
            json!({"weekdays": [1], "start": "08:00", "end": "09:00", "motive_ids": [p.motive_id]}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");

    // Roles and credentials.
    let (s, _) = srv
        .post(
            "/api/v1/holds",
            it,
            json!({"agenda_id": p.agenda_id, "motive_id": p.motive_id, "start": slots[3]["start"]}),
        )
        .await;
    assert_eq!(
        s,
        StatusCode::FORBIDDEN,
        "practitioners do not book as patients"
    );
    let (s, _) = srv.post("/api/v1/places", Some(&alice), json!({})).await;
    assert!(s == StatusCode::FORBIDDEN || s == StatusCode::UNPROCESSABLE_ENTITY);
    let (s, _) = srv.get("/api/v1/me", None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _) = srv.get("/api/v1/me", Some("not-a-token")).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    // Login failures say the same thing whether or not the email exists.
    let (s1, b1) = srv
        .post(
            "/api/v1/sessions",
            None,
            json!({"email": "nobody@example.test", "password": "whatever12345"}),
        )
        .await;
    let (_, me) = srv.get("/api/v1/me", Some(&alice)).await;
    let (s2, b2) = srv
        .post(
            "/api/v1/sessions",
            None,
            json!({"email": me["email"], "password": "wrong password!"}),
        )
        .await;
    assert_eq!(
        (s1, s2),
        (StatusCode::UNAUTHORIZED, StatusCode::UNAUTHORIZED)
    );
    // The same answer, but for each request's own id.
    let (mut b1, mut b2) = (b1, b2);
    for b in [&mut b1, &mut b2] {
        let id = b.as_object_mut().and_then(|o| o.remove("request_id"));
        assert!(id.is_some_and(|v| v.is_string()), "{b}");
    }
    assert_eq!(b1, b2);
    // Duplicate email and weak password.
    let (s, _) = srv.post("/api/v1/accounts", None, json!({"email": me["email"], "password": "long enough pw", "name": "X", "role": "patient"})).await;
    assert_eq!(s, StatusCode::CONFLICT);
    let (s, b) = srv.post("/api/v1/accounts", None, json!({"email": "new@example.test", "password": "short", "name": "X", "role": "patient"})).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(b["detail"].as_str().unwrap().contains("password"));
}

/// 200 concurrent bookings for one start over real HTTP: exactly `capacity` succeed.
async fn race(backend: Backend, capacity: i64) {
    let (srv, _loc) = start(backend).await;
    let p = srv.practice("Dr Rush", 15, capacity).await;
    let slot = srv.slots(&p).await[2]["start"].as_str().unwrap().to_owned();
    let mut tokens = Vec::new();
    // Register 20 at a time: Argon2 makes this the slow part.
    for batch in 0..10 {
        let names: Vec<String> = (0..20)
            .map(|i| format!("Racer {}", batch * 20 + i))
            .collect();
        let futs: Vec<_> = names.iter().map(|n| srv.account("patient", n)).collect();
        for (t, _) in futures::future::join_all(futs).await {
            tokens.push(t);
        }
    }
    let body = json!({"agenda_id": p.agenda_id, "motive_id": p.motive_id, "start": slot});
    let requests: Vec<_> = tokens
        .iter()
        .map(|t| {
            srv.client
                .post(format!("{}/api/v1/appointments", srv.base))
                .bearer_auth(t)
                .json(&body)
                .send()
        })
        .collect();
    let mut created = 0;
    let mut conflicts = 0;
    for r in futures::future::join_all(requests).await {
        match r.expect("response").status() {
            StatusCode::CREATED => created += 1,
            StatusCode::CONFLICT => conflicts += 1,
            other => panic!("unexpected status {other}"),
        }
    }
    assert_eq!((created, conflicts), (capacity, 200 - capacity));
    // Read the agenda back: exactly `capacity` live appointments at that start, no overlap.
    let day = &slot[..10];
    let (_, agenda) = srv
        .get(
            &format!(
                "/api/v1/agendas/{}/appointments?from={day}&to={day}",
                p.agenda_id
            ),
            Some(&p.token),
        )
        .await;
    let booked: Vec<&Value> = agenda["appointments"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["status"] == "booked")
        .collect();
    assert_eq!(booked.len() as i64, capacity);
    assert!(booked.iter().all(|a| a["start"] == slot.as_str()));
    let remaining: Vec<Value> = srv
        .slots(&p)
        .await
        .into_iter()
        .filter(|s| s["start"] == slot.as_str())
        .collect();
    assert!(remaining.is_empty(), "a full start is not offered");
}

async fn race_for_one_place(backend: Backend) {
    race(backend, 1).await;
}

async fn race_for_three_places(backend: Backend) {
    race(backend, 3).await;
}

/// A restarted server still has every confirmed booking.
async fn restart_loses_nothing(backend: Backend) {
    let (srv, loc) = start(backend).await;
    let p = srv.practice("Dr Durable", 30, 1).await;
    let (patient, _) = srv.account("patient", "Denise Roux").await;
    let slots = srv.slots(&p).await;
    let mut booked = Vec::new();
    for s in slots.iter().take(5) {
        let (st, a) = srv
            .post(
                "/api/v1/appointments",
                Some(&patient),
                json!({"agenda_id": p.agenda_id, "motive_id": p.motive_id, "start": s["start"]}),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED);
        booked.push(a["id"].as_str().unwrap().to_owned());
    }
    srv.stop().await;

    let srv = start_on(&loc).await;
    let (s, mine) = srv.get("/api/v1/appointments", Some(&patient)).await;
    assert_eq!(s, StatusCode::OK, "sessions survive a restart");
    let ids: Vec<String> = mine["appointments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids, booked);
    let offered = starts(&srv.slots(&p).await);
    for s in slots.iter().take(5) {
        assert!(!offered.contains(&s["start"].as_str().unwrap().to_owned()));
    }
    let (_, found) = srv.get("/api/v1/search?q=durable", None).await;
    assert_eq!(
        found["results"].as_array().unwrap().len(),
        1,
        "the directory is rebuilt from the database"
    );
}

/// Bad input gets a clear 4xx problem, never a 500.
async fn bad_input(backend: Backend) {
    let (srv, _loc) = start(backend).await;
    let p = srv.practice("Dr Strict", 30, 1).await;
    let (patient, _) = srv.account("patient", "Eve Blanc").await;
    let url = |path: &str| format!("{}{}", srv.base, path);

    // Malformed JSON.
    let r = srv
        .client
        .post(url("/api/v1/appointments"))
        .bearer_auth(&patient)
        .header("content-type", "application/json")
        .body("{\"agenda_id\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    // Wrong type: the detail names the field and does not echo the value.
    let (s, b) = srv
        .post(
            &format!("/api/v1/agendas/{}/motives", p.agenda_id),
            Some(&p.token),
            json!({"name": "X", "duration_min": "Jean Secret"}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let detail = b["detail"].as_str().unwrap();
    assert!(
        detail.contains("duration_min") && !detail.contains("Jean Secret"),
        "{detail}"
    );
    // Unknown field.
    let (s, b) = srv
        .post(
            &format!("/api/v1/agendas/{}/motives", p.agenda_id),
            Some(&p.token),
            json!({"name": "X", "duration_min": 10, "colour": "red"}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    // Zero duration, weekday 8, end before start.
    let (s, b) = srv
        .post(
            &format!("/api/v1/agendas/{}/motives", p.agenda_id),
            Some(&p.token),
            json!({"name": "X", "duration_min": 0}),
        )
        .await;
    assert!(
        s == StatusCode::UNPROCESSABLE_ENTITY
            && b["detail"].as_str().unwrap().contains("duration_min"),
        "{b}"
    );
    let rules = format!("/api/v1/agendas/{}/opening-rules", p.agenda_id);
    let (s, b) = srv
        .post(
            &rules,
            Some(&p.token),
            json!({"weekdays": [8], "start": "08:00", "end": "09:00", "motive_ids": [p.motive_id]}),
        )
        .await;
    assert!(
        s == StatusCode::UNPROCESSABLE_ENTITY && b["detail"].as_str().unwrap().contains("weekdays"),
        "{b}"
    );
    let (s, b) = srv
        .post(
            &rules,
            Some(&p.token),
            json!({"weekdays": [1], "start": "12:00", "end": "08:00", "motive_ids": [p.motive_id]}),
        )
        .await;
    assert!(
        s == StatusCode::UNPROCESSABLE_ENTITY && b["detail"].as_str().unwrap().contains("end"),
        "{b}"
    );
    let (s, _) = srv
        .post(
            &rules,
            Some(&p.token),
            json!({"weekdays": [1], "start": "25:00", "end": "26:00", "motive_ids": [p.motive_id]}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    // Impossible dates and instants.
    let slots_url = |from: &str, to: &str| {
        format!(
            "/api/v1/agendas/{}/slots?motive_id={}&from={from}&to={to}",
            p.agenda_id, p.motive_id
        )
    };
    let (s, b) = srv.get(&slots_url("2027-02-30", "2027-03-02"), None).await;
    assert!(
        s.is_client_error() && b["detail"].as_str().unwrap().contains("from"),
        "{b}"
    );
    let (s, _) = srv.get(&slots_url("2027-03-01", "2027-02-01"), None).await;
    assert!(s.is_client_error());
    let (s, _) = srv.post("/api/v1/appointments", Some(&patient), json!({"agenda_id": p.agenda_id, "motive_id": p.motive_id, "start": "2027-13-01T08:00:00+01:00"})).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let (s, _) = srv.post("/api/v1/appointments", Some(&patient), json!({"agenda_id": p.agenda_id, "motive_id": p.motive_id, "start": "2027-03-01T08:00:00"})).await;
    assert_eq!(
        s,
        StatusCode::UNPROCESSABLE_ENTITY,
        "an instant needs an offset"
    );
    let (s, _) = srv
        .post(
            "/api/v1/appointments",
            Some(&patient),
            json!({"agenda_id": p.agenda_id}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    // 31 days are fine, 32 are not.
    let (s, _) = srv.get(&slots_url("2030-01-01", "2030-01-31"), None).await;
    assert_eq!(s, StatusCode::OK);
    let (s, b) = srv.get(&slots_url("2030-01-01", "2030-02-01"), None).await;
    assert!(
        s.is_client_error() && b["detail"].as_str().unwrap().contains("31"),
        "{b}"
    );
    // A 10 MB body.
    assert_eq!(
        send_ten_megabytes(&srv.base, true).await,
        413,
        "declared length"
    );
    assert_eq!(
        send_ten_megabytes(&srv.base, false).await,
        413,
        "chunked, no declared length"
    );
    // Not JSON at all, unknown ids, unknown routes, wrong methods, bad query types.
    let r = srv
        .client
        .post(url("/api/v1/accounts"))
        .body("email=a")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let (s, _) = srv
        .get(
            &format!(
                "/api/v1/agendas/nope/slots?motive_id={}&from=2030-01-01&to=2030-01-02",
                p.motive_id
            ),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = srv
        .get(
            &format!(
                "/api/v1/agendas/{}/slots?motive_id=nope&from=2030-01-01&to=2030-01-02",
                p.agenda_id
            ),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = srv.get("/api/v1/nothing-here", None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = srv.call(Method::DELETE, "/api/v1/search", None, None).await;
    assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED);
    let (s, b) = srv.get("/api/v1/search?lat=abc&lon=2", None).await;
    assert!(
        s == StatusCode::BAD_REQUEST && b["detail"].as_str().unwrap().contains("lat"),
        "{b}"
    );
    let (s, _) = srv.get("/api/v1/search?lat=95&lon=2", None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = srv.get("/api/v1/search?specialty=wizard", None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = srv.get("/api/v1/search?limit=100000", None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = srv.post("/api/v1/places", Some(&p.token), json!({"name": "P", "address": "A", "postcode": "1", "city": "C", "country": "FR", "lat": 1.0, "lon": 2.0, "timezone": "Mars/Olympus"})).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    // Booking outside opening hours is not a slot.
    let (s, b) = srv.post("/api/v1/appointments", Some(&patient), json!({"agenda_id": p.agenda_id, "motive_id": p.motive_id, "start": "2030-01-07T03:00:00+01:00"})).await;
    assert_eq!(s, StatusCode::CONFLICT, "{b}");
}

/// Sends a 10 MB JSON body over a raw connection (the server may answer and close before
/// the body is written, which an HTTP client reports as a broken pipe) and returns the
/// status line's code.
async fn send_ten_megabytes(base: &str, declare_length: bool) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = base.trim_start_matches("http://");
    let mut conn = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let len = 10 * 1024 * 1024;
    let framing = if declare_length {
        format!("Content-Length: {len}")
    } else {
        "Transfer-Encoding: chunked".to_owned()
    };
    let head = format!("POST /api/v1/accounts HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n{framing}\r\n\r\n");
    conn.write_all(head.as_bytes()).await.expect("head");
    let chunk = vec![b'x'; 64 * 1024];
    for _ in 0..(len / chunk.len()) {
        let wrote = if declare_length {
            conn.write_all(&chunk).await
        } else {
            let mut framed = format!("{:x}\r\n", chunk.len()).into_bytes();
            framed.extend_from_slice(&chunk);
            framed.extend_from_slice(b"\r\n");
            conn.write_all(&framed).await
        };
        if wrote.is_err() {
            break; // the server has answered and closed: read what it said
        }
    }
    let mut response = Vec::new();
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        conn.read_to_end(&mut response),
    )
    .await;
    let text = String::from_utf8_lossy(&response);
    assert!(text.contains("application/problem+json"), "{text}");
    text.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

/// The OpenAPI document describes every path of the contract.
async fn openapi_document(backend: Backend) {
    let (srv, _loc) = start(backend).await;
    let (s, doc) = srv.get("/api/v1/openapi.json", None).await;
    assert_eq!(s, StatusCode::OK);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    for (path, method) in [
        ("/healthz", "get"),
        ("/api/v1/accounts", "post"),
        ("/api/v1/sessions", "post"),
        ("/api/v1/me", "get"),
        ("/api/v1/practitioner/profile", "put"),
        ("/api/v1/places", "post"),
        ("/api/v1/agendas", "post"),
        ("/api/v1/agendas/{agenda_id}/motives", "post"),
        ("/api/v1/agendas/{agenda_id}/opening-rules", "post"),
        ("/api/v1/agendas/{agenda_id}/absences", "post"),
        ("/api/v1/agendas/{agenda_id}/appointments", "get"),
        ("/api/v1/search", "get"),
        ("/api/v1/agendas/{agenda_id}/slots", "get"),
        ("/api/v1/holds", "post"),
        ("/api/v1/appointments", "post"),
        ("/api/v1/appointments", "get"),
        ("/api/v1/appointments/{id}/cancel", "post"),
        ("/api/v1/appointments/{id}/move", "post"),
    ] {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} missing from OpenAPI"
        );
    }
}

/// Free text mixing specialty, name and place in any of the four languages, any form of
/// place in `city`, and suggestions when nobody is found (issue 17), over the API and the page.
async fn free_text_search(backend: Backend) {
    let (srv, _loc) = start(backend).await;
    let p = srv.practice("Dr Jean Dupont", 30, 1).await;
    let (s, body) = srv
        .call(
            Method::PUT,
            "/api/v1/practitioner/profile",
            Some(&p.token),
            Some(json!({"name": "Dr Jean Dupont", "specialty": "dentist"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let found = |v: &Value| {
        v["results"]
            .as_array()
            .is_some_and(|r| r.iter().any(|x| x["agenda_id"] == p.agenda_id.as_str()))
    };
    for path in [
        "/api/v1/search?q=dentiste%20dupont",
        "/api/v1/search?q=Dentiste%20%2F%20paris%204",
        "/api/v1/search?q=Zahnarzt&city=75004",
        "/api/v1/search?q=dentsite&city=Paris%204e",
        "/api/v1/search?q=DUPOND",
        "/api/v1/search?specialty=dentist&city=paris",
        "/api/v1/search?q=dentista&city=75",
    ] {
        let (s, v) = srv.get(path, None).await;
        assert_eq!(s, StatusCode::OK, "{path}: {v}");
        assert!(found(&v), "{path}: {v}");
        assert!(v.get("suggestions").is_none(), "{path}: {v}");
    }
    // Nobody in Lyon: the nearest towns with a dentist.
    let (_, v) = srv
        .get("/api/v1/search?q=dentiste&city=Lyon%203e", None)
        .await;
    assert_eq!(v["results"].as_array().map(Vec::len), Some(0), "{v}");
    let places = v["suggestions"]["places"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        places
            .iter()
            .any(|p| p["city"] == "Paris" && p["count"].as_u64() >= Some(1)),
        "{v}"
    );
    let (_, v) = srv.get("/api/v1/search?q=psychologue", None).await;
    assert!(
        v["suggestions"]["specialties"]
            .as_array()
            .is_some_and(|s| s.iter().any(|s| s["code"] == "psychiatrist")),
        "{v}"
    );
    // The page reads the same words, and offers the suggestions as links.
    let web = WebClient::new(&srv).await;
    let html = web.get("/search?q=Dentiste+dupont").await.text().await;
    let html = html.unwrap_or_default();
    assert!(html.contains("Dr Jean Dupont"), "{html}");
    let html = web
        .get("/search?q=dentiste&where=Lyon+3e")
        .await
        .text()
        .await
        .unwrap_or_default();
    assert!(html.contains("class=\"suggestions"), "{html}");
    assert!(html.contains("where=75004+Paris"), "{html}");
}

/// Slot answers carry a strong `ETag`; `If-None-Match` with it gives a bodiless 304 until the
/// answer changes (a booking), then a 200 with a new tag. Issue 20, point 3.
async fn conditional_slots(backend: Backend) {
    let (srv, _loc) = start(backend).await;
    let p = srv.practice("Dr Camille Roux", 30, 1).await;
    let (patient, _) = srv.account("patient", "Alice Durand").await;
    // From tomorrow: today's list changes by itself as its first starts come too close.
    let from = jiff::Zoned::now()
        .date()
        .checked_add(jiff::Span::new().days(1))
        .unwrap();
    let to = from.checked_add(jiff::Span::new().days(7)).unwrap();
    let url = format!(
        "{}/api/v1/agendas/{}/slots?motive_id={}&from={from}&to={to}",
        srv.base, p.agenda_id, p.motive_id
    );
    let fetch = |tag: Option<String>| {
        let mut r = srv.client.get(&url);
        if let Some(tag) = tag {
            r = r.header("If-None-Match", tag);
        }
        r.send()
    };
    let first = fetch(None).await.unwrap();
    assert_eq!(first.status(), StatusCode::OK);
    assert_eq!(first.headers()["cache-control"], "no-cache");
    let tag = first.headers()["etag"].to_str().unwrap().to_owned();
    assert!(tag.starts_with('"') && tag.ends_with('"'), "{tag}");
    let body: Value = first.json().await.unwrap();
    let start = body["slots"][2]["start"].as_str().unwrap().to_owned();

    // Unchanged: 304 with the same tag and no body.
    let again = fetch(Some(tag.clone())).await.unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(again.headers()["etag"].to_str().unwrap(), tag);
    assert!(again.bytes().await.unwrap().is_empty());
    let listed = fetch(Some(format!("\"other\", W/{tag}"))).await.unwrap();
    assert_eq!(
        listed.status(),
        StatusCode::NOT_MODIFIED,
        "weak comparison in a list"
    );

    // A booking changes the answer: the old tag gets the new list, with a new tag.
    let (s, appt) = srv
        .post(
            "/api/v1/appointments",
            Some(&patient),
            json!({"agenda_id": p.agenda_id, "motive_id": p.motive_id, "start": start}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{appt}");
    let changed = fetch(Some(tag.clone())).await.unwrap();
    assert_eq!(changed.status(), StatusCode::OK);
    let new_tag = changed.headers()["etag"].to_str().unwrap().to_owned();
    assert_ne!(new_tag, tag);
    let body: Value = changed.json().await.unwrap();
    assert!(!starts(body["slots"].as_array().unwrap()).contains(&start));
}

on_both_backends!(
    free_text_search,
    conditional_slots,
    booking_flow,
    idempotent_retries,
    authorization,
    race_for_one_place,
    race_for_three_places,
    restart_loses_nothing,
    bad_input,
    openapi_document,
);
