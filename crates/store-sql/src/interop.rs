//! The SQL of interoperability records (issue 19): calendar subscriptions. Times are Unix
//! seconds.

use crate::{internal, Backend, DbPool, DbRow};
use careslot_domain::AccountId;
use careslot_store::codec::ts;
use careslot_store::*;
use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Row, Type};
use std::marker::PhantomData;

/// The SQL of calendar feeds on backend `B`.
pub struct Interop<B>(PhantomData<B>);

impl<B: Backend> Interop<B>
where
    for<'c> &'c mut <B::Db as Database>::Connection: Executor<'c, Database = B::Db>,
    for<'q> <B::Db as Database>::Arguments<'q>: IntoArguments<'q, B::Db>,
    for<'q> &'q str: Encode<'q, B::Db> + Type<B::Db>,
    for<'q, 'r> String: Encode<'q, B::Db> + Decode<'r, B::Db> + Type<B::Db>,
    for<'q, 'r> i64: Encode<'q, B::Db> + Decode<'r, B::Db> + Type<B::Db>,
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
}
