//! The grants that start a session (password, API-key exchange) or stand alone (client
//! credentials), and the rules they share: scope narrowing and tenant selection.

use std::sync::Arc;

use serde_json::{Map, Value};

use crate::error::AuthErrorKind;
use crate::issuer::accounts::Account;
use crate::issuer::error::{GrantCause, GrantError, GrantErrorKind, grant_error};
use crate::issuer::login::{Login, LoginCredential};
use crate::issuer::response::TokenResponse;
use crate::issuer::service::TokenService;
use crate::issuer::sessions::{NewSession, slot_for};
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
            None => Err(grant_error(GrantErrorKind::InvalidGrant, refusal)
                .with_cause(GrantCause::TenantNotGranted)),
        },
    }
}

/// What logins that may share an access token must have in common: everything the token says
/// (subject, API key, tenants, scopes, the app's claims) and the session name, if one is chosen.
/// A digest, so that a key stays small whatever the subject or claims.
fn reuse_key(new: &NewSession, slot: Option<&str>) -> String {
    let mut hasher =
        blake3::Hasher::new_derive_key("tower-api-auth 2026-12 reusable access token v1");
    let mut part = |bytes: &[u8]| {
        hasher.update(&(bytes.len() as u64).to_le_bytes());
        hasher.update(bytes);
    };
    part(slot.unwrap_or_default().as_bytes());
    part(&[u8::from(slot.is_some())]);
    part(new.subject.as_bytes());
    part(new.api_key_id.as_deref().unwrap_or_default().as_bytes());
    for tenant in &new.tenants {
        part(tenant.as_str().as_bytes());
    }
    part(b"\0scopes");
    part(new.scopes.as_str().as_bytes());
    part(Value::Object(new.claims.clone()).to_string().as_bytes());
    hasher.finalize().to_hex().to_string()
}

impl TokenService {
    /// Starts a session: checks the [`Login`]'s credential (a password through the
    /// [`PasswordVerifier`](crate::issuer::PasswordVerifier), an API key through the key store, or
    /// an [`Account`] the app verified itself) and answers with the session's first pair — or, with
    /// [`reuse_access_tokens`](Self::reuse_access_tokens), the access token a previous login of the
    /// same kind still holds.
    ///
    /// ```
    /// # #[cfg(any(feature = "aws-lc-rs", feature = "rust-crypto"))]
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use tower_api_auth::issuer::{Account, Login, MemoryRefreshStore, SigningKey, TokenIssuer, TokenService};
    /// use tower_api_auth::{Algorithm, scope::Scopes};
    ///
    /// let signing = SigningKey::hmac(Algorithm::HS256, b"a-secret-of-at-least-thirty-two-bytes!!").unwrap();
    /// let tokens = TokenService::new(TokenIssuer::new(signing, "https://auth.example.test"), MemoryRefreshStore::new());
    /// // The app checked a magic link itself; the session is like any other.
    /// let account = Account::new("user_42", Scopes::parse("read write").unwrap());
    /// let pair = tokens.login(Login::account(account).scope("read")).await.unwrap();
    /// assert_eq!(pair.scope, "read");
    /// let next = tokens.refresh(pair.refresh_token.as_deref().unwrap(), None).await.unwrap();
    /// assert_ne!(next.refresh_token, pair.refresh_token, "rotated");
    /// # }
    /// # #[cfg(not(any(feature = "aws-lc-rs", feature = "rust-crypto")))]
    /// # fn main() {}
    /// ```
    pub async fn login(&self, login: Login<'_>) -> Result<TokenResponse, GrantError> {
        let now = self.begin().await;
        let Login {
            credential,
            tenant,
            scope,
            session_id,
        } = login;
        let (new, user) = match credential {
            LoginCredential::Password { username, password } => {
                let account = self.verify_password(username, password).await?;
                self.account_session(account, tenant, scope)?
            }
            LoginCredential::Account(account) => self.account_session(account, tenant, scope)?,
            LoginCredential::ApiKey(api_key) => (
                self.api_key_session(api_key, tenant, scope, now).await?,
                None,
            ),
        };
        let slot = slot_for(&new.subject, session_id)?;
        let mut answer = match &self.reusable {
            None => self.start_session(new, slot, now).await?,
            Some(reusable) => {
                let key = reuse_key(&new, slot.as_deref());
                match reusable.get(&key, now, new.not_after, &*self.revocations()) {
                    Some(kept) => kept,
                    None => {
                        let answer = self.start_session(new, slot, now).await?;
                        reusable.keep(key, &answer);
                        answer
                    }
                }
            }
        };
        answer.user = user;
        Ok(answer)
    }

    async fn verify_password(&self, username: &str, password: &str) -> Result<Account, GrantError> {
        let verifier = self.passwords.as_ref().ok_or_else(|| {
            grant_error(
                GrantErrorKind::UnsupportedGrantType,
                "The password grant is not enabled",
            )
        })?;
        verifier
            .verify(username, password)
            .await
            .map_err(|e| GrantError::unavailable(&e))?
            .ok_or_else(|| {
                grant_error(
                    GrantErrorKind::InvalidGrant,
                    "The username or password is wrong",
                )
                .with_cause(GrantCause::WrongPassword)
            })
    }

    /// The session of a verified account, and what its login answer shows of the user.
    fn account_session(
        &self,
        account: Account,
        tenant: Option<&str>,
        scope: Option<&str>,
    ) -> Result<(NewSession, Option<Value>), GrantError> {
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
            client_id: None,
        };
        Ok((new, account.user))
    }

    /// The session of an API-key exchange: the key's scopes (narrowed by `scope`) and tenants
    /// carry into the tokens, which name the key (`api_key_id`).
    async fn api_key_session(
        &self,
        api_key: &str,
        tenant: Option<&str>,
        scope: Option<&str>,
        now: u64,
    ) -> Result<NewSession, GrantError> {
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
                .with_cause(GrantCause::InvalidApiKey)
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
        // The session lives only as long as the key: it is re-checked on every refresh, and
        // neither the session nor any of its access tokens outlast the key's expiry.
        Ok(NewSession {
            subject: Arc::from(record.principal()),
            scopes,
            tenants,
            claims,
            api_key_id: Some(record.key_id.clone()),
            not_after: record.expires_at,
            client_id: None,
        })
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
            .filter(|client| {
                client
                    .secret_hash
                    .is_some_and(|hash| hash.matches(&presented))
            })
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
            expires_at: access.expires_at,
            user: None,
            token_id: access.token_id,
        })
    }
}
