//! `careslot import practitioners FILE`: a national directory of health professionals, as
//! CSV, verifies the practitioners who declared an identifier it lists under the same name.
//!
//! The file (UTF-8, comma-separated, one header row; column order free, other columns
//! ignored):
//!
//! | column       | what                                                              |
//! |--------------|-------------------------------------------------------------------|
//! | `scheme`     | `rpps` (France), `lanr` (Germany) or `it-order` (Italy)          |
//! | `identifier` | the number as the register writes it (`10001766673`, `123456601`, `RM 12345`) |
//! | `name`       | the registered name (`Hélène Martin`, `MARTIN Hélène`)            |
//! | `profession` | the registered profession (reported, not matched)                 |
//!
//! A pending declaration is verified when its identifier equals the row's (after the
//! scheme's own normalisation and check) and the practitioner's profile name has the same
//! words as the row's name, ignoring case, accents, order and titles (Dr, Pr, Dott.…).
//! Rejected and revoked declarations are left alone (an operator decided), and so is a
//! match whose identifier another practitioner already holds verified. Running the same
//! file twice verifies nothing more.

use anyhow::Context;
use careslot_domain::ProfessionalId;
use careslot_scheduling::credentials::{DirectoryImportReport, DirectoryRow};
use careslot_server::services::App;
use std::path::Path;

/// The rows of the file that parse, and how many did not (with their line numbers).
pub fn read(path: &Path) -> anyhow::Result<(Vec<DirectoryRow>, Vec<u64>)> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_path(path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let headers = reader.headers().context("no header row")?.clone();
    let column = |name: &str| {
        headers
            .iter()
            .position(|h| h.trim_start_matches('\u{feff}').eq_ignore_ascii_case(name))
    };
    let (Some(scheme), Some(identifier), Some(name)) =
        (column("scheme"), column("identifier"), column("name"))
    else {
        anyhow::bail!(
            "the header row must name the columns scheme, identifier and name (and profession)"
        );
    };
    let profession = column("profession");
    let mut rows = Vec::new();
    let mut invalid = Vec::new();
    for (i, record) in reader.records().enumerate() {
        // Line numbers as an editor shows them: the header is line 1.
        let line = i as u64 + 2;
        let Ok(record) = record else {
            invalid.push(line);
            continue;
        };
        let field = |c: usize| record.get(c).unwrap_or("").to_owned();
        let parsed = ProfessionalId::parse_codes(&field(scheme), &field(identifier));
        let row_name = field(name);
        match parsed {
            Ok(id) if !row_name.is_empty() => rows.push(DirectoryRow {
                identifier: id,
                name: row_name,
                profession: profession.map(field).unwrap_or_default(),
            }),
            _ => invalid.push(line),
        }
    }
    Ok((rows, invalid))
}

/// Reads the file and verifies what it confirms; the actor in the history is
/// `import:<file name>`.
pub async fn practitioners(
    app: &App,
    path: &Path,
) -> anyhow::Result<(DirectoryImportReport, Vec<u64>)> {
    let (rows, invalid) = read(path)?;
    let file = path
        .file_name()
        .map(|f| f.to_string_lossy().chars().take(120).collect::<String>())
        .unwrap_or_default();
    let report = app
        .scheduling
        .import_directory(&rows, invalid.len() as u64, &format!("import:{file}"))
        .await
        .map_err(|e| anyhow::anyhow!("import failed: {e}"))?;
    Ok((report, invalid))
}

/// The report for a person.
pub fn human(path: &Path, r: &DirectoryImportReport, invalid: &[u64]) -> String {
    let mut out = format!(
        "{}: {} rows; {} practitioners verified, {} already verified, {} under another name, \
         {} rejected or revoked by an operator (left alone), {} conflicts (identifier verified \
         for someone else), {} not declared by anyone, {} invalid",
        path.display(),
        r.rows,
        r.verified,
        r.already_verified,
        r.name_mismatch,
        r.skipped_decided,
        r.conflicts,
        r.not_declared,
        r.invalid
    );
    if !invalid.is_empty() {
        let shown: Vec<String> = invalid.iter().take(20).map(ToString::to_string).collect();
        out.push_str(&format!(
            "\ninvalid lines: {}{}",
            shown.join(", "),
            if invalid.len() > 20 { ", …" } else { "" }
        ));
    }
    out
}
