//! SMART Scheduling Links over real HTTP, on SQLite and PostgreSQL: the `$bulk-publish`
//! manifest and its Location, Schedule and Slot files pass the conformance checker
//! (`common/smart.rs`: required fields, references, extension shapes, NDJSON), the published
//! free slots are exactly those the slots API shows, a booking shows in the next read and a
//! full start is published `busy`; an imported site's ids and phone reach its Location.

mod common;

use common::smart::{self, Published, CAPACITY, DOSE, LINK, PLACE_SYSTEM, PRODUCT};
use common::{start, start_on, Backend, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::collections::BTreeSet;

struct Centre {
    token: String,
    agenda: String,
    place: String,
    dose1: String,
    dose2: String,
}

/// A two-line Comirnaty centre in Lyon (dose 1 and dose 2 motives), open every day.
async fn centre(srv: &TestServer) -> Centre {
    let (token, _) = srv.account("practitioner", "Centre Vaccination").await;
    let t = Some(token.as_str());
    let (s, profile) = srv
        .call(
            Method::PUT,
            "/api/v1/practitioner/profile",
            t,
            Some(json!({"name": "Centre de vaccination Bellecour", "specialty": "vaccination-center"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    // Only verified practices are published (issue 15).
    srv.verify(&token, profile["id"].as_str().unwrap()).await;
    let (s, place) = srv
        .post("/api/v1/places", t, json!({"name": "Salle des fêtes", "address": "1 place Bellecour", "postcode": "69002",
              "city": "Lyon", "country": "FR", "lat": 45.7578, "lon": 4.8320, "timezone": "Europe/Paris"}))
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
        place: place["id"].as_str().unwrap().to_owned(),
        dose1,
        dose2,
    }
}

fn day(offset: i64) -> String {
    jiff::Zoned::now()
        .with_time_zone(jiff::tz::TimeZone::get("Europe/Paris").unwrap())
        .date()
        .checked_add(jiff::Span::new().days(offset))
        .unwrap()
        .to_string()
}

fn urlencode(s: &str) -> String {
    s.replace('+', "%2B").replace(':', "%3A")
}

/// GET with optional extra headers: status, content type, cache-control, body text.
async fn fetch(
    srv: &TestServer,
    url: &str,
    headers: &[(&str, &str)],
) -> (StatusCode, String, String, String) {
    let mut req = srv.client.get(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.unwrap();
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

fn ext<'a>(resource: &'a Value, url: &str) -> Option<&'a Value> {
    Published::ext(resource, url)
}

/// The manifest and everything it links to, through the conformance checker (see
/// `common/smart.rs`), plus what careslot promises beyond the spec: a polling hint, the same
/// answer whatever the `Accept` header.
async fn publication(srv: &TestServer) -> Published {
    let url = format!("{}/api/v1/vaccination/$bulk-publish", srv.base);
    let (s, _, cc, body) = fetch(srv, &url, &[]).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert!(cc.contains("max-age="), "a polling hint: {cc}");
    let first: Value = serde_json::from_str(&body).unwrap();
    let (s, _, _, again) = fetch(srv, &url, &[("accept", "application/json")]).await;
    assert_eq!(s, StatusCode::OK);
    let again: Value = serde_json::from_str(&again).unwrap();
    assert_eq!(again["output"], first["output"]);
    for o in first["output"].as_array().unwrap() {
        let file = o["url"].as_str().unwrap();
        assert!(file.starts_with(&srv.base), "{o}");
        let (s, ct, _, _) = fetch(srv, file, &[("accept", "application/fhir+ndjson")]).await;
        assert_eq!(s, StatusCode::OK, "{file}");
        assert!(ct.starts_with("application/fhir+ndjson"), "{ct}");
    }
    let (manifest, files) = smart::fetch(&srv.client, &url).await;
    smart::check(&url, manifest, files)
}

async fn api_slots(
    srv: &TestServer,
    c: &Centre,
    motive: &str,
    from: &str,
    to: &str,
) -> BTreeSet<(String, i64)> {
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
    body["slots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["start"].as_str().unwrap().to_owned(),
                s["remaining"].as_i64().unwrap(),
            )
        })
        .collect()
}

/// The published slots of both motives are the API's over the published days (today and
/// the 13 next).
async fn assert_round_trip(srv: &TestServer, c: &Centre, p: &Published) {
    for motive in [&c.dose1, &c.dose2] {
        let api = api_slots(srv, c, motive, &day(0), &day(13)).await;
        assert!(!api.is_empty(), "the centre has slots");
        assert_eq!(
            p.slots_of(motive, "free"),
            api,
            "published = API for {motive}"
        );
    }
}

async fn second_dose_start(srv: &TestServer, c: &Centre, d1: &str, nth: usize) -> String {
    let q = format!(
        "/api/v1/vaccination/second-dose-slots?agenda_id={}&motive_id={}&start={}",
        c.agenda,
        c.dose1,
        urlencode(d1)
    );
    let (s, body) = srv.get(&q, None).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    body["slots"][nth]["start"].as_str().unwrap().to_owned()
}

async fn publishes_what_the_api_shows(backend: Backend) {
    let (srv, _loc) = start(backend).await;
    let c = centre(&srv).await;
    // Doses on days 1 to 10 (today has none: no slot can fall into the notice while the test
    // runs), and on the dose-2 days of the pairs booked below.
    for d in (1..=10).chain(20..=45) {
        let (s, body) = srv
            .call(
                Method::PUT,
                &format!("/api/v1/agendas/{}/stock", c.agenda),
                Some(&c.token),
                Some(json!({"product": "comirnaty", "day": day(d), "doses": 100})),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{body}");
    }
    // An ordinary practice: not published.
    let gp = srv.practice("Dr Généraliste", 20, 1).await;

    let p = publication(&srv).await;
    let loc = p
        .locations
        .iter()
        .find(|l| l["id"] == c.place.as_str())
        .expect("the centre's place is published");
    assert_eq!(loc["address"]["state"], "69");
    assert_eq!(loc["address"]["postalCode"], "69002");
    assert_eq!(
        loc["name"],
        "Centre de vaccination Bellecour, Salle des fêtes"
    );
    // Not imported: careslot's identifier only, and the booking page (no phone known).
    assert_eq!(
        loc["identifier"],
        json!([{"system": PLACE_SYSTEM, "value": c.place}])
    );
    assert_eq!(loc["telecom"].as_array().unwrap().len(), 1, "{loc}");
    assert_eq!(loc["telecom"][0]["system"], "url");
    // Nothing booked yet: nothing busy.
    assert!(p.slots.iter().all(|s| s["status"] == "free"));
    assert_eq!(p.locations.len(), 1, "only the centre: {:?}", p.locations);
    let slot_files: Vec<&Value> = p.manifest["output"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["type"] == "Slot")
        .collect();
    assert_eq!(slot_files.len(), 1);
    assert_eq!(slot_files[0]["extension"]["state"], json!(["69"]));
    let schedule = |motive: &str| {
        p.schedules
            .iter()
            .find(|s| s["id"] == motive)
            .unwrap_or_else(|| panic!("schedule of {motive}"))
    };
    for (motive, dose) in [(&c.dose1, 1), (&c.dose2, 2)] {
        let sc = schedule(motive);
        assert_eq!(sc["actor"][0]["reference"], format!("Location/{}", c.place));
        assert_eq!(ext(sc, PRODUCT).unwrap()["valueCoding"]["code"], "208");
        assert_eq!(ext(sc, DOSE).unwrap()["valueInteger"], dose);
    }
    assert_eq!(p.schedules.len(), 2);
    assert!(p.slots.iter().all(|s| !s["schedule"]["reference"]
        .as_str()
        .unwrap()
        .ends_with(&gp.motive_id)));
    assert_round_trip(&srv, &c, &p).await;
    // The deep link opens the booking page of that motive, on the slot's week.
    let first = p
        .slots
        .iter()
        .filter(|s| s["schedule"]["reference"] == format!("Schedule/{}", c.dose1))
        .min_by_key(|s| {
            s["start"]
                .as_str()
                .unwrap()
                .parse::<jiff::Timestamp>()
                .unwrap()
        })
        .unwrap();
    let link = ext(first, LINK).unwrap()["valueUrl"].as_str().unwrap();
    assert!(
        link.contains(&format!("/p/{}?motive={}", c.agenda, c.dose1)),
        "{link}"
    );
    let (s, ct, _, _) = fetch(&srv, link, &[]).await;
    assert_eq!(s, StatusCode::OK);
    assert!(ct.starts_with("text/html"), "{ct}");

    // A booking shows at the next read: one of the two places left, then none, and the
    // start is published busy with its two places.
    let d1 = first["start"].as_str().unwrap().to_owned();
    assert_eq!(ext(first, CAPACITY).unwrap()["valueInteger"], 2);
    for (n, left, busy) in [(0, Some(1), None), (1, None, Some(2))] {
        let (patient, _) = srv.account("patient", &format!("Patient {n}")).await;
        let d2 = second_dose_start(&srv, &c, &d1, n).await;
        let (s, body) = srv
            .post(
                "/api/v1/vaccination/bookings",
                Some(&patient),
                json!({"dose1": {"agenda_id": c.agenda, "motive_id": c.dose1, "start": d1},
                       "dose2": {"agenda_id": c.agenda, "motive_id": c.dose2, "start": d2}}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{body}");
        let p = publication(&srv).await;
        let published = p.slots_of(&c.dose1, "free");
        let at_d1: Vec<i64> = published
            .iter()
            .filter(|(start, _)| *start == d1)
            .map(|(_, cap)| *cap)
            .collect();
        assert_eq!(
            at_d1,
            left.into_iter().collect::<Vec<_>>(),
            "after booking {n}"
        );
        let full: Vec<i64> = p
            .slots_of(&c.dose1, "busy")
            .iter()
            .filter(|(start, _)| *start == d1)
            .map(|(_, cap)| *cap)
            .collect();
        assert_eq!(full, busy.into_iter().collect::<Vec<_>>(), "busy after {n}");
        // The busy slot keeps the free one's id (one start, one Slot) and has no deep link.
        if busy.is_some() {
            let b = p
                .slots
                .iter()
                .find(|s| {
                    s["status"] == "busy"
                        && s["start"] == d1.as_str()
                        && s["schedule"] == first["schedule"]
                })
                .unwrap();
            assert_eq!(b["id"], first["id"]);
            assert!(ext(b, LINK).is_none(), "{b}");
        }
        assert_round_trip(&srv, &c, &p).await;
    }
    srv.stop().await;
}

async fn files_and_parameters(backend: Backend) {
    let (srv, _loc) = start(backend).await;
    // Nothing to publish yet: a valid manifest and empty files.
    let p = publication(&srv).await;
    assert!(p.locations.is_empty() && p.schedules.is_empty() && p.slots.is_empty());
    let c = centre(&srv).await;
    for d in 1..=3 {
        let (s, _) = srv
            .call(
                Method::PUT,
                &format!("/api/v1/agendas/{}/stock", c.agenda),
                Some(&c.token),
                Some(json!({"product": "comirnaty", "day": day(d), "doses": 10})),
            )
            .await;
        assert_eq!(s, StatusCode::OK);
    }
    // Behind a TLS proxy, the URLs are https.
    let url = format!("{}/api/v1/vaccination/$bulk-publish", srv.base);
    let (s, _, _, body) = fetch(&srv, &url, &[("x-forwarded-proto", "https")]).await;
    assert_eq!(s, StatusCode::OK);
    let m: Value = serde_json::from_str(&body).unwrap();
    assert!(
        m["request"].as_str().unwrap().starts_with("https://"),
        "{m}"
    );
    assert!(m["output"]
        .as_array()
        .unwrap()
        .iter()
        .all(|o| o["url"].as_str().unwrap().starts_with("https://")));
    // The query string the spec lets clients add is ignored.
    let (s, _, _, _) = fetch(&srv, &format!("{url}?_since=2021-01-01T00:00:00Z"), &[]).await;
    assert_eq!(s, StatusCode::OK);

    let slots = "/api/v1/vaccination/bulk/slots.ndjson";
    // `days=2`: today (no stock) and tomorrow only.
    let (s, _, _, text) = fetch(&srv, &format!("{}{slots}?days=2", srv.base), &[]).await;
    assert_eq!(s, StatusCode::OK);
    assert!(text.lines().count() > 0);
    for line in text.lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        assert_eq!(&v["start"].as_str().unwrap()[..10], day(1), "{v}");
    }
    // Another jurisdiction: empty files.
    for file in ["locations", "schedules", "slots"] {
        let (s, _, _, text) = fetch(
            &srv,
            &format!(
                "{}/api/v1/vaccination/bulk/{file}.ndjson?state=75",
                srv.base
            ),
            &[],
        )
        .await;
        assert_eq!(s, StatusCode::OK);
        assert!(text.is_empty(), "{file}: {text}");
    }
    for bad in ["days=0", "days=32", "days=x"] {
        let (s, body) = srv.get(&format!("{slots}?{bad}"), None).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}: {body}");
    }
    // Documented in the OpenAPI.
    let (_, doc) = srv.get("/api/v1/openapi.json", None).await;
    for path in [
        "/api/v1/vaccination/$bulk-publish",
        "/api/v1/vaccination/bulk/locations.ndjson",
        "/api/v1/vaccination/bulk/schedules.ndjson",
        "/api/v1/vaccination/bulk/slots.ndjson",
    ] {
        assert!(doc["paths"][path]["get"].is_object(), "{path}");
    }
    srv.stop().await;
}

/// What `careslot import` records for a site whose place exists, written straight through
/// the store (the server is stopped).
async fn record(loc: &common::DataLocation, place: &str, public: careslot_store::SitePublic) {
    let store = common::open_store(loc).await;
    let place = store
        .place(&careslot_domain::PlaceId(place.to_owned()))
        .await
        .unwrap()
        .unwrap();
    let practitioner = store
        .practitioner(&place.practitioner_id)
        .await
        .unwrap()
        .unwrap();
    store
        .write_imported_site(&careslot_store::SiteWrite {
            source_key: "1693|https://example.invalid/1693".into(),
            content_hash: format!("{public:?}"),
            now: jiff::Timestamp::now(),
            account: None,
            practitioner,
            place: Some(place),
            agenda: None,
            motives: vec![],
            vaccines: vec![],
            rules: None,
            public,
        })
        .await
        .unwrap();
}

/// A site imported from the vaccination-site list: its Location carries the list's ids
/// beside careslot's and its phone beside the booking page; a re-import without the phone
/// drops it.
async fn imported_site_facts(backend: Backend) {
    let (srv, loc) = start(backend).await;
    let c = centre(&srv).await;
    let (s, _) = srv
        .call(
            Method::PUT,
            &format!("/api/v1/agendas/{}/stock", c.agenda),
            Some(&c.token),
            Some(json!({"product": "comirnaty", "day": day(1), "doses": 10})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    srv.stop().await;

    record(
        &loc,
        &c.place,
        careslot_store::SitePublic {
            gid: Some("1693".into()),
            internal_id: Some("258785[]".into()),
            phone: Some("+33 4 72 00 00 00".into()),
        },
    )
    .await;
    let srv = start_on(&loc).await;
    let p = publication(&srv).await;
    let l = &p.locations[0];
    assert_eq!(
        l["identifier"],
        json!([
            {"system": PLACE_SYSTEM, "value": c.place},
            {"system": "https://careslot.eu/fhir/sid/vaccination-site-list/gid", "value": "1693"},
            {"system": "https://careslot.eu/fhir/sid/vaccination-site-list/internal-id", "value": "258785[]"},
        ])
    );
    assert_eq!(
        l["telecom"][0],
        json!({"system": "phone", "value": "+33 4 72 00 00 00"})
    );
    assert_eq!(l["telecom"][1]["system"], "url");
    assert!(!p.slots.is_empty());
    srv.stop().await;

    record(
        &loc,
        &c.place,
        careslot_store::SitePublic {
            gid: Some("1693".into()),
            ..Default::default()
        },
    )
    .await;
    let srv = start_on(&loc).await;
    let p = publication(&srv).await;
    let l = &p.locations[0];
    assert_eq!(l["identifier"].as_array().unwrap().len(), 2, "{l}");
    assert_eq!(l["telecom"].as_array().unwrap().len(), 1, "{l}");
    srv.stop().await;
}

on_both_backends!(
    publishes_what_the_api_shows,
    files_and_parameters,
    imported_site_facts
);
