//! The accounts, sessions and access-log endpoints.

pub mod accounts;
mod caller;
mod client;
pub mod dead_letters;
pub mod dto;
pub mod me;
pub mod operator;
pub mod operators;
pub mod organisations;
pub mod security;
pub mod team;

pub use caller::{Bearer, Caller};
pub use client::{bearer_token, ClientIp};
pub use operator::{Operator, Permission};

/// The extractors this crate's handlers use.
pub mod extract {
    pub use super::{Bearer, Caller, ClientIp};
    pub use careslot_core::extract::*;
}
