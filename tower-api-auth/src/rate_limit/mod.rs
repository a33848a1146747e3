//! Rate limits keyed on the authenticated identity: a quota per authentication method, counted
//! per principal, tenant, API key or client (or a combination), with per-key plans, per-route
//! overrides and costs, answered `429 rate_limit_exceeded` with `Retry-After` and the IETF
//! `RateLimit-Policy` / `RateLimit` fields.

mod backend;
mod key;
mod local;
mod quota;

pub use backend::{Decision, OnBackendFailure, RateLimitBackend};
pub use key::{KeyPart, LimitKey, MAX_KEY_PARTS};
pub use local::{DEFAULT_MAX_KEYS, LocalLimiter};
pub use quota::{Quota, QuotaError};
