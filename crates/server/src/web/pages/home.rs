//! Home (one search box), search results with a 3-day strip of slots, language switch.

use crate::web::context::Query;
use crate::web::context::{safe_path, set_cookie, Ctx, PageResult, LANG_COOKIE};
use crate::web::i18n::Lang;
use crate::web::view::{self, DayColumn};
use askama::Template;
use axum::extract::Path;
use axum::response::Response;
use careslot_core::gazetteer;
use careslot_core::search::{SearchQuery, SortOrder};
use careslot_domain::geo::LatLon;
use careslot_domain::Specialty;
use jiff::Timestamp;
use serde::Deserialize;

pub struct SpecialtyOption {
    pub code: &'static str,
    pub label: &'static str,
}

fn specialty_options(lang: Lang) -> Vec<SpecialtyOption> {
    Specialty::ALL
        .iter()
        .map(|s| SpecialtyOption {
            code: s.code(),
            label: view::specialty_label(lang, *s),
        })
        .collect()
}

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage<'a> {
    ctx: &'a Ctx,
    specialties: Vec<SpecialtyOption>,
    q: &'a str,
    place: &'a str,
    lat: &'a str,
    lon: &'a str,
}

pub async fn home(ctx: Ctx) -> Response {
    ctx.page(&HomePage {
        specialties: specialty_options(ctx.lang),
        ctx: &ctx,
        q: "",
        place: "",
        lat: "",
        lon: "",
    })
}

#[derive(Debug, Default, Deserialize)]
pub struct SearchParams {
    #[serde(default)]
    q: String,
    #[serde(default, rename = "where")]
    place: String,
    lat: Option<String>,
    lon: Option<String>,
}

pub struct ResultCard {
    pub agenda_id: String,
    pub name: String,
    pub specialty: &'static str,
    pub address: String,
    pub distance: Option<String>,
    pub motive_id: String,
    pub motive_label: String,
    pub days: Vec<DayColumn>,
    pub next: Option<String>,
    pub vaccination: bool,
}

#[derive(Template)]
#[template(path = "search.html")]
struct SearchPage<'a> {
    ctx: &'a Ctx,
    q: String,
    place: String,
    lat: String,
    lon: String,
    specialties: Vec<SpecialtyOption>,
    /// What was understood, e.g. "Dentist near Lyon".
    summary: String,
    /// The place typed could not be found.
    unknown_place: bool,
    results: Vec<ResultCard>,
}

/// Results are a few dozen at most: each gets its strip from the in-memory view.
const RESULTS: usize = 20;
const RADIUS_KM: f64 = 25.0;

pub async fn search(ctx: Ctx, Query(p): Query<SearchParams>) -> PageResult {
    let lang = ctx.lang;
    let q = p.q.trim().chars().take(100).collect::<String>();
    let place = p.place.trim().chars().take(100).collect::<String>();
    let specialty = view::specialty_from_words(&q);
    let text = (specialty.is_none() && !q.is_empty()).then(|| q.clone());
    let point = match (p.lat.as_deref(), p.lon.as_deref()) {
        (Some(lat), Some(lon)) => match (lat.parse::<f64>(), lon.parse::<f64>()) {
            (Ok(lat), Ok(lon)) => LatLon::parse(lat, lon).ok(),
            _ => None,
        },
        _ => None,
    };
    let located = if point.is_none() && !place.is_empty() {
        gazetteer::locate(&place)
    } else {
        None
    };
    let unknown_place = point.is_none() && !place.is_empty() && located.is_none();
    let near = point
        .or(located.as_ref().map(|l| l.pos))
        .map(|p| (p, RADIUS_KM));
    let query = SearchQuery {
        specialty,
        text,
        // A place not in the gazetteer may still be a city of a practice.
        city: unknown_place.then(|| place.clone()),
        near,
        sort: SortOrder::EarliestSlot,
        limit: RESULTS,
    };
    let hits = ctx.ok(ctx
        .app
        .directory
        .search(&query, Timestamp::now())
        .await
        .map_err(Into::into))?;
    let now = Timestamp::now();
    let mut results = Vec::with_capacity(hits.len());
    for h in hits {
        let e = &h.item.entry;
        let Ok(public) = ctx.app.public_agenda(&e.agenda_id).await else {
            continue;
        };
        let v = &public.view;
        let motive = view::pick_motive(v, None);
        let vaccination = motive.is_some_and(|m| view::is_vaccination(v, m));
        let (motive_id, motive_label, days, next) = match motive {
            Some(m) => {
                let next = v.next_slot_of(m, now);
                let days = match next {
                    Some(n) => {
                        let from = n.start.to_zoned(v.tz.clone()).date();
                        let to = from.checked_add(jiff::Span::new().days(2)).unwrap_or(from);
                        let slots = v.slots(m, from, to, now);
                        view::day_columns(lang, &slots, &v.tz, from, 3, 4)
                    }
                    None => Vec::new(),
                };
                let next = next.map(|n| lang.date_time(&n.start.to_zoned(v.tz.clone())));
                (
                    m.id.to_string(),
                    view::motive_label(lang, &public.labels, m),
                    days,
                    next,
                )
            }
            None => (String::new(), String::new(), Vec::new(), None),
        };
        results.push(ResultCard {
            agenda_id: e.agenda_id.to_string(),
            name: e.name.clone(),
            specialty: view::specialty_label(lang, e.specialty),
            address: format!("{}, {} {}", e.place.address, e.place.postcode, e.place.city),
            distance: h.distance_km.map(|d| view::distance(lang, d)),
            motive_id,
            motive_label,
            days,
            next,
            vaccination,
        });
    }
    let what = match (specialty, q.is_empty()) {
        (Some(s), _) => view::specialty_label(lang, s).to_owned(),
        (None, false) => format!("« {q} »"),
        (None, true) => lang.t("search.everyone").to_owned(),
    };
    let summary = match (&located, point) {
        (_, Some(_)) => lang.tf("search.summary_near_me", &[("what", &what)]),
        (Some(l), None) => lang.tf(
            "search.summary_near",
            &[("what", &what), ("place", &l.label)],
        ),
        (None, None) => what,
    };
    Ok(ctx.page(&SearchPage {
        lat: point.map(|p| p.lat.to_string()).unwrap_or_default(),
        lon: point.map(|p| p.lon.to_string()).unwrap_or_default(),
        specialties: specialty_options(lang),
        ctx: &ctx,
        q,
        place,
        summary,
        unknown_place,
        results,
    }))
}

#[derive(Deserialize)]
pub struct Next {
    next: Option<String>,
}

/// The language switcher: remembers the choice for a year and goes back.
pub async fn switch_language(
    mut ctx: Ctx,
    Path(code): Path<String>,
    Query(n): Query<Next>,
) -> Response {
    if let Some(lang) = Lang::parse(&code) {
        ctx.add_cookie(set_cookie(LANG_COOKIE, lang.code(), Some(365 * 24 * 3600)));
    }
    let next = n.next.unwrap_or_else(|| "/".into());
    let to = safe_path(&next).to_owned();
    ctx.redirect(&to)
}
