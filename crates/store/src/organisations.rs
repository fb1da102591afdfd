//! Group practices (issue 18 point 4): organisations own their members' agendas.

use careslot_domain::OrganisationId;
use jiff::Timestamp;

#[derive(Debug, Clone, PartialEq)]
pub struct Organisation {
    pub id: OrganisationId,
    pub name: String,
    pub created_at: Timestamp,
}
