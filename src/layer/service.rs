//! [`AuthService`]: authenticates each request before the inner service sees it.

use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{AUTHORIZATION, COOKIE, Entry};
use http::{HeaderMap, HeaderName, Request, Response};
use tower_service::Service;

use crate::authenticator::{AuthResult, Authenticator, Outcome};
use crate::identity::Identity;
use crate::layer::body::AuthBody;
use crate::layer::future::ResponseFuture;

/// Marks a request that passed an optional auth layer without credentials, so extractors and
/// scope checks downstream answer in the app's error format.
#[derive(Clone, Debug)]
pub(crate) struct Anonymous(pub(crate) crate::error::render::SharedRenderer);

/// The service of [`AuthLayer`](crate::AuthLayer).
///
/// Authenticated requests reach the inner service with an [`Identity`] in their extensions;
/// rejected ones are answered with an `Ok` error response and never reach it.
#[derive(Clone, Debug)]
#[must_use]
pub struct AuthService<S> {
    pub(crate) inner: S,
    pub(crate) auth: Arc<Authenticator>,
}

impl<S> AuthService<S> {
    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

/// What becomes of a request once its credentials are judged.
pub(crate) enum Admission {
    /// Let through, with its identity (if any) in the extensions.
    Pass,
    /// Answered with this rejection.
    Reject(Response<Bytes>),
}

/// Logs the outcome and either readies the request for the inner service, its identity (if any)
/// in the extensions, or answers with the rejection. The request is borrowed, not moved: it is
/// a few hundred bytes, and every move is a copy on every request.
pub(crate) fn admit<B>(
    auth: &Authenticator,
    request: &mut Request<B>,
    result: AuthResult,
) -> Admission {
    match result {
        Ok(Some(identity)) => {
            tracing::debug!(
                method = ?identity.method(),
                principal = identity.principal(),
                key_id = identity.key_id(),
                tenant = identity.tenant().map(|t| t.as_str()),
                "request authenticated"
            );
            request.extensions_mut().insert::<Identity>(identity);
            Admission::Pass
        }
        Ok(None) => {
            tracing::debug!("anonymous request let through by optional authentication");
            request
                .extensions_mut()
                .insert(Anonymous(auth.renderer.clone()));
            Admission::Pass
        }
        Err(error) => {
            tracing::debug!(code = error.code(), "request rejected");
            Admission::Reject(auth.renderer.respond(error))
        }
    }
}

/// Marks every value of `name` sensitive, so that tracing and logging layers redact it.
fn mark_sensitive(headers: &mut HeaderMap, name: &HeaderName) {
    if let Entry::Occupied(mut values) = headers.entry(name) {
        values
            .iter_mut()
            .for_each(|value| value.set_sensitive(true));
    }
}

impl<S, ReqB, ResB> Service<Request<ReqB>> for AuthService<S>
where
    S: Service<Request<ReqB>, Response = Response<ResB>> + Clone,
{
    type Response = Response<AuthBody<ResB>>;
    type Error = S::Error;
    type Future = ResponseFuture<S, ReqB>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqB>) -> Self::Future {
        let (outcome, carried) = self.auth.authenticate(request.headers(), request.uri());
        // Keep credentials out of any logging layer below us.
        let headers = request.headers_mut();
        if carried.authorization {
            mark_sensitive(headers, &AUTHORIZATION);
        }
        if carried.api_key {
            mark_sensitive(headers, &self.auth.sources.api_key_header);
        }
        if carried.cookie {
            mark_sensitive(headers, &COOKIE);
        }

        match outcome {
            // Answered now: the instance poll_ready readied is called at once, no clone needed.
            Outcome::Done(result) => match admit(&self.auth, &mut request, result) {
                Admission::Pass => ResponseFuture::inner(self.inner.call(request)),
                Admission::Reject(response) => ResponseFuture::rejected(response),
            },
            // The call happens later: take the readied instance along and leave a clone for the
            // next poll_ready (tower's "be careful when cloning inner services").
            Outcome::Pending(lookup) => {
                let clone = self.inner.clone();
                let inner = std::mem::replace(&mut self.inner, clone);
                ResponseFuture::authenticating(lookup, request, inner, Arc::clone(&self.auth))
            }
        }
    }
}
