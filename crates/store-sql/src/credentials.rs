//! The SQL of practitioner verification (issue 15, point 6): declarations, decisions and
//! their history, each change and its history entry in one transaction. The database keeps
//! the statuses to their five values and one verified practitioner per identifier (a partial
//! unique index); conditional updates keep racing decisions from overwriting each other.
//! Times are Unix seconds.

use crate::{internal, Backend, DbPool, DbRow, Tx};
use careslot_domain::{CredentialStatus, PractitionerId, ProfessionalId, Specialty};
use careslot_store::codec::{self, ts};
use careslot_store::*;
use jiff::Timestamp;
use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Row, Type};
use std::marker::PhantomData;

/// The SQL of practitioner verification on backend `B`.
pub struct Credentials<B>(PhantomData<B>);

const LISTING_SQL: &str = "SELECT c.*, p.name AS pname, p.specialty AS pspecialty
     FROM practitioner_credentials c JOIN practitioners p ON p.id = c.practitioner_id";

impl<B: Backend> Credentials<B>
where
    for<'c> &'c mut <B::Db as Database>::Connection: Executor<'c, Database = B::Db>,
    for<'q> <B::Db as Database>::Arguments<'q>: IntoArguments<'q, B::Db>,
    for<'q> &'q str: Encode<'q, B::Db> + Type<B::Db>,
    for<'q> Option<&'q str>: Encode<'q, B::Db>,
    for<'q> Option<i64>: Encode<'q, B::Db>,
    for<'q, 'r> String: Encode<'q, B::Db> + Decode<'r, B::Db> + Type<B::Db>,
    for<'q, 'r> i64: Encode<'q, B::Db> + Decode<'r, B::Db> + Type<B::Db>,
    for<'s> &'s str: ColumnIndex<DbRow<B>>,
{
    fn identifier_of(row: &DbRow<B>) -> StoreResult<Option<ProfessionalId>> {
        let scheme: Option<String> = row.try_get("scheme").map_err(internal)?;
        let value: Option<String> = row.try_get("identifier").map_err(internal)?;
        match (scheme, value) {
            (Some(s), Some(v)) => ProfessionalId::parse_codes(&s, &v)
                .map(Some)
                .map_err(|_| codec::corrupt("professional identifier")),
            _ => Ok(None),
        }
    }

    fn status_of(row: &DbRow<B>) -> StoreResult<CredentialStatus> {
        let s: String = row.try_get("status").map_err(internal)?;
        CredentialStatus::parse(&s).map_err(|_| codec::corrupt("credential status"))
    }

    fn opt_ts(row: &DbRow<B>, column: &str) -> StoreResult<Option<Timestamp>> {
        row.try_get::<Option<i64>, _>(column)
            .map_err(internal)?
            .map(ts)
            .transpose()
    }

    fn record(row: &DbRow<B>) -> StoreResult<CredentialRecord> {
        Ok(CredentialRecord {
            practitioner_id: PractitionerId(row.try_get("practitioner_id").map_err(internal)?),
            identifier: Self::identifier_of(row)?,
            status: Self::status_of(row)?,
            declared_at: Self::opt_ts(row, "declared_at")?,
            decided_at: Self::opt_ts(row, "decided_at")?,
            decided_by: row.try_get("decided_by").map_err(internal)?,
            reason: row.try_get("reason").map_err(internal)?,
        })
    }

    fn listing(row: &DbRow<B>) -> StoreResult<CredentialListing> {
        let specialty: String = row.try_get("pspecialty").map_err(internal)?;
        Ok(CredentialListing {
            credential: Self::record(row)?,
            name: row.try_get("pname").map_err(internal)?,
            specialty: Specialty::parse(&specialty).map_err(|_| codec::corrupt("specialty"))?,
        })
    }

    async fn append_event(tx: &mut Tx<B>, r: &CredentialRecord, actor: &str) -> StoreResult<()> {
        let at = r
            .decided_at
            .or(r.declared_at)
            .unwrap_or_else(Timestamp::now);
        sqlx::query(
            "INSERT INTO practitioner_credential_events (practitioner_id, at, actor, status, scheme, identifier, reason)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(r.practitioner_id.as_str())
        .bind(at.as_second())
        .bind(actor)
        .bind(r.status.code())
        .bind(r.identifier.as_ref().map(|i| i.scheme().code()))
        .bind(r.identifier.as_ref().map(|i| i.value()))
        .bind(r.reason.as_deref())
        .execute(&mut **tx)
        .await
        .map_err(B::map_err)?;
        Ok(())
    }

    async fn current(tx: &mut Tx<B>, practitioner: &str) -> StoreResult<Option<CredentialRecord>> {
        sqlx::query("SELECT * FROM practitioner_credentials WHERE practitioner_id = $1")
            .bind(practitioner)
            .fetch_optional(&mut **tx)
            .await
            .map_err(B::map_err)?
            .as_ref()
            .map(Self::record)
            .transpose()
    }

    pub(crate) async fn declare(
        pool: &DbPool<B>,
        practitioner: &PractitionerId,
        id: &ProfessionalId,
        at: Timestamp,
    ) -> StoreResult<CredentialRecord> {
        let mut tx = B::begin_write(pool).await?;
        // The conditional upsert is one statement: a decision racing it either lands first
        // (and this resets it to pending, unless it verified this very identifier) or after
        // (and then it finds a pending row, as it expects).
        let row = sqlx::query(
            "INSERT INTO practitioner_credentials (practitioner_id, scheme, identifier, status, declared_at)
             VALUES ($1, $2, $3, 'pending', $4)
             ON CONFLICT (practitioner_id) DO UPDATE SET scheme = excluded.scheme,
                 identifier = excluded.identifier, status = 'pending', declared_at = excluded.declared_at,
                 decided_at = NULL, decided_by = NULL, reason = NULL
              WHERE NOT (practitioner_credentials.status = 'verified'
                         AND practitioner_credentials.scheme = excluded.scheme
                         AND practitioner_credentials.identifier = excluded.identifier)
             RETURNING *",
        )
        .bind(practitioner.as_str())
        .bind(id.scheme().code())
        .bind(id.value())
        .bind(at.as_second())
        .fetch_optional(&mut *tx)
        .await
        .map_err(B::map_err)?;
        let record = match row {
            Some(row) => {
                let record = Self::record(&row)?;
                Self::append_event(&mut tx, &record, "practitioner").await?;
                record
            }
            None => Self::current(&mut tx, practitioner.as_str())
                .await?
                .ok_or(StoreError::NotFound)?,
        };
        crate::commit::<B>(tx).await?;
        Ok(record)
    }

    pub(crate) async fn decide(
        pool: &DbPool<B>,
        d: &CredentialDecision<'_>,
    ) -> StoreResult<Option<CredentialRecord>> {
        if d.from.is_empty() {
            return Ok(None);
        }
        let mut tx = B::begin_write(pool).await?;
        let Some(current) = Self::current(&mut tx, d.practitioner.as_str()).await? else {
            return Ok(None);
        };
        if !d.from.contains(&current.status)
            || d.identifier
                .is_some_and(|i| current.identifier.as_ref() != Some(i))
        {
            return Ok(None);
        }
        // Conditional on what was read: on PostgreSQL (no single writer) a concurrent change
        // makes this update find nothing rather than overwrite it.
        let row = sqlx::query(
            "UPDATE practitioner_credentials SET status = $2, decided_at = $3, decided_by = $4, reason = $5
              WHERE practitioner_id = $1 AND status = $6
                AND scheme IS NOT DISTINCT FROM $7 AND identifier IS NOT DISTINCT FROM $8
             RETURNING *",
        )
        .bind(d.practitioner.as_str())
        .bind(d.to.code())
        .bind(d.at.as_second())
        .bind(d.actor)
        .bind(d.reason)
        .bind(current.status.code())
        .bind(current.identifier.as_ref().map(|i| i.scheme().code()))
        .bind(current.identifier.as_ref().map(|i| i.value()))
        .fetch_optional(&mut *tx)
        .await
        .map_err(B::map_err)?;
        let Some(row) = row else {
            return Ok(None);
        };
        let record = Self::record(&row)?;
        Self::append_event(&mut tx, &record, d.actor).await?;
        crate::commit::<B>(tx).await?;
        Ok(Some(record))
    }

    pub(crate) async fn vouch(
        pool: &DbPool<B>,
        practitioner: &PractitionerId,
        id: Option<&ProfessionalId>,
        actor: &str,
        at: Timestamp,
    ) -> StoreResult<()> {
        let mut tx = B::begin_write(pool).await?;
        let row = sqlx::query(
            "INSERT INTO practitioner_credentials
                 (practitioner_id, scheme, identifier, status, declared_at, decided_at, decided_by)
             VALUES ($1, $2, $3, 'verified', $4, $4, $5)
             ON CONFLICT (practitioner_id) DO UPDATE SET scheme = excluded.scheme,
                 identifier = excluded.identifier, status = 'verified', declared_at = excluded.declared_at,
                 decided_at = excluded.decided_at, decided_by = excluded.decided_by, reason = NULL
             RETURNING *",
        )
        .bind(practitioner.as_str())
        .bind(id.map(|i| i.scheme().code()))
        .bind(id.map(|i| i.value()))
        .bind(at.as_second())
        .bind(actor)
        .fetch_one(&mut *tx)
        .await
        .map_err(B::map_err)?;
        let record = Self::record(&row)?;
        Self::append_event(&mut tx, &record, actor).await?;
        crate::commit::<B>(tx).await
    }

    /// An imported site's practitioner is listed (the operator's own file vouches for it),
    /// unless a credential exists already (a revocation stays), inside the import's
    /// transaction.
    pub(crate) async fn vouch_site_in(
        tx: &mut Tx<B>,
        practitioner: &str,
        at: Timestamp,
    ) -> StoreResult<()> {
        let inserted = sqlx::query(
            "INSERT INTO practitioner_credentials (practitioner_id, status, decided_at, decided_by)
             VALUES ($1, 'verified', $2, 'import:sites')
             ON CONFLICT (practitioner_id) DO NOTHING
             RETURNING *",
        )
        .bind(practitioner)
        .bind(at.as_second())
        .fetch_optional(&mut **tx)
        .await
        .map_err(B::map_err)?;
        if let Some(row) = inserted {
            let record = Self::record(&row)?;
            Self::append_event(tx, &record, "import:sites").await?;
        }
        Ok(())
    }

    pub(crate) async fn get(
        pool: &DbPool<B>,
        practitioner: &PractitionerId,
    ) -> StoreResult<CredentialRecord> {
        let row = sqlx::query("SELECT * FROM practitioner_credentials WHERE practitioner_id = $1")
            .bind(practitioner.as_str())
            .fetch_optional(pool)
            .await
            .map_err(B::map_err)?;
        match row {
            Some(row) => Self::record(&row),
            None => Ok(CredentialRecord::unverified(practitioner.clone())),
        }
    }

    pub(crate) async fn list(
        pool: &DbPool<B>,
        status: Option<CredentialStatus>,
        limit: i64,
    ) -> StoreResult<Vec<CredentialListing>> {
        let rows = match status {
            Some(s) => sqlx::query(&format!(
                "{LISTING_SQL} WHERE c.status = $1 ORDER BY c.declared_at, c.practitioner_id LIMIT $2"
            ))
            .bind(s.code())
            .bind(limit)
            .fetch_all(pool)
            .await
            .map_err(B::map_err)?,
            None => sqlx::query(&format!(
                "{LISTING_SQL} ORDER BY c.declared_at, c.practitioner_id LIMIT $1"
            ))
            .bind(limit)
            .fetch_all(pool)
            .await
            .map_err(B::map_err)?,
        };
        rows.iter().map(Self::listing).collect()
    }

    pub(crate) async fn declaring(
        pool: &DbPool<B>,
        id: &ProfessionalId,
    ) -> StoreResult<Vec<CredentialListing>> {
        sqlx::query(&format!(
            "{LISTING_SQL} WHERE c.scheme = $1 AND c.identifier = $2 ORDER BY c.declared_at, c.practitioner_id"
        ))
        .bind(id.scheme().code())
        .bind(id.value())
        .fetch_all(pool)
        .await
        .map_err(B::map_err)?
        .iter()
        .map(Self::listing)
        .collect()
    }

    pub(crate) async fn seq(pool: &DbPool<B>) -> StoreResult<i64> {
        let row =
            sqlx::query("SELECT COALESCE(MAX(seq), 0) AS seq FROM practitioner_credential_events")
                .fetch_one(pool)
                .await
                .map_err(B::map_err)?;
        row.try_get("seq").map_err(internal)
    }

    pub(crate) async fn changed_since(
        pool: &DbPool<B>,
        seq: i64,
        limit: i64,
    ) -> StoreResult<Vec<(i64, PractitionerId)>> {
        sqlx::query(
            "SELECT seq, practitioner_id FROM practitioner_credential_events WHERE seq > $1 ORDER BY seq LIMIT $2",
        )
        .bind(seq)
        .bind(limit)
        .fetch_all(pool)
        .await
        .map_err(B::map_err)?
        .iter()
        .map(|row| {
            Ok((
                row.try_get("seq").map_err(internal)?,
                PractitionerId(row.try_get("practitioner_id").map_err(internal)?),
            ))
        })
        .collect()
    }

    pub(crate) async fn events(
        pool: &DbPool<B>,
        practitioner: &PractitionerId,
    ) -> StoreResult<Vec<CredentialEvent>> {
        sqlx::query(
            "SELECT * FROM practitioner_credential_events WHERE practitioner_id = $1 ORDER BY seq",
        )
        .bind(practitioner.as_str())
        .fetch_all(pool)
        .await
        .map_err(B::map_err)?
        .iter()
        .map(|row| {
            Ok(CredentialEvent {
                at: ts(row.try_get("at").map_err(internal)?)?,
                actor: row.try_get("actor").map_err(internal)?,
                status: Self::status_of(row)?,
                identifier: Self::identifier_of(row)?,
                reason: row.try_get("reason").map_err(internal)?,
            })
        })
        .collect()
    }
}
