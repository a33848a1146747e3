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
use tower_api_auth::api_key::KeySpec;
use tower_api_auth::endpoints::{
    Endpoint, Failure, ResponseShape, TokenEndpoints, TokenField, TokenRoute,
};
use tower_api_auth::issuer::{Account, GrantErrorKind, SigningKey, TokenIssuer};
use tower_api_auth::tenant::{TenantHeader, TenantRules};
use tower_api_auth::{Algorithm, AuthLayer, Identity, Tenant, crypto, scope::Scopes};

#[path = "seeds_support/mod.rs"]
pub(crate) mod support;

use support::{Demo, DemoUsers, Error, Stores};
use tower_api_auth::clock::SharedClock;

async fn conversations(identity: Identity) -> Json<Value> {
    Json(json!({ "tenant": identity.tenant().map(Tenant::as_str), "conversations": [] }))
}

/// The app and its demo credentials; `clock` tells the time (the system's, or a test's).
pub(crate) async fn demo(stores: Stores, clock: SharedClock) -> Result<Demo, Error> {
    let tenant = Tenant::new("tn_demo")?;
    let password = crypto::random_secret(16);
    let users = DemoUsers::new([(
        "demo@silentchat.test",
        password.as_str(),
        // Users are not tenant-bound: their tokens need no X-Tenant-ID.
        Account::new("user_demo", Scopes::parse("conversations:read")?),
    )]);
    // API keys: `sk_live_…`, hashed, in memory or in the shared database.
    let (api_keys, keys) = support::api_keys(&stores, "sk_live").await?;
    let spec = KeySpec::default()
        .owner("svc_demo")
        .tenants([tenant.clone()])
        .scopes(Scopes::parse("conversations:read")?);
    let api_key = keys.create(spec).await?.key;

    // Access tokens 15 minutes, refresh tokens single use for 30 days (the default lifetime).
    let signing = SigningKey::hmac(Algorithm::HS256, crypto::random_secret(43).as_bytes())?;
    let issuer = TokenIssuer::new(signing, "https://api.silentchat.test")
        .access_token_ttl(Duration::from_secs(900));
    let tokens = Arc::new(
        stores
            .token_service(issuer)
            .clock(clock.clone())
            .passwords(users)
            .api_keys(api_keys.clone())
            // "Refresh tokens expire after 30 days": no idle timeout cuts them shorter.
            .idle_timeout(Duration::MAX),
    );
    // "When using an API key you must also include the X-Tenant-ID header."
    let tenants = TenantRules {
        header: TenantHeader::Always,
        ..TenantRules::default()
    };
    let auth = AuthLayer::builder()
        .clock(clock)
        .jwt(tokens.validator())
        .revocation(tokens.revocations())
        .api_keys(api_keys)
        .tenant_rules(tenants)
        .build()?;

    // The documented answer, and 401 for a failed refresh ("the user must log in again").
    let answer = ResponseShape::oauth()
        .without(TokenField::Scope)
        .without(TokenField::SessionId);
    let endpoints = TokenEndpoints::new(tokens)
        .endpoint(TokenRoute::Login, Endpoint::new().response(answer.clone()))
        .endpoint(
            TokenRoute::Refresh,
            Endpoint::new().response(answer).on(
                GrantErrorKind::InvalidGrant,
                Failure::new(StatusCode::UNAUTHORIZED, "invalid_grant"),
            ),
        );
    let router = Router::new()
        .route(
            "/v1/conversations",
            get(conversations).route_layer(auth.clone()),
        )
        .nest("/v1", endpoints.router(auth));
    let credentials = json!({ "email": "demo@silentchat.test", "password": password, "api_key": api_key, "tenant": tenant });
    Ok(Demo {
        router,
        credentials,
    })
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    support::run(demo).await
}
