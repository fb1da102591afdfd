//! Interoperability records (issue 19): a patient's private calendar subscription, and a
//! practice's webhooks with their deliveries.

use careslot_domain::AccountId;
use jiff::Timestamp;

/// A patient's calendar subscription: the feed URL's token is never stored. The server
/// derives it from `nonce` with its index key (so `GET /api/v1/me/calendar-feed` can show the
/// same URL again) and finds the feed by `token_hash` (SHA-256 of the token) when a calendar
/// app fetches it. Deleting the row revokes the URL; the next one gets a new nonce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CalendarFeed {
    pub account_id: AccountId,
    pub nonce: String,
    pub token_hash: String,
    pub created_at: Timestamp,
}

/// An agenda's calendar subscription (issue 18 point 6), made the same way as a patient's
/// [`CalendarFeed`]: the token is derived from `nonce` with the index key and only its SHA-256
/// is kept. At most one per agenda; rotating replaces the nonce (and hash), deleting the row
/// revokes the URL. `show_patient_names` is off unless the practice turns it on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgendaFeed {
    pub agenda_id: careslot_domain::AgendaId,
    pub nonce: String,
    pub token_hash: String,
    pub show_patient_names: bool,
    pub created_at: Timestamp,
}

/// What a practice's webhook can be told about its appointments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum WebhookEvent {
    Booked,
    Cancelled,
    Moved,
    NoShow,
}

impl WebhookEvent {
    pub const ALL: [WebhookEvent; 4] = [
        WebhookEvent::Booked,
        WebhookEvent::Cancelled,
        WebhookEvent::Moved,
        WebhookEvent::NoShow,
    ];

    /// The name on the wire (`type` of the payload, the `Careslot-Event` header).
    pub fn code(self) -> &'static str {
        match self {
            WebhookEvent::Booked => "appointment.booked",
            WebhookEvent::Cancelled => "appointment.cancelled",
            WebhookEvent::Moved => "appointment.moved",
            WebhookEvent::NoShow => "appointment.no_show",
        }
    }

    pub fn parse(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.code() == code)
    }

    /// Its bit in a subscription's `events` mask (the fan-out joins on it in SQL).
    pub fn bit(self) -> i64 {
        match self {
            WebhookEvent::Booked => 1,
            WebhookEvent::Cancelled => 2,
            WebhookEvent::Moved => 4,
            WebhookEvent::NoShow => 8,
        }
    }

    pub fn mask(events: &[WebhookEvent]) -> i64 {
        events.iter().fold(0, |m, e| m | e.bit())
    }

    pub fn from_mask(mask: i64) -> Vec<WebhookEvent> {
        Self::ALL
            .into_iter()
            .filter(|e| mask & e.bit() != 0)
            .collect()
    }
}

/// A practice's webhook: where its events go and which. The signing secret is kept sealed
/// under the practitioner account's data key (the worker needs it to sign; erasing the
/// account shreds it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookSubscription {
    pub id: String,
    pub practitioner_id: careslot_domain::PractitionerId,
    /// The account whose key seals the secret.
    pub account_id: AccountId,
    pub url: String,
    pub events: Vec<WebhookEvent>,
    pub secret_ct: Vec<u8>,
    pub created_at: Timestamp,
}

/// An event to send to every subscription of a practice that wants it, written by the store
/// write that causes it (it rides in [`crate::OutboxWrite`]): one delivery row per matching
/// subscription, in the same transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewWebhookEvent {
    /// UUIDv7: the `Careslot-Webhook-Id` receivers deduplicate on.
    pub id: String,
    pub practitioner_id: careslot_domain::PractitionerId,
    pub event: WebhookEvent,
    /// The JSON body as sent: ids and times, never a patient's identity.
    pub payload: String,
    pub created_at: Timestamp,
}

/// One event for one subscription: the queue row and, once done, its log entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookDelivery {
    pub event_id: String,
    pub subscription_id: String,
    pub event: WebhookEvent,
    pub payload: String,
    /// Attempts started so far (a claim counts as one).
    pub attempts: u32,
    pub available_at: Timestamp,
    pub locked_until: Option<Timestamp>,
    pub delivered_at: Option<Timestamp>,
    /// Set once it is parked as a dead letter (after the last attempt, or a 410).
    pub dead_at: Option<Timestamp>,
    /// HTTP status of the last answer (none: no answer).
    pub last_status: Option<u16>,
    /// Why the last attempt failed (no personal data: the receiver's status or a transport
    /// error).
    pub last_error: Option<String>,
    pub created_at: Timestamp,
}

/// What became of one delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebhookOutcome {
    Delivered {
        status: u16,
    },
    /// Failed for now: due again at `at`.
    Retry {
        at: Timestamp,
        status: Option<u16>,
        error: String,
    },
    /// Failed for good.
    Dead {
        status: Option<u16>,
        error: String,
    },
}
