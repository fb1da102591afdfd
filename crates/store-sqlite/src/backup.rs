//! Online backup and restore of a SQLite file (the application database, and keyd's, which
//! is SQLite too).
//!
//! A backup is `VACUUM INTO`: SQLite reads one snapshot inside a read transaction and writes
//! it as a new, compact database file. In WAL mode the running server's writer goes on while
//! it runs, and the copy is consistent — unlike a copy of the file, which can catch the
//! database file and its WAL at different moments.

use careslot_store::BackupError;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection, Row, SqliteConnection};
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

async fn open_read_only(db: &Path) -> Result<SqliteConnection, BackupError> {
    if !db.is_file() {
        return Err(BackupError::Invalid(format!(
            "no SQLite database at {}",
            db.display()
        )));
    }
    SqliteConnectOptions::from_str("sqlite:")
        .map_err(|e| BackupError::Database(e.to_string()))?
        .filename(db)
        .read_only(true)
        .busy_timeout(Duration::from_secs(30))
        .connect()
        .await
        .map_err(|e| BackupError::Database(format!("{}: {e}", db.display())))
}

fn sync_file(path: &Path) -> Result<(), BackupError> {
    std::fs::File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(|e| BackupError::io(format!("sync {}", path.display()), e))
}

fn sync_dir_of(path: &Path) -> Result<(), BackupError> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => sync_file(dir),
        _ => Ok(()),
    }
}

/// Writes a consistent copy of the live database `db` to `out` (which must not exist),
/// while other processes keep using `db`.
pub async fn backup_file(db: &Path, out: &Path) -> Result<(), BackupError> {
    if out.exists() {
        return Err(BackupError::Invalid(format!(
            "{} already exists: give a new file name",
            out.display()
        )));
    }
    let target = out
        .to_str()
        .ok_or_else(|| BackupError::Invalid(format!("{} is not UTF-8", out.display())))?;
    let mut conn = open_read_only(db).await?;
    sqlx::query("VACUUM INTO ?1")
        .bind(target)
        .execute(&mut conn)
        .await
        .map_err(|e| BackupError::Database(format!("VACUUM INTO {}: {e}", out.display())))?;
    conn.close()
        .await
        .map_err(|e| BackupError::Database(e.to_string()))?;
    sync_file(out)?;
    sync_dir_of(out)
}

/// Checks that `file` is a sound SQLite database (`PRAGMA integrity_check`).
pub async fn verify_file(file: &Path) -> Result<(), BackupError> {
    let mut conn = open_read_only(file).await?;
    let verdict: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&mut conn)
        .await
        .map_err(|e| BackupError::Database(format!("{}: {e}", file.display())))?;
    let _ = conn.close().await;
    if verdict == "ok" {
        Ok(())
    } else {
        Err(BackupError::Invalid(format!(
            "{} fails SQLite's integrity check: {verdict}",
            file.display()
        )))
    }
}

/// Whether the database at `db` holds no rows outside sqlx's migration table (a missing
/// file is empty; so is one that was only migrated).
pub async fn is_empty(db: &Path) -> Result<bool, BackupError> {
    if !db.exists() {
        return Ok(true);
    }
    let mut conn = open_read_only(db).await?;
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' \
         AND name NOT LIKE 'sqlite_%' AND name <> '_sqlx_migrations'",
    )
    .fetch_all(&mut conn)
    .await
    .map_err(|e| BackupError::Database(e.to_string()))?;
    for table in tables {
        let quoted = table.replace('"', "\"\"");
        let any: bool = sqlx::query(&format!("SELECT EXISTS (SELECT 1 FROM \"{quoted}\")"))
            .fetch_one(&mut conn)
            .await
            .and_then(|row| row.try_get::<bool, _>(0))
            .map_err(|e| BackupError::Database(e.to_string()))?;
        if any {
            return Ok(false);
        }
    }
    Ok(true)
}

/// The newest migration applied to `db` (0 when none).
pub async fn schema_version(db: &Path) -> Result<i64, BackupError> {
    let mut conn = open_read_only(db).await?;
    sqlx::query_scalar::<_, Option<i64>>("SELECT MAX(version) FROM _sqlx_migrations")
        .fetch_one(&mut conn)
        .await
        .map(Option::unwrap_or_default)
        .map_err(|e| BackupError::Database(e.to_string()))
}

/// Puts the backup `from` in place of the database `db`. Every process using `db` must be
/// stopped: the file is replaced, its WAL and shared-memory files removed. The backup is
/// checked first and copied beside `db`, then renamed over it, so a failure leaves `db` as
/// it was.
pub async fn restore_file(from: &Path, db: &Path, force: bool) -> Result<(), BackupError> {
    verify_file(from).await?;
    if !force && !is_empty(db).await? {
        return Err(BackupError::NotEmpty(db.display().to_string()));
    }
    if let Some(dir) = db.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| BackupError::io(format!("create {}", dir.display()), e))?;
    }
    let staging = db.with_extension("restoring");
    std::fs::copy(from, &staging).map_err(|e| {
        BackupError::io(
            format!("copy {} to {}", from.display(), staging.display()),
            e,
        )
    })?;
    sync_file(&staging)?;
    for suffix in ["-wal", "-shm"] {
        let mut side = db.as_os_str().to_owned();
        side.push(suffix);
        match std::fs::remove_file(&side) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(BackupError::io(
                    format!("remove {}", Path::new(&side).display()),
                    e,
                ))
            }
        }
    }
    std::fs::rename(&staging, db).map_err(|e| {
        BackupError::io(
            format!("rename {} to {}", staging.display(), db.display()),
            e,
        )
    })?;
    sync_dir_of(db)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn backs_up_while_written_and_restores() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("live.db");
        let store = crate::SqliteStore::open_file(&db).await.unwrap();
        use careslot_store::Store;
        store.insert_setting("backup-test", "before").await.unwrap();
        let out = dir.path().join("copy.db");
        backup_file(&db, &out).await.unwrap();
        store.insert_setting("after-backup", "x").await.unwrap();
        assert!(backup_file(&db, &out).await.is_err(), "never overwrites");
        verify_file(&out).await.unwrap();
        assert!(!is_empty(&out).await.unwrap());
        assert!(schema_version(&out).await.unwrap() >= 13);

        let target = dir.path().join("restored").join("careslot.db");
        assert!(is_empty(&target).await.unwrap());
        restore_file(&out, &target, false).await.unwrap();
        let restored = crate::SqliteStore::open_file(&target).await.unwrap();
        assert_eq!(
            restored.setting("backup-test").await.unwrap().as_deref(),
            Some("before")
        );
        assert_eq!(restored.setting("after-backup").await.unwrap(), None);
        drop(restored);
        match restore_file(&out, &target, false).await {
            Err(BackupError::NotEmpty(_)) => {}
            other => panic!("expected NotEmpty, got {other:?}"),
        }
        restore_file(&out, &target, true).await.unwrap();
    }
}
