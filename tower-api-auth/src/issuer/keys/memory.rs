//! [`MemorySigningKeyStore`]: the embedded key store, for one instance (or instances of one process).

use std::fmt;
use std::sync::{Mutex, PoisonError};

use crate::store::{SigningKeyStore, StoreError, StoredSigningKey};

/// The signing keys in memory: the default for a single instance, and the reference the
/// database stores are tested against. Lost on restart, so a restarted instance starts a new
/// key (the tokens of the old one then fail to validate: use a shared store for a fleet, or for
/// tokens that must survive a restart).
///
/// ```
/// use tower_api_auth::issuer::MemorySigningKeyStore;
/// use tower_api_auth::store::SigningKeyStore;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let store = MemorySigningKeyStore::new();
/// assert!(store.load().await.unwrap().is_empty());
/// # }
/// ```
#[derive(Default)]
pub struct MemorySigningKeyStore {
    keys: Mutex<Vec<StoredSigningKey>>,
}

impl fmt::Debug for MemorySigningKeyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys = self.keys.lock().unwrap_or_else(PoisonError::into_inner);
        f.debug_struct("MemorySigningKeyStore")
            .field("keys", &keys.len())
            .finish()
    }
}

impl MemorySigningKeyStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

impl SigningKeyStore for MemorySigningKeyStore {
    async fn load(&self) -> Result<Vec<StoredSigningKey>, StoreError> {
        Ok(self
            .keys
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone())
    }

    async fn insert(&self, key: StoredSigningKey) -> Result<bool, StoreError> {
        let mut keys = self.keys.lock().unwrap_or_else(PoisonError::into_inner);
        if keys.iter().any(|k| k.kid == key.kid) {
            return Ok(false);
        }
        keys.push(key);
        Ok(true)
    }

    async fn delete(&self, kid: &str) -> Result<bool, StoreError> {
        let mut keys = self.keys.lock().unwrap_or_else(PoisonError::into_inner);
        let before = keys.len();
        keys.retain(|k| &*k.kid != kid);
        Ok(keys.len() < before)
    }
}
