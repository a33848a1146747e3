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

/// A [`Consent`] for apps without a login page of their own (an API, a quickstart, an internal
/// tool): the user signs in with HTTP Basic at the authorization endpoint — the browser's own
/// sign-in prompt, or `curl -u user:password` — checked by the app's
/// [`PasswordVerifier`](crate::issuer::PasswordVerifier); signing in there is consenting to the
/// client's request. Without credentials, or with wrong ones, the answer is 401 with a `Basic`
/// challenge (the browser asks again). Wrong passwords count against a failed-authentication
/// throttle when one is given (feature `rate-limit`), as they do at the login endpoint.
///
/// An app with users in browsers wants its own login and consent pages: implement [`Consent`].
///
/// ```
/// use std::sync::Arc;
/// use tower_api_auth::endpoints::PasswordConsent;
/// use tower_api_auth::{issuer::Account, issuer::PasswordVerifier, scope::Scopes, store::StoreError};
///
/// struct Users;
/// impl PasswordVerifier for Users {
///     async fn verify(&self, username: &str, password: &str) -> Result<Option<Account>, StoreError> {
///         Ok((username == "demo" && password == "demo-password")
///             .then(|| Account::new("user_demo", Scopes::parse("read").unwrap())))
///     }
/// }
///
/// let users = Arc::new(Users);
/// // The same users sign in at /auth/login (TokenService::passwords) and at /oauth/authorize.
/// let consent = PasswordConsent::new(users.clone()).realm("SilentChat");
/// # let _ = consent;
/// ```
pub struct PasswordConsent<P> {
    verifier: P,
    challenge: http::HeaderValue,
    #[cfg(feature = "rate-limit")]
    throttle: Option<crate::rate_limit::AuthThrottle>,
}

impl<P> std::fmt::Debug for PasswordConsent<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordConsent")
            .field("challenge", &self.challenge)
            .finish_non_exhaustive()
    }
}

impl<P: crate::issuer::PasswordVerifier> PasswordConsent<P> {
    /// Users signed in by `verifier`, challenged with realm `sign in`.
    pub fn new(verifier: P) -> Self {
        Self {
            verifier,
            challenge: http::HeaderValue::from_static(r#"Basic realm="sign in", charset="UTF-8""#),
            #[cfg(feature = "rate-limit")]
            throttle: None,
        }
    }

    /// The realm the browser's prompt shows (quotes and control characters are dropped).
    #[must_use]
    pub fn realm(mut self, realm: &str) -> Self {
        let realm: String = realm
            .chars()
            .filter(|c| !c.is_control() && *c != '"' && *c != '\\')
            .collect();
        if let Ok(value) =
            http::HeaderValue::try_from(format!(r#"Basic realm="{realm}", charset="UTF-8""#))
        {
            self.challenge = value;
        }
        self
    }

    /// Counts wrong passwords per client address and per username with `throttle` (give the
    /// token endpoints and the layer the same one), and answers 429 beyond its quotas before the
    /// password is checked.
    #[cfg(feature = "rate-limit")]
    #[must_use]
    pub fn throttle_failures(mut self, throttle: crate::rate_limit::AuthThrottle) -> Self {
        self.throttle = Some(throttle);
        self
    }

    fn sign_in_first(&self) -> ConsentDecision {
        use axum::response::IntoResponse;
        let mut response = (
            http::StatusCode::UNAUTHORIZED,
            "Sign in to authorize the application.",
        )
            .into_response();
        response
            .headers_mut()
            .insert(http::header::WWW_AUTHENTICATE, self.challenge.clone());
        ConsentDecision::Respond(response)
    }
}

impl<P: crate::issuer::PasswordVerifier> Consent for PasswordConsent<P> {
    async fn decide(
        &self,
        _request: &AuthorizationRequest,
        parts: &request::Parts,
    ) -> ConsentDecision {
        use axum::response::IntoResponse;
        // Not the client's credentials here: a user's, sent as RFC 7617 sends them (not
        // form-encoded, unlike a client's); a malformed header is only a prompt again.
        let Ok(Some((username, password))) = super::body::basic_raw(&parts.headers) else {
            return self.sign_in_first();
        };
        #[cfg(feature = "rate-limit")]
        let attempt = self.throttle.as_ref().map(|throttle| {
            let ip = throttle.client_ip(&parts.extensions, &parts.headers);
            (
                throttle,
                crate::rate_limit::AuthAttempt::from_ip(ip).with_username(&username),
            )
        });
        #[cfg(feature = "rate-limit")]
        if let Some((throttle, attempt)) = &attempt
            && let Err(throttled) = throttle.check(attempt)
        {
            let retry_after = throttled.retry_after_header();
            let mut response = (
                http::StatusCode::TOO_MANY_REQUESTS,
                "Too many failed sign-ins.",
            )
                .into_response();
            response
                .headers_mut()
                .insert(http::header::RETRY_AFTER, retry_after);
            return ConsentDecision::Respond(response);
        }
        match self.verifier.verify(&username, &password).await {
            Ok(Some(account)) => ConsentDecision::Approve(account),
            Ok(None) => {
                tracing::warn!(username = ?super::loggable(&username), "sign-in at the authorization endpoint failed");
                #[cfg(feature = "rate-limit")]
                if let Some((throttle, attempt)) = &attempt {
                    throttle.failed(attempt);
                }
                self.sign_in_first()
            }
            Err(error) => {
                tracing::warn!(error = %error, "the user store could not check a sign-in");
                ConsentDecision::Respond(
                    (http::StatusCode::SERVICE_UNAVAILABLE, "Try again later.").into_response(),
                )
            }
        }
    }
}
