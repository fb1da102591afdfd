//! Never a wrong answer under database faults (PostgreSQL): the server's connections are
//! terminated (`pg_terminate_backend`) during a burst of bookings. Every answer is 201, 409
//! or 503 (with `Retry-After` and the retry-with-same-key problem), never 500; every 201 is
//! in the database afterwards; every 503'd booking retried with the same Idempotency-Key
//! answers the appointment it made or books it once.

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::{json, Value};
use sqlx::{Connection, PgConnection};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// Patients in the burst; two per slot, so some must lose (409).
const PATIENTS: usize = 24;
/// Termination rounds during the burst.
const ROUNDS: usize = 4;

struct Attempt {
    patient: usize,
    status: StatusCode,
    retry_after: bool,
    body: Value,
}

async fn book(srv: &TestServer, token: &str, key: &str, body: &Value) -> (StatusCode, bool, Value) {
    let resp = srv
        .client
        .post(format!("{}/api/v1/appointments", srv.base))
        .bearer_auth(token)
        .header("Idempotency-Key", key)
        .json(body)
        .send()
        .await
        .expect("the server answers");
    let status = resp.status();
    let retry_after = resp.headers().get("retry-after").is_some();
    let body = resp.json::<Value>().await.unwrap_or(Value::Null);
    (status, retry_after, body)
}

/// Terminates every connection to `db` but the caller's own.
async fn terminate_all(admin: &mut PgConnection, db: &str) -> u64 {
    sqlx::query_scalar::<_, i64>(
        "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = $1 AND pid <> pg_backend_pid()) t",
    )
    .bind(db)
    .fetch_one(&mut *admin)
    .await
    .map(|n| n as u64)
    .unwrap_or(0)
}

/// A GET that may meet a connection terminated a moment ago: retried while 503.
async fn get_retrying(srv: &TestServer, path: &str, token: &str) -> Value {
    for _ in 0..100 {
        let (s, body) = srv.get(path, Some(token)).await;
        assert_ne!(s, StatusCode::INTERNAL_SERVER_ERROR, "{path}: {body}");
        if s == StatusCode::OK {
            return body;
        }
        assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{path}: {body}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("{path} stayed unavailable");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn terminated_connections_never_give_a_wrong_answer() {
    let loc = new_location(Backend::Postgres).await;
    let Db::Postgres(url) = &loc.db else {
        unreachable!("a PostgreSQL location")
    };
    let db = url
        .rsplit('/')
        .next()
        .and_then(|s| s.split('?').next())
        .expect("database name")
        .to_owned();
    let srv = Arc::new(start_on(&loc).await);
    let p = srv.practice("Dr Fault", 15, 1).await;
    let slots = srv.slots(&p).await;
    assert!(slots.len() >= PATIENTS / 2, "enough slots");
    let mut patients = Vec::new();
    for i in 0..PATIENTS {
        patients.push(
            srv.account("patient", &format!("Fault Patient {i}"))
                .await
                .0,
        );
    }
    let bodies: Vec<Value> = (0..PATIENTS)
        .map(|i| json!({"agenda_id": p.agenda_id, "motive_id": p.motive_id, "start": slots[i / 2]["start"]}))
        .collect();
    let keys: Vec<String> = (0..PATIENTS)
        .map(|i| format!("fault-{i}-{}", uuid_like()))
        .collect();

    let mut admin = PgConnection::connect(url).await.expect("admin connection");
    let burst = {
        let (srv, patients, bodies, keys) =
            (srv.clone(), patients.clone(), bodies.clone(), keys.clone());
        tokio::spawn(async move {
            let tasks: Vec<_> = (0..PATIENTS)
                .map(|i| {
                    let (srv, token, body, key) = (
                        srv.clone(),
                        patients[i].clone(),
                        bodies[i].clone(),
                        keys[i].clone(),
                    );
                    tokio::spawn(async move {
                        let (status, retry_after, body) = book(&srv, &token, &key, &body).await;
                        Attempt {
                            patient: i,
                            status,
                            retry_after,
                            body,
                        }
                    })
                })
                .collect();
            let mut attempts = Vec::new();
            for t in tasks {
                attempts.push(t.await.expect("booking task"));
            }
            attempts
        })
    };
    let mut terminated = 0;
    for _ in 0..ROUNDS {
        terminated += terminate_all(&mut admin, &db).await;
        tokio::task::yield_now().await;
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let attempts = burst.await.expect("burst");
    terminated += terminate_all(&mut admin, &db).await;
    println!("terminated {terminated} connections during the burst");

    let mut by_status: BTreeMap<u16, usize> = BTreeMap::new();
    let mut acknowledged: BTreeMap<usize, String> = BTreeMap::new();
    let mut retried = 0;
    for a in &attempts {
        *by_status.entry(a.status.as_u16()).or_default() += 1;
        match a.status {
            StatusCode::CREATED => {
                acknowledged.insert(a.patient, a.body["id"].as_str().expect("id").to_owned());
            }
            StatusCode::CONFLICT => {}
            StatusCode::SERVICE_UNAVAILABLE => {
                assert!(a.retry_after, "503 without Retry-After: {}", a.body);
                assert_eq!(
                    a.body["type"], "https://careslot.eu/problems/retry-with-same-key",
                    "{}",
                    a.body
                );
                // Retry with the same key until the database answers.
                retried += 1;
                let mut last = None;
                for _ in 0..100 {
                    let (s, ra, body) = book(
                        &srv,
                        &patients[a.patient],
                        &keys[a.patient],
                        &bodies[a.patient],
                    )
                    .await;
                    if s == StatusCode::SERVICE_UNAVAILABLE {
                        assert!(ra, "503 without Retry-After: {body}");
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        continue;
                    }
                    last = Some((s, body));
                    break;
                }
                let (s, body) = last.expect("the retry got an answer");
                assert!(
                    s == StatusCode::CREATED || s == StatusCode::CONFLICT,
                    "a retry answers 201 or 409, not {s}: {body}"
                );
                if s == StatusCode::CREATED {
                    acknowledged.insert(a.patient, body["id"].as_str().expect("id").to_owned());
                }
            }
            other => panic!(
                "{other} during the storm (only 201, 409, 503 allowed): {}",
                a.body
            ),
        }
    }
    println!(
        "answers by status: {by_status:?}; 503s retried with the same key: {retried}; acknowledged: {}",
        acknowledged.len()
    );

    // Every acknowledged booking is there, each patient is booked at most once (a retried
    // 503 that had committed answered the same appointment) and no slot twice.
    let mut starts = BTreeSet::new();
    for (i, token) in patients.iter().enumerate() {
        let mine = get_retrying(&srv, "/api/v1/appointments", token).await;
        let ids: Vec<&str> = mine["appointments"]
            .as_array()
            .expect("appointments")
            .iter()
            .filter(|a| a["status"] != "cancelled")
            .filter_map(|a| a["id"].as_str())
            .collect();
        match acknowledged.get(&i) {
            Some(id) => assert_eq!(ids, vec![id.as_str()], "patient {i}: acknowledged, once"),
            None => assert!(
                ids.is_empty(),
                "patient {i} was refused yet is booked: {ids:?}"
            ),
        }
        for a in mine["appointments"].as_array().expect("appointments") {
            if a["status"] != "cancelled" {
                assert!(
                    starts.insert(a["start"].to_string()),
                    "a slot booked twice: {a}"
                );
            }
        }
    }
    assert_eq!(
        acknowledged.len(),
        PATIENTS / 2,
        "every slot is booked once in the end (one of its two patients)"
    );
}
