//! The access tokens that logins hand back while they are valid
//! ([`TokenService::reuse_access_tokens`](crate::issuer::TokenService::reuse_access_tokens)).
//!
//! Kept in this process's memory only: a token is a bearer credential, and a store would hold it
//! at rest. The cache is bounded (quick_cache evicts the least useful entry once full), so a
//! flood of logins with distinct session names cannot grow it.

use std::fmt;
use std::sync::Arc;

use quick_cache::sync::Cache;

use crate::issuer::response::TokenResponse;
use crate::store::RevocationCheck;

/// The most tokens kept.
const CAPACITY: usize = 10_000;

/// One login's access token, as it was answered.
#[derive(Clone)]
struct Kept {
    access_token: Arc<str>,
    token_id: Arc<str>,
    session_id: Arc<str>,
    expires_at: u64,
    scope: Arc<str>,
}

pub(crate) struct ReusableTokens {
    tokens: Cache<String, Kept>,
}

impl fmt::Debug for ReusableTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReusableTokens")
            .field("len", &self.tokens.len())
            .finish_non_exhaustive()
    }
}

impl ReusableTokens {
    pub(crate) fn new() -> Self {
        Self {
            tokens: Cache::new(CAPACITY),
        }
    }

    /// The token kept under `key`, if it is still valid at `now`, does not outlive `not_after`
    /// (the credential's expiry as just verified: it may have been brought forward), and neither
    /// it nor its session was revoked; a revocation check that cannot answer counts as revoked (a
    /// fresh login is then tried, which fails or succeeds on its own).
    pub(crate) fn get(
        &self,
        key: &str,
        now: u64,
        not_after: Option<u64>,
        revocations: &dyn RevocationCheck,
    ) -> Option<TokenResponse> {
        let kept = self.tokens.get(key)?;
        let revoked = revocations
            .is_revoked(Some(&kept.session_id), Some(&kept.token_id), now)
            .unwrap_or(true);
        let outlives = not_after.is_some_and(|end| kept.expires_at > end);
        if now >= kept.expires_at || revoked || outlives {
            self.tokens.remove(key);
            return None;
        }
        Some(TokenResponse {
            access_token: kept.access_token.to_string(),
            token_type: "Bearer",
            expires_in: kept.expires_at - now,
            refresh_token: None,
            scope: kept.scope.to_string(),
            session_id: Some(kept.session_id.to_string()),
            expires_at: kept.expires_at,
            user: None,
            token_id: kept.token_id.to_string(),
        })
    }

    /// Keeps `answer`'s access token under `key`.
    pub(crate) fn keep(&self, key: String, answer: &TokenResponse) {
        let Some(session_id) = &answer.session_id else {
            return;
        };
        self.tokens.insert(
            key,
            Kept {
                access_token: Arc::from(answer.access_token.as_str()),
                token_id: Arc::from(answer.token_id.as_str()),
                session_id: Arc::from(session_id.as_str()),
                expires_at: answer.expires_at,
                scope: Arc::from(answer.scope.as_str()),
            },
        );
    }
}
