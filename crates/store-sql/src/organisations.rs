//! Group practices (issue 18 point 4): organisations, their members, their assistants and
//! the assistants' agenda rights. The foreign keys of migration 0051 are the rule (a right
//! names an agenda of a member of the assistant's organisation); these queries only read
//! and write through them. Times in Unix seconds.

use crate::{internal, Backend, DbRow, SqlStore, Tx};
use careslot_domain::*;
use careslot_store::codec::ts;
use careslot_store::*;
use jiff::Timestamp;
use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Row, Type};

impl<B: Backend> SqlStore<B>
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
    fn organisation_from_row(r: &DbRow<B>) -> StoreResult<Organisation> {
        Ok(Organisation {
            id: OrganisationId(r.try_get("id").map_err(internal)?),
            name: r.try_get("name").map_err(internal)?,
            created_at: ts(r.try_get("created_at").map_err(internal)?)?,
        })
    }

    /// The practitioner's own organisation inside `tx` (see `Store::ensure_own_organisation`).
    pub(crate) async fn ensure_own_organisation_in(
        tx: &mut Tx<B>,
        practitioner: &PractitionerId,
        now: Timestamp,
    ) -> StoreResult<OrganisationId> {
        let made = sqlx::query(
            "INSERT INTO organisations (id, name, created_at)
             SELECT id, substr(name, 1, 200), $2 FROM practitioners WHERE id = $1
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(practitioner.as_str())
        .bind(now.as_second())
        .execute(&mut **tx)
        .await
        .map_err(B::map_err)?;
        if B::rows_affected(made) == 1 {
            sqlx::query(
                "INSERT INTO organisation_members (organisation_id, practitioner_id, joined_at)
                 VALUES ($1, $1, $2)",
            )
            .bind(practitioner.as_str())
            .bind(now.as_second())
            .execute(&mut **tx)
            .await
            .map_err(B::map_err)?;
        }
        Ok(OrganisationId(practitioner.as_str().to_owned()))
    }

    /// Writes an assistant invitation into `org`, refused (NotFound) unless the inviter is
    /// a member.
    pub(crate) async fn insert_invitation_in(
        tx: &mut Tx<B>,
        org: &OrganisationId,
        inv: &NewInvitation,
    ) -> StoreResult<()> {
        let done = sqlx::query(
            "INSERT INTO invitations (token_hash, practitioner_id, created_at, expires_at, organisation_id)
             SELECT $1, $2, $3, $4, organisation_id FROM organisation_members
              WHERE organisation_id = $5 AND practitioner_id = $2",
        )
        .bind(&inv.token_hash)
        .bind(inv.practitioner_id.as_str())
        .bind(inv.created_at.as_second())
        .bind(inv.expires_at.as_second())
        .bind(org.as_str())
        .execute(&mut **tx)
        .await
        .map_err(B::map_err)?;
        if B::rows_affected(done) != 1 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// A new assistant joins the organisation of its invitation, with a right on each
    /// agenda of the practitioner who invited it (what an assistant ran before 0051).
    pub(crate) async fn join_assistant_in(
        tx: &mut Tx<B>,
        token_hash: &str,
        account: &AccountId,
        inviter: &PractitionerId,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO organisation_assistants (account_id, organisation_id)
             SELECT $1, organisation_id FROM invitations WHERE token_hash = $2
                AND organisation_id IS NOT NULL",
        )
        .bind(account.as_str())
        .bind(token_hash)
        .execute(&mut **tx)
        .await
        .map_err(B::map_err)?;
        sqlx::query(
            "INSERT INTO agenda_rights (account_id, agenda_id, organisation_id, practitioner_id)
             SELECT o.account_id, a.id, o.organisation_id, a.practitioner_id
               FROM organisation_assistants o
               JOIN organisation_members m ON m.organisation_id = o.organisation_id
                AND m.practitioner_id = $2
               JOIN agendas a ON a.practitioner_id = m.practitioner_id
              WHERE o.account_id = $1",
        )
        .bind(account.as_str())
        .bind(inviter.as_str())
        .execute(&mut **tx)
        .await
        .map_err(B::map_err)?;
        Ok(())
    }

    /// A practitioner's new agenda: the assistants it invited get a right on it, as they
    /// had on every agenda of theirs before 0051 (the organisation page can take it away).
    pub(crate) async fn grant_new_agenda_in(
        tx: &mut Tx<B>,
        agenda: &AgendaId,
        owner: &PractitionerId,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO agenda_rights (account_id, agenda_id, organisation_id, practitioner_id)
             SELECT s.account_id, $1, o.organisation_id, m.practitioner_id
               FROM assistants s
               JOIN organisation_assistants o ON o.account_id = s.account_id
               JOIN organisation_members m ON m.organisation_id = o.organisation_id
                AND m.practitioner_id = s.practitioner_id
              WHERE s.practitioner_id = $2",
        )
        .bind(agenda.as_str())
        .bind(owner.as_str())
        .execute(&mut **tx)
        .await
        .map_err(B::map_err)?;
        Ok(())
    }

    pub(crate) async fn org_create(
        &self,
        org: &Organisation,
        founder: &PractitionerId,
    ) -> StoreResult<()> {
        let mut tx = B::begin_write(self.writer()).await?;
        sqlx::query("INSERT INTO organisations (id, name, created_at) VALUES ($1, $2, $3)")
            .bind(org.id.as_str())
            .bind(org.name.as_str())
            .bind(org.created_at.as_second())
            .execute(&mut *tx)
            .await
            .map_err(B::map_err)?;
        sqlx::query(
            "INSERT INTO organisation_members (organisation_id, practitioner_id, joined_at)
             VALUES ($1, $2, $3)",
        )
        .bind(org.id.as_str())
        .bind(founder.as_str())
        .bind(org.created_at.as_second())
        .execute(&mut *tx)
        .await
        .map_err(B::map_err)?;
        crate::commit::<B>(tx).await
    }

    pub(crate) async fn org_ensure_own(
        &self,
        practitioner: &PractitionerId,
        now: Timestamp,
    ) -> StoreResult<OrganisationId> {
        let mut tx = B::begin_write(self.writer()).await?;
        let id = Self::ensure_own_organisation_in(&mut tx, practitioner, now).await?;
        crate::commit::<B>(tx).await?;
        Ok(id)
    }

    pub(crate) async fn org_get(&self, id: &OrganisationId) -> StoreResult<Option<Organisation>> {
        sqlx::query("SELECT * FROM organisations WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional(self.reader())
            .await
            .map_err(B::map_err)?
            .as_ref()
            .map(Self::organisation_from_row)
            .transpose()
    }

    pub(crate) async fn org_rename(&self, id: &OrganisationId, name: &str) -> StoreResult<bool> {
        let done = sqlx::query("UPDATE organisations SET name = $2 WHERE id = $1")
            .bind(id.as_str())
            .bind(name)
            .execute(self.writer())
            .await
            .map_err(B::map_err)?;
        Ok(B::rows_affected(done) == 1)
    }

    pub(crate) async fn org_of_practitioner(
        &self,
        practitioner: &PractitionerId,
    ) -> StoreResult<Vec<Organisation>> {
        sqlx::query(
            "SELECT o.* FROM organisation_members m JOIN organisations o ON o.id = m.organisation_id
              WHERE m.practitioner_id = $1 ORDER BY m.joined_at, o.id",
        )
        .bind(practitioner.as_str())
        .fetch_all(self.reader())
        .await
        .map_err(B::map_err)?
        .iter()
        .map(Self::organisation_from_row)
        .collect()
    }

    pub(crate) async fn org_of_assistant(
        &self,
        account: &AccountId,
    ) -> StoreResult<Option<Organisation>> {
        sqlx::query(
            "SELECT o.* FROM organisation_assistants s JOIN organisations o ON o.id = s.organisation_id
              WHERE s.account_id = $1",
        )
        .bind(account.as_str())
        .fetch_optional(self.reader())
        .await
        .map_err(B::map_err)?
        .as_ref()
        .map(Self::organisation_from_row)
        .transpose()
    }

    pub(crate) async fn org_members(&self, id: &OrganisationId) -> StoreResult<Vec<Practitioner>> {
        sqlx::query(
            "SELECT p.* FROM organisation_members m JOIN practitioners p ON p.id = m.practitioner_id
              WHERE m.organisation_id = $1 ORDER BY m.joined_at, p.id",
        )
        .bind(id.as_str())
        .fetch_all(self.reader())
        .await
        .map_err(B::map_err)?
        .iter()
        .map(Self::practitioner_from_row)
        .collect()
    }

    pub(crate) async fn org_assistants(
        &self,
        id: &OrganisationId,
    ) -> StoreResult<Vec<(AccountRecord, Vec<AgendaId>)>> {
        let people = sqlx::query(
            "SELECT a.* FROM organisation_assistants s JOIN assistants x ON x.account_id = s.account_id
               JOIN accounts a ON a.id = s.account_id
              WHERE s.organisation_id = $1 ORDER BY x.created_at, a.id",
        )
        .bind(id.as_str())
        .fetch_all(self.reader())
        .await
        .map_err(B::map_err)?;
        let rights = sqlx::query(
            "SELECT account_id, agenda_id FROM agenda_rights WHERE organisation_id = $1
              ORDER BY agenda_id",
        )
        .bind(id.as_str())
        .fetch_all(self.reader())
        .await
        .map_err(B::map_err)?;
        let mut out = Vec::with_capacity(people.len());
        for p in &people {
            let record = Self::account_from_row(p)?;
            let mut agendas = Vec::new();
            for r in &rights {
                let who: String = r.try_get("account_id").map_err(internal)?;
                if who == record.id.as_str() {
                    agendas.push(AgendaId(r.try_get("agenda_id").map_err(internal)?));
                }
            }
            out.push((record, agendas));
        }
        Ok(out)
    }

    pub(crate) async fn org_agendas(&self, id: &OrganisationId) -> StoreResult<Vec<Agenda>> {
        sqlx::query(
            "SELECT a.* FROM organisation_members m JOIN agendas a ON a.practitioner_id = m.practitioner_id
              WHERE m.organisation_id = $1 ORDER BY m.joined_at, a.practitioner_id, a.id",
        )
        .bind(id.as_str())
        .fetch_all(self.reader())
        .await
        .map_err(B::map_err)?
        .iter()
        .map(Self::agenda_from_row)
        .collect()
    }

    pub(crate) async fn org_set_rights(
        &self,
        org: &OrganisationId,
        account: &AccountId,
        agendas: &[AgendaId],
    ) -> StoreResult<()> {
        let mut tx = B::begin_write(self.writer()).await?;
        let works_here = sqlx::query(
            "SELECT 1 FROM organisation_assistants WHERE account_id = $1 AND organisation_id = $2",
        )
        .bind(account.as_str())
        .bind(org.as_str())
        .fetch_optional(&mut *tx)
        .await
        .map_err(B::map_err)?;
        if works_here.is_none() {
            return Err(StoreError::NotFound);
        }
        sqlx::query("DELETE FROM agenda_rights WHERE account_id = $1")
            .bind(account.as_str())
            .execute(&mut *tx)
            .await
            .map_err(B::map_err)?;
        let mut seen = std::collections::HashSet::new();
        for agenda in agendas.iter().filter(|a| seen.insert(a.as_str())) {
            let done = sqlx::query(
                "INSERT INTO agenda_rights (account_id, agenda_id, organisation_id, practitioner_id)
                 SELECT $1, a.id, m.organisation_id, a.practitioner_id
                   FROM agendas a JOIN organisation_members m ON m.practitioner_id = a.practitioner_id
                  WHERE a.id = $2 AND m.organisation_id = $3",
            )
            .bind(account.as_str())
            .bind(agenda.as_str())
            .bind(org.as_str())
            .execute(&mut *tx)
            .await
            .map_err(B::map_err)?;
            if B::rows_affected(done) != 1 {
                return Err(StoreError::NotFound);
            }
        }
        crate::commit::<B>(tx).await
    }

    pub(crate) async fn org_agenda_right(
        &self,
        account: &AccountId,
        agenda: &AgendaId,
    ) -> StoreResult<bool> {
        Ok(
            sqlx::query("SELECT 1 FROM agenda_rights WHERE account_id = $1 AND agenda_id = $2")
                .bind(account.as_str())
                .bind(agenda.as_str())
                .fetch_optional(self.reader())
                .await
                .map_err(B::map_err)?
                .is_some(),
        )
    }

    pub(crate) async fn org_shared(
        &self,
        a: &PractitionerId,
        b: &PractitionerId,
    ) -> StoreResult<bool> {
        Ok(sqlx::query(
            "SELECT 1 FROM organisation_members x JOIN organisation_members y
                ON y.organisation_id = x.organisation_id
              WHERE x.practitioner_id = $1 AND y.practitioner_id = $2",
        )
        .bind(a.as_str())
        .bind(b.as_str())
        .fetch_optional(self.reader())
        .await
        .map_err(B::map_err)?
        .is_some())
    }

    pub(crate) async fn org_leave(
        &self,
        org: &OrganisationId,
        practitioner: &PractitionerId,
        now: Timestamp,
    ) -> StoreResult<Departure> {
        let mut tx = B::begin_write(self.writer()).await?;
        // Locks the organisation's row (PostgreSQL; SQLite writes one at a time): two members
        // leaving at once cannot both see the other stay.
        let found = sqlx::query("UPDATE organisations SET name = name WHERE id = $1")
            .bind(org.as_str())
            .execute(&mut *tx)
            .await
            .map_err(B::map_err)?;
        if B::rows_affected(found) == 0 {
            return Ok(Departure::NotMember);
        }
        let member = sqlx::query(
            "SELECT 1 FROM organisation_members WHERE organisation_id = $1 AND practitioner_id = $2",
        )
        .bind(org.as_str())
        .bind(practitioner.as_str())
        .fetch_optional(&mut *tx)
        .await
        .map_err(B::map_err)?;
        if member.is_none() {
            return Ok(Departure::NotMember);
        }
        let members: i64 = sqlx::query(
            "SELECT COUNT(*) AS n FROM organisation_members WHERE organisation_id = $1",
        )
        .bind(org.as_str())
        .fetch_one(&mut *tx)
        .await
        .map_err(B::map_err)?
        .try_get("n")
        .map_err(internal)?;
        if members <= 1 {
            return Ok(Departure::LastMember);
        }
        // The composite foreign keys of agenda_rights take the assistants' rights on the
        // departing practitioner's agendas.
        sqlx::query(
            "DELETE FROM organisation_members WHERE organisation_id = $1 AND practitioner_id = $2",
        )
        .bind(org.as_str())
        .bind(practitioner.as_str())
        .execute(&mut *tx)
        .await
        .map_err(B::map_err)?;
        // Left with none: their own organisation again (made now if it never was). When `org`
        // was that own one, there is none to go back to, and nothing changes.
        Self::ensure_own_organisation_in(&mut tx, practitioner, now).await?;
        let left: i64 = sqlx::query(
            "SELECT COUNT(*) AS n FROM organisation_members WHERE practitioner_id = $1",
        )
        .bind(practitioner.as_str())
        .fetch_one(&mut *tx)
        .await
        .map_err(B::map_err)?
        .try_get("n")
        .map_err(internal)?;
        if left == 0 {
            return Ok(Departure::OnlyOrganisation);
        }
        crate::commit::<B>(tx).await?;
        Ok(Departure::Left)
    }

    pub(crate) async fn org_invite_assistant(
        &self,
        org: &OrganisationId,
        inv: &NewInvitation,
        outbox: &OutboxWrite,
    ) -> StoreResult<()> {
        let mut tx = B::begin_write(self.writer()).await?;
        Self::insert_invitation_in(&mut tx, org, inv).await?;
        crate::Outbox::<B>::apply_in(&mut tx, outbox).await?;
        crate::commit::<B>(tx).await
    }

    pub(crate) async fn org_invite_colleague(
        &self,
        org: &OrganisationId,
        token_hash: &str,
        created_at: Timestamp,
        expires_at: Timestamp,
        outbox: &OutboxWrite,
    ) -> StoreResult<()> {
        let mut tx = B::begin_write(self.writer()).await?;
        sqlx::query(
            "INSERT INTO colleague_invitations (token_hash, organisation_id, created_at, expires_at)
             VALUES ($1, $2, $3, $4)",
        )
        .bind(token_hash)
        .bind(org.as_str())
        .bind(created_at.as_second())
        .bind(expires_at.as_second())
        .execute(&mut *tx)
        .await
        .map_err(B::map_err)?;
        crate::Outbox::<B>::apply_in(&mut tx, outbox).await?;
        crate::commit::<B>(tx).await
    }

    pub(crate) async fn org_accept_colleague(
        &self,
        token_hash: &str,
        practitioner: &PractitionerId,
        now: Timestamp,
    ) -> StoreResult<OrganisationId> {
        let mut tx = B::begin_write(self.writer()).await?;
        let Some(row) = sqlx::query(
            "UPDATE colleague_invitations SET used_by = $2, used_at = $3
              WHERE token_hash = $1 AND used_by IS NULL AND expires_at > $3
              RETURNING organisation_id",
        )
        .bind(token_hash)
        .bind(practitioner.as_str())
        .bind(now.as_second())
        .fetch_optional(&mut *tx)
        .await
        .map_err(B::map_err)?
        else {
            return Err(StoreError::NotFound);
        };
        let org = OrganisationId(row.try_get("organisation_id").map_err(internal)?);
        sqlx::query(
            "INSERT INTO organisation_members (organisation_id, practitioner_id, joined_at)
             VALUES ($1, $2, $3) ON CONFLICT (organisation_id, practitioner_id) DO NOTHING",
        )
        .bind(org.as_str())
        .bind(practitioner.as_str())
        .bind(now.as_second())
        .execute(&mut *tx)
        .await
        .map_err(B::map_err)?;
        crate::commit::<B>(tx).await?;
        Ok(org)
    }
}
