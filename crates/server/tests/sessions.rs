//! The account's sessions (issue 15, point 3), over real HTTP on both backends: the list
//! (device from User-Agent, creation, last use, which is current), revoking one by its id
//! (immediate on every node: on PostgreSQL a second server node over the same database
//! proves it), ids of other accounts' sessions unknown (404), pending two-factor sessions
//! left out of the list, and the web page listing and revoking them. Idle timeout and
//! absolute lifetime: the session rows are aged behind the server's back (as 31 minutes of
//! inactivity would leave them), never by sleeping.

mod common;

use careslot_server::services::AppConfig;
use common::{start_configured, Backend, TestServer};
use reqwest::{header, Method, StatusCode};
use serde_json::{json, Value};

const PASSWORD: &str = "correct horse battery";

async fn sign_in_as(srv: &TestServer, email: &str, device: &str) -> String {
    let resp = srv
        .client
        .post(format!("{}/api/v1/sessions", srv.base))
        .header(header::USER_AGENT, device)
        .json(&json!({"email": email, "password": PASSWORD}))
        .send()
        .await
        .expect("sign in");
    assert_eq!(resp.status(), StatusCode::CREATED);
    let b: Value = resp.json().await.expect("session");
    b["token"].as_str().expect("token").to_owned()
}

async fn register(srv: &TestServer, name: &str) -> String {
    let email = format!("{}-{}@example.test", name, common::uuid_like());
    let (s, b) = srv
        .post_retrying_busy(
            "/api/v1/accounts",
            json!({"email": email, "password": PASSWORD, "name": name, "role": "patient"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    email
}

async fn sessions_are_listed_and_revoked_on_every_node(backend: Backend) {
    let (srv, loc) = start_configured(backend, AppConfig::default()).await;
    // A second node on the same database (PostgreSQL: a second App and server).
    let other = match backend {
        Backend::Postgres => Some(common::start_on(&loc).await),
        Backend::Sqlite => None,
    };
    // Sessions are cached in memory only where every node hears every session change.
    assert_eq!(
        srv.app.accounts.session_cache().is_some(),
        matches!(backend, Backend::Postgres)
    );
    let email = register(&srv, "sam").await;
    let laptop = sign_in_as(
        &srv,
        &email,
        "Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0",
    )
    .await;
    let phone = sign_in_as(
        &srv,
        &email,
        "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1) Safari",
    )
    .await;
    let (s, list) = srv.get("/api/v1/sessions", Some(&laptop)).await;
    assert_eq!(s, StatusCode::OK, "{list}");
    let sessions = list["sessions"].as_array().expect("sessions");
    assert_eq!(sessions.len(), 2, "{list}");
    let current: Vec<&Value> = sessions.iter().filter(|s| s["current"] == true).collect();
    assert_eq!(current.len(), 1, "{list}");
    assert!(current[0]["device"]
        .as_str()
        .expect("device")
        .contains("Firefox"));
    let phone_session = sessions
        .iter()
        .find(|s| s["current"] == false)
        .expect("the phone's session");
    assert!(phone_session["device"]
        .as_str()
        .expect("device")
        .contains("iPhone"));
    for field in ["created_at", "last_used_at", "expires_at"] {
        assert!(phone_session[field].is_string(), "{field}: {list}");
    }
    let phone_id = phone_session["id"].as_str().expect("id").to_owned();
    // Both tokens work on both nodes.
    for node in std::iter::once(&srv).chain(other.as_ref()) {
        assert_eq!(node.get("/api/v1/me", Some(&phone)).await.0, StatusCode::OK);
    }

    // Another account knows nothing of these ids.
    let intruder_email = register(&srv, "ivy").await;
    let intruder = sign_in_as(&srv, &intruder_email, "curl/8").await;
    let (s, _) = srv
        .call(
            Method::DELETE,
            &format!("/api/v1/sessions/{phone_id}"),
            Some(&intruder),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(srv.get("/api/v1/me", Some(&phone)).await.0, StatusCode::OK);

    // Revoked from the laptop: the phone's token stops at once, on every node.
    let node = other.as_ref().unwrap_or(&srv);
    let (s, b) = node
        .call(
            Method::DELETE,
            &format!("/api/v1/sessions/{phone_id}"),
            Some(&laptop),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{b}");
    // At once on the node that revoked it; on the other, which had it cached, as soon as
    // the announcement arrives.
    assert_eq!(
        node.get("/api/v1/me", Some(&phone)).await.0,
        StatusCode::UNAUTHORIZED
    );
    srv.wait_until_refused(&phone).await;
    for node in std::iter::once(&srv).chain(other.as_ref()) {
        assert_eq!(
            node.get("/api/v1/me", Some(&phone)).await.0,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            node.get("/api/v1/me", Some(&laptop)).await.0,
            StatusCode::OK
        );
    }
    let (s, _) = srv
        .call(
            Method::DELETE,
            &format!("/api/v1/sessions/{phone_id}"),
            Some(&laptop),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (_, list) = srv.get("/api/v1/sessions", Some(&laptop)).await;
    assert_eq!(list["sessions"].as_array().expect("sessions").len(), 1);

    // A sign-in waiting for its second factor is not listed.
    srv.enrol_mfa(&laptop).await;
    let resp = srv
        .client
        .post(format!("{}/api/v1/sessions", srv.base))
        .json(&json!({"email": email, "password": PASSWORD}))
        .send()
        .await
        .expect("sign in");
    assert_eq!(resp.status(), StatusCode::CREATED);
    let (_, list) = srv.get("/api/v1/sessions", Some(&laptop)).await;
    assert_eq!(list["sessions"].as_array().expect("sessions").len(), 1);
    assert_eq!(list["sessions"][0]["second_factor"], true, "{list}");

    if let Some(b) = other {
        b.stop().await;
    }
    srv.stop().await;
}

async fn the_security_page_lists_and_revokes_sessions(backend: Backend) {
    let (srv, _loc) = start_configured(backend, AppConfig::default()).await;
    let email = register(&srv, "wes").await;
    let api = sign_in_as(&srv, &email, "careslot-test-client/1.0").await;
    let mut web = common::web::WebClient::new(&srv).await;
    let resp = web
        .post_form("/signin", &[("email", &email), ("password", PASSWORD)])
        .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    web.absorb(&resp);
    let page = web.get("/account/security").await;
    assert_eq!(page.status(), StatusCode::OK);
    assert_eq!(page.headers()[header::CACHE_CONTROL], "no-store");
    let page = page.text().await.expect("page");
    assert!(page.contains("careslot-test-client/1.0"), "{page}");
    let (_, list) = srv.get("/api/v1/sessions", Some(&api)).await;
    let api_id = list["sessions"]
        .as_array()
        .expect("sessions")
        .iter()
        .find(|s| s["current"] == true)
        .and_then(|s| s["id"].as_str())
        .expect("id")
        .to_owned();
    assert!(
        page.contains(&format!("/account/sessions/{api_id}/revoke")),
        "{page}"
    );
    let resp = web
        .post_form(&format!("/account/sessions/{api_id}/revoke"), &[])
        .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        srv.get("/api/v1/me", Some(&api)).await.0,
        StatusCode::UNAUTHORIZED
    );
    srv.stop().await;
}

/// Moves every session's creation, last use and expiry `by_s` seconds into the past, in the
/// database itself (what time passing does to the rows).
async fn age_sessions(loc: &common::DataLocation, by_s: i64, expiry_too: bool) {
    let sql = if expiry_too {
        "UPDATE sessions SET created_at = created_at - $1, expires_at = expires_at - $1,
                last_used_at = COALESCE(last_used_at, created_at) - $1"
    } else {
        "UPDATE sessions SET created_at = created_at - $1,
                last_used_at = COALESCE(last_used_at, created_at) - $1"
    };
    match &loc.db {
        common::Db::Sqlite(dir) => {
            let url = format!("sqlite://{}", dir.path().join("careslot.db").display());
            let pool = sqlx::SqlitePool::connect(&url).await.expect("sqlite");
            sqlx::query(sql)
                .bind(by_s)
                .execute(&pool)
                .await
                .expect("age");
            pool.close().await;
        }
        common::Db::Postgres(url) => {
            let pool = sqlx::PgPool::connect(url).await.expect("postgres");
            sqlx::query(sql)
                .bind(by_s)
                .execute(&pool)
                .await
                .expect("age");
            pool.close().await;
        }
    }
}

/// [`age_sessions`], then waits until the server has heard of it (its session cache,
/// PostgreSQL only, drops what the rows' announcements name).
async fn age(srv: &TestServer, loc: &common::DataLocation, by_s: i64, expiry_too: bool) {
    age_sessions(loc, by_s, expiry_too).await;
    srv.wait_sessions_forgotten().await;
}

async fn idle_practice_sessions_end_and_every_session_has_a_lifetime(backend: Backend) {
    let (srv, loc) = start_configured(backend, AppConfig::default()).await;
    let patient = register(&srv, "ida").await;
    let doctor = format!("doc-{}@example.test", common::uuid_like());
    let (s, b) = srv
        .post_retrying_busy(
            "/api/v1/accounts",
            json!({"email": doctor, "password": PASSWORD, "name": "Dr Idle", "role": "practitioner"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let patient_token = sign_in_as(&srv, &patient, "test").await;
    let doctor_token = sign_in_as(&srv, &doctor, "test").await;
    for t in [&patient_token, &doctor_token] {
        assert_eq!(srv.get("/api/v1/me", Some(t)).await.0, StatusCode::OK);
    }

    // 29 minutes without use: both still work (the default idle timeout is 30 minutes).
    age(&srv, &loc, 29 * 60, false).await;
    for t in [&patient_token, &doctor_token] {
        assert_eq!(srv.get("/api/v1/me", Some(t)).await.0, StatusCode::OK);
    }
    // That use counted: another 29 minutes later, still working.
    age(&srv, &loc, 29 * 60, false).await;
    assert_eq!(
        srv.get("/api/v1/me", Some(&doctor_token)).await.0,
        StatusCode::OK
    );
    // 31 minutes idle: the practice session has ended, the patient's has not.
    age(&srv, &loc, 31 * 60, false).await;
    assert_eq!(
        srv.get("/api/v1/me", Some(&doctor_token)).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        srv.get("/api/v1/me", Some(&doctor_token)).await.0,
        StatusCode::UNAUTHORIZED,
        "an ended session stays ended"
    );
    assert_eq!(
        srv.get("/api/v1/me", Some(&patient_token)).await.0,
        StatusCode::OK
    );
    // Past its absolute lifetime (30 days), however recently used: every session ends.
    age(&srv, &loc, 31 * 24 * 3600, true).await;
    assert_eq!(
        srv.get("/api/v1/me", Some(&patient_token)).await.0,
        StatusCode::UNAUTHORIZED
    );
    srv.stop().await;
}

on_both_backends!(
    sessions_are_listed_and_revoked_on_every_node,
    the_security_page_lists_and_revokes_sessions,
    idle_practice_sessions_end_and_every_session_has_a_lifetime,
);

/// Uses `token` on `node` until that node serves it from its session cache (its listener
/// may still be starting), so that what follows tests the cache, not the database.
async fn cached_on(node: &TestServer, token: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        assert_eq!(node.get("/api/v1/me", Some(token)).await.0, StatusCode::OK);
        if holds(node, token) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the node never cached the session"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// Waits until `node`'s session cache no longer holds `token`'s session (10 s at most).
async fn forgotten_on(node: &TestServer, token: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while holds(node, token) {
        assert!(
            std::time::Instant::now() < deadline,
            "the node still holds an ended session after 10 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// Whether `node` would serve `token` from its session cache now.
fn holds(node: &TestServer, token: &str) -> bool {
    node.app
        .accounts
        .session_cache()
        .expect("PostgreSQL nodes cache sessions")
        .get(
            &careslot_identity::hash_token(token),
            std::time::Instant::now(),
        )
        .is_some()
}

/// The session cache (issue #20): a session node B serves from memory ends there however
/// it ends on node A (sign-out, password change, erasure) or in the database itself (a
/// change typed by hand: the trigger announces it, not the code).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cached_sessions_end_on_every_node_however_they_end() {
    let loc = common::new_location(Backend::Postgres).await;
    let a = common::start_on(&loc).await;
    let b = common::start_on(&loc).await;

    // Signed out on A.
    let email = register(&a, "cora").await;
    let t = sign_in_as(&a, &email, "test").await;
    cached_on(&b, &t).await;
    let (s, _) = a
        .call(Method::DELETE, "/api/v1/sessions/current", Some(&t), None)
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_eq!(
        a.get("/api/v1/me", Some(&t)).await.0,
        StatusCode::UNAUTHORIZED
    );
    b.wait_until_refused(&t).await;

    // A password change on A ends every other session, the one B has cached too.
    let keep = sign_in_as(&a, &email, "laptop").await;
    let other = sign_in_as(&a, &email, "phone").await;
    cached_on(&b, &other).await;
    cached_on(&b, &keep).await;
    let (s, body) = a
        .post(
            "/api/v1/me/password",
            Some(&keep),
            json!({"current_password": PASSWORD, "new_password": "another correct horse battery"}),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{body}");
    b.wait_until_refused(&other).await;
    assert_eq!(b.get("/api/v1/me", Some(&keep)).await.0, StatusCode::OK);

    // Deleted by hand in the database: the trigger announces it to both nodes.
    cached_on(&a, &keep).await;
    cached_on(&b, &keep).await;
    let common::Db::Postgres(url) = &loc.db else {
        unreachable!("a PostgreSQL location")
    };
    let pool = sqlx::PgPool::connect(url).await.expect("postgres");
    sqlx::query("DELETE FROM sessions")
        .execute(&pool)
        .await
        .expect("delete");
    pool.close().await;
    a.wait_until_refused(&keep).await;
    b.wait_until_refused(&keep).await;

    // Erased on A: the session B has cached ends with the account.
    let email = register(&a, "erin").await;
    let gone = sign_in_as(&a, &email, "test").await;
    cached_on(&b, &gone).await;
    let (s, _) = a
        .call(Method::DELETE, "/api/v1/me", Some(&gone), None)
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    // (`/api/v1/me` reads the account, so it refuses at once: the cache must go too.)
    forgotten_on(&b, &gone).await;
    b.wait_until_refused(&gone).await;

    b.stop().await;
    a.stop().await;
}
