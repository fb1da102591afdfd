//! The practice's patient directory and phone bookings through the API (issue 18, points 1
//! and 8): `GET /api/v1/practitioner/patients?q=`, `GET …/patients/{id}`,
//! `PUT …/patients/{id}/note`, `POST /api/v1/practitioner/appointments`.

use super::dto::AppointmentBody;
use super::extract::{ApiJson, ApiPath, ApiQuery, Caller};
use crate::directory::DirectoryHit;
use crate::{DeskPatient, Scheduling};
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use careslot_core::error::{ApiError, Problem};
use careslot_domain::AgendaId;
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;
use utoipa::{IntoParams, ToSchema};

/// A patient of the practice's directory.
#[derive(Debug, Serialize, ToSchema)]
pub struct DirectoryPatientBody {
    /// The directory entry's id (`patient_id` when booking).
    pub id: String,
    /// The patient's account.
    pub account_id: String,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// `YYYY-MM-DD`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub birth_date: Option<String>,
    /// Made by the practice on the phone (no login), not the patient's own account.
    pub managed: bool,
}

impl From<&DirectoryHit> for DirectoryPatientBody {
    fn from(h: &DirectoryHit) -> Self {
        Self {
            id: h.entry.id.clone(),
            account_id: h.entry.account_id.to_string(),
            name: h.identity.name.clone(),
            phone: h.identity.phone.clone(),
            birth_date: h.identity.birth_date.clone(),
            managed: h.managed,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DirectorySearchBody {
    /// At most 20, oldest entries first.
    pub patients: Vec<DirectoryPatientBody>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DirectorySearchQuery {
    /// The start of name words (2 letters at least each), a phone number, or a birth date
    /// (`YYYY-MM-DD` or `DD/MM/YYYY`).
    #[param(max_length = 100)]
    pub q: String,
}

/// Finds patients of the caller's practice (a second factor is required; every patient
/// shown is recorded in their access log).
#[utoipa::path(get, path = "/api/v1/practitioner/patients", operation_id = "searchPracticePatients", tag = "practice desk", security(("bearer" = [])),
    params(DirectorySearchQuery),
    responses((status = 200, body = DirectorySearchBody), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn search(
    State(app): State<Arc<Scheduling>>,
    Caller(me): Caller,
    ApiQuery(q): ApiQuery<DirectorySearchQuery>,
) -> Result<Json<DirectorySearchBody>, ApiError> {
    if q.q.chars().count() > 100 {
        return Err(ApiError::invalid("q", "must be at most 100 characters"));
    }
    let hits = app.directory_search(&me, &q.q).await?;
    Ok(Json(DirectorySearchBody {
        patients: hits.iter().map(Into::into).collect(),
    }))
}

/// A patient's file in the practice.
#[derive(Debug, Serialize, ToSchema)]
pub struct PatientFileBody {
    pub patient: DirectoryPatientBody,
    /// Their appointments in this practice (booked and no-shows), oldest first.
    pub appointments: Vec<AppointmentBody>,
    /// The practice's note (never shown to the patient).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// A patient's file: identity, appointments in this practice, the practice's note.
#[utoipa::path(get, path = "/api/v1/practitioner/patients/{id}", operation_id = "getPatientFile", tag = "practice desk", security(("bearer" = [])),
    params(("id" = String, Path, description = "directory entry id")),
    responses((status = 200, body = PatientFileBody), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn file(
    State(app): State<Arc<Scheduling>>,
    Caller(me): Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<PatientFileBody>, ApiError> {
    let f = app.patient_file(&me, &id).await?;
    let mut zones: HashMap<AgendaId, TimeZone> = HashMap::new();
    let mut appointments = Vec::with_capacity(f.appointments.len());
    for a in &f.appointments {
        let tz = match zones.get(&a.row.agenda_id) {
            Some(tz) => tz.clone(),
            None => {
                let tz = app.view(&a.row.agenda_id).await?.tz.clone();
                zones.insert(a.row.agenda_id.clone(), tz.clone());
                tz
            }
        };
        appointments.push(AppointmentBody::new(a, &tz));
    }
    Ok(Json(PatientFileBody {
        patient: (&f.hit).into(),
        appointments,
        note: f.note,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct NoteBody {
    /// At most 4000 characters; empty clears it.
    #[schema(max_length = 4000)]
    pub note: String,
}

/// Sets the practice's note on a patient (sealed under the patient's key).
#[utoipa::path(put, path = "/api/v1/practitioner/patients/{id}/note", operation_id = "setPatientNote", tag = "practice desk", security(("bearer" = [])),
    params(("id" = String, Path, description = "directory entry id")),
    request_body = NoteBody,
    responses((status = 204, description = "saved"), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn put_note(
    State(app): State<Arc<Scheduling>>,
    Caller(me): Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(b): ApiJson<NoteBody>,
) -> Result<StatusCode, ApiError> {
    app.set_patient_note(&me, &id, &b.note).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A person given on the phone.
#[derive(Debug, Deserialize, ToSchema)]
pub struct PhonePatientBody {
    #[schema(max_length = 200)]
    pub name: String,
    #[schema(max_length = 40)]
    pub phone: String,
    /// `YYYY-MM-DD`.
    #[serde(default)]
    pub birth_date: Option<String>,
}

/// A booking made by the practice: for a directory patient (`patient_id`) or a person given
/// on the phone (`patient`: the directory's patient with that phone and name is picked, else
/// one is made). Exactly one of the two.
#[derive(Debug, Deserialize, ToSchema)]
pub struct DeskBookingBody {
    pub agenda_id: String,
    pub motive_id: String,
    /// RFC 3339.
    pub start: String,
    #[serde(default)]
    pub patient_id: Option<String>,
    #[serde(default)]
    pub patient: Option<PhonePatientBody>,
    #[serde(default)]
    #[schema(max_length = 2000)]
    pub note: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeskBookedBody {
    #[serde(flatten)]
    pub appointment: AppointmentBody,
    /// The directory entry of the patient booked.
    pub patient_id: Option<String>,
}

/// Books a patient from the desk (any motive, online or not, inside the practice's notice
/// period; opening hours, absences and occupancy still apply).
#[utoipa::path(post, path = "/api/v1/practitioner/appointments", operation_id = "deskBook", tag = "practice desk", security(("bearer" = [])),
    request_body = DeskBookingBody,
    responses((status = 201, body = DeskBookedBody), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, description = "the time is not free", body = Problem), (status = 422, body = Problem)))]
pub async fn book(
    State(app): State<Arc<Scheduling>>,
    Caller(me): Caller,
    ApiJson(b): ApiJson<DeskBookingBody>,
) -> Result<(StatusCode, Json<DeskBookedBody>), ApiError> {
    let patient = match (&b.patient_id, &b.patient) {
        (Some(id), None) => DeskPatient::Entry(id),
        (None, Some(p)) => DeskPatient::New {
            name: &p.name,
            phone: &p.phone,
            birth_date: p.birth_date.as_deref(),
        },
        _ => {
            return Err(ApiError::invalid(
                "patient",
                "give exactly one of patient_id and patient",
            ))
        }
    };
    let agenda = AgendaId(b.agenda_id.clone());
    let a = app
        .desk_book(
            &me,
            &agenda,
            &b.motive_id,
            &b.start,
            patient,
            b.note.as_deref(),
        )
        .await?;
    let view = app.view(&agenda).await?;
    let practice = app.practice_of(&me).await?;
    let entry = match &a.patient {
        Some(p) => app
            .store
            .practice_patient_of_account(&practice.id, p)
            .await
            .map_err(careslot_core::AppError::from)?
            .map(|e| e.id),
        None => None,
    };
    Ok((
        StatusCode::CREATED,
        Json(DeskBookedBody {
            appointment: AppointmentBody::new(&a, &view.tz),
            patient_id: entry,
        }),
    ))
}
