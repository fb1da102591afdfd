//! careslot's core: what every feature shares. The [`Core`] service (store handle, health-data
//! protection, the hot availability index, the search directory, configuration), the caller,
//! the error types and their problem+json mapping, time parsing, MACs, the audit log, and the
//! JSON extractors. Feature crates (identity, scheduling, vaccination, consultation) build on
//! it; nothing here knows about them.

pub mod answer;
pub mod audit;
pub mod availability;
pub mod clock;
pub mod cookies;
pub mod error;
pub mod extract;
pub mod gazetteer;
pub mod i18n;
pub mod mac;
pub mod observe;
pub mod payment_failure;
pub mod protection;
pub mod rules_cache;
pub mod search;
pub mod time;

pub use audit::{AccessEntry, AuditVerdict};
pub use payment_failure::PaymentFailure;

use crate::availability::AgendaCache;
use crate::protection::{ProtectError, Protector};
use crate::search::SearchIndex;
use careslot_domain::{AccountId, DomainError};
use careslot_store::{Role, Store, StoreError};
use std::sync::Arc;
use thiserror::Error;

/// Failures of an application service, in terms the HTTP layer maps to statuses.
#[derive(Debug, Error)]
pub enum AppError {
    #[error("invalid input: {0}")]
    Invalid(DomainError),
    #[error("bad request: {0}")]
    BadRequest(String),
    #[error("unauthenticated")]
    Unauthenticated,
    #[error("bad credentials")]
    BadCredentials,
    #[error("forbidden: {0}")]
    Forbidden(&'static str),
    /// The practitioner's national identifier is not verified (unverified, pending,
    /// rejected or revoked): they may run their practice but not sign prescriptions.
    #[error("practitioner not verified")]
    NotVerified,
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("conflict: {1}")]
    Conflict(&'static str, String),
    /// A booking rule of the practitioner forbids it (new patients only, …).
    #[error("booking rule: {0}")]
    Rule(String),
    /// The request carries more than the limit allows (413).
    #[error("too large: {0}")]
    TooLarge(String),
    /// A file whose content is not of an accepted type (415).
    #[error("unsupported type: {0}")]
    UnsupportedType(&'static str),
    /// Health data is needed and the key service cannot be reached: fail closed.
    #[error("key service unavailable")]
    KeyService,
    /// Too many failed attempts from this account or address: wait before trying again
    /// (429 with `Retry-After`). The right password is refused too until then.
    #[error("too many attempts; retry after {retry_after_s} s")]
    TooManyAttempts { retry_after_s: u64 },
    /// Every password-hashing slot and its short queue are taken: retry shortly (503 with
    /// `Retry-After`), instead of queueing without bound.
    #[error("password hashing saturated; retry after {retry_after_s} s")]
    Busy { retry_after_s: u64 },
    /// A practice account without a second factor in this session asked for patient data
    /// (403 `mfa-required`): set up two-factor authentication, or sign in with it.
    #[error("two-factor authentication required")]
    MfaRequired,
    /// A wrong, expired or already used TOTP or recovery code (401 `bad-code`).
    #[error("bad second-factor code")]
    BadCode,
    /// A sensitive change needs the password (and the second factor, where enrolled) proven
    /// again recently (403 `reauthentication-required`).
    #[error("re-authentication required")]
    ReauthRequired,
    #[error(transparent)]
    Store(#[from] StoreError),
    /// An online payment failed or a payment webhook was refused.
    #[error(transparent)]
    Payment(PaymentFailure),
}

impl From<ProtectError> for AppError {
    fn from(e: ProtectError) -> Self {
        match e {
            ProtectError::Unavailable => AppError::KeyService,
            ProtectError::Erased => AppError::NotFound("account"),
            ProtectError::Corrupt => {
                AppError::Store(StoreError::Internal("a ciphertext was rejected".into()))
            }
            ProtectError::Store(s) => AppError::Store(s),
        }
    }
}

/// Who is calling: enough to authorise without decrypting anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub id: AccountId,
    pub role: Role,
    /// The session gave a second factor (TOTP or recovery code) when it signed in or since.
    /// In-process callers (the importer, the demo, benchmarks) act with the operator's
    /// authority and set it.
    pub second_factor: bool,
}

impl Caller {
    /// Practitioners, assistants and operators read patient data only from a session with a
    /// second factor; patients read their own (and their relatives') data without one.
    pub fn may_read_patient_data(&self) -> AppResult<()> {
        let practice = matches!(
            self.role,
            Role::Practitioner | Role::Assistant | Role::Operator
        );
        if practice && !self.second_factor {
            return Err(AppError::MfaRequired);
        }
        Ok(())
    }
}

impl From<DomainError> for AppError {
    fn from(e: DomainError) -> Self {
        AppError::Invalid(e)
    }
}

pub type AppResult<T> = Result<T, AppError>;

/// The settings every feature reads. Feature settings (waiting room, payments, video,
/// documents) belong to their feature's service.
#[derive(Debug, Clone)]
pub struct CoreConfig {
    /// How long a hold keeps a place for its patient.
    pub hold_ttl: jiff::SignedDuration,
    pub session_ttl: jiff::SignedDuration,
    /// Vaccination appointments lose their patient link after this long.
    pub vaccination_retention: jiff::SignedDuration,
    /// Bearer token of the campaign operator (health authority): opens and closes phases,
    /// edits protocols, opens chronodoses. `None`: those endpoints answer 401.
    pub operator_token: Option<std::sync::Arc<careslot_vault::SecretToken>>,
    /// Whether the operator's appointment export may carry identities (else pseudonyms).
    pub operator_identities: bool,
    /// Public base URL of the site (`https://careslot.example`), for links that leave it:
    /// the prescription QR codes. `None`: taken from each request's `Host` header.
    pub public_url: Option<String>,
    /// What "now" is for the outbox, reminders and earlier-slot offers (the system clock
    /// unless a test holds a manual one).
    pub clock: clock::SharedClock,
}

impl Default for CoreConfig {
    fn default() -> Self {
        Self {
            hold_ttl: jiff::SignedDuration::from_mins(5),
            session_ttl: jiff::SignedDuration::from_hours(24 * 30),
            vaccination_retention: jiff::SignedDuration::from_hours(24 * 92),
            operator_token: None,
            operator_identities: false,
            public_url: None,
            clock: Default::default(),
        }
    }
}

/// The shared parts every feature service is built from (and dereferences to).
pub struct Core {
    pub store: Arc<dyn Store>,
    pub protect: Arc<Protector>,
    pub agendas: Arc<AgendaCache>,
    pub directory: SearchIndex,
    pub config: CoreConfig,
    /// The node's Prometheus metrics (`/metrics`).
    pub metrics: Arc<observe::Metrics>,
    /// Set when the node stops (SIGTERM): long-lived connections close with 1012.
    pub shutdown: observe::Shutdown,
}

impl Core {
    /// The configured clock's now: what decides which messages and offers are due.
    pub fn now(&self) -> jiff::Timestamp {
        self.config.clock.now()
    }

    /// Builds the shared parts and warms the search index from the store; availability
    /// views follow every agenda change announced by the store (on every node).
    pub async fn new(
        store: Arc<dyn Store>,
        protect: Arc<Protector>,
        config: CoreConfig,
    ) -> AppResult<Arc<Self>> {
        let agendas = Arc::new(AgendaCache::new(store.clone()));
        let watcher = agendas.clone();
        store.watch_agendas(Arc::new(move |id| match id {
            Some(id) => watcher.invalidate(&id),
            None => watcher.invalidate_all(),
        }));
        let metrics = observe::Metrics::new()
            .and_then(|m| m.register_keys(&protect.key_metrics).map(|()| m))
            .map_err(|e| StoreError::Internal(format!("cannot register metrics: {e}")))?;
        let metrics = Arc::new(metrics);
        let on_group = metrics.clone();
        store.observe_group_commits(Arc::new(move |size| on_group.writer_group(size)));
        let core = Arc::new(Self {
            directory: SearchIndex::new(agendas.clone()),
            agendas,
            store,
            protect,
            config,
            metrics,
            shutdown: observe::Shutdown::default(),
        });
        // Stored floors first: the index ranks by them until the views are in.
        core.agendas.seed_floors(&core.store.slot_floors().await?);
        core.directory.replace_all(core.store.directory().await?);
        core.spawn_hold_sweeper();
        core.spawn_audit_indexer();
        Ok(core)
    }

    /// Readiness: the database answers a trivial query and the key service answers. Names
    /// what is not ready.
    pub async fn ready(&self) -> Result<(), &'static str> {
        if let Err(e) = self.store.ping().await {
            tracing::warn!(error = %e, "not ready: database");
            return Err("database");
        }
        if let Err(e) = self.protect.check_custody().await {
            tracing::warn!(error = %e, "not ready: key service");
            return Err("key-service");
        }
        Ok(())
    }

    pub fn require_role(caller: &Caller, role: Role) -> AppResult<()> {
        if caller.role == role {
            Ok(())
        } else {
            Err(AppError::Forbidden(match role {
                Role::Patient => "only patient accounts can do this",
                Role::Practitioner => "only practitioner accounts can do this",
                Role::Assistant => "only assistant accounts can do this",
                Role::Operator => "only operator accounts can do this",
            }))
        }
    }
}

/// Agendas read per page by the warm-up: a few thousand keep each page's queries short and
/// its rows small next to the views.
pub const WARMUP_PAGE: usize = 2048;

/// How often slot floors are written back (after the warm-up, then at this period).
const FLOOR_PERIOD: std::time::Duration = std::time::Duration::from_secs(300);

impl Core {
    /// Every second, holds past their expiry give back their places and doses (a hold
    /// abandoned mid-form must not keep a day's last dose), and the views follow.
    fn spawn_hold_sweeper(self: &Arc<Self>) {
        let app = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(app) = app.upgrade() else { return };
                match app.store.expire_holds(jiff::Timestamp::now()).await {
                    Ok(agendas) => {
                        for a in &agendas {
                            app.agendas.invalidate(a);
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "hold sweeper failed; will retry"),
                }
            }
        });
    }

    /// Loads every agenda's availability view in the background, so the first searches
    /// after a start (a rush does not wait for a warm cache) are memory reads: in pages of
    /// agendas, a few table-wide queries each (`SearchIndex::load_views`), then the
    /// earliest slots on all cores. Searches before it ends stay exact: they load what they
    /// need one agenda at a time.
    pub fn spawn_warmup(self: &Arc<Self>) {
        let app = self.clone();
        tokio::spawn(async move {
            let started = std::time::Instant::now();
            match app.directory.load_views(WARMUP_PAGE).await {
                Ok(loaded) => tracing::info!(
                    agendas = app.directory.len(),
                    loaded,
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "availability views loaded"
                ),
                Err(e) => tracing::warn!(
                    error = %e,
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "availability views not loaded in bulk; searches load them as needed"
                ),
            }
            // Only a weak hold from here on: the loop ends with the app.
            let weak = Arc::downgrade(&app);
            drop(app);
            loop {
                let Some(core) = weak.upgrade() else { return };
                if let Err(e) = core.keep_slot_floors().await {
                    tracing::warn!(error = %e, "slot floors not written; will retry");
                }
                drop(core);
                tokio::time::sleep(FLOOR_PERIOD).await;
            }
        });
    }

    /// Writes the slot floors of the agendas in memory that moved (see
    /// `AgendaCache::keep_floors`). Returns how many the store kept.
    pub async fn keep_slot_floors(&self) -> AppResult<u64> {
        Ok(self.agendas.keep_floors().await?)
    }

    /// Retention: every hour, vaccination appointments older than the retention period
    /// lose their patient link (the slot stays booked in the agenda).
    pub fn spawn_retention(self: &Arc<Self>) {
        let app = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(3600));
            loop {
                tick.tick().await;
                let before = jiff::Timestamp::now()
                    .checked_sub(app.config.vaccination_retention)
                    .unwrap_or(jiff::Timestamp::UNIX_EPOCH);
                match app
                    .store
                    .strip_patient_links(careslot_domain::Specialty::VaccinationCenter, before)
                    .await
                {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(
                        appointments = n,
                        "retention: vaccination appointments anonymised"
                    ),
                    Err(e) => tracing::warn!(error = %e, "retention job failed; will retry"),
                }
            }
        });
    }
}
