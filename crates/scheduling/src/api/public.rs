//! Public endpoints: no account needed.

use super::dto::*;
use super::extract::{ApiPath, ApiQuery};
use crate::{Scheduling, SlotQuery};
use axum::extract::State;
use axum::response::Response;
use axum::Json;
use careslot_core::answer::Answer;
use careslot_core::error::{ApiError, Problem};
use careslot_core::search::{SearchQuery, SortOrder};
use careslot_core::time::format_instant;
use careslot_domain::geo::LatLon;
use careslot_domain::{AgendaId, Specialty};
use jiff::Timestamp;
use std::sync::Arc;

/// Liveness and readiness.
#[utoipa::path(get, path = "/healthz", tag = "public", responses((status = 200, body = HealthBody)))]
pub async fn healthz() -> Json<HealthBody> {
    Json(HealthBody { status: "ok" })
}

/// Specialty codes.
#[utoipa::path(get, path = "/api/v1/specialties", tag = "public", responses((status = 200, body = SpecialtiesBody)))]
pub async fn specialties() -> Json<SpecialtiesBody> {
    Json(SpecialtiesBody {
        specialties: Specialty::ALL
            .iter()
            .map(|s| SpecialtyBody {
                code: s.code(),
                name: s.name_en(),
            })
            .collect(),
    })
}

pub const DEFAULT_RADIUS_KM: f64 = 20.0;
pub const MAX_RADIUS_KM: f64 = 1000.0;
pub const MAX_LIMIT: usize = 100;

/// Search practitioners by specialty, name, place and distance, earliest availability first.
/// `q` is free text (specialty words in any of the four languages, names, a place, with
/// typos forgiven); `city` is any form of place. An empty result may carry suggestions.
#[utoipa::path(get, path = "/api/v1/search", tag = "public",
    params(("specialty" = Option<String>, Query), ("q" = Option<String>, Query), ("city" = Option<String>, Query),
           ("lat" = Option<f64>, Query, minimum = -90, maximum = 90, description = "with lon"),
           ("lon" = Option<f64>, Query, minimum = -180, maximum = 180, description = "with lat"),
           ("radius_km" = Option<f64>, Query, exclusive_minimum = 0, maximum = 1000),
           ("limit" = Option<usize>, Query, minimum = 1, maximum = 100),
           ("sort" = Option<String>, Query, pattern = "^(earliest|distance)?$", description = "earliest (default) or distance (needs lat and lon)")),
    responses((status = 200, body = SearchBody), (status = 400, body = Problem)))]
pub async fn search(
    State(app): State<Arc<Scheduling>>,
    ApiQuery(p): ApiQuery<SearchParams>,
) -> Result<Json<SearchBody>, ApiError> {
    let specialty = match p
        .specialty
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        Some(code) => {
            Some(Specialty::parse(code).map_err(|e| ApiError::bad_request(e.to_string()))?)
        }
        None => None,
    };
    // A radius out of range is refused even without a point, so a client learns of its
    // mistake before it adds the point.
    let radius = p.radius_km.unwrap_or(DEFAULT_RADIUS_KM);
    if !radius.is_finite() || radius <= 0.0 || radius > MAX_RADIUS_KM {
        return Err(ApiError::bad_request(format!(
            "radius_km: must be between 0 and {MAX_RADIUS_KM}"
        )));
    }
    let near = match (p.lat, p.lon) {
        (Some(lat), Some(lon)) => {
            let point =
                LatLon::parse(lat, lon).map_err(|e| ApiError::bad_request(e.to_string()))?;
            Some((point, radius))
        }
        (None, None) => None,
        _ => return Err(ApiError::bad_request("lat and lon: give both or neither")),
    };
    let sort = match p.sort.as_deref() {
        None | Some("earliest") | Some("") => SortOrder::EarliestSlot,
        Some("distance") if near.is_some() => SortOrder::Distance,
        Some("distance") => return Err(ApiError::bad_request("sort: distance needs lat and lon")),
        Some(_) => return Err(ApiError::bad_request("sort: must be earliest or distance")),
    };
    let limit = p.limit.unwrap_or(20);
    if limit == 0 || limit > MAX_LIMIT {
        return Err(ApiError::bad_request(format!(
            "limit: must be between 1 and {MAX_LIMIT}"
        )));
    }
    let text = p.q.filter(|q| !q.trim().is_empty());
    if text.as_ref().is_some_and(|t| t.chars().count() > 200) {
        return Err(ApiError::bad_request("q: at most 200 characters"));
    }
    let query = SearchQuery {
        specialty,
        text,
        city: p.city.filter(|c| !c.trim().is_empty()),
        near,
        sort,
        limit,
    };
    let outcome = app
        .directory
        .search_explained(&query, Timestamp::now())
        .await?;
    let suggestions = outcome.suggestions.map(|s| SearchSuggestionsBody {
        q: s.query,
        specialties: s
            .specialties
            .into_iter()
            .map(|s| SpecialtyBody {
                code: s.code(),
                name: s.name_en(),
            })
            .collect(),
        places: s
            .places
            .into_iter()
            .map(|p| SuggestedPlaceBody {
                city: p.name,
                postcode: p.postcode,
                lat: p.pos.lat,
                lon: p.pos.lon,
                distance_km: p.distance_km,
                count: p.count,
            })
            .collect(),
    });
    let results = outcome
        .hits
        .into_iter()
        .map(|h| {
            let e = &h.item.entry;
            SearchResultBody {
                practitioner_id: e.practitioner_id.to_string(),
                name: e.name.clone(),
                specialty: e.specialty.code().to_owned(),
                agenda_id: e.agenda_id.to_string(),
                place: SearchPlaceBody {
                    id: e.place.id.to_string(),
                    name: e.place.name.clone(),
                    address: e.place.address.clone(),
                    postcode: e.place.postcode.clone(),
                    city: e.place.city.clone(),
                    lat: e.place.lat,
                    lon: e.place.lon,
                },
                distance_km: h.distance_km.map(|d| (d * 100.0).round() / 100.0),
                next_slot: match (h.next_slot, &h.view) {
                    (Some(s), Some(v)) => Some(format_instant(s, &v.tz)),
                    _ => None,
                },
            }
        })
        .collect();
    Ok(Json(SearchBody {
        results,
        suggestions,
    }))
}

/// Public description of an agenda: its zone and the motives bookable online.
#[utoipa::path(get, path = "/api/v1/agendas/{agenda_id}", tag = "public", params(("agenda_id" = String, Path)),
    responses((status = 200, body = PublicAgendaBody), (status = 404, body = Problem)))]
pub async fn agenda(
    State(app): State<Arc<Scheduling>>,
    ApiPath(agenda_id): ApiPath<String>,
) -> Result<Json<PublicAgendaBody>, ApiError> {
    let view = app.view(&AgendaId(agenda_id)).await?;
    // Labels are sealed; without the key service the rest of the agenda is still served.
    let labels = match app.motive_labels(&view).await {
        Ok(l) => l,
        Err(crate::AppError::KeyService) => Default::default(),
        Err(e) => return Err(e.into()),
    };
    let mut translations = match app.motive_translations(&view).await {
        Ok(t) => t,
        Err(crate::AppError::KeyService) => Default::default(),
        Err(e) => return Err(e.into()),
    };
    let protocols = if view.vaccines.is_empty() {
        Vec::new()
    } else {
        app.protocols().await?
    };
    let today = Timestamp::now().to_zoned(view.tz.clone()).date();
    let fees = if view.motives.iter().any(|m| m.policy.teleconsultation) {
        app.motive_fees(&view.agenda.id).await?
    } else {
        Default::default()
    };
    Ok(Json(PublicAgendaBody {
        id: view.agenda.id.to_string(),
        practitioner_id: view.agenda.practitioner_id.to_string(),
        timezone: view.agenda.timezone.clone(),
        motives: view
            .motives
            .iter()
            .filter(|m| m.policy.bookable_online)
            .map(|m| PublicMotiveBody {
                id: m.id.to_string(),
                name: labels.get(&m.id).cloned(),
                labels: translations.remove(&m.id).unwrap_or_default(),
                duration_min: m.duration.get(),
                capacity: m.capacity,
                teleconsultation: m.policy.teleconsultation,
                new_patients_only: m.policy.new_patients_only,
                vaccine: view
                    .vaccine(&m.id)
                    .map(|v| VaccineBody::new(v, &protocols, today)),
                fee: fees.get(&m.id).map(FeeBody::from),
            })
            .collect(),
    }))
}

/// Bookable starts of a motive, local dates `from`..=`to` (at most 31 days).
#[utoipa::path(get, path = "/api/v1/agendas/{agenda_id}/slots", operation_id = "listSlots", tag = "public",
    params(("agenda_id" = String, Path), ("motive_id" = String, Query), ("from" = String, Query, format = Date), ("to" = String, Query, format = Date),
           ("If-None-Match" = Option<String>, Header, description = "an `ETag` of an earlier answer: 304 when unchanged")),
    responses((status = 200, body = SlotsBody, headers(("ETag" = String, description = "strong validator of this answer"))),
              (status = 304, description = "unchanged since the `ETag` in `If-None-Match`", headers(("ETag" = String))),
              (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn slots(
    State(app): State<Arc<Scheduling>>,
    ApiPath(agenda_id): ApiPath<String>,
    ApiQuery(q): ApiQuery<SlotsQuery>,
    headers: axum::http::HeaderMap,
) -> Result<Response, ApiError> {
    // The same week of the same centre is asked for again and again during a rush: its
    // answer is serialised once per change of the agenda (and at most once a second).
    let agenda = AgendaId(agenda_id);
    let key = format!("{}\n{}\n{}", q.motive_id, q.from, q.to);
    let now_s = jiff::Timestamp::now().as_second();
    if let Some(answer) = app.agendas.response(&agenda, &key, now_s) {
        return Ok(answer.respond(&headers));
    }
    let generation = app.agendas.generation(&agenda);
    let (view, slots) = app
        .slots(SlotQuery {
            agenda_id: agenda.as_str(),
            motive_id: &q.motive_id,
            from: &q.from,
            to: &q.to,
        })
        .await?;
    let answer = Answer::new(bytes::Bytes::from(super::slot_json::slots_json(
        None, &slots, &view.tz,
    )));
    if let Some(g) = generation {
        app.agendas
            .keep_response(&agenda, g, key, answer.clone(), now_s);
    }
    Ok(answer.respond(&headers))
}
