//! The token lifecycle (feature `issuer`): access tokens, rotating refresh tokens, logout and
//! revocation, and the grants that start it all.
//!
//! * [`TokenIssuer`] signs RFC 9068 access tokens with a [`SigningKey`]; its
//!   [`validator`](TokenIssuer::validator) accepts them with no glue code.
//! * Refresh tokens are opaque (`rt_` + 256 random bits), stored only as hashes in a
//!   [`RefreshStore`], and single use: each refresh spends the token and returns a new pair. The
//!   tokens of one login form a session; presenting a spent token ends the whole session (reuse
//!   detection). A session has an absolute lifetime (30 days by default) that rotation never
//!   extends, and an optional idle timeout.
//! * [`TokenService`] offers the grants — password (through your [`PasswordVerifier`]), API-key
//!   exchange, refresh, client credentials — plus logout and RFC 7009 revocation. Ending a session
//!   refuses its access tokens at once through the auth layer's revocation check.
//! * With the `axum` feature, [`token_router`] serves it all over HTTP.

#[cfg(feature = "axum")]
mod http;
mod refresh;
mod service;
mod signing;

#[cfg(feature = "axum")]
pub use http::{DEFAULT_BODY_LIMIT, TokenEndpoints, token_router};
pub use refresh::{
    MemoryRefreshStore, RefreshStore, RefreshTokenHash, Rotation, Session, StoreFuture,
};
pub use service::{
    Account, ClientRecord, DEFAULT_SESSION_TTL, MemoryClients, PasswordVerifier, TokenResponse,
    TokenService,
};
pub use signing::{AccessGrant, AccessToken, DEFAULT_ACCESS_TOKEN_TTL, SigningKey, TokenIssuer};
