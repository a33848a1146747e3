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
    /// The one claim scopes are read from (a space-delimited string or an array). Default: `scope`,
    /// then `scp`.
    pub scope_claim: Option<String>,
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
            scope_claim: None,
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
            .field("scope_claim", &self.scope_claim)
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

    /// Reads scopes from this claim only (string: space-delimited; array: one scope each).
    #[must_use]
    pub fn scope_claim(mut self, claim: impl Into<String>) -> Self {
        self.scope_claim = Some(claim.into());
        self
    }

    /// Reads tenants from this claim (a string or an array). Default `tenant_id`.
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

    /// Decodes the claims into `C` once per verified token; handlers read them with the
    /// [`Claims<C>`](crate::Claims) extractor or [`Identity::claims`](crate::Identity::claims). A
    /// token whose claims do not deserialize into `C` is `invalid_token`.
    #[must_use]
    pub fn claims<C: DeserializeOwned + Send + Sync + 'static>(mut self) -> Self {
        self.claims = Some(ClaimsType::of::<C>());
        self
    }

    /// The name of the claims type set with [`claims`](Self::claims), if any.
    pub fn claims_type(&self) -> Option<&'static str> {
        self.claims.map(|claims| claims.name)
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
