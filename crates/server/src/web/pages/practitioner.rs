//! A practitioner's public page: who and where, motives, and a week of slots for the chosen
//! motive, week by week.

use crate::web::context::Query;
use crate::web::context::{Ctx, PageResult};
use crate::web::view::{self, DayColumn};
use askama::Template;
use axum::extract::Path;
use careslot_domain::AgendaId;
use jiff::civil::Date;
use jiff::Timestamp;
use serde::Deserialize;

#[derive(Deserialize)]
pub struct PageParams {
    motive: Option<String>,
    week: Option<String>,
    /// Sent back after the time chosen was just taken: said right above these times.
    taken: Option<String>,
}

pub struct MotiveChoice {
    pub id: String,
    pub label: String,
    pub duration_label: String,
    pub selected: bool,
    pub video: bool,
    pub new_patients_only: bool,
}

#[derive(Template)]
#[template(path = "practitioner.html")]
struct PractitionerPage<'a> {
    ctx: &'a Ctx,
    agenda_id: String,
    name: String,
    specialty: &'static str,
    place_name: String,
    address: String,
    languages: String,
    bio: Option<String>,
    /// The photo (400 px square) and what it shows, for screen readers.
    photo: Option<String>,
    photo_alt: String,
    /// Fee sector, explained ("Sector 2 (fees above the rates possible)").
    fee_sector: Option<&'static str>,
    accepts_new_patients: bool,
    wheelchair_access: bool,
    access_details: Option<String>,
    motives: Vec<MotiveChoice>,
    motive_id: String,
    motive_label: String,
    new_patients_only: bool,
    week_label: String,
    prev_week: Option<String>,
    next_week: String,
    days: Vec<DayColumn>,
    strip_label: String,
    next_available: Option<(String, String)>,
    /// Slots of a vaccination first dose lead to choosing the second dose.
    vaccination: bool,
    /// The time chosen was just taken: the message opens the slots.
    taken: bool,
}

fn language_name(lang: crate::web::i18n::Lang, code: &str) -> String {
    let key = format!("language.{code}");
    let t = lang.t(&key);
    if t == "…" {
        code.to_uppercase()
    } else {
        t.to_owned()
    }
}

pub async fn page(
    ctx: Ctx,
    Path(agenda_id): Path<String>,
    Query(p): Query<PageParams>,
) -> PageResult {
    let lang = ctx.lang;
    let public = ctx.ok(ctx.app.public_agenda(&AgendaId(agenda_id.clone())).await)?;
    let v = &public.view;
    let now = Timestamp::now();
    let today = now.to_zoned(v.tz.clone()).date();
    let week = p
        .week
        .as_deref()
        .and_then(|w| w.parse::<Date>().ok())
        .filter(|w| *w >= today)
        .unwrap_or(today);
    let centre = public.practitioner.specialty == careslot_domain::Specialty::VaccinationCenter;
    let motive = view::pick_motive(v, p.motive.as_deref(), centre);
    let motives = v
        .motives
        .iter()
        .filter(|m| view::listed(v, m))
        .map(|m| MotiveChoice {
            id: m.id.to_string(),
            label: view::motive_label(lang, &public, m),
            duration_label: lang.tf("motive.minutes", &[("min", &m.duration.get().to_string())]),
            selected: motive.is_some_and(|s| s.id == m.id),
            video: m.policy.teleconsultation,
            new_patients_only: m.policy.new_patients_only,
        })
        .collect();
    let end = week.checked_add(jiff::Span::new().days(6)).unwrap_or(week);
    let (days, next_available) = match motive {
        Some(m) => {
            let slots = v.slots(m, week, end, now);
            let next = if slots.is_empty() {
                v.calendar
                    .next_slot(m, &v.occupancy, now)
                    .filter(|n| n.start.to_zoned(v.tz.clone()).date() > end)
                    .map(|n| {
                        let z = n.start.to_zoned(v.tz.clone());
                        (z.date().to_string(), lang.date_time(&z))
                    })
            } else {
                None
            };
            (view::day_columns(lang, &slots, &v.tz, week, 7, 0), next)
        }
        None => (Vec::new(), None),
    };
    let prev = week
        .checked_sub(jiff::Span::new().days(7))
        .ok()
        .map(|d| d.max(today))
        .filter(|_| week > today);
    let next_week = week
        .checked_add(jiff::Span::new().days(7))
        .unwrap_or(week)
        .to_string();
    let pr = &public.practitioner;
    let facts = ctx.ok(ctx.app.practitioner_facts(&pr.id).await)?;
    let access = ctx.ok(ctx.app.place_access(&public.place.id).await)?;
    let photo = ctx
        .ok(ctx.app.photo_hash(&pr.id).await)?
        .map(|h| super::photos::large_url(&agenda_id, &h));
    let languages = pr
        .languages
        .iter()
        .map(|c| language_name(lang, c))
        .collect::<Vec<_>>()
        .join(", ");
    Ok(ctx.page(&PractitionerPage {
        ctx: &ctx,
        agenda_id,
        strip_label: pr.name.clone(),
        name: pr.name.clone(),
        specialty: view::specialty_label(lang, pr.specialty),
        place_name: public.place.name.clone(),
        address: format!(
            "{}, {} {}",
            public.place.address, public.place.postcode, public.place.city
        ),
        languages,
        bio: pr.bio.clone(),
        photo,
        photo_alt: lang.tf("practitioner.photo_alt", &[("name", &pr.name)]),
        fee_sector: facts
            .fee_sector
            .map(|f| lang.t(&format!("fee_sector.{}", f.code()))),
        accepts_new_patients: facts.accepts_new_patients,
        wheelchair_access: access.wheelchair_access,
        access_details: access.details,
        motives,
        motive_id: motive.map(|m| m.id.to_string()).unwrap_or_default(),
        motive_label: motive
            .map(|m| view::motive_label(lang, &public, m))
            .unwrap_or_default(),
        new_patients_only: motive.is_some_and(|m| m.policy.new_patients_only),
        week_label: lang.tf("practitioner.week_of", &[("date", &lang.long_date(week))]),
        prev_week: prev.map(|d| d.to_string()),
        next_week,
        days,
        next_available,
        vaccination: motive.is_some_and(|m| view::is_vaccination(v, m)),
        taken: p.taken.is_some(),
    }))
}
