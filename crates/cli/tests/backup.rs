//! `careslot backup` while a node serves, the data wiped, `careslot restore` into a fresh
//! node: every appointment reads back identical through the API, patients' names (sealed
//! under keys of the key store) included. On SQLite and on PostgreSQL.

mod common;

use common::{new_place, run, Node, Place};
use serde_json::Value;
use std::path::Path;

fn strings(args: &[&str], place: &Place) -> Vec<String> {
    let mut v: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    v.extend(place.args());
    v
}

/// Sorted by id, so two readings compare as wholes.
fn by_id(mut list: Vec<Value>) -> Vec<Value> {
    list.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
    list
}

async fn drop_database(url: &str) {
    use sqlx::Connection;
    let name = url.rsplit('/').next().expect("db name").to_owned();
    let admin = careslot_store_postgres::testing::admin_url();
    let mut conn = sqlx::PgConnection::connect(&admin).await.expect("admin");
    sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)"))
        .execute(&mut conn)
        .await
        .expect("drop database");
}

async fn backup_and_restore(postgres: bool) {
    let root = tempfile::tempdir().unwrap();
    let first = new_place(root.path(), "first", postgres).await;
    let node = Node::start(&first, &[]).await;

    let (doctor, agenda, motive) = node.practice("doctor@example.test").await;
    let starts = node.slots(&agenda, &motive).await;
    assert!(starts.len() >= 4, "slots: {starts:?}");
    let mut patients = Vec::new();
    for (i, name) in ["Amélie Poulain", "Jean Valjean", "Émile Zola"]
        .iter()
        .enumerate()
    {
        let email = format!("patient{i}@example.test");
        let (token, _) = node.account("patient", name, &email).await;
        let (s, appt) = node
            .post(
                "/api/v1/appointments",
                Some(&token),
                serde_json::json!({"agenda_id": agenda, "motive_id": motive, "start": starts[i]}),
            )
            .await;
        assert_eq!(s, 201, "{appt}");
        patients.push((email, token));
    }
    let before = node.agenda_appointments(&doctor, &agenda).await;
    let before = by_id(before["appointments"].as_array().unwrap().clone());
    assert_eq!(before.len(), 3, "{before:?}");
    let names: Vec<&str> = before
        .iter()
        .map(|a| a["patient"]["name"].as_str().unwrap_or(""))
        .collect();
    for n in ["Amélie Poulain", "Jean Valjean", "Émile Zola"] {
        assert!(names.contains(&n), "{names:?}");
    }
    let mut own_before = Vec::new();
    for (_, token) in &patients {
        let (s, body) = node.get("/api/v1/appointments", Some(token)).await;
        assert_eq!(s, 200, "{body}");
        own_before.push(by_id(body["appointments"].as_array().unwrap().clone()));
    }

    // Online: the node keeps serving while the backup runs.
    let out = root.path().join("backup");
    let (status, stdout, stderr) = run(&strings(
        &["backup", "--out", out.to_str().unwrap()],
        &first,
    ));
    assert!(status.success(), "backup failed: {stderr}");
    let manifest: Value = serde_json::from_str(&stdout).expect("manifest on stdout");
    assert_eq!(
        manifest["backend"],
        if postgres { "postgres" } else { "sqlite" }
    );
    assert_eq!(manifest["custody"]["key_store_included"], true);
    let apart = manifest["custody"]["save_apart"].to_string();
    assert!(apart.contains("master.key"), "{apart}");
    assert!(out.join("manifest.json").is_file());
    assert!(out.join("keys/keyd.db").is_file());
    assert!(
        !out.join("keys/master.key").exists(),
        "the master key stays apart"
    );
    // The key store in the backup is sealed: no patient name in clear anywhere in it.
    let keys = std::fs::read(out.join("keys/keyd.db")).unwrap();
    assert!(!keys.windows(6).any(|w| w == b"Valjea"));
    let (s, _) = node.get("/healthz", None).await;
    assert_eq!(s, 200, "still serving after the backup");

    // A second backup never overwrites the first.
    let (status, _, stderr) = run(&strings(
        &["backup", "--out", out.to_str().unwrap()],
        &first,
    ));
    assert!(!status.success());
    assert!(stderr.contains("not empty"), "{stderr}");

    // The operator saved the master key apart; then everything of the first node is lost.
    let saved_master = root.path().join("master.key.saved");
    std::fs::copy(first.keys_dir.join("master.key"), &saved_master).unwrap();
    drop(node);
    std::fs::remove_dir_all(root.path().join("first")).unwrap();
    if let Some(url) = &first.database_url {
        drop_database(url).await;
    }

    // A fresh node: restore refuses without the master key, then restores.
    let fresh = new_place(root.path(), "fresh", postgres).await;
    let restore = strings(&["restore", "--from", out.to_str().unwrap()], &fresh);
    let (status, _, stderr) = run(&restore);
    assert!(
        !status.success(),
        "restore without the master key must fail"
    );
    assert!(stderr.contains("master key"), "{stderr}");
    std::fs::create_dir_all(&fresh.keys_dir).unwrap();
    std::fs::copy(&saved_master, fresh.keys_dir.join("master.key")).unwrap();
    let (status, stdout, stderr) = run(&restore);
    assert!(status.success(), "restore failed: {stderr}");
    let report: Value = serde_json::from_str(stdout.trim()).expect("report");
    assert_eq!(report["keys_verified"], true, "{report}");

    // Restoring again over the restored data is refused, unless --force.
    let (status, _, stderr) = run(&restore);
    assert!(!status.success());
    assert!(stderr.contains("not empty"), "{stderr}");
    let mut forced = restore.clone();
    forced.push("--force".into());
    let (status, _, stderr) = run(&forced);
    assert!(status.success(), "forced restore failed: {stderr}");

    // The fresh node serves the same appointments, names decrypted with the restored keys.
    let node = Node::start(&fresh, &[]).await;
    let doctor = node.sign_in("doctor@example.test").await;
    let after = node.agenda_appointments(&doctor, &agenda).await;
    let after = by_id(after["appointments"].as_array().unwrap().clone());
    assert_eq!(after, before);
    for ((email, _), own) in patients.iter().zip(&own_before) {
        let token = node.sign_in(email).await;
        let (s, body) = node.get("/api/v1/appointments", Some(&token)).await;
        assert_eq!(s, 200, "{body}");
        assert_eq!(
            &by_id(body["appointments"].as_array().unwrap().clone()),
            own
        );
    }
    // And it still books: the restored database is a working one.
    let (s, appt) = node
        .post(
            "/api/v1/appointments",
            Some(&patients[0].1),
            serde_json::json!({"agenda_id": agenda, "motive_id": motive, "start": starts[3]}),
        )
        .await;
    assert_eq!(s, 201, "{appt}");
}

#[tokio::test]
async fn backup_and_restore_on_sqlite() {
    backup_and_restore(false).await;
}

#[tokio::test]
async fn backup_and_restore_on_postgres() {
    backup_and_restore(true).await;
}

#[test]
fn restore_of_a_damaged_backup_is_refused() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("b");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("database.sqlite"), b"not a database").unwrap();
    std::fs::write(
        dir.join("manifest.json"),
        serde_json::json!({
            "format": "careslot-backup/1", "careslot_version": "0", "created_at": "2026-01-01T00:00:00Z",
            "backend": "sqlite", "schema_version": 13,
            "files": [{"path": "database.sqlite", "sha256": "00", "bytes": 14}],
            "custody": {"kind": "embedded", "key_store_included": false, "save_apart": []}
        })
        .to_string(),
    )
    .unwrap();
    let place = Place {
        data_dir: root.path().join("data"),
        keys_dir: root.path().join("keys"),
        database_url: None,
    };
    let (status, _, stderr) = run(&strings(
        &["restore", "--from", dir.to_str().unwrap()],
        &place,
    ));
    assert!(!status.success());
    assert!(stderr.contains("SHA-256"), "{stderr}");
    assert!(!Path::new(&place.data_dir).join("careslot.db").exists());
}

/// On a key service's host: only its key store is backed up, and it is restored only with
/// the master key it is sealed under.
#[tokio::test]
async fn keys_only_backup_restores_with_its_master_key_only() {
    let root = tempfile::tempdir().unwrap();
    let place = new_place(root.path(), "keyd-host", false).await;
    drop(Node::start(&place, &[]).await); // creates the key store and the app's keys
    let out = root.path().join("keys-backup");
    let keys_dir = place.keys_dir.to_str().unwrap().to_owned();
    let (status, stdout, stderr) = run(&[
        "backup".into(),
        "--keys-only".into(),
        "--keys-dir".into(),
        keys_dir.clone(),
        "--out".into(),
        out.to_str().unwrap().into(),
    ]);
    assert!(status.success(), "{stderr}");
    let manifest: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(manifest["backend"], Value::Null);
    assert_eq!(manifest["files"].as_array().unwrap().len(), 1, "{manifest}");
    assert!(!out.join("database.sqlite").exists());

    let restore_to = |target: &Path, master: &Path| {
        run(&[
            "restore".into(),
            "--from".into(),
            out.to_str().unwrap().into(),
            "--keys-dir".into(),
            target.to_str().unwrap().into(),
            "--master-key-file".into(),
            master.to_str().unwrap().into(),
        ])
    };
    // Another master key: refused.
    let wrong = root.path().join("other.key");
    std::fs::write(&wrong, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n").unwrap();
    let (status, _, stderr) = restore_to(&root.path().join("k1"), &wrong);
    assert!(!status.success());
    assert!(stderr.contains("does not open"), "{stderr}");
    // Its own: restored.
    let (status, stdout, stderr) =
        restore_to(&root.path().join("k2"), &place.keys_dir.join("master.key"));
    assert!(status.success(), "{stderr}");
    let report: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(report["key_store"], true, "{report}");
    assert_eq!(report["database"], Value::Null, "{report}");
}

/// Without PostgreSQL's client tools, backup says what to install.
#[tokio::test]
async fn missing_pg_dump_is_named() {
    let root = tempfile::tempdir().unwrap();
    let place = new_place(root.path(), "no-tools", true).await;
    let mut args = vec!["backup".to_owned(), "--out".to_owned()];
    args.push(root.path().join("b").display().to_string());
    args.extend(place.args());
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_careslot"))
        .args(&args)
        .env_remove("DATABASE_URL")
        .env("PATH", root.path().join("empty-path"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("pg_dump was not found") && stderr.contains("postgresql-client"),
        "{stderr}"
    );
    assert!(
        !root.path().join("b/manifest.json").exists(),
        "no manifest: unfinished"
    );
}
