//! The small doors (issue 15, point 7 of the issue), over real HTTP on both backends:
//! password-reset requests and pharmacists' prescription checks go through the front door's
//! throttle table (429 with `Retry-After`, the same on the web pages). Backoffs are
//! configured long (10 minutes) so that nothing depends on timing. (Video credentials
//! re-checked at connect: `video.rs`; `--public-url` off loopback: the cli's unit test.)

mod common;

use careslot_identity::{Backoff, IdentityConfig, ThrottleConfig};
use careslot_server::services::AppConfig;
use common::{start_configured, Backend};
use jiff::SignedDuration;
use reqwest::{header, StatusCode};
use serde_json::{json, Value};

fn config(account_free: u32, address_free: u32) -> AppConfig {
    let long = |free| Backoff {
        free,
        base: SignedDuration::from_mins(10),
        cap: SignedDuration::from_mins(15),
    };
    AppConfig {
        identity: IdentityConfig {
            throttle: ThrottleConfig {
                account: long(account_free),
                address: long(address_free),
                ..Default::default()
            },
            ..Default::default()
        },
        ..AppConfig::default()
    }
}

async fn assert_429(resp: reqwest::Response) {
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(resp.headers().contains_key(header::RETRY_AFTER));
    let b: Value = resp.json().await.expect("problem");
    assert_eq!(b["type"], "https://careslot.eu/problems/too-many-attempts");
}

async fn password_reset_requests_are_throttled(backend: Backend) {
    let (srv, _loc) = start_configured(backend, config(2, 5)).await;
    let request = |email: &str| {
        srv.client
            .post(format!("{}/api/v1/password-resets", srv.base))
            .json(&json!({ "email": email }))
            .send()
    };
    // Per address (known or not: the answer is the same): two free, the third blocks it.
    for _ in 0..3 {
        assert_eq!(
            request("nobody@example.test").await.expect("post").status(),
            StatusCode::ACCEPTED
        );
    }
    assert_429(request("nobody@example.test").await.expect("post")).await;
    assert_429(request("NOBODY@example.test").await.expect("post")).await;
    // Another address from the same client still goes, until the client's own counter
    // (5 free) is spent.
    assert_eq!(
        request("someone@example.test")
            .await
            .expect("post")
            .status(),
        StatusCode::ACCEPTED
    );
    assert_eq!(
        request("third@example.test").await.expect("post").status(),
        StatusCode::ACCEPTED
    );
    assert_eq!(
        request("fourth@example.test").await.expect("post").status(),
        StatusCode::ACCEPTED
    );
    assert_429(request("fifth@example.test").await.expect("post")).await;
    srv.stop().await;
}

async fn prescription_checks_are_throttled(backend: Backend) {
    let (srv, _loc) = start_configured(backend, config(1000, 3)).await;
    let check = |id: String| {
        srv.client
            .post(format!("{}/api/v1/prescriptions/{id}/verify", srv.base))
            .json(&json!({"capability": "not-the-capability"}))
            .send()
    };
    // Three wrong checks are free, the fourth blocks the address.
    for _ in 0..4 {
        let resp = check(common::uuid_like()).await.expect("post");
        assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    }
    assert_429(check(common::uuid_like()).await.expect("post")).await;
    // The pharmacist's page is behind the same counter.
    let web = common::web::WebClient::new(&srv).await;
    let resp = web
        .post_form(
            &format!("/rx/{}", common::uuid_like()),
            &[("c", "not-the-capability")],
        )
        .await;
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(resp.headers().contains_key(header::RETRY_AFTER));
    srv.stop().await;
}

on_both_backends!(
    password_reset_requests_are_throttled,
    prescription_checks_are_throttled,
);
