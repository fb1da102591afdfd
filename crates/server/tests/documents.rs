//! Documents shared on an appointment, end to end over real HTTP on SQLite and PostgreSQL:
//! files round-trip byte for byte for the patient and the practice, everyone else gets 404,
//! the type is read from the content, the size and count limits answer 413 and 409 as
//! problem+json, downloads are audited, the database holds neither content nor file name in
//! the clear, and erasing the patient destroys the documents' keys.

mod common;

use careslot_core::protection::rotate_all;
use careslot_server::services::{AppConfig, DocumentsConfig};
use careslot_vault::VaultError;
use common::host::{encodings, find, host_bytes};
use common::{
    app_configured, new_location, open_custody, serve_app, start, start_configured, Backend,
    TestServer,
};
use reqwest::multipart::{Form, Part};
use reqwest::{header, Method, StatusCode};
use serde_json::{json, Value};

/// Inside the PDF: must never be found in the database.
const MARKER: &str = "Radiographie Quetzalcoatl Pneumothorax";
/// A file name: health data too.
const FILE_NAME: &str = "Compte-rendu Hippocampe Zéphyrin.pdf";
/// Public directory data: must be found, which proves the scan reads the data at all.
const CONTROL: &str = "Dr Ostrogoth Visible";

/// Deterministic bytes covering every value (NUL, CR, LF, high bytes): a text-mangling
/// store or transfer would not give them back.
fn noise(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761).max(1);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 7) as u8
        })
        .collect()
}

fn pdf(len: usize) -> Vec<u8> {
    let mut out =
        format!("%PDF-1.7\n% {MARKER}\n1 0 obj\n<< /Type /Catalog >>\nendobj\n").into_bytes();
    out.extend(noise(len.saturating_sub(out.len() + 6), 1));
    out.extend_from_slice(b"%%EOF\n");
    out
}

fn png(len: usize) -> Vec<u8> {
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    out.extend(noise(len - out.len(), 2));
    out
}

fn jpeg(len: usize) -> Vec<u8> {
    let mut out = vec![0xFF, 0xD8, 0xFF, 0xE0];
    out.extend(noise(len - 6, 3));
    out.extend_from_slice(&[0xFF, 0xD9]);
    out
}

async fn me_id(srv: &TestServer, token: &str) -> String {
    let (s, me) = srv.get("/api/v1/me", Some(token)).await;
    assert_eq!(s, StatusCode::OK, "{me}");
    me["id"].as_str().expect("id").to_owned()
}

/// Checks the problem+json shape of an error answer and returns its body.
async fn answer(resp: reqwest::Response) -> (StatusCode, Value) {
    let status = resp.status();
    let ct = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let text = resp.text().await.expect("body");
    let value: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    if !status.is_success() {
        assert!(
            ct.starts_with("application/problem+json"),
            "{status} must be problem+json, got {ct:?}: {value}"
        );
        assert_eq!(value["status"], status.as_u16(), "{value}");
        assert!(value["detail"].is_string() && value["type"].is_string());
    }
    (status, value)
}

async fn upload(
    srv: &TestServer,
    token: &str,
    appointment: &str,
    name: &str,
    declared: &str,
    content: Vec<u8>,
) -> (StatusCode, Value) {
    let part = Part::bytes(content)
        .file_name(name.to_owned())
        .mime_str(declared)
        .expect("mime");
    let resp = srv
        .client
        .post(format!(
            "{}/api/v1/appointments/{appointment}/documents",
            srv.base
        ))
        .bearer_auth(token)
        .multipart(Form::new().part("file", part))
        .send()
        .await
        .expect("upload");
    answer(resp).await
}

async fn download(
    srv: &TestServer,
    token: &str,
    appointment: &str,
    doc: &str,
) -> (StatusCode, header::HeaderMap, Vec<u8>) {
    let resp = srv
        .client
        .get(format!(
            "{}/api/v1/appointments/{appointment}/documents/{doc}",
            srv.base
        ))
        .bearer_auth(token)
        .send()
        .await
        .expect("download");
    let status = resp.status();
    let headers = resp.headers().clone();
    (status, headers, resp.bytes().await.expect("bytes").to_vec())
}

/// A practice, a patient and one booked appointment between them.
async fn appointment(srv: &TestServer, slot: usize) -> (common::Practice, String, String) {
    let practice = srv.practice(CONTROL, 20, 1).await;
    let (patient, _) = srv.account("patient", "Patient Documents").await;
    let start = srv.slots(&practice).await[slot]["start"]
        .as_str()
        .expect("start")
        .to_owned();
    let (s, appt) = srv
        .post(
            "/api/v1/appointments",
            Some(&patient),
            json!({"agenda_id": practice.agenda_id, "motive_id": practice.motive_id, "start": start}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{appt}");
    let id = appt["id"].as_str().expect("id").to_owned();
    (practice, patient, id)
}

async fn round_trips_for_both_sides(backend: Backend) {
    let (srv, loc) = start(backend).await;
    let (practice, patient, appt) = appointment(&srv, 1).await;
    let doctor = practice.token.as_str();

    // Larger than the 64 KiB JSON limit: the documents route has its own.
    let files = [
        (
            patient.as_str(),
            FILE_NAME,
            "application/pdf",
            pdf(300_000),
            "application/pdf",
            "patient",
        ),
        (
            patient.as_str(),
            "photo.png",
            "image/png",
            png(70_000),
            "image/png",
            "patient",
        ),
        // The declared type lies: the content decides.
        (
            doctor,
            "scan.pdf",
            "application/pdf",
            jpeg(50_000),
            "image/jpeg",
            "practice",
        ),
        (
            doctor,
            "ordonnance.jpg",
            "text/plain",
            pdf(2_000),
            "application/pdf",
            "practice",
        ),
    ];
    let mut ids = Vec::new();
    for (token, name, declared, content, sniffed, side) in &files {
        let (s, doc) = upload(&srv, token, &appt, name, declared, content.clone()).await;
        assert_eq!(s, StatusCode::CREATED, "{doc}");
        assert_eq!(doc["name"], *name);
        assert_eq!(doc["content_type"], *sniffed);
        assert_eq!(doc["size"], content.len());
        assert_eq!(doc["uploaded_by"], *side);
        assert!(doc["uploaded_at"].as_str().is_some_and(|t| t.contains('T')));
        ids.push(doc["id"].as_str().expect("id").to_owned());
    }

    // Both sides list all four, oldest first.
    for token in [patient.as_str(), doctor] {
        let (s, list) = srv
            .get(
                &format!("/api/v1/appointments/{appt}/documents"),
                Some(token),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{list}");
        let listed: Vec<&str> = list["documents"]
            .as_array()
            .expect("documents")
            .iter()
            .map(|d| d["id"].as_str().unwrap_or(""))
            .collect();
        assert_eq!(listed, ids);
    }

    // Both sides download every file byte for byte, with safe headers.
    for token in [patient.as_str(), doctor] {
        for ((_, name, _, content, sniffed, _), id) in files.iter().zip(&ids) {
            let (s, h, body) = download(&srv, token, &appt, id).await;
            assert_eq!(s, StatusCode::OK);
            assert!(body == *content, "{name} must round-trip byte for byte");
            assert_eq!(h[header::CONTENT_TYPE], *sniffed);
            assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
            assert_eq!(h[header::CACHE_CONTROL], "no-store");
            let disposition = h[header::CONTENT_DISPOSITION].to_str().expect("ascii");
            assert!(disposition.starts_with("attachment;"), "{disposition}");
            if *name == FILE_NAME {
                assert!(
                    disposition
                        .contains("filename*=UTF-8''Compte-rendu%20Hippocampe%20Z%C3%A9phyrin.pdf"),
                    "{disposition}"
                );
            }
        }
    }

    // Every download is in the patient's access log, with who read.
    let doctor_id = me_id(&srv, doctor).await;
    let patient_id = me_id(&srv, &patient).await;
    let (s, log) = srv.get("/api/v1/me/access-log", Some(&patient)).await;
    assert_eq!(s, StatusCode::OK);
    let downloads = |actor: &str| {
        log["entries"]
            .as_array()
            .expect("entries")
            .iter()
            .filter(|e| e["what"] == "document.download" && e["actor_id"] == actor)
            .count()
    };
    assert_eq!(downloads(&doctor_id), 4, "{log}");
    assert_eq!(downloads(&patient_id), 4, "{log}");

    // Unknown document ids of a visible appointment: 404.
    let (s, _, _) = download(&srv, &patient, &appt, "no-such-document").await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // The host holds neither the content nor the file name.
    let bytes = host_bytes(&loc);
    for (label, needle) in encodings(CONTROL).into_iter().take(1) {
        assert!(find(&bytes, &needle), "control ({label}) must be found");
    }
    for secret in [MARKER, FILE_NAME] {
        for (label, needle) in encodings(secret) {
            assert!(
                !find(&bytes, &needle),
                "{secret:?} found in the database as {label}"
            );
        }
    }
    srv.stop().await;
}

async fn outsiders_get_404(backend: Backend) {
    let (srv, _loc) = start(backend).await;
    let (practice, patient, appt) = appointment(&srv, 2).await;
    let (s, doc) = upload(&srv, &patient, &appt, "a.png", "image/png", png(500)).await;
    assert_eq!(s, StatusCode::CREATED, "{doc}");
    let doc = doc["id"].as_str().expect("id").to_owned();

    let (stranger, _) = srv.account("patient", "Curious Stranger").await;
    let other_practice = srv.practice("Dr Autre Cabinet", 20, 1).await;
    for token in [stranger.as_str(), other_practice.token.as_str()] {
        let (s, body) = srv
            .get(
                &format!("/api/v1/appointments/{appt}/documents"),
                Some(token),
            )
            .await;
        assert_eq!(s, StatusCode::NOT_FOUND, "list: {body}");
        let (s, body) = upload(&srv, token, &appt, "b.pdf", "application/pdf", pdf(500)).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "upload: {body}");
        let (s, _, body) = download(&srv, token, &appt, &doc).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "download");
        assert!(body != png(500));
        let (s, _) = srv
            .call(
                Method::DELETE,
                &format!("/api/v1/appointments/{appt}/documents/{doc}"),
                Some(token),
                None,
            )
            .await;
        assert_eq!(s, StatusCode::NOT_FOUND, "delete");
    }
    // The endpoints are in the OpenAPI document.
    let (s, doc) = srv.get("/api/v1/openapi.json", None).await;
    assert_eq!(s, StatusCode::OK);
    let paths = &doc["paths"];
    let list = &paths["/api/v1/appointments/{id}/documents"];
    let one = &paths["/api/v1/appointments/{id}/documents/{doc_id}"];
    assert!(
        list["get"].is_object() && list["post"].is_object(),
        "{paths}"
    );
    assert!(
        one["get"].is_object() && one["delete"].is_object(),
        "{paths}"
    );
    assert!(list["post"]["requestBody"]["content"]["multipart/form-data"].is_object());
    // Without credentials: 401.
    let (s, _) = srv
        .get(&format!("/api/v1/appointments/{appt}/documents"), None)
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    // Nothing was added by the attempts.
    let (_, list) = srv
        .get(
            &format!("/api/v1/appointments/{appt}/documents"),
            Some(&practice.token),
        )
        .await;
    assert_eq!(list["documents"].as_array().map(Vec::len), Some(1));
    srv.stop().await;
}

async fn type_is_read_from_content(backend: Backend) {
    let (srv, _loc) = start(backend).await;
    let (_, patient, appt) = appointment(&srv, 3).await;
    // A text file renamed .pdf and declared as a PDF.
    let (s, body) = upload(
        &srv,
        &patient,
        &appt,
        "résultats.pdf",
        "application/pdf",
        b"Just some notes, not a PDF at all.\n".to_vec(),
    )
    .await;
    assert_eq!(s, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{body}");
    assert_eq!(
        body["type"],
        "https://careslot.eu/problems/unsupported-type"
    );
    assert!(!body["detail"].as_str().unwrap_or("").contains("résultats"));
    // Other real formats are refused too.
    for (name, content) in [
        ("anim.png", b"GIF89a\x01\x00\x01\x00".to_vec()),
        (
            "page.pdf",
            b"<!doctype html><script>alert(1)</script>".to_vec(),
        ),
    ] {
        let (s, _) = upload(&srv, &patient, &appt, name, "image/png", content).await;
        assert_eq!(s, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{name}");
    }
    // An empty file, a form without a file, a body that is not multipart.
    let (s, _) = upload(
        &srv,
        &patient,
        &appt,
        "e.pdf",
        "application/pdf",
        Vec::new(),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let url = format!("{}/api/v1/appointments/{appt}/documents", srv.base);
    let resp = srv
        .client
        .post(&url)
        .bearer_auth(&patient)
        .multipart(Form::new().text("note", "no file here"))
        .send()
        .await
        .expect("send");
    let (s, body) = answer(resp).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body["detail"].as_str().unwrap_or("").starts_with("file"));
    let resp = srv
        .client
        .post(&url)
        .bearer_auth(&patient)
        .json(&json!({"file": "JVBERi0="}))
        .send()
        .await
        .expect("send");
    let (s, _) = answer(resp).await;
    assert_eq!(s, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    // Nothing was stored.
    let (_, list) = srv
        .get(
            &format!("/api/v1/appointments/{appt}/documents"),
            Some(&patient),
        )
        .await;
    assert_eq!(list["documents"].as_array().map(Vec::len), Some(0));
    srv.stop().await;
}

/// Sends only the head of an upload declaring a 1 GB body, over a raw connection, and reads
/// the answer: (status, content type, body).
async fn declare_huge_upload(
    srv: &TestServer,
    token: &str,
    appointment: &str,
) -> (u16, String, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = srv.base.trim_start_matches("http://");
    let mut conn = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let head = format!(
        "POST /api/v1/appointments/{appointment}/documents HTTP/1.1\r\nHost: {addr}\r\n\
         Authorization: Bearer {token}\r\n\
         Content-Type: multipart/form-data; boundary=XyZ\r\nContent-Length: 1000000000\r\n\r\n"
    );
    conn.write_all(head.as_bytes()).await.expect("write");
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    // The server closes after answering (the body it did not read makes the connection unusable).
    loop {
        match tokio::time::timeout(std::time::Duration::from_secs(30), conn.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => raw.extend_from_slice(&buf[..n]),
            Err(_) => panic!("no answer to a huge declared body"),
        }
        let text = String::from_utf8_lossy(&raw);
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let len = head.lines().find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("content-length:")
                    .map(|v| v.trim().parse::<usize>().unwrap_or(0))
            });
            if len.is_some_and(|n| body.len() >= n) {
                break;
            }
        }
    }
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").expect("a complete head");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status");
    let content_type = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-type")
                .then(|| v.trim().to_owned())
        })
        .unwrap_or_default();
    (status, content_type, body.to_owned())
}

async fn size_and_count_limits(backend: Backend) {
    const MAX: usize = 64 * 1024;
    let config = AppConfig {
        documents: DocumentsConfig {
            max_bytes: MAX,
            max_per_appointment: 2,
        },
        ..AppConfig::default()
    };
    let (srv, _loc) = start_configured(backend, config).await;
    let (practice, patient, appt) = appointment(&srv, 4).await;

    // One byte over: 413 problem+json.
    let (s, body) = upload(&srv, &patient, &appt, "big.png", "image/png", png(MAX + 1)).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert_eq!(body["type"], "https://careslot.eu/problems/too-large");
    // Far over (sixteen times the limit): read to its end and dropped, then our 413.
    let (s, body) = upload(
        &srv,
        &patient,
        &appt,
        "huge.png",
        "image/png",
        png(MAX * 16),
    )
    .await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    // Declared larger than the route ever reads: our 413 problem+json at once (not axum's
    // plain-text one), before any of the body is sent.
    let (status, content_type, body) = declare_huge_upload(&srv, &patient, &appt).await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(content_type, "application/problem+json");
    let body: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(body["type"], "https://careslot.eu/problems/too-large");
    // Exactly the limit: accepted.
    let (s, body) = upload(&srv, &patient, &appt, "max.png", "image/png", png(MAX)).await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    let mine = body["id"].as_str().expect("id").to_owned();

    let (s, body) = upload(
        &srv,
        &practice.token,
        &appt,
        "r.pdf",
        "application/pdf",
        pdf(900),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    let theirs = body["id"].as_str().expect("id").to_owned();
    // A third document: 409.
    let (s, body) = upload(&srv, &patient, &appt, "3.pdf", "application/pdf", pdf(900)).await;
    assert_eq!(s, StatusCode::CONFLICT, "{body}");
    assert_eq!(
        body["type"],
        "https://careslot.eu/problems/too-many-documents"
    );

    // Only the uploading side deletes; then there is room again.
    let path = |d: &str| format!("/api/v1/appointments/{appt}/documents/{d}");
    let (s, _) = srv
        .call(Method::DELETE, &path(&theirs), Some(&patient), None)
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = srv
        .call(Method::DELETE, &path(&mine), Some(&patient), None)
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _, _) = download(&srv, &practice.token, &appt, &mine).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "a deleted document is gone");
    let (s, body) = upload(&srv, &patient, &appt, "3.pdf", "application/pdf", pdf(900)).await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    srv.stop().await;
}

/// The default limit is 10 MiB.
async fn default_limit_is_ten_mib(backend: Backend) {
    let (srv, _loc) = start(backend).await;
    let (_, patient, appt) = appointment(&srv, 5).await;
    let mib = 1024 * 1024;
    let (s, body) = upload(
        &srv,
        &patient,
        &appt,
        "x.pdf",
        "application/pdf",
        pdf(10 * mib + 1),
    )
    .await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    let content = pdf(10 * mib);
    let (s, body) = upload(
        &srv,
        &patient,
        &appt,
        "x.pdf",
        "application/pdf",
        content.clone(),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    let (s, _, got) = download(&srv, &patient, &appt, body["id"].as_str().unwrap_or("")).await;
    assert_eq!(s, StatusCode::OK);
    assert!(got == content);
    srv.stop().await;
}

async fn erasure_destroys_document_keys(backend: Backend) {
    let loc = new_location(backend).await;
    let custody = open_custody(&loc).await;
    let app = app_configured(&loc, custody.clone(), AppConfig::default()).await;
    let srv = serve_app(app.clone()).await;
    let (practice, patient, appt) = appointment(&srv, 6).await;
    let mut keys = Vec::new();
    for token in [patient.as_str(), practice.token.as_str()] {
        let (s, doc) = upload(&srv, token, &appt, FILE_NAME, "application/pdf", pdf(4000)).await;
        assert_eq!(s, StatusCode::CREATED, "{doc}");
        let key = format!("document-{}", doc["id"].as_str().expect("id"));
        assert!(custody.key_info(&key).await.is_ok(), "{key} exists");
        keys.push((key, doc["id"].as_str().expect("id").to_owned()));
    }
    // Key rotation with retirement rewraps document keys: they still open afterwards.
    let report = rotate_all(&*app.store, &*custody, true)
        .await
        .expect("rotation");
    assert!(report.data_keys_rewrapped >= 2, "{report:?}");
    // A second node with a cold key cache must unwrap the rewrapped keys.
    let fresh = serve_app(app_configured(&loc, custody.clone(), AppConfig::default()).await).await;
    for (_, doc) in &keys {
        let (s, _, body) = download(&fresh, &practice.token, &appt, doc).await;
        assert_eq!(s, StatusCode::OK);
        assert!(body == pdf(4000));
    }
    fresh.stop().await;
    let (s, _) = srv
        .call(Method::DELETE, "/api/v1/me", Some(&patient), None)
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    for (key, doc) in &keys {
        assert!(
            matches!(custody.key_info(key).await, Err(VaultError::NotFound)),
            "{key} must be destroyed"
        );
        let (s, _, _) = download(&srv, &practice.token, &appt, doc).await;
        assert_eq!(s, StatusCode::NOT_FOUND);
    }
    let (s, list) = srv
        .get(
            &format!("/api/v1/appointments/{appt}/documents"),
            Some(&practice.token),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{list}");
    assert_eq!(list["documents"].as_array().map(Vec::len), Some(0));
    srv.stop().await;
}

on_both_backends!(
    round_trips_for_both_sides,
    outsiders_get_404,
    type_is_read_from_content,
    size_and_count_limits,
    default_limit_is_ten_mib,
    erasure_destroys_document_keys,
);
