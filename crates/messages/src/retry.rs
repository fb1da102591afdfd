//! When to try a failed message again: exponential backoff with full jitter, capped, and a
//! bounded number of attempts after which the message is a dead letter.

use jiff::{SignedDuration, Timestamp};
use rand::Rng;

/// Backoff parameters. The delay before attempt `n + 1` (after `n` failed attempts) is drawn
/// uniformly from `[floor, min(cap, base · 2^(n−1))]` ("full jitter"), so workers that failed
/// together do not come back together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub base: SignedDuration,
    pub cap: SignedDuration,
    /// Never retry sooner than this (keeps a jitter of zero from spinning).
    pub floor: SignedDuration,
    /// Attempts in all, the first one included; after that many failures, dead letter.
    pub max_attempts: u32,
}

impl Default for RetryPolicy {
    /// 30 s doubling to at most 6 h, 12 attempts: about a day and a half of trying at worst.
    fn default() -> Self {
        RetryPolicy {
            base: SignedDuration::from_secs(30),
            cap: SignedDuration::from_hours(6),
            floor: SignedDuration::from_secs(1),
            max_attempts: 12,
        }
    }
}

impl RetryPolicy {
    /// The upper bound of the delay after `attempts` failed attempts (before jitter).
    pub fn ceiling(&self, attempts: u32) -> SignedDuration {
        let base = self.base.as_millis().max(0);
        let cap = self.cap.as_millis().max(0);
        let shift = attempts.saturating_sub(1).min(62);
        let grown = base.saturating_mul(1i128 << shift);
        let ms = grown.min(cap).max(self.floor.as_millis().max(0));
        SignedDuration::from_millis(i64::try_from(ms).unwrap_or(i64::MAX))
    }

    /// When to try again after `attempts` failed attempts (1 after the first failure), or
    /// `None` when that was the last allowed attempt: the message becomes a dead letter.
    pub fn next_attempt<R: Rng + ?Sized>(
        &self,
        attempts: u32,
        now: Timestamp,
        rng: &mut R,
    ) -> Option<Timestamp> {
        if attempts >= self.max_attempts {
            return None;
        }
        let floor = self.floor.as_millis().max(0) as i64;
        let ceiling = self.ceiling(attempts).as_millis() as i64;
        let delay = if ceiling > floor {
            rng.gen_range(floor..=ceiling)
        } else {
            floor
        };
        now.checked_add(SignedDuration::from_millis(delay)).ok()
    }
}

/// [`RetryPolicy::next_attempt`] with the default policy.
pub fn next_attempt<R: Rng + ?Sized>(
    attempts: u32,
    now: Timestamp,
    rng: &mut R,
) -> Option<Timestamp> {
    RetryPolicy::default().next_attempt(attempts, now, rng)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    fn now() -> Timestamp {
        "2026-03-29T00:30:00Z".parse().unwrap()
    }

    #[test]
    fn delays_stay_within_floor_and_ceiling() {
        let p = RetryPolicy::default();
        let mut rng = StdRng::seed_from_u64(7);
        for attempts in 1..p.max_attempts {
            let ceiling = p.ceiling(attempts);
            for _ in 0..200 {
                let at = p.next_attempt(attempts, now(), &mut rng).unwrap();
                let delay = at.duration_since(now());
                assert!(delay >= p.floor, "{attempts}: {delay:?}");
                assert!(delay <= ceiling, "{attempts}: {delay:?} > {ceiling:?}");
            }
        }
    }

    #[test]
    fn jitter_covers_the_range() {
        let p = RetryPolicy::default();
        let mut rng = StdRng::seed_from_u64(42);
        let ceiling = p.ceiling(5);
        let delays: Vec<SignedDuration> = (0..500)
            .map(|_| {
                p.next_attempt(5, now(), &mut rng)
                    .unwrap()
                    .duration_since(now())
            })
            .collect();
        let max = delays.iter().max().unwrap();
        let min = delays.iter().min().unwrap();
        assert!(*max > ceiling * 9 / 10, "{max:?}");
        assert!(*min < ceiling / 10, "{min:?}");
    }

    #[test]
    fn ceilings_double_then_stay_capped() {
        let p = RetryPolicy::default();
        assert_eq!(p.ceiling(1), SignedDuration::from_secs(30));
        assert_eq!(p.ceiling(2), SignedDuration::from_secs(60));
        assert_eq!(p.ceiling(3), SignedDuration::from_secs(120));
        let mut previous = SignedDuration::ZERO;
        for attempts in 0..200 {
            let c = p.ceiling(attempts);
            assert!(c >= previous, "not monotone at {attempts}");
            assert!(c <= p.cap);
            previous = c;
        }
        assert_eq!(p.ceiling(199), p.cap);
    }

    #[test]
    fn none_after_the_last_attempt() {
        let p = RetryPolicy {
            max_attempts: 3,
            ..RetryPolicy::default()
        };
        let mut rng = StdRng::seed_from_u64(1);
        assert!(p.next_attempt(1, now(), &mut rng).is_some());
        assert!(p.next_attempt(2, now(), &mut rng).is_some());
        assert_eq!(p.next_attempt(3, now(), &mut rng), None);
        assert_eq!(p.next_attempt(u32::MAX, now(), &mut rng), None);
        assert!(next_attempt(11, now(), &mut rng).is_some());
        assert_eq!(next_attempt(12, now(), &mut rng), None);
    }

    #[test]
    fn degenerate_policies_do_not_panic() {
        let p = RetryPolicy {
            base: SignedDuration::ZERO,
            cap: SignedDuration::ZERO,
            floor: SignedDuration::ZERO,
            max_attempts: 2,
        };
        let mut rng = StdRng::seed_from_u64(3);
        assert_eq!(p.next_attempt(1, now(), &mut rng), Some(now()));
        let far = Timestamp::MAX;
        assert_eq!(RetryPolicy::default().next_attempt(1, far, &mut rng), None);
    }
}
