//! A Redis Cluster node that goes away and comes back: its clients' connections are killed and
//! it answers nothing for a few seconds (`CLIENT KILL` then `CLIENT PAUSE … ALL`, so that no
//! process is stopped and the cluster's layout stays as it is). Calls for keys of its slots fail
//! within the store's budget, calls for other nodes' keys go on, and once it answers again the
//! same store works without a restart.
//!
//! A binary of its own: pausing a node would stall the other cluster tests running beside it.
//! The cluster must run at `TEST_REDIS_CLUSTER_URLS` (`.ci/run` starts it).

use std::sync::Arc;
use std::time::{Duration, Instant};

use tower_api_auth::rate_limit::{KeyPart, LimitKey, Quota, RateLimitBackend};
use tower_api_auth_redis_store::{RedisStore, client};
use tower_api_auth_tests::servers::{redis_cluster_urls, redis_prefix};

/// How long a call may take to fail while its node is away (the store's budget is 4 s).
const PROMPT: Duration = Duration::from_secs(6);
/// How long the node answers nothing.
const PAUSE: Duration = Duration::from_secs(8);

async fn node(url: &str) -> client::aio::MultiplexedConnection {
    client::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .expect("the Redis Cluster is needed by this test")
}

/// Whether `node` holds `key`'s slot (it answers `MOVED` for the others).
async fn holds(node: &mut client::aio::MultiplexedConnection, key: &str) -> bool {
    client::cmd("EXISTS")
        .arg(key)
        .query_async::<bool>(node)
        .await
        .is_ok()
}

fn limit_key(name: &str) -> LimitKey {
    LimitKey::new("hourly", [KeyPart::Principal(Arc::from(name))])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_goes_away_fails_its_calls_promptly_and_is_used_again_when_back() {
    let nodes = redis_cluster_urls();
    let prefix = redis_prefix();
    let store = RedisStore::connect_cluster(&nodes)
        .await
        .expect("the Redis Cluster is needed by this test")
        .prefix(&prefix);
    let mut away = node(nodes.last().unwrap()).await;
    // One key of the node that goes away and one of another node.
    let (mut on_it, mut elsewhere) = (None, None);
    for n in 0.. {
        let key = limit_key(&format!("user_{n}"));
        let name = format!("{prefix}:{{rl:{key}}}");
        if holds(&mut away, &name).await {
            on_it.get_or_insert(key);
        } else {
            elsewhere.get_or_insert(key);
        }
        if on_it.is_some() && elsewhere.is_some() {
            break;
        }
    }
    let (on_it, elsewhere) = (on_it.unwrap(), elsewhere.unwrap());
    let quota = Quota::per_hour(100);
    let check = |key: &LimitKey| store.acquire(key, &quota, 1);
    assert_eq!(check(&on_it).resolve().await.unwrap().remaining(), 99);
    assert_eq!(check(&elsewhere).resolve().await.unwrap().remaining(), 99);

    let _killed: i64 = client::cmd("CLIENT")
        .arg(&["KILL", "TYPE", "normal", "SKIPME", "yes"])
        .query_async(&mut away)
        .await
        .unwrap();
    let () = client::cmd("CLIENT")
        .arg(&["PAUSE", &PAUSE.as_millis().to_string(), "ALL"])
        .query_async(&mut away)
        .await
        .unwrap();
    let paused = Instant::now();

    let started = Instant::now();
    assert!(
        check(&on_it).resolve().await.is_err(),
        "its node answers nothing"
    );
    assert!(started.elapsed() < PROMPT, "took {:?}", started.elapsed());
    // The other nodes go on. The first call after the failure may wait on the client's
    // refresh of the cluster's layout, which can ask the paused node and time out (seen once
    // in CI); within the same budget a call for another node's key succeeds.
    let started = Instant::now();
    let mut failures = 0;
    let other = loop {
        match check(&elsewhere).resolve().await {
            Ok(decision) => break decision,
            Err(error) if started.elapsed() < PROMPT => {
                failures += 1;
                println!("a call for another node's key failed while the node was away: {error}");
            }
            Err(error) => panic!("the other nodes do not go on: {error}"),
        }
    };
    assert!(failures <= 1, "{failures} calls for other nodes failed");
    // A call that timed out may still have been counted by its node.
    assert!(
        (98 - failures..=98).contains(&other.remaining()),
        "{} left",
        other.remaining()
    );

    tokio::time::sleep(PAUSE.saturating_sub(paused.elapsed())).await;
    let back = Instant::now();
    let decision = loop {
        match check(&on_it).resolve().await {
            Ok(decision) => break decision,
            Err(_) if back.elapsed() < Duration::from_secs(15) => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(error) => panic!("the node is back but the store is not: {error}"),
        }
    };
    println!(
        "the node's keys answer again {:?} after it is back",
        back.elapsed()
    );
    assert_eq!(decision.remaining(), 98, "its bucket survived");
}
