//! [`RateLimitBackend`]: where quotas are counted when one instance's memory is not enough.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::{LimitKey, Quota};
use crate::store::{Lookup, StoreError};

/// What a quota said to one request.
///
/// ```
/// use std::time::Duration;
/// use tower_api_auth::rate_limit::Decision;
///
/// let passed = Decision::allowed(9, Duration::from_secs(4));
/// assert!(passed.is_allowed());
/// // A request of cost 5 refused with 2 left: 3 more come back in 3 × 3.6 s.
/// let refused = Decision::denied(Duration::from_millis(10_800), Duration::from_millis(3600))
///     .with_remaining(2);
/// assert_eq!(refused.retry_after(), Duration::from_millis(10_800));
/// assert_eq!(refused.remaining(), 2);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    allowed: bool,
    remaining: u32,
    reset: Duration,
    retry_after: Duration,
}

impl Decision {
    /// The request passed; `remaining` more of cost one would pass now, and more quota comes
    /// back after `reset` (zero when the bucket is full).
    pub fn allowed(remaining: u32, reset: Duration) -> Self {
        Self {
            allowed: true,
            remaining,
            reset,
            retry_after: Duration::ZERO,
        }
    }

    /// The request was refused: one of its cost passes after `retry_after`; the next unit of
    /// quota comes back after `reset`. Nothing is left ([`with_remaining`](Self::with_remaining)
    /// when a costly request was refused with some left).
    pub fn denied(retry_after: Duration, reset: Duration) -> Self {
        Self {
            allowed: false,
            remaining: 0,
            reset,
            retry_after,
        }
    }

    /// What GCRA answers a request of `cost` when `quota`'s bucket is drawn `drawn` ahead of now
    /// (its theoretical arrival time minus now; zero for a full bucket): the arithmetic of
    /// [`LocalLimiter`](super::LocalLimiter), for a shared backend that keeps the arrival time
    /// and answers the same.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_api_auth::rate_limit::{Decision, Quota};
    ///
    /// let hourly = Quota::per_hour(10); // one unit every 6 minutes
    /// let fresh = Decision::gcra(&hourly, Duration::ZERO, 1);
    /// assert_eq!((fresh.is_allowed(), fresh.remaining()), (true, 9));
    /// let empty = Decision::gcra(&hourly, Duration::from_secs(3600), 1);
    /// assert_eq!(empty.retry_after(), Duration::from_secs(360));
    /// ```
    pub fn gcra(quota: &Quota, drawn: Duration, cost: u32) -> Self {
        super::local::Gcra::of(quota)
            .decide(u64::try_from(drawn.as_nanos()).unwrap_or(u64::MAX), 0, cost)
            .0
    }

    /// The units left now, for a refusal of a request that cost more than that.
    #[must_use]
    pub fn with_remaining(mut self, remaining: u32) -> Self {
        self.remaining = remaining;
        self
    }

    /// Whether the request passed.
    pub fn is_allowed(&self) -> bool {
        self.allowed
    }

    /// How many requests of cost one would pass now (after this one, if it passed).
    pub fn remaining(&self) -> u32 {
        self.remaining
    }

    /// Until more quota comes back (the `t` of the `RateLimit` field, draft-10 §4.1.2): the next
    /// unit. Zero when the bucket is full.
    pub fn reset(&self) -> Duration {
        self.reset
    }

    /// For a refused request: until the same request would pass (`Retry-After`). Zero when it
    /// passed.
    pub fn retry_after(&self) -> Duration {
        self.retry_after
    }
}

/// A shared counter of quotas, for a fleet whose instances must spend one quota between them
/// (the Redis store implements it). Without one, each instance counts in its own memory.
///
/// `acquire` spends `cost` of `key`'s `quota` if that much is left, atomically: two instances
/// asking at once never both get the last request. An error is the backend's failure (the layer
/// then does what [`OnBackendFailure`](super::OnBackendFailure) says), never a refusal. When a
/// request passes some quotas and a later one refuses it, the layer gives the earlier ones back
/// with `refund`, so that a refused request spends nothing; a backend that cannot keeps the
/// default, which gives nothing back.
///
/// Implementable outside the crate:
///
/// ```
/// use std::time::Duration;
/// use tower_api_auth::rate_limit::{Decision, LimitKey, Quota, RateLimitBackend};
/// use tower_api_auth::store::{Lookup, StoreError};
///
/// /// A backend for load tests: lets everything through.
/// #[derive(Debug)]
/// struct Unlimited;
///
/// impl RateLimitBackend for Unlimited {
///     fn acquire(&self, _key: &LimitKey, quota: &Quota, _cost: u32) -> Lookup<Decision> {
///         Lookup::Ready(Ok(Decision::allowed(quota.burst(), Duration::ZERO)))
///     }
/// }
/// ```
pub trait RateLimitBackend: Send + Sync + fmt::Debug + 'static {
    /// Spends `cost` (at least one) of `key`'s `quota`, or refuses.
    fn acquire(&self, key: &LimitKey, quota: &Quota, cost: u32) -> Lookup<Decision, StoreError>;

    /// Gives back `cost` of `key`'s `quota` that an `acquire` spent. The default gives nothing
    /// back.
    fn refund(&self, key: &LimitKey, quota: &Quota, cost: u32) -> Lookup<(), StoreError> {
        let _ = (key, quota, cost);
        Lookup::Ready(Ok(()))
    }
}

impl<B: RateLimitBackend + ?Sized> RateLimitBackend for Arc<B> {
    fn acquire(&self, key: &LimitKey, quota: &Quota, cost: u32) -> Lookup<Decision, StoreError> {
        (**self).acquire(key, quota, cost)
    }

    fn refund(&self, key: &LimitKey, quota: &Quota, cost: u32) -> Lookup<(), StoreError> {
        (**self).refund(key, quota, cost)
    }
}

/// What the layer does when its [`RateLimitBackend`] fails (a Redis that is down).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum OnBackendFailure {
    /// Count in this instance's memory until the backend answers again, and log at `warn`
    /// (default): the fleet's quota is then N instances × the quota, never zero.
    #[default]
    Local,
    /// Let the request through uncounted, and log at `warn`.
    Allow,
    /// Refuse it: `503 rate_limit_unavailable`.
    Refuse,
}
