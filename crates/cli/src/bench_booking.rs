//! `careslot bench booking`: booking throughput through the real services (precheck against
//! the in-memory view, sealing, the store's transaction, invalidation), with health-data
//! protection on and then off, on a fresh database — to show what protection costs.

use anyhow::{anyhow, Context};
use careslot_core::protection::Protector;
use careslot_domain::*;
use careslot_server::services::{App, AppConfig, BookingInput, Caller};
use careslot_store::{Agenda, Place, Practitioner, Role, Store};
use careslot_store_postgres::PgStore;
use careslot_store_sqlite::SqliteStore;
use careslot_vault::{KeyEngine, LocalCustody, MasterKey};
use jiff::Timestamp;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Instant;

#[derive(Debug, Clone, clap::Args)]
pub struct BookingArgs {
    /// Bookings per mode.
    #[arg(long, default_value_t = 3000)]
    pub bookings: usize,
    /// Concurrent patients booking.
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
    /// Agendas the bookings spread over.
    #[arg(long, default_value_t = 100)]
    pub agendas: usize,
    /// Run on PostgreSQL (a fresh database is created from this admin URL) instead of SQLite.
    #[arg(long)]
    pub postgres: Option<String>,
}

pub(crate) struct Setup {
    pub(crate) app: App,
    /// (agenda, motive, start) triples, all distinct free slots.
    targets: Vec<(String, String, String)>,
    patients: Vec<Caller>,
    _dirs: Vec<tempfile::TempDir>,
}

/// A fresh database with `args.agendas` open agendas and `args.concurrency` patients, served
/// by an `App` built from `config`.
pub(crate) async fn setup(
    args: &BookingArgs,
    protected: bool,
    config: AppConfig,
) -> anyhow::Result<Setup> {
    let data = tempfile::tempdir()?;
    let keys = tempfile::tempdir()?;
    let store: Arc<dyn Store> = match &args.postgres {
        Some(admin) => {
            std::env::set_var("DATABASE_URL", admin);
            let url = careslot_store_postgres::testing::fresh_database()
                .await
                .map_err(|e| anyhow!(e))?;
            Arc::new(PgStore::connect(&url, 32).await?)
        }
        None => Arc::new(SqliteStore::open_dir(data.path()).await?),
    };
    let engine = KeyEngine::open(keys.path(), MasterKey::generate())
        .await
        .map_err(|e| anyhow!("{e}"))?;
    let custody = Arc::new(LocalCustody::new(Arc::new(engine)));
    let protect = if protected {
        Protector::bootstrap(&*store, custody, 16).await
    } else {
        Protector::plaintext_for_benchmarks(&*store, custody, 16).await
    }
    .map_err(|e| anyhow!("{e}"))?;
    let app = App::new(store.clone(), Arc::new(protect), config)
        .await
        .map_err(|e| anyhow!("{e}"))?;

    let hash = crate::import::unknowable_password_hash()?;
    let mut patients = Vec::new();
    for i in 0..args.concurrency {
        let who = app
            .create_identity(
                Role::Patient,
                format!("bench{i}@example.test"),
                format!("Bench Patient {i}"),
                None,
                None,
                hash.clone(),
            )
            .await
            .map_err(|e| anyhow!("{e}"))?;
        patients.push(Caller {
            id: who.id,
            role: Role::Patient,
            second_factor: false,
        });
    }
    let owner = app
        .create_identity(
            Role::Practitioner,
            "bench.practitioner@example.test".into(),
            "Dr Bench".into(),
            None,
            None,
            hash,
        )
        .await
        .map_err(|e| anyhow!("{e}"))?;
    let practitioner = store
        .upsert_practitioner(&Practitioner {
            id: PractitionerId::new(),
            account_id: owner.id.clone(),
            name: "Dr Bench".into(),
            specialty: Specialty::GeneralPractitioner,
            languages: vec!["fr".into()],
            bio: None,
        })
        .await?;
    store
        .vouch_practitioner(&practitioner.id, None, "bench", Timestamp::now())
        .await?;
    let mut targets = Vec::new();
    let now = Timestamp::now();
    for _ in 0..args.agendas {
        let place = Place {
            id: PlaceId::new(),
            practitioner_id: practitioner.id.clone(),
            name: "Bench".into(),
            address: "1 rue du Banc".into(),
            postcode: "75001".into(),
            city: "Paris".into(),
            country: Country::France,
            lat: 48.86,
            lon: 2.34,
            timezone: "Europe/Paris".into(),
        };
        store.create_place(&place).await?;
        let id = AgendaId::new();
        let agenda = Agenda {
            wrapped_key: app.new_agenda_key(&id).await.map_err(|e| anyhow!("{e}"))?,
            id,
            practitioner_id: practitioner.id.clone(),
            place_id: place.id.clone(),
            timezone: "Europe/Paris".into(),
            holidays: None,
        };
        store.create_agenda(&agenda).await?;
        let motive = Motive::parse(
            MotiveId::new(),
            agenda.id.clone(),
            "Consultation",
            10,
            1,
            MotivePolicy::default(),
        )?;
        store
            .create_motive(
                &motive,
                &app.seal_motive_label(&agenda, &motive)
                    .await
                    .map_err(|e| anyhow!("{e}"))?,
            )
            .await?;
        let rule = OpeningRule::parse(
            RuleId::new(),
            agenda.id.clone(),
            WeekdaySet::parse(&[1, 2, 3, 4, 5, 6, 7])?,
            jiff::civil::time(7, 0, 0, 0),
            jiff::civil::time(21, 0, 0, 0),
            vec![motive.id.clone()],
            None,
            None,
        )?;
        store.create_rule(&rule).await?;
        let view = app.view(&agenda.id).await.map_err(|e| anyhow!("{e}"))?;
        let today = view.tz.to_datetime(now).date();
        let to = today.checked_add(jiff::Span::new().days(30))?;
        for s in view
            .calendar
            .slots(&motive, &view.occupancy, today, to, now)
            .into_iter()
            .skip(6)
        {
            targets.push((
                agenda.id.to_string(),
                motive.id.to_string(),
                s.start.to_string(),
            ));
        }
    }
    app.directory.replace_all(store.directory().await?);
    // Interleave agendas, as a crowd would.
    let per = targets.len() / args.agendas.max(1);
    let mut interleaved = Vec::with_capacity(targets.len());
    for i in 0..per {
        for a in 0..args.agendas {
            if let Some(t) = targets.get(a * per + i) {
                interleaved.push(t.clone());
            }
        }
    }
    if interleaved.len() < args.bookings {
        return Err(anyhow!(
            "only {} free slots for {} bookings",
            interleaved.len(),
            args.bookings
        ));
    }
    interleaved.truncate(args.bookings);
    Ok(Setup {
        app,
        targets: interleaved,
        patients,
        _dirs: vec![data, keys],
    })
}

async fn run_mode(args: &BookingArgs, protected: bool) -> anyhow::Result<Value> {
    let s = setup(args, protected, AppConfig::default())
        .await
        .context("preparing the benchmark")?;
    let mut out = storm(&s).await?;
    out["protection"] = json!(protected);
    Ok(out)
}

/// Every patient books the next free target until none is left: throughput and latency.
pub(crate) async fn storm(s: &Setup) -> anyhow::Result<Value> {
    let targets = Arc::new(s.targets.clone());
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    // CPU by process, which the VM's speed of the moment moves less than bookings per
    // second: this process (services and store) and PostgreSQL's.
    let cpu_before = crate::rush::cpu::Sample::now(std::process::id());
    let started = Instant::now();
    let mut tasks = Vec::new();
    for caller in s.patients.clone() {
        let (app, targets, next) = (s.app.clone(), targets.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut failures = 0usize;
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some((agenda_id, motive_id, start)) = targets.get(i).cloned() else {
                    break;
                };
                let t = Instant::now();
                let input = BookingInput::Direct {
                    agenda_id,
                    motive_id,
                    start,
                };
                match app
                    .book(
                        &caller,
                        input,
                        careslot_server::services::BookingDetails {
                            note: Some("bench note"),
                            relative_id: None,
                        },
                        None,
                    )
                    .await
                {
                    Ok(_) => latencies.push(t.elapsed().as_secs_f64() * 1e6),
                    Err(_) => failures += 1,
                }
            }
            (latencies, failures)
        }));
    }
    let mut latencies = Vec::new();
    let mut failures = 0;
    for t in tasks {
        let (l, f) = t.await?;
        latencies.extend(l);
        failures += f;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = cpu_before.report(
        &crate::rush::cpu::Sample::now(std::process::id()),
        latencies.len() as u64,
    );
    latencies.sort_by(f64::total_cmp);
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0.0)
    };
    Ok(json!({
        "booked": latencies.len(),
        "failed": failures,
        "elapsed_s": (elapsed * 1000.0).round() / 1000.0,
        "bookings_per_s": (latencies.len() as f64 / elapsed).round(),
        "p50_us": pct(0.50).round(),
        "p99_us": pct(0.99).round(),
        "careslot_ms_per_booking": cpu["server_ms_per_booking"],
        "postgres_ms_per_booking": cpu["postgres_ms_per_booking"],
        "machine_busy_share": cpu["machine_busy_share"],
    }))
}

pub async fn booking(args: &BookingArgs) -> anyhow::Result<Value> {
    let off = run_mode(args, false).await?;
    let on = run_mode(args, true).await?;
    let rate = |v: &Value| v["bookings_per_s"].as_f64().unwrap_or(0.0);
    let overhead = if rate(&off) > 0.0 {
        (1.0 - rate(&on) / rate(&off)) * 100.0
    } else {
        0.0
    };
    let out = json!({
        "benchmark": "booking",
        "backend": if args.postgres.is_some() { "postgres" } else { "sqlite" },
        "bookings": args.bookings,
        "concurrency": args.concurrency,
        "agendas": args.agendas,
        "date": Timestamp::now().to_string(),
        "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        "protection_off": off,
        "protection_on": on,
        "throughput_cost_percent": (overhead * 10.0).round() / 10.0,
        "target": "protection on within 15% of protection off",
        "meets_target": overhead <= 15.0,
    });
    println!("{}", serde_json::to_string_pretty(&out)?);
    eprintln!(
        "careslot bench booking ({}, {} bookings, {} concurrent):\n  protection off: {}\n  protection on:  {}\n  cost of protection: {:.1}% (target ≤ 15%)",
        out["backend"].as_str().unwrap_or(""),
        args.bookings,
        args.concurrency,
        table_line(&off),
        table_line(&on),
        overhead
    );
    Ok(out)
}

/// One mode's row of the table: throughput, latency, and CPU per booking by process.
fn table_line(v: &Value) -> String {
    let f = |k: &str| v[k].as_f64().unwrap_or(0.0);
    format!(
        "{:>7.0} bookings/s  p50 {:>6.0} µs  p99 {:>6.0} µs  CPU ms/booking: careslot {:.3}, PostgreSQL {:.3} (machine busy {:.2})",
        f("bookings_per_s"),
        f("p50_us"),
        f("p99_us"),
        f("careslot_ms_per_booking"),
        f("postgres_ms_per_booking"),
        f("machine_busy_share"),
    )
}
