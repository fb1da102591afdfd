//! Practitioner verification (issue 15, point 6) over real HTTP, on SQLite and PostgreSQL:
//! a practitioner who declared nothing, or whose declaration waits, was rejected or was
//! revoked, is absent from search and the bulk feed and gets 403
//! `practitioner-not-verified` when signing; once the operator verifies them they are
//! listed and sign; a revocation after signing shows on the pharmacist's verification; the
//! database keeps one verified practitioner per identifier; malformed identifiers get 422;
//! a directory import verifies matching rows only; a change made on one node reaches the
//! other node's search.

mod common;

use careslot_domain::{IdScheme, ProfessionalId};
use careslot_scheduling::credentials::DirectoryRow;
use careslot_server::services::AppConfig;
use common::{
    app_configured, fresh_rpps, new_location, open_custody, serve_app, start_on, Backend,
    TestServer,
};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const NOT_VERIFIED: &str = "https://careslot.eu/problems/practitioner-not-verified";

/// Names of the practitioners a name search lists.
async fn search_names(srv: &TestServer, q: &str) -> Vec<String> {
    let (s, body) = srv
        .get(&format!("/api/v1/search?q={q}&limit=50"), None)
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    body["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| r["name"].as_str().unwrap_or("").to_owned())
        .collect()
}

async fn declare(srv: &TestServer, token: &str, scheme: &str, id: &str) -> (StatusCode, Value) {
    srv.call(
        Method::PUT,
        "/api/v1/practitioner/identifier",
        Some(token),
        Some(json!({"scheme": scheme, "identifier": id})),
    )
    .await
}

async fn decide(
    srv: &TestServer,
    practitioner: &str,
    what: &str,
    reason: Option<&str>,
) -> (StatusCode, Value) {
    let body = match reason {
        Some(r) => json!({"reason": r}),
        None => json!({}),
    };
    srv.post(
        &format!("/api/v1/operator/practitioners/{practitioner}/{what}"),
        srv.operator.as_deref(),
        body,
    )
    .await
}

async fn book(srv: &TestServer, p: &common::Practice, patient: &str) -> String {
    let slots = srv.slots(p).await;
    let (s, a) = srv
        .post(
            "/api/v1/appointments",
            Some(patient),
            json!({"agenda_id": p.agenda_id, "motive_id": p.motive_id, "start": slots[0]["start"]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{a}");
    a["id"].as_str().unwrap().to_owned()
}

async fn sign(srv: &TestServer, p: &common::Practice, appointment: &str) -> (StatusCode, Value) {
    srv.post(
        &format!("/api/v1/appointments/{appointment}/prescriptions"),
        Some(&p.token),
        json!({"medications": [{"name": "Morphine 10 mg", "dosage": "1 par jour", "duration": "3 jours"}]}),
    )
    .await
}

async fn pharmacist(srv: &TestServer, rx: &Value) -> Value {
    let url = rx["verification_url"].as_str().unwrap();
    let capability = &url[url.find('#').unwrap() + 1..];
    let (s, v) = srv
        .post(
            &format!(
                "/api/v1/prescriptions/{}/verify",
                rx["id"].as_str().unwrap()
            ),
            None,
            json!({"capability": capability}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v
}

async fn verification_lifecycle(backend: Backend) {
    let loc = new_location(backend).await;
    let srv = start_on(&loc).await;
    let op = srv.operator.clone().expect("operator token");

    // Identifiers: the form and check digit of each scheme; 422 names the field.
    let (doc, _) = srv.account("practitioner", "Dr Sans Profil").await;
    let (s, e) = declare(&srv, &doc, "rpps", "10001766673").await;
    assert_eq!(s, StatusCode::CONFLICT, "a profile first: {e}");
    let p = srv
        .practice_unverified("Dr Quentin Vérifiable", 30, 1)
        .await;
    for (scheme, id) in [
        ("rpps", "10001766674"),  // wrong Luhn key
        ("rpps", "1000176667"),   // 10 digits
        ("rpps", "1000176667A"),  // a letter
        ("lanr", "123456501"),    // wrong check digit
        ("lanr", "12345660"),     // 8 digits
        ("it-order", "XX 12345"), // no such province
        ("it-order", "RM"),       // no number
        ("nhs", "9434765919"),    // unknown scheme
    ] {
        let (s, e) = declare(&srv, &p.token, scheme, id).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{scheme} {id}: {e}");
        assert!(
            e["detail"].as_str().unwrap().starts_with("identifier")
                || e["detail"].as_str().unwrap().starts_with("scheme"),
            "{e}"
        );
    }
    let (patient, _) = srv.account("patient", "Léa Patiente").await;
    let (s, _) = declare(&srv, &patient, "rpps", "10001766673").await;
    assert_eq!(s, StatusCode::FORBIDDEN, "patients have no identifier");

    // Unverified: the practice is set up and bookable by id, but nobody finds it, and its
    // practitioner cannot sign.
    let (s, c) = srv
        .get("/api/v1/practitioner/identifier", Some(&p.token))
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(c["status"], "unverified");
    assert!(search_names(&srv, "Vérifiable").await.is_empty());
    let appt = book(&srv, &p, &patient).await;
    let (s, e) = sign(&srv, &p, &appt).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{e}");
    assert_eq!(e["type"], NOT_VERIFIED);

    // Declared: pending, in the operator's queue, still neither listed nor signing.
    let rpps = fresh_rpps();
    let (s, c) = declare(&srv, &p.token, "rpps", &format!(" {} ", &rpps)).await;
    assert_eq!(s, StatusCode::OK, "{c}");
    assert_eq!(c["status"], "pending");
    assert_eq!(c["identifier"], rpps.as_str());
    let (s, _) = srv
        .get("/api/v1/operator/practitioners", Some(&p.token))
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "only the operator");
    let (s, q) = srv.get("/api/v1/operator/practitioners", Some(&op)).await;
    assert_eq!(s, StatusCode::OK);
    let queued: Vec<&Value> = q["practitioners"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["practitioner_id"] == p.practitioner_id.as_str())
        .collect();
    assert_eq!(queued.len(), 1, "{q}");
    assert_eq!(queued[0]["name"], "Dr Quentin Vérifiable");
    assert_eq!(queued[0]["identifier"], rpps.as_str());
    assert!(search_names(&srv, "Vérifiable").await.is_empty());
    let (s, e) = sign(&srv, &p, &appt).await;
    assert_eq!(
        (s, e["type"].clone()),
        (StatusCode::FORBIDDEN, json!(NOT_VERIFIED))
    );

    // Rejected (a reason is required), then corrected and verified.
    let (s, _) = decide(&srv, &p.practitioner_id, "reject", None).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let (s, c) = decide(
        &srv,
        &p.practitioner_id,
        "reject",
        Some("nom différent au RPPS"),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{c}");
    assert_eq!(c["status"], "rejected");
    assert_eq!(c["reason"], "nom différent au RPPS");
    let (s, _) = decide(&srv, &p.practitioner_id, "revoke", Some("x")).await;
    assert_eq!(
        s,
        StatusCode::CONFLICT,
        "only a verified practitioner is revoked"
    );
    let (s, _) = decide(&srv, "no-such-practitioner", "verify", None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, c) = declare(&srv, &p.token, "rpps", &rpps).await;
    assert_eq!((s, c["status"].clone()), (StatusCode::OK, json!("pending")));
    let (s, c) = decide(&srv, &p.practitioner_id, "verify", None).await;
    assert_eq!(s, StatusCode::OK, "{c}");
    assert_eq!(c["status"], "verified");
    assert_eq!(
        search_names(&srv, "Vérifiable").await,
        vec!["Dr Quentin Vérifiable".to_owned()]
    );
    let (s, rx) = sign(&srv, &p, &appt).await;
    assert_eq!(s, StatusCode::CREATED, "{rx}");

    // The pharmacist sees the verified identifier.
    let v = pharmacist(&srv, &rx).await;
    assert_eq!(v["authentic"], true);
    assert_eq!(v["prescriber"]["verification"], "verified");
    assert_eq!(v["prescriber"]["warning"], false);
    assert_eq!(v["prescriber"]["scheme"], "rpps");
    assert_eq!(v["prescriber"]["identifier"], rpps.as_str());

    // One practitioner per verified identifier: a second claim waits, and cannot be
    // verified while the first holds it.
    let q2 = srv.practice_unverified("Dr Usurpateur Double", 30, 1).await;
    let (s, _) = declare(&srv, &q2.token, "rpps", &rpps).await;
    assert_eq!(s, StatusCode::OK);
    let (s, e) = decide(&srv, &q2.practitioner_id, "verify", None).await;
    assert_eq!(s, StatusCode::CONFLICT, "{e}");
    assert_eq!(e["type"], "https://careslot.eu/problems/identifier-taken");

    // Revoked after signing: gone from search, no more signatures, and the pharmacist's
    // verification of the earlier prescription warns.
    let (s, _) = decide(&srv, &p.practitioner_id, "revoke", Some("  ")).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "a reason is required");
    let (s, c) = decide(
        &srv,
        &p.practitioner_id,
        "revoke",
        Some("radié par l’Ordre"),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{c}");
    assert_eq!(c["status"], "revoked");
    assert!(search_names(&srv, "Vérifiable").await.is_empty());
    let (s, e) = sign(&srv, &p, &appt).await;
    assert_eq!(
        (s, e["type"].clone()),
        (StatusCode::FORBIDDEN, json!(NOT_VERIFIED))
    );
    let v = pharmacist(&srv, &rx).await;
    assert_eq!(v["authentic"], true, "the signature itself is still valid");
    assert_eq!(v["prescriber"]["verification"], "revoked");
    assert_eq!(v["prescriber"]["warning"], true);
    assert!(v["prescriber"]["revoked_at"].is_string(), "{v}");
    assert_eq!(v["prescriber"]["identifier"], Value::Null);

    // Now the second claim may be verified (the first no longer holds it).
    let (s, c) = decide(&srv, &q2.practitioner_id, "verify", None).await;
    assert_eq!(
        (s, c["status"].clone()),
        (StatusCode::OK, json!("verified"))
    );

    // The history: who did what, when, why.
    let (s, d) = srv
        .get(
            &format!(
                "/api/v1/operator/practitioners/{}/credential",
                p.practitioner_id
            ),
            Some(&op),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{d}");
    let steps: Vec<(String, String)> = d["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["status"].as_str().unwrap().to_owned(),
                h["actor"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expected: Vec<(String, String)> = [
        ("pending", "practitioner"),
        ("rejected", "operator:token"),
        ("pending", "practitioner"),
        ("verified", "operator:token"),
        ("revoked", "operator:token"),
    ]
    .iter()
    .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
    .collect();
    assert_eq!(steps, expected);
    assert_eq!(d["history"][4]["reason"], "radié par l’Ordre");
    srv.stop().await;
}

/// The web search page lists verified practices only (the bulk-publishing feed reads the
/// same index).
async fn web_search_lists_verified_only(backend: Backend) {
    let loc = new_location(backend).await;
    let srv = start_on(&loc).await;
    srv.practice("Dr Flux Vérifié", 30, 1).await;
    srv.practice_unverified("Dr Flux Caché", 30, 1).await;
    // The web search page too.
    let page = srv
        .client
        .get(format!("{}/search?q=Flux", srv.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Dr Flux Vérifié"));
    assert!(!page.contains("Dr Flux Caché"));
    srv.stop().await;
}

/// A national directory import verifies the pending declarations it confirms under the
/// same name, and nothing else.
async fn directory_import(backend: Backend) {
    let loc = new_location(backend).await;
    let app = app_configured(&loc, open_custody(&loc).await, AppConfig::default()).await;
    let srv = serve_app(app.clone()).await;

    let matching = srv.practice_unverified("Dr Hélène Annuaire", 30, 1).await;
    let other_name = srv.practice_unverified("Dr Paul Homonyme", 30, 1).await;
    let rejected = srv.practice_unverified("Dr Rita Refusée", 30, 1).await;
    let lanr_doc = srv.practice_unverified("Dr Klaus Kammer", 30, 1).await;
    let undeclared = srv.practice_unverified("Dr Sans Déclaration", 30, 1).await;
    let (r1, r2, r3) = (fresh_rpps(), fresh_rpps(), fresh_rpps());
    assert_eq!(
        declare(&srv, &matching.token, "rpps", &r1).await.0,
        StatusCode::OK
    );
    assert_eq!(
        declare(&srv, &other_name.token, "rpps", &r2).await.0,
        StatusCode::OK
    );
    assert_eq!(
        declare(&srv, &rejected.token, "rpps", &r3).await.0,
        StatusCode::OK
    );
    assert_eq!(
        declare(&srv, &lanr_doc.token, "lanr", "123456601").await.0,
        StatusCode::OK
    );
    let (s, _) = decide(
        &srv,
        &rejected.practitioner_id,
        "reject",
        Some("diplôme non reconnu"),
    )
    .await;
    assert_eq!(s, StatusCode::OK);

    let row = |scheme: IdScheme, id: &str, name: &str| DirectoryRow {
        identifier: ProfessionalId::parse(scheme, id).unwrap(),
        name: name.to_owned(),
        profession: "Médecin".to_owned(),
    };
    let rows = vec![
        row(IdScheme::Rpps, &r1, "ANNUAIRE Hélène"),
        row(IdScheme::Rpps, &r2, "Pierre Homonyme"),
        row(IdScheme::Rpps, &r3, "Rita Refusée"),
        row(IdScheme::Lanr, "123456601", "Dr. med. Klaus Kammer"),
        row(IdScheme::Rpps, &fresh_rpps(), "Personne Inconnue"),
    ];
    let report = app
        .scheduling
        .import_directory(&rows, 1, "import:annuaire.csv")
        .await
        .unwrap();
    assert_eq!(report.rows, 6);
    assert_eq!(report.invalid, 1);
    assert_eq!(report.verified, 2, "{report:?}");
    assert_eq!(report.name_mismatch, 1, "{report:?}");
    assert_eq!(report.skipped_decided, 1, "{report:?}");
    assert_eq!(report.not_declared, 1, "{report:?}");

    let status = |token: String| {
        let srv = &srv;
        async move {
            srv.get("/api/v1/practitioner/identifier", Some(&token))
                .await
                .1["status"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    assert_eq!(status(matching.token.clone()).await, "verified");
    assert_eq!(status(lanr_doc.token.clone()).await, "verified");
    assert_eq!(status(other_name.token.clone()).await, "pending");
    assert_eq!(status(rejected.token.clone()).await, "rejected");
    assert_eq!(status(undeclared.token.clone()).await, "unverified");
    assert_eq!(
        search_names(&srv, "Annuaire").await,
        vec!["Dr Hélène Annuaire".to_owned()]
    );
    assert!(search_names(&srv, "Homonyme").await.is_empty());

    // Again: nothing more to do.
    let again = app
        .scheduling
        .import_directory(&rows, 0, "import:annuaire.csv")
        .await
        .unwrap();
    assert_eq!(again.verified, 0);
    assert_eq!(again.already_verified, 2);
    let (_, d) = srv
        .get(
            &format!(
                "/api/v1/operator/practitioners/{}/credential",
                matching.practitioner_id
            ),
            srv.operator.as_deref(),
        )
        .await;
    assert_eq!(d["history"][1]["actor"], "import:annuaire.csv");
    srv.stop().await;
}

on_both_backends!(
    verification_lifecycle,
    web_search_lists_verified_only,
    directory_import
);

/// A revocation on one node takes the practitioner out of the other node's search (its
/// credential watch reads the change from the database).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_revocation_on_one_node_reaches_the_other_nodes_search() {
    let loc = new_location(Backend::Postgres).await;
    let a = start_on(&loc).await;
    let b = start_on(&loc).await;
    let p = a.practice("Dr Deux Nœuds", 30, 1).await;
    let deadline = |what: &str, started: Instant| {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "node B never saw {what}"
        );
    };
    let started = Instant::now();
    while search_names(&b, "Nœuds").await.is_empty() {
        deadline("the verification", started);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (s, _) = decide(&a, &p.practitioner_id, "revoke", Some("test")).await;
    assert_eq!(s, StatusCode::OK);
    let started = Instant::now();
    while !search_names(&b, "Nœuds").await.is_empty() {
        deadline("the revocation", started);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    a.stop().await;
    b.stop().await;
}
