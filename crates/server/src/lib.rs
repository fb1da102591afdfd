//! careslot's server: application services, the hot availability index, the search
//! directory, and the HTTP API over them.

pub mod api;
pub mod availability;
pub mod error;
pub mod gazetteer;
pub mod mac;
pub mod payments;
pub mod prescription;
pub mod protection;
pub mod publish;
pub mod search;
pub mod services;
pub mod time;
pub mod video;
pub mod waiting_room;
pub mod web;
