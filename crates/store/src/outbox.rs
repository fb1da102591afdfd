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

/// A message to queue. `payload_ct` is the rendered message sealed under the recipient
/// account's data key (the store never sees an address or a body in clear).
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
    pub payload_ct: Vec<u8>,
    /// Not sent before this instant (a reminder's time).
    pub available_at: Timestamp,
    pub created_at: Timestamp,
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
}

impl OutboxWrite {
    pub fn is_empty(&self) -> bool {
        self.delete_pending.is_empty() && self.enqueue.is_empty() && self.notices.is_empty()
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
    pub payload_ct: Vec<u8>,
    /// Attempts started so far (a claim counts as one).
    pub attempts: u32,
    pub available_at: Timestamp,
    pub locked_until: Option<Timestamp>,
    /// Why the last attempt failed, without personal data.
    pub last_error: Option<String>,
    /// Set once the message is parked as a dead letter.
    pub dead_at: Option<Timestamp>,
    pub created_at: Timestamp,
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
