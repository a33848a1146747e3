//! The authorization-code grant at the token endpoint (RFC 6749 §4.1.3, RFC 7636 §4.5–§4.6):
//! redeeming a code once, bound to its client, redirect URI and PKCE challenge.

use crate::issuer::authorize::code_hash;
use crate::issuer::clients::ClientCredentials;
use crate::issuer::error::{GrantCause, GrantError, GrantErrorKind, grant_error};
use crate::issuer::pkce;
use crate::issuer::response::TokenResponse;
use crate::issuer::service::TokenService;
use crate::issuer::sessions::NewSession;
use crate::issuer::token::NewRefreshToken;
use crate::store::Redemption;

fn invalid_code() -> GrantError {
    grant_error(
        GrantErrorKind::InvalidGrant,
        "The authorization code is invalid, expired or was issued to another client",
    )
    .with_cause(GrantCause::InvalidAuthorizationCode)
}

impl TokenService {
    /// Authorization-code grant: `client` (authenticated; a public client by its id alone) redeems
    /// `code` with the PKCE `code_verifier` and, when the authorization request named one, the
    /// same `redirect_uri`. Answers the session's first pair, its tokens naming the client
    /// (`client_id`): only that client can refresh them.
    ///
    /// A code is redeemed once. A second redemption — the client's retry or an attacker's replay,
    /// the server cannot tell — is refused and revokes what the first one issued (RFC 6749
    /// §4.1.2): its refresh tokens stop working and its access tokens are refused. A redemption
    /// that fails any check (another client, another redirect URI, a wrong verifier, an expired
    /// code) spends the code all the same.
    pub async fn authorization_code(
        &self,
        client: ClientCredentials<'_>,
        code: &str,
        redirect_uri: Option<&str>,
        code_verifier: Option<&str>,
    ) -> Result<TokenResponse, GrantError> {
        let now = self.begin().await;
        let codes = self.codes.as_ref().ok_or_else(|| {
            grant_error(
                GrantErrorKind::UnsupportedGrantType,
                "The authorization-code grant is not enabled",
            )
        })?;
        let client = self.authenticate_client(client).await?;
        let verifier = code_verifier.ok_or_else(|| {
            grant_error(
                GrantErrorKind::InvalidRequest,
                "The code_verifier is missing (PKCE is required)",
            )
        })?;
        if !pkce::valid_verifier(verifier) {
            return Err(grant_error(
                GrantErrorKind::InvalidRequest,
                "The code_verifier must be 43 to 128 unreserved characters",
            ));
        }
        let hash = code_hash(code).ok_or_else(invalid_code)?;
        let first = NewRefreshToken::first(self.issuer.refresh_key());
        let session_id = first.session_id();
        let redeemed = codes
            .redeem(&hash, &session_id)
            .await
            .map_err(|e| GrantError::unavailable(&e))?;
        let code = match redeemed {
            Redemption::First(code) => code,
            Redemption::Unknown => return Err(invalid_code()),
            Redemption::Replayed { code, session_id } => {
                tracing::warn!(
                    client_id = %code.client_id,
                    session_id = %session_id,
                    "authorization code presented again: the session it started is revoked"
                );
                self.revoke_replayed_session(&session_id, now).await?;
                return Err(replayed());
            }
        };
        if code.client_id != client.client_id || code.expired(now) {
            return Err(invalid_code());
        }
        // RFC 6749 §4.1.3: the same redirect URI as the authorization request, if it named one;
        // if it did not, a redirect URI sent now must still be the client's.
        let redirect_ok = match (&code.redirect_uri, redirect_uri) {
            (Some(bound), Some(sent)) => **bound == *sent,
            (Some(_), None) => false,
            (None, Some(sent)) => client.allows_redirect(sent),
            (None, None) => true,
        };
        if !redirect_ok {
            return Err(invalid_code());
        }
        if !pkce::verifies(verifier, &code.code_challenge) {
            return Err(grant_error(
                GrantErrorKind::InvalidGrant,
                "The code_verifier does not match the code_challenge",
            )
            .with_cause(GrantCause::WrongCodeVerifier));
        }
        let new = NewSession {
            subject: code.subject,
            scopes: code.scopes,
            tenants: code.tenants,
            claims: code.claims,
            api_key_id: None,
            not_after: None,
            client_id: Some(client.client_id),
        };
        let answer = self.start_session_with(first, new, None, now).await?;
        // A replay may have raced this redemption: spent the code after `redeem` above, and ended
        // the session before it was written. Its revocation is written first, so it is seen here
        // (and by every refresh of the session, see `refresh_as`): the session ends now.
        let revoked = self
            .revocations()
            .is_revoked(Some(&session_id), None, now)
            .map_err(|e| GrantError::unavailable(&e))?;
        if revoked {
            self.end_session(&session_id, now).await?;
            return Err(replayed());
        }
        Ok(answer)
    }

    /// Ends the session a replayed code's first redemption started. The revocation is written
    /// before the session is removed, and kept as long as the session could live: a first
    /// redemption still writing its session (a race the replay may win) finds it and ends the
    /// session, and so does any later refresh of it.
    async fn revoke_replayed_session(&self, session_id: &str, now: u64) -> Result<(), GrantError> {
        let until = self
            .session_tokens_deadline(now)
            .max(now.saturating_add(self.session_ttl));
        self.revocations
            .revoke_session(session_id, until)
            .await
            .map_err(|e| GrantError::unavailable(&e))?;
        self.store
            .end(session_id)
            .await
            .map(drop)
            .map_err(|e| GrantError::unavailable(&e))
    }
}

fn replayed() -> GrantError {
    grant_error(
        GrantErrorKind::InvalidGrant,
        "The authorization code was already used; the tokens it gave are revoked",
    )
    .with_cause(GrantCause::AuthorizationCodeReplayed)
}
