//! Per-request cost of `Router::layer(AuthLayer)`, next to what it is made of.
//!
//! For each JWT algorithm (`hs256`, `rs256`, `es256`, `eddsa`), one criterion group with four
//! functions measured in the same run:
//!
//! * `bare_router`: the same request (same headers) through `Router::new().route(..)` with a
//!   trivial handler and no auth layer: the routing, request and response floor;
//! * `raw_decode`: `jsonwebtoken::decode::<BenchClaims>` of the same token with an equivalent
//!   `Validation` (algorithm, `iss`, `aud`, required `exp` and `sub`);
//! * `through_layer_cold`: the request through `Router::layer(AuthLayer)` with the verified-token
//!   cache disabled (`TokenCacheConfig::disabled()`), to a handler that extracts `Identity`: every
//!   request has its signature and claims verified;
//! * `through_layer_cached`: the same with the default cache, warmed with one request before the
//!   measurement; the same token is sent every iteration, so every measured request is a hit.
//!
//! `through_layer_cold - bare_router` is what full verification costs a request,
//! `through_layer_cached - bare_router` what a cache hit costs; `through_layer_cold - bare_router -
//! raw_decode` is the layer's cost beyond a plain `jsonwebtoken::decode`.
//!
//! The `hs256_typed` group has `bare_router` and `through_layer_cold` for HS256 with typed claims
//! (`JwtOptions::claims::<BenchClaims>()`): next to `hs256/through_layer_cold`, what decoding the
//! app's claims type (a pass of its own after the registered claims) adds.
//!
//! The `api_key` group has `bare_router`, `raw_check` (parse + checksum, `MemoryKeyStore::get`,
//! keyed BLAKE3 hash, constant-time compare), `through_layer` (in-memory provider) and `noop_layer`,
//! a control measured once: the bare route behind `Router::layer(MapRequestLayer(identity))`, what
//! axum charges any `Router::layer` (one more boxed route service and future), auth or not.
//!
//! Each request is built inside the measured iteration, the same way for every router variant, and
//! sent with `oneshot` on a clone of the router, on a current-thread tokio runtime. Every router is
//! prepared as `axum::serve` prepares it (`common::prepared`), so no variant pays for rebuilding
//! its routes per request.
//!
//! The former `jwt_verify` group (jsonwebtoken's `crypto::verify`, which builds a verifier per call,
//! against a verifier built once) is gone: with aws-lc-rs the validator now verifies with keys
//! prepared once (`src/jwt/verifier.rs`), which `through_layer_cold` measures directly.
//!
//! `cargo bench --bench layer -- --noplot`

mod common;

use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};

use common::{
    ApiKeyCase, JwtCase, api_key_case, bare_router, jwt_cases, noop_layer_router,
    raw_api_key_check, raw_decode, runtime, sanity_check, send, typed_claims_case, warm_cache,
};

fn jwt_groups(c: &mut Criterion, rt: &tokio::runtime::Runtime, cases: &[JwtCase]) {
    let bare = bare_router();
    for case in cases {
        let mut group = c.benchmark_group(case.name);
        group.bench_function("bare_router", |b| {
            b.to_async(rt).iter(|| send(&bare, &case.headers));
        });
        group.bench_function("raw_decode", |b| b.iter(|| raw_decode(case)));
        group.bench_function("through_layer_cold", |b| {
            b.to_async(rt).iter(|| send(&case.cold, &case.headers));
        });
        // Criterion's warm-up would fill the cache too; warming explicitly keeps the claim that
        // every measured request is a hit independent of it.
        rt.block_on(warm_cache(case));
        group.bench_function("through_layer_cached", |b| {
            b.to_async(rt).iter(|| send(&case.cached, &case.headers));
        });
        group.finish();
    }
}

fn typed_claims_group(c: &mut Criterion, rt: &tokio::runtime::Runtime, case: &JwtCase) {
    let bare = bare_router();
    let mut group = c.benchmark_group(case.name);
    group.bench_function("bare_router", |b| {
        b.to_async(rt).iter(|| send(&bare, &case.headers));
    });
    group.bench_function("through_layer_cold", |b| {
        b.to_async(rt).iter(|| send(&case.cold, &case.headers));
    });
    group.finish();
}

fn api_key_group(c: &mut Criterion, rt: &tokio::runtime::Runtime, case: &ApiKeyCase) {
    let bare = bare_router();
    let noop = noop_layer_router();
    let mut group = c.benchmark_group("api_key");
    group.bench_function("bare_router", |b| {
        b.to_async(rt).iter(|| send(&bare, &case.headers));
    });
    group.bench_function("noop_layer", |b| {
        b.to_async(rt).iter(|| send(&noop, &case.headers));
    });
    group.bench_function("raw_check", |b| b.iter(|| raw_api_key_check(case)));
    group.bench_function("through_layer", |b| {
        b.to_async(rt).iter(|| send(&case.layered, &case.headers));
    });
    group.finish();
}

fn benches(c: &mut Criterion) {
    let rt = runtime();
    let cases = jwt_cases();
    let api_key = api_key_case();
    let typed = typed_claims_case();
    rt.block_on(sanity_check(&cases, &api_key));
    rt.block_on(sanity_check(std::slice::from_ref(&typed), &api_key));
    jwt_groups(c, &rt, &cases);
    typed_claims_group(c, &rt, &typed);
    api_key_group(c, &rt, &api_key);
}

criterion_group! {
    name = layer;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(50);
    targets = benches
}
criterion_main!(layer);
