//! The revocation stores: [`RevocationCheck`] (the synchronous check on every request) and
//! [`RevocationStore`] (the async writes of logouts and revocations).

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use crate::store::StoreError;

/// Answers whether a token's session or the token itself was revoked. Implement it for a store of
/// your own; it runs on every request, so keep it in memory and O(1).
///
/// ```
/// use std::collections::HashSet;
/// use tower_api_auth::store::RevocationCheck;
/// use tower_api_auth::store::StoreError;
///
/// /// Sessions revoked for good, e.g. loaded at start-up.
/// struct Banned(HashSet<String>);
///
/// impl RevocationCheck for Banned {
///     fn is_revoked(&self, sid: Option<&str>, _jti: Option<&str>, _now: u64) -> Result<bool, StoreError> {
///         Ok(sid.is_some_and(|sid| self.0.contains(sid)))
///     }
/// }
/// ```
pub trait RevocationCheck: Send + Sync + 'static {
    /// `true` if `session_id` or `token_id` was revoked and the revocation is still in force at
    /// `now` (unix seconds). `Err` refuses the request with 503 `auth_unavailable`.
    fn is_revoked(
        &self,
        session_id: Option<&str>,
        token_id: Option<&str>,
        now: u64,
    ) -> Result<bool, StoreError>;
}

impl fmt::Debug for dyn RevocationCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("dyn RevocationCheck")
    }
}

impl<R: RevocationCheck + ?Sized> RevocationCheck for Arc<R> {
    fn is_revoked(
        &self,
        session_id: Option<&str>,
        token_id: Option<&str>,
        now: u64,
    ) -> Result<bool, StoreError> {
        (**self).is_revoked(session_id, token_id, now)
    }
}

/// A revocation list that can also be written to: the token service records ended sessions and
/// revoked tokens in it, the auth layer reads it through [`RevocationCheck`].
///
/// The writes are async because in a fleet they are network calls: an `Err` (the store that
/// tells the other instances is down) makes the logout or revocation answer 503, so that the
/// client retries instead of believing a session ended everywhere when it did not.
///
/// ```
/// use std::collections::HashSet;
/// use std::sync::Mutex;
/// use tower_api_auth::store::{RevocationCheck, RevocationStore};
/// use tower_api_auth::store::StoreError;
///
/// /// Revoked sessions, kept for good (a real store also keeps `until` and the token ids).
/// #[derive(Default)]
/// struct Revoked(Mutex<HashSet<String>>);
///
/// impl RevocationCheck for Revoked {
///     fn is_revoked(&self, sid: Option<&str>, _jti: Option<&str>, _now: u64) -> Result<bool, StoreError> {
///         Ok(sid.is_some_and(|sid| self.0.lock().unwrap().contains(sid)))
///     }
/// }
///
/// impl RevocationStore for Revoked {
///     async fn revoke_session(&self, session_id: &str, _until: u64) -> Result<(), StoreError> {
///         self.0.lock().unwrap().insert(session_id.to_owned());
///         Ok(())
///     }
///     async fn revoke_token(&self, _token_id: &str, _until: u64) -> Result<(), StoreError> {
///         Ok(())
///     }
/// }
/// ```
pub trait RevocationStore: RevocationCheck {
    /// Refuses tokens of `session_id` until `until` (unix seconds).
    fn revoke_session(
        &self,
        session_id: &str,
        until: u64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Refuses the token with `jti` `token_id` until `until` (its `exp` suffices).
    fn revoke_token(
        &self,
        token_id: &str,
        until: u64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

impl<R: RevocationStore> RevocationStore for Arc<R> {
    fn revoke_session(
        &self,
        session_id: &str,
        until: u64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        (**self).revoke_session(session_id, until)
    }

    fn revoke_token(
        &self,
        token_id: &str,
        until: u64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        (**self).revoke_token(token_id, until)
    }
}
