//! Vaccination in the web app: after a first-dose slot, the patient picks the second dose in
//! the protocol's window and both are booked together; the centre's staff set the dose stock
//! per day and see availability follow.

use super::queue::QueuePass;
use crate::services::{AppError, DoseChoice, VaccinationRequest};
use crate::web::context::Query;
use crate::web::context::{Ctx, Form, PageResult};
use crate::web::view::{self, DayColumn};
use askama::Template;
use careslot_domain::{AgendaId, MotiveId};
use careslot_store::ConflictKind;
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
}

fn back(agenda: &str, motive: &str, start: &str) -> String {
    format!(
        "/p/{agenda}?motive={motive}&week={}",
        start.get(..10).unwrap_or("")
    )
}

pub async fn second_dose(mut ctx: Ctx, Query(p): Query<SecondParams>) -> PageResult {
    match &ctx.user {
        Some(u) if u.is_patient() => {}
        Some(_) => return Err(ctx.fail(AppError::Forbidden("patients only"))),
        None => {
            let next: String = form_urlencoded::byte_serialize(ctx.here.as_bytes()).collect();
            return Ok(ctx.redirect(&format!("/signin?next={next}")));
        }
    }
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
        | Err(AppError::Store(careslot_store::StoreError::Conflict(_))) => Ok(ctx.redirect_with(
            &back(&agenda, &dose1_motive, &dose1_start),
            "flash.slot_taken",
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
}

pub struct StockCell {
    pub product: String,
    pub product_name: &'static str,
    pub day: String,
    pub label: String,
    pub doses: u32,
    pub booked: u32,
    pub capacity: u32,
    pub no_shows: u32,
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
    cells: Vec<StockCell>,
    /// Lines per day, for centres with pooled (parallel) motives.
    lines: Vec<LinesRow>,
    error: Option<&'static str>,
}

/// Days shown on the stock page.
const STOCK_DAYS: i64 = 14;

async fn render_stock(ctx: &Ctx, wanted: Option<&str>, error: Option<&'static str>) -> PageResult {
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
    let last = today
        .checked_add(jiff::Span::new().days(STOCK_DAYS - 1))
        .unwrap_or(today);
    let reports = ctx.ok(ctx
        .app
        .vaccination
        .vaccination_days(
            caller,
            &entry.agenda_id,
            &today.to_string(),
            &last.to_string(),
        )
        .await)?;
    let mut cells: Vec<StockCell> = reports
        .iter()
        .map(|r| StockCell {
            product: r.product.code().to_owned(),
            product_name: r.product.name(),
            day: r.day.to_string(),
            label: ctx.lang.short_date(r.day),
            doses: r.doses,
            booked: r.booked,
            capacity: r.capacity,
            no_shows: r.no_shows,
        })
        .collect();
    cells.sort_by(|a, b| (&a.product, &a.day).cmp(&(&b.product, &b.day)));
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
        cells,
        error,
    }))
}

pub async fn stock_page(ctx: Ctx, Query(p): Query<StockParams>) -> PageResult {
    render_stock(&ctx, p.agenda.as_deref(), None).await
}

pub async fn set_stock(mut ctx: Ctx, form: Form) -> PageResult {
    let caller = ctx.caller()?.clone();
    let agenda = form.text("agenda").to_owned();
    let doses: i64 = form.text("doses").parse().unwrap_or(-1);
    match ctx
        .app
        .vaccination
        .set_stock(
            &caller,
            &AgendaId(agenda.clone()),
            form.text("product"),
            form.text("day"),
            doses,
        )
        .await
    {
        Ok(_) => Ok(ctx.redirect_with(&format!("/pro/stock?agenda={agenda}"), "flash.saved")),
        Err(AppError::Store(careslot_store::StoreError::Conflict(
            ConflictKind::StockBelowBooked,
        ))) => render_stock(&ctx, Some(&agenda), Some("stock.below_booked")).await,
        Err(AppError::Invalid(_)) => render_stock(&ctx, Some(&agenda), Some("stock.invalid")).await,
        Err(e) => Err(ctx.fail(e)),
    }
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
            render_stock(&ctx, Some(&agenda), Some("stock.lines_below_booked")).await
        }
        Err(AppError::Invalid(_)) => {
            render_stock(&ctx, Some(&agenda), Some("stock.lines_invalid")).await
        }
        Err(e) => Err(ctx.fail(e)),
    }
}
