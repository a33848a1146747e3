//! Fixtures shared by the `layer` and `allocations` benches: one signed token per algorithm, the
//! equivalent `jsonwebtoken::Validation`, an in-memory API key, and routers built the same way:
//! bare, behind a do-nothing layer, and behind `Router::layer(AuthLayer)` with the verified-token
//! cache off (`cold`: every request verified in full) and on (`cached`: the default).
//!
//! Not every bench uses every item.
#![allow(dead_code)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::header::AUTHORIZATION;
use http::{HeaderName, HeaderValue, Request, Response, StatusCode, Uri};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use tower::ServiceExt;
use tower::util::MapRequestLayer;
use tower_api_auth::jwt::JwtOptions;
use tower_api_auth::{
    AuthLayer, Identity, JwtValidator, MemoryKeyStore, Tenant, api_key::ApiKeyFormat,
    api_key::ApiKeyHasher, api_key::ApiKeys, jwt::TokenCacheConfig, scope::Scopes,
};

pub(crate) const PATH: &str = "/v1/me";
pub(crate) const ISSUER: &str = "https://auth.example.test";
pub(crate) const AUDIENCE: &str = "api";
pub(crate) const TENANT: &str = "tn_demo";
pub(crate) const SCOPES: &str = "conversations:read messages:read";
/// 40 bytes: HS256 needs at least 32.
pub(crate) const HMAC_SECRET: &[u8] = b"bench-secret-bench-secret-bench-secret!!";

const RSA_PRIVATE: &[u8] = include_bytes!("../../../testdata/keys/rsa_private.pem");
const RSA_PUBLIC: &[u8] = include_bytes!("../../../testdata/keys/rsa_public.pem");
const EC256_PRIVATE: &[u8] = include_bytes!("../../../testdata/keys/ec256_private.pem");
const EC256_PUBLIC: &[u8] = include_bytes!("../../../testdata/keys/ec256_public.pem");
const ED25519_PRIVATE: &[u8] = include_bytes!("../../../testdata/keys/ed25519_private.pem");
const ED25519_PUBLIC: &[u8] = include_bytes!("../../../testdata/keys/ed25519_public.pem");

/// The claims of every benchmark token, and what the raw `jsonwebtoken::decode` deserializes into:
/// the same fields the layer reads (registered claims, scope, tenant).
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct BenchClaims {
    pub(crate) sub: String,
    pub(crate) iss: String,
    pub(crate) aud: String,
    pub(crate) exp: u64,
    pub(crate) iat: u64,
    pub(crate) scope: String,
    pub(crate) tenant_id: String,
}

/// One algorithm's token, its raw-decode setup and the routers to drive.
pub(crate) struct JwtCase {
    /// Criterion group name / table row: `hs256`, `rs256`, `es256`, `eddsa`.
    pub(crate) name: &'static str,
    pub(crate) algorithm: Algorithm,
    pub(crate) token: String,
    /// `(Authorization, "Bearer <token>")`, sent to the bare router too.
    pub(crate) headers: Vec<(HeaderName, HeaderValue)>,
    pub(crate) decoding_key: DecodingKey,
    /// Equivalent to the layer's validator: the algorithm, `iss`, `aud`, required `exp` and `sub`,
    /// 60 s leeway (the default of both).
    pub(crate) validation: Validation,
    /// `Router::new().route(PATH, get(identity_handler)).layer(AuthLayer { jwt })` with
    /// `token_cache(TokenCacheConfig::disabled())`: signature and claims checked on every request.
    pub(crate) cold: Router,
    /// The same with the default verified-token cache: after one request with the token, every
    /// further one is a cache hit (clock re-check, tenant rules and `Identity` only).
    pub(crate) cached: Router,
}

/// The API-key case: `X-API-Key` + `X-Tenant-ID`, checked against a `MemoryKeyStore`.
pub(crate) struct ApiKeyCase {
    pub(crate) plaintext: String,
    pub(crate) headers: Vec<(HeaderName, HeaderValue)>,
    pub(crate) provider: Arc<MemoryKeyStore>,
    pub(crate) format: ApiKeyFormat,
    pub(crate) hasher: ApiKeyHasher,
    pub(crate) layered: Router,
}

/// The handler behind the auth layer: it extracts the [`Identity`] (an extension lookup and an
/// `Arc` clone), as a real handler would.
pub(crate) async fn identity_handler(identity: Identity) -> &'static str {
    black_box(&identity);
    "ok"
}

/// The handler of the bare router: no extractor at all.
pub(crate) async fn bare_handler() -> &'static str {
    "ok"
}

/// `router` as a server runs it: `axum::serve` calls `with_state(())` once, which turns every
/// route into a ready service. A router sent requests without it rebuilds each route's layers
/// per request (`Route::layer`, an `AuthLayer` clone and drop: some 650 instructions), which no
/// server pays; every router here is prepared so that the benches measure what a server does.
pub(crate) fn prepared(router: Router) -> Router {
    router.with_state(())
}

/// The same route with no authentication.
pub(crate) fn bare_router() -> Router {
    prepared(Router::new().route(PATH, get(bare_handler)))
}

/// The bare route behind a layer that does nothing (`MapRequestLayer` with the identity function):
/// what any `Router::layer` costs in axum (one more boxed route and future), auth or not.
pub(crate) fn noop_layer_router() -> Router {
    prepared(
        Router::new()
            .route(PATH, get(bare_handler))
            .layer(MapRequestLayer::new(|request: Request<Body>| request)),
    )
}

pub(crate) fn layered_router(layer: AuthLayer) -> Router {
    prepared(
        Router::new()
            .route(PATH, get(identity_handler))
            .layer(layer),
    )
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

fn jwt_case(
    name: &'static str,
    algorithm: Algorithm,
    encoding_key: EncodingKey,
    decoding_key: DecodingKey,
    validator: JwtValidator,
) -> JwtCase {
    let token = jsonwebtoken::encode(&Header::new(algorithm), &claims(), &encoding_key)
        .expect("sign the benchmark token");
    let bearer = HeaderValue::from_str(&format!("Bearer {token}")).expect("header value");
    let mut validation = Validation::new(algorithm);
    validation.set_issuer(&[ISSUER]);
    validation.set_audience(&[AUDIENCE]);
    validation.set_required_spec_claims(&["exp", "sub"]);
    validation.validate_nbf = true;
    // The given validator brings keys (and a claims type); the cases add issuer and audience.
    let options = validator
        .options()
        .clone()
        .issuer(ISSUER)
        .audience(AUDIENCE);
    let keys = validator.key_handle().keys();
    let cold = JwtValidator::new(
        keys.clone(),
        options.clone().token_cache(TokenCacheConfig::disabled()),
    );
    let validator = JwtValidator::new(keys, options);
    assert!(
        cold.cache_stats().is_none(),
        "{name}: the cold validator caches"
    );
    assert!(
        validator.cache_stats().is_some(),
        "{name}: the default validator does not cache"
    );
    JwtCase {
        name,
        algorithm,
        token,
        headers: vec![(AUTHORIZATION, bearer)],
        decoding_key,
        validation,
        cold: layered_router(AuthLayer::builder().jwt(cold).build().unwrap()),
        cached: layered_router(AuthLayer::builder().jwt(validator).build().unwrap()),
    }
}

/// The HS256 case with typed claims (`JwtOptions::claims::<BenchClaims>()`, decoded in a pass of
/// their own after the registered claims) and the cache off: what a full verification costs an app that
/// reads its own claims type. Named `hs256_typed`.
pub(crate) fn typed_claims_case() -> JwtCase {
    tower_api_auth::crypto::ensure_provider();
    let validator = JwtValidator::hs256(HMAC_SECRET, JwtOptions::new().claims::<BenchClaims>())
        .expect("hs256 key");
    jwt_case(
        "hs256_typed",
        Algorithm::HS256,
        EncodingKey::from_secret(HMAC_SECRET),
        DecodingKey::from_secret(HMAC_SECRET),
        validator,
    )
}

/// HS256, RS256, ES256 and EdDSA, in that order.
pub(crate) fn jwt_cases() -> Vec<JwtCase> {
    // Both jsonwebtoken backends are on under --all-features; pick one before any direct call.
    tower_api_auth::crypto::ensure_provider();
    vec![
        jwt_case(
            "hs256",
            Algorithm::HS256,
            EncodingKey::from_secret(HMAC_SECRET),
            DecodingKey::from_secret(HMAC_SECRET),
            JwtValidator::hs256(HMAC_SECRET, JwtOptions::new()).expect("hs256 key"),
        ),
        jwt_case(
            "rs256",
            Algorithm::RS256,
            EncodingKey::from_rsa_pem(RSA_PRIVATE).expect("rsa private key"),
            DecodingKey::from_rsa_pem(RSA_PUBLIC).expect("rsa public key"),
            JwtValidator::public_pem(Algorithm::RS256, RSA_PUBLIC, JwtOptions::new())
                .expect("rs256 key"),
        ),
        jwt_case(
            "es256",
            Algorithm::ES256,
            EncodingKey::from_ec_pem(EC256_PRIVATE).expect("ec private key"),
            DecodingKey::from_ec_pem(EC256_PUBLIC).expect("ec public key"),
            JwtValidator::public_pem(Algorithm::ES256, EC256_PUBLIC, JwtOptions::new())
                .expect("es256 key"),
        ),
        jwt_case(
            "eddsa",
            Algorithm::EdDSA,
            EncodingKey::from_ed_pem(ED25519_PRIVATE).expect("ed25519 private key"),
            DecodingKey::from_ed_pem(ED25519_PUBLIC).expect("ed25519 public key"),
            JwtValidator::public_pem(Algorithm::EdDSA, ED25519_PUBLIC, JwtOptions::new())
                .expect("eddsa key"),
        ),
    ]
}

pub(crate) fn api_key_case() -> ApiKeyCase {
    let format = ApiKeyFormat::default();
    let hasher = ApiKeyHasher::default();
    let (plaintext, record) = hasher
        .generate(&format)
        .with_record(|r| {
            r.with_tenants([Tenant::new(TENANT).expect("tenant")])
                .with_scopes(Scopes::parse(SCOPES).expect("scopes"))
        })
        .into_parts();
    let provider = Arc::new(MemoryKeyStore::from(vec![record]));
    let layer = AuthLayer::builder()
        .api_keys(
            ApiKeys::from_shared(provider.clone())
                .format(format.clone())
                .hasher(hasher.clone()),
        )
        .build()
        .unwrap();
    let headers = vec![
        (
            HeaderName::from_static("x-api-key"),
            HeaderValue::from_str(&plaintext).expect("header value"),
        ),
        (
            HeaderName::from_static("x-tenant-id"),
            HeaderValue::from_static(TENANT),
        ),
    ];
    ApiKeyCase {
        plaintext,
        headers,
        provider,
        format,
        hasher,
        layered: layered_router(layer),
    }
}

/// The request every variant sends: `GET /v1/me` with `headers`, an empty body. Built per request
/// (this is part of every measured variant, bare router included).
pub(crate) fn request(headers: &[(HeaderName, HeaderValue)]) -> Request<Body> {
    let mut builder = Request::get(Uri::from_static(PATH));
    for (name, value) in headers {
        builder = builder.header(name.clone(), value.clone());
    }
    builder.body(Body::empty()).expect("valid request")
}

/// One request through `router`, driven in-process as a tower service.
pub(crate) async fn send(router: &Router, headers: &[(HeaderName, HeaderValue)]) -> Response<Body> {
    let response = router.clone().oneshot(request(headers)).await;
    match response {
        Ok(response) => response,
        Err(infallible) => match infallible {},
    }
}

/// The raw jsonwebtoken path the layer is compared with.
pub(crate) fn raw_decode(case: &JwtCase) -> jsonwebtoken::TokenData<BenchClaims> {
    jsonwebtoken::decode::<BenchClaims>(
        black_box(case.token.as_str()),
        &case.decoding_key,
        &case.validation,
    )
    .expect("valid token")
}

/// The raw API-key check: parse (shape + checksum), look up, keyed hash, constant-time compare.
pub(crate) fn raw_api_key_check(case: &ApiKeyCase) -> bool {
    let key = black_box(case.plaintext.as_str());
    let parsed = case.format.parse(key).expect("well-formed key");
    let record = case.provider.get(parsed.key_id()).expect("known key");
    case.hasher.hash(key).matches(&record.hash) && !record.revoked
}

/// Sends the case's request through its cached router and checks it passed: afterwards the token is
/// in the cache, so every further request with it is a hit.
pub(crate) async fn warm_cache(case: &JwtCase) {
    let ok = send(&case.cached, &case.headers).await;
    assert_eq!(
        ok.status(),
        StatusCode::OK,
        "{}: warming the cache",
        case.name
    );
}

/// Fails loudly if a variant does not do what it claims (e.g. the layer answering 401).
pub(crate) async fn sanity_check(jwt: &[JwtCase], api_key: &ApiKeyCase) {
    let bare = bare_router();
    let noop = noop_layer_router();
    for case in jwt {
        assert_eq!(send(&noop, &case.headers).await.status(), StatusCode::OK);
        for (label, router) in [("cold", &case.cold), ("cached", &case.cached)] {
            let ok = send(router, &case.headers).await;
            assert_eq!(
                ok.status(),
                StatusCode::OK,
                "{} through the {label} layer",
                case.name
            );
            let no_credential = send(router, &[]).await;
            assert_eq!(no_credential.status(), StatusCode::UNAUTHORIZED);
        }
        assert_eq!(send(&bare, &case.headers).await.status(), StatusCode::OK);
        let data = raw_decode(case);
        assert_eq!(data.claims.sub, "user_42");
        assert_eq!(data.header.alg, case.algorithm);
    }
    let ok = send(&api_key.layered, &api_key.headers).await;
    assert_eq!(ok.status(), StatusCode::OK, "API key through the layer");
    assert!(raw_api_key_check(api_key));
}

/// The current-thread runtime every bench drives requests on.
/// A current-thread runtime with I/O and timers: a feed's task and the stores' clients need them.
pub(crate) fn runtime_with_io() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

pub(crate) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("tokio runtime")
}

#[cfg(not(any(feature = "aws-lc-rs", feature = "rust-crypto")))]
compile_error!("the benches need a JWT crypto backend: enable `aws-lc-rs` or `rust-crypto`");
