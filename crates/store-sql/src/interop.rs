//! The SQL of interoperability records (issue 19): calendar subscriptions (times in Unix
//! seconds) and webhooks (times in milliseconds, like the outbox's).

use crate::{internal, Backend, DbPool, DbRow, Tx};
use careslot_domain::{AccountId, AgendaId, PractitionerId};
use careslot_store::codec::{self, ts};
use careslot_store::*;
use jiff::{SignedDuration, Timestamp};
use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Row, Type};
use std::marker::PhantomData;

fn ms(t: Timestamp) -> i64 {
    t.as_millisecond()
}

fn from_ms(v: i64) -> StoreResult<Timestamp> {
    Timestamp::from_millisecond(v).map_err(|_| codec::corrupt("webhook time"))
}

/// Events per fan-out statement: 6 parameters each.
const EVENTS: usize = 128;

/// The SQL of calendar feeds (a patient's, an agenda's) and webhooks on backend `B`.
pub struct Interop<B>(PhantomData<B>);

impl<B: Backend> Interop<B>
where
    for<'c> &'c mut <B::Db as Database>::Connection: Executor<'c, Database = B::Db>,
    for<'q> <B::Db as Database>::Arguments<'q>: IntoArguments<'q, B::Db>,
    for<'q> &'q str: Encode<'q, B::Db> + Type<B::Db>,
    for<'q> &'q [u8]: Encode<'q, B::Db> + Type<B::Db>,
    for<'q> Option<&'q str>: Encode<'q, B::Db>,
    for<'q> Option<i64>: Encode<'q, B::Db>,
    for<'q, 'r> String: Encode<'q, B::Db> + Decode<'r, B::Db> + Type<B::Db>,
    for<'q, 'r> Vec<u8>: Encode<'q, B::Db> + Decode<'r, B::Db> + Type<B::Db>,
    for<'q, 'r> i64: Encode<'q, B::Db> + Decode<'r, B::Db> + Type<B::Db>,
    for<'q, 'r> bool: Encode<'q, B::Db> + Decode<'r, B::Db> + Type<B::Db>,
    for<'s> &'s str: ColumnIndex<DbRow<B>>,
{
    fn feed_from_row(row: &DbRow<B>) -> StoreResult<CalendarFeed> {
        Ok(CalendarFeed {
            account_id: AccountId(row.try_get("account_id").map_err(internal)?),
            nonce: row.try_get("nonce").map_err(internal)?,
            token_hash: row.try_get("token_hash").map_err(internal)?,
            created_at: ts(row.try_get("created_at").map_err(internal)?)?,
        })
    }

    pub(crate) async fn feed(
        pool: &DbPool<B>,
        account: &AccountId,
    ) -> StoreResult<Option<CalendarFeed>> {
        sqlx::query("SELECT * FROM calendar_feeds WHERE account_id = $1")
            .bind(account.as_str())
            .fetch_optional(pool)
            .await
            .map_err(B::map_err)?
            .as_ref()
            .map(Self::feed_from_row)
            .transpose()
    }

    pub(crate) async fn create_feed(
        pool: &DbPool<B>,
        feed: &CalendarFeed,
    ) -> StoreResult<CalendarFeed> {
        // One feed per account: a concurrent creation keeps the first row, and both callers
        // answer with it.
        sqlx::query(
            "INSERT INTO calendar_feeds (account_id, nonce, token_hash, created_at)
             VALUES ($1, $2, $3, $4) ON CONFLICT (account_id) DO NOTHING",
        )
        .bind(feed.account_id.as_str())
        .bind(feed.nonce.as_str())
        .bind(feed.token_hash.as_str())
        .bind(feed.created_at.as_second())
        .execute(pool)
        .await
        .map_err(B::map_err)?;
        Self::feed(pool, &feed.account_id)
            .await?
            .ok_or(StoreError::NotFound)
    }

    pub(crate) async fn feed_by_hash(
        pool: &DbPool<B>,
        token_hash: &str,
    ) -> StoreResult<Option<CalendarFeed>> {
        sqlx::query("SELECT * FROM calendar_feeds WHERE token_hash = $1")
            .bind(token_hash)
            .fetch_optional(pool)
            .await
            .map_err(B::map_err)?
            .as_ref()
            .map(Self::feed_from_row)
            .transpose()
    }

    pub(crate) async fn delete_feed(pool: &DbPool<B>, account: &AccountId) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM calendar_feeds WHERE account_id = $1")
            .bind(account.as_str())
            .execute(pool)
            .await
            .map_err(B::map_err)?;
        Ok(B::rows_affected(done) > 0)
    }

    // --- agenda feeds (issue 18 point 6) -------------------------------------------------------

    fn agenda_feed_from_row(row: &DbRow<B>) -> StoreResult<AgendaFeed> {
        Ok(AgendaFeed {
            agenda_id: AgendaId(row.try_get("agenda_id").map_err(internal)?),
            nonce: row.try_get("nonce").map_err(internal)?,
            token_hash: row.try_get("token_hash").map_err(internal)?,
            show_patient_names: row.try_get("show_patient_names").map_err(internal)?,
            created_at: ts(row.try_get("created_at").map_err(internal)?)?,
        })
    }

    pub(crate) async fn agenda_feed(
        pool: &DbPool<B>,
        agenda: &AgendaId,
    ) -> StoreResult<Option<AgendaFeed>> {
        sqlx::query("SELECT * FROM agenda_feeds WHERE agenda_id = $1")
            .bind(agenda.as_str())
            .fetch_optional(pool)
            .await
            .map_err(B::map_err)?
            .as_ref()
            .map(Self::agenda_feed_from_row)
            .transpose()
    }

    pub(crate) async fn put_agenda_feed(pool: &DbPool<B>, feed: &AgendaFeed) -> StoreResult<()> {
        // One statement: the old token stops opening the feed when the new one starts to.
        sqlx::query(
            "INSERT INTO agenda_feeds (agenda_id, nonce, token_hash, show_patient_names, created_at)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (agenda_id) DO UPDATE SET nonce = excluded.nonce,
                 token_hash = excluded.token_hash, show_patient_names = excluded.show_patient_names,
                 created_at = excluded.created_at",
        )
        .bind(feed.agenda_id.as_str())
        .bind(feed.nonce.as_str())
        .bind(feed.token_hash.as_str())
        .bind(feed.show_patient_names)
        .bind(feed.created_at.as_second())
        .execute(pool)
        .await
        .map_err(B::map_err)?;
        Ok(())
    }

    pub(crate) async fn set_agenda_feed_names(
        pool: &DbPool<B>,
        agenda: &AgendaId,
        show: bool,
    ) -> StoreResult<bool> {
        let done =
            sqlx::query("UPDATE agenda_feeds SET show_patient_names = $2 WHERE agenda_id = $1")
                .bind(agenda.as_str())
                .bind(show)
                .execute(pool)
                .await
                .map_err(B::map_err)?;
        Ok(B::rows_affected(done) > 0)
    }

    pub(crate) async fn agenda_feed_by_hash(
        pool: &DbPool<B>,
        token_hash: &str,
    ) -> StoreResult<Option<AgendaFeed>> {
        sqlx::query("SELECT * FROM agenda_feeds WHERE token_hash = $1")
            .bind(token_hash)
            .fetch_optional(pool)
            .await
            .map_err(B::map_err)?
            .as_ref()
            .map(Self::agenda_feed_from_row)
            .transpose()
    }

    pub(crate) async fn delete_agenda_feed(
        pool: &DbPool<B>,
        agenda: &AgendaId,
    ) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM agenda_feeds WHERE agenda_id = $1")
            .bind(agenda.as_str())
            .execute(pool)
            .await
            .map_err(B::map_err)?;
        Ok(B::rows_affected(done) > 0)
    }

    // --- webhooks ---------------------------------------------------------------------------

    fn subscription_from_row(row: &DbRow<B>) -> StoreResult<WebhookSubscription> {
        Ok(WebhookSubscription {
            id: row.try_get("id").map_err(internal)?,
            practitioner_id: PractitionerId(row.try_get("practitioner_id").map_err(internal)?),
            account_id: AccountId(row.try_get("account_id").map_err(internal)?),
            url: row.try_get("url").map_err(internal)?,
            events: WebhookEvent::from_mask(row.try_get("events").map_err(internal)?),
            secret_ct: row.try_get("secret_ct").map_err(internal)?,
            created_at: from_ms(row.try_get("created_at").map_err(internal)?)?,
        })
    }

    fn delivery_from_row(row: &DbRow<B>) -> StoreResult<WebhookDelivery> {
        let opt = |col: &str| -> StoreResult<Option<Timestamp>> {
            row.try_get::<Option<i64>, _>(col)
                .map_err(internal)?
                .map(from_ms)
                .transpose()
        };
        let event: String = row.try_get("event").map_err(internal)?;
        let attempts: i64 = row.try_get("attempts").map_err(internal)?;
        let status: Option<i64> = row.try_get("last_status").map_err(internal)?;
        Ok(WebhookDelivery {
            event_id: row.try_get("event_id").map_err(internal)?,
            subscription_id: row.try_get("subscription_id").map_err(internal)?,
            event: WebhookEvent::parse(&event).ok_or_else(|| codec::corrupt("webhook event"))?,
            payload: row.try_get("payload").map_err(internal)?,
            attempts: u32::try_from(attempts).map_err(|_| codec::corrupt("webhook attempts"))?,
            available_at: from_ms(row.try_get("available_at").map_err(internal)?)?,
            locked_until: opt("locked_until")?,
            delivered_at: opt("delivered_at")?,
            dead_at: opt("dead_at")?,
            last_status: status.and_then(|s| u16::try_from(s).ok()),
            last_error: row.try_get("last_error").map_err(internal)?,
            created_at: from_ms(row.try_get("created_at").map_err(internal)?)?,
        })
    }

    /// One delivery row per subscription of the event's practice that wants it, inside the
    /// caller's transaction: a join on the events mask, one statement for up to [`EVENTS`]
    /// events (a group commit's whole batch), nothing read back.
    pub(crate) async fn fan_out_in(tx: &mut Tx<B>, events: &[&NewWebhookEvent]) -> StoreResult<()> {
        for chunk in events.chunks(EVENTS) {
            let mut values = String::new();
            for i in 0..chunk.len() {
                let n = i * 6;
                if i > 0 {
                    values.push_str(", ");
                }
                values.push_str(&format!(
                    "(CAST(${} AS TEXT), CAST(${} AS TEXT), CAST(${} AS TEXT), CAST(${} AS BIGINT), CAST(${} AS TEXT), CAST(${} AS BIGINT))",
                    n + 1, n + 2, n + 3, n + 4, n + 5, n + 6
                ));
            }
            let sql = format!(
                "WITH v (event_id, practitioner_id, event, bit, payload, at) AS (VALUES {values})
                 INSERT INTO webhook_deliveries (id, event_id, subscription_id, event, payload, attempts, available_at, created_at)
                 SELECT v.event_id || ':' || s.id, v.event_id, s.id, v.event, v.payload, 0, v.at, v.at
                   FROM v JOIN webhook_subscriptions s
                     ON s.practitioner_id = v.practitioner_id AND (s.events & v.bit) <> 0
                    AND s.created_at + {} <= v.at",
                B::WEBHOOK_DELAY_MS
            );
            let mut q = sqlx::query(&sql);
            for e in chunk {
                q = q
                    .bind(e.id.as_str())
                    .bind(e.practitioner_id.as_str())
                    .bind(e.event.code())
                    .bind(e.event.bit())
                    .bind(e.payload.as_str())
                    .bind(ms(e.created_at));
            }
            q.execute(&mut **tx).await.map_err(B::map_err)?;
        }
        Ok(())
    }

    pub(crate) async fn create_webhook(
        pool: &DbPool<B>,
        sub: &WebhookSubscription,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO webhook_subscriptions (id, practitioner_id, account_id, url, events, secret_ct, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(sub.id.as_str())
        .bind(sub.practitioner_id.as_str())
        .bind(sub.account_id.as_str())
        .bind(sub.url.as_str())
        .bind(WebhookEvent::mask(&sub.events))
        .bind(sub.secret_ct.as_slice())
        .bind(ms(sub.created_at))
        .execute(pool)
        .await
        .map_err(B::map_err)?;
        Ok(())
    }

    pub(crate) async fn webhooks_of(
        pool: &DbPool<B>,
        practitioner: &PractitionerId,
    ) -> StoreResult<Vec<WebhookSubscription>> {
        sqlx::query(
            "SELECT * FROM webhook_subscriptions WHERE practitioner_id = $1 ORDER BY created_at, id",
        )
        .bind(practitioner.as_str())
        .fetch_all(pool)
        .await
        .map_err(B::map_err)?
        .iter()
        .map(Self::subscription_from_row)
        .collect()
    }

    pub(crate) async fn webhook_practitioners(
        pool: &DbPool<B>,
    ) -> StoreResult<Vec<PractitionerId>> {
        sqlx::query("SELECT DISTINCT practitioner_id FROM webhook_subscriptions")
            .fetch_all(pool)
            .await
            .map_err(B::map_err)?
            .iter()
            .map(|r| {
                r.try_get::<String, _>("practitioner_id")
                    .map(PractitionerId)
                    .map_err(internal)
            })
            .collect()
    }

    pub(crate) async fn webhook(
        pool: &DbPool<B>,
        id: &str,
    ) -> StoreResult<Option<WebhookSubscription>> {
        sqlx::query("SELECT * FROM webhook_subscriptions WHERE id = $1")
            .bind(id)
            .fetch_optional(pool)
            .await
            .map_err(B::map_err)?
            .as_ref()
            .map(Self::subscription_from_row)
            .transpose()
    }

    pub(crate) async fn delete_webhook(
        pool: &DbPool<B>,
        practitioner: &PractitionerId,
        id: &str,
    ) -> StoreResult<bool> {
        let mut tx = B::begin_write(pool).await?;
        // The log goes with it, in the same transaction (not left to cascades).
        sqlx::query(
            "DELETE FROM webhook_deliveries WHERE subscription_id IN
               (SELECT id FROM webhook_subscriptions WHERE id = $1 AND practitioner_id = $2)",
        )
        .bind(id)
        .bind(practitioner.as_str())
        .execute(&mut *tx)
        .await
        .map_err(B::map_err)?;
        let done =
            sqlx::query("DELETE FROM webhook_subscriptions WHERE id = $1 AND practitioner_id = $2")
                .bind(id)
                .bind(practitioner.as_str())
                .execute(&mut *tx)
                .await
                .map_err(B::map_err)?;
        crate::commit::<B>(tx).await?;
        Ok(B::rows_affected(done) > 0)
    }

    pub(crate) async fn deliveries(
        pool: &DbPool<B>,
        subscription: &str,
        limit: i64,
    ) -> StoreResult<Vec<WebhookDelivery>> {
        sqlx::query(
            "SELECT * FROM webhook_deliveries WHERE subscription_id = $1
              ORDER BY created_at DESC, id DESC LIMIT $2",
        )
        .bind(subscription)
        .bind(limit)
        .fetch_all(pool)
        .await
        .map_err(B::map_err)?
        .iter()
        .map(Self::delivery_from_row)
        .collect()
    }

    /// As the outbox's claim: one short write transaction (`FOR UPDATE SKIP LOCKED` on
    /// PostgreSQL), the lease set and the attempt counted; the send happens after it.
    pub(crate) async fn claim(
        pool: &DbPool<B>,
        now: Timestamp,
        lease: SignedDuration,
        limit: i64,
    ) -> StoreResult<Vec<WebhookDelivery>> {
        let until = now
            .checked_add(lease)
            .map_err(|_| internal("webhook lease out of range"))?;
        // Every booking wakes the worker, most practices have no webhook: a read first, so
        // that an empty queue never takes the write lock (SQLite's single writer is the
        // booking path's).
        let due = sqlx::query(
            "SELECT 1 FROM webhook_deliveries
              WHERE delivered_at IS NULL AND dead_at IS NULL AND available_at <= $1
                AND (locked_until IS NULL OR locked_until <= $1)
              LIMIT 1",
        )
        .bind(ms(now))
        .fetch_optional(pool)
        .await
        .map_err(B::map_err)?;
        if due.is_none() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "UPDATE webhook_deliveries SET locked_until = $1, attempts = attempts + 1
              WHERE id IN (SELECT id FROM webhook_deliveries
                            WHERE delivered_at IS NULL AND dead_at IS NULL AND available_at <= $2
                              AND (locked_until IS NULL OR locked_until <= $2)
                            ORDER BY available_at, id LIMIT $3{})
                AND delivered_at IS NULL AND dead_at IS NULL
                AND (locked_until IS NULL OR locked_until <= $2)
              RETURNING *",
            B::SKIP_LOCKED
        );
        let mut tx = B::begin_write(pool).await?;
        let rows = sqlx::query(&sql)
            .bind(ms(until))
            .bind(ms(now))
            .bind(limit)
            .fetch_all(&mut *tx)
            .await
            .map_err(B::map_err)?;
        crate::commit::<B>(tx).await?;
        rows.iter().map(Self::delivery_from_row).collect()
    }

    pub(crate) async fn record(
        pool: &DbPool<B>,
        event_id: &str,
        subscription: &str,
        outcome: &WebhookOutcome,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let id = format!("{event_id}:{subscription}");
        let done = match outcome {
            WebhookOutcome::Delivered { status } => sqlx::query(
                "UPDATE webhook_deliveries SET delivered_at = $2, locked_until = NULL,
                        last_status = $3, last_error = NULL
                  WHERE id = $1 AND delivered_at IS NULL AND dead_at IS NULL",
            )
            .bind(id.as_str())
            .bind(ms(now))
            .bind(i64::from(*status)),
            WebhookOutcome::Retry { at, status, error } => sqlx::query(
                "UPDATE webhook_deliveries SET available_at = $2, locked_until = NULL,
                        last_status = $3, last_error = $4
                  WHERE id = $1 AND delivered_at IS NULL AND dead_at IS NULL",
            )
            .bind(id.as_str())
            .bind(ms(*at))
            .bind(status.map(i64::from))
            .bind(error.as_str()),
            WebhookOutcome::Dead { status, error } => sqlx::query(
                "UPDATE webhook_deliveries SET dead_at = $2, locked_until = NULL,
                        last_status = $3, last_error = $4
                  WHERE id = $1 AND delivered_at IS NULL AND dead_at IS NULL",
            )
            .bind(id.as_str())
            .bind(ms(now))
            .bind(status.map(i64::from))
            .bind(error.as_str()),
        }
        .execute(pool)
        .await
        .map_err(B::map_err)?;
        Ok(B::rows_affected(done) > 0)
    }
}
