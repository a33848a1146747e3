//! The refresh round trip on the Redis store (load, sign, the rotation's compare-and-swap script),
//! against the Redis at `TEST_REDIS_URL` (default `redis://127.0.0.1:6379`), which must run.
//! Compare with `refresh_round_trip` of `benches/issuer.rs` (the in-memory store): the difference
//! is the two round trips to Redis.
//!
//! `cargo bench --all-features --bench redis -- --noplot`

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use criterion::{Criterion, criterion_group, criterion_main};
use tower_api_auth::issuer::{RefreshStore, SigningKey, TokenIssuer, TokenService};
use tower_api_auth::redis::RedisStore;
use tower_api_auth::{Algorithm, MemoryKeyProvider, api_key::ApiKeyFormat, api_key::ApiKeyHasher};

fn bench(c: &mut Criterion) {
    tower_api_auth::crypto::ensure_provider();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let url = std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let store = rt
        .block_on(RedisStore::connect(&url))
        .unwrap_or_else(|e| panic!("the Redis bench needs Redis at {url}: {e}"))
        .prefix(&format!("taa_bench_{nanos}"));
    let (api_key, record) = ApiKeyHasher::default()
        .generate(&ApiKeyFormat::default())
        .into_parts();
    let signing = SigningKey::hmac(
        Algorithm::HS256,
        b"a-bench-secret-of-at-least-thirty-two-bytes",
    )
    .unwrap()
    .with_kid("bench");
    let issuer = TokenIssuer::new(signing, "https://auth.bench.test").audience("api");
    let service = TokenService::new(issuer, store.clone())
        .api_keys(MemoryKeyProvider::from(vec![record]))
        .session_ttl(Duration::from_secs(600));
    let login = rt
        .block_on(service.exchange_api_key(&api_key, None, None, None))
        .unwrap();
    let mut refresh_token = login.refresh_token.unwrap();
    let mut group = c.benchmark_group("redis_hs256");
    group.bench_function("refresh_round_trip", |b| {
        b.iter(|| {
            let pair = rt.block_on(service.refresh(&refresh_token, None)).unwrap();
            refresh_token = pair.refresh_token.unwrap();
        });
    });
    group.finish();
    let session_id = login.session_id.unwrap();
    rt.block_on(RefreshStore::end(&store, &session_id)).unwrap();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).sample_size(50);
    targets = bench
}
criterion_main!(benches);
