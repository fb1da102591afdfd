//! `careslot import practitioners FILE` with the real binary, on SQLite: a national directory
//! CSV verifies the pending declarations it lists under the same name, and only those;
//! malformed rows are counted, not fatal; a second run verifies nothing more.

use careslot_core::protection::Protector;
use careslot_domain::*;
use careslot_server::services::{App, AppConfig};
use careslot_store::{Practitioner, Role, Store};
use careslot_store_sqlite::SqliteStore;
use careslot_vault::{KeyEngine, LocalCustody, MasterKey};
use serde_json::Value;
use std::path::Path;
use std::process::Command;
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

/// A practitioner named `name` who declared `id` (when given).
async fn practitioner(app: &App, name: &str, id: Option<&ProfessionalId>) -> PractitionerId {
    let email = format!(
        "{}@example.test",
        name.to_lowercase()
            .replace(|c: char| !c.is_ascii_alphanumeric(), ".")
    );
    let account = app
        .create_identity(
            Role::Practitioner,
            email,
            name.into(),
            None,
            None,
            "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQ$aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa".into(),
        )
        .await
        .expect("account");
    let p = app
        .store
        .upsert_practitioner(&Practitioner {
            id: PractitionerId::new(),
            account_id: account.id.clone(),
            name: name.into(),
            specialty: Specialty::GeneralPractitioner,
            languages: vec![],
            bio: None,
        })
        .await
        .expect("practitioner");
    if let Some(id) = id {
        app.store
            .declare_credential(&p.id, id, jiff::Timestamp::now())
            .await
            .expect("declare");
    }
    p.id
}

fn run_import(data: &Path, keys: &Path, file: &Path) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_careslot"))
        .args(["import", "practitioners", "--data-dir"])
        .arg(data)
        .arg("--keys-dir")
        .arg(keys)
        .arg(file)
        .env_remove("DATABASE_URL")
        .env("CARESLOT_LOG", "warn")
        .output()
        .expect("run careslot import practitioners");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stderr.contains("practitioners verified"), "{stderr}");
    serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("stdout is not one JSON report ({e}):\n{stdout}\n{stderr}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_directory_file_verifies_matching_declarations_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (data, keys) = (dir.path().join("data"), dir.path().join("keys"));
    std::fs::create_dir_all(&data).unwrap();
    std::fs::create_dir_all(&keys).unwrap();
    let app = open_app(&data, &keys).await;
    let (r1, r2) = (
        ProfessionalId::rpps_from(1_055_000_001),
        ProfessionalId::rpps_from(1_055_000_002),
    );
    let lanr = ProfessionalId::parse(IdScheme::Lanr, "123456601").unwrap();
    let matching = practitioner(&app, "Dr Hélène Fichier", Some(&r1)).await;
    let renamed = practitioner(&app, "Dr Paul Autrenom", Some(&r2)).await;
    let german = practitioner(&app, "Dr Klaus Datei", Some(&lanr)).await;
    let silent = practitioner(&app, "Dr Sans Numéro", None).await;

    let csv = dir.path().join("annuaire.csv");
    std::fs::write(
        &csv,
        format!(
            "identifier,scheme,name,profession,extra\n\
             {r1},rpps,\"FICHIER, Hélène\",Médecin,x\n\
             {r2},rpps,Pierre Autrenom,Médecin,x\n\
             123 456 601,LANR,Dr. med. Klaus Datei,Arzt,x\n\
             10001766674,rpps,Clé Fausse,Médecin,x\n\
             {},rpps,Personne Inconnue,Médecin,x\n",
            ProfessionalId::rpps_from(1_055_000_009).value(),
            r1 = r1.value(),
            r2 = r2.value(),
        ),
    )
    .unwrap();

    let report = run_import(&data, &keys, &csv);
    assert_eq!(report["rows"], 5, "{report}");
    assert_eq!(report["invalid"], 1, "{report}");
    assert_eq!(report["verified"], 2, "{report}");
    assert_eq!(report["name_mismatch"], 1, "{report}");
    assert_eq!(report["not_declared"], 1, "{report}");

    let status = |p: PractitionerId| {
        let store = app.store.clone();
        async move { store.credential(&p).await.unwrap().status }
    };
    assert_eq!(status(matching.clone()).await, CredentialStatus::Verified);
    assert_eq!(status(german).await, CredentialStatus::Verified);
    assert_eq!(status(renamed).await, CredentialStatus::Pending);
    assert_eq!(status(silent).await, CredentialStatus::Unverified);
    let history = app.store.credential_events(&matching).await.unwrap();
    assert_eq!(history.last().unwrap().actor, "import:annuaire.csv");

    let again = run_import(&data, &keys, &csv);
    assert_eq!(again["verified"], 0, "{again}");
    assert_eq!(again["already_verified"], 2, "{again}");
}
