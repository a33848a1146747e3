//! The fleet on real servers: two instances (each with its own memory, as two processes) share
//! PostgreSQL, SQLite or Redis. A logout on A is refused on B within a second, a key revoked
//! through A's admin API is refused on B within a second although B had it cached, 64 refreshes
//! of one token spread over both give one winner and end the session, and a store that goes down
//! is 503 until it is back, then everything works again without a restart and no session is lost.
//! The servers must be running (`.ci/run` starts them); a missing one fails these tests.
#![cfg(all(
    feature = "postgres",
    feature = "sqlite",
    feature = "redis",
    feature = "issuer",
    feature = "axum",
    any(feature = "aws-lc-rs", feature = "rust-crypto")
))]

mod common;

use std::time::Duration;

use serde_json::json;
use tower_api_auth::api_key::KeySpec;
use tower_api_auth::issuer::RefreshStore;
use tower_api_auth::redis::RedisStore;
use tower_api_auth::sql::{PgStore, SqliteStore};

use common::fleet::{
    Instance, Setup, TENANT, key, key_revocation_propagation, logout_propagation, pair,
    refresh_race, wait_until,
};
use common::servers::{Proxy, postgres_database, redis_prefix, redis_url, sqlite_url};

async fn postgres() -> PgStore {
    let store = PgStore::connect(&postgres_database().await).await.unwrap();
    store.migrate().await.unwrap();
    store
}

async fn sqlite() -> SqliteStore {
    let store = SqliteStore::connect(&sqlite_url()).await.unwrap();
    store.migrate().await.unwrap();
    store
}

/// A Redis store with a prefix of its own, on a connection of its own (as another process has).
async fn redis(prefix: &str) -> RedisStore {
    RedisStore::connect(&redis_url())
        .await
        .unwrap()
        .prefix(prefix)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_fleet_propagates_logouts_and_key_revocations_within_a_second() {
    let store = postgres().await;
    // Each instance listens on a connection of its own (the pool is shared here, the listener is not).
    let (a, b) = pair((store.clone(), store.clone()), store.clone(), store).await;
    let logout = logout_propagation(&a, &b).await;
    let key = key_revocation_propagation(&a, &b, None).await;
    println!("PostgreSQL LISTEN/NOTIFY: logout worst of 20 {logout:?}, key revocation {key:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_feed_with_keys_in_postgres_propagates_within_a_second() {
    let prefix = redis_prefix();
    let keys = postgres().await;
    let (ra, rb) = (redis(&prefix).await, redis(&prefix).await);
    let (a, b) = pair((ra.clone(), rb), ra, keys).await;
    let logout = logout_propagation(&a, &b).await;
    let key = key_revocation_propagation(&a, &b, None).await;
    println!("Redis pub/sub: logout worst of 20 {logout:?}, key revocation {key:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_fleet_on_one_file_propagates_within_a_second() {
    let store = sqlite().await;
    let (a, b) = pair((store.clone(), store.clone()), store.clone(), store).await;
    let logout = logout_propagation(&a, &b).await;
    let key = key_revocation_propagation(&a, &b, None).await;
    println!("SQLite polling: logout worst of 20 {logout:?}, key revocation {key:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_four_refreshes_over_two_instances_on_postgres() {
    let store = postgres().await;
    let (a, b) = pair((store.clone(), store.clone()), store.clone(), store).await;
    refresh_race(&a, &b).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_four_refreshes_over_two_instances_on_redis() {
    let prefix = redis_prefix();
    let keys = postgres().await;
    let (ra, rb) = (redis(&prefix).await, redis(&prefix).await);
    let (a, b) = pair((ra.clone(), rb), ra, keys).await;
    refresh_race(&a, &b).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_four_refreshes_over_two_instances_on_sqlite() {
    let store = sqlite().await;
    let (a, b) = pair((store.clone(), store.clone()), store.clone(), store).await;
    refresh_race(&a, &b).await;
}

/// After an outage: the session started before it refreshes (nothing was lost, nothing was
/// spent), and its access token is accepted again once the feed has resynced.
async fn refreshes_after_the_outage(a: &Instance, refresh_token: &str, access_token: &str) {
    let refreshed = a
        .server
        .post_json(
            "/v1/auth/refresh",
            &json!({ "refresh_token": refresh_token }),
        )
        .await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.text);
    wait_until(
        Duration::from_secs(10),
        || a.server.get("/me").bearer(access_token).send(),
        |reply| reply.status == 200,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_down_is_503_then_recovers_without_a_restart_and_keeps_its_sessions() {
    let database = postgres_database().await;
    let proxy = Proxy::start("127.0.0.1:5432").await;
    let store = PgStore::connect(&proxy.url_through(&database))
        .await
        .unwrap();
    store.migrate().await.unwrap();
    let setup = Setup {
        key_cache_ttl: Duration::ZERO,
        ..Setup::default()
    };
    let a = setup.start(store.clone(), store.clone(), store).await;
    let api_key = key(&a, "read").await;
    let pair = a
        .tokens
        .exchange_api_key(&api_key, None, None, None)
        .await
        .unwrap();
    let refresh_token = pair.refresh_token.unwrap();

    proxy.cut();
    // API keys are looked up in the database (no cache here): 503, never 401, never a pass.
    a.server
        .get("/me")
        .api_key(&api_key, TENANT)
        .send()
        .await
        .assert_error(503, "auth_unavailable");
    a.server
        .post_json(
            "/v1/auth/refresh",
            &json!({ "refresh_token": refresh_token }),
        )
        .await
        .assert_error(503, "auth_unavailable");
    // Access tokens keep working on what the instance knows, within the staleness bound.
    assert_eq!(
        a.server
            .get("/me")
            .bearer(&pair.access_token)
            .send()
            .await
            .status,
        200
    );
    // Past the bound (counted from the last good sync) they are 503 until the feed resyncs.
    setup.clock.advance(Duration::from_secs(31));
    a.server
        .get("/me")
        .bearer(&pair.access_token)
        .send()
        .await
        .assert_error(503, "auth_unavailable");

    proxy.restore();
    wait_until(
        Duration::from_secs(10),
        || a.server.get("/me").api_key(&api_key, TENANT).send(),
        |reply| reply.status == 200,
    )
    .await;
    refreshes_after_the_outage(&a, &refresh_token, &pair.access_token).await;
    let reconnecting = std::time::Instant::now();
    while !a.feed.is_up() {
        assert!(
            reconnecting.elapsed() < Duration::from_secs(10),
            "the feed reconnects by itself"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_is_503_for_refreshes_then_recovers_and_keeps_its_sessions() {
    let prefix = redis_prefix();
    let proxy = Proxy::start("127.0.0.1:6379").await;
    let redis = RedisStore::connect(&proxy.url_through(&redis_url()))
        .await
        .unwrap()
        .prefix(&prefix);
    let keys = postgres().await;
    let a = Setup::default().start(redis.clone(), redis, keys).await;
    let api_key = key(&a, "read").await;
    let pair = a
        .tokens
        .exchange_api_key(&api_key, None, None, None)
        .await
        .unwrap();
    let refresh_token = pair.refresh_token.unwrap();

    proxy.cut();
    a.server
        .post_json(
            "/v1/auth/refresh",
            &json!({ "refresh_token": refresh_token }),
        )
        .await
        .assert_error(503, "auth_unavailable");
    a.server
        .post("/v1/auth/logout")
        .bearer(&pair.access_token)
        .send()
        .await
        .assert_error(503, "auth_unavailable");

    proxy.restore();
    // New sessions start again once Redis answers (the API-key exchange writes a session).
    let exchange = json!({ "api_key": api_key });
    let back = wait_until(
        Duration::from_secs(15),
        || a.server.post_json("/v1/auth/token", &exchange),
        |reply| reply.status == 200,
    )
    .await;
    println!("Redis: sessions are written again {back:?} after it came back");
    refreshes_after_the_outage(&a, &refresh_token, &pair.access_token).await;
}

/// Absolute lifetime and idle timeout, through the token service, on `store`: a session idle
/// past its timeout is refused, one refreshed in time lives on, and none outlives its absolute
/// end however often it is refreshed. Times are near the real now, since Redis expires keys by
/// its own clock.
async fn lifetimes_hold(store: impl RefreshStore) {
    use tower_api_auth::MemoryKeyProvider;
    use tower_api_auth::api_key::KeyManager;
    use tower_api_auth::clock::ManualClock;
    use tower_api_auth::issuer::TokenService;

    let clock = ManualClock::starting_now();
    let keys = MemoryKeyProvider::new();
    let key = KeyManager::new(keys.clone())
        .clock(clock.clone())
        .create(KeySpec::default())
        .await
        .unwrap()
        .key;
    let tokens = TokenService::new(common::lifecycle::hs256_issuer(), store)
        .api_keys(keys)
        .session_ttl(Duration::from_secs(300))
        .idle_timeout(Duration::from_secs(60))
        .clock(clock.clone());
    let refresh = |token: String| {
        let tokens = &tokens;
        async move { tokens.refresh(&token, None).await }
    };

    // Idle past the timeout: over.
    let idle = tokens
        .exchange_api_key(&key, None, None, None)
        .await
        .unwrap();
    clock.advance(Duration::from_secs(60));
    let refused = refresh(idle.refresh_token.unwrap()).await.unwrap_err();
    assert_eq!(
        refused.code(),
        "invalid_grant",
        "idle for the whole timeout"
    );

    // Refreshed every 50 s: alive until the absolute end, never after.
    let mut token = tokens
        .exchange_api_key(&key, None, None, None)
        .await
        .unwrap()
        .refresh_token
        .unwrap();
    for _ in 0..5 {
        clock.advance(Duration::from_secs(50));
        token = refresh(token)
            .await
            .expect("refreshed in time")
            .refresh_token
            .unwrap();
    }
    clock.advance(Duration::from_secs(50)); // 300 s after the start
    assert_eq!(
        refresh(token).await.unwrap_err().code(),
        "invalid_grant",
        "the absolute end"
    );
}

#[tokio::test]
async fn session_lifetimes_hold_on_every_store() {
    lifetimes_hold(tower_api_auth::issuer::MemoryRefreshStore::new()).await;
    lifetimes_hold(postgres().await).await;
    lifetimes_hold(sqlite().await).await;
    lifetimes_hold(redis(&redis_prefix()).await).await;
}
