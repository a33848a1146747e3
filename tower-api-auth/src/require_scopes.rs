//! [`RequireScopesLayer`]: per-route scope checks, for `route_layer`.
//!
//! ```
//! use tower_api_auth::RequireScopesLayer;
//!
//! // Every listed scope:
//! let write = RequireScopesLayer::all(["conversations:write"]);
//! // At least one of them:
//! let read = RequireScopesLayer::any(["conversations:read", "admin"]);
//! # let _ = (write, read);
//! ```
//!
//! It must sit inside an [`AuthLayer`](crate::AuthLayer): it reads the [`Identity`] that layer put in
//! the request. A request with none (an optional auth layer let it through anonymously) is answered
//! 401 `missing_credentials`; a credential without the scopes, 403 `insufficient_scope` with
//! `WWW-Authenticate: Bearer error="insufficient_scope", scope="…"`.

use std::task::{Context, Poll};

use http::{Request, Response};
use tower_layer::Layer;
use tower_service::Service;

use crate::error::render::SharedRenderer;
use crate::error::{AuthError, AuthErrorKind};
use crate::identity::Identity;
use crate::layer::service::RequestRenderer;
use crate::layer::{AuthBody, ResponseFuture};
use crate::scope::{self, ScopeMatch, ScopeRequirement};

/// A layer that lets a request through only if its identity has the required scopes: put it on a
/// route (`route_layer`), inside an [`AuthLayer`](crate::AuthLayer).
///
/// ```
/// use axum::{Router, routing::{get, post}};
/// use tower_api_auth::RequireScopesLayer;
///
/// async fn list() -> &'static str { "[]" }
/// async fn create() -> &'static str { "created" }
///
/// let conversations: Router = Router::new().route(
///     "/conversations",
///     get(list)
///         .route_layer(RequireScopesLayer::any(["conversations:read", "admin"]))
///         .merge(post(create).route_layer(RequireScopesLayer::all(["conversations:write"]))),
/// );
/// # let _ = conversations;
/// ```
#[derive(Clone, Debug)]
#[must_use]
pub struct RequireScopesLayer {
    requirement: ScopeRequirement,
}

impl RequireScopesLayer {
    /// Requires every scope in `scopes`.
    ///
    /// # Panics
    /// If a scope is not a valid scope token (a programming error, caught at start-up).
    pub fn all<I, S>(scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Self {
            requirement: ScopeRequirement::all(scopes),
        }
    }

    /// Requires at least one scope in `scopes`.
    ///
    /// # Panics
    /// As [`all`](Self::all).
    pub fn any<I, S>(scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Self {
            requirement: ScopeRequirement::any(scopes),
        }
    }

    /// From a requirement built elsewhere.
    pub fn from_requirement(requirement: ScopeRequirement) -> Self {
        Self { requirement }
    }

    /// What the layer requires.
    pub fn requirement(&self) -> &ScopeRequirement {
        &self.requirement
    }
}

impl<S> Layer<S> for RequireScopesLayer {
    type Service = RequireScopes<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequireScopes {
            inner,
            requirement: self.requirement.clone(),
        }
    }
}

/// The service of [`RequireScopesLayer`]: checks the request's [`Identity`] and answers 401 or
/// 403 in the error format of the auth layer the request passed.
#[derive(Clone, Debug)]
#[must_use]
pub struct RequireScopes<S> {
    inner: S,
    requirement: ScopeRequirement,
}

crate::layer::inner_service_accessors!(RequireScopes);

/// The error format of the auth layer the request passed, or the default.
pub(crate) fn renderer_of(extensions: &http::Extensions) -> SharedRenderer {
    extensions
        .get::<RequestRenderer>()
        .map(|rendering| rendering.0.clone())
        .unwrap_or_default()
}

/// Checks `requirement` against the request's identity.
pub(crate) fn check_scopes(
    extensions: &http::Extensions,
    requirement: &ScopeRequirement,
) -> Result<Identity, AuthError> {
    check_scope_list(extensions, requirement.mode(), requirement.scopes().iter())
}

/// Checks that the request's identity holds all (or any) of `required`; the list is only joined
/// into a string on the rejection path.
pub(crate) fn check_scope_list<'a>(
    extensions: &http::Extensions,
    mode: ScopeMatch,
    required: impl Iterator<Item = &'a str> + Clone,
) -> Result<Identity, AuthError> {
    let identity = extensions
        .get::<Identity>()
        .ok_or_else(|| AuthError::new(AuthErrorKind::MissingCredentials))?;
    if scope::is_met(mode, required.clone(), identity.scopes()) {
        return Ok(identity.clone());
    }
    let message = match mode {
        ScopeMatch::All => "The credential lacks a required scope",
        ScopeMatch::Any => "The credential has none of the accepted scopes",
    };
    Err(AuthError::new(AuthErrorKind::InsufficientScope)
        .with_message(message)
        .with_required_scopes(required.collect::<Vec<_>>().join(" ")))
}

impl<S, ReqB, ResB> Service<Request<ReqB>> for RequireScopes<S>
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
        let checked = check_scopes(request.extensions(), &self.requirement).map(drop);
        call_or_reject(&mut self.inner, request, checked)
    }
}

/// Calls `inner` with `request` when `checked` passed, else answers the error in the format of
/// the auth layer the request passed (the scope checks' common end).
pub(crate) fn call_or_reject<S, ReqB, ResB>(
    inner: &mut S,
    request: Request<ReqB>,
    checked: Result<(), AuthError>,
) -> ResponseFuture<S, ReqB>
where
    S: Service<Request<ReqB>, Response = Response<ResB>> + Clone,
{
    // The readied instance is called at once, so no clone-and-swap is needed.
    match checked {
        Ok(()) => ResponseFuture::inner(inner.call(request)),
        Err(error) => {
            tracing::debug!(
                code = error.code(),
                path = request.uri().path(),
                "request rejected by a scope rule"
            );
            ResponseFuture::rejected(renderer_of(request.extensions()).respond(error))
        }
    }
}
