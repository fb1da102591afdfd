//! Application services: the one place where requests become domain decisions and store
//! calls. The JSON API (and later the web pages) are thin layers over these.

mod accounts;
mod booking;
mod practice;

pub use booking::{BookingInput, SlotQuery};
pub use practice::{NewMotive, NewPlace, NewRule, ProfileInput};

use crate::availability::AgendaCache;
use crate::search::SearchIndex;
use careslot_domain::DomainError;
use careslot_store::{Account, Role, Store, StoreError};
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
    #[error(transparent)]
    Store(#[from] StoreError),
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
}

impl Default for AppConfig {
    fn default() -> Self {
        Self {
            hold_ttl: jiff::SignedDuration::from_mins(5),
            session_ttl: jiff::SignedDuration::from_hours(24 * 30),
        }
    }
}

pub struct App {
    pub store: Arc<dyn Store>,
    pub agendas: Arc<AgendaCache>,
    pub directory: SearchIndex,
    pub config: AppConfig,
}

impl App {
    /// Builds the services and warms the search index from the store.
    pub async fn new(store: Arc<dyn Store>, config: AppConfig) -> AppResult<Arc<Self>> {
        let agendas = Arc::new(AgendaCache::new(store.clone()));
        let watcher = agendas.clone();
        store.watch_agendas(Arc::new(move |id| match id {
            Some(id) => watcher.invalidate(&id),
            None => watcher.invalidate_all(),
        }));
        let app = Arc::new(Self {
            directory: SearchIndex::new(agendas.clone()),
            agendas,
            store,
            config,
        });
        app.directory.replace_all(app.store.directory().await?);
        Ok(app)
    }

    pub fn require_role(account: &Account, role: Role) -> AppResult<()> {
        if account.role == role {
            Ok(())
        } else {
            Err(AppError::Forbidden(match role {
                Role::Patient => "only patient accounts can do this",
                Role::Practitioner => "only practitioner accounts can do this",
            }))
        }
    }
}
