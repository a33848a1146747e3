//! API keys: their format, generation, hashing, and the stores that hold them.
//!
//! [`ApiKeys`] holds the one format and hasher of a deployment: the layer checks keys with it, and
//! keys are made from it ([`ApiKeys::generate`], [`ApiKeys::manager`]), so that no key is ever
//! made in a format the layer does not accept.
//!
//! ```
//! use tower_api_auth::{api_key::ApiKeyFormat, api_key::ApiKeys, AuthLayer, MemoryKeyStore, scope::Scopes, Tenant};
//!
//! let store = MemoryKeyStore::new();
//! let api_keys = ApiKeys::new(store.clone()).format(ApiKeyFormat::new("rag_live").unwrap());
//! let (plaintext, record) = api_keys
//!     .generate()
//!     .with_record(|r| {
//!         r.with_tenants([Tenant::new("tn_demo").unwrap()])
//!             .with_scopes(Scopes::parse("conversations:read").unwrap())
//!     })
//!     .into_parts();
//! store.insert(record);
//! assert!(plaintext.starts_with("rag_live_"));
//! let auth = AuthLayer::builder().api_keys(api_keys).build().unwrap();
//! # let _ = auth;
//! ```

mod cache;
mod changes;
mod format;
mod hash;
mod manager;
mod memory;
mod record;
mod usage;

pub use cache::CachedKeyProvider;
pub use changes::{KeyAnnouncer, KeyChangeListener, KeyChanges};
pub(crate) use format::is_key_of_any_prefix;
pub use format::{ApiKeyFormat, InvalidPrefix, MalformedKey, ParsedKey};
pub use hash::{ApiKeyHasher, KeyHash, NewApiKey};
pub use manager::{CreatedKey, KeyManager, KeySpec};
pub use memory::MemoryKeyStore;
pub use record::KeyRecord;
pub use usage::KeyUsage;

use std::fmt;
use std::sync::Arc;

use crate::error::{AuthError, AuthErrorKind, rfc3339};
use crate::store::{KeyProvider, KeyStore};

/// API-key settings: the store, the key format and the hasher. Anything that accepts a
/// [`KeyProvider`] accepts this too, for a custom format or a peppered hasher.
///
/// The format and hasher are set here once: keys are made from the same value
/// ([`generate`](Self::generate), [`manager`](Self::manager)), so they are always ones the layer
/// accepts. A key of another prefix presented to the layer is `invalid_api_key`, its message
/// naming the prefix this service's keys start with.
///
/// ```
/// use tower_api_auth::api_key::{ApiKeyFormat, ApiKeyHasher, ApiKeys};
/// use tower_api_auth::{AuthLayer, MemoryKeyStore};
///
/// let store = MemoryKeyStore::new();
/// let api_keys = ApiKeys::new(store.clone())
///     .format(ApiKeyFormat::new("pk_test").unwrap())
///     .hasher(ApiKeyHasher::with_pepper(b"a-server-side-pepper-from-the-environment"));
/// let (key, record) = api_keys.generate().into_parts();
/// store.insert(record);
/// let auth = AuthLayer::builder().api_keys(api_keys).build().unwrap();
/// assert!(key.starts_with("pk_test_"));
/// # let _ = auth;
/// ```
#[derive(Clone)]
pub struct ApiKeys {
    pub(crate) provider: Arc<dyn KeyProvider>,
    pub(crate) format: ApiKeyFormat,
    pub(crate) hasher: ApiKeyHasher,
    pub(crate) usage: Option<Arc<KeyUsage>>,
}

impl fmt::Debug for ApiKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKeys")
            .field("format", &self.format)
            .finish_non_exhaustive()
    }
}

impl ApiKeys {
    /// Keys from `provider`, in the default format (`sk_live`) and hashed by the default hasher.
    pub fn new(provider: impl KeyProvider) -> Self {
        Self::from_shared(Arc::new(provider))
    }

    /// Keys from a provider that is shared with other code (e.g. an admin API that revokes keys).
    pub fn from_shared(provider: Arc<dyn KeyProvider>) -> Self {
        Self {
            provider,
            format: ApiKeyFormat::default(),
            hasher: ApiKeyHasher::default(),
            usage: None,
        }
    }

    /// Sets the key format: the one keys are checked in and, through [`generate`](Self::generate)
    /// and [`manager`](Self::manager), made in.
    #[must_use]
    pub fn format(mut self, format: ApiKeyFormat) -> Self {
        self.format = format;
        self
    }

    /// Sets the hasher (it must be the one the stored hashes were made with).
    #[must_use]
    pub fn hasher(mut self, hasher: ApiKeyHasher) -> Self {
        self.hasher = hasher;
        self
    }

    /// The same format, hasher and usage over another store: e.g. a configuration file's
    /// settings with the keys in a database.
    #[must_use]
    pub fn with_provider(mut self, provider: impl KeyProvider) -> Self {
        self.provider = Arc::new(provider);
        self
    }

    /// The key format (for a [`KeyManager`] that makes keys these settings accept).
    pub fn key_format(&self) -> &ApiKeyFormat {
        &self.format
    }

    /// The hasher (for a [`KeyManager`] that makes keys these settings accept).
    pub fn key_hasher(&self) -> &ApiKeyHasher {
        &self.hasher
    }

    /// A new key in these settings' format, hashed by their hasher: the plaintext (to show once)
    /// and the record to store (tenants, scopes and labels set with
    /// [`NewApiKey::with_record`]).
    pub fn generate(&self) -> NewApiKey {
        self.hasher.generate(&self.format)
    }

    /// A [`KeyManager`] over `store` (usually the store these settings read) that makes keys in
    /// these settings' format, hashed by their hasher.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use tower_api_auth::api_key::{ApiKeyFormat, ApiKeys, KeySpec};
    /// use tower_api_auth::MemoryKeyStore;
    ///
    /// let store = MemoryKeyStore::new();
    /// let api_keys = ApiKeys::new(store.clone()).format(ApiKeyFormat::new("rag_live").unwrap());
    /// let created = api_keys.manager(store).create(KeySpec::default()).await.unwrap();
    /// assert!(created.key.starts_with("rag_live_"));
    /// assert!(api_keys.verify(&created.key, 1_800_000_000).await.is_ok());
    /// # }
    /// ```
    pub fn manager(&self, store: impl KeyStore) -> KeyManager {
        KeyManager::new(store)
            .format(self.format.clone())
            .hasher(self.hasher.clone())
    }

    /// The error for a presented key that does not parse: a key of another prefix is told which
    /// prefix this service's keys have; a mangled one of ours is simply invalid.
    pub(crate) fn malformed(&self, key: &str) -> AuthError {
        if self.format.claims(key) {
            AuthError::new(AuthErrorKind::InvalidApiKey)
        } else {
            self.format.foreign_key_error()
        }
    }

    /// Notes each key that authenticates a request in `usage`, which writes `last_used_at` to
    /// the store in batches.
    #[must_use]
    pub fn usage(mut self, usage: Arc<KeyUsage>) -> Self {
        self.usage = Some(usage);
        self
    }

    /// Checks an API key as the auth layer does: its format and checksum, the store's record of
    /// it, its hash (in constant time), then revocation and expiry at `now` (unix seconds). The
    /// errors are the layer's: `invalid_api_key`, `api_key_revoked`, `api_key_expired`, and
    /// `auth_unavailable` when the store cannot answer. Tenant rules are left to the caller.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use tower_api_auth::{api_key::ApiKeyFormat, api_key::ApiKeyHasher, api_key::ApiKeys, MemoryKeyStore};
    ///
    /// let (key, record) = ApiKeyHasher::default().generate(&ApiKeyFormat::default()).into_parts();
    /// let api_keys = ApiKeys::new(MemoryKeyStore::from(vec![record.clone().revoked()]));
    /// assert_eq!(api_keys.verify(&key, 1_800_000_000).await.unwrap_err().code(), "api_key_revoked");
    /// let api_keys = ApiKeys::new(MemoryKeyStore::from(vec![record]));
    /// assert!(api_keys.verify(&key, 1_800_000_000).await.is_ok());
    /// assert_eq!(api_keys.verify("sk_live_nope", 1_800_000_000).await.unwrap_err().code(), "invalid_api_key");
    /// # }
    /// ```
    pub async fn verify(&self, key: &str, now: u64) -> Result<Arc<KeyRecord>, AuthError> {
        let parsed = self.format.parse(key).map_err(|_| self.malformed(key))?;
        let found = self
            .provider
            .lookup(parsed.key_id())
            .resolve()
            .await
            .map_err(unavailable)?;
        self.check(parsed, found, now)
    }

    /// Checks again a key that was verified before, by its public id alone (e.g. the key a token
    /// session was exchanged for): it must still be in the store and
    /// [usable](KeyRecord::check_usable) at `now`. Unknown keys are `invalid_api_key`; a store that
    /// cannot answer is `auth_unavailable`.
    pub async fn recheck(&self, key_id: &str, now: u64) -> Result<Arc<KeyRecord>, AuthError> {
        let record = self
            .provider
            .lookup(key_id)
            .resolve()
            .await
            .map_err(unavailable)?
            .ok_or_else(|| AuthError::new(AuthErrorKind::InvalidApiKey))?;
        record.check_usable(now)?;
        Ok(record)
    }

    /// Checks a found record against the presented key: hash first (so a wrong secret learns nothing
    /// about the key's state), then revocation and expiry.
    pub(crate) fn check(
        &self,
        presented: ParsedKey<'_>,
        record: Option<Arc<KeyRecord>>,
        now: u64,
    ) -> Result<Arc<KeyRecord>, AuthError> {
        let record = record.ok_or_else(|| AuthError::new(AuthErrorKind::InvalidApiKey))?;
        if !self.hasher.hash(presented.full()).matches(&record.hash) {
            return Err(AuthError::new(AuthErrorKind::InvalidApiKey));
        }
        record.check_usable(now)?;
        if let Some(usage) = &self.usage {
            usage.touch(&record.key_id, now);
        }
        Ok(record)
    }
}

impl KeyRecord {
    /// Whether the key may be used at `now` (unix seconds): `api_key_revoked` if it is revoked or
    /// disabled, `api_key_expired` (with `expired_at` in the details) once its expiry has come.
    /// The one rule the auth layer and the token issuer both apply.
    ///
    /// ```
    /// use tower_api_auth::{api_key::ApiKeyHasher, api_key::KeyRecord};
    ///
    /// let record = KeyRecord::new("k1ABCDEFGHIJ", ApiKeyHasher::default().hash("…")).with_expires_at(100);
    /// assert!(record.check_usable(99).is_ok());
    /// assert_eq!(record.check_usable(100).unwrap_err().code(), "api_key_expired");
    /// ```
    pub fn check_usable(&self, now: u64) -> Result<(), AuthError> {
        if self.revoked || self.disabled {
            return Err(AuthError::new(AuthErrorKind::ApiKeyRevoked));
        }
        if let Some(expires_at) = self.expires_at
            && now >= expires_at
        {
            return Err(AuthError::new(AuthErrorKind::ApiKeyExpired)
                .with_detail("expired_at", rfc3339(expires_at)));
        }
        Ok(())
    }
}

fn unavailable(error: crate::store::StoreError) -> AuthError {
    tracing::debug!(error = %error, "API key provider failed");
    AuthError::new(AuthErrorKind::AuthUnavailable)
}

impl<P: KeyProvider> From<P> for ApiKeys {
    fn from(provider: P) -> Self {
        Self::new(provider)
    }
}
