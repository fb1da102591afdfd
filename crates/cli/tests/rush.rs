//! The rush's rules, checked on every CI run: `careslot bench rush --quick` against the local
//! PostgreSQL must never double-book, overfill a line, overspend stock, lose a confirmed
//! booking or leave half a dose series. (Throughput is reported by the benchmark, not
//! asserted here: the machines are noisy.)

use std::process::Command;

#[test]
fn quick_rush_breaks_no_rule() {
    let admin = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let out = Command::new(env!("CARGO_BIN_EXE_careslot"))
        .args(["bench", "rush", "--quick", "--postgres", &admin])
        .env("CARESLOT_LOG", "warn")
        .output()
        .expect("cannot run careslot");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "bench rush failed (it needs PostgreSQL at {admin} and pgbench: apt-get install \
         postgresql-client):\n{stderr}"
    );
    let report: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("bench rush prints one JSON object");
    for rule in [
        "double_booked",
        "over_capacity",
        "over_stock",
        "lost",
        "orphan_doses",
    ] {
        assert_eq!(report[rule], 0, "{rule} must be 0:\n{report:#}\n{stderr}");
    }
    // The run must have exercised what it judges.
    assert!(
        report["booked_in_db"].as_i64().unwrap_or(0) > 0,
        "nothing was booked:\n{report:#}"
    );
    assert!(report["paired_per_s"].as_f64().unwrap_or(0.0) > 0.0);
    assert!(report["availability_rps"].as_f64().unwrap_or(0.0) > 0.0);
    assert!(report["naive_tps"].as_f64().unwrap_or(0.0) > 0.0);
    assert_eq!(report["errors"], 0, "server errors:\n{report:#}\n{stderr}");
    // Both booking paths ran, and every key answered as the contract says when sent again:
    // the same request, the same appointments; another request, 422.
    let c = &report["checker"];
    assert!(c["series_direct"].as_u64().unwrap_or(0) > 0, "{c:#}");
    assert!(c["series_held"].as_u64().unwrap_or(0) > 0, "{c:#}");
    assert!(c["replayed"].as_u64().unwrap_or(0) > 0, "{c:#}");
    for rule in [
        "replay_mismatched",
        "replay_failed",
        "replay_other_not_refused",
    ] {
        assert_eq!(c[rule], 0, "{rule} must be 0: {c:#}");
    }
    let wr = &report["waiting_room"];
    assert!(
        wr["admitted_per_s"].as_f64().unwrap_or(0.0) > 0.0,
        "the waiting room admitted nobody:\n{wr:#}"
    );
    assert!(wr["queue_rps"].as_f64().unwrap_or(0.0) > 0.0);
    // Every booking made through the waiting room went through an admitted ticket.
    // (Holds, and bookings of doses given directly.)
    let refused: u64 = ["hold", "book"]
        .iter()
        .map(|e| wr["latency_ms"][e]["statuses"]["429"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(refused, 0, "admitted tickets were refused:\n{wr:#}");
}
