//! Records of sites brought in by `careslot import` (the vaccination-centre list), so that a
//! second import of the same file changes nothing.

use crate::{Agenda, MotiveVaccine, NewAccount, Place, Practitioner};
use careslot_domain::*;
use jiff::Timestamp;

/// One imported source record: its stable key, the hash of the fields imported, and the
/// ids it was given.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportedSite {
    pub source_key: String,
    pub content_hash: String,
    pub account_id: AccountId,
    pub practitioner_id: PractitionerId,
    /// `None` when the site could not be located (no place, no agenda).
    pub place_id: Option<PlaceId>,
    pub agenda_id: Option<AgendaId>,
    pub imported_at: Timestamp,
    pub updated_at: Timestamp,
    /// What the source says publicly about the site (for the SMART Scheduling Links feed).
    pub public: SitePublic,
}

/// Public facts about a site from the source list, published as they are: its identifiers
/// in the source and its front-desk phone. Not health data (the list is public).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SitePublic {
    /// The source list's own site id (ViteMaDose's `gid`).
    pub gid: Option<String>,
    /// The booking platform's id of the site (ViteMaDose's `internal_id`).
    pub internal_id: Option<String>,
    pub phone: Option<String>,
}

/// Everything one import of one site writes, applied in a single transaction together with
/// its [`ImportedSite`] row: a site is imported (or updated) whole or not at all.
#[derive(Debug, Clone)]
pub struct SiteWrite {
    pub source_key: String,
    pub content_hash: String,
    pub now: Timestamp,
    /// The site's account, on its first import only.
    pub account: Option<NewAccount>,
    /// Inserted, or renamed (matched on its account).
    pub practitioner: Practitioner,
    /// Inserted, or updated in place (matched on its id).
    pub place: Option<Place>,
    /// Inserted, or its time zone updated (matched on its id).
    pub agenda: Option<Agenda>,
    /// New motives of the agenda with their sealed labels; existing ones are never touched.
    pub motives: Vec<(Motive, Vec<u8>)>,
    /// Vaccine links of motives of the agenda (inserted or replaced).
    pub vaccines: Vec<MotiveVaccine>,
    /// `Some`: the agenda's opening rules are replaced by these (appointments stay).
    pub rules: Option<Vec<OpeningRule>>,
    /// Replaces what was recorded (an identifier or phone gone from the source is dropped).
    pub public: SitePublic,
}
