//! What following a fleet's revocation feed costs the request path: nothing measurable, since
//! the check stays in memory. Each group measures the same request three ways in one run:
//!
//! * `revocation`: an HS256 token with a `sid`, verified-token cache on (every measured request a
//!   hit), with no revocation check, with a `MemoryRevocationStore`, and with a `RevocationFeed`
//!   (over the in-process `MemoryFeedStore`; the store behind it is irrelevant, it is never asked on
//!   the request path). Each list holds 10 000 revoked sessions.
//! * `api_key_cache`: an API key through `CachedKeyProvider` (every request a hit), alone and
//!   following a feed.
//!
//! `cargo bench --bench fleet -- --noplot`

mod common;

use std::time::Duration;

use axum::http::{HeaderName, HeaderValue, header::AUTHORIZATION};
use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::json;
use tower_api_auth::api_key::{ApiKeys, CachedKeyProvider, KeyManager, KeySpec};
use tower_api_auth::fleet::{MemoryFeedStore, RevocationFeed};
use tower_api_auth::jwt::JwtOptions;
use tower_api_auth::revocation::MemoryRevocationStore;
use tower_api_auth::scope::Scopes;
use tower_api_auth::store::RevocationStore as _;
use tower_api_auth::{AuthLayer, JwtValidator, MemoryKeyStore, Tenant};

use common::{AUDIENCE, HMAC_SECRET, ISSUER, TENANT, layered_router, runtime_with_io, send};

const REVOKED: usize = 10_000;

fn token() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = json!({
        "sub": "user_42", "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + 24 * 3600,
        "sid": "ses_live", "jti": "tok_live", "scope": "conversations:read", "tenant_id": TENANT,
    });
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(HMAC_SECRET),
    )
    .unwrap()
}

fn validator() -> JwtValidator {
    JwtValidator::hs256(
        HMAC_SECRET,
        JwtOptions::new().issuer(ISSUER).audience(AUDIENCE),
    )
    .unwrap()
}

fn revocation_group(c: &mut Criterion, rt: &tokio::runtime::Runtime) {
    let headers = vec![(
        AUTHORIZATION,
        HeaderValue::from_str(&format!("Bearer {}", token())).unwrap(),
    )];
    let list = MemoryRevocationStore::new();
    let feed = rt.block_on(async {
        let feed = RevocationFeed::builder(MemoryFeedStore::new()).start();
        feed.synced().await;
        for i in 0..REVOKED {
            let id = format!("ses_{i}");
            list.insert_session(&id, u64::MAX);
            feed.revoke_session(&id, u64::MAX).await.unwrap();
        }
        feed
    });
    let none = layered_router(AuthLayer::builder().jwt(validator()).build().unwrap());
    let in_memory = layered_router(
        AuthLayer::builder()
            .jwt(validator())
            .revocation(list)
            .build()
            .unwrap(),
    );
    let following = layered_router(
        AuthLayer::builder()
            .jwt(validator())
            .revocation(feed.clone())
            .build()
            .unwrap(),
    );
    let mut group = c.benchmark_group("revocation");
    for (name, router) in [
        ("none", &none),
        ("memory_list", &in_memory),
        ("feed", &following),
    ] {
        rt.block_on(async {
            assert_eq!(send(router, &headers).await.status(), 200, "{name}");
        });
        group.bench_function(name, |b| b.to_async(rt).iter(|| send(router, &headers)));
    }
    group.finish();
    drop(feed);
}

fn api_key_cache_group(c: &mut Criterion, rt: &tokio::runtime::Runtime) {
    let store = MemoryKeyStore::new();
    let (feed, key) = rt.block_on(async {
        let feed = RevocationFeed::builder(MemoryFeedStore::new()).start();
        feed.synced().await;
        let spec = KeySpec::default()
            .tenants([Tenant::new(TENANT).unwrap()])
            .scopes(Scopes::parse("conversations:read").unwrap());
        let key = KeyManager::new(store.clone())
            .create(spec)
            .await
            .unwrap()
            .key;
        (feed, key)
    });
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
    let cached = |follow: bool| {
        let mut cache = CachedKeyProvider::new(store.clone());
        if follow {
            cache = cache.follow(&feed);
        }
        layered_router(
            AuthLayer::builder()
                .api_keys(ApiKeys::new(cache))
                .build()
                .unwrap(),
        )
    };
    let (alone, following) = (cached(false), cached(true));
    let mut group = c.benchmark_group("api_key_cache");
    for (name, router) in [("cache", &alone), ("cache_following_feed", &following)] {
        rt.block_on(async {
            assert_eq!(send(router, &headers).await.status(), 200, "{name}");
        });
        group.bench_function(name, |b| b.to_async(rt).iter(|| send(router, &headers)));
    }
    group.finish();
}

fn benches(c: &mut Criterion) {
    tower_api_auth::crypto::ensure_provider();
    let rt = runtime_with_io();
    revocation_group(c, &rt);
    api_key_cache_group(c, &rt);
}

criterion_group! {
    name = fleet;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).sample_size(60);
    targets = benches
}
criterion_main!(fleet);
