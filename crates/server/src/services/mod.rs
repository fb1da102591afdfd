//! Application services: the one place where requests become domain decisions and store
//! calls. The JSON API (and later the web pages) are thin layers over these.

mod accounts;
mod audit;
mod booking;
mod campaign;
mod consultation;
mod desk;
mod documents;
mod eligibility;
mod family;
mod payment;
mod practice;
mod prescriptions;
mod rules_cache;
mod team;
mod vaccination;
// --- video ---
mod video;

pub use accounts::{Identity, NewIdentity};
pub use audit::{AccessEntry, AuditVerdict};
pub use booking::{
    is_valid_guest_id, Appointment, BookingDetails, BookingInput, Holder, SlotQuery,
};
pub use campaign::{CampaignTotals, DayReport, ProductTotals};
pub use consultation::{Participation, Side};
pub use desk::{DeskAppointment, DeskPatient, MotiveChanges};
pub use documents::{clean_file_name, sniff, DocumentFile, DocumentInfo, DocumentsConfig};
pub use eligibility::{Eligibility, NewPhase, CHRONODOSE_SETTING};
pub use family::Relative;
pub use payment::{parse_fee, PaymentFailure, SettleReport};
pub use practice::{NewMotive, NewPlace, NewRule, ProfileInput, PublicAgenda};
pub use prescriptions::{IssuedPrescription, PrescriptionView, PublishedKey, Verification};
pub use team::Invitation;
pub use vaccination::{DoseChoice, VaccinationRequest, VaccineSpec};
// --- video ---
pub use video::VideoSession;

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
}

impl From<DomainError> for AppError {
    fn from(e: DomainError) -> Self {
        AppError::Invalid(e)
    }
}

pub type AppResult<T> = Result<T, AppError>;

#[derive(Debug, Clone)]
pub struct AppConfig {
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
    /// The waiting room in front of the booking entry points (inactive by default).
    pub waiting_room: crate::waiting_room::RoomConfig,
    // --- video ---
    /// STUN/TURN servers and the room credentials' key of video consultations.
    pub video: crate::video::VideoConfig,
    /// How teleconsultation fees are paid (default: at the practice, no online payment).
    pub payments: crate::payments::Payments,
    /// Size and number limits of documents shared on appointments.
    pub documents: DocumentsConfig,
    /// Public base URL of the site (`https://careslot.example`), for links that leave it:
    /// the prescription QR codes. `None`: taken from each request's `Host` header.
    pub public_url: Option<String>,
}

impl Default for AppConfig {
    fn default() -> Self {
        Self {
            hold_ttl: jiff::SignedDuration::from_mins(5),
            session_ttl: jiff::SignedDuration::from_hours(24 * 30),
            vaccination_retention: jiff::SignedDuration::from_hours(24 * 92),
            operator_token: None,
            operator_identities: false,
            waiting_room: crate::waiting_room::RoomConfig::default(),
            video: crate::video::VideoConfig::default(),
            payments: crate::payments::Payments::default(),
            documents: DocumentsConfig::default(),
            public_url: None,
        }
    }
}

pub struct App {
    pub store: Arc<dyn Store>,
    pub protect: Arc<Protector>,
    pub agendas: Arc<AgendaCache>,
    pub directory: SearchIndex,
    pub config: AppConfig,
    /// Queue tickets and admission to the booking entry points.
    pub waiting_room: crate::waiting_room::WaitingRoom,
    // --- video ---
    /// This node's video rooms and the key of their credentials.
    pub video: crate::video::Video,
    protocols: rules_cache::Remembered<Vec<careslot_domain::vaccine::Protocol>>,
    eligibility: rules_cache::Remembered<Eligibility>,
}

impl App {
    /// Builds the services and warms the search index from the store.
    pub async fn new(
        store: Arc<dyn Store>,
        protect: Arc<Protector>,
        config: AppConfig,
    ) -> AppResult<Arc<Self>> {
        let agendas = Arc::new(AgendaCache::new(store.clone()));
        let watcher = agendas.clone();
        store.watch_agendas(Arc::new(move |id| match id {
            Some(id) => watcher.invalidate(&id),
            None => watcher.invalidate_all(),
        }));
        let app = Arc::new(Self {
            waiting_room: crate::waiting_room::WaitingRoom::new(&config.waiting_room),
            video: crate::video::Video::new(&config.video),
            directory: SearchIndex::new(agendas.clone()),
            agendas,
            store,
            protect,
            config,
            protocols: Default::default(),
            eligibility: Default::default(),
        });
        app.directory.replace_all(app.store.directory().await?);
        app.spawn_hold_sweeper();
        app.spawn_payment_sweeper();
        Ok(app)
    }

    pub fn require_role(caller: &Caller, role: Role) -> AppResult<()> {
        if caller.role == role {
            Ok(())
        } else {
            Err(AppError::Forbidden(match role {
                Role::Patient => "only patient accounts can do this",
                Role::Practitioner => "only practitioner accounts can do this",
                Role::Assistant => "only assistant accounts can do this",
            }))
        }
    }
}

impl App {
    /// Every second, holds past their expiry give back their places and doses (a hold
    /// abandoned mid-form must not keep a day's last dose), and the views follow.
    pub fn spawn_hold_sweeper(self: &Arc<Self>) {
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
    /// after a start (a rush does not wait for a warm cache) are memory reads.
    pub fn spawn_warmup(self: &Arc<Self>) {
        let app = self.clone();
        tokio::spawn(async move {
            let started = std::time::Instant::now();
            let entries = app.directory.entries();
            let now = jiff::Timestamp::now();
            let mut failed = 0usize;
            for e in &entries {
                let handle = app.agendas.handle(&e.entry.agenda_id);
                if app.agendas.next_slot_start(&handle, now).await.is_err() {
                    failed += 1;
                }
            }
            tracing::info!(
                agendas = entries.len(),
                failed,
                elapsed_ms = started.elapsed().as_millis() as u64,
                "availability views loaded"
            );
        });
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
