//! The fleet on Redis (sessions, revocations and the feed) with API keys in PostgreSQL: two
//! instances on connections of their own. A logout on A is refused on B within a second, 64
//! refreshes of one token spread over both give one winner (on one server and on the cluster), and
//! Redis going down is 503 for refreshes and logouts until it is back, then everything works again
//! without a restart.

use std::time::Duration;
use tower_api_auth::issuer::Login;

use serde_json::json;
use tower_api_auth_redis_store::RedisStore;
use tower_api_auth_tests::fleet::{
    Setup, key, key_revocation_propagation, lifetimes_hold, logout_propagation, pair, refresh_race,
    refreshes_after_the_outage, wait_until,
};
use tower_api_auth_tests::servers::{Proxy, redis_prefix, redis_url};

use crate::{cluster, postgres, redis};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_feed_with_keys_in_postgres_propagates_within_a_second() {
    let prefix = redis_prefix();
    let keys = postgres().await;
    let (ra, rb) = (redis(&prefix).await, redis(&prefix).await);
    let (a, b) = pair((ra.clone(), rb), ra, keys).await;
    let logout = logout_propagation(&a, &b).await;
    let key = key_revocation_propagation(&a, &b, None).await;
    println!("Redis pub/sub: logout worst of 20 {logout:?}, key revocation {key:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_feed_with_keys_in_postgres_propagates_within_a_second() {
    let prefix = redis_prefix();
    let keys = postgres().await;
    let (ra, rb) = (cluster(&prefix).await, cluster(&prefix).await);
    let (a, b) = pair((ra.clone(), rb), ra, keys).await;
    let logout = logout_propagation(&a, &b).await;
    let key = key_revocation_propagation(&a, &b, None).await;
    println!("Redis Cluster pub/sub: logout worst of 20 {logout:?}, key revocation {key:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_four_refreshes_over_two_instances_on_the_cluster() {
    let prefix = redis_prefix();
    let keys = postgres().await;
    let (ra, rb) = (cluster(&prefix).await, cluster(&prefix).await);
    let (a, b) = pair((ra.clone(), rb), ra, keys).await;
    refresh_race(&a, &b).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_four_refreshes_over_two_instances_on_redis() {
    let prefix = redis_prefix();
    let keys = postgres().await;
    let (ra, rb) = (redis(&prefix).await, redis(&prefix).await);
    let (a, b) = pair((ra.clone(), rb), ra, keys).await;
    refresh_race(&a, &b).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_is_503_for_refreshes_then_recovers_and_keeps_its_sessions() {
    let prefix = redis_prefix();
    let proxy = Proxy::start("127.0.0.1:6379").await;
    let redis = RedisStore::connect(&proxy.url_through(&redis_url()))
        .await
        .unwrap()
        .prefix(&prefix);
    let keys = postgres().await;
    let a = Setup::default().start(redis.clone(), redis, keys).await;
    let api_key = key(&a, "read").await;
    let pair = a.tokens.login(Login::api_key(&api_key)).await.unwrap();
    let refresh_token = pair.refresh_token.unwrap();

    proxy.cut();
    a.server
        .post_json(
            "/v1/auth/refresh",
            &json!({ "refresh_token": refresh_token }),
        )
        .await
        .assert_error(503, "auth_unavailable");
    a.server
        .post("/v1/auth/logout")
        .bearer(&pair.access_token)
        .send()
        .await
        .assert_error(503, "auth_unavailable");

    proxy.restore();
    // New sessions start again once Redis answers (the API-key exchange writes a session).
    let exchange = json!({ "api_key": api_key });
    let back = wait_until(
        Duration::from_secs(15),
        || a.server.post_json("/v1/auth/token", &exchange),
        |reply| reply.status == 200,
    )
    .await;
    println!("Redis: sessions are written again {back:?} after it came back");
    refreshes_after_the_outage(&a, &refresh_token, &pair.access_token).await;
}

#[tokio::test]
async fn session_lifetimes_hold_on_redis() {
    lifetimes_hold(redis(&redis_prefix()).await).await;
}

#[tokio::test]
async fn sessions_are_bounded_on_redis() {
    tower_api_auth_tests::fleet::sessions_are_bounded(redis(&redis_prefix()).await).await;
}

#[tokio::test]
async fn session_lifetimes_hold_on_the_cluster() {
    lifetimes_hold(cluster(&redis_prefix()).await).await;
}

#[tokio::test]
async fn sessions_are_bounded_on_the_cluster() {
    tower_api_auth_tests::fleet::sessions_are_bounded(cluster(&redis_prefix()).await).await;
}

/// The authorization server as a fleet over HTTP, on connections of their own to one Redis: a
/// code issued on A is redeemed once on B, a replay on A revokes what it issued on B.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_authorization_server_shares_codes_and_sessions_through_redis() {
    let prefix = redis_prefix();
    let (ra, rb) = (redis(&prefix).await, redis(&prefix).await);
    tower_api_auth_tests::oauth::shared_through(ra, rb).await;
}
