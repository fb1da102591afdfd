//! Dead letters for the operator (issue 14, part C): the messages the delivery worker gave up
//! on, shown without address or body (those are sealed under the recipient's key and stay
//! so), and put back in the queue one by one or all at once.

use super::{Accounts, AppError, AppResult};
use careslot_store::OutboxRow;
use jiff::Timestamp;

/// How many dead letters the console and the API list at most.
pub const DEAD_LETTERS_SHOWN: i64 = 200;

/// A dead letter as the operator sees it.
#[derive(Debug, Clone)]
pub struct DeadLetter {
    pub id: String,
    /// What the message is about (`confirm`, `reminder72`, `password-reset`…): the dedupe
    /// key's prefix, never the ids or hashes after it.
    pub kind: String,
    pub channel: &'static str,
    pub attempts: u32,
    /// The last error, redacted again (anything that looks like an address is masked).
    pub last_error: Option<String>,
    pub dead_at: Timestamp,
}

/// The dedupe key's prefix: `confirm:<id>` → `confirm`.
fn kind_of(dedupe_key: &str) -> String {
    dedupe_key
        .split(':')
        .next()
        .filter(|k| !k.is_empty() && k.len() <= 32)
        .unwrap_or("message")
        .to_owned()
}

/// The worker stores errors without personal data; this masks any word holding an `@` or a
/// long run of digits (an address or a phone number that slipped through) and keeps it short.
pub fn redact(error: &str) -> String {
    let masked: Vec<String> = error
        .split_whitespace()
        .map(|w| {
            let digits = w.chars().filter(char::is_ascii_digit).count();
            if w.contains('@') || digits >= 7 {
                "[redacted]".to_owned()
            } else {
                w.to_owned()
            }
        })
        .collect();
    masked.join(" ").chars().take(300).collect()
}

fn shown(row: OutboxRow) -> Option<DeadLetter> {
    Some(DeadLetter {
        kind: kind_of(&row.dedupe_key),
        channel: row.channel.code(),
        attempts: row.attempts,
        last_error: row.last_error.as_deref().map(redact),
        dead_at: row.dead_at?,
        id: row.id,
    })
}

impl Accounts {
    /// The dead letters, newest first.
    pub async fn dead_letters(&self) -> AppResult<Vec<DeadLetter>> {
        Ok(self
            .store
            .dead_letters(DEAD_LETTERS_SHOWN)
            .await?
            .into_iter()
            .filter_map(shown)
            .collect())
    }

    /// Puts one dead letter back in the queue, due now, its attempts reset. NotFound when
    /// there is no such dead letter.
    pub async fn retry_dead_letter(&self, id: &str) -> AppResult<()> {
        if id.is_empty() || id.len() > 64 {
            return Err(AppError::NotFound("dead letter"));
        }
        if !self.store.retry_dead_letter(id, Timestamp::now()).await? {
            return Err(AppError::NotFound("dead letter"));
        }
        self.outbox_wake.notify_one();
        Ok(())
    }

    /// Puts every dead letter back in the queue; how many.
    pub async fn retry_all_dead_letters(&self) -> AppResult<u64> {
        let n = self.store.retry_all_dead_letters(Timestamp::now()).await?;
        if n > 0 {
            self.outbox_wake.notify_one();
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_redaction() {
        assert_eq!(kind_of("confirm:0190-abc"), "confirm");
        assert_eq!(kind_of("password-reset:deadbeef"), "password-reset");
        assert_eq!(kind_of(""), "message");
        assert_eq!(
            redact("permanent: 550 mailbox jane@example.org unknown, call +33612345678"),
            "permanent: 550 mailbox [redacted] unknown, call [redacted]"
        );
    }
}
