//! Reminder delays per practice (issue 14): one row per practitioner, defaults when absent.

use crate::{internal, Backend, DbPool, DbRow};
use careslot_domain::PractitionerId;
use careslot_store::*;
use jiff::Timestamp;
use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Row, Type};
use std::marker::PhantomData;

/// The SQL of reminder delays on backend `B`.
pub struct Reminders<B>(PhantomData<B>);

impl<B: Backend> Reminders<B>
where
    for<'c> &'c mut <B::Db as Database>::Connection: Executor<'c, Database = B::Db>,
    for<'q> <B::Db as Database>::Arguments<'q>: IntoArguments<'q, B::Db>,
    for<'q> &'q str: Encode<'q, B::Db> + Type<B::Db>,
    for<'q, 'r> i64: Encode<'q, B::Db> + Decode<'r, B::Db> + Type<B::Db>,
    for<'s> &'s str: ColumnIndex<DbRow<B>>,
{
    pub(crate) async fn delays(
        pool: &DbPool<B>,
        practitioner: &PractitionerId,
    ) -> StoreResult<ReminderDelays> {
        let row = sqlx::query(
            "SELECT email_hours_before, sms_hours_before FROM reminder_delays WHERE practitioner_id = $1",
        )
        .bind(practitioner.as_str())
        .fetch_optional(pool)
        .await
        .map_err(B::map_err)?;
        let Some(r) = row else {
            return Ok(ReminderDelays::default());
        };
        let hours = |col: &str| -> StoreResult<u16> {
            let v: i64 = r.try_get(col).map_err(internal)?;
            u16::try_from(v).map_err(|_| codec::corrupt("reminder delay"))
        };
        Ok(ReminderDelays {
            email_hours_before: hours("email_hours_before")?,
            sms_hours_before: hours("sms_hours_before")?,
        })
    }

    pub(crate) async fn put(
        pool: &DbPool<B>,
        practitioner: &PractitionerId,
        d: &ReminderDelays,
        now: Timestamp,
    ) -> StoreResult<()> {
        let mut tx = B::begin_write(pool).await?;
        let exists = sqlx::query("SELECT 1 FROM practitioners WHERE id = $1")
            .bind(practitioner.as_str())
            .fetch_optional(&mut *tx)
            .await
            .map_err(B::map_err)?;
        if exists.is_none() {
            return Err(StoreError::NotFound);
        }
        sqlx::query(
            "INSERT INTO reminder_delays (practitioner_id, email_hours_before, sms_hours_before, updated_at)
             VALUES ($1, $2, $3, $4)
             ON CONFLICT (practitioner_id) DO UPDATE SET
                 email_hours_before = excluded.email_hours_before,
                 sms_hours_before = excluded.sms_hours_before,
                 updated_at = excluded.updated_at",
        )
        .bind(practitioner.as_str())
        .bind(i64::from(d.email_hours_before))
        .bind(i64::from(d.sms_hours_before))
        .bind(now.as_second())
        .execute(&mut *tx)
        .await
        .map_err(B::map_err)?;
        crate::commit::<B>(tx).await
    }
}
