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

use crate::{Country, Motive, OpeningRule};
use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::Timestamp;

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

/// The live reservations of one agenda, kept sorted by start for fast overlap queries.
#[derive(Debug, Clone, Default)]
pub struct Occupancy {
    reservations: Vec<Reservation>,
    /// Longest reservation, bounds how far back an overlap search must look.
    max_len_s: i64,
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
    pub fn new(mut reservations: Vec<Reservation>) -> Self {
        reservations.sort_by_key(|r| (r.start, r.end));
        let max_len_s = reservations
            .iter()
            .map(|r| r.end.as_second() - r.start.as_second())
            .max()
            .unwrap_or(0);
        Self {
            reservations,
            max_len_s,
        }
    }

    pub fn reservations(&self) -> &[Reservation] {
        &self.reservations
    }

    pub fn max_len_s(&self) -> i64 {
        self.max_len_s
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
        let _ = (motive, occupancy, from, to, now);
        unimplemented!("availability engine")
    }

    /// The earliest bookable slot of `motive` from `now` on, within its horizon.
    pub fn next_slot(&self, motive: &Motive, occupancy: &Occupancy, now: Timestamp) -> Option<Slot> {
        let _ = (motive, occupancy, now);
        unimplemented!("availability engine")
    }

    /// Whether `start` is a bookable slot of `motive` right now; returns the slot (with its
    /// end and remaining places) or the reason it is not.
    pub fn check_start(
        &self,
        motive: &Motive,
        occupancy: &Occupancy,
        start: Timestamp,
        now: Timestamp,
    ) -> Result<Slot, Unavailable> {
        let _ = (motive, occupancy, start, now);
        unimplemented!("availability engine")
    }
}
