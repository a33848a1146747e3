//! [`RateLimits`]: the policies of a [`RateLimitLayer`](super::RateLimitLayer), checked per
//! request.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Response};

use super::headers;
use super::key::{PartValue, hash_part};
use super::policy::Pattern;
use super::{
    Decision, KeyBy, KeyPart, LimitKey, LocalLimiter, MAX_KEY_PARTS, Method, OnBackendFailure,
    Policy, RateLimitBackend, Route,
};
use crate::client_ip::TrustedProxies;
use crate::clock::{Clock, SharedClock};
use crate::error::render::SharedRenderer;
use crate::identity::Identity;
use crate::layer::limits::{PendingLimits, RequestView};
use crate::layer::service::RequestRenderer;
use crate::require_scopes::renderer_of;
use crate::{AuthError, AuthErrorKind};

/// The metadata field of an API key that names its plan, by default.
pub const DEFAULT_PLAN_FIELD: &str = "plan";

/// Configures a [`RateLimitLayer`](super::RateLimitLayer): the policies, routes, backend and
/// headers.
///
/// ```
/// use tower_api_auth::rate_limit::{KeyBy, Method, Policy, Quota, RateLimits, Route};
///
/// // Seed 004's quotas per authentication method, a tenant-wide key quota, a burst limit on
/// // everyone, and an expensive route.
/// let limits = RateLimits::new()
///     .policy(Policy::new("api_keys", Quota::per_hour(1000)).methods([Method::ApiKey]).by([KeyBy::Tenant]))
///     .policy(Policy::new("oauth", Quota::per_hour(5000)).methods([Method::OAuth]))
///     .policy(Policy::new("jwt", Quota::per_hour(2000)).methods([Method::Jwt]))
///     .policy(Policy::new("burst", Quota::per_second(20)))
///     .route(Route::new("POST /v1/exports").cost(20))
///     .success_headers(true)
///     .build()?;
/// # let _ = limits;
/// # Ok::<(), tower_api_auth::rate_limit::RateLimitError>(())
/// ```
#[derive(Clone, Default)]
#[must_use]
pub struct RateLimits {
    policies: Vec<Policy>,
    routes: Vec<Route>,
    backend: Option<Arc<dyn RateLimitBackend>>,
    on_failure: OnBackendFailure,
    success_headers: bool,
    own_issuers: Vec<String>,
    plan_field: Option<String>,
    max_keys: Option<usize>,
    clock: Option<SharedClock>,
    trusted_proxies: TrustedProxies,
}

impl fmt::Debug for RateLimits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimits")
            .field("policies", &self.policies)
            .field("routes", &self.routes)
            .field("backend", &self.backend)
            .field("on_failure", &self.on_failure)
            .finish_non_exhaustive()
    }
}

/// A rate-limit configuration that cannot work; says what to fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimitError(pub(super) String);

impl fmt::Display for RateLimitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RateLimitError {}

impl RateLimits {
    /// No policy yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a policy: every request it applies to spends its quota.
    pub fn policy(mut self, policy: Policy) -> Self {
        self.policies.push(policy);
        self
    }

    /// Adds rules for a route (a cost, its own quotas, or none).
    pub fn route(mut self, route: Route) -> Self {
        self.routes.push(route);
        self
    }

    /// Counts in `backend` (the Redis store) so that a fleet shares one quota, instead of in
    /// this instance's memory.
    pub fn backend(mut self, backend: impl RateLimitBackend) -> Self {
        self.backend = Some(Arc::new(backend));
        self
    }

    /// What to do when the backend fails (default: count locally, log at `warn`).
    pub fn on_backend_failure(mut self, on_failure: OnBackendFailure) -> Self {
        self.on_failure = on_failure;
        self
    }

    /// Sends the `RateLimit-Policy` and `RateLimit` fields on successful responses too, not only
    /// on refusals (default off: they cost an allocation a request).
    pub fn success_headers(mut self, on: bool) -> Self {
        self.success_headers = on;
        self
    }

    /// The `iss` values of the app's own tokens: a JWT of another issuer counts as
    /// [`Method::OAuth`] (see [`Method::of`]).
    pub fn own_issuers(mut self, issuers: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.own_issuers = issuers.into_iter().map(Into::into).collect();
        self
    }

    /// The API-key metadata field that names the key's plan (default [`DEFAULT_PLAN_FIELD`]).
    pub fn plan_field(mut self, field: impl Into<String>) -> Self {
        self.plan_field = Some(field.into());
        self
    }

    /// How many keys each quota remembers in memory (default
    /// [`DEFAULT_MAX_KEYS`](super::DEFAULT_MAX_KEYS)); the idle ones go first.
    pub fn max_keys(mut self, max_keys: usize) -> Self {
        self.max_keys = Some(max_keys);
        self
    }

    /// The proxies whose `Forwarded` / `X-Forwarded-For` name the client, for callers counted by
    /// IP (anonymous ones); default none: the socket's peer is the client. See
    /// [`TrustedProxies`].
    pub fn trusted_proxies(mut self, proxies: TrustedProxies) -> Self {
        self.trusted_proxies = proxies;
        self
    }

    /// The clock of the in-memory counters (default: the system's).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Some(Arc::new(clock));
        self
    }

    /// Checks the configuration and builds the layer.
    pub fn build(self) -> Result<super::RateLimitLayer, RateLimitError> {
        Ok(super::RateLimitLayer::new(Arc::new(self.compile()?)))
    }

    fn compile(self) -> Result<Limits, RateLimitError> {
        let clock = self.clock.unwrap_or_else(crate::clock::system);
        let max_keys = self.max_keys.unwrap_or(super::DEFAULT_MAX_KEYS);
        let mut names = std::collections::HashSet::new();
        let mut compile = |policy: Policy, cost: Cost<'_>| -> Result<Compiled, RateLimitError> {
            check_name("policy", &policy.name)?;
            if !names.insert(policy.name.clone()) {
                return Err(RateLimitError(format!(
                    "two rate-limit policies are named {:?}: names identify quotas in the RateLimit fields and in shared counters",
                    &*policy.name
                )));
            }
            Compiled::new(policy, cost, &clock, max_keys)
        };
        let mut policies = Vec::with_capacity(self.policies.len());
        // What routes replace a policy's quota with is built from the policy as written.
        let written = self.policies.clone();
        let costliest = self.routes.iter().max_by_key(|route| route.cost);
        let highest = Cost {
            cost: costliest.map_or(1, |route| route.cost),
            route: costliest.map(|route| route.pattern.as_str()),
        };
        for policy in self.policies {
            policies.push(compile(policy, highest)?);
        }
        let mut routes = Vec::with_capacity(self.routes.len());
        for route in self.routes {
            if route.cost == 0 {
                return Err(RateLimitError(format!(
                    "route {:?}: a cost of zero; use .exempt() for a route without limits",
                    route.pattern
                )));
            }
            let pattern = Pattern::parse(&route.pattern).map_err(RateLimitError)?;
            if routes
                .iter()
                .any(|earlier: &CompiledRoute| earlier.pattern == pattern)
            {
                return Err(RateLimitError(format!(
                    "route {:?} is given twice: the first match applies, so the second would never",
                    route.pattern
                )));
            }
            if route.exempt
                && (route.cost != 1 || !route.limits.is_empty() || !route.replacements.is_empty())
            {
                return Err(RateLimitError(format!(
                    "route {:?} is exempt: it takes no cost or limits",
                    route.pattern
                )));
            }
            let cost = Cost {
                cost: route.cost,
                route: Some(route.pattern.as_str()),
            };
            let mut limits = Vec::with_capacity(route.limits.len());
            for policy in route.limits {
                limits.push(compile(policy, cost)?);
            }
            let mut replacements = Vec::with_capacity(route.replacements.len());
            for (name, quota) in route.replacements {
                let Some(index) = written.iter().position(|policy| *policy.name == *name) else {
                    return Err(RateLimitError(format!(
                        "route {:?} replaces the quota of {name:?}, which is no policy of the layer",
                        route.pattern
                    )));
                };
                if replacements.iter().any(|(other, _)| *other == index) {
                    return Err(RateLimitError(format!(
                        "route {:?} replaces the quota of {name:?} twice",
                        route.pattern
                    )));
                }
                // The policy as written (its methods and what it counts by), with the route's
                // quota for everyone and a bucket of its own: `<policy>@<route>`.
                let mut policy = written[index].clone();
                policy.quota = quota;
                policy.plans.clear();
                let mut replaced = Compiled::new(policy, cost, &clock, max_keys)?;
                replaced.default.key_name = format!("{name}@{}", route.pattern).into();
                replacements.push((index, replaced));
            }
            routes.push(CompiledRoute {
                pattern,
                cost: route.cost,
                limits,
                replacements,
                exempt: route.exempt,
            });
        }
        if policies.is_empty() && routes.iter().all(|route| route.limits.is_empty()) {
            return Err(RateLimitError(
                "no rate-limit policy: add one with .policy(..) or a route's .limit(..)".into(),
            ));
        }
        let keys_by_ip = policies
            .iter()
            .chain(routes.iter().flat_map(|route| route.limits.iter()))
            .any(|policy| policy.by.contains(&Some(KeyBy::Ip)));
        Ok(Limits {
            keys_by_ip,
            trusted_proxies: self.trusted_proxies,
            policies,
            routes,
            backend: self.backend,
            on_failure: self.on_failure,
            success_headers: self.success_headers,
            own_issuers: self.own_issuers,
            plan_field: self
                .plan_field
                .unwrap_or_else(|| DEFAULT_PLAN_FIELD.to_owned()),
            last_warning: AtomicU64::new(0),
            warned_outside_auth: AtomicBool::new(false),
            clock,
        })
    }
}

/// A policy or plan name must be safe in the `RateLimit` fields' quoted strings and readable;
/// `/` is left out because it joins a policy and its plan (`"keys/pro"`).
fn check_name(what: &str, name: &str) -> Result<(), RateLimitError> {
    let fine = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if fine {
        Ok(())
    } else {
        Err(RateLimitError(format!(
            "rate-limit {what} name {name:?}: use 1-64 letters, digits, _, - or ."
        )))
    }
}

/// The highest cost a policy must let through, and the route that costs it.
#[derive(Clone, Copy)]
struct Cost<'a> {
    cost: u32,
    route: Option<&'a str>,
}

/// All the layer knows, shared by its services.
pub(super) struct Limits {
    policies: Vec<Compiled>,
    routes: Vec<CompiledRoute>,
    pub(super) backend: Option<Arc<dyn RateLimitBackend>>,
    on_failure: OnBackendFailure,
    success_headers: bool,
    own_issuers: Vec<String>,
    plan_field: String,
    /// Whether some policy counts by IP.
    keys_by_ip: bool,
    trusted_proxies: TrustedProxies,
    /// When the last backend failure was logged (unix seconds): at most one line a second.
    last_warning: AtomicU64,
    /// Whether the layer-order mistake was logged.
    warned_outside_auth: AtomicBool,
    clock: SharedClock,
}

impl fmt::Debug for Limits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Limits")
            .field("policies", &self.policies.len())
            .field("routes", &self.routes.len())
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

/// One policy, ready: its default limit and its plans'.
struct Compiled {
    methods: Policy,
    by: [Option<KeyBy>; MAX_KEY_PARTS],
    default: Limit,
    plans: Vec<(String, Limit)>,
}

/// One quota with its in-memory counter and its part of the `RateLimit-Policy` field.
pub(super) struct Limit {
    /// The name in keys: the policy's, with `/<plan>` for a plan and `@<route>` for a route's
    /// replacement (each a bucket of its own).
    pub(super) key_name: Arc<str>,
    /// The name in the fields: the key name, but a route's replacement shows as its policy.
    pub(super) shown: Arc<str>,
    pub(super) local: LocalLimiter,
}

impl Limit {
    pub(super) fn quota(&self) -> &super::Quota {
        self.local.quota()
    }
}

impl Compiled {
    fn new(
        policy: Policy,
        cost: Cost<'_>,
        clock: &SharedClock,
        max_keys: usize,
    ) -> Result<Self, RateLimitError> {
        if policy.methods == 0 {
            return Err(RateLimitError(format!(
                "rate-limit policy {:?} applies to no method",
                &*policy.name
            )));
        }
        if policy.by.is_empty() || policy.by.len() > MAX_KEY_PARTS {
            return Err(RateLimitError(format!(
                "rate-limit policy {:?}: count by one to {MAX_KEY_PARTS} attributes",
                &*policy.name
            )));
        }
        let mut by = [None; MAX_KEY_PARTS];
        for (slot, part) in by.iter_mut().zip(&policy.by) {
            if policy.by.iter().filter(|other| *other == part).count() > 1 {
                return Err(RateLimitError(format!(
                    "rate-limit policy {:?} counts by {part:?} twice",
                    &*policy.name
                )));
            }
            *slot = Some(*part);
        }
        let limit = |key_name: Arc<str>, quota: super::Quota| -> Result<Limit, RateLimitError> {
            // A bucket that refills over centuries would overflow the counters (nanoseconds in a
            // u64 here, microseconds in a double in Redis's script): no real quota does.
            const CENTURY: std::time::Duration = std::time::Duration::from_secs(100 * 365 * 86_400);
            if quota.interval().saturating_mul(quota.burst()) > CENTURY {
                return Err(RateLimitError(format!(
                    "rate-limit quota {:?} ({quota}) refills over more than a century",
                    &*key_name
                )));
            }
            if quota.burst() < cost.cost {
                return Err(RateLimitError(format!(
                    "rate-limit quota {:?} ({quota}): route {:?} costs {}, more than its burst, so it could never pass",
                    &*key_name,
                    cost.route.unwrap_or("?"),
                    cost.cost,
                )));
            }
            Ok(Limit {
                shown: key_name.clone(),
                key_name,
                local: LocalLimiter::with_max_keys(quota, Arc::clone(clock), max_keys),
            })
        };
        let default = limit(policy.name.clone(), policy.quota)?;
        let mut plans = Vec::with_capacity(policy.plans.len());
        for (i, (plan, quota)) in policy.plans.iter().enumerate() {
            check_name("plan", plan)?;
            if policy.plans[..i].iter().any(|(other, _)| other == plan) {
                return Err(RateLimitError(format!(
                    "rate-limit policy {:?} has plan {plan:?} twice",
                    &*policy.name
                )));
            }
            let key_name: Arc<str> = format!("{}/{plan}", policy.name).into();
            plans.push((plan.clone(), limit(key_name, *quota)?));
        }
        Ok(Self {
            by,
            default,
            plans,
            methods: policy,
        })
    }

    /// The limit for `identity`: its plan's, or the default.
    fn limit_for(&self, identity: Option<&Identity>, plan_field: &str) -> &Limit {
        if self.plans.is_empty() {
            return &self.default;
        }
        let plan = identity.and_then(|identity| identity.key_metadata(plan_field));
        match plan {
            Some(plan) => self
                .plans
                .iter()
                .find(|(name, _)| name == plan)
                .map_or(&self.default, |(_, limit)| limit),
            None => &self.default,
        }
    }

    /// The key of the caller's bucket, for a shared backend.
    fn key(&self, limit: &Limit, caller: &Caller<'_>) -> LimitKey {
        let mut parts: [Option<KeyPart>; MAX_KEY_PARTS] = Default::default();
        let attributes = self
            .by
            .iter()
            .flatten()
            .filter_map(|by| caller.attribute(*by));
        for (slot, attribute) in parts.iter_mut().zip(attributes) {
            *slot = Some(attribute.part());
        }
        LimitKey::from_slots(limit.key_name.clone(), parts)
    }

    /// The same key hashed for `limit`'s in-memory counter, straight from the identity: no
    /// string is copied or reference-counted (what [`LimitKey`]'s `Hash` would write).
    fn local_key(&self, limit: &Limit, caller: &Caller<'_>) -> u64 {
        let mut state = limit.local.hasher();
        for attribute in self
            .by
            .iter()
            .flatten()
            .filter_map(|by| caller.attribute(*by))
        {
            attribute.hash_into(&mut state);
        }
        std::hash::Hasher::finish(&state)
    }
}

struct CompiledRoute {
    pattern: Pattern,
    cost: u32,
    limits: Vec<Compiled>,
    /// The layer's policies whose quota this route replaces: (the policy's index, its stand-in).
    replacements: Vec<(usize, Compiled)>,
    exempt: bool,
}

impl CompiledRoute {
    fn replacement(&self, policy: usize) -> Option<&Compiled> {
        self.replacements
            .iter()
            .find(|(index, _)| *index == policy)
            .map(|(_, replaced)| replaced)
    }
}

/// The caller as the limits see it.
pub(super) struct Caller<'a> {
    identity: Option<&'a Identity>,
    ip: Option<IpAddr>,
}

/// One attribute of the caller, borrowed from its identity.
enum Attribute<'a> {
    Principal(&'a Arc<str>),
    Tenant(&'a crate::tenant::Tenant),
    ApiKey(&'a Arc<str>),
    Client(&'a Arc<str>),
    Ip(IpAddr),
}

impl Attribute<'_> {
    fn part(&self) -> KeyPart {
        match self {
            Self::Principal(value) => KeyPart::Principal(Arc::clone(value)),
            Self::Tenant(tenant) => KeyPart::Tenant((*tenant).clone()),
            Self::ApiKey(value) => KeyPart::ApiKey(Arc::clone(value)),
            Self::Client(value) => KeyPart::Client(Arc::clone(value)),
            Self::Ip(ip) => KeyPart::Ip(*ip),
        }
    }

    /// The tag and value `KeyPart` would hash as, without building it.
    fn hash_into(&self, state: &mut impl std::hash::Hasher) {
        let (tag, value) = match self {
            Self::Principal(value) => ('p', PartValue::Str(value)),
            Self::Tenant(tenant) => ('t', PartValue::Str(tenant.as_str())),
            Self::ApiKey(value) => ('k', PartValue::Str(value)),
            Self::Client(value) => ('c', PartValue::Str(value)),
            Self::Ip(ip) => ('i', PartValue::Ip(*ip)),
        };
        hash_part(state, tag, value);
    }
}

impl<'a> Caller<'a> {
    /// What the caller is counted by for `by`, with the documented fallbacks.
    fn attribute(&self, by: KeyBy) -> Option<Attribute<'a>> {
        let Some(identity) = self.identity else {
            // Anonymous: only the address tells callers apart.
            return self.ip.map(Attribute::Ip);
        };
        let shared = identity.shared_strings();
        let principal = Some(Attribute::Principal(shared.principal));
        match by {
            KeyBy::Principal => principal,
            KeyBy::Tenant => identity.tenant().map(Attribute::Tenant).or(principal),
            KeyBy::ApiKey => shared.api_key_id.map(Attribute::ApiKey).or(principal),
            KeyBy::Client => shared.client_id.map(Attribute::Client).or(principal),
            KeyBy::Ip => self.ip.map(Attribute::Ip),
        }
    }
}

/// The part of an address that tells clients apart: an IPv6 client is counted by its /64 (one
/// subscriber's prefix: an attacker holding a /64 must not get 2^64 quotas), an IPv4 one by its
/// address. The failed-authentication throttle counts the same way.
fn network(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(std::net::Ipv6Addr::from(bits))
        }
    }
}

/// What the limits decided for one request.
pub(super) enum Verdict {
    /// Let through; with the fields to add to the response when success headers are on.
    Pass(Option<Box<HeaderMap>>),
    /// Answered with this refusal.
    Refuse(Response<Bytes>),
}

impl Limits {
    /// The caller's address (the peer's, or behind trusted proxies the one they name), read only
    /// when a key may need it (an anonymous caller, or a policy counted by IP).
    fn client_ip(&self, identity: Option<&Identity>, request: &RequestView<'_>) -> Option<IpAddr> {
        if identity.is_some() && !self.keys_by_ip {
            return None;
        }
        self.trusted_proxies
            .client_ip(request.extensions, request.headers)
            .map(network)
    }

    fn route(&self, method: &http::Method, path: &str) -> Option<&CompiledRoute> {
        self.routes
            .iter()
            .find(|route| route.pattern.matches(method, path))
    }

    /// The policies that apply to `method` on `route`, each with its limit for the caller.
    fn applicable<'a>(
        &'a self,
        route: Option<&'a CompiledRoute>,
        method: Method,
        identity: Option<&'a Identity>,
    ) -> impl Iterator<Item = (&'a Compiled, &'a Limit)> + 'a {
        // A route's own quotas first: they are the likeliest to refuse, and a refused request has
        // already spent the quotas checked before the one that refused it (GCRA spends as it
        // checks).
        let route_limits = route.into_iter().flat_map(|route| route.limits.iter());
        let layer_limits = self
            .policies
            .iter()
            .enumerate()
            .map(move |(index, policy)| {
                route
                    .and_then(|route| route.replacement(index))
                    .unwrap_or(policy)
            });
        route_limits
            .chain(layer_limits)
            .filter(move |policy| policy.methods.applies_to(method))
            .map(move |policy| (policy, policy.limit_for(identity, &self.plan_field)))
    }

    /// Checks every limit that applies to the request in this instance's memory: no await, no
    /// allocation unless success headers are on or the request is refused.
    pub(super) fn check_local(&self, request: &RequestView<'_>) -> Verdict {
        let extensions = request.extensions;
        let identity = extensions.get::<Identity>();
        let route = self.route(request.method, request.path);
        if route.is_some_and(|route| route.exempt) {
            return Verdict::Pass(None);
        }
        let cost = route.map_or(1, |route| route.cost);
        let kind = Method::of(identity, &self.own_issuers);
        let caller = Caller {
            identity,
            ip: self.client_ip(identity, request),
        };
        if identity.is_none() {
            self.warn_if_outside_auth(extensions);
        }
        let mut seen: Option<Vec<(&Limit, Decision)>> = self.success_headers.then(Vec::new);
        for (spent, (policy, limit)) in self.applicable(route, kind, identity).enumerate() {
            let key = policy.local_key(limit, &caller);
            // Without success headers a passing request needs no details of its decision.
            let refused = match &mut seen {
                None => limit.local.spend_hashed(key, cost).err(),
                Some(seen) => {
                    let decision = limit.local.acquire_hashed(key, cost);
                    let allowed = decision.is_allowed();
                    if allowed {
                        seen.push((limit, decision));
                    }
                    (!allowed).then_some(decision)
                }
            };
            if let Some(decision) = refused {
                // A refused request spends nothing: give back what the quotas before this one
                // took (their keys hashed again, so that passing requests keep no list).
                for (policy, limit) in self.applicable(route, kind, identity).take(spent) {
                    limit
                        .local
                        .refund_hashed(policy.local_key(limit, &caller), cost);
                }
                let key = policy.key(limit, &caller);
                let renderer = renderer_of(extensions);
                return Verdict::Refuse(self.refusal(&renderer, limit, decision, &key));
            }
        }
        Verdict::Pass(seen.map(|seen| headers::fields(&seen)))
    }

    /// Logs once, at `error`, that requests reach the limits without having passed an auth
    /// layer: with axum's layers in the wrong order every caller looks anonymous, and quotas per
    /// method or principal silently never apply.
    fn warn_if_outside_auth(&self, extensions: &http::Extensions) {
        if !crate::layer::passed_auth_layer(extensions)
            && !self.warned_outside_auth.swap(true, Ordering::Relaxed)
        {
            tracing::error!(
                "a request reached the RateLimitLayer without passing an AuthLayer: the limits \
                 must run after authentication (AuthLayer::with_rate_limits checks them in the auth \
                 layer itself; or axum: .route_layer(limits) before \
                 .route_layer(auth), since the last layer added runs first); until then every \
                 caller counts as anonymous"
            );
        }
    }

    /// The same through the shared backend: one `acquire` per limit, in order.
    pub(super) fn check_remote(self: &Arc<Self>, request: &RequestView<'_>) -> RemoteCheck {
        let identity = request.extensions.get::<Identity>();
        let route = self.route(request.method, request.path);
        if route.is_some_and(|route| route.exempt) {
            return RemoteCheck::Done(Verdict::Pass(None));
        }
        let cost = route.map_or(1, |route| route.cost);
        let kind = Method::of(identity, &self.own_issuers);
        if identity.is_none() {
            self.warn_if_outside_auth(request.extensions);
        }
        let caller = Caller {
            identity,
            ip: self.client_ip(identity, request),
        };
        // Owned, for the future: each check is (limit, key); limits are found again by index.
        let checks: Vec<(LimitRef, LimitKey)> = self
            .applicable(route, kind, identity)
            .map(|(policy, limit)| (self.limit_ref(limit), policy.key(limit, &caller)))
            .collect();
        if checks.is_empty() {
            return RemoteCheck::Done(Verdict::Pass(None));
        }
        let limits = Arc::clone(self);
        // The format of the request's auth layer, for a refusal: its own if it has one (a
        // reference count), the default built only for a refusal.
        let renderer = request
            .extensions
            .get::<RequestRenderer>()
            .map(|rendering| rendering.0.clone());
        RemoteCheck::Pending(Box::pin(async move {
            let outcome = limits.spend_remote(checks, cost).await;
            match limits.verdict(outcome, renderer) {
                Verdict::Pass(fields) => Ok(fields),
                Verdict::Refuse(response) => Err(response),
            }
        }))
    }

    /// Every compiled policy of the layer, in one order that [`LimitRef`]s index.
    fn every_policy(&self) -> impl Iterator<Item = &Compiled> {
        let routes = self.routes.iter();
        self.policies
            .iter()
            .chain(routes.clone().flat_map(|route| route.limits.iter()))
            .chain(routes.flat_map(|route| route.replacements.iter().map(|(_, replaced)| replaced)))
    }

    fn limit_ref(&self, limit: &Limit) -> LimitRef {
        for (index, policy) in self.every_policy().enumerate() {
            if std::ptr::eq(&policy.default, limit) {
                return LimitRef(index, None);
            }
            if let Some(plan) = policy
                .plans
                .iter()
                .position(|(_, own)| std::ptr::eq(own, limit))
            {
                return LimitRef(index, Some(plan));
            }
        }
        unreachable!("every limit belongs to a policy of this layer")
    }

    fn resolve(&self, at: LimitRef) -> &Limit {
        let policy = self
            .every_policy()
            .nth(at.0)
            .expect("a limit reference of this layer");
        match at.1 {
            None => &policy.default,
            Some(plan) => &policy.plans[plan].1,
        }
    }

    async fn spend_remote(&self, checks: Vec<(LimitRef, LimitKey)>, cost: u32) -> RemoteOutcome {
        let backend = self.backend.as_ref().expect("remote checks need a backend");
        let mut seen = self.success_headers.then(Vec::new);
        // Where each quota so far was spent: in the backend (true) or in memory.
        let mut spent: Vec<(LimitRef, &LimitKey, bool)> = Vec::with_capacity(checks.len());
        for (at, key) in &checks {
            let limit = self.resolve(*at);
            let (decision, in_backend) =
                match backend.acquire(key, limit.quota(), cost).resolve().await {
                    Ok(decision) => (decision, true),
                    Err(error) => {
                        self.warn_backend_failure(&error);
                        match self.on_failure {
                            OnBackendFailure::Local => (limit.local.acquire(key, cost), false),
                            OnBackendFailure::Allow => continue,
                            OnBackendFailure::Refuse => {
                                self.refund_remote(&spent, cost).await;
                                return RemoteOutcome::Unavailable;
                            }
                        }
                    }
                };
            if !decision.is_allowed() {
                self.refund_remote(&spent, cost).await;
                return RemoteOutcome::Exceeded(*at, decision, key.clone());
            }
            spent.push((*at, key, in_backend));
            if let Some(seen) = &mut seen {
                seen.push((limit, decision));
            }
        }
        RemoteOutcome::Pass(seen.map(|seen| headers::fields(&seen)))
    }

    /// Gives back what a refused request spent, where it was spent. A refund the backend cannot
    /// make leaves that quota spent (logged at `debug`): never worse than no refund.
    async fn refund_remote(&self, spent: &[(LimitRef, &LimitKey, bool)], cost: u32) {
        let backend = self.backend.as_ref().expect("remote checks need a backend");
        for (at, key, in_backend) in spent {
            let limit = self.resolve(*at);
            if !*in_backend {
                limit.local.refund(key, cost);
            } else if let Err(error) = backend.refund(key, limit.quota(), cost).resolve().await {
                tracing::debug!(error = %error, "the rate-limit backend could not refund");
            }
        }
    }

    /// The verdict of a remote check: the passed request's fields, or its refusal rendered by
    /// `renderer` (its auth layer's, if that has a format of its own; else the default).
    fn verdict(&self, outcome: RemoteOutcome, renderer: Option<SharedRenderer>) -> Verdict {
        match outcome {
            RemoteOutcome::Pass(fields) => Verdict::Pass(fields),
            RemoteOutcome::Exceeded(at, decision, key) => Verdict::Refuse(self.refusal(
                &renderer.unwrap_or_default(),
                self.resolve(at),
                decision,
                &key,
            )),
            RemoteOutcome::Unavailable => Verdict::Refuse(
                renderer
                    .unwrap_or_default()
                    .respond(AuthError::new(AuthErrorKind::RateLimitUnavailable)),
            ),
        }
    }

    fn warn_backend_failure(&self, error: &crate::store::StoreError) {
        let now = self.clock.now();
        let last = self.last_warning.swap(now, Ordering::Relaxed);
        if last != now {
            tracing::warn!(
                error = %error,
                on_failure = ?self.on_failure,
                "the rate-limit backend failed; the configured fallback applies"
            );
        }
    }

    fn refusal(
        &self,
        renderer: &SharedRenderer,
        limit: &Limit,
        decision: Decision,
        key: &LimitKey,
    ) -> Response<Bytes> {
        // `debug`: a flood of refusals must not flood the logs.
        tracing::debug!(
            policy = &*limit.key_name,
            parts = key.parts().count(),
            retry_after_ms = u64::try_from(decision.retry_after().as_millis()).unwrap_or(u64::MAX),
            "request refused: rate limit exceeded"
        );
        let mut response = renderer.respond(AuthError::new(AuthErrorKind::RateLimitExceeded));
        let headers = response.headers_mut();
        headers::refusal_fields(headers, limit, decision);
        response
    }
}

/// Which limit of the layer: a policy's index (global policies, then routes') and its plan.
#[derive(Clone, Copy, Debug)]
pub(super) struct LimitRef(usize, Option<usize>);

/// A check that must ask the backend.
pub(super) enum RemoteCheck {
    Done(Verdict),
    Pending(PendingLimits),
}

/// What the backend said, before it is rendered.
enum RemoteOutcome {
    Pass(Option<Box<HeaderMap>>),
    Exceeded(LimitRef, Decision, LimitKey),
    Unavailable,
}

/// The whole-seconds form of a duration the fields carry, rounded up (a client that waits the
/// rounded-down second would be refused again).
pub(super) fn ceil_seconds(duration: Duration) -> u64 {
    let seconds = duration.as_secs();
    if duration.subsec_nanos() > 0 {
        seconds.saturating_add(1)
    } else {
        seconds
    }
}
