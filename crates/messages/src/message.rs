//! The message as the outbox stores it and a channel sends it: already rendered, addressed,
//! and carrying the stable id that makes a retry harmless.

use serde::{Deserialize, Serialize};

use crate::i18n::Lang;

/// One outgoing message. Everything a channel needs is here; nothing is looked up at send time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// UUIDv7 in text form. Becomes the email `Message-ID` (`<id@host>`), the SMS provider's
    /// idempotency token and the file name of a dropped message.
    pub id: String,
    pub recipient: Recipient,
    pub lang: Lang,
    pub kind: Kind,
    /// Email subject; for SMS unused (an SMS is `text` alone).
    pub subject: String,
    pub text: String,
    /// HTML alternative (email only); `None` sends plain text alone.
    pub html: Option<String>,
    pub attachments: Vec<Attachment>,
    /// Where the recipient opts out; set on non-essential mail only (`List-Unsubscribe`).
    #[serde(default)]
    pub unsubscribe_url: Option<String>,
}

impl Message {
    /// A fresh time-ordered id (UUIDv7).
    pub fn new_id() -> String {
        uuid::Uuid::now_v7().to_string()
    }

    /// Whether the message is one the recipient may opt out of (gets `List-Unsubscribe`).
    pub fn is_essential(&self) -> bool {
        self.kind.is_essential()
    }
}

/// Where a message goes; the variant picks the channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "address", rename_all = "snake_case")]
pub enum Recipient {
    /// An email address, optionally with a display name (`Name <addr@host>`).
    Email(String),
    /// An E.164 phone number (`+33612345678`).
    Phone(String),
}

impl Recipient {
    pub fn address(&self) -> &str {
        match self {
            Recipient::Email(a) | Recipient::Phone(a) => a,
        }
    }
}

/// What the message is about. Transactional kinds are essential; reminders and alerts can be
/// turned off by the recipient and carry an unsubscribe link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    BookingConfirmation,
    CancelledByPractice,
    CancelledByPatient,
    Moved,
    Reminder,
    PasswordReset,
    EmailVerification,
    AccountExists,
    AssistantInvitation,
    /// A practitioner invited into an organisation by a member.
    ColleagueInvitation,
    /// A new operator account: the link that sets its password.
    OperatorInvitation,
    /// To a new address: follow the link to make it the account's address.
    EmailChange,
    /// To the old address: the account's address was changed.
    EmailChanged,
    PasswordChanged,
    /// The SMS code proving a phone number (SMS only).
    PhoneCode,
    /// The code that finishes an instant sign-up (email).
    SignupCode,
    /// An earlier place the patient asked to hear about, held for them a short while.
    SlotOffer,
    NoShow,
    PrescriptionAvailable,
    DocumentAdded,
    VideoReady,
    SeriesConfirmation,
}

impl Kind {
    pub const ALL: [Kind; 22] = [
        Kind::BookingConfirmation,
        Kind::CancelledByPractice,
        Kind::CancelledByPatient,
        Kind::Moved,
        Kind::Reminder,
        Kind::PasswordReset,
        Kind::EmailVerification,
        Kind::AccountExists,
        Kind::AssistantInvitation,
        Kind::ColleagueInvitation,
        Kind::OperatorInvitation,
        Kind::EmailChange,
        Kind::EmailChanged,
        Kind::PasswordChanged,
        Kind::PhoneCode,
        Kind::SignupCode,
        Kind::SlotOffer,
        Kind::NoShow,
        Kind::PrescriptionAvailable,
        Kind::DocumentAdded,
        Kind::VideoReady,
        Kind::SeriesConfirmation,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::BookingConfirmation => "booking_confirmation",
            Kind::CancelledByPractice => "cancelled_by_practice",
            Kind::CancelledByPatient => "cancelled_by_patient",
            Kind::Moved => "moved",
            Kind::Reminder => "reminder",
            Kind::PasswordReset => "password_reset",
            Kind::EmailVerification => "email_verification",
            Kind::AccountExists => "account_exists",
            Kind::AssistantInvitation => "assistant_invitation",
            Kind::ColleagueInvitation => "colleague_invitation",
            Kind::OperatorInvitation => "operator_invitation",
            Kind::EmailChange => "email_change",
            Kind::EmailChanged => "email_changed",
            Kind::PasswordChanged => "password_changed",
            Kind::PhoneCode => "phone_code",
            Kind::SignupCode => "signup_code",
            Kind::SlotOffer => "slot_offer",
            Kind::NoShow => "no_show",
            Kind::PrescriptionAvailable => "prescription_available",
            Kind::DocumentAdded => "document_added",
            Kind::VideoReady => "video_ready",
            Kind::SeriesConfirmation => "series_confirmation",
        }
    }

    pub fn is_essential(self) -> bool {
        !matches!(self, Kind::Reminder)
    }
}

/// A file attached to an email (ignored by SMS).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    pub name: String,
    /// Full content type, parameters included (`text/calendar; charset=utf-8; method=PUBLISH`).
    pub mime: String,
    #[serde(with = "base64_bytes")]
    pub bytes: Vec<u8>,
}

impl Attachment {
    /// An iCalendar invitation as produced by [`crate::ics`].
    pub fn ics(name: impl Into<String>, ics: String) -> Attachment {
        Attachment {
            name: name.into(),
            mime: "text/calendar; charset=utf-8; method=PUBLISH".to_owned(),
            bytes: ics.into_bytes(),
        }
    }
}

mod base64_bytes {
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        STANDARD.decode(text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_uuid_v7() {
        let id = Message::new_id();
        let parsed = uuid::Uuid::parse_str(&id).unwrap();
        assert_eq!(parsed.get_version_num(), 7);
    }

    #[test]
    fn serde_round_trip_keeps_attachment_bytes() {
        let m = Message {
            id: Message::new_id(),
            recipient: Recipient::Phone("+33612345678".into()),
            lang: Lang::De,
            kind: Kind::Reminder,
            subject: "s".into(),
            text: "t".into(),
            html: None,
            attachments: vec![Attachment {
                name: "a.bin".into(),
                mime: "application/octet-stream".into(),
                bytes: vec![0, 1, 2, 255],
            }],
            unsubscribe_url: Some("https://x.example/u".into()),
        };
        let json = serde_json::to_string(&m).unwrap();
        assert!(json.contains("\"AAEC/w==\""));
        let back: Message = serde_json::from_str(&json).unwrap();
        assert_eq!(back, m);
        assert!(!back.is_essential());
    }
}
