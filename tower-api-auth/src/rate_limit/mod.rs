//! Rate limits keyed on the authenticated identity: a quota per authentication method, counted
//! per principal, tenant, API key or client (or a combination), with per-key plans, per-route
//! overrides and costs, answered `429 rate_limit_exceeded` with `Retry-After` and the IETF
//! `RateLimit-Policy` / `RateLimit` fields (draft-ietf-httpapi-ratelimit-headers-10).
//!
//! - [`RateLimits`] configures a [`RateLimitLayer`] of [`Policy`]s (a [`Quota`] such as
//!   `1000/hour`, for some [`Method`]s, counted [by](KeyBy) principal, tenant, key or client)
//!   and [`Route`]s (a cost, quotas of their own, or none).
//! - Counters live in memory ([`LocalLimiter`]: GCRA on one atomic per key, bounded) or, for a
//!   fleet that must share one quota, in a [`RateLimitBackend`] such as the Redis store; if the
//!   backend fails, [`OnBackendFailure`] says what happens (by default: count locally).
//!
//! ```
//! # #[cfg(all(feature = "axum", any(feature = "aws-lc-rs", feature = "rust-crypto")))]
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use tower_api_auth::rate_limit::{KeyBy, Method, Policy, Quota, RateLimits};
//!
//! // A tenant's keys share one quota: minting more keys buys no more requests.
//! let limits = RateLimits::new()
//!     .policy(Policy::new("tenant", "1000/hour".parse()?).methods([Method::ApiKey]).by([KeyBy::Tenant]))
//!     .build()?;
//! # let _ = limits;
//! # Ok(()) }
//! # #[cfg(not(all(feature = "axum", any(feature = "aws-lc-rs", feature = "rust-crypto"))))]
//! # fn main() {}
//! ```

mod backend;
mod config;
pub(crate) mod gate;
mod headers;
mod key;
mod limits;
mod local;
mod over_limit;
mod policy;
mod quota;
mod service;
mod throttle;

pub use crate::layer::ResponseFuture;
pub use backend::{Decision, OnBackendFailure, RateLimitBackend};
pub use config::{PolicyConfig, RateLimitsConfig, RouteConfig};
pub use headers::{RATELIMIT, RATELIMIT_POLICY};
pub use key::{KeyPart, LimitKey, MAX_KEY_PARTS};
pub use limits::{DEFAULT_PLAN_FIELD, RateLimitError, RateLimits};
pub use local::{DEFAULT_MAX_KEYS, LocalLimiter};
pub use over_limit::OverLimitCache;
pub use policy::{KeyBy, Method, Policy, Route};
pub use quota::{Quota, QuotaError};
pub use service::{RateLimitLayer, RateLimitService};
pub use throttle::{AuthAttempt, AuthThrottle, AuthThrottleConfig};
