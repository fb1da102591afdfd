//! Two-factor authentication: TOTP (RFC 6238: HOTP of RFC 4226 over 30-second steps,
//! HMAC-SHA1, 6 digits, what every authenticator app computes) and single-use recovery codes.
//!
//! - Enrolment: a random 160-bit secret, sealed under the account's own data key (like the
//!   rest of its identity), shown once as base32 and as an `otpauth://` URI (for a QR code);
//!   it counts only once a first code confirms it. Confirming gives ten recovery codes, shown
//!   once and stored as keyed hashes.
//! - Sign-in: for an enrolled account the password opens a *pending* session, which
//!   authenticates nothing but the second step; a TOTP code (each time step accepted once) or
//!   an unused recovery code completes it.
//! - Practitioners and assistants read patient data only from a session that gave a second
//!   factor ([`careslot_core::Caller::may_read_patient_data`]); for patients it is optional.
//! - Wrong codes are throttled per account and per address like failed sign-ins.

use crate::front_door::Door;
use crate::{Accounts, AppError, AppResult, Caller};
use careslot_core::protection::subject_key_name;
use careslot_domain::AccountId;
use careslot_store::AccountRecord;
use hmac::{Hmac, Mac};
use jiff::{SignedDuration, Timestamp};
use rand::RngCore;
use std::net::IpAddr;

/// Seconds per TOTP time step (RFC 6238's default, what authenticator apps use).
pub const STEP_SECONDS: i64 = 30;
/// Digits of a code.
pub const DIGITS: u32 = 6;
/// Bytes of a new secret (160 bits, RFC 4226's recommendation for HMAC-SHA1).
const SECRET_BYTES: usize = 20;
/// Codes of the step just before and just after are accepted too (clocks drift).
const DRIFT_STEPS: i64 = 1;
/// Recovery codes given at enrolment (and when they are renewed).
pub const RECOVERY_CODES: usize = 10;
/// Characters of a recovery code (base32: 50 bits each), shown as two groups of five.
const RECOVERY_CHARS: usize = 10;
/// The issuer shown by authenticator apps.
const ISSUER: &str = "careslot";

/// HOTP (RFC 4226 §5.3): HMAC-SHA1 of the counter, dynamic truncation, `digits` digits.
pub fn hotp(secret: &[u8], counter: u64, digits: u32) -> u32 {
    // HMAC accepts keys of any length, so this never fails.
    let Ok(mut mac) = Hmac::<sha1::Sha1>::new_from_slice(secret) else {
        return 0;
    };
    mac.update(&counter.to_be_bytes());
    let h = mac.finalize().into_bytes();
    let offset = usize::from(h[19] & 0x0f);
    let binary = ((u32::from(h[offset]) & 0x7f) << 24)
        | (u32::from(h[offset + 1]) << 16)
        | (u32::from(h[offset + 2]) << 8)
        | u32::from(h[offset + 3]);
    binary % 10u32.pow(digits)
}

/// The RFC 6238 time step of a Unix time.
pub fn step_of(unix_seconds: i64) -> i64 {
    unix_seconds.div_euclid(STEP_SECONDS)
}

/// The 6-digit TOTP code of `secret` at a Unix time, zero-padded.
pub fn code_at(secret: &[u8], unix_seconds: i64) -> String {
    let step = u64::try_from(step_of(unix_seconds)).unwrap_or(0);
    format!(
        "{:0width$}",
        hotp(secret, step, DIGITS),
        width = DIGITS as usize
    )
}

/// Base32 (RFC 4648, no padding), as authenticator apps take secrets.
pub fn secret_base32(secret: &[u8]) -> String {
    data_encoding::BASE32_NOPAD.encode(secret)
}

/// The secret back from its base32 form (None when it is not base32).
pub fn secret_from_base32(encoded: &str) -> Option<Vec<u8>> {
    data_encoding::BASE32_NOPAD
        .decode(encoded.trim().trim_end_matches('=').as_bytes())
        .ok()
}

/// `otpauth://totp/careslot:{label}?secret=…&issuer=careslot&algorithm=SHA1&digits=6&period=30`
/// (the Key Uri Format authenticator apps scan from a QR code).
pub fn otpauth_uri(secret: &[u8], label: &str) -> String {
    let enc = |s: &str| -> String {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    char::from(b).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect()
    };
    format!(
        "otpauth://totp/{ISSUER}:{}?secret={}&issuer={ISSUER}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECONDS}",
        enc(label),
        secret_base32(secret)
    )
}

/// A recovery code as typed: spaces, dashes and case do not matter.
fn normalize_recovery(code: &str) -> String {
    code.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

fn new_recovery_code() -> String {
    const ALPHABET: &[u8; 32] = b"abcdefghijkmnpqrstuvwxyz23456789";
    let mut raw = [0u8; RECOVERY_CHARS];
    rand::thread_rng().fill_bytes(&mut raw);
    let chars: String = raw
        .iter()
        .map(|b| char::from(ALPHABET[usize::from(b % 32)]))
        .collect();
    format!("{}-{}", &chars[..5], &chars[5..])
}

/// Whether a typed code looks like a TOTP code (digits only) rather than a recovery code.
fn is_totp_code(code: &str) -> bool {
    let digits: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    digits.len() == DIGITS as usize && digits.chars().all(|c| c.is_ascii_digit())
}

/// A started enrolment: what the authenticator app needs, shown once.
#[derive(Debug, Clone)]
pub struct Enrolment {
    /// The secret in base32, for typing into an app.
    pub secret: String,
    /// The `otpauth://` URI, for a QR code.
    pub uri: String,
}

/// Where an account stands with two-factor authentication.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MfaStatus {
    pub enabled: bool,
    /// An enrolment waits for its first code.
    pub pending: bool,
    pub recovery_left: u32,
    /// The account's role requires it before reading patient data.
    pub required: bool,
}

impl Accounts {
    async fn record_of(&self, id: &AccountId) -> AppResult<AccountRecord> {
        self.store
            .account(id)
            .await?
            .ok_or(AppError::Unauthenticated)
    }

    fn recovery_hash(&self, account: &AccountId, code: &str) -> String {
        let material = format!("{}:{}", account.as_str(), normalize_recovery(code));
        self.protect.keyed_hash("mfa.recovery", material.as_bytes())
    }

    /// Whether the account has a confirmed TOTP enrolment.
    pub async fn mfa_enabled(&self, id: &AccountId) -> AppResult<bool> {
        Ok(self
            .store
            .mfa(id)
            .await?
            .is_some_and(|m| m.confirmed_at.is_some()))
    }

    pub async fn mfa_status(&self, caller: &Caller) -> AppResult<MfaStatus> {
        let m = self.store.mfa(&caller.id).await?;
        Ok(MfaStatus {
            enabled: m.as_ref().is_some_and(|m| m.confirmed_at.is_some()),
            pending: m.as_ref().is_some_and(|m| m.confirmed_at.is_none()),
            recovery_left: m
                .as_ref()
                .filter(|m| m.confirmed_at.is_some())
                .map_or(0, |m| m.recovery_left),
            required: matches!(
                caller.role,
                careslot_store::Role::Practitioner
                    | careslot_store::Role::Assistant
                    | careslot_store::Role::Operator
            ),
        })
    }

    /// Starts an enrolment (or restarts a pending one with a new secret). 409 when one is
    /// already confirmed (remove it first).
    pub async fn mfa_enrol(&self, caller: &Caller) -> AppResult<Enrolment> {
        let record = self.record_of(&caller.id).await?;
        let identity = self.open_identity(&record).await?;
        let mut secret = [0u8; SECRET_BYTES];
        rand::thread_rng().fill_bytes(&mut secret);
        let key = self
            .protect
            .data_key(&subject_key_name(&record.id), &record.wrapped_key)
            .await?;
        let sealed = self
            .protect
            .seal(&key, &secret, "mfa_totp", "secret", record.id.as_str());
        if !self
            .store
            .mfa_begin(&record.id, &sealed, Timestamp::now())
            .await?
        {
            return Err(AppError::Conflict(
                "mfa-enabled",
                "two-factor authentication is already set up; remove it first to start again"
                    .into(),
            ));
        }
        Ok(Enrolment {
            secret: secret_base32(&secret),
            uri: otpauth_uri(&secret, &identity.email),
        })
    }

    /// The account's secret, unsealed (None without an enrolment).
    async fn mfa_secret(&self, record: &AccountRecord) -> AppResult<Option<(Vec<u8>, bool)>> {
        let Some(m) = self.store.mfa(&record.id).await? else {
            return Ok(None);
        };
        let key = self
            .protect
            .data_key(&subject_key_name(&record.id), &record.wrapped_key)
            .await?;
        let secret =
            self.protect
                .open(&key, &m.secret_ct, "mfa_totp", "secret", record.id.as_str())?;
        Ok(Some((secret, m.confirmed_at.is_some())))
    }

    /// The time step whose code `code` is, within the drift allowed around now.
    fn matching_step(secret: &[u8], code: &str) -> Option<i64> {
        if !is_totp_code(code) {
            return None;
        }
        let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
        let now = step_of(Timestamp::now().as_second());
        // Newest first: with several matches (impossible in practice) the latest step wins.
        (now - DRIFT_STEPS..=now + DRIFT_STEPS).rev().find(|&step| {
            let Ok(counter) = u64::try_from(step) else {
                return false;
            };
            let expected = format!(
                "{:0width$}",
                hotp(secret, counter, DIGITS),
                width = DIGITS as usize
            );
            bool::from(subtle::ConstantTimeEq::ct_eq(
                expected.as_bytes(),
                code.as_bytes(),
            ))
        })
    }

    fn mfa_throttle_keys(&self, account: &AccountId, client: IpAddr) -> (String, String) {
        let (_, address) = self.throttle_keys(Door::SecondFactor, None, client);
        let h = self
            .protect
            .keyed_hash("throttle.mfa", account.as_str().as_bytes());
        (format!("mfa:account:{h}"), address)
    }

    /// Runs a code check behind the second factor's throttle: refused while blocked, each
    /// failure counted on the account and the address, a success forgets the account's.
    async fn throttled_code<F>(
        &self,
        account: &AccountId,
        client: IpAddr,
        check: F,
    ) -> AppResult<()>
    where
        F: std::future::Future<Output = AppResult<bool>>,
    {
        let (acc, address) = self.mfa_throttle_keys(account, client);
        self.check_throttle(Some(&acc), &address).await?;
        if check.await? {
            self.store.throttle_reset(&acc).await?;
            Ok(())
        } else {
            self.count_failures(Some(&acc), &address).await?;
            Err(AppError::BadCode)
        }
    }

    /// Confirms a pending enrolment with a first code; returns the recovery codes (shown
    /// once). The session that confirms (`token`) counts as having given a second factor.
    pub async fn mfa_confirm(
        &self,
        caller: &Caller,
        token: &str,
        code: &str,
        client: IpAddr,
    ) -> AppResult<Vec<String>> {
        let record = self.record_of(&caller.id).await?;
        let Some((secret, false)) = self.mfa_secret(&record).await? else {
            return Err(AppError::Conflict(
                "mfa-not-pending",
                "no two-factor set-up is waiting for confirmation; start one first".into(),
            ));
        };
        let codes: Vec<String> = (0..RECOVERY_CODES).map(|_| new_recovery_code()).collect();
        let hashes: Vec<String> = codes
            .iter()
            .map(|c| self.recovery_hash(&record.id, c))
            .collect();
        let now = Timestamp::now();
        self.throttled_code(&record.id, client, async {
            match Self::matching_step(&secret, code) {
                Some(step) => Ok(self
                    .store
                    .mfa_confirm(&record.id, step, &hashes, now)
                    .await?),
                None => Ok(false),
            }
        })
        .await?;
        self.store
            .prove_session(&crate::hash_token(token), now, true)
            .await?;
        Ok(codes)
    }

    /// Checks a TOTP or recovery code of a confirmed enrolment (each accepted once).
    async fn check_second_factor(
        &self,
        record: &AccountRecord,
        code: &str,
        client: IpAddr,
    ) -> AppResult<()> {
        let Some((secret, true)) = self.mfa_secret(record).await? else {
            return Err(AppError::BadCode);
        };
        let now = Timestamp::now();
        self.throttled_code(&record.id, client, async {
            if is_totp_code(code) {
                match Self::matching_step(&secret, code) {
                    Some(step) => Ok(self.store.mfa_use_step(&record.id, step).await?),
                    None => Ok(false),
                }
            } else {
                let hash = self.recovery_hash(&record.id, code);
                Ok(self.store.mfa_use_recovery(&record.id, &hash, now).await?)
            }
        })
        .await
    }

    /// The second step of a sign-in: the pending session of `token` gets a TOTP or recovery
    /// code and becomes complete. 401 `unauthenticated` for a token that is not pending,
    /// 401 `bad-code` for a wrong, expired or reused code (throttled).
    pub async fn complete_sign_in(
        &self,
        token: &str,
        code: &str,
        client: IpAddr,
    ) -> AppResult<crate::Identity> {
        if token.is_empty() || token.len() > 128 {
            return Err(AppError::Unauthenticated);
        }
        let hash = crate::hash_token(token);
        let now = Timestamp::now();
        let session = self
            .store
            .session(&hash, now)
            .await?
            .filter(|s| s.mfa_pending)
            .ok_or(AppError::Unauthenticated)?;
        // A pending session lives only a few minutes.
        if now.duration_since(session.created_at) > PENDING_LIFE {
            self.store.delete_session(&hash).await?;
            return Err(AppError::Unauthenticated);
        }
        self.check_second_factor(&session.account, code, client)
            .await?;
        self.store.prove_session(&hash, now, true).await?;
        self.open_identity(&session.account).await
    }

    /// New recovery codes (the old ones stop working), from a session that gave a second
    /// factor.
    pub async fn mfa_renew_recovery(&self, caller: &Caller) -> AppResult<Vec<String>> {
        if !caller.second_factor {
            return Err(AppError::ReauthRequired);
        }
        let codes: Vec<String> = (0..RECOVERY_CODES).map(|_| new_recovery_code()).collect();
        let hashes: Vec<String> = codes
            .iter()
            .map(|c| self.recovery_hash(&caller.id, c))
            .collect();
        if !self.store.mfa_replace_recovery(&caller.id, &hashes).await? {
            return Err(AppError::NotFound("two-factor authentication"));
        }
        Ok(codes)
    }

    /// Removes two-factor authentication (after a recent re-authentication). Practice
    /// accounts may, but then read no patient data until they set it up again.
    pub async fn mfa_remove(&self, caller: &Caller, token: &str) -> AppResult<()> {
        self.require_recent_auth(token).await?;
        if !self.store.mfa_remove(&caller.id).await? {
            return Err(AppError::NotFound("two-factor authentication"));
        }
        Ok(())
    }

    /// Re-authentication: the password again, and a code where two-factor authentication is
    /// set up. Sensitive changes then pass for [`REAUTH_WINDOW`]. Wrong passwords and codes
    /// are throttled like sign-ins.
    pub async fn reauthenticate(
        &self,
        caller: &Caller,
        token: &str,
        password: &str,
        code: Option<&str>,
        client: IpAddr,
    ) -> AppResult<()> {
        let record = self.record_of(&caller.id).await?;
        let (acc, address) = self.mfa_throttle_keys(&caller.id, client);
        self.check_throttle(Some(&acc), &address).await?;
        let hash = self
            .store
            .password_hash(&caller.id)
            .await?
            .ok_or(AppError::Unauthenticated)?;
        if password.len() > crate::front_door::MAX_PASSWORD_BYTES
            || !self.verify_password(password.to_owned(), hash).await?
        {
            self.count_failures(Some(&acc), &address).await?;
            return Err(AppError::BadCredentials);
        }
        let enrolled = self.mfa_enabled(&caller.id).await?;
        if enrolled {
            let code = code.unwrap_or("");
            self.check_second_factor(&record, code, client).await?;
        }
        // On the configured clock, which the window is read on (tests move it).
        self.store
            .prove_session(&crate::hash_token(token), self.now(), enrolled)
            .await?;
        Ok(())
    }

    /// Passes when the session of `token` signed in or re-authenticated within
    /// [`REAUTH_WINDOW`] (403 `reauthentication-required` otherwise).
    pub async fn require_recent_auth(&self, token: &str) -> AppResult<()> {
        let s = self
            .store
            .session(&crate::hash_token(token), Timestamp::now())
            .await?
            .ok_or(AppError::Unauthenticated)?;
        // The window is read on the configured clock (the system's; tests move theirs).
        if self.now().duration_since(s.reauth_at) > REAUTH_WINDOW {
            return Err(AppError::ReauthRequired);
        }
        Ok(())
    }
}

/// How long a sign-in or re-authentication allows sensitive changes (erasure, email and
/// password changes, removing two-factor authentication).
pub const REAUTH_WINDOW: SignedDuration = SignedDuration::from_mins(10);
/// How long a pending session waits for its second factor.
pub const PENDING_LIFE: SignedDuration = SignedDuration::from_mins(10);

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 Appendix B, SHA-1 rows: secret "12345678901234567890", 8 digits.
    #[test]
    fn rfc6238_test_vectors() {
        let secret = b"12345678901234567890";
        for (t, expected) in [
            (59i64, 94287082u32),
            (1111111109, 7081804),
            (1111111111, 14050471),
            (1234567890, 89005924),
            (2000000000, 69279037),
            (20000000000, 65353130),
        ] {
            let step = u64::try_from(step_of(t)).expect("step");
            assert_eq!(hotp(secret, step, 8), expected, "T = {t}");
        }
        // Six digits are the last six of the same value, zero-padded.
        assert_eq!(code_at(secret, 1111111109), "081804");
    }

    /// RFC 4226 Appendix D: HOTP values of counters 0–9.
    #[test]
    fn rfc4226_test_vectors() {
        let secret = b"12345678901234567890";
        let expected = [
            755224, 287082, 359152, 969429, 338314, 254676, 287922, 162583, 399871, 520489,
        ];
        for (counter, want) in expected.iter().enumerate() {
            assert_eq!(hotp(secret, counter as u64, 6), *want);
        }
    }

    #[test]
    fn otpauth_uri_and_recovery_codes() {
        let uri = otpauth_uri(b"12345678901234567890", "dr.x@example.org");
        assert_eq!(
            uri,
            "otpauth://totp/careslot:dr.x%40example.org?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=careslot&algorithm=SHA1&digits=6&period=30"
        );
        let c = new_recovery_code();
        assert_eq!(c.len(), 11);
        assert_eq!(
            secret_from_base32("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ").as_deref(),
            Some(&b"12345678901234567890"[..])
        );
        assert!(!is_totp_code(&c));
        assert_eq!(normalize_recovery(" AbCdE-fGhJk "), "abcdefghjk");
        assert!(is_totp_code("123 456"));
    }
}
