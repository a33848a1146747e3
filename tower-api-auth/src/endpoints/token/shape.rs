//! How one token endpoint looks from outside: its path, the names of its request fields, the
//! shape of its answer, and its failures' status, code and message. In code (builders) and in a
//! configuration file (serde), the same types.

use std::borrow::Cow;
use std::collections::BTreeMap;

use http::StatusCode;
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

use crate::error::{ErrorFormat, rfc3339};
use crate::issuer::{GrantCause, GrantErrorKind, TokenResponse};

/// One of the token endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum TokenRoute {
    /// `POST /auth/login`: a password or an API key.
    Login,
    /// `POST /auth/token`: the OAuth 2.0 token endpoint (RFC 6749 §3.2), by `grant_type`.
    Token,
    /// `POST /auth/refresh`: a refresh token.
    Refresh,
    /// `POST /auth/logout`: ends the session of the Bearer token.
    Logout,
    /// `POST /auth/revoke`: RFC 7009 revocation.
    Revoke,
    /// `GET /auth/verify`: who the Bearer token names.
    Verify,
    /// `GET /oauth/authorize`: the authorization endpoint (RFC 6749 §3.1), served once a
    /// [`Consent`](crate::endpoints::Consent) is given.
    Authorize,
    /// `POST /oauth/introspect`: RFC 7662 introspection, for confidential clients.
    Introspect,
}

impl TokenRoute {
    /// Every route, in the order of the docs.
    pub const ALL: [Self; 8] = [
        Self::Login,
        Self::Token,
        Self::Refresh,
        Self::Logout,
        Self::Revoke,
        Self::Verify,
        Self::Authorize,
        Self::Introspect,
    ];

    /// The path it has unless configured, relative to where the router is nested.
    pub const fn default_path(self) -> &'static str {
        match self {
            Self::Login => "/auth/login",
            Self::Token => "/auth/token",
            Self::Refresh => "/auth/refresh",
            Self::Logout => "/auth/logout",
            Self::Revoke => "/auth/revoke",
            Self::Verify => "/auth/verify",
            Self::Authorize => "/oauth/authorize",
            Self::Introspect => "/oauth/introspect",
        }
    }
}

/// A field of a token request, by what it means; [`name`](Self::name) is what RFC 6749 calls it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RequestField {
    /// `grant_type`.
    GrantType,
    /// `username` (at the login endpoint, `email` too unless renamed).
    Username,
    /// `password`.
    Password,
    /// `refresh_token`.
    RefreshToken,
    /// `api_key`.
    ApiKey,
    /// `scope`.
    Scope,
    /// `tenant`.
    Tenant,
    /// `session_id`.
    SessionId,
    /// `client_id`.
    ClientId,
    /// `client_secret`.
    ClientSecret,
    /// `token` (RFC 7009, RFC 7662).
    Token,
    /// `token_type_hint` (RFC 7009, RFC 7662).
    TokenTypeHint,
    /// `code`: the authorization code.
    Code,
    /// `redirect_uri`.
    RedirectUri,
    /// `code_verifier` (PKCE).
    CodeVerifier,
}

impl RequestField {
    /// The standard name.
    pub const fn name(self) -> &'static str {
        match self {
            Self::GrantType => "grant_type",
            Self::Username => "username",
            Self::Password => "password",
            Self::RefreshToken => "refresh_token",
            Self::ApiKey => "api_key",
            Self::Scope => "scope",
            Self::Tenant => "tenant",
            Self::SessionId => "session_id",
            Self::ClientId => "client_id",
            Self::ClientSecret => "client_secret",
            Self::Token => "token",
            Self::TokenTypeHint => "token_type_hint",
            Self::Code => "code",
            Self::RedirectUri => "redirect_uri",
            Self::CodeVerifier => "code_verifier",
        }
    }
}

/// A field of a token answer, by what it means; [`name`](Self::name) is what RFC 6749 calls it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum TokenField {
    /// `access_token`.
    AccessToken,
    /// `token_type`: `Bearer`.
    TokenType,
    /// `expires_in`: seconds until the access token expires.
    ExpiresIn,
    /// `expires_at`: when the access token expires, RFC 3339 in UTC (`2026-12-31T23:59:59Z`).
    ExpiresAt,
    /// `refresh_token`, when the answer has one.
    RefreshToken,
    /// `scope`: the granted scopes, space-delimited.
    Scope,
    /// `session_id`: the session the tokens belong to.
    SessionId,
    /// `user`: what the login showed of the user
    /// ([`Account::with_user`](crate::issuer::Account::with_user)), in a login's answer only.
    User,
}

impl TokenField {
    /// The standard name.
    pub const fn name(self) -> &'static str {
        match self {
            Self::AccessToken => "access_token",
            Self::TokenType => "token_type",
            Self::ExpiresIn => "expires_in",
            Self::ExpiresAt => "expires_at",
            Self::RefreshToken => "refresh_token",
            Self::Scope => "scope",
            Self::SessionId => "session_id",
            Self::User => "user",
        }
    }

    fn value(self, answer: &TokenResponse) -> Option<Value> {
        Some(match self {
            Self::AccessToken => Value::from(answer.access_token.as_str()),
            Self::TokenType => Value::from(answer.token_type),
            Self::ExpiresIn => Value::from(answer.expires_in),
            Self::ExpiresAt => Value::from(rfc3339(answer.expires_at)),
            Self::RefreshToken => Value::from(answer.refresh_token.as_deref()?),
            Self::Scope => Value::from(answer.scope.as_str()),
            Self::SessionId => Value::from(answer.session_id.as_deref()?),
            Self::User => answer.user.clone()?,
        })
    }
}

/// The JSON a successful grant answers: which [`TokenField`]s, under which names, optionally
/// wrapped in an envelope object. A field without a value (no refresh token, no user) is left out.
///
/// ```
/// use tower_api_auth::endpoints::{ResponseShape, TokenField};
///
/// // RAG Chats' (django-rest-framework-simplejwt's) login: {"access", "refresh", "user"}.
/// let shape = ResponseShape::fields([
///     (TokenField::AccessToken, "access"),
///     (TokenField::RefreshToken, "refresh"),
///     (TokenField::User, "user"),
/// ]);
/// // Chalk's: RFC 6749's fields inside {"data": {…}}.
/// let shape = ResponseShape::oauth().without(TokenField::Scope).envelope("data");
/// // In a configuration file: fields = { access_token = "token", expires_at = "expires_at" }
/// let shape: ResponseShape = toml::from_str(r#"fields = { access_token = "token", expires_at = "expires_at" }"#).unwrap();
/// # let _ = shape;
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResponseShape {
    #[serde(default = "oauth_fields")]
    fields: BTreeMap<TokenField, String>,
    #[serde(default)]
    envelope: Option<String>,
}

fn oauth_fields() -> BTreeMap<TokenField, String> {
    [
        TokenField::AccessToken,
        TokenField::TokenType,
        TokenField::ExpiresIn,
        TokenField::RefreshToken,
        TokenField::Scope,
        TokenField::SessionId,
    ]
    .into_iter()
    .map(|field| (field, field.name().to_owned()))
    .collect()
}

impl Default for ResponseShape {
    fn default() -> Self {
        Self::oauth()
    }
}

impl ResponseShape {
    /// RFC 6749 §5.1: `access_token`, `token_type`, `expires_in`, `refresh_token`, `scope`, and
    /// the `session_id` the crate adds. The default.
    pub fn oauth() -> Self {
        Self {
            fields: oauth_fields(),
            envelope: None,
        }
    }

    /// Exactly these fields, under these names.
    pub fn fields<N: Into<String>>(fields: impl IntoIterator<Item = (TokenField, N)>) -> Self {
        Self {
            fields: fields.into_iter().map(|(f, n)| (f, n.into())).collect(),
            envelope: None,
        }
    }

    /// Adds `field` (or renames it) under `name`.
    #[must_use]
    pub fn with(mut self, field: TokenField, name: impl Into<String>) -> Self {
        self.fields.insert(field, name.into());
        self
    }

    /// Leaves `field` out.
    #[must_use]
    pub fn without(mut self, field: TokenField) -> Self {
        self.fields.remove(&field);
        self
    }

    /// Whether the answer shows `field`.
    pub fn shows(&self, field: TokenField) -> bool {
        self.fields.contains_key(&field)
    }

    /// The fields it shows, under their names.
    #[cfg(feature = "utoipa")]
    pub(super) fn named_fields(&self) -> impl Iterator<Item = (TokenField, &str)> {
        self.fields
            .iter()
            .map(|(field, name)| (*field, name.as_str()))
    }

    /// The envelope's name, if the fields are wrapped.
    #[cfg(feature = "utoipa")]
    pub(super) fn envelope_name(&self) -> Option<&str> {
        self.envelope.as_deref()
    }

    /// Wraps the fields in an object under `name`: `{"data": {…}}`.
    #[must_use]
    pub fn envelope(mut self, name: impl Into<String>) -> Self {
        self.envelope = Some(name.into());
        self
    }

    /// The answer's JSON.
    pub(super) fn render(&self, answer: &TokenResponse) -> Value {
        let fields: Map<String, Value> = self
            .fields
            .iter()
            .filter_map(|(field, name)| Some((name.clone(), field.value(answer)?)))
            .collect();
        match &self.envelope {
            Some(envelope) => {
                Value::Object(Map::from_iter([(envelope.clone(), Value::Object(fields))]))
            }
            None => Value::Object(fields),
        }
    }
}

/// What a failure is matched on: a [`GrantCause`] (finer) or a [`GrantErrorKind`]. In a
/// configuration file, the cause's name (`wrong_password`) or the kind's code (`invalid_grant`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FailureKey {
    /// Every failure of this kind without a more specific entry.
    Kind(GrantErrorKind),
    /// Failures of this cause.
    Cause(GrantCause),
}

impl From<GrantErrorKind> for FailureKey {
    fn from(kind: GrantErrorKind) -> Self {
        Self::Kind(kind)
    }
}

impl From<GrantCause> for FailureKey {
    fn from(cause: GrantCause) -> Self {
        Self::Cause(cause)
    }
}

impl<'de> Deserialize<'de> for FailureKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::IntoDeserializer;
        use serde::de::value::{Error as ValueError, StrDeserializer};
        let name = String::deserialize(deserializer)?;
        let de = || -> StrDeserializer<'_, ValueError> { name.as_str().into_deserializer() };
        if let Ok(cause) = GrantCause::deserialize(de()) {
            return Ok(Self::Cause(cause));
        }
        if let Ok(kind) = GrantErrorKind::deserialize(de()) {
            return Ok(Self::Kind(kind));
        }
        Err(serde::de::Error::custom(format_args!(
            "`{name}` is neither a grant error code (invalid_grant, invalid_request, …) nor a cause \
             (wrong_password, invalid_api_key, invalid_refresh_token, tenant_not_granted)"
        )))
    }
}

/// How one failure is answered: its status, its code, and optionally its message (otherwise the
/// service's, which never contains request data). Rendered in the endpoint's error format like
/// every other error of the app.
///
/// ```
/// use http::StatusCode;
/// use tower_api_auth::endpoints::Failure;
///
/// let failure = Failure::new(StatusCode::UNAUTHORIZED, "INVALID_REFRESH_TOKEN")
///     .message("Refresh token is invalid or expired");
/// # let _ = failure;
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Failure {
    #[serde(deserialize_with = "error_status")]
    pub(super) status: StatusCode,
    pub(super) code: Cow<'static, str>,
    #[serde(default)]
    pub(super) message: Option<Cow<'static, str>>,
}

fn error_status<'de, D: Deserializer<'de>>(deserializer: D) -> Result<StatusCode, D::Error> {
    let status = u16::deserialize(deserializer)?;
    StatusCode::from_u16(status)
        .ok()
        .filter(|s| s.is_client_error() || s.is_server_error())
        .ok_or_else(|| serde::de::Error::custom("a failure's status is 400 to 599"))
}

impl Failure {
    /// A failure answered with `status` and `code`, and the service's message.
    ///
    /// # Panics
    ///
    /// If `status` is not an error status (4xx or 5xx): a failure answered as a success would let
    /// clients believe they got a token.
    pub fn new(status: StatusCode, code: impl Into<Cow<'static, str>>) -> Self {
        assert!(
            status.is_client_error() || status.is_server_error(),
            "a failure's status is 400 to 599, not {status}"
        );
        Self {
            status,
            code: code.into(),
            message: None,
        }
    }

    /// Replaces the message. Messages are shown to clients: never put secrets in one.
    #[must_use]
    pub fn message(mut self, message: impl Into<Cow<'static, str>>) -> Self {
        self.message = Some(message.into());
        self
    }
}

/// One endpoint's shape: its path, request field names, answer and failures. Everything left
/// unset keeps the default.
///
/// ```
/// use http::StatusCode;
/// use tower_api_auth::endpoints::{Endpoint, Failure, RequestField, ResponseShape, TokenField};
/// use tower_api_auth::issuer::GrantErrorKind;
///
/// // RAG Chats: POST /auth/token/refresh/ {"refresh": …} answers {"access": …}.
/// let refresh = Endpoint::at("/auth/token/refresh/")
///     .request_field(RequestField::RefreshToken, "refresh")
///     .response(ResponseShape::fields([(TokenField::AccessToken, "access"), (TokenField::RefreshToken, "refresh")]))
///     .on(GrantErrorKind::InvalidGrant, Failure::new(StatusCode::UNAUTHORIZED, "token_not_valid"));
/// # let _ = refresh;
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[must_use]
pub struct Endpoint {
    pub(super) enabled: bool,
    pub(super) path: Option<String>,
    pub(super) request: BTreeMap<RequestField, String>,
    pub(super) response: Option<ResponseShape>,
    pub(super) errors: BTreeMap<FailureKey, Failure>,
    pub(super) error_format: Option<ErrorFormat>,
}

impl Default for Endpoint {
    fn default() -> Self {
        Self {
            enabled: true,
            path: None,
            request: BTreeMap::new(),
            response: None,
            errors: BTreeMap::new(),
            error_format: None,
        }
    }
}

impl Endpoint {
    /// The endpoint at its default path, as it is by default.
    pub fn new() -> Self {
        Self::default()
    }

    /// The endpoint at `path` (relative to where the router is nested; trailing slashes count).
    pub fn at(path: impl Into<String>) -> Self {
        Self::new().path(path)
    }

    /// No such route: requests to its path are the app's (404 unless it routes them).
    pub fn disabled() -> Self {
        Self {
            enabled: false,
            ..Self::default()
        }
    }

    /// Serves the endpoint at `path`.
    pub fn path(mut self, path: impl Into<String>) -> Self {
        self.path = Some(path.into());
        self
    }

    /// Reads `field` from the request under `name` instead of its standard name.
    pub fn request_field(mut self, field: RequestField, name: impl Into<String>) -> Self {
        self.request.insert(field, name.into());
        self
    }

    /// Answers successful grants in `shape` (default: [`ResponseShape::oauth`]).
    pub fn response(mut self, shape: ResponseShape) -> Self {
        self.response = Some(shape);
        self
    }

    /// Answers failures of `key` — a [`GrantErrorKind`], or a [`GrantCause`] which takes
    /// precedence — as `failure`.
    pub fn on(mut self, key: impl Into<FailureKey>, failure: Failure) -> Self {
        self.errors.insert(key.into(), failure);
        self
    }

    /// Renders this endpoint's errors in `format` instead of the router's.
    pub fn error_format(mut self, format: ErrorFormat) -> Self {
        self.error_format = Some(format);
        self
    }

    /// A setup mistake of this endpoint at `route`, if any: configuration it would ignore, or an
    /// answer that would lose the client its session.
    pub(super) fn mistake(&self, route: TokenRoute, rotates: bool) -> Option<String> {
        let grants = matches!(
            route,
            TokenRoute::Login | TokenRoute::Token | TokenRoute::Refresh
        );
        let shape = self.response.clone().unwrap_or_default();
        if !grants && self.response.is_some() {
            return Some(format!(
                "{route:?} answers no tokens: it has no response to shape"
            ));
        }
        if matches!(
            route,
            TokenRoute::Logout | TokenRoute::Verify | TokenRoute::Authorize
        ) && !self.request.is_empty()
        {
            return Some(format!(
                "{route:?} reads no body: it has no request fields to rename"
            ));
        }
        if route == TokenRoute::Verify && (!self.errors.is_empty() || self.error_format.is_some()) {
            return Some("Verify's errors are the auth layer's: shape them there".to_owned());
        }
        if grants && !shape.shows(TokenField::AccessToken) {
            return Some(format!("{route:?}'s answer must show the access token"));
        }
        if rotates
            && matches!(route, TokenRoute::Token | TokenRoute::Refresh)
            && !shape.shows(TokenField::RefreshToken)
        {
            return Some(format!(
                "{route:?}'s answer must show the refresh token: every refresh rotates it \
                 (RefreshPolicy::Rotate), and a client that never sees the new one is logged out \
                 at its next refresh; use RefreshPolicy::Reuse for answers without one"
            ));
        }
        None
    }

    /// The name `field` is read under.
    pub(super) fn field_name(&self, field: RequestField) -> &str {
        self.request
            .get(&field)
            .map_or(field.name(), String::as_str)
    }

    /// Whether `field` was given another name.
    pub(super) fn renamed(&self, field: RequestField) -> bool {
        self.request.contains_key(&field)
    }

    /// The configured answer for a failure of `kind` and `cause`, the cause's first.
    pub(super) fn failure(
        &self,
        kind: GrantErrorKind,
        cause: Option<GrantCause>,
    ) -> Option<&Failure> {
        cause
            .and_then(|cause| self.errors.get(&FailureKey::Cause(cause)))
            .or_else(|| self.errors.get(&FailureKey::Kind(kind)))
    }
}

/// The token endpoints' configuration, as a file says it: one optional table per
/// [`TokenRoute`], each an [`Endpoint`]. Give it to
/// [`TokenEndpoints::configure`](super::TokenEndpoints::configure).
///
/// ```
/// use tower_api_auth::endpoints::TokenEndpointsConfig;
///
/// let config: TokenEndpointsConfig = toml::from_str(r#"
///     [login]
///     path = "/auth/login/"
///     request = { username = "email" }
///     response.fields = { access_token = "access", refresh_token = "refresh", user = "user" }
///
///     [refresh]
///     path = "/auth/token/refresh/"
///     request = { refresh_token = "refresh" }
///     response.fields = { access_token = "access" }
///     errors.invalid_refresh_token = { status = 401, code = "token_not_valid" }
///
///     [token]
///     enabled = false
/// "#).unwrap();
/// # let _ = config;
/// ```
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TokenEndpointsConfig {
    /// The largest accepted request body in bytes (default 16 KiB); see
    /// [`TokenEndpoints::body_limit`](super::TokenEndpoints::body_limit).
    pub body_limit: Option<usize>,
    /// The longest a request body may take to arrive, in seconds (default 10); see
    /// [`TokenEndpoints::body_timeout`](super::TokenEndpoints::body_timeout). Zero, which would
    /// refuse every body, is refused when the file is read.
    pub body_timeout_secs: Option<std::num::NonZeroU64>,
    /// The error format of every endpoint without one of its own (default: the auth layer's,
    /// except the OAuth token endpoint's, RFC 6749 §5.2).
    pub error_format: Option<ErrorFormat>,
    /// `POST /auth/login`.
    pub login: Option<Endpoint>,
    /// `POST /auth/token`.
    pub token: Option<Endpoint>,
    /// `POST /auth/refresh`.
    pub refresh: Option<Endpoint>,
    /// `POST /auth/logout`.
    pub logout: Option<Endpoint>,
    /// `POST /auth/revoke`.
    pub revoke: Option<Endpoint>,
    /// `GET /auth/verify`.
    pub verify: Option<Endpoint>,
    /// `GET /oauth/authorize`.
    pub authorize: Option<Endpoint>,
    /// `POST /oauth/introspect`.
    pub introspect: Option<Endpoint>,
    /// Whether the OAuth token endpoint offers the password grant (default `false`: OAuth 2.1
    /// removes it; `/auth/login` takes passwords either way).
    pub password_grant: Option<bool>,
}
