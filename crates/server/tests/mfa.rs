//! Two-factor authentication (issue 15, point 5 of the issue), over real HTTP on both
//! backends: a practice account reads no patient data before it has set up TOTP (403
//! `mfa-required`, and the web leads it to the set-up), enrolment confirmed by a first code,
//! sign-in in two steps, TOTP codes and recovery codes each accepted once, wrong codes
//! throttled (backoffs configured long, so nothing depends on timing), and the web's
//! second step. Codes are computed from the secret with RFC 6238, as an authenticator app
//! does.

mod common;

use careslot_identity::{Backoff, IdentityConfig, ThrottleConfig};
use careslot_server::services::AppConfig;
use common::{start_configured, totp_now, Backend, TestServer};
use jiff::SignedDuration;
use reqwest::{header, Method, StatusCode};
use serde_json::{json, Value};

const PASSWORD: &str = "correct horse battery";

fn config() -> AppConfig {
    let long = Backoff {
        free: 3,
        base: SignedDuration::from_mins(10),
        cap: SignedDuration::from_mins(15),
    };
    AppConfig {
        identity: IdentityConfig {
            throttle: ThrottleConfig {
                account: long,
                address: Backoff { free: 1000, ..long },
                ..Default::default()
            },
            ..Default::default()
        },
        ..AppConfig::default()
    }
}

/// A fresh account of `role` (no second factor); returns (email, token).
async fn register(srv: &TestServer, role: &str, name: &str) -> (String, String) {
    let email = format!("{}-{}@example.test", name, common::uuid_like());
    let (s, b) = srv
        .post_retrying_busy(
            "/api/v1/accounts",
            json!({"email": email, "password": PASSWORD, "name": name, "role": role}),
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
    assert_eq!(b["mfa_required"], false);
    (email, b["token"].as_str().expect("token").to_owned())
}

fn problem_type(b: &Value) -> &str {
    b["type"]
        .as_str()
        .and_then(|t| t.strip_prefix("https://careslot.eu/problems/"))
        .unwrap_or("")
}

async fn practice_reads_patient_data_only_with_a_second_factor(backend: Backend) {
    let (srv, _loc) = start_configured(backend, config()).await;
    let (email, token) = register(&srv, "practitioner", "dr-nomfa").await;
    // Setting up the practice needs no second factor (no patient data).
    let practice = srv.practice_for(token.clone(), "Dr Nomfa", 30, 1).await;
    let (patient, _) = srv.account("patient", "Paula Patient").await;
    let slot = srv.slots(&practice).await[0]["start"].clone();
    let (s, b) = srv
        .post(
            "/api/v1/appointments",
            Some(&patient),
            json!({"agenda_id": practice.agenda_id, "motive_id": practice.motive_id, "start": slot}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let from = jiff::Zoned::now().date();
    let to = from.checked_add(jiff::Span::new().days(7)).expect("date");
    let agenda = format!(
        "/api/v1/agendas/{}/appointments?from={from}&to={to}",
        practice.agenda_id
    );
    // Without a second factor: a clear 403.
    let (s, b) = srv.get(&agenda, Some(&token)).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{b}");
    assert_eq!(problem_type(&b), "mfa-required", "{b}");
    let (_, status) = srv.get("/api/v1/me/mfa", Some(&token)).await;
    assert_eq!(status["required"], true, "{status}");
    assert_eq!(status["enabled"], false, "{status}");

    // Enrolment: the secret, an otpauth URI, confirmed by a first code.
    let (s, enrol) = srv.post("/api/v1/me/mfa", Some(&token), json!({})).await;
    assert_eq!(s, StatusCode::CREATED, "{enrol}");
    let uri = enrol["otpauth_uri"].as_str().expect("uri");
    assert!(uri.starts_with("otpauth://totp/careslot:"), "{uri}");
    assert!(
        uri.contains("digits=6") && uri.contains("period=30"),
        "{uri}"
    );
    let secret =
        careslot_identity::mfa::secret_from_base32(enrol["secret"].as_str().expect("secret"))
            .expect("base32");
    assert_eq!(secret.len(), 20);
    // Still pending: patient data stays closed, and a wrong code does not confirm it.
    let (s, _) = srv.get(&agenda, Some(&token)).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let wrong = if totp_now(&secret, 0) == "000000" {
        "111111"
    } else {
        "000000"
    };
    let (s, b) = srv
        .post(
            "/api/v1/me/mfa/confirm",
            Some(&token),
            json!({"code": wrong}),
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{b}");
    assert_eq!(problem_type(&b), "bad-code");
    let (s, codes) = srv
        .post(
            "/api/v1/me/mfa/confirm",
            Some(&token),
            json!({"code": totp_now(&secret, 0)}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{codes}");
    let codes = codes["recovery_codes"].as_array().expect("codes");
    assert_eq!(codes.len(), 10);
    // This session gave its second factor: the agenda opens, with the patient.
    let (s, b) = srv.get(&agenda, Some(&token)).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["appointments"].as_array().expect("list").len(), 1, "{b}");
    // A second enrolment is refused while this one stands.
    let (s, b) = srv.post("/api/v1/me/mfa", Some(&token), json!({})).await;
    assert_eq!(s, StatusCode::CONFLICT, "{b}");

    // Signing in again takes two steps; the password alone opens nothing.
    let (s, b) = srv
        .post_retrying_busy(
            "/api/v1/sessions",
            json!({"email": email, "password": PASSWORD}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    assert_eq!(b["mfa_required"], true);
    let pending = b["token"].as_str().expect("token").to_owned();
    assert_eq!(
        srv.get("/api/v1/me", Some(&pending)).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        srv.get(&agenda, Some(&pending)).await.0,
        StatusCode::UNAUTHORIZED
    );
    // The code the enrolment used is spent; the next step's code completes the sign-in.
    let (s, b) = srv
        .post(
            "/api/v1/sessions/current/mfa",
            Some(&pending),
            json!({"code": totp_now(&secret, 1)}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["token"], pending.as_str());
    let (s, b) = srv.get(&agenda, Some(&pending)).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    // A full session cannot be "completed" again.
    let (s, _) = srv
        .post(
            "/api/v1/sessions/current/mfa",
            Some(&pending),
            json!({"code": totp_now(&secret, 0)}),
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    srv.stop().await;
}

async fn recovery_codes_work_once_and_codes_cannot_be_replayed(backend: Backend) {
    let (srv, _loc) = start_configured(backend, config()).await;
    let (email, token) = register(&srv, "patient", "rita").await;
    // Optional for patients: not required, off until set up.
    let (_, status) = srv.get("/api/v1/me/mfa", Some(&token)).await;
    assert_eq!(status["required"], false, "{status}");
    let (secret, codes, spent) = srv.enrol_mfa_code(&token).await;
    let (_, status) = srv.get("/api/v1/me/mfa", Some(&token)).await;
    assert_eq!(status["enabled"], true, "{status}");
    assert_eq!(status["recovery_codes_left"], 10, "{status}");

    let sign_in = || {
        let body = json!({"email": email, "password": PASSWORD});
        let srv = &srv;
        async move {
            let (s, b) = srv.post_retrying_busy("/api/v1/sessions", body).await;
            assert_eq!(s, StatusCode::CREATED, "{b}");
            assert_eq!(b["mfa_required"], true);
            b["token"].as_str().expect("token").to_owned()
        }
    };
    let second = |token: String, code: String| {
        let srv = &srv;
        async move {
            srv.post(
                "/api/v1/sessions/current/mfa",
                Some(&token),
                json!({ "code": code }),
            )
            .await
        }
    };

    // The code that confirmed the enrolment is spent: it cannot sign in.
    let p1 = sign_in().await;
    let (s, b) = second(p1.clone(), spent).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{b}");
    assert_eq!(problem_type(&b), "bad-code");
    // A recovery code does, once (spaces and case do not matter).
    let typed = format!(" {} ", codes[0].to_uppercase());
    let (s, b) = second(p1.clone(), typed).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(srv.get("/api/v1/me", Some(&p1)).await.0, StatusCode::OK);
    let p2 = sign_in().await;
    let (s, b) = second(p2.clone(), codes[0].clone()).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{b}");
    assert_eq!(problem_type(&b), "bad-code");
    // A TOTP code of the next step works once; the same code again does not.
    let next = totp_now(&secret, 1);
    let (s, b) = second(p2.clone(), next.clone()).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let p3 = sign_in().await;
    let (s, _) = second(p3.clone(), next).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    // Another recovery code still works.
    let (s, b) = second(p3.clone(), codes[1].clone()).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (_, status) = srv.get("/api/v1/me/mfa", Some(&p3)).await;
    assert_eq!(status["recovery_codes_left"], 8, "{status}");
    assert_eq!(status["session_second_factor"], true, "{status}");

    // New recovery codes replace the old ones.
    let (s, fresh) = srv
        .post("/api/v1/me/mfa/recovery-codes", Some(&p3), json!({}))
        .await;
    assert_eq!(s, StatusCode::OK, "{fresh}");
    let fresh: Vec<String> = fresh["recovery_codes"]
        .as_array()
        .expect("codes")
        .iter()
        .map(|c| c.as_str().expect("code").to_owned())
        .collect();
    let p4 = sign_in().await;
    let (s, _) = second(p4.clone(), codes[2].clone()).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _) = second(p4.clone(), fresh[0].clone()).await;
    assert_eq!(s, StatusCode::OK);

    // Removing it needs a recent re-authentication with a code; then one step again.
    let (s, b) = srv
        .post(
            "/api/v1/sessions/current/reauthenticate",
            Some(&p4),
            json!({"password": PASSWORD}),
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{b}");
    assert_eq!(problem_type(&b), "bad-code");
    let (s, b) = srv
        .post(
            "/api/v1/sessions/current/reauthenticate",
            Some(&p4),
            json!({"password": PASSWORD, "code": fresh[1]}),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{b}");
    let (s, b) = srv
        .call(Method::DELETE, "/api/v1/me/mfa", Some(&p4), None)
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{b}");
    let (s, b) = srv
        .post_retrying_busy(
            "/api/v1/sessions",
            json!({"email": email, "password": PASSWORD}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    assert_eq!(b["mfa_required"], false);
    srv.stop().await;
}

async fn wrong_codes_are_throttled(backend: Backend) {
    let (srv, _loc) = start_configured(backend, config()).await;
    let (email, token) = register(&srv, "patient", "tom").await;
    let (secret, _) = srv.enrol_mfa(&token).await;
    let (s, b) = srv
        .post_retrying_busy(
            "/api/v1/sessions",
            json!({"email": email, "password": PASSWORD}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let pending = b["token"].as_str().expect("token").to_owned();
    let right = totp_now(&secret, 1);
    let wrong = if right == "123456" {
        "654321"
    } else {
        "123456"
    };
    // Three free failures, the fourth blocks the account for ten minutes.
    for _ in 0..4 {
        let (s, b) = srv
            .post(
                "/api/v1/sessions/current/mfa",
                Some(&pending),
                json!({"code": wrong}),
            )
            .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{b}");
    }
    // Blocked: the right code is refused too, with Retry-After.
    let resp = srv
        .client
        .post(format!("{}/api/v1/sessions/current/mfa", srv.base))
        .bearer_auth(&pending)
        .json(&json!({ "code": right }))
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(resp.headers().contains_key(header::RETRY_AFTER));
    let b: Value = resp.json().await.expect("problem");
    assert_eq!(problem_type(&b), "too-many-attempts");
    assert_eq!(
        srv.get("/api/v1/me", Some(&pending)).await.0,
        StatusCode::UNAUTHORIZED
    );
    srv.stop().await;
}

/// The web: a practitioner without a second factor is led to the set-up page when patient
/// data is asked for; sign-in with a code goes through `/signin/code`.
async fn web_leads_to_the_set_up_and_asks_for_the_code(backend: Backend) {
    let (srv, _loc) = start_configured(backend, config()).await;
    let (email, token) = register(&srv, "practitioner", "dr-web").await;
    let practice = srv.practice_for(token.clone(), "Dr Web", 30, 1).await;
    let (patient, _) = srv.account("patient", "Wanda Web").await;
    let slot = srv.slots(&practice).await[0]["start"].clone();
    let (s, b) = srv
        .post(
            "/api/v1/appointments",
            Some(&patient),
            json!({"agenda_id": practice.agenda_id, "motive_id": practice.motive_id, "start": slot}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    // The agenda's day with the booked patient.
    let day_page = format!("/pro/agenda?date={}", &slot.as_str().expect("start")[..10]);
    let mut web = common::web::WebClient::new(&srv).await;
    let resp = web
        .post_form("/signin", &[("email", &email), ("password", PASSWORD)])
        .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    web.absorb(&resp);
    // The agenda (with a booked patient) sends it to the set-up.
    let resp = web.get(&day_page).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER, "agenda");
    assert_eq!(
        resp.headers()[header::LOCATION],
        "/account/security?required=1"
    );
    let page = web.get("/account/security?required=1").await;
    assert_eq!(page.status(), StatusCode::OK);
    let page = page.text().await.expect("page");
    assert!(page.contains("action=\"/account/security/mfa\""), "{page}");
    // Set up from the page: the secret is shown, with its QR code.
    let resp = web.post_form("/account/security/mfa", &[]).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let page = resp.text().await.expect("page");
    assert!(page.contains("data:image/svg+xml;base64,"), "QR code");
    let secret = page
        .split("data-mfa-secret>")
        .nth(1)
        .and_then(|r| r.split('<').next())
        .expect("secret on the page");
    let secret = careslot_identity::mfa::secret_from_base32(secret).expect("base32");
    let resp = web
        .post_form(
            "/account/security/mfa/confirm",
            &[("code", &totp_now(&secret, 0))],
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let page = resp.text().await.expect("page");
    assert_eq!(page.matches("<li><code>").count(), 10, "recovery codes");
    let resp = web.get(&day_page).await;
    assert_eq!(resp.status(), StatusCode::OK, "agenda after the set-up");

    // A new sign-in asks for the code on its own page.
    let mut web = common::web::WebClient::new(&srv).await;
    let resp = web
        .post_form("/signin", &[("email", &email), ("password", PASSWORD)])
        .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let to = resp.headers()[header::LOCATION]
        .to_str()
        .expect("location")
        .to_owned();
    assert!(to.starts_with("/signin/code"), "{to}");
    web.absorb(&resp);
    assert!(web.cookie("careslot_session").is_none());
    let resp = web.get(&to).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let resp = web.post_form("/signin/code", &[("code", "000000x")]).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.text().await.expect("page").contains("already used"));
    let resp = web
        .post_form("/signin/code", &[("code", &totp_now(&secret, 1))])
        .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    web.absorb(&resp);
    assert!(web.cookie("careslot_session").is_some());
    let resp = web.get(&day_page).await;
    assert_eq!(resp.status(), StatusCode::OK);
    srv.stop().await;
}

on_both_backends!(
    practice_reads_patient_data_only_with_a_second_factor,
    recovery_codes_work_once_and_codes_cannot_be_replayed,
    wrong_codes_are_throttled,
    web_leads_to_the_set_up_and_asks_for_the_code,
);
