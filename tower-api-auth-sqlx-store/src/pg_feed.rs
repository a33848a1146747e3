//! The PostgreSQL revocation feed: a revocation is stored and `pg_notify`'d in one transaction
//! (PostgreSQL delivers notifications on commit, in commit order), and each instance `LISTEN`s.

use sqlx::postgres::PgListener;

use crate::PgStore;
use crate::error::db_error;
use tower_api_auth::store::StoreError;
use tower_api_auth::store::{FeedEvent, FeedStore, FeedSubscription};

/// A live `LISTEN` on a [`PgStore`]'s channel, from [`FeedStore::subscribe`]. It holds one
/// connection of the store's pool. A lost connection ends it with `Err` (notifications sent
/// meanwhile are lost, so the feed resubscribes and resyncs); a payload that is not a
/// [`FeedEvent`] is skipped.
///
/// ```no_run
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use tower_api_auth::store::{FeedStore, FeedEvent, FeedSubscription};
/// use tower_api_auth_sqlx_store::PgStore;
///
/// let store = PgStore::connect("postgres://app@localhost/app").await?;
/// let mut subscription = store.subscribe().await?;
/// store.publish(&FeedEvent::session("ses_1", 1_900_000_000)).await?;
/// assert_eq!(subscription.next().await?, FeedEvent::session("ses_1", 1_900_000_000));
/// # Ok(()) }
/// ```
pub struct PgSubscription {
    listener: PgListener,
}

impl std::fmt::Debug for PgSubscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgSubscription").finish_non_exhaustive()
    }
}

impl FeedSubscription for PgSubscription {
    async fn next(&mut self) -> Result<FeedEvent, StoreError> {
        loop {
            match self.listener.try_recv().await {
                Ok(Some(notification)) => {
                    if let Some(event) = FeedEvent::decode(notification.payload()) {
                        return Ok(event);
                    }
                }
                Ok(None) => return Err(StoreError::new("the notification connection was lost")),
                Err(error) => return Err(db_error(error)),
            }
        }
    }
}

impl FeedStore for PgStore {
    type Subscription = PgSubscription;

    async fn publish(&self, event: &FeedEvent) -> Result<(), StoreError> {
        let notify = sqlx::query("SELECT pg_notify($1, $2)")
            .bind(self.channel_name())
            .bind(event.encode());
        self.store_and_announce(event, notify).await
    }

    async fn subscribe(&self) -> Result<PgSubscription, StoreError> {
        let mut listener = PgListener::connect_with(self.pool())
            .await
            .map_err(db_error)?;
        // A lost connection must surface as an error (the feed then resyncs), not be papered
        // over by a silent reconnect that lost the notifications sent meanwhile.
        listener.eager_reconnect(false);
        listener
            .listen(self.channel_name())
            .await
            .map_err(db_error)?;
        Ok(PgSubscription { listener })
    }

    async fn snapshot(&self, now: u64) -> Result<Vec<FeedEvent>, StoreError> {
        self.revocations_in_force(now).await
    }

    async fn key_epoch(&self) -> Result<Option<u64>, StoreError> {
        self.stored_key_epoch().await
    }
}
