//! The Argonaut/HL7 scheduling operations on Appointment, with a `Parameters` body:
//! - `$find`: free slots as `proposed` Appointments (public, like Slot search);
//! - `$hold`: a careslot hold on a proposed Appointment's Slot → a `pending` Appointment
//!   (its id is the hold's, its `hold-expires` extension the instant the place is freed);
//! - `$book`: a held Appointment (`appt-id`) or a Slot (`appt-resource`) booked → `booked`,
//!   `Idempotency-Key` honoured as by `POST /api/v1/appointments`.
//!
//! Each answers a searchset Bundle of the Appointments.

use super::appointments::{self as appts, comment_of, require_appointment, slot_of, Wanted};
use super::directory as dir;
use super::params::{reference_id, Param, Query, Range};
use super::slots::{self, Status};
use super::{fhir, fhir_base, private, reference, searchset};
use crate::api::extract::{ApiJson, Caller};
use crate::api::queue::Admitted;
use crate::{Holder, Scheduling};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use careslot_core::error::ApiError;
use careslot_core::time::format_instant;
use jiff::Timestamp;
use serde_json::{json, Value};
use std::sync::Arc;

type Answer = Result<Response, ApiError>;

/// The `parameter` list of a `Parameters` body.
fn parameters(body: &Value) -> Result<&[Value], ApiError> {
    if body["resourceType"] != "Parameters" {
        return Err(ApiError::invalid("body", "must be a Parameters resource"));
    }
    match &body["parameter"] {
        Value::Array(a) => Ok(a.as_slice()),
        Value::Null => Ok(&[]),
        _ => Err(ApiError::invalid("parameter", "must be an array")),
    }
}

/// A parameter's value as a search string: primitives as they are, a Reference as its
/// `reference`, a Coding (or a CodeableConcept's first) as `system|code`.
fn value_string(p: &Value) -> Option<String> {
    let obj = p.as_object()?;
    for (k, v) in obj {
        let Some(kind) = k.strip_prefix("value") else {
            continue;
        };
        return match kind {
            "Reference" => v["reference"].as_str().map(str::to_owned),
            "Coding" => coding(v),
            "CodeableConcept" => v["coding"].as_array()?.first().and_then(coding),
            "Integer" | "PositiveInt" | "UnsignedInt" => v.as_u64().map(|n| n.to_string()),
            _ => v.as_str().map(str::to_owned),
        };
    }
    None
}

fn coding(c: &Value) -> Option<String> {
    let code = c["code"].as_str()?;
    Some(match c["system"].as_str() {
        Some(s) => format!("{s}|{code}"),
        None => code.to_owned(),
    })
}

fn param(name: &str, value: String) -> Param {
    Param {
        name: name.to_owned(),
        modifier: None,
        value,
    }
}

/// `$find`: `start` and `end` (dates or instants, at most 31 days apart), and optionally
/// `practitioner` (or `provider`), `location`, `schedule`, `service-type` (or
/// `visit-reason`), `specialty`, `_count`.
pub async fn find(
    State(app): State<Arc<Scheduling>>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Value>,
) -> Answer {
    let mut q = Query {
        count: super::params::DEFAULT_COUNT,
        ..Query::default()
    };
    let (mut practitioners, mut locations) = (Vec::new(), Vec::new());
    let (mut has_start, mut has_end) = (false, false);
    for p in parameters(&body)? {
        let name = p["name"].as_str().unwrap_or_default();
        let value = value_string(p)
            .ok_or_else(|| ApiError::invalid("parameter", "each parameter needs a value"))?;
        match name {
            "start" => {
                has_start = true;
                q.params.push(param("start", format!("ge{value}")));
            }
            "end" => {
                has_end = true;
                q.params.push(param("start", format!("lt{value}")));
            }
            "practitioner" | "provider" => practitioners.push(value),
            "location" => locations.push(value),
            "schedule" => q.params.push(param("schedule", value)),
            "service-type" | "visit-reason" => q.params.push(param("service-type", value)),
            "specialty" => q.params.push(param("specialty", value)),
            "_count" => {
                q.count = value
                    .parse::<usize>()
                    .ok()
                    .filter(|c| (1..=super::params::MAX_COUNT).contains(c))
                    .ok_or_else(|| ApiError::invalid("_count", "must be from 1 to 500"))?;
            }
            _ => {
                return Err(ApiError::invalid(
                    "parameter",
                    "unsupported parameter (start, end, practitioner, location, schedule, service-type, specialty, _count)",
                ))
            }
        }
    }
    if !(has_start && has_end) {
        return Err(ApiError::invalid("parameter", "start and end are required"));
    }
    let now = Timestamp::now();
    let range = Range::parse(&q, "start")?;
    range.check_span("end", now, slots::MAX_DAYS)?;
    let found = slots::matching(
        &app,
        &q,
        &range,
        now,
        |i| {
            let e = &i.entry;
            practitioners
                .iter()
                .all(|v| reference_id(v, "Practitioner") == Some(e.practitioner_id.as_str()))
                && locations
                    .iter()
                    .all(|v| reference_id(v, "Location") == Some(e.place.id.as_str()))
        },
        |_, s| s.status == Status::Free,
        proposed,
    )
    .await?;
    let total = found.len();
    let page: Vec<Value> = found.into_iter().take(q.count).map(|(_, r)| r).collect();
    let base = fhir_base(&headers);
    Ok(fhir(
        StatusCode::OK,
        &searchset(
            &base,
            format!("{base}/Appointment/$find"),
            None,
            total,
            page,
        ),
    ))
}

/// A proposed Appointment for a free start: to pass to `$hold` or `$book` as it is.
fn proposed(a: &dir::Agenda, m: &careslot_domain::Motive, s: &slots::Start) -> Value {
    let e = &a.entry.entry;
    let tz = &a.view.tz;
    let mut practitioner = reference("Practitioner", e.practitioner_id.as_str());
    practitioner["display"] = Value::from(e.name.as_str());
    json!({
        "resourceType": "Appointment",
        "status": "proposed",
        "serviceType": [{"coding": a.service_codings(m)}],
        "specialty": [a.specialty()],
        "start": format_instant(s.slot.start, tz),
        "end": format_instant(s.slot.end, tz),
        "minutesDuration": (s.slot.end.duration_since(s.slot.start).as_secs() / 60).max(1),
        "slot": [reference("Slot", &slots::slot_id(m, s.slot.start))],
        "participant": [
            {"actor": practitioner, "required": "required", "status": "needs-action"},
            {"actor": reference("Location", e.place.id.as_str()), "required": "required", "status": "needs-action"},
        ],
    })
}

/// The Appointment resource given as `appt-resource` (or `appointment`).
fn appt_resource(params: &[Value]) -> Option<&Value> {
    params
        .iter()
        .find(|p| matches!(p["name"].as_str(), Some("appt-resource" | "appointment")))
        .map(|p| &p["resource"])
}

/// The held Appointment id given as `appt-id` (or `appointment-reference`).
fn appt_id(params: &[Value]) -> Option<String> {
    params
        .iter()
        .find(|p| {
            matches!(
                p["name"].as_str(),
                Some("appt-id" | "appointment-reference")
            )
        })
        .and_then(value_string)
        .and_then(|v| reference_id(&v, "Appointment").map(str::to_owned))
}

fn bundle_of(headers: &HeaderMap, op: &str, appointment: Value) -> Response {
    let base = fhir_base(headers);
    private(
        StatusCode::OK,
        &searchset(
            &base,
            format!("{base}/Appointment/{op}"),
            None,
            1,
            vec![appointment],
        ),
    )
}

/// `$hold`: `appt-resource`, a proposed Appointment naming its Slot → a careslot hold.
pub async fn hold(
    State(app): State<Arc<Scheduling>>,
    _: Admitted,
    Caller(me): Caller,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Value>,
) -> Answer {
    let params = parameters(&body)?;
    let appt = appt_resource(params)
        .ok_or_else(|| ApiError::invalid("appt-resource", "give the proposed Appointment"))?;
    require_appointment(appt, "appt-resource")?;
    let slot = slot_of(appt)
        .ok_or_else(|| ApiError::invalid("appt-resource", "the Appointment names no Slot"))?;
    let (a, m, s) = slots::find(&app, &slot).await.map_err(|e| match e {
        crate::AppError::NotFound(_) => ApiError::from(crate::AppError::Conflict(
            "slot-taken",
            "this time is no longer free".into(),
        )),
        e => e.into(),
    })?;
    let held = app
        .hold(
            Holder::Patient(&me),
            a.view.agenda.id.as_str(),
            m.id.as_str(),
            &format_instant(s.slot.start, &a.view.tz),
        )
        .await?;
    Ok(bundle_of(
        &headers,
        "$hold",
        appts::resource(&app, &held).await?,
    ))
}

/// `$book`: `appt-id` (a held Appointment, `Appointment/{id}`) or `appt-resource` (a held
/// Appointment with its id, or a proposed one naming its Slot), with the note in its
/// `comment` → the booked Appointment.
pub async fn book(
    State(app): State<Arc<Scheduling>>,
    _: Admitted,
    Caller(me): Caller,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Value>,
) -> Answer {
    let params = parameters(&body)?;
    let resource = appt_resource(params);
    if let Some(r) = resource {
        require_appointment(r, "appt-resource")?;
    }
    let comment = match resource {
        Some(r) => comment_of(r)?,
        None => None,
    };
    let held = appt_id(params).or_else(|| {
        resource
            .filter(|r| r["status"] == "pending")
            .and_then(|r| r["id"].as_str().map(str::to_owned))
    });
    let wanted = match held {
        Some(hold) => Wanted {
            slot: None,
            hold: Some(hold),
            comment,
        },
        None => Wanted {
            slot: resource.and_then(slot_of),
            hold: None,
            comment,
        },
    };
    if wanted.slot.is_none() && wanted.hold.is_none() {
        return Err(ApiError::invalid(
            "parameter",
            "give appt-id (a held Appointment) or appt-resource (naming its Slot)",
        ));
    }
    let booked = appts::book(&app, &me, &headers, &wanted).await?;
    Ok(bundle_of(
        &headers,
        "$book",
        appts::resource(&app, &booked).await?,
    ))
}
