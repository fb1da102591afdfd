//! Earlier-slot alerts (issue 14): subscriptions, the places freed in watched agendas, and the
//! offers that hold a freed place for one subscriber at a time. Times in Unix seconds, like
//! reservations. A freed place is keyed by (agenda, start), so two alerts never chase it at
//! once; the offer, its hold and its messages are written in one transaction.

use crate::outbox::Outbox;
use crate::reservations::Reservations;
use crate::{internal, Backend, DbPool, DbRow, Tx};
use careslot_domain::{AccountId, AgendaId, ReservationId};
use careslot_store::codec::ts;
use careslot_store::*;
use jiff::{SignedDuration, Timestamp};
use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Row, Type};
use std::marker::PhantomData;

/// The SQL of earlier-slot alerts on backend `B`.
pub struct Alerts<B>(PhantomData<B>);

impl<B: Backend> Alerts<B>
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
    fn alert(row: &DbRow<B>) -> StoreResult<SlotAlert> {
        Ok(SlotAlert {
            id: row.try_get("id").map_err(internal)?,
            account_id: AccountId(row.try_get("account_id").map_err(internal)?),
            agenda_id: AgendaId(row.try_get("agenda_id").map_err(internal)?),
            motive_ct: row.try_get("motive_ct").map_err(internal)?,
            before: row
                .try_get::<Option<i64>, _>("before_s")
                .map_err(internal)?
                .map(ts)
                .transpose()?,
            created_at: ts(row.try_get("created_at").map_err(internal)?)?,
        })
    }

    pub(crate) async fn create(pool: &DbPool<B>, a: &SlotAlert) -> StoreResult<()> {
        let mut tx = B::begin_write(pool).await?;
        sqlx::query(
            "INSERT INTO slot_alerts (id, account_id, agenda_id, motive_ct, before_s, created_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(a.id.as_str())
        .bind(a.account_id.as_str())
        .bind(a.agenda_id.as_str())
        .bind(a.motive_ct.as_slice())
        .bind(a.before.map(|t| t.as_second()))
        .bind(a.created_at.as_second())
        .execute(&mut *tx)
        .await
        .map_err(B::map_err)?;
        crate::commit::<B>(tx).await
    }

    pub(crate) async fn of_account(
        pool: &DbPool<B>,
        account: &AccountId,
    ) -> StoreResult<Vec<SlotAlert>> {
        let rows =
            sqlx::query("SELECT * FROM slot_alerts WHERE account_id = $1 ORDER BY created_at, id")
                .bind(account.as_str())
                .fetch_all(pool)
                .await
                .map_err(B::map_err)?;
        rows.iter().map(Self::alert).collect()
    }

    pub(crate) async fn offers_of(
        pool: &DbPool<B>,
        account: &AccountId,
        now: Timestamp,
    ) -> StoreResult<Vec<SlotOffer>> {
        let rows = sqlx::query(
            "SELECT o.alert_id, o.hold_id, o.expires_s, p.start_s
               FROM slot_offers o
               JOIN slot_alerts a ON a.id = o.alert_id
               JOIN freed_places p ON p.id = o.place_id
              WHERE a.account_id = $1 AND o.expires_s > $2
              ORDER BY p.start_s",
        )
        .bind(account.as_str())
        .bind(now.as_second())
        .fetch_all(pool)
        .await
        .map_err(B::map_err)?;
        rows.iter()
            .map(|r| {
                Ok(SlotOffer {
                    alert_id: r.try_get("alert_id").map_err(internal)?,
                    hold_id: ReservationId(r.try_get("hold_id").map_err(internal)?),
                    start: ts(r.try_get("start_s").map_err(internal)?)?,
                    expires_at: ts(r.try_get("expires_s").map_err(internal)?)?,
                })
            })
            .collect()
    }

    pub(crate) async fn delete(
        pool: &DbPool<B>,
        account: &AccountId,
        id: &str,
    ) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM slot_alerts WHERE id = $1 AND account_id = $2")
            .bind(id)
            .bind(account.as_str())
            .execute(pool)
            .await
            .map_err(B::map_err)?;
        Ok(B::rows_affected(done) > 0)
    }

    /// Inside a cancellation or move: a booked place of `agenda` became free. Remembered only
    /// when someone watches the agenda; due at once (`due_s` 0: whatever clock the workers
    /// read, the place is offered on their next claim).
    pub(crate) async fn place_freed_in(
        tx: &mut Tx<B>,
        agenda: &str,
        start_s: i64,
        end_s: i64,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO freed_places (id, agenda_id, start_s, end_s, due_s)
             SELECT $1, $2, $3, $4, 0 WHERE EXISTS (SELECT 1 FROM slot_alerts WHERE agenda_id = $2)
             ON CONFLICT (agenda_id, start_s) DO NOTHING",
        )
        .bind(format!("{agenda}@{start_s}"))
        .bind(agenda)
        .bind(start_s)
        .bind(end_s)
        .execute(&mut **tx)
        .await
        .map_err(B::map_err)?;
        Ok(())
    }

    /// Inside the booking of a hold: when the hold backed an offer, the subscription is
    /// consumed and the place forgotten (its offers go with it).
    pub(crate) async fn offer_booked_in(tx: &mut Tx<B>, hold_id: &str) -> StoreResult<()> {
        let Some(row) =
            sqlx::query("SELECT place_id, alert_id FROM slot_offers WHERE hold_id = $1")
                .bind(hold_id)
                .fetch_optional(&mut **tx)
                .await
                .map_err(B::map_err)?
        else {
            return Ok(());
        };
        let place: String = row.try_get("place_id").map_err(internal)?;
        let alert: String = row.try_get("alert_id").map_err(internal)?;
        for (sql, id) in [
            ("DELETE FROM freed_places WHERE id = $1", place),
            ("DELETE FROM slot_alerts WHERE id = $1", alert),
        ] {
            sqlx::query(sql)
                .bind(id.as_str())
                .execute(&mut **tx)
                .await
                .map_err(B::map_err)?;
        }
        Ok(())
    }

    pub(crate) async fn claim(
        pool: &DbPool<B>,
        now: Timestamp,
        lease: SignedDuration,
    ) -> StoreResult<Option<FreedPlace>> {
        let now_s = now.as_second();
        let until = now_s.saturating_add(lease.as_secs());
        let sql = format!(
            "UPDATE freed_places SET locked_until = $1
              WHERE id IN (SELECT id FROM freed_places
                            WHERE due_s <= $2 AND (locked_until IS NULL OR locked_until <= $2)
                            ORDER BY due_s, id LIMIT 1{})
                AND (locked_until IS NULL OR locked_until <= $2)
              RETURNING id, agenda_id, start_s, end_s",
            B::SKIP_LOCKED
        );
        // Most polls find nothing: look before taking the write lock.
        let due = sqlx::query(
            "SELECT 1 FROM freed_places
              WHERE due_s <= $1 AND (locked_until IS NULL OR locked_until <= $1) LIMIT 1",
        )
        .bind(now_s)
        .fetch_optional(pool)
        .await
        .map_err(B::map_err)?;
        if due.is_none() {
            return Ok(None);
        }
        let mut tx = B::begin_write(pool).await?;
        let row = sqlx::query(&sql)
            .bind(until)
            .bind(now_s)
            .fetch_optional(&mut *tx)
            .await
            .map_err(B::map_err)?;
        crate::commit::<B>(tx).await?;
        row.map(|r| {
            Ok(FreedPlace {
                id: r.try_get("id").map_err(internal)?,
                agenda_id: AgendaId(r.try_get("agenda_id").map_err(internal)?),
                start: ts(r.try_get("start_s").map_err(internal)?)?,
                end: ts(r.try_get("end_s").map_err(internal)?)?,
            })
        })
        .transpose()
    }

    pub(crate) async fn candidates(
        pool: &DbPool<B>,
        place: &FreedPlace,
    ) -> StoreResult<Vec<SlotAlert>> {
        let rows = sqlx::query(
            "SELECT a.* FROM slot_alerts a
              WHERE a.agenda_id = $1 AND (a.before_s IS NULL OR a.before_s > $2)
                AND NOT EXISTS (SELECT 1 FROM slot_offers o WHERE o.place_id = $3 AND o.alert_id = a.id)
              ORDER BY a.created_at, a.id",
        )
        .bind(place.agenda_id.as_str())
        .bind(place.start.as_second())
        .bind(place.id.as_str())
        .fetch_all(pool)
        .await
        .map_err(B::map_err)?;
        rows.iter().map(Self::alert).collect()
    }

    pub(crate) async fn offer(
        pool: &DbPool<B>,
        place: &FreedPlace,
        alert_id: &str,
        hold: &ReserveRequest,
        outbox: &OutboxWrite,
    ) -> StoreResult<()> {
        let expires = hold
            .hold_until
            .ok_or_else(|| internal("an offer needs a hold with an expiry"))?
            .as_second();
        let mut tx = B::begin_write(pool).await?;
        let live = sqlx::query("SELECT 1 FROM freed_places WHERE id = $1")
            .bind(place.id.as_str())
            .fetch_optional(&mut *tx)
            .await
            .map_err(B::map_err)?;
        if live.is_none() {
            return Err(StoreError::NotFound);
        }
        let held = Reservations::<B>::insert_reservation(&mut tx, hold).await?;
        sqlx::query(
            "INSERT INTO slot_offers (place_id, alert_id, hold_id, expires_s) VALUES ($1, $2, $3, $4)",
        )
        .bind(place.id.as_str())
        .bind(alert_id)
        .bind(held.id.as_str())
        .bind(expires)
        .execute(&mut *tx)
        .await
        .map_err(B::map_err)?;
        sqlx::query("UPDATE freed_places SET due_s = $2, locked_until = NULL WHERE id = $1")
            .bind(place.id.as_str())
            .bind(expires)
            .execute(&mut *tx)
            .await
            .map_err(B::map_err)?;
        Outbox::<B>::apply_in(&mut tx, outbox).await?;
        B::agenda_changed(&mut tx, place.agenda_id.as_str()).await?;
        crate::commit::<B>(tx).await
    }

    pub(crate) async fn drop_place(pool: &DbPool<B>, id: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM freed_places WHERE id = $1")
            .bind(id)
            .execute(pool)
            .await
            .map_err(B::map_err)?;
        Ok(())
    }
}
