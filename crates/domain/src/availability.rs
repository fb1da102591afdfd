//! The availability engine: bookable starts = opening rules − holidays − absences − live
//! reservations, stepped by the motive's duration, respecting capacity, notice and horizon.
//!
//! Semantics (the store's constraints enforce the same ones):
//! - Rules are local wall-clock times expanded per local date in the agenda's zone; a rule
//!   day's first slot starts at the rule's start and slots follow back to back (step = motive
//!   duration) while `slot.end <= rule end`. Arithmetic is on absolute instants between the
//!   zoned start and end of the rule, so DST days are right. A local time that does not exist
//!   (spring-forward gap) resolves with jiff's "compatible" disambiguation.
//! - A slot is dropped when it overlaps an absence (half-open intervals), falls on a public
//!   holiday of `holidays` (by local date of its start), starts before `now + min_notice`, or
//!   starts after `now + max_horizon_days` days.
//! - Reservations (booked appointments and unexpired holds) of the agenda occupy time. An
//!   *exclusive* reservation (motive capacity 1) conflicts with every overlapping slot. A
//!   *pooled* reservation (motive capacity > 1) belongs to the pool identified by its exact
//!   (start, end): a slot with that same (start, end) of a pooled motive has
//!   `remaining = capacity − reservations in the pool`; any other overlapping slot is blocked.
//! - Holds whose `expires_at <= now` are ignored: holds expire by themselves.
//!
//! Details the rules above leave open:
//! - Both bounds are inclusive: a slot may start exactly at `now + min_notice`, and exactly at
//!   `now + max_horizon_days × 24 h` (horizon days are 24-hour days, not calendar days).
//! - A slot belongs to the local date of its start, for query ranges as for holidays. Rules
//!   that produce the same start (same motive, so same end) give a single slot.
//! - Empty absences and reservations (`end <= start`) occupy nothing.

use crate::{Country, Motive, OpeningRule};
use jiff::civil::{Date, Time};
use jiff::tz::{Offset, TimeZone};
use jiff::{SignedDuration, Timestamp};
use std::borrow::Cow;

const SECONDS_PER_DAY: i64 = 86_400;

/// Everything about an agenda that does not change with bookings.
#[derive(Debug, Clone)]
pub struct AgendaCalendar {
    pub tz: TimeZone,
    /// Public holidays of this country close the agenda; `None` keeps it open on holidays.
    pub holidays: Option<Country>,
    pub rules: Vec<OpeningRule>,
    /// Closed periods, as half-open `[start, end)` instants.
    pub absences: Vec<(Timestamp, Timestamp)>,
}

/// One live reservation of an agenda (a booked appointment or a hold).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reservation {
    pub start: Timestamp,
    pub end: Timestamp,
    /// True when made for a motive with capacity > 1 (see the module docs).
    pub pooled: bool,
    /// `Some` for a hold: it stops occupying time at this instant.
    pub expires_at: Option<Timestamp>,
}

/// The live reservations of one agenda, kept sorted by (start, end) for fast overlap queries.
/// At national scale they are most of the memory (60 M at 400,000 practitioners), so the
/// common case, a booking on whole seconds, is packed in 8 bytes; holds (their expiry) and
/// anything else keep the full [`Reservation`] (56 bytes) in a second sorted list.
#[derive(Debug, Clone, Default)]
pub struct Occupancy {
    packed: Vec<Packed>,
    exact: Vec<Reservation>,
    /// Longest reservation, bounds how far back an overlap search must look.
    max_len_s: i64,
}

/// Seconds from 1970 to 2000-01-01T00:00:00Z, the origin of [`Packed::start`]: `u32` seconds
/// from there reach 2136.
const PACKED_EPOCH_S: i64 = 946_684_800;
const POOLED_BIT: u32 = 1 << 31;

/// A booking (no expiry) on whole seconds: start in seconds from [`PACKED_EPOCH_S`], length
/// in seconds (1..2³¹) with [`POOLED_BIT`] for a pooled one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Packed {
    start: u32,
    len: u32,
}

impl Packed {
    fn of(r: &Reservation) -> Option<Self> {
        if r.expires_at.is_some()
            || r.start.subsec_nanosecond() != 0
            || r.end.subsec_nanosecond() != 0
        {
            return None;
        }
        let start = u32::try_from(r.start.as_second() - PACKED_EPOCH_S).ok()?;
        let len = u32::try_from(r.end.as_second() - r.start.as_second()).ok()?;
        if len == 0 || len >= POOLED_BIT {
            return None;
        }
        Some(Self {
            start,
            len: len | if r.pooled { POOLED_BIT } else { 0 },
        })
    }

    fn start_s(self) -> i64 {
        i64::from(self.start) + PACKED_EPOCH_S
    }

    fn end_s(self) -> i64 {
        self.start_s() + i64::from(self.len & !POOLED_BIT)
    }

    fn pooled(self) -> bool {
        self.len & POOLED_BIT != 0
    }

    fn unpack(self) -> Reservation {
        // In range by construction (u32 seconds from 2000).
        let at = |s: i64| Timestamp::from_second(s).unwrap_or(Timestamp::MAX);
        Reservation {
            start: at(self.start_s()),
            end: at(self.end_s()),
            pooled: self.pooled(),
            expires_at: None,
        }
    }
}

/// Where an overlap scan starts in each of [`Occupancy`]'s two lists.
#[derive(Debug, Clone, Copy)]
struct Cursor {
    packed: usize,
    exact: usize,
}

/// A bookable start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    pub start: Timestamp,
    pub end: Timestamp,
    pub remaining: u32,
}

/// Why a requested start cannot be booked (see [`AgendaCalendar::check_start`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unavailable {
    /// No opening rule for this motive produces a slot starting there.
    NotASlot,
    /// Closed: absence or public holiday.
    Closed,
    /// Before `now + min_notice`.
    TooSoon,
    /// After the booking horizon.
    TooFar,
    /// Every place is taken.
    Full,
}

impl Occupancy {
    pub fn new(reservations: Vec<Reservation>) -> Self {
        let max_len_s = reservations
            .iter()
            .map(|r| ceil_seconds(r.end.duration_since(r.start)))
            .max()
            .unwrap_or(0)
            .max(0);
        let packed_count = reservations
            .iter()
            .filter(|r| Packed::of(r).is_some())
            .count();
        let mut packed = Vec::with_capacity(packed_count);
        let mut exact = Vec::with_capacity(reservations.len() - packed_count);
        for r in reservations {
            match Packed::of(&r) {
                Some(p) => packed.push(p),
                None => exact.push(r),
            }
        }
        // (start, len) orders as (start, end) within one pooled-ness; ties of start and end
        // need no order.
        packed.sort_unstable_by_key(|p| (p.start, p.len & !POOLED_BIT));
        exact.sort_by_key(|r| (r.start, r.end));
        Self {
            packed,
            exact,
            max_len_s,
        }
    }

    /// Every reservation kept unpacked: the reference the packed scans are tested against.
    #[cfg(test)]
    fn unpacked(mut reservations: Vec<Reservation>) -> Self {
        let max_len_s = Self::new(reservations.clone()).max_len_s;
        reservations.sort_by_key(|r| (r.start, r.end));
        Self {
            packed: Vec::new(),
            exact: reservations,
            max_len_s,
        }
    }

    /// Every reservation (copies: most are stored packed), sorted by (start, end).
    pub fn reservations(&self) -> Vec<Reservation> {
        let mut all: Vec<Reservation> = self.packed.iter().map(|p| p.unpack()).collect();
        all.extend_from_slice(&self.exact);
        all.sort_by_key(|r| (r.start, r.end));
        all
    }

    /// The holds (reservations with an expiry, expired or not), sorted by (start, end).
    pub fn holds(&self) -> impl Iterator<Item = &Reservation> {
        // Holds never pack: their expiry needs the full reservation.
        self.exact.iter().filter(|r| r.expires_at.is_some())
    }

    /// How many reservations there are.
    pub fn len(&self) -> usize {
        self.packed.len() + self.exact.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Adds a reservation just committed, keeping the order.
    pub fn insert(&mut self, r: Reservation) {
        self.max_len_s = self
            .max_len_s
            .max(ceil_seconds(r.end.duration_since(r.start)));
        match Packed::of(&r) {
            Some(p) => {
                let key = (p.start, p.len & !POOLED_BIT);
                let at = self
                    .packed
                    .partition_point(|x| (x.start, x.len & !POOLED_BIT) <= key);
                self.packed.insert(at, p);
            }
            None => {
                let at = self
                    .exact
                    .partition_point(|x| (x.start, x.end) <= (r.start, r.end));
                self.exact.insert(at, r);
            }
        }
    }

    /// A hold over exactly `[start, end)` became a booking: it occupies for good. Among equal
    /// holds the one expiring first is taken, which can only make the view show fewer free
    /// places than there are (never more) until its next reload. (It stays in the exact
    /// list, which the scans read the same way.)
    pub fn confirm(&mut self, start: Timestamp, end: Timestamp) -> bool {
        let from = self
            .exact
            .partition_point(|x| (x.start, x.end) < (start, end));
        let hold = self.exact[from..]
            .iter_mut()
            .take_while(|x| x.start == start && x.end == end)
            .filter(|x| x.expires_at.is_some())
            .min_by_key(|x| x.expires_at);
        match hold {
            Some(h) => {
                h.expires_at = None;
                true
            }
            None => false,
        }
    }

    /// Length of the longest reservation in seconds, rounded up.
    pub fn max_len_s(&self) -> i64 {
        self.max_len_s
    }

    /// Places of `motive` left for an appointment over `[start, end)` as seen at `now`: 0 when
    /// an overlapping reservation blocks it or its pool is full (see the module docs).
    pub fn remaining(
        &self,
        motive: &Motive,
        start: Timestamp,
        end: Timestamp,
        now: Timestamp,
    ) -> u32 {
        self.remaining_from(self.first_candidate(start), motive, start, end, now)
    }

    /// Whole-second bound of the look-back window: a reservation whose start, in whole
    /// seconds, is below it ends before `start` (plain integers: this runs once per slot).
    fn look_back(&self, start: Timestamp) -> i64 {
        floor_seconds(start).saturating_sub(self.max_len_s.saturating_add(1))
    }

    /// Where the reservations that may overlap an interval starting at `start` begin.
    fn first_candidate(&self, start: Timestamp) -> Cursor {
        let bound = self.look_back(start);
        Cursor {
            packed: self.packed.partition_point(|p| p.start_s() < bound),
            exact: self
                .exact
                .partition_point(|r| floor_seconds(r.start) < bound),
        }
    }

    /// Moves a [`first_candidate`](Self::first_candidate) cursor forward to a later `start`.
    fn advance(&self, mut at: Cursor, start: Timestamp) -> Cursor {
        let bound = self.look_back(start);
        while self
            .packed
            .get(at.packed)
            .is_some_and(|p| p.start_s() < bound)
        {
            at.packed += 1;
        }
        while self
            .exact
            .get(at.exact)
            .is_some_and(|r| floor_seconds(r.start) < bound)
        {
            at.exact += 1;
        }
        at
    }

    /// [`remaining`](Self::remaining), scanning from a
    /// [`first_candidate`](Self::first_candidate) cursor.
    fn remaining_from(
        &self,
        first: Cursor,
        motive: &Motive,
        start: Timestamp,
        end: Timestamp,
        now: Timestamp,
    ) -> u32 {
        let pooled = motive.pooled();
        let mut taken = 0u32;
        // Packed reservations are whole seconds: compared with the slot's bounds rounded the
        // way each comparison needs, and equal to them only when they are whole too.
        let end_ceil = floor_seconds(end) + i64::from(end.subsec_nanosecond() != 0);
        let start_floor = floor_seconds(start);
        let whole = start.subsec_nanosecond() == 0 && end.subsec_nanosecond() == 0;
        for p in self.packed.get(first.packed..).unwrap_or_default() {
            let p_start = p.start_s();
            if p_start >= end_ceil {
                break;
            }
            let p_end = p.end_s();
            if p_end <= start_floor {
                continue;
            }
            if pooled
                && p.pooled()
                && whole
                && p_start == start.as_second()
                && p_end == end.as_second()
            {
                taken += 1;
            } else {
                return 0;
            }
        }
        for r in self.exact.get(first.exact..).unwrap_or_default() {
            if r.start >= end {
                break;
            }
            if r.end <= start || r.end <= r.start || r.expires_at.is_some_and(|at| at <= now) {
                continue;
            }
            if pooled && r.pooled && r.start == start && r.end == end {
                taken += 1;
            } else {
                return 0;
            }
        }
        motive.capacity.saturating_sub(taken)
    }
}

impl AgendaCalendar {
    /// Bookable slots of `motive` whose start falls on a local date in `[from, to]`
    /// (inclusive), in chronological order.
    pub fn slots(
        &self,
        motive: &Motive,
        occupancy: &Occupancy,
        from: Date,
        to: Date,
        now: Timestamp,
    ) -> Vec<Slot> {
        let mut out = Vec::new();
        let mut engine = Engine::new(self, motive, occupancy, now);
        if from > to || engine.earliest > engine.latest {
            return out;
        }
        // Only dates around [earliest, latest] can hold slots. One extra day on each side
        // catches a slot whose start lands on the neighbouring local date (possible only in
        // zones with a transition across midnight); the local-date filter does the rest.
        let first = yesterday(from).max(yesterday(engine.offsets.local_date(engine.earliest)));
        let last = tomorrow(to).min(tomorrow(self.tz.to_datetime(engine.latest).date()));
        let mut date = first;
        while date <= last {
            let day_start = out.len();
            engine.scan_date(date, Some((from, to)), |slot| {
                out.push(slot);
                true
            });
            if let Some(day) = out.get_mut(day_start..) {
                if !day.is_sorted_by_key(|s| s.start) {
                    day.sort_unstable_by_key(|s| s.start);
                }
            }
            match date.tomorrow() {
                Ok(next) => date = next,
                Err(_) => break,
            }
        }
        // Instants grow with the rule date, so this only sorts in exotic zones.
        if !out.is_sorted_by_key(|s| s.start) {
            out.sort_unstable_by_key(|s| s.start);
        }
        out.dedup_by_key(|s| s.start);
        out
    }

    /// Until when the slots of `motive` that start in `[from, to)` stay what they are at
    /// `now`, writes to the occupancy aside: time moves the notice's bound and the horizon's,
    /// and lapses holds. `now` itself when they may change at once (the span straddles the
    /// notice's or the horizon's bound). Lets a day's serialised slots be kept for as long as
    /// they are right rather than for a second.
    pub fn slots_stable_until(
        &self,
        motive: &Motive,
        occupancy: &Occupancy,
        (from, to): (Timestamp, Timestamp),
        now: Timestamp,
    ) -> Timestamp {
        let notice = SignedDuration::from_mins(i64::from(motive.policy.min_notice_min));
        let horizon =
            SignedDuration::from_secs(i64::from(motive.policy.max_horizon_days) * SECONDS_PER_DAY);
        let (Ok(earliest), Ok(latest)) = (now.checked_add(notice), now.checked_add(horizon)) else {
            return now;
        };
        let mut until = Timestamp::MAX;
        // Starts before `earliest` are out, and `earliest` only grows: the span is stable
        // while it lies wholly after it, or once wholly before it.
        if to > earliest {
            if from < earliest {
                return now;
            }
            until = until.min(from.checked_sub(notice).unwrap_or(now));
        }
        // Starts after `latest` are out, and `latest` only grows: stable while wholly after
        // it (until it reaches `from`) or once wholly at or before it.
        if to > latest {
            if from <= latest {
                return now;
            }
            until = until.min(from.checked_sub(horizon).unwrap_or(now));
        }
        // A hold counts until it expires; one that may overlap a slot of the span ends the
        // span's stability then.
        let reach = to
            .checked_add(SignedDuration::from_secs(motive.duration.seconds()))
            .unwrap_or(Timestamp::MAX);
        for h in occupancy.holds() {
            if let Some(at) = h.expires_at.filter(|at| *at > now) {
                if h.start < reach && h.end > from {
                    until = until.min(at);
                }
            }
        }
        until.max(now)
    }

    /// The earliest bookable slot of `motive` from `now` on, within its horizon.
    pub fn next_slot(
        &self,
        motive: &Motive,
        occupancy: &Occupancy,
        now: Timestamp,
    ) -> Option<Slot> {
        let mut engine = Engine::new(self, motive, occupancy, now);
        if engine.earliest > engine.latest {
            return None;
        }
        let earliest_date = engine.offsets.local_date(engine.earliest);
        // Rules of the day before `earliest`'s local date end before it, unless a transition
        // moved that day's end: look at it only when the offset changed in the last 3 days.
        let three_days_before = engine
            .earliest
            .checked_sub(SignedDuration::from_secs(3 * SECONDS_PER_DAY))
            .unwrap_or(Timestamp::MIN);
        let settled = engine.offsets.valid_since <= three_days_before;
        let mut date = if settled {
            earliest_date
        } else {
            yesterday(earliest_date)
        };
        // Not through the offset cache: it would then forget the dates scanned below.
        let last = tomorrow(self.tz.to_datetime(engine.latest).date());
        let earliest_of = |engine: &mut Engine<'_>, date: Date| {
            // Each window yields its slots in order: its first one is its earliest.
            let mut best: Option<Slot> = None;
            engine.scan_date(date, None, |slot| {
                if best.is_none_or(|b| slot.start < b.start) {
                    best = Some(slot);
                }
                false
            });
            best
        };
        while date <= last {
            // Rule dates come in chronological order: the first one with a slot has the
            // earliest, unless a transition across midnight pushed that slot onto the next
            // local date, whose own rules may then start earlier.
            if let Some(found) = earliest_of(&mut engine, date) {
                if engine.offsets.local_day(found.start) == epoch_day(date) || date >= last {
                    return Some(found);
                }
                let next = earliest_of(&mut engine, tomorrow(date));
                return Some(next.filter(|n| n.start < found.start).unwrap_or(found));
            }
            match date.tomorrow() {
                Ok(next) => date = next,
                Err(_) => break,
            }
        }
        None
    }

    /// Whether `start` is a bookable slot of `motive` right now; returns the slot (with its
    /// end and remaining places) or the reason it is not.
    ///
    /// Reasons are checked in this order, the first that applies wins: `NotASlot`, `Closed`,
    /// `TooSoon`, `TooFar`, `Full`.
    pub fn check_start(
        &self,
        motive: &Motive,
        occupancy: &Occupancy,
        start: Timestamp,
        now: Timestamp,
    ) -> Result<Slot, Unavailable> {
        let mut engine = Engine::new(self, motive, occupancy, now);
        let end = start
            .checked_add(engine.duration)
            .map_err(|_| Unavailable::NotASlot)?;
        let local = engine.offsets.local_date(start);
        let step = engine.duration.as_nanos();
        let produced = [local, yesterday(local), tomorrow(local)]
            .into_iter()
            .any(|date| {
                engine.rules_on(date).any(|rule| {
                    engine
                        .window(date, rule)
                        .is_some_and(|(rule_start, rule_end)| {
                            rule_start <= start
                                && end <= rule_end
                                && (start.as_nanosecond() - rule_start.as_nanosecond())
                                    .checked_rem(step)
                                    == Some(0)
                        })
                })
            });
        if !produced {
            return Err(Unavailable::NotASlot);
        }
        if engine.is_holiday(local) || engine.absent(engine.first_absence(start), end) {
            return Err(Unavailable::Closed);
        }
        if start < engine.earliest {
            return Err(Unavailable::TooSoon);
        }
        if start > engine.latest {
            return Err(Unavailable::TooFar);
        }
        match occupancy.remaining(motive, start, end, now) {
            0 => Err(Unavailable::Full),
            remaining => Ok(Slot {
                start,
                end,
                remaining,
            }),
        }
    }

    /// Whether `[start, end)` lies inside one opening window of `motive`'s rules and outside
    /// holidays and absences, wherever its slots start: the length the practice gives an
    /// appointment of its own. Neither notice, horizon nor occupancy (the store decides
    /// overlap). `NotASlot` when outside the opening hours, `Closed` when away.
    pub fn check_span(
        &self,
        motive: &Motive,
        start: Timestamp,
        end: Timestamp,
        now: Timestamp,
    ) -> Result<(), Unavailable> {
        let occupancy = Occupancy::default();
        let mut engine = Engine::new(self, motive, &occupancy, now);
        let local = engine.offsets.local_date(start);
        let inside = [local, yesterday(local), tomorrow(local)]
            .into_iter()
            .any(|date| {
                engine.rules_on(date).any(|rule| {
                    engine
                        .window(date, rule)
                        .is_some_and(|(from, to)| from <= start && end <= to)
                })
            });
        if !inside || end <= start {
            return Err(Unavailable::NotASlot);
        }
        if engine.is_holiday(local) || engine.absent(engine.first_absence(start), end) {
            return Err(Unavailable::Closed);
        }
        Ok(())
    }
}

/// One availability query: the agenda, the motive, the instant it is asked at, and what can be
/// computed once for all the dates it looks at.
struct Engine<'a> {
    calendar: &'a AgendaCalendar,
    motive: &'a Motive,
    occupancy: &'a Occupancy,
    now: Timestamp,
    /// Slots start no earlier (`now + min_notice`) …
    earliest: Timestamp,
    /// … and no later (`now + max_horizon_days` days of 24 hours).
    latest: Timestamp,
    duration: SignedDuration,
    /// Non-empty absences, sorted and pairwise disjoint.
    absences: Cow<'a, [(Timestamp, Timestamp)]>,
    offsets: OffsetCache<'a>,
}

impl<'a> Engine<'a> {
    fn new(
        calendar: &'a AgendaCalendar,
        motive: &'a Motive,
        occupancy: &'a Occupancy,
        now: Timestamp,
    ) -> Self {
        let notice = SignedDuration::from_mins(i64::from(motive.policy.min_notice_min));
        let horizon =
            SignedDuration::from_secs(i64::from(motive.policy.max_horizon_days) * SECONDS_PER_DAY);
        Self {
            calendar,
            motive,
            occupancy,
            now,
            earliest: now.checked_add(notice).unwrap_or(Timestamp::MAX),
            latest: now.checked_add(horizon).unwrap_or(Timestamp::MAX),
            duration: SignedDuration::from_secs(motive.duration.seconds()),
            absences: disjoint_absences(&calendar.absences),
            offsets: OffsetCache::new(&calendar.tz),
        }
    }

    /// The rules that open `date` for the motive.
    fn rules_on(&self, date: Date) -> impl Iterator<Item = &'a OpeningRule> + 'a {
        let motive = self.motive;
        self.calendar
            .rules
            .iter()
            .filter(move |rule| rule.applies_on(date) && rule.allows(&motive.id))
    }

    /// The rule's opening on `date` as absolute instants, `None` when empty (a rule that
    /// starts in a spring-forward gap may end up no longer than zero).
    fn window(&self, date: Date, rule: &OpeningRule) -> Option<(Timestamp, Timestamp)> {
        let day = epoch_day(date);
        let start = self.instant(date, day, rule.start)?;
        let end = self.instant(date, day, rule.end)?;
        (start < end).then_some((start, end))
    }

    /// The instant of local `date` (`day` days after 1970-01-01) at `time`, with "compatible"
    /// disambiguation. Far from any transition the cached offset gives it directly.
    fn instant(&self, date: Date, day: i64, time: Time) -> Option<Timestamp> {
        let local = day * SECONDS_PER_DAY
            + i64::from(time.hour()) * 3600
            + i64::from(time.minute()) * 60
            + i64::from(time.second());
        if let Some(t) = self.offsets.unambiguous(local, time.subsec_nanosecond()) {
            return Some(t);
        }
        self.calendar
            .tz
            .to_ambiguous_timestamp(date.to_datetime(time))
            .compatible()
            .ok()
    }

    fn is_holiday(&self, date: Date) -> bool {
        self.calendar.holidays.is_some_and(|c| c.is_holiday(date))
    }

    /// Index of the first absence that ends after `start`.
    fn first_absence(&self, start: Timestamp) -> usize {
        self.absences.partition_point(|a| a.1 <= start)
    }

    /// Whether `[start, end)` overlaps an absence, `first` being the
    /// [`first_absence`](Self::first_absence) of `start`.
    fn absent(&self, first: usize, end: Timestamp) -> bool {
        self.absences.get(first).is_some_and(|a| a.0 < end)
    }

    /// Feeds `emit` the bookable slots that the rules of `date` produce, window by window,
    /// each window in chronological order. With `range`, only slots whose start falls on a
    /// local date in it. `emit` returns whether to go on with the current window.
    fn scan_date(
        &mut self,
        date: Date,
        range: Option<(Date, Date)>,
        mut emit: impl FnMut(Slot) -> bool,
    ) {
        let in_range = |d: Date| range.is_none_or(|(from, to)| from <= d && d <= to);
        let day = epoch_day(date);
        // Whether slots starting on `date` itself are kept, found out at the first one.
        let mut date_open: Option<bool> = None;
        for rule in self.rules_on(date) {
            let Some((rule_start, rule_end)) = self.window(date, rule) else {
                continue;
            };
            if rule_end <= self.earliest || rule_start > self.latest {
                continue;
            }
            let mut absence = self.first_absence(rule_start);
            let mut reservation = self.occupancy.first_candidate(rule_start);
            let mut start = rule_start;
            loop {
                let Ok(end) = start.checked_add(self.duration) else {
                    break;
                };
                if end > rule_end || start > self.latest {
                    break;
                }
                if start >= self.earliest {
                    let open = if self.offsets.local_day(start) == day {
                        *date_open.get_or_insert_with(|| in_range(date) && !self.is_holiday(date))
                    } else {
                        let local = self.offsets.local_date(start);
                        in_range(local) && !self.is_holiday(local)
                    };
                    if open {
                        while self.absences.get(absence).is_some_and(|a| a.1 <= start) {
                            absence += 1;
                        }
                        if !self.absent(absence, end) {
                            reservation = self.occupancy.advance(reservation, start);
                            let remaining = self.occupancy.remaining_from(
                                reservation,
                                self.motive,
                                start,
                                end,
                                self.now,
                            );
                            if remaining > 0
                                && !emit(Slot {
                                    start,
                                    end,
                                    remaining,
                                })
                            {
                                break;
                            }
                        }
                    }
                }
                start = end;
            }
        }
    }
}

/// The offset of a zone over the span between two of its transitions, so that most instants
/// get their local date without a time zone lookup.
struct OffsetCache<'a> {
    tz: &'a TimeZone,
    /// The cached offset holds on `[valid_since, valid_until)`.
    valid_since: Timestamp,
    valid_until: Timestamp,
    offset: Offset,
}

impl<'a> OffsetCache<'a> {
    fn new(tz: &'a TimeZone) -> Self {
        Self {
            tz,
            valid_since: Timestamp::MAX,
            valid_until: Timestamp::MIN,
            offset: Offset::UTC,
        }
    }

    fn offset(&mut self, t: Timestamp) -> Offset {
        if t < self.valid_since || t >= self.valid_until {
            let offset = self.tz.to_offset(t);
            // A transition exactly at `t` makes the previous one's offset differ.
            self.valid_since = match self.tz.preceding(t).next() {
                Some(tr) if tr.offset() == offset => tr.timestamp(),
                Some(_) => t,
                None => Timestamp::MIN,
            };
            self.valid_until = self
                .tz
                .following(t)
                .next()
                .map_or(Timestamp::MAX, |tr| tr.timestamp());
            self.offset = offset;
        }
        self.offset
    }

    /// The instant whose local time is `local` seconds (plus `nanos`) after 1970-01-01T00:00,
    /// when the cached offset settles it. Every offset lies within 26 hours of UTC, so any
    /// other instant with the same local time is within 52 hours of the one the cached offset
    /// gives; if the cached offset holds 52 hours around it, that instant is the only one.
    fn unambiguous(&self, local: i64, nanos: i32) -> Option<Timestamp> {
        const MARGIN: i64 = 2 * 26 * 3600;
        let t = local.checked_sub(i64::from(self.offset.seconds()))?;
        let since = floor_seconds(self.valid_since);
        let until = floor_seconds(self.valid_until);
        if since < t.checked_sub(MARGIN + 1)? && t.checked_add(MARGIN + 1)? < until {
            Timestamp::new(t, nanos).ok()
        } else {
            None
        }
    }

    /// Days since 1970-01-01 of the local date of `t`.
    fn local_day(&mut self, t: Timestamp) -> i64 {
        let offset = self.offset(t);
        (floor_seconds(t) + i64::from(offset.seconds())).div_euclid(SECONDS_PER_DAY)
    }

    fn local_date(&mut self, t: Timestamp) -> Date {
        self.offset(t).to_datetime(t).date()
    }
}

/// The absences without empty ones, sorted and merged so that they are pairwise disjoint;
/// borrowed when they already are.
fn disjoint_absences(absences: &[(Timestamp, Timestamp)]) -> Cow<'_, [(Timestamp, Timestamp)]> {
    if absences.iter().all(|a| a.0 < a.1) && absences.windows(2).all(|w| w[0].1 <= w[1].0) {
        return Cow::Borrowed(absences);
    }
    let mut sorted: Vec<_> = absences.iter().copied().filter(|a| a.0 < a.1).collect();
    sorted.sort_unstable();
    let mut merged: Vec<(Timestamp, Timestamp)> = Vec::with_capacity(sorted.len());
    for a in sorted {
        match merged.last_mut() {
            Some(last) if a.0 <= last.1 => last.1 = last.1.max(a.1),
            _ => merged.push(a),
        }
    }
    Cow::Owned(merged)
}

/// Whole seconds since the Unix epoch, rounded down (also for instants before 1970).
fn floor_seconds(t: Timestamp) -> i64 {
    t.as_second() - i64::from(t.subsec_nanosecond() < 0)
}

fn ceil_seconds(d: SignedDuration) -> i64 {
    d.as_secs() + i64::from(d.subsec_nanos() > 0)
}

/// Days from 1970-01-01 to `date` in the proleptic Gregorian calendar.
fn epoch_day(date: Date) -> i64 {
    let y = i64::from(date.year()) - 1;
    let before_year = 365 * y + y.div_euclid(4) - y.div_euclid(100) + y.div_euclid(400);
    // 719_162 days from 0001-01-01 to 1970-01-01.
    before_year + i64::from(date.day_of_year()) - 1 - 719_162
}

fn yesterday(date: Date) -> Date {
    date.yesterday().unwrap_or(date)
}

fn tomorrow(date: Date) -> Date {
    date.tomorrow().unwrap_or(date)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AgendaId, MotiveId, MotivePolicy, RuleId, WeekdaySet};
    use jiff::civil::{date, time};
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    fn motive(duration_min: i64, capacity: i64) -> Motive {
        let policy = MotivePolicy {
            max_horizon_days: MotivePolicy::MAX_HORIZON_DAYS,
            ..MotivePolicy::default()
        };
        Motive::parse(
            MotiveId::new(),
            AgendaId::new(),
            "m",
            duration_min,
            capacity,
            policy,
        )
        .unwrap()
    }

    fn rule(motive: &Motive, weekdays: &[i64], start: (i8, i8), end: (i8, i8)) -> OpeningRule {
        OpeningRule::parse(
            RuleId::new(),
            motive.agenda_id.clone(),
            WeekdaySet::parse(weekdays).unwrap(),
            time(start.0, start.1, 0, 0),
            time(end.0, end.1, 0, 0),
            vec![motive.id.clone()],
            None,
            None,
        )
        .unwrap()
    }

    fn calendar(tz: &str, rules: Vec<OpeningRule>) -> AgendaCalendar {
        AgendaCalendar {
            tz: TimeZone::get(tz).unwrap(),
            holidays: None,
            rules,
            absences: vec![],
        }
    }

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn starts(slots: &[Slot]) -> Vec<String> {
        slots
            .iter()
            .map(|s| {
                s.start
                    .to_zoned(TimeZone::get("Europe/Paris").unwrap())
                    .strftime("%F %T%:z")
                    .to_string()
            })
            .collect()
    }

    fn reservation(start: &str, end: &str, pooled: bool) -> Reservation {
        Reservation {
            start: ts(start),
            end: ts(end),
            pooled,
            expires_at: None,
        }
    }

    const JAN_1: &str = "2027-01-01T00:00:00Z";

    #[test]
    fn dst_sunday_morning_paris() {
        let m = motive(30, 1);
        let cal = calendar("Europe/Paris", vec![rule(&m, &[7], (8, 0), (12, 0))]);
        let occ = Occupancy::default();
        let now = ts(JAN_1);
        for (day, offset) in [
            (date(2027, 3, 21), "+01:00"),
            (date(2027, 3, 28), "+02:00"),
            (date(2027, 10, 31), "+01:00"),
        ] {
            let slots = cal.slots(&m, &occ, day, day, now);
            assert_eq!(slots.len(), 8, "{day}");
            assert_eq!(slots[0].start, ts(&format!("{day}T08:00:00{offset}")));
            assert_eq!(slots[7].start, ts(&format!("{day}T11:30:00{offset}")));
            assert_eq!(slots[7].end, ts(&format!("{day}T12:00:00{offset}")));
            assert!(slots.iter().all(|s| s.remaining == 1));
        }
        // The week from the 21st to the 28th: two Sundays.
        assert_eq!(
            cal.slots(&m, &occ, date(2027, 3, 21), date(2027, 3, 28), now)
                .len(),
            16
        );
        assert!(cal
            .slots(&m, &occ, date(2027, 3, 22), date(2027, 3, 27), now)
            .is_empty());
        assert!(cal
            .slots(&m, &occ, date(2027, 3, 28), date(2027, 3, 21), now)
            .is_empty());
    }

    #[test]
    fn rules_across_a_transition_use_absolute_time() {
        let m = motive(30, 1);
        let occ = Occupancy::default();
        let now = ts(JAN_1);
        let cal = calendar("Europe/Paris", vec![rule(&m, &[7], (1, 0), (4, 0))]);
        // Spring forward: 01:00+01:00 to 04:00+02:00 is two hours.
        let spring = date(2027, 3, 28);
        assert_eq!(
            starts(&cal.slots(&m, &occ, spring, spring, now)),
            [
                "2027-03-28 01:00:00+01:00",
                "2027-03-28 01:30:00+01:00",
                "2027-03-28 03:00:00+02:00",
                "2027-03-28 03:30:00+02:00",
            ]
        );
        // Fall back: 01:00+02:00 to 04:00+01:00 is four hours.
        let fall = date(2027, 10, 31);
        assert_eq!(
            starts(&cal.slots(&m, &occ, fall, fall, now)),
            [
                "2027-10-31 01:00:00+02:00",
                "2027-10-31 01:30:00+02:00",
                "2027-10-31 02:00:00+02:00",
                "2027-10-31 02:30:00+02:00",
                "2027-10-31 02:00:00+01:00",
                "2027-10-31 02:30:00+01:00",
                "2027-10-31 03:00:00+01:00",
                "2027-10-31 03:30:00+01:00",
            ]
        );
        // A start in the gap resolves forward ("compatible"): 02:30 is 03:30+02:00.
        let cal = calendar("Europe/Paris", vec![rule(&m, &[7], (2, 30), (4, 0))]);
        assert_eq!(
            starts(&cal.slots(&m, &occ, spring, spring, now)),
            ["2027-03-28 03:30:00+02:00"]
        );
        // A rule entirely inside the gap is empty.
        let cal = calendar("Europe/Paris", vec![rule(&m, &[7], (2, 0), (3, 0))]);
        assert!(cal.slots(&m, &occ, spring, spring, now).is_empty());
    }

    #[test]
    fn absences_close_overlapping_slots() {
        let m = motive(30, 1);
        let mut cal = calendar("Europe/Paris", vec![rule(&m, &[1], (8, 0), (12, 0))]);
        // Unsorted and overlapping on purpose; the empty one closes nothing.
        cal.absences = vec![
            (
                ts("2027-03-22T11:00:00+01:00"),
                ts("2027-03-22T11:30:00+01:00"),
            ),
            (
                ts("2027-03-22T09:15:00+01:00"),
                ts("2027-03-22T09:45:00+01:00"),
            ),
            (
                ts("2027-03-22T09:20:00+01:00"),
                ts("2027-03-22T10:00:00+01:00"),
            ),
            (
                ts("2027-03-22T08:10:00+01:00"),
                ts("2027-03-22T08:10:00+01:00"),
            ),
        ];
        let day = date(2027, 3, 22);
        let slots = cal.slots(&m, &Occupancy::default(), day, day, ts(JAN_1));
        assert_eq!(
            starts(&slots),
            [
                "2027-03-22 08:00:00+01:00",
                "2027-03-22 08:30:00+01:00",
                "2027-03-22 10:00:00+01:00",
                "2027-03-22 10:30:00+01:00",
                "2027-03-22 11:30:00+01:00",
            ]
        );
        let check = |s: &str| cal.check_start(&m, &Occupancy::default(), ts(s), ts(JAN_1));
        assert_eq!(check("2027-03-22T09:30:00+01:00"), Err(Unavailable::Closed));
        assert_eq!(check("2027-03-22T11:00:00+01:00"), Err(Unavailable::Closed));
        assert!(check("2027-03-22T10:00:00+01:00").is_ok());
    }

    #[test]
    fn holidays_close_the_day_when_enabled() {
        let m = motive(30, 1);
        let mut cal = calendar("Europe/Paris", vec![rule(&m, &[1], (8, 0), (12, 0))]);
        let occ = Occupancy::default();
        let whit_monday = date(2027, 5, 17);
        let nine = ts("2027-05-17T09:00:00+02:00");
        assert_eq!(
            cal.slots(&m, &occ, whit_monday, whit_monday, ts(JAN_1))
                .len(),
            8
        );
        assert!(cal.check_start(&m, &occ, nine, ts(JAN_1)).is_ok());
        cal.holidays = Some(Country::France);
        assert!(cal
            .slots(&m, &occ, whit_monday, whit_monday, ts(JAN_1))
            .is_empty());
        assert_eq!(
            cal.check_start(&m, &occ, nine, ts(JAN_1)),
            Err(Unavailable::Closed)
        );
        // The next Monday is open.
        let next = date(2027, 5, 24);
        assert_eq!(cal.slots(&m, &occ, whit_monday, next, ts(JAN_1)).len(), 8);
        // Not a holiday in Italy.
        cal.holidays = Some(Country::Italy);
        assert_eq!(
            cal.slots(&m, &occ, whit_monday, whit_monday, ts(JAN_1))
                .len(),
            8
        );
    }

    #[test]
    fn notice_and_horizon() {
        let mut m = motive(30, 1);
        m.policy.min_notice_min = 60;
        m.policy.max_horizon_days = 1;
        let cal = calendar("Europe/Paris", vec![rule(&m, &[1, 2], (8, 0), (12, 0))]);
        let occ = Occupancy::default();
        let now = ts("2027-03-22T07:50:00+01:00");
        let slots = cal.slots(&m, &occ, date(2027, 3, 1), date(2027, 3, 31), now);
        let starts = starts(&slots);
        // Monday from 08:50 on, Tuesday up to now + 24 h = 07:50.
        assert_eq!(
            starts.first().map(String::as_str),
            Some("2027-03-22 09:00:00+01:00")
        );
        assert_eq!(starts.len(), 6);
        let check = |s: &str, now: &str| cal.check_start(&m, &occ, ts(s), ts(now));
        assert_eq!(
            check("2027-03-22T08:30:00+01:00", "2027-03-22T07:50:00+01:00"),
            Err(Unavailable::TooSoon)
        );
        assert_eq!(
            check("2027-03-22T08:00:00+01:00", "2027-03-22T10:00:00+01:00"),
            Err(Unavailable::TooSoon)
        );
        assert_eq!(
            check("2027-03-23T08:00:00+01:00", "2027-03-22T07:50:00+01:00"),
            Err(Unavailable::TooFar)
        );
        // Exactly at the notice and exactly at the horizon are bookable.
        assert!(check("2027-03-22T09:00:00+01:00", "2027-03-22T08:00:00+01:00").is_ok());
        assert!(check("2027-03-23T09:00:00+01:00", "2027-03-22T09:00:00+01:00").is_ok());
        assert_eq!(
            check("2027-03-23T09:30:00+01:00", "2027-03-22T09:00:00+01:00"),
            Err(Unavailable::TooFar)
        );
        assert_eq!(
            cal.next_slot(&m, &occ, now).map(|s| s.start),
            Some(ts("2027-03-22T09:00:00+01:00"))
        );
        // Friday evening: nothing within a day.
        assert_eq!(
            cal.next_slot(&m, &occ, ts("2027-03-26T18:00:00+01:00")),
            None
        );
    }

    #[test]
    fn reservations_and_expired_holds() {
        let m = motive(30, 1);
        let cal = calendar("Europe/Paris", vec![rule(&m, &[1], (8, 0), (10, 0))]);
        let now = ts("2027-03-22T07:00:00+01:00");
        let day = date(2027, 3, 22);
        let mut expired = reservation(
            "2027-03-22T08:00:00+01:00",
            "2027-03-22T08:30:00+01:00",
            false,
        );
        expired.expires_at = Some(now);
        let mut live = reservation(
            "2027-03-22T09:00:00+01:00",
            "2027-03-22T09:10:00+01:00",
            false,
        );
        live.expires_at = Some(ts("2027-03-22T07:10:00+01:00"));
        // Ends exactly when the 08:30 slot starts: half-open, no conflict.
        let before = reservation(
            "2027-03-22T07:30:00+01:00",
            "2027-03-22T08:30:00+01:00",
            false,
        );
        let occ = Occupancy::new(vec![live, expired, before]);
        assert_eq!(
            starts(&cal.slots(&m, &occ, day, day, now)),
            ["2027-03-22 08:30:00+01:00", "2027-03-22 09:30:00+01:00"]
        );
        let full = cal.check_start(&m, &occ, ts("2027-03-22T09:00:00+01:00"), now);
        assert_eq!(full, Err(Unavailable::Full));
        // Once the hold expires the slot is back.
        let later = ts("2027-03-22T07:10:00+01:00");
        assert_eq!(cal.slots(&m, &occ, day, day, later).len(), 3);
        assert_eq!(
            cal.next_slot(&m, &occ, now).map(|s| s.start),
            Some(ts("2027-03-22T08:30:00+01:00"))
        );
    }

    #[test]
    fn capacity_pools() {
        let m = motive(30, 3);
        let cal = calendar("Europe/Paris", vec![rule(&m, &[1], (9, 0), (11, 0))]);
        let now = ts(JAN_1);
        let day = date(2027, 3, 22);
        let pooled = |s: &str, e: &str| reservation(s, e, true);
        let two = vec![
            pooled("2027-03-22T09:00:00+01:00", "2027-03-22T09:30:00+01:00"),
            pooled("2027-03-22T09:00:00+01:00", "2027-03-22T09:30:00+01:00"),
        ];
        let slots = cal.slots(&m, &Occupancy::new(two.clone()), day, day, now);
        assert_eq!(
            slots.iter().map(|s| s.remaining).collect::<Vec<_>>(),
            [1, 3, 3, 3]
        );
        let nine = ts("2027-03-22T09:00:00+01:00");
        assert_eq!(
            cal.check_start(&m, &Occupancy::new(two.clone()), nine, now)
                .map(|s| s.remaining),
            Ok(1)
        );

        let mut three = two.clone();
        three.push(pooled(
            "2027-03-22T09:00:00+01:00",
            "2027-03-22T09:30:00+01:00",
        ));
        let occ = Occupancy::new(three);
        assert_eq!(cal.slots(&m, &occ, day, day, now).len(), 3);
        assert_eq!(cal.check_start(&m, &occ, nine, now), Err(Unavailable::Full));

        // An exclusive reservation inside the pool's interval blocks it.
        let mut blocked = two.clone();
        blocked.push(reservation(
            "2027-03-22T09:10:00+01:00",
            "2027-03-22T09:20:00+01:00",
            false,
        ));
        let occ = Occupancy::new(blocked);
        assert_eq!(cal.slots(&m, &occ, day, day, now).len(), 3);
        assert_eq!(cal.check_start(&m, &occ, nine, now), Err(Unavailable::Full));

        // A pooled reservation with another (start, end) blocks too.
        let occ = Occupancy::new(vec![pooled(
            "2027-03-22T10:00:00+01:00",
            "2027-03-22T10:15:00+01:00",
        )]);
        let slots = cal.slots(&m, &occ, day, day, now);
        assert_eq!(
            starts(&slots),
            [
                "2027-03-22 09:00:00+01:00",
                "2027-03-22 09:30:00+01:00",
                "2027-03-22 10:30:00+01:00"
            ]
        );

        // An exclusive motive is blocked by any overlapping reservation, pooled or not.
        let single = motive(30, 1);
        let cal = calendar("Europe/Paris", vec![rule(&single, &[1], (9, 0), (11, 0))]);
        let occ = Occupancy::new(two);
        assert_eq!(cal.slots(&single, &occ, day, day, now).len(), 3);
        assert_eq!(
            cal.check_start(&single, &occ, nine, now),
            Err(Unavailable::Full)
        );
    }

    #[test]
    fn overlapping_rules_emit_each_start_once() {
        let m = motive(30, 1);
        let other = motive(30, 1);
        let mut rules = vec![
            rule(&m, &[1], (8, 0), (10, 0)),
            rule(&m, &[1], (9, 0), (11, 0)),
            rule(&m, &[1], (8, 15), (9, 15)),
            rule(&other, &[1], (14, 0), (15, 0)),
        ];
        // Outside its validity dates a rule does nothing.
        let mut late = rule(&m, &[1], (16, 0), (17, 0));
        late.valid_from = Some(date(2027, 4, 1));
        rules.push(late);
        let cal = calendar("Europe/Paris", rules);
        let day = date(2027, 3, 22);
        let slots = cal.slots(&m, &Occupancy::default(), day, day, ts(JAN_1));
        assert_eq!(
            starts(&slots),
            [
                "2027-03-22 08:00:00+01:00",
                "2027-03-22 08:15:00+01:00",
                "2027-03-22 08:30:00+01:00",
                "2027-03-22 08:45:00+01:00",
                "2027-03-22 09:00:00+01:00",
                "2027-03-22 09:30:00+01:00",
                "2027-03-22 10:00:00+01:00",
                "2027-03-22 10:30:00+01:00",
            ]
        );
        let april = date(2027, 4, 5);
        assert_eq!(
            cal.slots(&m, &Occupancy::default(), april, april, ts(JAN_1))
                .len(),
            8 + 2
        );
    }

    #[test]
    fn check_start_reasons() {
        let mut m = motive(20, 1);
        m.policy.min_notice_min = 120;
        m.policy.max_horizon_days = 7;
        let mut cal = calendar(
            "Europe/Berlin",
            vec![rule(&m, &[1, 2, 3, 4, 5], (8, 0), (12, 0))],
        );
        cal.absences = vec![(
            ts("2027-03-24T00:00:00+01:00"),
            ts("2027-03-25T00:00:00+01:00"),
        )];
        let occ = Occupancy::new(vec![reservation(
            "2027-03-23T10:00:00+01:00",
            "2027-03-23T10:20:00+01:00",
            false,
        )]);
        let now = ts("2027-03-22T08:00:00+01:00");
        let check = |s: &str| cal.check_start(&m, &occ, ts(s), now);
        assert_eq!(
            check("2027-03-23T08:20:00+01:00"),
            Ok(Slot {
                start: ts("2027-03-23T08:20:00+01:00"),
                end: ts("2027-03-23T08:40:00+01:00"),
                remaining: 1
            })
        );
        assert_eq!(
            check("2027-03-23T08:10:00+01:00"),
            Err(Unavailable::NotASlot)
        );
        assert_eq!(
            check("2027-03-23T11:50:00+01:00"),
            Err(Unavailable::NotASlot)
        ); // ends 12:10
        assert_eq!(
            check("2027-03-23T11:40:00+01:00").map(|s| s.end),
            Ok(ts("2027-03-23T12:00:00+01:00"))
        );
        assert_eq!(
            check("2027-03-27T08:00:00+01:00"),
            Err(Unavailable::NotASlot)
        ); // Saturday
        assert_eq!(check("2027-03-24T09:00:00+01:00"), Err(Unavailable::Closed));
        assert_eq!(
            check("2027-03-22T09:00:00+01:00"),
            Err(Unavailable::TooSoon)
        );
        assert_eq!(
            check("2027-03-22T07:00:00+01:00"),
            Err(Unavailable::NotASlot)
        );
        assert_eq!(
            check("2027-03-22T08:00:00+01:00"),
            Err(Unavailable::TooSoon)
        );
        assert_eq!(check("2027-04-01T08:00:00+02:00"), Err(Unavailable::TooFar));
        assert_eq!(check("2027-03-23T10:00:00+01:00"), Err(Unavailable::Full));
        // Closed wins over TooSoon, NotASlot over everything.
        assert_eq!(
            cal.check_start(
                &m,
                &occ,
                ts("2027-03-24T09:00:00+01:00"),
                ts("2027-03-24T08:00:00+01:00")
            ),
            Err(Unavailable::Closed)
        );
        assert_eq!(
            cal.check_start(
                &m,
                &occ,
                ts("2027-03-24T09:05:00+01:00"),
                ts("2027-03-24T08:00:00+01:00")
            ),
            Err(Unavailable::NotASlot)
        );
    }

    #[test]
    fn next_slot_skips_closed_days() {
        let m = motive(30, 1);
        let mut cal = calendar("Europe/Rome", vec![rule(&m, &[3], (14, 0), (15, 0))]);
        cal.holidays = Some(Country::Italy);
        // Wednesday 2027-12-08 is the Immaculate Conception; next is the 15th.
        let now = ts("2027-12-06T12:00:00+01:00");
        let full = Occupancy::new(vec![reservation(
            "2027-12-15T14:00:00+01:00",
            "2027-12-15T14:30:00+01:00",
            false,
        )]);
        assert_eq!(
            cal.next_slot(&m, &full, now).map(|s| s.start),
            Some(ts("2027-12-15T14:30:00+01:00"))
        );
        let mut short = m.clone();
        short.policy.max_horizon_days = 5;
        assert_eq!(cal.next_slot(&short, &full, now), None);
    }

    #[test]
    fn a_skipped_day_keeps_slots_in_order() {
        // Samoa skipped Friday 2011-12-30: its local times resolve onto Saturday the 31st.
        let m = motive(30, 1);
        let cal = calendar(
            "Pacific/Apia",
            vec![
                rule(&m, &[5], (14, 0), (15, 0)),
                rule(&m, &[6], (8, 0), (9, 0)),
            ],
        );
        let occ = Occupancy::default();
        let now = ts("2011-12-29T12:00:00-10:00");
        let saturday = date(2011, 12, 31);
        let friday = date(2011, 12, 30);
        let slots = cal.slots(&m, &occ, saturday, saturday, now);
        assert_eq!(
            slots.iter().map(|s| s.start).collect::<Vec<_>>(),
            [
                ts("2011-12-31T08:00:00+14:00"),
                ts("2011-12-31T08:30:00+14:00"),
                ts("2011-12-31T14:00:00+14:00"),
                ts("2011-12-31T14:30:00+14:00"),
            ]
        );
        assert!(cal.slots(&m, &occ, friday, friday, now).is_empty());
        assert_eq!(cal.next_slot(&m, &occ, now), slots.first().copied());
        assert_eq!(
            cal.check_start(&m, &occ, ts("2011-12-31T14:00:00+14:00"), now)
                .map(|s| s.start),
            Ok(ts("2011-12-31T14:00:00+14:00"))
        );
    }

    #[test]
    fn cached_offsets_agree_with_jiff() {
        let m = motive(30, 1);
        let occ = Occupancy::default();
        let times = [
            time(0, 0, 0, 0),
            time(0, 30, 0, 0),
            time(1, 59, 59, 500_000_000),
            time(2, 30, 0, 0),
            time(12, 0, 0, 0),
            time(23, 59, 59, 999_999_999),
        ];
        for zone in [
            "Europe/Paris",
            "America/New_York",
            "America/Santiago",
            "Australia/Lord_Howe",
            "Pacific/Apia",
            "America/Sao_Paulo",
            "Asia/Kolkata",
            "UTC",
        ] {
            let cal = calendar(zone, vec![]);
            let mut engine = Engine::new(&cal, &m, &occ, ts(JAN_1));
            let mut day = date(2010, 6, 1);
            while day < date(2013, 6, 1) {
                for time in times {
                    let expected = cal
                        .tz
                        .to_ambiguous_timestamp(day.to_datetime(time))
                        .compatible()
                        .unwrap();
                    assert_eq!(
                        engine.instant(day, epoch_day(day), time),
                        Some(expected),
                        "{zone} {day} {time}"
                    );
                    let local = cal.tz.to_datetime(expected).date();
                    assert_eq!(
                        engine.offsets.local_day(expected),
                        epoch_day(local),
                        "{zone} {day} {time}"
                    );
                    assert_eq!(
                        engine.offsets.local_date(expected),
                        local,
                        "{zone} {day} {time}"
                    );
                }
                day = day.tomorrow().unwrap();
            }
        }
    }

    #[test]
    fn epoch_days_match_jiff() {
        for d in [
            date(1970, 1, 1),
            date(1969, 12, 31),
            date(2000, 2, 29),
            date(2027, 3, 28),
            date(-3, 3, 1),
            date(9999, 12, 30),
        ] {
            let midnight = Offset::UTC
                .to_timestamp(d.to_datetime(time(0, 0, 0, 0)))
                .unwrap();
            assert_eq!(epoch_day(d) * SECONDS_PER_DAY, midnight.as_second(), "{d}");
        }
    }

    // ---- Reference implementation: slow, obvious, independent of the engine's shortcuts. ----

    fn naive_date(t: Timestamp, tz: &TimeZone) -> Date {
        t.to_zoned(tz.clone()).date()
    }

    /// Every start a rule produces on a local date in `[from, to]`, with the verdict a
    /// booking at that start gets.
    fn naive(
        cal: &AgendaCalendar,
        m: &Motive,
        reservations: &[Reservation],
        from: Date,
        to: Date,
        now: Timestamp,
    ) -> BTreeMap<Timestamp, Result<Slot, Unavailable>> {
        let mut out = BTreeMap::new();
        let dur = SignedDuration::from_mins(i64::from(m.duration.get()));
        let earliest = now + SignedDuration::from_mins(i64::from(m.policy.min_notice_min));
        let latest = now + SignedDuration::from_hours(24 * i64::from(m.policy.max_horizon_days));
        let mut d = from.yesterday().unwrap();
        while d <= to.tomorrow().unwrap() {
            for r in &cal.rules {
                if !r.motive_ids.contains(&m.id) || !r.applies_on(d) {
                    continue;
                }
                let rs = d
                    .to_datetime(r.start)
                    .to_zoned(cal.tz.clone())
                    .unwrap()
                    .timestamp();
                let re = d
                    .to_datetime(r.end)
                    .to_zoned(cal.tz.clone())
                    .unwrap()
                    .timestamp();
                for k in 0.. {
                    let start = rs + dur * k;
                    let end = start + dur;
                    if end > re {
                        break;
                    }
                    let local = naive_date(start, &cal.tz);
                    if local < from || local > to {
                        continue;
                    }
                    let holiday = cal.holidays.is_some_and(|c| c.is_holiday(local));
                    let absent = cal.absences.iter().any(|&(a, b)| a < end && start < b);
                    let verdict = if holiday || absent {
                        Err(Unavailable::Closed)
                    } else if start < earliest {
                        Err(Unavailable::TooSoon)
                    } else if start > latest {
                        Err(Unavailable::TooFar)
                    } else {
                        let live: Vec<_> = reservations
                            .iter()
                            .filter(|x| x.start < end && start < x.end)
                            .filter(|x| x.expires_at.is_none_or(|e| e > now))
                            .collect();
                        let in_pool = |x: &&&Reservation| {
                            m.capacity > 1 && x.pooled && x.start == start && x.end == end
                        };
                        let pool = live.iter().filter(in_pool).count() as u32;
                        if live.len() as u32 > pool || pool >= m.capacity {
                            Err(Unavailable::Full)
                        } else {
                            Ok(Slot {
                                start,
                                end,
                                remaining: m.capacity - pool,
                            })
                        }
                    };
                    out.insert(start, verdict);
                }
            }
            d = d.tomorrow().unwrap();
        }
        out
    }

    const ZONES: [&str; 5] = [
        "Europe/Paris",
        "Europe/Berlin",
        "Europe/Rome",
        "America/New_York",
        "UTC",
    ];
    /// DST transitions (EU and US, both directions) and holidays.
    const BASES: [(i16, i8, i8); 8] = [
        (2026, 3, 29),
        (2026, 10, 25),
        (2027, 3, 14),
        (2027, 3, 28),
        (2027, 5, 17),
        (2027, 10, 31),
        (2027, 11, 7),
        (2027, 12, 26),
    ];

    #[derive(Debug, Clone)]
    struct RuleSpec {
        mask: u8,
        start_5min: u16,
        len_5min: u16,
        for_motive: bool,
        valid: Option<(i64, i64)>,
    }

    #[derive(Debug, Clone)]
    struct ReservationSpec {
        /// Aligned on a slot of rule `rule` on day `day` (index `k`), or free-form.
        aligned: Option<(usize, i64, i64)>,
        start_min: i64,
        len_min: i64,
        pooled: bool,
        /// Hold expiring at now + minutes.
        hold: Option<i64>,
    }

    #[derive(Debug, Clone)]
    struct Case {
        zone: &'static str,
        base: (i16, i8, i8),
        from_offset: i64,
        span_days: i64,
        rules: Vec<RuleSpec>,
        duration: i64,
        capacity: i64,
        notice: u32,
        horizon: u32,
        holidays: Option<Country>,
        now_min: i64,
        absences: Vec<(i64, i64)>,
        reservations: Vec<ReservationSpec>,
    }

    fn rule_spec() -> impl Strategy<Value = RuleSpec> {
        (
            1u8..128,
            0u16..287,
            1u16..288,
            prop::bool::weighted(0.85),
            prop::option::weighted(0.2, (0i64..20, 0i64..20)),
        )
            .prop_map(|(mask, start_5min, len_5min, for_motive, valid)| RuleSpec {
                mask,
                start_5min,
                len_5min,
                for_motive,
                valid,
            })
    }

    fn reservation_spec() -> impl Strategy<Value = ReservationSpec> {
        (
            prop::option::weighted(0.6, (0usize..4, 0i64..8, 0i64..3)),
            -1440i64..(33 * 1440),
            5i64..180,
            prop::bool::weighted(0.8),
            prop::option::weighted(0.3, -600i64..600),
        )
            .prop_map(
                |(aligned, start_min, len_min, pooled, hold)| ReservationSpec {
                    aligned,
                    start_min,
                    len_min,
                    pooled,
                    hold,
                },
            )
    }

    /// Random agendas in the zone, around the date, that `place` picks.
    fn case(
        place: impl Strategy<Value = (&'static str, (i16, i8, i8))>,
    ) -> impl Strategy<Value = Case> {
        (
            (place, -20i64..6, 0i64..31),
            prop::collection::vec(rule_spec(), 1..=4),
            (
                5i64..=120,
                1i64..4,
                prop_oneof![Just(0u32), 0u32..3000],
                1u32..40,
            ),
            prop_oneof![
                Just(None),
                Just(Some(Country::France)),
                Just(Some(Country::Germany)),
                Just(Some(Country::Italy))
            ],
            -5 * 1440i64..10 * 1440,
            prop::collection::vec((-1440i64..(33 * 1440), 1i64..3000), 0..4),
            prop::collection::vec(reservation_spec(), 0..40),
        )
            .prop_map(
                |(
                    ((zone, base), from_offset, span_days),
                    rules,
                    (duration, capacity, notice, horizon),
                    holidays,
                    now_min,
                    absences,
                    reservations,
                )| Case {
                    zone,
                    base,
                    from_offset,
                    span_days,
                    rules,
                    duration,
                    capacity,
                    notice,
                    horizon,
                    holidays,
                    now_min,
                    absences,
                    reservations,
                },
            )
    }

    struct Built {
        cal: AgendaCalendar,
        motive: Motive,
        reservations: Vec<Reservation>,
        from: Date,
        to: Date,
        now: Timestamp,
    }

    fn build(c: &Case) -> Built {
        let tz = TimeZone::get(c.zone).unwrap();
        let (y, mo, d) = c.base;
        let from = date(y, mo, d)
            .checked_add(jiff::Span::new().days(c.from_offset))
            .unwrap();
        let to = from
            .checked_add(jiff::Span::new().days(c.span_days))
            .unwrap();
        let origin = from.to_zoned(TimeZone::UTC).unwrap().timestamp();
        let at = |min: i64| origin + SignedDuration::from_mins(min);
        let day = |n: i64| from.checked_add(jiff::Span::new().days(n)).unwrap();
        let mut m = motive(c.duration, c.capacity);
        m.policy.min_notice_min = c.notice;
        m.policy.max_horizon_days = c.horizon;
        let other = MotiveId::new();
        let rules: Vec<OpeningRule> = c
            .rules
            .iter()
            .map(|r| {
                let end_5min = (r.start_5min + r.len_5min).min(287);
                let hm = |i: u16| time((i / 12) as i8, (i % 12 * 5) as i8, 0, 0);
                OpeningRule::parse(
                    RuleId::new(),
                    m.agenda_id.clone(),
                    WeekdaySet::from_mask(r.mask << 1).unwrap(),
                    hm(r.start_5min),
                    hm(end_5min),
                    vec![
                        if r.for_motive {
                            m.id.clone()
                        } else {
                            other.clone()
                        },
                        MotiveId::new(),
                    ],
                    r.valid.map(|(a, _)| day(a)),
                    r.valid.map(|(a, b)| day(a + b)),
                )
                .unwrap()
            })
            .collect();
        let now = at(c.now_min);
        let reservations = c
            .reservations
            .iter()
            .map(|r| {
                let (start, end) = match r.aligned {
                    Some((i, n, k)) => {
                        let rule = &rules[i % rules.len()];
                        let rs = day(n)
                            .to_datetime(rule.start)
                            .to_zoned(tz.clone())
                            .unwrap()
                            .timestamp();
                        let s = rs + SignedDuration::from_mins(c.duration * k);
                        (s, s + SignedDuration::from_mins(c.duration))
                    }
                    None => (at(r.start_min), at(r.start_min + r.len_min)),
                };
                Reservation {
                    start,
                    end,
                    pooled: r.pooled,
                    expires_at: r.hold.map(|h| now + SignedDuration::from_mins(h)),
                }
            })
            .collect();
        let cal = AgendaCalendar {
            tz,
            holidays: c.holidays,
            rules,
            absences: c
                .absences
                .iter()
                .map(|&(s, len)| (at(s), at(s + len)))
                .collect(),
        };
        Built {
            cal,
            motive: m,
            reservations,
            from,
            to,
            now,
        }
    }

    fn check_case(c: &Case) -> Result<(), TestCaseError> {
        let Built {
            cal,
            motive: m,
            reservations,
            from,
            to,
            now,
        } = build(c);
        let occ = Occupancy::new(reservations.clone());
        let reference = naive(&cal, &m, &reservations, from, to, now);
        let expected: Vec<Slot> = reference.values().filter_map(|v| v.ok()).collect();
        let slots = cal.slots(&m, &occ, from, to, now);
        prop_assert_eq!(&slots, &expected);
        // Packed or not, the same answers and the same reservations.
        let unpacked = Occupancy::unpacked(reservations.clone());
        prop_assert_eq!(&cal.slots(&m, &unpacked, from, to, now), &expected);
        let mut sorted = reservations.clone();
        let key = |r: &Reservation| (r.start, r.end, r.pooled, r.expires_at);
        let mut listed = occ.reservations();
        listed.sort_by_key(key);
        sorted.sort_by_key(key);
        let holds: Vec<Reservation> = listed
            .iter()
            .filter(|r| r.expires_at.is_some())
            .copied()
            .collect();
        let mut held: Vec<Reservation> = occ.holds().copied().collect();
        held.sort_by_key(key);
        prop_assert_eq!(held, holds);
        prop_assert_eq!(listed, sorted);

        // check_start agrees on every slot and on a sample of other starts.
        for s in &slots {
            prop_assert_eq!(cal.check_start(&m, &occ, s.start, now), Ok(*s));
        }
        let step = (reference.len() / 64).max(1);
        for (start, verdict) in reference.iter().step_by(step) {
            prop_assert_eq!(cal.check_start(&m, &occ, *start, now), *verdict);
            let off_grid = *start + SignedDuration::from_mins(1);
            let local = naive_date(off_grid, &cal.tz);
            if from <= local && local <= to {
                let expected = reference
                    .get(&off_grid)
                    .copied()
                    .unwrap_or(Err(Unavailable::NotASlot));
                prop_assert_eq!(cal.check_start(&m, &occ, off_grid, now), expected);
            }
        }

        // next_slot is the first slot from today to the horizon's date.
        let horizon = SignedDuration::from_hours(24 * i64::from(m.policy.max_horizon_days));
        let (today, last) = (naive_date(now, &cal.tz), naive_date(now + horizon, &cal.tz));
        let first = cal.slots(&m, &occ, today, last, now).first().copied();
        let naive_first = naive(&cal, &m, &reservations, today, last, now)
            .values()
            .find_map(|v| v.ok());
        prop_assert_eq!(first, naive_first);
        prop_assert_eq!(cal.next_slot(&m, &occ, now), first);
        Ok(())
    }

    /// Zones whose transitions sit at midnight or skip a whole day, or move by 30 minutes,
    /// with a date next to one of them.
    const EXOTIC: [(&str, (i16, i8, i8)); 11] = [
        ("America/Santiago", (2027, 4, 4)),
        ("America/Santiago", (2027, 9, 5)),
        ("America/Havana", (2027, 3, 14)),
        ("America/Havana", (2027, 11, 7)),
        ("Asia/Beirut", (2027, 3, 28)),
        ("Asia/Beirut", (2027, 10, 31)),
        ("Pacific/Apia", (2011, 12, 30)),
        ("America/Sao_Paulo", (2018, 11, 4)),
        ("America/Sao_Paulo", (2019, 2, 17)),
        ("Australia/Lord_Howe", (2027, 4, 4)),
        ("Australia/Lord_Howe", (2027, 10, 3)),
    ];

    /// Packed reservations (whole seconds) against slots and reservations off the second,
    /// before and after the packing's origin: the same places left as the unpacked list.
    #[test]
    fn packed_reservations_count_as_unpacked_ones() {
        let base = ts("2000-01-01T00:00:00Z");
        let ns = |n: i64| SignedDuration::from_nanos(n);
        let mut reservations = Vec::new();
        for i in -20i64..60 {
            let start = base + SignedDuration::from_mins(i * 7);
            let len = SignedDuration::from_mins(5 + i.rem_euclid(3) * 5);
            let jitter = match i.rem_euclid(5) {
                0 => ns(1),
                1 => ns(-1),
                _ => ns(0),
            };
            reservations.push(Reservation {
                start: start + jitter,
                end: start + len,
                pooled: i % 2 == 0,
                expires_at: (i.rem_euclid(7) == 0).then(|| base + SignedDuration::from_mins(i * 3)),
            });
        }
        let packed = Occupancy::new(reservations.clone());
        assert!(!packed.packed.is_empty() && !packed.exact.is_empty());
        let unpacked = Occupancy::unpacked(reservations);
        for capacity in [1, 3] {
            let m = motive(5, capacity);
            for i in -200i64..500 {
                for off in [ns(0), ns(1), ns(-1), ns(999_999_999)] {
                    let start = base + SignedDuration::from_mins(i) + off;
                    for len in [
                        SignedDuration::from_mins(5),
                        SignedDuration::from_mins(10) - off,
                    ] {
                        let end = start + len;
                        let now = base + SignedDuration::from_mins(i / 2);
                        assert_eq!(
                            packed.remaining(&m, start, end, now),
                            unpacked.remaining(&m, start, end, now),
                            "{start} {end}"
                        );
                    }
                }
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn engine_matches_reference(
            c in case((prop::sample::select(ZONES.to_vec()), prop::sample::select(BASES.to_vec())))
        ) {
            check_case(&c)?;
        }

        #[test]
        fn engine_matches_reference_in_exotic_zones(c in case(prop::sample::select(EXOTIC.to_vec()))) {
            check_case(&c)?;
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Until the instant `slots_stable_until` gives, time alone leaves a day's slots as
        /// they are: the notice, the horizon and holds lapsing are all it accounts for.
        #[test]
        fn a_days_slots_stay_until_their_stable_instant(
            notice_min in 0u32..4_320,
            horizon_days in 1u32..40,
            capacity in 1i64..3,
            day_off in 0i64..45,
            at_s in 0i64..86_400,
            holds in prop::collection::vec((0i64..48, 1i64..200_000), 0..4),
            booked in prop::collection::vec(0i64..48, 0..3),
            probes in prop::collection::vec(0.0f64..1.0, 4),
        ) {
            let mut m = motive(15, capacity);
            m.policy.min_notice_min = notice_min;
            m.policy.max_horizon_days = horizon_days;
            let cal = calendar("Europe/Paris", vec![rule(&m, &[1, 2, 3, 4, 5, 6, 7], (8, 0), (20, 0))]);
            let tz = cal.tz.clone();
            let now = ts("2027-03-01T00:00:00Z") + SignedDuration::from_secs(at_s);
            let day = now.to_zoned(tz.clone()).date() + jiff::Span::new().days(day_off);
            let from = day.to_zoned(tz.clone()).unwrap().timestamp();
            let to = day.tomorrow().unwrap().to_zoned(tz.clone()).unwrap().timestamp();
            let at = |k: i64| from + SignedDuration::from_mins(8 * 60 + 15 * k);
            let mut reservations: Vec<Reservation> = holds
                .iter()
                .map(|&(k, ttl)| Reservation {
                    start: at(k),
                    end: at(k + 1),
                    pooled: capacity > 1,
                    expires_at: Some(now + SignedDuration::from_secs(ttl)),
                })
                .collect();
            reservations.extend(booked.iter().map(|&k| Reservation {
                start: at(k),
                end: at(k + 1),
                pooled: capacity > 1,
                expires_at: None,
            }));
            let occ = Occupancy::new(reservations);
            let base = cal.slots(&m, &occ, day, day, now);
            let until = cal.slots_stable_until(&m, &occ, (from, to), now);
            prop_assert!(until >= now);
            let last = until.min(now + SignedDuration::from_hours(24 * 60));
            let span = last.duration_since(now).as_secs_f64();
            for p in &probes {
                let t = now + SignedDuration::from_secs_f64(span * p);
                prop_assert_eq!(&cal.slots(&m, &occ, day, day, t), &base, "at {}", t);
            }
            if until > now {
                let t = last - SignedDuration::from_nanos(1);
                prop_assert_eq!(&cal.slots(&m, &occ, day, day, t), &base, "just before {}", until);
            }
            // Not merely cautious: a day wholly between the notice's and the horizon's
            // bounds, with no hold, stays as it is for a while.
            let notice = SignedDuration::from_mins(i64::from(notice_min));
            let horizon = SignedDuration::from_hours(24 * i64::from(horizon_days));
            if holds.is_empty() && from > now + notice && to <= now + horizon {
                prop_assert!(until > now);
            }
        }
    }

    /// `cargo test -p careslot-domain --release -- --ignored --nocapture bench`
    #[test]
    #[ignore]
    fn bench_month_query() {
        let m = motive(20, 1);
        let cal = AgendaCalendar {
            tz: TimeZone::get("Europe/Paris").unwrap(),
            holidays: Some(Country::France),
            rules: vec![
                rule(&m, &[1, 2, 3, 4, 5], (8, 0), (12, 0)),
                rule(&m, &[1, 2, 4, 5], (14, 0), (19, 0)),
                rule(&m, &[6], (9, 0), (12, 0)),
            ],
            absences: vec![(
                ts("2027-03-10T00:00:00+01:00"),
                ts("2027-03-12T00:00:00+01:00"),
            )],
        };
        let zero = ts("2027-03-01T08:00:00+01:00");
        let reservations: Vec<Reservation> = (0..300)
            .map(|i: i64| {
                let start = zero + SignedDuration::from_mins(i * 140);
                Reservation {
                    start,
                    end: start + SignedDuration::from_mins(20),
                    pooled: false,
                    expires_at: None,
                }
            })
            .collect();
        let occ = Occupancy::new(reservations);
        let now = ts("2027-02-28T12:00:00+01:00");
        let n = 2000;
        let t = std::time::Instant::now();
        let mut count = 0;
        for _ in 0..n {
            count +=
                std::hint::black_box(cal.slots(&m, &occ, date(2027, 3, 1), date(2027, 3, 31), now))
                    .len();
        }
        println!(
            "slots over 31 days: {:?} per query, {} slots",
            t.elapsed() / n,
            count / n as usize
        );
        let t = std::time::Instant::now();
        for _ in 0..n {
            std::hint::black_box(cal.next_slot(&m, &occ, std::hint::black_box(now)));
        }
        println!("next_slot: {:?} per call", t.elapsed() / n);
    }
}
