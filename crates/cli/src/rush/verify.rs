//! After the run, the database is the judge: every rule the rush must not break, counted by
//! plain SQL that shares nothing with the code under test.

use serde::Serialize;
use sqlx::{PgPool, Row};

#[derive(Debug, Default, Clone, Copy, Serialize)]
pub struct Verdict {
    /// Overlapping live reservations on a single-line place.
    pub double_booked: i64,
    /// Pooled places (parallel lines) with more live reservations than lines.
    pub over_capacity: i64,
    /// Days with more doses used (or live reservations consuming them) than in stock.
    pub over_stock: i64,
    /// Confirmed (201) appointments missing from the database, or not booked there.
    pub lost: i64,
    /// Series with some doses booked and others not.
    pub orphan_doses: i64,
    /// Informational: stock counters that differ from the doses recorded against them.
    pub stock_drift: i64,
    /// Booked appointments in the database.
    pub booked_in_db: i64,
}

impl Verdict {
    pub fn violations(&self) -> i64 {
        self.double_booked + self.over_capacity + self.over_stock + self.lost + self.orphan_doses
    }
}

const LIVE: &str =
    "(status = 'booked' OR (status = 'held' AND expires_at > extract(epoch FROM now())::bigint))";

async fn count(pool: &PgPool, sql: &str) -> anyhow::Result<i64> {
    Ok(sqlx::query(sql)
        .fetch_one(pool)
        .await?
        .try_get::<i64, _>(0)?)
}

pub async fn verify(pool: &PgPool, confirmed: &[String]) -> anyhow::Result<Verdict> {
    let live_a = LIVE
        .replace("status", "a.status")
        .replace("expires_at", "a.expires_at");
    let live_b = LIVE
        .replace("status", "b.status")
        .replace("expires_at", "b.expires_at");
    let double_booked = count(
        pool,
        &format!(
            "SELECT count(*) FROM reservations a JOIN reservations b
                ON a.agenda_id = b.agenda_id AND a.id < b.id AND a.start_s < b.end_s AND b.start_s < a.end_s
             WHERE a.pool = a.id AND b.pool = b.id AND {live_a} AND {live_b}"
        ),
    )
    .await?;
    let over_capacity = count(
        pool,
        &format!(
            "SELECT count(*) FROM (
                SELECT agenda_id, start_s, end_s, count(*) AS n FROM reservations
                 WHERE pool <> id AND {LIVE} GROUP BY agenda_id, start_s, end_s) g
              WHERE g.n > (SELECT max(m.capacity) FROM motives m WHERE m.agenda_id = g.agenda_id)"
        ),
    )
    .await?;
    let over_stock = count(
        pool,
        &format!(
            "SELECT count(*) FROM dose_stock s
               LEFT JOIN (SELECT agenda_id, stock_product, stock_day, count(*) FILTER (WHERE {LIVE}) AS live
                            FROM reservations WHERE stock_day IS NOT NULL
                           GROUP BY agenda_id, stock_product, stock_day) c
                 ON c.agenda_id = s.agenda_id AND c.stock_product = s.product AND c.stock_day = s.day
              WHERE s.used > s.doses OR COALESCE(c.live, 0) > s.doses"
        ),
    )
    .await?;
    let stock_drift = count(
        pool,
        "SELECT count(*) FROM dose_stock s
           LEFT JOIN (SELECT agenda_id, stock_product, stock_day, count(*) AS n FROM reservations
                       WHERE stock_day IS NOT NULL GROUP BY agenda_id, stock_product, stock_day) c
             ON c.agenda_id = s.agenda_id AND c.stock_product = s.product AND c.stock_day = s.day
          WHERE s.used <> COALESCE(c.n, 0)",
    )
    .await?;
    let orphan_doses = count(
        pool,
        "SELECT count(*) FROM (
            SELECT vaccine_series, count(*) AS doses, count(*) FILTER (WHERE status = 'booked') AS booked
              FROM reservations WHERE vaccine_series IS NOT NULL
             GROUP BY vaccine_series) x
          WHERE x.booked > 0 AND x.booked < x.doses",
    )
    .await?;
    let lost: i64 = sqlx::query(
        "SELECT count(*) FROM unnest($1::text[]) AS c(id)
          WHERE NOT EXISTS (SELECT 1 FROM reservations r WHERE r.id = c.id AND r.status = 'booked')",
    )
    .bind(confirmed)
    .fetch_one(pool)
    .await?
    .try_get(0)?;
    let booked_in_db = count(
        pool,
        "SELECT count(*) FROM reservations WHERE status = 'booked'",
    )
    .await?;
    Ok(Verdict {
        double_booked,
        over_capacity,
        over_stock,
        lost,
        orphan_doses,
        stock_drift,
        booked_in_db,
    })
}

/// The textbook booking, run by pgbench on the same database: lock the slot row with
/// `SELECT … FOR UPDATE`, then insert the booking, one transaction per booking.
pub async fn naive_tps(
    pool: &PgPool,
    url: &str,
    clients: usize,
    seconds: u64,
) -> anyhow::Result<f64> {
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS naive_slots (id BIGINT PRIMARY KEY, agenda_id TEXT NOT NULL,
            start_s BIGINT NOT NULL, capacity INT NOT NULL, taken INT NOT NULL DEFAULT 0)",
    )
    .execute(pool)
    .await?;
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS naive_bookings (id BIGSERIAL PRIMARY KEY,
            slot_id BIGINT NOT NULL REFERENCES naive_slots(id), patient INT NOT NULL,
            created_at TIMESTAMPTZ NOT NULL DEFAULT now())",
    )
    .execute(pool)
    .await?;
    sqlx::query(
        "INSERT INTO naive_slots (id, agenda_id, start_s, capacity)
         SELECT g, 'centre-' || (g % 2634), 1900000000 + g * 300, 3 FROM generate_series(1, 500000) g
         ON CONFLICT DO NOTHING",
    )
    .execute(pool)
    .await?;
    let dir = tempfile::tempdir()?;
    let script = dir.path().join("naive.sql");
    std::fs::write(
        &script,
        "\\set slot random(1, 500000)\n\
         BEGIN;\n\
         SELECT capacity, taken FROM naive_slots WHERE id = :slot FOR UPDATE \\gset\n\
         \\if :taken < :capacity\n\
         INSERT INTO naive_bookings (slot_id, patient) VALUES (:slot, :client_id);\n\
         UPDATE naive_slots SET taken = taken + 1 WHERE id = :slot;\n\
         \\endif\n\
         COMMIT;\n",
    )?;
    let out = tokio::process::Command::new("pgbench")
        .args(["-n", "-f"])
        .arg(&script)
        .args([
            "-c",
            &clients.to_string(),
            "-j",
            "2",
            "-T",
            &seconds.to_string(),
        ])
        .arg(url)
        .output()
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot run pgbench ({e}): install it with `apt-get install postgresql-client`"
            )
        })?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        anyhow::bail!(
            "pgbench failed: {}{}",
            text,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    text.lines()
        .find_map(|l| {
            l.strip_prefix("tps = ")
                .and_then(|r| r.split_whitespace().next())
                .and_then(|n| n.parse::<f64>().ok())
        })
        .ok_or_else(|| anyhow::anyhow!("no tps in pgbench's output: {text}"))
}
