//! The vaccination endpoints (bookings of both doses, protocols, stock, lines) and the
//! campaign operator's endpoints (eligibility, chronodoses, figures, export).

pub mod dto;
pub mod operator;
pub mod vaccination;

/// The extractors this crate's handlers use.
pub mod extract {
    pub use careslot_core::extract::*;
    pub use careslot_identity::api::Caller;
}
