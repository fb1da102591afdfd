//! Identity: accounts, passwords and bearer sessions, identities sealed under each account's
//! own key, erasure, relatives a patient books for, practice accounts (practitioners and the
//! assistants they invite), and the `Caller` extractor every feature's API uses.
//!
//! [`Accounts`] is this feature's service; it is built on [`Core`] and dereferences to it,
//! as every feature service does to the layer it is built on.

mod accounts;
pub mod api;
pub mod dead_letters;
mod family;
pub mod front_door;
pub mod mfa;
pub mod operators;
mod organisations;
pub mod outbox;
mod practice_account;
mod profile;
pub mod session_cache;
mod signup;
mod team;
mod verification;

pub use accounts::{
    hash_token, parse_birth_date, parse_email, parse_name, parse_phone, Identity, NewIdentity,
    SignedIn,
};
pub use family::Relative;
pub use front_door::{Backoff, IdentityConfig, ThrottleConfig};
pub use operators::{NewOperator, OperatorAuth, OperatorId, OperatorView};
pub use organisations::Invitee;
pub use profile::{AccountView, ProfileUpdate};
pub use signup::SIGNUP_CODE_VALID;
pub use team::Invitation;
pub use verification::EmailConfirmed;

use careslot_core::Core;
pub use careslot_core::{AppError, AppResult, Caller};
use std::ops::Deref;
use std::sync::Arc;

/// Accounts, sessions, relatives and practice teams.
pub struct Accounts {
    core: Arc<Core>,
    /// Wakes this process's outbox delivery workers when a write queued messages.
    pub outbox_wake: Arc<tokio::sync::Notify>,
    /// Wakes this process's webhook worker when a write queued webhook events.
    pub webhook_wake: Arc<tokio::sync::Notify>,
    /// The front door's settings (hashing bounds, throttling, proxies, idle timeout).
    pub identity: IdentityConfig,
    hashing: front_door::HashingPool,
    /// Sessions authenticated here; `None` when off (`IdentityConfig::session_cache`) or
    /// when the store cannot hear other processes' session changes.
    sessions: Option<Arc<session_cache::SessionCache>>,
}

impl Accounts {
    pub fn new(core: Arc<Core>, identity: IdentityConfig) -> Arc<Self> {
        let hashing =
            front_door::HashingPool::new(identity.hashing_concurrency, identity.hashing_queue);
        let sessions = identity.session_cache.then(|| {
            let cache = Arc::new(session_cache::SessionCache::default());
            let heard = cache.clone();
            core.store
                .watch_sessions(Arc::new(move |signal| {
                    heard.signal(signal, std::time::Instant::now())
                }))
                .then_some(cache)
        });
        Arc::new(Self {
            core,
            outbox_wake: Arc::new(tokio::sync::Notify::new()),
            webhook_wake: Arc::new(tokio::sync::Notify::new()),
            identity,
            hashing,
            sessions: sessions.flatten(),
        })
    }

    pub fn core(&self) -> &Arc<Core> {
        &self.core
    }

    /// The session cache, when on (see [`session_cache`]).
    pub fn session_cache(&self) -> Option<&session_cache::SessionCache> {
        self.sessions.as_deref()
    }
}

impl Deref for Accounts {
    type Target = Core;

    fn deref(&self) -> &Core {
        &self.core
    }
}
