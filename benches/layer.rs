//! Per-request cost of `Router::layer(AuthLayer)`, next to what it is made of.
//!
//! For each credential kind, one criterion group with three functions measured in the same run:
//!
//! * `bare_router`: the same request (same headers) through `Router::new().route(..)` with a
//!   trivial handler and no auth layer: the routing, request and response floor;
//! * `raw_decode` (JWTs): `jsonwebtoken::decode::<BenchClaims>` of the same token with an
//!   equivalent `Validation` (algorithm, `iss`, `aud`, required `exp` and `sub`), or `raw_check`
//!   (API key): parse + checksum, `MemoryKeyProvider::get`, keyed BLAKE3 hash, constant-time compare;
//! * `noop_layer` (control): the bare route behind `Router::layer(MapRequestLayer(identity))`, what
//!   any axum `Router::layer` costs (one more boxed route service and future);
//! * `through_layer`: the request through `Router::layer(AuthLayer)`, to a handler that extracts
//!   `Identity`.
//!
//! The layer's own cost is `through_layer - bare_router - raw_decode`; `through_layer - noop_layer -
//! raw_decode` leaves out what axum charges any layer. Each request is built inside
//! the measured iteration, the same way for every router variant, and sent with `oneshot` on a
//! clone of the router, on a current-thread tokio runtime.
//!
//! The `jwt_verify` group is an experiment on the signature check alone: jsonwebtoken's
//! `crypto::verify` (what the validator calls; it builds and boxes a verifier per call) against a
//! verifier built once per key.
//!
//! `cargo bench --bench layer -- --noplot`

mod common;

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};

use common::{
    ApiKeyCase, JwtCase, api_key_case, bare_router, cached_verifier, jwt_cases, noop_layer_router,
    raw_api_key_check, raw_decode, runtime, sanity_check, send, verify_cached, verify_per_call,
};

fn jwt_groups(c: &mut Criterion, rt: &tokio::runtime::Runtime, cases: &[JwtCase]) {
    let bare = bare_router();
    let noop = noop_layer_router();
    for case in cases {
        let mut group = c.benchmark_group(case.name);
        group.bench_function("bare_router", |b| {
            b.to_async(rt).iter(|| send(&bare, &case.headers));
        });
        group.bench_function("noop_layer", |b| {
            b.to_async(rt).iter(|| send(&noop, &case.headers));
        });
        group.bench_function("raw_decode", |b| b.iter(|| raw_decode(case)));
        group.bench_function("through_layer", |b| {
            b.to_async(rt).iter(|| send(&case.layered, &case.headers));
        });
        group.finish();
    }
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

fn verify_group(c: &mut Criterion, cases: &[JwtCase]) {
    let mut group = c.benchmark_group("jwt_verify");
    for case in cases {
        group.bench_function(format!("{}/crypto_verify_per_call", case.name), |b| {
            b.iter(|| verify_per_call(case));
        });
        let verifier = cached_verifier(case);
        group.bench_function(format!("{}/cached_verifier", case.name), |b| {
            b.iter(|| verify_cached(black_box(&*verifier), case));
        });
    }
    group.finish();
}

fn benches(c: &mut Criterion) {
    let rt = runtime();
    let cases = jwt_cases();
    let api_key = api_key_case();
    rt.block_on(sanity_check(&cases, &api_key));
    jwt_groups(c, &rt, &cases);
    api_key_group(c, &rt, &api_key);
    verify_group(c, &cases);
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
