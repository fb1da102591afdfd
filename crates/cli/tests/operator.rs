//! `careslot operator add|list` with the real binary, on SQLite: the account is created with
//! its roles and a one-time set-password link (under `--public-url`); the link sets the
//! password, after which the account signs in as an operator; the list shows it; a bad
//! role is refused without creating anything; the invitation mail is queued; the action
//! log names the CLI.

use careslot_core::protection::Protector;
use careslot_domain::AccountId;
use careslot_server::services::{App, AppConfig};
use careslot_store::{Permission, Role, Store};
use careslot_store_sqlite::SqliteStore;
use careslot_vault::{KeyEngine, LocalCustody, MasterKey};
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;

async fn open_app(data: &Path, keys: &Path) -> App {
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open_dir(data).await.expect("sqlite"));
    let master = MasterKey::load_or_create(&keys.join("master.key")).expect("master key");
    let engine = KeyEngine::open(keys, master).await.expect("key engine");
    let custody = Arc::new(LocalCustody::new(Arc::new(engine)));
    let protect = Protector::bootstrap(&*store, custody, 16)
        .await
        .expect("keys");
    App::new(store, Arc::new(protect), AppConfig::default())
        .await
        .expect("app")
}

fn careslot(data: &Path, keys: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_careslot"))
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .arg("--keys-dir")
        .arg(keys)
        .env_remove("DATABASE_URL")
        .env_remove("CARESLOT_PUBLIC_URL")
        .env("CARESLOT_LOG", "warn")
        .output()
        .expect("run careslot")
}

fn json_lines(out: &Output) -> Vec<Value> {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stdout}\n{stderr}");
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_add_prints_a_set_password_link_and_list_shows_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (data, keys) = (dir.path().join("data"), dir.path().join("keys"));
    std::fs::create_dir_all(&data).unwrap();
    std::fs::create_dir_all(&keys).unwrap();

    // A bad role: refused, nothing created.
    let bad = careslot(
        &data,
        &keys,
        &[
            "operator",
            "add",
            "--email",
            "ops@authority.test",
            "--name",
            "Odile Ops",
            "--role",
            "admin",
        ],
    );
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("role"));

    let out = careslot(
        &data,
        &keys,
        &[
            "operator",
            "add",
            "--email",
            "Ops@Authority.test",
            "--name",
            "Odile Ops",
            "--role",
            "verification",
            "--role",
            "campaign",
            "--public-url",
            "https://careslot.example",
        ],
    );
    let created = json_lines(&out).remove(0);
    assert_eq!(created["email"], "ops@authority.test", "{created}");
    assert_eq!(
        created["roles"],
        serde_json::json!(["campaign", "verification"])
    );
    let link = created["set_password_link"].as_str().expect("link");
    assert!(
        link.starts_with("https://careslot.example/password-reset?token="),
        "{link}"
    );
    let id = AccountId(created["id"].as_str().expect("id").to_owned());

    let listed = json_lines(&careslot(&data, &keys, &["operator", "list"]));
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["id"], id.as_str());
    assert_eq!(listed[0]["name"], "Odile Ops");
    assert_eq!(listed[0]["created_by"], "cli");
    assert!(listed[0]["disabled_at"].is_null());

    // The link sets the password once; then the account signs in as an operator.
    let app = open_app(&data, &keys).await;
    // The invitation mail waits in the outbox (sealed) for the next `serve` to deliver.
    let queued = app.store.outbox_of(&id).await.unwrap();
    assert_eq!(queued.len(), 1);
    assert!(queued[0].dedupe_key.starts_with("operator-invitation:"));
    let token = link.split("token=").nth(1).expect("token");
    app.accounts
        .confirm_password_reset(token, "lantern-orchard-31-quietly")
        .await
        .expect("set password");
    assert!(app
        .accounts
        .confirm_password_reset(token, "lantern-orchard-31-again")
        .await
        .is_err());
    let (_, identity) = app
        .accounts
        .login(
            "ops@authority.test",
            "lantern-orchard-31-quietly",
            "127.0.0.1".parse().unwrap(),
        )
        .await
        .expect("sign in");
    assert_eq!(
        (identity.id.clone(), identity.role),
        (id.clone(), Role::Operator)
    );
    let record = app
        .store
        .operator(&id)
        .await
        .unwrap()
        .expect("operator row");
    assert_eq!(
        record.roles,
        vec![Permission::Campaign, Permission::Verification]
    );
    let log = app.store.operator_actions(10).await.unwrap();
    assert_eq!(
        (
            log[0].actor.as_str(),
            log[0].action.as_str(),
            log[0].target.as_deref()
        ),
        ("cli", "operators.create", Some(id.as_str()))
    );
    let session = app.open_session(&id).await.expect("session");
    assert!(app.accounts.authenticate(&session).await.is_ok());
    drop(app);

    // `operator disable` by email: the session ends, the password no longer signs in, and
    // the list and the action log say so.
    let out = careslot(&data, &keys, &["operator", "disable", "OPS@authority.test"]);
    let disabled = json_lines(&out);
    assert_eq!(disabled.len(), 1, "{disabled:?}");
    assert_eq!(disabled[0]["id"], id.as_str());
    assert!(disabled[0]["disabled_at"].is_string(), "{disabled:?}");
    let app = open_app(&data, &keys).await;
    assert!(
        app.accounts.authenticate(&session).await.is_err(),
        "session ended"
    );
    assert!(app
        .accounts
        .login(
            "ops@authority.test",
            "lantern-orchard-31-quietly",
            "127.0.0.1".parse().unwrap(),
        )
        .await
        .is_err());
    let log = app.store.operator_actions(10).await.unwrap();
    assert_eq!(
        (log[0].action.as_str(), log[0].target.as_deref()),
        ("operators.disable", Some(id.as_str()))
    );
    drop(app);

    // An unknown account: a clear refusal and a failing exit status.
    let out = careslot(
        &data,
        &keys,
        &["operator", "disable", "nobody@authority.test"],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no operator account"));
}
