//! Mass vaccination: vaccine protocols and their dose intervals, daily dose stock and lines,
//! both doses booked together, eligibility phases and chronodoses, and the campaign's figures
//! and export for the operator (health authority); with their API handlers.
//!
//! [`Vaccination`] is this feature's service, built on [`Scheduling`] (to which it
//! dereferences).

pub mod api;
mod campaign;
mod eligibility;
mod vaccination;

pub use campaign::{CampaignTotals, DayReport, ProductTotals};
pub use careslot_scheduling::VaccineSpec;
pub use eligibility::{Eligibility, NewPhase, CHRONODOSE_SETTING};
pub use vaccination::{DoseChoice, SecondDoseWindow, SeriesInput, VaccinationRequest};

use careslot_core::rules_cache::Remembered;
use careslot_core::Core;
pub use careslot_core::{AppError, AppResult, Caller};
use careslot_scheduling::{Appointment, Scheduling};
use std::ops::Deref;
use std::sync::Arc;

/// Protocols, stock, vaccination bookings, eligibility and the campaign's figures.
pub struct Vaccination {
    scheduling: Arc<Scheduling>,
    eligibility: Remembered<Eligibility>,
}

impl Vaccination {
    pub fn new(scheduling: Arc<Scheduling>) -> Arc<Self> {
        Arc::new(Self {
            scheduling,
            eligibility: Default::default(),
        })
    }

    pub fn scheduling(&self) -> &Arc<Scheduling> {
        &self.scheduling
    }
}

impl Deref for Vaccination {
    type Target = Scheduling;

    fn deref(&self) -> &Scheduling {
        &self.scheduling
    }
}
