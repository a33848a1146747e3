//! The API-key stores: [`KeyProvider`] (the read side, on the request path) and [`KeyStore`] (the
//! write side: create, list, update, revoke), with the types the write side speaks.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::api_key::KeyRecord;
use crate::scope::Scopes;
use crate::store::{Lookup, StoreError};
use crate::tenant::Tenant;

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

/// Which keys to list: all of them, or those of one tenant and/or one owner.
///
/// ```
/// use tower_api_auth::{store::KeyFilter, Tenant};
///
/// let filter = KeyFilter::default().tenant(Tenant::new("tn_acme").unwrap()).owner("user_42");
/// assert_eq!(filter.owner.as_deref(), Some("user_42"));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct KeyFilter {
    /// Only keys that may act for this tenant.
    #[serde(default)]
    pub tenant: Option<Tenant>,
    /// Only keys of this owner.
    #[serde(default)]
    pub owner: Option<String>,
}

impl KeyFilter {
    /// Only keys that may act for `tenant`.
    #[must_use]
    pub fn tenant(mut self, tenant: Tenant) -> Self {
        self.tenant = Some(tenant);
        self
    }

    /// Only keys of `owner`.
    #[must_use]
    pub fn owner(mut self, owner: impl Into<String>) -> Self {
        self.owner = Some(owner.into());
        self
    }

    /// Whether `record` passes the filter.
    pub fn matches(&self, record: &KeyRecord) -> bool {
        self.tenant
            .as_ref()
            .is_none_or(|tenant| record.tenants.contains(tenant))
            && self
                .owner
                .as_deref()
                .is_none_or(|owner| record.owner.as_deref() == Some(owner))
    }
}

/// A change to a key's grants or labels; fields left `None` stay as they are.
///
/// ```
/// use tower_api_auth::{store::KeyUpdate, scope::Scopes};
///
/// let update = KeyUpdate::default()
///     .scopes(Scopes::parse("reports:read").unwrap())
///     .expires_at(Some(1_900_000_000));
/// # let _ = update;
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct KeyUpdate {
    /// A new name.
    #[serde(default)]
    pub name: Option<String>,
    /// New scopes.
    #[serde(default)]
    pub scopes: Option<Scopes>,
    /// New tenants.
    #[serde(default)]
    pub tenants: Option<Vec<Tenant>>,
    /// A new expiry: `Some(None)` removes it (in JSON: `"expires_at": null`).
    #[serde(default, with = "double_option")]
    pub expires_at: Option<Option<u64>>,
    /// Switched off (`true`) or on again (`false`).
    #[serde(default)]
    pub disabled: Option<bool>,
    /// New metadata, replacing the old.
    #[serde(default)]
    pub metadata: Option<BTreeMap<String, String>>,
}

impl KeyUpdate {
    /// Sets the name.
    #[must_use]
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Sets the scopes.
    #[must_use]
    pub fn scopes(mut self, scopes: Scopes) -> Self {
        self.scopes = Some(scopes);
        self
    }

    /// Sets the tenants.
    #[must_use]
    pub fn tenants(mut self, tenants: impl IntoIterator<Item = Tenant>) -> Self {
        self.tenants = Some(tenants.into_iter().collect());
        self
    }

    /// Sets (`Some`) or removes (`None`) the expiry, in unix seconds.
    #[must_use]
    pub fn expires_at(mut self, expires_at: Option<u64>) -> Self {
        self.expires_at = Some(expires_at);
        self
    }

    /// Switches the key off or on.
    #[must_use]
    pub fn disabled(mut self, disabled: bool) -> Self {
        self.disabled = Some(disabled);
        self
    }

    /// Replaces the metadata.
    #[must_use]
    pub fn metadata(mut self, metadata: BTreeMap<String, String>) -> Self {
        self.metadata = Some(metadata);
        self
    }

    /// Applies the change to `record`.
    pub fn apply_to(&self, record: &mut KeyRecord) {
        if let Some(name) = &self.name {
            record.name.clone_from(name);
        }
        if let Some(scopes) = &self.scopes {
            record.scopes = scopes.clone();
        }
        if let Some(tenants) = &self.tenants {
            record.tenants.clone_from(tenants);
        }
        if let Some(expires_at) = self.expires_at {
            record.expires_at = expires_at;
        }
        if let Some(disabled) = self.disabled {
            record.disabled = disabled;
        }
        if let Some(metadata) = &self.metadata {
            record.metadata.clone_from(metadata);
        }
    }
}

/// `Option<Option<T>>` in JSON: absent is `None`, `null` is `Some(None)`.
mod double_option {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub(super) fn serialize<S: Serializer>(
        value: &Option<Option<u64>>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        value.flatten().serialize(serializer)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Option<u64>>, D::Error> {
        Option::<u64>::deserialize(deserializer).map(Some)
    }
}

/// What may be shown of a key: everything but its hash. The type the admin API, the command-line
/// tool and [`KeyManager`](crate::api_key::KeyManager) answer with.
///
/// ```
/// use tower_api_auth::api_key::{ApiKeyHasher, KeyRecord};
/// use tower_api_auth::store::KeyInfo;
///
/// let record = KeyRecord::new("k1ABCDEFGHIJ", ApiKeyHasher::default().hash("…")).with_name("ci");
/// let info = KeyInfo::from(&record);
/// assert!(!serde_json::to_string(&info).unwrap().contains("hash"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct KeyInfo {
    /// The public key id.
    pub key_id: Arc<str>,
    /// Who acts with the key.
    pub owner: Option<Arc<str>>,
    /// Its name.
    pub name: String,
    /// The tenants it may act for.
    pub tenants: Vec<Tenant>,
    /// The scopes it grants.
    pub scopes: Scopes,
    /// When it stops working (unix seconds).
    pub expires_at: Option<u64>,
    /// Revoked for good.
    pub revoked: bool,
    /// Switched off for now.
    pub disabled: bool,
    /// Its labels.
    pub metadata: BTreeMap<String, String>,
    /// When it was created (unix seconds).
    pub created_at: Option<u64>,
    /// When it last authenticated a request (unix seconds), up to one usage flush behind.
    pub last_used_at: Option<u64>,
}

impl From<&KeyRecord> for KeyInfo {
    fn from(record: &KeyRecord) -> Self {
        Self {
            key_id: record.key_id.clone(),
            owner: record.owner.clone(),
            name: record.name.clone(),
            tenants: record.tenants.clone(),
            scopes: record.scopes.clone(),
            expires_at: record.expires_at,
            revoked: record.revoked,
            disabled: record.disabled,
            metadata: record.metadata.clone(),
            created_at: record.created_at,
            last_used_at: record.last_used_at,
        }
    }
}

/// A key store that can be written to: the [`KeyProvider`] the auth layer reads, plus what a
/// dashboard, an admin API or a command-line tool needs. Implemented by [`MemoryKeyStore`](crate::MemoryKeyStore)
/// and the SQL stores; implement it with `async fn` for a store of your own. Use it through
/// [`KeyManager`](crate::api_key::KeyManager), which makes the keys and tells a fleet.
///
/// Every write is one atomic change in the store. Records hold only hashes.
///
/// ```
/// use std::sync::Arc;
/// use tower_api_auth::api_key::{KeyRecord, MemoryKeyStore};
/// use tower_api_auth::store::{KeyFilter, KeyStore, KeyUpdate};
/// use tower_api_auth::store::Lookup;
/// use tower_api_auth::{KeyProvider, store::StoreError};
///
/// /// A store of your own (here delegating to the in-memory one).
/// struct Mine(MemoryKeyStore);
///
/// impl KeyProvider for Mine {
///     fn lookup(&self, key_id: &str) -> Lookup<Option<Arc<KeyRecord>>> {
///         self.0.lookup(key_id)
///     }
/// }
///
/// impl KeyStore for Mine {
///     async fn create(&self, record: KeyRecord) -> Result<(), StoreError> {
///         self.0.create(record).await
///     }
///     async fn list(&self, filter: &KeyFilter) -> Result<Vec<KeyRecord>, StoreError> {
///         self.0.list(filter).await
///     }
///     async fn update(&self, key_id: &str, update: &KeyUpdate) -> Result<Option<KeyRecord>, StoreError> {
///         self.0.update(key_id, update).await
///     }
///     async fn revoke(&self, key_id: &str) -> Result<bool, StoreError> {
///         KeyStore::revoke(&self.0, key_id).await
///     }
///     async fn roll(&self, key_id: &str, successor: KeyRecord, old_expires_at: u64) -> Result<bool, StoreError> {
///         self.0.roll(key_id, successor, old_expires_at).await
///     }
///     async fn record_usage(&self, used: &[(Arc<str>, u64)]) -> Result<(), StoreError> {
///         self.0.record_usage(used).await
///     }
/// }
/// ```
pub trait KeyStore: KeyProvider {
    /// Stores a new key. An id already taken is an error (ids are random; a clash is a bug).
    fn create(&self, record: KeyRecord) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The keys that pass `filter`, revoked ones included, in a stable order (by creation, then
    /// id).
    fn list(
        &self,
        filter: &KeyFilter,
    ) -> impl Future<Output = Result<Vec<KeyRecord>, StoreError>> + Send;

    /// Changes a key; `None` if the id is unknown.
    fn update(
        &self,
        key_id: &str,
        update: &KeyUpdate,
    ) -> impl Future<Output = Result<Option<KeyRecord>, StoreError>> + Send;

    /// Revokes a key for good; `false` if the id is unknown.
    fn revoke(&self, key_id: &str) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// In one atomic change: stores `successor` and brings the expiry of `key_id` forward to
    /// `old_expires_at` (never later than it was). `false`, and nothing stored, if `key_id` is
    /// unknown or revoked.
    fn roll(
        &self,
        key_id: &str,
        successor: KeyRecord,
        old_expires_at: u64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Records when keys were last used: one batch of `(key id, unix seconds)`, never moving a
    /// `last_used_at` backwards. Unknown ids are skipped.
    fn record_usage(
        &self,
        used: &[(Arc<str>, u64)],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

impl<S: KeyStore> KeyStore for Arc<S> {
    fn create(&self, record: KeyRecord) -> impl Future<Output = Result<(), StoreError>> + Send {
        (**self).create(record)
    }

    fn list(
        &self,
        filter: &KeyFilter,
    ) -> impl Future<Output = Result<Vec<KeyRecord>, StoreError>> + Send {
        (**self).list(filter)
    }

    fn update(
        &self,
        key_id: &str,
        update: &KeyUpdate,
    ) -> impl Future<Output = Result<Option<KeyRecord>, StoreError>> + Send {
        (**self).update(key_id, update)
    }

    fn revoke(&self, key_id: &str) -> impl Future<Output = Result<bool, StoreError>> + Send {
        (**self).revoke(key_id)
    }

    fn roll(
        &self,
        key_id: &str,
        successor: KeyRecord,
        old_expires_at: u64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send {
        (**self).roll(key_id, successor, old_expires_at)
    }

    fn record_usage(
        &self,
        used: &[(Arc<str>, u64)],
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        (**self).record_usage(used)
    }
}

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// [`KeyStore`] made object safe.
pub(crate) trait DynKeyStore: Send + Sync + 'static {
    fn lookup(&self, key_id: &str) -> crate::store::Lookup<Option<Arc<KeyRecord>>>;
    fn create(&self, record: KeyRecord) -> BoxFuture<'_, ()>;
    fn list<'a>(&'a self, filter: &'a KeyFilter) -> BoxFuture<'a, Vec<KeyRecord>>;
    fn update<'a>(
        &'a self,
        key_id: &'a str,
        update: &'a KeyUpdate,
    ) -> BoxFuture<'a, Option<KeyRecord>>;
    fn revoke<'a>(&'a self, key_id: &'a str) -> BoxFuture<'a, bool>;
    fn roll<'a>(
        &'a self,
        key_id: &'a str,
        successor: KeyRecord,
        old_expires_at: u64,
    ) -> BoxFuture<'a, bool>;
    fn record_usage<'a>(&'a self, used: &'a [(Arc<str>, u64)]) -> BoxFuture<'a, ()>;
}

impl<S: KeyStore> DynKeyStore for S {
    fn lookup(&self, key_id: &str) -> crate::store::Lookup<Option<Arc<KeyRecord>>> {
        KeyProvider::lookup(self, key_id)
    }

    fn create(&self, record: KeyRecord) -> BoxFuture<'_, ()> {
        Box::pin(KeyStore::create(self, record))
    }

    fn list<'a>(&'a self, filter: &'a KeyFilter) -> BoxFuture<'a, Vec<KeyRecord>> {
        Box::pin(KeyStore::list(self, filter))
    }

    fn update<'a>(
        &'a self,
        key_id: &'a str,
        update: &'a KeyUpdate,
    ) -> BoxFuture<'a, Option<KeyRecord>> {
        Box::pin(KeyStore::update(self, key_id, update))
    }

    fn revoke<'a>(&'a self, key_id: &'a str) -> BoxFuture<'a, bool> {
        Box::pin(KeyStore::revoke(self, key_id))
    }

    fn roll<'a>(
        &'a self,
        key_id: &'a str,
        successor: KeyRecord,
        old_expires_at: u64,
    ) -> BoxFuture<'a, bool> {
        Box::pin(KeyStore::roll(self, key_id, successor, old_expires_at))
    }

    fn record_usage<'a>(&'a self, used: &'a [(Arc<str>, u64)]) -> BoxFuture<'a, ()> {
        Box::pin(KeyStore::record_usage(self, used))
    }
}

impl fmt::Debug for dyn DynKeyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("dyn KeyStore")
    }
}
