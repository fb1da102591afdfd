//! Assistants: a practitioner invites one with a single-use link; the assistant signs up
//! through it, proves the address with the link mailed there, and can then run that
//! practitioner's agenda (nothing else).

use super::accounts::{hash_token, parse_email, parse_name};
use super::{Accounts, AppError, AppResult, Caller, Identity};
use crate::front_door::Door;
use crate::verification::Proof;
use base64::Engine;
use careslot_core::protection::subject_key_name;
use careslot_domain::AccountId;
use careslot_messages::Lang;
use careslot_store::{ConflictKind, NewInvitation, Role, StoreError};
use jiff::Timestamp;
use rand::RngCore;
use std::net::IpAddr;

/// How long an invitation link stays valid.
const INVITATION_TTL_HOURS: i64 = 72;
/// The same, in days, as the invitation mail says it.
pub(crate) const INVITATION_TTL_DAYS: u32 = 3;

/// A fresh invitation: the token is shown once, to the practitioner, and stored only hashed.
pub struct Invitation {
    pub token: String,
    pub expires_at: Timestamp,
}

/// A new invitation token and its expiry.
pub(crate) fn new_invitation_token() -> AppResult<(String, Timestamp)> {
    let mut raw = [0u8; 24];
    rand::thread_rng().fill_bytes(&mut raw);
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw);
    let expires_at = Timestamp::now()
        .checked_add(jiff::SignedDuration::from_hours(INVITATION_TTL_HOURS))
        .map_err(|_| AppError::BadRequest("expiry out of range".into()))?;
    Ok((token, expires_at))
}

impl Accounts {
    pub async fn invite_assistant(&self, caller: &Caller) -> AppResult<Invitation> {
        let me = self.practitioner_of(caller).await?;
        let (token, expires_at) = new_invitation_token()?;
        self.store
            .create_invitation(&NewInvitation {
                token_hash: hash_token(&token),
                practitioner_id: me.id,
                created_at: Timestamp::now(),
                expires_at,
            })
            .await?;
        Ok(Invitation { token, expires_at })
    }

    /// Creates the assistant's account from an invitation (single use), verify first like
    /// every web sign-up (issue 15): the account is pending and a verification link goes to
    /// the address (its password opens no session before the link is followed). An address
    /// that has an account spends the invitation all the same and its owner gets the "you
    /// already have an account" mail; then the answer is `None`, which the page shows as it
    /// shows a new account, so the form never reveals an address. NotFound when the
    /// invitation is unknown, used or expired. Counted on the sign-up door: each accepted
    /// form (a mail each) on the email's counter, refused forms and dead links on the
    /// client's.
    pub async fn accept_invitation(
        &self,
        token: &str,
        email: &str,
        name: &str,
        password: &str,
        lang: Lang,
        client: IpAddr,
    ) -> AppResult<Option<Identity>> {
        let (account, address) = self.throttle_keys(Door::SignUp, Some(email), client);
        self.check_throttle(account.as_deref(), &address).await?;
        let out = self
            .accept_invitation_unthrottled(token, email, name, password, lang)
            .await;
        match (&out, account.as_deref()) {
            (Ok(_), Some(a)) => {
                self.count_failure(a, self.identity.throttle.account)
                    .await?
            }
            (Err(AppError::Invalid(_) | AppError::NotFound(_)), _) => {
                self.count_failure(&address, self.identity.throttle.address)
                    .await?
            }
            _ => {}
        }
        out
    }

    async fn accept_invitation_unthrottled(
        &self,
        token: &str,
        email: &str,
        name: &str,
        password: &str,
        lang: Lang,
    ) -> AppResult<Option<Identity>> {
        let email = parse_email(email)?;
        let name = parse_name("name", name)?;
        crate::front_door::check_password(password, Role::Assistant, &email, &name)?;
        if token.is_empty() || token.len() > 128 {
            return Err(AppError::NotFound("invitation"));
        }
        let password_hash = self.hash_password(password.to_owned()).await?;
        let (account, identity) = self
            .seal_identity(
                Role::Assistant,
                email.clone(),
                name,
                None,
                None,
                password_hash,
            )
            .await?;
        let token_hash = hash_token(token);
        let now = Timestamp::now();
        let out = match self
            .sign_up_writes(&account, &identity, lang, Proof::PendingLink)
            .await
        {
            Ok(w) => self
                .store
                .accept_invitation_with(
                    &token_hash,
                    &account,
                    &w.settings,
                    w.verify.as_ref(),
                    &w.outbox,
                    now,
                )
                .await
                .map(|_| w.outbox)
                .map_err(AppError::from),
            Err(e) => Err(e),
        };
        let e = match out {
            Ok(outbox) => {
                self.wake_outbox(&outbox);
                return Ok(Some(identity));
            }
            Err(e) => e,
        };
        // No account: its key guards nothing.
        let _ = self.protect.destroy(&subject_key_name(&identity.id)).await;
        match e {
            AppError::Store(StoreError::NotFound) => Err(AppError::NotFound("invitation")),
            AppError::Store(StoreError::Conflict(ConflictKind::EmailTaken)) => {
                if !self
                    .store
                    .spend_invitation(&token_hash, &identity.id, now)
                    .await?
                {
                    return Err(AppError::NotFound("invitation"));
                }
                self.tell_account_exists(&email).await?;
                Ok(None)
            }
            e => Err(e),
        }
    }

    /// The practitioner's assistants, decrypted.
    pub async fn assistants(&self, caller: &Caller) -> AppResult<Vec<Identity>> {
        let me = self.practitioner_of(caller).await?;
        let mut out = Vec::new();
        for r in self.store.assistants(&me.id).await? {
            match self.open_identity(&r).await {
                Ok(i) => out.push(i),
                Err(AppError::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    pub async fn remove_assistant(&self, caller: &Caller, id: &str) -> AppResult<()> {
        let me = self.practitioner_of(caller).await?;
        let account = AccountId(id.to_owned());
        if !self.store.remove_assistant(&me.id, &account).await? {
            return Err(AppError::NotFound("assistant"));
        }
        let _ = self.protect.destroy(&subject_key_name(&account)).await;
        Ok(())
    }
}
