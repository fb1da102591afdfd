//! A SMART Scheduling Links conformance checker, written from the specification
//! (smart-on-fhir/smart-scheduling-links, `specification.md`): the manifest, then every file it
//! links to, line by line, then the references between them. Any departure panics with the
//! offending line. Shared by the HTTP test (`bulk_publish.rs`) and the real-list test of the
//! CLI (`crates/cli/tests/import.rs`, through `#[path]`), so it needs only reqwest, serde_json
//! and jiff.

#![allow(dead_code)]

use serde_json::Value;
use std::collections::{HashMap, HashSet};

pub const PRODUCT: &str =
    "http://fhir-registry.smarthealthit.org/StructureDefinition/vaccine-product";
pub const DOSE: &str = "http://fhir-registry.smarthealthit.org/StructureDefinition/vaccine-dose";
pub const LINK: &str =
    "http://fhir-registry.smarthealthit.org/StructureDefinition/booking-deep-link";
pub const PHONE: &str = "http://fhir-registry.smarthealthit.org/StructureDefinition/booking-phone";
pub const CAPACITY: &str =
    "http://fhir-registry.smarthealthit.org/StructureDefinition/slot-capacity";
/// careslot's own identifier system for places (every Location carries it).
pub const PLACE_SYSTEM: &str = "https://careslot.eu/fhir/sid/place";
const SERVICE_TYPE: &str = "http://terminology.hl7.org/CodeSystem/service-type";
const SMART_SERVICE_TYPE: &str = "http://fhir-registry.smarthealthit.org/CodeSystem/service-type";
const CVX: &str = "http://hl7.org/fhir/sid/cvx";
/// CVX codes of the COVID-19 vaccines careslot knows (they need the covid19 coding).
const COVID_CVX: [&str; 4] = ["207", "208", "210", "212"];

/// One file of the manifest as fetched: its entry and its body.
pub struct File {
    pub entry: Value,
    pub content_type: String,
    pub text: String,
}

/// Everything published, checked.
pub struct Published {
    pub manifest: Value,
    pub locations: Vec<Value>,
    pub schedules: Vec<Value>,
    pub slots: Vec<Value>,
}

impl Published {
    /// The extension of a resource with this URL.
    pub fn ext<'a>(resource: &'a Value, url: &str) -> Option<&'a Value> {
        resource["extension"]
            .as_array()?
            .iter()
            .find(|e| e["url"] == url)
    }

    /// (start, capacity) of the slots of a schedule with this status.
    pub fn slots_of(
        &self,
        schedule: &str,
        status: &str,
    ) -> std::collections::BTreeSet<(String, i64)> {
        let reference = format!("Schedule/{schedule}");
        self.slots
            .iter()
            .filter(|s| s["schedule"]["reference"] == reference.as_str() && s["status"] == status)
            .map(|s| {
                let cap = Self::ext(s, CAPACITY).map_or(1, |c| c["valueInteger"].as_i64().unwrap());
                (s["start"].as_str().unwrap().to_owned(), cap)
            })
            .collect()
    }
}

/// Fetches the manifest at `url` and every file it lists.
pub async fn fetch(client: &reqwest::Client, url: &str) -> (Value, Vec<File>) {
    let resp = client.get(url).send().await.expect("manifest");
    assert_eq!(resp.status(), reqwest::StatusCode::OK, "{url}");
    let ct = header(&resp, "content-type");
    assert!(
        ct.starts_with("application/json"),
        "manifest content type: {ct}"
    );
    let manifest: Value = resp.json().await.expect("the manifest is JSON");
    let mut files = Vec::new();
    for entry in manifest["output"].as_array().expect("output is an array") {
        let file_url = entry["url"].as_str().expect("output url is a string");
        let resp = client.get(file_url).send().await.expect("file");
        assert_eq!(resp.status(), reqwest::StatusCode::OK, "{file_url}");
        let content_type = header(&resp, "content-type");
        let text = resp.text().await.expect("file body");
        files.push(File {
            entry: entry.clone(),
            content_type,
            text,
        });
    }
    (manifest, files)
}

fn header(resp: &reqwest::Response, name: &str) -> String {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned()
}

/// FHIR ids (letters, digits, `-`, `.`; 1 to 64). The specification's prose says
/// "alphanumeric, `_` and `.`", but its resources are FHIR resources, whose ids cannot hold
/// `_`; careslot's ids are UUIDs, so `-` it is, and never `_`.
pub fn is_id(v: &Value) -> bool {
    v.as_str().is_some_and(|s| {
        !s.is_empty()
            && s.len() <= 64
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
    })
}

/// ISO 8601 instants with seconds and an explicit offset (`Z` or `±hh:mm`): the spec's
/// "accurate offset suffix".
pub fn is_instant(v: &Value) -> bool {
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

pub fn nonempty_str(v: &Value) -> bool {
    v.as_str().is_some_and(|s| !s.trim().is_empty())
}

fn is_http_url(v: &Value) -> bool {
    v.as_str().is_some_and(|s| {
        (s.starts_with("http://") || s.starts_with("https://"))
            && s.len() > 8
            && !s.contains(char::is_whitespace)
    })
}

/// An absolute URI (a scheme, a colon, more): what FHIR wants in `identifier.system`.
fn is_absolute_uri(v: &Value) -> bool {
    v.as_str().is_some_and(|s| {
        s.split_once(':').is_some_and(|(scheme, rest)| {
            !scheme.is_empty()
                && scheme
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
                && !rest.is_empty()
                && !s.contains(char::is_whitespace)
        })
    })
}

/// No whitespace outside strings: one minified JSON object per line (comparing with a
/// re-serialisation would trip on floats, which serde_json does not parse round-trip).
fn minified(line: &str) -> bool {
    let (mut in_string, mut escaped) = (false, false);
    for c in line.chars() {
        if in_string {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
        } else if c == '"' {
            in_string = true;
        } else if c.is_whitespace() {
            return false;
        }
    }
    !in_string
}

/// An extension: a `url` and exactly one `value[x]`, nothing else.
fn check_extension_shape(e: &Value, line: &str) {
    let o = e
        .as_object()
        .unwrap_or_else(|| panic!("extension not an object: {line}"));
    assert!(is_absolute_uri(&e["url"]), "extension url: {line}");
    let values: Vec<&String> = o.keys().filter(|k| k.starts_with("value")).collect();
    assert_eq!(values.len(), 1, "one value[x] per extension: {line}");
    assert!(
        o.keys().all(|k| k == "url" || k.starts_with("value")),
        "extension keys: {line}"
    );
}

/// Checks the manifest and its files against the specification, `request` being the URL
/// the manifest was fetched from (without query).
pub fn check(request: &str, manifest: Value, files: Vec<File>) -> Published {
    // Manifest: transactionTime, request, output[type, url, extension.state], error.
    assert!(
        is_instant(&manifest["transactionTime"]),
        "transactionTime: {manifest}"
    );
    assert_eq!(
        manifest["request"], request,
        "request is the manifest's full URL"
    );
    assert!(
        manifest["error"].is_array(),
        "error is an array: {manifest}"
    );
    let outputs = manifest["output"].as_array().expect("output");
    for o in outputs {
        let kind = o["type"].as_str().unwrap_or("");
        assert!(
            ["Location", "Schedule", "Slot"].contains(&kind),
            "type: {o}"
        );
        assert!(is_http_url(&o["url"]), "absolute url: {o}");
        let states = o["extension"]["state"].as_array().expect("extension.state");
        assert!(states.iter().all(nonempty_str), "state: {o}");
    }
    for kind in ["Location", "Schedule", "Slot"] {
        assert!(
            outputs.iter().any(|o| o["type"] == kind),
            "the manifest lists a {kind} file: {manifest}"
        );
    }

    // Each file: application/fhir+ndjson, one minified resource of the file's type per line.
    let mut by_kind: HashMap<String, Vec<(Value, Vec<String>)>> = HashMap::new();
    for f in &files {
        let kind = f.entry["type"].as_str().unwrap_or("").to_owned();
        assert!(
            f.content_type.starts_with("application/fhir+ndjson"),
            "{}: {}",
            f.entry,
            f.content_type
        );
        assert!(
            f.text.is_empty() || f.text.ends_with('\n'),
            "every line ends with a newline: {}",
            f.entry
        );
        let states: Vec<String> = f.entry["extension"]["state"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        for line in f.text.lines() {
            assert!(!line.is_empty(), "no blank line in {}", f.entry);
            let r: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
            assert!(r.is_object(), "an object per line: {line}");
            assert_eq!(r["resourceType"], kind.as_str(), "{line}");
            assert!(minified(line), "minified: {line}");
            by_kind
                .entry(kind.clone())
                .or_default()
                .push((r, states.clone()));
        }
    }
    let mut take = |k: &str| by_kind.remove(k).unwrap_or_default();
    let (locations, schedules, slots) = (take("Location"), take("Schedule"), take("Slot"));

    // Location: id, identifier[system, value], name, telecom[system phone|url, value],
    // address{line[], city, state, postalCode}, optional position{latitude, longitude}.
    let mut location_state: HashMap<String, String> = HashMap::new();
    for (l, states) in &locations {
        let line = l.to_string();
        assert!(is_id(&l["id"]), "id: {line}");
        let id = l["id"].as_str().unwrap().to_owned();
        let ids = l["identifier"]
            .as_array()
            .unwrap_or_else(|| panic!("identifier: {line}"));
        assert!(!ids.is_empty(), "identifier: {line}");
        for i in ids {
            assert!(is_absolute_uri(&i["system"]), "identifier.system: {line}");
            assert!(nonempty_str(&i["value"]), "identifier.value: {line}");
        }
        assert!(
            ids.iter()
                .any(|i| i["system"] == PLACE_SYSTEM && i["value"] == id.as_str()),
            "careslot's stable identifier: {line}"
        );
        assert!(nonempty_str(&l["name"]), "name: {line}");
        let telecom = l["telecom"]
            .as_array()
            .unwrap_or_else(|| panic!("telecom: {line}"));
        assert!(!telecom.is_empty(), "telecom: {line}");
        for t in telecom {
            match t["system"].as_str() {
                Some("phone") => assert!(
                    t["value"].as_str().is_some_and(|v| v
                        .bytes()
                        .filter(u8::is_ascii_digit)
                        .count()
                        >= 6),
                    "a full phone number: {line}"
                ),
                Some("url") => assert!(is_http_url(&t["value"]), "url: {line}"),
                _ => panic!("telecom.system is phone or url: {line}"),
            }
        }
        let a = &l["address"];
        let lines = a["line"]
            .as_array()
            .unwrap_or_else(|| panic!("address.line: {line}"));
        assert!(
            !lines.is_empty() && lines.iter().all(nonempty_str),
            "address.line: {line}"
        );
        for f in ["city", "state", "postalCode"] {
            assert!(nonempty_str(&a[f]), "address.{f}: {line}");
        }
        if !a["district"].is_null() {
            assert!(nonempty_str(&a["district"]), "address.district: {line}");
        }
        if !l["description"].is_null() {
            assert!(l["description"].is_string(), "description: {line}");
        }
        if !l["position"].is_null() {
            let lat = l["position"]["latitude"].as_f64().expect("latitude");
            let lon = l["position"]["longitude"].as_f64().expect("longitude");
            assert!(
                (-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon),
                "{line}"
            );
        }
        let state = a["state"].as_str().unwrap().to_owned();
        assert!(
            states.contains(&state),
            "the file's state lists {state}: {line}"
        );
        assert!(
            location_state.insert(id, state).is_none(),
            "unique Location id: {line}"
        );
    }

    // Schedule: id, actor[one Location reference that resolves], serviceType[coding], and the
    // vaccine extensions' shapes.
    let mut schedule_location: HashMap<String, String> = HashMap::new();
    for (sc, _) in &schedules {
        let line = sc.to_string();
        assert!(is_id(&sc["id"]), "id: {line}");
        let actors = sc["actor"]
            .as_array()
            .unwrap_or_else(|| panic!("actor: {line}"));
        assert_eq!(actors.len(), 1, "one actor: {line}");
        let loc = actors[0]["reference"]
            .as_str()
            .and_then(|r| r.strip_prefix("Location/"))
            .unwrap_or_else(|| panic!("actor.reference: {line}"));
        assert!(location_state.contains_key(loc), "actor resolves: {line}");
        let types = sc["serviceType"]
            .as_array()
            .unwrap_or_else(|| panic!("serviceType: {line}"));
        assert!(!types.is_empty(), "serviceType: {line}");
        let codings: Vec<&Value> = types
            .iter()
            .flat_map(|t| t["coding"].as_array().into_iter().flatten())
            .collect();
        assert!(
            codings
                .iter()
                .all(|c| is_absolute_uri(&c["system"]) && nonempty_str(&c["code"])),
            "codings: {line}"
        );
        assert!(
            codings
                .iter()
                .any(|c| c["system"] == SERVICE_TYPE && c["code"] == "57"),
            "Immunization: {line}"
        );
        let exts = sc["extension"].as_array().cloned().unwrap_or_default();
        for e in &exts {
            check_extension_shape(e, &line);
            assert!(
                [PRODUCT, DOSE].contains(&e["url"].as_str().unwrap()),
                "known extension: {line}"
            );
        }
        let products: Vec<&Value> = exts.iter().filter(|e| e["url"] == PRODUCT).collect();
        assert!(
            products.len() <= 1,
            "vaccine-product does not repeat: {line}"
        );
        if let Some(p) = products.first() {
            let c = &p["valueCoding"];
            assert_eq!(c["system"], CVX, "{line}");
            assert!(
                nonempty_str(&c["code"]) && nonempty_str(&c["display"]),
                "{line}"
            );
            if COVID_CVX.contains(&c["code"].as_str().unwrap()) {
                assert!(
                    codings.iter().any(|c| c["system"] == SMART_SERVICE_TYPE
                        && c["code"] == "covid19-immunization"),
                    "COVID-19 immunization coding: {line}"
                );
            }
        }
        for d in exts.iter().filter(|e| e["url"] == DOSE) {
            assert!(
                d["valueInteger"].as_i64().is_some_and(|n| n >= 1),
                "vaccine-dose: {line}"
            );
        }
        assert!(
            schedule_location
                .insert(sc["id"].as_str().unwrap().to_owned(), loc.to_owned())
                .is_none(),
            "unique Schedule id: {line}"
        );
    }
    // Every Location has something to book (careslot publishes no empty place).
    let scheduled: HashSet<&String> = schedule_location.values().collect();
    for id in location_state.keys() {
        assert!(scheduled.contains(id), "Location {id} has a Schedule");
    }

    // Slot: id, schedule reference that resolves, status free|busy, start < end with offsets,
    // extension shapes; a file lists the jurisdictions of its slots.
    let mut slot_ids = HashSet::new();
    for (sl, states) in &slots {
        let line = sl.to_string();
        assert!(is_id(&sl["id"]), "id: {line}");
        assert!(
            slot_ids.insert(sl["id"].as_str().unwrap().to_owned()),
            "unique Slot id: {line}"
        );
        let sched = sl["schedule"]["reference"]
            .as_str()
            .and_then(|r| r.strip_prefix("Schedule/"))
            .unwrap_or_else(|| panic!("schedule.reference: {line}"));
        let loc = schedule_location
            .get(sched)
            .unwrap_or_else(|| panic!("schedule resolves: {line}"));
        assert!(
            states.contains(&location_state[loc]),
            "the file's state: {line}"
        );
        let status = sl["status"].as_str().unwrap_or("");
        assert!(["free", "busy"].contains(&status), "status: {line}");
        assert!(
            is_instant(&sl["start"]) && is_instant(&sl["end"]),
            "start/end: {line}"
        );
        let start: jiff::Timestamp = sl["start"].as_str().unwrap().parse().unwrap();
        let end: jiff::Timestamp = sl["end"].as_str().unwrap().parse().unwrap();
        assert!(start < end, "{line}");
        for e in sl["extension"].as_array().into_iter().flatten() {
            check_extension_shape(e, &line);
            match e["url"].as_str().unwrap() {
                LINK => assert!(is_http_url(&e["valueUrl"]), "booking-deep-link: {line}"),
                PHONE => assert!(nonempty_str(&e["valueString"]), "booking-phone: {line}"),
                CAPACITY => assert!(
                    e["valueInteger"].as_i64().is_some_and(|n| n >= 1),
                    "slot-capacity: {line}"
                ),
                other => panic!("unknown extension {other}: {line}"),
            }
        }
        if status == "free" {
            // careslot books online: every free slot has its deep link.
            assert!(Published::ext(sl, LINK).is_some(), "deep link: {line}");
        }
    }

    Published {
        manifest,
        locations: locations.into_iter().map(|(v, _)| v).collect(),
        schedules: schedules.into_iter().map(|(v, _)| v).collect(),
        slots: slots.into_iter().map(|(v, _)| v).collect(),
    }
}
