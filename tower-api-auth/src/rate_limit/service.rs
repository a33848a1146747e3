//! [`RateLimitLayer`] and its service: spend the request's quotas before the inner service sees
//! it.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http::{HeaderMap, Request, Response};
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use super::limits::{Limits, RemoteCheck, RemoteOutcome, RequestView, Verdict};
use crate::layer::AuthBody;

/// Rate limits keyed on the authenticated identity, for a tower service behind an
/// [`AuthLayer`](crate::AuthLayer). Built by [`RateLimits`](super::RateLimits).
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
    limits: Arc<Limits>,
}

impl RateLimitLayer {
    pub(super) fn new(limits: Arc<Limits>) -> Self {
        Self { limits }
    }
}

impl<S> Layer<S> for RateLimitLayer {
    type Service = RateLimitService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RateLimitService {
            inner,
            limits: Arc::clone(&self.limits),
        }
    }
}

/// The service of [`RateLimitLayer`].
#[derive(Clone, Debug)]
#[must_use]
pub struct RateLimitService<S> {
    inner: S,
    limits: Arc<Limits>,
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
        let view = RequestView {
            method: request.method(),
            path: request.uri().path(),
            headers: request.headers(),
            extensions: request.extensions(),
        };
        if self.limits.backend.is_none() {
            let verdict = self.limits.check_local(&view);
            return self.answer(verdict, request);
        }
        match self.limits.check_remote(&view) {
            RemoteCheck::Done(verdict) => self.answer(verdict, request),
            // The call happens later: take the readied instance along, leave a clone for the
            // next poll_ready (tower's "be careful when cloning inner services").
            RemoteCheck::Pending(check) => {
                let clone = self.inner.clone();
                let inner = std::mem::replace(&mut self.inner, clone);
                ResponseFuture {
                    state: State::Checking {
                        check,
                        request: Some(request),
                        inner: Some(inner),
                        limits: Arc::clone(&self.limits),
                    },
                }
            }
        }
    }
}

impl<S> RateLimitService<S> {
    fn answer<ReqB>(&mut self, verdict: Verdict, request: Request<ReqB>) -> ResponseFuture<S, ReqB>
    where
        S: Service<Request<ReqB>>,
    {
        let state = match verdict {
            Verdict::Pass(fields) => State::Inner {
                future: self.inner.call(request),
                fields,
            },
            Verdict::Refuse(response) => State::Refused {
                response: Some(response),
            },
        };
        ResponseFuture { state }
    }
}

pin_project! {
    /// Response future of [`RateLimitService`]. Checks in memory need no allocation here; only a
    /// shared backend makes it wait on a boxed check.
    pub struct ResponseFuture<S, ReqB>
    where
        S: Service<Request<ReqB>>,
    {
        #[pin]
        state: State<S, ReqB>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S, ReqB>
    where
        S: Service<Request<ReqB>>,
    {
        Inner { #[pin] future: S::Future, fields: Option<Box<HeaderMap>> },
        Checking {
            check: Pin<Box<dyn Future<Output = RemoteOutcome> + Send>>,
            request: Option<Request<ReqB>>,
            inner: Option<S>,
            limits: Arc<Limits>,
        },
        Refused { response: Option<Response<Bytes>> },
    }
}

impl<S, ReqB, ResB> Future for ResponseFuture<S, ReqB>
where
    S: Service<Request<ReqB>, Response = Response<ResB>>,
{
    type Output = Result<Response<AuthBody<ResB>>, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            let next = match this.state.as_mut().project() {
                StateProj::Inner { future, fields } => {
                    let mut response = ready!(future.poll(cx))?;
                    if let Some(fields) = fields.take() {
                        // Appended: a limit layer further in may have sent fields of its own.
                        let headers = response.headers_mut();
                        for (name, value) in fields.iter() {
                            headers.append(name, value.clone());
                        }
                    }
                    return Poll::Ready(Ok(response.map(AuthBody::inner)));
                }
                StateProj::Refused { response } => {
                    let response = response
                        .take()
                        .expect("ResponseFuture polled after completion");
                    return Poll::Ready(Ok(response.map(AuthBody::rejection)));
                }
                StateProj::Checking {
                    check,
                    request,
                    inner,
                    limits,
                } => {
                    let outcome = ready!(check.as_mut().poll(cx));
                    let request = request
                        .take()
                        .expect("ResponseFuture polled after completion");
                    let mut inner = inner
                        .take()
                        .expect("ResponseFuture polled after completion");
                    match limits.verdict(outcome, request.extensions()) {
                        Verdict::Pass(fields) => State::Inner {
                            future: inner.call(request),
                            fields,
                        },
                        Verdict::Refuse(response) => State::Refused {
                            response: Some(response),
                        },
                    }
                }
            };
            this.state.set(next);
        }
    }
}

impl<S, ReqB> std::fmt::Debug for ResponseFuture<S, ReqB>
where
    S: Service<Request<ReqB>>,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}
