//! With no channel configured: every message becomes a file, `<dir>/<id>.eml` (the full RFC 5322
//! message, as the SMTP channel would send it) or `<dir>/<id>.txt` for an SMS. Never dropped;
//! written once per id (a retry finds the file and succeeds without rewriting it).

use std::path::{Path, PathBuf};

use async_trait::async_trait;

use crate::channel::{Channel, ConfigError, SendError};
use crate::message::{Message, Recipient};
use crate::smtp::{build_email, Sender};

pub struct FileChannel {
    dir: PathBuf,
    sender: Sender,
}

impl FileChannel {
    /// `mail_from` as for SMTP (it goes in the `From` and `Message-ID` of the `.eml`).
    pub fn new(dir: impl Into<PathBuf>, mail_from: &str) -> Result<FileChannel, ConfigError> {
        Ok(FileChannel {
            dir: dir.into(),
            sender: Sender::parse(mail_from)?,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where `message` is (or will be) written.
    pub fn path_for(&self, message: &Message) -> Result<PathBuf, SendError> {
        let safe = !message.id.is_empty()
            && message.id.len() <= 64
            && message
                .id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if !safe {
            return Err(SendError::Permanent(format!(
                "message id {:?} cannot name a file",
                message.id
            )));
        }
        let ext = match message.recipient {
            Recipient::Email(_) => "eml",
            Recipient::Phone(_) => "txt",
        };
        Ok(self.dir.join(format!("{}.{ext}", message.id)))
    }

    fn contents(&self, message: &Message) -> Result<Vec<u8>, SendError> {
        match &message.recipient {
            Recipient::Email(_) => Ok(build_email(message, &self.sender)?.formatted()),
            Recipient::Phone(number) => Ok(format!(
                "To: {number}\nLanguage: {}\nKind: {}\nId: {}\n\n{}\n",
                message.lang.code(),
                message.kind.as_str(),
                message.id,
                message.text
            )
            .into_bytes()),
        }
    }
}

#[async_trait]
impl Channel for FileChannel {
    fn name(&self) -> &'static str {
        "file"
    }

    async fn send(&self, message: &Message) -> Result<(), SendError> {
        let path = self.path_for(message)?;
        let contents = self.contents(message)?;
        let io = |what: &str, e: std::io::Error| {
            SendError::Transient(format!("{what} {}: {e}", path.display()))
        };
        if tokio::fs::try_exists(&path)
            .await
            .map_err(|e| io("checking", e))?
        {
            return Ok(());
        }
        tokio::fs::create_dir_all(&self.dir)
            .await
            .map_err(|e| io("creating the directory of", e))?;
        // Written beside, then renamed: a reader never sees half a message.
        let tmp = self.dir.join(format!(".{}.tmp", message.id));
        tokio::fs::write(&tmp, &contents)
            .await
            .map_err(|e| io("writing", e))?;
        tokio::fs::rename(&tmp, &path)
            .await
            .map_err(|e| io("renaming to", e))?;
        tracing::info!(path = %path.display(), kind = message.kind.as_str(), "message written to a file");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::i18n::Lang;
    use crate::message::{Attachment, Kind};

    fn message(recipient: Recipient) -> Message {
        Message {
            id: Message::new_id(),
            recipient,
            lang: Lang::It,
            kind: Kind::Reminder,
            subject: "Promemoria".into(),
            text: "Testo".into(),
            html: Some("<p>Testo</p>".into()),
            attachments: vec![Attachment::ics("a.ics", "BEGIN:VCALENDAR\r\n".into())],
            unsubscribe_url: Some("https://careslot.example/account/reminders".into()),
        }
    }

    #[tokio::test]
    async fn writes_eml_and_txt_once() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("outbox");
        let ch = FileChannel::new(&out, "careslot <no-reply@careslot.example>").unwrap();
        let email = message(Recipient::Email("Anna <anna@example.org>".into()));
        ch.send(&email).await.unwrap();
        let path = out.join(format!("{}.eml", email.id));
        let eml = std::fs::read_to_string(&path).unwrap();
        assert!(eml.contains(&format!("Message-ID: <{}@careslot.example>", email.id)));
        assert!(eml.contains("List-Unsubscribe: <https://careslot.example/account/reminders>"));
        assert!(eml.contains("Content-Language: it"));
        assert!(eml.contains("multipart/alternative"));
        assert!(eml.contains("text/calendar"));

        // Same id again: the file is left as it was.
        let mut again = email.clone();
        again.subject = "changed".into();
        ch.send(&again).await.unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), eml);

        let sms = message(Recipient::Phone("+393331234567".into()));
        ch.send(&sms).await.unwrap();
        let txt = std::fs::read_to_string(out.join(format!("{}.txt", sms.id))).unwrap();
        assert!(txt.starts_with("To: +393331234567\n"));
        assert!(txt.ends_with("\n\nTesto\n"));
        let names: Vec<_> = std::fs::read_dir(&out).unwrap().collect();
        assert_eq!(names.len(), 2, "no temporary file left behind");
    }

    #[tokio::test]
    async fn refuses_ids_that_are_not_file_names() {
        let dir = tempfile::tempdir().unwrap();
        let ch = FileChannel::new(dir.path(), "careslot <no-reply@careslot.example>").unwrap();
        let mut m = message(Recipient::Email("a@example.org".into()));
        m.id = "../../etc/passwd".into();
        assert!(ch.send(&m).await.unwrap_err().is_permanent());
    }
}
