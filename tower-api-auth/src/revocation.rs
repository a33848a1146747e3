//! Refusing access tokens of sessions that ended before the tokens expired.
//!
//! A JWT stays valid until its `exp`; logging out must still stop it. The auth layer asks a
//! [`RevocationCheck`], when one is configured, about each token's session id (`sid`) and token id
//! (`jti`) after the signature and claims pass. With none configured the check costs nothing.
//!
//! The check is synchronous on purpose: it runs on every request and must stay O(1). A store backed
//! by a network service keeps a local set of revoked ids (they are few, and each is needed only
//! until the longest access-token lifetime has passed) and updates it from the source of truth.
//!
//! Writes are async ([`RevocationStore`]): in a fleet a revocation is a network call, to the
//! store that tells every instance (see the `fleet` module, and the store crates
//! `tower-api-auth-sqlx-store` and `tower-api-auth-redis-store`).
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use tower_api_auth::{revocation::MemoryRevocationStore, store::RevocationCheck, store::RevocationStore};
//!
//! let revoked = MemoryRevocationStore::new();
//! revoked.revoke_session("sess_1", u64::MAX).await.unwrap();
//! assert!(revoked.is_revoked(Some("sess_1"), None, 0).unwrap());
//! assert!(!revoked.is_revoked(Some("sess_2"), Some("jti_9"), 0).unwrap());
//! # }
//! ```

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};

use crate::store::{RevocationCheck, RevocationStore, StoreError};

/// The embedded revocation list: revoked session and token ids, each kept until a given time
/// (when every access token it could stop has expired anyway), then dropped.
///
/// ```
/// use tower_api_auth::revocation::MemoryRevocationStore;
/// use tower_api_auth::store::RevocationCheck;
///
/// let revoked = MemoryRevocationStore::new();
/// revoked.insert_session("sess_1", 2_000);
/// assert!(revoked.is_revoked(Some("sess_1"), None, 1_000).unwrap());
/// assert!(!revoked.is_revoked(Some("sess_1"), None, 2_000).unwrap(), "lapsed");
/// assert_eq!(revoked.purge(2_000), 1);
/// ```
#[derive(Default)]
pub struct MemoryRevocationStore {
    sessions: RwLock<HashMap<Arc<str>, u64>>,
    tokens: RwLock<HashMap<Arc<str>, u64>>,
}

impl fmt::Debug for MemoryRevocationStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let read = |m: &RwLock<HashMap<Arc<str>, u64>>| {
            m.read().unwrap_or_else(PoisonError::into_inner).len()
        };
        f.debug_struct("MemoryRevocationStore")
            .field("sessions", &read(&self.sessions))
            .field("tokens", &read(&self.tokens))
            .finish()
    }
}

fn insert(map: &RwLock<HashMap<Arc<str>, u64>>, id: &str, until: u64) {
    let mut map = map.write().unwrap_or_else(PoisonError::into_inner);
    let entry = map.entry(Arc::from(id)).or_insert(until);
    *entry = (*entry).max(until);
}

fn contains(map: &RwLock<HashMap<Arc<str>, u64>>, id: &str, now: u64) -> bool {
    let map = map.read().unwrap_or_else(PoisonError::into_inner);
    map.get(id).is_some_and(|&until| now < until)
}

impl RevocationStore for MemoryRevocationStore {
    async fn revoke_session(&self, session_id: &str, until: u64) -> Result<(), StoreError> {
        self.insert_session(session_id, until);
        Ok(())
    }

    async fn revoke_token(&self, token_id: &str, until: u64) -> Result<(), StoreError> {
        self.insert_token(token_id, until);
        Ok(())
    }
}

impl MemoryRevocationStore {
    /// An empty list.
    pub fn new() -> Self {
        Self::default()
    }

    /// Refuses tokens of `session_id` until `until` (unix seconds); a later deadline already
    /// recorded is kept.
    pub fn insert_session(&self, session_id: &str, until: u64) {
        insert(&self.sessions, session_id, until);
    }

    /// Refuses the token with `jti` `token_id` until `until` (unix seconds).
    pub fn insert_token(&self, token_id: &str, until: u64) {
        insert(&self.tokens, token_id, until);
    }

    /// How many session and token revocations are held (lapsed ones until purged).
    pub fn len(&self) -> usize {
        [&self.sessions, &self.tokens]
            .iter()
            .map(|m| m.read().unwrap_or_else(PoisonError::into_inner).len())
            .sum()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drops entries whose time has passed; returns how many were dropped.
    pub fn purge(&self, now: u64) -> usize {
        let mut dropped = 0;
        for map in [&self.sessions, &self.tokens] {
            let mut map = map.write().unwrap_or_else(PoisonError::into_inner);
            let before = map.len();
            map.retain(|_, until| now < *until);
            dropped += before - map.len();
        }
        dropped
    }
}

impl RevocationCheck for MemoryRevocationStore {
    fn is_revoked(
        &self,
        session_id: Option<&str>,
        token_id: Option<&str>,
        now: u64,
    ) -> Result<bool, StoreError> {
        Ok(
            session_id.is_some_and(|sid| contains(&self.sessions, sid, now))
                || token_id.is_some_and(|jti| contains(&self.tokens, jti, now)),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_lapse_and_purge() {
        let list = MemoryRevocationStore::new();
        list.insert_token("t1", 100);
        assert!(list.is_revoked(None, Some("t1"), 99).unwrap());
        assert!(!list.is_revoked(None, Some("t1"), 100).unwrap());
        list.insert_session("s1", 50);
        list.insert_session("s1", 10); // an earlier deadline never shortens a revocation
        assert!(list.is_revoked(Some("s1"), None, 20).unwrap());
        assert_eq!(list.purge(100), 2);
    }
}
