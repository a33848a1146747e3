//! What travels on the revocation feed, and its wire form.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// One change that every instance of a fleet must learn of.
///
/// Session and token revocations are durable: a store keeps them until `until` and hands them out
/// again on every resync. A key change is only a signal to drop a cached API-key answer; the
/// key's record in the store is the truth, and an instance that missed the signal drops its
/// whole key cache when it resyncs after a reconnect. A ping is only announced, like a key
/// change: backends store session and token revocations and announce everything.
///
/// The wire form ([`encode`](Self::encode), [`decode`](Self::decode)) is small JSON, the same on
/// every store, so that a store's notification payload (PostgreSQL `NOTIFY`, Redis `PUBLISH`)
/// carries the event itself.
///
/// ```
/// use tower_api_auth::fleet::FeedEvent;
///
/// let event = FeedEvent::session("ses_1", 1_800_000_000);
/// let wire = event.encode();
/// assert_eq!(FeedEvent::decode(&wire), Some(event));
/// assert_eq!(FeedEvent::decode("not json"), None);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "t")]
#[non_exhaustive]
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
