//! The reservation row's rules, one CHECK calling `careslot_reservation_rules` since
//! migration 0078: each rule still refuses a row that breaks it, on INSERT and on UPDATE,
//! with SQLSTATE 23514 and the rule's name as the constraint (the store maps
//! `reservations_visit_*` to "not live"), and a rule whose value is NULL passes, as in a
//! CHECK.

use careslot_domain::*;
use careslot_store::suite::fixture;
use careslot_store::Store;
use careslot_store_postgres::{testing, PgStore};
use sqlx::{Connection, PgConnection};

/// The columns the rules read, with a valid booked row's values.
#[derive(Clone)]
struct Row {
    status: &'static str,
    expires_at: Option<i64>,
    start: i64,
    end: i64,
    own_duration_min: Option<i64>,
    arrived_at: Option<i64>,
    consulting_at: Option<i64>,
    done_at: Option<i64>,
    no_show_at: Option<i64>,
    vaccine_series: Option<&'static str>,
    vaccine_dose: Option<i64>,
    vaccine_protocol: Option<i64>,
    stock_product: Option<&'static str>,
    stock_day: Option<&'static str>,
}

fn booked(start: i64) -> Row {
    Row {
        status: "booked",
        expires_at: None,
        start,
        end: start + 900,
        own_duration_min: None,
        arrived_at: None,
        consulting_at: None,
        done_at: None,
        no_show_at: None,
        vaccine_series: None,
        vaccine_dose: None,
        vaccine_protocol: None,
        stock_product: None,
        stock_day: None,
    }
}

/// Inserts `row` on `agenda`; the refusal's (SQLSTATE, constraint) if refused.
async fn insert(
    conn: &mut PgConnection,
    agenda: &str,
    row: &Row,
) -> Result<String, (String, Option<String>)> {
    let id = ReservationId::new().to_string();
    sqlx::query(
        "INSERT INTO reservations (id, agenda_id, motive_ct, patient_ct, pool, created_at,
             updated_at, status, expires_at, start_s, end_s, own_duration_min, arrived_at,
             consulting_at, done_at, no_show_at, vaccine_series, vaccine_dose,
             vaccine_protocol, stock_product, stock_day)
         VALUES ($1, $2, 'm', 'p', $1, 0, 0, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13,
                 $14, $15, $16)",
    )
    .bind(&id)
    .bind(agenda)
    .bind(row.status)
    .bind(row.expires_at)
    .bind(row.start)
    .bind(row.end)
    .bind(row.own_duration_min)
    .bind(row.arrived_at)
    .bind(row.consulting_at)
    .bind(row.done_at)
    .bind(row.no_show_at)
    .bind(row.vaccine_series)
    .bind(row.vaccine_dose)
    .bind(row.vaccine_protocol)
    .bind(row.stock_product)
    .bind(row.stock_day)
    .execute(conn)
    .await
    .map(|_| id)
    .map_err(refusal)
}

fn refusal(e: sqlx::Error) -> (String, Option<String>) {
    match e {
        sqlx::Error::Database(db) => (
            db.code().map(|c| c.into_owned()).unwrap_or_default(),
            db.constraint().map(str::to_owned),
        ),
        other => panic!("not a database refusal: {other}"),
    }
}

#[tokio::test]
async fn each_rule_refuses_by_its_name_and_null_passes() {
    let url = testing::fresh_database()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let store = PgStore::connect(&url, 2).await.expect("connect");
    let f = fixture(&store, 15, 1).await;
    let agenda = f.agenda.id.as_str();
    let mut conn = PgConnection::connect(&url).await.expect("connect");
    let hour = |h: i64| 2_000_000_000 + h * 3600;

    // (what the row breaks, the row) — each on its own hour, so no two overlap.
    let broken: Vec<(&str, Row)> = vec![
        (
            "reservations_status_check",
            Row {
                status: "lost",
                ..booked(hour(1))
            },
        ),
        (
            "reservations_held_expiry",
            Row {
                status: "held",
                ..booked(hour(2))
            },
        ),
        (
            "reservations_span",
            Row {
                end: hour(3),
                ..booked(hour(3))
            },
        ),
        (
            "reservations_span",
            Row {
                end: hour(4) + 86_401,
                ..booked(hour(4))
            },
        ),
        (
            "reservations_own_duration",
            Row {
                own_duration_min: Some(20),
                ..booked(hour(5))
            },
        ),
        (
            "reservations_own_duration",
            Row {
                own_duration_min: Some(4),
                end: hour(6) + 240,
                ..booked(hour(6))
            },
        ),
        (
            "reservations_visit_live",
            Row {
                status: "cancelled",
                arrived_at: Some(1),
                ..booked(hour(7))
            },
        ),
        (
            "reservations_visit_live_c",
            Row {
                status: "cancelled",
                consulting_at: Some(1),
                ..booked(hour(8))
            },
        ),
        (
            "reservations_visit_live_d",
            Row {
                status: "expired",
                done_at: Some(1),
                ..booked(hour(9))
            },
        ),
        (
            "reservations_visit_no_show",
            Row {
                no_show_at: Some(1),
                ..booked(hour(10))
            },
        ),
        (
            "reservations_dose_check",
            Row {
                vaccine_series: Some("s"),
                ..booked(hour(11))
            },
        ),
        (
            "reservations_dose_check",
            Row {
                vaccine_series: Some("s"),
                vaccine_dose: Some(4),
                vaccine_protocol: Some(1),
                ..booked(hour(12))
            },
        ),
        (
            "reservations_dose_check",
            Row {
                stock_product: Some("comirnaty"),
                ..booked(hour(13))
            },
        ),
    ];
    for (rule, row) in &broken {
        let got = insert(&mut conn, agenda, row).await;
        assert_eq!(
            got,
            Err(("23514".to_owned(), Some((*rule).to_owned()))),
            "a row breaking {rule}"
        );
    }

    // Rows every rule lets through, NULLs included (a dose number is NULL outside a series,
    // and `BETWEEN 1 AND 3` of NULL is NULL, which a CHECK passes).
    let fine = [
        booked(hour(20)),
        Row {
            status: "held",
            expires_at: Some(5),
            ..booked(hour(21))
        },
        Row {
            own_duration_min: Some(25),
            end: hour(22) + 1500,
            ..booked(hour(22))
        },
        Row {
            arrived_at: Some(1),
            consulting_at: Some(2),
            done_at: Some(3),
            ..booked(hour(23))
        },
        Row {
            status: "no_show",
            no_show_at: Some(1),
            ..booked(hour(24))
        },
        Row {
            vaccine_series: Some("s"),
            vaccine_dose: Some(2),
            vaccine_protocol: Some(1),
            ..booked(hour(25))
        },
        Row {
            status: "cancelled",
            ..booked(hour(26))
        },
    ];
    let mut ids = Vec::new();
    for row in &fine {
        ids.push(insert(&mut conn, agenda, row).await.expect("a valid row"));
    }

    // On UPDATE too: an arrived visit cannot be cancelled while its arrival stands, and its
    // row is unchanged by the refused statement.
    let arrived = &ids[3];
    let got = sqlx::query("UPDATE reservations SET status = 'cancelled' WHERE id = $1")
        .bind(arrived)
        .execute(&mut conn)
        .await
        .map_err(refusal);
    assert_eq!(
        got.map(|_| ()),
        Err((
            "23514".to_owned(),
            Some("reservations_visit_live".to_owned())
        ))
    );
    let status: String = sqlx::query_scalar("SELECT status FROM reservations WHERE id = $1")
        .bind(arrived)
        .fetch_one(&mut conn)
        .await
        .expect("status");
    assert_eq!(status, "booked");
    let got = sqlx::query(
        "UPDATE reservations SET status = 'cancelled', arrived_at = NULL, consulting_at = NULL,
                                 done_at = NULL WHERE id = $1",
    )
    .bind(arrived)
    .execute(&mut conn)
    .await
    .map_err(refusal);
    assert_eq!(got.map(|r| r.rows_affected()), Ok(1));

    // The nine CHECKs are one constraint now.
    let checks: Vec<String> = sqlx::query_scalar(
        "SELECT conname::text FROM pg_constraint
          WHERE conrelid = 'reservations'::regclass AND contype = 'c'",
    )
    .fetch_all(&mut conn)
    .await
    .expect("constraints");
    assert_eq!(checks, vec!["reservations_rules".to_owned()]);
    store.close().await;
}
