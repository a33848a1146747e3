//! The token lifecycle (feature `issuer`): access tokens, rotating refresh tokens, logout and
//! revocation, and the grants that start it all.
//!
//! * [`TokenIssuer`] signs RFC 9068 access tokens with a [`SigningKey`], or with the rotating,
//!   published keys of a `SigningKeys` ring (feature `aws-lc-rs`) shared by a fleet through a
//!   [`SigningKeyStore`](crate::store::SigningKeyStore); its
//!   [`validator`](TokenIssuer::validator) accepts them with no glue code, and
//!   [`jwks_json`](TokenIssuer::jwks_json) is the JWK set for other services.
//! * Refresh tokens are opaque (`rt_<generation>_<256-bit secret>_<256-bit session key>`), stored only as
//!   hashes in a [`RefreshStore`](crate::store::RefreshStore), and single use: each refresh rotates the token and returns a new
//!   pair. The tokens of one login form a session, of which the store keeps one record holding
//!   only the current token's hash, so a session costs the same memory however often it is
//!   refreshed. Presenting any other token of a live session ends the whole session (reuse
//!   detection), except the one just replaced within an optional
//!   [reuse interval](TokenService::reuse_interval). A session has an absolute lifetime (30 days
//!   by default) that rotation never extends, and an [idle timeout](TokenService::idle_timeout)
//!   (15 days by default); a subject has at most
//!   [100 live sessions](TokenService::max_sessions_per_subject) by default, a login beyond them
//!   ending its oldest.
//! * [`TokenService`] offers the grants — password (through your [`PasswordVerifier`]), API-key
//!   exchange, refresh, client credentials (through a [`ClientStore`](crate::store::ClientStore)) — plus logout and RFC 7009
//!   revocation. Ending a session refuses its access tokens at once through the auth layer's
//!   revocation check. Its failures are [`GrantError`]s.
//! * With the `axum` feature, [`TokenEndpoints`](crate::endpoints::TokenEndpoints) serves it all
//!   over HTTP.
//!
//! The app's stores — [`PasswordVerifier`], [`RefreshStore`](crate::store::RefreshStore), [`ClientStore`](crate::store::ClientStore) — are implemented
//! with `async fn`, and every type they return has a public constructor.
//!
//! This module is built only on the crate's public API, as a third-party crate could be.

mod accounts;
mod authorize;
mod clients;
mod code_grant;
mod dyn_stores;
mod error;
mod grants;
mod introspect;
mod keys;
mod login;
mod memory;
mod memory_codes;
mod pkce;
mod response;
mod reuse;
mod service;
mod sessions;
mod signing;
mod token;

pub use accounts::{Account, PasswordVerifier};
pub use authorize::{AuthorizationParams, AuthorizationRequest, AuthorizeError};
pub use clients::ClientCredentials;
pub use error::{GrantCause, GrantError, GrantErrorKind};
#[cfg(feature = "aws-lc-rs")]
pub use keys::{
    DEFAULT_LEEWAY, DEFAULT_PUBLISH_AHEAD, DEFAULT_RELOAD_EVERY, DEFAULT_ROTATE_EVERY,
    PublishedKey, SigningKeys, SigningKeysBuilder,
};
pub use keys::{KeysError, MemorySigningKeyStore};
pub use login::Login;
pub use memory::{MemoryClientStore, MemoryRefreshStore};
pub use memory_codes::{DEFAULT_MAX_PENDING_CODES, MemoryCodeStore};
pub use response::TokenResponse;
pub use service::{
    DEFAULT_CODE_TTL, DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_SESSIONS_PER_SUBJECT, DEFAULT_SESSION_TTL,
    RefreshPolicy, TokenService,
};
pub use signing::{
    AccessGrant, AccessToken, DEFAULT_ACCESS_TOKEN_TTL, REGISTERED_CLAIMS, SigningKey, TokenIssuer,
};
