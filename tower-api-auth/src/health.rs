//! [`Readiness`]: whether this instance can judge credentials right now, for a load balancer's
//! or an orchestrator's readiness probe.
//!
//! An instance whose revocation feed is past its staleness bound, whose remote key set or
//! introspection endpoint is unavailable, or whose key store does not answer refuses tokens with
//! 503 `auth_unavailable`: it should be taken out of rotation until it recovers, but not
//! restarted (it recovers by itself). Readiness says so (503, with the failing parts named);
//! liveness (is the process serving at all) stays a plain 200 elsewhere.

use std::borrow::Cow;
use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::{HeaderValue, Request, Response, StatusCode, header};
use serde::Serialize;
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::store::KeyProvider;

type Probe = Arc<dyn Fn() -> BoxFuture<Result<(), String>> + Send + Sync>;
type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// The default bound on one check: a store that hangs is reported down, not waited for.
pub const DEFAULT_CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// The default time a report is reused: a public probe endpoint hit in a loop must not become
/// a load on the stores it checks.
pub const DEFAULT_CACHE_FOR: Duration = Duration::from_secs(1);

/// The key id a key-store check looks up: no generated key has it (their ids are base62, never a
/// dash), so the store answers "unknown", and any answer at all proves it reachable.
const PROBE_KEY_ID: &str = "readiness-probe";

/// A readiness check over the parts this instance depends on; a tower [`Service`] (any request,
/// any body) answering 200 when every part is ready and 503 otherwise, with a JSON body that
/// names each part and, for those that fail, why (never a secret):
///
/// ```json
/// {"status":"unavailable","checks":[
///   {"name":"revocation_feed","status":"ready"},
///   {"name":"api_keys","status":"unavailable","reason":"the store did not answer within 2s"}]}
/// ```
///
/// The checks run concurrently, each bounded by [`timeout`](Self::timeout) (default 2 s), and
/// a report is reused for [`cache_for`](Self::cache_for) (default 1 s): callers that arrive
/// while one runs wait for it. Clones share the checks and the report; adding a check to a clone
/// makes it a readiness of its own (the others keep theirs).
///
/// [`Service`]: tower_service::Service
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use tower_api_auth::MemoryKeyStore;
/// use tower_api_auth::health::Readiness;
///
/// let readiness = Readiness::new()
///     .key_store("api_keys", MemoryKeyStore::new())
///     .check("database", || async { Err("connection refused".to_owned()) });
/// let report = readiness.report().await;
/// assert!(!report.is_ready());
/// assert_eq!(report.failing().collect::<Vec<_>>(), ["database"]);
/// // With axum: `Router::new().route_service("/ready", readiness)`.
/// # }
/// ```
#[derive(Clone)]
pub struct Readiness {
    inner: Arc<Inner>,
}

struct Inner {
    checks: Vec<(Cow<'static, str>, Probe)>,
    timeout: Duration,
    cache_for: Duration,
    /// The last report, with when its run finished.
    last: Mutex<Option<(Instant, Arc<Report>)>>,
}

impl Clone for Inner {
    /// The checks and settings; not the report, which belongs to the checks it was made of.
    fn clone(&self) -> Self {
        Self {
            checks: self.checks.clone(),
            timeout: self.timeout,
            cache_for: self.cache_for,
            last: Mutex::new(None),
        }
    }
}

impl fmt::Debug for Readiness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.inner.checks.iter().map(|(name, _)| &**name).collect();
        f.debug_struct("Readiness")
            .field("checks", &names)
            .field("timeout", &self.inner.timeout)
            .field("cache_for", &self.inner.cache_for)
            .finish()
    }
}

impl Default for Readiness {
    fn default() -> Self {
        Self::new()
    }
}

impl Readiness {
    /// No checks yet: ready.
    pub fn new() -> Self {
        Self {
            inner: Arc::new(Inner {
                checks: Vec::new(),
                timeout: DEFAULT_CHECK_TIMEOUT,
                cache_for: DEFAULT_CACHE_FOR,
                last: Mutex::new(None),
            }),
        }
    }

    fn inner_mut(&mut self) -> &mut Inner {
        Arc::make_mut(&mut self.inner)
    }

    /// Adds a check of your own: `probe` answers `Err(reason)` while the part is unavailable.
    /// The reason is shown to whoever calls the endpoint: name the failure, never a secret
    /// (no connection string, no password).
    #[must_use]
    pub fn check<F, Fut>(mut self, name: impl Into<Cow<'static, str>>, probe: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        let probe: Probe = Arc::new(move || Box::pin(probe()));
        self.inner_mut().checks.push((name.into(), probe));
        self
    }

    /// A key store (or any [`KeyProvider`]) must answer a lookup: give it the store itself, not
    /// a cache in front of it, which would answer from memory. A failing lookup's error goes to
    /// the log (`warn`), not to the endpoint's callers: a store's error may name its host or
    /// carry a connection string.
    #[must_use]
    pub fn key_store(self, name: impl Into<Cow<'static, str>>, store: impl KeyProvider) -> Self {
        let name = name.into();
        let store = Arc::new(store);
        let check = name.clone();
        self.check(name, move || {
            let lookup = store.lookup(PROBE_KEY_ID);
            let check = check.clone();
            async move {
                lookup.resolve().await.map(drop).map_err(|error| {
                    tracing::warn!(check = %check, error = %error, "readiness: a key store lookup failed");
                    "the store's lookup failed (the log says why)".to_owned()
                })
            }
        })
    }

    /// The revocation feed must be fresh: up, or down for less than its staleness bound (past
    /// it, every token check answers 503). Named `revocation_feed`.
    #[cfg(feature = "fleet")]
    #[must_use]
    pub fn feed(self, feed: &crate::fleet::RevocationFeed) -> Self {
        let feed = feed.clone();
        self.check("revocation_feed", move || {
            let state = feed.freshness();
            async move { state }
        })
    }

    /// The remote key set must be usable: loaded, and not past its `max_stale` bound.
    #[cfg(feature = "remote")]
    #[must_use]
    pub fn remote_jwks(
        self,
        name: impl Into<Cow<'static, str>>,
        jwks: &crate::remote::RemoteJwks,
    ) -> Self {
        let jwks = jwks.clone();
        self.check(name, move || {
            let state = jwks.usability();
            async move { state }
        })
    }

    /// The introspection endpoint must answer: each check introspects a random token, which
    /// a working endpoint calls inactive (a request to the endpoint per check, at most one
    /// per [`cache_for`](Self::cache_for)).
    #[cfg(feature = "remote")]
    #[must_use]
    pub fn introspection(
        self,
        name: impl Into<Cow<'static, str>>,
        introspection: &crate::remote::Introspection,
    ) -> Self {
        let introspection = introspection.clone();
        self.check(name, move || {
            let introspection = introspection.clone();
            async move { introspection.reachable().await }
        })
    }

    /// How long one check may take before it counts as failed. Default 2 s.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.inner_mut().timeout = timeout;
        self
    }

    /// How long a report is reused. Default 1 s; zero runs the checks on every call.
    #[must_use]
    pub fn cache_for(mut self, cache_for: Duration) -> Self {
        self.inner_mut().cache_for = cache_for;
        self
    }

    /// Runs the checks, or reuses a report younger than [`cache_for`](Self::cache_for) or one
    /// that was finished after this call began (callers that arrive while checks run share them,
    /// whatever `cache_for`: a hung dependency and a probe in a loop build no queue of runs).
    pub async fn report(&self) -> Arc<Report> {
        let arrived = Instant::now();
        let mut last = self.inner.last.lock().await;
        if let Some((finished, report)) = &*last
            && (*finished >= arrived || finished.elapsed() < self.inner.cache_for)
        {
            return Arc::clone(report);
        }
        let report = Arc::new(self.run().await);
        *last = Some((Instant::now(), Arc::clone(&report)));
        report
    }

    async fn run(&self) -> Report {
        let timeout = self.inner.timeout;
        let mut running = tokio::task::JoinSet::new();
        for (index, (_, probe)) in self.inner.checks.iter().enumerate() {
            let probe = probe();
            running.spawn(async move {
                let outcome = match tokio::time::timeout(timeout, probe).await {
                    Ok(outcome) => outcome,
                    Err(_) => Err(format!("no answer within {timeout:?}")),
                };
                (index, outcome)
            });
        }
        let mut outcomes: Vec<Option<Result<(), String>>> = vec![None; self.inner.checks.len()];
        while let Some(joined) = running.join_next().await {
            if let Ok((index, outcome)) = joined {
                outcomes[index] = Some(outcome);
            }
        }
        let checks = self
            .inner
            .checks
            .iter()
            .zip(outcomes)
            .map(|((name, _), outcome)| CheckReport {
                name: name.clone(),
                // A check that panicked did not say the part is ready.
                reason: outcome
                    .unwrap_or_else(|| Err("the check failed".to_owned()))
                    .err(),
            })
            .collect();
        Report { checks }
    }
}

/// What a [`Readiness`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    checks: Vec<CheckReport>,
}

/// One part of a [`Report`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckReport {
    name: Cow<'static, str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
}

impl CheckReport {
    /// The part's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Why it is unavailable; `None` when it is ready.
    pub fn reason(&self) -> Option<&str> {
        self.reason.as_deref()
    }
}

impl Report {
    /// Whether every part is ready.
    pub fn is_ready(&self) -> bool {
        self.checks.iter().all(|check| check.reason.is_none())
    }

    /// Every check, in the order they were added.
    pub fn checks(&self) -> &[CheckReport] {
        &self.checks
    }

    /// The names of the parts that are unavailable.
    pub fn failing(&self) -> impl Iterator<Item = &str> {
        self.checks
            .iter()
            .filter(|check| check.reason.is_some())
            .map(CheckReport::name)
    }

    /// The JSON body: `{"status": "ready" | "unavailable", "checks": [{"name", "status",
    /// "reason"?}]}`.
    pub fn to_json(&self) -> serde_json::Value {
        let status = |ready: bool| if ready { "ready" } else { "unavailable" };
        let checks: Vec<serde_json::Value> = self
            .checks
            .iter()
            .map(|check| {
                let mut entry = serde_json::json!({
                    "name": check.name,
                    "status": status(check.reason.is_none()),
                });
                if let Some(reason) = &check.reason {
                    entry["reason"] = reason.as_str().into();
                }
                entry
            })
            .collect();
        serde_json::json!({ "status": status(self.is_ready()), "checks": checks })
    }

    /// The HTTP answer: 200 or 503, JSON, never cached by intermediaries.
    pub fn to_response(&self) -> Response<String> {
        let status = if self.is_ready() {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        };
        let mut response = Response::new(self.to_json().to_string());
        *response.status_mut() = status;
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }
}

/// Answers every request with the [report](Readiness::report) (the request itself is not read).
impl<B> tower_service::Service<Request<B>> for Readiness {
    type Response = Response<String>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Response<String>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Request<B>) -> Self::Future {
        let readiness = self.clone();
        Box::pin(async move { Ok(readiness.report().await.to_response()) })
    }
}
