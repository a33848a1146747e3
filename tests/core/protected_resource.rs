//! RFC 9728 over real HTTP: a client told 401 (or 403) finds the resource's metadata through the
//! challenge's `resource_metadata`, checks that it describes the resource it called (§3.3), and
//! finds the authorization server, whose RFC 8414 metadata names the token endpoint.
#![cfg(all(
    feature = "axum",
    feature = "issuer",
    any(feature = "aws-lc-rs", feature = "rust-crypto")
))]

use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use serde_json::Value;
use tower_api_auth::config::AuthConfig;
use tower_api_auth::endpoints::{ProtectedResource, TokenEndpoints};
use tower_api_auth::issuer::{
    Account, Login, MemoryRefreshStore, SigningKey, TokenIssuer, TokenService,
};
use tower_api_auth::resource_metadata::ProtectedResourceMetadata;
use tower_api_auth::scope::Scopes;
use tower_api_auth::{Algorithm, AuthLayer, Identity, RequireScopesLayer};

const SECRET: &[u8] = b"a-secret-of-at-least-thirty-two-bytes!!";

async fn me(identity: Identity) -> String {
    identity.principal().to_owned()
}

/// The `name="value"` parameter of a challenge.
fn param(challenge: &str, name: &str) -> Option<String> {
    let start = challenge.find(&format!("{name}=\""))? + name.len() + 2;
    let end = challenge[start..].find('"')? + start;
    Some(challenge[start..end].to_owned())
}

#[tokio::test]
async fn a_client_told_401_finds_the_authorization_server_by_itself() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let tokens = Arc::new(TokenService::new(
        TokenIssuer::new(
            SigningKey::hmac(Algorithm::HS256, SECRET).unwrap(),
            base.as_str(),
        ),
        MemoryRefreshStore::new(),
    ));
    let metadata = ProtectedResourceMetadata::new(format!("{base}/v1"))
        .authorization_server(base.as_str())
        .scopes(["conversations:read", "conversations:write"])
        .resource_name("Test API");
    let auth = AuthLayer::builder()
        .jwt(tokens.validator())
        .resource_metadata(metadata.url())
        .build()
        .unwrap();
    let endpoints = TokenEndpoints::new(tokens.clone());
    let app = Router::new()
        .merge(ProtectedResource::new(metadata).max_age(600).router())
        .merge(endpoints.well_known_router())
        .nest("/v1", endpoints.router(auth.clone()))
        .route(
            "/v1/conversations",
            get(me)
                .route_layer(RequireScopesLayer::all(["conversations:write"]))
                .route_layer(auth),
        );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let http = reqwest::Client::new();

    // 1. No token: 401, and the challenge says where to look.
    let response = http
        .get(format!("{base}/v1/conversations"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);
    let challenge = response.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    let url = param(&challenge, "resource_metadata").expect(&challenge);
    assert_eq!(
        url,
        format!("{base}/.well-known/oauth-protected-resource/v1")
    );

    // 2. The document: the resource it describes is the one whose well-known URL was fetched
    //    (§3.3), and it names the authorization server.
    let response = http.get(&url).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    assert_eq!(response.headers()["cache-control"], "public, max-age=600");
    let document: Value = response.json().await.unwrap();
    let resource = url.replace("/.well-known/oauth-protected-resource", "");
    assert_eq!(document["resource"], resource.as_str());
    assert_eq!(document["bearer_methods_supported"][0], "header");
    assert_eq!(document["scopes_supported"][1], "conversations:write");
    let authorization_server = document["authorization_servers"][0].as_str().unwrap();

    // 3. The authorization server's own metadata (RFC 8414) names its token endpoint.
    let as_metadata: Value = http
        .get(format!(
            "{authorization_server}/.well-known/oauth-authorization-server"
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(as_metadata["issuer"], authorization_server);
    assert_eq!(as_metadata["token_endpoint"], format!("{base}/auth/token"));

    // 4. A token without the route's scope: 403, and the same pointer in the challenge.
    let account = Account::new("user_1", Scopes::parse("conversations:read").unwrap());
    let token = tokens
        .login(Login::account(account))
        .await
        .unwrap()
        .access_token;
    let response = http
        .get(format!("{base}/v1/conversations"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 403);
    let challenge = response.headers()["www-authenticate"].to_str().unwrap();
    assert!(
        challenge.contains(r#"error="insufficient_scope""#),
        "{challenge}"
    );
    assert_eq!(param(challenge, "resource_metadata"), Some(url.clone()));

    // 5. Only GET and HEAD are served.
    let response = http.post(&url).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 405);
    let response = http.head(&url).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
}

#[tokio::test]
async fn the_challenge_parameter_comes_from_a_config_file_and_is_quoted_safely() {
    let config: AuthConfig = toml::from_str(
        r#"
        resource_metadata = "https://api.example.com/.well-known/oauth-protected-resource"
        [jwt]
        keys = [{ alg = "HS256", secret = "a-secret-of-at-least-thirty-two-bytes!!" }]
        "#,
    )
    .unwrap();
    let app = Router::new().route("/me", get(me).route_layer(config.build().unwrap()));
    let server = tower_api_auth_tests::serve(app).await;
    let reply = server.get("/me").bearer("not-a-jwt").send().await;
    assert_eq!(reply.status, 401);
    let challenge = reply.challenge().unwrap();
    assert!(
        challenge.starts_with(r#"Bearer error="invalid_token""#),
        "{challenge}"
    );
    assert!(
        challenge.ends_with(
            r#"resource_metadata="https://api.example.com/.well-known/oauth-protected-resource""#
        ),
        "{challenge}"
    );

    // A URL with a quote or a control character cannot break the header.
    let error = tower_api_auth::AuthError::new(tower_api_auth::AuthErrorKind::MissingCredentials)
        .with_resource_metadata("https://x.example/\"a\r\nb");
    let challenge = error.challenge().unwrap();
    assert_eq!(
        challenge.to_str().unwrap(),
        r#"Bearer resource_metadata="https://x.example/ab""#
    );
    // Not on a Basic challenge (RFC 9728 §5.1 is about Bearer).
    let basic = tower_api_auth::AuthError::custom(
        "invalid_client",
        http::StatusCode::UNAUTHORIZED,
        "Client authentication failed",
    )
    .with_challenge("Basic")
    .with_resource_metadata("https://x.example/m");
    assert_eq!(basic.challenge().unwrap(), "Basic");
}
