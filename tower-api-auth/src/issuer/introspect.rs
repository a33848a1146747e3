//! Token introspection (RFC 7662) of the issuer's own tokens, for resource servers that hold a
//! client registration rather than the issuer's keys.

use serde_json::{Map, Value, json};

use crate::issuer::clients::ClientCredentials;
use crate::issuer::error::{GrantError, GrantErrorKind, grant_error};
use crate::issuer::service::TokenService;
use crate::issuer::token::RefreshToken;

/// The one answer for every token that is not active (RFC 7662 §2.2): nothing else is said of it.
fn inactive() -> Value {
    json!({ "active": false })
}

impl TokenService {
    /// Introspects `token` (RFC 7662 §2) for a confidential client authenticated by
    /// `credentials`: an access token of this issuer that validates and is not revoked (for any
    /// such client: resource servers introspect access tokens), or a refresh token that is its
    /// live session's current one and was issued to the asking client, is `{"active": true, …}` with its
    /// claims (`scope`, `client_id`, `sub`, `exp`, `iat`, `iss`, `token_type`, …); anything else —
    /// expired, revoked, spent, unknown, malformed, another issuer's — is `{"active": false}` and
    /// nothing more. `token_type_hint` (`access_token` or `refresh_token`) only orders the
    /// lookups.
    ///
    /// Public clients cannot introspect (`invalid_client`): they have no credential that keeps
    /// others from probing tokens with their id. A store that cannot answer is 503.
    pub async fn introspect(
        &self,
        credentials: ClientCredentials<'_>,
        token: &str,
        token_type_hint: Option<&str>,
    ) -> Result<Value, GrantError> {
        let now = self.begin().await;
        let client = self.authenticate_client(credentials).await?;
        if client.is_public() {
            return Err(grant_error(
                GrantErrorKind::InvalidClient,
                "Only confidential clients may introspect tokens",
            ));
        }
        let caller = &*client.client_id;
        let refresh_first = token_type_hint == Some("refresh_token");
        if refresh_first && let Some(answer) = self.introspect_refresh(token, caller, now).await? {
            return Ok(answer);
        }
        if let Some(answer) = self.introspect_access(token, now)? {
            return Ok(answer);
        }
        if !refresh_first && let Some(answer) = self.introspect_refresh(token, caller, now).await? {
            return Ok(answer);
        }
        Ok(inactive())
    }

    fn introspect_access(&self, token: &str, now: u64) -> Result<Option<Value>, GrantError> {
        let Ok(identity) = self.validator.validate(token, now) else {
            return Ok(None);
        };
        let revoked = self
            .revocations()
            .is_revoked(identity.session_id(), identity.token_id(), now)
            .map_err(|e| GrantError::unavailable(&e))?;
        if revoked {
            return Ok(None);
        }
        let Some(Ok(claims)) = identity.decode_claims::<Map<String, Value>>() else {
            return Ok(None);
        };
        let mut answer = (*claims).clone();
        answer.insert("active".into(), Value::Bool(true));
        answer.insert("token_type".into(), Value::from("Bearer"));
        Ok(Some(Value::Object(answer)))
    }

    /// A refresh token is described only to the client it was issued to (RFC 7662 §4: a
    /// resource server has no business with refresh tokens, nor a client with another's).
    async fn introspect_refresh(
        &self,
        token: &str,
        caller: &str,
        now: u64,
    ) -> Result<Option<Value>, GrantError> {
        let Some(presented) = RefreshToken::parse(token) else {
            return Ok(None);
        };
        let stored = self
            .store
            .load(&presented.session_id())
            .await
            .map_err(|e| GrantError::unavailable(&e))?;
        let Some(stored) = stored.filter(|s| {
            s.alive(now)
                && s.current == presented.hash
                && s.session.client_id.as_deref() == Some(caller)
        }) else {
            return Ok(None);
        };
        let session = &stored.session;
        // The session ends at its absolute end, or sooner when left idle.
        let exp = session.idle_timeout.map_or(session.expires_at, |idle| {
            session
                .expires_at
                .min(stored.last_used.saturating_add(idle))
        });
        let mut answer = json!({
            "active": true,
            "token_type": "refresh_token",
            "scope": session.scopes.as_str(),
            "sub": &*session.subject,
            "iss": self.issuer_url(),
            "iat": session.created_at,
            "exp": exp,
            "sid": &*session.id,
        });
        if let Some(client_id) = &session.client_id {
            answer["client_id"] = Value::from(&**client_id);
        }
        Ok(Some(answer))
    }
}
