//! E-prescriptions end to end over real HTTP, on SQLite and PostgreSQL: the practitioner
//! signs, the patient lists and downloads, strangers get 404, the PDF renders (poppler's
//! pdftoppm) and its QR code decodes to the verification URL, pharmacists verify and
//! dispense once, tampering with the stored data is detected, and the database holds no
//! prescription content in the clear.

mod common;

use careslot_core::protection::agenda_key_name;
use careslot_domain::AgendaId;
use careslot_server::services::{App, AppConfig};
use common::{app_configured, new_location, open_custody, serve_app, Backend, DataLocation, Db};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::path::Path;
use std::process::Command;

const PUBLIC_URL: &str = "https://rx.careslot.test";
const PATIENT: &str = "Zéphyrin Dupré";
const DRUG: &str = "Amoxicilline Quintessentielle 500 mg";
const INSTRUCTIONS: &str = "Boire beaucoup d’eau pendant le traitement.";

fn meds() -> Value {
    json!([
        {"name": DRUG, "dosage": "1 gélule 3 fois par jour", "duration": "7 jours"},
        {"name": "Paracétamol 1 g", "dosage": "1 comprimé si fièvre, 4 par jour au plus", "duration": "5 jours"}
    ])
}

/// A tool of poppler-utils, or a clear failure saying how to get it.
fn poppler(tool: &str) -> Command {
    let found = Command::new(tool).arg("-v").output().is_ok();
    assert!(
        found,
        "{tool} is missing: the prescription PDF tests need poppler-utils (Debian: apt-get install poppler-utils)"
    );
    Command::new(tool)
}

/// Renders the PDF at 150 dpi with pdftoppm and decodes the QR code found in the image.
fn qr_of_pdf(pdf: &[u8]) -> (String, (u32, u32)) {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("rx.pdf");
    std::fs::write(&file, pdf).expect("write pdf");
    let out = poppler("pdftoppm")
        .args(["-png", "-r", "150", "-singlefile"])
        .arg(&file)
        .arg(dir.path().join("page"))
        .output()
        .expect("pdftoppm");
    assert!(
        out.status.success(),
        "pdftoppm failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let img = image::open(dir.path().join("page.png"))
        .expect("png")
        .to_luma8();
    let (w, h) = img.dimensions();
    let mut prepared =
        rqrr::PreparedImage::prepare_from_greyscale(w as usize, h as usize, |x, y| {
            img.get_pixel(x as u32, y as u32).0[0]
        });
    let grids = prepared.detect_grids();
    assert_eq!(grids.len(), 1, "one QR code on the page");
    let (_, text) = grids[0].decode().expect("QR decodes");
    (text, (w, h))
}

fn pdf_text(pdf: &[u8]) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("rx.pdf");
    std::fs::write(&file, pdf).expect("write pdf");
    let out = poppler("pdftotext")
        .arg(&file)
        .arg("-")
        .output()
        .expect("pdftotext");
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Everything the database host holds (files of the SQLite directory, or a pg_dump).
fn host_bytes(loc: &DataLocation) -> Vec<u8> {
    fn collect(dir: &Path, into: &mut Vec<u8>) {
        for entry in std::fs::read_dir(dir).expect("read dir").flatten() {
            let path = entry.path();
            if path.is_dir() {
                collect(&path, into);
            } else if let Ok(bytes) = std::fs::read(&path) {
                into.extend_from_slice(&bytes);
            }
        }
    }
    match &loc.db {
        Db::Sqlite(dir) => {
            let mut all = Vec::new();
            collect(dir.path(), &mut all);
            all
        }
        Db::Postgres(url) => {
            let out = Command::new("pg_dump")
                .arg("--no-owner")
                .arg(url)
                .output()
                .expect("pg_dump must be installed (Debian: apt-get install postgresql-client)");
            assert!(out.status.success());
            out.stdout
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Writes a column of a prescription row behind the application's back (the tampering
/// an attacker with database access could do).
async fn tamper(loc: &DataLocation, column: &str, id: &str, value: Vec<u8>) {
    let sql = format!("UPDATE prescriptions SET {column} = $1 WHERE id = $2");
    match &loc.db {
        Db::Sqlite(dir) => {
            let url = format!("sqlite://{}", dir.path().join("careslot.db").display());
            let pool = sqlx::SqlitePool::connect(&url).await.expect("sqlite");
            let done = sqlx::query(&sql)
                .bind(value)
                .bind(id)
                .execute(&pool)
                .await
                .expect("update");
            assert_eq!(done.rows_affected(), 1);
        }
        Db::Postgres(url) => {
            let pool = sqlx::PgPool::connect(url).await.expect("postgres");
            let done = sqlx::query(&sql)
                .bind(value)
                .bind(id)
                .execute(&pool)
                .await
                .expect("update");
            assert_eq!(done.rows_affected(), 1);
        }
    }
}

/// Re-seals a modified payload under the same agenda data key, as an attacker holding the
/// key (but not the practitioner's signing key) could.
async fn reseal_modified(app: &App, loc: &DataLocation, agenda: &str, rx_id: &str) {
    let agenda = app
        .store
        .agenda(&AgendaId(agenda.to_owned()))
        .await
        .unwrap()
        .unwrap();
    let key = app
        .protect
        .data_key(&agenda_key_name(&agenda.id), &agenda.wrapped_key)
        .await
        .unwrap();
    let row = app.store.prescription(rx_id).await.unwrap().unwrap();
    let plain = app
        .protect
        .open_string(&key, &row.payload_ct, "prescriptions", "payload", rx_id)
        .unwrap();
    assert!(plain.contains("500 mg"));
    let forged = plain.replace("500 mg", "1000 mg");
    let sealed = app
        .protect
        .seal(&key, forged.as_bytes(), "prescriptions", "payload", rx_id);
    tamper(loc, "payload_ct", rx_id, sealed).await;
}

async fn book(srv: &common::TestServer, p: &common::Practice, token: &str, i: usize) -> String {
    let slots = srv.slots(p).await;
    let (s, a) = srv
        .post(
            "/api/v1/appointments",
            Some(token),
            json!({"agenda_id": p.agenda_id, "motive_id": p.motive_id, "start": slots[i]["start"]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{a}");
    a["id"].as_str().unwrap().to_owned()
}

async fn pdf(srv: &common::TestServer, path: &str, token: &str) -> (StatusCode, Vec<u8>, String) {
    let resp = srv
        .client
        .get(format!("{}{path}", srv.base))
        .bearer_auth(token)
        .header("accept-language", "fr")
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let ct = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    (status, resp.bytes().await.unwrap().to_vec(), ct)
}

async fn prescriptions(backend: Backend) {
    let loc = new_location(backend).await;
    let config = AppConfig {
        public_url: Some(PUBLIC_URL.to_owned()),
        ..Default::default()
    };
    let app = app_configured(&loc, open_custody(&loc).await, config).await;
    let srv = serve_app(app.clone()).await;

    let practice = srv.practice("Dr Éloïse Quintard", 30, 1).await;
    let pt = Some(practice.token.as_str());
    let (patient, _) = srv.account("patient", PATIENT).await;
    let (stranger, _) = srv.account("patient", "Ninon Étrangère").await;
    let other = srv.practice("Dr Autre Cabinet", 30, 1).await;
    let appt = book(&srv, &practice, &patient, 0).await;
    let base = format!("/api/v1/appointments/{appt}/prescriptions");

    // Only the appointment's practitioner signs; strangers do not learn it exists.
    let body = json!({"medications": meds(), "instructions": INSTRUCTIONS});
    let (s, _) = srv.post(&base, Some(&patient), body.clone()).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = srv.post(&base, Some(&other.token), body.clone()).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = srv.post(&base, Some(&stranger), body.clone()).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // Bounds: 1 to 20 lines, every field required.
    let (s, e) = srv.post(&base, pt, json!({"medications": []})).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        e["detail"].as_str().unwrap().starts_with("medications"),
        "{e}"
    );
    let many: Vec<Value> = (0..21)
        .map(|_| json!({"name": "a", "dosage": "b", "duration": "c"}))
        .collect();
    let (s, _) = srv.post(&base, pt, json!({"medications": many})).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let (s, e) = srv
        .post(
            &base,
            pt,
            json!({"medications": [{"name": "x", "dosage": " ", "duration": "1 j"}]}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        e["detail"]
            .as_str()
            .unwrap()
            .starts_with("medications.dosage"),
        "{e}"
    );

    let (s, rx) = srv.post(&base, pt, body.clone()).await;
    assert_eq!(s, StatusCode::CREATED, "{rx}");
    let id = rx["id"].as_str().unwrap().to_owned();
    let url = rx["verification_url"].as_str().unwrap().to_owned();
    let prefix = format!("{PUBLIC_URL}/rx/{id}#");
    assert!(url.starts_with(&prefix), "{url}");
    let capability = url[prefix.len()..].to_owned();
    assert_eq!(capability.len(), 22);
    assert_eq!(rx["authentic"], true);
    assert_eq!(rx["patient_name"], PATIENT);
    assert_eq!(rx["practitioner"]["name"], "Dr Éloïse Quintard");
    assert_eq!(rx["medications"][0]["name"], DRUG);

    // The patient and the practice list it; others get 404.
    let (s, list) = srv.get(&base, Some(&patient)).await;
    assert_eq!(s, StatusCode::OK, "{list}");
    let listed = &list["prescriptions"][0];
    assert_eq!(listed["id"], id);
    assert_eq!(listed["authentic"], true);
    assert_eq!(listed["instructions"], INSTRUCTIONS);
    assert_eq!(listed["verification_url"], url);
    let (s, list) = srv.get(&base, pt).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(list["prescriptions"].as_array().unwrap().len(), 1);
    for t in [&stranger, &other.token] {
        let (s, _) = srv.get(&base, Some(t)).await;
        assert_eq!(s, StatusCode::NOT_FOUND);
    }

    // The public key is published, without authentication.
    let (s, keys) = srv
        .get(
            &format!(
                "/api/v1/practitioners/{}/signing-keys",
                practice.practitioner_id
            ),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{keys}");
    let key = &keys["keys"][0];
    assert_eq!(key["key_id"], rx["key_id"]);
    assert_eq!(key["algorithm"], "Ed25519");
    assert_eq!(key["public_key"].as_str().unwrap().len(), 43);
    let (s, _) = srv
        .get(
            "/api/v1/practitioners/no-such-practitioner/signing-keys",
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // The PDF: one A4 page whose QR code is the verification URL, accents intact.
    let pdf_path = format!("{base}/{id}/pdf");
    let (s, bytes, ct) = pdf(&srv, &pdf_path, &patient).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(ct, "application/pdf");
    assert!(bytes.starts_with(b"%PDF-"));
    let (qr, (w, h)) = qr_of_pdf(&bytes);
    assert_eq!(qr, url);
    // A4 (595 × 842 pt) at 150 dpi: 1240 × 1754.2 pixels, rounded up by pdftoppm.
    assert_eq!(w, 1240);
    assert!((1754..=1755).contains(&h), "{h}");
    let info = {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("rx.pdf");
        std::fs::write(&file, &bytes).expect("write");
        let out = poppler("pdfinfo").arg(&file).output().expect("pdfinfo");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert!(
        info.lines()
            .any(|l| l.starts_with("Pages:") && l.trim_end().ends_with(" 1")),
        "{info}"
    );
    let text = pdf_text(&bytes);
    for expected in [
        PATIENT,
        DRUG,
        "Dr Éloïse Quintard",
        "gélule",
        id.as_str(),
        "Ordonnance",
    ] {
        assert!(
            text.contains(expected),
            "{expected:?} missing from the PDF text:\n{text}"
        );
    }
    let (s, _, _) = pdf(&srv, &pdf_path, &practice.token).await;
    assert_eq!(s, StatusCode::OK);
    for t in [&stranger, &other.token] {
        let (s, _, _) = pdf(&srv, &pdf_path, t).await;
        assert_eq!(s, StatusCode::NOT_FOUND);
    }

    // The pharmacist: verify with the capability, dispense once.
    let verify = format!("/api/v1/prescriptions/{id}/verify");
    let (s, v) = srv
        .post(&verify, None, json!({"capability": capability}))
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["authentic"], true);
    assert_eq!(v["practitioner"]["name"], "Dr Éloïse Quintard");
    assert_eq!(v["medications"][0]["name"], DRUG);
    assert_eq!(v["instructions"], INSTRUCTIONS);
    assert_eq!(v["dispensed_at"], Value::Null);
    let wrong = if capability.starts_with('A') {
        "B"
    } else {
        "A"
    }
    .to_owned()
        + &capability[1..];
    for c in [wrong.as_str(), "", "short"] {
        let (s, _) = srv.post(&verify, None, json!({"capability": c})).await;
        assert_eq!(s, StatusCode::NOT_FOUND);
    }
    let dispense = format!("/api/v1/prescriptions/{id}/dispense");
    let (s, _) = srv
        .post(&dispense, None, json!({"capability": wrong}))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, d) = srv
        .post(&dispense, None, json!({"capability": capability}))
        .await;
    assert_eq!(s, StatusCode::OK, "{d}");
    let (s, d2) = srv
        .post(&dispense, None, json!({"capability": capability}))
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{d2}");
    assert!(d2["type"].as_str().unwrap().ends_with("already-dispensed"));
    let (_, v) = srv
        .post(&verify, None, json!({"capability": capability}))
        .await;
    assert!(v["dispensed_at"].is_string(), "{v}");

    // Reads through the capability are in the patient's access log.
    let (s, log) = srv.get("/api/v1/me/access-log", Some(&patient)).await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        log["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["actor_id"] == "pharmacist via capability"),
        "{log}"
    );

    // Tampering: a payload re-sealed with a changed dose, and a flipped signature byte.
    let (_, second) = srv.post(&base, pt, body.clone()).await;
    let (_, third) = srv.post(&base, pt, body.clone()).await;
    let cap_of = |rx: &Value| {
        let u = rx["verification_url"].as_str().unwrap();
        u[u.find('#').unwrap() + 1..].to_owned()
    };
    let (second_id, third_id) = (
        second["id"].as_str().unwrap().to_owned(),
        third["id"].as_str().unwrap().to_owned(),
    );
    reseal_modified(&app, &loc, &practice.agenda_id, &second_id).await;
    let row = app.store.prescription(&third_id).await.unwrap().unwrap();
    let mut sig = row.signature.clone();
    sig[17] ^= 0x01;
    tamper(&loc, "signature", &third_id, sig).await;
    for (rid, cap) in [(&second_id, cap_of(&second)), (&third_id, cap_of(&third))] {
        let (s, v) = srv
            .post(
                &format!("/api/v1/prescriptions/{rid}/verify"),
                None,
                json!({"capability": cap}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert_eq!(v["authentic"], false, "{rid}: {v}");
        let (s, d) = srv
            .post(
                &format!("/api/v1/prescriptions/{rid}/dispense"),
                None,
                json!({"capability": cap}),
            )
            .await;
        assert_eq!(s, StatusCode::CONFLICT, "{d}");
        assert!(d["type"]
            .as_str()
            .unwrap()
            .ends_with("prescription-not-authentic"));
    }
    let (_, v) = srv
        .post(
            &format!("/api/v1/prescriptions/{second_id}/verify"),
            None,
            json!({"capability": cap_of(&second)}),
        )
        .await;
    assert_eq!(
        v["medications"][0]["name"],
        "Amoxicilline Quintessentielle 1000 mg"
    );
    let (_, list) = srv.get(&base, Some(&patient)).await;
    let authentic: Vec<(String, bool)> = list["prescriptions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["id"].as_str().unwrap().to_owned(),
                r["authentic"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        authentic,
        vec![
            (id.clone(), true),
            (second_id.clone(), false),
            (third_id.clone(), false)
        ]
    );

    // The database host sees no prescription content, no patient name, no capability.
    let host = host_bytes(&loc);
    assert!(
        contains(&host, "Dr Éloïse Quintard".as_bytes()),
        "positive control: the public practitioner name is in the scan"
    );
    for secret in [
        DRUG,
        "Quintessentielle",
        "Boire beaucoup",
        PATIENT,
        "Zéphyrin",
        capability.as_str(),
    ] {
        assert!(
            !contains(&host, secret.as_bytes()),
            "{secret:?} is readable in the database"
        );
    }
    srv.stop().await;
}

on_both_backends!(prescriptions);
