//! Teleconsultation payments. Status changes are conditional updates: a payment moves only
//! from the states the caller names, so a webhook and the sweep racing on the same payment
//! cannot move it backwards.

use crate::{internal, Backend, DbPool, DbRow};
use careslot_domain::{AgendaId, MotiveId, ReservationId};
use careslot_store::codec::{self, ts};
use careslot_store::*;
use jiff::Timestamp;
use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Row, Type};
use std::marker::PhantomData;

/// The SQL of teleconsultation payments on backend `B`, called by `SqlStore`'s `Store`
/// methods with the pool to use.
pub(crate) struct Payments<B>(PhantomData<B>);

impl<B: Backend> Payments<B>
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
    fn payment_from_row(row: &DbRow<B>) -> StoreResult<PaymentRow> {
        let status: String = row.try_get("status").map_err(internal)?;
        Ok(PaymentRow {
            reservation_id: ReservationId(row.try_get("reservation_id").map_err(internal)?),
            agenda_id: AgendaId(row.try_get("agenda_id").map_err(internal)?),
            provider: row.try_get("provider").map_err(internal)?,
            intent_id: row.try_get("intent_id").map_err(internal)?,
            amount_cents: row.try_get("amount_cents").map_err(internal)?,
            currency: row.try_get("currency").map_err(internal)?,
            status: PaymentStatus::parse(&status)
                .ok_or_else(|| codec::corrupt("payment status"))?,
            created_at: ts(row.try_get("created_at").map_err(internal)?)?,
            updated_at: ts(row.try_get("updated_at").map_err(internal)?)?,
        })
    }

    pub(crate) async fn set_motive_fee(
        pool: &DbPool<B>,
        agenda: &AgendaId,
        motive: &MotiveId,
        fee: Option<&Fee>,
    ) -> StoreResult<()> {
        let Some(fee) = fee else {
            sqlx::query("DELETE FROM motive_fees WHERE motive_id = $1 AND agenda_id = $2")
                .bind(motive.as_str())
                .bind(agenda.as_str())
                .execute(pool)
                .await
                .map_err(B::map_err)?;
            return Ok(());
        };
        // Only a teleconsultation motive of this agenda gets a row (the table's CHECK and
        // foreign key say the same).
        let n = sqlx::query(
            "INSERT INTO motive_fees (motive_id, agenda_id, amount_cents, currency)
             SELECT id, agenda_id, $3, $4 FROM motives
              WHERE id = $1 AND agenda_id = $2 AND teleconsultation
             ON CONFLICT (motive_id) DO UPDATE
                SET amount_cents = excluded.amount_cents, currency = excluded.currency",
        )
        .bind(motive.as_str())
        .bind(agenda.as_str())
        .bind(fee.amount_cents)
        .bind(&fee.currency)
        .execute(pool)
        .await
        .map_err(B::map_err)
        .map(B::rows_affected)?;
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    pub(crate) async fn motive_fees(
        pool: &DbPool<B>,
        agenda: &AgendaId,
    ) -> StoreResult<Vec<MotiveFee>> {
        sqlx::query(
            "SELECT motive_id, amount_cents, currency FROM motive_fees WHERE agenda_id = $1
              ORDER BY motive_id",
        )
        .bind(agenda.as_str())
        .fetch_all(pool)
        .await
        .map_err(B::map_err)?
        .iter()
        .map(|r| {
            Ok(MotiveFee {
                motive_id: MotiveId(r.try_get("motive_id").map_err(internal)?),
                fee: Fee {
                    amount_cents: r.try_get("amount_cents").map_err(internal)?,
                    currency: r.try_get("currency").map_err(internal)?,
                },
            })
        })
        .collect()
    }

    pub(crate) async fn insert_payment(pool: &DbPool<B>, p: &PaymentRow) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO payments (reservation_id, agenda_id, provider, intent_id, amount_cents,
                                   currency, status, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(p.reservation_id.as_str())
        .bind(p.agenda_id.as_str())
        .bind(&p.provider)
        .bind(p.intent_id.as_deref())
        .bind(p.amount_cents)
        .bind(&p.currency)
        .bind(p.status.as_str())
        .bind(p.created_at.as_second())
        .bind(p.updated_at.as_second())
        .execute(pool)
        .await
        .map_err(B::map_err)?;
        Ok(())
    }

    pub(crate) async fn payment(
        pool: &DbPool<B>,
        id: &ReservationId,
    ) -> StoreResult<Option<PaymentRow>> {
        sqlx::query("SELECT * FROM payments WHERE reservation_id = $1")
            .bind(id.as_str())
            .fetch_optional(pool)
            .await
            .map_err(B::map_err)?
            .as_ref()
            .map(Self::payment_from_row)
            .transpose()
    }

    pub(crate) async fn payment_by_intent(
        pool: &DbPool<B>,
        intent: &str,
    ) -> StoreResult<Option<PaymentRow>> {
        sqlx::query("SELECT * FROM payments WHERE intent_id = $1")
            .bind(intent)
            .fetch_optional(pool)
            .await
            .map_err(B::map_err)?
            .as_ref()
            .map(Self::payment_from_row)
            .transpose()
    }

    pub(crate) async fn transition(
        pool: &DbPool<B>,
        t: &PaymentTransition<'_>,
    ) -> StoreResult<Option<PaymentRow>> {
        if t.from.is_empty() {
            return Ok(None);
        }
        let from: Vec<String> = (0..t.from.len()).map(|i| format!("${}", i + 5)).collect();
        let sql = format!(
            "UPDATE payments SET status = $2, intent_id = COALESCE($3, intent_id), updated_at = $4
              WHERE reservation_id = $1 AND status IN ({}) RETURNING *",
            from.join(", ")
        );
        let mut q = sqlx::query(&sql)
            .bind(t.reservation_id.as_str())
            .bind(t.to.as_str())
            .bind(t.intent_id)
            .bind(t.now.as_second());
        for s in t.from {
            q = q.bind(s.as_str());
        }
        q.fetch_optional(pool)
            .await
            .map_err(B::map_err)?
            .as_ref()
            .map(Self::payment_from_row)
            .transpose()
    }

    pub(crate) async fn to_settle(
        pool: &DbPool<B>,
        now: Timestamp,
        limit: i64,
    ) -> StoreResult<Vec<OpenPayment>> {
        sqlx::query(
            "SELECT p.*, r.status AS r_status, r.end_s AS r_end, r.expires_at AS r_expires
               FROM payments p JOIN reservations r ON r.id = p.reservation_id
              WHERE p.status = 'authorised'
                AND ((r.status = 'booked' AND r.end_s <= $1)
                     OR r.status IN ('cancelled', 'expired', 'no_show')
                     OR (r.status = 'held' AND r.expires_at <= $1))
              ORDER BY p.updated_at, p.reservation_id
              LIMIT $2",
        )
        .bind(now.as_second())
        .bind(limit)
        .fetch_all(pool)
        .await
        .map_err(B::map_err)?
        .iter()
        .map(|r| {
            let status: String = r.try_get("r_status").map_err(internal)?;
            Ok(OpenPayment {
                payment: Self::payment_from_row(r)?,
                reservation_status: ReservationStatus::parse(&status)
                    .ok_or_else(|| codec::corrupt("reservation status"))?,
                reservation_end: ts(r.try_get("r_end").map_err(internal)?)?,
                hold_expires_at: r
                    .try_get::<Option<i64>, _>("r_expires")
                    .map_err(internal)?
                    .map(ts)
                    .transpose()?,
            })
        })
        .collect()
    }

    pub(crate) async fn record_event(
        pool: &DbPool<B>,
        provider: &str,
        event_id: &str,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let n = sqlx::query(
            "INSERT INTO payment_events (provider, event_id, received_at) VALUES ($1, $2, $3)
             ON CONFLICT (provider, event_id) DO NOTHING",
        )
        .bind(provider)
        .bind(event_id)
        .bind(now.as_second())
        .execute(pool)
        .await
        .map_err(B::map_err)
        .map(B::rows_affected)?;
        Ok(n == 1)
    }

    pub(crate) async fn event_seen(
        pool: &DbPool<B>,
        provider: &str,
        event_id: &str,
    ) -> StoreResult<bool> {
        let row = sqlx::query(
            "SELECT 1 AS one FROM payment_events WHERE provider = $1 AND event_id = $2",
        )
        .bind(provider)
        .bind(event_id)
        .fetch_optional(pool)
        .await
        .map_err(B::map_err)?;
        Ok(row.is_some())
    }

    pub(crate) async fn expire_hold_now(
        pool: &DbPool<B>,
        id: &ReservationId,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let n = sqlx::query(
            "UPDATE reservations SET expires_at = $2, updated_at = $2
              WHERE id = $1 AND status = 'held' AND expires_at > $2",
        )
        .bind(id.as_str())
        .bind(now.as_second())
        .execute(pool)
        .await
        .map_err(B::map_err)
        .map(B::rows_affected)?;
        Ok(n == 1)
    }
}
