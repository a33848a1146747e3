//! The store contract (`tests/common/contract.rs`) run against every store: the in-memory ones, the
//! reference, the SQL stores on a real SQLite file and a real PostgreSQL database, and Redis for
//! what it holds (sessions and the feed) on a real server (a missing server fails the tests). A
//! new store is one more `contract!` line.
#![cfg(all(
    feature = "postgres",
    feature = "sqlite",
    feature = "redis",
    feature = "issuer"
))]

mod common;

use tower_api_auth::MemoryKeyProvider;
use tower_api_auth::api_key::ApiKeyHasher;
use tower_api_auth::fleet::MemoryFeed;
use tower_api_auth::issuer::{ClientRecord, ClientStore, MemoryClients, MemoryRefreshStore};
use tower_api_auth::redis::RedisStore;
use tower_api_auth::sql::{PgStore, SqliteStore};
use tower_api_auth::store::StoreError;

use common::contract::{self, ClientRegistry};
use common::servers::{postgres_database, redis_prefix, redis_url, sqlite_url};

/// A Redis store under a prefix no other test uses.
async fn redis() -> RedisStore {
    RedisStore::connect(&redis_url())
        .await
        .expect("connect")
        .prefix(&redis_prefix())
}

/// A migrated store on a fresh PostgreSQL database.
async fn postgres() -> PgStore {
    let store = PgStore::connect(&postgres_database().await)
        .await
        .expect("connect");
    store.migrate().await.expect("migrate");
    store
}

/// A migrated store on a fresh SQLite file.
async fn sqlite() -> SqliteStore {
    let store = SqliteStore::connect(&sqlite_url()).await.expect("connect");
    store.migrate().await.expect("migrate");
    store
}

impl ClientRegistry for MemoryClients {
    async fn add(&self, record: ClientRecord) -> Result<(), StoreError> {
        // `MemoryClients::insert` replaces; registering refuses a taken id, like the databases.
        if self.client(&record.client_id).await?.is_some() {
            return Err(StoreError::new("taken"));
        }
        self.insert(record);
        Ok(())
    }
    async fn delete(&self, client_id: &str) -> Result<bool, StoreError> {
        Ok(self.remove(client_id))
    }
}

/// One test per contract function for a store built by `$make`.
macro_rules! contract {
    ($name:ident: keys $keys:expr, sessions $sessions:expr, clients $clients:expr, feed $feed:expr) => {
        mod $name {
            use super::*;

            #[tokio::test]
            async fn key_store() {
                contract::key_store($keys).await;
            }

            #[tokio::test]
            async fn refresh_store() {
                contract::refresh_store($sessions).await;
            }

            #[tokio::test]
            async fn refresh_store_purge() {
                contract::refresh_store_purge($sessions).await;
            }

            #[tokio::test]
            async fn client_store() {
                contract::client_store($clients).await;
            }

            #[tokio::test]
            async fn feed_backend() {
                contract::feed_backend($feed).await;
            }
        }
    };
}

contract!(memory:
    keys MemoryKeyProvider::new(),
    sessions MemoryRefreshStore::new(),
    clients MemoryClients::new(ApiKeyHasher::default()),
    feed MemoryFeed::new());
contract!(sqlite_store:
    keys sqlite().await,
    sessions sqlite().await,
    clients sqlite().await,
    feed sqlite().await);
contract!(postgres_store:
    keys postgres().await,
    sessions postgres().await,
    clients postgres().await,
    feed postgres().await);

/// Redis holds sessions and revocations only: its contract is those two.
mod redis_store {
    use super::*;

    #[tokio::test]
    async fn refresh_store() {
        contract::refresh_store(redis().await).await;
    }

    #[tokio::test]
    async fn feed_backend() {
        contract::feed_backend(redis().await).await;
    }
}
