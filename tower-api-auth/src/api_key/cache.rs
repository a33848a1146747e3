//! A cache in front of a key store that does I/O.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use quick_cache::sync::Cache;

use crate::api_key::changes::{KeyChangeListener, KeyChanges};
use crate::api_key::record::KeyRecord;
use crate::clock::{Clock, SharedClock};
use crate::store::{KeyProvider, Lookup, StoreError};

/// Caches the answers of a [`KeyProvider`] that does I/O (SQL, Redis): found records for
/// [`ttl`](Self::ttl), unknown key ids for [`negative_ttl`](Self::negative_ttl), each kind in its own
/// bounded cache so that a flood of made-up key ids cannot push real keys out. Failures are never
/// cached. A hit answers at once, so the request needs no boxed future.
///
/// A revoked key keeps working from the cache for up to the TTL; call [`invalidate`](Self::invalidate)
/// where keys are revoked to make it take effect on the next request.
///
/// ```
/// use std::time::Duration;
/// use tower_api_auth::{api_key::CachedKeyProvider, MemoryKeyStore};
///
/// // In production the inner provider talks to a database; any KeyProvider works.
/// let keys = CachedKeyProvider::new(MemoryKeyStore::new())
///     .ttl(Duration::from_secs(30))
///     .negative_ttl(Duration::from_secs(5))
///     .capacity(10_000);
/// keys.invalidate("k1ABCDEFGHIJ");
/// ```
pub struct CachedKeyProvider<P> {
    inner: Arc<P>,
    shared: Arc<Shared>,
    /// The source of key changes it follows: changes drop entries, and while the source may
    /// have missed one the cache is bypassed.
    changes: Option<Arc<dyn KeyChanges>>,
}

struct Shared {
    /// Records and the unix second until which each may answer.
    found: Cache<Box<str>, (Arc<KeyRecord>, u64)>,
    unknown: Cache<Box<str>, u64>,
    ttl: Duration,
    negative_ttl: Duration,
    clock: SharedClock,
    /// Bumped by every invalidation: a lookup that started before one must not write back what
    /// it read, which may be the record the invalidation was meant to drop.
    epoch: AtomicU64,
}

impl Shared {
    fn new(capacity: usize, ttl: Duration, negative_ttl: Duration, clock: SharedClock) -> Self {
        let capacity = capacity.max(1);
        Self {
            found: Cache::new(capacity),
            unknown: Cache::new(capacity),
            ttl,
            negative_ttl,
            clock,
            epoch: AtomicU64::new(0),
        }
    }

    fn forget(&self, key_id: Option<&str>) {
        // Bumped before removing: see `remember`.
        self.epoch.fetch_add(1, Ordering::SeqCst);
        match key_id {
            Some(key_id) => {
                self.found.remove(key_id);
                self.unknown.remove(key_id);
            }
            None => {
                self.found.clear();
                self.unknown.clear();
            }
        }
    }

    /// Caches what a lookup that started at `epoch` found, unless an invalidation came since.
    /// The epoch is checked again after the insert: an invalidation that bumped it between the
    /// first check and the insert would otherwise have removed nothing, and the stale answer would
    /// stay for a whole TTL. (`forget` bumps before it removes, so one of the two always wins.)
    fn remember(
        &self,
        key_id: &str,
        result: &Result<Option<Arc<KeyRecord>>, StoreError>,
        epoch: u64,
    ) {
        if self.epoch.load(Ordering::SeqCst) != epoch {
            return;
        }
        match result {
            Ok(Some(record)) => {
                self.unknown.remove(key_id);
                let until = self.deadline(self.ttl);
                self.found
                    .insert(Box::from(key_id), (Arc::clone(record), until));
                if self.epoch.load(Ordering::SeqCst) != epoch {
                    self.found.remove(key_id);
                }
            }
            Ok(None) if !self.negative_ttl.is_zero() => {
                let until = self.deadline(self.negative_ttl);
                self.unknown.insert(Box::from(key_id), until);
                if self.epoch.load(Ordering::SeqCst) != epoch {
                    self.unknown.remove(key_id);
                }
            }
            Ok(None) | Err(_) => {}
        }
    }

    /// `ttl` (whole seconds) from now.
    fn deadline(&self, ttl: Duration) -> u64 {
        self.clock.now().saturating_add(ttl.as_secs())
    }
}

impl<P> fmt::Debug for CachedKeyProvider<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CachedKeyProvider")
            .field("found", &self.shared.found.len())
            .field("unknown", &self.shared.unknown.len())
            .field("ttl", &self.shared.ttl)
            .field("negative_ttl", &self.shared.negative_ttl)
            .finish_non_exhaustive()
    }
}

impl<P: KeyProvider> CachedKeyProvider<P> {
    /// Caches `inner`'s answers: found keys for 30 s, unknown ids for 5 s, up to 10 000 of each.
    pub fn new(inner: P) -> Self {
        Self::from_shared(Arc::new(inner))
    }

    /// Caches a provider that other code also holds (e.g. the admin API that revokes keys).
    pub fn from_shared(inner: Arc<P>) -> Self {
        Self {
            inner,
            shared: Arc::new(Shared::new(
                10_000,
                Duration::from_secs(30),
                Duration::from_secs(5),
                crate::clock::system(),
            )),
            changes: None,
        }
    }

    fn rebuild(mut self, capacity: usize, ttl: Duration, negative_ttl: Duration) -> Self {
        let clock = Arc::clone(&self.shared.clock);
        self.shared = Arc::new(Shared::new(capacity, ttl, negative_ttl, clock));
        self.register();
        self
    }

    /// The clock the TTLs are counted on. Default: the system clock.
    #[must_use]
    pub fn clock(mut self, clock: impl Clock) -> Self {
        let shared = &self.shared;
        let capacity = shared.found.capacity() as usize;
        self.shared = Arc::new(Shared::new(
            capacity,
            shared.ttl,
            shared.negative_ttl,
            Arc::new(clock),
        ));
        self.register();
        self
    }

    /// How long a found record is trusted (whole seconds; below one second nothing is cached).
    #[must_use]
    pub fn ttl(self, ttl: Duration) -> Self {
        let (capacity, negative) = (
            self.shared.found.capacity() as usize,
            self.shared.negative_ttl,
        );
        self.rebuild(capacity, ttl, negative)
    }

    /// How long an unknown key id is remembered as unknown (zero: never).
    #[must_use]
    pub fn negative_ttl(self, ttl: Duration) -> Self {
        let (capacity, positive) = (self.shared.found.capacity() as usize, self.shared.ttl);
        self.rebuild(capacity, positive, ttl)
    }

    /// How many found records, and separately how many unknown ids, are kept at most.
    #[must_use]
    pub fn capacity(self, entries: usize) -> Self {
        let (ttl, negative) = (self.shared.ttl, self.shared.negative_ttl);
        self.rebuild(entries, ttl, negative)
    }

    /// Forgets what is cached about `key_id`: call it where a key is revoked or changed.
    pub fn invalidate(&self, key_id: &str) {
        self.shared.forget(Some(key_id));
    }

    /// Forgets everything cached.
    pub fn clear(&self) {
        self.shared.forget(None);
    }

    /// Follows a source of key changes, typically a fleet's revocation feed
    /// (`fleet::RevocationFeed`, feature `fleet`): a key created, revoked, rolled or edited on
    /// any instance (through a [`KeyManager`](crate::api_key::KeyManager) that
    /// [announces](crate::api_key::KeyManager::announce) to the fleet) is dropped from this cache
    /// as soon as the change arrives, typically within milliseconds; everything is dropped after
    /// the feed reconnects. While the source may have missed a change (a feed down past its
    /// bound) the cache answers nothing from memory and asks the store every time, so a key
    /// revoked meanwhile is never honoured from here.
    ///
    /// ```
    /// # #[cfg(feature = "fleet")]
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use tower_api_auth::api_key::CachedKeyProvider;
    /// use tower_api_auth::fleet::{MemoryFeedStore, RevocationFeed};
    /// use tower_api_auth::MemoryKeyStore;
    ///
    /// let feed = RevocationFeed::builder(MemoryFeedStore::new()).start();
    /// let keys = CachedKeyProvider::new(MemoryKeyStore::new()).follow(&feed);
    /// # let _ = keys;
    /// # }
    /// # #[cfg(not(feature = "fleet"))]
    /// # fn main() {}
    /// ```
    #[must_use]
    pub fn follow<C: KeyChanges + Clone>(mut self, changes: &C) -> Self {
        self.changes = Some(Arc::new(changes.clone()));
        self.register();
        self
    }

    /// Registers the cache's current state with the source it follows (again after a rebuild).
    fn register(&self) {
        if let Some(changes) = &self.changes {
            let listener: Arc<dyn KeyChangeListener> = self.shared.clone();
            changes.watch(Arc::downgrade(&listener));
        }
    }

    /// How many found records and unknown ids are cached.
    pub fn cached(&self) -> (usize, usize) {
        (self.shared.found.len(), self.shared.unknown.len())
    }

    /// The wrapped provider.
    pub fn inner(&self) -> &P {
        &self.inner
    }
}

impl KeyChangeListener for Shared {
    fn key_changed(&self, key_id: Option<&str>) {
        self.forget(key_id);
    }
}

impl<P: KeyProvider> KeyProvider for CachedKeyProvider<P> {
    fn lookup(&self, key_id: &str) -> Lookup<Option<Arc<KeyRecord>>> {
        let now = self.shared.clock.now();
        if self
            .changes
            .as_ref()
            .is_some_and(|changes| !changes.is_fresh(now))
        {
            // A change may have been missed: only the store's answer counts.
            return self.inner.lookup(key_id);
        }
        if let Some((record, until)) = self.shared.found.get(key_id) {
            if now < until {
                return Lookup::Ready(Ok(Some(record)));
            }
            self.shared.found.remove(key_id);
        }
        if let Some(until) = self.shared.unknown.get(key_id) {
            if now < until {
                return Lookup::Ready(Ok(None));
            }
            self.shared.unknown.remove(key_id);
        }
        let epoch = self.shared.epoch.load(Ordering::SeqCst);
        match self.inner.lookup(key_id) {
            Lookup::Ready(result) => {
                self.shared.remember(key_id, &result, epoch);
                Lookup::Ready(result)
            }
            Lookup::Pending(lookup) => {
                let shared = Arc::clone(&self.shared);
                let key_id = key_id.to_owned();
                Lookup::pending(async move {
                    let result = lookup.await;
                    shared.remember(&key_id, &result, epoch);
                    result
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;
    use crate::api_key::ApiKeyHasher;
    use crate::store::StoreError;

    /// Counts lookups; knows one key; fails for "down".
    struct Counting {
        calls: AtomicUsize,
        record: Arc<KeyRecord>,
    }

    impl KeyProvider for Counting {
        fn lookup(&self, key_id: &str) -> Lookup<Option<Arc<KeyRecord>>> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            let result = match key_id {
                "down" => Err(StoreError::new("store down")),
                id if id == &*self.record.key_id => Ok(Some(Arc::clone(&self.record))),
                _ => Ok(None),
            };
            Lookup::pending(async move { result })
        }
    }

    fn provider() -> CachedKeyProvider<Counting> {
        let record = Arc::new(KeyRecord::new("known", ApiKeyHasher::default().hash("x")));
        CachedKeyProvider::new(Counting {
            calls: AtomicUsize::new(0),
            record,
        })
    }

    fn block_on<F: std::future::Future>(future: F) -> F::Output {
        // The futures here never wait, so polling once with a no-op waker completes them.
        let mut future = std::pin::pin!(future);
        let waker = std::task::Waker::noop();
        match future
            .as_mut()
            .poll(&mut std::task::Context::from_waker(waker))
        {
            std::task::Poll::Ready(output) => output,
            std::task::Poll::Pending => panic!("the test future waited"),
        }
    }

    #[test]
    fn hits_answer_at_once_and_failures_are_not_cached() {
        let keys = provider();
        assert!(matches!(keys.lookup("known"), Lookup::Pending(_)));
        assert!(block_on(keys.lookup("known").resolve()).unwrap().is_some());
        assert!(matches!(keys.lookup("known"), Lookup::Ready(Ok(Some(_)))));
        assert!(block_on(keys.lookup("nobody").resolve()).unwrap().is_none());
        assert!(matches!(keys.lookup("nobody"), Lookup::Ready(Ok(None))));
        assert!(block_on(keys.lookup("down").resolve()).is_err());
        assert!(block_on(keys.lookup("down").resolve()).is_err());
        // known: 2 misses (the first lookup was never resolved), nobody: 1, down: 2.
        assert_eq!(keys.inner().calls.load(Ordering::SeqCst), 5);
        assert_eq!(keys.cached(), (1, 1));
    }

    #[test]
    fn entries_expire_and_can_be_invalidated() {
        let keys = provider().ttl(Duration::ZERO).negative_ttl(Duration::ZERO);
        assert!(block_on(keys.lookup("known").resolve()).unwrap().is_some());
        assert!(
            matches!(keys.lookup("known"), Lookup::Pending(_)),
            "a zero TTL never hits"
        );
        assert_eq!(keys.cached().1, 0, "a zero negative TTL stores nothing");

        let keys = provider();
        assert!(block_on(keys.lookup("known").resolve()).unwrap().is_some());
        keys.invalidate("known");
        assert!(matches!(keys.lookup("known"), Lookup::Pending(_)));
    }

    #[test]
    fn a_lookup_in_flight_during_an_invalidation_writes_nothing_back() {
        let keys = provider();
        let in_flight = keys.lookup("known");
        keys.invalidate("known"); // e.g. the key was revoked meanwhile
        assert!(block_on(in_flight.resolve()).unwrap().is_some());
        assert!(
            matches!(keys.lookup("known"), Lookup::Pending(_)),
            "not cached"
        );
    }

    #[test]
    fn unknown_ids_cannot_evict_found_records() {
        let keys = provider().capacity(8);
        assert!(block_on(keys.lookup("known").resolve()).unwrap().is_some());
        for i in 0..1000 {
            let _ = block_on(keys.lookup(&format!("made-up-{i}")).resolve());
        }
        assert!(matches!(keys.lookup("known"), Lookup::Ready(Ok(Some(_)))));
    }
}
