//! JWT validation: keys bound to algorithms, signature before claims, registered claims read once.
//!
//! ```
//! # #[cfg(any(feature = "aws-lc-rs", feature = "rust-crypto"))]
//! # fn main() {
//! use std::time::Duration;
//! use tower_api_auth::JwtValidator;
//!
//! let validator = JwtValidator::hs256(b"a-secret-of-at-least-thirty-two-bytes!!")
//!     .unwrap()
//!     .issuer("https://auth.example.test")
//!     .audience("api")
//!     .leeway(Duration::from_secs(30))
//!     .require_typ("at+jwt");
//! # let _ = validator;
//! # }
//! # #[cfg(not(any(feature = "aws-lc-rs", feature = "rust-crypto")))]
//! # fn main() {}
//! ```
//!
//! Checks, in order: the header (`alg` one of the supported algorithms — never `none` — no `crit`,
//! no JWE), the key (chosen by `kid`, its algorithm equal to `alg`), the signature, and only then
//! the claims: `exp` required, `nbf`, `iat` not in the future, `iss`, `aud` (any of), `typ`, the
//! maximum lifetime, `sub` required. `jku`, `x5u` and an embedded `jwk` are never used.

mod b64;
mod cache;
mod claims;
mod header;
mod keys;
mod tee;
mod verifier;

pub use cache::{TokenCacheConfig, TokenCacheStats};
pub use keys::{JwtKey, JwtKeySet, KeyError};

use arc_swap::ArcSwap;
use cache::{Entry, TokenCache};
use header::HeaderMemo;

use std::any::Any;
use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use jsonwebtoken::Algorithm;
use serde::de::{DeserializeOwned, DeserializeSeed};

use crate::error::{AuthError, AuthErrorKind, rfc3339};
use crate::identity::{AuthMethod, Identity};
use crate::scope::Scopes;
use crate::tenant::Tenant;

use claims::{ClaimsSeed, OneOrMany, Registered};

pub(crate) fn invalid(message: &'static str) -> AuthError {
    AuthError::new(AuthErrorKind::InvalidToken).with_message(message)
}

/// Payloads up to this size are decoded on the stack.
const STACK_PAYLOAD: usize = 2048;

type AnyClaims = Arc<dyn Any + Send + Sync>;

/// The registered claims, borrowed from the payload, and the application's.
type BothClaims<'p> = (Registered<'p>, AnyClaims);

/// How to decode the application's claims type, chosen by [`JwtValidator::claims`].
#[derive(Clone, Copy)]
struct ClaimsType {
    /// The registered claims and the application's in one pass.
    together: for<'p> fn(&'p str, &ClaimsSeed<'_>) -> Result<BothClaims<'p>, serde_json::Error>,
    /// The application's alone, to name the error when the one pass fails.
    alone: fn(&str) -> Result<AnyClaims, serde_json::Error>,
    name: &'static str,
}

impl ClaimsType {
    fn of<C: DeserializeOwned + Send + Sync + 'static>() -> Self {
        Self {
            together: |payload, seed| {
                let (registered, claims) = tee::decode::<C>(payload, seed)?;
                Ok((registered, Arc::new(claims)))
            },
            alone: |payload| Ok(Arc::new(serde_json::from_str::<C>(payload)?)),
            name: std::any::type_name::<C>(),
        }
    }
}

/// Validates JWT access tokens.
///
/// Built with a constructor for the key ([`hs256`](Self::hs256), [`rsa_pem`](Self::rsa_pem),
/// [`new`](Self::new) with a [`JwtKeySet`]…) and refined with the options below, as
/// `jsonwebtoken::Validation` is.
#[derive(Clone)]
pub struct JwtValidator {
    /// Shared by clones, so that [`replace_keys`](Self::replace_keys) reaches the layer's copy.
    keys: Arc<ArcSwap<KeyRing>>,
    cache_config: TokenCacheConfig,
    /// Shared only by clones with identical settings: every option method starts a new one.
    cache: Option<Arc<TokenCache>>,
    /// Parsed headers, shared on the same terms as `cache`.
    headers: Arc<HeaderMemo>,
    issuers: Vec<String>,
    audiences: Vec<String>,
    leeway: u64,
    required_typ: Option<String>,
    max_lifetime: Option<u64>,
    scope_claim: Option<String>,
    tenant_claim: String,
    claims: Option<ClaimsType>,
}

impl fmt::Debug for JwtValidator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtValidator")
            .field("keys", &self.keys.load().set)
            .field("cache", &self.cache_config)
            .field("issuers", &self.issuers)
            .field("audiences", &self.audiences)
            .field("leeway", &self.leeway)
            .field("required_typ", &self.required_typ)
            .field("max_lifetime", &self.max_lifetime)
            .field("scope_claim", &self.scope_claim)
            .field("tenant_claim", &self.tenant_claim)
            .field("claims", &self.claims.map(|claims| claims.name))
            .finish()
    }
}

/// The trusted keys and their generation, bumped on every replacement.
struct KeyRing {
    set: JwtKeySet,
    generation: u64,
}

/// What a valid token says, owned.
pub(crate) struct VerifiedJwt {
    pub(crate) subject: Arc<str>,
    pub(crate) scopes: Scopes,
    pub(crate) tenants: Tenants,
    pub(crate) expires_at: u64,
    /// The later of `nbf` and `iat`: before it (less leeway) the token is not valid.
    pub(crate) not_before: Option<i64>,
    pub(crate) kid: Option<Arc<str>>,
    pub(crate) session_id: Option<Arc<str>>,
    pub(crate) token_id: Option<Arc<str>>,
    pub(crate) claims: Option<Arc<dyn Any + Send + Sync>>,
    /// The identity a request with this token was given, for cache hits to hand out again when
    /// they select the same tenant in the same layer: one reference count instead of building one.
    pub(crate) identity: OnceLock<Identity>,
}

/// A verified token: shared with the cache, or owned by the one request that verified it (no
/// cache, so no reason to count references to it).
pub(crate) enum Verified {
    Shared(Arc<VerifiedJwt>),
    Owned(VerifiedJwt),
}

impl std::ops::Deref for Verified {
    type Target = VerifiedJwt;

    fn deref(&self) -> &VerifiedJwt {
        match self {
            Self::Shared(shared) => shared,
            Self::Owned(owned) => owned,
        }
    }
}

/// The tenants a token names; one tenant needs no vector.
pub(crate) enum Tenants {
    None,
    One(Tenant),
    Many(Vec<Tenant>),
}

impl Tenants {
    pub(crate) fn as_slice(&self) -> &[Tenant] {
        match self {
            Self::None => &[],
            Self::One(t) => std::slice::from_ref(t),
            Self::Many(v) => v,
        }
    }
}

impl JwtValidator {
    /// A validator trusting `keys`, with the defaults: leeway 60 s, no issuer or audience
    /// requirement, any `typ`, scopes from `scope` or `scp`, tenants from `tenant_id`.
    pub fn new(keys: impl Into<JwtKeySet>) -> Self {
        let cache_config = TokenCacheConfig::default();
        Self {
            keys: Arc::new(ArcSwap::from_pointee(KeyRing {
                set: keys.into(),
                generation: 0,
            })),
            cache: TokenCache::new(cache_config),
            headers: Arc::new(HeaderMemo::new()),
            cache_config,
            issuers: Vec::new(),
            audiences: Vec::new(),
            leeway: 60,
            required_typ: None,
            max_lifetime: None,
            scope_claim: None,
            tenant_claim: "tenant_id".to_owned(),
            claims: None,
        }
    }

    /// HS256 with `secret` (at least 32 bytes).
    pub fn hs256(secret: impl AsRef<[u8]>) -> Result<Self, KeyError> {
        Ok(Self::new(JwtKey::hmac(Algorithm::HS256, secret.as_ref())?))
    }

    /// HS384 with `secret` (at least 48 bytes).
    pub fn hs384(secret: impl AsRef<[u8]>) -> Result<Self, KeyError> {
        Ok(Self::new(JwtKey::hmac(Algorithm::HS384, secret.as_ref())?))
    }

    /// HS512 with `secret` (at least 64 bytes).
    pub fn hs512(secret: impl AsRef<[u8]>) -> Result<Self, KeyError> {
        Ok(Self::new(JwtKey::hmac(Algorithm::HS512, secret.as_ref())?))
    }

    /// An RSA (`RS*`/`PS*`) public key in PEM, bound to `algorithm`.
    pub fn rsa_pem(algorithm: Algorithm, pem: impl AsRef<[u8]>) -> Result<Self, KeyError> {
        Ok(Self::new(JwtKey::from_pem(algorithm, pem.as_ref())?))
    }

    /// An EC public key in PEM: P-256 for `ES256`, P-384 for `ES384`.
    pub fn ec_pem(algorithm: Algorithm, pem: impl AsRef<[u8]>) -> Result<Self, KeyError> {
        Ok(Self::new(JwtKey::from_pem(algorithm, pem.as_ref())?))
    }

    /// An Ed25519 public key in PEM, for `EdDSA`.
    pub fn ed25519_pem(pem: impl AsRef<[u8]>) -> Result<Self, KeyError> {
        Ok(Self::new(JwtKey::from_pem(Algorithm::EdDSA, pem.as_ref())?))
    }

    /// The keys of a JWK set document.
    pub fn jwks(json: &str) -> Result<Self, KeyError> {
        Ok(Self::new(JwtKeySet::from_jwks(json)?))
    }

    /// Requires `iss` to be this issuer (call again to accept several).
    #[must_use]
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuers.push(issuer.into());
        self.fresh_cache()
    }

    /// Requires `aud` to contain this audience, or any other one added (any-of).
    #[must_use]
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audiences.push(audience.into());
        self.fresh_cache()
    }

    /// Clock skew tolerated for `exp`, `nbf` and `iat`. Default 60 s.
    #[must_use]
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway.as_secs();
        self.fresh_cache()
    }

    /// Requires the header `typ` (compared as RFC 9068 says: case-insensitive, `application/`
    /// optional). `require_typ("at+jwt")` accepts only RFC 9068 access tokens.
    #[must_use]
    pub fn require_typ(mut self, typ: impl Into<String>) -> Self {
        let typ = typ.into();
        // Compared without the optional media-type prefix, on both sides.
        let bare = match typ.get(..12) {
            Some(prefix) if prefix.eq_ignore_ascii_case("application/") => typ[12..].to_owned(),
            _ => typ,
        };
        self.required_typ = Some(bare);
        self.fresh_cache()
    }

    /// Refuses tokens whose `exp - iat` exceeds `lifetime` (and tokens without `iat`).
    #[must_use]
    pub fn max_lifetime(mut self, lifetime: Duration) -> Self {
        self.max_lifetime = Some(lifetime.as_secs());
        self.fresh_cache()
    }

    /// Reads scopes from this claim only (string: space-delimited; array: one scope each).
    /// By default `scope` is read, then `scp`.
    #[must_use]
    pub fn scope_claim(mut self, claim: impl Into<String>) -> Self {
        self.scope_claim = Some(claim.into());
        self.fresh_cache()
    }

    /// Reads tenants from this claim (a string or an array). Default `tenant_id`.
    #[must_use]
    pub fn tenant_claim(mut self, claim: impl Into<String>) -> Self {
        self.tenant_claim = claim.into();
        self.fresh_cache()
    }

    /// Decodes the claims into `C` once per request; handlers read them with the `Claims<C>`
    /// extractor or [`Identity::claims`](crate::Identity::claims). A token whose claims do not
    /// deserialize into `C` is `invalid_token`.
    #[must_use]
    pub fn claims<C: DeserializeOwned + Send + Sync + 'static>(mut self) -> Self {
        self.claims = Some(ClaimsType::of::<C>());
        self.fresh_cache()
    }

    /// Adds a key to the trusted set (of this validator only: clones made before keep theirs).
    pub fn with_key(mut self, key: JwtKey) -> Result<Self, KeyError> {
        let ring = self.keys.load();
        let mut set = ring.set.clone();
        set.insert(key)?;
        let generation = ring.generation + 1;
        drop(ring);
        self.keys = Arc::new(ArcSwap::from_pointee(KeyRing { set, generation }));
        Ok(self.fresh_cache())
    }

    /// Replaces the trusted keys at run time — key rotation, or a refreshed JWK set — for this
    /// validator and every clone of it, including the one inside an auth layer. Tokens cached under
    /// the old keys are verified again; tokens of removed keys are refused from the next request.
    pub fn replace_keys(&self, keys: JwtKeySet) {
        // rcu: two concurrent replacements must not end up with the same generation.
        self.keys.rcu(|ring| KeyRing {
            set: keys.clone(),
            generation: ring.generation + 1,
        });
        if let Some(cache) = &self.cache {
            cache.clear();
        }
    }

    /// Sets the verified-token cache (on by default: 16 MiB, entries trusted up to 5 minutes).
    /// [`TokenCacheConfig::disabled`] turns it off.
    #[must_use]
    pub fn token_cache(mut self, config: TokenCacheConfig) -> Self {
        self.cache_config = config;
        self.fresh_cache()
    }

    /// The clock-skew tolerance in seconds.
    pub fn leeway_secs(&self) -> u64 {
        self.leeway
    }

    /// The verified-token cache's size, if the cache is on.
    pub fn cache_stats(&self) -> Option<TokenCacheStats> {
        self.cache.as_ref().map(|cache| cache.stats())
    }

    /// A new, empty cache and header memo: entries made under other settings must never answer
    /// for these.
    fn fresh_cache(mut self) -> Self {
        self.cache = TokenCache::new(self.cache_config);
        self.headers = Arc::new(HeaderMemo::new());
        self
    }

    /// Validates `token` at `now` (unix seconds) — from the cache when it holds these exact bytes,
    /// in full otherwise — and returns the identity it grants: `sub`, scopes, `exp`, `kid`, `sid`,
    /// `jti`, and the tenant when the token names exactly one. No revocation check or tenant rule
    /// applies: those are the auth layer's.
    ///
    /// ```
    /// # #[cfg(any(feature = "aws-lc-rs", feature = "rust-crypto"))]
    /// # fn main() {
    /// use tower_api_auth::JwtValidator;
    ///
    /// let validator = JwtValidator::hs256(b"a-secret-of-at-least-thirty-two-bytes!!").unwrap();
    /// let error = validator.validate("not.a.jwt", 1_800_000_000).unwrap_err();
    /// assert_eq!(error.code(), "invalid_token");
    /// # }
    /// # #[cfg(not(any(feature = "aws-lc-rs", feature = "rust-crypto")))]
    /// # fn main() {}
    /// ```
    pub fn validate(&self, token: &str, now: u64) -> Result<Identity, AuthError> {
        let verified = match self.cached(token.as_bytes(), now) {
            Some(verified) => Verified::Shared(verified),
            None => self.validate_uncached(token.as_bytes(), now)?,
        };
        let mut identity = Identity::builder(verified.subject.clone(), AuthMethod::Jwt)
            .scopes(verified.scopes.clone())
            .expires_at(verified.expires_at);
        if let [tenant] = verified.tenants.as_slice() {
            identity = identity.tenant(tenant.clone());
        }
        if let Some(kid) = &verified.kid {
            identity = identity.key_id(kid.clone());
        }
        if let Some(sid) = &verified.session_id {
            identity = identity.session_id(sid.clone());
        }
        if let Some(jti) = &verified.token_id {
            identity = identity.token_id(jti.clone());
        }
        Ok(identity.build())
    }

    /// The verified token cached under exactly `token`'s bytes, if it is still fresh at `now` and
    /// of the current keys. A hit implies the bytes passed every check when they were inserted,
    /// their syntax included.
    pub(crate) fn cached(&self, token: &[u8], now: u64) -> Option<Arc<VerifiedJwt>> {
        let cache = self.cache.as_ref()?;
        cache.get(token, now, self.keys.load().generation)
    }

    /// The full verification, for a token [`cached`](Self::cached) did not answer; a valid token
    /// is then cached. A token that passes is a valid `b64token` (its segments decoded as
    /// base64url); one that fails may not be, which the caller must tell apart (400, not 401).
    pub(crate) fn validate_uncached(&self, token: &[u8], now: u64) -> Result<Verified, AuthError> {
        let ring = self.keys.load();
        let verified = self.verify(token, now, &ring.set)?;
        let Some(cache) = &self.cache else {
            return Ok(Verified::Owned(verified));
        };
        let verified = Arc::new(verified);
        {
            let leeway = i64::try_from(self.leeway).unwrap_or(i64::MAX);
            let entry = Entry {
                verified: Arc::clone(&verified),
                generation: ring.generation,
                valid_until: verified.expires_at.saturating_add(self.leeway),
                valid_from: verified.not_before.map_or(0, |nbf| {
                    u64::try_from(nbf.saturating_sub(leeway)).unwrap_or(0)
                }),
            };
            cache.insert(token, entry, now);
        }
        Ok(Verified::Shared(verified))
    }

    /// The full verification: header, key, signature, claims.
    ///
    /// Works on bytes: every segment must decode as base64url, so a token that passes is a valid
    /// RFC 6750 `b64token` without a separate scan.
    fn verify(&self, token: &[u8], now: u64, keys: &JwtKeySet) -> Result<VerifiedJwt, AuthError> {
        let dot = |segment: &[u8]| segment.iter().position(|&b| b == b'.');
        let not_a_jwt = || invalid("The token is not a JWT");
        let header_end = dot(token).ok_or_else(not_a_jwt)?;
        let payload_len = dot(&token[header_end + 1..]).ok_or_else(not_a_jwt)?;
        let payload_end = header_end + 1 + payload_len;
        let (message, signature) = (&token[..payload_end], &token[payload_end + 1..]);
        if dot(signature).is_some() {
            return Err(invalid("The token is not a signed JWT"));
        }
        let (header_b64, payload_b64) = (&token[..header_end], &token[header_end + 1..payload_end]);
        let (header, remembered) = self
            .headers
            .parse(header_b64, self.required_typ.as_deref())?;
        let key = keys
            .select(header.kid.as_deref(), header.alg)
            .ok_or_else(|| invalid("No trusted key matches the token's key id and algorithm"))?;
        let verified = key
            .prepared
            .verify(key.algorithm, &key.key, message, signature);
        if !verified {
            return Err(invalid("The token's signature is invalid"));
        }
        if !remembered {
            self.headers.remember(header_b64, &header);
        }
        // Only now, with the signature verified, is anything in the token worth believing.
        if !header.typ_ok {
            return Err(invalid("The token's type (typ) is not accepted"));
        }
        let mut stack = [0u8; STACK_PAYLOAD];
        let heap;
        let payload: &[u8] = match b64::decode_into(payload_b64, &mut stack) {
            Some(len) => &stack[..len],
            None => {
                heap = b64::decode_vec(payload_b64)
                    .ok_or_else(|| invalid("The token payload is not valid base64url"))?;
                &heap
            }
        };
        let malformed = || invalid("The token's claims are malformed");
        // Checked as UTF-8 once, in one vectorized pass, rather than string by string while parsing.
        let payload = std::str::from_utf8(payload).map_err(|_| malformed())?;
        let seed = ClaimsSeed {
            scope_claim: self.scope_claim.as_deref(),
            tenant_claim: &self.tenant_claim,
        };
        let registered_alone = || {
            let mut json = serde_json::Deserializer::from_str(payload);
            seed.deserialize(&mut json)
                .and_then(|claims| json.end().map(|()| claims))
                .map_err(|_| malformed())
        };
        let (claims, custom) = match self.claims {
            None => (registered_alone()?, None),
            Some(claims_type) => match (claims_type.together)(payload, &seed) {
                Ok((claims, custom)) => (claims, Some(custom)),
                // Something is wrong: the two passes apart say what, in the order they always did
                // (malformed registered claims, then their checks, then the application's shape).
                Err(_) => {
                    let claims = registered_alone()?;
                    self.check_claims(&claims, now)?;
                    let custom = (claims_type.alone)(payload).map_err(|_| {
                        invalid("The token's claims do not have the expected shape")
                    })?;
                    (claims, Some(custom))
                }
            },
        };
        let expires_at = self.check_claims(&claims, now)?;
        self.verified(claims, expires_at, key, custom)
    }

    /// The time and audience checks; returns `exp`.
    fn check_claims(&self, c: &Registered<'_>, now: u64) -> Result<u64, AuthError> {
        let now = i64::try_from(now).unwrap_or(i64::MAX);
        let leeway = i64::try_from(self.leeway).unwrap_or(i64::MAX);
        let exp = c
            .exp
            .ok_or_else(|| invalid("The token has no expiry (exp)"))?;
        if now >= exp.saturating_add(leeway) {
            let expired_at = u64::try_from(exp).unwrap_or(0);
            return Err(AuthError::new(AuthErrorKind::TokenExpired)
                .with_detail("expired_at", rfc3339(expired_at)));
        }
        if let Some(nbf) = c.nbf
            && now.saturating_add(leeway) < nbf
        {
            return Err(AuthError::new(AuthErrorKind::TokenNotYetValid)
                .with_detail("not_before", rfc3339(u64::try_from(nbf).unwrap_or(0))));
        }
        if let Some(iat) = c.iat
            && now.saturating_add(leeway) < iat
        {
            return Err(AuthError::new(AuthErrorKind::TokenNotYetValid)
                .with_message("The access token was issued in the future"));
        }
        if let Some(max) = self.max_lifetime {
            let iat = c
                .iat
                .ok_or_else(|| invalid("The token has no issue time (iat)"))?;
            if exp.saturating_sub(iat) > i64::try_from(max).unwrap_or(i64::MAX) {
                return Err(invalid(
                    "The token's lifetime exceeds the maximum this service accepts",
                ));
            }
        }
        if !self.issuers.is_empty() {
            let iss = c
                .iss
                .as_deref()
                .ok_or_else(|| invalid("The token has no issuer (iss)"))?;
            if !self.issuers.iter().any(|accepted| accepted == iss) {
                return Err(invalid("The token's issuer is not accepted"));
            }
        }
        match (&c.aud, self.audiences.is_empty()) {
            (None, true) => {}
            (None, false) => return Err(invalid("The token has no audience (aud)")),
            // RFC 7519 §4.1.3: a token meant for named audiences is refused by a service that is none of them.
            (Some(_), true) => {
                return Err(invalid(
                    "The token names an audience and this service is configured with none",
                ));
            }
            (Some(aud), false) => {
                if !aud
                    .iter()
                    .any(|a| self.audiences.iter().any(|accepted| accepted == a))
                {
                    return Err(invalid("The token's audience is not accepted"));
                }
            }
        }
        u64::try_from(exp).map_err(|_| invalid("The token has no expiry (exp)"))
    }

    fn verified(
        &self,
        c: Registered<'_>,
        expires_at: u64,
        key: &JwtKey,
        claims: Option<Arc<dyn Any + Send + Sync>>,
    ) -> Result<VerifiedJwt, AuthError> {
        let subject = match c.sub.as_deref() {
            Some(sub) if !sub.is_empty() => Arc::from(sub),
            _ => return Err(invalid("The token has no subject (sub)")),
        };
        let scopes = match (&c.scope, &c.scp) {
            (Some(OneOrMany::One(list)), _) => Scopes::parse(list),
            (Some(many), _) | (None, Some(many)) => Scopes::from_tokens(many.iter()),
            (None, None) => Ok(Scopes::empty()),
        }
        .map_err(|_| invalid("The token's scope claim is malformed"))?;
        let bad_tenant = |_| invalid("The token's tenant claim is malformed");
        let tenants = match &c.tenants {
            None => Tenants::None,
            Some(OneOrMany::One(t)) => Tenants::One(Tenant::new(t).map_err(bad_tenant)?),
            Some(OneOrMany::Many(list)) => Tenants::Many(
                list.iter()
                    .map(|t| Tenant::new(t))
                    .collect::<Result<_, _>>()
                    .map_err(bad_tenant)?,
            ),
        };
        Ok(VerifiedJwt {
            subject,
            scopes,
            tenants,
            expires_at,
            // A hit must refuse what the full check refuses if the clock steps back: the later of
            // nbf and iat bounds the start.
            not_before: match (c.nbf, c.iat) {
                (Some(nbf), Some(iat)) => Some(nbf.max(iat)),
                (nbf, iat) => nbf.or(iat),
            },
            kid: key.kid.clone(),
            session_id: c.sid.as_deref().map(Arc::from),
            token_id: c.jti.as_deref().map(Arc::from),
            claims,
            identity: OnceLock::new(),
        })
    }
}

#[cfg(all(test, any(feature = "aws-lc-rs", feature = "rust-crypto")))]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"a-unit-test-secret-of-thirty-two-bytes!";

    fn token(typ: &str) -> String {
        crate::crypto::ensure_provider();
        let mut header = jsonwebtoken::Header::new(Algorithm::HS256);
        header.typ = Some(typ.to_owned());
        let claims = serde_json::json!({ "sub": "u", "exp": 4_000_000_000u64 });
        jsonwebtoken::encode(
            &header,
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(SECRET),
        )
        .unwrap()
    }

    #[test]
    fn a_required_typ_is_compared_without_its_media_type_prefix_on_both_sides() {
        let validator = JwtValidator::hs256(SECRET)
            .unwrap()
            .require_typ("application/at+jwt");
        assert!(validator.validate(&token("at+jwt"), 1_800_000_000).is_ok());
        assert!(
            validator
                .validate(&token("application/AT+JWT"), 1_800_000_000)
                .is_ok()
        );
        let error = validator
            .validate(&token("JWT"), 1_800_000_000)
            .err()
            .unwrap();
        assert_eq!(error.kind(), AuthErrorKind::InvalidToken);
    }

    #[test]
    fn only_headers_of_verified_tokens_are_remembered() {
        let validator = JwtValidator::hs256(SECRET)
            .unwrap()
            .token_cache(TokenCacheConfig::disabled());
        let good = token("JWT");
        let (message, _) = good.rsplit_once('.').unwrap();
        let forged = format!("{message}.{}", "A".repeat(43));
        for _ in 0..2 {
            let error = validator.validate(&forged, 1_800_000_000).err().unwrap();
            assert_eq!(error.kind(), AuthErrorKind::InvalidToken);
        }
        assert_eq!(validator.headers.len(), 0, "a forged token's header");
        assert!(validator.validate(&good, 1_800_000_000).is_ok());
        assert_eq!(validator.headers.len(), 1);
        // Remembered now: the forgery with the same header is still refused, the token accepted.
        assert!(validator.validate(&forged, 1_800_000_000).is_err());
        assert!(validator.validate(&good, 1_800_000_000).is_ok());
    }

    #[test]
    fn a_remembered_header_is_not_reused_under_another_required_typ() {
        let lax = JwtValidator::hs256(SECRET).unwrap();
        let jwt_typ = token("JWT");
        assert!(lax.validate(&jwt_typ, 1_800_000_000).is_ok());
        // Same key and header bytes, stricter settings: the header is judged again.
        let strict = lax.clone().require_typ("at+jwt");
        let error = strict.validate(&jwt_typ, 1_800_000_000).err().unwrap();
        assert_eq!(error.kind(), AuthErrorKind::InvalidToken);
        assert!(lax.validate(&jwt_typ, 1_800_000_000).is_ok());
    }

    #[test]
    fn the_header_memo_is_bounded() {
        let memo = header::HeaderMemo::new();
        let sample = header::Header {
            alg: Algorithm::HS256,
            kid: None,
            typ_ok: true,
        };
        for i in 0..10 * header::HeaderMemo::CAPACITY {
            memo.remember(format!("segment-{i}").as_bytes(), &sample);
        }
        assert!(memo.len() <= header::HeaderMemo::CAPACITY, "{}", memo.len());
    }

    #[test]
    fn concurrent_key_replacements_get_distinct_generations() {
        let validator = JwtValidator::hs256(SECRET).unwrap();
        std::thread::scope(|scope| {
            for _ in 0..8 {
                scope.spawn(|| validator.replace_keys(JwtKeySet::new()));
            }
        });
        assert_eq!(validator.keys.load().generation, 8);
    }
}
