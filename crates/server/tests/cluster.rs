//! Two app nodes on one PostgreSQL database: a booking on one node disappears from the
//! other node's in-memory availability through LISTEN/NOTIFY.

mod common;

use common::{new_location, start_on, Backend};
use reqwest::StatusCode;
use serde_json::json;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_write_on_one_node_invalidates_the_other() {
    let loc = new_location(Backend::Postgres).await;
    let a = start_on(&loc).await;
    let b = start_on(&loc).await;
    let p = a.practice("Dr Twonodes", 30, 1).await;
    let (patient, _) = a.account("patient", "Nina Morel").await;

    // Node B loads the agenda into its cache.
    let before = b.slots(&p).await;
    let target = before[3]["start"].as_str().unwrap().to_owned();

    let (s, _) = a
        .post(
            "/api/v1/appointments",
            Some(&patient),
            json!({"agenda_id": p.agenda_id, "motive_id": p.motive_id, "start": target}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);

    // NOTIFY is asynchronous: allow it a moment, but it must arrive.
    let started = Instant::now();
    loop {
        let now: Vec<String> = b
            .slots(&p)
            .await
            .iter()
            .map(|s| s["start"].as_str().unwrap().to_owned())
            .collect();
        if !now.contains(&target) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "node B still offers a start booked on node A"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // And B refuses it (the database has the last word regardless).
    let (s, _) = b
        .post(
            "/api/v1/appointments",
            Some(&patient),
            json!({"agenda_id": p.agenda_id, "motive_id": p.motive_id, "start": target}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
}
