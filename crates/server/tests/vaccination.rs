//! Mass vaccination over real HTTP, on SQLite and PostgreSQL: a 2-line centre, dose 1 and
//! dose 2 booked together or not at all, the protocol's window, dose stock.

mod common;

use common::{start, start_configured, Backend, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

struct Centre {
    token: String,
    agenda: String,
    dose1: String,
    dose2: String,
}

async fn centre(srv: &TestServer, lines: i64) -> Centre {
    let (token, _) = srv.account("practitioner", "Centre Vaccination").await;
    let t = Some(token.as_str());
    let (s, _) = srv
        .call(
            Method::PUT,
            "/api/v1/practitioner/profile",
            t,
            Some(json!({"name": "Centre de vaccination Test", "specialty": "vaccination-center"})),
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
              json!({"name": "Comirnaty dose 2", "duration_min": 10, "capacity": lines, "vaccine": {"product": "comirnaty", "dose": 2}}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{d2}");
    let dose2 = d2["id"].as_str().unwrap().to_owned();
    let (s, d1) = srv
        .post(&format!("/api/v1/agendas/{agenda}/motives"), t,
              json!({"name": "Comirnaty dose 1", "duration_min": 10, "capacity": lines,
                     "vaccine": {"product": "comirnaty", "dose": 1, "next_dose": {"motive_id": dose2, "min_days": 21, "max_days": 42}}}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{d1}");
    assert_eq!(d1["vaccine"]["next_dose"]["max_days"], 42);
    let dose1 = d1["id"].as_str().unwrap().to_owned();
    // An interval other than the protocol's is refused.
    let (s, _) = srv
        .post(&format!("/api/v1/agendas/{agenda}/motives"), t,
              json!({"name": "x", "duration_min": 10, "vaccine": {"product": "comirnaty", "dose": 1, "next_dose": {"motive_id": dose2, "min_days": 7, "max_days": 42}}}))
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
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

/// A server whose operator token is returned with it.
async fn with_operator(backend: Backend) -> (TestServer, common::DataLocation, String) {
    let token = careslot_vault::SecretToken::generate();
    let op = token.expose().to_owned();
    let config = careslot_server::services::AppConfig {
        operator_token: Some(std::sync::Arc::new(token)),
        ..Default::default()
    };
    let (srv, loc) = start_configured(backend, config).await;
    (srv, loc, op)
}

fn day(offset: i64) -> String {
    jiff::Zoned::now()
        .with_time_zone(jiff::tz::TimeZone::get("Europe/Paris").unwrap())
        .date()
        .checked_add(jiff::Span::new().days(offset))
        .unwrap()
        .to_string()
}

async fn stock(srv: &TestServer, c: &Centre, day: &str, doses: i64) -> (StatusCode, Value) {
    srv.call(
        Method::PUT,
        &format!("/api/v1/agendas/{}/stock", c.agenda),
        Some(&c.token),
        Some(json!({"product": "comirnaty", "day": day, "doses": doses})),
    )
    .await
}

async fn slots(srv: &TestServer, c: &Centre, motive: &str, from: &str, to: &str) -> Vec<Value> {
    let (s, body) = srv
        .get(
            &format!(
                "/api/v1/agendas/{}/slots?motive_id={motive}&from={from}&to={to}",
                c.agenda
            ),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    body["slots"].as_array().unwrap().clone()
}

async fn second_slots(srv: &TestServer, c: &Centre, start: &str) -> Vec<Value> {
    let q = format!(
        "/api/v1/vaccination/second-dose-slots?agenda_id={}&motive_id={}&start={}",
        c.agenda,
        c.dose1,
        urlencode(start)
    );
    let (s, body) = srv.get(&q, None).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["motive_id"], c.dose2.as_str());
    body["slots"].as_array().unwrap().clone()
}

fn urlencode(s: &str) -> String {
    s.replace('+', "%2B").replace(':', "%3A")
}

fn pair(c: &Centre, d1: &str, d2: &str) -> Value {
    json!({"dose1": {"agenda_id": c.agenda, "motive_id": c.dose1, "start": d1},
           "dose2": {"agenda_id": c.agenda, "motive_id": c.dose2, "start": d2}})
}

async fn mine(srv: &TestServer, token: &str) -> Vec<Value> {
    let (s, body) = srv.get("/api/v1/appointments", Some(token)).await;
    assert_eq!(s, StatusCode::OK);
    body["appointments"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["status"] == "booked")
        .cloned()
        .collect()
}

async fn thirty_patients_race_for_two_lines(backend: Backend) {
    let (srv, _loc) = start(backend).await;
    let c = centre(&srv, 2).await;
    for d in 1..=45 {
        let (s, body) = stock(&srv, &c, &day(d), 500).await;
        assert_eq!(s, StatusCode::OK, "{body}");
    }
    let first = slots(&srv, &c, &c.dose1, &day(1), &day(1)).await;
    let d1 = first[0]["start"].as_str().unwrap().to_owned();
    let seconds = second_slots(&srv, &c, &d1).await;
    assert!(seconds.len() >= 30, "dose-2 slots in the window");
    // Every proposal is 21 to 42 days after dose 1.
    let d1_day: jiff::civil::Date = d1[..10].parse().unwrap();
    for s in &seconds {
        let d: jiff::civil::Date = s["start"].as_str().unwrap()[..10].parse().unwrap();
        let days = (d - d1_day).get_days();
        assert!((21..=42).contains(&days), "{days}");
    }

    let mut patients = Vec::new();
    for i in 0..30 {
        patients.push(srv.account("patient", &format!("Patient {i}")).await.0);
    }
    let tasks: Vec<_> = patients
        .iter()
        .enumerate()
        .map(|(i, token)| {
            let body = pair(&c, &d1, seconds[i]["start"].as_str().unwrap());
            let client = srv.client.clone();
            let url = format!("{}/api/v1/vaccination/bookings", srv.base);
            let token = token.clone();
            tokio::spawn(async move {
                let r = client
                    .post(url)
                    .bearer_auth(token)
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                let status = r.status();
                (status, r.json::<Value>().await.unwrap())
            })
        })
        .collect();
    let mut ok = 0;
    for (i, t) in tasks.into_iter().enumerate() {
        let (status, body) = t.await.unwrap();
        let booked = mine(&srv, &patients[i]).await;
        match status {
            StatusCode::CREATED => {
                ok += 1;
                assert_eq!(body["appointments"].as_array().unwrap().len(), 2, "{body}");
                assert_eq!(booked.len(), 2, "both doses booked");
            }
            StatusCode::CONFLICT => {
                assert!(booked.is_empty(), "a loser has nothing booked: {booked:?}")
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!(ok, 2, "two lines, two winners");
    // The dose-1 start is full; the losers' dose-2 choices are still free.
    let after = slots(&srv, &c, &c.dose1, &day(1), &day(1)).await;
    assert!(after.iter().all(|s| s["start"] != d1.as_str()));
    let seconds_after = second_slots(&srv, &c, &d1).await;
    let left: i64 = seconds_after
        .iter()
        .take(30)
        .map(|s| s["remaining"].as_i64().unwrap())
        .sum();
    assert_eq!(
        left,
        30 * 2 - 2,
        "only the winners' dose-2 places are taken"
    );
    srv.stop().await;
}

async fn window_stock_and_cancellation(backend: Backend) {
    let (srv, _loc) = start(backend).await;
    let c = centre(&srv, 2).await;
    let (patient, _) = srv.account("patient", "Paula").await;
    let (other, _) = srv.account("patient", "Omar").await;
    // No stock yet: no slot is offered, and booking is refused.
    assert!(
        slots(&srv, &c, &c.dose1, &day(1), &day(3)).await.is_empty(),
        "no stock, no slots"
    );
    for d in 1..=45 {
        stock(&srv, &c, &day(d), 100).await;
    }
    let first = slots(&srv, &c, &c.dose1, &day(2), &day(2)).await;
    let d1 = first[0]["start"].as_str().unwrap().to_owned();
    let seconds = second_slots(&srv, &c, &d1).await;

    // Dose 2 outside the window: 422, nothing booked.
    let too_soon = slots(&srv, &c, &c.dose2, &day(10), &day(10)).await;
    let (s, body) = srv
        .post(
            "/api/v1/vaccination/bookings",
            Some(&patient),
            pair(&c, &d1, too_soon[0]["start"].as_str().unwrap()),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("21 to 42 days"),
        "{body}"
    );
    assert!(mine(&srv, &patient).await.is_empty());
    // Dose 1 alone for a two-dose vaccine: 422.
    let (s, _) = srv
        .post(
            "/api/v1/vaccination/bookings",
            Some(&patient),
            json!({"dose1": {"agenda_id": c.agenda, "motive_id": c.dose1, "start": d1}}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    // The ordinary booking endpoint refuses vaccination motives.
    let (s, _) = srv
        .post(
            "/api/v1/appointments",
            Some(&patient),
            json!({"agenda_id": c.agenda, "motive_id": c.dose1, "start": d1}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);

    // Stock: one dose left on the dose-2 day of the pair below.
    let d2 = seconds[0]["start"].as_str().unwrap().to_owned();
    let d2_day = d2[..10].to_owned();
    let (s, _) = stock(&srv, &c, &d2_day, 1).await;
    assert_eq!(s, StatusCode::OK);
    let (s, body) = srv
        .post(
            "/api/v1/vaccination/bookings",
            Some(&patient),
            pair(&c, &d1, &d2),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    let appointments = body["appointments"].as_array().unwrap().clone();
    // The stock cannot go below what is booked; that day has no slot left now.
    let (s, _) = stock(&srv, &c, &d2_day, 0).await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert!(
        slots(&srv, &c, &c.dose2, &d2_day, &d2_day).await.is_empty(),
        "stock exhausted: no slot that day"
    );
    // Another patient on that dose-2 day: 409 stock exhausted, nothing booked.
    assert_eq!(
        &seconds[1]["start"].as_str().unwrap()[..10],
        d2_day.as_str()
    );
    assert_eq!(
        &seconds[1]["start"].as_str().unwrap()[..10],
        d2_day.as_str()
    );
    let other_d1 = first[1]["start"].as_str().unwrap().to_owned();
    let (s, body) = srv
        .post(
            "/api/v1/vaccination/bookings",
            Some(&other),
            pair(&c, &other_d1, seconds[1]["start"].as_str().unwrap()),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{body}");
    assert!(mine(&srv, &other).await.is_empty());
    // An operator's stock change shows at once.
    let (s, _) = stock(&srv, &c, &d2_day, 5).await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        !slots(&srv, &c, &c.dose2, &d2_day, &d2_day).await.is_empty(),
        "stock added: slots are back"
    );

    // Moving a dose is refused; cancelling dose 1 cancels dose 2 and gives the doses back.
    let id1 = appointments[0]["id"].as_str().unwrap();
    let (s, _) = srv
        .post(
            &format!("/api/v1/appointments/{id1}/move"),
            Some(&patient),
            json!({"start": first[2]["start"]}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    let (s, _) = srv
        .post(
            &format!("/api/v1/appointments/{id1}/cancel"),
            Some(&patient),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        mine(&srv, &patient).await.is_empty(),
        "both doses cancelled"
    );
    let (s, _) = stock(&srv, &c, &d2_day, 0).await;
    assert_eq!(s, StatusCode::OK, "the dose came back to the stock");
    stock(&srv, &c, &d2_day, 100).await;

    // A second dose alone, after a first dose received elsewhere.
    let (s, body) = srv
        .post("/api/v1/vaccination/bookings", Some(&other),
              json!({"dose2": {"agenda_id": c.agenda, "motive_id": c.dose2, "start": seconds[3]["start"]},
                     "previous_dose_date": d1[..10]}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    let (s, _) = srv
        .post("/api/v1/vaccination/bookings", Some(&patient),
              json!({"dose2": {"agenda_id": c.agenda, "motive_id": c.dose2, "start": seconds[4]["start"]},
                     "previous_dose_date": day(-100)}))
        .await;
    assert_eq!(
        s,
        StatusCode::UNPROCESSABLE_ENTITY,
        "first dose too long ago"
    );

    let (s, p) = srv.get("/api/v1/vaccination/protocols", None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(p["protocols"].as_array().unwrap().len(), 4);
    srv.stop().await;
}

async fn eligibility_phases_and_chronodoses(backend: Backend) {
    let (srv, _loc, op) = with_operator(backend).await;
    let c = centre(&srv, 2).await;
    for d in 0..=60 {
        stock(&srv, &c, &day(d), 100).await;
    }
    let (s, e) = srv.get("/api/v1/vaccination/eligibility", None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(e["summary"], "vaccination is open to everyone");
    let everyone = e["open_phases"][0]["id"].as_str().unwrap().to_owned();

    // Only the operator token opens and closes phases.
    let (s, _) = srv
        .post(
            "/api/v1/operator/vaccination/phases",
            Some(&c.token),
            json!({"name": "x", "everyone": true}),
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _) = srv.post("/api/v1/operator/vaccination/phases", Some(&op),
        json!({"name": "Phase 1: 75+ and health professionals", "min_age": 75, "priority_groups": ["health-professional"]})).await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, _) = srv
        .post(
            &format!("/api/v1/operator/vaccination/phases/{everyone}/close"),
            Some(&op),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);

    let far: Vec<Value> = slots(&srv, &c, &c.dose1, &day(5), &day(5)).await;
    let d1 = far[0]["start"].as_str().unwrap().to_owned();
    let d2s = second_slots(&srv, &c, &d1).await;
    let young = srv.account("patient", "Young").await.0;
    // Applies at once: a 30-year-old without a group is refused with a reason.
    let (s, body) = srv
        .post(
            "/api/v1/vaccination/bookings",
            Some(&young),
            json!({"dose1": {"agenda_id": c.agenda, "motive_id": c.dose1, "start": d1},
               "dose2": {"agenda_id": c.agenda, "motive_id": c.dose2, "start": d2s[0]["start"]},
               "birth_date": "1995-06-01"}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let detail = body["detail"].as_str().unwrap();
    assert!(
        detail.contains("aged 75 and over") && detail.contains("health-professional"),
        "{detail}"
    );
    assert!(mine(&srv, &young).await.is_empty());
    // Declaring the group admits them; so does the age.
    let (s, body) = srv
        .post(
            "/api/v1/vaccination/bookings",
            Some(&young),
            json!({"dose1": {"agenda_id": c.agenda, "motive_id": c.dose1, "start": d1},
               "dose2": {"agenda_id": c.agenda, "motive_id": c.dose2, "start": d2s[0]["start"]},
               "priority_groups": ["health-professional"]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    let old = srv.account("patient", "Old").await.0;
    let (s, body) = srv
        .post(
            "/api/v1/vaccination/bookings",
            Some(&old),
            json!({"dose1": {"agenda_id": c.agenda, "motive_id": c.dose1, "start": d1},
               "dose2": {"agenda_id": c.agenda, "motive_id": c.dose2, "start": d2s[1]["start"]},
               "birth_date": "1940-01-01"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");

    // Chronodoses: tomorrow's slots open to everyone, later ones still follow the phases.
    let other = srv.account("patient", "Other").await.0;
    let soon: Vec<Value> = slots(&srv, &c, &c.dose1, &day(0), &day(1)).await;
    let soon_start = soon
        .iter()
        .map(|s| s["start"].as_str().unwrap().to_owned())
        .find(|s| {
            let t: jiff::Timestamp = s.parse().unwrap();
            t.duration_since(jiff::Timestamp::now()).as_hours() < 23
        })
        .expect("a slot within 23 hours");
    let soon_d2 = second_slots(&srv, &c, &soon_start).await;
    let single = |d1: &str, d2: &str| {
        json!({"dose1": {"agenda_id": c.agenda, "motive_id": c.dose1, "start": d1},
        "dose2": {"agenda_id": c.agenda, "motive_id": c.dose2, "start": d2}})
    };
    let (s, _) = srv
        .post(
            "/api/v1/vaccination/bookings",
            Some(&other),
            single(&soon_start, soon_d2[0]["start"].as_str().unwrap()),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "chronodoses closed");
    let (s, _) = srv
        .call(
            Method::PUT,
            "/api/v1/operator/vaccination/chronodoses",
            Some(&op),
            Some(json!({"hours": 12})),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "24 to 48 hours");
    let (s, e) = srv
        .call(
            Method::PUT,
            "/api/v1/operator/vaccination/chronodoses",
            Some(&op),
            Some(json!({"hours": 24})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(e["chronodose_hours"], 24);
    // A chronodose is a last-minute first dose; its second dose follows weeks later.
    let (s, body) = srv
        .post(
            "/api/v1/vaccination/bookings",
            Some(&other),
            single(&soon_start, soon_d2[0]["start"].as_str().unwrap()),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "a chronodose: {body}");

    // Protocols are versioned: a widened window applies to new bookings only.
    let (s, p) = srv.post("/api/v1/operator/vaccination/protocols", Some(&op),
        json!({"product": "comirnaty", "effective_from": day(0), "second_dose": {"min_days": 21, "max_days": 49}, "booster_min_days": 90})).await;
    assert_eq!(s, StatusCode::CREATED, "{p}");
    assert_eq!(p["version"], 2);
    let widened = second_slots(&srv, &c, &d1).await;
    let last: jiff::civil::Date = widened.last().unwrap()["start"].as_str().unwrap()[..10]
        .parse()
        .unwrap();
    let first_day: jiff::civil::Date = d1[..10].parse().unwrap();
    assert!(
        (last - first_day).get_days() > 42,
        "the window now reaches further"
    );
    assert_eq!(
        mine(&srv, &young).await.len(),
        2,
        "booked appointments are untouched"
    );
    srv.stop().await;
}

async fn centre_days_totals_and_export(backend: Backend) {
    let (srv, loc, op) = with_operator(backend).await;
    let c = centre(&srv, 2).await;
    for d in 1..=45 {
        stock(&srv, &c, &day(d), 100).await;
    }
    let (patient, patient_id) = srv.account("patient", "Zoé Export").await;
    let first = slots(&srv, &c, &c.dose1, &day(1), &day(1)).await;
    let d1 = first[0]["start"].as_str().unwrap().to_owned();
    let d2 = second_slots(&srv, &c, &d1).await[0]["start"]
        .as_str()
        .unwrap()
        .to_owned();
    let (s, booked) = srv
        .post(
            "/api/v1/vaccination/bookings",
            Some(&patient),
            pair(&c, &d1, &d2),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{booked}");

    // The centre's day: 08:00-18:00 in 10-minute slots on 2 lines = 120 places.
    let (s, days) = srv
        .get(
            &format!(
                "/api/v1/agendas/{}/vaccination/days?from={}&to={}",
                c.agenda,
                day(1),
                day(1)
            ),
            Some(&c.token),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{days}");
    let d = &days["days"][0];
    assert_eq!(
        (
            d["capacity"].as_u64(),
            d["doses"].as_u64(),
            d["booked"].as_u64(),
            d["no_shows"].as_u64()
        ),
        (Some(120), Some(100), Some(1), Some(0))
    );
    let (s, _) = srv
        .get(
            &format!(
                "/api/v1/agendas/{}/vaccination/days?from={}&to={}",
                c.agenda,
                day(1),
                day(1)
            ),
            Some(&patient),
        )
        .await;
    assert!(
        s == StatusCode::FORBIDDEN || s == StatusCode::NOT_FOUND,
        "patients see no centre figures"
    );

    // A no-show (recorded through the store: the appointment has not started yet).
    let store = common::open_store(&loc).await;
    let id1 = careslot_domain::ReservationId(
        booked["appointments"][0]["id"].as_str().unwrap().to_owned(),
    );
    store
        .set_no_show(&id1, true, jiff::Timestamp::now())
        .await
        .unwrap()
        .unwrap();
    let (_, days) = srv
        .get(
            &format!(
                "/api/v1/agendas/{}/vaccination/days?from={}&to={}",
                c.agenda,
                day(1),
                day(1)
            ),
            Some(&c.token),
        )
        .await;
    assert_eq!(days["days"][0]["no_shows"], 1);

    let (s, _) = srv
        .get("/api/v1/operator/vaccination/totals", Some(&c.token))
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "only the operator");
    let (s, totals) = srv
        .get("/api/v1/operator/vaccination/totals", Some(&op))
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(totals["centres"], 1);
    assert_eq!(totals["products"][0]["booked"], 2);
    assert_eq!(totals["products"][0]["no_shows"], 1);

    // The export is pseudonymised: a stable keyed hash, never the name or the account id.
    let url = format!(
        "{}/api/v1/operator/vaccination/appointments.csv?from={}&to={}",
        srv.base,
        day(0),
        day(50)
    );
    let res = srv.client.get(&url).bearer_auth(&op).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    let body = res.text().await.unwrap();
    let lines: Vec<&str> = body.lines().collect();
    assert_eq!(lines.len(), 3, "{body}");
    assert!(lines[0].starts_with(
        "appointment_id,centre_id,centre,postcode,city,start,product,dose,status,patient"
    ));
    let pseudonym = |l: &str| l.rsplit(',').next().unwrap().to_owned();
    assert_eq!(
        pseudonym(lines[1]),
        pseudonym(lines[2]),
        "one patient, one pseudonym"
    );
    assert!(!body.contains("Zoé") && !body.contains(&patient_id));
    assert!(
        lines[1].contains(",comirnaty,1,no_show,") && lines[2].contains(",comirnaty,2,booked,"),
        "{body}"
    );
    let res = srv
        .client
        .get(format!("{url}&identities=true"))
        .bearer_auth(&op)
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        StatusCode::FORBIDDEN,
        "identities are not allowed here"
    );
    srv.stop().await;
}

async fn lines_change_per_day(backend: Backend) {
    let (srv, _loc) = start(backend).await;
    let c = centre(&srv, 2).await;
    for d in 1..=45 {
        stock(&srv, &c, &day(d), 100).await;
    }
    let saturday = day(3);
    let lines = |n: i64| json!({"day": saturday, "lines": n});
    let (s, body) = srv
        .call(
            Method::PUT,
            &format!("/api/v1/agendas/{}/lines", c.agenda),
            Some(&c.token),
            Some(lines(4)),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let that_day = slots(&srv, &c, &c.dose1, &saturday, &saturday).await;
    assert!(
        that_day.iter().all(|s| s["remaining"] == 4),
        "four lines that day"
    );
    let other_day = slots(&srv, &c, &c.dose1, &day(4), &day(4)).await;
    assert!(
        other_day.iter().all(|s| s["remaining"] == 2),
        "two lines on other days"
    );
    let d1 = that_day[0]["start"].as_str().unwrap().to_owned();
    let seconds = second_slots(&srv, &c, &d1).await;
    let mut statuses = Vec::new();
    for (i, second) in seconds.iter().take(5).enumerate() {
        let (token, _) = srv.account("patient", &format!("Line {i}")).await;
        let (s, _) = srv
            .post(
                "/api/v1/vaccination/bookings",
                Some(&token),
                pair(&c, &d1, second["start"].as_str().unwrap()),
            )
            .await;
        statuses.push(s);
    }
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::CREATED)
            .count(),
        4,
        "{statuses:?}"
    );
    assert_eq!(statuses[4], StatusCode::CONFLICT);
    // Fewer lines than booked at that time: refused, nothing changes.
    let (s, _) = srv
        .call(
            Method::PUT,
            &format!("/api/v1/agendas/{}/lines", c.agenda),
            Some(&c.token),
            Some(lines(3)),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    let (s, _) = srv
        .call(
            Method::PUT,
            &format!("/api/v1/agendas/{}/lines", c.agenda),
            Some(&c.token),
            Some(lines(6)),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let after = slots(&srv, &c, &c.dose1, &saturday, &saturday).await;
    assert_eq!(
        after.iter().find(|s| s["start"] == d1.as_str()).unwrap()["remaining"],
        2,
        "6 lines, 4 booked"
    );
    srv.stop().await;
}

/// Both doses held together while the patient confirms: the places and the doses are theirs,
/// nobody else can confirm the hold, confirming twice books nothing new, and an expired
/// hold gives its places and its doses back.
async fn hold_both_doses_then_book(backend: Backend) {
    let config = careslot_server::services::AppConfig {
        hold_ttl: jiff::SignedDuration::from_secs(2),
        ..Default::default()
    };
    let (srv, _loc) = start_configured(backend, config).await;
    let c = centre(&srv, 1).await;
    let (paula, _) = srv.account("patient", "Paula").await;
    let (omar, _) = srv.account("patient", "Omar").await;
    let (zoe, _) = srv.account("patient", "Zoé").await;
    for d in 1..=45 {
        stock(&srv, &c, &day(d), 100).await;
    }
    let first = slots(&srv, &c, &c.dose1, &day(2), &day(2)).await;
    let d1 = first[0]["start"].as_str().unwrap().to_owned();
    let seconds = second_slots(&srv, &c, &d1).await;
    let d2 = seconds[0]["start"].as_str().unwrap().to_owned();
    // One dose left on the dose-2 day: the hold takes it.
    stock(&srv, &c, &d2[..10], 1).await;

    let (s, held) = srv
        .post(
            "/api/v1/vaccination/holds",
            Some(&paula),
            pair(&c, &d1, &d2),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{held}");
    let hold = held["id"].as_str().unwrap().to_owned();
    assert!(held["expires_at"].as_str().is_some());
    assert_eq!(held["appointments"].as_array().unwrap().len(), 2);
    // The place (one line) and the dose are held: not offered, not holdable by another.
    let now_first = slots(&srv, &c, &c.dose1, &day(2), &day(2)).await;
    assert!(now_first.iter().all(|s| s["start"] != d1.as_str()));
    let (s, body) = srv
        .post("/api/v1/vaccination/holds", Some(&omar), pair(&c, &d1, &d2))
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{body}");
    // Nobody else can confirm it; giving doses with a hold id is refused.
    let (s, _) = srv
        .post(
            "/api/v1/vaccination/bookings",
            Some(&omar),
            json!({"hold_id": hold}),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let mut both = pair(&c, &d1, &d2);
    both["hold_id"] = json!(hold);
    let (s, _) = srv
        .post("/api/v1/vaccination/bookings", Some(&paula), both)
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    // Confirmed: both doses booked; asking again answers the same appointments.
    let (s, booked) = srv
        .post(
            "/api/v1/vaccination/bookings",
            Some(&paula),
            json!({"hold_id": hold}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{booked}");
    let ids: Vec<Value> = booked["appointments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            assert_eq!(a["status"], "booked");
            a["id"].clone()
        })
        .collect();
    assert_eq!(ids.len(), 2);
    let (s, again) = srv
        .post(
            "/api/v1/vaccination/bookings",
            Some(&paula),
            json!({"hold_id": hold}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let again: Vec<Value> = again["appointments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].clone())
        .collect();
    assert_eq!(again, ids);
    assert_eq!(mine(&srv, &paula).await.len(), 2);

    // An expired hold: too late to confirm, and its places and dose go to the next patient.
    let e1 = first[1]["start"].as_str().unwrap().to_owned();
    let e2 = seconds[1]["start"].as_str().unwrap().to_owned();
    let e2_day = e2[..10].to_owned();
    let (s, _) = stock(&srv, &c, &e2_day, if e2_day == d2[..10] { 2 } else { 1 }).await;
    assert_eq!(s, StatusCode::OK);
    let (s, held) = srv
        .post("/api/v1/vaccination/holds", Some(&omar), pair(&c, &e1, &e2))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{held}");
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    let (s, body) = srv
        .post(
            "/api/v1/vaccination/bookings",
            Some(&omar),
            json!({"hold_id": held["id"]}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{body}");
    assert!(
        body["type"].as_str().unwrap().ends_with("hold-expired"),
        "{body}"
    );
    // The hold sweeper gives the places and the dose back within a second or so.
    let mut tries = 0;
    let (s, body) = loop {
        let (s, body) = srv
            .post(
                "/api/v1/vaccination/bookings",
                Some(&zoe),
                pair(&c, &e1, &e2),
            )
            .await;
        tries += 1;
        if s == StatusCode::CREATED || tries == 40 {
            break (s, body);
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    };
    assert_eq!(
        s,
        StatusCode::CREATED,
        "the expired hold's places and dose are free: {body}"
    );
    assert!(mine(&srv, &omar).await.is_empty());
    srv.stop().await;
}

/// The same Idempotency-Key books a series once: a retry answers the same appointments,
/// whether the doses were given directly or held first; the same key with other doses is
/// refused. The web form carries a key generated per rendering: submitted twice, it books
/// once.
async fn idempotency_key_books_a_series_once(backend: Backend) {
    let (srv, _loc) = start(backend).await;
    let c = centre(&srv, 2).await;
    let (patient, _) = srv.account("patient", "Ida Empotent").await;
    for d in 1..=45 {
        stock(&srv, &c, &day(d), 100).await;
    }
    let first = slots(&srv, &c, &c.dose1, &day(2), &day(3)).await;
    let d1 = first[0]["start"].as_str().unwrap().to_owned();
    let d1b = first[1]["start"].as_str().unwrap().to_owned();
    let d1c = first[2]["start"].as_str().unwrap().to_owned();
    let d2 = second_slots(&srv, &c, &d1).await[0]["start"]
        .as_str()
        .unwrap()
        .to_owned();
    let book = |key: &'static str, body: Value| {
        let srv = &srv;
        let patient = patient.clone();
        async move {
            let r = srv
                .client
                .post(format!("{}/api/v1/vaccination/bookings", srv.base))
                .bearer_auth(&patient)
                .header("Idempotency-Key", key)
                .json(&body)
                .send()
                .await
                .expect("book");
            let status = r.status();
            (status, r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let ids = |v: &Value| -> Vec<String> {
        v["appointments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["id"].as_str().unwrap().to_owned())
            .collect()
    };

    // Doses given directly: the retry answers the same two appointments.
    let (s, a) = book("vax-key-1", pair(&c, &d1, &d2)).await;
    assert_eq!(s, StatusCode::CREATED, "{a}");
    let (s, again) = book("vax-key-1", pair(&c, &d1, &d2)).await;
    assert_eq!(s, StatusCode::CREATED, "{again}");
    assert_eq!(ids(&a), ids(&again));
    assert_eq!(ids(&a).len(), 2);
    // The same key with other doses: refused, nothing booked.
    let (s, other) = book("vax-key-1", pair(&c, &d1b, &d2)).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{other}");
    assert_eq!(mine(&srv, &patient).await.len(), 2);

    // Held, then booked twice with one key: the same appointments.
    let d2b = second_slots(&srv, &c, &d1b).await[1]["start"]
        .as_str()
        .unwrap()
        .to_owned();
    let (s, held) = srv
        .post(
            "/api/v1/vaccination/holds",
            Some(&patient),
            pair(&c, &d1b, &d2b),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{held}");
    let hold = json!({"hold_id": held["id"]});
    let (s, b1) = book("vax-key-2", hold.clone()).await;
    assert_eq!(s, StatusCode::CREATED, "{b1}");
    let (s, b2) = book("vax-key-2", hold).await;
    assert_eq!(s, StatusCode::CREATED, "{b2}");
    assert_eq!(ids(&b1), ids(&b2));
    assert_eq!(mine(&srv, &patient).await.len(), 4);

    // The web form: its hidden key, submitted twice (a reload, a double click).
    let csrf = "c".repeat(40);
    let cookies = format!("careslot_session={patient}; careslot_csrf={csrf}");
    let web = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = web
        .get(format!(
            "{}/vaccination/second-dose?agenda_id={}&motive_id={}&start={}",
            srv.base,
            c.agenda,
            c.dose1,
            urlencode(&d1c)
        ))
        .header("cookie", &cookies)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    let key = html
        .split("name=\"idempotency_key\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the form carries an idempotency key")
        .to_owned();
    assert!(key.len() >= 16, "{key}");
    let d2c = second_slots(&srv, &c, &d1c).await[2]["start"]
        .as_str()
        .unwrap()
        .to_owned();
    let form = [
        ("csrf", csrf.as_str()),
        ("idempotency_key", key.as_str()),
        ("agenda_id", c.agenda.as_str()),
        ("dose1_motive", c.dose1.as_str()),
        ("dose1_start", d1c.as_str()),
        ("dose2_motive", c.dose2.as_str()),
        ("dose2_start", d2c.as_str()),
    ];
    let mut landed = Vec::new();
    for _ in 0..2 {
        let r = web
            .post(format!("{}/vaccination/book", srv.base))
            .header("cookie", &cookies)
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        let to = r.headers()["location"].to_str().unwrap().to_owned();
        assert!(
            to.starts_with("/appointments/") && to.ends_with("?booked=1"),
            "{to}"
        );
        landed.push(to);
    }
    assert_eq!(
        landed[0], landed[1],
        "the second submission shows the same booking"
    );
    assert_eq!(
        mine(&srv, &patient).await.len(),
        6,
        "booked once: two doses"
    );
    // Another rendering has another key.
    let html2 = web
        .get(format!(
            "{}/vaccination/second-dose?agenda_id={}&motive_id={}&start={}",
            srv.base,
            c.agenda,
            c.dose1,
            urlencode(&d1)
        ))
        .header("cookie", &cookies)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!html2.contains(&key));
    srv.stop().await;
}

/// Doses booked directly under an Idempotency-Key, on a single line (issue #20): a retry
/// answers the same appointments although the view now shows the places taken (by that
/// very booking); the key with other doses is refused and books nothing; a series refused
/// for a taken place leaves the key free, and the same key then books free places.
async fn direct_keyed_series_on_one_line(backend: Backend) {
    let (srv, _loc) = start(backend).await;
    let c = centre(&srv, 1).await;
    let (ida, _) = srv.account("patient", "Ida Direct").await;
    let (omar, _) = srv.account("patient", "Omar Ahead").await;
    for d in 1..=45 {
        stock(&srv, &c, &day(d), 100).await;
    }
    let first = slots(&srv, &c, &c.dose1, &day(2), &day(3)).await;
    let start = |i: usize| first[i]["start"].as_str().unwrap().to_owned();
    let (d1, d1b, d1c) = (start(0), start(1), start(2));
    let seconds = second_slots(&srv, &c, &d1).await;
    let second = |i: usize| seconds[i]["start"].as_str().unwrap().to_owned();
    let (d2, d2b, d2c) = (second(0), second(1), second(2));
    let book = |token: String, key: &'static str, body: Value| {
        let srv = &srv;
        async move {
            let r = srv
                .client
                .post(format!("{}/api/v1/vaccination/bookings", srv.base))
                .bearer_auth(&token)
                .header("Idempotency-Key", key)
                .json(&body)
                .send()
                .await
                .expect("book");
            let status = r.status();
            (status, r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let ids = |v: &Value| -> Vec<String> {
        v["appointments"]
            .as_array()
            .map(|l| {
                l.iter()
                    .map(|a| a["id"].as_str().unwrap().to_owned())
                    .collect()
            })
            .unwrap_or_default()
    };

    let (s, a) = book(ida.clone(), "direct-1", pair(&c, &d1, &d2)).await;
    assert_eq!(s, StatusCode::CREATED, "{a}");
    assert_eq!(ids(&a).len(), 2);
    assert!(
        !slots(&srv, &c, &c.dose1, &day(2), &day(3))
            .await
            .iter()
            .any(|s| s["start"] == d1.as_str()),
        "the single place is taken"
    );
    let (s, again) = book(ida.clone(), "direct-1", pair(&c, &d1, &d2)).await;
    assert_eq!(s, StatusCode::CREATED, "{again}");
    assert_eq!(ids(&again), ids(&a));
    let (s, other) = book(ida.clone(), "direct-1", pair(&c, &d1b, &d2b)).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{other}");
    assert_eq!(mine(&srv, &ida).await.len(), 2, "booked once");
    assert!(
        slots(&srv, &c, &c.dose1, &day(2), &day(3))
            .await
            .iter()
            .any(|s| s["start"] == d1b.as_str()),
        "the refused request took nothing"
    );

    // Omar takes the dose-2 place first: Ida's series is refused whole, the key stays free.
    let (s, o) = book(omar.clone(), "omar-1", pair(&c, &d1c, &d2b)).await;
    assert_eq!(s, StatusCode::CREATED, "{o}");
    let (s, taken) = book(ida.clone(), "direct-2", pair(&c, &d1b, &d2b)).await;
    assert_eq!(s, StatusCode::CONFLICT, "{taken}");
    assert_eq!(mine(&srv, &ida).await.len(), 2);
    let (s, b) = book(ida.clone(), "direct-2", pair(&c, &d1b, &d2c)).await;
    assert_eq!(
        s,
        StatusCode::CREATED,
        "the key was not spent on the refusal: {b}"
    );
    let (s, b_again) = book(ida.clone(), "direct-2", pair(&c, &d1b, &d2c)).await;
    assert_eq!(s, StatusCode::CREATED, "{b_again}");
    assert_eq!(ids(&b_again), ids(&b));
    assert_eq!(mine(&srv, &ida).await.len(), 4);
    assert_eq!(mine(&srv, &omar).await.len(), 2);
    srv.stop().await;
}

on_both_backends!(
    direct_keyed_series_on_one_line,
    idempotency_key_books_a_series_once,
    hold_both_doses_then_book,
    lines_change_per_day,
    thirty_patients_race_for_two_lines,
    window_stock_and_cancellation,
    eligibility_phases_and_chronodoses,
    centre_days_totals_and_export
);
