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
    let name = format!("careslot_test_{}", uuid::Uuid::new_v4().simple());
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
