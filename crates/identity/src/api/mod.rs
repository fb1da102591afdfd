//! The accounts, sessions and access-log endpoints.

pub mod accounts;
mod caller;
pub mod dto;
mod operator;

pub use caller::Caller;
pub use operator::Operator;

/// The extractors this crate's handlers use.
pub mod extract {
    pub use super::Caller;
    pub use careslot_core::extract::*;
}
