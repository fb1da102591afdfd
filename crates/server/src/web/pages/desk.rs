//! The practice's agenda: day and week views in the place's zone (appointments, holds,
//! absences, free slots), booking a patient on the phone, no-shows, a patient's history.

use crate::services::{AppError, DeskPatient};
use crate::web::context::Query;
use crate::web::context::{Ctx, Failure, Form, PageResult};
use crate::web::pages::directory::{self, HitRow};
use crate::web::view;
use askama::Template;
use axum::extract::Path;
use careslot_domain::{AccountId, AgendaId, MotiveId};
use careslot_store::{DirectoryEntry, ReservationStatus};
use jiff::civil::Date;
use jiff::Timestamp;
use serde::Deserialize;

#[derive(Deserialize, Default)]
pub struct AgendaParams {
    agenda: Option<String>,
    date: Option<String>,
    view: Option<String>,
    motive: Option<String>,
}

pub struct DeskItem {
    pub time: String,
    pub end: String,
    /// appointment | no-show | cancelled | hold | absence | free
    pub kind: &'static str,
    pub label: String,
    pub link: Option<String>,
    /// An appointment's id (empty for anything else), for its status forms.
    pub id: String,
    /// An appointment's status, in words and an icon, with its time.
    pub badge: Option<Badge>,
    /// The one-click status changes it allows.
    pub actions: Vec<StatusAction>,
    sort: i64,
}

/// A status as text and icon (never colour alone).
pub struct Badge {
    /// booked | arrived | in_consultation | done | no_show | cancelled
    pub class: &'static str,
    pub icon: &'static str,
    pub text: String,
}

/// A button that sets a status (`status`), labelled for what it does.
pub struct StatusAction {
    pub status: &'static str,
    pub label: String,
    /// Names the appointment too, for screen readers (many buttons share a label).
    pub aria: String,
    pub undo: bool,
}

pub struct DeskDay {
    pub label: String,
    pub items: Vec<DeskItem>,
    /// The day's figures: (catalogue text, count).
    pub counts: Vec<(String, u32)>,
}

/// The status a reservation shows, its icon and when it was set.
pub fn badge(
    lang: crate::web::i18n::Lang,
    r: &careslot_store::ReservationRow,
    tz: &jiff::tz::TimeZone,
) -> Badge {
    let class = match r.status {
        ReservationStatus::Booked => r.visit_step().as_str(),
        ReservationStatus::NoShow => "no_show",
        ReservationStatus::Cancelled => "cancelled",
        ReservationStatus::Held => "held",
        ReservationStatus::Expired => "expired",
    };
    let icon = match class {
        "arrived" => "➜",
        "in_consultation" => "◐",
        "done" => "✓",
        "no_show" => "✗",
        "cancelled" => "⊘",
        _ => "○",
    };
    let name = lang.t(visit_key(class));
    let text = match r.visit_step_at() {
        Some(t) => lang.tf(
            "visit.status_at",
            &[
                ("status", name),
                ("time", &lang.time(&t.to_zoned(tz.clone()))),
            ],
        ),
        None => name.to_owned(),
    };
    Badge { class, icon, text }
}

/// The catalogue key of a visit status word.
pub fn visit_key(status: &str) -> &'static str {
    match status {
        "arrived" => "visit.arrived",
        "in_consultation" => "visit.in_consultation",
        "done" => "visit.done",
        "no_show" => "status.no_show",
        "cancelled" => "status.cancelled",
        "held" => "status.held",
        "expired" => "status.expired",
        _ => "status.booked",
    }
}

/// The status changes the desk offers on an appointment: the next steps, and an undo of the
/// last one. A no-show only once the appointment has started.
pub fn status_actions(
    lang: crate::web::i18n::Lang,
    r: &careslot_store::ReservationRow,
    who: &str,
    now: Timestamp,
) -> Vec<StatusAction> {
    use careslot_store::VisitStep as S;
    let act = |status: &'static str, key: &str, undo: bool| {
        let label = lang.t(key).to_owned();
        StatusAction {
            status,
            aria: format!("{label} — {who}"),
            label,
            undo,
        }
    };
    match r.status {
        ReservationStatus::NoShow => vec![act("booked", "visit.undo", true)],
        ReservationStatus::Booked => {
            let mut out = Vec::new();
            match r.visit_step() {
                S::Booked => {
                    out.push(act("arrived", "visit.set_arrived", false));
                    if r.start <= now {
                        out.push(act("no_show", "desk.mark_no_show", false));
                    }
                }
                S::Arrived => {
                    out.push(act("in_consultation", "visit.set_in_consultation", false));
                    out.push(act("done", "visit.set_done", false));
                    out.push(act("booked", "visit.undo", true));
                }
                S::InConsultation => {
                    out.push(act("done", "visit.set_done", false));
                    let back = if r.arrived_at.is_some() {
                        "arrived"
                    } else {
                        "booked"
                    };
                    out.push(act(back, "visit.undo", true));
                }
                S::Done => {
                    let back = if r.consulting_at.is_some() {
                        "in_consultation"
                    } else if r.arrived_at.is_some() {
                        "arrived"
                    } else {
                        "booked"
                    };
                    out.push(act(back, "visit.undo", true));
                }
            }
            out
        }
        _ => Vec::new(),
    }
}

pub struct Choice {
    pub id: String,
    pub label: String,
    pub selected: bool,
}

#[derive(Template)]
#[template(path = "desk.html")]
struct DeskPage<'a> {
    ctx: &'a Ctx,
    agenda_id: String,
    agendas: Vec<Choice>,
    motives: Vec<Choice>,
    motive_id: String,
    week: bool,
    title: String,
    date: String,
    prev: String,
    next: String,
    today: String,
    days: Vec<DeskDay>,
    zone: String,
    /// This view, where a status form comes back to.
    back: String,
}

/// The agenda asked for among the caller's, else their first; none yet: onboarding.
async fn chosen_agenda(
    ctx: &Ctx,
    wanted: Option<&str>,
) -> Result<Option<(DirectoryEntry, Vec<DirectoryEntry>)>, Failure> {
    let caller = ctx.caller()?;
    let all = ctx.ok(ctx.app.desk_agendas(caller).await)?;
    let pick = wanted
        .and_then(|w| all.iter().find(|a| a.agenda_id.as_str() == w))
        .or(all.first())
        .cloned();
    Ok(pick.map(|p| (p, all)))
}

pub async fn agenda(ctx: Ctx, Query(p): Query<AgendaParams>) -> PageResult {
    let caller = ctx.caller()?.clone();
    let lang = ctx.lang;
    let Some((entry, all)) = chosen_agenda(&ctx, p.agenda.as_deref()).await? else {
        return Ok(
            ctx.redirect(if caller.role == careslot_store::Role::Practitioner {
                "/pro/onboarding/profile"
            } else {
                "/"
            }),
        );
    };
    let v = ctx.ok(ctx.app.desk_view(&caller, &entry.agenda_id).await)?;
    let public = ctx.ok(ctx.app.public_agenda(&entry.agenda_id).await)?;
    let now = Timestamp::now();
    let today = now.to_zoned(v.tz.clone()).date();
    let date = p
        .date
        .as_deref()
        .and_then(|d| d.parse::<Date>().ok())
        .unwrap_or(today);
    let week = p.view.as_deref() == Some("week");
    let (from, n_days) = if week {
        let monday = date
            .checked_sub(jiff::Span::new().days(i64::from(date.weekday().to_monday_zero_offset())))
            .unwrap_or(date);
        (monday, 7)
    } else {
        (date, 1)
    };
    let to = from
        .checked_add(jiff::Span::new().days(n_days - 1))
        .unwrap_or(from);
    let (_, appts) = ctx.ok(ctx
        .app
        .agenda_appointments(
            &caller,
            &entry.agenda_id,
            &from.to_string(),
            &to.to_string(),
        )
        .await)?;
    let motive = p
        .motive
        .as_deref()
        .and_then(|m| v.motive(&MotiveId(m.to_owned())))
        .or(v.motives.first());
    let free = match motive {
        Some(m) => {
            let mut m = m.clone();
            m.policy.min_notice_min = 0;
            v.slots(&m, from, to, now)
        }
        None => Vec::new(),
    };
    let tz = v.tz.clone();
    let local = |t: Timestamp| t.to_zoned(tz.clone());
    let first_instant = careslot_core::time::local_days(from, from, &tz)
        .map(|(s, _)| s)
        .unwrap_or(now);
    let reasons = ctx.ok(ctx
        .app
        .absence_reasons(&caller, &entry.agenda_id, first_instant)
        .await)?;
    let mut days = Vec::new();
    let mut d = from;
    for _ in 0..n_days {
        let mut items = Vec::new();
        for (a, name) in &appts {
            if local(a.row.start).date() != d {
                continue;
            }
            let kind = match a.row.status {
                ReservationStatus::NoShow => "no-show",
                ReservationStatus::Cancelled => "cancelled",
                _ => "appointment",
            };
            let motive = v
                .motive(&a.motive_id)
                .map(|m| view::motive_label(lang, &public, m))
                .unwrap_or_default();
            let who = name
                .clone()
                .unwrap_or_else(|| lang.t("desk.anonymous").to_owned());
            let time = lang.time(&local(a.row.start));
            items.push(DeskItem {
                actions: status_actions(lang, &a.row, &format!("{time} {who}"), now),
                badge: Some(badge(lang, &a.row, &tz)),
                id: a.row.id.to_string(),
                time,
                end: lang.time(&local(a.row.end)),
                kind,
                label: format!("{who} · {motive}"),
                link: Some(format!("/pro/appointments/{}", a.row.id)),
                sort: a.row.start.as_second(),
            });
        }
        for r in v.occupancy.holds() {
            if r.expires_at.is_some_and(|e| e > now) && local(r.start).date() == d {
                items.push(DeskItem {
                    time: lang.time(&local(r.start)),
                    end: lang.time(&local(r.end)),
                    kind: "hold",
                    label: lang.t("desk.hold").to_owned(),
                    link: None,
                    id: String::new(),
                    badge: None,
                    actions: Vec::new(),
                    sort: r.start.as_second(),
                });
            }
        }
        if let Ok((ds, de)) = careslot_core::time::local_days(d, d, &tz) {
            for ab in &v.absences {
                if ab.start < de && ab.end > ds {
                    let s = ab.start.max(ds);
                    items.push(DeskItem {
                        time: lang.time(&local(s)),
                        end: lang.time(&local(ab.end.min(de))),
                        kind: "absence",
                        label: match reasons.get(&ab.id) {
                            Some(r) => format!("{} — {r}", lang.t("desk.absence")),
                            None => lang.t("desk.absence").to_owned(),
                        },
                        link: None,
                        id: String::new(),
                        badge: None,
                        actions: Vec::new(),
                        sort: s.as_second(),
                    });
                }
            }
        }
        if let Some(m) = motive {
            for s in free.iter().filter(|s| local(s.start).date() == d) {
                items.push(DeskItem {
                    time: lang.time(&local(s.start)),
                    end: lang.time(&local(s.end)),
                    kind: "free",
                    label: lang.t("desk.free").to_owned(),
                    id: String::new(),
                    badge: None,
                    actions: Vec::new(),
                    link: Some(format!(
                        "/pro/agenda/book?agenda={}&motive={}&start={}",
                        entry.agenda_id,
                        m.id,
                        form_urlencoded::byte_serialize(
                            view::instant_rfc3339(s.start, &tz).as_bytes()
                        )
                        .collect::<String>()
                    )),
                    sort: s.start.as_second(),
                });
            }
        }
        items.sort_by_key(|i| i.sort);
        let c = careslot_scheduling::day_counts(appts.iter().map(|(a, _)| &a.row), d, d, &tz)
            .pop()
            .unwrap_or_default();
        days.push(DeskDay {
            label: lang.long_date(d),
            items,
            counts: vec![
                (lang.t("visit.count_booked").to_owned(), c.booked),
                (lang.t("visit.count_arrived").to_owned(), c.arrived),
                (lang.t("visit.count_done").to_owned(), c.done),
                (lang.t("visit.count_no_show").to_owned(), c.no_show),
                (lang.t("visit.count_cancelled").to_owned(), c.cancelled),
            ],
        });
        match d.tomorrow() {
            Ok(n) => d = n,
            Err(_) => break,
        }
    }
    let step = jiff::Span::new().days(if week { 7 } else { 1 });
    Ok(ctx.page(&DeskPage {
        agenda_id: entry.agenda_id.to_string(),
        agendas: all
            .iter()
            .map(|a| Choice {
                id: a.agenda_id.to_string(),
                label: format!("{} — {}", a.place.name, a.place.city),
                selected: a.agenda_id == entry.agenda_id,
            })
            .collect(),
        motives: v
            .motives
            .iter()
            .map(|m| Choice {
                id: m.id.to_string(),
                label: view::motive_label(lang, &public, m),
                selected: motive.is_some_and(|x| x.id == m.id),
            })
            .collect(),
        motive_id: motive.map(|m| m.id.to_string()).unwrap_or_default(),
        week,
        title: if week {
            lang.tf("practitioner.week_of", &[("date", &lang.long_date(from))])
        } else {
            lang.long_date(date)
        },
        date: date.to_string(),
        prev: date.checked_sub(step).unwrap_or(date).to_string(),
        next: date.checked_add(step).unwrap_or(date).to_string(),
        today: today.to_string(),
        days,
        zone: v.agenda.timezone.clone(),
        back: format!(
            "/pro/agenda?agenda={}&motive={}&view={}&date={}",
            entry.agenda_id,
            motive.map(|m| m.id.to_string()).unwrap_or_default(),
            if week { "week" } else { "day" },
            date
        ),
        ctx: &ctx,
    }))
}

/// Sets a visit status from a one-click form (the day or week list, or the appointment's
/// page), then goes back where it came from.
pub async fn set_status(mut ctx: Ctx, Path(id): Path<String>, form: Form) -> PageResult {
    let caller = ctx.caller()?.clone();
    let back = form.text("back");
    // Only back to the desk's own pages, never to an address a form could carry elsewhere.
    let back = if back.starts_with("/pro/agenda?") && !back.contains("//") {
        back.to_owned()
    } else {
        format!("/pro/appointments/{id}")
    };
    match ctx
        .app
        .set_visit_status(&caller, &id, form.text("status"))
        .await
    {
        Ok(_) => Ok(ctx.redirect_with(&back, "flash.status_set")),
        Err(AppError::Conflict(..))
        | Err(AppError::Invalid(_))
        | Err(AppError::Store(careslot_store::StoreError::Conflict(_))) => {
            Ok(ctx.redirect_with(&back, "flash.status_refused"))
        }
        Err(e) => Err(ctx.fail(e)),
    }
}

#[derive(Deserialize)]
pub struct BookParams {
    agenda: String,
    motive: String,
    start: String,
    /// A search of the practice's directory, to pick an existing patient.
    #[serde(default)]
    q: String,
}

#[derive(Template)]
#[template(path = "desk_book.html")]
struct BookPage<'a> {
    ctx: &'a Ctx,
    agenda: String,
    motive: String,
    start: String,
    when: String,
    motive_label: String,
    error: Option<&'static str>,
    name: String,
    phone: String,
    birth_date: String,
    q: String,
    searched: bool,
    hits: Vec<HitRow>,
    /// The repeat (recurring care): its fields, weekday boxes and the dates it gives.
    repeat: super::series::RepeatFields,
    weekdays: Vec<super::onboarding::Check>,
    repeat_hidden: Vec<(&'static str, String)>,
    preview: Option<super::series::Preview>,
}

/// What the new-patient form held, to show it again.
#[derive(Default)]
pub(super) struct Given {
    pub(super) name: String,
    pub(super) phone: String,
    pub(super) birth_date: String,
}

#[allow(clippy::too_many_arguments)]
pub(super) async fn render_book(
    ctx: &Ctx,
    agenda: &str,
    motive: &str,
    start: &str,
    error: Option<&'static str>,
    given: Given,
    q: &str,
    repeat: super::series::RepeatFields,
) -> PageResult {
    let caller = ctx.caller()?;
    let v = ctx.ok(ctx
        .app
        .desk_view(caller, &AgendaId(agenda.to_owned()))
        .await)?;
    let public = ctx.ok(ctx.app.public_agenda(&v.agenda.id).await)?;
    let m = v
        .motive(&MotiveId(motive.to_owned()))
        .ok_or_else(|| ctx.fail(AppError::NotFound("motive")))?;
    let t = ctx.ok(careslot_core::time::parse_instant("start", start).map_err(Into::into))?;
    let q: String = q.chars().take(100).collect();
    let (hits, search_error) = match directory::search(ctx, &q).await? {
        Ok(hits) => (hits, None),
        Err(key) => (None, Some(key)),
    };
    // The repeat's dates, each with whether it is free, before anything is booked.
    let mut repeat_error = None;
    let mut preview = None;
    if repeat.on {
        let plan = match repeat.rule() {
            Ok(rule) => {
                ctx.app
                    .desk_series_plan(
                        caller,
                        &v.agenda.id,
                        motive,
                        start,
                        &rule,
                        &repeat.skip_dates(),
                    )
                    .await
            }
            Err(e) => Err(e),
        };
        match plan {
            Ok(plan) => preview = Some(super::series::preview(ctx, &plan, &v.tz)),
            Err(AppError::Invalid(_)) => repeat_error = Some("series.bad_rule"),
            Err(e) => return Err(ctx.fail(e)),
        }
    }
    let first_day = i64::from(t.to_zoned(v.tz.clone()).weekday().to_monday_one_offset());
    let checked = if repeat.weekdays.is_empty() {
        vec![first_day]
    } else {
        repeat.weekdays.clone()
    };
    Ok(ctx.page(&BookPage {
        ctx,
        agenda: agenda.to_owned(),
        motive: motive.to_owned(),
        start: start.to_owned(),
        when: ctx.lang.date_time(&t.to_zoned(v.tz.clone())),
        motive_label: view::motive_label(ctx.lang, &public, m),
        error: error.or(repeat_error).or(search_error),
        name: given.name,
        phone: given.phone,
        birth_date: given.birth_date,
        searched: hits.is_some(),
        hits: hits.unwrap_or_default(),
        q,
        weekdays: super::onboarding::weekday_checks(ctx, &checked),
        repeat_hidden: if preview.is_some() {
            repeat.hidden()
        } else {
            Vec::new()
        },
        repeat,
        preview,
    }))
}

pub async fn book_page(ctx: Ctx, Query(pairs): Query<Vec<(String, String)>>) -> PageResult {
    let one = |k: &str| {
        pairs
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    };
    // The page is about one time of one motive: without them there is nothing to show
    // (400, as when the query could not be read, before anything else is checked).
    if ["agenda", "motive", "start"]
        .iter()
        .any(|k| one(k).is_empty())
    {
        return Err(ctx.fail(AppError::BadRequest(
            "agenda, motive and start are required".into(),
        )));
    }
    let p = BookParams {
        agenda: one("agenda").to_owned(),
        motive: one("motive").to_owned(),
        start: one("start").to_owned(),
        q: one("q").to_owned(),
    };
    render_book(
        &ctx,
        &p.agenda,
        &p.motive,
        &p.start,
        None,
        Given::default(),
        &p.q,
        super::series::RepeatFields::from_pairs(&pairs),
    )
    .await
}

pub async fn book(mut ctx: Ctx, form: Form) -> PageResult {
    let caller = ctx.caller()?.clone();
    let (agenda, motive, start) = (form.text("agenda"), form.text("motive"), form.text("start"));
    let (name, phone) = (form.text("patient_name"), form.text("patient_phone"));
    let patient = match form.opt("patient_entry") {
        Some(entry) => DeskPatient::Entry(entry),
        None => DeskPatient::New {
            name,
            phone,
            birth_date: form.opt("patient_birth_date"),
        },
    };
    let repeat = super::series::RepeatFields::from_form(&form);
    if repeat.on {
        return super::series::book(ctx, &form, repeat, patient).await;
    }
    let booked = ctx
        .app
        .desk_book(
            &caller,
            &AgendaId(agenda.to_owned()),
            motive,
            start,
            patient,
            form.opt("note"),
        )
        .await;
    match booked {
        Ok(a) => {
            let date = start.get(..10).unwrap_or("");
            Ok(ctx.redirect_with(
                &format!(
                    "/pro/agenda?agenda={}&date={date}&motive={motive}",
                    a.row.agenda_id
                ),
                "flash.booked_for_patient",
            ))
        }
        Err(AppError::Invalid(d)) => {
            let key = match d.field {
                "patient_phone" => "desk.bad_phone",
                "patient_birth_date" => "desk.bad_birth_date",
                _ => "desk.bad_name",
            };
            let given = Given {
                name: name.into(),
                phone: phone.into(),
                birth_date: form.text("patient_birth_date").into(),
            };
            render_book(
                &ctx,
                agenda,
                motive,
                start,
                Some(key),
                given,
                "",
                Default::default(),
            )
            .await
        }
        Err(AppError::Conflict(..))
        | Err(AppError::Store(careslot_store::StoreError::Conflict(_))) => {
            let date = start.get(..10).unwrap_or("");
            Ok(ctx.redirect_with(
                &format!("/pro/agenda?agenda={agenda}&date={date}&motive={motive}"),
                "flash.slot_taken",
            ))
        }
        Err(e) => Err(ctx.fail(e)),
    }
}

pub struct HistoryRow {
    pub when: String,
    pub motive: String,
    /// The status in words and icon, with its time (arrived at 09:02...).
    pub badge: Badge,
    pub id: String,
}

#[derive(Template)]
#[template(path = "desk_appointment.html")]
struct AppointmentPage<'a> {
    ctx: &'a Ctx,
    id: String,
    patient_name: String,
    patient_id: Option<String>,
    when: String,
    motive: String,
    badge: Badge,
    /// Visit status changes (the no-show forms below stay as they were).
    actions: Vec<StatusAction>,
    /// Who set which status when.
    trail: Vec<String>,
    note: Option<String>,
    can_mark_no_show: bool,
    can_undo_no_show: bool,
    /// Booked and not ended: the practice may cancel it.
    can_cancel: bool,
    payment: Option<String>,
    agenda_link: String,
    /// A booked teleconsultation whose room has not closed: the way to its video room.
    video_join: Option<super::video::JoinVideo>,
    docs: super::documents::DocumentsSection,
    rx_list: Vec<super::prescriptions::RxRow>,
    rx_can_sign: bool,
    /// A practitioner not verified yet: the page says how to get verified instead.
    rx_not_verified: bool,
    rx_is_assistant: bool,
    rx_first_legend: String,
    /// Its series (recurring care), when it belongs to one.
    series: Option<super::series::SeriesSection>,
}

#[derive(serde::Deserialize)]
pub struct AppointmentParams {
    /// Outcome of the last action on the documents section.
    documents: Option<String>,
}

pub async fn appointment(
    ctx: Ctx,
    Path(id): Path<String>,
    crate::web::context::Query(q): crate::web::context::Query<AppointmentParams>,
) -> PageResult {
    appointment_page(ctx, id, q.documents, &[]).await
}

/// The appointment's desk page; `move_conflicts`: the new times a series move found taken
/// (nothing moved).
pub(crate) async fn appointment_page(
    ctx: Ctx,
    id: String,
    documents: Option<String>,
    move_conflicts: &[careslot_scheduling::care_series::PlannedOccurrence],
) -> PageResult {
    let caller = ctx.caller()?;
    let d = ctx.ok(ctx.app.desk_appointment(caller, &id).await)?;
    let a = &d.appointment;
    let public = ctx.ok(ctx.app.public_agenda(&a.row.agenda_id).await)?;
    let v = &public.view;
    let z = a.row.start.to_zoned(v.tz.clone());
    let started = a.row.start <= Timestamp::now();
    let payment = super::payments::payment_line(&ctx, a).await?;
    let docs = super::documents::section(&ctx, &id, documents.as_deref()).await?;
    let rx_list =
        super::prescriptions::rows(&ctx, caller, &id, &format!("/pro/appointments/{id}")).await?;
    let is_practitioner = ctx.user.as_ref().is_some_and(|u| u.is_practitioner());
    let rx_not_verified = is_practitioner
        && ctx.ok(ctx.app.my_credential(caller).await)?.status
            != careslot_domain::CredentialStatus::Verified;
    let trail = status_trail(&ctx, &id, &v.tz).await?;
    let series = super::series::section(&ctx, &a.row.id, &v.tz, move_conflicts).await?;
    Ok(ctx.page(&AppointmentPage {
        ctx: &ctx,
        id: id.clone(),
        patient_name: d
            .patient_name
            .clone()
            .unwrap_or_else(|| ctx.t("desk.anonymous").to_owned()),
        patient_id: a.patient.as_ref().map(ToString::to_string),
        when: ctx.lang.date_time(&z),
        motive: v
            .motive(&a.motive_id)
            .map(|m| view::motive_label(ctx.lang, &public, m))
            .unwrap_or_default(),
        badge: badge(ctx.lang, &a.row, &v.tz),
        actions: status_actions(
            ctx.lang,
            &a.row,
            &d.patient_name.clone().unwrap_or_default(),
            Timestamp::now(),
        )
        .into_iter()
        .filter(|x| x.status != "no_show" && a.row.status != ReservationStatus::NoShow)
        .collect(),
        trail,
        note: a.note.clone(),
        can_mark_no_show: started
            && a.row.status == ReservationStatus::Booked
            && a.row.visit_step() == careslot_store::VisitStep::Booked,
        can_undo_no_show: a.row.status == ReservationStatus::NoShow,
        can_cancel: a.row.status == ReservationStatus::Booked
            && a.row.visit_step() == careslot_store::VisitStep::Booked
            && a.row.end > Timestamp::now(),
        payment,
        agenda_link: format!("/pro/agenda?agenda={}&date={}", a.row.agenda_id, z.date()),
        video_join: super::video::join_video(
            &ctx,
            &a.row,
            &v.tz,
            v.motive(&a.motive_id)
                .is_some_and(|m| m.policy.teleconsultation),
            format!("/pro/appointments/{id}/video"),
        ),
        docs,
        rx_list,
        rx_can_sign: is_practitioner
            && !rx_not_verified
            && a.row.status == ReservationStatus::Booked
            && a.patient.is_some(),
        rx_not_verified,
        rx_is_assistant: !is_practitioner,
        rx_first_legend: super::prescriptions::first_legend(&ctx),
        series,
    }))
}

/// The appointment's status trail in words: "Arrived at 09:02 by Dr Martin". Authors are
/// named when the practice knows them (the practitioner, the caller, the assistants a
/// practitioner sees), else called a team member.
async fn status_trail(
    ctx: &Ctx,
    id: &str,
    tz: &jiff::tz::TimeZone,
) -> Result<Vec<String>, Failure> {
    let caller = ctx.caller()?;
    let entries = ctx.ok(ctx.app.visit_status_log(caller, id).await)?;
    if entries.is_empty() {
        return Ok(Vec::new());
    }
    let practice = ctx.ok(ctx.app.practice_of(caller).await)?;
    let mut names = vec![
        (caller.id.clone(), ctx.t("visit.you").to_owned()),
        (practice.account_id.clone(), practice.name.clone()),
    ];
    if caller.id == practice.account_id {
        if let Ok(team) = ctx.app.accounts.assistants(caller).await {
            names.extend(team.into_iter().map(|i| (i.id, i.name)));
        }
    }
    let lang = ctx.lang;
    Ok(entries
        .iter()
        .map(|e| {
            let status = if e.status == "booked" {
                lang.t("visit.back_to_booked")
            } else {
                lang.t(visit_key(&e.status))
            };
            let time = lang.date_time(&e.at.to_zoned(tz.clone()));
            let who = e.by.as_ref().map(|by| {
                names
                    .iter()
                    .find(|(id, _)| id == by)
                    .map(|(_, n)| n.as_str())
                    .unwrap_or_else(|| lang.t("visit.team_member"))
            });
            match who {
                Some(who) => lang.tf(
                    "visit.trail_entry",
                    &[("status", status), ("time", &time), ("who", who)],
                ),
                None => lang.tf(
                    "visit.trail_entry_nobody",
                    &[("status", status), ("time", &time)],
                ),
            }
        })
        .collect())
}

pub async fn no_show(mut ctx: Ctx, Path(id): Path<String>, form: Form) -> PageResult {
    let caller = ctx.caller()?.clone();
    let undo = form.text("undo") == "1";
    match ctx.app.set_no_show(&caller, &id, !undo).await {
        Ok(_) => Ok(ctx.redirect_with(
            &format!("/pro/appointments/{id}"),
            if undo {
                "flash.no_show_undone"
            } else {
                "flash.no_show"
            },
        )),
        Err(AppError::Conflict(..))
        | Err(AppError::Store(careslot_store::StoreError::Conflict(_))) => {
            Ok(ctx.redirect_with(&format!("/pro/appointments/{id}"), "flash.slot_taken"))
        }
        Err(e) => Err(ctx.fail(e)),
    }
}

#[derive(Template)]
#[template(path = "desk_patient.html")]
struct PatientPage<'a> {
    ctx: &'a Ctx,
    account_id: String,
    name: String,
    phone: String,
    email: String,
    birth_date: String,
    rows: Vec<HistoryRow>,
    /// The practice's note (empty when none); None: not in the directory (an erased
    /// patient), so no note can be kept.
    note: Option<String>,
    error: Option<&'static str>,
}

/// A patient's page: their file in the practice's directory (identity, appointments here,
/// the practice's note). A patient seen before the directory existed is filed on the way.
pub async fn patient(ctx: Ctx, Path(id): Path<String>) -> PageResult {
    let caller = ctx.caller()?;
    let account = AccountId(id.clone());
    let practice = ctx.ok(ctx.app.practice_of(caller).await)?;
    let mut entry = ctx.ok(ctx
        .app
        .store
        .practice_patient_of_account(&practice.id, &account)
        .await
        .map_err(AppError::from))?;
    let mut fallback = None;
    if entry.is_none() {
        let (identity, history) = ctx.ok(ctx.app.desk_history(caller, &account).await)?;
        if history.is_empty() {
            return Err(ctx.fail(AppError::NotFound("patient")));
        }
        if identity.is_some() {
            entry = ctx.app.file_in_directory(&practice.id, &account).await.ok();
        }
        fallback = Some((identity, history));
    }
    let (identity, history, note) = match (entry, fallback) {
        (Some(e), _) => {
            let f = ctx.ok(ctx.app.patient_file(caller, &e.id).await)?;
            (
                Some(f.hit.identity),
                f.appointments,
                Some(f.note.unwrap_or_default()),
            )
        }
        (None, Some((identity, history))) => (identity, history, None),
        (None, None) => return Err(ctx.fail(AppError::NotFound("patient"))),
    };
    let mut rows = Vec::new();
    for a in history.iter().rev() {
        let public = ctx.ok(ctx.app.public_agenda(&a.row.agenda_id).await)?;
        let v = &public.view;
        rows.push(HistoryRow {
            when: ctx.lang.date_time(&a.row.start.to_zoned(v.tz.clone())),
            motive: v
                .motive(&a.motive_id)
                .map(|m| view::motive_label(ctx.lang, &public, m))
                .unwrap_or_default(),
            badge: badge(ctx.lang, &a.row, &v.tz),
            id: a.row.id.to_string(),
        });
    }
    let (name, phone, email, birth_date) = match identity {
        Some(i) => (
            i.name,
            i.phone.unwrap_or_default(),
            i.email,
            i.birth_date.unwrap_or_default(),
        ),
        None => (
            ctx.t("desk.anonymous").to_owned(),
            String::new(),
            String::new(),
            String::new(),
        ),
    };
    Ok(ctx.page(&PatientPage {
        ctx: &ctx,
        account_id: id,
        name,
        phone,
        email,
        birth_date,
        rows,
        note,
        error: None,
    }))
}
