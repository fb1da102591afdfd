//! The caller's own Appointments (patient accounts, bearer token): read, search, create
//! (book a free Slot) and cancel (`PUT` with `status: cancelled`). Everything goes through
//! the booking service: its checks, constraints, waiting room, messages and audit.

use super::directory::{self as dir};
use super::params::{Query, Range};
use super::search::page;
use super::{fhir_base, private, reference, EXT_HOLD_EXPIRES};
use crate::api::extract::{ApiJson, ApiPath, Caller};
use crate::api::queue::Admitted;
use crate::{AppError, AppResult, Appointment, BookingDetails, BookingInput, Scheduling};
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::Response;
use careslot_core::error::ApiError;
use careslot_core::time::format_instant;
use careslot_store::ReservationStatus;
use jiff::Timestamp;
use serde_json::{json, Value};
use std::sync::Arc;

type Answer = Result<Response, ApiError>;

/// FHIR's Appointment status of a reservation: a hold is `pending`.
pub fn status_code(s: ReservationStatus) -> &'static str {
    match s {
        ReservationStatus::Held => "pending",
        ReservationStatus::Booked => "booked",
        ReservationStatus::Cancelled | ReservationStatus::Expired => "cancelled",
        ReservationStatus::NoShow => "noshow",
    }
}

/// The Appointment resource of one of the caller's reservations.
pub async fn resource(app: &Scheduling, a: &Appointment) -> AppResult<Value> {
    let view = app.view(&a.row.agenda_id).await?;
    let tz = &view.tz;
    let agenda = &view.agenda;
    let mut participant = Vec::new();
    if let (Some(p), None) = (&a.patient, &a.relative) {
        participant.push(json!({
            "actor": reference("Patient", p.as_str()),
            "required": "required",
            "status": "accepted",
        }));
    }
    participant.push(json!({
        "actor": reference("Practitioner", agenda.practitioner_id.as_str()),
        "required": "required",
        "status": "accepted",
    }));
    participant.push(json!({
        "actor": reference("Location", agenda.place_id.as_str()),
        "required": "required",
        "status": "accepted",
    }));
    let minutes = a.row.end.duration_since(a.row.start).as_secs() / 60;
    let mut r = json!({
        "resourceType": "Appointment",
        "id": a.row.id.as_str(),
        "status": status_code(a.row.status),
        "start": format_instant(a.row.start, tz),
        "end": format_instant(a.row.end, tz),
        "minutesDuration": minutes.max(1),
        "slot": [reference("Slot", &format!("{}.{}", a.motive_id, a.row.start.as_second()))],
        "participant": participant,
    });
    let rows = dir::agendas(app, |i| i.entry.agenda_id == agenda.id).await?;
    if let Some(row) = rows.first() {
        if let Some(m) = view.motive(&a.motive_id) {
            r["serviceType"] = json!([{"coding": row.service_codings(m)}]);
            r["specialty"] = json!([row.specialty()]);
        }
    }
    if let Some(label) = dir::labels(app, &view).await?.get(&a.motive_id) {
        r["description"] = Value::from(label.as_str());
    }
    if let Some(note) = &a.note {
        r["comment"] = Value::from(note.as_str());
    }
    if a.row.status == ReservationStatus::Held {
        if let Some(e) = a.row.expires_at {
            r["extension"] =
                json!([{"url": EXT_HOLD_EXPIRES, "valueInstant": format_instant(e, tz)}]);
        }
    }
    Ok(r)
}

pub async fn read(
    State(app): State<Arc<Scheduling>>,
    Caller(me): Caller,
    ApiPath(id): ApiPath<String>,
) -> Answer {
    let a = app.own_reservation(&me, &id).await?;
    app.audit(&me, &[(me.id.clone(), "appointments.read")])
        .await?;
    Ok(private(StatusCode::OK, &resource(&app, &a).await?))
}

/// The caller's appointments (holds excluded, as `GET /api/v1/appointments`): `_id`,
/// `status`, `date` (the start).
pub async fn search(
    State(app): State<Arc<Scheduling>>,
    Caller(me): Caller,
    headers: HeaderMap,
    uri: Uri,
) -> Answer {
    let q = Query::parse(uri.query(), &[("_id", &[]), ("status", &[]), ("date", &[])])?;
    let range = Range::parse(&q, "date")?;
    let mut all = Vec::new();
    for a in app.my_appointments(&me).await? {
        let view = app.view(&a.row.agenda_id).await?;
        // An open end is open: `resolve` would clip the lower end to now.
        let after = range.lower.is_none() || {
            let (from, _) = range.resolve(&view.tz, Timestamp::MIN, 0);
            a.row.start >= from
        };
        let before = range.upper.is_none() || {
            let (_, until) = range.resolve(&view.tz, Timestamp::MIN, 0);
            a.row.start < until
        };
        let keep = after
            && before
            && q.each_any("_id", |_, v| v == a.row.id.as_str())
            && q.each_any("status", |_, v| v == status_code(a.row.status));
        if keep {
            all.push((a.row.start, resource(&app, &a).await?));
        }
    }
    all.sort_by_key(|(t, _)| *t);
    let mut resp = page(
        &headers,
        "Appointment",
        &q,
        all.into_iter().map(|(_, r)| r).collect(),
    );
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

/// What a booking request names: a Slot (direct booking) or a hold, and the note.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Wanted {
    pub slot: Option<String>,
    pub hold: Option<String>,
    pub comment: Option<String>,
}

/// The Slot id an Appointment's `slot` references.
pub fn slot_of(appt: &Value) -> Option<String> {
    let r = appt["slot"].as_array()?.first()?["reference"].as_str()?;
    super::params::reference_id(r, "Slot").map(str::to_owned)
}

pub fn comment_of(appt: &Value) -> Result<Option<String>, ApiError> {
    match &appt["comment"] {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s.clone())),
        _ => Err(ApiError::invalid("comment", "must be a string")),
    }
}

pub fn require_appointment(v: &Value, field: &str) -> Result<(), ApiError> {
    if v["resourceType"] != "Appointment" {
        return Err(ApiError::invalid(field, "must be an Appointment resource"));
    }
    Ok(())
}

/// Books `wanted` for the caller through the booking service, the Idempotency-Key honoured
/// as by `POST /api/v1/appointments` (same key and request: the same appointment).
pub async fn book(
    app: &Scheduling,
    me: &careslot_core::Caller,
    headers: &HeaderMap,
    wanted: &Wanted,
) -> Result<Appointment, ApiError> {
    let key = crate::api::patient::idempotency_key(headers)?;
    let canonical = serde_json::to_vec(wanted).map_err(|_| ApiError::bad_request("body"))?;
    let input = match (&wanted.slot, &wanted.hold) {
        (None, Some(hold)) => BookingInput::FromHold {
            hold_id: hold.clone(),
        },
        (Some(slot), None) => {
            let (a, m, s) = super::slots::find(app, slot).await.map_err(|e| match e {
                // A slot that is gone or taken: not free, as the booking API says.
                AppError::NotFound(_) => ApiError::from(AppError::Conflict(
                    "slot-taken",
                    "this time is no longer free".into(),
                )),
                e => e.into(),
            })?;
            BookingInput::Direct {
                agenda_id: a.view.agenda.id.to_string(),
                motive_id: m.id.to_string(),
                start: format_instant(s.slot.start, &a.view.tz),
            }
        }
        _ => {
            return Err(ApiError::invalid(
                "slot",
                "name exactly one Slot, or one held Appointment",
            ))
        }
    };
    Ok(app
        .book(
            me,
            input,
            BookingDetails {
                note: wanted.comment.as_deref(),
                relative_id: None,
            },
            key.as_deref().map(|k| (k, canonical.as_slice())),
        )
        .await?)
}

/// Create: an Appointment naming one Slot (`slot[0]`), `status` `booked` or `proposed`;
/// `comment` is the note to the practitioner. 201 with the booked Appointment.
pub async fn create(
    State(app): State<Arc<Scheduling>>,
    _: Admitted,
    Caller(me): Caller,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Value>,
) -> Answer {
    require_appointment(&body, "body")?;
    if !matches!(
        body["status"].as_str(),
        Some("booked" | "proposed" | "pending")
    ) {
        return Err(ApiError::invalid(
            "status",
            "a new Appointment is booked, proposed or pending",
        ));
    }
    let slot = slot_of(&body)
        .ok_or_else(|| ApiError::invalid("slot", "reference the Slot to book (Slot/{id})"))?;
    let wanted = Wanted {
        slot: Some(slot),
        hold: None,
        comment: comment_of(&body)?,
    };
    let booked = book(&app, &me, &headers, &wanted).await?;
    let mut resp = private(StatusCode::CREATED, &resource(&app, &booked).await?);
    if let Ok(v) = HeaderValue::from_str(&format!(
        "{}/Appointment/{}",
        fhir_base(&headers),
        booked.row.id
    )) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    Ok(resp)
}

/// Update: only cancelling is supported — `PUT` the Appointment with `status: cancelled`
/// (the place is free again at once, as `POST /api/v1/appointments/{id}/cancel`).
pub async fn update(
    State(app): State<Arc<Scheduling>>,
    Caller(me): Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<Value>,
) -> Answer {
    require_appointment(&body, "body")?;
    if body["id"].as_str().is_some_and(|b| b != id) {
        return Err(ApiError::bad_request("id: must be the id of the URL"));
    }
    if body["status"] != "cancelled" {
        return Err(ApiError::invalid(
            "status",
            "only cancelling is supported: send status cancelled",
        ));
    }
    let a = app.cancel(&me, &id).await?;
    Ok(private(StatusCode::OK, &resource(&app, &a).await?))
}
