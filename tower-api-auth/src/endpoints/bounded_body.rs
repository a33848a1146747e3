//! Reading a request body whole, bounded in size and in time: what every router here that reads
//! a body does first.
//!
//! A body declared longer than the limit is refused before a byte of it is read: otherwise a
//! client declaring a terabyte is answered only once the limit's worth has arrived, if ever. The
//! time limit is the routers' own, not the server's, because they may be served by any tower
//! server, one without a body timeout too: a client that stops sending halfway (a
//! `Content-Length` never reached, a chunked body without its last chunk) or trickles is cut off
//! instead of holding its connection and a task forever.

use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use http::HeaderMap;
use http::header::CONTENT_LENGTH;
use http_body_util::{BodyExt as _, LengthLimitError, Limited};

/// Why a body was not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyError {
    /// Longer than the limit, as declared or as sent (413).
    TooLarge,
    /// Not whole within the time limit (408).
    TimedOut,
    /// The connection failed while reading it (400).
    Unreadable,
}

/// The whole of `body`, if it is at most `limit` bytes long and arrives within `timeout` of the
/// call.
pub(crate) async fn read_bounded(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
    timeout: Duration,
) -> Result<Bytes, BodyError> {
    if declared_length(headers) > limit as u64 {
        return Err(BodyError::TooLarge);
    }
    match tokio::time::timeout(timeout, Limited::new(body, limit).collect()).await {
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(error)) if error.downcast_ref::<LengthLimitError>().is_some() => {
            Err(BodyError::TooLarge)
        }
        Ok(Err(_)) => Err(BodyError::Unreadable),
        Err(_elapsed) => Err(BodyError::TimedOut),
    }
}

/// The length the request's `Content-Length` declares (servers such as hyper pass on the header
/// they framed the body by); 0 when it has none, as a chunked body.
fn declared_length(headers: &HeaderMap) -> u64 {
    headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(0)
}
