//! [`MemoryFeedStore`]: an in-process feed store, the reference the real stores are tested
//! against.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::broadcast;

use crate::store::{FeedEvent, FeedStore, FeedSubscription, StoreError};

/// An in-process feed: the revocations in a map, the announcements on a broadcast channel.
///
/// Clones share everything, so several [`RevocationFeed`](crate::fleet::RevocationFeed)s built on
/// clones of one `MemoryFeedStore` behave as instances of one fleet: useful in tests, and as the
/// reference the real stores are tested against.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use tower_api_auth::fleet::MemoryFeedStore;
/// use tower_api_auth::store::{FeedStore, FeedEvent, FeedSubscription};
///
/// let feed = MemoryFeedStore::new();
/// let mut subscription = feed.subscribe().await.unwrap();
/// feed.publish(&FeedEvent::session("ses_1", 2_000)).await.unwrap();
/// assert_eq!(subscription.next().await.unwrap(), FeedEvent::session("ses_1", 2_000));
/// assert_eq!(feed.snapshot(1_000).await.unwrap(), [FeedEvent::session("ses_1", 2_000)]);
/// assert!(feed.snapshot(2_000).await.unwrap().is_empty(), "lapsed");
/// # }
/// ```
#[derive(Clone)]
pub struct MemoryFeedStore {
    shared: Arc<MemoryShared>,
}

struct MemoryShared {
    /// (is a session, id) → until.
    revocations: Mutex<HashMap<(bool, Arc<str>), u64>>,
    /// How many key events were published.
    key_epoch: AtomicU64,
    announce: broadcast::Sender<FeedEvent>,
}

impl Default for MemoryFeedStore {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for MemoryFeedStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let held = self.revocations().len();
        f.debug_struct("MemoryFeedStore")
            .field("revocations", &held)
            .finish()
    }
}

impl MemoryFeedStore {
    /// An empty feed.
    pub fn new() -> Self {
        Self {
            shared: Arc::new(MemoryShared {
                revocations: Mutex::new(HashMap::new()),
                key_epoch: AtomicU64::new(0),
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

/// A subscription to a [`MemoryFeedStore`].
#[derive(Debug)]
pub struct MemoryFeedSubscription(broadcast::Receiver<FeedEvent>);

impl FeedSubscription for MemoryFeedSubscription {
    async fn next(&mut self) -> Result<FeedEvent, StoreError> {
        // A receiver that fell behind lost events: that is a lost subscription, and the feed
        // resyncs, exactly as it does after a store's reconnect.
        self.0.recv().await.map_err(StoreError::new)
    }
}

impl FeedStore for MemoryFeedStore {
    type Subscription = MemoryFeedSubscription;

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
            FeedEvent::Key { .. } => {
                self.shared.key_epoch.fetch_add(1, Ordering::AcqRel);
            }
            FeedEvent::Ping { .. } => {}
        }
        // No subscriber is not an error: nobody needed telling.
        let _ = self.shared.announce.send(event.clone());
        Ok(())
    }

    async fn subscribe(&self) -> Result<MemoryFeedSubscription, StoreError> {
        Ok(MemoryFeedSubscription(self.shared.announce.subscribe()))
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

    async fn key_epoch(&self) -> Result<Option<u64>, StoreError> {
        Ok(Some(self.shared.key_epoch.load(Ordering::Acquire)))
    }
}
