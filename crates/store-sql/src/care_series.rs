//! Recurring care (issue 18 point 5): a series of appointments booked by the practice in
//! one transaction of the booking writer. Each occurrence is an ordinary reservation
//! inserted by [`Reservations::insert_reservation`] (stale holds expired, pool places taken,
//! the database's overlap rule having the last word) under a savepoint of its own, so that
//! every occurrence that is not free is named; any such occurrence undoes the whole series.

use crate::outbox::Outbox;
use crate::{internal, Backend, DbPool, DbRow, Reservations, SqlStore, Tx};
use careslot_domain::{AccountId, AgendaId, ReservationId};
use careslot_store::codec::{pool_key, ts};
use careslot_store::*;
use jiff::Timestamp;
use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Row, Type};

impl<B: Backend> Reservations<B>
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
    /// Books a series inside the writer's transaction (under the job's savepoint, which the
    /// writer rolls back unless every occurrence is booked).
    pub(crate) async fn care_series_in(
        tx: &mut Tx<B>,
        req: &CareSeriesRequest,
    ) -> StoreResult<CareSeriesOutcome> {
        if req
            .occurrences
            .iter()
            .any(|o| o.agenda_id != req.agenda_id || o.hold_until.is_some())
        {
            return Err(StoreError::Internal(
                "a care series books occurrences of its own agenda".into(),
            ));
        }
        sqlx::query(
            "INSERT INTO care_series (id, agenda_id, created_by, rule, created_at)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&req.id)
        .bind(req.agenda_id.as_str())
        .bind(req.created_by.as_str())
        .bind(&req.rule)
        .bind(req.now.as_second())
        .execute(&mut **tx)
        .await
        .map_err(B::map_err)?;
        let mut rows = Vec::with_capacity(req.occurrences.len());
        let mut conflicts = Vec::new();
        for (i, occurrence) in req.occurrences.iter().enumerate() {
            Self::exec(tx, "SAVEPOINT careslot_occurrence").await?;
            match Self::insert_reservation(tx, occurrence).await {
                Ok(row) => {
                    Self::exec(tx, "RELEASE SAVEPOINT careslot_occurrence").await?;
                    rows.push(row);
                }
                Err(StoreError::Conflict(
                    ConflictKind::SlotTaken | ConflictKind::CapacityExhausted,
                )) => {
                    Self::exec(tx, "ROLLBACK TO SAVEPOINT careslot_occurrence").await?;
                    Self::exec(tx, "RELEASE SAVEPOINT careslot_occurrence").await?;
                    conflicts.push(i);
                }
                Err(e) => return Err(e),
            }
        }
        if !conflicts.is_empty() {
            return Ok(CareSeriesOutcome::Conflicts(conflicts));
        }
        for row in &rows {
            sqlx::query("UPDATE reservations SET series_id = $2 WHERE id = $1")
                .bind(row.id.as_str())
                .bind(&req.id)
                .execute(&mut **tx)
                .await
                .map_err(B::map_err)?;
        }
        Ok(CareSeriesOutcome::Booked(rows))
    }

    async fn exec(tx: &mut Tx<B>, sql: &'static str) -> StoreResult<()> {
        sqlx::query(sql)
            .execute(&mut **tx)
            .await
            .map_err(B::map_err)?;
        Ok(())
    }

    /// The agenda of a series, read inside `tx`; NotFound when there is no such series.
    async fn series_agenda_in(tx: &mut Tx<B>, id: &str) -> StoreResult<String> {
        sqlx::query("SELECT agenda_id FROM care_series WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut **tx)
            .await
            .map_err(B::map_err)?
            .ok_or(StoreError::NotFound)?
            .try_get("agenda_id")
            .map_err(internal)
    }

    pub(crate) async fn care_series(pool: &DbPool<B>, id: &str) -> StoreResult<Option<CareSeries>> {
        let Some(s) = sqlx::query("SELECT * FROM care_series WHERE id = $1")
            .bind(id)
            .fetch_optional(pool)
            .await
            .map_err(B::map_err)?
        else {
            return Ok(None);
        };
        let occurrences =
            sqlx::query("SELECT * FROM reservations WHERE series_id = $1 ORDER BY start_s, id")
                .bind(id)
                .fetch_all(pool)
                .await
                .map_err(B::map_err)?
                .iter()
                .map(SqlStore::<B>::reservation_from_row)
                .collect::<StoreResult<Vec<_>>>()?;
        Ok(Some(CareSeries {
            id: s.try_get("id").map_err(internal)?,
            agenda_id: AgendaId(s.try_get("agenda_id").map_err(internal)?),
            created_by: AccountId(s.try_get("created_by").map_err(internal)?),
            rule: s.try_get("rule").map_err(internal)?,
            created_at: ts(s.try_get("created_at").map_err(internal)?)?,
            occurrences,
        }))
    }

    pub(crate) async fn care_series_of(
        pool: &DbPool<B>,
        reservation: &ReservationId,
    ) -> StoreResult<Option<CareSeries>> {
        let series: Option<String> =
            sqlx::query("SELECT series_id FROM reservations WHERE id = $1")
                .bind(reservation.as_str())
                .fetch_optional(pool)
                .await
                .map_err(B::map_err)?
                .map(|r| r.try_get("series_id"))
                .transpose()
                .map_err(internal)?
                .flatten();
        match series {
            Some(id) => Self::care_series(pool, &id).await,
            None => Ok(None),
        }
    }

    /// Cancels the live occurrences starting at or after `from` and after `now`, each as
    /// [`Reservations::cancel_in`] does (pool place back, waiting alerts told), in one
    /// transaction.
    pub(crate) async fn cancel_care_series(
        pool: &DbPool<B>,
        id: &str,
        from: Timestamp,
        now: Timestamp,
        outbox: &OutboxWrite,
    ) -> StoreResult<Vec<ReservationRow>> {
        let mut tx = B::begin_write(pool).await?;
        let agenda: String = Self::series_agenda_in(&mut tx, id).await?;
        let ids: Vec<String> = sqlx::query(
            "SELECT id FROM reservations
              WHERE series_id = $1 AND status IN ('held', 'booked') AND start_s >= $2
              ORDER BY start_s",
        )
        .bind(id)
        .bind(from.as_second().max(now.as_second()))
        .fetch_all(&mut *tx)
        .await
        .map_err(B::map_err)?
        .iter()
        .map(|r| r.try_get("id"))
        .collect::<Result<_, _>>()
        .map_err(internal)?;
        let agenda = AgendaId(agenda);
        let mut cancelled = Vec::with_capacity(ids.len());
        for rid in ids {
            if let Some(r) =
                Self::cancel_in(&mut tx, &ReservationId(rid), now, Some(&agenda)).await?
            {
                cancelled.push(r);
            }
        }
        if cancelled.is_empty() {
            return Ok(cancelled);
        }
        Outbox::<B>::apply_in(&mut tx, outbox).await?;
        B::agenda_changed(&mut tx, agenda.as_str()).await?;
        crate::commit::<B>(tx).await?;
        Ok(cancelled)
    }

    /// Moves occurrences of a series, each as [`Reservations::move_to`] does (stale holds
    /// expired, pool places swapped, the overlap rule having the last word) under a savepoint
    /// of its own. An occurrence whose new time another occurrence still holds is tried again
    /// once that one has moved: passes repeat while they move something, so the order of the
    /// request does not matter. Anything left over undoes the whole move.
    pub(crate) async fn move_care_series(
        pool: &DbPool<B>,
        id: &str,
        moves: &[OccurrenceMove],
        now: Timestamp,
        outbox: &OutboxWrite,
    ) -> StoreResult<SeriesMoveOutcome> {
        let mut tx = B::begin_write(pool).await?;
        let agenda: String = Self::series_agenda_in(&mut tx, id).await?;
        // What each occurrence is now: (start, end, capacity of its motive).
        let mut current = Vec::with_capacity(moves.len());
        for m in moves {
            let row = sqlx::query(
                "SELECT r.start_s, r.end_s, r.status, m.capacity FROM reservations r
                   JOIN motives m ON m.id = $3 AND m.agenda_id = r.agenda_id
                  WHERE r.id = $1 AND r.series_id = $2",
            )
            .bind(m.id.as_str())
            .bind(id)
            .bind(m.motive.as_str())
            .fetch_optional(&mut *tx)
            .await
            .map_err(B::map_err)?
            .ok_or(StoreError::Conflict(ConflictKind::NotLive))?;
            let status: String = row.try_get("status").map_err(internal)?;
            if status != "booked" {
                return Err(StoreError::Conflict(ConflictKind::NotLive));
            }
            let start: i64 = row.try_get("start_s").map_err(internal)?;
            let end: i64 = row.try_get("end_s").map_err(internal)?;
            let capacity: i64 = row.try_get("capacity").map_err(internal)?;
            current.push((start, end, capacity));
        }
        let mut moved: Vec<Option<ReservationRow>> = vec![None; moves.len()];
        let mut pending: Vec<usize> = (0..moves.len()).collect();
        while !pending.is_empty() {
            let mut left = Vec::new();
            for i in pending.iter().copied() {
                let (old_start, old_end, _) = current[i];
                let start_s = moves[i].start.as_second();
                let end_s = start_s + (old_end - old_start);
                Self::exec(&mut tx, "SAVEPOINT careslot_occurrence").await?;
                let tried = Self::shift_in(
                    &mut tx,
                    &moves[i].id,
                    &agenda,
                    current[i],
                    start_s,
                    end_s,
                    now,
                )
                .await;
                match tried {
                    Ok(row) => {
                        Self::exec(&mut tx, "RELEASE SAVEPOINT careslot_occurrence").await?;
                        moved[i] = Some(row);
                    }
                    Err(StoreError::Conflict(
                        ConflictKind::SlotTaken | ConflictKind::CapacityExhausted,
                    )) => {
                        Self::exec(&mut tx, "ROLLBACK TO SAVEPOINT careslot_occurrence").await?;
                        Self::exec(&mut tx, "RELEASE SAVEPOINT careslot_occurrence").await?;
                        left.push(i);
                    }
                    Err(e) => return Err(e),
                }
            }
            if left.len() == pending.len() {
                // Dropping the transaction rolls every move back.
                return Ok(SeriesMoveOutcome::Conflicts(left));
            }
            pending = left;
        }
        // The times left, but not those another occurrence took.
        for (start, end, _) in &current {
            let retaken = moved
                .iter()
                .flatten()
                .any(|r| r.start.as_second() < *end && r.end.as_second() > *start);
            if !retaken {
                crate::Alerts::<B>::place_freed_in(&mut tx, &agenda, *start, *end).await?;
            }
        }
        Outbox::<B>::apply_in(&mut tx, outbox).await?;
        B::agenda_changed(&mut tx, &agenda).await?;
        crate::commit::<B>(tx).await?;
        Ok(SeriesMoveOutcome::Moved(
            moved.into_iter().flatten().collect(),
        ))
    }

    /// One occurrence to `[start_s, end_s)` inside the caller's transaction.
    async fn shift_in(
        tx: &mut Tx<B>,
        id: &ReservationId,
        agenda: &str,
        (old_start, old_end, capacity): (i64, i64, i64),
        start_s: i64,
        end_s: i64,
        now: Timestamp,
    ) -> StoreResult<ReservationRow> {
        Self::expire_stale_holds(tx, agenda, start_s, end_s, now.as_second()).await?;
        if capacity > 1 {
            Self::release_pool_place(tx, agenda, old_start, old_end).await?;
            Self::take_pool_place(tx, agenda, start_s, end_s, capacity).await?;
        }
        let row = sqlx::query(
            "UPDATE reservations SET start_s = $2, end_s = $3, pool = $4, updated_at = $5
              WHERE id = $1 AND status = 'booked' RETURNING *",
        )
        .bind(id.as_str())
        .bind(start_s)
        .bind(end_s)
        .bind(pool_key(capacity, id.as_str(), start_s, end_s))
        .bind(now.as_second())
        .fetch_optional(&mut **tx)
        .await
        .map_err(B::map_err)?
        .ok_or(StoreError::Conflict(ConflictKind::NotLive))?;
        SqlStore::<B>::reservation_from_row(&row)
    }
}
