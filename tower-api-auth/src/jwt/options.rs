//! [`JwtOptions`]: what a [`JwtValidator`](crate::JwtValidator) checks, as a plain value.

use std::any::Any;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;

use crate::jwt::cache::TokenCacheConfig;

/// What a [`JwtValidator`](crate::JwtValidator) checks beyond the signature, in the spirit of
/// jsonwebtoken's `Validation`: a plain value with public fields and chainable setters, read once
/// when the validator is built.
///
/// ```
/// use std::time::Duration;
/// use tower_api_auth::jwt::JwtOptions;
///
/// let options = JwtOptions::new()
///     .issuer("https://auth.example.test")
///     .audience("api")
///     .leeway(Duration::from_secs(30))
///     .require_typ("at+jwt");
/// assert_eq!(options.audiences, ["api"]);
/// assert_eq!(options.required_typ.as_deref(), Some("at+jwt"));
/// ```
///
/// # Claim paths
///
/// The principal, scope and tenant claims may be nested: `realm_access.roles` reads the `roles`
/// member of the `realm_access` object (Keycloak). A claim whose own name holds dots (Auth0's
/// namespaced claims, `https://example.com/tenant`) is found under its full name first.
///
/// ```
/// use tower_api_auth::jwt::JwtOptions;
///
/// let keycloak = JwtOptions::new()
///     .principal_claim("preferred_username")
///     .scope_claim("realm_access.roles");
/// let entra = JwtOptions::new().principal_claim("oid").scope_claim("scp").scope_claim("roles").tenant_claim("tid");
/// let auth0 = JwtOptions::new().scope_claim("permissions").tenant_claim("https://example.com/org");
/// # let _ = (keycloak, entra, auth0);
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct JwtOptions {
    /// Accepted `iss` values; empty accepts any (and none).
    pub issuers: Vec<String>,
    /// Accepted audiences: the token's `aud` must contain one of them. Empty refuses tokens that
    /// name an audience (RFC 7519 §4.1.3).
    pub audiences: Vec<String>,
    /// Clock skew tolerated for `exp`, `nbf` and `iat` (whole seconds). Default 60 s.
    pub leeway: Duration,
    /// The required header `typ`, without the optional `application/` prefix (compared
    /// case-insensitively, as RFC 9068 says). Default: any.
    pub required_typ: Option<String>,
    /// The longest `exp - iat` accepted; tokens without `iat` are then refused. Default: none.
    pub max_lifetime: Option<Duration>,
    /// Where the principal comes from: a claim name or a [claim path](Self#claim-paths), holding a
    /// non-empty string. Default: `sub`.
    pub principal_claim: Option<String>,
    /// The claims scopes are read from, each a space-delimited string or an array of strings, or
    /// absent; the scopes are the union of all. Default (empty): `scope`, then `scp`.
    pub scope_claims: Vec<String>,
    /// The claim tenants are read from (a string or an array). Default `tenant_id`.
    pub tenant_claim: String,
    /// The verified-token cache. Default: on, 16 MiB, entries trusted up to 5 minutes.
    pub token_cache: TokenCacheConfig,
    pub(crate) claims: Option<ClaimsType>,
}

impl Default for JwtOptions {
    fn default() -> Self {
        Self {
            issuers: Vec::new(),
            audiences: Vec::new(),
            leeway: Duration::from_secs(60),
            required_typ: None,
            max_lifetime: None,
            principal_claim: None,
            scope_claims: Vec::new(),
            tenant_claim: "tenant_id".to_owned(),
            token_cache: TokenCacheConfig::default(),
            claims: None,
        }
    }
}

impl fmt::Debug for JwtOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtOptions")
            .field("issuers", &self.issuers)
            .field("audiences", &self.audiences)
            .field("leeway", &self.leeway)
            .field("required_typ", &self.required_typ)
            .field("max_lifetime", &self.max_lifetime)
            .field("principal_claim", &self.principal_claim)
            .field("scope_claims", &self.scope_claims)
            .field("tenant_claim", &self.tenant_claim)
            .field("token_cache", &self.token_cache)
            .field("claims", &self.claims.map(|claims| claims.name))
            .finish()
    }
}

impl JwtOptions {
    /// The defaults: leeway 60 s, no issuer or audience requirement, any `typ`, scopes from
    /// `scope` or `scp`, tenants from `tenant_id`, the token cache on.
    pub fn new() -> Self {
        Self::default()
    }

    /// Accepts `iss` = `issuer` (call again to accept several).
    #[must_use]
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuers.push(issuer.into());
        self
    }

    /// Requires `aud` to contain this audience, or any other one added (any-of).
    #[must_use]
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audiences.push(audience.into());
        self
    }

    /// Clock skew tolerated for `exp`, `nbf` and `iat`. Default 60 s.
    #[must_use]
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// Requires the header `typ` (compared as RFC 9068 says: case-insensitive, `application/`
    /// optional). `require_typ("at+jwt")` accepts only RFC 9068 access tokens.
    #[must_use]
    pub fn require_typ(mut self, typ: impl Into<String>) -> Self {
        let typ = typ.into();
        let bare = match typ.get(..12) {
            Some(prefix) if prefix.eq_ignore_ascii_case("application/") => typ[12..].to_owned(),
            _ => typ,
        };
        self.required_typ = Some(bare);
        self
    }

    /// Refuses tokens whose `exp - iat` exceeds `lifetime` (and tokens without `iat`).
    #[must_use]
    pub fn max_lifetime(mut self, lifetime: Duration) -> Self {
        self.max_lifetime = Some(lifetime);
        self
    }

    /// Reads the principal from this claim or [claim path](Self#claim-paths) instead of `sub`
    /// (Entra ID's `oid`, Keycloak's `preferred_username`, …). A token without it is
    /// `invalid_token`.
    #[must_use]
    pub fn principal_claim(mut self, claim: impl Into<String>) -> Self {
        self.principal_claim = Some(claim.into());
        self
    }

    /// Reads scopes from this claim or [claim path](Self#claim-paths) (string: space-delimited;
    /// array: one scope each) instead of `scope`/`scp`. Call again to read several: the scopes
    /// are their union (Entra ID: `scp` and `roles`).
    #[must_use]
    pub fn scope_claim(mut self, claim: impl Into<String>) -> Self {
        self.scope_claims.push(claim.into());
        self
    }

    /// Reads tenants from this claim or [claim path](Self#claim-paths) (a string or an array).
    /// Default `tenant_id`.
    #[must_use]
    pub fn tenant_claim(mut self, claim: impl Into<String>) -> Self {
        self.tenant_claim = claim.into();
        self
    }

    /// Sets the verified-token cache; [`TokenCacheConfig::disabled`] turns it off.
    #[must_use]
    pub fn token_cache(mut self, config: TokenCacheConfig) -> Self {
        self.token_cache = config;
        self
    }

    /// Decodes the claims into `C` once per verified token (the token cache keeps the value);
    /// handlers read them with the [`Claims<C>`](crate::Claims) extractor or
    /// [`Identity::claims`](crate::Identity::claims). A token whose claims do not deserialize into
    /// `C` is `invalid_token` on every route.
    ///
    /// Optional: without it, `Claims<C>` (or [`Identity::decode_claims`](crate::Identity::decode_claims))
    /// reads `C` from the verified token on each request that asks, and only those requests
    /// refuse a token that does not fit.
    #[must_use]
    pub fn claims<C: DeserializeOwned + Send + Sync + 'static>(mut self) -> Self {
        self.claims = Some(ClaimsType::of::<C>());
        self
    }

    /// The name of the claims type set with [`claims`](Self::claims), if any.
    pub fn claims_type(&self) -> Option<&'static str> {
        self.claims.map(|claims| claims.name)
    }

    /// Whether the principal, scopes or tenants come from somewhere the one-pass claim reader
    /// does not look: then the payload is also read as JSON, and the mapping applied to it.
    pub(crate) fn mapped(&self) -> bool {
        let nested = |claim: &str| claim.contains('.');
        self.principal_claim.as_deref().is_some_and(|c| c != "sub")
            || self.scope_claims.len() > 1
            || self.scope_claims.iter().any(|c| nested(c))
            || nested(&self.tenant_claim)
    }
}

/// The application's claims, type-erased.
pub(crate) type AnyClaims = Arc<dyn Any + Send + Sync>;

/// How to decode the application's claims type, chosen by [`JwtOptions::claims`].
#[derive(Clone, Copy)]
pub(crate) struct ClaimsType {
    pub(crate) decode: fn(&str) -> Result<AnyClaims, serde_json::Error>,
    pub(crate) name: &'static str,
}

impl ClaimsType {
    fn of<C: DeserializeOwned + Send + Sync + 'static>() -> Self {
        Self {
            decode: |payload| Ok(Arc::new(serde_json::from_str::<C>(payload)?)),
            name: std::any::type_name::<C>(),
        }
    }
}
