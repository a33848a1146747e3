//! [`OverLimitCache`]: a fleet backend's refusals remembered locally, so that a client far over
//! its quota costs no round trip.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use quick_cache::sync::Cache;

use super::{Decision, LimitKey, Quota, RateLimitBackend};
use crate::clock::{self, SharedClock};
use crate::store::{Lookup, StoreError};

/// How many refusals an [`OverLimitCache`] remembers by default.
const DEFAULT_CAPACITY: usize = 10_000;

/// What a refusal told of the key's bucket: its theoretical arrival time (when it would be whole
/// again, on the cache's clock, in nanoseconds). Any request is answered from it with the core's
/// arithmetic ([`Decision::gcra`]) for as long as that refuses.
#[derive(Clone, Copy, Debug)]
struct Refusal {
    arrival: u64,
}

type Refusals = Cache<(LimitKey, Quota), Refusal>;

/// A [`RateLimitBackend`] in front of another (the Redis store) that remembers each refusal
/// until its `retry_after` passes and answers the key's requests in that time itself, as Envoy
/// caches over-limit keys: a client far over its quota costs a memory lookup, not a round trip.
///
/// **Its overshoot is zero**: it never admits a request locally, so the fleet admits exactly what
/// the backend admits. A refusal tells how full the key's bucket is; from it, each later request
/// of the key (of any cost) is answered with the same arithmetic the backend uses, locally for as
/// long as that refuses, from the backend as soon as it would pass. The bucket drains at the
/// quota's rate and other instances' requests only fill it, so what is refused locally the
/// backend would refuse too — except after a refund (a request refused by a later quota gives
/// back what it spent), which empties a bucket faster than the rate: a key may then be refused
/// locally for at most the refund's worth of time while the backend would admit it. Its clock
/// starts before the backend is asked, so its `Retry-After` ends no later than the backend's.
///
/// What it costs: memory for up to `capacity` refusals (10,000 by default; each holds the
/// [`LimitKey`], which shares the identity's strings) — beyond that the least useful are
/// evicted, and an evicted key just asks the backend again. Refusals are counted per
/// [`Quota`] too, so a key whose plan changes is not held to the old one's refusal. The
/// answers it gives locally show `retry_after` and `reset` shrinking with time, as the backend
/// would; `reset` does not see the other instances' spending in that time.
///
/// ```
/// use std::time::Duration;
/// use tower_api_auth::clock::ManualClock;
/// use tower_api_auth::rate_limit::{Decision, LimitKey, OverLimitCache, Quota, RateLimitBackend};
/// use tower_api_auth::store::{Lookup, StoreError};
///
/// /// A backend that refuses everything (for the example; the Redis store in real life).
/// #[derive(Debug)]
/// struct Full;
///
/// impl RateLimitBackend for Full {
///     fn acquire(&self, _: &LimitKey, _: &Quota, _: u32) -> Lookup<Decision, StoreError> {
///         Lookup::Ready(Ok(Decision::denied(Duration::from_secs(3), Duration::from_secs(3600))))
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), StoreError> {
/// let clock = ManualClock::at(1_800_000_000);
/// let limiter = OverLimitCache::new(Full).clock(clock.clone());
/// let (key, quota) = (LimitKey::new("hourly", []), Quota::per_hour(1000));
/// assert!(!limiter.acquire(&key, &quota, 1).resolve().await?.is_allowed()); // asked Full
/// clock.advance(Duration::from_secs(1));
/// let cached = limiter.acquire(&key, &quota, 1); // answered from memory
/// assert!(matches!(cached, Lookup::Ready(_)));
/// assert_eq!(cached.resolve().await?.retry_after(), Duration::from_secs(2));
/// # Ok(()) }
/// ```
pub struct OverLimitCache<B: RateLimitBackend> {
    backend: B,
    refusals: Arc<Refusals>,
    clock: SharedClock,
}

impl<B: RateLimitBackend> fmt::Debug for OverLimitCache<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OverLimitCache")
            .field("backend", &self.backend)
            .field("refusals", &self.refusals.len())
            .field("capacity", &self.refusals.capacity())
            .finish_non_exhaustive()
    }
}

impl<B: RateLimitBackend> OverLimitCache<B> {
    /// In front of `backend`, remembering up to 10,000 refusals, on the system clock.
    pub fn new(backend: B) -> Self {
        Self::with_capacity(backend, DEFAULT_CAPACITY)
    }

    /// In front of `backend`, remembering up to `capacity` refusals (at least one).
    pub fn with_capacity(backend: B, capacity: usize) -> Self {
        Self {
            backend,
            refusals: Arc::new(Cache::new(capacity.max(1))),
            clock: clock::system(),
        }
    }

    /// Sets the clock the refusals are timed by (tests pass a
    /// [`ManualClock`](crate::clock::ManualClock)).
    #[must_use]
    pub fn clock(mut self, clock: impl crate::clock::Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// The backend it asks.
    pub fn backend(&self) -> &B {
        &self.backend
    }
}

/// The refusal `decision` (given to a request of `cost` asked at `asked`) as it is remembered:
/// the bucket it implies. A request of weight `w` is refused with `retry_after` when the bucket
/// is drawn `retry_after + tolerance - w` ahead.
fn remember(
    refusals: &Refusals,
    entry: (LimitKey, Quota),
    cost: u32,
    asked: u64,
    decision: Decision,
) {
    if decision.is_allowed() || decision.retry_after().is_zero() {
        return;
    }
    let quota = entry.1;
    if cost > quota.burst() {
        // Never passes, whatever the bucket holds: it tells nothing of it.
        return;
    }
    let interval = nanos(quota.interval());
    let tolerance = interval.saturating_mul(u64::from(quota.burst()));
    let weight = interval.saturating_mul(u64::from(cost.max(1)));
    let drawn = nanos(decision.retry_after())
        .saturating_add(tolerance)
        .saturating_sub(weight);
    refusals.insert(
        entry,
        Refusal {
            arrival: asked.saturating_add(drawn),
        },
    );
}

fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

impl<B: RateLimitBackend> RateLimitBackend for OverLimitCache<B> {
    fn acquire(&self, key: &LimitKey, quota: &Quota, cost: u32) -> Lookup<Decision, StoreError> {
        let now = self.clock.now_nanos();
        let entry = (key.clone(), *quota);
        if let Some(refusal) = self.refusals.get(&entry) {
            let drawn = Duration::from_nanos(refusal.arrival.saturating_sub(now));
            let local = Decision::gcra(quota, drawn, cost);
            if !local.is_allowed() {
                return Lookup::Ready(Ok(local));
            }
            // It would pass: the backend decides (and the refusal has told all it can).
            self.refusals.remove(&entry);
        }
        match self.backend.acquire(key, quota, cost) {
            Lookup::Ready(result) => {
                if let Ok(decision) = &result {
                    remember(&self.refusals, entry, cost, now, *decision);
                }
                Lookup::Ready(result)
            }
            Lookup::Pending(answer) => {
                let refusals = Arc::clone(&self.refusals);
                Lookup::pending(async move {
                    let decision = answer.await?;
                    remember(&refusals, entry, cost, now, decision);
                    Ok(decision)
                })
            }
        }
    }

    /// Passed on: a refund is for a request the backend admitted, which no cached refusal covers.
    fn refund(&self, key: &LimitKey, quota: &Quota, cost: u32) -> Lookup<(), StoreError> {
        self.backend.refund(key, quota, cost)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::clock::ManualClock;

    /// A backend that answers what it is told to and counts the calls it gets, either at once
    /// or, when `pending`, from a future (as a network store does).
    #[derive(Debug, Default)]
    struct Fake {
        answer: Mutex<Option<Result<Decision, ()>>>,
        calls: AtomicUsize,
        pending: bool,
    }

    impl Fake {
        fn answering(decision: Decision) -> Arc<Self> {
            let fake = Self::default();
            *fake.answer.lock().unwrap() = Some(Ok(decision));
            Arc::new(fake)
        }

        fn pending(decision: Decision) -> Arc<Self> {
            let fake = Self {
                pending: true,
                ..Self::default()
            };
            *fake.answer.lock().unwrap() = Some(Ok(decision));
            Arc::new(fake)
        }

        fn set(&self, answer: Result<Decision, ()>) {
            *self.answer.lock().unwrap() = Some(answer);
        }

        fn calls(&self) -> usize {
            self.calls.load(Ordering::SeqCst)
        }
    }

    impl RateLimitBackend for Fake {
        fn acquire(&self, _: &LimitKey, _: &Quota, _: u32) -> Lookup<Decision, StoreError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            let answer = self.answer.lock().unwrap().expect("an answer is set");
            let answer = answer.map_err(|()| StoreError::new(std::io::Error::other("down")));
            if self.pending {
                Lookup::pending(async move { answer })
            } else {
                Lookup::Ready(answer)
            }
        }
    }

    const SECOND: Duration = Duration::from_secs(1);

    fn refused(retry_after: u64, reset: u64) -> Decision {
        Decision::denied(Duration::from_secs(retry_after), Duration::from_secs(reset))
    }

    fn key(name: &str) -> LimitKey {
        LimitKey::new(
            "hourly",
            [super::super::KeyPart::Principal(Arc::from(name))],
        )
    }

    fn limiter(backend: &Arc<Fake>) -> (OverLimitCache<Arc<Fake>>, ManualClock) {
        let clock = ManualClock::at(1_800_000_000);
        (
            OverLimitCache::new(Arc::clone(backend)).clock(clock.clone()),
            clock,
        )
    }

    async fn ask(limiter: &impl RateLimitBackend, key: &LimitKey, cost: u32) -> Decision {
        limiter
            .acquire(key, &Quota::per_hour(1000), cost)
            .resolve()
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn a_refused_key_is_answered_locally_until_its_retry_after_passes() {
        let backend = Fake::answering(refused(10, 3600));
        let (limiter, clock) = limiter(&backend);
        let alice = key("alice");
        assert_eq!(ask(&limiter, &alice, 1).await, refused(10, 3600));
        assert_eq!(backend.calls(), 1);
        for _ in 0..1000 {
            let local = limiter.acquire(&alice, &Quota::per_hour(1000), 1);
            assert!(matches!(local, Lookup::Ready(_)), "answered without I/O");
            let local = local.resolve().await.unwrap();
            // The core's arithmetic on the bucket the refusal implies: the same wait.
            assert!(!local.is_allowed());
            assert_eq!(local.retry_after(), Duration::from_secs(10));
        }
        assert_eq!(
            backend.calls(),
            1,
            "no backend call for a key over its quota"
        );

        clock.advance(Duration::from_millis(9_750));
        let later = ask(&limiter, &alice, 1).await;
        assert!(!later.is_allowed());
        assert_eq!(later.retry_after(), Duration::from_millis(250));
        // A costlier request waits longer: 5 more units, 3.6 s each.
        let costlier = ask(&limiter, &alice, 6).await;
        assert_eq!(
            costlier.retry_after(),
            Duration::from_millis(250 + 5 * 3600)
        );
        assert_eq!(backend.calls(), 1);

        // Once retry_after has passed the backend decides again.
        clock.advance(Duration::from_millis(250));
        backend.set(Ok(Decision::allowed(0, Duration::from_secs(3600))));
        assert!(ask(&limiter, &alice, 1).await.is_allowed());
        assert_eq!(backend.calls(), 2);
        assert!(ask(&limiter, &alice, 1).await.is_allowed());
        assert_eq!(backend.calls(), 3, "an admission is never remembered");
    }

    #[tokio::test]
    async fn it_never_admits_locally() {
        let backend = Fake::answering(Decision::allowed(999, SECOND));
        let (limiter, _clock) = limiter(&backend);
        for n in 1..=50 {
            assert!(ask(&limiter, &key("bob"), 1).await.is_allowed());
            assert_eq!(backend.calls(), n);
        }
    }

    #[tokio::test]
    async fn a_cheaper_request_still_asks_the_backend() {
        let backend = Fake::answering(refused(20, 3600));
        let (limiter, _clock) = limiter(&backend);
        let carol = key("carol");
        assert!(!ask(&limiter, &carol, 20).await.is_allowed());
        assert!(!ask(&limiter, &carol, 20).await.is_allowed());
        assert!(!ask(&limiter, &carol, 50).await.is_allowed());
        assert_eq!(backend.calls(), 1, "as costly or costlier: refused locally");

        backend.set(Ok(Decision::allowed(0, Duration::from_secs(3600))));
        assert!(
            ask(&limiter, &carol, 1).await.is_allowed(),
            "the backend admits it"
        );
        assert_eq!(backend.calls(), 2);
    }

    #[tokio::test]
    async fn keys_and_quotas_are_remembered_apart() {
        let backend = Fake::answering(refused(10, 3600));
        let (limiter, _clock) = limiter(&backend);
        assert!(!ask(&limiter, &key("dave"), 1).await.is_allowed());
        backend.set(Ok(Decision::allowed(5, SECOND)));
        assert!(
            ask(&limiter, &key("erin"), 1).await.is_allowed(),
            "another key"
        );
        let upgraded = limiter
            .acquire(&key("dave"), &Quota::per_hour(5000), 1)
            .resolve()
            .await
            .unwrap();
        assert!(
            upgraded.is_allowed(),
            "the same key on another quota (a new plan)"
        );
        assert!(
            !ask(&limiter, &key("dave"), 1).await.is_allowed(),
            "still remembered"
        );
        assert_eq!(backend.calls(), 3);
    }

    #[tokio::test]
    async fn a_refusal_that_arrives_later_is_remembered_and_an_error_is_not() {
        let backend = Fake::pending(refused(5, 60));
        let (limiter, _clock) = limiter(&backend);
        let frank = key("frank");
        assert!(!ask(&limiter, &frank, 1).await.is_allowed());
        assert!(matches!(
            limiter.acquire(&frank, &Quota::per_hour(1000), 1),
            Lookup::Ready(_)
        ));
        assert_eq!(backend.calls(), 1);

        backend.set(Err(()));
        let grace = key("grace");
        assert!(
            limiter
                .acquire(&grace, &Quota::per_hour(1000), 1)
                .resolve()
                .await
                .is_err()
        );
        assert!(
            limiter
                .acquire(&grace, &Quota::per_hour(1000), 1)
                .resolve()
                .await
                .is_err()
        );
        assert_eq!(backend.calls(), 3, "an error is passed on, never cached");
    }

    #[tokio::test]
    async fn memory_is_bounded_under_a_flood_of_refused_keys() {
        let backend = Fake::answering(refused(60, 3600));
        let limiter = OverLimitCache::with_capacity(Arc::clone(&backend), 100)
            .clock(ManualClock::at(1_800_000_000));
        for n in 0..10_000 {
            assert!(
                !ask(&limiter, &key(&format!("user_{n}")), 1)
                    .await
                    .is_allowed()
            );
        }
        assert!(
            limiter.refusals.len() <= 100,
            "{} remembered",
            limiter.refusals.len()
        );
        assert_eq!(backend.calls(), 10_000);
    }
}
