//! The store side of the feed: [`FeedBackend`], and the in-process [`MemoryFeed`].

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::broadcast;

use crate::api_key::KeyAnnouncer;
use crate::fleet::event::FeedEvent;
use crate::store::StoreError;

/// A store that keeps revocations for a fleet and tells every instance of new ones: PostgreSQL
/// (`LISTEN/NOTIFY`), SQLite (polling, one host), Redis (pub/sub), or your own. The
/// [`RevocationFeed`](crate::fleet::RevocationFeed) drives it; implement it with `async fn`.
///
/// The contract:
/// - [`publish`](Self::publish) stores a session or token revocation durably *before* it
///   announces it, so that an instance that resyncs after the announcement finds it; a key event
///   is only announced.
/// - [`subscribe`](Self::subscribe) delivers every event published after it returns, by any
///   instance (this one included), until it fails; the feed then subscribes again and resyncs.
/// - [`snapshot`](Self::snapshot) returns every session and token revocation still in force at
///   `now`; it may delete the lapsed ones.
///
/// ```
/// use tower_api_auth::fleet::{FeedBackend, FeedEvent, FeedSubscription, MemoryFeed};
/// use tower_api_auth::store::StoreError;
///
/// /// A backend of your own, here one that delegates to the in-process feed.
/// struct Mine(MemoryFeed);
///
/// impl FeedBackend for Mine {
///     type Subscription = <MemoryFeed as FeedBackend>::Subscription;
///     async fn publish(&self, event: &FeedEvent) -> Result<(), StoreError> {
///         self.0.publish(event).await
///     }
///     async fn subscribe(&self) -> Result<Self::Subscription, StoreError> {
///         self.0.subscribe().await
///     }
///     async fn snapshot(&self, now: u64) -> Result<Vec<FeedEvent>, StoreError> {
///         self.0.snapshot(now).await
///     }
/// }
/// ```
pub trait FeedBackend: Send + Sync + 'static {
    /// A live subscription.
    type Subscription: FeedSubscription;

    /// Stores (revocations) and announces `event` to every instance.
    fn publish(&self, event: &FeedEvent) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Starts receiving the events published from now on.
    fn subscribe(&self) -> impl Future<Output = Result<Self::Subscription, StoreError>> + Send;

    /// Every session and token revocation in force at `now` (unix seconds).
    fn snapshot(&self, now: u64)
    -> impl Future<Output = Result<Vec<FeedEvent>, StoreError>> + Send;
}

/// A live subscription to a [`FeedBackend`].
pub trait FeedSubscription: Send + 'static {
    /// The next event; `Err` when the subscription is lost (the feed then resubscribes).
    fn next(&mut self) -> impl Future<Output = Result<FeedEvent, StoreError>> + Send;
}

pub(crate) type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// [`FeedBackend`] made object safe, so that the feed is one type whatever its store.
pub(crate) trait DynFeedBackend: Send + Sync + 'static {
    fn publish<'a>(&'a self, event: &'a FeedEvent) -> BoxFuture<'a, ()>;
    fn subscribe(&self) -> BoxFuture<'_, Box<dyn DynSubscription>>;
    fn snapshot(&self, now: u64) -> BoxFuture<'_, Vec<FeedEvent>>;
}

pub(crate) trait DynSubscription: Send + 'static {
    fn next(&mut self) -> BoxFuture<'_, FeedEvent>;
}

impl<S: FeedSubscription> DynSubscription for S {
    fn next(&mut self) -> BoxFuture<'_, FeedEvent> {
        Box::pin(FeedSubscription::next(self))
    }
}

impl<B: FeedBackend> DynFeedBackend for B {
    fn publish<'a>(&'a self, event: &'a FeedEvent) -> BoxFuture<'a, ()> {
        Box::pin(FeedBackend::publish(self, event))
    }

    fn subscribe(&self) -> BoxFuture<'_, Box<dyn DynSubscription>> {
        Box::pin(async move {
            let subscription = FeedBackend::subscribe(self).await?;
            Ok(Box::new(subscription) as Box<dyn DynSubscription>)
        })
    }

    fn snapshot(&self, now: u64) -> BoxFuture<'_, Vec<FeedEvent>> {
        Box::pin(FeedBackend::snapshot(self, now))
    }
}

/// Every feed backend announces key changes straight on the store: for a process that is no
/// instance of the fleet itself (a command-line tool, a back-office job), which publishes
/// without following: `KeyManager::new(store.clone()).announce(store)`.
impl<B: FeedBackend> KeyAnnouncer for B {
    async fn key_changed(&self, key_id: &str) -> Result<(), StoreError> {
        self.publish(&FeedEvent::key(key_id)).await
    }
}

/// An in-process feed: the revocations in a map, the announcements on a broadcast channel.
///
/// Clones share everything, so several [`RevocationFeed`](crate::fleet::RevocationFeed)s built on
/// clones of one `MemoryFeed` behave as instances of one fleet: useful in tests, and as the
/// reference the real stores are tested against.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use tower_api_auth::fleet::{FeedBackend, FeedEvent, FeedSubscription, MemoryFeed};
///
/// let feed = MemoryFeed::new();
/// let mut subscription = feed.subscribe().await.unwrap();
/// feed.publish(&FeedEvent::session("ses_1", 2_000)).await.unwrap();
/// assert_eq!(subscription.next().await.unwrap(), FeedEvent::session("ses_1", 2_000));
/// assert_eq!(feed.snapshot(1_000).await.unwrap(), [FeedEvent::session("ses_1", 2_000)]);
/// assert!(feed.snapshot(2_000).await.unwrap().is_empty(), "lapsed");
/// # }
/// ```
#[derive(Clone)]
pub struct MemoryFeed {
    shared: Arc<MemoryShared>,
}

struct MemoryShared {
    /// (is a session, id) → until.
    revocations: Mutex<HashMap<(bool, Arc<str>), u64>>,
    announce: broadcast::Sender<FeedEvent>,
}

impl Default for MemoryFeed {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for MemoryFeed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let held = self.revocations().len();
        f.debug_struct("MemoryFeed")
            .field("revocations", &held)
            .finish()
    }
}

impl MemoryFeed {
    /// An empty feed.
    pub fn new() -> Self {
        Self {
            shared: Arc::new(MemoryShared {
                revocations: Mutex::new(HashMap::new()),
                announce: broadcast::channel(1024).0,
            }),
        }
    }

    fn revocations(&self) -> std::sync::MutexGuard<'_, HashMap<(bool, Arc<str>), u64>> {
        self.shared
            .revocations
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// A subscription to a [`MemoryFeed`].
#[derive(Debug)]
pub struct MemorySubscription(broadcast::Receiver<FeedEvent>);

impl FeedSubscription for MemorySubscription {
    async fn next(&mut self) -> Result<FeedEvent, StoreError> {
        // A receiver that fell behind lost events: that is a lost subscription, and the feed
        // resyncs, exactly as it does after a store's reconnect.
        self.0.recv().await.map_err(StoreError::new)
    }
}

impl FeedBackend for MemoryFeed {
    type Subscription = MemorySubscription;

    async fn publish(&self, event: &FeedEvent) -> Result<(), StoreError> {
        match event {
            FeedEvent::Session { id, until } | FeedEvent::Token { id, until } => {
                let is_session = matches!(event, FeedEvent::Session { .. });
                let mut revocations = self.revocations();
                let held = revocations
                    .entry((is_session, id.clone()))
                    .or_insert(*until);
                *held = (*held).max(*until);
            }
            FeedEvent::Key { .. } | FeedEvent::Ping { .. } => {}
        }
        // No subscriber is not an error: nobody needed telling.
        let _ = self.shared.announce.send(event.clone());
        Ok(())
    }

    async fn subscribe(&self) -> Result<MemorySubscription, StoreError> {
        Ok(MemorySubscription(self.shared.announce.subscribe()))
    }

    async fn snapshot(&self, now: u64) -> Result<Vec<FeedEvent>, StoreError> {
        let mut revocations = self.revocations();
        revocations.retain(|_, until| now < *until);
        Ok(revocations
            .iter()
            .map(|((is_session, id), &until)| {
                if *is_session {
                    FeedEvent::session(id.clone(), until)
                } else {
                    FeedEvent::token(id.clone(), until)
                }
            })
            .collect())
    }
}
