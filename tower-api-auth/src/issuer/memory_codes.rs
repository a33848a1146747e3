//! [`MemoryCodeStore`]: authorization codes in this process's memory.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use crate::store::{AuthorizationCode, CodeHash, CodeStore, Redemption, StoreError};

/// The most codes kept at once by default: far more than users complete consent screens within a
/// code's minute, while bounding what a flood of authorization requests can hold.
pub const DEFAULT_MAX_PENDING_CODES: usize = 100_000;

/// A stored code and the session its first redemption started.
struct Entry {
    code: AuthorizationCode,
    spent_by: Option<Arc<str>>,
}

/// The embedded code store: codes by hash behind one mutex, so a redemption is atomic. It holds at
/// most [`DEFAULT_MAX_PENDING_CODES`] codes (or [`with_capacity`](Self::with_capacity)'s bound):
/// when full, codes past their time are purged, and if none is, saving answers an error (503)
/// instead of growing.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use tower_api_auth::issuer::MemoryCodeStore;
/// use tower_api_auth::store::{AuthorizationCode, CodeHash, CodeStore, Redemption};
/// use tower_api_auth::scope::Scopes;
///
/// let store = MemoryCodeStore::new();
/// let hash = CodeHash::from_bytes([1; 32]);
/// let code = AuthorizationCode::new("spa", "user_1", Scopes::empty(), "challenge", 1_000, 1_060);
/// store.save(hash, code.clone()).await.unwrap();
/// assert_eq!(store.redeem(&hash, "ses_1").await.unwrap(), Redemption::First(code.clone()));
/// assert!(matches!(store.redeem(&hash, "ses_2").await.unwrap(), Redemption::Replayed { session_id, .. } if &*session_id == "ses_1"));
/// # }
/// ```
pub struct MemoryCodeStore {
    codes: Mutex<HashMap<CodeHash, Entry>>,
    capacity: usize,
}

impl Default for MemoryCodeStore {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for MemoryCodeStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryCodeStore")
            .field("codes", &self.len())
            .field("capacity", &self.capacity)
            .finish()
    }
}

impl MemoryCodeStore {
    /// An empty store of at most [`DEFAULT_MAX_PENDING_CODES`] codes.
    pub fn new() -> Self {
        Self::with_capacity(DEFAULT_MAX_PENDING_CODES)
    }

    /// An empty store of at most `capacity` codes (at least 1).
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            codes: Mutex::new(HashMap::new()),
            capacity: capacity.max(1),
        }
    }

    /// How many codes are kept, spent ones included.
    pub fn len(&self) -> usize {
        self.codes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl CodeStore for MemoryCodeStore {
    async fn save(&self, hash: CodeHash, code: AuthorizationCode) -> Result<(), StoreError> {
        let mut codes = self.codes.lock().unwrap_or_else(PoisonError::into_inner);
        if codes.len() >= self.capacity {
            // Full: what is past its time goes first (the newest code's issue time stands in for
            // now, which a store does not know).
            let now = code.issued_at;
            codes.retain(|_, entry| now < entry.code.expires_at);
            if codes.len() >= self.capacity {
                return Err(StoreError::new("too many authorization codes pending"));
            }
        }
        // A hash already stored stays as it is: overwriting a spent code would make it
        // redeemable again (the SQL and Redis stores refuse the same way).
        match codes.entry(hash) {
            std::collections::hash_map::Entry::Occupied(_) => Err(StoreError::new(
                "an authorization code with this hash exists",
            )),
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(Entry {
                    code,
                    spent_by: None,
                });
                Ok(())
            }
        }
    }

    async fn redeem(&self, hash: &CodeHash, session_id: &str) -> Result<Redemption, StoreError> {
        let mut codes = self.codes.lock().unwrap_or_else(PoisonError::into_inner);
        Ok(match codes.get_mut(hash) {
            None => Redemption::Unknown,
            Some(Entry {
                code,
                spent_by: Some(first),
            }) => Redemption::Replayed {
                code: code.clone(),
                session_id: first.clone(),
            },
            Some(entry) => {
                entry.spent_by = Some(Arc::from(session_id));
                Redemption::First(entry.code.clone())
            }
        })
    }

    async fn purge(&self, now: u64, keep_spent_for: u64) -> Result<usize, StoreError> {
        let mut codes = self.codes.lock().unwrap_or_else(PoisonError::into_inner);
        let before = codes.len();
        codes.retain(|_, entry| now < entry.code.expires_at.saturating_add(keep_spent_for));
        Ok(before - codes.len())
    }
}
