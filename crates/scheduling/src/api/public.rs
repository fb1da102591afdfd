//! Public endpoints: no account needed.

use super::dto::*;
use super::extract::{ApiPath, ApiQuery};
use crate::{Scheduling, SlotQuery};
use axum::extract::State;
use axum::response::Response;
use axum::Json;
use careslot_core::answer::Answer;
use careslot_core::error::{ApiError, Problem};
use careslot_core::search::{Filters, SearchQuery, SortOrder};
use careslot_core::time::format_instant;
use careslot_domain::geo::LatLon;
use careslot_domain::{AgendaId, FeeSector, Specialty};
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
/// Deep pages cost a ranking of offset + limit results; past this, narrowing is better.
pub const MAX_OFFSET: usize = 1000;

/// The search filters of a request; unknown fee sectors and malformed languages are 400.
fn filters(p: &SearchParams) -> Result<Filters, ApiError> {
    let list = |s: &Option<String>| -> Vec<String> {
        s.as_deref()
            .unwrap_or("")
            .split(',')
            .map(|x| x.trim().to_ascii_lowercase())
            .filter(|x| !x.is_empty())
            .collect()
    };
    let languages = list(&p.languages);
    if languages.iter().any(|l| {
        l.len() < 2 || l.len() > 8 || !l.chars().all(|c| c.is_ascii_alphabetic() || c == '-')
    }) || languages.len() > 20
    {
        return Err(ApiError::bad_request(
            "languages: comma-separated language codes such as fr,en",
        ));
    }
    let fee_sectors = list(&p.fee_sector)
        .iter()
        .map(|s| FeeSector::parse(s))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| {
            ApiError::bad_request("fee_sector: comma-separated sector-1, sector-2, non-contracted")
        })?;
    Ok(Filters {
        teleconsultation: p.teleconsultation.unwrap_or(false),
        new_patients: p.new_patients.unwrap_or(false),
        wheelchair: p.wheelchair.unwrap_or(false),
        languages,
        fee_sectors,
    })
}

/// Search practitioners by specialty, name, place and distance, earliest availability first.
/// `q` is free text (specialty words in any of the four languages, names, a place, with
/// typos forgiven); `city` is any form of place. An empty result may carry suggestions.
#[utoipa::path(get, path = "/api/v1/search", tag = "public",
    params(("specialty" = Option<String>, Query), ("q" = Option<String>, Query), ("city" = Option<String>, Query),
           ("lat" = Option<f64>, Query, minimum = -90, maximum = 90, description = "with lon"),
           ("lon" = Option<f64>, Query, minimum = -180, maximum = 180, description = "with lat"),
           ("radius_km" = Option<f64>, Query, exclusive_minimum = 0, maximum = 1000),
           ("limit" = Option<usize>, Query, minimum = 1, maximum = 100),
           ("sort" = Option<String>, Query, pattern = "^(earliest|nearest|distance|relevance)?$", description = "earliest (default), nearest (alias distance; needs lat and lon) or relevance (waiting time and distance weighed together)"),
           ("offset" = Option<usize>, Query, minimum = 0, maximum = 1000, description = "results to skip; not with page"),
           ("page" = Option<usize>, Query, minimum = 1, description = "page of `limit` results, from 1; not with offset"),
           ("teleconsultation" = Option<bool>, Query, description = "only agendas with a teleconsultation bookable online"),
           ("new_patients" = Option<bool>, Query, description = "only practitioners taking new patients"),
           ("wheelchair" = Option<bool>, Query, description = "only places with wheelchair access"),
           ("languages" = Option<String>, Query, description = "comma-separated language codes; any of them"),
           ("fee_sector" = Option<String>, Query, description = "comma-separated: sector-1, sector-2, non-contracted; any of them")),
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
    // The contract's default stays earliest-first; `relevance` is asked for.
    let sort = match p.sort.as_deref() {
        None | Some("earliest") | Some("") => SortOrder::EarliestSlot,
        Some("relevance") => SortOrder::Relevance,
        Some("distance" | "nearest") if near.is_some() => SortOrder::Distance,
        Some(s @ ("distance" | "nearest")) => {
            return Err(ApiError::bad_request(format!(
                "sort: {s} needs lat and lon"
            )))
        }
        Some(_) => {
            return Err(ApiError::bad_request(
                "sort: must be earliest, nearest, distance or relevance",
            ))
        }
    };
    let limit = p.limit.unwrap_or(20);
    if limit == 0 || limit > MAX_LIMIT {
        return Err(ApiError::bad_request(format!(
            "limit: must be between 1 and {MAX_LIMIT}"
        )));
    }
    let offset = match (p.offset, p.page) {
        (Some(_), Some(_)) => return Err(ApiError::bad_request("offset and page: give one")),
        (Some(o), None) => o,
        (None, Some(0)) => return Err(ApiError::bad_request("page: starts at 1")),
        (None, Some(n)) => (n - 1).saturating_mul(limit),
        (None, None) => 0,
    };
    if offset > MAX_OFFSET {
        return Err(ApiError::bad_request(format!(
            "offset: at most {MAX_OFFSET} (narrow the search instead)"
        )));
    }
    let filters = filters(&p)?;
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
        offset,
        filters,
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
                teleconsultation: e.facts.teleconsultation,
                accepts_new_patients: e.facts.accepts_new_patients,
                fee_sector: e.facts.fee_sector.map(|f| f.code().to_owned()),
                wheelchair_access: e.facts.wheelchair_access,
                languages: e.facts.languages.clone(),
            }
        })
        .collect();
    Ok(Json(SearchBody {
        total: outcome.total,
        offset,
        limit,
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

/// Bookable starts of a motive, local dates `from`..=`to` (at most 31 days). With
/// `format=compact` (an extension of the contract), starts are grouped by local date with one
/// offset and length per group ([`CompactSlotsBody`]): about a third of the bytes.
#[utoipa::path(get, path = "/api/v1/agendas/{agenda_id}/slots", operation_id = "listSlots", tag = "public",
    params(("agenda_id" = String, Path), ("motive_id" = String, Query), ("from" = String, Query, format = Date), ("to" = String, Query, format = Date),
           ("format" = Option<SlotFormat>, Query, description = "`compact`: the grouped answer; default `full`, the contract's"),
           ("If-None-Match" = Option<String>, Header, description = "an `ETag` of an earlier answer: 304 when unchanged")),
    responses((status = 200, body = SlotsAnswerBody, headers(("ETag" = String, description = "strong validator of this answer"))),
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
    let key = format!("{}\n{}\n{}\n{:?}", q.motive_id, q.from, q.to, q.format);
    let now_s = jiff::Timestamp::now().as_second();
    if let Some(answer) = app.agendas.response(&agenda, &key, now_s) {
        return Ok(answer.respond(&headers));
    }
    let generation = app.agendas.generation(&agenda);
    let (view, motive, from, to) = app
        .slot_range(SlotQuery {
            agenda_id: agenda.as_str(),
            motive_id: &q.motive_id,
            from: &q.from,
            to: &q.to,
        })
        .await?;
    // Day by day: a booking makes its own day's slots be computed again, not the week's.
    let now = jiff::Timestamp::now();
    let (pieces, all_fresh) = super::slot_days::pieces(
        &app.agendas,
        &view,
        &motive,
        (from, to),
        q.format,
        generation,
        now,
    );
    let body = match q.format {
        SlotFormat::Full => {
            super::slot_json::assemble(&[b"{", super::slot_json::SLOTS_OPEN], &pieces)
        }
        SlotFormat::Compact => {
            super::slot_json::assemble(&[super::slot_json::GROUPS_OPEN], &pieces)
        }
    };
    // Tests run debug builds: an answer computed afresh (same instant for every day) is
    // checked against the whole range's. (Kept days may be up to a second older.)
    debug_assert!(
        !all_fresh
            || body
                == match q.format {
                    SlotFormat::Full => super::slot_json::slots_json(
                        None,
                        &view.slots(&motive, from, to, now),
                        &view.tz,
                    ),
                    SlotFormat::Compact => super::slot_json::compact_slots_json(
                        &view.slots(&motive, from, to, now),
                        &view.tz,
                    ),
                },
        "day pieces differ from the range's answer"
    );
    let answer = Answer::new(bytes::Bytes::from(body));
    if let Some(g) = generation {
        app.agendas
            .keep_response(&agenda, g, key, answer.clone(), now_s);
    }
    Ok(answer.respond(&headers))
}
