//! One contract for every store: async functions generic over the store traits, which the in-memory
//! stores and every database store must pass alike. [`store_contract!`](crate::store_contract)
//! turns them into one test each for a store; the core's suite runs it on the in-memory stores,
//! each store crate on its own stores. A new store is checked by one more line.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tower_api_auth::KeyProvider;
use tower_api_auth::Tenant;
use tower_api_auth::api_key::{ApiKeyHasher, KeyHash, KeyRecord};
use tower_api_auth::scope::Scopes;
use tower_api_auth::store::StoreError;
use tower_api_auth::store::{AuthorizationCode, CodeHash, CodeStore, Redemption};
use tower_api_auth::store::{
    ClientRecord, ClientStore, Grace, RefreshStore, RefreshTokenHash, Rotation, SealedToken,
    Session, StoredSession,
};
use tower_api_auth::store::{FeedEvent, FeedStore, FeedSubscription};
use tower_api_auth::store::{KeyFilter, KeyStore, KeyUpdate};

fn tenant(id: &str) -> Tenant {
    Tenant::new(id).expect("tenant")
}

fn scopes(list: &str) -> Scopes {
    Scopes::parse(list).expect("scopes")
}

fn key_hash(n: u8) -> KeyHash {
    KeyHash::from_bytes([n; 32])
}

/// A key `id` created at `created_at`, with `owner` and `tenants`.
fn key(id: &str, created_at: Option<u64>, owner: Option<&str>, tenants: &[&str]) -> KeyRecord {
    let mut record = KeyRecord::new(id, key_hash(id.len() as u8))
        .with_name(format!("key {id}"))
        .with_tenants(tenants.iter().map(|t| tenant(t)))
        .with_scopes(scopes("reports:read reports:write"))
        .with_metadata("team", "billing");
    record.created_at = created_at;
    if let Some(owner) = owner {
        record = record.with_owner(owner);
    }
    record
}

async fn get(store: &impl KeyProvider, key_id: &str) -> Option<KeyRecord> {
    store
        .lookup(key_id)
        .resolve()
        .await
        .expect("lookup")
        .map(|record| (*record).clone())
}

async fn ids(store: &impl KeyStore, filter: &KeyFilter) -> Vec<String> {
    store
        .list(filter)
        .await
        .expect("list")
        .iter()
        .map(|record| record.key_id.to_string())
        .collect()
}

/// [`KeyProvider`] and [`KeyStore`]: records come back exactly as stored; duplicates are
/// refused; lists filter by tenant and owner and are ordered by creation then id (bytewise);
/// updates change only what they name; roll is atomic and never extends the old key's expiry;
/// usage never moves backwards; unknown ids answer `None` / `false`.
pub async fn key_store<S: KeyStore>(store: S) {
    // Bytewise, "k1Zed" sorts before "k1apple"; a key without a creation time sorts first.
    let records = [
        key("k1apple", Some(100), Some("alice"), &["tn_a"]),
        key("k1Zed", Some(100), Some("bob"), &["tn_a", "tn_b"]),
        key("k0early", Some(50), Some("alice"), &["tn_b"]),
        key("k9undated", None, None, &[]),
    ];
    for record in &records {
        store.create(record.clone()).await.expect("create");
    }
    for record in &records {
        assert_eq!(
            get(&store, &record.key_id).await.as_ref(),
            Some(record),
            "read back whole"
        );
    }
    assert_eq!(get(&store, "k1unknown").await, None);

    let clash = key("k1apple", Some(999), Some("mallory"), &["tn_z"]);
    assert!(store.create(clash).await.is_err(), "a taken id is refused");
    assert_eq!(
        get(&store, "k1apple").await.as_ref(),
        Some(&records[0]),
        "and left alone"
    );

    let all = KeyFilter::default();
    assert_eq!(
        ids(&store, &all).await,
        ["k9undated", "k0early", "k1Zed", "k1apple"]
    );
    assert_eq!(
        ids(&store, &all.clone().tenant(tenant("tn_a"))).await,
        ["k1Zed", "k1apple"]
    );
    assert_eq!(
        ids(&store, &all.clone().owner("alice")).await,
        ["k0early", "k1apple"]
    );
    let both = all.clone().owner("alice").tenant(tenant("tn_b"));
    assert_eq!(ids(&store, &both).await, ["k0early"]);
    assert!(
        ids(&store, &all.clone().tenant(tenant("tn_none")))
            .await
            .is_empty()
    );

    // Updates: only the named fields change; the tenant filter follows.
    assert_eq!(
        store
            .update("k1unknown", &KeyUpdate::default().name("x"))
            .await
            .unwrap(),
        None
    );
    let mut labels = BTreeMap::new();
    labels.insert("env".to_owned(), "prod".to_owned());
    let update = KeyUpdate::default()
        .name("renamed")
        .tenants([tenant("tn_c")])
        .expires_at(Some(5_000))
        .metadata(labels.clone());
    let updated = store
        .update("k1apple", &update)
        .await
        .unwrap()
        .expect("known");
    let mut expected = records[0].clone();
    update.apply_to(&mut expected);
    assert_eq!(updated, expected);
    assert_eq!(get(&store, "k1apple").await, Some(expected.clone()));
    assert_eq!(
        ids(&store, &all.clone().tenant(tenant("tn_c"))).await,
        ["k1apple"]
    );
    assert_eq!(
        ids(&store, &all.clone().tenant(tenant("tn_a"))).await,
        ["k1Zed"]
    );
    let cleared = KeyUpdate::default().expires_at(None).disabled(true);
    let updated = store
        .update("k1apple", &cleared)
        .await
        .unwrap()
        .expect("known");
    cleared.apply_to(&mut expected);
    assert_eq!(updated, expected);
    assert_eq!(
        (updated.expires_at, updated.disabled, updated.name.as_str()),
        (None, true, "renamed")
    );
    let updated = store
        .update("k1apple", &KeyUpdate::default())
        .await
        .unwrap();
    assert_eq!(
        updated,
        Some(expected.clone()),
        "an empty update changes nothing"
    );

    // Revocation.
    assert!(store.revoke("k0early").await.unwrap());
    assert!(get(&store, "k0early").await.expect("kept").revoked);
    assert!(!store.revoke("k1unknown").await.unwrap());

    // Roll: the successor and the old key's shorter expiry, together or not at all.
    let successor = key("k2next", Some(200), Some("bob"), &["tn_a"]);
    assert!(store.roll("k1Zed", successor.clone(), 8_000).await.unwrap());
    assert_eq!(get(&store, "k2next").await, Some(successor));
    assert_eq!(get(&store, "k1Zed").await.unwrap().expires_at, Some(8_000));
    let later = key("k2later", Some(201), None, &[]);
    assert!(store.roll("k1Zed", later, 9_000).await.unwrap());
    assert_eq!(
        get(&store, "k1Zed").await.unwrap().expires_at,
        Some(8_000),
        "never extended"
    );
    let sooner = key("k2sooner", Some(202), None, &[]);
    assert!(store.roll("k1Zed", sooner, 7_000).await.unwrap());
    assert_eq!(
        get(&store, "k1Zed").await.unwrap().expires_at,
        Some(7_000),
        "brought forward"
    );
    let orphan = key("k2orphan", Some(203), None, &[]);
    assert!(
        !store.roll("k0early", orphan.clone(), 1).await.unwrap(),
        "revoked"
    );
    assert!(
        !store.roll("k1unknown", orphan.clone(), 1).await.unwrap(),
        "unknown"
    );
    assert_eq!(get(&store, "k2orphan").await, None, "nothing stored");
    assert_eq!(get(&store, "k0early").await.unwrap().expires_at, None);
    let taken = key("k2next", Some(204), None, &[]);
    assert!(
        !store.roll("k9undated", taken, 1).await.unwrap(),
        "successor id taken"
    );
    assert_eq!(
        get(&store, "k9undated").await.unwrap().expires_at,
        None,
        "atomic: old untouched"
    );

    // Usage: batched, unknown ids skipped, never backwards.
    store.record_usage(&[]).await.unwrap();
    let used = |pairs: &[(&str, u64)]| -> Vec<(Arc<str>, u64)> {
        pairs.iter().map(|(id, at)| (Arc::from(*id), *at)).collect()
    };
    store
        .record_usage(&used(&[
            ("k1apple", 1_000),
            ("k1unknown", 5),
            ("k1Zed", 10),
        ]))
        .await
        .unwrap();
    store
        .record_usage(&used(&[("k1apple", 900), ("k1Zed", 20)]))
        .await
        .unwrap();
    assert_eq!(
        get(&store, "k1apple").await.unwrap().last_used_at,
        Some(1_000),
        "not backwards"
    );
    assert_eq!(get(&store, "k1Zed").await.unwrap().last_used_at, Some(20));
    assert_eq!(get(&store, "k1unknown").await, None, "not created by usage");
}

/// A bound on a subject's sessions that the contract's other cases never reach.
const MANY: usize = 100;

/// What a login that ends no session returns.
const NONE: [Session; 0] = [];

fn rt(n: u8) -> RefreshTokenHash {
    RefreshTokenHash::from_bytes([n; 32])
}

fn sealed(n: u8) -> SealedToken {
    SealedToken::from_bytes(&[n; SealedToken::LEN]).expect("length")
}

fn session(id: &str, created_at: u64, expires_at: u64) -> Session {
    Session::new(
        id,
        format!("user_{id}"),
        scopes("read write"),
        created_at,
        expires_at,
    )
}

async fn load<S: RefreshStore>(store: &S, id: &str) -> Option<StoredSession> {
    store.load(id).await.expect("load")
}

/// [`RefreshStore`]: sessions come back whole; rotation is a compare-and-swap on generation and
/// hash that exactly one of concurrent callers wins; a login in a slot ends and returns the
/// previous session; `end` removes and returns; `purge` honours the absolute end, the idle
/// timeout and the graces' ends.
pub async fn refresh_store<S: RefreshStore>(store: S) {
    let mut claims = serde_json::Map::new();
    claims.insert("org".to_owned(), json!({ "id": 7, "roles": ["admin"] }));
    let full = session("s_full", 1_000, u64::MAX)
        .with_tenants([tenant("tn_a"), tenant("tn_b")])
        .with_client(Some(Arc::from("client_1")))
        .with_api_key(Some(Arc::from("k1apple")))
        .with_idle_timeout(Some(u64::MAX))
        .with_claims(claims);
    assert_eq!(store.start(full.clone(), rt(1), MANY).await.unwrap(), NONE);
    assert_eq!(
        load(&store, "s_full").await,
        Some(StoredSession::new(full.clone(), rt(1)))
    );
    assert_eq!(load(&store, "s_unknown").await, None);

    // Compare-and-swap.
    assert!(
        store
            .rotate("s_full", Rotation::new(0, rt(1), rt(2), 1_010))
            .await
            .unwrap()
    );
    let expected = StoredSession::new(full.clone(), rt(2))
        .with_generation(1)
        .with_last_used(1_010);
    assert_eq!(load(&store, "s_full").await, Some(expected.clone()));
    let losers = [
        (
            "s_full",
            Rotation::new(0, rt(1), rt(3), 1_020),
            "stale generation and hash",
        ),
        (
            "s_full",
            Rotation::new(1, rt(1), rt(3), 1_020),
            "right generation, stale hash",
        ),
        (
            "s_full",
            Rotation::new(0, rt(2), rt(3), 1_020),
            "right hash, stale generation",
        ),
        (
            "s_unknown",
            Rotation::new(0, rt(1), rt(3), 1_020),
            "unknown session",
        ),
    ];
    for (id, rotation, why) in losers {
        assert!(!store.rotate(id, rotation).await.unwrap(), "{why}");
    }
    assert_eq!(
        load(&store, "s_full").await,
        Some(expected),
        "losers change nothing"
    );

    let grace = Grace::new(sealed(9), 1_050);
    let with_grace = Rotation::new(1, rt(2), rt(3), 1_030).with_grace(Some(grace));
    assert!(store.rotate("s_full", with_grace).await.unwrap());
    assert_eq!(load(&store, "s_full").await.unwrap().grace, Some(grace));
    let without = Rotation::new(2, rt(3), rt(4), 1_040);
    assert!(store.rotate("s_full", without).await.unwrap());
    assert_eq!(
        load(&store, "s_full").await.unwrap().grace,
        None,
        "a rotation replaces the grace"
    );

    // Concurrent rotations from one state: exactly one wins.
    let (a, b) = tokio::join!(
        store.rotate("s_full", Rotation::new(3, rt(4), rt(5), 1_050)),
        store.rotate("s_full", Rotation::new(3, rt(4), rt(6), 1_050)),
    );
    assert!(
        a.unwrap() ^ b.unwrap(),
        "exactly one concurrent rotation wins"
    );

    // Slots.
    let phone = Some(Arc::<str>::from("user_1:phone"));
    let first = session("s_phone1", 1_000, u64::MAX).with_slot(phone.clone());
    let second = session("s_phone2", 1_001, u64::MAX).with_slot(phone.clone());
    let laptop = session("s_laptop", 1_002, u64::MAX).with_slot(Some(Arc::from("user_1:laptop")));
    assert_eq!(
        store.start(first.clone(), rt(10), MANY).await.unwrap(),
        NONE
    );
    assert_eq!(
        store.start(laptop.clone(), rt(11), MANY).await.unwrap(),
        NONE
    );
    assert_eq!(
        store.start(second.clone(), rt(12), MANY).await.unwrap(),
        [first],
        "slot replaced"
    );
    assert_eq!(load(&store, "s_phone1").await, None, "ended with its slot");
    assert_eq!(load(&store, "s_phone2").await.unwrap().session, second);
    assert_eq!(
        load(&store, "s_laptop").await.unwrap().session,
        laptop,
        "other slot untouched"
    );

    // Two logins racing for one slot: both succeed, the later one ends the earlier.
    let tablet = Some(Arc::<str>::from("user_1:tablet"));
    let one = session("s_tablet1", 1_004, u64::MAX).with_slot(tablet.clone());
    let two = session("s_tablet2", 1_005, u64::MAX).with_slot(tablet);
    let (a, b) = tokio::join!(
        store.start(one.clone(), rt(14), MANY),
        store.start(two.clone(), rt(15), MANY)
    );
    let (a, b) = (a.expect("start"), b.expect("start"));
    let (a_left, b_left) = (
        load(&store, "s_tablet1").await,
        load(&store, "s_tablet2").await,
    );
    match (&a[..], &b[..]) {
        ([], [ended]) => assert!(*ended == one && a_left.is_none() && b_left.is_some()),
        ([ended], []) => assert!(*ended == two && b_left.is_none() && a_left.is_some()),
        other => panic!("one login must end the other: {other:?}"),
    }

    // End.
    assert_eq!(store.end("s_phone2").await.unwrap(), Some(second));
    assert_eq!(store.end("s_phone2").await.unwrap(), None);
    assert_eq!(load(&store, "s_phone2").await, None);
    let third = session("s_phone3", 1_003, u64::MAX).with_slot(phone);
    assert_eq!(
        store.start(third, rt(13), MANY).await.unwrap(),
        NONE,
        "the slot is free again"
    );
}

/// The bound on a subject's live sessions ([`RefreshStore::start`]'s `max_per_subject`): a login
/// beyond it ends the subject's oldest sessions and returns them; other subjects, ended sessions
/// and sessions that are over do not count; 0 is 1; concurrent logins of one subject keep the
/// bound.
pub async fn refresh_store_bounded<S: RefreshStore>(store: S) {
    let of =
        |id: &str, subject: &str, at: u64| Session::new(id, subject, scopes("read"), at, u64::MAX);
    let sorted = |mut sessions: Vec<Session>| {
        sessions.sort_by(|a, b| a.id.cmp(&b.id));
        sessions
    };
    for (n, id) in ["b1", "b2", "b3"].into_iter().enumerate() {
        let at = 1_000 + n as u64;
        let started = store.start(of(id, "user_b", at), rt(40 + n as u8), 3);
        assert_eq!(started.await.unwrap(), NONE, "{id}: within the bound");
    }
    let other = store.start(of("c1", "user_c", 1_000), rt(50), 3);
    assert_eq!(
        other.await.unwrap(),
        NONE,
        "another subject has its own bound"
    );
    assert_eq!(
        store
            .start(of("b4", "user_b", 1_010), rt(44), 3)
            .await
            .unwrap(),
        [of("b1", "user_b", 1_000)],
        "the fourth login ends the oldest"
    );
    assert_eq!(load(&store, "b1").await, None, "its refresh token is gone");
    for id in ["b2", "b3", "b4", "c1"] {
        assert!(load(&store, id).await.is_some(), "{id} stays");
    }

    // A lower bound on the next login ends as many as it takes, oldest first.
    let ended = store
        .start(of("b5", "user_b", 1_011), rt(45), 2)
        .await
        .unwrap();
    assert_eq!(
        sorted(ended),
        [of("b2", "user_b", 1_001), of("b3", "user_b", 1_002)]
    );
    assert!(load(&store, "b4").await.is_some() && load(&store, "b5").await.is_some());

    // An ended session frees its place.
    assert!(store.end("b4").await.unwrap().is_some());
    let started = store.start(of("b6", "user_b", 1_012), rt(46), 2);
    assert_eq!(started.await.unwrap(), NONE, "b5 and b6: two");
    assert!(load(&store, "b5").await.is_some());

    // A session that is over does not count, and is not returned as ended.
    let idle = of("d1", "user_d", 1_000).with_idle_timeout(Some(100));
    assert_eq!(store.start(idle, rt(60), 2).await.unwrap(), NONE);
    assert_eq!(
        store
            .start(of("d2", "user_d", 1_000), rt(61), 2)
            .await
            .unwrap(),
        NONE
    );
    let later = store.start(of("d3", "user_d", 2_000), rt(62), 2);
    assert_eq!(later.await.unwrap(), NONE, "d1 is over: d2 and d3 are two");
    assert_eq!(load(&store, "d1").await.filter(|s| s.alive(2_000)), None);
    assert!(load(&store, "d2").await.is_some() && load(&store, "d3").await.is_some());

    // A bound of 0 is 1: a login always keeps its own session.
    let first = store.start(of("e1", "user_e", 1_000), rt(70), 0);
    assert_eq!(first.await.unwrap(), NONE);
    let second = store.start(of("e2", "user_e", 1_001), rt(71), 0);
    assert_eq!(second.await.unwrap(), [of("e1", "user_e", 1_000)]);
    assert!(load(&store, "e2").await.is_some());

    // Concurrent logins of one subject: one ends the other, never both kept.
    let (a, b) = tokio::join!(
        store.start(of("f1", "user_f", 1_000), rt(80), 1),
        store.start(of("f2", "user_f", 1_000), rt(81), 1),
    );
    let ended = [a.unwrap(), b.unwrap()].concat();
    let left = [load(&store, "f1").await, load(&store, "f2").await];
    assert_eq!(ended.len(), 1, "exactly one login ended the other");
    assert_eq!(left.iter().flatten().count(), 1, "one session is left");
    assert!(left.iter().flatten().all(|s| s.session.id != ended[0].id));
}

/// Purging: a store that purges removes exactly the sessions that are over at the `now` it is
/// given (absolute end, idle timeout counted from the last refresh) and clears lapsed retry
/// graces. Redis is not held to it: it expires keys itself, by its own clock (see the Redis
/// store crate's `tests/redis/store.rs`), and its `purge` is a no-op.
pub async fn refresh_store_purge<S: RefreshStore>(store: S) {
    let full = session("s_full", 1_000, u64::MAX);
    store.start(full, rt(10), MANY).await.unwrap();
    // Purge: only the sessions below can end (the others never expire).
    let absolute = session("p_absolute", 1_000, 2_000);
    let idle = session("p_idle", 1_000, 5_000).with_idle_timeout(Some(100));
    let refreshed = session("p_refreshed", 1_000, 5_000).with_idle_timeout(Some(100));
    let graced = session("p_graced", 1_000, 5_000);
    for (s, n) in [(absolute, 20), (idle, 21), (refreshed, 22), (graced, 23)] {
        store.start(s, rt(n), MANY).await.unwrap();
    }
    assert!(
        store
            .rotate("p_refreshed", Rotation::new(0, rt(22), rt(32), 1_090))
            .await
            .unwrap()
    );
    let grace = Grace::new(sealed(7), 1_500);
    let rotation = Rotation::new(0, rt(23), rt(33), 1_010).with_grace(Some(grace));
    assert!(store.rotate("p_graced", rotation).await.unwrap());

    assert_eq!(store.purge(1_099).await.unwrap(), 0, "idle for 99 s of 100");
    assert_eq!(store.purge(1_100).await.unwrap(), 1, "idle for 100 s");
    assert_eq!(load(&store, "p_idle").await, None);
    assert!(
        load(&store, "p_refreshed").await.is_some(),
        "a refresh restarts the idle clock"
    );
    assert_eq!(store.purge(1_189).await.unwrap(), 0);
    assert_eq!(
        store.purge(1_190).await.unwrap(),
        1,
        "idle for 100 s since its refresh"
    );
    assert_eq!(load(&store, "p_refreshed").await, None);
    assert_eq!(store.purge(1_499).await.unwrap(), 0);
    assert_eq!(load(&store, "p_graced").await.unwrap().grace, Some(grace));
    assert_eq!(store.purge(1_500).await.unwrap(), 0);
    let graced = load(&store, "p_graced").await.expect("the session stays");
    assert_eq!(graced.grace, None, "its lapsed grace is cleared");
    assert_eq!(store.purge(1_999).await.unwrap(), 0);
    assert_eq!(store.purge(2_000).await.unwrap(), 1, "the absolute end");
    assert_eq!(load(&store, "p_absolute").await, None);
    assert!(
        load(&store, "s_full").await.is_some(),
        "sessions that never end stay"
    );
}

/// How the contract registers OAuth clients: each store's own call.
pub trait ClientRegistry: ClientStore {
    /// Registers a client; an id already taken is an error.
    fn add(&self, record: ClientRecord) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Removes a client; `false` if unknown.
    fn delete(&self, client_id: &str) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

fn same_client(a: &ClientRecord, b: &ClientRecord) -> bool {
    (
        &a.client_id,
        a.secret_hash,
        &a.scopes,
        &a.tenants,
        &a.redirect_uris,
    ) == (
        &b.client_id,
        b.secret_hash,
        &b.scopes,
        &b.tenants,
        &b.redirect_uris,
    )
}

/// [`ClientStore`]: clients come back whole, with a secret hash the store's hasher checks, their
/// redirect URIs in order and byte for byte; a public client comes back with no secret; duplicate
/// ids are refused; removal is seen; unknown ids answer `None` / `false`.
pub async fn client_store<S: ClientRegistry>(store: S) {
    assert!(store.client("client_unknown").await.unwrap().is_none());
    let hasher: ApiKeyHasher = store.secret_hasher();
    let record = ClientRecord::new(
        "client_billing",
        hasher.hash("s3cret"),
        scopes("billing:read"),
    )
    .with_tenants([tenant("tn_billing"), tenant("tn_b")]);
    store.add(record.clone()).await.expect("register");
    let found = store
        .client("client_billing")
        .await
        .unwrap()
        .expect("registered");
    assert!(same_client(&found, &record), "read back whole: {found:?}");
    assert!(
        found
            .secret_hash
            .is_some_and(|hash| hash.matches(&store.secret_hasher().hash("s3cret")))
    );
    assert!(
        !found
            .secret_hash
            .is_some_and(|hash| hash.matches(&store.secret_hasher().hash("wrong")))
    );

    let clash = ClientRecord::new("client_billing", hasher.hash("other"), Scopes::empty());
    assert!(store.add(clash).await.is_err(), "a taken id is refused");
    let found = store.client("client_billing").await.unwrap().expect("kept");
    assert!(
        same_client(&found, &record),
        "and the secret is not replaced"
    );

    assert!(store.delete("client_billing").await.unwrap());
    assert!(store.client("client_billing").await.unwrap().is_none());
    assert!(!store.delete("client_billing").await.unwrap());

    // A confidential client with redirect URIs: they come back whole, in order, untouched (a
    // trailing slash, a query, a port, case and non-ASCII are all part of the exact match).
    let uris = [
        "https://app.example.com/callback",
        "https://app.example.com/callback/",
        "http://127.0.0.1:8080/cb?x=1&y=%20",
        "https://APP.example.com/Callback",
        "com.example.app:/oauth2redirect/é",
    ];
    let web = ClientRecord::new("client_web", hasher.hash("w3b"), scopes("read"))
        .with_redirect_uris(uris);
    store.add(web.clone()).await.expect("register");
    let found = store
        .client("client_web")
        .await
        .unwrap()
        .expect("registered");
    assert!(same_client(&found, &web), "read back whole: {found:?}");
    assert!(found.allows_redirect("https://app.example.com/callback/"));
    assert!(!found.allows_redirect("https://app.example.com/callback?"));

    // A public client: no secret, comes back public.
    let spa = ClientRecord::public("client_spa", scopes("read profile"))
        .with_tenants([tenant("tn_a")])
        .with_redirect_uris(["https://spa.example.com/cb"]);
    store
        .add(spa.clone())
        .await
        .expect("register a public client");
    let found = store
        .client("client_spa")
        .await
        .unwrap()
        .expect("registered");
    assert!(found.is_public(), "no secret: {found:?}");
    assert!(same_client(&found, &spa), "read back whole: {found:?}");
    let clash = ClientRecord::new("client_spa", hasher.hash("now-a-secret"), Scopes::empty());
    assert!(store.add(clash).await.is_err(), "a taken id is refused");
    assert!(
        store
            .client("client_spa")
            .await
            .unwrap()
            .unwrap()
            .is_public()
    );

    assert!(store.delete("client_spa").await.unwrap());
    assert!(store.delete("client_web").await.unwrap());
}

fn code_hash(n: u8) -> CodeHash {
    CodeHash::from_bytes([n; 32])
}

/// A code of `client_spa` for `user_1`, issued at `issued_at`, redeemable until `expires_at`.
fn auth_code(issued_at: u64, expires_at: u64) -> AuthorizationCode {
    AuthorizationCode::new(
        "client_spa",
        "user_1",
        scopes("read"),
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        issued_at,
        expires_at,
    )
}

/// How many redemptions of one code race in [`code_store`].
const RACERS: usize = 16;

/// [`CodeStore`]: a code comes back whole on its first redemption, which records the session it
/// starts; every later redemption answers `Replayed` with that first session (whatever session
/// it brings itself); of [`RACERS`] concurrent redemptions exactly one is first and every other
/// is told the winner's session; codes are independent of each other; an unknown hash is
/// `Unknown`; the store redeems an expired code (the service checks expiry, not the store).
///
/// Times are around the real now, so that stores which expire keys by the server's clock (Redis)
/// keep them through the test; purging is [`code_store_purge`].
pub async fn code_store<S: CodeStore>(store: S) {
    let t = crate::now();
    let store = Arc::new(store);
    assert_eq!(
        store.redeem(&code_hash(1), "ses_x").await.unwrap(),
        Redemption::Unknown
    );

    let mut claims = serde_json::Map::new();
    claims.insert("org".to_owned(), json!({ "id": 7, "roles": ["admin"] }));
    let full = AuthorizationCode::new(
        "client_web",
        "user_é",
        scopes("read write"),
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        t,
        t + 60,
    )
    .with_redirect_uri(Some(Arc::from("https://app.example.com/cb?x=1")))
    .with_tenants([tenant("tn_a"), tenant("tn_b")])
    .with_claims(claims);
    store.save(code_hash(1), full.clone()).await.expect("save");
    assert_eq!(
        store.redeem(&code_hash(2), "ses_x").await.unwrap(),
        Redemption::Unknown,
        "another hash is another code"
    );
    assert_eq!(
        store.redeem(&code_hash(1), "ses_first").await.unwrap(),
        Redemption::First(full.clone()),
        "the first redemption gets the code whole"
    );
    for replay in ["ses_second", "ses_first", "ses_third"] {
        assert_eq!(
            store.redeem(&code_hash(1), replay).await.unwrap(),
            Redemption::Replayed {
                code: full.clone(),
                session_id: Arc::from("ses_first"),
            },
            "a replay is told the first redemption's session, not its own ({replay})"
        );
    }
    // Saving under a spent code's hash is refused and does not make it redeemable again.
    assert!(
        store.save(code_hash(1), full.clone()).await.is_err(),
        "a taken hash is refused"
    );
    assert!(
        matches!(
            store.redeem(&code_hash(1), "ses_after").await.unwrap(),
            Redemption::Replayed { .. }
        ),
        "still spent"
    );

    // A second code, saved after the first was spent, starts unspent; and a code without a
    // redirect URI, tenant or claim reads back as such.
    let bare = auth_code(t, t + 60);
    store.save(code_hash(3), bare.clone()).await.expect("save");
    assert_eq!(
        store.redeem(&code_hash(3), "ses_bare").await.unwrap(),
        Redemption::First(bare.clone())
    );

    // Expired, but not purged: the store still redeems it; the service refuses it.
    let expired = auth_code(t - 120, t - 60);
    store
        .save(code_hash(4), expired.clone())
        .await
        .expect("save");
    assert_eq!(
        store.redeem(&code_hash(4), "ses_late").await.unwrap(),
        Redemption::First(expired)
    );

    // Concurrent redemptions, each with its own session: exactly one is first, and every other
    // is told the winner's session.
    let raced = auth_code(t, t + 60);
    store.save(code_hash(5), raced.clone()).await.expect("save");
    let racers: Vec<_> = (0..RACERS)
        .map(|n| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let session = format!("ses_race_{n}");
                let redemption = store.redeem(&code_hash(5), &session).await;
                (session, redemption.expect("redeem"))
            })
        })
        .collect();
    let mut outcomes = Vec::new();
    for racer in racers {
        outcomes.push(racer.await.expect("no panic"));
    }
    let winners: Vec<&str> = outcomes
        .iter()
        .filter(|(_, redemption)| matches!(redemption, Redemption::First(_)))
        .map(|(session, _)| session.as_str())
        .collect();
    assert_eq!(
        winners.len(),
        1,
        "exactly one first redemption: {winners:?}"
    );
    for (session, redemption) in &outcomes {
        match redemption {
            Redemption::First(code) => assert_eq!(code, &raced),
            Redemption::Replayed { code, session_id } => {
                assert_eq!(code, &raced);
                assert_eq!(
                    &**session_id, winners[0],
                    "{session} was told another session"
                );
            }
            Redemption::Unknown => panic!("{session}: a saved code is never unknown"),
            other => panic!("{session}: unexpected {other:?}"),
        }
    }
    assert_eq!(
        store.redeem(&code_hash(5), "ses_after").await.unwrap(),
        Redemption::Replayed {
            code: raced,
            session_id: Arc::from(winners[0]),
        }
    );
}

/// Purging ([`CodeStore::purge`]): a code, spent or not, is removed exactly when `now` reaches
/// `expires_at + keep_spent_for`, and not before (so a replay within that time still finds the
/// session to revoke); the count is of what was removed. Redis is not held to it: its keys
/// expire by themselves (the Redis store's own tests check when) and its `purge` answers 0.
pub async fn code_store_purge<S: CodeStore>(store: S) {
    assert_eq!(
        store.purge(2_000, 300).await.unwrap(),
        0,
        "nothing to purge"
    );
    let spent = auth_code(1_000, 1_060);
    store.save(code_hash(1), spent.clone()).await.unwrap();
    assert_eq!(
        store.redeem(&code_hash(1), "ses_1").await.unwrap(),
        Redemption::First(spent.clone())
    );
    let unspent = auth_code(1_000, 1_060);
    store.save(code_hash(2), unspent.clone()).await.unwrap();
    let later = auth_code(1_100, 1_160);
    store.save(code_hash(3), later.clone()).await.unwrap();
    let never = auth_code(1_000, u64::MAX);
    store.save(code_hash(4), never.clone()).await.unwrap();

    // Expired (1_060), but kept for 300 s more: a replay still finds the first session.
    assert_eq!(store.purge(1_359, 300).await.unwrap(), 0);
    assert_eq!(
        store.redeem(&code_hash(1), "ses_2").await.unwrap(),
        Redemption::Replayed {
            code: spent,
            session_id: Arc::from("ses_1"),
        },
        "kept until expires_at + keep_spent_for"
    );
    // At 1_060 + 300 both codes of 1_060 go, spent or not; the later one stays.
    assert_eq!(store.purge(1_360, 300).await.unwrap(), 2);
    assert_eq!(
        store.redeem(&code_hash(1), "ses_3").await.unwrap(),
        Redemption::Unknown
    );
    assert_eq!(
        store.redeem(&code_hash(2), "ses_4").await.unwrap(),
        Redemption::Unknown
    );
    assert_eq!(
        store.redeem(&code_hash(3), "ses_5").await.unwrap(),
        Redemption::First(later)
    );
    assert_eq!(store.purge(1_360, 300).await.unwrap(), 0, "purged once");
    // A huge keep_spent_for keeps everything; with 0 a code goes at its expiry.
    assert_eq!(store.purge(u64::MAX - 1, u64::MAX).await.unwrap(), 0);
    assert_eq!(store.purge(1_159, 0).await.unwrap(), 0);
    assert_eq!(store.purge(1_160, 0).await.unwrap(), 1);
    assert_eq!(
        store.redeem(&code_hash(3), "ses_6").await.unwrap(),
        Redemption::Unknown
    );
    // A code that never expires is never purged.
    assert_eq!(store.purge(u64::MAX - 1, 0).await.unwrap(), 0);
    assert_eq!(
        store.redeem(&code_hash(4), "ses_7").await.unwrap(),
        Redemption::First(never)
    );
}

/// The next event of `subscription`, failing the test after 10 s.
pub async fn next_event(subscription: &mut impl FeedSubscription) -> FeedEvent {
    tokio::time::timeout(Duration::from_secs(10), subscription.next())
        .await
        .expect("an event within 10 s")
        .expect("subscription alive")
}

fn sorted(mut events: Vec<FeedEvent>) -> Vec<FeedEvent> {
    events.sort_by_key(FeedEvent::encode);
    events
}

/// [`FeedStore`]: every subscriber sees every event published after it subscribed, by any
/// clone, in publishing order; snapshots return the revocations in force (the later `until` of
/// two, sessions and tokens apart) and drop the lapsed ones; key events are announced and
/// counted in the key epoch, which every clone reads alike.
pub async fn feed_store<B: FeedStore + Clone>(backend: B) {
    let other = backend.clone();
    let epoch = backend.key_epoch().await.expect("key epoch");
    let epoch = epoch.expect("the store keeps a key epoch");
    let mut first = backend.subscribe().await.expect("subscribe");
    let mut second = other.subscribe().await.expect("subscribe");
    let published = [
        FeedEvent::session("ses_1", 2_000),
        FeedEvent::token("jti_1", 1_500),
        FeedEvent::key("k1apple"),
        FeedEvent::session("ses_1", 1_000), // earlier: the stored until stays 2_000
        FeedEvent::token("ses_1", 2_500),   // a token of the same id is another revocation
        FeedEvent::session("forever", u64::MAX),
    ];
    for (i, event) in published.iter().enumerate() {
        let by = if i % 2 == 0 { &backend } else { &other };
        by.publish(event).await.expect("publish");
    }
    for subscription in [&mut first, &mut second] {
        for event in &published {
            assert_eq!(
                &next_event(subscription).await,
                event,
                "in publishing order"
            );
        }
    }

    assert_eq!(
        sorted(backend.snapshot(1_000).await.unwrap()),
        sorted(vec![
            FeedEvent::session("ses_1", 2_000),
            FeedEvent::token("jti_1", 1_500),
            FeedEvent::token("ses_1", 2_500),
            FeedEvent::session("forever", u64::MAX),
        ]),
        "max until, key events not stored"
    );
    for by in [&backend, &other] {
        assert_eq!(
            by.key_epoch().await.unwrap(),
            Some(epoch + 1),
            "one key event counted; revocations and pings do not count"
        );
    }
    other
        .publish(&FeedEvent::session("ses_1", 3_000))
        .await
        .unwrap();
    assert_eq!(
        next_event(&mut first).await,
        FeedEvent::session("ses_1", 3_000)
    );
    assert_eq!(
        sorted(other.snapshot(1_500).await.unwrap()),
        sorted(vec![
            FeedEvent::session("ses_1", 3_000),
            FeedEvent::token("ses_1", 2_500),
            FeedEvent::session("forever", u64::MAX),
        ]),
        "a later until wins; jti_1 lapsed at 1_500"
    );
    assert_eq!(
        sorted(backend.snapshot(1_000).await.unwrap()).len(),
        3,
        "the lapsed revocation was dropped for good"
    );

    // A late subscriber sees only what comes after it.
    let mut late = other.subscribe().await.expect("subscribe");
    backend.publish(&FeedEvent::key("k2next")).await.unwrap();
    assert_eq!(next_event(&mut late).await, FeedEvent::key("k2next"));
    assert_eq!(
        next_event(&mut second).await,
        FeedEvent::session("ses_1", 3_000)
    );
    assert_eq!(next_event(&mut second).await, FeedEvent::key("k2next"));
    backend
        .publish(&FeedEvent::Ping { nonce: 7 })
        .await
        .unwrap();
    assert_eq!(other.key_epoch().await.unwrap(), Some(epoch + 2));
}

/// One `#[tokio::test]` per contract function, in a module `$name`, for the stores that the
/// expressions build (each test builds its own). Only the contracts listed are run: a store that
/// holds sessions and revocations only (Redis) lists those two.
///
/// ```text
/// tower_api_auth_tests::store_contract!(postgres_contract {
///     key_store: postgres().await,
///     refresh_store: postgres().await,
///     refresh_store_purge: postgres().await,
///     code_store: postgres().await,
///     code_store_purge: postgres().await,
///     // The contract registers clients through `ClientRegistry`: a wrapper of the test
///     // binary's own implements it with the store's registration calls.
///     client_store: Registered(postgres().await),
///     feed_store: postgres().await,
/// });
/// ```
#[macro_export]
macro_rules! store_contract {
    ($name:ident { $($contract:ident: $make:expr),+ $(,)? }) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[tokio::test]
                async fn $contract() {
                    $crate::contract::$contract($make).await;
                }
            )+
        }
    };
}
