//! The token endpoints over HTTP (features `issuer` and `axum`).
//!
//! | route | what |
//! | --- | --- |
//! | `POST /auth/login` | `{username` or `email, password}` or `{api_key}`; optional `scope`, `session_id`, `tenant` (one of the account's or key's tenants: the tokens then name it alone) |
//! | `POST /auth/token` | OAuth 2.0 token endpoint: `grant_type` = `authorization_code` (with PKCE), `refresh_token` (with the client's authentication when the token was issued to a client), `client_credentials` (secret in the body or HTTP Basic), `api_key` (or no `grant_type` with an `api_key`), and `password` only when [offered](TokenEndpoints::password_grant); `tenant` as at `/auth/login` |
//! | `POST /auth/refresh` | `{refresh_token}`, optional `scope` |
//! | `POST /auth/logout` | ends the session of the Bearer token (authenticated) |
//! | `POST /auth/revoke` | RFC 7009: `token`; unknown tokens answer 200 too |
//! | `GET /auth/verify` | `{"authenticated":true,"user_id":…,"scopes":[…],"expires_at":"2026-12-31T23:59:59Z"}` (authenticated; `expires_at` RFC 3339, null for a credential that does not expire) |
//! | `GET /oauth/authorize` | the authorization endpoint (RFC 6749 §4.1, PKCE S256 only, RFC 9207 `iss`), once a [`Consent`] is [given](TokenEndpoints::consent); `POST` with a form too |
//! | `POST /oauth/introspect` | RFC 7662 introspection of the issuer's access and refresh tokens, for authenticated confidential clients |
//!
//! [`TokenEndpoints::well_known_router`] serves the RFC 8414 metadata document
//! (`/.well-known/oauth-authorization-server`), to be merged at the root of the issuer's host.
//!
//! Each endpoint's path, request field names, answer shape and failures can be changed, in code
//! ([`Endpoint`]) or in a configuration file ([`TokenEndpointsConfig`]), so that an API keeps the
//! shape its documentation promises: see [`TokenEndpoints`].
//!
//! Bodies are JSON or `application/x-www-form-urlencoded`, up to 16 KiB by default; one declared
//! longer is refused at once (413), and one that does not arrive within 10 s by default is
//! answered 408 (see [`TokenEndpoints::body_timeout`]). Successful
//! grants answer as RFC 6749 §5.1 with `Cache-Control: no-store` unless shaped otherwise;
//! failures use RFC 6749 §5.2 codes (`invalid_grant`, `invalid_client`, `invalid_scope`,
//! `unsupported_grant_type`, `invalid_request`) in the error format of the auth layer given to
//! the router — except the OAuth token endpoint, whose errors are RFC 6749 §5.2 bodies (what OAuth
//! client libraries parse) unless its own endpoint says otherwise.

mod body;
mod consent;
mod oauth;
#[cfg(feature = "utoipa")]
mod openapi;
mod shape;

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::future::Future;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use http::header::{CACHE_CONTROL, CONTENT_TYPE, PRAGMA, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{HeaderMap, HeaderValue, StatusCode, request};
use serde_json::json;

use crate::error::{AuthError, ErrorFormat, ErrorRenderer};
use crate::identity::Identity;
use crate::issuer::{
    ClientCredentials, GrantCause, GrantError, GrantErrorKind, Login, TokenResponse, TokenService,
};
use crate::layer::{AuthLayer, Throttled};
#[cfg(feature = "rate-limit")]
use crate::rate_limit::{AuthAttempt, AuthThrottle};

use body::{BodyLimits, Fields, basic_credentials, invalid_request};
use consent::DynConsent;
pub use consent::{Consent, ConsentDecision, PasswordConsent};
pub use shape::{
    Endpoint, Failure, FailureKey, RequestField, ResponseShape, TokenEndpointsConfig, TokenField,
    TokenRoute,
};

/// The default largest request body, 16 KiB.
pub const DEFAULT_BODY_LIMIT: usize = 16 * 1024;

/// The default longest time a request body may take to arrive, 10 s: ample for a few KiB from a
/// slow phone, short enough that a stalled client lets go of its connection soon.
pub const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(10);

/// The token endpoints router: every route of the [module](crate::endpoints), each shaped as the app's API
/// documents it.
///
/// ```
/// # #[cfg(any(feature = "aws-lc-rs", feature = "rust-crypto"))]
/// # fn main() {
/// use std::sync::Arc;
/// use axum::Router;
/// use http::StatusCode;
/// use tower_api_auth::endpoints::{Endpoint, Failure, RequestField, ResponseShape, TokenEndpoints, TokenField, TokenRoute};
/// use tower_api_auth::issuer::{GrantCause, MemoryRefreshStore, SigningKey, TokenIssuer, TokenService};
/// use tower_api_auth::{Algorithm, AuthLayer};
///
/// let signing = SigningKey::hmac(Algorithm::HS256, b"a-secret-of-at-least-thirty-two-bytes!!").unwrap();
/// let tokens = Arc::new(TokenService::new(TokenIssuer::new(signing, "https://auth.example.test"), MemoryRefreshStore::new()));
/// let auth = AuthLayer::builder().jwt(tokens.validator()).revocation(tokens.revocations()).build().unwrap();
///
/// // The defaults, under /v1:
/// let app: Router = Router::new().nest("/v1", TokenEndpoints::new(tokens.clone()).router(auth.clone()));
///
/// // A login answering {"token", "expires_at", "refresh_token"}, 401 invalid_credentials for a
/// // wrong password, and no OAuth token endpoint:
/// let login = Endpoint::at("/v1/auth/login")
///     .response(ResponseShape::fields([
///         (TokenField::AccessToken, "token"),
///         (TokenField::ExpiresAt, "expires_at"),
///         (TokenField::RefreshToken, "refresh_token"),
///     ]))
///     .on(GrantCause::WrongPassword, Failure::new(StatusCode::UNAUTHORIZED, "invalid_credentials"));
/// let app: Router = TokenEndpoints::new(tokens)
///     .endpoint(TokenRoute::Login, login)
///     .disable(TokenRoute::Token)
///     .router(auth);
/// # }
/// # #[cfg(not(any(feature = "aws-lc-rs", feature = "rust-crypto")))]
/// # fn main() {}
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct TokenEndpoints {
    service: Arc<TokenService>,
    body_limit: usize,
    body_timeout: Duration,
    error_format: Option<ErrorFormat>,
    endpoints: BTreeMap<TokenRoute, Endpoint>,
    #[cfg(feature = "rate-limit")]
    throttle: Option<AuthThrottle>,
    consent: Option<Arc<dyn DynConsent>>,
    password_grant: bool,
    public_url: Option<String>,
}

/// What every route shares.
#[derive(Debug)]
struct Shared {
    service: Arc<TokenService>,
    realm: Option<Arc<str>>,
    body: BodyLimits,
    #[cfg(feature = "rate-limit")]
    throttle: Option<AuthThrottle>,
    consent: Option<Arc<dyn DynConsent>>,
    password_grant: bool,
}

impl std::fmt::Debug for dyn DynConsent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("dyn Consent")
    }
}

/// One route's state: what it shares, how it looks, and how it renders errors.
struct RouteState {
    shared: Arc<Shared>,
    endpoint: Endpoint,
    renderer: Arc<dyn ErrorRenderer>,
    response: ResponseShape,
    /// The configured failures' codes, as the `'static` strings errors carry.
    codes: BTreeMap<FailureKey, &'static str>,
}

type Route = Arc<RouteState>;

impl TokenEndpoints {
    /// Every endpoint for `service`, at its default path and in its default shape.
    pub fn new(service: Arc<TokenService>) -> Self {
        Self {
            service,
            body_limit: DEFAULT_BODY_LIMIT,
            body_timeout: DEFAULT_BODY_TIMEOUT,
            error_format: None,
            endpoints: BTreeMap::new(),
            #[cfg(feature = "rate-limit")]
            throttle: None,
            consent: None,
            password_grant: false,
            public_url: None,
        }
    }

    /// Serves the authorization endpoint (`GET /oauth/authorize`, the authorization-code grant
    /// with PKCE), asking `consent` who the user is and whether they agree. The service must offer
    /// the grant ([`TokenService::authorization_codes`]) and register its clients
    /// ([`TokenService::clients`]).
    pub fn consent(mut self, consent: impl Consent) -> Self {
        self.consent = Some(Arc::new(consent));
        self
    }

    /// Offers the password grant (`grant_type=password`) at the OAuth token endpoint. Default:
    /// off, as OAuth 2.1 removes the grant (it hands the user's password to the client). The login
    /// endpoint (`/auth/login`) takes passwords either way.
    pub fn password_grant(mut self, offer: bool) -> Self {
        self.password_grant = offer;
        self
    }

    /// Where clients reach this router, as an absolute URL: the base of the endpoint URLs the
    /// authorization server metadata publishes (`https://api.example.com/v1` for a router nested
    /// at `/v1`). Default: the issuer's URL.
    pub fn public_url(mut self, url: impl Into<String>) -> Self {
        self.public_url = Some(url.into().trim_end_matches('/').to_owned());
        self
    }

    /// Limits failed grants with `throttle` (feature `rate-limit`): a wrong username or password
    /// per client IP and per username, an invalid API key, refresh token or client secret per
    /// client IP. A client or username over its quota is answered `429 rate_limit_exceeded`
    /// with `Retry-After` before its password is hashed or its token looked up. Give the auth
    /// layer a clone (`AuthLayerBuilder::throttle_failures`) so that both count together.
    ///
    /// ```
    /// # #[cfg(any(feature = "aws-lc-rs", feature = "rust-crypto"))]
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use std::sync::Arc;
    /// use axum::Router;
    /// use tower_api_auth::endpoints::TokenEndpoints;
    /// use tower_api_auth::issuer::{MemoryRefreshStore, SigningKey, TokenIssuer, TokenService};
    /// use tower_api_auth::rate_limit::{AuthThrottle, Quota};
    /// use tower_api_auth::{Algorithm, AuthLayer};
    ///
    /// let signing = SigningKey::hmac(Algorithm::HS256, b"a-secret-of-at-least-thirty-two-bytes!!")?;
    /// let tokens = Arc::new(TokenService::new(TokenIssuer::new(signing, "https://auth.example.test"), MemoryRefreshStore::new()));
    /// let throttle = AuthThrottle::new(Quota::per_minute(10)).per_username(Quota::per_hour(20));
    /// let auth = AuthLayer::builder()
    ///     .jwt(tokens.validator())
    ///     .revocation(tokens.revocations())
    ///     .throttle_failures(throttle.clone())
    ///     .build()?;
    /// let app: Router = TokenEndpoints::new(tokens).throttle_failures(throttle).router(auth);
    /// // Serve it with its peer addresses, which the throttle counts by:
    /// // axum::serve(listener, app.into_make_service_with_connect_info::<std::net::SocketAddr>())
    /// # let _ = app;
    /// # Ok(()) }
    /// # #[cfg(not(any(feature = "aws-lc-rs", feature = "rust-crypto")))]
    /// # fn main() {}
    /// ```
    #[cfg(feature = "rate-limit")]
    pub fn throttle_failures(mut self, throttle: AuthThrottle) -> Self {
        self.throttle = Some(throttle);
        self
    }

    /// The largest accepted request body. Default 16 KiB. A larger one is answered
    /// `413 request_too_large`: at once, unread, when its `Content-Length` says so.
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.body_limit = bytes;
        self
    }

    /// The longest a request body may take to arrive, counted from when the endpoint starts
    /// reading it. Default [`DEFAULT_BODY_TIMEOUT`], 10 s. A body still incomplete then (a
    /// client that stopped sending, or trickles) is answered `408 request_timeout`; the rest is
    /// never read (hyper then closes the connection).
    ///
    /// This bounds the endpoints whatever server runs them; a server's own limits (a header
    /// timeout, a connection limit) protect the rest of the app: see the README's "Serving".
    ///
    /// ```
    /// # #[cfg(any(feature = "aws-lc-rs", feature = "rust-crypto"))]
    /// # fn main() {
    /// use std::sync::Arc;
    /// use std::time::Duration;
    /// use axum::Router;
    /// use tower_api_auth::endpoints::TokenEndpoints;
    /// use tower_api_auth::issuer::{MemoryRefreshStore, SigningKey, TokenIssuer, TokenService};
    /// use tower_api_auth::{Algorithm, AuthLayer};
    ///
    /// let signing = SigningKey::hmac(Algorithm::HS256, b"a-secret-of-at-least-thirty-two-bytes!!").unwrap();
    /// let tokens = Arc::new(TokenService::new(TokenIssuer::new(signing, "https://auth.example.test"), MemoryRefreshStore::new()));
    /// let auth = AuthLayer::builder().jwt(tokens.validator()).revocation(tokens.revocations()).build().unwrap();
    /// let app: Router = TokenEndpoints::new(tokens)
    ///     .body_limit(4 * 1024)
    ///     .body_timeout(Duration::from_secs(5))
    ///     .router(auth);
    /// # let _ = app;
    /// # }
    /// # #[cfg(not(any(feature = "aws-lc-rs", feature = "rust-crypto")))]
    /// # fn main() {}
    /// ```
    ///
    /// # Panics
    ///
    /// [`router`](Self::router) panics on a zero timeout, which would refuse every body.
    pub fn body_timeout(mut self, timeout: Duration) -> Self {
        self.body_timeout = timeout;
        self
    }

    /// Answers the endpoints' errors in `format` instead of the auth layer's:
    /// [`ErrorFormat::OAuth`] gives the RFC 6749 §5.2 body OAuth client libraries expect. The
    /// OAuth token endpoint answers RFC 6749 §5.2 regardless, unless its own [`Endpoint`] sets a
    /// format.
    pub fn error_format(mut self, format: ErrorFormat) -> Self {
        self.error_format = Some(format);
        self
    }

    /// Shapes `route` as `endpoint` (its path, field names, answer, failures).
    pub fn endpoint(mut self, route: TokenRoute, endpoint: Endpoint) -> Self {
        self.endpoints.insert(route, endpoint);
        self
    }

    /// Leaves `route` out of the router.
    pub fn disable(self, route: TokenRoute) -> Self {
        self.endpoint(route, Endpoint::disabled())
    }

    /// Applies a configuration file's [`TokenEndpointsConfig`]: each route it names is shaped as
    /// it says.
    pub fn configure(mut self, config: TokenEndpointsConfig) -> Self {
        let TokenEndpointsConfig {
            body_limit,
            body_timeout_secs,
            error_format,
            login,
            token,
            refresh,
            logout,
            revoke,
            verify,
            authorize,
            introspect,
            password_grant,
        } = config;
        if let Some(offer) = password_grant {
            self.password_grant = offer;
        }
        if let Some(limit) = body_limit {
            self.body_limit = limit;
        }
        if let Some(secs) = body_timeout_secs {
            self.body_timeout = Duration::from_secs(secs.get());
        }
        if error_format.is_some() {
            self.error_format = error_format;
        }
        let routes = [
            (TokenRoute::Login, login),
            (TokenRoute::Token, token),
            (TokenRoute::Refresh, refresh),
            (TokenRoute::Logout, logout),
            (TokenRoute::Revoke, revoke),
            (TokenRoute::Verify, verify),
            (TokenRoute::Authorize, authorize),
            (TokenRoute::Introspect, introspect),
        ];
        for (route, endpoint) in routes {
            if let Some(endpoint) = endpoint {
                self.endpoints.insert(route, endpoint);
            }
        }
        self
    }

    /// The router. `auth` protects logout and verify, and its error format is used for every
    /// error not given another; it should accept this service's tokens
    /// (`.jwt(service.validator())`) and check its revocations (`.revocation(service.revocations())`).
    ///
    /// The router carries its own state, so it nests into an app's router of any state type
    /// (`Router<AppState>`), as axum's own routers do.
    ///
    /// # Panics
    ///
    /// On a mistake in the app's setup, caught when the app starts rather than by its clients:
    /// two enabled endpoints with the same path, a path that does not start with `/` (axum's
    /// rules); configuration an endpoint would ignore (a response shape for logout or verify,
    /// request fields for them, errors for verify); a grant's answer without the access token; a
    /// refresh answer without the refresh token while refreshes rotate it; a zero
    /// [body timeout](Self::body_timeout).
    pub fn router<S>(self, auth: AuthLayer) -> Router<S>
    where
        S: Clone + Send + Sync + 'static,
    {
        let shared = Arc::new(Shared {
            service: self.service,
            realm: auth.realm().map(Arc::from),
            body: BodyLimits {
                bytes: self.body_limit,
                timeout: self.body_timeout,
            },
            #[cfg(feature = "rate-limit")]
            throttle: self.throttle,
            consent: self.consent,
            password_grant: self.password_grant,
        });
        if shared.body.timeout.is_zero() {
            panic!("token endpoints: a body timeout of zero would answer every request body 408");
        }
        if shared.consent.is_some() && !shared.service.offers_authorization_codes() {
            panic!(
                "token endpoints: a consent was given but the token service does not offer the \
                 authorization-code grant (TokenService::authorization_codes)"
            );
        }
        let mut public = Router::new();
        let mut authenticated = Router::new();
        let mut any_authenticated = false;
        for route in TokenRoute::ALL {
            let endpoint = self.endpoints.get(&route).cloned().unwrap_or_default();
            // The authorization endpoint needs the app's consent to answer anything.
            if !endpoint.enabled || (route == TokenRoute::Authorize && shared.consent.is_none()) {
                continue;
            }
            if let Some(mistake) = endpoint.mistake(route, shared.service.rotates_refresh_tokens())
            {
                panic!("token endpoints: {mistake}");
            }
            let path = endpoint
                .path
                .clone()
                .unwrap_or_else(|| route.default_path().to_owned());
            let renderer: Arc<dyn ErrorRenderer> =
                match (endpoint.error_format, route, self.error_format) {
                    (Some(format), _, _) => Arc::new(format),
                    (None, TokenRoute::Token | TokenRoute::Introspect, _) => {
                        Arc::new(ErrorFormat::OAuth)
                    }
                    (None, _, Some(format)) => Arc::new(format),
                    (None, _, None) => auth.error_renderer(),
                };
            let state = Arc::new(RouteState {
                shared: shared.clone(),
                response: endpoint.response.clone().unwrap_or_default(),
                codes: static_codes(&endpoint),
                endpoint,
                renderer,
            });
            let handler: MethodRouter<()> = match route {
                TokenRoute::Login => post(move |request: Request| login(state, request)),
                TokenRoute::Token => post(move |request: Request| token(state, request)),
                TokenRoute::Refresh => post(move |request: Request| refresh(state, request)),
                TokenRoute::Revoke => post(move |request: Request| revoke(state, request)),
                TokenRoute::Logout => post(move |identity: Identity| logout(state, identity)),
                TokenRoute::Verify => get(verify),
                TokenRoute::Authorize => {
                    let posted = state.clone();
                    get(move |request: Request| oauth::authorize(state, request))
                        .post(move |request: Request| oauth::authorize(posted, request))
                }
                TokenRoute::Introspect => {
                    post(move |request: Request| oauth::introspect(state, request))
                }
            };
            match route {
                TokenRoute::Logout | TokenRoute::Verify => {
                    authenticated = authenticated.route(&path, handler);
                    any_authenticated = true;
                }
                _ => public = public.route(&path, handler),
            }
        }
        // axum refuses a route layer on a router without routes (logout and verify disabled).
        if any_authenticated {
            public = public.merge(authenticated.route_layer(auth));
        }
        public.with_state(())
    }
}

/// The configured failures' codes as `&'static str`, which [`AuthError`] codes are (the
/// renderers and apps match on them). A code written in the app's source is used as is; one read
/// from a configuration file is leaked once, when the router is built: a few bytes per
/// configured failure, never per request.
fn static_codes(endpoint: &Endpoint) -> BTreeMap<FailureKey, &'static str> {
    endpoint
        .errors
        .iter()
        .map(|(key, failure)| {
            let code: &'static str = match &failure.code {
                Cow::Borrowed(code) => code,
                Cow::Owned(code) => Box::leak(code.clone().into_boxed_str()),
            };
            (*key, code)
        })
        .collect()
}

impl RouteState {
    /// The rejection, rendered as the app renders its errors, with the error as an extension.
    fn reject(&self, error: GrantError) -> Response {
        tracing::debug!(code = error.code(), cause = ?error.cause(), "token endpoint request rejected");
        let kind = error.kind();
        let mut error = match self.endpoint.failure(kind, error.cause()) {
            Some(failure) => {
                let key = match error.cause() {
                    Some(cause) if self.codes.contains_key(&FailureKey::Cause(cause)) => {
                        FailureKey::Cause(cause)
                    }
                    _ => FailureKey::Kind(kind),
                };
                let message = failure
                    .message
                    .clone()
                    .unwrap_or_else(|| Cow::Owned(error.message().to_owned()));
                let mut shaped =
                    AuthError::custom(self.codes[&key], failure.status, kind.default_message())
                        .with_message(message);
                if failure.status == StatusCode::UNAUTHORIZED {
                    // RFC 9110 §15.5.2: a 401 carries a challenge.
                    shaped = shaped.with_challenge(if kind == GrantErrorKind::InvalidClient {
                        "Basic"
                    } else {
                        "Bearer"
                    });
                }
                shaped
            }
            None => AuthError::from(error),
        };
        let status = error.status();
        match (&self.shared.realm, status == StatusCode::UNAUTHORIZED) {
            (Some(realm), _) => error = error.with_realm(&**realm),
            // RFC 7617 requires a realm in a Basic challenge.
            (None, true) if kind == GrantErrorKind::InvalidClient => {
                error = error.with_realm("token")
            }
            _ => {}
        }
        let mut response = self.renderer.render(&error);
        let headers = response.headers_mut();
        if status == StatusCode::UNAUTHORIZED {
            if !headers.contains_key(WWW_AUTHENTICATE)
                && let Some(challenge) = error.challenge()
            {
                headers.insert(WWW_AUTHENTICATE, challenge);
            }
        } else {
            // Other grant errors are no challenge to authenticate.
            headers.remove(WWW_AUTHENTICATE);
        }
        no_store(headers);
        response.extensions_mut().insert(error);
        response.map(Body::from)
    }

    async fn fields(&self, headers: &HeaderMap, body: Body) -> Result<Fields, GrantError> {
        Fields::read(headers, body, self.shared.body).await
    }

    /// A form body's bytes, bounded as every body is.
    async fn fields_bytes(&self, headers: &HeaderMap, body: Body) -> Result<Vec<u8>, GrantError> {
        Fields::read_bytes(headers, body, self.shared.body).await
    }

    /// The request's `field`, under the name this endpoint reads it by.
    fn get<'f>(
        &self,
        fields: &'f Fields,
        field: RequestField,
    ) -> Result<Option<&'f str>, GrantError> {
        fields.get(self.endpoint.field_name(field))
    }

    fn require<'f>(&self, fields: &'f Fields, field: RequestField) -> Result<&'f str, GrantError> {
        fields.require(self.endpoint.field_name(field))
    }

    /// The client authentication of a request, if it has one (RFC 6749 §2.3.1): HTTP Basic, or
    /// `client_id` with `client_secret` in the body, or `client_id` alone (a public client).
    /// Sending a secret both ways is `invalid_request` (one method per request).
    fn client_credentials(
        &self,
        fields: &Fields,
        headers: &HeaderMap,
    ) -> Result<Option<ClientAuth>, GrantError> {
        let in_body = self.get(fields, RequestField::ClientSecret)?;
        match basic_credentials(headers)? {
            Some(_) if in_body.is_some() => Err(invalid_request(
                "Send the client credentials once: in the Authorization header or the body",
            )),
            Some((id, secret)) => {
                // A client_id in the body too must name the same client.
                match self.get(fields, RequestField::ClientId)? {
                    Some(body_id) if body_id != id => {
                        Err(GrantError::new(GrantErrorKind::InvalidClient))
                    }
                    _ => Ok(Some(ClientAuth {
                        id,
                        secret: Some(secret),
                    })),
                }
            }
            None => match self.get(fields, RequestField::ClientId)? {
                Some(id) => Ok(Some(ClientAuth {
                    id: id.to_owned(),
                    secret: in_body.map(str::to_owned),
                })),
                None if in_body.is_some() => Err(invalid_request("The client_id is missing")),
                None => Ok(None),
            },
        }
    }

    /// The answer of a successful grant, in this endpoint's shape.
    fn granted(&self, tokens: &TokenResponse) -> Response {
        let mut response =
            (StatusCode::OK, json_body(&self.response.render(tokens))).into_response();
        no_store(response.headers_mut());
        response
    }

    fn answer(&self, result: Result<TokenResponse, Refusal>) -> Response {
        match result {
            Ok(tokens) => self.granted(&tokens),
            Err(Refusal::Grant(error)) => self.reject(error),
            Err(Refusal::Throttled(throttled)) => self.throttled(throttled),
        }
    }

    /// A client or username over its failure quota: 429 with `Retry-After`, in this endpoint's
    /// error format.
    fn throttled(&self, throttled: Throttled) -> Response {
        let retry_after = throttled.retry_after_header();
        let error = throttled.into_error();
        let mut response = self.renderer.render(&error);
        let headers = response.headers_mut();
        headers.remove(WWW_AUTHENTICATE);
        headers.insert(RETRY_AFTER, retry_after);
        no_store(headers);
        response.extensions_mut().insert(error);
        response.map(Body::from)
    }

    /// The client's IP address, as the throttle counts it (else the socket's peer), for the
    /// throttle and the logs.
    fn client_ip(&self, parts: &request::Parts) -> Option<IpAddr> {
        #[cfg(feature = "rate-limit")]
        if let Some(throttle) = &self.shared.throttle {
            return throttle.client_ip(&parts.extensions, &parts.headers);
        }
        crate::client_ip::peer_ip(&parts.extensions)
    }

    /// Runs `grant` unless `client` (or `username`, for a password login) is over its failure
    /// quota, and counts its failure if it fails as a guess would. Failed logins are logged at
    /// `warn` with the username, never the password: an operator can alert on them.
    async fn guarded<T>(
        &self,
        client: Option<IpAddr>,
        username: Option<&str>,
        grant: impl Future<Output = Result<T, GrantError>>,
    ) -> Result<T, Refusal> {
        #[cfg(feature = "rate-limit")]
        let attempt = self.shared.throttle.as_ref().map(|throttle| {
            let attempt = AuthAttempt::from_ip(client);
            let attempt = match username {
                Some(username) => attempt.with_username(username),
                None => attempt,
            };
            (throttle, attempt)
        });
        #[cfg(feature = "rate-limit")]
        if let Some((throttle, attempt)) = &attempt {
            throttle.check(attempt)?;
        }
        let result = grant.await;
        if let Err(error) = &result
            && is_guess(error)
        {
            if error.cause() == Some(GrantCause::WrongPassword) {
                let client = client.map_or_else(|| "unknown".to_owned(), |ip| ip.to_string());
                tracing::warn!(
                    username = ?loggable(username.unwrap_or_default()),
                    client_ip = %client,
                    "login failed: wrong username or password"
                );
            }
            #[cfg(feature = "rate-limit")]
            if let Some((throttle, attempt)) = &attempt {
                throttle.failed(attempt);
            }
        }
        Ok(result?)
    }

    /// The optional choices of a login, under this endpoint's names.
    fn choices<'f>(
        &self,
        fields: &'f Fields,
        mut login: Login<'f>,
    ) -> Result<Login<'f>, GrantError> {
        if let Some(tenant) = self.get(fields, RequestField::Tenant)? {
            login = login.tenant(tenant);
        }
        if let Some(scope) = self.get(fields, RequestField::Scope)? {
            login = login.scope(scope);
        }
        if let Some(session_id) = self.get(fields, RequestField::SessionId)? {
            login = login.session_id(session_id);
        }
        Ok(login)
    }

    fn password_login<'f>(
        &self,
        fields: &'f Fields,
        username: &'f str,
    ) -> Result<Login<'f>, GrantError> {
        let password = self.require(fields, RequestField::Password)?;
        self.choices(fields, Login::password(username, password))
    }
}

/// A client's authentication as read from a request. No `Debug`: it holds the secret.
struct ClientAuth {
    id: String,
    secret: Option<String>,
}

impl ClientAuth {
    fn credentials(&self) -> ClientCredentials<'_> {
        ClientCredentials::new(&self.id, self.secret.as_deref())
    }
}

/// Why a grant was not made: the grant failed, or the client was throttled before it was tried.
enum Refusal {
    Grant(GrantError),
    Throttled(Throttled),
}

impl From<GrantError> for Refusal {
    fn from(error: GrantError) -> Self {
        Self::Grant(error)
    }
}

impl From<Throttled> for Refusal {
    fn from(throttled: Throttled) -> Self {
        Self::Throttled(throttled)
    }
}

/// Whether a grant failed as a guess does: a wrong password, an invalid API key, refresh token
/// or client secret. Not a grant of the wrong tenant or scope (the credential was right), a
/// malformed request, or a store that could not answer.
fn is_guess(error: &GrantError) -> bool {
    matches!(
        error.cause(),
        Some(
            GrantCause::WrongPassword
                | GrantCause::InvalidApiKey
                | GrantCause::InvalidRefreshToken
                | GrantCause::InvalidAuthorizationCode
                | GrantCause::WrongCodeVerifier
        )
    ) || error.kind() == GrantErrorKind::InvalidClient
}

/// A username as a log line shows it: its first 64 characters (written with `Debug`, so that
/// control characters cannot forge lines).
fn loggable(username: &str) -> &str {
    match username.char_indices().nth(64) {
        Some((end, _)) => &username[..end],
        None => username,
    }
}

fn no_store(headers: &mut HeaderMap) {
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(PRAGMA, HeaderValue::from_static("no-cache"));
}

fn json_body(value: &impl serde::Serialize) -> ([(http::HeaderName, HeaderValue); 1], Vec<u8>) {
    (
        [(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
        serde_json::to_vec(value).unwrap_or_default(),
    )
}

async fn login(route: Route, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let client = route.client_ip(&parts);
    let result = async {
        let fields = route.fields(&parts.headers, body).await?;
        let service = &route.shared.service;
        if let Some(api_key) = route.get(&fields, RequestField::ApiKey)? {
            let login = route.choices(&fields, Login::api_key(api_key))?;
            return route.guarded(client, None, service.login(login)).await;
        }
        let username = match route.get(&fields, RequestField::Username)? {
            Some(username) => Some(username),
            // Unless renamed, a login's username may come as `email` too.
            None if !route.endpoint.renamed(RequestField::Username) => fields.get("email")?,
            None => None,
        };
        let username = username.ok_or_else(|| {
            invalid_request(format!(
                "Send `{}` and `{}`, or `{}`",
                route.endpoint.field_name(RequestField::Username),
                route.endpoint.field_name(RequestField::Password),
                route.endpoint.field_name(RequestField::ApiKey),
            ))
        })?;
        let login = route.password_login(&fields, username)?;
        route
            .guarded(client, Some(username), service.login(login))
            .await
    }
    .await;
    route.answer(result)
}

async fn token(route: Route, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let client = route.client_ip(&parts);
    let headers = &parts.headers;
    let result = async {
        let fields = route.fields(headers, body).await?;
        let service = &route.shared.service;
        let scope = route.get(&fields, RequestField::Scope)?;
        let api_key = route.get(&fields, RequestField::ApiKey)?;
        match route.get(&fields, RequestField::GrantType)? {
            Some("password") if route.shared.password_grant => {
                let username = route.require(&fields, RequestField::Username)?;
                let login = route.password_login(&fields, username)?;
                route
                    .guarded(client, Some(username), service.login(login))
                    .await
            }
            Some("password") => Err(GrantError::new(GrantErrorKind::UnsupportedGrantType)
                .with_message("The password grant is not offered at the token endpoint (OAuth 2.1)")
                .into()),
            Some("refresh_token") => {
                let refresh_token = route.require(&fields, RequestField::RefreshToken)?;
                let credentials = route.client_credentials(&fields, headers)?;
                let grant = service.refresh_as(
                    refresh_token,
                    scope,
                    credentials.as_ref().map(ClientAuth::credentials),
                );
                route.guarded(client, None, grant).await
            }
            Some("authorization_code") if !service.offers_authorization_codes() => {
                Err(GrantError::new(GrantErrorKind::UnsupportedGrantType).into())
            }
            Some("authorization_code") => {
                let credentials = route
                    .client_credentials(&fields, headers)?
                    .ok_or_else(|| invalid_request("The client_id is missing"))?;
                let code = route.require(&fields, RequestField::Code)?;
                let redirect_uri = route.get(&fields, RequestField::RedirectUri)?;
                let verifier = route.get(&fields, RequestField::CodeVerifier)?;
                let grant = service.authorization_code(
                    credentials.credentials(),
                    code,
                    redirect_uri,
                    verifier,
                );
                route.guarded(client, None, grant).await
            }
            Some("client_credentials") => {
                let credentials = route.client_credentials(&fields, headers)?;
                // Client credentials are for confidential clients: a secret is required, and its
                // absence is the field the request lacks.
                let Some(ClientAuth {
                    id,
                    secret: Some(secret),
                }) = &credentials
                else {
                    let missing = match credentials {
                        Some(_) => RequestField::ClientSecret,
                        None => RequestField::ClientId,
                    };
                    return Err(route
                        .require(&fields, missing)
                        .err()
                        .unwrap_or_else(|| GrantError::new(GrantErrorKind::InvalidClient))
                        .into());
                };
                let grant = service.client_credentials(id, secret, scope);
                route.guarded(client, None, grant).await
            }
            // `grant_type=api_key` without a key is malformed, not an unknown grant.
            grant @ (Some("api_key") | None) if api_key.is_some() || grant.is_some() => {
                let api_key = route.require(&fields, RequestField::ApiKey)?;
                let login = route.choices(&fields, Login::api_key(api_key))?;
                route.guarded(client, None, service.login(login)).await
            }
            None => Err(invalid_request("The grant_type is missing").into()),
            Some(_) => Err(GrantError::new(GrantErrorKind::UnsupportedGrantType).into()),
        }
    }
    .await;
    route.answer(result)
}

async fn refresh(route: Route, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let client = route.client_ip(&parts);
    let result = async {
        let fields = route.fields(&parts.headers, body).await?;
        let refresh_token = route.require(&fields, RequestField::RefreshToken)?;
        let scope = route.get(&fields, RequestField::Scope)?;
        let grant = route.shared.service.refresh(refresh_token, scope);
        route.guarded(client, None, grant).await
    }
    .await;
    route.answer(result)
}

async fn logout(route: Route, identity: Identity) -> Response {
    match route.shared.service.logout(&identity).await {
        Ok(()) => {
            let mut response = StatusCode::NO_CONTENT.into_response();
            no_store(response.headers_mut());
            response
        }
        Err(error) => route.reject(error),
    }
}

async fn revoke(route: Route, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let client = route.client_ip(&parts);
    let headers = &parts.headers;
    let result: Result<(), Refusal> = async {
        let fields = route.fields(headers, body).await?;
        let token = route.require(&fields, RequestField::Token)?;
        let credentials = route.client_credentials(&fields, headers)?;
        // A wrong client secret here is a guess like one at the token endpoint: throttled.
        let revoke = route
            .shared
            .service
            .revoke_as(token, credentials.as_ref().map(ClientAuth::credentials));
        route.guarded(client, None, revoke).await
    }
    .await;
    match result {
        Ok(()) => {
            let mut response = StatusCode::OK.into_response();
            no_store(response.headers_mut());
            response
        }
        Err(Refusal::Grant(error)) => route.reject(error),
        Err(Refusal::Throttled(throttled)) => route.throttled(throttled),
    }
}

async fn verify(identity: Identity) -> Response {
    let body = json!({
        "authenticated": true,
        "user_id": identity.principal(),
        "method": identity.method(),
        "tenant": identity.tenant(),
        "scopes": identity.scopes(),
        "expires_at": identity.expires_at().map(crate::clock::rfc3339),
    });
    let mut response = json_body(&body).into_response();
    no_store(response.headers_mut());
    response
}
