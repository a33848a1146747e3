//! [`FailureThrottle`]: how the auth layer refuses a client that failed to authenticate too
//! often, before its credentials cost a lookup.
//!
//! The layer only asks and tells; counting is the implementor's job (the `rate-limit` feature's
//! `rate_limit::AuthThrottle`). The hook is defined here, below the features, so that the layer
//! needs nothing of the rate limiter.

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use bytes::Bytes;
use http::header::RETRY_AFTER;
use http::{Extensions, HeaderMap, HeaderValue, Response};

use crate::error::AuthError;
use crate::error::render::SharedRenderer;

/// What the auth layer consults before it reads a request's credentials, and tells of the
/// credentials it refuses: a throttle of failed authentication (see
/// [`AuthLayerBuilder::throttle_failures`](super::AuthLayerBuilder::throttle_failures)).
///
/// ```
/// use std::net::IpAddr;
/// use std::sync::Mutex;
/// use std::time::Duration;
/// use tower_api_auth::layer::{FailureThrottle, Throttled};
/// use tower_api_auth::{AuthError, AuthErrorKind};
///
/// /// Refuses everyone after three failures, for a minute (a sketch: the real one counts per
/// /// client and lets time pass).
/// #[derive(Debug, Default)]
/// struct ThreeStrikes(Mutex<u32>);
///
/// impl FailureThrottle for ThreeStrikes {
///     fn admit(&self, _: &http::Extensions, _: &http::HeaderMap) -> Result<Option<IpAddr>, Throttled> {
///         if *self.0.lock().unwrap() >= 3 {
///             let error = AuthError::new(AuthErrorKind::RateLimitExceeded);
///             return Err(Throttled::new(error, Duration::from_secs(60)));
///         }
///         Ok(None)
///     }
///
///     fn failed(&self, _client: Option<IpAddr>, _error: &AuthError) {
///         *self.0.lock().unwrap() += 1;
///     }
/// }
/// ```
pub trait FailureThrottle: Send + Sync + fmt::Debug + 'static {
    /// Called for every request that carries a credential, before the credential is checked or
    /// looked up: the client it counts as (its IP address, if known), or the refusal to answer
    /// it with at once. (A request without credentials is never refused: answering it costs
    /// nothing.)
    fn admit(
        &self,
        extensions: &Extensions,
        headers: &HeaderMap,
    ) -> Result<Option<IpAddr>, Throttled>;

    /// Called when the layer refused the credential of a request that [`admit`](Self::admit)
    /// let through as `client`, with the error it answered. Not called for a request without
    /// credentials (the layer answers `missing_credentials` without any lookup, so there is
    /// nothing to protect), nor for a request the layer let through. The implementor decides
    /// which errors count: a provider that could not answer (`auth_unavailable`) is no client's
    /// failure.
    fn failed(&self, client: Option<IpAddr>, error: &AuthError);
}

/// A request a [`FailureThrottle`] refused: the error to answer with (the app renders it in its
/// format) and how long the client should wait (the `Retry-After` field).
#[derive(Clone, Debug)]
pub struct Throttled {
    error: AuthError,
    retry_after: Duration,
}

impl Throttled {
    /// A refusal with `error`; the client may try again after `retry_after`.
    pub fn new(error: AuthError, retry_after: Duration) -> Self {
        Self { error, retry_after }
    }

    /// The error the request is answered with.
    pub fn error(&self) -> &AuthError {
        &self.error
    }

    /// How long until the client may try again.
    pub fn retry_after(&self) -> Duration {
        self.retry_after
    }

    /// The `Retry-After` value: whole seconds, rounded up (a client that waits the rounded-down
    /// time would be refused again), and at least one.
    pub fn retry_after_header(&self) -> HeaderValue {
        let mut seconds = self.retry_after.as_secs();
        if self.retry_after.subsec_nanos() > 0 || seconds == 0 {
            seconds += 1;
        }
        HeaderValue::from(seconds)
    }

    /// The error, for a renderer of the caller's.
    pub fn into_error(self) -> AuthError {
        self.error
    }

    /// The response, rendered by `renderer`, with `Retry-After`.
    pub(crate) fn respond(self, renderer: &SharedRenderer) -> Response<Bytes> {
        let retry_after = self.retry_after_header();
        let mut response = renderer.respond(self.error);
        response.headers_mut().insert(RETRY_AFTER, retry_after);
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AuthErrorKind;

    #[test]
    fn retry_after_is_rounded_up_to_whole_seconds() {
        let error = AuthError::new(AuthErrorKind::RateLimitExceeded);
        for (wait, header) in [
            (Duration::ZERO, "1"),
            (Duration::from_millis(1), "1"),
            (Duration::from_secs(6), "6"),
            (Duration::from_millis(6_001), "7"),
        ] {
            let throttled = Throttled::new(error.clone(), wait);
            assert_eq!(throttled.retry_after_header(), header, "{wait:?}");
        }
    }
}
