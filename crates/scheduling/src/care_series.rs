//! Recurring care (issue 18 point 5): the desk books a series of appointments (e.g.
//! physiotherapy on Tuesdays and Thursdays for six weeks) all or none. The dates come from a
//! rule (weekdays, every N weeks, a count or an end date); the desk sees them with those
//! that are not free before booking, skips those it chooses, and the store books the rest in
//! one transaction of the booking writer, under the same overlap rules as any booking.

use super::{AppError, AppResult, Appointment, Caller, DeskPatient, Scheduling};
use crate::event_messages::{SeriesDoseInfo, SeriesEvent};
use careslot_core::time::parse_instant;
use careslot_domain::availability::Unavailable;
use careslot_domain::*;
use careslot_store::*;
use jiff::civil::{Date, Weekday};
use jiff::{Timestamp, ToSpan};

/// Most occurrences in one series (a year of weekly care).
pub const MAX_OCCURRENCES: usize = 52;
/// How far ahead of its first date a series may run.
const MAX_SPAN_DAYS: i32 = 366;

/// The weekday codes of a rule, Monday first.
pub const WEEKDAY_CODES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// When a series stops: after a number of occurrences, or on a date (included).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeriesEnd {
    Count(u16),
    Until(Date),
}

/// Which dates a series takes, from its first one on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeriesRule {
    /// Monday first, no duplicates, never empty.
    pub weekdays: Vec<Weekday>,
    /// 1 (every week) to 4.
    pub every_weeks: u8,
    pub end: SeriesEnd,
}

fn weekday_code(w: Weekday) -> &'static str {
    WEEKDAY_CODES[w.to_monday_zero_offset() as usize]
}

impl SeriesRule {
    /// A rule from the form's or the API's fields. Empty `weekdays`: the first date's.
    /// Exactly one of `count` and `until` (`YYYY-MM-DD`).
    pub fn parse(
        weekdays: &[String],
        every_weeks: Option<i64>,
        count: Option<i64>,
        until: Option<&str>,
    ) -> Result<Self, DomainError> {
        let mut days = Vec::new();
        for w in weekdays {
            let w = w.trim().to_ascii_lowercase();
            let Some(i) = WEEKDAY_CODES.iter().position(|c| *c == w) else {
                return Err(DomainError::new(
                    "weekdays",
                    "weekdays are mon, tue, wed, thu, fri, sat, sun",
                ));
            };
            let day = Weekday::from_monday_zero_offset(i as i8)
                .map_err(|_| DomainError::new("weekdays", "not a weekday"))?;
            if !days.contains(&day) {
                days.push(day);
            }
        }
        days.sort_by_key(|d| d.to_monday_zero_offset());
        let every_weeks = every_weeks.unwrap_or(1);
        let every_weeks = u8::try_from(every_weeks)
            .ok()
            .filter(|n| (1..=4).contains(n))
            .ok_or_else(|| DomainError::new("every_weeks", "must be between 1 and 4"))?;
        let until = until.map(str::trim).filter(|u| !u.is_empty());
        let end = match (count, until) {
            (Some(n), None) => SeriesEnd::Count(
                u16::try_from(n)
                    .ok()
                    .filter(|n| (1..=MAX_OCCURRENCES as u16).contains(n))
                    .ok_or_else(|| {
                        DomainError::new("count", "must be between 1 and 52 occurrences")
                    })?,
            ),
            (None, Some(u)) => SeriesEnd::Until(
                u.parse()
                    .map_err(|_| DomainError::new("until", "must be a date, YYYY-MM-DD"))?,
            ),
            _ => {
                return Err(DomainError::new(
                    "count",
                    "give either a number of occurrences or an end date",
                ))
            }
        };
        Ok(Self {
            weekdays: days,
            every_weeks,
            end,
        })
    }

    /// What the store keeps: weekdays, interval and end, never health data.
    pub fn summary(&self) -> String {
        let days: Vec<&str> = self.weekdays.iter().map(|w| weekday_code(*w)).collect();
        let end = match self.end {
            SeriesEnd::Count(n) => format!("count={n}"),
            SeriesEnd::Until(d) => format!("until={d}"),
        };
        format!("weekly:{}:{}:{end}", self.every_weeks, days.join(","))
    }

    /// The dates from `first` on: the rule's weekdays of every `every_weeks`-th week counted
    /// from `first`'s week, until the end. The first date must be one of the weekdays (an
    /// empty list takes its weekday).
    pub fn dates(&self, first: Date) -> Result<Vec<Date>, DomainError> {
        let weekdays = if self.weekdays.is_empty() {
            vec![first.weekday()]
        } else {
            self.weekdays.clone()
        };
        if !weekdays.contains(&first.weekday()) {
            return Err(DomainError::new(
                "weekdays",
                "the first appointment must fall on one of the weekdays",
            ));
        }
        let last = first
            .checked_add(MAX_SPAN_DAYS.days())
            .map_err(|_| DomainError::new("start", "out of range"))?;
        if let SeriesEnd::Until(u) = self.end {
            if u < first || u > last {
                return Err(DomainError::new(
                    "until",
                    "must be between the first appointment and a year later",
                ));
            }
        }
        let monday = first
            .checked_sub(i32::from(first.weekday().to_monday_zero_offset()).days())
            .map_err(|_| DomainError::new("start", "out of range"))?;
        let mut dates = Vec::new();
        let mut week = 0i32;
        'weeks: loop {
            for w in &weekdays {
                let offset = week * 7 + i32::from(w.to_monday_zero_offset());
                let d = monday
                    .checked_add(offset.days())
                    .map_err(|_| DomainError::new("start", "out of range"))?;
                if d < first {
                    continue;
                }
                let past_end = match self.end {
                    SeriesEnd::Count(n) => dates.len() >= usize::from(n),
                    SeriesEnd::Until(u) => d > u,
                };
                if past_end || d > last {
                    break 'weeks;
                }
                if dates.len() == MAX_OCCURRENCES {
                    return Err(DomainError::new(
                        "until",
                        "a series has at most 52 appointments",
                    ));
                }
                dates.push(d);
            }
            week += i32::from(self.every_weeks);
        }
        Ok(dates)
    }
}

/// Whether a date of a planned series can be booked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OccurrenceState {
    Free,
    /// Another appointment has that time.
    Taken,
    /// Outside the motive's hours, or the practice is closed that day.
    Closed,
    /// The secretary chose to leave this date out.
    Skipped,
}

impl OccurrenceState {
    pub fn code(self) -> &'static str {
        match self {
            Self::Free => "free",
            Self::Taken => "taken",
            Self::Closed => "closed",
            Self::Skipped => "skipped",
        }
    }
}

/// One date of a planned series.
#[derive(Debug, Clone)]
pub struct PlannedOccurrence {
    pub date: Date,
    pub start: Timestamp,
    pub end: Timestamp,
    pub state: OccurrenceState,
}

/// A planned series: the motive, the dates and what stands in the way.
#[derive(Debug, Clone)]
pub struct SeriesPlan {
    pub motive: Motive,
    pub occurrences: Vec<PlannedOccurrence>,
}

impl SeriesPlan {
    /// The dates that are neither free nor skipped.
    pub fn conflicts(&self) -> Vec<&PlannedOccurrence> {
        self.occurrences
            .iter()
            .filter(|o| matches!(o.state, OccurrenceState::Taken | OccurrenceState::Closed))
            .collect()
    }
}

/// What booking a series did: booked, or nothing because of these dates.
pub enum SeriesBooking {
    Booked(DeskSeries),
    Conflicts(Vec<PlannedOccurrence>),
}

/// A series as the practice sees it, its appointments by start.
#[derive(Debug, Clone)]
pub struct DeskSeries {
    pub id: String,
    pub agenda_id: AgendaId,
    pub rule: String,
    pub created_at: Timestamp,
    pub occurrences: Vec<Appointment>,
}

impl DeskSeries {
    /// The 1-based position of an appointment in the series, with the series' size.
    pub fn position(&self, id: &ReservationId) -> Option<(usize, usize)> {
        self.occurrences
            .iter()
            .position(|a| &a.row.id == id)
            .map(|i| (i + 1, self.occurrences.len()))
    }
}

impl Scheduling {
    /// The dates of a series of `motive` from `start` under `rule` in one of the caller's
    /// agendas, each with whether it can be booked (the practice books inside its own
    /// notice period and beyond the online horizon); `skip`ped dates are marked so.
    pub async fn desk_series_plan(
        &self,
        caller: &Caller,
        agenda: &AgendaId,
        motive: &str,
        start: &str,
        rule: &SeriesRule,
        skip: &[Date],
    ) -> AppResult<SeriesPlan> {
        self.own_agenda(caller, agenda).await?;
        let start = parse_instant("start", start)?;
        let view = self.view(agenda).await?;
        let mut motive = view
            .motive(&MotiveId(motive.to_owned()))
            .ok_or(AppError::NotFound("motive"))?
            .clone();
        motive.policy.min_notice_min = 0;
        motive.policy.max_horizon_days =
            motive.policy.max_horizon_days.max(MAX_SPAN_DAYS as u32 + 1);
        let first = start.to_zoned(view.tz.clone());
        let now = Timestamp::now();
        if start <= now {
            return Err(DomainError::new("start", "must be in the future").into());
        }
        let mut occurrences = Vec::new();
        for date in rule.dates(first.date())? {
            let at = date
                .to_datetime(first.time())
                .to_zoned(view.tz.clone())
                .map_err(|_| DomainError::new("start", "out of range"))?
                .timestamp();
            let state = if skip.contains(&date) {
                OccurrenceState::Skipped
            } else {
                match view.check_start(&motive, at, now) {
                    Ok(_) => OccurrenceState::Free,
                    Err(Unavailable::Full) => OccurrenceState::Taken,
                    Err(_) => OccurrenceState::Closed,
                }
            };
            let end = at
                .checked_add(jiff::SignedDuration::from_mins(i64::from(
                    motive.duration.get(),
                )))
                .map_err(|_| DomainError::new("start", "out of range"))?;
            occurrences.push(PlannedOccurrence {
                date,
                start: at,
                end,
                state,
            });
        }
        Ok(SeriesPlan {
            motive,
            occurrences,
        })
    }

    /// Books a series for a patient from the desk: every date of the plan but the skipped
    /// ones, all or none. Any date not free (seen here, or by the database) books nothing
    /// and is answered. The patient gets one confirmation naming every date.
    #[allow(clippy::too_many_arguments)]
    pub async fn desk_book_series(
        &self,
        caller: &Caller,
        agenda: &AgendaId,
        motive: &str,
        start: &str,
        rule: &SeriesRule,
        skip: &[Date],
        patient: DeskPatient<'_>,
        note: Option<&str>,
    ) -> AppResult<SeriesBooking> {
        let (me, _) = self.own_agenda(caller, agenda).await?;
        let plan = self
            .desk_series_plan(caller, agenda, motive, start, rule, skip)
            .await?;
        let conflicts = plan.conflicts();
        if !conflicts.is_empty() {
            return Ok(SeriesBooking::Conflicts(
                conflicts.into_iter().cloned().collect(),
            ));
        }
        let booked: Vec<&PlannedOccurrence> = plan
            .occurrences
            .iter()
            .filter(|o| o.state == OccurrenceState::Free)
            .collect();
        if booked.is_empty() {
            return Err(DomainError::new("skip", "every date of the series is skipped").into());
        }
        let note = note.map(str::trim).filter(|n| !n.is_empty());
        if note.is_some_and(|n| n.chars().count() > 2000) {
            return Err(DomainError::new("note", "must be at most 2000 characters").into());
        }
        let patient_id = self.desk_patient(caller, &me, patient).await?;
        let view = self.view(agenda).await?;
        let series_id = uuid::Uuid::now_v7().to_string();
        let mut occurrences = Vec::with_capacity(booked.len());
        for o in &booked {
            occurrences.push(
                self.sealed_request(&patient_id, &view, plan.motive.id.clone(), o.start, note)
                    .await?,
            );
        }
        // One message for the whole series (every date in it), and a reminder before each.
        let infos: Vec<SeriesDoseInfo<'_>> = occurrences
            .iter()
            .zip(&booked)
            .map(|(r, o)| SeriesDoseInfo {
                view: &view,
                id: &r.id,
                start: o.start,
                end: o.end,
            })
            .collect();
        let outbox = self
            .care_series_outbox(&patient_id, &series_id, SeriesEvent::Booked, &infos)
            .await;
        let req = CareSeriesRequest {
            id: series_id.clone(),
            agenda_id: agenda.clone(),
            created_by: caller.id.clone(),
            rule: rule.summary(),
            occurrences,
            now: Timestamp::now(),
            outbox,
        };
        let out = self.store.book_care_series(&req).await;
        self.agendas.invalidate(agenda);
        match out? {
            CareSeriesOutcome::Conflicts(indices) => {
                Ok(SeriesBooking::Conflicts(taken(&indices, |i| {
                    booked.get(i).copied()
                })))
            }
            CareSeriesOutcome::Booked(_) => {
                self.wake_outbox(&req.outbox);
                if let Err(e) = self.file_in_directory(&me.id, &patient_id).await {
                    tracing::warn!(error = %e, "a series' patient could not be filed in the directory");
                }
                Ok(SeriesBooking::Booked(
                    self.desk_series(caller, &req.id).await?,
                ))
            }
        }
    }

    /// A series of one of the caller's agendas; anything else is unknown.
    pub async fn desk_series(&self, caller: &Caller, id: &str) -> AppResult<DeskSeries> {
        let series = self
            .store
            .care_series(id)
            .await?
            .ok_or(AppError::NotFound("series"))?;
        self.open_series(caller, series).await
    }

    /// The series an appointment of the caller's agendas belongs to, if any.
    pub async fn desk_series_of(
        &self,
        caller: &Caller,
        appointment: &ReservationId,
    ) -> AppResult<Option<DeskSeries>> {
        match self.store.care_series_of(appointment).await? {
            Some(s) => Ok(Some(self.open_series(caller, s).await?)),
            None => Ok(None),
        }
    }

    async fn open_series(&self, caller: &Caller, series: CareSeries) -> AppResult<DeskSeries> {
        self.practice_of(caller).await?;
        let view = self.view(&series.agenda_id).await?;
        if !self.runs(caller, &view.agenda).await? {
            return Err(AppError::NotFound("series"));
        }
        let mut occurrences = Vec::with_capacity(series.occurrences.len());
        for row in series.occurrences {
            occurrences.push(self.open_reservation(row).await?);
        }
        Ok(DeskSeries {
            id: series.id,
            agenda_id: series.agenda_id,
            rule: series.rule,
            created_at: series.created_at,
            occurrences,
        })
    }

    /// Cancels the series' booked appointments from `from` on (all future ones when
    /// `None`), in one transaction: past ones stay. The patient gets ONE message listing the
    /// cancelled dates; the practice's webhooks hear of each. Returns the series as it is now
    /// and what was cancelled.
    pub async fn cancel_desk_series(
        &self,
        caller: &Caller,
        id: &str,
        from: Option<Timestamp>,
    ) -> AppResult<(DeskSeries, Vec<ReservationId>)> {
        let series = self.desk_series(caller, id).await?;
        let now = Timestamp::now();
        let from = from.unwrap_or(now).max(now);
        let view = self.view(&series.agenda_id).await?;
        // What the store cancels: booked, from `from` on, the patient not arrived.
        let going: Vec<(&Appointment, Timestamp, Timestamp)> = series
            .occurrences
            .iter()
            .filter(|a| {
                a.row.status == ReservationStatus::Booked
                    && a.row.start >= from
                    && a.row.visit_step() == VisitStep::Booked
            })
            .map(|a| (a, a.row.start, a.row.end))
            .collect();
        let outbox = self
            .series_event_outbox(&series.id, &view, SeriesEvent::Cancelled, &going)
            .await;
        let out = self
            .store
            .cancel_care_series(&series.id, from, now, &outbox)
            .await;
        self.agendas.invalidate(&series.agenda_id);
        let cancelled: Vec<ReservationId> = out?.into_iter().map(|r| r.id).collect();
        if !cancelled.is_empty() {
            self.wake_outbox(&outbox);
        }
        for c in &cancelled {
            // A teleconsultation paid online is refunded like any practice cancellation.
            self.release_or_log(c).await;
        }
        Ok((self.desk_series(caller, id).await?, cancelled))
    }

    /// Moves the series' booked appointments from `from` on (all future ones when `None`)
    /// by `shift`, all or none in one transaction: when a new time is outside the hours or
    /// taken (by anyone but the series itself), nothing moves and those dates are answered.
    /// The patient gets ONE message with the new dates. Past and started ones stay.
    pub async fn move_desk_series(
        &self,
        caller: &Caller,
        id: &str,
        from: Option<Timestamp>,
        shift: SeriesShift,
    ) -> AppResult<SeriesMove> {
        if shift.days.unsigned_abs() > MAX_SPAN_DAYS as u32 {
            return Err(DomainError::new("days", "at most a year earlier or later").into());
        }
        if shift.days == 0 && shift.time.is_none() {
            return Err(DomainError::new("days", "give a number of days, a time or both").into());
        }
        let series = self.desk_series(caller, id).await?;
        let now = Timestamp::now();
        let from = from.unwrap_or(now).max(now);
        let view = self.view(&series.agenda_id).await?;
        let chosen: Vec<&Appointment> = series
            .occurrences
            .iter()
            .filter(|a| {
                a.row.status == ReservationStatus::Booked
                    && a.row.start >= from
                    && a.row.visit_step() == VisitStep::Booked
            })
            .collect();
        if chosen.is_empty() {
            return Err(
                DomainError::new("from", "no booked appointment of the series to move").into(),
            );
        }
        let mut planned = Vec::with_capacity(chosen.len());
        for a in &chosen {
            let mut motive = view
                .motive(&a.motive_id)
                .ok_or(AppError::NotFound("motive"))?
                .clone();
            // The practice, as when it books the series: its own notice and horizon.
            motive.policy.min_notice_min = 0;
            motive.policy.max_horizon_days = motive
                .policy
                .max_horizon_days
                .max(2 * MAX_SPAN_DAYS as u32 + 1);
            let local = a.row.start.to_zoned(view.tz.clone());
            let date = local
                .date()
                .checked_add(shift.days.days())
                .map_err(|_| DomainError::new("days", "out of range"))?;
            let start = date
                .to_datetime(shift.time.unwrap_or(local.time()))
                .to_zoned(view.tz.clone())
                .map_err(|_| DomainError::new("time", "out of range"))?
                .timestamp();
            let end = start
                .checked_add(a.row.end.duration_since(a.row.start))
                .map_err(|_| DomainError::new("days", "out of range"))?;
            // The calendar here; whether the time is free, the store (the series may move
            // onto times it leaves).
            let fits = view.check_calendar(&motive, start, now).and_then(|slot| {
                if end > slot.end {
                    view.check_span(&motive, start, end, now)
                } else {
                    Ok(())
                }
            });
            let state = match fits {
                _ if start <= now => OccurrenceState::Closed,
                Ok(()) => OccurrenceState::Free,
                Err(Unavailable::Full) => OccurrenceState::Taken,
                Err(_) => OccurrenceState::Closed,
            };
            planned.push(PlannedOccurrence {
                date,
                start,
                end,
                state,
            });
        }
        let closed: Vec<PlannedOccurrence> = planned
            .iter()
            .filter(|p| p.state != OccurrenceState::Free)
            .cloned()
            .collect();
        if !closed.is_empty() {
            return Ok(SeriesMove::Conflicts(closed));
        }
        let moves: Vec<(&Appointment, Timestamp, Timestamp)> = chosen
            .iter()
            .zip(&planned)
            .map(|(a, p)| (*a, p.start, p.end))
            .collect();
        let outbox = self
            .series_event_outbox(&series.id, &view, SeriesEvent::Moved, &moves)
            .await;
        let request: Vec<OccurrenceMove> = moves
            .iter()
            .map(|(a, start, _)| OccurrenceMove {
                id: a.row.id.clone(),
                motive: a.motive_id.clone(),
                start: *start,
            })
            .collect();
        let out = self
            .store
            .move_care_series(&series.id, &request, now, &outbox)
            .await;
        self.agendas.invalidate(&series.agenda_id);
        match out? {
            SeriesMoveOutcome::Conflicts(indices) => {
                Ok(SeriesMove::Conflicts(taken(&indices, |i| planned.get(i))))
            }
            SeriesMoveOutcome::Moved(rows) => {
                self.wake_outbox(&outbox);
                Ok(SeriesMove::Moved(
                    self.desk_series(caller, id).await?,
                    rows.into_iter().map(|r| r.id).collect(),
                ))
            }
        }
    }

    /// The writes of a change to some of a series' appointments (each at its new start
    /// and end): per appointment, the practice's webhook event and the pending messages it
    /// makes stale (reminders, video link) as for a single change, plus the new video link
    /// of a moved teleconsultation; to each patient, ONE message for them all instead of one
    /// per appointment.
    async fn series_event_outbox(
        &self,
        series_id: &str,
        view: &careslot_core::availability::AgendaView,
        event: SeriesEvent,
        changed: &[(&Appointment, Timestamp, Timestamp)],
    ) -> OutboxWrite {
        let mut outbox = OutboxWrite::default();
        let mut patients: Vec<&AccountId> = Vec::new();
        for (a, start, end) in changed {
            let Some(patient) = &a.patient else {
                continue;
            };
            let single = match event {
                SeriesEvent::Moved => crate::notify::Event::Moved {
                    previous_start: a.row.start,
                },
                _ => crate::notify::Event::CancelledByPractice,
            };
            let w = self
                .outbox_for(single, view, patient, &a.row.id, *start, *end)
                .await;
            // Its patient message and desk notice give way to the series' one message.
            outbox.delete_pending.extend(w.delete_pending);
            outbox.webhooks.extend(w.webhooks);
            if event == SeriesEvent::Moved {
                self.add_video_link(
                    &mut outbox,
                    view,
                    &a.motive_id,
                    patient,
                    &a.row.id,
                    *start,
                    *end,
                )
                .await;
            }
            if !patients.contains(&patient) {
                patients.push(patient);
            }
        }
        for patient in patients {
            let infos: Vec<SeriesDoseInfo<'_>> = changed
                .iter()
                .filter(|(a, _, _)| a.patient.as_ref() == Some(patient))
                .map(|(a, start, end)| SeriesDoseInfo {
                    view,
                    id: &a.row.id,
                    start: *start,
                    end: *end,
                })
                .collect();
            let w = self
                .care_series_outbox(patient, series_id, event, &infos)
                .await;
            outbox.enqueue.extend(w.enqueue);
        }
        outbox
    }
}

/// How a series moves: `days` later (earlier when negative), at `time` (local) when given,
/// else at each appointment's own time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeriesShift {
    pub days: i32,
    pub time: Option<jiff::civil::Time>,
}

/// What moving a series did: moved (the series now, and the appointments moved), or
/// nothing because of these new times.
pub enum SeriesMove {
    Moved(DeskSeries, Vec<ReservationId>),
    Conflicts(Vec<PlannedOccurrence>),
}

/// The occurrences at `indices` (of what was asked), marked taken: what the store refused.
fn taken<'a>(
    indices: &[usize],
    at: impl Fn(usize) -> Option<&'a PlannedOccurrence>,
) -> Vec<PlannedOccurrence> {
    indices
        .iter()
        .filter_map(|i| at(*i))
        .map(|o| PlannedOccurrence {
            state: OccurrenceState::Taken,
            ..o.clone()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Date {
        s.parse().unwrap_or_default()
    }

    #[test]
    fn tuesdays_and_thursdays_for_three_weeks() {
        let rule =
            SeriesRule::parse(&["thu".into(), "tue".into()], None, Some(6), None).expect("rule");
        assert_eq!(rule.summary(), "weekly:1:tue,thu:count=6");
        let dates = rule.dates(d("2030-01-08")).expect("dates");
        let want = [
            "2030-01-08",
            "2030-01-10",
            "2030-01-15",
            "2030-01-17",
            "2030-01-22",
            "2030-01-24",
        ];
        assert_eq!(dates, want.map(d).to_vec());
    }

    #[test]
    fn every_other_week_until_a_date_from_a_thursday() {
        let rule = SeriesRule::parse(
            &["tue".into(), "thu".into()],
            Some(2),
            None,
            Some("2030-02-07"),
        )
        .expect("rule");
        let dates = rule.dates(d("2030-01-10")).expect("dates");
        let want = [
            "2030-01-10",
            "2030-01-22",
            "2030-01-24",
            "2030-02-05",
            "2030-02-07",
        ];
        assert_eq!(dates, want.map(d).to_vec());
    }

    #[test]
    fn refusals() {
        assert!(SeriesRule::parse(&[], None, None, None).is_err());
        assert!(SeriesRule::parse(&[], None, Some(53), None).is_err());
        assert!(SeriesRule::parse(&[], Some(5), Some(2), None).is_err());
        assert!(SeriesRule::parse(&["xyz".into()], None, Some(2), None).is_err());
        let tue = SeriesRule::parse(&["tue".into()], None, Some(2), None).expect("rule");
        assert!(tue.dates(d("2030-01-10")).is_err(), "a Thursday start");
        let long = SeriesRule::parse(
            &["mon".into(), "tue".into()],
            None,
            None,
            Some("2030-12-31"),
        )
        .expect("rule");
        assert!(long.dates(d("2030-01-07")).is_err(), "more than 52");
        let empty = SeriesRule::parse(&[], None, Some(3), None).expect("rule");
        assert_eq!(empty.dates(d("2030-01-10")).expect("dates").len(), 3);
    }
}
