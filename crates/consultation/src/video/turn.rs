//! TURN credentials with the "TURN REST API" shared-secret scheme (coturn's
//! `use-auth-secret` / `static-auth-secret`): careslot and the TURN server share a secret;
//! careslot hands each participant a username `<expiry unix seconds>:<opaque user id>` and
//! the password `base64(HMAC-SHA1(secret, username))`. The TURN server recomputes the
//! password from the username and refuses it once the expiry has passed, so no per-user
//! state is shared and a leaked credential dies by itself.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha1::Sha1;

/// A time-limited TURN username and its password.
#[derive(Clone, PartialEq, Eq)]
pub struct TurnCredential {
    pub username: String,
    pub credential: String,
}

impl std::fmt::Debug for TurnCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TurnCredential")
            .field("username", &self.username)
            .field("credential", &"**redacted**")
            .finish()
    }
}

/// The credential valid until `expires_unix` (seconds) for `user`, an opaque id that must not
/// contain `:` (the TURN server logs usernames: never put a name or an email there).
/// `None` only if the HMAC refused the key, which it never does (any length is accepted).
pub fn derive(secret: &[u8], expires_unix: i64, user: &str) -> Option<TurnCredential> {
    let username = format!("{expires_unix}:{user}");
    let mut mac = Hmac::<Sha1>::new_from_slice(secret).ok()?;
    mac.update(username.as_bytes());
    let credential = STANDARD.encode(mac.finalize().into_bytes());
    Some(TurnCredential {
        username,
        credential,
    })
}

#[cfg(test)]
mod tests {
    use super::derive;

    /// Vector computed independently of this code:
    /// `echo -n '1700000000:careslot-4f2a' | openssl dgst -sha1 -hmac 'north-wind-7d1c0e5b9a' -binary | base64`
    /// and `python3 -c "import hmac,hashlib,base64; print(base64.b64encode(hmac.new(
    /// b'north-wind-7d1c0e5b9a', b'1700000000:careslot-4f2a', hashlib.sha1).digest()))"`
    /// both print `z1uKTZA28NlSTxR+CUfZPOBTogQ=`.
    #[test]
    fn matches_an_independent_computation() {
        let c = derive(b"north-wind-7d1c0e5b9a", 1_700_000_000, "careslot-4f2a").unwrap();
        assert_eq!(c.username, "1700000000:careslot-4f2a");
        assert_eq!(c.credential, "z1uKTZA28NlSTxR+CUfZPOBTogQ=");
    }

    #[test]
    fn depends_on_secret_expiry_and_user() {
        let d = |s: &[u8], e, u| derive(s, e, u).unwrap();
        let a = d(b"secret-one-0123456789", 1_700_000_000, "u1");
        assert_ne!(a, d(b"secret-two-0123456789", 1_700_000_000, "u1"));
        assert_ne!(a, d(b"secret-one-0123456789", 1_700_000_001, "u1"));
        assert_ne!(a, d(b"secret-one-0123456789", 1_700_000_000, "u2"));
        assert!(!format!("{a:?}").contains(&a.credential));
    }
}
