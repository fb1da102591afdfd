//! The key engine: named keys with versions, in keyd's own SQLite file, with transit
//! semantics.
//!
//! Storage: every key version's 32 bytes are sealed (XChaCha20-Poly1305) under the master
//! key with AAD = `"careslot-keyd/material/v1" || len(name) || name || version`, so a sealed
//! version cannot be moved to another name or version. The file never holds material in the
//! clear. `PRAGMA secure_delete = ON` overwrites deleted rows, and a WAL checkpoint
//! (TRUNCATE) after every destruction empties the write-ahead log, so a trimmed or deleted
//! version's sealed bytes do not linger in the files either. (Copies already taken — backups,
//! SSD remapped blocks — are out of reach of any software: that is what the master key
//! separation is for.)

use crate::crypto::{hmac_sha256, open_raw, push_length_prefixed, seal_raw};
use crate::custody::{parse_wrapped_prefix, validate_key_name, KeyInfo};
use crate::secret::{load_or_create_secret_file, Secret32, KEY_LEN};
use crate::{DataKey, VaultError};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{SqliteConnection, SqlitePool};
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use zeroize::{Zeroize, Zeroizing};

/// File name of keyd's database inside its data directory.
pub const DB_FILE: &str = "keyd.db";

const MATERIAL_AAD: &[u8] = b"careslot-keyd/material/v1";
const WRAP_AAD: &[u8] = b"careslot-keyd/transit/v1";
const HMAC_KEY_LABEL: &[u8] = b"careslot-keyd/hmac-key/v1";
const CHECK_AAD: &[u8] = b"careslot-keyd/master-check/v1";
const CHECK_PLAINTEXT: &[u8] = b"this data directory belongs to this master key";

/// The 32-byte root of keyd: it seals every key version at rest. Give it to keyd at start
/// (from a file, an environment variable, a TPM/KMS-unsealed secret); keep it away from the
/// data directory and from the application database host.
pub struct MasterKey(Secret32);

impl MasterKey {
    pub fn generate() -> Self {
        MasterKey(Secret32::random())
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, VaultError> {
        Secret32::from_slice(bytes)
            .map(MasterKey)
            .ok_or_else(|| VaultError::Invalid(format!("a master key is {KEY_LEN} bytes")))
    }

    /// Standard base64 of exactly 32 bytes (surrounding whitespace ignored).
    pub fn from_base64(text: &str) -> Result<Self, VaultError> {
        Secret32::from_base64(text).map(MasterKey).ok_or_else(|| {
            VaultError::Invalid(format!(
                "a master key is {KEY_LEN} bytes in standard base64"
            ))
        })
    }

    /// Base64 form, to back the key up. Handle with care: it is the key.
    pub fn to_base64(&self) -> Zeroizing<String> {
        self.0.to_base64()
    }

    /// Reads the base64 master key in `path`, or creates a random one there (mode 0600) if
    /// the file does not exist. Used by the embedded default setup; put the file outside
    /// keyd's data directory and outside the application's.
    pub fn load_or_create(path: &Path) -> Result<Self, VaultError> {
        let text =
            load_or_create_secret_file(path, "master key", || MasterKey::generate().to_base64())?;
        MasterKey::from_base64(&text)
    }

    fn bytes(&self) -> &[u8; KEY_LEN] {
        self.0.bytes()
    }

    #[cfg(test)]
    pub(crate) fn bytes_for_tests(&self) -> &[u8; KEY_LEN] {
        self.0.bytes()
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(**redacted**)")
    }
}

/// Changes for [`KeyEngine::configure`] (`POST /keys/{name}/config`); `None` leaves a
/// setting as it is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KeyConfig {
    pub min_decryption_version: Option<u32>,
    pub min_encryption_version: Option<u32>,
    pub deletion_allowed: Option<bool>,
}

/// Named keys with versions, sealed under the master key in keyd's own SQLite file.
pub struct KeyEngine {
    /// One connection: every write is serialised, so read-modify-write transactions never
    /// race.
    writer: SqlitePool,
    reader: SqlitePool,
    master: MasterKey,
}

impl fmt::Debug for KeyEngine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyEngine")
            .field("master", &self.master)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Copy)]
struct Meta {
    latest: u32,
    min_dec: u32,
    min_enc: u32,
    min_avail: u32,
    deletion_allowed: bool,
}

/// The versions of one key loaded during one request, unsealed lazily.
struct Ring<'e> {
    engine: &'e KeyEngine,
    name: &'e str,
    meta: Meta,
    versions: HashMap<u32, Option<Secret32>>,
}

impl<'e> Ring<'e> {
    /// The material of `version`, or `None` when it does not exist (trimmed). Errors are
    /// storage failures, which fail the whole request.
    async fn version(&mut self, version: u32) -> Result<Option<&Secret32>, VaultError> {
        if !self.versions.contains_key(&version) {
            let material = self
                .engine
                .load_material(&self.engine.reader, self.name, version)
                .await?;
            self.versions.insert(version, material);
        }
        Ok(self.versions.get(&version).and_then(Option::as_ref))
    }

    async fn latest(&mut self) -> Result<(u32, Secret32), VaultError> {
        let latest = self.meta.latest;
        match self.version(latest).await? {
            Some(material) => Ok((latest, material.clone())),
            None => Err(VaultError::Internal(format!(
                "key {} has no material for its latest version",
                self.name
            ))),
        }
    }

    /// Opens one wrapped value; every problem with the value itself is `Decrypt`.
    async fn decrypt(
        &mut self,
        wrapped: &str,
    ) -> Result<Result<Zeroizing<Vec<u8>>, VaultError>, VaultError> {
        let Some((version, payload)) = parse_wrapped_prefix(wrapped) else {
            return Ok(Err(VaultError::Decrypt));
        };
        let Ok(sealed) = STANDARD.decode(payload.as_bytes()) else {
            return Ok(Err(VaultError::Decrypt));
        };
        if version < self.meta.min_dec
            || version < self.meta.min_avail
            || version > self.meta.latest
        {
            return Ok(Err(VaultError::Decrypt));
        }
        let name = self.name;
        let Some(material) = self.version(version).await? else {
            return Ok(Err(VaultError::Decrypt));
        };
        Ok(open_raw(material.bytes(), &sealed, &wrap_aad(name, version)).map(Zeroizing::new))
    }
}

fn material_aad(name: &str, version: u32) -> Vec<u8> {
    let mut aad = MATERIAL_AAD.to_vec();
    push_length_prefixed(&mut aad, name.as_bytes());
    aad.extend_from_slice(&version.to_be_bytes());
    aad
}

fn wrap_aad(name: &str, version: u32) -> Vec<u8> {
    let mut aad = WRAP_AAD.to_vec();
    push_length_prefixed(&mut aad, name.as_bytes());
    aad.extend_from_slice(&version.to_be_bytes());
    aad
}

fn wrap(material: &Secret32, name: &str, version: u32, plaintext: &[u8]) -> String {
    let sealed = seal_raw(material.bytes(), plaintext, &wrap_aad(name, version));
    format!("vault:v{version}:{}", STANDARD.encode(sealed))
}

fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn db_err(e: sqlx::Error) -> VaultError {
    match e {
        sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed => {
            VaultError::Unavailable(format!("keyd storage: {e}"))
        }
        other => VaultError::Internal(format!("keyd storage: {other}")),
    }
}

fn to_u32(v: i64) -> Result<u32, VaultError> {
    u32::try_from(v).map_err(|_| VaultError::Internal("corrupt key metadata".into()))
}

const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS meta (
        k TEXT PRIMARY KEY,
        v BLOB NOT NULL
    ) STRICT",
    "CREATE TABLE IF NOT EXISTS keys (
        name TEXT PRIMARY KEY,
        latest_version INTEGER NOT NULL CHECK (latest_version >= 1),
        min_decryption_version INTEGER NOT NULL CHECK (min_decryption_version >= 1),
        min_encryption_version INTEGER NOT NULL CHECK (min_encryption_version >= 0),
        min_available_version INTEGER NOT NULL CHECK (min_available_version >= 0),
        deletion_allowed INTEGER NOT NULL CHECK (deletion_allowed IN (0, 1)),
        created_at INTEGER NOT NULL
    ) STRICT",
    "CREATE TABLE IF NOT EXISTS key_versions (
        name TEXT NOT NULL REFERENCES keys(name) ON DELETE CASCADE,
        version INTEGER NOT NULL CHECK (version >= 1),
        created_at INTEGER NOT NULL,
        sealed BLOB NOT NULL,
        PRIMARY KEY (name, version)
    ) STRICT",
];

impl KeyEngine {
    /// Opens (creating if needed, mode 0700) keyd's data directory and its database.
    ///
    /// A new directory is bound to `master`; opening it later with another master key fails
    /// with [`VaultError::Denied`] instead of producing keys that cannot open anything.
    pub async fn open(dir: &Path, master: MasterKey) -> Result<Self, VaultError> {
        create_private_dir(dir)?;
        let options = SqliteConnectOptions::new()
            .filename(dir.join(DB_FILE))
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5))
            .pragma("secure_delete", "ON");
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await
            .map_err(db_err)?;
        {
            let mut tx = writer.begin_with("BEGIN IMMEDIATE").await.map_err(db_err)?;
            for statement in SCHEMA {
                sqlx::query(statement)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
            }
            let check: Option<(Vec<u8>,)> =
                sqlx::query_as("SELECT v FROM meta WHERE k = 'master_check'")
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(db_err)?;
            match check {
                Some((sealed,)) => {
                    let opened = open_raw(master.bytes(), &sealed, CHECK_AAD);
                    if opened.as_deref() != Ok(CHECK_PLAINTEXT) {
                        return Err(VaultError::Denied);
                    }
                }
                None => {
                    let sealed = seal_raw(master.bytes(), CHECK_PLAINTEXT, CHECK_AAD);
                    sqlx::query("INSERT INTO meta (k, v) VALUES ('master_check', ?1)")
                        .bind(sealed)
                        .execute(&mut *tx)
                        .await
                        .map_err(db_err)?;
                }
            }
            tx.commit().await.map_err(db_err)?;
        }
        let reader = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options.read_only(true))
            .await
            .map_err(db_err)?;
        Ok(KeyEngine {
            writer,
            reader,
            master,
        })
    }

    /// Closes the database pools (waits for running statements).
    pub async fn close(&self) {
        self.reader.close().await;
        self.writer.close().await;
    }

    async fn load_material(
        &self,
        pool: &SqlitePool,
        name: &str,
        version: u32,
    ) -> Result<Option<Secret32>, VaultError> {
        let row: Option<(Vec<u8>,)> =
            sqlx::query_as("SELECT sealed FROM key_versions WHERE name = ?1 AND version = ?2")
                .bind(name)
                .bind(i64::from(version))
                .fetch_optional(pool)
                .await
                .map_err(db_err)?;
        let Some((sealed,)) = row else {
            return Ok(None);
        };
        let plain = Zeroizing::new(
            open_raw(self.master.bytes(), &sealed, &material_aad(name, version)).map_err(|_| {
                VaultError::Internal(format!(
                    "stored material of {name} v{version} does not open"
                ))
            })?,
        );
        Secret32::from_slice(&plain)
            .map(Some)
            .ok_or_else(|| VaultError::Internal("stored key material has the wrong size".into()))
    }

    async fn meta(conn: &mut SqliteConnection, name: &str) -> Result<Meta, VaultError> {
        let row: Option<(i64, i64, i64, i64, i64)> = sqlx::query_as(
            "SELECT latest_version, min_decryption_version, min_encryption_version,
                    min_available_version, deletion_allowed
             FROM keys WHERE name = ?1",
        )
        .bind(name)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_err)?;
        let (latest, min_dec, min_enc, min_avail, deletion_allowed) =
            row.ok_or(VaultError::NotFound)?;
        Ok(Meta {
            latest: to_u32(latest)?,
            min_dec: to_u32(min_dec)?,
            min_enc: to_u32(min_enc)?,
            min_avail: to_u32(min_avail)?,
            deletion_allowed: deletion_allowed != 0,
        })
    }

    async fn info(conn: &mut SqliteConnection, name: &str) -> Result<KeyInfo, VaultError> {
        let meta = Self::meta(conn, name).await?;
        let rows: Vec<(i64, i64)> = sqlx::query_as(
            "SELECT version, created_at FROM key_versions WHERE name = ?1 ORDER BY version",
        )
        .bind(name)
        .fetch_all(&mut *conn)
        .await
        .map_err(db_err)?;
        let mut versions = BTreeMap::new();
        for (version, created) in rows {
            versions.insert(to_u32(version)?, created);
        }
        Ok(KeyInfo {
            name: name.to_string(),
            latest_version: meta.latest,
            min_decryption_version: meta.min_dec,
            min_encryption_version: meta.min_enc,
            min_available_version: meta.min_avail,
            deletion_allowed: meta.deletion_allowed,
            versions,
        })
    }

    async fn write_meta(
        conn: &mut SqliteConnection,
        name: &str,
        meta: &Meta,
    ) -> Result<(), VaultError> {
        sqlx::query(
            "UPDATE keys SET latest_version = ?2, min_decryption_version = ?3,
                    min_encryption_version = ?4, min_available_version = ?5,
                    deletion_allowed = ?6
             WHERE name = ?1",
        )
        .bind(name)
        .bind(i64::from(meta.latest))
        .bind(i64::from(meta.min_dec))
        .bind(i64::from(meta.min_enc))
        .bind(i64::from(meta.min_avail))
        .bind(i64::from(meta.deletion_allowed))
        .execute(&mut *conn)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn insert_version(
        &self,
        conn: &mut SqliteConnection,
        name: &str,
        version: u32,
    ) -> Result<(), VaultError> {
        let material = Secret32::random();
        let sealed = seal_raw(
            self.master.bytes(),
            material.bytes(),
            &material_aad(name, version),
        );
        sqlx::query(
            "INSERT INTO key_versions (name, version, created_at, sealed) VALUES (?1, ?2, ?3, ?4)",
        )
        .bind(name)
        .bind(i64::from(version))
        .bind(now_unix())
        .bind(sealed)
        .execute(&mut *conn)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    /// Empties the WAL after a destruction so destroyed pages do not linger in it.
    async fn checkpoint(&self) {
        if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .fetch_all(&self.writer)
            .await
        {
            tracing::warn!(error = %e, "keyd: WAL checkpoint after key destruction failed");
        }
    }

    async fn ring<'e>(&'e self, name: &'e str) -> Result<Ring<'e>, VaultError> {
        validate_key_name(name)?;
        let mut conn = self.reader.acquire().await.map_err(db_err)?;
        let meta = Self::meta(&mut conn, name).await?;
        Ok(Ring {
            engine: self,
            name,
            meta,
            versions: HashMap::new(),
        })
    }

    /// Creates the named key with version 1 if it does not exist; an existing key is left
    /// unchanged (like transit). Returns the key's info either way.
    pub async fn create_key(
        &self,
        name: &str,
        deletion_allowed: bool,
    ) -> Result<KeyInfo, VaultError> {
        validate_key_name(name)?;
        let mut tx = self
            .writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(db_err)?;
        let exists: Option<(i64,)> = sqlx::query_as("SELECT 1 FROM keys WHERE name = ?1")
            .bind(name)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?;
        if exists.is_none() {
            sqlx::query(
                "INSERT INTO keys (name, latest_version, min_decryption_version,
                    min_encryption_version, min_available_version, deletion_allowed, created_at)
                 VALUES (?1, 1, 1, 0, 0, ?2, ?3)",
            )
            .bind(name)
            .bind(i64::from(deletion_allowed))
            .bind(now_unix())
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
            self.insert_version(&mut tx, name, 1).await?;
        }
        let info = Self::info(&mut tx, name).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(info)
    }

    pub async fn key_info(&self, name: &str) -> Result<KeyInfo, VaultError> {
        validate_key_name(name)?;
        let mut conn = self.reader.acquire().await.map_err(db_err)?;
        Self::info(&mut conn, name).await
    }

    /// All key names, sorted.
    pub async fn list_keys(&self) -> Result<Vec<String>, VaultError> {
        let rows: Vec<(String,)> = sqlx::query_as("SELECT name FROM keys ORDER BY name")
            .fetch_all(&self.reader)
            .await
            .map_err(db_err)?;
        Ok(rows.into_iter().map(|(name,)| name).collect())
    }

    /// Adds a version and makes it the one used for new wrappings. Returns it.
    pub async fn rotate(&self, name: &str) -> Result<u32, VaultError> {
        validate_key_name(name)?;
        let mut tx = self
            .writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(db_err)?;
        let mut meta = Self::meta(&mut tx, name).await?;
        let next = meta
            .latest
            .checked_add(1)
            .ok_or_else(|| VaultError::Invalid("too many key versions".into()))?;
        self.insert_version(&mut tx, name, next).await?;
        meta.latest = next;
        Self::write_meta(&mut tx, name, &meta).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(next)
    }

    /// `POST /keys/{name}/config`, with Vault's rules: versions cannot go above the latest,
    /// `min_encryption_version` (if not 0) cannot be below `min_decryption_version`, and
    /// neither can go below `min_available_version` (trimmed versions are gone).
    pub async fn configure(&self, name: &str, config: KeyConfig) -> Result<KeyInfo, VaultError> {
        validate_key_name(name)?;
        let mut tx = self
            .writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(db_err)?;
        let old = Self::meta(&mut tx, name).await?;
        let mut new = old;
        if let Some(min_dec) = config.min_decryption_version {
            let min_dec = min_dec.max(1);
            if min_dec > old.latest {
                return Err(VaultError::Invalid(format!(
                    "cannot set min decryption version of {min_dec}, latest key version is {}",
                    old.latest
                )));
            }
            new.min_dec = min_dec;
        }
        if let Some(min_enc) = config.min_encryption_version {
            if min_enc > old.latest {
                return Err(VaultError::Invalid(format!(
                    "cannot set min encryption version of {min_enc}, latest key version is {}",
                    old.latest
                )));
            }
            new.min_enc = min_enc;
        }
        if new.min_enc > 0 && new.min_enc < new.min_dec {
            return Err(VaultError::Invalid(
                "min encryption version must be greater than or equal to min decryption version"
                    .into(),
            ));
        }
        if let Some(allowed) = config.deletion_allowed {
            new.deletion_allowed = allowed;
        }
        let versions_changed = new.min_dec != old.min_dec || new.min_enc != old.min_enc;
        if versions_changed && (new.min_avail > new.min_dec || new.min_avail > new.min_enc) {
            return Err(VaultError::Invalid(
                "min decryption/encryption version cannot be below min available version".into(),
            ));
        }
        Self::write_meta(&mut tx, name, &new).await?;
        let info = Self::info(&mut tx, name).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(info)
    }

    /// `POST /keys/{name}/trim`: destroys every version below `min_available_version`.
    /// Vault's rules: it needs `min_encryption_version` set, cannot exceed it nor
    /// `min_decryption_version`, and cannot go back.
    pub async fn trim(
        &self,
        name: &str,
        min_available_version: u32,
    ) -> Result<KeyInfo, VaultError> {
        validate_key_name(name)?;
        let mut tx = self
            .writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(db_err)?;
        let mut meta = Self::meta(&mut tx, name).await?;
        let v = min_available_version;
        let problem = if v == 0 {
            Some("minimum available version should be positive")
        } else if v < meta.min_avail {
            Some("minimum available version cannot be decremented")
        } else if meta.min_enc == 0 {
            Some("minimum available version cannot be set when minimum encryption version is not set")
        } else if v > meta.min_enc {
            Some("minimum available version cannot be greater than minimum encryption version")
        } else if v > meta.min_dec {
            Some("minimum available version cannot be greater than minimum decryption version")
        } else {
            None
        };
        if let Some(problem) = problem {
            return Err(VaultError::Invalid(problem.into()));
        }
        Self::destroy_below(&mut tx, name, v).await?;
        meta.min_avail = v;
        Self::write_meta(&mut tx, name, &meta).await?;
        let info = Self::info(&mut tx, name).await?;
        tx.commit().await.map_err(db_err)?;
        self.checkpoint().await;
        Ok(info)
    }

    async fn destroy_below(
        conn: &mut SqliteConnection,
        name: &str,
        version: u32,
    ) -> Result<(), VaultError> {
        sqlx::query("DELETE FROM key_versions WHERE name = ?1 AND version < ?2")
            .bind(name)
            .bind(i64::from(version))
            .execute(&mut *conn)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    /// Config + trim in one transaction: versions below `min_version` stop decrypting and are
    /// destroyed. Already-retired versions stay retired (`min_version` below the current
    /// minimum is a no-op).
    pub async fn retire_before(&self, name: &str, min_version: u32) -> Result<(), VaultError> {
        validate_key_name(name)?;
        let mut tx = self
            .writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(db_err)?;
        let mut meta = Self::meta(&mut tx, name).await?;
        if min_version == 0 || min_version > meta.latest {
            return Err(VaultError::Invalid(format!(
                "cannot retire below version {min_version}: latest version is {}",
                meta.latest
            )));
        }
        let target = min_version.max(meta.min_dec);
        meta.min_dec = target;
        meta.min_enc = meta.min_enc.max(target);
        meta.min_avail = meta.min_avail.max(target);
        Self::destroy_below(&mut tx, name, target).await?;
        Self::write_meta(&mut tx, name, &meta).await?;
        tx.commit().await.map_err(db_err)?;
        self.checkpoint().await;
        Ok(())
    }

    /// Destroys the key and all its versions (crypto-shredding). Needs `deletion_allowed`.
    pub async fn delete_key(&self, name: &str) -> Result<(), VaultError> {
        validate_key_name(name)?;
        let mut tx = self
            .writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(db_err)?;
        let meta = Self::meta(&mut tx, name).await?;
        if !meta.deletion_allowed {
            return Err(VaultError::Invalid(
                "deletion is not allowed for this key".into(),
            ));
        }
        sqlx::query("DELETE FROM key_versions WHERE name = ?1")
            .bind(name)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        sqlx::query("DELETE FROM keys WHERE name = ?1")
            .bind(name)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        self.checkpoint().await;
        Ok(())
    }

    /// A fresh 256-bit data key, its wrapping under the latest version, and that version.
    pub async fn datakey(&self, name: &str) -> Result<(DataKey, String, u32), VaultError> {
        let mut ring = self.ring(name).await?;
        let (version, material) = ring.latest().await?;
        let key = DataKey::generate();
        let wrapped = wrap(&material, name, version, key.as_bytes());
        Ok((key, wrapped, version))
    }

    /// Wraps each plaintext under the latest version: `(vault:v<N>:…, N)`.
    pub async fn encrypt_batch(
        &self,
        name: &str,
        plaintexts: &[&[u8]],
    ) -> Result<Vec<(String, u32)>, VaultError> {
        let mut ring = self.ring(name).await?;
        let (version, material) = ring.latest().await?;
        Ok(plaintexts
            .iter()
            .map(|p| (wrap(&material, name, version, p), version))
            .collect())
    }

    /// Opens wrapped values. The outer error fails the whole batch (unknown key, storage);
    /// the inner ones are per item (`Decrypt`).
    pub async fn decrypt_batch(
        &self,
        name: &str,
        wrapped: &[String],
    ) -> Result<Vec<Result<Zeroizing<Vec<u8>>, VaultError>>, VaultError> {
        let mut ring = self.ring(name).await?;
        let mut out = Vec::with_capacity(wrapped.len());
        for w in wrapped {
            out.push(ring.decrypt(w).await?);
        }
        Ok(out)
    }

    /// Re-wraps each value under the latest version (the plaintext never leaves keyd).
    pub async fn rewrap_batch(
        &self,
        name: &str,
        wrapped: &[String],
    ) -> Result<Vec<Result<(String, u32), VaultError>>, VaultError> {
        let mut ring = self.ring(name).await?;
        let (version, material) = ring.latest().await?;
        let mut out = Vec::with_capacity(wrapped.len());
        for w in wrapped {
            let item = ring
                .decrypt(w)
                .await?
                .map(|plain| (wrap(&material, name, version, &plain), version));
            out.push(item);
        }
        Ok(out)
    }

    /// HMAC-SHA256 of each input under a key derived from the latest version:
    /// `vault:v<N>:<base64 mac>`.
    pub async fn hmac_batch(
        &self,
        name: &str,
        inputs: &[&[u8]],
    ) -> Result<Vec<String>, VaultError> {
        let mut ring = self.ring(name).await?;
        let (version, material) = ring.latest().await?;
        let mut mac_key = hmac_sha256(material.bytes(), &[HMAC_KEY_LABEL]);
        let out = inputs
            .iter()
            .map(|input| {
                let mac = hmac_sha256(&mac_key, &[input]);
                format!("vault:v{version}:{}", STANDARD.encode(mac))
            })
            .collect();
        mac_key.zeroize();
        Ok(out)
    }

    /// The raw material of a version, for tests that scan the data directory for it.
    #[cfg(test)]
    pub(crate) async fn raw_material_for_tests(
        &self,
        name: &str,
        version: u32,
    ) -> Result<[u8; KEY_LEN], VaultError> {
        self.load_material(&self.reader, name, version)
            .await?
            .map(|s| *s.bytes())
            .ok_or(VaultError::NotFound)
    }

    /// The sealed bytes of a version as stored, for tests of secure deletion.
    #[cfg(test)]
    pub(crate) async fn sealed_material_for_tests(
        &self,
        name: &str,
        version: u32,
    ) -> Result<Vec<u8>, VaultError> {
        let row: Option<(Vec<u8>,)> =
            sqlx::query_as("SELECT sealed FROM key_versions WHERE name = ?1 AND version = ?2")
                .bind(name)
                .bind(i64::from(version))
                .fetch_optional(&self.reader)
                .await
                .map_err(db_err)?;
        row.map(|(s,)| s).ok_or(VaultError::NotFound)
    }
}

fn create_private_dir(dir: &Path) -> Result<(), VaultError> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt as _;
        builder.mode(0o700);
    }
    builder.create(dir).map_err(|e| {
        VaultError::Unavailable(format!(
            "cannot create keyd data dir {}: {e}",
            dir.display()
        ))
    })
}
