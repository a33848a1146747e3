//! The issuer's signing keys as a store holds them: [`StoredSigningKey`] and the
//! [`SigningKeyStore`] trait, which the instances of a fleet share so that they sign with the
//! same keys and publish the same JWK set.

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use jsonwebtoken::Algorithm;

use crate::store::StoreError;

/// A signing key's private half as stored: sealed (AEAD under a key derived from the fleet
/// secret, the kid and algorithm bound as associated data) or, only when the app chose it, in the
/// clear. Its `Debug` shows neither.
#[derive(Clone, PartialEq, Eq)]
pub enum PrivateKey {
    /// Sealed: a version byte, the nonce, the ciphertext and its tag. Only the fleet secret opens it.
    Sealed(Vec<u8>),
    /// The PKCS#8 DER in the clear: whoever reads the store can sign tokens.
    Plaintext(Vec<u8>),
}

impl PrivateKey {
    /// Whether it is sealed.
    pub fn is_sealed(&self) -> bool {
        matches!(self, Self::Sealed(_))
    }

    /// The stored bytes (sealed or not), for a store to write.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Self::Sealed(bytes) | Self::Plaintext(bytes) => bytes,
        }
    }
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Sealed(_) => "PrivateKey::Sealed(<redacted>)",
            Self::Plaintext(_) => "PrivateKey::Plaintext(<redacted>)",
        })
    }
}

/// One signing key of the issuer's key set, as a [`SigningKeyStore`] holds it. Immutable once
/// inserted: when a key stops signing and when it leaves the JWK set follow from the key that
/// succeeds it, which the key ring works out from the whole set.
///
/// ```
/// use tower_api_auth::Algorithm;
/// use tower_api_auth::store::{PrivateKey, StoredSigningKey};
///
/// let key = StoredSigningKey::new(
///     "ES256-1796000000",
///     Algorithm::ES256,
///     PrivateKey::Sealed(vec![1, 2, 3]),
///     r#"{"kty":"EC"}"#,
/// )
/// .with_times(1_795_996_400, 1_796_000_000, 1_798_592_000);
/// assert_eq!(key.algorithm_name(), "ES256");
/// assert!(!format!("{key:?}").contains("[1, 2, 3]"));
/// ```
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoredSigningKey {
    /// The key id (`kid`), unique in the store. Derived from `signs_from`, so that instances
    /// rotating at the same moment make the same one and only one insert wins.
    pub kid: Arc<str>,
    /// The JWS algorithm.
    pub algorithm: Algorithm,
    /// The private key, sealed or (if the app chose it) in the clear.
    pub private_key: PrivateKey,
    /// The public key as a JWK (JSON, with `kid`, `alg` and `use: "sig"`), as published.
    pub public_jwk: Arc<str>,
    /// When it was inserted, and so published (unix seconds).
    pub created_at: u64,
    /// When it starts signing (unix seconds): `publish_ahead` after `created_at`, or at once for
    /// the first key of an empty store.
    pub signs_from: u64,
    /// When its successor is due to start signing, as scheduled at insert (unix seconds). A
    /// successor inserted on demand ends its signing earlier; a rotation that comes late, later.
    pub signs_until: u64,
}

impl StoredSigningKey {
    /// A key with all times 0; set them with [`with_times`](Self::with_times).
    pub fn new(
        kid: impl Into<Arc<str>>,
        algorithm: Algorithm,
        private_key: PrivateKey,
        public_jwk: impl Into<Arc<str>>,
    ) -> Self {
        Self {
            kid: kid.into(),
            algorithm,
            private_key,
            public_jwk: public_jwk.into(),
            created_at: 0,
            signs_from: 0,
            signs_until: 0,
        }
    }

    /// Sets when it was created (published), starts signing and is scheduled to stop signing.
    #[must_use]
    pub fn with_times(mut self, created_at: u64, signs_from: u64, signs_until: u64) -> Self {
        self.created_at = created_at;
        self.signs_from = signs_from;
        self.signs_until = signs_until;
        self
    }

    /// The algorithm's JOSE name (`"ES256"`), as a store writes it; read it back with
    /// `str::parse::<Algorithm>()`.
    pub fn algorithm_name(&self) -> &'static str {
        algorithm_name(self.algorithm)
    }
}

/// The JOSE name of `algorithm`.
pub(crate) fn algorithm_name(algorithm: Algorithm) -> &'static str {
    match algorithm {
        Algorithm::HS256 => "HS256",
        Algorithm::HS384 => "HS384",
        Algorithm::HS512 => "HS512",
        Algorithm::ES256 => "ES256",
        Algorithm::ES384 => "ES384",
        Algorithm::RS256 => "RS256",
        Algorithm::RS384 => "RS384",
        Algorithm::RS512 => "RS512",
        Algorithm::PS256 => "PS256",
        Algorithm::PS384 => "PS384",
        Algorithm::PS512 => "PS512",
        Algorithm::EdDSA => "EdDSA",
        // jsonwebtoken's enum is non-exhaustive; the key ring makes none of a newer one.
        _ => "unknown",
    }
}

impl fmt::Debug for StoredSigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredSigningKey")
            .field("kid", &self.kid)
            .field("algorithm", &self.algorithm)
            .field("private_key", &self.private_key)
            .field("created_at", &self.created_at)
            .field("signs_from", &self.signs_from)
            .field("signs_until", &self.signs_until)
            .finish_non_exhaustive()
    }
}

/// Where the issuer's signing keys live: in memory
/// ([`MemorySigningKeyStore`](crate::issuer::MemorySigningKeyStore)) for one instance, or in a
/// database every instance of a fleet reads. Implement it with `async fn`.
///
/// Instances agree without locks: a key's `kid` is derived from when it starts signing, so
/// instances rotating at the same moment try to insert the same `kid`;
/// [`insert`](Self::insert) keeps the first and answers `false` to the others, which then load
/// the winner. Which keys have ended is the key ring's to work out (a key ends after its
/// successor starts, which only the whole set tells); the store deletes what it is told to.
///
/// ```
/// use std::sync::Mutex;
/// use tower_api_auth::store::{SigningKeyStore, StoreError, StoredSigningKey};
///
/// #[derive(Default)]
/// struct Keys(Mutex<Vec<StoredSigningKey>>); // e.g. a database pool
///
/// impl SigningKeyStore for Keys {
///     async fn load(&self) -> Result<Vec<StoredSigningKey>, StoreError> {
///         Ok(self.0.lock().unwrap().clone())
///     }
///     async fn insert(&self, key: StoredSigningKey) -> Result<bool, StoreError> {
///         let mut keys = self.0.lock().unwrap();
///         if keys.iter().any(|k| k.kid == key.kid) {
///             return Ok(false); // INSERT … ON CONFLICT (kid) DO NOTHING
///         }
///         keys.push(key);
///         Ok(true)
///     }
///     async fn delete(&self, kid: &str) -> Result<bool, StoreError> {
///         let mut keys = self.0.lock().unwrap();
///         let before = keys.len();
///         keys.retain(|k| &*k.kid != kid);
///         Ok(keys.len() < before)
///     }
/// }
/// ```
pub trait SigningKeyStore: Send + Sync + 'static {
    /// Every stored key, in any order.
    fn load(&self) -> impl Future<Output = Result<Vec<StoredSigningKey>, StoreError>> + Send;

    /// Stores `key` if no key has its `kid`, atomically; whether it was stored.
    fn insert(
        &self,
        key: StoredSigningKey,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Deletes the key `kid` (it has ended, or was retired); whether there was one.
    fn delete(&self, kid: &str) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

impl<S: SigningKeyStore> SigningKeyStore for Arc<S> {
    fn load(&self) -> impl Future<Output = Result<Vec<StoredSigningKey>, StoreError>> + Send {
        (**self).load()
    }

    fn insert(
        &self,
        key: StoredSigningKey,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send {
        (**self).insert(key)
    }

    fn delete(&self, kid: &str) -> impl Future<Output = Result<bool, StoreError>> + Send {
        (**self).delete(kid)
    }
}
