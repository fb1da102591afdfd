//! Instant sign-up, verify first (issue 15 point 7): the sign-up forms of the booking pages
//! and of practitioner onboarding answer "we sent a 6-digit code to this address" whatever
//! the address, and only the code mailed there opens a session. A free address gets its
//! account (not signed in) and the code; a taken one gets the owner's "you already have an
//! account" mail, and its attempt can never succeed. Both kinds of attempt are rows of the
//! same shape, answered the same way, counted the same way by the front door.
//!
//! The page carries a random ticket; the database holds its SHA-256, the account the attempt
//! created (none for a taken address), and a keyed hash of the code bound to the ticket.

use super::{Accounts, AppError, AppResult, Identity, NewIdentity};
use crate::accounts::{hash_token, parse_email};
use crate::front_door::Door;
use crate::verification::{expiry, link_token, Proof};
use careslot_domain::{AccountId, DomainError};
use careslot_messages::{Content, Lang, Recipient};
use careslot_store::{ConflictKind, OutboxWrite, SignupCode, SignupCodeCheck, StoreError};
use jiff::{SignedDuration, Timestamp};
use rand::{Rng, RngCore};
use std::net::IpAddr;

/// How long a sign-up code works.
pub const SIGNUP_CODE_VALID: SignedDuration = SignedDuration::from_mins(15);

/// Longest ticket accepted back from a form (ours are 43 characters).
const MAX_TICKET: usize = 128;

fn refused() -> AppError {
    DomainError::new(
        "code",
        "wrong or expired code (after 5 wrong tries a new code is needed)",
    )
    .into()
}

fn six_digits() -> String {
    format!("{:06}", rand::thread_rng().gen_range(0..1_000_000u32))
}

impl Accounts {
    fn signup_code_hash(&self, ticket_hash: &str, code: &str) -> String {
        self.protect
            .keyed_hash("signup.code", format!("{ticket_hash}:{code}").as_bytes())
    }

    /// Starts an instant sign-up from `client`; returns the ticket the code page carries.
    /// Mistakes a person can fix (invalid field, weak password) are the usual 422s; a taken
    /// address is not one: it gets a ticket like any other. The front door's counters are
    /// checked before any hashing.
    pub async fn start_signup(
        &self,
        input: NewIdentity<'_>,
        lang: Lang,
        client: IpAddr,
    ) -> AppResult<String> {
        let (account, address) = self.throttle_keys(Door::SignUp, Some(input.email), client);
        self.check_throttle(account.as_deref(), &address).await?;
        let raw_email = input.email;
        let out = self.register_unthrottled(input, lang, Proof::Code).await;
        // Each attempt mails the address (a code or "you already have an account"): it counts
        // on the email's counter, so a mailbox cannot be flooded; the client's counter counts
        // only refused forms, so a shared address (a clinic's, a NAT's) is not locked out by
        // sign-ups that work. Taken and free addresses count the same way.
        if let Some(a) = account.as_deref() {
            self.count_failure(a, self.identity.throttle.account)
                .await?;
        }
        if let Err(AppError::Invalid(_)) = &out {
            self.count_failure(&address, self.identity.throttle.address)
                .await?;
        }
        let (ticket, ticket_hash) = link_token();
        let now = self.now();
        let expires_at = expiry(now, SIGNUP_CODE_VALID)?;
        match out {
            Ok(identity) => {
                let code = six_digits();
                let outbox = self.signup_code_mail(&identity.id, &code, now).await?;
                self.store
                    .create_signup_code(
                        &SignupCode {
                            code_hash: self.signup_code_hash(&ticket_hash, &code),
                            ticket_hash,
                            account: Some(identity.id),
                            expires_at,
                            created_at: now,
                        },
                        &outbox,
                    )
                    .await?;
                self.wake_outbox(&outbox);
            }
            Err(AppError::Store(StoreError::Conflict(ConflictKind::EmailTaken))) => {
                if let Ok(email) = parse_email(raw_email) {
                    self.tell_account_exists(&email).await?;
                }
                // A row like the others, so that its ticket behaves the same (tries, expiry);
                // no account and a hash of nothing: no code matches it.
                let mut nothing = [0u8; 32];
                rand::thread_rng().fill_bytes(&mut nothing);
                self.store
                    .create_signup_code(
                        &SignupCode {
                            code_hash: hex::encode(nothing),
                            ticket_hash,
                            account: None,
                            expires_at,
                            created_at: now,
                        },
                        &OutboxWrite::default(),
                    )
                    .await?;
            }
            Err(e) => return Err(e),
        }
        Ok(ticket)
    }

    /// The web sign-up page, verify first (issue 15): a free address gets its account,
    /// pending, and a verification link (its password opens no session before the link is
    /// followed); a taken one gets the owner's "you already have an account" mail. Both
    /// answer `Ok` and count the same way as [`Accounts::start_signup`]: on the email's
    /// counter always (each attempt mails the address), on the client's only when the form is
    /// refused. Mistakes a person can fix are the usual 422s.
    pub async fn sign_up_pending(
        &self,
        input: NewIdentity<'_>,
        lang: Lang,
        client: IpAddr,
    ) -> AppResult<()> {
        let (account, address) = self.throttle_keys(Door::SignUp, Some(input.email), client);
        self.check_throttle(account.as_deref(), &address).await?;
        let raw_email = input.email;
        let out = self
            .register_unthrottled(input, lang, Proof::PendingLink)
            .await;
        if let Some(a) = account.as_deref() {
            self.count_failure(a, self.identity.throttle.account)
                .await?;
        }
        if let Err(AppError::Invalid(_)) = &out {
            self.count_failure(&address, self.identity.throttle.address)
                .await?;
        }
        match out {
            Ok(_) => Ok(()),
            Err(AppError::Store(StoreError::Conflict(ConflictKind::EmailTaken))) => {
                if let Ok(email) = parse_email(raw_email) {
                    self.tell_account_exists(&email).await?;
                }
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// The code's mail to `account`'s address, in the account's language, ready to queue.
    async fn signup_code_mail(
        &self,
        account: &AccountId,
        code: &str,
        now: Timestamp,
    ) -> AppResult<OutboxWrite> {
        let record = self
            .store
            .account(account)
            .await?
            .ok_or(AppError::NotFound("account"))?;
        let identity = self.open_identity(&record).await?;
        let lang = self.account_lang(account).await?;
        let message = self.render(
            &Content::SignupCode {
                code: code.to_owned(),
                valid_minutes: 15,
            },
            Recipient::Email(identity.email),
            lang,
        )?;
        Ok(OutboxWrite {
            enqueue: vec![
                self.seal_message(
                    &record,
                    &message,
                    format!("signup-code:{}", message.id),
                    now,
                )
                .await?,
            ],
            ..Default::default()
        })
    }

    /// Sends a new code for a live attempt (the earlier code stops working, the wrong tries
    /// start again). The answer is the same for any ticket; each request counts on the
    /// client's front-door counter, so codes cannot be sent in a loop.
    pub async fn resend_signup_code(&self, ticket: &str, client: IpAddr) -> AppResult<()> {
        let (_, address) = self.throttle_keys(Door::SignUpCode, None, client);
        self.check_throttle(None, &address).await?;
        self.count_failure(&address, self.identity.throttle.address)
            .await?;
        if ticket.is_empty() || ticket.len() > MAX_TICKET {
            return Ok(());
        }
        let ticket_hash = hash_token(ticket);
        let now = self.now();
        let Some(account) = self.store.signup_code_account(&ticket_hash, now).await? else {
            return Ok(());
        };
        let code = six_digits();
        let outbox = self.signup_code_mail(&account, &code, now).await?;
        let renewed = self
            .store
            .renew_signup_code(
                &SignupCode {
                    code_hash: self.signup_code_hash(&ticket_hash, &code),
                    ticket_hash,
                    account: Some(account),
                    expires_at: expiry(now, SIGNUP_CODE_VALID)?,
                    created_at: now,
                },
                &outbox,
            )
            .await?;
        if renewed {
            self.wake_outbox(&outbox);
        }
        Ok(())
    }

    /// Checks a code typed on the code page: the right one (of an attempt that created an
    /// account) verifies the address and returns the account to sign in. Anything else is
    /// one 422 naming `code` and counts on the client's front-door counter.
    pub async fn confirm_signup_code(
        &self,
        ticket: &str,
        code: &str,
        client: IpAddr,
    ) -> AppResult<Identity> {
        let (_, address) = self.throttle_keys(Door::SignUpCode, None, client);
        self.check_throttle(None, &address).await?;
        let code = code.trim();
        let well_formed = code.len() == 6 && code.chars().all(|c| c.is_ascii_digit());
        let checked = if well_formed && !ticket.is_empty() && ticket.len() <= MAX_TICKET {
            let ticket_hash = hash_token(ticket);
            let code_hash = self.signup_code_hash(&ticket_hash, code);
            self.store
                .check_signup_code(&ticket_hash, &code_hash, self.now())
                .await?
        } else {
            SignupCodeCheck::Refused
        };
        match checked {
            SignupCodeCheck::Verified(account) => {
                let record = self.store.account(&account).await?.ok_or_else(refused)?;
                self.open_identity(&record).await
            }
            SignupCodeCheck::Refused => {
                self.count_failure(&address, self.identity.throttle.address)
                    .await?;
                Err(refused())
            }
        }
    }
}
