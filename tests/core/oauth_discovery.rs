//! Another service trusts the issuer's tokens given only its URL: this crate's resource-server
//! side (`remote`) finds the JWK set through the RFC 8414 metadata the authorization server
//! publishes, and keeps validating across a signing-key rotation, with no restart of either.
#![cfg(all(
    feature = "remote",
    feature = "axum",
    feature = "issuer",
    feature = "aws-lc-rs"
))]

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use serde_json::Value;
use tower_api_auth::clock::ManualClock;
use tower_api_auth::endpoints::TokenEndpoints;
use tower_api_auth::issuer::{
    Account, Login, MemoryRefreshStore, MemorySigningKeyStore, SigningKeys, TokenIssuer,
    TokenService,
};
use tower_api_auth::jwt::JwtOptions;
use tower_api_auth::remote::RemoteJwks;
use tower_api_auth::scope::Scopes;
use tower_api_auth::{AuthLayer, Identity, JwtValidator};

async fn me(identity: Identity) -> String {
    identity.principal().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resource_server_given_only_the_issuer_url_validates_across_a_rotation() {
    // The authorization server, its issuer URL its own address.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer_url = format!("http://{}", listener.local_addr().unwrap());
    let clock = ManualClock::starting_now();
    let keys = SigningKeys::builder(MemorySigningKeyStore::new(), [7u8; 32])
        .publish_ahead(Duration::from_secs(120))
        .clock(clock.clone())
        .build()
        .await
        .unwrap();
    let tokens = Arc::new(
        TokenService::new(
            TokenIssuer::rotating(keys.clone(), issuer_url.as_str()).audience("api"),
            MemoryRefreshStore::new(),
        )
        .clock(clock.clone()),
    );
    let auth = AuthLayer::builder()
        .jwt(tokens.validator())
        .clock(clock.clone())
        .build()
        .unwrap();
    let endpoints = TokenEndpoints::new(tokens.clone());
    let app = Router::new()
        .merge(endpoints.well_known_router())
        .nest("/v1", endpoints.router(auth));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    // What the resource server is given: the issuer's URL, nothing else.
    let metadata: Value = reqwest::get(format!(
        "{issuer_url}/.well-known/oauth-authorization-server"
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(metadata["issuer"], issuer_url.as_str());
    assert_eq!(
        metadata["jwks_uri"],
        format!("{issuer_url}/.well-known/jwks.json")
    );
    let remote = RemoteJwks::discover(issuer_url.clone())
        .clock(clock.clone())
        .refetch_interval(Duration::from_secs(1))
        .load()
        .await
        .unwrap();
    let validator = JwtValidator::from_source(
        remote,
        JwtOptions::new()
            .issuer(issuer_url.as_str())
            .audience("api"),
    );
    let resource_auth = AuthLayer::builder()
        .jwt(validator)
        .clock(clock.clone())
        .build()
        .unwrap();
    let resource =
        tower_api_auth_tests::serve(Router::new().route("/me", get(me).route_layer(resource_auth)))
            .await;
    let call = |token: String| {
        let resource = resource.clone();
        async move { resource.get("/me").bearer(&token).send().await }
    };
    let login = || async {
        let account = Account::new("user_alice", Scopes::parse("read").unwrap());
        tokens
            .login(Login::account(account))
            .await
            .unwrap()
            .access_token
    };
    let kid = |token: &str| -> String {
        let header = token.split('.').next().unwrap();
        let header: Value = serde_json::from_slice(
            &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, header)
                .unwrap(),
        )
        .unwrap();
        header["kid"].as_str().unwrap().to_owned()
    };

    let before = login().await;
    let old_kid = kid(&before);
    let reply = call(before.clone()).await;
    assert_eq!((reply.status, reply.text.as_str()), (200, "user_alice"));

    // A rotation: the new key is in the JWK set at once, but signs only after publish_ahead.
    let new_kid = keys.rotate_now().await.unwrap();
    let jwks = reqwest::get(format!("{issuer_url}/.well-known/jwks.json"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        jwks.contains(&*new_kid) && jwks.contains(&old_kid),
        "{jwks}"
    );
    assert_eq!(
        kid(&login().await),
        old_kid,
        "not signing before it is published ahead"
    );

    clock.advance(Duration::from_secs(121));
    keys.refresh().await.unwrap();
    let after = login().await;
    assert_eq!(kid(&after), *new_kid);
    // The resource server was never told: it fetches the set again for the unknown kid, and
    // both tokens pass (the old one is still within its lifetime, its key still published).
    let reply = call(after).await;
    assert_eq!(
        (reply.status, reply.text.as_str()),
        (200, "user_alice"),
        "{}",
        reply.text
    );
    assert_eq!(call(before).await.status, 200);
}
