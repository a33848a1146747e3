//! Seed 000, SilentChat: login, the access token, single-use refresh tokens, API keys with tenants.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tower_api_auth::clock::ManualClock;
use tower_api_auth_tests::lifecycle::payload;
use tower_api_auth_tests::servers::{postgres_database, redis_url, sqlite_url};

use crate::silentchat_app::{demo, support::Stores};
use crate::{field, start};

/// `travel`: move the clock to expire tokens. Not on shared stores: their revocation feed keeps
/// its freshness by the system clock, so a clock moved hours ahead makes it look stale (503).
async fn walk(stores: Stores, travel: bool) {
    let clock = ManualClock::starting_now();
    let demo = demo(stores, Arc::new(clock.clone())).await.unwrap();
    let (email, password) = (
        field(&demo.credentials, "email"),
        field(&demo.credentials, "password"),
    );
    let (api_key, tenant) = (
        field(&demo.credentials, "api_key"),
        field(&demo.credentials, "tenant"),
    );
    let server = start(demo.router.clone()).await;

    // Obtaining tokens: POST /v1/auth/login with email and password.
    let login = server
        .post_json(
            "/v1/auth/login",
            &json!({ "email": email, "password": password }),
        )
        .await;
    assert_eq!(login.status, 200, "{}", login.text);
    let body = login.json();
    assert_eq!(
        crate::fields(&body),
        ["access_token", "expires_in", "refresh_token", "token_type"]
    );
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(
        body["expires_in"], 900,
        "access tokens expire after 15 minutes"
    );
    let access = body["access_token"].as_str().unwrap();
    let claims = payload(access);
    assert_eq!(
        claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(),
        900
    );
    let refresh = body["refresh_token"].as_str().unwrap();

    // Using the access token.
    let conversations = server.get("/v1/conversations").bearer(access).send().await;
    assert_eq!(conversations.status, 200, "{}", conversations.text);
    let wrong = server
        .post_json(
            "/v1/auth/login",
            &json!({ "email": email, "password": "nope" }),
        )
        .await;
    assert_eq!(wrong.status, 400, "{}", wrong.text);
    // An invalid or expired token is 401.
    let bad = server
        .get("/v1/conversations")
        .bearer(&format!("{access}x"))
        .send()
        .await;
    assert_eq!(bad.status, 401);

    // "Access tokens expire after 15 minutes. When a token expires the API responds with 401."
    if travel {
        clock.advance(Duration::from_secs(16 * 60));
        let expired = server.get("/v1/conversations").bearer(access).send().await;
        assert_eq!(expired.status, 401);
        assert_eq!(expired.json()["error"]["code"], "token_expired");
    }

    // Refreshing ("before or after the access token expires"): the same shape, a new refresh token; the previous one is invalidated.
    let next = server
        .post_json("/v1/auth/refresh", &json!({ "refresh_token": refresh }))
        .await;
    assert_eq!(next.status, 200, "{}", next.text);
    let next = next.json();
    assert_eq!(
        crate::fields(&next),
        ["access_token", "expires_in", "refresh_token", "token_type"]
    );
    assert_ne!(next["refresh_token"], body["refresh_token"]);
    let new_access = next["access_token"].as_str().unwrap();
    assert_eq!(
        server
            .get("/v1/conversations")
            .bearer(new_access)
            .send()
            .await
            .status,
        200
    );
    // Single use: the old one again fails with 401 — the user must log in again.
    let again = server
        .post_json("/v1/auth/refresh", &json!({ "refresh_token": refresh }))
        .await;
    assert_eq!(again.status, 401, "{}", again.text);
    assert!(again.header("www-authenticate").is_some());
    let after = server
        .post_json(
            "/v1/auth/refresh",
            &json!({ "refresh_token": next["refresh_token"] }),
        )
        .await;
    assert_eq!(after.status, 401, "reuse ended the session");

    // API keys: X-API-Key with X-Tenant-ID.
    let with_key = server
        .get("/v1/conversations")
        .header("x-api-key", api_key)
        .header("x-tenant-id", tenant)
        .send()
        .await;
    assert_eq!(with_key.status, 200, "{}", with_key.text);
    assert_eq!(with_key.json()["tenant"], tenant);
    let no_tenant = server
        .get("/v1/conversations")
        .header("x-api-key", api_key)
        .send()
        .await;
    assert_eq!(no_tenant.status, 400);
    assert_eq!(no_tenant.json()["error"]["code"], "tenant_required");
    let other_tenant = server
        .get("/v1/conversations")
        .header("x-api-key", api_key)
        .header("x-tenant-id", "tn_other")
        .send()
        .await;
    assert_eq!(other_tenant.status, 403);

    // "Refresh tokens expire after 30 days" — not sooner for want of use.
    if travel {
        let login = server
            .post_json(
                "/v1/auth/login",
                &json!({ "email": email, "password": password }),
            )
            .await
            .json();
        clock.advance(Duration::from_secs(29 * 24 * 3600));
        let late = server
            .post_json(
                "/v1/auth/refresh",
                &json!({ "refresh_token": login["refresh_token"] }),
            )
            .await;
        assert_eq!(late.status, 200, "{}", late.text);
        clock.advance(Duration::from_secs(2 * 24 * 3600));
        let expired = server
            .post_json(
                "/v1/auth/refresh",
                &json!({ "refresh_token": late.json()["refresh_token"] }),
            )
            .await;
        assert_eq!(expired.status, 401, "{}", expired.text);
    }
}

#[tokio::test]
async fn silentchat_in_memory() {
    walk(Stores::from_urls(None, None).await.unwrap(), true).await;
}

#[tokio::test]
async fn silentchat_on_postgres() {
    let stores = Stores::from_urls(Some(postgres_database().await), None);
    walk(stores.await.unwrap(), false).await;
}

#[tokio::test]
async fn silentchat_on_redis() {
    walk(
        Stores::from_urls(None, Some(redis_url())).await.unwrap(),
        false,
    )
    .await;
}

#[tokio::test]
async fn silentchat_on_sqlite() {
    walk(
        Stores::from_urls(Some(sqlite_url()), None).await.unwrap(),
        false,
    )
    .await;
}
