//! The token endpoints over HTTP (features `issuer` and `axum`).
//!
//! | route | what |
//! | --- | --- |
//! | `POST /auth/login` | `{username` or `email, password}` or `{api_key}`; optional `scope`, `session_id`, `tenant` (one of the account's or key's tenants: the tokens then name it alone) |
//! | `POST /auth/token` | OAuth 2.0 token endpoint: `grant_type` = `password`, `refresh_token`, `client_credentials` (secret in the body or HTTP Basic), `api_key` (or no `grant_type` with an `api_key`); `tenant` as at `/auth/login` |
//! | `POST /auth/refresh` | `{refresh_token}`, optional `scope` |
//! | `POST /auth/logout` | ends the session of the Bearer token (authenticated) |
//! | `POST /auth/revoke` | RFC 7009: `token`; unknown tokens answer 200 too |
//! | `GET /auth/verify` | `{"authenticated":true,"user_id":…,"scopes":[…],"expires_at":…}` (authenticated) |
//!
//! Bodies are JSON or `application/x-www-form-urlencoded`, up to 16 KiB by default. Successful
//! grants answer as RFC 6749 §5.1 with `Cache-Control: no-store`; failures use RFC 6749 §5.2 codes
//! (`invalid_grant`, `invalid_client`, `invalid_scope`, `unsupported_grant_type`,
//! `invalid_request`) in the error format of the auth layer given to the router.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use bytes::Bytes;
use http::header::{AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, PRAGMA, WWW_AUTHENTICATE};
use http::{HeaderMap, HeaderValue, StatusCode};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::error::{AuthError, ErrorFormat, ErrorRenderer};
use crate::identity::Identity;
use crate::issuer::{GrantError, GrantErrorKind, TokenResponse, TokenService};
use crate::layer::AuthLayer;

/// The default largest request body, 16 KiB.
pub const DEFAULT_BODY_LIMIT: usize = 16 * 1024;

/// Configures the token endpoints router.
///
/// ```
/// # #[cfg(any(feature = "aws-lc-rs", feature = "rust-crypto"))]
/// # fn main() {
/// use std::sync::Arc;
/// use axum::Router;
/// use tower_api_auth::{Algorithm, AuthLayer, issuer::MemoryRefreshStore, issuer::SigningKey, endpoints::TokenEndpoints, issuer::TokenIssuer, issuer::TokenService};
///
/// let signing = SigningKey::hmac(Algorithm::HS256, b"a-secret-of-at-least-thirty-two-bytes!!").unwrap();
/// let tokens = Arc::new(TokenService::new(TokenIssuer::new(signing, "https://auth.example.test"), MemoryRefreshStore::new()));
/// let auth = AuthLayer::builder().jwt(tokens.validator()).revocation(tokens.revocations()).build().unwrap();
/// let app: Router = Router::new().nest("/v1", TokenEndpoints::new(tokens).router(auth));
/// # }
/// # #[cfg(not(any(feature = "aws-lc-rs", feature = "rust-crypto")))]
/// # fn main() {}
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct TokenEndpoints {
    service: Arc<TokenService>,
    body_limit: usize,
    error_format: Option<ErrorFormat>,
}

#[derive(Debug)]
struct Endpoints {
    service: Arc<TokenService>,
    renderer: Arc<dyn ErrorRenderer>,
    realm: Option<Arc<str>>,
    body_limit: usize,
}

type Shared = State<Arc<Endpoints>>;

impl TokenEndpoints {
    /// Endpoints for `service`.
    pub fn new(service: Arc<TokenService>) -> Self {
        Self {
            service,
            body_limit: DEFAULT_BODY_LIMIT,
            error_format: None,
        }
    }

    /// The largest accepted request body. Default 16 KiB.
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.body_limit = bytes;
        self
    }

    /// Answers the grant endpoints' errors in `format` instead of the auth layer's:
    /// [`ErrorFormat::OAuth`] gives the RFC 6749 §5.2 body OAuth client libraries expect.
    pub fn error_format(mut self, format: ErrorFormat) -> Self {
        self.error_format = Some(format);
        self
    }

    /// The router. `auth` protects `/auth/logout` and `/auth/verify`, and its error format is used
    /// for every error; it should accept this service's tokens (`.jwt(service.validator())`) and
    /// check its revocations (`.revocation(service.revocations())`).
    ///
    /// The router carries its own state, so it nests into an app's router of any state type
    /// (`Router<AppState>`), as axum's own routers do.
    pub fn router<S>(self, auth: AuthLayer) -> Router<S>
    where
        S: Clone + Send + Sync + 'static,
    {
        let state = Arc::new(Endpoints {
            service: self.service,
            renderer: match self.error_format {
                Some(format) => Arc::new(format),
                None => auth.error_renderer(),
            },
            realm: auth.realm().map(Arc::from),
            body_limit: self.body_limit,
        });
        let authenticated = Router::new()
            .route("/auth/logout", post(logout))
            .route("/auth/verify", get(verify))
            .route_layer(auth);
        Router::new()
            .route("/auth/login", post(login))
            .route("/auth/token", post(token))
            .route("/auth/refresh", post(refresh))
            .route("/auth/revoke", post(revoke))
            .merge(authenticated)
            .with_state(state)
    }
}

/// Every field any endpoint reads; each endpoint checks the ones it needs. No `Debug`: it holds
/// passwords, client secrets, API keys and tokens.
#[derive(Default, Deserialize)]
#[serde(default)]
struct Form {
    grant_type: Option<String>,
    username: Option<String>,
    email: Option<String>,
    password: Option<String>,
    refresh_token: Option<String>,
    scope: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    api_key: Option<String>,
    tenant: Option<String>,
    session_id: Option<String>,
    // RFC 7009's `token_type_hint` is not read: refresh and access tokens are told apart by shape,
    // and unknown fields are ignored.
    token: Option<String>,
}

impl Form {
    /// RFC 6749 §3.2: "parameters sent without a value MUST be treated as if they were omitted".
    fn without_empty_values(self) -> Self {
        let keep = |value: Option<String>| value.filter(|v| !v.is_empty());
        Self {
            grant_type: keep(self.grant_type),
            username: keep(self.username),
            email: keep(self.email),
            password: keep(self.password),
            refresh_token: keep(self.refresh_token),
            scope: keep(self.scope),
            client_id: keep(self.client_id),
            client_secret: keep(self.client_secret),
            api_key: keep(self.api_key),
            tenant: keep(self.tenant),
            session_id: keep(self.session_id),
            token: keep(self.token),
        }
    }
}

fn invalid_request(message: &'static str) -> GrantError {
    GrantError::new(GrantErrorKind::InvalidRequest).with_message(message)
}

impl Endpoints {
    /// The rejection, rendered as the auth layer renders its own, with the error as an extension.
    fn reject(&self, error: GrantError) -> Response {
        tracing::debug!(code = error.code(), "token endpoint request rejected");
        let client_failed = error.kind() == GrantErrorKind::InvalidClient;
        let mut error = AuthError::from(error);
        match (&self.realm, client_failed) {
            (Some(realm), _) => error = error.with_realm(&**realm),
            // RFC 7617 requires a realm in a Basic challenge.
            (None, true) => error = error.with_realm("token"),
            (None, false) => {}
        }
        let mut response = self.renderer.render(&error);
        let headers = response.headers_mut();
        if client_failed {
            // RFC 6749 §5.2: a failed client authentication is challenged with the client's
            // scheme (unless the renderer set a challenge of its own).
            if !headers.contains_key(WWW_AUTHENTICATE)
                && let Some(challenge) = error.challenge()
            {
                headers.insert(WWW_AUTHENTICATE, challenge);
            }
        } else {
            // Grant errors are no challenge to authenticate.
            headers.remove(WWW_AUTHENTICATE);
        }
        no_store(headers);
        response.extensions_mut().insert(error);
        response.map(Body::from)
    }

    async fn read<T: DeserializeOwned + Default>(
        &self,
        headers: &HeaderMap,
        body: Body,
    ) -> Result<T, GrantError> {
        let bytes: Bytes = match Limited::new(body, self.body_limit).collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(error) if error.downcast_ref::<LengthLimitError>().is_some() => {
                return Err(GrantError::new(GrantErrorKind::RequestTooLarge));
            }
            Err(_) => return Err(invalid_request("The request body could not be read")),
        };
        let content_type = headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| {
                v.split(';')
                    .next()
                    .unwrap_or_default()
                    .trim()
                    .to_ascii_lowercase()
            });
        match content_type.as_deref() {
            Some("application/json") => serde_json::from_slice(&bytes).map_err(|_| {
                invalid_request("The request body is not valid JSON of the expected shape")
            }),
            Some("application/x-www-form-urlencoded") => serde_urlencoded::from_bytes(&bytes)
                .map_err(|_| {
                    invalid_request("The request body is not valid form data of the expected shape")
                }),
            None if bytes.is_empty() => Ok(T::default()),
            _ => Err(invalid_request(
                "The Content-Type must be application/json or application/x-www-form-urlencoded",
            )),
        }
    }
}

fn no_store(headers: &mut HeaderMap) {
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(PRAGMA, HeaderValue::from_static("no-cache"));
}

fn granted(tokens: TokenResponse) -> Response {
    let mut response = (StatusCode::OK, axum_json(&tokens)).into_response();
    no_store(response.headers_mut());
    response
}

fn axum_json(value: &impl serde::Serialize) -> ([(http::HeaderName, HeaderValue); 1], Vec<u8>) {
    (
        [(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
        serde_json::to_vec(value).unwrap_or_default(),
    )
}

fn required<'a>(value: &'a Option<String>, message: &'static str) -> Result<&'a str, GrantError> {
    value
        .as_deref()
        .filter(|v| !v.is_empty())
        .ok_or_else(|| invalid_request(message))
}

/// HTTP Basic client credentials (RFC 6749 §2.3.1), if sent.
fn basic_credentials(headers: &HeaderMap) -> Result<Option<(String, String)>, GrantError> {
    let invalid_client = || GrantError::new(GrantErrorKind::InvalidClient);
    let Some(value) = headers.get(AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value.to_str().map_err(|_| invalid_client())?;
    let Some((scheme, encoded)) = value.split_once(' ') else {
        return Ok(None);
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Ok(None);
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(invalid_client)?;
    let (id, secret) = decoded.split_once(':').ok_or_else(invalid_client)?;
    // RFC 6749 §2.3.1: both parts are form-urlencoded before they are joined and encoded.
    let unescape = |part: &str| {
        serde_urlencoded::from_str::<Vec<(String, String)>>(&format!("v={part}"))
            .ok()
            .and_then(|mut pairs| pairs.pop())
            .map(|(_, value)| value)
            .ok_or_else(invalid_client)
    };
    Ok(Some((unescape(id)?, unescape(secret)?)))
}

async fn login(State(endpoints): Shared, headers: HeaderMap, body: Body) -> Response {
    let result = async {
        let form = endpoints
            .read::<Form>(&headers, body)
            .await?
            .without_empty_values();
        login_grant(&endpoints.service, &form).await
    }
    .await;
    result.map_or_else(|error| endpoints.reject(error), granted)
}

async fn login_grant(service: &TokenService, form: &Form) -> Result<TokenResponse, GrantError> {
    let session_id = form.session_id.as_deref();
    if let Some(api_key) = form.api_key.as_deref() {
        return service
            .exchange_api_key(
                api_key,
                form.tenant.as_deref(),
                form.scope.as_deref(),
                session_id,
            )
            .await;
    }
    let username = form
        .username
        .as_deref()
        .or(form.email.as_deref())
        .filter(|u| !u.is_empty())
        .ok_or_else(|| invalid_request("Send a username (or email) and password, or an api_key"))?;
    let password = required(&form.password, "The password is missing")?;
    service
        .password(
            username,
            password,
            form.tenant.as_deref(),
            form.scope.as_deref(),
            session_id,
        )
        .await
}

async fn token(State(endpoints): Shared, headers: HeaderMap, body: Body) -> Response {
    let result = async {
        let form = endpoints.read::<Form>(&headers, body).await?.without_empty_values();
        let service = &endpoints.service;
        let scope = form.scope.as_deref();
        match form.grant_type.as_deref() {
            Some("password") => {
                let username = required(&form.username, "The username is missing")?;
                let password = required(&form.password, "The password is missing")?;
                service
                    .password(
                        username,
                        password,
                        form.tenant.as_deref(),
                        scope,
                        form.session_id.as_deref(),
                    )
                    .await
            }
            Some("refresh_token") => {
                let refresh_token = required(&form.refresh_token, "The refresh_token is missing")?;
                service.refresh(refresh_token, scope).await
            }
            Some("client_credentials") => {
                let (id, secret) = match basic_credentials(&headers)? {
                    // RFC 6749 §2.3: a client uses one authentication method per request.
                    Some(_) if form.client_secret.is_some() => {
                        return Err(invalid_request(
                            "Send the client credentials once: in the Authorization header or the body",
                        ));
                    }
                    Some(credentials) => credentials,
                    None => (
                        required(&form.client_id, "The client_id is missing")?.to_owned(),
                        required(&form.client_secret, "The client_secret is missing")?.to_owned(),
                    ),
                };
                service.client_credentials(&id, &secret, scope).await
            }
            // `grant_type=api_key` without a key is malformed, not an unknown grant.
            Some("api_key") | None if form.api_key.is_some() || form.grant_type.is_some() => {
                let api_key = required(&form.api_key, "The api_key is missing")?;
                service
                    .exchange_api_key(
                        api_key,
                        form.tenant.as_deref(),
                        scope,
                        form.session_id.as_deref(),
                    )
                    .await
            }
            None => Err(invalid_request("The grant_type is missing")),
            Some(_) => Err(GrantError::new(GrantErrorKind::UnsupportedGrantType)),
        }
    }
    .await;
    result.map_or_else(|error| endpoints.reject(error), granted)
}

async fn refresh(State(endpoints): Shared, headers: HeaderMap, body: Body) -> Response {
    let result = async {
        let form = endpoints
            .read::<Form>(&headers, body)
            .await?
            .without_empty_values();
        let refresh_token = required(&form.refresh_token, "The refresh_token is missing")?;
        endpoints
            .service
            .refresh(refresh_token, form.scope.as_deref())
            .await
    }
    .await;
    result.map_or_else(|error| endpoints.reject(error), granted)
}

async fn logout(State(endpoints): Shared, identity: Identity) -> Response {
    match endpoints.service.logout(&identity).await {
        Ok(()) => {
            let mut response = StatusCode::NO_CONTENT.into_response();
            no_store(response.headers_mut());
            response
        }
        Err(error) => endpoints.reject(error),
    }
}

async fn revoke(State(endpoints): Shared, headers: HeaderMap, body: Body) -> Response {
    let result = async {
        let form = endpoints
            .read::<Form>(&headers, body)
            .await?
            .without_empty_values();
        let token = required(&form.token, "The token is missing")?;
        endpoints.service.revoke(token).await
    }
    .await;
    match result {
        Ok(()) => {
            let mut response = StatusCode::OK.into_response();
            no_store(response.headers_mut());
            response
        }
        Err(error) => endpoints.reject(error),
    }
}

async fn verify(identity: Identity) -> Response {
    let body = json!({
        "authenticated": true,
        "user_id": identity.principal(),
        "method": identity.method(),
        "tenant": identity.tenant(),
        "scopes": identity.scopes(),
        "expires_at": identity.expires_at(),
    });
    let mut response = axum_json(&body).into_response();
    no_store(response.headers_mut());
    response
}
