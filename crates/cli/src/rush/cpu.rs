//! Where the machine's CPU goes during a phase: the server process, PostgreSQL (all its
//! processes), this generator, and the machine as a whole, read from /proc.
//!
//! This is what bounds a 2-core run: when the machine is busy all the time, bookings per
//! second can be no more than the cores divided by the CPU one booking costs across the
//! processes that serve it.

use serde_json::{json, Value};
use std::time::Instant;

/// Linux reports process times in USER_HZ, which is 100 on every architecture we run.
const TICKS_PER_S: f64 = 100.0;

#[derive(Debug, Clone, Copy)]
pub struct Sample {
    at: Instant,
    server: u64,
    postgres: u64,
    generator: u64,
    /// Machine-wide busy and total ticks (all cores).
    busy: u64,
    total: u64,
}

/// utime + stime of one process, in ticks.
fn process_ticks(pid: &str) -> Option<(String, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may hold spaces: fields start after the last ')'.
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let comm = stat.get(open + 1..close)?.to_owned();
    let fields: Vec<&str> = stat.get(close + 2..)?.split(' ').collect();
    // Field 14 (utime) and 15 (stime) of proc(5); `fields[0]` is field 3.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((comm, utime + stime))
}

fn postgres_ticks() -> u64 {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0;
    };
    dir.flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            name.bytes().all(|b| b.is_ascii_digit()).then_some(name)
        })
        .filter_map(|pid| process_ticks(&pid))
        .filter(|(comm, _)| comm == "postgres")
        .map(|(_, t)| t)
        .sum()
}

fn machine_ticks() -> (u64, u64) {
    let Ok(stat) = std::fs::read_to_string("/proc/stat") else {
        return (0, 0);
    };
    let Some(line) = stat.lines().next() else {
        return (0, 0);
    };
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    let total: u64 = v.iter().take(8).sum();
    // idle and iowait are the 4th and 5th numbers.
    let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
    (total - idle.min(total), total)
}

/// CPU seconds this process has used so far, and the machine's busy and total ticks: for
/// benches that run in-process (`bench pages`) and report CPU per request, which a busy
/// machine does not inflate as it does wall time.
pub(crate) fn own_cpu_and_machine() -> (f64, (u64, u64)) {
    let own = process_ticks("self").map_or(0, |(_, t)| t) as f64 / TICKS_PER_S;
    (own, machine_ticks())
}

impl Sample {
    pub fn now(server_pid: u32) -> Self {
        let (busy, total) = machine_ticks();
        Self {
            at: Instant::now(),
            server: process_ticks(&server_pid.to_string()).map_or(0, |(_, t)| t),
            postgres: postgres_ticks(),
            generator: process_ticks("self").map_or(0, |(_, t)| t),
            busy,
            total,
        }
    }

    /// CPU seconds per process group between `self` and `later`, the machine's busy share,
    /// and the CPU each confirmed booking cost (milliseconds) — an upper bound on what one
    /// booking needs, since the same processes also served the phase's reads.
    pub fn report(&self, later: &Sample, bookings: u64) -> Value {
        let secs = |a: u64, b: u64| b.saturating_sub(a) as f64 / TICKS_PER_S;
        let wall = later.at.duration_since(self.at).as_secs_f64().max(1e-9);
        let server = secs(self.server, later.server);
        let postgres = secs(self.postgres, later.postgres);
        let generator = secs(self.generator, later.generator);
        let busy = later.busy.saturating_sub(self.busy) as f64;
        let total = later.total.saturating_sub(self.total) as f64;
        let per_booking = |s: f64| {
            if bookings == 0 {
                0.0
            } else {
                super::round3(s * 1000.0 / bookings as f64)
            }
        };
        json!({
            "wall_s": super::round3(wall),
            "server_cpu_s": super::round3(server),
            "postgres_cpu_s": super::round3(postgres),
            "generator_cpu_s": super::round3(generator),
            "server_cores": super::round3(server / wall),
            "postgres_cores": super::round3(postgres / wall),
            "generator_cores": super::round3(generator / wall),
            "machine_busy_share": if total > 0.0 { super::round3(busy / total) } else { 0.0 },
            "server_ms_per_booking": per_booking(server),
            "postgres_ms_per_booking": per_booking(postgres),
            "generator_ms_per_booking": per_booking(generator),
        })
    }
}
