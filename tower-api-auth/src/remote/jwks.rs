//! [`RemoteJwks`]: a JWK set from a URL (or found by discovery), refreshed in the background.
//!
//! One tokio task per key set does every fetch — the first load, the periodic refresh, the
//! refetch a token with an unknown `kid` asks for, an explicit [`RemoteJwks::refresh`] — so at
//! most one request is in flight, by construction. Requests read the keys through the
//! validator's lock-free [`KeyHandle`] and never wait for that task, unless their token names a
//! key the set lacks; then they wait, at most the fetch timeout, for the refetch.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use reqwest::Url;
use tokio::sync::{Notify, watch};

use crate::clock::{Clock, SharedClock};
use crate::jwt::{JwksPolicy, JwtKeySet, KeyHandle, KeySource, KeyWait};
use crate::remote::discovery::{discover, endpoint};
use crate::remote::fetch::{Fetched, Fetcher, RemoteError, parse_url};

/// A JWK set fetched from its URL, or from the `jwks_uri` of an issuer's discovery document, and
/// kept fresh in the background. A [`KeySource`] for [`JwtValidator::from_source`] and
/// [`Issuer::with_source`].
///
/// * **First load.** [`build`](RemoteJwksBuilder::build) starts fetching at once and returns;
///   until the set has loaded, its tokens are answered 503 `auth_unavailable`.
///   [`load`](RemoteJwksBuilder::load) returns only once it has (or fails).
/// * **Refresh.** Every `Cache-Control: max-age` of the response, kept within
///   [`refresh_bounds`](RemoteJwksBuilder::refresh_bounds) (without one, the
///   [`default_refresh`](RemoteJwksBuilder::default_refresh)), conditional on the `ETag`.
/// * **Unknown `kid`.** A token naming a key the set lacks makes the set be fetched again, at
///   most once per [`refetch_interval`](RemoteJwksBuilder::refetch_interval), one request in
///   flight however many tokens ask; such tokens wait for that fetch (at most the timeout), then
///   pass or are refused `invalid_token`. Tokens of known keys never wait.
/// * **Failure.** A refresh that fails is logged at warn level, retried every
///   [`retry_interval`](RemoteJwksBuilder::retry_interval), and the last good set stays in use
///   for [`max_stale`](RemoteJwksBuilder::max_stale) after its last successful fetch; then its
///   tokens are answered 503 until a fetch succeeds again.
/// * **Limits.** Every fetch has a timeout and a size cap (default 1 MiB); keys of unknown type,
///   curve or algorithm, `"use":"enc"` keys, symmetric keys, RSA keys under 2048 bits and a second
///   key of a `kid` are skipped, not fatal (the last two with a warning); a document
///   without any usable key is a failed fetch. HTTPS only, except to loopback addresses.
/// * **Rotation.** Tokens cached under a key that a refresh removed are refused from then on;
///   those of keys that stay remain cached.
///
/// The task ends when the last clone of the `RemoteJwks` (and of any validator holding it) is
/// dropped.
///
/// ```no_run
/// # #[cfg(any(feature = "aws-lc-rs", feature = "rust-crypto"))]
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use tower_api_auth::jwt::JwtOptions;
/// use tower_api_auth::remote::RemoteJwks;
/// use tower_api_auth::{AuthLayer, JwtValidator};
///
/// let keys = RemoteJwks::discover("https://login.example.test/realms/main")
///     .load()
///     .await?;
/// let validator = JwtValidator::from_source(
///     keys,
///     JwtOptions::new().issuer("https://login.example.test/realms/main").audience("api"),
/// );
/// let auth = AuthLayer::builder().jwt(validator).build()?;
/// # let _ = auth;
/// # Ok(()) }
/// ```
///
/// [`JwtValidator::from_source`]: crate::JwtValidator::from_source
/// [`Issuer::with_source`]: crate::jwt::Issuer::with_source
#[derive(Clone)]
pub struct RemoteJwks(Arc<Owner>);

/// The handle's shared part: ends the refresh task when the last clone goes.
struct Owner {
    state: Arc<State>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Owner {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl fmt::Debug for RemoteJwks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteJwks")
            .field("location", &self.0.state.location)
            .field("status", &self.status())
            .finish()
    }
}

/// Where the key set is.
#[derive(Debug, Clone)]
enum Location {
    Jwks(Url),
    Discovery(String),
}

impl Location {
    /// The JWK set URL, or the issuer whose discovery document names it.
    fn name(&self) -> &str {
        match self {
            Location::Jwks(url) => url.as_str(),
            Location::Discovery(issuer) => issuer,
        }
    }
}

/// The settings of a [`RemoteJwks`].
#[derive(Debug, Clone)]
struct Config {
    timeout: Duration,
    max_bytes: usize,
    min_refresh: Duration,
    max_refresh: Duration,
    default_refresh: Duration,
    refetch_interval: Duration,
    retry_interval: Duration,
    max_stale: Duration,
    allow_http: bool,
    policy: JwksPolicy,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(5),
            max_bytes: 1024 * 1024,
            min_refresh: Duration::from_secs(60),
            max_refresh: Duration::from_secs(3600),
            default_refresh: Duration::from_secs(300),
            refetch_interval: Duration::from_secs(30),
            retry_interval: Duration::from_secs(10),
            max_stale: Duration::from_secs(24 * 3600),
            allow_http: false,
            policy: JwksPolicy::new().symmetric(false),
        }
    }
}

/// Configures a [`RemoteJwks`]; see its documentation for what each setting does.
#[derive(Debug, Clone)]
#[must_use]
pub struct RemoteJwksBuilder {
    location: String,
    discovery: bool,
    config: Config,
    clock: Option<SharedClock>,
}

impl RemoteJwks {
    /// The JWK set at `url`.
    pub fn builder(url: impl Into<String>) -> RemoteJwksBuilder {
        RemoteJwksBuilder {
            location: url.into(),
            discovery: false,
            config: Config::default(),
            clock: None,
        }
    }

    /// The JWK set of `issuer`, found through its discovery document: OpenID Connect's
    /// `{issuer}/.well-known/openid-configuration`, else RFC 8414's
    /// `/.well-known/oauth-authorization-server`. A document whose `issuer` is not exactly
    /// `issuer` is refused (the mix-up defence).
    pub fn discover(issuer: impl Into<String>) -> RemoteJwksBuilder {
        RemoteJwksBuilder {
            discovery: true,
            ..Self::builder(issuer)
        }
    }

    /// Waits for the first fetch to end: `Ok` once the set has loaded, else that fetch's error
    /// (fetching goes on in the background).
    pub async fn ready(&self) -> Result<(), RemoteError> {
        let state = &self.0.state;
        let mut progress = state.progress.subscribe();
        let _ = progress.wait_for(|p| p.completed >= 1).await;
        if state.usable_until.load(Ordering::SeqCst) != 0 {
            return Ok(());
        }
        Err(state
            .status()
            .last_error
            .clone()
            .unwrap_or_else(|| RemoteError::new("the JWK set has not loaded")))
    }

    /// Fetches the set now (through the refresh task: still one request in flight at most) and
    /// returns how that fetch went.
    pub async fn refresh(&self) -> Result<(), RemoteError> {
        let state = &self.0.state;
        let mut progress = state.progress.subscribe();
        let target = progress.borrow_and_update().started + 1;
        state.demand.notify_one();
        self.finished(&mut progress, target).await
    }

    /// Waits for the next fetch to end, whatever started it, and returns how it went.
    pub async fn refreshed(&self) -> Result<(), RemoteError> {
        let mut progress = self.0.state.progress.subscribe();
        let target = progress.borrow_and_update().completed + 1;
        self.finished(&mut progress, target).await
    }

    async fn finished(
        &self,
        progress: &mut watch::Receiver<Progress>,
        target: u64,
    ) -> Result<(), RemoteError> {
        let _ = progress.wait_for(|p| p.completed >= target).await;
        match &self.0.state.status().last_error {
            None => Ok(()),
            Some(error) => Err(error.clone()),
        }
    }

    /// Where the set stands, for health checks and metrics.
    pub fn status(&self) -> RemoteStatus {
        let state = &self.0.state;
        let progress = *state.progress.borrow();
        let status = state.status();
        let until = state.usable_until.load(Ordering::SeqCst);
        RemoteStatus {
            loaded: until != 0,
            keys: state.keys.keys().len(),
            skipped: status.skipped,
            fetches: progress.completed,
            in_flight: progress.started > progress.completed,
            usable_until: (until != 0).then_some(until),
            next_refresh: status.next_refresh,
            jwks_uri: status.jwks_uri.as_ref().map(Url::to_string),
            last_error: status.last_error.clone(),
        }
    }

    /// `Ok` while the keys may be used; else why not (for readiness).
    #[cfg(feature = "health")]
    pub(crate) fn usability(&self) -> Result<(), String> {
        let state = &self.0.state;
        if state.available(state.clock.now()) {
            return Ok(());
        }
        let status = state.status();
        let mut why = status
            .last_error
            .as_ref()
            .map_or_else(|| "no fetch has ended yet".to_owned(), ToString::to_string);
        let configured = match &state.location {
            Location::Jwks(url) => Some(url.clone()),
            Location::Discovery(issuer) => Url::parse(issuer).ok(),
        };
        for url in status.jwks_uri.iter().chain(configured.as_ref()) {
            why = crate::remote::fetch::redact(&why, url);
        }
        Err(if state.usable_until.load(Ordering::SeqCst) == 0 {
            format!("no key set loaded yet: {why}")
        } else {
            format!("the key set is past its max_stale bound: {why}")
        })
    }

    /// The handle the set is published through.
    pub fn key_handle(&self) -> KeyHandle {
        self.0.state.keys.clone()
    }
}

/// A snapshot of a [`RemoteJwks`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RemoteStatus {
    /// Whether a set has ever loaded.
    pub loaded: bool,
    /// The keys in use.
    pub keys: usize,
    /// The keys of the last document fetched that were skipped (unknown type, `use: enc`, …).
    pub skipped: usize,
    /// Fetches ended, successful or not.
    pub fetches: u64,
    /// Whether a fetch is in flight.
    pub in_flight: bool,
    /// Until when (unix seconds) the keys may be used without another successful fetch.
    pub usable_until: Option<u64>,
    /// The wait before the next scheduled refresh, as the last successful fetch set it.
    pub next_refresh: Option<Duration>,
    /// The JWK set URL (found by discovery, or configured).
    pub jwks_uri: Option<String>,
    /// Why the last fetch failed, if it did.
    pub last_error: Option<RemoteError>,
}

impl RemoteJwksBuilder {
    /// How long one request may take, from connecting to the last byte. Default 5 s.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.config.timeout = timeout;
        self
    }

    /// The largest document read, in bytes. Default 1 MiB.
    pub fn max_bytes(mut self, max_bytes: usize) -> Self {
        self.config.max_bytes = max_bytes;
        self
    }

    /// The bounds of the refresh interval that `Cache-Control: max-age` sets. Default 1 min to 1 h.
    pub fn refresh_bounds(mut self, min: Duration, max: Duration) -> Self {
        self.config.min_refresh = min.min(max);
        self.config.max_refresh = max.max(min);
        self
    }

    /// The refresh interval when the response says no `max-age` (still within the bounds).
    /// Default 5 min.
    pub fn default_refresh(mut self, interval: Duration) -> Self {
        self.config.default_refresh = interval;
        self
    }

    /// The least time between two fetches asked for by tokens with an unknown `kid` (whole
    /// seconds of the clock). Default 30 s.
    pub fn refetch_interval(mut self, interval: Duration) -> Self {
        self.config.refetch_interval = interval;
        self
    }

    /// The wait before retrying a failed fetch. Default 10 s.
    pub fn retry_interval(mut self, interval: Duration) -> Self {
        self.config.retry_interval = interval;
        self
    }

    /// How long after its last successful fetch the set may still be used while fetches fail;
    /// then its tokens are answered 503. Default 24 h. A set is fetched again after at most
    /// half of it, whatever `max-age` or the refresh bounds say, so that it never goes stale
    /// while its identity provider answers.
    pub fn max_stale(mut self, max_stale: Duration) -> Self {
        self.config.max_stale = max_stale;
        self
    }

    /// Allows plain HTTP to hosts other than loopback addresses (never do this in production).
    pub fn allow_http(mut self, allow: bool) -> Self {
        self.config.allow_http = allow;
        self
    }

    /// The algorithm of keys that state none and whose type leaves it open (Entra ID publishes
    /// RSA keys without `alg`: `RS256`).
    pub fn default_algorithm(mut self, algorithm: jsonwebtoken::Algorithm) -> Self {
        self.config.policy = self.config.policy.default_algorithm(algorithm);
        self
    }

    /// The clock that decides staleness and the refetch interval. Default: the system clock;
    /// tests share a [`ManualClock`](crate::clock::ManualClock) with the auth layer.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Some(Arc::new(clock));
        self
    }

    /// Starts fetching in the background and returns at once; the set's tokens are answered 503
    /// until it has loaded. Fails for a URL the policy refuses, or outside a tokio runtime.
    pub fn build(self) -> Result<RemoteJwks, RemoteError> {
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| RemoteError::new("a remote JWK set needs a tokio runtime"))?;
        let location = if self.discovery {
            parse_url(&self.location, self.config.allow_http)?;
            Location::Discovery(self.location)
        } else {
            Location::Jwks(parse_url(&self.location, self.config.allow_http)?)
        };
        let fetcher = Fetcher::new(
            self.config.timeout,
            self.config.max_bytes,
            self.config.allow_http,
        )?;
        let state = Arc::new(State {
            config: self.config,
            location,
            fetcher,
            keys: KeyHandle::new(JwtKeySet::new()),
            clock: self.clock.unwrap_or_else(crate::clock::system),
            usable_until: AtomicU64::new(0),
            last_demand: AtomicU64::new(0),
            demanded: AtomicU64::new(0),
            demand: Notify::new(),
            progress: watch::Sender::new(Progress::default()),
            status: Mutex::new(Status::default()),
        });
        let task = runtime.spawn(run(Arc::clone(&state)));
        Ok(RemoteJwks(Arc::new(Owner { state, task })))
    }

    /// [`build`](Self::build), then waits for the first fetch: the set has loaded when this
    /// returns `Ok`.
    pub async fn load(self) -> Result<RemoteJwks, RemoteError> {
        let jwks = self.build()?;
        jwks.ready().await?;
        Ok(jwks)
    }
}

/// How many fetches have started and ended.
#[derive(Debug, Clone, Copy, Default)]
struct Progress {
    started: u64,
    completed: u64,
}

#[derive(Debug, Default)]
struct Status {
    etag: Option<String>,
    jwks_uri: Option<Url>,
    skipped: usize,
    next_refresh: Option<Duration>,
    last_error: Option<RemoteError>,
}

struct State {
    config: Config,
    location: Location,
    fetcher: Fetcher,
    keys: KeyHandle,
    clock: SharedClock,
    /// Until when (clock seconds) the keys may be used; 0 until the first successful fetch.
    usable_until: AtomicU64,
    /// When (clock seconds, plus one; 0 for never) a token last asked for a refetch.
    last_demand: AtomicU64,
    /// The number of the fetch that the last refetch asked for will be.
    demanded: AtomicU64,
    /// Wakes the task for a fetch now.
    demand: Notify,
    progress: watch::Sender<Progress>,
    /// Locked only for moments, never across a fetch.
    status: Mutex<Status>,
}

impl State {
    fn status(&self) -> std::sync::MutexGuard<'_, Status> {
        self.status.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// One fetch, recorded; returns the wait before the next one.
    async fn attempt(&self) -> Duration {
        self.progress.send_modify(|p| p.started += 1);
        let result = self.fetch().await;
        let now = self.clock.now();
        let delay = match &result {
            Ok(delay) => {
                let until = now.saturating_add(self.config.max_stale.as_secs()).max(1);
                self.usable_until.store(until, Ordering::SeqCst);
                *delay
            }
            Err(error) => {
                let until = self.usable_until.load(Ordering::SeqCst);
                // Named by what was configured: a discovery error may not name the issuer.
                let source = self.location.name();
                if until == 0 {
                    tracing::warn!(%source, %error, "JWK set fetch failed; its tokens are refused (503) until it loads");
                } else if now < until {
                    tracing::warn!(%source, %error, stale_in_secs = until - now, "JWK set refresh failed; the last good keys stay in use");
                } else {
                    tracing::warn!(%source, %error, "JWK set refresh failed and the last good keys are too old; its tokens are refused (503)");
                }
                self.config.retry_interval
            }
        };
        {
            let mut status = self.status();
            status.last_error = result.err();
            if status.last_error.is_none() {
                status.next_refresh = Some(delay);
            }
        }
        self.progress.send_modify(|p| p.completed += 1);
        delay
    }

    async fn fetch(&self) -> Result<Duration, RemoteError> {
        let url = self.jwks_url().await?;
        let etag = self.status().etag.clone();
        let max_age = match self.fetcher.get(&url, etag.as_deref()).await? {
            Fetched::NotModified { max_age } => max_age,
            Fetched::Body {
                bytes,
                etag,
                max_age,
            } => {
                let json = std::str::from_utf8(&bytes)
                    .map_err(|_| RemoteError::new(format!("{url}: the JWK set is not UTF-8")))?;
                let keys = JwtKeySet::from_jwks_with(json, &self.config.policy)
                    .map_err(|e| RemoteError::new(format!("{url}: {e}")))?;
                let skipped = keys.skipped();
                let kids: Vec<String> = keys.kids().map(str::to_owned).collect();
                if self.keys.update(keys) {
                    tracing::info!(%url, ?kids, skipped, "JWK set loaded");
                }
                let mut status = self.status();
                status.etag = etag;
                status.skipped = skipped;
                max_age
            }
        };
        let interval = max_age.map_or(self.config.default_refresh, Duration::from_secs);
        let interval = interval.clamp(self.config.min_refresh, self.config.max_refresh);
        // Fetched again well before the keys count as stale: with a `max_stale` shorter than
        // the refresh interval they would otherwise turn unusable (503) between two fetches
        // while the identity provider is up. Half of it leaves time for retries.
        Ok(interval
            .min(self.config.max_stale / 2)
            .max(Duration::from_secs(1)))
    }

    /// The JWK set URL: configured, or found by discovery (once, then kept).
    async fn jwks_url(&self) -> Result<Url, RemoteError> {
        match &self.location {
            Location::Jwks(url) => Ok(url.clone()),
            Location::Discovery(issuer) => {
                if let Some(url) = &self.status().jwks_uri {
                    return Ok(url.clone());
                }
                let metadata = discover(&self.fetcher, issuer).await?;
                let url = endpoint(&self.fetcher, metadata.jwks_uri.as_deref(), "jwks_uri")?;
                self.status().jwks_uri = Some(url.clone());
                Ok(url)
            }
        }
    }

    fn available(&self, now: u64) -> bool {
        now < self.usable_until.load(Ordering::SeqCst)
    }

    /// See [`KeySource::key_missing`].
    fn key_missing(&self, now: u64) -> Option<KeyWait> {
        let progress = *self.progress.borrow();
        let demanded = self.demanded.load(Ordering::SeqCst);
        let target = if progress.completed < demanded {
            demanded // a refetch asked for is coming
        } else if progress.started > progress.completed {
            progress.started // one is in flight: it may have the key
        } else {
            let last = self.last_demand.load(Ordering::SeqCst);
            let interval = self.config.refetch_interval.as_secs();
            if last != 0 && now < (last - 1).saturating_add(interval) {
                return None;
            }
            let target = progress.started + 1;
            if self
                .last_demand
                .compare_exchange(last, now + 1, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
            {
                self.demanded.store(target, Ordering::SeqCst);
                self.demand.notify_one();
            }
            target
        };
        let mut progress = self.progress.subscribe();
        // The fetch is over within its timeout (twice, with discovery); so is the wait.
        let bound = self.config.timeout.saturating_mul(2);
        Some(Box::pin(async move {
            let _ = tokio::time::timeout(bound, progress.wait_for(|p| p.completed >= target)).await;
        }))
    }
}

/// The refresh task: fetch, wait for the next refresh or a demand, again.
async fn run(state: Arc<State>) {
    loop {
        let delay = state.attempt().await;
        // Until the next refresh is due, or a fetch is asked for now.
        let _ = tokio::time::timeout(delay, state.demand.notified()).await;
    }
}

impl KeySource for RemoteJwks {
    fn key_handle(&self) -> KeyHandle {
        self.0.state.keys.clone()
    }

    fn available(&self, now: u64) -> bool {
        self.0.state.available(now)
    }

    fn key_missing(&self, now: u64) -> Option<KeyWait> {
        self.0.state.key_missing(now)
    }
}
