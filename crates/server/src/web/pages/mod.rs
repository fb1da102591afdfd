//! Page handlers, one module per area. Each parses the request, calls application
//! services, and renders a template; no business rule lives here.

pub mod account;
pub mod appointments;
pub mod booking;
pub mod desk;
pub mod directory;
pub mod documents;
pub mod grid;
pub mod home;
pub mod mailbox;
pub mod notices;
pub mod onboarding;
pub mod operator;
pub mod organisation;
pub mod patient_merge;
pub mod payments;
pub mod photos;
pub mod practitioner;
pub mod prescriptions;
pub mod profile;
pub mod queue;
pub mod security;
pub mod series;
pub mod settings;
pub mod team;
pub mod vaccination;
pub mod verification;
// --- video ---
pub mod video;
