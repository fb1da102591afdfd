//! The SQL of proving and changing an account's contact details (issue 14): email tokens,
//! SMS codes, contact and preference updates, password changes. Every write that sends a
//! message applies its outbox write in the same transaction. Times are Unix seconds.

use crate::outbox::Outbox;
use crate::{internal, Backend, DbPool, DbRow, SqlStore, Tx};
use careslot_domain::AccountId;
use careslot_store::codec::{self, ts};
use careslot_store::*;
use jiff::Timestamp;
use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Row, Type};
use std::marker::PhantomData;

/// The SQL of account verification on backend `B`.
pub struct Verification<B>(PhantomData<B>);

impl<B: Backend> Verification<B>
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
    fn token_row(row: &DbRow<B>) -> StoreResult<EmailToken> {
        let purpose: String = row.try_get("purpose").map_err(internal)?;
        Ok(EmailToken {
            token_hash: row.try_get("token_hash").map_err(internal)?,
            account_id: AccountId(row.try_get("account_id").map_err(internal)?),
            purpose: EmailTokenPurpose::parse(&purpose)
                .ok_or_else(|| codec::corrupt("email token purpose"))?,
            new_email_ct: row.try_get("new_email_ct").map_err(internal)?,
            expires_at: ts(row.try_get("expires_at").map_err(internal)?)?,
            created_at: ts(row.try_get("created_at").map_err(internal)?)?,
        })
    }

    async fn account_exists(tx: &mut Tx<B>, account: &AccountId) -> StoreResult<bool> {
        Ok(sqlx::query("SELECT 1 FROM accounts WHERE id = $1")
            .bind(account.as_str())
            .fetch_optional(&mut **tx)
            .await
            .map_err(B::map_err)?
            .is_some())
    }

    /// Sets one proof instant of the account's settings (a missing row gets the defaults).
    async fn set_verified(
        tx: &mut Tx<B>,
        account: &str,
        column: &str,
        at: Option<Timestamp>,
    ) -> StoreResult<()> {
        sqlx::query(&format!(
            "INSERT INTO account_settings (account_id, {column}) VALUES ($1, $2)
             ON CONFLICT (account_id) DO UPDATE SET {column} = excluded.{column}"
        ))
        .bind(account)
        .bind(at.map(|t| t.as_second()))
        .execute(&mut **tx)
        .await
        .map_err(B::map_err)?;
        Ok(())
    }

    /// Marks the account's address proven at `now`; a web sign-up waiting for it may sign in
    /// from now on (the database refuses a pending account with a verified address).
    async fn set_email_verified(tx: &mut Tx<B>, account: &str, now: Timestamp) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO account_settings (account_id, email_verified_at) VALUES ($1, $2)
             ON CONFLICT (account_id) DO UPDATE
                 SET email_verified_at = excluded.email_verified_at, email_pending = FALSE",
        )
        .bind(account)
        .bind(now.as_second())
        .execute(&mut **tx)
        .await
        .map_err(B::map_err)?;
        Ok(())
    }

    async fn insert_token(tx: &mut Tx<B>, t: &EmailToken) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO email_tokens (token_hash, account_id, purpose, new_email_ct, expires_at, created_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(t.token_hash.as_str())
        .bind(t.account_id.as_str())
        .bind(t.purpose.code())
        .bind(t.new_email_ct.as_deref())
        .bind(t.expires_at.as_second())
        .bind(t.created_at.as_second())
        .execute(&mut **tx)
        .await
        .map_err(B::map_err)?;
        Ok(())
    }

    pub(crate) async fn create_account_with(
        pool: &DbPool<B>,
        account: &NewAccount,
        settings: &AccountSettings,
        token: Option<&EmailToken>,
        outbox: &OutboxWrite,
    ) -> StoreResult<()> {
        let mut tx = B::begin_write(pool).await?;
        SqlStore::<B>::insert_account(&mut tx, account).await?;
        Self::sign_up_rest(&mut tx, account, settings, token, outbox).await?;
        crate::commit::<B>(tx).await
    }

    /// What a sign-up writes besides the account row, in its transaction: the settings, the
    /// verification token if any, the messages.
    pub(crate) async fn sign_up_rest(
        tx: &mut Tx<B>,
        account: &NewAccount,
        settings: &AccountSettings,
        token: Option<&EmailToken>,
        outbox: &OutboxWrite,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO account_settings
                 (account_id, lang, email_verified_at, phone_verified_at, reminders_email, reminders_sms, show_motive,
                  email_pending)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(account.record.id.as_str())
        .bind(settings.lang.as_str())
        .bind(settings.email_verified_at.map(|t| t.as_second()))
        .bind(settings.phone_verified_at.map(|t| t.as_second()))
        .bind(settings.reminders_email)
        .bind(settings.reminders_sms)
        .bind(settings.show_motive)
        .bind(settings.email_pending)
        .execute(&mut **tx)
        .await
        .map_err(B::map_err)?;
        if let Some(t) = token {
            Self::insert_token(tx, t).await?;
        }
        Outbox::<B>::apply_in(tx, outbox).await
    }

    pub(crate) async fn password_hash(
        pool: &DbPool<B>,
        account: &AccountId,
    ) -> StoreResult<Option<String>> {
        let row = sqlx::query("SELECT password_hash FROM accounts WHERE id = $1")
            .bind(account.as_str())
            .fetch_optional(pool)
            .await
            .map_err(B::map_err)?;
        row.map(|r| r.try_get("password_hash").map_err(internal))
            .transpose()
    }

    pub(crate) async fn create_email_token(
        pool: &DbPool<B>,
        token: &EmailToken,
        outbox: &OutboxWrite,
    ) -> StoreResult<()> {
        let mut tx = B::begin_write(pool).await?;
        if !Self::account_exists(&mut tx, &token.account_id).await? {
            return Err(StoreError::NotFound);
        }
        sqlx::query("DELETE FROM email_tokens WHERE account_id = $1 AND purpose = $2")
            .bind(token.account_id.as_str())
            .bind(token.purpose.code())
            .execute(&mut *tx)
            .await
            .map_err(B::map_err)?;
        Self::insert_token(&mut tx, token).await?;
        Outbox::<B>::apply_in(&mut tx, outbox).await?;
        crate::commit::<B>(tx).await
    }

    pub(crate) async fn email_token(
        pool: &DbPool<B>,
        token_hash: &str,
        now: Timestamp,
    ) -> StoreResult<Option<EmailToken>> {
        let row =
            sqlx::query("SELECT * FROM email_tokens WHERE token_hash = $1 AND expires_at > $2")
                .bind(token_hash)
                .bind(now.as_second())
                .fetch_optional(pool)
                .await
                .map_err(B::map_err)?;
        row.as_ref().map(Self::token_row).transpose()
    }

    pub(crate) async fn confirm_email(
        pool: &DbPool<B>,
        token_hash: &str,
        now: Timestamp,
    ) -> StoreResult<Option<AccountId>> {
        let mut tx = B::begin_write(pool).await?;
        let Some(row) = sqlx::query(
            "DELETE FROM email_tokens WHERE token_hash = $1 AND purpose = 'verify' AND expires_at > $2
             RETURNING account_id",
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
        Self::set_email_verified(&mut tx, &account, now).await?;
        crate::commit::<B>(tx).await?;
        Ok(Some(AccountId(account)))
    }

    pub(crate) async fn change_email(
        pool: &DbPool<B>,
        token_hash: &str,
        account: &AccountId,
        change: &EmailChange,
        now: Timestamp,
        outbox: &OutboxWrite,
    ) -> StoreResult<bool> {
        let mut tx = B::begin_write(pool).await?;
        let spent = sqlx::query(
            "DELETE FROM email_tokens
              WHERE token_hash = $1 AND account_id = $2 AND purpose = 'change' AND expires_at > $3",
        )
        .bind(token_hash)
        .bind(account.as_str())
        .bind(now.as_second())
        .execute(&mut *tx)
        .await
        .map_err(B::map_err)?;
        if B::rows_affected(spent) == 0 {
            return Ok(false);
        }
        // The unique index on email_uniq refuses an address taken meanwhile (EmailTaken);
        // the transaction then rolls back and the token stays usable.
        sqlx::query(
            "UPDATE accounts SET email_ct = $2, email_bidx = $3, email_uniq = $4 WHERE id = $1",
        )
        .bind(account.as_str())
        .bind(change.email_ct.as_slice())
        .bind(change.email_bidx)
        .bind(change.email_uniq.as_str())
        .execute(&mut *tx)
        .await
        .map_err(B::map_err)?;
        // Links sent to the old address prove nothing about the new one.
        sqlx::query("DELETE FROM email_tokens WHERE account_id = $1")
            .bind(account.as_str())
            .execute(&mut *tx)
            .await
            .map_err(B::map_err)?;
        Self::set_email_verified(&mut tx, account.as_str(), now).await?;
        Outbox::<B>::apply_in(&mut tx, outbox).await?;
        crate::commit::<B>(tx).await?;
        Ok(true)
    }

    pub(crate) async fn create_phone_code(
        pool: &DbPool<B>,
        code: &PhoneCode,
        outbox: &OutboxWrite,
    ) -> StoreResult<()> {
        let mut tx = B::begin_write(pool).await?;
        if !Self::account_exists(&mut tx, &code.account_id).await? {
            return Err(StoreError::NotFound);
        }
        sqlx::query(
            "INSERT INTO phone_codes (account_id, code_hash, failures, expires_at, created_at)
             VALUES ($1, $2, 0, $3, $4)
             ON CONFLICT (account_id) DO UPDATE SET code_hash = excluded.code_hash, failures = 0,
                 expires_at = excluded.expires_at, created_at = excluded.created_at",
        )
        .bind(code.account_id.as_str())
        .bind(code.code_hash.as_str())
        .bind(code.expires_at.as_second())
        .bind(code.created_at.as_second())
        .execute(&mut *tx)
        .await
        .map_err(B::map_err)?;
        Outbox::<B>::apply_in(&mut tx, outbox).await?;
        crate::commit::<B>(tx).await
    }

    pub(crate) async fn check_phone_code(
        pool: &DbPool<B>,
        account: &AccountId,
        code_hash: &str,
        now: Timestamp,
    ) -> StoreResult<PhoneCodeCheck> {
        let max = i64::from(PHONE_CODE_MAX_FAILURES);
        let mut tx = B::begin_write(pool).await?;
        let Some(row) = sqlx::query(
            "SELECT code_hash, failures FROM phone_codes WHERE account_id = $1 AND expires_at > $2",
        )
        .bind(account.as_str())
        .bind(now.as_second())
        .fetch_optional(&mut *tx)
        .await
        .map_err(B::map_err)?
        else {
            return Ok(PhoneCodeCheck::Missing);
        };
        let stored: String = row.try_get("code_hash").map_err(internal)?;
        let failures: i64 = row.try_get("failures").map_err(internal)?;
        if failures >= max {
            return Ok(PhoneCodeCheck::Locked);
        }
        let outcome = if stored == code_hash {
            sqlx::query("DELETE FROM phone_codes WHERE account_id = $1")
                .bind(account.as_str())
                .execute(&mut *tx)
                .await
                .map_err(B::map_err)?;
            Self::set_verified(&mut tx, account.as_str(), "phone_verified_at", Some(now)).await?;
            PhoneCodeCheck::Verified
        } else {
            // Conditional on the count read: two wrong codes racing cannot both pass the limit.
            sqlx::query(
                "UPDATE phone_codes SET failures = failures + 1 WHERE account_id = $1 AND failures < $2",
            )
            .bind(account.as_str())
            .bind(max)
            .execute(&mut *tx)
            .await
            .map_err(B::map_err)?;
            let left = max - failures - 1;
            if left <= 0 {
                PhoneCodeCheck::Locked
            } else {
                PhoneCodeCheck::Wrong {
                    tries_left: u32::try_from(left).unwrap_or(0),
                }
            }
        };
        crate::commit::<B>(tx).await?;
        Ok(outcome)
    }

    pub(crate) async fn create_signup_code(
        pool: &DbPool<B>,
        code: &SignupCode,
        outbox: &OutboxWrite,
    ) -> StoreResult<()> {
        let mut tx = B::begin_write(pool).await?;
        sqlx::query("DELETE FROM signup_codes WHERE expires_at <= $1")
            .bind(code.created_at.as_second())
            .execute(&mut *tx)
            .await
            .map_err(B::map_err)?;
        sqlx::query(
            "INSERT INTO signup_codes (ticket_hash, account_id, code_hash, failures, expires_at,
                 created_at)
             VALUES ($1, $2, $3, 0, $4, $5)",
        )
        .bind(code.ticket_hash.as_str())
        .bind(code.account.as_ref().map(|a| a.as_str()))
        .bind(code.code_hash.as_str())
        .bind(code.expires_at.as_second())
        .bind(code.created_at.as_second())
        .execute(&mut *tx)
        .await
        .map_err(B::map_err)?;
        Outbox::<B>::apply_in(&mut tx, outbox).await?;
        crate::commit::<B>(tx).await
    }

    pub(crate) async fn signup_code_account(
        pool: &DbPool<B>,
        ticket_hash: &str,
        now: Timestamp,
    ) -> StoreResult<Option<AccountId>> {
        let row = sqlx::query(
            "SELECT account_id FROM signup_codes
             WHERE ticket_hash = $1 AND expires_at > $2 AND account_id IS NOT NULL",
        )
        .bind(ticket_hash)
        .bind(now.as_second())
        .fetch_optional(pool)
        .await
        .map_err(B::map_err)?;
        match row {
            Some(r) => Ok(Some(AccountId(
                r.try_get::<String, _>("account_id").map_err(internal)?,
            ))),
            None => Ok(None),
        }
    }

    pub(crate) async fn renew_signup_code(
        pool: &DbPool<B>,
        code: &SignupCode,
        outbox: &OutboxWrite,
    ) -> StoreResult<bool> {
        let mut tx = B::begin_write(pool).await?;
        let done = sqlx::query(
            "UPDATE signup_codes SET code_hash = $2, failures = 0, expires_at = $3
             WHERE ticket_hash = $1 AND expires_at > $4 AND account_id IS NOT NULL",
        )
        .bind(code.ticket_hash.as_str())
        .bind(code.code_hash.as_str())
        .bind(code.expires_at.as_second())
        .bind(code.created_at.as_second())
        .execute(&mut *tx)
        .await
        .map_err(B::map_err)?;
        if B::rows_affected(done) == 0 {
            return Ok(false);
        }
        Outbox::<B>::apply_in(&mut tx, outbox).await?;
        crate::commit::<B>(tx).await?;
        Ok(true)
    }

    pub(crate) async fn check_signup_code(
        pool: &DbPool<B>,
        ticket_hash: &str,
        code_hash: &str,
        now: Timestamp,
    ) -> StoreResult<SignupCodeCheck> {
        let max = i64::from(PHONE_CODE_MAX_FAILURES);
        let mut tx = B::begin_write(pool).await?;
        let Some(row) = sqlx::query(
            "SELECT account_id, code_hash, failures FROM signup_codes
             WHERE ticket_hash = $1 AND expires_at > $2",
        )
        .bind(ticket_hash)
        .bind(now.as_second())
        .fetch_optional(&mut *tx)
        .await
        .map_err(B::map_err)?
        else {
            return Ok(SignupCodeCheck::Refused);
        };
        let account: Option<String> = row.try_get("account_id").map_err(internal)?;
        let stored: String = row.try_get("code_hash").map_err(internal)?;
        let failures: i64 = row.try_get("failures").map_err(internal)?;
        if failures >= max {
            return Ok(SignupCodeCheck::Refused);
        }
        let outcome = match account {
            Some(account) if stored == code_hash => {
                sqlx::query("DELETE FROM signup_codes WHERE ticket_hash = $1")
                    .bind(ticket_hash)
                    .execute(&mut *tx)
                    .await
                    .map_err(B::map_err)?;
                // The code came through the mailbox: the address is proven.
                Self::set_email_verified(&mut tx, &account, now).await?;
                SignupCodeCheck::Verified(AccountId(account))
            }
            _ => {
                // Conditional on the count read: racing wrong codes cannot pass the limit.
                sqlx::query(
                    "UPDATE signup_codes SET failures = failures + 1
                     WHERE ticket_hash = $1 AND failures < $2",
                )
                .bind(ticket_hash)
                .bind(max)
                .execute(&mut *tx)
                .await
                .map_err(B::map_err)?;
                SignupCodeCheck::Refused
            }
        };
        crate::commit::<B>(tx).await?;
        Ok(outcome)
    }

    pub(crate) async fn update_contact(
        pool: &DbPool<B>,
        account: &AccountId,
        u: &ContactUpdate,
    ) -> StoreResult<()> {
        let mut tx = B::begin_write(pool).await?;
        let done = sqlx::query("UPDATE accounts SET name_ct = $2, phone_ct = $3 WHERE id = $1")
            .bind(account.as_str())
            .bind(u.name_ct.as_slice())
            .bind(u.phone_ct.as_deref())
            .execute(&mut *tx)
            .await
            .map_err(B::map_err)?;
        if B::rows_affected(done) == 0 {
            return Err(StoreError::NotFound);
        }
        if u.phone_changed {
            sqlx::query("DELETE FROM phone_codes WHERE account_id = $1")
                .bind(account.as_str())
                .execute(&mut *tx)
                .await
                .map_err(B::map_err)?;
            Self::set_verified(&mut tx, account.as_str(), "phone_verified_at", None).await?;
        }
        crate::commit::<B>(tx).await
    }

    pub(crate) async fn put_preferences(
        pool: &DbPool<B>,
        account: &AccountId,
        p: &AccountPreferences,
    ) -> StoreResult<()> {
        let mut tx = B::begin_write(pool).await?;
        if !Self::account_exists(&mut tx, account).await? {
            return Err(StoreError::NotFound);
        }
        sqlx::query(
            "INSERT INTO account_settings (account_id, lang, reminders_email, reminders_sms, show_motive)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (account_id) DO UPDATE SET lang = excluded.lang,
                 reminders_email = excluded.reminders_email, reminders_sms = excluded.reminders_sms,
                 show_motive = excluded.show_motive",
        )
        .bind(account.as_str())
        .bind(p.lang.as_str())
        .bind(p.reminders_email)
        .bind(p.reminders_sms)
        .bind(p.show_motive)
        .execute(&mut *tx)
        .await
        .map_err(B::map_err)?;
        crate::commit::<B>(tx).await
    }

    pub(crate) async fn change_password(
        pool: &DbPool<B>,
        account: &AccountId,
        password_hash: &str,
        keep_session: Option<&str>,
        outbox: &OutboxWrite,
    ) -> StoreResult<bool> {
        let mut tx = B::begin_write(pool).await?;
        let done = sqlx::query("UPDATE accounts SET password_hash = $2 WHERE id = $1")
            .bind(account.as_str())
            .bind(password_hash)
            .execute(&mut *tx)
            .await
            .map_err(B::map_err)?;
        if B::rows_affected(done) == 0 {
            return Ok(false);
        }
        sqlx::query("DELETE FROM sessions WHERE account_id = $1 AND token_hash <> $2")
            .bind(account.as_str())
            .bind(keep_session.unwrap_or(""))
            .execute(&mut *tx)
            .await
            .map_err(B::map_err)?;
        sqlx::query("DELETE FROM password_resets WHERE account_id = $1")
            .bind(account.as_str())
            .execute(&mut *tx)
            .await
            .map_err(B::map_err)?;
        Outbox::<B>::apply_in(&mut tx, outbox).await?;
        crate::commit::<B>(tx).await?;
        Ok(true)
    }
}
