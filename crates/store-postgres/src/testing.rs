//! Fresh databases for tests: each test gets its own, created from the admin URL in
//! `DATABASE_URL` (default: the local server every careslot machine has).

use sqlx::{Connection, PgConnection};

pub const DEFAULT_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// The admin URL tests use: `DATABASE_URL`, else the local default.
pub fn admin_url() -> String {
    std::env::var("DATABASE_URL").unwrap_or_else(|_| DEFAULT_ADMIN_URL.to_owned())
}

/// Creates an empty database and returns its URL. Fails loudly, with a hint, when no
/// PostgreSQL is reachable: tests that need it must never skip silently.
pub async fn fresh_database() -> Result<String, String> {
    let admin = admin_url();
    let mut conn = PgConnection::connect(&admin).await.map_err(|e| {
        format!(
            "cannot reach PostgreSQL at {admin} ({e}). These tests need a PostgreSQL 13+ server with \
             the btree_gist extension available (Debian: apt-get install postgresql). Set DATABASE_URL \
             to an account that may CREATE DATABASE."
        )
    })?;
    sweep_old_databases(&mut conn).await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let name = format!("careslot_test_{now}_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .map_err(|e| format!("CREATE DATABASE failed: {e}"))?;
    let base = match admin.rfind('/') {
        Some(i) if !admin[..i].ends_with('/') => &admin[..i],
        _ => admin.as_str(),
    };
    let query = admin.find('?').map(|i| &admin[i..]).unwrap_or("");
    Ok(format!("{base}/{name}{query}"))
}

/// Test databases are named `careslot_test_<unix seconds>_<uuid>`; those older than two
/// hours belong to finished runs and are dropped, so repeated runs do not fill the disk.
async fn sweep_old_databases(conn: &mut PgConnection) {
    let Ok(rows) = sqlx::query_scalar::<_, String>(
        "SELECT datname FROM pg_database WHERE datname LIKE 'careslot_test_%'",
    )
    .fetch_all(&mut *conn)
    .await
    else {
        return;
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    for name in rows {
        let created = name
            .strip_prefix("careslot_test_")
            .and_then(|rest| rest.split('_').next())
            .and_then(|t| t.parse::<u64>().ok());
        // Names without a timestamp come from older versions of this helper.
        if created.is_none_or(|t| now.saturating_sub(t) > 2 * 3600) {
            let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut *conn)
                .await;
        }
    }
}
