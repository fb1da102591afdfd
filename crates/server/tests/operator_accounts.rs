//! Operator accounts (issue 15, point 5) over real HTTP, on SQLite and PostgreSQL: the
//! operator token creates named operator accounts with roles (nobody signs up as one); an
//! operator sets its password with the one-time link, signs in through the normal sign-in,
//! is refused (403 `mfa-required`) until it has a second factor, then reaches the endpoints
//! of its roles and gets 403 `forbidden` on the others; a change of roles applies at once; a
//! disabled operator's session and password stop working; the verification history and
//! the operators' action log name the operator who acted.

mod common;

use common::web::WebClient;
use common::{fresh_rpps, start, totp_now, Backend, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const MFA_REQUIRED: &str = "https://careslot.eu/problems/mfa-required";
const FORBIDDEN: &str = "https://careslot.eu/problems/forbidden";
const PASSWORD: &str = "lantern-orchard-31-quietly";

/// Creates an operator account with the token; returns (id, email, set-password token).
async fn create_operator(srv: &TestServer, name: &str, roles: &[&str]) -> (String, String, String) {
    let op = srv.operator.as_deref().expect("operator token");
    let email = format!(
        "{}-{}@authority.test",
        name.to_lowercase().replace(' ', "."),
        common::uuid_like()
    );
    let (s, body) = srv
        .post(
            "/api/v1/operators",
            Some(op),
            json!({"email": email, "name": name, "roles": roles, "lang": "en"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    assert_eq!(body["roles"], json!(roles), "{body}");
    let link = body["set_password_link"].as_str().expect("link");
    assert!(link.contains("/password-reset?token="), "{link}");
    let token = link.split("token=").nth(1).expect("token").to_owned();
    (body["id"].as_str().expect("id").to_owned(), email, token)
}

/// Sets the password with the link's token, then signs in (no second factor yet).
async fn first_sign_in(srv: &TestServer, email: &str, link_token: &str) -> String {
    let (s, body) = srv
        .post(
            "/api/v1/password-resets/confirm",
            None,
            json!({"token": link_token, "password": PASSWORD}),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{body}");
    let (s, session) = srv
        .post_retrying_busy(
            "/api/v1/sessions",
            json!({"email": email, "password": PASSWORD}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{session}");
    assert_eq!(session["mfa_required"], false, "{session}");
    session["token"].as_str().expect("token").to_owned()
}

async fn status(srv: &TestServer, method: Method, path: &str, token: &str) -> (StatusCode, Value) {
    let body = (method != Method::GET).then(|| json!({}));
    srv.call(method, path, Some(token), body).await
}

/// An unverified practitioner who declared an identifier: their id.
async fn pending_practitioner(srv: &TestServer, name: &str) -> String {
    let p = srv.practice_unverified(name, 20, 1).await;
    let (s, body) = srv
        .call(
            Method::PUT,
            "/api/v1/practitioner/identifier",
            Some(&p.token),
            Some(json!({"scheme": "rpps", "identifier": fresh_rpps()})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    p.practitioner_id
}

async fn operator_accounts_with_roles(backend: Backend) {
    let (srv, _loc) = start(backend).await;
    let op_token = srv.operator.clone().expect("operator token");

    // Nobody signs up as an operator: 422 like any bad role.
    let (s, body) = srv
        .post(
            "/api/v1/accounts",
            None,
            json!({"email": format!("self-{}@example.test", common::uuid_like()),
                   "password": PASSWORD, "name": "Self Made", "role": "operator"}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");

    // Only the operator token manages operators; bad roles are refused.
    let (s, _) = srv
        .post(
            "/api/v1/operators",
            None,
            json!({"email": "x@authority.test", "name": "X", "roles": []}),
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, body) = srv
        .post(
            "/api/v1/operators",
            Some(&op_token),
            json!({"email": "x@authority.test", "name": "X", "roles": ["admin"]}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");

    let (id, email, link) = create_operator(&srv, "Camille Campaign", &["campaign"]).await;
    let token = first_sign_in(&srv, &email, &link).await;
    let (s, me) = srv.get("/api/v1/me", Some(&token)).await;
    assert_eq!(s, StatusCode::OK, "{me}");
    assert_eq!(me["role"], "operator");
    // The link worked once.
    let (s, _) = srv
        .post(
            "/api/v1/password-resets/confirm",
            None,
            json!({"token": link, "password": "another-orchard-lantern-72"}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);

    // Without a second factor: 403 mfa-required on an operator endpoint.
    let (s, body) = status(
        &srv,
        Method::GET,
        "/api/v1/operator/vaccination/totals",
        &token,
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["type"], MFA_REQUIRED, "{body}");
    let (s, mfa) = srv.get("/api/v1/me/mfa", Some(&token)).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(mfa["required"], true, "{mfa}");

    // With it: the endpoints of its role, 403 forbidden on the others.
    let (secret, _codes) = srv.enrol_mfa(&token).await;
    let (s, body) = status(
        &srv,
        Method::GET,
        "/api/v1/operator/vaccination/totals",
        &token,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let (s, phase) = srv
        .post(
            "/api/v1/operator/vaccination/phases",
            Some(&token),
            json!({"name": "Phase 80+", "min_age": 80}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{phase}");
    let phase_id = phase["id"].as_str().expect("phase id").to_owned();
    for (method, path) in [
        (Method::GET, "/api/v1/operator/practitioners".to_owned()),
        (Method::GET, "/api/v1/operator/outbox/dead".to_owned()),
        (
            Method::POST,
            "/api/v1/operator/outbox/dead/retry".to_owned(),
        ),
        // Operators are managed with the token only.
        (Method::GET, "/api/v1/operators".to_owned()),
        (Method::GET, "/api/v1/operator/actions".to_owned()),
        (Method::DELETE, format!("/api/v1/operators/{id}")),
    ] {
        let (s, body) = status(&srv, method.clone(), &path, &token).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{method} {path}: {body}");
        assert_eq!(body["type"], FORBIDDEN, "{body}");
    }
    // Other accounts hold no operator credential (401, as before operator accounts).
    let (patient, _) = srv.account("patient", "Paul Patient").await;
    let (s, _) = status(
        &srv,
        Method::GET,
        "/api/v1/operator/vaccination/totals",
        &patient,
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);

    // A later sign-in asks for the code, like any account with two-factor authentication.
    let token2 = srv.sign_in_with_code(&email, PASSWORD, &secret, 1).await;
    let (s, _) = status(
        &srv,
        Method::GET,
        "/api/v1/operator/vaccination/totals",
        &token2,
    )
    .await;
    assert_eq!(s, StatusCode::OK);

    // Roles change: effective at the very next request.
    let (s, body) = srv
        .call(
            Method::PUT,
            &format!("/api/v1/operators/{id}/roles"),
            Some(&op_token),
            Some(json!({"roles": ["verification", "messages"]})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["roles"], json!(["verification", "messages"]));
    let (s, body) = status(
        &srv,
        Method::GET,
        "/api/v1/operator/vaccination/totals",
        &token,
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{body}");
    let (s, body) = status(&srv, Method::GET, "/api/v1/operator/practitioners", &token).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let (s, body) = status(&srv, Method::GET, "/api/v1/operator/outbox/dead", &token).await;
    assert_eq!(s, StatusCode::OK, "{body}");

    // Its decisions name it in the verification history.
    let practitioner = pending_practitioner(&srv, "Dr Vera Verified").await;
    let (s, body) = srv
        .post(
            &format!("/api/v1/operator/practitioners/{practitioner}/verify"),
            Some(&token),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "verified", "{body}");
    let (s, detail) = srv
        .get(
            &format!("/api/v1/operator/practitioners/{practitioner}/credential"),
            Some(&op_token),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{detail}");
    let history = detail["history"].as_array().expect("history");
    assert_eq!(
        history.last().expect("decision")["actor"],
        format!("operator:{id}"),
        "{detail}"
    );

    // The action log names who did what.
    let (s, log) = srv.get("/api/v1/operator/actions", Some(&op_token)).await;
    assert_eq!(s, StatusCode::OK, "{log}");
    let entries: Vec<(String, String, Option<String>)> = log["actions"]
        .as_array()
        .expect("actions")
        .iter()
        .map(|a| {
            (
                a["actor"].as_str().unwrap_or_default().to_owned(),
                a["action"].as_str().unwrap_or_default().to_owned(),
                a["target"].as_str().map(str::to_owned),
            )
        })
        .collect();
    let me = format!("operator:{id}");
    assert!(
        entries.contains(&(
            me.clone(),
            "vaccination.phase.open".into(),
            Some(phase_id.clone())
        )),
        "{log}"
    );
    assert!(
        entries.contains(&(
            "operator:token".into(),
            "operators.create".into(),
            Some(id.clone())
        )),
        "{log}"
    );
    assert!(
        entries.contains(&(
            "operator:token".into(),
            "operators.roles".into(),
            Some(id.clone())
        )),
        "{log}"
    );
    // The token's own actions are named too.
    let (s, _) = srv
        .post(
            &format!("/api/v1/operator/vaccination/phases/{phase_id}/close"),
            Some(&op_token),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (_, log) = srv
        .get("/api/v1/operator/actions?limit=1", Some(&op_token))
        .await;
    assert_eq!(log["actions"][0]["actor"], "operator:token", "{log}");
    assert_eq!(log["actions"][0]["action"], "vaccination.phase.close");

    // Disabled: every session refused at once, and no new one.
    let (s, _) = srv
        .call(
            Method::DELETE,
            &format!("/api/v1/operators/{id}"),
            Some(&op_token),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    for t in [&token, &token2] {
        let (s, _) = status(&srv, Method::GET, "/api/v1/operator/practitioners", t).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        let (s, _) = srv.get("/api/v1/me", Some(t)).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
    }
    let (s, _) = srv
        .post_retrying_busy(
            "/api/v1/sessions",
            json!({"email": email, "password": PASSWORD}),
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, list) = srv.get("/api/v1/operators", Some(&op_token)).await;
    assert_eq!(s, StatusCode::OK, "{list}");
    let mine = list["operators"]
        .as_array()
        .expect("operators")
        .iter()
        .find(|o| o["id"] == id.as_str())
        .expect("listed")
        .clone();
    assert_eq!(mine["email"], email.as_str());
    assert_eq!(mine["created_by"], "token");
    assert!(mine["disabled_at"].is_string(), "{mine}");
    let (s, _) = srv
        .call(
            Method::DELETE,
            "/api/v1/operators/nobody",
            Some(&op_token),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    srv.stop().await;
}

/// The console over the web pages: no raw-token cookie any more; an operator account signs
/// in through the normal sign-in, is sent to set up two-factor authentication, then sees
/// the pages of its roles (403 pages for the others); other accounts get a 403 page.
async fn the_console_follows_the_account_roles(backend: Backend) {
    let (srv, _loc) = start(backend).await;
    let op_token = srv.operator.clone().expect("operator token");

    // The operator token in the old console cookie opens nothing: the page leads to the
    // normal sign-in.
    let resp = srv
        .client
        .get(format!("{}/operator", srv.base))
        .header("cookie", format!("careslot_operator={op_token}"))
        .send()
        .await
        .expect("get");
    assert_eq!(resp.status(), StatusCode::OK);
    let html = resp.text().await.expect("html");
    assert!(html.contains("id=\"operator-signin\""), "{html}");
    assert!(html.contains("/signin?next=/operator"));
    assert!(!html.contains("id=\"tot-h\"") && !html.contains("name=\"token\""));

    let (_, email, link) = create_operator(&srv, "Rita Reviewer", &["verification"]).await;
    let api_token = first_sign_in(&srv, &email, &link).await;

    // Signed in on the web without a second factor: led to set it up.
    let mut web = WebClient::new(&srv).await;
    let resp = web
        .post_form(
            "/signin",
            &[
                ("email", &email),
                ("password", PASSWORD),
                ("next", "/operator"),
            ],
        )
        .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    web.absorb(&resp);
    let resp = web.get("/operator").await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(resp.headers()["location"], "/account/security?required=1");

    // With two-factor authentication, the sign-in asks for the code, then the console.
    let (secret, _) = srv.enrol_mfa(&api_token).await;
    let mut web = WebClient::new(&srv).await;
    let resp = web
        .post_form(
            "/signin",
            &[
                ("email", &email),
                ("password", PASSWORD),
                ("next", "/operator"),
            ],
        )
        .await;
    web.absorb(&resp);
    assert_eq!(resp.headers()["location"], "/signin/code?next=%2Foperator");
    let resp = web
        .post_form(
            "/signin/code",
            &[("code", &totp_now(&secret, 1)), ("next", "/operator")],
        )
        .await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER, "{:?}", resp.headers());
    web.absorb(&resp);
    let resp = web.get("/operator").await;
    assert_eq!(resp.status(), StatusCode::OK);
    let html = resp.text().await.expect("html");
    assert!(html.contains("id=\"review-queue-link\""), "{html}");
    assert!(
        !html.contains("id=\"tot-h\""),
        "no campaign role, no campaign section"
    );
    assert!(
        !html.contains("id=\"dead-h\""),
        "no messages role, no dead letters"
    );
    assert_eq!(
        web.get("/operator/practitioners").await.status(),
        StatusCode::OK
    );
    // Pages of roles it lacks: 403 pages.
    assert_eq!(
        web.get("/operator/appointments.csv?from=2026-01-01&to=2026-01-02")
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        web.post_form("/operator/chronodoses", &[("hours", "0")])
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        web.post_form("/operator/outbox/retry-all", &[])
            .await
            .status(),
        StatusCode::FORBIDDEN
    );

    // Another kind of account: a 403 page.
    let mut patient = WebClient::new(&srv).await;
    let (s, _) = srv
        .post_retrying_busy(
            "/api/v1/accounts",
            json!({"email": "pat@example.test", "password": PASSWORD, "name": "Pat", "role": "patient"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let resp = patient
        .post_form(
            "/signin",
            &[("email", "pat@example.test"), ("password", PASSWORD)],
        )
        .await;
    patient.absorb(&resp);
    assert_eq!(
        patient.get("/operator").await.status(),
        StatusCode::FORBIDDEN
    );
    srv.stop().await;
}

on_both_backends!(
    operator_accounts_with_roles,
    the_console_follows_the_account_roles
);
