//! Redis stores: refresh sessions ([`RefreshStore`](tower_api_auth::store::RefreshStore)),
//! authorization codes ([`CodeStore`](tower_api_auth::store::CodeStore)) and the issuer's
//! rotating signing keys ([`SigningKeyStore`](tower_api_auth::store::SigningKeyStore)) with
//! feature `issuer`, the fleet's revocations with the revocation feed on pub/sub
//! ([`FeedStore`](tower_api_auth::store::FeedStore)) and the fleet's rate limits
//! ([`RateLimitBackend`](tower_api_auth::rate_limit::RateLimitBackend), with feature
//! `rate-limit`), all on one [`RedisStore`] — on one server ([`RedisStore::connect`]) or on a
//! Redis Cluster ([`RedisStore::connect_cluster`]).
//!
//! ```no_run
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), tower_api_auth::store::StoreError> {
//! use tower_api_auth::fleet::RevocationFeed;
//! use tower_api_auth_redis_store::RedisStore;
//!
//! let store = RedisStore::connect("redis://127.0.0.1:6379").await?.prefix("myapp-auth");
//! // or: RedisStore::connect_cluster(["redis://10.0.0.1:6379", "redis://10.0.0.2:6379"]).await?
//! let feed = RevocationFeed::builder(store.clone()).start();
//! feed.synced().await;
//! // With feature `issuer`: TokenService::new(issuer, store).revocation_store(feed.clone())
//! // With feature `rate-limit`: the rate-limit layer's backend, OverLimitCache::new(store)
//! # Ok(()) }
//! ```
//!
//! ## Key layout
//!
//! Every key starts with the [prefix](RedisStore::prefix) (default `tower-api-auth`) and carries
//! a hash tag (`{…}`): Redis Cluster puts a key in the slot of its tag, and every script and
//! command of the store touches keys of a single tag, so every one runs on a cluster. What
//! spans several tags is several calls, each atomic: a login writes its session, then its slot,
//! then its subject's index, and checks which of the subject's older sessions are alive with one
//! `EXISTS` each (sent together, not as one pipeline, which a cluster refuses across slots).
//!
//! | key | type | holds | expires |
//! | --- | --- | --- | --- |
//! | `<prefix>:{s:<session id>}` | hash | one session: `gen` (refresh-token generation), `cur` (the 32-byte hash of its one valid refresh token), `used` (last refresh, unix seconds), `ses` (the [`Session`](tower_api_auth::store::Session) as JSON), `exp` and `idle` (its absolute end and idle timeout), and while a retry grace runs `gs` (the successor token sealed under the one it replaced) and `gu` (the grace's end) | at the session's absolute end, or earlier at `last used + idle timeout`; moved by every refresh |
//! | `<prefix>:{slot:<slot>}` | string | the id of the session that last started in the slot | at that session's absolute end |
//! | `<prefix>:{u:<subject>}` | sorted set | the ids of the subject's sessions, scored by when they started: a login beyond the bound ends the oldest, so it holds at most the bound | at the latest absolute end of its sessions |
//! | `<prefix>:{c:<code hash>}` | hash | one authorization code (feature `issuer`) under the hex of its [`CodeHash`](tower_api_auth::store::CodeHash) (never the code itself): `code` (the [`AuthorizationCode`](tower_api_auth::store::AuthorizationCode) as JSON) and, once redeemed, `by` (the session its first redemption started) | [`SPENT_CODES_KEPT_FOR`](RedisStore::SPENT_CODES_KEPT_FOR) past the code's expiry, set when it is saved |
//! | `<prefix>:{rev}:sessions` | sorted set | revoked session ids, scored by `until` | members when the feed's resync finds them lapsed |
//! | `<prefix>:{rev}:tokens` | sorted set | revoked access-token ids (`jti`), scored by `until` | likewise |
//! | `<prefix>:{rl:<limit key>}` | string | one rate-limit bucket (feature `rate-limit`): its theoretical arrival time, microseconds on the server's clock; the tag is the whole [`LimitKey`](tower_api_auth::rate_limit::LimitKey) text (braces in it percent-encoded), so each bucket is a slot of its own | when the bucket is whole again (not written by a refusal) |
//! | `<prefix>:{sk}` | hash | the issuer's signing keys (feature `issuer`, [`SigningKeyStore`](tower_api_auth::store::SigningKeyStore)): kid → the key as JSON (algorithm, the private key sealed unless the app chose plaintext, the public JWK, its times); inserted with `HSETNX`, so of instances rotating at once one wins | when the key ring deletes an ended key |
//! | `<prefix>:feed` | pub/sub channel | [`FeedEvent`](tower_api_auth::store::FeedEvent)s in their wire form | — |
//!
//! On a cluster, the feed's events are all published from the node that holds `{rev}` (so that
//! they are heard in order), and a subscription listens at one node: Redis broadcasts every
//! `PUBLISH` to all nodes.
//!
//! No refresh token is stored, only its hash; the sealed successor of a retry grace can be opened
//! only with the token it replaced, which is not stored either.
//!
//! Needs Redis 6.2 or later (`ZADD … GT`, `SET … EXAT`), or a compatible server (Valkey).
//!
//! Redis expires keys by its own clock: the app's clock must agree with the server's (a session
//! whose end is already past on the server's clock is dropped at once).

#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "issuer")]
mod codes;
mod connection;
mod error;
mod feed;
mod keys;
#[cfg(feature = "rate-limit")]
mod rate_limit;
mod scripts;
#[cfg(feature = "issuer")]
mod sessions;
#[cfg(feature = "issuer")]
mod signing_keys;
mod tls;

use std::fmt;
use std::sync::Arc;

pub use ::redis as client;
use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};
use ::redis::cluster::ClusterClientBuilder;

pub use feed::RedisSubscription;

use connection::{Connection, PubSubNodes};
use keys::Keys;
use tower_api_auth::store::StoreError;

/// The prefix of every key when none is set.
const DEFAULT_PREFIX: &str = "tower-api-auth";

/// Redis, for refresh sessions, the fleet's revocations and its rate limits: one server, or a
/// Redis Cluster.
///
/// One multiplexed connection ([`ConnectionManager`]; on a cluster, one to each primary) carries
/// every call and reconnects by itself after a failure; each call fails within a few seconds
/// when the server is unreachable (the token service and the auth layer then answer 503). The
/// revocation feed's [subscription](tower_api_auth::store::FeedStore::subscribe) opens a pub/sub
/// connection of its own. Clones share the connection. See the [module](self) for the key
/// layout.
///
/// ```no_run
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use tower_api_auth_redis_store::RedisStore;
///
/// let store = RedisStore::connect("rediss://:password@redis.internal:6380").await?.prefix("billing");
/// // A Redis Cluster, found from any of its nodes:
/// let cluster = RedisStore::connect_cluster(["redis://10.0.0.1:6379", "redis://10.0.0.2:6379"]).await?;
/// // Or from the app's own client and connection:
/// let client = tower_api_auth_redis_store::client::Client::open("redis://127.0.0.1:6379")?;
/// let manager = client.get_connection_manager().await?;
/// let shared = RedisStore::from_client(client, manager);
/// # let _ = (store, cluster, shared);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisStore {
    connection: Connection,
    pubsub: Arc<PubSubNodes>,
    keys: Keys,
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The addresses only: never the URLs, which may hold a password.
        let mut debug = f.debug_struct("RedisStore");
        match self.connection {
            Connection::Server(_) => debug.field("addr", &self.pubsub.addrs()),
            Connection::Cluster(_) => debug.field("cluster", &self.pubsub.addrs()),
        };
        debug
            .field("prefix", &self.keys.prefix())
            .finish_non_exhaustive()
    }
}

/// Opens `url` as a client, without a word of the URL in the error.
fn open(url: &str) -> Result<::redis::Client, StoreError> {
    let client = ::redis::Client::open(url)
        .map_err(|_| error::invalid("connect", "the URL is not a valid Redis URL"))?;
    if matches!(
        client.get_connection_info().addr(),
        ::redis::ConnectionAddr::TcpTls { .. }
    ) {
        tls::ensure_provider()?;
    }
    Ok(client)
}

impl RedisStore {
    /// Connects to `url` (`redis://`, `rediss://` for TLS, `redis+unix://`): each connection
    /// attempt and each answer may take 2 seconds, a reconnection is retried twice, so a dead
    /// server fails calls within about 4 seconds. The connection reconnects by itself.
    ///
    /// For `rediss://`, rustls needs a process-wide crypto provider: one the application
    /// installed is used; else, with feature `aws-lc-rs` (a default), aws-lc-rs is installed;
    /// else connecting fails and says so. [`from_client`](Self::from_client) leaves that to the
    /// application.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let client = open(url)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(error::CONNECT_TIMEOUT))
            .set_response_timeout(Some(error::RESPONSE_TIMEOUT))
            .set_number_of_retries(2)
            .set_min_delay(std::time::Duration::from_millis(50))
            .set_max_delay(std::time::Duration::from_millis(500));
        let manager = error::within(
            "connect",
            error::CALL_BUDGET,
            ConnectionManager::new_with_config(client.clone(), config),
        )
        .await?;
        Ok(Self::from_client(client, manager))
    }

    /// Connects to the Redis Cluster that `nodes` (URLs as [`connect`](Self::connect) takes,
    /// one or more of the cluster's nodes, all with the same password and TLS) belong to: the
    /// connection learns the cluster's layout from them, opens one connection to each primary,
    /// and follows the cluster as its slots move. The same time budget as `connect`: a call
    /// fails within about 4 seconds when its node is unreachable, and the connection recovers
    /// by itself when it is back.
    ///
    /// Every call of the store touches the keys of one slot (see the [key layout](self)), so
    /// every one works on a cluster. The revocation feed subscribes at one of `nodes` (the
    /// first that answers): a cluster broadcasts every `PUBLISH` to all of its nodes.
    pub async fn connect_cluster<I, S>(nodes: I) -> Result<Self, StoreError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let nodes = nodes
            .into_iter()
            .map(|url| open(url.as_ref()))
            .collect::<Result<Vec<_>, _>>()?;
        if nodes.is_empty() {
            return Err(error::invalid(
                "connect",
                "a cluster needs at least one node's URL",
            ));
        }
        let cluster =
            ClusterClientBuilder::new(nodes.iter().map(|node| node.get_connection_info().clone()))
                .connection_timeout(error::CONNECT_TIMEOUT)
                .response_timeout(error::RESPONSE_TIMEOUT)
                .retries(2)
                .min_retry_wait(50)
                .max_retry_wait(500)
                .build()
                .map_err(|error| error::failed("connect", error))?;
        let connection = error::within(
            "connect",
            error::CALL_BUDGET,
            cluster.get_async_connection(),
        )
        .await?;
        Ok(Self {
            connection: Connection::Cluster(connection),
            pubsub: PubSubNodes::new(nodes),
            keys: Keys::new(DEFAULT_PREFIX),
        })
    }

    /// A store on the app's own client (for the feed's pub/sub connection) and connection.
    pub fn from_client(client: ::redis::Client, manager: ConnectionManager) -> Self {
        Self {
            connection: Connection::Server(manager),
            pubsub: PubSubNodes::new(vec![client]),
            keys: Keys::new(DEFAULT_PREFIX),
        }
    }

    /// Sets the prefix of every key and of the channel (default `tower-api-auth`): instances
    /// that share sessions and revocations use the same one, and unrelated apps on one server
    /// different ones.
    #[must_use]
    pub fn prefix(mut self, prefix: &str) -> Self {
        self.keys = Keys::new(prefix);
        self
    }

    /// Whether the server answers a read of the revocations' slot, the one the feed depends on
    /// (on a cluster, `PING` would ask whichever node the connection picks, which may answer
    /// while that slot's node is down), bounded like every call of the store. For readiness
    /// checks: `Readiness::new().check("redis", move || { let redis = redis.clone(); async move {
    /// redis.ping().await.map_err(|_| "Redis did not answer".to_owned()) } })` (log the error
    /// itself, rather than show it to the endpoint's callers).
    pub async fn ping(&self) -> Result<(), StoreError> {
        let mut connection = self.connection();
        error::call(
            "ping",
            ::redis::cmd("EXISTS")
                .arg(self.keys.key_epoch())
                .query_async::<i64>(&mut connection),
        )
        .await
        .map(drop)
    }

    fn connection(&self) -> Connection {
        self.connection.clone()
    }
}
