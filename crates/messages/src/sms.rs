//! SMS through a provider speaking the shape of Twilio's Messages API:
//! `POST {base}/2010-04-01/Accounts/{sid}/Messages.json`, form fields `To`, `From`, `Body`, HTTP
//! basic auth `sid:token`, and the message id in `I-Twilio-Idempotency-Token` so a retry is
//! not a second SMS. Numbers and length are checked before anything is sent.

use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;

use crate::channel::{Channel, ConfigError, SendError};
use crate::message::{Message, Recipient};

/// The provider's limit on one message body, in characters.
pub const MAX_BODY_CHARS: usize = 1600;

/// Provider settings (`--sms-url`, `--sms-account`, the token from a secret file, `--sms-from`).
#[derive(Clone, PartialEq, Eq)]
pub struct SmsConfig {
    /// `https://api.twilio.com` or a stand-in; no trailing slash needed.
    pub base_url: String,
    pub account_sid: String,
    pub auth_token: String,
    /// E.164 number or alphanumeric sender id (1–11 letters/digits, at least one letter).
    pub from: String,
    pub timeout: Duration,
}

impl std::fmt::Debug for SmsConfig {
    /// Never prints the token.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmsConfig")
            .field("base_url", &self.base_url)
            .field("account_sid", &self.account_sid)
            .field("from", &self.from)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// `+` then 8 to 15 digits, the first not 0 (ITU-T E.164).
pub fn validate_e164(number: &str) -> Result<(), String> {
    let digits = number
        .strip_prefix('+')
        .ok_or_else(|| format!("{number:?} is not an E.164 number (must start with +)"))?;
    let ok = (8..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0');
    if ok {
        Ok(())
    } else {
        Err(format!("{number:?} is not an E.164 number"))
    }
}

fn validate_sender(from: &str) -> Result<(), String> {
    if from.starts_with('+') {
        return validate_e164(from);
    }
    let ok = (1..=11).contains(&from.len())
        && from.bytes().all(|b| b.is_ascii_alphanumeric())
        && from.bytes().any(|b| b.is_ascii_alphabetic());
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{from:?} is neither an E.164 number nor an alphanumeric sender id"
        ))
    }
}

/// Characters of the GSM 03.38 basic set (one septet each); the extension set costs two.
const GSM_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?\
¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
const GSM_EXTENDED: &str = "^{}\\[~]|€\u{c}";

/// How many SMS segments the body takes: GSM-7 (160, or 153 per part) when every character
/// fits, UCS-2 (70, or 67 per part, counted in UTF-16 units) otherwise. Providers bill per
/// segment; the caller may log it.
pub fn segments(body: &str) -> usize {
    let gsm: Option<usize> = body.chars().try_fold(0usize, |n, c| {
        if GSM_BASIC.contains(c) {
            Some(n + 1)
        } else if GSM_EXTENDED.contains(c) {
            Some(n + 2)
        } else {
            None
        }
    });
    let (units, single, multi) = match gsm {
        Some(septets) => (septets, 160, 153),
        None => (body.encode_utf16().count(), 70, 67),
    };
    if units == 0 {
        0
    } else if units <= single {
        1
    } else {
        units.div_ceil(multi)
    }
}

/// Rejects an empty body or one over [`MAX_BODY_CHARS`]; returns the segment count.
pub fn check_body(body: &str) -> Result<usize, String> {
    let chars = body.chars().count();
    if body.trim().is_empty() {
        return Err("empty SMS body".into());
    }
    if chars > MAX_BODY_CHARS {
        return Err(format!(
            "SMS body of {chars} characters (at most {MAX_BODY_CHARS})"
        ));
    }
    Ok(segments(body))
}

/// Sends SMS through the provider.
pub struct SmsChannel {
    client: reqwest::Client,
    config: SmsConfig,
    endpoint: String,
}

impl SmsChannel {
    pub fn new(config: SmsConfig) -> Result<SmsChannel, ConfigError> {
        validate_sender(&config.from).map_err(|e| ConfigError(format!("SMS sender: {e}")))?;
        if config.account_sid.is_empty()
            || !config
                .account_sid
                .bytes()
                .all(|b| b.is_ascii_alphanumeric())
        {
            return Err(ConfigError("SMS account id must be alphanumeric".into()));
        }
        let base = url::Url::parse(&config.base_url)
            .map_err(|e| ConfigError(format!("SMS base URL: {e}")))?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(ConfigError("SMS base URL must be http(s)".into()));
        }
        let endpoint = format!(
            "{}/2010-04-01/Accounts/{}/Messages.json",
            config.base_url.trim_end_matches('/'),
            config.account_sid
        );
        let client = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            .build()
            .map_err(|e| ConfigError(format!("SMS HTTP client: {e}")))?;
        Ok(SmsChannel {
            client,
            config,
            endpoint,
        })
    }
}

/// The provider's error body (`{"code": 21211, "message": "…", "status": 400}`).
#[derive(Debug, Deserialize)]
struct ProviderError {
    code: Option<i64>,
    message: Option<String>,
}

/// 429 and 5xx: the provider is busy or down, retry. 401/403: our credentials are refused,
/// which an operator fixes without touching the message, so retry too. Other 4xx: the
/// provider refused this message (bad number, unsubscribed recipient…), permanent.
fn classify(status: reqwest::StatusCode, body: &str) -> SendError {
    let detail = match serde_json::from_str::<ProviderError>(body) {
        Ok(ProviderError { code, message }) => format!(
            "SMS provider {}: code {} {}",
            status.as_u16(),
            code.map(|c| c.to_string()).unwrap_or_else(|| "?".into()),
            message.unwrap_or_default()
        ),
        Err(_) => format!("SMS provider {}", status.as_u16()),
    };
    let s = status.as_u16();
    if s == 429 || status.is_server_error() || s == 401 || s == 403 || s == 408 {
        SendError::Transient(detail)
    } else {
        SendError::Permanent(detail)
    }
}

#[async_trait]
impl Channel for SmsChannel {
    fn name(&self) -> &'static str {
        "sms"
    }

    async fn send(&self, message: &Message) -> Result<(), SendError> {
        let to = match &message.recipient {
            Recipient::Phone(number) => number,
            Recipient::Email(_) => {
                return Err(SendError::Permanent(
                    "the SMS channel cannot deliver to an email address".into(),
                ))
            }
        };
        validate_e164(to).map_err(SendError::Permanent)?;
        let segments = check_body(&message.text).map_err(SendError::Permanent)?;
        tracing::debug!(id = %message.id, segments, "sending SMS");
        let response = self
            .client
            .post(&self.endpoint)
            .basic_auth(&self.config.account_sid, Some(&self.config.auth_token))
            .header("I-Twilio-Idempotency-Token", &message.id)
            .form(&[
                ("To", to.as_str()),
                ("From", self.config.from.as_str()),
                ("Body", message.text.as_str()),
            ])
            .send()
            .await
            .map_err(|e| {
                if e.is_builder() {
                    SendError::Permanent(format!("SMS request: {e}"))
                } else {
                    SendError::Transient(format!("SMS provider unreachable: {e}"))
                }
            })?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let body = response.text().await.unwrap_or_default();
        Err(classify(status, &body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn e164() {
        assert!(validate_e164("+33612345678").is_ok());
        assert!(validate_e164("+4915112345678").is_ok());
        assert!(validate_e164("0612345678").is_err());
        assert!(validate_e164("+0612345678").is_err());
        assert!(validate_e164("+33 6 12 34 56 78").is_err());
        assert!(validate_e164("+1234567").is_err());
        assert!(validate_e164("+1234567890123456").is_err());
        assert!(validate_sender("careslot").is_ok());
        assert!(validate_sender("12345").is_err());
        assert!(validate_sender("much-too-long-name").is_err());
    }

    #[test]
    fn body_and_segments() {
        assert_eq!(segments(""), 0);
        assert_eq!(segments(&"a".repeat(160)), 1);
        assert_eq!(segments(&"a".repeat(161)), 2);
        assert_eq!(segments(&"a".repeat(306)), 2);
        assert_eq!(segments(&"a".repeat(307)), 3);
        assert_eq!(segments(&"€".repeat(80)), 1);
        assert_eq!(segments(&"€".repeat(81)), 2);
        assert_eq!(segments(&"ç".repeat(70)), 1, "ç is not GSM-7 (only Ç is)");
        assert_eq!(segments(&"ç".repeat(71)), 2);
        assert_eq!(segments("rendez-vous à 14:30 ✓"), 1);
        assert!(check_body(" ").is_err());
        assert!(check_body(&"é".repeat(1600)).is_ok());
        assert!(check_body(&"é".repeat(1601)).is_err());
    }

    #[test]
    fn provider_errors() {
        let bad_to =
            r#"{"code": 21211, "message": "The 'To' number is not valid.", "status": 400}"#;
        let e = classify(reqwest::StatusCode::BAD_REQUEST, bad_to);
        assert!(e.is_permanent());
        assert!(e.reason().contains("21211"));
        assert!(classify(reqwest::StatusCode::SERVICE_UNAVAILABLE, "").is_transient());
        assert!(classify(reqwest::StatusCode::TOO_MANY_REQUESTS, "{}").is_transient());
        assert!(classify(reqwest::StatusCode::UNAUTHORIZED, "{}").is_transient());
        assert!(classify(reqwest::StatusCode::NOT_FOUND, "<html>").is_permanent());
    }
}
