//! What the nodes of one PostgreSQL database share besides the domain's tables (migration
//! 0020): the waiting room's row, and the relay of video signalling. Changes are announced
//! with NOTIFY; a NOTIFY payload is small (under 8,000 bytes), so signalling envelopes go
//! into a table and the announcement carries only their id.

use careslot_store::{RoomRecord, RoomWatcher, SharedRoom, SignalBus, SignalWatcher, StoreResult};
use careslot_store_sql::Backend;
use sqlx::postgres::PgRow;
use sqlx::{PgPool, Row};
use std::sync::Arc;

use crate::notices::{Notice, Notices};
use crate::Postgres;

/// NOTIFY channel announcing a new waiting-room session (no payload).
pub const ROOM_CHANNEL: &str = "careslot_waiting_room";

/// NOTIFY channel carrying "<node> <id>" of a signalling envelope in `video_signals`.
pub const SIGNAL_CHANNEL: &str = "careslot_video";

/// How long envelopes stay in `video_signals` (every node has read them long before).
const SIGNAL_KEEP_MS: i64 = 60_000;

fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

/// The waiting room's row.
pub struct PgRoom {
    pub(crate) pool: PgPool,
    pub(crate) notices: Arc<Notices>,
}

fn record(row: &PgRow) -> StoreResult<RoomRecord> {
    let get = || -> Result<RoomRecord, sqlx::Error> {
        Ok(RoomRecord {
            generation: row.try_get("generation")?,
            active: row.try_get("active")?,
            operator_enabled: row.try_get("operator_enabled")?,
            auto_active: row.try_get("auto_active")?,
            started_ms: row.try_get("started_ms")?,
            opening_ms: row.try_get("opening_ms")?,
            base: row.try_get("base")?,
            base_ms: row.try_get("base_ms")?,
            rate: row.try_get("rate")?,
            before_opening: row.try_get("before_opening")?,
            after_opening: row.try_get("after_opening")?,
            last_busy_ms: row.try_get("last_busy_ms")?,
        })
    };
    get().map_err(Postgres::map_err)
}

#[async_trait::async_trait]
impl SharedRoom for PgRoom {
    async fn load(&self) -> StoreResult<RoomRecord> {
        let select = || sqlx::query("SELECT * FROM waiting_room WHERE id = 1");
        if let Some(row) = select()
            .fetch_optional(&self.pool)
            .await
            .map_err(Postgres::map_err)?
        {
            return record(&row);
        }
        // The first read creates the row (the migration leaves the database empty).
        sqlx::query("INSERT INTO waiting_room (id) VALUES (1) ON CONFLICT (id) DO NOTHING")
            .execute(&self.pool)
            .await
            .map_err(Postgres::map_err)?;
        let row = select()
            .fetch_one(&self.pool)
            .await
            .map_err(Postgres::map_err)?;
        record(&row)
    }

    async fn replace(&self, expected: i64, n: &RoomRecord) -> StoreResult<Option<RoomRecord>> {
        let mut tx = self.pool.begin().await.map_err(Postgres::map_err)?;
        let row = sqlx::query(
            "UPDATE waiting_room SET generation = generation + 1, active = $2,
                    operator_enabled = $3, auto_active = $4, started_ms = $5, opening_ms = $6,
                    base = $7, base_ms = $8, rate = $9, before_opening = $10,
                    after_opening = $11, last_busy_ms = GREATEST(last_busy_ms, $12)
              WHERE id = 1 AND generation = $1
          RETURNING *",
        )
        .bind(expected)
        .bind(n.active)
        .bind(n.operator_enabled)
        .bind(n.auto_active)
        .bind(n.started_ms)
        .bind(n.opening_ms)
        .bind(n.base)
        .bind(n.base_ms)
        .bind(n.rate)
        .bind(n.before_opening)
        .bind(n.after_opening)
        .bind(n.last_busy_ms)
        .fetch_optional(&mut *tx)
        .await
        .map_err(Postgres::map_err)?;
        let Some(row) = row else {
            return Ok(None);
        };
        let stored = record(&row)?;
        sqlx::query("SELECT pg_notify($1, '')")
            .bind(ROOM_CHANNEL)
            .execute(&mut *tx)
            .await
            .map_err(Postgres::map_err)?;
        tx.commit().await.map_err(Postgres::map_err)?;
        Ok(Some(stored))
    }

    async fn take_place(&self, now_ms: i64) -> StoreResult<RoomRecord> {
        // An inactive room counts nothing: read it without writing.
        let row = sqlx::query(
            "UPDATE waiting_room SET
                    before_opening = before_opening + CASE WHEN $1 < opening_ms THEN 1 ELSE 0 END,
                    after_opening = after_opening + CASE WHEN $1 >= opening_ms THEN 1 ELSE 0 END
              WHERE id = 1 AND active
          RETURNING *",
        )
        .bind(now_ms)
        .fetch_optional(&self.pool)
        .await
        .map_err(Postgres::map_err)?;
        match row {
            Some(row) => record(&row),
            None => self.load().await,
        }
    }

    async fn note_busy(&self, now_ms: i64) -> StoreResult<()> {
        sqlx::query("UPDATE waiting_room SET last_busy_ms = $1 WHERE id = 1 AND last_busy_ms < $1")
            .bind(now_ms)
            .execute(&self.pool)
            .await
            .map_err(Postgres::map_err)?;
        Ok(())
    }

    fn watch(&self, on_change: RoomWatcher) {
        self.notices
            .subscribe(ROOM_CHANNEL, move |notice| match notice {
                Notice::Listening | Notice::Notified(_) => on_change(),
                Notice::Lost => {}
            });
    }
}

/// Video signalling between nodes: envelopes in `video_signals`, their ids in NOTIFY.
pub struct PgSignals {
    pub(crate) pool: PgPool,
    /// This node's name (its connections' application_name): its own envelopes are skipped.
    pub(crate) node: String,
    pub(crate) notices: Arc<Notices>,
}

#[async_trait::async_trait]
impl SignalBus for PgSignals {
    async fn publish(&self, envelope: &str) -> StoreResult<()> {
        // One statement, one implicit transaction: the NOTIFY is sent once the row is there.
        sqlx::query(
            "WITH e AS (INSERT INTO video_signals (body, created_ms) VALUES ($1, $2) RETURNING id)
             SELECT pg_notify($3, current_setting('application_name') || ' ' || e.id) FROM e",
        )
        .bind(envelope)
        .bind(now_ms())
        .bind(SIGNAL_CHANNEL)
        .execute(&self.pool)
        .await
        .map_err(Postgres::map_err)?;
        Ok(())
    }

    fn subscribe(&self, on_signal: SignalWatcher) {
        // The listener's handlers must not wait: the ids go to a task that reads the
        // envelopes. After a lost connection, envelopes sent meanwhile are lost; the pages
        // renegotiate.
        let (ids, mut arrived) = tokio::sync::mpsc::unbounded_channel::<i64>();
        let own = format!("{} ", self.node);
        self.notices.subscribe(SIGNAL_CHANNEL, move |notice| {
            let Notice::Notified(payload) = notice else {
                return;
            };
            if payload.starts_with(&own) {
                return;
            }
            if let Some(id) = payload
                .rsplit(' ')
                .next()
                .and_then(|s| s.parse::<i64>().ok())
            {
                // Fails only once the reading task is gone, with the runtime.
                let _ = ids.send(id);
            }
        });
        let pool = self.pool.clone();
        tokio::spawn(async move {
            let mut last_sweep = 0i64;
            while let Some(id) = arrived.recv().await {
                match sqlx::query_scalar::<_, String>(
                    "SELECT body FROM video_signals WHERE id = $1",
                )
                .bind(id)
                .fetch_optional(&pool)
                .await
                {
                    Ok(Some(body)) => on_signal(body),
                    Ok(None) => {}
                    Err(e) => tracing::warn!(error = %e, "video signal unreadable"),
                }
                let now = now_ms();
                if now - last_sweep > SIGNAL_KEEP_MS / 2 {
                    last_sweep = now;
                    let _ = sqlx::query("DELETE FROM video_signals WHERE created_ms < $1")
                        .bind(now - SIGNAL_KEEP_MS)
                        .execute(&pool)
                        .await;
                }
            }
        });
    }
}
