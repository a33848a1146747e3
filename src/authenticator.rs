//! From a request's headers to an [`Identity`]: credential, validator, revocation, tenant rules.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use http::{HeaderMap, Uri};

use crate::api_key::{ApiKeys, KeyLookup, KeyRecord, LookupResult, ParsedKey};
use crate::clock::SharedClock;
use crate::credential::{Credential, CredentialSources};
use crate::error::{AuthError, AuthErrorKind};
use crate::identity::{AuthMethod, Identity, Parts};
use crate::jwt::{JwtValidator, VerifiedJwt};
use crate::revocation::RevocationCheck;
use crate::tenant::{Tenant, TenantRules};

pub(crate) type AuthResult = Result<Option<Identity>, AuthError>;
pub(crate) type PendingAuth = Pin<Box<dyn Future<Output = AuthResult> + Send + 'static>>;

/// The answer for one request: known now, or after the key store answers.
pub(crate) enum Outcome {
    Done(AuthResult),
    Pending(PendingAuth),
}

/// Everything the auth layer knows about credentials. Shared by all clones of the layer and its
/// services.
pub(crate) struct Authenticator {
    pub(crate) sources: CredentialSources,
    pub(crate) jwt: Option<JwtValidator>,
    pub(crate) api_keys: Option<ApiKeys>,
    pub(crate) tenants: TenantRules,
    pub(crate) revocation: Option<Arc<dyn RevocationCheck>>,
    pub(crate) clock: SharedClock,
}

impl fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authenticator")
            .field("sources", &self.sources)
            .field("jwt", &self.jwt)
            .field("api_keys", &self.api_keys)
            .field("tenants", &self.tenants)
            .field("clock", &self.clock)
            .finish_non_exhaustive()
    }
}

impl Authenticator {
    /// Judges the request's credentials: `Ok(None)` when it carries none of ours.
    pub(crate) fn authenticate(self: &Arc<Self>, headers: &HeaderMap, uri: &Uri) -> Outcome {
        let presented = match self.sources.extract(headers, uri) {
            Ok(Some(presented)) => presented,
            Ok(None) => return Outcome::Done(Ok(None)),
            Err(error) => return Outcome::Done(Err(error)),
        };
        let now = self.clock.now();
        let tenant = presented.tenant;
        match presented.credential {
            Credential::ApiKey(key) => self.api_key(key, tenant, now),
            // A Bearer token in the API-key format is an API key; anything else a JWT.
            Credential::Bearer(token) => match &self.api_keys {
                Some(api_keys) if api_keys.format.claims(token) => self.api_key(token, tenant, now),
                _ => Outcome::Done(self.jwt(token, tenant, now).map(Some)),
            },
        }
    }

    fn jwt(&self, token: &str, tenant: Option<&str>, now: u64) -> Result<Identity, AuthError> {
        let Some(validator) = &self.jwt else {
            return Err(AuthError::new(AuthErrorKind::InvalidToken)
                .with_message("This service does not accept JWTs"));
        };
        let jwt = validator.verified(token.as_bytes(), now)?;
        // A verified token, cached or not, still passes revocation and the tenant rules on every
        // request.
        self.check_revocation(&jwt, now)?;
        let tenant = self
            .tenants
            .select(tenant, &jwt.tenants, self.tenants.jwt_header)?;
        Ok(Identity::from_parts(Parts {
            principal: jwt.subject.clone(),
            method: AuthMethod::Jwt,
            tenant: tenant.cloned(),
            scopes: jwt.scopes.clone(),
            expires_at: Some(jwt.expires_at),
            key_id: jwt.kid.clone(),
            session_id: jwt.session_id.clone(),
            token_id: jwt.token_id.clone(),
            client_id: jwt.client_id.clone(),
            api_key_id: jwt.api_key_id.clone(),
            claims: jwt.claims.clone(),
        }))
    }

    fn check_revocation(&self, jwt: &VerifiedJwt, now: u64) -> Result<(), AuthError> {
        let Some(revocation) = &self.revocation else {
            return Ok(());
        };
        let revoked = revocation
            .is_revoked(jwt.session_id.as_deref(), jwt.token_id.as_deref(), now)
            .map_err(|error| {
                tracing::debug!(error = %error, "revocation check failed");
                AuthError::new(AuthErrorKind::AuthUnavailable)
            })?;
        if revoked {
            return Err(AuthError::new(AuthErrorKind::TokenRevoked));
        }
        Ok(())
    }

    fn api_key(self: &Arc<Self>, key: &str, tenant: Option<&str>, now: u64) -> Outcome {
        let Some(api_keys) = &self.api_keys else {
            return Outcome::Done(Err(AuthError::new(AuthErrorKind::InvalidApiKey)
                .with_message("This service does not accept API keys")));
        };
        // The checksum rejects typos and random probes before the store is asked anything.
        let Ok(parsed) = api_keys.format.parse(key) else {
            return Outcome::Done(Err(AuthError::new(AuthErrorKind::InvalidApiKey)));
        };
        match api_keys.provider.lookup(parsed.key_id()) {
            KeyLookup::Ready(found) => {
                Outcome::Done(self.finish_api_key(api_keys, parsed, tenant, found, now))
            }
            KeyLookup::Pending(lookup) => {
                let this = Arc::clone(self);
                let key = key.to_owned();
                let tenant = tenant.map(str::to_owned);
                Outcome::Pending(Box::pin(async move {
                    let found = lookup.await;
                    let api_keys = this.api_keys.as_ref().expect("checked above");
                    let parsed = api_keys.format.parse(&key).map_err(|_| {
                        AuthError::new(AuthErrorKind::InvalidApiKey) // parsed once already
                    })?;
                    this.finish_api_key(api_keys, parsed, tenant.as_deref(), found, now)
                }))
            }
        }
    }

    fn finish_api_key(
        &self,
        api_keys: &ApiKeys,
        parsed: ParsedKey<'_>,
        tenant: Option<&str>,
        found: LookupResult,
        now: u64,
    ) -> AuthResult {
        let found = found.map_err(|error| {
            tracing::debug!(error = %error, "API key store failed");
            AuthError::new(AuthErrorKind::AuthUnavailable)
        })?;
        let record = api_keys.check(parsed, found, now)?;
        let tenant = self
            .tenants
            .select(tenant, &record.tenants, self.tenants.api_key_header)?;
        Ok(Some(identity_for_key(&record, tenant)))
    }
}

/// The identity a request with `record` acts as, for `tenant`.
fn identity_for_key(record: &KeyRecord, tenant: Option<&Tenant>) -> Identity {
    Identity::from_parts(Parts {
        principal: record
            .owner
            .clone()
            .unwrap_or_else(|| record.key_id.clone()),
        method: AuthMethod::ApiKey,
        tenant: tenant.cloned(),
        scopes: record.scopes.clone(),
        expires_at: record.expires_at,
        key_id: Some(record.key_id.clone()),
        session_id: None,
        token_id: None,
        client_id: None,
        api_key_id: Some(record.key_id.clone()),
        claims: None,
    })
}
