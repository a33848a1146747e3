//! [`AuthLayer`]: authenticate every request of a tower service.
//!
//! ```
//! # #[cfg(any(feature = "aws-lc-rs", feature = "rust-crypto"))]
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use tower_api_auth::jwt::JwtOptions;
//! use tower_api_auth::{AuthLayer, JwtValidator, MemoryKeyStore};
//!
//! let auth = AuthLayer::builder()
//!     .jwt(JwtValidator::hs256(b"a-secret-of-at-least-thirty-two-bytes!!", JwtOptions::new().audience("api"))?)
//!     .api_keys(MemoryKeyStore::new())
//!     .build()?;
//! // The same credentials, but a request without any passes anonymously (for public pages that
//! // greet a signed-in user by name).
//! let maybe = auth.optional();
//! # let _ = (auth, maybe);
//! # Ok(()) }
//! # #[cfg(not(any(feature = "aws-lc-rs", feature = "rust-crypto")))]
//! # fn main() {}
//! ```
//!
//! With axum, put the layer on a group of routes with `route_layer`, so that an unknown path
//! still answers 404 rather than 401.

mod body;
pub(crate) mod future;
// Its implementor, the rate limits, is the `rate-limit` feature.
#[cfg_attr(not(feature = "rate-limit"), allow(dead_code))]
pub(crate) mod limits;
pub(crate) mod service;
mod throttle;

use std::fmt;

pub use body::AuthBody;
pub use future::ResponseFuture;
pub use service::AuthService;
pub(crate) use service::inner_service_accessors;
pub use throttle::{FailureThrottle, Throttled};

use std::sync::Arc;

use tower_layer::Layer;

use crate::api_key::ApiKeys;
use crate::authenticator::Authenticator;
use crate::clock::{Clock, SharedClock};
use crate::credential::CredentialSources;
use crate::error::render::SharedRenderer;
use crate::error::{ErrorFormat, ErrorRenderer};
use crate::jwt::JwtValidator;
use crate::opaque::OpaqueTokenValidator;
use crate::store::RevocationCheck;
use crate::tenant::TenantRules;
use service::{Judge, Policy};

/// Authenticates every request: a Bearer JWT, or an API key (in `X-API-Key` with `X-Tenant-ID`, or
/// as a Bearer token). See the [crate documentation](crate) for the whole flow.
///
/// Cheap to clone; clones share the validators and stores.
///
/// ```
/// # #[cfg(any(feature = "aws-lc-rs", feature = "rust-crypto"))]
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use tower_api_auth::jwt::JwtOptions;
/// use tower_api_auth::{AuthLayer, JwtValidator};
///
/// let auth = AuthLayer::builder()
///     .jwt(JwtValidator::hs256(b"a-secret-of-at-least-thirty-two-bytes!!", JwtOptions::new())?)
///     .build()?;
/// // A layer that accepts no credential at all is a mistake, refused when it is built.
/// assert!(AuthLayer::builder().build().is_err());
/// # let _ = auth;
/// # Ok(()) }
/// # #[cfg(not(any(feature = "aws-lc-rs", feature = "rust-crypto")))]
/// # fn main() {}
/// ```
#[derive(Clone, Debug)]
#[must_use]
pub struct AuthLayer {
    judge: Arc<Judge>,
    /// The built-in format its errors are rendered in; `None` for a custom renderer.
    format: Option<ErrorFormat>,
}

impl AuthLayer {
    /// Starts a layer.
    pub fn builder() -> AuthLayerBuilder {
        AuthLayerBuilder::default()
    }

    /// This layer, letting requests without any credential through with no
    /// [`Identity`](crate::Identity) (handlers take `Option<Identity>`). Invalid credentials are
    /// still rejected. Shares everything with `self`: one builder serves strict and optional routes.
    pub fn optional(&self) -> Self {
        Self {
            judge: Arc::new(Judge {
                auth: Arc::clone(&self.judge.auth),
                policy: Policy {
                    optional: true,
                    ..self.judge.policy.clone()
                },
                limits: self.judge.limits.clone(),
            }),
            format: self.format,
        }
    }

    /// This layer, checking `limits` on every request it lets through (replacing any it had).
    #[cfg_attr(not(feature = "rate-limit"), allow(dead_code))]
    pub(crate) fn with_limits(&self, limits: Arc<dyn limits::RequestLimits>) -> Self {
        Self {
            judge: Arc::new(Judge {
                auth: Arc::clone(&self.judge.auth),
                policy: self.judge.policy.clone(),
                limits: Some(limits),
            }),
            format: self.format,
        }
    }

    /// Whether the layer accepts JWT Bearer tokens ([`AuthLayerBuilder::jwt`]).
    pub fn accepts_jwt(&self) -> bool {
        self.judge.auth.jwt.is_some()
    }

    /// Whether the layer accepts API keys ([`AuthLayerBuilder::api_keys`]): in the API-key
    /// header, and as Bearer tokens.
    pub fn accepts_api_keys(&self) -> bool {
        self.judge.auth.api_keys.is_some()
    }

    /// Whether the layer accepts opaque Bearer tokens ([`AuthLayerBuilder::opaque_tokens`]).
    pub fn accepts_opaque_tokens(&self) -> bool {
        self.judge.auth.opaque.is_some()
    }

    /// Where the layer reads credentials and the tenant from.
    pub fn credential_sources(&self) -> &CredentialSources {
        &self.judge.auth.sources
    }

    /// The layer's tenant rules.
    pub fn tenant_rules(&self) -> &TenantRules {
        &self.judge.auth.tenants
    }

    /// Whether requests without a credential pass (anonymously).
    pub fn is_optional(&self) -> bool {
        self.judge.policy.optional
    }

    /// The built-in format of the layer's error bodies, or `None` when a custom
    /// [`error_renderer`](AuthLayerBuilder::error_renderer) renders them.
    pub fn error_format(&self) -> Option<ErrorFormat> {
        self.format
    }

    /// The layer's error renderer, so that companion routers (the token endpoints) answer in the
    /// same format.
    pub fn error_renderer(&self) -> Arc<dyn ErrorRenderer> {
        Arc::clone(self.judge.policy.renderer.renderer())
    }

    /// The `realm` of the layer's challenges, if one was set.
    pub fn realm(&self) -> Option<&str> {
        self.judge.policy.renderer.realm()
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = AuthService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AuthService {
            inner,
            judge: Arc::clone(&self.judge),
        }
    }
}

/// Answers `error` in the error format of the auth layer the request passed (its renderer, realm
/// and challenge), or in the default format if it passed none: for middleware and handlers that
/// refuse a request after authentication (the rate limiter's 429) in the same shape as the
/// layer's own rejections.
///
/// ```
/// use tower_api_auth::{AuthError, AuthErrorKind, layer::error_response};
///
/// let response = error_response(&http::Extensions::new(), AuthError::new(AuthErrorKind::RateLimitExceeded));
/// assert_eq!(response.status(), 429);
/// assert_eq!(response.extensions().get::<AuthError>().unwrap().code(), "rate_limit_exceeded");
/// ```
pub fn error_response(
    extensions: &http::Extensions,
    error: crate::AuthError,
) -> http::Response<bytes::Bytes> {
    crate::require_scopes::renderer_of(extensions).respond(error)
}

/// Whether the request passed an [`AuthLayer`] (let through by it, with or without an
/// identity): for middleware below it that must know it runs after authentication.
pub fn passed_auth_layer(extensions: &http::Extensions) -> bool {
    extensions.get::<service::RequestRenderer>().is_some()
        || extensions
            .get::<service::PassedWithDefaultFormat>()
            .is_some()
}

/// A layer that could not be built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildError(&'static str);

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for BuildError {}

/// Configures an [`AuthLayer`]. Cheap to clone.
///
/// ```
/// # #[cfg(any(feature = "aws-lc-rs", feature = "rust-crypto"))]
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use tower_api_auth::credential::CredentialSources;
/// use tower_api_auth::error::ErrorFormat;
/// use tower_api_auth::jwt::JwtOptions;
/// use tower_api_auth::{AuthLayer, JwtValidator, MemoryKeyStore};
///
/// let auth = AuthLayer::builder()
///     .jwt(JwtValidator::hs256(b"a-secret-of-at-least-thirty-two-bytes!!", JwtOptions::new())?)
///     .api_keys(MemoryKeyStore::new())
///     .credentials(CredentialSources::new().cookie("access_token"))
///     .error_format(ErrorFormat::Problem)
///     .realm("api")
///     .build()?;
/// # let _ = auth;
/// # Ok(()) }
/// # #[cfg(not(any(feature = "aws-lc-rs", feature = "rust-crypto")))]
/// # fn main() {}
/// ```
#[derive(Debug, Default, Clone)]
#[must_use]
pub struct AuthLayerBuilder {
    sources: CredentialSources,
    jwt: Option<JwtValidator>,
    api_keys: Option<ApiKeys>,
    opaque: Option<Arc<dyn OpaqueTokenValidator>>,
    tenants: TenantRules,
    optional: bool,
    renderer: Option<Arc<dyn ErrorRenderer>>,
    /// Which built-in format `renderer` is, if it is one.
    format: Option<ErrorFormat>,
    realm: Option<Arc<str>>,
    resource_metadata: Option<Arc<str>>,
    revocation: Option<Arc<dyn RevocationCheck>>,
    clock: Option<SharedClock>,
    throttle: Option<Arc<dyn FailureThrottle>>,
}

impl std::fmt::Debug for dyn ErrorRenderer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("dyn ErrorRenderer")
    }
}

impl AuthLayerBuilder {
    /// Accepts JWT Bearer tokens validated by `validator`.
    pub fn jwt(mut self, validator: JwtValidator) -> Self {
        self.jwt = Some(validator);
        self
    }

    /// Accepts API keys: pass a [`KeyProvider`](crate::KeyProvider) such as
    /// [`MemoryKeyStore`](crate::MemoryKeyStore), or [`ApiKeys`] for a custom format or hasher.
    pub fn api_keys(mut self, api_keys: impl Into<ApiKeys>) -> Self {
        self.api_keys = Some(api_keys.into());
        self
    }

    /// Accepts opaque Bearer tokens — neither API keys nor shaped like a JWT, or any Bearer token
    /// that is not an API key when no [`jwt`](Self::jwt) validator is set — judged by `validator`
    /// (the `remote` feature's RFC 7662 introspection).
    pub fn opaque_tokens(mut self, validator: impl OpaqueTokenValidator) -> Self {
        self.opaque = Some(Arc::new(validator));
        self
    }

    /// Lets requests without any credential through, with no [`Identity`](crate::Identity). Invalid
    /// credentials are still rejected. See also [`AuthLayer::optional`].
    pub fn optional(mut self) -> Self {
        self.optional = true;
        self
    }

    /// Where credentials are read from: header names, size limit, an opt-in cookie or query
    /// parameter. Default [`CredentialSources::default`].
    pub fn credentials(mut self, sources: CredentialSources) -> Self {
        self.sources = sources;
        self
    }

    /// The tenant rules.
    pub fn tenant_rules(mut self, rules: TenantRules) -> Self {
        self.tenants = rules;
        self
    }

    /// One of the built-in error body formats. Default [`ErrorFormat::Nested`].
    pub fn error_format(mut self, format: ErrorFormat) -> Self {
        self.renderer = Some(Arc::new(format));
        self.format = Some(format);
        self
    }

    /// A custom error renderer (a closure `Fn(&AuthError) -> Response<Bytes>` works).
    pub fn error_renderer(mut self, renderer: impl ErrorRenderer) -> Self {
        self.renderer = Some(Arc::new(renderer));
        self.format = None;
        self
    }

    /// Names the protected resource's metadata (RFC 9728) in every `Bearer` challenge, as the
    /// `resource_metadata` parameter: a client told 401 or 403 fetches it and finds the
    /// authorization servers that issue tokens for this API. Serve the document with
    /// `endpoints::ProtectedResource` (feature `axum`).
    ///
    /// ```
    /// # #[cfg(any(feature = "aws-lc-rs", feature = "rust-crypto"))]
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use tower_api_auth::{AuthLayer, JwtValidator, jwt::JwtOptions};
    ///
    /// let layer = AuthLayer::builder()
    ///     .jwt(JwtValidator::hs256(b"a-secret-of-at-least-thirty-two-bytes!!", JwtOptions::new())?)
    ///     .resource_metadata("https://api.example.com/.well-known/oauth-protected-resource")
    ///     .build()?;
    /// # let _ = layer;
    /// # Ok(()) }
    /// # #[cfg(not(any(feature = "aws-lc-rs", feature = "rust-crypto")))]
    /// # fn main() {}
    /// ```
    pub fn resource_metadata(mut self, url: impl Into<Arc<str>>) -> Self {
        self.resource_metadata = Some(url.into());
        self
    }

    /// The `realm` of every `WWW-Authenticate` challenge.
    pub fn realm(mut self, realm: impl Into<Arc<str>>) -> Self {
        self.realm = Some(realm.into());
        self
    }

    /// Refuses JWTs whose session (`sid`) or id (`jti`) `check` reports revoked (`token_revoked`).
    /// Without one, no check is made and it costs nothing.
    pub fn revocation(mut self, check: impl RevocationCheck) -> Self {
        self.revocation = Some(Arc::new(check));
        self
    }

    /// The clock that decides expiry. Default: the system clock; tests pass a
    /// [`ManualClock`](crate::clock::ManualClock).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Some(Arc::new(clock));
        self
    }

    /// Refuses clients that failed to authenticate too often, before their credentials cost a
    /// lookup or a signature check: pass a `rate_limit::AuthThrottle` (feature `rate-limit`), or
    /// any [`FailureThrottle`]. Every request with a credential is first
    /// [admitted](FailureThrottle::admit) — a refused one is answered at once, in the layer's
    /// error format, with `Retry-After` — and every credential the layer refuses is
    /// [reported](FailureThrottle::failed) with the client it came from. A client over its
    /// quota is refused whatever credential it sends, a valid one included: telling a valid one
    /// from a guess is the lookup being saved. Requests without credentials are not refused
    /// (they cost nothing): behind [`optional`](AuthLayer::optional) they pass anonymously.
    pub fn throttle_failures(mut self, throttle: impl FailureThrottle) -> Self {
        self.throttle = Some(Arc::new(throttle));
        self
    }

    /// Builds the layer; refuses one that would accept no credential at all (none of
    /// [`jwt`](Self::jwt), [`api_keys`](Self::api_keys), [`opaque_tokens`](Self::opaque_tokens)
    /// configured).
    pub fn build(self) -> Result<AuthLayer, BuildError> {
        if self.jwt.is_none() && self.api_keys.is_none() && self.opaque.is_none() {
            return Err(BuildError(
                "the auth layer accepts no credential: configure .jwt(..), .api_keys(..) or .opaque_tokens(..)",
            ));
        }
        let default_format =
            self.renderer.is_none() && self.realm.is_none() && self.resource_metadata.is_none();
        if !default_format {
            service::formatted_layer_built();
        }
        let format = match self.renderer {
            None => Some(ErrorFormat::default()),
            Some(_) => self.format,
        };
        let renderer = SharedRenderer::new(
            self.renderer
                .unwrap_or_else(|| Arc::new(ErrorFormat::default())),
            self.realm,
            self.resource_metadata,
        );
        Ok(AuthLayer {
            judge: Arc::new(Judge {
                auth: Arc::new(Authenticator {
                    sources: self.sources,
                    jwt: self.jwt,
                    api_keys: self.api_keys,
                    opaque: self.opaque,
                    tenants: self.tenants,
                    revocation: self.revocation,
                    clock: self.clock.unwrap_or_else(crate::clock::system),
                }),
                policy: Policy {
                    renderer,
                    default_format,
                    optional: self.optional,
                    throttle: self.throttle,
                },
                limits: None,
            }),
            format,
        })
    }
}
