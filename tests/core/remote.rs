//! The resource server (feature `remote`) against real identity-provider servers started here:
//! JWK sets from URLs, discovery, rotation, unknown-kid floods, outages, slow and hostile key
//! servers, several issuers in one layer, introspection, and tokens of another JOSE library.
#![cfg(all(feature = "remote", feature = "axum"))]
#![cfg(any(feature = "aws-lc-rs", feature = "rust-crypto"))]

use tower_api_auth_tests as common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, Header};
use serde_json::{Value, json};
use tokio::sync::{Notify, Semaphore};
use tower::ServiceExt as _;
use tower_api_auth::clock::ManualClock;
use tower_api_auth::jwt::{Issuer, JwtOptions, TokenCacheConfig};
use tower_api_auth::remote::{ClientAuth, Introspection, RemoteJwks, RemoteJwksBuilder};
use tower_api_auth::{AuthLayer, Identity, JwtValidator, RequireScopesLayer};

use common::jwt::{encoding_key, sign};
use common::{Server, now, serve};

// ---------------------------------------------------------------------------------------------
// A fake identity provider
// ---------------------------------------------------------------------------------------------

/// What the identity provider serves, changed by the tests as they go.
#[derive(Default)]
struct Idp {
    jwks: Mutex<String>,
    /// Every endpoint answers 500.
    down: AtomicBool,
    jwks_hits: AtomicUsize,
    not_modified: AtomicUsize,
    etag: Mutex<Option<String>>,
    cache_control: Mutex<Option<String>>,
    /// When set, the JWK set endpoint holds each request until a permit is added (never, in the
    /// tests: the client's timeout ends it). `arrived` tells the test a request is held.
    gate: Mutex<Option<Arc<Semaphore>>>,
    arrived: Notify,
    /// The OpenID configuration (404 when `None`), and the RFC 8414 one.
    openid: Mutex<Option<Value>>,
    rfc8414: Mutex<Option<Value>>,
    /// Introspection answers by token; unknown tokens are inactive.
    answers: Mutex<HashMap<String, Value>>,
    introspections: AtomicUsize,
    /// The `Authorization` header introspection requires, when set.
    client_auth: Mutex<Option<String>>,
    last_form: Mutex<String>,
}

type SharedIdp = Arc<Idp>;

async fn jwks(State(idp): State<SharedIdp>, headers: HeaderMap) -> Response {
    idp.jwks_hits.fetch_add(1, Ordering::SeqCst);
    let gate = idp.gate.lock().unwrap().clone();
    if let Some(gate) = gate {
        idp.arrived.notify_one();
        let _permit = gate.acquire().await;
    }
    if idp.down.load(Ordering::SeqCst) {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    let etag = idp.etag.lock().unwrap().clone();
    let mut response = Response::builder();
    if let Some(cache_control) = idp.cache_control.lock().unwrap().clone() {
        response = response.header("cache-control", cache_control);
    }
    if let Some(etag) = &etag {
        if headers.get("if-none-match").and_then(|v| v.to_str().ok()) == Some(etag) {
            idp.not_modified.fetch_add(1, Ordering::SeqCst);
            return response
                .status(StatusCode::NOT_MODIFIED)
                .body(Body::empty())
                .unwrap();
        }
        response = response.header("etag", etag);
    }
    let body = idp.jwks.lock().unwrap().clone();
    response
        .header("content-type", "application/json")
        .body(Body::from(body))
        .unwrap()
}

async fn openid(State(idp): State<SharedIdp>) -> Response {
    metadata(&idp, &idp.openid)
}

async fn rfc8414(State(idp): State<SharedIdp>) -> Response {
    metadata(&idp, &idp.rfc8414)
}

fn metadata(idp: &Idp, document: &Mutex<Option<Value>>) -> Response {
    if idp.down.load(Ordering::SeqCst) {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    match document.lock().unwrap().clone() {
        Some(document) => Json(document).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn introspect(State(idp): State<SharedIdp>, headers: HeaderMap, form: String) -> Response {
    idp.introspections.fetch_add(1, Ordering::SeqCst);
    *idp.last_form.lock().unwrap() = form.clone();
    if idp.down.load(Ordering::SeqCst) {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    let required = idp.client_auth.lock().unwrap().clone();
    if let Some(required) = required {
        let given = headers.get("authorization").and_then(|v| v.to_str().ok());
        if given != Some(required.as_str()) {
            return StatusCode::UNAUTHORIZED.into_response();
        }
    }
    let token = form
        .split('&')
        .find_map(|pair| pair.strip_prefix("token="))
        .unwrap_or_default()
        .to_owned();
    let answer = idp
        .answers
        .lock()
        .unwrap()
        .get(&token)
        .cloned()
        .unwrap_or_else(|| json!({ "active": false }));
    Json(answer).into_response()
}

/// Starts an identity provider; returns it and its base URL.
async fn idp() -> (SharedIdp, String) {
    let idp = SharedIdp::default();
    let app = Router::new()
        .route("/jwks", get(jwks))
        .route("/.well-known/openid-configuration", get(openid))
        .route("/tenant/.well-known/openid-configuration", get(openid))
        .route(
            "/.well-known/oauth-authorization-server/tenant",
            get(rfc8414),
        )
        .route("/introspect", post(introspect))
        .with_state(Arc::clone(&idp));
    let server = serve(app).await;
    (idp, server.base().to_owned())
}

impl Idp {
    fn publish(&self, keys: &[Value]) {
        *self.jwks.lock().unwrap() = json!({ "keys": keys }).to_string();
    }

    fn hits(&self) -> usize {
        self.jwks_hits.load(Ordering::SeqCst)
    }
}

// ---------------------------------------------------------------------------------------------
// Keys, tokens, the protected service
// ---------------------------------------------------------------------------------------------

const ISS: &str = "https://idp.example.test";

/// The public JWK of `alg`'s test key, named `kid`.
fn jwk(alg: Algorithm, kid: &str) -> Value {
    let mut jwk = Jwk::from_encoding_key(&encoding_key(alg), alg).expect("jwk");
    jwk.common.key_id = Some(kid.to_owned());
    serde_json::to_value(jwk).expect("jwk json")
}

/// A token of `iss` for `sub`, signed with `alg`'s test key and naming `kid`.
fn token(alg: Algorithm, kid: &str, iss: &str, sub: &str) -> String {
    token_with(alg, kid, json!({ "iss": iss, "sub": sub }))
}

/// A token with `claims` (plus `iat`, `exp`), signed with `alg`'s test key and naming `kid`.
fn token_with(alg: Algorithm, kid: &str, claims: Value) -> String {
    let mut header = Header::new(alg);
    header.kid = Some(kid.to_owned());
    let mut claims = claims;
    claims["iat"] = json!(now());
    claims["exp"] = json!(now() + 3600);
    sign(&header, &claims, &encoding_key(alg))
}

async fn me(identity: Identity) -> Json<Value> {
    Json(json!({
        "principal": identity.principal(),
        "method": identity.method(),
        "tenant": identity.tenant().map(|t| t.as_str().to_owned()),
        "scopes": identity.scopes().as_str(),
        "client_id": identity.client_id(),
    }))
}

fn app(auth: AuthLayer) -> Router {
    Router::new()
        .route("/me", get(me))
        .route(
            "/read",
            get(me).route_layer(RequireScopesLayer::all(["read"])),
        )
        .layer(auth)
}

/// A remote key set at the test identity provider's `/jwks`, on `clock`, with short waits.
fn remote(base: &str, clock: &ManualClock) -> RemoteJwksBuilder {
    RemoteJwks::builder(format!("{base}/jwks"))
        .clock(clock.clone())
        .timeout(Duration::from_millis(500))
        .retry_interval(Duration::from_secs(3600))
}

/// The protected service with one remote issuer, `ISS`.
async fn protected(keys: RemoteJwks, clock: &ManualClock) -> (Server, JwtValidator, Router) {
    let validator = JwtValidator::from_source(keys, JwtOptions::new().issuer(ISS));
    let auth = AuthLayer::builder()
        .jwt(validator.clone())
        .clock(clock.clone())
        .build()
        .unwrap();
    let router = app(auth);
    (serve(router.clone()).await, validator, router)
}

async fn status_of(server: &Server, token: &str) -> (u16, Value) {
    let reply = server.get("/me").bearer(token).send().await;
    let body = serde_json::from_str(&reply.text).unwrap_or(Value::Null);
    (reply.status, body)
}

async fn assert_pass(server: &Server, token: &str, principal: &str) {
    let (status, body) = status_of(server, token).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["principal"], principal, "{body}");
}

async fn assert_refused(server: &Server, token: &str, status: u16, code: &str) {
    let reply = server.get("/me").bearer(token).send().await;
    reply.assert_error(status, code);
}

// ---------------------------------------------------------------------------------------------
// 1. Remote key sets
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn tokens_are_503_until_the_set_loads_and_pass_once_it_has_without_a_restart() {
    let (idp, base) = idp().await;
    idp.publish(&[jwk(Algorithm::ES256, "k1")]);
    idp.down.store(true, Ordering::SeqCst);
    let clock = ManualClock::starting_now();
    let keys = remote(&base, &clock)
        .retry_interval(Duration::from_millis(20))
        .build()
        .unwrap();
    let (server, _, _) = protected(keys.clone(), &clock).await;
    let token = token(Algorithm::ES256, "k1", ISS, "first_load");

    assert!(keys.ready().await.is_err(), "the first fetch failed");
    assert!(!keys.status().loaded);
    assert_refused(&server, &token, 503, "auth_unavailable").await;

    // The identity provider comes back: the background retries load the set.
    idp.down.store(false, Ordering::SeqCst);
    for _ in 0..200 {
        if keys.status().loaded {
            break;
        }
        let _ = keys.refreshed().await;
    }
    assert!(keys.status().loaded, "{:?}", keys.status());
    assert_pass(&server, &token, "first_load").await;
}

#[tokio::test]
async fn load_returns_once_the_set_is_loaded_or_fails_with_the_reason() {
    let (idp, base) = idp().await;
    idp.publish(&[jwk(Algorithm::ES256, "k1")]);
    let clock = ManualClock::starting_now();
    let keys = remote(&base, &clock).load().await.unwrap();
    let status = keys.status();
    assert!(
        status.loaded && status.keys == 1 && status.last_error.is_none(),
        "{status:?}"
    );
    let (server, _, _) = protected(keys, &clock).await;
    assert_pass(
        &server,
        &token(Algorithm::ES256, "k1", ISS, "loaded"),
        "loaded",
    )
    .await;

    idp.down.store(true, Ordering::SeqCst);
    let error = remote(&base, &clock).load().await.unwrap_err();
    assert!(error.to_string().contains("HTTP 500"), "{error}");
}

#[tokio::test]
async fn a_url_that_is_not_https_or_loopback_is_refused() {
    let error = RemoteJwks::builder("http://idp.example.test/jwks")
        .build()
        .unwrap_err();
    assert!(error.to_string().contains("plain HTTP"), "{error}");
    assert!(
        RemoteJwks::builder("http://idp.example.test/jwks")
            .allow_http(true)
            .build()
            .is_ok()
    );
}

#[tokio::test]
async fn rotation_adds_and_removes_keys_without_a_restart() {
    let (idp, base) = idp().await;
    idp.publish(&[jwk(Algorithm::ES256, "old")]);
    let clock = ManualClock::starting_now();
    let keys = remote(&base, &clock).load().await.unwrap();
    let (server, validator, _) = protected(keys.clone(), &clock).await;
    let old = token(Algorithm::ES256, "old", ISS, "old_user");
    let new = token(Algorithm::RS256, "new", ISS, "new_user");
    assert_pass(&server, &old, "old_user").await;
    assert_refused(&server, &new, 401, "invalid_token").await;
    assert_eq!(
        idp.hits(),
        2,
        "the load, and one refetch for the unknown kid"
    );

    // The provider publishes the new key: the first token naming it makes the set be fetched
    // again (the refetch interval has passed), waits for it, and passes.
    idp.publish(&[jwk(Algorithm::ES256, "old"), jwk(Algorithm::RS256, "new")]);
    clock.advance(Duration::from_secs(30));
    assert_pass(&server, &new, "new_user").await;
    assert_eq!(idp.hits(), 3);
    assert_pass(&server, &old, "old_user").await;
    assert_eq!(validator.cache_stats().unwrap().entries, 2);

    // The old key is withdrawn: at the next refresh its tokens are refused, cached or not,
    // and the new key's cached token stays cached.
    idp.publish(&[jwk(Algorithm::RS256, "new")]);
    keys.refresh().await.unwrap();
    assert_eq!(validator.cache_stats().unwrap().entries, 1);
    assert_refused(&server, &old, 401, "invalid_token").await;
    assert_pass(&server, &new, "new_user").await;
    assert_eq!(keys.status().keys, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_kid_flood_fetches_at_most_once_per_interval() {
    let (idp, base) = idp().await;
    idp.publish(&[jwk(Algorithm::ES256, "k1")]);
    let clock = ManualClock::starting_now();
    let keys = remote(&base, &clock)
        .refetch_interval(Duration::from_secs(30))
        .load()
        .await
        .unwrap();
    let (_, _, router) = protected(keys.clone(), &clock).await;
    assert_eq!(idp.hits(), 1);

    // An attacker's tokens: made-up key ids, and signatures that are never looked at since no
    // key is found for them.
    let mut flood = tokio::task::JoinSet::new();
    let payload = json!({ "iss": ISS, "sub": "flood", "exp": now() + 3600 });
    for i in 0..10_000 {
        let router = router.clone();
        let header = json!({ "alg": "ES256", "kid": format!("unknown-{i}") });
        let token = common::forge(&header, &payload, "c2lnbmF0dXJl");
        flood.spawn(async move { call(&router, &token).await });
    }
    while let Some(status) = flood.join_next().await {
        assert_eq!(status.unwrap(), 401);
    }
    assert_eq!(idp.hits(), 2, "one refetch for 10 000 unknown kids");

    // Within the interval no more; after it, one more.
    let again = token(Algorithm::ES256, "unknown-again", ISS, "flood");
    assert_eq!(call(&router, &again).await, 401);
    assert_eq!(idp.hits(), 2);
    clock.advance(Duration::from_secs(30));
    assert_eq!(call(&router, &again).await, 401);
    assert_eq!(call(&router, &again).await, 401);
    assert_eq!(idp.hits(), 3);

    // A token of another issuer never makes the set be fetched, whatever its kid.
    clock.advance(Duration::from_secs(30));
    let foreign = token(
        Algorithm::ES256,
        "unknown-x",
        "https://evil.example.test",
        "x",
    );
    assert_eq!(call(&router, &foreign).await, 401);
    assert_eq!(idp.hits(), 3);
}

/// `GET /me` with `token` through `router`, in-process; the status.
async fn call(router: &Router, token: &str) -> u16 {
    let request = Request::get("/me")
        .header("authorization", format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    router
        .clone()
        .oneshot(request)
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn an_outage_keeps_the_last_good_keys_for_max_stale_then_503_then_recovers() {
    let (idp, base) = idp().await;
    idp.publish(&[jwk(Algorithm::ES256, "k1")]);
    let clock = ManualClock::starting_now();
    let keys = remote(&base, &clock)
        .max_stale(Duration::from_secs(3600))
        .load()
        .await
        .unwrap();
    let (server, _, _) = protected(keys.clone(), &clock).await;
    let token = token(Algorithm::ES256, "k1", ISS, "outage");
    assert_pass(&server, &token, "outage").await;

    idp.down.store(true, Ordering::SeqCst);
    clock.advance(Duration::from_secs(1800));
    let error = keys.refresh().await.unwrap_err();
    assert!(error.to_string().contains("HTTP 500"), "{error}");
    assert_pass(&server, &token, "outage").await; // stale but within the bound

    clock.advance(Duration::from_secs(1800));
    assert_refused(&server, &token, 503, "auth_unavailable").await; // the cached token too
    let reply = server.get("/me").bearer(&token).send().await;
    assert_eq!(reply.challenge(), None, "a 503 is no fault of the token");

    idp.down.store(false, Ordering::SeqCst);
    keys.refresh().await.unwrap();
    assert_pass(&server, &token, "outage").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_key_server_times_out_and_known_kids_never_wait_for_it() {
    let (idp, base) = idp().await;
    idp.publish(&[jwk(Algorithm::ES256, "k1")]);
    let clock = ManualClock::starting_now();
    let keys = remote(&base, &clock)
        .timeout(Duration::from_secs(1))
        .load()
        .await
        .unwrap();
    let (server, _, _) = protected(keys.clone(), &clock).await;
    let known = token(Algorithm::ES256, "k1", ISS, "known");
    let unknown = token(Algorithm::RS256, "k2", ISS, "unknown");

    // The key server hangs from now on.
    *idp.gate.lock().unwrap() = Some(Arc::new(Semaphore::new(0)));
    let waiting = {
        let server = server.clone();
        let unknown = unknown.clone();
        tokio::spawn(async move { server.get("/me").bearer(&unknown).send().await.status })
    };
    idp.arrived.notified().await; // the refetch is in flight and held
    for _ in 0..5 {
        assert_pass(&server, &known, "known").await;
    }
    assert!(
        keys.status().in_flight,
        "the known-kid requests were answered while the refetch was still in flight"
    );
    assert_eq!(
        waiting.await.unwrap(),
        401,
        "after the timeout, the unknown kid is refused"
    );
    let error = keys.status().last_error.unwrap();
    assert!(error.to_string().contains("timed out"), "{error}");
    assert_pass(&server, &known, "known").await;
}

#[tokio::test]
async fn oversized_malformed_and_keyless_documents_keep_the_last_good_set() {
    let (idp, base) = idp().await;
    let clock = ManualClock::starting_now();

    // Never loaded: a 10 MiB document is refused, and its tokens are 503.
    *idp.jwks.lock().unwrap() = format!(r#"{{"keys":[],"pad":"{}"}}"#, "x".repeat(10 << 20));
    let keys = remote(&base, &clock).build().unwrap();
    let error = keys.ready().await.unwrap_err();
    assert!(error.to_string().contains("size cap"), "{error}");
    let (server, _, _) = protected(keys.clone(), &clock).await;
    let token = token(Algorithm::ES256, "k1", ISS, "hostile");
    assert_refused(&server, &token, 503, "auth_unavailable").await;

    idp.publish(&[jwk(Algorithm::ES256, "k1")]);
    keys.refresh().await.unwrap();
    assert_pass(&server, &token, "hostile").await;

    for (document, expected) in [
        (format!("[{}]", "1,".repeat(1 << 20)), "size cap"),
        ("{\"keys\": [".to_owned(), "not a JWK set"),
        ("<html>oops</html>".to_owned(), "not a JWK set"),
        (
            json!({ "keys": [{ "kty": "RSA", "kid": "noalg", "n": "AQAB", "e": "AQAB" }] })
                .to_string(),
            "no usable key",
        ),
    ] {
        *idp.jwks.lock().unwrap() = document;
        let error = keys.refresh().await.unwrap_err();
        assert!(error.to_string().contains(expected), "{error}");
        assert_pass(&server, &token, "hostile").await;
    }
}

#[tokio::test]
async fn refreshes_honour_max_age_within_bounds_and_the_etag() {
    let (idp, base) = idp().await;
    idp.publish(&[jwk(Algorithm::ES256, "k1")]);
    *idp.etag.lock().unwrap() = Some("\"v1\"".to_owned());
    let clock = ManualClock::starting_now();
    let keys = remote(&base, &clock)
        .refresh_bounds(Duration::from_secs(60), Duration::from_secs(3600))
        .default_refresh(Duration::from_secs(300))
        .load()
        .await
        .unwrap();
    assert_eq!(keys.status().next_refresh, Some(Duration::from_secs(300)));
    for (cache_control, expected) in [
        ("public, max-age=600", 600),
        ("max-age=5", 60),
        ("max-age=86400", 3600),
        ("no-cache", 60),
    ] {
        *idp.cache_control.lock().unwrap() = Some(cache_control.to_owned());
        keys.refresh().await.unwrap();
        assert_eq!(
            keys.status().next_refresh,
            Some(Duration::from_secs(expected)),
            "{cache_control}"
        );
    }
    assert_eq!(
        idp.not_modified.load(Ordering::SeqCst),
        4,
        "If-None-Match sent"
    );
    assert_eq!(keys.status().keys, 1);

    // A new document, a new ETag: read again.
    idp.publish(&[jwk(Algorithm::ES256, "k1"), jwk(Algorithm::RS256, "k2")]);
    *idp.etag.lock().unwrap() = Some("\"v2\"".to_owned());
    keys.refresh().await.unwrap();
    assert_eq!(keys.status().keys, 2);
}

#[tokio::test]
async fn a_max_stale_shorter_than_the_refresh_interval_brings_the_refresh_forward() {
    let (idp, base) = idp().await;
    idp.publish(&[jwk(Algorithm::ES256, "k1")]);
    let clock = ManualClock::starting_now();
    // Keys usable for 2 minutes after a fetch, fetched every 5 by default: without the rule
    // they would be refused (503) for 3 minutes of every 5 while the provider answers.
    let keys = remote(&base, &clock)
        .default_refresh(Duration::from_secs(300))
        .max_stale(Duration::from_secs(120))
        .load()
        .await
        .unwrap();
    assert_eq!(keys.status().next_refresh, Some(Duration::from_secs(60)));
    let usable = keys.status().usable_until.expect("loaded");
    assert_eq!(usable, clock_now(&clock) + 120);
    // A long max-age does not push it past half of max_stale either.
    *idp.cache_control.lock().unwrap() = Some("max-age=3600".to_owned());
    keys.refresh().await.unwrap();
    assert_eq!(keys.status().next_refresh, Some(Duration::from_secs(60)));
}

// ---------------------------------------------------------------------------------------------
// Tokens of another JOSE implementation (PyJWT; see testdata/interop/make.py)
// ---------------------------------------------------------------------------------------------

fn fixture(name: &str) -> String {
    let path = format!("{}/../testdata/interop/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[tokio::test]
async fn tokens_signed_by_pyjwt_verify_against_its_jwks_and_unusable_keys_are_skipped() {
    let (idp, base) = idp().await;
    *idp.jwks.lock().unwrap() = fixture("jwks.json");
    let fixture: Value = serde_json::from_str(&fixture("tokens.json")).unwrap();
    let issuer = fixture["issuer"].as_str().unwrap();
    let tokens = fixture["tokens"].as_object().unwrap();
    // Valid from 2023 to 2100.
    let clock = ManualClock::at(1_800_000_000);

    for default_algorithm in [None, Some(Algorithm::RS256)] {
        let mut builder = remote(&base, &clock);
        if let Some(alg) = default_algorithm {
            builder = builder.default_algorithm(alg);
        }
        let keys = builder.load().await.unwrap();
        let status = keys.status();
        // X25519 and RSA-OAEP (use: enc), secp256k1, an unknown key type, a symmetric key and,
        // without a default algorithm, the RSA key without `alg`.
        let usable = if default_algorithm.is_some() { 6 } else { 5 };
        assert_eq!(
            (status.keys, status.skipped),
            (usable, 11 - usable),
            "{status:?}"
        );
        let validator = JwtValidator::from_source(
            keys,
            JwtOptions::new()
                .issuer(issuer)
                .audience("api")
                .require_typ("at+jwt"),
        );
        let auth = AuthLayer::builder()
            .jwt(validator)
            .clock(clock.clone())
            .build()
            .unwrap();
        let server = serve(app(auth)).await;
        for (kid, token) in tokens {
            let token = token.as_str().unwrap();
            let reply = server.get("/read").bearer(token).send().await;
            if kid == "py-noalg" && default_algorithm.is_none() {
                reply.assert_error(401, "invalid_token");
                continue;
            }
            assert_eq!(reply.status, 200, "{kid}: {}", reply.text);
            assert_eq!(reply.json()["principal"], format!("sub-{kid}"), "{kid}");
            assert_eq!(reply.json()["scopes"], "read write", "{kid}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 2. Discovery
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn discovery_finds_the_jwks_uri_of_the_issuer() {
    let (idp, base) = idp().await;
    idp.publish(&[jwk(Algorithm::ES256, "k1")]);
    *idp.openid.lock().unwrap() =
        Some(json!({ "issuer": base, "jwks_uri": format!("{base}/jwks") }));
    let clock = ManualClock::starting_now();
    let keys = RemoteJwks::discover(base.clone())
        .clock(clock.clone())
        .load()
        .await
        .unwrap();
    assert_eq!(keys.status().jwks_uri, Some(format!("{base}/jwks")));
    let validator = JwtValidator::from_source(keys, JwtOptions::new().issuer(base.as_str()));
    let auth = AuthLayer::builder()
        .jwt(validator)
        .clock(clock)
        .build()
        .unwrap();
    let server = serve(app(auth)).await;
    assert_pass(
        &server,
        &token(Algorithm::ES256, "k1", &base, "discovered"),
        "discovered",
    )
    .await;
}

#[tokio::test]
async fn discovery_falls_back_to_rfc_8414_metadata() {
    let (idp, base) = idp().await;
    idp.publish(&[jwk(Algorithm::ES256, "k1")]);
    let issuer = format!("{base}/tenant");
    *idp.rfc8414.lock().unwrap() =
        Some(json!({ "issuer": issuer, "jwks_uri": format!("{base}/jwks") }));
    let keys = RemoteJwks::discover(issuer.clone()).load().await.unwrap();
    assert_eq!(keys.status().keys, 1);
}

#[tokio::test]
async fn a_discovery_document_naming_another_issuer_is_refused() {
    let (idp, base) = idp().await;
    idp.publish(&[jwk(Algorithm::ES256, "k1")]);
    *idp.openid.lock().unwrap() = Some(json!({
        "issuer": "https://attacker.example.test",
        "jwks_uri": format!("{base}/jwks"),
    }));
    let clock = ManualClock::starting_now();
    let keys = RemoteJwks::discover(base.clone())
        .clock(clock.clone())
        .build()
        .unwrap();
    let error = keys.ready().await.unwrap_err();
    assert!(error.to_string().contains("names the issuer"), "{error}");
    assert_eq!(idp.hits(), 0, "the attacker's jwks_uri was never fetched");
    let validator = JwtValidator::from_source(keys, JwtOptions::new().issuer(base.as_str()));
    let auth = AuthLayer::builder()
        .jwt(validator)
        .clock(clock)
        .build()
        .unwrap();
    let server = serve(app(auth)).await;
    let token = token(Algorithm::ES256, "k1", &base, "mixup");
    assert_refused(&server, &token, 503, "auth_unavailable").await;
}

#[tokio::test]
async fn a_discovered_jwks_uri_must_obey_the_url_policy() {
    let (idp, base) = idp().await;
    *idp.openid.lock().unwrap() =
        Some(json!({ "issuer": base, "jwks_uri": "http://keys.example.test/jwks" }));
    let error = RemoteJwks::discover(base.clone()).load().await.unwrap_err();
    assert!(error.to_string().contains("plain HTTP"), "{error}");
}

// ---------------------------------------------------------------------------------------------
// 3. Several issuers in one layer
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn two_issuers_with_their_own_keys_and_claim_mappings_in_one_layer() {
    let (keycloak, keycloak_base) = idp().await;
    let (entra, entra_base) = idp().await;
    keycloak.publish(&[jwk(Algorithm::ES256, "kc")]);
    entra.publish(&[jwk(Algorithm::RS256, "ms")]);
    let clock = ManualClock::starting_now();
    let kc_iss = "https://sso.example.test/realms/main";
    let ms_iss = "https://login.example.test/tid/v2.0";
    let validator = JwtValidator::issuers(
        [
            Issuer::with_source(
                kc_iss,
                remote(&keycloak_base, &clock).load().await.unwrap(),
                JwtOptions::new()
                    .audience("api")
                    .principal_claim("preferred_username")
                    .scope_claim("realm_access.roles"),
            ),
            Issuer::with_source(
                ms_iss,
                remote(&entra_base, &clock).load().await.unwrap(),
                JwtOptions::new()
                    .audience("api")
                    .principal_claim("oid")
                    .scope_claim("scp")
                    .scope_claim("roles")
                    .tenant_claim("tid"),
            ),
        ],
        TokenCacheConfig::default(),
    )
    .unwrap();
    let auth = AuthLayer::builder()
        .jwt(validator)
        .clock(clock.clone())
        .build()
        .unwrap();
    let server = serve(app(auth)).await;

    let kc_token = token_with(
        Algorithm::ES256,
        "kc",
        json!({ "iss": kc_iss, "aud": "api", "sub": "f81d4fae", "preferred_username": "alice",
                "scope": "openid", "realm_access": { "roles": ["read", "admin"] } }),
    );
    let reply = server.get("/read").bearer(&kc_token).send().await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.json()["principal"], "alice");
    assert_eq!(reply.json()["scopes"], "read admin");

    let ms_token = token_with(
        Algorithm::RS256,
        "ms",
        json!({ "iss": ms_iss, "aud": "api", "sub": "pairwise", "oid": "oid-bob",
                "scp": "read files.write", "roles": ["Reports.Read"], "tid": "tn_contoso" }),
    );
    let reply = server.get("/read").bearer(&ms_token).send().await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.json()["principal"], "oid-bob");
    assert_eq!(reply.json()["scopes"], "read files.write Reports.Read");
    assert_eq!(reply.json()["tenant"], "tn_contoso");

    // Each issuer's tokens verify only with its own keys: Keycloak's iss on a token signed
    // with Entra's key is refused, and asks Keycloak (not Entra) for the key, once.
    let crossed = token_with(
        Algorithm::RS256,
        "ms",
        json!({ "iss": kc_iss, "aud": "api", "sub": "s", "preferred_username": "mallory" }),
    );
    let (kc_hits, ms_hits) = (keycloak.hits(), entra.hits());
    assert_refused(&server, &crossed, 401, "invalid_token").await;
    assert_eq!((keycloak.hits(), entra.hits()), (kc_hits + 1, ms_hits));

    // An issuer configured nowhere: refused with no key looked up or fetched.
    let foreign = token_with(
        Algorithm::ES256,
        "unknown",
        json!({ "iss": "https://other.example.test", "aud": "api", "sub": "s" }),
    );
    clock.advance(Duration::from_secs(60));
    let reply = server.get("/me").bearer(&foreign).send().await;
    reply.assert_error(401, "invalid_token");
    assert_eq!(
        reply.json()["error"]["message"],
        "The token's issuer is not accepted"
    );
    assert_eq!((keycloak.hits(), entra.hits()), (kc_hits + 1, ms_hits));

    // The mapping's principal is required.
    let nameless = token_with(
        Algorithm::ES256,
        "kc",
        json!({ "iss": kc_iss, "aud": "api", "sub": "s" }),
    );
    assert_refused(&server, &nameless, 401, "invalid_token").await;
}

// ---------------------------------------------------------------------------------------------
// 4. Introspection
// ---------------------------------------------------------------------------------------------

async fn introspected(
    idp: &SharedIdp,
    base: &str,
    clock: &ManualClock,
    auth: ClientAuth,
) -> (Server, Introspection) {
    let _ = idp;
    let introspection = Introspection::builder(format!("{base}/introspect"), auth)
        .clock(clock.clone())
        .max_age(Duration::from_secs(120))
        .negative_ttl(Duration::from_secs(10))
        .timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    let layer = AuthLayer::builder()
        .opaque_tokens(introspection.clone())
        .clock(clock.clone())
        .build()
        .unwrap();
    (serve(app(layer)).await, introspection)
}

#[tokio::test]
async fn introspection_maps_the_answer_and_caches_it_under_a_keyed_hash() {
    let (idp, base) = idp().await;
    let clock = ManualClock::starting_now();
    let exp = clock_now(&clock) + 600;
    idp.answers.lock().unwrap().insert(
        "opaque-good".into(),
        json!({ "active": true, "sub": "carol", "scope": "read write", "exp": exp,
                "client_id": "mobile-app", "tenant_id": "tn_a" }),
    );
    // RFC 6749 §2.3.1: id and secret form-encoded, then Basic.
    *idp.client_auth.lock().unwrap() = Some(format!(
        "Basic {}",
        base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            "rs+1:s%C3%A9cret%3A%2F"
        )
    ));
    let (server, introspection) =
        introspected(&idp, &base, &clock, ClientAuth::basic("rs 1", "sécret:/")).await;

    let reply = server.get("/read").bearer("opaque-good").send().await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let body = reply.json();
    assert_eq!(body["principal"], "carol");
    assert_eq!(body["method"], "opaque_token");
    assert_eq!(body["scopes"], "read write");
    assert_eq!(body["tenant"], "tn_a");
    assert_eq!(body["client_id"], "mobile-app");
    assert!(
        idp.last_form
            .lock()
            .unwrap()
            .contains("token_type_hint=access_token")
    );
    let hits = || idp.introspections.load(Ordering::SeqCst);
    assert_eq!(hits(), 1);

    // A hit: not asked again until max_age (120 s) has passed.
    assert_eq!(status_of(&server, "opaque-good").await.0, 200);
    assert_eq!(hits(), 1);
    clock.advance(Duration::from_secs(121));
    assert_eq!(status_of(&server, "opaque-good").await.0, 200);
    assert_eq!(hits(), 2);

    // Inactive: 401, remembered briefly.
    assert_refused(&server, "opaque-bad", 401, "invalid_token").await;
    assert_refused(&server, "opaque-bad", 401, "invalid_token").await;
    assert_eq!(hits(), 3);
    clock.advance(Duration::from_secs(11));
    assert_refused(&server, "opaque-bad", 401, "invalid_token").await;
    assert_eq!(hits(), 4);

    // Only the exact token hits: a near miss is asked about, and is inactive.
    assert_refused(&server, "opaque-goo", 401, "invalid_token").await;
    assert_eq!(hits(), 5);

    // Past its exp, a cached token is asked about again.
    clock.set(exp + 1);
    idp.answers.lock().unwrap().clear();
    assert_refused(&server, "opaque-good", 401, "invalid_token").await;
    assert_eq!(introspection.stats().entries, 3);
    assert!(!format!("{introspection:?}").contains("cret"));
}

fn clock_now(clock: &ManualClock) -> u64 {
    use tower_api_auth::clock::Clock;
    clock.now()
}

#[tokio::test]
async fn an_introspection_answer_with_a_time_of_the_wrong_type_is_refused() {
    let (idp, base) = idp().await;
    let clock = ManualClock::starting_now();
    let now = clock_now(&clock);
    let cases = [
        // (token, exp, nbf, passes)
        ("exp-int", json!(now + 600), None, true),
        ("exp-float", json!(now as f64 + 600.5), None, true),
        ("exp-huge", json!(u64::MAX), None, true),
        ("exp-past-float", json!(now as f64 - 0.5), None, false),
        ("exp-negative", json!(-1), None, false),
        ("exp-string", json!((now + 600).to_string()), None, false),
        ("exp-null", Value::Null, None, false),
        ("exp-bool", json!(true), None, false),
        ("nbf-skewed", json!(now + 600), Some(json!(now + 30)), true),
        (
            "nbf-future",
            json!(now + 600),
            Some(json!(now + 3600)),
            false,
        ),
        (
            "nbf-string",
            json!(now + 600),
            Some(json!(now.to_string())),
            false,
        ),
        (
            "nbf-float",
            json!(now + 600),
            Some(json!(now as f64 - 1.5)),
            true,
        ),
    ];
    for (token, exp, nbf, _) in &cases {
        let mut answer = json!({ "active": true, "sub": *token, "exp": exp });
        if let Some(nbf) = nbf {
            answer["nbf"] = nbf.clone();
        }
        idp.answers.lock().unwrap().insert((*token).into(), answer);
    }
    let (server, _) = introspected(&idp, &base, &clock, ClientAuth::basic("rs", "secret")).await;
    for (token, _, _, passes) in cases {
        if passes {
            assert_pass(&server, token, token).await;
        } else {
            assert_refused(&server, token, 401, "invalid_token").await;
        }
    }
    // A fractional exp still ends the token: once it has passed, the cache does not keep it.
    clock.advance(Duration::from_secs(601));
    assert_refused(&server, "exp-float", 401, "invalid_token").await;
}

#[tokio::test]
async fn an_introspection_outage_is_503_uncached_and_recovers() {
    let (idp, base) = idp().await;
    let clock = ManualClock::starting_now();
    idp.answers
        .lock()
        .unwrap()
        .insert("opaque".into(), json!({ "active": true, "sub": "dave" }));
    let (server, _) = introspected(&idp, &base, &clock, ClientAuth::basic("rs", "secret")).await;

    idp.down.store(true, Ordering::SeqCst);
    assert_refused(&server, "opaque", 503, "auth_unavailable").await;
    assert_refused(&server, "opaque", 503, "auth_unavailable").await;
    assert_eq!(
        idp.introspections.load(Ordering::SeqCst),
        2,
        "failures are not cached"
    );

    // An endpoint refusing our client credentials is an outage too, not the token's fault.
    idp.down.store(false, Ordering::SeqCst);
    *idp.client_auth.lock().unwrap() = Some("Basic something-else".into());
    assert_refused(&server, "opaque", 503, "auth_unavailable").await;

    *idp.client_auth.lock().unwrap() = None;
    assert_pass(&server, "opaque", "dave").await;
}

#[tokio::test]
async fn introspection_authenticates_with_a_private_key_jwt() {
    let (idp, base) = idp().await;
    let clock = ManualClock::starting_now();
    idp.answers.lock().unwrap().insert(
        "opaque".into(),
        json!({ "active": true, "client_id": "svc" }),
    );
    let auth =
        ClientAuth::private_key_jwt("rs-client", Algorithm::ES256, &common::pem("ec256_private"))
            .unwrap()
            .with_kid("rs-key");
    let (server, _) = introspected(&idp, &base, &clock, auth).await;
    assert_pass(&server, "opaque", "svc").await;

    let form = idp.last_form.lock().unwrap().clone();
    let field = |name: &str| {
        form.split('&')
            .find_map(|pair| pair.strip_prefix(&format!("{name}=")))
            .unwrap_or_default()
            .to_owned()
    };
    assert_eq!(
        field("client_assertion_type"),
        "urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer"
    );
    assert_eq!(field("client_id"), "rs-client");
    let mut validation = jsonwebtoken::Validation::new(Algorithm::ES256);
    validation.set_audience(&[format!("{base}/introspect")]);
    validation.set_issuer(&["rs-client"]);
    let key = jsonwebtoken::DecodingKey::from_ec_pem(&common::pem("ec256_public")).unwrap();
    let assertion =
        jsonwebtoken::decode::<Value>(&field("client_assertion"), &key, &validation).unwrap();
    assert_eq!(assertion.header.kid.as_deref(), Some("rs-key"));
    assert_eq!(assertion.claims["sub"], "rs-client");
    assert!(
        assertion.claims["jti"]
            .as_str()
            .is_some_and(|j| j.len() >= 16)
    );
}

#[tokio::test]
async fn jwts_and_opaque_tokens_share_a_layer() {
    let (idp, base) = idp().await;
    idp.publish(&[jwk(Algorithm::ES256, "k1")]);
    idp.answers
        .lock()
        .unwrap()
        .insert("opaque".into(), json!({ "active": true, "sub": "erin" }));
    let clock = ManualClock::starting_now();
    let keys = remote(&base, &clock).load().await.unwrap();
    let introspection =
        Introspection::builder(format!("{base}/introspect"), ClientAuth::basic("rs", "s"))
            .clock(clock.clone())
            .build()
            .unwrap();
    let layer = AuthLayer::builder()
        .jwt(JwtValidator::from_source(
            keys,
            JwtOptions::new().issuer(ISS),
        ))
        .opaque_tokens(introspection)
        .clock(clock)
        .build()
        .unwrap();
    let server = serve(app(layer)).await;
    assert_pass(
        &server,
        &token(Algorithm::ES256, "k1", ISS, "frank"),
        "frank",
    )
    .await;
    assert_pass(&server, "opaque", "erin").await;
    assert_eq!(
        idp.introspections.load(Ordering::SeqCst),
        1,
        "the JWT was not introspected"
    );
    let reply = server.get("/me").bearer("opaque").send().await;
    assert_eq!(reply.json()["method"], "opaque_token");
}

// ---------------------------------------------------------------------------------------------
// 5. The configuration file
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_configuration_file_builds_a_resource_server_of_two_providers_and_introspection() {
    let (keycloak, keycloak_base) = idp().await;
    let (auth0, auth0_base) = idp().await;
    keycloak.publish(&[jwk(Algorithm::ES256, "kc")]);
    auth0.publish(&[jwk(Algorithm::RS256, "a0")]);
    *auth0.openid.lock().unwrap() =
        Some(json!({ "issuer": auth0_base, "jwks_uri": format!("{auth0_base}/jwks") }));
    auth0.answers.lock().unwrap().insert(
        "opaque".into(),
        json!({ "active": true, "sub": "grace", "scope": "read" }),
    );
    // The secret comes from the environment: cargo sets CARGO_PKG_NAME for test runs.
    let secret = std::env::var("CARGO_PKG_NAME").unwrap();
    *auth0.client_auth.lock().unwrap() = Some(format!(
        "Basic {}",
        base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            format!("rs:{secret}")
        )
    ));
    let toml = format!(
        r#"
        [jwt]
        token_cache_max_bytes = 1048576

        [[jwt.providers]]
        issuer = "https://sso.example.test/realms/main"
        jwks_url = "{keycloak_base}/jwks"
        audiences = ["api"]
        principal_claim = "preferred_username"
        scope_claims = ["realm_access.roles"]
        remote = {{ timeout_secs = 2, refetch_interval_secs = 60 }}

        [[jwt.providers]]
        issuer = "{auth0_base}"
        discovery = true
        audiences = ["api"]
        scope_claims = ["permissions"]
        tenant_claim = "https://example.test/org"

        [introspection]
        endpoint = "{auth0_base}/introspect"
        client_id = "rs"
        client_secret_env = "CARGO_PKG_NAME"
        max_age_secs = 60
        "#
    );
    let config: tower_api_auth::config::AuthConfig = toml::from_str(&toml).unwrap();
    let server = serve(app(config.load().await.unwrap())).await;

    let kc = token_with(
        Algorithm::ES256,
        "kc",
        json!({ "iss": "https://sso.example.test/realms/main", "aud": "api", "sub": "x",
                "preferred_username": "heidi", "realm_access": { "roles": ["read"] } }),
    );
    let reply = server.get("/read").bearer(&kc).send().await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.json()["principal"], "heidi");

    let a0 = token_with(
        Algorithm::RS256,
        "a0",
        json!({ "iss": auth0_base, "aud": "api", "sub": "auth0|ivan",
                "permissions": ["read", "write"], "https://example.test/org": "tn_acme" }),
    );
    let reply = server.get("/read").bearer(&a0).send().await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.json()["principal"], "auth0|ivan");
    assert_eq!(reply.json()["scopes"], "read write");
    assert_eq!(reply.json()["tenant"], "tn_acme");

    assert_pass(&server, "opaque", "grace").await;
}

#[tokio::test]
async fn a_configuration_that_cannot_load_its_keys_says_why() {
    let (idp, base) = idp().await;
    idp.down.store(true, Ordering::SeqCst);
    let config: tower_api_auth::config::AuthConfig = serde_json::from_value(json!({
        "jwt": { "jwks_url": format!("{base}/jwks"), "issuers": [ISS] }
    }))
    .unwrap();
    let error = config.load().await.unwrap_err().to_string();
    assert!(error.contains("HTTP 500"), "{error}");
    // build() does not wait: the layer answers 503 until the set loads.
    let server = serve(app(config.build().unwrap())).await;
    assert_refused(
        &server,
        &token(Algorithm::ES256, "k1", ISS, "x"),
        503,
        "auth_unavailable",
    )
    .await;

    for (bad, expected) in [
        (
            json!({ "jwt": { "jwks_url": "http://idp.example.test/jwks" } }),
            "plain HTTP",
        ),
        (
            json!({ "jwt": { "jwks_url": format!("{base}/jwks"), "keys": [
                { "alg": "HS256", "secret": "a-secret-of-at-least-thirty-two-bytes!!" }] } }),
            "not both",
        ),
        (
            json!({ "jwt": { "providers": [{ "jwks_url": format!("{base}/jwks") }] } }),
            "issuer",
        ),
        (
            json!({ "introspection": { "endpoint": format!("{base}/introspect"), "client_id": "rs",
                    "client_secret_env": "TOWER_API_AUTH_SURELY_UNSET" } }),
            "TOWER_API_AUTH_SURELY_UNSET",
        ),
    ] {
        let config: tower_api_auth::config::AuthConfig = serde_json::from_value(bad).unwrap();
        let error = config.build().unwrap_err().to_string();
        assert!(error.contains(expected), "{error}");
    }
}

// ---------------------------------------------------------------------------------------------
// Readiness of the remote parts
// ---------------------------------------------------------------------------------------------

/// `GET /ready` of a server whose only route is `readiness`: the status and the JSON body.
#[cfg(feature = "health")]
async fn ready(readiness: tower_api_auth::health::Readiness) -> (u16, Value) {
    let server = serve(Router::new().route_service("/ready", readiness)).await;
    let reply = server.get("/ready").send().await;
    (reply.status, serde_json::from_str(&reply.text).unwrap())
}

#[cfg(feature = "health")]
#[tokio::test]
async fn readiness_follows_the_remote_key_set_through_an_outage_past_max_stale() {
    use tower_api_auth::health::Readiness;
    let (idp, base) = idp().await;
    idp.publish(&[jwk(Algorithm::ES256, "k1")]);
    let clock = ManualClock::starting_now();
    let keys = remote(&base, &clock)
        .max_stale(Duration::from_secs(3600))
        .load()
        .await
        .unwrap();
    let readiness = || {
        Readiness::new()
            .cache_for(Duration::ZERO)
            .remote_jwks("idp_keys", &keys)
    };
    assert_eq!(
        ready(readiness()).await,
        (
            200,
            json!({"status": "ready", "checks": [{"name": "idp_keys", "status": "ready"}]})
        )
    );

    idp.down.store(true, Ordering::SeqCst);
    clock.advance(Duration::from_secs(1800));
    keys.refresh().await.unwrap_err();
    assert_eq!(
        ready(readiness()).await.0,
        200,
        "stale, but within max_stale: tokens pass"
    );

    clock.advance(Duration::from_secs(1800));
    let (status, body) = ready(readiness()).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["checks"][0]["status"], "unavailable", "{body}");
    let reason = body["checks"][0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("max_stale") && reason.contains("HTTP 500"),
        "{reason}"
    );

    idp.down.store(false, Ordering::SeqCst);
    keys.refresh().await.unwrap();
    assert_eq!(
        ready(readiness()).await.0,
        200,
        "recovered without a restart"
    );
}

#[cfg(feature = "health")]
#[tokio::test]
async fn readiness_probes_the_introspection_endpoint_without_leaking_the_client_secret() {
    use tower_api_auth::health::Readiness;
    let (idp, base) = idp().await;
    let clock = ManualClock::starting_now();
    let (_, introspection) = introspected(
        &idp,
        &base,
        &clock,
        ClientAuth::basic("rs", "hunter2-secret"),
    )
    .await;
    let readiness = || {
        Readiness::new()
            .cache_for(Duration::ZERO)
            .introspection("introspection", &introspection)
    };
    assert_eq!(ready(readiness()).await.0, 200);
    assert_eq!(idp.introspections.load(Ordering::SeqCst), 1, "one probe");
    assert!(
        idp.last_form.lock().unwrap().contains("token="),
        "the probe is an introspection request"
    );

    idp.down.store(true, Ordering::SeqCst);
    let (status, body) = ready(readiness()).await;
    assert_eq!(status, 503, "{body}");
    assert!(!body.to_string().contains("hunter2"), "{body}");

    // Refused client credentials make the endpoint unusable too.
    idp.down.store(false, Ordering::SeqCst);
    *idp.client_auth.lock().unwrap() = Some("Basic something-else".into());
    assert_eq!(ready(readiness()).await.0, 503);
    *idp.client_auth.lock().unwrap() = None;
    assert_eq!(ready(readiness()).await.0, 200);
    assert_eq!(introspection.stats().entries, 0, "probes are never cached");
}

/// A service that issues its own tokens and accepts an outside provider's, from one file: the
/// top level's keys verify the top level's issuers, each provider its own, and neither verifies
/// the other's.
#[tokio::test]
async fn one_file_holds_the_services_own_keys_beside_an_outside_provider() {
    const OWN: &str = "https://api.example.test";
    const SECRET: &str = "the-services-own-hs256-secret-of-32+-bytes";
    let (idp, base) = idp().await;
    idp.publish(&[jwk(Algorithm::ES256, "kc")]);
    let config: tower_api_auth::config::AuthConfig = serde_json::from_value(json!({ "jwt": {
        "issuers": [OWN],
        "audiences": ["api"],
        "keys": [{ "kid": "own", "alg": "HS256", "secret": SECRET }],
        "providers": [{ "issuer": ISS, "jwks_url": format!("{base}/jwks"), "audiences": ["api"] }],
    }}))
    .unwrap();
    let server = serve(app(config.load().await.unwrap())).await;
    let own = |iss: &str| {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some("own".into());
        let claims = json!({ "iss": iss, "aud": "api", "sub": "own_user", "exp": now() + 600 });
        sign(
            &header,
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
        )
    };
    assert_pass(&server, &own(OWN), "own_user").await;
    let outside = token_with(
        Algorithm::ES256,
        "kc",
        json!({ "iss": ISS, "aud": "api", "sub": "sso_user" }),
    );
    assert_pass(&server, &outside, "sso_user").await;
    // The service's own key cannot speak for the provider, nor the provider's for the service.
    assert_refused(&server, &own(ISS), 401, "invalid_token").await;
    let forged = token_with(
        Algorithm::ES256,
        "kc",
        json!({ "iss": OWN, "aud": "api", "sub": "sso_user" }),
    );
    assert_refused(&server, &forged, 401, "invalid_token").await;

    for (jwt, expected) in [
        (
            json!({ "keys": [{ "kid": "own", "alg": "HS256", "secret": SECRET }],
                    "providers": [{ "issuer": ISS, "jwks_url": format!("{base}/jwks") }] }),
            "top-level keys beside `providers` need `issuers`",
        ),
        (
            json!({ "issuers": [OWN],
                    "providers": [{ "issuer": ISS, "jwks_url": format!("{base}/jwks") }] }),
            "top-level `issuers` beside `providers` need top-level keys",
        ),
    ] {
        let config: tower_api_auth::config::AuthConfig =
            serde_json::from_value(json!({ "jwt": jwt })).unwrap();
        let error = config.load().await.unwrap_err().to_string();
        assert!(error.contains(expected), "{error}");
    }
}

/// A configuration file's remote parts join the app's readiness: each key set by its issuer, and
/// the introspection endpoint.
#[cfg(feature = "health")]
#[tokio::test]
async fn a_configuration_adds_its_key_sets_and_introspection_to_readiness() {
    use tower_api_auth::health::Readiness;
    let (idp, base) = idp().await;
    idp.publish(&[jwk(Algorithm::ES256, "kc")]);
    let config: tower_api_auth::config::AuthConfig = serde_json::from_value(json!({
        "jwt": { "providers": [{ "issuer": ISS, "jwks_url": format!("{base}/jwks") }] },
        "introspection": { "endpoint": format!("{base}/introspect"), "client_id": "rs",
                           "client_secret_env": "CARGO_PKG_NAME" },
    }))
    .unwrap();
    let app_checks = Readiness::new().check("database", || async { Ok(()) });
    let (builder, readiness) = config.builder_with_readiness(app_checks).unwrap();
    let _layer = builder.build().unwrap();
    let readiness = readiness.cache_for(Duration::ZERO);
    // The set loads in the background; until it has, readiness says so.
    for _ in 0..100 {
        if readiness.report().await.is_ready() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (status, body) = ready(readiness.clone()).await;
    assert_eq!(status, 200, "{body}");
    let names: Vec<&str> = body["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|check| check["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["database", &format!("jwks:{ISS}"), "introspection"]);

    idp.down.store(true, Ordering::SeqCst);
    let (status, body) = ready(readiness).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["checks"][2]["status"], "unavailable", "{body}");
}

/// Readiness is answered to anyone: a URL's user info and query (where some providers put a
/// key) never appear in it.
#[cfg(feature = "health")]
#[tokio::test]
async fn readiness_reasons_never_show_a_urls_credentials() {
    use tower_api_auth::health::Readiness;
    let (idp, base) = idp().await;
    idp.down.store(true, Ordering::SeqCst);
    let clock = ManualClock::starting_now();
    let with_secrets = base.replacen("http://", "http://reader:pw-hunter4@", 1);
    let keys = RemoteJwks::builder(format!("{with_secrets}/jwks?api_key=hunter5"))
        .clock(clock.clone())
        .timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    let _ = keys.ready().await;
    let introspection = Introspection::builder(
        format!("{base}/introspect?api_key=hunter6"),
        ClientAuth::basic("rs", "secret"),
    )
    .clock(clock.clone())
    .timeout(Duration::from_millis(500))
    .build()
    .unwrap();
    let readiness = Readiness::new()
        .remote_jwks("keys", &keys)
        .introspection("introspection", &introspection);
    let (status, body) = ready(readiness).await;
    assert_eq!(status, 503, "{body}");
    let text = body.to_string();
    assert!(
        text.contains("/jwks") && text.contains("/introspect"),
        "{text}"
    );
    for secret in ["hunter4", "hunter5", "hunter6", "reader"] {
        assert!(!text.contains(secret), "{secret} in {text}");
    }
}
