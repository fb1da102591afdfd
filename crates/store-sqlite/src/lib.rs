//! The embedded default store: one SQLite file in WAL mode. All writes go through a single
//! connection (one writer), so a write transaction never races another; readers use their
//! own pool. Write transactions start with `BEGIN IMMEDIATE`, so another process on the same
//! file (`careslot keys rotate` while `serve` runs) waits for the lock instead of failing.
//! Overlap and capacity rules are enforced by triggers and CHECK constraints.

pub mod backup;

use careslot_store::*;
use careslot_store_sql::packed::PackedSql;
use careslot_store_sql::{
    internal, release_clean, unavailable, Backend, DbPool, Reservations, SqlStore, Tx,
};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteQueryResult,
    SqliteSynchronous,
};
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

/// SQLite as a [`Backend`] of the shared [`SqlStore`]: one process owns the file.
pub struct Sqlite;

/// Opens careslot's store on SQLite: what [`SqliteStore::open_dir`] returns is the shared
/// [`SqlStore`] running on [`Sqlite`].
pub enum SqliteStore {}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// SQLite's spelling of the long reads as one row (see `careslot_store_sql::packed`):
/// `json_group_array` in the row-by-row read's order, blobs in hex and NULL kept NULL
/// (`hex(NULL)` is the empty string).
static PACKED_SQL: PackedSql = PackedSql {
    accounts: "SELECT json_group_array(json_array(id, role, created_at, wrapped_key, \
        hex(email_ct), hex(name_ct), iif(phone_ct IS NULL, NULL, hex(phone_ct)), \
        iif(birth_date_ct IS NULL, NULL, hex(birth_date_ct)), managed_by)) AS packed \
        FROM accounts WHERE id IN (SELECT value FROM json_each($1))",
    agenda_appointments: "SELECT json_group_array(json_array(id, agenda_id, start_s, end_s, \
        status, expires_at, hex(motive_ct), iif(patient_ct IS NULL, NULL, hex(patient_ct)), \
        iif(note_ct IS NULL, NULL, hex(note_ct)), iif(relative_ct IS NULL, NULL, hex(relative_ct)), \
        json_array(arrived_at, consulting_at, done_at, no_show_at)) ORDER BY start_s, id) AS packed \
        FROM reservations WHERE agenda_id = $1 AND start_s >= $2 AND start_s < $3 \
        AND status IN ('booked', 'cancelled', 'no_show')",
};

/// Rows a read may run ahead of its caller.
const ROW_BUFFER: usize = 1024;

impl SqliteStore {
    /// Opens (creating if needed) `careslot.db` in `dir` and runs migrations.
    pub async fn open_dir(dir: &Path) -> StoreResult<SqlStore<Sqlite>> {
        std::fs::create_dir_all(dir)
            .map_err(|e| StoreError::Unavailable(format!("cannot create data dir: {e}")))?;
        Self::open_file(&dir.join("careslot.db")).await
    }

    pub async fn open_file(path: &Path) -> StoreResult<SqlStore<Sqlite>> {
        let opts = SqliteConnectOptions::from_str("sqlite:")
            .map_err(internal)?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // FULL: a transaction is on disk before COMMIT returns, so "booked" is durable.
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10))
            // Rows cross from SQLite's thread to the caller's through a bounded channel: the
            // default (50) made the worker stop and wait to be woken every 50 rows of a long
            // read (the desk's grid reads about two thousand).
            .row_buffer_size(ROW_BUFFER);
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            // After a failed COMMIT (disk full, I/O error) the one writer connection may be
            // left inside its transaction: it is closed and the next write opens a fresh one.
            .after_release(release_clean)
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
        // The one writer connection is also the group-commit writer's.
        SqlStore::new(Sqlite, writer.clone(), reader, vec![writer])
    }

    /// Runs the migrations only.
    pub async fn migrate_dir(dir: &Path) -> StoreResult<()> {
        Self::open_dir(dir).await.map(|_| ())
    }
}

impl Backend for Sqlite {
    type Db = sqlx::Sqlite;
    const NAME: &'static str = "sqlite";
    const MOTIVE_IDS_AGG: &'static str = "group_concat(rm.motive_id)";
    const RESERVATIONS_AGG: &'static str = "group_concat(start_s || ',' || end_s || ',' || \
        (pool <> id) || ',' || COALESCE(expires_at, ''), ';')";
    const FLOORS_FROM_JSON: &'static str = "(SELECT json_extract(value, '$[0]') AS agenda_id, \
        json_extract(value, '$[1]') AS floor_s, json_extract(value, '$[2]') AS version \
        FROM json_each($1))";
    /// The single writer connection serialises claims: nothing to skip.
    const SKIP_LOCKED: &'static str = "";
    const FOR_UPDATE: &'static str = "";
    /// One node: it knows a subscription the moment it is made.
    const WEBHOOK_DELAY_MS: i64 = 0;
    const PACKED: Option<&'static PackedSql> = Some(&PACKED_SQL);

    /// Maps driver errors: constraint violations become conflicts the HTTP layer turns into
    /// 409; a busy, full or failing disk and lost workers `Unavailable` (503, retry); the rest
    /// internal.
    fn map_err(e: sqlx::Error) -> StoreError {
        match &e {
            sqlx::Error::Database(db) => {
                let msg = db.message();
                if msg.contains("careslot_reservation_overlap") {
                    StoreError::Conflict(ConflictKind::SlotTaken)
                } else if msg.contains("reservations_visit_") {
                    // A visit status on an appointment that is not booked (migration 0045).
                    StoreError::Conflict(ConflictKind::NotLive)
                } else if msg.contains("accounts.email_uniq") {
                    StoreError::Conflict(ConflictKind::EmailTaken)
                } else if db.is_unique_violation() {
                    StoreError::Conflict(ConflictKind::Duplicate)
                } else if db.is_foreign_key_violation() {
                    StoreError::NotFound
                } else if db
                    .code()
                    .and_then(|c| c.parse::<i32>().ok())
                    .is_some_and(|c| matches!(c & 0xff, 5 | 6 | 10 | 13 | 14))
                {
                    // SQLITE_BUSY / LOCKED: another process held the file past the busy
                    // timeout; IOERR / FULL / CANTOPEN: the disk refused (full, size limit,
                    // I/O error). Nothing wrong with the request: it may be retried.
                    unavailable(e)
                } else {
                    internal(e)
                }
            }
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::WorkerCrashed => unavailable(e),
            // A savepoint-less BEGIN on a connection still inside a failed transaction: the
            // connection is discarded on release (`release_clean`); the write may be retried.
            sqlx::Error::InvalidSavePointStatement => unavailable(e),
            _ => internal(e),
        }
    }

    fn rows_affected(done: SqliteQueryResult) -> u64 {
        done.rows_affected()
    }

    /// Write transactions take the write lock up front, so another process on the same file
    /// waits for it (busy timeout) instead of failing on upgrade.
    async fn begin_write(pool: &DbPool<Self>) -> StoreResult<Tx<Self>> {
        pool.begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(Self::map_err)
    }

    /// A single process: its own cache is invalidated by the service layer.
    async fn agenda_changed(_tx: &mut Tx<Self>, _agenda: &str) -> StoreResult<()> {
        Ok(())
    }

    /// A single process: its delivery workers are woken in-process by the service layer.
    async fn outbox_changed(_tx: &mut Tx<Self>) -> StoreResult<()> {
        Ok(())
    }

    /// The single writer connection already serialises appends.
    async fn lock_audit(_tx: &mut Tx<Self>) -> StoreResult<()> {
        Ok(())
    }

    async fn execute_unprepared(tx: &mut Tx<Self>, sql: &str) -> StoreResult<()> {
        sqlx::query(sql)
            .persistent(false)
            .execute(&mut **tx)
            .await
            .map_err(Self::map_err)?;
        Ok(())
    }

    /// A series, statement by statement (in-process: round trips cost nothing here).
    async fn reserve_series(
        tx: &mut Tx<Self>,
        req: &SeriesRequest,
    ) -> StoreResult<Vec<ReservationRow>> {
        Reservations::<Self>::series_statements(tx, req).await
    }

    /// One process owns the file: there are no other nodes to hear from.
    fn watch(&self, on_change: AgendaWatcher) {
        let _ = on_change;
    }
}
