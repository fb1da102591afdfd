//! The embedded default store: one SQLite file in WAL mode. All writes go through a single
//! connection (one writer), so a write transaction never races another; readers use their
//! own pool. Write transactions start with `BEGIN IMMEDIATE`, so another process on the same
//! file (`careslot keys rotate` while `serve` runs) waits for the lock instead of failing.
//! Overlap and capacity rules are enforced by triggers and CHECK constraints.

use async_trait::async_trait;
use careslot_domain::*;
use careslot_store::codec::{self, ts};
use careslot_store::*;
use jiff::Timestamp;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};

type Db = sqlx::Sqlite;
type DbRow = sqlx::sqlite::SqliteRow;
type DbPool = SqlitePool;
type Tx = sqlx::Transaction<'static, Db>;
type StoreImpl = SqliteStore;
const BACKEND: &str = "sqlite";
const MOTIVE_IDS_AGG: &str = "group_concat(rm.motive_id)";
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
    group: reservations::GroupCommit,
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

impl SqliteStore {
    /// Opens (creating if needed) `careslot.db` in `dir` and runs migrations.
    pub async fn open_dir(dir: &Path) -> StoreResult<Self> {
        std::fs::create_dir_all(dir)
            .map_err(|e| StoreError::Unavailable(format!("cannot create data dir: {e}")))?;
        Self::open_file(&dir.join("careslot.db")).await
    }

    pub async fn open_file(path: &Path) -> StoreResult<Self> {
        let opts = SqliteConnectOptions::from_str("sqlite:")
            .map_err(internal)?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // FULL: a transaction is on disk before COMMIT returns, so "booked" is durable.
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(opts.clone())
            .await
            .map_err(unavailable)?;
        MIGRATOR
            .run(&writer)
            .await
            .map_err(|e| StoreError::Internal(format!("migration failed: {e}")))?;
        let reader = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(opts.read_only(true))
            .await
            .map_err(unavailable)?;
        let group = reservations::GroupCommit::start(vec![writer.clone()])?;
        Ok(Self {
            writer,
            reader,
            group,
        })
    }

    /// Runs the migrations only.
    pub async fn migrate_dir(dir: &Path) -> StoreResult<()> {
        Self::open_dir(dir).await.map(|_| ())
    }

    fn group_commit(&self) -> &reservations::GroupCommit {
        &self.group
    }

    fn writer(&self) -> &DbPool {
        &self.writer
    }

    fn reader(&self) -> &DbPool {
        &self.reader
    }

    /// One process owns the file: there are no other nodes to hear from.
    fn watch(&self, on_change: AgendaWatcher) {
        let _ = on_change;
    }
}

/// Write transactions take the write lock up front, so another process on the same file
/// waits for it (busy timeout) instead of failing on upgrade.
async fn begin_write(pool: &DbPool) -> StoreResult<Tx> {
    pool.begin_with("BEGIN IMMEDIATE").await.map_err(map_err)
}

/// A single process: its own cache is invalidated by the service layer.
async fn agenda_changed(_tx: &mut Tx, _agenda: &str) -> StoreResult<()> {
    Ok(())
}

/// A series, statement by statement (in-process: round trips cost nothing here).
async fn reserve_series_in(tx: &mut Tx, req: &SeriesRequest) -> StoreResult<Vec<ReservationRow>> {
    reservations::series_statements(tx, req).await
}

/// The single writer connection already serialises appends.
async fn lock_audit(_tx: &mut Tx) -> StoreResult<()> {
    Ok(())
}

pub(crate) fn internal(e: impl std::fmt::Display) -> StoreError {
    StoreError::Internal(e.to_string())
}

fn unavailable(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

/// Maps driver errors: constraint violations become conflicts the HTTP layer turns into
/// 409, everything else stays internal.
pub(crate) fn map_err(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(db) => {
            let msg = db.message();
            if msg.contains("careslot_reservation_overlap") {
                StoreError::Conflict(ConflictKind::SlotTaken)
            } else if msg.contains("accounts.email_uniq") {
                StoreError::Conflict(ConflictKind::EmailTaken)
            } else if db.is_unique_violation() {
                StoreError::Conflict(ConflictKind::Duplicate)
            } else if db.is_foreign_key_violation() {
                StoreError::NotFound
            } else if matches!(db.code().as_deref(), Some("5" | "6" | "517")) {
                // SQLITE_BUSY / LOCKED: another process held the file past the busy timeout.
                unavailable(e)
            } else {
                internal(e)
            }
        }
        sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) => unavailable(e),
        _ => internal(e),
    }
}

include!("../../store/sql/store.rs");

mod reservations {
    include!("../../store/sql/reservations.rs");
}

mod payments {
    include!("../../store/sql/payments.rs");
}
