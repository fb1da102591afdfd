//! Practitioner self-onboarding: sign-up, then profile, place, motives, hours, and the page
//! is live — six screens from the sign-up form to a bookable public page.

use super::account::{code_step, start_instant_signup, CodeStep, PendingCode};
use super::home::{Choice, SpecialtyOption};
use super::photos;
use crate::services::{AppError, NewMotive, NewPlace, NewRule, ProfileInput};
use crate::web::context::{Ctx, Failure, Form, PageResult, Query};
use crate::web::view;
use askama::Template;
use careslot_domain::{FeeSector, MotivePolicy, Specialty};
use careslot_scheduling::practice_facts::FactsInput;
use careslot_store::{PlaceAccess, Role};
use serde::Deserialize;

/// Languages offered as checkboxes (codes; names come from the catalogue).
const LANGUAGES: [&str; 8] = ["fr", "en", "de", "it", "es", "pt", "ar", "zh"];
/// Visit durations offered, in minutes.
const DURATIONS: [u32; 8] = [10, 15, 20, 30, 45, 60, 90, 120];

pub struct Check {
    pub value: &'static str,
    pub label: &'static str,
    pub checked: bool,
}

#[derive(Template)]
#[template(path = "pro_landing.html")]
struct Landing<'a> {
    ctx: &'a Ctx,
}

pub async fn landing(ctx: Ctx) -> PageResult {
    Ok(ctx.page(&Landing { ctx: &ctx }))
}

#[derive(Template)]
#[template(path = "pro_signup.html")]
struct SignUpPage<'a> {
    ctx: &'a Ctx,
    error: Option<&'static str>,
    name: String,
    email: String,
}

pub async fn signup_page(ctx: Ctx) -> PageResult {
    Ok(ctx.page(&SignUpPage {
        ctx: &ctx,
        error: None,
        name: String::new(),
        email: String::new(),
    }))
}

/// Where someone who already has an account goes from the code step.
const SIGNIN_HREF: &str = "/signin?next=%2Fpro%2Fonboarding%2Fprofile";

/// The instant sign-up, verify first: the next screen (the profile) opens with the code
/// field on top, whatever the address, so onboarding keeps its six screens (issue 4).
pub async fn sign_up(mut ctx: Ctx, form: Form) -> PageResult {
    match start_instant_signup(&mut ctx, &form, Role::Practitioner).await? {
        Ok(ticket) => {
            let pending = PendingCode::new(&ctx, ticket, form.text("email"), SIGNIN_HREF.into());
            render_profile(&ctx, None, Some(&form), Some(&pending)).await
        }
        Err(key) => Ok(ctx.page(&SignUpPage {
            ctx: &ctx,
            error: Some(key),
            name: form.text("name").into(),
            email: form.text("email").into(),
        })),
    }
}

fn practitioner_only(ctx: &Ctx) -> Result<&crate::services::Caller, Failure> {
    let caller = ctx.caller()?;
    if caller.role != Role::Practitioner {
        return Err(ctx.fail(AppError::Forbidden("practitioners only")));
    }
    Ok(caller)
}

#[derive(Template)]
#[template(path = "onboarding_profile.html")]
struct ProfilePage<'a> {
    ctx: &'a Ctx,
    /// Signing up: the code step on top (and the resend form's fields).
    pending: Option<&'a PendingCode>,
    action: &'static str,
    hidden: Vec<(String, String)>,
    step: u8,
    error: Option<&'static str>,
    name: String,
    specialties: Vec<(SpecialtyOption, bool)>,
    languages: Vec<Check>,
    bio: String,
    accepts_new_patients: bool,
    sectors: Vec<Choice>,
    /// The first place's access, once there is a place (the profile after onboarding).
    access: Option<PlaceAccess>,
    /// The photo's block: shown once signed in.
    photo: Option<PhotoBlock>,
}

/// The photo part of the profile page: the current photo, the upload and removal forms.
pub struct PhotoBlock {
    /// The current photo (400 px), once the practitioner has an agenda to name it by.
    pub src: Option<String>,
    pub alt: String,
    /// A photo is set (removable) even when it cannot be shown yet.
    pub set: bool,
    pub message: Option<&'static str>,
    pub error: bool,
    pub accept: &'static str,
}

#[derive(Deserialize)]
pub struct ProfileParams {
    /// The outcome of the last photo action (a code of [`photos::OUTCOMES`]).
    photo: Option<String>,
}

async fn render_profile(
    ctx: &Ctx,
    error: Option<&'static str>,
    form: Option<&Form>,
    pending: Option<&PendingCode>,
) -> PageResult {
    render_profile_with(ctx, error, form, pending, None).await
}

async fn render_profile_with(
    ctx: &Ctx,
    error: Option<&'static str>,
    form: Option<&Form>,
    pending: Option<&PendingCode>,
    photo_outcome: Option<&str>,
) -> PageResult {
    // Not signed in yet while the code is pending: only the form's values.
    let existing = match pending {
        Some(_) => None,
        None => {
            let caller = practitioner_only(ctx)?;
            ctx.ok(ctx
                .app
                .store
                .practitioner_by_account(&caller.id)
                .await
                .map_err(Into::into))?
        }
    };
    let name = match (form, &existing) {
        (Some(f), _) => f.text("name").to_owned(),
        (None, Some(p)) => p.name.clone(),
        (None, None) => ctx.ok(ctx.app.me(ctx.caller()?).await)?.name,
    };
    let chosen_specialty = form
        .map(|f| f.text("specialty").to_owned())
        .or_else(|| existing.as_ref().map(|p| p.specialty.code().to_owned()))
        .unwrap_or_default();
    let chosen_langs: Vec<String> = match (form, &existing) {
        (Some(f), _) => f.all("languages").into_iter().map(str::to_owned).collect(),
        (None, Some(p)) => p.languages.clone(),
        (None, None) => vec![ctx.lang.code().to_owned()],
    };
    let specialties = Specialty::ALL
        .iter()
        .map(|s| {
            (
                SpecialtyOption {
                    code: s.code(),
                    label: view::specialty_label(ctx.lang, *s),
                },
                s.code() == chosen_specialty,
            )
        })
        .collect();
    let languages = LANGUAGES
        .iter()
        .map(|c| Check {
            value: c,
            label: ctx.lang.t(&format!("language.{c}")),
            checked: chosen_langs.iter().any(|l| l == c),
        })
        .collect();
    // Facts, access and photo exist once the practitioner does (not while signing up).
    let (facts, first, photo_hash) = match (&existing, pending) {
        (Some(p), None) => {
            let caller = practitioner_only(ctx)?;
            let facts = ctx.ok(ctx.app.my_facts(caller).await)?;
            let first = ctx
                .ok(ctx.app.desk_agendas(caller).await)?
                .into_iter()
                .next();
            let hash = ctx.ok(ctx.app.photo_hash(&p.id).await)?;
            (facts, first, hash)
        }
        _ => (Default::default(), None, None),
    };
    let accepts_new_patients = match form {
        Some(f) => f.checked("accepts_new_patients"),
        None => facts.accepts_new_patients,
    };
    let sector = match form {
        Some(f) => f.text("fee_sector").to_owned(),
        None => facts
            .fee_sector
            .map(|f| f.code().to_owned())
            .unwrap_or_default(),
    };
    let sectors = std::iter::once(Choice {
        value: "",
        label: ctx.t("onboarding.fee_sector_unstated").to_owned(),
        selected: sector.is_empty(),
    })
    .chain(FeeSector::ALL.iter().map(|f| Choice {
        value: f.code(),
        label: ctx.t(&format!("fee_sector.{}", f.code())).to_owned(),
        selected: sector == f.code(),
    }))
    .collect();
    let access = match &first {
        Some(entry) => {
            let stored = ctx.ok(ctx.app.place_access(&entry.place.id).await)?;
            Some(match form {
                Some(f) => PlaceAccess {
                    wheelchair_access: f.checked("wheelchair_access"),
                    details: f.opt("access_details").map(str::to_owned),
                },
                None => stored,
            })
        }
        None => None,
    };
    let found = photo_outcome.and_then(|o| photos::OUTCOMES.iter().find(|(c, _, _)| *c == o));
    let photo = pending.is_none().then(|| PhotoBlock {
        src: match (&photo_hash, &first) {
            (Some(h), Some(entry)) => Some(photos::large_url(entry.agenda_id.as_str(), h)),
            _ => None,
        },
        alt: ctx.tf("practitioner.photo_alt", &[("name", &name)]),
        set: photo_hash.is_some(),
        message: found.map(|(_, key, _)| *key),
        error: found.is_some_and(|(_, _, e)| *e),
        accept: photos::ACCEPT,
    });
    let bio = form
        .map(|f| f.text("bio").to_owned())
        .or_else(|| existing.and_then(|p| p.bio))
        .unwrap_or_default();
    let hidden = vec![("name".to_owned(), name.clone())];
    Ok(ctx.page(&ProfilePage {
        ctx,
        pending,
        action: "/pro/onboarding/profile",
        hidden,
        step: 2,
        error,
        name,
        specialties,
        languages,
        bio,
        accepts_new_patients,
        sectors,
        access,
        photo,
    }))
}

pub async fn profile_page(ctx: Ctx, Query(p): Query<ProfileParams>) -> PageResult {
    render_profile_with(&ctx, None, None, None, p.photo.as_deref()).await
}

/// The facts and the first place's access from the profile form, after the profile itself.
async fn save_facts(
    ctx: &Ctx,
    caller: &crate::services::Caller,
    form: &Form,
) -> Result<(), AppError> {
    ctx.app
        .set_my_facts(
            caller,
            FactsInput {
                accepts_new_patients: Some(form.checked("accepts_new_patients")),
                fee_sector: Some(form.text("fee_sector").to_owned()),
            },
        )
        .await?;
    // The access fields are on the form once there is a place.
    if form.get("access_present").is_some() {
        if let Some(entry) = ctx.app.desk_agendas(caller).await?.into_iter().next() {
            ctx.app
                .set_place_access(
                    caller,
                    &entry.place.id,
                    form.checked("wheelchair_access"),
                    form.opt("access_details"),
                )
                .await?;
        }
    }
    Ok(())
}

pub async fn save_profile(mut ctx: Ctx, form: Form) -> PageResult {
    // Signing up: the code on top of the form opens the session first.
    if ctx.user.is_none() && form.get("ticket").is_some() {
        if let CodeStep::Again { error, resent } = code_step(&mut ctx, &form).await? {
            let mut pending = PendingCode::from_form(&ctx, &form, SIGNIN_HREF.into());
            pending.resent = resent;
            return render_profile(&ctx, error, Some(&form), Some(&pending)).await;
        }
    }
    let caller = practitioner_only(&ctx)?.clone();
    let saved = ctx
        .app
        .set_profile(
            &caller,
            ProfileInput {
                name: form.text("name").to_owned(),
                specialty: form.text("specialty").to_owned(),
                languages: form
                    .all("languages")
                    .into_iter()
                    .map(str::to_owned)
                    .collect(),
                bio: form.opt("bio").map(str::to_owned),
            },
        )
        .await;
    let saved = match saved {
        Ok(_) => save_facts(&ctx, &caller, &form).await,
        Err(e) => Err(e),
    };
    match saved {
        // Onboarding goes on to the place; later, the profile is edited in place.
        Ok(()) => match ctx.app.desk_agendas(&caller).await {
            Ok(a) if !a.is_empty() => {
                Ok(ctx.redirect_with("/pro/onboarding/profile", "flash.saved"))
            }
            Ok(_) => Ok(ctx.redirect("/pro/onboarding/place")),
            Err(e) => Err(ctx.fail(e)),
        },
        Err(AppError::Invalid(d)) => {
            let key = match d.field {
                "specialty" => "onboarding.pick_specialty",
                "name" => "signup.bad_name",
                "fee_sector" => "onboarding.pick_sector",
                "access_details" => "onboarding.access_too_long",
                _ => "error.invalid.detail",
            };
            render_profile(&ctx, Some(key), Some(&form), None).await
        }
        Err(e) => Err(ctx.fail(e)),
    }
}

#[derive(Template)]
#[template(path = "onboarding_place.html")]
struct PlacePage<'a> {
    ctx: &'a Ctx,
    step: u8,
    error: Option<&'static str>,
    f: PlaceFields,
}

#[derive(Default)]
pub struct PlaceFields {
    pub name: String,
    pub address: String,
    pub postcode: String,
    pub city: String,
    pub country: String,
    pub lat: String,
    pub lon: String,
}

impl PlaceFields {
    fn from_form(f: &Form) -> Self {
        Self {
            name: f.text("place_name").into(),
            address: f.text("address").into(),
            postcode: f.text("postcode").into(),
            city: f.text("city").into(),
            country: f.text("country").into(),
            lat: f.text("lat").into(),
            lon: f.text("lon").into(),
        }
    }
}

pub async fn place_page(ctx: Ctx) -> PageResult {
    let caller = practitioner_only(&ctx)?;
    if !ctx.ok(ctx.app.desk_agendas(caller).await)?.is_empty() {
        return Ok(ctx.redirect("/pro/onboarding/motives"));
    }
    let f = PlaceFields {
        country: "FR".into(),
        ..Default::default()
    };
    Ok(ctx.page(&PlacePage {
        ctx: &ctx,
        step: 3,
        error: None,
        f,
    }))
}

fn zone_of(country: &str) -> &'static str {
    match country {
        "DE" => "Europe/Berlin",
        "IT" => "Europe/Rome",
        _ => "Europe/Paris",
    }
}

pub async fn save_place(ctx: Ctx, form: Form) -> PageResult {
    let caller = practitioner_only(&ctx)?.clone();
    if !ctx.ok(ctx.app.desk_agendas(&caller).await)?.is_empty() {
        return Ok(ctx.redirect("/pro/onboarding/motives"));
    }
    let f = PlaceFields::from_form(&form);
    let again = |error: &'static str, f: PlaceFields| {
        Ok(ctx.page(&PlacePage {
            ctx: &ctx,
            step: 3,
            error: Some(error),
            f,
        }))
    };
    if f.name.is_empty() || f.address.is_empty() || f.postcode.is_empty() || f.city.is_empty() {
        return again("onboarding.place_required", f);
    }
    let country = match f.country.as_str() {
        "FR" | "DE" | "IT" => f.country.clone(),
        _ => return again("onboarding.place_required", f),
    };
    let typed = match (
        f.lat.replace(',', ".").parse::<f64>(),
        f.lon.replace(',', ".").parse::<f64>(),
    ) {
        (Ok(lat), Ok(lon)) => careslot_domain::geo::LatLon::parse(lat, lon).ok(),
        _ => None,
    };
    let Some(pos) =
        typed.or_else(|| careslot_core::gazetteer::position_of(&country, &f.postcode, &f.city))
    else {
        return again("onboarding.place_not_found", f);
    };
    let place = ctx.app.create_place(
        &caller,
        NewPlace {
            name: f.name.clone(),
            address: f.address.clone(),
            postcode: f.postcode.clone(),
            city: f.city.clone(),
            country: country.clone(),
            lat: pos.lat,
            lon: pos.lon,
            timezone: zone_of(&country).into(),
        },
    );
    let place = match place.await {
        Ok(p) => p,
        Err(AppError::Invalid(_)) => return again("onboarding.place_required", f),
        Err(e) => return Err(ctx.fail(e)),
    };
    ctx.ok(ctx
        .app
        .create_agenda(&caller, place.id.as_str(), None)
        .await)?;
    Ok(ctx.redirect("/pro/onboarding/motives"))
}

/// The caller's first agenda (onboarding makes exactly one).
async fn first_agenda(ctx: &Ctx) -> Result<Option<careslot_store::DirectoryEntry>, Failure> {
    let caller = ctx.caller()?;
    Ok(ctx
        .ok(ctx.app.desk_agendas(caller).await)?
        .into_iter()
        .next())
}

#[derive(Template)]
#[template(path = "onboarding_motives.html")]
struct MotivesPage<'a> {
    ctx: &'a Ctx,
    step: u8,
    error: Option<&'static str>,
    durations: [u32; 8],
    rows: [usize; 3],
    /// The minimum notice the motives get, and where to change it.
    notice_hint: String,
}

fn onboarding_notice_hint(ctx: &Ctx) -> String {
    ctx.tf(
        "onboarding.notice_hint",
        &[(
            "notice",
            &crate::web::view::notice_label(ctx.lang, super::settings::WEB_DEFAULT_NOTICE_MIN),
        )],
    )
}

pub async fn motives_page(ctx: Ctx) -> PageResult {
    practitioner_only(&ctx)?;
    if first_agenda(&ctx).await?.is_none() {
        return Ok(ctx.redirect("/pro/onboarding/place"));
    }
    Ok(ctx.page(&MotivesPage {
        ctx: &ctx,
        step: 4,
        error: None,
        durations: DURATIONS,
        rows: [0, 1, 2],
        notice_hint: onboarding_notice_hint(&ctx),
    }))
}

pub async fn save_motives(ctx: Ctx, form: Form) -> PageResult {
    let caller = practitioner_only(&ctx)?.clone();
    let Some(agenda) = first_agenda(&ctx).await? else {
        return Ok(ctx.redirect("/pro/onboarding/place"));
    };
    let again = |error| {
        Ok(ctx.page(&MotivesPage {
            ctx: &ctx,
            step: 4,
            error: Some(error),
            durations: DURATIONS,
            rows: [0, 1, 2],
            notice_hint: onboarding_notice_hint(&ctx),
        }))
    };
    let mut wanted = Vec::new();
    for i in 0..3 {
        let name = form.text(&format!("motive_{i}_name"));
        if name.is_empty() {
            continue;
        }
        let Ok(duration) = form.text(&format!("motive_{i}_duration")).parse::<i64>() else {
            return again("onboarding.motive_invalid");
        };
        wanted.push((
            name.to_owned(),
            duration,
            form.checked(&format!("motive_{i}_new")),
        ));
    }
    if wanted.is_empty() {
        return again("onboarding.motive_required");
    }
    if form.checked("teleconsultation") {
        let duration = wanted[0].1;
        wanted.push((
            ctx.t("onboarding.video_motive_name").to_owned(),
            duration,
            false,
        ));
    }
    let video_index = form.checked("teleconsultation").then(|| wanted.len() - 1);
    for (i, (name, duration, new_only)) in wanted.into_iter().enumerate() {
        let created = ctx
            .app
            .create_motive(
                &caller,
                &agenda.agenda_id,
                NewMotive {
                    name,
                    duration_min: duration,
                    capacity: 1,
                    policy: MotivePolicy {
                        teleconsultation: Some(i) == video_index,
                        new_patients_only: new_only,
                        // The pages' default, not the API's (see WEB_DEFAULT_NOTICE_MIN).
                        min_notice_min: super::settings::WEB_DEFAULT_NOTICE_MIN,
                        ..MotivePolicy::default()
                    },
                    vaccine: None,
                },
            )
            .await;
        match created {
            Ok(_) => {}
            Err(AppError::Invalid(_)) => return again("onboarding.motive_invalid"),
            Err(e) => return Err(ctx.fail(e)),
        }
    }
    Ok(ctx.redirect("/pro/onboarding/hours"))
}

#[derive(Template)]
#[template(path = "onboarding_hours.html")]
struct HoursPage<'a> {
    ctx: &'a Ctx,
    step: u8,
    error: Option<&'static str>,
    weekdays: Vec<Check>,
}

pub fn weekday_checks(ctx: &Ctx, checked: &[i64]) -> Vec<Check> {
    const VALUES: [&str; 7] = ["1", "2", "3", "4", "5", "6", "7"];
    (1..=7)
        .map(|n: i64| Check {
            value: VALUES[(n - 1) as usize],
            label: ctx.lang.t(&format!("weekday.{n}")),
            checked: checked.contains(&n),
        })
        .collect()
}

pub async fn hours_page(ctx: Ctx) -> PageResult {
    practitioner_only(&ctx)?;
    if first_agenda(&ctx).await?.is_none() {
        return Ok(ctx.redirect("/pro/onboarding/place"));
    }
    Ok(ctx.page(&HoursPage {
        ctx: &ctx,
        step: 5,
        error: None,
        weekdays: weekday_checks(&ctx, &[1, 2, 3, 4, 5]),
    }))
}

/// Parses the weekday checkboxes of a form.
pub fn form_weekdays(form: &Form) -> Vec<i64> {
    form.all("weekdays")
        .into_iter()
        .filter_map(|w| w.parse().ok())
        .collect()
}

pub async fn save_hours(mut ctx: Ctx, form: Form) -> PageResult {
    let caller = practitioner_only(&ctx)?.clone();
    let Some(agenda) = first_agenda(&ctx).await? else {
        return Ok(ctx.redirect("/pro/onboarding/place"));
    };
    let weekdays = form_weekdays(&form);
    let again = |error| {
        Ok(ctx.page(&HoursPage {
            ctx: &ctx,
            step: 5,
            error: Some(error),
            weekdays: weekday_checks(&ctx, &weekdays),
        }))
    };
    if weekdays.is_empty() {
        return again("onboarding.hours_days");
    }
    let view = ctx.ok(ctx.app.view(&agenda.agenda_id).await)?;
    let motive_ids: Vec<String> = view.motives.iter().map(|m| m.id.to_string()).collect();
    let mut periods = vec![(form.text("morning_start"), form.text("morning_end"))];
    if form.opt("afternoon_start").is_some() || form.opt("afternoon_end").is_some() {
        periods.push((form.text("afternoon_start"), form.text("afternoon_end")));
    }
    for (start, end) in periods {
        let created = ctx
            .app
            .create_rule(
                &caller,
                &agenda.agenda_id,
                NewRule {
                    weekdays: weekdays.clone(),
                    start: start.to_owned(),
                    end: end.to_owned(),
                    motive_ids: motive_ids.clone(),
                    valid_from: None,
                    valid_until: None,
                },
            )
            .await;
        match created {
            Ok(_) => {}
            Err(AppError::Invalid(_)) => return again("onboarding.hours_invalid"),
            Err(e) => return Err(ctx.fail(e)),
        }
    }
    // Screen 6 is the public page itself, live and bookable.
    Ok(ctx.redirect_with(&format!("/p/{}", agenda.agenda_id), "flash.page_live"))
}
