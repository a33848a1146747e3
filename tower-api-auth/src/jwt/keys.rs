//! Verification keys, each bound to exactly one algorithm, and key sets chosen by `kid`.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey, DecodingKeyKind};
use serde::Deserialize;

use crate::jwt::signature::Prepared;

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
    /// Unique per key built (clones share it): the token cache remembers which key verified an
    /// entry, so that a rotation drops exactly the entries of the keys it removed.
    pub(crate) id: u64,
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
        static NEXT_ID: AtomicU64 = AtomicU64::new(1);
        Ok(Self {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
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

    /// Whether `other` is the same key: same `kid`, algorithm and key material.
    fn same_as(&self, other: &Self) -> bool {
        let material = match (self.key.kind(), other.key.kind()) {
            (DecodingKeyKind::SecretOrDer(a), DecodingKeyKind::SecretOrDer(b)) => a == b,
            (
                DecodingKeyKind::RsaModulusExponent { n, e },
                DecodingKeyKind::RsaModulusExponent { n: n2, e: e2 },
            ) => n == n2 && e == e2,
            _ => false,
        };
        material && self.kid == other.kid && self.algorithm == other.algorithm
    }
}

/// How [`JwtKeySet::from_jwks_with`] reads a JWK set document.
///
/// ```
/// use tower_api_auth::Algorithm;
/// use tower_api_auth::jwt::JwksPolicy;
///
/// // A key set fetched from an identity provider that publishes RSA keys without `alg`
/// // (Entra ID does): bind them to RS256, and never read symmetric keys from the network.
/// let policy = JwksPolicy::new().default_algorithm(Algorithm::RS256).symmetric(false);
/// assert_eq!(policy.default_algorithm, Some(Algorithm::RS256));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct JwksPolicy {
    /// The algorithm of keys that state none and whose type does not fix one (RSA, `oct`):
    /// applied only to keys of its own family. Default: none, and such keys are skipped.
    pub default_algorithm: Option<Algorithm>,
    /// Whether symmetric (`oct`) keys are read. Default: yes, for files; a key set fetched from a
    /// URL should say no, since a secret published on the network is no secret.
    pub symmetric: bool,
}

impl Default for JwksPolicy {
    fn default() -> Self {
        Self {
            default_algorithm: None,
            symmetric: true,
        }
    }
}

impl JwksPolicy {
    /// The defaults: `alg` required where the key type leaves it open, symmetric keys read.
    pub fn new() -> Self {
        Self::default()
    }

    /// Binds keys without `alg` of this algorithm's family to it.
    #[must_use]
    pub fn default_algorithm(mut self, algorithm: Algorithm) -> Self {
        self.default_algorithm = Some(algorithm);
        self
    }

    /// Whether symmetric (`oct`) keys are read.
    #[must_use]
    pub fn symmetric(mut self, symmetric: bool) -> Self {
        self.symmetric = symmetric;
        self
    }
}

/// A JWK set document, each key kept as raw JSON so that one key jsonwebtoken cannot read (an
/// unknown `kty`, a new curve) does not make the whole document unreadable.
#[derive(Deserialize)]
struct RawJwkSet {
    keys: Vec<serde_json::Value>,
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
    /// Keys of the document this set was read from that were skipped.
    skipped: usize,
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

    /// Parses a JWK set document (RFC 7517) with the default [`JwksPolicy`].
    ///
    /// Keys that cannot be used are skipped, each logged at debug level and counted in
    /// [`skipped`](Self::skipped): `"use":"enc"` keys, unknown key types, curves and algorithms,
    /// RSA keys under 2048 bits (RFC 7518 §3.3) and a second key of a `kid` (these two also in one
    /// warning per document, naming each),
    /// and keys without `alg` whose type does not fix one. EC and OKP keys need no `alg` (P-256 →
    /// ES256, P-384 → ES384, Ed25519 → EdDSA); an RSA or symmetric key without `alg` could be used
    /// with several, which is exactly the confusion RFC 8725 warns about. A document with no usable
    /// key at all is an error that names why each key was skipped.
    pub fn from_jwks(json: &str) -> Result<Self, KeyError> {
        Self::from_jwks_with(json, &JwksPolicy::new())
    }

    /// Parses a JWK set document as `policy` says; see [`from_jwks`](Self::from_jwks).
    pub fn from_jwks_with(json: &str, policy: &JwksPolicy) -> Result<Self, KeyError> {
        backend_available()?;
        let set: RawJwkSet =
            serde_json::from_str(json).map_err(|e| KeyError::new(format!("not a JWK set: {e}")))?;
        let mut keys = Self::new();
        let mut reasons = Vec::new();
        // What the operator must hear of (a weak key, a kid twice): one warning per document
        // read, naming every such key; other unusable keys are expected of many providers.
        let mut warnings = Vec::new();
        for raw in set.keys {
            let name = raw
                .get("kid")
                .and_then(serde_json::Value::as_str)
                .unwrap_or("(no kid)")
                .to_owned();
            match jwk_key(raw, policy) {
                Ok(Some(key)) => {
                    if let Err(duplicate) = keys.insert(key) {
                        keys.skipped += 1;
                        warnings.push(format!("JWK {name}: skipped, {duplicate}"));
                        reasons.push(duplicate.to_string());
                    }
                }
                Ok(None) => keys.skipped += 1,
                Err(skip) => {
                    if skip.warn {
                        warnings.push(format!("JWK {name}: skipped, {}", skip.reason));
                    } else {
                        tracing::debug!(kid = %name, reason = %skip.reason, "JWK skipped");
                    }
                    keys.skipped += 1;
                    reasons.push(format!("JWK {name}: {}", skip.reason));
                }
            }
        }
        if !warnings.is_empty() {
            tracing::warn!(keys = %warnings.join("; "), "JWK set: keys skipped");
        }
        if keys.is_empty() {
            return Err(KeyError::new(if reasons.is_empty() {
                "the JWK set has no signature verification key".to_owned()
            } else {
                format!("the JWK set has no usable key ({})", reasons.join("; "))
            }));
        }
        Ok(keys)
    }

    /// How many keys of the JWK set document this set was read from were skipped (0 for a set
    /// built by hand).
    pub fn skipped(&self) -> usize {
        self.skipped
    }

    /// `self`, with each key that is also in `previous` (same `kid`, algorithm and material)
    /// taken from `previous`: tokens it verified stay in the token cache across the rotation.
    pub(crate) fn carry_over(mut self, previous: &Self) -> Self {
        for key in &mut self.keys {
            if let Some(old) = previous.keys.iter().find(|old| old.same_as(key)) {
                *key = old.clone();
            }
        }
        self
    }

    /// Whether `self` and `other` hold the same keys (in any order).
    pub fn same_keys(&self, other: &Self) -> bool {
        self.keys.len() == other.keys.len()
            && self
                .keys
                .iter()
                .all(|key| other.keys.iter().any(|o| o.same_as(key)))
    }

    /// Whether a token naming `kid` can find its key here (a single unnamed key serves any).
    pub(crate) fn knows_kid(&self, kid: &str) -> bool {
        match self.keys.as_slice() {
            [only] if only.kid.is_none() => true,
            keys => keys.iter().any(|key| key.kid.as_deref() == Some(kid)),
        }
    }

    /// The ids ([`JwtKey::id`]) of the keys.
    pub(crate) fn ids(&self) -> impl Iterator<Item = u64> + '_ {
        self.keys.iter().map(|key| key.id)
    }

    /// Whether the key built as `id` is in the set.
    pub(crate) fn contains_id(&self, id: u64) -> bool {
        self.keys.iter().any(|key| key.id == id)
    }

    /// The key ids (`kid`) of the set, for logs.
    pub fn kids(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().filter_map(JwtKey::kid)
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
        Self {
            keys: vec![key],
            skipped: 0,
        }
    }
}

/// Why a JWK was skipped, and whether that deserves a warning rather than a debug line.
struct Skip {
    reason: String,
    warn: bool,
}

impl<T: Into<String>> From<T> for Skip {
    fn from(reason: T) -> Self {
        Self {
            reason: reason.into(),
            warn: false,
        }
    }
}

/// The key of one JWK: `Ok(None)` for a key that is not for signatures (`"use":"enc"`), `Err`
/// with the reason for one this crate cannot use.
fn jwk_key(raw: serde_json::Value, policy: &JwksPolicy) -> Result<Option<JwtKey>, Skip> {
    let jwk: Jwk = serde_json::from_value(raw).map_err(|e| format!("unsupported key: {e}"))?;
    if jwk.common.public_key_use == Some(PublicKeyUse::Encryption) {
        return Ok(None);
    }
    if matches!(jwk.algorithm, AlgorithmParameters::OctetKey(_)) && !policy.symmetric {
        return Err("symmetric keys are not read from this source".into());
    }
    let family = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => AlgorithmFamily::Rsa,
        AlgorithmParameters::OctetKey(_) => AlgorithmFamily::Hmac,
        AlgorithmParameters::EllipticCurve(_) => AlgorithmFamily::Ec,
        AlgorithmParameters::OctetKeyPair(_) => AlgorithmFamily::Ed,
        _ => return Err("unsupported key type".into()),
    };
    let algorithm = match (jwk.common.key_algorithm, &jwk.algorithm) {
        (Some(alg), _) => key_algorithm(alg).ok_or_else(|| format!("unsupported alg {alg:?}"))?,
        (None, AlgorithmParameters::EllipticCurve(p)) => match p.curve {
            EllipticCurve::P256 => Algorithm::ES256,
            EllipticCurve::P384 => Algorithm::ES384,
            _ => return Err("unsupported curve".into()),
        },
        (None, AlgorithmParameters::OctetKeyPair(p)) if p.curve == EllipticCurve::Ed25519 => {
            Algorithm::EdDSA
        }
        (None, _) => match policy.default_algorithm {
            Some(alg) if alg.family() == family => alg,
            _ => return Err("no alg, and its key type does not name one".into()),
        },
    };
    if let AlgorithmParameters::RSA(rsa) = &jwk.algorithm {
        // RFC 7518 §3.3: RSA keys for signatures are 2048 bits or larger (NIST SP 800-131A
        // too). The verifier refuses smaller ones only when a token arrives, as an invalid
        // signature; skipped here, they are named in the log instead.
        let bits = rsa_modulus_bits(&rsa.n).ok_or("the RSA modulus is not base64url")?;
        if bits < MIN_RSA_BITS {
            return Err(Skip {
                reason: format!("an RSA key of {bits} bits (at least {MIN_RSA_BITS} are required)"),
                warn: true,
            });
        }
    }
    let decoding = DecodingKey::from_jwk(&jwk).map_err(|e| e.to_string())?;
    if is_hmac(algorithm)
        && decoding.try_get_as_bytes().map_or(0, <[u8]>::len) < min_hmac_len(algorithm)
    {
        return Err("HMAC secret too short".into());
    }
    let key = JwtKey::bound(algorithm, decoding).map_err(|e| e.to_string())?;
    Ok(Some(match &jwk.common.key_id {
        Some(kid) => key.with_kid(kid.as_str()),
        None => key,
    }))
}

/// The smallest RSA modulus accepted for signature verification, in bits.
const MIN_RSA_BITS: usize = 2048;

/// The size of the RSA modulus `n` (base64url, big-endian) in bits, leading zeros not counted.
fn rsa_modulus_bits(n: &str) -> Option<usize> {
    let bytes = crate::jwt::b64::decode_vec(n.as_bytes())?;
    let significant = match bytes.iter().position(|&b| b != 0) {
        Some(first) => &bytes[first..],
        None => return Some(0),
    };
    Some(significant.len() * 8 - significant[0].leading_zeros() as usize)
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
    fn rsa_keys_under_2048_bits_are_skipped_naming_their_size() {
        use base64::Engine as _;
        let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        let mut n = vec![0x80];
        n.extend([0u8; 255]);
        assert_eq!(rsa_modulus_bits(&b64(&n)), Some(2048));
        // A leading zero byte (as some encoders write) and a high bit clear count for nothing.
        let mut short = vec![0, 0x7f];
        short.extend([0xffu8; 255]);
        assert_eq!(rsa_modulus_bits(&b64(&short)), Some(2047));
        assert_eq!(rsa_modulus_bits("not base64!"), None);

        // A real 1024-bit modulus, beside a usable key: skipped and counted.
        let weak = r#"{"kty":"RSA","kid":"weak","alg":"RS256","e":"AQAB","n":"sz6_pT5u8zEYWFZZvTbr1JxBpdyUvNth49pj2sfkTHh70BtOx97lEmqBLzszNfroFsvypkhTlN4u9QXXnqmJBenNeQ3UYy4wieedJ9zs9T07fvhtR-Y2P4LR2az-NRyuviUfOJW3fNHNCAg1Us0SQtDI0fjT-znwLqLS1fld-ks"}"#;
        let good = r#"{"kty":"EC","crv":"P-256","kid":"ec",
            "x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
            "y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}"#;
        let set = JwtKeySet::from_jwks(&format!(r#"{{"keys":[{weak},{good}]}}"#)).unwrap();
        assert_eq!((set.len(), set.skipped()), (1, 1));
        assert_eq!(set.kids().collect::<Vec<_>>(), ["ec"]);
        let alone = JwtKeySet::from_jwks(&format!(r#"{{"keys":[{weak}]}}"#)).unwrap_err();
        assert!(alone.to_string().contains("1024 bits"), "{alone}");
    }

    #[test]
    fn unusable_jwks_are_skipped_and_counted_and_a_set_without_any_is_an_error() {
        let good = r#"{"kty":"EC","crv":"P-256","kid":"ec",
            "x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
            "y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}"#;
        let oct = r#"{"kty":"oct","kid":"oct","alg":"HS256","k":"c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldC0"}"#;
        let unusable = [
            r#"{"kty":"RSA","kid":"noalg","n":"AQAB","e":"AQAB"}"#,
            r#"{"kty":"EC","crv":"P-521","kid":"p521","x":"AQAB","y":"AQAB"}"#,
            r#"{"kty":"PQC","kid":"future","pub":"AAAA"}"#,
            r#"{"kty":"RSA","kid":"enc","use":"enc","alg":"RSA-OAEP","n":"AQAB","e":"AQAB"}"#,
            r#"{"kty":"EC","crv":"P-256","alg":"ES512","kid":"wrong-alg","x":"AQAB","y":"AQAB"}"#,
        ];
        let jwks = format!(r#"{{"keys":[{good},{oct},{}]}}"#, unusable.join(","));
        let set = JwtKeySet::from_jwks(&jwks).unwrap();
        assert_eq!((set.len(), set.skipped()), (2, 5));
        // Fetched from a URL, symmetric keys are skipped too.
        let remote = JwksPolicy::new().symmetric(false);
        let set = JwtKeySet::from_jwks_with(&jwks, &remote).unwrap();
        assert_eq!((set.len(), set.skipped()), (1, 6));
        assert_eq!(set.kids().collect::<Vec<_>>(), ["ec"]);
        let none = format!(r#"{{"keys":[{}]}}"#, unusable.join(","));
        let error = JwtKeySet::from_jwks(&none).unwrap_err().to_string();
        assert!(
            error.contains("no usable key") && error.contains("noalg"),
            "{error}"
        );
    }

    #[test]
    fn a_default_algorithm_binds_keys_of_its_family_only() {
        let oct = r#"{"keys":[{"kty":"oct","kid":"o","k":"c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldC0"}]}"#;
        assert!(JwtKeySet::from_jwks(oct).is_err());
        let hs =
            JwtKeySet::from_jwks_with(oct, &JwksPolicy::new().default_algorithm(Algorithm::HS256));
        assert_eq!(hs.unwrap().keys[0].algorithm, Algorithm::HS256);
        let rs =
            JwtKeySet::from_jwks_with(oct, &JwksPolicy::new().default_algorithm(Algorithm::RS256));
        assert!(rs.is_err());
    }

    #[test]
    fn a_carried_over_key_keeps_its_identity_and_a_changed_one_does_not() {
        let key = |secret: &[u8], kid: &str| {
            JwtKey::hmac(Algorithm::HS256, secret)
                .unwrap()
                .with_kid(kid)
        };
        let mut old = JwtKeySet::new();
        old.insert(key(&[1; 32], "a")).unwrap();
        old.insert(key(&[2; 32], "b")).unwrap();
        let mut new = JwtKeySet::new();
        new.insert(key(&[1; 32], "a")).unwrap();
        new.insert(key(&[3; 32], "b")).unwrap();
        assert!(!new.same_keys(&old));
        let new = new.carry_over(&old);
        assert_eq!(new.keys[0].id, old.keys[0].id);
        assert_ne!(new.keys[1].id, old.keys[1].id);
        assert!(new.clone().same_keys(&new));
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
