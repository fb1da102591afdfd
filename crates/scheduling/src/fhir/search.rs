//! Read and search of the directory resources: Practitioner, PractitionerRole, Location,
//! HealthcareService and Schedule. Public, like `/api/v1/search`.

use super::directory::{self as dir, codes, Agenda};
use super::params::{reference_id, string_matches, token_matches, Query};
use super::{fhir, fhir_base, searchset, PLACE_ID_SYSTEM, PRACTITIONER_ID_SYSTEM};
use crate::api::bulk_publish::base_url;
use crate::api::extract::ApiPath;
use crate::{AppError, Scheduling};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use careslot_core::error::ApiError;
use serde_json::Value;
use std::collections::BTreeSet;
use std::sync::Arc;

type Answer = Result<Response, ApiError>;

/// A searchset page of `all` (every match, in a stable order).
pub fn page(headers: &HeaderMap, kind: &str, q: &Query, all: Vec<Value>) -> Response {
    let base = fhir_base(headers);
    let total = all.len();
    let end = q.offset.saturating_add(q.count);
    let next = (end < total).then(|| format!("{base}/{kind}?{}", q.page_query(end)));
    let self_url = format!("{base}/{kind}?{}", q.page_query(q.offset));
    let resources = all.into_iter().skip(q.offset).take(q.count).collect();
    fhir(
        StatusCode::OK,
        &searchset(&base, self_url, next, total, resources),
    )
}

fn not_found() -> ApiError {
    AppError::NotFound("resource").into()
}

fn one(found: Option<Value>) -> Answer {
    found
        .map(|r| fhir(StatusCode::OK, &r))
        .ok_or_else(not_found)
}

fn matches_id(q: &Query, id: &str) -> bool {
    q.each_any("_id", |_, v| v == id)
}

pub async fn practitioner(
    State(app): State<Arc<Scheduling>>,
    ApiPath(id): ApiPath<String>,
) -> Answer {
    let rows = dir::agendas(&app, |i| i.entry.practitioner_id.as_str() == id).await?;
    one(rows.first().map(dir::practitioner))
}

pub async fn practitioners(
    State(app): State<Arc<Scheduling>>,
    headers: HeaderMap,
    uri: Uri,
) -> Answer {
    let q = Query::parse(
        uri.query(),
        &[
            ("_id", &[]),
            ("name", &["contains", "exact"]),
            ("identifier", &[]),
        ],
    )?;
    let mut seen = BTreeSet::new();
    let all = dir::agendas(&app, |i| {
        let e = &i.entry;
        let id = e.practitioner_id.as_str();
        matches_id(&q, id)
            && q.each_any("name", |p, v| string_matches(p, v, &e.name))
            && q.each_any("identifier", |_, v| {
                token_matches(v, &[(PRACTITIONER_ID_SYSTEM, id)])
            })
    })
    .await?
    .iter()
    .filter(|a| seen.insert(a.entry.entry.practitioner_id.clone()))
    .map(dir::practitioner)
    .collect();
    Ok(page(&headers, "Practitioner", &q, all))
}

pub async fn role(
    State(app): State<Arc<Scheduling>>,
    headers: HeaderMap,
    ApiPath(id): ApiPath<String>,
) -> Answer {
    let rows = dir::agendas(&app, |i| i.entry.agenda_id.as_str() == id).await?;
    one(rows.first().map(|a| dir::role(&base_url(&headers), a)))
}

pub async fn roles(State(app): State<Arc<Scheduling>>, headers: HeaderMap, uri: Uri) -> Answer {
    let q = Query::parse(
        uri.query(),
        &[
            ("_id", &[]),
            ("practitioner", &[]),
            ("location", &[]),
            ("specialty", &[]),
        ],
    )?;
    let site = base_url(&headers);
    let all = dir::agendas(&app, |i| {
        let e = &i.entry;
        matches_id(&q, e.agenda_id.as_str())
            && q.each_any("practitioner", |_, v| {
                reference_id(v, "Practitioner") == Some(e.practitioner_id.as_str())
            })
            && q.each_any("location", |_, v| {
                reference_id(v, "Location") == Some(e.place.id.as_str())
            })
            && q.each_any("specialty", |_, v| {
                token_matches(v, &[(super::SPECIALTY_SYSTEM, e.specialty.code())])
            })
    })
    .await?
    .iter()
    .map(|a| dir::role(&site, a))
    .collect();
    Ok(page(&headers, "PractitionerRole", &q, all))
}

pub async fn location(
    State(app): State<Arc<Scheduling>>,
    headers: HeaderMap,
    ApiPath(id): ApiPath<String>,
) -> Answer {
    let rows = dir::agendas(&app, |i| i.entry.place.id.as_str() == id).await?;
    let Some(a) = rows.first() else {
        return Err(not_found());
    };
    let facts = crate::publish::site_facts(&app).await?;
    one(Some(dir::location(
        &base_url(&headers),
        a,
        facts.get(&a.entry.entry.place.id),
    )))
}

pub async fn locations(State(app): State<Arc<Scheduling>>, headers: HeaderMap, uri: Uri) -> Answer {
    let q = Query::parse(
        uri.query(),
        &[
            ("_id", &[]),
            ("name", &["contains", "exact"]),
            ("address-city", &["contains", "exact"]),
            ("address-postalcode", &["contains", "exact"]),
            ("identifier", &[]),
        ],
    )?;
    let site = base_url(&headers);
    let rows = dir::agendas(&app, |i| {
        let p = &i.entry.place;
        matches_id(&q, p.id.as_str())
            && q.each_any("address-city", |par, v| string_matches(par, v, &p.city))
            && q.each_any("address-postalcode", |par, v| {
                string_matches(par, v, &p.postcode)
            })
            && q.each_any("identifier", |_, v| {
                token_matches(v, &[(PLACE_ID_SYSTEM, p.id.as_str())])
            })
    })
    .await?;
    let facts = crate::publish::site_facts(&app).await?;
    let mut seen = BTreeSet::new();
    let all = rows
        .iter()
        .filter(|a| seen.insert(a.entry.entry.place.id.clone()))
        .filter(|a| {
            let name = a.centre().name();
            q.each_any("name", |p, v| string_matches(p, v, &name))
        })
        .map(|a| dir::location(&site, a, facts.get(&a.entry.entry.place.id)))
        .collect();
    Ok(page(&headers, "Location", &q, all))
}

/// The motives of `rows` that pass `keep`, each mapped by `make` with its label.
async fn per_motive(
    app: &Scheduling,
    rows: &[Agenda],
    keep: impl Fn(&Agenda, &careslot_domain::Motive) -> bool,
    make: impl Fn(&Agenda, &careslot_domain::Motive, Option<&String>) -> Value,
) -> Result<Vec<Value>, ApiError> {
    let mut out = Vec::new();
    for a in rows {
        let chosen: Vec<_> = a.motives().filter(|m| keep(a, m)).collect();
        if chosen.is_empty() {
            continue;
        }
        let labels = dir::labels(app, &a.view).await?;
        out.extend(chosen.into_iter().map(|m| make(a, m, labels.get(&m.id))));
    }
    Ok(out)
}

pub async fn service(State(app): State<Arc<Scheduling>>, ApiPath(id): ApiPath<String>) -> Answer {
    let (a, m) = dir::motive(&app, &id).await?;
    let labels = dir::labels(&app, &a.view).await?;
    one(Some(dir::service(&a, &m, labels.get(&m.id))))
}

/// Whether a motive passes the `service-type` and `specialty` tokens of `q`.
fn service_matches(q: &Query, a: &Agenda, m: &careslot_domain::Motive) -> bool {
    let codings = a.service_codings(m);
    let types = codes(&codings);
    let specialty = [(super::SPECIALTY_SYSTEM, a.entry.entry.specialty.code())];
    q.each_any("service-type", |_, v| token_matches(v, &types))
        && q.each_any("specialty", |_, v| token_matches(v, &specialty))
}

pub async fn services(State(app): State<Arc<Scheduling>>, headers: HeaderMap, uri: Uri) -> Answer {
    let q = Query::parse(
        uri.query(),
        &[
            ("_id", &[]),
            ("location", &[]),
            ("service-type", &[]),
            ("specialty", &[]),
        ],
    )?;
    let rows = dir::agendas(&app, |i| {
        q.each_any("location", |_, v| {
            reference_id(v, "Location") == Some(i.entry.place.id.as_str())
        })
    })
    .await?;
    let all = per_motive(
        &app,
        &rows,
        |a, m| matches_id(&q, m.id.as_str()) && service_matches(&q, a, m),
        dir::service,
    )
    .await?;
    Ok(page(&headers, "HealthcareService", &q, all))
}

pub async fn schedule(State(app): State<Arc<Scheduling>>, ApiPath(id): ApiPath<String>) -> Answer {
    let (a, m) = dir::motive(&app, &id).await?;
    let labels = dir::labels(&app, &a.view).await?;
    one(Some(dir::schedule(&a, &m, labels.get(&m.id))))
}

/// Whether a Schedule reference value (`actor`) names one of this motive's actors.
fn actor_matches(v: &str, a: &Agenda, m: &careslot_domain::Motive) -> bool {
    let e = &a.entry.entry;
    [
        ("Practitioner", e.practitioner_id.as_str()),
        ("PractitionerRole", e.agenda_id.as_str()),
        ("Location", e.place.id.as_str()),
        ("HealthcareService", m.id.as_str()),
    ]
    .iter()
    .any(|(kind, id)| v.contains('/') && reference_id(v, kind) == Some(*id))
}

pub async fn schedules(State(app): State<Arc<Scheduling>>, headers: HeaderMap, uri: Uri) -> Answer {
    let q = Query::parse(
        uri.query(),
        &[
            ("_id", &[]),
            ("actor", &[]),
            ("service-type", &[]),
            ("specialty", &[]),
            ("active", &[]),
        ],
    )?;
    let active_ok = q.each_any("active", |_, v| v == "true");
    if q.all("active")
        .any(|p| p.value.split(',').any(|v| v != "true" && v != "false"))
    {
        return Err(ApiError::bad_request("active: true or false"));
    }
    let rows = if active_ok {
        dir::agendas(&app, |_| true).await?
    } else {
        Vec::new()
    };
    let all = per_motive(
        &app,
        &rows,
        |a, m| {
            matches_id(&q, m.id.as_str())
                && service_matches(&q, a, m)
                && q.each_any("actor", |_, v| actor_matches(v, a, m))
        },
        dir::schedule,
    )
    .await?;
    Ok(page(&headers, "Schedule", &q, all))
}
