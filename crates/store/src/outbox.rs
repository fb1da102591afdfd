//! The transactional outbox's rows (issue 14). A message is written by the same store write as
//! the change that causes it ([`OutboxWrite`] rides in the booking, cancellation and move
//! requests); delivery workers claim due rows with a lease, send outside any transaction, then
//! complete, reschedule or dead-letter them.

use careslot_domain::AccountId;
use jiff::Timestamp;

/// Which channel carries a message (the `channel` column).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OutboxChannel {
    Email,
    Sms,
}

impl OutboxChannel {
    pub fn code(self) -> &'static str {
        match self {
            OutboxChannel::Email => "email",
            OutboxChannel::Sms => "sms",
        }
    }

    pub fn parse(code: &str) -> Option<Self> {
        match code {
            "email" => Some(OutboxChannel::Email),
            "sms" => Some(OutboxChannel::Sms),
            _ => None,
        }
    }
}

/// What an appointment message is about: the delivery worker composes it from the
/// appointment and the recipient as they are when it is sent (the `intent` column).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IntentKind {
    /// To the patient: the appointment is booked (schedules the reminders when handled).
    Confirmation,
    /// To the patient, by email, at the practice's delay before the start.
    EmailReminder,
    /// To the patient's verified number, at the practice's delay before the start.
    SmsReminder,
    /// To the patient: the practice cancelled.
    CancelledByPractice,
    /// To the practice: the patient cancelled (the row's `subject_account_id` is the patient).
    CancelledByPatient,
    /// To the patient: the appointment moved (schedules the reminders when handled).
    Moved,
    /// To the patient: recorded as a no-show.
    NoShow,
}

impl IntentKind {
    pub const ALL: [IntentKind; 7] = [
        IntentKind::Confirmation,
        IntentKind::EmailReminder,
        IntentKind::SmsReminder,
        IntentKind::CancelledByPractice,
        IntentKind::CancelledByPatient,
        IntentKind::Moved,
        IntentKind::NoShow,
    ];

    pub fn code(self) -> &'static str {
        match self {
            IntentKind::Confirmation => "confirmation",
            IntentKind::EmailReminder => "email_reminder",
            IntentKind::SmsReminder => "sms_reminder",
            IntentKind::CancelledByPractice => "cancelled_by_practice",
            IntentKind::CancelledByPatient => "cancelled_by_patient",
            IntentKind::Moved => "moved",
            IntentKind::NoShow => "no_show",
        }
    }

    pub fn parse(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.code() == code)
    }

    /// The channel this kind goes out on.
    pub fn channel(self) -> OutboxChannel {
        match self {
            IntentKind::SmsReminder => OutboxChannel::Sms,
            _ => OutboxChannel::Email,
        }
    }
}

/// A message to compose at delivery: which appointment, and the start it was about (a
/// reminder or move notice whose start is no longer the appointment's is dropped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageIntent {
    pub kind: IntentKind,
    pub reservation_id: careslot_domain::ReservationId,
    pub start: Timestamp,
    /// A move's former start.
    pub previous_start: Option<Timestamp>,
}

/// What a queued row holds: a message rendered and sealed when queued (kept for messages
/// that cannot be composed again later, such as those carrying a one-time secret), or an
/// intent composed when delivered (nothing personal, nothing sealed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutboxPayload {
    /// The rendered message sealed under the recipient account's data key.
    Sealed(Vec<u8>),
    Intent(MessageIntent),
}

/// A message to queue. The store never sees an address or a body in clear: a sealed payload
/// or an intent naming an appointment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOutboxMessage {
    /// The message's stable id (UUIDv7): `Message-ID`, SMS idempotency key.
    pub id: String,
    pub channel: OutboxChannel,
    /// At most one queued message per key (`confirm:<appointment>`, `reminder72:<appointment>`);
    /// queuing a key already queued does nothing.
    pub dedupe_key: String,
    /// The recipient: erasing this account deletes the message.
    pub account_id: AccountId,
    /// Who the message is about when not the recipient (the patient named in a notice to the
    /// practice): erasing this account deletes the message too.
    pub subject_account_id: Option<AccountId>,
    pub payload: OutboxPayload,
    /// Not sent before this instant (a reminder's time).
    pub available_at: Timestamp,
    pub created_at: Timestamp,
}

impl NewOutboxMessage {
    /// An intent to `account` about appointment `reservation` (whose start is `start`), due at
    /// `available_at`, with a fresh stable id (UUIDv7).
    pub fn intent(
        kind: IntentKind,
        account: AccountId,
        reservation: careslot_domain::ReservationId,
        start: Timestamp,
        dedupe_key: String,
        available_at: Timestamp,
        created_at: Timestamp,
    ) -> Self {
        NewOutboxMessage {
            id: uuid::Uuid::now_v7().to_string(),
            channel: kind.channel(),
            dedupe_key,
            account_id: account,
            subject_account_id: None,
            payload: OutboxPayload::Intent(MessageIntent {
                kind,
                reservation_id: reservation,
                start,
                previous_start: None,
            }),
            available_at,
            created_at,
        }
    }
}

/// What a write does to the outbox in its own transaction: pending messages deleted by dedupe
/// key (a cancelled appointment's reminder), then messages queued. Applied only when the
/// write itself succeeds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutboxWrite {
    pub delete_pending: Vec<String>,
    pub enqueue: Vec<NewOutboxMessage>,
    /// Entries of the practice desk's notification list, written with the change.
    pub notices: Vec<PracticeNotice>,
    /// Events for the practice's webhooks: a delivery per subscription that wants it.
    pub webhooks: Vec<crate::NewWebhookEvent>,
}

impl OutboxWrite {
    pub fn is_empty(&self) -> bool {
        self.delete_pending.is_empty()
            && self.enqueue.is_empty()
            && self.notices.is_empty()
            && self.webhooks.is_empty()
    }
}

/// What a patient did to an appointment of the practice (the desk's notification list).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoticeKind {
    Cancelled,
    Moved,
}

impl NoticeKind {
    pub fn code(self) -> &'static str {
        match self {
            NoticeKind::Cancelled => "cancelled",
            NoticeKind::Moved => "moved",
        }
    }

    pub fn parse(code: &str) -> Option<Self> {
        match code {
            "cancelled" => Some(NoticeKind::Cancelled),
            "moved" => Some(NoticeKind::Moved),
            _ => None,
        }
    }
}

/// One entry of the practice desk's notification list. It names no patient: the desk reads
/// the name from the (sealed) appointment when it shows the entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PracticeNotice {
    pub id: String,
    pub practitioner_id: careslot_domain::PractitionerId,
    pub reservation_id: careslot_domain::ReservationId,
    pub kind: NoticeKind,
    /// The appointment's start (its new start after a move).
    pub start: Timestamp,
    /// A move's former start.
    pub previous_start: Option<Timestamp>,
    pub created_at: Timestamp,
}

/// A queued message as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxRow {
    pub id: String,
    pub channel: OutboxChannel,
    pub dedupe_key: String,
    pub account_id: AccountId,
    pub subject_account_id: Option<AccountId>,
    pub payload: OutboxPayload,
    /// Attempts started so far (a claim counts as one).
    pub attempts: u32,
    pub available_at: Timestamp,
    pub locked_until: Option<Timestamp>,
    /// Why the last attempt failed, without personal data.
    pub last_error: Option<String>,
    /// Set once the message is parked as a dead letter.
    pub dead_at: Option<Timestamp>,
    pub created_at: Timestamp,
    /// The confirmation batch it was claimed in, if any: such a row exists only in its batch
    /// (a group's confirmations queued as one row), so its outcome is recorded by
    /// [`crate::Store::settle_batch`], never by id.
    pub batch: Option<String>,
}

/// The dedupe key of an appointment's confirmation.
pub fn confirmation_key(reservation: &careslot_domain::ReservationId) -> String {
    format!("confirm:{reservation}")
}

/// A password-reset request: the token's SHA-256 (never the token), its account and expiry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordReset {
    pub token_hash: String,
    pub account_id: AccountId,
    pub expires_at: Timestamp,
    pub created_at: Timestamp,
}

/// How many outbox rows are in each state at one instant (`/metrics`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutboxDepth {
    /// Not dead: waiting, due or being delivered.
    pub queued: i64,
    /// Queued, available now and not leased: what a worker would claim next.
    pub due: i64,
    /// Parked as dead letters.
    pub dead: i64,
}
