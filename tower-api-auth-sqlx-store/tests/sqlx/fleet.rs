//! The fleet on PostgreSQL and SQLite: two instances (each with its own memory, as two processes)
//! share one database. A logout on A is refused on B within a second, a key revoked through A's
//! admin API is refused on B within a second although B had it cached, 64 refreshes of one token
//! spread over both give one winner and end the session, and a database that goes down is 503
//! until it is back, then everything works again without a restart and no session is lost.

use std::time::Duration;
use tower_api_auth::issuer::Login;

use serde_json::json;
use tower_api_auth::api_key::ApiKeyHasher;
use tower_api_auth::issuer::MemoryClientStore;
use tower_api_auth::scope::Scopes;
use tower_api_auth_tests::fleet::{
    Setup, TENANT, key, key_revocation_propagation, lifetimes_hold, logout_propagation, pair,
    refresh_race, refreshes_after_the_outage, wait_until,
};
use tower_api_auth_tests::servers::{Proxy, postgres_database};

use crate::{postgres, sqlite};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_fleet_propagates_logouts_and_key_revocations_within_a_second() {
    let store = postgres().await;
    // Each instance listens on a connection of its own (the pool is shared here, the listener is not).
    let (a, b) = pair((store.clone(), store.clone()), store.clone(), store).await;
    let logout = logout_propagation(&a, &b).await;
    let key = key_revocation_propagation(&a, &b, None).await;
    println!("PostgreSQL LISTEN/NOTIFY: logout worst of 20 {logout:?}, key revocation {key:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_fleet_on_one_file_propagates_within_a_second() {
    let store = sqlite().await;
    let (a, b) = pair((store.clone(), store.clone()), store.clone(), store).await;
    let logout = logout_propagation(&a, &b).await;
    let key = key_revocation_propagation(&a, &b, None).await;
    println!("SQLite polling: logout worst of 20 {logout:?}, key revocation {key:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_four_refreshes_over_two_instances_on_postgres() {
    let store = postgres().await;
    let (a, b) = pair((store.clone(), store.clone()), store.clone(), store).await;
    refresh_race(&a, &b).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_four_refreshes_over_two_instances_on_sqlite() {
    let store = sqlite().await;
    let (a, b) = pair((store.clone(), store.clone()), store.clone(), store).await;
    refresh_race(&a, &b).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_down_is_503_then_recovers_without_a_restart_and_keeps_its_sessions() {
    let database = postgres_database().await;
    let proxy = Proxy::start("127.0.0.1:5432").await;
    let store = tower_api_auth_sqlx_store::PgStore::connect(&proxy.url_through(&database))
        .await
        .unwrap();
    store.migrate().await.unwrap();
    let setup = Setup {
        key_cache_ttl: Duration::ZERO,
        ..Setup::default()
    };
    let clients = MemoryClientStore::new(ApiKeyHasher::default());
    let secret = clients.register("client_1", Scopes::parse("read").unwrap(), vec![]);
    let a = setup
        .start_with_clients(store.clone(), store.clone(), store, clients)
        .await;
    let api_key = key(&a, "read").await;
    let pair = a.tokens.login(Login::api_key(&api_key)).await.unwrap();
    let refresh_token = pair.refresh_token.unwrap();
    // A token that depends on no key: the client's own.
    let client_token = a
        .tokens
        .client_credentials("client_1", &secret, None)
        .await
        .unwrap()
        .access_token;

    proxy.cut();
    // API keys are looked up in the database (no cache here): 503, never 401, never a pass.
    a.server
        .get("/me")
        .api_key(&api_key, TENANT)
        .send()
        .await
        .assert_error(503, "auth_unavailable");
    a.server
        .post_json(
            "/v1/auth/refresh",
            &json!({ "refresh_token": refresh_token }),
        )
        .await
        .assert_error(503, "auth_unavailable");
    // A token exchanged for the key answers as the key does: it is only as good as the key.
    a.server
        .get("/me")
        .bearer(&pair.access_token)
        .send()
        .await
        .assert_error(503, "auth_unavailable");
    // Other access tokens keep working on what the instance knows, within the staleness bound.
    assert_eq!(
        a.server
            .get("/me")
            .bearer(&client_token)
            .send()
            .await
            .status,
        200
    );
    // Past the bound (counted from the last good sync) they are 503 until the feed resyncs.
    setup.clock.advance(Duration::from_secs(31));
    a.server
        .get("/me")
        .bearer(&client_token)
        .send()
        .await
        .assert_error(503, "auth_unavailable");

    proxy.restore();
    wait_until(
        Duration::from_secs(10),
        || a.server.get("/me").api_key(&api_key, TENANT).send(),
        |reply| reply.status == 200,
    )
    .await;
    refreshes_after_the_outage(&a, &refresh_token, &pair.access_token).await;
    let reconnecting = std::time::Instant::now();
    while !a.feed.is_up() {
        assert!(
            reconnecting.elapsed() < Duration::from_secs(10),
            "the feed reconnects by itself"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn session_lifetimes_hold_on_postgres_and_sqlite() {
    lifetimes_hold(postgres().await).await;
    lifetimes_hold(sqlite().await).await;
}

#[tokio::test]
async fn sessions_are_bounded_on_postgres_and_sqlite() {
    tower_api_auth_tests::fleet::sessions_are_bounded(postgres().await).await;
    tower_api_auth_tests::fleet::sessions_are_bounded(sqlite().await).await;
}

/// The keys are read from the database itself (no cache): whichever call revokes a key there,
/// the tokens it was exchanged for are refused on the next request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exchanged_tokens_follow_their_key_on_postgres_and_sqlite() {
    let setup = Setup {
        key_cache_ttl: Duration::ZERO,
        ..Setup::default()
    };
    let store = postgres().await;
    let a = setup
        .start(store.clone(), store.clone(), store.clone())
        .await;
    tower_api_auth_tests::fleet::exchanged_tokens_follow_their_key(&a, &store).await;
    let store = sqlite().await;
    let a = setup
        .start(store.clone(), store.clone(), store.clone())
        .await;
    tower_api_auth_tests::fleet::exchanged_tokens_follow_their_key(&a, &store).await;
}

/// The authorization server as a fleet over HTTP: a code issued on A is redeemed once on B, a
/// replay on A revokes what it issued on B, refresh tokens move between instances.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_authorization_server_shares_codes_and_sessions_through_postgres() {
    let store = postgres().await;
    tower_api_auth_tests::oauth::shared_through(store.clone(), store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_authorization_server_shares_codes_and_sessions_through_sqlite() {
    let store = sqlite().await;
    tower_api_auth_tests::oauth::shared_through(store.clone(), store).await;
}
