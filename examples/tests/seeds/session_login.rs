//! Seed 002: an API key (and an optional session id) for a 2-hour Bearer token, the same token
//! while it is valid, a new one for a new session id; scoped keys.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tower_api_auth::clock::ManualClock;

use crate::session_login_app::{demo, support::Stores};
use crate::{field, start};

#[tokio::test]
async fn session_login() {
    let clock = ManualClock::starting_now();
    let demo = demo(
        Stores::from_urls(None, None).await.unwrap(),
        Arc::new(clock.clone()),
    )
    .await
    .unwrap();
    let api_key = field(&demo.credentials, "api_key").to_owned();
    let read_only = field(&demo.credentials, "read_only_api_key").to_owned();
    let server = start(demo.router).await;
    let login = |body: Value| {
        let server = &server;
        async move {
            let reply = server.post_json("/auth/login", &body).await;
            assert_eq!(reply.status, 200, "{}", reply.text);
            reply.json()
        }
    };

    // Fetch a Bearer token.
    let first = login(json!({ "api_key": api_key })).await;
    let fields = crate::fields(&first);
    assert_eq!(fields, ["access_token", "expires_in", "token_type"]);
    assert_eq!(first["expires_in"], 7200, "2 hours");
    assert_eq!(first["token_type"], "Bearer");
    let token = first["access_token"].as_str().unwrap().to_owned();
    assert_eq!(
        server.get("/v1/reports").bearer(&token).send().await.status,
        200
    );

    // "If the current token is still valid, the endpoint will return the same token."
    clock.advance(Duration::from_secs(600));
    let again = login(json!({ "api_key": api_key })).await;
    assert_eq!(again["access_token"], token.as_str());
    assert_eq!(again["expires_in"], 7200 - 600);
    // "To force a new token, specify a unique session ID"; a known one returns its token.
    let worker = login(json!({ "api_key": api_key, "session_id": "worker-1" })).await;
    assert_ne!(worker["access_token"], token.as_str());
    let worker_again = login(json!({ "api_key": api_key, "session_id": "worker-1" })).await;
    assert_eq!(worker_again["access_token"], worker["access_token"]);
    let other = login(json!({ "api_key": api_key, "session_id": "worker-2" })).await;
    assert_ne!(other["access_token"], worker["access_token"]);
    // Bearer tokens are time-limited: after 2 hours a login gets a new one.
    clock.advance(Duration::from_secs(7200));
    let expired = server.get("/v1/reports").bearer(&token).send().await;
    assert_eq!(expired.status, 401);
    assert_eq!(expired.json()["error"]["code"], "token_expired");
    let fresh = login(json!({ "api_key": api_key })).await;
    assert_ne!(fresh["access_token"], token.as_str());
    assert_eq!(fresh["expires_in"], 7200);

    // Scoped API keys: a read-only key's token may read, not write.
    let reader = login(json!({ "api_key": read_only })).await;
    let reader = reader["access_token"].as_str().unwrap();
    assert_eq!(
        server.get("/v1/reports").bearer(reader).send().await.status,
        200
    );
    let write = server.post("/v1/reports").bearer(reader).send().await;
    assert_eq!(write.status, 403);
    assert_eq!(write.json()["error"]["code"], "insufficient_scope");
    let writer = fresh["access_token"].as_str().unwrap();
    assert_eq!(
        server
            .post("/v1/reports")
            .bearer(writer)
            .send()
            .await
            .status,
        200
    );
    // A wrong key gets no token.
    let wrong = server
        .post_json("/auth/login", &json!({ "api_key": "sk_live_nope" }))
        .await;
    assert_eq!(wrong.status, 400, "{}", wrong.text);
}
