//! The SQL stores on a real PostgreSQL server and real SQLite files, in one binary: the store
//! contract every store passes, what only these stores do (`store`), and a fleet of two instances
//! on one database (`fleet`). PostgreSQL must be running (`.ci/run` starts it): a missing server
//! fails these tests, never skips them.

mod codes;
mod fleet;
mod store;

use tower_api_auth::api_key::ApiKeyHasher;
use tower_api_auth::store::StoreError;
use tower_api_auth::store::{ClientRecord, ClientStore};
use tower_api_auth_sqlx_store::{PgStore, SqliteStore};
use tower_api_auth_tests::contract::ClientRegistry;
use tower_api_auth_tests::servers::{postgres_database, sqlite_url};

/// A migrated store on a fresh PostgreSQL database.
pub(crate) async fn postgres() -> PgStore {
    let store = PgStore::connect(&postgres_database().await)
        .await
        .expect("connect");
    store.migrate().await.expect("migrate");
    store
}

/// A migrated store on a fresh SQLite file.
pub(crate) async fn sqlite() -> SqliteStore {
    let store = SqliteStore::connect(&sqlite_url()).await.expect("connect");
    store.migrate().await.expect("migrate");
    store
}

/// A SQL store as the contract registers OAuth clients on it: its own `register_client` and
/// `remove_client` (a newtype: the contract's trait and the stores are both foreign here).
pub(crate) struct Registered<S>(pub(crate) S);

macro_rules! sql_registry {
    ($store:ty) => {
        impl ClientStore for Registered<$store> {
            async fn client(&self, client_id: &str) -> Result<Option<ClientRecord>, StoreError> {
                self.0.client(client_id).await
            }
            fn secret_hasher(&self) -> ApiKeyHasher {
                self.0.secret_hasher()
            }
        }
        impl ClientRegistry for Registered<$store> {
            async fn add(&self, record: ClientRecord) -> Result<(), StoreError> {
                self.0.register_client(record).await
            }
            async fn delete(&self, client_id: &str) -> Result<bool, StoreError> {
                self.0.remove_client(client_id).await
            }
        }
    };
}
sql_registry!(PgStore);
sql_registry!(SqliteStore);

tower_api_auth_tests::store_contract!(postgres_contract {
    key_store: postgres().await,
    refresh_store: postgres().await,
    refresh_store_purge: postgres().await,
    refresh_store_bounded: postgres().await,
    code_store: postgres().await,
    code_store_purge: postgres().await,
    client_store: Registered(postgres().await),
    feed_store: postgres().await,
});

tower_api_auth_tests::store_contract!(sqlite_contract {
    key_store: sqlite().await,
    refresh_store: sqlite().await,
    refresh_store_purge: sqlite().await,
    refresh_store_bounded: sqlite().await,
    code_store: sqlite().await,
    code_store_purge: sqlite().await,
    client_store: Registered(sqlite().await),
    feed_store: sqlite().await,
});
