//! Recurring care (issue 18 point 5): appointments the practice books together as one
//! series, all or none, each through the same overlap and capacity rules as any booking.

use crate::{OutboxWrite, ReservationRow, ReserveRequest};
use careslot_domain::{AccountId, AgendaId, MotiveId, ReservationId};
use jiff::Timestamp;

/// A series to book in one transaction.
#[derive(Debug, Clone)]
pub struct CareSeriesRequest {
    pub id: String,
    pub agenda_id: AgendaId,
    /// The practice member who booked it.
    pub created_by: AccountId,
    /// The rule's summary (weekdays, interval, count): never health data.
    pub rule: String,
    /// One booking per occurrence, in order, all of `agenda_id`.
    pub occurrences: Vec<ReserveRequest>,
    pub now: Timestamp,
    /// The series' one message, queued in the same transaction only when every occurrence
    /// is booked (the occurrences' own outbox writes are ignored).
    pub outbox: OutboxWrite,
}

/// What booking a series did.
#[derive(Debug, Clone)]
pub enum CareSeriesOutcome {
    /// Every occurrence is booked, in order.
    Booked(Vec<ReservationRow>),
    /// Nothing was booked: these occurrences (indices into the request's) were not free.
    Conflicts(Vec<usize>),
}

/// A series and its appointments (whatever their status), by start.
#[derive(Debug, Clone)]
pub struct CareSeries {
    pub id: String,
    pub agenda_id: AgendaId,
    pub created_by: AccountId,
    pub rule: String,
    pub created_at: Timestamp,
    pub occurrences: Vec<ReservationRow>,
}

/// One occurrence of a series to move: its new start (its length stays).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OccurrenceMove {
    pub id: ReservationId,
    /// Its motive (sealed in the row): whether it shares a pooled slot.
    pub motive: MotiveId,
    pub start: Timestamp,
}

/// What moving a series did.
#[derive(Debug, Clone)]
pub enum SeriesMoveOutcome {
    /// Every occurrence asked for moved, in the order asked.
    Moved(Vec<ReservationRow>),
    /// Nothing moved: these occurrences (indices into the request's) found their new time
    /// taken.
    Conflicts(Vec<usize>),
}
