//! Seed 003, RAG Chats: login with `access`/`refresh`/`user`, a non-rotating refresh answering
//! `{"access"}`, logout, API keys as Bearer tokens, and the flat error body.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tower_api_auth::clock::ManualClock;
use tower_api_auth_tests::servers::{postgres_database, redis_url, sqlite_url};

use crate::ragchats_app::{demo, support::Stores};
use crate::{field, start};

/// `travel`: move the clock to expire tokens. Not on shared stores: their revocation feed keeps
/// its freshness by the system clock, so a clock moved hours ahead makes it look stale (503).
async fn walk(stores: Stores, travel: bool) {
    let clock = ManualClock::starting_now();
    let demo = demo(stores, Arc::new(clock.clone())).await.unwrap();
    let email = field(&demo.credentials, "email").to_owned();
    let password = field(&demo.credentials, "password").to_owned();
    let api_key = field(&demo.credentials, "api_key").to_owned();
    let server = start(demo.router).await;

    // Step 1: login.
    let login = server
        .post_json(
            "/api/auth/login/",
            &json!({ "email": email, "password": password }),
        )
        .await;
    assert_eq!(login.status, 200, "{}", login.text);
    let body = login.json();
    let fields = crate::fields(&body);
    assert_eq!(fields, ["access", "refresh", "user"]);
    assert_eq!(
        body["user"],
        json!({
            "id": "123e4567-e89b-12d3-a456-426614174000",
            "email": "user@example.com",
            "firstName": "John",
            "lastName": "Doe"
        })
    );
    let access = body["access"].as_str().unwrap();
    let refresh = body["refresh"].as_str().unwrap();

    // Step 2: use the access token.
    assert_eq!(
        server
            .get("/api/agents/")
            .bearer(access)
            .send()
            .await
            .status,
        200
    );

    // Step 3: refresh — {"access"} only; the refresh token keeps working.
    if travel {
        clock.advance(Duration::from_secs(3600 + 120)); // access tokens expire after 1 hour
        let expired = server.get("/api/agents/").bearer(access).send().await;
        assert_eq!(expired.status, 401);
        let error = expired.json();
        assert_eq!(error["error"], "token_expired");
        assert!(error["message"].is_string());
        assert!(
            error["details"]["expired_at"]
                .as_str()
                .unwrap()
                .ends_with('Z'),
            "{error}"
        );
    }
    for _ in 0..3 {
        let next = server
            .post_json("/api/auth/token/refresh/", &json!({ "refresh": refresh }))
            .await;
        assert_eq!(next.status, 200, "{}", next.text);
        let next = next.json();
        assert_eq!(crate::fields(&next), ["access"]);
        let new_access = next["access"].as_str().unwrap();
        assert_eq!(
            server
                .get("/api/agents/")
                .bearer(new_access)
                .send()
                .await
                .status,
            200
        );
    }

    // API keys for agent operations, as Bearer tokens; a JWT's scopes do not reach them.
    let query = server
        .post("/api/agents/bot_1/query/")
        .bearer(&api_key)
        .json(&json!({ "message": "Hello" }))
        .send()
        .await;
    assert_eq!(query.status, 200, "{}", query.text);
    let fresh = server
        .post_json("/api/auth/token/refresh/", &json!({ "refresh": refresh }))
        .await
        .json();
    let fresh = fresh["access"].as_str().unwrap();
    let forbidden = server
        .post("/api/agents/bot_1/query/")
        .bearer(fresh)
        .send()
        .await;
    assert_eq!(forbidden.status, 403, "valid but lacks permission");
    assert_eq!(forbidden.json()["error"], "insufficient_scope");

    // Logout: both tokens stop working.
    let out = server.post("/api/auth/logout/").bearer(fresh).send().await;
    assert_eq!(out.status, 204, "{}", out.text);
    assert_eq!(
        server.get("/api/agents/").bearer(fresh).send().await.status,
        401
    );
    let after = server
        .post_json("/api/auth/token/refresh/", &json!({ "refresh": refresh }))
        .await;
    assert_eq!(after.status, 401, "{}", after.text);
    assert_eq!(
        after.json(),
        json!({ "error": "token_not_valid", "message": "Token is invalid or expired" })
    );

    // Refresh tokens last 7 days.
    let login = server
        .post_json(
            "/api/auth/login/",
            &json!({ "email": email, "password": password }),
        )
        .await
        .json();
    if travel {
        clock.advance(Duration::from_secs(7 * 24 * 3600));
        let late = server
            .post_json(
                "/api/auth/token/refresh/",
                &json!({ "refresh": login["refresh"] }),
            )
            .await;
        assert_eq!(late.status, 401, "{}", late.text);
    }
}

#[tokio::test]
async fn ragchats_in_memory() {
    walk(Stores::from_urls(None, None).await.unwrap(), true).await;
}

#[tokio::test]
async fn ragchats_on_postgres() {
    let stores = Stores::from_urls(Some(postgres_database().await), None);
    walk(stores.await.unwrap(), false).await;
}

#[tokio::test]
async fn ragchats_on_redis() {
    walk(
        Stores::from_urls(None, Some(redis_url())).await.unwrap(),
        false,
    )
    .await;
}

#[tokio::test]
async fn ragchats_on_sqlite() {
    walk(
        Stores::from_urls(Some(sqlite_url()), None).await.unwrap(),
        false,
    )
    .await;
}

/// `/api/openapi.json`, public, describes what the walk above exercises: JWTs and API keys (in
/// `X-API-Key` or as Bearer), no OAuth 2.0 flow (the token endpoint is disabled), the shaped
/// login and refresh, and each route's scope.
#[tokio::test]
async fn ragchats_serves_its_openapi_document() {
    let demo = demo(
        Stores::from_urls(None, None).await.unwrap(),
        Arc::new(ManualClock::starting_now()),
    )
    .await
    .unwrap();
    let server = start(demo.router).await;
    let reply = server.get("/api/openapi.json").send().await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let doc = reply.json();
    assert_eq!(doc["openapi"], "3.1.0");
    let schemes: Vec<&String> = doc["components"]["securitySchemes"]
        .as_object()
        .unwrap()
        .keys()
        .collect();
    assert_eq!(schemes, ["apiKey", "apiKeyBearer", "bearerJwt"]);
    let paths: Vec<&String> = doc["paths"].as_object().unwrap().keys().collect();
    assert_eq!(
        paths,
        [
            "/api/agents/",
            "/api/agents/{id}/query/",
            "/api/auth/login/",
            "/api/auth/logout/",
            "/api/auth/token/refresh/",
            "/oauth/introspect",
        ]
    );
    // The seed leaves RFC 7662 introspection on, at its default path, and the document says
    // so: it is served (a client without credentials is refused, not told 404).
    let introspect = server
        .post_json("/oauth/introspect", &json!({ "token": "t" }))
        .await;
    assert_eq!(introspect.status, 401, "{}", introspect.text);
    let login = &doc["paths"]["/api/auth/login/"]["post"];
    assert!(
        login["requestBody"]["content"]["application/json"]["schema"]["properties"]["email"]
            .is_object()
    );
    let schemas = &doc["components"]["schemas"];
    let answer: Vec<&String> = schemas["LoginResponse"]["properties"]
        .as_object()
        .unwrap()
        .keys()
        .collect();
    assert_eq!(answer, ["access", "refresh", "user"]);
    // The configured 401 token_not_valid of the refresh endpoint.
    assert!(doc["paths"]["/api/auth/token/refresh/"]["post"]["responses"]["401"].is_object());
    assert_eq!(
        doc["paths"]["/api/agents/{id}/query/"]["post"]["security"],
        json!([
            { "apiKey": ["agents:query"] },
            { "apiKeyBearer": ["agents:query"] },
            { "bearerJwt": ["agents:query"] },
        ])
    );
    assert_eq!(
        doc["paths"]["/api/auth/logout/"]["post"]["security"],
        json!([{ "apiKey": [] }, { "apiKeyBearer": [] }, { "bearerJwt": [] }])
    );
}
