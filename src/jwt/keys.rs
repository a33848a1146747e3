//! Verification keys, each bound to exactly one algorithm, and key sets chosen by `kid`.

use std::fmt;
use std::sync::Arc;

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey};

use crate::jwt::verifier::Prepared;

/// A key that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyError(String);

impl KeyError {
    /// A key error saying `message` (for key sources outside the crate). Name the key, never
    /// its secret.
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for KeyError {}

/// One verification key and the one algorithm it verifies (RFC 8725 §3.1: no `alg` confusion).
///
/// ```
/// # #[cfg(any(feature = "aws-lc-rs", feature = "rust-crypto"))]
/// # fn main() {
/// use jsonwebtoken::Algorithm;
/// use tower_api_auth::jwt::JwtKey;
///
/// let key = JwtKey::hmac(Algorithm::HS256, b"a secret of at least thirty-two bytes!").unwrap().with_kid("2026-11");
/// assert_eq!(key.algorithm(), Algorithm::HS256);
/// assert!(JwtKey::hmac(Algorithm::HS256, b"short").is_err());
/// assert!(JwtKey::hmac(Algorithm::RS256, b"a secret of at least thirty-two bytes!").is_err());
/// # }
/// # #[cfg(not(any(feature = "aws-lc-rs", feature = "rust-crypto")))]
/// # fn main() {}
/// ```
#[derive(Clone)]
pub struct JwtKey {
    pub(crate) kid: Option<Arc<str>>,
    pub(crate) algorithm: Algorithm,
    pub(crate) key: DecodingKey,
    /// Prepared once here, so that no request pays for key setup.
    pub(crate) prepared: Prepared,
}

impl fmt::Debug for JwtKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtKey")
            .field("kid", &self.kid)
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

/// The shortest HMAC secret for `alg` (RFC 7518 §3.2: at least the hash size).
fn min_hmac_len(alg: Algorithm) -> usize {
    match alg {
        Algorithm::HS384 => 48,
        Algorithm::HS512 => 64,
        _ => 32,
    }
}

fn is_hmac(alg: Algorithm) -> bool {
    matches!(alg, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512)
}

fn backend_available() -> Result<(), KeyError> {
    crate::crypto::backend_available().map_err(KeyError::new)
}

impl JwtKey {
    /// An HMAC key (`HS256`, `HS384`, `HS512`). The secret must be at least as long as the hash.
    pub fn hmac(algorithm: Algorithm, secret: &[u8]) -> Result<Self, KeyError> {
        backend_available()?;
        if !is_hmac(algorithm) {
            return Err(KeyError::new(format!(
                "{algorithm:?} is not an HMAC algorithm"
            )));
        }
        if secret.len() < min_hmac_len(algorithm) {
            return Err(KeyError::new(format!(
                "an {algorithm:?} secret must be at least {} bytes",
                min_hmac_len(algorithm)
            )));
        }
        Self::bound(algorithm, DecodingKey::from_secret(secret))
    }

    /// A public key in PEM (`-----BEGIN PUBLIC KEY-----` or `BEGIN RSA PUBLIC KEY`) for `algorithm`.
    pub fn from_pem(algorithm: Algorithm, pem: &[u8]) -> Result<Self, KeyError> {
        backend_available()?;
        let key = match algorithm.family() {
            AlgorithmFamily::Rsa => DecodingKey::from_rsa_pem(pem),
            AlgorithmFamily::Ec => DecodingKey::from_ec_pem(pem),
            AlgorithmFamily::Ed => DecodingKey::from_ed_pem(pem),
            _ => {
                return Err(KeyError::new(
                    "HMAC keys are secrets, not PEM: use JwtKey::hmac",
                ));
            }
        }
        .map_err(|e| KeyError::new(format!("not a {algorithm:?} public key in PEM: {e}")))?;
        Self::bound(algorithm, key)
    }

    /// A public key in DER for `algorithm` (PKCS#1 for RSA, SEC1 point for EC, raw 32 bytes for EdDSA).
    pub fn from_der(algorithm: Algorithm, der: &[u8]) -> Result<Self, KeyError> {
        backend_available()?;
        let key = match algorithm.family() {
            AlgorithmFamily::Rsa => DecodingKey::from_rsa_der(der),
            AlgorithmFamily::Ec => DecodingKey::from_ec_der(der),
            AlgorithmFamily::Ed => DecodingKey::from_ed_der(der),
            _ => {
                return Err(KeyError::new(
                    "HMAC keys are secrets, not DER: use JwtKey::hmac",
                ));
            }
        };
        Self::bound(algorithm, key)
    }

    /// A key jsonwebtoken already decoded (e.g. from a JWK), bound to `algorithm`; refused when its
    /// type does not suit the algorithm.
    pub fn from_decoding_key(algorithm: Algorithm, key: DecodingKey) -> Result<Self, KeyError> {
        backend_available()?;
        Self::bound(algorithm, key)
    }

    fn bound(algorithm: Algorithm, key: DecodingKey) -> Result<Self, KeyError> {
        // RFC 8725 §3.1: a key serves one algorithm of its own kind. Without this, an EC or OKP
        // public key published with "alg":"HS256" would become an HMAC secret anyone can read.
        if key.family() != algorithm.family() {
            return Err(KeyError::new(format!(
                "a {:?} key cannot verify {algorithm:?}",
                key.family()
            )));
        }
        let prepared = Prepared::new(algorithm, &key)?;
        Ok(Self {
            kid: None,
            algorithm,
            key,
            prepared,
        })
    }

    /// Names the key: tokens whose header carries this `kid` are verified with it.
    #[must_use]
    pub fn with_kid(mut self, kid: impl Into<Arc<str>>) -> Self {
        self.kid = Some(kid.into());
        self
    }

    /// The algorithm the key is bound to.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The key id, if any.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }
}

/// The keys a validator trusts.
///
/// A token with a `kid` is verified by the key with that `kid`, and only if the token's `alg` is that
/// key's algorithm. A token without `kid` is verified by the only key of the set, or by the only key
/// without a `kid` that has the token's algorithm.
///
/// ```
/// # #[cfg(any(feature = "aws-lc-rs", feature = "rust-crypto"))]
/// # fn main() {
/// use tower_api_auth::jwt::JwtKeySet;
///
/// let jwks = r#"{"keys":[{"kty":"oct","kid":"k1","alg":"HS256","k":"c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldC0"}]}"#;
/// let keys = JwtKeySet::from_jwks(jwks).unwrap();
/// assert_eq!(keys.len(), 1);
/// # }
/// # #[cfg(not(any(feature = "aws-lc-rs", feature = "rust-crypto")))]
/// # fn main() {}
/// ```
#[derive(Clone, Debug, Default)]
pub struct JwtKeySet {
    keys: Vec<JwtKey>,
}

impl JwtKeySet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a key. A `kid` may appear once.
    pub fn insert(&mut self, key: JwtKey) -> Result<(), KeyError> {
        if key.kid.is_some() && self.keys.iter().any(|k| k.kid == key.kid) {
            return Err(KeyError::new(format!(
                "two keys share the kid {:?}",
                key.kid.as_deref().unwrap_or_default()
            )));
        }
        self.keys.push(key);
        Ok(())
    }

    /// Parses a JWK set document (RFC 7517). Keys with `"use":"enc"` are skipped. Each key must say
    /// its `alg`, except EC and OKP keys whose curve names it (P-256 → ES256, P-384 → ES384,
    /// Ed25519 → EdDSA): an RSA or symmetric key without `alg` could be used with several, which is
    /// exactly the confusion RFC 8725 warns about.
    pub fn from_jwks(json: &str) -> Result<Self, KeyError> {
        backend_available()?;
        let set: JwkSet =
            serde_json::from_str(json).map_err(|e| KeyError::new(format!("not a JWK set: {e}")))?;
        let mut keys = Self::new();
        for jwk in &set.keys {
            if jwk.common.public_key_use == Some(PublicKeyUse::Encryption) {
                continue;
            }
            let name = jwk.common.key_id.as_deref().unwrap_or("(no kid)");
            let algorithm = match (jwk.common.key_algorithm, &jwk.algorithm) {
                (Some(alg), _) => key_algorithm(alg)
                    .ok_or_else(|| KeyError::new(format!("JWK {name}: unsupported alg {alg:?}")))?,
                (None, AlgorithmParameters::EllipticCurve(p)) => match p.curve {
                    EllipticCurve::P256 => Algorithm::ES256,
                    EllipticCurve::P384 => Algorithm::ES384,
                    _ => return Err(KeyError::new(format!("JWK {name}: unsupported curve"))),
                },
                (None, AlgorithmParameters::OctetKeyPair(p))
                    if p.curve == EllipticCurve::Ed25519 =>
                {
                    Algorithm::EdDSA
                }
                (None, _) => {
                    return Err(KeyError::new(format!(
                        "JWK {name}: no alg, and its key type does not name one"
                    )));
                }
            };
            let decoding = DecodingKey::from_jwk(jwk)
                .map_err(|e| KeyError::new(format!("JWK {name}: {e}")))?;
            if is_hmac(algorithm)
                && decoding.try_get_as_bytes().map_or(0, <[u8]>::len) < min_hmac_len(algorithm)
            {
                return Err(KeyError::new(format!("JWK {name}: HMAC secret too short")));
            }
            let mut key = JwtKey::bound(algorithm, decoding)
                .map_err(|e| KeyError::new(format!("JWK {name}: {e}")))?;
            if let Some(kid) = &jwk.common.key_id {
                key = key.with_kid(kid.as_str());
            }
            keys.insert(key)?;
        }
        Ok(keys)
    }

    /// How many keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The key that may verify a token with this header's `kid` and `alg`.
    pub(crate) fn select(&self, kid: Option<&str>, alg: Algorithm) -> Option<&JwtKey> {
        match kid {
            Some(kid) => match self.keys.iter().find(|k| k.kid.as_deref() == Some(kid)) {
                Some(key) => Some(key),
                // A single unnamed key serves tokens whatever `kid` their issuer stamps on them.
                None => match self.keys.as_slice() {
                    [only] if only.kid.is_none() => Some(only),
                    _ => None,
                },
            },
            None if self.keys.len() == 1 => self.keys.first(),
            None => {
                let mut candidates = self
                    .keys
                    .iter()
                    .filter(|k| k.kid.is_none() && k.algorithm == alg);
                let first = candidates.next();
                if candidates.next().is_some() {
                    None
                } else {
                    first
                }
            }
        }
        .filter(|k| k.algorithm == alg)
    }
}

impl From<JwtKey> for JwtKeySet {
    fn from(key: JwtKey) -> Self {
        Self { keys: vec![key] }
    }
}

fn key_algorithm(alg: KeyAlgorithm) -> Option<Algorithm> {
    Some(match alg {
        KeyAlgorithm::HS256 => Algorithm::HS256,
        KeyAlgorithm::HS384 => Algorithm::HS384,
        KeyAlgorithm::HS512 => Algorithm::HS512,
        KeyAlgorithm::ES256 => Algorithm::ES256,
        KeyAlgorithm::ES384 => Algorithm::ES384,
        KeyAlgorithm::RS256 => Algorithm::RS256,
        KeyAlgorithm::RS384 => Algorithm::RS384,
        KeyAlgorithm::RS512 => Algorithm::RS512,
        KeyAlgorithm::PS256 => Algorithm::PS256,
        KeyAlgorithm::PS384 => Algorithm::PS384,
        KeyAlgorithm::PS512 => Algorithm::PS512,
        KeyAlgorithm::EdDSA => Algorithm::EdDSA,
        _ => return None,
    })
}

#[cfg(all(test, any(feature = "aws-lc-rs", feature = "rust-crypto")))]
mod tests {
    use super::*;

    #[test]
    fn a_public_key_published_for_hmac_is_refused() {
        // An EC P-256 public key whose JWK claims HS256: its point bytes must never become a secret.
        let jwks = r#"{"keys":[{"kty":"EC","crv":"P-256","alg":"HS256","kid":"k1",
            "x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
            "y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}"#;
        let error = JwtKeySet::from_jwks(jwks).unwrap_err().to_string();
        assert!(error.contains("cannot verify HS256"), "{error}");
        let okp = r#"{"keys":[{"kty":"OKP","crv":"Ed25519","alg":"HS256",
            "x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}"#;
        assert!(JwtKeySet::from_jwks(okp).is_err());
    }

    #[test]
    fn a_single_unnamed_key_serves_any_kid() {
        let key = JwtKey::hmac(Algorithm::HS256, &[7; 32]).unwrap();
        let set = JwtKeySet::from(key);
        assert!(
            set.select(Some("issuer-stamped"), Algorithm::HS256)
                .is_some()
        );
        assert!(
            set.select(Some("issuer-stamped"), Algorithm::HS384)
                .is_none()
        );
        let mut named = JwtKeySet::new();
        named
            .insert(
                JwtKey::hmac(Algorithm::HS256, &[7; 32])
                    .unwrap()
                    .with_kid("a"),
            )
            .unwrap();
        assert!(named.select(Some("b"), Algorithm::HS256).is_none());
    }
}
