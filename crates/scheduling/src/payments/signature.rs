//! Stripe's webhook signature scheme: the `Stripe-Signature` header carries
//! `t=<unix seconds>` and one or more `v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`
//! (several while a secret is being rolled); other schemes (`v0`) are ignored. A request is
//! accepted when one `v1` matches (compared in constant time) and `t` is within the
//! tolerance of now, in either direction.

use super::WebhookError;
use hmac::{Hmac, Mac};
use jiff::Timestamp;
use sha2::Sha256;

/// Stripe's own libraries default to five minutes.
pub const DEFAULT_TOLERANCE_S: i64 = 300;

/// The hex signature of `body` signed at `t` (also used by tests to sign events).
pub fn sign(secret: &[u8], t: i64, body: &[u8]) -> String {
    hex::encode(mac(secret, t, body).finalize().into_bytes())
}

fn mac(secret: &[u8], t: i64, body: &[u8]) -> Hmac<Sha256> {
    // HMAC takes keys of any length: this cannot fail.
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    m.update(t.to_string().as_bytes());
    m.update(b".");
    m.update(body);
    m
}

/// Checks a `Stripe-Signature` header against the raw body.
pub fn verify(
    header: &str,
    body: &[u8],
    secret: &[u8],
    now: Timestamp,
    tolerance_s: i64,
) -> Result<(), WebhookError> {
    let mut t: Option<i64> = None;
    let mut candidates: Vec<Vec<u8>> = Vec::new();
    for part in header.split(',') {
        let (k, v) = part.trim().split_once('=').ok_or(WebhookError::BadHeader)?;
        match k {
            "t" => t = Some(v.parse().map_err(|_| WebhookError::BadHeader)?),
            "v1" => {
                // A malformed digest cannot match; keep looking at the others.
                if let Ok(bytes) = hex::decode(v) {
                    candidates.push(bytes);
                }
            }
            _ => {}
        }
    }
    let t = t.ok_or(WebhookError::BadHeader)?;
    if candidates.is_empty() {
        return Err(WebhookError::BadHeader);
    }
    let expected = mac(secret, t, body);
    let matched = candidates
        .iter()
        .any(|c| expected.clone().verify_slice(c).is_ok());
    if !matched {
        return Err(WebhookError::Forged);
    }
    // Checked after the signature so that a forger learns nothing from the answer.
    if (now.as_second() - t).abs() > tolerance_s {
        return Err(WebhookError::Stale);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"whsec_test_secret_for_unit_tests";
    const BODY: &[u8] = br#"{"id":"evt_1","type":"payment_intent.succeeded"}"#;

    fn now() -> Timestamp {
        Timestamp::from_second(1_800_000_000).unwrap_or(Timestamp::UNIX_EPOCH)
    }

    fn header(t: i64, sig: &str) -> String {
        format!("t={t},v1={sig}")
    }

    #[test]
    fn accepts_a_valid_signature() {
        let t = now().as_second();
        let h = header(t, &sign(SECRET, t, BODY));
        assert_eq!(verify(&h, BODY, SECRET, now(), 300), Ok(()));
    }

    #[test]
    fn accepts_any_matching_v1_and_ignores_v0() {
        let t = now().as_second() - 10;
        let h = format!(
            "t={t},v0=abcd,v1={},v1={}",
            "00".repeat(32),
            sign(SECRET, t, BODY)
        );
        assert_eq!(verify(&h, BODY, SECRET, now(), 300), Ok(()));
    }

    #[test]
    fn refuses_another_secret_or_body() {
        let t = now().as_second();
        let h = header(t, &sign(b"whsec_other", t, BODY));
        assert_eq!(
            verify(&h, BODY, SECRET, now(), 300),
            Err(WebhookError::Forged)
        );
        let h = header(t, &sign(SECRET, t, BODY));
        assert_eq!(
            verify(&h, br#"{"id":"evt_2"}"#, SECRET, now(), 300),
            Err(WebhookError::Forged)
        );
    }

    #[test]
    fn refuses_a_signature_moved_to_another_timestamp() {
        let t = now().as_second();
        let h = header(t - 1, &sign(SECRET, t, BODY));
        assert_eq!(
            verify(&h, BODY, SECRET, now(), 300),
            Err(WebhookError::Forged)
        );
    }

    #[test]
    fn refuses_stale_and_future_timestamps() {
        let old = now().as_second() - 301;
        let h = header(old, &sign(SECRET, old, BODY));
        assert_eq!(
            verify(&h, BODY, SECRET, now(), 300),
            Err(WebhookError::Stale)
        );
        let future = now().as_second() + 301;
        let h = header(future, &sign(SECRET, future, BODY));
        assert_eq!(
            verify(&h, BODY, SECRET, now(), 300),
            Err(WebhookError::Stale)
        );
        let edge = now().as_second() - 300;
        let h = header(edge, &sign(SECRET, edge, BODY));
        assert_eq!(verify(&h, BODY, SECRET, now(), 300), Ok(()));
    }

    #[test]
    fn refuses_malformed_headers() {
        for h in ["", "t=abc,v1=00", "v1=00", "t=1", "garbage", "t=1,v1"] {
            assert_eq!(
                verify(h, BODY, SECRET, now(), 300),
                Err(WebhookError::BadHeader),
                "{h}"
            );
        }
    }
}
