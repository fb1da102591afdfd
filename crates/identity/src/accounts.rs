//! Accounts, passwords (Argon2id), bearer sessions (random tokens stored hashed), identity
//! sealed under each account's own data key, and erasure.

use super::{Accounts, AppError, AppResult, Caller};
use crate::session_cache::CachedSession;
use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::Argon2;
use base64::Engine;
use careslot_core::protection::subject_key_name;
use careslot_domain::{AccountId, DomainError};
use careslot_messages::Lang;
use careslot_store::{AccountRecord, ConflictKind, NewAccount, NewSession, Role, StoreError};
use jiff::Timestamp;
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::net::IpAddr;
use std::sync::OnceLock;

use crate::front_door::{check_password, Door, MAX_PASSWORD_BYTES};
use crate::verification::Proof;

/// Sessions record their use at most this often (one write a minute per active session).
const TOUCH_EVERY: jiff::SignedDuration = jiff::SignedDuration::from_secs(60);

/// Practice accounts' sessions end after an idle timeout (`IdentityConfig`).
fn is_practice(role: Role) -> bool {
    matches!(role, Role::Practitioner | Role::Assistant | Role::Operator)
}

/// A successful password check: the session's token and whose it is.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub token: String,
    pub identity: Identity,
    /// The account has two-factor authentication: the token waits for a code.
    pub mfa_pending: bool,
}

/// Longest device description kept for a session.
const DEVICE_CHARS: usize = 160;

/// A User-Agent cut to a readable length, control characters dropped.
fn short_device(user_agent: &str) -> String {
    user_agent
        .chars()
        .filter(|c| !c.is_control())
        .take(DEVICE_CHARS)
        .collect()
}

/// Identity and contact of an account, decrypted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub id: AccountId,
    pub role: Role,
    pub email: String,
    pub name: String,
    pub phone: Option<String>,
    pub birth_date: Option<String>,
}

pub struct NewIdentity<'a> {
    pub email: &'a str,
    pub password: &'a str,
    pub name: &'a str,
    pub role: Role,
    pub phone: Option<&'a str>,
    pub birth_date: Option<&'a str>,
}

pub fn parse_email(raw: &str) -> Result<String, DomainError> {
    let email = raw.trim().to_lowercase();
    let bad = || DomainError::new("email", "must be a valid email address");
    if email.len() > 254 || email.chars().any(char::is_whitespace) {
        return Err(bad());
    }
    let (local, domain) = email.split_once('@').ok_or_else(bad)?;
    if local.is_empty()
        || domain.contains('@')
        || !domain.contains('.')
        || domain.starts_with('.')
        || domain.ends_with('.')
    {
        return Err(bad());
    }
    Ok(email)
}

pub fn parse_name(field: &'static str, raw: &str) -> Result<String, DomainError> {
    let name = raw.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(DomainError::new(field, "must be 1 to 200 characters"));
    }
    Ok(name.to_owned())
}

pub fn parse_phone(raw: &str) -> Result<String, DomainError> {
    let phone: String = raw
        .chars()
        .filter(|c| !matches!(c, ' ' | '.' | '-' | '(' | ')'))
        .collect();
    let digits = phone.strip_prefix('+').unwrap_or(&phone);
    if digits.len() < 6 || digits.len() > 15 || !digits.chars().all(|c| c.is_ascii_digit()) {
        return Err(DomainError::new(
            "phone",
            "must be a phone number, e.g. +33 6 12 34 56 78",
        ));
    }
    Ok(phone)
}

pub fn parse_birth_date(raw: &str) -> Result<String, DomainError> {
    let d = careslot_core::time::parse_date("birth_date", raw)?;
    if d > Timestamp::now().to_zoned(jiff::tz::TimeZone::UTC).date() || d.year() < 1900 {
        return Err(DomainError::new(
            "birth_date",
            "must be a past date after 1900",
        ));
    }
    Ok(d.to_string())
}

pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn argon2_hash(password: &str) -> AppResult<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|_| AppError::Store(StoreError::Internal("password hashing failed".into())))
}

fn argon2_verify(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

/// A real Argon2id hash of nothing anyone knows, verified when the email is unknown so that
/// a failed login takes the same time whether or not the account exists.
fn decoy_hash() -> String {
    static DECOY: OnceLock<String> = OnceLock::new();
    DECOY
        .get_or_init(|| {
            let salt = SaltString::generate(&mut OsRng);
            let mut secret = [0u8; 16];
            rand::thread_rng().fill_bytes(&mut secret);
            Argon2::default()
                .hash_password(&secret, &salt)
                .map(|h| h.to_string())
                .unwrap_or_default()
        })
        .clone()
}

impl Accounts {
    /// An Argon2id hash of `password`, computed in the bounded hashing pool (`Busy` when it
    /// is saturated).
    pub async fn hash_password(&self, password: String) -> AppResult<String> {
        self.hashing.run(move || argon2_hash(&password)).await?
    }

    pub(crate) async fn verify_password(&self, password: String, hash: String) -> AppResult<bool> {
        self.hashing
            .run(move || argon2_verify(&password, &hash))
            .await
    }

    /// Signs up from `client` with messages in French; see [`Accounts::register_in`].
    pub async fn register(&self, input: NewIdentity<'_>, client: IpAddr) -> AppResult<Identity> {
        self.register_in(input, Lang::Fr, client).await
    }

    /// Signs up from `client`, the account's messages in `lang`: the account, its settings,
    /// an email verification link and its mail are written together. Refused sign-ups
    /// (invalid field, weak password, address taken) count against the address and the
    /// email, checked before any hashing. A taken address still answers `EmailTaken` (the
    /// API's 409) and its owner gets an "you already have an account" mail.
    pub async fn register_in(
        &self,
        input: NewIdentity<'_>,
        lang: Lang,
        client: IpAddr,
    ) -> AppResult<Identity> {
        let (account, address) = self.throttle_keys(Door::SignUp, Some(input.email), client);
        self.check_throttle(account.as_deref(), &address).await?;
        let raw_email = input.email;
        let out = self.register_unthrottled(input, lang, Proof::Link).await;
        if let Err(AppError::Invalid(_) | AppError::Store(StoreError::Conflict(_))) = &out {
            self.count_failures(account.as_deref(), &address).await?;
        }
        if let (Err(AppError::Store(StoreError::Conflict(ConflictKind::EmailTaken))), Ok(email)) =
            (&out, parse_email(raw_email))
        {
            self.tell_account_exists(&email).await?;
        }
        out
    }

    /// Creates the account (no throttling here), its address to be proven by `proof`.
    pub(crate) async fn register_unthrottled(
        &self,
        input: NewIdentity<'_>,
        lang: Lang,
        proof: Proof,
    ) -> AppResult<Identity> {
        let email = parse_email(input.email)?;
        let name = parse_name("name", input.name)?;
        let phone = input.phone.map(parse_phone).transpose()?;
        let birth_date = input.birth_date.map(parse_birth_date).transpose()?;
        check_password(input.password, input.role, &email, &name)?;
        let password_hash = self.hash_password(input.password.to_owned()).await?;
        let (account, identity) = self
            .seal_identity(input.role, email, name, phone, birth_date, password_hash)
            .await?;
        let out = self
            .store_new_account(&account, &identity, lang, proof)
            .await;
        if out.is_err() {
            // The key guards nothing: do not leave it behind.
            let _ = self.protect.destroy(&subject_key_name(&identity.id)).await;
        }
        out.map(|()| identity)
    }

    /// Creates an account from already parsed values and an Argon2id hash (the importer and
    /// the demo reuse one hash for many accounts).
    pub async fn create_identity(
        &self,
        role: Role,
        email: String,
        name: String,
        phone: Option<String>,
        birth_date: Option<String>,
        password_hash: String,
    ) -> AppResult<Identity> {
        let (account, identity) = self
            .seal_identity(role, email, name, phone, birth_date, password_hash)
            .await?;
        if let Err(e) = self.store.create_account(&account).await {
            // The key guards nothing: do not leave it behind.
            let _ = self.protect.destroy(&subject_key_name(&identity.id)).await;
            return Err(e.into());
        }
        Ok(identity)
    }

    /// A new account ready to store: a new data key of its own (named after the account in
    /// the key service) and the identity sealed under it. For callers that store the account
    /// in a transaction of their own (the importer); if they cannot store it, they destroy
    /// the key `subject_key_name(&identity.id)`.
    pub async fn seal_identity(
        &self,
        role: Role,
        email: String,
        name: String,
        phone: Option<String>,
        birth_date: Option<String>,
        password_hash: String,
    ) -> AppResult<(NewAccount, Identity)> {
        let id = AccountId::new();
        let key_name = subject_key_name(&id);
        let (key, wrapped_key) = self.protect.new_data_key(&key_name).await?;
        let p = &self.protect;
        let seal = |col: &str, v: &str| p.seal(&key, v.as_bytes(), "accounts", col, id.as_str());
        let record = AccountRecord {
            role,
            created_at: Timestamp::now(),
            wrapped_key,
            email_ct: seal("email", &email),
            name_ct: seal("name", &name),
            phone_ct: phone.as_deref().map(|v| seal("phone", v)),
            birth_date_ct: birth_date.as_deref().map(|v| seal("birth_date", v)),
            managed_by: None,
            id: id.clone(),
        };
        let account = NewAccount {
            email_bidx: p.email_index(&email),
            email_uniq: p.email_uniq(&email),
            record,
            password_hash,
        };
        Ok((
            account,
            Identity {
                id,
                role,
                email,
                name,
                phone,
                birth_date,
            },
        ))
    }

    /// The name of an account, `None` once it was erased (account or key gone); the caller
    /// records the access in the audit log.
    pub async fn name_of(&self, account: &AccountId) -> AppResult<Option<String>> {
        let Some(r) = self.store.account(account).await? else {
            return Ok(None);
        };
        match self.open_identity(&r).await {
            Ok(identity) => Ok(Some(identity.name)),
            Err(AppError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Decrypts only an account's name and phone, for pages that show nothing else of
    /// many patients (the desk's grid): half the decryptions of [`Self::open_identity`].
    /// The caller records the access in the audit log.
    pub async fn open_name_and_phone(
        &self,
        r: &AccountRecord,
    ) -> AppResult<(String, Option<String>)> {
        let key = self
            .protect
            .data_key(&subject_key_name(&r.id), &r.wrapped_key)
            .await?;
        let p = &self.protect;
        let open = |col: &str, ct: &[u8]| p.open_string(&key, ct, "accounts", col, r.id.as_str());
        Ok((
            open("name", &r.name_ct)?,
            r.phone_ct
                .as_deref()
                .map(|c| open("phone", c))
                .transpose()?,
        ))
    }

    /// Decrypts an account's identity (the caller records the access in the audit log).
    pub async fn open_identity(&self, r: &AccountRecord) -> AppResult<Identity> {
        let key = self
            .protect
            .data_key(&subject_key_name(&r.id), &r.wrapped_key)
            .await?;
        let p = &self.protect;
        let open = |col: &str, ct: &[u8]| p.open_string(&key, ct, "accounts", col, r.id.as_str());
        Ok(Identity {
            id: r.id.clone(),
            role: r.role,
            email: open("email", &r.email_ct)?,
            name: open("name", &r.name_ct)?,
            phone: r
                .phone_ct
                .as_deref()
                .map(|c| open("phone", c))
                .transpose()?,
            birth_date: r
                .birth_date_ct
                .as_deref()
                .map(|c| open("birth_date", c))
                .transpose()?,
        })
    }

    /// Signs in from `client`; returns a new bearer token. Unknown email and wrong password
    /// fail the same way (and count the same way). While the account or the address is
    /// throttled, every attempt gets `TooManyAttempts` before any password is checked.
    pub async fn login(
        &self,
        email: &str,
        password: &str,
        client: IpAddr,
    ) -> AppResult<(String, Identity)> {
        let s = self.sign_in(email, password, client, None).await?;
        Ok((s.token, s.identity))
    }

    /// Signs in from `client` on `device` (its User-Agent). For an account with two-factor
    /// authentication the session is pending (`mfa_pending`): its token serves only
    /// [`Accounts::complete_sign_in`].
    pub async fn sign_in(
        &self,
        email: &str,
        password: &str,
        client: IpAddr,
        device: Option<&str>,
    ) -> AppResult<SignedIn> {
        let (account, address) = self.throttle_keys(Door::SignIn, Some(email), client);
        let account = account.unwrap_or_default();
        self.check_throttle(Some(&account), &address).await?;
        match self.verify_login(email, password).await {
            Ok(identity) if !self.may_sign_in(&identity).await? => {
                // A disabled operator: refused like a wrong password (and counted).
                self.count_failures(Some(&account), &address).await?;
                Err(AppError::BadCredentials)
            }
            Ok(identity) => {
                self.store.throttle_reset(&account).await?;
                let mfa_pending = self.mfa_enabled(&identity.id).await?;
                let token = self
                    .open_session_on(&identity.id, mfa_pending, device)
                    .await?;
                Ok(SignedIn {
                    token,
                    identity,
                    mfa_pending,
                })
            }
            Err(AppError::BadCredentials) => {
                self.count_failures(Some(&account), &address).await?;
                Err(AppError::BadCredentials)
            }
            Err(e) => Err(e),
        }
    }

    async fn verify_login(&self, email: &str, password: &str) -> AppResult<Identity> {
        if password.len() > MAX_PASSWORD_BYTES {
            return Err(AppError::BadCredentials);
        }
        let mut found = None;
        if let Ok(email) = parse_email(email) {
            // The blind index is truncated on purpose: decrypt candidates to find the one.
            for c in self
                .store
                .account_candidates(self.protect.email_index(&email))
                .await?
            {
                match self.open_identity(&c.record).await {
                    Ok(identity) if identity.email == email => {
                        found = Some((identity, c.password_hash, c.email_pending));
                        break;
                    }
                    Ok(_) | Err(AppError::NotFound(_)) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        let hash = found
            .as_ref()
            .map(|(_, h, _)| h.clone())
            .unwrap_or_else(decoy_hash);
        let ok = self.verify_password(password.to_owned(), hash).await?;
        // A web sign-up whose address is not proven yet: its password is refused like a
        // wrong one (the hash was checked all the same), so that signing in after signing up
        // never tells whether the address was free.
        let Some((identity, _, false)) = found.filter(|_| ok) else {
            return Err(AppError::BadCredentials);
        };
        Ok(identity)
    }

    /// A new session of an account whose identity was already proven: its bearer token.
    pub async fn open_session(&self, account: &AccountId) -> AppResult<String> {
        self.open_session_on(account, false, None).await
    }

    /// A new session; `mfa_pending` when it still owes its second factor.
    pub async fn open_session_on(
        &self,
        account: &AccountId,
        mfa_pending: bool,
        device: Option<&str>,
    ) -> AppResult<String> {
        let mut raw = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut raw);
        let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw);
        let now = Timestamp::now();
        self.store
            .create_session(&NewSession {
                token_hash: hash_token(&token),
                account_id: account.clone(),
                created_at: now,
                expires_at: now
                    .checked_add(self.config.session_ttl)
                    .map_err(|_| AppError::BadRequest("session expiry out of range".into()))?,
                mfa_pending,
                device: device.map(short_device),
            })
            .await?;
        Ok(token)
    }

    pub async fn authenticate(&self, token: &str) -> AppResult<Caller> {
        if token.is_empty() || token.len() > 128 {
            return Err(AppError::Unauthenticated);
        }
        let hash = hash_token(token);
        let now = Timestamp::now();
        let cache = self.session_cache();
        if let Some(s) = cache.and_then(|c| c.get(&hash, std::time::Instant::now())) {
            if let Some(caller) = self.cached_caller(&hash, s, now).await {
                return Ok(caller);
            }
        }
        // Read from the database (and cached, when the cache is on): a revoked session
        // stops working on every node, as soon as its announcement is heard there.
        let ticket = cache.map(|c| c.ticket());
        let s = self
            .store
            .session(&hash, now)
            .await?
            .ok_or(AppError::Unauthenticated)?;
        if s.mfa_pending {
            // Password only: good for the second step and nothing else.
            return Err(AppError::Unauthenticated);
        }
        let idle = now.duration_since(s.last_used_at);
        if is_practice(s.account.role) && idle > self.identity.practice_idle_timeout {
            self.store.delete_session(&hash).await?;
            return Err(AppError::Unauthenticated);
        }
        let mut last_used_at = s.last_used_at;
        if idle >= TOUCH_EVERY && self.touch(&hash, now).await {
            last_used_at = now;
        }
        if let (Some(c), Some(t)) = (cache, ticket) {
            let cached = CachedSession {
                account: s.account.id.clone(),
                role: s.account.role,
                second_factor: s.second_factor_at.is_some(),
                expires_at: s.expires_at,
                last_used_at,
            };
            c.insert(t, &hash, cached, std::time::Instant::now());
        }
        Ok(Caller {
            id: s.account.id,
            role: s.account.role,
            second_factor: s.second_factor_at.is_some(),
        })
    }

    /// The caller of a cached session, when the cache alone may say yes: unexpired and not
    /// idle too long. Anything else is decided by the database (`None`).
    async fn cached_caller(&self, hash: &str, s: CachedSession, now: Timestamp) -> Option<Caller> {
        if s.expires_at <= now {
            return None;
        }
        let idle = now.duration_since(s.last_used_at);
        if is_practice(s.role) && idle > self.identity.practice_idle_timeout {
            return None;
        }
        if idle >= TOUCH_EVERY && self.touch(hash, now).await {
            if let Some(c) = self.session_cache() {
                c.touched(hash, now);
            }
        }
        Some(Caller {
            id: s.account,
            role: s.role,
            second_factor: s.second_factor,
        })
    }

    /// Records a session's use at `now`; false when it could not (the request may go on;
    /// the next one will try again).
    async fn touch(&self, hash: &str, now: Timestamp) -> bool {
        match self.store.touch_session(hash, now).await {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(error = %e, "could not record a session's use");
                false
            }
        }
    }

    /// Signs out: the session is deleted, so its token stops working on every node.
    /// An unknown or expired token is not an error (signing out twice is harmless).
    pub async fn sign_out(&self, token: &str) -> AppResult<()> {
        if token.is_empty() || token.len() > 128 {
            return Ok(());
        }
        self.store.delete_session(&hash_token(token)).await?;
        Ok(())
    }

    /// The caller's sessions (see `GET /api/v1/sessions`).
    pub async fn sessions(&self, caller: &Caller) -> AppResult<Vec<careslot_store::SessionInfo>> {
        Ok(self
            .store
            .account_sessions(&caller.id, Timestamp::now())
            .await?)
    }

    /// Revokes one of the caller's sessions by its public id (404 when it is not theirs).
    pub async fn revoke_session(&self, caller: &Caller, id: &str) -> AppResult<()> {
        if !self.store.delete_session_by_id(&caller.id, id).await? {
            return Err(AppError::NotFound("session"));
        }
        Ok(())
    }

    /// Ends every session of an account (password change or reset).
    pub async fn revoke_sessions(&self, account: &AccountId) -> AppResult<u64> {
        Ok(self.store.delete_account_sessions(account).await?)
    }

    /// The caller's own identity, decrypted (and the read audited).
    pub async fn me(&self, caller: &Caller) -> AppResult<Identity> {
        let r = self
            .store
            .account(&caller.id)
            .await?
            .ok_or(AppError::Unauthenticated)?;
        let identity = self.open_identity(&r).await?;
        self.audit(caller, &[(caller.id.clone(), "identity.read")])
            .await?;
        Ok(identity)
    }

    /// The identity's part of erasure (crypto-shredding; the whole of it is `App::erase` in
    /// the server, which first shreds what other features hold): the account's key is
    /// destroyed in the key service, so that even backups cannot be read; then the account
    /// goes and `appointments` (its own) stay in their agendas without identity.
    pub async fn erase_identity(
        &self,
        id: &AccountId,
        appointments: &[careslot_domain::ReservationId],
    ) -> AppResult<()> {
        self.protect.destroy(&subject_key_name(id)).await?;
        self.store.erase_account(id, appointments).await?;
        Ok(())
    }

    /// Only patients erase themselves; practice accounts are closed by the operator.
    pub async fn erasable(&self, id: &AccountId) -> AppResult<()> {
        let record = self
            .store
            .account(id)
            .await?
            .ok_or(AppError::NotFound("account"))?;
        if record.role != Role::Patient {
            return Err(AppError::Forbidden(
                "practitioner accounts are closed by the operator, not erased",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        assert_eq!(
            parse_email("  Alice@Example.ORG ").unwrap(),
            "alice@example.org"
        );
        for bad in [
            "",
            "alice",
            "@x.org",
            "a@b",
            "a b@c.org",
            "a@@c.org",
            "a@.org",
        ] {
            assert!(parse_email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn phones_and_birth_dates() {
        assert_eq!(parse_phone("+33 6 12 34 56 78").unwrap(), "+33612345678");
        assert!(parse_phone("call me").is_err());
        assert!(parse_birth_date("1987-06-05").is_ok());
        assert!(parse_birth_date("2999-01-01").is_err());
        assert!(parse_birth_date("1987-02-30").is_err());
    }
}
