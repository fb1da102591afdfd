//! The scheduling endpoints: the public directory and slots, practices, holds and bookings,
//! fees, the SMART Scheduling Links feed and the waiting room's queue.

pub mod agenda_feed;
pub mod alerts;
pub mod bulk_publish;
pub mod calendar;
pub mod care_series;
pub mod credentials;
pub mod desk;
pub mod directory;
pub mod dto;
pub mod patient;
pub mod payments;
pub mod practitioner;
pub mod public;
pub mod queue;
pub mod reminders;
pub mod slot_days;
pub mod slot_json;
pub mod webhooks;

/// The extractors this crate's handlers use.
pub mod extract {
    pub use careslot_core::extract::*;
    pub use careslot_identity::api::Caller;
}
