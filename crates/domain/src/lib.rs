//! careslot's domain: pure logic, no I/O.
//!
//! Values here are *parsed*, not validated later: a [`Minutes`] duration is never 0, a
//! [`Weekday`] is never 8, an [`OpeningRule`] always ends after it starts. Storage and HTTP
//! layers build these types through their constructors and can then trust them.

pub mod availability;
pub mod error;
pub mod fee_sector;
pub mod geo;
pub mod holidays;
pub mod hours;
pub mod ids;
pub mod professional_id;
pub mod schedule;
pub mod specialty;
pub mod vaccine;

pub use availability::{AgendaCalendar, Occupancy, Reservation, Slot};
pub use error::DomainError;
pub use fee_sector::FeeSector;
pub use holidays::Country;
pub use ids::*;
pub use professional_id::{CredentialStatus, IdScheme, ProfessionalId};
pub use schedule::{Absence, Minutes, Motive, MotivePolicy, OpeningRule, Weekday, WeekdaySet};
pub use specialty::Specialty;
pub use vaccine::{Dose, Phase, Protocol, VaccineProduct};
