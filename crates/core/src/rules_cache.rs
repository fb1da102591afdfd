//! Campaign rules (vaccine protocols, eligibility phases) change a few times a campaign but
//! are read by every hold: they are kept for a couple of seconds instead of being read from
//! the database on every request. A change made through this node is seen at once (the
//! writer calls `forget`); other nodes see it within `TTL`.

use parking_lot::Mutex;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

const TTL: Duration = Duration::from_secs(2);

pub struct Remembered<T> {
    slot: Mutex<Option<(Instant, Arc<T>)>>,
}

impl<T> Default for Remembered<T> {
    fn default() -> Self {
        Self {
            slot: Mutex::new(None),
        }
    }
}

impl<T> Remembered<T> {
    pub async fn get<E, F>(&self, load: impl FnOnce() -> F) -> Result<Arc<T>, E>
    where
        F: Future<Output = Result<T, E>>,
    {
        if let Some((at, v)) = &*self.slot.lock() {
            if at.elapsed() < TTL {
                return Ok(v.clone());
            }
        }
        let fresh = Arc::new(load().await?);
        *self.slot.lock() = Some((Instant::now(), fresh.clone()));
        Ok(fresh)
    }

    pub fn forget(&self) {
        *self.slot.lock() = None;
    }
}
