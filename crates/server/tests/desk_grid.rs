//! The desk's time grid over real HTTP, on SQLite and PostgreSQL: appointments, holds and
//! absences at their rows for one and several agendas, nothing of another practice, the
//! printable day list, moving an appointment through the grid's form (refused on an
//! occupied time with a clear message), and changing its length (refused when it would run
//! into another appointment or past the opening hours; kept when it moves).

mod common;

use common::{start, Practice, TestServer};
use jiff::civil::Date;
use reqwest::{header, StatusCode};
use serde_json::json;

const ZONE: &str = "Europe/Paris";
/// Long enough for the page's CSRF check (at least 32 characters).
const CSRF: &str = "grid-test-csrf-token-0123456789abcdef";

/// Tomorrow in the practices' zone: every hour of it is still ahead.
fn tomorrow() -> Date {
    jiff::Timestamp::now()
        .in_tz(ZONE)
        .expect("zone")
        .date()
        .tomorrow()
        .expect("date")
}

/// `hh:mm` on `day` in the practices' zone, as an RFC 3339 instant.
fn at(day: Date, h: i8, m: i8) -> String {
    day.at(h, m, 0, 0)
        .in_tz(ZONE)
        .expect("local time")
        .timestamp()
        .to_string()
}

/// A page of the web app as the account of `token` sees it (the session cookie is the API
/// token), in English.
async fn page(srv: &TestServer, token: &str, path: &str) -> (StatusCode, String) {
    let resp = reqwest::Client::new()
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

/// A form posted from a page of the web app; returns the status, `Location` and body.
async fn post_form(
    srv: &TestServer,
    token: &str,
    path: &str,
    fields: &[(&str, &str)],
) -> (StatusCode, String, String) {
    let mut body = form_urlencoded::Serializer::new(String::new());
    for (k, v) in fields {
        body.append_pair(k, v);
    }
    body.append_pair("csrf", CSRF);
    let resp = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
        .post(format!("{}{path}", srv.base))
        .header(
            header::COOKIE,
            format!("careslot_session={token}; careslot_csrf={CSRF}"),
        )
        .header(header::ACCEPT_LANGUAGE, "en")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(body.finish())
        .send()
        .await
        .expect("post");
    let status = resp.status();
    let location = resp
        .headers()
        .get(header::LOCATION)
        .and_then(|l| l.to_str().ok())
        .unwrap_or("")
        .to_owned();
    (status, location, resp.text().await.expect("body"))
}

/// A second place and agenda of the practitioner of `p`, open 08:00–18:00 every day.
async fn second_agenda(srv: &TestServer, p: &Practice) -> Practice {
    let t = Some(p.token.as_str());
    let (s, place) = srv
        .post(
            "/api/v1/places",
            t,
            json!({"name": "Annexe", "address": "3 quai Saint-Antoine", "postcode": "69002", "city": "Lyon",
                   "country": "FR", "lat": 45.7640, "lon": 4.8357, "timezone": ZONE}),
        )
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
    let agenda_id = agenda["id"].as_str().expect("agenda id").to_owned();
    let (s, motive) = srv
        .post(
            &format!("/api/v1/agendas/{agenda_id}/motives"),
            t,
            json!({"name": "Suivi", "duration_min": 30, "capacity": 1}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{motive}");
    let motive_id = motive["id"].as_str().expect("motive id").to_owned();
    let (s, rule) = srv
        .post(
            &format!("/api/v1/agendas/{agenda_id}/opening-rules"),
            t,
            json!({"weekdays": [1, 2, 3, 4, 5, 6, 7], "start": "08:00", "end": "18:00", "motive_ids": [motive_id]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{rule}");
    Practice {
        token: p.token.clone(),
        practitioner_id: p.practitioner_id.clone(),
        agenda_id,
        motive_id,
    }
}

/// A patient account booking `start` in `p`; returns the appointment id.
async fn booked_by(srv: &TestServer, name: &str, p: &Practice, start: &str) -> String {
    let (patient, _) = srv.account("patient", name).await;
    let (s, b) = srv
        .post(
            "/api/v1/appointments",
            Some(&patient),
            json!({"agenda_id": p.agenda_id, "motive_id": p.motive_id, "start": start}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    b["id"].as_str().expect("id").to_owned()
}

/// The `<li>` of the grid item whose text contains `needle`.
fn item_of<'a>(html: &'a str, needle: &str) -> &'a str {
    let at = html
        .find(needle)
        .unwrap_or_else(|| panic!("{needle} not on the page"));
    let from = html[..at].rfind("<li class=\"tg-item").expect("item start");
    let to = html[at..].find("</li>").map(|e| at + e).expect("item end");
    &html[from..to]
}

/// Its grid rows: 5 minutes each, the first at 08:00 (the grid's default window).
fn rows(from: (i32, i32), to: (i32, i32)) -> String {
    let row = |(h, m): (i32, i32)| 1 + (h * 60 + m - 8 * 60) / 5;
    format!("gs-{} ge-{}", row(from), row(to))
}

/// The start of appointment `id` as the practice's API reports it.
async fn start_of(srv: &TestServer, p: &Practice, day: Date, id: &str) -> String {
    let (s, b) = srv
        .get(
            &format!(
                "/api/v1/agendas/{}/appointments?from={day}&to={day}",
                p.agenda_id
            ),
            Some(&p.token),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    b["appointments"]
        .as_array()
        .expect("appointments")
        .iter()
        .find(|a| a["id"] == id)
        .map(|a| a["start"].as_str().unwrap_or("").to_owned())
        .unwrap_or_default()
}

async fn the_grid_shows_the_practice_side_by_side(backend: common::Backend) {
    let (srv, _loc) = start(backend).await;
    let day = tomorrow();
    let cabinet = srv.practice("Dr Grille", 30, 1).await;
    let annexe = second_agenda(&srv, &cabinet).await;
    let other = srv.practice("Dr Ailleurs", 30, 1).await;

    booked_by(&srv, "Paula Patient", &cabinet, &at(day, 10, 0)).await;
    booked_by(&srv, "Bernard Elsewhere", &other, &at(day, 10, 0)).await;
    // Booked on the phone, in the other agenda, with a number for the day list.
    let (s, b) = srv
        .post(
            "/api/v1/practitioner/appointments",
            Some(&cabinet.token),
            json!({"agenda_id": annexe.agenda_id, "motive_id": annexe.motive_id, "start": at(day, 12, 0),
                   "patient": {"name": "Marcel Phone", "phone": "+33 6 12 34 56 78"}}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    // A patient halfway through booking the annexe at 09:00.
    let (holder, _) = srv.account("patient", "Helen Hold").await;
    let (s, b) = srv
        .post(
            "/api/v1/holds",
            Some(&holder),
            json!({"agenda_id": annexe.agenda_id, "motive_id": annexe.motive_id, "start": at(day, 9, 0)}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let (s, b) = srv
        .post(
            &format!("/api/v1/agendas/{}/absences", cabinet.agenda_id),
            Some(&cabinet.token),
            json!({"start": at(day, 14, 0), "end": at(day, 15, 0), "reason": "Formation continue"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");

    // The whole practice: both agendas side by side.
    let (s, html) = page(&srv, &cabinet.token, &format!("/pro/grid?date={day}")).await;
    assert_eq!(s, StatusCode::OK, "{html}");
    assert!(html.contains("Cabinet — Paris") && html.contains("Annexe — Lyon"));
    assert_eq!(html.matches("<section class=\"tg-col").count(), 2);
    let paula = item_of(&html, "Paula Patient");
    assert!(paula.contains(&rows((10, 0), (10, 30))), "{paula}");
    assert!(paula.contains("Confirmed"), "the state in words: {paula}");
    assert!(paula.contains("/pro/grid/move/"), "movable: {paula}");
    let marcel = item_of(&html, "Marcel Phone");
    assert!(marcel.contains(&rows((12, 0), (12, 30))), "{marcel}");
    let hold = item_of(&html, "Being booked");
    assert!(hold.contains(&rows((9, 0), (9, 30))), "{hold}");
    let absence = item_of(&html, "Formation continue");
    assert!(absence.contains(&rows((14, 0), (15, 0))), "{absence}");
    assert!(absence.contains("Away"), "{absence}");
    // Free slots link to the phone booking at their time.
    let free = item_of(&html, "Book a patient");
    assert!(
        free.contains(&format!(
            "/pro/agenda/book?agenda={}&#38;motive={}&#38;start=",
            cabinet.agenda_id, cabinet.motive_id
        )) || free.contains(&annexe.agenda_id),
        "{free}"
    );
    // Each item in its agenda's column.
    let annexe_col = html
        .split("<section class=\"tg-col")
        .find(|c| c.contains(&format!("data-agenda=\"{}\"", annexe.agenda_id)))
        .expect("annexe column");
    assert!(annexe_col.contains("Marcel Phone") && annexe_col.contains("Being booked"));
    assert!(!annexe_col.contains("Paula Patient"));
    // Nothing of another practice.
    assert!(!html.contains("Bernard Elsewhere"));
    assert!(!html.contains(&other.agenda_id));

    // One agenda only.
    let (s, html) = page(
        &srv,
        &cabinet.token,
        &format!("/pro/grid?date={day}&agenda={}", annexe.agenda_id),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(html.matches("<section class=\"tg-col").count(), 1);
    assert!(html.contains("Marcel Phone") && !html.contains("Paula Patient"));
    // Another practice's agenda is not found.
    let (s, _) = page(
        &srv,
        &cabinet.token,
        &format!("/pro/grid?date={day}&agenda={}", other.agenda_id),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // The week: seven days of two agendas.
    let (s, html) = page(
        &srv,
        &cabinet.token,
        &format!("/pro/grid?date={day}&view=week"),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(html.matches("<section class=\"tg-col").count(), 14);
    assert!(html.contains("Paula Patient") && html.contains("Marcel Phone"));

    // The printable day list: in time order, with the phone.
    let (s, html) = page(
        &srv,
        &cabinet.token,
        &format!("/pro/grid?date={day}&print=1"),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let (p, m) = (
        html.find("Paula Patient").expect("Paula listed"),
        html.find("Marcel Phone").expect("Marcel listed"),
    );
    assert!(p < m, "time order");
    assert!(
        html.contains("+33 6 12 34 56 78") || html.contains("+33612345678"),
        "the phone on the list"
    );
    assert!(!html.contains("Bernard Elsewhere"));

    // The other practice sees only its own.
    let (s, html) = page(&srv, &other.token, &format!("/pro/grid?date={day}")).await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains("Bernard Elsewhere"));
    assert!(!html.contains("Paula Patient") && !html.contains("Marcel Phone"));
    srv.stop().await;
}

async fn moving_through_the_grid_form(backend: common::Backend) {
    let (srv, _loc) = start(backend).await;
    let day = tomorrow();
    let cabinet = srv.practice("Dr Déplace", 30, 1).await;
    let other = srv.practice("Dr Voisin", 30, 1).await;
    let paula = booked_by(&srv, "Paula Move", &cabinet, &at(day, 10, 0)).await;
    booked_by(&srv, "Quentin Stay", &cabinet, &at(day, 11, 0)).await;
    let back = format!("/pro/grid?date={day}");
    let path = format!("/pro/grid/move/{paula}");

    // The form, with the appointment's date and time.
    let (s, html) = page(&srv, &cabinet.token, &format!("{path}?back={back}")).await;
    assert_eq!(s, StatusCode::OK, "{html}");
    assert!(html.contains(&format!("value=\"{day}\"")) && html.contains("value=\"10:00\""));

    // An occupied time: refused, said plainly, nothing changes.
    let (s, _, html) = post_form(
        &srv,
        &cabinet.token,
        &path,
        &[
            ("date", &day.to_string()),
            ("time", "11:00"),
            ("back", &back),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert!(html.contains("This time is already taken"), "{html}");
    assert!(start_of(&srv, &cabinet, day, &paula)
        .await
        .contains("T10:00:00"));
    // Outside the opening hours: refused too.
    let (s, _, html) = post_form(
        &srv,
        &cabinet.token,
        &path,
        &[
            ("date", &day.to_string()),
            ("time", "19:00"),
            ("back", &back),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert!(
        html.contains("No slot of this reason starts at this time"),
        "{html}"
    );

    // Another practice cannot move it.
    let (s, _, _) = post_form(
        &srv,
        &other.token,
        &path,
        &[
            ("date", &day.to_string()),
            ("time", "12:30"),
            ("back", &back),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert!(start_of(&srv, &cabinet, day, &paula)
        .await
        .contains("T10:00:00"));

    // A free time: moved, back to the grid, where it now sits.
    let (s, location, _) = post_form(
        &srv,
        &cabinet.token,
        &path,
        &[
            ("date", &day.to_string()),
            ("time", "12:30"),
            ("back", &back),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    assert_eq!(location, back);
    assert!(start_of(&srv, &cabinet, day, &paula)
        .await
        .contains("T12:30:00"));
    let (_, html) = page(&srv, &cabinet.token, &back).await;
    assert!(item_of(&html, "Paula Move").contains(&rows((12, 30), (13, 0))));
    srv.stop().await;
}

/// The (start, end) of appointment `id` as the practice's API reports them.
async fn times_of(srv: &TestServer, p: &Practice, day: Date, id: &str) -> (String, String) {
    let (s, b) = srv
        .get(
            &format!(
                "/api/v1/agendas/{}/appointments?from={day}&to={day}",
                p.agenda_id
            ),
            Some(&p.token),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let a = b["appointments"]
        .as_array()
        .expect("appointments")
        .iter()
        .find(|a| a["id"] == id)
        .cloned()
        .unwrap_or_default();
    (
        a["start"].as_str().unwrap_or("").to_owned(),
        a["end"].as_str().unwrap_or("").to_owned(),
    )
}

/// The local `HH:MM` starts of the slots the public API offers on `day`.
async fn free_times(srv: &TestServer, p: &Practice, day: Date) -> Vec<String> {
    let (s, b) = srv
        .get(
            &format!(
                "/api/v1/agendas/{}/slots?motive_id={}&from={day}&to={day}",
                p.agenda_id, p.motive_id
            ),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    b["slots"]
        .as_array()
        .expect("slots")
        .iter()
        .filter_map(|x| x["start"].as_str())
        .filter_map(|t| t.split('T').nth(1).map(|h| h[..5].to_owned()))
        .collect()
}

async fn resizing_through_the_grid_form(backend: common::Backend) {
    let (srv, _loc) = start(backend).await;
    let day = tomorrow();
    let cabinet = srv.practice("Dr Durée", 30, 1).await;
    let other = srv.practice("Dr Voisine", 30, 1).await;
    let paula = booked_by(&srv, "Paula Longer", &cabinet, &at(day, 10, 0)).await;
    let quentin = booked_by(&srv, "Quentin After", &cabinet, &at(day, 11, 0)).await;
    let back = format!("/pro/grid?date={day}");
    let path = format!("/pro/grid/resize/{paula}");
    let resize = |who: &'static str, minutes: &'static str| {
        let (srv, back) = (&srv, back.clone());
        let token = if who == "other" {
            other.token.clone()
        } else {
            cabinet.token.clone()
        };
        let path = if who == "quentin" {
            format!("/pro/grid/resize/{quentin}")
        } else {
            path.clone()
        };
        async move { post_form(srv, &token, &path, &[("minutes", minutes), ("back", &back)]).await }
    };

    // The grid offers it; the form gives the length now.
    let (_, html) = page(&srv, &cabinet.token, &back).await;
    let item = item_of(&html, "Paula Longer");
    assert!(item.contains(&path), "{item}");
    assert!(item.contains("data-minutes=\"30\""), "{item}");
    let (s, html) = page(&srv, &cabinet.token, &format!("{path}?back={back}")).await;
    assert_eq!(s, StatusCode::OK, "{html}");
    assert!(html.contains("value=\"30\""), "{html}");
    assert!(free_times(&srv, &cabinet, day)
        .await
        .contains(&"10:30".to_owned()));

    // Into Quentin's time: the database refuses the overlap; nothing changes.
    let (s, _, html) = resize("paula", "90").await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert!(html.contains("This time is already taken"), "{html}");
    let (start, end) = times_of(&srv, &cabinet, day, &paula).await;
    assert!(
        start.contains("T10:00:00") && end.contains("T10:30:00"),
        "{start} {end}"
    );
    // Past the closing time, or not a length at all: refused too.
    let (s, _, html) = resize("quentin", "480").await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert!(
        html.contains("This length goes past the opening hours"),
        "{html}"
    );
    let (s, _, html) = resize("paula", "7").await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert!(html.contains("Give a length of 5 to 480 minutes"), "{html}");
    // Another practice cannot.
    let (s, _, _) = resize("other", "60").await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // Into free time: 10:00–11:00, back on the grid over twelve rows; 10:30 is no longer
    // offered.
    let (s, location, _) = resize("paula", "60").await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    assert_eq!(location, back);
    let (start, end) = times_of(&srv, &cabinet, day, &paula).await;
    assert!(
        start.contains("T10:00:00") && end.contains("T11:00:00"),
        "{start} {end}"
    );
    let (_, html) = page(&srv, &cabinet.token, &back).await;
    assert!(item_of(&html, "Paula Longer").contains(&rows((10, 0), (11, 0))));
    let free = free_times(&srv, &cabinet, day).await;
    assert!(
        !free.contains(&"10:00".to_owned()) && !free.contains(&"10:30".to_owned()),
        "{free:?}"
    );
    assert!(
        free.contains(&"09:30".to_owned()) && free.contains(&"11:30".to_owned()),
        "{free:?}"
    );

    // Its own length goes with it when it moves; shortened again, the time is offered again.
    let (s, _, html) = post_form(
        &srv,
        &cabinet.token,
        &format!("/pro/grid/move/{paula}"),
        &[
            ("date", &day.to_string()),
            ("time", "14:00"),
            ("back", &back),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::SEE_OTHER, "{html}");
    let (start, end) = times_of(&srv, &cabinet, day, &paula).await;
    assert!(
        start.contains("T14:00:00") && end.contains("T15:00:00"),
        "{start} {end}"
    );
    let (s, _, _) = resize("paula", "30").await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let free = free_times(&srv, &cabinet, day).await;
    assert!(
        free.contains(&"14:30".to_owned()) && !free.contains(&"14:00".to_owned()),
        "{free:?}"
    );
    srv.stop().await;
}

on_both_backends!(
    the_grid_shows_the_practice_side_by_side,
    moving_through_the_grid_form,
    resizing_through_the_grid_form,
);
