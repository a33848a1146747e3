//! [`KeyManager`]: creating, listing, editing, rolling and revoking API keys.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::api_key::changes::{DynKeyAnnouncer, KeyAnnouncer};
use crate::api_key::format::ApiKeyFormat;
use crate::api_key::hash::ApiKeyHasher;
use crate::api_key::record::KeyRecord;
use crate::clock::{Clock, SharedClock};
use crate::scope::Scopes;
use crate::store::{DynKeyStore, KeyFilter, KeyInfo, KeyStore, KeyUpdate, StoreError};
use crate::tenant::Tenant;

/// What a new key grants and how it is labelled. In JSON (the admin API, the command line):
/// `{"owner": "user_42", "name": "CI", "tenants": ["tn_acme"], "scopes": "reports:read", "expires_at": 1900000000}`;
/// every field is optional.
///
/// ```
/// use tower_api_auth::{api_key::KeySpec, scope::Scopes, Tenant};
///
/// let spec = KeySpec::default()
///     .owner("user_42")
///     .name("CI deploy key")
///     .tenants([Tenant::new("tn_acme").unwrap()])
///     .scopes(Scopes::parse("deploys:write").unwrap());
/// let from_json: KeySpec = serde_json::from_str(r#"{"owner":"user_42","name":"CI deploy key","tenants":["tn_acme"],"scopes":"deploys:write"}"#).unwrap();
/// assert_eq!(spec, from_json);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct KeySpec {
    /// Who acts with the key (a user or service id); the key id when absent.
    #[serde(default)]
    pub owner: Option<String>,
    /// A human-readable name.
    #[serde(default)]
    pub name: String,
    /// The tenants the key may act for.
    #[serde(default)]
    pub tenants: Vec<Tenant>,
    /// The scopes it grants.
    #[serde(default)]
    pub scopes: Scopes,
    /// When it stops working (unix seconds).
    #[serde(default)]
    pub expires_at: Option<u64>,
    /// Free-form labels.
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
}

impl KeySpec {
    /// Sets the owner.
    #[must_use]
    pub fn owner(mut self, owner: impl Into<String>) -> Self {
        self.owner = Some(owner.into());
        self
    }

    /// Sets the name.
    #[must_use]
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Sets the tenants.
    #[must_use]
    pub fn tenants(mut self, tenants: impl IntoIterator<Item = Tenant>) -> Self {
        self.tenants = tenants.into_iter().collect();
        self
    }

    /// Sets the scopes.
    #[must_use]
    pub fn scopes(mut self, scopes: Scopes) -> Self {
        self.scopes = scopes;
        self
    }

    /// Sets the expiry (unix seconds).
    #[must_use]
    pub fn expires_at(mut self, unix: u64) -> Self {
        self.expires_at = Some(unix);
        self
    }

    /// Adds a metadata label.
    #[must_use]
    pub fn metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.metadata.insert(key.into(), value.into());
        self
    }

    fn into_record(self, record: KeyRecord) -> KeyRecord {
        let mut record = record
            .with_name(self.name)
            .with_tenants(self.tenants)
            .with_scopes(self.scopes);
        record.owner = self.owner.map(Arc::from);
        record.expires_at = self.expires_at;
        record.metadata = self.metadata;
        record
    }
}

/// A key just made: the plaintext, to show its owner once (it is stored nowhere), and what the
/// store now holds about it. Its `Debug` hides the plaintext; its JSON form (`key` beside the
/// [`KeyInfo`] fields) is the answer of the admin API's create and roll.
#[derive(Clone, Serialize)]
#[non_exhaustive]
pub struct CreatedKey {
    /// The key.
    pub key: String,
    /// What the store holds about it.
    #[serde(flatten)]
    pub info: KeyInfo,
}

impl fmt::Debug for CreatedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CreatedKey")
            .field("key", &"<redacted>")
            .field("info", &self.info)
            .finish()
    }
}

/// Key management over any [`KeyStore`]: makes keys (the plaintext returned once, only its hash
/// stored), lists them without their hashes, edits, rolls and revokes them, and, with
/// [`announce`](Self::announce), tells every instance of a fleet so that their caches drop the
/// old answer at once. The Rust API behind the admin router and the command-line tool.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use std::time::Duration;
/// use tower_api_auth::api_key::{ApiKeys, KeyManager, KeySpec};
/// use tower_api_auth::store::KeyFilter;
/// use tower_api_auth::{MemoryKeyStore, scope::Scopes};
///
/// let store = MemoryKeyStore::new();
/// let keys = KeyManager::new(store.clone());
/// let created = keys
///     .create(KeySpec::default().owner("user_42").scopes(Scopes::parse("reports:read").unwrap()))
///     .await
///     .unwrap();
/// let api_keys = ApiKeys::new(store);
/// assert!(api_keys.verify(&created.key, 1_800_000_000).await.is_ok());
///
/// // Roll it: a new key with the same grants; the old one works for one more hour.
/// let rolled = keys.roll(&created.info.key_id, Duration::from_secs(3600)).await.unwrap().unwrap();
/// assert_eq!(rolled.info.scopes, created.info.scopes);
/// assert_eq!(keys.list(&KeyFilter::default().owner("user_42")).await.unwrap().len(), 2);
///
/// assert!(keys.revoke(&rolled.info.key_id).await.unwrap());
/// assert_eq!(api_keys.verify(&rolled.key, 1_800_000_000).await.unwrap_err().code(), "api_key_revoked");
/// # }
/// ```
#[derive(Clone)]
pub struct KeyManager {
    store: Arc<dyn DynKeyStore>,
    format: ApiKeyFormat,
    hasher: ApiKeyHasher,
    clock: SharedClock,
    announcer: Option<Arc<dyn DynKeyAnnouncer>>,
}

impl fmt::Debug for KeyManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyManager")
            .field("format", &self.format)
            .finish_non_exhaustive()
    }
}

impl KeyManager {
    /// Keys in `store`, in the default format (`sk_live`), hashed by the default hasher.
    pub fn new(store: impl KeyStore) -> Self {
        Self {
            store: Arc::new(store),
            format: ApiKeyFormat::default(),
            hasher: ApiKeyHasher::default(),
            clock: crate::clock::system(),
            announcer: None,
        }
    }

    /// The key format; the auth layer's [`ApiKeys`](crate::api_key::ApiKeys) must use the same
    /// (a manager made by [`ApiKeys::manager`](crate::api_key::ApiKeys::manager) does).
    #[must_use]
    pub fn format(mut self, format: ApiKeyFormat) -> Self {
        self.format = format;
        self
    }

    /// The hasher; the auth layer's must be the same (same pepper).
    #[must_use]
    pub fn hasher(mut self, hasher: ApiKeyHasher) -> Self {
        self.hasher = hasher;
        self
    }

    /// The clock `created_at` and roll deadlines are read from.
    #[must_use]
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Announces every change through `announcer`, so that each instance's
    /// [`CachedKeyProvider`](crate::api_key::CachedKeyProvider) that
    /// [follows](crate::api_key::CachedKeyProvider::follow) the fleet drops the key at once. With
    /// feature `fleet`: an instance's `RevocationFeed` (a clone), or, for a process that is no
    /// instance itself (a command-line tool, a back-office job), the feed's store, which then
    /// publishes without following.
    #[must_use]
    pub fn announce(mut self, announcer: impl KeyAnnouncer) -> Self {
        self.announcer = Some(Arc::new(announcer));
        self
    }

    /// Makes a key as `spec` says and stores it. The plaintext is in the answer only.
    pub async fn create(&self, spec: KeySpec) -> Result<CreatedKey, StoreError> {
        let (key, record) = self.generate(|record| spec.into_record(record));
        let info = KeyInfo::from(&record);
        self.store.create(record).await?;
        // Only a negative cache entry can exist for a new id; failing to announce is not worth
        // failing the creation for (it lapses within the negative TTL).
        if let Err(error) = self.announce_change(&info.key_id).await {
            tracing::warn!(%error, "new API key stored but not announced to the fleet");
        }
        Ok(CreatedKey { key, info })
    }

    /// The key `key_id`, without its hash.
    pub async fn get(&self, key_id: &str) -> Result<Option<KeyInfo>, StoreError> {
        let found = self.store.lookup(key_id).resolve().await?;
        Ok(found.as_deref().map(KeyInfo::from))
    }

    /// The keys that pass `filter`, without their hashes.
    pub async fn list(&self, filter: &KeyFilter) -> Result<Vec<KeyInfo>, StoreError> {
        let records = self.store.list(filter).await?;
        Ok(records.iter().map(KeyInfo::from).collect())
    }

    /// Changes a key's grants or labels; `None` if the id is unknown. An error after the store
    /// changed means the fleet was not told: retry (the change is idempotent).
    pub async fn update(
        &self,
        key_id: &str,
        update: &KeyUpdate,
    ) -> Result<Option<KeyInfo>, StoreError> {
        let Some(record) = self.store.update(key_id, update).await? else {
            return Ok(None);
        };
        self.announce_change(key_id).await?;
        Ok(Some(KeyInfo::from(&record)))
    }

    /// Revokes a key for good; `false` if the id is unknown. An error after the store changed
    /// means the fleet was not told: retry.
    pub async fn revoke(&self, key_id: &str) -> Result<bool, StoreError> {
        if !self.store.revoke(key_id).await? {
            return Ok(false);
        }
        self.announce_change(key_id).await?;
        Ok(true)
    }

    /// Rolls a key, as Stripe does: a new key with the same owner, grants, expiry, state and
    /// labels (and a `rolled_from` label), while the old one keeps working for `grace` (zero: it
    /// stops now; an earlier expiry it already had is kept). `None` if the id is unknown or
    /// revoked. Once the store has rolled, the new key is returned even if the fleet could not be
    /// told (logged): the plaintext exists nowhere else.
    pub async fn roll(
        &self,
        key_id: &str,
        grace: Duration,
    ) -> Result<Option<CreatedKey>, StoreError> {
        let Some(old) = self.store.lookup(key_id).resolve().await? else {
            return Ok(None);
        };
        if old.revoked {
            return Ok(None);
        }
        let (key, successor) = self.generate(|record| {
            let mut successor = (*old).clone();
            successor.key_id = record.key_id;
            successor.hash = record.hash;
            successor.last_used_at = None;
            successor
                .metadata
                .insert("rolled_from".to_owned(), key_id.to_owned());
            successor
        });
        let info = KeyInfo::from(&successor);
        let old_until = self.clock.now().saturating_add(grace.as_secs());
        if !self.store.roll(key_id, successor, old_until).await? {
            return Ok(None);
        }
        // The new key exists only in this answer: failing the call would lose it, and a retry
        // would roll again. Other instances' caches drop the old expiry within their TTL.
        if let Err(error) = self.announce_change(key_id).await {
            tracing::warn!(%error, "API key rolled but not announced to the fleet");
        }
        Ok(Some(CreatedKey { key, info }))
    }

    /// A new plaintext and its record, edited by `edit`.
    fn generate(&self, edit: impl FnOnce(KeyRecord) -> KeyRecord) -> (String, KeyRecord) {
        let now = self.clock.now();
        let (key, mut record) = self
            .hasher
            .generate(&self.format)
            .with_record(edit)
            .into_parts();
        record.created_at = Some(now);
        (key, record)
    }

    async fn announce_change(&self, key_id: &str) -> Result<(), StoreError> {
        match &self.announcer {
            Some(announcer) => announcer.key_changed(key_id).await,
            None => Ok(()),
        }
    }
}
