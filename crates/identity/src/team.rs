//! Assistants: a practitioner invites one with a single-use link; the assistant signs up
//! through it and can then run that practitioner's agenda (nothing else).

use super::accounts::{hash_token, parse_email, parse_name};
use super::{Accounts, AppError, AppResult, Caller, Identity};
use base64::Engine;
use careslot_core::protection::subject_key_name;
use careslot_domain::AccountId;
use careslot_store::{AccountRecord, NewAccount, NewInvitation, Role};
use jiff::Timestamp;
use rand::RngCore;

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

    /// Creates the assistant's account from an invitation (single use).
    pub async fn accept_invitation(
        &self,
        token: &str,
        email: &str,
        name: &str,
        password: &str,
    ) -> AppResult<Identity> {
        let email = parse_email(email)?;
        let name = parse_name("name", name)?;
        crate::front_door::check_password(password, Role::Assistant, &email, &name)?;
        if token.is_empty() || token.len() > 128 {
            return Err(AppError::NotFound("invitation"));
        }
        let password_hash = self.hash_password(password.to_owned()).await?;
        let id = AccountId::new();
        let key_name = subject_key_name(&id);
        let (key, wrapped_key) = self.protect.new_data_key(&key_name).await?;
        let p = &self.protect;
        let seal = |col: &str, v: &str| p.seal(&key, v.as_bytes(), "accounts", col, id.as_str());
        let record = AccountRecord {
            role: Role::Assistant,
            created_at: Timestamp::now(),
            wrapped_key,
            email_ct: seal("email", &email),
            name_ct: seal("name", &name),
            phone_ct: None,
            birth_date_ct: None,
            managed_by: None,
            id: id.clone(),
        };
        let out = self
            .store
            .accept_invitation(
                &hash_token(token),
                &NewAccount {
                    email_bidx: p.email_index(&email),
                    email_uniq: p.email_uniq(&email),
                    record,
                    password_hash,
                },
                Timestamp::now(),
            )
            .await;
        if let Err(e) = out {
            let _ = self.protect.destroy(&key_name).await;
            return Err(match e {
                careslot_store::StoreError::NotFound => AppError::NotFound("invitation"),
                e => e.into(),
            });
        }
        Ok(Identity {
            id,
            role: Role::Assistant,
            email,
            name,
            phone: None,
            birth_date: None,
        })
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
