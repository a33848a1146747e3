//! Heap allocations per request: bare router, raw decode, and through `Router::layer(AuthLayer)`
//! with the verified-token cache off (`cold`: every request verified in full) and on (`cached`:
//! every measured request a hit), for HS256, RS256, ES256, EdDSA JWTs, and an in-memory API key.
//! The fixtures (tokens, routers, requests) are those of the `layer` bench.
//!
//! A counting `#[global_allocator]` wraps `System`; each variant is warmed up (which also fills the
//! cache of the cached router), then run `N` times, and the average number of `alloc` calls (and
//! `realloc` calls and bytes requested) per request is printed. `cold - bare` and `cached - bare`
//! are what authentication adds to a request; `cold - bare - raw` is what the layer allocates
//! beyond the bare `jsonwebtoken::decode` it is compared with. `noop_layer` is a control (the bare
//! route behind a do-nothing `MapRequestLayer`): what axum charges any `Router::layer`.
//! Allocations made inside C code (aws-lc's own `malloc`) do not go through the Rust allocator and
//! are not counted.
//!
//! `cargo bench --bench allocations`

// A `GlobalAlloc` impl needs `unsafe`; the library itself stays `#![forbid(unsafe_code)]`.
#![allow(unsafe_code)]

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::future::Future;
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use axum::Router;
use axum::body::Body;
use http::{HeaderName, HeaderValue, Request, Response, StatusCode};
use tower::{Layer, ServiceExt, service_fn};
use tower_api_auth::jwt::JwtOptions;
use tower_api_auth::{
    AuthLayer, AuthMethod, Identity, JwtValidator, Tenant, jwt::TokenCacheConfig, scope::Scopes,
};

use common::{
    AUDIENCE, HMAC_SECRET, ISSUER, JwtCase, SCOPES, TENANT, api_key_case, bare_router, jwt_cases,
    noop_layer_router, raw_api_key_check, raw_decode, request, runtime, sanity_check, send,
};

static ALLOCS: AtomicUsize = AtomicUsize::new(0);
static REALLOCS: AtomicUsize = AtomicUsize::new(0);
static BYTES: AtomicUsize = AtomicUsize::new(0);

/// `System`, counting calls.
struct Counting;

// SAFETY: every method forwards to `System` with the caller's arguments unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Relaxed);
        BYTES.fetch_add(layout.size(), Relaxed);
        // SAFETY: forwarded as is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Relaxed);
        BYTES.fetch_add(layout.size(), Relaxed);
        // SAFETY: forwarded as is.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        REALLOCS.fetch_add(1, Relaxed);
        BYTES.fetch_add(new_size.saturating_sub(layout.size()), Relaxed);
        // SAFETY: forwarded as is.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded as is.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const WARM_UP: usize = 200;
const N: usize = 1000;

/// Average per request.
#[derive(Clone, Copy, Default)]
struct Count {
    allocs: f64,
    reallocs: f64,
    bytes: f64,
}

impl std::ops::Sub for Count {
    type Output = Count;
    fn sub(self, rhs: Count) -> Count {
        Count {
            allocs: self.allocs - rhs.allocs,
            reallocs: self.reallocs - rhs.reallocs,
            bytes: self.bytes - rhs.bytes,
        }
    }
}

fn snapshot() -> [usize; 3] {
    [
        ALLOCS.load(Relaxed),
        REALLOCS.load(Relaxed),
        BYTES.load(Relaxed),
    ]
}

fn average(before: [usize; 3], after: [usize; 3]) -> Count {
    let per = |i: usize| (after[i] - before[i]) as f64 / N as f64;
    Count {
        allocs: per(0),
        reallocs: per(1),
        bytes: per(2),
    }
}

fn count_sync<T>(mut f: impl FnMut() -> T) -> Count {
    for _ in 0..WARM_UP {
        black_box(f());
    }
    let before = snapshot();
    for _ in 0..N {
        black_box(f());
    }
    average(before, snapshot())
}

/// Runs all `N` requests inside one `block_on`, so the runtime's own entry cost is not counted.
fn count_async<F: Future>(rt: &tokio::runtime::Runtime, mut f: impl FnMut() -> F) -> Count {
    rt.block_on(async {
        for _ in 0..WARM_UP {
            black_box(f().await);
        }
        let before = snapshot();
        for _ in 0..N {
            black_box(f().await);
        }
        average(before, snapshot())
    })
}

fn row(label: &str, c: Count) {
    println!(
        "{label:<44} {:>9.2} {:>9.2} {:>10.1}",
        c.allocs, c.reallocs, c.bytes
    );
}

fn header(title: &str) {
    println!();
    println!("{title}");
    println!(
        "{:<44} {:>9} {:>9} {:>10}",
        "variant", "allocs", "reallocs", "bytes"
    );
    println!("{}", "-".repeat(75));
}

/// One line of the summary: a variant, its allocations per request, and the bare router's for the
/// same request (`None` for calls that are not requests: raw decode and check).
struct Summary {
    label: String,
    count: Count,
    bare: Option<Count>,
}

impl Summary {
    fn new(label: impl Into<String>, count: Count, bare: Option<Count>) -> Self {
        Self {
            label: label.into(),
            count,
            bare,
        }
    }
}

fn jwt_table(rt: &tokio::runtime::Runtime, cases: &[JwtCase]) -> Vec<Summary> {
    let bare = bare_router();
    let mut summary = Vec::new();
    for case in cases {
        header(&format!("{} (per request, average of {N})", case.name));
        let bare_count = count_async(rt, || send(&bare, &case.headers));
        let raw = count_sync(|| raw_decode(case));
        let cold = count_async(rt, || send(&case.cold, &case.headers));
        // The warm-up requests fill the cache: every counted request is a hit.
        let cached = count_async(rt, || send(&case.cached, &case.headers));
        row("bare_router", bare_count);
        row("raw_decode (jsonwebtoken::decode)", raw);
        row("through_layer_cold (cache off)", cold);
        row("through_layer_cached (cache hit)", cached);
        row("cold - bare", cold - bare_count);
        row("cached - bare", cached - bare_count);
        row("cold - bare - raw", cold - bare_count - raw);
        row("cold - cached (verification only)", cold - cached);
        summary.push(Summary::new(
            format!("{}: bare_router", case.name),
            bare_count,
            None,
        ));
        summary.push(Summary::new(
            format!("{}: cold (cache off)", case.name),
            cold,
            Some(bare_count),
        ));
        summary.push(Summary::new(
            format!("{}: cached (cache hit)", case.name),
            cached,
            Some(bare_count),
        ));
        summary.push(Summary::new(
            format!("{}: raw_decode", case.name),
            raw,
            None,
        ));
    }
    summary
}

/// The layer around a plain `service_fn` (no axum routing, no extractor): what the crate itself
/// allocates per request, together with `jsonwebtoken::crypto::verify`.
async fn plain_service(
    layer: Option<&AuthLayer>,
    headers: &[(HeaderName, HeaderValue)],
) -> StatusCode {
    let inner = service_fn(|_req: Request<Body>| async {
        Ok::<_, std::convert::Infallible>(Response::new(Body::empty()))
    });
    let result = match layer {
        // Only the status is kept, so neither branch re-boxes its response body.
        Some(layer) => layer
            .layer(inner)
            .oneshot(request(headers))
            .await
            .map(|r| r.status()),
        None => inner.oneshot(request(headers)).await.map(|r| r.status()),
    };
    match result {
        Ok(response) => response,
        Err(infallible) => match infallible {},
    }
}

fn experiments(rt: &tokio::runtime::Runtime, cases: &[JwtCase]) {
    header("attribution experiments (per call)");
    let hs256 = &cases[0];
    let options = JwtOptions::new().issuer(ISSUER).audience(AUDIENCE);
    let validator = JwtValidator::hs256(HMAC_SECRET, options.clone()).expect("hs256 key");
    let cold = AuthLayer::builder()
        .jwt(
            JwtValidator::hs256(
                HMAC_SECRET,
                options.token_cache(TokenCacheConfig::disabled()),
            )
            .expect("hs256 key"),
        )
        .build()
        .unwrap();
    let cached = AuthLayer::builder().jwt(validator).build().unwrap();
    for layer in [&cold, &cached] {
        let status = rt.block_on(plain_service(Some(layer), &hs256.headers));
        assert_eq!(
            status,
            StatusCode::OK,
            "hs256 through the layer around service_fn"
        );
    }
    let plain = count_async(rt, || plain_service(None, &hs256.headers));
    let cold_count = count_async(rt, || plain_service(Some(&cold), &hs256.headers));
    let cached_count = count_async(rt, || plain_service(Some(&cached), &hs256.headers));
    row("service_fn, no layer (hs256 request)", plain);
    row("AuthLayer (cache off) around service_fn", cold_count);
    row(
        "  difference: the crate, full verification",
        cold_count - plain,
    );
    row("AuthLayer (cache hit) around service_fn", cached_count);
    row("  difference: the crate, cache hit", cached_count - plain);
    #[cfg(feature = "rate-limit")]
    {
        use tower_api_auth::rate_limit::{Policy, Quota, RateLimits};
        let limits = RateLimits::new()
            .policy(Policy::new("bench", Quota::per_second(u32::MAX)))
            .build()
            .expect("limits");
        let limited = count_async(rt, || async {
            let inner = service_fn(|_req: Request<Body>| async {
                Ok::<_, std::convert::Infallible>(Response::new(Body::empty()))
            });
            let service = cached.layer(limits.layer(inner));
            match service.oneshot(request(&hs256.headers)).await {
                Ok(response) => {
                    assert_eq!(response.status(), StatusCode::OK);
                    response.status()
                }
                Err(infallible) => match infallible {},
            }
        });
        row("AuthLayer (cache hit) + RateLimitLayer", limited);
        row("  difference: the rate limiter", limited - cached_count);
        let with_limits = cached.with_rate_limits(&limits);
        let checked = count_async(rt, || async {
            let inner = service_fn(|_req: Request<Body>| async {
                Ok::<_, std::convert::Infallible>(Response::new(Body::empty()))
            });
            match with_limits
                .layer(inner)
                .oneshot(request(&hs256.headers))
                .await
            {
                Ok(response) => {
                    assert_eq!(response.status(), StatusCode::OK);
                    response.status()
                }
                Err(infallible) => match infallible {},
            }
        });
        row("AuthLayer (cache hit) with_rate_limits", checked);
        row(
            "  difference: the layer's own limits",
            checked - cached_count,
        );
    }

    row(
        "Scopes::parse(2 scopes)",
        count_sync(|| Scopes::parse(black_box(SCOPES))),
    );
    row("Scopes::empty()", count_sync(Scopes::empty));
    row("Tenant::new", count_sync(|| Tenant::new(black_box(TENANT))));
    let scopes = Scopes::parse(SCOPES).expect("scopes");
    let tenant = Tenant::new(TENANT).expect("tenant");
    row(
        "Identity::builder(&str).build()",
        count_sync(|| {
            Identity::builder(black_box("user_42"), AuthMethod::Jwt)
                .scopes(scopes.clone())
                .tenant(tenant.clone())
                .expires_at(1)
                .build()
        }),
    );
    row(
        "Extensions::insert(Identity) on a fresh request",
        count_sync(|| {
            let mut req = Request::new(());
            req.extensions_mut().insert(
                Identity::builder("user_42", AuthMethod::Jwt)
                    .scopes(scopes.clone())
                    .build(),
            );
            req
        }),
    );
    let router: Router = bare_router();
    row("Router::clone", count_sync(|| black_box(&router).clone()));
}

fn main() {
    let rt = runtime();
    let cases = jwt_cases();
    let api_key = api_key_case();
    rt.block_on(sanity_check(&cases, &api_key));

    let mut summary = jwt_table(&rt, &cases);

    header(&format!("api_key (per request, average of {N})"));
    let bare = bare_router();
    let noop = noop_layer_router();
    let bare_count = count_async(&rt, || send(&bare, &api_key.headers));
    let noop_count = count_async(&rt, || send(&noop, &api_key.headers));
    let raw = count_sync(|| raw_api_key_check(&api_key));
    let through = count_async(&rt, || send(&api_key.layered, &api_key.headers));
    row("bare_router", bare_count);
    row("noop_layer (control)", noop_count);
    row("raw_check (parse, get, hash, compare)", raw);
    row("through_layer", through);
    row("through - bare", through - bare_count);
    row("through - bare - raw", through - bare_count - raw);
    row(
        "noop_layer - bare (any Router::layer)",
        noop_count - bare_count,
    );
    summary.push(Summary::new("api_key: bare_router", bare_count, None));
    summary.push(Summary::new(
        "api_key: through_layer",
        through,
        Some(bare_count),
    ));
    summary.push(Summary::new("api_key: raw_check", raw, None));

    experiments(&rt, &cases);

    println!();
    println!("summary: heap allocations per request (average of {N})");
    println!(
        "{:<30} {:>8} {:>9} {:>13} {:>13}",
        "variant", "allocs", "bytes", "allocs-bare", "bytes-bare"
    );
    println!("{}", "-".repeat(77));
    for s in summary {
        let (extra_allocs, extra_bytes) = match s.bare {
            Some(bare) => {
                let d = s.count - bare;
                (format!("{:+.2}", d.allocs), format!("{:+.1}", d.bytes))
            }
            None => ("".to_owned(), "".to_owned()),
        };
        println!(
            "{:<30} {:>8.2} {:>9.1} {:>13} {:>13}",
            s.label, s.count.allocs, s.count.bytes, extra_allocs, extra_bytes
        );
    }
}
