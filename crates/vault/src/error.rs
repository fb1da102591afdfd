//! The one error type of the crate.
//!
//! Messages are written for operators and logs: they name keys and versions but never carry
//! key material, tokens or plaintext.

/// Why a vault operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VaultError {
    /// The key-custody service cannot be reached or answered 5xx/429. Callers fail closed
    /// (HTTP 503): without keys there is no plaintext, and no fallback either.
    #[error("key custody unavailable: {0}")]
    Unavailable(String),
    /// The named key does not exist (never created, or deleted: crypto-shredded).
    #[error("key not found")]
    NotFound,
    /// The custody service refused the credentials (bad or missing token).
    #[error("key custody denied the request")]
    Denied,
    /// Ciphertext that does not open: malformed, truncated, tampered, wrong AAD, wrong key,
    /// or sealed under a key version that has been retired.
    #[error("decryption failed")]
    Decrypt,
    /// A request the custody service (or this crate) rejects as malformed or not allowed.
    #[error("invalid request: {0}")]
    Invalid(String),
    /// A bug or an unexpected condition (storage failure, protocol mismatch).
    #[error("internal error: {0}")]
    Internal(String),
}

impl VaultError {
    /// The HTTP status an application should answer with when this error reaches its edge:
    /// 503 for an unavailable custody service (fail closed), 404 for a shredded key, 500 for
    /// everything else (a denied token, undecryptable data or a request the custody service
    /// rejects is a server-side fault from the end user's point of view).
    pub fn http_status(&self) -> u16 {
        match self {
            VaultError::Unavailable(_) => 503,
            VaultError::NotFound => 404,
            VaultError::Denied
            | VaultError::Decrypt
            | VaultError::Invalid(_)
            | VaultError::Internal(_) => 500,
        }
    }
}
