//! The seeds' refresh and login rules and the lifecycle bugs of issue 17, over real HTTP: the
//! non-rotating refresh policy, access tokens handed back while valid, custom logins, tokens that
//! never outlive what they were issued for, refresh tokens that cannot be forged around a known
//! prefix, and a logout that never answers 204 for what it did not end.
#![cfg(any(feature = "aws-lc-rs", feature = "rust-crypto"))]

use tower_api_auth_tests as common;

use std::time::Duration;

use serde_json::json;
use tower_api_auth::clock::Clock;
use tower_api_auth::issuer::{Account, Login, RefreshPolicy};
use tower_api_auth::scope::Scopes;

use common::lifecycle::*;

#[tokio::test]
async fn reuse_policy_keeps_one_refresh_token_until_the_session_ends() {
    let fx = Fixture::with(Options {
        refresh_policy: Some(RefreshPolicy::Reuse),
        idle_timeout: Some(Duration::from_secs(2)),
        http: true,
        ..Options::default()
    })
    .await;
    let login = fx.login(ALICE, ALICE_PASSWORD).await;
    let refresh = login.refresh().to_owned();
    for _ in 0..3 {
        // Each refresh is a use: the idle timer restarts, and the token stays the same.
        fx.clock.advance(Duration::from_secs(1));
        let next = fx.refresh(&refresh).await.assert_granted();
        assert_eq!(
            next.refresh_token, None,
            "no new refresh token: {}",
            next.body
        );
        assert_ne!(next.access_token, login.access_token);
        assert_eq!(fx.me(&next.access_token).await.status, 200);
    }
    // Idle for the timeout: over.
    fx.clock.advance(Duration::from_secs(2));
    fx.refresh(&refresh)
        .await
        .assert_grant_error(400, "invalid_grant");

    // Logout ends it, and its access tokens.
    let login = fx.login(ALICE, ALICE_PASSWORD).await;
    let next = fx.refresh(login.refresh()).await.assert_granted();
    let out = fx
        .server
        .post("/v1/auth/logout")
        .bearer(&next.access_token)
        .send()
        .await;
    assert_eq!(out.status, 204);
    fx.refresh(login.refresh())
        .await
        .assert_grant_error(400, "invalid_grant");
    fx.me(&login.access_token).await.assert_revoked();
}

#[tokio::test]
async fn rotate_policy_stays_the_default() {
    let fx = Fixture::over_http().await;
    let login = fx.login(ALICE, ALICE_PASSWORD).await;
    let next = fx.refresh(login.refresh()).await.assert_granted();
    assert_ne!(next.refresh(), login.refresh());
    fx.refresh(login.refresh())
        .await
        .assert_grant_error(400, "invalid_grant");
    fx.refresh(next.refresh())
        .await
        .assert_grant_error(400, "invalid_grant");
}

#[tokio::test]
async fn logins_hand_back_the_token_they_hold_while_it_is_valid() {
    let fx = Fixture::with(Options {
        reuse_access_tokens: true,
        http: true,
        ..Options::default()
    })
    .await;
    let with_key = |session: Option<&str>| {
        let mut body = json!({ "api_key": fx.api_key, "tenant": "tn_a" });
        if let Some(session) = session {
            body["session_id"] = json!(session);
        }
        body
    };
    let first = fx.login_with(with_key(None)).await;
    assert!(
        first.refresh_token.is_some(),
        "the first answer has the refresh token"
    );
    fx.clock.advance(Duration::from_secs(60));
    let again = fx.login_with(with_key(None)).await;
    assert_eq!(
        again.access_token, first.access_token,
        "the same token while valid"
    );
    assert_eq!(again.body["expires_in"], 900 - 60, "counting down");
    assert_eq!(
        again.refresh_token, None,
        "the client keeps the first refresh token"
    );
    assert_eq!(
        fx.store.started.lock().unwrap().len(),
        1,
        "no second session"
    );
    // Another scope or tenant is another token.
    let other = fx
        .login_with(json!({ "api_key": fx.api_key, "tenant": "tn_b" }))
        .await;
    assert_ne!(other.access_token, first.access_token);

    // A session name not seen before forces a fresh token; a known one returns its own.
    let a = fx.login_with(with_key(Some("worker-a"))).await;
    assert_ne!(a.access_token, first.access_token);
    let b = fx.login_with(with_key(Some("worker-b"))).await;
    assert_ne!(b.access_token, a.access_token);
    assert_eq!(
        fx.login_with(with_key(Some("worker-a"))).await.access_token,
        a.access_token
    );

    // Once it expires, or its session ends, a login gets a new one.
    let out = fx
        .server
        .post("/v1/auth/logout")
        .bearer(&a.access_token)
        .send()
        .await;
    assert_eq!(out.status, 204);
    let after_logout = fx.login_with(with_key(Some("worker-a"))).await;
    assert_ne!(after_logout.access_token, a.access_token);
    assert_eq!(fx.me(&after_logout.access_token).await.status, 200);
    fx.clock.advance(Duration::from_secs(900));
    let after_expiry = fx.login_with(with_key(None)).await;
    assert_ne!(after_expiry.access_token, first.access_token);

    // The credential is checked every time: a revoked key gets nothing back.
    assert!(fx.keys.inner.revoke(&fx.api_key_id));
    fx.server
        .post_json("/v1/auth/login", &with_key(None))
        .await
        .assert_grant_error(400, "invalid_grant");
}

#[tokio::test]
async fn a_login_the_app_verified_itself_is_a_session_like_any_other() {
    let fx = Fixture::over_http().await;
    // A magic link, checked by the app: no password, no verifier.
    let account = Account::new(
        "user_magic",
        Scopes::parse("profile conversations:read").unwrap(),
    );
    let pair = fx
        .tokens
        .login(
            Login::account(account)
                .scope("profile")
                .session_id("laptop"),
        )
        .await
        .unwrap();
    assert_eq!(pair.scope, "profile");
    let session = fx.store.last_session();
    assert_eq!(&*session.subject, "user_magic");
    assert!(
        session.slot.is_some(),
        "the session name is kept like a password login's"
    );
    let me = fx.me(&pair.access_token).await;
    assert_eq!(me.status, 200);
    assert_eq!(me.json()["principal"], "user_magic");
    // Its refresh tokens rotate with reuse detection, over the same endpoints.
    let refresh = pair.refresh_token.clone().unwrap();
    let next = fx.refresh(&refresh).await.assert_granted();
    fx.refresh(&refresh)
        .await
        .assert_grant_error(400, "invalid_grant");
    fx.refresh(next.refresh())
        .await
        .assert_grant_error(400, "invalid_grant");
    fx.me(&next.access_token).await.assert_revoked();
}

#[tokio::test]
async fn an_exchanged_token_never_outlives_its_api_key() {
    let fx = Fixture::over_http().await;
    // The key expires in 10 minutes: the exchanged token gets 10 minutes, not 15.
    let record = fx.keys.inner.get(&fx.api_key_id).unwrap();
    let key_end = fx.now() + 600;
    fx.keys
        .inner
        .insert((*record).clone().with_expires_at(key_end));
    let pair = fx.login_with(json!({ "api_key": fx.api_key })).await;
    assert_eq!(pair.body["expires_in"], 600);
    assert_eq!(payload(&pair.access_token)["exp"], key_end);
    // The key's end is brought forward after the exchange: the next refresh honours it.
    fx.clock.advance(Duration::from_secs(60));
    let sooner = fx.now() + 120;
    fx.keys
        .inner
        .insert((*record).clone().with_expires_at(sooner));
    let next = fx.refresh(pair.refresh()).await.assert_granted();
    assert_eq!(next.body["expires_in"], 120);
    assert_eq!(payload(&next.access_token)["exp"], sooner);
}

#[tokio::test]
async fn a_forged_refresh_token_ends_nothing() {
    let fx = Fixture::over_http().await;
    let login = fx.login(ALICE, ALICE_PASSWORD).await;
    let real = login.refresh().to_owned();
    let next = fx.refresh(&real).await.assert_granted();
    let current = next.refresh().to_owned();
    let parts: Vec<&str> = current.split('_').collect();
    let key = parts[3];
    assert_eq!(parts.len(), 4, "rt_<generation>_<secret>_<key>: {current}");
    let invented = "Q".repeat(43);
    let forgeries = [
        // What a log that shortens tokens shows, completed with made-up characters.
        format!("{}{}", &current[..25], "Q".repeat(current.len() - 25)),
        // The real session key with an invented secret: an earlier generation, the current one,
        // one not reached yet.
        format!("rt_0_{invented}_{key}"),
        format!("rt_1_{invented}_{key}"),
        format!("rt_7_{invented}_{key}"),
        // The current token's secret under another generation.
        format!("rt_0_{}_{key}", parts[2]),
        // The format of before.
        format!("rt_{}_1_{invented}", &key[..22]),
    ];
    for forged in &forgeries {
        let reply = fx.refresh(forged).await;
        reply.assert_grant_error(400, "invalid_grant");
        reply.assert_no_leak(&current);
        // RFC 7009 revocation of a made-up token is 200 too, and ends nothing either.
        let revoked = fx
            .server
            .post_json("/v1/auth/revoke", &json!({ "token": forged }))
            .await;
        assert_eq!(revoked.status, 200);
    }
    // The owner's session is untouched.
    assert_eq!(fx.me(&next.access_token).await.status, 200);
    let last = fx.refresh(&current).await.assert_granted();
    // While the token the server really issued and a rotation spent still ends the session.
    fx.refresh(&real)
        .await
        .assert_grant_error(400, "invalid_grant");
    fx.me(&last.access_token).await.assert_revoked();
}

#[tokio::test]
async fn under_the_reuse_policy_no_other_token_ends_the_session() {
    let fx = Fixture::with(Options {
        refresh_policy: Some(RefreshPolicy::Reuse),
        http: true,
        ..Options::default()
    })
    .await;
    let login = fx.login(ALICE, ALICE_PASSWORD).await;
    let refresh = login.refresh().to_owned();
    fx.refresh(&refresh).await.assert_granted();
    let key = refresh.rsplit('_').next().unwrap();
    for forged in [
        format!("rt_0_{}_{key}", "Q".repeat(43)),
        format!("rt_1_{}_{key}", "Q".repeat(43)),
    ] {
        fx.refresh(&forged)
            .await
            .assert_grant_error(400, "invalid_grant");
    }
    fx.refresh(&refresh).await.assert_granted();
}

#[tokio::test]
async fn reused_tokens_never_cross_credentials_scopes_or_tenants() {
    let fx = Fixture::with(Options {
        reuse_access_tokens: true,
        http: true,
        ..Options::default()
    })
    .await;
    // A second key of the same owner, read-only.
    let record = fx.keys.inner.get(&fx.api_key_id).unwrap();
    let (read_only, record) =
        tower_api_auth::api_key::ApiKeys::new(tower_api_auth::MemoryKeyStore::new())
            .generate()
            .with_record(|r| {
                r.with_owner(KEY_OWNER)
                    .with_tenants(record.tenants.clone())
                    .with_scopes(Scopes::parse("reports:read").unwrap())
            })
            .into_parts();
    fx.keys.inner.insert(record);
    let login = |key: &str, extra: serde_json::Value| {
        let mut body = json!({ "api_key": key, "tenant": "tn_a", "session_id": "worker-1" });
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        fx.login_with(body)
    };
    let writer = login(&fx.api_key, json!({})).await;
    assert_eq!(writer.scope, KEY_SCOPES);
    // The same owner and session name, another key: its own token, with its own scopes.
    let reader = login(&read_only, json!({})).await;
    assert_ne!(reader.access_token, writer.access_token);
    assert_eq!(reader.scope, "reports:read");
    assert_eq!(payload(&reader.access_token)["scope"], "reports:read");
    // A narrower scope or another tenant under the same name: a fresh token saying so.
    let narrow = login(&fx.api_key, json!({ "scope": "reports:read" })).await;
    assert_eq!(payload(&narrow.access_token)["scope"], "reports:read");
    let other_tenant = login(&fx.api_key, json!({ "tenant": "tn_b" })).await;
    assert_eq!(payload(&other_tenant.access_token)["tenant_id"], "tn_b");
    // The key's expiry brought forward: the kept token would outlive it, so a fresh one comes.
    let plain = fx
        .login_with(json!({ "api_key": fx.api_key, "tenant": "tn_a" }))
        .await;
    let record = fx.keys.inner.get(&fx.api_key_id).unwrap();
    fx.keys
        .inner
        .insert((*record).clone().with_expires_at(fx.now() + 60));
    let again = fx
        .login_with(json!({ "api_key": fx.api_key, "tenant": "tn_a" }))
        .await;
    assert_ne!(again.access_token, plain.access_token);
    assert_eq!(again.body["expires_in"], 60);
}

#[tokio::test]
async fn logout_with_an_opaque_token_is_refused() {
    let fx = Fixture::start().await;
    let identity =
        tower_api_auth::Identity::builder("user_x", tower_api_auth::AuthMethod::OpaqueToken)
            .token_id("opaque-jti")
            .expires_at(fx.now() + 300)
            .build();
    let error = fx.tokens.logout(&identity).await.unwrap_err();
    assert_eq!(error.code(), "invalid_request");
    assert!(error.message().contains("revoke it there"), "{error}");
}

#[tokio::test]
async fn logout_never_answers_done_for_what_it_did_not_end() {
    let fx = Fixture::with(Options {
        layer_api_keys: true,
        http: true,
        ..Options::default()
    })
    .await;
    // An API key has no session: 400 saying so, and the key is left as it was.
    let with_key = fx
        .server
        .post("/v1/auth/logout")
        .header("x-api-key", &fx.api_key)
        .header("x-tenant-id", "tn_a")
        .send()
        .await;
    let message = with_key.assert_grant_error(400, "invalid_request");
    assert!(message.contains("revoke the key"), "{message}");
    with_key.assert_no_leak(&fx.api_key);
    let still = fx
        .server
        .get("/v1/me")
        .header("x-api-key", &fx.api_key)
        .header("x-tenant-id", "tn_a")
        .send()
        .await;
    assert_eq!(still.status, 200, "{}", still.text);
    // A client-credentials token has no session but an id: it is revoked alone, and refused.
    let client = fx
        .server
        .post_form(
            "/v1/auth/token",
            &format!(
                "grant_type=client_credentials&client_id={CLIENT_ID}&client_secret={}",
                fx.client_secret
            ),
        )
        .await
        .assert_granted();
    let out = fx
        .server
        .post("/v1/auth/logout")
        .bearer(&client.access_token)
        .send()
        .await;
    assert_eq!(out.status, 204);
    fx.me(&client.access_token).await.assert_revoked();
    // A token with neither a session nor an id cannot be revoked: 400, not a silent 204.
    let now = fx.clock.now();
    let claims = json!({
        "iss": ISSUER, "aud": AUDIENCE, "sub": "user_external",
        "iat": now, "exp": now + 300,
    });
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.typ = Some("at+jwt".into());
    header.kid = Some("hs-1".into());
    let bare = jsonwebtoken::encode(
        &header,
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(SECRET),
    )
    .unwrap();
    assert_eq!(fx.me(&bare).await.status, 200, "the layer accepts it");
    let out = fx.server.post("/v1/auth/logout").bearer(&bare).send().await;
    let message = out.assert_grant_error(400, "invalid_request");
    assert!(message.contains("nothing to log out of"), "{message}");
}
