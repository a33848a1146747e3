//! The token endpoints on the wire, over real HTTP: response shapes and headers, `/auth/verify`,
//! bodies and content types, HTTP Basic, error formats, and a failing store.
#![cfg(all(
    feature = "issuer",
    feature = "axum",
    any(feature = "aws-lc-rs", feature = "rust-crypto")
))]

use tower_api_auth_tests as common;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Router;
use serde_json::json;
use tower_api_auth::issuer::MemoryRefreshStore;
use tower_api_auth::{
    AuthLayer, api_key::ApiKeyHasher, endpoints::TokenEndpoints, error::ErrorFormat,
    issuer::MemoryClientStore, issuer::TokenService, scope::Scopes,
};

use common::lifecycle::*;
use common::serve;

#[tokio::test]
async fn responses_follow_rfc_6749_section_5_1() {
    let fx = Fixture::over_http().await;
    let reply = fx
        .server
        .post_json(
            "/v1/auth/login",
            &json!({ "username": ALICE, "password": ALICE_PASSWORD }),
        )
        .await;
    let grant = reply.assert_granted();
    let body = grant.body.as_object().unwrap();
    let keys: HashSet<&str> = body.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        HashSet::from([
            "access_token",
            "refresh_token",
            "token_type",
            "expires_in",
            "scope",
            "session_id"
        ]),
        "{body:?}"
    );
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    assert!(body["expires_in"].is_u64());
    assert_eq!(body["scope"], ALICE_SCOPES);

    // The 204 and the errors are not stored either.
    let logout = fx
        .server
        .post("/v1/auth/logout")
        .bearer(&grant.access_token)
        .send()
        .await;
    assert_eq!(logout.status, 204);
    assert_eq!(logout.header("cache-control"), Some("no-store"));
    let error = fx.refresh(grant.refresh()).await;
    error.assert_grant_error(400, "invalid_grant");
    assert_eq!(error.header("pragma"), Some("no-cache"));
}

#[tokio::test]
async fn verify_describes_the_token() {
    let fx = Fixture::over_http().await;
    let login = fx
        .login_with(json!({
            "username": ALICE, "password": ALICE_PASSWORD, "scope": "profile conversations:read"
        }))
        .await;
    let exp = payload(&login.access_token)["exp"].clone();
    let reply = fx
        .server
        .get("/v1/auth/verify")
        .bearer(&login.access_token)
        .send()
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    let body = reply.json();
    assert_eq!(body["authenticated"], true);
    assert_eq!(body["user_id"], ALICE_SUB);
    assert_eq!(body["scopes"], json!(["profile", "conversations:read"]));
    // RFC 3339, as the seed that documents this endpoint writes it.
    assert_eq!(
        body["expires_at"],
        tower_api_auth::clock::rfc3339(exp.as_u64().unwrap())
    );
    assert_eq!(body["method"], "jwt");
    assert_eq!(body["tenant"], "tn_a");

    let anonymous = fx.server.get("/v1/auth/verify").send().await;
    anonymous.assert_error(401, "missing_credentials");
    assert_eq!(anonymous.header("www-authenticate"), Some("Bearer"));
    let garbage = fx
        .server
        .get("/v1/auth/verify")
        .bearer("not.a.jwt")
        .send()
        .await;
    garbage.assert_error(401, "invalid_token");
    // A refresh token is no access token.
    let refresh = fx
        .server
        .get("/v1/auth/verify")
        .bearer(login.refresh())
        .send()
        .await;
    refresh.assert_error(401, "invalid_token");
    refresh.assert_no_leak(login.refresh());
}

#[tokio::test]
async fn malformed_bodies_and_content_types() {
    let fx = Fixture::with(Options {
        body_limit: Some(256),
        http: true,
        ..Options::default()
    })
    .await;
    let malformed = fx
        .server
        .post("/v1/auth/login")
        .raw("application/json", r#"{"username": "alice", "password": "#)
        .send()
        .await;
    let message = malformed.assert_grant_error(400, "invalid_request");
    assert!(message.contains("JSON"), "{message}");
    let wrong_shape = fx
        .server
        .post("/v1/auth/login")
        .raw("application/json", r#"{"username": 42, "password": []}"#)
        .send()
        .await;
    assert!(
        wrong_shape
            .assert_grant_error(400, "invalid_request")
            .contains("`username` must be a string")
    );
    let not_object = fx
        .server
        .post("/v1/auth/token")
        .raw("application/json", "[1,2,3]")
        .send()
        .await;
    not_object.assert_grant_error(400, "invalid_request");

    for content_type in [
        "text/plain",
        "multipart/form-data; boundary=x",
        "application/xml",
    ] {
        let reply = fx
            .server
            .post("/v1/auth/token")
            .raw(content_type, "grant_type=password")
            .send()
            .await;
        let message = reply.assert_grant_error(400, "invalid_request");
        assert!(
            message.contains("Content-Type"),
            "{content_type}: {message}"
        );
    }
    // Parameters of the media type are fine.
    let charset = fx
        .server
        .post("/v1/auth/login")
        .raw(
            "application/json; charset=utf-8",
            json!({ "username": ALICE, "password": ALICE_PASSWORD }).to_string(),
        )
        .send()
        .await;
    charset.assert_granted();

    // Over the limit: 413, on every endpoint that reads a body.
    let big = json!({ "username": ALICE, "password": "x".repeat(300) });
    for path in [
        "/v1/auth/login",
        "/v1/auth/token",
        "/v1/auth/refresh",
        "/v1/auth/revoke",
    ] {
        let reply = fx.server.post_json(path, &big).await;
        reply.assert_grant_error(413, "request_too_large");
    }
    // Just under the limit is read.
    let padding = 256
        - json!({ "username": ALICE, "password": ALICE_PASSWORD, "p": "" })
            .to_string()
            .len();
    let under = json!({ "username": ALICE, "password": ALICE_PASSWORD, "p": "y".repeat(padding) });
    assert_eq!(under.to_string().len(), 256);
    fx.server
        .post_json("/v1/auth/login", &under)
        .await
        .assert_granted();
}

#[tokio::test]
async fn the_layers_error_format_applies_to_the_token_endpoints_but_the_oauth_one() {
    let fx = Fixture::with(Options {
        error_format: Some(ErrorFormat::Flat),
        http: true,
        ..Options::default()
    })
    .await;
    let wrong = fx
        .server
        .post_json(
            "/v1/auth/login",
            &json!({ "username": ALICE, "password": "nope" }),
        )
        .await;
    assert_eq!(wrong.status, 400);
    assert_eq!(wrong.header("content-type"), Some("application/json"));
    assert_eq!(wrong.header("cache-control"), Some("no-store"));
    assert_eq!(
        wrong.json(),
        json!({ "error": "invalid_grant", "message": "The username or password is wrong" })
    );
    let unsupported = fx
        .server
        .post_form("/v1/auth/token", "grant_type=device_code")
        .await;
    // The OAuth token endpoint speaks RFC 6749 §5.2, which OAuth client libraries read, whatever
    // the API's own error format.
    assert_eq!(unsupported.status, 400);
    assert_eq!(
        unsupported.json(),
        json!({ "error": "unsupported_grant_type", "error_description": "The grant type is not supported" })
    );
    let client = fx
        .server
        .post("/v1/auth/token")
        .basic(CLIENT_ID, "wrong")
        .form("grant_type=client_credentials")
        .send()
        .await;
    assert_eq!(client.status, 401);
    assert_eq!(client.json()["error"], "invalid_client");
    assert!(
        client
            .header("www-authenticate")
            .unwrap()
            .starts_with("Basic")
    );
    let anonymous = fx.server.get("/v1/auth/verify").send().await;
    assert_eq!(anonymous.status, 401);
    assert_eq!(anonymous.json()["error"], "missing_credentials");
    let login = fx.login(ALICE, ALICE_PASSWORD).await;
    fx.refresh(login.refresh()).await.assert_granted();
    let reuse = fx.refresh(login.refresh()).await;
    assert_eq!(reuse.status, 400);
    assert_eq!(reuse.json()["error"], "invalid_grant");
    let revoked = fx.me(&login.access_token).await;
    assert_eq!(revoked.status, 401);
    assert_eq!(revoked.json()["error"], "token_revoked");
}

#[tokio::test]
async fn a_failing_store_answers_503_never_401_or_400() {
    let fx = Fixture::over_http().await;
    let login = fx.login(ALICE, ALICE_PASSWORD).await;
    fx.store.failing.store(true, Ordering::SeqCst);

    let replies = [
        (
            "login",
            fx.server
                .post_json(
                    "/v1/auth/login",
                    &json!({ "username": ALICE, "password": ALICE_PASSWORD }),
                )
                .await,
        ),
        (
            "token password",
            fx.server
                .post_form(
                    "/v1/auth/token",
                    &format!(
                        "grant_type=password&username={ALICE}&password={}",
                        form_value(ALICE_PASSWORD)
                    ),
                )
                .await,
        ),
        ("refresh", fx.refresh(login.refresh()).await),
        (
            "token refresh",
            fx.server
                .post_form(
                    "/v1/auth/token",
                    &format!("grant_type=refresh_token&refresh_token={}", login.refresh()),
                )
                .await,
        ),
        (
            "api key",
            fx.server
                .post_json("/v1/auth/token", &json!({ "api_key": fx.api_key }))
                .await,
        ),
        (
            "revoke",
            fx.server
                .post_json("/v1/auth/revoke", &json!({ "token": login.refresh() }))
                .await,
        ),
        (
            "logout",
            fx.server
                .post("/v1/auth/logout")
                .bearer(&login.access_token)
                .send()
                .await,
        ),
    ];
    for (what, reply) in &replies {
        assert_eq!(reply.status, 503, "{what}: {}", reply.text);
        let body = reply.json();
        let code = body["error"].get("code").unwrap_or(&body["error"]);
        assert_eq!(code, "auth_unavailable", "{what}");
        assert_eq!(reply.header("www-authenticate"), None, "{what}");
        assert_eq!(reply.header("cache-control"), Some("no-store"), "{what}");
        reply.assert_no_leak("refresh store is down");
    }

    // The store recovers: nothing was spent or ended by the failed calls.
    fx.store.failing.store(false, Ordering::SeqCst);
    assert_eq!(fx.me(&login.access_token).await.status, 200);
    fx.refresh(login.refresh()).await.assert_granted();

    // A password verifier that fails: 503 as well.
    fx.users_down.store(true, Ordering::SeqCst);
    let reply = fx
        .server
        .post_json(
            "/v1/auth/login",
            &json!({ "username": ALICE, "password": ALICE_PASSWORD }),
        )
        .await;
    reply.assert_grant_error(503, "auth_unavailable");
    reply.assert_no_leak("user database is down");
}

#[tokio::test]
async fn basic_client_credentials_are_form_decoded_and_sent_once() {
    // RFC 6749 §2.3.1: the id and secret are form-urlencoded before the Basic encoding.
    let clients = Arc::new(MemoryClientStore::new(ApiKeyHasher::default()));
    let client_id = "svc:reports+1";
    let secret = clients.register(client_id, Scopes::parse("reports:read").unwrap(), vec![]);
    let tokens =
        Arc::new(TokenService::new(hs256_issuer(), MemoryRefreshStore::new()).clients(clients));
    let auth = AuthLayer::builder()
        .jwt(tokens.validator())
        .build()
        .unwrap();
    let server = serve(Router::new().nest("/v1", TokenEndpoints::new(tokens).router(auth))).await;

    let grant = server
        .post("/v1/auth/token")
        .basic("svc%3Areports%2B1", &secret)
        .form("grant_type=client_credentials")
        .send()
        .await
        .assert_granted();
    assert_eq!(payload(&grant.access_token)["client_id"], client_id);

    // Unescaped, the `+` reads as a space: another client, refused.
    let reply = server
        .post("/v1/auth/token")
        .basic("svc%3Areports+1", &secret)
        .form("grant_type=client_credentials")
        .send()
        .await;
    reply.assert_grant_error(401, "invalid_client");

    // Two authentication methods in one request are malformed (RFC 6749 §2.3).
    let reply = server
        .post("/v1/auth/token")
        .basic("svc%3Areports%2B1", &secret)
        .form(&format!(
            "grant_type=client_credentials&client_secret={secret}"
        ))
        .send()
        .await;
    reply.assert_grant_error(400, "invalid_request");
    assert!(!reply.text.contains(&secret));
}

#[tokio::test]
async fn the_token_endpoints_can_answer_in_the_oauth_format() {
    let tokens = Arc::new(TokenService::new(hs256_issuer(), MemoryRefreshStore::new()));
    let auth = AuthLayer::builder()
        .jwt(tokens.validator())
        .build()
        .unwrap();
    let endpoints = TokenEndpoints::new(tokens).error_format(ErrorFormat::OAuth);
    let server = serve(Router::new().nest("/v1", endpoints.router(auth))).await;
    let reply = server
        .post_json(
            "/v1/auth/refresh",
            &json!({ "refresh_token": "rt_unknown" }),
        )
        .await;
    assert_eq!(reply.status, 400);
    assert_eq!(
        reply.json(),
        json!({
            "error": "invalid_grant",
            "error_description": "The refresh token is invalid, expired or revoked"
        })
    );
    assert_eq!(reply.header("cache-control"), Some("no-store"));
}

#[tokio::test]
async fn grant_errors_render_in_every_error_format_as_the_cores_own_did() {
    let message = "The username or password is wrong";
    let cases = [
        (
            ErrorFormat::Nested,
            "application/json",
            json!({ "error": { "code": "invalid_grant", "message": message } }),
        ),
        (
            ErrorFormat::UpperCase,
            "application/json",
            json!({ "error": { "code": "INVALID_GRANT", "message": message } }),
        ),
        (
            ErrorFormat::Flat,
            "application/json",
            json!({ "error": "invalid_grant", "message": message }),
        ),
        (
            ErrorFormat::OAuth,
            "application/json",
            json!({ "error": "invalid_grant", "error_description": message }),
        ),
        (
            ErrorFormat::Problem,
            "application/problem+json",
            json!({
                "type": "urn:tower-api-auth:error:invalid_grant",
                "title": "The grant is invalid, expired or revoked",
                "status": 400,
                "detail": message,
                "code": "invalid_grant",
            }),
        ),
    ];
    for (format, content_type, body) in cases {
        let fx = Fixture::with(Options {
            error_format: Some(format),
            body_limit: Some(256),
            http: true,
            ..Options::default()
        })
        .await;
        let wrong = fx
            .server
            .post_json(
                "/v1/auth/login",
                &json!({ "username": ALICE, "password": "nope" }),
            )
            .await;
        assert_eq!(wrong.status, 400, "{format:?}");
        assert_eq!(
            wrong.header("content-type"),
            Some(content_type),
            "{format:?}"
        );
        assert_eq!(wrong.header("www-authenticate"), None, "{format:?}");
        assert_eq!(wrong.json(), body, "{format:?}");

        let client = fx
            .server
            .post("/v1/auth/token")
            .basic(CLIENT_ID, "wrong")
            .form("grant_type=client_credentials")
            .send()
            .await;
        assert_eq!(client.status, 401, "{format:?}");
        assert_eq!(
            client.header("www-authenticate"),
            Some(r#"Basic realm="token""#),
            "{format:?}"
        );
        let too_large = fx
            .server
            .post_json("/v1/auth/token", &json!({ "password": "x".repeat(300) }))
            .await;
        assert_eq!(too_large.status, 413, "{format:?}");
        assert_eq!(too_large.header("www-authenticate"), None, "{format:?}");
        // The token endpoint's errors are RFC 6749 §5.2 in every format of the API.
        assert_eq!(
            client.json(),
            json!({ "error": "invalid_client", "error_description": "Client authentication failed" }),
            "{format:?}"
        );
        assert_eq!(
            too_large.json(),
            json!({ "error": "request_too_large", "error_description": "The request body is too large" }),
            "{format:?}"
        );
        // The others render in the API's format.
        let too_large = fx
            .server
            .post_json("/v1/auth/refresh", &json!({ "password": "x".repeat(300) }))
            .await;
        assert_eq!(too_large.status, 413, "{format:?}");
        if format == ErrorFormat::Problem {
            assert_eq!(too_large.json()["title"], "The request body is too large");
            assert_eq!(too_large.json()["code"], "request_too_large");
        }
    }

    // The layer's realm is the realm of the Basic challenge too.
    let clients = Arc::new(MemoryClientStore::new(ApiKeyHasher::default()));
    clients.register(CLIENT_ID, Scopes::parse(CLIENT_SCOPES).unwrap(), vec![]);
    let tokens = Arc::new(
        TokenService::new(
            hs256_issuer(),
            tower_api_auth::issuer::MemoryRefreshStore::new(),
        )
        .clients(clients),
    );
    let auth = AuthLayer::builder()
        .jwt(tokens.validator())
        .realm("billing")
        .build()
        .unwrap();
    let server = serve(Router::new().nest("/v1", TokenEndpoints::new(tokens).router(auth))).await;
    let reply = server
        .post("/v1/auth/token")
        .basic(CLIENT_ID, "wrong")
        .form("grant_type=client_credentials")
        .send()
        .await;
    reply.assert_grant_error(401, "invalid_client");
    assert_eq!(
        reply.header("www-authenticate"),
        Some(r#"Basic realm="billing""#)
    );
    let reply = server
        .post_json("/v1/auth/refresh", &json!({ "refresh_token": "rt_x" }))
        .await;
    reply.assert_grant_error(400, "invalid_grant");
}

/// The token router nests into an app whose router has a state of its own (`Router<AppState>`),
/// as axum's own routers do, and serves login there.
#[tokio::test]
async fn the_token_router_nests_into_an_app_with_state() {
    #[derive(Clone)]
    struct AppState {
        greeting: &'static str,
    }
    async fn hello(axum::extract::State(state): axum::extract::State<AppState>) -> &'static str {
        state.greeting
    }
    let issuer = hs256_issuer();
    let tokens =
        Arc::new(TokenService::new(issuer, MemoryRefreshStore::new()).passwords(Users::new()));
    let auth = AuthLayer::builder()
        .jwt(tokens.validator())
        .revocation(tokens.revocations())
        .build()
        .unwrap();
    let app: Router<AppState> = Router::new()
        .route("/hello", axum::routing::get(hello))
        .nest("/v1", TokenEndpoints::new(tokens).router(auth));
    let server = serve(app.with_state(AppState { greeting: "hi" })).await;
    let reply = server.get("/hello").send().await;
    assert_eq!((reply.status, reply.text.as_str()), (200, "hi"));
    server
        .post_json(
            "/v1/auth/login",
            &json!({ "username": ALICE, "password": ALICE_PASSWORD }),
        )
        .await
        .assert_granted();
}
