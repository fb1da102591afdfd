//! Three `careslot serve` processes on one PostgreSQL database behind a real HAProxy
//! (`careslot bench rush --nodes 3`, which generates the balancer's configuration): a rush
//! through the balancer during which a node is killed with SIGKILL three times (each node
//! in turn, restarted after each kill), and another while every node is stopped with
//! SIGTERM and restarted in turn. Then the checker: every
//! acknowledged booking is in the database, none double-booked, no orphan dose, every
//! booking sent again with its Idempotency-Key answers the same appointments, and no 500.
//! Its counts are printed. (HAProxy: `apt-get install haproxy`, see scripts/install-test-deps.)

use serde_json::Value;
use std::process::Command;
use std::sync::Mutex;

/// One rush at a time: each runs three servers, and PostgreSQL's connections are few.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn rush(extra: &[&str]) -> Value {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let admin = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let mut args = vec![
        "bench",
        "rush",
        "--quick",
        "--nodes",
        "3",
        "--postgres",
        &admin,
    ];
    args.extend_from_slice(extra);
    let out = Command::new(env!("CARGO_BIN_EXE_careslot"))
        .args(&args)
        .env("CARESLOT_LOG", "warn")
        .output()
        .expect("cannot run careslot");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "bench rush {args:?} failed (it needs PostgreSQL at {admin}, pgbench and haproxy):\n{stderr}"
    );
    let report: Value =
        serde_json::from_slice(&out.stdout).expect("bench rush prints one JSON object");
    println!("{}: checker {}", extra.join(" "), report["checker"]);
    println!("{}: chaos {}", extra.join(" "), report["chaos"]);
    report
}

/// The invariants every run must keep, whatever happened to the nodes.
fn assert_nothing_wrong(report: &Value) {
    let c = &report["checker"];
    assert_eq!(report["nodes"], 3);
    assert_eq!(report["balancer"], "haproxy");
    for rule in [
        "lost",
        "double_booked",
        "orphan_doses",
        "replay_mismatched",
        "replay_failed",
        "replay_other_not_refused",
    ] {
        assert_eq!(c[rule], 0, "{rule} must be 0: {c:#}");
    }
    assert_eq!(report["over_capacity"], 0, "{report:#}");
    assert_eq!(report["over_stock"], 0, "{report:#}");
    assert!(
        c["acknowledged"].as_u64().unwrap_or(0) > 0,
        "nothing was booked: {c:#}"
    );
    assert_eq!(c["acknowledged"].as_i64(), c["found"].as_i64(), "{c:#}");
    assert!(
        c["replayed"].as_u64().unwrap_or(0) > 0,
        "the checker replayed nothing: {c:#}"
    );
    assert!(c["server_errors"].get("500").is_none(), "a 500: {c:#}");
}

#[test]
fn three_nodes_behind_haproxy_killed_mid_rush() {
    let report = rush(&["--kill-rounds", "3"]);
    assert_nothing_wrong(&report);
    assert_eq!(report["chaos"]["signal"], "SIGKILL", "{report:#}");
    let rounds = report["chaos"]["kill_rounds"].as_array().expect("rounds");
    assert_eq!(rounds.len(), 3, "{rounds:?}");
    assert!(rounds.iter().all(|r| r["ready"] == true), "{rounds:?}");
    // Then the shared waiting room, through the balancer: one queue for three nodes.
    let wr = &report["waiting_room"];
    assert!(
        wr["admitted_per_s"].as_f64().unwrap_or(0.0) > 0.0,
        "the waiting room admitted nobody: {wr:#}"
    );
    // (Holds, and bookings of doses given directly.)
    let refused: u64 = ["hold", "book"]
        .iter()
        .map(|e| wr["latency_ms"][e]["statuses"]["429"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(refused, 0, "admitted tickets were refused: {wr:#}");
}

#[test]
fn rolling_restart_loses_nothing_and_answers_only_503_with_retry_after() {
    let report = rush(&["--rolling-restart", "--no-waiting-room"]);
    assert_nothing_wrong(&report);
    let steps = report["chaos"]["rolling_restart"]
        .as_array()
        .expect("the restarts");
    assert_eq!(steps.len(), 3, "{steps:?}");
    for s in steps {
        assert_eq!(s["exited_cleanly"], true, "SIGTERM within the bound: {s}");
        assert_eq!(s["ready"], true, "back and ready: {s}");
    }
    let c = &report["checker"];
    let errors = c["server_errors"].as_object().expect("server errors");
    assert!(
        errors.keys().all(|k| k == "503"),
        "only 503 (with Retry-After) may come out of a rolling restart: {c:#}"
    );
    assert_eq!(c["bare_503"], 0, "a 503 without Retry-After: {c:#}");
}
