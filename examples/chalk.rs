//! Seed 001, Chalk's authentication, with tower-api-auth doing the work.
//!
//! ```text
//! cargo run -p tower-api-auth-examples --example chalk        # PORT, DATABASE_URL, REDIS_URL
//! ```
//!
//! * `GET /api/v1/tenants/{id}` with `X-API-Key: sk_live_…` (the key's tenant; no tenant header).
//! * `POST /api/v1/auth/token` `{"api_key"}` → `{"data":{"access_token","refresh_token","token_type","expires_in":3600}}`
//! * `POST /api/v1/auth/refresh` `{"refresh_token"}` → the same.
//! * `GET /api/v1/rooms/{id}` with `Authorization: Bearer <access token>`.
//! * Errors: `{"error":{"code":"UNAUTHORIZED","message":"Invalid API key"}}`,
//!   `TOKEN_EXPIRED` "Access token has expired", `INVALID_REFRESH_TOKEN` "Refresh token is invalid or expired".

use std::sync::Arc;
use std::time::Duration;

use axum::extract::Path;
use axum::routing::get;
use axum::{Json, Router};
use bytes::Bytes;
use http::{Response, StatusCode};
use serde_json::{Value, json};
use tower_api_auth::api_key::KeySpec;
use tower_api_auth::endpoints::{
    Endpoint, Failure, ResponseShape, TokenEndpoints, TokenField, TokenRoute,
};
use tower_api_auth::error::{ErrorFormat, ErrorRenderer};
use tower_api_auth::issuer::{GrantCause, GrantErrorKind, SigningKey, TokenIssuer};
use tower_api_auth::{
    Algorithm, AuthError, AuthErrorKind, AuthLayer, Identity, Tenant, crypto, scope::Scopes,
};

#[path = "seeds_support/mod.rs"]
pub(crate) mod support;

use support::{Demo, Error, Stores};
use tower_api_auth::clock::SharedClock;

async fn show_tenant(
    identity: Identity,
    Path(id): Path<String>,
) -> Result<Json<Value>, StatusCode> {
    // An API key acts for its own tenant only.
    match identity.tenant() {
        Some(tenant) if tenant.as_str() == id => Ok(Json(json!({ "data": { "id": id } }))),
        _ => Err(StatusCode::FORBIDDEN),
    }
}

async fn room(identity: Identity, Path(id): Path<String>) -> Json<Value> {
    Json(json!({ "data": { "id": id, "participant": identity.principal() } }))
}

/// Chalk's codes in upper case, with its own words for the failures it documents.
fn chalk_errors(error: &AuthError) -> Response<Bytes> {
    let chalk = match error.kind() {
        AuthErrorKind::InvalidApiKey
        | AuthErrorKind::ApiKeyRevoked
        | AuthErrorKind::ApiKeyExpired => {
            AuthError::custom("UNAUTHORIZED", StatusCode::UNAUTHORIZED, "Invalid API key")
        }
        AuthErrorKind::TokenExpired => error.clone().with_message("Access token has expired"),
        _ => return ErrorFormat::UpperCase.render(error),
    };
    ErrorFormat::UpperCase.render(&chalk)
}

/// The app and its demo credentials; `clock` tells the time (the system's, or a test's).
pub(crate) async fn demo(stores: Stores, clock: SharedClock) -> Result<Demo, Error> {
    let tenant = Tenant::new("tenant_abc123")?;
    let (api_keys, keys) = support::api_keys(&stores, "sk_live").await?;
    let spec = KeySpec::default()
        .owner("tenant_abc123")
        .tenants([tenant.clone()])
        .scopes(Scopes::parse("rooms:read rooms:write")?);
    let api_key = keys.create(spec).await?.key;

    let signing = SigningKey::hmac(Algorithm::HS256, crypto::random_secret(43).as_bytes())?;
    let issuer = TokenIssuer::new(signing, "https://api.chalk.test")
        .access_token_ttl(Duration::from_secs(3600));
    let tokens = Arc::new(
        stores
            .token_service(issuer)
            .clock(clock.clone())
            .api_keys(api_keys.clone()),
    );
    let auth = AuthLayer::builder()
        .clock(clock)
        .jwt(tokens.validator())
        .revocation(tokens.revocations())
        .api_keys(api_keys)
        .error_renderer(chalk_errors)
        .build()?;

    // {"data": {…}} answers, and the documented failures.
    let answer = ResponseShape::oauth()
        .without(TokenField::Scope)
        .without(TokenField::SessionId)
        .envelope("data");
    let exchange = Endpoint::at("/api/v1/auth/token")
        .response(answer.clone())
        .on(
            GrantCause::InvalidApiKey,
            Failure::new(StatusCode::UNAUTHORIZED, "UNAUTHORIZED").message("Invalid API key"),
        );
    let refresh = Endpoint::at("/api/v1/auth/refresh").response(answer).on(
        GrantErrorKind::InvalidGrant,
        Failure::new(StatusCode::UNAUTHORIZED, "INVALID_REFRESH_TOKEN")
            .message("Refresh token is invalid or expired"),
    );
    let endpoints = TokenEndpoints::new(tokens)
        .error_format(ErrorFormat::UpperCase)
        .endpoint(TokenRoute::Login, exchange)
        .endpoint(TokenRoute::Refresh, refresh)
        .disable(TokenRoute::Token)
        .disable(TokenRoute::Revoke)
        .disable(TokenRoute::Logout)
        .disable(TokenRoute::Verify);
    let router = Router::new()
        .route("/api/v1/tenants/{id}", get(show_tenant))
        .route("/api/v1/rooms/{id}", get(room))
        .route_layer(auth.clone())
        .merge(endpoints.router(auth));
    let credentials = json!({ "api_key": api_key, "tenant": "tenant_abc123" });
    Ok(Demo {
        router,
        credentials,
    })
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    support::run(demo).await
}
