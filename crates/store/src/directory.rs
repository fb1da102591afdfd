//! A practice's patient directory (issue 18, point 1): who the practice has seen or booked,
//! found again by the start of a name, a phone number or a birth date without the host ever
//! holding those in clear. The store keeps, per entry, only truncated blind indexes
//! ("terms", keyed per practice by the application's index key) and a practice note sealed
//! under the patient's key; names, phones and birth dates stay in the patient's account,
//! sealed as before, and are opened and checked by the service after the lookup (a
//! truncated index matches other values too, on purpose).

use careslot_domain::{AccountId, PractitionerId};
use jiff::Timestamp;

/// One patient in one practice's directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PracticePatient {
    pub id: String,
    pub practitioner_id: PractitionerId,
    /// The patient's account: one made on the phone by the practice (no login), or the
    /// patient's own when they booked online.
    pub account_id: AccountId,
    /// The practice's note on the patient, sealed under the patient's key.
    pub note_ct: Option<Vec<u8>>,
    pub created_at: Timestamp,
}

/// One appointment re-pointed by a merge: its patient sealed again for the kept account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatientMove {
    pub reservation_id: careslot_domain::ReservationId,
    pub patient_ct: Vec<u8>,
}

/// Two entries of one practice's directory found to be one person: `from`'s appointments
/// in the practice move to `into`'s account, `into` gets `note_ct`, and `from` leaves the
/// directory. Written in one transaction, or not at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatientMerge {
    pub practitioner_id: PractitionerId,
    pub into: PracticePatient,
    pub from: PracticePatient,
    /// The patients' blind indexes on reservations: `from`'s (which every moved reservation
    /// must still hold, and none of the practice may hold after) and `into`'s.
    pub from_bidx: i64,
    pub into_bidx: i64,
    /// The practice's reservations holding `from_bidx` that are other patients' (the index is
    /// truncated on purpose, so it is shared): the only ones it may still name after the merge.
    pub others: Vec<careslot_domain::ReservationId>,
    /// Every reservation of `from`'s account in the practice's agendas, whatever its status.
    pub moves: Vec<PatientMove>,
    /// The kept entry's note after the merge (both notes joined, sealed under `into`'s key).
    pub note_ct: Option<Vec<u8>>,
    pub now: Timestamp,
}
