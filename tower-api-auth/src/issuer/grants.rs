//! The grants that start a session (password, API-key exchange) or stand alone (client
//! credentials), and the rules they share: scope narrowing and tenant selection.

use std::sync::Arc;

use serde_json::{Map, Value};

use crate::error::AuthErrorKind;
use crate::issuer::error::{GrantError, GrantErrorKind, grant_error};
use crate::issuer::response::TokenResponse;
use crate::issuer::service::TokenService;
use crate::issuer::sessions::NewSession;
use crate::issuer::signing::{AccessGrant, is_registered_claim};
use crate::scope::Scopes;
use crate::tenant::Tenant;

/// Narrows `granted` to `requested`; asking for anything not granted is `invalid_scope`.
pub(super) fn narrow(granted: &Scopes, requested: Option<&str>) -> Result<Scopes, GrantError> {
    let Some(requested) = requested else {
        return Ok(granted.clone());
    };
    let requested = Scopes::parse(requested).map_err(|_| {
        grant_error(
            GrantErrorKind::InvalidScope,
            "The requested scope is malformed",
        )
    })?;
    if requested.iter().all(|s| granted.contains(s)) {
        Ok(requested)
    } else {
        Err(grant_error(
            GrantErrorKind::InvalidScope,
            "The requested scope exceeds the granted scope",
        ))
    }
}

/// All of `held`, or the one `wanted` if it is held: the tokens then name it alone. A tenant not
/// held is `invalid_grant` (RFC 6749 §5.2: the grant does not extend to what was asked for).
fn pick_tenant(
    held: &[Tenant],
    wanted: Option<&str>,
    refusal: &'static str,
) -> Result<Vec<Tenant>, GrantError> {
    match wanted {
        None => Ok(held.to_vec()),
        Some(wanted) => match held.iter().find(|t| t.as_str() == wanted) {
            Some(t) => Ok(vec![t.clone()]),
            None => Err(grant_error(GrantErrorKind::InvalidGrant, refusal)),
        },
    }
}

impl TokenService {
    /// Password grant. `tenant` picks one of the account's tenants; the tokens then name it alone.
    pub async fn password(
        &self,
        username: &str,
        password: &str,
        tenant: Option<&str>,
        scope: Option<&str>,
        session_id: Option<&str>,
    ) -> Result<TokenResponse, GrantError> {
        let now = self.begin().await;
        let verifier = self.passwords.as_ref().ok_or_else(|| {
            grant_error(
                GrantErrorKind::UnsupportedGrantType,
                "The password grant is not enabled",
            )
        })?;
        let account = verifier
            .verify(username, password)
            .await
            .map_err(|e| GrantError::unavailable(&e))?
            .ok_or_else(|| {
                grant_error(
                    GrantErrorKind::InvalidGrant,
                    "The username or password is wrong",
                )
            })?;
        let tenants = pick_tenant(
            &account.tenants,
            tenant,
            "The account does not grant access to that tenant",
        )?;
        let scopes = narrow(&account.scopes, scope)?;
        let new = NewSession {
            subject: account.subject,
            scopes,
            tenants,
            claims: account.claims,
            api_key_id: None,
            not_after: None,
        };
        self.start_session(new, session_id, now).await
    }

    /// API-key exchange: the key's scopes (narrowed by `scope`) and tenants carry into the tokens,
    /// which name the key (`api_key_id`). `tenant` picks one of the key's tenants.
    pub async fn exchange_api_key(
        &self,
        api_key: &str,
        tenant: Option<&str>,
        scope: Option<&str>,
        session_id: Option<&str>,
    ) -> Result<TokenResponse, GrantError> {
        let now = self.begin().await;
        let api_keys = self.api_keys.as_ref().ok_or_else(|| {
            grant_error(
                GrantErrorKind::UnsupportedGrantType,
                "The API-key exchange is not enabled",
            )
        })?;
        let record = api_keys.verify(api_key, now).await.map_err(|error| {
            if error.kind() == AuthErrorKind::AuthUnavailable {
                GrantError::new(GrantErrorKind::Unavailable)
            } else {
                grant_error(
                    GrantErrorKind::InvalidGrant,
                    "The API key is invalid, expired or revoked",
                )
            }
        })?;
        let tenants = pick_tenant(
            &record.tenants,
            tenant,
            "The API key does not grant access to that tenant",
        )?;
        let scopes = narrow(&record.scopes, scope)?;
        let claims: Map<String, Value> = self
            .metadata_claims
            .iter()
            .filter(|name| !is_registered_claim(name))
            .filter_map(|name| {
                let value = record.metadata.get(name)?;
                Some((name.clone(), Value::String(value.clone())))
            })
            .collect();
        // The session lives only as long as the key: it is re-checked on every refresh and the
        // session cannot outlast the key's expiry.
        let new = NewSession {
            subject: Arc::from(record.principal()),
            scopes,
            tenants,
            claims,
            api_key_id: Some(record.key_id.clone()),
            not_after: record.expires_at,
        };
        self.start_session(new, session_id, now).await
    }

    /// Client-credentials grant (RFC 6749 §4.4): an access token, no refresh token.
    pub async fn client_credentials(
        &self,
        client_id: &str,
        client_secret: &str,
        scope: Option<&str>,
    ) -> Result<TokenResponse, GrantError> {
        let now = self.clock.now();
        let clients = self.clients.as_ref().ok_or_else(|| {
            grant_error(
                GrantErrorKind::UnsupportedGrantType,
                "The client-credentials grant is not enabled",
            )
        })?;
        let found = clients
            .client(client_id)
            .await
            .map_err(|e| GrantError::unavailable(&e))?;
        // The secret is hashed whether or not the client exists, and compared in constant time.
        let presented = clients.secret_hasher().hash(client_secret);
        let client = found
            .filter(|client| client.secret_hash.matches(&presented))
            .ok_or_else(|| GrantError::new(GrantErrorKind::InvalidClient))?;
        let scopes = narrow(&client.scopes, scope)?;
        let grant = AccessGrant::new(client.client_id.clone(), scopes.clone())
            .with_tenants(client.tenants.clone())
            .with_client(client.client_id.clone());
        let access = self.issuer.issue(&grant, now)?;
        Ok(TokenResponse {
            access_token: access.token,
            token_type: "Bearer",
            expires_in: access.expires_in,
            refresh_token: None,
            scope: scopes.to_string(),
            session_id: None,
        })
    }
}
