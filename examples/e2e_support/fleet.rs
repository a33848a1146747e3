//! The fleet variants of the end-to-end server: the request path of an instance that follows a
//! revocation feed while another instance of its fleet revokes sessions, and of API keys cached
//! in front of a database. `memory` runs the same code over the in-process `MemoryFeedStore` /
//! `MemoryKeyStore`, the one-instance reference.

use std::time::Duration;

use axum::Router;
use tower_api_auth::api_key::{ApiKeys, CachedKeyProvider, KeyManager, KeySpec};
use tower_api_auth::fleet::{MemoryFeedStore, RevocationFeed};
use tower_api_auth::jwt::JwtOptions;
use tower_api_auth::scope::Scopes;
use tower_api_auth::store::FeedStore;
use tower_api_auth::store::KeyStore;
use tower_api_auth::store::RevocationStore as _;
use tower_api_auth::{AuthLayer, JwtValidator, MemoryKeyStore, Tenant};

use super::{AUDIENCE, HMAC_SECRET, ISSUER, SCOPES, TENANT, now};

type Variant = Result<(Router, Vec<String>), Box<dyn std::error::Error>>;

/// How many revocations a second the other instance publishes while the load runs.
const REVOCATIONS_PER_SECOND: u64 = 100;

/// HS256 (cached) with a `sid`, checked against a feed on `store` while a second feed on the
/// same store (the other instance) revokes other sessions 100 times a second.
pub(crate) async fn jwt_with_feed(store: &str, route: Router) -> Variant {
    match store {
        "memory" => {
            let feed = MemoryFeedStore::new();
            jwt_variant(feed.clone(), feed, route).await
        }
        "postgres" => {
            let store = postgres().await?;
            jwt_variant(store.clone(), store, route).await
        }
        "redis" => {
            let url =
                std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
            let prefix = format!("taa_e2e_{}", std::process::id());
            let here = tower_api_auth_redis_store::RedisStore::connect(&url)
                .await?
                .prefix(&prefix);
            let other = tower_api_auth_redis_store::RedisStore::connect(&url)
                .await?
                .prefix(&prefix);
            jwt_variant(here, other, route).await
        }
        other => Err(format!("no feed store {other:?} (memory, postgres, redis)").into()),
    }
}

async fn jwt_variant<B: FeedStore>(here: B, other: B, route: Router) -> Variant {
    let feed = RevocationFeed::builder(here).start();
    let revoker = RevocationFeed::builder(other).start();
    tokio::time::timeout(Duration::from_secs(10), async {
        feed.synced().await;
        revoker.synced().await;
    })
    .await?;
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(1_000 / REVOCATIONS_PER_SECOND));
        for n in 0u64.. {
            tick.tick().await;
            let id = format!("ses_other_{n}");
            if let Err(error) = revoker.revoke_session(&id, now() + 3_600).await {
                eprintln!("the other instance could not revoke: {error}");
            }
        }
    });
    let validator = JwtValidator::hs256(
        HMAC_SECRET,
        JwtOptions::new().issuer(ISSUER).audience(AUDIENCE),
    )?;
    let iat = now();
    let claims = serde_json::json!({
        "sub": "user_42", "iss": ISSUER, "aud": AUDIENCE, "exp": iat + 3600, "iat": iat,
        "scope": SCOPES, "tenant_id": TENANT, "sid": "ses_live", "jti": "tok_live",
    });
    let token = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(HMAC_SECRET),
    )?;
    let layer = AuthLayer::builder()
        .jwt(validator)
        .revocation(feed)
        .build()?;
    Ok((
        route.layer(layer),
        vec![format!("Authorization: Bearer {token}")],
    ))
}

/// An API key through `CachedKeyProvider` (every request but the first a hit) over `store`.
pub(crate) async fn api_key_cached(store: &str, route: Router) -> Variant {
    match store {
        "memory" => key_variant(MemoryKeyStore::new(), route).await,
        "postgres" => key_variant(postgres().await?, route).await,
        other => Err(format!("no key store {other:?} (memory, postgres)").into()),
    }
}

async fn key_variant<S: KeyStore + Clone>(store: S, route: Router) -> Variant {
    let spec = KeySpec::default()
        .tenants([Tenant::new(TENANT)?])
        .scopes(Scopes::parse(SCOPES)?);
    let key = KeyManager::new(store.clone()).create(spec).await?.key;
    let layer = AuthLayer::builder()
        .api_keys(ApiKeys::new(CachedKeyProvider::new(store)))
        .build()?;
    Ok((
        route.layer(layer),
        vec![
            format!("X-API-Key: {key}"),
            format!("X-Tenant-ID: {TENANT}"),
        ],
    ))
}

/// A migrated store on `DATABASE_URL` (default: the local server's `postgres` database).
async fn postgres() -> Result<tower_api_auth_sqlx_store::PgStore, Box<dyn std::error::Error>> {
    let url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let store = tower_api_auth_sqlx_store::PgStore::connect(&url).await?;
    store.migrate().await?;
    Ok(store)
}
