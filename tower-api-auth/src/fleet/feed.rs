//! [`RevocationFeed`]: one instance's view of the fleet's revocations, kept in step by a task.

use std::convert::Infallible;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::api_key::{KeyAnnouncer, KeyChangeListener, KeyChanges};
use crate::clock::{Clock, SharedClock};
use crate::fleet::dyn_store::DynFeedStore;
use crate::revocation::MemoryRevocationStore;
use crate::store::{FeedEvent, FeedStore, RevocationCheck, RevocationStore, StoreError};

/// The default bound on how long an instance that lost its feed keeps serving on what it knows.
pub const DEFAULT_MAX_STALENESS: Duration = Duration::from_secs(30);

/// The default interval of the full resync while the feed is up.
pub const DEFAULT_RESYNC_EVERY: Duration = Duration::from_secs(10);

/// The revocations of a fleet, as one instance sees them: checked in memory on every request
/// (O(1), no network), written through a shared store, and kept in step with every other
/// instance by a background task that follows the store's feed.
///
/// - **Writes** (`revoke_session`, `revoke_token`, [`key_changed`](Self::key_changed)) go to the
///   store first, which announces them to every instance, then into this instance's list. A
///   store that is down fails the write, and the token service answers 503, so that a client
///   never believes a logout took effect everywhere when it did not.
/// - **Reads** ([`RevocationCheck::is_revoked`]) never leave memory.
/// - **The task** subscribes to the store, then takes a full snapshot (so nothing published in
///   between is lost), applies each announced event as it arrives, and resyncs in full every
///   [`resync_every`](FeedBuilder::resync_every) (so a missed message costs at most that long).
///   A missed key event is repaired the same way: when the store's
///   [key epoch](crate::store::FeedStore::key_epoch) moved since the last resync, the resync drops
///   every cached key answer of the caches that follow the feed (a store that keeps no epoch
///   has them dropped at every resync).
///   Every resync also sends a ping that must come back on the subscription before the next one:
///   a half-open connection, which delivers nothing and reports no error, is found within two
///   intervals. Every call to the store is bounded (5 s). On a lost subscription it reconnects
///   with backoff (up to 2 s) and resyncs, dropping every cached API-key answer of the
///   [`CachedKeyProvider`](crate::api_key::CachedKeyProvider)s that
///   [follow](crate::api_key::CachedKeyProvider::follow) it, since key signals may have been missed.
/// - **Staleness**: the instance answers from what it knows for
///   [`max_staleness`](FeedBuilder::max_staleness) (default 30 s) after its last good sync; after
///   that every token check answers 503 `auth_unavailable` until a resync succeeds. The bound is
///   the trade-off between availability (a blip of the store does not take the fleet down) and
///   how late a revocation issued elsewhere can be honoured here. Following key caches stop
///   answering from memory at the same moment and ask their store directly. Freshness is judged
///   by the feed's [clock](FeedBuilder::clock): with a manual clock in tests, advance it by less
///   than the bound at a time, or await [`synced`](RevocationFeed::synced) after a resync.
///
/// Dropping the last clone stops the task.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use tower_api_auth::fleet::{MemoryFeedStore, RevocationFeed};
/// use tower_api_auth::store::{RevocationCheck, RevocationStore};
///
/// // Two instances of one fleet; in production the backend is PostgreSQL, SQLite or Redis.
/// let store = MemoryFeedStore::new();
/// let a = RevocationFeed::builder(store.clone()).start();
/// let b = RevocationFeed::builder(store).start();
/// a.synced().await;
/// b.synced().await;
///
/// a.revoke_session("ses_1", u64::MAX).await.unwrap();
/// assert!(a.is_revoked(Some("ses_1"), None, 0).unwrap(), "at once where it was written");
/// while !b.is_revoked(Some("ses_1"), None, 0).unwrap() {
///     tokio::task::yield_now().await; // the other instance learns of it from the feed
/// }
/// # }
/// ```
#[derive(Clone)]
pub struct RevocationFeed {
    shared: Arc<Shared>,
}

struct Shared {
    list: MemoryRevocationStore,
    backend: Arc<dyn DynFeedStore>,
    clock: SharedClock,
    max_staleness: u64,
    /// Tells this instance's pings from the others'.
    nonce: u64,
    /// Up: subscribed and the last resync succeeded.
    up: AtomicBool,
    /// The clock's time when the last resync started that then succeeded (0: never).
    confirmed_at: AtomicU64,
    /// How many resyncs succeeded; watched by [`RevocationFeed::synced`].
    syncs: watch::Sender<u64>,
    /// The store's key epoch at the last resync ([`NO_EPOCH`]: none known).
    key_epoch: AtomicU64,
    key_caches: Mutex<Vec<Weak<dyn KeyChangeListener>>>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        if let Some(task) = self
            .task
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            task.abort();
        }
    }
}

impl fmt::Debug for RevocationFeed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RevocationFeed")
            .field("revocations", &self.shared.list.len())
            .field("up", &self.shared.up.load(Ordering::Relaxed))
            .field("max_staleness", &self.shared.max_staleness)
            .finish_non_exhaustive()
    }
}

/// Settings of a [`RevocationFeed`]; [`start`](Self::start) it inside a tokio runtime.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use std::time::Duration;
/// use tower_api_auth::fleet::{MemoryFeedStore, RevocationFeed};
///
/// let feed = RevocationFeed::builder(MemoryFeedStore::new())
///     .max_staleness(Duration::from_secs(10))
///     .resync_every(Duration::from_secs(5))
///     .start();
/// feed.synced().await;
/// # }
/// ```
pub struct FeedBuilder {
    backend: Arc<dyn DynFeedStore>,
    clock: SharedClock,
    max_staleness: Duration,
    resync_every: Duration,
}

impl fmt::Debug for FeedBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FeedBuilder")
            .field("max_staleness", &self.max_staleness)
            .field("resync_every", &self.resync_every)
            .finish_non_exhaustive()
    }
}

impl FeedBuilder {
    /// How long after its last good sync an instance that lost its feed keeps answering from what
    /// it knows, before it refuses tokens with 503. Default 30 s; at least one second.
    #[must_use]
    pub fn max_staleness(mut self, bound: Duration) -> Self {
        self.max_staleness = bound.max(Duration::from_secs(1));
        self
    }

    /// How often the full resync runs while the feed is up. Default 10 s; keep it well under
    /// [`max_staleness`](Self::max_staleness), since a resync is also how a silently dead
    /// connection is found out.
    #[must_use]
    pub fn resync_every(mut self, every: Duration) -> Self {
        self.resync_every = every.max(Duration::from_millis(10));
        self
    }

    /// The clock revocations and staleness are judged by. Give the auth layer the same one.
    #[must_use]
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Starts following the store. Must be called inside a tokio runtime. Until the first sync
    /// completes, token checks answer 503 (the instance knows nothing yet); await
    /// [`RevocationFeed::synced`] before serving to avoid that.
    pub fn start(self) -> RevocationFeed {
        let shared = Arc::new(Shared {
            list: MemoryRevocationStore::new(),
            backend: self.backend,
            clock: self.clock,
            max_staleness: self.max_staleness.as_secs(),
            // Not a secret: any value other instances are unlikely to pick.
            nonce: getrandom::u64().unwrap_or_else(|_| std::process::id().into()),
            up: AtomicBool::new(false),
            confirmed_at: AtomicU64::new(0),
            syncs: watch::channel(0).0,
            key_epoch: AtomicU64::new(NO_EPOCH),
            key_caches: Mutex::new(Vec::new()),
            task: Mutex::new(None),
        });
        let task = tokio::spawn(follow(Arc::downgrade(&shared), self.resync_every));
        *shared.task.lock().unwrap_or_else(PoisonError::into_inner) = Some(task);
        RevocationFeed { shared }
    }
}

impl RevocationFeed {
    /// A feed following `backend`, with the defaults: 30 s staleness, a resync every 10 s, the
    /// system clock.
    pub fn builder(backend: impl FeedStore) -> FeedBuilder {
        FeedBuilder {
            backend: Arc::new(backend),
            clock: crate::clock::system(),
            max_staleness: DEFAULT_MAX_STALENESS,
            resync_every: DEFAULT_RESYNC_EVERY,
        }
    }

    /// Waits until the feed is up and [fresh](Self::is_fresh) at its clock's time: at once if it
    /// is, else until a resync succeeds (the first one after start, the one after a reconnect,
    /// or the next periodic one after a manual clock moved on). Wrap it in a timeout: it waits
    /// for as long as the store is down.
    pub async fn synced(&self) {
        let mut syncs = self.shared.syncs.subscribe();
        loop {
            let seen = *syncs.borrow_and_update();
            if self.shared.up.load(Ordering::Acquire)
                && self.shared.is_fresh(self.shared.clock.now())
            {
                return;
            }
            // `changed` fails only when the sender is gone, which this handle prevents.
            if syncs.wait_for(|&count| count > seen).await.is_err() {
                return;
            }
        }
    }

    /// Whether the feed is subscribed and its last resync succeeded (for health checks).
    pub fn is_up(&self) -> bool {
        self.shared.up.load(Ordering::Acquire)
    }

    /// Whether the feed is up, or down for less than the staleness bound, at `now`.
    pub fn is_fresh(&self, now: u64) -> bool {
        self.shared.is_fresh(now)
    }

    /// `Ok` while the feed is [fresh](Self::is_fresh) at its clock's time; else why not.
    #[cfg(feature = "health")]
    pub(crate) fn freshness(&self) -> Result<(), String> {
        let shared = &self.shared;
        let now = shared.clock.now();
        if shared.is_fresh(now) {
            return Ok(());
        }
        let confirmed = shared.confirmed_at.load(Ordering::Acquire);
        Err(if confirmed == 0 {
            "not synced with its store yet".to_owned()
        } else {
            format!(
                "last synced {} s ago, past its staleness bound of {} s",
                now.saturating_sub(confirmed),
                shared.max_staleness
            )
        })
    }

    /// Tells every instance that the API key `key_id` changed, so that their caches drop it.
    pub async fn key_changed(&self, key_id: &str) -> Result<(), StoreError> {
        let event = FeedEvent::key(key_id);
        self.shared.backend.publish(&event).await?;
        self.shared.apply(&event);
        Ok(())
    }

    /// The local list of revocations in force (for metrics and tests).
    pub fn local(&self) -> &MemoryRevocationStore {
        &self.shared.list
    }

    async fn publish(&self, event: FeedEvent) -> Result<(), StoreError> {
        self.shared.backend.publish(&event).await?;
        self.shared.apply(&event);
        Ok(())
    }
}

/// Caches that follow the feed ([`CachedKeyProvider::follow`]) hear of every key event and of
/// every reconnect, and bypass themselves while the feed is stale.
///
/// [`CachedKeyProvider::follow`]: crate::api_key::CachedKeyProvider::follow
impl KeyChanges for RevocationFeed {
    fn watch(&self, listener: Weak<dyn KeyChangeListener>) {
        let mut listeners = self
            .shared
            .key_caches
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        listeners.retain(|listener| listener.strong_count() > 0);
        listeners.push(listener);
    }

    fn is_fresh(&self, now: u64) -> bool {
        RevocationFeed::is_fresh(self, now)
    }
}

/// A key manager that [announces](crate::api_key::KeyManager::announce) to the feed publishes
/// through its store and applies the change here at once.
impl KeyAnnouncer for RevocationFeed {
    async fn key_changed(&self, key_id: &str) -> Result<(), StoreError> {
        RevocationFeed::key_changed(self, key_id).await
    }
}

impl Shared {
    /// Fresh while the last good sync is younger than the bound, whether or not the task thinks
    /// the feed is up: a task stuck on a store that hangs must not keep the instance fresh.
    fn is_fresh(&self, now: u64) -> bool {
        let confirmed = self.confirmed_at.load(Ordering::Acquire);
        confirmed > 0 && now < confirmed.saturating_add(self.max_staleness)
    }

    fn apply(&self, event: &FeedEvent) {
        match event {
            FeedEvent::Session { id, until } => self.list.insert_session(id, *until),
            FeedEvent::Token { id, until } => self.list.insert_token(id, *until),
            FeedEvent::Key { key_id } => self.keys_changed(Some(key_id)),
            FeedEvent::Ping { .. } => {}
        }
    }

    fn keys_changed(&self, key_id: Option<&str>) {
        let caches: Vec<_> = self
            .key_caches
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter_map(Weak::upgrade)
            .collect();
        for cache in caches {
            cache.key_changed(key_id);
        }
    }

    fn down(&self, error: &StoreError) {
        if self.up.swap(false, Ordering::AcqRel) {
            tracing::warn!(%error, "revocation feed lost; serving on what it knows until the staleness bound");
        } else {
            tracing::debug!(%error, "revocation feed still down");
        }
    }

    async fn resync(&self, after_reconnect: bool) -> Result<(), StoreError> {
        let started = self.clock.now();
        let epoch = bounded("key epoch", self.backend.key_epoch()).await?;
        let events = bounded("snapshot", self.backend.snapshot(started)).await?;
        for event in &events {
            self.apply(event);
        }
        self.list.purge(started);
        let last_epoch = self
            .key_epoch
            .swap(epoch.unwrap_or(NO_EPOCH), Ordering::AcqRel);
        // Key signals sent while the subscription was down are lost; one lost on a live
        // subscription shows as a moved epoch (or cannot be ruled out, without one). Either way
        // every cached key answer goes: the keys' records in the store are the truth. A moved
        // epoch may only mean a change this instance heard; telling the two apart would take
        // numbered events, and key changes are rare enough that a refill per change is cheap.
        if after_reconnect || epoch.is_none() || epoch != Some(last_epoch) {
            tracing::debug!(?epoch, "key epoch moved: cached key answers dropped");
            self.keys_changed(None);
        }
        self.confirmed_at
            .fetch_max(started.max(1), Ordering::AcqRel);
        if !self.up.swap(true, Ordering::AcqRel) && after_reconnect {
            tracing::info!(revocations = events.len(), "revocation feed synced");
        }
        self.syncs.send_modify(|count| *count += 1);
        Ok(())
    }
}

/// [`Shared::key_epoch`] before the first resync, or for a store that keeps no epoch.
const NO_EPOCH: u64 = u64::MAX;

const BACKOFF_START: Duration = Duration::from_millis(50);
const BACKOFF_MAX: Duration = Duration::from_secs(2);

/// The feed's task: subscribe, resync, apply events; on any failure, back off and start over.
/// It holds the feed weakly, so dropping the feed ends it.
async fn follow(feed: Weak<Shared>, resync_every: Duration) {
    let mut backoff = BACKOFF_START;
    let mut starved = StarvationWarning::default();
    loop {
        let Some(shared) = feed.upgrade() else { return };
        let (backend, nonce) = (shared.backend.clone(), shared.nonce);
        drop(shared);
        let outcome: Result<Infallible, StoreError> = async {
            // Subscribe first: what is published while the snapshot runs arrives as an event.
            let mut subscription = bounded("subscribe", backend.subscribe()).await?;
            let shared = feed.upgrade().ok_or_else(gone)?;
            shared.resync(true).await?;
            drop(shared);
            backoff = BACKOFF_START;
            // A half-open connection delivers nothing and reports nothing: every resync sends a
            // ping that must come back on the subscription before the next one.
            bounded("ping", backend.publish(&FeedEvent::Ping { nonce })).await?;
            let mut echoed = false;
            // When the last resync's own calls ended: a tick is late only past this, so that
            // a slow store (whose calls hold the task) is not taken for a blocked runtime.
            let mut worked_until = tokio::time::Instant::now();
            let mut resync = tokio::time::interval(resync_every);
            // After a stall, one resync, not a burst of the ticks missed.
            resync.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            resync.tick().await;
            loop {
                tokio::select! {
                    event = subscription.next() => match event? {
                        FeedEvent::Ping { nonce: n } => echoed |= n == nonce,
                        event => feed.upgrade().ok_or_else(gone)?.apply(&event),
                    },
                    scheduled = resync.tick() => {
                        starved.check(scheduled.max(worked_until).elapsed(), &feed);
                        if !echoed {
                            return Err(StoreError::new(
                                "the feed's subscription delivered nothing for a whole resync interval",
                            ));
                        }
                        let shared = feed.upgrade().ok_or_else(gone)?;
                        shared.resync(false).await?;
                        drop(shared);
                        bounded("ping", backend.publish(&FeedEvent::Ping { nonce })).await?;
                        echoed = false;
                        worked_until = tokio::time::Instant::now();
                    }
                }
            }
        }
        .await;
        let Err(error) = outcome;
        let Some(shared) = feed.upgrade() else { return };
        shared.down(&error);
        drop(shared);
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}

/// A resync this late means the task was not polled: the runtime's threads are held by code
/// that does not yield. Scheduling on a busy but healthy runtime delays a tick by milliseconds.
const STARVED_AFTER: Duration = Duration::from_secs(1);

/// The "starved" warning is written at most once per this long.
const STARVED_WARNING_EVERY: Duration = Duration::from_secs(60);

/// Tells the operator, at most once a minute, that the feed's task is not being run on time.
///
/// Freshness cannot be kept without the task: only a successful resync proves the instance has
/// heard every revocation, and a request must never wait on the network for it. So a runtime
/// whose workers are blocked (a blocking call or a long CPU-bound loop in async code) lets the
/// feed go stale, and the instance refuses tokens with 503 once that lasts past the staleness
/// bound. This line names the cause before that happens.
#[derive(Default)]
struct StarvationWarning {
    last: Option<tokio::time::Instant>,
}

impl StarvationWarning {
    fn check(&mut self, late: Duration, feed: &Weak<Shared>) {
        if late < STARVED_AFTER {
            return;
        }
        let now = tokio::time::Instant::now();
        if self
            .last
            .is_some_and(|last| now.duration_since(last) < STARVED_WARNING_EVERY)
        {
            return;
        }
        self.last = Some(now);
        let bound = feed.upgrade().map_or(0, |shared| shared.max_staleness);
        tracing::warn!(
            late_ms = u64::try_from(late.as_millis()).unwrap_or(u64::MAX),
            max_staleness_secs = bound,
            "the revocation feed's task ran late: this runtime's threads are blocked by code that does not yield (a blocking call or a long CPU-bound loop in async code; move it to spawn_blocking). Past the staleness bound without a resync, every token check answers 503 (this line at most once a minute)"
        );
    }
}

/// How long one call of the feed's task to its store may take: a store that hangs (a one-sided
/// partition, no reset) must fail the call, not hold the task while the instance looks fresh.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);

async fn bounded<T>(
    what: &'static str,
    call: impl std::future::Future<Output = Result<T, StoreError>>,
) -> Result<T, StoreError> {
    match tokio::time::timeout(CALL_TIMEOUT, call).await {
        Ok(result) => result,
        Err(_) => Err(StoreError::new(format!(
            "the feed's {what} took longer than {CALL_TIMEOUT:?}"
        ))),
    }
}

fn gone() -> StoreError {
    StoreError::new("revocation feed dropped")
}

impl RevocationCheck for RevocationFeed {
    fn is_revoked(
        &self,
        session_id: Option<&str>,
        token_id: Option<&str>,
        now: u64,
    ) -> Result<bool, StoreError> {
        if !self.shared.is_fresh(now) {
            return Err(StoreError::new(
                "revocation feed down for longer than its staleness bound",
            ));
        }
        self.shared.list.is_revoked(session_id, token_id, now)
    }
}

impl RevocationStore for RevocationFeed {
    async fn revoke_session(&self, session_id: &str, until: u64) -> Result<(), StoreError> {
        self.publish(FeedEvent::session(session_id, until)).await
    }

    async fn revoke_token(&self, token_id: &str, until: u64) -> Result<(), StoreError> {
        self.publish(FeedEvent::token(token_id, until)).await
    }
}
