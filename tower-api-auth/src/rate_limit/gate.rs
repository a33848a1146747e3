//! [`Gate`]: a request's limits, checked where it stands. What the [`RateLimitLayer`]'s service
//! acts on, and what an [`AuthLayer`] with limits of its own checks
//! ([`AuthLayer::with_rate_limits`]).
//!
//! [`RateLimitLayer`]: super::RateLimitLayer

use std::sync::Arc;

use super::RateLimitLayer;
use super::limits::{Limits, RemoteCheck, Verdict};
use crate::AuthLayer;
use crate::layer::limits::{Admit, RequestLimits, RequestView};

/// The limits of a layer, ready to check requests. Cheap to clone.
#[derive(Clone, Debug)]
pub(crate) struct Gate(pub(super) Arc<Limits>);

impl Gate {
    /// Checks a request's limits: in memory at once, or through the shared backend later.
    pub(crate) fn check(&self, view: &RequestView<'_>) -> Admit {
        if self.0.backend.is_none() {
            return admit(self.0.check_local(view));
        }
        match self.0.check_remote(view) {
            RemoteCheck::Done(verdict) => admit(verdict),
            RemoteCheck::Pending(check) => Admit::Pending(check),
        }
    }
}

impl RequestLimits for Gate {
    fn admit(&self, request: &RequestView<'_>) -> Admit {
        self.check(request)
    }
}

fn admit(verdict: Verdict) -> Admit {
    match verdict {
        Verdict::Pass(fields) => Admit::Pass(fields),
        Verdict::Refuse(response) => Admit::Refuse(response),
    }
}

impl AuthLayer {
    /// This layer, checking `limits` on every request it lets through, as a [`RateLimitLayer`]
    /// right inside it would, but in the same step: no layer order to get wrong, and a
    /// rate-limited request costs less (`benches/compare`, `benches/rate_limit.rs`). Shares
    /// everything else with `self`. `limits` replace any limits `self` had, they do not add to
    /// them: quotas that must all apply are policies of one [`RateLimits`](super::RateLimits).
    ///
    /// ```
    /// # #[cfg(all(feature = "axum", any(feature = "aws-lc-rs", feature = "rust-crypto")))]
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use axum::{Router, routing::get};
    /// use tower_api_auth::jwt::JwtOptions;
    /// use tower_api_auth::rate_limit::{Policy, Quota, RateLimits};
    /// use tower_api_auth::{AuthLayer, JwtValidator};
    ///
    /// let auth = AuthLayer::builder()
    ///     .jwt(JwtValidator::hs256(b"a-secret-of-at-least-thirty-two-bytes!!", JwtOptions::new())?)
    ///     .build()?;
    /// let limits = RateLimits::new()
    ///     .policy(Policy::new("per_user", Quota::per_hour(2000)))
    ///     .build()?;
    /// let app: Router = Router::new()
    ///     .route("/v1/users", get(|| async { "users" }))
    ///     .route_layer(auth.with_rate_limits(&limits));
    /// # let _ = app;
    /// # Ok(()) }
    /// # #[cfg(not(all(feature = "axum", any(feature = "aws-lc-rs", feature = "rust-crypto"))))]
    /// # fn main() {}
    /// ```
    pub fn with_rate_limits(&self, limits: &RateLimitLayer) -> Self {
        self.with_limits(Arc::new(limits.gate().clone()))
    }
}
