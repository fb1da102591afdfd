//! The practice's reminder delays (issue 14): how long before an appointment its patients get
//! the email and the SMS reminder. Read when an appointment is booked or moved; changing them
//! applies to appointments booked or moved afterwards (queued reminders keep their time).

use super::{AppResult, Caller, Scheduling};
use careslot_domain::{AgendaId, DomainError};
use careslot_store::{ReminderDelays, MAX_REMINDER_HOURS};

/// Parses one delay in hours: 0 (off) to two weeks.
pub fn parse_reminder_hours(field: &'static str, hours: i64) -> Result<u16, DomainError> {
    u16::try_from(hours)
        .ok()
        .filter(|h| *h <= MAX_REMINDER_HOURS)
        .ok_or_else(|| {
            DomainError::new(
                field,
                "must be a whole number of hours from 0 (no reminder) to 336 (two weeks)",
            )
        })
}

impl Scheduling {
    /// The caller's (a practitioner's) reminder delays.
    pub async fn reminder_delays_of(&self, caller: &Caller) -> AppResult<ReminderDelays> {
        let me = self.practitioner_of(caller).await?;
        Ok(self.store.reminder_delays(&me.id).await?)
    }

    /// Sets the caller's reminder delays, in hours before the start (0 = off).
    pub async fn set_reminder_delays(
        &self,
        caller: &Caller,
        email_hours_before: i64,
        sms_hours_before: i64,
    ) -> AppResult<ReminderDelays> {
        let me = self.practitioner_of(caller).await?;
        let delays = ReminderDelays {
            email_hours_before: parse_reminder_hours("email_hours_before", email_hours_before)?,
            sms_hours_before: parse_reminder_hours("sms_hours_before", sms_hours_before)?,
        };
        self.store
            .put_reminder_delays(&me.id, &delays, self.now())
            .await?;
        Ok(delays)
    }
}

impl Scheduling {
    /// The reminder delays of the practice running `agenda`, for whoever manages it
    /// (practitioner or assistant: the settings page).
    pub async fn agenda_reminder_delays(
        &self,
        caller: &Caller,
        agenda: &AgendaId,
    ) -> AppResult<ReminderDelays> {
        let view = self.desk_view(caller, agenda).await?;
        Ok(self
            .store
            .reminder_delays(&view.agenda.practitioner_id)
            .await?)
    }

    /// Sets the reminder delays of the practice running `agenda` (the settings page).
    pub async fn set_agenda_reminder_delays(
        &self,
        caller: &Caller,
        agenda: &AgendaId,
        email_hours_before: i64,
        sms_hours_before: i64,
    ) -> AppResult<ReminderDelays> {
        let view = self.desk_view(caller, agenda).await?;
        let delays = ReminderDelays {
            email_hours_before: parse_reminder_hours("email_hours_before", email_hours_before)?,
            sms_hours_before: parse_reminder_hours("sms_hours_before", sms_hours_before)?,
        };
        self.store
            .put_reminder_delays(&view.agenda.practitioner_id, &delays, self.now())
            .await?;
        Ok(delays)
    }
}

#[cfg(test)]
mod tests {
    use super::parse_reminder_hours;

    #[test]
    fn delays_are_bounded_hours() {
        assert_eq!(parse_reminder_hours("x", 0).unwrap(), 0);
        assert_eq!(parse_reminder_hours("x", 336).unwrap(), 336);
        assert!(parse_reminder_hours("x", 337).is_err());
        assert!(parse_reminder_hours("x", -1).is_err());
    }
}
