//! `careslot bench login-flood`: N wrong sign-ins at concurrency C against a `careslot serve`
//! this command starts (SQLite in a temporary directory), as a botnet would send them: every
//! attempt from another address (through `--trusted-proxies 127.0.0.1`, each request with its
//! own `X-Forwarded-For`) and for another unknown email, so that throttling does not refuse
//! them and each one asks for a password check. It reports the server's resident memory
//! (read from /proc), `/healthz` latency and booking latency (a patient booking then
//! cancelling, one after another, over the public API) without the flood and during it, as
//! JSON on stdout and a table on stderr.

use crate::rush::http::{quantile_ms, Conn};
use anyhow::Context;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, clap::Args)]
pub struct LoginFloodArgs {
    /// Wrong sign-ins to send.
    #[arg(long, default_value_t = 256)]
    pub logins: usize,
    /// Sign-ins in flight at once.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// /healthz probes of the baseline (one after another, 10 ms apart).
    #[arg(long, default_value_t = 200)]
    pub probes: usize,
    /// Bookings of the baseline (book then cancel, one after another, 10 ms apart).
    #[arg(long, default_value_t = 100)]
    pub bookings: usize,
    /// Extra arguments for `careslot serve` (e.g. --password-hashing-concurrency=2).
    #[arg(long, allow_hyphen_values = true)]
    pub serve_arg: Vec<String>,
}

const TARGET_GROWTH_MIB: f64 = 64.0;
const TARGET_HEALTHZ_P99_MS: f64 = 20.0;

/// `VmRSS` and `VmHWM` (peak) of a process, in MiB.
fn memory_mib(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map(|kb| kb / 1024.0)
            .unwrap_or(0.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Probes /healthz one after another until `stop` (or `count` probes); latencies in µs.
async fn probe(addr: SocketAddr, count: Option<usize>, stop: Arc<AtomicBool>) -> Vec<u32> {
    let mut conn = Conn::new(addr, None);
    let mut out = Vec::new();
    while !stop.load(Ordering::Acquire) && count.is_none_or(|c| out.len() < c) {
        let started = Instant::now();
        if let Ok(a) = conn.call(hyper::Method::GET, "/healthz", None, &[]).await {
            if a.status.is_success() {
                out.push(u32::try_from(started.elapsed().as_micros()).unwrap_or(u32::MAX));
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    out
}

/// A patient's token and the free starts of one practitioner's motive, made through the API.
struct Booking {
    token: String,
    agenda: String,
    motive: String,
    starts: Vec<String>,
}

async fn expect(
    conn: &mut Conn,
    method: hyper::Method,
    path: &str,
    body: Value,
) -> anyhow::Result<Value> {
    let a = conn.call(method, path, Some(&body), &[]).await?;
    anyhow::ensure!(
        a.status.is_success(),
        "{path}: {} {}",
        a.status,
        String::from_utf8_lossy(&a.body)
    );
    a.json().context("JSON answer")
}

/// A practitioner open every day from 07:00 to 21:00 with a 5-minute motive, and a patient.
async fn prepare_booking(addr: SocketAddr) -> anyhow::Result<Booking> {
    const PASSWORD: &str = "flood bench: correct horse battery staple";
    let mut anon = Conn::new(addr, None);
    let token = |role: &'static str, email: &'static str| {
        let mut c = Conn::new(addr, None);
        async move {
            let account =
                json!({"email": email, "password": PASSWORD, "name": "Bench Flood", "role": role});
            expect(&mut c, hyper::Method::POST, "/api/v1/accounts", account).await?;
            let session = json!({"email": email, "password": PASSWORD});
            let s = expect(&mut c, hyper::Method::POST, "/api/v1/sessions", session).await?;
            s["token"]
                .as_str()
                .map(str::to_owned)
                .context("session token")
        }
    };
    let doctor = token("practitioner", "flood-doctor@example.test").await?;
    let patient = token("patient", "flood-patient@example.test").await?;
    let mut d = Conn::new(addr, Some(doctor));
    use hyper::Method;
    expect(
        &mut d,
        Method::PUT,
        "/api/v1/practitioner/profile",
        json!({"name": "Dr Flood", "specialty": "general-practitioner"}),
    )
    .await?;
    let place = expect(&mut d, Method::POST, "/api/v1/places", json!({"name": "Cabinet", "address": "1 rue du Banc", "postcode": "75001", "city": "Paris", "country": "FR", "lat": 48.86, "lon": 2.34, "timezone": "Europe/Paris"})).await?;
    let agenda = expect(
        &mut d,
        Method::POST,
        "/api/v1/agendas",
        json!({"place_id": place["id"]}),
    )
    .await?;
    let agenda = agenda["id"].as_str().context("agenda id")?.to_owned();
    let motive = expect(
        &mut d,
        Method::POST,
        &format!("/api/v1/agendas/{agenda}/motives"),
        json!({"name": "Consultation", "duration_min": 5}),
    )
    .await?;
    let motive = motive["id"].as_str().context("motive id")?.to_owned();
    expect(&mut d, Method::POST, &format!("/api/v1/agendas/{agenda}/opening-rules"), json!({"weekdays": [1, 2, 3, 4, 5, 6, 7], "start": "07:00", "end": "21:00", "motive_ids": [motive]})).await?;
    let from = jiff::Zoned::now()
        .date()
        .checked_add(jiff::Span::new().days(1))?;
    let to = from.checked_add(jiff::Span::new().days(30))?;
    let a = anon
        .call(
            Method::GET,
            &format!("/api/v1/agendas/{agenda}/slots?motive_id={motive}&from={from}&to={to}"),
            None,
            &[],
        )
        .await?;
    let slots = a.json().context("slots")?;
    let starts: Vec<String> = slots["slots"]
        .as_array()
        .context("slots")?
        .iter()
        .filter_map(|s| s["start"].as_str().map(str::to_owned))
        .collect();
    anyhow::ensure!(starts.len() > 1000, "only {} free starts", starts.len());
    Ok(Booking {
        token: patient,
        agenda,
        motive,
        starts,
    })
}

/// Books then cancels, one booking after another (10 ms apart), until `stop` or `count`
/// bookings, starting at `starts[first]`; the booking calls' latencies in µs.
async fn book(
    addr: SocketAddr,
    b: Arc<Booking>,
    first: usize,
    count: Option<usize>,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<Vec<u32>> {
    let mut conn = Conn::new(addr, Some(b.token.clone()));
    let mut out = Vec::new();
    let mut i = first;
    while !stop.load(Ordering::Acquire) && count.is_none_or(|c| out.len() < c) {
        let start = b.starts.get(i).context("out of free starts")?;
        i += 1;
        let body = json!({"agenda_id": b.agenda, "motive_id": b.motive, "start": start});
        let t = Instant::now();
        let a = conn
            .call(
                hyper::Method::POST,
                "/api/v1/appointments",
                Some(&body),
                &[],
            )
            .await?;
        let us = u32::try_from(t.elapsed().as_micros()).unwrap_or(u32::MAX);
        anyhow::ensure!(a.status.as_u16() == 201, "booking answered {}", a.status);
        out.push(us);
        let id = a
            .json()
            .and_then(|v| v["id"].as_str().map(str::to_owned))
            .context("appointment id")?;
        let c = conn
            .call(
                hyper::Method::POST,
                &format!("/api/v1/appointments/{id}/cancel"),
                None,
                &[],
            )
            .await?;
        anyhow::ensure!(c.status.is_success(), "cancel answered {}", c.status);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(out)
}

fn latency(mut us: Vec<u32>) -> Value {
    us.sort_unstable();
    json!({
        "probes": us.len(),
        "p50_ms": quantile_ms(&us, 0.50),
        "p99_ms": quantile_ms(&us, 0.99),
        "max_ms": quantile_ms(&us, 1.0),
    })
}

pub async fn login_flood(args: &LoginFloodArgs) -> anyhow::Result<Value> {
    let dir = tempfile::tempdir().context("temporary directory")?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let mut child = tokio::process::Command::new(std::env::current_exe()?)
        .arg("serve")
        .arg("--bind")
        .arg(addr.to_string())
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .arg("--keys-dir")
        .arg(dir.path().join("keys"))
        .arg("--trusted-proxies")
        .arg("127.0.0.1")
        .args(&args.serve_arg)
        .env("CARESLOT_LOG", "error,tower_http=off")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .context("cannot start careslot serve")?;
    let pid = child.id().unwrap_or(0);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mut c = Conn::new(addr, None);
        if let Ok(a) = c.call(hyper::Method::GET, "/healthz", None, &[]).await {
            if a.status.is_success() {
                break;
            }
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "careslot serve did not become ready within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // One sign-in first (the decoy hash and the pools are warm), then the baseline.
    let mut warm = Conn::new(addr, None);
    let body = json!({"email": "warm-up@example.invalid", "password": "not the password"});
    let _ = warm
        .call(hyper::Method::POST, "/api/v1/sessions", Some(&body), &[])
        .await;
    let (rss_before, _) = memory_mib(pid);
    let baseline = probe(addr, Some(args.probes), Arc::new(AtomicBool::new(false))).await;
    let booking = Arc::new(
        prepare_booking(addr)
            .await
            .context("setting up the bookings")?,
    );
    let booked_before = book(
        addr,
        booking.clone(),
        0,
        Some(args.bookings),
        Arc::new(AtomicBool::new(false)),
    )
    .await?;

    // The flood, with /healthz probed all along.
    let stop = Arc::new(AtomicBool::new(false));
    let prober = tokio::spawn(probe(addr, None, stop.clone()));
    let booker = tokio::spawn(book(
        addr,
        booking.clone(),
        args.bookings,
        None,
        stop.clone(),
    ));
    let peak_rss = Arc::new(AtomicU64::new(0));
    let sampler = {
        let (stop, peak) = (stop.clone(), peak_rss.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::Acquire) {
                let (rss, _) = memory_mib(pid);
                peak.fetch_max((rss * 1024.0) as u64, Ordering::AcqRel);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..args.concurrency.max(1))
        .map(|_| {
            let next = next.clone();
            let total = args.logins;
            tokio::spawn(async move {
                let mut conn = Conn::new(addr, None);
                let mut statuses: Vec<(u16, u32)> = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::AcqRel);
                    if i >= total {
                        break;
                    }
                    let body = json!({"email": format!("flood-{i}@example.invalid"), "password": "wrong password"});
                    let from = format!("10.{}.{}.{}", (i >> 16) & 255, (i >> 8) & 255, i & 255);
                    let t = Instant::now();
                    let status = match conn
                        .call(
                            hyper::Method::POST,
                            "/api/v1/sessions",
                            Some(&body),
                            &[("x-forwarded-for", &from)],
                        )
                        .await
                    {
                        Ok(a) => a.status.as_u16(),
                        Err(_) => 0,
                    };
                    let us = u32::try_from(t.elapsed().as_micros()).unwrap_or(u32::MAX);
                    statuses.push((status, us));
                }
                statuses
            })
        })
        .collect();
    let mut by_status = std::collections::BTreeMap::<String, u64>::new();
    let mut login_us = Vec::new();
    for w in workers {
        for (s, us) in w.await.context("flood worker")? {
            *by_status.entry(s.to_string()).or_default() += 1;
            login_us.push(us);
        }
    }
    let flood_s = started.elapsed().as_secs_f64();
    stop.store(true, Ordering::Release);
    let during = prober.await.context("prober")?;
    let booked_during = booker.await.context("booker")??;
    let _ = sampler.await;
    let (rss_after, hwm) = memory_mib(pid);
    let sampled_peak = peak_rss.load(Ordering::Acquire) as f64 / 1024.0;
    let peak = sampled_peak.max(rss_after);
    let _ = child.start_kill();
    let _ = child.wait().await;

    let growth = peak - rss_before;
    let without = latency(baseline);
    let with = latency(during);
    let bookings_without = latency(booked_before);
    let bookings_with = latency(booked_during);
    let pass = growth < TARGET_GROWTH_MIB
        && with["p99_ms"].as_f64().unwrap_or(f64::MAX) < TARGET_HEALTHZ_P99_MS;
    login_us.sort_unstable();
    let report = json!({
        "bench": "login-flood",
        "logins": args.logins,
        "concurrency": args.concurrency,
        "serve_args": args.serve_arg,
        "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        "flood_s": (flood_s * 1000.0).round() / 1000.0,
        "login_statuses": by_status,
        "login_p50_ms": quantile_ms(&login_us, 0.5),
        "login_p99_ms": quantile_ms(&login_us, 0.99),
        "rss_mib": {
            "before": rss_before.round(),
            "peak_during": peak.round(),
            "growth": growth.round(),
            "after": rss_after.round(),
            "process_high_water_mark": hwm.round(),
        },
        "healthz_without_flood": without,
        "healthz_during_flood": with,
        "booking_without_flood": bookings_without,
        "booking_during_flood": bookings_with,
        "target": {"growth_mib_below": TARGET_GROWTH_MIB, "healthz_p99_ms_below": TARGET_HEALTHZ_P99_MS, "met": pass},
    });
    eprintln!(
        "login flood: {} wrong sign-ins at concurrency {} in {:.1} s; statuses {:?}",
        args.logins, args.concurrency, flood_s, report["login_statuses"]
    );
    eprintln!("{:<28} {:>12} {:>12}", "", "without", "during flood");
    eprintln!(
        "{:<28} {:>12.0} {:>12.0}",
        "server RSS (MiB, peak)", rss_before, peak
    );
    for (label, key) in [
        ("/healthz p50 (ms)", "p50_ms"),
        ("/healthz p99 (ms)", "p99_ms"),
    ] {
        eprintln!(
            "{:<28} {:>12.2} {:>12.2}",
            label,
            without[key].as_f64().unwrap_or(0.0),
            with[key].as_f64().unwrap_or(0.0)
        );
    }
    for (label, key) in [
        ("booking p50 (ms)", "p50_ms"),
        ("booking p99 (ms)", "p99_ms"),
    ] {
        eprintln!(
            "{:<28} {:>12.2} {:>12.2}",
            label,
            bookings_without[key].as_f64().unwrap_or(0.0),
            bookings_with[key].as_f64().unwrap_or(0.0)
        );
    }
    eprintln!(
        "target: growth < {TARGET_GROWTH_MIB} MiB and /healthz p99 < {TARGET_HEALTHZ_P99_MS} ms -> {}",
        if pass { "met" } else { "NOT met" }
    );
    Ok(report)
}
