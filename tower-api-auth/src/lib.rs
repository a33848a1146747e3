//! # tower-api-auth
//!
//! API authentication for any tower service — axum apps, hyper servers, proxies, tonic services —
//! with one `.layer(..)`: Bearer JWTs and API keys, tenants, scopes, typed identities, RFC 6750
//! error responses, and (feature `issuer`) the token lifecycle: login, API-key exchange, rotating
//! refresh tokens, logout.
//!
//! ```
//! # #[cfg(all(feature = "axum", any(feature = "aws-lc-rs", feature = "rust-crypto")))]
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use axum::{Json, Router, routing::get};
//! use tower_api_auth::api_key::{ApiKeyFormat, ApiKeys};
//! use tower_api_auth::jwt::JwtOptions;
//! use tower_api_auth::scope::Scopes;
//! use tower_api_auth::{AuthLayer, Identity, JwtValidator, MemoryKeyStore, RequireScopesLayer, Tenant};
//!
//! // The key format is set once: the layer checks keys in it, and keys are made from it.
//! let store = MemoryKeyStore::new();
//! let api_keys = ApiKeys::new(store.clone()).format(ApiKeyFormat::new("sk_live")?);
//! // A new API key: show `plaintext` to its owner once, store only `record` (it holds a hash).
//! let (plaintext, record) = api_keys.generate().into_parts();
//! store.insert(
//!     record
//!         .with_tenants([Tenant::new("tn_demo")?])
//!         .with_scopes(Scopes::parse("conversations:read")?),
//! );
//!
//! let auth = AuthLayer::builder()
//!     .jwt(JwtValidator::hs256(
//!         b"a-secret-of-at-least-thirty-two-bytes!!",
//!         JwtOptions::new().issuer("https://auth.example.test").audience("api"),
//!     )?)
//!     .api_keys(api_keys)
//!     .build()?;
//!
//! async fn list(identity: Identity) -> Json<Identity> {
//!     Json(identity) // identity.tenant(), identity.scopes(), …
//! }
//! async fn greet(identity: Option<Identity>) -> String {
//!     identity.map_or("hello, stranger".into(), |i| format!("hello, {}", i.principal()))
//! }
//!
//! let app: Router = Router::new()
//!     .route(
//!         "/v1/conversations",
//!         get(list).route_layer(RequireScopesLayer::all(["conversations:read"])),
//!     )
//!     .route_layer(auth.clone()) // route_layer: unknown paths stay 404, not 401
//!     .merge(Router::new().route("/v1/hello", get(greet)).route_layer(auth.optional()));
//! # let _ = (app, plaintext);
//! # Ok(()) }
//! # #[cfg(not(all(feature = "axum", any(feature = "aws-lc-rs", feature = "rust-crypto"))))]
//! # fn main() {}
//! ```
//!
//! ## Typed claims
//!
//! Handlers take [`Claims<C>`], the token's claims as the app's own type: any
//! `C: Deserialize`, read from the verified token when the handler asks. A validator built with
//! `claims::<C>()` decodes them once per token instead, and refuses tokens that do not fit `C`:
//!
//! ```
//! # #[cfg(all(feature = "axum", any(feature = "aws-lc-rs", feature = "rust-crypto")))]
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use axum::{Router, routing::get};
//! use tower_api_auth::jwt::JwtOptions;
//! use tower_api_auth::{AuthLayer, Claims, JwtValidator};
//!
//! #[derive(serde::Deserialize)]
//! struct OrgClaims { org: String }
//!
//! async fn org(claims: Claims<OrgClaims>) -> String { claims.org.clone() }
//!
//! let validator = JwtValidator::hs256(
//!     b"a-secret-of-at-least-thirty-two-bytes!!",
//!     JwtOptions::new().claims::<OrgClaims>(), // optional: decode once per token, refuse misfits
//! )?;
//! let app: Router = Router::new()
//!     .route("/org", get(org))
//!     .route_layer(AuthLayer::builder().jwt(validator).build()?);
//! # let _ = app;
//! # Ok(()) }
//! # #[cfg(not(all(feature = "axum", any(feature = "aws-lc-rs", feature = "rust-crypto"))))]
//! # fn main() {}
//! ```
//!
//! ## The token lifecycle (feature `issuer`)
//!
//! ```
//! # #[cfg(all(feature = "issuer", feature = "axum", any(feature = "aws-lc-rs", feature = "rust-crypto")))]
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use axum::Router;
//! use tower_api_auth::endpoints::TokenEndpoints;
//! use tower_api_auth::issuer::{MemoryRefreshStore, SigningKey, TokenIssuer, TokenService};
//! use tower_api_auth::{Algorithm, AuthLayer};
//!
//! let signing = SigningKey::hmac(Algorithm::HS256, b"a-secret-of-at-least-thirty-two-bytes!!")?;
//! let issuer = TokenIssuer::new(signing, "https://auth.example.test").audience("api");
//! let tokens = Arc::new(TokenService::new(issuer, MemoryRefreshStore::new()));
//! // The layer accepts the service's access tokens and refuses those of ended sessions.
//! let auth = AuthLayer::builder()
//!     .jwt(tokens.validator())
//!     .revocation(tokens.revocations())
//!     .build()?;
//! // POST /v1/auth/login, /token, /refresh, /logout, /revoke; GET /v1/auth/verify.
//! let app: Router = Router::new().nest("/v1", TokenEndpoints::new(tokens).router(auth));
//! # let _ = app;
//! # Ok(()) }
//! # #[cfg(not(all(feature = "issuer", feature = "axum", any(feature = "aws-lc-rs", feature = "rust-crypto"))))]
//! # fn main() {}
//! ```
//!
//! ## The flow of one request
//!
//! 1. [`CredentialSources`](credential::CredentialSources) reads `Authorization: Bearer …`, or
//!    `X-API-Key` with `X-Tenant-ID` (and, only if enabled, a cookie or a query parameter).
//!    Malformed or conflicting credentials are `400 invalid_request`.
//! 2. A Bearer token that starts with the API-key prefix is an API key; anything else a JWT,
//!    checked by [`JwtValidator`]. API keys are checked against a [`KeyProvider`].
//! 3. [`TenantRules`](tenant::TenantRules) tie the tenant header to the credential's tenants.
//! 4. The [`Identity`] goes into the request's extensions; [`RequireScopesLayer`] and the
//!    extractors read it.
//!
//! Every failure is an [`AuthError`] with a stable code, status and `WWW-Authenticate` challenge,
//! rendered by an [`ErrorRenderer`](error::ErrorRenderer). Rejections are `Ok` responses: axum
//! needs no `HandleErrorLayer`. Without axum, read `request.extensions().get::<Identity>()`; a
//! reverse proxy tells its upstream who the caller is with [`forward`].
//!
//! ## Features
//!
//! | feature | default | what |
//! | --- | --- | --- |
//! | `axum` | yes | the extractors ([`Identity`], `Option<Identity>`, [`Claims<C>`], [`Tenant`], [`Scoped<R>`]) |
//! | `aws-lc-rs` | yes | jsonwebtoken's aws-lc-rs backend: RSA and ECDSA several times faster |
//! | `issuer` | yes | the token lifecycle: [`issuer`] (with `axum`, its HTTP endpoints) |
//! | `rust-crypto` | no | jsonwebtoken's pure-Rust backend (no C compiler needed) |
//! | `remote` | no | [`remote`]: JWK sets from URLs, OIDC discovery, several issuers' keys, RFC 7662 introspection |
//! | `fleet` | yes | the revocation feed that keeps several instances in step (`fleet`), key caches that follow it |
//! | `rate-limit` | yes | `rate_limit`: quotas keyed on the identity, failed-authentication throttling, 429 with the IETF `RateLimit` fields |
//! | `utoipa` | no | `openapi`: the layer's schemes, the token endpoints and per-route scopes in an app's OpenAPI 3.1 document |
//!
//! With both backends enabled aws-lc-rs is used (see [`crypto::ensure_provider`]). With neither,
//! the core (API keys, parsing, errors, layers) works and JWT keys refuse to build.

#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

// The modules in their rows, lowest first: none imports from a row above its own (checked by
// `layering`, which holds the same rows).
// Primitives.
pub mod api_key;
pub mod client_ip;
pub mod clock;
pub mod credential;
pub mod crypto;
pub mod error;
pub mod grpc;
pub mod identity;
pub mod jwt;
pub mod opaque;
mod random;
pub mod resource_metadata;
pub mod revocation;
pub mod scope;
pub mod store;
pub mod tenant;
// One place from credential to identity.
mod authenticator;
// tower and axum glue.
#[cfg(feature = "axum")]
pub mod extract;
pub mod forward;
pub mod layer;
pub mod require_scopes;
// Features built only on the public API below, as a third-party crate could be; none imports
// another.
#[cfg(feature = "fleet")]
pub mod fleet;
#[cfg(feature = "health")]
pub mod health;
#[cfg(feature = "issuer")]
pub mod issuer;
#[cfg(feature = "utoipa")]
pub mod openapi;
#[cfg(feature = "rate-limit")]
pub mod rate_limit;
#[cfg(feature = "remote")]
pub mod remote;
// Assembly: a layer from a configuration file.
pub mod config;
// The HTTP routers.
#[cfg(feature = "axum")]
pub mod endpoints;

#[cfg(test)]
mod layering;

pub use api_key::MemoryKeyStore;
pub use error::{AuthError, AuthErrorKind};
#[cfg(feature = "axum")]
pub use extract::{Claims, Scoped};
pub use identity::{AuthMethod, Identity};
pub use jwt::JwtValidator;
pub use layer::AuthLayer;
pub use require_scopes::RequireScopesLayer;
pub use store::KeyProvider;
pub use tenant::Tenant;

/// jsonwebtoken's `Algorithm`, re-exported so keys can be built without a direct dependency.
pub use jsonwebtoken::Algorithm;
