//! What can go wrong while backing a database up or restoring it (`careslot backup` /
//! `careslot restore`). Messages name files, tools and tables, never row contents.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum BackupError {
    /// A file or directory could not be read or written.
    #[error("{what}: {error}")]
    Io { what: String, error: std::io::Error },
    /// The database refused or could not be reached.
    #[error("database: {0}")]
    Database(String),
    /// An external tool (pg_dump, pg_restore) is not installed.
    #[error("{tool} was not found on PATH: {hint}")]
    ToolMissing {
        tool: &'static str,
        hint: &'static str,
    },
    /// An external tool ran and failed; `stderr` is its last lines.
    #[error("{tool} failed ({status}): {stderr}")]
    ToolFailed {
        tool: &'static str,
        status: String,
        stderr: String,
    },
    /// The target already holds data and `--force` was not given.
    #[error("{0} is not empty: refusing to overwrite it (give --force to replace its contents)")]
    NotEmpty(String),
    /// The backup itself is unusable (missing file, failed integrity check, wrong backend).
    #[error("{0}")]
    Invalid(String),
}

impl BackupError {
    pub fn io(what: impl Into<String>, error: std::io::Error) -> Self {
        BackupError::Io {
            what: what.into(),
            error,
        }
    }
}
