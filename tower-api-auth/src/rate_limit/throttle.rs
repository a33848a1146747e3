//! [`AuthThrottle`]: failed authentication limited per client IP and, for logins, per username,
//! checked before any store lookup or password hash, so that guessing costs the guesser.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use http::{Extensions, HeaderMap};

use super::{DEFAULT_MAX_KEYS, KeyPart, LimitKey, LocalLimiter, Quota};
use crate::client_ip::TrustedProxies;
use crate::clock::{Clock, SharedClock};
use crate::error::{AuthError, AuthErrorKind};
use crate::layer::{FailureThrottle, Throttled};

/// Usernames longer than this are counted by their hash, so that a flood of 16 KiB usernames
/// costs the throttle no more memory than short ones.
const MAX_USERNAME_KEY: usize = 128;

/// How much of a username a log line shows.
const MAX_USERNAME_LOGGED: usize = 64;

/// The refusal of a client over its failure quota: `429 rate_limit_exceeded`. The one place the
/// throttle's error is made.
fn rate_limit_exceeded() -> AuthError {
    AuthError::new(AuthErrorKind::RateLimitExceeded)
        .with_message("Too many failed authentication attempts: try again later")
}

/// Limits failed authentication per client IP and, for logins, per username: once a client has
/// used up its quota of failures, its requests with credentials are refused at once with
/// `429 rate_limit_exceeded` and `Retry-After`, in the app's error format, before the
/// credentials cost a store lookup, a signature check or a password hash. Only failures spend
/// the quota; a client that authenticates is never slowed down by its successes, and requests
/// without credentials (free to answer) are never refused.
///
/// Give it to the auth layer ([`AuthLayerBuilder::throttle_failures`]) and, with the token
/// endpoints, to them too (`TokenEndpoints::throttle_failures`): clones share their counts, so
/// a client that guesses API keys at the API is refused at the login too.
///
/// ```
/// # #[cfg(any(feature = "aws-lc-rs", feature = "rust-crypto"))]
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::net::IpAddr;
/// use std::time::Duration;
/// use tower_api_auth::client_ip::TrustedProxies;
/// use tower_api_auth::clock::ManualClock;
/// use tower_api_auth::rate_limit::{AuthAttempt, AuthThrottle, Quota};
/// use tower_api_auth::{AuthLayer, MemoryKeyStore};
///
/// let clock = ManualClock::at(1_800_000_000);
/// let throttle = AuthThrottle::new(Quota::per_minute(10)) // 10 failures per IP, then one per 6 s
///     .per_username(Quota::per_hour(20)) // and 20 failed logins per username an hour
///     .trusted_proxies(TrustedProxies::parse(["10.0.0.0/8"])?)
///     .clock(clock.clone());
/// let auth = AuthLayer::builder()
///     .api_keys(MemoryKeyStore::new())
///     .throttle_failures(throttle.clone())
///     .build()?;
///
/// // What the layer and the token endpoints do with each request:
/// let guesser = AuthAttempt::from_ip(Some("203.0.113.9".parse::<IpAddr>()?));
/// for _ in 0..10 {
///     assert!(throttle.check(&guesser).is_ok()); // before the lookup
///     throttle.failed(&guesser); // after it failed
/// }
/// let refused = throttle.check(&guesser).unwrap_err();
/// assert_eq!(refused.error().code(), "rate_limit_exceeded");
/// assert_eq!(refused.retry_after(), Duration::from_secs(6));
/// clock.advance(Duration::from_secs(6));
/// assert!(throttle.check(&guesser).is_ok());
/// # let _ = auth;
/// # Ok(()) }
/// # #[cfg(not(any(feature = "aws-lc-rs", feature = "rust-crypto")))]
/// # fn main() {}
/// ```
///
/// # What counts as a failure
///
/// At the auth layer, a credential it refuses as not genuine: `invalid_token` (bad, forged or
/// malformed beyond syntax), `token_expired`, `token_not_yet_valid`, `token_revoked`,
/// `invalid_api_key` (unknown, wrong secret, bad checksum), `api_key_expired`,
/// `api_key_revoked`. Not counted: a request without credentials (answered without any
/// lookup, so there is nothing to protect), a malformed request (`400`), a valid credential
/// without the tenant or scope (`403`: nothing was guessed), and a provider that could not
/// answer (`503`: the server's failure, not the client's). At the token endpoints: a wrong
/// username or password (per IP and per username), an invalid API key, refresh token or client
/// secret (per IP).
///
/// # How it counts, and why so
///
/// Each key (an IP, a username) has a GCRA bucket in a [`LocalLimiter`]: a failure spends one
/// request of the quota, and the check before the lookup [peeks](LocalLimiter::peek) at the
/// bucket — one memory lookup, nothing spent — and refuses while it could not take one more
/// failure, for exactly as long as the bucket needs to refill one. Requests that were already
/// past the check when a client used up its quota still cost their lookups: the overshoot is at
/// most the client's requests in flight.
///
/// Memory is bounded under a flood of distinct addresses or usernames: each kind's buckets hold
/// at most [`max_keys`](Self::max_keys) keys (idle ones are evicted first). IPv6 clients are counted per `/64` ([`ipv6_prefix`](Self::ipv6_prefix)), the block a
/// single host is usually given, so that one machine cannot spread its guesses over 2^64
/// addresses. A request whose server recorded no peer address (see [`crate::client_ip`]) counts
/// as one shared client: fail closed, and a `warn` is logged once.
///
/// Counts live in this instance's memory: each instance of a fleet allows the quota on its own.
///
/// [`AuthLayerBuilder::throttle_failures`]: crate::layer::AuthLayerBuilder::throttle_failures
#[derive(Clone)]
#[must_use]
pub struct AuthThrottle {
    settings: Settings,
    /// Built on first use, so that the builder's methods may come in any order.
    state: Arc<OnceLock<State>>,
}

#[derive(Clone, Debug)]
struct Settings {
    per_ip: Quota,
    per_username: Option<Quota>,
    proxies: TrustedProxies,
    clock: SharedClock,
    max_keys: usize,
    ipv6_prefix: u8,
}

struct State {
    ip: Counter,
    username: Option<Counter>,
    /// Whether the missing peer address was logged already.
    warned_unknown_peer: AtomicBool,
}

impl AuthThrottle {
    /// Allows `per_ip` failed authentications per client IP address.
    pub fn new(per_ip: Quota) -> Self {
        Self::from_settings(Settings {
            per_ip,
            per_username: None,
            proxies: TrustedProxies::none(),
            clock: crate::clock::system(),
            max_keys: DEFAULT_MAX_KEYS,
            ipv6_prefix: 64,
        })
    }

    fn from_settings(settings: Settings) -> Self {
        Self {
            settings,
            state: Arc::new(OnceLock::new()),
        }
    }

    /// Also allows `quota` failed logins per username, whichever addresses they come from (a
    /// botnet guessing one account's password). Usernames are compared trimmed and lowercased.
    pub fn per_username(mut self, quota: Quota) -> Self {
        self.settings.per_username = Some(quota);
        Self::from_settings(self.settings)
    }

    /// The proxies whose `Forwarded` / `X-Forwarded-For` name the client (see
    /// [`crate::client_ip`]). Default: none, the client is the socket's peer.
    pub fn trusted_proxies(mut self, proxies: TrustedProxies) -> Self {
        self.settings.proxies = proxies;
        Self::from_settings(self.settings)
    }

    /// The clock. Default: the system clock; tests pass a
    /// [`ManualClock`](crate::clock::ManualClock).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.settings.clock = Arc::new(clock);
        Self::from_settings(self.settings)
    }

    /// How many addresses (and, separately, usernames) it remembers, at least one. Default
    /// [`DEFAULT_MAX_KEYS`].
    pub fn max_keys(mut self, max_keys: usize) -> Self {
        self.settings.max_keys = max_keys.max(1);
        Self::from_settings(self.settings)
    }

    /// How many leading bits of an IPv6 address name one client (at most 128). Default 64.
    pub fn ipv6_prefix(mut self, bits: u8) -> Self {
        self.settings.ipv6_prefix = bits.min(128);
        Self::from_settings(self.settings)
    }

    /// The client address of a request, as this throttle counts it (see
    /// [`TrustedProxies::client_ip`]).
    pub fn client_ip(&self, extensions: &Extensions, headers: &HeaderMap) -> Option<IpAddr> {
        self.settings.proxies.client_ip(extensions, headers)
    }

    /// Before a credential is looked up or a password hashed: refuses the attempt if its
    /// address or username has used up its failure quota.
    pub fn check(&self, attempt: &AuthAttempt) -> Result<(), Throttled> {
        let state = self.state();
        let now = self.settings.clock.now_nanos();
        let by_ip = state.ip.check(&self.ip_key(state, attempt.ip), now);
        let by_username = match (&state.username, &attempt.username) {
            (Some(counter), Some(username)) => counter.check(&username_key(counter, username), now),
            _ => Ok(()),
        };
        // Both keys are read, so that the wait is the longer of the two.
        let wait = match (by_ip, by_username) {
            (Ok(()), Ok(())) => return Ok(()),
            (Err(a), Err(b)) => a.max(b),
            (Err(wait), Ok(())) | (Ok(()), Err(wait)) => wait,
        };
        tracing::info!(
            client_ip = %ClientIp(attempt.ip),
            username = attempt.username.as_deref().map(|u| tracing::field::debug(loggable(u))),
            retry_after_ms = wait.as_millis() as u64,
            "authentication refused: too many failed attempts"
        );
        Err(Throttled::new(rate_limit_exceeded(), wait))
    }

    /// After an authentication failed: spends one failure of the attempt's address and, if it
    /// names one and usernames are counted, of its username.
    pub fn failed(&self, attempt: &AuthAttempt) {
        let state = self.state();
        let now = self.settings.clock.now_nanos();
        if let Some(blocked) = state.ip.failed(self.ip_key(state, attempt.ip), now) {
            tracing::warn!(
                client_ip = %ClientIp(attempt.ip),
                blocked_ms = blocked.as_millis() as u64,
                quota = %self.settings.per_ip,
                "client IP over its quota of failed authentications: refused until it passes"
            );
        }
        if let (Some(counter), Some(username)) = (&state.username, &attempt.username)
            && let Some(blocked) = counter.failed(username_key(counter, username), now)
        {
            tracing::warn!(
                username = ?loggable(username),
                client_ip = %ClientIp(attempt.ip),
                blocked_ms = blocked.as_millis() as u64,
                "username over its quota of failed logins: refused until it passes"
            );
        }
    }

    fn state(&self) -> &State {
        self.state.get_or_init(|| {
            let counter = |policy: &str, quota: Quota| Counter {
                policy: Arc::from(policy),
                limiter: LocalLimiter::with_max_keys(
                    quota,
                    Arc::clone(&self.settings.clock),
                    self.settings.max_keys,
                ),
            };
            State {
                ip: counter("auth_failures_ip", self.settings.per_ip),
                username: (self.settings.per_username)
                    .map(|quota| counter("auth_failures_username", quota)),
                warned_unknown_peer: AtomicBool::new(false),
            }
        })
    }

    fn ip_key(&self, state: &State, ip: Option<IpAddr>) -> LimitKey {
        let policy = Arc::clone(&state.ip.policy);
        match ip {
            Some(IpAddr::V6(v6)) => {
                let bits = u32::from(self.settings.ipv6_prefix);
                let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
                let network = Ipv6Addr::from(u128::from(v6) & mask);
                LimitKey::new(policy, [KeyPart::Ip(IpAddr::V6(network))])
            }
            Some(ip) => LimitKey::new(policy, [KeyPart::Ip(ip)]),
            None => {
                if !state.warned_unknown_peer.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        "the client's address is unknown: every such request counts as one client \
                         of the failed-authentication throttle; serve axum apps with \
                         into_make_service_with_connect_info::<SocketAddr>(), or insert \
                         client_ip::ClientAddr into each request"
                    );
                }
                LimitKey::new(policy, [])
            }
        }
    }
}

fn username_key(counter: &Counter, username: &Arc<str>) -> LimitKey {
    LimitKey::new(
        Arc::clone(&counter.policy),
        [KeyPart::Username(Arc::clone(username))],
    )
}

/// A username as a log line may show it: at most [`MAX_USERNAME_LOGGED`] characters (the field
/// is written with `Debug`, so that control characters cannot forge log lines).
fn loggable(username: &str) -> &str {
    match username.char_indices().nth(MAX_USERNAME_LOGGED) {
        Some((end, _)) => &username[..end],
        None => username,
    }
}

/// A client address as log lines show it.
struct ClientIp(Option<IpAddr>);

impl fmt::Display for ClientIp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(ip) => write!(f, "{ip}"),
            None => f.write_str("unknown"),
        }
    }
}

impl fmt::Debug for AuthThrottle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthThrottle")
            .field("per_ip", &self.settings.per_ip)
            .field("per_username", &self.settings.per_username)
            .field("trusted_proxies", &self.settings.proxies)
            .field("max_keys", &self.settings.max_keys)
            .field("ipv6_prefix", &self.settings.ipv6_prefix)
            .finish_non_exhaustive()
    }
}

impl FailureThrottle for AuthThrottle {
    fn admit(
        &self,
        extensions: &Extensions,
        headers: &HeaderMap,
    ) -> Result<Option<IpAddr>, Throttled> {
        let ip = self.client_ip(extensions, headers);
        self.check(&AuthAttempt::from_ip(ip))?;
        Ok(ip)
    }

    fn failed(&self, client: Option<IpAddr>, error: &AuthError) {
        if is_failed_credential(error) {
            AuthThrottle::failed(self, &AuthAttempt::from_ip(client));
        }
    }
}

/// Whether the auth layer's `error` says the credential is not genuine (see "What counts as a
/// failure" on [`AuthThrottle`]).
fn is_failed_credential(error: &AuthError) -> bool {
    matches!(
        error.kind(),
        AuthErrorKind::InvalidToken
            | AuthErrorKind::TokenExpired
            | AuthErrorKind::TokenNotYetValid
            | AuthErrorKind::TokenRevoked
            | AuthErrorKind::InvalidApiKey
            | AuthErrorKind::ApiKeyExpired
            | AuthErrorKind::ApiKeyRevoked
    )
}

/// An [`AuthThrottle`] as a configuration file writes it (for `config`'s `AuthConfig`, or an
/// app's own settings):
///
/// ```
/// use tower_api_auth::rate_limit::AuthThrottleConfig;
///
/// let config: AuthThrottleConfig = toml::from_str(r#"
///     per_ip = "10/minute"
///     per_username = "20/hour"
///     trusted_proxies = ["10.0.0.0/8", "fd00::/8"]
/// "#)?;
/// let throttle = config.build(); // then `.clock(..)` in tests
/// # let _ = throttle;
/// # Ok::<(), toml::de::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct AuthThrottleConfig {
    /// Failed authentications per client IP ([`AuthThrottle::new`]).
    pub per_ip: Quota,
    /// Failed logins per username ([`AuthThrottle::per_username`]); none by default.
    #[serde(default)]
    pub per_username: Option<Quota>,
    /// [`AuthThrottle::trusted_proxies`]; none by default.
    #[serde(default)]
    pub trusted_proxies: TrustedProxies,
    /// [`AuthThrottle::max_keys`]; [`DEFAULT_MAX_KEYS`] by default.
    #[serde(default)]
    pub max_keys: Option<usize>,
}

impl AuthThrottleConfig {
    /// The configuration of a throttle of `per_ip`, with the defaults for the rest.
    pub fn new(per_ip: Quota) -> Self {
        Self {
            per_ip,
            per_username: None,
            trusted_proxies: TrustedProxies::none(),
            max_keys: None,
        }
    }

    /// The throttle, on the system clock.
    pub fn build(self) -> AuthThrottle {
        let mut throttle = AuthThrottle::new(self.per_ip).trusted_proxies(self.trusted_proxies);
        if let Some(quota) = self.per_username {
            throttle = throttle.per_username(quota);
        }
        if let Some(max_keys) = self.max_keys {
            throttle = throttle.max_keys(max_keys);
        }
        throttle
    }
}

/// Who is trying to authenticate: the client's address and, for a password login, the username
/// it names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthAttempt {
    ip: Option<IpAddr>,
    username: Option<Arc<str>>,
}

impl AuthAttempt {
    /// An attempt from `ip` (`None`: the server recorded no peer address).
    pub fn from_ip(ip: Option<IpAddr>) -> Self {
        Self { ip, username: None }
    }

    /// The attempt logs in as `username`, counted trimmed and lowercased (`" Alice@Example.com"`
    /// is `alice@example.com`); a very long one is counted by its hash.
    pub fn with_username(mut self, username: &str) -> Self {
        let normalized = username.trim().to_lowercase();
        let key = if normalized.len() > MAX_USERNAME_KEY {
            format!("#{}", blake3::hash(normalized.as_bytes()).to_hex())
        } else {
            normalized
        };
        self.username = Some(Arc::from(key));
        self
    }

    /// The client's address.
    pub fn ip(&self) -> Option<IpAddr> {
        self.ip
    }

    /// The username as counted (normalized), if the attempt names one.
    pub fn username(&self) -> Option<&str> {
        self.username.as_deref()
    }
}

/// One kind of key's failures: its GCRA buckets.
struct Counter {
    policy: Arc<str>,
    limiter: LocalLimiter,
}

impl Counter {
    /// `Err(wait)` while `key`'s bucket could not take one more failure (a peek: nothing spent).
    fn check(&self, key: &LimitKey, _now: u64) -> Result<(), Duration> {
        let decision = self.limiter.peek(key, 1);
        if decision.is_allowed() {
            Ok(())
        } else {
            Err(decision.retry_after())
        }
    }

    /// Spends one failure of `key`; when that leaves nothing (or was refused: concurrent
    /// failures raced past the check), says how long the key is now refused.
    fn failed(&self, key: LimitKey, _now: u64) -> Option<Duration> {
        let decision = self.limiter.acquire(&key, 1);
        if !decision.is_allowed() {
            Some(decision.retry_after())
        } else if decision.remaining() == 0 {
            // The last failure the bucket held: the next fits once one has come back.
            Some(decision.reset())
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    fn attempt(ip: &str) -> AuthAttempt {
        AuthAttempt::from_ip(Some(ip.parse().unwrap()))
    }

    fn throttle(quota: Quota, clock: &ManualClock) -> AuthThrottle {
        AuthThrottle::new(quota).clock(clock.clone())
    }

    #[test]
    fn failures_spend_the_quota_and_the_block_lasts_until_one_fits_again() {
        let clock = ManualClock::at(1_800_000_000);
        let throttle = throttle(Quota::per_minute(3), &clock);
        let guesser = attempt("203.0.113.9");
        for _ in 0..3 {
            throttle.check(&guesser).unwrap();
            throttle.failed(&guesser);
        }
        let refused = throttle.check(&guesser).unwrap_err();
        assert_eq!(refused.retry_after(), Duration::from_secs(20));
        assert_eq!(refused.error().status(), 429);
        clock.advance(Duration::from_secs(19));
        assert!(throttle.check(&guesser).is_err(), "not yet");
        clock.advance(Duration::from_secs(1));
        throttle.check(&guesser).unwrap();
        // One more failure fits, and blocks again.
        throttle.failed(&guesser);
        assert_eq!(
            throttle.check(&guesser).unwrap_err().retry_after(),
            Duration::from_secs(20)
        );
        // Others are not affected.
        throttle.check(&attempt("203.0.113.10")).unwrap();
    }

    #[test]
    fn a_client_is_refused_exactly_until_its_bucket_takes_a_failure_again() {
        let clock = ManualClock::at(1_800_000_000);
        let throttle = throttle(Quota::per_minute(2), &clock);
        let guesser = attempt("203.0.113.9");
        throttle.failed(&guesser);
        clock.advance(Duration::from_secs(10));
        throttle.failed(&guesser);
        // One failure comes back 30 s after the first: 20 s from now.
        assert_eq!(
            throttle.check(&guesser).unwrap_err().retry_after(),
            Duration::from_secs(20)
        );
        clock.advance(Duration::from_secs(20));
        throttle.check(&guesser).unwrap();
    }

    #[test]
    fn usernames_are_normalized_and_counted_apart_from_addresses() {
        let clock = ManualClock::at(1_800_000_000);
        let throttle = throttle(Quota::per_minute(100), &clock).per_username(Quota::per_hour(2));
        throttle.failed(&attempt("203.0.113.1").with_username(" Alice "));
        throttle.failed(&attempt("203.0.113.2").with_username("ALICE"));
        let refused = throttle
            .check(&attempt("203.0.113.3").with_username("alice"))
            .unwrap_err();
        assert_eq!(refused.retry_after(), Duration::from_secs(1800));
        throttle
            .check(&attempt("203.0.113.3").with_username("bob"))
            .unwrap();
        throttle.check(&attempt("203.0.113.3")).unwrap();
        // Without a username quota, usernames are not counted.
        let by_ip = self::throttle(Quota::per_minute(100), &clock);
        by_ip.failed(&attempt("203.0.113.1").with_username("alice"));
        by_ip.failed(&attempt("203.0.113.2").with_username("alice"));
        by_ip
            .check(&attempt("203.0.113.3").with_username("alice"))
            .unwrap();
    }

    #[test]
    fn long_usernames_are_counted_by_their_hash() {
        let long = "x".repeat(10_000);
        let attempt = attempt("203.0.113.1").with_username(&long);
        assert_eq!(attempt.username().unwrap().len(), 65);
        assert_eq!(
            attempt,
            self::attempt("203.0.113.1").with_username(&long.to_uppercase())
        );
        assert_eq!(loggable(&long).len(), MAX_USERNAME_LOGGED);
    }

    #[test]
    fn ipv6_clients_are_counted_per_prefix() {
        let clock = ManualClock::at(1_800_000_000);
        let throttle = throttle(Quota::per_minute(2), &clock);
        throttle.failed(&attempt("2001:db8:1:2::1"));
        throttle.failed(&attempt("2001:db8:1:2:ffff::9"));
        assert!(throttle.check(&attempt("2001:db8:1:2::abcd")).is_err());
        throttle.check(&attempt("2001:db8:1:3::1")).unwrap();
        let per_address = self::throttle(Quota::per_minute(2), &clock).ipv6_prefix(128);
        per_address.failed(&attempt("2001:db8:1:2::1"));
        per_address.failed(&attempt("2001:db8:1:2::2"));
        per_address.check(&attempt("2001:db8:1:2::3")).unwrap();
    }

    #[test]
    fn clients_without_an_address_share_one_quota() {
        let clock = ManualClock::at(1_800_000_000);
        let throttle = throttle(Quota::per_minute(1), &clock);
        throttle.failed(&AuthAttempt::from_ip(None));
        assert!(throttle.check(&AuthAttempt::from_ip(None)).is_err());
        throttle.check(&attempt("203.0.113.1")).unwrap();
    }

    #[test]
    fn the_layer_counts_only_failed_credentials() {
        let counted = [
            AuthErrorKind::InvalidToken,
            AuthErrorKind::TokenExpired,
            AuthErrorKind::TokenRevoked,
            AuthErrorKind::InvalidApiKey,
            AuthErrorKind::ApiKeyRevoked,
        ];
        let not_counted = [
            AuthErrorKind::MissingCredentials,
            AuthErrorKind::InvalidRequest,
            AuthErrorKind::TenantForbidden,
            AuthErrorKind::InsufficientScope,
            AuthErrorKind::AuthUnavailable,
            AuthErrorKind::ApiKeysNotAccepted,
        ];
        for kind in counted {
            assert!(is_failed_credential(&AuthError::new(kind)), "{kind:?}");
        }
        for kind in not_counted {
            assert!(!is_failed_credential(&AuthError::new(kind)), "{kind:?}");
        }
    }

    #[test]
    fn the_configuration_builds_the_same_throttle() {
        let config: AuthThrottleConfig = serde_json::from_str(
            r#"{"per_ip": "2/minute", "per_username": "1/hour", "trusted_proxies": ["10.0.0.0/8"], "max_keys": 50}"#,
        )
        .unwrap();
        let throttle = config.build();
        assert_eq!(
            format!("{throttle:?}"),
            format!(
                "{:?}",
                AuthThrottle::new(Quota::per_minute(2))
                    .per_username(Quota::per_hour(1))
                    .trusted_proxies(TrustedProxies::parse(["10.0.0.0/8"]).unwrap())
                    .max_keys(50)
            )
        );
        let unknown =
            serde_json::from_str::<AuthThrottleConfig>(r#"{"per_ip": "2/minute", "per_ip_v6": 3}"#);
        assert!(unknown.unwrap_err().to_string().contains("per_ip_v6"));
        let minimal: AuthThrottleConfig =
            serde_json::from_str(r#"{"per_ip": "10/minute"}"#).unwrap();
        assert_eq!(minimal, AuthThrottleConfig::new(Quota::per_minute(10)));
    }

    #[test]
    fn memory_is_bounded_by_max_keys() {
        let clock = ManualClock::at(1_800_000_000);
        let throttle = throttle(Quota::per_minute(1), &clock).max_keys(100);
        for i in 0..10_000u32 {
            throttle.failed(&AuthAttempt::from_ip(Some(IpAddr::from(i.to_be_bytes()))));
        }
        let state = throttle.state();
        assert!(
            state.ip.limiter.keys() <= 100,
            "{}",
            state.ip.limiter.keys()
        );
    }
}
