//! The demo mailbox (issue 14, part C): `serve --demo` without `--smtp-url` writes every
//! message as a file under `<data-dir>/outbox` (the file channel). This reads them back for
//! the `/demo/mailbox` page: the headers a reader needs and the plain-text part, decoded.
//! Just enough MIME for what the file channel writes (lettre's multipart, quoted-printable or
//! base64 parts, RFC 2047 subjects), not a general mail parser.

use base64::Engine;
use std::path::{Path, PathBuf};

/// One message file, as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailSummary {
    /// The file's stem: the message id.
    pub id: String,
    pub to: String,
    pub subject: String,
    pub date: String,
    pub sms: bool,
}

/// One message, opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailView {
    pub summary: MailSummary,
    /// The plain-text part (the whole text of an SMS).
    pub text: String,
}

/// Whether `id` can name a file of the mailbox (the file channel's ids: letters, digits, `-`).
pub fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// Every message of `dir`, newest first (ids are UUIDv7: their order is their time order).
pub fn list(dir: &Path) -> std::io::Result<Vec<MailSummary>> {
    let mut out = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        // Nothing sent yet: the directory appears with the first message.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let path = entry?.path();
        if let Some(m) = read(&path)? {
            out.push(m.summary);
        }
    }
    out.sort_by(|a, b| b.id.cmp(&a.id));
    Ok(out)
}

/// The message `id` of `dir`, if there is one.
pub fn open(dir: &Path, id: &str) -> std::io::Result<Option<MailView>> {
    if !valid_id(id) {
        return Ok(None);
    }
    for ext in ["eml", "txt"] {
        let path: PathBuf = dir.join(format!("{id}.{ext}"));
        if path.is_file() {
            return read(&path);
        }
    }
    Ok(None)
}

fn read(path: &Path) -> std::io::Result<Option<MailView>> {
    let (Some(stem), Some(ext)) = (
        path.file_stem().and_then(|s| s.to_str()),
        path.extension().and_then(|s| s.to_str()),
    ) else {
        return Ok(None);
    };
    if !valid_id(stem) || !matches!(ext, "eml" | "txt") {
        return Ok(None);
    }
    let raw = String::from_utf8_lossy(&std::fs::read(path)?).replace("\r\n", "\n");
    Ok(Some(if ext == "txt" {
        sms(stem, &raw)
    } else {
        email(stem, &raw)
    }))
}

/// An SMS file: `To:`, `Language:`, `Kind:`, `Id:` lines, a blank line, the text.
fn sms(id: &str, raw: &str) -> MailView {
    let (head, body) = raw.split_once("\n\n").unwrap_or((raw, ""));
    let headers = parse_headers(head);
    MailView {
        summary: MailSummary {
            id: id.to_owned(),
            to: header(&headers, "to"),
            subject: format!("SMS ({})", header(&headers, "kind")),
            date: String::new(),
            sms: true,
        },
        text: body.trim_end().to_owned(),
    }
}

fn email(id: &str, raw: &str) -> MailView {
    let (head, _) = raw.split_once("\n\n").unwrap_or((raw, ""));
    let headers = parse_headers(head);
    MailView {
        summary: MailSummary {
            id: id.to_owned(),
            to: decode_words(&header(&headers, "to")),
            subject: decode_words(&header(&headers, "subject")),
            date: header(&headers, "date"),
            sms: false,
        },
        text: plain_part(raw).unwrap_or_default(),
    }
}

/// Unfolded headers, names lower-cased.
fn parse_headers(head: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in head.lines() {
        if line.starts_with([' ', '\t']) {
            if let Some(last) = out.last_mut() {
                last.1.push(' ');
                last.1.push_str(line.trim());
            }
        } else if let Some((name, value)) = line.split_once(':') {
            out.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
    }
    out
}

fn header(headers: &[(String, String)], name: &str) -> String {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.clone())
        .unwrap_or_default()
}

/// The first `text/plain` part, decoded (the whole body when the message is not multipart).
fn plain_part(raw: &str) -> Option<String> {
    // Every boundary of the message: a part's body ends at the next boundary line.
    let boundaries: Vec<String> = raw
        .match_indices("boundary=")
        .filter_map(|(i, _)| {
            let rest = &raw[i + "boundary=".len()..];
            let b: String = if let Some(quoted) = rest.strip_prefix('"') {
                quoted.chars().take_while(|c| *c != '"').collect()
            } else {
                rest.chars()
                    .take_while(|c| !c.is_whitespace() && *c != ';')
                    .collect()
            };
            (!b.is_empty()).then(|| format!("--{b}"))
        })
        .collect();
    let is_boundary = |line: &str| boundaries.iter().any(|b| line.starts_with(b.as_str()));
    let lines: Vec<&str> = raw.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        // A part's header block: starts at the top of the file or after a boundary line.
        let at_part_start = i == 0 || is_boundary(lines[i - 1]);
        if at_part_start {
            let mut j = i;
            let mut head = Vec::new();
            while j < lines.len() && !lines[j].is_empty() {
                head.push(lines[j]);
                j += 1;
            }
            let headers = parse_headers(&head.join("\n"));
            let ctype = header(&headers, "content-type").to_ascii_lowercase();
            let plain = ctype.starts_with("text/plain") || (ctype.is_empty() && i == 0);
            if plain {
                let mut body = Vec::new();
                let mut k = j + 1;
                while k < lines.len() && !is_boundary(lines[k]) {
                    body.push(lines[k]);
                    k += 1;
                }
                let cte = header(&headers, "content-transfer-encoding").to_ascii_lowercase();
                return Some(decode_body(&body.join("\n"), &cte));
            }
            i = j.max(i + 1);
        } else {
            i += 1;
        }
    }
    None
}

fn decode_body(body: &str, cte: &str) -> String {
    match cte {
        "base64" => {
            let joined: String = body.split_whitespace().collect();
            base64::engine::general_purpose::STANDARD
                .decode(joined)
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default()
        }
        "quoted-printable" => quoted_printable(body),
        _ => body.to_owned(),
    }
    .trim_end()
    .to_owned()
}

/// Quoted-printable (RFC 2045): `=XX` bytes and `=` soft line breaks.
fn quoted_printable(body: &str) -> String {
    let lines: Vec<&str> = body.split('\n').collect();
    let mut out = Vec::with_capacity(body.len());
    for (n, line) in lines.iter().enumerate() {
        let line = line.trim_end_matches([' ', '\t', '\r']);
        let (line, soft) = match line.strip_suffix('=') {
            Some(l) => (l, true),
            None => (line, false),
        };
        let b = line.as_bytes();
        let mut i = 0;
        while i < b.len() {
            let hex = (b[i] == b'=' && i + 3 <= b.len())
                .then(|| std::str::from_utf8(&b[i + 1..i + 3]).ok())
                .flatten()
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            match hex {
                Some(v) => {
                    out.push(v);
                    i += 3;
                }
                None => {
                    out.push(b[i]);
                    i += 1;
                }
            }
        }
        if !soft && n + 1 < lines.len() {
            out.push(b'\n');
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// RFC 2047 encoded words (`=?utf-8?b?…?=`, `=?utf-8?q?…?=`); whitespace between two encoded
/// words is dropped, as the RFC says.
fn decode_words(value: &str) -> String {
    let mut out = String::new();
    let mut rest = value;
    let mut last_was_word = false;
    while let Some(start) = rest.find("=?") {
        let (before, after) = rest.split_at(start);
        let decoded = after[2..].splitn(3, '?').collect::<Vec<_>>();
        let end = decoded.get(2).and_then(|t| t.find("?="));
        let (Some(enc), Some(text), Some(end)) = (decoded.get(1), decoded.get(2), end) else {
            break;
        };
        if !(last_was_word && before.trim().is_empty()) {
            out.push_str(before);
        }
        let payload = &text[..end];
        let bytes = match enc.to_ascii_lowercase().as_str() {
            "b" => base64::engine::general_purpose::STANDARD
                .decode(payload)
                .unwrap_or_default(),
            _ => quoted_printable(&payload.replace('_', " ")).into_bytes(),
        };
        out.push_str(&String::from_utf8_lossy(&bytes));
        // Skip "=?" + charset + "?" + enc + "?" + payload + "?=".
        let consumed = 2 + decoded[0].len() + 1 + enc.len() + 1 + end + 2;
        rest = &after[consumed.min(after.len())..];
        last_was_word = true;
    }
    out.push_str(rest);
    out
}

/// A line cut into plain text and links, for a page that makes the links clickable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    Text(String),
    Link(String),
}

/// `text`'s lines, each cut into pieces where `http://` / `https://` links are.
pub fn linkify(text: &str) -> Vec<Vec<Piece>> {
    text.lines()
        .map(|line| {
            let mut pieces = Vec::new();
            let mut rest = line;
            while let Some(at) = [rest.find("http://"), rest.find("https://")]
                .into_iter()
                .flatten()
                .min()
            {
                if at > 0 {
                    pieces.push(Piece::Text(rest[..at].to_owned()));
                }
                let len = rest[at..]
                    .find(|c: char| c.is_whitespace() || matches!(c, '<' | '>' | '"'))
                    .unwrap_or(rest.len() - at);
                pieces.push(Piece::Link(rest[at..at + len].to_owned()));
                rest = &rest[at + len..];
            }
            if !rest.is_empty() {
                pieces.push(Piece::Text(rest.to_owned()));
            }
            pieces
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use careslot_messages::{compose, Channel, Content, FileChannel, Lang, Recipient, Site};

    /// The file channel writes a real reset email; the mailbox reads its subject and link back.
    #[tokio::test]
    async fn reads_what_the_file_channel_writes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let files = FileChannel::new(dir.path(), "careslot <no-reply@careslot.test>")
            .expect("file channel");
        let link = "https://careslot.example/password-reset?token=AbC-123_xyz";
        for lang in [Lang::Fr, Lang::De] {
            let m = compose(
                &Site::new("https://careslot.example"),
                &Content::PasswordReset {
                    link: link.to_owned(),
                    valid_minutes: 30,
                },
                Recipient::Email("zoë@example.test".into()),
                lang,
                jiff::Timestamp::now(),
            )
            .expect("compose");
            files.send(&m).await.expect("written");
            let opened = open(dir.path(), &m.id).expect("read").expect("found");
            assert_eq!(opened.summary.subject, m.subject);
            assert!(opened.text.contains(link), "{}", opened.text);
            assert!(
                opened.text.contains(lang.t("common.signature")),
                "{}",
                opened.text
            );
            let links: Vec<Piece> = linkify(&opened.text).into_iter().flatten().collect();
            assert!(links.contains(&Piece::Link(link.to_owned())));
        }
        let all = list(dir.path()).expect("list");
        assert_eq!(all.len(), 2);
        assert!(all[0].id > all[1].id, "newest first");
        assert!(open(dir.path(), "../etc/passwd")
            .expect("no error")
            .is_none());
    }

    #[test]
    fn quoted_printable_and_encoded_words() {
        assert_eq!(quoted_printable("caf=C3=A9 =\nsuite"), "café suite");
        assert_eq!(
            decode_words("=?utf-8?b?UsOpaW5pdGlhbGlzZXI=?= =?utf-8?q?_le_mot?="),
            "Réinitialiser le mot"
        );
        assert_eq!(decode_words("plain"), "plain");
    }
}
