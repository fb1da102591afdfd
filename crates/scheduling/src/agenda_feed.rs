//! An agenda's appointments as a private calendar subscription (issue 18 point 6), for the
//! practice's Google, Outlook or Apple calendar.
//!
//! The URL's token is made as a patient's feed token is (`calendar.rs`): a keyed hash (the
//! index key) of the agenda and a random nonce kept in `agenda_feeds`, so the settings page
//! shows the same URL again; the row keeps only the token's SHA-256, by which a fetch finds
//! the feed (an indexed equality lookup: no comparison of secrets in the application).
//! Rotating draws a new nonce (the old URL answers 404 at once), revoking deletes the row.
//! The practitioner or an assistant of theirs manages it, as the agenda's other settings.
//!
//! What the feed holds: the agenda's appointments starting from [`DAYS_BACK`] days ago to
//! [`DAYS_AHEAD`] days ahead. Each event keeps its UID across moves (the appointment's id) and
//! its `SEQUENCE` is the appointment's last change (seconds), so a move or a cancellation
//! raises it. A cancelled appointment stays in the feed as `STATUS:CANCELLED` while its
//! time is in the window (calendar apps strike it out or drop it), then leaves with the
//! past ones. The summary is the motive's label only; with `show_patient_names` (off by
//! default; turning it on needs a session with a second factor, as reading patient data
//! does) it is the patient's name and the motive — nothing else about the patient, ever.
//! Every fetch that shows names is recorded in the access log of each patient shown, with
//! the practitioner's account as the reader.

use crate::calendar::{is_token, token_hash};
use crate::Scheduling;
use careslot_core::{AppError, AppResult, Caller};
use careslot_domain::{AccountId, AgendaId};
use careslot_messages::compose::{agenda_event, AgendaEntry};
use careslot_messages::ics;
use careslot_store::{AgendaFeed, ReservationStatus};
use jiff::{SignedDuration, Timestamp};
use rand::RngCore;
use std::collections::HashMap;

/// Keyed-hash context of agenda feed tokens (never reuse it for anything else).
const TOKEN_CONTEXT: &str = "agenda_feeds.token";

/// Path of an agenda feed below the server's base URL: `{FEED_PATH}/{token}.ics`.
pub const FEED_PATH: &str = "/api/v1/agenda-feeds";

/// The feed starts this many days before now…
pub const DAYS_BACK: i64 = 7;
/// …and ends this many days after (about three months).
pub const DAYS_AHEAD: i64 = 92;

/// An agenda's subscription as its practice sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgendaFeedToken {
    pub token: String,
    pub show_patient_names: bool,
    /// When this URL was made (rotation makes a new one).
    pub created_at: Timestamp,
}

/// `token` or `token.ics`, the token alone.
fn bare_token(raw: &str) -> &str {
    raw.strip_suffix(".ics").unwrap_or(raw)
}

impl Scheduling {
    fn agenda_feed_token(&self, feed: &AgendaFeed) -> String {
        let input = format!("{}\n{}", feed.agenda_id, feed.nonce);
        self.protect.keyed_hash(TOKEN_CONTEXT, input.as_bytes())
    }

    fn agenda_feed_answer(&self, feed: &AgendaFeed) -> AgendaFeedToken {
        AgendaFeedToken {
            token: self.agenda_feed_token(feed),
            show_patient_names: feed.show_patient_names,
            created_at: feed.created_at,
        }
    }

    /// The subscription of one of the caller's agendas, if it has one.
    pub async fn agenda_feed(
        &self,
        caller: &Caller,
        agenda: &AgendaId,
    ) -> AppResult<Option<AgendaFeedToken>> {
        let (_, agenda) = self.own_agenda(caller, agenda).await?;
        Ok(self
            .store
            .agenda_feed(&agenda.id)
            .await?
            .map(|f| self.agenda_feed_answer(&f)))
    }

    /// Makes a new URL for one of the caller's agendas: the first one, or a rotation (the
    /// previous URL answers 404 from now on). `show_patient_names`: as given, else as it was
    /// (off for a first URL).
    pub async fn make_agenda_feed(
        &self,
        caller: &Caller,
        agenda: &AgendaId,
        show_patient_names: Option<bool>,
    ) -> AppResult<AgendaFeedToken> {
        let (_, agenda) = self.own_agenda(caller, agenda).await?;
        let show = match show_patient_names {
            Some(show) => show,
            None => self
                .store
                .agenda_feed(&agenda.id)
                .await?
                .is_some_and(|f| f.show_patient_names),
        };
        if show {
            // Names in a URL's answers are patient data read from now on: the same condition
            // as reading them at the desk.
            caller.may_read_patient_data()?;
        }
        let mut nonce = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let mut feed = AgendaFeed {
            agenda_id: agenda.id.clone(),
            nonce: hex::encode(nonce),
            token_hash: String::new(),
            show_patient_names: show,
            created_at: self.now(),
        };
        feed.token_hash = token_hash(&self.agenda_feed_token(&feed));
        self.store.put_agenda_feed(&feed).await?;
        Ok(self.agenda_feed_answer(&feed))
    }

    /// Turns the patients' names in the feed on or off (same URL). NotFound when the agenda
    /// has no feed.
    pub async fn set_agenda_feed_names(
        &self,
        caller: &Caller,
        agenda: &AgendaId,
        show: bool,
    ) -> AppResult<AgendaFeedToken> {
        let (_, agenda) = self.own_agenda(caller, agenda).await?;
        if show {
            caller.may_read_patient_data()?;
        }
        if !self.store.set_agenda_feed_names(&agenda.id, show).await? {
            return Err(AppError::NotFound("agenda feed"));
        }
        let feed = self
            .store
            .agenda_feed(&agenda.id)
            .await?
            .ok_or(AppError::NotFound("agenda feed"))?;
        Ok(self.agenda_feed_answer(&feed))
    }

    /// Revokes the feed of one of the caller's agendas: NotFound when there is none.
    pub async fn revoke_agenda_feed(&self, caller: &Caller, agenda: &AgendaId) -> AppResult<()> {
        let (_, agenda) = self.own_agenda(caller, agenda).await?;
        if self.store.delete_agenda_feed(&agenda.id).await? {
            Ok(())
        } else {
            Err(AppError::NotFound("agenda feed"))
        }
    }

    /// The calendar a token (`…` or `….ics`) opens: `None` when no feed has it (never made,
    /// rotated away, revoked), or when its agenda's practitioner account is gone.
    pub async fn agenda_feed_ics(&self, token: &str) -> AppResult<Option<String>> {
        let token = bare_token(token);
        if !is_token(token) {
            return Ok(None);
        }
        let Some(feed) = self.store.agenda_feed_by_hash(&token_hash(token)).await? else {
            return Ok(None);
        };
        let view = match self.view(&feed.agenda_id).await {
            Ok(v) => v,
            Err(AppError::NotFound(_)) => return Ok(None),
            Err(e) => return Err(e),
        };
        let Some(practitioner) = self
            .store
            .practitioner(&view.agenda.practitioner_id)
            .await?
        else {
            return Ok(None);
        };
        let Some(owner) = self.store.account(&practitioner.account_id).await? else {
            return Ok(None);
        };
        let lang = self.store.account_settings(&owner.id).await?.lang;
        let lang = careslot_messages::Lang::parse(&lang).unwrap_or(careslot_messages::Lang::Fr);
        let place = self.store.place(&view.agenda.place_id).await?;
        let (place_name, location) = match place {
            Some(p) => (
                p.name.clone(),
                format!("{}, {}, {} {}", p.name, p.address, p.postcode, p.city),
            ),
            None => (String::new(), String::new()),
        };
        let now = self.now();
        let from = now
            .checked_sub(SignedDuration::from_hours(24 * DAYS_BACK))
            .unwrap_or(now);
        let to = now
            .checked_add(SignedDuration::from_hours(24 * DAYS_AHEAD))
            .unwrap_or(now);
        let rows = self
            .store
            .agenda_feed_appointments(&view.agenda.id, from, to)
            .await?;
        let labels = self.motive_labels(&view).await?;
        let fallback = lang.t("ics.agenda_appointment").to_owned();
        let site = self.message_site();
        let mut names: HashMap<AccountId, Option<String>> = HashMap::new();
        let mut events = Vec::with_capacity(rows.len());
        for (row, changed) in rows {
            let a = self.open_reservation(row).await?;
            let motive = labels
                .get(&a.motive_id)
                .cloned()
                .unwrap_or_else(|| fallback.clone());
            let mut summary = motive.clone();
            if feed.show_patient_names {
                if let Some(patient) = &a.patient {
                    if !names.contains_key(patient) {
                        names.insert(patient.clone(), self.name_of(patient).await?);
                    }
                    if let Some(Some(name)) = names.get(patient) {
                        summary = format!("{name} – {motive}");
                    }
                }
            }
            let entry = AgendaEntry {
                id: a.row.id.to_string(),
                start: a.row.start,
                end: a.row.end,
                summary,
                location: location.clone(),
                sequence: u32::try_from(changed.as_second()).unwrap_or(u32::MAX),
                cancelled: a.row.status == ReservationStatus::Cancelled,
            };
            events.push(agenda_event(&site, &entry, now));
        }
        // The names shown, in their patients' access logs: read by the practice through the
        // URL it gave out.
        let reads: Vec<(AccountId, &str)> = names
            .iter()
            .filter(|(_, name)| name.is_some())
            .map(|(p, _)| (p.clone(), "agenda.feed"))
            .collect();
        if !reads.is_empty() {
            self.audit_as(owner.id.as_str(), &reads).await?;
        }
        let title = if place_name.is_empty() {
            practitioner.name.clone()
        } else {
            format!("{} – {place_name}", practitioner.name)
        };
        Ok(Some(ics::calendar(&events, Some(&title))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_with_or_without_extension() {
        let t = "ab".repeat(32);
        assert_eq!(bare_token(&format!("{t}.ics")), t);
        assert_eq!(bare_token(&t), t);
        assert!(!is_token(bare_token("x.ics")));
    }
}
