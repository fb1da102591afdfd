//! The messages a booking, a cancellation or a move sends (issue 14), prepared here and
//! queued by the store in the same transaction as the change: composed in the recipient's
//! language and the place's time zone, then sealed under the recipient account's data key, as
//! the account's identity is. No motive anywhere (it is health data).
//!
//! Reminders (email and SMS) are due at the practice's delays before the start, measured in
//! elapsed time on the configured clock (so a DST change between booking and visit moves
//! nothing); they are queued only when the patient wants them (and, for SMS, has a verified
//! number), and the delivery worker checks that again when they fall due.
//!
//! Preparing a message never costs a booking: if it cannot be prepared (the recipient has no
//! account any more, a template fails), the change goes ahead and the reason is logged.

use super::{AppError, AppResult, Scheduling};
use careslot_core::availability::AgendaView;
use careslot_domain::{AccountId, ReservationId};
use careslot_messages::{compose, Content, Lang, Message, Recipient};
use careslot_store::{
    AccountRecord, AccountSettings, NoticeKind, OutboxWrite, PracticeNotice, StoreError,
};
use jiff::{SignedDuration, Timestamp};

/// How long before an appointment the email reminder is due unless the practice chose
/// another delay.
pub const REMINDER_BEFORE: SignedDuration = SignedDuration::from_hours(72);

/// Dedupe key of an appointment's pending email reminder. It keeps the name it had when the
/// delay was always 72 h, so rows queued then are still replaced and deleted by key.
pub fn reminder_key(id: &ReservationId) -> String {
    format!("reminder72:{id}")
}

/// Dedupe key of an appointment's pending SMS reminder.
pub fn sms_reminder_key(id: &ReservationId) -> String {
    format!("reminder-sms:{id}")
}

/// Both reminder keys of an appointment: what a move replaces and a cancellation deletes.
pub fn reminder_keys(id: &ReservationId) -> [String; 2] {
    [reminder_key(id), sms_reminder_key(id)]
}

pub use careslot_identity::outbox::{PAYLOAD_COLUMN, PAYLOAD_TABLE};

/// Who gets a message: their account (whose key seals it) and their opened identity.
pub(crate) struct Addressee {
    pub(crate) record: AccountRecord,
    pub(crate) email: String,
    pub(crate) name: String,
    pub(crate) lang: Lang,
    /// Set only when the number was verified (SMS goes nowhere else).
    pub(crate) verified_phone: Option<String>,
    pub(crate) settings: AccountSettings,
}

/// What happened to an appointment, for the message about it.
pub(crate) enum Event {
    Booked,
    CancelledByPatient,
    CancelledByPractice,
    Moved {
        previous_start: Timestamp,
    },
    /// The practice recorded a no-show (issue 14 part C).
    NoShow,
}

impl Scheduling {
    pub(crate) async fn recipient(&self, account: &AccountId) -> AppResult<Option<Addressee>> {
        let Some(record) = self.store.account(account).await? else {
            return Ok(None);
        };
        let identity = self.open_identity(&record).await?;
        let settings = self.store.account_settings(account).await?;
        Ok(Some(Addressee {
            record,
            email: identity.email,
            name: identity.name,
            lang: Lang::parse(&settings.lang).unwrap_or(Lang::Fr),
            verified_phone: identity
                .phone
                .filter(|_| settings.phone_verified_at.is_some()),
            settings,
        }))
    }

    /// The appointment as the messages show it (never its motive).
    pub(crate) async fn message_appointment(
        &self,
        view: &AgendaView,
        id: &ReservationId,
        start: Timestamp,
        end: Timestamp,
        sequence: u32,
    ) -> AppResult<careslot_messages::Appointment> {
        let practitioner = self
            .store
            .practitioner(&view.agenda.practitioner_id)
            .await?
            .map(|p| p.name)
            .unwrap_or_default();
        let place = self.store.place(&view.agenda.place_id).await?;
        let (place, address) = match place {
            Some(p) => (p.name, format!("{}\n{} {}", p.address, p.postcode, p.city)),
            None => (String::new(), String::new()),
        };
        Ok(careslot_messages::Appointment {
            id: id.to_string(),
            start,
            end,
            time_zone: view.agenda.timezone.clone(),
            practitioner,
            place,
            address,
            motive: None,
            show_motive: false,
            sequence,
        })
    }

    /// The outbox change of `event` on appointment `id` of `patient`: what to queue and which
    /// pending messages it makes pointless. Errors are logged and give an empty change.
    pub(crate) async fn outbox_for(
        &self,
        event: Event,
        view: &AgendaView,
        patient: &AccountId,
        id: &ReservationId,
        start: Timestamp,
        end: Timestamp,
    ) -> OutboxWrite {
        if !self.compose_messages {
            return OutboxWrite::default();
        }
        match self
            .try_outbox_for(event, view, patient, id, start, end)
            .await
        {
            Ok(w) => w,
            Err(e) => {
                tracing::warn!(appointment = %id, error = %e, "appointment message not prepared");
                OutboxWrite::default()
            }
        }
    }

    async fn try_outbox_for(
        &self,
        event: Event,
        view: &AgendaView,
        patient: &AccountId,
        id: &ReservationId,
        start: Timestamp,
        end: Timestamp,
    ) -> AppResult<OutboxWrite> {
        let now = self.now();
        let site = self.message_site();
        let mut w = OutboxWrite::default();
        let compose_err = |e: careslot_messages::ComposeError| {
            AppError::Store(StoreError::Internal(e.to_string()))
        };
        // What the patient did shows in the practice desk's list, whatever the mail does.
        let notice = match &event {
            Event::CancelledByPatient => Some((NoticeKind::Cancelled, None)),
            Event::Moved { previous_start } => Some((NoticeKind::Moved, Some(*previous_start))),
            _ => None,
        };
        if let Some((kind, previous_start)) = notice {
            w.notices.push(PracticeNotice {
                id: uuid::Uuid::now_v7().to_string(),
                practitioner_id: view.agenda.practitioner_id.clone(),
                reservation_id: id.clone(),
                kind,
                start,
                previous_start,
                created_at: now,
            });
        }
        // A guest's hold has no account behind it: nothing to send.
        let Some(to_patient) = self.recipient(patient).await? else {
            return Ok(w);
        };
        // A patient the desk booked on the phone has no address: nothing to send.
        if to_patient.email.is_empty() {
            return Ok(w);
        }
        let sequence = match event {
            Event::Moved { .. } => u32::try_from(now.as_second()).unwrap_or(u32::MAX),
            _ => 0,
        };
        let appt = self
            .message_appointment(view, id, start, end, sequence)
            .await?;
        let delays = self
            .store
            .reminder_delays(&view.agenda.practitioner_id)
            .await?;
        // The reminders of the appointment at its (new) start, as far as the patient wants
        // them and they are still ahead.
        let reminders = || -> AppResult<Vec<(Message, String, Timestamp)>> {
            let mut out = vec![];
            let wanted = [
                (
                    delays.email_hours_before,
                    to_patient.settings.reminders_email,
                    Some(Recipient::Email(to_patient.email.clone())),
                    reminder_key(id),
                ),
                (
                    delays.sms_hours_before,
                    to_patient.settings.reminders_sms,
                    to_patient.verified_phone.clone().map(Recipient::Phone),
                    sms_reminder_key(id),
                ),
            ];
            for (hours, wants, to, key) in wanted {
                let Some(to) = to else { continue };
                if hours == 0 || !wants {
                    continue;
                }
                let before = SignedDuration::from_hours(i64::from(hours));
                let Ok(at) = start.checked_sub(before) else {
                    continue;
                };
                if at <= now {
                    continue;
                }
                let m = compose(
                    &site,
                    &Content::Reminder(appt.clone()),
                    to,
                    to_patient.lang,
                    now,
                )
                .map_err(compose_err)?;
                out.push((m, key, at));
            }
            Ok(out)
        };
        match event {
            Event::Booked => {
                let m = compose(
                    &site,
                    &Content::BookingConfirmation(appt.clone()),
                    Recipient::Email(to_patient.email.clone()),
                    to_patient.lang,
                    now,
                )
                .map_err(compose_err)?;
                w.enqueue.push(
                    self.seal_message(&to_patient.record, &m, format!("confirm:{id}"), now)
                        .await?,
                );
                for (m, key, at) in reminders()? {
                    w.enqueue
                        .push(self.seal_message(&to_patient.record, &m, key, at).await?);
                }
            }
            Event::CancelledByPractice => {
                w.delete_pending.extend(reminder_keys(id));
                w.delete_pending.push(crate::event_messages::video_key(id));
                let m = compose(
                    &site,
                    &Content::CancelledByPractice(appt),
                    Recipient::Email(to_patient.email.clone()),
                    to_patient.lang,
                    now,
                )
                .map_err(compose_err)?;
                w.enqueue.push(
                    self.seal_message(&to_patient.record, &m, format!("cancelled:{id}"), now)
                        .await?,
                );
            }
            Event::CancelledByPatient => {
                w.delete_pending.extend(reminder_keys(id));
                w.delete_pending.push(crate::event_messages::video_key(id));
                // The practice hears of it, at its practitioner's address, unless it chose
                // the desk's list alone.
                let practitioner = &view.agenda.practitioner_id;
                let practice = match self.store.practitioner(practitioner).await? {
                    Some(p)
                        if self
                            .store
                            .practice_emails_patient_changes(practitioner)
                            .await? =>
                    {
                        self.recipient(&p.account_id).await?
                    }
                    _ => None,
                };
                if let Some(practice) = practice {
                    let m = compose(
                        &site,
                        &Content::CancelledByPatient {
                            appointment: appt,
                            patient: to_patient.name.clone(),
                        },
                        Recipient::Email(practice.email.clone()),
                        practice.lang,
                        now,
                    )
                    .map_err(compose_err)?;
                    let mut sealed = self
                        .seal_message(&practice.record, &m, format!("cancelled:{id}"), now)
                        .await?;
                    // It names the patient: erasing the patient deletes it.
                    sealed.subject_account_id = Some(to_patient.record.id.clone());
                    w.enqueue.push(sealed);
                }
            }
            Event::NoShow => {
                let m = compose(
                    &site,
                    &Content::NoShow(appt),
                    Recipient::Email(to_patient.email.clone()),
                    to_patient.lang,
                    now,
                )
                .map_err(compose_err)?;
                w.enqueue.push(
                    self.seal_message(&to_patient.record, &m, format!("no-show:{id}"), now)
                        .await?,
                );
            }
            Event::Moved { previous_start } => {
                w.delete_pending.extend(reminder_keys(id));
                w.delete_pending.push(crate::event_messages::video_key(id));
                let m = compose(
                    &site,
                    &Content::Moved {
                        appointment: appt.clone(),
                        previous_start,
                    },
                    Recipient::Email(to_patient.email.clone()),
                    to_patient.lang,
                    now,
                )
                .map_err(compose_err)?;
                w.enqueue.push(
                    self.seal_message(
                        &to_patient.record,
                        &m,
                        format!("moved:{id}:{}", start.as_second()),
                        now,
                    )
                    .await?,
                );
                for (m, key, at) in reminders()? {
                    w.enqueue
                        .push(self.seal_message(&to_patient.record, &m, key, at).await?);
                }
            }
        }
        Ok(w)
    }
}

impl Scheduling {
    /// The messages of an earlier-slot offer (issue 14): to `patient`, by email and, to a
    /// verified number, by SMS, with the link that confirms the held place. Never the motive.
    pub(crate) async fn offer_outbox(
        &self,
        view: &AgendaView,
        patient: &AccountId,
        hold: &ReservationId,
        start: Timestamp,
        end: Timestamp,
        valid_minutes: u32,
    ) -> AppResult<OutboxWrite> {
        let now = self.now();
        let site = self.message_site();
        let mut w = OutboxWrite::default();
        let Some(to) = self.recipient(patient).await? else {
            return Ok(w);
        };
        let appt = self.message_appointment(view, hold, start, end, 0).await?;
        let content = Content::SlotOffer {
            appointment: appt,
            link: format!("{}/book/{hold}", site.public_url),
            valid_minutes,
        };
        let mut recipients = vec![(Recipient::Email(to.email.clone()), format!("offer:{hold}"))];
        if let Some(phone) = to.verified_phone.clone() {
            recipients.push((Recipient::Phone(phone), format!("offer-sms:{hold}")));
        }
        for (recipient, key) in recipients {
            let m = compose(&site, &content, recipient, to.lang, now)
                .map_err(|e| AppError::Store(StoreError::Internal(e.to_string())))?;
            w.enqueue
                .push(self.seal_message(&to.record, &m, key, now).await?);
        }
        Ok(w)
    }
}
