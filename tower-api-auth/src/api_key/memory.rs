//! [`MemoryKeyStore`]: the embedded API-key store, the reference every database store is tested
//! against.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};

use crate::api_key::record::KeyRecord;
use crate::store::{KeyFilter, KeyProvider, KeyStore, KeyUpdate, Lookup, StoreError};

/// The embedded key store: records in a hash map, looked up in O(1) with no allocation.
///
/// Keys can be added, replaced, revoked and removed at run time; a change takes effect on the next
/// request. Cheap to clone: clones share the keys, so one store can serve the auth layer, the
/// token service's API-key exchange and an admin endpoint that revokes keys.
///
/// ```
/// use tower_api_auth::{api_key::ApiKeyFormat, api_key::ApiKeyHasher, KeyProvider, MemoryKeyStore};
///
/// let new_key = ApiKeyHasher::default().generate(&ApiKeyFormat::default());
/// let keys = MemoryKeyStore::from(vec![new_key.record().clone()]);
/// assert_eq!(keys.len(), 1);
/// assert!(keys.revoke(&new_key.record().key_id));
/// assert!(keys.get(&new_key.record().key_id).unwrap().revoked);
///
/// let shared = keys.clone();
/// shared.remove(&new_key.record().key_id);
/// assert!(keys.is_empty(), "clones share the keys");
/// ```
#[derive(Default, Clone)]
pub struct MemoryKeyStore {
    records: Arc<RwLock<Records>>,
}

/// Keyed by id with foldhash, randomly seeded per store, rather than SipHash: a lookup hashes the
/// presented key id on every API-key request, and foldhash does that in a third of SipHash's
/// instructions (~150 fewer per request). Its weaker flooding resistance costs nothing here:
/// clients only look ids up and never insert, and the stored ids are the operator's.
type Records = HashMap<Arc<str>, Arc<KeyRecord>, foldhash::fast::RandomState>;

impl MemoryKeyStore {
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

impl KeyProvider for MemoryKeyStore {
    fn lookup(&self, key_id: &str) -> Lookup<Option<Arc<KeyRecord>>> {
        Lookup::Ready(Ok(self.get(key_id)))
    }
}

impl FromIterator<KeyRecord> for MemoryKeyStore {
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

impl From<Vec<KeyRecord>> for MemoryKeyStore {
    fn from(records: Vec<KeyRecord>) -> Self {
        records.into_iter().collect()
    }
}

impl fmt::Debug for MemoryKeyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryKeyStore")
            .field("keys", &self.len())
            .finish()
    }
}

impl KeyStore for MemoryKeyStore {
    async fn create(&self, record: KeyRecord) -> Result<(), StoreError> {
        if self.insert_new(record) {
            Ok(())
        } else {
            Err(StoreError::new("an API key with this id already exists"))
        }
    }

    async fn list(&self, filter: &KeyFilter) -> Result<Vec<KeyRecord>, StoreError> {
        let mut keys: Vec<KeyRecord> = self
            .snapshot()
            .into_iter()
            .filter(|record| filter.matches(record))
            .map(|record| (*record).clone())
            .collect();
        keys.sort_by(|a, b| (a.created_at, &a.key_id).cmp(&(b.created_at, &b.key_id)));
        Ok(keys)
    }

    async fn update(
        &self,
        key_id: &str,
        update: &KeyUpdate,
    ) -> Result<Option<KeyRecord>, StoreError> {
        Ok(self.modify(key_id, |record| update.apply_to(record)))
    }

    async fn revoke(&self, key_id: &str) -> Result<bool, StoreError> {
        Ok(MemoryKeyStore::revoke(self, key_id))
    }

    async fn roll(
        &self,
        key_id: &str,
        successor: KeyRecord,
        old_expires_at: u64,
    ) -> Result<bool, StoreError> {
        Ok(self.roll_to(key_id, successor, old_expires_at))
    }

    async fn record_usage(&self, used: &[(Arc<str>, u64)]) -> Result<(), StoreError> {
        for (key_id, at) in used {
            self.modify(key_id, |record| {
                record.last_used_at = Some(record.last_used_at.unwrap_or(0).max(*at));
            });
        }
        Ok(())
    }
}
