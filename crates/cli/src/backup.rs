//! `careslot backup` and `careslot restore`: the database and, when the key custody is the
//! embedded one, its key store — with a manifest that says what the backup does NOT hold and
//! must be saved apart (the master key; the key service's own directory when it runs
//! elsewhere). Without the keys, every sealed field of the database (names, contacts, motives,
//! documents) is unreadable: a database backup alone restores appointments without patients.
//!
//! A backup is a directory:
//! - `database.sqlite` (SQLite: `VACUUM INTO`, online) or `database.pgdump` (PostgreSQL:
//!   `pg_dump --format=custom`, online);
//! - `keys/keyd.db`, the embedded key service's keys, still sealed under the master key
//!   (only with the embedded custody, or with `--keys-only` on keyd's host);
//! - `manifest.json`, written last (a directory without it is an unfinished backup): what is
//!   inside with SHA-256 sums, the schema version, and what to keep apart.

use crate::{open_custody, open_store, DbArgs, KeyArgs};
use anyhow::Context;
use careslot_core::protection::Protector;
use careslot_store_postgres::backup as pg;
use careslot_store_sqlite::backup as lite;
use clap::Args;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::{Path, PathBuf};

/// The manifest's format name; restore refuses any other.
const FORMAT: &str = "careslot-backup/1";
const MANIFEST: &str = "manifest.json";
const SQLITE_FILE: &str = "database.sqlite";
const PG_FILE: &str = "database.pgdump";
const KEYS_FILE: &str = "keys/keyd.db";
/// The application database inside `--data-dir`, and the key store inside `--keys-dir`.
const DB_IN_DATA_DIR: &str = "careslot.db";
const MASTER_KEY_FILE: &str = "master.key";

#[derive(Args)]
pub struct BackupArgs {
    #[command(flatten)]
    db: DbArgs,
    #[command(flatten)]
    keys: KeyArgs,
    /// Directory to write the backup into (created; must not exist or be empty).
    #[arg(long)]
    out: PathBuf,
    /// Back up only a key store: on the key service's host, with --keys-dir set to keyd's
    /// --data-dir.
    #[arg(long)]
    keys_only: bool,
}

#[derive(Args)]
pub struct RestoreArgs {
    #[command(flatten)]
    db: DbArgs,
    #[command(flatten)]
    keys: KeyArgs,
    /// The backup directory (as written by `careslot backup --out`).
    #[arg(long)]
    from: PathBuf,
    /// Replace a database or key store that already holds data.
    #[arg(long)]
    force: bool,
    /// The master key the backed-up key store is sealed under [default: <keys-dir>/master.key].
    #[arg(long)]
    master_key_file: Option<PathBuf>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Manifest {
    format: String,
    careslot_version: String,
    created_at: String,
    /// `sqlite` or `postgres`; absent for a keys-only backup.
    backend: Option<String>,
    schema_version: Option<i64>,
    /// Every file of the backup (relative path) with its SHA-256.
    files: Vec<FileSum>,
    custody: Custody,
}

#[derive(Debug, Serialize, Deserialize)]
struct FileSum {
    path: String,
    sha256: String,
    bytes: u64,
}

#[derive(Debug, Serialize, Deserialize)]
struct Custody {
    /// `embedded` (keys in --keys-dir of this machine) or `keyd` (a key service elsewhere).
    kind: String,
    /// Whether `keys/keyd.db` is in this backup.
    key_store_included: bool,
    /// What this backup does not hold and must be saved apart, or the data stays sealed.
    save_apart: Vec<String>,
}

fn sha256_of(path: &Path) -> anyhow::Result<(String, u64)> {
    let mut file =
        std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut total = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        total += n as u64;
        hasher.update(&buf[..n]);
    }
    Ok((hex::encode(hasher.finalize()), total))
}

/// Creates `dir` (and its parents) readable by its owner only, as keyd does.
fn private_dir(dir: &Path) -> anyhow::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt as _;
        builder.mode(0o700);
    }
    builder
        .create(dir)
        .with_context(|| format!("cannot create {}", dir.display()))
}

/// Backup files hold sealed personal data and the sealed keys: owner only.
fn owner_only(path: &Path) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("cannot restrict {}", path.display()))?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

fn prepare_out(out: &Path) -> anyhow::Result<()> {
    if out.exists() {
        let mut entries = std::fs::read_dir(out)
            .with_context(|| format!("{} exists and is not a readable directory", out.display()))?;
        anyhow::ensure!(
            entries.next().is_none(),
            "{} is not empty: give a new directory for the backup",
            out.display()
        );
    }
    private_dir(&out.join("keys"))
}

/// `careslot backup`: online; the server may keep running.
pub async fn backup(args: &BackupArgs) -> anyhow::Result<()> {
    prepare_out(&args.out)?;
    let mut files = Vec::new();
    let (mut backend, mut schema_version) = (None, None);
    if !args.keys_only {
        match &args.db.database_url {
            Some(url) => {
                pg::dump(url, &args.out.join(PG_FILE)).await?;
                schema_version = Some(pg::schema_version(url).await?);
                backend = Some("postgres");
                files.push(PG_FILE);
            }
            None => {
                let db = args.db.data_dir.join(DB_IN_DATA_DIR);
                lite::backup_file(&db, &args.out.join(SQLITE_FILE)).await?;
                schema_version = Some(lite::schema_version(&db).await?);
                backend = Some("sqlite");
                files.push(SQLITE_FILE);
            }
        }
    }
    let keys_db = args.keys.keys_dir.join(careslot_vault::keyd::DB_FILE);
    let local = args.keys.keyd_url.is_none() || args.keys_only;
    let mut save_apart = Vec::new();
    if local {
        anyhow::ensure!(
            keys_db.is_file(),
            "no key store at {} (give --keys-dir: the embedded key service's directory, or \
             keyd's --data-dir with --keys-only)",
            keys_db.display()
        );
        lite::backup_file(&keys_db, &args.out.join(KEYS_FILE)).await?;
        files.push(KEYS_FILE);
        save_apart.push(format!(
            "the master key that seals keys/keyd.db ({} for the embedded service, or keyd's \
             --master-key-file / CARESLOT_KEYD_MASTER_KEY): keep it apart from this backup \
             (offline, another site); without it nothing in this backup can be decrypted",
            args.keys.keys_dir.join(MASTER_KEY_FILE).display()
        ));
    } else {
        save_apart.push(format!(
            "the key service at {} holds the keys: back up its data directory on its host \
             (`careslot backup --keys-only --keys-dir <keyd --data-dir> --out ...`) and its \
             master key apart; without them the sealed data in this backup is unreadable",
            args.keys.keyd_url.as_deref().unwrap_or_default()
        ));
    }
    let mut sums = Vec::new();
    for f in files {
        owner_only(&args.out.join(f))?;
        let (sha256, bytes) = sha256_of(&args.out.join(f))?;
        sums.push(FileSum {
            path: f.to_owned(),
            sha256,
            bytes,
        });
    }
    let manifest = Manifest {
        format: FORMAT.into(),
        careslot_version: env!("CARGO_PKG_VERSION").into(),
        created_at: jiff::Timestamp::now().to_string(),
        backend: backend.map(str::to_owned),
        schema_version,
        files: sums,
        custody: Custody {
            kind: if args.keys.keyd_url.is_none() {
                "embedded"
            } else {
                "keyd"
            }
            .into(),
            key_store_included: local,
            save_apart,
        },
    };
    // Written last, then synced: a backup directory without a manifest is unfinished.
    let path = args.out.join(MANIFEST);
    std::fs::write(&path, serde_json::to_vec_pretty(&manifest)?)
        .with_context(|| format!("cannot write {}", path.display()))?;
    owner_only(&path)?;
    std::fs::File::open(&path).and_then(|f| f.sync_all())?;
    println!("{}", serde_json::to_string_pretty(&manifest)?);
    for what in &manifest.custody.save_apart {
        eprintln!("NOT in this backup — save apart: {what}");
    }
    Ok(())
}

fn read_manifest(from: &Path) -> anyhow::Result<Manifest> {
    let path = from.join(MANIFEST);
    let text = std::fs::read(&path).with_context(|| {
        format!(
            "no {} (an unfinished backup, or not a careslot backup)",
            path.display()
        )
    })?;
    let manifest: Manifest = serde_json::from_slice(&text)
        .with_context(|| format!("{} is not a careslot manifest", path.display()))?;
    anyhow::ensure!(
        manifest.format == FORMAT,
        "{} is a backup of format {:?}; this careslot reads {FORMAT:?}",
        from.display(),
        manifest.format
    );
    for f in &manifest.files {
        let (sha256, _) = sha256_of(&from.join(&f.path))?;
        anyhow::ensure!(
            sha256 == f.sha256,
            "{} does not match the manifest's SHA-256: the backup is damaged",
            f.path
        );
    }
    Ok(manifest)
}

fn has(manifest: &Manifest, file: &str) -> bool {
    manifest.files.iter().any(|f| f.path == file)
}

/// What `careslot restore` did, printed as JSON.
#[derive(Serialize)]
struct Restored {
    database: Option<String>,
    key_store: bool,
    /// The application keys were unwrapped by the custody: the sealed data is readable.
    keys_verified: bool,
}

/// `careslot restore`: every node using the target database (and the embedded key store)
/// must be stopped. Refuses to replace data unless `--force`; checks everything it can
/// before writing anything, and afterwards that the restored keys open the restored data.
pub async fn restore(args: &RestoreArgs) -> anyhow::Result<()> {
    let m = read_manifest(&args.from)?;
    let keys_db = args.keys.keys_dir.join(careslot_vault::keyd::DB_FILE);
    let master_file = args
        .master_key_file
        .clone()
        .unwrap_or_else(|| args.keys.keys_dir.join(MASTER_KEY_FILE));
    let restore_keys = has(&m, KEYS_FILE) && (args.keys.keyd_url.is_none() || m.backend.is_none());

    // Checks first: backend, emptiness of both targets, the master key.
    let target_backend = if args.db.database_url.is_some() {
        "postgres"
    } else {
        "sqlite"
    };
    if let Some(b) = &m.backend {
        anyhow::ensure!(
            b == target_backend,
            "this is a {b} backup and the target is {target_backend}: restore it into the same \
             kind of database"
        );
        let empty = match &args.db.database_url {
            Some(url) => pg::is_empty(url).await?,
            None => lite::is_empty(&args.db.data_dir.join(DB_IN_DATA_DIR)).await?,
        };
        anyhow::ensure!(
            empty || args.force,
            "the target database is not empty: refusing to overwrite it (give --force to \
             replace its contents)"
        );
    }
    if restore_keys {
        anyhow::ensure!(
            lite::is_empty(&keys_db).await? || args.force,
            "the key store {} is not empty: refusing to overwrite it (give --force)",
            keys_db.display()
        );
        anyhow::ensure!(
            master_file.is_file(),
            "the master key is not at {}: put the master key you saved apart there (or give \
             --master-key-file) before restoring",
            master_file.display()
        );
    }

    // The key store is opened with the master key in a staging directory first: a wrong
    // master key is found before anything of the target is touched.
    let staging = if restore_keys {
        private_dir(&args.keys.keys_dir)?;
        let staging = tempfile::Builder::new()
            .prefix(".restoring-")
            .tempdir_in(&args.keys.keys_dir)
            .context("cannot create a staging directory in --keys-dir")?;
        lite::restore_file(
            &args.from.join(KEYS_FILE),
            &staging.path().join(careslot_vault::keyd::DB_FILE),
            true,
        )
        .await?;
        let master = careslot_vault::MasterKey::load_or_create(&master_file)
            .map_err(|e| anyhow::anyhow!("master key: {e}"))?;
        let engine = careslot_vault::KeyEngine::open(staging.path(), master)
            .await
            .map_err(|e| {
                anyhow::anyhow!(
                    "the key store of this backup does not open with the master key {}: {e}",
                    master_file.display()
                )
            })?;
        engine.close().await;
        Some(staging)
    } else {
        None
    };

    // Then the writes (forced: the emptiness was decided above).
    if let Some(staging) = &staging {
        lite::restore_file(
            &staging.path().join(careslot_vault::keyd::DB_FILE),
            &keys_db,
            true,
        )
        .await?;
    }
    drop(staging);
    let database = match (&m.backend, &args.db.database_url) {
        (None, _) => None,
        (Some(_), Some(url)) => {
            pg::restore(&args.from.join(PG_FILE), url, true).await?;
            Some("postgres".to_owned())
        }
        (Some(_), None) => {
            lite::restore_file(
                &args.from.join(SQLITE_FILE),
                &args.db.data_dir.join(DB_IN_DATA_DIR),
                true,
            )
            .await?;
            Some("sqlite".to_owned())
        }
    };

    // Finally the proof: the restored database opens (and is migrated to this version) and
    // its application keys unwrap with the custody, so sealed fields are readable again.
    let mut keys_verified = false;
    if database.is_some() {
        let store = open_store(&args.db).await?;
        let keys = &args.keys;
        if keys.keyd_url.is_none() {
            anyhow::ensure!(
                keys.keys_dir.join(MASTER_KEY_FILE).is_file(),
                "the database is restored, but the embedded key service has no master key in \
                 {}: put it back before serving",
                keys.keys_dir.display()
            );
        }
        let custody = open_custody(keys).await?;
        Protector::bootstrap(&*store, custody, keys.blind_index_bits)
            .await
            .map_err(|e| {
                anyhow::anyhow!(
                    "the database is restored but its application keys do not unwrap with this \
                     key custody ({e}): restore the key store and master key of the same backup"
                )
            })?;
        keys_verified = true;
    }
    let report = Restored {
        database,
        key_store: restore_keys,
        keys_verified,
    };
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}
