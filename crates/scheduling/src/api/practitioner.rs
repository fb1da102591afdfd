//! The practitioner side: profile, places, agendas and their configuration.

use super::dto::*;
use super::extract::{ApiJson, ApiPath, ApiQuery, Caller};
use crate::practice_facts::{parse_access_details, FactsInput};
use crate::{AppError, NewMotive, NewPlace, NewRule, ProfileInput, Scheduling};
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use careslot_core::error::{ApiError, Problem};
use careslot_domain::{AgendaId, FeeSector, MotivePolicy, PlaceId};
use careslot_store::PlaceAccess;
use std::sync::Arc;

type Created<T> = Result<(StatusCode, Json<T>), ApiError>;

fn created<T>(body: T) -> Created<T> {
    Ok((StatusCode::CREATED, Json(body)))
}

fn non_negative_u32(field: &'static str, v: i64) -> Result<u32, ApiError> {
    u32::try_from(v).map_err(|_| ApiError::invalid(field, "must be a non-negative number"))
}

/// Create or update the caller's practitioner profile.
#[utoipa::path(put, path = "/api/v1/practitioner/profile", tag = "practitioner", security(("bearer" = [])),
    request_body = ProfileBody, responses((status = 200, body = PractitionerBody), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn put_profile(
    State(app): State<Arc<Scheduling>>,
    Caller(me): Caller,
    ApiJson(b): ApiJson<ProfileBody>,
) -> Result<Json<PractitionerBody>, ApiError> {
    // Checked before anything is saved, so a bad sector changes nothing.
    if let Some(code) = b
        .fee_sector
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty())
    {
        FeeSector::parse(code).map_err(|e| ApiError::from(AppError::from(e)))?;
    }
    let facts_input = FactsInput {
        accepts_new_patients: b.accepts_new_patients,
        fee_sector: b.fee_sector,
    };
    let p = app
        .set_profile(
            &me,
            ProfileInput {
                name: b.name,
                specialty: b.specialty,
                languages: b.languages,
                bio: b.bio,
            },
        )
        .await?;
    let facts = app.set_my_facts(&me, facts_input).await?;
    Ok(Json(PractitionerBody::new(&p, &facts)))
}

/// The caller's practitioner profile.
#[utoipa::path(get, path = "/api/v1/practitioner/profile", tag = "practitioner", security(("bearer" = [])),
    responses((status = 200, body = PractitionerBody), (status = 409, description = "no profile yet", body = Problem)))]
pub async fn get_profile(
    State(app): State<Arc<Scheduling>>,
    Caller(me): Caller,
) -> Result<Json<PractitionerBody>, ApiError> {
    let p = app.practitioner_of(&me).await?;
    let facts = app.my_facts(&me).await?;
    Ok(Json(PractitionerBody::new(&p, &facts)))
}

/// Create a place of practice.
#[utoipa::path(post, path = "/api/v1/places", tag = "practitioner", security(("bearer" = [])),
    request_body = NewPlaceBody, responses((status = 201, body = PlaceBody), (status = 422, body = Problem)))]
pub async fn create_place(
    State(app): State<Arc<Scheduling>>,
    Caller(me): Caller,
    ApiJson(b): ApiJson<NewPlaceBody>,
) -> Created<PlaceBody> {
    let details = parse_access_details(b.access_details.as_deref())
        .map_err(|e| ApiError::from(AppError::from(e)))?;
    let wheelchair = b.wheelchair_access.unwrap_or(false);
    let place = app
        .create_place(
            &me,
            NewPlace {
                name: b.name,
                address: b.address,
                postcode: b.postcode,
                city: b.city,
                country: b.country,
                lat: b.lat,
                lon: b.lon,
                timezone: b.timezone,
            },
        )
        .await?;
    let access = if wheelchair || details.is_some() {
        app.set_place_access(&me, &place.id, wheelchair, details.as_deref())
            .await?
    } else {
        PlaceAccess::default()
    };
    created(PlaceBody::new(&place, &access))
}

/// Set how one of the caller's places can be reached: wheelchair access (a search filter)
/// and access details (shown on the public page).
#[utoipa::path(put, path = "/api/v1/places/{place_id}/access", tag = "practitioner", security(("bearer" = [])),
    params(("place_id" = String, Path)), request_body = PlaceAccessBody,
    responses((status = 200, body = PlaceAccessBody), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn put_place_access(
    State(app): State<Arc<Scheduling>>,
    Caller(me): Caller,
    ApiPath(place_id): ApiPath<String>,
    ApiJson(b): ApiJson<PlaceAccessBody>,
) -> Result<Json<PlaceAccessBody>, ApiError> {
    let access = app
        .set_place_access(
            &me,
            &PlaceId(place_id),
            b.wheelchair_access,
            b.access_details.as_deref(),
        )
        .await?;
    Ok(Json(PlaceAccessBody {
        wheelchair_access: access.wheelchair_access,
        access_details: access.details,
    }))
}

/// Create an agenda at one of the caller's places.
#[utoipa::path(post, path = "/api/v1/agendas", tag = "practitioner", security(("bearer" = [])),
    request_body = NewAgendaBody, responses((status = 201, body = AgendaBody), (status = 404, body = Problem)))]
pub async fn create_agenda(
    State(app): State<Arc<Scheduling>>,
    Caller(me): Caller,
    ApiJson(b): ApiJson<NewAgendaBody>,
) -> Created<AgendaBody> {
    let agenda = app.create_agenda(&me, &b.place_id, b.holidays).await?;
    created(AgendaBody::from(&agenda))
}

/// Add a visit motive to an agenda.
#[utoipa::path(post, path = "/api/v1/agendas/{agenda_id}/motives", tag = "practitioner", security(("bearer" = [])),
    params(("agenda_id" = String, Path)), request_body = NewMotiveBody,
    responses((status = 201, body = MotiveBody), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn create_motive(
    State(app): State<Arc<Scheduling>>,
    Caller(me): Caller,
    ApiPath(agenda_id): ApiPath<String>,
    ApiJson(b): ApiJson<NewMotiveBody>,
) -> Created<MotiveBody> {
    let policy = MotivePolicy {
        teleconsultation: b.teleconsultation,
        new_patients_only: b.new_patients_only,
        bookable_online: b.bookable_online,
        min_notice_min: non_negative_u32("min_notice_min", b.min_notice_min)?,
        max_horizon_days: non_negative_u32("max_horizon_days", b.max_horizon_days)?,
    };
    let vaccine = match &b.vaccine {
        None => None,
        Some(v) => {
            if let Some(next) = &v.next_dose {
                check_window(&app, &v.product, next.min_days, next.max_days).await?;
            }
            Some(crate::VaccineSpec {
                product: v.product.clone(),
                dose: v.dose,
                next_motive_id: v.next_dose.as_ref().map(|n| n.motive_id.clone()),
            })
        }
    };
    // Checked before anything is created.
    let fee = match &b.fee {
        None => None,
        Some(_) if !b.teleconsultation => {
            return Err(ApiError::invalid(
                "fee",
                "only teleconsultation motives take an online fee",
            ))
        }
        Some(f) => Some(super::payments::fee_of(f)?),
    };
    let agenda_id = AgendaId(agenda_id);
    let motive = app
        .create_motive(
            &me,
            &agenda_id,
            NewMotive {
                name: b.name,
                duration_min: b.duration_min,
                capacity: b.capacity,
                policy,
                vaccine,
            },
        )
        .await?;
    let mut body = MotiveBody::from(&motive);
    if let Some(fee) = fee {
        app.set_motive_fee(&me, &agenda_id, motive.id.as_str(), Some(fee.clone()))
            .await?;
        body.fee = Some(FeeBody::from(&fee));
    }
    let view = app.view(&agenda_id).await?;
    if let Some(v) = view.vaccine(&motive.id) {
        let today = jiff::Timestamp::now().to_zoned(view.tz.clone()).date();
        body.vaccine = Some(VaccineBody::new(v, &app.protocols().await?, today));
    }
    created(body)
}

/// Add a weekly opening rule to an agenda.
#[utoipa::path(post, path = "/api/v1/agendas/{agenda_id}/opening-rules", tag = "practitioner", security(("bearer" = [])),
    params(("agenda_id" = String, Path)), request_body = NewRuleBody,
    responses((status = 201, body = RuleBody), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn create_rule(
    State(app): State<Arc<Scheduling>>,
    Caller(me): Caller,
    ApiPath(agenda_id): ApiPath<String>,
    ApiJson(b): ApiJson<NewRuleBody>,
) -> Created<RuleBody> {
    let rule = app
        .create_rule(
            &me,
            &AgendaId(agenda_id),
            NewRule {
                weekdays: b.weekdays,
                start: b.start,
                end: b.end,
                motive_ids: b.motive_ids,
                valid_from: b.valid_from,
                valid_until: b.valid_until,
            },
        )
        .await?;
    created(RuleBody::from(&rule))
}

/// Add an absence (closed period) to an agenda.
#[utoipa::path(post, path = "/api/v1/agendas/{agenda_id}/absences", tag = "practitioner", security(("bearer" = [])),
    params(("agenda_id" = String, Path)), request_body = NewAbsenceBody,
    responses((status = 201, body = AbsenceBody), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn create_absence(
    State(app): State<Arc<Scheduling>>,
    Caller(me): Caller,
    ApiPath(agenda_id): ApiPath<String>,
    ApiJson(b): ApiJson<NewAbsenceBody>,
) -> Created<AbsenceBody> {
    let agenda_id = AgendaId(agenda_id);
    let (absence, cancelled) = if b.cancel_appointments.unwrap_or(false) {
        app.create_absence_cancelling(&me, &agenda_id, &b.start, &b.end, b.reason.as_deref())
            .await?
    } else {
        let a = app
            .create_absence(&me, &agenda_id, &b.start, &b.end, b.reason.as_deref())
            .await?;
        (a, vec![])
    };
    let view = app.view(&agenda_id).await?;
    let mut body = AbsenceBody::new(&absence, &view.tz);
    body.cancelled_appointments = cancelled.iter().map(|id| id.to_string()).collect();
    created(body)
}

/// Appointments of one of the caller's agendas, local dates `from`..=`to`.
#[utoipa::path(get, path = "/api/v1/agendas/{agenda_id}/appointments", tag = "practitioner", security(("bearer" = [])),
    params(("agenda_id" = String, Path), ("from" = String, Query), ("to" = String, Query)),
    responses((status = 200, body = AgendaAppointmentsBody), (status = 404, body = Problem)))]
pub async fn agenda_appointments(
    State(app): State<Arc<Scheduling>>,
    Caller(me): Caller,
    ApiPath(agenda_id): ApiPath<String>,
    ApiQuery(q): ApiQuery<RangeQuery>,
) -> Result<Json<AgendaAppointmentsBody>, ApiError> {
    let (tz, rows) = app
        .agenda_appointments(&me, &AgendaId(agenda_id), &q.from, &q.to)
        .await?;
    let mut payments = Vec::with_capacity(rows.len());
    for (a, _) in &rows {
        payments.push(super::payments::payment_body(&app, a).await?);
    }
    let appointments = rows
        .iter()
        .zip(payments)
        .map(|((a, name), payment)| AgendaAppointmentBody {
            appointment: AppointmentBody {
                payment,
                ..AppointmentBody::new(a, &tz)
            },
            patient: PatientRef {
                id: a.patient.as_ref().map(ToString::to_string),
                name: name.clone(),
            },
        })
        .collect();
    let days = match (q.from.parse(), q.to.parse()) {
        (Ok(from), Ok(to)) => crate::day_counts(rows.iter().map(|(a, _)| &a.row), from, to, &tz)
            .iter()
            .map(DayCountsBody::from)
            .collect(),
        _ => Vec::new(),
    };
    Ok(Json(AgendaAppointmentsBody { appointments, days }))
}

/// Set an appointment's visit status from the practice: arrived, in_consultation, done,
/// no_show, or booked to undo a mistaken one. Each change is kept with its time and author.
#[utoipa::path(put, path = "/api/v1/appointments/{id}/status", tag = "practice desk", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = VisitStatusInput,
    responses((status = 200, body = AppointmentBody), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn put_visit_status(
    State(app): State<Arc<Scheduling>>,
    Caller(me): Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(b): ApiJson<VisitStatusInput>,
) -> Result<Json<AppointmentBody>, ApiError> {
    let a = app.set_visit_status(&me, &id, &b.status).await?;
    let view = app.view(&a.row.agenda_id).await?;
    Ok(Json(AppointmentBody::new(&a, &view.tz)))
}

/// A client may restate the interval; it must be the one in force.
async fn check_window(
    app: &Scheduling,
    product: &str,
    min: Option<i64>,
    max: Option<i64>,
) -> Result<(), ApiError> {
    if min.is_none() && max.is_none() {
        return Ok(());
    }
    let product = careslot_domain::VaccineProduct::parse(product)
        .map_err(|e| ApiError::from(crate::AppError::from(e)))?;
    let today = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date();
    let protocols = app.protocols().await?;
    let window = careslot_domain::vaccine::protocol_on(&protocols, product, today)
        .and_then(|p| p.second_dose);
    let matches = window.is_some_and(|(lo, hi)| {
        min.is_none_or(|m| m == i64::from(lo)) && max.is_none_or(|m| m == i64::from(hi))
    });
    if matches {
        Ok(())
    } else {
        Err(ApiError::invalid(
            "vaccine.next_dose",
            "the interval comes from the product's protocol in force (GET /api/v1/vaccination/protocols)",
        ))
    }
}
