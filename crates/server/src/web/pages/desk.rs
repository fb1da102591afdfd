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
    sort: i64,
}

pub struct DeskDay {
    pub label: String,
    pub items: Vec<DeskItem>,
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
            items.push(DeskItem {
                time: lang.time(&local(a.row.start)),
                end: lang.time(&local(a.row.end)),
                kind,
                label: format!("{who} · {motive}"),
                link: Some(format!("/pro/appointments/{}", a.row.id)),
                sort: a.row.start.as_second(),
            });
        }
        for r in v.occupancy.reservations() {
            if r.expires_at.is_some_and(|e| e > now) && local(r.start).date() == d {
                items.push(DeskItem {
                    time: lang.time(&local(r.start)),
                    end: lang.time(&local(r.end)),
                    kind: "hold",
                    label: lang.t("desk.hold").to_owned(),
                    link: None,
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
                        label: lang.t("desk.absence").to_owned(),
                        link: None,
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
        days.push(DeskDay {
            label: lang.long_date(d),
            items,
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
        ctx: &ctx,
    }))
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
}

/// What the new-patient form held, to show it again.
#[derive(Default)]
struct Given {
    name: String,
    phone: String,
    birth_date: String,
}

async fn render_book(
    ctx: &Ctx,
    agenda: &str,
    motive: &str,
    start: &str,
    error: Option<&'static str>,
    given: Given,
    q: &str,
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
    Ok(ctx.page(&BookPage {
        ctx,
        agenda: agenda.to_owned(),
        motive: motive.to_owned(),
        start: start.to_owned(),
        when: ctx.lang.date_time(&t.to_zoned(v.tz.clone())),
        motive_label: view::motive_label(ctx.lang, &public, m),
        error: error.or(search_error),
        name: given.name,
        phone: given.phone,
        birth_date: given.birth_date,
        searched: hits.is_some(),
        hits: hits.unwrap_or_default(),
        q,
    }))
}

pub async fn book_page(ctx: Ctx, Query(p): Query<BookParams>) -> PageResult {
    render_book(
        &ctx,
        &p.agenda,
        &p.motive,
        &p.start,
        None,
        Given::default(),
        &p.q,
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
            render_book(&ctx, agenda, motive, start, Some(key), given, "").await
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
    pub status: &'static str,
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
    status: &'static str,
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
    let caller = ctx.caller()?;
    let d = ctx.ok(ctx.app.desk_appointment(caller, &id).await)?;
    let a = &d.appointment;
    let public = ctx.ok(ctx.app.public_agenda(&a.row.agenda_id).await)?;
    let v = &public.view;
    let z = a.row.start.to_zoned(v.tz.clone());
    let started = a.row.start <= Timestamp::now();
    let payment = super::payments::payment_line(&ctx, a).await?;
    let docs = super::documents::section(&ctx, &id, q.documents.as_deref()).await?;
    let rx_list =
        super::prescriptions::rows(&ctx, caller, &id, &format!("/pro/appointments/{id}")).await?;
    let is_practitioner = ctx.user.as_ref().is_some_and(|u| u.is_practitioner());
    let rx_not_verified = is_practitioner
        && ctx.ok(ctx.app.my_credential(caller).await)?.status
            != careslot_domain::CredentialStatus::Verified;
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
        status: ctx.t(view::status_key(a.row.status)),
        note: a.note.clone(),
        can_mark_no_show: started && a.row.status == ReservationStatus::Booked,
        can_undo_no_show: a.row.status == ReservationStatus::NoShow,
        can_cancel: a.row.status == ReservationStatus::Booked && a.row.end > Timestamp::now(),
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
    }))
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
            status: ctx.t(view::status_key(a.row.status)),
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
