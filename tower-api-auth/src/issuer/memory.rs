//! The issuer's embedded stores: [`MemoryRefreshStore`] and [`MemoryClientStore`], the references
//! every database store is tested against.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use crate::api_key::ApiKeyHasher;
use crate::crypto::random_secret;
use crate::scope::Scopes;
use crate::store::{
    ClientRecord, ClientStore, RefreshStore, RefreshTokenHash, Rotation, Session, StoreError,
    StoredSession,
};
use crate::tenant::Tenant;

#[derive(Default)]
struct Inner {
    /// Boxed: a map's spare capacity then costs a pointer per slot, not a whole record.
    sessions: HashMap<Arc<str>, Box<StoredSession>>,
    /// Slot → the session that last started in it.
    slots: HashMap<Arc<str>, Arc<str>>,
}

impl Inner {
    fn end(&mut self, session_id: &str) -> Option<Session> {
        let stored = self.sessions.remove(session_id)?;
        if let Some(slot) = &stored.session.slot
            && self.slots.get(slot).is_some_and(|sid| **sid == *session_id)
        {
            self.slots.remove(slot);
        }
        Some(stored.session)
    }
}

/// The embedded refresh store: one record per session behind one mutex, so rotation is atomic.
///
/// A session costs the same memory however often it is refreshed: only its current token's hash
/// is kept. Ended sessions are removed at once; sessions past their end and retry graces past
/// their time when [purged](Self::purge), which the token service does at most once a minute.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use tower_api_auth::issuer::MemoryRefreshStore;
/// use tower_api_auth::store::{RefreshStore, RefreshTokenHash, Session};
/// use tower_api_auth::scope::Scopes;
///
/// let store = MemoryRefreshStore::new();
/// let session = Session::new("ses_1", "user_1", Scopes::empty(), 1_000, 2_000);
/// store.start(session, RefreshTokenHash::from_bytes([1; 32])).await.unwrap();
/// assert_eq!(store.len(), 1);
/// assert_eq!(store.purge_at(2_000), 1, "past its end");
/// assert!(store.is_empty());
/// # }
/// ```
#[derive(Default)]
pub struct MemoryRefreshStore {
    inner: Mutex<Inner>,
}

impl fmt::Debug for MemoryRefreshStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryRefreshStore")
            .field("sessions", &self.len())
            .finish()
    }
}

impl MemoryRefreshStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many sessions are stored (ended ones are not; expired ones until purged).
    pub fn len(&self) -> usize {
        self.with(|inner| inner.sessions.len())
    }

    /// Whether no session is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Removes the sessions that are over at `now` and the retry graces past their time; returns
    /// how many sessions were removed.
    pub fn purge_at(&self, now: u64) -> usize {
        self.with(|inner| {
            let before = inner.sessions.len();
            inner.sessions.retain(|_, stored| {
                if stored.grace.is_some_and(|grace| now >= grace.until) {
                    stored.grace = None;
                }
                stored.alive(now)
            });
            let sessions = &inner.sessions;
            inner.slots.retain(|_, sid| sessions.contains_key(sid));
            before - inner.sessions.len()
        })
    }

    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        f(&mut inner)
    }
}

impl RefreshStore for MemoryRefreshStore {
    async fn start(
        &self,
        session: Session,
        first: RefreshTokenHash,
    ) -> Result<Option<Session>, StoreError> {
        Ok(self.with(|inner| {
            let replaced = match &session.slot {
                Some(slot) => match inner.slots.insert(slot.clone(), session.id.clone()) {
                    Some(previous) => inner.end(&previous),
                    None => None,
                },
                None => None,
            };
            inner.sessions.insert(
                session.id.clone(),
                Box::new(StoredSession::new(session, first)),
            );
            replaced
        }))
    }

    async fn load(&self, session_id: &str) -> Result<Option<StoredSession>, StoreError> {
        Ok(self.with(|inner| {
            inner
                .sessions
                .get(session_id)
                .map(|stored| (**stored).clone())
        }))
    }

    async fn rotate(&self, session_id: &str, rotation: Rotation) -> Result<bool, StoreError> {
        Ok(self.with(|inner| match inner.sessions.get_mut(session_id) {
            Some(stored) if stored.admits(&rotation) => {
                stored.apply(&rotation);
                true
            }
            _ => false,
        }))
    }

    async fn end(&self, session_id: &str) -> Result<Option<Session>, StoreError> {
        Ok(self.with(|inner| inner.end(session_id)))
    }

    async fn purge(&self, now: u64) -> Result<usize, StoreError> {
        Ok(self.purge_at(now))
    }
}

/// The registered OAuth clients, in memory.
///
/// ```
/// use tower_api_auth::{api_key::ApiKeyHasher, issuer::MemoryClientStore, scope::Scopes};
///
/// let clients = MemoryClientStore::new(ApiKeyHasher::default());
/// let secret = clients.register("client_billing", Scopes::parse("billing:read").unwrap(), vec![]);
/// assert_eq!(secret.len(), 43); // show it to the client's owner once
/// assert_eq!(clients.len(), 1);
/// ```
#[derive(Default)]
pub struct MemoryClientStore {
    hasher: ApiKeyHasher,
    clients: RwLock<HashMap<Arc<str>, ClientRecord>>,
}

impl fmt::Debug for MemoryClientStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryClientStore")
            .field("clients", &self.len())
            .finish()
    }
}

impl MemoryClientStore {
    /// An empty registry hashing secrets with `hasher`.
    pub fn new(hasher: ApiKeyHasher) -> Self {
        Self {
            hasher,
            clients: RwLock::default(),
        }
    }

    /// Registers a client with a new random secret, which is returned (show it once).
    pub fn register(&self, client_id: &str, scopes: Scopes, tenants: Vec<Tenant>) -> String {
        let secret = random_secret(43);
        self.insert(
            ClientRecord::new(client_id, self.hasher.hash(&secret), scopes).with_tenants(tenants),
        );
        secret
    }

    /// Adds or replaces a client whose secret was hashed with this registry's hasher.
    pub fn insert(&self, record: ClientRecord) {
        let mut clients = self.clients.write().unwrap_or_else(PoisonError::into_inner);
        clients.insert(record.client_id.clone(), record);
    }

    /// Removes a client; `false` if the id is unknown.
    pub fn remove(&self, client_id: &str) -> bool {
        let mut clients = self.clients.write().unwrap_or_else(PoisonError::into_inner);
        clients.remove(client_id).is_some()
    }

    /// How many clients are registered.
    pub fn len(&self) -> usize {
        self.clients
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl ClientStore for MemoryClientStore {
    async fn client(&self, client_id: &str) -> Result<Option<ClientRecord>, StoreError> {
        let clients = self.clients.read().unwrap_or_else(PoisonError::into_inner);
        Ok(clients.get(client_id).cloned())
    }

    fn secret_hasher(&self) -> ApiKeyHasher {
        self.hasher.clone()
    }
}
