//! # tower-api-auth
//!
//! API authentication for any tower service — axum apps, hyper servers, proxies, tonic services —
//! with one `.layer(..)`: Bearer JWTs and API keys, tenants, scopes, typed identities, and
//! RFC 6750 error responses.
//!
//! ```
//! # #[cfg(all(feature = "axum", any(feature = "aws-lc-rs", feature = "rust-crypto")))]
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use axum::{Json, Router, routing::get};
//! use tower_api_auth::{
//!     ApiKeyFormat, ApiKeyHasher, AuthLayer, Identity, JwtValidator, MemoryKeyProvider,
//!     RequireScopes, Scopes, Tenant,
//! };
//!
//! // A new API key: show `plaintext` to its owner once, store only `record` (it holds a hash).
//! let (plaintext, record) = ApiKeyHasher::default().generate(&ApiKeyFormat::new("sk_live")?).into_parts();
//! let record = record
//!     .with_tenants([Tenant::new("tn_demo")?])
//!     .with_scopes(Scopes::parse("conversations:read")?);
//!
//! let auth = AuthLayer::builder()
//!     .jwt(JwtValidator::hs256(b"a-secret-of-at-least-thirty-two-bytes!!")?
//!         .issuer("https://auth.example.test")
//!         .audience("api"))
//!     .api_keys(MemoryKeyProvider::from(vec![record]))
//!     .build();
//!
//! async fn list(identity: Identity) -> Json<Identity> {
//!     Json(identity) // identity.tenant(), identity.scopes(), …
//! }
//!
//! let app: Router = Router::new()
//!     .route(
//!         "/v1/conversations",
//!         get(list).route_layer(RequireScopes::all(["conversations:read"])),
//!     )
//!     .route_layer(auth);
//! # let _ = (app, plaintext);
//! # Ok(()) }
//! # #[cfg(not(all(feature = "axum", any(feature = "aws-lc-rs", feature = "rust-crypto"))))]
//! # fn main() {}
//! ```
//!
//! ## The flow of one request
//!
//! 1. [`CredentialSources`] reads `Authorization: Bearer …`, or `X-API-Key` with `X-Tenant-ID`
//!    (and, only if enabled, a cookie or a query parameter). Malformed or conflicting credentials
//!    are `400 invalid_request`.
//! 2. A Bearer token that starts with the API-key prefix is an API key; anything else a JWT,
//!    checked by [`JwtValidator`]. API keys are checked against a [`KeyProvider`].
//! 3. [`TenantRules`] tie the tenant header to the credential's tenants.
//! 4. The [`Identity`] goes into the request's extensions; [`RequireScopes`] and the extractors
//!    read it.
//!
//! Every failure is an [`AuthError`] with a stable code, status and `WWW-Authenticate` challenge,
//! rendered by an [`ErrorRenderer`]. Rejections are `Ok` responses: axum needs no
//! `HandleErrorLayer`.
//!
//! ## Features
//!
//! * `axum` (default): the extractors.
//! * `aws-lc-rs` (default) / `rust-crypto`: jsonwebtoken's crypto backend. aws-lc-rs verifies RS256
//!   about 7.6× and ES256 about 4.2× faster; rust-crypto needs no C compiler. With both enabled,
//!   aws-lc-rs is used (see [`crypto::ensure_provider`]).

#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_auto_cfg))]

mod api_key;
mod authenticator;
pub mod config;
mod credential;
pub mod crypto;
mod error;
#[cfg(feature = "axum")]
mod extract;
mod identity;
#[cfg(feature = "issuer")]
pub mod issuer;
mod jwt;
mod layer;
mod require_scopes;
mod revocation;
mod scope;
mod tenant;

pub use api_key::{
    ApiKeyFormat, ApiKeyHasher, ApiKeys, CachedKeyProvider, InvalidPrefix, KeyHash, KeyLookup,
    KeyProvider, KeyRecord, LookupResult, MalformedKey, MemoryKeyProvider, NewApiKey, ParsedKey,
    ProviderError,
};
pub use credential::{Credential, CredentialSources, DEFAULT_MAX_TOKEN_LEN, Presented};
pub use error::{AuthError, AuthErrorKind, ErrorFormat, ErrorRenderer};
#[cfg(feature = "axum")]
pub use extract::{AuthRejection, Claims, ScopeSet, Scoped};
pub use identity::{AuthMethod, Identity, IdentityBuilder};
pub use jwt::{JwtKey, JwtKeySet, JwtValidator, KeyError, TokenCacheConfig, TokenCacheStats};
pub use layer::{AuthBody, AuthLayer, AuthLayerBuilder, AuthService, ResponseFuture};
pub use require_scopes::{RequireScopes, RequireScopesService};
pub use revocation::{MemoryRevocationList, RevocationCheck, RevocationStore};
pub use scope::{InvalidScope, ScopeMatch, ScopeRequirement, Scopes};
pub use tenant::{InvalidTenant, MAX_TENANT_LEN, Tenant, TenantHeader, TenantRules};

#[cfg(feature = "issuer")]
pub use issuer::{
    AccessGrant, Account, MemoryClients, MemoryRefreshStore, PasswordVerifier, RefreshStore,
    SigningKey, TokenIssuer, TokenResponse, TokenService,
};
#[cfg(all(feature = "issuer", feature = "axum"))]
pub use issuer::{TokenEndpoints, token_router};

/// jsonwebtoken's `Algorithm`, re-exported so keys can be built without a direct dependency.
pub use jsonwebtoken::Algorithm;
