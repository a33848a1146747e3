//! Where key records come from: the [`KeyProvider`] trait and the in-memory provider.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};

use crate::api_key::record::KeyRecord;
use crate::store::Lookup;

/// A store of API key records, looked up by public key id.
///
/// The provider only finds records; the caller checks the hash (in constant time), revocation,
/// expiry and tenants. Unknown ids are `Ok(None)`; `Err` means the store could not answer, and the
/// request is refused with 503 `auth_unavailable`, never let through and never told its key is bad.
///
/// ```
/// use std::sync::Arc;
/// use tower_api_auth::{KeyProvider, api_key::KeyRecord, store::{Lookup, StoreError}};
///
/// /// A store backed by some async database client.
/// struct MyStore { /* pool: sqlx::PgPool, … */ }
///
/// impl KeyProvider for MyStore {
///     fn lookup(&self, key_id: &str) -> Lookup<Option<Arc<KeyRecord>>> {
///         let key_id = key_id.to_owned();
///         Lookup::pending(async move {
///             // let row = sqlx::query_as(…).bind(&key_id).fetch_optional(&pool).await
///             //     .map_err(StoreError::new)?;
///             let _ = key_id;
///             Ok::<Option<Arc<KeyRecord>>, StoreError>(None)
///         })
///     }
/// }
/// ```
pub trait KeyProvider: Send + Sync + 'static {
    /// Finds the record of `key_id`.
    fn lookup(&self, key_id: &str) -> Lookup<Option<Arc<KeyRecord>>>;
}

impl<P: KeyProvider + ?Sized> KeyProvider for Arc<P> {
    fn lookup(&self, key_id: &str) -> Lookup<Option<Arc<KeyRecord>>> {
        (**self).lookup(key_id)
    }
}

/// The embedded key store: records in a hash map, looked up in O(1) with no allocation.
///
/// Keys can be added, replaced, revoked and removed at run time; a change takes effect on the next
/// request. Cheap to clone: clones share the keys, so one store can serve the auth layer, the
/// token service's API-key exchange and an admin endpoint that revokes keys.
///
/// ```
/// use tower_api_auth::{api_key::ApiKeyFormat, api_key::ApiKeyHasher, KeyProvider, MemoryKeyProvider};
///
/// let new_key = ApiKeyHasher::default().generate(&ApiKeyFormat::default());
/// let keys = MemoryKeyProvider::from(vec![new_key.record().clone()]);
/// assert_eq!(keys.len(), 1);
/// assert!(keys.revoke(&new_key.record().key_id));
/// assert!(keys.get(&new_key.record().key_id).unwrap().revoked);
///
/// let shared = keys.clone();
/// shared.remove(&new_key.record().key_id);
/// assert!(keys.is_empty(), "clones share the keys");
/// ```
#[derive(Default, Clone)]
pub struct MemoryKeyProvider {
    records: Arc<RwLock<HashMap<Arc<str>, Arc<KeyRecord>>>>,
}

impl MemoryKeyProvider {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or replaces a record.
    pub fn insert(&self, record: KeyRecord) {
        let mut records = self.records.write().unwrap_or_else(PoisonError::into_inner);
        records.insert(record.key_id.clone(), Arc::new(record));
    }

    /// Marks a key revoked; `false` if the id is unknown.
    pub fn revoke(&self, key_id: &str) -> bool {
        let mut records = self.records.write().unwrap_or_else(PoisonError::into_inner);
        match records.get_mut(key_id) {
            Some(record) => {
                Arc::make_mut(record).revoked = true;
                true
            }
            None => false,
        }
    }

    /// Removes a key; `false` if the id is unknown.
    pub fn remove(&self, key_id: &str) -> bool {
        let mut records = self.records.write().unwrap_or_else(PoisonError::into_inner);
        records.remove(key_id).is_some()
    }

    /// Adds a record unless its id is taken; `false` if it is.
    pub(crate) fn insert_new(&self, record: KeyRecord) -> bool {
        let mut records = self.records.write().unwrap_or_else(PoisonError::into_inner);
        if records.contains_key(&record.key_id) {
            return false;
        }
        records.insert(record.key_id.clone(), Arc::new(record));
        true
    }

    /// Every record.
    pub(crate) fn snapshot(&self) -> Vec<Arc<KeyRecord>> {
        let records = self.records.read().unwrap_or_else(PoisonError::into_inner);
        records.values().cloned().collect()
    }

    /// Edits a record in place; the edited record, or `None` if the id is unknown.
    pub(crate) fn modify(
        &self,
        key_id: &str,
        edit: impl FnOnce(&mut KeyRecord),
    ) -> Option<KeyRecord> {
        let mut records = self.records.write().unwrap_or_else(PoisonError::into_inner);
        let record = records.get_mut(key_id)?;
        let record = Arc::make_mut(record);
        edit(record);
        Some(record.clone())
    }

    /// Stores `successor` and shortens the expiry of `key_id`, under one lock.
    pub(crate) fn roll_to(&self, key_id: &str, successor: KeyRecord, old_expires_at: u64) -> bool {
        let mut records = self.records.write().unwrap_or_else(PoisonError::into_inner);
        if records.contains_key(&successor.key_id) {
            return false;
        }
        let Some(old) = records.get_mut(key_id).filter(|old| !old.revoked) else {
            return false;
        };
        let old = Arc::make_mut(old);
        old.expires_at = Some(
            old.expires_at
                .map_or(old_expires_at, |at| at.min(old_expires_at)),
        );
        records.insert(successor.key_id.clone(), Arc::new(successor));
        true
    }

    /// The record of `key_id`.
    pub fn get(&self, key_id: &str) -> Option<Arc<KeyRecord>> {
        let records = self.records.read().unwrap_or_else(PoisonError::into_inner);
        records.get(key_id).cloned()
    }

    /// How many keys are stored.
    pub fn len(&self) -> usize {
        self.records
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Whether the store is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl KeyProvider for MemoryKeyProvider {
    fn lookup(&self, key_id: &str) -> Lookup<Option<Arc<KeyRecord>>> {
        Lookup::Ready(Ok(self.get(key_id)))
    }
}

impl FromIterator<KeyRecord> for MemoryKeyProvider {
    fn from_iter<I: IntoIterator<Item = KeyRecord>>(records: I) -> Self {
        let map = records
            .into_iter()
            .map(|record| (record.key_id.clone(), Arc::new(record)))
            .collect();
        Self {
            records: Arc::new(RwLock::new(map)),
        }
    }
}

impl From<Vec<KeyRecord>> for MemoryKeyProvider {
    fn from(records: Vec<KeyRecord>) -> Self {
        records.into_iter().collect()
    }
}

impl fmt::Debug for MemoryKeyProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryKeyProvider")
            .field("keys", &self.len())
            .finish()
    }
}
