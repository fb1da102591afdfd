//! careslot's server, the composition root: it builds every feature's service from one
//! configuration ([`App`]), mounts their API handlers in one router with the OpenAPI
//! document (`api`), and serves the web pages over the same services (`web`).
//!
//! The features live in their own crates, each over the one below it:
//! `careslot-core` ← `careslot-identity` ← `careslot-scheduling` ←
//! {`careslot-vaccination`, `careslot-consultation`} ← this crate.

pub mod api;
mod app;
pub mod demo_mailbox;
mod erasure;
pub mod outbox;
pub mod services;
pub mod web;
pub mod webhooks;

pub use app::{App, AppConfig};
