//! The issuer's embedded stores: [`MemoryRefreshStore`] and [`MemoryClientStore`], the references
//! every database store is tested against.

use std::collections::{HashMap, VecDeque};
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
    /// Subject → its sessions' ids, oldest first: at most the bound `start` was given, so that
    /// evicting the oldest is O(1) and a subject's footprint never grows with its logins.
    subjects: HashMap<Arc<str>, VecDeque<Arc<str>>>,
}

impl Inner {
    fn end(&mut self, session_id: &str) -> Option<Session> {
        let stored = self.sessions.remove(session_id)?;
        if let Some(slot) = &stored.session.slot
            && self.slots.get(slot).is_some_and(|sid| **sid == *session_id)
        {
            self.slots.remove(slot);
        }
        let subject = &stored.session.subject;
        if let Some(ids) = self.subjects.get_mut(subject) {
            ids.retain(|id| **id != *session_id);
            if ids.is_empty() {
                self.subjects.remove(subject);
            }
        }
        Some(stored.session)
    }

    /// Makes room for a new session of `subject` starting at `now`: when it has `max` sessions,
    /// forgets (and removes) those that are over, then ends the oldest live ones until fewer than
    /// `max` are left; returns those. O(1) below the bound, O(`max`) at it.
    fn make_room(&mut self, subject: &str, now: u64, max: usize) -> Vec<Session> {
        let Some(ids) = self
            .subjects
            .get_mut(subject)
            .filter(|ids| ids.len() >= max)
        else {
            // Room enough, counting sessions that are over: nothing to look at.
            return Vec::new();
        };
        let sessions = &self.sessions;
        let (live, over): (VecDeque<Arc<str>>, VecDeque<Arc<str>>) = ids
            .drain(..)
            .partition(|id| sessions.get(id).is_some_and(|s| s.alive(now)));
        *ids = live;
        let excess = ids.len().saturating_sub(max - 1);
        let evicted: Vec<Arc<str>> = ids.drain(..excess).collect();
        for id in over {
            self.end(&id);
        }
        evicted.iter().filter_map(|id| self.end(id)).collect()
    }
}

/// The embedded refresh store: one record per session behind one mutex, so rotation is atomic.
///
/// A session costs the same memory however often it is refreshed: only its current token's hash
/// is kept; and a subject never holds more sessions than the bound it is given (see
/// [`RefreshStore::start`]), however often it logs in. Ended sessions are removed at once;
/// sessions past their end and retry graces past their time when [purged](Self::purge), which
/// the token service does at most once a minute.
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
/// store.start(session, RefreshTokenHash::from_bytes([1; 32]), 10).await.unwrap();
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
            inner.subjects.retain(|_, ids| {
                ids.retain(|sid| sessions.contains_key(sid));
                !ids.is_empty()
            });
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
        max_per_subject: usize,
    ) -> Result<Vec<Session>, StoreError> {
        Ok(self.with(|inner| {
            let mut ended = Vec::new();
            if let Some(slot) = &session.slot
                && let Some(previous) = inner.slots.insert(slot.clone(), session.id.clone())
            {
                ended.extend(inner.end(&previous));
            }
            ended.extend(inner.make_room(
                &session.subject,
                session.created_at,
                max_per_subject.max(1),
            ));
            inner
                .subjects
                .entry(session.subject.clone())
                .or_default()
                .push_back(session.id.clone());
            inner.sessions.insert(
                session.id.clone(),
                Box::new(StoredSession::new(session, first)),
            );
            ended
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

#[cfg(test)]
mod tests {
    use super::*;

    fn block_on<F: std::future::Future>(future: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime")
            .block_on(future)
    }

    /// Every structure of the store stays within the bound, however often one subject logs in,
    /// and forgets a subject whose sessions all ended.
    #[test]
    fn a_subjects_footprint_is_bounded_by_the_bound() {
        let store = MemoryRefreshStore::new();
        block_on(async {
            for n in 0..30_000u32 {
                let session =
                    Session::new(format!("s{n}"), "user_1", Scopes::empty(), 1_000, 2_000)
                        .with_slot((n % 2 == 0).then(|| Arc::from(format!("slot{n}"))));
                let ended = store
                    .start(session, RefreshTokenHash::from_bytes([1; 32]), 10)
                    .await
                    .unwrap();
                assert_eq!(ended.len(), usize::from(n >= 10), "login {n}");
            }
        });
        store.with(|inner| {
            assert_eq!(inner.sessions.len(), 10);
            assert_eq!(inner.subjects["user_1"].len(), 10);
            assert!(inner.slots.len() <= 10);
        });
        for n in 29_990..30_000 {
            assert!(block_on(store.end(&format!("s{n}"))).unwrap().is_some());
        }
        store.with(|inner| {
            assert!(
                inner.sessions.is_empty() && inner.subjects.is_empty() && inner.slots.is_empty()
            );
        });
    }
}
