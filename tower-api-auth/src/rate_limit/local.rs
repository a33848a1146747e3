//! [`LocalLimiter`]: one quota counted in this instance's memory, by GCRA.

use std::fmt;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::{Decision, LimitKey, Quota};
use crate::clock::SharedClock;

/// How many keys a [`LocalLimiter`] remembers by default.
pub const DEFAULT_MAX_KEYS: usize = 100_000;

/// One [`Quota`], counted per [`LimitKey`] in memory: the layer's own counter, and its fallback
/// when a shared backend fails.
///
/// GCRA (the generic cell rate algorithm: a token bucket without a timer): each key holds one
/// `AtomicU64`, its theoretical arrival time, updated by compare-and-swap, so a check holds no
/// lock of its own. The keys live in a bounded [`quick_cache`](https://docs.rs/quick_cache)
/// (S3-FIFO, a shard read lock per lookup): a flood of distinct keys evicts the idle ones, and
/// memory stays at about 80 bytes a key times `max_keys`. An evicted key starts again with a full
/// bucket. Time comes from the [`Clock`](crate::clock::Clock) (`now_nanos`), so a test moves a
/// [`ManualClock`](crate::clock::ManualClock) instead of sleeping.
///
/// The arithmetic is written here rather than taken from governor, whose limiter cannot do three
/// things the layer needs: look without spending ([`peek`](Self::peek), so a failed-login
/// throttle is checked before the password hash), give back what a request spent when a later
/// quota refuses it ([`refund`](Self::refund)), and tell when the next unit comes back (the `t`
/// of the `RateLimit` field). It is the same arithmetic as the Redis store's script, so the
/// in-memory fallback and the fleet agree.
///
/// A key is held as its 64-bit hash (foldhash, seeded at random per limiter), not as its strings:
/// a lookup then copies, compares and reference-counts nothing of the key. Two callers share a
/// bucket only if their keys collide, about once in 10^10 pairs at 100,000 keys, and no caller
/// can aim for a collision without the seed.
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use tower_api_auth::clock::ManualClock;
/// use tower_api_auth::rate_limit::{KeyPart, LimitKey, LocalLimiter, Quota};
///
/// let clock = ManualClock::at(1_800_000_000);
/// let limiter = LocalLimiter::new(Quota::per_hour(3), Arc::new(clock.clone()));
/// let key = LimitKey::new("hourly", [KeyPart::Principal(Arc::from("alice"))]);
/// assert!(limiter.acquire(&key, 1).is_allowed());
/// assert!(limiter.acquire(&key, 2).is_allowed());
/// let refused = limiter.acquire(&key, 1);
/// assert!(!refused.is_allowed());
/// assert_eq!(refused.retry_after(), Duration::from_secs(1200)); // one request per 20 minutes
/// clock.advance(Duration::from_secs(1200));
/// assert!(limiter.acquire(&key, 1).is_allowed());
/// ```
pub struct LocalLimiter {
    quota: Quota,
    gcra: Gcra,
    clock: SharedClock,
    states: States,
    seed: quick_cache::DefaultHashBuilder,
}

/// The hashed keys' theoretical arrival times (unix nanoseconds; 0 for a fresh key). The keys
/// are hashes already: the cache's own hasher passes them on.
type States = quick_cache::sync::Cache<
    u64,
    Arc<AtomicU64>,
    quick_cache::UnitWeighter,
    BuildHasherDefault<Prehashed>,
>;

impl LocalLimiter {
    /// A limiter of `quota` on `clock`, remembering up to [`DEFAULT_MAX_KEYS`] keys.
    pub fn new(quota: Quota, clock: SharedClock) -> Self {
        Self::with_max_keys(quota, clock, DEFAULT_MAX_KEYS)
    }

    /// A limiter remembering up to `max_keys` keys (at least one).
    pub fn with_max_keys(quota: Quota, clock: SharedClock, max_keys: usize) -> Self {
        let max_keys = max_keys.max(1);
        let states = quick_cache::sync::Cache::with(
            max_keys,
            max_keys as u64,
            quick_cache::UnitWeighter,
            BuildHasherDefault::default(),
            quick_cache::sync::DefaultLifecycle::default(),
        );
        Self {
            gcra: Gcra::of(&quota),
            quota,
            clock,
            states,
            seed: quick_cache::DefaultHashBuilder::default(),
        }
    }

    /// The quota.
    pub fn quota(&self) -> &Quota {
        &self.quota
    }

    /// Spends `cost` of `key`'s quota if that much is left (a cost of zero counts as one; a cost
    /// above the burst is always refused).
    pub fn acquire(&self, key: &LimitKey, cost: u32) -> Decision {
        self.acquire_hashed(self.seed.hash_one(key), cost)
    }

    /// What [`acquire`](Self::acquire) would answer now, spending nothing.
    pub fn peek(&self, key: &LimitKey, cost: u32) -> Decision {
        let tat = self
            .states
            .peek(&self.seed.hash_one(key))
            .map_or(0, |state| state.load(Ordering::Acquire));
        self.gcra.decide(tat, self.clock.now_nanos(), cost).0
    }

    /// Gives back `cost` that `key` spent (a later quota refused the request it was spent on).
    pub fn refund(&self, key: &LimitKey, cost: u32) {
        self.refund_hashed(self.seed.hash_one(key), cost);
    }

    /// How many keys it holds now (at most its `max_keys`).
    pub fn keys(&self) -> usize {
        self.states.len()
    }

    /// A hasher of this limiter's seed, for a key written with `key::hash_part`.
    pub(super) fn hasher(&self) -> impl Hasher {
        self.seed.build_hasher()
    }

    /// [`acquire`](Self::acquire) for a key already hashed with [`hasher`](Self::hasher).
    pub(super) fn acquire_hashed(&self, key: u64, cost: u32) -> Decision {
        self.spend(key, |seen, now| self.gcra.decide(seen, now, cost))
    }

    /// [`acquire_hashed`](Self::acquire_hashed) for a caller that needs to know only whether
    /// the request passed, and why not when it did not: a passing request costs no division
    /// (the two that `remaining` and `reset` take, tens of cycles each on the layer's path).
    pub(super) fn spend_hashed(&self, key: u64, cost: u32) -> Result<(), Decision> {
        self.spend(key, |seen, now| match self.gcra.admits(seen, now, cost) {
            Some(next) => (Ok(()), Some(next)),
            None => (Err(self.gcra.decide(seen, now, cost).0), None),
        })
    }

    /// Updates a hashed key's arrival time by compare-and-swap: `step` answers for the time it
    /// saw and now, with the time to store if the request passes.
    fn spend<T>(&self, key: u64, step: impl Fn(u64, u64) -> (T, Option<u64>)) -> T {
        let state = self.state(key);
        let now = self.clock.now_nanos();
        let mut seen = state.load(Ordering::Acquire);
        loop {
            let (answer, next) = step(seen, now);
            let Some(next) = next else {
                return answer;
            };
            match state.compare_exchange_weak(seen, next, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return answer,
                Err(actual) => seen = actual,
            }
        }
    }

    /// The arrival time of a hashed key, a fresh one (0) if it had none.
    fn state(&self, key: u64) -> Arc<AtomicU64> {
        match self.states.get(&key) {
            Some(state) => state,
            None => self
                .states
                .get_or_insert_with(&key, || Ok::<_, std::convert::Infallible>(Arc::default()))
                .unwrap_or_else(|never| match never {}),
        }
    }

    /// [`refund`](Self::refund) for a hashed key.
    pub(super) fn refund_hashed(&self, key: u64, cost: u32) {
        let Some(state) = self.states.peek(&key) else {
            return;
        };
        let weight = self.gcra.weight(cost);
        let _ = state.fetch_update(Ordering::AcqRel, Ordering::Acquire, |tat| {
            // A refund never makes a bucket fuller than whole: the arrival time stays at or after
            // now less nothing (0 is a fresh key, a full bucket).
            Some(tat.saturating_sub(weight))
        });
    }
}

/// GCRA in nanoseconds: `interval` per unit, `tolerance` = `burst` units.
#[derive(Clone, Copy, Debug)]
pub(super) struct Gcra {
    interval: u64,
    tolerance: u64,
    burst: u32,
}

impl Gcra {
    pub(super) fn of(quota: &Quota) -> Self {
        let interval = u64::try_from(quota.interval().as_nanos())
            .unwrap_or(u64::MAX)
            .max(1);
        Self {
            interval,
            tolerance: interval.saturating_mul(u64::from(quota.burst())),
            burst: quota.burst(),
        }
    }

    fn weight(&self, cost: u32) -> u64 {
        self.interval.saturating_mul(u64::from(cost.max(1)))
    }

    /// The decision for a key whose arrival time is `tat` (0: fresh), and the arrival time to
    /// store if it passes.
    ///
    /// The bucket is `tolerance` deep: a request of weight `w` passes when
    /// `max(tat, now) + w - now <= tolerance`. What is left is what another `tolerance` allows;
    /// the next unit comes back when the wait drops to the next multiple of `interval`.
    pub(super) fn decide(&self, tat: u64, now: u64, cost: u32) -> (Decision, Option<u64>) {
        let weight = self.weight(cost);
        let ahead = tat.saturating_sub(now); // how far the bucket is drawn
        let wanted = ahead.saturating_add(weight);
        let Some(next) = self.admits(tat, now, cost) else {
            let retry_after = if weight > self.tolerance {
                // More than the burst: never passes. Wait out a whole bucket, the best there is.
                self.tolerance
            } else {
                wanted - self.tolerance
            };
            let decision = Decision::denied(self.nanos(retry_after), self.next_unit(ahead))
                .with_remaining(self.units_left(ahead));
            return (decision, None);
        };
        (
            Decision::allowed(self.units_left(wanted), self.next_unit(wanted)),
            Some(next),
        )
    }

    /// The arrival time to store if a request of `cost` passes at `now`, the key's being `tat`;
    /// `None` if it does not pass. What [`decide`](Self::decide) decides, without the details.
    fn admits(&self, tat: u64, now: u64, cost: u32) -> Option<u64> {
        let weight = self.weight(cost);
        let wanted = tat.saturating_sub(now).saturating_add(weight);
        (weight <= self.tolerance && wanted <= self.tolerance).then(|| now.saturating_add(wanted))
    }

    /// Whole units left when the bucket is drawn `ahead`.
    fn units_left(&self, ahead: u64) -> u32 {
        let left = (self.tolerance.saturating_sub(ahead)) / self.interval;
        u32::try_from(left).unwrap_or(self.burst).min(self.burst)
    }

    /// Until one more unit is back, drawn `ahead`: zero when the bucket is full.
    fn next_unit(&self, ahead: u64) -> Duration {
        if ahead == 0 {
            return Duration::ZERO;
        }
        // Units come back each time `ahead` falls to a multiple of the interval below the
        // tolerance; the tolerance is a multiple of it, so the next one is `ahead`'s remainder.
        let last = self.tolerance.saturating_sub(self.interval);
        if ahead > last {
            // Drawn past the bucket (a backend's clock stepped back, a quota made smaller under
            // the same name): the next unit is back once it is within the bucket again.
            return self.nanos(ahead - last);
        }
        let partial = ahead % self.interval;
        self.nanos(if partial == 0 { self.interval } else { partial })
    }

    fn nanos(&self, nanos: u64) -> Duration {
        Duration::from_nanos(nanos)
    }
}

impl fmt::Debug for LocalLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalLimiter")
            .field("quota", &self.quota)
            .field("keys", &self.keys())
            .finish()
    }
}

/// Passes on a key that is a hash already.
#[derive(Default)]
struct Prehashed(u64);

impl Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u64` is used (the key is a u64); fold anything else in.
        for byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*byte);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::clock::ManualClock;
    use crate::rate_limit::KeyPart;

    fn key(name: &str) -> LimitKey {
        LimitKey::new("p", [KeyPart::Principal(Arc::from(name))])
    }

    #[test]
    fn a_flood_of_distinct_keys_stays_within_the_bound() {
        let limiter = LocalLimiter::with_max_keys(
            Quota::per_minute(5),
            Arc::new(ManualClock::at(1_800_000_000)),
            1000,
        );
        for i in 0..20_000 {
            assert!(
                limiter
                    .acquire(&key(&format!("caller-{i}")), 1)
                    .is_allowed()
            );
        }
        assert!(limiter.keys() <= 1000, "{} keys held", limiter.keys());
    }

    #[test]
    fn a_hot_key_survives_a_flood_of_one_time_keys() {
        let limiter = LocalLimiter::with_max_keys(
            Quota::per_hour(10),
            Arc::new(ManualClock::at(1_800_000_000)),
            100,
        );
        let hot = key("hot");
        for _ in 0..10 {
            assert!(limiter.acquire(&hot, 1).is_allowed());
        }
        for i in 0..5_000 {
            let _ = limiter.acquire(&key(&format!("once-{i}")), 1);
            // Evicting the hot key would hand it a fresh quota: it must stay refused.
            if i % 50 == 0 {
                assert!(
                    !limiter.acquire(&hot, 1).is_allowed(),
                    "after {i} one-time keys"
                );
            }
        }
    }

    #[test]
    fn the_next_unit_comes_back_at_the_interval_boundary() {
        let clock = ManualClock::at(1_800_000_000);
        let limiter = LocalLimiter::new(Quota::per_minute(10), Arc::new(clock.clone()));
        let caller = key("caller");
        for _ in 0..10 {
            assert!(limiter.acquire(&caller, 1).is_allowed());
        }
        clock.advance(Duration::from_secs(4));
        let refused = limiter.acquire(&caller, 1);
        assert_eq!(refused.retry_after(), Duration::from_secs(2));
        assert_eq!(refused.reset(), Duration::from_secs(2));
        clock.advance(Duration::from_secs(2));
        let passed = limiter.acquire(&caller, 1);
        assert!(passed.is_allowed());
        assert_eq!(
            (passed.remaining(), passed.reset()),
            (0, Duration::from_secs(6))
        );
        // Idle for a whole window: full again. A peek answers as the request would be answered:
        // nine left after it, the tenth back in one interval.
        clock.advance(Duration::from_secs(60));
        let peeked = limiter.peek(&caller, 1);
        assert_eq!(
            (peeked.remaining(), peeked.reset()),
            (9, Duration::from_secs(6))
        );
    }

    #[test]
    fn peek_spends_nothing_and_refund_gives_back() {
        let clock = ManualClock::at(1_800_000_000);
        let limiter = LocalLimiter::new(Quota::per_hour(2), Arc::new(clock));
        let caller = key("caller");
        assert!(limiter.peek(&caller, 2).is_allowed());
        assert!(
            limiter.peek(&caller, 2).is_allowed(),
            "a peek spends nothing"
        );
        assert!(limiter.acquire(&caller, 2).is_allowed());
        assert!(!limiter.peek(&caller, 1).is_allowed());
        limiter.refund(&caller, 1);
        assert!(limiter.peek(&caller, 1).is_allowed(), "one given back");
        assert!(limiter.acquire(&caller, 1).is_allowed());
        assert!(!limiter.acquire(&caller, 1).is_allowed());
        // A refund never makes a bucket more than full.
        limiter.refund(&caller, 50);
        assert!(limiter.acquire(&caller, 2).is_allowed());
        assert!(!limiter.acquire(&caller, 1).is_allowed());
    }

    #[test]
    fn a_cost_is_spent_whole_or_not_at_all() {
        let clock = ManualClock::at(1_800_000_000);
        let limiter = LocalLimiter::new(Quota::per_minute(10), Arc::new(clock.clone()));
        let caller = key("caller");
        let first = limiter.acquire(&caller, 7);
        assert_eq!((first.is_allowed(), first.remaining()), (true, 3));
        // One unit comes back every 6 s.
        assert_eq!(first.reset(), Duration::from_secs(6));
        let refused = limiter.acquire(&caller, 4);
        assert!(!refused.is_allowed());
        // Three are left, the fourth is back in 6 s.
        assert_eq!(refused.remaining(), 3);
        assert_eq!(refused.retry_after(), Duration::from_secs(6));
        assert_eq!(refused.reset(), Duration::from_secs(6));
        assert!(
            limiter.acquire(&caller, 3).is_allowed(),
            "the refusal spent nothing"
        );
        let never = limiter.acquire(&caller, 11);
        assert!(!never.is_allowed());
        clock.advance(Duration::from_secs(60));
        assert!(
            !limiter.acquire(&caller, 11).is_allowed(),
            "more than the burst never passes"
        );
    }
}
