//! Scheduling: practices (profiles, places, agendas, motives, opening rules, absences), slots,
//! holds and bookings, the practice's desk, who takes part in an appointment, teleconsultation
//! fees, the SMART Scheduling Links feed, the FHIR scheduling API, and the waiting room in front of the booking entry
//! points; with their API handlers.
//!
//! [`Scheduling`] is this feature's service: built on [`Accounts`] (and through it on
//! [`careslot_core::Core`]), to which it dereferences.

pub mod agenda_access;
pub mod agenda_feed;
pub mod alerts;
pub mod api;
mod booking;
pub mod calendar;
pub mod care_series;
mod consultation;
pub mod credentials;
mod desk;
mod desk_grid;
pub mod desk_notices;
pub mod directory;
pub mod event_messages;
pub mod fhir;
pub mod intents;
pub mod notify;
mod payment;
pub mod payments;
pub mod photo;
mod practice;
pub mod practice_facts;
pub mod publish;
pub mod reminders;
mod vaccines;
pub mod waiting_room;
mod webhook_targets;
pub mod webhooks;

pub use booking::{
    is_valid_guest_id, Appointment, BookingDetails, BookingInput, Holder, SlotQuery,
};
pub use consultation::{Participation, Side};
pub use desk::{day_counts, DayCounts, DeskAppointment, DeskPatient, MotiveChanges, LABEL_LANGS};
pub use desk_grid::{GridLane, GridPatient};
pub use payment::{parse_fee, SettleReport};
pub use practice::{NewMotive, NewPlace, NewRule, ProfileInput, PublicAgenda};
pub use vaccines::VaccineSpec;

use careslot_core::Core;
pub use careslot_core::{AppError, AppResult, Caller, PaymentFailure};
use careslot_identity::{Accounts, Identity};
use std::ops::Deref;
use std::sync::Arc;

/// Settings of the scheduling feature.
#[derive(Debug, Clone)]
pub struct SchedulingConfig {
    /// The waiting room in front of the booking entry points (inactive by default).
    pub waiting_room: waiting_room::RoomConfig,
    /// How teleconsultation fees are paid (default: at the practice, no online payment).
    pub payments: payments::Payments,
    /// Whether changes queue their messages in the outbox. Only `careslot bench messages`
    /// turns this off, to measure what the outbox costs a booking.
    pub compose_messages: bool,
    /// Earlier-slot offers: how long a place is kept, the worker's pace.
    pub alerts: alerts::AlertsConfig,
}

impl Default for SchedulingConfig {
    fn default() -> Self {
        Self {
            waiting_room: Default::default(),
            payments: Default::default(),
            compose_messages: true,
            alerts: Default::default(),
        }
    }
}

/// Practices, agendas, slots, holds, bookings, the desk, fees and the waiting room.
pub struct Scheduling {
    accounts: Arc<Accounts>,
    /// Queue tickets and admission to the booking entry points.
    pub waiting_room: Arc<waiting_room::WaitingRoom>,
    /// How teleconsultation fees are paid.
    pub payments: payments::Payments,
    /// The vaccine protocols in force, read at most a couple of seconds ago.
    pub protocols: careslot_core::rules_cache::Remembered<Vec<careslot_domain::vaccine::Protocol>>,
    /// See [`SchedulingConfig::compose_messages`].
    compose_messages: bool,
    /// Earlier-slot offers' settings.
    pub alerts: alerts::AlertsConfig,
    /// Which practices have webhooks (exact on one node).
    webhook_targets: webhook_targets::WebhookTargets,
}

impl Scheduling {
    /// Builds the service and starts its background work (payment capture).
    pub fn new(accounts: Arc<Accounts>, config: SchedulingConfig) -> Arc<Self> {
        let waiting_room = Arc::new(waiting_room::WaitingRoom::new(&config.waiting_room));
        // Several nodes on one database share the room's state (PostgreSQL).
        if let Some(shared) = accounts.store.shared_room() {
            waiting_room.share(shared);
        }
        let scheduling = Arc::new(Self {
            waiting_room,
            payments: config.payments,
            protocols: Default::default(),
            compose_messages: config.compose_messages,
            alerts: config.alerts,
            webhook_targets: webhook_targets::WebhookTargets::new(
                accounts.store.webhook_activation_delay(),
            ),
            accounts,
        });
        scheduling.spawn_payment_sweeper();
        scheduling
    }

    pub fn accounts(&self) -> &Arc<Accounts> {
        &self.accounts
    }
}

impl Deref for Scheduling {
    type Target = Accounts;

    fn deref(&self) -> &Accounts {
        &self.accounts
    }
}
