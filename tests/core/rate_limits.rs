//! Rate limits keyed on the identity (issue 18): seed 004's quotas per method, tenant-wide and
//! per-key quotas, plans, routes and costs, the 429 answer and its IETF fields, `Retry-After`
//! honoured, a backend implemented outside the crate and what happens when it fails.
#![cfg(all(
    feature = "axum",
    feature = "rate-limit",
    any(feature = "aws-lc-rs", feature = "rust-crypto")
))]

use tower_api_auth_tests as common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::routing::{get, post};
use serde_json::json;
use tower_api_auth::clock::ManualClock;
use tower_api_auth::error::ErrorFormat;
use tower_api_auth::jwt::JwtOptions;
use tower_api_auth::rate_limit::{
    Decision, KeyBy, LimitKey, Method, OnBackendFailure, Policy, Quota, RateLimitBackend,
    RateLimitLayer, RateLimits, Route,
};
use tower_api_auth::store::{Lookup, StoreError};
use tower_api_auth::{AuthLayer, JwtValidator, MemoryKeyStore, api_key::KeyRecord};

use crate::api_keys::SlowStore;
use common::jwt::{claims, hs256, with};
use common::{HS256_SECRET, Server, api_key_with, in_process, serve};

/// A fresh API key of tenant `acme` (one tenant: no tenant header needed).
fn api_key() -> (String, KeyRecord) {
    api_key_with(&Default::default(), &["acme"], "")
}

fn auth(records: Vec<KeyRecord>) -> AuthLayer {
    AuthLayer::builder()
        .jwt(JwtValidator::hs256(HS256_SECRET, JwtOptions::new()).unwrap())
        .api_keys(MemoryKeyStore::from(records))
        .build()
        .unwrap()
}

fn app(auth: AuthLayer, limits: RateLimitLayer) -> Router {
    Router::new()
        .route("/v1/users", get(|| async { "users" }))
        .route("/v1/exports", post(|| async { "export" }))
        .route("/healthz", get(|| async { "ok" }))
        .route_layer(limits)
        .route_layer(auth)
}

/// Seed 004: "API Keys: 1000 requests/hour, OAuth: 5000 requests/hour, JWT: 2000 requests/hour".
fn seed_limits(clock: &ManualClock) -> RateLimits {
    RateLimits::new()
        .policy(Policy::new("api_keys", Quota::per_hour(1000)).methods([Method::ApiKey]))
        .policy(Policy::new("oauth", Quota::per_hour(5000)).methods([Method::OAuth]))
        .policy(Policy::new("jwt", Quota::per_hour(2000)).methods([Method::Jwt]))
        .clock(clock.clone())
}

/// Sends `n` requests and asserts that every one passed.
async fn spend(server: &Server, n: usize, credential: impl Fn(common::Call) -> common::Call) {
    for i in 0..n {
        let reply = credential(server.get("/v1/users")).send().await;
        assert_eq!(reply.status, 200, "request {i} of {n}: {}", reply.text);
    }
}

#[tokio::test]
async fn each_method_gets_the_seed_quota_and_no_more() {
    let clock = ManualClock::at(common::PAST);
    let (key, record) = api_key();
    let server = in_process(app(
        auth(vec![record]),
        seed_limits(&clock).build().unwrap(),
    ));
    let jwt = hs256(&claims("alice"));
    let oauth = hs256(&with(
        claims("client-app"),
        json!({ "client_id": "client-app" }),
    ));

    spend(&server, 1000, |call| call.bearer(&key)).await;
    spend(&server, 2000, |call| call.bearer(&jwt)).await;
    spend(&server, 5000, |call| call.bearer(&oauth)).await;
    for (credential, policy) in [(&key, "api_keys"), (&jwt, "jwt"), (&oauth, "oauth")] {
        let reply = server.get("/v1/users").bearer(credential).send().await;
        reply.assert_error(429, "rate_limit_exceeded");
        let fields = reply.header("ratelimit-policy").unwrap();
        assert!(fields.starts_with(&format!("\"{policy}\";q=")), "{fields}");
    }
}

#[tokio::test]
async fn the_refusal_is_429_in_the_apps_format_with_retry_after_and_the_ietf_fields() {
    let clock = ManualClock::at(common::PAST);
    let (key, record) = api_key();
    let auth = AuthLayer::builder()
        .api_keys(MemoryKeyStore::from(vec![record]))
        .error_format(ErrorFormat::Problem)
        .build()
        .unwrap();
    let limits = RateLimits::new()
        .policy(Policy::new("api_keys", Quota::per_hour(2)).methods([Method::ApiKey]))
        .clock(clock.clone())
        .build()
        .unwrap();
    let server = serve(app(auth, limits)).await;
    spend(&server, 2, |call| call.bearer(&key)).await;

    let refused = server.get("/v1/users").bearer(&key).send().await;
    assert_eq!(refused.status, 429);
    assert_eq!(
        refused.header("content-type"),
        Some("application/problem+json")
    );
    assert_eq!(refused.json()["code"], "rate_limit_exceeded");
    assert_eq!(refused.json()["status"], 429);
    // Two an hour: the next one comes back 30 minutes after the last.
    assert_eq!(refused.header("retry-after"), Some("1800"));
    assert_eq!(
        refused.header("ratelimit-policy"),
        Some("\"api_keys\";q=2;w=3600")
    );
    // `t`: when the next unit is back, which Retry-After is never before (draft-10 §5).
    assert_eq!(refused.header("ratelimit"), Some("\"api_keys\";r=0;t=1800"));
    // Not a credential problem: no challenge.
    assert_eq!(refused.header("www-authenticate"), None);

    clock.advance(Duration::from_secs(1799));
    let early = server.get("/v1/users").bearer(&key).send().await;
    assert_eq!(early.status, 429, "one second before Retry-After");
    assert_eq!(early.header("retry-after"), Some("1"));
    clock.advance(Duration::from_secs(1));
    let honoured = server.get("/v1/users").bearer(&key).send().await;
    assert_eq!(honoured.status, 200, "{}", honoured.text);
}

#[tokio::test]
async fn a_tenants_keys_share_one_quota_while_another_tenant_keeps_its_own() {
    let clock = ManualClock::at(common::PAST);
    let format = Default::default();
    let (first, first_record) = api_key_with(&format, &["acme"], "");
    let (second, second_record) = api_key_with(&format, &["acme"], "");
    let (other, other_record) = api_key_with(&format, &["globex"], "");
    let limits = RateLimits::new()
        .policy(
            Policy::new("tenant", Quota::per_hour(3))
                .methods([Method::ApiKey])
                .by([KeyBy::Tenant]),
        )
        .clock(clock.clone())
        .build()
        .unwrap();
    let server = serve(app(
        auth(vec![first_record, second_record, other_record]),
        limits,
    ))
    .await;

    spend(&server, 2, |call| call.bearer(&first)).await;
    spend(&server, 1, |call| call.bearer(&second)).await;
    // A new key buys acme no more requests.
    let refused = server.get("/v1/users").bearer(&second).send().await;
    refused.assert_error(429, "rate_limit_exceeded");
    spend(&server, 3, |call| call.bearer(&other)).await;
}

#[tokio::test]
async fn per_key_quotas_count_each_key_and_a_plan_in_the_key_record_wins() {
    let clock = ManualClock::at(common::PAST);
    let (basic, basic_record) = api_key();
    let (pro, pro_record) = api_key();
    let pro_record = pro_record.with_metadata("plan", "pro");
    let limits = RateLimits::new()
        .policy(
            Policy::new("keys", Quota::per_hour(2))
                .methods([Method::ApiKey])
                .by([KeyBy::ApiKey])
                .plan("pro", Quota::per_hour(5)),
        )
        .success_headers(true)
        .clock(clock.clone())
        .build()
        .unwrap();
    let server = serve(app(auth(vec![basic_record, pro_record]), limits)).await;

    let first = server.get("/v1/users").bearer(&pro).send().await;
    assert_eq!(
        first.header("ratelimit-policy"),
        Some("\"keys/pro\";q=5;w=3600")
    );
    assert_eq!(first.header("ratelimit"), Some("\"keys/pro\";r=4;t=720"));
    spend(&server, 4, |call| call.bearer(&pro)).await;
    server
        .get("/v1/users")
        .bearer(&pro)
        .send()
        .await
        .assert_error(429, "rate_limit_exceeded");

    spend(&server, 2, |call| call.bearer(&basic)).await;
    let refused = server.get("/v1/users").bearer(&basic).send().await;
    refused.assert_error(429, "rate_limit_exceeded");
    assert_eq!(
        refused.header("ratelimit-policy"),
        Some("\"keys\";q=2;w=3600")
    );
}

#[tokio::test]
async fn routes_cost_more_have_quotas_of_their_own_or_none() {
    let clock = ManualClock::at(common::PAST);
    let jwt = hs256(&claims("alice"));
    let limits = RateLimits::new()
        .policy(Policy::new("hourly", Quota::per_hour(100)))
        .route(
            Route::new("POST /v1/exports")
                .cost(20)
                .limit(Policy::new("exports", Quota::per_hour(40))),
        )
        .route(Route::new("/healthz").exempt())
        .success_headers(true)
        .clock(clock.clone())
        .build()
        .unwrap();
    let server = serve(app(auth(vec![]), limits)).await;

    let export = server.post("/v1/exports").bearer(&jwt).send().await;
    assert_eq!(export.status, 200, "{}", export.text);
    // Both quotas reported, each spent by the route's cost.
    assert_eq!(
        export.header("ratelimit-policy"),
        Some("\"exports\";q=40;w=3600, \"hourly\";q=100;w=3600")
    );
    assert_eq!(
        export.header("ratelimit"),
        // `t`: the next unit of each comes back in one interval (90 s and 36 s).
        Some("\"exports\";r=20;t=90, \"hourly\";r=80;t=36")
    );
    assert_eq!(
        server.post("/v1/exports").bearer(&jwt).send().await.status,
        200
    );
    // 40 of the export quota spent: the third export is refused by it.
    let third = server.post("/v1/exports").bearer(&jwt).send().await;
    third.assert_error(429, "rate_limit_exceeded");
    assert_eq!(
        third.header("ratelimit-policy"),
        Some("\"exports\";q=40;w=3600")
    );
    assert_eq!(third.header("retry-after"), Some("1800"));
    assert_eq!(third.header("ratelimit"), Some("\"exports\";r=0;t=90"));

    // The refused export spent nothing (its route's quota is checked first), so the hourly
    // quota has 60 left; health checks never count.
    for _ in 0..200 {
        assert_eq!(server.get("/healthz").bearer(&jwt).send().await.status, 200);
    }
    let users = server.get("/v1/users").bearer(&jwt).send().await;
    assert_eq!(users.header("ratelimit"), Some("\"hourly\";r=59;t=36"));
}

#[tokio::test]
async fn a_burst_limit_and_an_hourly_quota_apply_together() {
    let clock = ManualClock::at(common::PAST);
    let jwt = hs256(&claims("alice"));
    let limits = RateLimits::new()
        .policy(Policy::new("burst", Quota::per_second(5)))
        .policy(Policy::new("hourly", Quota::per_hour(12)))
        .clock(clock.clone())
        .build()
        .unwrap();
    let server = in_process(app(auth(vec![]), limits));

    spend(&server, 5, |call| call.bearer(&jwt)).await;
    let burst = server.get("/v1/users").bearer(&jwt).send().await;
    burst.assert_error(429, "rate_limit_exceeded");
    assert_eq!(burst.header("ratelimit-policy"), Some("\"burst\";q=5;w=1"));
    clock.advance(Duration::from_secs(1));
    spend(&server, 5, |call| call.bearer(&jwt)).await;
    clock.advance(Duration::from_secs(1));
    spend(&server, 2, |call| call.bearer(&jwt)).await;
    let hourly = server.get("/v1/users").bearer(&jwt).send().await;
    hourly.assert_error(429, "rate_limit_exceeded");
    assert_eq!(
        hourly.header("ratelimit-policy"),
        Some("\"hourly\";q=12;w=3600")
    );
}

#[tokio::test]
async fn successful_answers_carry_no_fields_unless_asked() {
    let clock = ManualClock::at(common::PAST);
    let jwt = hs256(&claims("alice"));
    let server = in_process(app(auth(vec![]), seed_limits(&clock).build().unwrap()));
    let reply = server.get("/v1/users").bearer(&jwt).send().await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("ratelimit"), None);
    assert_eq!(reply.header("ratelimit-policy"), None);
}

#[tokio::test]
async fn tokens_of_an_outside_issuer_count_as_oauth() {
    let clock = ManualClock::at(common::PAST);
    let own = hs256(&with(claims("alice"), json!({ "iss": "https://app.test" })));
    let outside = hs256(&with(claims("bob"), json!({ "iss": "https://idp.test" })));
    let limits = seed_limits(&clock)
        .own_issuers(["https://app.test"])
        .success_headers(true)
        .build()
        .unwrap();
    let server = in_process(app(auth(vec![]), limits));
    let reply = server.get("/v1/users").bearer(&own).send().await;
    assert_eq!(
        reply.header("ratelimit-policy"),
        Some("\"jwt\";q=2000;w=3600")
    );
    let reply = server.get("/v1/users").bearer(&outside).send().await;
    assert_eq!(
        reply.header("ratelimit-policy"),
        Some("\"oauth\";q=5000;w=3600")
    );
}

/// A shared backend written outside the crate: counts in a map, and can be switched off.
#[derive(Debug, Default)]
struct FlakyBackend {
    down: AtomicBool,
    calls: AtomicUsize,
    spent: std::sync::Mutex<std::collections::HashMap<String, u32>>,
}

impl RateLimitBackend for FlakyBackend {
    fn acquire(&self, key: &LimitKey, quota: &Quota, cost: u32) -> Lookup<Decision> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if self.down.load(Ordering::SeqCst) {
            return Lookup::pending(async { Err(StoreError::new("backend down")) });
        }
        let mut spent = self.spent.lock().unwrap();
        let used = spent.entry(key.to_string()).or_default();
        let decision = if *used + cost <= quota.count() {
            *used += cost;
            Decision::allowed(quota.count() - *used, quota.window())
        } else {
            Decision::denied(quota.window(), quota.window())
        };
        Lookup::pending(async move { Ok(decision) })
    }
}

fn with_backend(backend: Arc<FlakyBackend>, on_failure: OnBackendFailure) -> Server {
    let limits = RateLimits::new()
        .policy(Policy::new("hourly", Quota::per_hour(3)))
        .backend(backend)
        .on_backend_failure(on_failure)
        .clock(ManualClock::at(common::PAST))
        .build()
        .unwrap();
    in_process(app(auth(vec![]), limits))
}

#[tokio::test]
async fn a_backend_written_outside_the_crate_holds_the_quota() {
    let backend = Arc::new(FlakyBackend::default());
    let server = with_backend(Arc::clone(&backend), OnBackendFailure::Local);
    let jwt = hs256(&claims("alice"));
    spend(&server, 3, |call| call.bearer(&jwt)).await;
    let refused = server.get("/v1/users").bearer(&jwt).send().await;
    refused.assert_error(429, "rate_limit_exceeded");
    assert_eq!(refused.header("retry-after"), Some("3600"));
    assert_eq!(backend.calls.load(Ordering::SeqCst), 4);
    let keys: Vec<String> = backend.spent.lock().unwrap().keys().cloned().collect();
    assert_eq!(keys, ["hourly|p=alice"]);
}

#[tokio::test]
async fn a_failed_backend_falls_back_to_local_counting_then_recovers() {
    let backend = Arc::new(FlakyBackend::default());
    let server = with_backend(Arc::clone(&backend), OnBackendFailure::Local);
    let jwt = hs256(&claims("alice"));
    backend.down.store(true, Ordering::SeqCst);
    // Counted in memory while the backend is down: still three an hour, never a 500.
    spend(&server, 3, |call| call.bearer(&jwt)).await;
    server
        .get("/v1/users")
        .bearer(&jwt)
        .send()
        .await
        .assert_error(429, "rate_limit_exceeded");
    // Back up: the backend counts again (its own count for alice starts at zero).
    backend.down.store(false, Ordering::SeqCst);
    spend(&server, 3, |call| call.bearer(&jwt)).await;
    assert_eq!(backend.spent.lock().unwrap()["hourly|p=alice"], 3);
}

#[tokio::test]
async fn a_failed_backend_lets_through_or_refuses_as_configured() {
    let jwt = hs256(&claims("alice"));
    let backend = Arc::new(FlakyBackend::default());
    backend.down.store(true, Ordering::SeqCst);
    let open = with_backend(Arc::clone(&backend), OnBackendFailure::Allow);
    spend(&open, 10, |call| call.bearer(&jwt)).await;

    let closed = with_backend(Arc::clone(&backend), OnBackendFailure::Refuse);
    let refused = closed.get("/v1/users").bearer(&jwt).send().await;
    refused.assert_error(503, "rate_limit_unavailable");
    backend.down.store(false, Ordering::SeqCst);
    assert_eq!(
        closed.get("/v1/users").bearer(&jwt).send().await.status,
        200
    );
}

#[test]
fn configurations_that_cannot_work_are_refused_with_the_reason() {
    let hourly = || Policy::new("hourly", Quota::per_hour(10));
    let refused = |limits: RateLimits| limits.build().unwrap_err().to_string();
    assert!(refused(RateLimits::new()).contains("no rate-limit policy"));
    assert!(
        refused(RateLimits::new().policy(hourly()).policy(hourly()))
            .contains("two rate-limit policies")
    );
    assert!(
        refused(RateLimits::new().policy(Policy::new("a \"b\"", Quota::per_hour(1))))
            .contains("use 1-64 letters")
    );
    assert!(
        refused(
            RateLimits::new()
                .policy(hourly())
                .route(Route::new("/export").cost(11))
        )
        .contains("more than its burst")
    );
    assert!(
        refused(
            RateLimits::new()
                .policy(hourly())
                .route(Route::new("/x").cost(0))
        )
        .contains("exempt")
    );
    assert!(
        refused(RateLimits::new().policy(hourly()).route(Route::new("x")))
            .contains("must start with /")
    );
    assert!(refused(RateLimits::new().policy(hourly().methods([]))).contains("no method"));
    assert!(
        refused(RateLimits::new().policy(hourly().by([KeyBy::Tenant, KeyBy::Tenant])))
            .contains("twice")
    );
    // A plan's bucket is "<policy>/<plan>": no name may contain the `/` that joins them, or
    // two quotas would share a counter and a field item.
    assert!(
        refused(RateLimits::new().policy(Policy::new("api/pro", Quota::per_hour(1))))
            .contains("use 1-64 letters")
    );
    assert!(
        refused(RateLimits::new().policy(hourly().plan("gold \"x\"", Quota::per_hour(5))))
            .contains("plan name")
    );
    assert!(
        refused(
            RateLimits::new().policy(
                hourly()
                    .plan("pro", Quota::per_hour(5))
                    .plan("pro", Quota::per_hour(6))
            )
        )
        .contains("plan \"pro\" twice")
    );
    assert!(
        refused(
            RateLimits::new()
                .policy(hourly())
                .route(Route::new("get /x"))
        )
        .contains("not an HTTP method")
    );
    assert!(
        refused(
            RateLimits::new()
                .policy(hourly())
                .route(Route::new("/x").exempt().cost(2))
        )
        .contains("exempt")
    );
    let costly = refused(
        RateLimits::new()
            .policy(hourly().plan("trial", Quota::per_hour(2)))
            .route(Route::new("POST /exports").cost(5)),
    );
    assert!(
        costly.contains("\"hourly/trial\"") && costly.contains("POST /exports"),
        "{costly}"
    );
}

/// An introspected token for the tests: any token named `opaque-<principal>`.
#[derive(Debug, Clone)]
struct Introspected;

impl tower_api_auth::opaque::OpaqueTokenValidator for Introspected {
    fn validate(
        &self,
        token: &str,
        _now: u64,
    ) -> Lookup<tower_api_auth::opaque::OpaqueToken, tower_api_auth::AuthError> {
        Lookup::Ready(match token.strip_prefix("opaque-") {
            Some(principal) => Ok(tower_api_auth::opaque::OpaqueToken::new(principal)),
            None => Err(tower_api_auth::AuthErrorKind::InvalidToken.into()),
        })
    }
}

#[tokio::test]
async fn each_credential_spends_the_quota_of_its_method() {
    let clock = ManualClock::at(common::PAST);
    let (key, record) = api_key();
    let key_id = record.key_id.to_string();
    let auth = AuthLayer::builder()
        .jwt(JwtValidator::hs256(HS256_SECRET, JwtOptions::new()).unwrap())
        .api_keys(MemoryKeyStore::from(vec![record]))
        .opaque_tokens(Introspected)
        .build()
        .unwrap();
    let mut limits = seed_limits(&clock).success_headers(true);
    for method in [Method::Opaque, Method::Anonymous] {
        limits = limits.policy(Policy::per_method(method, Quota::per_hour(100)));
    }
    let limits = limits.build().unwrap();
    let app = Router::new()
        .route("/v1/users", get(|| async { "users" }))
        .route_layer(limits)
        .route_layer(auth.optional());
    let server = in_process(app);
    let exchanged = hs256(&with(claims("svc"), json!({ "api_key_id": key_id })));
    let cases = [
        (Some(key.as_str()), "api_keys"),
        // A JWT exchanged for a key spends the key's quota, not the JWT one.
        (Some(exchanged.as_str()), "api_keys"),
        (Some("opaque-alice"), "opaque"),
        (None, "anonymous"),
    ];
    for (credential, policy) in cases {
        let call = server.get("/v1/users");
        let call = match credential {
            Some(credential) => call.bearer(credential),
            None => call,
        };
        let reply = call.send().await;
        assert_eq!(reply.status, 200, "{policy}: {}", reply.text);
        let fields = reply.header("ratelimit-policy").unwrap();
        assert!(
            fields.starts_with(&format!("\"{policy}\";")),
            "{policy}: {fields}"
        );
    }
}

/// An optional auth layer and its limits: a `RateLimitLayer` inside it, or checked by the layer
/// itself, made optional after or before it was given the limits.
#[derive(Clone, Copy, Debug)]
enum OptionalLimits {
    OwnLayer,
    OptionalThenLimits,
    LimitsThenOptional,
}

#[tokio::test]
async fn anonymous_callers_are_counted_by_address_and_a_trusted_proxy_names_it() {
    for layering in [
        OptionalLimits::OwnLayer,
        OptionalLimits::OptionalThenLimits,
        OptionalLimits::LimitsThenOptional,
    ] {
        anonymous_callers_counted_by_address(layering).await;
    }
}

async fn anonymous_callers_counted_by_address(layering: OptionalLimits) {
    use tower_api_auth::client_ip::TrustedProxies;

    let limits = RateLimits::new()
        .policy(Policy::per_method(Method::Anonymous, Quota::per_hour(2)))
        .trusted_proxies(TrustedProxies::parse(["127.0.0.9"]).unwrap())
        .clock(ManualClock::at(common::PAST))
        .build()
        .unwrap();
    let routes = Router::new().route("/v1/public", get(|| async { "public" }));
    let app = match layering {
        OptionalLimits::OwnLayer => routes
            .route_layer(limits)
            .route_layer(auth(vec![]).optional()),
        OptionalLimits::OptionalThenLimits => {
            routes.route_layer(auth(vec![]).optional().with_rate_limits(&limits))
        }
        OptionalLimits::LimitsThenOptional => {
            routes.route_layer(auth(vec![]).with_rate_limits(&limits).optional())
        }
    };
    let server = common::serve_with_peers(app).await;
    let (first, second, proxy) = (
        server.from_ip("127.0.0.2"),
        server.from_ip("127.0.0.3"),
        server.from_ip("127.0.0.9"),
    );
    for _ in 0..2 {
        assert_eq!(first.get("/v1/public").send().await.status, 200);
    }
    first
        .get("/v1/public")
        .send()
        .await
        .assert_error(429, "rate_limit_exceeded");
    // Another address has its own quota, and a client cannot pick one with a header.
    assert_eq!(second.get("/v1/public").send().await.status, 200);
    let spoofed = first
        .get("/v1/public")
        .header("x-forwarded-for", "198.51.100.7")
        .send()
        .await;
    spoofed.assert_error(429, "rate_limit_exceeded");
    // Behind the trusted proxy, the address it names is the client's.
    for _ in 0..2 {
        let reply = proxy
            .get("/v1/public")
            .header("x-forwarded-for", "198.51.100.7")
            .send()
            .await;
        assert_eq!(reply.status, 200);
    }
    let reply = proxy
        .get("/v1/public")
        .header("x-forwarded-for", "198.51.100.7")
        .send()
        .await;
    reply.assert_error(429, "rate_limit_exceeded");
    let other = proxy
        .get("/v1/public")
        .header("x-forwarded-for", "198.51.100.8")
        .send()
        .await;
    assert_eq!(other.status, 200, "{layering:?}");
    // A signed-in caller from the spent address is no anonymous caller.
    let jwt = hs256(&claims("alice"));
    let signed_in = first.get("/v1/public").bearer(&jwt).send().await;
    assert_eq!(signed_in.status, 200, "{layering:?}");
}

#[tokio::test]
async fn a_request_refused_by_one_quota_spends_none_of_the_others() {
    let clock = ManualClock::at(common::PAST);
    let jwt = hs256(&claims("alice"));
    // The hourly quota comes first: the burst refusals after it must not drain it.
    let limits = RateLimits::new()
        .policy(Policy::new("hourly", Quota::per_hour(100)))
        .policy(Policy::new("burst", Quota::per_minute(5)))
        .success_headers(true)
        .clock(clock.clone())
        .build()
        .unwrap();
    let server = in_process(app(auth(vec![]), limits));
    spend(&server, 5, |call| call.bearer(&jwt)).await;
    for _ in 0..95 {
        let refused = server.get("/v1/users").bearer(&jwt).send().await;
        assert_eq!(
            refused.header("ratelimit-policy"),
            Some("\"burst\";q=5;w=60")
        );
    }
    clock.advance(Duration::from_secs(60));
    let reply = server.get("/v1/users").bearer(&jwt).send().await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.header("ratelimit"),
        // Six spent, a minute's refill (1 2/3 units) back: 95 left, the next in 12 s. Had the 95
        // refusals spent it, the hourly quota would be empty.
        Some("\"hourly\";r=95;t=12, \"burst\";r=4;t=12"),
        "only the six requests that passed spent the hourly quota"
    );
}

#[tokio::test]
async fn a_jwt_exchanged_for_a_key_spends_the_keys_plan_in_the_keys_bucket() {
    let clock = ManualClock::at(common::PAST);
    let (key, record) = api_key();
    let record = record.with_metadata("plan", "trial");
    let key_id = record.key_id.to_string();
    let limits = RateLimits::new()
        .policy(
            Policy::new("keys", Quota::per_hour(100))
                .methods([Method::ApiKey])
                .by([KeyBy::ApiKey])
                .plan("trial", Quota::per_hour(3)),
        )
        .clock(clock.clone())
        .build()
        .unwrap();
    let server = in_process(app(auth(vec![record]), limits));
    let exchanged = hs256(&with(claims("svc"), json!({ "api_key_id": key_id })));
    spend(&server, 2, |call| call.bearer(&key)).await;
    spend(&server, 1, |call| call.bearer(&exchanged)).await;
    for credential in [&key, &exchanged] {
        let refused = server.get("/v1/users").bearer(credential).send().await;
        refused.assert_error(429, "rate_limit_exceeded");
        assert_eq!(
            refused.header("ratelimit-policy"),
            Some("\"keys/trial\";q=3;w=3600")
        );
    }
}

#[tokio::test]
async fn head_requests_follow_the_get_rules_of_their_route() {
    let clock = ManualClock::at(common::PAST);
    let jwt = hs256(&claims("alice"));
    let limits = RateLimits::new()
        .policy(Policy::new("hourly", Quota::per_hour(10)))
        .route(Route::new("GET /v1/users").cost(5))
        .clock(clock.clone())
        .build()
        .unwrap();
    let server = serve(app(auth(vec![]), limits)).await;
    let client = reqwest::Client::new();
    for _ in 0..2 {
        let reply = client
            .head(format!("{}/v1/users", server.base()))
            .bearer_auth(&jwt)
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status(), 200);
    }
    let refused = client
        .head(format!("{}/v1/users", server.base()))
        .bearer_auth(&jwt)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 429, "two HEADs of cost 5 spent the ten");
}

#[tokio::test]
async fn a_route_can_hold_a_policy_to_another_quota_in_a_bucket_of_its_own() {
    let clock = ManualClock::at(common::PAST);
    let jwt = hs256(&claims("alice"));
    let limits = RateLimits::new()
        .policy(Policy::per_method(Method::Jwt, Quota::per_hour(2000)))
        .route(Route::new("POST /v1/exports").replace("jwt", Quota::per_hour(2)))
        .success_headers(true)
        .clock(clock.clone())
        .build()
        .unwrap();
    let server = serve(app(auth(vec![]), limits)).await;
    for _ in 0..2 {
        let export = server.post("/v1/exports").bearer(&jwt).send().await;
        assert_eq!(export.status, 200, "{}", export.text);
        // Shown under the policy's name, with the route's quota.
        assert_eq!(
            export.header("ratelimit-policy"),
            Some("\"jwt\";q=2;w=3600")
        );
    }
    let refused = server.post("/v1/exports").bearer(&jwt).send().await;
    refused.assert_error(429, "rate_limit_exceeded");
    // The route's bucket is its own: the API's quota is untouched by the exports.
    let users = server.get("/v1/users").bearer(&jwt).send().await;
    assert_eq!(users.status, 200);
    assert_eq!(users.header("ratelimit"), Some("\"jwt\";r=1999;t=2"));

    let unknown = RateLimits::new()
        .policy(Policy::per_method(Method::Jwt, Quota::per_hour(2000)))
        .route(Route::new("/x").replace("oauth", Quota::per_hour(1)))
        .build()
        .unwrap_err();
    assert!(
        unknown.to_string().contains("no policy of the layer"),
        "{unknown}"
    );
}

// The auth layer's own limits (`AuthLayer::with_rate_limits`): the same answers as a
// `RateLimitLayer` inside it, in one step, whatever the credential and wherever it is counted.

/// Where the limits are checked.
#[derive(Clone, Copy, Debug)]
enum Checked {
    /// A `RateLimitLayer` of their own, inside the auth layer.
    OwnLayer,
    /// By the auth layer itself.
    ByAuth,
}

fn app_checked(auth: AuthLayer, limits: RateLimitLayer, checked: Checked) -> Router {
    let routes = Router::new()
        .route("/v1/users", get(|| async { "users" }))
        .route("/v1/exports", post(|| async { "export" }));
    match checked {
        Checked::OwnLayer => routes.route_layer(limits).route_layer(auth),
        Checked::ByAuth => routes.route_layer(auth.with_rate_limits(&limits)),
    }
}

/// What a client sees of a reply, for comparing two apps.
fn seen(reply: &common::Reply) -> Vec<Option<String>> {
    let mut seen = vec![Some(reply.status.to_string()), Some(reply.text.clone())];
    for name in [
        "ratelimit",
        "ratelimit-policy",
        "retry-after",
        "content-type",
    ] {
        seen.push(reply.header(name).map(str::to_owned));
    }
    seen
}

#[tokio::test]
async fn limits_checked_by_the_auth_layer_answer_as_a_limit_layer_inside_it() {
    let (key, record) = api_key();
    let jwt = hs256(&claims("alice"));
    // With success headers the limits take the path that reports each decision; without, the
    // one that only spends (and refunds when a later quota refuses).
    for success_headers in [true, false] {
        let mut answers = Vec::new();
        for checked in [Checked::OwnLayer, Checked::ByAuth] {
            let clock = ManualClock::at(common::PAST);
            let auth = AuthLayer::builder()
                .jwt(JwtValidator::hs256(HS256_SECRET, JwtOptions::new()).unwrap())
                .api_keys(MemoryKeyStore::from(vec![record.clone()]))
                .error_format(ErrorFormat::Problem)
                .build()
                .unwrap();
            let limits = RateLimits::new()
                .policy(Policy::new("api_keys", Quota::per_hour(2)).methods([Method::ApiKey]))
                .policy(Policy::new("jwt", Quota::per_hour(5)).methods([Method::Jwt]))
                .policy(Policy::new("jwt_burst", Quota::per_minute(3)).methods([Method::Jwt]))
                .route(Route::new("POST /v1/exports").cost(2))
                .success_headers(success_headers)
                .clock(clock.clone())
                .build()
                .unwrap();
            let server = serve(app_checked(auth, limits, checked)).await;
            let mut replies = Vec::new();
            for _ in 0..3 {
                replies.push(server.get("/v1/users").bearer(&key).send().await);
            }
            // An export costs 2: the second passes the hourly quota and is refused by the burst
            // one, and gets back what the hourly one took; so does the refused GET after it.
            // A minute later the burst is whole again and the hourly quota has the 2 the
            // refunds kept.
            let jwt_get = || server.get("/v1/users").bearer(&jwt).send();
            replies.push(server.post("/v1/exports").bearer(&jwt).send().await);
            replies.push(server.post("/v1/exports").bearer(&jwt).send().await);
            replies.push(jwt_get().await);
            replies.push(jwt_get().await);
            clock.advance(Duration::from_secs(60));
            for _ in 0..3 {
                replies.push(jwt_get().await);
            }
            replies.push(server.get("/v1/users").send().await);
            clock.advance(Duration::from_secs(1800));
            replies.push(server.get("/v1/users").bearer(&key).send().await);

            let context = format!("{checked:?}, success headers {success_headers}");
            let statuses: Vec<u16> = replies.iter().map(|reply| reply.status).collect();
            assert_eq!(
                statuses,
                [200, 200, 429, 200, 429, 200, 429, 200, 200, 429, 401, 200],
                "{context}"
            );
            let expected_policy = success_headers.then_some("\"api_keys\";q=2;w=3600");
            assert_eq!(
                replies[0].header("ratelimit-policy"),
                expected_policy,
                "{context}: fields on a passed request only when asked"
            );
            assert_eq!(
                replies[2].json()["code"],
                "rate_limit_exceeded",
                "{context}"
            );
            assert_eq!(replies[2].header("retry-after"), Some("1800"), "{context}");
            assert!(replies[2].header("ratelimit-policy").is_some(), "{context}");
            assert_eq!(
                replies[4]
                    .header("ratelimit-policy")
                    .map(|policy| policy.starts_with("\"jwt_burst\"")),
                Some(true),
                "{context}: the export is refused by the burst quota"
            );
            assert_eq!(
                replies[10].json()["code"],
                "missing_credentials",
                "{context}"
            );
            answers.push(replies.iter().map(seen).collect::<Vec<_>>());
        }
        assert_eq!(answers[0], answers[1], "success headers {success_headers}");
    }
}

#[tokio::test]
async fn an_auth_layer_checks_its_limits_through_a_backend_after_an_awaited_lookup_or_at_once() {
    let (key, record) = api_key();
    let jwt = hs256(&claims("alice"));
    let backend = Arc::new(FlakyBackend::default());
    let limits = RateLimits::new()
        .policy(Policy::new("hourly", Quota::per_hour(2)))
        .backend(Arc::clone(&backend))
        .on_backend_failure(OnBackendFailure::Refuse)
        .clock(ManualClock::at(common::PAST))
        .build()
        .unwrap();
    // Keys from a store that does I/O (the lookup is awaited, then the backend); JWTs checked
    // at once (then the backend).
    let auth = AuthLayer::builder()
        .jwt(JwtValidator::hs256(HS256_SECRET, JwtOptions::new()).unwrap())
        .api_keys(SlowStore(MemoryKeyStore::from(vec![record.clone()])))
        .build()
        .unwrap()
        .with_rate_limits(&limits);
    let server = in_process(
        Router::new()
            .route("/v1/users", get(|| async { "users" }))
            .route_layer(auth),
    );
    for credential in [&key, &jwt] {
        spend(&server, 2, |call| call.bearer(credential)).await;
        server
            .get("/v1/users")
            .bearer(credential)
            .send()
            .await
            .assert_error(429, "rate_limit_exceeded");
    }
    assert_eq!(
        backend.calls.load(Ordering::SeqCst),
        6,
        "each request asked the backend"
    );
    let mut counted: Vec<String> = backend.spent.lock().unwrap().keys().cloned().collect();
    counted.sort();
    let mut expected = vec![
        format!("hourly|p={}", record.principal()),
        "hourly|p=alice".to_owned(),
    ];
    expected.sort();
    assert_eq!(counted, expected);
    // The backend down: refused with 503 as configured, then served again once it is back.
    backend.down.store(true, Ordering::SeqCst);
    for credential in [&key, &jwt] {
        server
            .get("/v1/users")
            .bearer(credential)
            .send()
            .await
            .assert_error(503, "rate_limit_unavailable");
    }
    backend.down.store(false, Ordering::SeqCst);
    backend.spent.lock().unwrap().clear();
    for credential in [&key, &jwt] {
        spend(&server, 1, |call| call.bearer(credential)).await;
    }
}

#[tokio::test]
async fn a_backends_answer_reaches_the_client_in_the_auth_layers_format_with_its_fields() {
    let jwt = hs256(&claims("alice"));
    let backend = Arc::new(FlakyBackend::default());
    let limits = RateLimits::new()
        .policy(Policy::new("hourly", Quota::per_hour(1)))
        .backend(Arc::clone(&backend))
        .on_backend_failure(OnBackendFailure::Refuse)
        .success_headers(true)
        .clock(ManualClock::at(common::PAST))
        .build()
        .unwrap();
    let auth = AuthLayer::builder()
        .jwt(JwtValidator::hs256(HS256_SECRET, JwtOptions::new()).unwrap())
        .error_format(ErrorFormat::Problem)
        .build()
        .unwrap()
        .with_rate_limits(&limits);
    let server = in_process(
        Router::new()
            .route("/v1/users", get(|| async { "users" }))
            .route_layer(auth),
    );
    let passed = server.get("/v1/users").bearer(&jwt).send().await;
    assert_eq!(passed.status, 200, "{}", passed.text);
    assert_eq!(
        passed.header("ratelimit-policy"),
        Some("\"hourly\";q=1;w=3600")
    );
    assert!(passed.header("ratelimit").is_some(), "the backend's fields");
    for (down, status, code) in [
        (false, 429, "rate_limit_exceeded"),
        (true, 503, "rate_limit_unavailable"),
    ] {
        backend.down.store(down, Ordering::SeqCst);
        let refused = server.get("/v1/users").bearer(&jwt).send().await;
        assert_eq!(refused.status, status);
        assert_eq!(
            refused.header("content-type"),
            Some("application/problem+json"),
            "refused by the backend in the layer's format"
        );
        assert_eq!(refused.json()["code"], code);
    }
}
