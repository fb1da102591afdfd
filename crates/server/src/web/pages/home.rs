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
    /// The card whose strip is paged or expanded (an agenda id), with `from` (its first
    /// day) and `day` (the day whose times are all shown).
    at: Option<String>,
    from: Option<String>,
    day: Option<String>,
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
    /// The strip's three days before and after these (plain links; the script swaps the
    /// card's strip in place).
    pub earlier: Option<String>,
    pub later: Option<String>,
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
    /// On an empty result: what to try instead.
    suggestions: Option<SuggestionList>,
}

/// A link to another search, offered when one finds nobody.
pub struct Suggestion {
    pub label: String,
    pub href: String,
    pub detail: Option<String>,
}

pub struct SuggestionList {
    pub query: Vec<Suggestion>,
    pub specialties: Vec<Suggestion>,
    pub places: Vec<Suggestion>,
}

fn search_href(q: &str, place: &str) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    s.append_pair("q", q);
    if !place.is_empty() {
        s.append_pair("where", place);
    }
    format!("/search?{}", s.finish())
}

/// The same search with one card's strip moved or expanded.
struct StripLinks<'a> {
    q: &'a str,
    place: &'a str,
    point: Option<LatLon>,
}

impl StripLinks<'_> {
    fn href(&self, agenda: &str, from: &str, day: Option<&str>) -> String {
        let mut s = form_urlencoded::Serializer::new(String::new());
        s.append_pair("q", self.q);
        if !self.place.is_empty() {
            s.append_pair("where", self.place);
        }
        if let Some(p) = self.point {
            s.append_pair("lat", &p.lat.to_string())
                .append_pair("lon", &p.lon.to_string());
        }
        s.append_pair("at", agenda).append_pair("from", from);
        if let Some(d) = day {
            s.append_pair("day", d);
        }
        format!("/search?{}#r-{agenda}", s.finish())
    }
}

/// Results are a few dozen at most: each gets its strip from the in-memory view.
const RESULTS: usize = 20;
const RADIUS_KM: f64 = 25.0;

pub async fn search(ctx: Ctx, Query(p): Query<SearchParams>) -> PageResult {
    let lang = ctx.lang;
    let q = p.q.trim().chars().take(100).collect::<String>();
    let place = p.place.trim().chars().take(100).collect::<String>();
    let text = (!q.is_empty()).then(|| q.clone());
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
        specialty: None,
        text,
        // A place not in the gazetteer may still be a city of a practice.
        city: unknown_place.then(|| place.clone()),
        near,
        sort: SortOrder::EarliestSlot,
        limit: RESULTS,
    };
    let outcome = ctx.ok(ctx
        .app
        .directory
        .search_explained(&query, Timestamp::now())
        .await
        .map_err(Into::into))?;
    let understood = &outcome.understood;
    let specialty = understood.specialty;
    let hits = outcome.hits;
    let now = Timestamp::now();
    let strip = StripLinks {
        q: &q,
        place: &place,
        point,
    };
    let at = p.at.as_deref().unwrap_or("");
    let mut results = Vec::with_capacity(hits.len());
    for h in hits {
        let e = &h.item.entry;
        let Ok(public) = ctx.app.public_agenda(&e.agenda_id).await else {
            continue;
        };
        let v = &public.view;
        let agenda = e.agenda_id.to_string();
        let centre = e.specialty == Specialty::VaccinationCenter;
        let motive = view::pick_motive(v, None, centre);
        let vaccination = motive.is_some_and(|m| view::is_vaccination(v, m));
        let today = now.to_zoned(v.tz.clone()).date();
        // This card's strip is the one paged or expanded by the request.
        let paged = at == agenda;
        let asked = |d: &Option<String>| {
            d.as_deref()
                .filter(|_| paged)
                .and_then(|d| d.parse::<jiff::civil::Date>().ok())
        };
        let mut earlier = None;
        let mut later = None;
        let (motive_id, motive_label, days, next) = match motive {
            Some(m) => {
                let next = v.next_slot_of(m, now);
                let first = asked(&p.from)
                    .map(|d| d.max(today))
                    .or_else(|| next.map(|n| n.start.to_zoned(v.tz.clone()).date()));
                let days = match first {
                    Some(from) => {
                        let to = from.checked_add(jiff::Span::new().days(2)).unwrap_or(from);
                        let slots = v.slots(m, from, to, now);
                        let open = asked(&p.day).map(|d| d.to_string());
                        let mut days = view::day_columns(lang, &slots, &v.tz, from, 3, 0);
                        for d in &mut days {
                            if open.as_deref() != Some(d.date.as_str()) && d.slots.len() > 4 {
                                d.more = d.slots.len() - 4;
                                d.slots.truncate(4);
                                d.more_href = strip.href(&agenda, &from.to_string(), Some(&d.date));
                                d.more_label = lang.tf("search.more_times", &[("day", &d.label)]);
                            }
                        }
                        let horizon = today
                            .checked_add(
                                jiff::Span::new().days(i64::from(m.policy.max_horizon_days)),
                            )
                            .unwrap_or(today);
                        if from > today {
                            let back = from
                                .checked_sub(jiff::Span::new().days(3))
                                .unwrap_or(today)
                                .max(today);
                            earlier = Some(strip.href(&agenda, &back.to_string(), None));
                        }
                        let on = from.checked_add(jiff::Span::new().days(3)).unwrap_or(from);
                        if on > from && on <= horizon {
                            later = Some(strip.href(&agenda, &on.to_string(), None));
                        }
                        days
                    }
                    None => Vec::new(),
                };
                let next = next.map(|n| lang.date_time(&n.start.to_zoned(v.tz.clone())));
                (
                    m.id.to_string(),
                    view::motive_label(lang, &public, m),
                    days,
                    next,
                )
            }
            None => (String::new(), String::new(), Vec::new(), None),
        };
        results.push(ResultCard {
            agenda_id: agenda,
            name: e.name.clone(),
            specialty: view::specialty_label(lang, e.specialty),
            address: format!("{}, {} {}", e.place.address, e.place.postcode, e.place.city),
            distance: h.distance_km.map(|d| view::distance(lang, d)),
            motive_id,
            motive_label,
            days,
            next,
            vaccination,
            earlier,
            later,
        });
    }
    let names = understood.names.join(" ");
    let what = match (specialty, names.is_empty()) {
        (Some(s), true) => view::specialty_label(lang, s).to_owned(),
        (Some(s), false) => format!("{} « {names} »", view::specialty_label(lang, s)),
        (None, false) => format!("« {names} »"),
        (None, true) => lang.t("search.everyone").to_owned(),
    };
    // A place written in the "what" box restricts the results to it.
    let place_label = located
        .as_ref()
        .map(|l| l.label.clone())
        .or_else(|| outcome.place.as_ref().map(|p| p.label.clone()));
    let summary = match (&place_label, point) {
        (_, Some(_)) => lang.tf("search.summary_near_me", &[("what", &what)]),
        (Some(l), None) => lang.tf("search.summary_near", &[("what", &what), ("place", l)]),
        (None, None) => what,
    };
    let suggestions = outcome.suggestions.map(|s| {
        // Links keep what was understood, and swap the part that found nobody.
        let what_words = match specialty {
            Some(sp) if names.is_empty() => view::specialty_label(lang, sp).to_owned(),
            Some(sp) => format!("{} {names}", view::specialty_label(lang, sp)),
            None => names.clone(),
        };
        SuggestionList {
            query: s
                .query
                .into_iter()
                .map(|corrected| Suggestion {
                    href: search_href(&corrected, &place),
                    label: corrected,
                    detail: None,
                })
                .collect(),
            specialties: s
                .specialties
                .into_iter()
                .map(|sp| {
                    let label = view::specialty_label(lang, sp);
                    let q = match &place_label {
                        Some(_) if located.is_none() => {
                            // The place came with the words: keep it in them.
                            format!("{label} {}", place_label.clone().unwrap_or_default())
                        }
                        _ => label.to_owned(),
                    };
                    Suggestion {
                        href: search_href(&q, &place),
                        label: label.to_owned(),
                        detail: None,
                    }
                })
                .collect(),
            places: s
                .places
                .into_iter()
                .map(|t| Suggestion {
                    href: search_href(&what_words, &format!("{} {}", t.postcode, t.name)),
                    label: t.name,
                    detail: Some(view::distance(lang, t.distance_km)),
                })
                .collect(),
        }
    });
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
        suggestions,
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
