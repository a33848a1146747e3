//! axum extractors: [`Identity`], `Option<Identity>`, [`Claims<C>`], [`Tenant`] and scope guards.
//!
//! ```
//! use axum::{Json, Router, routing::get};
//! use tower_api_auth::{Claims, Identity, Scoped, Tenant, scopes};
//!
//! #[derive(Clone, serde::Deserialize)]
//! struct MyClaims { org: String }
//!
//! scopes!(pub ConversationsRead = all["conversations:read"]);
//!
//! async fn me(identity: Identity) -> Json<Identity> { Json(identity) }
//! async fn maybe(identity: Option<Identity>) -> String {
//!     identity.map_or("anonymous".into(), |i| i.principal().to_owned())
//! }
//! async fn org(claims: Claims<MyClaims>) -> String { claims.org.clone() }
//! async fn tenant(tenant: Tenant) -> String { tenant.to_string() }
//! async fn list(Scoped(identity, ..): Scoped<ConversationsRead>) -> String {
//!     identity.principal().to_owned()
//! }
//!
//! let app: Router = Router::new()
//!     .route("/me", get(me))
//!     .route("/maybe", get(maybe))
//!     .route("/org", get(org))
//!     .route("/tenant", get(tenant))
//!     .route("/conversations", get(list));
//! ```
//!
//! Rejections are responses in the error format of the [`AuthLayer`](crate::AuthLayer) that
//! authenticated the request.

use std::marker::PhantomData;
use std::ops::Deref;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::response::{IntoResponse, Response};
use http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::render::SharedRenderer;
use crate::error::{AuthError, AuthErrorKind};
use crate::identity::{AuthMethod, Identity};
use crate::require_scopes::{check_scope_list, renderer_of};
use crate::scope::ScopeMatch;
use crate::tenant::Tenant;

/// The rejection of this crate's extractors: an [`AuthError`] rendered in the app's format.
#[derive(Debug)]
pub struct AuthRejection {
    error: AuthError,
    renderer: SharedRenderer,
}

impl AuthRejection {
    fn new(parts: &Parts, error: AuthError) -> Self {
        Self {
            error,
            renderer: renderer_of(&parts.extensions),
        }
    }

    /// The error.
    pub fn error(&self) -> &AuthError {
        &self.error
    }
}

impl IntoResponse for AuthRejection {
    fn into_response(self) -> Response {
        self.renderer.respond(self.error).map(Body::from)
    }
}

fn identity(parts: &Parts) -> Result<&Identity, AuthRejection> {
    parts
        .extensions
        .get::<Identity>()
        .ok_or_else(|| AuthRejection::new(parts, AuthError::new(AuthErrorKind::MissingCredentials)))
}

impl<S: Send + Sync> FromRequestParts<S> for Identity {
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        identity(parts).cloned()
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for Identity {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        Ok(parts.extensions.get::<Identity>().cloned())
    }
}

/// The request's tenant. Rejects with `tenant_forbidden` (403) when it has none: the layer picks a
/// tenant for every tenant-bound credential (or refuses the request), so a request without one
/// holds a credential bound to no tenant, and no header would help.
impl<S: Send + Sync> FromRequestParts<S> for Tenant {
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        identity(parts)?.tenant().cloned().ok_or_else(|| {
            let error = AuthError::new(AuthErrorKind::TenantForbidden)
                .with_message("The credential is bound to no tenant");
            AuthRejection::new(parts, error)
        })
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for Tenant {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<Identity>()
            .and_then(|i| i.tenant().cloned()))
    }
}

/// The JWT's claims as the app's type `C`: any `C: Deserialize`, with nothing to register.
///
/// They are read from the verified token's payload, which the identity keeps, once per request
/// that takes the extractor (routes that do not take it pay nothing). A validator built with
/// [`JwtOptions::claims::<C>()`](crate::jwt::JwtOptions::claims) decodes them instead when it
/// verifies the token, once per token (the token cache keeps the value), and refuses a token
/// whose claims do not fit `C` on every route; the extractor then hands out that value.
///
/// Rejections: no identity → 401 `missing_credentials`; an identity of an API key or an opaque
/// token → 403 `credential_not_accepted`; a token that verified but whose claims do not fit `C`
/// (a required claim missing, one of another type) → 401 `invalid_token`, the token's fault. Only
/// an identity built by hand ([`Identity::builder`]) as a JWT without claims of type `C` is a
/// server mistake: 500 `misconfigured`, logged at `error` level.
///
/// ```
/// # #[cfg(any(feature = "aws-lc-rs", feature = "rust-crypto"))]
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use axum::{Router, routing::get};
/// use tower_api_auth::jwt::JwtOptions;
/// use tower_api_auth::{AuthLayer, Claims, JwtValidator};
///
/// #[derive(serde::Deserialize)]
/// struct OrgClaims {
///     org: String,
/// }
///
/// async fn org(claims: Claims<OrgClaims>) -> String {
///     claims.org.clone()
/// }
///
/// let options = JwtOptions::new().audience("api"); // `.claims::<OrgClaims>()` is optional
/// let validator = JwtValidator::hs256(b"a-secret-of-at-least-thirty-two-bytes!!", options)?;
/// let app: Router = Router::new()
///     .route("/org", get(org))
///     .route_layer(AuthLayer::builder().jwt(validator).build()?);
/// # let _ = app;
/// # Ok(()) }
/// # #[cfg(not(any(feature = "aws-lc-rs", feature = "rust-crypto")))]
/// # fn main() {}
/// ```
#[derive(Debug)]
pub struct Claims<C>(pub Arc<C>);

impl<C> Clone for Claims<C> {
    fn clone(&self) -> Self {
        Self(Arc::clone(&self.0))
    }
}

impl<C> Deref for Claims<C> {
    type Target = C;

    fn deref(&self) -> &C {
        &self.0
    }
}

impl<S, C> FromRequestParts<S> for Claims<C>
where
    S: Send + Sync,
    C: DeserializeOwned + Send + Sync + 'static,
{
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let identity = identity(parts)?;
        if identity.method() != AuthMethod::Jwt {
            return Err(AuthRejection::new(
                parts,
                AuthError::new(AuthErrorKind::CredentialNotAccepted)
                    .with_message("This endpoint requires a JWT access token"),
            ));
        }
        match identity.decode_claims::<C>() {
            Some(Ok(claims)) => Ok(Claims(claims)),
            Some(Err(error)) => Err(AuthRejection::new(parts, error)),
            None => {
                // Only an identity built by hand gets here: the layer's JWT identities keep
                // their payload.
                tracing::error!(
                    claims = std::any::type_name::<C>(),
                    "a handler takes Claims<C>, but the request's JWT identity was built by hand \
                     without claims of this type (IdentityBuilder::claims)"
                );
                Err(AuthRejection::new(
                    parts,
                    AuthError::new(AuthErrorKind::Misconfigured),
                ))
            }
        }
    }
}

/// A set of required scopes known at compile time; declare one with [`scopes!`](crate::scopes).
pub trait ScopeSet: Send + Sync + 'static {
    /// The scopes.
    const SCOPES: &'static [&'static str];
    /// All of them, or any one.
    const MATCH: ScopeMatch = ScopeMatch::All;
}

/// An extractor that yields the identity only if it has the scopes of `R`; otherwise 403
/// `insufficient_scope` (or 401 when unauthenticated). Declare `R` with [`scopes!`](crate::scopes).
///
/// ```
/// use axum::{Router, routing::post};
/// use tower_api_auth::{Scoped, scopes};
///
/// scopes!(pub ConversationsWrite = all["conversations:write"]);
///
/// async fn create(Scoped(identity, ..): Scoped<ConversationsWrite>) -> String {
///     format!("created by {}", identity.principal())
/// }
///
/// let app: Router = Router::new().route("/conversations", post(create));
/// # let _ = app;
/// ```
#[derive(Debug, Clone)]
pub struct Scoped<R: ScopeSet>(pub Identity, pub PhantomData<R>);

impl<S, R> FromRequestParts<S> for Scoped<R>
where
    S: Send + Sync,
    R: ScopeSet,
{
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        // Checked against the constant list directly: nothing to build per request.
        check_scope_list(&parts.extensions, R::MATCH, R::SCOPES.iter().copied())
            .map(|identity| Scoped(identity, PhantomData))
            .map_err(|error| AuthRejection::new(parts, error))
    }
}

/// Declares a [`ScopeSet`] type for the [`Scoped`] extractor.
///
/// ```
/// use tower_api_auth::scopes;
///
/// scopes!(pub ConversationsWrite = all["conversations:write"]);
/// scopes!(ReadAnything = any["conversations:read", "admin"]);
/// ```
#[macro_export]
macro_rules! scopes {
    ($vis:vis $name:ident = all[$($scope:literal),+ $(,)?]) => {
        $crate::scopes!(@define $vis $name, All, $($scope),+);
    };
    ($vis:vis $name:ident = any[$($scope:literal),+ $(,)?]) => {
        $crate::scopes!(@define $vis $name, Any, $($scope),+);
    };
    (@define $vis:vis $name:ident, $mode:ident, $($scope:literal),+) => {
        #[doc = concat!("Required scopes: ", stringify!($mode), " of ", $($scope, " "),+)]
        #[derive(Debug, Clone, Copy)]
        $vis struct $name;
        impl $crate::extract::ScopeSet for $name {
            const SCOPES: &'static [&'static str] = &[$($scope),+];
            const MATCH: $crate::scope::ScopeMatch = $crate::scope::ScopeMatch::$mode;
        }
    };
}
