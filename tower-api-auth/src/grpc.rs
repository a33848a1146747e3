//! gRPC: the auth layer on a tonic server (or any gRPC server built on tower).
//!
//! A gRPC call is an HTTP/2 request whose metadata are its headers, so the [`AuthLayer`] reads
//! `authorization`, `x-api-key` and `x-tenant-id` from the metadata as it reads them from any
//! request, and puts the [`Identity`] into the request's extensions, where tonic hands it on
//! (`request.extensions().get::<Identity>()` in a handler or an interceptor). What differs is
//! the answer to a refused call: a gRPC client reads the outcome from `grpc-status`, not from
//! the HTTP status, and reports any non-gRPC answer as `INTERNAL` or `UNKNOWN`. Two pieces make
//! the crate speak gRPC:
//!
//! - [`GrpcErrors`], an [`ErrorRenderer`]: every refusal becomes a *trailers-only* response
//!   (HTTP 200, `content-type: application/grpc`, `grpc-status`, `grpc-message`, no body), with
//!   the status of [`grpc_status`]: `UNAUTHENTICATED`, `PERMISSION_DENIED`,
//!   `RESOURCE_EXHAUSTED`, `UNAVAILABLE`, …. The message is the error's public message, which
//!   never holds a credential.
//! - [`MethodScopesLayer`]: scope rules per gRPC method (`/package.Service/Method`) or per
//!   service (`/package.Service/`), answered in the same format.
//!
//! ```
//! use tower_api_auth::grpc::{GrpcErrors, MethodScopesLayer};
//! use tower_api_auth::scope::ScopeRequirement;
//! use tower_api_auth::{AuthLayer, MemoryKeyStore};
//!
//! let auth = AuthLayer::builder()
//!     .api_keys(MemoryKeyStore::new())
//!     .error_renderer(GrpcErrors)
//!     .build()
//!     .unwrap();
//! let scopes = MethodScopesLayer::new()
//!     .method("/chat.v1.Chat/Send", ScopeRequirement::all(["chat:write"]))
//!     .service("chat.v1.Chat", ScopeRequirement::all(["chat:read"]));
//! // tonic: Server::builder().layer(auth).layer(scopes).add_service(ChatServer::new(chat))
//! # let _ = (auth, scopes);
//! ```
//!
//! [`AuthLayer`]: crate::AuthLayer
//! [`Identity`]: crate::Identity

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode, header};
use tower_layer::Layer;
use tower_service::Service;

use crate::error::{AuthError, ErrorRenderer};
use crate::layer::{AuthBody, ResponseFuture};
use crate::require_scopes::{call_or_reject, check_scopes};
use crate::scope::ScopeRequirement;

/// A gRPC status code (the `grpc-status` values of the gRPC specification).
///
/// Only the codes an authentication refusal can carry have a constant here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GrpcStatus(u8);

impl GrpcStatus {
    /// 3: the request was malformed (a `Bearer` header that is not one).
    pub const INVALID_ARGUMENT: Self = Self(3);
    /// 7: authenticated, but not allowed (a missing scope, a tenant not granted).
    pub const PERMISSION_DENIED: Self = Self(7);
    /// 8: a quota is spent (a rate limit).
    pub const RESOURCE_EXHAUSTED: Self = Self(8);
    /// 13: the server is misconfigured.
    pub const INTERNAL: Self = Self(13);
    /// 14: a dependency is down (a store, a key set, the revocation feed); retry later.
    pub const UNAVAILABLE: Self = Self(14);
    /// 16: no valid credential.
    pub const UNAUTHENTICATED: Self = Self(16);

    /// The number sent in `grpc-status`.
    pub fn code(self) -> u8 {
        self.0
    }
}

/// The gRPC status of a refusal, from its HTTP status: 401 `UNAUTHENTICATED`, 403
/// `PERMISSION_DENIED`, 429 `RESOURCE_EXHAUSTED`, 503 `UNAVAILABLE`, any other 4xx
/// `INVALID_ARGUMENT`, anything else `INTERNAL`.
///
/// ```
/// use tower_api_auth::grpc::{GrpcStatus, grpc_status};
/// use tower_api_auth::{AuthError, AuthErrorKind};
///
/// assert_eq!(grpc_status(&AuthError::new(AuthErrorKind::TokenExpired)), GrpcStatus::UNAUTHENTICATED);
/// assert_eq!(grpc_status(&AuthError::new(AuthErrorKind::InsufficientScope)), GrpcStatus::PERMISSION_DENIED);
/// ```
pub fn grpc_status(error: &AuthError) -> GrpcStatus {
    match error.status() {
        StatusCode::UNAUTHORIZED => GrpcStatus::UNAUTHENTICATED,
        StatusCode::FORBIDDEN => GrpcStatus::PERMISSION_DENIED,
        StatusCode::TOO_MANY_REQUESTS => GrpcStatus::RESOURCE_EXHAUSTED,
        StatusCode::SERVICE_UNAVAILABLE => GrpcStatus::UNAVAILABLE,
        status if status.is_client_error() => GrpcStatus::INVALID_ARGUMENT,
        _ => GrpcStatus::INTERNAL,
    }
}

/// Renders refusals as gRPC trailers-only responses; give it to
/// [`AuthLayerBuilder::error_renderer`](crate::layer::AuthLayerBuilder::error_renderer).
///
/// ```
/// use tower_api_auth::error::ErrorRenderer;
/// use tower_api_auth::grpc::GrpcErrors;
/// use tower_api_auth::{AuthError, AuthErrorKind};
///
/// let response = GrpcErrors.render(&AuthError::new(AuthErrorKind::MissingCredentials));
/// assert_eq!(response.status(), 200, "gRPC carries the outcome in grpc-status");
/// assert_eq!(response.headers()["content-type"], "application/grpc");
/// assert_eq!(response.headers()["grpc-status"], "16");
/// assert_eq!(response.headers()["grpc-message"], "Authentication is required");
/// assert!(response.body().is_empty());
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct GrpcErrors;

impl ErrorRenderer for GrpcErrors {
    fn render(&self, error: &AuthError) -> Response<Bytes> {
        let mut response = Response::new(Bytes::new());
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/grpc"),
        );
        headers.insert(
            "grpc-status",
            HeaderValue::from(u16::from(grpc_status(error).code())),
        );
        if let Ok(message) = HeaderValue::try_from(percent_encode(error.message())) {
            headers.insert("grpc-message", message);
        }
        response
    }
}

/// `grpc-message` is percent-encoded: every byte outside printable ASCII, and `%` itself.
fn percent_encode(message: &str) -> String {
    use std::fmt::Write as _;
    let mut encoded = String::with_capacity(message.len());
    for &byte in message.as_bytes() {
        if (0x20..=0x7e).contains(&byte) && byte != b'%' {
            encoded.push(char::from(byte));
        } else {
            let _ = write!(encoded, "%{byte:02X}");
        }
    }
    encoded
}

/// Scope rules per gRPC method, inside an [`AuthLayer`](crate::AuthLayer): a call to a method
/// with a rule of its own ([`method`](Self::method)) is checked against it, else against its
/// service's rule ([`service`](Self::service)), else against [`otherwise`](Self::otherwise).
/// A method that no rule names is refused by default (fail closed: a service added later, or
/// reflection, is not open to every caller by accident); [`allow_unlisted`](Self::allow_unlisted)
/// lets any authenticated caller call it instead. A call without the scopes is answered 403
/// `insufficient_scope` in the auth layer's format — `PERMISSION_DENIED` with [`GrpcErrors`].
///
/// The rules match the request path exactly as gRPC sends it (`/package.Service/Method`), so a
/// path spelled otherwise (`//pkg.Svc/M`, a trailing `/`, percent-encoding) matches no method
/// rule and falls to the unlisted rule; tonic's routers answer such paths `UNIMPLEMENTED`. Meant
/// for gRPC: an HTTP router that normalizes paths after this layer could route around a rule.
///
/// ```
/// use tower_api_auth::grpc::MethodScopesLayer;
/// use tower_api_auth::scope::ScopeRequirement;
///
/// let scopes = MethodScopesLayer::new()
///     .service("chat.v1.Chat", ScopeRequirement::all(["chat:read"]))
///     .method("/chat.v1.Chat/Send", ScopeRequirement::all(["chat:write"]))
///     .otherwise(ScopeRequirement::all(["admin"])); // methods not listed: admins only
/// # let _ = scopes;
/// ```
#[derive(Clone, Default)]
#[must_use]
pub struct MethodScopesLayer {
    rules: Arc<Rules>,
}

#[derive(Default, Clone)]
struct Rules {
    /// `/package.Service/Method` → its rule.
    methods: Vec<(Box<str>, ScopeRequirement)>,
    /// `/package.Service/` → the rule of its methods without one of their own.
    services: Vec<(Box<str>, ScopeRequirement)>,
    unlisted: Unlisted,
}

/// What becomes of a call that no method or service rule names.
#[derive(Debug, Default, Clone)]
enum Unlisted {
    /// Refused, whatever the credential's scopes.
    #[default]
    Refused,
    /// Any authenticated caller.
    Allowed,
    /// Checked against this requirement.
    Checked(ScopeRequirement),
}

/// What a call must satisfy.
enum Rule<'a> {
    Scopes(&'a ScopeRequirement),
    None,
    Refused,
}

impl Rules {
    fn for_path(&self, path: &str) -> Rule<'_> {
        let exact = self.methods.iter().find(|(method, _)| **method == *path);
        let service = || {
            self.services
                .iter()
                .find(|(prefix, _)| path.starts_with(&**prefix))
        };
        match exact.or_else(service) {
            Some((_, requirement)) => Rule::Scopes(requirement),
            None => match &self.unlisted {
                Unlisted::Refused => Rule::Refused,
                Unlisted::Allowed => Rule::None,
                Unlisted::Checked(requirement) => Rule::Scopes(requirement),
            },
        }
    }
}

impl fmt::Debug for MethodScopesLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MethodScopesLayer")
            .field("methods", &self.rules.methods)
            .field("services", &self.rules.services)
            .field("unlisted", &self.rules.unlisted)
            .finish()
    }
}

impl MethodScopesLayer {
    /// No rules yet: every call is refused until a rule names its method or service (or
    /// [`allow_unlisted`](Self::allow_unlisted), [`otherwise`](Self::otherwise)).
    pub fn new() -> Self {
        Self::default()
    }

    /// Configuring a clone makes a layer of its own.
    fn rules_mut(&mut self) -> &mut Rules {
        Arc::make_mut(&mut self.rules)
    }

    /// The rule of one method, by its full path: `/package.Service/Method`.
    ///
    /// # Panics
    ///
    /// If `path` is not of that form, or has a rule already (a programming error, caught at
    /// start-up: of two rules, one would silently never apply).
    pub fn method(mut self, path: &str, requirement: ScopeRequirement) -> Self {
        let valid = path
            .strip_prefix('/')
            .and_then(|rest| rest.split_once('/'))
            .is_some_and(|(service, method)| {
                !service.is_empty() && !method.is_empty() && !method.contains('/')
            });
        assert!(
            valid,
            "a gRPC method path is /package.Service/Method, not {path:?}"
        );
        let methods = &mut self.rules_mut().methods;
        assert!(
            methods.iter().all(|(known, _)| **known != *path),
            "the gRPC method {path} has a rule already"
        );
        methods.push((path.into(), requirement));
        self
    }

    /// The rule of every method of a service without one of its own, by the service's full name
    /// (`package.Service`).
    ///
    /// # Panics
    ///
    /// If `service` is empty or holds a `/`, or has a rule already.
    pub fn service(mut self, service: &str, requirement: ScopeRequirement) -> Self {
        assert!(
            !service.is_empty() && !service.contains('/'),
            "a gRPC service name is package.Service, not {service:?}"
        );
        let prefix = format!("/{service}/");
        let services = &mut self.rules_mut().services;
        assert!(
            services.iter().all(|(known, _)| **known != *prefix),
            "the gRPC service {service} has a rule already"
        );
        services.push((prefix.into(), requirement));
        self
    }

    /// The rule of every method that no other rule names. Default: refused.
    pub fn otherwise(mut self, requirement: ScopeRequirement) -> Self {
        self.rules_mut().unlisted = Unlisted::Checked(requirement);
        self
    }

    /// Lets any authenticated caller call the methods that no other rule names.
    pub fn allow_unlisted(mut self) -> Self {
        self.rules_mut().unlisted = Unlisted::Allowed;
        self
    }
}

/// A call to a method no rule names: 401 without an identity, else 403.
fn refused_unlisted(extensions: &http::Extensions) -> AuthError {
    use crate::error::AuthErrorKind;
    if extensions.get::<crate::Identity>().is_none() {
        return AuthError::new(AuthErrorKind::MissingCredentials);
    }
    AuthError::new(AuthErrorKind::InsufficientScope)
        .with_message("No scope rule lets a credential call this method")
}

impl<S> Layer<S> for MethodScopesLayer {
    type Service = MethodScopes<S>;

    fn layer(&self, inner: S) -> Self::Service {
        MethodScopes {
            inner,
            rules: Arc::clone(&self.rules),
        }
    }
}

/// The service of [`MethodScopesLayer`].
#[derive(Clone)]
#[must_use]
pub struct MethodScopes<S> {
    inner: S,
    rules: Arc<Rules>,
}

crate::layer::inner_service_accessors!(MethodScopes);

impl<S: fmt::Debug> fmt::Debug for MethodScopes<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MethodScopes")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<S, ReqB, ResB> Service<Request<ReqB>> for MethodScopes<S>
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
        let extensions = request.extensions();
        let checked = match self.rules.for_path(request.uri().path()) {
            // Any authenticated caller; an anonymous one (behind an optional layer) is not.
            Rule::None if extensions.get::<crate::Identity>().is_some() => Ok(()),
            Rule::None => Err(crate::error::AuthError::new(
                crate::error::AuthErrorKind::MissingCredentials,
            )),
            Rule::Scopes(requirement) => check_scopes(extensions, requirement).map(drop),
            Rule::Refused => Err(refused_unlisted(extensions)),
        };
        call_or_reject(&mut self.inner, request, checked)
    }
}
