//! The front door (issue 15), over real HTTP on both backends: throttling of sign-in per
//! account and per address (also behind a trusted proxy, and on the web form), sessions
//! that end on sign-out (on every node), weak passwords refused, `no-store` on personal
//! answers, and the bounded password-hashing queue answering 503 instead of queueing.
//!
//! Backoffs are configured long (10 minutes) so that no assertion depends on timing.

mod common;

use careslot_identity::{Backoff, IdentityConfig, ThrottleConfig};
use careslot_server::services::AppConfig;
use common::web::WebClient;
use common::{start_configured, Backend, TestServer};
use jiff::SignedDuration;
use reqwest::{header, Method, StatusCode};
use serde_json::{json, Value};

const PASSWORD: &str = "correct horse battery";

fn backoff(free: u32) -> Backoff {
    Backoff {
        free,
        base: SignedDuration::from_mins(10),
        cap: SignedDuration::from_mins(15),
    }
}

fn config(account_free: u32, address_free: u32) -> AppConfig {
    AppConfig {
        identity: IdentityConfig {
            throttle: ThrottleConfig {
                account: backoff(account_free),
                address: backoff(address_free),
                ..Default::default()
            },
            trusted_proxies: vec!["127.0.0.1/32".parse().expect("cidr")],
            ..Default::default()
        },
        ..AppConfig::default()
    }
}

/// A fresh patient account; returns its email.
async fn patient(srv: &TestServer, name: &str) -> String {
    let email = format!("{}-{}@example.test", name, common::uuid_like());
    let (s, b) = srv
        .post(
            "/api/v1/accounts",
            None,
            json!({"email": email, "password": PASSWORD, "name": name, "role": "patient"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    email
}

/// `POST /api/v1/sessions`, optionally as forwarded by the proxy for `forwarded_for`.
async fn login(
    srv: &TestServer,
    email: &str,
    password: &str,
    forwarded_for: Option<&str>,
) -> reqwest::Response {
    let mut req = srv
        .client
        .post(format!("{}/api/v1/sessions", srv.base))
        .json(&json!({"email": email, "password": password}));
    if let Some(ip) = forwarded_for {
        req = req.header("x-forwarded-for", ip);
    }
    req.send().await.expect("login")
}

/// A 429 problem of type too-many-attempts with a Retry-After in seconds.
async fn assert_throttled(resp: reqwest::Response) {
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = resp
        .headers()
        .get(header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After in seconds");
    assert!((1..=15 * 60).contains(&retry), "{retry}");
    let body: Value = resp.json().await.expect("problem");
    assert_eq!(
        body["type"],
        "https://careslot.eu/problems/too-many-attempts"
    );
    assert_eq!(body["status"], 429);
}

async fn wrong_logins_are_throttled_per_account(backend: Backend) {
    let (srv, _loc) = start_configured(backend, config(3, 1000)).await;
    let email = patient(&srv, "alice").await;
    let other = patient(&srv, "bob").await;
    // Three free failures, then the fourth blocks the account.
    for _ in 0..4 {
        let r = login(&srv, &email, "not the password", None).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    // Blocked: the right password is refused too, before any password check.
    assert_throttled(login(&srv, &email, PASSWORD, None).await).await;
    assert_throttled(login(&srv, &email.to_uppercase(), PASSWORD, None).await).await;
    // Another account from the same address is not affected.
    assert_eq!(
        login(&srv, &other, PASSWORD, None).await.status(),
        StatusCode::CREATED
    );
    // The web form of the same account gets the localized 429 page.
    let web = WebClient::new(&srv).await;
    let resp = web
        .post_form("/signin", &[("email", &email), ("password", PASSWORD)])
        .await;
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(resp.headers().contains_key(header::RETRY_AFTER));
    let page = resp.text().await.expect("page");
    assert!(page.contains("Too many attempts"), "{page}");
    assert!(!page.contains(&email));
    srv.stop().await;
}

async fn a_success_resets_the_account_counter(backend: Backend) {
    let (srv, _loc) = start_configured(backend, config(3, 1000)).await;
    let email = patient(&srv, "carol").await;
    for _ in 0..2 {
        for _ in 0..2 {
            let r = login(&srv, &email, "not the password", None).await;
            assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        }
        // Four failures in all, but a success in between forgets the first two.
        assert_eq!(
            login(&srv, &email, PASSWORD, None).await.status(),
            StatusCode::CREATED
        );
    }
    srv.stop().await;
}

async fn wrong_logins_are_throttled_per_address(backend: Backend) {
    let (srv, _loc) = start_configured(backend, config(1000, 3)).await;
    let email = patient(&srv, "dora").await;
    let attacker = "203.0.113.9";
    // Unknown accounts count like known ones (nothing tells them apart).
    for i in 0..4 {
        let r = login(
            &srv,
            &format!("nobody{i}@example.test"),
            "guess",
            Some(attacker),
        )
        .await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    assert_throttled(login(&srv, &email, PASSWORD, Some(attacker)).await).await;
    // The trusted proxy forwards another client: not blocked.
    assert_eq!(
        login(&srv, &email, PASSWORD, Some("198.51.100.4"))
            .await
            .status(),
        StatusCode::CREATED
    );
    // Refused sign-ups count against the address too (their own counter).
    for _ in 0..4 {
        let r = signup(&srv, "short", Some(attacker)).await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    }
    assert_throttled(signup(&srv, PASSWORD, Some(attacker)).await).await;
    assert_eq!(
        signup(&srv, PASSWORD, Some("198.51.100.4")).await.status(),
        StatusCode::CREATED
    );
    srv.stop().await;
}

async fn signup(
    srv: &TestServer,
    password: &str,
    forwarded_for: Option<&str>,
) -> reqwest::Response {
    let email = format!("new-{}@example.test", common::uuid_like());
    let mut req = srv
        .client
        .post(format!("{}/api/v1/accounts", srv.base))
        .json(&json!({"email": email, "password": password, "name": "Kim", "role": "patient"}));
    if let Some(ip) = forwarded_for {
        req = req.header("x-forwarded-for", ip);
    }
    req.send().await.expect("sign-up")
}

async fn signing_out_revokes_the_session(backend: Backend) {
    let (srv, loc) = start_configured(backend, AppConfig::default()).await;
    // A second node on the same database (PostgreSQL: a second App and server).
    let other = match backend {
        Backend::Postgres => Some(common::start_on(&loc).await),
        Backend::Sqlite => None,
    };
    let (token, _) = srv.account("patient", "Eve Martin").await;
    assert_eq!(srv.get("/api/v1/me", Some(&token)).await.0, StatusCode::OK);
    if let Some(b) = &other {
        assert_eq!(b.get("/api/v1/me", Some(&token)).await.0, StatusCode::OK);
    }
    let (s, _) = srv
        .call(
            Method::DELETE,
            "/api/v1/sessions/current",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_eq!(
        srv.get("/api/v1/me", Some(&token)).await.0,
        StatusCode::UNAUTHORIZED
    );
    if let Some(b) = &other {
        assert_eq!(
            b.get("/api/v1/me", Some(&token)).await.0,
            StatusCode::UNAUTHORIZED
        );
    }
    let (s, _) = srv
        .call(
            Method::DELETE,
            "/api/v1/sessions/current",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);

    // The web sign-out deletes the session too: the captured cookie stops working, also
    // as a bearer token.
    let email = patient(&srv, "frank").await;
    let mut web = WebClient::new(&srv).await;
    let resp = web
        .post_form("/signin", &[("email", &email), ("password", PASSWORD)])
        .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    web.absorb(&resp);
    let captured = web.cookie("careslot_session").expect("session cookie");
    assert_eq!(
        srv.get("/api/v1/me", Some(&captured)).await.0,
        StatusCode::OK
    );
    let resp = web.post_form("/signout", &[]).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        srv.get("/api/v1/me", Some(&captured)).await.0,
        StatusCode::UNAUTHORIZED
    );
    if let Some(b) = &other {
        assert_eq!(
            b.get("/api/v1/me", Some(&captured)).await.0,
            StatusCode::UNAUTHORIZED
        );
    }
    if let Some(b) = other {
        b.stop().await;
    }
    srv.stop().await;
}

async fn weak_passwords_are_refused(backend: Backend) {
    let (srv, _loc) = start_configured(backend, AppConfig::default()).await;
    for (password, role) in [
        ("aaaaaaaaaa", "patient"),
        ("password12", "patient"),
        ("password12", "practitioner"),
        // Strong but short for a practice account (12 characters there).
        ("Tq8#vL2!pZ", "practitioner"),
    ] {
        let email = format!("weak-{}@example.test", common::uuid_like());
        let (s, b) = srv
            .post(
                "/api/v1/accounts",
                None,
                json!({"email": email, "password": password, "name": "Gina Weak", "role": role}),
            )
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{password}: {b}");
        let detail = b["detail"].as_str().expect("detail");
        assert!(detail.starts_with("password:"), "{detail}");
        assert!(!detail.contains(password), "{detail}");
    }
    let (s, _) = srv
        .post(
            "/api/v1/accounts",
            None,
            json!({"email": "strong@example.test", "password": "Tq8#vL2!pZ", "name": "Hugo", "role": "patient"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    srv.stop().await;
}

async fn personal_answers_are_not_stored(backend: Backend) {
    let (srv, _loc) = start_configured(backend, AppConfig::default()).await;
    let email = patient(&srv, "iris").await;
    let resp = login(&srv, &email, PASSWORD, None).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    assert_eq!(resp.headers()[header::CACHE_CONTROL], "no-store");
    let token = resp.json::<Value>().await.expect("session")["token"]
        .as_str()
        .expect("token")
        .to_owned();
    for (path, auth) in [
        ("/api/v1/me", Some(&token)),
        ("/api/v1/appointments", Some(&token)),
        ("/api/v1/me/access-log", Some(&token)),
        ("/api/v1/me", None),
    ] {
        let mut req = srv.client.get(format!("{}{path}", srv.base));
        if let Some(t) = auth {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.expect("get");
        assert_eq!(
            resp.headers()
                .get(header::CACHE_CONTROL)
                .map(|v| v.as_bytes()),
            Some(&b"no-store"[..]),
            "{path}"
        );
    }
    // Public answers may be cached.
    let resp = srv
        .client
        .get(format!("{}/api/v1/specialties", srv.base))
        .send()
        .await
        .expect("get");
    assert_ne!(
        resp.headers()
            .get(header::CACHE_CONTROL)
            .map(|v| v.as_bytes()),
        Some(&b"no-store"[..])
    );
    // Pages of a signed-in account.
    let mut web = WebClient::new(&srv).await;
    let resp = web
        .post_form("/signin", &[("email", &email), ("password", PASSWORD)])
        .await;
    web.absorb(&resp);
    let resp = web.get("/appointments").await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()[header::CACHE_CONTROL], "no-store");
    srv.stop().await;
}

/// One hashing slot and one place in the queue: concurrent sign-ins either go through or
/// get 503 with Retry-After; nothing else fails and at least one succeeds.
async fn saturated_hashing_answers_503(backend: Backend) {
    let mut cfg = config(1000, 1000);
    cfg.identity.hashing_concurrency = 1;
    cfg.identity.hashing_queue = 1;
    let (srv, _loc) = start_configured(backend, cfg).await;
    let email = patient(&srv, "jules").await;
    let attempts = (0..24).map(|_| login(&srv, &email, PASSWORD, None));
    let answers = futures::future::join_all(attempts).await;
    let mut ok = 0;
    for resp in answers {
        match resp.status() {
            StatusCode::CREATED => ok += 1,
            StatusCode::SERVICE_UNAVAILABLE => {
                assert!(resp.headers().contains_key(header::RETRY_AFTER));
                let body: Value = resp.json().await.expect("problem");
                assert_eq!(
                    body["type"],
                    "https://careslot.eu/problems/authentication-busy"
                );
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert!(ok >= 1);
    srv.stop().await;
}

on_both_backends!(
    wrong_logins_are_throttled_per_account,
    a_success_resets_the_account_counter,
    wrong_logins_are_throttled_per_address,
    signing_out_revokes_the_session,
    weak_passwords_are_refused,
    personal_answers_are_not_stored,
    saturated_hashing_answers_503,
);
