//! Visit statuses (issue 18, point 3) over real HTTP on SQLite and PostgreSQL: the practice
//! sets arrived → in consultation → done with their times, undoes a mistaken one, and reads
//! each day's figures; `status` keeps its meaning; refusals are problem+json (done on a
//! cancelled appointment, a no-show after arrival or before the start, an unknown status,
//! a cancel under way); another practice, a patient and a stranger cannot set them.

mod common;

use common::{start, Backend, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

async fn set(srv: &TestServer, token: Option<&str>, id: &str, status: &str) -> (StatusCode, Value) {
    srv.call(
        Method::PUT,
        &format!("/api/v1/appointments/{id}/status"),
        token,
        Some(json!({ "status": status })),
    )
    .await
}

async fn desk_book(srv: &TestServer, p: &common::Practice, start: &Value, name: &str) -> Value {
    let (s, booked) = srv
        .post(
            "/api/v1/practitioner/appointments",
            Some(&p.token),
            json!({"agenda_id": p.agenda_id, "motive_id": p.motive_id, "start": start,
                   "patient": {"name": name, "phone": "06 12 34 56 78"}}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{booked}");
    booked
}

fn problem_type(body: &Value) -> &str {
    body["type"].as_str().unwrap_or_default()
}

async fn statuses_and_day_counts(backend: Backend) {
    let (srv, _loc) = start(backend).await;
    let p = srv.practice("Dr Statuts", 30, 1).await;
    let slots = srv.slots(&p).await;
    // Three appointments the same day.
    let day = slots[0]["start"].as_str().expect("start")[..10].to_owned();
    let same_day: Vec<Value> = slots
        .iter()
        .filter(|s| s["start"].as_str().is_some_and(|t| t.starts_with(&day)))
        .take(3)
        .cloned()
        .collect();
    assert_eq!(same_day.len(), 3, "{slots:?}");
    let a = desk_book(&srv, &p, &same_day[0]["start"], "Anne Statut").await;
    let b = desk_book(&srv, &p, &same_day[1]["start"], "Bruno Statut").await;
    let c = desk_book(&srv, &p, &same_day[2]["start"], "Chloé Statut").await;
    let (a, b, c) = (
        a["id"].as_str().expect("id").to_owned(),
        b["id"].as_str().expect("id").to_owned(),
        c["id"].as_str().expect("id").to_owned(),
    );

    // Forward, each with its time; `status` stays "booked".
    let (s, arrived) = set(&srv, Some(&p.token), &a, "arrived").await;
    assert_eq!(s, StatusCode::OK, "{arrived}");
    assert_eq!(
        (&arrived["status"], &arrived["visit_status"]),
        (&json!("booked"), &json!("arrived"))
    );
    let arrived_at = arrived["visit_status_at"]
        .as_str()
        .expect("time")
        .to_owned();
    arrived_at.parse::<jiff::Timestamp>().expect("an instant");
    let (s, inside) = set(&srv, Some(&p.token), &a, "in_consultation").await;
    assert_eq!(
        (s, &inside["visit_status"]),
        (StatusCode::OK, &json!("in_consultation"))
    );
    let consulting_at = inside["visit_status_at"].clone();
    let (s, done) = set(&srv, Some(&p.token), &a, "done").await;
    assert_eq!((s, &done["visit_status"]), (StatusCode::OK, &json!("done")));
    assert!(done["visit_status_at"].is_string(), "{done}");

    // Undo of a mistaken "done": back in consultation, with the time it had.
    let (s, undone) = set(&srv, Some(&p.token), &a, "in_consultation").await;
    assert_eq!(s, StatusCode::OK, "{undone}");
    assert_eq!(
        (&undone["visit_status"], &undone["visit_status_at"]),
        (&json!("in_consultation"), &consulting_at)
    );
    let (s, _) = set(&srv, Some(&p.token), &a, "done").await;
    assert_eq!(s, StatusCode::OK);

    // Refusals, as problem+json with a stable type.
    let (s, body) = set(&srv, Some(&p.token), &b, "arrived").await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let (s, body) = set(&srv, Some(&p.token), &b, "no_show").await;
    assert_eq!(s, StatusCode::CONFLICT, "{body}");
    assert!(problem_type(&body).ends_with("/status-arrived"), "{body}");
    let (s, body) = srv
        .post(
            &format!("/api/v1/practice/appointments/{b}/cancel"),
            Some(&p.token),
            json!({}),
        )
        .await;
    // The store refuses to cancel a visit under way: a 409, and the appointment unchanged
    // (the undo below succeeds only on a booked appointment).
    assert_eq!(s, StatusCode::CONFLICT, "{body}");
    assert!(problem_type(&body).ends_with("/visit-started"), "{body}");
    let (s, body) = set(&srv, Some(&p.token), &b, "booked").await;
    assert_eq!(
        (s, &body["visit_status"], &body["visit_status_at"]),
        (StatusCode::OK, &json!("booked"), &Value::Null)
    );
    // Not started yet: no no-show.
    let (s, body) = set(&srv, Some(&p.token), &b, "no_show").await;
    assert_eq!(s, StatusCode::CONFLICT, "{body}");
    assert!(problem_type(&body).ends_with("/not-started"), "{body}");
    for bad in ["", "arived", "cancelled", "ARRIVED"] {
        let (s, body) = set(&srv, Some(&p.token), &b, bad).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {body}");
    }
    // Cancelled: no status at all.
    let (s, body) = srv
        .post(
            &format!("/api/v1/practice/appointments/{c}/cancel"),
            Some(&p.token),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["visit_status"], "cancelled", "{body}");
    for st in ["done", "arrived", "booked"] {
        let (s, body) = set(&srv, Some(&p.token), &c, st).await;
        assert_eq!(s, StatusCode::CONFLICT, "{st}: {body}");
        assert!(
            problem_type(&body).ends_with("/status-not-booked"),
            "{body}"
        );
    }

    // Nobody else sets them: another practice (404), a patient (403/404), a stranger (401).
    let other = srv.practice("Dr Ailleurs", 30, 1).await;
    let (s, _) = set(&srv, Some(&other.token), &b, "arrived").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (patient, _) = srv.account("patient", "Paul Patient").await;
    let (s, _) = set(&srv, Some(&patient), &b, "arrived").await;
    assert!(
        s == StatusCode::FORBIDDEN || s == StatusCode::NOT_FOUND,
        "{s}"
    );
    let (s, _) = set(&srv, None, &b, "arrived").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _) = set(&srv, Some(&p.token), "no-such-appointment", "arrived").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (_, still) = srv
        .get(
            &format!(
                "/api/v1/agendas/{}/appointments?from={day}&to={day}",
                p.agenda_id
            ),
            Some(&p.token),
        )
        .await;
    let b_now = still["appointments"]
        .as_array()
        .expect("list")
        .iter()
        .find(|x| x["id"] == b.as_str())
        .cloned()
        .expect("b listed");
    assert_eq!(b_now["visit_status"], "booked", "{b_now}");

    // The day's figures: a done, b booked, c cancelled.
    let (s, list) = srv
        .get(
            &format!(
                "/api/v1/agendas/{}/appointments?from={day}&to={day}",
                p.agenda_id
            ),
            Some(&p.token),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{list}");
    assert_eq!(
        list["days"],
        json!([{"date": day, "booked": 2, "arrived": 1, "in_consultation": 0, "done": 1,
                "no_show": 0, "cancelled": 1}]),
        "{list}"
    );
    let a_now = list["appointments"]
        .as_array()
        .expect("list")
        .iter()
        .find(|x| x["id"] == a.as_str())
        .cloned()
        .expect("a listed");
    assert_eq!(
        (&a_now["status"], &a_now["visit_status"]),
        (&json!("booked"), &json!("done"))
    );
    srv.stop().await;
}

on_both_backends!(statuses_and_day_counts);
