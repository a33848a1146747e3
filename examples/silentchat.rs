//! Seed 000, SilentChat's authentication, with tower-api-auth doing the work.
//!
//! ```text
//! cargo run -p tower-api-auth-examples --example silentchat        # PORT, DATABASE_URL, REDIS_URL
//! ```
//!
//! * `POST /v1/auth/login` `{"email","password"}` → `{"access_token","refresh_token","token_type","expires_in":900}`
//! * `POST /v1/auth/refresh` `{"refresh_token"}` → the same shape; refresh tokens are single use
//!   (a spent one ends the session) and last 30 days; a failed refresh is a 401.
//! * `GET /v1/conversations` with `Authorization: Bearer <access token>`, or with
//!   `X-API-Key: sk_live_…` and `X-Tenant-ID` (required with a key).

use std::sync::Arc;
use std::time::Duration;

use axum::routing::get;
use axum::{Json, Router};
use http::StatusCode;
use serde_json::{Value, json};
use tower_api_auth::api_key::{ApiKeyFormat, ApiKeys, KeyManager, KeySpec};
use tower_api_auth::endpoints::{Endpoint, Failure, ResponseShape, TokenEndpoints, TokenField, TokenRoute};
use tower_api_auth::issuer::{Account, GrantErrorKind, SigningKey, TokenIssuer};
use tower_api_auth::{Algorithm, AuthLayer, Identity, MemoryKeyStore, Tenant, crypto, scope::Scopes};

#[path = "seeds_support/mod.rs"]
mod support;

use support::{Demo, DemoUsers, Error, Stores};

async fn conversations(identity: Identity) -> Json<Value> {
    Json(json!({ "tenant": identity.tenant().map(Tenant::as_str), "conversations": [] }))
}

pub async fn demo(stores: Stores) -> Result<Demo, Error> {
    let tenant = Tenant::new("tn_demo")?;
    let password = crypto::random_secret(16);
    let users = DemoUsers::new([(
        "demo@silentchat.test",
        password.as_str(),
        Account::new("user_demo", Scopes::parse("conversations:read")?).with_tenants([tenant.clone()]),
    )]);
    // API keys: `sk_live_…`, hashed, in memory or in the shared database.
    let memory = MemoryKeyStore::new();
    let format = ApiKeyFormat::new("sk_live")?;
    let api_keys = stores.api_keys(ApiKeys::new(memory.clone()).format(format.clone()), &[]).await.map_err(|e| e.to_string())?;
    let keys = stores.key_manager(&api_keys).unwrap_or_else(|| KeyManager::new(memory).format(format));
    let spec = KeySpec::default().owner("svc_demo").tenants([tenant.clone()]).scopes(Scopes::parse("conversations:read")?);
    let api_key = keys.create(spec).await?.key;

    // Access tokens 15 minutes, refresh tokens single use for 30 days (the defaults).
    let signing = SigningKey::hmac(Algorithm::HS256, crypto::random_secret(43).as_bytes())?;
    let issuer = TokenIssuer::new(signing, "https://api.silentchat.test").access_token_ttl(Duration::from_secs(900));
    let tokens = Arc::new(stores.token_service(issuer).passwords(users).api_keys(api_keys.clone()));
    let auth = AuthLayer::builder().jwt(tokens.validator()).revocation(tokens.revocations()).api_keys(api_keys).build()?;

    // The documented answer, and 401 for a failed refresh ("the user must log in again").
    let answer = ResponseShape::oauth().without(TokenField::Scope).without(TokenField::SessionId);
    let endpoints = TokenEndpoints::new(tokens)
        .endpoint(TokenRoute::Login, Endpoint::new().response(answer.clone()))
        .endpoint(
            TokenRoute::Refresh,
            Endpoint::new().response(answer).on(GrantErrorKind::InvalidGrant, Failure::new(StatusCode::UNAUTHORIZED, "invalid_grant")),
        );
    let router = Router::new()
        .route("/v1/conversations", get(conversations).route_layer(auth.clone()))
        .nest("/v1", endpoints.router(auth));
    let credentials = json!({ "email": "demo@silentchat.test", "password": password, "api_key": api_key, "tenant": tenant });
    Ok(Demo { router, credentials })
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    support::run(demo).await
}
