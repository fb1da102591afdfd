//! Practitioner verification (issue 15, point 6): the national identifier a practitioner
//! declares, its status, and the history of who changed it, when and why.

use careslot_domain::{CredentialStatus, PractitionerId, ProfessionalId, Specialty};
use jiff::Timestamp;

/// A practitioner's credential as stored. `identifier` is `None` only for listings the
/// operator vouches for without one (imported vaccination sites).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialRecord {
    pub practitioner_id: PractitionerId,
    pub identifier: Option<ProfessionalId>,
    pub status: CredentialStatus,
    pub declared_at: Option<Timestamp>,
    pub decided_at: Option<Timestamp>,
    /// `operator`, `import:<file>`, `demo`, `import:sites`.
    pub decided_by: Option<String>,
    pub reason: Option<String>,
}

impl CredentialRecord {
    /// What a practitioner who never declared anything has.
    pub fn unverified(practitioner_id: PractitionerId) -> Self {
        Self {
            practitioner_id,
            identifier: None,
            status: CredentialStatus::Unverified,
            declared_at: None,
            decided_at: None,
            decided_by: None,
            reason: None,
        }
    }
}

/// A credential with who it belongs to, for the operator's queue and the directory import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialListing {
    pub credential: CredentialRecord,
    pub name: String,
    pub specialty: Specialty,
}

/// One change of a credential, oldest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialEvent {
    pub at: Timestamp,
    pub actor: String,
    pub status: CredentialStatus,
    pub identifier: Option<ProfessionalId>,
    pub reason: Option<String>,
}

/// An operator's (or an import's) decision, applied only if the credential is in one of
/// `from` and, when `identifier` is given, still declares that identifier (a practitioner
/// who changed it meanwhile is not verified on the old one's evidence).
#[derive(Debug, Clone)]
pub struct CredentialDecision<'a> {
    pub practitioner: &'a PractitionerId,
    pub from: &'a [CredentialStatus],
    pub to: CredentialStatus,
    pub identifier: Option<&'a ProfessionalId>,
    pub actor: &'a str,
    pub reason: Option<&'a str>,
    pub at: Timestamp,
}
