//! The response future shared by [`AuthService`](super::AuthService) and the scope layer
//! (`require_scopes::RequireScopes`).

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http::{Request, Response};
use pin_project_lite::pin_project;
use tower_service::Service;

use crate::authenticator::{AuthResult, PendingAuth};
use crate::layer::body::AuthBody;
use crate::layer::service::{Admission, Judge};

pin_project! {
    /// Response future of the auth layers.
    ///
    /// A rejection or a synchronously authenticated request needs no allocation here; only a key
    /// store that does I/O makes the future wait on a boxed lookup.
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
        Inner { #[pin] future: S::Future },
        Authenticating {
            lookup: PendingAuth,
            request: Option<Request<ReqB>>,
            service: Option<S>,
            judge: Arc<Judge>,
            // Whom a refused credential is reported as.
            client: Option<IpAddr>,
        },
        Rejected { response: Option<Response<Bytes>> },
    }
}

impl<S, ReqB> ResponseFuture<S, ReqB>
where
    S: Service<Request<ReqB>>,
{
    pub(crate) fn inner(future: S::Future) -> Self {
        Self {
            state: State::Inner { future },
        }
    }

    pub(crate) fn rejected(response: Response<Bytes>) -> Self {
        Self {
            state: State::Rejected {
                response: Some(response),
            },
        }
    }

    pub(crate) fn authenticating(
        lookup: PendingAuth,
        request: Request<ReqB>,
        service: S,
        judge: Arc<Judge>,
        client: Option<IpAddr>,
    ) -> Self {
        Self {
            state: State::Authenticating {
                lookup,
                request: Some(request),
                service: Some(service),
                judge,
                client,
            },
        }
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
                StateProj::Inner { future } => {
                    return future
                        .poll(cx)
                        .map_ok(|response| response.map(AuthBody::inner));
                }
                StateProj::Rejected { response } => {
                    let response = response
                        .take()
                        .expect("ResponseFuture polled after completion");
                    return Poll::Ready(Ok(response.map(AuthBody::rejection)));
                }
                StateProj::Authenticating {
                    lookup,
                    request,
                    service,
                    judge,
                    client,
                } => {
                    let result: AuthResult = ready!(lookup.as_mut().poll(cx));
                    let mut request = request
                        .take()
                        .expect("ResponseFuture polled after completion");
                    let service = service
                        .take()
                        .expect("ResponseFuture polled after completion");
                    match judge.policy.admit(&mut request, result, *client) {
                        Admission::Pass => {
                            let mut service = service;
                            State::Inner {
                                future: service.call(request),
                            }
                        }
                        Admission::Reject(response) => State::Rejected {
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
