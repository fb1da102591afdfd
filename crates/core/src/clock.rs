//! The time the services read when they decide what is due (issue 14): the outbox worker, the
//! reminders and the earlier-slot offers. Production reads the system clock; tests hold a
//! [`ManualClock`] and move it, so "72 h before" is checked at the instant and never by sleeping.

use jiff::{SignedDuration, Timestamp};
use std::sync::{Arc, Mutex};

/// Where "now" comes from.
pub trait Clock: Send + Sync {
    fn now(&self) -> Timestamp;
}

/// The system's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// A clock that only moves when told to; clones share the same time, so a test keeps one and
/// hands the other to the server.
#[derive(Debug, Clone)]
pub struct ManualClock {
    at: Arc<Mutex<Timestamp>>,
}

impl ManualClock {
    pub fn new(at: Timestamp) -> Self {
        Self {
            at: Arc::new(Mutex::new(at)),
        }
    }

    pub fn set(&self, at: Timestamp) {
        *self.lock() = at;
    }

    /// Moves the clock by `by` (saturating at the ends of the representable range).
    pub fn advance(&self, by: SignedDuration) {
        let mut at = self.lock();
        *at = at.saturating_add(by).unwrap_or(*at);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Timestamp> {
        // A Timestamp cannot be left half-written by a panic.
        self.at.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        *self.lock()
    }
}

/// The clock a configuration carries: the system's unless a test put another one.
#[derive(Clone)]
pub struct SharedClock(pub Arc<dyn Clock>);

impl SharedClock {
    pub fn now(&self) -> Timestamp {
        self.0.now()
    }
}

impl Default for SharedClock {
    fn default() -> Self {
        Self(Arc::new(SystemClock))
    }
}

impl std::fmt::Debug for SharedClock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Clock({})", self.0.now())
    }
}

impl<C: Clock + 'static> From<C> for SharedClock {
    fn from(c: C) -> Self {
        Self(Arc::new(c))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told_and_clones_share_it() {
        let start: Timestamp = "2027-10-29T07:00:00Z".parse().unwrap();
        let clock = ManualClock::new(start);
        let shared = SharedClock::from(clock.clone());
        assert_eq!(shared.now(), start);
        clock.advance(SignedDuration::from_hours(72));
        assert_eq!(shared.now(), "2027-11-01T07:00:00Z".parse().unwrap());
    }
}
