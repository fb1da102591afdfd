//! `kill -9` during a booking storm, on one node, on SQLite and on PostgreSQL (several nodes
//! behind HAProxy are `nodes.rs`): patients race for the same places with an
//! `Idempotency-Key` each, the server is killed with SIGKILL in the middle, three rounds.
//! After each restart the checker prints and verifies its counts: every acknowledged booking
//! is there, no place is booked twice, every request is answered the same when retried with
//! its key (a request the kill cut off is answered once and for all), and no 500.

mod common;

use common::{new_place, Node};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

const PATIENTS: usize = 8;
const ROUNDS: usize = 3;
/// Places each round races for (every patient tries each of them, in the same order).
const PER_ROUND: usize = 60;

/// One booking attempt as the client saw it.
struct Attempt {
    token: String,
    key: String,
    body: Value,
    /// The HTTP status, or None when the connection was cut (the kill).
    status: Option<u16>,
    id: Option<String>,
}

async fn book(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    key: &str,
    body: &Value,
) -> (Option<u16>, Value) {
    let sent = client
        .post(format!("{base}/api/v1/appointments"))
        .bearer_auth(token)
        .header("Idempotency-Key", key)
        .json(body)
        .timeout(Duration::from_secs(30))
        .send()
        .await;
    match sent {
        Ok(r) => {
            let status = r.status().as_u16();
            let value = r.json::<Value>().await.unwrap_or(Value::Null);
            (Some(status), value)
        }
        Err(_) => (None, Value::Null),
    }
}

async fn storm(postgres: bool) {
    let root = tempfile::tempdir().expect("temporary directory");
    let place = new_place(root.path(), "storm", postgres).await;
    let mut node = Node::start(&place, &[]).await;
    let (doctor, agenda, motive) = node.practice("storm-doctor@example.test").await;
    let mut patients = Vec::new();
    for i in 0..PATIENTS {
        let (token, _) = node
            .account(
                "patient",
                &format!("Patient {i}"),
                &format!("storm-{i}@example.test"),
            )
            .await;
        patients.push(token);
    }
    let slots = node.slots(&agenda, &motive).await;
    assert!(
        slots.len() >= ROUNDS * PER_ROUND,
        "{} bookable starts",
        slots.len()
    );
    let backend = if postgres { "postgresql" } else { "sqlite" };
    let mut all: Vec<Attempt> = Vec::new();

    for round in 0..ROUNDS {
        let window: Arc<Vec<String>> =
            Arc::new(slots[round * PER_ROUND..(round + 1) * PER_ROUND].to_vec());
        let acknowledged = Arc::new(AtomicUsize::new(0));
        let killed = Arc::new(AtomicBool::new(false));
        let tasks: Vec<_> = patients
            .iter()
            .enumerate()
            .map(|(p, token)| {
                let (token, window, base, client) = (
                    token.clone(),
                    window.clone(),
                    node.base.clone(),
                    node.client.clone(),
                );
                let (acknowledged, killed) = (acknowledged.clone(), killed.clone());
                let (agenda, motive) = (agenda.clone(), motive.clone());
                tokio::spawn(async move {
                    let mut out = Vec::new();
                    // Every patient asks for the same places in the same order: each place
                    // is raced for by all of them at once (one wins, the others hear 409).
                    for k in 0..window.len() {
                        if killed.load(Ordering::Acquire) {
                            break;
                        }
                        let start = &window[k];
                        let key = format!("storm-{round}-{p}-{k}");
                        let body =
                            json!({"agenda_id": agenda, "motive_id": motive, "start": start});
                        let (status, answer) = book(&client, &base, &token, &key, &body).await;
                        if status == Some(201) {
                            acknowledged.fetch_add(1, Ordering::AcqRel);
                        }
                        let id = answer["id"].as_str().map(str::to_owned);
                        out.push(Attempt {
                            token: token.clone(),
                            key,
                            body,
                            status,
                            id,
                        });
                        if status.is_none() {
                            break;
                        }
                    }
                    out
                })
            })
            .collect();
        // SIGKILL once the storm is well under way (some bookings acknowledged, more in
        // flight), not at a fixed time: the machines are noisy.
        let wanted = 8 + round * 4;
        for _ in 0..6000 {
            if acknowledged.load(Ordering::Acquire) >= wanted {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert!(
            acknowledged.load(Ordering::Acquire) >= wanted,
            "round {round}: the storm did not get under way; log:\n{}",
            node.log_text()
        );
        killed.store(true, Ordering::Release);
        let ended = node.signal_and_wait(libc::SIGKILL, Duration::from_secs(30));
        assert!(ended.is_some(), "SIGKILL did not end the server");
        for t in tasks {
            all.extend(t.await.expect("storm task"));
        }
        node = Node::start(&place, &[]).await;
        check(&node, &doctor, &agenda, &all, backend, round).await;
    }
}

/// The checker, after a restart: counts printed, then asserted.
async fn check(
    node: &Node,
    doctor: &str,
    agenda: &str,
    all: &[Attempt],
    backend: &str,
    round: usize,
) {
    let view = node.agenda_appointments(doctor, agenda).await;
    let booked: Vec<&Value> = view["appointments"]
        .as_array()
        .expect("appointments")
        .iter()
        .filter(|a| a["status"] == "booked")
        .collect();
    let present: HashMap<&str, &str> = booked
        .iter()
        .filter_map(|a| Some((a["id"].as_str()?, a["start"].as_str()?)))
        .collect();
    let mut per_start: HashMap<&str, usize> = HashMap::new();
    for start in present.values() {
        *per_start.entry(start).or_default() += 1;
    }
    let double_booked = per_start.values().filter(|n| **n > 1).count();
    let acknowledged: Vec<&Attempt> = all.iter().filter(|a| a.status == Some(201)).collect();
    let found = acknowledged
        .iter()
        .filter(|a| a.id.as_deref().is_some_and(|id| present.contains_key(id)))
        .count();
    let mut server_errors: BTreeMap<u16, usize> = BTreeMap::new();
    for a in all {
        if let Some(s) = a.status.filter(|s| *s >= 500) {
            *server_errors.entry(s).or_default() += 1;
        }
    }
    let cut = all.iter().filter(|a| a.status.is_none()).count();

    // Every attempt retried with its key: an acknowledged one gives the same appointment;
    // one the kill cut off (or answered 503) is now decided once and for all.
    let (mut replay_same, mut replay_differs, mut cut_booked) = (0, 0, 0);
    let client = reqwest::Client::new();
    for a in all {
        let (status, answer) = book(&client, &node.base, &a.token, &a.key, &a.body).await;
        match (a.status, status) {
            (Some(201), Some(201)) if answer["id"].as_str() == a.id.as_deref() => replay_same += 1,
            (Some(201), _) => replay_differs += 1,
            (None | Some(503), Some(201)) => {
                cut_booked += 1;
                let id = answer["id"].as_str().unwrap_or_default();
                let again = book(&client, &node.base, &a.token, &a.key, &a.body).await;
                assert_eq!(again.0, Some(201), "a decided retry changes its answer");
                assert_eq!(
                    again.1["id"].as_str(),
                    Some(id),
                    "a decided retry changes its answer"
                );
            }
            (_, Some(s)) => assert!(s < 500 || s == 503, "a retry answered {s}: {answer}"),
            (_, None) => panic!("the restarted server cut a retry"),
        }
    }
    // Retries may have booked the places cut off: still never twice.
    let after = node.agenda_appointments(doctor, agenda).await;
    let mut starts: HashMap<String, usize> = HashMap::new();
    for a in after["appointments"].as_array().expect("appointments") {
        if a["status"] == "booked" {
            *starts
                .entry(a["start"].as_str().unwrap_or_default().to_owned())
                .or_default() += 1;
        }
    }
    let double_after = starts.values().filter(|n| **n > 1).count();

    eprintln!(
        "kill -9 storm ({backend}, after round {}; counts over all rounds so far): attempts {}, \
         acknowledged {}, found {}, lost {}, double-booked {}, cut by the kill {}, replays same {}, \
         replays differing {}, cut then booked by their retry {}, 5xx {:?}, \
         double-booked after retries {}",
        round + 1,
        all.len(),
        acknowledged.len(),
        found,
        acknowledged.len() - found,
        double_booked,
        cut,
        replay_same,
        replay_differs,
        cut_booked,
        server_errors,
        double_after,
    );
    assert!(!acknowledged.is_empty());
    assert_eq!(found, acknowledged.len(), "acknowledged bookings lost");
    assert_eq!(double_booked, 0, "a place booked twice");
    assert_eq!(double_after, 0, "a place booked twice after the retries");
    assert_eq!(
        replay_differs, 0,
        "a retry with the same key answered differently"
    );
    assert_eq!(replay_same, acknowledged.len());
    assert!(
        server_errors.keys().all(|s| *s == 503),
        "server errors other than 503: {server_errors:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_during_a_storm_on_sqlite() {
    storm(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_during_a_storm_on_postgres() {
    storm(true).await;
}
