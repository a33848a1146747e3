//! Refresh-token rotation: reuse detection, races, the store's compare-and-swap, bounded memory,
//! outage-safe rotation and the reuse interval. In process, but for the race over HTTP.
#![cfg(all(
    feature = "issuer",
    feature = "axum",
    any(feature = "aws-lc-rs", feature = "rust-crypto")
))]

use tower_api_auth::issuer::Login;
use tower_api_auth_tests as common;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::json;
use tower_api_auth::clock::{Clock, ManualClock};
use tower_api_auth::issuer::MemoryRefreshStore;
use tower_api_auth::store::{RefreshStore, RefreshTokenHash, Rotation, Session};
use tower_api_auth::{issuer::TokenService, scope::Scopes, store::RevocationCheck};

use common::lifecycle::*;
use common::now;

#[tokio::test]
async fn rotation_then_reuse_revokes_the_whole_session() {
    let fx = Fixture::start().await;
    let first = fx.login(ALICE, ALICE_PASSWORD).await;
    let second = fx.refresh(first.refresh()).await.assert_granted();
    assert_ne!(second.refresh(), first.refresh());
    assert_ne!(second.access_token, first.access_token);
    assert_ne!(
        payload(&second.access_token)["jti"],
        payload(&first.access_token)["jti"]
    );
    assert_eq!(second.session_id, first.session_id);
    let third = fx.refresh(second.refresh()).await.assert_granted();
    for token in [&first, &second, &third] {
        assert_eq!(fx.me(&token.access_token).await.status, 200);
    }
    // An unrelated session of the same user.
    let other = fx.login(ALICE, ALICE_PASSWORD).await;

    // The first refresh token comes back: reuse.
    let reuse = fx.refresh(first.refresh()).await;
    reuse.assert_grant_error(400, "invalid_grant");
    reuse.assert_no_leak(first.refresh());
    reuse.assert_no_leak(third.refresh());

    // The newest refresh token is refused too, and so is every access token of the session.
    fx.refresh(third.refresh())
        .await
        .assert_grant_error(400, "invalid_grant");
    fx.refresh(second.refresh())
        .await
        .assert_grant_error(400, "invalid_grant");
    for token in [&first, &second, &third] {
        fx.me(&token.access_token).await.assert_revoked();
        let verify = fx
            .server
            .get("/v1/auth/verify")
            .bearer(&token.access_token)
            .send()
            .await;
        verify.assert_revoked();
    }
    // The other session lives on.
    assert_eq!(fx.me(&other.access_token).await.status, 200);
    fx.refresh(other.refresh()).await.assert_granted();
}

/// The memory store's records, lifetimes and compare-and-swap with explicit times: exact
/// boundaries, no sleeping.
#[tokio::test]
async fn memory_store_lifetimes_at_exact_boundaries() {
    let scopes = Scopes::parse("read").unwrap();
    // Absolute end 1010, idle 4: rotations at 1003, 1006, 1009 keep it alive; 1010 is the end.
    let session =
        Session::new("ses_timed", "user_1", scopes, 1_000, 1_010).with_idle_timeout(Some(4));
    let store = MemoryRefreshStore::new();
    assert_eq!(
        store
            .start(session.clone(), nth_hash(0), 100)
            .await
            .unwrap(),
        Vec::<Session>::new()
    );
    for (i, at) in [1_003, 1_006, 1_009].into_iter().enumerate() {
        let i = i as u8;
        let rotation = Rotation::new(u64::from(i), nth_hash(i), nth_hash(i + 1), at);
        assert!(
            store.rotate(&session.id, rotation).await.unwrap(),
            "rotation at {at}"
        );
        let stored = store.load(&session.id).await.unwrap().unwrap();
        assert_eq!(
            stored.session.expires_at, 1_010,
            "rotation never extends the end"
        );
        assert_eq!(
            (stored.generation, stored.current, stored.last_used),
            (u64::from(i) + 1, nth_hash(i + 1), at)
        );
        assert!(stored.alive(at));
    }
    let stored = store.load(&session.id).await.unwrap().unwrap();
    assert!(stored.alive(1_009));
    assert!(!stored.alive(1_010));

    // Idle: exactly `idle` seconds without a refresh ends it.
    let store = MemoryRefreshStore::new();
    store
        .start(session.clone(), nth_hash(10), 100)
        .await
        .unwrap();
    assert!(
        store
            .rotate(
                &session.id,
                Rotation::new(0, nth_hash(10), nth_hash(11), 1_003)
            )
            .await
            .unwrap()
    );
    let stored = store.load(&session.id).await.unwrap().unwrap();
    assert!(stored.alive(1_006));
    assert!(!stored.alive(1_007));

    // The compare-and-swap: another generation, another hash, or a second swap from the same
    // state, all fail and change nothing.
    let store = MemoryRefreshStore::new();
    store
        .start(session.clone(), nth_hash(20), 100)
        .await
        .unwrap();
    for stale in [
        Rotation::new(1, nth_hash(20), nth_hash(21), 1_001),
        Rotation::new(0, nth_hash(29), nth_hash(21), 1_001),
    ] {
        assert!(!store.rotate(&session.id, stale).await.unwrap());
    }
    assert!(
        store
            .rotate(
                &session.id,
                Rotation::new(0, nth_hash(20), nth_hash(21), 1_001)
            )
            .await
            .unwrap()
    );
    assert!(
        !store
            .rotate(
                &session.id,
                Rotation::new(0, nth_hash(20), nth_hash(22), 1_002)
            )
            .await
            .unwrap()
    );
    assert_eq!(
        store.load(&session.id).await.unwrap().unwrap().current,
        nth_hash(21)
    );
    assert!(
        !store
            .rotate(
                "ses_unknown",
                Rotation::new(0, nth_hash(20), nth_hash(22), 1_002)
            )
            .await
            .unwrap()
    );

    // Ending: once, and nothing rotates after.
    let store = MemoryRefreshStore::new();
    store
        .start(session.clone(), nth_hash(30), 100)
        .await
        .unwrap();
    assert_eq!(
        store.end(&session.id).await.unwrap().map(|s| s.id),
        Some(session.id.clone())
    );
    assert_eq!(store.end(&session.id).await.unwrap(), None);
    assert_eq!(store.load(&session.id).await.unwrap(), None);
    assert!(
        !store
            .rotate(
                &session.id,
                Rotation::new(0, nth_hash(30), nth_hash(31), 1_001)
            )
            .await
            .unwrap()
    );
    assert!(store.is_empty(), "an ended session is forgotten at once");

    // Slots: a new session in the same slot ends and returns the previous one.
    let store = MemoryRefreshStore::new();
    let a = session.clone().with_slot(Some("slot-1".into()));
    let mut b = a.clone();
    b.id = "ses_second".into();
    assert_eq!(
        store.start(a.clone(), nth_hash(40), 100).await.unwrap(),
        Vec::<Session>::new()
    );
    assert_eq!(
        store
            .start(b.clone(), nth_hash(41), 100)
            .await
            .unwrap()
            .into_iter()
            .map(|s| s.id)
            .collect::<Vec<_>>(),
        std::slice::from_ref(&a.id)
    );
    assert_eq!(store.load(&a.id).await.unwrap(), None);
    assert!(
        store
            .rotate(&b.id, Rotation::new(0, nth_hash(41), nth_hash(43), 1_001))
            .await
            .unwrap()
    );

    // Purging forgets sessions past their end, and nothing else.
    let store = MemoryRefreshStore::new();
    let session = session.with_idle_timeout(None);
    store
        .start(session.clone(), nth_hash(50), 100)
        .await
        .unwrap();
    let mut later = session.clone();
    later.id = "ses_later".into();
    // Another subject's: a login of the same subject may remove its sessions that are over.
    later.subject = "user_2".into();
    later.created_at = 2_000;
    later.expires_at = 2_010;
    store.start(later.clone(), nth_hash(51), 100).await.unwrap();
    assert_eq!(store.purge(1_009).await.unwrap(), 0);
    assert_eq!(store.len(), 2);
    assert_eq!(store.purge(2_001).await.unwrap(), 1);
    assert_eq!(store.load(&session.id).await.unwrap(), None);
    assert!(store.load(&later.id).await.unwrap().is_some());
    let debug = format!("{store:?}");
    assert!(debug.contains("sessions: 1"), "{debug}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn racing_refreshes_over_http_have_one_winner() {
    let fx = Fixture::over_http().await;
    let login = fx.login(ALICE, ALICE_PASSWORD).await;
    let refresh_token = Arc::new(login.refresh().to_owned());
    let barrier = Arc::new(tokio::sync::Barrier::new(32));
    let server = fx.server.clone();
    let mut tasks = Vec::new();
    for _ in 0..32 {
        let (server, token, barrier) = (server.clone(), refresh_token.clone(), barrier.clone());
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            server
                .post_json(
                    "/v1/auth/refresh",
                    &json!({ "refresh_token": token.as_str() }),
                )
                .await
        }));
    }
    let mut winners = Vec::new();
    let mut losers = 0;
    for task in tasks {
        let reply = task.await.unwrap();
        if reply.status == 200 {
            winners.push(reply.assert_granted());
        } else {
            reply.assert_grant_error(400, "invalid_grant");
            reply.assert_no_leak(&refresh_token);
            losers += 1;
        }
    }
    assert_eq!(winners.len(), 1, "exactly one refresh wins");
    assert_eq!(losers, 31);
    // The losers presented a spent token: reuse was detected and the session revoked, so the
    // winner's new pair is dead too.
    let winner = &winners[0];
    fx.refresh(winner.refresh())
        .await
        .assert_grant_error(400, "invalid_grant");
    fx.me(&winner.access_token).await.assert_revoked();
    fx.me(&login.access_token).await.assert_revoked();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn racing_refreshes_on_the_service_have_one_winner() {
    let store = TestStore::new();
    let tokens = Arc::new(TokenService::new(hs256_issuer(), store.clone()).passwords(Users::new()));
    let login = tokens
        .login(Login::password(ALICE, ALICE_PASSWORD))
        .await
        .unwrap();
    let refresh_token: Arc<str> = login.refresh_token.clone().unwrap().into();
    let mut tasks = Vec::new();
    for _ in 0..64 {
        let (tokens, token) = (tokens.clone(), refresh_token.clone());
        tasks.push(tokio::spawn(
            async move { tokens.refresh(&token, None).await },
        ));
    }
    let mut ok = Vec::new();
    for task in tasks {
        match task.await.unwrap() {
            Ok(pair) => ok.push(pair),
            Err(error) => assert_eq!(error.code(), "invalid_grant"),
        }
    }
    assert_eq!(ok.len(), 1);
    let winner = ok.pop().unwrap();
    let err = tokens
        .refresh(winner.refresh_token.as_deref().unwrap(), None)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "invalid_grant");
    let sid = login.session_id.as_deref().unwrap();
    assert!(
        tokens
            .revocations()
            .is_revoked(Some(sid), None, now())
            .unwrap()
    );
}

#[test]
fn racing_rotations_on_the_memory_store_have_one_winner() {
    let store = MemoryRefreshStore::new();
    let session = Session::new("ses_race", "user_1", Scopes::empty(), 1_000, 2_000);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime
        .block_on(store.start(session.clone(), nth_hash(0), 100))
        .unwrap();
    let outcomes: Vec<bool> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..64u8)
            .map(|i| {
                let (store, id) = (&store, &session.id);
                scope.spawn(move || {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .build()
                        .unwrap();
                    let rotation = Rotation::new(0, nth_hash(0), nth_hash(100 + i), 1_001);
                    runtime.block_on(store.rotate(id, rotation)).unwrap()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(
        outcomes.iter().filter(|won| **won).count(),
        1,
        "{outcomes:?}"
    );
    let stored = runtime.block_on(store.load(&session.id)).unwrap().unwrap();
    assert_eq!(stored.generation, 1);
}

// ---------------------------------------------------------------------------------------------
// Bounded memory, outage-safe rotation, the reuse interval
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "current_thread")]
async fn a_hundred_thousand_refreshes_leave_the_store_the_same_size() {
    let store = Arc::new(MemoryRefreshStore::new());
    let clock = ManualClock::at(1_800_000_000);
    let tokens = TokenService::new(hs256_issuer(), store.clone())
        .passwords(Users::new())
        .clock(clock.clone());
    let other = tokens
        .login(Login::password(BOB, BOB_PASSWORD))
        .await
        .unwrap();
    let login = tokens
        .login(Login::password(ALICE, ALICE_PASSWORD))
        .await
        .unwrap();
    let session_id = login.session_id.clone().unwrap();
    let size = (store.len(), format!("{store:?}"));
    assert_eq!(size.0, 2);
    let mut token = login.refresh_token.unwrap();
    for _ in 0..100_000 {
        token = tokens
            .refresh(&token, None)
            .await
            .unwrap()
            .refresh_token
            .unwrap();
    }
    assert_eq!((store.len(), format!("{store:?}")), size);
    let stored = store.load(&session_id).await.unwrap().unwrap();
    assert_eq!(stored.generation, 100_000);
    assert_eq!(stored.current, RefreshTokenHash::of(&token).unwrap());
    assert_eq!(stored.grace, None, "a strict service keeps no successor");
    // The other session is untouched, and the last token still works.
    tokens
        .refresh(other.refresh_token.as_deref().unwrap(), None)
        .await
        .unwrap();
    tokens.refresh(&token, None).await.unwrap();
}

#[tokio::test]
async fn ended_and_expired_sessions_are_purged_without_another_login() {
    let store = Arc::new(MemoryRefreshStore::new());
    let clock = ManualClock::at(1_800_000_000);
    let tokens = TokenService::new(hs256_issuer(), store.clone())
        .passwords(Users::new())
        .session_ttl(Duration::from_secs(3_600))
        .idle_timeout(Duration::from_secs(600))
        .clock(clock.clone());
    let login = |user, password| tokens.login(Login::password(user, password));
    let ended = login(ALICE, ALICE_PASSWORD).await.unwrap();
    let idle = login(ALICE, ALICE_PASSWORD).await.unwrap();
    let kept = login(BOB, BOB_PASSWORD).await.unwrap();
    assert_eq!(store.len(), 3);
    // Reuse ends a session: it is forgotten at once.
    let next = tokens
        .refresh(ended.refresh_token.as_deref().unwrap(), None)
        .await
        .unwrap();
    tokens
        .refresh(ended.refresh_token.as_deref().unwrap(), None)
        .await
        .unwrap_err();
    assert_eq!(store.len(), 2);
    tokens
        .refresh(next.refresh_token.as_deref().unwrap(), None)
        .await
        .unwrap_err();
    // Ten minutes on, `idle` is over; `kept` is refreshed just in time, and that call purges.
    clock.advance(Duration::from_secs(599));
    let kept = tokens
        .refresh(kept.refresh_token.as_deref().unwrap(), None)
        .await
        .unwrap();
    assert_eq!(store.len(), 2, "idle is not over yet");
    // Over now, but the store is purged at most once a minute.
    clock.advance(Duration::from_secs(1));
    let kept = tokens
        .refresh(kept.refresh_token.as_deref().unwrap(), None)
        .await
        .unwrap();
    assert_eq!(store.len(), 2, "purged a second ago");
    clock.advance(Duration::from_secs(59));
    let kept = tokens
        .refresh(kept.refresh_token.as_deref().unwrap(), None)
        .await
        .unwrap();
    assert_eq!(
        store.len(),
        1,
        "the idle session was purged by a refresh of another"
    );
    tokens
        .refresh(idle.refresh_token.as_deref().unwrap(), None)
        .await
        .unwrap_err();
    // Past the absolute end, the explicit purge forgets the last one.
    clock.advance(Duration::from_secs(3_600));
    assert_eq!(tokens.purge_sessions().await.unwrap(), 1);
    assert!(store.is_empty());
    tokens
        .refresh(kept.refresh_token.as_deref().unwrap(), None)
        .await
        .unwrap_err();
}

#[tokio::test]
async fn a_key_store_outage_during_a_refresh_leaves_the_token_valid() {
    let fx = Fixture::start().await;
    let pair = fx
        .server
        .post_json("/v1/auth/token", &json!({ "api_key": fx.api_key }))
        .await
        .assert_granted();
    fx.keys.down.store(true, Ordering::SeqCst);
    let reply = fx.refresh(pair.refresh()).await;
    reply.assert_grant_error(503, "auth_unavailable");
    reply.assert_no_leak("key store is down");
    // Twice: nothing was spent by the first failure.
    fx.refresh(pair.refresh())
        .await
        .assert_grant_error(503, "auth_unavailable");

    fx.keys.down.store(false, Ordering::SeqCst);
    let retried = fx.refresh(pair.refresh()).await.assert_granted();
    assert_eq!(retried.session_id, pair.session_id, "the same session");
    assert_eq!(fx.me(&pair.access_token).await.status, 200);
    assert_eq!(fx.me(&retried.access_token).await.status, 200);
    fx.refresh(retried.refresh()).await.assert_granted();
}

#[tokio::test]
async fn a_refresh_store_outage_at_the_swap_leaves_the_token_valid() {
    let fx = Fixture::start().await;
    let login = fx.login(ALICE, ALICE_PASSWORD).await;
    // Down from the start, or only when the new token is swapped in: nothing is spent either way.
    for failing in [&fx.store.failing, &fx.store.failing_rotations] {
        failing.store(true, Ordering::SeqCst);
        fx.refresh(login.refresh())
            .await
            .assert_grant_error(503, "auth_unavailable");
        failing.store(false, Ordering::SeqCst);
    }
    let next = fx.refresh(login.refresh()).await.assert_granted();
    assert_eq!(next.session_id, login.session_id);
    assert_eq!(fx.me(&next.access_token).await.status, 200);
    fx.refresh(next.refresh()).await.assert_granted();
}

/// 32 refreshes of one token at once, on the service; the successful answers.
async fn race(
    tokens: &Arc<TokenService>,
    refresh_token: &str,
) -> Vec<tower_api_auth::issuer::TokenResponse> {
    let barrier = Arc::new(tokio::sync::Barrier::new(32));
    let token: Arc<str> = Arc::from(refresh_token);
    let tasks: Vec<_> = (0..32)
        .map(|_| {
            let (tokens, token, barrier) = (tokens.clone(), token.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                tokens.refresh(&token, None).await
            })
        })
        .collect();
    let mut ok = Vec::new();
    for task in tasks {
        match task.await.unwrap() {
            Ok(pair) => ok.push(pair),
            Err(error) => assert_eq!(error.code(), "invalid_grant"),
        }
    }
    ok
}

fn service_with(
    store: TestStore,
    clock: &ManualClock,
    reuse_interval: Duration,
) -> Arc<TokenService> {
    Arc::new(
        TokenService::new(hs256_issuer(), store)
            .passwords(Users::new())
            .reuse_interval(reuse_interval)
            .clock(clock.clone()),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn with_a_reuse_interval_concurrent_refreshes_all_get_the_one_successor() {
    let (store, clock) = (TestStore::new(), ManualClock::at(1_800_000_000));
    let tokens = service_with(store.clone(), &clock, Duration::from_secs(2));
    let login = tokens
        .login(Login::password(ALICE, ALICE_PASSWORD))
        .await
        .unwrap();
    let first = login.refresh_token.clone().unwrap();

    let winners = race(&tokens, &first).await;
    assert_eq!(
        winners.len(),
        32,
        "every retry within the interval succeeds"
    );
    let successors: HashSet<&str> = winners
        .iter()
        .map(|pair| pair.refresh_token.as_deref().unwrap())
        .collect();
    assert_eq!(successors.len(), 1, "one successor for all");
    assert!(
        winners
            .iter()
            .all(|pair| pair.session_id == login.session_id)
    );
    let successor = successors.into_iter().next().unwrap().to_owned();
    // The successor is stored sealed, never as it is.
    let stored = store
        .inner
        .load(login.session_id.as_deref().unwrap())
        .await
        .unwrap()
        .unwrap();
    let sealed = stored.grace.expect("a grace is kept").sealed;
    assert!(
        !String::from_utf8_lossy(sealed.as_bytes()).contains(&successor[successor.len() - 43..])
    );
    assert_eq!(stored.grace.unwrap().until, 1_800_000_002);

    // Afterwards exactly one refresh token of the session works: the successor.
    clock.advance(Duration::from_secs(2));
    let next = tokens.refresh(&successor, None).await.unwrap();
    let sid = login.session_id.as_deref().unwrap();
    assert!(
        !tokens
            .revocations()
            .is_revoked(Some(sid), None, clock.now())
            .unwrap()
    );
    // The first token, past the interval: reuse, and the session ends.
    let error = tokens.refresh(&first, None).await.unwrap_err();
    assert_eq!(error.code(), "invalid_grant");
    assert!(
        tokens
            .revocations()
            .is_revoked(Some(sid), None, clock.now())
            .unwrap()
    );
    tokens
        .refresh(next.refresh_token.as_deref().unwrap(), None)
        .await
        .unwrap_err();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn without_a_reuse_interval_concurrent_refreshes_have_one_winner_and_end_the_session() {
    let (store, clock) = (TestStore::new(), ManualClock::at(1_800_000_000));
    let tokens = service_with(store.clone(), &clock, Duration::ZERO);
    let login = tokens
        .login(Login::password(ALICE, ALICE_PASSWORD))
        .await
        .unwrap();
    let winners = race(&tokens, login.refresh_token.as_deref().unwrap()).await;
    assert_eq!(winners.len(), 1, "exactly one refresh wins");
    // The others presented a spent token: reuse, and the session ended with the winner's pair.
    let sid = login.session_id.as_deref().unwrap();
    assert!(
        tokens
            .revocations()
            .is_revoked(Some(sid), None, clock.now())
            .unwrap()
    );
    assert_eq!(store.inner.load(sid).await.unwrap(), None);
    let error = tokens
        .refresh(winners[0].refresh_token.as_deref().unwrap(), None)
        .await
        .unwrap_err();
    assert_eq!(error.code(), "invalid_grant");
}

#[tokio::test]
async fn the_reuse_interval_forgives_only_the_token_just_replaced_and_only_for_its_time() {
    let fx = Fixture::with(Options {
        reuse_interval: Some(Duration::from_secs(30)),
        ..Options::default()
    })
    .await;
    // A lost answer: the retry gets the same successor and a working access token.
    let login = fx.login(ALICE, ALICE_PASSWORD).await;
    let next = fx.refresh(login.refresh()).await.assert_granted();
    fx.clock.advance(Duration::from_secs(29));
    let retry = fx.refresh(login.refresh()).await.assert_granted();
    assert_eq!(retry.refresh(), next.refresh());
    assert_ne!(retry.access_token, next.access_token);
    assert_eq!(fx.me(&retry.access_token).await.status, 200);
    // At the interval's end it is a reuse again: the session ends.
    fx.clock.advance(Duration::from_secs(1));
    fx.refresh(login.refresh())
        .await
        .assert_grant_error(400, "invalid_grant");
    fx.me(&retry.access_token).await.assert_revoked();
    fx.refresh(next.refresh())
        .await
        .assert_grant_error(400, "invalid_grant");

    // Two rotations within the interval: the token before the last one is a reuse.
    let login = fx.login(ALICE, ALICE_PASSWORD).await;
    let second = fx.refresh(login.refresh()).await.assert_granted();
    let third = fx.refresh(second.refresh()).await.assert_granted();
    assert_eq!(
        fx.refresh(second.refresh())
            .await
            .assert_granted()
            .refresh(),
        third.refresh()
    );
    fx.refresh(login.refresh())
        .await
        .assert_grant_error(400, "invalid_grant");
    fx.me(&third.access_token).await.assert_revoked();

    // A token of the previous generation with a made-up secret, even next to the session's real
    // key, is no token the server issued: it opens no successor and ends nothing.
    let login = fx.login(BOB, BOB_PASSWORD).await;
    let next = fx.refresh(login.refresh()).await.assert_granted();
    let key = login.refresh().rsplit('_').next().unwrap();
    let forged = format!("rt_0_{}_{key}", "F".repeat(43));
    fx.refresh(&forged)
        .await
        .assert_grant_error(400, "invalid_grant");
    fx.refresh(next.refresh()).await.assert_granted();
}
