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
