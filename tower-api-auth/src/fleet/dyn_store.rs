//! The feed's hold on any [`FeedStore`]: the trait made object safe (the boxed twin of its
//! `async fn`s), and every feed store as a [`KeyAnnouncer`].

use std::future::Future;
use std::pin::Pin;

use crate::api_key::KeyAnnouncer;
use crate::store::{FeedEvent, FeedStore, FeedSubscription, StoreError};

pub(crate) type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// [`FeedStore`] made object safe, so that the feed is one type whatever its store.
pub(crate) trait DynFeedStore: Send + Sync + 'static {
    fn publish<'a>(&'a self, event: &'a FeedEvent) -> BoxFuture<'a, ()>;
    fn subscribe(&self) -> BoxFuture<'_, Box<dyn DynSubscription>>;
    fn snapshot(&self, now: u64) -> BoxFuture<'_, Vec<FeedEvent>>;
    fn key_epoch(&self) -> BoxFuture<'_, Option<u64>>;
}

pub(crate) trait DynSubscription: Send + 'static {
    fn next(&mut self) -> BoxFuture<'_, FeedEvent>;
}

impl<S: FeedSubscription> DynSubscription for S {
    fn next(&mut self) -> BoxFuture<'_, FeedEvent> {
        Box::pin(FeedSubscription::next(self))
    }
}

impl<B: FeedStore> DynFeedStore for B {
    fn publish<'a>(&'a self, event: &'a FeedEvent) -> BoxFuture<'a, ()> {
        Box::pin(FeedStore::publish(self, event))
    }

    fn subscribe(&self) -> BoxFuture<'_, Box<dyn DynSubscription>> {
        Box::pin(async move {
            let subscription = FeedStore::subscribe(self).await?;
            Ok(Box::new(subscription) as Box<dyn DynSubscription>)
        })
    }

    fn snapshot(&self, now: u64) -> BoxFuture<'_, Vec<FeedEvent>> {
        Box::pin(FeedStore::snapshot(self, now))
    }

    fn key_epoch(&self) -> BoxFuture<'_, Option<u64>> {
        Box::pin(FeedStore::key_epoch(self))
    }
}

/// Every feed backend announces key changes straight on the store: for a process that is no
/// instance of the fleet itself (a command-line tool, a back-office job), which publishes
/// without following: `KeyManager::new(store.clone()).announce(store)`.
impl<B: FeedStore> KeyAnnouncer for B {
    async fn key_changed(&self, key_id: &str) -> Result<(), StoreError> {
        self.publish(&FeedEvent::key(key_id)).await
    }
}
