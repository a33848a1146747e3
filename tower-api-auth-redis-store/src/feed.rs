//! [`FeedStore`] on Redis: revocations in two sorted sets, announcements on pub/sub.

use std::fmt;
use std::pin::Pin;

use ::redis::aio::PubSubStream;
use futures_core::Stream;

use crate::RedisStore;
use crate::error::{call, invalid};
use crate::scripts::{ANNOUNCE, ANNOUNCE_KEY, PUBLISH};
use tower_api_auth::store::StoreError;
use tower_api_auth::store::{FeedEvent, FeedStore, FeedSubscription};

/// The revocation feed's subscription to a [`RedisStore`]: a pub/sub connection of its own,
/// subscribed to `<prefix>:feed`. [`next`](FeedSubscription::next) skips payloads that are not
/// [`FeedEvent`]s and fails when the connection is lost; the
/// [`RevocationFeed`](tower_api_auth::fleet::RevocationFeed) then subscribes again and resyncs.
///
/// ```no_run
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), tower_api_auth::store::StoreError> {
/// use tower_api_auth::store::{FeedStore, FeedEvent, FeedSubscription};
/// use tower_api_auth_redis_store::RedisStore;
///
/// let store = RedisStore::connect("redis://127.0.0.1:6379").await?;
/// let mut subscription = store.subscribe().await?;
/// store.publish(&FeedEvent::session("ses_1", 1_900_000_000)).await?;
/// assert_eq!(subscription.next().await?, FeedEvent::session("ses_1", 1_900_000_000));
/// # Ok(()) }
/// ```
pub struct RedisSubscription {
    messages: PubSubStream,
}

impl fmt::Debug for RedisSubscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisSubscription").finish_non_exhaustive()
    }
}

impl FeedSubscription for RedisSubscription {
    async fn next(&mut self) -> Result<FeedEvent, StoreError> {
        loop {
            let message =
                std::future::poll_fn(|cx| Pin::new(&mut self.messages).poll_next(cx)).await;
            let Some(message) = message else {
                return Err(invalid("subscribe", "the pub/sub connection was lost"));
            };
            let Ok(payload) = message.get_payload::<String>() else {
                continue;
            };
            if let Some(event) = FeedEvent::decode(&payload) {
                return Ok(event);
            }
        }
    }
}

/// A `ZRANGE … WITHSCORES` answer: ids and their `until`.
type Scored = Vec<(String, f64)>;

/// Parses a `ZRANGE … WITHSCORES` answer into events.
fn events(members: Scored, make: fn(String, u64) -> FeedEvent) -> impl Iterator<Item = FeedEvent> {
    // Scores are doubles: `as` saturates, so a revocation "forever" (u64::MAX) reads back as such.
    members
        .into_iter()
        .map(move |(id, until)| make(id, until as u64))
}

impl FeedStore for RedisStore {
    type Subscription = RedisSubscription;

    /// A session or token revocation is one script: `ZADD … GT` into its sorted set (a new id is
    /// added; a known one keeps the later `until`), then `PUBLISH`, so the revocation is stored
    /// before anyone hears of it. A key event bumps the key epoch (`INCR`) and is published, a
    /// ping only published, each by a script on a key of the revocations' slot, so that on a
    /// cluster they leave from the same node as the revocations and are heard in order.
    async fn publish(&self, event: &FeedEvent) -> Result<(), StoreError> {
        let mut connection = self.connection();
        let channel = self.keys.channel();
        let (set, id, until) = match event {
            FeedEvent::Session { id, until } => (self.keys.revoked_sessions(), id, until),
            FeedEvent::Token { id, until } => (self.keys.revoked_tokens(), id, until),
            FeedEvent::Key { .. } | FeedEvent::Ping { .. } => {
                let (script, key) = if let FeedEvent::Key { .. } = event {
                    (&*ANNOUNCE_KEY, self.keys.key_epoch())
                } else {
                    (&*ANNOUNCE, self.keys.revoked_sessions())
                };
                return call(
                    "publish",
                    script
                        .key(key)
                        .arg(channel)
                        .arg(event.encode())
                        .invoke_async::<i64>(&mut connection),
                )
                .await
                .map(drop);
            }
        };
        call(
            "publish",
            PUBLISH
                .key(set)
                .arg(*until)
                .arg(&**id)
                .arg(channel)
                .arg(event.encode())
                .invoke_async::<i64>(&mut connection),
        )
        .await
        .map(drop)
    }

    async fn subscribe(&self) -> Result<RedisSubscription, StoreError> {
        let pubsub = self.pubsub.subscribe(&self.keys.channel()).await?;
        Ok(RedisSubscription {
            messages: pubsub.into_on_message(),
        })
    }

    /// Drops the lapsed revocations (`ZREMRANGEBYSCORE -inf now`) and reads the rest, both sets
    /// in one transaction.
    async fn snapshot(&self, now: u64) -> Result<Vec<FeedEvent>, StoreError> {
        let mut connection = self.connection();
        let (sessions, tokens) = (self.keys.revoked_sessions(), self.keys.revoked_tokens());
        let (sessions, tokens): (Scored, Scored) = call(
            "snapshot",
            ::redis::pipe()
                .atomic()
                .cmd("ZREMRANGEBYSCORE")
                .arg(&sessions)
                .arg("-inf")
                .arg(now)
                .ignore()
                .cmd("ZREMRANGEBYSCORE")
                .arg(&tokens)
                .arg("-inf")
                .arg(now)
                .ignore()
                .cmd("ZRANGE")
                .arg(&sessions)
                .arg(0)
                .arg(-1)
                .arg("WITHSCORES")
                .cmd("ZRANGE")
                .arg(&tokens)
                .arg(0)
                .arg(-1)
                .arg("WITHSCORES")
                .query_async(&mut connection),
        )
        .await?;
        Ok(events(sessions, FeedEvent::session)
            .chain(events(tokens, FeedEvent::token))
            .collect())
    }

    async fn key_epoch(&self) -> Result<Option<u64>, StoreError> {
        let mut connection = self.connection();
        let epoch: Option<u64> = call(
            "key epoch",
            ::redis::cmd("GET")
                .arg(self.keys.key_epoch())
                .query_async(&mut connection),
        )
        .await?;
        Ok(Some(epoch.unwrap_or(0)))
    }
}
