//! FHIR R4 scheduling API under `/fhir` (issue 19 point 2), JSON only
//! (`application/fhir+json`). Its contract is FHIR's own, stated by the CapabilityStatement at
//! `GET /fhir/metadata`; it is not part of the OpenAPI document of `/api/v1`.
//!
//! - The public directory, readable without an account like `/api/v1/search`: `Practitioner`
//!   (a verified practitioner), `PractitionerRole` (one agenda: a practitioner at a place),
//!   `Location` (a place), `HealthcareService` and `Schedule` (a motive bookable online) and
//!   `Slot` (a start of a motive, `free` or `busy`). Ids are careslot's ids; `Location`,
//!   `Schedule` and `Slot` ids are those of the SMART Scheduling Links feed
//!   (`crate::publish`), so both agree.
//! - `Appointment`: the caller's own (bearer token, patient accounts), read, search, create
//!   (books a free slot, `Idempotency-Key` as `POST /api/v1/appointments`) and cancel
//!   (`PUT` with `status: cancelled`); and the scheduling operations `$find` (proposed
//!   appointments), `$hold` (a careslot hold) and `$book` (a hold or a slot booked). Every
//!   write goes through the booking service ([`crate::Scheduling`]): the same checks,
//!   constraints, waiting room, messages and audit as `/api/v1`.
//! - Errors are `OperationOutcome`s with the HTTP status `/api/v1` would give (the
//!   problem+json of the shared error type is rewritten by [`outcome::to_operation_outcome`]),
//!   503 with `Retry-After` when the database or the key service fails.

pub mod appointments;
pub mod capability;
pub mod directory;
pub mod operations;
pub mod outcome;
pub mod params;
pub mod search;
pub mod slots;

use crate::Scheduling;
use axum::extract::FromRef;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use careslot_core::error::ApiError;
use careslot_identity::Accounts;
use serde_json::{json, Value};
use std::sync::Arc;

/// Where the FHIR API is mounted.
pub const BASE_PATH: &str = "/fhir";
/// The media type of every answer.
pub const FHIR_JSON: &str = "application/fhir+json; charset=utf-8";

/// careslot's identifier systems (the place's is the SMART feed's).
pub const PRACTITIONER_ID_SYSTEM: &str = "https://careslot.eu/fhir/sid/practitioner";
pub use crate::publish::PLACE_ID_SYSTEM;
/// careslot's specialty codes (`GET /api/v1/specialties`).
pub const SPECIALTY_SYSTEM: &str = "https://careslot.eu/fhir/CodeSystem/specialty";
/// The instant a hold lapses, on a `pending` Appointment.
pub const EXT_HOLD_EXPIRES: &str = "https://careslot.eu/fhir/StructureDefinition/hold-expires";

/// The `/fhir` routes; the server nests them under [`BASE_PATH`].
pub fn router<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    Arc<Scheduling>: FromRef<S>,
    Arc<Accounts>: FromRef<S>,
{
    Router::new()
        .route("/metadata", get(capability::metadata))
        .route("/Practitioner", get(search::practitioners))
        .route("/Practitioner/{id}", get(search::practitioner))
        .route("/PractitionerRole", get(search::roles))
        .route("/PractitionerRole/{id}", get(search::role))
        .route("/Location", get(search::locations))
        .route("/Location/{id}", get(search::location))
        .route("/HealthcareService", get(search::services))
        .route("/HealthcareService/{id}", get(search::service))
        .route("/Schedule", get(search::schedules))
        .route("/Schedule/{id}", get(search::schedule))
        .route("/Slot", get(slots::search))
        .route("/Slot/{id}", get(slots::read))
        .route(
            "/Appointment",
            get(appointments::search).post(appointments::create),
        )
        .route("/Appointment/$find", post(operations::find))
        .route("/Appointment/$hold", post(operations::hold))
        .route("/Appointment/$book", post(operations::book))
        .route(
            "/Appointment/{id}",
            get(appointments::read).put(appointments::update),
        )
        .fallback(unknown)
        .method_not_allowed_fallback(not_allowed)
        .layer(axum::middleware::from_fn(outcome::to_operation_outcome))
}

async fn unknown() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not-found",
        "no such FHIR resource type or interaction here: see /fhir/metadata",
    )
}

async fn not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method-not-allowed",
        "this interaction is not supported: see /fhir/metadata",
    )
}

/// A FHIR JSON answer.
pub fn fhir(status: StatusCode, body: &Value) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    (
        status,
        [(header::CONTENT_TYPE, HeaderValue::from_static(FHIR_JSON))],
        bytes,
    )
        .into_response()
}

/// A FHIR answer that carries personal data: never cached.
pub fn private(status: StatusCode, body: &Value) -> Response {
    let mut resp = fhir(status, body);
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// This server's FHIR base as the client reached it (`http://host/fhir`).
pub fn fhir_base(headers: &HeaderMap) -> String {
    format!("{}{BASE_PATH}", crate::api::bulk_publish::base_url(headers))
}

/// Letters, digits, `-` and `.`, 1 to 64 long: a FHIR id (safe in a URL).
pub fn is_fhir_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

/// `Type/id` as a FHIR Reference.
pub fn reference(kind: &str, id: &str) -> Value {
    json!({ "reference": format!("{kind}/{id}") })
}

/// A searchset Bundle of `resources` (the page asked for), with `total` the number of matches
/// and the self/next links.
pub fn searchset(
    base: &str,
    self_url: String,
    next_url: Option<String>,
    total: usize,
    resources: Vec<Value>,
) -> Value {
    let entry: Vec<Value> = resources
        .into_iter()
        .map(|r| {
            let full_url = match (r["resourceType"].as_str(), r["id"].as_str()) {
                (Some(t), Some(id)) => format!("{base}/{t}/{id}"),
                _ => format!("urn:uuid:{}", uuid::Uuid::new_v4()),
            };
            json!({"fullUrl": full_url, "resource": r, "search": {"mode": "match"}})
        })
        .collect();
    let mut link = vec![json!({"relation": "self", "url": self_url})];
    if let Some(next) = next_url {
        link.push(json!({"relation": "next", "url": next}));
    }
    json!({
        "resourceType": "Bundle",
        "type": "searchset",
        "total": total,
        "link": link,
        "entry": entry,
    })
}
