//! `careslot bench messages`: what the outbox costs a booking, and how fast its worker
//! delivers to a local SMTP server.
//!
//! 1. Booking throughput through the services (protection on, as in production) with the
//!    changes queueing their messages and without, alternated over `--rounds` fresh databases
//!    (ABBA order) so that a drift of the machine hits both modes alike; the median of each
//!    mode is compared, and the median of the rounds' paired differences. Each measured storm
//!    runs in a child process of its own: its CPU then counts no other round's services
//!    (their background tasks live as long as their process).
//! 2. One more storm with messages on, in this process, leaves a queue (one confirmation per
//!    booking, due now) that the real worker delivers through the SMTP channel: messages per
//!    second until the last is accepted.

use crate::bench_booking::{self, BookingArgs};
use anyhow::{anyhow, bail, Context};
use async_trait::async_trait;
use careslot_messages::{Channel, Message, SendError, SmtpChannel};
use careslot_server::outbox::{MessagesConfig, Worker};
use careslot_server::services::AppConfig;
use jiff::Timestamp;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, clap::Args)]
pub struct MessagesArgs {
    #[command(flatten)]
    pub booking: BookingArgs,
    /// Alternations of the two modes (each on a fresh database, in a child process).
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    /// Internal: run one storm in this process, queueing messages (`on`) or not (`off`), and
    /// print its figures as JSON (the parent runs each measured storm this way).
    #[arg(long, hide = true, value_parser = ["on", "off"])]
    pub one_run: Option<String>,
    /// SMTP server to deliver to. Default: an `aiosmtpd` sink started on a free local port
    /// (`pip install aiosmtpd`).
    #[arg(long)]
    pub smtp_url: Option<String>,
    /// Give up delivering after this many seconds.
    #[arg(long, default_value_t = 600)]
    pub delivery_timeout_s: u64,
}

/// The local SMTP sink this benchmark started; stopped when dropped.
struct Sink(std::process::Child);

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn start_sink() -> anyhow::Result<(Sink, String)> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let child = std::process::Command::new("python3")
        .args(["-m", "aiosmtpd", "-n", "-l"])
        .arg(format!("127.0.0.1:{port}"))
        .args(["-c", "aiosmtpd.handlers.Sink"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .context("starting python3 -m aiosmtpd (pip install aiosmtpd, or pass --smtp-url)")?;
    let mut sink = Sink(child);
    for _ in 0..100 {
        if let Some(status) = sink.0.try_wait()? {
            bail!("aiosmtpd exited at once ({status}): pip install aiosmtpd, or pass --smtp-url");
        }
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return Ok((sink, format!("smtp://127.0.0.1:{port}")));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("aiosmtpd did not listen on 127.0.0.1:{port} within 10 s")
}

/// The SMTP channel, counting what it delivered.
struct Counting {
    inner: SmtpChannel,
    sent: Arc<AtomicUsize>,
    failed: Arc<AtomicUsize>,
}

#[async_trait]
impl Channel for Counting {
    fn name(&self) -> &'static str {
        "smtp"
    }

    async fn send(&self, message: &Message) -> Result<(), SendError> {
        let r = self.inner.send(message).await;
        match r {
            Ok(()) => self.sent.fetch_add(1, Ordering::Relaxed),
            Err(_) => self.failed.fetch_add(1, Ordering::Relaxed),
        };
        r
    }
}

/// CPU seconds spent so far by this process and by every PostgreSQL server process.
///
/// On a loaded machine booking throughput varies from round to round by more than the
/// outbox costs; the CPU a booking consumes does not (it is what throughput is inversely
/// proportional to once the machine is saturated), so the benchmark reports both.
#[derive(Clone, Copy)]
struct Cpu {
    process_s: f64,
    postgres_s: f64,
}

impl Cpu {
    fn now() -> Self {
        // SAFETY: getrusage only writes into the struct it is given.
        let process_s = unsafe {
            let mut usage: libc::rusage = std::mem::zeroed();
            if libc::getrusage(libc::RUSAGE_SELF, &mut usage) == 0 {
                let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
                tv(usage.ru_utime) + tv(usage.ru_stime)
            } else {
                0.0
            }
        };
        Self {
            process_s,
            postgres_s: postgres_cpu_s(),
        }
    }

    fn since(self, before: Cpu) -> Cpu {
        Cpu {
            process_s: self.process_s - before.process_s,
            postgres_s: self.postgres_s - before.postgres_s,
        }
    }
}

/// utime + stime of every process named `postgres` (fields 14 and 15 of /proc/PID/stat).
fn postgres_cpu_s() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0.0;
    };
    let mut total = 0u64;
    for entry in dir.flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        let Some((head, rest)) = stat.rsplit_once(") ") else {
            continue;
        };
        if !head.ends_with("(postgres") {
            continue;
        }
        // `rest` starts at field 3 (state): utime and stime are fields 14 and 15.
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let field = |n: usize| fields.get(n - 3).and_then(|f| f.parse::<u64>().ok());
        total += field(14).unwrap_or(0) + field(15).unwrap_or(0);
    }
    total as f64 / ticks
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

fn config(compose: bool) -> AppConfig {
    AppConfig {
        messages: MessagesConfig {
            compose,
            ..Default::default()
        },
        ..Default::default()
    }
}

/// One measured storm, alone in this process: setup, then bookings, CPU per booking of this
/// process and (on PostgreSQL) of the server's processes.
async fn one_run(args: &MessagesArgs, compose: bool) -> anyhow::Result<Value> {
    let s = bench_booking::setup(&args.booking, true, config(compose))
        .await
        .context("preparing the benchmark")?;
    let before = Cpu::now();
    let mut stats = bench_booking::storm(&s).await?;
    let mut cpu = Cpu::now().since(before);
    if args.booking.postgres.is_none() {
        // On SQLite the database is in this process: PostgreSQL's CPU is someone else's.
        cpu.postgres_s = 0.0;
    }
    let booked = stats["booked"].as_f64().unwrap_or(0.0).max(1.0);
    let cpu_ms = 1000.0 * (cpu.process_s + cpu.postgres_s) / booked;
    stats["cpu_ms_per_booking"] = json!({
        "careslot": round3(1000.0 * cpu.process_s / booked),
        "postgres": round3(1000.0 * cpu.postgres_s / booked),
        "total": round3(cpu_ms),
    });
    println!("{}", serde_json::to_string(&stats)?);
    Ok(stats)
}

/// Runs [`one_run`] in a child process (this same binary) and reads its figures.
async fn child_run(args: &MessagesArgs, compose: bool) -> anyhow::Result<Value> {
    let mut cmd = tokio::process::Command::new(std::env::current_exe()?);
    cmd.args([
        "bench",
        "messages",
        "--one-run",
        if compose { "on" } else { "off" },
    ])
    .arg("--bookings")
    .arg(args.booking.bookings.to_string())
    .arg("--concurrency")
    .arg(args.booking.concurrency.to_string())
    .arg("--agendas")
    .arg(args.booking.agendas.to_string());
    if let Some(url) = &args.booking.postgres {
        cmd.arg("--postgres").arg(url);
    }
    let out = cmd
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::inherit())
        .output()
        .await
        .context("cannot run a measured storm")?;
    if !out.status.success() {
        bail!("a measured storm failed ({})", out.status);
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .ok_or_else(|| anyhow!("a measured storm printed no figures"))?;
    Ok(serde_json::from_str(line)?)
}

pub async fn messages(args: &MessagesArgs) -> anyhow::Result<Value> {
    if let Some(mode) = &args.one_run {
        return one_run(args, mode == "on").await;
    }
    if args.rounds == 0 {
        bail!("--rounds must be at least 1");
    }
    let (_sink, smtp_url) = match &args.smtp_url {
        Some(u) => (None, u.clone()),
        None => {
            let (s, u) = start_sink().await?;
            (Some(s), u)
        }
    };

    // 1. What queueing the messages costs a booking.
    let mut rounds = Vec::new();
    let (mut off_rates, mut on_rates) = (Vec::new(), Vec::new());
    let (mut off_cpu, mut on_cpu) = (Vec::new(), Vec::new());
    let mut paired = Vec::new();
    for round in 0..args.rounds {
        let mut pair = json!({ "round": round + 1 });
        // ABBA order: a drift of the machine within a round falls on both modes alike.
        let order = if round % 2 == 0 {
            [false, true]
        } else {
            [true, false]
        };
        let mut cpu_of = [0.0f64; 2];
        for compose in order {
            let stats = child_run(args, compose).await?;
            let rate = stats["bookings_per_s"].as_f64().unwrap_or(0.0);
            let cpu_ms = stats["cpu_ms_per_booking"]["total"].as_f64().unwrap_or(0.0);
            cpu_of[usize::from(compose)] = cpu_ms;
            if compose {
                on_rates.push(rate);
                on_cpu.push(cpu_ms);
                pair["outbox_on"] = stats;
            } else {
                off_rates.push(rate);
                off_cpu.push(cpu_ms);
                pair["outbox_off"] = stats;
            }
        }
        if cpu_of[0] > 0.0 {
            paired.push((cpu_of[1] / cpu_of[0] - 1.0) * 100.0);
        }
        eprintln!("round {}: {pair}", round + 1);
        rounds.push(pair);
    }
    let (off, on) = (median(off_rates), median(on_rates));
    let cost = if off > 0.0 {
        (1.0 - on / off) * 100.0
    } else {
        0.0
    };
    let (cpu_off, cpu_on) = (median(off_cpu), median(on_cpu));
    let cpu_cost = if cpu_off > 0.0 {
        (cpu_on / cpu_off - 1.0) * 100.0
    } else {
        0.0
    };
    let paired_cpu_cost = median(paired);

    // The queue to deliver: one more storm with messages on, in this process (not measured).
    let s = bench_booking::setup(&args.booking, true, config(true))
        .await
        .context("preparing the delivery")?;
    let queued_stats = bench_booking::storm(&s).await?;

    // 2. Delivery of that queue (one confirmation per booking, due now).
    let queued = queued_stats["booked"].as_u64().unwrap_or(0) as usize;
    let sent = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let channel = Counting {
        inner: SmtpChannel::from_url(&smtp_url, "careslot bench <bench@localhost>")
            .map_err(|e| anyhow!("--smtp-url: {e}"))?,
        sent: sent.clone(),
        failed: failed.clone(),
    };
    let worker_config = MessagesConfig {
        channel: Some(Arc::new(channel)),
        ..Default::default()
    };
    let started = Instant::now();
    Worker::spawn(&s.app.scheduling, &worker_config);
    let deadline = started + Duration::from_secs(args.delivery_timeout_s);
    while sent.load(Ordering::Relaxed) < queued {
        if Instant::now() > deadline {
            bail!(
                "delivered {} of {queued} messages in {} s",
                sent.load(Ordering::Relaxed),
                args.delivery_timeout_s
            );
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let per_s = queued as f64 / elapsed;

    let out = json!({
        "benchmark": "messages",
        "backend": if args.booking.postgres.is_some() { "postgres" } else { "sqlite" },
        "bookings": args.booking.bookings,
        "concurrency": args.booking.concurrency,
        "agendas": args.booking.agendas,
        "rounds": rounds,
        "date": Timestamp::now().to_string(),
        "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        "median_bookings_per_s_outbox_off": off.round(),
        "median_bookings_per_s_outbox_on": on.round(),
        "outbox_cost_percent": (cost * 10.0).round() / 10.0,
        "median_cpu_ms_per_booking_outbox_off": round3(cpu_off),
        "median_cpu_ms_per_booking_outbox_on": round3(cpu_on),
        "outbox_cpu_cost_percent": (cpu_cost * 10.0).round() / 10.0,
        "outbox_cpu_cost_percent_paired_median": (paired_cpu_cost * 10.0).round() / 10.0,
        "load_average": std::fs::read_to_string("/proc/loadavg").ok().map(|l| l.trim().to_owned()),
        "target": "outbox cost on booking throughput at most 5%",
        "meets_target": cost <= 5.0,
        "delivery": {
            "smtp": if args.smtp_url.is_some() { "given" } else { "local aiosmtpd sink" },
            "messages": queued,
            "failed_attempts": failed.load(Ordering::Relaxed),
            "elapsed_s": (elapsed * 1000.0).round() / 1000.0,
            "messages_per_s": per_s.round(),
            "worker_batch": worker_config.batch,
            "worker_concurrency": worker_config.concurrency,
        },
    });
    println!("{}", serde_json::to_string_pretty(&out)?);
    eprintln!(
        "careslot bench messages ({}, {} bookings × {} rounds, {} concurrent):\n  bookings/s, outbox off (median): {off:>7.0}\n  bookings/s, outbox on  (median): {on:>7.0}\n  cost of the outbox: {cost:.1}% (target ≤ 5%)\n  CPU per booking (careslot + PostgreSQL, median): {cpu_off:.3} ms → {cpu_on:.3} ms = {cpu_cost:+.1}%\n  CPU cost, median of the rounds' paired differences: {paired_cpu_cost:+.1}%\n  delivery to SMTP: {queued} messages in {elapsed:.2} s = {per_s:.0} messages/s",
        out["backend"].as_str().unwrap_or(""),
        args.booking.bookings,
        args.rounds,
        args.booking.concurrency,
    );
    Ok(out)
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}
