//! OAuth clients from a configuration file: [`ClientConfig`], one registration each.

use std::fmt;

use serde::Deserialize;

use super::{ConfigError, error};
use crate::api_key::{ApiKeyHasher, KeyHash};
use crate::scope::Scopes;
use crate::store::ClientRecord;
use crate::tenant::Tenant;

/// One registered OAuth client (RFC 6749 §2), as a file describes it. A confidential client
/// names its secret by one of `secret_env` (best: the environment holds it), `secret_hash` (the
/// hex [`KeyHash`] of the secret under the registry's hasher, as the command-line tool prints it)
/// or `secret` (DEMO ONLY: the plaintext in the file); a public client (`public = true`) has none.
/// `Debug` never shows a secret.
///
/// ```
/// use tower_api_auth::api_key::ApiKeyHasher;
/// use tower_api_auth::config::ClientConfig;
///
/// let config: ClientConfig = toml::from_str(r#"
///     client_id = "webapp"
///     secret_env = "WEBAPP_CLIENT_SECRET"
///     scopes = "read write"
///     redirect_uris = ["https://webapp.example.com/callback"]
/// "#).unwrap();
/// # unsafe { std::env::set_var("WEBAPP_CLIENT_SECRET", "s3cret-from-the-environment") };
/// let record = config.record(&ApiKeyHasher::default()).unwrap();
/// assert!(record.allows_redirect("https://webapp.example.com/callback"));
///
/// let spa: ClientConfig = toml::from_str(r#"
///     client_id = "spa"
///     public = true
///     scopes = "read"
///     redirect_uris = ["https://app.example.com/cb"]
/// "#).unwrap();
/// assert!(spa.record(&ApiKeyHasher::default()).unwrap().is_public());
/// ```
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ClientConfig {
    /// The client id.
    pub client_id: String,
    /// A public client: no secret (browser and native apps; PKCE binds their codes).
    #[serde(default)]
    pub public: bool,
    /// The environment variable holding the secret.
    #[serde(default)]
    pub secret_env: Option<String>,
    /// The secret's hash, in hex.
    #[serde(default)]
    pub secret_hash: Option<String>,
    /// DEMO ONLY: the secret itself.
    #[serde(default)]
    pub secret: Option<String>,
    /// The scopes the client may be granted (default: none).
    #[serde(default = "Scopes::empty")]
    pub scopes: Scopes,
    /// The client's tenants (client credentials).
    #[serde(default)]
    pub tenants: Vec<Tenant>,
    /// The redirect URIs of the authorization-code grant, compared exactly.
    #[serde(default)]
    pub redirect_uris: Vec<String>,
}

impl fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientConfig")
            .field("client_id", &self.client_id)
            .field("public", &self.public)
            .field("secret_env", &self.secret_env)
            .field("scopes", &self.scopes)
            .field("redirect_uris", &self.redirect_uris)
            .finish_non_exhaustive()
    }
}

impl ClientConfig {
    /// The client's record, its secret hashed with `hasher` (the client store's
    /// [`secret_hasher`](crate::store::ClientStore::secret_hasher)). Refuses a client with no
    /// secret that is not public, a public one with a secret, more than one secret source, and a
    /// redirect URI that is not an absolute `https` URL (or `http` on a loopback host, RFC 8252
    /// §7.3) or that has a fragment.
    pub fn record(&self, hasher: &ApiKeyHasher) -> Result<ClientRecord, ConfigError> {
        let name = &self.client_id;
        let sources = [
            self.secret_env.is_some(),
            self.secret_hash.is_some(),
            self.secret.is_some(),
        ]
        .into_iter()
        .filter(|&given| given)
        .count();
        let hash = match (self.public, sources) {
            (true, 0) => None,
            (true, _) => {
                return Err(error(format!(
                    "OAuth client {name}: a public client has no secret"
                )));
            }
            (false, 1) => Some(self.secret_hash_with(hasher)?),
            (false, _) => {
                return Err(error(format!(
                    "OAuth client {name}: give exactly one of secret_env, secret_hash, secret (or public = true)"
                )));
            }
        };
        for uri in &self.redirect_uris {
            check_redirect_uri(uri)
                .map_err(|why| error(format!("OAuth client {name}: redirect URI {uri:?} {why}")))?;
        }
        let record = match hash {
            Some(hash) => ClientRecord::new(name.as_str(), hash, self.scopes.clone()),
            None => ClientRecord::public(name.as_str(), self.scopes.clone()),
        };
        Ok(record
            .with_tenants(self.tenants.clone())
            .with_redirect_uris(self.redirect_uris.iter().map(String::as_str)))
    }

    fn secret_hash_with(&self, hasher: &ApiKeyHasher) -> Result<KeyHash, ConfigError> {
        let name = &self.client_id;
        if let Some(var) = &self.secret_env {
            let secret = std::env::var(var).map_err(|_| {
                error(format!(
                    "OAuth client {name}: environment variable {var} is not set"
                ))
            })?;
            return Ok(hasher.hash(&secret));
        }
        if let Some(hex) = &self.secret_hash {
            return KeyHash::from_hex(hex).ok_or_else(|| {
                error(format!(
                    "OAuth client {name}: secret_hash is not 64 hex digits"
                ))
            });
        }
        let secret = self.secret.as_deref().unwrap_or_default();
        Ok(hasher.hash(secret))
    }
}

/// Why `uri` cannot be a redirect URI (OAuth 2.1 §2.3, RFC 9700 §2.1), if it cannot.
fn check_redirect_uri(uri: &str) -> Result<(), &'static str> {
    if uri.contains('#') {
        return Err("has a fragment");
    }
    let (scheme, rest) = uri.split_once("://").ok_or("is not an absolute URL")?;
    let host = rest.split(['/', '?']).next().unwrap_or_default();
    let host = host.rsplit_once('@').map_or(host, |(_, host)| host);
    let hostname = if host.starts_with('[') {
        host.split_once(']').map_or(host, |(h, _)| &h[1..])
    } else {
        host.split(':').next().unwrap_or_default()
    };
    if hostname.is_empty() {
        return Err("has no host");
    }
    match scheme {
        "https" => Ok(()),
        "http" if matches!(hostname, "localhost" | "127.0.0.1" | "::1") => Ok(()),
        "http" => Err("is plain http on a host that is not the loopback"),
        // Private-use schemes of native apps (RFC 8252 §7.1): `com.example.app://cb`.
        scheme if scheme.contains('.') => Ok(()),
        _ => Err("has a scheme that is neither https nor a native app's (com.example.app)"),
    }
}

#[cfg(test)]
mod tests {
    use super::check_redirect_uri;

    #[test]
    fn redirect_uris_are_checked() {
        for good in [
            "https://app.example.com/cb",
            "http://127.0.0.1:8080/cb",
            "http://localhost/cb",
            "http://[::1]:9/cb",
            "com.example.app://callback",
        ] {
            assert!(check_redirect_uri(good).is_ok(), "{good}");
        }
        for bad in [
            "https://app.example.com/cb#x",
            "http://app.example.com/cb",
            "/relative",
            "javascript://x",
            "https:///path",
        ] {
            assert!(check_redirect_uri(bad).is_err(), "{bad}");
        }
    }
}
