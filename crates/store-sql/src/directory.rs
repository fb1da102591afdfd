//! The SQL of a practice's patient directory (issue 18, point 1): entries and their blind
//! index terms, written in one transaction; lookups that need every term of a query.
//! Times are Unix seconds.

use crate::{internal, Backend, DbPool, DbRow};
use careslot_domain::{AccountId, PractitionerId};
use careslot_store::codec::ts;
use careslot_store::*;
use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Row, Type};
use std::marker::PhantomData;

/// The SQL of the patient directory on backend `B`.
pub struct Directory<B>(PhantomData<B>);

/// Terms per query at most: a query's words, each one term (the service caps them too).
const MAX_TERMS: usize = 16;

impl<B: Backend> Directory<B>
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
    fn row(row: &DbRow<B>) -> StoreResult<PracticePatient> {
        Ok(PracticePatient {
            id: row.try_get("id").map_err(internal)?,
            practitioner_id: PractitionerId(row.try_get("practitioner_id").map_err(internal)?),
            account_id: AccountId(row.try_get("account_id").map_err(internal)?),
            note_ct: row.try_get("note_ct").map_err(internal)?,
            created_at: ts(row.try_get("created_at").map_err(internal)?)?,
        })
    }

    pub(crate) async fn file(
        pool: &DbPool<B>,
        entry: &PracticePatient,
        terms: &[i64],
    ) -> StoreResult<PracticePatient> {
        // Each confirmation of an online booking files its patient again (to follow a changed
        // name or phone): when the entry exists with the same terms, nothing is written.
        let mut wanted = terms.to_vec();
        wanted.sort_unstable();
        wanted.dedup();
        if let Some(stored) =
            Self::of_account(pool, &entry.practitioner_id, &entry.account_id).await?
        {
            let have = sqlx::query(
                "SELECT term FROM practice_patient_terms WHERE entry_id = $1 ORDER BY term",
            )
            .bind(stored.id.as_str())
            .fetch_all(pool)
            .await
            .map_err(B::map_err)?
            .iter()
            .map(|r| r.try_get::<i64, _>("term").map_err(internal))
            .collect::<StoreResult<Vec<i64>>>()?;
            if have == wanted {
                return Ok(stored);
            }
        }
        let mut tx = B::begin_write(pool).await?;
        sqlx::query(
            "INSERT INTO practice_patients (id, practitioner_id, account_id, note_ct, created_at)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (practitioner_id, account_id) DO NOTHING",
        )
        .bind(entry.id.as_str())
        .bind(entry.practitioner_id.as_str())
        .bind(entry.account_id.as_str())
        .bind(entry.note_ct.as_deref())
        .bind(entry.created_at.as_second())
        .execute(&mut *tx)
        .await
        .map_err(B::map_err)?;
        let stored = sqlx::query(
            "SELECT * FROM practice_patients WHERE practitioner_id = $1 AND account_id = $2",
        )
        .bind(entry.practitioner_id.as_str())
        .bind(entry.account_id.as_str())
        .fetch_one(&mut *tx)
        .await
        .map_err(B::map_err)?;
        let stored = Self::row(&stored)?;
        sqlx::query("DELETE FROM practice_patient_terms WHERE entry_id = $1")
            .bind(stored.id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(B::map_err)?;
        // Truncated indexes collide: two values of one entry may give the same term (`wanted`
        // is deduplicated).
        for chunk in wanted.chunks(200) {
            let values: Vec<String> = (0..chunk.len())
                .map(|i| format!("($1, ${}, $2)", i + 3))
                .collect();
            let sql = format!(
                "INSERT INTO practice_patient_terms (practitioner_id, term, entry_id) VALUES {}",
                values.join(", ")
            );
            let mut q = sqlx::query(&sql)
                .bind(stored.practitioner_id.as_str())
                .bind(stored.id.as_str());
            for t in chunk {
                q = q.bind(*t);
            }
            q.execute(&mut *tx).await.map_err(B::map_err)?;
        }
        crate::commit::<B>(tx).await?;
        Ok(stored)
    }

    pub(crate) async fn with_terms(
        pool: &DbPool<B>,
        practitioner: &PractitionerId,
        terms: &[i64],
        limit: i64,
    ) -> StoreResult<Vec<PracticePatient>> {
        let mut terms = terms.to_vec();
        terms.sort_unstable();
        terms.dedup();
        if terms.is_empty() || terms.len() > MAX_TERMS {
            return Err(StoreError::Internal(format!(
                "a directory lookup takes 1 to {MAX_TERMS} terms"
            )));
        }
        let list: Vec<String> = (0..terms.len()).map(|i| format!("${}", i + 3)).collect();
        let sql = format!(
            "SELECT p.* FROM practice_patients p
              WHERE p.practitioner_id = $1
                AND p.id IN (SELECT entry_id FROM practice_patient_terms
                              WHERE practitioner_id = $1 AND term IN ({})
                              GROUP BY entry_id HAVING COUNT(*) = {})
              ORDER BY p.created_at, p.id LIMIT $2",
            list.join(", "),
            terms.len()
        );
        let mut q = sqlx::query(&sql).bind(practitioner.as_str()).bind(limit);
        for t in &terms {
            q = q.bind(*t);
        }
        q.fetch_all(pool)
            .await
            .map_err(B::map_err)?
            .iter()
            .map(Self::row)
            .collect()
    }

    pub(crate) async fn one(
        pool: &DbPool<B>,
        practitioner: &PractitionerId,
        id: &str,
    ) -> StoreResult<Option<PracticePatient>> {
        sqlx::query("SELECT * FROM practice_patients WHERE practitioner_id = $1 AND id = $2")
            .bind(practitioner.as_str())
            .bind(id)
            .fetch_optional(pool)
            .await
            .map_err(B::map_err)?
            .as_ref()
            .map(Self::row)
            .transpose()
    }

    pub(crate) async fn of_account(
        pool: &DbPool<B>,
        practitioner: &PractitionerId,
        account: &AccountId,
    ) -> StoreResult<Option<PracticePatient>> {
        sqlx::query(
            "SELECT * FROM practice_patients WHERE practitioner_id = $1 AND account_id = $2",
        )
        .bind(practitioner.as_str())
        .bind(account.as_str())
        .fetch_optional(pool)
        .await
        .map_err(B::map_err)?
        .as_ref()
        .map(Self::row)
        .transpose()
    }

    pub(crate) async fn set_note(
        pool: &DbPool<B>,
        practitioner: &PractitionerId,
        id: &str,
        note_ct: Option<&[u8]>,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE practice_patients SET note_ct = $3 WHERE practitioner_id = $1 AND id = $2",
        )
        .bind(practitioner.as_str())
        .bind(id)
        .bind(note_ct)
        .execute(pool)
        .await
        .map_err(B::map_err)?;
        Ok(B::rows_affected(done) == 1)
    }

    pub(crate) async fn merge(pool: &DbPool<B>, m: &PatientMerge) -> StoreResult<()> {
        let practice = m.practitioner_id.as_str();
        if m.into.id == m.from.id
            || m.into.practitioner_id != m.practitioner_id
            || m.from.practitioner_id != m.practitioner_id
        {
            return Err(StoreError::NotFound);
        }
        let mut tx = B::begin_write(pool).await?;
        // Both entries, locked (PostgreSQL) so that a concurrent merge of either waits.
        let found = sqlx::query(&format!(
            "SELECT id, account_id FROM practice_patients
              WHERE practitioner_id = $1 AND id IN ($2, $3){}",
            B::FOR_UPDATE
        ))
        .bind(practice)
        .bind(m.into.id.as_str())
        .bind(m.from.id.as_str())
        .fetch_all(&mut *tx)
        .await
        .map_err(B::map_err)?;
        if found.len() != 2 {
            return Err(StoreError::NotFound);
        }
        for row in &found {
            let id: String = row.try_get("id").map_err(internal)?;
            let account: String = row.try_get("account_id").map_err(internal)?;
            let expected = if id == m.into.id { &m.into } else { &m.from };
            if account != expected.account_id.as_str() {
                return Err(StoreError::Conflict(ConflictKind::Changed));
            }
        }
        for mv in &m.moves {
            // Only a reservation of this practice that still names `from`.
            let done = sqlx::query(
                "UPDATE reservations SET patient_ct = $1, patient_bidx = $2, updated_at = $3
                  WHERE id = $4 AND patient_bidx = $5
                    AND agenda_id IN (SELECT id FROM agendas WHERE practitioner_id = $6)",
            )
            .bind(mv.patient_ct.as_slice())
            .bind(m.into_bidx)
            .bind(m.now.as_second())
            .bind(mv.reservation_id.as_str())
            .bind(m.from_bidx)
            .bind(practice)
            .execute(&mut *tx)
            .await
            .map_err(B::map_err)?;
            if B::rows_affected(done) != 1 {
                return Err(StoreError::Conflict(ConflictKind::Changed));
            }
            // The appointment's pending messages (reminders, notices) go to the kept account:
            // the removed one may be erased next, and its queued rows with it.
            sqlx::query(
                "UPDATE outbox SET account_id = $1 WHERE account_id = $2 AND reservation_id = $3",
            )
            .bind(m.into.account_id.as_str())
            .bind(m.from.account_id.as_str())
            .bind(mv.reservation_id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(B::map_err)?;
        }
        // Booked since the moves were computed: nothing of `from` may stay in the practice.
        let holding = sqlx::query(
            "SELECT id FROM reservations
              WHERE patient_bidx = $1
                AND agenda_id IN (SELECT id FROM agendas WHERE practitioner_id = $2)",
        )
        .bind(m.from_bidx)
        .bind(practice)
        .fetch_all(&mut *tx)
        .await
        .map_err(B::map_err)?;
        for row in &holding {
            let id: String = row.try_get("id").map_err(internal)?;
            let moved_here = m.into_bidx == m.from_bidx
                && m.moves.iter().any(|mv| mv.reservation_id.as_str() == id);
            if !moved_here && !m.others.iter().any(|o| o.as_str() == id) {
                return Err(StoreError::Conflict(ConflictKind::Changed));
            }
        }
        if m.note_ct.is_some() {
            sqlx::query("UPDATE practice_patients SET note_ct = $1 WHERE id = $2")
                .bind(m.note_ct.as_deref())
                .bind(m.into.id.as_str())
                .execute(&mut *tx)
                .await
                .map_err(B::map_err)?;
        }
        // Its terms go with it (ON DELETE CASCADE).
        sqlx::query("DELETE FROM practice_patients WHERE practitioner_id = $1 AND id = $2")
            .bind(practice)
            .bind(m.from.id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(B::map_err)?;
        crate::commit::<B>(tx).await
    }
}
