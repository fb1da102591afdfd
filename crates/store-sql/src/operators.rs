//! The SQL of operator accounts (issue 15, point 5): the account, its operator row, roles and
//! set-password token written together; roles replaced in one transaction; disabling an
//! operator deletes its sessions in the same transaction; and the operators' action log
//! (append-only). Times are Unix seconds.

use crate::{internal, Backend, DbPool, DbRow, Outbox, SqlStore, Tx};
use careslot_domain::AccountId;
use careslot_store::codec::{self, ts};
use careslot_store::*;
use jiff::Timestamp;
use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Row, Type};
use std::marker::PhantomData;

/// The SQL of operator accounts on backend `B`.
pub struct Operators<B>(PhantomData<B>);

impl<B: Backend> Operators<B>
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
    async fn insert_roles(tx: &mut Tx<B>, account: &str, roles: &[Permission]) -> StoreResult<()> {
        let mut roles = roles.to_vec();
        roles.sort();
        roles.dedup();
        for role in roles {
            sqlx::query("INSERT INTO operator_roles (account_id, role) VALUES ($1, $2)")
                .bind(account)
                .bind(role.code())
                .execute(&mut **tx)
                .await
                .map_err(B::map_err)?;
        }
        Ok(())
    }

    pub(crate) async fn create(
        pool: &DbPool<B>,
        account: &NewAccount,
        roles: &[Permission],
        created_by: &str,
        set_password: &PasswordReset,
        outbox: &OutboxWrite,
    ) -> StoreResult<()> {
        let mut tx = B::begin_write(pool).await?;
        SqlStore::<B>::insert_account(&mut tx, account).await?;
        let id = account.record.id.as_str();
        sqlx::query(
            "INSERT INTO operators (account_id, created_at, created_by, disabled_at) VALUES ($1, $2, $3, NULL)",
        )
        .bind(id)
        .bind(account.record.created_at.as_second())
        .bind(created_by)
        .execute(&mut *tx)
        .await
        .map_err(B::map_err)?;
        Self::insert_roles(&mut tx, id, roles).await?;
        sqlx::query(
            "INSERT INTO password_resets (token_hash, account_id, expires_at, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(set_password.token_hash.as_str())
        .bind(set_password.account_id.as_str())
        .bind(set_password.expires_at.as_second())
        .bind(set_password.created_at.as_second())
        .execute(&mut *tx)
        .await
        .map_err(B::map_err)?;
        Outbox::<B>::apply_in(&mut tx, outbox).await?;
        crate::commit::<B>(tx).await
    }

    fn record(row: &DbRow<B>, roles: Vec<Permission>) -> StoreResult<OperatorRecord> {
        Ok(OperatorRecord {
            account_id: AccountId(row.try_get("account_id").map_err(internal)?),
            roles,
            created_at: ts(row.try_get("created_at").map_err(internal)?)?,
            created_by: row.try_get("created_by").map_err(internal)?,
            disabled_at: row
                .try_get::<Option<i64>, _>("disabled_at")
                .map_err(internal)?
                .map(ts)
                .transpose()?,
        })
    }

    fn role_of(row: &DbRow<B>) -> StoreResult<(String, Permission)> {
        let account: String = row.try_get("account_id").map_err(internal)?;
        let role: String = row.try_get("role").map_err(internal)?;
        let role = Permission::parse(&role).ok_or_else(|| codec::corrupt("operator role"))?;
        Ok((account, role))
    }

    pub(crate) async fn get(
        pool: &DbPool<B>,
        account: &AccountId,
    ) -> StoreResult<Option<OperatorRecord>> {
        let Some(row) = sqlx::query("SELECT * FROM operators WHERE account_id = $1")
            .bind(account.as_str())
            .fetch_optional(pool)
            .await
            .map_err(B::map_err)?
        else {
            return Ok(None);
        };
        let mut roles = Vec::new();
        for r in sqlx::query("SELECT account_id, role FROM operator_roles WHERE account_id = $1")
            .bind(account.as_str())
            .fetch_all(pool)
            .await
            .map_err(B::map_err)?
        {
            roles.push(Self::role_of(&r)?.1);
        }
        roles.sort();
        Self::record(&row, roles).map(Some)
    }

    pub(crate) async fn list(pool: &DbPool<B>) -> StoreResult<Vec<OperatorRecord>> {
        let rows = sqlx::query("SELECT * FROM operators ORDER BY created_at, account_id")
            .fetch_all(pool)
            .await
            .map_err(B::map_err)?;
        let mut roles: std::collections::HashMap<String, Vec<Permission>> = Default::default();
        for r in sqlx::query("SELECT account_id, role FROM operator_roles")
            .fetch_all(pool)
            .await
            .map_err(B::map_err)?
        {
            let (account, role) = Self::role_of(&r)?;
            roles.entry(account).or_default().push(role);
        }
        rows.iter()
            .map(|row| {
                let id: String = row.try_get("account_id").map_err(internal)?;
                let mut mine = roles.remove(&id).unwrap_or_default();
                mine.sort();
                Self::record(row, mine)
            })
            .collect()
    }

    pub(crate) async fn set_roles(
        pool: &DbPool<B>,
        account: &AccountId,
        roles: &[Permission],
    ) -> StoreResult<bool> {
        let mut tx = B::begin_write(pool).await?;
        let exists = sqlx::query("SELECT 1 AS one FROM operators WHERE account_id = $1")
            .bind(account.as_str())
            .fetch_optional(&mut *tx)
            .await
            .map_err(B::map_err)?
            .is_some();
        if !exists {
            return Ok(false);
        }
        sqlx::query("DELETE FROM operator_roles WHERE account_id = $1")
            .bind(account.as_str())
            .execute(&mut *tx)
            .await
            .map_err(B::map_err)?;
        Self::insert_roles(&mut tx, account.as_str(), roles).await?;
        crate::commit::<B>(tx).await?;
        Ok(true)
    }

    pub(crate) async fn disable(
        pool: &DbPool<B>,
        account: &AccountId,
        at: Timestamp,
    ) -> StoreResult<bool> {
        let mut tx = B::begin_write(pool).await?;
        let exists = sqlx::query("SELECT 1 AS one FROM operators WHERE account_id = $1")
            .bind(account.as_str())
            .fetch_optional(&mut *tx)
            .await
            .map_err(B::map_err)?
            .is_some();
        if !exists {
            return Ok(false);
        }
        sqlx::query(
            "UPDATE operators SET disabled_at = $2 WHERE account_id = $1 AND disabled_at IS NULL",
        )
        .bind(account.as_str())
        .bind(at.as_second())
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
        Ok(true)
    }

    pub(crate) async fn record_action(
        pool: &DbPool<B>,
        at: Timestamp,
        actor: &str,
        action: &str,
        target: Option<&str>,
    ) -> StoreResult<i64> {
        let mut tx = B::begin_write(pool).await?;
        let row = sqlx::query(
            "INSERT INTO operator_actions (at, actor, action, target) VALUES ($1, $2, $3, $4) RETURNING seq",
        )
        .bind(at.as_second())
        .bind(actor)
        .bind(action)
        .bind(target)
        .fetch_one(&mut *tx)
        .await
        .map_err(B::map_err)?;
        let seq: i64 = row.try_get("seq").map_err(internal)?;
        crate::commit::<B>(tx).await?;
        Ok(seq)
    }

    pub(crate) async fn actions(pool: &DbPool<B>, limit: i64) -> StoreResult<Vec<OperatorAction>> {
        sqlx::query("SELECT * FROM operator_actions ORDER BY seq DESC LIMIT $1")
            .bind(limit)
            .fetch_all(pool)
            .await
            .map_err(B::map_err)?
            .iter()
            .map(|row| {
                Ok(OperatorAction {
                    seq: row.try_get("seq").map_err(internal)?,
                    at: ts(row.try_get("at").map_err(internal)?)?,
                    actor: row.try_get("actor").map_err(internal)?,
                    action: row.try_get("action").map_err(internal)?,
                    target: row.try_get("target").map_err(internal)?,
                })
            })
            .collect()
    }
}
