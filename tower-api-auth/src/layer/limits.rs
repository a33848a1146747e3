//! The limits an auth layer checks itself on the requests it lets through. The rate limits
//! (`rate_limit`, a row above this one) implement [`RequestLimits`] and add
//! [`AuthLayer::with_rate_limits`](crate::AuthLayer::with_rate_limits); the layer knows them only
//! by this trait.

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use bytes::Bytes;
use http::{Extensions, HeaderMap, Method, Response};

/// The fields a passed request's response gains (`RateLimit`, `RateLimit-Policy`) when success
/// headers are on.
pub(crate) type Fields = Option<Box<HeaderMap>>;

/// What of a request the limits read.
pub(crate) struct RequestView<'a> {
    pub(crate) method: &'a Method,
    pub(crate) path: &'a str,
    pub(crate) headers: &'a HeaderMap,
    pub(crate) extensions: &'a Extensions,
}

impl<'a> RequestView<'a> {
    pub(crate) fn of<B>(request: &'a http::Request<B>) -> Self {
        Self {
            method: request.method(),
            path: request.uri().path(),
            headers: request.headers(),
            extensions: request.extensions(),
        }
    }
}

/// Limits checked on each request a layer lets through, after its identity is in the
/// extensions.
pub(crate) trait RequestLimits: Send + Sync + fmt::Debug {
    fn admit(&self, request: &RequestView<'_>) -> Admit;
}

/// What a request's limits decided.
pub(crate) enum Admit {
    /// Let through; its response gains these fields.
    Pass(Fields),
    /// Answered with this refusal (429, or 503 when a backend is down and refusal is the
    /// configured fallback).
    Refuse(Response<Bytes>),
    /// A shared backend must be asked first.
    Pending(PendingLimits),
}

/// A check waiting on a shared backend: the passed request's fields, or its refusal rendered in
/// the format of the request's auth layer.
pub(crate) type PendingLimits =
    Pin<Box<dyn Future<Output = Result<Fields, Response<Bytes>>> + Send>>;

/// Adds a passed request's fields to its response: appended, since a limit layer further in may
/// have sent fields of its own.
pub(crate) fn add_fields(headers: &mut HeaderMap, fields: &HeaderMap) {
    for (name, value) in fields.iter() {
        headers.append(name, value.clone());
    }
}
