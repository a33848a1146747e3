//! The stores on real servers (PostgreSQL at `TEST_POSTGRES_URL`, default
//! `postgres://postgres@127.0.0.1:5432/postgres`; Redis at `TEST_REDIS_URL`, default
//! `redis://127.0.0.1:6379`; SQLite in a temporary file). Each must be running.
//!
//! * `api_key_postgres`: a request with an API key through the auth layer, the keys in
//!   PostgreSQL behind `CachedKeyProvider`: `cache_hit` (the answer in memory) and `cache_miss`
//!   (the cache's TTL at zero, so every request asks the database).
//! * `refresh_round_trip`: `TokenService::refresh` (load the session, sign an HS256 access token,
//!   the compare-and-swap rotation) on `postgres`, `sqlite` and `redis`; `tower-api-auth/benches/issuer.rs` has
//!   the same on the in-memory store.
//!
//! Each run works in a database (or key prefix) of its own. `cargo bench --all-features --bench stores -- --noplot`

// The layer benches' helpers (router, runtime, request), shared rather than copied.
#[path = "../../tower-api-auth/benches/common/mod.rs"]
mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tower_api_auth::issuer::Login;

use axum::http::{HeaderName, HeaderValue};
use criterion::{Criterion, criterion_group, criterion_main};
use sqlx::Connection as _;
use tower_api_auth::api_key::{ApiKeys, CachedKeyProvider, KeyManager, KeySpec};
use tower_api_auth::issuer::{SigningKey, TokenIssuer, TokenService};
use tower_api_auth::scope::Scopes;
use tower_api_auth::store::RefreshStore;
use tower_api_auth::{Algorithm, AuthLayer, Tenant};
use tower_api_auth_redis_store::RedisStore;
use tower_api_auth_sqlx_store::{PgStore, SqliteStore};

use common::{TENANT, layered_router, runtime_with_io, send};

fn unique() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

/// A migrated store on a database of its own.
async fn postgres() -> PgStore {
    let admin = std::env::var("TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let mut conn = sqlx::PgConnection::connect(&admin)
        .await
        .unwrap_or_else(|e| panic!("this bench needs PostgreSQL at {admin}: {e}"));
    let name = format!("taa_bench_{}", unique());
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .unwrap();
    let (base, _) = admin.rsplit_once('/').unwrap();
    let store = PgStore::connect(&format!("{base}/{name}")).await.unwrap();
    store.migrate().await.unwrap();
    store
}

async fn sqlite() -> SqliteStore {
    let path = std::env::temp_dir().join(format!("taa_bench_{}.db", unique()));
    let store = SqliteStore::connect(&format!("sqlite://{}?mode=rwc", path.display()))
        .await
        .unwrap();
    store.migrate().await.unwrap();
    store
}

async fn redis() -> RedisStore {
    let url = std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    RedisStore::connect(&url)
        .await
        .unwrap_or_else(|e| panic!("this bench needs Redis at {url}: {e}"))
        .prefix(&format!("taa_bench_{}", unique()))
}

fn api_key_group(c: &mut Criterion, rt: &tokio::runtime::Runtime) {
    let store = rt.block_on(postgres());
    let spec = KeySpec::default()
        .tenants([Tenant::new(TENANT).unwrap()])
        .scopes(Scopes::parse("conversations:read").unwrap());
    let key = rt
        .block_on(KeyManager::new(store.clone()).create(spec))
        .unwrap()
        .key;
    let headers = vec![
        (
            HeaderName::from_static("x-api-key"),
            HeaderValue::from_str(&key).unwrap(),
        ),
        (
            HeaderName::from_static("x-tenant-id"),
            HeaderValue::from_static(TENANT),
        ),
    ];
    let router = |ttl: Duration| {
        let cache = CachedKeyProvider::new(store.clone()).ttl(ttl);
        layered_router(
            AuthLayer::builder()
                .api_keys(ApiKeys::new(cache))
                .build()
                .unwrap(),
        )
    };
    let (hit, miss) = (router(Duration::from_secs(3600)), router(Duration::ZERO));
    let mut group = c.benchmark_group("api_key_postgres");
    for (name, router) in [("cache_hit", &hit), ("cache_miss", &miss)] {
        rt.block_on(async { assert_eq!(send(router, &headers).await.status(), 200, "{name}") });
        group.bench_function(name, |b| b.to_async(rt).iter(|| send(router, &headers)));
    }
    group.finish();
}

/// A token service on `store` and a refresh token of a fresh session.
async fn service(store: impl RefreshStore) -> (TokenService, String) {
    let keys = tower_api_auth::MemoryKeyStore::new();
    let key = KeyManager::new(keys.clone())
        .create(KeySpec::default())
        .await
        .unwrap()
        .key;
    let signing = SigningKey::hmac(
        Algorithm::HS256,
        b"a-bench-secret-of-at-least-thirty-two-bytes",
    )
    .unwrap()
    .with_kid("bench");
    let issuer = TokenIssuer::new(signing, "https://auth.bench.test").audience("api");
    let service = TokenService::new(issuer, store).api_keys(keys);
    let pair = service.login(Login::api_key(&key)).await.unwrap();
    (service, pair.refresh_token.unwrap())
}

fn refresh_group(c: &mut Criterion, rt: &tokio::runtime::Runtime) {
    let mut group = c.benchmark_group("refresh_round_trip");
    let services = [
        (
            "postgres",
            rt.block_on(async { service(postgres().await).await }),
        ),
        (
            "sqlite",
            rt.block_on(async { service(sqlite().await).await }),
        ),
        ("redis", rt.block_on(async { service(redis().await).await })),
    ];
    for (name, (service, mut refresh_token)) in services {
        group.bench_function(name, |b| {
            b.iter(|| {
                let pair = rt.block_on(service.refresh(&refresh_token, None)).unwrap();
                refresh_token = pair.refresh_token.unwrap();
            });
        });
    }
    group.finish();
}

fn benches(c: &mut Criterion) {
    tower_api_auth::crypto::ensure_provider();
    let rt = runtime_with_io();
    api_key_group(c, &rt);
    refresh_group(c, &rt);
}

criterion_group! {
    name = stores;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).sample_size(50);
    targets = benches
}
criterion_main!(stores);
