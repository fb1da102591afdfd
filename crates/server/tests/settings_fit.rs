//! Settings that fit the practice (issue 18, point 7), over real HTTP on SQLite and
//! PostgreSQL: a motive's duration changes the slots offered from then on while booked
//! appointments keep their times (and a pooled motive's duration stays); the dose stock is
//! in the menu of vaccination centres only; absence reasons show in the desk and settings;
//! the practice side's copy speaks to the practice.

mod common;

use common::{start, Backend, TestServer};
use reqwest::{header, Method, StatusCode};
use serde_json::{json, Value};

const CSRF: &str = "0123456789abcdef0123456789abcdef";

/// A page or form as the signed-in browser of `token` would send it (the session cookie
/// carries the API's token), in English.
async fn page(srv: &TestServer, token: &str, path: &str) -> (StatusCode, String) {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let resp = client
        .get(format!("{}{path}", srv.base))
        .header(
            header::COOKIE,
            format!("careslot_session={token}; careslot_csrf={CSRF}"),
        )
        .header(header::ACCEPT_LANGUAGE, "en")
        .send()
        .await
        .expect("get");
    let status = resp.status();
    (status, resp.text().await.expect("body"))
}

async fn form(
    srv: &TestServer,
    token: &str,
    path: &str,
    fields: &[(&str, &str)],
) -> (StatusCode, String) {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let mut all: Vec<(&str, &str)> = fields.to_vec();
    all.push(("csrf", CSRF));
    let body: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(all)
        .finish();
    let resp = client
        .post(format!("{}{path}", srv.base))
        .header(
            header::COOKIE,
            format!("careslot_session={token}; careslot_csrf={CSRF}"),
        )
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::ACCEPT_LANGUAGE, "en")
        .body(body)
        .send()
        .await
        .expect("post");
    let status = resp.status();
    (status, resp.text().await.expect("body"))
}

fn minutes(slot: &Value) -> i64 {
    let t = |k: &str| {
        slot[k]
            .as_str()
            .expect("instant")
            .parse::<jiff::Timestamp>()
            .expect("instant")
    };
    (t("end").as_second() - t("start").as_second()) / 60
}

async fn durations_apply_to_future_slots_only(backend: Backend) {
    let (srv, _loc) = start(backend).await;
    let p = srv.practice("Dr Durée", 30, 1).await;
    let slots = srv.slots(&p).await;
    assert!(slots.iter().all(|s| minutes(s) == 30), "{slots:?}");
    let (s, booked) = srv
        .post(
            "/api/v1/practitioner/appointments",
            Some(&p.token),
            json!({"agenda_id": p.agenda_id, "motive_id": p.motive_id, "start": slots[0]["start"],
                   "patient": {"name": "Denise Durée", "phone": "06 11 22 33 44"}}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{booked}");
    let before = booked.clone();

    let (s, body) = form(
        &srv,
        &p.token,
        &format!("/pro/settings/motives/{}", p.motive_id),
        &[
            ("agenda", p.agenda_id.as_str()),
            ("name", "Consultation"),
            ("duration", "45"),
            ("online", "1"),
            ("notice", "0"),
            ("horizon", "90"),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::SEE_OTHER, "{body}");
    let after = srv.slots(&p).await;
    assert!(
        !after.is_empty() && after.iter().all(|s| minutes(s) == 45),
        "{after:?}"
    );
    // The appointment keeps its time.
    let day = &before["start"].as_str().expect("start")[..10];
    let (_, list) = srv
        .get(
            &format!(
                "/api/v1/agendas/{}/appointments?from={day}&to={day}",
                p.agenda_id
            ),
            Some(&p.token),
        )
        .await;
    let same = list["appointments"]
        .as_array()
        .expect("list")
        .iter()
        .find(|a| a["id"] == before["id"])
        .cloned()
        .expect("listed");
    assert_eq!(
        (&same["start"], &same["end"]),
        (&before["start"], &before["end"])
    );
    // Nor does a new slot overlap it.
    let end = before["end"]
        .as_str()
        .expect("end")
        .parse::<jiff::Timestamp>()
        .expect("t");
    let start = before["start"]
        .as_str()
        .expect("start")
        .parse::<jiff::Timestamp>()
        .expect("t");
    for s in &after {
        let (a, b) = (
            s["start"]
                .as_str()
                .expect("s")
                .parse::<jiff::Timestamp>()
                .expect("t"),
            s["end"]
                .as_str()
                .expect("e")
                .parse::<jiff::Timestamp>()
                .expect("t"),
        );
        assert!(
            b <= start || a >= end,
            "{s} overlaps the booked appointment"
        );
    }
    // An invalid duration is refused and changes nothing.
    let (s, body) = form(
        &srv,
        &p.token,
        &format!("/pro/settings/motives/{}", p.motive_id),
        &[
            ("agenda", p.agenda_id.as_str()),
            ("name", "Consultation"),
            ("duration", "0"),
            ("online", "1"),
            ("notice", "0"),
            ("horizon", "90"),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::OK, "the page again, with a message");
    assert!(body.contains("role=\"alert\""), "{body}");
    assert!(srv.slots(&p).await.iter().all(|s| minutes(s) == 45));

    // A motive with parallel places keeps its duration (its pools depend on it).
    let pooled = srv.practice("Dr Lignes", 10, 3).await;
    let (s, body) = form(
        &srv,
        &pooled.token,
        &format!("/pro/settings/motives/{}", pooled.motive_id),
        &[
            ("agenda", pooled.agenda_id.as_str()),
            ("name", "Consultation"),
            ("duration", "20"),
            ("online", "1"),
            ("notice", "0"),
            ("horizon", "90"),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::OK, "refused: {body}");
    assert!(srv.slots(&pooled).await.iter().all(|s| minutes(s) == 10));
    let (_, settings) = page(&srv, &pooled.token, "/pro/settings").await;
    assert!(
        !settings.contains("name=\"duration\" type=\"number\" min=\"5\" max=\"480\" value=\"10\"")
    );
    srv.stop().await;
}

async fn menu_absences_and_copy_fit(backend: Backend) {
    let (srv, _loc) = start(backend).await;
    let gp = srv.practice("Dr Généraliste", 20, 1).await;
    let (s, html) = page(&srv, &gp.token, "/pro/agenda").await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        !html.contains("href=\"/pro/stock\""),
        "no dose stock for a GP"
    );

    let centre = srv.practice("Centre de vaccination", 10, 4).await;
    let (s, profile) = srv
        .call(
            Method::PUT,
            "/api/v1/practitioner/profile",
            Some(&centre.token),
            Some(json!({"name": "Centre de vaccination", "specialty": "vaccination-center"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{profile}");
    let (_, html) = page(&srv, &centre.token, "/pro/agenda").await;
    assert!(
        html.contains("href=\"/pro/stock\""),
        "a vaccination centre has its stock"
    );

    // An absence's reason shows where the absence does.
    let tomorrow = jiff::Zoned::now()
        .date()
        .checked_add(jiff::Span::new().days(1))
        .expect("date");
    let (s, body) = srv
        .post(
            &format!("/api/v1/agendas/{}/absences", gp.agenda_id),
            Some(&gp.token),
            json!({"start": format!("{tomorrow}T09:00:00+01:00"), "end": format!("{tomorrow}T11:00:00+01:00"),
                   "reason": "Congrès de cardiologie"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    for path in [
        format!("/pro/agenda?date={tomorrow}"),
        format!("/pro/agenda?date={tomorrow}&view=week"),
        "/pro/settings".to_owned(),
    ] {
        let (s, html) = page(&srv, &gp.token, &path).await;
        assert_eq!(s, StatusCode::OK, "{path}");
        assert!(html.contains("Congrès de cardiologie"), "{path}");
    }
    let (_, html) = page(&srv, &centre.token, &format!("/pro/agenda?date={tomorrow}")).await;
    assert!(
        !html.contains("Congrès de cardiologie"),
        "another practice's reason"
    );

    // The practice side is told who sees a document, in its own terms.
    let slots = srv.slots(&gp).await;
    let (s, booked) = srv
        .post(
            "/api/v1/practitioner/appointments",
            Some(&gp.token),
            json!({"agenda_id": gp.agenda_id, "motive_id": gp.motive_id, "start": slots[0]["start"],
                   "patient": {"name": "Hugo Copie", "phone": "06 55 44 33 22"}}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{booked}");
    let id = booked["id"].as_str().expect("id");
    let (s, html) = page(&srv, &gp.token, &format!("/pro/appointments/{id}")).await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        html.contains("visible only to the patient and your practice"),
        "{html}"
    );
    assert!(!html.contains("you and your health professional"));

    // Someone refused for who they are is not told to reload a form.
    let (patient, _) = srv.account("patient", "Pat Refusé").await;
    let (s, html) = page(&srv, &patient, "/pro/onboarding/profile").await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert!(
        html.contains("Your account does not give access to this page"),
        "{html}"
    );
    assert!(!html.contains("If you just sent a form"));
    srv.stop().await;
}

on_both_backends!(
    durations_apply_to_future_slots_only,
    menu_absences_and_copy_fit
);
