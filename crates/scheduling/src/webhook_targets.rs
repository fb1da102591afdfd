//! Which practices have webhooks, so that a booking of a practice without any queues no
//! webhook event: no JSON, no fan-out statement in the writer's transaction, no wake of the
//! webhook worker (issue 14: what the outbox costs a booking).
//!
//! On one node (SQLite) the list is exact: this process makes every subscription change. On
//! several nodes a subscription made elsewhere is learnt by reading the list again, at least
//! every `refresh`; subscriptions only receive events from `Store::webhook_activation_delay`
//! after their creation (the store's fan-out says so too), which is longer than `refresh`.
//! So no node skips an event a subscription should get. While a read is under way, changes
//! wait for its answer; when in doubt (the read failed), an event is queued and the fan-out's
//! join decides.

use careslot_domain::PractitionerId;
use careslot_store::Store;
use std::collections::HashSet;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

pub(crate) struct WebhookTargets {
    mode: Mode,
}

enum Mode {
    /// One node: what the store said, plus what subscribed here since.
    Exact(Mutex<Known>),
    /// Several nodes: the list as read at most `refresh` ago.
    Refreshed {
        refresh: Duration,
        read: Mutex<Option<(Instant, HashSet<PractitionerId>)>>,
        /// Held by the one read under way: the others wait for its answer instead of queueing
        /// an event in doubt (which sends their whole group down the outbox's general path).
        reading: tokio::sync::Mutex<()>,
    },
}

#[derive(Default)]
struct Known {
    /// `None` until first read (or after a deletion).
    stored: Option<HashSet<PractitionerId>>,
    /// Practices that subscribed in this process: wanted whatever a read that raced with the
    /// subscription saw. A stale entry only costs a fan-out that finds nothing.
    added: HashSet<PractitionerId>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl WebhookTargets {
    /// `activation_delay`: the store's; zero means one node.
    pub(crate) fn new(activation_delay: jiff::SignedDuration) -> Self {
        let delay = Duration::try_from(activation_delay).unwrap_or_default();
        let mode = if delay.is_zero() {
            Mode::Exact(Mutex::new(Known::default()))
        } else {
            Mode::Refreshed {
                // A read that takes long still ends well before the delay.
                refresh: delay / 5,
                read: Mutex::new(None),
                reading: tokio::sync::Mutex::new(()),
            }
        };
        Self { mode }
    }

    /// Whether a change to `practitioner`'s appointments must queue a webhook event.
    pub(crate) async fn wanted(&self, store: &dyn Store, practitioner: &PractitionerId) -> bool {
        match &self.mode {
            Mode::Exact(known) => {
                {
                    let k = lock(known);
                    if k.added.contains(practitioner) {
                        return true;
                    }
                    if let Some(stored) = &k.stored {
                        return stored.contains(practitioner);
                    }
                }
                let Ok(loaded) = store.webhook_practitioners().await else {
                    return true;
                };
                let stored: HashSet<PractitionerId> = loaded.into_iter().collect();
                let wanted = stored.contains(practitioner);
                lock(known).stored = Some(stored);
                wanted
            }
            Mode::Refreshed {
                refresh,
                read,
                reading,
            } => {
                let fresh = |read: &Mutex<Option<(Instant, HashSet<PractitionerId>)>>| {
                    lock(read)
                        .as_ref()
                        .filter(|(at, _)| at.elapsed() < *refresh)
                        .map(|(_, set)| set.contains(practitioner))
                };
                if let Some(wanted) = fresh(read) {
                    return wanted;
                }
                // One read at a time; whoever waited for it reads its answer.
                let _reading = reading.lock().await;
                if let Some(wanted) = fresh(read) {
                    return wanted;
                }
                // The list is as fresh as the moment the read started.
                let started = Instant::now();
                let result = store.webhook_practitioners().await;
                let Ok(loaded) = result else {
                    return true;
                };
                let set: HashSet<PractitionerId> = loaded.into_iter().collect();
                let wanted = set.contains(practitioner);
                *lock(read) = Some((started, set));
                wanted
            }
        }
    }

    /// Before a subscription is stored: changes from now on queue their events.
    pub(crate) fn subscribing(&self, practitioner: &PractitionerId) {
        if let Mode::Exact(known) = &self.mode {
            lock(known).added.insert(practitioner.clone());
        }
    }

    /// After a subscription was deleted: read the store again on the next change.
    pub(crate) fn forget(&self) {
        match &self.mode {
            Mode::Exact(known) => lock(known).stored = None,
            Mode::Refreshed { read, .. } => *lock(read) = None,
        }
    }
}
