//! The delivery side of careslot's outbox (issue #14): what a message is, how it is rendered,
//! and the channels that send it. No database here: the outbox rows, their claiming and
//! sealing live with the store; a worker takes a [`Message`] out of a row, calls
//! [`Channel::send`], and on [`SendError::Transient`] asks [`RetryPolicy::next_attempt`] when to
//! try again (`None`: dead letter); on [`SendError::Permanent`] it parks the row at once.

pub mod channel;
pub mod compose;
pub mod file;
pub mod i18n;
pub mod ics;
pub mod message;
pub mod retry;
pub mod sms;
pub mod smtp;

pub use channel::{Channel, ConfigError, RecordingChannel, Router, SendError};
pub use compose::{compose, Appointment, ComposeError, Content, Site};
pub use file::FileChannel;
pub use i18n::Lang;
pub use ics::{IcsAlarm, IcsEvent};
pub use message::{Attachment, Kind, Message, Recipient};
pub use retry::{next_attempt, RetryPolicy};
pub use sms::{SmsChannel, SmsConfig};
pub use smtp::{SmtpChannel, SmtpConfig, SmtpTls};
