//! Reminder delays per practice (issue 14): how long before an appointment its email and SMS
//! reminders are due. 0 turns one off.

/// The longest delay a practice may choose: two weeks.
pub const MAX_REMINDER_HOURS: u16 = 336;

/// A practitioner's reminder delays, in whole hours before the start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReminderDelays {
    pub email_hours_before: u16,
    pub sms_hours_before: u16,
}

impl Default for ReminderDelays {
    /// 72 h by email, 24 h by SMS.
    fn default() -> Self {
        Self {
            email_hours_before: 72,
            sms_hours_before: 24,
        }
    }
}

/// An earlier-slot alert: tell `account_id` when a place opens in `agenda_id` for the motive
/// sealed in `motive_ct` (under the agenda's key), optionally only before `before`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotAlert {
    pub id: String,
    pub account_id: careslot_domain::AccountId,
    pub agenda_id: careslot_domain::AgendaId,
    pub motive_ct: Vec<u8>,
    pub before: Option<jiff::Timestamp>,
    /// Subscription order (ties broken by id).
    pub created_at: jiff::Timestamp,
}

/// A live offer made to an alert: the hold keeping the place until `expires_at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotOffer {
    pub alert_id: String,
    pub hold_id: careslot_domain::ReservationId,
    pub start: jiff::Timestamp,
    pub expires_at: jiff::Timestamp,
}

/// A booked place that became free in a watched agenda, as a worker claimed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FreedPlace {
    pub id: String,
    pub agenda_id: careslot_domain::AgendaId,
    pub start: jiff::Timestamp,
    pub end: jiff::Timestamp,
}
