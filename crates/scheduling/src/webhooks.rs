//! Webhooks for practices (issue 19, point 5): a practice's own software learns of its
//! bookings, cancellations, moves and no-shows without polling.
//!
//! - A subscription (per practitioner's practice) names an URL and the events it wants; its
//!   signing secret is shown once, at creation, and kept sealed under the practitioner
//!   account's data key (the worker opens it to sign; erasing the account shreds it).
//! - An event is written by the store write that causes it, in the same transaction (it rides
//!   in the [`OutboxWrite`] of the booking, cancellation, move or no-show: see
//!   `notify::outbox_for`), and fanned out there to one delivery per matching subscription.
//!   A refused booking sends nothing.
//! - The payload carries ids and times only: never the patient's identity nor the motive.
//! - Each request is signed: `Careslot-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of
//!   "<t>.<body>" keyed with the secret>`; `Careslot-Webhook-Id` is the event's id (the same on
//!   every retry: receivers deduplicate on it), `Careslot-Event` its type.
//! - The server's webhook worker delivers with a lease, retries with exponential backoff and
//!   jitter, and parks a delivery dead after its last attempt (or at once on `410 Gone`);
//!   the deliveries are the practice's delivery log.

use crate::notify::Event;
use crate::Scheduling;
use careslot_core::availability::AgendaView;
use careslot_core::protection::subject_key_name;
use careslot_core::{AppError, AppResult, Caller};
use careslot_domain::{DomainError, ReservationId};
use careslot_store::{NewWebhookEvent, WebhookDelivery, WebhookEvent, WebhookSubscription};
use hmac::{Hmac, Mac};
use jiff::Timestamp;
use rand::RngCore;
use sha2::Sha256;

pub const SIGNATURE_HEADER: &str = "Careslot-Signature";
pub const ID_HEADER: &str = "Careslot-Webhook-Id";
pub const EVENT_HEADER: &str = "Careslot-Event";
const SECRET_TABLE: &str = "webhook_subscriptions";
const SECRET_COLUMN: &str = "secret_ct";
/// Subscriptions a practice may have.
pub const MAX_PER_PRACTICE: usize = 10;

/// Hex HMAC-SHA256 of `"{timestamp}.{body}"` keyed with the secret (its UTF-8 bytes, as
/// shown: `whsec_…`).
pub fn signature(secret: &str, timestamp: i64, body: &str) -> String {
    // HMAC takes keys of any length: new_from_slice cannot fail.
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// The `Careslot-Signature` header value.
pub fn signature_header(secret: &str, timestamp: i64, body: &str) -> String {
    format!("t={timestamp},v1={}", signature(secret, timestamp, body))
}

/// `https://…`, or `http://` to this machine only (a local integration, the tests): a
/// practice's events never travel in clear over a network.
fn check_url(url: &str) -> Result<String, DomainError> {
    let bad = |why: &str| DomainError::new("url", why.to_owned());
    let url = url.trim();
    if url.len() > 2000 || url.chars().any(char::is_control) {
        return Err(bad("must be an URL of at most 2000 characters"));
    }
    let parsed = url::Url::parse(url).map_err(|_| bad("must be an absolute URL"))?;
    let local = matches!(parsed.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    match parsed.scheme() {
        "https" => {}
        "http" if local => {}
        _ => return Err(bad("must be https (http only to localhost)")),
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(bad("must not carry credentials"));
    }
    Ok(parsed.to_string())
}

fn parse_events(events: &[String]) -> Result<Vec<WebhookEvent>, DomainError> {
    let mut out = Vec::new();
    for e in events {
        let ev = WebhookEvent::parse(e).ok_or_else(|| {
            DomainError::new(
                "events",
                format!(
                    "unknown event {e:?}: one of {}",
                    WebhookEvent::ALL.map(WebhookEvent::code).join(", ")
                ),
            )
        })?;
        if !out.contains(&ev) {
            out.push(ev);
        }
    }
    if out.is_empty() {
        return Err(DomainError::new("events", "at least one event"));
    }
    out.sort();
    Ok(out)
}

impl Scheduling {
    /// A new subscription of the caller's practice, with its secret (shown only now).
    pub async fn create_webhook(
        &self,
        caller: &Caller,
        url: &str,
        events: &[String],
    ) -> AppResult<(WebhookSubscription, String)> {
        let practitioner = self.practitioner_of(caller).await?;
        let url = check_url(url)?;
        let events = parse_events(events)?;
        if self.store.webhooks_of(&practitioner.id).await?.len() >= MAX_PER_PRACTICE {
            return Err(AppError::Conflict(
                "too-many-webhooks",
                format!("a practice has at most {MAX_PER_PRACTICE} webhooks"),
            ));
        }
        let account = self
            .store
            .account(&practitioner.account_id)
            .await?
            .ok_or(AppError::NotFound("account"))?;
        let key = self
            .protect
            .data_key(&subject_key_name(&account.id), &account.wrapped_key)
            .await
            .map_err(|_| AppError::KeyService)?;
        let mut raw = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut raw);
        let secret = format!("whsec_{}", hex::encode(raw));
        let id = uuid::Uuid::now_v7().to_string();
        let sub = WebhookSubscription {
            secret_ct: self
                .protect
                .seal(&key, secret.as_bytes(), SECRET_TABLE, SECRET_COLUMN, &id),
            id,
            practitioner_id: practitioner.id,
            account_id: account.id,
            url,
            events,
            created_at: self.now(),
        };
        self.webhook_targets.subscribing(&sub.practitioner_id);
        self.store.create_webhook(&sub).await?;
        Ok((sub, secret))
    }

    pub async fn webhooks(&self, caller: &Caller) -> AppResult<Vec<WebhookSubscription>> {
        let practitioner = self.practitioner_of(caller).await?;
        Ok(self.store.webhooks_of(&practitioner.id).await?)
    }

    /// The caller's practice's subscription `id` (NotFound for anyone else's).
    async fn own_webhook(&self, caller: &Caller, id: &str) -> AppResult<WebhookSubscription> {
        let practitioner = self.practitioner_of(caller).await?;
        self.store
            .webhook(id)
            .await?
            .filter(|s| s.practitioner_id == practitioner.id)
            .ok_or(AppError::NotFound("webhook"))
    }

    /// Deletes a subscription with its delivery log.
    pub async fn delete_webhook(&self, caller: &Caller, id: &str) -> AppResult<()> {
        let sub = self.own_webhook(caller, id).await?;
        if self
            .store
            .delete_webhook(&sub.practitioner_id, &sub.id)
            .await?
        {
            self.webhook_targets.forget();
            Ok(())
        } else {
            Err(AppError::NotFound("webhook"))
        }
    }

    /// A subscription's delivery log, newest first.
    pub async fn webhook_deliveries(
        &self,
        caller: &Caller,
        id: &str,
        limit: i64,
    ) -> AppResult<Vec<WebhookDelivery>> {
        let sub = self.own_webhook(caller, id).await?;
        Ok(self
            .store
            .webhook_deliveries(&sub.id, limit.clamp(1, 500))
            .await?)
    }

    /// The signing secret of a subscription, for the worker. `Ok(None)`: its account (and
    /// key) was erased.
    pub async fn webhook_secret(&self, sub: &WebhookSubscription) -> AppResult<Option<String>> {
        let Some(account) = self.store.account(&sub.account_id).await? else {
            return Ok(None);
        };
        let key = match self
            .protect
            .data_key(&subject_key_name(&account.id), &account.wrapped_key)
            .await
        {
            Ok(k) => k,
            Err(careslot_core::protection::ProtectError::Erased) => return Ok(None),
            Err(_) => return Err(AppError::KeyService),
        };
        let secret = self
            .protect
            .open_string(&key, &sub.secret_ct, SECRET_TABLE, SECRET_COLUMN, &sub.id)
            .map_err(|_| AppError::KeyService)?;
        Ok(Some(secret))
    }

    /// The webhook event of a change to an appointment of `view`'s practice: ids and times.
    pub(crate) fn webhook_event(
        &self,
        event: &Event,
        view: &AgendaView,
        id: &ReservationId,
        start: Timestamp,
        end: Timestamp,
    ) -> NewWebhookEvent {
        let now = self.now();
        let (kind, previous_start) = match event {
            Event::Booked => (WebhookEvent::Booked, None),
            Event::CancelledByPatient | Event::CancelledByPractice => {
                (WebhookEvent::Cancelled, None)
            }
            Event::Moved { previous_start } => (WebhookEvent::Moved, Some(*previous_start)),
            Event::NoShow => (WebhookEvent::NoShow, None),
        };
        let cancelled_by = match event {
            Event::CancelledByPatient => Some("patient"),
            Event::CancelledByPractice => Some("practice"),
            _ => None,
        };
        let event_id = uuid::Uuid::now_v7().to_string();
        let mut data = serde_json::json!({
            "appointment_id": id.as_str(),
            "agenda_id": view.agenda.id.as_str(),
            "practitioner_id": view.agenda.practitioner_id.as_str(),
            "place_id": view.agenda.place_id.as_str(),
            "start": start.to_string(),
            "end": end.to_string(),
        });
        if let Some(p) = previous_start {
            data["previous_start"] = serde_json::Value::String(p.to_string());
        }
        if let Some(by) = cancelled_by {
            data["cancelled_by"] = serde_json::Value::String(by.to_owned());
        }
        let payload = serde_json::json!({
            "id": event_id,
            "type": kind.code(),
            "created_at": Timestamp::from_second(now.as_second()).unwrap_or(now).to_string(),
            "data": data,
        });
        NewWebhookEvent {
            id: event_id,
            practitioner_id: view.agenda.practitioner_id.clone(),
            event: kind,
            payload: payload.to_string(),
            created_at: now,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert!(check_url("https://pms.example/hooks/careslot").is_ok());
        assert!(check_url("http://127.0.0.1:9000/hook").is_ok());
        assert!(check_url("http://localhost/hook").is_ok());
        assert!(check_url("http://pms.example/hook").is_err());
        assert!(check_url("ftp://pms.example/hook").is_err());
        assert!(check_url("https://user:pw@pms.example/").is_err());
        assert!(check_url("/relative").is_err());
        assert!(check_url("https://pms.example/\u{7}").is_err());
    }

    #[test]
    fn events() {
        let e = |v: &[&str]| parse_events(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(
            e(&[
                "appointment.moved",
                "appointment.booked",
                "appointment.booked"
            ])
            .unwrap(),
            vec![WebhookEvent::Booked, WebhookEvent::Moved]
        );
        assert!(e(&[]).is_err());
        assert!(e(&["appointment.created"]).is_err());
    }

    /// The signature a receiver computes by the documented recipe.
    #[test]
    fn signature_recipe() {
        let sig = signature("whsec_test", 1_733_300_000, r#"{"id":"x"}"#);
        let mut mac = Hmac::<Sha256>::new_from_slice(b"whsec_test").unwrap();
        mac.update(br#"1733300000.{"id":"x"}"#);
        assert_eq!(sig, hex::encode(mac.finalize().into_bytes()));
        assert_eq!(
            signature_header("whsec_test", 1_733_300_000, r#"{"id":"x"}"#),
            format!("t=1733300000,v1={sig}")
        );
    }
}
