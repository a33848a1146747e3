//! What a Redis Cluster changes (the contract runs on it too, in `main.rs`): a subject's
//! sessions live in slots of their own and a login beyond the bound still ends the oldest, the
//! feed's events reach subscribers at every node whichever node holds the revocations, and
//! connecting fails cleanly and hides passwords. The cluster must run at
//! `TEST_REDIS_CLUSTER_URLS` (default `redis://127.0.0.1:7001` to `7003`, which `.ci/run`
//! starts): a missing cluster fails these tests.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use tower_api_auth::scope::Scopes;
use tower_api_auth::store::{FeedEvent, FeedStore, FeedSubscription, RefreshStore, Session};
use tower_api_auth_redis_store::client::{self, cluster::ClusterClient};
use tower_api_auth_redis_store::{RedisStore, RedisSubscription};
use tower_api_auth_tests::lifecycle::nth_hash;
use tower_api_auth_tests::now;
use tower_api_auth_tests::servers::{redis_cluster_urls, redis_prefix};

use crate::cluster;

/// How long a call may take to fail or an event to arrive.
const PROMPT: Duration = Duration::from_secs(6);

/// The slot of `key`, as the cluster computes it.
async fn slot(key: &str) -> i64 {
    let mut raw = ClusterClient::new(redis_cluster_urls())
        .unwrap()
        .get_async_connection()
        .await
        .expect("the Redis Cluster is needed by this test");
    client::cmd("CLUSTER")
        .arg("KEYSLOT")
        .arg(key)
        .query_async(&mut raw)
        .await
        .unwrap()
}

/// Before the fix, a login beyond the bound checked which of the subject's sessions were alive
/// in one pipeline of their keys: on a cluster those are in different slots, and the login
/// failed with a cross-slot error.
#[tokio::test]
async fn a_login_beyond_the_bound_ends_the_oldest_sessions_across_slots() {
    let prefix = redis_prefix();
    let store = cluster(&prefix).await;
    let t = now();
    let session = |n: u64| {
        Session::new(
            format!("ses_{n}"),
            "user_1",
            Scopes::parse("read").unwrap(),
            t + n,
            t + 3_600,
        )
    };
    let mut slots = HashSet::new();
    for n in 0..4 {
        slots.insert(slot(&format!("{prefix}:{{s:ses_{n}}}")).await);
    }
    assert!(slots.len() > 1, "the sessions' keys are in several slots");

    for n in 0..4 {
        assert!(
            store
                .start(session(n), nth_hash(1), 4)
                .await
                .unwrap()
                .is_empty()
        );
    }
    let ended = store.start(session(4), nth_hash(1), 2).await.unwrap();
    let mut ended: Vec<_> = ended.into_iter().map(|s| s.id.to_string()).collect();
    ended.sort();
    assert_eq!(ended, ["ses_0", "ses_1", "ses_2"]);
    for n in 0..3 {
        assert!(store.load(&format!("ses_{n}")).await.unwrap().is_none());
    }
    for n in 3..5 {
        assert!(store.load(&format!("ses_{n}")).await.unwrap().is_some());
    }
}

/// One subscription at each node of the cluster (a store subscribes at the first node it is
/// given that answers).
async fn subscribers(prefix: &str) -> Vec<RedisSubscription> {
    let nodes = redis_cluster_urls();
    let mut subscriptions = Vec::new();
    for first in 0..nodes.len() {
        let rotated: Vec<_> = nodes.iter().cycle().skip(first).take(nodes.len()).collect();
        let store = RedisStore::connect_cluster(rotated)
            .await
            .unwrap()
            .prefix(prefix);
        subscriptions.push(store.subscribe().await.unwrap());
    }
    subscriptions
}

/// Three instances subscribed at three different nodes all hear one revocation, whichever
/// node holds its sorted set.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_node_hears_the_feed() {
    let prefix = redis_prefix();
    let mut subscriptions = subscribers(&prefix).await;
    let publisher = cluster(&prefix).await;
    let event = FeedEvent::session("ses_gone", now() + 60);
    publisher.publish(&event).await.unwrap();
    for (n, subscription) in subscriptions.iter_mut().enumerate() {
        let heard = tokio::time::timeout(PROMPT, subscription.next())
            .await
            .unwrap_or_else(|_| panic!("the subscriber at node {n} heard nothing"))
            .unwrap();
        assert_eq!(heard, event, "node {n}");
    }
    assert_eq!(publisher.snapshot(now()).await.unwrap(), [event]);
}

/// Revocations and key events alternate, and subscribers at every node hear them in publishing
/// order. Before the fix, a key event was a plain `PUBLISH`, sent to any node: the broadcasts of
/// two nodes reach a third over two links, and overtook each other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribers_at_every_node_hear_the_feed_in_order() {
    let prefix = redis_prefix();
    let mut subscriptions = subscribers(&prefix).await;
    let publisher = cluster(&prefix).await;
    let published: Vec<FeedEvent> = (0..100)
        .map(|n| {
            if n % 2 == 0 {
                FeedEvent::token(format!("jti_{n}"), now() + 60)
            } else {
                FeedEvent::key(format!("key{n}"))
            }
        })
        .collect();
    for event in &published {
        publisher.publish(event).await.unwrap();
    }
    for (n, subscription) in subscriptions.iter_mut().enumerate() {
        for event in &published {
            let heard = tokio::time::timeout(PROMPT, subscription.next())
                .await
                .unwrap_or_else(|_| panic!("the subscriber at node {n} heard nothing"))
                .unwrap();
            assert_eq!(&heard, event, "node {n}: in publishing order");
        }
    }
}

#[tokio::test]
async fn connecting_to_no_cluster_fails_promptly_and_hides_passwords() {
    assert!(
        RedisStore::connect_cluster(Vec::<String>::new())
            .await
            .is_err()
    );
    assert!(RedisStore::connect_cluster(["not a url"]).await.is_err());
    let started = Instant::now();
    let error = RedisStore::connect_cluster(["redis://:hunter2-secret@127.0.0.1:1"])
        .await
        .unwrap_err();
    assert!(started.elapsed() < PROMPT, "took {:?}", started.elapsed());
    assert!(
        !format!("{error} {error:?}").contains("hunter2"),
        "{error:?}"
    );

    let store = cluster("debug-test").await;
    let debug = format!("{store:?}");
    assert!(
        debug.contains("cluster") && debug.contains("7001") && debug.contains("debug-test"),
        "{debug}"
    );
}
