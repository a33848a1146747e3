//! Seed 002, "Authenticate with API": an API key (and an optional session id) for a short-lived
//! Bearer token, the same token while it is valid — with tower-api-auth doing the work.
//!
//! ```text
//! cargo run -p tower-api-auth-examples --example session_login        # PORT, DATABASE_URL, REDIS_URL
//! ```
//!
//! * `POST /auth/login` `{"api_key", "session_id"?}` → `{"access_token","expires_in":7200,"token_type":"Bearer"}`.
//!   While the token is valid the same login gets the same token back; a new `session_id` forces a
//!   fresh one, a known one returns that session's token.
//! * `GET /v1/reports` with the token needs scope `reports:read`; `POST /v1/reports` needs `reports:write`.
//!
//! The tokens are handed back from this process's memory: each instance of a fleet keeps its
//! own, so two instances may answer one client with two tokens, both valid.

use std::sync::Arc;
use std::time::Duration;

use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};
use tower_api_auth::api_key::KeySpec;
use tower_api_auth::endpoints::{Endpoint, ResponseShape, TokenEndpoints, TokenField, TokenRoute};
use tower_api_auth::issuer::{SigningKey, TokenIssuer};
use tower_api_auth::{Algorithm, AuthLayer, Identity, RequireScopesLayer, crypto, scope::Scopes};

#[path = "seeds_support/mod.rs"]
pub(crate) mod support;

use support::{Demo, Error, Stores};
use tower_api_auth::clock::SharedClock;

async fn reports(identity: Identity) -> Json<Value> {
    Json(json!({ "reports": [], "for": identity.principal() }))
}

/// The app and its demo credentials; `clock` tells the time (the system's, or a test's).
pub(crate) async fn demo(stores: Stores, clock: SharedClock) -> Result<Demo, Error> {
    let (api_keys, keys) = support::api_keys(&stores, "sk_live").await?;
    // Scoped keys: one read-only, one that may write too.
    let read_only = keys
        .create(
            KeySpec::default()
                .owner("svc_reader")
                .scopes(Scopes::parse("reports:read")?),
        )
        .await?;
    let writer = keys
        .create(
            KeySpec::default()
                .owner("svc_writer")
                .scopes(Scopes::parse("reports:read reports:write")?),
        )
        .await?;

    let signing = SigningKey::hmac(Algorithm::HS256, crypto::random_secret(43).as_bytes())?;
    let issuer = TokenIssuer::new(signing, "https://api.example.test")
        .access_token_ttl(Duration::from_secs(2 * 60 * 60));
    let tokens = Arc::new(
        stores
            .token_service(issuer)
            .clock(clock.clone())
            .api_keys(api_keys)
            .reuse_access_tokens(true)
            // The API hands out no refresh tokens: a session lasts as long as its access token,
            // so that logins under new session ids leave nothing behind in the store.
            .session_ttl(Duration::from_secs(2 * 60 * 60)),
    );
    let auth = AuthLayer::builder()
        .clock(clock)
        .jwt(tokens.validator())
        .revocation(tokens.revocations())
        .build()?;

    let login = Endpoint::new().response(ResponseShape::fields([
        (TokenField::AccessToken, "access_token"),
        (TokenField::ExpiresIn, "expires_in"),
        (TokenField::TokenType, "token_type"),
    ]));
    let endpoints = TokenEndpoints::new(tokens)
        .endpoint(TokenRoute::Login, login)
        .disable(TokenRoute::Token)
        .disable(TokenRoute::Refresh);
    let router = Router::new()
        .route(
            "/v1/reports",
            get(reports)
                .route_layer(RequireScopesLayer::all(["reports:read"]))
                .merge(post(reports).route_layer(RequireScopesLayer::all(["reports:write"]))),
        )
        .route_layer(auth.clone())
        .merge(endpoints.router(auth));
    let credentials = json!({
        "api_key": writer.key,
        "read_only_api_key": read_only.key,
    });
    Ok(Demo {
        router,
        credentials,
    })
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    support::run(demo).await
}
