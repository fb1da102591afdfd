//! Messages for the other events of an appointment (issue 14, part C): a prescription signed,
//! a document added, a video room opened, a vaccination series booked. Prepared here, queued
//! by the store in the transaction of the change (the caller hands the [`OutboxWrite`] to the
//! store write). Like `notify.rs`: never a motive, a drug or a file name; a message that
//! cannot be prepared is logged and the change goes ahead.

use super::{AppError, AppResult, Scheduling};
use careslot_core::availability::AgendaView;
use careslot_domain::{AccountId, AgendaId, ReservationId};
use careslot_messages::{compose, Content, Recipient};
use careslot_store::{NewOutboxMessage, OutboxWrite, StoreError};
use jiff::Timestamp;

/// What the message says about the appointment.
pub enum AppointmentNotice {
    /// To the patient: a prescription is available (no content).
    PrescriptionAvailable,
    /// To the other party: a document was added (no name); `link` is where they see it.
    DocumentAdded { link: String },
    /// The video room is open; `link` is the video page.
    VideoReady { link: String },
}

/// The appointment a message is about.
pub struct About<'a> {
    pub agenda: &'a AgendaId,
    pub id: &'a ReservationId,
    pub start: Timestamp,
    pub end: Timestamp,
}

/// One booked dose of a series, for its confirmation and reminder.
pub struct SeriesDoseInfo<'a> {
    pub view: &'a AgendaView,
    pub id: &'a ReservationId,
    pub start: Timestamp,
    pub end: Timestamp,
}

/// What happened to a series' appointments, for its one message to the patient.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeriesEvent {
    Booked,
    Moved,
    Cancelled,
}

/// When a teleconsultation's video room opens: this long before the start (the rule of
/// `careslot_consultation::video::window`, which sits above this crate).
pub const VIDEO_OPENS_BEFORE: jiff::SignedDuration = jiff::SignedDuration::from_mins(15);

/// Dedupe key of an appointment's pending video link (dropped on cancel, replaced on move).
pub fn video_key(id: &ReservationId) -> String {
    format!("video:{id}")
}

fn compose_err(e: careslot_messages::ComposeError) -> AppError {
    AppError::Store(StoreError::Internal(e.to_string()))
}

impl Scheduling {
    /// One message about an appointment to `to`. `subject` names the patient the message is
    /// about when it goes to someone else (erasing the patient then deletes it). At most one
    /// such message per `dedupe_key`.
    pub async fn notice_outbox(
        &self,
        notice: AppointmentNotice,
        to: &AccountId,
        subject: Option<&AccountId>,
        about: About<'_>,
        dedupe_key: String,
    ) -> OutboxWrite {
        match self
            .try_notice_outbox(notice, to, subject, &about, dedupe_key)
            .await
        {
            Ok(w) => w,
            Err(e) => {
                tracing::warn!(appointment = %about.id, error = %e, "appointment message not prepared");
                OutboxWrite::default()
            }
        }
    }

    async fn try_notice_outbox(
        &self,
        notice: AppointmentNotice,
        to: &AccountId,
        subject: Option<&AccountId>,
        about: &About<'_>,
        dedupe_key: String,
    ) -> AppResult<OutboxWrite> {
        let mut w = OutboxWrite::default();
        let Some(addressee) = self.recipient(to).await? else {
            return Ok(w);
        };
        // A patient booked by phone has no address: nothing to send.
        if addressee.email.is_empty() {
            return Ok(w);
        }
        let view = self.view(about.agenda).await?;
        let appt = self
            .message_appointment(&view, about.id, about.start, about.end, 0)
            .await?;
        let content = match notice {
            AppointmentNotice::PrescriptionAvailable => Content::PrescriptionAvailable(appt),
            AppointmentNotice::DocumentAdded { link } => Content::DocumentAdded {
                appointment: appt,
                link,
            },
            AppointmentNotice::VideoReady { link } => Content::VideoReady {
                appointment: appt,
                link,
            },
        };
        let now = Timestamp::now();
        let m = compose(
            &self.message_site(),
            &content,
            Recipient::Email(addressee.email.clone()),
            addressee.lang,
            now,
        )
        .map_err(compose_err)?;
        let mut sealed = self
            .seal_message(&addressee.record, &m, dedupe_key, now)
            .await?;
        sealed.subject_account_id = subject.filter(|s| *s != to).cloned();
        w.enqueue.push(sealed);
        Ok(w)
    }

    /// For a teleconsultation, adds to `w` the patient's link to the video page, due when the
    /// room opens (at once if it is already open). Nothing for other motives.
    #[allow(clippy::too_many_arguments)] // the booking's parts, as its three call sites hold them
    pub(crate) async fn add_video_link(
        &self,
        w: &mut OutboxWrite,
        view: &AgendaView,
        motive: &careslot_domain::MotiveId,
        patient: &AccountId,
        id: &ReservationId,
        start: Timestamp,
        end: Timestamp,
    ) {
        if !view
            .motive(motive)
            .is_some_and(|m| m.policy.teleconsultation)
        {
            return;
        }
        let prepared = async {
            let Some(to) = self.recipient(patient).await? else {
                return Ok(None);
            };
            if to.email.is_empty() {
                return Ok(None);
            }
            let appt = self.message_appointment(view, id, start, end, 0).await?;
            let site = self.message_site();
            let link = format!("{}/appointments/{id}/video", site.public_url);
            let now = Timestamp::now();
            let m = compose(
                &site,
                &Content::VideoReady {
                    appointment: appt,
                    link,
                },
                Recipient::Email(to.email.clone()),
                to.lang,
                now,
            )
            .map_err(compose_err)?;
            let at = start
                .saturating_sub(VIDEO_OPENS_BEFORE)
                .unwrap_or(start)
                .max(now);
            AppResult::Ok(Some(
                self.seal_message(&to.record, &m, video_key(id), at).await?,
            ))
        };
        match prepared.await {
            Ok(Some(m)) => w.enqueue.push(m),
            Ok(None) => {}
            Err(e) => tracing::warn!(appointment = %id, error = %e, "video link not prepared"),
        }
    }

    /// The messages of a booked vaccination series: ONE confirmation naming every dose with
    /// one `.ics` per dose, and each dose's reminders. Queued as an intent on the first dose
    /// and composed by the delivery worker (see `intents`), so booking reads, renders and
    /// seals nothing; it joins the group's batch of confirmations.
    pub fn series_confirmation(
        &self,
        patient: &AccountId,
        first: &ReservationId,
        start: Timestamp,
    ) -> OutboxWrite {
        let mut w = OutboxWrite::default();
        if !self.compose_messages {
            return w;
        }
        let now = self.now();
        w.enqueue.push(NewOutboxMessage::intent(
            careslot_store::IntentKind::Confirmation,
            patient.clone(),
            first.clone(),
            start,
            careslot_store::confirmation_key(first),
            now,
            now,
        ));
        w
    }

    /// Whom a booking's confirmation goes to: the patient, unless this process composes no
    /// messages (some benchmarks).
    pub fn confirmation_recipient(&self, patient: &AccountId) -> Option<AccountId> {
        self.compose_messages.then(|| patient.clone())
    }

    /// The one message of what the practice did to (some of) a series' appointments
    /// (recurring care): booked or moved, ONE message listing every date with one `.ics` per
    /// appointment and a reminder before each (a moved one's pending reminders are replaced);
    /// cancelled, ONE message listing the cancelled dates. Nothing when this process composes
    /// no messages or the patient has no address (booked on the phone).
    pub async fn care_series_outbox(
        &self,
        patient: &AccountId,
        series_id: &str,
        event: SeriesEvent,
        appointments: &[SeriesDoseInfo<'_>],
    ) -> OutboxWrite {
        if !self.compose_messages {
            return OutboxWrite::default();
        }
        match self
            .try_series_outbox(patient, series_id, event, appointments)
            .await
        {
            Ok(w) => w,
            Err(e) => {
                tracing::warn!(series = series_id, error = %e, "series messages not prepared");
                OutboxWrite::default()
            }
        }
    }

    async fn try_series_outbox(
        &self,
        patient: &AccountId,
        series_id: &str,
        event: SeriesEvent,
        doses: &[SeriesDoseInfo<'_>],
    ) -> AppResult<OutboxWrite> {
        let mut w = OutboxWrite::default();
        let Some(to) = self.recipient(patient).await? else {
            return Ok(w);
        };
        if to.email.is_empty() {
            return Ok(w);
        }
        let now = Timestamp::now();
        // A moved appointment's calendar event replaces the one sent before.
        let sequence = match event {
            SeriesEvent::Moved => u32::try_from(now.as_second()).unwrap_or(u32::MAX),
            _ => 0,
        };
        let mut appts = Vec::with_capacity(doses.len());
        for d in doses {
            appts.push(
                self.message_appointment(d.view, d.id, d.start, d.end, sequence)
                    .await?,
            );
        }
        let site = self.message_site();
        let content = match (event, appts.as_slice()) {
            (_, []) => return Ok(w),
            (SeriesEvent::Booked, [only]) => Content::BookingConfirmation(only.clone()),
            (SeriesEvent::Booked, _) => Content::CareSeriesConfirmation(appts.clone()),
            (SeriesEvent::Cancelled, [only]) => Content::CancelledByPractice(only.clone()),
            (SeriesEvent::Cancelled, _) => Content::CareSeriesCancelled(appts.clone()),
            (SeriesEvent::Moved, _) => Content::CareSeriesMoved(appts.clone()),
        };
        let m = compose(
            &site,
            &content,
            Recipient::Email(to.email.clone()),
            to.lang,
            now,
        )
        .map_err(compose_err)?;
        let key = match event {
            SeriesEvent::Booked => format!("series:{series_id}"),
            SeriesEvent::Moved => format!("series-moved:{series_id}:{}", now.as_second()),
            SeriesEvent::Cancelled => format!("series-cancelled:{series_id}:{}", now.as_second()),
        };
        w.enqueue
            .push(self.seal_message(&to.record, &m, key, now).await?);
        if event == SeriesEvent::Cancelled {
            return Ok(w);
        }
        for (d, appt) in doses.iter().zip(appts) {
            let Ok(at) = d.start.checked_sub(crate::notify::REMINDER_BEFORE) else {
                continue;
            };
            if at <= now {
                continue;
            }
            let m = compose(
                &site,
                &Content::Reminder(appt),
                Recipient::Email(to.email.clone()),
                to.lang,
                now,
            )
            .map_err(compose_err)?;
            w.enqueue.push(
                self.seal_message(&to.record, &m, crate::notify::reminder_key(d.id), at)
                    .await?,
            );
        }
        Ok(w)
    }
}
