//! Practitioners' photos (issue 17 point 2): one row per practitioner with both sizes, in
//! clear (a public photo is not health data). Times in Unix seconds.

use crate::{internal, Backend, DbPool, DbRow};
use careslot_domain::PractitionerId;
use careslot_store::codec::ts;
use careslot_store::*;
use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Row, Type};
use std::marker::PhantomData;

/// The SQL of photos on backend `B`.
pub struct Photos<B>(PhantomData<B>);

impl<B: Backend> Photos<B>
where
    for<'c> &'c mut <B::Db as Database>::Connection: Executor<'c, Database = B::Db>,
    for<'q> <B::Db as Database>::Arguments<'q>: IntoArguments<'q, B::Db>,
    for<'q> &'q str: Encode<'q, B::Db> + Type<B::Db>,
    for<'q> &'q [u8]: Encode<'q, B::Db> + Type<B::Db>,
    for<'q, 'r> String: Encode<'q, B::Db> + Decode<'r, B::Db> + Type<B::Db>,
    for<'q, 'r> Vec<u8>: Encode<'q, B::Db> + Decode<'r, B::Db> + Type<B::Db>,
    for<'q, 'r> i64: Encode<'q, B::Db> + Decode<'r, B::Db> + Type<B::Db>,
    for<'s> &'s str: ColumnIndex<DbRow<B>>,
{
    pub(crate) async fn set(
        pool: &DbPool<B>,
        id: &PractitionerId,
        p: &PractitionerPhoto,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO practitioner_photos (practitioner_id, hash, large, small, updated_at)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (practitioner_id) DO UPDATE SET hash = excluded.hash,
                 large = excluded.large, small = excluded.small, updated_at = excluded.updated_at",
        )
        .bind(id.as_str())
        .bind(p.hash.as_str())
        .bind(p.large.as_slice())
        .bind(p.small.as_slice())
        .bind(p.updated_at.as_second())
        .execute(pool)
        .await
        .map_err(B::map_err)?;
        Ok(())
    }

    pub(crate) async fn get(
        pool: &DbPool<B>,
        id: &PractitionerId,
    ) -> StoreResult<Option<PractitionerPhoto>> {
        let row = sqlx::query(
            "SELECT hash, large, small, updated_at FROM practitioner_photos
             WHERE practitioner_id = $1",
        )
        .bind(id.as_str())
        .fetch_optional(pool)
        .await
        .map_err(B::map_err)?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(PractitionerPhoto {
            hash: row.try_get("hash").map_err(internal)?,
            large: row.try_get("large").map_err(internal)?,
            small: row.try_get("small").map_err(internal)?,
            updated_at: ts(row.try_get("updated_at").map_err(internal)?)?,
        }))
    }

    pub(crate) async fn hash(pool: &DbPool<B>, id: &PractitionerId) -> StoreResult<Option<String>> {
        let row = sqlx::query("SELECT hash FROM practitioner_photos WHERE practitioner_id = $1")
            .bind(id.as_str())
            .fetch_optional(pool)
            .await
            .map_err(B::map_err)?;
        row.map(|r| r.try_get("hash").map_err(internal)).transpose()
    }

    pub(crate) async fn delete(pool: &DbPool<B>, id: &PractitionerId) -> StoreResult<bool> {
        let n = sqlx::query("DELETE FROM practitioner_photos WHERE practitioner_id = $1")
            .bind(id.as_str())
            .execute(pool)
            .await
            .map_err(B::map_err)
            .map(B::rows_affected)?;
        Ok(n > 0)
    }
}
