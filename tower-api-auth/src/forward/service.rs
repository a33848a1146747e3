//! The tower layer and service that rewrite each request's headers for the upstream.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use http::{Request, Response};
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use super::headers::IdentityHeaders;
use super::hop_by_hop::remove_hop_by_hop;
use crate::identity::Identity;

/// Applies [`ForwardIdentity`]: put it inside the [`AuthLayer`](crate::AuthLayer), in front of
/// the service that calls the upstream. See the [module](super) for an example.
#[derive(Debug, Clone)]
pub struct ForwardIdentityLayer {
    headers: Arc<IdentityHeaders>,
}

impl ForwardIdentityLayer {
    /// A layer that forwards the identity in `headers`.
    pub fn new(headers: IdentityHeaders) -> Self {
        Self {
            headers: Arc::new(headers),
        }
    }
}

impl<S> Layer<S> for ForwardIdentityLayer {
    type Service = ForwardIdentity<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ForwardIdentity {
            inner,
            headers: Arc::clone(&self.headers),
        }
    }
}

/// The service of [`ForwardIdentityLayer`]: rewrites each request's headers with
/// [`IdentityHeaders::apply`] (from the [`Identity`] in its extensions) before the inner service
/// sees it, and removes the hop-by-hop headers from the inner service's response. Neither body is
/// touched.
#[derive(Debug, Clone)]
#[must_use]
pub struct ForwardIdentity<S> {
    inner: S,
    headers: Arc<IdentityHeaders>,
}

crate::layer::inner_service_accessors!(ForwardIdentity);

impl<S, ReqB, ResB> Service<Request<ReqB>> for ForwardIdentity<S>
where
    S: Service<Request<ReqB>, Response = Response<ResB>>,
{
    type Response = Response<ResB>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqB>) -> Self::Future {
        let (mut parts, body) = request.into_parts();
        self.headers
            .apply(parts.extensions.get::<Identity>(), &mut parts.headers);
        ResponseFuture {
            inner: self.inner.call(Request::from_parts(parts, body)),
        }
    }
}

pin_project! {
    /// Response future of [`ForwardIdentity`]: the inner service's response without its
    /// hop-by-hop headers.
    #[derive(Debug)]
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
    }
}

impl<F, ResB, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<ResB>, E>>,
{
    type Output = Result<Response<ResB>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut response = ready!(self.project().inner.poll(cx))?;
        remove_hop_by_hop(response.headers_mut());
        Poll::Ready(Ok(response))
    }
}
