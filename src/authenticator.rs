//! From a request's headers to an [`Identity`]: credential, validator, tenant rules.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use http::{HeaderMap, Uri};

use crate::api_key::{ApiKeys, KeyLookup, KeyRecord, ParsedKey};
use crate::credential::{CarriedHeaders, CredentialSources, LocatedCredential, UncheckedToken};
use crate::error::render::SharedRenderer;
use crate::error::{AuthError, AuthErrorKind};
use crate::identity::{AuthMethod, Identity, Inner as IdentityInner};
use crate::jwt::{JwtValidator, Verified, VerifiedJwt};
use crate::revocation::RevocationCheck;
use crate::tenant::{Tenant, TenantRules};

pub(crate) type AuthResult = Result<Option<Identity>, AuthError>;
pub(crate) type PendingAuth = Pin<Box<dyn Future<Output = AuthResult> + Send + 'static>>;

/// The answer for one request: known now, or after the key store answers.
pub(crate) enum Outcome {
    Done(AuthResult),
    Pending(PendingAuth),
}

/// Everything the auth layer knows. Shared by all clones of the layer and its services.
pub(crate) struct Authenticator {
    pub(crate) sources: CredentialSources,
    pub(crate) jwt: Option<JwtValidator>,
    pub(crate) api_keys: Option<ApiKeys>,
    pub(crate) tenants: TenantRules,
    pub(crate) optional: bool,
    pub(crate) revocation: Option<Arc<dyn RevocationCheck>>,
    pub(crate) renderer: SharedRenderer,
}

impl fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authenticator")
            .field("sources", &self.sources)
            .field("jwt", &self.jwt)
            .field("api_keys", &self.api_keys)
            .field("tenants", &self.tenants)
            .field("optional", &self.optional)
            .finish_non_exhaustive()
    }
}

pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Authenticator {
    /// Judges the request's credentials; also says which credential headers it carries, for the
    /// caller to mark sensitive.
    pub(crate) fn authenticate(
        self: &Arc<Self>,
        headers: &HeaderMap,
        uri: &Uri,
    ) -> (Outcome, CarriedHeaders) {
        let located = match self.sources.locate(headers, uri) {
            Ok(Some(located)) => located,
            // Nothing of ours, but maybe another scheme's secret: mark whatever is there.
            Ok(None) if self.optional => return (Outcome::Done(Ok(None)), CarriedHeaders::ALL),
            Ok(None) => {
                let missing = AuthError::new(AuthErrorKind::MissingCredentials);
                return (Outcome::Done(Err(missing)), CarriedHeaders::ALL);
            }
            Err(error) => return (Outcome::Done(Err(error)), CarriedHeaders::ALL),
        };
        let now = unix_now();
        let tenant = located.tenant;
        let outcome = match located.credential {
            LocatedCredential::ApiKey(key) => self.api_key(key, tenant, now),
            LocatedCredential::Bearer(token) => match &self.api_keys {
                Some(api_keys) if api_keys.format.claims_bytes(token.as_bytes()) => {
                    match token.check() {
                        Ok(key) => self.api_key(key, tenant, now),
                        Err(error) => Outcome::Done(Err(error)),
                    }
                }
                _ => Outcome::Done(self.jwt(token, tenant, now).map(Some)),
            },
        };
        (outcome, located.carried)
    }

    fn jwt(
        &self,
        token: UncheckedToken<'_>,
        tenant: Option<&str>,
        now: u64,
    ) -> Result<Identity, AuthError> {
        let Some(validator) = &self.jwt else {
            token.check()?;
            return Err(AuthError::new(AuthErrorKind::InvalidToken)
                .with_message("This service does not accept JWTs"));
        };
        // The exact bytes of a token that passed every check need no syntax check.
        if let Some(cached) = validator.cached(token.as_bytes(), now) {
            return self.shared_identity(&cached, tenant, now);
        }
        // A token that verifies is valid b64token syntax (its segments decoded as base64url), so
        // the syntax scan is only needed to tell a malformed request (400) from a bad token (401).
        match validator.validate_uncached(token.as_bytes(), now) {
            Ok(Verified::Shared(verified)) => self.shared_identity(&verified, tenant, now),
            Ok(Verified::Owned(verified)) => self.owned_identity(verified, tenant, now),
            Err(error) => {
                token.check()?;
                Err(error)
            }
        }
    }

    /// What a verified token must still pass on every request, cached or not: revocation and the
    /// tenant rules. Returns the tenant the request acts for.
    fn admit_jwt<'t>(
        &self,
        jwt: &'t VerifiedJwt,
        tenant: Option<&str>,
        now: u64,
    ) -> Result<Option<&'t Tenant>, AuthError> {
        if let Some(revocation) = &self.revocation {
            let revoked = revocation
                .is_revoked(jwt.session_id.as_deref(), jwt.token_id.as_deref(), now)
                .map_err(|error| {
                    tracing::debug!(error = %error, "revocation check failed");
                    AuthError::new(AuthErrorKind::AuthUnavailable)
                })?;
            if revoked {
                return Err(AuthError::new(AuthErrorKind::TokenRevoked));
            }
        }
        self.tenants
            .select(tenant, jwt.tenants.as_slice(), self.tenants.jwt_header)
    }

    /// The identity of a token the cache holds: the one first built for it when it fits this
    /// request, otherwise a new one (reference-count bumps only).
    fn shared_identity(
        &self,
        jwt: &VerifiedJwt,
        tenant: Option<&str>,
        now: u64,
    ) -> Result<Identity, AuthError> {
        let tenant = self.admit_jwt(jwt, tenant, now)?;
        if let Some(identity) = jwt.identity.get()
            && identity.fits(tenant, &self.renderer)
        {
            return Ok(identity.clone());
        }
        let identity = Identity::from_inner(IdentityInner {
            principal: jwt.subject.clone(),
            method: AuthMethod::Jwt,
            tenant: tenant.cloned(),
            scopes: jwt.scopes.clone(),
            expires_at: Some(jwt.expires_at),
            key_id: jwt.kid.clone(),
            session_id: jwt.session_id.clone(),
            token_id: jwt.token_id.clone(),
            claims: jwt.claims.clone(),
            renderer: Some(self.renderer.clone()),
        });
        // The first identity stays; later hits that fit it share it.
        let _ = jwt.identity.set(identity.clone());
        Ok(identity)
    }

    /// The identity of a token verified for this request alone: its parts move in.
    fn owned_identity(
        &self,
        jwt: VerifiedJwt,
        tenant: Option<&str>,
        now: u64,
    ) -> Result<Identity, AuthError> {
        let tenant = self.admit_jwt(&jwt, tenant, now)?.cloned();
        let VerifiedJwt {
            subject,
            scopes,
            expires_at,
            kid,
            session_id,
            token_id,
            claims,
            ..
        } = jwt;
        Ok(Identity::from_inner(IdentityInner {
            principal: subject,
            method: AuthMethod::Jwt,
            tenant,
            scopes,
            expires_at: Some(expires_at),
            key_id: kid,
            session_id,
            token_id,
            claims,
            renderer: Some(self.renderer.clone()),
        }))
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
            KeyLookup::Ready(found) => Outcome::Done(
                self.finish_api_key(api_keys, parsed, tenant, found, now)
                    .map(Some),
            ),
            KeyLookup::Pending(lookup) => {
                let this = Arc::clone(self);
                let (key, id_len) = (key.to_owned(), parsed.key_id().len());
                let tenant = tenant.map(str::to_owned);
                Outcome::Pending(Box::pin(async move {
                    let found = lookup.await;
                    let api_keys = this.api_keys.as_ref().expect("checked above");
                    let id_start = api_keys.format.prefix().len() + 1;
                    // Already parsed and checksummed: only the borrow is rebuilt.
                    let parsed = ParsedKey::checked(&key, &key[id_start..id_start + id_len]);
                    this.finish_api_key(api_keys, parsed, tenant.as_deref(), found, now)
                        .map(Some)
                }))
            }
        }
    }

    fn finish_api_key(
        &self,
        api_keys: &ApiKeys,
        parsed: ParsedKey<'_>,
        tenant: Option<&str>,
        found: crate::api_key::LookupResult,
        now: u64,
    ) -> Result<Identity, AuthError> {
        let found = found.map_err(|error| {
            tracing::debug!(error = %error, "API key provider failed");
            AuthError::new(AuthErrorKind::AuthUnavailable)
        })?;
        let record = api_keys.check(parsed, found, now)?;
        let tenant = self
            .tenants
            .select(tenant, &record.tenants, self.tenants.api_key_header)?;
        Ok(identity_for_key(
            &record,
            tenant.cloned(),
            self.renderer.clone(),
        ))
    }
}

fn identity_for_key(
    record: &KeyRecord,
    tenant: Option<crate::tenant::Tenant>,
    renderer: SharedRenderer,
) -> Identity {
    let principal = record
        .owner
        .clone()
        .unwrap_or_else(|| record.key_id.clone());
    Identity::from_inner(IdentityInner {
        principal,
        method: AuthMethod::ApiKey,
        tenant,
        scopes: record.scopes.clone(),
        expires_at: record.expires_at,
        key_id: Some(record.key_id.clone()),
        session_id: None,
        token_id: None,
        claims: None,
        renderer: Some(renderer),
    })
}
