//! SMART Scheduling Links over real HTTP, on SQLite and PostgreSQL: the `$bulk-publish`
//! manifest and its Location, Schedule and Slot files carry the spec's required fields, their
//! references resolve, the published slots are exactly those the slots API shows, and a
//! booking shows in the next read.

mod common;

use common::{start, Backend, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::collections::{BTreeSet, HashMap, HashSet};

const PRODUCT: &str = "http://fhir-registry.smarthealthit.org/StructureDefinition/vaccine-product";
const DOSE: &str = "http://fhir-registry.smarthealthit.org/StructureDefinition/vaccine-dose";
const LINK: &str = "http://fhir-registry.smarthealthit.org/StructureDefinition/booking-deep-link";
const CAPACITY: &str = "http://fhir-registry.smarthealthit.org/StructureDefinition/slot-capacity";

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

/// Letters, digits, `-` and `.`, 1 to 64 of them (FHIR ids; the spec's ids).
fn is_id(v: &Value) -> bool {
    v.as_str().is_some_and(|s| {
        !s.is_empty()
            && s.len() <= 64
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
    })
}

/// The spec's timestamps: `YYYY-MM-DDThh:mm:ss[.sss]` and an offset (or `Z`).
fn is_instant(v: &Value) -> bool {
    let Some(s) = v.as_str() else { return false };
    let b = s.as_bytes();
    let offset = s.ends_with('Z')
        || (b.len() > 6 && matches!(b[b.len() - 6], b'+' | b'-') && b[b.len() - 3] == b':');
    b.len() >= 20
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && offset
        && s.parse::<jiff::Timestamp>().is_ok()
}

fn nonempty_str(v: &Value) -> bool {
    v.as_str().is_some_and(|s| !s.trim().is_empty())
}

fn ext<'a>(resource: &'a Value, url: &str) -> Option<&'a Value> {
    resource["extension"]
        .as_array()?
        .iter()
        .find(|e| e["url"] == url)
}

/// Everything the manifest links to, checked field by field against the spec.
struct Published {
    manifest: Value,
    locations: Vec<Value>,
    schedules: Vec<Value>,
    slots: Vec<Value>,
}

impl Published {
    /// (start, capacity) of the published slots of a motive's schedule.
    fn slots_of(&self, motive: &str) -> BTreeSet<(String, i64)> {
        let reference = format!("Schedule/{motive}");
        self.slots
            .iter()
            .filter(|s| s["schedule"]["reference"] == reference.as_str())
            .map(|s| {
                let cap = ext(s, CAPACITY).unwrap()["valueInteger"].as_i64().unwrap();
                (s["start"].as_str().unwrap().to_owned(), cap)
            })
            .collect()
    }
}

async fn publication(srv: &TestServer) -> Published {
    let url = format!("{}/api/v1/vaccination/$bulk-publish", srv.base);
    let (s, ct, cc, body) = fetch(srv, &url, &[]).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert!(ct.starts_with("application/json"), "{ct}");
    assert!(cc.contains("max-age="), "a polling hint: {cc}");
    let manifest: Value = serde_json::from_str(&body).unwrap();
    // The same manifest with `Accept: application/json`.
    let (s, _, _, again) = fetch(srv, &url, &[("accept", "application/json")]).await;
    assert_eq!(s, StatusCode::OK);
    let again: Value = serde_json::from_str(&again).unwrap();
    assert_eq!(again["output"], manifest["output"]);

    assert!(is_instant(&manifest["transactionTime"]), "{manifest}");
    assert_eq!(manifest["request"], url.as_str());
    assert!(manifest["error"].as_array().unwrap().is_empty());
    let outputs = manifest["output"].as_array().unwrap();
    let mut files: HashMap<String, Vec<Value>> = HashMap::new();
    for (i, o) in outputs.iter().enumerate() {
        let kind = o["type"].as_str().unwrap();
        assert!(["Location", "Schedule", "Slot"].contains(&kind), "{o}");
        let file_url = o["url"].as_str().unwrap();
        assert!(file_url.starts_with(&srv.base), "absolute URL: {o}");
        let states = o["extension"]["state"].as_array().unwrap();
        assert!(states.iter().all(Value::is_string), "{o}");
        // Files answer the same with or without an Accept header.
        let accept: &[(&str, &str)] = if i % 2 == 0 {
            &[("accept", "application/fhir+ndjson")]
        } else {
            &[]
        };
        let (s, ct, _, text) = fetch(srv, file_url, accept).await;
        assert_eq!(s, StatusCode::OK, "{file_url}: {text}");
        assert!(ct.starts_with("application/fhir+ndjson"), "{ct}");
        for line in text.lines() {
            let r: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
            assert_eq!(r["resourceType"], kind, "{line}");
            // One minified object per line.
            assert_eq!(
                serde_json::to_string(&r).unwrap().len(),
                line.len(),
                "{line}"
            );
            if kind == "Location" {
                // The file's jurisdictions include its Locations'.
                let state = r["address"]["state"].as_str().unwrap();
                assert!(states.iter().any(|s| s == state), "{o} lists {state}");
            }
            files.entry(kind.to_owned()).or_default().push(r);
        }
    }
    let mut take = |k: &str| files.remove(k).unwrap_or_default();
    let p = Published {
        locations: take("Location"),
        schedules: take("Schedule"),
        slots: take("Slot"),
        manifest,
    };

    let mut location_ids = HashSet::new();
    for l in &p.locations {
        assert!(is_id(&l["id"]), "{l}");
        assert!(
            location_ids.insert(l["id"].as_str().unwrap()),
            "unique: {l}"
        );
        assert!(nonempty_str(&l["name"]), "{l}");
        let telecom = l["telecom"].as_array().unwrap();
        assert!(!telecom.is_empty(), "{l}");
        for t in telecom {
            assert!(
                ["phone", "url"].contains(&t["system"].as_str().unwrap()),
                "{l}"
            );
            assert!(nonempty_str(&t["value"]), "{l}");
        }
        let a = &l["address"];
        let lines = a["line"].as_array().unwrap();
        assert!(!lines.is_empty() && lines.iter().all(nonempty_str), "{l}");
        for f in ["city", "state", "postalCode"] {
            assert!(nonempty_str(&a[f]), "{f}: {l}");
        }
        if !l["position"].is_null() {
            assert!(l["position"]["latitude"].is_number(), "{l}");
            assert!(l["position"]["longitude"].is_number(), "{l}");
        }
    }
    let mut schedule_ids = HashSet::new();
    for sc in &p.schedules {
        assert!(is_id(&sc["id"]), "{sc}");
        assert!(
            schedule_ids.insert(sc["id"].as_str().unwrap()),
            "unique: {sc}"
        );
        let actors = sc["actor"].as_array().unwrap();
        assert!(!actors.is_empty(), "{sc}");
        for a in actors {
            let id = a["reference"]
                .as_str()
                .unwrap()
                .strip_prefix("Location/")
                .unwrap();
            assert!(location_ids.contains(id), "actor resolves: {sc}");
        }
        let codings = sc["serviceType"][0]["coding"].as_array().unwrap();
        assert!(
            codings.iter().any(|c| c["system"]
                == "http://terminology.hl7.org/CodeSystem/service-type"
                && c["code"] == "57"),
            "{sc}"
        );
        let product = &ext(sc, PRODUCT).unwrap()["valueCoding"];
        assert_eq!(product["system"], "http://hl7.org/fhir/sid/cvx", "{sc}");
        assert!(
            nonempty_str(&product["code"]) && nonempty_str(&product["display"]),
            "{sc}"
        );
        assert!(ext(sc, DOSE).unwrap()["valueInteger"].is_u64(), "{sc}");
    }
    let mut slot_ids = HashSet::new();
    for sl in &p.slots {
        assert!(is_id(&sl["id"]), "{sl}");
        assert!(slot_ids.insert(sl["id"].as_str().unwrap()), "unique: {sl}");
        let id = sl["schedule"]["reference"]
            .as_str()
            .unwrap()
            .strip_prefix("Schedule/")
            .unwrap();
        assert!(schedule_ids.contains(id), "schedule resolves: {sl}");
        assert!(
            ["free", "busy"].contains(&sl["status"].as_str().unwrap()),
            "{sl}"
        );
        assert!(is_instant(&sl["start"]) && is_instant(&sl["end"]), "{sl}");
        let start: jiff::Timestamp = sl["start"].as_str().unwrap().parse().unwrap();
        let end: jiff::Timestamp = sl["end"].as_str().unwrap().parse().unwrap();
        assert!(start < end, "{sl}");
        let link = ext(sl, LINK).unwrap()["valueUrl"].as_str().unwrap();
        assert!(link.starts_with(&format!("{}/p/", srv.base)), "{sl}");
        assert!(
            ext(sl, CAPACITY).unwrap()["valueInteger"].as_i64().unwrap() >= 1,
            "{sl}"
        );
    }
    p
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
        assert_eq!(p.slots_of(motive), api, "published = API for {motive}");
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

    // A booking shows at the next read: one of the two places left, then none.
    let d1 = first["start"].as_str().unwrap().to_owned();
    assert_eq!(ext(first, CAPACITY).unwrap()["valueInteger"], 2);
    for (n, left) in [(0, Some(1)), (1, None)] {
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
        let published = p.slots_of(&c.dose1);
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

on_both_backends!(publishes_what_the_api_shows, files_and_parameters);
