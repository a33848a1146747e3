//! From a request's headers to an [`Identity`]: credential, validator, revocation, tenant rules.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use http::{HeaderMap, Uri};

use crate::api_key::{ApiKeys, KeyRecord, ParsedKey, is_key_of_any_prefix};
use crate::clock::SharedClock;
use crate::credential::{CredentialSources, LocatedCredential, UncheckedToken};
use crate::error::{AuthError, AuthErrorKind};
use crate::identity::{AuthMethod, Identity, Parts};
use crate::jwt::{Check, JwtValidator, VerifiedJwt};
use crate::opaque::{OpaqueToken, OpaqueTokenValidator};
use crate::store::{Lookup, RevocationCheck, StoreError};
use crate::tenant::TenantRules;

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
    pub(crate) opaque: Option<Arc<dyn OpaqueTokenValidator>>,
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
            .field("opaque", &self.opaque)
            .field("tenants", &self.tenants)
            .field("clock", &self.clock)
            .finish_non_exhaustive()
    }
}

impl Authenticator {
    /// Judges the request's credentials: `Ok(None)` when it carries none of ours.
    pub(crate) fn authenticate(self: &Arc<Self>, headers: &HeaderMap, uri: &Uri) -> Outcome {
        let located = match self.sources.locate(headers, uri) {
            Ok(Some(located)) => located,
            Ok(None) => return Outcome::Done(Ok(None)),
            Err(error) => return Outcome::Done(Err(error)),
        };
        let now = self.clock.now();
        let tenant = located.tenant;
        let token = match located.credential {
            LocatedCredential::ApiKey(key) => return self.api_key(key, tenant, now),
            LocatedCredential::Bearer(token) => token,
        };
        // A Bearer token in the API-key format is an API key; one shaped like a JWT is a JWT
        // (when JWTs are accepted); any other is opaque, for introspection when configured.
        let bytes = token.as_bytes();
        let is_api_key =
            (self.api_keys.as_ref()).is_some_and(|keys| keys.format.claims_bytes(bytes));
        let is_opaque = self.opaque.is_some() && (self.jwt.is_none() || !looks_like_jwt(bytes));
        if is_api_key || is_opaque {
            return match token.check() {
                Err(error) => Outcome::Done(Err(error)),
                Ok(token) if is_api_key => self.api_key(token, tenant, now),
                // An API key of another prefix is a secret of ours, not a token of the
                // introspection endpoint's: it is never sent there.
                Ok(_) if is_key_of_any_prefix(bytes) => Outcome::Done(Err(self.misdirected_key())),
                Ok(token) => {
                    self.opaque(self.opaque.as_ref().expect("checked"), token, tenant, now)
                }
            };
        }
        self.jwt(token, tenant, now)
    }

    /// The answer to an API key of a format this layer does not take: `invalid_api_key` naming
    /// the prefix it does take, or `api_key_not_accepted` when it takes no keys at all.
    fn misdirected_key(&self) -> AuthError {
        match &self.api_keys {
            Some(api_keys) => api_keys.format.foreign_key_error(),
            None => AuthError::new(AuthErrorKind::ApiKeysNotAccepted),
        }
    }

    /// What to say of a Bearer token that failed as a JWT, if it is no JWT at all: a key of
    /// another prefix is told so (not "not a JWT", which points the wrong way), and any other
    /// token without a dot is told what this layer's keys look like. Called on failures only,
    /// so a JWT that verifies pays nothing for it.
    fn not_a_jwt(&self, token: &[u8]) -> Option<AuthError> {
        if is_key_of_any_prefix(token) {
            return Some(self.misdirected_key());
        }
        let prefix = self.api_keys.as_ref()?.format.prefix();
        // A JWS has two dots: a token without any is not a mangled JWT.
        (!token.contains(&b'.')).then(|| {
            AuthError::new(AuthErrorKind::InvalidToken).with_message(format!(
                "The token is neither a JWT nor an API key of this service (its keys start with {prefix}_)"
            ))
        })
    }

    /// A JWT is verified as bytes and syntax-checked only when it fails: every segment of a token
    /// that verifies decoded as base64url, so it is a `b64token`, and the scan (2.5 instructions
    /// a byte even as SIMD: some 1,400 of the 6,800 a cached RS256 request costs over the bare
    /// router, per callgrind) is needed only to answer a malformed one 400 rather than 401.
    fn jwt(self: &Arc<Self>, token: UncheckedToken<'_>, tenant: Option<&str>, now: u64) -> Outcome {
        let Some(validator) = &self.jwt else {
            if let Err(error) = token.check() {
                return Outcome::Done(Err(error));
            }
            return Outcome::Done(Err(self.not_a_jwt(token.as_bytes()).unwrap_or_else(|| {
                AuthError::new(AuthErrorKind::InvalidToken)
                    .with_message("This service does not accept JWTs")
            })));
        };
        match validator.check(token.as_bytes(), now) {
            Check::Done(Ok(jwt)) => match self.jwt_identity(&jwt, tenant, now) {
                Ok(identity) => self.check_exchanged_key(identity, now),
                Err(error) => Outcome::Done(Err(error)),
            },
            Check::Done(Err(error)) => Outcome::Done(Err(token
                .check()
                .err()
                .or_else(|| self.not_a_jwt(token.as_bytes()))
                .unwrap_or(error))),
            // The token names a key its issuer's remote set lacks, and a newer set is being
            // fetched: wait for it (the source bounds the wait), then look once more.
            Check::Wait(wait) => {
                let token = match token.check() {
                    Ok(token) => token.to_owned(),
                    Err(error) => return Outcome::Done(Err(error)),
                };
                let this = Arc::clone(self);
                let tenant = tenant.map(str::to_owned);
                Outcome::Pending(Box::pin(async move {
                    wait.await;
                    let now = this.clock.now();
                    let validator = this.jwt.as_ref().expect("checked above");
                    let jwt = validator.verified(token.as_bytes(), now)?;
                    let identity = this.jwt_identity(&jwt, tenant.as_deref(), now)?;
                    match this.check_exchanged_key(identity, now) {
                        Outcome::Done(result) => result,
                        Outcome::Pending(lookup) => lookup.await,
                    }
                }))
            }
        }
    }

    fn jwt_identity(
        &self,
        jwt: &VerifiedJwt,
        tenant: Option<&str>,
        now: u64,
    ) -> Result<Identity, AuthError> {
        // A verified token, cached or not, still passes revocation and the tenant rules on every
        // request.
        self.check_revocation(jwt, now)?;
        let tenant = self.tenants.select(tenant, &jwt.tenants)?;
        Ok(jwt.identity(tenant.cloned()))
    }

    /// A token exchanged for an API key (its `api_key_id` claim) is refused as soon as the key
    /// would be: revoked or disabled (`api_key_revoked`), expired (`api_key_expired`), or gone
    /// (`token_revoked`), by the same provider, so by the same rule on every path that changes a
    /// key (a store call, the key manager, the admin API, the command line), as fast as the
    /// provider learns of it. A known key costs a lookup in the provider's memory (a cached
    /// provider answers from its cache); tokens without the claim cost nothing. Without API keys
    /// the layer cannot tell, and the token service's refresh is the check.
    fn check_exchanged_key(&self, identity: Identity, now: u64) -> Outcome {
        let (Some(api_keys), Some(key_id)) = (&self.api_keys, identity.api_key_id()) else {
            return Outcome::Done(Ok(Some(identity)));
        };
        // The record goes with the identity: per-key rules (a rate-limit plan) follow the key
        // into the tokens exchanged for it.
        match api_keys.provider.lookup(key_id) {
            Lookup::Ready(found) => Outcome::Done(
                exchanged_key_usable(found, now)
                    .map(|record| Some(identity.with_key_record(record))),
            ),
            Lookup::Pending(lookup) => Outcome::Pending(Box::pin(async move {
                let record = exchanged_key_usable(lookup.await, now)?;
                Ok(Some(identity.with_key_record(record)))
            })),
        }
    }

    fn check_revocation(&self, jwt: &VerifiedJwt, now: u64) -> Result<(), AuthError> {
        let Some(revocation) = &self.revocation else {
            return Ok(());
        };
        let revoked = revocation
            .is_revoked(
                jwt.facts.session_id.as_deref(),
                jwt.facts.token_id.as_deref(),
                now,
            )
            .map_err(|error| {
                tracing::debug!(error = %error, "revocation check failed");
                AuthError::new(AuthErrorKind::AuthUnavailable)
            })?;
        if revoked {
            return Err(AuthError::new(AuthErrorKind::TokenRevoked));
        }
        Ok(())
    }

    fn opaque(
        self: &Arc<Self>,
        validator: &Arc<dyn OpaqueTokenValidator>,
        token: &str,
        tenant: Option<&str>,
        now: u64,
    ) -> Outcome {
        match validator.validate(token, now) {
            Lookup::Ready(result) => Outcome::Done(
                result
                    .and_then(|t| self.opaque_identity(t, tenant))
                    .map(Some),
            ),
            Lookup::Pending(lookup) => {
                let this = Arc::clone(self);
                let tenant = tenant.map(str::to_owned);
                Outcome::Pending(Box::pin(async move {
                    let token = lookup.await?;
                    this.opaque_identity(token, tenant.as_deref()).map(Some)
                }))
            }
        }
    }

    fn opaque_identity(
        &self,
        token: OpaqueToken,
        tenant: Option<&str>,
    ) -> Result<Identity, AuthError> {
        let tenant = self.tenants.select(tenant, &token.tenants)?;
        Ok(Identity::from_parts(
            Parts {
                principal: token.principal,
                method: AuthMethod::OpaqueToken,
                scopes: token.scopes,
                expires_at: token.expires_at,
                key_id: None,
                session_id: None,
                token_id: token.token_id,
                client_id: token.client_id,
                api_key_id: None,
                issuer: None,
                claims: None,
                payload: None,
            },
            tenant.cloned(),
        ))
    }

    fn api_key(self: &Arc<Self>, key: &str, tenant: Option<&str>, now: u64) -> Outcome {
        let Some(api_keys) = &self.api_keys else {
            // Not `invalid_api_key`: the key may be fine where keys are accepted, and a client
            // told its key is invalid would go and replace a good one.
            return Outcome::Done(Err(AuthError::new(AuthErrorKind::ApiKeysNotAccepted)));
        };
        // The checksum rejects typos and random probes before the store is asked anything.
        let Ok(parsed) = api_keys.format.parse(key) else {
            return Outcome::Done(Err(api_keys.malformed(key)));
        };
        match api_keys.provider.lookup(parsed.key_id()) {
            Lookup::Ready(found) => {
                Outcome::Done(self.finish_api_key(api_keys, parsed, tenant, found, now))
            }
            Lookup::Pending(lookup) => {
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
        found: Result<Option<Arc<KeyRecord>>, StoreError>,
        now: u64,
    ) -> AuthResult {
        let found = found.map_err(|error| {
            tracing::debug!(error = %error, "API key store failed");
            AuthError::new(AuthErrorKind::AuthUnavailable)
        })?;
        let record = api_keys.check(parsed, found, now)?;
        let tenant = self.tenants.select(tenant, &record.tenants)?.cloned();
        Ok(Some(Identity::of_key(record, tenant)))
    }
}

/// Whether the key a token was exchanged for, as the provider found it, still stands at `now`.
fn exchanged_key_usable(
    found: Result<Option<Arc<KeyRecord>>, StoreError>,
    now: u64,
) -> Result<Arc<KeyRecord>, AuthError> {
    let found = found.map_err(|error| {
        tracing::debug!(error = %error, "API key store failed");
        AuthError::new(AuthErrorKind::AuthUnavailable)
    })?;
    let record = found.ok_or_else(|| {
        AuthError::new(AuthErrorKind::TokenRevoked)
            .with_message("The API key this token was exchanged for no longer exists")
    })?;
    record.check_usable(now)?;
    Ok(record)
}

/// Whether a Bearer token has the shape of a JWS (three segments): then it is a JWT, and any
/// other token is opaque.
fn looks_like_jwt(token: &[u8]) -> bool {
    token.iter().filter(|&&b| b == b'.').count() == 2
}
