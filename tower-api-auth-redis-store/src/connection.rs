//! What a store's calls go over: one server's connection or a cluster's, behind one type, and
//! the nodes the revocation feed subscribes at.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use ::redis::aio::{ConnectionLike, ConnectionManager, PubSub};
use ::redis::cluster_async::ClusterConnection;
use ::redis::{Client, Cmd, Pipeline, RedisFuture, Value};

use crate::error::{CONNECT_TIMEOUT, within};
use tower_api_auth::store::StoreError;

/// One multiplexed connection to a single server (reconnecting by itself), or a cluster
/// connection (one to each primary, routing each command by its key's slot and following
/// `MOVED`/`ASK`). Every script and command of the store runs on either: each touches the keys
/// of one slot.
#[derive(Clone)]
pub(crate) enum Connection {
    Server(ConnectionManager),
    Cluster(ClusterConnection),
}

impl ConnectionLike for Connection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Server(connection) => connection.req_packed_command(cmd),
            Self::Cluster(connection) => connection.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Server(connection) => connection.req_packed_commands(pipeline, offset, count),
            Self::Cluster(connection) => connection.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Server(connection) => connection.get_db(),
            Self::Cluster(connection) => connection.get_db(),
        }
    }
}

/// The nodes a pub/sub connection may be opened at: the server, or the cluster's nodes as
/// given. On a cluster any node will do: `PUBLISH` is broadcast to every node over the cluster
/// bus, so a subscriber at one node hears what is published at any.
///
/// Why not the cluster connection's own RESP3 subscriptions: they are resubscribed silently
/// after a reconnection, and what was published in between is lost without a word — the
/// revocation feed must hear of a lost connection, to resync. A plain subscription at one node
/// ends when that node's connection does; the feed then subscribes again (at the next node that
/// answers, should that one be down) and resyncs.
pub(crate) struct PubSubNodes {
    nodes: Vec<Client>,
    /// The node to try first: the one that last answered.
    next: AtomicUsize,
}

impl PubSubNodes {
    pub(crate) fn new(nodes: Vec<Client>) -> Arc<Self> {
        debug_assert!(!nodes.is_empty());
        Arc::new(Self {
            nodes,
            next: AtomicUsize::new(0),
        })
    }

    /// The nodes' addresses (never their URLs, which may hold a password).
    pub(crate) fn addrs(&self) -> impl fmt::Debug + '_ {
        DebugAddrs(&self.nodes)
    }

    /// A pub/sub connection subscribed to `channel`, at the first node that answers (each
    /// within the connection timeout), starting with the one that answered last.
    pub(crate) async fn subscribe(&self, channel: &str) -> Result<PubSub, StoreError> {
        let first = self.next.load(Ordering::Relaxed);
        let mut failure = None;
        for n in 0..self.nodes.len() {
            let at = (first + n) % self.nodes.len();
            match subscribe_at(&self.nodes[at], channel).await {
                Ok(pubsub) => {
                    self.next.store(at, Ordering::Relaxed);
                    return Ok(pubsub);
                }
                Err(error) => failure = Some(error),
            }
        }
        Err(failure.expect("at least one node"))
    }
}

async fn subscribe_at(node: &Client, channel: &str) -> Result<PubSub, StoreError> {
    let mut pubsub = within("subscribe", CONNECT_TIMEOUT, node.get_async_pubsub()).await?;
    within("subscribe", CONNECT_TIMEOUT, pubsub.subscribe(channel)).await?;
    Ok(pubsub)
}

struct DebugAddrs<'a>(&'a [Client]);

impl fmt::Debug for DebugAddrs<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut list = f.debug_list();
        for node in self.0 {
            list.entry(&format_args!("{}", node.get_connection_info().addr()));
        }
        list.finish()
    }
}
