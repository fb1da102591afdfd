//! A database made by the released schema (0001 only) and holding data upgrades to the
//! current schema with nothing lost, and keeps enforcing its constraints.

use careslot_domain::*;
use careslot_store::*;
use careslot_store_postgres::{testing, PgStore};
use jiff::Timestamp;
use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;
use std::path::Path;

const T: i64 = 1_900_000_000;

/// Rows in every table of 0001, written as the released version would have.
const RELEASED_DATA: &str = r"
INSERT INTO settings (name, value) VALUES ('bidx-key', 'vault:v1:bidx');
INSERT INTO accounts (id, role, password_hash, created_at, wrapped_key, email_ct, name_ct, phone_ct, birth_date_ct, email_bidx, email_uniq)
VALUES ('acc-pat', 'patient', 'hash-p', 1900000000, 'vault:v1:pat', '\x0101', '\x0102', '\x0103', NULL, 17, 'uniq-pat'),
       ('acc-doc', 'practitioner', 'hash-d', 1900000001, 'vault:v1:doc', '\x0201', '\x0202', NULL, '\x0204', 18, 'uniq-doc');
INSERT INTO sessions (token_hash, account_id, created_at, expires_at)
VALUES ('sess-pat', 'acc-pat', 1900000000, 1900003600),
       ('sess-doc', 'acc-doc', 1900000000, 1900003600);
INSERT INTO practitioners (id, account_id, name, specialty, languages, bio)
VALUES ('pr-1', 'acc-doc', 'Dr Released', 'general-practitioner', 'fr,en', NULL);
INSERT INTO places (id, practitioner_id, name, address, postcode, city, country, lat, lon, timezone)
VALUES ('pl-1', 'pr-1', 'Cabinet', '1 rue de la Paix', '75002', 'Paris', 'FR', 48.8686, 2.3314, 'Europe/Paris');
INSERT INTO agendas (id, practitioner_id, place_id, timezone, holidays, wrapped_key)
VALUES ('ag-1', 'pr-1', 'pl-1', 'Europe/Paris', 'FR', 'vault:v1:agenda');
INSERT INTO motives (id, agenda_id, label_ct, duration_min, capacity, teleconsultation, new_patients_only,
                     bookable_online, min_notice_min, max_horizon_days)
VALUES ('mo-1', 'ag-1', '\x0301', 20, 1, false, false, true, 60, 90),
       ('mo-2', 'ag-1', '\x0302', 10, 2, false, false, true, 0, 30);
INSERT INTO opening_rules (id, agenda_id, weekdays, start_min, end_min, valid_from, valid_until)
VALUES ('ru-1', 'ag-1', 62, 480, 720, '2030-01-01', NULL);
INSERT INTO opening_rule_motives (rule_id, motive_id) VALUES ('ru-1', 'mo-1'), ('ru-1', 'mo-2');
INSERT INTO absences (id, agenda_id, start_s, end_s, reason) VALUES ('ab-1', 'ag-1', 1900100000, 1900103600, NULL);
INSERT INTO reservations (id, agenda_id, motive_ct, patient_ct, note_ct, patient_bidx, start_s, end_s, pool, status,
                          expires_at, created_at, updated_at)
VALUES ('re-1', 'ag-1', '\x0401', '\x0402', '\x0403', 17, 1900200000, 1900201200, 're-1', 'booked', NULL, 1900000000, 1900000000),
       ('re-2', 'ag-1', '\x0411', '\x0412', NULL, 17, 1900300000, 1900300600, 'p:1900300000:1900300600', 'booked', NULL, 1900000000, 1900000000);
INSERT INTO pool_counters (agenda_id, start_s, end_s, capacity, taken) VALUES ('ag-1', 1900300000, 1900300600, 2, 1);
INSERT INTO idempotency_keys (key_hash, request_hash, reservation_id, created_at) VALUES ('key-1', 'req-1', 're-1', 1900000000);
INSERT INTO audit_log (seq, at, subject_bidx, entry_ct, mac) VALUES (1, 1900000000, 17, '\x0501', 'mac-1');
";

const RELEASED_TABLES: [&str; 14] = [
    "settings",
    "accounts",
    "sessions",
    "practitioners",
    "places",
    "agendas",
    "motives",
    "opening_rules",
    "opening_rule_motives",
    "absences",
    "reservations",
    "pool_counters",
    "idempotency_keys",
    "audit_log",
];

async fn released_columns(pool: &PgPool) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    for table in RELEASED_TABLES {
        let cols: Vec<String> = sqlx::query_scalar(
            "SELECT column_name::text FROM information_schema.columns
              WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position",
        )
        .bind(table)
        .fetch_all(pool)
        .await
        .expect("columns");
        out.push((table.to_owned(), cols));
    }
    out
}

/// Every released table's rows, in a stable order, as text: its columns as of `columns`.
async fn dump(pool: &PgPool, columns: &[(String, Vec<String>)]) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    for (table, cols) in columns {
        let rows: Vec<String> = sqlx::query_scalar(&format!(
            "SELECT ROW({})::text AS r FROM {table} ORDER BY 1",
            cols.join(", ")
        ))
        .fetch_all(pool)
        .await
        .expect("dump");
        out.push((table.clone(), rows));
    }
    out
}

async fn count(pool: &PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(pool).await.expect(sql)
}

fn ts(s: i64) -> Timestamp {
    Timestamp::from_second(s).expect("timestamp")
}

#[tokio::test]
async fn a_released_database_upgrades_with_its_data() {
    let url = match testing::fresh_database().await {
        Ok(url) => url,
        Err(e) => panic!("{e}"),
    };
    // The released migration alone, applied and recorded by sqlx as it was in production.
    let released = std::env::temp_dir().join(format!(
        "careslot-released-{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir(&released).expect("mkdir");
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/0001_booking_core.sql"),
        released.join("0001_booking_core.sql"),
    )
    .expect("copy 0001");
    let pool = PgPoolOptions::new()
        .max_connections(2)
        .connect(&url)
        .await
        .expect("connect");
    let migrator = sqlx::migrate::Migrator::new(released.as_path())
        .await
        .expect("0001");
    let _ = std::fs::remove_dir_all(&released);
    migrator.run(&pool).await.expect("run 0001");
    sqlx::raw_sql(RELEASED_DATA)
        .execute(&pool)
        .await
        .expect("released data");
    let columns = released_columns(&pool).await;
    let before = dump(&pool, &columns).await;
    assert!(
        before.iter().all(|(_, rows)| !rows.is_empty()),
        "{before:?}"
    );

    let store = PgStore::connect(&url, 4).await.expect("upgrade");

    assert_eq!(dump(&pool, &columns).await, before, "no row or value lost");
    assert_eq!(
        count(&pool, "SELECT max(version) FROM _sqlx_migrations").await,
        latest_migration(),
        "every migration applied"
    );
    assert_eq!(
        count(&pool, "SELECT indexed_to FROM audit_index_state").await,
        1,
        "the access log written before the patient index's watermark counts as indexed"
    );
    let patient = store
        .account(&AccountId("acc-pat".into()))
        .await
        .expect("account")
        .expect("kept");
    assert_eq!(
        (patient.role, patient.managed_by.clone()),
        (Role::Patient, None)
    );
    let booked = store
        .reservation(&ReservationId("re-1".into()))
        .await
        .expect("reservation")
        .expect("kept");
    assert_eq!(
        (booked.patient_ct, booked.relative_ct),
        (Some(vec![4, 2]), None)
    );

    // The role CHECK now allows assistants, and still nothing else.
    let practitioner = PractitionerId("pr-1".into());
    store
        .create_invitation(&NewInvitation {
            token_hash: "inv-1".into(),
            practitioner_id: practitioner.clone(),
            created_at: ts(T),
            expires_at: ts(T + 3600),
        })
        .await
        .expect("invitation");
    let assistant = AccountRecord {
        id: AccountId("acc-asst".into()),
        role: Role::Assistant,
        ..patient.clone()
    };
    assert_eq!(
        store
            .accept_invitation(
                "inv-1",
                &NewAccount {
                    record: assistant.clone(),
                    password_hash: "hash-a".into(),
                    email_bidx: 19,
                    email_uniq: "uniq-asst".into(),
                },
                ts(T + 60),
            )
            .await
            .expect("assistant"),
        practitioner
    );
    assert_eq!(
        store.account(&assistant.id).await.expect("account"),
        Some(assistant)
    );
    let bogus = sqlx::query(
        "INSERT INTO accounts (id, role, password_hash, created_at, wrapped_key, email_ct, name_ct, email_bidx, email_uniq)
         VALUES ('acc-x', 'admin', 'h', 0, 'w', '\\x00', '\\x00', 0, 'uniq-x')",
    )
    .execute(&pool)
    .await;
    assert!(bogus.is_err(), "{bogus:?}");

    // Erasure still cascades to sessions (and now relatives).
    store
        .create_relative(&RelativeRecord {
            id: RelativeId("rel-1".into()),
            account_id: patient.id.clone(),
            created_at: ts(T),
            name_ct: vec![6, 1],
            birth_date_ct: None,
        })
        .await
        .expect("relative");
    store
        .erase_account(&patient.id, &[ReservationId("re-1".into())])
        .await
        .expect("erase");
    assert_eq!(
        count(
            &pool,
            "SELECT count(*) FROM sessions WHERE account_id = 'acc-pat'"
        )
        .await,
        0
    );
    assert_eq!(
        count(
            &pool,
            "SELECT count(*) FROM relatives WHERE account_id = 'acc-pat'"
        )
        .await,
        0
    );
    assert_eq!(
        count(
            &pool,
            "SELECT count(*) FROM sessions WHERE account_id = 'acc-doc'"
        )
        .await,
        1
    );
}

/// A database at `url` migrated by this crate's migrations older than `version` only.
async fn migrated_before(url: &str, version: i64) -> PgPool {
    let before = std::env::temp_dir().join(format!(
        "careslot-before-{version}-{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir(&before).expect("mkdir");
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    for e in std::fs::read_dir(&source).expect("migrations") {
        let name = e.expect("entry").file_name();
        let name = name.to_str().expect("utf-8");
        if name.split('_').next().and_then(|n| n.parse::<i64>().ok()) < Some(version) {
            std::fs::copy(source.join(name), before.join(name)).expect("copy");
        }
    }
    let pool = PgPoolOptions::new()
        .max_connections(2)
        .connect(url)
        .await
        .expect("connect");
    let migrator = sqlx::migrate::Migrator::new(before.as_path())
        .await
        .expect("migrations");
    let _ = std::fs::remove_dir_all(&before);
    migrator.run(&pool).await.expect("run the older migrations");
    pool
}

/// A reservation's id and its vaccine columns (series, dose, protocol, stock product, day).
type DoseColumns = (
    String,
    Option<String>,
    Option<i64>,
    Option<i64>,
    Option<String>,
    Option<String>,
);

/// A vaccination series as it stood before 0077: two booked doses of one series, each with
/// its `stock_uses` and `vaccination_series` rows, and a cancelled dose of another series
/// whose stock was given back already (no `stock_uses` row).
const BEFORE_DOSES_ON_RESERVATIONS: &str = r"
INSERT INTO dose_stock (agenda_id, product, day, doses, used) VALUES ('ag-1', 'comirnaty', '2030-03-01', 10, 2);
INSERT INTO reservations (id, agenda_id, motive_ct, patient_ct, note_ct, patient_bidx, start_s, end_s, pool, status,
                          expires_at, created_at, updated_at)
VALUES ('re-3', 'ag-1', '\x0421', '\x0422', NULL, 17, 1900400000, 1900400600, 're-3', 'cancelled', NULL, 1900000000, 1900000000);
INSERT INTO stock_uses (reservation_id, agenda_id, product, day)
VALUES ('re-1', 'ag-1', 'comirnaty', '2030-03-01'), ('re-2', 'ag-1', 'comirnaty', '2030-03-01');
INSERT INTO vaccination_series (reservation_id, series_id, dose, protocol_version)
VALUES ('re-1', 'se-1', 1, 1), ('re-2', 'se-1', 2, 1), ('re-3', 'se-2', 1, 1);
";

/// Migration 0077 moves each dose's series and stock onto its reservation: the series still
/// reads as one, the stock it holds is given back once on cancellation, and the side
/// tables are gone.
#[tokio::test]
async fn a_series_keeps_its_doses_through_0077() {
    let url = match testing::fresh_database().await {
        Ok(url) => url,
        Err(e) => panic!("{e}"),
    };
    let pool = migrated_before(&url, 77).await;
    sqlx::raw_sql(RELEASED_DATA)
        .execute(&pool)
        .await
        .expect("released data");
    sqlx::raw_sql(BEFORE_DOSES_ON_RESERVATIONS)
        .execute(&pool)
        .await
        .expect("series data");

    let store = PgStore::connect(&url, 4).await.expect("upgrade");
    let moved: Vec<DoseColumns> = sqlx::query_as(
        "SELECT id, vaccine_series, vaccine_dose, vaccine_protocol, stock_product, stock_day
               FROM reservations ORDER BY id",
    )
    .fetch_all(&pool)
    .await
    .expect("moved");
    let dose = |id: &str, series: &str, n: i64, stock: bool| {
        (
            id.to_owned(),
            Some(series.to_owned()),
            Some(n),
            Some(1),
            stock.then(|| "comirnaty".to_owned()),
            stock.then(|| "2030-03-01".to_owned()),
        )
    };
    assert_eq!(
        moved,
        vec![
            dose("re-1", "se-1", 1, true),
            dose("re-2", "se-1", 2, true),
            dose("re-3", "se-2", 1, false),
        ]
    );
    assert_eq!(
        count(
            &pool,
            "SELECT count(*) FROM information_schema.tables
              WHERE table_schema = current_schema() AND table_name IN ('stock_uses', 'vaccination_series')"
        )
        .await,
        0
    );
    let others: Vec<String> = store
        .series_of(&ReservationId("re-1".into()))
        .await
        .expect("series")
        .into_iter()
        .map(|r| r.id.0)
        .collect();
    assert_eq!(others, vec!["re-2".to_owned()]);

    // A cancellation gives the dose back once; the row stops naming the stock.
    let stock = || {
        count(
            &pool,
            "SELECT used FROM dose_stock WHERE day = '2030-03-01'",
        )
    };
    let re1 = ReservationId("re-1".into());
    assert!(store.cancel(&re1, ts(T)).await.expect("cancel").is_some());
    assert_eq!(stock().await, 1);
    assert!(store.cancel(&re1, ts(T)).await.expect("again").is_none());
    assert_eq!(stock().await, 1);
    assert_eq!(
        count(
            &pool,
            "SELECT count(*) FROM reservations WHERE stock_day IS NOT NULL"
        )
        .await,
        1
    );
    // A row naming a stock that does not exist is refused.
    let bogus = sqlx::query("UPDATE reservations SET stock_product = 'comirnaty', stock_day = '2030-03-02' WHERE id = 're-2'")
        .execute(&pool)
        .await;
    assert!(bogus.is_err(), "{bogus:?}");
}

/// The number of the newest migration file of this crate.
fn latest_migration() -> i64 {
    std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations"))
        .expect("migrations dir")
        .filter_map(|e| {
            e.ok()?
                .file_name()
                .to_str()?
                .split('_')
                .next()?
                .parse()
                .ok()
        })
        .max()
        .expect("a migration")
}

/// A practice as it stood before organisations (0050): a practitioner with two agendas, the
/// assistant it invited, an invitation not used yet, and a practitioner without agendas.
const BEFORE_ORGANISATIONS: &str = r"
INSERT INTO accounts (id, role, password_hash, created_at, wrapped_key, email_ct, name_ct, phone_ct, birth_date_ct, email_bidx, email_uniq)
VALUES ('acc-doc', 'practitioner', 'hash-d', 1900000001, 'vault:v1:doc', '\x0201', '\x0202', NULL, NULL, 18, 'uniq-doc'),
       ('acc-new', 'practitioner', 'hash-n', 1900000001, 'vault:v1:new', '\x0211', '\x0212', NULL, NULL, 20, 'uniq-new'),
       ('acc-asst', 'assistant', 'hash-a', 1900000002, 'vault:v1:asst', '\x0221', '\x0222', NULL, NULL, 19, 'uniq-asst');
INSERT INTO practitioners (id, account_id, name, specialty, languages, bio)
VALUES ('pr-1', 'acc-doc', 'Dr Before', 'general-practitioner', 'fr', NULL),
       ('pr-2', 'acc-new', 'Dr Newcomer', 'dentist', 'fr', NULL);
INSERT INTO places (id, practitioner_id, name, address, postcode, city, country, lat, lon, timezone)
VALUES ('pl-1', 'pr-1', 'Cabinet', '1 rue de la Paix', '75002', 'Paris', 'FR', 48.8686, 2.3314, 'Europe/Paris');
INSERT INTO agendas (id, practitioner_id, place_id, timezone, holidays, wrapped_key)
VALUES ('ag-1', 'pr-1', 'pl-1', 'Europe/Paris', 'FR', 'vault:v1:agenda1'),
       ('ag-2', 'pr-1', 'pl-1', 'Europe/Paris', NULL, 'vault:v1:agenda2');
INSERT INTO assistants (account_id, practitioner_id, created_at) VALUES ('acc-asst', 'pr-1', 1900000002);
INSERT INTO invitations (token_hash, practitioner_id, created_at, expires_at) VALUES ('tok-1', 'pr-1', 1900000000, 1900003600);
";

/// Migration 0051 gives every practice a one-person organisation and its assistant a right
/// on each of its agendas: nobody loses access, and the practitioner's next agenda is the
/// assistant's too.
#[tokio::test]
async fn an_assistant_keeps_its_agendas_through_0051() {
    let url = match testing::fresh_database().await {
        Ok(url) => url,
        Err(e) => panic!("{e}"),
    };
    let pool = migrated_before(&url, 51).await;
    sqlx::raw_sql(BEFORE_ORGANISATIONS)
        .execute(&pool)
        .await
        .expect("data");
    pool.close().await;

    let store = PgStore::connect(&url, 4).await.expect("upgrade");
    let asst = AccountId("acc-asst".into());
    for a in ["ag-1", "ag-2"] {
        assert!(store
            .agenda_right(&asst, &AgendaId(a.into()))
            .await
            .expect("right"));
    }
    let orgs = store
        .organisations_of(&PractitionerId("pr-1".into()))
        .await
        .expect("orgs");
    assert_eq!(orgs.len(), 1);
    assert_eq!(orgs[0].name, "Dr Before");
    assert_eq!(
        store.organisation_of_assistant(&asst).await.expect("org"),
        Some(orgs[0].clone())
    );
    assert!(store
        .organisations_of(&PractitionerId("pr-2".into()))
        .await
        .expect("orgs")
        .is_empty());
    store
        .create_agenda(&Agenda {
            id: AgendaId("ag-3".into()),
            practitioner_id: PractitionerId("pr-1".into()),
            place_id: PlaceId("pl-1".into()),
            timezone: "Europe/Paris".into(),
            holidays: None,
            wrapped_key: "vault:v1:agenda3".into(),
        })
        .await
        .expect("agenda");
    assert!(store
        .agenda_right(&asst, &AgendaId("ag-3".into()))
        .await
        .expect("right"));
}
