//! [`Introspection`]: opaque Bearer tokens judged by their issuer's RFC 7662 endpoint.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::{HeaderMap, HeaderValue, header};
use jsonwebtoken::{Algorithm, AlgorithmFamily, EncodingKey, Header};
use quick_cache::Weighter;
use quick_cache::sync::Cache;
use reqwest::Url;
use serde_json::Value;
use tokio::sync::Semaphore;

use crate::clock::{Clock, SharedClock};
use crate::error::{AuthError, AuthErrorKind};
use crate::opaque::{OpaqueToken, OpaqueTokenValidator};
use crate::remote::fetch::{Fetcher, RemoteError, parse_url};
use crate::scope::Scopes;
use crate::store::Lookup;
use crate::tenant::Tenant;

/// How the resource server authenticates to the introspection endpoint (RFC 7662 §2.1 requires
/// it). `Debug` shows the client id only.
///
/// ```
/// use tower_api_auth::remote::ClientAuth;
///
/// let auth = ClientAuth::basic("resource-server", "the-client-secret");
/// assert!(!format!("{auth:?}").contains("the-client-secret"));
/// ```
#[derive(Clone)]
pub struct ClientAuth(AuthKind);

#[derive(Clone)]
enum AuthKind {
    Basic {
        client_id: String,
        secret: String,
    },
    PrivateKeyJwt {
        client_id: String,
        algorithm: Algorithm,
        key: EncodingKey,
        kid: Option<String>,
    },
}

impl fmt::Debug for ClientAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            AuthKind::Basic { client_id, .. } => f
                .debug_struct("ClientAuth::Basic")
                .field("client_id", client_id)
                .finish_non_exhaustive(),
            AuthKind::PrivateKeyJwt {
                client_id,
                algorithm,
                kid,
                ..
            } => f
                .debug_struct("ClientAuth::PrivateKeyJwt")
                .field("client_id", client_id)
                .field("algorithm", algorithm)
                .field("kid", kid)
                .finish_non_exhaustive(),
        }
    }
}

impl ClientAuth {
    /// `client_secret_basic`: HTTP Basic with the client id and secret (form-encoded first, as
    /// RFC 6749 §2.3.1 says).
    pub fn basic(client_id: impl Into<String>, secret: impl Into<String>) -> Self {
        Self(AuthKind::Basic {
            client_id: client_id.into(),
            secret: secret.into(),
        })
    }

    /// `private_key_jwt` (RFC 7523, OIDC Core §9): a short-lived assertion signed with the
    /// client's private key in PEM, for `algorithm` (RS*, PS*, ES256/384, EdDSA).
    pub fn private_key_jwt(
        client_id: impl Into<String>,
        algorithm: Algorithm,
        private_pem: &[u8],
    ) -> Result<Self, RemoteError> {
        crate::crypto::ensure_provider();
        let key = match algorithm.family() {
            AlgorithmFamily::Rsa => EncodingKey::from_rsa_pem(private_pem),
            AlgorithmFamily::Ec => EncodingKey::from_ec_pem(private_pem),
            AlgorithmFamily::Ed => EncodingKey::from_ed_pem(private_pem),
            _ => {
                return Err(RemoteError::new(
                    "private_key_jwt needs an asymmetric algorithm",
                ));
            }
        }
        .map_err(|_| RemoteError::new(format!("not a {algorithm:?} private key in PEM")))?;
        Ok(Self(AuthKind::PrivateKeyJwt {
            client_id: client_id.into(),
            algorithm,
            key,
            kid: None,
        }))
    }

    /// Names the private key (`kid` of the assertion's header).
    #[must_use]
    pub fn with_kid(mut self, kid: impl Into<String>) -> Self {
        if let AuthKind::PrivateKeyJwt { kid: slot, .. } = &mut self.0 {
            *slot = Some(kid.into());
        }
        self
    }
}

/// `application/x-www-form-urlencoded` encoding of one value (also what RFC 6749 §2.3.1 asks of
/// client credentials before they go into a Basic header).
fn form_encode(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// Judges opaque Bearer tokens by asking their issuer's RFC 7662 introspection endpoint, with a
/// cache. An [`OpaqueTokenValidator`] for
/// [`AuthLayerBuilder::opaque_tokens`](crate::layer::AuthLayerBuilder::opaque_tokens).
///
/// * The answer maps to the identity: `active` (required; `false` is `invalid_token`), `sub` (the
///   principal; else `client_id`), `scope`, `exp`, `client_id`, `jti`, and the tenant claim
///   (default `tenant_id`; a [claim path](crate::jwt::JwtOptions#claim-paths) works). With an
///   [`audience`](IntrospectionBuilder::audience), `aud` must name it.
/// * Active answers are cached until the earlier of `exp` and
///   [`max_age`](IntrospectionBuilder::max_age) (default 5 min), inactive ones for
///   [`negative_ttl`](IntrospectionBuilder::negative_ttl) (default 10 s), in at most
///   [`max_bytes`](IntrospectionBuilder::max_bytes) (default 4 MiB). The cache is keyed by a keyed
///   BLAKE3 hash of the token under a key drawn at start: the token itself is never kept, and only
///   the exact token finds its entry.
/// * An endpoint that fails, times out, answers something other than a 2xx JSON object, or is
///   busy past [`max_concurrent`](IntrospectionBuilder::max_concurrent) requests is 503
///   `auth_unavailable`, never 401, and is not cached.
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use tower_api_auth::AuthLayer;
/// use tower_api_auth::remote::{ClientAuth, Introspection};
///
/// let introspection = Introspection::builder(
///     "https://auth.example.test/oauth2/introspect",
///     ClientAuth::basic("resource-server", std::env::var("INTROSPECTION_SECRET")?),
/// )
/// .audience("api")
/// .build()?;
/// let auth = AuthLayer::builder().opaque_tokens(introspection).build()?;
/// # let _ = auth;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Introspection(Arc<Inner>);

struct Inner {
    endpoint: Url,
    auth: ClientAuth,
    fetcher: Fetcher,
    config: Config,
    clock: SharedClock,
    /// The key of the cache's token hashes: random, never leaves the process.
    hash_key: [u8; 32],
    cache: Cache<[u8; 32], Cached, BySize>,
    permits: Semaphore,
    /// The "too many in flight" warning: a flood of random opaque tokens must not flood the log.
    busy: ThrottledWarning,
}

/// The "too many in flight" warning is written at most once per this many seconds.
const BUSY_WARNING_INTERVAL_SECS: u64 = 10;

/// A warning written at most once per [`BUSY_WARNING_INTERVAL_SECS`], saying how often it was
/// due since the last time.
#[derive(Default)]
struct ThrottledWarning {
    /// When the line was last written (unix seconds; 0: never).
    written_at: AtomicU64,
    /// Occurrences not yet reported.
    pending: AtomicU64,
}

impl ThrottledWarning {
    /// Counts one occurrence at `now`: `Some(occurrences since the last line)` when a line is
    /// due, `None` when the last one is too recent.
    fn occurred(&self, now: u64) -> Option<u64> {
        self.pending.fetch_add(1, Ordering::Relaxed);
        let last = self.written_at.load(Ordering::Relaxed);
        let due = last == 0 || now >= last.saturating_add(BUSY_WARNING_INTERVAL_SECS);
        let claimed = due
            && (self.written_at)
                .compare_exchange(last, now.max(1), Ordering::Relaxed, Ordering::Relaxed)
                .is_ok();
        claimed.then(|| self.pending.swap(0, Ordering::Relaxed))
    }
}

impl fmt::Debug for Introspection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Introspection")
            .field("endpoint", &self.0.endpoint.as_str())
            .field("auth", &self.0.auth)
            .field("config", &self.0.config)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone)]
struct Config {
    timeout: Duration,
    max_bytes_response: usize,
    max_age: Duration,
    negative_ttl: Duration,
    cache_bytes: u64,
    max_concurrent: usize,
    tenant_claim: String,
    audience: Option<String>,
    allow_http: bool,
}

/// A cached answer: the token's identity, or `None` for an inactive token.
#[derive(Clone)]
struct Cached {
    token: Option<OpaqueToken>,
    valid_until: u64,
}

#[derive(Clone)]
struct BySize;

impl Weighter<[u8; 32], Cached> for BySize {
    fn weight(&self, _key: &[u8; 32], cached: &Cached) -> u64 {
        let strings = cached.token.as_ref().map_or(0, |t| {
            t.principal.len()
                + t.scopes.as_str().len()
                + t.tenants
                    .iter()
                    .map(|t| t.as_str().len() + 32)
                    .sum::<usize>()
                + t.client_id.as_deref().map_or(0, str::len)
                + t.token_id.as_deref().map_or(0, str::len)
        });
        // The key, the slot and the Arc'd strings' headers.
        (160 + strings) as u64
    }
}

/// A snapshot of the introspection cache, for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct IntrospectionStats {
    /// Answers held.
    pub entries: usize,
    /// Their estimated size in bytes.
    pub bytes: u64,
    /// The bound on `bytes`.
    pub max_bytes: u64,
}

/// Configures an [`Introspection`].
#[derive(Debug, Clone)]
#[must_use]
pub struct IntrospectionBuilder {
    endpoint: String,
    auth: ClientAuth,
    config: Config,
    clock: Option<SharedClock>,
}

impl Introspection {
    /// Introspection at `endpoint`, authenticating as `auth`.
    pub fn builder(endpoint: impl Into<String>, auth: ClientAuth) -> IntrospectionBuilder {
        IntrospectionBuilder {
            endpoint: endpoint.into(),
            auth,
            config: Config {
                timeout: Duration::from_secs(5),
                max_bytes_response: 64 * 1024,
                max_age: Duration::from_secs(300),
                negative_ttl: Duration::from_secs(10),
                cache_bytes: 4 * 1024 * 1024,
                max_concurrent: 64,
                tenant_claim: "tenant_id".to_owned(),
                audience: None,
                allow_http: false,
            },
            clock: None,
        }
    }

    /// The cache's size.
    pub fn stats(&self) -> IntrospectionStats {
        IntrospectionStats {
            entries: self.0.cache.len(),
            bytes: self.0.cache.weight(),
            max_bytes: self.0.config.cache_bytes,
        }
    }
}

impl IntrospectionBuilder {
    /// How long one introspection request may take. Default 5 s.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.config.timeout = timeout;
        self
    }

    /// The longest an active answer is trusted (never past the token's `exp`). Default 5 min.
    pub fn max_age(mut self, max_age: Duration) -> Self {
        self.config.max_age = max_age;
        self
    }

    /// How long an inactive answer is remembered. Default 10 s.
    pub fn negative_ttl(mut self, ttl: Duration) -> Self {
        self.config.negative_ttl = ttl;
        self
    }

    /// The memory the answer cache may use, in bytes. Default 4 MiB.
    pub fn max_bytes(mut self, max_bytes: u64) -> Self {
        self.config.cache_bytes = max_bytes;
        self
    }

    /// The most introspection requests in flight at once; a request that cannot get a turn
    /// within the timeout is 503. Default 64.
    pub fn max_concurrent(mut self, max: usize) -> Self {
        self.config.max_concurrent = max.max(1);
        self
    }

    /// The claim (or claim path) tenants are read from. Default `tenant_id`.
    pub fn tenant_claim(mut self, claim: impl Into<String>) -> Self {
        self.config.tenant_claim = claim.into();
        self
    }

    /// Requires the answer's `aud` to name `audience`.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.config.audience = Some(audience.into());
        self
    }

    /// Allows plain HTTP to hosts other than loopback addresses (never do this in production).
    pub fn allow_http(mut self, allow: bool) -> Self {
        self.config.allow_http = allow;
        self
    }

    /// The clock of `exp` and the cache. Default: the system clock.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Some(Arc::new(clock));
        self
    }

    /// The validator. Fails for an endpoint URL the policy refuses.
    pub fn build(self) -> Result<Introspection, RemoteError> {
        let endpoint = parse_url(&self.endpoint, self.config.allow_http)?;
        let fetcher = Fetcher::new(
            self.config.timeout,
            self.config.max_bytes_response,
            self.config.allow_http,
        )?;
        let mut hash_key = [0u8; 32];
        getrandom::fill(&mut hash_key).expect("the OS random number generator failed");
        let items = (self.config.cache_bytes / 256).max(16) as usize;
        Ok(Introspection(Arc::new(Inner {
            endpoint,
            auth: self.auth,
            fetcher,
            cache: Cache::with_weighter(items, self.config.cache_bytes, BySize),
            permits: Semaphore::new(self.config.max_concurrent),
            busy: ThrottledWarning::default(),
            clock: self.clock.unwrap_or_else(crate::clock::system),
            hash_key,
            config: self.config,
        })))
    }
}

fn inactive() -> AuthError {
    AuthError::new(AuthErrorKind::InvalidToken).with_message("The access token is not active")
}

fn unavailable() -> AuthError {
    AuthError::new(AuthErrorKind::AuthUnavailable)
        .with_message("The token introspection endpoint is not available")
}

impl OpaqueTokenValidator for Introspection {
    fn validate(&self, token: &str, now: u64) -> Lookup<OpaqueToken, AuthError> {
        let key = *blake3::keyed_hash(&self.0.hash_key, token.as_bytes()).as_bytes();
        if let Some(cached) = self.0.cache.get(&key) {
            if now < cached.valid_until {
                return Lookup::Ready(cached.token.ok_or_else(inactive));
            }
            self.0.cache.remove(&key);
        }
        let inner = Arc::clone(&self.0);
        let token = token.to_owned();
        Lookup::pending(async move { inner.introspect(&token, key).await })
    }
}

impl Introspection {
    /// `Ok` when the endpoint answers an introspection of a random token as RFC 7662 says (JSON
    /// with a boolean `active`); else why not (for readiness). Neither cached nor counted.
    #[cfg(feature = "health")]
    pub(crate) async fn reachable(&self) -> Result<(), String> {
        let inner = &self.0;
        let (headers, form) = inner
            .request(&crate::crypto::random_secret(32))
            .map_err(|_| "the introspection request could not be built".to_owned())?;
        let body = inner
            .fetcher
            .post_form(&inner.endpoint, headers, form)
            .await
            .map_err(|error| crate::remote::fetch::redact(&error.to_string(), &inner.endpoint))?;
        match serde_json::from_slice::<Value>(&body) {
            Ok(answer) if answer.get("active").is_some_and(Value::is_boolean) => Ok(()),
            _ => Err(crate::remote::fetch::redact(
                &format!("{} answered without a boolean `active`", inner.endpoint),
                &inner.endpoint,
            )),
        }
    }
}

impl Inner {
    async fn introspect(&self, token: &str, key: [u8; 32]) -> Result<OpaqueToken, AuthError> {
        let _permit = tokio::time::timeout(self.config.timeout, self.permits.acquire())
            .await
            .map_err(|_| {
                self.warn_busy();
                unavailable()
            })?
            .map_err(|_| unavailable())?;
        let (headers, form) = self.request(token)?;
        let body = self
            .fetcher
            .post_form(&self.endpoint, headers, form)
            .await
            .map_err(|error| {
                tracing::warn!(%error, "token introspection failed");
                unavailable()
            })?;
        let answer: Value = serde_json::from_slice(&body).map_err(|_| {
            tracing::warn!(endpoint = %self.endpoint, "token introspection answered something other than JSON");
            unavailable()
        })?;
        let Some(active) = answer.get("active").and_then(Value::as_bool) else {
            tracing::warn!(endpoint = %self.endpoint, "token introspection answered without `active`");
            return Err(unavailable());
        };
        // The clock is read after the answer: it may have taken a while.
        let now = self.clock.now();
        let judged = if active {
            self.map(&answer, now)
        } else {
            Err(inactive())
        };
        let valid_until = match &judged {
            Ok(token) => token
                .expires_at
                .unwrap_or(u64::MAX)
                .min(now.saturating_add(self.config.max_age.as_secs())),
            Err(_) => now.saturating_add(self.config.negative_ttl.as_secs()),
        };
        if now < valid_until {
            self.cache.insert(
                key,
                Cached {
                    token: judged.as_ref().ok().cloned(),
                    valid_until,
                },
            );
        }
        judged
    }

    /// The request's headers and form body.
    fn request(&self, token: &str) -> Result<(HeaderMap, String), AuthError> {
        let mut headers = HeaderMap::new();
        let mut form = format!("token={}&token_type_hint=access_token", form_encode(token));
        match &self.auth.0 {
            AuthKind::Basic { client_id, secret } => {
                let credentials = format!("{}:{}", form_encode(client_id), form_encode(secret));
                let mut value =
                    HeaderValue::try_from(format!("Basic {}", STANDARD.encode(credentials)))
                        .map_err(|_| unavailable())?;
                value.set_sensitive(true);
                headers.insert(header::AUTHORIZATION, value);
            }
            AuthKind::PrivateKeyJwt {
                client_id,
                algorithm,
                key,
                kid,
            } => {
                let now = self.clock.now();
                let mut header = Header::new(*algorithm);
                header.kid.clone_from(kid);
                let claims = serde_json::json!({
                    "iss": client_id,
                    "sub": client_id,
                    "aud": self.endpoint.as_str(),
                    // RFC 7523 §3: a `jti` never reused; the crate's public random secrets.
                    "jti": crate::crypto::random_secret(22),
                    "iat": now,
                    "exp": now + 60,
                });
                let assertion = jsonwebtoken::encode(&header, &claims, key).map_err(|error| {
                    tracing::warn!(%error, "token introspection: the client assertion could not be signed");
                    unavailable()
                })?;
                form.push_str(&format!(
                    "&client_id={}&client_assertion_type={}&client_assertion={assertion}",
                    form_encode(client_id),
                    form_encode("urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
                ));
            }
        }
        Ok((headers, form))
    }

    /// Says in the log that a request was refused for want of a turn, at most once per
    /// [`BUSY_WARNING_INTERVAL_SECS`], with how many were refused since the last line.
    fn warn_busy(&self) {
        if let Some(refused) = self.busy.occurred(self.clock.now()) {
            tracing::warn!(
                endpoint = %self.endpoint,
                refused,
                max_concurrent = self.config.max_concurrent,
                "token introspection: too many requests in flight; refused with 503 (this line at most every {BUSY_WARNING_INTERVAL_SECS} s)"
            );
        }
    }

    /// The identity of an active answer.
    fn map(&self, answer: &Value, now: u64) -> Result<OpaqueToken, AuthError> {
        let text = |name: &str| {
            answer
                .get(name)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
        };
        let principal = text("sub")
            .or_else(|| text("client_id"))
            .ok_or_else(|| invalid("The token names no subject"))?;
        // A time of the wrong type is a refusal, never "no expiry" (the bug class of
        // jsonwebtoken's 2026 advisory): RFC 7662 §2.2 gives `exp` and `nbf` as timestamps.
        let expires_at = timestamp(answer, "exp", "The token's exp is not a timestamp")?;
        if expires_at.is_some_and(|exp| exp <= now as i64) {
            return Err(inactive());
        }
        let not_before = timestamp(answer, "nbf", "The token's nbf is not a timestamp")?;
        if not_before.is_some_and(|nbf| nbf > (now + NBF_LEEWAY_SECS) as i64) {
            return Err(invalid("The token is not valid yet"));
        }
        if let Some(audience) = &self.config.audience {
            let named = match answer.get("aud") {
                Some(Value::String(aud)) => aud == audience,
                Some(Value::Array(auds)) => auds.iter().any(|a| a.as_str() == Some(audience)),
                _ => false,
            };
            if !named {
                return Err(invalid("The token's audience is not accepted"));
            }
        }
        let scopes = match text("scope") {
            None => Scopes::empty(),
            Some(list) => {
                Scopes::parse(list).map_err(|_| invalid("The token's scope is malformed"))?
            }
        };
        let tenants = match lookup(answer, &self.config.tenant_claim) {
            None => Vec::new(),
            Some(Value::String(tenant)) => vec![tenant.as_str()],
            Some(Value::Array(items)) => items
                .iter()
                .map(Value::as_str)
                .collect::<Option<_>>()
                .ok_or_else(|| invalid("The token's tenant claim is malformed"))?,
            Some(_) => return Err(invalid("The token's tenant claim is malformed")),
        }
        .into_iter()
        .map(Tenant::new)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| invalid("The token's tenant claim is malformed"))?;
        let mut token = OpaqueToken::new(principal)
            .with_scopes(scopes)
            .with_tenants(tenants);
        // After the check above, a present `exp` is later than now, so positive.
        token.expires_at = expires_at.map(|exp| exp as u64);
        token.client_id = text("client_id").map(Arc::from);
        token.token_id = text("jti").map(Arc::from);
        Ok(token)
    }
}

/// How far in the future an answer's `nbf` may lie, for the clocks of the two servers: the
/// default leeway of JWTs.
const NBF_LEEWAY_SECS: u64 = 60;

/// The timestamp `name` of an introspection answer, in whole seconds: absent is `None`; an
/// integer, or a number with a fraction (RFC 7519's NumericDate, which RFC 7662 refers to),
/// truncated toward the past; anything else (a string, `null`, a boolean) is `invalid_token`
/// saying `malformed`.
fn timestamp(
    answer: &Value,
    name: &str,
    malformed: &'static str,
) -> Result<Option<i64>, AuthError> {
    let Some(value) = answer.get(name) else {
        return Ok(None);
    };
    let seconds = match value.as_number() {
        Some(number) => match (number.as_i64(), number.as_u64(), number.as_f64()) {
            (Some(seconds), _, _) => Some(seconds),
            // Beyond i64: the far future.
            (None, Some(_), _) => Some(i64::MAX),
            (None, None, Some(seconds)) if seconds.is_finite() => Some(seconds.floor() as i64),
            _ => None,
        },
        None => None,
    };
    seconds.map(Some).ok_or_else(|| invalid(malformed))
}

fn invalid(message: &'static str) -> AuthError {
    AuthError::new(AuthErrorKind::InvalidToken).with_message(message)
}

/// The member at `path`: by its full name first, else split at dots into nested members.
fn lookup<'v>(value: &'v Value, path: &str) -> Option<&'v Value> {
    if let Some(found) = value.get(path) {
        return Some(found);
    }
    path.match_indices('.').find_map(|(i, _)| {
        let inner = value.get(&path[..i]).filter(|inner| inner.is_object())?;
        lookup(inner, &path[i + 1..])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_throttled_warning_is_due_once_per_interval_counting_what_it_skipped() {
        let warning = ThrottledWarning::default();
        assert_eq!(warning.occurred(1_000), Some(1));
        assert_eq!(warning.occurred(1_000), None);
        assert_eq!(warning.occurred(1_009), None);
        assert_eq!(warning.occurred(1_010), Some(3));
        assert_eq!(warning.occurred(1_011), None);
        assert_eq!(warning.occurred(2_000), Some(2));
        // A clock at 0 (a test's) still writes the first line, and throttles after it.
        let early = ThrottledWarning::default();
        assert_eq!(early.occurred(0), Some(1));
        assert_eq!(early.occurred(0), None);
    }

    #[test]
    fn form_values_are_encoded() {
        assert_eq!(form_encode("a b+c/d=é"), "a+b%2Bc%2Fd%3D%C3%A9");
        assert_eq!(form_encode("abc-._*"), "abc-._*");
    }
}
