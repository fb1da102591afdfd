//! Preparing the rush: a fresh PostgreSQL database holding the real centre list (or as many
//! generated centres when the file is absent), weeks of dose stock, patient sessions, and
//! the server under test started as its own `careslot serve` process.

use crate::{DbArgs, KeyArgs};
use anyhow::{anyhow, Context};
use careslot_server::services::AppConfig;
use careslot_store::Role;
use sqlx::postgres::PgPoolOptions;
use sqlx::{PgPool, Row};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

/// The real centre list, looked for beside the project (`../shared/data/`).
pub const CENTRES_FILE: &str = "vaccination-centers-fr-2021-04-14.json";
/// How many sites the real file has (the count of generated centres when it is absent).
const REAL_SITES: usize = 2634;

/// A dose-1 motive clients can book with its dose 2 at the same centre.
#[derive(Debug, Clone)]
pub struct Target {
    pub agenda_id: String,
    pub dose1: String,
}

pub struct Prepared {
    pub database_url: String,
    pub pool: PgPool,
    pub centres_source: String,
    pub centres: usize,
    pub targets: Vec<Target>,
    pub tokens: Vec<String>,
    pub stock_days: i64,
    pub setup_s: f64,
    pub keys: tempfile::TempDir,
    /// The nodes' data directory (messages they cannot send are written there as files):
    /// never the working directory's `./careslot-data`.
    pub data: tempfile::TempDir,
}

pub fn find_centres_file(given: Option<&Path>) -> Option<PathBuf> {
    if let Some(p) = given {
        return Some(p.to_owned());
    }
    let mut dir = std::env::current_dir().ok();
    while let Some(d) = dir {
        for candidate in [
            d.join("shared/data").join(CENTRES_FILE),
            d.join("../shared/data").join(CENTRES_FILE),
        ] {
            if candidate.is_file() {
                return Some(candidate);
            }
        }
        dir = d.parent().map(Path::to_owned);
    }
    None
}

/// Builds the database the server will run on.
pub async fn prepare(
    admin_url: &str,
    centres_file: Option<&Path>,
    lines: u32,
    patients: usize,
    stock_per_day: u32,
    stock_days: i64,
) -> anyhow::Result<Prepared> {
    let started = Instant::now();
    std::env::set_var("DATABASE_URL", admin_url);
    let url = careslot_store_postgres::testing::fresh_database()
        .await
        .map_err(|e| anyhow!(e))?;
    let keys = tempfile::tempdir()?;
    let db = DbArgs {
        data_dir: PathBuf::from("unused"),
        database_url: Some(url.clone()),
        db_connections: 8,
    };
    let key_args = KeyArgs {
        keyd_url: None,
        keyd_token: None,
        keyd_ca_file: None,
        keys_dir: keys.path().to_owned(),
        blind_index_bits: 16,
    };
    let app = crate::open_app_with(&db, &key_args, AppConfig::default()).await?;

    let (centres_source, file) = match find_centres_file(centres_file) {
        Some(f) => (format!("real: {}", f.display()), f),
        None => {
            let f = keys.path().join("generated-centres.json");
            std::fs::write(&f, generated_centres(REAL_SITES))?;
            (
                format!(
                    "generated: {REAL_SITES} centres ({CENTRES_FILE} not found in ../shared/data)"
                ),
                f,
            )
        }
    };
    let outcome = crate::import::vaccination_centres(app.clone(), &file, lines, None, false)
        .await
        .context("importing the centres")?;
    eprintln!(
        "rush: {} sites imported in {:.1} s ({centres_source})",
        outcome.summary.created, outcome.elapsed_s
    );

    let pool = PgPoolOptions::new()
        .max_connections(4)
        .connect(&url)
        .await?;
    // A quarter of the centres run a single line: their places are guarded by the exclusion
    // constraint, the others' by the pool counters.
    sqlx::query(
        "UPDATE motives SET capacity = 1
          WHERE id IN (SELECT motive_id FROM motive_vaccines) AND abs(hashtext(agenda_id)) % 4 = 0",
    )
    .execute(&pool)
    .await?;
    sqlx::query(
        "INSERT INTO dose_stock (agenda_id, product, day, doses, used)
         SELECT DISTINCT mv.agenda_id, mv.product, to_char(current_date + d, 'YYYY-MM-DD'), $1::bigint, 0
           FROM motive_vaccines mv, generate_series(-1, $2::int) d
         ON CONFLICT DO NOTHING",
    )
    .bind(i64::from(stock_per_day))
    .bind(stock_days as i32)
    .execute(&pool)
    .await?;
    let targets: Vec<Target> = sqlx::query(
        "SELECT mv.agenda_id, mv.motive_id FROM motive_vaccines mv
           JOIN motive_vaccines d2 ON d2.motive_id = mv.next_motive_id
          WHERE mv.dose = 1 AND mv.product IN ('comirnaty', 'spikevax')
            AND EXISTS (SELECT 1 FROM opening_rules r WHERE r.agenda_id = mv.agenda_id)
          ORDER BY mv.agenda_id, mv.motive_id",
    )
    .fetch_all(&pool)
    .await?
    .iter()
    .map(|r| {
        Ok(Target {
            agenda_id: r.try_get("agenda_id")?,
            dose1: r.try_get("motive_id")?,
        })
    })
    .collect::<Result<_, sqlx::Error>>()?;
    let centres: i64 = sqlx::query("SELECT count(DISTINCT agenda_id) AS n FROM motive_vaccines")
        .fetch_one(&pool)
        .await?
        .try_get("n")?;

    // Patients: identities sealed as in production, sessions opened directly (a login would
    // only add one password hash per patient to the set-up).
    let hash = crate::import::unknowable_password_hash()?;
    let mut tokens = Vec::with_capacity(patients);
    for i in 0..patients {
        let who = app
            .create_identity(
                Role::Patient,
                format!("rush{i}@example.test"),
                format!("Rush Patient {i}"),
                None,
                Some("1970-01-01".into()),
                hash.clone(),
            )
            .await
            .map_err(|e| anyhow!("{e}"))?;
        tokens.push(
            app.open_session(&who.id)
                .await
                .map_err(|e| anyhow!("{e}"))?,
        );
    }
    drop(app);
    Ok(Prepared {
        database_url: url,
        pool,
        centres_source,
        centres: centres as usize,
        targets,
        tokens,
        stock_days,
        setup_s: started.elapsed().as_secs_f64(),
        keys,
        data: tempfile::tempdir()?,
    })
}

/// A file shaped like the real one with `n` centres spread over mainland France, open
/// 08:00–20:00 every day.
fn generated_centres(n: usize) -> String {
    let mut sites = Vec::with_capacity(n);
    for i in 0..n {
        let lat = 43.0 + (i * 7919 % 8000) as f64 / 1000.0;
        let lon = -1.5 + (i * 104_729 % 8500) as f64 / 1000.0;
        let hours: serde_json::Map<String, serde_json::Value> = [
            "lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche",
        ]
        .iter()
        .map(|d| ((*d).to_owned(), serde_json::json!("08:00-20:00")))
        .collect();
        sites.push(serde_json::json!({
            "departement": "75", "nom": format!("Centre de vaccination généré {i}"),
            "url": "", "type": "vaccination-center", "plateforme": null, "gid": i,
            "internal_id": format!("generated-{i}"),
            "location": {"longitude": lon, "latitude": lat},
            "metadata": {"address": format!("{i} rue de la République 75001 Paris"), "phone_number": null,
                         "business_hours": hours},
            "vaccine_type": ["Pfizer-BioNTech"], "prochain_rdv": null, "appointment_count": 0,
        }));
    }
    serde_json::json!({"75": {"centres_disponibles": sites, "centres_indisponibles": []}})
        .to_string()
}

/// The server under test: this same binary, `careslot serve`, as its own process.
pub struct Server {
    child: tokio::process::Child,
    pub addr: SocketAddr,
    pub pid: u32,
}

/// A free loopback address.
pub fn free_addr() -> anyhow::Result<SocketAddr> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    Ok(([127, 0, 0, 1], port).into())
}

/// Polls `path` on `addr` until it answers 2xx, within `bound`.
pub async fn until_ok(addr: SocketAddr, path: &str, bound: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + bound;
    loop {
        let mut c = super::http::Conn::new(addr, None);
        if let Ok(a) = c.call(hyper::Method::GET, path, None, &[]).await {
            if a.status.is_success() {
                return Ok(());
            }
        }
        if Instant::now() > deadline {
            anyhow::bail!("{addr}{path} did not answer within {} s", bound.as_secs());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

impl Server {
    pub async fn start(
        prepared: &Prepared,
        operator_token_file: &Path,
        extra: &[String],
    ) -> anyhow::Result<Self> {
        Self::start_at(prepared, operator_token_file, extra, free_addr()?).await
    }

    /// Starts a node on `addr` (a restarted node takes its old address back).
    pub async fn start_at(
        prepared: &Prepared,
        operator_token_file: &Path,
        extra: &[String],
        addr: SocketAddr,
    ) -> anyhow::Result<Self> {
        let exe = std::env::current_exe()?;
        let mut cmd = tokio::process::Command::new(exe);
        cmd.arg("serve")
            .arg("--bind")
            .arg(addr.to_string())
            .arg("--database-url")
            .arg(&prepared.database_url)
            .arg("--keys-dir")
            .arg(prepared.keys.path())
            .arg("--data-dir")
            .arg(prepared.data.path())
            .arg("--operator-token-file")
            .arg(operator_token_file)
            .args(extra)
            .env("CARESLOT_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        let child = cmd.spawn().context("cannot start careslot serve")?;
        let pid = child.id().unwrap_or(0);
        let server = Self { child, addr, pid };
        until_ok(addr, "/healthz", Duration::from_secs(60)).await?;
        Ok(server)
    }

    /// Sends `signal` (SIGTERM: stop gracefully; SIGKILL: die now).
    pub fn signal(&self, signal: i32) {
        if let Ok(pid) = i32::try_from(self.pid) {
            // SAFETY: kill(2) on our own child's pid.
            unsafe {
                libc::kill(pid, signal);
            }
        }
    }

    /// Waits up to `bound` for the process to end (then kills it): whether it ended by
    /// itself.
    pub async fn wait_exit(&mut self, bound: Duration) -> bool {
        match tokio::time::timeout(bound, self.child.wait()).await {
            Ok(_) => true,
            Err(_) => {
                let _ = self.child.start_kill();
                let _ = self.child.wait().await;
                false
            }
        }
    }

    pub async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }
}
