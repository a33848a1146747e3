//! The one error type of the crate and the responses it becomes.
//!
//! Every failure has a stable snake_case [`code`](AuthError::code), an HTTP
//! [`status`](AuthError::status) and an RFC 6750 `WWW-Authenticate` challenge. How the body looks is
//! the job of an [`ErrorRenderer`]; the built-in [`ErrorFormat`]s cover the common API styles.
//!
//! ```
//! use tower_api_auth::{AuthError, AuthErrorKind};
//!
//! let error = AuthError::new(AuthErrorKind::TokenExpired);
//! assert_eq!(error.code(), "token_expired");
//! assert_eq!(error.status(), http::StatusCode::UNAUTHORIZED);
//! assert_eq!(
//!     error.challenge().unwrap().to_str().unwrap(),
//!     r#"Bearer error="invalid_token", error_description="The access token has expired""#
//! );
//! ```

pub(crate) mod render;

pub use render::{ErrorFormat, ErrorRenderer};

use std::borrow::Cow;
use std::fmt;

use http::{HeaderValue, StatusCode};
use serde_json::{Map, Value};

/// What went wrong, as a closed set of stable codes.
///
/// The enum is `non_exhaustive`: new failures may be added in minor releases.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AuthErrorKind {
    /// No credential was presented (401, challenge without `error`).
    MissingCredentials,
    /// The request is malformed: duplicate or unparsable credentials, bad tenant id (400).
    InvalidRequest,
    /// The token is malformed, its signature or claims do not verify (401).
    InvalidToken,
    /// The token's `exp` has passed (401).
    TokenExpired,
    /// The token's `nbf` (or `iat`) lies in the future (401).
    TokenNotYetValid,
    /// The token was revoked (401).
    TokenRevoked,
    /// The API key is malformed, unknown or its secret does not match (401).
    InvalidApiKey,
    /// The API key has expired (401).
    ApiKeyExpired,
    /// The API key was revoked or disabled (401).
    ApiKeyRevoked,
    /// An API key was presented to a layer that accepts none (401): the key may well be valid
    /// elsewhere, so the client is not told it is invalid.
    ApiKeysNotAccepted,
    /// A credential bound to several tenants (or, under
    /// [`TenantHeader::Always`](crate::tenant::TenantHeader::Always), to any) came without the
    /// tenant header that picks one (400).
    TenantRequired,
    /// The credential does not grant access to the requested tenant (403).
    TenantForbidden,
    /// The credential lacks a scope the route requires (403).
    InsufficientScope,
    /// The credential is valid but of a kind this endpoint does not accept (403).
    CredentialNotAccepted,
    /// A key or token provider could not answer (503).
    AuthUnavailable,
    /// The caller has used up a rate limit (429, with `Retry-After`).
    RateLimitExceeded,
    /// The shared rate-limit backend could not answer and the configuration says to refuse (503).
    RateLimitUnavailable,
    /// The service is misconfigured, e.g. a key that cannot sign, or typed claims asked of a
    /// hand-built identity that carries none (500).
    Misconfigured,
    /// A failure defined outside the core, made with [`AuthError::custom`]: its code, status and
    /// default message are the error's own (read them on the [`AuthError`], not on this kind).
    Custom,
}

impl AuthErrorKind {
    /// The stable machine-readable code, e.g. `"token_expired"`.
    pub const fn code(self) -> &'static str {
        match self {
            Self::MissingCredentials => "missing_credentials",
            Self::InvalidRequest => "invalid_request",
            Self::InvalidToken => "invalid_token",
            Self::TokenExpired => "token_expired",
            Self::TokenNotYetValid => "token_not_yet_valid",
            Self::TokenRevoked => "token_revoked",
            Self::InvalidApiKey => "invalid_api_key",
            Self::ApiKeyExpired => "api_key_expired",
            Self::ApiKeyRevoked => "api_key_revoked",
            Self::ApiKeysNotAccepted => "api_key_not_accepted",
            Self::TenantRequired => "tenant_required",
            Self::TenantForbidden => "tenant_forbidden",
            Self::InsufficientScope => "insufficient_scope",
            Self::CredentialNotAccepted => "credential_not_accepted",
            Self::AuthUnavailable => "auth_unavailable",
            Self::RateLimitExceeded => "rate_limit_exceeded",
            Self::RateLimitUnavailable => "rate_limit_unavailable",
            Self::Misconfigured => "misconfigured",
            Self::Custom => "custom",
        }
    }

    /// The HTTP status this failure is answered with.
    pub const fn status(self) -> StatusCode {
        match self {
            Self::InvalidRequest | Self::TenantRequired => StatusCode::BAD_REQUEST,
            Self::MissingCredentials
            | Self::InvalidToken
            | Self::TokenExpired
            | Self::TokenNotYetValid
            | Self::TokenRevoked
            | Self::InvalidApiKey
            | Self::ApiKeyExpired
            | Self::ApiKeyRevoked
            | Self::ApiKeysNotAccepted => StatusCode::UNAUTHORIZED,
            Self::TenantForbidden | Self::InsufficientScope | Self::CredentialNotAccepted => {
                StatusCode::FORBIDDEN
            }
            Self::AuthUnavailable | Self::RateLimitUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::RateLimitExceeded => StatusCode::TOO_MANY_REQUESTS,
            Self::Misconfigured | Self::Custom => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A default human-readable message. It never contains request data.
    pub const fn default_message(self) -> &'static str {
        match self {
            Self::MissingCredentials => "Authentication is required",
            Self::InvalidRequest => "The request's credentials are malformed",
            Self::InvalidToken => "The access token is invalid",
            Self::TokenExpired => "The access token has expired",
            Self::TokenNotYetValid => "The access token is not valid yet",
            Self::TokenRevoked => "The access token has been revoked",
            Self::InvalidApiKey => "The API key is invalid",
            Self::ApiKeyExpired => "The API key has expired",
            Self::ApiKeyRevoked => "The API key has been revoked",
            Self::ApiKeysNotAccepted => "This service does not accept API keys",
            Self::TenantRequired => "The X-Tenant-ID header is required with this credential",
            Self::TenantForbidden => "The credential does not grant access to this tenant",
            Self::InsufficientScope => "The credential lacks a required scope",
            Self::CredentialNotAccepted => "This endpoint does not accept this kind of credential",
            Self::AuthUnavailable => "Authentication is temporarily unavailable",
            Self::RateLimitExceeded => "Too many requests: the rate limit is exceeded",
            Self::RateLimitUnavailable => "The rate limiter is temporarily unavailable",
            Self::Misconfigured => "The server's authentication is misconfigured",
            Self::Custom => "The request was refused",
        }
    }

    /// The RFC 6750 §3.1 `error` value of the challenge, if the failure has one.
    ///
    /// Missing credentials carry none (RFC 6750 §3.1: "SHOULD NOT include an error code"), and neither
    /// do server-side failures, which are no fault of the credential.
    const fn oauth_error(self) -> Option<&'static str> {
        match self {
            Self::MissingCredentials | Self::AuthUnavailable | Self::Misconfigured => None,
            // Not the credential's fault: a valid one was used too often.
            Self::RateLimitExceeded | Self::RateLimitUnavailable => None,
            Self::Custom => None,
            Self::InvalidRequest | Self::TenantRequired => Some("invalid_request"),
            Self::TenantForbidden | Self::InsufficientScope | Self::CredentialNotAccepted => {
                Some("insufficient_scope")
            }
            _ => Some("invalid_token"),
        }
    }
}

impl fmt::Display for AuthErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// An authentication or authorization failure.
///
/// Opaque on purpose: read it through [`kind`](Self::kind), [`code`](Self::code),
/// [`status`](Self::status), [`message`](Self::message) and [`details`](Self::details). Rejection
/// responses carry a clone in their extensions, so outer layers can log or count failures.
///
/// ```
/// use tower_api_auth::{AuthError, AuthErrorKind};
///
/// let error = AuthError::new(AuthErrorKind::InsufficientScope).with_required_scopes("conversations:write");
/// assert_eq!(error.status(), 403);
/// assert_eq!(error.details()["required_scopes"], "conversations:write");
/// ```
#[derive(Clone)]
pub struct AuthError(Box<Inner>);

#[derive(Clone)]
struct Inner {
    kind: AuthErrorKind,
    /// The code, status and default message of a [`AuthErrorKind::Custom`] failure.
    custom: Option<Custom>,
    message: Cow<'static, str>,
    details: Map<String, Value>,
    required_scopes: Option<String>,
    realm: Option<String>,
    /// The RFC 9728 `resource_metadata` URL of a `Bearer` challenge.
    resource_metadata: Option<std::sync::Arc<str>>,
    /// The challenge's scheme when it is not `Bearer`.
    scheme: Option<&'static str>,
}

#[derive(Clone, Copy)]
struct Custom {
    code: &'static str,
    status: StatusCode,
    default_message: &'static str,
}

impl AuthError {
    /// A failure of `kind` with its default message.
    pub fn new(kind: AuthErrorKind) -> Self {
        Self(Box::new(Inner {
            kind,
            custom: None,
            message: Cow::Borrowed(kind.default_message()),
            details: Map::new(),
            required_scopes: None,
            realm: None,
            resource_metadata: None,
            scheme: None,
        }))
    }

    /// A failure defined outside the core (kind [`AuthErrorKind::Custom`]), e.g. the token
    /// endpoints' `invalid_grant`: its stable `code`, its `status`, and the default message that is
    /// its message until [`with_message`](Self::with_message) and the `title` of a problem body.
    /// Every [`ErrorRenderer`] renders it like a built-in failure. It has no `WWW-Authenticate`
    /// challenge unless [`with_challenge`](Self::with_challenge) asks for one.
    ///
    /// ```
    /// use http::StatusCode;
    /// use tower_api_auth::{AuthError, AuthErrorKind};
    ///
    /// let error = AuthError::custom("quota_exceeded", StatusCode::TOO_MANY_REQUESTS, "The quota is used up");
    /// assert_eq!(error.kind(), AuthErrorKind::Custom);
    /// assert_eq!((error.code(), error.status(), error.message()), ("quota_exceeded", StatusCode::TOO_MANY_REQUESTS, "The quota is used up"));
    /// assert!(error.challenge().is_none());
    /// ```
    pub fn custom(code: &'static str, status: StatusCode, default_message: &'static str) -> Self {
        let mut error = Self::new(AuthErrorKind::Custom);
        error.0.custom = Some(Custom {
            code,
            status,
            default_message,
        });
        error.0.message = Cow::Borrowed(default_message);
        error
    }

    /// Challenges with `scheme` instead of `Bearer` (e.g. `Basic` for a failed client
    /// authentication, RFC 6749 §5.2). A [custom](Self::custom) failure is then challenged too, with
    /// the scheme and the realm alone.
    ///
    /// ```
    /// use http::StatusCode;
    /// use tower_api_auth::AuthError;
    ///
    /// let error = AuthError::custom("invalid_client", StatusCode::UNAUTHORIZED, "Client authentication failed")
    ///     .with_challenge("Basic")
    ///     .with_realm("token");
    /// assert_eq!(error.challenge().unwrap(), r#"Basic realm="token""#);
    /// ```
    pub fn with_challenge(mut self, scheme: &'static str) -> Self {
        self.0.scheme = Some(scheme);
        self
    }

    /// Replaces the message. Messages are shown to clients: never put request data or secrets in one.
    pub fn with_message(mut self, message: impl Into<Cow<'static, str>>) -> Self {
        self.0.message = message.into();
        self
    }

    /// Adds a `details` entry to the error body.
    pub fn with_detail(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.0.details.insert(key.into(), value.into());
        self
    }

    /// Sets the space-delimited scopes the route requires; shown as the challenge's `scope` parameter.
    pub fn with_required_scopes(mut self, scopes: impl Into<String>) -> Self {
        let scopes = scopes.into();
        self.0
            .details
            .insert("required_scopes".into(), Value::String(scopes.clone()));
        self.0.required_scopes = Some(scopes);
        self
    }

    /// Sets the `realm` parameter of the challenge.
    pub fn with_realm(mut self, realm: impl Into<String>) -> Self {
        self.0.realm = Some(realm.into());
        self
    }

    /// Sets the `resource_metadata` parameter of a `Bearer` challenge (RFC 9728 §5.1): the URL of
    /// the protected resource's metadata, where a client told 401 finds the authorization servers
    /// it may get a token from.
    ///
    /// ```
    /// use tower_api_auth::{AuthError, AuthErrorKind};
    ///
    /// let error = AuthError::new(AuthErrorKind::MissingCredentials)
    ///     .with_resource_metadata("https://api.example.com/.well-known/oauth-protected-resource");
    /// assert_eq!(
    ///     error.challenge().unwrap(),
    ///     r#"Bearer resource_metadata="https://api.example.com/.well-known/oauth-protected-resource""#
    /// );
    /// ```
    pub fn with_resource_metadata(mut self, url: impl Into<std::sync::Arc<str>>) -> Self {
        self.0.resource_metadata = Some(url.into());
        self
    }

    /// What went wrong.
    pub fn kind(&self) -> AuthErrorKind {
        self.0.kind
    }

    /// The stable machine-readable code, e.g. `"token_expired"`.
    pub fn code(&self) -> &'static str {
        match &self.0.custom {
            Some(custom) => custom.code,
            None => self.0.kind.code(),
        }
    }

    /// The HTTP status of the rejection.
    pub fn status(&self) -> StatusCode {
        match &self.0.custom {
            Some(custom) => custom.status,
            None => self.0.kind.status(),
        }
    }

    /// The default message of this failure, whatever [`with_message`](Self::with_message) set: the
    /// `title` of a problem body.
    pub fn default_message(&self) -> &'static str {
        match &self.0.custom {
            Some(custom) => custom.default_message,
            None => self.0.kind.default_message(),
        }
    }

    /// The client-facing message.
    pub fn message(&self) -> &str {
        &self.0.message
    }

    /// Structured details, e.g. `expired_at` for an expired token. Empty for most errors.
    pub fn details(&self) -> &Map<String, Value> {
        &self.0.details
    }

    /// The RFC 6750 `WWW-Authenticate` challenge: for 401 and 403 answers, and for the 400s of a
    /// malformed credential request (`error="invalid_request"`, RFC 6750 §3.1). `None` for server
    /// failures, and for [custom](Self::custom) failures unless they ask for one with
    /// [`with_challenge`](Self::with_challenge).
    pub fn challenge(&self) -> Option<HeaderValue> {
        let challenged = match (self.0.kind, self.status()) {
            // A failure defined elsewhere is challenged only when it asks to be.
            (AuthErrorKind::Custom, _) => self.0.scheme.is_some(),
            (_, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) => true,
            (AuthErrorKind::InvalidRequest | AuthErrorKind::TenantRequired, _) => true,
            _ => false,
        };
        if !challenged {
            return None;
        }
        let scheme = self.0.scheme.unwrap_or("Bearer");
        let mut params: Vec<(&str, &str)> = Vec::with_capacity(5);
        if let Some(realm) = &self.0.realm {
            params.push(("realm", realm));
        }
        if let Some(error) = self.0.kind.oauth_error() {
            params.push(("error", error));
            params.push(("error_description", &self.0.message));
        }
        if let Some(scopes) = &self.0.required_scopes {
            params.push(("scope", scopes));
        }
        if scheme == "Bearer"
            && let Some(url) = &self.0.resource_metadata
        {
            params.push(("resource_metadata", url));
        }
        let mut value = String::from(scheme);
        for (i, (name, raw)) in params.iter().enumerate() {
            value.push_str(if i == 0 { " " } else { ", " });
            value.push_str(name);
            value.push_str("=\"");
            push_quoted(&mut value, raw, *name == "realm");
            value.push('"');
        }
        HeaderValue::try_from(value).ok()
    }
}

/// Writes `raw` as the inside of a quoted-string, dropping anything that is not visible ASCII or a
/// space so that a message can never break the header. RFC 6750 §3 forbids `"` and `\` in
/// `error_description` and `scope` even escaped, so there they are dropped too; a `realm` is an
/// ordinary RFC 9110 quoted-string and gets them escaped.
fn push_quoted(out: &mut String, raw: &str, escape: bool) {
    for c in raw.chars() {
        match c {
            '"' | '\\' if escape => {
                out.push('\\');
                out.push(c);
            }
            '"' | '\\' => {}
            ' ' | '!'..='~' => out.push(c),
            _ => {}
        }
    }
}

impl fmt::Debug for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthError")
            .field("code", &self.code())
            .field("message", &self.message())
            .field("details", &self.0.details)
            .finish()
    }
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code(), self.message())
    }
}

impl std::error::Error for AuthError {}

impl From<AuthErrorKind> for AuthError {
    fn from(kind: AuthErrorKind) -> Self {
        Self::new(kind)
    }
}

pub(crate) use crate::clock::rfc3339;

#[cfg(test)]
mod tests {
    use super::*;

    /// Every kind with its code, status and challenge `error`: the table the README repeats. The
    /// exhaustive match below stops compiling when a kind is added, until it is listed there; add
    /// it to the table too.
    #[test]
    fn every_kind_has_its_code_status_and_challenge() {
        use AuthErrorKind as K;
        let table = [
            (K::MissingCredentials, "missing_credentials", 401, None),
            (
                K::InvalidRequest,
                "invalid_request",
                400,
                Some("invalid_request"),
            ),
            (K::InvalidToken, "invalid_token", 401, Some("invalid_token")),
            (K::TokenExpired, "token_expired", 401, Some("invalid_token")),
            (
                K::TokenNotYetValid,
                "token_not_yet_valid",
                401,
                Some("invalid_token"),
            ),
            (K::TokenRevoked, "token_revoked", 401, Some("invalid_token")),
            (
                K::InvalidApiKey,
                "invalid_api_key",
                401,
                Some("invalid_token"),
            ),
            (
                K::ApiKeyExpired,
                "api_key_expired",
                401,
                Some("invalid_token"),
            ),
            (
                K::ApiKeyRevoked,
                "api_key_revoked",
                401,
                Some("invalid_token"),
            ),
            (
                K::ApiKeysNotAccepted,
                "api_key_not_accepted",
                401,
                Some("invalid_token"),
            ),
            (
                K::TenantRequired,
                "tenant_required",
                400,
                Some("invalid_request"),
            ),
            (
                K::TenantForbidden,
                "tenant_forbidden",
                403,
                Some("insufficient_scope"),
            ),
            (
                K::InsufficientScope,
                "insufficient_scope",
                403,
                Some("insufficient_scope"),
            ),
            (
                K::CredentialNotAccepted,
                "credential_not_accepted",
                403,
                Some("insufficient_scope"),
            ),
            (K::AuthUnavailable, "auth_unavailable", 503, None),
            (K::RateLimitExceeded, "rate_limit_exceeded", 429, None),
            (K::RateLimitUnavailable, "rate_limit_unavailable", 503, None),
            (K::Misconfigured, "misconfigured", 500, None),
            (K::Custom, "custom", 500, None),
        ];
        for (kind, code, status, oauth) in table {
            match kind {
                K::MissingCredentials
                | K::InvalidRequest
                | K::InvalidToken
                | K::TokenExpired
                | K::TokenNotYetValid
                | K::TokenRevoked
                | K::InvalidApiKey
                | K::ApiKeyExpired
                | K::ApiKeyRevoked
                | K::ApiKeysNotAccepted
                | K::TenantRequired
                | K::TenantForbidden
                | K::InsufficientScope
                | K::CredentialNotAccepted
                | K::AuthUnavailable
                | K::RateLimitExceeded
                | K::RateLimitUnavailable
                | K::Misconfigured
                | K::Custom => {}
            }
            assert_eq!(kind.code(), code);
            assert_eq!(kind.status().as_u16(), status, "{code}");
            assert_eq!(kind.oauth_error(), oauth, "{code}");
        }
        assert_eq!(table.len(), 19);
        let codes: std::collections::HashSet<_> = table.iter().map(|row| row.1).collect();
        assert_eq!(codes.len(), table.len(), "codes are unique");
    }

    #[test]
    fn rfc3339_formats_known_instants() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_795_336_200), "2026-11-22T08:30:00Z");
    }

    #[test]
    fn challenge_escapes_quotes_and_drops_control_characters() {
        let error = AuthError::new(AuthErrorKind::InvalidToken)
            .with_message("bad \"x\" \\ \n end")
            .with_realm("my \"realm\"");
        assert_eq!(
            error.challenge().unwrap(),
            r#"Bearer realm="my \"realm\"", error="invalid_token", error_description="bad x   end""#
        );
    }

    #[test]
    fn missing_credentials_challenge_has_no_error_parameter() {
        let error = AuthError::new(AuthErrorKind::MissingCredentials).with_realm("api");
        assert_eq!(error.challenge().unwrap(), r#"Bearer realm="api""#);
    }

    #[test]
    fn server_failures_have_no_challenge() {
        assert!(
            AuthError::new(AuthErrorKind::AuthUnavailable)
                .challenge()
                .is_none()
        );
        assert!(
            AuthError::custom(
                "invalid_grant",
                StatusCode::BAD_REQUEST,
                "The grant is invalid"
            )
            .challenge()
            .is_none()
        );
        assert_eq!(
            AuthError::new(AuthErrorKind::TenantRequired)
                .challenge()
                .unwrap(),
            r#"Bearer error="invalid_request", error_description="The X-Tenant-ID header is required with this credential""#
        );
    }
}
