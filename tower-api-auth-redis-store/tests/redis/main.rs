//! The Redis store on a real Redis server and on a real Redis Cluster (API keys in a real
//! PostgreSQL database), in one binary: the store contract for what Redis holds (sessions and
//! the feed) on both, what only this store does (`store`), a fleet of two instances (`fleet`),
//! the rate limits (`rate_limits`, and through the layer over HTTP: `rate_limits_http`) and
//! what a cluster changes (`cluster`). No secret in any log line is checked in `redis_leaks.rs`,
//! a binary of its own (it captures every log line of its thread).
//! Redis, the cluster and PostgreSQL must be running (`.ci/run` starts them): a missing server
//! fails these tests, never skips them.

mod cluster;
mod codes;
mod fleet;
#[cfg(feature = "rate-limit")]
mod rate_limits;
#[cfg(feature = "rate-limit")]
mod rate_limits_http;
mod store;

use tower_api_auth_redis_store::RedisStore;
use tower_api_auth_sqlx_store::PgStore;
use tower_api_auth_tests::servers::{
    postgres_database, redis_cluster_urls, redis_prefix, redis_url,
};

/// A Redis store with a prefix of its own, on a connection of its own (as another process has).
pub(crate) async fn redis(prefix: &str) -> RedisStore {
    RedisStore::connect(&redis_url())
        .await
        .expect("connect")
        .prefix(prefix)
}

/// A store on the Redis Cluster with a prefix of its own, on connections of its own.
pub(crate) async fn cluster(prefix: &str) -> RedisStore {
    let nodes = redis_cluster_urls();
    RedisStore::connect_cluster(&nodes)
        .await
        .unwrap_or_else(|e| panic!("the Redis Cluster at {nodes:?} is needed by this test: {e}"))
        .prefix(prefix)
}

/// API keys for the fleet: a migrated PostgreSQL store on a fresh database.
pub(crate) async fn postgres() -> PgStore {
    let store = PgStore::connect(&postgres_database().await)
        .await
        .expect("connect");
    store.migrate().await.expect("migrate");
    store
}

// Redis holds sessions, authorization codes and revocations only: its contract is those. Its
// `purge`s are no-ops (Redis expires keys by its own clock; `store` and `codes` check the
// expiries).
tower_api_auth_tests::store_contract!(redis_contract {
    refresh_store: redis(&redis_prefix()).await,
    refresh_store_bounded: redis(&redis_prefix()).await,
    code_store: redis(&redis_prefix()).await,
    feed_store: redis(&redis_prefix()).await,
});

// The same contract on a cluster: every session, subject index and slot key of a prefix lands
// in a slot of its own, so a script or pipeline that touched two of them would fail here.
tower_api_auth_tests::store_contract!(redis_cluster_contract {
    refresh_store: cluster(&redis_prefix()).await,
    refresh_store_bounded: cluster(&redis_prefix()).await,
    code_store: cluster(&redis_prefix()).await,
    feed_store: cluster(&redis_prefix()).await,
});
