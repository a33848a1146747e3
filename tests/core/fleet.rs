//! Several instances as one service, on the in-memory stores and feed: a logout or a revoked key
//! on one instance is refused on the others within a second, a feed that is down is tolerated
//! for its staleness bound and then answered with 503, refreshes race correctly across
//! instances, and the admin API manages keys. The store crates' `fleet` tests run the same against
//! PostgreSQL, SQLite and Redis.
#![cfg(all(
    feature = "fleet",
    feature = "issuer",
    feature = "axum",
    any(feature = "aws-lc-rs", feature = "rust-crypto")
))]

use tower_api_auth::issuer::Login;
use tower_api_auth_tests as common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::watch;
use tower_api_auth::KeyProvider;
use tower_api_auth::api_key::KeyRecord;
use tower_api_auth::api_key::{CachedKeyProvider, KeySpec, KeyUsage};
use tower_api_auth::fleet::MemoryFeedStore;
use tower_api_auth::fleet::RevocationFeed;
use tower_api_auth::issuer::MemoryRefreshStore;
use tower_api_auth::store::KeyStore;
use tower_api_auth::store::Lookup;
use tower_api_auth::store::StoreError;
use tower_api_auth::store::{FeedEvent, FeedStore, FeedSubscription};
use tower_api_auth::{MemoryKeyStore, Tenant};

use common::fleet::{
    Instance, Setup, TENANT, key, key_revocation_propagation, logout_propagation, pair,
    refresh_race, wait_until,
};

fn tenant() -> Tenant {
    Tenant::new(TENANT).unwrap()
}

/// A user's key on `instance`, for the API-key exchange.
async fn user_key(instance: &Instance) -> String {
    key(instance, "read").await
}

/// An access token of a new session, exchanged for `key` on `instance`.
async fn access_token(instance: &Instance, key: &str) -> String {
    let pair = instance.tokens.login(Login::api_key(key)).await;
    pair.unwrap().access_token
}

/// The in-memory stores and feed, shared by the instances of one test.
fn memory() -> (MemoryFeedStore, Arc<MemoryRefreshStore>, MemoryKeyStore) {
    (
        MemoryFeedStore::new(),
        Arc::new(MemoryRefreshStore::new()),
        MemoryKeyStore::new(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_logout_on_one_instance_is_refused_on_the_other_within_a_second() {
    let (feed, refresh, keys) = memory();
    let (a, b) = pair((feed.clone(), feed), refresh, keys).await;
    let worst = logout_propagation(&a, &b).await;
    println!("logout propagation A→B over 20 logouts: worst {worst:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_revoked_through_the_admin_api_is_refused_everywhere_even_while_cached() {
    let (feed, refresh, keys) = memory();
    let (a, b) = pair((feed.clone(), feed.clone()), refresh.clone(), keys.clone()).await;
    // A control instance whose key cache does not follow the feed: it shows the answer was
    // cached, so that only the feed can have made B refuse the key.
    let control = Setup {
        follow: false,
        ..Setup::default()
    }
    .start(feed, refresh, keys)
    .await;
    let delay = key_revocation_propagation(&a, &b, Some(&control)).await;
    println!("key revocation propagation A→B: {delay:?}");
}

/// A feed backend that can be switched off: while it is, every call fails and live
/// subscriptions end, as when the store behind a real feed goes down. It can also go silent
/// (subscriptions deliver nothing and report nothing, as a half-open connection does) or hang
/// (snapshots never answer, as a partitioned server does), or lose the next key event on the
/// way to its subscribers (an undecodable payload, skipped). Written outside the crate, as an
/// app's own backend would be.
#[derive(Clone)]
struct Switchable {
    inner: MemoryFeedStore,
    up: Arc<AtomicBool>,
    silent: Arc<AtomicBool>,
    hanging: Arc<AtomicBool>,
    lose_next_key_event: Arc<AtomicBool>,
    subscribes: Arc<AtomicUsize>,
    cuts: watch::Sender<u64>,
}

impl Switchable {
    fn new(inner: MemoryFeedStore) -> Self {
        Self {
            inner,
            up: Arc::new(AtomicBool::new(true)),
            silent: Arc::new(AtomicBool::new(false)),
            hanging: Arc::new(AtomicBool::new(false)),
            lose_next_key_event: Arc::new(AtomicBool::new(false)),
            subscribes: Arc::new(AtomicUsize::new(0)),
            cuts: watch::channel(0).0,
        }
    }

    fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        self.cuts.send_modify(|n| *n += 1);
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }

    fn check(&self) -> Result<(), StoreError> {
        if self.up.load(Ordering::SeqCst) {
            Ok(())
        } else {
            Err(StoreError::new("feed store down"))
        }
    }
}

struct SwitchableSubscription {
    inner: <MemoryFeedStore as FeedStore>::Subscription,
    cut: watch::Receiver<u64>,
    silent: Arc<AtomicBool>,
    lose_next_key_event: Arc<AtomicBool>,
}

impl FeedSubscription for SwitchableSubscription {
    async fn next(&mut self) -> Result<FeedEvent, StoreError> {
        loop {
            let event = tokio::select! {
                event = self.inner.next() => event?,
                _ = self.cut.changed() => return Err(StoreError::new("feed connection lost")),
            };
            let lost = matches!(event, FeedEvent::Key { .. })
                && self.lose_next_key_event.swap(false, Ordering::SeqCst);
            if !lost && !self.silent.load(Ordering::SeqCst) {
                return Ok(event);
            }
        }
    }
}

impl FeedStore for Switchable {
    type Subscription = SwitchableSubscription;

    async fn publish(&self, event: &FeedEvent) -> Result<(), StoreError> {
        self.check()?;
        self.inner.publish(event).await
    }

    async fn subscribe(&self) -> Result<SwitchableSubscription, StoreError> {
        self.check()?;
        self.subscribes.fetch_add(1, Ordering::SeqCst);
        let mut cut = self.cuts.subscribe();
        cut.mark_unchanged();
        Ok(SwitchableSubscription {
            inner: self.inner.subscribe().await?,
            cut,
            silent: self.silent.clone(),
            lose_next_key_event: self.lose_next_key_event.clone(),
        })
    }

    async fn snapshot(&self, now: u64) -> Result<Vec<FeedEvent>, StoreError> {
        self.check()?;
        if self.hanging.load(Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
        self.inner.snapshot(now).await
    }

    async fn key_epoch(&self) -> Result<Option<u64>, StoreError> {
        self.check()?;
        self.inner.key_epoch().await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_feed_that_is_down_is_tolerated_for_its_bound_then_answered_with_503_until_it_resyncs() {
    let feed = Switchable::new(MemoryFeedStore::new());
    let (_, refresh, keys) = memory();
    let setup = Setup {
        staleness: Duration::from_secs(30),
        ..Setup::default()
    };
    let a = setup.start(feed.clone(), refresh, keys.clone()).await;
    let key = user_key(&a).await;
    let token = access_token(&a, &key).await;
    assert_eq!(a.server.get("/me").bearer(&token).send().await.status, 200);
    // A second key, answered from the instance's cache from now on.
    let cached = user_key(&a).await;
    let cached_id = cached.split('_').nth(2).unwrap().to_owned();
    assert_eq!(
        a.server
            .get("/me")
            .api_key(&cached, TENANT)
            .send()
            .await
            .status,
        200
    );

    feed.cut();
    let noticed = std::time::Instant::now();
    while a.feed.is_up() {
        assert!(
            noticed.elapsed() < Duration::from_secs(5),
            "the feed notices the outage"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // The cached key is revoked in the store while no signal can arrive.
    assert!(KeyStore::revoke(&keys, &cached_id).await.unwrap());
    // Within the bound the instance serves on what it knows: the documented trade-off.
    setup.clock.advance(Duration::from_secs(29));
    assert_eq!(a.server.get("/me").bearer(&token).send().await.status, 200);
    assert_eq!(
        a.server
            .get("/me")
            .api_key(&cached, TENANT)
            .send()
            .await
            .status,
        200,
        "still cached"
    );
    // A logout cannot reach the fleet: it fails with 503 rather than pretend.
    a.server
        .post("/v1/auth/logout")
        .bearer(&token)
        .send()
        .await
        .assert_error(503, "auth_unavailable");
    // Past the bound every token check is 503, never a pass and never a 401, and the key
    // cache no longer answers from memory: the store's truth counts.
    setup.clock.advance(Duration::from_secs(2));
    a.server
        .get("/me")
        .api_key(&cached, TENANT)
        .send()
        .await
        .assert_error(401, "api_key_revoked");
    a.server
        .get("/me")
        .bearer(&token)
        .send()
        .await
        .assert_error(503, "auth_unavailable");

    feed.restore();
    let recovered = wait_until(
        Duration::from_secs(10),
        || a.server.get("/me").bearer(&token).send(),
        |reply| reply.status == 200,
    )
    .await;
    println!("recovered {recovered:?} after the feed came back");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_four_concurrent_refreshes_over_two_instances_give_one_success_and_end_the_session() {
    let (feed, refresh, keys) = memory();
    let (a, b) = pair((feed.clone(), feed), refresh, keys).await;
    refresh_race(&a, &b).await;
}

#[tokio::test]
async fn last_used_at_is_written_in_batches_not_per_request() {
    let store = MemoryKeyStore::new();
    let manager = tower_api_auth::api_key::KeyManager::new(store.clone());
    let created = manager
        .create(KeySpec::default().tenants([tenant()]))
        .await
        .unwrap();
    let usage = Arc::new(KeyUsage::new(store.clone()));
    let auth = tower_api_auth::AuthLayer::builder()
        .api_keys(tower_api_auth::api_key::ApiKeys::new(store.clone()).usage(usage.clone()))
        .build()
        .unwrap();
    let app = axum::Router::new()
        .route("/me", axum::routing::get(|| async { "ok" }))
        .layer(auth);
    let server = common::serve(app).await;
    for _ in 0..50 {
        assert_eq!(
            server
                .get("/me")
                .api_key(&created.key, TENANT)
                .send()
                .await
                .status,
            200
        );
    }
    let key_id = &created.info.key_id;
    assert_eq!(
        store.get(key_id).unwrap().last_used_at,
        None,
        "no write per request"
    );
    assert_eq!(usage.flush().await.unwrap(), 1, "one batch, one key");
    let used = store.get(key_id).unwrap().last_used_at.expect("recorded");
    assert!(used >= common::now() - 5);
    assert_eq!(usage.flush().await.unwrap(), 0, "nothing new");
}

/// Waits until `feed` reports itself up (`true`) or down (`false`).
async fn until_up(feed: &tower_api_auth::fleet::RevocationFeed, up: bool, limit: Duration) {
    let start = std::time::Instant::now();
    while feed.is_up() != up {
        assert!(
            start.elapsed() < limit,
            "the feed was not {} within {limit:?}",
            if up { "up" } else { "down" }
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscription_that_goes_silent_is_found_out_and_replaced() {
    let store = MemoryFeedStore::new();
    let feed = Switchable::new(store.clone());
    let (_, refresh, keys) = memory();
    // Resyncs every 500 ms: a silent subscription is found within two of them.
    let a = Setup::default()
        .start(feed.clone(), refresh.clone(), keys.clone())
        .await;
    let b = Setup::default().start(store, refresh, keys).await;
    let key = user_key(&b).await;
    assert_eq!(
        a.server
            .get("/me")
            .api_key(&key, TENANT)
            .send()
            .await
            .status,
        200
    );

    feed.silent.store(true, Ordering::SeqCst);
    until_up(&a.feed, false, Duration::from_secs(3)).await;
    // A key revoked while A heard nothing: A's cache drops it when the feed comes back.
    b.keys.revoke(key.split('_').nth(2).unwrap()).await.unwrap();
    feed.silent.store(false, Ordering::SeqCst);
    until_up(&a.feed, true, Duration::from_secs(5)).await;
    a.server
        .get("/me")
        .api_key(&key, TENANT)
        .send()
        .await
        .assert_error(401, "api_key_revoked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_event_lost_on_a_live_subscription_is_repaired_by_the_next_resync() {
    let store = MemoryFeedStore::new();
    let feed = Switchable::new(store.clone());
    let (_, refresh, keys) = memory();
    // Resyncs every 500 ms; the key cache would hold the answer for an hour.
    let a = Setup::default()
        .start(feed.clone(), refresh.clone(), keys.clone())
        .await;
    let b = Setup::default().start(store, refresh, keys).await;
    let key = user_key(&b).await;
    let me = || a.server.get("/me").api_key(&key, TENANT).send();
    assert_eq!(me().await.status, 200, "A cached the key");
    let subscribes = feed.subscribes.load(Ordering::SeqCst);

    feed.lose_next_key_event.store(true, Ordering::SeqCst);
    b.keys.revoke(key.split('_').nth(2).unwrap()).await.unwrap();
    let start = std::time::Instant::now();
    while feed.lose_next_key_event.load(Ordering::SeqCst) {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "the key event never came"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // The store's key epoch moved while A heard nothing: its next resync drops the cached key.
    wait_until(Duration::from_secs(3), me, |reply| reply.status != 200).await;
    me().await.assert_error(401, "api_key_revoked");
    assert_eq!(
        feed.subscribes.load(Ordering::SeqCst),
        subscribes,
        "the subscription was never replaced: the repair came from the resync alone"
    );
}

/// Counts the lookups that reach the key store behind a cache.
struct CountingKeys {
    keys: MemoryKeyStore,
    lookups: Arc<AtomicUsize>,
}

impl KeyProvider for CountingKeys {
    fn lookup(&self, key_id: &str) -> Lookup<Option<Arc<KeyRecord>>> {
        self.lookups.fetch_add(1, Ordering::SeqCst);
        self.keys.lookup(key_id)
    }
}

#[tokio::test]
async fn resyncs_keep_the_key_cache_while_no_key_changed_and_drop_it_when_one_did() {
    let store = MemoryFeedStore::new();
    let feed = RevocationFeed::builder(store.clone())
        .resync_every(Duration::from_millis(10))
        .start();
    feed.synced().await;
    let keys = MemoryKeyStore::new();
    let key = tower_api_auth::api_key::KeyManager::new(keys.clone())
        .create(KeySpec::default().tenants([tenant()]))
        .await
        .unwrap();
    let lookups = Arc::new(AtomicUsize::new(0));
    let cache = CachedKeyProvider::new(CountingKeys {
        keys,
        lookups: lookups.clone(),
    })
    .follow(&feed);
    let look = || async { cache.lookup(&key.info.key_id).resolve().await.unwrap() };
    let resyncs = || async {
        // Each resync publishes a ping: five of them went by once five pings were heard.
        let mut subscription = store.subscribe().await.unwrap();
        for _ in 0..5 {
            while !matches!(subscription.next().await.unwrap(), FeedEvent::Ping { .. }) {}
        }
    };

    assert!(look().await.is_some());
    resyncs().await;
    assert!(look().await.is_some());
    assert_eq!(
        lookups.load(Ordering::SeqCst),
        1,
        "five resyncs, no key changed: still cached"
    );

    // A key event for another key, published by a process that does not follow the feed: the
    // live signal spares this key, the moved epoch then drops the whole cache once.
    store.publish(&FeedEvent::key("k_other")).await.unwrap();
    resyncs().await;
    assert!(look().await.is_some());
    assert_eq!(
        lookups.load(Ordering::SeqCst),
        2,
        "dropped once when the epoch moved"
    );
    resyncs().await;
    assert!(look().await.is_some());
    assert_eq!(lookups.load(Ordering::SeqCst), 2, "and kept again after");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_that_hangs_cannot_keep_an_instance_fresh_past_its_bound() {
    let feed = Switchable::new(MemoryFeedStore::new());
    let (_, refresh, keys) = memory();
    let setup = Setup::default();
    let a = setup.start(feed.clone(), refresh, keys).await;
    let key = user_key(&a).await;
    let token = access_token(&a, &key).await;

    // The next resync's snapshot never answers: the task is stuck, the feed still looks up.
    feed.hanging.store(true, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(600)).await;
    setup.clock.advance(Duration::from_secs(31));
    a.server
        .get("/me")
        .bearer(&token)
        .send()
        .await
        .assert_error(503, "auth_unavailable");
    // The stuck call times out, the feed reconnects and resyncs, the instance is fresh again.
    feed.hanging.store(false, Ordering::SeqCst);
    wait_until(
        Duration::from_secs(10),
        || a.server.get("/me").bearer(&token).send(),
        |reply| reply.status == 200,
    )
    .await;
}

/// The in-memory reference store holds a session's absolute lifetime and idle timeout through the
/// token service, as the store crates' tests hold theirs.
#[tokio::test]
async fn session_lifetimes_hold_on_the_memory_store() {
    common::fleet::lifetimes_hold(MemoryRefreshStore::new()).await;
}

/// The in-memory reference store keeps a subject's sessions within the bound through the token
/// service, as the store crates' tests hold theirs.
#[tokio::test]
async fn sessions_are_bounded_on_the_memory_store() {
    common::fleet::sessions_are_bounded(MemoryRefreshStore::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorization_codes_and_sessions_are_shared_by_the_instances() {
    use common::oauth;
    use tower_api_auth::issuer::MemoryCodeStore;
    let clock = tower_api_auth::clock::ManualClock::starting_now();
    let (feed, refresh, _) = memory();
    let codes = Arc::new(MemoryCodeStore::new());
    let a = oauth::start(
        &clock,
        common::lifecycle::hs256_issuer(),
        feed.clone(),
        refresh.clone(),
        codes.clone(),
    )
    .await;
    let b = oauth::start(
        &clock,
        common::lifecycle::hs256_issuer(),
        feed,
        refresh,
        codes,
    )
    .await;
    oauth::codes_are_shared(&a, &b).await;
}
