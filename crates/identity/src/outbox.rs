//! What every feature needs to queue a message (issue 14): sealing it under the recipient
//! account's data key as the account's identity is sealed, the site its links point to, and
//! the in-process wake-up of the delivery workers; and the password reset, whose message this
//! feature sends itself.

use super::{Accounts, AppError, AppResult};
use crate::accounts::{hash_token, parse_email};
use base64::Engine;
use careslot_core::protection::subject_key_name;
use careslot_messages::{compose, Content, Lang, Message, Recipient, Site};
use careslot_store::{
    AccountRecord, NewOutboxMessage, OutboxChannel, OutboxPayload, OutboxWrite, PasswordReset,
    StoreError,
};
use jiff::{SignedDuration, Timestamp};
use rand::RngCore;

/// The table and column named in a sealed payload's associated data (the row is the message
/// id).
pub const PAYLOAD_TABLE: &str = "outbox";
pub const PAYLOAD_COLUMN: &str = "payload";

/// How long a password-reset link works.
pub const RESET_VALID: SignedDuration = SignedDuration::from_mins(30);

impl Accounts {
    /// The site message links point to (`--public-url`, else the local default).
    /// Non-essential mail (reminders, alerts) links to the account page, where reminders are
    /// turned off (`List-Unsubscribe` and the body's footer).
    pub fn message_site(&self) -> Site {
        let mut site = Site::new(
            self.config
                .public_url
                .clone()
                .unwrap_or_else(|| "http://localhost:8080".to_owned()),
        );
        site.unsubscribe_url = Some(format!("{}/account", site.public_url));
        site
    }

    /// Seals a rendered message under `to`'s key, ready to queue.
    pub async fn seal_message(
        &self,
        to: &AccountRecord,
        message: &Message,
        dedupe_key: String,
        available_at: Timestamp,
    ) -> AppResult<NewOutboxMessage> {
        let key = self
            .protect
            .data_key(&subject_key_name(&to.id), &to.wrapped_key)
            .await?;
        let json = serde_json::to_vec(message)
            .map_err(|e| AppError::Store(StoreError::Internal(format!("message: {e}"))))?;
        Ok(NewOutboxMessage {
            payload: OutboxPayload::Sealed(self.protect.seal(
                &key,
                &json,
                PAYLOAD_TABLE,
                PAYLOAD_COLUMN,
                &message.id,
            )),
            id: message.id.clone(),
            // The recipient picks the channel: a phone number goes out as an SMS.
            channel: match message.recipient {
                Recipient::Phone(_) => OutboxChannel::Sms,
                Recipient::Email(_) => OutboxChannel::Email,
            },
            dedupe_key,
            account_id: to.id.clone(),
            subject_account_id: None,
            available_at,
            created_at: self.now(),
        })
    }

    /// Wakes this process's message delivery worker (after a write that may have queued a
    /// message the caller did not compose itself).
    pub fn wake_messages(&self) {
        self.outbox_wake.notify_one();
    }

    /// Wakes this process's delivery workers (after a write that queued messages).
    pub fn wake_outbox(&self, w: &OutboxWrite) {
        if !w.enqueue.is_empty() {
            self.outbox_wake.notify_one();
        }
        if !w.webhooks.is_empty() {
            self.webhook_wake.notify_one();
        }
    }

    /// Sends a reset link to the account with this address, if there is one. The caller
    /// answers the same whatever happens, so the answer reveals nothing about the address.
    pub async fn request_password_reset(&self, email: &str) -> AppResult<()> {
        let Ok(email) = parse_email(email) else {
            return Ok(());
        };
        let mut found = None;
        for c in self
            .store
            .account_candidates(self.protect.email_index(&email))
            .await?
        {
            match self.open_identity(&c.record).await {
                Ok(identity) if identity.email == email => {
                    found = Some(c.record);
                    break;
                }
                Ok(_) | Err(AppError::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        let Some(record) = found else {
            return Ok(());
        };
        let mut raw = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut raw);
        let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw);
        let token_hash = hash_token(&token);
        let now = Timestamp::now();
        let site = self.message_site();
        let link = format!("{}/password-reset?token={token}", site.public_url);
        let message = compose(
            &site,
            &Content::PasswordReset {
                link,
                valid_minutes: 30,
            },
            Recipient::Email(email),
            Lang::Fr,
            now,
        )
        .map_err(|e| AppError::Store(StoreError::Internal(e.to_string())))?;
        let outbox = OutboxWrite {
            enqueue: vec![
                self.seal_message(
                    &record,
                    &message,
                    format!("password-reset:{token_hash}"),
                    now,
                )
                .await?,
            ],
            ..Default::default()
        };
        self.store
            .create_password_reset(
                &PasswordReset {
                    token_hash,
                    account_id: record.id.clone(),
                    expires_at: now
                        .checked_add(RESET_VALID)
                        .map_err(|_| AppError::BadRequest("expiry out of range".into()))?,
                    created_at: now,
                },
                &outbox,
            )
            .await?;
        self.wake_outbox(&outbox);
        Ok(())
    }

    /// Sets a new password with a reset token: single use, within 30 minutes; every session
    /// of the account is revoked. An unknown, used or expired token is a 400.
    pub async fn confirm_password_reset(&self, token: &str, password: &str) -> AppResult<()> {
        // The token's account is not known before it is consumed: the practice accounts'
        // policy (the stricter one) applies to every reset.
        crate::front_door::check_password(password, careslot_store::Role::Practitioner, "", "")?;
        if token.is_empty() || token.len() > 128 {
            return Err(invalid_token());
        }
        let hash = self.hash_password(password.to_owned()).await?;
        self.store
            .consume_password_reset(&hash_token(token), &hash, Timestamp::now())
            .await?
            .ok_or_else(invalid_token)?;
        Ok(())
    }
}

fn invalid_token() -> AppError {
    AppError::BadRequest("this reset link is invalid, used or expired; ask for a new one".into())
}
