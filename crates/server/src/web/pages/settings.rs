//! Agenda settings for the practice (practitioner or assistant): visit motives, weekly
//! hours, absences, and how long before an appointment patients are reminded.

use super::onboarding::{form_weekdays, weekday_checks, Check};
use crate::services::{AppError, MotiveChanges, NewMotive, NewRule};
use crate::web::context::Query;
use crate::web::context::{Ctx, Form, PageResult};
use crate::web::view;
use askama::Template;
use axum::extract::Path;
use careslot_domain::{AgendaId, MotivePolicy};
use jiff::civil::DateTime;
use serde::Deserialize;

#[derive(Deserialize)]
pub struct SettingsParams {
    agenda: Option<String>,
}

pub struct MotiveRow {
    pub id: String,
    pub name: String,
    pub duration: u32,
    pub capacity: u32,
    pub online: bool,
    pub new_only: bool,
    pub video: bool,
    pub notice: u32,
    /// The notice as people say it ("2 h"; "none" at 0).
    pub notice_label: String,
    pub horizon: u32,
    /// The online fee in the currency's units ("25.00"), empty when none.
    pub fee: String,
    /// The label in each of the pages' languages (optional; the name is the fallback).
    pub labels: Vec<LabelField>,
}

pub struct LabelField {
    pub code: &'static str,
    pub language: &'static str,
    pub value: String,
}

pub struct RuleRow {
    pub id: String,
    pub label: String,
}

/// The agenda's calendar subscription, as the page shows it.
pub struct FeedView {
    pub url: String,
    pub webcal_url: String,
    pub show_names: bool,
}

pub struct AbsenceRow {
    pub id: String,
    pub label: String,
}

#[derive(Template)]
#[template(path = "settings.html")]
struct SettingsPage<'a> {
    ctx: &'a Ctx,
    agenda_id: String,
    error: Option<&'static str>,
    motives: Vec<MotiveRow>,
    rules: Vec<RuleRow>,
    absences: Vec<AbsenceRow>,
    weekdays: Vec<Check>,
    /// The practice's reminder delays in hours (0 = none).
    reminder_email: u16,
    reminder_sms: u16,
    /// What a new motive's notice field starts at, and what that means.
    default_notice: u32,
    default_notice_hint: String,
    /// The agenda's calendar subscription, if it has one.
    feed: Option<FeedView>,
    feed_hint: String,
}

/// "Patients can book up to 2 h before" (or "right up to the start" at 0).
fn notice_label(lang: crate::web::i18n::Lang, minutes: u32) -> String {
    if minutes == 0 {
        return lang.t("settings.notice_none").to_owned();
    }
    lang.tf(
        "settings.notice_is",
        &[("notice", &crate::web::view::notice_label(lang, minutes))],
    )
}

async fn agenda_of(
    ctx: &Ctx,
    wanted: Option<&str>,
) -> Result<Option<AgendaId>, crate::web::context::Failure> {
    let caller = ctx.caller()?;
    let all = ctx.ok(ctx.app.desk_agendas(caller).await)?;
    Ok(wanted
        .and_then(|w| all.iter().find(|a| a.agenda_id.as_str() == w))
        .or(all.first())
        .map(|a| a.agenda_id.clone()))
}

async fn render(ctx: &Ctx, agenda: &AgendaId, error: Option<&'static str>) -> PageResult {
    let caller = ctx.caller()?;
    let lang = ctx.lang;
    let v = ctx.ok(ctx.app.desk_view(caller, agenda).await)?;
    let labels = ctx.ok(ctx.app.motive_labels(&v).await)?;
    let translations = ctx.ok(ctx.app.motive_translations(&v).await)?;
    let fees = ctx.ok(ctx.app.motive_fees(&v.agenda.id).await)?;
    let delays = ctx.ok(ctx.app.agenda_reminder_delays(caller, agenda).await)?;
    let motives = v
        .motives
        .iter()
        .map(|m| MotiveRow {
            id: m.id.to_string(),
            name: labels.get(&m.id).cloned().unwrap_or_default(),
            duration: m.duration.get(),
            capacity: m.capacity,
            online: m.policy.bookable_online,
            new_only: m.policy.new_patients_only,
            video: m.policy.teleconsultation,
            notice: m.policy.min_notice_min,
            notice_label: notice_label(ctx.lang, m.policy.min_notice_min),
            horizon: m.policy.max_horizon_days,
            fee: fees
                .get(&m.id)
                .map(|f| format!("{}.{:02}", f.amount_cents / 100, f.amount_cents % 100))
                .unwrap_or_default(),
            labels: crate::services::LABEL_LANGS
                .iter()
                .map(|code| LabelField {
                    code,
                    language: crate::web::i18n::Lang::parse(code)
                        .map(|l| l.native_name())
                        .unwrap_or(code),
                    value: translations
                        .get(&m.id)
                        .and_then(|t| t.get(*code))
                        .cloned()
                        .unwrap_or_default(),
                })
                .collect(),
        })
        .collect();
    let rules = v
        .calendar
        .rules
        .iter()
        .map(|r| {
            let days: Vec<&str> = r
                .weekdays
                .iter()
                .map(|n| lang.t(&format!("weekday.{n}")))
                .collect();
            RuleRow {
                id: r.id.to_string(),
                label: format!(
                    "{} · {:02}:{:02}–{:02}:{:02}",
                    days.join(", "),
                    r.start.hour(),
                    r.start.minute(),
                    r.end.hour(),
                    r.end.minute()
                ),
            }
        })
        .collect();
    let now = jiff::Timestamp::now();
    let reasons = ctx.ok(ctx.app.absence_reasons(caller, agenda, now).await)?;
    let absences = v
        .absences
        .iter()
        .filter(|a| a.end > now)
        .map(|a| {
            let when = format!(
                "{} → {}",
                lang.date_time(&a.start.to_zoned(v.tz.clone())),
                lang.date_time(&a.end.to_zoned(v.tz.clone()))
            );
            AbsenceRow {
                id: a.id.to_string(),
                label: match reasons.get(&a.id) {
                    Some(r) => format!("{when} · {r}"),
                    None => when,
                },
            }
        })
        .collect();
    let feed = ctx.ok(ctx.app.agenda_feed(caller, agenda).await)?.map(|f| {
        let (url, webcal_url) = careslot_scheduling::api::agenda_feed::feed_urls(
            &ctx.app.scheduling,
            &ctx.origin,
            &f.token,
        );
        FeedView {
            url,
            webcal_url,
            show_names: f.show_patient_names,
        }
    });
    let feed_hint = ctx.tf(
        "settings.feed_hint",
        &[
            (
                "back",
                &careslot_scheduling::agenda_feed::DAYS_BACK.to_string(),
            ),
            (
                "ahead",
                &careslot_scheduling::agenda_feed::DAYS_AHEAD.to_string(),
            ),
        ],
    );
    Ok(ctx.page(&SettingsPage {
        ctx,
        agenda_id: agenda.to_string(),
        error,
        motives,
        rules,
        absences,
        weekdays: weekday_checks(ctx, &[1, 2, 3, 4, 5]),
        reminder_email: delays.email_hours_before,
        reminder_sms: delays.sms_hours_before,
        default_notice: WEB_DEFAULT_NOTICE_MIN,
        default_notice_hint: ctx.tf(
            "settings.notice_hint",
            &[
                ("min", &WEB_DEFAULT_NOTICE_MIN.to_string()),
                (
                    "notice",
                    &crate::web::view::notice_label(ctx.lang, WEB_DEFAULT_NOTICE_MIN),
                ),
            ],
        ),
        feed,
        feed_hint,
    }))
}

pub async fn page(ctx: Ctx, Query(p): Query<SettingsParams>) -> PageResult {
    match agenda_of(&ctx, p.agenda.as_deref()).await? {
        Some(a) => render(&ctx, &a, None).await,
        None => Ok(ctx.redirect("/pro/onboarding/place")),
    }
}

fn back(agenda: &str) -> String {
    format!("/pro/settings?agenda={agenda}")
}

/// Minimum notice of a motive created from the web pages (onboarding, settings): 2 h, so a
/// 09:00 slot is not booked at 08:48 behind the practice's back. Only the pages' default:
/// the API keeps its documented `min_notice_min` default of 0 (shared/api-v1.md), and the
/// practice sees and edits the value in its settings.
pub const WEB_DEFAULT_NOTICE_MIN: u32 = 120;

fn num(form: &Form, name: &str, default: i64) -> i64 {
    form.text(name).parse().unwrap_or(default)
}

/// Runs a settings change; invalid input re-renders the page with a message.
async fn apply(
    mut ctx: Ctx,
    agenda: String,
    r: Result<(), AppError>,
    invalid: &'static str,
) -> PageResult {
    match r {
        Ok(()) => Ok(ctx.redirect_with(&back(&agenda), "flash.saved")),
        Err(AppError::Invalid(_)) => render(&ctx, &AgendaId(agenda), Some(invalid)).await,
        Err(e) => Err(ctx.fail(e)),
    }
}

/// The fee field: empty for none, else an amount in euros ("25", "25.50", "25,50").
fn form_fee(form: &Form, video: bool) -> Result<Option<careslot_store::Fee>, AppError> {
    let raw = form.text("fee").trim();
    if raw.is_empty() {
        return Ok(None);
    }
    let invalid = || {
        AppError::from(careslot_domain::DomainError::new(
            "fee",
            "an amount in euros, on teleconsultation motives only",
        ))
    };
    if !video {
        return Err(invalid());
    }
    let (units, cents) = match raw.split_once(['.', ',']) {
        Some((u, c)) if (1..=2).contains(&c.len()) => (u, format!("{c:0<2}")),
        Some(_) => return Err(invalid()),
        None => (raw, "00".to_owned()),
    };
    let all_digits =
        |s: &str| !s.is_empty() && s.len() <= 6 && s.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(units) || !all_digits(&cents) {
        return Err(invalid());
    }
    let amount = units.parse::<i64>().map_err(|_| invalid())? * 100
        + cents.parse::<i64>().map_err(|_| invalid())?;
    crate::services::parse_fee(amount, Some("EUR"))
        .map(Some)
        .map_err(AppError::from)
}

pub async fn add_motive(ctx: Ctx, form: Form) -> PageResult {
    let caller = ctx.caller()?.clone();
    let agenda = form.text("agenda").to_owned();
    let fee = match form_fee(&form, form.checked("video")) {
        Ok(f) => f,
        Err(e) => return apply(ctx, agenda, Err(e), "settings.fee_invalid").await,
    };
    let r = ctx
        .app
        .create_motive(
            &caller,
            &AgendaId(agenda.clone()),
            NewMotive {
                name: form.text("name").to_owned(),
                duration_min: num(&form, "duration", 0),
                capacity: num(&form, "capacity", 1),
                policy: MotivePolicy {
                    teleconsultation: form.checked("video"),
                    new_patients_only: form.checked("new_only"),
                    min_notice_min: u32::try_from(num(
                        &form,
                        "notice",
                        i64::from(WEB_DEFAULT_NOTICE_MIN),
                    ))
                    .unwrap_or(u32::MAX),
                    ..MotivePolicy::default()
                },
                vaccine: None,
            },
        )
        .await;
    let r = match (r, fee) {
        (Ok(m), Some(fee)) => {
            ctx.app
                .set_motive_fee(&caller, &AgendaId(agenda.clone()), m.id.as_str(), Some(fee))
                .await
        }
        (r, _) => r.map(|_| ()),
    };
    apply(ctx, agenda, r, "settings.motive_invalid").await
}

pub async fn edit_motive(ctx: Ctx, Path(id): Path<String>, form: Form) -> PageResult {
    let caller = ctx.caller()?.clone();
    let agenda = form.text("agenda").to_owned();
    let notice = u32::try_from(num(&form, "notice", 0)).unwrap_or(u32::MAX);
    let horizon = u32::try_from(num(&form, "horizon", 90)).unwrap_or(0);
    let video = form.checked("video");
    let fee = match form_fee(&form, video) {
        Ok(f) => f,
        Err(e) => return apply(ctx, agenda, Err(e), "settings.fee_invalid").await,
    };
    let r = ctx
        .app
        .update_motive(
            &caller,
            &AgendaId(agenda.clone()),
            &id,
            MotiveChanges {
                name: form.text("name").to_owned(),
                duration_min: form.opt("duration").map(|d| d.trim().parse().unwrap_or(0)),
                policy: MotivePolicy {
                    teleconsultation: video,
                    new_patients_only: form.checked("new_only"),
                    bookable_online: form.checked("online"),
                    min_notice_min: notice,
                    max_horizon_days: horizon,
                },
                labels: crate::services::LABEL_LANGS
                    .iter()
                    .filter_map(|code| {
                        form.opt(&format!("label_{code}"))
                            .map(|l| ((*code).to_owned(), l.to_owned()))
                    })
                    .collect(),
            },
        )
        .await
        .map(|_| ());
    // The fee follows the motive (an in-person motive just lost it in update_motive).
    let r = match r {
        Ok(()) if video => {
            ctx.app
                .set_motive_fee(&caller, &AgendaId(agenda.clone()), &id, fee)
                .await
        }
        r => r,
    };
    apply(ctx, agenda, r, "settings.motive_invalid").await
}

pub async fn add_hours(ctx: Ctx, form: Form) -> PageResult {
    let caller = ctx.caller()?.clone();
    let agenda = form.text("agenda").to_owned();
    let view = ctx.ok(ctx.app.desk_view(&caller, &AgendaId(agenda.clone())).await)?;
    let r = ctx
        .app
        .create_rule(
            &caller,
            &AgendaId(agenda.clone()),
            NewRule {
                weekdays: form_weekdays(&form),
                start: form.text("start").to_owned(),
                end: form.text("end").to_owned(),
                motive_ids: view.motives.iter().map(|m| m.id.to_string()).collect(),
                valid_from: None,
                valid_until: None,
            },
        )
        .await
        .map(|_| ());
    apply(ctx, agenda, r, "onboarding.hours_invalid").await
}

pub async fn delete_hours(ctx: Ctx, Path(id): Path<String>, form: Form) -> PageResult {
    let caller = ctx.caller()?.clone();
    let agenda = form.text("agenda").to_owned();
    let r = ctx
        .app
        .delete_rule(&caller, &AgendaId(agenda.clone()), &id)
        .await;
    apply(ctx, agenda, r, "error.invalid.detail").await
}

/// A `datetime-local` value read in the agenda's zone, as RFC 3339.
fn local_instant(value: &str, tz: &jiff::tz::TimeZone) -> Option<String> {
    let dt: DateTime = value.trim().parse().ok()?;
    let ts = dt.to_zoned(tz.clone()).ok()?.timestamp();
    Some(view::instant_rfc3339(ts, tz))
}

pub async fn add_absence(ctx: Ctx, form: Form) -> PageResult {
    let caller = ctx.caller()?.clone();
    let agenda = form.text("agenda").to_owned();
    let v = ctx.ok(ctx.app.desk_view(&caller, &AgendaId(agenda.clone())).await)?;
    let (Some(start), Some(end)) = (
        local_instant(form.text("start"), &v.tz),
        local_instant(form.text("end"), &v.tz),
    ) else {
        return render(&ctx, &AgendaId(agenda), Some("settings.absence_invalid")).await;
    };
    let id = AgendaId(agenda.clone());
    let r = if form.checked("cancel_appointments") {
        ctx.app
            .create_absence_cancelling(&caller, &id, &start, &end, form.opt("reason"))
            .await
            .map(|_| ())
    } else {
        ctx.app
            .create_absence(&caller, &id, &start, &end, form.opt("reason"))
            .await
            .map(|_| ())
    };
    apply(ctx, agenda, r, "settings.absence_invalid").await
}

pub async fn delete_absence(ctx: Ctx, Path(id): Path<String>, form: Form) -> PageResult {
    let caller = ctx.caller()?.clone();
    let agenda = form.text("agenda").to_owned();
    let r = ctx
        .app
        .delete_absence(&caller, &AgendaId(agenda.clone()), &id)
        .await;
    apply(ctx, agenda, r, "error.invalid.detail").await
}

/// The practice's reminder delays (issue 14), in hours; 0 sends no reminder on that channel.
pub async fn set_reminders(ctx: Ctx, form: Form) -> PageResult {
    let caller = ctx.caller()?.clone();
    let agenda = form.text("agenda").to_owned();
    let r = ctx
        .app
        .set_agenda_reminder_delays(
            &caller,
            &AgendaId(agenda.clone()),
            num(&form, "email_hours", -1),
            num(&form, "sms_hours", -1),
        )
        .await
        .map(|_| ());
    apply(ctx, agenda, r, "settings.reminders_invalid").await
}

/// Makes the agenda's calendar subscription URL (issue 18 point 6), names as ticked.
pub async fn make_feed(ctx: Ctx, form: Form) -> PageResult {
    let caller = ctx.caller()?.clone();
    let agenda = form.text("agenda").to_owned();
    let r = ctx
        .app
        .make_agenda_feed(
            &caller,
            &AgendaId(agenda.clone()),
            Some(form.checked("show_names")),
        )
        .await
        .map(|_| ());
    apply(ctx, agenda, r, "error.invalid.detail").await
}

/// Replaces the URL by a new one (the old one answers 404), names as they were.
pub async fn rotate_feed(ctx: Ctx, form: Form) -> PageResult {
    let caller = ctx.caller()?.clone();
    let agenda = form.text("agenda").to_owned();
    let r = ctx
        .app
        .make_agenda_feed(&caller, &AgendaId(agenda.clone()), None)
        .await
        .map(|_| ());
    apply(ctx, agenda, r, "error.invalid.detail").await
}

/// Patients' names in the feed, on or off (same URL).
pub async fn feed_names(ctx: Ctx, form: Form) -> PageResult {
    let caller = ctx.caller()?.clone();
    let agenda = form.text("agenda").to_owned();
    let r = ctx
        .app
        .set_agenda_feed_names(
            &caller,
            &AgendaId(agenda.clone()),
            form.checked("show_names"),
        )
        .await
        .map(|_| ());
    apply(ctx, agenda, r, "error.invalid.detail").await
}

/// Revokes the feed: its URL answers 404 from now on.
pub async fn revoke_feed(ctx: Ctx, form: Form) -> PageResult {
    let caller = ctx.caller()?.clone();
    let agenda = form.text("agenda").to_owned();
    let r = ctx
        .app
        .revoke_agenda_feed(&caller, &AgendaId(agenda.clone()))
        .await;
    apply(ctx, agenda, r, "error.invalid.detail").await
}
