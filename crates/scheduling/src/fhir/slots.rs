//! Slots: the starts of a motive, `free` (bookable now, as `GET /api/v1/agendas/{id}/slots`
//! lists them) or `busy` (every place booked or held), with the SMART feed's ids
//! (`{motive}.{epoch seconds}`) and extensions. Computed from the live availability views.

use super::directory::{self as dir, codes, Agenda};
use super::params::{reference_id, token_matches, Query, Range};
use super::search::page;
use super::{fhir, reference};
use crate::api::bulk_publish::base_url;
use crate::api::extract::ApiPath;
use crate::publish::{EXT_BOOKING_DEEP_LINK, EXT_SLOT_CAPACITY};
use crate::{AppError, Scheduling};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use careslot_core::availability::AgendaView;
use careslot_core::error::ApiError;
use careslot_core::time::format_instant;
use careslot_domain::availability::{Occupancy, Slot};
use careslot_domain::Motive;
use jiff::civil::Date;
use jiff::{SignedDuration, Timestamp};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::sync::Arc;

/// Longest `start` range of one search, in days (the slots API's limit), and the range
/// searched when no upper end is given.
pub const MAX_DAYS: i64 = 31;
pub const DEFAULT_DAYS: i64 = 7;

/// FHIR's Slot status codes; careslot gives `free` and `busy`.
const STATUSES: [&str; 5] = [
    "free",
    "busy",
    "busy-unavailable",
    "busy-tentative",
    "entered-in-error",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Free,
    Busy,
}

impl Status {
    pub fn code(self) -> &'static str {
        match self {
            Status::Free => "free",
            Status::Busy => "busy",
        }
    }
}

/// A start of a motive: free with the places left, or busy with the places it has.
#[derive(Debug, Clone, Copy)]
pub struct Start {
    pub slot: Slot,
    pub status: Status,
    pub places: u32,
}

pub fn slot_id(m: &Motive, start: Timestamp) -> String {
    format!("{}.{}", m.id, start.as_second())
}

/// The motive id and start of a Slot id.
pub fn parse_slot_id(id: &str) -> Option<(&str, Timestamp)> {
    let (motive, secs) = id.rsplit_once('.')?;
    if secs.is_empty() || secs.len() > 12 || !secs.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let start = Timestamp::from_second(secs.parse().ok()?).ok()?;
    Some((motive, start))
}

/// The starts of `m` on local days `from..=to`, in time order.
pub fn starts(view: &AgendaView, m: &Motive, from: Date, to: Date, now: Timestamp) -> Vec<Start> {
    let free = view.slots(m, from, to, now);
    let free_starts: BTreeSet<Timestamp> = free.iter().map(|s| s.start).collect();
    let mut out: Vec<Start> = free
        .into_iter()
        .map(|slot| Start {
            slot,
            status: Status::Free,
            places: slot.remaining,
        })
        .collect();
    let nobody = Occupancy::default();
    for s in view.calendar.slots(m, &nobody, from, to, now) {
        if free_starts.contains(&s.start) {
            continue;
        }
        let day = s.start.to_zoned(view.tz.clone()).date();
        let places = view.motive_on(m, day);
        // A start hidden for want of vaccine doses has places, just nothing to give: not busy.
        if view.occupancy.remaining(&places, s.start, s.end, now) > 0 {
            continue;
        }
        out.push(Start {
            slot: s,
            status: Status::Busy,
            places: places.capacity.max(1),
        });
    }
    out.sort_by_key(|s| s.slot.start);
    out
}

/// The Slot resource of a start (the SMART feed's shape, with the service's codings).
pub fn resource(site: &str, a: &Agenda, m: &Motive, s: &Start) -> Value {
    let tz = &a.view.tz;
    let mut extension = Vec::new();
    if s.status == Status::Free {
        let day = s.slot.start.to_zoned(tz.clone()).date();
        extension.push(json!({
            "url": EXT_BOOKING_DEEP_LINK,
            "valueUrl": format!("{site}/p/{}?motive={}&week={day}", a.view.agenda.id, m.id),
        }));
    }
    extension.push(json!({"url": EXT_SLOT_CAPACITY, "valueInteger": s.places}));
    json!({
        "resourceType": "Slot",
        "id": slot_id(m, s.slot.start),
        "schedule": reference("Schedule", m.id.as_str()),
        "serviceType": [{"coding": a.service_codings(m)}],
        "specialty": [a.specialty()],
        "status": s.status.code(),
        "start": format_instant(s.slot.start, tz),
        "end": format_instant(s.slot.end, tz),
        "extension": extension,
    })
}

/// The start a Slot id names, if the agenda has it now (free or busy).
pub async fn find(app: &Scheduling, id: &str) -> Result<(Agenda, Motive, Start), AppError> {
    let (motive, start) = parse_slot_id(id).ok_or(AppError::NotFound("slot"))?;
    let (a, m) = dir::motive(app, motive).await.map_err(|e| match e {
        AppError::NotFound(_) => AppError::NotFound("slot"),
        e => e,
    })?;
    let day = start.to_zoned(a.view.tz.clone()).date();
    let found = starts(&a.view, &m, day, day, Timestamp::now())
        .into_iter()
        .find(|s| s.slot.start == start)
        .ok_or(AppError::NotFound("slot"))?;
    Ok((a, m, found))
}

pub async fn read(
    State(app): State<Arc<Scheduling>>,
    headers: HeaderMap,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    let (a, m, s) = find(&app, &id).await?;
    Ok(fhir(
        StatusCode::OK,
        &resource(&base_url(&headers), &a, &m, &s),
    ))
}

/// Local days covering `[from, until)` in the agenda's zone.
pub fn days(view: &AgendaView, from: Timestamp, until: Timestamp) -> (Date, Date) {
    let last = until
        .checked_sub(SignedDuration::from_secs(1))
        .unwrap_or(until)
        .max(from);
    (
        from.to_zoned(view.tz.clone()).date(),
        last.to_zoned(view.tz.clone()).date(),
    )
}

/// The starts within `range` of the motives that `q`'s `schedule`, `service-type`,
/// `specialty` and `_id` select, on the directory rows `keep_row` keeps, those `keep` keeps,
/// each made into a resource by `make`, in time order (then by id). Shared by Slot search
/// and `$find`.
pub async fn matching(
    app: &Scheduling,
    q: &Query,
    range: &Range,
    now: Timestamp,
    keep_row: impl Fn(&careslot_core::search::Indexed) -> bool,
    keep: impl Fn(&Motive, &Start) -> bool,
    make: impl Fn(&Agenda, &Motive, &Start) -> Value,
) -> Result<Vec<(Timestamp, Value)>, ApiError> {
    let rows = dir::agendas(app, keep_row).await?;
    let mut found: Vec<(Timestamp, Value)> = Vec::new();
    for a in &rows {
        let (from, until) = range.resolve(&a.view.tz, now, DEFAULT_DAYS);
        if from >= until {
            continue;
        }
        let (d0, d1) = days(&a.view, from, until);
        for m in a.motives() {
            let codings = a.service_codings(m);
            let types = codes(&codings);
            let specialty = [(super::SPECIALTY_SYSTEM, a.entry.entry.specialty.code())];
            let chosen = q.each_any("schedule", |_, v| {
                reference_id(v, "Schedule") == Some(m.id.as_str())
            }) && q.each_any("service-type", |_, v| token_matches(v, &types))
                && q.each_any("specialty", |_, v| token_matches(v, &specialty))
                && q.each_any("_id", |_, v| {
                    parse_slot_id(v.trim()).is_some_and(|(mid, _)| mid == m.id.as_str())
                });
            if !chosen {
                continue;
            }
            for s in starts(&a.view, m, d0, d1, now) {
                let t = s.slot.start;
                if t >= from && t < until && keep(m, &s) {
                    found.push((t, make(a, m, &s)));
                }
            }
        }
    }
    found.sort_by(|x, y| {
        x.0.cmp(&y.0)
            .then_with(|| x.1["id"].as_str().cmp(&y.1["id"].as_str()))
    });
    Ok(found)
}

/// Slots of a search: `schedule`, `service-type`, `specialty`, `status`, `start`, `_id`.
pub async fn search(
    State(app): State<Arc<Scheduling>>,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response, ApiError> {
    let q = Query::parse(
        uri.query(),
        &[
            ("_id", &[]),
            ("schedule", &[]),
            ("service-type", &[]),
            ("specialty", &[]),
            ("status", &[]),
            ("start", &[]),
        ],
    )?;
    if q.all("status")
        .any(|p| p.value.split(',').any(|v| !STATUSES.contains(&v.trim())))
    {
        return Err(ApiError::bad_request(
            "status: one of free, busy, busy-unavailable, busy-tentative, entered-in-error",
        ));
    }
    let now = Timestamp::now();
    let range = Range::parse(&q, "start")?;
    range.check_span("start", now, MAX_DAYS)?;
    let ids: Vec<(String, Timestamp)> = q
        .all("_id")
        .flat_map(|p| p.value.split(','))
        .map(|v| {
            parse_slot_id(v.trim())
                .map(|(m, t)| (m.to_owned(), t))
                .ok_or_else(|| ApiError::bad_request("_id: not a Slot id"))
        })
        .collect::<Result<_, _>>()?;
    let site = base_url(&headers);
    let found = matching(
        &app,
        &q,
        &range,
        now,
        |_| true,
        |m, s| {
            q.each_any("status", |_, v| v == s.status.code())
                && (ids.is_empty()
                    || ids
                        .iter()
                        .any(|(mid, st)| mid == m.id.as_str() && *st == s.slot.start))
        },
        |a, m, s| resource(&site, a, m, s),
    )
    .await?;
    let all = found.into_iter().map(|(_, r)| r).collect();
    Ok(page(&headers, "Slot", &q, all))
}
