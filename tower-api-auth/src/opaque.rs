//! Opaque Bearer tokens: those that are neither API keys (of any prefix: a checksum-valid key of
//! another deployment is refused as one, never handed to the validator) nor shaped like a JWT,
//! judged by an
//! [`OpaqueTokenValidator`] that the layer is given with
//! [`AuthLayerBuilder::opaque_tokens`](crate::layer::AuthLayerBuilder::opaque_tokens). The
//! `remote` feature's RFC 7662 `Introspection` is one; a token table of the app's own is another.
//!
//! ```
//! use tower_api_auth::opaque::{OpaqueToken, OpaqueTokenValidator};
//! use tower_api_auth::store::Lookup;
//! use tower_api_auth::{AuthError, AuthErrorKind, AuthLayer};
//!
//! /// Tokens of a legacy system, known by heart.
//! #[derive(Debug)]
//! struct Legacy;
//!
//! impl OpaqueTokenValidator for Legacy {
//!     fn validate(&self, token: &str, _now: u64) -> Lookup<OpaqueToken, AuthError> {
//!         Lookup::Ready(match token {
//!             "legacy-token-of-alice" => Ok(OpaqueToken::new("alice")),
//!             _ => Err(AuthError::new(AuthErrorKind::InvalidToken)),
//!         })
//!     }
//! }
//!
//! let auth = AuthLayer::builder().opaque_tokens(Legacy).build().unwrap();
//! # let _ = auth;
//! ```

use std::fmt;
use std::sync::Arc;

use crate::error::AuthError;
use crate::scope::Scopes;
use crate::store::Lookup;
use crate::tenant::Tenant;

/// What an opaque Bearer token stands for, as its issuer says (RFC 7662 introspection, or a
/// token store). The auth layer applies its tenant rules to `tenants`.
///
/// ```
/// use std::sync::Arc;
/// use tower_api_auth::opaque::OpaqueToken;
/// use tower_api_auth::scope::Scopes;
///
/// let token = OpaqueToken::new("user_42")
///     .with_scopes(Scopes::parse("conversations:read").unwrap())
///     .with_expires_at(1_900_000_000);
/// assert_eq!(&*token.principal, "user_42");
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct OpaqueToken {
    /// Who the caller is (the introspection response's `sub`, else its `client_id`).
    pub principal: Arc<str>,
    /// The granted scopes.
    pub scopes: Scopes,
    /// The tenants the token is good for.
    pub tenants: Vec<Tenant>,
    /// When the token expires (unix seconds).
    pub expires_at: Option<u64>,
    /// The OAuth client the token was issued to.
    pub client_id: Option<Arc<str>>,
    /// The token's identifier (`jti`).
    pub token_id: Option<Arc<str>>,
}

impl OpaqueToken {
    /// A token of `principal`, with no scopes, tenants or expiry.
    pub fn new(principal: impl Into<Arc<str>>) -> Self {
        Self {
            principal: principal.into(),
            scopes: Scopes::empty(),
            tenants: Vec::new(),
            expires_at: None,
            client_id: None,
            token_id: None,
        }
    }

    /// Sets the scopes.
    #[must_use]
    pub fn with_scopes(mut self, scopes: Scopes) -> Self {
        self.scopes = scopes;
        self
    }

    /// Sets the tenants.
    #[must_use]
    pub fn with_tenants(mut self, tenants: impl IntoIterator<Item = Tenant>) -> Self {
        self.tenants = tenants.into_iter().collect();
        self
    }

    /// Sets the expiry (unix seconds).
    #[must_use]
    pub fn with_expires_at(mut self, unix: u64) -> Self {
        self.expires_at = Some(unix);
        self
    }

    /// Sets the OAuth client id.
    #[must_use]
    pub fn with_client_id(mut self, client_id: impl Into<Arc<str>>) -> Self {
        self.client_id = Some(client_id.into());
        self
    }

    /// Sets the token id.
    #[must_use]
    pub fn with_token_id(mut self, token_id: impl Into<Arc<str>>) -> Self {
        self.token_id = Some(token_id.into());
        self
    }
}

/// Judges opaque Bearer tokens: those that are neither API keys nor shaped like a JWT (and, when
/// the layer accepts no JWTs, every Bearer token that is not an API key). The `remote` feature's
/// RFC 7662 `Introspection` is one.
///
/// An issuer that says the token is not (or no longer) good is `Err` with `invalid_token`; one
/// that cannot answer is `Err` with `auth_unavailable` (503), never `invalid_token`.
pub trait OpaqueTokenValidator: Send + Sync + fmt::Debug + 'static {
    /// Judges `token` at `now` (unix seconds).
    fn validate(&self, token: &str, now: u64) -> Lookup<OpaqueToken, AuthError>;
}

impl<V: OpaqueTokenValidator + ?Sized> OpaqueTokenValidator for Arc<V> {
    fn validate(&self, token: &str, now: u64) -> Lookup<OpaqueToken, AuthError> {
        (**self).validate(token, now)
    }
}
