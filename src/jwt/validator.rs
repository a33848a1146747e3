//! [`JwtValidator`]: keys and options, built once, shared by every clone.

use std::fmt;
use std::sync::Arc;

use arc_swap::ArcSwap;
use jsonwebtoken::Algorithm;

use crate::error::AuthError;
use crate::identity::{AuthMethod, Identity};
use crate::jwt::cache::{Entry, TokenCache, TokenCacheStats};
use crate::jwt::keys::{JwtKey, JwtKeySet, KeyError};
use crate::jwt::options::JwtOptions;
use crate::jwt::verified::VerifiedJwt;
use crate::jwt::verify::Verifier;

/// Validates JWT access tokens: keys bound to algorithms, signature before claims, the checks of
/// its [`JwtOptions`], and a verified-token cache.
///
/// Built once from keys and options; a clone is a handle to the same validator: clones share the
/// keys (so a rotation through [`key_handle`](Self::key_handle) reaches the copy inside an auth
/// layer) and the token cache. Validators built separately share nothing.
///
/// ```
/// # #[cfg(any(feature = "aws-lc-rs", feature = "rust-crypto"))]
/// # fn main() -> Result<(), tower_api_auth::jwt::KeyError> {
/// use tower_api_auth::JwtValidator;
/// use tower_api_auth::jwt::JwtOptions;
///
/// let validator = JwtValidator::hs256(
///     b"a-secret-of-at-least-thirty-two-bytes!!",
///     JwtOptions::new().issuer("https://auth.example.test").audience("api"),
/// )?;
/// let error = validator.validate("not.a.jwt", 1_800_000_000).unwrap_err();
/// assert_eq!(error.code(), "invalid_token");
/// # Ok(()) }
/// # #[cfg(not(any(feature = "aws-lc-rs", feature = "rust-crypto")))]
/// # fn main() {}
/// ```
#[derive(Clone)]
pub struct JwtValidator(Arc<Shared>);

struct Shared {
    keys: KeyHandle,
    verifier: Verifier,
    cache: Option<Arc<TokenCache>>,
}

impl fmt::Debug for JwtValidator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtValidator")
            .field("keys", &self.0.keys.keys())
            .field("options", self.options())
            .finish()
    }
}

/// The trusted keys and their generation, bumped on every replacement.
pub(crate) struct KeyRing {
    pub(crate) set: JwtKeySet,
    pub(crate) generation: u64,
}

/// Replaces a validator's keys at run time — key rotation, a refreshed JWK set — for every clone
/// of the validator, including the one inside an auth layer. Cheap to clone.
///
/// Tokens verified under the old keys leave the token cache, so a token of a removed key is
/// refused from the next request on.
///
/// ```
/// # #[cfg(any(feature = "aws-lc-rs", feature = "rust-crypto"))]
/// # fn main() -> Result<(), tower_api_auth::jwt::KeyError> {
/// use tower_api_auth::{Algorithm, JwtValidator};
/// use tower_api_auth::jwt::{JwtKey, JwtKeySet, JwtOptions};
///
/// let old = JwtKey::hmac(Algorithm::HS256, b"the-old-secret-of-thirty-two-bytes!!")?.with_kid("old");
/// let validator = JwtValidator::new(old.clone(), JwtOptions::new());
/// let rotation = validator.key_handle();
///
/// let new = JwtKey::hmac(Algorithm::HS256, b"the-new-secret-of-thirty-two-bytes!!")?.with_kid("new");
/// let mut both = JwtKeySet::from(old);
/// both.insert(new)?;
/// rotation.replace(both);
/// assert_eq!(validator.key_handle().keys().len(), 2);
/// # Ok(()) }
/// # #[cfg(not(any(feature = "aws-lc-rs", feature = "rust-crypto")))]
/// # fn main() {}
/// ```
#[derive(Clone)]
pub struct KeyHandle {
    ring: Arc<ArcSwap<KeyRing>>,
    cache: Option<Arc<TokenCache>>,
}

impl fmt::Debug for KeyHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyHandle")
            .field("keys", &self.ring.load().set)
            .finish()
    }
}

impl KeyHandle {
    /// Trusts `keys` instead of the current set, from the next request on.
    pub fn replace(&self, keys: JwtKeySet) {
        // rcu: two concurrent replacements must not end up with the same generation.
        self.ring.rcu(|ring| KeyRing {
            set: keys.clone(),
            generation: ring.generation + 1,
        });
        if let Some(cache) = &self.cache {
            cache.clear();
        }
    }

    /// The keys trusted now.
    pub fn keys(&self) -> JwtKeySet {
        self.ring.load().set.clone()
    }
}

impl JwtValidator {
    /// A validator trusting `keys`, checking what `options` asks. The keys are prepared and the
    /// token cache created here, once.
    pub fn new(keys: impl Into<JwtKeySet>, options: JwtOptions) -> Self {
        let cache = TokenCache::new(options.token_cache);
        let keys = KeyHandle {
            ring: Arc::new(ArcSwap::from_pointee(KeyRing {
                set: keys.into(),
                generation: 0,
            })),
            cache: cache.clone(),
        };
        Self(Arc::new(Shared {
            keys,
            verifier: Verifier::new(options),
            cache,
        }))
    }

    /// HS256 with `secret` (at least 32 bytes).
    pub fn hs256(secret: impl AsRef<[u8]>, options: JwtOptions) -> Result<Self, KeyError> {
        Self::hmac(Algorithm::HS256, secret.as_ref(), options)
    }

    /// HS384 with `secret` (at least 48 bytes).
    pub fn hs384(secret: impl AsRef<[u8]>, options: JwtOptions) -> Result<Self, KeyError> {
        Self::hmac(Algorithm::HS384, secret.as_ref(), options)
    }

    /// HS512 with `secret` (at least 64 bytes).
    pub fn hs512(secret: impl AsRef<[u8]>, options: JwtOptions) -> Result<Self, KeyError> {
        Self::hmac(Algorithm::HS512, secret.as_ref(), options)
    }

    fn hmac(algorithm: Algorithm, secret: &[u8], options: JwtOptions) -> Result<Self, KeyError> {
        Ok(Self::new(JwtKey::hmac(algorithm, secret)?, options))
    }

    /// A public key in PEM, bound to `algorithm`: RSA for `RS*`/`PS*`, P-256/P-384 for
    /// `ES256`/`ES384`, Ed25519 for `EdDSA`.
    pub fn public_pem(
        algorithm: Algorithm,
        pem: impl AsRef<[u8]>,
        options: JwtOptions,
    ) -> Result<Self, KeyError> {
        Ok(Self::new(
            JwtKey::from_pem(algorithm, pem.as_ref())?,
            options,
        ))
    }

    /// The keys of a JWK set document.
    pub fn jwks(json: &str, options: JwtOptions) -> Result<Self, KeyError> {
        Ok(Self::new(JwtKeySet::from_jwks(json)?, options))
    }

    /// What this validator checks.
    pub fn options(&self) -> &JwtOptions {
        self.0.verifier.options()
    }

    /// The handle that rotates this validator's keys (for every clone of it).
    pub fn key_handle(&self) -> KeyHandle {
        self.0.keys.clone()
    }

    /// The verified-token cache's size, if the cache is on.
    pub fn cache_stats(&self) -> Option<TokenCacheStats> {
        self.0.cache.as_ref().map(|cache| cache.stats())
    }

    /// Validates `token` at `now` (unix seconds), as the auth layer does before its revocation,
    /// tenant and scope rules. The identity carries no tenant: choosing one among the token's is
    /// the layer's job.
    pub fn validate(&self, token: &str, now: u64) -> Result<Identity, AuthError> {
        let jwt = self.verified(token.as_bytes(), now)?;
        Ok(Identity::from_parts(crate::identity::Parts {
            principal: jwt.subject.clone(),
            method: AuthMethod::Jwt,
            tenant: None,
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

    /// The verified token: from the cache when it holds these exact bytes and they are still
    /// fresh at `now` under the current keys, verified in full (and then cached) otherwise.
    pub(crate) fn verified(&self, token: &[u8], now: u64) -> Result<Arc<VerifiedJwt>, AuthError> {
        let ring = self.0.keys.ring.load();
        let Some(cache) = &self.0.cache else {
            return self.0.verifier.verify(token, now, &ring.set).map(Arc::new);
        };
        if let Some(hit) = cache.get(token, now, ring.generation) {
            return Ok(hit);
        }
        let verified = Arc::new(self.0.verifier.verify(token, now, &ring.set)?);
        let leeway = self.0.verifier.leeway();
        let entry = Entry {
            verified: Arc::clone(&verified),
            generation: ring.generation,
            valid_until: verified.expires_at.saturating_add(leeway),
            valid_from: verified.not_before.map_or(0, |nbf| {
                u64::try_from(nbf.saturating_sub_unsigned(leeway)).unwrap_or(0)
            }),
        };
        cache.insert(token, entry, now);
        Ok(verified)
    }
}

#[cfg(all(test, any(feature = "aws-lc-rs", feature = "rust-crypto")))]
mod tests {
    use super::*;

    #[test]
    fn concurrent_key_replacements_get_distinct_generations() {
        let validator = JwtValidator::hs256(
            b"a-unit-test-secret-of-thirty-two-bytes!",
            JwtOptions::new(),
        )
        .unwrap();
        std::thread::scope(|scope| {
            for _ in 0..8 {
                scope.spawn(|| validator.key_handle().replace(JwtKeySet::new()));
            }
        });
        assert_eq!(validator.0.keys.ring.load().generation, 8);
    }
}
