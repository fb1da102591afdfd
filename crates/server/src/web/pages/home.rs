//! Home (one search box), search results with a 3-day strip of slots, language switch.

use crate::web::context::Query;
use crate::web::context::{safe_path, set_cookie, Ctx, PageResult, LANG_COOKIE};
use crate::web::i18n::Lang;
use crate::web::view::{self, DayColumn};
use askama::Template;
use axum::extract::Path;
use axum::response::Response;
use careslot_core::gazetteer;
use careslot_core::search::{Filters, SearchQuery, SortOrder};
use careslot_domain::geo::LatLon;
use careslot_domain::{FeeSector, Specialty};
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
    /// `relevance` (default), `earliest` or `nearest`.
    sort: Option<String>,
    /// From 1.
    page: Option<String>,
    /// Filters: checkboxes ("1") and one language and fee sector.
    tele: Option<String>,
    newp: Option<String>,
    access: Option<String>,
    lang: Option<String>,
    sector: Option<String>,
}

/// One option of a select.
pub struct Choice {
    pub value: &'static str,
    pub label: String,
    pub selected: bool,
}

/// Languages offered by the filter: those of the pages, and the most asked for.
const FILTER_LANGUAGES: [&str; 8] = ["fr", "en", "de", "it", "es", "pt", "ar", "zh"];

/// The sort, filters and page of a search, as read from its query and written back into
/// its links (pagination, strips, suggestions keep them).
struct Refine {
    sort: SortOrder,
    sort_code: &'static str,
    page: usize,
    filters: Filters,
    tele: bool,
    newp: bool,
    access: bool,
    lang: Option<&'static str>,
    sector: Option<FeeSector>,
}

impl Refine {
    fn read(p: &SearchParams, has_point: bool) -> Self {
        let on = |v: &Option<String>| v.as_deref().is_some_and(|v| !v.is_empty() && v != "0");
        let (sort, sort_code) = match p.sort.as_deref() {
            Some("earliest") => (SortOrder::EarliestSlot, "earliest"),
            // Nearest means nothing without a point; relevance is then earliest-first.
            Some("nearest") if has_point => (SortOrder::Distance, "nearest"),
            _ => (SortOrder::Relevance, "relevance"),
        };
        let lang = p
            .lang
            .as_deref()
            .and_then(|l| FILTER_LANGUAGES.iter().copied().find(|x| *x == l));
        let sector = p.sector.as_deref().and_then(|s| FeeSector::parse(s).ok());
        let page = p
            .page
            .as_deref()
            .and_then(|x| x.parse::<usize>().ok())
            .filter(|n| *n >= 1)
            .unwrap_or(1)
            .min(MAX_PAGE);
        let (tele, newp, access) = (on(&p.tele), on(&p.newp), on(&p.access));
        Self {
            sort,
            sort_code,
            page,
            filters: Filters {
                teleconsultation: tele,
                new_patients: newp,
                wheelchair: access,
                languages: lang.map(|l| vec![l.to_owned()]).unwrap_or_default(),
                fee_sectors: sector.into_iter().collect(),
            },
            tele,
            newp,
            access,
            lang,
            sector,
        }
    }

    /// The pairs that keep this sort and these filters in a link (not the page).
    fn append(&self, s: &mut form_urlencoded::Serializer<'_, String>) {
        if self.sort_code != "relevance" {
            s.append_pair("sort", self.sort_code);
        }
        for (on, name) in [
            (self.tele, "tele"),
            (self.newp, "newp"),
            (self.access, "access"),
        ] {
            if on {
                s.append_pair(name, "1");
            }
        }
        if let Some(l) = self.lang {
            s.append_pair("lang", l);
        }
        if let Some(x) = self.sector {
            s.append_pair("sector", x.code());
        }
    }
}

/// Pages are of `RESULTS`; deeper than this, a narrower search is the better answer.
const MAX_PAGE: usize = 50;

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
    /// The practitioner's small photo, if any.
    pub photo: Option<String>,
    pub photo_alt: String,
    /// Where the place is, for the map's marker.
    pub lat: String,
    pub lon: String,
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
    sorts: Vec<Choice>,
    languages: Vec<Choice>,
    sectors: Vec<Choice>,
    f_tele: bool,
    f_newp: bool,
    f_access: bool,
    /// Filters narrow the results (said beside an empty result).
    filtered: bool,
    /// "42 results", "Page 2 of 3".
    count_label: String,
    page_label: Option<String>,
    prev_page: Option<String>,
    next_page: Option<String>,
    /// The map's tile URL template and credit; None: no map.
    map: Option<(String, String)>,
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

/// This search (words, place, point, sort, filters) at another page.
fn page_href(q: &str, place: &str, point: Option<LatLon>, refine: &Refine, page: usize) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    s.append_pair("q", q);
    if !place.is_empty() {
        s.append_pair("where", place);
    }
    if let Some(p) = point {
        s.append_pair("lat", &p.lat.to_string())
            .append_pair("lon", &p.lon.to_string());
    }
    refine.append(&mut s);
    if page > 1 {
        s.append_pair("page", &page.to_string());
    }
    format!("/search?{}", s.finish())
}

/// The same search with one card's strip moved or expanded.
struct StripLinks<'a> {
    q: &'a str,
    place: &'a str,
    point: Option<LatLon>,
    refine: &'a Refine,
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
        self.refine.append(&mut s);
        if self.refine.page > 1 {
            s.append_pair("page", &self.refine.page.to_string());
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
    let refine = Refine::read(&p, near.is_some());
    let query = SearchQuery {
        specialty: None,
        text,
        // A place not in the gazetteer may still be a city of a practice.
        city: unknown_place.then(|| place.clone()),
        near,
        sort: refine.sort,
        limit: RESULTS,
        offset: (refine.page - 1) * RESULTS,
        filters: refine.filters.clone(),
    };
    let outcome = ctx.ok(ctx
        .app
        .directory
        .search_explained(&query, Timestamp::now())
        .await
        .map_err(Into::into))?;
    let understood = &outcome.understood;
    let specialty = understood.specialty;
    let total = outcome.total;
    let hits = outcome.hits;
    let now = Timestamp::now();
    let strip = StripLinks {
        q: &q,
        place: &place,
        point,
        refine: &refine,
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
            // A photo is a nicety: the card stands without it if it cannot be read.
            photo: ctx
                .app
                .photo_hash(&e.practitioner_id)
                .await
                .ok()
                .flatten()
                .map(|h| super::photos::small_url(&agenda, &h)),
            photo_alt: lang.tf("practitioner.photo_alt", &[("name", &e.name)]),
            lat: e.place.lat.to_string(),
            lon: e.place.lon.to_string(),
            agenda_id: agenda,
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
    let pages = total.div_ceil(RESULTS).clamp(1, MAX_PAGE);
    let count_label = lang.tf("search.count", &[("n", &total.to_string())]);
    let page_label = (pages > 1).then(|| {
        lang.tf(
            "search.page_of",
            &[
                ("page", &refine.page.to_string()),
                ("pages", &pages.to_string()),
            ],
        )
    });
    let prev_page = (refine.page > 1 && refine.page <= pages)
        .then(|| page_href(&q, &place, point, &refine, refine.page - 1));
    let next_page =
        (refine.page < pages).then(|| page_href(&q, &place, point, &refine, refine.page + 1));
    let sorts = [
        ("relevance", "search.sort_relevance", true),
        ("earliest", "search.sort_earliest", true),
        ("nearest", "search.sort_nearest", near.is_some()),
    ]
    .into_iter()
    .filter(|(_, _, offered)| *offered)
    .map(|(value, key, _)| Choice {
        value,
        label: lang.t(key).to_owned(),
        selected: refine.sort_code == value,
    })
    .collect();
    let languages = std::iter::once(Choice {
        value: "",
        label: lang.t("search.any_language").to_owned(),
        selected: refine.lang.is_none(),
    })
    .chain(FILTER_LANGUAGES.iter().map(|code| Choice {
        value: code,
        label: lang.t(&format!("language.{code}")).to_owned(),
        selected: refine.lang == Some(*code),
    }))
    .collect();
    let sectors = std::iter::once(Choice {
        value: "",
        label: lang.t("search.any_sector").to_owned(),
        selected: refine.sector.is_none(),
    })
    .chain(FeeSector::ALL.iter().map(|f| Choice {
        value: f.code(),
        label: lang.t(&format!("fee_sector.{}", f.code())).to_owned(),
        selected: refine.sector == Some(*f),
    }))
    .collect();
    Ok(ctx.page(&SearchPage {
        sorts,
        languages,
        sectors,
        f_tele: refine.tele,
        f_newp: refine.newp,
        f_access: refine.access,
        filtered: !refine.filters.is_empty(),
        count_label,
        page_label,
        prev_page,
        next_page,
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
        map: ctx
            .app
            .map
            .enabled()
            .then(|| (ctx.app.map.url.clone(), ctx.app.map.attribution.clone())),
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
