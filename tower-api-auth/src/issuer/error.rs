//! [`GrantError`]: how the token service fails, with RFC 6749 §5.2 codes. It becomes an
//! [`AuthError`] only at the HTTP boundary, so the app's error format renders it like any other.

use std::borrow::Cow;
use std::fmt;

use http::StatusCode;
use serde::Deserialize;

use crate::error::{AuthError, AuthErrorKind};
use crate::store::StoreError;

/// What went wrong at the token service, as a closed set of stable codes.
///
/// The enum is `non_exhaustive`: new failures may be added in minor releases.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum GrantErrorKind {
    /// The request is malformed: a missing parameter, an unreadable body (400 `invalid_request`).
    InvalidRequest,
    /// The grant — password, refresh token, API key — is invalid, expired, revoked or was already
    /// used (400 `invalid_grant`).
    InvalidGrant,
    /// Client authentication failed (401 `invalid_client`, challenged with `Basic`).
    InvalidClient,
    /// The requested scope is malformed or exceeds what the grant allows (400 `invalid_scope`).
    InvalidScope,
    /// The `grant_type` is unknown or not enabled (400 `unsupported_grant_type`).
    UnsupportedGrantType,
    /// The request body is larger than the endpoint accepts (413 `request_too_large`).
    RequestTooLarge,
    /// The request body did not arrive in time: the client stopped sending it, or sent it too
    /// slowly (408 `request_timeout`).
    RequestTimeout,
    /// A store (users, refresh tokens, API keys, clients) could not answer (503
    /// `auth_unavailable`): nothing was spent or ended, the client may retry.
    #[serde(rename = "auth_unavailable")]
    Unavailable,
    /// The service is misconfigured, e.g. its key cannot sign (500 `misconfigured`).
    Misconfigured,
}

impl GrantErrorKind {
    /// The stable machine-readable code, e.g. `"invalid_grant"`.
    pub const fn code(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidGrant => "invalid_grant",
            Self::InvalidClient => "invalid_client",
            Self::InvalidScope => "invalid_scope",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::RequestTooLarge => "request_too_large",
            Self::RequestTimeout => "request_timeout",
            Self::Unavailable => "auth_unavailable",
            Self::Misconfigured => "misconfigured",
        }
    }

    /// The HTTP status this failure is answered with.
    pub const fn status(self) -> StatusCode {
        match self {
            Self::InvalidRequest
            | Self::InvalidGrant
            | Self::InvalidScope
            | Self::UnsupportedGrantType => StatusCode::BAD_REQUEST,
            Self::InvalidClient => StatusCode::UNAUTHORIZED,
            Self::RequestTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::Misconfigured => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A default human-readable message. It never contains request data.
    pub const fn default_message(self) -> &'static str {
        match self {
            Self::InvalidRequest => "The request is malformed",
            Self::InvalidGrant => "The grant is invalid, expired or revoked",
            Self::InvalidClient => "Client authentication failed",
            Self::InvalidScope => "The requested scope exceeds the granted scope",
            Self::UnsupportedGrantType => "The grant type is not supported",
            Self::RequestTooLarge => "The request body is too large",
            Self::RequestTimeout => "The request body was not received in time",
            Self::Unavailable => AuthErrorKind::AuthUnavailable.default_message(),
            Self::Misconfigured => AuthErrorKind::Misconfigured.default_message(),
        }
    }
}

impl fmt::Display for GrantErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// Why a grant failed, finer than its [`GrantErrorKind`] (all of these are `invalid_grant`): what
/// an app answering a wrong password with `401 invalid_credentials` tells apart from a refresh
/// token that is spent. The token endpoints' failures can be shaped per cause.
///
/// The enum is `non_exhaustive`: new causes may be added in minor releases.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum GrantCause {
    /// The username or password is wrong (or the user is unknown: the two are not told apart).
    WrongPassword,
    /// The API key is invalid, expired, disabled or revoked.
    InvalidApiKey,
    /// The refresh token is malformed, unknown, spent, expired or its session ended.
    InvalidRefreshToken,
    /// The account or key does not hold the tenant asked for.
    TenantNotGranted,
    /// An authorization code that is unknown, expired, another client's or bound to another
    /// redirect URI.
    InvalidAuthorizationCode,
    /// An authorization code presented a second time: what its first redemption issued is
    /// revoked.
    AuthorizationCodeReplayed,
    /// A PKCE `code_verifier` that does not match the code's challenge.
    WrongCodeVerifier,
    /// A refresh token presented by a client it was not issued to, or without the client
    /// authentication its session requires.
    RefreshTokenOfAnotherClient,
}

impl GrantCause {
    /// The stable machine-readable name, e.g. `"wrong_password"`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::WrongPassword => "wrong_password",
            Self::InvalidApiKey => "invalid_api_key",
            Self::InvalidRefreshToken => "invalid_refresh_token",
            Self::TenantNotGranted => "tenant_not_granted",
            Self::InvalidAuthorizationCode => "invalid_authorization_code",
            Self::AuthorizationCodeReplayed => "authorization_code_replayed",
            Self::WrongCodeVerifier => "wrong_code_verifier",
            Self::RefreshTokenOfAnotherClient => "refresh_token_of_another_client",
        }
    }
}

/// A token-service failure: a [`GrantErrorKind`] and a client-facing message.
///
/// `AuthError::from` turns it into the core's error (the token endpoints do so), which every
/// [`ErrorFormat`](crate::error::ErrorFormat) renders with the same code, status and message.
///
/// ```
/// use tower_api_auth::AuthError;
/// use tower_api_auth::issuer::{GrantError, GrantErrorKind};
///
/// let error = GrantError::new(GrantErrorKind::InvalidGrant).with_message("The refresh token is invalid");
/// assert_eq!((error.code(), error.status().as_u16()), ("invalid_grant", 400));
/// let error = AuthError::from(error);
/// assert_eq!((error.code(), error.message()), ("invalid_grant", "The refresh token is invalid"));
/// assert!(error.challenge().is_none(), "a grant error is no challenge to authenticate");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct GrantError {
    kind: GrantErrorKind,
    cause: Option<GrantCause>,
    message: Cow<'static, str>,
}

impl GrantError {
    /// A failure of `kind` with its default message.
    pub fn new(kind: GrantErrorKind) -> Self {
        Self {
            kind,
            cause: None,
            message: Cow::Borrowed(kind.default_message()),
        }
    }

    /// Says why, finer than the kind.
    #[must_use]
    pub fn with_cause(mut self, cause: GrantCause) -> Self {
        self.cause = Some(cause);
        self
    }

    /// Why, finer than the kind, when the service knows.
    pub fn cause(&self) -> Option<GrantCause> {
        self.cause
    }

    /// Replaces the message. Messages are shown to clients: never put request data or secrets in one.
    #[must_use]
    pub fn with_message(mut self, message: impl Into<Cow<'static, str>>) -> Self {
        self.message = message.into();
        self
    }

    /// What went wrong.
    pub fn kind(&self) -> GrantErrorKind {
        self.kind
    }

    /// The stable machine-readable code, e.g. `"invalid_grant"`.
    pub fn code(&self) -> &'static str {
        self.kind.code()
    }

    /// The HTTP status of the rejection.
    pub fn status(&self) -> StatusCode {
        self.kind.status()
    }

    /// The client-facing message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// A store that could not answer; its error goes to the logs only.
    pub(crate) fn unavailable(error: &StoreError) -> Self {
        tracing::debug!(error = %error, "token store failed");
        Self::new(GrantErrorKind::Unavailable)
    }
}

/// Shorthand for a failure with a message.
pub(crate) fn grant_error(kind: GrantErrorKind, message: &'static str) -> GrantError {
    GrantError::new(kind).with_message(message)
}

impl fmt::Debug for GrantError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GrantError")
            .field("code", &self.code())
            .field("cause", &self.cause)
            .field("message", &self.message())
            .finish()
    }
}

impl fmt::Display for GrantError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code(), self.message())
    }
}

impl std::error::Error for GrantError {}

impl From<GrantErrorKind> for GrantError {
    fn from(kind: GrantErrorKind) -> Self {
        Self::new(kind)
    }
}

impl From<GrantError> for AuthError {
    /// The core's kinds where the core has them (`invalid_request`, `auth_unavailable`,
    /// `misconfigured`), [`AuthError::custom`] for the token endpoints' own; `invalid_client` is
    /// challenged with `Basic` (RFC 6749 §5.2).
    fn from(error: GrantError) -> Self {
        let kind = error.kind;
        let core = match kind {
            GrantErrorKind::InvalidRequest => AuthError::new(AuthErrorKind::InvalidRequest),
            GrantErrorKind::Unavailable => AuthError::new(AuthErrorKind::AuthUnavailable),
            GrantErrorKind::Misconfigured => AuthError::new(AuthErrorKind::Misconfigured),
            GrantErrorKind::InvalidClient => {
                AuthError::custom(kind.code(), kind.status(), kind.default_message())
                    .with_challenge("Basic")
            }
            _ => AuthError::custom(kind.code(), kind.status(), kind.default_message()),
        };
        core.with_message(error.message)
    }
}
