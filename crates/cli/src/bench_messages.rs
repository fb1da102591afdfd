//! `careslot bench messages`: what the outbox costs a booking, and how fast its worker
//! delivers to a local SMTP server.
//!
//! 1. Booking throughput through the services (protection on, as in production) with the
//!    changes queueing their messages and without, alternated over `--rounds` fresh databases
//!    so that a drift of the machine hits both modes alike; the median of each mode is compared.
//! 2. The last database's queue (one confirmation per booking, due now) is then delivered by
//!    the real worker through the SMTP channel: messages per second until the last is accepted.

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
    /// Alternations of the two modes (each on a fresh database). PostgreSQL: 1 per process.
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
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

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

pub async fn messages(args: &MessagesArgs) -> anyhow::Result<Value> {
    if args.rounds == 0 {
        bail!("--rounds must be at least 1");
    }
    // Each round's services keep their connection pool until the process ends (background
    // tasks hold them), and 2 × rounds pools of 32 exceed PostgreSQL's default 100 clients.
    if args.booking.postgres.is_some() && args.rounds > 1 {
        bail!("on PostgreSQL, run one round per process (--rounds 1) and repeat the command");
    }
    let (_sink, smtp_url) = match &args.smtp_url {
        Some(u) => (None, u.clone()),
        None => {
            let (s, u) = start_sink().await?;
            (Some(s), u)
        }
    };
    let config = |compose: bool| AppConfig {
        messages: MessagesConfig {
            compose,
            ..Default::default()
        },
        ..Default::default()
    };

    // 1. What queueing the messages costs a booking.
    let mut rounds = Vec::new();
    let (mut off_rates, mut on_rates) = (Vec::new(), Vec::new());
    let mut last = None;
    for round in 0..args.rounds {
        let mut pair = json!({ "round": round + 1 });
        for compose in [false, true] {
            let s = bench_booking::setup(&args.booking, true, config(compose))
                .await
                .context("preparing the benchmark")?;
            let stats = bench_booking::storm(&s).await?;
            let rate = stats["bookings_per_s"].as_f64().unwrap_or(0.0);
            if compose {
                on_rates.push(rate);
                pair["outbox_on"] = stats;
                last = Some(s);
            } else {
                off_rates.push(rate);
                pair["outbox_off"] = stats;
            }
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

    // 2. Delivery of what the last round queued (one confirmation per booking, due now).
    let s = last.ok_or_else(|| anyhow!("no round ran"))?;
    let queued = rounds
        .last()
        .and_then(|r| r["outbox_on"]["booked"].as_u64())
        .unwrap_or(0) as usize;
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
        "careslot bench messages ({}, {} bookings × {} rounds, {} concurrent):\n  bookings/s, outbox off (median): {off:>7.0}\n  bookings/s, outbox on  (median): {on:>7.0}\n  cost of the outbox: {cost:.1}% (target ≤ 5%)\n  delivery to SMTP: {queued} messages in {elapsed:.2} s = {per_s:.0} messages/s",
        out["backend"].as_str().unwrap_or(""),
        args.booking.bookings,
        args.rounds,
        args.booking.concurrency,
    );
    Ok(out)
}
