//! [`AuthLayer`]: authenticate every request of a tower service.
//!
//! ```
//! # #[cfg(any(feature = "aws-lc-rs", feature = "rust-crypto"))]
//! # fn main() {
//! use tower_api_auth::{AuthLayer, JwtValidator, MemoryKeyProvider};
//!
//! let auth = AuthLayer::builder()
//!     .jwt(JwtValidator::hs256(b"a-secret-of-at-least-thirty-two-bytes!!").unwrap().audience("api"))
//!     .api_keys(MemoryKeyProvider::new())
//!     .build();
//! # let _ = auth;
//! # }
//! # #[cfg(not(any(feature = "aws-lc-rs", feature = "rust-crypto")))]
//! # fn main() {}
//! ```
//!
//! With axum, put the layer on the router (`Router::layer`) or on a group of routes with
//! `route_layer`, so that an unknown path still answers 404 rather than 401.

mod body;
pub(crate) mod future;
pub(crate) mod service;

pub use body::AuthBody;
pub use future::ResponseFuture;
pub use service::AuthService;

use std::sync::Arc;

use http::HeaderName;
use tower_layer::Layer;

use crate::api_key::ApiKeys;
use crate::authenticator::Authenticator;
use crate::clock::{Clock, SharedClock};
use crate::credential::CredentialSources;
use crate::error::render::SharedRenderer;
use crate::error::{ErrorFormat, ErrorRenderer};
use crate::jwt::JwtValidator;
use crate::revocation::RevocationCheck;
use crate::tenant::TenantRules;

/// Authenticates every request: a Bearer JWT, or an API key (in `X-API-Key` with `X-Tenant-ID`, or
/// as a Bearer token). See the [crate documentation](crate) for the whole flow.
#[derive(Clone, Debug)]
#[must_use]
pub struct AuthLayer {
    auth: Arc<Authenticator>,
}

impl AuthLayer {
    /// Starts a layer.
    pub fn builder() -> AuthLayerBuilder {
        AuthLayerBuilder::default()
    }

    /// The layer's error renderer, so that companion routers (the token endpoints) answer in the
    /// same format.
    pub fn error_renderer(&self) -> Arc<dyn ErrorRenderer> {
        Arc::clone(self.auth.renderer.renderer())
    }

    /// The `realm` of the layer's challenges, if one was set.
    pub fn realm(&self) -> Option<&str> {
        self.auth.renderer.realm()
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = AuthService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AuthService {
            inner,
            auth: Arc::clone(&self.auth),
        }
    }
}

/// Configures an [`AuthLayer`].
#[derive(Debug, Default)]
#[must_use]
pub struct AuthLayerBuilder {
    sources: CredentialSources,
    jwt: Option<JwtValidator>,
    api_keys: Option<ApiKeys>,
    tenants: TenantRules,
    optional: bool,
    renderer: Option<Arc<dyn ErrorRenderer>>,
    realm: Option<Arc<str>>,
    revocation: Option<Arc<dyn RevocationCheck>>,
    clock: Option<SharedClock>,
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
    /// [`MemoryKeyProvider`](crate::MemoryKeyProvider), or [`ApiKeys`] for a custom format or hasher.
    pub fn api_keys(mut self, api_keys: impl Into<ApiKeys>) -> Self {
        self.api_keys = Some(api_keys.into());
        self
    }

    /// Lets requests without any credential through, with no [`Identity`](crate::Identity). Invalid
    /// credentials are still rejected.
    pub fn optional(mut self) -> Self {
        self.optional = true;
        self
    }

    /// Replaces all credential sources at once.
    pub fn credentials(mut self, sources: CredentialSources) -> Self {
        self.sources = sources;
        self
    }

    /// The API-key header. Default `X-API-Key`.
    pub fn api_key_header(mut self, name: HeaderName) -> Self {
        self.sources.api_key_header = name;
        self
    }

    /// The tenant header. Default `X-Tenant-ID`.
    pub fn tenant_header(mut self, name: HeaderName) -> Self {
        self.sources.tenant_header = name;
        self
    }

    /// The longest token or key accepted, in bytes. Default 8 KiB.
    pub fn max_token_len(mut self, bytes: usize) -> Self {
        self.sources.max_token_len = bytes;
        self
    }

    /// Also reads a Bearer token from this cookie (header credentials win). Needs CSRF protection.
    pub fn cookie(mut self, name: impl Into<String>) -> Self {
        self.sources.cookie = Some(name.into());
        self
    }

    /// Also reads a Bearer token from this query parameter (RFC 6750 §2.3). Avoid if you can.
    pub fn query_param(mut self, name: impl Into<String>) -> Self {
        self.sources.query_param = Some(name.into());
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
        self
    }

    /// A custom error renderer (a closure `Fn(&AuthError) -> Response<Bytes>` works).
    pub fn error_renderer(mut self, renderer: impl ErrorRenderer) -> Self {
        self.renderer = Some(Arc::new(renderer));
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

    /// The clock every expiry is judged by. Default: the system clock.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Some(Arc::new(clock));
        self
    }

    /// Builds the layer. A layer with neither JWTs nor API keys configured rejects every credential.
    pub fn build(self) -> AuthLayer {
        let renderer = SharedRenderer::new(
            self.renderer
                .unwrap_or_else(|| Arc::new(ErrorFormat::default())),
            self.realm,
        );
        AuthLayer {
            auth: Arc::new(Authenticator {
                sources: self.sources,
                jwt: self.jwt,
                api_keys: self.api_keys,
                tenants: self.tenants,
                optional: self.optional,
                revocation: self.revocation,
                renderer,
                clock: self.clock.unwrap_or_else(crate::clock::system),
            }),
        }
    }
}
