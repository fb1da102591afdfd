//! Vaccination in the web app: after a first-dose slot, the patient picks the second dose in
//! the protocol's window and both are booked together; the centre's staff set the dose stock
//! per day and see availability follow.

use super::account::{code_page, code_step, start_instant_signup, CodeStep, PendingCode};
use super::queue::QueuePass;
use crate::services::{AppError, DoseChoice, VaccinationRequest};
use crate::web::context::Query;
use crate::web::context::{Ctx, Form, PageResult};
use crate::web::view::{self, DayColumn};
use askama::Template;
use axum::extract::RawQuery;
use careslot_domain::{AgendaId, MotiveId};
use careslot_store::{ConflictKind, Role};
use careslot_vaccination::SeriesInput;
use jiff::Timestamp;
use serde::Deserialize;

#[derive(Deserialize)]
pub struct SecondParams {
    agenda_id: String,
    motive_id: String,
    start: String,
}

#[derive(Template)]
#[template(path = "vaccination_second.html")]
struct SecondPage<'a> {
    ctx: &'a Ctx,
    agenda_id: String,
    centre: String,
    product: String,
    first_when: String,
    dose1_motive: String,
    dose1_start: String,
    /// `None` for a single-dose vaccine.
    dose2_motive: Option<String>,
    window: String,
    days: Vec<DayColumn>,
    strip_label: String,
    /// Priority groups an open phase admits (asked when not everyone may book).
    groups: Vec<String>,
    restricted: bool,
    /// A fresh key per rendering of the form: a resubmission (reload, double click, retry
    /// after an error) books the same doses once.
    idempotency_key: String,
    /// Not signed in: the choice leads to its review, where the visitor signs in or up.
    guest: bool,
}

fn back(agenda: &str, motive: &str, start: &str) -> String {
    format!(
        "/p/{agenda}?motive={motive}&week={}",
        start.get(..10).unwrap_or("")
    )
}

pub async fn second_dose(mut ctx: Ctx, Query(p): Query<SecondParams>) -> PageResult {
    // A guest chooses both doses first, then signs in or up on the review of that choice
    // (the choice travels in the review's address, so nothing is lost on the way).
    let guest = match &ctx.user {
        Some(u) if u.is_patient() => false,
        Some(_) => return Err(ctx.fail(AppError::Forbidden("patients only"))),
        None => true,
    };
    let lang = ctx.lang;
    let public = ctx.ok(ctx.app.public_agenda(&AgendaId(p.agenda_id.clone())).await)?;
    let v = &public.view;
    let motive = v
        .motive(&MotiveId(p.motive_id.clone()))
        .ok_or_else(|| ctx.fail(AppError::NotFound("motive")))?;
    let vaccine = v
        .vaccine(&motive.id)
        .ok_or_else(|| ctx.fail(AppError::NotFound("motive")))?;
    let start = ctx.ok(careslot_core::time::parse_instant("start", &p.start).map_err(Into::into))?;
    let z = start.to_zoned(v.tz.clone());
    let protocols = ctx.ok(ctx.app.protocols().await)?;
    let today = Timestamp::now().to_zoned(v.tz.clone()).date();
    let window = careslot_domain::vaccine::protocol_on(&protocols, vaccine.product, today)
        .and_then(|p| p.second_dose);
    let (dose2_motive, days, window_text) = match window {
        None => (None, Vec::new(), String::new()),
        Some((min, max)) => {
            let (view2, next, slots) = match ctx
                .app
                .vaccination
                .second_dose_slots(&p.agenda_id, &p.motive_id, &p.start)
                .await
            {
                Ok(x) => x,
                Err(AppError::NotFound(_)) => return Err(ctx.fail(AppError::NotFound("motive"))),
                Err(e) => return Err(ctx.fail(e)),
            };
            let from = z
                .date()
                .checked_add(jiff::Span::new().days(i64::from(min)))
                .unwrap_or(z.date());
            let n = i16::try_from(max - min + 1).unwrap_or(22);
            let mut days = view::day_columns(lang, &slots, &view2.tz, from, n, 0);
            days.retain(|d| !d.slots.is_empty());
            (
                Some(next.id.to_string()),
                days,
                lang.tf(
                    "vaccination.window",
                    &[("min", &min.to_string()), ("max", &max.to_string())],
                ),
            )
        }
    };
    if dose2_motive.is_some() && days.is_empty() {
        return Ok(ctx.redirect_with(
            &back(&p.agenda_id, &p.motive_id, &p.start),
            "flash.no_second_dose",
        ));
    }
    let rules = ctx.ok(ctx.app.vaccination.eligibility().await)?;
    let restricted = !rules.open.iter().any(|p| p.everyone);
    let mut groups: Vec<String> = rules
        .open
        .iter()
        .flat_map(|p| p.priority_groups.iter().cloned())
        .collect();
    groups.sort();
    groups.dedup();
    Ok(ctx.page(&SecondPage {
        guest,
        groups,
        restricted,
        agenda_id: p.agenda_id.clone(),
        centre: public.practitioner.name.clone(),
        product: vaccine.product.name().to_owned(),
        first_when: lang.date_time(&z),
        dose1_motive: p.motive_id.clone(),
        dose1_start: p.start.clone(),
        dose2_motive,
        window: window_text,
        days,
        strip_label: public.practitioner.name.clone(),
        idempotency_key: uuid::Uuid::new_v4().simple().to_string(),
        ctx: &ctx,
    }))
}

pub async fn book(mut ctx: Ctx, _: QueuePass, form: Form) -> PageResult {
    let caller = ctx.caller()?.clone();
    let agenda = form.text("agenda_id").to_owned();
    let dose1_motive = form.text("dose1_motive").to_owned();
    let dose1_start = form.text("dose1_start").to_owned();
    let dose2 = form.opt("dose2_motive").map(|m| DoseChoice {
        agenda_id: agenda.clone(),
        motive_id: m.to_owned(),
        start: form.text("dose2_start").to_owned(),
    });
    let request = VaccinationRequest {
        dose1: Some(DoseChoice {
            agenda_id: agenda.clone(),
            motive_id: dose1_motive.clone(),
            start: dose1_start.clone(),
        }),
        dose2,
        booster: None,
        previous_dose_date: None,
        birth_date: None,
        priority_groups: form
            .all("priority_groups")
            .into_iter()
            .map(str::to_owned)
            .collect(),
    };
    let key = form
        .opt("idempotency_key")
        .filter(|k| k.len() <= 64 && k.bytes().all(|b| b.is_ascii_alphanumeric()));
    let booked = match key {
        Some(key) => {
            // What the form asked for, in a fixed order: the same key with other choices
            // is refused.
            let asked = format!(
                "{agenda}\0{dose1_motive}\0{dose1_start}\0{}\0{}\0{}",
                form.text("dose2_motive"),
                form.text("dose2_start"),
                request.priority_groups.join(",")
            );
            ctx.app
                .vaccination
                .book_vaccination_keyed(
                    &caller,
                    SeriesInput::Doses(Box::new(request)),
                    &format!("web:{key}"),
                    asked.as_bytes(),
                )
                .await
        }
        None => ctx.app.vaccination.book_vaccination(&caller, request).await,
    };
    match booked {
        Ok(doses) => match doses.first() {
            Some(first) => Ok(ctx.redirect(&format!("/appointments/{}?booked=1", first.row.id))),
            None => Ok(ctx.redirect("/appointments")),
        },
        Err(AppError::Conflict(..))
        | Err(AppError::Store(careslot_store::StoreError::Conflict(_))) => Ok(ctx.redirect(
            &super::booking::taken(&back(&agenda, &dose1_motive, &dose1_start)),
        )),
        Err(AppError::Rule(_)) | Err(AppError::Invalid(_)) => Ok(ctx.redirect_with(
            &back(&agenda, &dose1_motive, &dose1_start),
            "flash.vaccination_refused",
        )),
        Err(e) => Err(ctx.fail(e)),
    }
}

#[derive(Deserialize)]
pub struct StockParams {
    agenda: Option<String>,
    /// Any day of the week shown (its Monday is used); today's week when absent.
    week: Option<String>,
}

/// One product on one day of the week editor.
pub struct WeekCell {
    pub product_name: &'static str,
    /// The form field: `d:{product}:{day}`.
    pub field: String,
    /// The day's own stock, overriding the policy ("" when the policy applies).
    pub value: String,
    /// What the day offers without a value of its own: the policy, else 0.
    pub placeholder: String,
    pub booked: u32,
    pub capacity: u32,
    pub no_shows: u32,
    pub past: bool,
}

pub struct WeekRow {
    pub label: String,
    pub cells: Vec<WeekCell>,
}

pub struct PolicyRow {
    pub product: String,
    pub product_name: &'static str,
    pub value: String,
}

pub struct LinesRow {
    pub day: String,
    pub label: String,
    pub lines: u32,
}

#[derive(Template)]
#[template(path = "stock.html")]
struct StockPage<'a> {
    ctx: &'a Ctx,
    agenda_id: String,
    centre: String,
    policies: Vec<PolicyRow>,
    /// Monday of the week shown, and of the weeks before and after.
    week: String,
    week_label: String,
    prev_week: String,
    next_week: String,
    rows: Vec<WeekRow>,
    /// Lines per day, for centres with pooled (parallel) motives.
    lines: Vec<LinesRow>,
    error: Option<&'static str>,
}

/// Days shown in the lines table.
const STOCK_DAYS: i64 = 14;

/// The Monday of `day`'s week.
fn monday_of(day: jiff::civil::Date) -> jiff::civil::Date {
    let back = i64::from(day.weekday().to_monday_zero_offset());
    day.checked_sub(jiff::Span::new().days(back)).unwrap_or(day)
}

fn days_after(day: jiff::civil::Date, n: i64) -> jiff::civil::Date {
    day.checked_add(jiff::Span::new().days(n)).unwrap_or(day)
}

async fn render_stock(
    ctx: &Ctx,
    wanted: Option<&str>,
    week: Option<&str>,
    error: Option<&'static str>,
) -> PageResult {
    let caller = ctx.caller()?;
    let agendas = ctx.ok(ctx.app.desk_agendas(caller).await)?;
    let Some(entry) = wanted
        .and_then(|w| agendas.iter().find(|a| a.agenda_id.as_str() == w))
        .or(agendas.first())
    else {
        return Ok(ctx.redirect("/pro/agenda"));
    };
    let v = ctx.ok(ctx.app.desk_view(caller, &entry.agenda_id).await)?;
    let today = Timestamp::now().to_zoned(v.tz.clone()).date();
    let monday = monday_of(
        week.and_then(|w| w.parse::<jiff::civil::Date>().ok())
            .unwrap_or(today),
    );
    let sunday = days_after(monday, 6);
    let reports = ctx.ok(ctx
        .app
        .vaccination
        .vaccination_days(
            caller,
            &entry.agenda_id,
            &monday.to_string(),
            &sunday.to_string(),
        )
        .await)?;
    let mut products: Vec<careslot_domain::VaccineProduct> =
        v.vaccines.iter().map(|x| x.product).collect();
    products.sort();
    products.dedup();
    let policies = products
        .iter()
        .map(|p| PolicyRow {
            product: p.code().to_owned(),
            product_name: p.name(),
            value: v.policy(*p).map(|d| d.to_string()).unwrap_or_default(),
        })
        .collect();
    let mut rows = Vec::new();
    if !products.is_empty() {
        for i in 0..7 {
            let day = days_after(monday, i);
            let cells = products
                .iter()
                .filter_map(|p| {
                    let r = reports.iter().find(|r| r.day == day && r.product == *p)?;
                    Some(WeekCell {
                        product_name: p.name(),
                        field: format!("d:{}:{day}", p.code()),
                        value: r.explicit.map(|d| d.to_string()).unwrap_or_default(),
                        placeholder: r.policy.unwrap_or(0).to_string(),
                        booked: r.booked,
                        capacity: r.capacity,
                        no_shows: r.no_shows,
                        past: day < today,
                    })
                })
                .collect();
            rows.push(WeekRow {
                label: ctx.lang.short_date(day),
                cells,
            });
        }
    }
    let base_lines = v.motives.iter().map(|m| m.capacity).max().unwrap_or(1);
    let mut lines = Vec::new();
    if base_lines > 1 {
        for i in 0..STOCK_DAYS {
            let Ok(day) = today.checked_add(jiff::Span::new().days(i)) else {
                break;
            };
            lines.push(LinesRow {
                day: day.to_string(),
                label: ctx.lang.short_date(day),
                lines: v.lines_on(day).unwrap_or(base_lines),
            });
        }
    }
    Ok(ctx.page(&StockPage {
        ctx,
        lines,
        agenda_id: entry.agenda_id.to_string(),
        centre: format!("{} — {}", entry.place.name, entry.place.city),
        policies,
        week: monday.to_string(),
        week_label: format!(
            "{} – {}",
            ctx.lang.short_date(monday),
            ctx.lang.short_date(sunday)
        ),
        prev_week: days_after(monday, -7).to_string(),
        next_week: days_after(monday, 7).to_string(),
        rows,
        error,
    }))
}

pub async fn stock_page(ctx: Ctx, Query(p): Query<StockParams>) -> PageResult {
    render_stock(&ctx, p.agenda.as_deref(), p.week.as_deref(), None).await
}

/// Where a stock form goes back to: the same centre and week.
fn stock_url(agenda: &str, week: &str) -> String {
    let q: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("agenda", agenda)
        .append_pair("week", week)
        .finish();
    format!("/pro/stock?{q}")
}

/// What a refused stock change shows.
fn stock_refusal(e: &AppError) -> Option<&'static str> {
    match e {
        AppError::Store(careslot_store::StoreError::Conflict(ConflictKind::StockBelowBooked)) => {
            Some("stock.below_booked")
        }
        AppError::Invalid(_) => Some("stock.invalid"),
        _ => None,
    }
}

/// A number field of the stock forms: `Ok(None)` when left empty, `Err` when not a number.
fn doses_field(v: &str) -> Result<Option<i64>, ()> {
    let v = v.trim();
    if v.is_empty() {
        return Ok(None);
    }
    v.parse().map(Some).map_err(|_| ())
}

/// One day's stock (kept for clients of the earlier per-day form).
pub async fn set_stock(mut ctx: Ctx, form: Form) -> PageResult {
    let caller = ctx.caller()?.clone();
    let agenda = form.text("agenda").to_owned();
    let doses: i64 = form.text("doses").parse().unwrap_or(-1);
    let out = ctx
        .app
        .vaccination
        .set_stock(
            &caller,
            &AgendaId(agenda.clone()),
            form.text("product"),
            form.text("day"),
            doses,
        )
        .await;
    let week = form.text("day").to_owned();
    match out {
        Ok(_) => Ok(ctx.redirect_with(&stock_url(&agenda, &week), "flash.saved")),
        Err(e) => match stock_refusal(&e) {
            Some(msg) => render_stock(&ctx, Some(&agenda), Some(&week), Some(msg)).await,
            None => Err(ctx.fail(e)),
        },
    }
}

/// The week editor's save: every day of the week at once, or none.
pub async fn set_stock_week(mut ctx: Ctx, form: Form) -> PageResult {
    let caller = ctx.caller()?.clone();
    let agenda = form.text("agenda").to_owned();
    let week = form.text("week").to_owned();
    let Ok(monday) = week.parse::<jiff::civil::Date>() else {
        return render_stock(&ctx, Some(&agenda), None, Some("stock.invalid")).await;
    };
    let v = ctx.ok(ctx.app.desk_view(&caller, &AgendaId(agenda.clone())).await)?;
    let mut products: Vec<careslot_domain::VaccineProduct> =
        v.vaccines.iter().map(|x| x.product).collect();
    products.sort();
    products.dedup();
    let mut days = Vec::new();
    for i in 0..7 {
        let day = days_after(monday, i);
        for p in &products {
            // A field the page did not send (a past day) stays as it is.
            let Some(value) = form.get(&format!("d:{}:{day}", p.code())) else {
                continue;
            };
            match doses_field(value) {
                Ok(doses) => days.push((p.code().to_owned(), day.to_string(), doses)),
                Err(()) => {
                    return render_stock(&ctx, Some(&agenda), Some(&week), Some("stock.invalid"))
                        .await
                }
            }
        }
    }
    match ctx
        .app
        .vaccination
        .set_stock_days(&caller, &AgendaId(agenda.clone()), &days)
        .await
    {
        Ok(()) => Ok(ctx.redirect_with(&stock_url(&agenda, &week), "flash.saved")),
        Err(e) => match stock_refusal(&e) {
            Some(msg) => render_stock(&ctx, Some(&agenda), Some(&week), Some(msg)).await,
            None => Err(ctx.fail(e)),
        },
    }
}

/// The default stock policy of each product (an empty field removes it).
pub async fn set_stock_policy(mut ctx: Ctx, form: Form) -> PageResult {
    let caller = ctx.caller()?.clone();
    let agenda = form.text("agenda").to_owned();
    let week = form.text("week").to_owned();
    let v = ctx.ok(ctx.app.desk_view(&caller, &AgendaId(agenda.clone())).await)?;
    let mut products: Vec<careslot_domain::VaccineProduct> =
        v.vaccines.iter().map(|x| x.product).collect();
    products.sort();
    products.dedup();
    for p in &products {
        let Some(value) = form.get(&format!("p:{}", p.code())) else {
            continue;
        };
        let Ok(doses) = doses_field(value) else {
            return render_stock(&ctx, Some(&agenda), Some(&week), Some("stock.invalid")).await;
        };
        if let Err(e) = ctx
            .app
            .vaccination
            .set_stock_policy(&caller, &AgendaId(agenda.clone()), p.code(), doses)
            .await
        {
            return match stock_refusal(&e) {
                Some(msg) => render_stock(&ctx, Some(&agenda), Some(&week), Some(msg)).await,
                None => Err(ctx.fail(e)),
            };
        }
    }
    Ok(ctx.redirect_with(&stock_url(&agenda, &week), "flash.saved"))
}

pub async fn set_lines(mut ctx: Ctx, form: Form) -> PageResult {
    let caller = ctx.caller()?.clone();
    let agenda = form.text("agenda").to_owned();
    let lines: i64 = form.text("lines").parse().unwrap_or(0);
    match ctx
        .app
        .vaccination
        .set_lines(&caller, &AgendaId(agenda.clone()), form.text("day"), lines)
        .await
    {
        Ok(_) => Ok(ctx.redirect_with(&format!("/pro/stock?agenda={agenda}"), "flash.saved")),
        Err(AppError::Conflict(..)) => {
            render_stock(&ctx, Some(&agenda), None, Some("stock.lines_below_booked")).await
        }
        Err(AppError::Invalid(_)) => {
            render_stock(&ctx, Some(&agenda), None, Some("stock.lines_invalid")).await
        }
        Err(e) => Err(ctx.fail(e)),
    }
}

/// The doses a visitor chose, carried by the review's address and its forms.
struct Choice {
    agenda_id: String,
    dose1_motive: String,
    dose1_start: String,
    dose2_motive: String,
    dose2_start: String,
    priority_groups: Vec<String>,
}

impl Choice {
    fn from_query(query: &str) -> Choice {
        let pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.trim().to_owned()))
            .collect();
        let one = |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        Choice {
            agenda_id: one("agenda_id"),
            dose1_motive: one("dose1_motive"),
            dose1_start: one("dose1_start"),
            dose2_motive: one("dose2_motive"),
            dose2_start: one("dose2_start"),
            priority_groups: pairs
                .iter()
                .filter(|(k, v)| k == "priority_groups" && !v.is_empty())
                .map(|(_, v)| v.clone())
                .collect(),
        }
    }

    fn from_form(form: &Form) -> Choice {
        Choice {
            agenda_id: form.text("agenda_id").to_owned(),
            dose1_motive: form.text("dose1_motive").to_owned(),
            dose1_start: form.text("dose1_start").to_owned(),
            dose2_motive: form.text("dose2_motive").to_owned(),
            dose2_start: form.text("dose2_start").to_owned(),
            priority_groups: form
                .all("priority_groups")
                .into_iter()
                .map(|g| g.trim().to_owned())
                .filter(|g| !g.is_empty())
                .collect(),
        }
    }

    /// The choice as hidden form fields (carried through the sign-up's code page).
    fn fields(&self) -> Vec<(String, String)> {
        let href = self.href();
        let query = href.split_once('?').map(|(_, q)| q).unwrap_or("");
        form_urlencoded::parse(query.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    }

    /// The review of this choice.
    fn href(&self) -> String {
        let mut q = form_urlencoded::Serializer::new(String::new());
        q.append_pair("agenda_id", &self.agenda_id)
            .append_pair("dose1_motive", &self.dose1_motive)
            .append_pair("dose1_start", &self.dose1_start);
        if !self.dose2_motive.is_empty() {
            q.append_pair("dose2_motive", &self.dose2_motive)
                .append_pair("dose2_start", &self.dose2_start);
        }
        for g in &self.priority_groups {
            q.append_pair("priority_groups", g);
        }
        format!("/vaccination/review?{}", q.finish())
    }
}

#[derive(Template)]
#[template(path = "vaccination_review.html")]
struct ReviewPage<'a> {
    ctx: &'a Ctx,
    guest: bool,
    centre: String,
    product: String,
    place: String,
    address: String,
    first_when: String,
    /// `None` for a single-dose vaccine.
    second_when: Option<String>,
    agenda_id: String,
    dose1_motive: String,
    dose1_start: String,
    dose2_motive: String,
    dose2_start: String,
    groups: Vec<String>,
    idempotency_key: String,
    error: Option<&'static str>,
    /// Sign-up values sent back after an error (never the password).
    email: String,
    name: String,
}

/// The review of both doses: a guest signs in or up here and comes back to it; a patient
/// confirms both at once.
async fn render_review(
    ctx: &Ctx,
    c: &Choice,
    error: Option<&'static str>,
    email: String,
    name: String,
) -> PageResult {
    let lang = ctx.lang;
    let public = ctx.ok(ctx.app.public_agenda(&AgendaId(c.agenda_id.clone())).await)?;
    let v = &public.view;
    let vaccine = v
        .motive(&MotiveId(c.dose1_motive.clone()))
        .and_then(|m| v.vaccine(&m.id))
        .filter(|x| x.dose == careslot_domain::Dose::First)
        .ok_or_else(|| ctx.fail(AppError::NotFound("motive")))?;
    let first = ctx.ok(
        careslot_core::time::parse_instant("dose1_start", &c.dose1_start).map_err(Into::into),
    )?;
    let second_when = match &vaccine.next {
        Some(next) => {
            if next.as_str() != c.dose2_motive {
                return Err(ctx.fail(AppError::NotFound("motive")));
            }
            let second = ctx.ok(careslot_core::time::parse_instant(
                "dose2_start",
                &c.dose2_start,
            )
            .map_err(Into::into))?;
            Some(lang.date_time(&second.to_zoned(v.tz.clone())))
        }
        None => None,
    };
    let guest = match &ctx.user {
        Some(u) if u.is_patient() => false,
        Some(_) => return Err(ctx.fail(AppError::Forbidden("patients only"))),
        None => true,
    };
    Ok(ctx.page(&ReviewPage {
        ctx,
        guest,
        centre: public.practitioner.name.clone(),
        product: vaccine.product.name().to_owned(),
        place: public.place.name.clone(),
        address: format!(
            "{}, {} {}",
            public.place.address, public.place.postcode, public.place.city
        ),
        first_when: lang.date_time(&first.to_zoned(v.tz.clone())),
        second_when,
        agenda_id: c.agenda_id.clone(),
        dose1_motive: c.dose1_motive.clone(),
        dose1_start: c.dose1_start.clone(),
        dose2_motive: c.dose2_motive.clone(),
        dose2_start: c.dose2_start.clone(),
        groups: c.priority_groups.clone(),
        idempotency_key: uuid::Uuid::new_v4().simple().to_string(),
        error,
        email,
        name,
    }))
}

pub async fn review(ctx: Ctx, RawQuery(query): RawQuery) -> PageResult {
    let choice = Choice::from_query(query.as_deref().unwrap_or(""));
    render_review(&ctx, &choice, None, String::new(), String::new()).await
}

/// Signing in on the review: back to the same review, now with the Confirm button.
pub async fn review_sign_in(mut ctx: Ctx, form: Form) -> PageResult {
    let choice = Choice::from_form(&form);
    let device = ctx.device.clone();
    match ctx
        .app
        .sign_in(
            form.text("email"),
            form.get("password").unwrap_or(""),
            ctx.client,
            device.as_deref(),
        )
        .await
    {
        Ok(s) if s.identity.role == Role::Patient && s.mfa_pending => {
            ctx.start_pending(&s.token);
            let next: String = form_urlencoded::byte_serialize(choice.href().as_bytes()).collect();
            Ok(ctx.redirect(&format!("/signin/code?next={next}")))
        }
        Ok(s) if s.identity.role == Role::Patient => {
            ctx.start_session(&s.token, ctx.app.config.session_ttl.as_secs());
            Ok(ctx.redirect(&choice.href()))
        }
        Ok(_) => {
            let email = form.text("email").to_owned();
            render_review(
                &ctx,
                &choice,
                Some("booking.patients_only"),
                email,
                String::new(),
            )
            .await
        }
        Err(AppError::BadCredentials) => {
            let email = form.text("email").to_owned();
            render_review(&ctx, &choice, Some("signin.failed"), email, String::new()).await
        }
        Err(e) => Err(ctx.fail(e)),
    }
}

/// Creating an account on the review: the code page whatever the address, the series
/// chosen carried along.
pub async fn review_sign_up(mut ctx: Ctx, form: Form) -> PageResult {
    let choice = Choice::from_form(&form);
    match start_instant_signup(&mut ctx, &form, Role::Patient).await? {
        Ok(ticket) => {
            let pending = PendingCode::new(&ctx, ticket, form.text("email"), choice.href());
            code_page(&ctx, &pending, CODE_ACTION, &choice.fields(), None)
        }
        Err(key) => {
            let (email, name) = (form.text("email").to_owned(), form.text("name").to_owned());
            render_review(&ctx, &choice, Some(key), email, name).await
        }
    }
}

const CODE_ACTION: &str = "/vaccination/review/signup/code";

/// The code of the review's sign-up: signed in, back to the same review.
pub async fn review_sign_up_code(mut ctx: Ctx, form: Form) -> PageResult {
    let choice = Choice::from_form(&form);
    match code_step(&mut ctx, &form).await? {
        CodeStep::SignedIn(_) => Ok(ctx.redirect(&choice.href())),
        CodeStep::Again { error, resent } => {
            let mut pending = PendingCode::from_form(&ctx, &form, choice.href());
            pending.resent = resent;
            code_page(&ctx, &pending, CODE_ACTION, &choice.fields(), error)
        }
    }
}
