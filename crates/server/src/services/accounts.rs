//! Accounts, passwords (Argon2id) and bearer sessions (random tokens stored hashed).

use super::{App, AppError, AppResult};
use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::Argon2;
use base64::Engine;
use careslot_domain::{AccountId, DomainError};
use careslot_store::{Account, NewAccount, NewSession, Role};
use jiff::Timestamp;
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::sync::OnceLock;

pub const MIN_PASSWORD_CHARS: usize = 10;
const MAX_PASSWORD_BYTES: usize = 1024;

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

fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

async fn hash_password(password: String) -> AppResult<String> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
    })
    .await
    .map_err(|_| {
        AppError::Store(careslot_store::StoreError::Internal(
            "hashing task failed".into(),
        ))
    })?
    .map_err(|_| {
        AppError::Store(careslot_store::StoreError::Internal(
            "password hashing failed".into(),
        ))
    })
}

async fn verify_password(password: String, hash: String) -> bool {
    tokio::task::spawn_blocking(move || {
        PasswordHash::new(&hash)
            .map(|h| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &h)
                    .is_ok()
            })
            .unwrap_or(false)
    })
    .await
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

impl App {
    pub async fn register(
        &self,
        email: &str,
        password: &str,
        name: &str,
        role: Role,
    ) -> AppResult<Account> {
        let email = parse_email(email)?;
        let name = parse_name("name", name)?;
        if password.chars().count() < MIN_PASSWORD_CHARS {
            return Err(DomainError::new("password", "must be at least 10 characters").into());
        }
        if password.len() > MAX_PASSWORD_BYTES {
            return Err(DomainError::new("password", "must be at most 1024 bytes").into());
        }
        let password_hash = hash_password(password.to_owned()).await?;
        Ok(self
            .store
            .create_account(&NewAccount {
                id: AccountId::new(),
                email,
                name,
                role,
                password_hash,
                created_at: Timestamp::now(),
            })
            .await?)
    }

    /// Returns a new bearer token. Unknown email and wrong password fail the same way.
    pub async fn login(&self, email: &str, password: &str) -> AppResult<(String, Account)> {
        if password.len() > MAX_PASSWORD_BYTES {
            return Err(AppError::BadCredentials);
        }
        let found = match parse_email(email) {
            Ok(e) => self.store.account_by_email(&e).await?,
            Err(_) => None,
        };
        let hash = found
            .as_ref()
            .map(|f| f.password_hash.clone())
            .unwrap_or_else(decoy_hash);
        let ok = verify_password(password.to_owned(), hash).await;
        let Some(found) = found.filter(|_| ok) else {
            return Err(AppError::BadCredentials);
        };
        let mut raw = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut raw);
        let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw);
        let now = Timestamp::now();
        self.store
            .create_session(&NewSession {
                token_hash: hash_token(&token),
                account_id: found.account.id.clone(),
                created_at: now,
                expires_at: now
                    .checked_add(self.config.session_ttl)
                    .map_err(|_| AppError::BadRequest("session expiry out of range".into()))?,
            })
            .await?;
        Ok((token, found.account))
    }

    pub async fn authenticate(&self, token: &str) -> AppResult<Account> {
        if token.is_empty() || token.len() > 128 {
            return Err(AppError::Unauthenticated);
        }
        self.store
            .session_account(&hash_token(token), Timestamp::now())
            .await?
            .ok_or(AppError::Unauthenticated)
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
}
