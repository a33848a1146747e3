//! [`Policy`], [`Method`], [`KeyBy`] and [`Route`]: what is limited, for whom, and where.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::Quota;
use crate::identity::{AuthMethod, Identity};

/// How the caller authenticated, as quotas are set per method (seed 004: "API Keys: 1000
/// requests/hour, OAuth: 5000 requests/hour, JWT: 2000 requests/hour").
///
/// A JWT is [`Jwt`](Self::Jwt) when it comes from the app's own issuer and
/// [`OAuth`](Self::OAuth) when it was issued to an OAuth client or by an outside identity
/// provider; [`RateLimits::own_issuers`](super::RateLimits::own_issuers) says which is which
/// (see [`Method::of`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Method {
    /// An API key (or a JWT it was exchanged for: the quota follows the key).
    ApiKey,
    /// A JWT of the app's own issuer, from a login.
    Jwt,
    /// An OAuth access token: a JWT issued to an OAuth client (`client_id`), or by an issuer that
    /// is not the app's own.
    #[serde(rename = "oauth")]
    OAuth,
    /// An opaque token judged by introspection (RFC 7662).
    Opaque,
    /// No credential (routes behind an [optional](crate::AuthLayer::optional) auth layer).
    Anonymous,
}

impl Method {
    /// Every method.
    pub const ALL: [Self; 5] = [
        Self::ApiKey,
        Self::Jwt,
        Self::OAuth,
        Self::Opaque,
        Self::Anonymous,
    ];

    /// The method of `identity`. A JWT carrying an `api_key_id` (exchanged for a key) counts as
    /// the key; one with a `client_id` (RFC 9068: issued to an OAuth client) as
    /// [`OAuth`](Self::OAuth). Other JWTs are [`Jwt`](Self::Jwt), except, when `own_issuers` is
    /// not empty, those whose `iss` is not among them: an outside identity provider's, `OAuth`.
    ///
    /// ```
    /// use tower_api_auth::{AuthMethod, Identity};
    /// use tower_api_auth::rate_limit::Method;
    ///
    /// let login = Identity::builder("alice", AuthMethod::Jwt).issuer("https://app.test").build();
    /// let outside = Identity::builder("bob", AuthMethod::Jwt).issuer("https://idp.test").build();
    /// let own = ["https://app.test".to_owned()];
    /// assert_eq!(Method::of(Some(&login), &own), Method::Jwt);
    /// assert_eq!(Method::of(Some(&outside), &own), Method::OAuth);
    /// assert_eq!(Method::of(None, &own), Method::Anonymous);
    /// ```
    pub fn of(identity: Option<&Identity>, own_issuers: &[String]) -> Self {
        let Some(identity) = identity else {
            return Self::Anonymous;
        };
        match identity.method() {
            AuthMethod::ApiKey => Self::ApiKey,
            AuthMethod::OpaqueToken => Self::Opaque,
            AuthMethod::Jwt if identity.api_key_id().is_some() => Self::ApiKey,
            // Issued to an OAuth client: the app's own authorization server's, or anyone's.
            AuthMethod::Jwt if identity.client_id().is_some() => Self::OAuth,
            AuthMethod::Jwt if own_issuers.is_empty() => Self::Jwt,
            AuthMethod::Jwt => match identity.issuer() {
                Some(issuer) if own_issuers.iter().any(|own| own == issuer) => Self::Jwt,
                _ => Self::OAuth,
            },
        }
    }

    pub(super) fn bit(self) -> u8 {
        1 << (self as u8)
    }

    /// The method's name in configuration files (`api_key`, `jwt`, `oauth`, `opaque`,
    /// `anonymous`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ApiKey => "api_key",
            Self::Jwt => "jwt",
            Self::OAuth => "oauth",
            Self::Opaque => "opaque",
            Self::Anonymous => "anonymous",
        }
    }
}

/// What a quota is counted by: one bucket per distinct value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum KeyBy {
    /// The principal (default): a user's requests share one quota whatever credential they use.
    Principal,
    /// The tenant the request acts for: one quota for the whole tenant, however many keys it
    /// creates. A request without a tenant is counted by its principal.
    Tenant,
    /// The API key ([`Identity::api_key_id`]). A request without one is counted by its principal.
    ApiKey,
    /// The OAuth client ([`Identity::client_id`]). A request without one is counted by its
    /// principal.
    Client,
    /// The client's IP address (anonymous traffic). Needs the peer address in the request
    /// extensions; a request without one shares one bucket with every other such request.
    Ip,
}

/// A named quota: which methods it applies to, what it counts by, and per-plan overrides.
///
/// ```
/// use tower_api_auth::rate_limit::{KeyBy, Method, Policy, Quota};
///
/// // Seed 004's API-key quota, shared by a tenant's keys; the "pro" plan gets more.
/// let keys = Policy::new("api_keys", Quota::per_hour(1000))
///     .methods([Method::ApiKey])
///     .by([KeyBy::Tenant])
///     .plan("pro", Quota::per_hour(10_000));
/// assert_eq!(keys.name(), "api_keys");
/// ```
#[derive(Clone, Debug)]
#[must_use]
pub struct Policy {
    pub(super) name: Arc<str>,
    pub(super) quota: Quota,
    pub(super) methods: u8,
    pub(super) by: Vec<KeyBy>,
    pub(super) plans: Vec<(String, Quota)>,
}

impl Policy {
    /// A quota named `name` (its name in the `RateLimit` fields: letters, digits, `_`, `-` and
    /// `.`), for every method, counted by principal.
    pub fn new(name: impl Into<Arc<str>>, quota: Quota) -> Self {
        Self {
            name: name.into(),
            quota,
            methods: u8::MAX,
            by: vec![KeyBy::Principal],
            plans: Vec::new(),
        }
    }

    /// The quota of one authentication method, named after it (`api_key`, `jwt`, `oauth`,
    /// `opaque`, `anonymous`), counted by principal; anonymous callers by IP.
    pub fn per_method(method: Method, quota: Quota) -> Self {
        let policy = Self::new(method.as_str(), quota).methods([method]);
        if method == Method::Anonymous {
            policy.by([KeyBy::Ip])
        } else {
            policy
        }
    }

    /// Applies only to requests that authenticated by one of `methods`.
    pub fn methods(mut self, methods: impl IntoIterator<Item = Method>) -> Self {
        self.methods = methods
            .into_iter()
            .fold(0, |bits, method| bits | method.bit());
        self
    }

    /// Counts by `by` (several: one bucket per combination, at most three).
    pub fn by(mut self, by: impl IntoIterator<Item = KeyBy>) -> Self {
        self.by = by.into_iter().collect();
        self
    }

    /// Callers whose API key's plan (its metadata field, `plan` by default: see
    /// [`RateLimits::plan_field`](super::RateLimits::plan_field)) is `plan` get `quota` instead.
    pub fn plan(mut self, plan: impl Into<String>, quota: Quota) -> Self {
        self.plans.push((plan.into(), quota));
        self
    }

    /// The policy's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The default quota.
    pub fn quota(&self) -> &Quota {
        &self.quota
    }

    pub(super) fn applies_to(&self, method: Method) -> bool {
        self.methods & method.bit() != 0
    }
}

/// Rules for the requests of one route: a cost, extra quotas of its own, another quota in place
/// of one of the layer's, or no limit at all.
///
/// The pattern is a path, optionally after an HTTP method (`"POST /v1/exports"`); a trailing `*`
/// matches any rest (`"/v1/admin/*"`). The first route that matches a request applies.
///
/// ```
/// use tower_api_auth::rate_limit::{Policy, Quota, Route};
///
/// // An export costs 20 of every quota, and has a quota of its own.
/// let exports = Route::new("POST /v1/exports")
///     .cost(20)
///     .limit(Policy::new("exports", Quota::per_hour(50)));
/// let health = Route::new("/healthz").exempt();
/// # let _ = (exports, health);
/// ```
#[derive(Clone, Debug)]
#[must_use]
pub struct Route {
    pub(super) pattern: String,
    pub(super) cost: u32,
    pub(super) limits: Vec<Policy>,
    pub(super) replacements: Vec<(String, Quota)>,
    pub(super) exempt: bool,
}

impl Route {
    /// Rules for requests matching `pattern`.
    pub fn new(pattern: impl Into<String>) -> Self {
        Self {
            pattern: pattern.into(),
            cost: 1,
            limits: Vec::new(),
            replacements: Vec::new(),
            exempt: false,
        }
    }

    /// Each request spends `cost` of every quota that applies (default 1).
    pub fn cost(mut self, cost: u32) -> Self {
        self.cost = cost;
        self
    }

    /// A quota that applies only on this route, besides the layer's.
    pub fn limit(mut self, policy: Policy) -> Self {
        self.limits.push(policy);
        self
    }

    /// On this route the layer's policy `name` counts with `quota` instead of its own (and its
    /// plans'), in a bucket of its own: a search endpoint held to `100/minute` where the API's
    /// JWT quota is `2000/hour`. The fields show it under the policy's name.
    pub fn replace(mut self, name: impl Into<String>, quota: Quota) -> Self {
        self.replacements.push((name.into(), quota));
        self
    }

    /// No quota applies on this route (health checks, the token endpoints when they are limited
    /// otherwise).
    pub fn exempt(mut self) -> Self {
        self.exempt = true;
        self
    }
}

/// A route pattern, parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Pattern {
    method: Option<http::Method>,
    path: String,
    prefix: bool,
}

impl Pattern {
    pub(super) fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let (method, path) = match text.split_once(' ') {
            Some((method, path)) => {
                let known = method.bytes().all(|b| b.is_ascii_uppercase());
                let method = http::Method::from_bytes(method.as_bytes())
                    .ok()
                    .filter(|_| known)
                    .ok_or_else(|| {
                        format!(
                            "route {text:?}: {method:?} is not an HTTP method (write GET, POST, …)"
                        )
                    })?;
                (Some(method), path.trim())
            }
            None => (None, text),
        };
        if !path.starts_with('/') {
            return Err(format!("route {text:?}: the path must start with /"));
        }
        let (path, prefix) = match path.strip_suffix('*') {
            Some(prefix) => (prefix, true),
            None => (path, false),
        };
        if path.contains('*') {
            return Err(format!("route {text:?}: * may only end the path"));
        }
        Ok(Self {
            method,
            path: path.to_owned(),
            prefix,
        })
    }

    pub(super) fn matches(&self, method: &http::Method, path: &str) -> bool {
        // HEAD is served by the GET handler (axum, and RFC 9110 §9.3.2): it follows GET's rules,
        // or a HEAD would dodge a GET route's cost.
        let matches_method = |own: &http::Method| {
            own == method || (method == http::Method::HEAD && own == http::Method::GET)
        };
        if self.method.as_ref().is_some_and(|own| !matches_method(own)) {
            return false;
        }
        if self.prefix {
            path.starts_with(&self.path)
        } else {
            path == self.path
        }
    }
}
