//! [`AuthService`]: authenticates each request before the inner service sees it.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use tower_service::Service;

use crate::authenticator::{AuthResult, Authenticator, Outcome};
use crate::error::render::SharedRenderer;
use crate::error::{AuthError, AuthErrorKind};
use crate::identity::Identity;
use crate::layer::body::AuthBody;
use crate::layer::future::ResponseFuture;
use crate::layer::limits::{Admit, RequestLimits, RequestView};
use crate::layer::throttle::FailureThrottle;

/// The error format a request passed the auth layer with, for the extractors and scope checks
/// downstream to answer in the same format. Inserted into every request a layer with a format of
/// its own lets through ([`PassedWithDefaultFormat`] for the others).
#[derive(Clone, Debug)]
pub(crate) struct RequestRenderer(pub(crate) SharedRenderer);

/// Whether a layer with a format of its own (which inserts [`RequestRenderer`]s) was ever built
/// in this process. Set before the layer exists, so before any of its requests.
static FORMATTED_LAYERS_BUILT: AtomicBool = AtomicBool::new(false);

/// Notes that a layer with a format of its own is being built.
pub(crate) fn formatted_layer_built() {
    FORMATTED_LAYERS_BUILT.store(true, Ordering::Relaxed);
}

/// What a layer with the default error format inserts instead of a [`RequestRenderer`]: a
/// zero-sized value, which `http::Extensions` boxes without allocating. Absent a
/// `RequestRenderer`, the scope checks and extractors answer in the default format anyway; the
/// marker only tells [`passed_auth_layer`](crate::layer::passed_auth_layer) that a layer was
/// passed. It saves the renderer's allocation (and its `Arc` count) on every request.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PassedWithDefaultFormat;

/// What the layer does with a judged request: how it answers, whether no credential is fine,
/// whom it tells of refused credentials.
#[derive(Clone, Debug)]
pub(crate) struct Policy {
    pub(crate) renderer: SharedRenderer,
    /// The renderer is the default one (no format, realm or metadata URL set).
    pub(crate) default_format: bool,
    pub(crate) optional: bool,
    pub(crate) throttle: Option<Arc<dyn FailureThrottle>>,
}

/// What becomes of a request once its credentials are judged.
pub(crate) enum Admission {
    /// Let through, with its identity (if any) in the extensions.
    Pass,
    /// Answered with this rejection.
    Reject(Response<Bytes>),
}

impl Policy {
    /// Logs the outcome and either readies the request for the inner service or answers it; a
    /// refused credential is reported to the throttle as `client`'s.
    pub(crate) fn admit<B>(
        &self,
        request: &mut Request<B>,
        result: AuthResult,
        client: Option<IpAddr>,
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
            }
            Ok(None) if self.optional => {
                tracing::debug!("anonymous request let through by optional authentication");
            }
            Ok(None) => {
                return self.reject(AuthError::new(AuthErrorKind::MissingCredentials));
            }
            Err(error) => {
                if let Some(throttle) = &self.throttle {
                    throttle.failed(client, &error);
                }
                return self.reject(error);
            }
        }
        // An extension of its own, not a field of the Identity (which would save an insert and
        // an allocation per request): middleware below may replace the Identity with one it
        // built, and the scope checks, extractors and `passed_auth_layer` must still find the
        // format of the innermost layer the request passed.
        let extensions = request.extensions_mut();
        if self.default_format {
            // An outer layer's format must not outlive this, the innermost, layer. Only a layer
            // with a format of its own puts one in, and none was built in most programs: then
            // there is nothing to remove, and a relaxed load saves the map's probe for it
            // (some 55 instructions per request, `benches/compare`).
            if FORMATTED_LAYERS_BUILT.load(Ordering::Relaxed) {
                extensions.remove::<RequestRenderer>();
            }
            extensions.insert(PassedWithDefaultFormat);
        } else {
            extensions.insert(RequestRenderer(self.renderer.clone()));
        }
        Admission::Pass
    }

    fn reject(&self, error: AuthError) -> Admission {
        tracing::debug!(code = error.code(), "request rejected");
        Admission::Reject(self.renderer.respond(error))
    }
}

/// Calls `inner` with a request as its rate limits decided: with the fields they add to its
/// response, refused, or once a backend has answered. The rate-limit layer's `call`, and the
/// auth layer's when its limits did more than let the request pass: out of line there, so that
/// [`AuthService::call`] stays small enough for the compiler to inline the inner service's
/// `call` into it (some 30 to 80 instructions a request, with and without limits,
/// `benches/compare`).
#[inline(never)]
pub(crate) fn call_admitted<S, ReqB>(
    inner: &mut S,
    admit: Admit,
    request: Request<ReqB>,
) -> ResponseFuture<S, ReqB>
where
    S: Service<Request<ReqB>> + Clone,
{
    match admit {
        Admit::Pass(fields) => ResponseFuture::counted(inner.call(request), fields),
        Admit::Refuse(response) => ResponseFuture::rejected(response),
        // As for a pending lookup: the readied instance goes along, a clone stays.
        Admit::Pending(check) => {
            let clone = inner.clone();
            let readied = std::mem::replace(inner, clone);
            ResponseFuture::limiting(check, request, readied)
        }
    }
}

/// The service of [`AuthLayer`](crate::AuthLayer).
///
/// Authenticated requests reach the inner service with an [`Identity`] in their extensions;
/// rejected ones are answered with an `Ok` error response and never reach it.
#[derive(Clone, Debug)]
#[must_use]
pub struct AuthService<S> {
    pub(crate) inner: S,
    pub(crate) judge: Arc<Judge>,
}

/// What an [`AuthService`] judges requests with: behind one `Arc`, since axum clones the service
/// for every request (one reference count to take and drop, not one per part).
#[derive(Debug)]
pub(crate) struct Judge {
    pub(crate) auth: Arc<Authenticator>,
    pub(crate) policy: Policy,
    /// The rate limits checked on what the layer lets through
    /// ([`AuthLayer::with_rate_limits`](crate::AuthLayer::with_rate_limits)).
    pub(crate) limits: Option<Arc<dyn RequestLimits>>,
}

/// `get_ref`, `get_mut` and `into_inner` for a middleware service whose wrapped service is its
/// field `inner`, as tower-http's services have them.
macro_rules! inner_service_accessors {
    ($service:ident) => {
        impl<S> $service<S> {
            /// The inner service.
            pub fn get_ref(&self) -> &S {
                &self.inner
            }

            /// The inner service, mutably.
            pub fn get_mut(&mut self) -> &mut S {
                &mut self.inner
            }

            /// The inner service, with this middleware removed.
            pub fn into_inner(self) -> S {
                self.inner
            }
        }
    };
}
pub(crate) use inner_service_accessors;

inner_service_accessors!(AuthService);

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
        let Judge { auth, policy, .. } = &*self.judge;
        // Keep credentials — ours, or another scheme's meant for a proxy — out of any logging
        // layer below us.
        auth.sources.mark_sensitive(request.headers_mut());
        // A client that failed too often is refused before its credentials cost anything. A
        // request without any costs nothing and proves nothing, so it is not refused: public
        // routes stay open, and strict ones answer it `missing_credentials` as always. (Finding
        // the credential twice costs a header scan, on throttled layers only.)
        let carries_credential = || {
            let located = auth.sources.locate(request.headers(), request.uri());
            matches!(located, Ok(Some(_)))
        };
        let client = match &policy.throttle {
            Some(throttle) if carries_credential() => {
                match throttle.admit(request.extensions(), request.headers()) {
                    Ok(client) => client,
                    Err(throttled) => {
                        return ResponseFuture::rejected(throttled.respond(&policy.renderer));
                    }
                }
            }
            _ => None,
        };
        let outcome = auth.authenticate(request.headers(), request.uri());

        match outcome {
            // Answered now: the instance poll_ready readied is called at once.
            Outcome::Done(result) => match policy.admit(&mut request, result, client) {
                Admission::Pass => {
                    if let Some(limits) = &self.judge.limits {
                        match limits.admit(&RequestView::of(&request)) {
                            Admit::Pass(None) => {}
                            // Fields to add, a refusal, a backend to ask: out of line.
                            other => return call_admitted(&mut self.inner, other, request),
                        }
                    }
                    ResponseFuture::inner(self.inner.call(request))
                }
                Admission::Reject(response) => ResponseFuture::rejected(response),
            },
            // The call happens later: take the readied instance along and leave a clone for the
            // next poll_ready (tower's "be careful when cloning inner services").
            Outcome::Pending(lookup) => {
                let judge = Arc::clone(&self.judge);
                let clone = self.inner.clone();
                let inner = std::mem::replace(&mut self.inner, clone);
                ResponseFuture::authenticating(lookup, request, inner, judge, client)
            }
        }
    }
}
