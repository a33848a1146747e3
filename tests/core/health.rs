//! Readiness (`health::Readiness`): 200 while every part it checks is ready, 503 naming the part
//! that is not (the revocation feed past its staleness bound, a key store that fails or hangs, a
//! check of the app's own), with a JSON body and no secret; reports reused for `cache_for`; the
//! same service on hyper without axum. The remote parts' readiness is tested in `remote.rs`.
#![cfg(all(feature = "health", feature = "fleet", feature = "axum"))]

use tower_api_auth_tests as common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use serde_json::{Value, json};
use tower::ServiceExt as _;
use tower_api_auth::MemoryKeyStore;
use tower_api_auth::api_key::KeyRecord;
use tower_api_auth::clock::ManualClock;
use tower_api_auth::fleet::{MemoryFeedStore, RevocationFeed};
use tower_api_auth::health::Readiness;
use tower_api_auth::store::{FeedEvent, FeedStore, KeyProvider, Lookup, StoreError};

use common::serve;

/// `GET /ready` of a server whose only route is `readiness`: the status and the JSON body.
async fn ready(readiness: &Readiness) -> (u16, Value) {
    let server = serve(Router::new().route_service("/ready", readiness.clone())).await;
    let reply = server.get("/ready").send().await;
    assert_eq!(reply.headers["content-type"], "application/json");
    assert_eq!(reply.headers["cache-control"], "no-store");
    (reply.status, serde_json::from_str(&reply.text).unwrap())
}

/// A feed store that can be switched off, written outside the crate.
#[derive(Clone)]
struct Switchable {
    inner: MemoryFeedStore,
    up: Arc<AtomicBool>,
}

impl Switchable {
    fn check(&self) -> Result<(), StoreError> {
        if self.up.load(Ordering::SeqCst) {
            Ok(())
        } else {
            Err(StoreError::new("feed store down"))
        }
    }
}

impl FeedStore for Switchable {
    type Subscription = <MemoryFeedStore as FeedStore>::Subscription;

    async fn publish(&self, event: &FeedEvent) -> Result<(), StoreError> {
        self.check()?;
        self.inner.publish(event).await
    }

    async fn subscribe(&self) -> Result<Self::Subscription, StoreError> {
        self.check()?;
        self.inner.subscribe().await
    }

    async fn snapshot(&self, now: u64) -> Result<Vec<FeedEvent>, StoreError> {
        self.check()?;
        self.inner.snapshot(now).await
    }
}

#[tokio::test]
async fn the_feed_is_ready_until_it_is_past_its_staleness_bound_and_again_once_it_resyncs() {
    let store = Switchable {
        inner: MemoryFeedStore::new(),
        up: Arc::new(AtomicBool::new(true)),
    };
    let clock = ManualClock::starting_now();
    let feed = RevocationFeed::builder(store.clone())
        .clock(clock.clone())
        .max_staleness(Duration::from_secs(30))
        .resync_every(Duration::from_millis(20))
        .start();
    feed.synced().await;
    let readiness = Readiness::new().cache_for(Duration::ZERO).feed(&feed);
    assert_eq!(
        ready(&readiness).await,
        (
            200,
            json!({"status": "ready", "checks": [{"name": "revocation_feed", "status": "ready"}]})
        )
    );

    store.up.store(false, Ordering::SeqCst);
    clock.advance(Duration::from_secs(29));
    assert_eq!(ready(&readiness).await.0, 200, "down, but within its bound");
    clock.advance(Duration::from_secs(2));
    let (status, body) = ready(&readiness).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["status"], "unavailable");
    let reason = body["checks"][0]["reason"].as_str().unwrap();
    assert!(reason.contains("staleness bound of 30 s"), "{reason}");

    store.up.store(true, Ordering::SeqCst);
    tokio::time::timeout(Duration::from_secs(10), feed.synced())
        .await
        .expect("the feed resyncs");
    assert_eq!(
        ready(&readiness).await.0,
        200,
        "recovered without a restart"
    );
}

/// A key store whose lookups fail or never answer, as a database that is down or partitioned.
struct Broken {
    hang: bool,
}

impl KeyProvider for Broken {
    fn lookup(&self, _: &str) -> Lookup<Option<Arc<KeyRecord>>> {
        if self.hang {
            Lookup::pending(std::future::pending())
        } else {
            Lookup::Ready(Err(StoreError::new(
                "connection to postgres://app:s3cret@db.internal refused",
            )))
        }
    }
}

#[tokio::test]
async fn a_key_store_that_fails_or_hangs_is_named_and_the_others_still_report() {
    let readiness = Readiness::new()
        .timeout(Duration::from_millis(100))
        .key_store("api_keys", MemoryKeyStore::new())
        .key_store("failing_keys", Broken { hang: false })
        .key_store("hanging_keys", Broken { hang: true })
        .check("database", || async { Ok(()) });
    let (status, body) = ready(&readiness).await;
    assert_eq!(status, 503, "{body}");
    assert!(!body.to_string().contains("s3cret"), "{body}");
    assert_eq!(
        body,
        json!({"status": "unavailable", "checks": [
            {"name": "api_keys", "status": "ready"},
            {"name": "failing_keys", "status": "unavailable",
             "reason": "the store's lookup failed (the log says why)"},
            {"name": "hanging_keys", "status": "unavailable", "reason": "no answer within 100ms"},
            {"name": "database", "status": "ready"},
        ]})
    );
    let report = readiness.report().await;
    assert!(!report.is_ready());
    assert_eq!(
        report.failing().collect::<Vec<_>>(),
        ["failing_keys", "hanging_keys"]
    );
}

#[tokio::test]
async fn no_check_is_ready_and_a_check_that_panics_is_not() {
    assert_eq!(
        ready(&Readiness::new()).await,
        (200, json!({"status": "ready", "checks": []}))
    );
    let readiness = Readiness::new().check("buggy", || async { panic!("a bug in a probe") });
    let (status, body) = ready(&readiness).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["checks"][0]["reason"], "the check failed");
}

#[tokio::test(start_paused = true)]
async fn a_report_is_reused_for_cache_for_and_concurrent_callers_share_one_run() {
    let runs = Arc::new(AtomicUsize::new(0));
    let counted = runs.clone();
    let readiness = Readiness::new()
        .cache_for(Duration::from_secs(1))
        .check("slow", move || {
            counted.fetch_add(1, Ordering::SeqCst);
            async {
                tokio::time::sleep(Duration::from_millis(50)).await;
                Ok(())
            }
        });
    let together: Vec<_> = (0..8)
        .map(|_| {
            let readiness = readiness.clone();
            tokio::spawn(async move { readiness.report().await.is_ready() })
        })
        .collect();
    for caller in together {
        assert!(caller.await.unwrap());
    }
    assert_eq!(runs.load(Ordering::SeqCst), 1, "eight callers, one run");
    tokio::time::advance(Duration::from_millis(900)).await;
    readiness.report().await;
    assert_eq!(runs.load(Ordering::SeqCst), 1, "reused within a second");
    tokio::time::advance(Duration::from_millis(200)).await;
    readiness.report().await;
    assert_eq!(runs.load(Ordering::SeqCst), 2, "run again after it");
}

#[tokio::test]
async fn readiness_is_a_plain_tower_service() {
    let readiness = Readiness::new().check("database", || async { Err("timed out".to_owned()) });
    let response = readiness
        .clone()
        .oneshot(axum::http::Request::new(()))
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    let body: Value = serde_json::from_str(response.body()).unwrap();
    assert_eq!(body["checks"][0]["reason"], "timed out");
    assert!(format!("{readiness:?}").contains("database"));
}

#[tokio::test]
async fn a_check_added_to_a_clone_makes_a_readiness_of_its_own() {
    let shared = Readiness::new().check("database", || async { Ok(()) });
    let stricter = shared
        .clone()
        .check("cache", || async { Err("down".to_owned()) });
    assert!(
        shared.report().await.is_ready(),
        "the original keeps its checks"
    );
    let report = stricter.report().await;
    assert_eq!(report.failing().collect::<Vec<_>>(), ["cache"]);
    assert_eq!(report.checks().len(), 2);
}

#[tokio::test(start_paused = true)]
async fn callers_that_arrive_during_a_run_share_it_even_without_a_cache() {
    let runs = Arc::new(AtomicUsize::new(0));
    let counted = runs.clone();
    let readiness = Readiness::new()
        .cache_for(Duration::ZERO)
        .timeout(Duration::from_secs(2))
        .check("hung", move || {
            counted.fetch_add(1, Ordering::SeqCst);
            std::future::pending::<Result<(), String>>()
        });
    let started = tokio::time::Instant::now();
    let call = || {
        let readiness = readiness.clone();
        tokio::spawn(async move { readiness.report().await.is_ready() })
    };
    // One caller starts the run; four more arrive while it hangs.
    let mut callers = vec![call()];
    tokio::task::yield_now().await;
    tokio::time::advance(Duration::from_millis(100)).await;
    callers.extend((0..4).map(|_| call()));
    for caller in callers {
        assert!(!caller.await.unwrap());
    }
    assert_eq!(
        runs.load(Ordering::SeqCst),
        1,
        "one run for five waiting callers"
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "nobody waited for a second run"
    );
    tokio::time::advance(Duration::from_millis(1)).await;
    readiness.report().await;
    assert_eq!(
        runs.load(Ordering::SeqCst),
        2,
        "a later caller runs the checks again"
    );
}
