//! The production store: PostgreSQL. Overlap is forbidden by an exclusion constraint
//! (agenda × time range × pool), pool capacity by conditional updates under a CHECK, and
//! every change to an agenda is announced with NOTIFY so that every app node can drop its
//! cached availability for that agenda.

pub mod backup;
mod notices;
pub mod sessions;
pub mod shared;
pub mod testing;

use careslot_domain::*;
use careslot_store::*;
use careslot_store_sql::{
    internal, release_clean, unavailable, Backend, ConfirmationBatch, DbPool, GroupBooked,
    GroupReserve, GroupSeries, SqlStore, Tx,
};
use sqlx::postgres::{PgPoolOptions, PgQueryResult};
use sqlx::Row;
use std::time::Duration;

/// NOTIFY channel carrying the id of an agenda whose availability changed.
pub const AGENDA_CHANNEL: &str = "careslot_agenda";

/// NOTIFY channel announcing that outbox messages were queued (no payload).
pub const OUTBOX_CHANNEL: &str = "careslot_outbox";

/// Booking writers (connections committing groups of holds and bookings in parallel).
const WRITERS: usize = 4;

/// Advisory lock serialising appends to the audit chain.
const AUDIT_LOCK: i64 = 0x6361_7265_736c_6f74;

/// PostgreSQL as a [`Backend`] of the shared [`SqlStore`]: several nodes share the database
/// and hear each other's agenda changes.
pub struct Postgres {
    /// This node's name in change announcements (see `notify`).
    node: String,
    /// The node's one listener, for every channel.
    notices: std::sync::Arc<notices::Notices>,
}

/// Opens careslot's store on PostgreSQL: what [`PgStore::connect`] returns is the shared
/// [`SqlStore`] running on [`Postgres`].
pub enum PgStore {}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

impl PgStore {
    /// Connects and runs migrations.
    pub async fn connect(url: &str, max_connections: u32) -> StoreResult<SqlStore<Postgres>> {
        let node = format!("careslot-{}", uuid::Uuid::new_v4().simple());
        let options = url
            .parse::<sqlx::postgres::PgConnectOptions>()
            .map_err(unavailable)?
            .application_name(&node);
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .after_release(release_clean)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options.clone())
            .await
            .map_err(unavailable)?;
        MIGRATOR
            .run(&pool)
            .await
            .map_err(|e| StoreError::Internal(format!("migration failed: {e}")))?;
        // The booking writers' own connections, opened from their own threads (see
        // GroupCommit); agendas are spread over them so that commits run in parallel.
        let writers = (0..WRITERS)
            .map(|_| {
                PgPoolOptions::new()
                    .max_connections(1)
                    .after_release(release_clean)
                    .acquire_timeout(Duration::from_secs(10))
                    .idle_timeout(None)
                    .max_lifetime(None)
                    .connect_lazy_with(options.clone())
            })
            .collect();
        let notices = notices::Notices::new(options);
        SqlStore::new(Postgres { node, notices }, pool.clone(), pool, writers)
    }
}

impl Backend for Postgres {
    type Db = sqlx::Postgres;
    const NAME: &'static str = "postgres";
    const MOTIVE_IDS_AGG: &'static str = "string_agg(rm.motive_id, ',')";
    const RESERVATIONS_AGG: &'static str = "string_agg(start_s::text || ',' || end_s::text \
        || ',' || (pool <> id)::int::text || ',' || COALESCE(expires_at::text, ''), ';')";
    const FLOORS_FROM_JSON: &'static str = "(SELECT x->>0 AS agenda_id, \
        (x->>1)::bigint AS floor_s, (x->>2)::bigint AS version \
        FROM jsonb_array_elements($1::jsonb) AS x)";
    /// Concurrent claimers (several nodes) skip each other's rows instead of waiting.
    const SKIP_LOCKED: &'static str = " FOR UPDATE SKIP LOCKED";
    const FOR_UPDATE: &'static str = " FOR UPDATE";
    /// Several nodes: each re-reads its list of practices with webhooks at least every
    /// second (a fifth of this), so a subscription is known everywhere before it is active.
    const WEBHOOK_DELAY_MS: i64 = 5_000;

    /// Maps driver errors: constraint violations become conflicts the HTTP layer turns into
    /// 409; lost connections, a server shutting down or refusing connections `Unavailable`
    /// (503, retry); the rest internal.
    fn map_err(e: sqlx::Error) -> StoreError {
        match &e {
            sqlx::Error::Database(db) => {
                match map_sqlstate(db.code().as_deref(), db.constraint(), db.message()) {
                    Mapped::Store(mapped) => mapped,
                    Mapped::Unavailable => unavailable(e),
                    Mapped::Internal => internal(e),
                }
            }
            // Lost or unobtainable connections: nothing the request did; it may be retried
            // (with the same Idempotency-Key, as the outcome of a write may be unknown).
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::Protocol(_)
            | sqlx::Error::WorkerCrashed
            | sqlx::Error::InvalidSavePointStatement => unavailable(e),
            _ => internal(e),
        }
    }

    fn rows_affected(done: PgQueryResult) -> u64 {
        done.rows_affected()
    }

    async fn begin_write(pool: &DbPool<Self>) -> StoreResult<Tx<Self>> {
        pool.begin().await.map_err(Self::map_err)
    }

    /// Announces, on commit, that an agenda's availability changed (every node listens).
    async fn agenda_changed(tx: &mut Tx<Self>, agenda: &str) -> StoreResult<()> {
        notify(tx, agenda).await
    }

    /// One statement for all of a group's announcements (the agendas' payloads name this
    /// node, as [`notify`]'s do).
    async fn announce(tx: &mut Tx<Self>, agendas: &[String], outbox: bool) -> StoreResult<()> {
        if agendas.is_empty() && !outbox {
            return Ok(());
        }
        sqlx::query(
            "SELECT count(pg_notify(n.channel, n.payload))
               FROM (SELECT $1::text AS channel,
                            current_setting('application_name') || ' ' || a AS payload
                       FROM unnest($2::text[]) AS a
                     UNION ALL
                     SELECT $3::text, '' WHERE $4) AS n",
        )
        .bind(AGENDA_CHANNEL)
        .bind(agendas)
        .bind(OUTBOX_CHANNEL)
        .bind(outbox)
        .execute(&mut **tx)
        .await
        .map_err(Self::map_err)?;
        Ok(())
    }

    /// The group's new messages as arrays unnested into the outbox by a data-modifying CTE
    /// of the announcing statement: one round trip for both, and one prepared statement
    /// whatever the group's size.
    async fn queue_and_announce(
        tx: &mut Tx<Self>,
        messages: &[&NewOutboxMessage],
        batch: Option<&ConfirmationBatch>,
        agendas: &[String],
    ) -> StoreResult<bool> {
        if messages.is_empty() && batch.is_none() {
            Self::announce(tx, agendas, false).await?;
            return Ok(true);
        }
        if let (true, Some(batch)) = (messages.is_empty(), batch) {
            // A group of bookings: only its confirmations. A statement without the arrays of
            // the general case, so it costs PostgreSQL less to plan.
            sqlx::query(
                "WITH batched AS (
                     INSERT INTO outbox_batches (id, entries, size, attempts, created_at)
                     VALUES ($4, $5, $6, 0, $7)
                 )
                 SELECT count(pg_notify(n.channel, n.payload))
                   FROM (SELECT $1::text AS channel,
                                current_setting('application_name') || ' ' || a AS payload
                           FROM unnest($2::text[]) AS a
                         UNION ALL
                         SELECT $3::text, '') AS n",
            )
            .bind(AGENDA_CHANNEL)
            .bind(agendas)
            .bind(OUTBOX_CHANNEL)
            .bind(batch.id.as_str())
            .bind(batch.entries.as_str())
            .bind(batch.size as i32)
            .bind(batch.created_at)
            .execute(&mut **tx)
            .await
            .map_err(Self::map_err)?;
            return Ok(true);
        }
        let n = messages.len();
        let mut id = Vec::with_capacity(n);
        let mut channel = Vec::with_capacity(n);
        let mut dedupe_key = Vec::with_capacity(n);
        let mut account = Vec::with_capacity(n);
        let mut payload: Vec<Option<&[u8]>> = Vec::with_capacity(n);
        let mut available_at = Vec::with_capacity(n);
        let mut created_at = Vec::with_capacity(n);
        let mut subject: Vec<Option<&str>> = Vec::with_capacity(n);
        let mut intent: Vec<Option<&str>> = Vec::with_capacity(n);
        let mut reservation: Vec<Option<&str>> = Vec::with_capacity(n);
        let mut start_at: Vec<Option<i64>> = Vec::with_capacity(n);
        let mut previous_at: Vec<Option<i64>> = Vec::with_capacity(n);
        for m in messages {
            id.push(m.id.as_str());
            channel.push(m.channel.code());
            dedupe_key.push(m.dedupe_key.as_str());
            account.push(m.account_id.as_str());
            available_at.push(m.available_at.as_millisecond());
            created_at.push(m.created_at.as_millisecond());
            subject.push(m.subject_account_id.as_ref().map(|a| a.as_str()));
            match &m.payload {
                OutboxPayload::Sealed(ct) => {
                    payload.push(Some(ct.as_slice()));
                    intent.push(None);
                    reservation.push(None);
                    start_at.push(None);
                    previous_at.push(None);
                }
                OutboxPayload::Intent(i) => {
                    payload.push(None);
                    intent.push(Some(i.kind.code()));
                    reservation.push(Some(i.reservation_id.as_str()));
                    start_at.push(Some(i.start.as_millisecond()));
                    previous_at.push(i.previous_start.map(|t| t.as_millisecond()));
                }
            }
        }
        sqlx::query(
            "WITH queued AS (
                 INSERT INTO outbox (id, channel, dedupe_key, account_id, payload_ct, attempts,
                                     available_at, created_at, subject_account_id, intent,
                                     reservation_id, start_at, previous_at)
                 SELECT m.id, m.channel, m.dedupe_key, m.account_id, m.payload_ct, 0,
                        m.available_at, m.created_at, m.subject, m.intent, m.reservation,
                        m.start_at, m.previous_at
                   FROM unnest($5::text[], $6::text[], $7::text[], $8::text[], $9::bytea[],
                               $10::int8[], $11::int8[], $12::text[], $13::text[], $14::text[],
                               $15::int8[], $16::int8[])
                        AS m(id, channel, dedupe_key, account_id, payload_ct, available_at,
                             created_at, subject, intent, reservation, start_at, previous_at)
                 ON CONFLICT (dedupe_key) DO NOTHING
             ), batched AS (
                 INSERT INTO outbox_batches (id, entries, size, attempts, created_at)
                 SELECT $17::text, $18::text, $19::int4, 0, $20::int8 WHERE $17::text IS NOT NULL
             )
             SELECT count(pg_notify(n.channel, n.payload))
               FROM (SELECT $1::text AS channel,
                            current_setting('application_name') || ' ' || a AS payload
                       FROM unnest($2::text[]) AS a
                     UNION ALL
                     SELECT $3::text, '' WHERE $4) AS n",
        )
        .bind(AGENDA_CHANNEL)
        .bind(agendas)
        .bind(OUTBOX_CHANNEL)
        .bind(true)
        .bind(id)
        .bind(channel)
        .bind(dedupe_key)
        .bind(account)
        .bind(payload)
        .bind(available_at)
        .bind(created_at)
        .bind(subject)
        .bind(intent)
        .bind(reservation)
        .bind(start_at)
        .bind(previous_at)
        .bind(batch.map(|b| b.id.as_str()))
        .bind(batch.map(|b| b.entries.as_str()))
        .bind(batch.map(|b| b.size as i32))
        .bind(batch.map(|b| b.created_at))
        .execute(&mut **tx)
        .await
        .map_err(Self::map_err)?;
        Ok(true)
    }

    /// Wakes every node's delivery workers on commit.
    async fn outbox_changed(tx: &mut Tx<Self>) -> StoreResult<()> {
        sqlx::query("SELECT pg_notify($1, '')")
            .bind(OUTBOX_CHANNEL)
            .execute(&mut **tx)
            .await
            .map_err(Self::map_err)?;
        Ok(())
    }

    /// Other nodes' queued messages arrive as NOTIFY; after a reconnection the workers are
    /// woken once (announcements may have been lost; their polling covers the rest).
    fn watch_outbox(&self, on_change: OutboxWatcher) {
        self.notices
            .subscribe(OUTBOX_CHANNEL, move |notice| match notice {
                notices::Notice::Listening | notices::Notice::Notified(_) => on_change(),
                notices::Notice::Lost => {}
            });
    }

    /// One appender at a time across every node: the chain cannot fork.
    async fn lock_audit(tx: &mut Tx<Self>) -> StoreResult<()> {
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(AUDIT_LOCK)
            .execute(&mut **tx)
            .await
            .map_err(Self::map_err)?;
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

    /// A series in one round trip: the steps of `Reservations::series_statements`, run by the
    /// server-side function of migration 0007 (the rush's hot write).
    async fn reserve_series(
        tx: &mut Tx<Self>,
        req: &SeriesRequest,
    ) -> StoreResult<Vec<ReservationRow>> {
        let d = &req.doses;
        let r = |f: fn(&SeriesDose) -> String| d.iter().map(f).collect::<Vec<String>>();
        let rows = sqlx::query(
            "SELECT * FROM careslot_reserve_series($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
        )
        .bind(&req.id)
        .bind(i64::from(req.protocol_version))
        .bind(req.now.as_second())
        .bind(r(|x| x.reservation.id.to_string()))
        .bind(r(|x| x.reservation.agenda_id.to_string()))
        .bind(r(|x| x.reservation.motive_id.to_string()))
        .bind(d.iter().map(|x| x.reservation.motive_ct.clone()).collect::<Vec<_>>())
        .bind(d.iter().map(|x| x.reservation.patient_ct.clone()).collect::<Vec<_>>())
        .bind(d.iter().map(|x| x.reservation.patient_bidx).collect::<Vec<_>>())
        .bind(d.iter().map(|x| x.reservation.note_ct.clone()).collect::<Vec<_>>())
        .bind(d.iter().map(|x| x.reservation.relative_ct.clone()).collect::<Vec<_>>())
        .bind(d.iter().map(|x| x.reservation.start.as_second()).collect::<Vec<_>>())
        .bind(r(|x| x.day.to_string()))
        .bind(
            d.iter()
                .map(|x| x.reservation.hold_until.map(|t| t.as_second()))
                .collect::<Vec<_>>(),
        )
        .bind(r(|x| x.product.code().to_owned()))
        .fetch_all(&mut **tx)
        .await
        .map_err(Self::map_err)?;
        rows.iter()
            .map(SqlStore::<Self>::reservation_from_row)
            .collect()
    }

    /// The group's series in one call of `careslot_series_group` (migration 0066).
    async fn series_group(
        tx: &mut Tx<Self>,
        reqs: &[&SeriesRequest],
    ) -> StoreResult<Option<Vec<GroupSeries>>> {
        series_group(tx, reqs).await.map(Some)
    }

    /// Single holds and bookings in one call (migration 0073).
    async fn reserve_group(
        tx: &mut Tx<Self>,
        reqs: &[&ReserveRequest],
    ) -> StoreResult<Option<Vec<GroupReserve>>> {
        reserve_group(tx, reqs).await.map(Some)
    }

    /// Held series booked in one call (migration 0075).
    async fn book_series_group(
        tx: &mut Tx<Self>,
        reqs: &[&BookSeriesRequest],
    ) -> StoreResult<Option<Vec<GroupBooked>>> {
        book_series_group(tx, reqs).await.map(Some)
    }

    /// Every node's session changes through migration 0072's triggers, with a heartbeat.
    fn watch_sessions(&self, pool: &DbPool<Self>, on_signal: SessionWatcher) -> bool {
        sessions::watch(pool, &self.notices, on_signal);
        true
    }

    /// The waiting room's row (migration 0020), shared by every node.
    fn shared_room(&self, pool: &DbPool<Self>) -> Option<std::sync::Arc<dyn SharedRoom>> {
        Some(std::sync::Arc::new(shared::PgRoom {
            pool: pool.clone(),
            notices: self.notices.clone(),
        }))
    }

    /// Video signalling between nodes through `video_signals` and NOTIFY.
    fn signal_bus(&self, pool: &DbPool<Self>) -> Option<std::sync::Arc<dyn SignalBus>> {
        Some(std::sync::Arc::new(shared::PgSignals {
            pool: pool.clone(),
            node: self.node.clone(),
            notices: self.notices.clone(),
        }))
    }

    /// Other nodes' writes arrive as NOTIFY; a lost connection means anything may have changed.
    fn watch(&self, on_change: AgendaWatcher) {
        let own = format!("{} ", self.node);
        self.notices
            .subscribe(AGENDA_CHANNEL, move |notice| match notice {
                // Anything may have changed while we were not listening.
                notices::Notice::Listening => on_change(None),
                // This node updated its views in place when it wrote.
                notices::Notice::Notified(payload) if payload.starts_with(&own) => {}
                notices::Notice::Notified(payload) => {
                    let agenda = payload.rsplit(' ').next().unwrap_or(payload);
                    on_change(Some(AgendaId(agenda.to_owned())));
                }
                notices::Notice::Lost => {}
            });
    }
}

/// What a database error's SQLSTATE (with its constraint and message) means to the store.
enum Mapped {
    Store(StoreError),
    Unavailable,
    Internal,
}

/// The store's reading of an error raised by PostgreSQL, whether a statement returned it or
/// the group function caught it in a request's exception block (migration 0066).
fn map_sqlstate(code: Option<&str>, constraint: Option<&str>, message: &str) -> Mapped {
    match code {
        Some("23P01") => Mapped::Store(StoreError::Conflict(ConflictKind::SlotTaken)),
        Some("23505") if constraint == Some("accounts_email_uniq_key") => {
            Mapped::Store(StoreError::Conflict(ConflictKind::EmailTaken))
        }
        Some("23505") => Mapped::Store(StoreError::Conflict(ConflictKind::Duplicate)),
        Some("23503") => Mapped::Store(StoreError::NotFound),
        // A visit status on an appointment that is not booked (migration 0045).
        Some("23514") if constraint.is_some_and(|c| c.starts_with("reservations_visit_")) => {
            Mapped::Store(StoreError::Conflict(ConflictKind::NotLive))
        }
        // Deadlock or serialization failure: nothing was written; the caller may retry.
        Some("40P01") | Some("40001") => {
            Mapped::Store(StoreError::Conflict(ConflictKind::SlotTaken))
        }
        // Refusals raised by the series functions (migrations 0007, 0066, 0075).
        Some("P0001") => match message {
            "careslot_not_found" => Mapped::Store(StoreError::NotFound),
            "careslot_capacity" => {
                Mapped::Store(StoreError::Conflict(ConflictKind::CapacityExhausted))
            }
            "careslot_stock" => Mapped::Store(StoreError::Conflict(ConflictKind::StockExhausted)),
            // Raised by the held series' group function (migration 0075).
            "careslot_hold_expired" => Mapped::Store(StoreError::HoldExpired),
            "careslot_not_live" => Mapped::Store(StoreError::Conflict(ConflictKind::NotLive)),
            "careslot_key_mismatch" => Mapped::Store(StoreError::IdempotencyMismatch),
            _ => Mapped::Internal,
        },
        Some(code) if is_connection_class(code) => Mapped::Unavailable,
        _ => Mapped::Internal,
    }
}

/// A group's series as arrays for `careslot_series_group` (migration 0066), and the
/// outcome of each request from the rows it returns.
async fn series_group(
    tx: &mut Tx<Postgres>,
    reqs: &[&SeriesRequest],
) -> StoreResult<Vec<GroupSeries>> {
    let doses = reqs.iter().map(|r| r.doses.len()).sum::<usize>();
    let mut s_nows = Vec::with_capacity(reqs.len());
    let mut s_ids = Vec::with_capacity(reqs.len());
    let mut s_protocols = Vec::with_capacity(reqs.len());
    let mut s_keys: Vec<Option<&str>> = Vec::with_capacity(reqs.len());
    let mut s_hashes: Vec<Option<&str>> = Vec::with_capacity(reqs.len());
    let mut s_first = Vec::with_capacity(reqs.len());
    let mut s_count = Vec::with_capacity(reqs.len());
    let mut columns = Columns::with_capacity(doses);
    let mut days = Vec::with_capacity(doses);
    let mut products = Vec::with_capacity(doses);
    for req in reqs {
        s_nows.push(req.now.as_second());
        s_ids.push(req.id.as_str());
        s_protocols.push(i64::from(req.protocol_version));
        s_keys.push(req.key.as_ref().map(|k| k.key_hash.as_str()));
        s_hashes.push(req.key.as_ref().map(|k| k.request_hash.as_str()));
        s_first.push(columns.ids.len() as i32 + 1);
        s_count.push(req.doses.len() as i32);
        for d in &req.doses {
            columns.push(&d.reservation);
            days.push(d.day.to_string());
            products.push(d.product.code());
        }
    }
    let query = sqlx::query(
        "SELECT g.o_req, g.o_state, g.o_sqlstate, g.o_message, g.o_constraint, (g.o_row).*
           FROM careslot_series_group($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13,
                                      $14, $15, $16, $17, $18, $19) AS g",
    )
    .bind(s_nows)
    .bind(s_ids)
    .bind(s_protocols)
    .bind(s_keys)
    .bind(s_hashes)
    .bind(s_first)
    .bind(s_count);
    let rows = columns
        .bind_to(query, days)
        .bind(products)
        .fetch_all(&mut **tx)
        .await
        .map_err(Postgres::map_err)?;
    let mut out: Vec<GroupSeries> = reqs
        .iter()
        .map(|_| GroupSeries::Done(Ok(Vec::new())))
        .collect();
    for row in &rows {
        let (slot, state) = outcome_of(row, &mut out, "series group")?;
        match state.as_str() {
            "ok" => {
                let r = SqlStore::<Postgres>::reservation_from_row(row)?;
                if let GroupSeries::Done(Ok(rows)) = slot {
                    rows.push(r);
                }
            }
            "replay" => *slot = GroupSeries::Replay,
            _ => *slot = GroupSeries::Done(Err(group_refusal(row, "series group")?)),
        }
    }
    Ok(out)
}

/// A group's held series as arrays for `careslot_book_series_group` (migration 0075), and
/// the outcome of each request from the rows it returns.
async fn book_series_group(
    tx: &mut Tx<Postgres>,
    reqs: &[&BookSeriesRequest],
) -> StoreResult<Vec<GroupBooked>> {
    let nows: Vec<i64> = reqs.iter().map(|r| r.now.as_second()).collect();
    let series: Vec<&str> = reqs.iter().map(|r| r.series_id.as_str()).collect();
    let bidxs: Vec<i64> = reqs.iter().map(|r| r.patient_bidx).collect();
    let keys: Vec<Option<&str>> = reqs
        .iter()
        .map(|r| r.key.as_ref().map(|k| k.key_hash.as_str()))
        .collect();
    let hashes: Vec<Option<&str>> = reqs
        .iter()
        .map(|r| r.key.as_ref().map(|k| k.request_hash.as_str()))
        .collect();
    let rows = sqlx::query(
        "SELECT g.o_req, g.o_state, g.o_sqlstate, g.o_message, g.o_constraint, g.o_fresh,
                (g.o_row).*
           FROM careslot_book_series_group($1, $2, $3, $4, $5) AS g",
    )
    .bind(nows)
    .bind(series)
    .bind(bidxs)
    .bind(keys)
    .bind(hashes)
    .fetch_all(&mut **tx)
    .await
    .map_err(Postgres::map_err)?;
    let mut out: Vec<GroupBooked> = reqs.iter().map(|_| Ok((Vec::new(), false))).collect();
    for row in &rows {
        let (slot, state) = outcome_of(row, &mut out, "book series group")?;
        if state == "ok" {
            let r = SqlStore::<Postgres>::reservation_from_row(row)?;
            let fresh: bool = row.try_get("o_fresh").map_err(internal)?;
            if let Ok((rows, newly_booked)) = slot {
                rows.push(r);
                *newly_booked = fresh;
            }
        } else {
            *slot = Err(group_refusal(row, "book series group")?);
        }
    }
    Ok(out)
}

/// The request a group function's row answers (its 1-based `o_req`, as the place in
/// `out`) and the row's state.
fn outcome_of<'o, T>(
    row: &sqlx::postgres::PgRow,
    out: &'o mut [T],
    function: &str,
) -> StoreResult<(&'o mut T, String)> {
    let req: i32 = row.try_get("o_req").map_err(internal)?;
    let slot = usize::try_from(req)
        .ok()
        .and_then(|i| i.checked_sub(1))
        .and_then(|i| out.get_mut(i))
        .ok_or_else(|| StoreError::Internal(format!("{function}: unknown request")))?;
    let state: String = row.try_get("o_state").map_err(internal)?;
    Ok((slot, state))
}

/// The reservation columns both group functions take as arrays, one entry per reservation
/// (migrations 0066, 0073): ids to starts, then the caller's days, then the holds' ends.
struct Columns<'a> {
    ids: Vec<&'a str>,
    agendas: Vec<&'a str>,
    motives: Vec<&'a str>,
    motive_cts: Vec<&'a [u8]>,
    patient_cts: Vec<&'a [u8]>,
    bidxs: Vec<i64>,
    note_cts: Vec<Option<&'a [u8]>>,
    relative_cts: Vec<Option<&'a [u8]>>,
    starts: Vec<i64>,
    hold_untils: Vec<Option<i64>>,
}

impl<'a> Columns<'a> {
    fn with_capacity(n: usize) -> Self {
        Self {
            ids: Vec::with_capacity(n),
            agendas: Vec::with_capacity(n),
            motives: Vec::with_capacity(n),
            motive_cts: Vec::with_capacity(n),
            patient_cts: Vec::with_capacity(n),
            bidxs: Vec::with_capacity(n),
            note_cts: Vec::with_capacity(n),
            relative_cts: Vec::with_capacity(n),
            starts: Vec::with_capacity(n),
            hold_untils: Vec::with_capacity(n),
        }
    }

    fn push(&mut self, r: &'a ReserveRequest) {
        self.ids.push(r.id.as_str());
        self.agendas.push(r.agenda_id.as_str());
        self.motives.push(r.motive_id.as_str());
        self.motive_cts.push(r.motive_ct.as_slice());
        self.patient_cts.push(r.patient_ct.as_slice());
        self.bidxs.push(r.patient_bidx);
        self.note_cts.push(r.note_ct.as_deref());
        self.relative_cts.push(r.relative_ct.as_deref());
        self.starts.push(r.start.as_second());
        self.hold_untils.push(r.hold_until.map(|t| t.as_second()));
    }

    /// Binds the columns in the functions' order, with `days` between the starts and the
    /// holds' ends.
    fn bind_to<'q, D>(
        self,
        query: sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>,
        days: D,
    ) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>
    where
        'a: 'q,
        D: 'q + Send + sqlx::Encode<'q, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>,
    {
        query
            .bind(self.ids)
            .bind(self.agendas)
            .bind(self.motives)
            .bind(self.motive_cts)
            .bind(self.patient_cts)
            .bind(self.bidxs)
            .bind(self.note_cts)
            .bind(self.relative_cts)
            .bind(self.starts)
            .bind(days)
            .bind(self.hold_untils)
    }
}

/// A group's single holds and bookings as arrays for `careslot_reserve_group` (migration
/// 0073), and the function's one row per request read back.
async fn reserve_group(
    tx: &mut Tx<Postgres>,
    reqs: &[&ReserveRequest],
) -> StoreResult<Vec<GroupReserve>> {
    let n = reqs.len();
    let mut nows = Vec::with_capacity(n);
    let mut columns = Columns::with_capacity(n);
    let mut days: Vec<Option<String>> = Vec::with_capacity(n);
    let mut keys: Vec<Option<&str>> = Vec::with_capacity(n);
    let mut hashes: Vec<Option<&str>> = Vec::with_capacity(n);
    for r in reqs {
        nows.push(r.now.as_second());
        columns.push(r);
        days.push(r.day.map(|d| d.to_string()));
        keys.push(r.idempotency.as_ref().map(|k| k.key_hash.as_str()));
        hashes.push(r.idempotency.as_ref().map(|k| k.request_hash.as_str()));
    }
    let query = sqlx::query(
        "SELECT g.o_req, g.o_state, g.o_sqlstate, g.o_message, g.o_constraint, (g.o_row).*
           FROM careslot_reserve_group($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13,
                                       $14) AS g",
    )
    .bind(nows);
    let rows = columns
        .bind_to(query, days)
        .bind(keys)
        .bind(hashes)
        .fetch_all(&mut **tx)
        .await
        .map_err(Postgres::map_err)?;
    if rows.len() != n {
        return Err(StoreError::Internal(
            "reserve group: one row per request expected".into(),
        ));
    }
    let mut out = Vec::with_capacity(n);
    for (i, row) in rows.iter().enumerate() {
        let req: i32 = row.try_get("o_req").map_err(internal)?;
        if usize::try_from(req).ok() != Some(i + 1) {
            return Err(StoreError::Internal(
                "reserve group: rows out of order".into(),
            ));
        }
        let state: String = row.try_get("o_state").map_err(internal)?;
        out.push(match state.as_str() {
            "ok" => GroupReserve::Done(Ok(SqlStore::<Postgres>::reservation_from_row(row)?)),
            "replay" => GroupReserve::Replay,
            _ => GroupReserve::Done(Err(group_refusal(row, "reserve group")?)),
        });
    }
    Ok(out)
}

/// The error a group function caught in a request's exception block, mapped as the same
/// error returned by a statement would be.
fn group_refusal(row: &sqlx::postgres::PgRow, function: &str) -> StoreResult<StoreError> {
    let code: Option<String> = row.try_get("o_sqlstate").map_err(internal)?;
    let message: Option<String> = row.try_get("o_message").map_err(internal)?;
    let constraint: Option<String> = row.try_get("o_constraint").map_err(internal)?;
    let message = message.unwrap_or_default();
    Ok(
        match map_sqlstate(code.as_deref(), constraint.as_deref(), &message) {
            Mapped::Store(e) => e,
            Mapped::Unavailable => StoreError::Unavailable(message),
            Mapped::Internal => StoreError::Internal(format!(
                "{function}: {}: {message}",
                code.unwrap_or_default()
            )),
        },
    )
}

/// SQLSTATEs that say the connection or the server failed, not the request: class 08
/// (connection exception), 57P01–57P03 (admin shutdown, crash shutdown, cannot connect now,
/// e.g. `pg_terminate_backend`), 53300 (too many connections), 57014 (statement cancelled).
fn is_connection_class(code: &str) -> bool {
    code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03" | "53300" | "57014")
}

/// Announces, on commit of the surrounding transaction, that an agenda's availability changed.
async fn notify(conn: &mut sqlx::PgConnection, agenda: &str) -> StoreResult<()> {
    // The payload names the sending node (its connections' application_name) so that a node
    // skips its own announcements: it has already updated its views in place.
    sqlx::query("SELECT pg_notify($1, current_setting('application_name') || ' ' || $2)")
        .bind(AGENDA_CHANNEL)
        .bind(agenda)
        .execute(conn)
        .await
        .map_err(Postgres::map_err)?;
    Ok(())
}
