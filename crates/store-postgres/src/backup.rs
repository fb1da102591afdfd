//! Backup and restore of a PostgreSQL database with PostgreSQL's own tools: `pg_dump` in its
//! custom format (compressed, consistent: one snapshot in a repeatable-read transaction, the
//! server keeps serving) and `pg_restore` in one transaction. The tools come with the
//! PostgreSQL client package (Debian: `postgresql-client`) and must be at least as new as the
//! server.
//!
//! The connection URL's password never goes on a command line (other users can read those):
//! it is handed to the tools in `PGPASSWORD`.

use careslot_store::BackupError;
use sqlx::{Connection, PgConnection, Row};
use std::path::Path;
use std::process::Stdio;

const HINT: &str = "install the PostgreSQL client tools (Debian/Ubuntu: apt-get install \
                    postgresql-client), at least as new as the server";

/// The URL without its password, and the password.
fn split_password(url: &str) -> Result<(String, Option<String>), BackupError> {
    let mut parsed = url::Url::parse(url)
        .map_err(|e| BackupError::Invalid(format!("the database URL is not a URL: {e}")))?;
    let password = parsed.password().map(|p| {
        url::form_urlencoded::parse(format!("p={p}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    });
    parsed
        .set_password(None)
        .map_err(|()| BackupError::Invalid("the database URL cannot carry a password".into()))?;
    Ok((parsed.to_string(), password))
}

async fn run(tool: &'static str, args: &[&str], url: &str) -> Result<(), BackupError> {
    let (url, password) = split_password(url)?;
    let mut cmd = tokio::process::Command::new(tool);
    cmd.args(args)
        .arg(format!("--dbname={url}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if let Some(p) = password {
        cmd.env("PGPASSWORD", p);
    }
    let out = match cmd.output().await {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(BackupError::ToolMissing { tool, hint: HINT })
        }
        Err(e) => return Err(BackupError::io(format!("cannot run {tool}"), e)),
    };
    if out.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let tail: Vec<&str> = stderr.lines().rev().take(8).collect();
    Err(BackupError::ToolFailed {
        tool,
        status: out.status.to_string(),
        stderr: tail.into_iter().rev().collect::<Vec<_>>().join("\n"),
    })
}

/// Dumps the database at `url` into `out` (custom format; `out` must not exist).
pub async fn dump(url: &str, out: &Path) -> Result<(), BackupError> {
    if out.exists() {
        return Err(BackupError::Invalid(format!(
            "{} already exists: give a new file name",
            out.display()
        )));
    }
    let file = out
        .to_str()
        .ok_or_else(|| BackupError::Invalid(format!("{} is not UTF-8", out.display())))?;
    run("pg_dump", &["--format=custom", "--file", file], url).await?;
    std::fs::File::open(out)
        .and_then(|f| f.sync_all())
        .map_err(|e| BackupError::io(format!("sync {}", out.display()), e))
}

/// Checks that `file` is a readable dump (`pg_restore --list`).
pub async fn verify_dump(file: &Path) -> Result<(), BackupError> {
    let out = match tokio::process::Command::new("pg_restore")
        .arg("--list")
        .arg(file)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .await
    {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(BackupError::ToolMissing {
                tool: "pg_restore",
                hint: HINT,
            })
        }
        Err(e) => return Err(BackupError::io("cannot run pg_restore", e)),
    };
    if out.status.success() {
        Ok(())
    } else {
        Err(BackupError::Invalid(format!(
            "{} is not a readable pg_dump archive: {}",
            file.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

async fn connect(url: &str) -> Result<PgConnection, BackupError> {
    PgConnection::connect(url).await.map_err(|e| match &e {
        sqlx::Error::Database(db) if db.code().as_deref() == Some("3D000") => {
            BackupError::Database(format!(
                "the database does not exist: create it first (createdb, or CREATE DATABASE) ({e})"
            ))
        }
        _ => BackupError::Database(e.to_string()),
    })
}

/// Whether the database at `url` holds no rows outside sqlx's migration table in its
/// `public` schema (a database that was only created or migrated is empty).
pub async fn is_empty(url: &str) -> Result<bool, BackupError> {
    let mut conn = connect(url).await?;
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' \
         AND tablename <> '_sqlx_migrations'",
    )
    .fetch_all(&mut conn)
    .await
    .map_err(|e| BackupError::Database(e.to_string()))?;
    for table in tables {
        let quoted = table.replace('"', "\"\"");
        let any: bool = sqlx::query(&format!(
            "SELECT EXISTS (SELECT 1 FROM public.\"{quoted}\")"
        ))
        .fetch_one(&mut conn)
        .await
        .and_then(|row| row.try_get::<bool, _>(0))
        .map_err(|e| BackupError::Database(e.to_string()))?;
        if any {
            let _ = conn.close().await;
            return Ok(false);
        }
    }
    let _ = conn.close().await;
    Ok(true)
}

/// The newest migration applied to the database at `url` (0 when none).
pub async fn schema_version(url: &str) -> Result<i64, BackupError> {
    let mut conn = connect(url).await?;
    let v = sqlx::query_scalar::<_, Option<i64>>("SELECT MAX(version) FROM _sqlx_migrations")
        .fetch_one(&mut conn)
        .await
        .map(Option::unwrap_or_default)
        .map_err(|e| BackupError::Database(e.to_string()));
    let _ = conn.close().await;
    v
}

/// Restores the dump `from` into the existing database at `url`, in one transaction (a
/// failure changes nothing). Objects of the dump already present are dropped first
/// (`--clean`), which is what lets a migrated-but-empty database, or with `force` one with
/// data, receive it. Ownership and grants of the source are not replayed: the restoring
/// role owns what it creates.
pub async fn restore(from: &Path, url: &str, force: bool) -> Result<(), BackupError> {
    verify_dump(from).await?;
    if !force && !is_empty(url).await? {
        let (shown, _) = split_password(url)?;
        return Err(BackupError::NotEmpty(format!("the database {shown}")));
    }
    let file = from
        .to_str()
        .ok_or_else(|| BackupError::Invalid(format!("{} is not UTF-8", from.display())))?;
    run(
        "pg_restore",
        &[
            "--clean",
            "--if-exists",
            "--no-owner",
            "--no-privileges",
            "--single-transaction",
            "--exit-on-error",
            file,
        ],
        url,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::split_password;

    #[test]
    fn password_leaves_the_url() {
        let (url, pw) = split_password("postgres://app:s%40cret@db.example:5432/careslot").unwrap();
        assert_eq!(url, "postgres://app@db.example:5432/careslot");
        assert_eq!(pw.as_deref(), Some("s@cret"));
        let (url, pw) = split_password("postgres://postgres@127.0.0.1:5432/test").unwrap();
        assert_eq!(url, "postgres://postgres@127.0.0.1:5432/test");
        assert_eq!(pw, None);
    }
}
