//! Health-data protection, end to end over real HTTP, on SQLite and PostgreSQL: the host
//! sees no health data, erasure survives backups, the audit chain detects edits, the key
//! service failing closes health data (and only health data), rotation runs online.

mod common;

use careslot_core::protection::rotate_all;
use careslot_server::services::AuditVerdict;
use careslot_vault::{keyd, HttpCustody, KeyCustody, KeyEngine, MasterKey, SecretToken};
use common::host::{encodings, find, host_bytes};
use common::{
    app_on, new_location, open_custody, start, start_on, start_with, Backend, DataLocation, Db,
};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::path::Path;
use std::sync::Arc;

const NAME: &str = "Zéphyrine Quatremère";
const EMAIL: &str = "zephyrine.quatremere@example.test";
const PHONE: &str = "+33 6 98 76 54 32";
const PHONE_COMPACT: &str = "+33698765432";
const BIRTH: &str = "1987-06-05";
const MOTIVE: &str = "Consultation Xylophonique";
const NOTE: &str = "Douleur lombaire persistante depuis Noël";
/// Public directory data: must be found, which proves the scan reads the data at all.
const CONTROL: &str = "Cabinet Ostrogoth Visible";

/// A practitioner whose public place name is the scan's positive control, with a motive
/// whose label is recognisable, open every day.
async fn practice(srv: &common::TestServer) -> (String, String, String) {
    let (token, _) = srv.account("practitioner", "Dr Amandine Faure").await;
    let t = Some(token.as_str());
    let (s, _) = srv
        .call(
            Method::PUT,
            "/api/v1/practitioner/profile",
            t,
            Some(json!({"name": "Dr Amandine Faure", "specialty": "general-practitioner"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (_, place) = srv
        .post("/api/v1/places", t, json!({"name": CONTROL, "address": "3 rue des Lilas", "postcode": "69003", "city": "Lyon",
                                          "country": "FR", "lat": 45.76, "lon": 4.85, "timezone": "Europe/Paris"}))
        .await;
    let (_, agenda) = srv
        .post(
            "/api/v1/agendas",
            t,
            json!({"place_id": place["id"], "holidays": null}),
        )
        .await;
    let agenda_id = agenda["id"].as_str().unwrap().to_owned();
    let (s, motive) = srv
        .post(
            &format!("/api/v1/agendas/{agenda_id}/motives"),
            t,
            json!({"name": MOTIVE, "duration_min": 20}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let motive_id = motive["id"].as_str().unwrap().to_owned();
    srv.post(
        &format!("/api/v1/agendas/{agenda_id}/opening-rules"),
        t,
        json!({"weekdays": [1, 2, 3, 4, 5, 6, 7], "start": "07:00", "end": "20:00", "motive_ids": [motive_id]}),
    )
    .await;
    (token, agenda_id, motive_id)
}

async fn slot_starts(srv: &common::TestServer, agenda: &str, motive: &str) -> Vec<String> {
    let from = jiff::Zoned::now().date();
    let to = from.checked_add(jiff::Span::new().days(6)).unwrap();
    let (_, body) = srv
        .get(
            &format!("/api/v1/agendas/{agenda}/slots?motive_id={motive}&from={from}&to={to}"),
            None,
        )
        .await;
    body["slots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["start"].as_str().unwrap().to_owned())
        .collect()
}

/// The full booking flow with recognisable values, then a byte scan of what the host holds.
async fn host_sees_no_health_data(backend: Backend) {
    let (srv, loc) = start(backend).await;
    let (pract, agenda, motive) = practice(&srv).await;
    let (s, acc) = srv
        .post("/api/v1/accounts", None, json!({"email": EMAIL, "password": "correct horse battery", "name": NAME, "role": "patient",
                                               "phone": PHONE, "birth_date": BIRTH}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{acc}");
    let (_, session) = srv
        .post(
            "/api/v1/sessions",
            None,
            json!({"email": EMAIL.to_uppercase(), "password": "correct horse battery"}),
        )
        .await;
    let token = session["token"]
        .as_str()
        .expect("login by email through the blind index")
        .to_owned();
    let t = Some(token.as_str());
    let (_, me) = srv.get("/api/v1/me", t).await;
    assert_eq!(
        (
            me["name"].as_str(),
            me["phone"].as_str(),
            me["birth_date"].as_str()
        ),
        (Some(NAME), Some(PHONE_COMPACT), Some(BIRTH))
    );

    let starts = slot_starts(&srv, &agenda, &motive).await;
    let (_, hold) = srv
        .post(
            "/api/v1/holds",
            t,
            json!({"agenda_id": agenda, "motive_id": motive, "start": starts[2]}),
        )
        .await;
    let (s, first) = srv
        .post(
            "/api/v1/appointments",
            t,
            json!({"hold_id": hold["id"], "note": NOTE}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{first}");
    assert_eq!(first["note"], NOTE);
    let (s, second) = srv
        .post(
            "/api/v1/appointments",
            t,
            json!({"agenda_id": agenda, "motive_id": motive, "start": starts[6], "note": NOTE}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, _) = srv
        .post(
            &format!(
                "/api/v1/appointments/{}/move",
                second["id"].as_str().unwrap()
            ),
            t,
            json!({"start": starts[9]}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (_, mine) = srv.get("/api/v1/appointments", t).await;
    assert_eq!(mine["appointments"].as_array().unwrap().len(), 2);
    assert!(mine["appointments"]
        .as_array()
        .unwrap()
        .iter()
        .all(|a| a["motive_id"] == motive.as_str() && a["note"] == NOTE));

    // The practitioner sees names and notes; the read is in the patient's access log.
    let day = &starts[0][..10];
    let last = &starts[starts.len() - 1][..10];
    let (_, listing) = srv
        .get(
            &format!("/api/v1/agendas/{agenda}/appointments?from={day}&to={last}"),
            Some(&pract),
        )
        .await;
    let rows = listing["appointments"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert!(rows
        .iter()
        .all(|r| r["patient"]["name"] == NAME && r["note"] == NOTE));
    let (_, public) = srv.get(&format!("/api/v1/agendas/{agenda}"), None).await;
    assert_eq!(public["motives"][0]["name"], MOTIVE);
    let (_, log) = srv.get("/api/v1/me/access-log", t).await;
    let entries = log["entries"].as_array().unwrap();
    let (_, pract_me) = srv.get("/api/v1/me", Some(&pract)).await;
    assert!(
        entries
            .iter()
            .any(|e| e["actor_id"] == pract_me["id"] && e["what"] == "agenda.appointments"),
        "{log}"
    );
    assert!(
        entries.iter().any(|e| e["actor_id"] == me["id"]),
        "own reads are logged too: {log}"
    );

    let bytes = host_bytes(&loc);
    assert!(
        find(&bytes, CONTROL.as_bytes()),
        "the scan must see the clear public data"
    );
    for value in [NAME, EMAIL, PHONE, PHONE_COMPACT, BIRTH, MOTIVE, NOTE] {
        for (encoding, needle) in encodings(value) {
            assert!(
                !find(&bytes, &needle),
                "{value:?} found in the host's data ({encoding})"
            );
        }
    }
}

/// Ciphertexts are bound to their row: copied elsewhere, truncated or altered, they fail.
async fn ciphertexts_are_bound_to_their_rows(backend: Backend) {
    let loc = new_location(backend).await;
    let srv = start_on(&loc).await;
    let (_, agenda, motive) = practice(&srv).await;
    let (alice, _) = srv.account("patient", "Alice Sealed").await;
    let starts = slot_starts(&srv, &agenda, &motive).await;
    let (_, a) = srv
        .post(
            "/api/v1/appointments",
            Some(&alice),
            json!({"agenda_id": agenda, "motive_id": motive, "start": starts[0]}),
        )
        .await;
    let (_, b) = srv
        .post(
            "/api/v1/appointments",
            Some(&alice),
            json!({"agenda_id": agenda, "motive_id": motive, "start": starts[3]}),
        )
        .await;

    let app = app_on(&loc, open_custody(&loc).await).await;
    let row = |id: &Value| careslot_domain::ReservationId(id.as_str().unwrap().to_owned());
    let ra = app
        .store
        .reservation(&row(&a["id"]))
        .await
        .unwrap()
        .unwrap();
    let rb = app
        .store
        .reservation(&row(&b["id"]))
        .await
        .unwrap()
        .unwrap();
    let view = app.view(&ra.agenda_id).await.unwrap();
    let key = app.agenda_key(&view.agenda).await.unwrap();
    let p = &app.protect;
    let ct = ra.patient_ct.clone().unwrap();
    assert!(p
        .open(&key, &ct, "reservations", "patient", ra.id.as_str())
        .is_ok());
    assert!(
        p.open(&key, &ct, "reservations", "patient", rb.id.as_str())
            .is_err(),
        "copied into another row"
    );
    assert!(
        p.open(&key, &ct, "reservations", "note", ra.id.as_str())
            .is_err(),
        "copied into another column"
    );
    assert!(
        p.open(
            &key,
            &ct[..ct.len() - 1],
            "reservations",
            "patient",
            ra.id.as_str()
        )
        .is_err(),
        "truncated"
    );
    let mut altered = ct.clone();
    altered[30] ^= 1;
    assert!(
        p.open(&key, &altered, "reservations", "patient", ra.id.as_str())
            .is_err(),
        "altered"
    );
}

/// Erasure destroys the key: the patient's data stays unreadable even from an earlier backup.
async fn erasure_survives_backups(backend: Backend) {
    let loc = new_location(backend).await;
    let srv = start_on(&loc).await;
    let (pract, agenda, motive) = practice(&srv).await;
    let email = "erase.me@example.test";
    srv.post("/api/v1/accounts", None, json!({"email": email, "password": "correct horse battery", "name": "Erasable Person", "role": "patient"})).await;
    let (_, session) = srv
        .post(
            "/api/v1/sessions",
            None,
            json!({"email": email, "password": "correct horse battery"}),
        )
        .await;
    let token = session["token"].as_str().unwrap().to_owned();
    let (_, me) = srv.get("/api/v1/me", Some(&token)).await;
    let id = careslot_domain::AccountId(me["id"].as_str().unwrap().to_owned());
    let starts = slot_starts(&srv, &agenda, &motive).await;
    let (_, appt) = srv
        .post(
            "/api/v1/appointments",
            Some(&token),
            json!({"agenda_id": agenda, "motive_id": motive, "start": starts[1]}),
        )
        .await;

    // A backup taken before the erasure.
    let backup = backup(&loc).await;

    let (s, _) = srv
        .call(Method::DELETE, "/api/v1/me", Some(&token), None)
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = srv.get("/api/v1/me", Some(&token)).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "sessions are gone");
    let (s, _) = srv
        .post(
            "/api/v1/sessions",
            None,
            json!({"email": email, "password": "correct horse battery"}),
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    // The appointment keeps its place in the agenda, without identity.
    let day = &starts[1][..10];
    let (_, listing) = srv
        .get(
            &format!("/api/v1/agendas/{agenda}/appointments?from={day}&to={day}"),
            Some(&pract),
        )
        .await;
    let kept = listing["appointments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == appt["id"])
        .cloned()
        .expect("kept");
    assert_eq!(
        (kept["status"].as_str(), &kept["patient"]["id"]),
        (Some("booked"), &Value::Null)
    );
    assert!(
        !slot_starts(&srv, &agenda, &motive)
            .await
            .contains(&starts[1]),
        "the time stays taken"
    );

    // The backup still has the ciphertexts and the wrapped key, but the key service has
    // destroyed the key that unwraps it.
    let old = app_on(&backup, open_custody(&loc).await).await;
    let record = old
        .store
        .account(&id)
        .await
        .unwrap()
        .expect("the backup predates the erasure");
    assert!(!record.email_ct.is_empty());
    let err = old
        .open_identity(&record)
        .await
        .expect_err("erased data must not decrypt");
    assert!(
        matches!(err, careslot_server::services::AppError::NotFound(_)),
        "{err:?}"
    );
}

/// A copy of the database as it is now, as a new location sharing nothing but the keys.
async fn backup(loc: &DataLocation) -> DataLocation {
    let keys = tempfile::tempdir().unwrap();
    let db = match &loc.db {
        Db::Sqlite(dir) => {
            let copy = tempfile::tempdir().unwrap();
            let url = format!("sqlite://{}", dir.path().join("careslot.db").display());
            use sqlx::Connection;
            let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
            sqlx::query(&format!(
                "VACUUM INTO '{}'",
                copy.path().join("careslot.db").display()
            ))
            .execute(&mut conn)
            .await
            .unwrap();
            Db::Sqlite(copy)
        }
        Db::Postgres(url) => {
            let target = careslot_store_postgres::testing::fresh_database()
                .await
                .unwrap();
            let dump = std::process::Command::new("pg_dump")
                .arg("--no-owner")
                .arg(url)
                .output()
                .unwrap();
            assert!(dump.status.success());
            let mut restore = std::process::Command::new("psql")
                .args(["-q", "-v", "ON_ERROR_STOP=1", &target])
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::null())
                .spawn()
                .expect("psql must be installed (Debian: apt-get install postgresql-client)");
            use std::io::Write;
            restore
                .stdin
                .take()
                .unwrap()
                .write_all(&dump.stdout)
                .unwrap();
            assert!(restore.wait().unwrap().success());
            Db::Postgres(target)
        }
    };
    DataLocation { db, keys }
}

/// The audit chain verifies, and any single edited or removed row is detected.
async fn audit_chain_detects_tampering(backend: Backend) {
    let loc = new_location(backend).await;
    let srv = start_on(&loc).await;
    let (pract, agenda, motive) = practice(&srv).await;
    let (alice, _) = srv.account("patient", "Audited Alice").await;
    let starts = slot_starts(&srv, &agenda, &motive).await;
    srv.post(
        "/api/v1/appointments",
        Some(&alice),
        json!({"agenda_id": agenda, "motive_id": motive, "start": starts[0]}),
    )
    .await;
    for _ in 0..3 {
        srv.get("/api/v1/appointments", Some(&alice)).await;
        srv.get("/api/v1/me", Some(&alice)).await;
    }
    // A second patient the same day: the practice's day list reads both at once, one
    // entry naming both, which each of them finds in their access log.
    let (bob, _) = srv.account("patient", "Audited Bob").await;
    let bob_slot = starts
        .iter()
        .find(|s| s[..10] == starts[0][..10] && *s != &starts[0])
        .expect("two slots on the first day");
    let (s, _) = srv
        .post(
            "/api/v1/appointments",
            Some(&bob),
            json!({"agenda_id": agenda, "motive_id": motive, "start": bob_slot}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let day = &starts[0][..10];
    let (s, listing) = srv
        .get(
            &format!("/api/v1/agendas/{agenda}/appointments?from={day}&to={day}"),
            Some(&pract),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(listing["appointments"].as_array().unwrap().len(), 2);
    // Found before the patient index has the entry (the indexer runs every few seconds)
    // and after; the chain verifies in both states.
    let app = app_on(&loc, open_custody(&loc).await).await;
    for indexing in [false, true] {
        if indexing {
            app.index_audit().await.unwrap();
        }
        for who in [&alice, &bob] {
            let (_, log) = srv.get("/api/v1/me/access-log", Some(who)).await;
            let reads = log["entries"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|e| e["what"] == "agenda.appointments")
                .count();
            assert_eq!(reads, 1, "{log}");
        }
        let rows = match app.verify_audit().await.unwrap() {
            AuditVerdict::Intact { rows } => rows,
            broken => panic!("fresh chain must verify: {broken:?}"),
        };
        assert!(rows >= 7, "{rows}");
    }
    let (_, log) = srv.get("/api/v1/me/access-log", Some(&pract)).await;
    assert!(
        !log["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["what"] == "agenda.appointments"),
        "an entry is found only by the patients it names: {log}"
    );

    // The patients stored beside a many-patient entry are checked against the sealed list:
    // exactly below the index's watermark; above it (an index partly built) each row must
    // be one of the entry's patients.
    let flip = "UPDATE audit_subjects SET subject_bidx = -7 - subject_bidx";
    for shift in [0, -100_000] {
        let watermark =
            |by: i64| format!("UPDATE audit_index_state SET indexed_to = indexed_to + {by}");
        exec(&loc, &watermark(shift)).await;
        assert!(matches!(
            app.verify_audit().await.unwrap(),
            AuditVerdict::Intact { .. }
        ));
        exec(&loc, flip).await;
        assert!(
            matches!(
                app.verify_audit().await.unwrap(),
                AuditVerdict::Broken {
                    problem: "entry's patients altered",
                    ..
                }
            ),
            "patients the entry does not name are detected (watermark moved by {shift})"
        );
        exec(&loc, flip).await;
        exec(&loc, &watermark(-shift)).await;
        assert!(matches!(
            app.verify_audit().await.unwrap(),
            AuditVerdict::Intact { .. }
        ));
    }

    exec(&loc, "UPDATE audit_log SET at = at + 1 WHERE seq = 3").await;
    assert_eq!(
        app.verify_audit().await.unwrap(),
        AuditVerdict::Broken {
            seq: 3,
            problem: "entry altered"
        }
    );
    exec(&loc, "UPDATE audit_log SET at = at - 1 WHERE seq = 3").await;
    assert!(
        matches!(
            app.verify_audit().await.unwrap(),
            AuditVerdict::Intact { .. }
        ),
        "undoing the edit restores it"
    );
    exec(&loc, "DELETE FROM audit_log WHERE seq = 4").await;
    assert_eq!(
        app.verify_audit().await.unwrap(),
        AuditVerdict::Broken {
            seq: 4,
            problem: "entry missing"
        }
    );
}

async fn exec(loc: &DataLocation, sql: &str) {
    use sqlx::Connection;
    match &loc.db {
        Db::Sqlite(dir) => {
            let url = format!("sqlite://{}", dir.path().join("careslot.db").display());
            let mut c = sqlx::SqliteConnection::connect(&url).await.unwrap();
            sqlx::query(sql).execute(&mut c).await.unwrap();
        }
        Db::Postgres(url) => {
            let mut c = sqlx::PgConnection::connect(url).await.unwrap();
            sqlx::query(sql).execute(&mut c).await.unwrap();
        }
    }
}

/// keyd as its own HTTP service: when it is down, health data fails closed with 503 and
/// everything else keeps working; when it is back, service resumes by itself.
async fn key_service_down_fails_closed(backend: Backend) {
    let loc = new_location(backend).await;
    let keyd_dir = tempfile::tempdir().unwrap();
    let master = MasterKey::generate().to_base64();
    let token = SecretToken::generate();
    let (addr, stop) = run_keyd(keyd_dir.path(), &master, token.expose(), None).await;
    let custody: Arc<dyn KeyCustody> = Arc::new(
        HttpCustody::new(
            &format!("http://{addr}"),
            SecretToken::new(token.expose()).unwrap(),
        )
        .unwrap(),
    );
    let srv = start_with(&loc, custody).await;
    let (_, agenda, motive) = practice(&srv).await;
    let (alice, _) = srv.account("patient", "Keyd Alice").await;

    let _ = stop.send(());
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;

    let (s, body) = srv
        .post("/api/v1/accounts", None, json!({"email": "late@example.test", "password": "correct horse battery", "name": "Late", "role": "patient"}))
        .await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(
        body["type"],
        "https://careslot.eu/problems/key-service-unavailable"
    );
    let (s, _) = srv
        .get("/api/v1/search?specialty=general-practitioner", None)
        .await;
    assert_eq!(s, StatusCode::OK, "search needs no health data");
    assert!(
        !slot_starts(&srv, &agenda, &motive).await.is_empty(),
        "availability needs no health data"
    );
    let (s, _) = srv
        .post(
            "/api/v1/sessions",
            None,
            json!({"email": "nobody@example.test", "password": "whatever12345"}),
        )
        .await;
    assert!(s == StatusCode::UNAUTHORIZED || s == StatusCode::SERVICE_UNAVAILABLE);

    // Back on the same address with the same data: it resumes without a restart.
    let (_, _stop2) = run_keyd(keyd_dir.path(), &master, token.expose(), Some(addr)).await;
    let (s, body) = srv
        .post("/api/v1/accounts", None, json!({"email": "late@example.test", "password": "correct horse battery", "name": "Late", "role": "patient"}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    let (s, _) = srv.get("/api/v1/me", Some(&alice)).await;
    assert_eq!(s, StatusCode::OK);
}

async fn run_keyd(
    dir: &Path,
    master_b64: &str,
    token: &str,
    addr: Option<std::net::SocketAddr>,
) -> (std::net::SocketAddr, tokio::sync::oneshot::Sender<()>) {
    let engine = Arc::new(
        KeyEngine::open(dir, MasterKey::from_base64(master_b64).unwrap())
            .await
            .unwrap(),
    );
    let listener =
        tokio::net::TcpListener::bind(addr.unwrap_or_else(|| "127.0.0.1:0".parse().unwrap()))
            .await
            .unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let token = SecretToken::new(token).unwrap();
    tokio::spawn(async move {
        let _ = keyd::serve(listener, engine, token, async {
            let _ = rx.await;
        })
        .await;
    });
    (addr, tx)
}

/// Rotation rewraps every data key while bookings run; old versions can then be retired
/// and everything still reads, from a fresh process too.
async fn rotation_runs_online(backend: Backend) {
    let loc = new_location(backend).await;
    let srv = start_on(&loc).await;
    let (pract, agenda, motive) = practice(&srv).await;
    let (alice, _) = srv.account("patient", "Rotating Alice").await;
    let starts = slot_starts(&srv, &agenda, &motive).await;
    let srv = Arc::new(srv);
    let booker = {
        let (srv, alice, agenda, motive, starts) = (
            srv.clone(),
            alice.clone(),
            agenda.clone(),
            motive.clone(),
            starts.clone(),
        );
        tokio::spawn(async move {
            let mut booked = 0;
            for start in starts.iter().take(15) {
                let (s, _) = srv
                    .post(
                        "/api/v1/appointments",
                        Some(&alice),
                        json!({"agenda_id": agenda, "motive_id": motive, "start": start}),
                    )
                    .await;
                assert_eq!(
                    s,
                    StatusCode::CREATED,
                    "bookings keep working during rotation"
                );
                booked += 1;
            }
            booked
        })
    };
    let custody = open_custody(&loc).await;
    let store = common::open_store(&loc).await;
    let report = rotate_all(&*store, &*custody, true)
        .await
        .expect("rotation");
    assert!(
        report.keys_rotated >= 4 && report.data_keys_rewrapped >= 4,
        "{report:?}"
    );
    assert_eq!(booker.await.unwrap(), 15);
    for k in store.wrapped_keys().await.unwrap() {
        assert_eq!(
            careslot_vault::wrapped_key_version(&k.wrapped),
            Some(2),
            "{:?} still on an old version",
            k.owner
        );
    }
    // A fresh process (nothing cached) reads everything with the new versions only.
    let srv2 = start_on(&loc).await;
    let (s, mine) = srv2.get("/api/v1/appointments", Some(&alice)).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(mine["appointments"].as_array().unwrap().len(), 15);
    let day = &starts[0][..10];
    let last = &starts[starts.len() - 1][..10];
    let (s, listing) = srv2
        .get(
            &format!("/api/v1/agendas/{agenda}/appointments?from={day}&to={last}"),
            Some(&pract),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert!(listing["appointments"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["patient"]["name"] == "Rotating Alice"));
}

on_both_backends!(
    host_sees_no_health_data,
    ciphertexts_are_bound_to_their_rows,
    erasure_survives_backups,
    audit_chain_detects_tampering,
    key_service_down_fails_closed,
    rotation_runs_online,
);
