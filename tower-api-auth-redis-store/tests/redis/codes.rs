//! Authorization codes in Redis beyond the contract: a code's key expires by itself
//! `SPENT_CODES_KEPT_FOR` past the code (by the server's clock, read with `EXPIRETIME`), and a
//! redemption does not move it; a taken hash is refused and a spent code stays spent; two
//! instances with one prefix share codes, two prefixes do not; Redis holds the code's hash, never
//! more of it than the issuer gave.

use std::sync::Arc;

use tower_api_auth::scope::Scopes;
use tower_api_auth::store::{AuthorizationCode, CodeHash, CodeStore, Redemption};
use tower_api_auth_redis_store::RedisStore;
use tower_api_auth_redis_store::client;
use tower_api_auth_tests::now;
use tower_api_auth_tests::servers::{redis_prefix, redis_url};

use crate::redis;

/// The latest expiry the store sets (year 9999).
const LATEST_EXPIRY: i64 = 253_402_300_799;

fn code(issued_at: u64, expires_at: u64) -> AuthorizationCode {
    AuthorizationCode::new(
        "spa",
        "user_1",
        Scopes::parse("read").unwrap(),
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        issued_at,
        expires_at,
    )
}

/// A plain connection, to look at what the store wrote.
async fn raw() -> client::aio::MultiplexedConnection {
    client::Client::open(redis_url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .expect("Redis is needed by this test")
}

async fn expire_time(prefix: &str, hash: &CodeHash) -> i64 {
    client::cmd("EXPIRETIME")
        .arg(format!("{prefix}:{{c:{}}}", hash.to_hex()))
        .query_async(&mut raw().await)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_codes_key_expires_the_margin_past_the_code_and_redeeming_keeps_it() {
    let prefix = redis_prefix();
    let store = redis(&prefix).await;
    let t = now();
    let margin = RedisStore::SPENT_CODES_KEPT_FOR.as_secs();
    let hash = CodeHash::from_bytes([1; 32]);
    store.save(hash, code(t, t + 60)).await.unwrap();
    let expected = i64::try_from(t + 60 + margin).unwrap();
    assert_eq!(expire_time(&prefix, &hash).await, expected);
    assert!(matches!(
        store.redeem(&hash, "ses_1").await.unwrap(),
        Redemption::First(_)
    ));
    assert_eq!(
        expire_time(&prefix, &hash).await,
        expected,
        "a spent code is kept as long"
    );
    assert_eq!(
        store.purge(t + 10_000, 0).await.unwrap(),
        0,
        "purge is Redis's"
    );
    assert!(matches!(
        store.redeem(&hash, "ses_2").await.unwrap(),
        Redemption::Replayed { session_id, .. } if &*session_id == "ses_1"
    ));

    // A code that never expires is kept until the latest expiry Redis takes.
    let never = CodeHash::from_bytes([2; 32]);
    store.save(never, code(t, u64::MAX)).await.unwrap();
    assert_eq!(expire_time(&prefix, &never).await, LATEST_EXPIRY);

    // A code whose margin is already over on the server's clock is gone at once.
    let over = CodeHash::from_bytes([3; 32]);
    store
        .save(over, code(t - 2 * margin, t - margin - 1))
        .await
        .unwrap();
    assert_eq!(
        store.redeem(&over, "ses_3").await.unwrap(),
        Redemption::Unknown
    );
}

#[tokio::test]
async fn a_taken_code_hash_is_refused_and_the_code_stays_spent() {
    let prefix = redis_prefix();
    let store = redis(&prefix).await;
    let t = now();
    let hash = CodeHash::from_bytes([9; 32]);
    store.save(hash, code(t, t + 60)).await.unwrap();
    assert!(matches!(
        store.redeem(&hash, "ses_1").await.unwrap(),
        Redemption::First(_)
    ));
    let error = store.save(hash, code(t, t + 60)).await.expect_err("taken");
    assert!(!error.to_string().contains(&hash.to_hex()), "{error}");
    assert!(matches!(
        store.redeem(&hash, "ses_2").await.unwrap(),
        Redemption::Replayed { session_id, .. } if &*session_id == "ses_1"
    ));
}

#[tokio::test]
async fn two_instances_share_codes_and_two_prefixes_do_not() {
    let prefix = redis_prefix();
    let (a, b) = (redis(&prefix).await, redis(&prefix).await);
    let elsewhere = redis(&redis_prefix()).await;
    let t = now();
    let hash = CodeHash::from_bytes([4; 32]);
    let issued = code(t, t + 60);
    a.save(hash, issued.clone()).await.unwrap();
    assert_eq!(
        elsewhere.redeem(&hash, "ses_other_app").await.unwrap(),
        Redemption::Unknown,
        "another prefix is another app"
    );
    assert_eq!(
        b.redeem(&hash, "ses_at_b").await.unwrap(),
        Redemption::First(issued.clone())
    );
    assert_eq!(
        a.redeem(&hash, "ses_at_a").await.unwrap(),
        Redemption::Replayed {
            code: issued,
            session_id: Arc::from("ses_at_b"),
        }
    );
}

#[tokio::test]
async fn the_key_holds_the_code_under_its_hash_and_nothing_else() {
    let prefix = redis_prefix();
    let store = redis(&prefix).await;
    let t = now();
    let hash = CodeHash::from_bytes([5; 32]);
    let issued = code(t, t + 60);
    store.save(hash, issued.clone()).await.unwrap();
    let key = format!("{prefix}:{{c:{}}}", hash.to_hex());
    let fields: Vec<String> = client::cmd("HKEYS")
        .arg(&key)
        .query_async(&mut raw().await)
        .await
        .unwrap();
    assert_eq!(fields, ["code"]);
    store.redeem(&hash, "ses_1").await.unwrap();
    let by: Option<String> = client::cmd("HGET")
        .arg(&key)
        .arg("by")
        .query_async(&mut raw().await)
        .await
        .unwrap();
    assert_eq!(by.as_deref(), Some("ses_1"));
}
