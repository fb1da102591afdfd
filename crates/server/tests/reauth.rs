//! Re-authentication before sensitive changes (issue 15, point 4), over real HTTP on both
//! backends: erasure, email change and password change pass within 10 minutes of signing in
//! or re-authenticating and answer 403 `reauthentication-required` after; re-authentication
//! takes the password, plus a TOTP or recovery code where two-factor authentication is set
//! up. The server's clock is a `ManualClock` moved by the test, so nothing waits.

mod common;

use careslot_core::clock::{ManualClock, SharedClock};
use careslot_server::services::AppConfig;
use common::{start_configured, Backend, TestServer};
use jiff::{SignedDuration, Timestamp};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const PASSWORD: &str = "correct horse battery";

fn problem_type(b: &Value) -> &str {
    b["type"]
        .as_str()
        .and_then(|t| t.strip_prefix("https://careslot.eu/problems/"))
        .unwrap_or("")
}

async fn register(srv: &TestServer, name: &str) -> (String, String) {
    let email = format!("{}-{}@example.test", name, common::uuid_like());
    let (s, b) = srv
        .post_retrying_busy(
            "/api/v1/accounts",
            json!({"email": email, "password": PASSWORD, "name": name, "role": "patient"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let (s, b) = srv
        .post_retrying_busy(
            "/api/v1/sessions",
            json!({"email": email, "password": PASSWORD}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    (email, b["token"].as_str().expect("token").to_owned())
}

async fn sensitive_changes_need_a_recent_authentication(backend: Backend) {
    let clock = ManualClock::new(Timestamp::now());
    let config = AppConfig {
        clock: SharedClock::from(clock.clone()),
        ..AppConfig::default()
    };
    let (srv, _loc) = start_configured(backend, config).await;
    let (_, token) = register(&srv, "olga").await;
    // Eleven minutes after signing in: each sensitive change is refused.
    clock.advance(SignedDuration::from_mins(11));
    let attempts = [
        (
            Method::POST,
            "/api/v1/me/password",
            Some(json!({"current_password": PASSWORD, "new_password": "violet tram harbour 42"})),
        ),
        (
            Method::POST,
            "/api/v1/me/email-change",
            Some(json!({"email": "olga.new@example.test", "password": PASSWORD})),
        ),
        (Method::DELETE, "/api/v1/me", None),
    ];
    for (method, path, body) in attempts.iter().cloned() {
        let (s, b) = srv.call(method, path, Some(&token), body).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{path}: {b}");
        assert_eq!(problem_type(&b), "reauthentication-required", "{path}");
    }
    // A wrong password does not re-authenticate.
    let (s, b) = srv
        .post(
            "/api/v1/sessions/current/reauthenticate",
            Some(&token),
            json!({"password": "not the password at all"}),
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{b}");
    // The password does; the change passes.
    let (s, b) = srv
        .post(
            "/api/v1/sessions/current/reauthenticate",
            Some(&token),
            json!({"password": PASSWORD}),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{b}");
    let (s, b) = srv
        .post(
            "/api/v1/me/email-change",
            Some(&token),
            json!({"email": "olga.new@example.test", "password": PASSWORD}),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{b}");
    // Until the window closes again.
    clock.advance(SignedDuration::from_mins(11));
    let (s, _) = srv
        .call(Method::DELETE, "/api/v1/me", Some(&token), None)
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = srv
        .post(
            "/api/v1/sessions/current/reauthenticate",
            Some(&token),
            json!({"password": PASSWORD}),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, b) = srv
        .call(Method::DELETE, "/api/v1/me", Some(&token), None)
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{b}");
    srv.stop().await;
}

async fn with_two_factor_the_code_is_needed_too(backend: Backend) {
    let clock = ManualClock::new(Timestamp::now());
    let config = AppConfig {
        clock: SharedClock::from(clock.clone()),
        ..AppConfig::default()
    };
    let (srv, _loc) = start_configured(backend, config).await;
    let (_, token) = register(&srv, "pia").await;
    let (_, codes) = srv.enrol_mfa(&token).await;
    clock.advance(SignedDuration::from_mins(11));
    let change = json!({"current_password": PASSWORD, "new_password": "violet tram harbour 42"});
    let (s, _) = srv
        .post("/api/v1/me/password", Some(&token), change.clone())
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    // The password alone is not enough.
    let (s, b) = srv
        .post(
            "/api/v1/sessions/current/reauthenticate",
            Some(&token),
            json!({"password": PASSWORD}),
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{b}");
    assert_eq!(problem_type(&b), "bad-code");
    let (s, b) = srv
        .post(
            "/api/v1/sessions/current/reauthenticate",
            Some(&token),
            json!({"password": PASSWORD, "code": codes[0]}),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{b}");
    let (s, b) = srv.post("/api/v1/me/password", Some(&token), change).await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{b}");
    srv.stop().await;
}

/// The web's erasure form asks for the password (and the code, where set up).
async fn web_erasure_asks_for_the_password(backend: Backend) {
    let (srv, _loc) = start_configured(backend, AppConfig::default()).await;
    let (email, _) = register(&srv, "ugo").await;
    let mut web = common::web::WebClient::new(&srv).await;
    let resp = web
        .post_form("/signin", &[("email", &email), ("password", PASSWORD)])
        .await;
    web.absorb(&resp);
    let session = web.cookie("careslot_session").expect("session");
    let resp = web
        .post_form(
            "/account/delete",
            &[("confirm", "1"), ("password", "not the password at all")],
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        srv.get("/api/v1/me", Some(&session)).await.0,
        StatusCode::OK
    );
    let resp = web
        .post_form(
            "/account/delete",
            &[("confirm", "1"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        srv.get("/api/v1/me", Some(&session)).await.0,
        StatusCode::UNAUTHORIZED
    );
    srv.stop().await;
}

on_both_backends!(
    sensitive_changes_need_a_recent_authentication,
    with_two_factor_the_code_is_needed_too,
    web_erasure_asks_for_the_password,
);
