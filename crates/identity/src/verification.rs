//! Proving an account's contact details and changing its address (issue 14): the email link
//! sent at sign-up (and on request), the "you already have an account" mail, the email
//! change confirmed from the new address, and SMS codes for the phone number.
//!
//! Tokens and codes are stored only as hashes (SHA-256 for 256-bit link tokens; a keyed hash
//! for six-digit codes, which a bare hash would not hide), are single use and short-lived.
//! Every message is queued in the transaction of the write that causes it.

use super::{Accounts, AppError, AppResult, Caller, Identity};
use crate::accounts::{hash_token, parse_email};
use crate::front_door::{Door, MAX_PASSWORD_BYTES};
use base64::Engine;
use careslot_domain::{AccountId, DomainError};
use careslot_messages::{compose, Content, Lang, Message, Recipient};
use careslot_store::{
    AccountRecord, AccountSettings, EmailChange, EmailToken, EmailTokenPurpose, NewAccount,
    OutboxWrite, PhoneCode, PhoneCodeCheck, StoreError,
};
use jiff::{SignedDuration, Timestamp};
use rand::{Rng, RngCore};
use std::net::IpAddr;

/// How long an email link (verification, change) works.
pub const EMAIL_LINK_VALID: SignedDuration = SignedDuration::from_hours(24);
/// How long an SMS code works.
pub const PHONE_CODE_VALID: SignedDuration = SignedDuration::from_mins(10);

/// How a new account proves its address, and whether its password works before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Proof {
    /// API sign-up (the contract signs in at once): a verification link is mailed.
    Link,
    /// Web sign-up: a verification link is mailed, and the password opens no session until
    /// it is followed (the account is pending).
    PendingLink,
    /// Instant sign-up: the code mailed with the attempt proves it; pending until then.
    Code,
}

/// What a sign-up writes in the transaction that creates its account.
pub(crate) struct SignUpWrites {
    pub settings: AccountSettings,
    pub verify: Option<EmailToken>,
    pub outbox: OutboxWrite,
}

/// What following an email link did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmailConfirmed {
    /// The account's address is verified.
    Verified,
    /// The new address replaced the old one (which was told).
    Changed,
}

/// A fresh link token and its SHA-256 (the only form stored).
pub(crate) fn link_token() -> (String, String) {
    let mut raw = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut raw);
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw);
    let hash = hash_token(&token);
    (token, hash)
}

fn invalid_link() -> AppError {
    AppError::BadRequest("this link is invalid, used or expired; ask for a new one".into())
}

fn internal(e: impl std::fmt::Display) -> AppError {
    AppError::Store(StoreError::Internal(e.to_string()))
}

pub(crate) fn expiry(now: Timestamp, valid: SignedDuration) -> AppResult<Timestamp> {
    now.checked_add(valid)
        .map_err(|_| AppError::BadRequest("expiry out of range".into()))
}

/// An E.164 number (`+` and 8 to 15 digits), what SMS providers take. Spaces, dots, dashes
/// and brackets are dropped first.
pub fn parse_e164(raw: &str) -> Result<String, DomainError> {
    let phone: String = raw
        .chars()
        .filter(|c| !matches!(c, ' ' | '.' | '-' | '(' | ')'))
        .collect();
    let ok = phone.strip_prefix('+').is_some_and(|d| {
        (8..=15).contains(&d.len()) && d.chars().all(|c| c.is_ascii_digit()) && !d.starts_with('0')
    });
    if !ok {
        return Err(DomainError::new(
            "phone",
            "must be an international number (E.164), e.g. +33612345678",
        ));
    }
    Ok(phone)
}

impl Accounts {
    /// The language of an account's messages.
    pub async fn account_lang(&self, account: &AccountId) -> AppResult<Lang> {
        let settings = self.store.account_settings(account).await?;
        Ok(Lang::parse(&settings.lang).unwrap_or(Lang::Fr))
    }

    pub(crate) fn render(
        &self,
        content: &Content,
        to: Recipient,
        lang: Lang,
    ) -> AppResult<Message> {
        compose(&self.message_site(), content, to, lang, Timestamp::now()).map_err(internal)
    }

    /// Stores a sign-up: the account, its language, whether it is pending and, unless its
    /// address is proven by an instant sign-up's code, a verification link and its mail, in
    /// one write.
    pub(crate) async fn store_new_account(
        &self,
        account: &NewAccount,
        identity: &Identity,
        lang: Lang,
        proof: Proof,
    ) -> AppResult<()> {
        let w = self.sign_up_writes(account, identity, lang, proof).await?;
        self.store
            .create_account_with(account, &w.settings, w.verify.as_ref(), &w.outbox)
            .await?;
        self.wake_outbox(&w.outbox);
        Ok(())
    }

    /// What a sign-up writes with its account: the settings (language, pending) and, unless
    /// an instant sign-up's code proves the address, a verification link's token and mail.
    pub(crate) async fn sign_up_writes(
        &self,
        account: &NewAccount,
        identity: &Identity,
        lang: Lang,
        proof: Proof,
    ) -> AppResult<SignUpWrites> {
        let now = Timestamp::now();
        let settings = AccountSettings {
            lang: lang.code().to_owned(),
            email_pending: proof != Proof::Link,
            ..AccountSettings::default()
        };
        if proof == Proof::Code {
            return Ok(SignUpWrites {
                settings,
                verify: None,
                outbox: OutboxWrite::default(),
            });
        }
        let (token, token_hash) = link_token();
        let site = self.message_site();
        let link = format!("{}/email-verification?token={token}", site.public_url);
        let message = self.render(
            &Content::EmailVerification { link },
            Recipient::Email(identity.email.clone()),
            lang,
        )?;
        let outbox = OutboxWrite {
            enqueue: vec![
                self.seal_message(
                    &account.record,
                    &message,
                    format!("email-verify:{token_hash}"),
                    now,
                )
                .await?,
            ],
            ..Default::default()
        };
        let verify = EmailToken {
            token_hash,
            account_id: identity.id.clone(),
            purpose: EmailTokenPurpose::Verify,
            new_email_ct: None,
            expires_at: expiry(now, EMAIL_LINK_VALID)?,
            created_at: now,
        };
        Ok(SignUpWrites {
            settings,
            verify: Some(verify),
            outbox,
        })
    }

    /// The account holding `email`, if any (the blind index gives candidates; decrypting
    /// finds the one).
    pub(crate) async fn account_by_email(
        &self,
        email: &str,
    ) -> AppResult<Option<(AccountRecord, Identity)>> {
        for c in self
            .store
            .account_candidates(self.protect.email_index(email))
            .await?
        {
            match self.open_identity(&c.record).await {
                Ok(identity) if identity.email == email => return Ok(Some((c.record, identity))),
                Ok(_) | Err(AppError::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(None)
    }

    /// Someone signed up with an address that has an account: its owner is told, with a
    /// sign-in and a forgot-password link. One mail per attempt (sign-ups are throttled per
    /// address, so this cannot flood a mailbox).
    pub(crate) async fn tell_account_exists(&self, email: &str) -> AppResult<()> {
        let Some((record, identity)) = self.account_by_email(email).await? else {
            return Ok(());
        };
        let site = self.message_site();
        let content = Content::AccountExists {
            sign_in_link: format!("{}/signin", site.public_url),
            reset_link: format!("{}/password-reset", site.public_url),
        };
        let lang = self.account_lang(&record.id).await?;
        let message = self.render(&content, Recipient::Email(identity.email), lang)?;
        let outbox = OutboxWrite {
            enqueue: vec![
                self.seal_message(
                    &record,
                    &message,
                    format!("account-exists:{}", message.id),
                    Timestamp::now(),
                )
                .await?,
            ],
            ..Default::default()
        };
        self.store.enqueue(&outbox).await?;
        self.wake_outbox(&outbox);
        Ok(())
    }

    async fn caller_record(&self, caller: &Caller) -> AppResult<AccountRecord> {
        self.store
            .account(&caller.id)
            .await?
            .ok_or(AppError::Unauthenticated)
    }

    /// Sends a new verification link to the caller's address (the earlier links stop
    /// working). Nothing is sent when the address is already verified.
    pub async fn resend_email_verification(&self, caller: &Caller) -> AppResult<()> {
        let record = self.caller_record(caller).await?;
        let identity = self.open_identity(&record).await?;
        self.send_verification_link(&record, identity).await
    }

    /// "Send the confirmation email again" from the sign-in page, for an account that cannot
    /// sign in yet: each request counts on the email's and the client's counters (a mail may
    /// be sent each time), checked before anything else; the answer is otherwise the same
    /// for any address, with an account or without, verified or not.
    pub async fn resend_verification_from(&self, email: &str, client: IpAddr) -> AppResult<()> {
        let (account, address) = self.throttle_keys(Door::VerificationLink, Some(email), client);
        self.check_throttle(account.as_deref(), &address).await?;
        self.count_failures(account.as_deref(), &address).await?;
        let Ok(email) = parse_email(email) else {
            return Ok(());
        };
        let Some((record, identity)) = self.account_by_email(&email).await? else {
            return Ok(());
        };
        self.send_verification_link(&record, identity).await
    }

    /// A new verification link for `record`'s address (`identity`, opened) and its mail, in
    /// one write; earlier links stop working. Nothing when the address is already verified.
    async fn send_verification_link(
        &self,
        record: &AccountRecord,
        identity: Identity,
    ) -> AppResult<()> {
        let settings = self.store.account_settings(&record.id).await?;
        if settings.email_verified_at.is_some() {
            return Ok(());
        }
        let now = Timestamp::now();
        let (token, token_hash) = link_token();
        let link = format!(
            "{}/email-verification?token={token}",
            self.message_site().public_url
        );
        let lang = Lang::parse(&settings.lang).unwrap_or(Lang::Fr);
        let message = self.render(
            &Content::EmailVerification { link },
            Recipient::Email(identity.email),
            lang,
        )?;
        let outbox = OutboxWrite {
            enqueue: vec![
                self.seal_message(record, &message, format!("email-verify:{token_hash}"), now)
                    .await?,
            ],
            ..Default::default()
        };
        self.store
            .create_email_token(
                &EmailToken {
                    token_hash,
                    account_id: record.id.clone(),
                    purpose: EmailTokenPurpose::Verify,
                    new_email_ct: None,
                    expires_at: expiry(now, EMAIL_LINK_VALID)?,
                    created_at: now,
                },
                &outbox,
            )
            .await?;
        self.wake_outbox(&outbox);
        Ok(())
    }

    /// Asks to move the account to `new_email` (the current password is required): a link
    /// goes to the new address, and nothing changes until it is followed. The answer is the
    /// same whether or not another account holds the address (following the link then
    /// answers 409).
    pub async fn request_email_change(
        &self,
        caller: &Caller,
        new_email: &str,
        password: &str,
    ) -> AppResult<()> {
        let email = parse_email(new_email)?;
        self.check_current_password(caller, password).await?;
        let record = self.caller_record(caller).await?;
        let key = self
            .protect
            .data_key(
                &careslot_core::protection::subject_key_name(&record.id),
                &record.wrapped_key,
            )
            .await?;
        let now = Timestamp::now();
        let (token, token_hash) = link_token();
        let link = format!(
            "{}/email-verification?token={token}",
            self.message_site().public_url
        );
        let lang = self.account_lang(&record.id).await?;
        let message = self.render(
            &Content::EmailChange { link },
            Recipient::Email(email.clone()),
            lang,
        )?;
        let outbox = OutboxWrite {
            enqueue: vec![
                self.seal_message(&record, &message, format!("email-change:{token_hash}"), now)
                    .await?,
            ],
            ..Default::default()
        };
        // The new address waits sealed under the account's key, bound to its token.
        let new_email_ct = self.protect.seal(
            &key,
            email.as_bytes(),
            "email_tokens",
            "new_email",
            &token_hash,
        );
        self.store
            .create_email_token(
                &EmailToken {
                    token_hash,
                    account_id: record.id.clone(),
                    purpose: EmailTokenPurpose::Change,
                    new_email_ct: Some(new_email_ct),
                    expires_at: expiry(now, EMAIL_LINK_VALID)?,
                    created_at: now,
                },
                &outbox,
            )
            .await?;
        self.wake_outbox(&outbox);
        Ok(())
    }

    /// Follows an email link: verifies the address, or completes an address change (the old
    /// address gets a notice). An unknown, used or expired token is a 400; a new address
    /// taken meanwhile is a 409.
    pub async fn confirm_email_token(&self, token: &str) -> AppResult<EmailConfirmed> {
        if token.is_empty() || token.len() > 128 {
            return Err(invalid_link());
        }
        let hash = hash_token(token);
        let now = Timestamp::now();
        let found = self
            .store
            .email_token(&hash, now)
            .await?
            .ok_or_else(invalid_link)?;
        match found.purpose {
            EmailTokenPurpose::Verify => {
                self.store
                    .confirm_email(&hash, now)
                    .await?
                    .ok_or_else(invalid_link)?;
                Ok(EmailConfirmed::Verified)
            }
            EmailTokenPurpose::Change => {
                self.complete_email_change(&found, now).await?;
                Ok(EmailConfirmed::Changed)
            }
        }
    }

    async fn complete_email_change(&self, t: &EmailToken, now: Timestamp) -> AppResult<()> {
        let record = self
            .store
            .account(&t.account_id)
            .await?
            .ok_or_else(invalid_link)?;
        let key = self
            .protect
            .data_key(
                &careslot_core::protection::subject_key_name(&record.id),
                &record.wrapped_key,
            )
            .await?;
        let sealed = t.new_email_ct.as_deref().ok_or_else(invalid_link)?;
        let email =
            self.protect
                .open_string(&key, sealed, "email_tokens", "new_email", &t.token_hash)?;
        let old = self.open_identity(&record).await?;
        let change = EmailChange {
            email_ct: self.protect.seal(
                &key,
                email.as_bytes(),
                "accounts",
                "email",
                record.id.as_str(),
            ),
            email_bidx: self.protect.email_index(&email),
            email_uniq: self.protect.email_uniq(&email),
        };
        let lang = self.account_lang(&record.id).await?;
        let notice = self.render(
            &Content::EmailChanged {
                reset_link: format!("{}/password-reset", self.message_site().public_url),
            },
            Recipient::Email(old.email),
            lang,
        )?;
        let outbox = OutboxWrite {
            enqueue: vec![
                self.seal_message(
                    &record,
                    &notice,
                    format!("email-changed:{}", t.token_hash),
                    now,
                )
                .await?,
            ],
            ..Default::default()
        };
        if !self
            .store
            .change_email(&t.token_hash, &record.id, &change, now, &outbox)
            .await?
        {
            return Err(invalid_link());
        }
        self.wake_outbox(&outbox);
        Ok(())
    }

    /// Sends a six-digit code by SMS to the caller's phone (E.164, else 422). Each send
    /// counts on the account's front-door counter, so codes cannot be sent in a loop.
    pub async fn request_phone_code(&self, caller: &Caller) -> AppResult<()> {
        let (Some(throttle), _) = self.throttle_keys(
            Door::PhoneCode,
            Some(caller.id.as_str()),
            [0, 0, 0, 0].into(),
        ) else {
            return Err(internal("no throttle key"));
        };
        self.check_throttle(Some(&throttle), &throttle).await?;
        let record = self.caller_record(caller).await?;
        let identity = self.open_identity(&record).await?;
        let phone = identity
            .phone
            .as_deref()
            .ok_or_else(|| DomainError::new("phone", "add a phone number first"))
            .and_then(parse_e164)?;
        let code = format!("{:06}", rand::thread_rng().gen_range(0..1_000_000u32));
        let now = Timestamp::now();
        let lang = self.account_lang(&record.id).await?;
        let sms = self.render(
            &Content::PhoneCode {
                code: code.clone(),
                valid_minutes: 10,
            },
            Recipient::Phone(phone),
            lang,
        )?;
        let outbox = OutboxWrite {
            enqueue: vec![
                self.seal_message(&record, &sms, format!("phone-code:{}", sms.id), now)
                    .await?,
            ],
            ..Default::default()
        };
        self.store
            .create_phone_code(
                &PhoneCode {
                    account_id: record.id.clone(),
                    code_hash: self.phone_code_hash(&record.id, &code),
                    expires_at: expiry(now, PHONE_CODE_VALID)?,
                    created_at: now,
                },
                &outbox,
            )
            .await?;
        self.wake_outbox(&outbox);
        self.count_failure(&throttle, self.identity.throttle.account)
            .await
    }

    fn phone_code_hash(&self, account: &AccountId, code: &str) -> String {
        self.protect
            .keyed_hash("phone.code", format!("{account}:{code}").as_bytes())
    }

    /// Checks an SMS code: the right one verifies the phone; five wrong ones kill the code.
    /// Refusals are 422 naming `code`.
    pub async fn confirm_phone_code(&self, caller: &Caller, code: &str) -> AppResult<()> {
        let code = code.trim();
        let hash = if code.len() == 6 && code.chars().all(|c| c.is_ascii_digit()) {
            self.phone_code_hash(&caller.id, code)
        } else {
            // Counts as a wrong try like any other wrong code.
            String::new()
        };
        match self
            .store
            .check_phone_code(&caller.id, &hash, Timestamp::now())
            .await?
        {
            PhoneCodeCheck::Verified => Ok(()),
            PhoneCodeCheck::Wrong { tries_left } => Err(DomainError::new(
                "code",
                format!("wrong code; {tries_left} more tries before a new code is needed"),
            )
            .into()),
            PhoneCodeCheck::Locked | PhoneCodeCheck::Missing => Err(DomainError::new(
                "code",
                "no valid code (expired, used, or too many wrong tries): ask for a new one",
            )
            .into()),
        }
    }

    /// The caller's current password, checked in the bounded hashing pool. A wrong one is a
    /// 422 naming `current_password`.
    pub(crate) async fn check_current_password(
        &self,
        caller: &Caller,
        password: &str,
    ) -> AppResult<()> {
        let hash = self
            .store
            .password_hash(&caller.id)
            .await?
            .ok_or(AppError::Unauthenticated)?;
        if password.len() > MAX_PASSWORD_BYTES
            || !self.verify_password(password.to_owned(), hash).await?
        {
            return Err(DomainError::new("current_password", "is not the current password").into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn e164_numbers() {
        assert_eq!(parse_e164("+33 6 12 34 56 78").unwrap(), "+33612345678");
        for bad in [
            "06 12 34 56 78",
            "+0612345678",
            "+33",
            "+33 6 12 ab 56 78",
            "",
        ] {
            assert!(parse_e164(bad).is_err(), "{bad}");
        }
    }
}
