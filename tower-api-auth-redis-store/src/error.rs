//! Redis failures as [`StoreError`]s, and the time budget of one call.

use std::fmt;
use std::future::Future;
use std::time::Duration;

use tower_api_auth::store::StoreError;

/// How long one connection attempt may take.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long the server may take to answer one command.
pub(crate) const RESPONSE_TIMEOUT: Duration = Duration::from_secs(2);
/// The whole budget of one store call, reconnection included: a dead server fails calls within
/// it rather than holding requests.
pub(crate) const CALL_BUDGET: Duration = Duration::from_secs(4);

/// A failed Redis operation: which one, and the client's error. The client's errors name the
/// command's kind and the server's answer, never the arguments (hashes, payloads) or the URL's
/// password.
#[derive(Debug)]
struct Failure {
    op: &'static str,
    source: Option<::redis::RedisError>,
    detail: &'static str,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.source {
            Some(source) => write!(f, "redis {}: {source}", self.op),
            None => write!(f, "redis {}: {}", self.op, self.detail),
        }
    }
}

impl std::error::Error for Failure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_ref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// `op` failed with the client's `error`.
pub(crate) fn failed(op: &'static str, error: ::redis::RedisError) -> StoreError {
    StoreError::new(Failure {
        op,
        source: Some(error),
        detail: "",
    })
}

/// `op` failed for `detail` (a fixed text: never a value read or sent).
pub(crate) fn invalid(op: &'static str, detail: &'static str) -> StoreError {
    StoreError::new(Failure {
        op,
        source: None,
        detail,
    })
}

/// Runs one call within [`CALL_BUDGET`].
pub(crate) async fn call<T>(
    op: &'static str,
    future: impl Future<Output = ::redis::RedisResult<T>>,
) -> Result<T, StoreError> {
    within(op, CALL_BUDGET, future).await
}

/// Runs `future` within `budget`.
pub(crate) async fn within<T>(
    op: &'static str,
    budget: Duration,
    future: impl Future<Output = ::redis::RedisResult<T>>,
) -> Result<T, StoreError> {
    match tokio::time::timeout(budget, future).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => Err(failed(op, error)),
        Err(_) => Err(invalid(op, "timed out")),
    }
}
