//! The HMAC-SHA256 key behind the tokens this server signs and later checks itself (queue
//! tickets, video room credentials): one type for its random fallback and its hidden Debug.

use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use std::fmt;

#[derive(Clone)]
pub struct MacKey(Hmac<Sha256>);

impl MacKey {
    pub fn new(secret: &[u8]) -> Self {
        // HMAC takes keys of any length; new_from_slice cannot fail for it.
        match Hmac::<Sha256>::new_from_slice(secret) {
            Ok(mac) => Self(mac),
            Err(_) => Self::random(),
        }
    }

    /// A random key: what it signs is then only honoured by this process.
    pub fn random() -> Self {
        let mut secret = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut secret);
        let key = Self::new(&secret);
        secret.fill(0);
        key
    }

    /// A fresh MAC keyed with this key, ready for `update`.
    pub fn mac(&self) -> Hmac<Sha256> {
        self.0.clone()
    }
}

impl fmt::Debug for MacKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MacKey(**redacted**)")
    }
}
