//! [`Store`] for [`SqlStore`]: the row decoders, the writes several methods share, and the
//! trait implementation itself. Holds and appointments are in `reservations.rs`, payments in
//! `payments.rs`.

use crate::credentials::Credentials;
use crate::directory::Directory;
use crate::operators::Operators;
use crate::outbox::Outbox;
use crate::payments::Payments;
use crate::reservations::Reservations;
use crate::verification::Verification;
use crate::{internal, Backend, DbRow, SqlStore, Tx};
use async_trait::async_trait;
use careslot_domain::*;
use careslot_store::codec::{self, ts};
use careslot_store::*;
use jiff::Timestamp;
use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Row, Type};

/// Ids per statement when reading accounts by id. Small on purpose: sqlx binds SQLite
/// parameters by looking each one's name up in a list, so a statement's binding cost grows
/// with the square of its placeholders (a profile of the desk's grid showed it).
const ACCOUNTS_PER_READ: usize = 100;

/// The columns [`AccountRecord`] is made of, for reads of many accounts: not the password
/// hash, the indexes or the settings, which SQLite would copy for every row.
const ACCOUNT_COLUMNS: &str = "id, role, created_at, wrapped_key, email_ct, name_ct, phone_ct, \
    birth_date_ct, managed_by";

/// The columns [`ReservationRow`] is made of, for reads of many reservations.
const RESERVATION_COLUMNS: &str = "id, agenda_id, start_s, end_s, status, expires_at, \
    motive_ct, patient_ct, note_ct, relative_ct, arrived_at, consulting_at, done_at, no_show_at";

/// Access-log rows per INSERT statement (five placeholders each; small for the same
/// reason as [`ACCOUNTS_PER_READ`]).
const AUDIT_ROWS_PER_INSERT: usize = 50;
/// Patients of many-patient audit entries per `INSERT` (no bound parameters).
const AUDIT_SUBJECTS_PER_INSERT: usize = 1000;
/// Patients of many-patient audit entries per indexing transaction (a few milliseconds of
/// SQLite's writer).
const AUDIT_SUBJECTS_PER_TX: usize = 2000;

const DIRECTORY_SQL: &str = "SELECT pr.id AS practitioner_id, pr.name AS pname, pr.specialty, a.id AS agenda_id,
        pl.id, pl.practitioner_id, pl.name, pl.address, pl.postcode, pl.city, pl.country, pl.lat, pl.lon, pl.timezone,
        COALESCE(pc.status = 'verified', FALSE) AS verified,
        pr.languages AS plangs, pr.accepts_new_patients, pr.fee_sector, pl.wheelchair_access,
        EXISTS (SELECT 1 FROM motives m WHERE m.agenda_id = a.id AND m.teleconsultation AND m.bookable_online) AS teleconsultation
   FROM agendas a JOIN practitioners pr ON pr.id = a.practitioner_id JOIN places pl ON pl.id = a.place_id
   LEFT JOIN practitioner_credentials pc ON pc.practitioner_id = pr.id";

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
    /// Replaces an account's recovery codes inside `tx`.
    async fn put_recovery_in(
        tx: &mut Tx<B>,
        account: &AccountId,
        hashes: &[String],
    ) -> StoreResult<()> {
        sqlx::query("DELETE FROM mfa_recovery_codes WHERE account_id = $1")
            .bind(account.as_str())
            .execute(&mut **tx)
            .await
            .map_err(B::map_err)?;
        for h in hashes {
            sqlx::query(
                "INSERT INTO mfa_recovery_codes (account_id, code_hash, used_at) VALUES ($1, $2, NULL)",
            )
            .bind(account.as_str())
            .bind(h.as_str())
            .execute(&mut **tx)
            .await
            .map_err(B::map_err)?;
        }
        Ok(())
    }

    /// Deletes an assistant's account if `whose` (a query of account ids taking `owner` as
    /// `$2`) lists it; true when it did.
    async fn delete_assistant(
        &self,
        account: &AccountId,
        whose: &str,
        owner: &str,
    ) -> StoreResult<bool> {
        let mut tx = B::begin_write(self.writer()).await?;
        let sql = format!(
            "DELETE FROM accounts WHERE id = $1 AND role = 'assistant' AND id IN ({whose})"
        );
        let removed = sqlx::query(&sql)
            .bind(account.as_str())
            .bind(owner)
            .execute(&mut *tx)
            .await
            .map_err(B::map_err)
            .map(B::rows_affected)?
            == 1;
        // The outbox has no foreign keys (0022 on SQLite, 0036 on PostgreSQL): the removed
        // account's queued messages (an invitation not yet sent) go by name.
        if removed {
            Outbox::<B>::delete_account_in(&mut tx, account).await?;
        }
        let committed = crate::commit::<B>(tx).await;
        // Its sessions went with it (ON DELETE CASCADE).
        self.sessions_changed(SessionSignal::Account(account.clone()));
        committed?;
        Ok(removed)
    }

    pub(crate) fn account_from_row(row: &DbRow<B>) -> StoreResult<AccountRecord> {
        let role: String = row.try_get("role").map_err(internal)?;
        Ok(AccountRecord {
            id: AccountId(row.try_get("id").map_err(internal)?),
            role: Role::parse(&role).ok_or_else(|| codec::corrupt("role"))?,
            created_at: ts(row.try_get("created_at").map_err(internal)?)?,
            wrapped_key: row.try_get("wrapped_key").map_err(internal)?,
            email_ct: row.try_get("email_ct").map_err(internal)?,
            name_ct: row.try_get("name_ct").map_err(internal)?,
            phone_ct: row.try_get("phone_ct").map_err(internal)?,
            birth_date_ct: row.try_get("birth_date_ct").map_err(internal)?,
            managed_by: row
                .try_get::<Option<String>, _>("managed_by")
                .map_err(internal)?
                .map(PractitionerId),
        })
    }

    fn product_of(s: &str) -> StoreResult<VaccineProduct> {
        VaccineProduct::parse(s).map_err(|_| codec::corrupt("vaccine product"))
    }

    fn day_of(s: &str) -> StoreResult<jiff::civil::Date> {
        s.parse().map_err(|_| codec::corrupt("stock day"))
    }

    fn motive_vaccine_from_row(row: &DbRow<B>) -> StoreResult<MotiveVaccine> {
        let product: String = row.try_get("product").map_err(internal)?;
        let dose: i64 = row.try_get("dose").map_err(internal)?;
        Ok(MotiveVaccine {
            motive_id: MotiveId(row.try_get("motive_id").map_err(internal)?),
            product: Self::product_of(&product)?,
            dose: Dose::from_number(dose).map_err(|_| codec::corrupt("dose"))?,
            next: row
                .try_get::<Option<String>, _>("next_motive_id")
                .map_err(internal)?
                .map(MotiveId),
        })
    }

    /// A `stock_policies` row: its product and doses per day.
    fn policy_from_row(row: &DbRow<B>) -> StoreResult<(VaccineProduct, u32)> {
        let product: String = row.try_get("product").map_err(internal)?;
        let doses: i64 = row.try_get("doses").map_err(internal)?;
        Ok((
            Self::product_of(&product)?,
            u32::try_from(doses).map_err(|_| codec::corrupt("stock policy"))?,
        ))
    }

    /// A `line_overrides` row: its local day and lines.
    fn lines_from_row(row: &DbRow<B>) -> StoreResult<(jiff::civil::Date, u32)> {
        let day: String = row.try_get("day").map_err(internal)?;
        let lines: i64 = row.try_get("lines").map_err(internal)?;
        Ok((
            Self::day_of(&day)?,
            u32::try_from(lines).map_err(|_| codec::corrupt("lines"))?,
        ))
    }

    fn stock_from_row(row: &DbRow<B>) -> StoreResult<StockRow> {
        let product: String = row.try_get("product").map_err(internal)?;
        let day: String = row.try_get("day").map_err(internal)?;
        let doses: i64 = row.try_get("doses").map_err(internal)?;
        let used: i64 = row.try_get("used").map_err(internal)?;
        Ok(StockRow {
            agenda_id: AgendaId(row.try_get("agenda_id").map_err(internal)?),
            product: Self::product_of(&product)?,
            day: Self::day_of(&day)?,
            doses: u32::try_from(doses).map_err(|_| codec::corrupt("stock"))?,
            used: u32::try_from(used).map_err(|_| codec::corrupt("stock"))?,
            explicit: row.try_get("explicit").map_err(internal)?,
        })
    }

    fn protocol_from_row(row: &DbRow<B>) -> StoreResult<Protocol> {
        let product: String = row.try_get("product").map_err(internal)?;
        let from: String = row.try_get("effective_from").map_err(internal)?;
        let version: i64 = row.try_get("version").map_err(internal)?;
        let min: Option<i64> = row.try_get("second_min_days").map_err(internal)?;
        let max: Option<i64> = row.try_get("second_max_days").map_err(internal)?;
        Protocol::parse(
            Self::product_of(&product)?,
            u32::try_from(version).map_err(|_| codec::corrupt("protocol version"))?,
            Self::day_of(&from)?,
            min.zip(max),
            row.try_get("booster_min_days").map_err(internal)?,
        )
        .map_err(|_| codec::corrupt("protocol"))
    }

    fn phase_from_row(row: &DbRow<B>) -> StoreResult<Phase> {
        let everyone: i64 = row.try_get("everyone").map_err(internal)?;
        let min_age: Option<i64> = row.try_get("min_age").map_err(internal)?;
        let groups: String = row.try_get("priority_groups").map_err(internal)?;
        Ok(Phase {
            id: row.try_get("id").map_err(internal)?,
            name: row.try_get("name").map_err(internal)?,
            everyone: everyone != 0,
            min_age: min_age
                .map(u32::try_from)
                .transpose()
                .map_err(|_| codec::corrupt("min_age"))?,
            priority_groups: groups
                .split(',')
                .filter(|g| !g.is_empty())
                .map(str::to_owned)
                .collect(),
            opened_at: ts(row.try_get("opened_at").map_err(internal)?)?,
            closed_at: row
                .try_get::<Option<i64>, _>("closed_at")
                .map_err(internal)?
                .map(ts)
                .transpose()?,
        })
    }

    fn relative_from_row(row: &DbRow<B>) -> StoreResult<RelativeRecord> {
        Ok(RelativeRecord {
            id: RelativeId(row.try_get("id").map_err(internal)?),
            account_id: AccountId(row.try_get("account_id").map_err(internal)?),
            created_at: ts(row.try_get("created_at").map_err(internal)?)?,
            name_ct: row.try_get("name_ct").map_err(internal)?,
            birth_date_ct: row.try_get("birth_date_ct").map_err(internal)?,
        })
    }

    fn document_meta_from_row(row: &DbRow<B>) -> StoreResult<DocumentMeta> {
        let uploaded_by: String = row.try_get("uploaded_by").map_err(internal)?;
        let size: i64 = row.try_get("size").map_err(internal)?;
        Ok(DocumentMeta {
            id: DocumentId(row.try_get("id").map_err(internal)?),
            reservation_id: ReservationId(row.try_get("reservation_id").map_err(internal)?),
            uploaded_by: Uploader::parse(&uploaded_by)
                .ok_or_else(|| codec::corrupt("uploaded_by"))?,
            content_type: row.try_get("content_type").map_err(internal)?,
            size: u64::try_from(size).map_err(|_| codec::corrupt("document size"))?,
            created_at: ts(row.try_get("created_at").map_err(internal)?)?,
            wrapped_key: row.try_get("wrapped_key").map_err(internal)?,
            name_ct: row.try_get("name_ct").map_err(internal)?,
        })
    }

    pub(crate) async fn insert_account(tx: &mut Tx<B>, a: &NewAccount) -> StoreResult<()> {
        let r = &a.record;
        sqlx::query(
        "INSERT INTO accounts (id, role, password_hash, created_at, wrapped_key, email_ct, name_ct, phone_ct,
                               birth_date_ct, email_bidx, email_uniq, managed_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(r.id.as_str())
    .bind(r.role.as_str())
    .bind(&a.password_hash)
    .bind(r.created_at.as_second())
    .bind(&r.wrapped_key)
    .bind(&r.email_ct)
    .bind(&r.name_ct)
    .bind(r.phone_ct.as_deref())
    .bind(r.birth_date_ct.as_deref())
    .bind(a.email_bidx)
    .bind(&a.email_uniq)
    .bind(r.managed_by.as_ref().map(|p| p.as_str()))
    .execute(&mut **tx)
    .await
    .map_err(B::map_err)?;
        Ok(())
    }

    async fn insert_motive(tx: &mut Tx<B>, m: &Motive, label_ct: &[u8]) -> StoreResult<()> {
        sqlx::query(
        "INSERT INTO motives (id, agenda_id, label_ct, duration_min, capacity, teleconsultation, new_patients_only,
                              bookable_online, min_notice_min, max_horizon_days)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(m.id.as_str())
    .bind(m.agenda_id.as_str())
    .bind(label_ct)
    .bind(i64::from(m.duration.get()))
    .bind(i64::from(m.capacity))
    .bind(m.policy.teleconsultation)
    .bind(m.policy.new_patients_only)
    .bind(m.policy.bookable_online)
    .bind(i64::from(m.policy.min_notice_min))
    .bind(i64::from(m.policy.max_horizon_days))
    .execute(&mut **tx)
    .await
    .map_err(B::map_err)?;
        Ok(())
    }

    /// A rule and its motive links; NotFound when a motive is not of the rule's agenda.
    async fn insert_rule(tx: &mut Tx<B>, r: &OpeningRule) -> StoreResult<()> {
        sqlx::query(
        "INSERT INTO opening_rules (id, agenda_id, weekdays, start_min, end_min, valid_from, valid_until)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(r.id.as_str())
    .bind(r.agenda_id.as_str())
    .bind(i64::from(r.weekdays.mask()))
    .bind(codec::minutes_of_day(r.start))
    .bind(codec::minutes_of_day(r.end))
    .bind(r.valid_from.map(|d| d.to_string()))
    .bind(r.valid_until.map(|d| d.to_string()))
    .execute(&mut **tx)
    .await
    .map_err(B::map_err)?;
        for m in &r.motive_ids {
            // Only motives of the same agenda: otherwise nothing is inserted and we refuse.
            let done = sqlx::query(
                "INSERT INTO opening_rule_motives (rule_id, motive_id)
             SELECT $1, id FROM motives WHERE id = $2 AND agenda_id = $3",
            )
            .bind(r.id.as_str())
            .bind(m.as_str())
            .bind(r.agenda_id.as_str())
            .execute(&mut **tx)
            .await
            .map_err(B::map_err)?;
            if B::rows_affected(done) != 1 {
                return Err(StoreError::NotFound);
            }
        }
        Ok(())
    }

    /// Links a motive to a vaccine dose; NotFound unless both motives belong to the agenda.
    async fn link_vaccine(tx: &mut Tx<B>, agenda: &str, v: &MotiveVaccine) -> StoreResult<()> {
        let known: i64 = sqlx::query(
            "SELECT COUNT(*) AS n FROM motives WHERE agenda_id = $1 AND (id = $2 OR id = $3)",
        )
        .bind(agenda)
        .bind(v.motive_id.as_str())
        .bind(v.next.as_ref().map(|m| m.as_str()).unwrap_or(""))
        .fetch_one(&mut **tx)
        .await
        .map_err(B::map_err)?
        .try_get("n")
        .map_err(internal)?;
        if known != 1 + i64::from(v.next.is_some()) {
            return Err(StoreError::NotFound);
        }
        sqlx::query(
        "INSERT INTO motive_vaccines (motive_id, agenda_id, product, dose, next_motive_id) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (motive_id) DO UPDATE SET product = excluded.product, dose = excluded.dose,
             next_motive_id = excluded.next_motive_id",
    )
    .bind(v.motive_id.as_str())
    .bind(agenda)
    .bind(v.product.code())
    .bind(i64::from(v.dose.number()))
    .bind(v.next.as_ref().map(|m| m.as_str()))
    .execute(&mut **tx)
    .await
    .map_err(B::map_err)?;
        Ok(())
    }

    fn place_from_row(row: &DbRow<B>) -> StoreResult<Place> {
        let country: String = row.try_get("country").map_err(internal)?;
        Ok(Place {
            id: PlaceId(row.try_get("id").map_err(internal)?),
            practitioner_id: PractitionerId(row.try_get("practitioner_id").map_err(internal)?),
            name: row.try_get("name").map_err(internal)?,
            address: row.try_get("address").map_err(internal)?,
            postcode: row.try_get("postcode").map_err(internal)?,
            city: row.try_get("city").map_err(internal)?,
            country: Country::parse(&country).map_err(|_| codec::corrupt("country"))?,
            lat: row.try_get("lat").map_err(internal)?,
            lon: row.try_get("lon").map_err(internal)?,
            timezone: row.try_get("timezone").map_err(internal)?,
        })
    }

    pub(crate) fn practitioner_from_row(row: &DbRow<B>) -> StoreResult<Practitioner> {
        let specialty: String = row.try_get("specialty").map_err(internal)?;
        let languages: String = row.try_get("languages").map_err(internal)?;
        Ok(Practitioner {
            id: PractitionerId(row.try_get("id").map_err(internal)?),
            account_id: AccountId(row.try_get("account_id").map_err(internal)?),
            name: row.try_get("name").map_err(internal)?,
            specialty: Specialty::parse(&specialty).map_err(|_| codec::corrupt("specialty"))?,
            languages: codec::languages_from_text(&languages),
            bio: row.try_get("bio").map_err(internal)?,
        })
    }

    /// Decodes a `reservations` row (`SELECT *` or `RETURNING *`).
    pub fn reservation_from_row(row: &DbRow<B>) -> StoreResult<ReservationRow> {
        let status: String = row.try_get("status").map_err(internal)?;
        codec::reservation_row(
            row.try_get("id").map_err(internal)?,
            row.try_get("agenda_id").map_err(internal)?,
            row.try_get("start_s").map_err(internal)?,
            row.try_get("end_s").map_err(internal)?,
            &status,
            row.try_get("expires_at").map_err(internal)?,
            row.try_get("motive_ct").map_err(internal)?,
            row.try_get("patient_ct").map_err(internal)?,
            row.try_get("note_ct").map_err(internal)?,
            row.try_get("relative_ct").map_err(internal)?,
            [
                row.try_get("arrived_at").map_err(internal)?,
                row.try_get("consulting_at").map_err(internal)?,
                row.try_get("done_at").map_err(internal)?,
                row.try_get("no_show_at").map_err(internal)?,
            ],
        )
    }

    fn audit_from_row(row: &DbRow<B>) -> StoreResult<AuditRow> {
        Ok(AuditRow {
            seq: row.try_get("seq").map_err(internal)?,
            at: ts(row.try_get("at").map_err(internal)?)?,
            subject_bidx: row.try_get("subject_bidx").map_err(internal)?,
            entry_ct: row.try_get("entry_ct").map_err(internal)?,
            mac: row.try_get("mac").map_err(internal)?,
        })
    }

    pub(crate) fn agenda_from_row(r: &DbRow<B>) -> StoreResult<Agenda> {
        codec::agenda(
            r.try_get("id").map_err(internal)?,
            r.try_get("practitioner_id").map_err(internal)?,
            r.try_get("place_id").map_err(internal)?,
            r.try_get("timezone").map_err(internal)?,
            r.try_get("holidays").map_err(internal)?,
            r.try_get("wrapped_key").map_err(internal)?,
        )
    }

    fn motive_from_row(row: &DbRow<B>) -> StoreResult<Motive> {
        codec::motive(
            row.try_get("id").map_err(internal)?,
            row.try_get("agenda_id").map_err(internal)?,
            row.try_get("duration_min").map_err(internal)?,
            row.try_get("capacity").map_err(internal)?,
            row.try_get("teleconsultation").map_err(internal)?,
            row.try_get("new_patients_only").map_err(internal)?,
            row.try_get("bookable_online").map_err(internal)?,
            row.try_get("min_notice_min").map_err(internal)?,
            row.try_get("max_horizon_days").map_err(internal)?,
        )
    }

    fn directory_from_row(row: &DbRow<B>) -> StoreResult<DirectoryEntry> {
        let specialty: String = row.try_get("specialty").map_err(internal)?;
        Ok(DirectoryEntry {
            practitioner_id: PractitionerId(row.try_get("practitioner_id").map_err(internal)?),
            name: row.try_get("pname").map_err(internal)?,
            specialty: Specialty::parse(&specialty).map_err(|_| codec::corrupt("specialty"))?,
            agenda_id: AgendaId(row.try_get("agenda_id").map_err(internal)?),
            place: Self::place_from_row(row)?,
            verified: row.try_get("verified").map_err(internal)?,
            facts: DirectoryFacts {
                teleconsultation: row.try_get("teleconsultation").map_err(internal)?,
                accepts_new_patients: row.try_get("accepts_new_patients").map_err(internal)?,
                fee_sector: Self::fee_sector_from_row(row)?,
                wheelchair_access: row.try_get("wheelchair_access").map_err(internal)?,
                languages: codec::languages_from_text(
                    &row.try_get::<String, _>("plangs").map_err(internal)?,
                ),
            },
        })
    }

    fn fee_sector_from_row(row: &DbRow<B>) -> StoreResult<Option<FeeSector>> {
        let code: Option<String> = row.try_get("fee_sector").map_err(internal)?;
        code.map(|c| FeeSector::parse(&c).map_err(|_| codec::corrupt("fee_sector")))
            .transpose()
    }

    /// Deletes a row of an agenda's configuration and tells other nodes the agenda changed.
    async fn delete_in_agenda(&self, sql: &str, agenda: &AgendaId, id: &str) -> StoreResult<bool> {
        let mut tx = B::begin_write(self.writer()).await?;
        let done = sqlx::query(sql)
            .bind(id)
            .bind(agenda.as_str())
            .execute(&mut *tx)
            .await
            .map_err(B::map_err)
            .map(B::rows_affected)?
            == 1;
        B::agenda_changed(&mut tx, agenda.as_str()).await?;
        crate::commit::<B>(tx).await?;
        Ok(done)
    }

    // --- imports (careslot import) ----------------------------------------------------------------

    fn imported_site_from_row(row: &DbRow<B>) -> StoreResult<ImportedSite> {
        Ok(ImportedSite {
            source_key: row.try_get("source_key").map_err(internal)?,
            content_hash: row.try_get("content_hash").map_err(internal)?,
            account_id: AccountId(row.try_get("account_id").map_err(internal)?),
            practitioner_id: PractitionerId(row.try_get("practitioner_id").map_err(internal)?),
            place_id: row
                .try_get::<Option<String>, _>("place_id")
                .map_err(internal)?
                .map(PlaceId),
            agenda_id: row
                .try_get::<Option<String>, _>("agenda_id")
                .map_err(internal)?
                .map(AgendaId),
            imported_at: ts(row.try_get("imported_at").map_err(internal)?)?,
            updated_at: ts(row.try_get("updated_at").map_err(internal)?)?,
            public: SitePublic {
                gid: row.try_get("site_gid").map_err(internal)?,
                internal_id: row.try_get("site_internal_id").map_err(internal)?,
                phone: row.try_get("site_phone").map_err(internal)?,
            },
        })
    }

    /// Every write of one imported site, inside the caller's transaction.
    async fn write_site(tx: &mut Tx<B>, w: &SiteWrite) -> StoreResult<()> {
        if let Some(a) = &w.account {
            Self::insert_account(tx, a).await?;
        }
        let p = &w.practitioner;
        let practitioner_id: String = sqlx::query(
        "INSERT INTO practitioners (id, account_id, name, specialty, languages, bio) VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (account_id) DO UPDATE SET name = excluded.name, specialty = excluded.specialty
         RETURNING id",
    )
    .bind(p.id.as_str())
    .bind(p.account_id.as_str())
    .bind(&p.name)
    .bind(p.specialty.code())
    .bind(codec::languages_to_text(&p.languages))
    .bind(p.bio.as_deref())
    .fetch_one(&mut **tx)
    .await
    .map_err(B::map_err)?
    .try_get("id")
    .map_err(internal)?;
        Credentials::<B>::vouch_site_in(tx, &practitioner_id, Timestamp::now()).await?;
        if let Some(pl) = &w.place {
            sqlx::query(
            "INSERT INTO places (id, practitioner_id, name, address, postcode, city, country, lat, lon, timezone)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
             ON CONFLICT (id) DO UPDATE SET name = excluded.name, address = excluded.address,
                 postcode = excluded.postcode, city = excluded.city, country = excluded.country,
                 lat = excluded.lat, lon = excluded.lon, timezone = excluded.timezone",
        )
        .bind(pl.id.as_str())
        .bind(&practitioner_id)
        .bind(&pl.name)
        .bind(&pl.address)
        .bind(&pl.postcode)
        .bind(&pl.city)
        .bind(pl.country.code())
        .bind(pl.lat)
        .bind(pl.lon)
        .bind(&pl.timezone)
        .execute(&mut **tx)
        .await
        .map_err(B::map_err)?;
        }
        if let Some(a) = &w.agenda {
            sqlx::query(
            "INSERT INTO agendas (id, practitioner_id, place_id, timezone, holidays, wrapped_key)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (id) DO UPDATE SET timezone = excluded.timezone",
        )
        .bind(a.id.as_str())
        .bind(&practitioner_id)
        .bind(a.place_id.as_str())
        .bind(&a.timezone)
        .bind(a.holidays.map(Country::code))
        .bind(&a.wrapped_key)
        .execute(&mut **tx)
        .await
        .map_err(B::map_err)?;
        }
        let agenda = w.agenda.as_ref().map(|a| a.id.as_str());
        for (m, label_ct) in &w.motives {
            if Some(m.agenda_id.as_str()) != agenda {
                return Err(StoreError::NotFound);
            }
            Self::insert_motive(tx, m, label_ct).await?;
        }
        for v in &w.vaccines {
            Self::link_vaccine(tx, agenda.ok_or(StoreError::NotFound)?, v).await?;
        }
        if let Some(rules) = &w.rules {
            let agenda = agenda.ok_or(StoreError::NotFound)?;
            sqlx::query("DELETE FROM opening_rules WHERE agenda_id = $1")
                .bind(agenda)
                .execute(&mut **tx)
                .await
                .map_err(B::map_err)?;
            for r in rules {
                if r.agenda_id.as_str() != agenda {
                    return Err(StoreError::NotFound);
                }
                Self::insert_rule(tx, r).await?;
            }
        }
        sqlx::query(
        "INSERT INTO imported_sites (source_key, content_hash, account_id, practitioner_id, place_id, agenda_id,
                                     imported_at, updated_at, site_gid, site_internal_id, site_phone)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8, $9, $10)
         ON CONFLICT (source_key) DO UPDATE SET content_hash = excluded.content_hash,
             practitioner_id = excluded.practitioner_id,
             place_id = COALESCE(excluded.place_id, imported_sites.place_id),
             agenda_id = COALESCE(excluded.agenda_id, imported_sites.agenda_id),
             updated_at = excluded.updated_at,
             site_gid = excluded.site_gid,
             site_internal_id = excluded.site_internal_id,
             site_phone = excluded.site_phone",
    )
    .bind(&w.source_key)
    .bind(&w.content_hash)
    .bind(p.account_id.as_str())
    .bind(&practitioner_id)
    .bind(w.place.as_ref().map(|pl| pl.id.as_str()))
    .bind(agenda)
    .bind(w.now.as_second())
    .bind(w.public.gid.as_deref())
    .bind(w.public.internal_id.as_deref())
    .bind(w.public.phone.as_deref())
    .execute(&mut **tx)
    .await
    .map_err(B::map_err)?;
        if let Some(agenda) = agenda {
            B::agenda_changed(tx, agenda).await?;
        }
        Ok(())
    }

    // --- prescriptions ----------------------------------------------------------------------------

    fn signing_key_from_row(row: &DbRow<B>) -> StoreResult<SigningKeyRecord> {
        Ok(SigningKeyRecord {
            id: row.try_get("id").map_err(internal)?,
            practitioner_id: PractitionerId(row.try_get("practitioner_id").map_err(internal)?),
            algorithm: row.try_get("algorithm").map_err(internal)?,
            public_key: row.try_get("public_key").map_err(internal)?,
            wrapped_key: row.try_get("wrapped_key").map_err(internal)?,
            private_ct: row.try_get("private_ct").map_err(internal)?,
            created_at: ts(row.try_get("created_at").map_err(internal)?)?,
            retired_at: row
                .try_get::<Option<i64>, _>("retired_at")
                .map_err(internal)?
                .map(ts)
                .transpose()?,
        })
    }

    fn prescription_from_row(row: &DbRow<B>) -> StoreResult<PrescriptionRecord> {
        Ok(PrescriptionRecord {
            id: row.try_get("id").map_err(internal)?,
            reservation_id: ReservationId(row.try_get("reservation_id").map_err(internal)?),
            practitioner_id: PractitionerId(row.try_get("practitioner_id").map_err(internal)?),
            key_id: row.try_get("key_id").map_err(internal)?,
            issued_at: ts(row.try_get("issued_at").map_err(internal)?)?,
            payload_ct: row.try_get("payload_ct").map_err(internal)?,
            signature: row.try_get("signature").map_err(internal)?,
            capability_hash: row.try_get("capability_hash").map_err(internal)?,
            capability_ct: row.try_get("capability_ct").map_err(internal)?,
            dispensed_at: row
                .try_get::<Option<i64>, _>("dispensed_at")
                .map_err(internal)?
                .map(ts)
                .transpose()?,
        })
    }
}

#[async_trait]
#[async_trait]
impl<B: Backend> Store for SqlStore<B>
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
    fn watch_outbox(&self, on_change: OutboxWatcher) {
        self.backend.watch_outbox(on_change);
    }

    fn backend(&self) -> &'static str {
        B::NAME
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1")
            .execute(&self.reader)
            .await
            .map_err(B::map_err)?;
        Ok(())
    }

    fn pool_stats(&self) -> Option<(u32, u32)> {
        let idle = u32::try_from(self.reader.num_idle()).unwrap_or(u32::MAX);
        Some((self.reader.size(), idle))
    }

    fn writer_queue_depth(&self) -> Option<usize> {
        Some(self.group_commit().queued())
    }

    fn observe_group_commits(&self, on_group: GroupObserver) {
        self.group_commit().observe(on_group);
    }

    async fn outbox_depth(&self, now: Timestamp) -> StoreResult<OutboxDepth> {
        Outbox::<B>::depth(self.reader(), now).await
    }

    async fn close(&self) {
        self.group_commit().stop().await;
        self.writer.close().await;
        self.reader.close().await;
    }

    fn watch_agendas(&self, on_change: AgendaWatcher) {
        self.backend.watch(on_change);
    }

    fn watch_sessions(&self, on_signal: SessionWatcher) -> bool {
        if !self
            .backend
            .watch_sessions(self.reader(), on_signal.clone())
        {
            return false;
        }
        match self.session_watchers.write() {
            Ok(mut w) => w.push(on_signal),
            Err(poisoned) => poisoned.into_inner().push(on_signal),
        }
        true
    }

    fn shared_room(&self) -> Option<std::sync::Arc<dyn SharedRoom>> {
        self.backend.shared_room(self.writer())
    }

    fn signal_bus(&self) -> Option<std::sync::Arc<dyn SignalBus>> {
        self.backend.signal_bus(self.writer())
    }

    async fn setting(&self, name: &str) -> StoreResult<Option<String>> {
        let row = sqlx::query("SELECT value FROM settings WHERE name = $1")
            .bind(name)
            .fetch_optional(self.reader())
            .await
            .map_err(B::map_err)?;
        row.map(|r| r.try_get("value").map_err(internal))
            .transpose()
    }

    async fn insert_setting(&self, name: &str, value: &str) -> StoreResult<String> {
        sqlx::query(
            "INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(value)
        .execute(self.writer())
        .await
        .map_err(B::map_err)?;
        let row = sqlx::query("SELECT value FROM settings WHERE name = $1")
            .bind(name)
            .fetch_one(self.writer())
            .await
            .map_err(B::map_err)?;
        row.try_get("value").map_err(internal)
    }

    async fn create_account(&self, a: &NewAccount) -> StoreResult<()> {
        let mut tx = B::begin_write(self.writer()).await?;
        Self::insert_account(&mut tx, a).await?;
        crate::commit::<B>(tx).await
    }

    async fn account_candidates(&self, email_bidx: i64) -> StoreResult<Vec<AccountWithSecret>> {
        // One read for the whole sign-in: a pending account costs no extra query.
        sqlx::query(
            "SELECT a.*, s.email_pending FROM accounts a
               LEFT JOIN account_settings s ON s.account_id = a.id
              WHERE a.email_bidx = $1",
        )
        .bind(email_bidx)
        .fetch_all(self.reader())
        .await
        .map_err(B::map_err)?
        .iter()
        .map(|r| {
            Ok(AccountWithSecret {
                record: Self::account_from_row(r)?,
                password_hash: r.try_get("password_hash").map_err(internal)?,
                email_pending: r
                    .try_get::<Option<bool>, _>("email_pending")
                    .map_err(internal)?
                    .unwrap_or(false),
            })
        })
        .collect()
    }

    async fn account(&self, id: &AccountId) -> StoreResult<Option<AccountRecord>> {
        let row = sqlx::query("SELECT * FROM accounts WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional(self.reader())
            .await
            .map_err(B::map_err)?;
        row.as_ref().map(Self::account_from_row).transpose()
    }

    async fn accounts(&self, ids: &[AccountId]) -> StoreResult<Vec<AccountRecord>> {
        if let Some(packed) = B::PACKED {
            let list: Vec<&str> = ids.iter().map(AccountId::as_str).collect();
            let json = serde_json::to_string(&list).map_err(internal)?;
            let row = sqlx::query(packed.accounts)
                .bind(json)
                .fetch_one(self.reader())
                .await
                .map_err(B::map_err)?;
            return crate::packed::accounts(&row.try_get::<String, _>("packed").map_err(internal)?);
        }
        let mut out = Vec::with_capacity(ids.len());
        // Both backends take this many placeholders in one statement with room to spare.
        for chunk in ids.chunks(ACCOUNTS_PER_READ) {
            let list: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let sql = format!(
                "SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id IN ({})",
                list.join(", ")
            );
            let mut q = sqlx::query(&sql);
            for id in chunk {
                q = q.bind(id.as_str());
            }
            for row in q.fetch_all(self.reader()).await.map_err(B::map_err)? {
                out.push(Self::account_from_row(&row)?);
            }
        }
        Ok(out)
    }

    async fn create_session(&self, s: &NewSession) -> StoreResult<()> {
        sqlx::query("INSERT INTO sessions (token_hash, account_id, created_at, expires_at, mfa_pending, device) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(&s.token_hash)
            .bind(s.account_id.as_str())
            .bind(s.created_at.as_second())
            .bind(s.expires_at.as_second())
            .bind(s.mfa_pending)
            .bind(s.device.as_deref())
            .execute(self.writer())
            .await
            .map_err(B::map_err)?;
        Ok(())
    }

    async fn session_account(
        &self,
        token_hash: &str,
        now: Timestamp,
    ) -> StoreResult<Option<AccountRecord>> {
        let row = sqlx::query(
            "SELECT a.* FROM sessions s JOIN accounts a ON a.id = s.account_id WHERE s.token_hash = $1 AND s.expires_at > $2",
        )
        .bind(token_hash)
        .bind(now.as_second())
        .fetch_optional(self.reader())
        .await
        .map_err(B::map_err)?;
        row.as_ref().map(Self::account_from_row).transpose()
    }

    async fn session(&self, token_hash: &str, now: Timestamp) -> StoreResult<Option<SessionRow>> {
        let row = sqlx::query(
            "SELECT a.*, s.created_at AS s_created_at, s.expires_at AS s_expires_at, s.last_used_at AS s_last_used_at,
                    s.mfa_pending AS s_mfa_pending, s.second_factor_at AS s_second_factor_at, s.reauth_at AS s_reauth_at
             FROM sessions s JOIN accounts a ON a.id = s.account_id WHERE s.token_hash = $1 AND s.expires_at > $2",
        )
        .bind(token_hash)
        .bind(now.as_second())
        .fetch_optional(self.reader())
        .await
        .map_err(B::map_err)?;
        let Some(r) = row else { return Ok(None) };
        let created: i64 = r.try_get("s_created_at").map_err(internal)?;
        let expires: i64 = r.try_get("s_expires_at").map_err(internal)?;
        let used: Option<i64> = r.try_get("s_last_used_at").map_err(internal)?;
        let second: Option<i64> = r.try_get("s_second_factor_at").map_err(internal)?;
        let reauth: Option<i64> = r.try_get("s_reauth_at").map_err(internal)?;
        Ok(Some(SessionRow {
            account: Self::account_from_row(&r)?,
            created_at: ts(created)?,
            expires_at: ts(expires)?,
            last_used_at: ts(used.unwrap_or(created))?,
            id: session_public_id(token_hash).to_owned(),
            mfa_pending: r.try_get("s_mfa_pending").map_err(internal)?,
            second_factor_at: second.map(ts).transpose()?,
            reauth_at: ts(reauth.unwrap_or(created))?,
        }))
    }

    async fn touch_session(&self, token_hash: &str, at: Timestamp) -> StoreResult<()> {
        sqlx::query("UPDATE sessions SET last_used_at = $1 WHERE token_hash = $2")
            .bind(at.as_second())
            .bind(token_hash)
            .execute(self.writer())
            .await
            .map_err(B::map_err)?;
        Ok(())
    }

    async fn delete_session(&self, token_hash: &str) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
            .bind(token_hash)
            .execute(self.writer())
            .await;
        self.sessions_changed(SessionSignal::Token(token_hash.to_owned()));
        Ok(B::rows_affected(done.map_err(B::map_err)?) > 0)
    }

    // --- calendar feeds (issue 19): SQL in interop.rs ------------------------------------------

    async fn calendar_feed(&self, account: &AccountId) -> StoreResult<Option<CalendarFeed>> {
        crate::interop::Interop::<B>::feed(self.reader(), account).await
    }

    async fn create_calendar_feed(&self, feed: &CalendarFeed) -> StoreResult<CalendarFeed> {
        crate::interop::Interop::<B>::create_feed(self.writer(), feed).await
    }

    async fn calendar_feed_by_hash(&self, token_hash: &str) -> StoreResult<Option<CalendarFeed>> {
        crate::interop::Interop::<B>::feed_by_hash(self.reader(), token_hash).await
    }

    async fn delete_calendar_feed(&self, account: &AccountId) -> StoreResult<bool> {
        crate::interop::Interop::<B>::delete_feed(self.writer(), account).await
    }

    // --- agenda feeds (issue 18 point 6): SQL in interop.rs ------------------------------------

    async fn agenda_feed(&self, agenda: &AgendaId) -> StoreResult<Option<AgendaFeed>> {
        crate::interop::Interop::<B>::agenda_feed(self.reader(), agenda).await
    }

    async fn put_agenda_feed(&self, feed: &AgendaFeed) -> StoreResult<()> {
        crate::interop::Interop::<B>::put_agenda_feed(self.writer(), feed).await
    }

    async fn set_agenda_feed_names(&self, agenda: &AgendaId, show: bool) -> StoreResult<bool> {
        crate::interop::Interop::<B>::set_agenda_feed_names(self.writer(), agenda, show).await
    }

    async fn agenda_feed_by_hash(&self, token_hash: &str) -> StoreResult<Option<AgendaFeed>> {
        crate::interop::Interop::<B>::agenda_feed_by_hash(self.reader(), token_hash).await
    }

    async fn delete_agenda_feed(&self, agenda: &AgendaId) -> StoreResult<bool> {
        crate::interop::Interop::<B>::delete_agenda_feed(self.writer(), agenda).await
    }

    async fn agenda_feed_appointments(
        &self,
        agenda: &AgendaId,
        from: Timestamp,
        to: Timestamp,
    ) -> StoreResult<Vec<(ReservationRow, Timestamp)>> {
        let rows = sqlx::query(
            "SELECT * FROM reservations WHERE agenda_id = $1 AND start_s >= $2 AND start_s < $3
                AND status IN ('booked', 'cancelled', 'no_show') ORDER BY start_s, id",
        )
        .bind(agenda.as_str())
        .bind(from.as_second())
        .bind(to.as_second())
        .fetch_all(self.reader())
        .await
        .map_err(B::map_err)?;
        rows.iter()
            .map(|r| {
                let changed: i64 = r.try_get("updated_at").map_err(internal)?;
                Ok((Self::reservation_from_row(r)?, ts(changed)?))
            })
            .collect()
    }

    // --- webhooks (issue 19): SQL in interop.rs --------------------------------------------------

    async fn create_webhook(&self, sub: &WebhookSubscription) -> StoreResult<()> {
        crate::interop::Interop::<B>::create_webhook(self.writer(), sub).await
    }

    async fn webhooks_of(
        &self,
        practitioner: &PractitionerId,
    ) -> StoreResult<Vec<WebhookSubscription>> {
        crate::interop::Interop::<B>::webhooks_of(self.reader(), practitioner).await
    }

    async fn webhook(&self, id: &str) -> StoreResult<Option<WebhookSubscription>> {
        crate::interop::Interop::<B>::webhook(self.reader(), id).await
    }

    fn webhook_activation_delay(&self) -> jiff::SignedDuration {
        jiff::SignedDuration::from_millis(B::WEBHOOK_DELAY_MS)
    }

    async fn webhook_practitioners(&self) -> StoreResult<Vec<PractitionerId>> {
        crate::interop::Interop::<B>::webhook_practitioners(self.reader()).await
    }

    async fn delete_webhook(&self, practitioner: &PractitionerId, id: &str) -> StoreResult<bool> {
        crate::interop::Interop::<B>::delete_webhook(self.writer(), practitioner, id).await
    }

    async fn webhook_deliveries(
        &self,
        subscription: &str,
        limit: i64,
    ) -> StoreResult<Vec<WebhookDelivery>> {
        crate::interop::Interop::<B>::deliveries(self.reader(), subscription, limit).await
    }

    async fn claim_webhook_deliveries(
        &self,
        now: Timestamp,
        lease: jiff::SignedDuration,
        limit: i64,
    ) -> StoreResult<Vec<WebhookDelivery>> {
        crate::interop::Interop::<B>::claim(self.writer(), now, lease, limit).await
    }

    async fn record_webhook_delivery(
        &self,
        event_id: &str,
        subscription: &str,
        outcome: &WebhookOutcome,
        now: Timestamp,
    ) -> StoreResult<bool> {
        crate::interop::Interop::<B>::record(self.writer(), event_id, subscription, outcome, now)
            .await
    }

    async fn account_settings(&self, account: &AccountId) -> StoreResult<AccountSettings> {
        let row = sqlx::query(
            "SELECT lang, email_verified_at, phone_verified_at, reminders_email, reminders_sms, show_motive,
                    email_pending
               FROM account_settings WHERE account_id = $1",
        )
        .bind(account.as_str())
        .fetch_optional(self.reader())
        .await
        .map_err(B::map_err)?;
        let Some(r) = row else {
            return Ok(AccountSettings::default());
        };
        let at = |col: &str| -> StoreResult<Option<Timestamp>> {
            r.try_get::<Option<i64>, _>(col)
                .map_err(internal)?
                .map(ts)
                .transpose()
        };
        Ok(AccountSettings {
            lang: r.try_get("lang").map_err(internal)?,
            email_verified_at: at("email_verified_at")?,
            phone_verified_at: at("phone_verified_at")?,
            reminders_email: r.try_get("reminders_email").map_err(internal)?,
            reminders_sms: r.try_get("reminders_sms").map_err(internal)?,
            show_motive: r.try_get("show_motive").map_err(internal)?,
            email_pending: r.try_get("email_pending").map_err(internal)?,
        })
    }

    async fn put_account_settings(
        &self,
        account: &AccountId,
        s: &AccountSettings,
    ) -> StoreResult<()> {
        let mut tx = B::begin_write(self.writer()).await?;
        let exists = sqlx::query("SELECT 1 FROM accounts WHERE id = $1")
            .bind(account.as_str())
            .fetch_optional(&mut *tx)
            .await
            .map_err(B::map_err)?;
        if exists.is_none() {
            return Err(StoreError::NotFound);
        }
        sqlx::query(
            "INSERT INTO account_settings
                 (account_id, lang, email_verified_at, phone_verified_at, reminders_email, reminders_sms, show_motive)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (account_id) DO UPDATE SET
                 lang = excluded.lang,
                 email_verified_at = excluded.email_verified_at,
                 phone_verified_at = excluded.phone_verified_at,
                 reminders_email = excluded.reminders_email,
                 reminders_sms = excluded.reminders_sms,
                 show_motive = excluded.show_motive,
                 email_pending = account_settings.email_pending AND excluded.email_verified_at IS NULL",
        )
        .bind(account.as_str())
        .bind(s.lang.as_str())
        .bind(s.email_verified_at.map(|t| t.as_second()))
        .bind(s.phone_verified_at.map(|t| t.as_second()))
        .bind(s.reminders_email)
        .bind(s.reminders_sms)
        .bind(s.show_motive)
        .execute(&mut *tx)
        .await
        .map_err(B::map_err)?;
        crate::commit::<B>(tx).await
    }

    async fn delete_account_sessions(&self, account: &AccountId) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM sessions WHERE account_id = $1")
            .bind(account.as_str())
            .execute(self.writer())
            .await;
        self.sessions_changed(SessionSignal::Account(account.clone()));
        Ok(B::rows_affected(done.map_err(B::map_err)?))
    }

    async fn prove_session(
        &self,
        token_hash: &str,
        at: Timestamp,
        second_factor: bool,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE sessions SET mfa_pending = $1, reauth_at = $2,
                 second_factor_at = CASE WHEN $3 THEN $2 ELSE second_factor_at END
             WHERE token_hash = $4",
        )
        .bind(false)
        .bind(at.as_second())
        .bind(second_factor)
        .bind(token_hash)
        .execute(self.writer())
        .await;
        self.sessions_changed(SessionSignal::Token(token_hash.to_owned()));
        Ok(B::rows_affected(done.map_err(B::map_err)?) > 0)
    }

    async fn account_sessions(
        &self,
        account: &AccountId,
        now: Timestamp,
    ) -> StoreResult<Vec<SessionInfo>> {
        let rows = sqlx::query(
            "SELECT token_hash, created_at, expires_at, last_used_at, device, second_factor_at
               FROM sessions WHERE account_id = $1 AND expires_at > $2 AND mfa_pending = $3
              ORDER BY COALESCE(last_used_at, created_at) DESC, token_hash",
        )
        .bind(account.as_str())
        .bind(now.as_second())
        .bind(false)
        .fetch_all(self.reader())
        .await
        .map_err(B::map_err)?;
        rows.iter()
            .map(|r| {
                let hash: String = r.try_get("token_hash").map_err(internal)?;
                let created: i64 = r.try_get("created_at").map_err(internal)?;
                let used: Option<i64> = r.try_get("last_used_at").map_err(internal)?;
                let second: Option<i64> = r.try_get("second_factor_at").map_err(internal)?;
                Ok(SessionInfo {
                    id: session_public_id(&hash).to_owned(),
                    created_at: ts(created)?,
                    expires_at: ts(r.try_get::<i64, _>("expires_at").map_err(internal)?)?,
                    last_used_at: ts(used.unwrap_or(created))?,
                    device: r.try_get("device").map_err(internal)?,
                    second_factor: second.is_some(),
                })
            })
            .collect()
    }

    async fn delete_session_by_id(&self, account: &AccountId, id: &str) -> StoreResult<bool> {
        if id.len() != SESSION_ID_CHARS {
            return Ok(false);
        }
        let done = sqlx::query(
            "DELETE FROM sessions WHERE account_id = $1 AND substr(token_hash, 1, 16) = $2",
        )
        .bind(account.as_str())
        .bind(id)
        .execute(self.writer())
        .await;
        self.sessions_changed(SessionSignal::Account(account.clone()));
        Ok(B::rows_affected(done.map_err(B::map_err)?) > 0)
    }

    async fn mfa(&self, account: &AccountId) -> StoreResult<Option<MfaRecord>> {
        let row = sqlx::query(
            "SELECT secret_ct, created_at, confirmed_at, last_step,
                    (SELECT COUNT(*) FROM mfa_recovery_codes c
                      WHERE c.account_id = m.account_id AND c.used_at IS NULL) AS recovery_left
               FROM mfa_totp m WHERE account_id = $1",
        )
        .bind(account.as_str())
        .fetch_optional(self.reader())
        .await
        .map_err(B::map_err)?;
        let Some(r) = row else { return Ok(None) };
        let confirmed: Option<i64> = r.try_get("confirmed_at").map_err(internal)?;
        let left: i64 = r.try_get("recovery_left").map_err(internal)?;
        Ok(Some(MfaRecord {
            secret_ct: r.try_get("secret_ct").map_err(internal)?,
            created_at: ts(r.try_get::<i64, _>("created_at").map_err(internal)?)?,
            confirmed_at: confirmed.map(ts).transpose()?,
            last_step: r.try_get("last_step").map_err(internal)?,
            recovery_left: u32::try_from(left).unwrap_or(0),
        }))
    }

    async fn mfa_begin(
        &self,
        account: &AccountId,
        secret_ct: &[u8],
        at: Timestamp,
    ) -> StoreResult<bool> {
        // A confirmed enrolment is never replaced here (the WHERE of the upsert).
        let done = sqlx::query(
            "INSERT INTO mfa_totp (account_id, secret_ct, created_at, confirmed_at, last_step)
             VALUES ($1, $2, $3, NULL, 0)
             ON CONFLICT (account_id) DO UPDATE SET secret_ct = excluded.secret_ct,
                 created_at = excluded.created_at, last_step = 0
             WHERE mfa_totp.confirmed_at IS NULL",
        )
        .bind(account.as_str())
        .bind(secret_ct)
        .bind(at.as_second())
        .execute(self.writer())
        .await
        .map_err(B::map_err)?;
        Ok(B::rows_affected(done) > 0)
    }

    async fn mfa_confirm(
        &self,
        account: &AccountId,
        step: i64,
        recovery_hashes: &[String],
        at: Timestamp,
    ) -> StoreResult<bool> {
        let mut tx = B::begin_write(self.writer()).await?;
        let done = sqlx::query(
            "UPDATE mfa_totp SET confirmed_at = $1, last_step = $2
              WHERE account_id = $3 AND confirmed_at IS NULL AND last_step < $2",
        )
        .bind(at.as_second())
        .bind(step)
        .bind(account.as_str())
        .execute(&mut *tx)
        .await
        .map_err(B::map_err)?;
        if B::rows_affected(done) == 0 {
            return Ok(false);
        }
        Self::put_recovery_in(&mut tx, account, recovery_hashes).await?;
        crate::commit::<B>(tx).await?;
        Ok(true)
    }

    async fn mfa_replace_recovery(
        &self,
        account: &AccountId,
        recovery_hashes: &[String],
    ) -> StoreResult<bool> {
        let mut tx = B::begin_write(self.writer()).await?;
        let confirmed = sqlx::query(
            "SELECT 1 FROM mfa_totp WHERE account_id = $1 AND confirmed_at IS NOT NULL",
        )
        .bind(account.as_str())
        .fetch_optional(&mut *tx)
        .await
        .map_err(B::map_err)?;
        if confirmed.is_none() {
            return Ok(false);
        }
        Self::put_recovery_in(&mut tx, account, recovery_hashes).await?;
        crate::commit::<B>(tx).await?;
        Ok(true)
    }

    async fn mfa_use_step(&self, account: &AccountId, step: i64) -> StoreResult<bool> {
        // The comparison and the update are one statement: of two requests with the same
        // code, one raises `last_step` and the other finds nothing to update.
        let done = sqlx::query(
            "UPDATE mfa_totp SET last_step = $1
              WHERE account_id = $2 AND confirmed_at IS NOT NULL AND last_step < $1",
        )
        .bind(step)
        .bind(account.as_str())
        .execute(self.writer())
        .await
        .map_err(B::map_err)?;
        Ok(B::rows_affected(done) > 0)
    }

    async fn mfa_use_recovery(
        &self,
        account: &AccountId,
        code_hash: &str,
        at: Timestamp,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE mfa_recovery_codes SET used_at = $1
              WHERE account_id = $2 AND code_hash = $3 AND used_at IS NULL",
        )
        .bind(at.as_second())
        .bind(account.as_str())
        .bind(code_hash)
        .execute(self.writer())
        .await
        .map_err(B::map_err)?;
        Ok(B::rows_affected(done) > 0)
    }

    async fn mfa_remove(&self, account: &AccountId) -> StoreResult<bool> {
        let mut tx = B::begin_write(self.writer()).await?;
        sqlx::query("DELETE FROM mfa_recovery_codes WHERE account_id = $1")
            .bind(account.as_str())
            .execute(&mut *tx)
            .await
            .map_err(B::map_err)?;
        let done = sqlx::query("DELETE FROM mfa_totp WHERE account_id = $1")
            .bind(account.as_str())
            .execute(&mut *tx)
            .await
            .map_err(B::map_err)?;
        crate::commit::<B>(tx).await?;
        Ok(B::rows_affected(done) > 0)
    }

    async fn throttle_blocked_until(
        &self,
        keys: &[&str],
        now: Timestamp,
    ) -> StoreResult<Option<Timestamp>> {
        let mut latest: Option<i64> = None;
        // One or two keys per check: a query each is simpler than a dynamic IN list.
        for key in keys {
            let row = sqlx::query(
                "SELECT blocked_until FROM throttle WHERE key = $1 AND blocked_until > $2",
            )
            .bind(*key)
            .bind(now.as_second())
            .fetch_optional(self.reader())
            .await
            .map_err(B::map_err)?;
            if let Some(r) = row {
                let until: i64 = r.try_get("blocked_until").map_err(internal)?;
                latest = Some(latest.map_or(until, |l| l.max(until)));
            }
        }
        latest.map(ts).transpose()
    }

    async fn throttle_failure(
        &self,
        key: &str,
        now: Timestamp,
        forget_before: Timestamp,
    ) -> StoreResult<u32> {
        let row = sqlx::query(
            "INSERT INTO throttle (key, failures, last_failure_at, blocked_until) VALUES ($1, 1, $2, 0)
             ON CONFLICT (key) DO UPDATE SET
                 failures = CASE WHEN throttle.last_failure_at < $3 THEN 1 ELSE throttle.failures + 1 END,
                 last_failure_at = $4
             RETURNING failures",
        )
        .bind(key)
        .bind(now.as_second())
        .bind(forget_before.as_second())
        .bind(now.as_second())
        .fetch_one(self.writer())
        .await
        .map_err(B::map_err)?;
        let n: i64 = row.try_get("failures").map_err(internal)?;
        Ok(u32::try_from(n).unwrap_or(u32::MAX))
    }

    async fn throttle_block(&self, key: &str, until: Timestamp) -> StoreResult<()> {
        sqlx::query(
            "UPDATE throttle SET blocked_until = CASE WHEN blocked_until < $1 THEN $2 ELSE blocked_until END WHERE key = $3",
        )
        .bind(until.as_second())
        .bind(until.as_second())
        .bind(key)
        .execute(self.writer())
        .await
        .map_err(B::map_err)?;
        Ok(())
    }

    async fn throttle_reset(&self, key: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM throttle WHERE key = $1")
            .bind(key)
            .execute(self.writer())
            .await
            .map_err(B::map_err)?;
        Ok(())
    }

    async fn throttle_purge(&self, before: Timestamp) -> StoreResult<u64> {
        let done =
            sqlx::query("DELETE FROM throttle WHERE last_failure_at < $1 AND blocked_until < $2")
                .bind(before.as_second())
                .bind(before.as_second())
                .execute(self.writer())
                .await
                .map_err(B::map_err)?;
        Ok(B::rows_affected(done))
    }

    async fn erase_account(
        &self,
        id: &AccountId,
        reservations: &[ReservationId],
    ) -> StoreResult<()> {
        let mut tx = B::begin_write(self.writer()).await?;
        for r in reservations {
            sqlx::query("UPDATE reservations SET patient_ct = NULL, patient_bidx = NULL, note_ct = NULL, relative_ct = NULL WHERE id = $1")
                .bind(r.as_str())
                .execute(&mut *tx)
                .await
                .map_err(B::map_err)?;
        }
        sqlx::query("DELETE FROM sessions WHERE account_id = $1")
            .bind(id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(B::map_err)?;
        // Queued messages: their payload is sealed under the destroyed key; the rows go too.
        Outbox::<B>::delete_account_in(&mut tx, id).await?;
        sqlx::query("DELETE FROM accounts WHERE id = $1")
            .bind(id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(B::map_err)?;
        let committed = crate::commit::<B>(tx).await;
        self.sessions_changed(SessionSignal::Account(id.clone()));
        committed
    }

    async fn upsert_practitioner(&self, p: &Practitioner) -> StoreResult<Practitioner> {
        let row = sqlx::query(
            "INSERT INTO practitioners (id, account_id, name, specialty, languages, bio) VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (account_id) DO UPDATE SET name = excluded.name, specialty = excluded.specialty,
                 languages = excluded.languages, bio = excluded.bio
             RETURNING *",
        )
        .bind(p.id.as_str())
        .bind(p.account_id.as_str())
        .bind(&p.name)
        .bind(p.specialty.code())
        .bind(codec::languages_to_text(&p.languages))
        .bind(p.bio.as_deref())
        .fetch_one(self.writer())
        .await
        .map_err(B::map_err)?;
        Self::practitioner_from_row(&row)
    }

    async fn practitioner_by_account(
        &self,
        account: &AccountId,
    ) -> StoreResult<Option<Practitioner>> {
        let row = sqlx::query("SELECT * FROM practitioners WHERE account_id = $1")
            .bind(account.as_str())
            .fetch_optional(self.reader())
            .await
            .map_err(B::map_err)?;
        row.as_ref().map(Self::practitioner_from_row).transpose()
    }

    async fn create_place(&self, p: &Place) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO places (id, practitioner_id, name, address, postcode, city, country, lat, lon, timezone)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(p.id.as_str())
        .bind(p.practitioner_id.as_str())
        .bind(&p.name)
        .bind(&p.address)
        .bind(&p.postcode)
        .bind(&p.city)
        .bind(p.country.code())
        .bind(p.lat)
        .bind(p.lon)
        .bind(&p.timezone)
        .execute(self.writer())
        .await
        .map_err(B::map_err)?;
        Ok(())
    }

    async fn place(&self, id: &PlaceId) -> StoreResult<Option<Place>> {
        let row = sqlx::query("SELECT * FROM places WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional(self.reader())
            .await
            .map_err(B::map_err)?;
        row.as_ref().map(Self::place_from_row).transpose()
    }

    async fn practitioner_facts(&self, id: &PractitionerId) -> StoreResult<PractitionerFacts> {
        let row =
            sqlx::query("SELECT accepts_new_patients, fee_sector FROM practitioners WHERE id = $1")
                .bind(id.as_str())
                .fetch_optional(self.reader())
                .await
                .map_err(B::map_err)?
                .ok_or(StoreError::NotFound)?;
        Ok(PractitionerFacts {
            accepts_new_patients: row.try_get("accepts_new_patients").map_err(internal)?,
            fee_sector: Self::fee_sector_from_row(&row)?,
        })
    }

    async fn set_practitioner_facts(
        &self,
        id: &PractitionerId,
        facts: &PractitionerFacts,
    ) -> StoreResult<()> {
        let n = sqlx::query(
            "UPDATE practitioners SET accepts_new_patients = $1, fee_sector = $2 WHERE id = $3",
        )
        .bind(facts.accepts_new_patients)
        .bind(facts.fee_sector.map(|f| f.code()))
        .bind(id.as_str())
        .execute(self.writer())
        .await
        .map_err(B::map_err)
        .map(B::rows_affected)?;
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn place_access(&self, id: &PlaceId) -> StoreResult<PlaceAccess> {
        let row = sqlx::query("SELECT wheelchair_access, access_details FROM places WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional(self.reader())
            .await
            .map_err(B::map_err)?
            .ok_or(StoreError::NotFound)?;
        Ok(PlaceAccess {
            wheelchair_access: row.try_get("wheelchair_access").map_err(internal)?,
            details: row.try_get("access_details").map_err(internal)?,
        })
    }

    async fn set_place_access(&self, id: &PlaceId, access: &PlaceAccess) -> StoreResult<()> {
        let n = sqlx::query(
            "UPDATE places SET wheelchair_access = $1, access_details = $2 WHERE id = $3",
        )
        .bind(access.wheelchair_access)
        .bind(access.details.as_deref())
        .bind(id.as_str())
        .execute(self.writer())
        .await
        .map_err(B::map_err)
        .map(B::rows_affected)?;
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn set_practitioner_photo(
        &self,
        id: &PractitionerId,
        photo: &PractitionerPhoto,
    ) -> StoreResult<()> {
        crate::Photos::<B>::set(self.writer(), id, photo).await
    }

    async fn practitioner_photo(
        &self,
        id: &PractitionerId,
    ) -> StoreResult<Option<PractitionerPhoto>> {
        crate::Photos::<B>::get(self.reader(), id).await
    }

    async fn practitioner_photo_hash(&self, id: &PractitionerId) -> StoreResult<Option<String>> {
        crate::Photos::<B>::hash(self.reader(), id).await
    }

    async fn delete_practitioner_photo(&self, id: &PractitionerId) -> StoreResult<bool> {
        crate::Photos::<B>::delete(self.writer(), id).await
    }

    async fn create_agenda(&self, a: &Agenda) -> StoreResult<()> {
        let mut tx = B::begin_write(self.writer()).await?;
        sqlx::query(
            "INSERT INTO agendas (id, practitioner_id, place_id, timezone, holidays, wrapped_key) VALUES ($1, $2, $3, $4, $5, $6)",
        )
            .bind(a.id.as_str())
            .bind(a.practitioner_id.as_str())
            .bind(a.place_id.as_str())
            .bind(&a.timezone)
            .bind(a.holidays.map(Country::code))
            .bind(&a.wrapped_key)
            .execute(&mut *tx)
            .await
            .map_err(B::map_err)?;
        Self::grant_new_agenda_in(&mut tx, &a.id, &a.practitioner_id).await?;
        crate::commit::<B>(tx).await
    }

    async fn agenda(&self, id: &AgendaId) -> StoreResult<Option<Agenda>> {
        let row = sqlx::query("SELECT * FROM agendas WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional(self.reader())
            .await
            .map_err(B::map_err)?;
        row.as_ref().map(Self::agenda_from_row).transpose()
    }

    async fn create_motive(&self, m: &Motive, label_ct: &[u8]) -> StoreResult<()> {
        let mut tx = B::begin_write(self.writer()).await?;
        Self::insert_motive(&mut tx, m, label_ct).await?;
        B::agenda_changed(&mut tx, m.agenda_id.as_str()).await?;
        crate::commit::<B>(tx).await
    }

    async fn create_rule(&self, r: &OpeningRule) -> StoreResult<()> {
        let mut tx = B::begin_write(self.writer()).await?;
        Self::insert_rule(&mut tx, r).await?;
        B::agenda_changed(&mut tx, r.agenda_id.as_str()).await?;
        crate::commit::<B>(tx).await
    }

    async fn create_absence_with(
        &self,
        a: &Absence,
        reason: Option<&str>,
        cancel: &[ReservationId],
        now: Timestamp,
        outbox: &OutboxWrite,
    ) -> StoreResult<Vec<ReservationRow>> {
        let mut tx = B::begin_write(self.writer()).await?;
        sqlx::query("INSERT INTO absences (id, agenda_id, start_s, end_s, reason) VALUES ($1, $2, $3, $4, $5)")
            .bind(a.id.as_str())
            .bind(a.agenda_id.as_str())
            .bind(a.start.as_second())
            .bind(a.end.as_second())
            .bind(reason)
            .execute(&mut *tx)
            .await
            .map_err(B::map_err)?;
        let mut cancelled = Vec::new();
        for id in cancel {
            if let Some(r) =
                Reservations::<B>::cancel_in(&mut tx, id, now, Some(&a.agenda_id)).await?
            {
                cancelled.push(r);
            }
        }
        Outbox::<B>::apply_in(&mut tx, outbox).await?;
        B::agenda_changed(&mut tx, a.agenda_id.as_str()).await?;
        crate::commit::<B>(tx).await?;
        Ok(cancelled)
    }

    async fn agenda_snapshot(
        &self,
        id: &AgendaId,
        now: Timestamp,
    ) -> StoreResult<Option<AgendaSnapshot>> {
        // The floor's version in the same statement as the agenda, before the rest (see
        // `SlotFloor`).
        let Some((agenda, floor_version)) = sqlx::query(
            "SELECT a.*, COALESCE(f.version, 0) AS floor_version
               FROM agendas a LEFT JOIN slot_floors f ON f.agenda_id = a.id
              WHERE a.id = $1",
        )
        .bind(id.as_str())
        .fetch_optional(self.reader())
        .await
        .map_err(B::map_err)?
        .map(|r| -> StoreResult<(Agenda, i64)> {
            Ok((
                Self::agenda_from_row(&r)?,
                r.try_get("floor_version").map_err(internal)?,
            ))
        })
        .transpose()?
        else {
            return Ok(None);
        };
        let mut conn = self.reader().acquire().await.map_err(B::map_err)?;
        let motive_rows = sqlx::query("SELECT * FROM motives WHERE agenda_id = $1 ORDER BY id")
            .bind(id.as_str())
            .fetch_all(&mut *conn)
            .await
            .map_err(B::map_err)?;
        let motives = motive_rows
            .iter()
            .map(Self::motive_from_row)
            .collect::<StoreResult<Vec<_>>>()?;
        let motive_labels = motive_rows
            .iter()
            .map(|r| {
                Ok((
                    MotiveId(r.try_get("id").map_err(internal)?),
                    r.try_get("label_ct").map_err(internal)?,
                ))
            })
            .collect::<StoreResult<Vec<_>>>()?;
        let mut motive_translations = Vec::new();
        for r in &motive_rows {
            let ct: Option<Vec<u8>> = r.try_get("labels_ct").map_err(internal)?;
            if let Some(ct) = ct {
                motive_translations.push((MotiveId(r.try_get("id").map_err(internal)?), ct));
            }
        }
        let rule_sql = format!(
            "SELECT r.*, {} AS motive_ids FROM opening_rules r
               JOIN opening_rule_motives rm ON rm.rule_id = r.id
              WHERE r.agenda_id = $1 GROUP BY r.id ORDER BY r.id",
            B::MOTIVE_IDS_AGG
        );
        let rule_rows = sqlx::query(&rule_sql)
            .bind(id.as_str())
            .fetch_all(&mut *conn)
            .await
            .map_err(B::map_err)?;
        let mut rules = Vec::with_capacity(rule_rows.len());
        for r in &rule_rows {
            let ids: String = r.try_get("motive_ids").map_err(internal)?;
            rules.push(codec::rule(
                r.try_get("id").map_err(internal)?,
                r.try_get("agenda_id").map_err(internal)?,
                r.try_get("weekdays").map_err(internal)?,
                r.try_get("start_min").map_err(internal)?,
                r.try_get("end_min").map_err(internal)?,
                ids.split(',').map(|s| MotiveId(s.to_owned())).collect(),
                r.try_get("valid_from").map_err(internal)?,
                r.try_get("valid_until").map_err(internal)?,
            )?);
        }
        let absences = sqlx::query(
            "SELECT id, start_s, end_s FROM absences WHERE agenda_id = $1 AND end_s > $2",
        )
        .bind(id.as_str())
        .bind(now.as_second())
        .fetch_all(&mut *conn)
        .await
        .map_err(B::map_err)?
        .iter()
        .map(|r| {
            Absence::parse(
                AbsenceId(r.try_get("id").map_err(internal)?),
                id.clone(),
                ts(r.try_get("start_s").map_err(internal)?)?,
                ts(r.try_get("end_s").map_err(internal)?)?,
            )
            .map_err(|_| codec::corrupt("absence"))
        })
        .collect::<StoreResult<Vec<_>>>()?;
        let reservations = sqlx::query(
            "SELECT start_s, end_s, pool, id, expires_at FROM reservations
              WHERE agenda_id = $1 AND status IN ('held', 'booked') AND end_s > $2",
        )
        .bind(id.as_str())
        .bind(now.as_second())
        .fetch_all(&mut *conn)
        .await
        .map_err(B::map_err)?
        .iter()
        .map(|r| {
            let id: String = r.try_get("id").map_err(internal)?;
            let pool: String = r.try_get("pool").map_err(internal)?;
            Ok(Reservation {
                start: ts(r.try_get("start_s").map_err(internal)?)?,
                end: ts(r.try_get("end_s").map_err(internal)?)?,
                pooled: pool != id,
                expires_at: r
                    .try_get::<Option<i64>, _>("expires_at")
                    .map_err(internal)?
                    .map(ts)
                    .transpose()?,
            })
        })
        .collect::<StoreResult<Vec<_>>>()?;
        let vaccines = sqlx::query("SELECT * FROM motive_vaccines WHERE agenda_id = $1")
            .bind(id.as_str())
            .fetch_all(&mut *conn)
            .await
            .map_err(B::map_err)?
            .iter()
            .map(Self::motive_vaccine_from_row)
            .collect::<StoreResult<Vec<_>>>()?;
        // Stock from yesterday (UTC) on: enough for any zone's today.
        let since = (now.to_zoned(jiff::tz::TimeZone::UTC).date())
            .yesterday()
            .map_err(internal)?
            .to_string();
        let stock = sqlx::query("SELECT * FROM dose_stock WHERE agenda_id = $1 AND day >= $2")
            .bind(id.as_str())
            .bind(&since)
            .fetch_all(&mut *conn)
            .await
            .map_err(B::map_err)?
            .iter()
            .map(Self::stock_from_row)
            .collect::<StoreResult<Vec<_>>>()?;
        let policies =
            sqlx::query("SELECT product, doses FROM stock_policies WHERE agenda_id = $1")
                .bind(id.as_str())
                .fetch_all(&mut *conn)
                .await
                .map_err(B::map_err)?
                .iter()
                .map(Self::policy_from_row)
                .collect::<StoreResult<Vec<_>>>()?;
        let lines =
            sqlx::query("SELECT day, lines FROM line_overrides WHERE agenda_id = $1 AND day >= $2")
                .bind(id.as_str())
                .bind(&since)
                .fetch_all(&mut *conn)
                .await
                .map_err(B::map_err)?
                .iter()
                .map(Self::lines_from_row)
                .collect::<StoreResult<Vec<_>>>()?;
        Ok(Some(AgendaSnapshot {
            agenda,
            motives,
            motive_labels,
            motive_translations,
            rules,
            absences,
            reservations,
            vaccines,
            stock,
            policies,
            lines,
            floor_version,
        }))
    }

    async fn agenda_snapshots(
        &self,
        after: Option<&AgendaId>,
        limit: usize,
        now: Timestamp,
    ) -> StoreResult<Vec<AgendaSnapshot>> {
        let mut conn = self.reader().acquire().await.map_err(B::map_err)?;
        let limit = i64::try_from(limit.max(1)).unwrap_or(i64::MAX);
        // The floors' versions in the same statement as the agendas, before the rest.
        let agendas = sqlx::query(
            "SELECT a.*, COALESCE(f.version, 0) AS floor_version
               FROM agendas a LEFT JOIN slot_floors f ON f.agenda_id = a.id
              WHERE a.id > $1 ORDER BY a.id LIMIT $2",
        )
        .bind(after.map_or("", AgendaId::as_str))
        .bind(limit)
        .fetch_all(&mut *conn)
        .await
        .map_err(B::map_err)?
        .iter()
        .map(|r| {
            let version: i64 = r.try_get("floor_version").map_err(internal)?;
            Ok((Self::agenda_from_row(r)?, version))
        })
        .collect::<StoreResult<Vec<_>>>()?;
        let (Some((first, _)), Some((last, _))) = (agendas.first(), agendas.last()) else {
            return Ok(Vec::new());
        };
        // The page holds every agenda whose id is between its first and its last, so each
        // table is read once for the whole range, through its index on `agenda_id`.
        let (first, last) = (first.id.as_str().to_owned(), last.id.as_str().to_owned());
        let at: std::collections::HashMap<String, usize> = agendas
            .iter()
            .enumerate()
            .map(|(i, (a, _))| (a.id.as_str().to_owned(), i))
            .collect();
        let mut out: Vec<AgendaSnapshot> = agendas
            .into_iter()
            .map(|(agenda, floor_version)| AgendaSnapshot {
                agenda,
                motives: Vec::new(),
                motive_labels: Vec::new(),
                motive_translations: Vec::new(),
                rules: Vec::new(),
                absences: Vec::new(),
                reservations: Vec::new(),
                vaccines: Vec::new(),
                stock: Vec::new(),
                policies: Vec::new(),
                lines: Vec::new(),
                floor_version,
            })
            .collect();
        // A row of an agenda created in the range since the page was read is left out: that
        // agenda is loaded on its own when asked for.
        let of = |r: &DbRow<B>| -> StoreResult<Option<usize>> {
            let agenda: String = r.try_get("agenda_id").map_err(internal)?;
            Ok(at.get(&agenda).copied())
        };
        let motive_rows = sqlx::query(
            "SELECT * FROM motives WHERE agenda_id BETWEEN $1 AND $2 ORDER BY agenda_id, id",
        )
        .bind(&first)
        .bind(&last)
        .fetch_all(&mut *conn)
        .await
        .map_err(B::map_err)?;
        for r in &motive_rows {
            let Some(i) = of(r)? else { continue };
            let id = MotiveId(r.try_get("id").map_err(internal)?);
            let s = &mut out[i];
            s.motives.push(Self::motive_from_row(r)?);
            s.motive_labels
                .push((id.clone(), r.try_get("label_ct").map_err(internal)?));
            if let Some(ct) = r
                .try_get::<Option<Vec<u8>>, _>("labels_ct")
                .map_err(internal)?
            {
                s.motive_translations.push((id, ct));
            }
        }
        drop(motive_rows);
        // The motives of each rule by a subquery: a join grouped by rule makes SQLite walk
        // every rule in id order for each page (its primary key gives that order) instead
        // of the page's range of the agenda index. A rule without motives is left out, as
        // the single-agenda read's join leaves it out.
        let rule_sql = format!(
            "SELECT r.*, (SELECT {} FROM opening_rule_motives rm WHERE rm.rule_id = r.id)
                    AS motive_ids
               FROM opening_rules r
              WHERE r.agenda_id BETWEEN $1 AND $2 ORDER BY r.agenda_id, r.id",
            B::MOTIVE_IDS_AGG
        );
        for r in &sqlx::query(&rule_sql)
            .bind(&first)
            .bind(&last)
            .fetch_all(&mut *conn)
            .await
            .map_err(B::map_err)?
        {
            let Some(i) = of(r)? else { continue };
            let Some(ids) = r
                .try_get::<Option<String>, _>("motive_ids")
                .map_err(internal)?
            else {
                continue;
            };
            out[i].rules.push(codec::rule(
                r.try_get("id").map_err(internal)?,
                r.try_get("agenda_id").map_err(internal)?,
                r.try_get("weekdays").map_err(internal)?,
                r.try_get("start_min").map_err(internal)?,
                r.try_get("end_min").map_err(internal)?,
                ids.split(',').map(|s| MotiveId(s.to_owned())).collect(),
                r.try_get("valid_from").map_err(internal)?,
                r.try_get("valid_until").map_err(internal)?,
            )?);
        }
        for r in &sqlx::query(
            "SELECT id, agenda_id, start_s, end_s FROM absences
              WHERE agenda_id BETWEEN $1 AND $2 AND end_s > $3 ORDER BY agenda_id, start_s",
        )
        .bind(&first)
        .bind(&last)
        .bind(now.as_second())
        .fetch_all(&mut *conn)
        .await
        .map_err(B::map_err)?
        {
            let Some(i) = of(r)? else { continue };
            let absence = Absence::parse(
                AbsenceId(r.try_get("id").map_err(internal)?),
                out[i].agenda.id.clone(),
                ts(r.try_get("start_s").map_err(internal)?)?,
                ts(r.try_get("end_s").map_err(internal)?)?,
            )
            .map_err(|_| codec::corrupt("absence"))?;
            out[i].absences.push(absence);
        }
        let reservation_sql = format!(
            "SELECT agenda_id, {} AS packed FROM reservations
              WHERE agenda_id BETWEEN $1 AND $2 AND status IN ('held', 'booked') AND end_s > $3
              GROUP BY agenda_id",
            B::RESERVATIONS_AGG
        );
        for r in &sqlx::query(&reservation_sql)
            .bind(&first)
            .bind(&last)
            .bind(now.as_second())
            .fetch_all(&mut *conn)
            .await
            .map_err(B::map_err)?
        {
            let Some(i) = of(r)? else { continue };
            let packed: String = r.try_get("packed").map_err(internal)?;
            out[i].reservations = unpack_reservations(&packed)?;
        }
        for r in &sqlx::query("SELECT * FROM motive_vaccines WHERE agenda_id BETWEEN $1 AND $2")
            .bind(&first)
            .bind(&last)
            .fetch_all(&mut *conn)
            .await
            .map_err(B::map_err)?
        {
            let Some(i) = of(r)? else { continue };
            out[i].vaccines.push(Self::motive_vaccine_from_row(r)?);
        }
        // Stock from yesterday (UTC) on, as `agenda_snapshot` reads it.
        let since = (now.to_zoned(jiff::tz::TimeZone::UTC).date())
            .yesterday()
            .map_err(internal)?
            .to_string();
        for r in
            &sqlx::query("SELECT * FROM dose_stock WHERE agenda_id BETWEEN $1 AND $2 AND day >= $3")
                .bind(&first)
                .bind(&last)
                .bind(&since)
                .fetch_all(&mut *conn)
                .await
                .map_err(B::map_err)?
        {
            let Some(i) = of(r)? else { continue };
            out[i].stock.push(Self::stock_from_row(r)?);
        }
        for r in &sqlx::query(
            "SELECT agenda_id, product, doses FROM stock_policies WHERE agenda_id BETWEEN $1 AND $2",
        )
        .bind(&first)
        .bind(&last)
        .fetch_all(&mut *conn)
        .await
        .map_err(B::map_err)?
        {
            let Some(i) = of(r)? else { continue };
            out[i].policies.push(Self::policy_from_row(r)?);
        }
        for r in &sqlx::query(
            "SELECT agenda_id, day, lines FROM line_overrides
              WHERE agenda_id BETWEEN $1 AND $2 AND day >= $3",
        )
        .bind(&first)
        .bind(&last)
        .bind(&since)
        .fetch_all(&mut *conn)
        .await
        .map_err(B::map_err)?
        {
            let Some(i) = of(r)? else { continue };
            out[i].lines.push(Self::lines_from_row(r)?);
        }
        Ok(out)
    }

    async fn directory(&self) -> StoreResult<Vec<DirectoryEntry>> {
        sqlx::query(DIRECTORY_SQL)
            .fetch_all(self.reader())
            .await
            .map_err(B::map_err)?
            .iter()
            .map(Self::directory_from_row)
            .collect()
    }

    async fn slot_floors(&self) -> StoreResult<Vec<(AgendaId, SlotFloor)>> {
        sqlx::query("SELECT agenda_id, floor_s, version FROM slot_floors WHERE floor_s IS NOT NULL")
            .fetch_all(self.reader())
            .await
            .map_err(B::map_err)?
            .iter()
            .map(|r| {
                Ok((
                    AgendaId(r.try_get("agenda_id").map_err(internal)?),
                    SlotFloor {
                        floor_s: r.try_get("floor_s").map_err(internal)?,
                        version: r.try_get("version").map_err(internal)?,
                    },
                ))
            })
            .collect()
    }

    async fn keep_slot_floors(&self, floors: &[(AgendaId, SlotFloor)]) -> StoreResult<u64> {
        if floors.is_empty() {
            return Ok(0);
        }
        let rows: Vec<(&str, i64, i64)> = floors
            .iter()
            .map(|(a, f)| (a.as_str(), f.floor_s, f.version))
            .collect();
        let json = serde_json::to_string(&rows).map_err(internal)?;
        // A version bumped since the snapshot (a change that may have freed a slot) keeps
        // the stored floor, which the change lowered.
        let sql = format!(
            "INSERT INTO slot_floors (agenda_id, floor_s, version)
             SELECT agenda_id, floor_s, version FROM {} AS f WHERE true
             ON CONFLICT (agenda_id) DO UPDATE SET floor_s = excluded.floor_s
              WHERE slot_floors.version = excluded.version",
            B::FLOORS_FROM_JSON
        );
        let mut tx = B::begin_write(self.writer()).await?;
        let done = sqlx::query(&sql)
            .bind(json)
            .execute(&mut *tx)
            .await
            .map_err(B::map_err)?;
        crate::commit::<B>(tx).await?;
        Ok(B::rows_affected(done))
    }

    async fn directory_of(
        &self,
        practitioner: &PractitionerId,
    ) -> StoreResult<Vec<DirectoryEntry>> {
        sqlx::query(&format!("{DIRECTORY_SQL} WHERE pr.id = $1"))
            .bind(practitioner.as_str())
            .fetch_all(self.reader())
            .await
            .map_err(B::map_err)?
            .iter()
            .map(Self::directory_from_row)
            .collect()
    }

    async fn reserve(&self, req: &ReserveRequest) -> StoreResult<ReserveOutcome> {
        self.group_commit().reserve(req).await
    }

    async fn book_hold(&self, req: &BookHoldRequest) -> StoreResult<ReserveOutcome> {
        Reservations::<B>::book_hold(self.writer(), req).await
    }

    async fn series_key(&self, key_hash: &str) -> StoreResult<Option<(String, String)>> {
        let row = sqlx::query(
            "SELECT request_hash, series_id FROM series_idempotency WHERE key_hash = $1",
        )
        .bind(key_hash)
        .fetch_optional(self.writer())
        .await
        .map_err(B::map_err)?;
        row.map(|r| {
            Ok((
                r.try_get("request_hash").map_err(internal)?,
                r.try_get("series_id").map_err(internal)?,
            ))
        })
        .transpose()
    }

    async fn record_series_key(
        &self,
        key_hash: &str,
        request_hash: &str,
        series_id: &str,
        now: Timestamp,
    ) -> StoreResult<(String, String)> {
        sqlx::query(
            "INSERT INTO series_idempotency (key_hash, request_hash, series_id, created_at)
             VALUES ($1, $2, $3, $4) ON CONFLICT (key_hash) DO NOTHING",
        )
        .bind(key_hash)
        .bind(request_hash)
        .bind(series_id)
        .bind(now.as_second())
        .execute(self.writer())
        .await
        .map_err(B::map_err)?;
        self.series_key(key_hash)
            .await?
            .ok_or_else(|| StoreError::Internal("idempotency key not recorded".into()))
    }

    async fn find_idempotent(
        &self,
        key_hash: &str,
    ) -> StoreResult<Option<(String, ReservationRow)>> {
        let row = sqlx::query(
            "SELECT k.request_hash, r.* FROM idempotency_keys k JOIN reservations r ON r.id = k.reservation_id WHERE k.key_hash = $1",
        )
        .bind(key_hash)
        .fetch_optional(self.reader())
        .await
        .map_err(B::map_err)?;
        row.map(|r| {
            Ok((
                r.try_get("request_hash").map_err(internal)?,
                Self::reservation_from_row(&r)?,
            ))
        })
        .transpose()
    }

    async fn reservation(&self, id: &ReservationId) -> StoreResult<Option<ReservationRow>> {
        let row = sqlx::query("SELECT * FROM reservations WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional(self.reader())
            .await
            .map_err(B::map_err)?;
        row.as_ref().map(Self::reservation_from_row).transpose()
    }

    async fn cancel_with(
        &self,
        id: &ReservationId,
        now: Timestamp,
        outbox: &OutboxWrite,
    ) -> StoreResult<Option<ReservationRow>> {
        Reservations::<B>::cancel(self.writer(), id, now, outbox).await
    }

    async fn move_with(
        &self,
        id: &ReservationId,
        motive: &MotiveId,
        start: Timestamp,
        now: Timestamp,
        outbox: &OutboxWrite,
    ) -> StoreResult<ReservationRow> {
        Reservations::<B>::move_to(self.writer(), id, motive, start, now, outbox).await
    }

    async fn resize_with(
        &self,
        id: &ReservationId,
        minutes: u32,
        now: Timestamp,
        outbox: &OutboxWrite,
    ) -> StoreResult<ReservationRow> {
        Reservations::<B>::resize(self.writer(), id, minutes, now, outbox).await
    }

    async fn reservations_by_patient_index(&self, bidx: i64) -> StoreResult<Vec<ReservationRow>> {
        sqlx::query("SELECT * FROM reservations WHERE patient_bidx = $1 AND status <> 'expired' ORDER BY start_s, id")
            .bind(bidx)
            .fetch_all(self.reader())
            .await
            .map_err(B::map_err)?
            .iter()
            .map(Self::reservation_from_row)
            .collect()
    }

    async fn practitioner_reservations_by_patient_index(
        &self,
        bidx: i64,
        practitioner: &PractitionerId,
    ) -> StoreResult<Vec<ReservationRow>> {
        sqlx::query(
            "SELECT r.* FROM reservations r JOIN agendas a ON a.id = r.agenda_id
              WHERE r.patient_bidx = $1 AND a.practitioner_id = $2 AND r.status IN ('booked', 'no_show') ORDER BY r.start_s",
        )
        .bind(bidx)
        .bind(practitioner.as_str())
        .fetch_all(self.reader())
        .await
        .map_err(B::map_err)?
        .iter()
        .map(Self::reservation_from_row)
        .collect()
    }

    async fn agenda_appointments(
        &self,
        agenda: &AgendaId,
        from: Timestamp,
        to: Timestamp,
    ) -> StoreResult<Vec<ReservationRow>> {
        if let Some(packed) = B::PACKED {
            let row = sqlx::query(packed.agenda_appointments)
                .bind(agenda.as_str())
                .bind(from.as_second())
                .bind(to.as_second())
                .fetch_one(self.reader())
                .await
                .map_err(B::map_err)?;
            return crate::packed::reservations(
                &row.try_get::<String, _>("packed").map_err(internal)?,
            );
        }
        sqlx::query(&format!(
            "SELECT {RESERVATION_COLUMNS} FROM reservations
              WHERE agenda_id = $1 AND start_s >= $2 AND start_s < $3
                AND status IN ('booked', 'cancelled', 'no_show') ORDER BY start_s, id"
        ))
        .bind(agenda.as_str())
        .bind(from.as_second())
        .bind(to.as_second())
        .fetch_all(self.reader())
        .await
        .map_err(B::map_err)?
        .iter()
        .map(Self::reservation_from_row)
        .collect()
    }

    async fn strip_patient_links(
        &self,
        specialty: Specialty,
        before: Timestamp,
    ) -> StoreResult<u64> {
        let done = sqlx::query(
            "UPDATE reservations SET patient_ct = NULL, patient_bidx = NULL, note_ct = NULL, relative_ct = NULL
              WHERE end_s < $1 AND patient_ct IS NOT NULL
                AND agenda_id IN (SELECT a.id FROM agendas a JOIN practitioners p ON p.id = a.practitioner_id WHERE p.specialty = $2)",
        )
        .bind(before.as_second())
        .bind(specialty.code())
        .execute(self.writer())
        .await
        .map_err(B::map_err)?;
        Ok(B::rows_affected(done))
    }

    async fn append_audit(&self, entries: &[NewAuditEntry], mac: &AuditMac) -> StoreResult<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let mut tx = B::begin_write(self.writer()).await?;
        // One appender at a time: the chain cannot fork.
        B::lock_audit(&mut tx).await?;
        let last = sqlx::query("SELECT seq, mac FROM audit_log ORDER BY seq DESC LIMIT 1")
            .fetch_optional(&mut *tx)
            .await
            .map_err(B::map_err)?;
        let (mut seq, mut prev): (i64, String) = match last {
            Some(r) => (
                r.try_get("seq").map_err(internal)?,
                r.try_get("mac").map_err(internal)?,
            ),
            None => (0, String::new()),
        };
        let mut rows = Vec::with_capacity(entries.len());
        for e in entries {
            seq += 1;
            let mut row = AuditRow {
                seq,
                at: e.at,
                subject_bidx: e.subject_bidx,
                entry_ct: e.entry_ct.clone(),
                mac: String::new(),
            };
            row.mac = mac(&prev, &row);
            prev.clone_from(&row.mac);
            rows.push(row);
        }
        // A page may log a thousand reads: a few statements of many rows, not one each.
        for chunk in rows.chunks(AUDIT_ROWS_PER_INSERT) {
            let values: Vec<String> = (0..chunk.len())
                .map(|i| {
                    let n = i * 5;
                    format!(
                        "(${}, ${}, ${}, ${}, ${})",
                        n + 1,
                        n + 2,
                        n + 3,
                        n + 4,
                        n + 5
                    )
                })
                .collect();
            let sql = format!(
                "INSERT INTO audit_log (seq, at, subject_bidx, entry_ct, mac) VALUES {}",
                values.join(", ")
            );
            let mut q = sqlx::query(&sql);
            for row in chunk {
                q = q
                    .bind(row.seq)
                    .bind(row.at.as_second())
                    .bind(row.subject_bidx)
                    .bind(&row.entry_ct)
                    .bind(&row.mac);
            }
            q.execute(&mut *tx).await.map_err(B::map_err)?;
        }
        crate::commit::<B>(tx).await
    }

    async fn audit_rows(&self, after_seq: i64, limit: i64) -> StoreResult<Vec<AuditRow>> {
        sqlx::query("SELECT * FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2")
            .bind(after_seq)
            .bind(limit)
            .fetch_all(self.reader())
            .await
            .map_err(B::map_err)?
            .iter()
            .map(Self::audit_from_row)
            .collect()
    }

    async fn audit_rows_for_subject(&self, subject_bidx: i64) -> StoreResult<Vec<AuditRow>> {
        // One statement, so the watermark and the index are read at the same instant: an
        // entry is found through the index or above the watermark, never neither (and
        // once when both: an index being built has rows above the watermark).
        sqlx::query(
            "SELECT * FROM audit_log WHERE subject_bidx = $1
             UNION ALL
             SELECT * FROM audit_log WHERE seq IN (
               SELECT seq FROM audit_subjects WHERE subject_bidx = $1
               UNION
               SELECT seq FROM audit_log
                WHERE subject_bidx = $2
                  AND seq > (SELECT indexed_to FROM audit_index_state))
             ORDER BY seq",
        )
        .bind(subject_bidx)
        .bind(AUDIT_MANY_SUBJECTS)
        .fetch_all(self.reader())
        .await
        .map_err(B::map_err)?
        .iter()
        .map(Self::audit_from_row)
        .collect()
    }

    async fn audit_subjects(&self, after_seq: i64, up_to: i64) -> StoreResult<AuditSubjects> {
        // The state row joined to the range: the watermark and the rows at one instant.
        let rows = sqlx::query(
            "SELECT w.indexed_to, s.seq, s.subject_bidx FROM audit_index_state w
               LEFT JOIN audit_subjects s ON s.seq > $1 AND s.seq <= $2
              ORDER BY s.seq, s.subject_bidx",
        )
        .bind(after_seq)
        .bind(up_to)
        .fetch_all(self.reader())
        .await
        .map_err(B::map_err)?;
        let mut out = AuditSubjects::default();
        for r in &rows {
            out.indexed_to = r.try_get("indexed_to").map_err(internal)?;
            let seq: Option<i64> = r.try_get("seq").map_err(internal)?;
            let subject: Option<i64> = r.try_get("subject_bidx").map_err(internal)?;
            if let (Some(seq), Some(subject)) = (seq, subject) {
                out.named.push((seq, subject));
            }
        }
        Ok(out)
    }

    async fn audit_unindexed(&self, limit: i64) -> StoreResult<AuditBacklog> {
        let state = sqlx::query(
            "SELECT indexed_to, (SELECT COALESCE(MAX(seq), 0) FROM audit_log) AS log_end
               FROM audit_index_state",
        )
        .fetch_one(self.reader())
        .await
        .map_err(B::map_err)?;
        let indexed_to: i64 = state.try_get("indexed_to").map_err(internal)?;
        let log_end: i64 = state.try_get("log_end").map_err(internal)?;
        // Entries are committed in sequence order (one appender at a time), so every entry
        // up to `log_end` is visible to this read.
        let entries = sqlx::query(
            "SELECT * FROM audit_log WHERE subject_bidx = $1 AND seq > $2 AND seq <= $3
              ORDER BY seq LIMIT $4",
        )
        .bind(AUDIT_MANY_SUBJECTS)
        .bind(indexed_to)
        .bind(log_end)
        .bind(limit)
        .fetch_all(self.reader())
        .await
        .map_err(B::map_err)?
        .iter()
        .map(Self::audit_from_row)
        .collect::<StoreResult<Vec<_>>>()?;
        let up_to = match entries.last() {
            Some(last) if entries.len() as i64 >= limit => last.seq,
            _ => log_end.max(indexed_to),
        };
        Ok(AuditBacklog {
            indexed_to,
            up_to,
            entries,
        })
    }

    async fn index_audit_subjects(
        &self,
        from: i64,
        to: i64,
        named: &mut [(i64, i64)],
    ) -> StoreResult<bool> {
        // Sorted by patient, so that each page of the patient index is written once per
        // batch (the entries of many pages shown name the same patients), in transactions
        // of a few thousand rows: a request waiting for SQLite's writer waits for one of
        // them, not for the batch. Rows above the watermark are a partial index the
        // readers do not rely on; the watermark moves last.
        named.sort_unstable_by_key(|&(seq, subject)| (subject, seq));
        let mut last = None;
        let mut sql = String::new();
        for tx_rows in named.chunks(AUDIT_SUBJECTS_PER_TX) {
            let mut tx = B::begin_write(self.writer()).await?;
            for chunk in tx_rows.chunks(AUDIT_SUBJECTS_PER_INSERT) {
                // Integers written into the statement: two numbers formatted here cannot
                // inject anything, and binding a thousand parameters costs SQLite more
                // than the inserts.
                sql.clear();
                sql.push_str("INSERT INTO audit_subjects (seq, subject_bidx) VALUES ");
                let mut first = true;
                for &(seq, subject) in chunk {
                    if last == Some((seq, subject)) {
                        continue;
                    }
                    last = Some((seq, subject));
                    if !first {
                        sql.push(',');
                    }
                    first = false;
                    sql.push_str(&format!("({seq},{subject})"));
                }
                // Another node may be indexing the same entries.
                sql.push_str(" ON CONFLICT DO NOTHING");
                if !first {
                    B::execute_unprepared(&mut tx, &sql).await?;
                }
            }
            crate::commit::<B>(tx).await?;
        }
        let mut tx = B::begin_write(self.writer()).await?;
        let moved =
            sqlx::query("UPDATE audit_index_state SET indexed_to = $2 WHERE indexed_to = $1")
                .bind(from)
                .bind(to)
                .execute(&mut *tx)
                .await
                .map_err(B::map_err)?;
        if B::rows_affected(moved) != 1 {
            return Ok(false);
        }
        crate::commit::<B>(tx).await?;
        Ok(true)
    }

    async fn practitioner(&self, id: &PractitionerId) -> StoreResult<Option<Practitioner>> {
        let row = sqlx::query("SELECT * FROM practitioners WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional(self.reader())
            .await
            .map_err(B::map_err)?;
        row.as_ref().map(Self::practitioner_from_row).transpose()
    }

    async fn update_motive(
        &self,
        m: &Motive,
        label_ct: &[u8],
        labels_ct: Option<&[u8]>,
    ) -> StoreResult<bool> {
        let mut tx = B::begin_write(self.writer()).await?;
        let done = sqlx::query(
            "UPDATE motives SET label_ct = $3, teleconsultation = $4, new_patients_only = $5, bookable_online = $6,
                    min_notice_min = $7, max_horizon_days = $8, labels_ct = $9, duration_min = $10
              WHERE id = $1 AND agenda_id = $2",
        )
        .bind(m.id.as_str())
        .bind(m.agenda_id.as_str())
        .bind(label_ct)
        .bind(m.policy.teleconsultation)
        .bind(m.policy.new_patients_only)
        .bind(m.policy.bookable_online)
        .bind(i64::from(m.policy.min_notice_min))
        .bind(i64::from(m.policy.max_horizon_days))
        .bind(labels_ct)
        .bind(i64::from(m.duration.get()))
        .execute(&mut *tx)
        .await
        .map_err(B::map_err)
        .map(B::rows_affected)?
            == 1;
        B::agenda_changed(&mut tx, m.agenda_id.as_str()).await?;
        crate::commit::<B>(tx).await?;
        Ok(done)
    }

    async fn delete_rule(&self, agenda: &AgendaId, id: &RuleId) -> StoreResult<bool> {
        self.delete_in_agenda(
            "DELETE FROM opening_rules WHERE id = $1 AND agenda_id = $2",
            agenda,
            id.as_str(),
        )
        .await
    }

    async fn delete_absence(&self, agenda: &AgendaId, id: &AbsenceId) -> StoreResult<bool> {
        self.delete_in_agenda(
            "DELETE FROM absences WHERE id = $1 AND agenda_id = $2",
            agenda,
            id.as_str(),
        )
        .await
    }

    async fn absence_reasons(
        &self,
        agenda: &AgendaId,
        after: Timestamp,
    ) -> StoreResult<Vec<(AbsenceId, String)>> {
        sqlx::query(
            "SELECT id, reason FROM absences WHERE agenda_id = $1 AND end_s > $2 AND reason IS NOT NULL",
        )
        .bind(agenda.as_str())
        .bind(after.as_second())
        .fetch_all(self.reader())
        .await
        .map_err(B::map_err)?
        .iter()
        .map(|r| {
            Ok((
                AbsenceId(r.try_get("id").map_err(internal)?),
                r.try_get("reason").map_err(internal)?,
            ))
        })
        .collect()
    }

    async fn set_no_show_by(
        &self,
        id: &ReservationId,
        no_show: bool,
        by: Option<&AccountId>,
        now: Timestamp,
        outbox: &OutboxWrite,
    ) -> StoreResult<Option<ReservationRow>> {
        Reservations::<B>::set_no_show(self.writer(), id, no_show, by, now, outbox).await
    }

    async fn set_visit_step(
        &self,
        id: &ReservationId,
        step: VisitStep,
        by: &AccountId,
        now: Timestamp,
    ) -> StoreResult<Option<ReservationRow>> {
        Reservations::<B>::set_visit_step(self.writer(), id, step, by, now).await
    }

    async fn visit_status_log(&self, id: &ReservationId) -> StoreResult<Vec<VisitStatusEntry>> {
        sqlx::query(
            "SELECT status, at, by_account FROM visit_status_log WHERE reservation_id = $1 ORDER BY seq",
        )
        .bind(id.as_str())
        .fetch_all(self.reader())
        .await
        .map_err(B::map_err)?
        .iter()
        .map(|r| {
            Ok(VisitStatusEntry {
                status: r.try_get("status").map_err(internal)?,
                at: ts(r.try_get("at").map_err(internal)?)?,
                by: r
                    .try_get::<Option<String>, _>("by_account")
                    .map_err(internal)?
                    .map(AccountId),
            })
        })
        .collect()
    }

    async fn claim_hold(
        &self,
        id: &ReservationId,
        patient_ct: &[u8],
        patient_bidx: i64,
        now: Timestamp,
    ) -> StoreResult<Option<ReservationRow>> {
        // A write transaction like every reservation change (on SQLite it takes the file's
        // write lock up front). The hold keeps its place: availability does not change.
        let mut tx = B::begin_write(self.writer()).await?;
        let row = sqlx::query(
            "UPDATE reservations SET patient_ct = $2, patient_bidx = $3, updated_at = $4
              WHERE id = $1 AND status = 'held' AND expires_at > $4 RETURNING *",
        )
        .bind(id.as_str())
        .bind(patient_ct)
        .bind(patient_bidx)
        .bind(now.as_second())
        .fetch_optional(&mut *tx)
        .await
        .map_err(B::map_err)?;
        crate::commit::<B>(tx).await?;
        row.as_ref().map(Self::reservation_from_row).transpose()
    }

    async fn create_relative(&self, r: &RelativeRecord) -> StoreResult<()> {
        sqlx::query("INSERT INTO relatives (id, account_id, created_at, name_ct, birth_date_ct) VALUES ($1, $2, $3, $4, $5)")
            .bind(r.id.as_str())
            .bind(r.account_id.as_str())
            .bind(r.created_at.as_second())
            .bind(&r.name_ct)
            .bind(r.birth_date_ct.as_deref())
            .execute(self.writer())
            .await
            .map_err(B::map_err)?;
        Ok(())
    }

    async fn relatives(&self, account: &AccountId) -> StoreResult<Vec<RelativeRecord>> {
        sqlx::query("SELECT * FROM relatives WHERE account_id = $1 ORDER BY created_at, id")
            .bind(account.as_str())
            .fetch_all(self.reader())
            .await
            .map_err(B::map_err)?
            .iter()
            .map(Self::relative_from_row)
            .collect()
    }

    async fn delete_relative(&self, account: &AccountId, id: &RelativeId) -> StoreResult<bool> {
        Ok(
            sqlx::query("DELETE FROM relatives WHERE id = $1 AND account_id = $2")
                .bind(id.as_str())
                .bind(account.as_str())
                .execute(self.writer())
                .await
                .map_err(B::map_err)
                .map(B::rows_affected)?
                == 1,
        )
    }

    async fn create_invitation(&self, inv: &NewInvitation) -> StoreResult<()> {
        // Into the practitioner's own organisation, made on the first invitation.
        let mut tx = B::begin_write(self.writer()).await?;
        let org =
            Self::ensure_own_organisation_in(&mut tx, &inv.practitioner_id, inv.created_at).await?;
        Self::insert_invitation_in(&mut tx, &org, inv).await?;
        crate::commit::<B>(tx).await
    }

    async fn accept_invitation_with(
        &self,
        token_hash: &str,
        account: &NewAccount,
        settings: &AccountSettings,
        token: Option<&EmailToken>,
        outbox: &OutboxWrite,
        now: Timestamp,
    ) -> StoreResult<PractitionerId> {
        if account.record.role != Role::Assistant {
            return Err(StoreError::Internal(
                "an invitation creates an assistant".into(),
            ));
        }
        let mut tx = B::begin_write(self.writer()).await?;
        let Some(row) = sqlx::query(
            "UPDATE invitations SET used_by = $2, used_at = $3
              WHERE token_hash = $1 AND used_by IS NULL AND expires_at > $3 RETURNING practitioner_id",
        )
        .bind(token_hash)
        .bind(account.record.id.as_str())
        .bind(now.as_second())
        .fetch_optional(&mut *tx)
        .await
        .map_err(B::map_err)?
        else {
            return Err(StoreError::NotFound);
        };
        let practitioner = PractitionerId(row.try_get("practitioner_id").map_err(internal)?);
        Self::insert_account(&mut tx, account).await?;
        sqlx::query(
            "INSERT INTO assistants (account_id, practitioner_id, created_at) VALUES ($1, $2, $3)",
        )
        .bind(account.record.id.as_str())
        .bind(practitioner.as_str())
        .bind(now.as_second())
        .execute(&mut *tx)
        .await
        .map_err(B::map_err)?;
        Self::join_assistant_in(&mut tx, token_hash, &account.record.id, &practitioner).await?;
        Verification::<B>::sign_up_rest(&mut tx, account, settings, token, outbox).await?;
        crate::commit::<B>(tx).await?;
        Ok(practitioner)
    }

    async fn spend_invitation(
        &self,
        token_hash: &str,
        attempt: &AccountId,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let mut tx = B::begin_write(self.writer()).await?;
        let done = sqlx::query(
            "UPDATE invitations SET used_by = $2, used_at = $3
              WHERE token_hash = $1 AND used_by IS NULL AND expires_at > $3",
        )
        .bind(token_hash)
        .bind(attempt.as_str())
        .bind(now.as_second())
        .execute(&mut *tx)
        .await
        .map_err(B::map_err)?;
        let spent = B::rows_affected(done) > 0;
        crate::commit::<B>(tx).await?;
        Ok(spent)
    }

    async fn create_organisation(
        &self,
        org: &Organisation,
        founder: &PractitionerId,
    ) -> StoreResult<()> {
        self.org_create(org, founder).await
    }

    async fn ensure_own_organisation(
        &self,
        practitioner: &PractitionerId,
        now: Timestamp,
    ) -> StoreResult<OrganisationId> {
        self.org_ensure_own(practitioner, now).await
    }

    async fn organisation(&self, id: &OrganisationId) -> StoreResult<Option<Organisation>> {
        self.org_get(id).await
    }

    async fn rename_organisation(&self, id: &OrganisationId, name: &str) -> StoreResult<bool> {
        self.org_rename(id, name).await
    }

    async fn organisations_of(
        &self,
        practitioner: &PractitionerId,
    ) -> StoreResult<Vec<Organisation>> {
        self.org_of_practitioner(practitioner).await
    }

    async fn organisation_of_assistant(
        &self,
        account: &AccountId,
    ) -> StoreResult<Option<Organisation>> {
        self.org_of_assistant(account).await
    }

    async fn organisation_members(&self, id: &OrganisationId) -> StoreResult<Vec<Practitioner>> {
        self.org_members(id).await
    }

    async fn organisation_assistants(
        &self,
        id: &OrganisationId,
    ) -> StoreResult<Vec<(AccountRecord, Vec<AgendaId>)>> {
        self.org_assistants(id).await
    }

    async fn organisation_agendas(&self, id: &OrganisationId) -> StoreResult<Vec<Agenda>> {
        self.org_agendas(id).await
    }

    async fn set_agenda_rights(
        &self,
        org: &OrganisationId,
        account: &AccountId,
        agendas: &[AgendaId],
    ) -> StoreResult<()> {
        self.org_set_rights(org, account, agendas).await
    }

    async fn agenda_right(&self, account: &AccountId, agenda: &AgendaId) -> StoreResult<bool> {
        self.org_agenda_right(account, agenda).await
    }

    async fn share_organisation(
        &self,
        a: &PractitionerId,
        b: &PractitionerId,
    ) -> StoreResult<bool> {
        self.org_shared(a, b).await
    }

    async fn create_organisation_invitation(
        &self,
        org: &OrganisationId,
        inv: &NewInvitation,
        outbox: &OutboxWrite,
    ) -> StoreResult<()> {
        self.org_invite_assistant(org, inv, outbox).await
    }

    async fn leave_organisation(
        &self,
        org: &OrganisationId,
        practitioner: &PractitionerId,
        now: Timestamp,
    ) -> StoreResult<Departure> {
        self.org_leave(org, practitioner, now).await
    }

    async fn remove_organisation_assistant(
        &self,
        org: &OrganisationId,
        account: &AccountId,
    ) -> StoreResult<bool> {
        self.delete_assistant(
            account,
            "SELECT account_id FROM organisation_assistants WHERE organisation_id = $2",
            org.as_str(),
        )
        .await
    }

    async fn create_colleague_invitation(
        &self,
        org: &OrganisationId,
        token_hash: &str,
        created_at: Timestamp,
        expires_at: Timestamp,
        outbox: &OutboxWrite,
    ) -> StoreResult<()> {
        self.org_invite_colleague(org, token_hash, created_at, expires_at, outbox)
            .await
    }

    async fn accept_colleague_invitation(
        &self,
        token_hash: &str,
        practitioner: &PractitionerId,
        now: Timestamp,
    ) -> StoreResult<OrganisationId> {
        self.org_accept_colleague(token_hash, practitioner, now)
            .await
    }

    async fn assistant_of(&self, account: &AccountId) -> StoreResult<Option<PractitionerId>> {
        let row = sqlx::query("SELECT practitioner_id FROM assistants WHERE account_id = $1")
            .bind(account.as_str())
            .fetch_optional(self.reader())
            .await
            .map_err(B::map_err)?;
        row.map(|r| r.try_get("practitioner_id").map(PractitionerId))
            .transpose()
            .map_err(internal)
    }

    async fn assistants(&self, practitioner: &PractitionerId) -> StoreResult<Vec<AccountRecord>> {
        sqlx::query(
            "SELECT a.* FROM assistants s JOIN accounts a ON a.id = s.account_id WHERE s.practitioner_id = $1 ORDER BY s.created_at, a.id",
        )
        .bind(practitioner.as_str())
        .fetch_all(self.reader())
        .await
        .map_err(B::map_err)?
        .iter()
        .map(Self::account_from_row)
        .collect()
    }

    async fn remove_assistant(
        &self,
        practitioner: &PractitionerId,
        account: &AccountId,
    ) -> StoreResult<bool> {
        self.delete_assistant(
            account,
            "SELECT account_id FROM assistants WHERE practitioner_id = $2",
            practitioner.as_str(),
        )
        .await
    }

    async fn set_motive_vaccine(&self, agenda: &AgendaId, v: &MotiveVaccine) -> StoreResult<()> {
        let mut tx = B::begin_write(self.writer()).await?;
        Self::link_vaccine(&mut tx, agenda.as_str(), v).await?;
        B::agenda_changed(&mut tx, agenda.as_str()).await?;
        crate::commit::<B>(tx).await
    }

    async fn protocols(&self) -> StoreResult<Vec<Protocol>> {
        sqlx::query("SELECT * FROM vaccine_protocols ORDER BY product, version")
            .fetch_all(self.reader())
            .await
            .map_err(B::map_err)?
            .iter()
            .map(Self::protocol_from_row)
            .collect()
    }

    async fn add_protocol(&self, p: &Protocol, now: Timestamp) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO vaccine_protocols (product, version, effective_from, second_min_days, second_max_days,
                                            booster_min_days, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(p.product.code())
        .bind(i64::from(p.version))
        .bind(p.effective_from.to_string())
        .bind(p.second_dose.map(|(min, _)| i64::from(min)))
        .bind(p.second_dose.map(|(_, max)| i64::from(max)))
        .bind(i64::from(p.booster_min_days))
        .bind(now.as_second())
        .execute(self.writer())
        .await
        .map_err(B::map_err)?;
        Ok(())
    }

    async fn set_stock(
        &self,
        agenda: &AgendaId,
        product: VaccineProduct,
        day: jiff::civil::Date,
        doses: u32,
    ) -> StoreResult<StockRow> {
        let mut tx = B::begin_write(self.writer()).await?;
        let row = sqlx::query(
            "INSERT INTO dose_stock (agenda_id, product, day, doses, used, explicit)
             VALUES ($1, $2, $3, $4, 0, $5)
             ON CONFLICT (agenda_id, product, day) DO UPDATE SET doses = excluded.doses, explicit = excluded.explicit
              WHERE dose_stock.used <= excluded.doses
             RETURNING *",
        )
        .bind(agenda.as_str())
        .bind(product.code())
        .bind(day.to_string())
        .bind(i64::from(doses))
        .bind(true)
        .fetch_optional(&mut *tx)
        .await
        .map_err(B::map_err)?
        .ok_or(StoreError::Conflict(ConflictKind::StockBelowBooked))?;
        let stock = Self::stock_from_row(&row)?;
        B::agenda_changed(&mut tx, agenda.as_str()).await?;
        crate::commit::<B>(tx).await?;
        Ok(stock)
    }

    async fn set_stock_policies(
        &self,
        policies: &[StockPolicy],
        from: jiff::civil::Date,
    ) -> StoreResult<()> {
        let mut tx = B::begin_write(self.writer()).await?;
        let from = from.to_string();
        let mut touched: Vec<&str> = Vec::new();
        for p in policies {
            match p.doses {
                Some(doses) => {
                    sqlx::query(
                        "INSERT INTO stock_policies (agenda_id, product, doses) VALUES ($1, $2, $3)
                         ON CONFLICT (agenda_id, product) DO UPDATE SET doses = excluded.doses",
                    )
                    .bind(p.agenda_id.as_str())
                    .bind(p.product.code())
                    .bind(i64::from(doses))
                    .execute(&mut *tx)
                    .await
                    .map_err(B::map_err)?;
                }
                None => {
                    sqlx::query("DELETE FROM stock_policies WHERE agenda_id = $1 AND product = $2")
                        .bind(p.agenda_id.as_str())
                        .bind(p.product.code())
                        .execute(&mut *tx)
                        .await
                        .map_err(B::map_err)?;
                }
            }
            // Days already written from the policy follow it, keeping their bookings.
            let doses = i64::from(p.doses.unwrap_or(0));
            sqlx::query(
                "UPDATE dose_stock SET doses = CASE WHEN used > $4 THEN used ELSE $4 END
                  WHERE agenda_id = $1 AND product = $2 AND day >= $3 AND explicit = $5",
            )
            .bind(p.agenda_id.as_str())
            .bind(p.product.code())
            .bind(&from)
            .bind(doses)
            .bind(false)
            .execute(&mut *tx)
            .await
            .map_err(B::map_err)?;
            if !touched.contains(&p.agenda_id.as_str()) {
                touched.push(p.agenda_id.as_str());
                B::agenda_changed(&mut tx, p.agenda_id.as_str()).await?;
            }
        }
        crate::commit::<B>(tx).await
    }

    async fn set_stock_days(&self, agenda: &AgendaId, days: &[StockDay]) -> StoreResult<()> {
        let mut tx = B::begin_write(self.writer()).await?;
        for d in days {
            let done = match d.doses {
                Some(doses) => sqlx::query(
                    "INSERT INTO dose_stock (agenda_id, product, day, doses, used, explicit)
                     VALUES ($1, $2, $3, $4, 0, $5)
                     ON CONFLICT (agenda_id, product, day) DO UPDATE SET doses = excluded.doses, explicit = excluded.explicit
                      WHERE dose_stock.used <= excluded.doses",
                )
                .bind(agenda.as_str())
                .bind(d.product.code())
                .bind(d.day.to_string())
                .bind(i64::from(doses))
                .bind(true)
                .execute(&mut *tx)
                .await
                .map_err(B::map_err)?,
                // Back to the policy: a day with bookings keeps its row, at the policy's
                // value or at what it booked; a day without stays without (the policy applies).
                None => sqlx::query(
                    "UPDATE dose_stock SET explicit = $4,
                            doses = CASE WHEN used > COALESCE((SELECT p.doses FROM stock_policies p
                                                                WHERE p.agenda_id = $1 AND p.product = $2), 0)
                                         THEN used
                                         ELSE COALESCE((SELECT p.doses FROM stock_policies p
                                                         WHERE p.agenda_id = $1 AND p.product = $2), 0) END
                      WHERE agenda_id = $1 AND product = $2 AND day = $3",
                )
                .bind(agenda.as_str())
                .bind(d.product.code())
                .bind(d.day.to_string())
                .bind(false)
                .execute(&mut *tx)
                .await
                .map_err(B::map_err)?,
            };
            if d.doses.is_some() && B::rows_affected(done) == 0 {
                // Dropping `tx` rolls every day back.
                return Err(StoreError::Conflict(ConflictKind::StockBelowBooked));
            }
        }
        B::agenda_changed(&mut tx, agenda.as_str()).await?;
        crate::commit::<B>(tx).await
    }

    async fn reserve_series(&self, req: &SeriesRequest) -> StoreResult<SeriesOutcome> {
        self.group_commit().series(req).await
    }

    async fn expire_holds(&self, now: Timestamp) -> StoreResult<Vec<AgendaId>> {
        Reservations::<B>::expire_holds(self.writer(), now).await
    }

    async fn book_series_hold(&self, req: &BookSeriesRequest) -> StoreResult<Vec<ReservationRow>> {
        self.group_commit().book_series(req).await
    }

    async fn phases(&self) -> StoreResult<Vec<Phase>> {
        sqlx::query("SELECT * FROM vaccination_phases ORDER BY opened_at, id")
            .fetch_all(self.reader())
            .await
            .map_err(B::map_err)?
            .iter()
            .map(Self::phase_from_row)
            .collect()
    }

    async fn open_phase(&self, p: &Phase) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO vaccination_phases (id, name, everyone, min_age, priority_groups, opened_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&p.id)
        .bind(&p.name)
        .bind(i64::from(p.everyone))
        .bind(p.min_age.map(i64::from))
        .bind(p.priority_groups.join(","))
        .bind(p.opened_at.as_second())
        .execute(self.writer())
        .await
        .map_err(B::map_err)?;
        Ok(())
    }

    async fn close_phase(&self, id: &str, now: Timestamp) -> StoreResult<bool> {
        Ok(sqlx::query(
            "UPDATE vaccination_phases SET closed_at = $2 WHERE id = $1 AND closed_at IS NULL",
        )
        .bind(id)
        .bind(now.as_second())
        .execute(self.writer())
        .await
        .map_err(B::map_err)
        .map(B::rows_affected)?
            == 1)
    }

    async fn set_lines(
        &self,
        agenda: &AgendaId,
        day: jiff::civil::Date,
        day_start: Timestamp,
        day_end: Timestamp,
        lines: u32,
    ) -> StoreResult<()> {
        let mut tx = B::begin_write(self.writer()).await?;
        sqlx::query(
            "INSERT INTO line_overrides (agenda_id, day, lines) VALUES ($1, $2, $3)
             ON CONFLICT (agenda_id, day) DO UPDATE SET lines = excluded.lines",
        )
        .bind(agenda.as_str())
        .bind(day.to_string())
        .bind(i64::from(lines))
        .execute(&mut *tx)
        .await
        .map_err(B::map_err)?;
        let over: i64 = sqlx::query(
            "SELECT COUNT(*) AS n FROM pool_counters
              WHERE agenda_id = $1 AND start_s >= $2 AND start_s < $3 AND taken > $4",
        )
        .bind(agenda.as_str())
        .bind(day_start.as_second())
        .bind(day_end.as_second())
        .bind(i64::from(lines))
        .fetch_one(&mut *tx)
        .await
        .map_err(B::map_err)?
        .try_get("n")
        .map_err(internal)?;
        if over > 0 {
            return Err(StoreError::Conflict(ConflictKind::CapacityExhausted));
        }
        sqlx::query(
            "UPDATE pool_counters SET capacity = $4
              WHERE agenda_id = $1 AND start_s >= $2 AND start_s < $3",
        )
        .bind(agenda.as_str())
        .bind(day_start.as_second())
        .bind(day_end.as_second())
        .bind(i64::from(lines))
        .execute(&mut *tx)
        .await
        .map_err(B::map_err)?;
        B::agenda_changed(&mut tx, agenda.as_str()).await?;
        crate::commit::<B>(tx).await
    }

    async fn put_setting(&self, name: &str, value: &str) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO settings (name, value) VALUES ($1, $2)
             ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        )
        .bind(name)
        .bind(value)
        .execute(self.writer())
        .await
        .map_err(B::map_err)?;
        Ok(())
    }

    async fn vaccination_days(
        &self,
        agenda: Option<&AgendaId>,
        from: jiff::civil::Date,
        to: jiff::civil::Date,
    ) -> StoreResult<Vec<VaccinationDay>> {
        sqlx::query(
            "SELECT s.agenda_id, s.product, s.day, s.doses, s.used, s.explicit,
                    COALESCE(n.no_shows, 0) AS no_shows
               FROM dose_stock s
               LEFT JOIN (SELECT agenda_id, stock_product, stock_day, COUNT(*) AS no_shows
                            FROM reservations
                           WHERE status = 'no_show' AND ($1 = '' OR agenda_id = $1)
                             AND stock_day >= $2 AND stock_day <= $3
                           GROUP BY agenda_id, stock_product, stock_day) n
                 ON n.agenda_id = s.agenda_id AND n.stock_product = s.product AND n.stock_day = s.day
              WHERE ($1 = '' OR s.agenda_id = $1) AND s.day >= $2 AND s.day <= $3
              ORDER BY s.agenda_id, s.day, s.product",
        )
        .bind(agenda.map(|a| a.as_str()).unwrap_or(""))
        .bind(from.to_string())
        .bind(to.to_string())
        .fetch_all(self.reader())
        .await
        .map_err(B::map_err)?
        .iter()
        .map(|row| {
            let stock = Self::stock_from_row(row)?;
            let no_shows: i64 = row.try_get("no_shows").map_err(internal)?;
            Ok(VaccinationDay {
                agenda_id: stock.agenda_id,
                product: stock.product,
                day: stock.day,
                doses: stock.doses,
                explicit: stock.explicit,
                booked: stock.used,
                no_shows: u32::try_from(no_shows).map_err(|_| codec::corrupt("no_shows"))?,
            })
        })
        .collect()
    }

    async fn vaccination_records(
        &self,
        from: Timestamp,
        to: Timestamp,
    ) -> StoreResult<Vec<VaccinationRecord>> {
        let rows = sqlx::query(
            "SELECT r.*, r.stock_product AS v_product, COALESCE(r.vaccine_dose, 1) AS v_dose,
                    pl.id AS pl_id, pl.practitioner_id AS pl_practitioner_id, pl.name AS pl_name,
                    pl.address AS pl_address, pl.postcode AS pl_postcode, pl.city AS pl_city,
                    pl.country AS pl_country, pl.lat AS pl_lat, pl.lon AS pl_lon, pl.timezone AS pl_timezone
               FROM reservations r
               JOIN agendas a ON a.id = r.agenda_id
               JOIN places pl ON pl.id = a.place_id
              WHERE r.stock_day IS NOT NULL AND r.start_s >= $1 AND r.start_s < $2
              ORDER BY r.start_s, r.id",
        )
        .bind(from.as_second())
        .bind(to.as_second())
        .fetch_all(self.reader())
        .await
        .map_err(B::map_err)?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            let product: String = row.try_get("v_product").map_err(internal)?;
            let dose: i64 = row.try_get("v_dose").map_err(internal)?;
            let country: String = row.try_get("pl_country").map_err(internal)?;
            out.push(VaccinationRecord {
                reservation: Self::reservation_from_row(row)?,
                product: Self::product_of(&product)?,
                dose: u8::try_from(dose).map_err(|_| codec::corrupt("dose"))?,
                place: Place {
                    id: PlaceId(row.try_get("pl_id").map_err(internal)?),
                    practitioner_id: PractitionerId(
                        row.try_get("pl_practitioner_id").map_err(internal)?,
                    ),
                    name: row.try_get("pl_name").map_err(internal)?,
                    address: row.try_get("pl_address").map_err(internal)?,
                    postcode: row.try_get("pl_postcode").map_err(internal)?,
                    city: row.try_get("pl_city").map_err(internal)?,
                    country: Country::parse(&country).map_err(|_| codec::corrupt("country"))?,
                    lat: row.try_get("pl_lat").map_err(internal)?,
                    lon: row.try_get("pl_lon").map_err(internal)?,
                    timezone: row.try_get("pl_timezone").map_err(internal)?,
                },
            });
        }
        Ok(out)
    }

    async fn book_care_series(&self, req: &CareSeriesRequest) -> StoreResult<CareSeriesOutcome> {
        self.group_commit().care_series(req).await
    }

    async fn care_series(&self, id: &str) -> StoreResult<Option<CareSeries>> {
        Reservations::<B>::care_series(self.reader(), id).await
    }

    async fn care_series_of(&self, reservation: &ReservationId) -> StoreResult<Option<CareSeries>> {
        Reservations::<B>::care_series_of(self.reader(), reservation).await
    }

    async fn cancel_care_series(
        &self,
        id: &str,
        from: Timestamp,
        now: Timestamp,
        outbox: &OutboxWrite,
    ) -> StoreResult<Vec<ReservationRow>> {
        Reservations::<B>::cancel_care_series(self.writer(), id, from, now, outbox).await
    }

    async fn move_care_series(
        &self,
        id: &str,
        moves: &[OccurrenceMove],
        now: Timestamp,
        outbox: &OutboxWrite,
    ) -> StoreResult<SeriesMoveOutcome> {
        Reservations::<B>::move_care_series(self.writer(), id, moves, now, outbox).await
    }

    async fn series_of(&self, id: &ReservationId) -> StoreResult<Vec<ReservationRow>> {
        sqlx::query(
            "SELECT r.* FROM reservations me
               JOIN reservations r ON r.vaccine_series = me.vaccine_series AND r.id <> me.id
              WHERE me.id = $1 ORDER BY r.start_s",
        )
        .bind(id.as_str())
        .fetch_all(self.reader())
        .await
        .map_err(B::map_err)?
        .iter()
        .map(Self::reservation_from_row)
        .collect()
    }

    async fn wrapped_keys(&self) -> StoreResult<Vec<WrappedKeyRow>> {
        let mut out = Vec::new();
        for (owner, sql) in [
            (
                KeyOwner::Account,
                "SELECT id, wrapped_key AS w FROM accounts",
            ),
            (KeyOwner::Agenda, "SELECT id, wrapped_key AS w FROM agendas"),
            (
                KeyOwner::Setting,
                "SELECT name AS id, value AS w FROM settings",
            ),
            (
                KeyOwner::Document,
                "SELECT id, wrapped_key AS w FROM documents",
            ),
            (
                KeyOwner::SigningKey,
                "SELECT id, wrapped_key AS w FROM signing_keys",
            ),
        ] {
            for r in sqlx::query(sql)
                .fetch_all(self.reader())
                .await
                .map_err(B::map_err)?
            {
                out.push(WrappedKeyRow {
                    owner,
                    id: r.try_get("id").map_err(internal)?,
                    wrapped: r.try_get("w").map_err(internal)?,
                });
            }
        }
        Ok(out)
    }

    async fn set_wrapped_key(&self, row: &WrappedKeyRow) -> StoreResult<()> {
        let sql = match row.owner {
            KeyOwner::Account => "UPDATE accounts SET wrapped_key = $2 WHERE id = $1",
            KeyOwner::Agenda => "UPDATE agendas SET wrapped_key = $2 WHERE id = $1",
            KeyOwner::Setting => "UPDATE settings SET value = $2 WHERE name = $1",
            KeyOwner::Document => "UPDATE documents SET wrapped_key = $2 WHERE id = $1",
            KeyOwner::SigningKey => "UPDATE signing_keys SET wrapped_key = $2 WHERE id = $1",
        };
        sqlx::query(sql)
            .bind(&row.id)
            .bind(&row.wrapped)
            .execute(self.writer())
            .await
            .map_err(B::map_err)?;
        Ok(())
    }

    async fn imported_sites(&self) -> StoreResult<Vec<ImportedSite>> {
        sqlx::query("SELECT * FROM imported_sites ORDER BY source_key")
            .fetch_all(self.reader())
            .await
            .map_err(B::map_err)?
            .iter()
            .map(Self::imported_site_from_row)
            .collect()
    }

    async fn write_imported_site(&self, w: &SiteWrite) -> StoreResult<()> {
        let mut tx = B::begin_write(self.writer()).await?;
        Self::write_site(&mut tx, w).await?;
        crate::commit::<B>(tx).await
    }

    // --- payments (teleconsultation fees): SQL in payments.rs ------------------------------

    async fn set_motive_fee(
        &self,
        agenda: &AgendaId,
        motive: &MotiveId,
        fee: Option<&Fee>,
    ) -> StoreResult<()> {
        Payments::<B>::set_motive_fee(self.writer(), agenda, motive, fee).await
    }

    async fn motive_fees(&self, agenda: &AgendaId) -> StoreResult<Vec<MotiveFee>> {
        Payments::<B>::motive_fees(self.reader(), agenda).await
    }

    async fn insert_payment(&self, p: &PaymentRow) -> StoreResult<()> {
        Payments::<B>::insert_payment(self.writer(), p).await
    }

    async fn payment(&self, reservation: &ReservationId) -> StoreResult<Option<PaymentRow>> {
        Payments::<B>::payment(self.writer(), reservation).await
    }

    async fn payment_by_intent(&self, intent_id: &str) -> StoreResult<Option<PaymentRow>> {
        Payments::<B>::payment_by_intent(self.writer(), intent_id).await
    }

    async fn transition_payment(
        &self,
        t: &PaymentTransition<'_>,
    ) -> StoreResult<Option<PaymentRow>> {
        Payments::<B>::transition(self.writer(), t).await
    }

    async fn payments_to_settle(
        &self,
        now: Timestamp,
        limit: i64,
    ) -> StoreResult<Vec<OpenPayment>> {
        Payments::<B>::to_settle(self.reader(), now, limit).await
    }

    async fn record_payment_event(
        &self,
        provider: &str,
        event_id: &str,
        now: Timestamp,
    ) -> StoreResult<bool> {
        Payments::<B>::record_event(self.writer(), provider, event_id, now).await
    }

    async fn payment_event_seen(&self, provider: &str, event_id: &str) -> StoreResult<bool> {
        Payments::<B>::event_seen(self.writer(), provider, event_id).await
    }

    async fn expire_hold_now(&self, id: &ReservationId, now: Timestamp) -> StoreResult<bool> {
        Payments::<B>::expire_hold_now(self.writer(), id, now).await
    }

    // --- documents ---------------------------------------------------------------------------
    async fn insert_document_with(
        &self,
        d: &DocumentRecord,
        max_per_appointment: u32,
        outbox: &OutboxWrite,
    ) -> StoreResult<bool> {
        let m = &d.meta;
        if max_per_appointment == 0 {
            return Ok(false);
        }
        let mut tx = B::begin_write(self.writer()).await?;
        // The count lives in its own row, raised only below the limit: on PostgreSQL the
        // upsert locks that row, so concurrent uploads to one appointment queue up here.
        let counted = sqlx::query(
            "INSERT INTO document_counts (reservation_id, documents) VALUES ($1, 1)
             ON CONFLICT (reservation_id) DO UPDATE SET documents = document_counts.documents + 1
             WHERE document_counts.documents < $2",
        )
        .bind(m.reservation_id.as_str())
        .bind(i64::from(max_per_appointment))
        .execute(&mut *tx)
        .await
        .map_err(B::map_err)?;
        if B::rows_affected(counted) != 1 {
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO documents (id, reservation_id, uploaded_by, content_type, size, created_at,
                                    wrapped_key, name_ct, content_ct)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(m.id.as_str())
        .bind(m.reservation_id.as_str())
        .bind(m.uploaded_by.as_str())
        .bind(&m.content_type)
        .bind(i64::try_from(m.size).map_err(|_| codec::corrupt("document size"))?)
        .bind(m.created_at.as_second())
        .bind(&m.wrapped_key)
        .bind(&m.name_ct)
        .bind(&d.content_ct)
        .execute(&mut *tx)
        .await
        .map_err(B::map_err)?;
        Outbox::<B>::apply_in(&mut tx, outbox).await?;
        crate::commit::<B>(tx).await?;
        Ok(true)
    }

    async fn documents(&self, reservation: &ReservationId) -> StoreResult<Vec<DocumentMeta>> {
        sqlx::query(
            "SELECT id, reservation_id, uploaded_by, content_type, size, created_at, wrapped_key, name_ct
               FROM documents WHERE reservation_id = $1 ORDER BY created_at, id",
        )
        .bind(reservation.as_str())
        .fetch_all(self.reader())
        .await
        .map_err(B::map_err)?
        .iter()
        .map(Self::document_meta_from_row)
        .collect()
    }

    async fn document(
        &self,
        reservation: &ReservationId,
        id: &DocumentId,
    ) -> StoreResult<Option<DocumentRecord>> {
        let row = sqlx::query("SELECT * FROM documents WHERE id = $1 AND reservation_id = $2")
            .bind(id.as_str())
            .bind(reservation.as_str())
            .fetch_optional(self.reader())
            .await
            .map_err(B::map_err)?;
        row.map(|r| {
            Ok(DocumentRecord {
                meta: Self::document_meta_from_row(&r)?,
                content_ct: r.try_get("content_ct").map_err(internal)?,
            })
        })
        .transpose()
    }

    async fn delete_document(
        &self,
        reservation: &ReservationId,
        id: &DocumentId,
        uploader: Uploader,
    ) -> StoreResult<bool> {
        let mut tx = B::begin_write(self.writer()).await?;
        let gone = sqlx::query(
            "DELETE FROM documents WHERE id = $1 AND reservation_id = $2 AND uploaded_by = $3",
        )
        .bind(id.as_str())
        .bind(reservation.as_str())
        .bind(uploader.as_str())
        .execute(&mut *tx)
        .await
        .map_err(B::map_err)
        .map(B::rows_affected)?;
        if gone == 0 {
            return Ok(false);
        }
        sqlx::query(
            "UPDATE document_counts SET documents = documents - 1 WHERE reservation_id = $1",
        )
        .bind(reservation.as_str())
        .execute(&mut *tx)
        .await
        .map_err(B::map_err)?;
        crate::commit::<B>(tx).await?;
        Ok(true)
    }

    async fn document_ids_of(
        &self,
        reservations: &[ReservationId],
    ) -> StoreResult<Vec<DocumentId>> {
        let mut out = Vec::new();
        for r in reservations {
            for row in sqlx::query("SELECT id FROM documents WHERE reservation_id = $1 ORDER BY id")
                .bind(r.as_str())
                .fetch_all(self.writer())
                .await
                .map_err(B::map_err)?
            {
                out.push(DocumentId(row.try_get("id").map_err(internal)?));
            }
        }
        Ok(out)
    }

    async fn delete_documents_of(&self, reservations: &[ReservationId]) -> StoreResult<u64> {
        let mut tx = B::begin_write(self.writer()).await?;
        let mut gone = 0;
        for r in reservations {
            gone += sqlx::query("DELETE FROM documents WHERE reservation_id = $1")
                .bind(r.as_str())
                .execute(&mut *tx)
                .await
                .map_err(B::map_err)
                .map(B::rows_affected)?;
            sqlx::query("DELETE FROM document_counts WHERE reservation_id = $1")
                .bind(r.as_str())
                .execute(&mut *tx)
                .await
                .map_err(B::map_err)?;
        }
        crate::commit::<B>(tx).await?;
        Ok(gone)
    }

    // --- prescriptions ---

    async fn insert_signing_key(&self, k: &SigningKeyRecord) -> StoreResult<SigningKeyRecord> {
        let mut tx = B::begin_write(self.writer()).await?;
        // The partial unique index keeps one key in use per practitioner; a racing first use
        // loses quietly and both get the winner's key.
        sqlx::query(
            "INSERT INTO signing_keys (id, practitioner_id, algorithm, public_key, wrapped_key, private_ct, created_at, retired_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, NULL)
             ON CONFLICT DO NOTHING",
        )
        .bind(&k.id)
        .bind(k.practitioner_id.as_str())
        .bind(&k.algorithm)
        .bind(&k.public_key)
        .bind(&k.wrapped_key)
        .bind(&k.private_ct)
        .bind(k.created_at.as_second())
        .execute(&mut *tx)
        .await
        .map_err(B::map_err)?;
        let row = sqlx::query(
            "SELECT * FROM signing_keys WHERE practitioner_id = $1 AND retired_at IS NULL",
        )
        .bind(k.practitioner_id.as_str())
        .fetch_one(&mut *tx)
        .await
        .map_err(B::map_err)?;
        crate::commit::<B>(tx).await?;
        Self::signing_key_from_row(&row)
    }

    async fn current_signing_key(
        &self,
        practitioner: &PractitionerId,
    ) -> StoreResult<Option<SigningKeyRecord>> {
        sqlx::query("SELECT * FROM signing_keys WHERE practitioner_id = $1 AND retired_at IS NULL")
            .bind(practitioner.as_str())
            .fetch_optional(self.reader())
            .await
            .map_err(B::map_err)?
            .as_ref()
            .map(Self::signing_key_from_row)
            .transpose()
    }

    async fn signing_key(&self, id: &str) -> StoreResult<Option<SigningKeyRecord>> {
        sqlx::query("SELECT * FROM signing_keys WHERE id = $1")
            .bind(id)
            .fetch_optional(self.reader())
            .await
            .map_err(B::map_err)?
            .as_ref()
            .map(Self::signing_key_from_row)
            .transpose()
    }

    async fn signing_keys(
        &self,
        practitioner: &PractitionerId,
    ) -> StoreResult<Vec<SigningKeyRecord>> {
        sqlx::query("SELECT * FROM signing_keys WHERE practitioner_id = $1 ORDER BY created_at, id")
            .bind(practitioner.as_str())
            .fetch_all(self.reader())
            .await
            .map_err(B::map_err)?
            .iter()
            .map(Self::signing_key_from_row)
            .collect()
    }

    async fn insert_prescription_with(
        &self,
        rx: &PrescriptionRecord,
        outbox: &OutboxWrite,
    ) -> StoreResult<()> {
        let mut tx = B::begin_write(self.writer()).await?;
        sqlx::query(
            "INSERT INTO prescriptions (id, reservation_id, practitioner_id, key_id, issued_at, payload_ct, signature,
                                        capability_hash, capability_ct, dispensed_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(&rx.id)
        .bind(rx.reservation_id.as_str())
        .bind(rx.practitioner_id.as_str())
        .bind(&rx.key_id)
        .bind(rx.issued_at.as_second())
        .bind(&rx.payload_ct)
        .bind(&rx.signature)
        .bind(&rx.capability_hash)
        .bind(&rx.capability_ct)
        .bind(rx.dispensed_at.map(|t| t.as_second()))
        .execute(&mut *tx)
        .await
        .map_err(B::map_err)?;
        Outbox::<B>::apply_in(&mut tx, outbox).await?;
        crate::commit::<B>(tx).await
    }

    async fn prescription(&self, id: &str) -> StoreResult<Option<PrescriptionRecord>> {
        sqlx::query("SELECT * FROM prescriptions WHERE id = $1")
            .bind(id)
            .fetch_optional(self.reader())
            .await
            .map_err(B::map_err)?
            .as_ref()
            .map(Self::prescription_from_row)
            .transpose()
    }

    async fn prescriptions_of(
        &self,
        reservation: &ReservationId,
    ) -> StoreResult<Vec<PrescriptionRecord>> {
        sqlx::query("SELECT * FROM prescriptions WHERE reservation_id = $1 ORDER BY issued_at, id")
            .bind(reservation.as_str())
            .fetch_all(self.reader())
            .await
            .map_err(B::map_err)?
            .iter()
            .map(Self::prescription_from_row)
            .collect()
    }

    async fn dispense_prescription(&self, id: &str, at: Timestamp) -> StoreResult<bool> {
        Ok(sqlx::query(
            "UPDATE prescriptions SET dispensed_at = $2 WHERE id = $1 AND dispensed_at IS NULL",
        )
        .bind(id)
        .bind(at.as_second())
        .execute(self.writer())
        .await
        .map_err(B::map_err)
        .map(B::rows_affected)?
            == 1)
    }

    async fn enqueue(&self, outbox: &OutboxWrite) -> StoreResult<()> {
        Outbox::<B>::enqueue(self.writer(), outbox).await
    }

    async fn claim_due(
        &self,
        now: Timestamp,
        lease: jiff::SignedDuration,
        limit: i64,
    ) -> StoreResult<Vec<OutboxRow>> {
        Outbox::<B>::claim_due(self.writer(), now, lease, limit).await
    }

    async fn settle_batch(&self, batch: &str, requeue: &[OutboxRow]) -> StoreResult<()> {
        Outbox::<B>::settle_batch(self.writer(), batch, requeue).await
    }

    async fn complete_message(&self, id: &str) -> StoreResult<bool> {
        Outbox::<B>::complete(self.writer(), id).await
    }

    async fn reschedule_message(&self, id: &str, at: Timestamp, error: &str) -> StoreResult<bool> {
        Outbox::<B>::reschedule(self.writer(), id, at, error).await
    }

    async fn dead_letter(&self, id: &str, error: &str, now: Timestamp) -> StoreResult<bool> {
        Outbox::<B>::dead_letter(self.writer(), id, error, now).await
    }

    async fn dead_letters(&self, limit: i64) -> StoreResult<Vec<OutboxRow>> {
        Outbox::<B>::dead_letters(self.reader(), limit).await
    }

    async fn retry_dead_letter(&self, id: &str, now: Timestamp) -> StoreResult<bool> {
        Outbox::<B>::retry_dead_letter(self.writer(), id, now).await
    }

    async fn retry_all_dead_letters(&self, now: Timestamp) -> StoreResult<u64> {
        Outbox::<B>::retry_all_dead_letters(self.writer(), now).await
    }

    async fn practice_notices(
        &self,
        practitioner: &PractitionerId,
        limit: i64,
    ) -> StoreResult<Vec<PracticeNotice>> {
        Outbox::<B>::practice_notices(self.reader(), practitioner, limit).await
    }

    async fn practice_emails_patient_changes(
        &self,
        practitioner: &PractitionerId,
    ) -> StoreResult<bool> {
        let row = sqlx::query("SELECT email_patient_changes FROM practitioners WHERE id = $1")
            .bind(practitioner.as_str())
            .fetch_optional(self.reader())
            .await
            .map_err(B::map_err)?;
        match row {
            Some(r) => r.try_get("email_patient_changes").map_err(internal),
            None => Ok(true),
        }
    }

    async fn set_practice_emails_patient_changes(
        &self,
        practitioner: &PractitionerId,
        on: bool,
    ) -> StoreResult<bool> {
        let done = sqlx::query("UPDATE practitioners SET email_patient_changes = $2 WHERE id = $1")
            .bind(practitioner.as_str())
            .bind(on)
            .execute(self.writer())
            .await
            .map_err(B::map_err)?;
        Ok(B::rows_affected(done) > 0)
    }

    async fn delete_pending(&self, dedupe_keys: &[String]) -> StoreResult<u64> {
        Outbox::<B>::delete_pending(self.writer(), dedupe_keys).await
    }

    async fn outbox_of(&self, account: &AccountId) -> StoreResult<Vec<OutboxRow>> {
        Outbox::<B>::of_account(self.reader(), account).await
    }

    async fn reminder_delays(&self, practitioner: &PractitionerId) -> StoreResult<ReminderDelays> {
        crate::Reminders::<B>::delays(self.reader(), practitioner).await
    }

    async fn put_reminder_delays(
        &self,
        practitioner: &PractitionerId,
        delays: &ReminderDelays,
        now: Timestamp,
    ) -> StoreResult<()> {
        crate::Reminders::<B>::put(self.writer(), practitioner, delays, now).await
    }

    async fn create_slot_alert(&self, alert: &SlotAlert) -> StoreResult<()> {
        crate::Alerts::<B>::create(self.writer(), alert).await
    }

    async fn slot_alerts_of(&self, account: &AccountId) -> StoreResult<Vec<SlotAlert>> {
        crate::Alerts::<B>::of_account(self.reader(), account).await
    }

    async fn slot_offers_of(
        &self,
        account: &AccountId,
        now: Timestamp,
    ) -> StoreResult<Vec<SlotOffer>> {
        crate::Alerts::<B>::offers_of(self.reader(), account, now).await
    }

    async fn delete_slot_alert(&self, account: &AccountId, id: &str) -> StoreResult<bool> {
        crate::Alerts::<B>::delete(self.writer(), account, id).await
    }

    async fn claim_freed_place(
        &self,
        now: Timestamp,
        lease: jiff::SignedDuration,
    ) -> StoreResult<Option<FreedPlace>> {
        crate::Alerts::<B>::claim(self.writer(), now, lease).await
    }

    async fn slot_alert_candidates(&self, place: &FreedPlace) -> StoreResult<Vec<SlotAlert>> {
        crate::Alerts::<B>::candidates(self.reader(), place).await
    }

    async fn offer_freed_place(
        &self,
        place: &FreedPlace,
        alert_id: &str,
        hold: &ReserveRequest,
        outbox: &OutboxWrite,
    ) -> StoreResult<()> {
        crate::Alerts::<B>::offer(self.writer(), place, alert_id, hold, outbox).await
    }

    async fn drop_freed_place(&self, id: &str) -> StoreResult<()> {
        crate::Alerts::<B>::drop_place(self.writer(), id).await
    }

    async fn create_password_reset(
        &self,
        reset: &PasswordReset,
        outbox: &OutboxWrite,
    ) -> StoreResult<()> {
        Outbox::<B>::create_password_reset(self.writer(), reset, outbox).await
    }

    async fn consume_password_reset(
        &self,
        token_hash: &str,
        password_hash: &str,
        now: Timestamp,
    ) -> StoreResult<Option<AccountId>> {
        let done =
            Outbox::<B>::consume_password_reset(self.writer(), token_hash, password_hash, now)
                .await;
        // Every session of the account went; when the outcome is unknown, so is the account.
        self.sessions_changed(match &done {
            Ok(Some(account)) => SessionSignal::Account(account.clone()),
            Ok(None) => return done,
            Err(_) => SessionSignal::Everything,
        });
        done
    }
    async fn create_account_with(
        &self,
        account: &NewAccount,
        settings: &AccountSettings,
        token: Option<&EmailToken>,
        outbox: &OutboxWrite,
    ) -> StoreResult<()> {
        Verification::<B>::create_account_with(self.writer(), account, settings, token, outbox)
            .await
    }

    async fn password_hash(&self, account: &AccountId) -> StoreResult<Option<String>> {
        Verification::<B>::password_hash(self.reader(), account).await
    }

    async fn create_email_token(
        &self,
        token: &EmailToken,
        outbox: &OutboxWrite,
    ) -> StoreResult<()> {
        Verification::<B>::create_email_token(self.writer(), token, outbox).await
    }

    async fn email_token(
        &self,
        token_hash: &str,
        now: Timestamp,
    ) -> StoreResult<Option<EmailToken>> {
        Verification::<B>::email_token(self.reader(), token_hash, now).await
    }

    async fn confirm_email(
        &self,
        token_hash: &str,
        now: Timestamp,
    ) -> StoreResult<Option<AccountId>> {
        Verification::<B>::confirm_email(self.writer(), token_hash, now).await
    }

    async fn change_email(
        &self,
        token_hash: &str,
        account: &AccountId,
        change: &EmailChange,
        now: Timestamp,
        outbox: &OutboxWrite,
    ) -> StoreResult<bool> {
        Verification::<B>::change_email(self.writer(), token_hash, account, change, now, outbox)
            .await
    }

    async fn create_phone_code(&self, code: &PhoneCode, outbox: &OutboxWrite) -> StoreResult<()> {
        Verification::<B>::create_phone_code(self.writer(), code, outbox).await
    }

    async fn check_phone_code(
        &self,
        account: &AccountId,
        code_hash: &str,
        now: Timestamp,
    ) -> StoreResult<PhoneCodeCheck> {
        Verification::<B>::check_phone_code(self.writer(), account, code_hash, now).await
    }

    async fn create_signup_code(&self, code: &SignupCode, outbox: &OutboxWrite) -> StoreResult<()> {
        Verification::<B>::create_signup_code(self.writer(), code, outbox).await
    }

    async fn signup_code_account(
        &self,
        ticket_hash: &str,
        now: Timestamp,
    ) -> StoreResult<Option<AccountId>> {
        Verification::<B>::signup_code_account(self.writer(), ticket_hash, now).await
    }

    async fn renew_signup_code(
        &self,
        code: &SignupCode,
        outbox: &OutboxWrite,
    ) -> StoreResult<bool> {
        Verification::<B>::renew_signup_code(self.writer(), code, outbox).await
    }

    async fn check_signup_code(
        &self,
        ticket_hash: &str,
        code_hash: &str,
        now: Timestamp,
    ) -> StoreResult<SignupCodeCheck> {
        Verification::<B>::check_signup_code(self.writer(), ticket_hash, code_hash, now).await
    }

    async fn update_contact(&self, account: &AccountId, update: &ContactUpdate) -> StoreResult<()> {
        Verification::<B>::update_contact(self.writer(), account, update).await
    }

    async fn put_account_preferences(
        &self,
        account: &AccountId,
        prefs: &AccountPreferences,
    ) -> StoreResult<()> {
        Verification::<B>::put_preferences(self.writer(), account, prefs).await
    }

    async fn change_password(
        &self,
        account: &AccountId,
        password_hash: &str,
        keep_session: Option<&str>,
        outbox: &OutboxWrite,
    ) -> StoreResult<bool> {
        let done = Verification::<B>::change_password(
            self.writer(),
            account,
            password_hash,
            keep_session,
            outbox,
        )
        .await;
        self.sessions_changed(SessionSignal::Account(account.clone()));
        done
    }

    async fn create_invitation_with(
        &self,
        invitation: &NewInvitation,
        outbox: &OutboxWrite,
    ) -> StoreResult<()> {
        let mut tx = B::begin_write(self.writer()).await?;
        let org = Self::ensure_own_organisation_in(
            &mut tx,
            &invitation.practitioner_id,
            invitation.created_at,
        )
        .await?;
        Self::insert_invitation_in(&mut tx, &org, invitation).await?;
        crate::Outbox::<B>::apply_in(&mut tx, outbox).await?;
        crate::commit::<B>(tx).await
    }

    async fn declare_credential(
        &self,
        practitioner: &PractitionerId,
        id: &ProfessionalId,
        at: Timestamp,
    ) -> StoreResult<CredentialRecord> {
        Credentials::<B>::declare(self.writer(), practitioner, id, at).await
    }

    async fn decide_credential(
        &self,
        d: &CredentialDecision<'_>,
    ) -> StoreResult<Option<CredentialRecord>> {
        Credentials::<B>::decide(self.writer(), d).await
    }

    async fn vouch_practitioner(
        &self,
        practitioner: &PractitionerId,
        id: Option<&ProfessionalId>,
        actor: &str,
        at: Timestamp,
    ) -> StoreResult<()> {
        Credentials::<B>::vouch(self.writer(), practitioner, id, actor, at).await
    }

    async fn credential(&self, practitioner: &PractitionerId) -> StoreResult<CredentialRecord> {
        Credentials::<B>::get(self.reader(), practitioner).await
    }

    async fn credentials(
        &self,
        status: Option<CredentialStatus>,
        limit: i64,
    ) -> StoreResult<Vec<CredentialListing>> {
        Credentials::<B>::list(self.reader(), status, limit).await
    }

    async fn credentials_declaring(
        &self,
        id: &ProfessionalId,
    ) -> StoreResult<Vec<CredentialListing>> {
        Credentials::<B>::declaring(self.reader(), id).await
    }

    async fn credential_seq(&self) -> StoreResult<i64> {
        Credentials::<B>::seq(self.reader()).await
    }

    async fn credentials_changed_since(
        &self,
        seq: i64,
        limit: i64,
    ) -> StoreResult<Vec<(i64, PractitionerId)>> {
        Credentials::<B>::changed_since(self.reader(), seq, limit).await
    }

    async fn credential_events(
        &self,
        practitioner: &PractitionerId,
    ) -> StoreResult<Vec<CredentialEvent>> {
        Credentials::<B>::events(self.reader(), practitioner).await
    }

    async fn create_operator(
        &self,
        account: &NewAccount,
        roles: &[Permission],
        created_by: &str,
        set_password: &PasswordReset,
        outbox: &OutboxWrite,
    ) -> StoreResult<()> {
        Operators::<B>::create(
            self.writer(),
            account,
            roles,
            created_by,
            set_password,
            outbox,
        )
        .await
    }

    async fn operator(&self, account: &AccountId) -> StoreResult<Option<OperatorRecord>> {
        Operators::<B>::get(self.reader(), account).await
    }

    async fn operators(&self) -> StoreResult<Vec<OperatorRecord>> {
        Operators::<B>::list(self.reader()).await
    }

    async fn set_operator_roles(
        &self,
        account: &AccountId,
        roles: &[Permission],
    ) -> StoreResult<bool> {
        Operators::<B>::set_roles(self.writer(), account, roles).await
    }

    async fn disable_operator(&self, account: &AccountId, at: Timestamp) -> StoreResult<bool> {
        let done = Operators::<B>::disable(self.writer(), account, at).await;
        self.sessions_changed(SessionSignal::Account(account.clone()));
        done
    }

    async fn record_operator_action(
        &self,
        at: Timestamp,
        actor: &str,
        action: &str,
        target: Option<&str>,
    ) -> StoreResult<i64> {
        Operators::<B>::record_action(self.writer(), at, actor, action, target).await
    }

    async fn operator_actions(&self, limit: i64) -> StoreResult<Vec<OperatorAction>> {
        Operators::<B>::actions(self.reader(), limit).await
    }

    async fn file_practice_patient(
        &self,
        entry: &PracticePatient,
        terms: &[i64],
    ) -> StoreResult<PracticePatient> {
        Directory::<B>::file(self.writer(), entry, terms).await
    }

    async fn practice_patients_with_terms(
        &self,
        practitioner: &PractitionerId,
        terms: &[i64],
        limit: i64,
    ) -> StoreResult<Vec<PracticePatient>> {
        Directory::<B>::with_terms(self.reader(), practitioner, terms, limit).await
    }

    async fn practice_patient(
        &self,
        practitioner: &PractitionerId,
        id: &str,
    ) -> StoreResult<Option<PracticePatient>> {
        Directory::<B>::one(self.reader(), practitioner, id).await
    }

    async fn practice_patient_of_account(
        &self,
        practitioner: &PractitionerId,
        account: &AccountId,
    ) -> StoreResult<Option<PracticePatient>> {
        Directory::<B>::of_account(self.reader(), practitioner, account).await
    }

    async fn set_practice_patient_note(
        &self,
        practitioner: &PractitionerId,
        id: &str,
        note_ct: Option<&[u8]>,
    ) -> StoreResult<bool> {
        Directory::<B>::set_note(self.writer(), practitioner, id, note_ct).await
    }

    async fn merge_practice_patients(&self, merge: &PatientMerge) -> StoreResult<()> {
        Directory::<B>::merge(self.writer(), merge).await
    }
}

/// The reservations of one agenda packed by [`Backend::RESERVATIONS_AGG`].
fn unpack_reservations(packed: &str) -> StoreResult<Vec<Reservation>> {
    let bad = || codec::corrupt("packed reservations");
    let int = |s: &str| s.parse::<i64>().map_err(|_| bad());
    packed
        .split(';')
        .map(|one| {
            let mut f = one.split(',');
            let (Some(start), Some(end), Some(pooled), Some(expires), None) =
                (f.next(), f.next(), f.next(), f.next(), f.next())
            else {
                return Err(bad());
            };
            Ok(Reservation {
                start: ts(int(start)?)?,
                end: ts(int(end)?)?,
                pooled: pooled == "1",
                expires_at: match expires {
                    "" => None,
                    e => Some(ts(int(e)?)?),
                },
            })
        })
        .collect()
}
