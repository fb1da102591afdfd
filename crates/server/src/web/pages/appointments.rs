//! "My appointments": upcoming and past, the confirmation page, an `.ics` file, cancel and
//! move (within the practitioner's opening hours, notice and horizon).

use crate::services::{AppError, Relative};
use crate::web::context::Query;
use crate::web::context::{Ctx, Form, PageResult};
use crate::web::view::{self, DayColumn, Summary};
use askama::Template;
use axum::extract::Path;
use axum::http::header;
use axum::response::IntoResponse;
use careslot_domain::AgendaId;
use careslot_store::ReservationStatus;
use jiff::civil::Date;
use jiff::Timestamp;
use serde::Deserialize;

#[derive(Template)]
#[template(path = "appointments.html")]
struct ListPage<'a> {
    ctx: &'a Ctx,
    upcoming: Vec<Summary>,
    past: Vec<Summary>,
}

pub async fn list(ctx: Ctx) -> PageResult {
    let caller = ctx.caller()?;
    if !ctx.user.as_ref().is_some_and(|u| u.is_patient()) {
        return Ok(ctx.redirect("/pro/agenda"));
    }
    let mine = ctx.ok(ctx.app.my_appointments(caller).await)?;
    let relatives = ctx.ok(ctx.app.relatives(caller).await)?;
    let now = Timestamp::now();
    let (mut upcoming, mut past) = (Vec::new(), Vec::new());
    for a in &mine {
        let s = ctx.ok(ctx.summary(a, &relatives).await)?;
        if a.row.start > now && a.row.status == ReservationStatus::Booked {
            upcoming.push(s);
        } else {
            past.push(s);
        }
    }
    past.reverse();
    Ok(ctx.page(&ListPage {
        ctx: &ctx,
        upcoming,
        past,
    }))
}

#[derive(Deserialize)]
pub struct DetailParams {
    booked: Option<String>,
    /// Outcome of the last action on the documents section.
    documents: Option<String>,
}

#[derive(Template)]
#[template(path = "appointment.html")]
struct DetailPage<'a> {
    ctx: &'a Ctx,
    s: Summary,
    just_booked: bool,
    can_change: bool,
    /// The other doses of a vaccination series.
    series: Vec<Summary>,
    /// Vaccination doses are changed together: cancel (which cancels the later dose), rebook.
    movable: bool,
    /// A booked teleconsultation whose room has not closed: the way to its video room.
    video_join: Option<super::video::JoinVideo>,
    /// The payment of a teleconsultation with a fee.
    payment: Option<String>,
    docs: super::documents::DocumentsSection,
    rx_list: Vec<super::prescriptions::RxRow>,
}

async fn mine(
    ctx: &Ctx,
    id: &str,
) -> Result<(crate::services::Appointment, Vec<Relative>), crate::web::context::Failure> {
    let caller = ctx.caller()?;
    let a = ctx.ok(ctx.app.own_reservation(caller, id).await)?;
    if a.row.status == ReservationStatus::Held || a.row.status == ReservationStatus::Expired {
        return Err(ctx.fail(AppError::NotFound("appointment")));
    }
    let relatives = ctx.ok(ctx.app.relatives(caller).await)?;
    Ok((a, relatives))
}

pub async fn detail(ctx: Ctx, Path(id): Path<String>, Query(p): Query<DetailParams>) -> PageResult {
    let (a, relatives) = mine(&ctx, &id).await?;
    let s = ctx.ok(ctx.summary(&a, &relatives).await)?;
    let mut series = Vec::new();
    for row in ctx.ok(ctx.app.store.series_of(&a.row.id).await.map_err(Into::into))? {
        let other = ctx.ok(ctx.app.open_reservation(row).await)?;
        series.push(ctx.ok(ctx.summary(&other, &relatives).await)?);
    }
    let movable = series.is_empty();
    let can_change = a.row.status == ReservationStatus::Booked && a.row.start > Timestamp::now();
    let view = ctx.ok(ctx.app.view(&a.row.agenda_id).await)?;
    let video_join = super::video::join_video(
        &ctx,
        &a.row,
        &view.tz,
        s.video,
        format!("/appointments/{id}/video"),
    );
    let payment = super::payments::payment_line(&ctx, &a).await?;
    let docs = super::documents::section(&ctx, &id, p.documents.as_deref()).await?;
    let caller = ctx.caller()?;
    let rx_list =
        super::prescriptions::rows(&ctx, caller, &id, &format!("/appointments/{id}")).await?;
    Ok(ctx.page(&DetailPage {
        ctx: &ctx,
        s,
        just_booked: p.booked.is_some(),
        can_change,
        series,
        movable,
        video_join,
        payment,
        docs,
        rx_list,
    }))
}

/// The appointment as an `.ics` (the API's writer: `GET /api/v1/appointments/{id}/ics`).
pub async fn ics(ctx: Ctx, Path(id): Path<String>) -> PageResult {
    let caller = ctx.caller()?;
    // In the language of the page it is downloaded from.
    let lang = careslot_messages::Lang::parse(ctx.lang.code());
    let body = ctx.ok(ctx.app.appointment_ics_in(caller, &id, lang).await)?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/calendar; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"appointment.ics\"",
            ),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response())
}

/// The rules that apply to a change, in the visitor's language: what the practice's
/// motive and the platform enforce (a vaccination series goes together, a paid
/// teleconsultation is not charged, a new time respects the motive's minimum notice).
async fn change_rules(
    ctx: &Ctx,
    a: &crate::services::Appointment,
    moving: bool,
) -> Result<Vec<String>, crate::web::context::Failure> {
    let v = ctx.ok(ctx.app.view(&a.row.agenda_id).await)?;
    let motive = v.motive(&a.motive_id);
    let mut rules = Vec::new();
    if !moving {
        let later = ctx.ok(ctx.app.store.series_of(&a.row.id).await.map_err(Into::into))?;
        if later
            .iter()
            .any(|r| r.start > a.row.start && r.status == ReservationStatus::Booked)
        {
            rules.push(ctx.t("change.rule_series").to_owned());
        }
        if motive.is_some_and(|m| m.policy.teleconsultation)
            && ctx.ok(ctx.app.payment_of(&a.row.id).await)?.is_some()
        {
            rules.push(ctx.t("change.rule_payment").to_owned());
        }
    }
    if let Some(m) = motive.filter(|m| m.policy.min_notice_min > 0) {
        let notice = view::notice_label(ctx.lang, m.policy.min_notice_min);
        let key = if moving {
            "change.rule_notice_move"
        } else {
            "change.rule_notice_cancel"
        };
        rules.push(ctx.tf(key, &[("notice", &notice)]));
    }
    Ok(rules)
}

#[derive(Template)]
#[template(path = "change_confirm.html")]
struct ConfirmPage<'a> {
    ctx: &'a Ctx,
    s: Summary,
    /// The new time when moving (RFC 3339 for the form, and as shown); `None` to cancel.
    to: Option<(String, String)>,
    rules: Vec<String>,
}

/// "Cancel this appointment?": a page (no script needed) with the rules that apply.
pub async fn cancel_page(ctx: Ctx, Path(id): Path<String>) -> PageResult {
    let (a, relatives) = mine(&ctx, &id).await?;
    if a.row.status != ReservationStatus::Booked || a.row.start <= Timestamp::now() {
        return Ok(ctx.redirect(&format!("/appointments/{id}")));
    }
    let s = ctx.ok(ctx.summary(&a, &relatives).await)?;
    let rules = change_rules(&ctx, &a, false).await?;
    Ok(ctx.page(&ConfirmPage {
        ctx: &ctx,
        s,
        to: None,
        rules,
    }))
}

/// Cancels only once confirmed on the page above: a form without `confirm=yes` (an old page,
/// a stray click) is led to the question first.
pub async fn cancel(mut ctx: Ctx, Path(id): Path<String>, form: Form) -> PageResult {
    if form.text("confirm") != "yes" {
        return Ok(ctx.redirect(&format!("/appointments/{id}/cancel")));
    }
    let caller = ctx.caller()?.clone();
    match ctx.app.cancel(&caller, &id).await {
        Ok(_) => Ok(ctx.redirect_with("/appointments", "flash.cancelled")),
        Err(AppError::Conflict(..)) => Ok(ctx.redirect(&format!("/appointments/{id}"))),
        Err(e) => Err(ctx.fail(e)),
    }
}

#[derive(Deserialize)]
pub struct WeekParam {
    week: Option<String>,
}

#[derive(Template)]
#[template(path = "move.html")]
struct MovePage<'a> {
    ctx: &'a Ctx,
    s: Summary,
    week_label: String,
    prev_week: Option<String>,
    next_week: String,
    days: Vec<DayColumn>,
    strip_label: String,
}

pub async fn move_page(ctx: Ctx, Path(id): Path<String>, Query(w): Query<WeekParam>) -> PageResult {
    let (a, relatives) = mine(&ctx, &id).await?;
    if a.row.status != ReservationStatus::Booked || a.row.start <= Timestamp::now() {
        return Ok(ctx.redirect(&format!("/appointments/{id}")));
    }
    let s = ctx.ok(ctx.summary(&a, &relatives).await)?;
    let v = ctx.ok(ctx.app.view(&AgendaId(s.agenda_id.clone())).await)?;
    let now = Timestamp::now();
    let today = now.to_zoned(v.tz.clone()).date();
    let week = w
        .week
        .as_deref()
        .and_then(|d| d.parse::<Date>().ok())
        .filter(|d| *d >= today)
        .unwrap_or(today);
    let end = week.checked_add(jiff::Span::new().days(6)).unwrap_or(week);
    let days = match v.motive(&a.motive_id) {
        Some(m) => {
            let slots = v.slots(m, week, end, now);
            view::day_columns(ctx.lang, &slots, &v.tz, week, 7, 0)
        }
        None => Vec::new(),
    };
    let prev = week
        .checked_sub(jiff::Span::new().days(7))
        .ok()
        .map(|d| d.max(today))
        .filter(|_| week > today);
    Ok(ctx.page(&MovePage {
        week_label: ctx.lang.tf(
            "practitioner.week_of",
            &[("date", &ctx.lang.long_date(week))],
        ),
        prev_week: prev.map(|d| d.to_string()),
        next_week: week
            .checked_add(jiff::Span::new().days(7))
            .unwrap_or(week)
            .to_string(),
        strip_label: s.practitioner.clone(),
        ctx: &ctx,
        s,
        days,
    }))
}

pub async fn move_to(mut ctx: Ctx, Path(id): Path<String>, form: Form) -> PageResult {
    if form.text("confirm") != "yes" {
        return move_confirm(ctx, &id, form.text("start")).await;
    }
    let caller = ctx.caller()?.clone();
    match ctx
        .app
        .move_appointment(&caller, &id, form.text("start"))
        .await
    {
        Ok(_) => Ok(ctx.redirect_with(&format!("/appointments/{id}"), "flash.moved")),
        Err(AppError::Conflict(..))
        | Err(AppError::Store(careslot_store::StoreError::Conflict(_))) => {
            Ok(ctx.redirect_with(&format!("/appointments/{id}/move"), "flash.slot_taken"))
        }
        Err(e) => Err(ctx.fail(e)),
    }
}

/// "Move to this time?": the chosen slot is asked about before the appointment changes.
async fn move_confirm(ctx: Ctx, id: &str, start: &str) -> PageResult {
    let (a, relatives) = mine(&ctx, id).await?;
    if a.row.status != ReservationStatus::Booked || a.row.start <= Timestamp::now() {
        return Ok(ctx.redirect(&format!("/appointments/{id}")));
    }
    let Ok(when) = start.parse::<Timestamp>() else {
        return Ok(ctx.redirect(&format!("/appointments/{id}/move")));
    };
    let v = ctx.ok(ctx.app.view(&a.row.agenda_id).await)?;
    let shown = ctx.lang.date_time(&when.to_zoned(v.tz.clone()));
    let s = ctx.ok(ctx.summary(&a, &relatives).await)?;
    let rules = change_rules(&ctx, &a, true).await?;
    Ok(ctx.page(&ConfirmPage {
        ctx: &ctx,
        s,
        to: Some((start.to_owned(), shown)),
        rules,
    }))
}
