//! [`KeyUsage`]: `last_used_at`, recorded in memory per request and written to the store in batches.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use crate::store::{DynKeyStore, KeyStore, StoreError};

/// How many distinct keys a batch holds at most; beyond it new keys wait for the next flush.
/// Only keys that authenticated a request get in, so this bounds memory under any load.
const MAX_PENDING: usize = 100_000;

/// How many keys one write to the store carries.
const BATCH: usize = 500;

/// Records when each API key was last used without a write per request: the auth layer notes the
/// time in memory ([`touch`](Self::touch), one short lock), and [`flush`](Self::flush) writes the
/// batch to the store in one call — on a timer (feature `fleet`:
/// `fleet::flush_usage_every`), or when the app chooses. `last_used_at` in the store is therefore up to one interval behind, and an
/// instance that stops without a final flush loses at most one interval of it.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use std::sync::Arc;
/// use tower_api_auth::api_key::{ApiKeyFormat, ApiKeyHasher, ApiKeys, KeyUsage};
/// use tower_api_auth::MemoryKeyStore;
///
/// let (key, record) = ApiKeyHasher::default().generate(&ApiKeyFormat::default()).into_parts();
/// let key_id = record.key_id.clone();
/// let store = MemoryKeyStore::from(vec![record]);
/// let usage = Arc::new(KeyUsage::new(store.clone()));
/// let api_keys = ApiKeys::new(store.clone()).usage(usage.clone());
///
/// api_keys.verify(&key, 1_800_000_000).await.unwrap();
/// assert_eq!(store.get(&key_id).unwrap().last_used_at, None, "not written per request");
/// assert_eq!(usage.flush().await.unwrap(), 1);
/// assert_eq!(store.get(&key_id).unwrap().last_used_at, Some(1_800_000_000));
/// # }
/// ```
pub struct KeyUsage {
    store: Arc<dyn DynKeyStore>,
    pending: Mutex<HashMap<Arc<str>, u64>>,
}

impl fmt::Debug for KeyUsage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyUsage")
            .field("pending", &self.lock().len())
            .finish_non_exhaustive()
    }
}

impl KeyUsage {
    /// Usage of the keys in `store`.
    pub fn new(store: impl KeyStore) -> Self {
        Self {
            store: Arc::new(store),
            pending: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Arc<str>, u64>> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Notes that `key_id` authenticated a request at `at` (unix seconds). No I/O.
    pub fn touch(&self, key_id: &Arc<str>, at: u64) {
        let mut pending = self.lock();
        if let Some(last) = pending.get_mut(key_id) {
            *last = (*last).max(at);
        } else if pending.len() < MAX_PENDING {
            pending.insert(Arc::clone(key_id), at);
        }
    }

    /// Writes the noted uses to the store, in batches of at most 500 keys sorted by key id (so
    /// that two instances flushing at once lock rows in the same order and cannot deadlock, and
    /// no transaction holds many locks for long); how many keys were written. On failure the
    /// unwritten rest is kept for the next flush.
    pub async fn flush(&self) -> Result<usize, StoreError> {
        let mut batch: Vec<(Arc<str>, u64)> =
            std::mem::take(&mut *self.lock()).into_iter().collect();
        batch.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let mut written = 0;
        for chunk in batch.chunks(BATCH) {
            if let Err(error) = self.store.record_usage(chunk).await {
                for (key_id, at) in &batch[written..] {
                    self.touch(key_id, *at);
                }
                return Err(error);
            }
            written += chunk.len();
        }
        Ok(written)
    }
}
