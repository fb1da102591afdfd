//! The FHIR R4 scheduling API (issue 19 point 2), over real HTTP on SQLite and PostgreSQL:
//! every resource type it answers validates with Python's `fhir.resources` (R4B models);
//! the directory resources agree with the public API's slots and leak no patient data;
//! errors are OperationOutcomes with the right status; `$find` → `$hold` → `$book` books a
//! real slot; create and cancel honour Idempotency-Key and free the place; and many
//! concurrent `$book`s and creates of one slot give exactly one winner.

mod common;

use common::{new_location, start, start_on, uuid_like, Backend, Db, Practice, TestServer};
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sqlx::{Connection, PgConnection};
use std::collections::BTreeSet;
use std::process::Command;
use std::sync::{Arc, Mutex};

const HINT: &str = "the FHIR tests need python3 with fhir.resources (R4B models): \
                    run scripts/install-test-deps, or python3 -m pip install fhir.resources";

/// Every FHIR answer of a test, validated together at its end.
#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<Value>>>);

impl Seen {
    fn keep(&self, v: &Value) {
        if v.get("resourceType").is_some() {
            if let Ok(mut all) = self.0.lock() {
                all.push(v.clone());
            }
        }
    }

    fn types(&self) -> BTreeSet<String> {
        let all = self.0.lock().map(|a| a.clone()).unwrap_or_default();
        let mut out = BTreeSet::new();
        for r in &all {
            out.insert(r["resourceType"].as_str().unwrap_or_default().to_owned());
            for e in r["entry"].as_array().into_iter().flatten() {
                out.insert(
                    e["resource"]["resourceType"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                );
            }
        }
        out
    }

    /// Validates every answer (and every Bundle entry) with `fhir.resources`' R4B models.
    fn validate(&self) {
        let all = self.0.lock().map(|a| a.clone()).unwrap_or_default();
        let file = std::env::temp_dir().join(format!(
            "careslot-fhir-{}-{}.json",
            std::process::id(),
            uuid_like()
        ));
        std::fs::write(&file, serde_json::to_vec(&all).expect("json")).expect("write");
        let script = r#"
import json, sys
try:
    from fhir.resources.R4B import get_fhir_model_class
except ImportError as e:
    print("MISSING fhir.resources: %s" % e)
    sys.exit(3)

def check(r):
    cls = get_fhir_model_class(r["resourceType"])
    validate = getattr(cls, "model_validate", None) or cls.parse_obj
    validate(r)

errors = []
items = json.load(open(sys.argv[1]))
for i, r in enumerate(items):
    for one in [r] + [e["resource"] for e in r.get("entry", [])]:
        try:
            check(one)
        except Exception as e:
            errors.append("%d %s: %s" % (i, one.get("resourceType"), e))
print("\n".join(errors) if errors else "valid %d" % len(items))
sys.exit(1 if errors else 0)
"#;
        let out = Command::new("python3")
            .args(["-c", script])
            .arg(&file)
            .output()
            .unwrap_or_else(|e| panic!("python3 could not be started ({e}); {HINT}"));
        let _ = std::fs::remove_file(&file);
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.code() != Some(3) && !stderr.contains("No module named"),
            "{HINT}: {stdout}{stderr}"
        );
        assert!(
            out.status.success() && stdout.starts_with("valid"),
            "FHIR resources that do not validate:\n{stdout}{stderr}"
        );
    }
}

struct Fhir<'a> {
    srv: &'a TestServer,
    seen: Seen,
}

impl Fhir<'_> {
    /// A FHIR request; every answer must be `application/fhir+json`, every refusal an
    /// OperationOutcome.
    async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        key: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, HeaderMap, Value) {
        let mut req = self
            .srv
            .client
            .request(method, format!("{}/fhir{path}", self.srv.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(k) = key {
            req = req.header("Idempotency-Key", k);
        }
        if let Some(b) = body {
            req = req
                .header("content-type", "application/fhir+json")
                .body(b.to_string());
        }
        let resp = req.send().await.expect("request");
        let status = resp.status();
        let headers = resp.headers().clone();
        let value: Value = resp.json().await.expect("a JSON body");
        assert!(
            headers["content-type"]
                .to_str()
                .is_ok_and(|v| v.starts_with("application/fhir+json")),
            "{path}: {headers:?}"
        );
        if status.is_client_error() || status.is_server_error() {
            assert_eq!(value["resourceType"], "OperationOutcome", "{path}: {value}");
            assert_eq!(value["issue"][0]["severity"], "error", "{value}");
        }
        self.seen.keep(&value);
        (status, headers, value)
    }

    async fn get(&self, path: &str, token: Option<&str>) -> (StatusCode, Value) {
        let (s, _, v) = self.call(Method::GET, path, token, None, None).await;
        (s, v)
    }

    async fn ok(&self, path: &str) -> Value {
        let (s, v) = self.get(path, None).await;
        assert_eq!(s, StatusCode::OK, "{path}: {v}");
        v
    }

    async fn post(
        &self,
        path: &str,
        token: &str,
        key: Option<&str>,
        body: Value,
    ) -> (StatusCode, HeaderMap, Value) {
        self.call(Method::POST, path, Some(token), key, Some(body))
            .await
    }
}

fn entries(bundle: &Value) -> Vec<Value> {
    assert_eq!(bundle["resourceType"], "Bundle", "{bundle}");
    assert_eq!(bundle["type"], "searchset", "{bundle}");
    bundle["entry"]
        .as_array()
        .map(|e| e.iter().map(|x| x["resource"].clone()).collect())
        .unwrap_or_default()
}

fn ids(resources: &[Value]) -> Vec<String> {
    resources
        .iter()
        .filter_map(|r| r["id"].as_str().map(str::to_owned))
        .collect()
}

fn today_plus(days: i64) -> jiff::civil::Date {
    jiff::Zoned::now()
        .with_time_zone(jiff::tz::TimeZone::get("Europe/Paris").expect("zone"))
        .date()
        .checked_add(jiff::Span::new().days(days))
        .expect("date")
}

/// Free Slot ids of a practice over the next `days` local days.
async fn free_slots(f: &Fhir<'_>, p: &Practice, days: i64) -> Vec<Value> {
    let path = format!(
        "/Slot?schedule=Schedule/{}&status=free&start=ge{}&start=lt{}&_count=500",
        p.motive_id,
        today_plus(0),
        today_plus(days)
    );
    entries(&f.ok(&path).await)
}

fn params(list: Value) -> Value {
    json!({"resourceType": "Parameters", "parameter": list})
}

async fn directory_resources(backend: Backend) {
    let (srv, _loc) = start(backend).await;
    let f = Fhir {
        srv: &srv,
        seen: Seen::default(),
    };
    let p = srv.practice("Dr Fhir Annuaire", 15, 1).await;

    let cap = f.ok("/metadata").await;
    assert_eq!(cap["resourceType"], "CapabilityStatement");
    assert_eq!(cap["fhirVersion"], "4.0.1");
    let served: BTreeSet<&str> = cap["rest"][0]["resource"]
        .as_array()
        .expect("resources")
        .iter()
        .filter_map(|r| r["type"].as_str())
        .collect();
    for t in [
        "Practitioner",
        "PractitionerRole",
        "Location",
        "HealthcareService",
        "Schedule",
        "Slot",
        "Appointment",
    ] {
        assert!(served.contains(t), "{t} missing from {served:?}");
    }

    // Practitioner, by id and by name.
    let pr = f.ok(&format!("/Practitioner/{}", p.practitioner_id)).await;
    assert_eq!(pr["name"][0]["text"], "Dr Fhir Annuaire");
    let found = entries(&f.ok("/Practitioner?name:contains=fhir%20annu").await);
    assert_eq!(ids(&found), vec![p.practitioner_id.clone()]);

    // The agenda as a PractitionerRole; its place as a Location.
    let role = f.ok(&format!("/PractitionerRole/{}", p.agenda_id)).await;
    assert_eq!(
        role["practitioner"]["reference"],
        format!("Practitioner/{}", p.practitioner_id)
    );
    let place = role["location"][0]["reference"]
        .as_str()
        .and_then(|r| r.strip_prefix("Location/"))
        .expect("location")
        .to_owned();
    let roles = entries(
        &f.ok(&format!(
            "/PractitionerRole?practitioner=Practitioner/{}",
            p.practitioner_id
        ))
        .await,
    );
    assert_eq!(ids(&roles), vec![p.agenda_id.clone()]);
    let loc = f.ok(&format!("/Location/{place}")).await;
    assert_eq!(loc["address"]["city"], "Paris");
    assert_eq!(
        loc["identifier"][0]["system"],
        "https://careslot.eu/fhir/sid/place"
    );
    let locs = entries(
        &f.ok(&format!("/Location?_id={place}&address-city=par"))
            .await,
    );
    assert_eq!(ids(&locs), vec![place.clone()]);

    // The motive as HealthcareService and Schedule (the SMART feed's Schedule id).
    let hs = f.ok(&format!("/HealthcareService/{}", p.motive_id)).await;
    assert_eq!(hs["name"], "Consultation");
    let hss = entries(
        &f.ok(&format!("/HealthcareService?location=Location/{place}"))
            .await,
    );
    assert_eq!(ids(&hss), vec![p.motive_id.clone()]);
    let sc = f.ok(&format!("/Schedule/{}", p.motive_id)).await;
    let actors: Vec<&str> = sc["actor"]
        .as_array()
        .expect("actors")
        .iter()
        .filter_map(|a| a["reference"].as_str())
        .collect();
    assert!(actors.contains(&format!("Practitioner/{}", p.practitioner_id).as_str()));
    assert!(actors.contains(&format!("Location/{place}").as_str()));
    let scs = entries(
        &f.ok(&format!(
            "/Schedule?actor=Practitioner/{}&service-type=general-practitioner",
            p.practitioner_id
        ))
        .await,
    );
    assert_eq!(ids(&scs), vec![p.motive_id.clone()]);
    let none = entries(
        &f.ok(&format!(
            "/Schedule?actor=Practitioner/{}&service-type=dentist",
            p.practitioner_id
        ))
        .await,
    );
    assert!(none.is_empty());

    // Slots: the free starts are exactly those of the public API over the same days.
    let (s, api) = srv
        .get(
            &format!(
                "/api/v1/agendas/{}/slots?motive_id={}&from={}&to={}",
                p.agenda_id,
                p.motive_id,
                today_plus(0),
                today_plus(2)
            ),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    // Starts within two minutes may pass between the two reads: compared from then on.
    let soon = jiff::Timestamp::now().as_second() + 120;
    let second = |s: &Value| {
        s["start"]
            .as_str()
            .and_then(|t| t.parse::<jiff::Timestamp>().ok())
            .expect("start")
            .as_second()
    };
    let api_starts: Vec<i64> = api["slots"]
        .as_array()
        .expect("slots")
        .iter()
        .map(second)
        .filter(|t| *t >= soon)
        .collect();
    let free: Vec<Value> = free_slots(&f, &p, 3)
        .await
        .into_iter()
        .filter(|s| second(s) >= soon)
        .collect();
    let fhir_starts: Vec<i64> = free.iter().map(second).collect();
    assert!(!api_starts.is_empty());
    assert_eq!(fhir_starts, api_starts);
    let first = free[0]["id"].as_str().expect("slot id").to_owned();
    assert_eq!(first, format!("{}.{}", p.motive_id, api_starts[0]));
    let one = f.ok(&format!("/Slot/{first}")).await;
    assert_eq!(one["status"], "free");

    // A booking with a note: the Slot turns busy; the note appears nowhere public.
    let (patient, _) = srv.account("patient", "Fhir Dir Patient").await;
    let note = format!("secret-symptom-{}", uuid_like());
    let (s, booked) = srv
        .post(
            "/api/v1/appointments",
            Some(&patient),
            json!({"agenda_id": p.agenda_id, "motive_id": p.motive_id, "start": free[0]["start"], "note": note}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{booked}");
    let one = f.ok(&format!("/Slot/{first}")).await;
    assert_eq!(one["status"], "busy");
    let busy = entries(
        &f.ok(&format!(
            "/Slot?schedule=Schedule/{}&status=busy&start=ge{}&start=lt{}",
            p.motive_id,
            today_plus(0),
            today_plus(3)
        ))
        .await,
    );
    assert_eq!(ids(&busy), vec![first.clone()]);

    // Refusals: OperationOutcomes with the right status.
    let wide = format!("/Slot?start=ge{}&start=lt{}", today_plus(0), today_plus(60));
    for (path, status) in [
        ("/Slot/not-a-slot", StatusCode::NOT_FOUND),
        ("/Practitioner/unknown", StatusCode::NOT_FOUND),
        ("/Patient", StatusCode::NOT_FOUND),
        ("/Slot?bogus=1", StatusCode::BAD_REQUEST),
        ("/Slot?start=xx2026-01-01", StatusCode::BAD_REQUEST),
        ("/Slot?status=open", StatusCode::BAD_REQUEST),
        (wide.as_str(), StatusCode::BAD_REQUEST),
        ("/Practitioner?_count=0", StatusCode::BAD_REQUEST),
        ("/Appointment", StatusCode::UNAUTHORIZED),
    ] {
        let (s, v) = f.get(path, None).await;
        assert_eq!(s, status, "{path}: {v}");
    }
    for (method, path) in [
        (Method::DELETE, format!("/Slot/{first}")),
        (Method::GET, "/Appointment/$find".to_owned()),
    ] {
        let (s, _, v) = f.call(method, &path, None, None, None).await;
        assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED, "{path}: {v}");
    }
    let (s, h, _) = f
        .call(Method::GET, "/Appointment", Some("not-a-token"), None, None)
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(h["www-authenticate"], "Bearer");
    let (s, v) = f.get("/Appointment", Some(&p.token)).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");

    // Nothing public carries the patient's note or identity.
    let all = serde_json::to_string(&*f.seen.0.lock().expect("seen")).expect("json");
    assert!(
        !all.contains(&note),
        "a note leaked into a public FHIR answer"
    );
    assert!(!all.contains("Fhir Dir Patient"));

    let types = f.seen.types();
    for t in [
        "CapabilityStatement",
        "Practitioner",
        "PractitionerRole",
        "Location",
        "HealthcareService",
        "Schedule",
        "Slot",
        "Bundle",
        "OperationOutcome",
    ] {
        assert!(types.contains(t), "{t} not seen: {types:?}");
    }
    f.seen.validate();
}

async fn booking_flows(backend: Backend) {
    let (srv, _loc) = start(backend).await;
    let f = Fhir {
        srv: &srv,
        seen: Seen::default(),
    };
    let p = srv.practice("Dr Fhir Agenda", 15, 1).await;
    let (alice, alice_id) = srv.account("patient", "Fhir Alice").await;
    let (bob, _) = srv.account("patient", "Fhir Bob").await;

    // $find: free times as proposed Appointments.
    let find = params(json!([
        {"name": "start", "valueDate": today_plus(0).to_string()},
        {"name": "end", "valueDate": today_plus(3).to_string()},
        {"name": "practitioner", "valueReference": {"reference": format!("Practitioner/{}", p.practitioner_id)}},
        {"name": "service-type", "valueCoding": {"system": "https://careslot.eu/fhir/CodeSystem/specialty", "code": "general-practitioner"}},
    ]));
    let (s, _, found) = f
        .post("/Appointment/$find", &alice, None, find.clone())
        .await;
    assert_eq!(s, StatusCode::OK, "{found}");
    let proposed = entries(&found);
    assert!(proposed.len() >= 3, "{found}");
    assert!(proposed.iter().all(|a| a["status"] == "proposed"));

    // $hold the first: a pending Appointment; nobody else can hold it.
    let (s, _, held) = f
        .post(
            "/Appointment/$hold",
            &alice,
            None,
            params(json!([{"name": "appt-resource", "resource": proposed[0]}])),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{held}");
    let held = entries(&held).remove(0);
    assert_eq!(held["status"], "pending");
    assert_eq!(held["slot"], proposed[0]["slot"]);
    let hold_id = held["id"].as_str().expect("hold id").to_owned();
    let (s, _, v) = f
        .post(
            "/Appointment/$hold",
            &bob,
            None,
            params(json!([{"name": "appt-resource", "resource": proposed[0]}])),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    assert_eq!(v["issue"][0]["code"], "conflict");

    // $book the hold, twice with the same key: one booking.
    let key = format!("fhir-book-{}", uuid_like());
    let book =
        params(json!([{"name": "appt-id", "valueString": format!("Appointment/{hold_id}")}]));
    let (s, _, booked) = f
        .post("/Appointment/$book", &alice, Some(&key), book.clone())
        .await;
    assert_eq!(s, StatusCode::OK, "{booked}");
    let booked = entries(&booked).remove(0);
    assert_eq!(booked["status"], "booked");
    assert_eq!(booked["id"], hold_id.as_str());
    assert!(booked["participant"]
        .as_array()
        .expect("participants")
        .iter()
        .any(|p| p["actor"]["reference"] == format!("Patient/{alice_id}")));
    let (s, _, again) = f.post("/Appointment/$book", &alice, Some(&key), book).await;
    assert_eq!(s, StatusCode::OK, "{again}");
    assert_eq!(entries(&again)[0]["id"], hold_id.as_str());
    let (s, list) = srv.get("/api/v1/appointments", Some(&alice)).await;
    assert_eq!(s, StatusCode::OK);
    let api_ids: Vec<&str> = list["appointments"]
        .as_array()
        .expect("appointments")
        .iter()
        .filter_map(|a| a["id"].as_str())
        .collect();
    assert_eq!(api_ids, vec![hold_id.as_str()]);
    let slot_ref = proposed[0]["slot"][0]["reference"]
        .as_str()
        .expect("slot")
        .to_owned();
    assert_eq!(f.ok(&format!("/{slot_ref}")).await["status"], "busy");

    // Create: book the second proposed slot; the same key answers the same appointment, the
    // same key for another slot is refused.
    let key = format!("fhir-create-{}", uuid_like());
    let create = |slot: &Value| {
        json!({"resourceType": "Appointment", "status": "booked", "slot": [slot.clone()],
               "participant": [{"actor": {"reference": format!("Patient/{alice_id}")}, "status": "accepted"}],
               "comment": "second visit"})
    };
    let (s, h, made) = f
        .post(
            "/Appointment",
            &alice,
            Some(&key),
            create(&proposed[1]["slot"][0]),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{made}");
    let made_id = made["id"].as_str().expect("id").to_owned();
    assert!(h["location"]
        .to_str()
        .is_ok_and(|l| l.ends_with(&format!("/fhir/Appointment/{made_id}"))));
    assert_eq!(h["cache-control"], "no-store");
    assert_eq!(made["comment"], "second visit");
    let (s, _, same) = f
        .post(
            "/Appointment",
            &alice,
            Some(&key),
            create(&proposed[1]["slot"][0]),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{same}");
    assert_eq!(same["id"], made_id.as_str());
    let (s, _, v) = f
        .post(
            "/Appointment",
            &alice,
            Some(&key),
            create(&proposed[2]["slot"][0]),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    let (s, _, v) = f
        .post("/Appointment", &bob, None, create(&proposed[1]["slot"][0]))
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");

    // Read and search: the caller's own only.
    let (s, mine) = f
        .get(&format!("/Appointment/{made_id}"), Some(&alice))
        .await;
    assert_eq!(s, StatusCode::OK, "{mine}");
    assert_eq!(mine["status"], "booked");
    let (s, v) = f.get(&format!("/Appointment/{made_id}"), Some(&bob)).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
    let (s, all) = f.get("/Appointment?status=booked", Some(&alice)).await;
    assert_eq!(s, StatusCode::OK, "{all}");
    let mut listed = ids(&entries(&all));
    listed.sort();
    let mut expected = vec![hold_id.clone(), made_id.clone()];
    expected.sort();
    assert_eq!(listed, expected);
    let (_, bobs) = f.get("/Appointment", Some(&bob)).await;
    assert!(entries(&bobs).is_empty());

    // Cancel with PUT status=cancelled: the place is free again at once.
    let mut cancel = mine.clone();
    cancel["status"] = json!("cancelled");
    let (s, _, v) = f
        .call(
            Method::PUT,
            &format!("/Appointment/{made_id}"),
            Some(&bob),
            None,
            Some(cancel.clone()),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
    let mut other = mine.clone();
    other["status"] = json!("noshow");
    let (s, _, v) = f
        .call(
            Method::PUT,
            &format!("/Appointment/{made_id}"),
            Some(&alice),
            None,
            Some(other),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    let (s, _, cancelled) = f
        .call(
            Method::PUT,
            &format!("/Appointment/{made_id}"),
            Some(&alice),
            None,
            Some(cancel),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{cancelled}");
    assert_eq!(cancelled["status"], "cancelled");
    let slot2 = proposed[1]["slot"][0]["reference"]
        .as_str()
        .expect("slot")
        .to_owned();
    assert_eq!(f.ok(&format!("/{slot2}")).await["status"], "free");

    // Malformed operations.
    let (s, _, v) = f
        .post(
            "/Appointment/$find",
            &alice,
            None,
            params(json!([{"name": "start", "valueDate": today_plus(0).to_string()}])),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    let (s, _, v) = f
        .post(
            "/Appointment/$book",
            &alice,
            None,
            json!({"resourceType": "Appointment"}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");

    // The waiting room guards the FHIR booking entry points too: 429 with Retry-After.
    let op = srv.operator.clone().expect("operator token");
    let (s, v) = srv
        .call(
            Method::PUT,
            "/api/v1/operator/waiting-room",
            Some(&op),
            Some(json!({"enabled": true, "admission_rate": 1})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, h, v) = f
        .post(
            "/Appointment/$book",
            &bob,
            None,
            params(json!([{"name": "appt-resource", "resource": proposed[2]}])),
        )
        .await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS, "{v}");
    assert_eq!(v["issue"][0]["code"], "throttled", "{v}");
    assert!(h.get("retry-after").is_some());
    let (s, v) = srv
        .call(
            Method::PUT,
            "/api/v1/operator/waiting-room",
            Some(&op),
            Some(json!({"enabled": false})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");

    // Search pages: `_count` and the `next` link walk the slots without overlap.
    let page1 = f
        .ok(&format!(
            "/Slot?schedule=Schedule/{}&start=ge{}&start=lt{}&_count=5",
            p.motive_id,
            today_plus(0),
            today_plus(3)
        ))
        .await;
    let total = page1["total"].as_u64().expect("total");
    assert!(total > 5, "{page1}");
    let first_ids = ids(&entries(&page1));
    assert_eq!(first_ids.len(), 5);
    let next = page1["link"]
        .as_array()
        .expect("links")
        .iter()
        .find(|l| l["relation"] == "next")
        .and_then(|l| l["url"].as_str())
        .expect("a next link")
        .to_owned();
    let path = next
        .split_once("/fhir")
        .map(|(_, p)| p.to_owned())
        .expect("a /fhir URL");
    let page2 = f.ok(&path).await;
    let second_ids = ids(&entries(&page2));
    assert_eq!(second_ids.len(), 5);
    assert!(second_ids.iter().all(|i| !first_ids.contains(i)));

    let types = f.seen.types();
    for t in ["Appointment", "Bundle", "OperationOutcome", "Slot"] {
        assert!(types.contains(t), "{t} not seen: {types:?}");
    }
    f.seen.validate();
}

/// Many patients book the same place at once, half by `$book`, half by create: one wins,
/// every other gets 409, and the Slot is busy.
async fn one_winner(backend: Backend) {
    const PATIENTS: usize = 8;
    let (srv, _loc) = start(backend).await;
    let srv = Arc::new(srv);
    let p = srv.practice("Dr Fhir Rush", 15, 1).await;
    let f = Fhir {
        srv: &srv,
        seen: Seen::default(),
    };
    let slot = free_slots(&f, &p, 2).await[0].clone();
    let slot_id = slot["id"].as_str().expect("id").to_owned();
    let mut tokens = Vec::new();
    for i in 0..PATIENTS {
        tokens.push(srv.account("patient", &format!("Fhir Rush {i}")).await.0);
    }
    let appointment = json!({"resourceType": "Appointment", "status": "booked",
        "slot": [{"reference": format!("Slot/{slot_id}")}],
        "participant": [{"actor": {"display": "me"}, "status": "accepted"}]});
    let tasks: Vec<_> = tokens
        .into_iter()
        .enumerate()
        .map(|(i, token)| {
            let srv = srv.clone();
            let appointment = appointment.clone();
            tokio::spawn(async move {
                let (path, body) = if i % 2 == 0 {
                    (
                        "/fhir/Appointment/$book".to_owned(),
                        params(json!([{"name": "appt-resource", "resource": appointment}])),
                    )
                } else {
                    ("/fhir/Appointment".to_owned(), appointment)
                };
                let resp = srv
                    .client
                    .post(format!("{}{path}", srv.base))
                    .bearer_auth(&token)
                    .header("content-type", "application/fhir+json")
                    .header("Idempotency-Key", format!("rush-{i}"))
                    .body(body.to_string())
                    .send()
                    .await
                    .expect("request");
                let status = resp.status();
                let body: Value = resp.json().await.expect("json");
                (status, body)
            })
        })
        .collect();
    let mut won = Vec::new();
    for t in tasks {
        let (status, body) = t.await.expect("task");
        match status {
            StatusCode::OK | StatusCode::CREATED => won.push(body),
            StatusCode::CONFLICT => {
                assert_eq!(body["resourceType"], "OperationOutcome", "{body}");
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!(won.len(), 1, "exactly one winner: {won:?}");
    assert_eq!(f.ok(&format!("/Slot/{slot_id}")).await["status"], "busy");
}

on_both_backends!(directory_resources, booking_flows, one_winner);

/// A database that fails (PostgreSQL: its tables locked past the statement timeout) answers
/// 503 with Retry-After as a `transient` OperationOutcome, never 500; and serves again after.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn store_failure_is_a_transient_outcome() {
    let loc = new_location(Backend::Postgres).await;
    let Db::Postgres(url) = &loc.db else {
        unreachable!("a PostgreSQL location")
    };
    let db = url
        .rsplit('/')
        .next()
        .and_then(|s| s.split('?').next())
        .expect("database name")
        .to_owned();
    let srv = start_on(&loc).await;
    let f = Fhir {
        srv: &srv,
        seen: Seen::default(),
    };
    let p = srv.practice("Dr Fhir Panne", 15, 1).await;
    let (patient, _) = srv.account("patient", "Fhir Panne Patient").await;
    let role = f.ok(&format!("/PractitionerRole/{}", p.agenda_id)).await;
    let location = role["location"][0]["reference"]
        .as_str()
        .expect("location")
        .to_owned();
    f.ok(&format!("/{location}")).await;
    let (s, v) = f.get("/Appointment", Some(&patient)).await;
    assert_eq!(s, StatusCode::OK, "{v}");

    // New sessions give up on a statement after 200 ms; the server's connections are made
    // anew; the tables those reads need are locked.
    let mut admin = PgConnection::connect(url).await.expect("admin connection");
    sqlx::query(&format!(
        "ALTER DATABASE \"{db}\" SET statement_timeout = '200ms'"
    ))
    .execute(&mut admin)
    .await
    .expect("statement timeout");
    sqlx::query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = $1 AND pid <> pg_backend_pid()",
    )
    .bind(&db)
    .execute(&mut admin)
    .await
    .expect("terminate");
    let mut tx = admin.begin().await.expect("begin");
    sqlx::query("SET LOCAL statement_timeout = 0")
        .execute(&mut *tx)
        .await
        .expect("no timeout here");
    sqlx::query("LOCK TABLE reservations, imported_sites IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *tx)
        .await
        .expect("lock");
    for (path, token) in [
        ("/Appointment".to_owned(), Some(patient.as_str())),
        (format!("/{location}"), None),
    ] {
        let (s, h, v) = f.call(Method::GET, &path, token, None, None).await;
        assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{path}: {v}");
        assert!(h.get("retry-after").is_some(), "{path}: {h:?}");
        assert_eq!(v["issue"][0]["code"], "transient", "{v}");
    }
    tx.rollback().await.expect("rollback");
    sqlx::query(&format!("ALTER DATABASE \"{db}\" RESET statement_timeout"))
        .execute(&mut admin)
        .await
        .expect("reset");
    let (s, v) = f.get("/Appointment", Some(&patient)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    f.seen.validate();
}
