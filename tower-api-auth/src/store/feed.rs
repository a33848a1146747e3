//! The fleet's feed store: [`FeedStore`] (publish, subscribe, snapshot), [`FeedSubscription`],
//! and [`FeedEvent`], what travels on the feed, with its wire form.

use std::future::Future;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::store::StoreError;

/// A store that keeps revocations for a fleet and tells every instance of new ones: PostgreSQL
/// (`LISTEN/NOTIFY`), SQLite (polling, one host), Redis (pub/sub), or your own. The
/// [`RevocationFeed`](crate::fleet::RevocationFeed) drives it; implement it with `async fn`.
///
/// The contract:
/// - [`publish`](Self::publish) stores a session or token revocation durably *before* it
///   announces it, so that an instance that resyncs after the announcement finds it; a key event
///   also counts one more change in the store's key epoch (in the same transaction or script as
///   its announcement, when the store has one), then is announced.
/// - [`subscribe`](Self::subscribe) delivers every event published after it returns, by any
///   instance (this one included), until it fails; the feed then subscribes again and resyncs.
/// - [`snapshot`](Self::snapshot) returns every session and token revocation still in force at
///   `now`; it may delete the lapsed ones.
/// - [`key_epoch`](Self::key_epoch) says how many key events were ever published, so that an
///   instance that lost one (an undecodable payload, a half-open subscription) finds out at its
///   next resync and drops its cached key answers. A store that keeps no count leaves the
///   default, `None`, and every resync then drops them: correct, at the cost of one store read
///   per cached key per resync interval.
///
/// ```
/// use tower_api_auth::fleet::MemoryFeedStore;
/// use tower_api_auth::store::{FeedStore, FeedEvent, FeedSubscription};
/// use tower_api_auth::store::StoreError;
///
/// /// A backend of your own, here one that delegates to the in-process feed.
/// struct Mine(MemoryFeedStore);
///
/// impl FeedStore for Mine {
///     type Subscription = <MemoryFeedStore as FeedStore>::Subscription;
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
pub trait FeedStore: Send + Sync + 'static {
    /// A live subscription.
    type Subscription: FeedSubscription;

    /// Stores (revocations) and announces `event` to every instance.
    fn publish(&self, event: &FeedEvent) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Starts receiving the events published from now on.
    fn subscribe(&self) -> impl Future<Output = Result<Self::Subscription, StoreError>> + Send;

    /// Every session and token revocation in force at `now` (unix seconds).
    fn snapshot(&self, now: u64)
    -> impl Future<Output = Result<Vec<FeedEvent>, StoreError>> + Send;

    /// How many [key events](FeedEvent::Key) were published so far, by any instance; `None`
    /// when the store keeps no count (the default). It only has to change when a key event is
    /// published: the feed compares it from one resync to the next, and any change drops every
    /// cached key answer of the instance.
    fn key_epoch(&self) -> impl Future<Output = Result<Option<u64>, StoreError>> + Send {
        async { Ok(None) }
    }
}

/// A live subscription to a [`FeedStore`].
pub trait FeedSubscription: Send + 'static {
    /// The next event; `Err` when the subscription is lost (the feed then resubscribes).
    fn next(&mut self) -> impl Future<Output = Result<FeedEvent, StoreError>> + Send;
}

/// One change that every instance of a fleet must learn of.
///
/// Session and token revocations are durable: a store keeps them until `until` and hands them out
/// again on every resync. A key change is only a signal to drop a cached API-key answer; the
/// key's record in the store is the truth, and an instance that missed the signal drops its
/// whole key cache at its next resync (the store's [key epoch](FeedStore::key_epoch) moved, or
/// the subscription was replaced). A ping is only announced: backends store session and token
/// revocations, count key events, and announce everything.
///
/// The wire form ([`encode`](Self::encode), [`decode`](Self::decode)) is small JSON, the same on
/// every store, so that a store's notification payload (PostgreSQL `NOTIFY`, Redis `PUBLISH`)
/// carries the event itself.
///
/// ```
/// use tower_api_auth::store::FeedEvent;
///
/// let event = FeedEvent::session("ses_1", 1_800_000_000);
/// let wire = event.encode();
/// assert_eq!(FeedEvent::decode(&wire), Some(event));
/// assert_eq!(FeedEvent::decode("not json"), None);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "t")]
// Exhaustive on purpose: every feed store must store or announce each kind, so a new kind is a
// breaking change that the store crates' matches catch at compile time, never a silent skip.
pub enum FeedEvent {
    /// Access tokens of the session are refused until `until` (unix seconds).
    #[serde(rename = "s")]
    Session {
        /// The session id (the tokens' `sid`).
        id: Arc<str>,
        /// When the revocation lapses: every token it could stop has expired by then.
        until: u64,
    },
    /// The access token with this `jti` is refused until `until` (unix seconds).
    #[serde(rename = "j")]
    Token {
        /// The token id (its `jti`).
        id: Arc<str>,
        /// When the revocation lapses.
        until: u64,
    },
    /// The API key's record changed (created, revoked, rolled, edited): cached answers about it
    /// must be dropped.
    #[serde(rename = "k")]
    Key {
        /// The public key id.
        key_id: Arc<str>,
    },
    /// A heartbeat: an instance publishes one on every resync and expects it back on its own
    /// subscription, which proves the subscription alive (a half-open connection delivers
    /// nothing and reports no error). Only announced, never stored; other instances ignore it.
    #[serde(rename = "p")]
    Ping {
        /// A nonce of the instance that sent it.
        nonce: u64,
    },
}

impl FeedEvent {
    /// A session revocation.
    pub fn session(id: impl Into<Arc<str>>, until: u64) -> Self {
        Self::Session {
            id: id.into(),
            until,
        }
    }

    /// A token revocation.
    pub fn token(id: impl Into<Arc<str>>, until: u64) -> Self {
        Self::Token {
            id: id.into(),
            until,
        }
    }

    /// A changed API key.
    pub fn key(key_id: impl Into<Arc<str>>) -> Self {
        Self::Key {
            key_id: key_id.into(),
        }
    }

    /// The wire form: a short JSON object.
    pub fn encode(&self) -> String {
        serde_json::to_string(self).expect("a FeedEvent always serializes")
    }

    /// Reads the wire form; `None` for anything else (a foreign message on the channel is
    /// ignored, never applied half-read).
    pub fn decode(wire: &str) -> Option<Self> {
        serde_json::from_str(wire).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_whose_time_is_of_the_wrong_type_is_not_read() {
        // Never "no lapse": a revocation whose `until` is not whole unix seconds is dropped as
        // undecodable (the next resync's snapshot repairs it), not applied without an end.
        assert_eq!(
            FeedEvent::decode(r#"{"t":"s","id":"ses_1","until":1800000000}"#),
            Some(FeedEvent::session("ses_1", 1_800_000_000))
        );
        for until in [
            r#""1800000000""#,
            "1800000000.5",
            "-1",
            "null",
            "true",
            "1e300",
        ] {
            for kind in ["s", "j"] {
                let wire = format!(r#"{{"t":"{kind}","id":"x","until":{until}}}"#);
                assert_eq!(FeedEvent::decode(&wire), None, "{wire}");
            }
        }
        assert_eq!(
            FeedEvent::decode(r#"{"t":"s","id":"ses_1"}"#),
            None,
            "no until"
        );
    }
}
