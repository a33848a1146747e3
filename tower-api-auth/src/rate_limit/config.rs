//! [`RateLimitsConfig`]: the rate limits from a configuration file.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::client_ip::TrustedProxies;

use super::{KeyBy, Method, OnBackendFailure, Policy, Quota, RateLimitError, RateLimits, Route};

/// The rate limits as a configuration file writes them; [`builder`](Self::builder) makes the
/// same [`RateLimits`] as code would (add a shared backend to it in code).
///
/// ```
/// use tower_api_auth::rate_limit::RateLimitsConfig;
///
/// let config: RateLimitsConfig = toml::from_str(r#"
///     success_headers = true
///
///     ## Seed 004: one quota per authentication method, each caller counted on its own.
///     [methods]
///     api_key = "1000/hour"
///     oauth = "5000/hour"
///     jwt = "2000/hour"
///
///     ## Everyone, at most 20 at once.
///     [[policies]]
///     name = "burst"
///     limit = "20/second"
///
///     [[routes]]
///     route = "POST /v1/exports"
///     cost = 20
///
///     [[routes]]
///     route = "GET /v1/search"
///     replace = { jwt = "100/minute" }
///
///     [[routes]]
///     route = "/healthz"
///     exempt = true
/// "#)?;
/// let layer = config.builder()?.build()?;
/// # let _ = layer;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct RateLimitsConfig {
    /// A quota per authentication method (`api_key`, `jwt`, `oauth`, `opaque`, `anonymous`),
    /// each a policy named after its method, counted by principal (anonymous callers by IP).
    pub methods: BTreeMap<Method, Quota>,
    /// Policies in full.
    pub policies: Vec<PolicyConfig>,
    /// Route rules, the first match applies.
    pub routes: Vec<RouteConfig>,
    /// The `RateLimit` fields on successful answers too.
    pub success_headers: bool,
    /// The `iss` of the app's own tokens (see [`RateLimits::own_issuers`]).
    pub own_issuers: Vec<String>,
    /// The API-key metadata field naming the plan (default `plan`).
    pub plan_field: Option<String>,
    /// Keys remembered in memory per quota.
    pub max_keys: Option<usize>,
    /// What to do when a shared backend fails: `local` (default), `allow` or `refuse`.
    pub on_backend_failure: OnBackendFailure,
    /// The proxies whose `Forwarded` / `X-Forwarded-For` name an anonymous caller's address
    /// (IPs and CIDRs).
    pub trusted_proxies: TrustedProxies,
}

/// One policy: `name`, `limit` (`"1000/hour"`, `"20/second burst 5"`), and optionally `methods`,
/// `by` and `plans` (`{ pro = "10000/hour" }`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct PolicyConfig {
    /// The name in the `RateLimit` fields.
    pub name: String,
    /// The quota.
    pub limit: Quota,
    /// The methods it applies to (default: all).
    #[serde(default)]
    pub methods: Option<Vec<Method>>,
    /// What it counts by (default: principal).
    #[serde(default)]
    pub by: Option<Vec<KeyBy>>,
    /// Quotas for API keys whose plan is the entry's name.
    #[serde(default)]
    pub plans: BTreeMap<String, Quota>,
}

/// One route rule: `route` (`"POST /v1/exports"`, `"/v1/admin/*"`) with a `cost`, `limits` of
/// its own, `replace` (a policy's quota on this route), or `exempt = true`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct RouteConfig {
    /// The pattern.
    pub route: String,
    /// What each request spends of every quota (default 1).
    #[serde(default)]
    pub cost: Option<u32>,
    /// Quotas of this route alone.
    #[serde(default)]
    pub limits: Vec<PolicyConfig>,
    /// The layer's policies whose quota this route replaces (`{ jwt = "100/minute" }`).
    #[serde(default)]
    pub replace: BTreeMap<String, Quota>,
    /// No quota applies.
    #[serde(default)]
    pub exempt: bool,
}

impl PolicyConfig {
    fn policy(&self) -> Policy {
        let mut policy = Policy::new(self.name.as_str(), self.limit);
        if let Some(methods) = &self.methods {
            policy = policy.methods(methods.iter().copied());
        }
        if let Some(by) = &self.by {
            policy = policy.by(by.iter().copied());
        }
        for (plan, quota) in &self.plans {
            policy = policy.plan(plan.as_str(), *quota);
        }
        policy
    }
}

impl RateLimitsConfig {
    /// The configured limits, to add a backend or a clock to before
    /// [`build`](RateLimits::build).
    pub fn builder(&self) -> Result<RateLimits, RateLimitError> {
        let mut limits = RateLimits::new()
            .success_headers(self.success_headers)
            .own_issuers(self.own_issuers.iter().cloned())
            .on_backend_failure(self.on_backend_failure)
            .trusted_proxies(self.trusted_proxies.clone());
        for (method, quota) in &self.methods {
            limits = limits.policy(Policy::per_method(*method, *quota));
        }
        for policy in &self.policies {
            limits = limits.policy(policy.policy());
        }
        for route in &self.routes {
            let mut rule = Route::new(route.route.as_str());
            if let Some(cost) = route.cost {
                rule = rule.cost(cost);
            }
            for (name, quota) in &route.replace {
                rule = rule.replace(name.as_str(), *quota);
            }
            if route.exempt {
                if route.cost.is_some() {
                    return Err(RateLimitError(format!(
                        "route {:?} is exempt: it takes no cost or limits",
                        route.route
                    )));
                }
                rule = rule.exempt();
            }
            for policy in &route.limits {
                rule = rule.limit(policy.policy());
            }
            limits = limits.route(rule);
        }
        if let Some(field) = &self.plan_field {
            limits = limits.plan_field(field.as_str());
        }
        if let Some(max_keys) = self.max_keys {
            limits = limits.max_keys(max_keys);
        }
        Ok(limits)
    }
}
