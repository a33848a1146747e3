//! `compare`: tower-api-auth against its peers, request by request, in process.
//!
//! Every contender is an axum 0.8 `Router` with one route (`GET /v1/me`), built, then prepared with
//! `.with_state(())` once (as `axum::serve` does), and driven with `router.clone().oneshot(request)`
//! on a current-thread tokio runtime. Every request is built inside the measured loop the same way
//! (`GET /v1/me` plus the contender's credential headers; with `REALISTIC=1` five typical headers
//! more). The baselines are the same route with no layer, sent the same headers: `bare` (an
//! `Authorization: Bearer <jwt>` header) and `bare_apikey` (`X-API-Key` and `X-Tenant-ID`).
//!
//! Subcommands:
//! * `compare list`: the contenders' names, one a line (baselines first).
//! * `compare check`: the sanity checks of every contender (200 with the credential, 401 without,
//!   and the refusals listed in [`Contender::refused`]); fails loudly.
//! * `compare run <contender> <n>`: sanity check, then `n` requests, then exit (for callgrind).
//! * `compare allocs`: allocations per request of every contender (a counting global allocator;
//!   average over 1000 requests after 200 warm-up ones, inside one `block_on`), as TSV.
//! * `compare time`: nanoseconds per request of every contender (median of 7 rounds of ~300 ms
//!   after ~300 ms of warm-up), as TSV.
//! * `compare table <dir>`: reads `ir.tsv`, `allocs.tsv` and `time.tsv` from `dir` and prints the
//!   markdown table.
//!
//! See README.md for what each contender is and what is not equivalent between them.

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::HashMap;
use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Body;
use axum::extract::{Extension, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::header::AUTHORIZATION;
use http::{HeaderName, HeaderValue, Request, StatusCode, Uri};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
use tower::{ServiceBuilder, ServiceExt};
use tower_api_auth::api_key::{ApiKeyFormat, ApiKeyHasher, ApiKeys, CachedKeyProvider};
use tower_api_auth::jwt::{JwtOptions, TokenCacheConfig};
use tower_api_auth::rate_limit::{Policy, Quota, RateLimits};
use tower_api_auth::scope::Scopes;
use tower_api_auth::{AuthLayer, Identity, JwtValidator, MemoryKeyStore, Tenant};

// ---------------------------------------------------------------------------------------------
// Counting allocator
// ---------------------------------------------------------------------------------------------

static ALLOCS: AtomicUsize = AtomicUsize::new(0);
static REALLOCS: AtomicUsize = AtomicUsize::new(0);

/// `System`, counting calls (one relaxed atomic add per call, in every subcommand).
struct Counting;

// SAFETY: every method forwards to `System` with the caller's arguments unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Relaxed);
        // SAFETY: forwarded as is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Relaxed);
        // SAFETY: forwarded as is.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        REALLOCS.fetch_add(1, Relaxed);
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

// ---------------------------------------------------------------------------------------------
// Fixtures (as in tower-api-auth/benches/common/mod.rs)
// ---------------------------------------------------------------------------------------------

const PATH: &str = "/v1/me";
const ISSUER: &str = "https://auth.example.test";
const AUDIENCE: &str = "api";
const TENANT: &str = "tn_demo";
const SCOPES: &str = "conversations:read messages:read";
/// 40 bytes: HS256 needs at least 32.
const HMAC_SECRET: &str = "bench-secret-bench-secret-bench-secret!!";

const RSA_PRIVATE: &[u8] = include_bytes!("../../../../testdata/keys/rsa_private.pem");
const RSA_PUBLIC: &[u8] = include_bytes!("../../../../testdata/keys/rsa_public.pem");
const EC256_PRIVATE: &[u8] = include_bytes!("../../../../testdata/keys/ec256_private.pem");
const EC256_PUBLIC: &[u8] = include_bytes!("../../../../testdata/keys/ec256_public.pem");

/// The claims of every token; what jwt-authorizer deserializes into (`sub: String`, so a token
/// without `sub` is refused there too).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct BenchClaims {
    sub: String,
    iss: String,
    aud: String,
    exp: u64,
    iat: u64,
    scope: String,
    tenant_id: String,
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

fn claims() -> BenchClaims {
    let iat = now();
    BenchClaims {
        sub: "user_42".to_owned(),
        iss: ISSUER.to_owned(),
        aud: AUDIENCE.to_owned(),
        exp: iat + 24 * 3600,
        iat,
        scope: SCOPES.to_owned(),
        tenant_id: TENANT.to_owned(),
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Alg {
    Hs256,
    Rs256,
    Es256,
}

impl Alg {
    fn algorithm(self) -> Algorithm {
        match self {
            Alg::Hs256 => Algorithm::HS256,
            Alg::Rs256 => Algorithm::RS256,
            Alg::Es256 => Algorithm::ES256,
        }
    }

    fn encoding_key(self) -> EncodingKey {
        match self {
            Alg::Hs256 => EncodingKey::from_secret(HMAC_SECRET.as_bytes()),
            Alg::Rs256 => EncodingKey::from_rsa_pem(RSA_PRIVATE).expect("rsa private key"),
            Alg::Es256 => EncodingKey::from_ec_pem(EC256_PRIVATE).expect("ec private key"),
        }
    }
}

/// The claims of a token without `sub`, which every JWT contender must refuse.
#[derive(Serialize)]
struct NoSubject {
    iss: &'static str,
    aud: &'static str,
    exp: u64,
    iat: u64,
}

fn token_without_sub(alg: Alg) -> String {
    tower_api_auth::crypto::ensure_provider();
    let iat = now();
    let claims = NoSubject {
        iss: ISSUER,
        aud: AUDIENCE,
        exp: iat + 3600,
        iat,
    };
    jsonwebtoken::encode(&Header::new(alg.algorithm()), &claims, &alg.encoding_key())
        .expect("sign the benchmark token")
}

/// A token signed with `alg`'s key, its claims edited by `edit`.
fn token(alg: Alg, edit: impl FnOnce(&mut BenchClaims)) -> String {
    tower_api_auth::crypto::ensure_provider();
    let mut claims = claims();
    edit(&mut claims);
    jsonwebtoken::encode(&Header::new(alg.algorithm()), &claims, &alg.encoding_key())
        .expect("sign the benchmark token")
}

type Headers = Vec<(HeaderName, HeaderValue)>;

fn bearer(token: &str) -> Headers {
    vec![(
        AUTHORIZATION,
        HeaderValue::from_str(&format!("Bearer {token}")).expect("header value"),
    )]
}

fn api_key_headers(key: &str, tenant: &str) -> Headers {
    vec![
        (
            HeaderName::from_static("x-api-key"),
            HeaderValue::from_str(key).expect("header value"),
        ),
        (
            HeaderName::from_static("x-tenant-id"),
            HeaderValue::from_str(tenant).expect("header value"),
        ),
    ]
}

/// The five headers `REALISTIC=1` adds to every request (bare included).
fn realistic_headers() -> Headers {
    [
        ("host", "api.example.test"),
        (
            "user-agent",
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36",
        ),
        ("accept", "application/json"),
        ("accept-encoding", "gzip, deflate, br"),
        ("x-request-id", "0b6f1f0e-3c1d-4a4e-9a57-5d3c2f6e8a91"),
    ]
    .into_iter()
    .map(|(name, value)| {
        (
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        )
    })
    .collect()
}

fn realistic() -> bool {
    std::env::var("REALISTIC").is_ok_and(|v| v == "1")
}

/// Our API key: generated by our hasher, stored with the tenant and scopes.
struct OurKey {
    plaintext: String,
    record: tower_api_auth::api_key::KeyRecord,
    format: ApiKeyFormat,
    hasher: ApiKeyHasher,
}

fn our_key() -> OurKey {
    let format = ApiKeyFormat::default();
    let hasher = ApiKeyHasher::default();
    let (plaintext, record) = hasher
        .generate(&format)
        .with_record(|r| {
            r.with_tenants([Tenant::new(TENANT).expect("tenant")])
                .with_scopes(Scopes::parse(SCOPES).expect("scopes"))
        })
        .into_parts();
    OurKey {
        plaintext,
        record,
        format,
        hasher,
    }
}

/// `key` with one character of its secret part changed (the checksum no longer matches ours,
/// and the hash no longer matches the hand-written table's).
fn tampered(key: &str) -> String {
    let mut bytes = key.as_bytes().to_vec();
    let at = bytes.len() - 12;
    bytes[at] = if bytes[at] == b'a' { b'b' } else { b'a' };
    String::from_utf8(bytes).expect("ascii")
}

// ---------------------------------------------------------------------------------------------
// Handlers
// ---------------------------------------------------------------------------------------------

/// The bare route's handler (and tower-http's, which has no identity to extract).
async fn bare_handler() -> &'static str {
    "ok"
}

/// Ours: the `Identity` extractor (an extension lookup and an `Arc` clone).
async fn identity_handler(identity: Identity) -> &'static str {
    black_box(&identity);
    "ok"
}

/// jwt-authorizer: its `TokenData<C>` extension (cloned out, as its own `JwtClaims<C>` extractor
/// does; that extractor is for axum 0.7).
async fn jwta_handler(
    Extension(data): Extension<jsonwebtoken9::TokenData<BenchClaims>>,
) -> &'static str {
    black_box(&data);
    "ok"
}

/// The hand-written check's principal, shared by the key's table entry. (Its fields are what an
/// app's handlers would read; this benchmark's handler only holds it.)
#[derive(Debug)]
#[allow(dead_code)]
struct Principal {
    key_id: String,
    tenant_id: String,
    scopes: Vec<String>,
}

async fn principal_handler(Extension(principal): Extension<Arc<Principal>>) -> &'static str {
    black_box(&principal);
    "ok"
}

// ---------------------------------------------------------------------------------------------
// The hand-written from_fn API-key check
// ---------------------------------------------------------------------------------------------

/// What a typical app stores per key: the blake3 hash of the whole key, its tenant, flags.
struct KeyEntry {
    hash: [u8; 32],
    tenant_id: String,
    revoked: bool,
    expires_at: Option<u64>,
    principal: Arc<Principal>,
}

type KeyTable = Arc<HashMap<String, KeyEntry>>;

fn unauthorized() -> Response {
    StatusCode::UNAUTHORIZED.into_response()
}

/// Reads `X-API-Key` and `X-Tenant-ID`, finds the key by its id (`<prefix>_<id>_<secret>`: the
/// part before the last `_`), hashes the key with blake3, compares in constant time, checks the
/// flags and the tenant, and inserts the principal.
async fn check_api_key(
    State(keys): State<KeyTable>,
    mut request: Request<Body>,
    next: Next,
) -> Response {
    let headers = request.headers();
    let Some(key) = headers.get("x-api-key").and_then(|v| v.to_str().ok()) else {
        return unauthorized();
    };
    let Some(tenant) = headers.get("x-tenant-id").and_then(|v| v.to_str().ok()) else {
        return unauthorized();
    };
    let Some(key_id) = key.rsplit('_').nth(1) else {
        return unauthorized();
    };
    let Some(entry) = keys.get(key_id) else {
        return unauthorized();
    };
    let hash = blake3::hash(key.as_bytes());
    let matches: bool = hash.as_bytes().ct_eq(&entry.hash).into();
    if !matches || entry.revoked || entry.expires_at.is_some_and(|at| at <= now()) {
        return unauthorized();
    }
    if entry.tenant_id != tenant {
        return StatusCode::FORBIDDEN.into_response();
    }
    let principal = Arc::clone(&entry.principal);
    request.extensions_mut().insert(principal);
    next.run(request).await
}

// ---------------------------------------------------------------------------------------------
// jwt-authorizer on axum 0.8
// ---------------------------------------------------------------------------------------------

/// The response type jwt-authorizer's service needs (`S::Response: From<AuthError>`): axum 0.8's,
/// wrapped so that its refusal (an axum 0.7 response) can be turned into one.
struct Authorized(Response);

impl From<jwt_authorizer::AuthError> for Authorized {
    fn from(error: jwt_authorizer::AuthError) -> Self {
        let response: axum07::response::Response = error.into();
        Authorized(response.map(Body::new))
    }
}

fn wrap(response: Response) -> Authorized {
    Authorized(response)
}

fn unwrap(authorized: Authorized) -> Response {
    authorized.0
}

async fn jwta_router(alg: Alg) -> Router {
    use jwt_authorizer::{IntoLayer, JwtAuthorizer, Validation};
    let (builder, algorithm) = match alg {
        Alg::Hs256 => (
            JwtAuthorizer::<BenchClaims>::from_secret(HMAC_SECRET),
            jsonwebtoken9::Algorithm::HS256,
        ),
        Alg::Rs256 => (
            JwtAuthorizer::<BenchClaims>::from_rsa_pem_text(
                std::str::from_utf8(RSA_PUBLIC).expect("pem"),
            ),
            jsonwebtoken9::Algorithm::RS256,
        ),
        Alg::Es256 => unreachable!("jwt-authorizer is compared for HS256 and RS256"),
    };
    // The same checks as ours: one algorithm, iss, aud, exp required (its default), nbf checked
    // when present, 60 s leeway (its default); `sub` is required by `BenchClaims`.
    let validation = Validation::new()
        .iss(&[ISSUER])
        .aud(&[AUDIENCE])
        .nbf(true)
        .algs(vec![algorithm]);
    let authorizer = builder
        .validation(validation)
        .build()
        .await
        .expect("jwt-authorizer");
    let stack = ServiceBuilder::new()
        .map_response(unwrap)
        .layer(authorizer.into_layer())
        .map_response(wrap);
    Router::new()
        .route(PATH, get(jwta_handler))
        .layer(stack)
        .with_state(())
}

// ---------------------------------------------------------------------------------------------
// Contenders
// ---------------------------------------------------------------------------------------------

/// The baselines first: every other contender is compared with one of them.
const CONTENDERS: &[&str] = &[
    "bare",
    "bare_apikey",
    "noop_layer",
    "identity_layer",
    "ours_hs256_cached",
    "ours_rs256_cached",
    "ours_es256_cached",
    "ours_hs256_cold",
    "ours_rs256_cold",
    "ours_hs256_limited",
    "ours_hs256_limit_layer",
    "ours_apikey_memory",
    "ours_apikey_cached",
    "towerhttp_bearer",
    "jwta_hs256",
    "jwta_rs256",
    "fromfn_apikey",
];

/// The baseline a contender is compared with: the bare route sent the same kind of headers.
fn baseline(name: &str) -> &'static str {
    if name.contains("apikey") {
        "bare_apikey"
    } else {
        "bare"
    }
}

struct Contender {
    name: &'static str,
    /// Prepared: `.with_state(())` called once.
    router: Router,
    /// The credential headers (plus the realistic ones with `REALISTIC=1`).
    headers: Headers,
    /// Requests that must be refused: a label, the headers, the accepted statuses.
    refused: Vec<(&'static str, Headers, &'static [StatusCode])>,
    /// Whether the route answers without credentials (the baselines).
    open: bool,
}

const UNAUTHORIZED: &[StatusCode] = &[StatusCode::UNAUTHORIZED];
/// A key of another tenant: 401 or 403, as each contender renders it.
const REFUSED: &[StatusCode] = &[StatusCode::UNAUTHORIZED, StatusCode::FORBIDDEN];

fn jwt_refusals(alg: Alg) -> Vec<(&'static str, Headers, &'static [StatusCode])> {
    vec![
        (
            "wrong audience",
            bearer(&token(alg, |c| c.aud = "other-api".to_owned())),
            UNAUTHORIZED,
        ),
        (
            "wrong issuer",
            bearer(&token(alg, |c| {
                c.iss = "https://evil.example.test".to_owned()
            })),
            UNAUTHORIZED,
        ),
        (
            "expired",
            bearer(&token(alg, |c| c.exp = now() - 3600)),
            UNAUTHORIZED,
        ),
        ("no sub", bearer(&token_without_sub(alg)), UNAUTHORIZED),
    ]
}

fn ours_jwt(alg: Alg, cached: bool) -> Router {
    let mut options = JwtOptions::new().issuer(ISSUER).audience(AUDIENCE);
    if !cached {
        options = options.token_cache(TokenCacheConfig::disabled());
    }
    let validator = match alg {
        Alg::Hs256 => JwtValidator::hs256(HMAC_SECRET.as_bytes(), options).expect("hs256 key"),
        Alg::Rs256 => {
            JwtValidator::public_pem(Algorithm::RS256, RSA_PUBLIC, options).expect("rs256 key")
        }
        Alg::Es256 => {
            JwtValidator::public_pem(Algorithm::ES256, EC256_PUBLIC, options).expect("es256 key")
        }
    };
    assert_eq!(
        validator.cache_stats().is_some(),
        cached,
        "the validator's token cache is not as asked"
    );
    layered(AuthLayer::builder().jwt(validator).build().expect("layer"))
}

/// `ours_hs256_cached` with one per-principal rate-limit policy, its quota too large for any run to
/// spend, so that every request takes the limiter's pass path: checked by the auth layer itself
/// (`AuthLayer::with_rate_limits`), or by a `RateLimitLayer` of its own inside it.
fn ours_hs256_limited(own_layer: bool) -> Router {
    let options = JwtOptions::new().issuer(ISSUER).audience(AUDIENCE);
    let validator = JwtValidator::hs256(HMAC_SECRET.as_bytes(), options).expect("hs256 key");
    let auth = AuthLayer::builder().jwt(validator).build().expect("layer");
    let limits = RateLimits::new()
        .policy(Policy::new("per_principal", Quota::per_second(u32::MAX)))
        .build()
        .expect("limits");
    let router = Router::new().route(PATH, get(identity_handler));
    let router = if own_layer {
        router.layer(limits).layer(auth)
    } else {
        router.layer(auth.with_rate_limits(&limits))
    };
    router.with_state(())
}

fn layered(layer: AuthLayer) -> Router {
    Router::new()
        .route(PATH, get(identity_handler))
        .layer(layer)
        .with_state(())
}

fn ours_api_key(key: &OurKey, cached: bool) -> Router {
    let store = MemoryKeyStore::from(vec![key.record.clone()]);
    let keys = if cached {
        ApiKeys::new(CachedKeyProvider::new(store))
    } else {
        ApiKeys::new(store)
    };
    let keys = keys.format(key.format.clone()).hasher(key.hasher.clone());
    layered(AuthLayer::builder().api_keys(keys).build().expect("layer"))
}

fn fromfn_router(plaintext: &str) -> Router {
    let key_id = plaintext.rsplit('_').nth(1).expect("key id").to_owned();
    let principal = Arc::new(Principal {
        key_id: key_id.clone(),
        tenant_id: TENANT.to_owned(),
        scopes: SCOPES.split(' ').map(str::to_owned).collect(),
    });
    let entry = KeyEntry {
        hash: *blake3::hash(plaintext.as_bytes()).as_bytes(),
        tenant_id: TENANT.to_owned(),
        revoked: false,
        expires_at: None,
        principal,
    };
    let table: KeyTable = Arc::new(HashMap::from([(key_id, entry)]));
    Router::new()
        .route(PATH, get(principal_handler))
        .layer(middleware::from_fn_with_state(table, check_api_key))
        .with_state(())
}

async fn contender(name: &str) -> Contender {
    let name: &'static str = CONTENDERS
        .iter()
        .find(|c| **c == name)
        .unwrap_or_else(|| panic!("unknown contender {name:?}; `compare list` names them"));
    let hs256 = || bearer(&token(Alg::Hs256, |_| {}));
    let key = our_key();
    let key_headers = api_key_headers(&key.plaintext, TENANT);
    let key_refusals = vec![
        (
            "tampered key",
            api_key_headers(&tampered(&key.plaintext), TENANT),
            UNAUTHORIZED,
        ),
        (
            "other tenant",
            api_key_headers(&key.plaintext, "tn_other"),
            REFUSED,
        ),
    ];
    let bare = || Router::new().route(PATH, get(bare_handler)).with_state(());
    let (router, headers, refused, open) = match name {
        "bare" => (bare(), hs256(), vec![], true),
        "bare_apikey" => (bare(), key_headers, vec![], true),
        "ours_hs256_cached" => (
            ours_jwt(Alg::Hs256, true),
            hs256(),
            jwt_refusals(Alg::Hs256),
            false,
        ),
        "ours_rs256_cached" => (
            ours_jwt(Alg::Rs256, true),
            bearer(&token(Alg::Rs256, |_| {})),
            jwt_refusals(Alg::Rs256),
            false,
        ),
        "ours_es256_cached" => (
            ours_jwt(Alg::Es256, true),
            bearer(&token(Alg::Es256, |_| {})),
            jwt_refusals(Alg::Es256),
            false,
        ),
        "ours_hs256_cold" => (
            ours_jwt(Alg::Hs256, false),
            hs256(),
            jwt_refusals(Alg::Hs256),
            false,
        ),
        "ours_rs256_cold" => (
            ours_jwt(Alg::Rs256, false),
            bearer(&token(Alg::Rs256, |_| {})),
            jwt_refusals(Alg::Rs256),
            false,
        ),
        "ours_hs256_limited" => (
            ours_hs256_limited(false),
            hs256(),
            jwt_refusals(Alg::Hs256),
            false,
        ),
        "ours_hs256_limit_layer" => (
            ours_hs256_limited(true),
            hs256(),
            jwt_refusals(Alg::Hs256),
            false,
        ),
        "noop_layer" => {
            // The control: what any `Router::layer` costs in axum (the route boxed once more, one
            // more boxed future per request), auth or not.
            let router = Router::new()
                .route(PATH, get(bare_handler))
                .layer(tower::util::MapRequestLayer::new(|r: Request<Body>| r))
                .with_state(());
            (router, hs256(), vec![], true)
        }
        "identity_layer" => {
            // The second control: a layer that checks nothing and inserts a ready `Identity`,
            // which the handler extracts as ours do. What handing any identity to a handler
            // costs in axum (an extension insert, the extractor), before a credential is read.
            let identity = Identity::builder("user_42", tower_api_auth::AuthMethod::Jwt)
                .scopes(tower_api_auth::scope::Scopes::parse("conversations:read").expect("scope"))
                .build();
            let router = Router::new()
                .route(PATH, get(identity_handler))
                .layer(tower::util::MapRequestLayer::new(
                    move |mut request: Request<Body>| {
                        request.extensions_mut().insert(identity.clone());
                        request
                    },
                ))
                .with_state(());
            (router, hs256(), vec![], true)
        }
        "ours_apikey_memory" => (ours_api_key(&key, false), key_headers, key_refusals, false),
        "ours_apikey_cached" => (ours_api_key(&key, true), key_headers, key_refusals, false),
        "towerhttp_bearer" => {
            let static_token = token(Alg::Hs256, |_| {});
            #[allow(deprecated)]
            let layer = tower_http::validate_request::ValidateRequestHeaderLayer::<
                tower_http::auth::require_authorization::Bearer<Body>,
            >::bearer(&static_token);
            let router = Router::new()
                .route(PATH, get(bare_handler))
                .layer(layer)
                .with_state(());
            let wrong = vec![(
                "another token",
                bearer(&token(Alg::Hs256, |c| c.sub = "user_43".to_owned())),
                UNAUTHORIZED,
            )];
            (router, bearer(&static_token), wrong, false)
        }
        "jwta_hs256" => (
            jwta_router(Alg::Hs256).await,
            hs256(),
            jwt_refusals(Alg::Hs256),
            false,
        ),
        "jwta_rs256" => (
            jwta_router(Alg::Rs256).await,
            bearer(&token(Alg::Rs256, |_| {})),
            jwt_refusals(Alg::Rs256),
            false,
        ),
        "fromfn_apikey" => (
            fromfn_router(&key.plaintext),
            key_headers,
            key_refusals,
            false,
        ),
        _ => unreachable!(),
    };
    let extra = if realistic() {
        realistic_headers()
    } else {
        vec![]
    };
    let with_extra = |mut headers: Headers| {
        headers.extend(extra.iter().cloned());
        headers
    };
    Contender {
        name,
        router,
        headers: with_extra(headers),
        refused: refused
            .into_iter()
            .map(|(label, headers, statuses)| (label, with_extra(headers), statuses))
            .collect(),
        open,
    }
}

/// The request every contender sends: `GET /v1/me` with `headers`, an empty body. Built per
/// request, inside the measured loop, the same way for every contender.
fn request(headers: &[(HeaderName, HeaderValue)]) -> Request<Body> {
    let mut builder = Request::get(Uri::from_static(PATH));
    for (name, value) in headers {
        builder = builder.header(name.clone(), value.clone());
    }
    builder.body(Body::empty()).expect("valid request")
}

/// One request through the prepared router, as `axum::serve` drives it.
async fn send(router: &Router, headers: &[(HeaderName, HeaderValue)]) -> Response {
    match router.clone().oneshot(request(headers)).await {
        Ok(response) => response,
        Err(infallible) => match infallible {},
    }
}

impl Contender {
    /// Fails loudly unless the contender answers 200 with its credential and refuses what it
    /// must. Also warms a cache (the first request with the credential fills it).
    async fn sanity_check(&self) {
        let name = self.name;
        let ok = send(&self.router, &self.headers).await.status();
        assert_eq!(ok, StatusCode::OK, "{name}: the valid credential");
        let extra = if realistic() {
            realistic_headers()
        } else {
            vec![]
        };
        let none = send(&self.router, &extra).await.status();
        if self.open {
            assert_eq!(none, StatusCode::OK, "{name}: no credential (open route)");
        } else {
            assert_eq!(none, StatusCode::UNAUTHORIZED, "{name}: no credential");
        }
        for (label, headers, statuses) in &self.refused {
            let status = send(&self.router, headers).await.status();
            assert!(
                statuses.contains(&status),
                "{name}: {label} answered {status}, not one of {statuses:?}"
            );
        }
        // Still accepted after the refusals (nothing was poisoned).
        let again = send(&self.router, &self.headers).await.status();
        assert_eq!(again, StatusCode::OK, "{name}: the valid credential again");
    }

    async fn one(&self) -> StatusCode {
        send(&self.router, &self.headers).await.status()
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

// ---------------------------------------------------------------------------------------------
// Subcommands
// ---------------------------------------------------------------------------------------------

fn check() {
    let rt = runtime();
    rt.block_on(async {
        for name in CONTENDERS {
            let c = contender(name).await;
            c.sanity_check().await;
            println!(
                "ok  {name}: 200 with its credential, {} without{}",
                if c.open { "200 (open route)" } else { "401" },
                if c.refused.is_empty() {
                    String::new()
                } else {
                    let labels: Vec<&str> = c.refused.iter().map(|r| r.0).collect();
                    format!(", refuses {}", labels.join(", "))
                }
            );
        }
    });
}

fn run(name: &str, n: usize) {
    let rt = runtime();
    let c = rt.block_on(async {
        let c = contender(name).await;
        c.sanity_check().await;
        c
    });
    requests(&rt, &c, n);
}

/// The measured part of `compare run`: `n` requests inside one `block_on`. Not inlined, so that
/// callgrind can count this function alone (`--toggle-collect=compare::requests`): the set-up before it
/// (RSA / EC key parsing, token signing, sanity check) varies by some 10^5 instructions between
/// runs (random blinding and primality checks in aws-lc), which `Ir(3000) - Ir(1000)` alone would
/// leave in the figure.
#[inline(never)]
fn requests(rt: &tokio::runtime::Runtime, c: &Contender, n: usize) {
    rt.block_on(async {
        for _ in 0..n {
            let status = c.one().await;
            assert_eq!(status, StatusCode::OK, "{}", c.name);
        }
    });
}

const WARM_UP: usize = 200;
const N: usize = 1000;

fn allocs() {
    let rt = runtime();
    println!("contender\tallocs_per_request\treallocs_per_request");
    rt.block_on(async {
        for name in CONTENDERS {
            let c = contender(name).await;
            c.sanity_check().await;
            for _ in 0..WARM_UP {
                black_box(c.one().await);
            }
            let (a0, r0) = (ALLOCS.load(Relaxed), REALLOCS.load(Relaxed));
            for _ in 0..N {
                black_box(c.one().await);
            }
            let (a1, r1) = (ALLOCS.load(Relaxed), REALLOCS.load(Relaxed));
            println!(
                "{name}\t{:.2}\t{:.2}",
                (a1 - a0) as f64 / N as f64,
                (r1 - r0) as f64 / N as f64
            );
        }
    });
}

fn time() {
    const BATCH: usize = 200;
    const ROUNDS: usize = 7;
    let round = Duration::from_millis(300);
    let rt = runtime();
    println!("contender\tns_per_request\tmin_ns\tmax_ns");
    rt.block_on(async {
        for name in CONTENDERS {
            let c = contender(name).await;
            c.sanity_check().await;
            let warm_until = Instant::now() + round;
            while Instant::now() < warm_until {
                for _ in 0..BATCH {
                    black_box(c.one().await);
                }
            }
            let mut rounds = Vec::with_capacity(ROUNDS);
            for _ in 0..ROUNDS {
                let start = Instant::now();
                let mut n = 0usize;
                while start.elapsed() < round {
                    for _ in 0..BATCH {
                        black_box(c.one().await);
                    }
                    n += BATCH;
                }
                rounds.push(start.elapsed().as_nanos() as f64 / n as f64);
            }
            rounds.sort_by(f64::total_cmp);
            println!(
                "{name}\t{:.0}\t{:.0}\t{:.0}",
                rounds[ROUNDS / 2],
                rounds[0],
                rounds[ROUNDS - 1]
            );
        }
    });
}

/// `name\tvalue...` lines of a TSV with a header line.
fn read_tsv(path: &std::path::Path) -> HashMap<String, Vec<f64>> {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    text.lines()
        .skip(1)
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let mut fields = line.split('\t');
            let name = fields.next().expect("name").to_owned();
            let values = fields
                .map(|f| f.trim().parse::<f64>().unwrap_or(f64::NAN))
                .collect();
            (name, values)
        })
        .collect()
}

struct Figures {
    /// Instructions per request: (Ir(3000) - Ir(1000)) / 2000.
    ir: HashMap<String, f64>,
    allocs: HashMap<String, f64>,
    /// Rust's allocations and reallocations per request (what DHAT counts as blocks, less C's).
    rust_blocks: HashMap<String, f64>,
    /// DHAT's heap blocks per request, C code's included: (blocks(3000) - blocks(1000)) / 2000.
    heap: HashMap<String, f64>,
    ns: HashMap<String, f64>,
}

impl Figures {
    fn load(dir: &std::path::Path) -> Self {
        let ir = read_tsv(&dir.join("ir.tsv"))
            .into_iter()
            .map(|(name, v)| (name, (v[1] - v[0]) / 2000.0))
            .collect();
        let alloc_rows = read_tsv(&dir.join("allocs.tsv"));
        let allocs = alloc_rows
            .iter()
            .map(|(name, v)| (name.clone(), v[0]))
            .collect();
        let rust_blocks = alloc_rows
            .iter()
            .map(|(name, v)| (name.clone(), v[0] + v[1]))
            .collect();
        let heap = read_tsv(&dir.join("dhat.tsv"))
            .into_iter()
            .map(|(name, v)| (name, (v[1] - v[0]) / 2000.0))
            .collect();
        let ns = read_tsv(&dir.join("time.tsv"))
            .into_iter()
            .map(|(name, v)| (name, v[0]))
            .collect();
        Self {
            ir,
            allocs,
            rust_blocks,
            heap,
            ns,
        }
    }

    fn get(map: &HashMap<String, f64>, name: &str) -> f64 {
        *map.get(name)
            .unwrap_or_else(|| panic!("no figure for {name}"))
    }

    /// `+Ir / +allocs / ns` of a contender over its baseline.
    fn cell(&self, name: &str) -> String {
        let base = baseline(name);
        let ir = Self::get(&self.ir, name) - Self::get(&self.ir, base);
        let allocs = Self::get(&self.allocs, name) - Self::get(&self.allocs, base);
        let ns = Self::get(&self.ns, name);
        format!(
            "{ir:+.0} Ir, {allocs:+.1} allocs{}, {ns:.0} ns",
            self.with_c(name, Some(base))
        )
    }

    /// ` (+N with C's)` where DHAT saw more heap blocks than Rust's allocator did (aws-lc's own
    /// mallocs), over `base` when given.
    fn with_c(&self, name: &str, base: Option<&str>) -> String {
        let over = |map: &HashMap<String, f64>| {
            Self::get(map, name) - base.map_or(0.0, |base| Self::get(map, base))
        };
        let (heap, rust) = (over(&self.heap), over(&self.rust_blocks));
        if (heap - rust).abs() < 0.5 {
            String::new()
        } else if base.is_some() {
            format!(" ({heap:+.1} with C's)")
        } else {
            format!(" ({heap:.1} with C's)")
        }
    }

    /// `name` over `base` (another contender), in instructions, allocations and nanoseconds.
    fn over(&self, name: &str, base: &str) -> String {
        let ir = Self::get(&self.ir, name) - Self::get(&self.ir, base);
        let allocs = Self::get(&self.allocs, name) - Self::get(&self.allocs, base);
        let ns = Self::get(&self.ns, name) - Self::get(&self.ns, base);
        format!("{ir:+.0} Ir, {allocs:+.1} allocs, {ns:+.0} ns")
    }

    fn absolute(&self, name: &str) -> String {
        format!(
            "{:.0} Ir, {:.1} allocs{}, {:.0} ns",
            Self::get(&self.ir, name),
            Self::get(&self.allocs, name),
            self.with_c(name, None),
            Self::get(&self.ns, name)
        )
    }
}

fn table(dir: &str) {
    let f = Figures::load(std::path::Path::new(dir));
    let mode = if realistic() {
        "REALISTIC=1 (five typical headers more on every request, bare included)"
    } else {
        "minimal requests (only the credential headers)"
    };
    println!("### tower-api-auth compared, per request: {mode}");
    println!();
    println!(
        "Each cell: instructions (callgrind, (Ir(3000) - Ir(1000)) / 2000) and heap allocations over the bare \
         router sent the same headers, then wall time per request (median of 7 rounds; ±50 % on this shared machine). \
         Allocations are those of the counting global allocator (Rust's); \"with C's\" is DHAT's count of all heap \
         blocks, aws-lc's own mallocs included, where it differs."
    );
    println!();
    println!(
        "| case | ours (tower-api-auth) | tower-http static bearer | jwt-authorizer (no cache) | hand-written from_fn |"
    );
    println!("|---|---|---|---|---|");
    let rows: [(&str, &str, &str, &str, &str); 7] = [
        (
            "cached JWT HS256",
            "ours_hs256_cached",
            "towerhttp_bearer",
            "jwta_hs256",
            "",
        ),
        (
            "cached JWT RS256",
            "ours_rs256_cached",
            "",
            "jwta_rs256",
            "",
        ),
        ("cached JWT ES256", "ours_es256_cached", "", "", ""),
        (
            "cold JWT HS256 (cache off)",
            "ours_hs256_cold",
            "",
            "jwta_hs256",
            "",
        ),
        (
            "cold JWT RS256 (cache off)",
            "ours_rs256_cold",
            "",
            "jwta_rs256",
            "",
        ),
        (
            "API key (MemoryKeyStore)",
            "ours_apikey_memory",
            "",
            "",
            "fromfn_apikey",
        ),
        (
            "API key (CachedKeyProvider)",
            "ours_apikey_cached",
            "",
            "",
            "fromfn_apikey",
        ),
    ];
    let cell = |name: &str| {
        if name.is_empty() {
            "—".to_owned()
        } else {
            f.cell(name)
        }
    };
    for (label, ours, towerhttp, jwta, fromfn) in rows {
        println!(
            "| {label} | {} | {} | {} | {} |",
            cell(ours),
            cell(towerhttp),
            cell(jwta),
            cell(fromfn)
        );
    }
    println!();
    println!("| baseline (absolute) | per request |");
    println!("|---|---|");
    println!(
        "| bare router, `Authorization: Bearer <HS256 JWT>` | {} |",
        f.absolute("bare")
    );
    println!(
        "| bare router, `X-API-Key` + `X-Tenant-ID` | {} |",
        f.absolute("bare_apikey")
    );
    println!(
        "| control: bare route behind a do-nothing `Router::layer` (`MapRequestLayer`), over `bare` | {} |",
        f.cell("noop_layer")
    );
    println!(
        "| control: a layer that inserts a ready `Identity`, extracted by the handler, over `bare` | {} |",
        f.cell("identity_layer")
    );
    println!();
    println!("| rate limit | per request |");
    println!("|---|---|");
    println!(
        "| cached JWT HS256, one per-principal policy checked by the auth layer (`with_rate_limits`), over `bare` | {} |",
        f.cell("ours_hs256_limited")
    );
    println!(
        "| the limits alone: that over cached JWT HS256 | {} |",
        f.over("ours_hs256_limited", "ours_hs256_cached")
    );
    println!(
        "| the same policy in a `RateLimitLayer` of its own inside the auth layer, over cached JWT HS256 | {} |",
        f.over("ours_hs256_limit_layer", "ours_hs256_cached")
    );
}

fn usage() -> ! {
    eprintln!(
        "usage: compare list | check | run <contender> <n> | allocs | time | table <dir>\n\
         (REALISTIC=1 adds five typical headers to every request)"
    );
    std::process::exit(2)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["list"] => CONTENDERS.iter().for_each(|c| println!("{c}")),
        ["check"] => check(),
        ["run", name, n] => run(name, n.parse().unwrap_or_else(|_| usage())),
        ["allocs"] => allocs(),
        ["time"] => time(),
        ["table", dir] => table(dir),
        _ => usage(),
    }
}
