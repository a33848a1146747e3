//! The app's part of the authorization endpoint: who the user is and whether they consent.

use std::future::Future;
use std::pin::Pin;

use axum::response::Response;
use http::request;

use crate::issuer::{Account, AuthorizationRequest};

/// What the app answers an authorization request with.
#[derive(Debug)]
#[non_exhaustive]
pub enum ConsentDecision {
    /// The user is signed in and consents: a code is issued for this account (the request's
    /// scopes that it holds, its tenants and claims) and the browser is sent back to the client.
    Approve(Account),
    /// The user refused: the browser goes back to the client with `error=access_denied`.
    Deny,
    /// Answer the browser with this first — the app's login page, or a consent screen — and
    /// come back to the same authorization URL once the user has signed in or chosen.
    Respond(Response),
}

/// How the app authenticates the user and asks for consent at the authorization endpoint: it
/// reads its own session cookie (or whatever it signs users in with) from the request, and answers
/// with the account, a denial, or a page to show first. The endpoint has already checked the
/// client, the exact redirect URI, the scope and the PKCE challenge; the app never sees a request
/// that could not be answered.
///
/// Implement it with `async fn`:
///
/// ```
/// use axum::response::{IntoResponse, Redirect};
/// use http::request::Parts;
/// use tower_api_auth::endpoints::{Consent, ConsentDecision};
/// use tower_api_auth::issuer::{Account, AuthorizationRequest};
/// use tower_api_auth::scope::Scopes;
///
/// struct CookieConsent;
///
/// impl Consent for CookieConsent {
///     async fn decide(&self, request: &AuthorizationRequest, parts: &Parts) -> ConsentDecision {
///         let signed_in = parts.headers.get("cookie").and_then(|c| c.to_str().ok())
///             .and_then(|c| c.strip_prefix("session=user_"));
///         match signed_in {
///             // The app's own session store says who this is and what they may grant.
///             Some(user) => ConsentDecision::Approve(Account::new(format!("user_{user}"), request.scopes().clone())),
///             None => {
///                 let back = parts.uri.to_string();
///                 ConsentDecision::Respond(Redirect::to(&format!("/login?next={}", urlencoding(&back))).into_response())
///             }
///         }
///     }
/// }
/// # fn urlencoding(s: &str) -> String { s.replace('&', "%26").replace('?', "%3F") }
/// ```
pub trait Consent: Send + Sync + 'static {
    /// Decides `request`, given the browser's request (`parts`: its cookies and headers).
    fn decide(
        &self,
        request: &AuthorizationRequest,
        parts: &request::Parts,
    ) -> impl Future<Output = ConsentDecision> + Send;
}

type BoxedDecision<'a> = Pin<Box<dyn Future<Output = ConsentDecision> + Send + 'a>>;

/// [`Consent`] made object safe, for the router to hold any.
pub(super) trait DynConsent: Send + Sync + 'static {
    fn decide<'a>(
        &'a self,
        request: &'a AuthorizationRequest,
        parts: &'a request::Parts,
    ) -> BoxedDecision<'a>;
}

impl<C: Consent> DynConsent for C {
    fn decide<'a>(
        &'a self,
        request: &'a AuthorizationRequest,
        parts: &'a request::Parts,
    ) -> BoxedDecision<'a> {
        Box::pin(Consent::decide(self, request, parts))
    }
}
