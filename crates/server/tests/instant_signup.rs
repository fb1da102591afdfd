//! The instant sign-up of the booking pages and of practitioner onboarding, verify first
//! (issue 15 point 7), over real HTTP on SQLite and PostgreSQL with mail through a real SMTP
//! server (aiosmtpd): the answer is the same for a taken and a free address; only the code
//! mailed to a free address signs in, once, before it expires, within 5 tries. The server's
//! clock is a `ManualClock` moved by the test, so nothing waits for an expiry.

mod common;
#[path = "common/smtp.rs"]
mod smtp;

use careslot_core::clock::{ManualClock, SharedClock};
use careslot_messages::{Channel, RetryPolicy, SmtpChannel};
use careslot_server::outbox::MessagesConfig;
use careslot_server::services::AppConfig;
use common::web::WebClient;
use common::{app_configured, new_location, open_custody, serve_app, Backend, TestServer};
use jiff::{SignedDuration, Timestamp};
use reqwest::{header, StatusCode};
use serde_json::{json, Value};
use smtp::{summary, SmtpSink};
use std::sync::Arc;
use std::time::Duration;

const WITHIN: Duration = Duration::from_secs(30);
const PASSWORD: &str = "correct horse battery";

struct Env {
    srv: TestServer,
    sink: SmtpSink,
    clock: ManualClock,
    _loc: common::DataLocation,
}

async fn env(backend: Backend) -> Env {
    let sink = SmtpSink::start();
    let email: Arc<dyn Channel> = Arc::new(
        SmtpChannel::from_url(&sink.url(), "careslot <no-reply@careslot.test>")
            .expect("smtp channel"),
    );
    let clock = ManualClock::new(Timestamp::now());
    let config = AppConfig {
        public_url: Some("https://careslot.example".to_owned()),
        clock: SharedClock::from(clock.clone()),
        messages: MessagesConfig {
            channel: Some(email),
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
        srv: serve_app(app).await,
        sink,
        clock,
        _loc: loc,
    }
}

fn address() -> String {
    format!("instant-{}@example.test", common::uuid_like())
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

/// Waits (bounded) until `to` has received `n` mails; returns them in order.
async fn wait_mails(sink: &SmtpSink, to: &str, n: usize) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + WITHIN;
    loop {
        let got: Vec<Value> = sink
            .messages()
            .iter()
            .map(|p| summary(p))
            .filter(|m| m["to"] == to)
            .collect();
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

/// The six digits of the latest sign-up code mailed to `to` (the `n`th mail).
async fn code_in_mail(sink: &SmtpSink, to: &str, n: usize) -> String {
    let m = wait_mails(sink, to, n).await.pop().expect("a mail");
    assert_eq!(m["subject"], "Your careslot code", "{m}");
    let text = text_part(&m);
    let at = text.find("Code").expect("the code's label");
    let code: String = text[at..]
        .chars()
        .filter(char::is_ascii_digit)
        .take(6)
        .collect();
    assert_eq!(code.len(), 6, "{text}");
    code
}

/// The value of the hidden `ticket` field of a code page.
fn ticket_of(page: &str) -> String {
    let marker = "name=\"ticket\" value=\"";
    let at = page.find(marker).expect("a ticket field") + marker.len();
    page[at..].chars().take_while(|c| *c != '"').collect()
}

/// Status, headers (but the date and the request id), the Set-Cookie names and attributes (not values) and body.
struct Answer {
    status: StatusCode,
    headers: Vec<(String, String)>,
    cookies: Vec<String>,
    body: String,
}

async fn answer(resp: reqwest::Response) -> Answer {
    let status = resp.status();
    let mut headers: Vec<(String, String)> = resp
        .headers()
        .iter()
        .filter(|(k, _)| {
            !matches!(
                k.as_str(),
                "date" | "set-cookie" | "content-length" | "x-request-id"
            )
        })
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_owned()))
        .collect();
    headers.sort();
    let mut cookies: Vec<String> = resp
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| {
            let v = v.to_str().unwrap_or("");
            let (name, rest) = v.split_once('=').unwrap_or((v, ""));
            let attrs = rest.split_once(';').map(|(_, a)| a).unwrap_or("");
            format!("{name};{attrs}")
        })
        .collect();
    cookies.sort();
    Answer {
        status,
        headers,
        cookies,
        body: resp.text().await.expect("body"),
    }
}

/// A page with what differs by request taken out: the address typed, the ticket, the CSRF
/// token, the hold.
fn strip(page: &str, replace: &[&str]) -> String {
    let mut out = page.to_owned();
    for r in replace.iter().filter(|r| !r.is_empty()) {
        out = out.replace(r, "X");
    }
    out.lines()
        .filter(|l| !l.contains("csrf"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn assert_same(a: &Answer, b: &Answer, a_strip: &[&str], b_strip: &[&str]) {
    assert_eq!(a.status, b.status);
    assert_eq!(a.headers, b.headers);
    assert_eq!(a.cookies, b.cookies);
    assert_eq!(strip(&a.body, a_strip), strip(&b.body, b_strip));
}

/// A guest holds the practice's first slot; returns the hold id.
async fn hold(web: &mut WebClient<'_>, p: &common::Practice, start: &str) -> String {
    let resp = web
        .post_form(
            "/book/hold",
            &[
                ("agenda_id", &p.agenda_id),
                ("motive_id", &p.motive_id),
                ("start", start),
            ],
        )
        .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    web.absorb(&resp);
    let to = resp.headers()[header::LOCATION].to_str().expect("location");
    to.strip_prefix("/book/")
        .expect("the booking page")
        .to_owned()
}

fn sign_up_fields<'a>(name: &'a str, email: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![("name", name), ("email", email), ("password", PASSWORD)]
}

async fn taken_and_free_answer_the_same(backend: Backend) {
    let e = env(backend).await;
    let taken = address();
    let (s, _) = e
        .srv
        .post_retrying_busy(
            "/api/v1/accounts",
            json!({"email": taken, "password": PASSWORD, "name": "Tara Taken", "role": "patient"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let free = address();
    // Two places at the same time: both visitors hold the same slot.
    let p = e.srv.practice("Dr Twin", 30, 2).await;
    let start = e.srv.slots(&p).await[0]["start"]
        .as_str()
        .expect("start")
        .to_owned();

    // The booking page's sign-up.
    let mut a = WebClient::new(&e.srv).await;
    let mut b = WebClient::new(&e.srv).await;
    let hold_a = hold(&mut a, &p, &start).await;
    let hold_b = hold(&mut b, &p, &start).await;
    let ra = a
        .post_form(
            &format!("/book/{hold_a}/signup"),
            &sign_up_fields("Pat Doe", &free),
        )
        .await;
    let rb = b
        .post_form(
            &format!("/book/{hold_b}/signup"),
            &sign_up_fields("Pat Doe", &taken),
        )
        .await;
    let (fa, fb) = (answer(ra).await, answer(rb).await);
    assert_eq!(fa.status, StatusCode::OK);
    assert!(fa.body.contains("We sent a 6-digit code to"), "{}", fa.body);
    assert!(
        !fa.cookies.iter().any(|c| c.starts_with("careslot_session")),
        "no session yet: {:?}",
        fa.cookies
    );
    let (ticket_a, ticket_b) = (ticket_of(&fa.body), ticket_of(&fb.body));
    assert_ne!(ticket_a, ticket_b);
    assert_same(
        &fa,
        &fb,
        &[&free, &ticket_a, &hold_a],
        &[&taken, &ticket_b, &hold_b],
    );

    // Practitioner onboarding's sign-up: the profile screen with the code on top.
    let pro_free = address();
    let c = WebClient::new(&e.srv).await;
    let d = WebClient::new(&e.srv).await;
    let rc = c
        .post_form("/pro/signup", &sign_up_fields("Dr Pro Free", &pro_free))
        .await;
    let rd = d
        .post_form("/pro/signup", &sign_up_fields("Dr Pro Free", &taken))
        .await;
    let (pc, pd) = (answer(rc).await, answer(rd).await);
    assert_eq!(pc.status, StatusCode::OK);
    let (ticket_c, ticket_d) = (ticket_of(&pc.body), ticket_of(&pd.body));
    assert_same(&pc, &pd, &[&pro_free, &ticket_c], &[&taken, &ticket_d]);

    // The owner of the taken address is told (twice: two attempts); the free one has a code.
    // (Those mails are queued at the system's time: the worker's clock catches up.)
    e.clock.set(
        Timestamp::now()
            .saturating_add(SignedDuration::from_secs(1))
            .expect("time"),
    );
    let told = wait_mails(&e.sink, &taken, 3).await;
    assert_eq!(
        told.iter()
            .filter(|m| m["subject"] == "Vous avez déjà un compte careslot")
            .count(),
        2
    );
    let code = code_in_mail(&e.sink, &free, 1).await;
    assert_eq!(
        wait_mails(&e.sink, &free, 1).await[0]["content_language"],
        "en"
    );

    // The free address's code does not open the taken address's attempt.
    let wrong_door = b
        .post_form(
            &format!("/book/{hold_b}/signup/code"),
            &[("ticket", &ticket_b), ("email", &taken), ("code", &code)],
        )
        .await;
    assert_eq!(wrong_door.status(), StatusCode::OK);
    assert!(wrong_door.headers().get(header::SET_COOKIE).is_none());

    // A wrong code: the page again, no session.
    let bad = if code == "000000" { "000001" } else { "000000" };
    let resp = a
        .post_form(
            &format!("/book/{hold_a}/signup/code"),
            &[("ticket", &ticket_a), ("email", &free), ("code", bad)],
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let page = resp.text().await.expect("page");
    assert!(page.contains("This code is wrong"), "{page}");
    // The right one signs in and goes back to the booking, the hold now the patient's.
    let resp = a
        .post_form(
            &format!("/book/{hold_a}/signup/code"),
            &[("ticket", &ticket_a), ("email", &free), ("code", &code)],
        )
        .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        resp.headers()[header::LOCATION],
        format!("/book/{hold_a}").as_str()
    );
    a.absorb(&resp);
    assert!(a.cookie("careslot_session").is_some());
    let page = a.get(&format!("/book/{hold_a}")).await;
    assert_eq!(page.status(), StatusCode::OK);
    let page = page.text().await.expect("page");
    assert!(
        page.contains(&format!("/book/{hold_a}/confirm")),
        "the booking goes on: {page}"
    );
    // Single use.
    let again = WebClient::new(&e.srv).await;
    let resp = again
        .post_form(
            &format!("/book/{hold_a}/signup/code"),
            &[("ticket", &ticket_a), ("email", &free), ("code", &code)],
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.headers().get(header::SET_COOKIE).is_none());
    e.srv.stop().await;
}

/// Onboarding's sign-up form; returns the code step's ticket.
async fn start_signup(web: &WebClient<'_>, email: &str) -> String {
    let resp = web
        .post_form(
            "/pro/signup",
            &[
                ("name", "Dr Slow"),
                ("email", email),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    ticket_of(&resp.text().await.expect("page"))
}

/// The profile screen with the code on top.
async fn submit(web: &WebClient<'_>, ticket: &str, email: &str, code: &str) -> reqwest::Response {
    web.post_form(
        "/pro/onboarding/profile",
        &[
            ("ticket", ticket),
            ("email", email),
            ("code", code),
            ("name", "Dr Slow"),
            ("specialty", "general-practitioner"),
            ("languages", "fr"),
        ],
    )
    .await
}

fn signed_in(resp: &reqwest::Response) -> bool {
    resp.headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .any(|v| v.to_str().unwrap_or("").starts_with("careslot_session="))
}

async fn codes_expire_and_die_after_five_wrong_tries(backend: Backend) {
    let e = env(backend).await;
    // Expired: 16 minutes later the right code is refused.
    let web = WebClient::new(&e.srv).await;
    let late = address();
    let ticket = start_signup(&web, &late).await;
    let code = code_in_mail(&e.sink, &late, 1).await;
    e.clock.advance(SignedDuration::from_mins(16));
    let resp = submit(&web, &ticket, &late, &code).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(!signed_in(&resp));
    // "Send the code again" on a dead attempt sends nothing and says the same.
    let resp = web
        .post_form(
            "/pro/onboarding/profile",
            &[("ticket", &ticket), ("email", &late), ("step", "resend")],
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp
        .text()
        .await
        .expect("page")
        .contains("a new code has just been sent"));

    // Five wrong tries kill the attempt: the right code is refused after them.
    let web = WebClient::new(&e.srv).await;
    let unlucky = address();
    let ticket = start_signup(&web, &unlucky).await;
    let code = code_in_mail(&e.sink, &unlucky, 1).await;
    let wrong = if code == "123456" { "654321" } else { "123456" };
    for _ in 0..5 {
        let resp = submit(&web, &ticket, &unlucky, wrong).await;
        assert_eq!(resp.status(), StatusCode::OK);
        assert!(!signed_in(&resp));
    }
    let resp = submit(&web, &ticket, &unlucky, &code).await;
    assert!(!signed_in(&resp), "the attempt is dead");
    // A new code (resend) works again, and the practitioner lands on the next screen.
    let resp = web
        .post_form(
            "/pro/onboarding/profile",
            &[("ticket", &ticket), ("email", &unlucky), ("step", "resend")],
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let code = code_in_mail(&e.sink, &unlucky, 2).await;
    let resp = submit(&web, &ticket, &unlucky, &code).await;
    assert!(signed_in(&resp));
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(resp.headers()[header::LOCATION], "/pro/onboarding/place");
    e.srv.stop().await;
}

/// The tokens of the verification links in the first `n` mails to `to` (in the order the
/// mails arrived, which need not be the order they were sent in).
async fn link_tokens_in_mails(sink: &SmtpSink, to: &str, n: usize) -> Vec<String> {
    let marker = "/email-verification?token=";
    wait_mails(sink, to, n)
        .await
        .iter()
        .map(|m| {
            let text = text_part(m);
            let at = text
                .find(marker)
                .unwrap_or_else(|| panic!("a link: {text}"))
                + marker.len();
            text[at..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
                .collect()
        })
        .collect()
}

/// Mails queued at the system's time: the worker's clock catches up.
fn catch_up(clock: &ManualClock) {
    clock.set(
        Timestamp::now()
            .saturating_add(SignedDuration::from_secs(1))
            .expect("time"),
    );
}

/// Signs in on the web page from a fresh browser.
async fn web_sign_in(srv: &TestServer, email: &str, password: &str) -> Answer {
    let web = WebClient::new(srv).await;
    answer(
        web.post_form("/signin", &[("email", email), ("password", password)])
            .await,
    )
    .await
}

/// Issue 15: an account made on the web sign-up page cannot sign in before its address is
/// proven, and trying answers exactly as a wrong password for a taken address does (web and
/// API), so that signing up then signing in never tells whether the address was free.
/// "Send the confirmation email again" answers the same for a pending and an unknown
/// address; the link mailed opens the account; API accounts sign in at once.
async fn web_sign_ups_sign_in_once_verified(backend: Backend) {
    let e = env(backend).await;
    let taken = address();
    let (s, _) = e
        .srv
        .post_retrying_busy(
            "/api/v1/accounts",
            json!({"email": taken, "password": PASSWORD, "name": "Tara Taken", "role": "patient"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    // The API's accounts sign in at once (the contract).
    let (s, body) = e
        .srv
        .post_retrying_busy(
            "/api/v1/sessions",
            json!({"email": taken, "password": PASSWORD}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");

    // The sign-up page: the same "check your mailbox" for a free and a taken address.
    let free = address();
    let a = WebClient::new(&e.srv).await;
    let b = WebClient::new(&e.srv).await;
    let up_free = answer(
        a.post_form("/signup", &sign_up_fields("Wendy Web", &free))
            .await,
    )
    .await;
    let up_taken = answer(
        b.post_form("/signup", &sign_up_fields("Wendy Web", &taken))
            .await,
    )
    .await;
    assert_eq!(up_free.status, StatusCode::OK);
    assert!(
        up_free.body.contains("Check your mailbox"),
        "{}",
        up_free.body
    );
    assert!(
        !up_free
            .cookies
            .iter()
            .any(|c| c.starts_with("careslot_session")),
        "no session: {:?}",
        up_free.cookies
    );
    assert_same(&up_free, &up_taken, &[&free], &[&taken]);
    catch_up(&e.clock);
    let first = link_tokens_in_mails(&e.sink, &free, 1).await.remove(0);

    // Signing in with the password just chosen answers as a wrong password for a taken
    // address: same status, headers, cookies and page.
    let pending = web_sign_in(&e.srv, &free, PASSWORD).await;
    let wrong = web_sign_in(&e.srv, &taken, "wrong horse battery staple").await;
    assert_eq!(pending.status, StatusCode::OK);
    assert!(
        pending
            .body
            .contains("The email address or password is incorrect."),
        "{}",
        pending.body
    );
    assert!(pending.body.contains("Send the confirmation email again"));
    assert_same(&pending, &wrong, &[&free], &[&taken]);
    // The same through the API.
    let (s1, b1) = e
        .srv
        .post_retrying_busy(
            "/api/v1/sessions",
            json!({"email": free, "password": PASSWORD}),
        )
        .await;
    let (s2, b2) = e
        .srv
        .post_retrying_busy(
            "/api/v1/sessions",
            json!({"email": taken, "password": "wrong horse battery staple"}),
        )
        .await;
    assert_eq!(
        (s1, s2),
        (StatusCode::UNAUTHORIZED, StatusCode::UNAUTHORIZED)
    );
    let without_request_id = |mut b: Value| {
        if let Some(o) = b.as_object_mut() {
            o.remove("request_id");
        }
        b
    };
    assert_eq!(without_request_id(b1), without_request_id(b2));

    // "Send the confirmation email again": the same answer for the pending address and an
    // address without an account.
    let unknown = address();
    let c = WebClient::new(&e.srv).await;
    let d = WebClient::new(&e.srv).await;
    let again_pending = answer(
        c.post_form("/signin/verification", &[("email", &free)])
            .await,
    )
    .await;
    let again_unknown = answer(
        d.post_form("/signin/verification", &[("email", &unknown)])
            .await,
    )
    .await;
    assert_eq!(again_pending.status, StatusCode::OK);
    assert!(
        again_pending.body.contains("a new link has just been sent"),
        "{}",
        again_pending.body
    );
    assert_same(&again_pending, &again_unknown, &[&free], &[&unknown]);

    // The free address got its link, then a new one (only the latest works); the taken
    // address's owner was told; the unknown address got nothing.
    catch_up(&e.clock);
    let latest = link_tokens_in_mails(&e.sink, &free, 2)
        .await
        .into_iter()
        .find(|t| *t != first)
        .expect("a second link");
    assert!(wait_mails(&e.sink, &taken, 1)
        .await
        .iter()
        .any(|m| m["subject"] == "Vous avez déjà un compte careslot"));
    assert!(e
        .sink
        .messages()
        .iter()
        .map(|p| summary(p))
        .all(|m| m["to"] != unknown.as_str()));

    // Still pending until the link is followed; the earlier link no longer works.
    let web = WebClient::new(&e.srv).await;
    let resp = web
        .post_form("/email-verification", &[("token", &first)])
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let still = web_sign_in(&e.srv, &free, PASSWORD).await;
    assert_eq!(still.status, StatusCode::OK);
    assert!(!still
        .cookies
        .iter()
        .any(|c| c.starts_with("careslot_session")));
    let resp = web
        .post_form("/email-verification", &[("token", &latest)])
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let page = resp.text().await.expect("page");
    assert!(page.contains("class=\"ok\""), "{page}");

    // Now the password opens a session, on the web and through the API.
    let open = web_sign_in(&e.srv, &free, PASSWORD).await;
    assert_eq!(open.status, StatusCode::SEE_OTHER, "{}", open.body);
    assert!(open
        .cookies
        .iter()
        .any(|c| c.starts_with("careslot_session")));
    let (s, body) = e
        .srv
        .post_retrying_busy(
            "/api/v1/sessions",
            json!({"email": free, "password": PASSWORD}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    e.srv.stop().await;
}

/// An instant sign-up's account (booking, vaccination, onboarding) cannot sign in with its
/// password before its code is entered either.
async fn instant_sign_ups_are_pending_until_the_code(backend: Backend) {
    let e = env(backend).await;
    let web = WebClient::new(&e.srv).await;
    let email = address();
    let ticket = start_signup(&web, &email).await;
    let refused = web_sign_in(&e.srv, &email, PASSWORD).await;
    assert_eq!(refused.status, StatusCode::OK);
    assert!(!refused
        .cookies
        .iter()
        .any(|c| c.starts_with("careslot_session")));
    let code = code_in_mail(&e.sink, &email, 1).await;
    let resp = submit(&web, &ticket, &email, &code).await;
    assert!(signed_in(&resp));
    let open = web_sign_in(&e.srv, &email, PASSWORD).await;
    assert_eq!(open.status, StatusCode::SEE_OTHER, "{}", open.body);
    e.srv.stop().await;
}

on_both_backends!(
    taken_and_free_answer_the_same,
    codes_expire_and_die_after_five_wrong_tries,
    web_sign_ups_sign_in_once_verified,
    instant_sign_ups_are_pending_until_the_code,
);
