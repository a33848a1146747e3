//! [`LocalLimiter`]: one quota counted in this instance's memory, by governor's GCRA.

use std::convert::Infallible;
use std::fmt;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};
use std::num::NonZeroU32;
use std::sync::Arc;

use governor::clock::Clock as _;
use governor::middleware::{NoOpMiddleware, StateInformationMiddleware};
use governor::nanos::Nanos;
use governor::state::{InMemoryState, NotKeyed, StateStore};

use super::{Decision, LimitKey, Quota};
use crate::clock::SharedClock;

/// How many keys a [`LocalLimiter`] remembers by default.
pub const DEFAULT_MAX_KEYS: usize = 100_000;

/// One [`Quota`], counted per [`LimitKey`] in memory: the layer's own counter, and its fallback
/// when a shared backend fails.
///
/// GCRA by [governor](https://docs.rs/governor): each key holds one `AtomicU64` (its theoretical
/// arrival time), updated by compare-and-swap, so cores never wait on a lock. The keys live in a
/// bounded [`quick_cache`](https://docs.rs/quick_cache) (S3-FIFO) instead of governor's unbounded
/// map: a flood of distinct keys evicts the idle ones, and memory stays at about 64 bytes a key
/// times `max_keys`. An evicted key starts again with a full bucket. Time comes from the
/// [`Clock`](crate::clock::Clock), so a test moves a [`ManualClock`](crate::clock::ManualClock)
/// instead of sleeping.
///
/// A key is held as its 64-bit hash (foldhash, seeded at random per limiter), not as its strings:
/// a lookup then copies, compares and reference-counts nothing, which is most of what the limiter
/// costs a request. Two callers share a bucket only if their keys collide, about once in 10^10
/// pairs at 100,000 keys, and no caller can aim for a collision without the seed.
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
    limiter: Governor,
    states: States,
    seed: quick_cache::DefaultHashBuilder,
}

/// The hashed keys' states. The keys are hashes already: the cache's own hasher passes them on.
type States = Arc<
    quick_cache::sync::Cache<
        u64,
        Arc<InMemoryState>,
        quick_cache::UnitWeighter,
        BuildHasherDefault<Prehashed>,
    >,
>;

type Governor = governor::RateLimiter<u64, BoundedStore, CrateClock, StateInformationMiddleware>;

impl LocalLimiter {
    /// A limiter of `quota` on `clock`, remembering up to [`DEFAULT_MAX_KEYS`] keys.
    pub fn new(quota: Quota, clock: SharedClock) -> Self {
        Self::with_max_keys(quota, clock, DEFAULT_MAX_KEYS)
    }

    /// A limiter remembering up to `max_keys` keys (at least one).
    pub fn with_max_keys(quota: Quota, clock: SharedClock, max_keys: usize) -> Self {
        let gcra = governor::Quota::with_period(quota.interval())
            .expect("a quota's interval is at least a nanosecond")
            .allow_burst(NonZeroU32::new(quota.burst()).expect("a quota's burst is at least one"));
        let max_keys = max_keys.max(1);
        let states: States = Arc::new(quick_cache::sync::Cache::with(
            max_keys,
            max_keys as u64,
            quick_cache::UnitWeighter,
            BuildHasherDefault::default(),
            quick_cache::sync::DefaultLifecycle::default(),
        ));
        let store = BoundedStore(Arc::clone(&states));
        let limiter: governor::RateLimiter<_, _, _, NoOpMiddleware<Nanos>> =
            governor::RateLimiter::new(gcra, store, CrateClock(clock));
        let limiter = limiter.with_middleware::<StateInformationMiddleware>();
        Self {
            quota,
            limiter,
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

    /// A hasher of this limiter's seed, for a key written with `key::hash_part`.
    pub(super) fn hasher(&self) -> impl Hasher {
        self.seed.build_hasher()
    }

    /// [`acquire`](Self::acquire) for a key already hashed with [`hasher`](Self::hasher).
    pub(super) fn acquire_hashed(&self, key: u64, cost: u32) -> Decision {
        let interval = self.quota.interval();
        let burst = self.quota.burst();
        let cells = NonZeroU32::new(cost).unwrap_or(NonZeroU32::MIN);
        match self.limiter.check_key_n(&key, cells) {
            Ok(Ok(snapshot)) => {
                let remaining = snapshot.remaining_burst_capacity();
                // Whole again once the spent cells have come back, one per interval.
                let reset = interval.saturating_mul(burst.saturating_sub(remaining));
                Decision::allowed(remaining, reset)
            }
            Ok(Err(not_until)) => {
                // governor's earliest time already counts the whole cost.
                let retry_after = not_until.wait_time_from(self.limiter.clock().now());
                // The bucket is whole `burst - cost` intervals after the cost would fit.
                let reset =
                    retry_after + interval.saturating_mul(burst.saturating_sub(cells.get()));
                Decision::denied(retry_after, reset)
            }
            // More than the burst can never pass; the layer refuses such a cost when it is
            // configured, so this is a plan whose burst is below a route's cost.
            Err(_) => Decision::denied(self.quota.window(), interval.saturating_mul(burst)),
        }
    }

    /// How many keys it holds now (at most its `max_keys`).
    pub fn keys(&self) -> usize {
        self.states.len()
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

/// The crate's clock as governor reads time: nanoseconds since the Unix epoch.
#[derive(Clone)]
struct CrateClock(SharedClock);

impl governor::clock::Clock for CrateClock {
    type Instant = Nanos;

    fn now(&self) -> Nanos {
        Nanos::from(self.0.now_nanos())
    }
}

/// governor's per-key states in a bounded cache. Each state is an `Arc`, so that an update is a
/// compare-and-swap on the state itself, outside the cache's shard lock.
struct BoundedStore(States);

impl StateStore for BoundedStore {
    type Key = u64;

    fn measure_and_replace<T, F, E>(&self, key: &u64, f: F) -> Result<T, E>
    where
        F: Fn(Option<Nanos>) -> Result<(T, Nanos), E>,
    {
        let state = match self.0.get(key) {
            Some(state) => state,
            None => self
                .0
                .get_or_insert_with(key, || Ok::<_, Infallible>(Arc::default()))
                .unwrap_or_else(|never| match never {}),
        };
        state.measure_and_replace(&NotKeyed::NonKey, f)
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
    fn a_cost_is_spent_whole_or_not_at_all() {
        let clock = ManualClock::at(1_800_000_000);
        let limiter = LocalLimiter::new(Quota::per_minute(10), Arc::new(clock.clone()));
        let caller = key("caller");
        let first = limiter.acquire(&caller, 7);
        assert_eq!((first.is_allowed(), first.remaining()), (true, 3));
        assert_eq!(first.reset(), Duration::from_secs(42));
        let refused = limiter.acquire(&caller, 4);
        assert!(!refused.is_allowed());
        // One more request of the four needed comes back every 6 s.
        assert_eq!(refused.retry_after(), Duration::from_secs(6));
        assert_eq!(refused.reset(), Duration::from_secs(42));
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
