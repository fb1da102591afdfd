//! The outbox's SQL (issue 14): rows queued inside the transaction of the change that causes
//! them, claimed by delivery workers with a lease, then deleted, rescheduled or parked as dead
//! letters. Times are milliseconds since the epoch.

use crate::{internal, Backend, DbPool, DbRow, Tx};
use careslot_domain::AccountId;
use careslot_store::codec;
use careslot_store::*;
use jiff::{SignedDuration, Timestamp};
use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Row, Type};
use std::fmt::Write as _;
use std::marker::PhantomData;

/// The SQL of the outbox on backend `B`.
pub struct Outbox<B>(PhantomData<B>);

fn ms(t: Timestamp) -> i64 {
    t.as_millisecond()
}

/// Rows per multi-row `INSERT`: 12 parameters per row stays far below SQLite's and
/// PostgreSQL's limits on bound parameters.
const ROWS: usize = 256;

/// `rows` copies of `tuple` for a multi-row `VALUES`, each `?` numbered in turn (`$1`, `$2`…:
/// the placeholders both backends read).
fn values(rows: usize, tuple: &str) -> String {
    let mut out = String::with_capacity(rows * (tuple.len() + 32));
    let mut n = 0;
    for r in 0..rows {
        if r > 0 {
            out.push_str(", ");
        }
        for c in tuple.chars() {
            if c == '?' {
                n += 1;
                out.push_str(&format!("${n}"));
            } else {
                out.push(c);
            }
        }
    }
    out
}

/// A claim of `room` more messages takes `room / BATCH_CLAIM_DIVISOR` batches (at least one):
/// under load a batch holds several confirmations.
const BATCH_CLAIM_DIVISOR: i64 = 8;

/// A group commit's booking confirmations as one row of `outbox_batches` (issue 14: one heap
/// tuple and one index entry per group instead of four index entries per booking).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfirmationBatch {
    pub id: String,
    /// `message reservation account start_ms` per confirmation, comma-separated.
    pub entries: String,
    pub size: i64,
    pub created_at: i64,
}

impl ConfirmationBatch {
    /// Whether `m` can ride in a batch: an appointment's confirmation, due when queued, under
    /// the key every confirmation gets (read back from the entry).
    pub fn takes(m: &NewOutboxMessage) -> bool {
        let OutboxPayload::Intent(i) = &m.payload else {
            return false;
        };
        i.kind == IntentKind::Confirmation
            && i.previous_start.is_none()
            && m.subject_account_id.is_none()
            && m.available_at <= m.created_at
            && m.dedupe_key == confirmation_key(&i.reservation_id)
            && [
                m.id.as_str(),
                i.reservation_id.as_str(),
                m.account_id.as_str(),
            ]
            .iter()
            .all(|s| BatchEntry::fits(s))
    }

    /// The batch of `messages` (each one [`Self::takes`]); `None` when there are none.
    pub fn of(messages: &[&NewOutboxMessage]) -> Option<Self> {
        let mut entries = String::with_capacity(messages.len() * 90);
        let mut created_at = i64::MAX;
        let first = messages.first()?;
        for m in messages {
            let OutboxPayload::Intent(i) = &m.payload else {
                continue;
            };
            if !entries.is_empty() {
                entries.push(',');
            }
            // Into the buffer: no allocation per booking on the booking path.
            let _ = write!(
                entries,
                "{} {} {} {}",
                m.id,
                i.reservation_id,
                m.account_id,
                ms(i.start)
            );
            created_at = created_at.min(ms(m.created_at));
        }
        // The first message's UUIDv7 names the batch (unique, and in time order).
        Some(ConfirmationBatch {
            id: first.id.clone(),
            entries,
            size: messages.len() as i64,
            created_at,
        })
    }
}

/// One confirmation in a batch's `entries`.
struct BatchEntry;

impl BatchEntry {
    /// An id can go in an entry: no separator in it, and nothing `LIKE` reads as a wildcard.
    fn fits(id: &str) -> bool {
        !id.is_empty() && !id.contains([',', ' ', '%', '_', '\\'])
    }

    /// (message id, reservation, account, start in ms).
    fn parse(entry: &str) -> Option<(&str, &str, &str, i64)> {
        let mut it = entry.split(' ');
        let (m, r, a, s) = (it.next()?, it.next()?, it.next()?, it.next()?);
        if it.next().is_some() {
            return None;
        }
        Some((m, r, a, s.parse().ok()?))
    }
}

fn from_ms(v: i64) -> StoreResult<Timestamp> {
    Timestamp::from_millisecond(v).map_err(|_| codec::corrupt("outbox time"))
}

impl<B: Backend> Outbox<B>
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
    pub(crate) fn row(row: &DbRow<B>) -> StoreResult<OutboxRow> {
        let channel: String = row.try_get("channel").map_err(internal)?;
        let attempts: i64 = row.try_get("attempts").map_err(internal)?;
        let opt = |col: &str| -> StoreResult<Option<Timestamp>> {
            row.try_get::<Option<i64>, _>(col)
                .map_err(internal)?
                .map(from_ms)
                .transpose()
        };
        Ok(OutboxRow {
            id: row.try_get("id").map_err(internal)?,
            channel: OutboxChannel::parse(&channel)
                .ok_or_else(|| codec::corrupt("outbox channel"))?,
            dedupe_key: row.try_get("dedupe_key").map_err(internal)?,
            account_id: AccountId(row.try_get("account_id").map_err(internal)?),
            subject_account_id: row
                .try_get::<Option<String>, _>("subject_account_id")
                .map_err(internal)?
                .map(AccountId),
            payload: Self::payload(row)?,
            attempts: u32::try_from(attempts).map_err(|_| codec::corrupt("outbox attempts"))?,
            available_at: from_ms(row.try_get("available_at").map_err(internal)?)?,
            locked_until: opt("locked_until")?,
            last_error: row.try_get("last_error").map_err(internal)?,
            dead_at: opt("dead_at")?,
            created_at: from_ms(row.try_get("created_at").map_err(internal)?)?,
            batch: None,
        })
    }

    /// The confirmations of a claimed batch row, each as the message it stands for.
    fn batch_rows(row: &DbRow<B>) -> StoreResult<Vec<OutboxRow>> {
        let batch: String = row.try_get("id").map_err(internal)?;
        let entries: String = row.try_get("entries").map_err(internal)?;
        let attempts: i64 = row.try_get("attempts").map_err(internal)?;
        let attempts = u32::try_from(attempts).map_err(|_| codec::corrupt("batch attempts"))?;
        let created_at = from_ms(row.try_get("created_at").map_err(internal)?)?;
        let locked_until = row
            .try_get::<Option<i64>, _>("locked_until")
            .map_err(internal)?
            .map(from_ms)
            .transpose()?;
        entries
            .split(',')
            .map(|entry| {
                let (id, reservation, account, start) =
                    BatchEntry::parse(entry).ok_or_else(|| codec::corrupt("batch entry"))?;
                let reservation = careslot_domain::ReservationId(reservation.to_owned());
                Ok(OutboxRow {
                    id: id.to_owned(),
                    channel: OutboxChannel::Email,
                    dedupe_key: confirmation_key(&reservation),
                    account_id: AccountId(account.to_owned()),
                    subject_account_id: None,
                    payload: OutboxPayload::Intent(MessageIntent {
                        kind: IntentKind::Confirmation,
                        reservation_id: reservation,
                        start: from_ms(start)?,
                        previous_start: None,
                    }),
                    attempts,
                    available_at: created_at,
                    locked_until,
                    last_error: None,
                    dead_at: None,
                    created_at,
                    batch: Some(batch.clone()),
                })
            })
            .collect()
    }

    /// A row's sealed payload, or its intent (exactly one is set: a CHECK constraint).
    fn payload(row: &DbRow<B>) -> StoreResult<OutboxPayload> {
        let intent: Option<String> = row.try_get("intent").map_err(internal)?;
        let Some(intent) = intent else {
            let ct: Option<Vec<u8>> = row.try_get("payload_ct").map_err(internal)?;
            return ct
                .map(OutboxPayload::Sealed)
                .ok_or_else(|| codec::corrupt("outbox payload"));
        };
        let at = |col: &str| -> StoreResult<Option<Timestamp>> {
            row.try_get::<Option<i64>, _>(col)
                .map_err(internal)?
                .map(from_ms)
                .transpose()
        };
        Ok(OutboxPayload::Intent(MessageIntent {
            kind: IntentKind::parse(&intent).ok_or_else(|| codec::corrupt("outbox intent"))?,
            reservation_id: careslot_domain::ReservationId(
                row.try_get::<Option<String>, _>("reservation_id")
                    .map_err(internal)?
                    .ok_or_else(|| codec::corrupt("outbox intent appointment"))?,
            ),
            start: at("start_at")?.ok_or_else(|| codec::corrupt("outbox intent start"))?,
            previous_start: at("previous_at")?,
        }))
    }

    /// Applies `w` inside the caller's transaction: pending messages deleted by key, then the
    /// new ones queued (a key already queued is left as it is), and the workers of other nodes
    /// told on commit.
    pub(crate) async fn apply_in(tx: &mut Tx<B>, w: &OutboxWrite) -> StoreResult<()> {
        Self::write_in(tx, w).await?;
        if !w.enqueue.is_empty() || !w.webhooks.is_empty() {
            B::outbox_changed(tx).await?;
        }
        Ok(())
    }

    /// [`Self::apply_in`] without telling the workers: the group commit tells them once for
    /// its whole group.
    pub(crate) async fn write_in(tx: &mut Tx<B>, w: &OutboxWrite) -> StoreResult<()> {
        for key in &w.delete_pending {
            sqlx::query("DELETE FROM outbox WHERE dedupe_key = $1 AND dead_at IS NULL")
                .bind(key.as_str())
                .execute(&mut **tx)
                .await
                .map_err(B::map_err)?;
        }
        let messages: Vec<&NewOutboxMessage> = w.enqueue.iter().collect();
        Self::insert_messages(tx, &messages).await?;
        let notices: Vec<&PracticeNotice> = w.notices.iter().collect();
        Self::insert_notices(tx, &notices).await?;
        let events: Vec<&NewWebhookEvent> = w.webhooks.iter().collect();
        crate::interop::Interop::<B>::fan_out_in(tx, &events).await
    }

    /// The outbox writes of a whole group of bookings, each already known to stand (its
    /// savepoint was released), in one multi-row `INSERT` per table: on PostgreSQL, one round
    /// trip per group instead of one per booking (bookings queue rows and delete none).
    pub(crate) async fn write_batch(tx: &mut Tx<B>, writes: &[&OutboxWrite]) -> StoreResult<()> {
        // A deletion must see the rows queued before it in the group: then one by one.
        if writes.iter().any(|w| !w.delete_pending.is_empty()) {
            for w in writes {
                Self::write_in(tx, w).await?;
            }
            return Ok(());
        }
        let messages: Vec<&NewOutboxMessage> = writes.iter().flat_map(|w| &w.enqueue).collect();
        Self::insert_messages(tx, &messages).await?;
        let notices: Vec<&PracticeNotice> = writes.iter().flat_map(|w| &w.notices).collect();
        Self::insert_notices(tx, &notices).await?;
        let events: Vec<&NewWebhookEvent> = writes.iter().flat_map(|w| &w.webhooks).collect();
        crate::interop::Interop::<B>::fan_out_in(tx, &events).await
    }

    /// Outbox rows, in multi-row `INSERT`s of at most [`ROWS`] rows.
    pub(crate) async fn insert_messages(
        tx: &mut Tx<B>,
        messages: &[&NewOutboxMessage],
    ) -> StoreResult<()> {
        for chunk in messages.chunks(ROWS) {
            let sql = format!(
                "INSERT INTO outbox (id, channel, dedupe_key, account_id, payload_ct, attempts, available_at, created_at, subject_account_id,
                                     intent, reservation_id, start_at, previous_at)
                 VALUES {} ON CONFLICT (dedupe_key) DO NOTHING",
                values(chunk.len(), "(?, ?, ?, ?, ?, 0, ?, ?, ?, ?, ?, ?, ?)")
            );
            let mut q = sqlx::query(&sql);
            for m in chunk {
                let (payload_ct, intent) = match &m.payload {
                    OutboxPayload::Sealed(ct) => (Some(ct.as_slice()), None),
                    OutboxPayload::Intent(i) => (None, Some(i)),
                };
                q = q
                    .bind(m.id.as_str())
                    .bind(m.channel.code())
                    .bind(m.dedupe_key.as_str())
                    .bind(m.account_id.as_str())
                    .bind(payload_ct)
                    .bind(ms(m.available_at))
                    .bind(ms(m.created_at))
                    .bind(m.subject_account_id.as_ref().map(|a| a.as_str()))
                    .bind(intent.map(|i| i.kind.code()))
                    .bind(intent.map(|i| i.reservation_id.as_str()))
                    .bind(intent.map(|i| ms(i.start)))
                    .bind(intent.and_then(|i| i.previous_start).map(ms));
            }
            q.execute(&mut **tx).await.map_err(B::map_err)?;
        }
        Ok(())
    }

    /// A group's confirmation batch (see [`ConfirmationBatch`]).
    pub(crate) async fn insert_batch(tx: &mut Tx<B>, batch: &ConfirmationBatch) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO outbox_batches (id, entries, size, attempts, created_at) VALUES ($1, $2, $3, 0, $4)",
        )
        .bind(batch.id.as_str())
        .bind(batch.entries.as_str())
        .bind(batch.size)
        .bind(batch.created_at)
        .execute(&mut **tx)
        .await
        .map_err(B::map_err)?;
        Ok(())
    }

    /// Ends a claimed batch: its undelivered confirmations become ordinary rows (in the state
    /// the worker gives them) and the batch goes, in one transaction.
    pub(crate) async fn settle_batch(
        pool: &DbPool<B>,
        batch: &str,
        requeue: &[OutboxRow],
    ) -> StoreResult<()> {
        let mut tx = B::begin_write(pool).await?;
        for r in requeue {
            let (payload_ct, intent) = match &r.payload {
                OutboxPayload::Sealed(ct) => (Some(ct.as_slice()), None),
                OutboxPayload::Intent(i) => (None, Some(i)),
            };
            sqlx::query(
                "INSERT INTO outbox (id, channel, dedupe_key, account_id, payload_ct, attempts,
                                     available_at, created_at, subject_account_id, intent,
                                     reservation_id, start_at, previous_at, last_error, dead_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
                 ON CONFLICT (dedupe_key) DO NOTHING",
            )
            .bind(r.id.as_str())
            .bind(r.channel.code())
            .bind(r.dedupe_key.as_str())
            .bind(r.account_id.as_str())
            .bind(payload_ct)
            .bind(i64::from(r.attempts))
            .bind(ms(r.available_at))
            .bind(ms(r.created_at))
            .bind(r.subject_account_id.as_ref().map(|a| a.as_str()))
            .bind(intent.map(|i| i.kind.code()))
            .bind(intent.map(|i| i.reservation_id.as_str()))
            .bind(intent.map(|i| ms(i.start)))
            .bind(intent.and_then(|i| i.previous_start).map(ms))
            .bind(r.last_error.as_deref())
            .bind(r.dead_at.map(ms))
            .execute(&mut *tx)
            .await
            .map_err(B::map_err)?;
        }
        sqlx::query("DELETE FROM outbox_batches WHERE id = $1")
            .bind(batch)
            .execute(&mut *tx)
            .await
            .map_err(B::map_err)?;
        crate::commit::<B>(tx).await
    }

    /// Practice-desk notices, in multi-row `INSERT`s of at most [`ROWS`] rows.
    async fn insert_notices(tx: &mut Tx<B>, notices: &[&PracticeNotice]) -> StoreResult<()> {
        for chunk in notices.chunks(ROWS) {
            let sql = format!(
                "INSERT INTO practice_notices (id, practitioner_id, reservation_id, kind, start_s, previous_s, created_at) VALUES {}",
                values(chunk.len(), "(?, ?, ?, ?, ?, ?, ?)")
            );
            let mut q = sqlx::query(&sql);
            for n in chunk {
                q = q
                    .bind(n.id.as_str())
                    .bind(n.practitioner_id.as_str())
                    .bind(n.reservation_id.as_str())
                    .bind(n.kind.code())
                    .bind(n.start.as_second())
                    .bind(n.previous_start.map(|t| t.as_second()))
                    .bind(n.created_at.as_second());
            }
            q.execute(&mut **tx).await.map_err(B::map_err)?;
        }
        Ok(())
    }

    pub(crate) async fn enqueue(pool: &DbPool<B>, w: &OutboxWrite) -> StoreResult<()> {
        if w.is_empty() {
            return Ok(());
        }
        let mut tx = B::begin_write(pool).await?;
        Self::apply_in(&mut tx, w).await?;
        crate::commit::<B>(tx).await
    }

    /// Rows by state at `now`, in one read-only scan (`/metrics`): the queue is small in
    /// steady state (delivered rows are deleted), reminders waiting for their day included.
    pub(crate) async fn depth(pool: &DbPool<B>, now: Timestamp) -> StoreResult<OutboxDepth> {
        let row = sqlx::query(
            "SELECT COUNT(*) FILTER (WHERE dead_at IS NULL) AS queued,
                    COUNT(*) FILTER (WHERE dead_at IS NULL AND available_at <= $1
                                       AND (locked_until IS NULL OR locked_until <= $1)) AS due,
                    COUNT(*) FILTER (WHERE dead_at IS NOT NULL) AS dead
               FROM outbox",
        )
        .bind(ms(now))
        .fetch_one(pool)
        .await
        .map_err(B::map_err)?;
        let batched = sqlx::query(
            "SELECT COALESCE(SUM(size), 0) AS queued,
                    COALESCE(SUM(size) FILTER (WHERE created_at <= $1
                                                 AND (locked_until IS NULL OR locked_until <= $1)), 0) AS due
               FROM outbox_batches",
        )
        .bind(ms(now))
        .fetch_one(pool)
        .await
        .map_err(B::map_err)?;
        let sum = |col: &str| batched.try_get::<i64, _>(col).map_err(internal);
        Ok(OutboxDepth {
            queued: row.try_get::<i64, _>("queued").map_err(internal)? + sum("queued")?,
            due: row.try_get::<i64, _>("due").map_err(internal)? + sum("due")?,
            dead: row.try_get("dead").map_err(internal)?,
        })
    }

    /// One short write transaction: picks due rows nobody leases (`FOR UPDATE SKIP LOCKED` on
    /// PostgreSQL, so concurrent claimers skip each other's rows), sets their lease and counts
    /// the attempt. The re-check in the outer WHERE keeps a row leased by a claimer that
    /// committed meanwhile out.
    pub(crate) async fn claim_due(
        pool: &DbPool<B>,
        now: Timestamp,
        lease: SignedDuration,
        limit: i64,
    ) -> StoreResult<Vec<OutboxRow>> {
        let now_ms = ms(now);
        let until = now
            .checked_add(lease)
            .map_err(|_| internal("outbox lease out of range"))?;
        let sql = format!(
            "UPDATE outbox SET locked_until = $1, attempts = attempts + 1
              WHERE id IN (SELECT id FROM outbox
                            WHERE dead_at IS NULL AND available_at <= $2
                              AND (locked_until IS NULL OR locked_until <= $2)
                            ORDER BY available_at, id LIMIT $3{})
                AND dead_at IS NULL AND (locked_until IS NULL OR locked_until <= $2)
              RETURNING *",
            B::SKIP_LOCKED
        );
        let mut tx = B::begin_write(pool).await?;
        let rows = sqlx::query(&sql)
            .bind(ms(until))
            .bind(now_ms)
            .bind(limit)
            .fetch_all(&mut *tx)
            .await
            .map_err(B::map_err)?;
        let mut claimed = rows
            .iter()
            .map(Self::row)
            .collect::<StoreResult<Vec<_>>>()?;
        // Confirmation batches fill what is left (a batch holds several: a few at a time).
        let room = limit - claimed.len() as i64;
        if room > 0 {
            let sql = format!(
                "UPDATE outbox_batches SET locked_until = $1, attempts = attempts + 1
                  WHERE id IN (SELECT id FROM outbox_batches
                                WHERE created_at <= $2 AND (locked_until IS NULL OR locked_until <= $2)
                                ORDER BY id LIMIT $3{})
                    AND (locked_until IS NULL OR locked_until <= $2)
                  RETURNING *",
                B::SKIP_LOCKED
            );
            let batches = sqlx::query(&sql)
                .bind(ms(until))
                .bind(now_ms)
                .bind((room / BATCH_CLAIM_DIVISOR).max(1))
                .fetch_all(&mut *tx)
                .await
                .map_err(B::map_err)?;
            for b in &batches {
                claimed.extend(Self::batch_rows(b)?);
            }
        }
        crate::commit::<B>(tx).await?;
        Ok(claimed)
    }

    pub(crate) async fn complete(pool: &DbPool<B>, id: &str) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM outbox WHERE id = $1")
            .bind(id)
            .execute(pool)
            .await
            .map_err(B::map_err)?;
        Ok(B::rows_affected(done) > 0)
    }

    pub(crate) async fn reschedule(
        pool: &DbPool<B>,
        id: &str,
        at: Timestamp,
        error: &str,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE outbox SET available_at = $2, locked_until = NULL, last_error = $3
              WHERE id = $1 AND dead_at IS NULL",
        )
        .bind(id)
        .bind(ms(at))
        .bind(error)
        .execute(pool)
        .await
        .map_err(B::map_err)?;
        Ok(B::rows_affected(done) > 0)
    }

    pub(crate) async fn dead_letter(
        pool: &DbPool<B>,
        id: &str,
        error: &str,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE outbox SET dead_at = $2, locked_until = NULL, last_error = $3
              WHERE id = $1 AND dead_at IS NULL",
        )
        .bind(id)
        .bind(ms(now))
        .bind(error)
        .execute(pool)
        .await
        .map_err(B::map_err)?;
        Ok(B::rows_affected(done) > 0)
    }

    pub(crate) async fn dead_letters(pool: &DbPool<B>, limit: i64) -> StoreResult<Vec<OutboxRow>> {
        let rows = sqlx::query(
            "SELECT * FROM outbox WHERE dead_at IS NOT NULL ORDER BY dead_at DESC, id LIMIT $1",
        )
        .bind(limit)
        .fetch_all(pool)
        .await
        .map_err(B::map_err)?;
        rows.iter().map(Self::row).collect()
    }

    pub(crate) async fn retry_dead_letter(
        pool: &DbPool<B>,
        id: &str,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let mut tx = B::begin_write(pool).await?;
        let done = sqlx::query(
            "UPDATE outbox SET dead_at = NULL, attempts = 0, available_at = $2, locked_until = NULL
              WHERE id = $1 AND dead_at IS NOT NULL",
        )
        .bind(id)
        .bind(ms(now))
        .execute(&mut *tx)
        .await
        .map_err(B::map_err)?;
        let retried = B::rows_affected(done) > 0;
        if retried {
            B::outbox_changed(&mut tx).await?;
        }
        crate::commit::<B>(tx).await?;
        Ok(retried)
    }

    pub(crate) async fn retry_all_dead_letters(
        pool: &DbPool<B>,
        now: Timestamp,
    ) -> StoreResult<u64> {
        let mut tx = B::begin_write(pool).await?;
        let done = sqlx::query(
            "UPDATE outbox SET dead_at = NULL, attempts = 0, available_at = $1, locked_until = NULL
              WHERE dead_at IS NOT NULL",
        )
        .bind(ms(now))
        .execute(&mut *tx)
        .await
        .map_err(B::map_err)?;
        let n = B::rows_affected(done);
        if n > 0 {
            B::outbox_changed(&mut tx).await?;
        }
        crate::commit::<B>(tx).await?;
        Ok(n)
    }

    pub(crate) async fn practice_notices(
        pool: &DbPool<B>,
        practitioner: &careslot_domain::PractitionerId,
        limit: i64,
    ) -> StoreResult<Vec<PracticeNotice>> {
        let rows = sqlx::query(
            "SELECT * FROM practice_notices WHERE practitioner_id = $1
              ORDER BY created_at DESC, id DESC LIMIT $2",
        )
        .bind(practitioner.as_str())
        .bind(limit)
        .fetch_all(pool)
        .await
        .map_err(B::map_err)?;
        let secs = |v: i64| Timestamp::from_second(v).map_err(|_| codec::corrupt("notice time"));
        rows.iter()
            .map(|r| {
                let kind: String = r.try_get("kind").map_err(internal)?;
                Ok(PracticeNotice {
                    id: r.try_get("id").map_err(internal)?,
                    practitioner_id: careslot_domain::PractitionerId(
                        r.try_get("practitioner_id").map_err(internal)?,
                    ),
                    reservation_id: careslot_domain::ReservationId(
                        r.try_get("reservation_id").map_err(internal)?,
                    ),
                    kind: NoticeKind::parse(&kind).ok_or_else(|| codec::corrupt("notice kind"))?,
                    start: secs(r.try_get("start_s").map_err(internal)?)?,
                    previous_start: r
                        .try_get::<Option<i64>, _>("previous_s")
                        .map_err(internal)?
                        .map(secs)
                        .transpose()?,
                    created_at: secs(r.try_get("created_at").map_err(internal)?)?,
                })
            })
            .collect()
    }

    pub(crate) async fn delete_pending(pool: &DbPool<B>, keys: &[String]) -> StoreResult<u64> {
        let mut tx = B::begin_write(pool).await?;
        let mut n = 0;
        for key in keys {
            let done = sqlx::query("DELETE FROM outbox WHERE dedupe_key = $1 AND dead_at IS NULL")
                .bind(key.as_str())
                .execute(&mut *tx)
                .await
                .map_err(B::map_err)?;
            n += B::rows_affected(done);
        }
        crate::commit::<B>(tx).await?;
        Ok(n)
    }

    pub(crate) async fn of_account(
        pool: &DbPool<B>,
        account: &AccountId,
    ) -> StoreResult<Vec<OutboxRow>> {
        let rows =
            sqlx::query("SELECT * FROM outbox WHERE account_id = $1 ORDER BY created_at, id")
                .bind(account.as_str())
                .fetch_all(pool)
                .await
                .map_err(B::map_err)?;
        let mut out = rows
            .iter()
            .map(Self::row)
            .collect::<StoreResult<Vec<_>>>()?;
        let batches = sqlx::query("SELECT * FROM outbox_batches WHERE entries LIKE $1 ORDER BY id")
            .bind(format!("%{}%", account.as_str()))
            .fetch_all(pool)
            .await
            .map_err(B::map_err)?;
        for b in &batches {
            out.extend(
                Self::batch_rows(b)?
                    .into_iter()
                    .filter(|r| r.account_id == *account),
            );
        }
        Ok(out)
    }

    /// Erasure's part: every message of the account goes, whatever its state, and every
    /// message about it to someone else (a practice's notice naming the patient).
    pub(crate) async fn delete_account_in(tx: &mut Tx<B>, account: &AccountId) -> StoreResult<()> {
        sqlx::query("DELETE FROM outbox WHERE account_id = $1 OR subject_account_id = $1")
            .bind(account.as_str())
            .execute(&mut **tx)
            .await
            .map_err(B::map_err)?;
        // The account's confirmations still in batches: each batch is rewritten without them.
        let batches = sqlx::query(&format!(
            "SELECT id, entries FROM outbox_batches WHERE entries LIKE $1{}",
            B::FOR_UPDATE
        ))
        .bind(format!("%{}%", account.as_str()))
        .fetch_all(&mut **tx)
        .await
        .map_err(B::map_err)?;
        for b in &batches {
            let id: String = b.try_get("id").map_err(internal)?;
            let entries: String = b.try_get("entries").map_err(internal)?;
            let kept: Vec<&str> = entries
                .split(',')
                .filter(|e| BatchEntry::parse(e).is_none_or(|(_, _, a, _)| a != account.as_str()))
                .collect();
            let q = if kept.is_empty() {
                sqlx::query("DELETE FROM outbox_batches WHERE id = $1").bind(id.as_str())
            } else {
                sqlx::query("UPDATE outbox_batches SET entries = $2, size = $3 WHERE id = $1")
                    .bind(id.as_str())
                    .bind(kept.join(","))
                    .bind(kept.len() as i64)
            };
            q.execute(&mut **tx).await.map_err(B::map_err)?;
        }
        Ok(())
    }

    pub(crate) async fn create_password_reset(
        pool: &DbPool<B>,
        reset: &PasswordReset,
        outbox: &OutboxWrite,
    ) -> StoreResult<()> {
        let mut tx = B::begin_write(pool).await?;
        sqlx::query(
            "INSERT INTO password_resets (token_hash, account_id, expires_at, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(reset.token_hash.as_str())
        .bind(reset.account_id.as_str())
        .bind(reset.expires_at.as_second())
        .bind(reset.created_at.as_second())
        .execute(&mut *tx)
        .await
        .map_err(B::map_err)?;
        Self::apply_in(&mut tx, outbox).await?;
        crate::commit::<B>(tx).await
    }

    pub(crate) async fn consume_password_reset(
        pool: &DbPool<B>,
        token_hash: &str,
        password_hash: &str,
        now: Timestamp,
    ) -> StoreResult<Option<AccountId>> {
        let mut tx = B::begin_write(pool).await?;
        let Some(row) = sqlx::query(
            "DELETE FROM password_resets WHERE token_hash = $1 AND expires_at > $2 RETURNING account_id",
        )
        .bind(token_hash)
        .bind(now.as_second())
        .fetch_optional(&mut *tx)
        .await
        .map_err(B::map_err)?
        else {
            return Ok(None);
        };
        let account: String = row.try_get("account_id").map_err(internal)?;
        sqlx::query("UPDATE accounts SET password_hash = $2 WHERE id = $1")
            .bind(account.as_str())
            .bind(password_hash)
            .execute(&mut *tx)
            .await
            .map_err(B::map_err)?;
        // The link came through the mailbox: a web sign-up waiting for its address to be
        // proven is proven, and may sign in with the new password.
        sqlx::query(
            "UPDATE account_settings SET email_pending = FALSE, email_verified_at = $2
              WHERE account_id = $1 AND email_pending",
        )
        .bind(account.as_str())
        .bind(now.as_second())
        .execute(&mut *tx)
        .await
        .map_err(B::map_err)?;
        for table in ["sessions", "password_resets"] {
            sqlx::query(&format!("DELETE FROM {table} WHERE account_id = $1"))
                .bind(account.as_str())
                .execute(&mut *tx)
                .await
                .map_err(B::map_err)?;
        }
        crate::commit::<B>(tx).await?;
        Ok(Some(AccountId(account)))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn values_number_the_placeholders_across_rows() {
        assert_eq!(super::values(1, "(?, 0, ?)"), "($1, 0, $2)");
        assert_eq!(super::values(3, "(?, ?)"), "($1, $2), ($3, $4), ($5, $6)");
    }
}
