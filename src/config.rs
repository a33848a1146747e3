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

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use http::HeaderName;
use serde::Deserialize;

use crate::api_key::{ApiKeyFormat, ApiKeyHasher, ApiKeys, KeyRecord, MemoryKeyProvider};
use crate::credential::{CredentialSources, DEFAULT_MAX_TOKEN_LEN};
use crate::error::ErrorFormat;
use crate::jwt::{JwtKey, JwtKeySet, JwtOptions, JwtValidator, TokenCacheConfig};
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
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct AuthConfig {
    /// Let requests without credentials through anonymously.
    pub optional: bool,
    /// The `realm` of the challenges.
    pub realm: Option<String>,
    /// The error body format: `nested` (default), `upper_case`, `flat` or `problem`.
    pub error_format: ErrorFormat,
    /// Where credentials are read from.
    pub credentials: CredentialsConfig,
    /// The tenant rules.
    pub tenants: TenantRules,
    /// JWT validation; absent means JWTs are refused.
    pub jwt: Option<JwtConfig>,
    /// API keys; absent means API keys are refused.
    pub api_keys: Option<ApiKeysConfig>,
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
    /// A cookie holding a Bearer token.
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

    /// The equivalent builder, for further settings in code (a custom renderer, a shared provider).
    pub fn builder(&self) -> Result<AuthLayerBuilder, ConfigError> {
        let mut builder = AuthLayer::builder()
            .credentials(self.credentials.to_sources()?)
            .tenant_rules(self.tenants.clone())
            .error_format(self.error_format);
        if self.optional {
            builder = builder.optional();
        }
        if let Some(realm) = &self.realm {
            builder = builder.realm(realm.as_str());
        }
        if let Some(jwt) = &self.jwt {
            builder = builder.jwt(jwt.validator()?);
        }
        if let Some(api_keys) = &self.api_keys {
            builder = builder.api_keys(api_keys.api_keys()?);
        }
        Ok(builder)
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
    /// The validator these settings describe.
    pub fn validator(&self) -> Result<JwtValidator, ConfigError> {
        let mut keys = match &self.jwks_file {
            Some(path) => {
                let json = std::fs::read_to_string(path)
                    .map_err(|e| error(format!("jwks_file {}: {e}", path.display())))?;
                JwtKeySet::from_jwks(&json)
                    .map_err(|e| error(format!("jwks_file {}: {e}", path.display())))?
            }
            None => JwtKeySet::new(),
        };
        for (i, key) in self.keys.iter().enumerate() {
            let name = key.kid.clone().unwrap_or_else(|| format!("#{i}"));
            let built = key
                .to_key()
                .map_err(|e| error(format!("jwt key {name}: {e}")))?;
            keys.insert(built).map_err(|e| error(e.to_string()))?;
        }
        if keys.is_empty() {
            return Err(error("jwt: no keys (give `keys` or `jwks_file`)"));
        }
        let mut options = JwtOptions::new()
            .leeway(Duration::from_secs(self.leeway_secs))
            .token_cache(
                TokenCacheConfig::default()
                    .enabled(self.token_cache)
                    .max_bytes(self.token_cache_max_bytes)
                    .max_age(Duration::from_secs(self.token_cache_max_age_secs)),
            );
        options.issuers.clone_from(&self.issuers);
        options.audiences.clone_from(&self.audiences);
        if let Some(typ) = &self.require_typ {
            options = options.require_typ(typ.as_str());
        }
        if let Some(secs) = self.max_lifetime_secs {
            options = options.max_lifetime(Duration::from_secs(secs));
        }
        options
            .scope_claims
            .extend(self.scope_claim.iter().cloned());
        if let Some(claim) = &self.tenant_claim {
            options = options.tenant_claim(claim.as_str());
        }
        Ok(JwtValidator::new(keys, options))
    }
}

impl JwtKeyConfig {
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
        let key = if let Some(secret) = &self.secret {
            JwtKey::hmac(self.alg, secret.as_bytes())
        } else if let Some(encoded) = &self.secret_base64 {
            let secret = base64::engine::general_purpose::STANDARD
                .decode(encoded.trim())
                .map_err(|_| "secret_base64 is not base64".to_owned())?;
            JwtKey::hmac(self.alg, &secret)
        } else if let Some(var) = &self.secret_env {
            let secret =
                std::env::var(var).map_err(|_| format!("environment variable {var} is not set"))?;
            JwtKey::hmac(self.alg, secret.as_bytes())
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
    /// The API-key settings, with the configured records in a [`MemoryKeyProvider`].
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
        let provider: MemoryKeyProvider = self.keys.iter().cloned().collect();
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
