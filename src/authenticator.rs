//! From a request's headers to an [`Identity`]: credential, validator, tenant rules.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use http::{HeaderMap, Uri};

use crate::api_key::{ApiKeys, KeyLookup, KeyRecord, ParsedKey};
use crate::clock::SharedClock;
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
    pub(crate) clock: SharedClock,
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

impl Authenticator {
    /// Judges the request's credentials; also says which credential headers it carries, for the
    /// caller to mark sensitive.
    pub(crate) fn authenticate(
        self: &Arc<Self>,
        headers: &HeaderMap,
        uri: &Uri,
    ) -> (Outcome, CarriedHeaders) {
        let all = || CarriedHeaders::all(&self.sources);
        let located = match self.sources.locate(headers, uri) {
            Ok(Some(located)) => located,
            // Nothing of ours, but maybe another scheme's secret: mark whatever is there.
            Ok(None) if self.optional => return (Outcome::Done(Ok(None)), all()),
            Ok(None) => {
                let missing = AuthError::new(AuthErrorKind::MissingCredentials);
                return (Outcome::Done(Err(missing)), all());
            }
            Err(error) => return (Outcome::Done(Err(error)), all()),
        };
        let now = self.clock.now();
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
        Ok(identity_for_key(&record, tenant, &self.renderer))
    }
}

/// The identity a request with `record` is given: the one kept with the record when it still
/// fits, otherwise a new one, which is kept if none is.
fn identity_for_key(
    record: &KeyRecord,
    tenant: Option<&Tenant>,
    renderer: &SharedRenderer,
) -> Identity {
    if let Some(identity) = record.identity.get()
        && identity.fits_key(record, tenant, renderer)
    {
        return identity.clone();
    }
    let principal = record
        .owner
        .clone()
        .unwrap_or_else(|| record.key_id.clone());
    let identity = Identity::from_inner(IdentityInner {
        principal,
        method: AuthMethod::ApiKey,
        tenant: tenant.cloned(),
        scopes: record.scopes.clone(),
        expires_at: record.expires_at,
        key_id: Some(record.key_id.clone()),
        session_id: None,
        token_id: None,
        claims: None,
        renderer: Some(renderer.clone()),
    });
    record.identity.offer(&identity);
    identity
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::api_key::ApiKeyHasher;
    use crate::error::ErrorFormat;
    use crate::scope::Scopes;

    fn record() -> Arc<KeyRecord> {
        let hash = ApiKeyHasher::default().hash("sk_live_k1_secret");
        Arc::new(
            KeyRecord::new("k1ABCDEFGHIJ", hash)
                .with_tenants([Tenant::new("tn_a").unwrap(), Tenant::new("tn_b").unwrap()])
                .with_scopes(Scopes::parse("read").unwrap()),
        )
    }

    #[test]
    fn a_key_s_identity_is_shared_while_it_fits_and_rebuilt_when_it_does_not() {
        let renderer = SharedRenderer::default();
        let mut record = record();
        let (tn_a, tn_b) = (record.tenants[0].clone(), record.tenants[1].clone());
        let first = identity_for_key(&record, Some(&tn_a), &renderer);
        assert!(identity_for_key(&record, Some(&tn_a), &renderer).is(&first));
        // Another tenant, another error format: built anew, with what this request selected.
        let other_tenant = identity_for_key(&record, Some(&tn_b), &renderer);
        assert!(!other_tenant.is(&first));
        assert_eq!(other_tenant.tenant(), Some(&tn_b));
        let flat = SharedRenderer::new(Arc::new(ErrorFormat::Flat), None);
        assert!(!identity_for_key(&record, Some(&tn_a), &flat).is(&first));
        // The record changed in place (a store holding the only reference may do that): the
        // identity kept with it no longer fits, field by field.
        let fields: [fn(&mut KeyRecord); 3] = [
            |r| r.scopes = Scopes::parse("read write").unwrap(),
            |r| r.expires_at = Some(4_000_000_000),
            |r| r.owner = Some(Arc::from("user_7")),
        ];
        for change in fields {
            change(Arc::get_mut(&mut record).expect("the only reference"));
            let rebuilt = identity_for_key(&record, Some(&tn_a), &renderer);
            assert!(!rebuilt.is(&first));
            assert_eq!(rebuilt.scopes(), &record.scopes);
            assert_eq!(rebuilt.expires_at(), record.expires_at);
            assert_eq!(rebuilt.principal(), record.principal());
        }
        // A copy of the record starts without one.
        let copy = KeyRecord::clone(&record);
        assert!(copy.identity.get().is_none());
    }
}
