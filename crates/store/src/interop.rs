//! Interoperability records (issue 19): a patient's private calendar subscription.

use careslot_domain::AccountId;
use jiff::Timestamp;

/// A patient's calendar subscription: the feed URL's token is never stored. The server
/// derives it from `nonce` with its index key (so `GET /api/v1/me/calendar-feed` can show the
/// same URL again) and finds the feed by `token_hash` (SHA-256 of the token) when a calendar
/// app fetches it. Deleting the row revokes the URL; the next one gets a new nonce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CalendarFeed {
    pub account_id: AccountId,
    pub nonce: String,
    pub token_hash: String,
    pub created_at: Timestamp,
}
