//! The Redis store against a real Redis: sessions (start, load, the rotation's compare-and-swap,
//! slots, end, key expiry), the revocation feed (publish to several instances, snapshots), an
//! outage played by a proxy, racing refreshes on two services, and that Redis never holds a
//! refresh token. Redis must run at `TEST_REDIS_URL` (default `redis://127.0.0.1:6379`): a missing
//! server fails these tests. Redis 7.0 or later: the expiry checks read `EXPIRETIME`.

use tower_api_auth::issuer::Login;
use tower_api_auth_tests as common;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tower_api_auth::clock::{Clock, ManualClock};
use tower_api_auth::fleet::RevocationFeed;
use tower_api_auth::issuer::TokenService;
use tower_api_auth::scope::Scopes;
use tower_api_auth::store::{FeedEvent, FeedStore, FeedSubscription};
use tower_api_auth::store::{
    Grace, RefreshStore, RefreshTokenHash, Rotation, SealedToken, Session,
};
use tower_api_auth::store::{RevocationCheck, RevocationStore};
use tower_api_auth_redis_store::client::{self, AsyncCommands as _};
use tower_api_auth_redis_store::{RedisStore, RedisSubscription};

use common::lifecycle::{ALICE, ALICE_PASSWORD, Users, hs256_issuer, nth_hash};
use common::now;
use common::servers::{Proxy, redis_prefix, redis_url};

/// How long a call may take to fail while Redis is cut off (the store's budget is 4 s).
const PROMPT: Duration = Duration::from_secs(6);
/// How long a reconnection may take after Redis is back.
const RECOVERY: Duration = Duration::from_secs(15);

/// A store on its own connection with a prefix no other test uses.
async fn store_at(url: &str, prefix: &str) -> RedisStore {
    RedisStore::connect(url)
        .await
        .unwrap_or_else(|e| panic!("Redis at {url} is needed by this test: {e}"))
        .prefix(prefix)
}

async fn store() -> (RedisStore, String) {
    let prefix = redis_prefix();
    (store_at(&redis_url(), &prefix).await, prefix)
}

/// A plain connection, to look at what the store wrote.
async fn raw() -> client::aio::MultiplexedConnection {
    client::Client::open(redis_url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .expect("Redis is needed by this test")
}

fn session(id: &str, created_at: u64, expires_at: u64) -> Session {
    Session::new(
        id,
        "user_1",
        Scopes::parse("read write").unwrap(),
        created_at,
        expires_at,
    )
}

/// Polls `check` until it holds or `within` passes.
async fn eventually<F: Future<Output = bool>>(within: Duration, mut check: impl FnMut() -> F) {
    let deadline = Instant::now() + within;
    while !check().await {
        assert!(Instant::now() < deadline, "not within {within:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn expire_time(raw: &mut client::aio::MultiplexedConnection, key: &str) -> i64 {
    client::cmd("EXPIRETIME")
        .arg(key)
        .query_async(raw)
        .await
        .unwrap()
}

#[tokio::test]
async fn sessions_start_load_rotate_and_end() {
    let (store, _) = store().await;
    let t = now();
    let s = session("ses_a", t, t + 3_600)
        .with_tenants([tower_api_auth::Tenant::new("tn_a").unwrap()])
        .with_idle_timeout(Some(600));
    assert_eq!(
        store.start(s.clone(), nth_hash(0), 100).await.unwrap(),
        Vec::<Session>::new()
    );

    let stored = store.load("ses_a").await.unwrap().expect("stored");
    assert_eq!(stored.session, s, "the session reads back whole");
    assert_eq!(
        (stored.generation, stored.current, stored.last_used),
        (0, nth_hash(0), t)
    );
    assert_eq!(stored.grace, None);
    assert_eq!(store.load("ses_unknown").await.unwrap(), None);

    let sealed = SealedToken::from_bytes(&[7; 43]).unwrap();
    let first = Rotation::new(0, nth_hash(0), nth_hash(1), t + 10)
        .with_grace(Some(Grace::new(sealed, t + 40)));
    assert!(store.rotate("ses_a", first.clone()).await.unwrap());
    let stored = store.load("ses_a").await.unwrap().unwrap();
    assert_eq!(
        (stored.generation, stored.current, stored.last_used),
        (1, nth_hash(1), t + 10)
    );
    assert_eq!(stored.grace, Some(Grace::new(sealed, t + 40)));

    assert!(
        !store.rotate("ses_a", first).await.unwrap(),
        "the same swap twice: the second loses"
    );
    assert!(
        !store
            .rotate("ses_a", Rotation::new(0, nth_hash(1), nth_hash(2), t + 11))
            .await
            .unwrap(),
        "a stale generation loses"
    );
    assert!(
        !store
            .rotate("ses_a", Rotation::new(1, nth_hash(0), nth_hash(2), t + 11))
            .await
            .unwrap(),
        "a wrong hash loses"
    );
    assert!(
        !store
            .rotate("ses_unknown", Rotation::new(0, nth_hash(0), nth_hash(1), t))
            .await
            .unwrap(),
        "an unknown session loses"
    );
    let stored = store.load("ses_a").await.unwrap().unwrap();
    assert_eq!((stored.generation, stored.current), (1, nth_hash(1)));

    assert!(
        store
            .rotate("ses_a", Rotation::new(1, nth_hash(1), nth_hash(2), t + 12))
            .await
            .unwrap()
    );
    let stored = store.load("ses_a").await.unwrap().unwrap();
    assert_eq!((stored.generation, stored.current), (2, nth_hash(2)));
    assert_eq!(
        stored.grace, None,
        "a rotation without grace drops the last one"
    );

    assert_eq!(store.end("ses_a").await.unwrap(), Some(s));
    assert_eq!(store.load("ses_a").await.unwrap(), None);
    assert_eq!(store.end("ses_a").await.unwrap(), None);
    assert!(
        !store
            .rotate("ses_a", Rotation::new(2, nth_hash(2), nth_hash(3), t + 13))
            .await
            .unwrap(),
        "an ended session does not rotate"
    );
    assert_eq!(
        store.purge(u64::MAX).await.unwrap(),
        0,
        "keys expire by themselves"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_rotations_have_one_winner() {
    let (store, _) = store().await;
    let t = now();
    store
        .start(session("ses_race", t, t + 3_600), nth_hash(0), 100)
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for n in 1..=32u8 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store
                .rotate(
                    "ses_race",
                    Rotation::new(0, nth_hash(0), nth_hash(n), t + 1),
                )
                .await
                .unwrap()
        }));
    }
    let mut winners = 0;
    for task in tasks {
        winners += usize::from(task.await.unwrap());
    }
    assert_eq!(winners, 1);
    assert_eq!(store.load("ses_race").await.unwrap().unwrap().generation, 1);
}

#[tokio::test]
async fn a_new_session_in_a_slot_ends_the_previous_one() {
    let (store, prefix) = store().await;
    let mut raw = raw().await;
    let t = now();
    let slot: Option<Arc<str>> = Some("user_1/laptop".into());
    let a = session("ses_1", t, t + 3_600).with_slot(slot.clone());
    let b = session("ses_2", t, t + 7_200).with_slot(slot.clone());
    let other = session("ses_3", t, t + 3_600).with_slot(Some("user_1/phone".into()));
    assert_eq!(
        store.start(a.clone(), nth_hash(1), 100).await.unwrap(),
        Vec::<Session>::new()
    );
    assert_eq!(
        store.start(other.clone(), nth_hash(3), 100).await.unwrap(),
        Vec::<Session>::new()
    );
    assert_eq!(
        store.start(b.clone(), nth_hash(2), 100).await.unwrap(),
        std::slice::from_ref(&a),
        "the replaced session is returned"
    );
    assert_eq!(store.load("ses_1").await.unwrap(), None, "and ended");
    assert!(store.load("ses_2").await.unwrap().is_some());
    assert!(
        store.load("ses_3").await.unwrap().is_some(),
        "other slots untouched"
    );
    let slot_key = format!("{prefix}:{{slot:user_1/laptop}}");
    assert_eq!(
        raw.get::<_, Option<String>>(&slot_key)
            .await
            .unwrap()
            .as_deref(),
        Some("ses_2")
    );
    assert_eq!(expire_time(&mut raw, &slot_key).await, (t + 7_200) as i64);

    // Ending the slot's session frees the slot.
    assert_eq!(store.end("ses_2").await.unwrap(), Some(b));
    assert!(!raw.exists::<_, bool>(&slot_key).await.unwrap());
    let c = session("ses_4", t, t + 3_600).with_slot(slot);
    assert_eq!(
        store.start(c, nth_hash(4), 100).await.unwrap(),
        Vec::<Session>::new()
    );
    // Ending a session that no longer owns its slot leaves the slot alone.
    assert_eq!(store.end("ses_1").await.unwrap(), None);
    assert_eq!(
        raw.get::<_, Option<String>>(&slot_key)
            .await
            .unwrap()
            .as_deref(),
        Some("ses_4")
    );
}

#[tokio::test]
async fn a_session_key_expires_at_its_end_or_idle_deadline() {
    let (store, prefix) = store().await;
    let mut raw = raw().await;
    let t = now();
    let key = |id: &str| format!("{prefix}:{{s:{id}}}");

    store
        .start(session("ses_abs", t, t + 1_000), nth_hash(0), 100)
        .await
        .unwrap();
    assert_eq!(
        expire_time(&mut raw, &key("ses_abs")).await,
        (t + 1_000) as i64
    );
    store
        .rotate(
            "ses_abs",
            Rotation::new(0, nth_hash(0), nth_hash(1), t + 500),
        )
        .await
        .unwrap();
    assert_eq!(
        expire_time(&mut raw, &key("ses_abs")).await,
        (t + 1_000) as i64,
        "rotation never extends the absolute end"
    );

    store
        .start(
            session("ses_idle", t, t + 1_000).with_idle_timeout(Some(100)),
            nth_hash(0),
            100,
        )
        .await
        .unwrap();
    assert_eq!(
        expire_time(&mut raw, &key("ses_idle")).await,
        (t + 100) as i64
    );
    store
        .rotate(
            "ses_idle",
            Rotation::new(0, nth_hash(0), nth_hash(1), t + 50),
        )
        .await
        .unwrap();
    assert_eq!(
        expire_time(&mut raw, &key("ses_idle")).await,
        (t + 150) as i64,
        "a refresh moves the idle deadline"
    );
    store
        .rotate(
            "ses_idle",
            Rotation::new(1, nth_hash(1), nth_hash(2), t + 950),
        )
        .await
        .unwrap();
    assert_eq!(
        expire_time(&mut raw, &key("ses_idle")).await,
        (t + 1_000) as i64,
        "but never past the absolute end"
    );

    // A session whose end saturates still gets a valid expiry.
    store
        .start(session("ses_forever", t, u64::MAX), nth_hash(0), 100)
        .await
        .unwrap();
    assert!(expire_time(&mut raw, &key("ses_forever")).await > (t + 1_000_000) as i64);

    // Redis drops the key itself once the session is idle too long.
    store
        .start(
            session("ses_short", t, t + 1_000).with_idle_timeout(Some(1)),
            nth_hash(0),
            100,
        )
        .await
        .unwrap();
    eventually(Duration::from_secs(5), || async {
        store.load("ses_short").await.unwrap().is_none()
    })
    .await;
}

#[tokio::test]
async fn debug_and_errors_hide_passwords() {
    let url = redis_url();
    let with_password = url.replacen("redis://", "redis://:hunter2-secret@", 1);
    let client = client::Client::open(with_password.as_str()).unwrap();
    let manager = client::Client::open(url.as_str())
        .unwrap()
        .get_connection_manager()
        .await
        .expect("Redis is needed by this test");
    let store = RedisStore::from_client(client, manager).prefix("debug-test");
    let debug = format!("{store:?}");
    assert!(
        debug.contains("debug-test") && debug.contains("6379"),
        "{debug}"
    );
    assert!(!debug.contains("hunter2"), "{debug}");

    // A server that refuses the password, and one that is not there.
    let error = RedisStore::connect(&with_password).await.unwrap_err();
    assert!(
        !format!("{error} {error:?}").contains("hunter2"),
        "{error:?}"
    );
    let started = Instant::now();
    let error = RedisStore::connect("redis://:hunter2-secret@127.0.0.1:1")
        .await
        .unwrap_err();
    assert!(started.elapsed() < PROMPT);
    assert!(
        !format!("{error} {error:?}").contains("hunter2"),
        "{error:?}"
    );
    assert!(RedisStore::connect("not a url").await.is_err());
}

/// The next event, within [`PROMPT`].
async fn next_event(subscription: &mut RedisSubscription) -> FeedEvent {
    tokio::time::timeout(PROMPT, subscription.next())
        .await
        .expect("an event in time")
        .unwrap()
}

#[tokio::test]
async fn a_subscription_gets_events_and_skips_foreign_messages() {
    let (store, prefix) = store().await;
    let mut raw = raw().await;
    let mut subscription = store.subscribe().await.unwrap();
    let channel = format!("{prefix}:feed");
    raw.publish::<_, _, i64>(&channel, "not an event")
        .await
        .unwrap();
    store.publish(&FeedEvent::key("key_1")).await.unwrap();
    store
        .publish(&FeedEvent::token("jti_1", now() + 60))
        .await
        .unwrap();
    assert_eq!(next_event(&mut subscription).await, FeedEvent::key("key_1"));
    assert!(matches!(
        next_event(&mut subscription).await,
        FeedEvent::Token { .. }
    ));
    // A key event is only announced, never stored.
    assert_eq!(
        store.snapshot(now()).await.unwrap(),
        [FeedEvent::token("jti_1", now() + 60)]
    );
}

#[tokio::test]
async fn snapshot_drops_lapsed_revocations_and_keeps_the_latest_until() {
    let (store, prefix) = store().await;
    let mut raw = raw().await;
    let t = now();
    for until in [t + 100, t + 50, t + 200, t + 150] {
        store
            .publish(&FeedEvent::session("ses_1", until))
            .await
            .unwrap();
    }
    store
        .publish(&FeedEvent::session("ses_2", t))
        .await
        .unwrap();
    store
        .publish(&FeedEvent::token("jti_1", t - 1))
        .await
        .unwrap();
    store
        .publish(&FeedEvent::token("jti_2", u64::MAX))
        .await
        .unwrap();

    let mut snapshot = store.snapshot(t).await.unwrap();
    snapshot.sort_by_key(|event| format!("{event:?}"));
    assert_eq!(
        snapshot,
        [
            FeedEvent::session("ses_1", t + 200),
            FeedEvent::token("jti_2", u64::MAX),
        ]
    );
    let lapsed: i64 = raw.zcard(format!("{prefix}:{{rev}}:tokens")).await.unwrap();
    assert_eq!(lapsed, 1, "lapsed members are deleted");
    assert_eq!(
        store.snapshot(t + 200).await.unwrap(),
        [FeedEvent::token("jti_2", u64::MAX)],
        "until is exclusive"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_hear_each_other_through_redis() {
    let prefix = redis_prefix();
    let (store_a, store_b) = (
        store_at(&redis_url(), &prefix).await,
        store_at(&redis_url(), &prefix).await,
    );
    let a = RevocationFeed::builder(store_a.clone()).start();
    let b = RevocationFeed::builder(store_b.clone()).start();
    for feed in [&a, &b] {
        tokio::time::timeout(PROMPT, feed.synced()).await.unwrap();
    }
    let t = now();
    a.revoke_session("ses_1", t + 600).await.unwrap();
    b.revoke_token("jti_1", t + 600).await.unwrap();
    for feed in [&a, &b] {
        eventually(PROMPT, || async {
            feed.is_revoked(Some("ses_1"), None, now()).unwrap()
                && feed.is_revoked(None, Some("jti_1"), now()).unwrap()
        })
        .await;
        assert!(
            !feed
                .is_revoked(Some("ses_2"), Some("jti_2"), now())
                .unwrap()
        );
    }
    // A third instance started later learns both from its first snapshot.
    let c = RevocationFeed::builder(store_at(&redis_url(), &prefix).await).start();
    tokio::time::timeout(PROMPT, c.synced()).await.unwrap();
    assert!(c.is_revoked(Some("ses_1"), None, now()).unwrap());
    assert!(c.is_revoked(None, Some("jti_1"), now()).unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_fail_promptly_while_redis_is_cut_off_and_recover_after() {
    let proxy = Proxy::start("127.0.0.1:6379").await;
    let prefix = redis_prefix();
    let store = store_at(&proxy.url_through(&redis_url()), &prefix).await;
    let tokens = TokenService::new(hs256_issuer(), store.clone()).passwords(Users::new());
    let login = tokens
        .login(Login::password(ALICE, ALICE_PASSWORD))
        .await
        .unwrap();
    let sid = login.session_id.clone().unwrap();

    proxy.cut();
    let started = Instant::now();
    assert!(store.load(&sid).await.is_err());
    assert!(
        store
            .publish(&FeedEvent::session("ses_x", now() + 60))
            .await
            .is_err()
    );
    assert!(store.snapshot(now()).await.is_err());
    assert!(store.subscribe().await.is_err());
    let refused = tokens
        .refresh(login.refresh_token.as_deref().unwrap(), None)
        .await
        .unwrap_err();
    assert_eq!(refused.code(), "auth_unavailable", "{refused:?}");
    assert!(
        started.elapsed() < PROMPT * 3,
        "five calls took {:?}",
        started.elapsed()
    );

    proxy.restore();
    eventually(RECOVERY, || async { store.load(&sid).await.is_ok() }).await;
    let refreshed = tokens
        .refresh(login.refresh_token.as_deref().unwrap(), None)
        .await
        .expect("the session started before the cut refreshes after it");
    assert_eq!(refreshed.session_id.as_deref(), Some(sid.as_str()));
}

#[tokio::test]
async fn each_call_fails_within_the_budget_while_cut_off() {
    let proxy = Proxy::start("127.0.0.1:6379").await;
    let store = store_at(&proxy.url_through(&redis_url()), &redis_prefix()).await;
    proxy.cut();
    for _ in 0..3 {
        let started = Instant::now();
        assert!(store.load("ses_1").await.is_err());
        assert!(started.elapsed() < PROMPT, "took {:?}", started.elapsed());
    }
    proxy.restore();
    eventually(RECOVERY, || async { store.load("ses_1").await.is_ok() }).await;
}

#[tokio::test]
async fn ping_answers_while_reachable_fails_within_the_budget_when_cut_then_recovers() {
    let proxy = Proxy::start("127.0.0.1:6379").await;
    let store = store_at(&proxy.url_through(&redis_url()), &redis_prefix()).await;
    store.ping().await.unwrap();
    proxy.cut();
    let started = Instant::now();
    assert!(store.ping().await.is_err());
    assert!(started.elapsed() < PROMPT, "took {:?}", started.elapsed());
    proxy.restore();
    eventually(RECOVERY, || async { store.ping().await.is_ok() }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_feed_over_a_cut_redis_goes_stale_then_resyncs() {
    let proxy = Proxy::start("127.0.0.1:6379").await;
    let prefix = redis_prefix();
    let through = store_at(&proxy.url_through(&redis_url()), &prefix).await;
    let direct = store_at(&redis_url(), &prefix).await;
    let clock = ManualClock::at(now());
    let feed = RevocationFeed::builder(through)
        .clock(clock.clone())
        .max_staleness(Duration::from_secs(30))
        .resync_every(Duration::from_millis(200))
        .start();
    tokio::time::timeout(PROMPT, feed.synced()).await.unwrap();
    assert!(feed.is_fresh(clock.now()));

    proxy.cut();
    // The feed finds out (its subscription ends); within the bound it still answers.
    eventually(RECOVERY, || async { !feed.is_up() }).await;
    assert!(feed.is_fresh(clock.now()));
    assert!(!feed.is_revoked(Some("ses_1"), None, clock.now()).unwrap());
    // Another instance revokes while this one is cut off.
    direct
        .publish(&FeedEvent::session("ses_1", clock.now() + 600))
        .await
        .unwrap();
    clock.advance(Duration::from_secs(31));
    assert!(!feed.is_fresh(clock.now()));
    assert!(
        feed.is_revoked(Some("ses_2"), None, clock.now()).is_err(),
        "past the bound every check fails"
    );

    proxy.restore();
    tokio::time::timeout(RECOVERY, feed.synced()).await.unwrap();
    assert!(feed.is_fresh(clock.now()));
    assert!(
        feed.is_revoked(Some("ses_1"), None, clock.now()).unwrap(),
        "the resync brought the missed revocation"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_refreshes_on_two_services_have_one_winner() {
    let prefix = redis_prefix();
    let services: Vec<Arc<TokenService>> = [
        store_at(&redis_url(), &prefix).await,
        store_at(&redis_url(), &prefix).await,
    ]
    .into_iter()
    .map(|store| Arc::new(TokenService::new(hs256_issuer(), store).passwords(Users::new())))
    .collect();
    let login = services[0]
        .login(Login::password(ALICE, ALICE_PASSWORD))
        .await
        .unwrap();
    let refresh_token: Arc<str> = login.refresh_token.clone().unwrap().into();
    let mut tasks = Vec::new();
    for n in 0..64 {
        let (tokens, token) = (services[n % 2].clone(), refresh_token.clone());
        tasks.push(tokio::spawn(
            async move { tokens.refresh(&token, None).await },
        ));
    }
    let mut ok = Vec::new();
    for task in tasks {
        match task.await.unwrap() {
            Ok(pair) => ok.push(pair),
            Err(error) => assert_eq!(error.code(), "invalid_grant", "{error:?}"),
        }
    }
    assert_eq!(ok.len(), 1, "exactly one refresh wins");
    let winner = ok.pop().unwrap();
    for tokens in &services {
        let err = tokens
            .refresh(winner.refresh_token.as_deref().unwrap(), None)
            .await
            .unwrap_err();
        assert_eq!(err.code(), "invalid_grant", "reuse ended the session");
    }
    let sid = login.session_id.as_deref().unwrap();
    let store = store_at(&redis_url(), &prefix).await;
    assert_eq!(store.load(sid).await.unwrap(), None);
}

#[tokio::test]
async fn redis_never_holds_a_refresh_token() {
    let (store, prefix) = store().await;
    let tokens = TokenService::new(hs256_issuer(), store.clone())
        .passwords(Users::new())
        .reuse_interval(Duration::from_secs(60))
        .revocation_store(RevocationFeed::builder(store.clone()).start());
    let login = tokens
        .login(Login::password(ALICE, ALICE_PASSWORD).session_id("laptop"))
        .await
        .unwrap();
    let mut issued = vec![login.refresh_token.clone().unwrap()];
    let next = tokens.refresh(&issued[0], None).await.unwrap();
    issued.push(next.refresh_token.clone().unwrap());
    // The retry grace holds the successor (sealed) while it runs.
    let again = tokens.refresh(&issued[0], None).await.unwrap();
    assert_eq!(again.refresh_token, next.refresh_token);
    let second = tokens
        .login(Login::password(ALICE, ALICE_PASSWORD).session_id("phone"))
        .await
        .unwrap();
    issued.push(second.refresh_token.clone().unwrap());
    let sid = login.session_id.clone().unwrap();
    let stored = store.load(&sid).await.unwrap().unwrap();
    assert!(
        stored.grace.is_some(),
        "the dump below covers a sealed grace"
    );
    assert_eq!(
        Some(stored.current),
        RefreshTokenHash::of(&issued[1]),
        "only the hash"
    );

    let mut raw = raw().await;
    let keys: Vec<String> = raw.keys(format!("{prefix}*")).await.unwrap();
    assert!(keys.len() >= 3, "{keys:?}");
    let mut dumped = Vec::new();
    for key in &keys {
        let kind: String = client::cmd("TYPE")
            .arg(key)
            .query_async(&mut raw)
            .await
            .unwrap();
        let values: Vec<Vec<u8>> = match kind.as_str() {
            "hash" => raw.hgetall::<_, Vec<Vec<u8>>>(key).await.unwrap(),
            "string" => vec![raw.get::<_, Vec<u8>>(key).await.unwrap()],
            "zset" => raw.zrange::<_, Vec<Vec<u8>>>(key, 0, -1).await.unwrap(),
            other => panic!("unexpected {other} at {key}"),
        };
        dumped.extend(values);
    }
    for token in &issued {
        let secret = token.rsplit('_').next().unwrap();
        for value in &dumped {
            let found = |needle: &str| {
                value
                    .windows(needle.len())
                    .any(|window| window == needle.as_bytes())
            };
            assert!(!found(token) && !found(secret), "a refresh token in Redis");
        }
    }
}

#[tokio::test]
async fn a_server_that_never_answers_fails_the_connect_in_time() {
    // Accepts connections and holds them without a word, as a hung server does.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let started = Instant::now();
    assert!(
        RedisStore::connect(&format!("redis://{addr}"))
            .await
            .is_err()
    );
    assert!(started.elapsed() < PROMPT, "took {:?}", started.elapsed());
}

#[tokio::test]
async fn a_malformed_record_is_an_error_that_does_not_echo_it() {
    let (store, prefix) = store().await;
    let mut raw = raw().await;
    let key = format!("{prefix}:{{s:ses_bad}}");
    let _: () = raw
        .hset_multiple(
            &key,
            &[
                ("gen", "0"),
                ("cur", "short"),
                ("used", "1"),
                ("ses", "{\"x\":\"leak-me\"}"),
            ],
        )
        .await
        .unwrap();
    let error = store.load("ses_bad").await.unwrap_err();
    assert!(
        !format!("{error} {error:?}").contains("leak-me"),
        "{error:?}"
    );
    let error = store.end("ses_bad").await.unwrap_err();
    assert!(
        !format!("{error} {error:?}").contains("leak-me"),
        "{error:?}"
    );
}

#[test]
fn the_store_is_a_cheap_shareable_handle() {
    fn shareable<T: Clone + Send + Sync + std::fmt::Debug + 'static>() {}
    shareable::<RedisStore>();
    fn sendable<T: Send + std::fmt::Debug + 'static>() {}
    sendable::<RedisSubscription>();
}

#[tokio::test]
async fn a_tls_url_to_a_plain_server_fails_without_panicking() {
    // The handshake fails (the server speaks plain RESP), but it is attempted: rustls has a
    // crypto provider to build its configuration with.
    let url = redis_url().replacen("redis://", "rediss://", 1);
    let started = Instant::now();
    let error = RedisStore::connect(&url).await.unwrap_err();
    assert!(started.elapsed() < PROMPT, "took {:?}", started.elapsed());
    let _ = error;
}

/// Redis holds a subject's bound, not its logins: after 200 logins with a bound of 5, its index
/// has 5 members, 5 session keys are left, and the index expires with its latest session.
#[tokio::test]
async fn a_subjects_index_and_sessions_stay_within_the_bound() {
    let (store, prefix) = store().await;
    let mut raw = raw().await;
    let t = now();
    for n in 0..200u64 {
        let ended = store
            .start(
                session(&format!("ses_{n}"), t + n, t + 3_600 + n),
                nth_hash(0),
                5,
            )
            .await
            .unwrap();
        assert_eq!(ended.len(), usize::from(n >= 5), "login {n}");
    }
    let index = format!("{prefix}:{{u:user_1}}");
    let members: Vec<String> = raw.zrange(&index, 0, -1).await.unwrap();
    assert_eq!(
        members,
        ["ses_195", "ses_196", "ses_197", "ses_198", "ses_199"]
    );
    let sessions: Vec<String> = raw.keys(format!("{prefix}:{{s:*")).await.unwrap();
    assert_eq!(sessions.len(), 5);
    assert_eq!(
        expire_time(&mut raw, &index).await,
        (t + 3_600 + 199) as i64
    );
    // Ending them all leaves nothing behind.
    for id in members {
        store.end(&id).await.unwrap();
    }
    assert!(!raw.exists::<_, bool>(&index).await.unwrap());
}

#[tokio::test]
async fn signing_keys_follow_the_store_contract() {
    let prefix = redis_prefix();
    common::signing_keys::store_contract(store_at(&redis_url(), &prefix).await).await;
}

#[tokio::test]
async fn two_key_rings_on_one_redis_rotate_at_once_and_agree() {
    let prefix = redis_prefix();
    common::signing_keys::two_instances_agree(
        store_at(&redis_url(), &prefix).await,
        store_at(&redis_url(), &prefix).await,
    )
    .await;
}

#[tokio::test]
async fn signing_keys_on_a_cluster() {
    let prefix = redis_prefix();
    common::signing_keys::store_contract(crate::cluster(&prefix).await).await;
}
