//! Storage models: what goes in and out of a [`crate::Store`].

use careslot_domain::*;
use jiff::Timestamp;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Patient,
    Practitioner,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Patient => "patient",
            Role::Practitioner => "practitioner",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "patient" => Some(Role::Patient),
            "practitioner" => Some(Role::Practitioner),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: AccountId,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub created_at: Timestamp,
}

/// An account with its password hash, only for logging in.
#[derive(Debug, Clone)]
pub struct AccountWithSecret {
    pub account: Account,
    pub password_hash: String,
}

#[derive(Debug, Clone)]
pub struct NewAccount {
    pub id: AccountId,
    /// Already case-folded by the caller.
    pub email: String,
    pub name: String,
    pub role: Role,
    pub password_hash: String,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone)]
pub struct NewSession {
    /// SHA-256 of the bearer token, hex; the token itself is never stored.
    pub token_hash: String,
    pub account_id: AccountId,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Practitioner {
    pub id: PractitionerId,
    pub account_id: AccountId,
    pub name: String,
    pub specialty: Specialty,
    pub languages: Vec<String>,
    pub bio: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Place {
    pub id: PlaceId,
    pub practitioner_id: PractitionerId,
    pub name: String,
    pub address: String,
    pub postcode: String,
    pub city: String,
    pub country: Country,
    pub lat: f64,
    pub lon: f64,
    /// IANA zone name, validated by the caller.
    pub timezone: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Agenda {
    pub id: AgendaId,
    pub practitioner_id: PractitionerId,
    pub place_id: PlaceId,
    pub timezone: String,
    /// Country whose public holidays close the agenda; None keeps it open.
    pub holidays: Option<Country>,
}

/// Everything availability needs for one agenda.
#[derive(Debug, Clone)]
pub struct AgendaSnapshot {
    pub agenda: Agenda,
    pub motives: Vec<Motive>,
    pub rules: Vec<OpeningRule>,
    pub absences: Vec<Absence>,
    pub reservations: Vec<Reservation>,
}

/// One row of the search index.
#[derive(Debug, Clone, PartialEq)]
pub struct DirectoryEntry {
    pub practitioner_id: PractitionerId,
    pub name: String,
    pub specialty: Specialty,
    pub agenda_id: AgendaId,
    pub place: Place,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReservationStatus {
    Held,
    Booked,
    Cancelled,
    Expired,
    NoShow,
}

impl ReservationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ReservationStatus::Held => "held",
            ReservationStatus::Booked => "booked",
            ReservationStatus::Cancelled => "cancelled",
            ReservationStatus::Expired => "expired",
            ReservationStatus::NoShow => "no_show",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "held" => ReservationStatus::Held,
            "booked" => ReservationStatus::Booked,
            "cancelled" => ReservationStatus::Cancelled,
            "expired" => ReservationStatus::Expired,
            "no_show" => ReservationStatus::NoShow,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReservationRow {
    pub id: ReservationId,
    pub agenda_id: AgendaId,
    pub motive_id: MotiveId,
    pub patient_id: Option<AccountId>,
    pub start: Timestamp,
    pub end: Timestamp,
    pub status: ReservationStatus,
    pub expires_at: Option<Timestamp>,
}

#[derive(Debug, Clone)]
pub struct Idempotency {
    pub key: String,
    /// A digest of the request body: same key + other body is refused.
    pub request_hash: String,
}

#[derive(Debug, Clone)]
pub struct ReserveRequest {
    pub id: ReservationId,
    pub agenda_id: AgendaId,
    pub motive_id: MotiveId,
    pub patient_id: AccountId,
    pub start: Timestamp,
    /// `Some` makes a hold that stops occupying the place at that instant; `None` books.
    pub hold_until: Option<Timestamp>,
    pub idempotency: Option<Idempotency>,
    pub now: Timestamp,
}

#[derive(Debug, Clone)]
pub struct BookHoldRequest {
    pub hold_id: ReservationId,
    pub patient_id: AccountId,
    pub idempotency: Option<Idempotency>,
    pub now: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReserveOutcome {
    pub reservation: ReservationRow,
    /// True when an earlier request with the same idempotency key made it.
    pub replayed: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgendaAppointment {
    pub reservation: ReservationRow,
    pub patient_name: Option<String>,
}
