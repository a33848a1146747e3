//! The store contract (`tower_api_auth_tests::contract`) on the in-memory stores, the reference
//! every database store is held to (the store crates run the same contract on theirs).
#![cfg(all(feature = "fleet", feature = "issuer"))]

use tower_api_auth::MemoryKeyStore;
use tower_api_auth::api_key::ApiKeyHasher;
use tower_api_auth::fleet::MemoryFeedStore;
use tower_api_auth::issuer::{MemoryClientStore, MemoryCodeStore, MemoryRefreshStore};
use tower_api_auth::store::StoreError;
use tower_api_auth::store::{ClientRecord, ClientStore};
use tower_api_auth_tests::contract::ClientRegistry;

/// `MemoryClientStore` registers by `insert` (which replaces); the contract's registry refuses a
/// taken id, as the databases do.
struct Registry(MemoryClientStore);

impl ClientStore for Registry {
    fn client(
        &self,
        client_id: &str,
    ) -> impl Future<Output = Result<Option<ClientRecord>, StoreError>> + Send {
        self.0.client(client_id)
    }
    fn secret_hasher(&self) -> ApiKeyHasher {
        self.0.secret_hasher()
    }
}

impl ClientRegistry for Registry {
    async fn add(&self, record: ClientRecord) -> Result<(), StoreError> {
        if self.0.client(&record.client_id).await?.is_some() {
            return Err(StoreError::new("taken"));
        }
        self.0.insert(record);
        Ok(())
    }
    async fn delete(&self, client_id: &str) -> Result<bool, StoreError> {
        Ok(self.0.remove(client_id))
    }
}

tower_api_auth_tests::store_contract!(memory {
    key_store: MemoryKeyStore::new(),
    refresh_store: MemoryRefreshStore::new(),
    refresh_store_purge: MemoryRefreshStore::new(),
    refresh_store_bounded: MemoryRefreshStore::new(),
    code_store: MemoryCodeStore::new(),
    code_store_purge: MemoryCodeStore::new(),
    client_store: Registry(MemoryClientStore::new(ApiKeyHasher::default())),
    feed_store: MemoryFeedStore::new(),
});
