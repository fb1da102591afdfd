//! A patient's appointments as iCalendar (issue 19): one appointment's `.ics` (the web page's
//! download and the API's, same writer as the mail attachment: `careslot_messages::ics`), and
//! a private subscription feed of every upcoming appointment that a calendar app polls.
//!
//! The feed URL carries a token nobody stores: it is a keyed hash (the index key, held by the
//! key service) of the account and a random nonce kept in `calendar_feeds`, so the account
//! page can show the same URL again, and the row keeps only the token's SHA-256 to find the
//! feed when it is fetched. Revoking deletes the row: the URL answers 404 from then on, and
//! the next one gets a new nonce. The visit reason (health data) appears only for a patient
//! who opted in (`show_motive`), as in mails.

use crate::{Appointment, Scheduling};
use careslot_core::{AppError, AppResult, Caller, Core};
use careslot_messages::ics::{self, IcsEvent};
use careslot_messages::Lang;
use careslot_store::{CalendarFeed, ReservationStatus, Role};
use jiff::Timestamp;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// Keyed-hash context of feed tokens (never reuse it for anything else).
const TOKEN_CONTEXT: &str = "calendar_feeds.token";

/// Path of a feed below the server's base URL (`{token}` is 64 hex digits).
pub const FEED_PATH: &str = "/api/v1/calendar-feeds";

/// SHA-256 of a feed token, hex: what the row keeps.
pub(crate) fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A feed token's shape: 64 lowercase hex digits (anything else is not looked up).
pub(crate) fn is_token(token: &str) -> bool {
    token.len() == 64
        && token
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The caller's calendar subscription: its token and when it was made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedToken {
    pub token: String,
    pub created_at: Timestamp,
}

impl Scheduling {
    fn feed_token(&self, feed: &CalendarFeed) -> String {
        let input = format!("{}\n{}", feed.account_id, feed.nonce);
        self.protect.keyed_hash(TOKEN_CONTEXT, input.as_bytes())
    }

    /// The patient's feed token, made on the first ask (and the same at every later ask until
    /// it is revoked).
    pub async fn calendar_feed(&self, caller: &Caller) -> AppResult<FeedToken> {
        Core::require_role(caller, Role::Patient)?;
        let feed = match self.store.calendar_feed(&caller.id).await? {
            Some(feed) => feed,
            None => {
                let mut nonce = [0u8; 16];
                rand::rngs::OsRng.fill_bytes(&mut nonce);
                let mut feed = CalendarFeed {
                    account_id: caller.id.clone(),
                    nonce: hex::encode(nonce),
                    token_hash: String::new(),
                    created_at: self.now(),
                };
                feed.token_hash = token_hash(&self.feed_token(&feed));
                // Two first asks at once: both get the row that won.
                self.store.create_calendar_feed(&feed).await?
            }
        };
        Ok(FeedToken {
            token: self.feed_token(&feed),
            created_at: feed.created_at,
        })
    }

    /// Revokes the patient's feed: NotFound when there is none.
    pub async fn revoke_calendar_feed(&self, caller: &Caller) -> AppResult<()> {
        Core::require_role(caller, Role::Patient)?;
        if self.store.delete_calendar_feed(&caller.id).await? {
            Ok(())
        } else {
            Err(AppError::NotFound("calendar feed"))
        }
    }

    /// One appointment of the caller (or of a relative they booked for) as an `.ics`.
    pub async fn appointment_ics(&self, caller: &Caller, id: &str) -> AppResult<String> {
        self.appointment_ics_in(caller, id, None).await
    }

    /// The same, in language `lang` (the page the patient downloads it from) instead of
    /// the account's.
    pub async fn appointment_ics_in(
        &self,
        caller: &Caller,
        id: &str,
        lang: Option<Lang>,
    ) -> AppResult<String> {
        let a = self.own_reservation(caller, id).await?;
        if matches!(
            a.row.status,
            ReservationStatus::Held | ReservationStatus::Expired
        ) {
            return Err(AppError::NotFound("appointment"));
        }
        let settings = self.store.account_settings(&caller.id).await?;
        let lang = lang.unwrap_or_else(|| Lang::parse(&settings.lang).unwrap_or(Lang::Fr));
        let event = self.ics_event(&a, settings.show_motive, lang).await?;
        Ok(ics::calendar(&[event], None))
    }

    /// The feed a token opens: `None` when no feed has it (never made, or revoked).
    pub async fn calendar_feed_ics(&self, token: &str) -> AppResult<Option<String>> {
        if !is_token(token) {
            return Ok(None);
        }
        let Some(feed) = self.store.calendar_feed_by_hash(&token_hash(token)).await? else {
            return Ok(None);
        };
        let Some(account) = self.store.account(&feed.account_id).await? else {
            return Ok(None);
        };
        if account.role != Role::Patient {
            return Ok(None);
        }
        // The patient reads their own appointments through the URL they were given: the
        // same read, and the same audit entry, as their appointment list.
        let owner = Caller {
            id: feed.account_id.clone(),
            role: Role::Patient,
            second_factor: false,
        };
        let settings = self.store.account_settings(&owner.id).await?;
        let lang = Lang::parse(&settings.lang).unwrap_or(Lang::Fr);
        let now = self.now();
        let mut events = Vec::new();
        for a in self.my_appointments(&owner).await? {
            if a.row.status == ReservationStatus::Booked && a.row.end > now {
                events.push(self.ics_event(&a, settings.show_motive, lang).await?);
            }
        }
        events.sort_by_key(|e| e.start);
        Ok(Some(ics::calendar(&events, Some("careslot"))))
    }

    /// The calendar event of an appointment, as in the confirmation mail (same UID, so a
    /// calendar that imported the mail's file updates that event).
    async fn ics_event(
        &self,
        a: &Appointment,
        show_motive: bool,
        lang: Lang,
    ) -> AppResult<IcsEvent> {
        let view = self.view(&a.row.agenda_id).await?;
        let now = self.now();
        // Each file supersedes the ones written before it (calendars keep the highest).
        let sequence = u32::try_from(now.as_second()).unwrap_or(u32::MAX);
        let mut appt = self
            .message_appointment(&view, &a.row.id, a.row.start, a.row.end, sequence)
            .await?;
        if show_motive {
            appt.show_motive = true;
            // The practice's label in the patient's language, else its default label.
            appt.motive = self
                .motive_label_in(&view, &a.motive_id, lang.code())
                .await?;
        }
        let mut event =
            careslot_messages::compose::appointment_event(&self.message_site(), &appt, lang, now);
        event.cancelled = a.row.status != ReservationStatus::Booked;
        Ok(event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens() {
        assert!(is_token(&"a1".repeat(32)));
        assert!(!is_token(&"A1".repeat(32)));
        assert!(!is_token(&"a1".repeat(31)));
        assert!(!is_token("../../etc/passwd"));
        assert_eq!(token_hash("x").len(), 64);
    }
}
