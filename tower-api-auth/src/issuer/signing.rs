//! Signing access tokens: [`SigningKey`] and [`TokenIssuer`].

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey, EncodingKey, Header};
use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};
use serde_json::{Map, Value};

use crate::crypto::random_secret;
use crate::issuer::error::{GrantError, GrantErrorKind};
#[cfg(feature = "aws-lc-rs")]
use crate::issuer::keys::SigningKeys;
use crate::jwt::{JwtKey, JwtOptions, JwtValidator, KeyError};
use crate::scope::Scopes;
use crate::tenant::Tenant;

/// The claims the issuer sets itself; the app's claims ([`Account::with_claim`], API-key
/// metadata, [`AccessGrant::with_claim`]) never override them: an app claim of one of these
/// names is ignored. `scp` is among them because validators read scopes from it.
///
/// [`Account::with_claim`]: crate::issuer::Account::with_claim
pub const REGISTERED_CLAIMS: &[&str] = &[
    "iss",
    "sub",
    "aud",
    "exp",
    "nbf",
    "iat",
    "jti",
    "sid",
    "scope",
    "scp",
    "tenant_id",
    "client_id",
    "api_key_id",
];

/// Whether `name` is one of the [`REGISTERED_CLAIMS`].
pub(crate) fn is_registered_claim(name: &str) -> bool {
    REGISTERED_CLAIMS.contains(&name)
}

/// A private key (or HMAC secret) that signs access tokens, bound to one algorithm, with the
/// matching verification key derived from it.
///
/// ```
/// # #[cfg(any(feature = "aws-lc-rs", feature = "rust-crypto"))]
/// # fn main() {
/// use tower_api_auth::{Algorithm, issuer::SigningKey};
///
/// let key = SigningKey::hmac(Algorithm::HS256, b"a-secret-of-at-least-thirty-two-bytes!!")
///     .unwrap()
///     .with_kid("2026-11");
/// assert_eq!(key.kid(), Some("2026-11"));
/// # }
/// # #[cfg(not(any(feature = "aws-lc-rs", feature = "rust-crypto")))]
/// # fn main() {}
/// ```
#[derive(Clone)]
pub struct SigningKey {
    encoding: EncodingKey,
    verifying: JwtKey,
    /// The key refresh tokens' secrets are derived with, itself derived from the private key: the
    /// instances that share a signing key recognise each other's refresh tokens.
    refresh_key: [u8; 32],
}

/// Derives the refresh-token issuance key from a signing key's private material.
fn refresh_key_of(private: &[u8]) -> [u8; 32] {
    blake3::derive_key(
        "tower-api-auth 2026-12 refresh token issuance key v1",
        private,
    )
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.verifying.kid())
            .field("algorithm", &self.verifying.algorithm())
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// An HMAC secret (`HS256`/`HS384`/`HS512`), at least as long as the hash.
    pub fn hmac(algorithm: Algorithm, secret: &[u8]) -> Result<Self, KeyError> {
        let verifying = JwtKey::hmac(algorithm, secret)?;
        Ok(Self {
            encoding: EncodingKey::from_secret(secret),
            verifying,
            refresh_key: refresh_key_of(secret),
        })
    }

    /// A private key in PEM (PKCS#8, or PKCS#1 for RSA): RSA for `RS*`/`PS*`, P-256/P-384 for
    /// `ES256`/`ES384`, Ed25519 for `EdDSA`.
    pub fn from_pem(algorithm: Algorithm, private_pem: &[u8]) -> Result<Self, KeyError> {
        // Deriving the public half goes through jsonwebtoken's key utilities, which panic when
        // no crypto provider can be had.
        crate::crypto::backend_available().map_err(KeyError::new)?;
        let encoding = match algorithm.family() {
            AlgorithmFamily::Rsa => EncodingKey::from_rsa_pem(private_pem),
            AlgorithmFamily::Ec => EncodingKey::from_ec_pem(private_pem),
            AlgorithmFamily::Ed => EncodingKey::from_ed_pem(private_pem),
            _ => {
                return Err(KeyError::new(
                    "HMAC keys are secrets, not PEM: use SigningKey::hmac",
                ));
            }
        }
        .map_err(|e| KeyError::new(format!("not a {algorithm:?} private key in PEM: {e}")))?;
        Self::from_encoding(algorithm, encoding, private_pem)
    }

    /// A private key in DER (PKCS#8 for EC and Ed25519, PKCS#1 for RSA), as the key ring stores them.
    #[cfg(feature = "aws-lc-rs")]
    pub(crate) fn from_private_der(algorithm: Algorithm, der: &[u8]) -> Result<Self, KeyError> {
        crate::crypto::backend_available().map_err(KeyError::new)?;
        let encoding = match algorithm.family() {
            AlgorithmFamily::Rsa => EncodingKey::from_rsa_der(der),
            AlgorithmFamily::Ec => EncodingKey::from_ec_der(der),
            AlgorithmFamily::Ed => EncodingKey::from_ed_der(der),
            _ => return Err(KeyError::new("HMAC keys are secrets, not DER")),
        };
        Self::from_encoding(algorithm, encoding, der)
    }

    fn from_encoding(
        algorithm: Algorithm,
        encoding: EncodingKey,
        private: &[u8],
    ) -> Result<Self, KeyError> {
        // The public half, through a JWK, so that issuing and validating can never disagree.
        let jwk = Jwk::from_encoding_key(&encoding, algorithm)
            .map_err(|e| KeyError::new(format!("cannot derive the public key: {e}")))?;
        let decoding = DecodingKey::from_jwk(&jwk)
            .map_err(|e| KeyError::new(format!("cannot derive the public key: {e}")))?;
        let verifying = JwtKey::from_decoding_key(algorithm, decoding)?;
        Ok(Self {
            encoding,
            verifying,
            refresh_key: refresh_key_of(private),
        })
    }

    /// The public key as a JWK (`kid`, `alg`, `use: "sig"`); `None` for HMAC secrets, which are
    /// never published.
    pub(crate) fn public_jwk(&self) -> Option<Value> {
        let algorithm = self.algorithm();
        if algorithm.family() == AlgorithmFamily::Hmac {
            return None;
        }
        let mut jwk = Jwk::from_encoding_key(&self.encoding, algorithm).ok()?;
        jwk.common.key_id = self.kid().map(str::to_owned);
        jwk.common.public_key_use = Some(jsonwebtoken::jwk::PublicKeyUse::Signature);
        serde_json::to_value(jwk).ok()
    }

    /// The private key, for signing.
    #[cfg(feature = "aws-lc-rs")]
    pub(crate) fn encoding(&self) -> &EncodingKey {
        &self.encoding
    }

    /// The key refresh tokens' secrets are derived with (see `issuer::token`).
    pub(crate) fn refresh_key(&self) -> &[u8; 32] {
        &self.refresh_key
    }

    /// Names the key; tokens carry this `kid` in their header.
    #[must_use]
    pub fn with_kid(mut self, kid: impl Into<Arc<str>>) -> Self {
        self.verifying = self.verifying.with_kid(kid);
        self
    }

    /// The key id.
    pub fn kid(&self) -> Option<&str> {
        self.verifying.kid()
    }

    /// The algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.verifying.algorithm()
    }

    /// The verification key, for validators elsewhere.
    pub fn verifying_key(&self) -> &JwtKey {
        &self.verifying
    }
}

/// Who and what an access token is for.
///
/// ```
/// use tower_api_auth::{issuer::AccessGrant, scope::Scopes, Tenant};
///
/// let grant = AccessGrant::new("user_1", Scopes::parse("read").unwrap())
///     .with_tenants(vec![Tenant::new("tn_a").unwrap()])
///     .with_session("ses_1")
///     .with_claim("plan", "pro");
/// assert_eq!(grant.claims["plan"], "pro");
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct AccessGrant {
    /// The `sub`.
    pub subject: Arc<str>,
    /// The granted scopes.
    pub scopes: Scopes,
    /// The tenants (`tenant_id`: a string for one, an array for several).
    pub tenants: Vec<Tenant>,
    /// The session (`sid`); tokens of an ended session are refused.
    pub session_id: Option<Arc<str>>,
    /// The OAuth client (`client_id`, RFC 9068), if one asked.
    pub client_id: Option<Arc<str>>,
    /// The public id of the API key the grant was exchanged for (`api_key_id`), so that rules
    /// about the key still apply to its tokens.
    pub api_key_id: Option<Arc<str>>,
    /// The app's claims; [registered ones](REGISTERED_CLAIMS) are left out when signing.
    pub claims: Map<String, Value>,
    /// The latest `exp` the token may have (unix seconds): the end of what it was issued for — its
    /// session, the API key it was exchanged for. An access token never outlives it.
    pub not_after: Option<u64>,
}

impl AccessGrant {
    /// A grant for `subject` with `scopes`, no tenant and no session.
    pub fn new(subject: impl Into<Arc<str>>, scopes: Scopes) -> Self {
        Self {
            subject: subject.into(),
            scopes,
            tenants: Vec::new(),
            session_id: None,
            client_id: None,
            api_key_id: None,
            claims: Map::new(),
            not_after: None,
        }
    }

    /// Caps the token's `exp` at `not_after` (unix seconds), the end of what it is issued for.
    #[must_use]
    pub fn with_not_after(mut self, not_after: Option<u64>) -> Self {
        self.not_after = not_after;
        self
    }

    /// Sets the tenants.
    #[must_use]
    pub fn with_tenants(mut self, tenants: Vec<Tenant>) -> Self {
        self.tenants = tenants;
        self
    }

    /// Sets the session id.
    #[must_use]
    pub fn with_session(mut self, session_id: impl Into<Arc<str>>) -> Self {
        self.session_id = Some(session_id.into());
        self
    }

    /// Sets the client id.
    #[must_use]
    pub fn with_client(mut self, client_id: impl Into<Arc<str>>) -> Self {
        self.client_id = Some(client_id.into());
        self
    }

    /// Sets the API key id.
    #[must_use]
    pub fn with_api_key(mut self, api_key_id: impl Into<Arc<str>>) -> Self {
        self.api_key_id = Some(api_key_id.into());
        self
    }

    /// Adds a claim of the app's (ignored when signing if it is a [registered
    /// one](REGISTERED_CLAIMS)).
    #[must_use]
    pub fn with_claim(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.claims.insert(name.into(), value.into());
        self
    }

    /// Sets all of the app's claims at once.
    #[must_use]
    pub fn with_claims(mut self, claims: Map<String, Value>) -> Self {
        self.claims = claims;
        self
    }
}

/// A signed access token and its lifetime.
#[derive(Clone)]
#[non_exhaustive]
pub struct AccessToken {
    /// The JWT.
    pub token: String,
    /// Its `jti`.
    pub token_id: String,
    /// Its `exp` (unix seconds).
    pub expires_at: u64,
    /// Seconds from issue to expiry.
    pub expires_in: u64,
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessToken")
            .field("token", &"<redacted>")
            .field("token_id", &self.token_id)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    #[serde(skip_serializing_if = "Audience::is_empty")]
    aud: Audience<'a>,
    sub: &'a str,
    iat: u64,
    nbf: u64,
    exp: u64,
    jti: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    sid: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    api_key_id: Option<&'a str>,
    scope: &'a str,
    #[serde(skip_serializing_if = "TenantClaim::is_empty")]
    tenant_id: TenantClaim<'a>,
    #[serde(flatten)]
    custom: CustomClaims<'a>,
}

/// The app's claims, registered names left out.
struct CustomClaims<'a>(&'a Map<String, Value>);

impl Serialize for CustomClaims<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        for (name, value) in self.0 {
            if !is_registered_claim(name) {
                map.serialize_entry(name, value)?;
            }
        }
        map.end()
    }
}

#[derive(Serialize)]
#[serde(untagged)]
enum Audience<'a> {
    One(&'a str),
    Many(&'a [String]),
}

impl Audience<'_> {
    fn is_empty(&self) -> bool {
        matches!(self, Self::Many([]))
    }
}

#[derive(Serialize)]
#[serde(untagged)]
enum TenantClaim<'a> {
    One(&'a Tenant),
    Many(&'a [Tenant]),
}

impl TenantClaim<'_> {
    fn is_empty(&self) -> bool {
        matches!(self, Self::Many([]))
    }
}

/// Signs RFC 9068 access tokens (`typ: at+jwt`) that this crate's validator accepts as they are.
///
/// ```
/// # #[cfg(any(feature = "aws-lc-rs", feature = "rust-crypto"))]
/// # fn main() {
/// use tower_api_auth::{issuer::AccessGrant, Algorithm, scope::Scopes, issuer::SigningKey, issuer::TokenIssuer};
///
/// let key = SigningKey::hmac(Algorithm::HS256, b"a-secret-of-at-least-thirty-two-bytes!!").unwrap();
/// let issuer = TokenIssuer::new(key, "https://auth.example.test").audience("api");
/// let token = issuer
///     .issue(&AccessGrant::new("user_1", Scopes::parse("conversations:read").unwrap()), 1_800_000_000)
///     .unwrap();
/// assert_eq!(token.expires_in, 15 * 60);
/// let validator = issuer.validator(); // same key, issuer, audience; requires at+jwt
/// # let _ = validator;
/// # }
/// # #[cfg(not(any(feature = "aws-lc-rs", feature = "rust-crypto")))]
/// # fn main() {}
/// ```
#[derive(Clone)]
pub struct TokenIssuer {
    key: IssuerKey,
    issuer: String,
    audiences: Vec<String>,
    ttl: u64,
    header: Header,
}

impl fmt::Debug for TokenIssuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenIssuer")
            .field("key", &self.key)
            .field("issuer", &self.issuer)
            .field("audiences", &self.audiences)
            .field("ttl", &self.ttl)
            .finish()
    }
}

/// What a [`TokenIssuer`] signs with. Not boxed: the fixed key is read on every `issue`, and an
/// issuer is made once.
#[derive(Clone)]
#[allow(clippy::large_enum_variant)]
enum IssuerKey {
    Fixed(SigningKey),
    #[cfg(feature = "aws-lc-rs")]
    Rotating(SigningKeys),
}

impl fmt::Debug for IssuerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Fixed(key) => key.fmt(f),
            #[cfg(feature = "aws-lc-rs")]
            Self::Rotating(keys) => keys.fmt(f),
        }
    }
}

/// The default access-token lifetime: 15 minutes.
pub const DEFAULT_ACCESS_TOKEN_TTL: Duration = Duration::from_secs(15 * 60);

impl TokenIssuer {
    /// An issuer signing with `key` as `issuer` (the `iss`), tokens valid for 15 minutes.
    pub fn new(key: SigningKey, issuer: impl Into<String>) -> Self {
        let mut header = Header::new(key.algorithm());
        header.typ = Some("at+jwt".to_owned());
        header.kid = key.kid().map(str::to_owned);
        Self {
            key: IssuerKey::Fixed(key),
            issuer: issuer.into(),
            audiences: Vec::new(),
            ttl: DEFAULT_ACCESS_TOKEN_TTL.as_secs(),
            header,
        }
    }

    /// An issuer signing with the rotating keys of `keys` as `issuer`: each token carries the kid
    /// of the key that signs at its `iat`, [`validator`](Self::validator) follows the ring's
    /// rotations, [`jwks_json`](Self::jwks_json) is its JWK set, and refresh tokens are derived
    /// under the ring's fleet-wide issuance key, so they outlive rotations. Tokens last the
    /// ring's access-token TTL (15 minutes by default).
    ///
    /// ```
    /// use tower_api_auth::issuer::{AccessGrant, MemorySigningKeyStore, SigningKeys, TokenIssuer};
    /// use tower_api_auth::scope::Scopes;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let keys = SigningKeys::builder(MemorySigningKeyStore::new(), [7u8; 32]).build().await.unwrap();
    /// let issuer = TokenIssuer::rotating(keys, "https://auth.example.test");
    /// let now = tower_api_auth::clock::Clock::now(&tower_api_auth::clock::SystemClock);
    /// let token = issuer.issue(&AccessGrant::new("user_1", Scopes::parse("read").unwrap()), now).unwrap();
    /// assert!(issuer.validator().validate(&token.token, now).is_ok());
    /// assert!(issuer.jwks_json().unwrap().contains("\"use\":\"sig\""));
    /// # }
    /// ```
    #[cfg(feature = "aws-lc-rs")]
    pub fn rotating(keys: SigningKeys, issuer: impl Into<String>) -> Self {
        let ttl = keys.access_token_ttl_secs();
        let mut header = Header::new(Algorithm::ES256);
        header.typ = Some("at+jwt".to_owned());
        Self {
            key: IssuerKey::Rotating(keys),
            issuer: issuer.into(),
            audiences: Vec::new(),
            ttl,
            header,
        }
    }

    /// The key ring, for an issuer built with [`rotating`](Self::rotating).
    #[cfg(feature = "aws-lc-rs")]
    pub fn signing_keys(&self) -> Option<&SigningKeys> {
        match &self.key {
            IssuerKey::Rotating(keys) => Some(keys),
            IssuerKey::Fixed(_) => None,
        }
    }

    /// The RFC 7517 JWK set of the public keys other services verify this issuer's tokens with
    /// (`kid`, `alg`, `use: "sig"`), for a JWKS endpoint: every published key of a rotating
    /// issuer, the one key of a fixed asymmetric one. `None` for an HMAC key: secrets are never
    /// published.
    pub fn jwks_json(&self) -> Option<String> {
        match &self.key {
            IssuerKey::Fixed(key) => key
                .public_jwk()
                .map(|jwk| serde_json::json!({ "keys": [jwk] }).to_string()),
            #[cfg(feature = "aws-lc-rs")]
            IssuerKey::Rotating(keys) => Some(keys.jwks_json().to_string()),
        }
    }

    /// Adds an audience (`aud`).
    #[must_use]
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audiences.push(audience.into());
        self
    }

    /// The access-token lifetime. Default 15 minutes. A rotating issuer caps it at its ring's
    /// access-token TTL (a warning is logged), since the ring keeps old keys only that long.
    #[must_use]
    pub fn access_token_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl.as_secs().max(1);
        #[cfg(feature = "aws-lc-rs")]
        if let IssuerKey::Rotating(keys) = &self.key {
            let max = keys.access_token_ttl_secs();
            if self.ttl > max {
                tracing::warn!(
                    requested = self.ttl,
                    max,
                    "access-token TTL capped at the signing keys' access_token_ttl"
                );
                self.ttl = max;
            }
        }
        self
    }

    /// The key refresh tokens' secrets are derived with.
    pub(crate) fn refresh_key(&self) -> &[u8; 32] {
        match &self.key {
            IssuerKey::Fixed(key) => key.refresh_key(),
            #[cfg(feature = "aws-lc-rs")]
            IssuerKey::Rotating(keys) => keys.issuance_key(),
        }
    }

    /// The issuer's name (`iss`).
    pub fn issuer_url(&self) -> &str {
        &self.issuer
    }

    /// The access-token lifetime in seconds.
    pub fn ttl_secs(&self) -> u64 {
        self.ttl
    }

    /// Signs an access token for `grant` at `now` (unix seconds). Fails (`misconfigured`) only if
    /// the key cannot sign.
    pub fn issue(&self, grant: &AccessGrant, now: u64) -> Result<AccessToken, GrantError> {
        // Keys built before another crate's features changed the backend choice still sign safely.
        crate::crypto::ensure_provider();
        let token_id = random_secret(22);
        let expires_at = now
            .saturating_add(self.ttl)
            .min(grant.not_after.unwrap_or(u64::MAX));
        let claims = Claims {
            iss: &self.issuer,
            aud: match self.audiences.as_slice() {
                [one] => Audience::One(one),
                many => Audience::Many(many),
            },
            sub: &grant.subject,
            iat: now,
            nbf: now,
            exp: expires_at,
            jti: &token_id,
            sid: grant.session_id.as_deref(),
            client_id: grant.client_id.as_deref(),
            api_key_id: grant.api_key_id.as_deref(),
            scope: grant.scopes.as_str(),
            tenant_id: match grant.tenants.as_slice() {
                [one] => TenantClaim::One(one),
                many => TenantClaim::Many(many),
            },
            custom: CustomClaims(&grant.claims),
        };
        #[cfg(feature = "aws-lc-rs")]
        let state;
        let (header, encoding) = match &self.key {
            IssuerKey::Fixed(key) => (&self.header, &key.encoding),
            #[cfg(feature = "aws-lc-rs")]
            IssuerKey::Rotating(keys) => {
                // One atomic load; the state holds each key's header, made once.
                state = keys.state();
                let key = state.signer(now);
                (&key.header, &key.encoding)
            }
        };
        let token = jsonwebtoken::encode(header, &claims, encoding).map_err(|error| {
            tracing::error!(error = %error, "signing an access token failed");
            GrantError::new(GrantErrorKind::Misconfigured)
        })?;
        Ok(AccessToken {
            token,
            token_id,
            expires_at,
            expires_in: expires_at.saturating_sub(now),
        })
    }

    /// A validator for the tokens this issuer signs: the same key, issuer and audiences, `typ`
    /// `at+jwt` required, lifetimes up to this issuer's. To trust more keys (rotation), build a
    /// validator from [`validator_options`](Self::validator_options) and a key set.
    pub fn validator(&self) -> JwtValidator {
        self.validator_for(self.validator_options())
    }

    /// A validator for the tokens this issuer signs, with `options` (start from
    /// [`validator_options`](Self::validator_options)): it trusts the same keys and, for a
    /// rotating issuer, follows the ring.
    pub fn validator_for(&self, options: JwtOptions) -> JwtValidator {
        match &self.key {
            IssuerKey::Fixed(key) => JwtValidator::new(key.verifying.clone(), options),
            #[cfg(feature = "aws-lc-rs")]
            IssuerKey::Rotating(keys) => JwtValidator::from_source(keys.clone(), options),
        }
    }

    /// The options [`validator`](Self::validator) uses.
    pub fn validator_options(&self) -> JwtOptions {
        let mut options = JwtOptions::new()
            .issuer(self.issuer.as_str())
            .require_typ("at+jwt")
            .max_lifetime(Duration::from_secs(self.ttl));
        options.audiences.clone_from(&self.audiences);
        options
    }
}
