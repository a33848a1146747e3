//! The Redis store on a real Redis server (API keys in a real PostgreSQL database), in one
//! binary: the store contract for what Redis holds (sessions and the feed), what only this store
//! does (`store`) and a fleet of two instances (`fleet`). No secret in any log line is checked in
//! `redis_leaks.rs`, a binary of its own (it captures every log line of its thread).
//! Redis and PostgreSQL must be running (`.ci/run` starts them): a missing server fails these
//! tests, never skips them.

mod fleet;
mod store;

use tower_api_auth_redis_store::RedisStore;
use tower_api_auth_sqlx_store::PgStore;
use tower_api_auth_tests::servers::{postgres_database, redis_prefix, redis_url};

/// A Redis store with a prefix of its own, on a connection of its own (as another process has).
pub(crate) async fn redis(prefix: &str) -> RedisStore {
    RedisStore::connect(&redis_url())
        .await
        .expect("connect")
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

// Redis holds sessions and revocations only: its contract is those. Its `purge` is a no-op
// (Redis expires keys by its own clock; `store` checks the expiries).
tower_api_auth_tests::store_contract!(redis_contract {
    refresh_store: redis(&redis_prefix()).await,
    refresh_store_bounded: redis(&redis_prefix()).await,
    feed_store: redis(&redis_prefix()).await,
});
