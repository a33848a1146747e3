//! The verified-token cache's safety, over real HTTP: a cache hit skips signature and claim work
//! but never the clock, revocation, tenant or scope rules; a token one byte different is verified
//! in full; replaced keys and `max_age` force re-verification; memory stays within `max_bytes`;
//! invalid tokens are never cached; and a disabled cache changes nothing but the cost.
//!
//! Full verifications are counted with a claims type whose `Deserialize` counts per `sub`: the
//! validator decodes custom claims only on the full path, once the signature and the registered
//! claims have passed, so the count is how many times a token was verified rather than answered
//! from the cache. Time comes from a `ManualClock` where it matters.
#![cfg(all(feature = "axum", any(feature = "aws-lc-rs", feature = "rust-crypto")))]

use tower_api_auth_tests as common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::Request;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::{Deserialize, Deserializer};
use serde_json::json;
use tower::ServiceExt as _;
use tower_api_auth::clock::{Clock as _, ManualClock, rfc3339};
use tower_api_auth::jwt::JwtOptions;
use tower_api_auth::{
    AuthLayer, Identity, JwtValidator, RequireScopesLayer, Tenant, error::ErrorFormat, jwt::JwtKey,
    jwt::JwtKeySet, jwt::TokenCacheConfig, revocation::MemoryRevocationStore,
};

use common::jwt::{claims, hmac_secret, hs256, sign, with};
use common::{HS256_SECRET, Server, now, serve};

// ---------------------------------------------------------------------------------------------
// Counting full verifications
// ---------------------------------------------------------------------------------------------

/// Full verifications so far, by `sub`. Each test uses its own subjects.
static VERIFIED: Mutex<Option<HashMap<String, usize>>> = Mutex::new(None);

/// Custom claims whose decoding — done only by a full verification — is counted.
#[derive(Debug)]
struct Counted;

impl<'de> Deserialize<'de> for Counted {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Sub {
            sub: String,
        }
        let Sub { sub } = Sub::deserialize(deserializer)?;
        let mut counts = VERIFIED.lock().unwrap_or_else(PoisonError::into_inner);
        *counts.get_or_insert_default().entry(sub).or_default() += 1;
        Ok(Counted)
    }
}

/// How many times a token of `sub` was verified in full.
fn verifications(sub: &str) -> usize {
    let counts = VERIFIED.lock().unwrap_or_else(PoisonError::into_inner);
    counts
        .as_ref()
        .and_then(|c| c.get(sub))
        .copied()
        .unwrap_or(0)
}

/// An HS256 validator (the default cache) that counts full verifications.
fn counting() -> JwtValidator {
    counting_with(JwtOptions::new())
}

/// An HS256 validator with `options` that counts full verifications.
fn counting_with(options: JwtOptions) -> JwtValidator {
    JwtValidator::hs256(HS256_SECRET, options.claims::<Counted>()).expect("hs256 key")
}

fn cache_config(max_bytes: u64, max_age: Duration) -> TokenCacheConfig {
    TokenCacheConfig::default()
        .max_bytes(max_bytes)
        .max_age(max_age)
}

// ---------------------------------------------------------------------------------------------
// Servers
// ---------------------------------------------------------------------------------------------

async fn me(identity: Identity) -> axum::Json<Identity> {
    axum::Json(identity)
}

async fn tenant(tenant: Tenant) -> String {
    tenant.to_string()
}

fn router(auth: AuthLayer) -> Router {
    Router::new()
        .route("/me", get(me))
        .route("/tenant", get(tenant))
        .route(
            "/read",
            get(me).route_layer(RequireScopesLayer::all(["conversations:read"])),
        )
        .layer(auth)
}

/// Serves the test routes with (the layer's clone of) `validator`.
async fn server(validator: &JwtValidator) -> Server {
    serve(router(
        AuthLayer::builder().jwt(validator.clone()).build().unwrap(),
    ))
    .await
}

/// Serves the test routes with `validator`, on `clock`'s time.
async fn server_on(validator: &JwtValidator, clock: &ManualClock) -> Server {
    let auth = AuthLayer::builder()
        .jwt(validator.clone())
        .clock(clock.clone())
        .build()
        .unwrap();
    serve(router(auth)).await
}

/// Asserts a 200 for `token` on `/me` whose principal is `sub`.
async fn assert_ok(server: &Server, token: &str, sub: &str) {
    let reply = server.get("/me").bearer(token).send().await;
    assert_eq!(reply.status, 200, "{sub}: {}", reply.text);
    assert_eq!(reply.json()["principal"], sub);
}

/// Asserts a 401 `invalid_token` for `token` on `/me`.
async fn assert_invalid(server: &Server, token: &str) {
    let reply = server.get("/me").bearer(token).send().await;
    reply.assert_error(401, "invalid_token");
    reply.assert_bearer_error("invalid_token");
}

fn entries(validator: &JwtValidator) -> usize {
    validator.cache_stats().expect("the cache is on").entries
}

// ---------------------------------------------------------------------------------------------
// Hits
// ---------------------------------------------------------------------------------------------

#[test]
fn the_cache_is_on_by_default_and_follows_its_settings() {
    let validator = JwtValidator::hs256(HS256_SECRET, JwtOptions::new()).unwrap();
    let stats = validator.cache_stats().expect("on by default");
    assert_eq!((stats.entries, stats.bytes), (0, 0));
    assert_eq!(stats.max_bytes, TokenCacheConfig::default().max_bytes);
    // The setting survives the options set after it.
    let off = JwtOptions::new()
        .token_cache(TokenCacheConfig::disabled())
        .issuer("iss")
        .leeway(Duration::from_secs(5));
    assert_eq!(
        JwtValidator::hs256(HS256_SECRET, off)
            .unwrap()
            .cache_stats(),
        None
    );
    let small = JwtOptions::new()
        .token_cache(cache_config(64 * 1024, Duration::from_secs(60)))
        .audience("api");
    let small = JwtValidator::hs256(HS256_SECRET, small).unwrap();
    assert_eq!(small.cache_stats().expect("on").max_bytes, 64 * 1024);
    // A zero budget is no cache.
    let zero = JwtOptions::new().token_cache(cache_config(0, Duration::from_secs(60)));
    assert_eq!(
        JwtValidator::hs256(HS256_SECRET, zero)
            .unwrap()
            .cache_stats(),
        None
    );
}

#[tokio::test]
async fn a_repeated_token_is_verified_once() {
    let validator = counting();
    let server = server(&validator).await;
    let token = hs256(&claims("hit_user"));
    for _ in 0..5 {
        assert_ok(&server, &token, "hit_user").await;
    }
    assert_eq!(verifications("hit_user"), 1, "the repeats were cache hits");
    assert_eq!(entries(&validator), 1);
}

#[tokio::test]
async fn validators_with_other_settings_never_share_entries() {
    // One key, two validators: a token cached by the lenient validator is still refused by the
    // strict one (validators built apart share no cache).
    let lenient = counting();
    let strict = counting_with(JwtOptions::new().audience("api"));
    let lenient_server = server(&lenient).await;
    let strict_server = server(&strict).await;
    let token = hs256(&claims("settings_user"));
    assert_ok(&lenient_server, &token, "settings_user").await;
    assert_ok(&lenient_server, &token, "settings_user").await;
    assert_invalid(&strict_server, &token).await;
    assert_eq!(entries(&lenient), 1);
    assert_eq!(entries(&strict), 0);
}

// ---------------------------------------------------------------------------------------------
// What a hit never skips
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_session_revoked_after_caching_is_refused() {
    let revoked = Arc::new(MemoryRevocationStore::new());
    let validator = counting();
    let auth = AuthLayer::builder()
        .jwt(validator.clone())
        .revocation(Arc::clone(&revoked))
        .build()
        .unwrap();
    let server = serve(router(auth)).await;
    let exp = now() + 3600;
    let by_sid = hs256(&with(
        claims("revoked_sid"),
        json!({ "sid": "s-cached", "jti": "t-1", "exp": exp }),
    ));
    let by_jti = hs256(&with(
        claims("revoked_jti"),
        json!({ "sid": "s-other", "jti": "t-cached", "exp": exp }),
    ));
    for (token, sub) in [(&by_sid, "revoked_sid"), (&by_jti, "revoked_jti")] {
        assert_ok(&server, token, sub).await;
        assert_ok(&server, token, sub).await;
    }
    assert_eq!(entries(&validator), 2);

    revoked.insert_session("s-cached", exp);
    revoked.insert_token("t-cached", exp);
    for (token, sub) in [(&by_sid, "revoked_sid"), (&by_jti, "revoked_jti")] {
        let reply = server.get("/me").bearer(token).send().await;
        reply.assert_error(401, "token_revoked");
        reply.assert_bearer_error("invalid_token");
        common::assert_no_leak(&reply, token);
        // Refused by the revocation check on the cache hit, not by a new verification.
        assert_eq!(verifications(sub), 1, "{sub}");
    }
    // Another session of the same subject is untouched.
    let fresh = hs256(&with(
        claims("revoked_sid"),
        json!({ "sid": "s-new", "jti": "t-2" }),
    ));
    assert_ok(&server, &fresh, "revoked_sid").await;
}

#[tokio::test]
async fn a_cached_token_that_expires_is_refused() {
    let validator = counting_with(JwtOptions::new().leeway(Duration::ZERO));
    let clock = ManualClock::starting_now();
    let server = server_on(&validator, &clock).await;
    let issued = clock.now();
    let exp = issued + 2;
    let token = hs256(&json!({ "sub": "expiring_user", "iat": issued, "exp": exp }));
    assert_ok(&server, &token, "expiring_user").await;
    assert_ok(&server, &token, "expiring_user").await;
    assert_eq!(entries(&validator), 1);

    clock.advance(Duration::from_secs(1));
    assert_ok(&server, &token, "expiring_user").await;
    clock.advance(Duration::from_secs(1));
    let reply = server.get("/me").bearer(&token).send().await;
    let error = reply.assert_error(401, "token_expired");
    assert_eq!(error["details"]["expired_at"], rfc3339(exp).as_str());
    reply.assert_challenge(Some(
        r#"Bearer error="invalid_token", error_description="The access token has expired""#,
    ));
    common::assert_no_leak(&reply, &token);
    // The stale entry is dropped and the expired token not cached again.
    assert_eq!(entries(&validator), 0);
    server
        .get("/me")
        .bearer(&token)
        .send()
        .await
        .assert_error(401, "token_expired");
    // Decoded once, on the way in: the hit a second before expiry came from the cache, and the
    // full verifications after expiry stop at `exp`, before the application's claims are read.
    assert_eq!(verifications("expiring_user"), 1);
}

#[test]
fn the_rfc3339_helper_agrees_with_the_fixture() {
    assert_eq!(rfc3339(common::PAST), common::PAST_RFC3339);
    assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
    assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
}

/// `token` with the character at `i` replaced by another base64url character.
fn one_char_changed(token: &str, i: usize) -> String {
    let mut bytes = token.as_bytes().to_vec();
    bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
    String::from_utf8(bytes).expect("ascii")
}

#[tokio::test]
async fn a_token_one_character_off_a_cached_one_is_verified_in_full() {
    let validator = counting();
    let server = server(&validator).await;
    let token = hs256(&with(
        claims("one_off_user"),
        json!({ "scope": "conversations:read", "tenant_id": "tn_a" }),
    ));
    assert_ok(&server, &token, "one_off_user").await;

    // Every position: header, payload, signature, the last signature character (whose low bits
    // are padding) included; the dots are left alone.
    let mut tried = 0;
    for (i, c) in token.char_indices() {
        if c == '.' {
            continue;
        }
        let changed = one_char_changed(&token, i);
        assert_ne!(changed, token);
        assert_invalid(&server, &changed).await;
        tried += 1;
    }
    assert!(tried > 100, "{tried}");
    // A token cut short or extended by one character is another token too.
    assert_invalid(&server, &token[..token.len() - 1]).await;
    assert_invalid(&server, &format!("{token}A")).await;

    // The original still passes, from the cache; none of the others was cached.
    assert_ok(&server, &token, "one_off_user").await;
    assert_eq!(verifications("one_off_user"), 1);
    assert_eq!(entries(&validator), 1);
}

#[tokio::test]
async fn only_the_exact_bytes_of_a_cached_token_skip_the_syntax_check() {
    let validator = counting();
    let server = server(&validator).await;
    let token = hs256(&claims("syntax_user"));
    assert_ok(&server, &token, "syntax_user").await;
    // Characters no b64token has, anywhere in an otherwise cached token: a malformed request (400),
    // as on the first request, never a cache answer.
    for (i, bad) in [(0, b'!'), (token.len() / 2, b'%'), (token.len() - 1, b',')] {
        let mut bytes = token.clone().into_bytes();
        bytes[i] = bad;
        let changed = String::from_utf8(bytes).expect("ascii");
        let reply = server.get("/me").bearer(&changed).send().await;
        reply.assert_error(400, "invalid_request");
        reply.assert_bearer_error("invalid_request");
    }
    // Padding is b64token syntax, but not the cached bytes: verified in full, and refused.
    assert_invalid(&server, &format!("{token}=")).await;
    assert_ok(&server, &token, "syntax_user").await;
    assert_eq!(verifications("syntax_user"), 1);
}

#[tokio::test]
async fn layers_sharing_a_validator_answer_hits_in_their_own_error_format() {
    let validator = counting();
    let nested = server(&validator).await;
    let flat = serve(router(
        AuthLayer::builder()
            .jwt(validator.clone())
            .error_format(ErrorFormat::Flat)
            .build()
            .unwrap(),
    ))
    .await;
    let token = hs256(&with(claims("format_user"), json!({ "scope": "other" })));
    // The first layer verifies and caches the token with the identity it built…
    assert_ok(&nested, &token, "format_user").await;
    let reply = nested.get("/read").bearer(&token).send().await;
    reply.assert_error(403, "insufficient_scope");
    // …and the second, answering from the same cache, still renders its own format.
    let reply = flat.get("/read").bearer(&token).send().await;
    assert_eq!(reply.status, 403, "{}", reply.text);
    assert_eq!(
        reply.json()["error"],
        "insufficient_scope",
        "{}",
        reply.text
    );
    assert!(reply.json()["message"].is_string(), "{}", reply.text);
    assert_ok(&flat, &token, "format_user").await;
    assert_eq!(verifications("format_user"), 1, "one cache for both layers");
}

#[tokio::test]
async fn tenant_rules_apply_to_cache_hits() {
    let validator = counting();
    let server = server(&validator).await;
    let token = hs256(&with(
        claims("tenant_user"),
        json!({ "tenant_id": ["tn_a", "tn_b"] }),
    ));
    let reply = server
        .get("/tenant")
        .bearer(&token)
        .header("x-tenant-id", "tn_a")
        .send()
        .await;
    assert_eq!((reply.status, reply.text.as_str()), (200, "tn_a"));
    // The same cached token, another tenant it names: allowed, and that tenant is the one used.
    let reply = server
        .get("/tenant")
        .bearer(&token)
        .header("x-tenant-id", "tn_b")
        .send()
        .await;
    assert_eq!((reply.status, reply.text.as_str()), (200, "tn_b"));
    // A tenant it does not name.
    let reply = server
        .get("/tenant")
        .bearer(&token)
        .header("x-tenant-id", "tn_c")
        .send()
        .await;
    reply.assert_error(403, "tenant_forbidden");
    reply.assert_bearer_error("insufficient_scope");
    // No header, several tenants: none picked.
    server
        .get("/tenant")
        .bearer(&token)
        .send()
        .await
        .assert_error(400, "tenant_required");
    // And back: the refusals left nothing behind.
    let reply = server
        .get("/tenant")
        .bearer(&token)
        .header("x-tenant-id", "tn_a")
        .send()
        .await;
    assert_eq!((reply.status, reply.text.as_str()), (200, "tn_a"));
    assert_eq!(verifications("tenant_user"), 1);
}

#[tokio::test]
async fn scope_rules_apply_to_cache_hits() {
    let validator = counting();
    let server = server(&validator).await;
    let without = hs256(&with(claims("scope_user"), json!({ "scope": "other" })));
    let with_scope = hs256(&with(
        claims("scope_user"),
        json!({ "scope": "other conversations:read", "jti": "with-scope" }),
    ));
    // Cached through a route without scope rules first.
    assert_ok(&server, &without, "scope_user").await;
    assert_ok(&server, &with_scope, "scope_user").await;
    assert_eq!(verifications("scope_user"), 2);
    for _ in 0..2 {
        let reply = server.get("/read").bearer(&without).send().await;
        let error = reply.assert_error(403, "insufficient_scope");
        assert_eq!(error["details"]["required_scopes"], "conversations:read");
        let reply = server.get("/read").bearer(&with_scope).send().await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        assert_eq!(
            reply.json()["scopes"],
            json!(["other", "conversations:read"])
        );
    }
    assert_eq!(verifications("scope_user"), 2, "all hits");
}

// ---------------------------------------------------------------------------------------------
// Re-verification: max_age and replaced keys
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn entries_older_than_max_age_are_verified_again() {
    let short = counting_with(
        JwtOptions::new().token_cache(cache_config(1024 * 1024, Duration::from_secs(1))),
    );
    // The control: the default max age (5 minutes) over the same timeline.
    let long = counting();
    let clock = ManualClock::starting_now();
    let short_server = server_on(&short, &clock).await;
    let long_server = server_on(&long, &clock).await;
    let short_token = hs256(&claims("max_age_short"));
    let long_token = hs256(&claims("max_age_long"));

    assert_ok(&short_server, &short_token, "max_age_short").await;
    assert_ok(&short_server, &short_token, "max_age_short").await;
    assert_ok(&long_server, &long_token, "max_age_long").await;
    assert_ok(&long_server, &long_token, "max_age_long").await;
    assert_eq!(verifications("max_age_short"), 1, "a hit within max_age");
    assert_eq!(verifications("max_age_long"), 1);

    clock.advance(Duration::from_secs(1));
    assert_ok(&short_server, &short_token, "max_age_short").await;
    assert_ok(&long_server, &long_token, "max_age_long").await;
    assert_eq!(
        verifications("max_age_short"),
        2,
        "verified again after max_age, though the token is valid for an hour"
    );
    assert_eq!(verifications("max_age_long"), 1);
    // Re-verified and cached again: one entry, not two.
    assert_eq!(entries(&short), 1);
    assert_ok(&short_server, &short_token, "max_age_short").await;
    assert_eq!(verifications("max_age_short"), 2);

    // A cached entry still within max_age stops answering as soon as the keys no longer verify it.
    short.key_handle().replace(JwtKeySet::new());
    assert_eq!(entries(&short), 0);
    assert_invalid(&short_server, &short_token).await;
    assert_eq!(entries(&short), 0);
}

fn hmac_key(secret: &[u8], kid: &str) -> JwtKey {
    JwtKey::hmac(Algorithm::HS256, secret)
        .expect("hmac key")
        .with_kid(kid)
}

fn key_set(keys: impl IntoIterator<Item = JwtKey>) -> JwtKeySet {
    let mut set = JwtKeySet::new();
    for key in keys {
        set.insert(key).expect("distinct kids");
    }
    set
}

fn signed_by(secret: &[u8], kid: &str, sub: &str) -> String {
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(kid.to_owned());
    sign(&header, &claims(sub), &EncodingKey::from_secret(secret))
}

/// Rotation from key `old` to key `new` through the test's clone of the validator, which must
/// reach the layer's copy, with the cache set by `cache`.
async fn rotate_keys(cache: TokenCacheConfig, prefix: &str) {
    let old_secret = HS256_SECRET;
    let new_secret = hmac_secret(40);
    let validator = JwtValidator::new(
        key_set([hmac_key(old_secret, "old")]),
        JwtOptions::new().claims::<Counted>().token_cache(cache),
    );
    let cached = validator.cache_stats().is_some();
    let server = server(&validator).await;
    let old_sub = format!("{prefix}_old");
    let new_sub = format!("{prefix}_new");
    let old = signed_by(old_secret, "old", &old_sub);
    let new = signed_by(&new_secret, "new", &new_sub);

    assert_ok(&server, &old, &old_sub).await;
    assert_ok(&server, &old, &old_sub).await;
    assert_invalid(&server, &new).await;

    // Both keys during the overlap: the old token re-verified once, the new one accepted.
    validator.key_handle().replace(key_set([
        hmac_key(old_secret, "old"),
        hmac_key(&new_secret, "new"),
    ]));
    assert_ok(&server, &old, &old_sub).await;
    assert_ok(&server, &new, &new_sub).await;
    assert_ok(&server, &new, &new_sub).await;
    if cached {
        assert_eq!(
            verifications(&old_sub),
            2,
            "verified again under the new set"
        );
        assert_eq!(verifications(&new_sub), 1);
    } else {
        assert_eq!(verifications(&old_sub), 3);
        assert_eq!(verifications(&new_sub), 2);
    }

    // The old key removed: its cached token is refused from the next request.
    validator
        .key_handle()
        .replace(key_set([hmac_key(&new_secret, "new")]));
    assert_invalid(&server, &old).await;
    assert_invalid(&server, &old).await;
    assert_ok(&server, &new, &new_sub).await;
    // And a token of a key that was never trusted.
    assert_invalid(&server, &signed_by(&hmac_secret(48), "new", &new_sub)).await;
    if let Some(stats) = validator.cache_stats() {
        assert_eq!(stats.entries, 1, "only the new token");
    }
}

#[tokio::test]
async fn replaced_keys_reach_the_layers_copy_and_its_cache() {
    rotate_keys(TokenCacheConfig::default(), "rotation").await;
}

#[tokio::test]
async fn replaced_keys_reach_the_layers_copy_without_a_cache() {
    rotate_keys(TokenCacheConfig::disabled(), "rotation_uncached").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_request_after_a_key_replacement_returns_passes_with_a_removed_key() {
    use std::sync::atomic::{AtomicBool, Ordering};

    let old_secret = hmac_secret(56);
    let validator = JwtValidator::new(key_set([hmac_key(&old_secret, "old")]), JwtOptions::new());
    let server = server(&validator).await;
    let token = Arc::new(signed_by(&old_secret, "old", "race_user"));
    assert_ok(&server, &token, "race_user").await;

    let replaced = Arc::new(AtomicBool::new(false));
    let mut clients = Vec::new();
    for _ in 0..8 {
        let (server, token, replaced) = (server.clone(), Arc::clone(&token), Arc::clone(&replaced));
        clients.push(tokio::spawn(async move {
            let mut after = 0;
            for _ in 0..200 {
                let sent_after = replaced.load(Ordering::SeqCst);
                let status = server.get("/me").bearer(&token).send().await.status;
                if sent_after {
                    assert_eq!(status, 401, "a removed key passed after the replacement");
                    after += 1;
                } else {
                    assert!(status == 200 || status == 401, "{status}");
                }
                if after >= 20 {
                    break;
                }
            }
            after
        }));
    }
    // Let the clients get going before the keys change under them.
    tokio::time::sleep(Duration::from_millis(30)).await;
    validator
        .key_handle()
        .replace(key_set([hmac_key(HS256_SECRET, "new")]));
    replaced.store(true, Ordering::SeqCst);
    let mut after = 0;
    for client in clients {
        after += client.await.expect("client");
    }
    assert!(after > 0, "no request was sent after the replacement");
    assert_invalid(&server, &token).await;
}

// ---------------------------------------------------------------------------------------------
// Memory
// ---------------------------------------------------------------------------------------------

/// `GET /me` with `token`, through the router in-process; returns the status.
async fn call(app: &Router, token: &str) -> u16 {
    let request = Request::get("/me")
        .header("authorization", format!("Bearer {token}"))
        .body(Body::empty())
        .expect("request");
    let response = app.clone().oneshot(request).await.expect("infallible");
    response.status().as_u16()
}

#[tokio::test]
async fn eviction_keeps_the_cache_within_max_bytes() {
    const MAX_BYTES: u64 = 64 * 1024;
    const TOKENS: usize = 3000;
    // Past this many distinct tokens the cache is full (each entry weighs 400 bytes or so).
    const FULL: usize = TOKENS / 3;
    let validator = counting_with(
        JwtOptions::new().token_cache(cache_config(MAX_BYTES, Duration::from_secs(300))),
    );
    let app = router(AuthLayer::builder().jwt(validator.clone()).build().unwrap());
    // A token in regular use, first seen once the cache is full of one-time tokens.
    let regular = hs256(&claims("evict_regular"));

    let mut max_entries = 0;
    let mut tokens = Vec::with_capacity(TOKENS);
    for i in 0..TOKENS {
        let token = hs256(&claims(&format!("evict_{i}")));
        assert_eq!(call(&app, &token).await, 200, "token {i}");
        tokens.push(token);
        if i >= FULL {
            assert_eq!(call(&app, &regular).await, 200);
        }
        let stats = validator.cache_stats().expect("on");
        assert!(stats.bytes <= MAX_BYTES, "after {i}: {stats:?}");
        max_entries = max_entries.max(stats.entries);
    }
    let stats = validator.cache_stats().expect("on");
    assert_eq!(stats.max_bytes, MAX_BYTES);
    assert!(
        stats.entries > 10,
        "the cache holds next to nothing: {stats:?}"
    );
    assert!(stats.bytes > MAX_BYTES / 2, "{stats:?}");
    assert!(max_entries < TOKENS / 10, "{max_entries} entries held");
    // The flood of one-time tokens did not displace the token in regular use (quick_cache's
    // S3-FIFO admission keeps them in a small probationary queue once the cache is full).
    let regular_verifications = verifications("evict_regular");
    assert!(
        regular_verifications <= 2,
        "the token in regular use was verified {regular_verifications} times"
    );
    // An evicted token is simply verified again (and cached again, within the bound).
    let evicted = TOKENS / 2;
    assert_eq!(verifications(&format!("evict_{evicted}")), 1);
    assert_eq!(call(&app, &tokens[evicted]).await, 200);
    assert_eq!(verifications(&format!("evict_{evicted}")), 2);
    assert_eq!(call(&app, &tokens[evicted]).await, 200);
    assert_eq!(verifications(&format!("evict_{evicted}")), 2);
    assert!(validator.cache_stats().expect("on").bytes <= MAX_BYTES);
}

#[tokio::test]
async fn invalid_tokens_are_never_cached() {
    let validator = counting_with(JwtOptions::new().audience("api"));
    let server = server(&validator).await;
    let good = with(claims("never_cached"), json!({ "aud": "api" }));
    let wrong_key = EncodingKey::from_secret(&hmac_secret(32));
    let mut refused = 0;
    for i in 0..60 {
        let sub = format!("never_cached_{i}");
        let mine = with(good.clone(), json!({ "sub": sub }));
        // A bad signature.
        let token = sign(&Header::new(Algorithm::HS256), &mine, &wrong_key);
        assert_invalid(&server, &token).await;
        // Correctly signed, but for another audience, or without a subject.
        assert_invalid(
            &server,
            &hs256(&with(mine.clone(), json!({ "aud": "other" }))),
        )
        .await;
        assert_invalid(&server, &hs256(&with(mine.clone(), json!({ "sub": null })))).await;
        // Correctly signed and expired, or not yet valid.
        let now = now();
        let expired = with(mine.clone(), json!({ "iat": now - 900, "exp": now - 600 }));
        server
            .get("/me")
            .bearer(&hs256(&expired))
            .send()
            .await
            .assert_error(401, "token_expired");
        let early = with(mine.clone(), json!({ "nbf": now + 600 }));
        server
            .get("/me")
            .bearer(&hs256(&early))
            .send()
            .await
            .assert_error(401, "token_not_yet_valid");
        // Garbage.
        assert_invalid(&server, &format!("e30.e30.{i}")).await;
        refused += 6;
    }
    assert_eq!(refused, 360);
    let stats = validator.cache_stats().expect("on");
    assert_eq!((stats.entries, stats.bytes), (0, 0), "{stats:?}");
    // A valid one is.
    assert_ok(&server, &hs256(&good), "never_cached").await;
    assert_eq!(entries(&validator), 1);
}

// ---------------------------------------------------------------------------------------------
// Disabled
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_disabled_cache_verifies_every_request() {
    let validator = counting_with(JwtOptions::new().token_cache(TokenCacheConfig::disabled()));
    assert_eq!(validator.cache_stats(), None);
    let revoked = Arc::new(MemoryRevocationStore::new());
    let auth = AuthLayer::builder()
        .jwt(validator.clone())
        .revocation(Arc::clone(&revoked))
        .build()
        .unwrap();
    let server = serve(router(auth)).await;

    let token = hs256(&with(
        claims("uncached_user"),
        json!({ "sid": "s-uncached", "tenant_id": "tn_a", "scope": "conversations:read" }),
    ));
    for _ in 0..3 {
        assert_ok(&server, &token, "uncached_user").await;
    }
    assert_eq!(verifications("uncached_user"), 3, "no hits without a cache");
    let reply = server.get("/read").bearer(&token).send().await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    server
        .get("/me")
        .bearer(&token)
        .header("x-tenant-id", "tn_b")
        .send()
        .await
        .assert_error(403, "tenant_forbidden");
    let expired = hs256(&json!({ "sub": "u", "exp": common::PAST }));
    let error = server
        .get("/me")
        .bearer(&expired)
        .send()
        .await
        .assert_error(401, "token_expired");
    assert_eq!(error["details"]["expired_at"], common::PAST_RFC3339);
    let mut forged: Vec<u8> = token.clone().into_bytes();
    let last = forged.len() - 2;
    forged[last] = if forged[last] == b'A' { b'B' } else { b'A' };
    assert_invalid(&server, &String::from_utf8(forged).unwrap()).await;

    revoked.insert_session("s-uncached", now() + 3600);
    server
        .get("/me")
        .bearer(&token)
        .send()
        .await
        .assert_error(401, "token_revoked");
    assert_eq!(validator.cache_stats(), None);
}

/// A cached token whose `nbf` lies ahead once the host clock steps back (NTP) is refused as not
/// yet valid, as a full verification would refuse it: a hit rechecks the start too.
#[tokio::test]
async fn a_cached_token_is_refused_when_the_clock_steps_back_before_its_start() {
    let validator = counting_with(JwtOptions::new().leeway(Duration::from_secs(5)));
    let clock = ManualClock::starting_now();
    let server = server_on(&validator, &clock).await;
    let start = clock.now();
    let token = hs256(&json!({ "sub": "rewind_user", "nbf": start, "exp": start + 3600 }));
    assert_ok(&server, &token, "rewind_user").await;
    assert_ok(&server, &token, "rewind_user").await;
    assert_eq!(verifications("rewind_user"), 1, "the second was a hit");
    // Within the leeway: still fine.
    clock.rewind(Duration::from_secs(5));
    assert_ok(&server, &token, "rewind_user").await;
    // Beyond it: refused, though the entry is still in the cache.
    clock.rewind(Duration::from_secs(1));
    server
        .get("/me")
        .bearer(&token)
        .send()
        .await
        .assert_error(401, "token_not_yet_valid");
    clock.advance(Duration::from_secs(6));
    assert_ok(&server, &token, "rewind_user").await;
    assert_eq!(
        verifications("rewind_user"),
        1,
        "answered from the cache again"
    );
}

/// `KeyHandle::update` (what a refreshed remote key set uses) keeps the cached tokens of the keys
/// that stay and drops those of a removed key: its token is refused from the next request.
#[tokio::test]
async fn an_updated_key_set_drops_only_the_cached_tokens_of_removed_keys() {
    let kept_secret = hmac_secret(40);
    let removed_secret = hmac_secret(48);
    let validator = JwtValidator::new(
        key_set([
            hmac_key(&kept_secret, "kept"),
            hmac_key(&removed_secret, "removed"),
        ]),
        JwtOptions::new().claims::<Counted>(),
    );
    let server = server(&validator).await;
    let kept = signed_by(&kept_secret, "kept", "update_kept");
    let removed = signed_by(&removed_secret, "removed", "update_removed");
    for (token, sub) in [(&kept, "update_kept"), (&removed, "update_removed")] {
        assert_ok(&server, token, sub).await;
        assert_ok(&server, token, sub).await;
    }
    assert_eq!(entries(&validator), 2);

    assert!(
        validator
            .key_handle()
            .update(key_set([hmac_key(&kept_secret, "kept")]))
    );
    assert_invalid(&server, &removed).await;
    assert_ok(&server, &kept, "update_kept").await;
    assert_eq!(
        verifications("update_kept"),
        1,
        "the kept key's token stayed cached"
    );
    assert_eq!(entries(&validator), 1);
    // The same set again changes nothing.
    assert!(
        !validator
            .key_handle()
            .update(key_set([hmac_key(&kept_secret, "kept")]))
    );
}
