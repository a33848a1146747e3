//! Resource server for external identity providers (feature `remote`): JWK sets from URLs kept
//! fresh in the background, OpenID Connect / RFC 8414 discovery, and RFC 7662 introspection of
//! opaque tokens.
//!
//! Built only on the crate's public API: a [`RemoteJwks`] is a [`KeySource`](crate::jwt::KeySource)
//! for [`JwtValidator::from_source`](crate::JwtValidator::from_source) or, one per identity
//! provider, [`Issuer::with_source`](crate::jwt::Issuer::with_source); an [`Introspection`] is an
//! [`OpaqueTokenValidator`](crate::opaque::OpaqueTokenValidator) for
//! [`AuthLayerBuilder::opaque_tokens`](crate::layer::AuthLayerBuilder::opaque_tokens).
//!
//! ```no_run
//! # #[cfg(any(feature = "aws-lc-rs", feature = "rust-crypto"))]
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use tower_api_auth::jwt::{Issuer, JwtOptions, TokenCacheConfig};
//! use tower_api_auth::remote::{ClientAuth, Introspection, RemoteJwks};
//! use tower_api_auth::{AuthLayer, JwtValidator};
//!
//! // Two identity providers in one layer, each with its keys and claim mapping.
//! let keycloak = "https://sso.example.test/realms/main";
//! let entra = "https://login.microsoftonline.com/00000000-0000-0000-0000-000000000000/v2.0";
//! let validator = JwtValidator::issuers(
//!     [
//!         Issuer::with_source(
//!             keycloak,
//!             RemoteJwks::discover(keycloak).build()?,
//!             JwtOptions::new().audience("api").scope_claim("realm_access.roles"),
//!         ),
//!         Issuer::with_source(
//!             entra,
//!             RemoteJwks::discover(entra).default_algorithm(tower_api_auth::Algorithm::RS256).build()?,
//!             JwtOptions::new().audience("api").principal_claim("oid").scope_claim("scp").scope_claim("roles").tenant_claim("tid"),
//!         ),
//!     ],
//!     TokenCacheConfig::default(),
//! )?;
//! // Opaque tokens of a third provider, by introspection.
//! let introspection = Introspection::builder(
//!     "https://auth.example.test/oauth2/introspect",
//!     ClientAuth::basic("resource-server", std::env::var("INTROSPECTION_SECRET")?),
//! )
//! .build()?;
//! let auth = AuthLayer::builder().jwt(validator).opaque_tokens(introspection).build()?;
//! # let _ = auth;
//! # Ok(()) }
//! ```

mod discovery;
mod fetch;
mod introspection;
mod jwks;

pub use fetch::RemoteError;
pub use introspection::{ClientAuth, Introspection, IntrospectionBuilder, IntrospectionStats};
pub use jwks::{RemoteJwks, RemoteJwksBuilder, RemoteStatus};
