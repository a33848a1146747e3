//! Configuration from a file: a `serde` type that builds the same layer as [`AuthLayer::builder`].
//!
//! Any serde format works; the quickstart example reads TOML:
//!
//! ```
//! # #[cfg(any(feature = "aws-lc-rs", feature = "rust-crypto"))]
//! # fn main() {
//! use tower_api_auth::config::AuthConfig;
//!
//! let config: AuthConfig = serde_json::from_value(serde_json::json!({
//!     "error_format": "problem",
//!     "jwt": {
//!         "issuers": ["https://auth.example.test"],
//!         "audiences": ["api"],
//!         "keys": [{ "kid": "2026-11", "alg": "HS256", "secret": "a-secret-of-at-least-thirty-two-bytes!!" }]
//!     },
//!     "api_keys": { "prefix": "sk_live", "keys": [] }
//! })).unwrap();
//! let layer = config.build().unwrap();
//! # let _ = layer;
//! # }
//! # #[cfg(not(any(feature = "aws-lc-rs", feature = "rust-crypto")))]
//! # fn main() {}
//! ```
//!
//! Secrets can sit in the file (`secret`, `secret_base64`), in a file of their own (`pem_file`) or,
//! best, in the environment (`secret_env`). `Debug` output never shows them, and the types are
//! deserialize-only so that no code path can write them back out.

#[cfg(feature = "issuer")]
mod clients;

#[cfg(feature = "issuer")]
pub use clients::ClientConfig;

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use http::HeaderName;
use serde::Deserialize;

use crate::api_key::{ApiKeyFormat, ApiKeyHasher, ApiKeys, KeyRecord, MemoryKeyStore};
use crate::credential::{CredentialSources, DEFAULT_MAX_TOKEN_LEN};
use crate::error::ErrorFormat;
use crate::jwt::{
    Issuer, JwksPolicy, JwtKey, JwtKeySet, JwtOptions, JwtValidator, TokenCacheConfig,
};
use crate::layer::{AuthLayer, AuthLayerBuilder};
use crate::tenant::TenantRules;

/// A configuration that cannot build a layer. The message names the offending entry, never a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid auth configuration: {}", self.0)
    }
}

impl std::error::Error for ConfigError {}

fn error(message: impl Into<String>) -> ConfigError {
    ConfigError(message.into())
}

/// The whole layer configuration.
///
/// ```
/// # #[cfg(any(feature = "aws-lc-rs", feature = "rust-crypto"))]
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use tower_api_auth::config::AuthConfig;
///
/// let config: AuthConfig = toml::from_str(r#"
///     error_format = "problem"
///     [jwt]
///     issuers = ["https://auth.example.test"]
///     audiences = ["api"]
///     keys = [{ kid = "2026-11", alg = "HS256", secret = "a-secret-of-at-least-thirty-two-bytes!!" }]
/// "#)?;
/// let layer = config.build()?;
/// # let _ = layer;
/// # Ok(()) }
/// # #[cfg(not(any(feature = "aws-lc-rs", feature = "rust-crypto")))]
/// # fn main() {}
/// ```
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct AuthConfig {
    /// Let requests without credentials through anonymously.
    pub optional: bool,
    /// The `realm` of the challenges.
    pub realm: Option<String>,
    /// The RFC 9728 metadata URL named in every `Bearer` challenge (`resource_metadata`).
    pub resource_metadata: Option<String>,
    /// The error body format: `nested` (default), `upper_case`, `flat` or `problem`.
    pub error_format: ErrorFormat,
    /// Where credentials are read from.
    pub credentials: CredentialsConfig,
    /// The tenant rules: `header` (`when_ambiguous`, the default, or `always`; see
    /// [`TenantHeader`](crate::tenant::TenantHeader)) and `max_len`.
    pub tenants: TenantRules,
    /// JWT validation; absent means JWTs are refused.
    pub jwt: Option<JwtConfig>,
    /// API keys; absent means API keys are refused.
    pub api_keys: Option<ApiKeysConfig>,
    /// RFC 7662 introspection of opaque Bearer tokens (feature `remote`); absent means opaque
    /// tokens are refused.
    pub introspection: Option<IntrospectionConfig>,
}

/// Header names and optional sources.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct CredentialsConfig {
    /// Default `X-API-Key`.
    pub api_key_header: String,
    /// Default `X-Tenant-ID`.
    pub tenant_header: String,
    /// Default 8192.
    pub max_token_len: usize,
    /// A cookie holding a Bearer token (empty means absent, stale is rejected: see
    /// [`CredentialSources::cookie`]).
    pub cookie: Option<String>,
    /// A query parameter holding a Bearer token.
    pub query_param: Option<String>,
}

impl Default for CredentialsConfig {
    fn default() -> Self {
        Self {
            api_key_header: "X-API-Key".into(),
            tenant_header: "X-Tenant-ID".into(),
            max_token_len: DEFAULT_MAX_TOKEN_LEN,
            cookie: None,
            query_param: None,
        }
    }
}

/// JWT validation settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct JwtConfig {
    /// Keys, each bound to its algorithm.
    pub keys: Vec<JwtKeyConfig>,
    /// A JWK set document in a file.
    pub jwks_file: Option<PathBuf>,
    /// Accepted issuers (`iss`); empty accepts any.
    pub issuers: Vec<String>,
    /// Accepted audiences (`aud`, any of); empty refuses tokens that name an audience.
    pub audiences: Vec<String>,
    /// Clock skew tolerance in seconds. Default 60.
    pub leeway_secs: u64,
    /// Required header `typ`, e.g. `at+jwt`.
    pub require_typ: Option<String>,
    /// Longest accepted `exp - iat`, in seconds.
    pub max_lifetime_secs: Option<u64>,
    /// The scope claim; default `scope`, then `scp`.
    pub scope_claim: Option<String>,
    /// The tenant claim; default `tenant_id`.
    pub tenant_claim: Option<String>,
    /// The verified-token cache: on by default.
    pub token_cache: bool,
    /// The cache's memory bound in bytes. Default 16 MiB.
    pub token_cache_max_bytes: u64,
    /// How long a cached token is trusted before a full re-verification, in seconds. Default 300.
    pub token_cache_max_age_secs: u64,
    /// A JWK set URL, fetched and refreshed in the background (feature `remote`).
    pub jwks_url: Option<String>,
    /// An issuer URL whose discovery document names the JWK set URL (feature `remote`); it is
    /// also the accepted `iss` when `issuers` is empty.
    pub discovery: Option<String>,
    /// Fetching and refreshing `jwks_url` or `discovery`.
    pub remote: RemoteKeysConfig,
    /// The algorithm of JWK set keys that state none and whose type leaves it open (Entra ID's
    /// RSA keys: `RS256`).
    pub default_algorithm: Option<jsonwebtoken::Algorithm>,
    /// The principal claim (or claim path); default `sub`.
    pub principal_claim: Option<String>,
    /// Several scope claims (or claim paths), their scopes joined; instead of `scope_claim`.
    pub scope_claims: Vec<String>,
    /// Several identity providers, each with its own keys, audiences and claims, chosen by the
    /// token's `iss`. Beside them, the top level's keys verify the tokens of the top level's
    /// `issuers` (a service that issues its own tokens and accepts an outside provider's, from one
    /// file): give both or neither. The token cache settings above apply to all.
    pub providers: Vec<ProviderConfig>,
}

/// One identity provider of [`JwtConfig::providers`].
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct ProviderConfig {
    /// Its `iss` (required).
    pub issuer: String,
    /// Keys, each bound to its algorithm.
    pub keys: Vec<JwtKeyConfig>,
    /// A JWK set document in a file.
    pub jwks_file: Option<PathBuf>,
    /// A JWK set URL (feature `remote`).
    pub jwks_url: Option<String>,
    /// Find the JWK set URL in the issuer's discovery document (feature `remote`).
    pub discovery: bool,
    /// Fetching and refreshing `jwks_url` or the discovered set.
    pub remote: RemoteKeysConfig,
    /// The algorithm of JWK set keys that state none and whose type leaves it open.
    pub default_algorithm: Option<jsonwebtoken::Algorithm>,
    /// Accepted audiences (`aud`, any of).
    pub audiences: Vec<String>,
    /// Clock skew tolerance in seconds. Default 60.
    pub leeway_secs: u64,
    /// Required header `typ`, e.g. `at+jwt`.
    pub require_typ: Option<String>,
    /// Longest accepted `exp - iat`, in seconds.
    pub max_lifetime_secs: Option<u64>,
    /// The principal claim (or claim path); default `sub`.
    pub principal_claim: Option<String>,
    /// The scope claims (or claim paths), their scopes joined; default `scope`, then `scp`.
    pub scope_claims: Vec<String>,
    /// The tenant claim (or claim path); default `tenant_id`.
    pub tenant_claim: Option<String>,
}

impl Default for ProviderConfig {
    fn default() -> Self {
        Self {
            issuer: String::new(),
            keys: Vec::new(),
            jwks_file: None,
            jwks_url: None,
            discovery: false,
            remote: RemoteKeysConfig::default(),
            default_algorithm: None,
            audiences: Vec::new(),
            leeway_secs: 60,
            require_typ: None,
            max_lifetime_secs: None,
            principal_claim: None,
            scope_claims: Vec::new(),
            tenant_claim: None,
        }
    }
}

/// How a remote JWK set is fetched and refreshed (see `remote::RemoteJwks`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct RemoteKeysConfig {
    /// The timeout of one fetch, in seconds. Default 5.
    pub timeout_secs: u64,
    /// The largest document read, in bytes. Default 1 MiB.
    pub max_bytes: usize,
    /// The bounds of the refresh interval `Cache-Control: max-age` sets, in seconds. Default
    /// 60 and 3600.
    pub min_refresh_secs: u64,
    /// See `min_refresh_secs`.
    pub max_refresh_secs: u64,
    /// The refresh interval without `max-age`, in seconds. Default 300.
    pub default_refresh_secs: u64,
    /// The least time between refetches asked for by unknown key ids, in seconds. Default 30.
    pub refetch_interval_secs: u64,
    /// The wait before retrying a failed fetch, in seconds. Default 10.
    pub retry_secs: u64,
    /// How long the last good set stays in use while fetches fail, in seconds; then 503.
    /// Default 86400.
    pub max_stale_secs: u64,
    /// Allow plain HTTP to hosts other than loopback addresses. Default false.
    pub allow_http: bool,
}

impl Default for RemoteKeysConfig {
    fn default() -> Self {
        Self {
            timeout_secs: 5,
            max_bytes: 1024 * 1024,
            min_refresh_secs: 60,
            max_refresh_secs: 3600,
            default_refresh_secs: 300,
            refetch_interval_secs: 30,
            retry_secs: 10,
            max_stale_secs: 24 * 3600,
            allow_http: false,
        }
    }
}

/// RFC 7662 introspection of opaque Bearer tokens (feature `remote`). The client credentials come
/// from the environment (`client_secret_env`) or a private key file (`private_key_file`), never
/// from this file.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct IntrospectionConfig {
    /// The introspection endpoint URL (required).
    pub endpoint: String,
    /// The resource server's client id (required).
    pub client_id: String,
    /// The environment variable holding the client secret (`client_secret_basic`).
    pub client_secret_env: Option<String>,
    /// A private key in PEM, for `private_key_jwt` instead of a secret.
    pub private_key_file: Option<PathBuf>,
    /// The private key's algorithm. Default `RS256`.
    pub private_key_alg: Option<jsonwebtoken::Algorithm>,
    /// The private key's `kid`.
    pub private_key_kid: Option<String>,
    /// Require the answer's `aud` to name this.
    pub audience: Option<String>,
    /// The tenant claim (or claim path) of the answer. Default `tenant_id`.
    pub tenant_claim: Option<String>,
    /// The longest an active answer is cached, in seconds (never past `exp`). Default 300.
    pub max_age_secs: u64,
    /// How long an inactive answer is cached, in seconds. Default 10.
    pub negative_ttl_secs: u64,
    /// The cache's memory bound in bytes. Default 4 MiB.
    pub cache_max_bytes: u64,
    /// The timeout of one request, in seconds. Default 5.
    pub timeout_secs: u64,
    /// The most requests in flight. Default 64.
    pub max_concurrent: usize,
    /// Allow plain HTTP to hosts other than loopback addresses. Default false.
    pub allow_http: bool,
}

impl Default for IntrospectionConfig {
    fn default() -> Self {
        Self {
            endpoint: String::new(),
            client_id: String::new(),
            client_secret_env: None,
            private_key_file: None,
            private_key_alg: None,
            private_key_kid: None,
            audience: None,
            tenant_claim: None,
            max_age_secs: 300,
            negative_ttl_secs: 10,
            cache_max_bytes: 4 * 1024 * 1024,
            timeout_secs: 5,
            max_concurrent: 64,
            allow_http: false,
        }
    }
}

impl Default for JwtConfig {
    fn default() -> Self {
        Self {
            keys: Vec::new(),
            jwks_file: None,
            issuers: Vec::new(),
            audiences: Vec::new(),
            leeway_secs: 60,
            require_typ: None,
            max_lifetime_secs: None,
            scope_claim: None,
            tenant_claim: None,
            token_cache: true,
            token_cache_max_bytes: TokenCacheConfig::default().max_bytes,
            token_cache_max_age_secs: TokenCacheConfig::default().max_age.as_secs(),
            jwks_url: None,
            discovery: None,
            remote: RemoteKeysConfig::default(),
            default_algorithm: None,
            principal_claim: None,
            scope_claims: Vec::new(),
            providers: Vec::new(),
        }
    }
}

/// One JWT key. Exactly one of `secret`, `secret_base64`, `secret_env`, `pem`, `pem_file`.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct JwtKeyConfig {
    /// The key id tokens name in their header.
    #[serde(default)]
    pub kid: Option<String>,
    /// The one algorithm this key verifies.
    pub alg: jsonwebtoken::Algorithm,
    /// An HMAC secret, as UTF-8 text.
    #[serde(default)]
    pub secret: Option<String>,
    /// An HMAC secret, base64-encoded.
    #[serde(default)]
    pub secret_base64: Option<String>,
    /// The name of an environment variable holding the HMAC secret.
    #[serde(default)]
    pub secret_env: Option<String>,
    /// A public key in PEM.
    #[serde(default)]
    pub pem: Option<String>,
    /// A file holding a public key in PEM.
    #[serde(default)]
    pub pem_file: Option<PathBuf>,
}

impl fmt::Debug for JwtKeyConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtKeyConfig")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .field(
                "secret_base64",
                &self.secret_base64.as_ref().map(|_| "<redacted>"),
            )
            .field("secret_env", &self.secret_env)
            .field("pem", &self.pem.as_ref().map(|_| "<public key>"))
            .field("pem_file", &self.pem_file)
            .finish()
    }
}

/// API key settings and, for small deployments, the key records themselves.
#[derive(Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct ApiKeysConfig {
    /// The key prefix. Default `sk_live`.
    pub prefix: String,
    /// The hashing pepper, if the hashes were made with one.
    pub pepper: Option<String>,
    /// The name of an environment variable holding the pepper.
    pub pepper_env: Option<String>,
    /// The stored keys (hashes only).
    pub keys: Vec<KeyRecord>,
}

impl Default for ApiKeysConfig {
    fn default() -> Self {
        Self {
            prefix: "sk_live".into(),
            pepper: None,
            pepper_env: None,
            keys: Vec::new(),
        }
    }
}

impl fmt::Debug for ApiKeysConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKeysConfig")
            .field("prefix", &self.prefix)
            .field("pepper", &self.pepper.as_ref().map(|_| "<redacted>"))
            .field("pepper_env", &self.pepper_env)
            .field("keys", &self.keys)
            .finish()
    }
}

impl AuthConfig {
    /// Builds the layer.
    pub fn build(&self) -> Result<AuthLayer, ConfigError> {
        self.builder()?.build().map_err(|e| error(e.to_string()))
    }

    /// Builds the layer and waits until every remote JWK set it uses has loaded (feature
    /// `remote`): the layer answers its first request with the keys at hand. Fails if one cannot
    /// be loaded. [`build`](Self::build) returns at once instead, and the tokens of a set not yet
    /// loaded are answered 503 until it has.
    #[cfg(feature = "remote")]
    pub async fn load(&self) -> Result<AuthLayer, ConfigError> {
        let mut started = Started::default();
        let layer = self
            .builder_started(&mut started)?
            .build()
            .map_err(|e| error(e.to_string()))?;
        for (_, jwks) in started.jwks {
            jwks.ready()
                .await
                .map_err(|e| error(format!("remote JWK set: {e}")))?;
        }
        Ok(layer)
    }

    /// The equivalent builder, for further settings in code (a custom renderer, a shared provider).
    pub fn builder(&self) -> Result<AuthLayerBuilder, ConfigError> {
        self.builder_started(&mut Started::default())
    }

    /// [`builder`](Self::builder), and `readiness` with a check of every remote part the layer
    /// will depend on (feature `health`): each remote JWK set, named `jwks:<issuer>` (`jwks:jwt`
    /// for the top level's), and the introspection endpoint, named `introspection`.
    ///
    /// ```
    /// use tower_api_auth::config::AuthConfig;
    /// use tower_api_auth::health::Readiness;
    ///
    /// let config: AuthConfig = toml::from_str(r#"
    ///     [api_keys]
    ///     prefix = "sk_live"
    /// "#).unwrap();
    /// let (builder, readiness) = config.builder_with_readiness(Readiness::new()).unwrap();
    /// let layer = builder.build().unwrap();
    /// # let _ = (layer, readiness);
    /// ```
    #[cfg(feature = "health")]
    pub fn builder_with_readiness(
        &self,
        readiness: crate::health::Readiness,
    ) -> Result<(AuthLayerBuilder, crate::health::Readiness), ConfigError> {
        let mut started = Started::default();
        let builder = self.builder_started(&mut started)?;
        #[cfg(feature = "remote")]
        let readiness = {
            let mut readiness = readiness;
            for (name, jwks) in &started.jwks {
                readiness = readiness.remote_jwks(format!("jwks:{name}"), jwks);
            }
            if let Some(introspection) = &started.introspection {
                readiness = readiness.introspection("introspection", introspection);
            }
            readiness
        };
        Ok((builder, readiness))
    }

    fn builder_started(&self, started: &mut Started) -> Result<AuthLayerBuilder, ConfigError> {
        let mut builder = AuthLayer::builder()
            .credentials(self.credentials.to_sources()?)
            .tenant_rules(self.tenants.clone())
            .error_format(self.error_format);
        if self.optional {
            builder = builder.optional();
        }
        if let Some(url) = &self.resource_metadata {
            builder = builder.resource_metadata(url.as_str());
        }
        if let Some(realm) = &self.realm {
            builder = builder.realm(realm.as_str());
        }
        if let Some(jwt) = &self.jwt {
            builder = builder.jwt(jwt.validator_started(started)?);
        }
        if let Some(api_keys) = &self.api_keys {
            builder = builder.api_keys(api_keys.api_keys()?);
        }
        if let Some(introspection) = &self.introspection {
            builder = introspection.add_to(builder, started)?;
        }
        Ok(builder)
    }
}

/// The remote key sets a configuration started, for [`AuthConfig::load`] to wait on.
#[derive(Default)]
struct Started {
    /// Each remote key set, with the name of the issuer (or `jwt`) it serves.
    #[cfg(feature = "remote")]
    jwks: Vec<(String, crate::remote::RemoteJwks)>,
    #[cfg(feature = "remote")]
    introspection: Option<crate::remote::Introspection>,
}

/// Where one issuer's keys come from, as the configuration says.
struct KeySpec<'a> {
    name: &'a str,
    keys: &'a [JwtKeyConfig],
    jwks_file: Option<&'a PathBuf>,
    jwks_url: Option<&'a str>,
    /// The issuer to discover the JWK set of.
    discovery: Option<&'a str>,
    #[cfg_attr(not(feature = "remote"), allow(dead_code))]
    remote: &'a RemoteKeysConfig,
    default_algorithm: Option<jsonwebtoken::Algorithm>,
}

/// Keys fixed at start, or fetched.
enum Keys {
    Fixed(JwtKeySet),
    #[cfg(feature = "remote")]
    Remote(crate::remote::RemoteJwks),
}

impl KeySpec<'_> {
    fn keys(&self, started: &mut Started) -> Result<Keys, ConfigError> {
        let name = self.name;
        let remote = self.jwks_url.is_some() || self.discovery.is_some();
        if remote && (self.jwks_file.is_some() || !self.keys.is_empty()) {
            return Err(error(format!(
                "{name}: give keys/jwks_file or a remote set (jwks_url, discovery), not both"
            )));
        }
        if remote {
            return self.remote(started);
        }
        let mut policy = JwksPolicy::new();
        if let Some(alg) = self.default_algorithm {
            policy = policy.default_algorithm(alg);
        }
        let mut keys = match self.jwks_file {
            Some(path) => {
                let json = std::fs::read_to_string(path)
                    .map_err(|e| error(format!("jwks_file {}: {e}", path.display())))?;
                JwtKeySet::from_jwks_with(&json, &policy)
                    .map_err(|e| error(format!("jwks_file {}: {e}", path.display())))?
            }
            None => JwtKeySet::new(),
        };
        for (i, key) in self.keys.iter().enumerate() {
            let kid = key.kid.clone().unwrap_or_else(|| format!("#{i}"));
            let built = key
                .to_key()
                .map_err(|e| error(format!("jwt key {kid}: {e}")))?;
            keys.insert(built).map_err(|e| error(e.to_string()))?;
        }
        if keys.is_empty() {
            return Err(error(format!(
                "{name}: no keys (give `keys`, `jwks_file`, `jwks_url` or `discovery`)"
            )));
        }
        Ok(Keys::Fixed(keys))
    }

    #[cfg(not(feature = "remote"))]
    fn remote(&self, _started: &mut Started) -> Result<Keys, ConfigError> {
        Err(error(format!(
            "{}: jwks_url and discovery need the `remote` feature of tower-api-auth",
            self.name
        )))
    }

    #[cfg(feature = "remote")]
    fn remote(&self, started: &mut Started) -> Result<Keys, ConfigError> {
        use crate::remote::RemoteJwks;
        let r = self.remote;
        let mut builder = match (self.jwks_url, self.discovery) {
            (Some(url), _) => RemoteJwks::builder(url),
            (None, Some(issuer)) => RemoteJwks::discover(issuer),
            (None, None) => unreachable!("a remote set was asked for"),
        }
        .timeout(Duration::from_secs(r.timeout_secs))
        .max_bytes(r.max_bytes)
        .refresh_bounds(
            Duration::from_secs(r.min_refresh_secs),
            Duration::from_secs(r.max_refresh_secs),
        )
        .default_refresh(Duration::from_secs(r.default_refresh_secs))
        .refetch_interval(Duration::from_secs(r.refetch_interval_secs))
        .retry_interval(Duration::from_secs(r.retry_secs))
        .max_stale(Duration::from_secs(r.max_stale_secs))
        .allow_http(r.allow_http);
        if let Some(alg) = self.default_algorithm {
            builder = builder.default_algorithm(alg);
        }
        let jwks = builder
            .build()
            .map_err(|e| error(format!("{}: {e}", self.name)))?;
        started.jwks.push((self.name.to_owned(), jwks.clone()));
        Ok(Keys::Remote(jwks))
    }
}

/// The claim settings shared by the top-level JWT settings and each provider.
struct OptionSpec<'a> {
    audiences: &'a [String],
    leeway_secs: u64,
    require_typ: Option<&'a str>,
    max_lifetime_secs: Option<u64>,
    principal_claim: Option<&'a str>,
    scope_claims: Vec<String>,
    tenant_claim: Option<&'a str>,
}

impl OptionSpec<'_> {
    fn options(&self) -> JwtOptions {
        let mut options = JwtOptions::new().leeway(Duration::from_secs(self.leeway_secs));
        options.audiences = self.audiences.to_vec();
        if let Some(typ) = self.require_typ {
            options = options.require_typ(typ);
        }
        if let Some(secs) = self.max_lifetime_secs {
            options = options.max_lifetime(Duration::from_secs(secs));
        }
        if let Some(claim) = self.principal_claim {
            options = options.principal_claim(claim);
        }
        options.scope_claims.clone_from(&self.scope_claims);
        if let Some(claim) = self.tenant_claim {
            options = options.tenant_claim(claim);
        }
        options
    }
}

impl ProviderConfig {
    fn issuer(&self, started: &mut Started) -> Result<Issuer, ConfigError> {
        if self.issuer.is_empty() {
            return Err(error("jwt.providers: every provider needs an `issuer`"));
        }
        let keys = KeySpec {
            name: &self.issuer,
            keys: &self.keys,
            jwks_file: self.jwks_file.as_ref(),
            jwks_url: self.jwks_url.as_deref(),
            discovery: self.discovery.then_some(self.issuer.as_str()),
            remote: &self.remote,
            default_algorithm: self.default_algorithm,
        }
        .keys(started)?;
        let options = OptionSpec {
            audiences: &self.audiences,
            leeway_secs: self.leeway_secs,
            require_typ: self.require_typ.as_deref(),
            max_lifetime_secs: self.max_lifetime_secs,
            principal_claim: self.principal_claim.as_deref(),
            scope_claims: self.scope_claims.clone(),
            tenant_claim: self.tenant_claim.as_deref(),
        }
        .options();
        Ok(match keys {
            Keys::Fixed(keys) => Issuer::new(self.issuer.as_str(), keys, options),
            #[cfg(feature = "remote")]
            Keys::Remote(jwks) => Issuer::with_source(self.issuer.as_str(), jwks, options),
        })
    }
}

impl IntrospectionConfig {
    #[cfg(not(feature = "remote"))]
    fn add_to(
        &self,
        _builder: AuthLayerBuilder,
        _started: &mut Started,
    ) -> Result<AuthLayerBuilder, ConfigError> {
        Err(error(
            "introspection needs the `remote` feature of tower-api-auth",
        ))
    }

    #[cfg(feature = "remote")]
    fn add_to(
        &self,
        builder: AuthLayerBuilder,
        started: &mut Started,
    ) -> Result<AuthLayerBuilder, ConfigError> {
        use crate::remote::{ClientAuth, Introspection};
        if self.endpoint.is_empty() || self.client_id.is_empty() {
            return Err(error("introspection: give `endpoint` and `client_id`"));
        }
        let auth = match (&self.client_secret_env, &self.private_key_file) {
            (Some(var), None) => {
                let secret = std::env::var(var)
                    .map_err(|_| error(format!("environment variable {var} is not set")))?;
                ClientAuth::basic(self.client_id.as_str(), secret)
            }
            (None, Some(path)) => {
                let pem = std::fs::read(path).map_err(|e| {
                    error(format!(
                        "introspection.private_key_file {}: {e}",
                        path.display()
                    ))
                })?;
                let alg = self
                    .private_key_alg
                    .unwrap_or(jsonwebtoken::Algorithm::RS256);
                let auth = ClientAuth::private_key_jwt(self.client_id.as_str(), alg, &pem)
                    .map_err(|e| error(format!("introspection.private_key_file: {e}")))?;
                match &self.private_key_kid {
                    Some(kid) => auth.with_kid(kid.as_str()),
                    None => auth,
                }
            }
            _ => {
                return Err(error(
                    "introspection: give one of client_secret_env and private_key_file",
                ));
            }
        };
        let mut introspection = Introspection::builder(self.endpoint.as_str(), auth)
            .max_age(Duration::from_secs(self.max_age_secs))
            .negative_ttl(Duration::from_secs(self.negative_ttl_secs))
            .max_bytes(self.cache_max_bytes)
            .timeout(Duration::from_secs(self.timeout_secs))
            .max_concurrent(self.max_concurrent)
            .allow_http(self.allow_http);
        if let Some(audience) = &self.audience {
            introspection = introspection.audience(audience.as_str());
        }
        if let Some(claim) = &self.tenant_claim {
            introspection = introspection.tenant_claim(claim.as_str());
        }
        let introspection = introspection
            .build()
            .map_err(|e| error(format!("introspection: {e}")))?;
        started.introspection = Some(introspection.clone());
        Ok(builder.opaque_tokens(introspection))
    }
}

impl CredentialsConfig {
    fn to_sources(&self) -> Result<CredentialSources, ConfigError> {
        let header = |name: &str| {
            HeaderName::try_from(name).map_err(|_| error(format!("{name:?} is not a header name")))
        };
        Ok(CredentialSources {
            api_key_header: header(&self.api_key_header)?,
            tenant_header: header(&self.tenant_header)?,
            max_token_len: self.max_token_len,
            cookie: self.cookie.clone(),
            query_param: self.query_param.clone(),
        })
    }
}

impl JwtConfig {
    /// The validator these settings describe. A remote key set (`jwks_url`, `discovery`,
    /// providers with either) starts loading in the background: this needs a tokio runtime.
    pub fn validator(&self) -> Result<JwtValidator, ConfigError> {
        self.validator_started(&mut Started::default())
    }

    fn validator_started(&self, started: &mut Started) -> Result<JwtValidator, ConfigError> {
        let cache = TokenCacheConfig::default()
            .enabled(self.token_cache)
            .max_bytes(self.token_cache_max_bytes)
            .max_age(Duration::from_secs(self.token_cache_max_age_secs));
        if !self.providers.is_empty() {
            // The top level is one more issuer beside the providers: a service's own tokens
            // (its `issuers`, verified with its `keys`) and outside providers' in one file.
            let mut issuers = self.own_issuers(started)?;
            for provider in &self.providers {
                issuers.push(provider.issuer(started)?);
            }
            return JwtValidator::issuers(issuers, cache).map_err(|e| error(format!("jwt: {e}")));
        }
        let (keys, options) = self.top_level(started)?;
        let mut options = options.token_cache(cache);
        options.issuers.clone_from(&self.issuers);
        if options.issuers.is_empty()
            && let Some(issuer) = &self.discovery
        {
            options.issuers.push(issuer.clone());
        }
        Ok(match keys {
            Keys::Fixed(keys) => JwtValidator::new(keys, options),
            #[cfg(feature = "remote")]
            Keys::Remote(jwks) => JwtValidator::from_source(jwks, options),
        })
    }

    /// Beside `providers`: the top level's keys as one issuer per name in `issuers` (or the
    /// `discovery` issuer), none when the top level gives no keys.
    fn own_issuers(&self, started: &mut Started) -> Result<Vec<Issuer>, ConfigError> {
        let has_keys = !self.keys.is_empty()
            || self.jwks_file.is_some()
            || self.jwks_url.is_some()
            || self.discovery.is_some();
        let mut names = self.issuers.clone();
        if names.is_empty()
            && let Some(issuer) = &self.discovery
        {
            names.push(issuer.clone());
        }
        match (has_keys, names.is_empty()) {
            (false, true) => return Ok(Vec::new()),
            (false, false) => {
                return Err(error(
                    "jwt: top-level `issuers` beside `providers` need top-level keys to verify them",
                ));
            }
            (true, true) => {
                return Err(error(
                    "jwt: top-level keys beside `providers` need `issuers`: the `iss` of the tokens they verify",
                ));
            }
            (true, false) => {}
        }
        let (keys, options) = self.top_level(started)?;
        Ok(names
            .iter()
            .map(|name| match &keys {
                Keys::Fixed(keys) => Issuer::new(name.as_str(), keys.clone(), options.clone()),
                #[cfg(feature = "remote")]
                Keys::Remote(jwks) => {
                    Issuer::with_source(name.as_str(), jwks.clone(), options.clone())
                }
            })
            .collect())
    }

    /// The top level's keys and options (without issuers or the token cache).
    fn top_level(&self, started: &mut Started) -> Result<(Keys, JwtOptions), ConfigError> {
        let keys = KeySpec {
            name: "jwt",
            keys: &self.keys,
            jwks_file: self.jwks_file.as_ref(),
            jwks_url: self.jwks_url.as_deref(),
            discovery: self.discovery.as_deref(),
            remote: &self.remote,
            default_algorithm: self.default_algorithm,
        }
        .keys(started)?;
        let mut scope_claims: Vec<String> = self.scope_claim.iter().cloned().collect();
        scope_claims.extend(self.scope_claims.iter().cloned());
        let options = OptionSpec {
            audiences: &self.audiences,
            leeway_secs: self.leeway_secs,
            require_typ: self.require_typ.as_deref(),
            max_lifetime_secs: self.max_lifetime_secs,
            principal_claim: self.principal_claim.as_deref(),
            scope_claims,
            tenant_claim: self.tenant_claim.as_deref(),
        }
        .options();
        Ok((keys, options))
    }
}

impl JwtKeyConfig {
    /// The HMAC secret this entry gives (`secret`, `secret_base64` or `secret_env`), `None` for a
    /// public key — e.g. for an issuer that signs with the same key the layer verifies with.
    pub fn hmac_secret(&self) -> Result<Option<Vec<u8>>, ConfigError> {
        let name = self.kid.as_deref().unwrap_or("(no kid)");
        self.secret_bytes()
            .map_err(|e| error(format!("jwt key {name}: {e}")))
    }

    fn secret_bytes(&self) -> Result<Option<Vec<u8>>, String> {
        if let Some(secret) = &self.secret {
            return Ok(Some(secret.as_bytes().to_vec()));
        }
        if let Some(encoded) = &self.secret_base64 {
            return base64::engine::general_purpose::STANDARD
                .decode(encoded.trim())
                .map(Some)
                .map_err(|_| "secret_base64 is not base64".to_owned());
        }
        if let Some(var) = &self.secret_env {
            return std::env::var(var)
                .map(|secret| Some(secret.into_bytes()))
                .map_err(|_| format!("environment variable {var} is not set"));
        }
        Ok(None)
    }

    fn to_key(&self) -> Result<JwtKey, String> {
        let sources = [
            self.secret.is_some(),
            self.secret_base64.is_some(),
            self.secret_env.is_some(),
            self.pem.is_some(),
            self.pem_file.is_some(),
        ];
        if sources.iter().filter(|&&given| given).count() != 1 {
            return Err(
                "give exactly one of secret, secret_base64, secret_env, pem, pem_file".into(),
            );
        }
        let key = if let Some(secret) = self.secret_bytes()? {
            JwtKey::hmac(self.alg, &secret)
        } else if let Some(pem) = &self.pem {
            JwtKey::from_pem(self.alg, pem.as_bytes())
        } else if let Some(path) = &self.pem_file {
            let pem = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
            JwtKey::from_pem(self.alg, &pem)
        } else {
            unreachable!("exactly one source was checked above")
        }
        .map_err(|e| e.to_string())?;
        Ok(match &self.kid {
            Some(kid) => key.with_kid(kid.as_str()),
            None => key,
        })
    }
}

impl ApiKeysConfig {
    /// The API-key settings, with the configured records in a [`MemoryKeyStore`].
    pub fn api_keys(&self) -> Result<ApiKeys, ConfigError> {
        let format =
            ApiKeyFormat::new(&self.prefix).map_err(|e| error(format!("api_keys.prefix: {e}")))?;
        let pepper = match (&self.pepper, &self.pepper_env) {
            (Some(_), Some(_)) => {
                return Err(error("api_keys: give pepper or pepper_env, not both"));
            }
            (Some(pepper), None) => Some(pepper.clone()),
            (None, Some(var)) => Some(
                std::env::var(var)
                    .map_err(|_| error(format!("environment variable {var} is not set")))?,
            ),
            (None, None) => None,
        };
        let hasher = pepper.map_or_else(ApiKeyHasher::default, |p| {
            ApiKeyHasher::with_pepper(p.as_bytes())
        });
        let provider: MemoryKeyStore = self.keys.iter().cloned().collect();
        if provider.len() != self.keys.len() {
            return Err(error("api_keys.keys: two records share a key_id"));
        }
        Ok(ApiKeys::from_shared(Arc::new(provider))
            .format(format)
            .hasher(hasher))
    }
}

#[cfg(all(test, any(feature = "aws-lc-rs", feature = "rust-crypto")))]
mod tests {
    use super::*;

    #[test]
    fn key_sources_are_exclusive() {
        let config: JwtConfig = serde_json::from_str(
            r#"{"keys":[{"alg":"HS256","secret":"a-secret-of-at-least-thirty-two-bytes!!","secret_env":"X"}]}"#,
        )
        .unwrap();
        let err = config.validator().unwrap_err().to_string();
        assert!(err.contains("exactly one"), "{err}");
        assert!(!err.contains("thirty-two"), "the secret leaked: {err}");
    }

    #[test]
    fn the_token_cache_is_configurable() {
        let config: JwtConfig = serde_json::from_str(
            r#"{"keys":[{"alg":"HS256","secret":"a-secret-of-at-least-thirty-two-bytes!!"}],"token_cache_max_bytes":4096}"#,
        )
        .unwrap();
        assert_eq!(
            config.validator().unwrap().cache_stats().unwrap().max_bytes,
            4096
        );
        let config: JwtConfig = serde_json::from_str(
            r#"{"keys":[{"alg":"HS256","secret":"a-secret-of-at-least-thirty-two-bytes!!"}],"token_cache":false}"#,
        )
        .unwrap();
        assert!(config.validator().unwrap().cache_stats().is_none());
    }

    #[test]
    fn unknown_fields_are_refused() {
        assert!(serde_json::from_str::<AuthConfig>(r#"{"jwtt":{}}"#).is_err());
    }

    #[test]
    fn one_tenant_header_rule_for_every_credential() {
        use crate::tenant::TenantHeader;
        let config: AuthConfig = serde_json::from_str(r#"{"tenants":{}}"#).unwrap();
        assert_eq!(config.tenants.header, TenantHeader::WhenAmbiguous);
        let config: AuthConfig =
            serde_json::from_str(r#"{"tenants":{"header":"always","max_len":32}}"#).unwrap();
        assert_eq!(config.tenants.header, TenantHeader::Always);
        assert_eq!(config.tenants.max_len, 32);
        // The per-credential knobs of earlier versions are gone: a file that still has them is
        // refused with their name, not quietly given other rules.
        for old in [
            r#"{"api_key_header":"required"}"#,
            r#"{"jwt_header":"optional"}"#,
        ] {
            let json = format!(r#"{{"tenants":{old}}}"#);
            let error = serde_json::from_str::<AuthConfig>(&json).unwrap_err();
            assert!(error.to_string().contains("_header"), "{error}");
        }
    }

    #[test]
    fn debug_hides_secrets() {
        let config: AuthConfig = serde_json::from_str(
            r#"{"jwt":{"keys":[{"alg":"HS256","secret":"a-secret-of-at-least-thirty-two-bytes!!"}]},"api_keys":{"pepper":"pepper-value"}}"#,
        )
        .unwrap();
        let debug = format!("{config:?}");
        assert!(
            !debug.contains("thirty-two") && !debug.contains("pepper-value"),
            "{debug}"
        );
        assert!(config.build().is_ok());
    }

    #[test]
    fn a_bad_prefix_or_header_is_a_clear_error() {
        let config: AuthConfig =
            serde_json::from_str(r#"{"api_keys":{"prefix":"SK-LIVE"}}"#).unwrap();
        assert!(config.build().unwrap_err().to_string().contains("prefix"));
        let config: AuthConfig =
            serde_json::from_str(r#"{"credentials":{"api_key_header":"bad header"}}"#).unwrap();
        assert!(config.build().unwrap_err().to_string().contains("header"));
    }
}
