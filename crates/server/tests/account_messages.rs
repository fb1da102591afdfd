//! Account messages and the account page (issue 14, part A), end to end over real HTTP on
//! SQLite and PostgreSQL: mail goes to a real SMTP server (aiosmtpd), SMS to a recording
//! channel behind the same router the outbox worker uses in production.

mod common;
#[path = "common/smtp.rs"]
mod smtp;

use careslot_domain::AccountId;
use careslot_messages::{Channel, RecordingChannel, RetryPolicy, Router, SmtpChannel};
use careslot_server::outbox::MessagesConfig;
use careslot_server::services::{App, AppConfig, Caller};
use careslot_store::Role;
use common::{app_configured, new_location, open_custody, serve_app, Backend, TestServer};
use jiff::SignedDuration;
use reqwest::StatusCode;
use serde_json::{json, Value};
use smtp::{summary, SmtpSink};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

const PUBLIC_URL: &str = "https://careslot.example";
const WITHIN: Duration = Duration::from_secs(30);
const PASSWORD: &str = "correct horse battery";

struct Env {
    srv: TestServer,
    app: App,
    sink: SmtpSink,
    sms: RecordingChannel,
    _loc: common::DataLocation,
}

/// A server whose mail goes to aiosmtpd and whose SMS are recorded.
async fn env(backend: Backend) -> Env {
    let sink = SmtpSink::start();
    let sms = RecordingChannel::new();
    let email: Arc<dyn Channel> = Arc::new(
        SmtpChannel::from_url(&sink.url(), "careslot <no-reply@careslot.test>")
            .expect("smtp channel"),
    );
    let router: Arc<dyn Channel> = Arc::new(Router {
        email,
        sms: Arc::new(sms.clone()),
    });
    let config = AppConfig {
        public_url: Some(PUBLIC_URL.to_owned()),
        messages: MessagesConfig {
            channel: Some(router),
            retry: RetryPolicy {
                base: SignedDuration::from_millis(100),
                cap: SignedDuration::from_millis(300),
                floor: SignedDuration::from_millis(50),
                max_attempts: 10_000,
            },
            poll: Duration::from_millis(100),
            ..Default::default()
        },
        ..AppConfig::default()
    };
    let loc = new_location(backend).await;
    let custody = open_custody(&loc).await;
    let app = app_configured(&loc, custody, config).await;
    Env {
        srv: serve_app(app.clone()).await,
        app,
        sink,
        sms,
        _loc: loc,
    }
}

fn address() -> String {
    format!("acc-{}@example.test", common::uuid_like())
}

fn text_part(m: &Value) -> String {
    m["parts"]
        .as_array()
        .expect("parts")
        .iter()
        .find(|p| p["type"] == "text/plain")
        .and_then(|p| p["text"].as_str())
        .expect("text part")
        .to_owned()
}

/// The mails received so far to `to`, read by python's `email`.
fn mails_to(sink: &SmtpSink, to: &str) -> Vec<Value> {
    sink.messages()
        .iter()
        .map(|p: &PathBuf| summary(p))
        .filter(|m| m["to"] == to)
        .collect()
}

/// Waits (bounded) until `to` has received `n` mails; returns them in order.
async fn wait_mails(sink: &SmtpSink, to: &str, n: usize) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + WITHIN;
    loop {
        let got = mails_to(sink, to);
        if got.len() >= n {
            return got;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} mail(s) to {to}, {n} expected",
            got.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The token of the email link in a mail.
fn link_token(m: &Value) -> String {
    let text = text_part(m);
    let marker = format!("{PUBLIC_URL}/email-verification?token=");
    let at = text.find(&marker).expect("the link") + marker.len();
    text[at..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect()
}

async fn sign_up(srv: &TestServer, email: &str, extra: Value) -> (StatusCode, Value) {
    let mut body =
        json!({"email": email, "password": PASSWORD, "name": "Anna Konto", "role": "patient"});
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            b.insert(k.clone(), v.clone());
        }
    }
    srv.post_retrying_busy("/api/v1/accounts", body).await
}

async fn login(srv: &TestServer, email: &str, password: &str) -> (StatusCode, Value) {
    srv.post_retrying_busy(
        "/api/v1/sessions",
        json!({"email": email, "password": password}),
    )
    .await
}

async fn token_of(srv: &TestServer, email: &str) -> String {
    let (s, body) = login(srv, email, PASSWORD).await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    body["token"].as_str().expect("token").to_owned()
}

async fn patch(srv: &TestServer, token: &str, body: Value) -> (StatusCode, Value) {
    srv.call(
        reqwest::Method::PATCH,
        "/api/v1/me",
        Some(token),
        Some(body),
    )
    .await
}

async fn sign_up_in_german_then_verify(backend: Backend) {
    let e = env(backend).await;
    let email = address();
    let (s, body) = sign_up(&e.srv, &email, json!({"lang": "de"})).await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    let m = &wait_mails(&e.sink, &email, 1).await[0];
    assert_eq!(m["content_language"], "de", "{m}");
    assert_eq!(m["subject"], "Bestätigen Sie Ihre E-Mail-Adresse", "{m}");
    assert!(text_part(m).contains("Willkommen bei careslot"));
    let token = link_token(m);
    assert!(token.len() >= 40, "{token}");

    let t = token_of(&e.srv, &email).await;
    let (_, settings) = e.srv.get("/api/v1/me/settings", Some(&t)).await;
    assert_eq!(settings["settings"]["lang"], "de", "{settings}");
    assert_eq!(settings["settings"]["email_verified"], false);
    // The web page of the link shows a button and spends nothing.
    let (s, _) = e
        .srv
        .get(&format!("/email-verification?token={token}"), None)
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, body) = e
        .srv
        .post(
            "/api/v1/email-verifications/confirm",
            None,
            json!({"token": token}),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{body}");
    let (_, settings) = e.srv.get("/api/v1/me/settings", Some(&t)).await;
    assert_eq!(settings["settings"]["email_verified"], true, "{settings}");
    // Single use.
    let (s, _) = e
        .srv
        .post(
            "/api/v1/email-verifications/confirm",
            None,
            json!({"token": token}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    // Accept-Language picks the language when the body names none.
    let other = address();
    let (s, _) = e
        .srv
        .client
        .post(format!("{}/api/v1/accounts", e.srv.base))
        .header("accept-language", "it-IT,it;q=0.9")
        .json(&json!({"email": other, "password": PASSWORD, "name": "Bruno", "role": "patient"}))
        .send()
        .await
        .map(|r| (r.status(), ()))
        .expect("sign-up");
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(
        wait_mails(&e.sink, &other, 1).await[0]["content_language"],
        "it"
    );
    e.srv.stop().await;
}

async fn duplicate_sign_up_is_409_and_one_mail(backend: Backend) {
    let e = env(backend).await;
    let email = address();
    let (s, first) = sign_up(&e.srv, &email, json!({"lang": "en"})).await;
    assert_eq!(s, StatusCode::CREATED, "{first}");
    wait_mails(&e.sink, &email, 1).await;
    let (s, body) = sign_up(&e.srv, &email, json!({"name": "Someone Else"})).await;
    assert_eq!(s, StatusCode::CONFLICT, "{body}");
    let got = wait_mails(&e.sink, &email, 2).await;
    let exists = &got[1];
    assert_eq!(
        exists["subject"], "You already have a careslot account",
        "{exists}"
    );
    assert_eq!(exists["content_language"], "en", "the owner's language");
    let text = text_part(exists);
    assert!(text.contains(&format!("{PUBLIC_URL}/signin")), "{text}");
    assert!(
        text.contains(&format!("{PUBLIC_URL}/password-reset")),
        "{text}"
    );
    // Exactly one: nothing else queued for the account once delivered.
    let account = AccountId(first["id"].as_str().expect("id").to_owned());
    let deadline = tokio::time::Instant::now() + WITHIN;
    while !e
        .app
        .store
        .outbox_of(&account)
        .await
        .expect("outbox")
        .is_empty()
    {
        assert!(tokio::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(mails_to(&e.sink, &email).len(), 2);
    e.srv.stop().await;
}

/// A browser's form post with its CSRF cookie (the server sets it on any page).
async fn web_sign_up(srv: &TestServer, email: &str) -> (StatusCode, bool, String) {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let page = client
        .get(format!("{}/signup", srv.base))
        .header("accept-language", "en")
        .send()
        .await
        .expect("page");
    let cookies: Vec<String> = page
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next().map(str::to_owned))
        .collect();
    let csrf = cookies
        .iter()
        .find_map(|c| c.strip_prefix("careslot_csrf="))
        .expect("csrf cookie")
        .to_owned();
    let resp = client
        .post(format!("{}/signup", srv.base))
        .header("cookie", cookies.join("; "))
        .header("accept-language", "en")
        .form(&[
            ("csrf", csrf.as_str()),
            ("name", "Web Person"),
            ("email", email),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .expect("post");
    let status = resp.status();
    let session = resp
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.starts_with("careslot_session=") && !v.contains("Max-Age=0"));
    let html = resp.text().await.expect("html");
    (status, session, html)
}

async fn web_sign_up_never_reveals_an_address(backend: Backend) {
    let e = env(backend).await;
    let taken = address();
    let (s, _) = sign_up(&e.srv, &taken, json!({})).await;
    assert_eq!(s, StatusCode::CREATED);
    let fresh = address();
    let (s1, session1, fresh_page) = web_sign_up(&e.srv, &fresh).await;
    let (s2, session2, taken_page) = web_sign_up(&e.srv, &taken).await;
    assert_eq!((s1, s2), (StatusCode::OK, StatusCode::OK));
    assert!(!session1 && !session2, "no session either way");
    assert!(fresh_page.contains("Check your mailbox"), "{fresh_page}");
    // The pages differ only by the address typed and the per-request CSRF token.
    let strip = |page: &str, addr: &str| {
        page.replace(addr, "ADDRESS")
            .lines()
            .filter(|l| !l.contains("csrf"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(strip(&fresh_page, &fresh), strip(&taken_page, &taken));
    // Each address got its mail: a verification link, and "you already have an account".
    let verify = &wait_mails(&e.sink, &fresh, 1).await[0];
    assert_eq!(verify["content_language"], "en");
    assert!(text_part(verify).contains("/email-verification?token="));
    let got = wait_mails(&e.sink, &taken, 2).await;
    assert!(got
        .iter()
        .any(|m| m["subject"] == "Vous avez déjà un compte careslot"));
    e.srv.stop().await;
}

async fn email_change_confirmed_from_the_new_address(backend: Backend) {
    let e = env(backend).await;
    let old = address();
    let new = address();
    let (s, _) = sign_up(&e.srv, &old, json!({"lang": "en"})).await;
    assert_eq!(s, StatusCode::CREATED);
    let t = token_of(&e.srv, &old).await;
    wait_mails(&e.sink, &old, 1).await;
    // The current password is required.
    let (s, body) = e
        .srv
        .post(
            "/api/v1/me/email-change",
            Some(&t),
            json!({"email": new, "password": "not it at all"}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (s, body) = e
        .srv
        .post(
            "/api/v1/me/email-change",
            Some(&t),
            json!({"email": new, "password": PASSWORD}),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{body}");
    let m = &wait_mails(&e.sink, &new, 1).await[0];
    assert_eq!(m["subject"], "Confirm your new email address");
    let token = link_token(m);
    // Nothing changed yet: the old address signs in, the new one does not.
    assert_eq!(
        login(&e.srv, &new, PASSWORD).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(login(&e.srv, &old, PASSWORD).await.0, StatusCode::CREATED);
    let (s, body) = e
        .srv
        .post(
            "/api/v1/email-verifications/confirm",
            None,
            json!({"token": token}),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{body}");
    assert_eq!(login(&e.srv, &new, PASSWORD).await.0, StatusCode::CREATED);
    assert_eq!(
        login(&e.srv, &old, PASSWORD).await.0,
        StatusCode::UNAUTHORIZED
    );
    let (_, me) = e.srv.get("/api/v1/me", Some(&t)).await;
    assert_eq!(me["email"], new.as_str());
    // The old address is told.
    let notice = &wait_mails(&e.sink, &old, 2).await[1];
    assert_eq!(
        notice["subject"],
        "Your account’s email address was changed"
    );
    e.srv.stop().await;
}

/// The codes the recording SMS channel got for `phone`, oldest first.
async fn wait_codes(sms: &RecordingChannel, phone: &str, n: usize) -> Vec<String> {
    let deadline = tokio::time::Instant::now() + WITHIN;
    loop {
        let codes: Vec<String> = sms
            .sent()
            .iter()
            .filter(|m| m.recipient.address() == phone)
            .map(|m| {
                m.text
                    .chars()
                    .filter(char::is_ascii_digit)
                    .take(6)
                    .collect()
            })
            .collect();
        if codes.len() >= n {
            return codes;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} SMS, {n} expected",
            codes.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn phone_code_locks_verifies_and_resets(backend: Backend) {
    let e = env(backend).await;
    let email = address();
    assert_eq!(
        sign_up(&e.srv, &email, json!({})).await.0,
        StatusCode::CREATED
    );
    let t = token_of(&e.srv, &email).await;
    // Not E.164: refused at entry.
    let (s, body) = patch(&e.srv, &t, json!({"phone": "06 12 34 56 78"})).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let phone = "+33612345678";
    let (s, body) = patch(&e.srv, &t, json!({"phone": "+33 6 12 34 56 78"})).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["account"]["phone"], phone);
    let send = || {
        e.srv
            .post("/api/v1/me/phone-verification", Some(&t), json!({}))
    };
    assert_eq!(send().await.0, StatusCode::ACCEPTED);
    let code = wait_codes(&e.sms, phone, 1).await[0].clone();
    let sms = e.sms.sent();
    assert!(
        sms.iter().all(|m| !m.text.contains("Anna")),
        "no name in the SMS"
    );
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let confirm = |c: &str| {
        e.srv.post(
            "/api/v1/me/phone-verification/confirm",
            Some(&t),
            json!({"code": c}),
        )
    };
    for _ in 0..5 {
        assert_eq!(confirm(wrong).await.0, StatusCode::UNPROCESSABLE_ENTITY);
    }
    // Locked: the right code no longer works.
    assert_eq!(confirm(&code).await.0, StatusCode::UNPROCESSABLE_ENTITY);
    let (_, s) = e.srv.get("/api/v1/me/settings", Some(&t)).await;
    assert_eq!(s["settings"]["phone_verified"], false);
    // A new code works.
    assert_eq!(send().await.0, StatusCode::ACCEPTED);
    let code = wait_codes(&e.sms, phone, 2).await[1].clone();
    assert_eq!(confirm(&code).await.0, StatusCode::NO_CONTENT);
    let (_, s) = e.srv.get("/api/v1/me/settings", Some(&t)).await;
    assert_eq!(s["settings"]["phone_verified"], true, "{s}");
    // Same number again: still verified; a new number: not any more.
    let (_, body) = patch(&e.srv, &t, json!({"phone": phone})).await;
    assert_eq!(body["settings"]["phone_verified"], true, "{body}");
    let (_, body) = patch(&e.srv, &t, json!({"phone": "+33698765432"})).await;
    assert_eq!(body["settings"]["phone_verified"], false, "{body}");
    e.srv.stop().await;
}

async fn password_change_needs_the_current_one_and_ends_other_sessions(backend: Backend) {
    let e = env(backend).await;
    let email = address();
    assert_eq!(
        sign_up(&e.srv, &email, json!({})).await.0,
        StatusCode::CREATED
    );
    let here = token_of(&e.srv, &email).await;
    let elsewhere = token_of(&e.srv, &email).await;
    let new_password = "a brand new long passphrase";
    let (s, body) = e
        .srv
        .post(
            "/api/v1/me/password",
            Some(&here),
            json!({"current_password": "wrong wrong wrong", "new_password": new_password}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(
        e.srv.get("/api/v1/me", Some(&elsewhere)).await.0,
        StatusCode::OK
    );
    let (s, body) = e
        .srv
        .post(
            "/api/v1/me/password",
            Some(&here),
            json!({"current_password": PASSWORD, "new_password": new_password}),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{body}");
    assert_eq!(e.srv.get("/api/v1/me", Some(&here)).await.0, StatusCode::OK);
    assert_eq!(
        e.srv.get("/api/v1/me", Some(&elsewhere)).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        login(&e.srv, &email, PASSWORD).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        login(&e.srv, &email, new_password).await.0,
        StatusCode::CREATED
    );
    let got = wait_mails(&e.sink, &email, 2).await;
    assert!(got
        .iter()
        .any(|m| m["subject"] == "Votre mot de passe a été changé"));
    e.srv.stop().await;
}

async fn invitation_mail_reaches_the_assistant(backend: Backend) {
    let e = env(backend).await;
    let practice = e.srv.practice("Dr Invite", 30, 1).await;
    let (_, me) = e.srv.get("/api/v1/me", Some(&practice.token)).await;
    let caller = Caller {
        id: AccountId(me["id"].as_str().expect("id").to_owned()),
        role: Role::Practitioner,
        second_factor: true,
    };
    let assistant = address();
    e.app
        .accounts
        .invite_assistant_by_mail(&caller, &assistant)
        .await
        .expect("invitation");
    let m = &wait_mails(&e.sink, &assistant, 1).await[0];
    assert_eq!(
        m["content_language"], "fr",
        "the practice account's language"
    );
    let text = text_part(m);
    let marker = format!("{PUBLIC_URL}/invite/");
    let at = text.find(&marker).expect("the link") + marker.len();
    let token: String = text[at..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    let (s, _) = e.srv.get(&format!("/invite/{token}"), None).await;
    assert_eq!(s, StatusCode::OK);
    let identity = e
        .app
        .accounts
        .accept_invitation(
            &token,
            &assistant,
            "Alex Assistant",
            "assistant passphrase 42",
            careslot_messages::Lang::Fr,
            std::net::Ipv4Addr::LOCALHOST.into(),
        )
        .await
        .expect("the link's token works")
        .expect("a new account");
    assert_eq!(identity.role, Role::Assistant);
    e.srv.stop().await;
}

on_both_backends!(
    sign_up_in_german_then_verify,
    duplicate_sign_up_is_409_and_one_mail,
    web_sign_up_never_reveals_an_address,
    email_change_confirmed_from_the_new_address,
    phone_code_locks_verifies_and_resets,
    password_change_needs_the_current_one_and_ends_other_sessions,
    invitation_mail_reaches_the_assistant,
);
