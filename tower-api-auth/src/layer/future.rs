//! The response future shared by [`AuthService`](super::AuthService), the scope layer
//! (`require_scopes::RequireScopes`) and the rate-limit layer (`rate_limit::RateLimitService`).

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http::{HeaderMap, Request, Response};
use pin_project_lite::pin_project;
use tower_service::Service;

use crate::authenticator::{AuthResult, PendingAuth};
use crate::layer::body::AuthBody;
use crate::layer::limits::{Admit, Fields, PendingLimits, RequestView, add_fields};
use crate::layer::service::{Admission, Judge};

pin_project! {
    /// Response future of the auth layers and of the rate-limit layer.
    ///
    /// A rejection or a synchronously authenticated request needs no allocation here; only a key
    /// store that does I/O, or rate limits counted in a shared backend, make the future wait on
    /// a boxed lookup.
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
        // Let through by the rate limits, whose response fields (success headers) it adds.
        Counted { #[pin] future: S::Future, fields: Option<Box<HeaderMap>> },
        Authenticating {
            lookup: PendingAuth,
            request: Option<Request<ReqB>>,
            service: Option<S>,
            judge: Arc<Judge>,
            // Whom a refused credential is reported as.
            client: Option<IpAddr>,
        },
        // Waiting on the rate limits' shared backend.
        Limiting {
            check: PendingLimits,
            request: Option<Request<ReqB>>,
            service: Option<S>,
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

    /// The inner service's future, and the fields the rate limits add to its response.
    pub(crate) fn counted(future: S::Future, fields: Fields) -> Self {
        Self {
            state: inner_state(future, fields),
        }
    }

    pub(crate) fn limiting(check: PendingLimits, request: Request<ReqB>, service: S) -> Self {
        Self {
            state: State::Limiting {
                check,
                request: Some(request),
                service: Some(service),
            },
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
                StateProj::Counted { future, fields } => {
                    let mut response = ready!(future.poll(cx))?;
                    if let Some(fields) = fields.take() {
                        add_fields(response.headers_mut(), &fields);
                    }
                    return Poll::Ready(Ok(response.map(AuthBody::inner)));
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
                            let admit = match &judge.limits {
                                None => Admit::Pass(None),
                                Some(limits) => limits.admit(&RequestView::of(&request)),
                            };
                            limited(admit, request, service)
                        }
                        Admission::Reject(response) => State::Rejected {
                            response: Some(response),
                        },
                    }
                }
                StateProj::Limiting {
                    check,
                    request,
                    service,
                } => {
                    let passed = ready!(check.as_mut().poll(cx));
                    let request = request
                        .take()
                        .expect("ResponseFuture polled after completion");
                    let service = service
                        .take()
                        .expect("ResponseFuture polled after completion");
                    let admit = match passed {
                        Ok(fields) => Admit::Pass(fields),
                        Err(response) => Admit::Refuse(response),
                    };
                    limited(admit, request, service)
                }
            };
            this.state.set(next);
        }
    }
}

/// Waiting on the inner service, with the rate limits' fields if there are any.
fn inner_state<S, ReqB>(future: S::Future, fields: Fields) -> State<S, ReqB>
where
    S: Service<Request<ReqB>>,
{
    match fields {
        None => State::Inner { future },
        fields @ Some(_) => State::Counted { future, fields },
    }
}

/// The state after the rate limits' answer on a request the layer let through.
fn limited<S, ReqB>(admit: Admit, request: Request<ReqB>, mut service: S) -> State<S, ReqB>
where
    S: Service<Request<ReqB>>,
{
    match admit {
        Admit::Pass(fields) => inner_state(service.call(request), fields),
        Admit::Refuse(response) => State::Rejected {
            response: Some(response),
        },
        Admit::Pending(check) => State::Limiting {
            check,
            request: Some(request),
            service: Some(service),
        },
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
