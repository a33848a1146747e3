//! What every store shares: the error a store answers with when it cannot answer.
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

use std::fmt;

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
