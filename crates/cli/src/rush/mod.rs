//! `careslot bench rush`: the 12 July 2021 evening on one machine. A fresh PostgreSQL
//! database with the real centre list, the server as its own process, this process as the
//! load generator (keep-alive HTTP over loopback), then the database as the judge.
//! Prints one JSON object on stdout and a table on stderr.

mod cluster;
pub(crate) mod cpu;
pub(crate) mod http;
mod scenario;
mod setup;
mod verify;

use anyhow::Context;
use http::{quantile_ms, Stats};
use scenario::{Ctx, Keyed, PatientOut};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, clap::Args)]
pub struct RushArgs {
    /// Seconds of the rush itself (bookings and availability readers).
    #[arg(long, default_value_t = 60)]
    pub duration: u64,
    /// Simulated patients booking at once.
    #[arg(long, default_value_t = 64)]
    pub clients: usize,
    /// Availability readers at once, besides the patients.
    #[arg(long, default_value_t = 32)]
    pub readers: usize,
    #[arg(long, default_value_t = 2021)]
    pub seed: u64,
    /// A short run (under a minute): the CI check that no rule is ever broken.
    #[arg(long)]
    pub quick: bool,
    /// PostgreSQL admin URL (a fresh database is created there); default $DATABASE_URL or
    /// the local server.
    #[arg(long, env = "DATABASE_URL")]
    pub postgres: Option<String>,
    /// The centre list (default: ../shared/data/vaccination-centers-fr-2021-04-14.json).
    #[arg(long)]
    pub centres: Option<PathBuf>,
    /// Parallel lines per centre (a quarter of the centres are set to one line).
    #[arg(long, default_value_t = 3)]
    pub lines: u32,
    /// Doses per centre, product and day.
    #[arg(long, default_value_t = 60)]
    pub stock: u32,
    /// Admission rate (people per second) of the waiting-room run: below what the machine
    /// books, so that a queue forms.
    #[arg(long, default_value_t = 100)]
    pub admission_rate: u32,
    /// Skip the waiting-room run.
    #[arg(long)]
    pub no_waiting_room: bool,
    /// Keep the database afterwards (its URL is printed).
    #[arg(long)]
    pub keep_database: bool,
    /// Server processes on the database; more than one are put behind HAProxy (started
    /// with a generated configuration: health check on /readyz, retries on connection
    /// failures, redispatch).
    #[arg(long, default_value_t = 1)]
    pub nodes: usize,
    /// Kill one node with SIGKILL in the middle of the rush (with --nodes 2 or more).
    #[arg(long, conflicts_with_all = ["rolling_restart", "kill_rounds"])]
    pub kill_one: bool,
    /// Kill a node with SIGKILL this many times during the rush, each node in turn,
    /// restarting it after each kill (with --nodes 2 or more).
    #[arg(long, conflicts_with = "rolling_restart")]
    pub kill_rounds: Option<usize>,
    /// Stop each node in turn with SIGTERM during the rush and start it again (with
    /// --nodes 2 or more); the rush lasts until the last node is back.
    #[arg(long)]
    pub rolling_restart: bool,
    /// PostgreSQL connections of each node (default: the server's own default with one
    /// node, 8 with several).
    #[arg(long)]
    pub db_connections: Option<u32>,
}

struct Plan {
    duration: Duration,
    reference: Duration,
    waiting_room: Duration,
    clients: usize,
    readers: usize,
}

impl Plan {
    fn of(a: &RushArgs) -> Self {
        if a.quick {
            Self {
                duration: Duration::from_secs(10),
                reference: Duration::from_secs(3),
                waiting_room: Duration::from_secs(6),
                clients: a.clients.min(16),
                readers: a.readers.min(8),
            }
        } else {
            Self {
                duration: Duration::from_secs(a.duration.max(1)),
                reference: Duration::from_secs(10),
                waiting_room: Duration::from_secs((a.duration / 2).max(5)),
                clients: a.clients.max(1),
                readers: a.readers,
            }
        }
    }
}

fn latency_table(stats: &mut Stats) -> Value {
    let mut out = serde_json::Map::new();
    for (name, e) in stats.endpoints.iter_mut() {
        e.latencies_us.sort_unstable();
        let statuses: serde_json::Map<String, Value> = e
            .statuses
            .iter()
            .map(|(s, n)| (s.to_string(), json!(n)))
            .collect();
        out.insert(
            (*name).to_owned(),
            json!({
                "count": e.latencies_us.len(),
                "p50_ms": round3(quantile_ms(&e.latencies_us, 0.50)),
                "p99_ms": round3(quantile_ms(&e.latencies_us, 0.99)),
                "max_ms": round3(quantile_ms(&e.latencies_us, 1.0)),
                "statuses": statuses,
            }),
        );
    }
    Value::Object(out)
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn per_s(n: u64, d: Duration) -> f64 {
    round3(n as f64 / d.as_secs_f64())
}

/// Runs `f` on `n` tasks until `deadline`, gathering their results.
async fn crowd<T: Send + 'static, F>(n: usize, f: impl Fn(usize) -> F) -> Vec<T>
where
    F: std::future::Future<Output = T> + Send + 'static,
{
    let handles: Vec<_> = (0..n).map(|i| tokio::spawn(f(i))).collect();
    let mut out = Vec::with_capacity(n);
    for h in handles {
        if let Ok(v) = h.await {
            out.push(v);
        }
    }
    out
}

struct Phase {
    stats: Stats,
    confirmed: Vec<String>,
    series: u64,
    lag_ms: Vec<f64>,
    admitted_at: Vec<f64>,
    /// Bookings answered 201, by patient (index into the tokens).
    keyed: Vec<(usize, Keyed)>,
    unknown: u64,
}

async fn booking_phase(
    ctx: &std::sync::Arc<Ctx>,
    tokens: &[String],
    plan: &Plan,
    span: Duration,
    waiting_room: bool,
) -> Phase {
    let start = Instant::now();
    let deadline = start + span;
    let readers = if waiting_room { 0 } else { plan.readers };
    let r_ctx = ctx.clone();
    let reading = tokio::spawn(async move {
        crowd(readers, |i| scenario::reader(r_ctx.clone(), i, deadline)).await
    });
    let toks: Vec<String> = tokens.iter().take(plan.clients).cloned().collect();
    let p_ctx = ctx.clone();
    let patients: Vec<(usize, PatientOut)> = crowd(toks.len(), |i| {
        let out = scenario::patient(
            p_ctx.clone(),
            i,
            toks[i].clone(),
            start,
            deadline,
            waiting_room,
            if waiting_room { 0 } else { 10 },
        );
        async move { (i, out.await) }
    })
    .await;
    let mut phase = Phase {
        stats: Stats::default(),
        confirmed: Vec::new(),
        series: 0,
        lag_ms: Vec::new(),
        admitted_at: Vec::new(),
        keyed: Vec::new(),
        unknown: 0,
    };
    for (i, p) in patients {
        phase.keyed.extend(p.keyed.into_iter().map(|k| (i, k)));
        phase.unknown += p.unknown;
        phase.stats.merge(p.stats);
        phase.confirmed.extend(p.confirmed);
        phase.series += p.series;
        phase.lag_ms.extend(p.lag_ms);
        phase.admitted_at.extend(p.admitted_at);
    }
    for r in reading.await.unwrap_or_default() {
        phase.stats.merge(r);
    }
    phase
}

async fn hammer_phase(
    addr: std::net::SocketAddr,
    endpoint: &'static str,
    path: &str,
    headers: Vec<(&'static str, String)>,
    conns: usize,
    span: Duration,
) -> Stats {
    let deadline = Instant::now() + span;
    let mut stats = Stats::default();
    for s in crowd(conns, |_| {
        scenario::hammer(addr, endpoint, path.to_owned(), headers.clone(), deadline)
    })
    .await
    {
        stats.merge(s);
    }
    stats
}

fn machine() -> Value {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".into());
    json!({
        "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        "cpu": cpu,
    })
}

pub async fn rush(args: &RushArgs) -> anyhow::Result<Value> {
    let plan = Plan::of(args);
    let admin = args
        .postgres
        .clone()
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/test".into());
    eprintln!("rush: preparing a fresh PostgreSQL database from {admin}…");
    let prepared = setup::prepare(
        &admin,
        args.centres.as_deref(),
        args.lines,
        plan.clients,
        args.stock,
        42 + 42,
    )
    .await?;
    let token_file = prepared.keys.path().join("operator-token");
    let nodes = args.nodes.max(1);
    let chaos = if args.kill_one {
        cluster::Chaos::KillOne
    } else if let Some(k) = args.kill_rounds.filter(|k| *k > 0) {
        cluster::Chaos::KillRounds(k)
    } else if args.rolling_restart {
        cluster::Chaos::RollingRestart
    } else {
        cluster::Chaos::None
    };
    if nodes < 2 && chaos != cluster::Chaos::None {
        anyhow::bail!("--kill-one, --kill-rounds and --rolling-restart need --nodes 2 or more");
    }
    let mut extra = Vec::new();
    if let Some(n) = args.db_connections.or((nodes > 1).then_some(8)) {
        extra.extend(["--db-connections".to_owned(), n.to_string()]);
    }
    let mut server = cluster::Cluster::start(&prepared, &token_file, nodes, &extra).await?;
    let operator = std::fs::read_to_string(&token_file)
        .context("reading the operator token")?
        .trim()
        .to_owned();
    let ctx = Ctx::new(server.addr, prepared.targets.clone(), args.seed);
    eprintln!(
        "rush: {} centres ({} bookable for two doses), {} server process(es), first pid {}, on {}",
        prepared.centres,
        prepared.targets.len(),
        server.len(),
        server.first_pid(),
        server.addr
    );

    // 0. Warm-up (not measured): the server loads its availability views as it starts;
    // searches meanwhile stand for the evening's first minutes.
    let warm_until = Instant::now() + plan.reference;
    let w_ctx = ctx.clone();
    crowd(4, |i| scenario::searcher(w_ctx.clone(), i, warm_until)).await;

    // 1. The machine's ceiling: the same server and generator on a trivial endpoint.
    let mut healthz = hammer_phase(
        server.addr,
        "healthz",
        "/healthz",
        vec![],
        plan.clients + plan.readers,
        plan.reference,
    )
    .await;
    let healthz_rps = per_s(healthz.count("healthz"), plan.reference);

    // 2. The rush.
    eprintln!(
        "rush: {} patients and {} availability readers for {} s…",
        plan.clients,
        plan.readers,
        plan.duration.as_secs()
    );
    let cpu_before = cpu::Sample::now(server.first_pid());
    // A rolling restart takes a few seconds per node: the rush lasts until it is done.
    let span = match chaos {
        cluster::Chaos::RollingRestart => plan.duration.max(Duration::from_secs(8 * nodes as u64)),
        cluster::Chaos::KillRounds(k) => plan.duration.max(Duration::from_secs(6 * k as u64)),
        _ => plan.duration,
    };
    let started = Instant::now();
    let (mut main, chaos_report) = tokio::join!(
        booking_phase(&ctx, &prepared.tokens, &plan, span, false),
        server.run_chaos(&prepared, chaos, started, span)
    );
    let cpu_after = cpu::Sample::now(server.first_pid());
    let elapsed = started.elapsed();

    // The checker's replay: bookings sent again with their Idempotency-Key answer the same
    // appointments, and with another request 422 (every one that needed a retry, and the
    // first few of each patient).
    let mut per_patient: std::collections::BTreeMap<usize, Vec<Keyed>> = Default::default();
    for (i, k) in &main.keyed {
        let mine = per_patient.entry(*i).or_default();
        if k.retried || mine.iter().filter(|m| !m.retried).count() < 3 {
            mine.push(k.clone());
        }
    }
    let addr = server.addr;
    let replays = crowd(per_patient.len(), |j| {
        let (i, keyed) = per_patient
            .iter()
            .nth(j)
            .map(|(i, k)| (*i, k.clone()))
            .unwrap_or_default();
        let token = prepared.tokens.get(i).cloned().unwrap_or_default();
        async move { scenario::replay(addr, token, &keyed).await }
    })
    .await;
    let replays = replays
        .into_iter()
        .fold(scenario::Replays::default(), scenario::Replays::add);
    let retried = main.keyed.iter().filter(|(_, k)| k.retried).count();
    let held = main.keyed.iter().filter(|(_, k)| k.held).count();

    // 3. The same with the waiting room in front.
    let mut wr_report = Value::Null;
    let mut all_confirmed = main.confirmed.clone();
    let mut wr_confirmed = 0usize;
    if !args.no_waiting_room {
        let mut op = http::Conn::new(server.addr, Some(operator.clone()));
        let body = json!({"enabled": true, "admission_rate": args.admission_rate});
        let answer = op
            .call(
                hyper::Method::PUT,
                "/api/v1/operator/waiting-room",
                Some(&body),
                &[],
            )
            .await?;
        if !answer.status.is_success() {
            anyhow::bail!(
                "enabling the waiting room failed: {} {}",
                answer.status,
                String::from_utf8_lossy(&answer.body)
            );
        }
        let mut wr = booking_phase(&ctx, &prepared.tokens, &plan, plan.waiting_room, true).await;
        // The queue's own rate: status checks of one waiting ticket.
        let mut c = http::Conn::new(server.addr, None);
        let ticket = c
            .call(hyper::Method::POST, "/api/v1/queue/tickets", None, &[])
            .await?
            .json()
            .and_then(|v| v["ticket"].as_str().map(str::to_owned))
            .unwrap_or_default();
        let mut queue = hammer_phase(
            server.addr,
            "queue_status",
            "/api/v1/queue/status",
            vec![(scenario::QUEUE_HEADER, ticket)],
            plan.clients + plan.readers,
            plan.reference,
        )
        .await;
        let off = json!({"enabled": false});
        let _ = op
            .call(
                hyper::Method::PUT,
                "/api/v1/operator/waiting-room",
                Some(&off),
                &[],
            )
            .await;
        all_confirmed.extend(wr.confirmed.iter().cloned());
        wr_confirmed = wr.confirmed.len();
        let span = plan.waiting_room;
        wr_report = json!({
            "duration_s": span.as_secs(),
            "admission_rate": args.admission_rate,
            "admitted_per_s": round3(wr.admitted_at.len() as f64 / span.as_secs_f64()),
            "queue_rps": per_s(queue.count("queue_status"), plan.reference),
            "bookings_per_s": per_s(wr.confirmed.len() as u64, span),
            "paired_per_s": per_s(wr.series, span),
            "latency_ms": latency_table(&mut wr.stats),
            "queue_latency_ms": latency_table(&mut queue),
        });
    }
    server.stop().await;

    // 4. The textbook booking on the same database, by pgbench.
    eprintln!(
        "rush: pgbench (the textbook booking) for {} s…",
        plan.reference.as_secs()
    );
    let naive = verify::naive_tps(
        &prepared.pool,
        &prepared.database_url,
        // As many connections as our own pool and writer could use, within the server's
        // connection limit.
        plan.clients.min(32),
        plan.reference.as_secs(),
    )
    .await?;

    // 5. The judge.
    let verdict = verify::verify(&prepared.pool, &all_confirmed).await?;

    let d = elapsed;
    let bookings_per_s = per_s(main.confirmed.len() as u64, d);
    let availability = main.stats.count("slots");
    let availability_rps = per_s(availability, d);
    main.lag_ms.sort_by(f64::total_cmp);
    let lag = |q: f64| {
        if main.lag_ms.is_empty() {
            0.0
        } else {
            round3(main.lag_ms[((main.lag_ms.len() - 1) as f64 * q).round() as usize])
        }
    };
    let errors: u64 = main
        .stats
        .endpoints
        .values()
        .map(|e| {
            e.statuses
                .iter()
                .filter(|(s, _)| **s == 0 || **s >= 500)
                .map(|(_, n)| n)
                .sum::<u64>()
        })
        .sum();
    let server_errors: serde_json::Map<String, Value> = main
        .stats
        .server_errors()
        .iter()
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect();
    let checker = json!({
        "acknowledged": main.confirmed.len() + wr_confirmed,
        "found": (main.confirmed.len() + wr_confirmed) as i64 - verdict.lost,
        "lost": verdict.lost,
        "double_booked": verdict.double_booked,
        "orphan_doses": verdict.orphan_doses,
        "retried_then_acknowledged": retried,
        "unknown_outcome": main.unknown,
        "series_direct": main.keyed.len() - held,
        "series_held": held,
        "replayed": replays.checked,
        "replay_mismatched": replays.mismatched,
        "replay_failed": replays.failed,
        "replay_other_not_refused": replays.other_not_refused,
        "server_errors": server_errors,
        "bare_503": main.stats.bare_503,
    });
    let report = json!({
        "benchmark": "rush",
        "date": jiff::Zoned::now().date().to_string(),
        "machine": machine(),
        "quick": args.quick,
        "seed": args.seed,
        "centres": prepared.centres,
        "centres_source": prepared.centres_source,
        "bookable_centres": prepared.targets.len(),
        "stock_days": prepared.stock_days,
        "setup_s": round3(prepared.setup_s),
        "duration_s": round3(d.as_secs_f64()),
        "clients": plan.clients,
        "readers": plan.readers,
        "bookings_per_s": bookings_per_s,
        "paired_per_s": per_s(main.series, d),
        "availability_rps": availability_rps,
        "search_rps": per_s(main.stats.count("search"), d),
        "healthz_rps": healthz_rps,
        "naive_tps": round3(naive),
        "bookings_vs_naive": if naive > 0.0 { round3(bookings_per_s / naive) } else { 0.0 },
        "availability_share_of_healthz": if healthz_rps > 0.0 { round3(availability_rps / healthz_rps) } else { 0.0 },
        "availability_lag_ms": {"samples": main.lag_ms.len(), "p50": lag(0.5), "p99": lag(0.99), "max": lag(1.0)},
        "holds_refused": main.stats.count_status("hold", 409),
        "errors": errors,
        "latency_ms": latency_table(&mut main.stats),
        "healthz_latency_ms": latency_table(&mut healthz),
        "double_booked": verdict.double_booked,
        "over_capacity": verdict.over_capacity,
        "over_stock": verdict.over_stock,
        "lost": verdict.lost,
        "orphan_doses": verdict.orphan_doses,
        "stock_drift": verdict.stock_drift,
        "violations": verdict.violations(),
        "booked_in_db": verdict.booked_in_db,
        "cpu": cpu_before.report(&cpu_after, main.confirmed.len() as u64),
        "waiting_room": wr_report,
        "nodes": nodes,
        "balancer": if nodes > 1 { "haproxy" } else { "none" },
        "chaos": chaos_report,
        "checker": checker,
    });
    print_table(&report);
    prepared.pool.close().await;
    if args.keep_database {
        eprintln!("rush: database kept: {}", prepared.database_url);
    } else {
        drop_database(&admin, &prepared.database_url).await;
    }
    Ok(report)
}

async fn drop_database(admin: &str, url: &str) {
    let Some(name) = url
        .rsplit('/')
        .next()
        .map(|n| n.split('?').next().unwrap_or(n))
    else {
        return;
    };
    if let Ok(pool) = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect(admin)
        .await
    {
        let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&pool)
            .await;
    }
}

fn print_table(r: &Value) {
    let line = |k: &str| {
        eprintln!("  {:<32} {}", k, r[k]);
    };
    eprintln!(
        "\nrush on {} ({} centres, {})",
        r["date"], r["centres"], r["centres_source"]
    );
    for k in [
        "bookings_per_s",
        "paired_per_s",
        "availability_rps",
        "search_rps",
        "healthz_rps",
        "naive_tps",
        "bookings_vs_naive",
        "availability_share_of_healthz",
        "double_booked",
        "over_capacity",
        "over_stock",
        "lost",
        "orphan_doses",
        "stock_drift",
        "holds_refused",
        "errors",
    ] {
        line(k);
    }
    eprintln!(
        "  {:<32} {}",
        "availability_lag_ms", r["availability_lag_ms"]
    );
    eprintln!(
        "  {:<24} {:>8} {:>9} {:>9} {:>9}",
        "endpoint", "count", "p50 ms", "p99 ms", "max ms"
    );
    if let Some(m) = r["latency_ms"].as_object() {
        for (name, e) in m {
            eprintln!(
                "  {:<24} {:>8} {:>9} {:>9} {:>9}",
                name, e["count"], e["p50_ms"], e["p99_ms"], e["max_ms"]
            );
        }
    }
    let c = &r["cpu"];
    eprintln!(
        "  cpu (cores used): server {}, postgres {}, generator {}; machine busy {}",
        c["server_cores"], c["postgres_cores"], c["generator_cores"], c["machine_busy_share"]
    );
    eprintln!(
        "  cpu ms per booking: server {}, postgres {}, generator {}",
        c["server_ms_per_booking"], c["postgres_ms_per_booking"], c["generator_ms_per_booking"]
    );
    eprintln!(
        "  nodes {} (balancer {}), chaos {}",
        r["nodes"], r["balancer"], r["chaos"]
    );
    eprintln!("  checker {}", r["checker"]);
    let wr = &r["waiting_room"];
    if !wr.is_null() {
        eprintln!(
            "  waiting room: admitted/s {}, queue rps {}, bookings/s {}",
            wr["admitted_per_s"], wr["queue_rps"], wr["bookings_per_s"]
        );
    }
}
