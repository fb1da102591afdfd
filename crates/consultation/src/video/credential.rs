//! The credential that opens a video room's WebSocket: short-lived, signed, and bound to
//! one appointment, one account, one side and an expiry. It travels in the
//! `Sec-WebSocket-Protocol` header (`cred.<token>`), never in a URL, so proxies and access
//! logs do not record it.
//!
//! Format: `base64url(payload) "." base64url(HMAC-SHA256(key, context || payload))` where
//! payload = version, side, expiry (unix seconds, big-endian i64), then the appointment id
//! and the account id, each prefixed by its length. Only characters allowed in an HTTP
//! token (the subprotocol grammar) appear.

use crate::Side;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use careslot_core::mac::MacKey;
use careslot_domain::AccountId;
use hmac::{Hmac, Mac};
use sha2::Sha256;

const VERSION: u8 = 1;
/// Domain separation: the same secret could sign something else one day.
const CONTEXT: &[u8] = b"careslot video room credential\0";
/// Longest token accepted (ids are short opaque strings); longer ones are refused unread.
pub const MAX_TOKEN_CHARS: usize = 600;

/// What a credential says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    pub appointment: String,
    pub account: AccountId,
    pub side: Side,
    /// Unix seconds after which the credential no longer opens the room.
    pub expires_unix: i64,
}

/// Why a credential was refused (never said to the client in more detail than "refused").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    Malformed,
    BadSignature,
    Expired,
}

/// The key that signs and checks credentials.
#[derive(Debug)]
pub struct CredentialKey(MacKey);

impl CredentialKey {
    pub fn new(secret: &[u8]) -> Self {
        Self(MacKey::new(secret))
    }

    /// A random key: credentials are then only honoured by this process.
    pub fn random() -> Self {
        Self(MacKey::random())
    }

    fn tag(&self, payload: &[u8]) -> Hmac<Sha256> {
        let mut mac = self.0.mac();
        mac.update(CONTEXT);
        mac.update(payload);
        mac
    }

    pub fn sign(&self, c: &Claims) -> String {
        let payload = encode(c);
        let tag = self.tag(&payload).finalize().into_bytes();
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(&payload),
            URL_SAFE_NO_PAD.encode(tag)
        )
    }

    /// The claims of a genuine, unexpired token.
    pub fn verify(&self, token: &str, now_unix: i64) -> Result<Claims, Refused> {
        if token.len() > MAX_TOKEN_CHARS {
            return Err(Refused::Malformed);
        }
        let (p, t) = token.split_once('.').ok_or(Refused::Malformed)?;
        let payload = URL_SAFE_NO_PAD.decode(p).map_err(|_| Refused::Malformed)?;
        let tag = URL_SAFE_NO_PAD.decode(t).map_err(|_| Refused::Malformed)?;
        // Constant-time comparison of the tag.
        self.tag(&payload)
            .verify_slice(&tag)
            .map_err(|_| Refused::BadSignature)?;
        let claims = decode(&payload).ok_or(Refused::Malformed)?;
        if now_unix >= claims.expires_unix {
            return Err(Refused::Expired);
        }
        Ok(claims)
    }
}

impl CredentialKey {
    /// A stable pseudonym of `what` (an account id) under this key: the opaque user id of
    /// TURN usernames, which TURN servers log. 16 base64url characters.
    pub fn pseudonym(&self, what: &str) -> String {
        let mut mac = self.0.mac();
        mac.update(b"careslot turn user\0");
        mac.update(what.as_bytes());
        let tag = mac.finalize().into_bytes();
        URL_SAFE_NO_PAD.encode(&tag[..12])
    }
}

fn encode(c: &Claims) -> Vec<u8> {
    let mut out = Vec::with_capacity(12 + c.appointment.len() + c.account.0.len());
    out.push(VERSION);
    out.push(match c.side {
        Side::Patient => 1,
        Side::Practice => 2,
    });
    out.extend_from_slice(&c.expires_unix.to_be_bytes());
    for s in [c.appointment.as_bytes(), c.account.0.as_bytes()] {
        // Ids are short; a longer one would not fit the length byte and is cut (it then
        // matches nothing).
        let s = &s[..s.len().min(255)];
        out.push(s.len() as u8);
        out.extend_from_slice(s);
    }
    out
}

fn decode(b: &[u8]) -> Option<Claims> {
    let (&version, rest) = b.split_first()?;
    if version != VERSION {
        return None;
    }
    let (&side, rest) = rest.split_first()?;
    let side = match side {
        1 => Side::Patient,
        2 => Side::Practice,
        _ => return None,
    };
    let (exp, rest) = rest.split_at_checked(8)?;
    let expires_unix = i64::from_be_bytes(exp.try_into().ok()?);
    let (appointment, rest) = take_str(rest)?;
    let (account, rest) = take_str(rest)?;
    if !rest.is_empty() {
        return None;
    }
    Some(Claims {
        appointment,
        account: AccountId(account),
        side,
        expires_unix,
    })
}

fn take_str(b: &[u8]) -> Option<(String, &[u8])> {
    let (&len, rest) = b.split_first()?;
    let (s, rest) = rest.split_at_checked(usize::from(len))?;
    Some((String::from_utf8(s.to_vec()).ok()?, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims() -> Claims {
        Claims {
            appointment: "appt-1".into(),
            account: AccountId("acct-9".into()),
            side: Side::Patient,
            expires_unix: 2_000,
        }
    }

    #[test]
    fn round_trips_and_is_a_subprotocol_token() {
        let key = CredentialKey::new(b"k");
        let t = key.sign(&claims());
        assert!(t
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.'));
        assert_eq!(key.verify(&t, 1_999), Ok(claims()));
    }

    #[test]
    fn refuses_expired_forged_and_garbled() {
        let key = CredentialKey::new(b"k");
        let t = key.sign(&claims());
        assert_eq!(key.verify(&t, 2_000), Err(Refused::Expired));
        assert_eq!(
            CredentialKey::new(b"other").verify(&t, 0),
            Err(Refused::BadSignature)
        );
        // Another payload under the original tag.
        let mut forged = claims();
        forged.side = Side::Practice;
        let forged_payload = key.sign(&forged);
        let tampered = format!(
            "{}.{}",
            forged_payload.split('.').next().unwrap_or(""),
            t.split('.').nth(1).unwrap_or("")
        );
        assert_eq!(key.verify(&tampered, 0), Err(Refused::BadSignature));
        assert_eq!(key.verify("nodot", 0), Err(Refused::Malformed));
        assert_eq!(key.verify("a.b.c", 0), Err(Refused::Malformed));
        assert_eq!(
            key.verify(&"x".repeat(MAX_TOKEN_CHARS + 1), 0),
            Err(Refused::Malformed)
        );
    }
}
