//! Group practices (issue 18 point 4): organisations own their members' agendas.

use careslot_domain::OrganisationId;
use jiff::Timestamp;

#[derive(Debug, Clone, PartialEq)]
pub struct Organisation {
    pub id: OrganisationId,
    pub name: String,
    pub created_at: Timestamp,
}

/// What taking a practitioner out of an organisation did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Departure {
    Left,
    /// Not a member (or no such organisation).
    NotMember,
    /// The only member: an organisation keeps at least one.
    LastMember,
    /// Their own organisation and the only one left to them: a practitioner keeps at least
    /// one (their desk shows one).
    OnlyOrganisation,
}
