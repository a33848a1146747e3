//! The session lifecycle: starting one, refreshing it (rotation, reuse detection, the retry
//! grace), and ending it (logout, RFC 7009 revocation, reuse).

use std::sync::Arc;

use serde_json::{Map, Value};

use crate::error::AuthErrorKind;
use crate::identity::{AuthMethod, Identity};
use crate::issuer::clients::ClientCredentials;
use crate::issuer::error::{GrantCause, GrantError, GrantErrorKind, grant_error};
use crate::issuer::grants::narrow;
use crate::issuer::response::TokenResponse;
use crate::issuer::service::{RefreshPolicy, TokenService};
use crate::issuer::token::{NewRefreshToken, RefreshToken};
use crate::scope::Scopes;
use crate::store::{Grace, Rotation, Session, StoredSession};
use crate::tenant::Tenant;

/// What a grant gives the session it starts.
pub(super) struct NewSession {
    pub(super) subject: Arc<str>,
    pub(super) scopes: Scopes,
    pub(super) tenants: Vec<Tenant>,
    pub(super) claims: Map<String, Value>,
    /// The API key exchanged: re-checked on every refresh.
    pub(super) api_key_id: Option<Arc<str>>,
    /// The grant's own expiry: the session may not outlast it.
    pub(super) not_after: Option<u64>,
    /// The OAuth client the session was issued to: only it may refresh it.
    pub(super) client_id: Option<Arc<str>>,
}

/// Turns a client-chosen session id into a slot scoped to the subject, so that two users choosing
/// the same id never touch each other's sessions.
pub(super) fn slot_for(
    subject: &str,
    chosen: Option<&str>,
) -> Result<Option<Arc<str>>, GrantError> {
    let Some(chosen) = chosen else {
        return Ok(None);
    };
    if chosen.is_empty() || chosen.len() > 128 || !chosen.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(grant_error(
            GrantErrorKind::InvalidRequest,
            "session_id must be 1 to 128 visible ASCII characters",
        ));
    }
    let digest = blake3::Hasher::new_derive_key("tower-api-auth 2026-11 session id v1")
        .update(subject.as_bytes())
        .update(&[0])
        .update(chosen.as_bytes())
        .finalize();
    Ok(Some(Arc::from(&digest.to_hex()[..32])))
}

fn invalid_refresh() -> GrantError {
    grant_error(
        GrantErrorKind::InvalidGrant,
        "The refresh token is invalid, expired or revoked",
    )
    .with_cause(GrantCause::InvalidRefreshToken)
}

/// How a presented token stands against its session's record.
enum Standing<'s> {
    /// The session's current token.
    Current,
    /// The token the last rotation replaced, presented again within the reuse interval: its
    /// successor, opened.
    Retried(NewRefreshToken),
    /// A token the server issued for the session and a rotation has since replaced: spent.
    Reused(&'s StoredSession),
    /// A token the server never issued (an invented secret, a generation not reached), or any
    /// token but the current one under [`RefreshPolicy::Reuse`], where none is ever spent.
    Forged,
}

/// Whether `presented` is a token of the session the server issued and a rotation replaced.
fn spent(stored: &StoredSession, presented: &RefreshToken<'_>, issuance: &[u8; 32]) -> bool {
    presented.generation < stored.generation && presented.issued(issuance)
}

fn standing<'s>(
    stored: &'s StoredSession,
    presented: &RefreshToken<'_>,
    policy: RefreshPolicy,
    issuance: &[u8; 32],
    now: u64,
) -> Standing<'s> {
    // The hash covers the whole token, generation included. (Under `RefreshPolicy::Reuse` the
    // stored generation counts the refreshes while the token keeps its own: the hash decides.)
    if presented.hash == stored.current {
        return Standing::Current;
    }
    if policy == RefreshPolicy::Reuse || !spent(stored, presented, issuance) {
        return Standing::Forged;
    }
    let successor = stored
        .grace
        .filter(|grace| now < grace.until)
        .filter(|_| presented.generation.checked_add(1) == Some(stored.generation))
        .and_then(|grace| presented.open(&grace.sealed, &stored.current));
    match successor {
        Some(successor) => Standing::Retried(successor),
        None => Standing::Reused(stored),
    }
}

impl TokenService {
    /// Saves a new session and answers with its first pair. The access token is signed before the
    /// session is saved, so that nothing is left behind if signing fails.
    pub(super) async fn start_session(
        &self,
        new: NewSession,
        slot: Option<Arc<str>>,
        now: u64,
    ) -> Result<TokenResponse, GrantError> {
        let first = NewRefreshToken::first(self.issuer.refresh_key());
        self.start_session_with(first, new, slot, now).await
    }

    /// [`start_session`](Self::start_session) with its first refresh token chosen before: the
    /// authorization-code grant names the session when it redeems the code.
    pub(super) async fn start_session_with(
        &self,
        first: NewRefreshToken,
        new: NewSession,
        slot: Option<Arc<str>>,
        now: u64,
    ) -> Result<TokenResponse, GrantError> {
        let expires_at = now.saturating_add(self.session_ttl);
        let session = Session::new(
            first.session_id(),
            new.subject,
            new.scopes.clone(),
            now,
            new.not_after.map_or(expires_at, |end| end.min(expires_at)),
        )
        .with_tenants(new.tenants)
        .with_client(new.client_id)
        .with_api_key(new.api_key_id)
        .with_slot(slot)
        .with_idle_timeout(self.idle_timeout)
        .with_claims(new.claims);
        let access = self.sign(&session, &new.scopes, None, now)?;
        let ended = self
            .store
            .start(session.clone(), first.hash, self.max_sessions_per_subject)
            .await
            .map_err(|e| GrantError::unavailable(&e))?;
        for ended in &ended {
            // The session its slot held, or the subject's oldest beyond the bound: it ends now,
            // as at a logout (the store has removed it; its access tokens are refused).
            self.revocations
                .revoke_session(&ended.id, self.session_tokens_deadline(now))
                .await
                .map_err(|e| GrantError::unavailable(&e))?;
        }
        Ok(Self::respond(
            &session,
            access,
            &new.scopes,
            Some(first.token),
        ))
    }

    /// Refresh grant: rotates `refresh_token` and returns a new pair. `scope` may narrow the
    /// session's scopes for the new access token.
    ///
    /// Everything that can fail — the session's state, the scope, the API key behind the session,
    /// signing — is checked before the rotation is committed, by one compare-and-swap in the
    /// store: a failure (503 when a store is down) leaves the presented token valid for a retry.
    /// A spent token ends the whole session (reuse detection), except the one the last rotation
    /// replaced within the [reuse interval](Self::reuse_interval).
    ///
    /// A session started by an OAuth client (the authorization-code grant) refreshes only through
    /// [`refresh_as`](Self::refresh_as) with that client's authentication; this method refuses it.
    pub async fn refresh(
        &self,
        refresh_token: &str,
        scope: Option<&str>,
    ) -> Result<TokenResponse, GrantError> {
        self.refresh_as(refresh_token, scope, None).await
    }

    /// [`refresh`](Self::refresh) by an OAuth client (RFC 6749 §6): `client` is authenticated
    /// first (`invalid_client` otherwise), and the token must be of a session issued to it. A
    /// session issued to a client is refreshed only by that client, and a session issued to no
    /// client (a login) by no client: anything else is `invalid_grant`, and leaves the session as
    /// it was. A public client's refresh tokens are single use whatever the
    /// [refresh policy](Self::refresh_policy) and [reuse interval](Self::reuse_interval)
    /// (OAuth 2.1 §4.3.1): each refresh rotates, and any reuse ends the session.
    pub async fn refresh_as(
        &self,
        refresh_token: &str,
        scope: Option<&str>,
        client: Option<ClientCredentials<'_>>,
    ) -> Result<TokenResponse, GrantError> {
        let now = self.begin().await;
        let client = match client {
            Some(credentials) => Some(self.authenticate_client(credentials).await?),
            None => None,
        };
        let presented = RefreshToken::parse(refresh_token).ok_or_else(invalid_refresh)?;
        let session_id = presented.session_id();
        // Two rounds at most: a lost compare-and-swap means another refresh committed first, and
        // the token is judged again against what it wrote.
        for _ in 0..2 {
            let stored = self
                .store
                .load(&session_id)
                .await
                .map_err(|e| GrantError::unavailable(&e))?
                .filter(|stored| stored.alive(now))
                .ok_or_else(invalid_refresh)?;
            let session = &stored.session;
            let bound_client = session.client_id.as_deref();
            if bound_client != client.as_ref().map(|c| &*c.client_id) {
                tracing::debug!(
                    session_id = %session.id,
                    "refresh token presented by a client it was not issued to: refused"
                );
                return Err(grant_error(
                    GrantErrorKind::InvalidGrant,
                    "The refresh token was not issued to this client",
                )
                .with_cause(GrantCause::RefreshTokenOfAnotherClient));
            }
            // A session of a replayed code may have been written after the replay ended it (the
            // two raced): its revocation stands, and ends it now.
            if session.client_id.is_some() {
                let revoked = self
                    .revocations()
                    .is_revoked(Some(&session.id), None, now)
                    .map_err(|e| GrantError::unavailable(&e))?;
                if revoked {
                    self.end_session(&session.id, now).await?;
                    return Err(invalid_refresh());
                }
            }
            // OAuth 2.1 §4.3.1: a public client's refresh tokens are single use, no grace.
            let public = client.as_ref().is_some_and(|c| c.is_public());
            let (policy, reuse_interval) = if public {
                (RefreshPolicy::Rotate, 0)
            } else {
                (self.refresh_policy, self.reuse_interval)
            };
            let issuance = self.issuer.refresh_key();
            match standing(&stored, &presented, policy, issuance, now) {
                Standing::Current => {
                    let scopes = narrow(&session.scopes, scope)?;
                    let key_end = self.check_origin(session, now).await?;
                    let access = self.sign(session, &scopes, key_end, now)?;
                    let (rotation, next) = match policy {
                        RefreshPolicy::Rotate => {
                            let next = presented.successor(issuance).ok_or_else(invalid_refresh)?;
                            let grace = (reuse_interval > 0).then(|| {
                                Grace::new(
                                    presented.seal(&next),
                                    now.saturating_add(reuse_interval),
                                )
                            });
                            let rotation =
                                Rotation::new(stored.generation, presented.hash, next.hash, now)
                                    .with_grace(grace);
                            (rotation, Some(next.token))
                        }
                        // The same token stays current; the write records the use for the idle
                        // timeout, and fails if the session ended meanwhile.
                        RefreshPolicy::Reuse => (
                            Rotation::new(stored.generation, presented.hash, presented.hash, now),
                            None,
                        ),
                    };
                    let committed = self
                        .store
                        .rotate(&session_id, rotation)
                        .await
                        .map_err(|e| GrantError::unavailable(&e))?;
                    if committed {
                        return Ok(Self::respond(session, access, &scopes, next));
                    }
                }
                Standing::Retried(successor) => {
                    let scopes = narrow(&session.scopes, scope)?;
                    let key_end = self.check_origin(session, now).await?;
                    let access = self.sign(session, &scopes, key_end, now)?;
                    return Ok(Self::respond(
                        session,
                        access,
                        &scopes,
                        Some(successor.token),
                    ));
                }
                Standing::Forged => {
                    // Not a token of ours: refused, and the session it names is left alone.
                    tracing::debug!("refresh token not issued for its session: refused");
                    return Err(invalid_refresh());
                }
                Standing::Reused(stored) => {
                    tracing::debug!(session_id = %stored.session.id, "refresh token reuse: session revoked");
                    self.end_session(&stored.session.id, now).await?;
                    return Err(invalid_refresh());
                }
            }
        }
        Err(invalid_refresh())
    }

    /// Ends the session of an authenticated request (logout with the access token): its refresh
    /// tokens stop working and its access tokens are refused from now on. A token without a
    /// session (client credentials) is revoked alone.
    ///
    /// Nothing is answered as done that was not: an API key has no session to end (revoke the key
    /// instead), an opaque token is its issuer's to revoke, and a token with neither a session nor
    /// an id cannot be revoked; all three are `invalid_request`.
    pub async fn logout(&self, identity: &Identity) -> Result<(), GrantError> {
        let now = self.begin().await;
        match identity.method() {
            AuthMethod::ApiKey => {
                return Err(grant_error(
                    GrantErrorKind::InvalidRequest,
                    "An API key has no session to log out of: revoke the key to end it",
                ));
            }
            // Judged by its issuer at every request (introspection): only the issuer can end it.
            AuthMethod::OpaqueToken => {
                return Err(grant_error(
                    GrantErrorKind::InvalidRequest,
                    "This token is its issuer's: revoke it there to log out",
                ));
            }
            _ => {}
        }
        if let Some(session_id) = identity.session_id() {
            return self.end_session(session_id, now).await;
        }
        match (identity.token_id(), identity.expires_at()) {
            (Some(jti), Some(exp)) => self
                .revocations
                .revoke_token(jti, self.token_deadline(exp))
                .await
                .map_err(|e| GrantError::unavailable(&e)),
            _ => Err(grant_error(
                GrantErrorKind::InvalidRequest,
                "The token names no session and no token id (sid, jti): there is nothing to log out of",
            )),
        }
    }

    /// Revokes a token (RFC 7009): a refresh token — current or spent — ends its session; an access
    /// token of this issuer is refused from now on. Unknown or invalid tokens (a refresh token the
    /// server never issued among them) are not an error, and change nothing.
    ///
    /// A token issued to an OAuth client is revoked only through
    /// [`revoke_as`](Self::revoke_as) by that client; here it is refused.
    pub async fn revoke(&self, token: &str) -> Result<(), GrantError> {
        self.revoke_as(token, None).await
    }

    /// [`revoke`](Self::revoke) by an OAuth client (RFC 7009 §2.1): `client` is authenticated
    /// first (`invalid_client` otherwise), and a token issued to a client — a refresh token of its
    /// session, an access token naming it in `client_id` — is revoked only by that client: any
    /// other caller is refused (`invalid_request`) and the token stays valid. Tokens issued to no
    /// client (logins) are revoked by whoever holds them, with or without a client.
    pub async fn revoke_as(
        &self,
        token: &str,
        client: Option<ClientCredentials<'_>>,
    ) -> Result<(), GrantError> {
        let now = self.begin().await;
        let client = match client {
            Some(credentials) => Some(self.authenticate_client(credentials).await?),
            None => None,
        };
        let caller = client.as_ref().map(|c| &*c.client_id);
        let allowed = |bound: Option<&str>| match bound {
            Some(bound) if Some(bound) != caller => Err(grant_error(
                GrantErrorKind::InvalidRequest,
                "The token was issued to another client: only that client may revoke it",
            )),
            _ => Ok(()),
        };
        if let Some(presented) = RefreshToken::parse(token) {
            let session_id = presented.session_id();
            let stored = self
                .store
                .load(&session_id)
                .await
                .map_err(|e| GrantError::unavailable(&e))?;
            // Only a token the server issued for the session ends it: the current one, or a spent
            // one. A made-up one is an invalid token, which RFC 7009 answers like any other.
            let issued = stored.filter(|stored| {
                presented.hash == stored.current
                    || spent(stored, &presented, self.issuer.refresh_key())
            });
            if let Some(stored) = issued {
                allowed(stored.session.client_id.as_deref())?;
                return self.end_session(&session_id, now).await;
            }
            return Ok(());
        }
        if let Ok(identity) = self.validator.validate(token, now)
            && let (Some(jti), Some(exp)) = (identity.token_id(), identity.expires_at())
        {
            allowed(identity.client_id())?;
            self.revocations
                .revoke_token(jti, self.token_deadline(exp))
                .await
                .map_err(|e| GrantError::unavailable(&e))?;
        }
        Ok(())
    }

    /// A session exchanged for an API key lives only as long as the key: a key revoked, disabled,
    /// expired or removed ends it (`invalid_grant`); a key store that cannot answer is 503 and
    /// changes nothing.
    ///
    /// Answers when the key expires now (its expiry may have been brought forward since the
    /// exchange): the new access token may not outlive it.
    async fn check_origin(&self, session: &Session, now: u64) -> Result<Option<u64>, GrantError> {
        let Some(key_id) = &session.api_key_id else {
            return Ok(None);
        };
        if let Some(api_keys) = &self.api_keys {
            match api_keys.recheck(key_id, now).await {
                Ok(record) => return Ok(record.expires_at),
                Err(error) if error.kind() == AuthErrorKind::AuthUnavailable => {
                    return Err(GrantError::new(GrantErrorKind::Unavailable));
                }
                // Revoked, disabled, expired or removed: the session ends with it.
                Err(_) => {}
            }
        }
        self.end_session(&session.id, now).await?;
        Err(invalid_refresh())
    }

    pub(super) async fn end_session(&self, session_id: &str, now: u64) -> Result<(), GrantError> {
        self.store
            .end(session_id)
            .await
            .map_err(|e| GrantError::unavailable(&e))?;
        // Access tokens of the session live at most one access-token lifetime longer.
        self.revocations
            .revoke_session(session_id, self.session_tokens_deadline(now))
            .await
            .map_err(|e| GrantError::unavailable(&e))
    }
}
