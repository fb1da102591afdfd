//! Health-data protection as the services see it: data keys from the key-custody service
//! (cached unwrapped in memory for a few minutes), field sealing with associated data that
//! binds each ciphertext to its table, column and row, blind indexes, keyed hashes and the
//! audit chain's MACs. See docs/protection.md.

use careslot_domain::{AccountId, AgendaId};
use careslot_store::{AuditRow, DocumentId, KeyOwner, Store, StoreError};
use careslot_vault::{Aad, DataKey, IndexKey, KeyCustody, VaultError};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Named key in the custody service wrapping the app-wide keys.
pub const APP_KEY: &str = "careslot-app";
const INDEX_KEY_SETTING: &str = "blind_index_key";
const AUDIT_KEY_SETTING: &str = "audit_key";
/// Unwrapped data keys stay in memory this long after their last unwrap.
const KEY_TTL: Duration = Duration::from_secs(300);
const MAX_CACHED_KEYS: usize = 200_000;

#[derive(Debug, thiserror::Error)]
pub enum ProtectError {
    /// The key service cannot be reached (or refuses us): fail closed.
    #[error("key service unavailable")]
    Unavailable,
    /// The key was destroyed: the data is erased.
    #[error("key destroyed")]
    Erased,
    /// A ciphertext does not open with its key and associated data.
    #[error("ciphertext rejected")]
    Corrupt,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<VaultError> for ProtectError {
    fn from(e: VaultError) -> Self {
        match e {
            VaultError::Unavailable(_) | VaultError::Denied => ProtectError::Unavailable,
            VaultError::NotFound => ProtectError::Erased,
            VaultError::Decrypt => ProtectError::Corrupt,
            VaultError::Invalid(m) | VaultError::Internal(m) => {
                tracing::error!(error = %m, "key service error");
                ProtectError::Unavailable
            }
        }
    }
}

pub fn subject_key_name(id: &AccountId) -> String {
    format!("subject-{id}")
}

pub fn agenda_key_name(id: &AgendaId) -> String {
    format!("agenda-{id}")
}

/// Each shared document has its own named key: destroying it shreds that document alone.
pub fn document_key_name(id: &DocumentId) -> String {
    format!("document-{id}")
}

/// The named key wrapping the data key of one prescription-signing key.
pub fn signer_key_name(signing_key_id: &str) -> String {
    format!("signer-{signing_key_id}")
}

pub struct Protector {
    custody: Arc<dyn KeyCustody>,
    index_key: IndexKey,
    audit_mac_key: IndexKey,
    audit_seal_key: DataKey,
    bits: u8,
    cache: Mutex<HashMap<String, (DataKey, Instant)>>,
    /// Benchmarks only: fields are stored as they are (protection off).
    plaintext: bool,
    /// Key-service latency and cache hits; registered into the node's metrics by `Core`.
    pub key_metrics: crate::observe::KeyMetrics,
}

impl Protector {
    /// Loads (or creates once) the app-wide keys, wrapped in the database by the custody
    /// service's `careslot-app` key.
    pub async fn bootstrap(
        store: &dyn Store,
        custody: Arc<dyn KeyCustody>,
        bits: u8,
    ) -> Result<Self, ProtectError> {
        let key_metrics = crate::observe::KeyMetrics::new()
            .map_err(|e| ProtectError::Store(StoreError::Internal(format!("key metrics: {e}"))))?;
        let custody: Arc<dyn KeyCustody> = Arc::new(crate::observe::TimedCustody::new(
            custody,
            key_metrics.clone(),
        ));
        custody.create_key(APP_KEY, false).await?;
        let index_key = Self::app_key(store, &*custody, INDEX_KEY_SETTING).await?;
        let audit_key = Self::app_key(store, &*custody, AUDIT_KEY_SETTING).await?;
        let audit_mac_key =
            IndexKey::from_bytes(audit_key.as_bytes()).map_err(|_| ProtectError::Corrupt)?;
        let audit_seal_key = DataKey::from_bytes(&audit_mac_key.keyed_hash("audit.seal", b""))
            .map_err(|_| ProtectError::Corrupt)?;
        Ok(Self {
            custody,
            index_key: IndexKey::from_bytes(index_key.as_bytes())
                .map_err(|_| ProtectError::Corrupt)?,
            audit_mac_key,
            audit_seal_key,
            bits: bits.clamp(1, 32),
            cache: Mutex::new(HashMap::new()),
            plaintext: false,
            key_metrics,
        })
    }

    /// Protection off, for measuring what protection costs. Never used by `serve`.
    #[doc(hidden)]
    pub async fn plaintext_for_benchmarks(
        store: &dyn Store,
        custody: Arc<dyn KeyCustody>,
        bits: u8,
    ) -> Result<Self, ProtectError> {
        let mut p = Self::bootstrap(store, custody, bits).await?;
        p.plaintext = true;
        Ok(p)
    }

    async fn app_key(
        store: &dyn Store,
        custody: &dyn KeyCustody,
        setting: &str,
    ) -> Result<DataKey, ProtectError> {
        let wrapped = match store.setting(setting).await? {
            Some(w) => w,
            None => {
                let (_, wrapped) = custody.datakey(APP_KEY).await?;
                // A concurrent first start may win: use whatever is stored.
                store.insert_setting(setting, &wrapped).await?
            }
        };
        Self::first(custody.unwrap(APP_KEY, &[wrapped]).await?)
    }

    fn first(mut keys: Vec<Result<DataKey, VaultError>>) -> Result<DataKey, ProtectError> {
        match keys.pop() {
            Some(k) => Ok(k?),
            None => Err(ProtectError::Corrupt),
        }
    }

    /// A secret every node must share (queue tickets, video credentials): drawn once by the
    /// first node, stored in the database wrapped by the app key like the index and audit
    /// keys (so a dump does not give it away, and rotation rewraps it), as token text.
    pub async fn shared_secret(
        &self,
        store: &dyn Store,
        setting: &str,
    ) -> Result<String, ProtectError> {
        let key = Self::app_key(store, &*self.custody, setting).await?;
        Ok(hex::encode(key.as_bytes()))
    }

    /// Whether the key service answers (readiness): it describes the app's own key.
    pub async fn check_custody(&self) -> Result<(), ProtectError> {
        if self.plaintext {
            return Ok(());
        }
        self.custody
            .key_info(APP_KEY)
            .await
            .map(|_| ())
            .map_err(|_| ProtectError::Unavailable)
    }

    pub fn custody(&self) -> &Arc<dyn KeyCustody> {
        &self.custody
    }

    /// A new named key in the custody service and a fresh data key wrapped by it.
    pub async fn new_data_key(&self, name: &str) -> Result<(DataKey, String), ProtectError> {
        self.custody.create_key(name, true).await?;
        let (key, wrapped) = self.custody.datakey(name).await?;
        self.remember(name, &key);
        Ok((key, wrapped))
    }

    /// The data key behind `wrapped`, from memory or from the custody service.
    pub async fn data_key(&self, name: &str, wrapped: &str) -> Result<DataKey, ProtectError> {
        if let Some((key, at)) = self.cache.lock().get(name) {
            if at.elapsed() < KEY_TTL {
                self.key_metrics.cache_hit();
                return Ok(key.clone());
            }
        }
        self.key_metrics.cache_miss();
        let key = Self::first(self.custody.unwrap(name, &[wrapped.to_owned()]).await?)?;
        self.remember(name, &key);
        Ok(key)
    }

    fn remember(&self, name: &str, key: &DataKey) {
        let mut cache = self.cache.lock();
        if cache.len() >= MAX_CACHED_KEYS {
            cache.retain(|_, (_, at)| at.elapsed() < KEY_TTL);
            if cache.len() >= MAX_CACHED_KEYS {
                cache.clear();
            }
        }
        cache.insert(name.to_owned(), (key.clone(), Instant::now()));
    }

    pub fn forget(&self, name: &str) {
        self.cache.lock().remove(name);
    }

    /// Destroys a named key in the custody service (crypto-shredding).
    pub async fn destroy(&self, name: &str) -> Result<(), ProtectError> {
        self.forget(name);
        match self.custody.delete_key(name).await {
            Ok(()) | Err(VaultError::NotFound) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    pub fn seal(
        &self,
        key: &DataKey,
        plaintext: &[u8],
        table: &str,
        column: &str,
        row: &str,
    ) -> Vec<u8> {
        if self.plaintext {
            return plaintext.to_vec();
        }
        key.seal(plaintext, &Aad::new(table, column, row))
    }

    pub fn open(
        &self,
        key: &DataKey,
        sealed: &[u8],
        table: &str,
        column: &str,
        row: &str,
    ) -> Result<Vec<u8>, ProtectError> {
        if self.plaintext {
            return Ok(sealed.to_vec());
        }
        key.open(sealed, &Aad::new(table, column, row))
            .map_err(|_| ProtectError::Corrupt)
    }

    pub fn open_string(
        &self,
        key: &DataKey,
        sealed: &[u8],
        table: &str,
        column: &str,
        row: &str,
    ) -> Result<String, ProtectError> {
        String::from_utf8(self.open(key, sealed, table, column, row)?)
            .map_err(|_| ProtectError::Corrupt)
    }

    /// Truncated blind index (CipherSweet): deliberately shared by many values.
    pub fn blind_index(&self, context: &str, value: &[u8]) -> i64 {
        self.index_key.blind_index(context, value, self.bits)
    }

    /// Full-width keyed hash, hex: for uniqueness and idempotency, never for lookups of
    /// low-entropy values.
    pub fn keyed_hash(&self, context: &str, value: &[u8]) -> String {
        hex::encode(self.index_key.keyed_hash(context, value))
    }

    pub fn email_index(&self, email: &str) -> i64 {
        self.blind_index("accounts.email", email.as_bytes())
    }

    pub fn email_uniq(&self, email: &str) -> String {
        self.keyed_hash("accounts.email.uniq", email.as_bytes())
    }

    pub fn patient_index(&self, patient: &AccountId) -> i64 {
        self.blind_index("reservations.patient", patient.as_str().as_bytes())
    }

    pub fn seal_audit(&self, plaintext: &[u8], at: i64, subject_bidx: i64) -> Vec<u8> {
        let row = format!("{at}:{subject_bidx}");
        self.audit_seal_key
            .seal(plaintext, &Aad::new("audit_log", "entry", &row))
    }

    pub fn open_audit(&self, row: &AuditRow) -> Result<Vec<u8>, ProtectError> {
        let r = format!("{}:{}", row.at.as_second(), row.subject_bidx);
        self.audit_seal_key
            .open(&row.entry_ct, &Aad::new("audit_log", "entry", &r))
            .map_err(|_| ProtectError::Corrupt)
    }

    /// MAC of an audit row chained to the previous row's MAC.
    pub fn audit_mac(&self, prev: &str, row: &AuditRow) -> String {
        let mut input = Vec::with_capacity(row.entry_ct.len() + 96);
        for part in [
            prev.as_bytes(),
            &row.seq.to_be_bytes(),
            &row.at.as_second().to_be_bytes(),
            &row.subject_bidx.to_be_bytes(),
        ] {
            input.extend_from_slice(&(part.len() as u64).to_be_bytes());
            input.extend_from_slice(part);
        }
        input.extend_from_slice(&row.entry_ct);
        hex::encode(self.audit_mac_key.keyed_hash("audit.chain", &input))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RotationReport {
    pub keys_rotated: usize,
    pub data_keys_rewrapped: usize,
}

/// Key rotation, online: each named key gets a new version and every data key wrapped by it
/// is rewrapped (the data key itself does not change, so running requests and cached keys
/// are unaffected). With `retire`, older versions are then destroyed in the key service.
pub async fn rotate_all(
    store: &dyn Store,
    custody: &dyn KeyCustody,
    retire: bool,
) -> Result<RotationReport, ProtectError> {
    let mut rotated: HashMap<String, u32> = HashMap::new();
    let mut rewrapped = 0usize;
    for mut row in store.wrapped_keys().await? {
        let name = match row.owner {
            KeyOwner::Account => subject_key_name(&AccountId(row.id.clone())),
            KeyOwner::Agenda => agenda_key_name(&AgendaId(row.id.clone())),
            KeyOwner::Setting => APP_KEY.to_owned(),
            KeyOwner::Document => document_key_name(&DocumentId(row.id.clone())),
            KeyOwner::SigningKey => signer_key_name(&row.id),
        };
        if !rotated.contains_key(&name) {
            let version = custody.rotate(&name).await?;
            rotated.insert(name.clone(), version);
        }
        if let Some(w) = custody
            .rewrap(&name, std::slice::from_ref(&row.wrapped))
            .await?
            .into_iter()
            .next()
        {
            row.wrapped = w;
            store.set_wrapped_key(&row).await?;
            rewrapped += 1;
        }
    }
    if retire {
        for (name, version) in &rotated {
            custody.retire_before(name, *version).await?;
        }
    }
    Ok(RotationReport {
        keys_rotated: rotated.len(),
        data_keys_rewrapped: rewrapped,
    })
}
