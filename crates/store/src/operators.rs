//! Operator accounts (issue 15, point 5): what each operator may do, whether the account is
//! disabled, and the log of the operators' actions.

use careslot_domain::AccountId;
use jiff::Timestamp;

/// What an operator may do. The operator's bearer token (automation) has every one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Permission {
    /// Vaccination phases, chronodoses, protocols, campaign totals, the export, the waiting
    /// room.
    Campaign,
    /// The practitioner review queue: verify, reject, revoke.
    Verification,
    /// Dead letters: list and retry.
    Messages,
}

impl Permission {
    pub const ALL: [Permission; 3] = [
        Permission::Campaign,
        Permission::Verification,
        Permission::Messages,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Permission::Campaign => "campaign",
            Permission::Verification => "verification",
            Permission::Messages => "messages",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.code() == s)
    }
}

/// An operator account as stored (its identity is the account's, sealed as any other).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorRecord {
    pub account_id: AccountId,
    /// Sorted, without duplicates.
    pub roles: Vec<Permission>,
    pub created_at: Timestamp,
    /// `token`, `cli`, or `operator:<account id>`.
    pub created_by: String,
    pub disabled_at: Option<Timestamp>,
}

/// One entry of the operators' action log (append-only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorAction {
    pub seq: i64,
    pub at: Timestamp,
    /// `operator:token` or `operator:<account id>`.
    pub actor: String,
    /// What was done, e.g. `vaccination.phase.open`.
    pub action: String,
    /// The id it was done to, if any (never personal data).
    pub target: Option<String>,
}
