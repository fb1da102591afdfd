//! Composing a queued intent when it is delivered (issue 14): the appointment, its recipient
//! and their settings are read as they are at send time, so a message never says what was true
//! at booking and is no longer.
//!
//! What happens to an intent whose appointment changed before delivery:
//! - confirmation: sent while the appointment is booked, at its current time (a move before
//!   delivery is simply in it; the move notice follows); dropped once cancelled;
//! - reminder and move notice: sent only while the appointment is booked at the start they
//!   were queued for; a later move or a cancellation drops them;
//! - cancellation and no-show notices: sent while the appointment is still in that state.
//!
//! An erased recipient (account or key gone), a patient with no address, or a reminder the
//! patient turned off: nothing is sent and the row is removed.
//!
//! Handling a confirmation or a move notice also queues the appointment's reminders at the
//! practice's delays (replacing pending ones of the appointment), so the booking path never
//! reads the delays or the patient's settings.

use super::{AppError, AppResult, Scheduling};
use crate::notify::{reminder_key, sms_reminder_key};
use careslot_domain::AccountId;
use careslot_messages::{compose, Content, Message, Recipient};
use careslot_store::{
    IntentKind, MessageIntent, NewOutboxMessage, OutboxRow, OutboxWrite, ReservationStatus,
    StoreError,
};
use jiff::SignedDuration;

/// What the worker does with an intent.
#[derive(Debug)]
pub enum Composed {
    /// Send this message (its id is the row's, stable across retries).
    Send(Box<Message>),
    /// Nothing to send; remove the row. Why, without personal data.
    Drop(&'static str),
}

impl Scheduling {
    /// Composes `intent` (queued as `row`) from the data as it is now. A store or key-service
    /// failure is an error (the worker retries); anything that makes the message pointless is
    /// [`Composed::Drop`].
    pub async fn compose_intent(
        &self,
        row: &OutboxRow,
        intent: &MessageIntent,
    ) -> AppResult<Composed> {
        match self.try_compose_intent(row, intent).await {
            // The account, its key, the appointment or its agenda is gone.
            Err(AppError::NotFound(_)) => Ok(Composed::Drop("gone")),
            other => other,
        }
    }

    async fn try_compose_intent(
        &self,
        row: &OutboxRow,
        intent: &MessageIntent,
    ) -> AppResult<Composed> {
        use IntentKind as K;
        let Some(reservation) = self.store.reservation(&intent.reservation_id).await? else {
            return Ok(Composed::Drop("appointment gone"));
        };
        let status = reservation.status;
        let current = match intent.kind {
            K::Confirmation => status == ReservationStatus::Booked,
            K::EmailReminder | K::SmsReminder | K::Moved => {
                status == ReservationStatus::Booked && reservation.start == intent.start
            }
            K::CancelledByPractice | K::CancelledByPatient => {
                status == ReservationStatus::Cancelled
            }
            K::NoShow => status == ReservationStatus::NoShow,
        };
        if !current {
            return Ok(Composed::Drop("superseded"));
        }
        let appointment = self.open_reservation(reservation).await?;
        // Whom the appointment is for: the recipient, or (to the practice) the one it names.
        let patient = match intent.kind {
            K::CancelledByPatient => row.subject_account_id.as_ref(),
            _ => Some(&row.account_id),
        };
        if patient.is_none() || appointment.patient.as_ref() != patient {
            return Ok(Composed::Drop("not the appointment's patient"));
        }
        let Some(to) = self.recipient(&row.account_id).await? else {
            return Ok(Composed::Drop("recipient gone"));
        };
        if to.email.is_empty() {
            // A patient the desk booked on the phone has no address.
            return Ok(Composed::Drop("no address"));
        }
        let view = self.view(&appointment.row.agenda_id).await?;
        if intent.kind == K::Confirmation {
            // A patient who booked online enters the practice's directory here, off the
            // booking's path (idempotent: a retried confirmation files them again).
            self.file_in_directory(&view.agenda.practitioner_id, &row.account_id)
                .await?;
        }
        if matches!(intent.kind, K::Confirmation | K::Moved) {
            self.queue_reminders(&view.agenda.practitioner_id, &to, &appointment)
                .await?;
        }
        let sequence = match intent.kind {
            // Raised by each move (a calendar replaces the event); stable across retries.
            K::Moved => u32::try_from(row.created_at.as_second()).unwrap_or(u32::MAX),
            _ => 0,
        };
        let r = &appointment.row;
        let mut appt = self
            .message_appointment(&view, &r.id, r.start, r.end, sequence)
            .await?;
        // A vaccination series is confirmed by one message naming its doses, queued on its
        // first dose only (the booking composes nothing): the other doses booked for the
        // same patient join it here, each with its own reminders.
        let mut series = Vec::new();
        if intent.kind == K::Confirmation {
            for other in self.store.series_of(&r.id).await? {
                if other.status != ReservationStatus::Booked {
                    continue;
                }
                let other = self.open_reservation(other).await?;
                if other.patient != appointment.patient {
                    continue;
                }
                let other_view = self.view(&other.row.agenda_id).await?;
                self.queue_reminders(&other_view.agenda.practitioner_id, &to, &other)
                    .await?;
                let o = &other.row;
                series.push(
                    self.message_appointment(&other_view, &o.id, o.start, o.end, 0)
                        .await?,
                );
            }
        }
        // The motive only to the patient who opted in (the template keeps it in the body).
        if to.settings.show_motive && intent.kind != K::CancelledByPatient {
            appt.show_motive = true;
            // In the patient's language when the practice named it so.
            appt.motive = self
                .motive_label_in(&view, &appointment.motive_id, &to.settings.lang)
                .await?;
        }
        let email = Recipient::Email(to.email.clone());
        let (recipient, content) = match intent.kind {
            K::Confirmation if series.is_empty() => (email, Content::BookingConfirmation(appt)),
            K::Confirmation => {
                series.push(appt);
                series.sort_by_key(|a| a.start);
                let mut doses = series.into_iter();
                match (doses.next(), doses.next()) {
                    (Some(first), Some(second)) => {
                        (email, Content::SeriesConfirmation { first, second })
                    }
                    (Some(only), None) => (email, Content::BookingConfirmation(only)),
                    (None, _) => return Ok(Composed::Drop("appointment gone")),
                }
            }
            K::EmailReminder => {
                if !to.settings.reminders_email {
                    return Ok(Composed::Drop("reminders off"));
                }
                (email, Content::Reminder(appt))
            }
            K::SmsReminder => {
                let Some(phone) = to.verified_phone.clone() else {
                    return Ok(Composed::Drop("no verified number"));
                };
                if !to.settings.reminders_sms {
                    return Ok(Composed::Drop("reminders off"));
                }
                (Recipient::Phone(phone), Content::Reminder(appt))
            }
            K::CancelledByPractice => (email, Content::CancelledByPractice(appt)),
            K::CancelledByPatient => {
                if !self
                    .store
                    .practice_emails_patient_changes(&view.agenda.practitioner_id)
                    .await?
                {
                    return Ok(Composed::Drop("practice reads the desk's list"));
                }
                let Some(about) = patient else {
                    return Ok(Composed::Drop("patient gone"));
                };
                let Some(patient) = self.recipient(about).await? else {
                    return Ok(Composed::Drop("patient gone"));
                };
                (
                    email,
                    Content::CancelledByPatient {
                        appointment: appt,
                        patient: patient.name,
                    },
                )
            }
            K::Moved => (
                email,
                Content::Moved {
                    appointment: appt,
                    previous_start: intent.previous_start.unwrap_or(intent.start),
                },
            ),
            K::NoShow => (email, Content::NoShow(appt)),
        };
        let mut message = compose(
            &self.message_site(),
            &content,
            recipient,
            to.lang,
            self.now(),
        )
        .map_err(|e| AppError::Store(StoreError::Internal(e.to_string())))?;
        message.id = row.id.clone();
        Ok(Composed::Send(Box::new(message)))
    }

    /// Queues the reminders of `appointment` at the practice's delays before its start, as far
    /// as the patient wants them now (they are checked again when due), replacing the pending
    /// ones of the appointment.
    async fn queue_reminders(
        &self,
        practitioner: &careslot_domain::PractitionerId,
        to: &crate::notify::Addressee,
        appointment: &crate::Appointment,
    ) -> AppResult<()> {
        let now = self.now();
        let delays = self.store.reminder_delays(practitioner).await?;
        let row = &appointment.row;
        let patient: &AccountId = &to.record.id;
        let mut w = OutboxWrite::default();
        let wanted = [
            (
                delays.email_hours_before,
                to.settings.reminders_email,
                IntentKind::EmailReminder,
                reminder_key(&row.id),
            ),
            (
                delays.sms_hours_before,
                to.settings.reminders_sms && to.verified_phone.is_some(),
                IntentKind::SmsReminder,
                sms_reminder_key(&row.id),
            ),
        ];
        for (hours, wants, kind, key) in wanted {
            if hours == 0 || !wants {
                continue;
            }
            let Ok(at) = row
                .start
                .checked_sub(SignedDuration::from_hours(i64::from(hours)))
            else {
                continue;
            };
            if at <= now {
                continue;
            }
            // A pending one (queued for another start, or by an earlier attempt) is replaced.
            w.delete_pending.push(key.clone());
            w.enqueue.push(NewOutboxMessage::intent(
                kind,
                patient.clone(),
                row.id.clone(),
                row.start,
                key,
                at,
                now,
            ));
        }
        if !w.enqueue.is_empty() {
            self.store.enqueue(&w).await?;
        }
        Ok(())
    }
}
