//! Proving and changing an account's contact details (issue 14): email links (verification
//! and address change) and SMS codes, stored only as hashes, single use, short-lived.

use careslot_domain::AccountId;
use jiff::Timestamp;

/// How many wrong codes an SMS code survives; then a new code must be asked for.
pub const PHONE_CODE_MAX_FAILURES: u32 = 5;

/// What an email link proves when it is followed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmailTokenPurpose {
    /// The account's current address is its owner's.
    Verify,
    /// The new address (carried by the token) replaces the current one.
    Change,
}

impl EmailTokenPurpose {
    pub fn code(self) -> &'static str {
        match self {
            EmailTokenPurpose::Verify => "verify",
            EmailTokenPurpose::Change => "change",
        }
    }

    pub fn parse(code: &str) -> Option<Self> {
        match code {
            "verify" => Some(EmailTokenPurpose::Verify),
            "change" => Some(EmailTokenPurpose::Change),
            _ => None,
        }
    }
}

/// An email link's token: its SHA-256 (never the token), what it is for, its expiry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailToken {
    pub token_hash: String,
    pub account_id: AccountId,
    pub purpose: EmailTokenPurpose,
    /// `Change` only: the new address sealed under the account's key.
    pub new_email_ct: Option<Vec<u8>>,
    pub expires_at: Timestamp,
    pub created_at: Timestamp,
}

/// The new address as the accounts table holds it (sealed, with its blind index and
/// uniqueness hash), ready to replace the current one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailChange {
    pub email_ct: Vec<u8>,
    pub email_bidx: i64,
    pub email_uniq: String,
}

/// An SMS code: a keyed hash of it (a bare SHA-256 of six digits is reversed in a second).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhoneCode {
    pub account_id: AccountId,
    pub code_hash: String,
    pub expires_at: Timestamp,
    pub created_at: Timestamp,
}

/// What entering an SMS code did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhoneCodeCheck {
    /// The right code: the phone is verified, the code is spent.
    Verified,
    /// A wrong code; `tries_left` more before the code dies.
    Wrong { tries_left: u32 },
    /// Too many wrong codes (this one included, or before): a new code is needed.
    Locked,
    /// No live code (never asked, spent, replaced by a phone change, or expired).
    Missing,
}

/// An instant sign-up waiting for its code (issue 15 point 7): found by the SHA-256 of its
/// ticket; `account` is None when the address already had an account (no code can match).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignupCode {
    pub ticket_hash: String,
    pub account: Option<AccountId>,
    /// A keyed hash of the code, bound to the ticket.
    pub code_hash: String,
    pub expires_at: Timestamp,
    pub created_at: Timestamp,
}

/// What entering a sign-up code did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignupCodeCheck {
    /// The right code: the address is verified, the code is spent; sign this account in.
    Verified(AccountId),
    /// Anything else (wrong, expired, spent, killed by wrong tries, or a taken address's
    /// attempt): one answer, so that it says nothing about the address.
    Refused,
}

/// What the account page may change besides the address: the sealed name and phone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactUpdate {
    pub name_ct: Vec<u8>,
    pub phone_ct: Option<Vec<u8>>,
    /// The number differs from the stored one: its proof and any live code go.
    pub phone_changed: bool,
}

/// The preferences of `account_settings` a person chooses (the proofs are left alone).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountPreferences {
    pub lang: String,
    pub reminders_email: bool,
    pub reminders_sms: bool,
    pub show_motive: bool,
}
