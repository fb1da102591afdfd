//! Default dose stock (issue 17 point 4) over real HTTP, on SQLite and PostgreSQL: the
//! `stock-policy` endpoint, the week editor of the desk (a form that works without
//! JavaScript), overrides, closed days, and bookings kept when the policy goes down.

mod common;

use common::{start, Backend, TestServer};
use jiff::civil::Date;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

struct Centre {
    token: String,
    agenda: String,
    dose1: String,
    dose2: String,
}

async fn centre(srv: &TestServer) -> Centre {
    let (token, _) = srv.account("practitioner", "Centre Politique").await;
    let t = Some(token.as_str());
    let (s, _) = srv
        .call(
            Method::PUT,
            "/api/v1/practitioner/profile",
            t,
            Some(json!({"name": "Centre de vaccination Politique", "specialty": "vaccination-center"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, place) = srv
        .post("/api/v1/places", t, json!({"name": "Centre", "address": "1 place Bellecour", "postcode": "69002", "city": "Lyon",
              "country": "FR", "lat": 45.7578, "lon": 4.8320, "timezone": "Europe/Paris"}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{place}");
    let (_, agenda) = srv
        .post(
            "/api/v1/agendas",
            t,
            json!({"place_id": place["id"], "holidays": null}),
        )
        .await;
    let agenda = agenda["id"].as_str().unwrap().to_owned();
    let (s, d2) = srv
        .post(&format!("/api/v1/agendas/{agenda}/motives"), t,
              json!({"name": "Comirnaty dose 2", "duration_min": 10, "capacity": 2, "vaccine": {"product": "comirnaty", "dose": 2}}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{d2}");
    let dose2 = d2["id"].as_str().unwrap().to_owned();
    let (s, d1) = srv
        .post(&format!("/api/v1/agendas/{agenda}/motives"), t,
              json!({"name": "Comirnaty dose 1", "duration_min": 10, "capacity": 2,
                     "vaccine": {"product": "comirnaty", "dose": 1, "next_dose": {"motive_id": dose2, "min_days": 21, "max_days": 42}}}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{d1}");
    let dose1 = d1["id"].as_str().unwrap().to_owned();
    let (s, rule) = srv
        .post(&format!("/api/v1/agendas/{agenda}/opening-rules"), t,
              json!({"weekdays": [1,2,3,4,5,6,7], "start": "08:00", "end": "18:00", "motive_ids": [dose1, dose2]}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{rule}");
    Centre {
        token,
        agenda,
        dose1,
        dose2,
    }
}

fn today() -> Date {
    jiff::Zoned::now()
        .with_time_zone(jiff::tz::TimeZone::get("Europe/Paris").unwrap())
        .date()
}

fn plus(d: Date, days: i64) -> Date {
    d.checked_add(jiff::Span::new().days(days)).unwrap()
}

/// The Monday after today: its whole week is in the future, whatever day the test runs.
fn next_monday() -> Date {
    let t = today();
    plus(t, 7 - i64::from(t.weekday().to_monday_zero_offset()))
}

async fn policy(srv: &TestServer, c: &Centre, doses: Value) -> (StatusCode, Value) {
    srv.call(
        Method::PUT,
        &format!("/api/v1/agendas/{}/stock-policy", c.agenda),
        Some(&c.token),
        Some(json!({"product": "comirnaty", "doses": doses})),
    )
    .await
}

async fn slots(srv: &TestServer, c: &Centre, day: Date) -> Vec<Value> {
    let (s, body) = srv
        .get(
            &format!(
                "/api/v1/agendas/{}/slots?motive_id={}&from={day}&to={day}",
                c.agenda, c.dose1
            ),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    body["slots"].as_array().unwrap().clone()
}

async fn day_report(srv: &TestServer, c: &Centre, day: Date) -> Value {
    let (s, body) = srv
        .get(
            &format!(
                "/api/v1/agendas/{}/vaccination/days?from={day}&to={day}",
                c.agenda
            ),
            Some(&c.token),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    body["days"][0].clone()
}

/// Books dose 1 at the `i`th slot of `day` with a dose 2 in the protocol's window.
async fn book(srv: &TestServer, c: &Centre, patient: &str, day: Date, i: usize) -> StatusCode {
    let d1 = slots(srv, c, day)
        .await
        .get(i)
        .map(|s| s["start"].as_str().unwrap().to_owned())
        .unwrap_or_else(|| format!("{day}T10:{:02}:00+01:00", i * 10));
    let d2 = format!("{}T{}", plus(day, 28), &d1[11..]);
    let (s, _) = srv
        .post(
            "/api/v1/vaccination/bookings",
            Some(patient),
            json!({"dose1": {"agenda_id": c.agenda, "motive_id": c.dose1, "start": d1},
                   "dose2": {"agenda_id": c.agenda, "motive_id": c.dose2, "start": d2}}),
        )
        .await;
    s
}

/// The desk's forms, as a browser without JavaScript sends them.
struct Desk {
    web: reqwest::Client,
    base: String,
    cookies: String,
    csrf: String,
}

impl Desk {
    fn new(srv: &TestServer, token: &str) -> Self {
        let csrf = "s".repeat(40);
        Desk {
            web: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base: srv.base.clone(),
            cookies: format!("careslot_session={token}; careslot_csrf={csrf}"),
            csrf,
        }
    }

    async fn page(&self, path: &str) -> (StatusCode, String) {
        let r = self
            .web
            .get(format!("{}{path}", self.base))
            .header("cookie", &self.cookies)
            .header("accept-language", "fr")
            .send()
            .await
            .unwrap();
        (r.status(), r.text().await.unwrap())
    }

    async fn post(&self, path: &str, fields: &[(&str, String)]) -> (StatusCode, String) {
        let mut form: Vec<(&str, String)> = vec![("csrf", self.csrf.clone())];
        form.extend(fields.iter().cloned());
        let r = self
            .web
            .post(format!("{}{path}", self.base))
            .header("cookie", &self.cookies)
            .form(&form)
            .send()
            .await
            .unwrap();
        (r.status(), r.text().await.unwrap())
    }
}

async fn policy_overrides_and_the_week_editor(backend: Backend) {
    let (srv, _loc) = start(backend).await;
    let c = centre(&srv).await;
    let mon = next_monday();
    let (tue, wed) = (plus(mon, 1), plus(mon, 2));

    // No stock, no policy: nothing offered.
    assert!(slots(&srv, &c, mon).await.is_empty(), "no stock, no slots");

    // Invalid policies are refused; someone else's agenda is not found.
    let (s, body) = policy(&srv, &c, json!(-1)).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (s, body) = srv
        .call(
            Method::PUT,
            &format!("/api/v1/agendas/{}/stock-policy", c.agenda),
            Some(&c.token),
            Some(json!({"product": "sputnik", "doses": 3})),
        )
        .await;
    assert!(
        s == StatusCode::UNPROCESSABLE_ENTITY || s == StatusCode::BAD_REQUEST,
        "{s} {body}"
    );
    let (other, _) = srv.account("practitioner", "Autre Centre").await;
    let (s, _) = srv
        .call(
            Method::PUT,
            "/api/v1/practitioner/profile",
            Some(&other),
            Some(json!({"name": "Autre centre", "specialty": "vaccination-center"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = srv
        .call(
            Method::PUT,
            &format!("/api/v1/agendas/{}/stock-policy", c.agenda),
            Some(&other),
            Some(json!({"product": "comirnaty", "doses": 3})),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // A policy of 3: every opening day offers slots without a stock of its own.
    let (s, body) = policy(&srv, &c, json!(3)).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body, json!({"product": "comirnaty", "doses": 3}));
    for d in 0..7 {
        assert!(!slots(&srv, &c, plus(mon, d)).await.is_empty(), "day {d}");
    }
    let r = day_report(&srv, &c, mon).await;
    assert_eq!(
        (r["doses"].clone(), r["policy"].clone()),
        (json!(3), json!(3)),
        "{r}"
    );
    assert!(r.get("explicit").is_none(), "{r}");

    // Three doses on Monday, then the day is full.
    let (patient, _) = srv.account("patient", "Patiente Politique").await;
    for i in 0..3 {
        assert_eq!(
            book(&srv, &c, &patient, mon, i).await,
            StatusCode::CREATED,
            "dose {i}"
        );
    }
    assert!(
        slots(&srv, &c, mon).await.is_empty(),
        "the policy's doses are booked"
    );
    assert_eq!(book(&srv, &c, &patient, mon, 5).await, StatusCode::CONFLICT);

    // Lowering the policy keeps Monday's bookings (the day stays full); other days follow.
    let (s, _) = policy(&srv, &c, json!(1)).await;
    assert_eq!(s, StatusCode::OK);
    let r = day_report(&srv, &c, mon).await;
    assert_eq!(
        (r["doses"].clone(), r["booked"].clone()),
        (json!(3), json!(3)),
        "{r}"
    );
    assert_eq!(day_report(&srv, &c, tue).await["doses"], 1);

    // The week editor: the policy as placeholder, one form for the week.
    let desk = Desk::new(&srv, &c.token);
    let (s, html) = desk
        .page(&format!("/pro/stock?agenda={}&week={tue}", c.agenda))
        .await;
    assert_eq!(s, StatusCode::OK, "{html}");
    assert!(
        html.contains(&format!("name=\"d:comirnaty:{wed}\"")),
        "{html}"
    );
    assert!(
        html.contains("placeholder=\"1\""),
        "the policy shows as placeholder"
    );
    assert!(html.contains("Stock de la semaine"), "in French");
    assert!(
        html.contains(&format!("week={}", plus(mon, 7))),
        "next week link"
    );
    assert!(
        html.contains(&format!("week={}", plus(mon, -7))),
        "previous week link"
    );

    // One day below its bookings: the whole week is refused, nothing changes.
    let (s, html) = desk
        .post(
            "/pro/stock/week",
            &[
                ("agenda", c.agenda.clone()),
                ("week", mon.to_string()),
                (&*format!("d:comirnaty:{tue}"), "0".into()),
                (&*format!("d:comirnaty:{mon}"), "2".into()),
            ],
        )
        .await;
    assert_eq!(s, StatusCode::OK, "refusal shown on the page");
    assert!(html.contains("role=\"alert\""), "{html}");
    assert!(!slots(&srv, &c, tue).await.is_empty(), "Tuesday untouched");

    // Tuesday closed, Wednesday at 5, Monday back to the policy (empty box).
    let (s, _) = desk
        .post(
            "/pro/stock/week",
            &[
                ("agenda", c.agenda.clone()),
                ("week", mon.to_string()),
                (&*format!("d:comirnaty:{mon}"), String::new()),
                (&*format!("d:comirnaty:{tue}"), "0".into()),
                (&*format!("d:comirnaty:{wed}"), "5".into()),
            ],
        )
        .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    assert!(slots(&srv, &c, tue).await.is_empty(), "0 closes the day");
    let r = day_report(&srv, &c, wed).await;
    assert_eq!(
        (r["doses"].clone(), r["explicit"].clone()),
        (json!(5), json!(5)),
        "{r}"
    );
    let r = day_report(&srv, &c, mon).await;
    assert_eq!(
        (r["doses"].clone(), r["booked"].clone()),
        (json!(3), json!(3)),
        "{r}"
    );
    let (_, html) = desk
        .page(&format!("/pro/stock?agenda={}&week={mon}", c.agenda))
        .await;
    assert!(html.contains(&format!("name=\"d:comirnaty:{wed}\" type=\"number\" inputmode=\"numeric\" min=\"0\" max=\"1000000\" value=\"5\"")), "{html}");

    // The policy form: raising it reopens Monday; clearing it leaves only the overrides.
    let (s, _) = desk
        .post(
            "/pro/stock/policy",
            &[
                ("agenda", c.agenda.clone()),
                ("week", mon.to_string()),
                ("p:comirnaty", "4".into()),
            ],
        )
        .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    assert_eq!(
        book(&srv, &c, &patient, mon, 6).await,
        StatusCode::CREATED,
        "a fourth dose"
    );
    let (s, _) = desk
        .post(
            "/pro/stock/policy",
            &[
                ("agenda", c.agenda.clone()),
                ("week", mon.to_string()),
                ("p:comirnaty", String::new()),
            ],
        )
        .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    assert!(
        slots(&srv, &c, plus(mon, 3)).await.is_empty(),
        "no policy, no stock"
    );
    assert!(!slots(&srv, &c, wed).await.is_empty(), "the override stays");
    srv.stop().await;
}

on_both_backends!(policy_overrides_and_the_week_editor);
