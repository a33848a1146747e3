//! Seed 004, the generic "API Authentication" page, with tower-api-auth doing the work: API keys,
//! JWT login, the OAuth 2.0 authorization-code flow for web apps, refresh, verify, the error body
//! and the rate limits.
//!
//! ```text
//! cargo run -p tower-api-auth-examples --example generic_api        # PORT, DATABASE_URL, REDIS_URL
//! ```
//!
//! * `GET /v1/users` with `Authorization: Bearer <API key or JWT>`.
//! * `POST /v1/auth/login` `{"username","password"}` → `{"token","expires_at","refresh_token"}`;
//!   a wrong password is `401 invalid_credentials`.
//! * `GET /oauth/authorize?client_id=…&redirect_uri=https://yourapp.com/callback&response_type=code&scope=read write`
//!   with PKCE (`code_challenge`, `code_challenge_method=S256`: OAuth 2.1 requires it of every
//!   client, so the seed's request gains these two parameters); the user signs in with HTTP
//!   Basic; the browser goes to `https://yourapp.com/callback?code=…`.
//! * `POST /oauth/token` `{"grant_type":"authorization_code","code","client_id","client_secret",
//!   "redirect_uri","code_verifier"}` → `{"access_token","refresh_token",…}`, and
//!   `{"grant_type":"refresh_token","refresh_token","client_id","client_secret"}` (access tokens
//!   last 1 hour).
//! * `GET /v1/auth/verify` → `{"authenticated":true,"user_id","scopes","expires_at"}`.
//! * Errors: `{"error":"token_expired","message":"…","code":401,"timestamp":"…"}`.
//! * Rate limits per authentication method: API keys 1000 requests/hour, OAuth 5000, JWT 2000;
//!   beyond them `429 rate_limit_exceeded` with `Retry-After` and the IETF `RateLimit` fields.

use std::sync::Arc;
use std::time::Duration;

use axum::routing::get;
use axum::{Json, Router};
use bytes::Bytes;
use http::{Response, StatusCode};
use serde_json::{Value, json};
use tower_api_auth::api_key::ApiKeyHasher;
use tower_api_auth::api_key::KeySpec;
use tower_api_auth::clock::{Clock, SharedClock, rfc3339};
use tower_api_auth::endpoints::{
    Endpoint, Failure, PasswordConsent, ResponseShape, TokenEndpoints, TokenField, TokenRoute,
};
use tower_api_auth::error::{ErrorFormat, ErrorRenderer};
use tower_api_auth::issuer::MemoryClientStore;
use tower_api_auth::issuer::{Account, GrantCause, SigningKey, TokenIssuer};
use tower_api_auth::rate_limit::{Method, Policy, Quota, RateLimits};
use tower_api_auth::store::ClientRecord;
use tower_api_auth::{Algorithm, AuthError, AuthLayer, Identity, crypto, scope::Scopes};

#[path = "seeds_support/mod.rs"]
pub(crate) mod support;

use support::{Demo, DemoUsers, Error, Stores};

async fn users(identity: Identity) -> Json<Value> {
    Json(json!({ "users": [{ "id": identity.principal() }] }))
}

/// `{"error","message"}` plus the status as `code` and the time as `timestamp`.
fn api_errors(
    clock: SharedClock,
) -> impl Fn(&AuthError) -> Response<Bytes> + Send + Sync + 'static {
    move |error| {
        let mut response = ErrorFormat::Flat.render(error);
        let mut body: Value = serde_json::from_slice(response.body()).unwrap_or_default();
        body["code"] = json!(error.status().as_u16());
        body["timestamp"] = json!(rfc3339(clock.now()));
        *response.body_mut() = Bytes::from(body.to_string());
        response
    }
}

/// The app and its demo credentials; `clock` tells the time (the system's, or a test's).
pub(crate) async fn demo(stores: Stores, clock: SharedClock) -> Result<Demo, Error> {
    let password = crypto::random_secret(16);
    let account = Account::new("12345", Scopes::parse("read write")?);
    let users_db = Arc::new(DemoUsers::new([(
        "user@example.com",
        password.as_str(),
        account,
    )]));
    // The web app of the seed's OAuth section: YOUR_CLIENT_ID, YOUR_CLIENT_SECRET, its callback.
    let client_secret = crypto::random_secret(43);
    let clients = MemoryClientStore::new(ApiKeyHasher::default());
    clients.insert(
        ClientRecord::new(
            "example_webapp",
            ApiKeyHasher::default().hash(&client_secret),
            Scopes::parse("read write")?,
        )
        .with_redirect_uris(["https://yourapp.com/callback"]),
    );
    let (api_keys, keys) = support::api_keys(&stores, "sk_live").await?;
    let api_key = keys
        .create(
            KeySpec::default()
                .owner("svc_example")
                .scopes(Scopes::parse("read")?),
        )
        .await?
        .key;

    let signing = SigningKey::hmac(Algorithm::HS256, crypto::random_secret(43).as_bytes())?;
    let issuer = TokenIssuer::new(signing, "https://api.example.com")
        .access_token_ttl(Duration::from_secs(3600));
    let tokens = Arc::new(
        stores
            .token_service(issuer)
            .clock(clock.clone())
            .passwords(users_db.clone())
            .clients(clients),
    );
    let auth = AuthLayer::builder()
        .clock(clock.clone())
        .jwt(tokens.validator())
        .revocation(tokens.revocations())
        .api_keys(api_keys)
        .error_renderer(api_errors(clock.clone()))
        .build()?;

    let login = Endpoint::at("/v1/auth/login")
        .response(ResponseShape::fields([
            (TokenField::AccessToken, "token"),
            (TokenField::ExpiresAt, "expires_at"),
            (TokenField::RefreshToken, "refresh_token"),
        ]))
        .on(
            GrantCause::WrongPassword,
            Failure::new(StatusCode::UNAUTHORIZED, "invalid_credentials")
                .message("Username or password incorrect"),
        );
    let endpoints = TokenEndpoints::new(tokens)
        .consent(PasswordConsent::new(users_db))
        .endpoint(TokenRoute::Login, login)
        .endpoint(TokenRoute::Authorize, Endpoint::at("/oauth/authorize"))
        .endpoint(TokenRoute::Introspect, Endpoint::at("/oauth/introspect"))
        .endpoint(TokenRoute::Token, Endpoint::at("/oauth/token"))
        .endpoint(TokenRoute::Verify, Endpoint::at("/v1/auth/verify"))
        .disable(TokenRoute::Refresh)
        .disable(TokenRoute::Logout)
        .disable(TokenRoute::Revoke);
    // "The API enforces rate limits per authentication method". OAuth tokens are those issued
    // to a client (`client_id`): the authorization-code flow's.
    let limits = RateLimits::new()
        .policy(Policy::per_method(Method::ApiKey, Quota::per_hour(1000)))
        .policy(Policy::per_method(Method::OAuth, Quota::per_hour(5000)))
        .policy(Policy::per_method(Method::Jwt, Quota::per_hour(2000)))
        .clock(clock)
        .build()?;
    let router = Router::new()
        .route("/v1/users", get(users))
        .route_layer(auth.with_rate_limits(&limits))
        .merge(endpoints.well_known_router())
        .merge(endpoints.router(auth));
    let credentials = json!({
        "username": "user@example.com", "password": password, "api_key": api_key,
        "client_id": "example_webapp", "client_secret": client_secret,
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
