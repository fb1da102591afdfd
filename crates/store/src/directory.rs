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
