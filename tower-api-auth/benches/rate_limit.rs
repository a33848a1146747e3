//! What the rate limiter adds to an authenticated request, counted in memory (issue 18's budget:
//! at most 100 ns and no allocation on top of the authenticated path).
//!
//! The `rate_limit` group: `hs256_cached` is an HS256 JWT (a token-cache hit) through the
//! `AuthLayer` around a `service_fn`; `hs256_cached_limited` is the same layer checking one
//! per-principal policy itself (`AuthLayer::with_rate_limits`; a quota so large that no request is
//! refused, so every measured request takes the pass path); `hs256_cached_limit_layer` is the same
//! policy in a `RateLimitLayer` of its own inside the auth layer. Each difference to
//! `hs256_cached` is the limiter's cost. `acquire` is `LocalLimiter::acquire` alone for one key. `cargo bench --bench rate_limit`; for instruction
//! counts, run one function under callgrind (see the README's "Benchmarks").
//!
//! Allocations per request are counted by the `allocations` bench (its `rate limit` rows).

mod common;

use std::hint::black_box;
use std::sync::Arc;

use axum::body::Body;
use criterion::{Criterion, criterion_group, criterion_main};
use http::{Request, Response, StatusCode};
use tower::{Layer, ServiceExt, service_fn};
use tower_api_auth::jwt::JwtOptions;
use tower_api_auth::rate_limit::{
    KeyPart, LimitKey, LocalLimiter, Policy, Quota, RateLimitLayer, RateLimits,
};
use tower_api_auth::{AuthLayer, JwtValidator};

use common::{AUDIENCE, HMAC_SECRET, ISSUER, jwt_cases, request, runtime};

/// A quota no benchmark run exhausts.
fn unlimited() -> Quota {
    Quota::per_second(u32::MAX)
}

pub(crate) fn limits() -> RateLimitLayer {
    RateLimits::new()
        .policy(Policy::new("bench", unlimited()))
        .build()
        .expect("limits")
}

/// Where the limits are checked: nowhere, by the auth layer itself, or by a layer of their own.
#[derive(Clone, Copy)]
enum Limited<'a> {
    No,
    ByAuth,
    OwnLayer(&'a RateLimitLayer),
}

async fn through(
    auth: &AuthLayer,
    limits: Limited<'_>,
    headers: &[(http::HeaderName, http::HeaderValue)],
) -> StatusCode {
    let inner = service_fn(|_req: Request<Body>| async {
        Ok::<_, std::convert::Infallible>(Response::new(Body::empty()))
    });
    let result = match limits {
        Limited::OwnLayer(limits) => auth
            .layer(limits.layer(inner))
            .oneshot(request(headers))
            .await
            .map(|r| r.status()),
        // `auth` is the limited layer itself here.
        Limited::No | Limited::ByAuth => auth
            .layer(inner)
            .oneshot(request(headers))
            .await
            .map(|r| r.status()),
    };
    match result {
        Ok(status) => status,
        Err(infallible) => match infallible {},
    }
}

fn benches(c: &mut Criterion) {
    let rt = runtime();
    let cases = jwt_cases();
    let hs256 = cases
        .iter()
        .find(|case| case.name == "hs256")
        .expect("hs256 case");
    let options = JwtOptions::new().issuer(ISSUER).audience(AUDIENCE);
    let validator = JwtValidator::hs256(HMAC_SECRET, options).expect("hs256 key");
    let auth = AuthLayer::builder().jwt(validator).build().expect("layer");
    let limits = limits();
    let limited = auth.with_rate_limits(&limits);
    let layers = [
        ("hs256_cached", &auth, Limited::No),
        ("hs256_cached_limited", &limited, Limited::ByAuth),
        (
            "hs256_cached_limit_layer",
            &auth,
            Limited::OwnLayer(&limits),
        ),
    ];
    for (_, auth, limits) in layers {
        assert_eq!(
            rt.block_on(through(auth, limits, &hs256.headers)),
            StatusCode::OK
        );
    }
    let mut group = c.benchmark_group("rate_limit");
    for (name, auth, limits) in layers {
        group.bench_function(name, |b| {
            b.to_async(&rt)
                .iter(|| through(auth, limits, &hs256.headers));
        });
    }
    let limiter = LocalLimiter::new(unlimited(), tower_api_auth::clock::system());
    let key = LimitKey::new("bench", [KeyPart::Principal(Arc::from("user_42"))]);
    group.bench_function("acquire", |b| {
        b.iter(|| limiter.acquire(black_box(&key), 1));
    });
    group.finish();
}

criterion_group! {
    name = rate_limit;
    config = Criterion::default();
    targets = benches
}
criterion_main!(rate_limit);
