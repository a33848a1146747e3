//! [`RateLimitLayer`] and its service: spend the request's quotas before the inner service sees
//! it.

use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use tower_layer::Layer;
use tower_service::Service;

use super::gate::Gate;
use super::limits::Limits;
use crate::layer::limits::RequestView;
use crate::layer::service::call_admitted;
use crate::layer::{AuthBody, ResponseFuture};

/// Rate limits keyed on the authenticated identity, for a tower service behind an
/// [`AuthLayer`](crate::AuthLayer). Built by [`RateLimits`](super::RateLimits).
///
/// The simplest way to apply them is to let the auth layer check them itself:
/// [`AuthLayer::with_rate_limits`](crate::AuthLayer::with_rate_limits) (one layer, no order to
/// get wrong, cheaper per request). As a layer of its own, as below, they apply to whatever is
/// inside it, after any middleware between the two.
///
/// It reads the [`Identity`](crate::Identity) the auth layer put in the request, so it must run
/// **after** it: with tower's `ServiceBuilder`, add it after the auth layer; with axum, whose
/// last `.layer(..)` is the outermost, add it before:
///
/// ```
/// # #[cfg(all(feature = "axum", any(feature = "aws-lc-rs", feature = "rust-crypto")))]
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use axum::{Router, routing::get};
/// use tower_api_auth::jwt::JwtOptions;
/// use tower_api_auth::rate_limit::{Method, Policy, Quota, RateLimits};
/// use tower_api_auth::{AuthLayer, JwtValidator, MemoryKeyStore};
///
/// let auth = AuthLayer::builder()
///     .jwt(JwtValidator::hs256(b"a-secret-of-at-least-thirty-two-bytes!!", JwtOptions::new())?)
///     .api_keys(MemoryKeyStore::new())
///     .build()?;
/// let limits = RateLimits::new()
///     .policy(Policy::new("api_keys", Quota::per_hour(1000)).methods([Method::ApiKey]))
///     .policy(Policy::new("jwt", Quota::per_hour(2000)).methods([Method::Jwt]))
///     .build()?;
/// let app: Router = Router::new()
///     .route("/v1/users", get(|| async { "users" }))
///     .route_layer(limits) // runs second
///     .route_layer(auth); // runs first
/// # let _ = app;
/// # Ok(()) }
/// # #[cfg(not(all(feature = "axum", any(feature = "aws-lc-rs", feature = "rust-crypto"))))]
/// # fn main() {}
/// ```
///
/// A refused request is answered `429 rate_limit_exceeded` in the auth layer's error format,
/// with `Retry-After`, `RateLimit-Policy` and `RateLimit`; it never reaches the inner service.
/// Cheap to clone.
#[derive(Clone, Debug)]
#[must_use]
pub struct RateLimitLayer {
    gate: Gate,
}

impl RateLimitLayer {
    pub(super) fn new(limits: Arc<Limits>) -> Self {
        Self { gate: Gate(limits) }
    }

    /// The limits, for an auth layer that checks them itself.
    pub(crate) fn gate(&self) -> &Gate {
        &self.gate
    }
}

impl<S> Layer<S> for RateLimitLayer {
    type Service = RateLimitService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RateLimitService {
            inner,
            gate: self.gate.clone(),
        }
    }
}

/// The service of [`RateLimitLayer`].
#[derive(Clone, Debug)]
#[must_use]
pub struct RateLimitService<S> {
    inner: S,
    gate: Gate,
}

crate::layer::inner_service_accessors!(RateLimitService);

impl<S, ReqB, ResB> Service<Request<ReqB>> for RateLimitService<S>
where
    S: Service<Request<ReqB>, Response = Response<ResB>> + Clone,
{
    type Response = Response<AuthBody<ResB>>;
    type Error = S::Error;
    type Future = ResponseFuture<S, ReqB>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqB>) -> Self::Future {
        let admit = self.gate.check(&RequestView::of(&request));
        call_admitted(&mut self.inner, admit, request)
    }
}
