//! Sessions: absolute lifetime and idle timeout (on a manual clock), logout, RFC 7009 revocation
//! and client-chosen session ids. In process.
#![cfg(all(
    feature = "issuer",
    feature = "axum",
    any(feature = "aws-lc-rs", feature = "rust-crypto")
))]

use tower_api_auth::issuer::Login;
use tower_api_auth_tests as common;

use std::time::Duration;

use serde_json::json;
use tower_api_auth::{
    Algorithm, issuer::AccessGrant, issuer::SigningKey, issuer::TokenIssuer, scope::Scopes,
};

use common::lifecycle::*;

// Times are whole unix seconds on the fixture's manual clock, moved by the tests: boundaries are
// exact, and nothing sleeps.

#[tokio::test]
async fn absolute_session_lifetime_is_not_extended_by_rotation() {
    let fx = Fixture::with(Options {
        session_ttl: Some(Duration::from_secs(2)),
        ..Options::default()
    })
    .await;
    let login = fx.login(ALICE, ALICE_PASSWORD).await;
    let session = fx.store.last_session();
    assert_eq!(session.created_at, fx.now());
    assert_eq!(session.expires_at - session.created_at, 2);
    // No access token outlives its session: 2 s left, not the 15 minutes of an access token.
    assert_eq!(login.body["expires_in"], 2);
    assert_eq!(payload(&login.access_token)["exp"], session.expires_at);
    fx.clock.advance(Duration::from_secs(1)); // 1 s after login: alive
    let rotated = fx.refresh(login.refresh()).await.assert_granted();
    assert_eq!(
        rotated.body["expires_in"], 1,
        "a refresh near the end gets what is left"
    );
    assert_eq!(payload(&rotated.access_token)["exp"], session.expires_at);
    fx.clock.advance(Duration::from_secs(1)); // 2 s after login: over, rotation or not
    let late = fx.refresh(rotated.refresh()).await;
    late.assert_grant_error(400, "invalid_grant");
}

#[tokio::test]
async fn idle_timeout_ends_an_unrefreshed_session() {
    let fx = Fixture::with(Options {
        idle_timeout: Some(Duration::from_secs(2)),
        ..Options::default()
    })
    .await;
    let login = fx.login(ALICE, ALICE_PASSWORD).await;
    assert_eq!(fx.store.last_session().idle_timeout, Some(2));
    fx.clock.advance(Duration::from_secs(1)); // 1 s idle
    let rotated = fx.refresh(login.refresh()).await.assert_granted();
    fx.clock.advance(Duration::from_secs(2)); // 2 s idle
    fx.refresh(rotated.refresh())
        .await
        .assert_grant_error(400, "invalid_grant");
}

#[tokio::test]
async fn refreshing_resets_the_idle_timer() {
    let fx = Fixture::with(Options {
        idle_timeout: Some(Duration::from_secs(2)),
        ..Options::default()
    })
    .await;
    let mut grant = fx.login(ALICE, ALICE_PASSWORD).await;
    // 3 s in all after the login, yet never more than 1 after a refresh.
    for _ in 0..3 {
        fx.clock.advance(Duration::from_secs(1));
        grant = fx.refresh(grant.refresh()).await.assert_granted();
    }
    assert_eq!(fx.me(&grant.access_token).await.status, 200);
}

#[tokio::test]
async fn logout_ends_one_session_only() {
    let fx = Fixture::start().await;
    let phone = fx.login(ALICE, ALICE_PASSWORD).await;
    let laptop = fx.login(ALICE, ALICE_PASSWORD).await;
    let bob = fx.login(BOB, BOB_PASSWORD).await;
    assert_ne!(phone.session_id, laptop.session_id);

    let logout = fx
        .server
        .post("/v1/auth/logout")
        .bearer(&phone.access_token)
        .send()
        .await;
    assert_eq!(logout.status, 204, "{}", logout.text);
    assert!(logout.text.is_empty());
    assert_eq!(logout.header("cache-control"), Some("no-store"));

    fx.me(&phone.access_token).await.assert_revoked();
    let reply = fx.me(&phone.access_token).await;
    assert!(
        reply
            .header("www-authenticate")
            .unwrap()
            .contains(r#"error="invalid_token""#)
    );
    fx.refresh(phone.refresh())
        .await
        .assert_grant_error(400, "invalid_grant");
    // Logging out again with the revoked token is refused by the layer.
    fx.server
        .post("/v1/auth/logout")
        .bearer(&phone.access_token)
        .send()
        .await
        .assert_revoked();

    // The other session of the same user, and the other user, are untouched.
    assert_eq!(fx.me(&laptop.access_token).await.status, 200);
    let next = fx.refresh(laptop.refresh()).await.assert_granted();
    assert_eq!(fx.me(&next.access_token).await.status, 200);
    assert_eq!(fx.me(&bob.access_token).await.status, 200);

    // Logging out with an older access token of a rotated session ends the session too.
    let logout = fx
        .server
        .post("/v1/auth/logout")
        .bearer(&laptop.access_token)
        .send()
        .await;
    assert_eq!(logout.status, 204);
    fx.me(&next.access_token).await.assert_revoked();
    fx.refresh(next.refresh())
        .await
        .assert_grant_error(400, "invalid_grant");

    // Without a token: 401 missing_credentials.
    let anonymous = fx.server.post("/v1/auth/logout").send().await;
    anonymous.assert_error(401, "missing_credentials");
    assert_eq!(anonymous.header("www-authenticate"), Some("Bearer"));
}

#[tokio::test]
async fn logout_of_a_client_credentials_token_revokes_that_token() {
    let fx = Fixture::start().await;
    let get = || async {
        fx.server
            .post("/v1/auth/token")
            .basic(CLIENT_ID, &fx.client_secret)
            .form("grant_type=client_credentials")
            .send()
            .await
            .assert_granted()
    };
    let (first, second) = (get().await, get().await);
    let logout = fx
        .server
        .post("/v1/auth/logout")
        .bearer(&first.access_token)
        .send()
        .await;
    assert_eq!(logout.status, 204);
    fx.me(&first.access_token).await.assert_revoked();
    assert_eq!(fx.me(&second.access_token).await.status, 200);
}

#[tokio::test]
async fn revoking_a_refresh_token_ends_its_session() {
    let fx = Fixture::start().await;
    let login = fx.login(ALICE, ALICE_PASSWORD).await;
    let rotated = fx.refresh(login.refresh()).await.assert_granted();
    let other = fx.login(ALICE, ALICE_PASSWORD).await;

    let reply = fx
        .server
        .post_form(
            "/v1/auth/revoke",
            &format!("token={}&token_type_hint=refresh_token", rotated.refresh()),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert!(reply.text.is_empty());
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    fx.refresh(rotated.refresh())
        .await
        .assert_grant_error(400, "invalid_grant");
    fx.me(&rotated.access_token).await.assert_revoked();
    fx.me(&login.access_token).await.assert_revoked();
    // Revoking again (a token of an ended session) is fine.
    let again = fx
        .server
        .post_json("/v1/auth/revoke", &json!({ "token": rotated.refresh() }))
        .await;
    assert_eq!(again.status, 200);

    // A spent refresh token of a live session also ends it.
    let spent_session = fx.login(BOB, BOB_PASSWORD).await;
    let current = fx.refresh(spent_session.refresh()).await.assert_granted();
    let reply = fx
        .server
        .post_json(
            "/v1/auth/revoke",
            &json!({ "token": spent_session.refresh() }),
        )
        .await;
    assert_eq!(reply.status, 200);
    fx.refresh(current.refresh())
        .await
        .assert_grant_error(400, "invalid_grant");
    fx.me(&current.access_token).await.assert_revoked();

    assert_eq!(fx.me(&other.access_token).await.status, 200);
    fx.refresh(other.refresh()).await.assert_granted();
}

#[tokio::test]
async fn revoking_an_access_token_refuses_just_that_token() {
    let fx = Fixture::start().await;
    let login = fx.login(ALICE, ALICE_PASSWORD).await;
    let reply = fx
        .server
        .post_form(
            "/v1/auth/revoke",
            &format!("token={}&token_type_hint=access_token", login.access_token),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    fx.me(&login.access_token).await.assert_revoked();
    // The session's refresh token still works and its new access token is accepted.
    let next = fx.refresh(login.refresh()).await.assert_granted();
    assert_eq!(fx.me(&next.access_token).await.status, 200);
}

#[tokio::test]
async fn revoking_unknown_tokens_is_fine_and_a_missing_token_is_not() {
    let fx = Fixture::start().await;
    let login = fx.login(ALICE, ALICE_PASSWORD).await;
    // A token of another issuer, a well-shaped unknown refresh token, garbage.
    let foreign = TokenIssuer::new(
        SigningKey::hmac(Algorithm::HS256, b"another-secret-of-at-least-32-bytes!!!").unwrap(),
        ISSUER,
    )
    .audience(AUDIENCE)
    .issue(
        &AccessGrant::new(ALICE_SUB, Scopes::empty())
            .with_session(login.session_id.clone().unwrap()),
        fx.now(),
    )
    .unwrap();
    let unknown_rt = format!("rt_{}_0_{}", "Z".repeat(22), "Z".repeat(43));
    for token in [foreign.token.as_str(), unknown_rt.as_str(), "garbage"] {
        let reply = fx
            .server
            .post_json("/v1/auth/revoke", &json!({ "token": token }))
            .await;
        assert_eq!(reply.status, 200, "{token}: {}", reply.text);
    }
    // None of that touched alice's session.
    assert_eq!(fx.me(&login.access_token).await.status, 200);
    fx.refresh(login.refresh()).await.assert_granted();

    for reply in [
        fx.server
            .post_form("/v1/auth/revoke", "token_type_hint=refresh_token")
            .await,
        fx.server
            .post_json("/v1/auth/revoke", &json!({ "token": "" }))
            .await,
        fx.server.post("/v1/auth/revoke").send().await,
    ] {
        let message = reply.assert_grant_error(400, "invalid_request");
        assert!(message.contains("token"), "{message}");
    }
}

#[tokio::test]
async fn the_same_session_id_replaces_the_previous_session() {
    let fx = Fixture::start().await;
    let login = |user: &'static str, password: &'static str, sid: Option<&'static str>| {
        let mut body = json!({ "username": user, "password": password });
        if let Some(sid) = sid {
            body["session_id"] = json!(sid);
        }
        fx.login_with(body)
    };
    let first = login(ALICE, ALICE_PASSWORD, Some("device-42")).await;
    let bob_same_name = login(BOB, BOB_PASSWORD, Some("device-42")).await;
    // Bob chose the same name: Alice's session is not his to end.
    assert_eq!(fx.me(&first.access_token).await.status, 200);
    let second = login(ALICE, ALICE_PASSWORD, Some("device-42")).await;
    assert_ne!(first.session_id, second.session_id);
    // The session id in the answer is the server's, not the client's name.
    assert!(first.session_id.as_deref().unwrap().starts_with("ses_"));

    fx.refresh(first.refresh())
        .await
        .assert_grant_error(400, "invalid_grant");
    fx.me(&first.access_token).await.assert_revoked();
    assert_eq!(fx.me(&second.access_token).await.status, 200);
    fx.refresh(second.refresh()).await.assert_granted();
    // Bob chose the same name: his session is his own.
    assert_eq!(fx.me(&bob_same_name.access_token).await.status, 200);
    fx.refresh(bob_same_name.refresh()).await.assert_granted();

    // The slot survives rotation: a new login in it ends the rotated session.
    let third = login(ALICE, ALICE_PASSWORD, Some("device-7")).await;
    let third_rotated = fx.refresh(third.refresh()).await.assert_granted();
    let fourth = login(ALICE, ALICE_PASSWORD, Some("device-7")).await;
    fx.refresh(third_rotated.refresh())
        .await
        .assert_grant_error(400, "invalid_grant");
    fx.me(&third_rotated.access_token).await.assert_revoked();
    assert_eq!(fx.me(&fourth.access_token).await.status, 200);

    // Without session_id: independent sessions.
    let a = login(ALICE, ALICE_PASSWORD, None).await;
    let b = login(ALICE, ALICE_PASSWORD, None).await;
    fx.refresh(a.refresh()).await.assert_granted();
    fx.refresh(b.refresh()).await.assert_granted();

    // The session_id is also honoured on the token endpoint.
    let form = |sid: &str| {
        format!(
            "grant_type=password&username={ALICE}&password={}&session_id={sid}",
            form_value(ALICE_PASSWORD)
        )
    };
    let t1 = fx
        .server
        .post_form("/v1/auth/token", &form("cli"))
        .await
        .assert_granted();
    let t2 = fx
        .server
        .post_form("/v1/auth/token", &form("cli"))
        .await
        .assert_granted();
    fx.me(&t1.access_token).await.assert_revoked();
    assert_eq!(fx.me(&t2.access_token).await.status, 200);

    // Malformed session ids (an empty one is omitted, RFC 6749 §3.2).
    for sid in [json!("has space"), json!("x".repeat(129))] {
        let reply = fx
            .server
            .post_json(
                "/v1/auth/login",
                &json!({ "username": ALICE, "password": ALICE_PASSWORD, "session_id": sid }),
            )
            .await;
        let message = reply.assert_grant_error(400, "invalid_request");
        assert!(message.contains("session_id"), "{message}");
    }
}

#[tokio::test]
async fn a_login_beyond_the_bound_ends_the_oldest_session_as_a_logout_does() {
    let fx = Fixture::with(Options {
        max_sessions_per_subject: Some(2),
        ..Options::default()
    })
    .await;
    let oldest = fx.login(ALICE, ALICE_PASSWORD).await;
    fx.clock.advance(Duration::from_secs(1));
    let middle = fx.login(ALICE, ALICE_PASSWORD).await;
    let bob = fx.login(BOB, BOB_PASSWORD).await;
    fx.clock.advance(Duration::from_secs(1));
    let newest = fx.login(ALICE, ALICE_PASSWORD).await;
    // The oldest of Alice's three is over: its refresh token fails, its access token is refused.
    fx.refresh(oldest.refresh())
        .await
        .assert_grant_error(400, "invalid_grant");
    fx.me(&oldest.access_token).await.assert_revoked();
    for live in [&middle, &newest, &bob] {
        assert_eq!(fx.me(&live.access_token).await.status, 200);
        fx.refresh(live.refresh()).await.assert_granted();
    }
    assert_eq!(fx.store.inner.len(), 3, "two of Alice's, one of Bob's");
}

#[tokio::test]
async fn a_subject_keeps_at_most_a_hundred_sessions_by_default() {
    let fx = Fixture::start().await;
    let first = fx.login(ALICE, ALICE_PASSWORD).await;
    for _ in 0..99 {
        fx.clock.advance(Duration::from_secs(1));
        fx.login(ALICE, ALICE_PASSWORD).await;
    }
    assert_eq!(fx.store.inner.len(), 100);
    fx.refresh(first.refresh()).await.assert_granted();
    fx.clock.advance(Duration::from_secs(1));
    let latest = fx.login(ALICE, ALICE_PASSWORD).await;
    assert_eq!(fx.store.inner.len(), 100, "the 101st login ends one");
    // A refresh does not make a session younger: the bound ends the one that started first.
    assert_eq!(fx.me(&first.access_token).await.status, 401);
    assert_eq!(fx.me(&latest.access_token).await.status, 200);
}

/// The issue's load: 30,000 logins of one user. The store holds the bound, not the logins.
#[tokio::test]
async fn thirty_thousand_logins_of_one_user_keep_the_store_bounded() {
    let fx = Fixture::start().await;
    for n in 0..30_000 {
        if n % 1_000 == 0 {
            fx.clock.advance(Duration::from_secs(1));
        }
        fx.tokens
            .login(Login::password(ALICE, ALICE_PASSWORD))
            .await
            .expect("login");
    }
    fx.tokens
        .login(Login::password(BOB, BOB_PASSWORD))
        .await
        .expect("login");
    assert_eq!(fx.store.inner.len(), 101, "Alice's hundred, and Bob's one");
}

#[tokio::test]
async fn sessions_end_after_fifteen_idle_days_by_default() {
    const DAY: u64 = 24 * 60 * 60;
    let fx = Fixture::start().await;
    let login = fx.login(ALICE, ALICE_PASSWORD).await;
    assert_eq!(fx.store.last_session().idle_timeout, Some(15 * DAY));
    assert_eq!(
        fx.store.last_session().expires_at - fx.now(),
        30 * DAY,
        "within the 30-day absolute lifetime"
    );
    fx.clock.advance(Duration::from_secs(15 * DAY - 1));
    let kept = fx.refresh(login.refresh()).await.assert_granted();
    fx.clock.advance(Duration::from_secs(15 * DAY));
    fx.refresh(kept.refresh())
        .await
        .assert_grant_error(400, "invalid_grant");
}

#[tokio::test]
async fn the_idle_timeout_can_be_switched_off() {
    let fx = Fixture::with(Options {
        idle_timeout: Some(Duration::MAX),
        ..Options::default()
    })
    .await;
    let login = fx.login(ALICE, ALICE_PASSWORD).await;
    assert_eq!(fx.store.last_session().idle_timeout, None);
    fx.clock.advance(Duration::from_secs(29 * 24 * 60 * 60));
    fx.refresh(login.refresh()).await.assert_granted();
}
