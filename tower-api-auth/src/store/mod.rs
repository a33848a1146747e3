//! Every store trait, what the stores hold, and what they share: the error a store answers with
//! when it cannot answer, and [`Lookup`], an answer that is ready now or after I/O. A store of
//! the app's own implements these traits; each has an in-memory implementation next to the code
//! that uses it, and the store crates (`tower-api-auth-sqlx-store`, `tower-api-auth-redis-store`)
//! implement them on real servers.
//!
//! | trait | holds | in memory |
//! | --- | --- | --- |
//! | [`KeyProvider`] | API keys, read on the request path | [`MemoryKeyStore`](crate::MemoryKeyStore) |
//! | [`KeyStore`] | API keys, written: create, list, update, revoke | [`MemoryKeyStore`](crate::MemoryKeyStore) |
//! | [`RevocationCheck`] | revoked sessions and tokens, checked on every request | [`MemoryRevocationStore`](crate::revocation::MemoryRevocationStore) |
//! | [`RevocationStore`] | revocations, written (logout) | [`MemoryRevocationStore`](crate::revocation::MemoryRevocationStore) |
//! | `RefreshStore` (feature `issuer`) | sessions and their refresh tokens' hashes | `issuer::MemoryRefreshStore` |
//! | `ClientStore` (feature `issuer`) | OAuth clients | `issuer::MemoryClientStore` |
//! | `CodeStore` (feature `issuer`) | authorization codes' hashes, each redeemed once | `issuer::MemoryCodeStore` |
//! | `SigningKeyStore` (feature `issuer`) | the issuer's rotating signing keys, private halves sealed | `issuer::MemorySigningKeyStore` |
//! | `FeedStore` (feature `fleet`) | the fleet's revocation feed | `fleet::MemoryFeedStore` |
//!
//! Key providers, refresh-token stores, revocation lists and client registries all fail the same
//! way, and the auth layer answers every such failure the same way: 503 `auth_unavailable`, never a
//! 401 that would send clients into a login loop, and never a pass.
//!
//! ```
//! use tower_api_auth::store::StoreError;
//!
//! let error = StoreError::new("connection refused");
//! assert_eq!(error.to_string(), "store failed: connection refused");
//! ```

#[cfg(feature = "issuer")]
mod clients;
#[cfg(feature = "issuer")]
mod codes;
#[cfg(feature = "fleet")]
mod feed;
mod keys;
mod revocations;
#[cfg(feature = "issuer")]
mod sessions;
#[cfg(feature = "issuer")]
mod signing_keys;

#[cfg(feature = "issuer")]
pub use clients::{ClientRecord, ClientStore};
#[cfg(feature = "issuer")]
pub use codes::{AuthorizationCode, CodeHash, CodeStore, Redemption};
#[cfg(feature = "fleet")]
pub use feed::{FeedEvent, FeedStore, FeedSubscription};
pub(crate) use keys::DynKeyStore;
pub use keys::{KeyFilter, KeyInfo, KeyProvider, KeyStore, KeyUpdate};
pub use revocations::{RevocationCheck, RevocationStore};
#[cfg(feature = "issuer")]
pub use sessions::{
    Grace, RefreshStore, RefreshTokenHash, Rotation, SealedToken, Session, StoredSession,
};
#[cfg(all(feature = "issuer", feature = "aws-lc-rs"))]
pub(crate) use signing_keys::algorithm_name;
#[cfg(feature = "issuer")]
pub use signing_keys::{PrivateKey, SigningKeyStore, StoredSigningKey};

use std::fmt;
use std::future::Future;
use std::pin::Pin;

/// A store failure. Its source is kept for logs but never shown to clients.
///
/// ```
/// use tower_api_auth::store::StoreError;
///
/// let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "127.0.0.1:5432");
/// let error = StoreError::new(io);
/// assert!(std::error::Error::source(&error).is_some());
/// ```
pub struct StoreError(Box<dyn std::error::Error + Send + Sync>);

impl StoreError {
    /// Wraps a store's error.
    pub fn new(source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self(source.into())
    }
}

impl fmt::Debug for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("StoreError").field(&self.0).finish()
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "store failed: {}", self.0)
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.0)
    }
}

/// An answer from a store: known now (memory, a cache hit) or after I/O (SQL, Redis, HTTP).
///
/// The ready case lets the auth layer finish a request without boxing a future. Every store
/// trait that the request path calls answers with one: [`KeyProvider::lookup`] answers
/// `Lookup<Option<Arc<KeyRecord>>>`, [`OpaqueTokenValidator::validate`] answers
/// `Lookup<OpaqueToken, AuthError>`.
///
/// ```
/// use tower_api_auth::store::{Lookup, StoreError};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let now: Lookup<u32> = Lookup::Ready(Ok(7));
/// let later: Lookup<u32> = Lookup::pending(async { Ok(8) }); // a pool handle moves in here
/// assert_eq!(now.resolve().await.unwrap() + later.resolve().await.unwrap(), 15);
/// # }
/// ```
///
/// [`KeyProvider::lookup`]: crate::store::KeyProvider::lookup
/// [`KeyRecord`]: crate::api_key::KeyRecord
/// [`OpaqueTokenValidator::validate`]: crate::opaque::OpaqueTokenValidator::validate
/// [`OpaqueToken`]: crate::opaque::OpaqueToken
/// [`AuthError`]: crate::AuthError
#[must_use]
pub enum Lookup<T, E = StoreError> {
    /// The answer is known now.
    Ready(Result<T, E>),
    /// The answer needs I/O.
    Pending(Pin<Box<dyn Future<Output = Result<T, E>> + Send + 'static>>),
}

impl<T, E> Lookup<T, E> {
    /// A lookup that needs I/O. The future owns what it needs (clone a pool handle into it).
    pub fn pending(future: impl Future<Output = Result<T, E>> + Send + 'static) -> Self {
        Self::Pending(Box::pin(future))
    }

    /// Waits for the answer.
    pub async fn resolve(self) -> Result<T, E> {
        match self {
            Self::Ready(result) => result,
            Self::Pending(future) => future.await,
        }
    }
}

impl<T, E> fmt::Debug for Lookup<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Ready(_) => "Lookup::Ready",
            Self::Pending(_) => "Lookup::Pending",
        })
    }
}
