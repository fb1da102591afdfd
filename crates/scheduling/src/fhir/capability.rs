//! `GET /fhir/metadata`: the CapabilityStatement, stating only what is served.

use super::{fhir, fhir_base};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{json, Value};

fn param(name: &str, kind: &str, doc: &str) -> Value {
    json!({"name": name, "type": kind, "documentation": doc})
}

fn read_search(kind: &str, doc: &str, params: Vec<Value>) -> Value {
    json!({
        "type": kind,
        "documentation": doc,
        "interaction": [{"code": "read"}, {"code": "search-type"}],
        "searchParam": params,
    })
}

fn operation(name: &str, doc: &str) -> Value {
    json!({
        "name": name,
        "definition": format!("https://careslot.eu/fhir/OperationDefinition/appointment-{name}"),
        "documentation": doc,
    })
}

pub fn statement(base: &str) -> Value {
    let id = param("_id", "token", "the resource id");
    let count = param(
        "_count",
        "number",
        "results per page, 1 to 500 (default 50)",
    );
    let token = |n: &str, d: &str| param(n, "token", d);
    let reference = |n: &str, d: &str| param(n, "reference", d);
    let string = |n: &str, d: &str| param(n, "string", d);
    let resources = vec![
        read_search(
            "Practitioner",
            "Verified practitioners of the public directory.",
            vec![id.clone(), string("name", "start of the name (:contains, :exact)"), token("identifier", "careslot's practitioner id"), count.clone()],
        ),
        read_search(
            "PractitionerRole",
            "One agenda: a practitioner at a place, with its specialty and services.",
            vec![id.clone(), reference("practitioner", "Practitioner/{id}"), reference("location", "Location/{id}"), token("specialty", "careslot specialty code"), count.clone()],
        ),
        read_search(
            "Location",
            "The places of the directory (the SMART Scheduling Links Locations).",
            vec![id.clone(), string("name", "start of the name"), string("address-city", "city"), string("address-postalcode", "postcode"), token("identifier", "careslot's place id"), count.clone()],
        ),
        read_search(
            "HealthcareService",
            "A visit motive bookable online.",
            vec![id.clone(), reference("location", "Location/{id}"), token("service-type", "specialty code, or 57 (immunization)"), token("specialty", "careslot specialty code"), count.clone()],
        ),
        read_search(
            "Schedule",
            "The agenda of one motive; its id is the motive's (as in the SMART feed).",
            vec![id.clone(), reference("actor", "Practitioner/, PractitionerRole/, Location/ or HealthcareService/{id}"), token("service-type", "specialty code, or 57 (immunization)"), token("specialty", "careslot specialty code"), token("active", "true"), count.clone()],
        ),
        read_search(
            "Slot",
            "Starts of a motive: free (bookable now) or busy (every place taken). Ids are {schedule id}.{epoch seconds}, as in the SMART feed.",
            vec![id.clone(), reference("schedule", "Schedule/{id}"), token("status", "free or busy"), token("service-type", "specialty code, or 57 (immunization)"), token("specialty", "careslot specialty code"), param("start", "date", "ge/gt/le/lt/eq; a date is local to the agenda; at most 31 days; default: the next 7 days"), count.clone()],
        ),
        json!({
            "type": "Appointment",
            "documentation": "The caller's own appointments (patient accounts, bearer token). Create books the Slot named in slot[0] (Idempotency-Key honoured as POST /api/v1/appointments); update only cancels: PUT the Appointment with status cancelled.",
            "interaction": [{"code": "read"}, {"code": "search-type"}, {"code": "create"}, {"code": "update"}],
            "searchParam": [id, token("status", "booked, cancelled, noshow"), param("date", "date", "the start: ge/gt/le/lt/eq"), count],
            "operation": [
                operation("find", "Parameters start, end (at most 31 days apart), practitioner, location, schedule, service-type, specialty, _count → a Bundle of proposed Appointments of free slots. No account needed."),
                operation("hold", "Parameter appt-resource: a proposed Appointment → a pending Appointment (a careslot hold, see its hold-expires extension)."),
                operation("book", "Parameter appt-id (Appointment/{held id}) or appt-resource (a proposed Appointment naming its Slot) → the booked Appointment; Idempotency-Key honoured."),
            ],
        }),
    ];
    json!({
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": "2026-12-04",
        "publisher": "careslot",
        "kind": "instance",
        "software": {"name": "careslot", "version": env!("CARGO_PKG_VERSION")},
        "implementation": {"description": "careslot FHIR scheduling API", "url": base},
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json", "json"],
        "rest": [{
            "mode": "server",
            "documentation": "Directory resources are public. Appointments and $hold/$book need a patient's bearer token (POST /api/v1/sessions); errors are OperationOutcomes with the HTTP status of /api/v1; 503 with Retry-After when the database is unavailable.",
            "security": {
                "cors": false,
                "service": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/restful-security-service", "code": "OAuth", "display": "OAuth"}], "text": "Bearer token (Authorization: Bearer …) from POST /api/v1/sessions"}],
            },
            "resource": resources,
        }],
    })
}

pub async fn metadata(headers: HeaderMap) -> Response {
    fhir(StatusCode::OK, &statement(&fhir_base(&headers)))
}
