//! What the resource server tells the operator in its log: weak RSA keys and repeated `kid`s of a
//! JWK set (one warning per fetch, naming each), a failed discovery (naming the issuer), and a
//! flood of introspections beyond the limit in flight (one line, not one per request). Over real
//! HTTP against servers started here. And what the revocation feed says when its task is starved
//! by a runtime whose threads are blocked.
//!
//! A binary of its own, as `lifecycle_leaks`: it captures every log line of its thread, and
//! tracing's per-callsite interest cache is shared by the whole process.
#![cfg(all(feature = "remote", feature = "axum"))]
#![cfg(any(feature = "aws-lc-rs", feature = "rust-crypto"))]

use tower_api_auth_tests as common;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::{get, post};
use jsonwebtoken::Algorithm;
use jsonwebtoken::jwk::Jwk;
use serde_json::{Value, json};
use tokio::sync::{Notify, Semaphore};
use tower_api_auth::clock::{Clock, ManualClock};
use tower_api_auth::remote::{ClientAuth, Introspection, RemoteJwks};
use tower_api_auth::{AuthLayer, Identity};

use common::jwt::encoding_key;
use common::serve;

/// A 1024-bit RSA modulus: RFC 7518 §3.3 requires 2048 bits.
const WEAK_N: &str = "sz6_pT5u8zEYWFZZvTbr1JxBpdyUvNth49pj2sfkTHh70BtOx97lEmqBLzszNfroFsvypkhTlN4u9QXXnqmJBenNeQ3UYy4wieedJ9zs9T07fvhtR-Y2P4LR2az-NRyuviUfOJW3fNHNCAg1Us0SQtDI0fjT-znwLqLS1fld-ks";

fn jwk(alg: Algorithm, kid: &str) -> Value {
    let mut jwk = Jwk::from_encoding_key(&encoding_key(alg), alg).expect("jwk");
    jwk.common.key_id = Some(kid.to_owned());
    serde_json::to_value(jwk).expect("jwk json")
}

/// The lines of `text` at WARN level that contain `message`.
fn warnings(text: &str, message: &str) -> Vec<String> {
    text.lines()
        .filter(|line| line.contains(" WARN ") && line.contains(message))
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn weak_rsa_keys_and_repeated_kids_are_skipped_with_one_warning_per_fetch() {
    let weak = json!({ "kty": "RSA", "kid": "weak", "alg": "RS256", "e": "AQAB", "n": WEAK_N });
    let document =
        json!({ "keys": [jwk(Algorithm::ES256, "k1"), weak, jwk(Algorithm::ES256, "k1")] });
    let server = serve(Router::new().route(
        "/jwks",
        get(move || {
            let document = document.clone();
            async move { axum::Json(document) }
        }),
    ))
    .await;
    let (logs, _guard) = common::capture_logs();
    let keys = RemoteJwks::builder(format!("{}/jwks", server.base()))
        .load()
        .await
        .unwrap();
    let status = keys.status();
    assert_eq!((status.keys, status.skipped), (1, 2));
    let first = warnings(&logs.text(), "JWK set: keys skipped");
    assert_eq!(first.len(), 1, "{}", logs.text());
    assert!(
        first[0].contains("JWK weak: skipped, an RSA key of 1024 bits"),
        "{}",
        first[0]
    );
    assert!(first[0].contains(r#"share the kid "k1""#), "{}", first[0]);
    // The next fetch of the document (no ETag here, so read again) says it again, once.
    keys.refresh().await.unwrap();
    assert_eq!(
        warnings(&logs.text(), "JWK set: keys skipped").len(),
        2,
        "{}",
        logs.text()
    );
}

#[tokio::test]
async fn a_failed_discovery_is_logged_with_the_issuer() {
    let nothing = serve(Router::new()).await;
    let (logs, _guard) = common::capture_logs();
    let issuer = format!("{}/realms/nowhere", nothing.base());
    let error = RemoteJwks::discover(&issuer)
        .timeout(Duration::from_millis(500))
        .load()
        .await
        .unwrap_err();
    let text = logs.text();
    let failed = warnings(&text, "JWK set fetch failed");
    assert_eq!(failed.len(), 1, "{error}: {text}");
    assert!(
        failed[0].contains(&format!("source={issuer}")),
        "{}",
        failed[0]
    );
}

/// An introspection endpoint that answers every token active, once `gate` lets it.
struct Provider {
    gate: Semaphore,
    arrived: Notify,
    exp: u64,
}

#[tokio::test]
async fn too_many_introspections_in_flight_are_503_with_one_warning_for_a_flood() {
    let clock = ManualClock::starting_now();
    let provider = Arc::new(Provider {
        gate: Semaphore::new(0),
        arrived: Notify::new(),
        exp: clock.now() + 600,
    });
    let idp = serve(Router::new().route(
        "/introspect",
        post({
            let provider = Arc::clone(&provider);
            move || async move {
                provider.arrived.notify_one();
                let _turn = provider.gate.acquire().await;
                axum::Json(json!({ "active": true, "sub": "someone", "exp": provider.exp }))
            }
        }),
    ))
    .await;
    let introspection = Introspection::builder(
        format!("{}/introspect", idp.base()),
        ClientAuth::basic("rs", "s"),
    )
    .clock(clock.clone())
    .max_concurrent(1)
    .timeout(Duration::from_millis(300))
    .build()
    .unwrap();
    let layer = AuthLayer::builder()
        .opaque_tokens(introspection)
        .clock(clock.clone())
        .build()
        .unwrap();
    let app = Router::new()
        .route(
            "/me",
            get(|identity: Identity| async move { identity.principal().to_owned() }),
        )
        .layer(layer);
    let server = serve(app).await;
    let (logs, _guard) = common::capture_logs();
    let status = |token: String| {
        let server = server.clone();
        async move { server.get("/me").bearer(&token).send().await.status }
    };

    // One introspection holds the only turn at the provider…
    let arrived = provider.arrived.notified();
    let held = tokio::spawn(status("held".to_owned()));
    arrived.await;
    // …and a flood of random opaque tokens finds none: every one 503, one line for all.
    let mut flood = tokio::task::JoinSet::new();
    for i in 0..6 {
        flood.spawn(status(format!("random-{i}")));
    }
    while let Some(answer) = flood.join_next().await {
        assert_eq!(answer.unwrap(), 503);
    }
    // (The held call times out at the provider too, so one of the flood may get the turn and
    // time out there instead: 503 either way, and still one line for the others.)
    let text = logs.text();
    let busy = warnings(&text, "too many requests in flight");
    assert_eq!(busy.len(), 1, "{text}");
    assert!(busy[0].contains("refused=1"), "{}", busy[0]);
    provider.gate.add_permits(10);
    held.await.unwrap();
}

/// A runtime thread held by code that does not yield (played by moving paused time on while the
/// feed's task cannot run) delays the feed's resync: one warning names the cause, at most once a
/// minute, while a healthy runtime's resyncs say nothing.
#[cfg(feature = "fleet")]
#[tokio::test(start_paused = true)]
async fn a_starved_feed_task_says_why_once_a_minute() {
    use tower_api_auth::fleet::{MemoryFeedStore, RevocationFeed};
    let (logs, _guard) = common::capture_logs();
    let feed = RevocationFeed::builder(MemoryFeedStore::new())
        .resync_every(Duration::from_millis(50))
        .start();
    feed.synced().await;
    let starved = || warnings(&logs.text(), "the revocation feed's task ran late");
    // Healthy: twenty resyncs on time.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(starved().is_empty(), "{}", logs.text());

    // The clock jumps 3 s while the task waits for its tick, as it does when a blocking call
    // holds the runtime's only thread.
    tokio::time::advance(Duration::from_secs(3)).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let lines = starved();
    assert_eq!(lines.len(), 1, "{}", logs.text());
    assert!(
        lines[0].contains("spawn_blocking") && lines[0].contains("max_staleness_secs=30"),
        "{}",
        lines[0]
    );

    tokio::time::advance(Duration::from_secs(3)).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(starved().len(), 1, "at most once a minute");
    tokio::time::sleep(Duration::from_secs(60)).await;
    tokio::time::advance(Duration::from_secs(3)).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(starved().len(), 2, "again after a minute");
    drop(feed);
}

/// A feed store whose snapshots take 2 s (a slow database), written outside the crate.
#[cfg(feature = "fleet")]
#[derive(Clone)]
struct SlowSnapshots(tower_api_auth::fleet::MemoryFeedStore);

#[cfg(feature = "fleet")]
impl tower_api_auth::store::FeedStore for SlowSnapshots {
    type Subscription =
        <tower_api_auth::fleet::MemoryFeedStore as tower_api_auth::store::FeedStore>::Subscription;

    async fn publish(
        &self,
        event: &tower_api_auth::store::FeedEvent,
    ) -> Result<(), tower_api_auth::store::StoreError> {
        self.0.publish(event).await
    }

    async fn subscribe(&self) -> Result<Self::Subscription, tower_api_auth::store::StoreError> {
        self.0.subscribe().await
    }

    async fn snapshot(
        &self,
        now: u64,
    ) -> Result<Vec<tower_api_auth::store::FeedEvent>, tower_api_auth::store::StoreError> {
        tokio::time::sleep(Duration::from_secs(2)).await;
        self.0.snapshot(now).await
    }
}

/// A slow store holds the feed's task in its own calls: that is no blocked runtime, and the
/// starvation warning stays silent.
#[cfg(feature = "fleet")]
#[tokio::test(start_paused = true)]
async fn a_slow_store_is_not_taken_for_a_starved_runtime() {
    use tower_api_auth::fleet::{MemoryFeedStore, RevocationFeed};
    let (logs, _guard) = common::capture_logs();
    let feed = RevocationFeed::builder(SlowSnapshots(MemoryFeedStore::new()))
        .resync_every(Duration::from_millis(50))
        .start();
    feed.synced().await;
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert!(
        warnings(&logs.text(), "the revocation feed's task ran late").is_empty(),
        "{}",
        logs.text()
    );
    drop(feed);
}
