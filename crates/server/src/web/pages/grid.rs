//! The desk's time grid: a day or a week of one agenda or of all the practice's agendas side
//! by side, each (day, agenda) a column of 5-minute rows placed by CSS classes (the CSP
//! allows no inline style). Readable and usable without JavaScript: every appointment links
//! to its page and to a "Move…" form, every free slot to the phone booking; `grid.js` adds
//! drag-and-drop onto the same form. `?print=1` is the printable day list.

use crate::services::{AppError, GridLane, GridPatient};
use crate::web::context::{safe_path, Ctx, Form, PageResult, Query};
use crate::web::view;
use askama::Template;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use careslot_core::availability::AgendaView;
use careslot_domain::{AgendaId, MotiveId};
use careslot_scheduling::agenda_access::AgendaAccess;
use careslot_store::{DirectoryEntry, ReservationStatus};
use jiff::civil::{Date, Time};
use jiff::tz::TimeZone;
use jiff::{Timestamp, Zoned};
use serde::Deserialize;
use std::sync::Arc;

/// Minutes per grid row; the stylesheet has classes for 24 h of them.
const ROW_MIN: i32 = 5;
/// Minutes of a day: the grid's rows never go past it (the `gs-*` / `ge-*` classes cover
/// `24 * 60 / ROW_MIN + 1` lines).
const DAY_MIN: i32 = 24 * 60;
/// Shown even when nothing happens earlier or later.
const DEFAULT_WINDOW: (i32, i32) = (8 * 60, 18 * 60);
/// Overlapping items of a column go side by side in up to this many lanes.
const MAX_LANES: usize = 3;

#[derive(Deserialize, Default)]
pub struct GridParams {
    /// One agenda's id, or `all` / nothing: every agenda of the practice.
    agenda: Option<String>,
    date: Option<String>,
    view: Option<String>,
    motive: Option<String>,
    /// The column shown on a phone (index).
    col: Option<usize>,
    print: Option<String>,
    /// The organisation shown (a practitioner in several); its first when absent.
    org: Option<String>,
}

/// What a grid item is; the one place where states get their words and signs, so that new
/// statuses are added here only.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum ItemKind {
    Booked,
    Arrived,
    InConsultation,
    Done,
    NoShow,
    Cancelled,
    Hold,
    Absence,
    Free,
}

impl ItemKind {
    /// An appointment's state, with the visit's step once the practice has set one.
    fn of(row: &careslot_store::ReservationRow) -> Self {
        use careslot_store::VisitStep;
        match row.status {
            ReservationStatus::NoShow => ItemKind::NoShow,
            ReservationStatus::Cancelled | ReservationStatus::Expired => ItemKind::Cancelled,
            ReservationStatus::Held => ItemKind::Hold,
            ReservationStatus::Booked => match row.visit_step() {
                VisitStep::Booked => ItemKind::Booked,
                VisitStep::Arrived => ItemKind::Arrived,
                VisitStep::InConsultation => ItemKind::InConsultation,
                VisitStep::Done => ItemKind::Done,
            },
        }
    }

    /// (CSS class, catalogue key of the state's words, sign shown before them)
    pub fn look(self) -> (&'static str, &'static str, &'static str) {
        match self {
            ItemKind::Booked => ("booked", "status.booked", "●"),
            ItemKind::Arrived => ("arrived", "visit.arrived", "➜"),
            ItemKind::InConsultation => ("in-consultation", "visit.in_consultation", "◐"),
            ItemKind::Done => ("done", "visit.done", "✓"),
            ItemKind::NoShow => ("no-show", "status.no_show", "⊘"),
            ItemKind::Cancelled => ("cancelled", "status.cancelled", "✕"),
            ItemKind::Hold => ("hold", "desk.hold", "◌"),
            ItemKind::Absence => ("absence", "desk.absence", "—"),
            ItemKind::Free => ("free", "desk.free", "+"),
        }
    }
}

pub struct GridItem {
    pub class: &'static str,
    pub state: &'static str,
    pub sign: &'static str,
    pub time: String,
    pub end: String,
    pub label: String,
    pub link: Option<String>,
    /// A booked appointment not started yet: its "Move…" form.
    pub move_link: Option<String>,
    /// Its "Change length…" form (not on appointments sharing their slot).
    pub resize_link: Option<String>,
    /// Its length in minutes (for the resize handle).
    pub minutes: i64,
    pub id: String,
    /// Local `YYYY-MM-DD` and `HH:MM` of its start (for the drag-and-drop dialog).
    pub date: String,
    pub hhmm: String,
    pub row_start: i32,
    pub row_end: i32,
    pub lane: usize,
    start_min: i32,
    end_min: i32,
}

pub struct HourMark {
    pub label: String,
    pub row_start: i32,
    pub row_end: i32,
}

pub struct GridColumn {
    pub index: usize,
    pub heading: String,
    pub sub: String,
    pub date: String,
    pub agenda_id: String,
    pub zone: String,
    pub shown: bool,
    pub items: Vec<GridItem>,
    /// Today's column: the row and words of the current-time line.
    pub now_row: Option<i32>,
    pub now_label: String,
}

pub struct Choice {
    pub id: String,
    pub label: String,
    pub selected: bool,
}

pub struct MotiveGroup {
    pub label: String,
    pub motives: Vec<Choice>,
}

#[derive(Template)]
#[template(path = "grid.html")]
struct GridPage<'a> {
    ctx: &'a Ctx,
    title: String,
    agenda_param: String,
    org_param: String,
    /// The caller's organisations when there are several (the switcher).
    orgs: Vec<Choice>,
    agendas: Vec<Choice>,
    motive_groups: Vec<MotiveGroup>,
    motive_param: String,
    week: bool,
    date: String,
    prev: String,
    next: String,
    today: String,
    /// This page's address (the move form returns here).
    here: String,
    hours: Vec<HourMark>,
    columns: Vec<GridColumn>,
    /// First row's minute of the day (for the script's time of a drop).
    window_start: i32,
    print_link: String,
}

pub struct PrintRow {
    pub time: String,
    pub end: String,
    pub name: String,
    pub phone: String,
    pub motive: String,
    pub place: String,
    pub state: &'static str,
    pub sign: &'static str,
}

#[derive(Template)]
#[template(path = "grid_print.html")]
struct PrintPage<'a> {
    ctx: &'a Ctx,
    title: String,
    rows: Vec<PrintRow>,
    back: String,
}

/// One agenda of the grid with what its columns need.
struct Lane {
    entry: DirectoryEntry,
    /// The caller runs this agenda (else it is a colleague's, shown read-only).
    runs: bool,
    /// Its practitioner's name when the grid shows several practitioners.
    who: Option<String>,
    view: Arc<AgendaView>,
    public: crate::services::PublicAgenda,
    appts: Vec<(crate::services::Appointment, GridPatient)>,
    free: Vec<careslot_domain::availability::Slot>,
    free_motive: Option<careslot_domain::Motive>,
    reasons: std::collections::HashMap<careslot_domain::AbsenceId, String>,
}

fn minute_of_day(z: &Zoned) -> i32 {
    i32::from(z.hour()) * 60 + i32::from(z.minute())
}

/// Local minutes `[start, end)` of `[s, e)` on day `d` (clamped to the day).
fn day_span(s: Timestamp, e: Timestamp, d: Date, tz: &TimeZone) -> Option<(i32, i32)> {
    let (ds, de) = careslot_core::time::local_days(d, d, tz).ok()?;
    if s >= de || e <= ds {
        return None;
    }
    let a = if s <= ds {
        0
    } else {
        minute_of_day(&s.to_zoned(tz.clone()))
    };
    let b = if e >= de {
        24 * 60
    } else {
        minute_of_day(&e.to_zoned(tz.clone()))
    };
    (b > a).then_some((a, b))
}

fn encode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

pub async fn page(ctx: Ctx, Query(p): Query<GridParams>) -> PageResult {
    let caller = ctx.caller()?.clone();
    let lang = ctx.lang;
    // The agendas the caller runs, then the organisation colleagues' they may see.
    let orgs = ctx.ok(ctx.app.my_organisations(&caller).await)?;
    let org_param = p
        .org
        .clone()
        .filter(|o| orgs.iter().any(|x| x.id.as_str() == o))
        .or_else(|| orgs.first().map(|o| o.id.to_string()))
        .unwrap_or_default();
    let mut all: Vec<(DirectoryEntry, bool)> = ctx
        .ok(ctx.app.desk_agendas(&caller).await)?
        .into_iter()
        .map(|e| (e, true))
        .collect();
    if caller.role == careslot_store::Role::Practitioner && !org_param.is_empty() {
        for (e, access) in ctx.ok(ctx.app.practice_agendas(&caller, Some(&org_param)).await)? {
            if access == AgendaAccess::View {
                all.push((e, false));
            }
        }
    }
    let several = all
        .iter()
        .any(|(e, _)| e.practitioner_id != all[0].0.practitioner_id);
    if all.is_empty() {
        return Ok(ctx.redirect("/pro/agenda"));
    }
    let shown = |w: &str| all.iter().any(|a| a.0.agenda_id.as_str() == w);
    // Switching organisation keeps the agenda picked in the one left: when it is not in the
    // new one, the whole practice is shown (an agenda asked for alone stays a 404).
    let wanted = p
        .agenda
        .as_deref()
        .filter(|a| *a != "all")
        .filter(|a| p.org.is_none() || shown(a));
    let chosen: Vec<(DirectoryEntry, bool)> = match wanted {
        Some(w) => all
            .iter()
            .filter(|a| a.0.agenda_id.as_str() == w)
            .cloned()
            .collect(),
        None => all.clone(),
    };
    if chosen.is_empty() {
        return Err(ctx.fail(AppError::NotFound("agenda")));
    }
    let now = Timestamp::now();
    // Dates are read in the first agenda's zone (a practice's places share one in practice).
    let (first, _) = ctx.ok(ctx.app.grid_view(&caller, &chosen[0].0.agenda_id).await)?;
    let today = now.to_zoned(first.tz.clone()).date();
    let date = p
        .date
        .as_deref()
        .and_then(|d| d.parse::<Date>().ok())
        .unwrap_or(today);
    let week = p.view.as_deref() == Some("week") && p.print.is_none();
    let (from, n_days) = if week {
        let back = i64::from(date.weekday().to_monday_zero_offset());
        (
            date.checked_sub(jiff::Span::new().days(back))
                .unwrap_or(date),
            7,
        )
    } else {
        (date, 1)
    };
    let to = from
        .checked_add(jiff::Span::new().days(n_days - 1))
        .unwrap_or(from);
    let ids: Vec<AgendaId> = chosen.iter().map(|(e, _)| e.agenda_id.clone()).collect();
    let read = ctx.ok(ctx
        .app
        .grid_lanes(&caller, &ids, &from.to_string(), &to.to_string())
        .await)?;
    let mut lanes = Vec::new();
    for ((entry, runs), read) in chosen.into_iter().zip(read) {
        let GridLane {
            view,
            reasons,
            appointments: appts,
            ..
        } = read;
        let public = ctx.ok(ctx.app.public_agenda(&entry.agenda_id).await)?;
        let free_motive = p
            .motive
            .as_deref()
            .and_then(|m| view.motive(&MotiveId(m.to_owned())))
            .or(view.motives.first())
            .cloned()
            .map(|mut m| {
                // The practice books inside its own notice period (as on the day list).
                m.policy.min_notice_min = 0;
                m
            });
        let free = free_motive
            .as_ref()
            .map(|m| view.slots(m, from, to, now))
            .unwrap_or_default();
        lanes.push(Lane {
            reasons,
            runs,
            who: several.then(|| entry.name.clone()),
            entry,
            view,
            public,
            appts,
            free,
            free_motive,
        });
    }
    if p.print.is_some() {
        return Ok(print_page(&ctx, &lanes, date, &p));
    }
    let agenda_param = wanted.unwrap_or("all").to_owned();
    let motive_param = p.motive.clone().unwrap_or_default();
    let mut columns = Vec::new();
    let mut d = from;
    for _ in 0..n_days {
        for lane in &lanes {
            columns.push(column(&ctx, lane, d, now, columns.len()));
        }
        match d.tomorrow() {
            Ok(n) => d = n,
            Err(_) => break,
        }
    }
    // One window for all columns, so that rows line up across them.
    let (mut w0, mut w1) = DEFAULT_WINDOW;
    for c in &columns {
        for i in &c.items {
            w0 = w0.min(i.start_min / 60 * 60);
            w1 = w1.max((i.end_min + 59) / 60 * 60);
        }
    }
    let w1 = w1.min(24 * 60);
    let row = |m: i32| 1 + (m - w0).clamp(0, DAY_MIN) / ROW_MIN;
    let shown = p.col.filter(|c| *c < columns.len()).unwrap_or(0);
    for c in &mut columns {
        c.shown = c.index == shown;
        for i in &mut c.items {
            i.row_start = row(i.start_min);
            i.row_end = (1 + (i.end_min - w0 + ROW_MIN - 1).clamp(0, DAY_MIN) / ROW_MIN)
                .max(i.row_start + 1);
        }
        place_in_lanes(&mut c.items);
        if let Some(m) = c.now_row {
            c.now_row = (m >= w0 && m < w1).then(|| row(m));
        }
    }
    let hours = (w0 / 60..w1 / 60)
        .map(|h| HourMark {
            label: format!("{h:02}:00"),
            row_start: row(h * 60),
            row_end: row(h * 60 + 60),
        })
        .collect();
    let step = jiff::Span::new().days(if week { 7 } else { 1 });
    let view_name = if week { "week" } else { "day" };
    let base = format!(
        "/pro/grid?org={org_param}&agenda={agenda_param}&motive={motive_param}&view={view_name}"
    );
    Ok(ctx.page(&GridPage {
        title: if week {
            lang.tf("practitioner.week_of", &[("date", &lang.long_date(from))])
        } else {
            lang.long_date(date)
        },
        orgs: if orgs.len() > 1 {
            orgs.iter()
                .map(|o| Choice {
                    id: o.id.to_string(),
                    label: o.name.clone(),
                    selected: o.id.as_str() == org_param,
                })
                .collect()
        } else {
            Vec::new()
        },
        agendas: all
            .iter()
            .map(|(a, _)| Choice {
                id: a.agenda_id.to_string(),
                label: lane_label(several.then_some(a.name.as_str()), a),
                selected: wanted == Some(a.agenda_id.as_str()),
            })
            .collect(),
        motive_groups: lanes
            .iter()
            .map(|l| MotiveGroup {
                label: lane_label(l.who.as_deref(), &l.entry),
                motives: l
                    .view
                    .motives
                    .iter()
                    .map(|m| Choice {
                        id: m.id.to_string(),
                        label: view::motive_label(lang, &l.public, m),
                        selected: l.free_motive.as_ref().is_some_and(|f| f.id == m.id)
                            && p.motive.as_deref() == Some(m.id.as_str()),
                    })
                    .collect(),
            })
            .collect(),
        here: format!("{base}&date={date}&col={shown}"),
        print_link: format!("/pro/grid?org={org_param}&agenda={agenda_param}&date={date}&print=1"),
        prev: date.checked_sub(step).unwrap_or(date).to_string(),
        next: date.checked_add(step).unwrap_or(date).to_string(),
        today: today.to_string(),
        date: date.to_string(),
        agenda_param,
        org_param,
        motive_param,
        week,
        hours,
        columns,
        window_start: w0,
        ctx: &ctx,
    }))
}

/// A lane's name: its place, after its practitioner's name when the grid shows several.
fn lane_label(who: Option<&str>, e: &DirectoryEntry) -> String {
    match who {
        Some(w) => format!("{w} — {} — {}", e.place.name, e.place.city),
        None => format!("{} — {}", e.place.name, e.place.city),
    }
}

/// Greedy interval partitioning: each item takes the first lane free at its start.
fn place_in_lanes(items: &mut [GridItem]) {
    items.sort_by_key(|i| (i.row_start, i.row_end));
    let mut lane_end = [0i32; MAX_LANES];
    for i in items.iter_mut() {
        let lane = lane_end
            .iter()
            .position(|e| *e <= i.row_start)
            .unwrap_or(MAX_LANES - 1);
        lane_end[lane] = lane_end[lane].max(i.row_end);
        i.lane = lane + 1;
    }
}

fn column(ctx: &Ctx, lane: &Lane, d: Date, now: Timestamp, index: usize) -> GridColumn {
    let lang = ctx.lang;
    let tz = &lane.view.tz;
    let local = |t: Timestamp| t.to_zoned(tz.clone());
    let mut items = Vec::new();
    let agenda = lane.entry.agenda_id.as_str();
    // A lane holds the whole week: skip the other days' items before building their labels.
    let bounds = careslot_core::time::local_days(d, d, tz).ok();
    let on_day = |s: Timestamp, e: Timestamp| bounds.is_some_and(|(ds, de)| s < de && e > ds);
    let mut push = |kind: ItemKind,
                    s: Timestamp,
                    e: Timestamp,
                    label: String,
                    link: Option<String>,
                    id: String,
                    movable: bool,
                    resizable: bool| {
        let Some((a, b)) = day_span(s, e, d, tz) else {
            return;
        };
        let (class, key, sign) = kind.look();
        let zs = local(s);
        items.push(GridItem {
            class,
            state: lang.t(key),
            sign,
            time: lang.time(&zs),
            end: lang.time(&local(e)),
            label,
            link,
            move_link: movable.then(|| format!("/pro/grid/move/{id}")),
            resize_link: (movable && resizable).then(|| format!("/pro/grid/resize/{id}")),
            minutes: e.duration_since(s).as_mins(),
            date: zs.date().to_string(),
            hhmm: format!("{:02}:{:02}", zs.hour(), zs.minute()),
            id,
            row_start: 0,
            row_end: 0,
            lane: 1,
            start_min: a,
            end_min: b,
        });
    };
    for (a, who) in lane
        .appts
        .iter()
        .filter(|(a, _)| on_day(a.row.start, a.row.end))
    {
        let kind = ItemKind::of(&a.row);
        let motive = lane
            .view
            .motive(&a.motive_id)
            .map(|m| view::motive_label(lang, &lane.public, m))
            .unwrap_or_default();
        let name = who
            .name
            .clone()
            .unwrap_or_else(|| lang.t("desk.anonymous").to_owned());
        push(
            kind,
            a.row.start,
            a.row.end,
            format!("{name} · {motive}"),
            lane.runs.then(|| format!("/pro/appointments/{}", a.row.id)),
            a.row.id.to_string(),
            lane.runs && kind == ItemKind::Booked && a.row.start > now,
            lane.view
                .motive(&a.motive_id)
                .is_some_and(|m| m.capacity == 1 && lane.view.vaccine(&m.id).is_none()),
        );
    }
    for r in lane.view.occupancy.holds() {
        if r.expires_at.is_some_and(|e| e > now) {
            push(
                ItemKind::Hold,
                r.start,
                r.end,
                lang.t("desk.hold").to_owned(),
                None,
                String::new(),
                false,
                false,
            );
        }
    }
    for ab in &lane.view.absences {
        push(
            ItemKind::Absence,
            ab.start,
            ab.end,
            lane.reasons
                .get(&ab.id)
                .cloned()
                .unwrap_or_else(|| lang.t("desk.absence").to_owned()),
            None,
            String::new(),
            false,
            false,
        );
    }
    if let Some(m) = lane.free_motive.as_ref().filter(|_| lane.runs) {
        let motive = view::motive_label(lang, &lane.public, m);
        for s in lane.free.iter().filter(|s| on_day(s.start, s.end)) {
            let start = view::instant_rfc3339(s.start, tz);
            push(
                ItemKind::Free,
                s.start,
                s.end,
                format!("{} · {motive}", lang.t("grid.book_here")),
                Some(format!(
                    "/pro/agenda/book?agenda={agenda}&motive={}&start={}",
                    m.id,
                    encode(&start)
                )),
                String::new(),
                false,
                false,
            );
        }
    }
    let zn = local(now);
    GridColumn {
        index,
        heading: lang.long_date(d),
        sub: lane_label(lane.who.as_deref(), &lane.entry),
        date: d.to_string(),
        agenda_id: agenda.to_owned(),
        zone: lane.view.agenda.timezone.clone(),
        shown: false,
        items,
        now_row: (zn.date() == d).then(|| minute_of_day(&zn)),
        now_label: lang.tf("grid.now", &[("time", &lang.time(&zn))]),
    }
}

fn print_page(ctx: &Ctx, lanes: &[Lane], date: Date, p: &GridParams) -> axum::response::Response {
    let lang = ctx.lang;
    let mut rows: Vec<(Timestamp, PrintRow)> = Vec::new();
    for lane in lanes {
        let tz = &lane.view.tz;
        for (a, who) in &lane.appts {
            let z = a.row.start.to_zoned(tz.clone());
            if z.date() != date {
                continue;
            }
            let (_, key, sign) = ItemKind::of(&a.row).look();
            rows.push((
                a.row.start,
                PrintRow {
                    time: lang.time(&z),
                    end: lang.time(&a.row.end.to_zoned(tz.clone())),
                    name: who
                        .name
                        .clone()
                        .unwrap_or_else(|| lang.t("desk.anonymous").to_owned()),
                    phone: who.phone.clone().unwrap_or_default(),
                    motive: lane
                        .view
                        .motive(&a.motive_id)
                        .map(|m| view::motive_label(lang, &lane.public, m))
                        .unwrap_or_default(),
                    place: lane.entry.place.name.clone(),
                    state: lang.t(key),
                    sign,
                },
            ));
        }
    }
    rows.sort_by_key(|(t, _)| *t);
    ctx.page(&PrintPage {
        ctx,
        title: lang.long_date(date),
        rows: rows.into_iter().map(|(_, r)| r).collect(),
        back: format!(
            "/pro/grid?agenda={}&date={date}",
            p.agenda.as_deref().unwrap_or("all")
        ),
    })
}

#[derive(Template)]
#[template(path = "grid_move.html")]
struct MovePage<'a> {
    ctx: &'a Ctx,
    id: String,
    patient: String,
    when: String,
    motive: String,
    date: String,
    time: String,
    back: String,
    error: Option<&'static str>,
}

#[derive(Deserialize, Default)]
pub struct MoveParams {
    back: Option<String>,
    date: Option<String>,
    time: Option<String>,
}

async fn render_move(
    ctx: &Ctx,
    id: &str,
    back: &str,
    wanted: Option<(String, String)>,
    error: Option<&'static str>,
) -> PageResult {
    let caller = ctx.caller()?;
    let d = ctx.ok(ctx.app.desk_appointment(caller, id).await)?;
    let a = &d.appointment;
    let public = ctx.ok(ctx.app.public_agenda(&a.row.agenda_id).await)?;
    let v = &public.view;
    let z = a.row.start.to_zoned(v.tz.clone());
    let (date, time) = wanted.unwrap_or_else(|| {
        (
            z.date().to_string(),
            format!("{:02}:{:02}", z.hour(), z.minute()),
        )
    });
    let page = ctx.page(&MovePage {
        ctx,
        id: id.to_owned(),
        patient: d
            .patient_name
            .clone()
            .unwrap_or_else(|| ctx.t("desk.anonymous").to_owned()),
        when: ctx.lang.date_time(&z),
        motive: v
            .motive(&a.motive_id)
            .map(|m| view::motive_label(ctx.lang, &public, m))
            .unwrap_or_default(),
        date,
        time,
        back: back.to_owned(),
        error,
    });
    Ok(if error.is_some() {
        (StatusCode::CONFLICT, page).into_response()
    } else {
        page
    })
}

fn back_of(back: Option<&str>) -> String {
    back.map(safe_path)
        .filter(|b| b.starts_with("/pro/"))
        .unwrap_or("/pro/grid")
        .to_owned()
}

pub async fn move_page(
    ctx: Ctx,
    Path(id): Path<String>,
    Query(q): Query<MoveParams>,
) -> PageResult {
    let back = back_of(q.back.as_deref());
    let wanted = q.date.zip(q.time);
    render_move(&ctx, &id, &back, wanted, None).await
}

/// The local date and time given, in the agenda's zone, as an instant.
fn instant_of(date: &str, time: &str, tz: &TimeZone) -> Option<Timestamp> {
    let d: Date = date.trim().parse().ok()?;
    let t: Time = time.trim().parse().ok()?;
    d.to_datetime(t)
        .to_zoned(tz.clone())
        .ok()
        .map(|z| z.timestamp())
}

pub async fn move_to(mut ctx: Ctx, Path(id): Path<String>, form: Form) -> PageResult {
    let caller = ctx.caller()?.clone();
    let back = back_of(form.opt("back"));
    let (date, time) = (form.text("date").to_owned(), form.text("time").to_owned());
    let d = ctx.ok(ctx.app.desk_appointment(&caller, &id).await)?;
    let view = ctx.ok(ctx
        .app
        .desk_view(&caller, &d.appointment.row.agenda_id)
        .await)?;
    let wanted = Some((date.clone(), time.clone()));
    let Some(start) = instant_of(&date, &time, &view.tz) else {
        return render_move(&ctx, &id, &back, wanted, Some("grid.bad_time")).await;
    };
    let start = view::instant_rfc3339(start, &view.tz);
    match ctx.app.desk_move(&caller, &id, &start).await {
        Ok(_) => Ok(ctx.redirect_with(&back, "flash.grid_moved")),
        Err(e) => match move_message(&e) {
            Some(key) => render_move(&ctx, &id, &back, wanted, Some(key)).await,
            None => Err(ctx.fail(e)),
        },
    }
}

/// The words for a refused move; `None`: not the visitor's doing (an error page).
fn move_message(e: &AppError) -> Option<&'static str> {
    use careslot_store::StoreError;
    match e {
        AppError::Conflict("slot-taken", _) | AppError::Store(StoreError::Conflict(_)) => {
            Some("grid.taken")
        }
        AppError::Conflict("already-started", _) => Some("grid.started"),
        AppError::Conflict("vaccination-move", _) => Some("grid.vaccination"),
        AppError::Conflict(..) => Some("grid.not_a_slot"),
        AppError::Invalid(_) => Some("grid.bad_time"),
        _ => None,
    }
}

#[derive(Template)]
#[template(path = "grid_resize.html")]
struct ResizePage<'a> {
    ctx: &'a Ctx,
    id: String,
    patient: String,
    when: String,
    motive: String,
    now_text: String,
    minutes: String,
    back: String,
    error: Option<&'static str>,
}

#[derive(Deserialize, Default)]
pub struct ResizeParams {
    back: Option<String>,
    minutes: Option<String>,
}

async fn render_resize(
    ctx: &Ctx,
    id: &str,
    back: &str,
    wanted: Option<String>,
    error: Option<&'static str>,
) -> PageResult {
    let caller = ctx.caller()?;
    let d = ctx.ok(ctx.app.desk_appointment(caller, id).await)?;
    let a = &d.appointment;
    let public = ctx.ok(ctx.app.public_agenda(&a.row.agenda_id).await)?;
    let v = &public.view;
    let z = a.row.start.to_zoned(v.tz.clone());
    let minutes = a.row.end.duration_since(a.row.start).as_mins();
    let page = ctx.page(&ResizePage {
        ctx,
        id: id.to_owned(),
        patient: d
            .patient_name
            .clone()
            .unwrap_or_else(|| ctx.t("desk.anonymous").to_owned()),
        when: ctx.lang.date_time(&z),
        motive: v
            .motive(&a.motive_id)
            .map(|m| view::motive_label(ctx.lang, &public, m))
            .unwrap_or_default(),
        now_text: ctx.lang.tf(
            "grid.resize_now",
            &[
                ("minutes", &minutes.to_string()),
                ("end", &ctx.lang.time(&a.row.end.to_zoned(v.tz.clone()))),
            ],
        ),
        minutes: wanted.unwrap_or_else(|| minutes.to_string()),
        back: back.to_owned(),
        error,
    });
    Ok(if error.is_some() {
        (StatusCode::CONFLICT, page).into_response()
    } else {
        page
    })
}

/// The keyboard's and script-free way to change an appointment's length (the grid's resize
/// handle confirms onto the same form).
pub async fn resize_page(
    ctx: Ctx,
    Path(id): Path<String>,
    Query(q): Query<ResizeParams>,
) -> PageResult {
    let back = back_of(q.back.as_deref());
    render_resize(&ctx, &id, &back, q.minutes, None).await
}

pub async fn resize_to(mut ctx: Ctx, Path(id): Path<String>, form: Form) -> PageResult {
    let caller = ctx.caller()?.clone();
    let back = back_of(form.opt("back"));
    let wanted = form.text("minutes").trim().to_owned();
    let Ok(minutes) = wanted.parse::<u32>() else {
        return render_resize(&ctx, &id, &back, Some(wanted), Some("grid.bad_length")).await;
    };
    match ctx.app.desk_resize(&caller, &id, minutes).await {
        Ok(_) => Ok(ctx.redirect_with(&back, "flash.grid_resized")),
        Err(e) => match resize_message(&e) {
            Some(key) => render_resize(&ctx, &id, &back, Some(wanted), Some(key)).await,
            None => Err(ctx.fail(e)),
        },
    }
}

/// The words for a refused length; `None`: not the visitor's doing (an error page).
fn resize_message(e: &AppError) -> Option<&'static str> {
    use careslot_store::{ConflictKind, StoreError};
    match e {
        AppError::Conflict("slot-taken", _)
        | AppError::Store(StoreError::Conflict(ConflictKind::SlotTaken)) => Some("grid.taken"),
        AppError::Conflict("already-started", _) => Some("grid.resize_started"),
        AppError::Conflict("shared-slot", _)
        | AppError::Store(StoreError::Conflict(ConflictKind::CapacityExhausted)) => {
            Some("grid.resize_shared")
        }
        AppError::Conflict("closed", _) => Some("grid.resize_closed"),
        AppError::Conflict("outside-hours", _) => Some("grid.resize_outside"),
        AppError::Invalid(_) => Some("grid.bad_length"),
        _ => None,
    }
}
