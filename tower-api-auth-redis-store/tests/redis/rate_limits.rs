//! The fleet's rate limits on a real Redis (and the two-instance share on the cluster): a burst
//! then a refusal with the right `retry_after`, `remaining` and `reset`, costs above one,
//! tenants counted apart, two instances spending one `1000/hour` within 1 %, the over-limit
//! pre-check answering without a Redis call (and never admitting), and Redis down and back.
//! Redis's own clock runs during these tests: times are checked within what a few calls take.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tower_api_auth::Tenant;
use tower_api_auth::clock::ManualClock;
use tower_api_auth::rate_limit::{
    Decision, KeyPart, LimitKey, LocalLimiter, OverLimitCache, Quota, RateLimitBackend,
};
use tower_api_auth::store::{Lookup, StoreError};
use tower_api_auth_redis_store::{RedisStore, client};
use tower_api_auth_tests::servers::{Proxy, redis_prefix, redis_url};

use crate::{cluster, redis};

/// How long a check may take to fail while Redis is cut off (the store's budget is 4 s).
const PROMPT: Duration = Duration::from_secs(6);
/// How much of Redis's clock the calls of one test may take, at most.
const SLACK: Duration = Duration::from_millis(500);

fn principal(name: &str) -> LimitKey {
    LimitKey::new("hourly", [KeyPart::Principal(Arc::from(name))])
}

fn tenant(id: &str) -> LimitKey {
    LimitKey::new("tenant", [KeyPart::Tenant(Tenant::new(id).unwrap())])
}

async fn acquire(
    backend: &impl RateLimitBackend,
    key: &LimitKey,
    quota: &Quota,
    cost: u32,
) -> Decision {
    backend
        .acquire(key, quota, cost)
        .resolve()
        .await
        .expect("Redis answers")
}

/// `actual` is `expected`, or at most [`SLACK`] less (Redis's clock ran on in between).
#[track_caller]
fn about(actual: Duration, expected: Duration) {
    assert!(
        actual <= expected && actual + SLACK >= expected,
        "{actual:?}, expected about {expected:?}"
    );
}

#[tokio::test]
async fn a_burst_passes_then_a_refusal_says_when_to_retry() {
    let store = redis(&redis_prefix()).await;
    // T = 1 s, tau = 3 s: three at once, then one a second.
    let quota = Quota::per_minute(60).with_burst(3);
    let key = principal("alice");
    for (n, remaining) in [2, 1, 0].into_iter().enumerate() {
        let passed = acquire(&store, &key, &quota, 1).await;
        assert!(passed.is_allowed(), "request {n}");
        assert_eq!(passed.remaining(), remaining, "request {n}");
        // `reset` is when more quota comes back: the next unit, one interval away.
        about(passed.reset(), Duration::from_secs(1));
    }
    let refused = acquire(&store, &key, &quota, 1).await;
    assert!(!refused.is_allowed());
    assert_eq!(refused.remaining(), 0);
    about(refused.retry_after(), Duration::from_secs(1));
    about(refused.reset(), Duration::from_secs(1));
    // A refusal spends nothing: the next one says the same (less the time gone by).
    let again = acquire(&store, &key, &quota, 1).await;
    assert!(!again.is_allowed());
    assert!(again.retry_after() <= refused.retry_after());
    about(again.retry_after(), Duration::from_secs(1));
}

#[tokio::test]
async fn a_retry_after_its_retry_after_passes() {
    let store = redis(&redis_prefix()).await;
    // T = 100 ms, burst 2.
    let quota = Quota::per_second(10).with_burst(2);
    let key = principal("bob");
    assert!(acquire(&store, &key, &quota, 1).await.is_allowed());
    assert!(acquire(&store, &key, &quota, 1).await.is_allowed());
    let refused = acquire(&store, &key, &quota, 1).await;
    assert!(!refused.is_allowed());
    tokio::time::sleep(refused.retry_after()).await;
    assert!(
        acquire(&store, &key, &quota, 1).await.is_allowed(),
        "after Retry-After"
    );
}

#[tokio::test]
async fn a_bucket_expires_when_it_is_whole_again_and_a_refusal_writes_nothing() {
    let prefix = redis_prefix();
    let store = redis(&prefix).await;
    // T = 1 s, burst 2: one request leaves the bucket whole again a second later.
    let quota = Quota::per_second(1).with_burst(2);
    let key = principal("bert");
    let raw = raw().await;
    let bucket = format!("{prefix}:{{rl:{key}}}");
    let pttl = || {
        let mut raw = raw.clone();
        let bucket = bucket.clone();
        async move {
            client::cmd("PTTL")
                .arg(&bucket)
                .query_async::<i64>(&mut raw)
                .await
                .unwrap()
        }
    };
    assert!(acquire(&store, &key, &quota, 1).await.is_allowed());
    let ttl = pttl().await;
    assert!(
        (1..=1000).contains(&ttl),
        "PTTL {ttl}: the key lives until the bucket is whole"
    );
    tokio::time::sleep(Duration::from_millis(ttl as u64 + 100)).await;
    assert_eq!(pttl().await, -2, "an idle identity costs Redis nothing");

    // A refusal: a cost above what is left writes nothing (the TTL is the admission's).
    assert!(acquire(&store, &key, &quota, 2).await.is_allowed());
    let before = pttl().await;
    assert!(!acquire(&store, &key, &quota, 1).await.is_allowed());
    let after = pttl().await;
    assert!(
        after <= before,
        "PTTL {before} then {after}: the refusal moved nothing"
    );
}

async fn raw() -> client::aio::MultiplexedConnection {
    client::Client::open(redis_url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .expect("Redis is needed by this test")
}

#[tokio::test]
async fn a_request_may_cost_more_than_one() {
    let store = redis(&redis_prefix()).await;
    // T = 6 s, burst 10 (tau = 60 s).
    let quota = Quota::per_minute(10);
    let key = principal("carol");
    let first = acquire(&store, &key, &quota, 4).await;
    assert!(first.is_allowed());
    assert_eq!(first.remaining(), 6);
    about(first.reset(), Duration::from_secs(6));
    assert_eq!(acquire(&store, &key, &quota, 4).await.remaining(), 2);
    let refused = acquire(&store, &key, &quota, 4).await;
    assert!(!refused.is_allowed(), "4 more do not fit in 2");
    about(refused.retry_after(), Duration::from_secs(12));
    // Two are left; the next unit is back in one interval.
    assert_eq!(refused.remaining(), 2);
    about(refused.reset(), Duration::from_secs(6));
    let cheaper = acquire(&store, &key, &quota, 2).await;
    assert!(cheaper.is_allowed(), "2 do");
    assert_eq!(cheaper.remaining(), 0);
}

/// The fleet and its local fallback give the same answers: the same GCRA (the local limiter's
/// clock stands still, Redis's runs on by what the calls take).
#[tokio::test]
async fn redis_and_the_local_limiter_agree() {
    let store = redis(&redis_prefix()).await;
    let quota = Quota::per_minute(10); // T = 6 s, burst 10
    let local = LocalLimiter::new(quota, Arc::new(ManualClock::at(1_800_000_000)));
    let key = principal("walter");
    for (n, cost) in [3, 3, 3, 2, 1, 1, 11, 4].into_iter().enumerate() {
        let fleet = acquire(&store, &key, &quota, cost).await;
        let fallback = local.acquire(&key, cost);
        assert_eq!(
            fleet.is_allowed(),
            fallback.is_allowed(),
            "request {n} of cost {cost}"
        );
        about(fleet.retry_after(), fallback.retry_after());
        if cost > quota.burst() {
            // Refused without a round trip: the store does not know the bucket's state.
            continue;
        }
        assert_eq!(fleet.remaining(), fallback.remaining(), "request {n}");
        about(fleet.reset(), fallback.reset());
    }
}

#[tokio::test]
async fn more_than_the_burst_is_refused_without_a_round_trip() {
    let store = redis(&redis_prefix()).await;
    let quota = Quota::per_minute(10);
    let never = store.acquire(&principal("victor"), &quota, 11);
    assert!(matches!(never, Lookup::Ready(_)), "no I/O");
    let never = never.resolve().await.unwrap();
    assert!(!never.is_allowed());
    assert_eq!(never.retry_after(), Duration::from_secs(60));
    // It spent nothing: the whole burst is still there.
    assert_eq!(
        acquire(&store, &principal("victor"), &quota, 10)
            .await
            .remaining(),
        0
    );
}

#[tokio::test]
async fn tenants_are_counted_apart() {
    let store = redis(&redis_prefix()).await;
    let quota = Quota::per_hour(5);
    for _ in 0..5 {
        assert!(
            acquire(&store, &tenant("acme"), &quota, 1)
                .await
                .is_allowed()
        );
    }
    assert!(
        !acquire(&store, &tenant("acme"), &quota, 1)
            .await
            .is_allowed()
    );
    let other = acquire(&store, &tenant("globex"), &quota, 1).await;
    assert!(other.is_allowed());
    assert_eq!(other.remaining(), 4, "another tenant's quota is whole");
    // The same tenant under another policy is another bucket too.
    let daily = LimitKey::new("daily", [KeyPart::Tenant(Tenant::new("acme").unwrap())]);
    assert!(acquire(&store, &daily, &quota, 1).await.is_allowed());
}

/// `tasks` concurrent clients on each of two instances hammer one key with `1000/hour` until
/// 3000 requests went out; returns how many passed.
async fn hammer(
    a: impl RateLimitBackend + Clone,
    b: impl RateLimitBackend + Clone,
) -> (usize, Duration) {
    const REQUESTS: usize = 3_000;
    const TASKS: usize = 16;
    let quota = Quota::per_hour(1000);
    let key = Arc::new(principal("shared"));
    let sent = Arc::new(AtomicUsize::new(0));
    let passed = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for n in 0..2 * TASKS {
        let backend: Arc<dyn RateLimitBackend> = if n % 2 == 0 {
            Arc::new(a.clone())
        } else {
            Arc::new(b.clone())
        };
        let (key, sent, passed) = (key.clone(), sent.clone(), passed.clone());
        tasks.push(tokio::spawn(async move {
            while sent.fetch_add(1, Ordering::SeqCst) < REQUESTS {
                if acquire(&backend, &key, &quota, 1).await.is_allowed() {
                    passed.fetch_add(1, Ordering::SeqCst);
                }
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    (passed.load(Ordering::SeqCst), started.elapsed())
}

/// Within 1 % of the quota: the burst of 1000, plus one per 3.6 s of the run.
#[track_caller]
fn within_one_percent(passed: usize, took: Duration, what: &str) {
    let refilled = (took.as_secs_f64() / 3.6).ceil() as usize;
    println!("{what}: {passed} of 3000 requests passed a 1000/hour quota in {took:?}");
    assert!(
        (1000..=1000 + refilled).contains(&passed) && passed <= 1010,
        "{what}: {passed} passed in {took:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_one_quota_within_one_percent() {
    let prefix = redis_prefix();
    let (a, b) = (redis(&prefix).await, redis(&prefix).await);
    let (passed, took) = hammer(a, b).await;
    within_one_percent(passed, took, "two instances on one Redis");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_one_quota_on_the_cluster() {
    let prefix = redis_prefix();
    let (a, b) = (cluster(&prefix).await, cluster(&prefix).await);
    let (passed, took) = hammer(a, b).await;
    within_one_percent(passed, took, "two instances on the Redis Cluster");
}

/// The pre-check's overshoot is zero: with it in front of both instances, no more pass.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pre_check_admits_no_more_than_redis_does() {
    let prefix = redis_prefix();
    let a = Arc::new(OverLimitCache::new(redis(&prefix).await));
    let b = Arc::new(OverLimitCache::new(redis(&prefix).await));
    let (passed, took) = hammer(a, b).await;
    within_one_percent(passed, took, "two instances with the pre-check");
}

/// Counts the checks that reach Redis.
#[derive(Debug, Clone)]
struct Counted {
    store: RedisStore,
    calls: Arc<AtomicUsize>,
}

impl RateLimitBackend for Counted {
    fn acquire(&self, key: &LimitKey, quota: &Quota, cost: u32) -> Lookup<Decision, StoreError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.store.acquire(key, quota, cost)
    }
}

#[tokio::test]
async fn the_pre_check_answers_an_over_limit_key_without_redis() {
    let counted = Counted {
        store: redis(&redis_prefix()).await,
        calls: Arc::default(),
    };
    let calls = counted.calls.clone();
    let limiter = OverLimitCache::new(counted);
    let quota = Quota::per_hour(3);
    let key = principal("mallory");
    for _ in 0..3 {
        assert!(acquire(&limiter, &key, &quota, 1).await.is_allowed());
    }
    let refused = acquire(&limiter, &key, &quota, 1).await;
    assert!(!refused.is_allowed());
    about(refused.retry_after(), Duration::from_secs(1200));
    assert_eq!(calls.load(Ordering::SeqCst), 4);
    for _ in 0..1000 {
        let local = limiter.acquire(&key, &quota, 1);
        assert!(matches!(local, Lookup::Ready(_)), "no I/O");
        let local = local.resolve().await.unwrap();
        assert!(!local.is_allowed());
        assert!(local.retry_after() <= refused.retry_after());
    }
    assert_eq!(
        calls.load(Ordering::SeqCst),
        4,
        "1000 refusals, no Redis call"
    );
    // Another key still asks Redis, and passes.
    assert!(
        acquire(&limiter, &principal("trent"), &quota, 1)
            .await
            .is_allowed()
    );
    assert_eq!(calls.load(Ordering::SeqCst), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_check_fails_promptly_while_redis_is_down_and_works_when_it_is_back() {
    let proxy = Proxy::start("127.0.0.1:6379").await;
    let store = RedisStore::connect(&proxy.url_through(&redis_url()))
        .await
        .unwrap()
        .prefix(&redis_prefix());
    let quota = Quota::per_hour(100);
    let key = principal("peggy");
    assert_eq!(acquire(&store, &key, &quota, 1).await.remaining(), 99);

    proxy.cut();
    for _ in 0..3 {
        let started = Instant::now();
        assert!(store.acquire(&key, &quota, 1).resolve().await.is_err());
        assert!(started.elapsed() < PROMPT, "took {:?}", started.elapsed());
    }

    proxy.restore();
    let started = Instant::now();
    let back = loop {
        match store.acquire(&key, &quota, 1).resolve().await {
            Ok(decision) => break decision,
            Err(_) if started.elapsed() < Duration::from_secs(15) => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(error) => panic!("Redis is back but the store is not: {error}"),
        }
    };
    println!(
        "rate limits answer again {:?} after Redis is back",
        started.elapsed()
    );
    assert!(back.is_allowed());
    assert_eq!(back.remaining(), 98, "the bucket survived the outage");
}

/// A refused request spends nothing of the quotas before the one that refused it: the layer
/// gives them back, and the store's refund does it atomically on Redis's clock.
#[tokio::test]
async fn a_refund_gives_back_what_an_acquire_spent() {
    let store = redis(&redis_prefix()).await;
    let quota = Quota::per_minute(10); // T = 6 s
    let key = principal("rita");
    assert_eq!(acquire(&store, &key, &quota, 8).await.remaining(), 2);
    store
        .refund(&key, &quota, 5)
        .resolve()
        .await
        .expect("Redis answers");
    assert_eq!(acquire(&store, &key, &quota, 1).await.remaining(), 6);
    // More than was spent leaves a whole bucket, never more.
    store
        .refund(&key, &quota, 50)
        .resolve()
        .await
        .expect("Redis answers");
    assert!(acquire(&store, &key, &quota, 10).await.is_allowed());
    assert!(!acquire(&store, &key, &quota, 1).await.is_allowed());
    // A key never spent: nothing to give back, nothing written.
    store
        .refund(&principal("nobody"), &quota, 3)
        .resolve()
        .await
        .expect("Redis answers");
    assert_eq!(
        acquire(&store, &principal("nobody"), &quota, 10)
            .await
            .remaining(),
        0
    );
}
