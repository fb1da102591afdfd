//! Which practices have webhooks, so that a booking of a practice without any queues no
//! webhook event: no JSON, no fan-out statement in the single writer's transaction, no wake
//! of the webhook worker (issue 14: the outbox's cost on a booking).
//!
//! Exact only where this process sees every subscription change: SQLite serves one node.
//! Several nodes on PostgreSQL would need each other's changes, so there every change queues
//! its event and the store's fan-out (a join on the subscriptions) decides.

use careslot_domain::PractitionerId;
use careslot_store::Store;
use std::collections::HashSet;
use std::sync::{Mutex, MutexGuard, PoisonError};

pub(crate) struct WebhookTargets {
    /// `None` on several nodes: always queue.
    known: Option<Mutex<Known>>,
}

#[derive(Default)]
struct Known {
    /// What the store said, `None` until first read (or after a deletion).
    stored: Option<HashSet<PractitionerId>>,
    /// Practices that subscribed in this process: wanted whatever a read that raced with the
    /// subscription saw. A stale entry only costs a fan-out that finds nothing.
    added: HashSet<PractitionerId>,
}

impl WebhookTargets {
    pub(crate) fn new(single_node: bool) -> Self {
        Self {
            known: single_node.then(|| Mutex::new(Known::default())),
        }
    }

    fn known(&self) -> Option<MutexGuard<'_, Known>> {
        let known = self.known.as_ref()?;
        Some(known.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Whether a change to `practitioner`'s appointments must queue a webhook event. When in
    /// doubt (several nodes, a store failure), yes: the fan-out finds no subscription then.
    pub(crate) async fn wanted(&self, store: &dyn Store, practitioner: &PractitionerId) -> bool {
        match self.known() {
            None => return true,
            Some(k) => {
                if k.added.contains(practitioner) {
                    return true;
                }
                if let Some(stored) = &k.stored {
                    return stored.contains(practitioner);
                }
            }
        }
        let Ok(loaded) = store.webhook_practitioners().await else {
            return true;
        };
        let stored: HashSet<PractitionerId> = loaded.into_iter().collect();
        let wanted = stored.contains(practitioner);
        if let Some(mut k) = self.known() {
            k.stored = Some(stored);
        }
        wanted
    }

    /// Before a subscription is stored: changes from now on queue their events.
    pub(crate) fn subscribing(&self, practitioner: &PractitionerId) {
        if let Some(mut k) = self.known() {
            k.added.insert(practitioner.clone());
        }
    }

    /// After a subscription was deleted: read the store again on the next change.
    pub(crate) fn forget(&self) {
        if let Some(mut k) = self.known() {
            k.stored = None;
        }
    }
}
