//! `careslot_reserve_group` (migration 0073) called directly: one row per request, in order,
//! each request under its own block (a refusal is its SQLSTATE, a key seen before in the
//! group a replay, an unknown motive the function's own refusal), and a hold past its expiry
//! swept by the request for its place. The store suite checks the same outcomes through the
//! store (`singles_in_groups`); this checks the function's rows themselves.

use careslot_domain::*;
use careslot_store::suite::fixture;
use careslot_store::Store;
use careslot_store_postgres::{testing, PgStore};
use sqlx::{Connection, PgConnection, Row};

/// One request of a call: (id, agenda, motive, start, key).
type Req<'a> = (String, &'a str, &'a str, i64, Option<&'a str>);

/// (state, sqlstate, message) per request, in order.
async fn call(
    conn: &mut PgConnection,
    now: i64,
    reqs: &[Req<'_>],
) -> Vec<(String, Option<String>, Option<String>)> {
    let n = reqs.len();
    let rows = sqlx::query(
        "SELECT o_req, o_state, o_sqlstate, o_message FROM careslot_reserve_group(
            $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
    )
    .bind(vec![now; n])
    .bind(reqs.iter().map(|r| r.0.clone()).collect::<Vec<_>>())
    .bind(reqs.iter().map(|r| r.1).collect::<Vec<_>>())
    .bind(reqs.iter().map(|r| r.2).collect::<Vec<_>>())
    .bind(vec![b"motive".to_vec(); n])
    .bind(vec![b"patient".to_vec(); n])
    .bind(vec![7i64; n])
    .bind(vec![None::<Vec<u8>>; n])
    .bind(vec![None::<Vec<u8>>; n])
    .bind(reqs.iter().map(|r| r.3).collect::<Vec<_>>())
    .bind(vec![None::<String>; n])
    .bind(vec![None::<i64>; n])
    .bind(reqs.iter().map(|r| r.4).collect::<Vec<_>>())
    .bind(reqs.iter().map(|r| r.4.map(|_| "h")).collect::<Vec<_>>())
    .fetch_all(conn)
    .await
    .expect("call");
    assert_eq!(rows.len(), n);
    rows.iter()
        .enumerate()
        .map(|(i, r)| {
            assert_eq!(r.get::<i32, _>("o_req") as usize, i + 1);
            (r.get("o_state"), r.get("o_sqlstate"), r.get("o_message"))
        })
        .collect()
}

#[tokio::test]
async fn one_row_per_request_each_in_its_own_block() {
    let url = testing::fresh_database()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let store = PgStore::connect(&url, 4).await.expect("connect");
    let single = fixture(&store, 15, 1).await;
    let pooled = fixture(&store, 15, 2).await;
    let mut conn = PgConnection::connect(&url).await.expect("connect");
    let (a, m) = (single.agenda.id.as_str(), single.motive.id.as_str());
    let (pa, pm) = (pooled.agenda.id.as_str(), pooled.motive.id.as_str());
    let now = jiff::Timestamp::now().as_second();
    let at = |h: i64| now + 86_400 + h * 3600;
    let id = || ReservationId::new().to_string();

    let out = call(
        &mut conn,
        now,
        &[
            (id(), a, m, at(1), None),
            (id(), a, m, at(2), Some("key-1")),
            // The first request's place: refused by the exclusion constraint.
            (id(), a, m, at(1), None),
            // Pooled: its own block.
            (id(), pa, pm, at(1), None),
            // The second request's key again: its block finds the key, a replay.
            (id(), a, m, at(3), Some("key-1")),
            // No such motive: its own block, not found.
            (id(), a, "no-such-motive", at(4), None),
        ],
    )
    .await;
    assert_eq!(out[0].0, "ok");
    assert_eq!(out[1].0, "ok");
    assert_eq!(out[2].0, "error");
    assert_eq!(out[2].1.as_deref(), Some("23P01"));
    assert_eq!(out[3].0, "ok");
    assert_eq!(out[4].0, "replay");
    assert_eq!(out[5].0, "error");
    assert_eq!(out[5].2.as_deref(), Some("careslot_not_found"));
    let key: String =
        sqlx::query_scalar("SELECT reservation_id FROM idempotency_keys WHERE key_hash = 'key-1'")
            .fetch_one(&mut conn)
            .await
            .expect("the key is recorded with its reservation");
    let live: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM reservations WHERE agenda_id = $1 AND status = 'booked'",
    )
    .bind(a)
    .fetch_one(&mut conn)
    .await
    .expect("count");
    assert_eq!(live, 2);
    assert!(!key.is_empty());

    // A hold past its expiry: the request for its place sweeps it and books.
    let hold = id();
    sqlx::query(
        "INSERT INTO reservations (id, agenda_id, motive_ct, patient_ct, start_s, end_s, pool,
                                   status, expires_at, created_at, updated_at)
         VALUES ($1, $2, 'm', 'p', $3, $3 + 900, $1, 'held', $4, $4, $4)",
    )
    .bind(&hold)
    .bind(a)
    .bind(at(5))
    .bind(now - 60)
    .execute(&mut conn)
    .await
    .expect("lapsed hold");
    let out = call(
        &mut conn,
        now,
        &[(id(), a, m, at(5), None), (id(), a, m, at(1), None)],
    )
    .await;
    assert_eq!(out[0].0, "ok", "the lapsed hold's place, swept");
    assert_eq!(out[1].0, "error");
    assert_eq!(out[1].1.as_deref(), Some("23P01"));
    let status: String = sqlx::query_scalar("SELECT status FROM reservations WHERE id = $1")
        .bind(&hold)
        .fetch_one(&mut conn)
        .await
        .expect("hold");
    assert_eq!(status, "expired");
    store.close().await;
}
