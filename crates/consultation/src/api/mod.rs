//! The consultation endpoints: video sessions and their WebSocket, documents, prescriptions.

pub mod documents;
pub mod prescriptions;
pub mod video;

/// The extractors this crate's handlers use.
pub mod extract {
    pub use careslot_core::extract::*;
    pub use careslot_identity::api::{Caller, ClientIp};
}
