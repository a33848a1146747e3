//! The crate's HTTP routers (feature `axum`), for an app to mount: the token endpoints of the
//! [issuer](crate::issuer) (feature `issuer`) and the API-key admin API. They sit above the
//! layer and the issuer and use only their public API; the modules below them need no axum.
//!
//! - [`TokenEndpoints`]: login, the OAuth 2.0 token endpoint, refresh, logout, RFC 7009
//!   revocation and verify, over a [`TokenService`](crate::issuer::TokenService).
//! - [`ProtectedResource`]: the resource's RFC 9728 metadata document.
//! - [`KeyAdmin`]: create, list, show, update, roll and revoke API keys over a
//!   [`KeyManager`](crate::api_key::KeyManager), behind the app's own auth and scope.

mod bounded_body;
mod key_admin;
mod protected_resource;
#[cfg(feature = "issuer")]
mod token;

pub use key_admin::{DEFAULT_ROLL_GRACE, KeyAdmin};
pub use protected_resource::ProtectedResource;
#[cfg(feature = "issuer")]
pub use token::{
    Consent, ConsentDecision, DEFAULT_BODY_LIMIT, DEFAULT_BODY_TIMEOUT, Endpoint, Failure,
    FailureKey, PasswordConsent, RequestField, ResponseShape, TokenEndpoints, TokenEndpointsConfig,
    TokenField, TokenRoute,
};
