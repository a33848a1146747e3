//! [`TokenResponse`]: a successful grant, as RFC 6749 §5.1 shapes it.

use std::fmt;

use serde::Serialize;

/// A successful grant, as RFC 6749 §5.1 shapes it. `Debug` hides the tokens.
#[derive(Clone, Serialize)]
#[non_exhaustive]
pub struct TokenResponse {
    /// The access token.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// The refresh token (none for client credentials, RFC 6749 §4.4.3).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// The granted scopes, space-delimited.
    pub scope: String,
    /// The session the tokens belong to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// When the access token expires (unix seconds): never later than what it was issued for (its
    /// session, the API key it was exchanged for). The token endpoints can show it as RFC 3339.
    #[serde(skip)]
    pub expires_at: u64,
    /// What the login showed of the user ([`Account::with_user`](crate::issuer::Account::with_user)),
    /// in the answer of a login only.
    #[serde(skip)]
    pub user: Option<serde_json::Value>,
    /// The access token's `jti`.
    #[serde(skip)]
    pub(crate) token_id: String,
}

impl fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenResponse")
            .field("access_token", &"<redacted>")
            .field("expires_in", &self.expires_in)
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "<redacted>"),
            )
            .field("scope", &self.scope)
            .field("session_id", &self.session_id)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}
