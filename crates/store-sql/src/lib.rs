//! careslot's store in SQL, written once for both databases: [`SqlStore<B>`] implements
//! [`careslot_store::Store`] for any [`Backend`] `B`. The SQL is the same on SQLite and
//! PostgreSQL (`$n` placeholders, `ON CONFLICT`, `RETURNING`); what differs is the small
//! [`Backend`] trait, implemented by `careslot-store-sqlite` and `careslot-store-postgres`,
//! which also open the connections and run their own migrations.
//!
//! - `store.rs`: the [`careslot_store::Store`] implementation, the row decoders and the
//!   writes several methods share;
//! - `reservations.rs`: holds and appointments, and the group-commit writer;
//! - `payments.rs`: teleconsultation payments;
//! - `packed.rs`: long reads as one row, for SQLite.
//!
//! ## sqlx's bounds
//!
//! sqlx describes what a database can bind, decode and execute through traits on *other*
//! types (`i64: Encode<'q, DB>`, `&mut DB::Connection: Executor<'c>`…). Rust does not carry
//! such bounds from a trait to its users, so every `impl<B: Backend>` block of this crate
//! repeats the same `where` clause (the first one is on [`SqlStore::new`]'s block). Both
//! `sqlx::Sqlite` and `sqlx::Postgres` meet it.

use careslot_store::{
    AgendaWatcher, BookSeriesRequest, NewOutboxMessage, OutboxWatcher, ReservationRow,
    ReserveRequest, SeriesRequest, SessionSignal, SessionWatcher, SharedRoom, SignalBus,
    StoreError, StoreResult,
};
use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Type};
use std::future::Future;

mod alerts;
mod care_series;
mod credentials;
mod directory;
mod interop;
mod operators;
mod organisations;
mod outbox;
pub mod packed;
mod payments;
mod photos;
mod reminders;
mod reservations;
mod store;
mod verification;

pub use alerts::Alerts;
pub use outbox::{ConfirmationBatch, Outbox};
pub use photos::Photos;
pub use reminders::Reminders;
use reservations::GroupCommit;
pub use reservations::Reservations;

/// What differs between the databases careslot runs on. Everything else — every query and
/// every transaction — is [`SqlStore`]'s, the same for all of them.
///
/// The functions without `self` run where no store is at hand (the group-commit writer's
/// thread), so they receive the transaction or pool they work on.
pub trait Backend: Send + Sync + Sized + 'static {
    /// The sqlx database driving this backend.
    type Db: Database;

    /// Short name for logs and metrics (`Store::backend`): "sqlite", "postgres".
    const NAME: &'static str;

    /// SQL aggregate joining an opening rule's `rm.motive_id`s with commas (there is no
    /// common spelling of string aggregation).
    const MOTIVE_IDS_AGG: &'static str;
    /// SQL aggregate packing a `GROUP BY agenda_id` group of reservations into one text:
    /// `start_s,end_s,pooled,expires_at` per reservation (`pooled` 1 when `pool <> id`,
    /// `expires_at` empty when null), joined by `;`. A start reads an agenda's reservations
    /// as one value instead of one row each (tens of millions at national scale).
    const RESERVATIONS_AGG: &'static str;

    /// A derived table of `(agenda_id, floor_s, version)` rows from the JSON array `$1` of
    /// `[agenda_id, floor_s, version]` triples (slot floors kept in one statement).
    const FLOORS_FROM_JSON: &'static str;

    /// Appended to the outbox claim's inner SELECT: `" FOR UPDATE SKIP LOCKED"` where
    /// concurrent writers exist (PostgreSQL), empty where one writer serialises claims
    /// (SQLite).
    const SKIP_LOCKED: &'static str;
    /// Appended to a SELECT whose rows the transaction rewrites from what it read:
    /// `" FOR UPDATE"` where rows are locked one by one (SQLite's single writer needs none).
    const FOR_UPDATE: &'static str;

    /// How long after its creation a webhook subscription starts to receive events, in
    /// milliseconds: 0 where one node sees every subscription change (SQLite); on several
    /// nodes, longer than the time a node may go on using its list of practices with
    /// webhooks before it reads it again (see `Store::webhook_activation_delay`).
    const WEBHOOK_DELAY_MS: i64;

    /// Reads of many rows spelled to return them as one JSON array in one row, where
    /// handing rows over one by one is what a long read costs (see [`packed`]). `None`:
    /// rows are read one by one.
    const PACKED: Option<&'static packed::PackedSql> = None;

    /// Maps a driver error: constraint violations become conflicts (the HTTP layer turns
    /// them into 409), lost connections and timeouts `Unavailable`, the rest `Internal`.
    fn map_err(e: sqlx::Error) -> StoreError;

    /// Rows changed by a statement (sqlx has no trait method for it).
    fn rows_affected(done: <Self::Db as Database>::QueryResult) -> u64;

    /// Begins a write transaction on `pool`. SQLite takes the file's write lock up front
    /// (`BEGIN IMMEDIATE`), so another process on the same file waits instead of failing.
    fn begin_write(pool: &DbPool<Self>) -> impl Future<Output = StoreResult<Tx<Self>>> + Send;

    /// Announces, on commit of `tx`, that `agenda`'s availability changed, for other
    /// processes sharing the database (PostgreSQL: NOTIFY). Called once per changed agenda.
    fn agenda_changed(
        tx: &mut Tx<Self>,
        agenda: &str,
    ) -> impl Future<Output = StoreResult<()>> + Send;

    /// Announces, on commit of `tx`, that outbox messages were queued, for the delivery
    /// workers of other processes (PostgreSQL: NOTIFY). In-process workers are woken by the
    /// service layer.
    fn outbox_changed(tx: &mut Tx<Self>) -> impl Future<Output = StoreResult<()>> + Send;

    /// A group commit's announcements: each of `agendas` changed, and messages were queued
    /// when `outbox`. By default one call each; PostgreSQL sends them in one statement (one
    /// round trip per group however many agendas it touched).
    fn announce(
        tx: &mut Tx<Self>,
        agendas: &[String],
        outbox: bool,
    ) -> impl Future<Output = StoreResult<()>> + Send {
        async move {
            for a in agendas {
                Self::agenda_changed(tx, a).await?;
            }
            if outbox {
                Self::outbox_changed(tx).await?;
            }
            Ok(())
        }
    }

    /// A group commit's queued messages (only new ones: no deletion, notice or webhook
    /// event), its confirmation batch and its announcements in one statement, where the
    /// backend can: PostgreSQL's does, so on the booking path the outbox costs a group no
    /// round trip of its own. `Ok(false)`: not done, the caller writes the messages and the
    /// batch and announces in separate steps.
    fn queue_and_announce(
        tx: &mut Tx<Self>,
        messages: &[&NewOutboxMessage],
        batch: Option<&ConfirmationBatch>,
        agendas: &[String],
    ) -> impl Future<Output = StoreResult<bool>> + Send {
        let _ = (tx, messages, batch, agendas);
        async { Ok(false) }
    }

    /// Starts calling `on_change` when another process queued outbox messages.
    fn watch_outbox(&self, on_change: OutboxWatcher) {
        let _ = on_change;
    }

    /// Makes `tx` the only appender of the audit chain until it ends, so the chain cannot
    /// fork (SQLite's single writer already does; PostgreSQL takes an advisory lock).
    fn lock_audit(tx: &mut Tx<Self>) -> impl Future<Output = StoreResult<()>> + Send;

    /// Runs `sql` (without parameters) inside `tx` unprepared: for statements written
    /// once, whose text would only push useful ones out of the statement cache.
    fn execute_unprepared(
        tx: &mut Tx<Self>,
        sql: &str,
    ) -> impl Future<Output = StoreResult<()>> + Send;

    /// Books or holds every dose of a series inside `tx`: [`Reservations::series_statements`]
    /// statement by statement, or the same steps in one server-side call.
    fn reserve_series(
        tx: &mut Tx<Self>,
        req: &SeriesRequest,
    ) -> impl Future<Output = StoreResult<Vec<ReservationRow>>> + Send;

    /// A group commit's series requests (each with at least one dose) in one call, where
    /// the backend can: PostgreSQL applies each under its own exception block in one
    /// server-side function (migration 0066). One outcome per request, in order. `Ok(None)`:
    /// not done, the caller runs each request on its own (under a savepoint). An `Err` means
    /// the transaction itself failed.
    fn series_group(
        tx: &mut Tx<Self>,
        reqs: &[&SeriesRequest],
    ) -> impl Future<Output = StoreResult<Option<Vec<GroupSeries>>>> + Send {
        let _ = (tx, reqs);
        async { Ok(None) }
    }

    /// A group commit's single holds and bookings in one call, where the backend can:
    /// PostgreSQL applies each under its own exception block in one server-side function
    /// (migration 0073), by the steps of `Reservations::reserve_in`. One outcome per
    /// request, in order. `Ok(None)`: not done, the caller runs each request on its own
    /// (under a savepoint). An `Err` means the transaction itself failed.
    fn reserve_group(
        tx: &mut Tx<Self>,
        reqs: &[&ReserveRequest],
    ) -> impl Future<Output = StoreResult<Option<Vec<GroupReserve>>>> + Send {
        let _ = (tx, reqs);
        async { Ok(None) }
    }

    /// A group commit's held series to book, in one call where the backend can:
    /// PostgreSQL applies each under its own exception block in one server-side function
    /// (migration 0075), by the steps of `Reservations::book_series_in`. One outcome per
    /// request, in order: the series' doses and whether they were booked now (false when
    /// they were booked already). `Ok(None)`: not done, the caller runs each request on its
    /// own (under a savepoint). An `Err` means the transaction itself failed.
    fn book_series_group(
        tx: &mut Tx<Self>,
        reqs: &[&BookSeriesRequest],
    ) -> impl Future<Output = StoreResult<Option<Vec<GroupBooked>>>> + Send {
        let _ = (tx, reqs);
        async { Ok(None) }
    }

    /// Starts delivering other processes' agenda changes to `on_change` (see
    /// `Store::watch_agendas`); a single-process backend has nothing to deliver.
    fn watch(&self, on_change: AgendaWatcher);

    /// Starts delivering every process's session changes to `on_signal`, with a heartbeat
    /// (see `Store::watch_sessions`); false where other processes cannot be heard, which
    /// turns session caches off.
    fn watch_sessions(&self, pool: &DbPool<Self>, on_signal: SessionWatcher) -> bool {
        let _ = (pool, on_signal);
        false
    }

    /// The waiting room shared by the nodes of the database (see `Store::shared_room`);
    /// `None` for a single-node backend.
    fn shared_room(&self, pool: &DbPool<Self>) -> Option<std::sync::Arc<dyn SharedRoom>> {
        let _ = pool;
        None
    }

    /// The video signalling relay between nodes (see `Store::signal_bus`); `None` for a
    /// single-node backend.
    fn signal_bus(&self, pool: &DbPool<Self>) -> Option<std::sync::Arc<dyn SignalBus>> {
        let _ = pool;
        None
    }
}

/// What [`Backend::series_group`] did with one series request.
#[derive(Debug)]
pub enum GroupSeries {
    /// Reserved (its doses, in order) or refused; its key, if any, recorded only if reserved.
    Done(StoreResult<Vec<ReservationRow>>),
    /// Its key was seen before: nothing done; the caller runs the request on its ordinary
    /// path, which replays that series or refuses another request.
    Replay,
}

/// What [`Backend::reserve_group`] did with one hold or booking request.
// Built once per request and moved once into its answer: boxing the row would add an
// allocation per booking for nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum GroupReserve {
    /// Reserved, or refused; its key, if any, recorded only if reserved.
    Done(StoreResult<ReservationRow>),
    /// Its key was seen before: nothing done; the caller runs the request on its ordinary
    /// path, which replays that reservation or refuses another request.
    Replay,
}

/// What [`Backend::book_series_group`] did with one held series: its doses and whether
/// they were booked now, or the refusal.
pub type GroupBooked = StoreResult<(Vec<ReservationRow>, bool)>;

/// A connection pool of backend `B`.
pub type DbPool<B> = sqlx::Pool<<B as Backend>::Db>;
/// A transaction of backend `B`.
pub type Tx<B> = sqlx::Transaction<'static, <B as Backend>::Db>;
/// A result row of backend `B`.
pub type DbRow<B> = <<B as Backend>::Db as Database>::Row;

/// careslot's store on the SQL database of `B`.
pub struct SqlStore<B: Backend> {
    backend: B,
    /// Where writes go (SQLite: its one writer connection).
    writer: DbPool<B>,
    /// Where reads go (SQLite: read-only connections; PostgreSQL: the same pool as writes).
    reader: DbPool<B>,
    group: GroupCommit,
    /// Told of this process's session writes as they end (see `Store::watch_sessions`).
    session_watchers: std::sync::RwLock<Vec<SessionWatcher>>,
}

impl<B: Backend> SqlStore<B>
where
    for<'c> &'c mut <B::Db as Database>::Connection: Executor<'c, Database = B::Db>,
    for<'q> <B::Db as Database>::Arguments<'q>: IntoArguments<'q, B::Db>,
    for<'q> &'q str: Encode<'q, B::Db> + Type<B::Db>,
    for<'q> &'q [u8]: Encode<'q, B::Db> + Type<B::Db>,
    for<'q> Option<&'q str>: Encode<'q, B::Db>,
    for<'q> Option<&'q [u8]>: Encode<'q, B::Db>,
    for<'q> Option<String>: Encode<'q, B::Db>,
    for<'q> Option<i64>: Encode<'q, B::Db>,
    for<'q, 'r> String: Encode<'q, B::Db> + Decode<'r, B::Db> + Type<B::Db>,
    for<'q, 'r> Vec<u8>: Encode<'q, B::Db> + Decode<'r, B::Db> + Type<B::Db>,
    for<'q, 'r> i64: Encode<'q, B::Db> + Decode<'r, B::Db> + Type<B::Db>,
    for<'q, 'r> f64: Encode<'q, B::Db> + Decode<'r, B::Db> + Type<B::Db>,
    for<'q, 'r> bool: Encode<'q, B::Db> + Decode<'r, B::Db> + Type<B::Db>,
    for<'s> &'s str: ColumnIndex<DbRow<B>>,
{
    /// A store over migrated pools: `writer` for writes, `reader` for reads (they may be
    /// the same pool), and `group_writers`, one group-commit writer thread each (see
    /// `reservations.rs`; on SQLite the one writer connection).
    pub fn new(
        backend: B,
        writer: DbPool<B>,
        reader: DbPool<B>,
        group_writers: Vec<DbPool<B>>,
    ) -> StoreResult<Self> {
        let group = Reservations::<B>::start_group_commit(group_writers)?;
        Ok(Self {
            backend,
            writer,
            reader,
            group,
            session_watchers: std::sync::RwLock::new(Vec::new()),
        })
    }
}

impl<B: Backend> SqlStore<B> {
    /// The pool writes go to.
    pub fn writer(&self) -> &DbPool<B> {
        &self.writer
    }

    /// The pool reads go to.
    pub fn reader(&self) -> &DbPool<B> {
        &self.reader
    }

    fn group_commit(&self) -> &GroupCommit {
        &self.group
    }

    /// Tells the session caches of this process that `signal` changed, whether or not the
    /// write that changed it succeeded (an outcome may be unknown; forgetting is always safe).
    fn sessions_changed(&self, signal: SessionSignal) {
        let watchers = match self.session_watchers.read() {
            Ok(w) => w,
            Err(poisoned) => poisoned.into_inner(),
        };
        for w in watchers.iter() {
            w(signal.clone());
        }
    }
}

/// An error that is nobody's fault but ours (a decoding failure, an impossible state).
pub fn internal(e: impl std::fmt::Display) -> StoreError {
    StoreError::Internal(e.to_string())
}

/// Commits `tx`. When COMMIT fails, its outcome is unknown unless the database refused it
/// (a conflict found at commit time): the connection may have been lost after the server
/// committed. Such failures are `Unavailable`, never `Internal`: the client is told to retry
/// with the same Idempotency-Key, which answers what was committed or writes it once.
pub async fn commit<B: Backend>(tx: Tx<B>) -> StoreResult<()> {
    tx.commit().await.map_err(|e| match B::map_err(e) {
        e @ (StoreError::Conflict(_) | StoreError::NotFound) => e,
        e => StoreError::Unavailable(format!("commit outcome unknown: {e}")),
    })
}

/// For `PoolOptions::after_release`: a connection that comes back still inside a transaction
/// (its COMMIT or ROLLBACK failed: disk full, I/O error, lost connection) is closed rather than
/// reused, so the next write starts on a clean connection as soon as the cause is gone. The
/// ping first flushes a rollback the dropped transaction queued.
pub fn release_clean<C: sqlx::Connection>(
    conn: &mut C,
    _meta: sqlx::pool::PoolConnectionMetadata,
) -> std::pin::Pin<Box<dyn Future<Output = Result<bool, sqlx::Error>> + Send + '_>> {
    Box::pin(async move {
        if conn.is_in_transaction() {
            if let Err(e) = conn.ping().await {
                tracing::warn!(error = %e, "closing a database connection that failed after an error");
                return Ok(false);
            }
            if conn.is_in_transaction() {
                tracing::warn!("closing a database connection left inside a failed transaction");
                return Ok(false);
            }
        }
        Ok(true)
    })
}

/// The database cannot be reached, or is busy beyond its timeout.
pub fn unavailable(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(e.to_string())
}
