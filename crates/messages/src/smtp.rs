//! Email over SMTP with lettre: plain, STARTTLS or implicit TLS, with authentication.
//!
//! URLs: `smtp://[user:pass@]host[:port]` (plain on localhost, opportunistic STARTTLS
//! elsewhere), `smtp+starttls://…` or `smtp://…?tls=starttls` (STARTTLS required, port 587 by
//! default), `smtps://…` (implicit TLS, port 465); `?tls=none` forces plain text.

use std::time::Duration;

use async_trait::async_trait;
use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::transport::smtp::PoolConfig;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use crate::channel::{Channel, ConfigError, SendError};
use crate::message::{Message, Recipient};

/// SMTP sessions kept open at most (the delivery worker sends 8 at once by default).
const POOL_SIZE: u32 = 8;
/// An idle session is closed after this long.
const POOL_IDLE: Duration = Duration::from_secs(30);

/// How the connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    /// Plain text only (local relays).
    None,
    /// STARTTLS when the server offers it, plain text otherwise.
    Opportunistic,
    /// STARTTLS or fail.
    StartTls,
    /// TLS from the first byte (`smtps`).
    Implicit,
}

/// Parsed `--smtp-url`.
#[derive(Clone, PartialEq, Eq)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    /// (user, password), percent-decoded.
    pub credentials: Option<(String, String)>,
    /// Per-command network timeout.
    pub timeout: Duration,
}

impl std::fmt::Debug for SmtpConfig {
    /// Never prints the password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("user", &self.credentials.as_ref().map(|(u, _)| u))
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl SmtpConfig {
    pub fn from_url(raw: &str) -> Result<SmtpConfig, ConfigError> {
        let url = url::Url::parse(raw).map_err(|e| ConfigError(format!("SMTP URL: {e}")))?;
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| ConfigError("SMTP URL: no host".into()))?
            .trim_matches(['[', ']'])
            .to_owned();
        let local = matches!(host.as_str(), "localhost" | "127.0.0.1" | "::1");
        let query_tls = url
            .query_pairs()
            .find(|(k, _)| k == "tls")
            .map(|(_, v)| v.to_ascii_lowercase());
        let (tls, default_port) = match (url.scheme(), query_tls.as_deref()) {
            ("smtps", None | Some("implicit") | Some("wrapper")) => (SmtpTls::Implicit, 465),
            ("smtp+starttls", None | Some("starttls") | Some("required")) => {
                (SmtpTls::StartTls, 587)
            }
            ("smtp", Some("starttls") | Some("required")) => (SmtpTls::StartTls, 587),
            ("smtp", Some("opportunistic")) => (SmtpTls::Opportunistic, 25),
            ("smtp", Some("none") | Some("plain")) => (SmtpTls::None, 25),
            ("smtp", None) if local => (SmtpTls::None, 25),
            ("smtp", None) => (SmtpTls::Opportunistic, 25),
            (scheme, tls) => {
                return Err(ConfigError(format!(
                    "SMTP URL: unsupported scheme {scheme:?} with tls={tls:?} \
                     (use smtp://, smtp+starttls:// or smtps://)"
                )))
            }
        };
        let credentials = if url.username().is_empty() {
            None
        } else {
            let user = percent_decode(url.username())?;
            let pass = percent_decode(url.password().unwrap_or(""))?;
            Some((user, pass))
        };
        Ok(SmtpConfig {
            host,
            port: url.port().unwrap_or(default_port),
            tls,
            credentials,
            timeout: Duration::from_secs(30),
        })
    }
}

fn percent_decode(s: &str) -> Result<String, ConfigError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| ConfigError("SMTP URL: bad percent-encoding".into()))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| ConfigError("SMTP URL: credentials not UTF-8".into()))
}

/// The sender (`careslot <no-reply@example.org>`) and the domain used in Message-IDs.
#[derive(Debug, Clone)]
pub struct Sender {
    pub mailbox: Mailbox,
    pub domain: String,
}

impl Sender {
    /// Parses `--mail-from`.
    pub fn parse(mail_from: &str) -> Result<Sender, ConfigError> {
        let mailbox: Mailbox = mail_from
            .parse()
            .map_err(|e| ConfigError(format!("mail from {mail_from:?}: {e}")))?;
        let domain = mailbox.email.domain().to_owned();
        Ok(Sender { mailbox, domain })
    }

    /// `<{id}@{domain}>`.
    pub fn message_id(&self, id: &str) -> String {
        format!("<{id}@{}>", self.domain)
    }
}

/// The RFC 5322 message for `message`: multipart/alternative text + HTML (inside
/// multipart/mixed when there are attachments), `Message-ID` from the message id,
/// `Content-Language`, and `List-Unsubscribe` on non-essential mail. Used by the SMTP and
/// file channels alike. Errors are permanent: the message itself is wrong.
pub fn build_email(message: &Message, sender: &Sender) -> Result<lettre::Message, SendError> {
    let to: Mailbox = match &message.recipient {
        Recipient::Email(address) => address
            .parse()
            .map_err(|e| SendError::Permanent(format!("bad email address: {e}")))?,
        Recipient::Phone(_) => {
            return Err(SendError::Permanent(
                "an email channel cannot deliver to a phone number".into(),
            ))
        }
    };
    let mut builder = lettre::Message::builder()
        .from(sender.mailbox.clone())
        .to(to)
        .subject(message.subject.clone())
        .message_id(Some(sender.message_id(&message.id)))
        .raw_header(HeaderValue::new(
            HeaderName::new_from_ascii_str("Content-Language"),
            message.lang.code().to_owned(),
        ));
    if let Some(url) = message
        .unsubscribe_url
        .as_ref()
        .filter(|_| !message.is_essential())
    {
        let url: String = url
            .chars()
            .filter(|c| !c.is_control() && *c != '>')
            .collect();
        // No `List-Unsubscribe-Post` (RFC 8058 one-click): the account page needs a signed-in
        // patient, so a client's unattended POST could not turn anything off.
        builder = builder.raw_header(HeaderValue::new(
            HeaderName::new_from_ascii_str("List-Unsubscribe"),
            format!("<{url}>"),
        ));
    }
    let text = SinglePart::plain(message.text.clone());
    let built = match (&message.html, message.attachments.is_empty()) {
        (None, true) => builder.singlepart(text),
        (Some(html), true) => builder.multipart(
            MultiPart::alternative()
                .singlepart(text)
                .singlepart(SinglePart::html(html.clone())),
        ),
        (html, false) => {
            let body = match html {
                Some(html) => MultiPart::alternative()
                    .singlepart(text)
                    .singlepart(SinglePart::html(html.clone())),
                None => MultiPart::mixed().singlepart(text),
            };
            let mut mixed = MultiPart::mixed().multipart(body);
            for a in &message.attachments {
                let content_type = ContentType::parse(&a.mime).map_err(|e| {
                    SendError::Permanent(format!("attachment {:?}: bad type: {e}", a.name))
                })?;
                mixed = mixed.singlepart(
                    lettre::message::Attachment::new(a.name.clone())
                        .body(a.bytes.clone(), content_type),
                );
            }
            builder.multipart(mixed)
        }
    };
    built.map_err(|e| SendError::Permanent(format!("cannot build the email: {e}")))
}

/// Sends email through one SMTP server (connections pooled by lettre).
pub struct SmtpChannel {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    sender: Sender,
}

impl SmtpChannel {
    /// `SmtpChannel::from_url("smtps://user:pass@mail.example:465", "careslot <no-reply@example.org>")`.
    pub fn from_url(url: &str, mail_from: &str) -> Result<SmtpChannel, ConfigError> {
        SmtpChannel::new(&SmtpConfig::from_url(url)?, mail_from)
    }

    /// Call it within a Tokio runtime: the session pool starts its idle reaper there.
    pub fn new(config: &SmtpConfig, mail_from: &str) -> Result<SmtpChannel, ConfigError> {
        let sender = Sender::parse(mail_from)?;
        let tls_params = || {
            TlsParameters::new(config.host.clone())
                .map_err(|e| ConfigError(format!("SMTP TLS: {e}")))
        };
        let tls = match config.tls {
            SmtpTls::None => Tls::None,
            SmtpTls::Opportunistic => Tls::Opportunistic(tls_params()?),
            SmtpTls::StartTls => Tls::Required(tls_params()?),
            SmtpTls::Implicit => Tls::Wrapper(tls_params()?),
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&config.host)
            .port(config.port)
            .tls(tls)
            .timeout(Some(config.timeout))
            // Sessions are kept open and reused (a new TCP + EHLO (+ TLS, AUTH) per message
            // bounded delivery at ~120 messages/s); a broken one is dropped and replaced.
            .pool_config(
                PoolConfig::new()
                    .max_size(POOL_SIZE)
                    .idle_timeout(POOL_IDLE),
            );
        if let Some((user, pass)) = &config.credentials {
            builder = builder.credentials(Credentials::new(user.clone(), pass.clone()));
        }
        Ok(SmtpChannel {
            transport: builder.build(),
            sender,
        })
    }

    pub fn sender(&self) -> &Sender {
        &self.sender
    }
}

/// 5xx replies are permanent; 4xx replies, refused connections, timeouts, TLS and protocol
/// trouble are transient (the server or the network may recover).
fn classify(e: lettre::transport::smtp::Error) -> SendError {
    if e.is_permanent() {
        SendError::Permanent(format!("SMTP: {e}"))
    } else {
        SendError::Transient(format!("SMTP: {e}"))
    }
}

#[async_trait]
impl Channel for SmtpChannel {
    fn name(&self) -> &'static str {
        "smtp"
    }

    async fn send(&self, message: &Message) -> Result<(), SendError> {
        let email = build_email(message, &self.sender)?;
        self.transport.send(email).await.map_err(classify)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let c = SmtpConfig::from_url("smtp://127.0.0.1:2525").unwrap();
        assert_eq!(
            (c.host.as_str(), c.port, c.tls),
            ("127.0.0.1", 2525, SmtpTls::None)
        );
        assert_eq!(c.credentials, None);
        let c = SmtpConfig::from_url("smtp://mail.example").unwrap();
        assert_eq!((c.port, c.tls), (25, SmtpTls::Opportunistic));
        let c = SmtpConfig::from_url("smtps://u%40x:p%3Ass@mail.example").unwrap();
        assert_eq!((c.port, c.tls), (465, SmtpTls::Implicit));
        assert_eq!(c.credentials, Some(("u@x".into(), "p:ss".into())));
        assert!(!format!("{c:?}").contains("p:ss"));
        let c = SmtpConfig::from_url("smtp+starttls://mail.example").unwrap();
        assert_eq!((c.port, c.tls), (587, SmtpTls::StartTls));
        let c = SmtpConfig::from_url("smtp://mail.example:2587?tls=starttls").unwrap();
        assert_eq!((c.port, c.tls), (2587, SmtpTls::StartTls));
        let c = SmtpConfig::from_url("smtp://mail.example?tls=none").unwrap();
        assert_eq!(c.tls, SmtpTls::None);
        assert!(SmtpConfig::from_url("http://mail.example").is_err());
        assert!(SmtpConfig::from_url("smtps://mail.example?tls=none").is_err());
        assert!(SmtpConfig::from_url("not a url").is_err());
    }

    // The pooled transport starts its idle-session reaper on the Tokio runtime when built.
    #[tokio::test]
    async fn sender_and_message_id() {
        let s = Sender::parse("careslot <no-reply@careslot.example>").unwrap();
        assert_eq!(s.domain, "careslot.example");
        assert_eq!(s.message_id("abc"), "<abc@careslot.example>");
        assert!(Sender::parse("nobody").is_err());
        assert!(SmtpChannel::from_url("smtp://127.0.0.1:1", "careslot <x@y.example>").is_ok());
    }
}
