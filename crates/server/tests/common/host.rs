//! What the database host holds, and the forms a value could take there: used to prove that
//! health data is stored only as ciphertext.

use super::{DataLocation, Db};
use std::path::Path;

/// The value as it might be stored: encodings, case variants, and its long words on their own.
pub fn encodings(value: &str) -> Vec<(String, Vec<u8>)> {
    use base64::Engine;
    let nfd: String = unicode_nfd(value);
    let mut out = vec![
        ("utf-8".to_owned(), value.as_bytes().to_vec()),
        ("utf-8 nfd".to_owned(), nfd.into_bytes()),
        ("lowercase".to_owned(), value.to_lowercase().into_bytes()),
        ("uppercase".to_owned(), value.to_uppercase().into_bytes()),
        (
            "utf-16le".to_owned(),
            value.encode_utf16().flat_map(u16::to_le_bytes).collect(),
        ),
        (
            "utf-16be".to_owned(),
            value.encode_utf16().flat_map(u16::to_be_bytes).collect(),
        ),
        (
            "base64".to_owned(),
            base64::engine::general_purpose::STANDARD
                .encode(value)
                .into_bytes(),
        ),
        ("hex".to_owned(), hex::encode(value).into_bytes()),
    ];
    // Any long-enough word on its own (first name, last name, the motive's odd word).
    for word in value.split(' ').filter(|w| w.chars().count() >= 6) {
        out.push((format!("word {word:?}"), word.as_bytes().to_vec()));
    }
    out
}

fn unicode_nfd(s: &str) -> String {
    // Decompose the few accented letters used here; enough to catch an NFD storage.
    s.chars()
        .flat_map(|c| match c {
            'é' => vec!['e', '\u{301}'],
            'è' => vec!['e', '\u{300}'],
            'ë' => vec!['e', '\u{308}'],
            other => vec![other],
        })
        .collect()
}

pub fn find(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// Everything the database host holds: every file of the SQLite directory (database, WAL,
/// shared memory), or a `pg_dump` of the PostgreSQL database.
pub fn host_bytes(loc: &DataLocation) -> Vec<u8> {
    match &loc.db {
        Db::Sqlite(dir) => {
            let mut all = Vec::new();
            collect_files(dir.path(), &mut all);
            all
        }
        Db::Postgres(url) => {
            let out = std::process::Command::new("pg_dump")
                .arg("--no-owner")
                .arg(url)
                .output()
                .expect("pg_dump must be installed (Debian: apt-get install postgresql-client)");
            assert!(
                out.status.success(),
                "pg_dump failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            out.stdout
        }
    }
}

pub fn collect_files(dir: &Path, into: &mut Vec<u8>) {
    for entry in std::fs::read_dir(dir).expect("read dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect_files(&path, into);
        } else if let Ok(bytes) = std::fs::read(&path) {
            into.extend_from_slice(&bytes);
        }
    }
}
