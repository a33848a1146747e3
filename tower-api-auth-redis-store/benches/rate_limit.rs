//! The Redis rate limiter's cost per check, on loopback: a check that Redis admits (the script
//! reads and writes the bucket), one that Redis refuses (an over-limit key: the script reads
//! only), and the same over-limit key behind `OverLimitCache` (answered from memory, no round
//! trip), on one Redis server and on the Redis Cluster; then the same through the whole stack
//! (`layer/…`: an axum router with the auth layer (an HS256 JWT) and the rate-limit layer,
//! called in process), beside the same router without rate limits (`layer/no_limits`): the
//! difference is what a Redis-counted quota adds to a request.
//!
//! Before criterion's runs, each case is timed call by call (10,000 sequential checks on one
//! connection) and its p50 / p99 printed: criterion's figures are means of batches, the
//! target (≤ 150 µs p50 for a check that goes to Redis) is a percentile.
//!
//! Needs Redis at `TEST_REDIS_URL` (default `redis://127.0.0.1:6379`) and the cluster at
//! `TEST_REDIS_CLUSTER_URLS` (default `redis://127.0.0.1:7001,…7003`), as the tests do
//! (`.ci/run` starts both). `cargo bench -p tower-api-auth-redis-store --bench rate_limit`

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use criterion::{Criterion, criterion_group, criterion_main};
use http::{Request, StatusCode};
use tokio::runtime::Runtime;
use tower::ServiceExt as _;
use tower_api_auth::jwt::JwtOptions;
use tower_api_auth::rate_limit::{
    KeyPart, LimitKey, OverLimitCache, Policy, Quota, RateLimitBackend, RateLimits,
};
use tower_api_auth::{AuthLayer, JwtValidator};
use tower_api_auth_redis_store::RedisStore;
use tower_api_auth_tests::HS256_SECRET;
use tower_api_auth_tests::jwt::{claims, hs256};
use tower_api_auth_tests::servers::{redis_cluster_urls, redis_prefix, redis_url};

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn key(name: &str) -> LimitKey {
    LimitKey::new("bench", [KeyPart::Principal(Arc::from(name))])
}

/// A quota no bench run exhausts (T = 1 µs, a burst of 2^32 - 1).
fn roomy() -> Quota {
    Quota::per_second(1_000_000).with_burst(u32::MAX)
}

/// A quota one check exhausts for an hour.
fn tight() -> Quota {
    Quota::per_hour(1)
}

/// Times `checks` sequential checks one by one; prints p50 and p99.
fn percentiles(
    rt: &Runtime,
    what: &str,
    backend: &impl RateLimitBackend,
    key: &LimitKey,
    quota: &Quota,
) {
    const CHECKS: usize = 10_000;
    let mut times: Vec<Duration> = rt.block_on(async {
        let mut times = Vec::with_capacity(CHECKS);
        for _ in 0..CHECKS {
            let started = Instant::now();
            black_box(backend.acquire(key, quota, 1).resolve().await.unwrap());
            times.push(started.elapsed());
        }
        times
    });
    times.sort();
    println!(
        "{what}: p50 {:?}, p99 {:?} ({CHECKS} checks)",
        times[CHECKS / 2],
        times[CHECKS * 99 / 100]
    );
}

fn cases(c: &mut Criterion, rt: &Runtime, name: &str, store: RedisStore) {
    let (admitted, refused) = (key("admitted"), key("refused"));
    let cached = OverLimitCache::new(store.clone());
    rt.block_on(async {
        // Spend the refused key's quota first (through the cache, which remembers the refusal).
        store
            .acquire(&refused, &tight(), 1)
            .resolve()
            .await
            .unwrap();
        let refusal = cached
            .acquire(&refused, &tight(), 1)
            .resolve()
            .await
            .unwrap();
        assert!(!refusal.is_allowed(), "the key is over its quota");
        assert!(
            store
                .acquire(&admitted, &roomy(), 1)
                .resolve()
                .await
                .unwrap()
                .is_allowed()
        );
    });
    percentiles(rt, &format!("{name}/admitted"), &store, &admitted, &roomy());
    percentiles(
        rt,
        &format!("{name}/over_limit"),
        &store,
        &refused,
        &tight(),
    );
    percentiles(
        rt,
        &format!("{name}/over_limit_pre_checked"),
        &cached,
        &refused,
        &tight(),
    );

    let mut group = c.benchmark_group(name);
    group.bench_function("admitted", |b| {
        b.to_async(rt).iter(|| async {
            black_box(
                store
                    .acquire(&admitted, &roomy(), 1)
                    .resolve()
                    .await
                    .unwrap(),
            )
        });
    });
    group.bench_function("over_limit", |b| {
        b.to_async(rt).iter(|| async {
            black_box(
                store
                    .acquire(&refused, &tight(), 1)
                    .resolve()
                    .await
                    .unwrap(),
            )
        });
    });
    group.bench_function("over_limit_pre_checked", |b| {
        b.to_async(rt).iter(|| async {
            black_box(
                cached
                    .acquire(&refused, &tight(), 1)
                    .resolve()
                    .await
                    .unwrap(),
            )
        });
    });
    group.finish();
}

fn redis(c: &mut Criterion) {
    let rt = runtime();
    let store = rt.block_on(async {
        RedisStore::connect(&redis_url())
            .await
            .expect("Redis is needed by this bench")
            .prefix(&redis_prefix())
    });
    cases(c, &rt, "redis", store);
}

fn cluster(c: &mut Criterion) {
    let rt = runtime();
    let store = rt.block_on(async {
        RedisStore::connect_cluster(redis_cluster_urls())
            .await
            .expect("the Redis Cluster is needed by this bench")
            .prefix(&redis_prefix())
    });
    cases(c, &rt, "cluster", store);
}

/// A router with JWT auth and, if given, one rate-limit policy counted in `backend`.
fn router(limits: Option<(Quota, Arc<dyn RateLimitBackend>)>) -> Router {
    let auth = AuthLayer::builder()
        .jwt(JwtValidator::hs256(HS256_SECRET, JwtOptions::new()).unwrap())
        .build()
        .unwrap();
    let app = Router::new().route("/v1/users", get(|| async { "users" }));
    let app = match limits {
        Some((quota, backend)) => app.route_layer(
            RateLimits::new()
                .policy(Policy::new("hourly", quota))
                .backend(backend)
                .build()
                .unwrap(),
        ),
        None => app,
    };
    app.route_layer(auth)
}

/// One request with `token` through `app`; its status.
async fn call(app: &Router, token: &str) -> StatusCode {
    let request = Request::get("/v1/users")
        .header("authorization", format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    app.clone().oneshot(request).await.unwrap().status()
}

fn layer(c: &mut Criterion) {
    let rt = runtime();
    let store = rt.block_on(async {
        RedisStore::connect(&redis_url())
            .await
            .expect("Redis is needed by this bench")
            .prefix(&redis_prefix())
    });
    let redis: Arc<dyn RateLimitBackend> = Arc::new(store.clone());
    let cached: Arc<dyn RateLimitBackend> = Arc::new(OverLimitCache::new(store));
    let cases = [
        ("no_limits", router(None), "alice", StatusCode::OK),
        (
            "redis_admitted",
            router(Some((roomy(), redis.clone()))),
            "bob",
            StatusCode::OK,
        ),
        (
            "redis_over_limit",
            router(Some((tight(), redis))),
            "carol",
            StatusCode::TOO_MANY_REQUESTS,
        ),
        (
            "over_limit_pre_checked",
            router(Some((tight(), cached))),
            "dave",
            StatusCode::TOO_MANY_REQUESTS,
        ),
    ];
    let mut group = c.benchmark_group("layer");
    for (name, app, subject, expected) in &cases {
        let token = hs256(&claims(subject));
        rt.block_on(async {
            // Spends a tight quota; every call after it is answered `expected`.
            call(app, &token).await;
            assert_eq!(call(app, &token).await, *expected, "{name}");
        });
        let mut times: Vec<Duration> = rt.block_on(async {
            let mut times = Vec::with_capacity(10_000);
            for _ in 0..10_000 {
                let started = Instant::now();
                black_box(call(app, &token).await);
                times.push(started.elapsed());
            }
            times
        });
        times.sort();
        println!(
            "layer/{name}: p50 {:?}, p99 {:?} (10000 requests)",
            times[5_000], times[9_900]
        );
        group.bench_function(*name, |b| {
            b.to_async(&rt)
                .iter(|| async { black_box(call(app, &token).await) });
        });
    }
    group.finish();
}

criterion_group!(benches, redis, cluster, layer);
criterion_main!(benches);
