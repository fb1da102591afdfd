//! The messages a booking, a cancellation or a move sends (issue 14), queued by the store in
//! the same transaction as the change as *intents*: what to say, about which appointment, to
//! which account, when. The delivery worker composes them (`intents.rs`) from the appointment
//! and the recipient as they are when sent: language, address, settings, the place's time
//! zone. So a booking pays for one small row, nothing read, rendered or sealed.
//!
//! Reminders (email and SMS) are due at the practice's delays before the start, measured in
//! elapsed time on the configured clock (so a DST change between booking and visit moves
//! nothing); they are queued when the confirmation (or a move notice) is handled, as far as
//! the patient wants them then, and checked again when they fall due.

use super::{AppError, AppResult, Scheduling};
use careslot_core::availability::AgendaView;
use careslot_domain::{AccountId, ReservationId};
use careslot_messages::{compose, Content, Lang, Recipient};
use careslot_store::{
    AccountRecord, AccountSettings, IntentKind, NewOutboxMessage, NoticeKind, OutboxPayload,
    OutboxWrite, PracticeNotice, StoreError,
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

    /// The outbox change of `event` on appointment `id` of `patient`: the intent to queue
    /// (composed by the delivery worker from the appointment as it is then) and which pending
    /// messages it makes pointless. No read, no render, nothing sealed: this runs on the
    /// booking path. Only a patient's cancellation reads the practitioner (its account is the
    /// message's recipient, so that erasing it takes the message along).
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
        let now = self.now();
        let mut w = OutboxWrite::default();
        // The practice's webhooks hear of it in the same transaction (the store fans the
        // event out to the subscriptions that want it; none: nothing is written). A practice
        // known to have none queues nothing.
        if self
            .webhook_targets
            .wanted(self.store.as_ref(), &view.agenda.practitioner_id)
            .await
        {
            w.webhooks
                .push(self.webhook_event(&event, view, id, start, end));
        }
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
        let intent = |kind: IntentKind, to: &AccountId, key: String| {
            NewOutboxMessage::intent(kind, to.clone(), id.clone(), start, key, now, now)
        };
        match event {
            Event::Booked => {
                w.enqueue.push(intent(
                    IntentKind::Confirmation,
                    patient,
                    careslot_store::confirmation_key(id),
                ));
            }
            Event::CancelledByPractice => {
                w.delete_pending.extend(reminder_keys(id));
                w.delete_pending.push(crate::event_messages::video_key(id));
                w.enqueue.push(intent(
                    IntentKind::CancelledByPractice,
                    patient,
                    format!("cancelled:{id}"),
                ));
            }
            Event::CancelledByPatient => {
                w.delete_pending.extend(reminder_keys(id));
                w.delete_pending.push(crate::event_messages::video_key(id));
                // To the practitioner's account (whether it wants mail is checked when sent).
                match self.store.practitioner(&view.agenda.practitioner_id).await {
                    Ok(Some(p)) => {
                        let mut m = intent(
                            IntentKind::CancelledByPatient,
                            &p.account_id,
                            format!("cancelled:{id}"),
                        );
                        // It names the patient: erasing the patient deletes it.
                        m.subject_account_id = Some(patient.clone());
                        w.enqueue.push(m);
                    }
                    Ok(None) => {}
                    Err(e) => {
                        tracing::warn!(appointment = %id, error = %e, "practice notice not queued")
                    }
                }
            }
            Event::NoShow => {
                w.enqueue
                    .push(intent(IntentKind::NoShow, patient, format!("no-show:{id}")));
            }
            Event::Moved { previous_start } => {
                w.delete_pending.extend(reminder_keys(id));
                w.delete_pending.push(crate::event_messages::video_key(id));
                let mut m = intent(
                    IntentKind::Moved,
                    patient,
                    format!("moved:{id}:{}", start.as_second()),
                );
                if let OutboxPayload::Intent(i) = &mut m.payload {
                    i.previous_start = Some(previous_start);
                }
                w.enqueue.push(m);
            }
        }
        w
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
