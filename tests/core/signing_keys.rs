//! Rotating signing keys: publish before sign, old keys kept until their last token expires,
//! validators following rotations, scheduled and on-demand rotation, instances agreeing through
//! one store, sealed private keys, refresh tokens across rotations, a store that goes down, and
//! a store implemented outside the crate. Time from a `ManualClock`; `refresh` called directly.
#![cfg(all(feature = "issuer", feature = "aws-lc-rs"))]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tower_api_auth::clock::ManualClock;
use tower_api_auth::issuer::{
    AccessGrant, Account, Login, MemoryRefreshStore, MemorySigningKeyStore, SigningKey,
    SigningKeys, TokenIssuer, TokenService,
};
use tower_api_auth::jwt::JwtOptions;
use tower_api_auth::scope::Scopes;
use tower_api_auth::store::{PrivateKey, SigningKeyStore, StoreError, StoredSigningKey};
use tower_api_auth::{Algorithm, JwtValidator};

const SECRET: &[u8] = b"the-fleet-secret-of-thirty-two-bytes!!";
const T0: u64 = 1_800_000_000;
const DAY: u64 = 24 * 3600;
const AHEAD: u64 = 3600;
const RELOAD: u64 = 60;
const TTL: u64 = 15 * 60;
const LEEWAY: u64 = 60;

async fn ring(store: impl SigningKeyStore, clock: &ManualClock) -> SigningKeys {
    ring_with(store, clock, SECRET).await.unwrap()
}

async fn ring_with(
    store: impl SigningKeyStore,
    clock: &ManualClock,
    secret: &[u8],
) -> Result<SigningKeys, tower_api_auth::issuer::KeysError> {
    SigningKeys::builder(store, secret)
        .rotate_every(Duration::from_secs(DAY))
        .publish_ahead(Duration::from_secs(AHEAD))
        .reload_every(Duration::from_secs(RELOAD))
        .access_token_ttl(Duration::from_secs(TTL))
        .leeway(Duration::from_secs(LEEWAY))
        .clock(clock.clone())
        .build()
        .await
}

fn grant() -> AccessGrant {
    AccessGrant::new("user_1", Scopes::parse("read").unwrap())
}

fn kid_of(token: &str) -> String {
    jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
}

fn jwks_kids(keys: &SigningKeys) -> Vec<String> {
    let jwks: Value = serde_json::from_str(&keys.jwks_json()).unwrap();
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|key| key["kid"].as_str().unwrap().to_owned())
        .collect()
}

/// The scheduled end of the key signing now, read from the store.
async fn signs_until(store: &MemorySigningKeyStore, kid: &str) -> u64 {
    let keys = store.load().await.unwrap();
    keys.iter().find(|k| &*k.kid == kid).unwrap().signs_until
}

#[tokio::test]
async fn a_new_key_is_published_ahead_of_signing_and_the_old_one_kept_until_its_tokens_expire() {
    let clock = ManualClock::at(T0);
    let store = Arc::new(MemorySigningKeyStore::new());
    let keys = ring(store.clone(), &clock).await;
    let issuer = TokenIssuer::rotating(keys.clone(), "https://auth.example.test");
    let validator = issuer.validator();
    let first = keys.signing_kid(T0).to_string();
    assert_eq!(jwks_kids(&keys), std::slice::from_ref(&first));
    let end = signs_until(&store, &first).await;

    // Before the successor is due, refreshing changes nothing.
    clock.set(end - AHEAD - 2 * RELOAD - 1);
    keys.refresh().await.unwrap();
    assert_eq!(keys.published_kids().len(), 1);

    // Due: the successor is in the JWK set, but tokens still carry the old kid.
    clock.set(end - AHEAD - 2 * RELOAD);
    keys.refresh().await.unwrap();
    let kids = jwks_kids(&keys);
    assert_eq!(kids.len(), 2, "{kids:?}");
    let second = kids[1].clone();
    assert_ne!(second, first);
    for now in [end - AHEAD - 2 * RELOAD, end - 1] {
        let token = issuer.issue(&grant(), now).unwrap();
        assert_eq!(
            kid_of(&token.token),
            first,
            "no token carries the new kid before it signs"
        );
    }
    // It signs from exactly the old key's scheduled end.
    let last_old = issuer.issue(&grant(), end - 1).unwrap();
    let first_new = issuer.issue(&grant(), end).unwrap();
    assert_eq!(kid_of(&first_new.token), second);

    // One validator, built before the rotation, accepts both, with no restart.
    for token in [&last_old, &first_new] {
        assert!(validator.validate(&token.token, end).is_ok());
    }

    // The schedule as the ring reports it.
    let listed = keys.keys();
    assert_eq!(listed.len(), 2);
    assert_eq!(
        (listed[0].signs_until, listed[0].published_until),
        (Some(end), Some(end + TTL + LEEWAY))
    );
    assert_eq!((listed[1].signs_from, listed[1].signs_until), (end, None));
    assert_eq!(listed[1].published_at, end - AHEAD - 2 * RELOAD);

    // The old key stays published until its last token (end - 1 + TTL) is past its leeway.
    clock.set(end + TTL + LEEWAY - 1);
    keys.refresh().await.unwrap();
    assert_eq!(jwks_kids(&keys), [first.clone(), second.clone()]);
    assert!(
        validator
            .validate(&last_old.token, end + TTL + LEEWAY - 2)
            .is_ok()
    );
    clock.set(end + TTL + LEEWAY);
    keys.refresh().await.unwrap();
    assert_eq!(jwks_kids(&keys), std::slice::from_ref(&second));
    let stored: Vec<_> = store
        .load()
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.kid)
        .collect();
    assert_eq!(stored.len(), 1, "the ended key is deleted from the store");
    let trusted: Vec<String> = validator
        .key_handle()
        .keys()
        .kids()
        .map(str::to_owned)
        .collect();
    assert_eq!(
        trusted,
        std::slice::from_ref(&second),
        "the validator no longer trusts the old key"
    );
    // Not even for a token that would still be in its lifetime (an old one re-signed late).
    assert!(validator.validate(&last_old.token, end + TTL - 2).is_err());
    assert!(validator.validate(&first_new.token, end + 60).is_ok());
}

#[tokio::test]
async fn rotation_on_demand_publishes_at_once_and_signs_after_publish_ahead() {
    let clock = ManualClock::at(T0);
    let store = Arc::new(MemorySigningKeyStore::new());
    let keys = ring(store.clone(), &clock).await;
    let issuer = TokenIssuer::rotating(keys.clone(), "https://auth.example.test");
    let old = keys.signing_kid(T0).to_string();
    let new = keys.rotate_now().await.unwrap().to_string();
    assert_eq!(jwks_kids(&keys), [old.clone(), new.clone()]);
    assert_eq!(
        kid_of(&issuer.issue(&grant(), T0 + AHEAD - 1).unwrap().token),
        old
    );
    assert_eq!(
        kid_of(&issuer.issue(&grant(), T0 + AHEAD).unwrap().token),
        new
    );
    // The old key ends TTL + leeway after the new one started.
    clock.set(T0 + AHEAD + TTL + LEEWAY);
    keys.refresh().await.unwrap();
    assert_eq!(jwks_kids(&keys), [new]);
}

#[tokio::test]
async fn a_retired_key_is_refused_at_once_and_a_new_one_signs() {
    let clock = ManualClock::at(T0);
    let keys = ring(MemorySigningKeyStore::new(), &clock).await;
    let issuer = TokenIssuer::rotating(keys.clone(), "https://auth.example.test");
    let validator = issuer.validator();
    let token = issuer.issue(&grant(), T0).unwrap();
    let compromised = kid_of(&token.token);
    assert!(validator.validate(&token.token, T0).is_ok());
    assert!(keys.retire(&compromised).await.unwrap());
    assert!(!jwks_kids(&keys).contains(&compromised));
    assert!(
        validator.validate(&token.token, T0).is_err(),
        "refused at once"
    );
    let next = issuer.issue(&grant(), T0).unwrap();
    assert_ne!(kid_of(&next.token), compromised);
    assert!(validator.validate(&next.token, T0).is_ok());
    assert!(!keys.retire("no-such-kid").await.unwrap());
}

#[tokio::test]
async fn two_instances_on_one_store_agree_on_every_key() {
    let clock = ManualClock::at(T0);
    let store = Arc::new(MemorySigningKeyStore::new());
    let (a, b) = tokio::join!(ring(store.clone(), &clock), ring(store.clone(), &clock));
    assert_eq!(a.signing_kid(T0), b.signing_kid(T0), "one first key");
    assert_eq!(store.load().await.unwrap().len(), 1);
    let end = signs_until(&store, &a.signing_kid(T0)).await;

    // They reach the rotation window at different moments of it (b's clock 70 s ahead).
    let clock_b = ManualClock::at(end - AHEAD - 2 * RELOAD + 70);
    let b2 = ring(store.clone(), &clock_b).await; // a third instance, booting inside the window
    clock.set(end - AHEAD - 2 * RELOAD);
    let (ra, rb) = tokio::join!(a.refresh(), b.refresh());
    ra.unwrap();
    rb.unwrap();
    b2.refresh().await.unwrap();
    let stored = store.load().await.unwrap();
    assert_eq!(
        stored.len(),
        2,
        "one successor, whoever inserted it: {stored:?}"
    );
    assert_eq!(jwks_kids(&a), jwks_kids(&b));
    assert_eq!(jwks_kids(&a), jwks_kids(&b2));

    // Tokens of one are accepted by the other's validator, before and after the switch.
    let issuer_a = TokenIssuer::rotating(a.clone(), "https://auth.example.test");
    let issuer_b = TokenIssuer::rotating(b.clone(), "https://auth.example.test");
    for now in [end - 1, end] {
        let token = issuer_a.issue(&grant(), now).unwrap();
        assert_eq!(kid_of(&token.token), &*b.signing_kid(now));
        assert!(issuer_b.validator().validate(&token.token, now).is_ok());
    }
}

#[tokio::test]
async fn private_keys_are_sealed_at_rest_and_a_wrong_fleet_secret_fails_clearly() {
    // The DER of an EC private key names the ecPublicKey algorithm (1.2.840.10045.2.1).
    const EC_OID: &[u8] = &[0x06, 0x07, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x02, 0x01];
    let contains = |bytes: &[u8], needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
    let clock = ManualClock::at(T0);
    let store = Arc::new(MemorySigningKeyStore::new());
    let _keys = ring(store.clone(), &clock).await;
    let stored = store.load().await.unwrap().remove(0);
    let PrivateKey::Sealed(sealed) = &stored.private_key else {
        panic!("sealed by default: {stored:?}")
    };
    assert!(!contains(sealed, EC_OID), "no PKCS#8 in the stored bytes");
    assert!(!contains(sealed, b"PRIVATE KEY"));
    assert!(stored.public_jwk.contains("\"kty\":\"EC\""));
    assert!(
        !stored.public_jwk.contains("\"d\""),
        "the public JWK has no private part"
    );

    // Plaintext only when chosen: then the PKCS#8 is there (the check above is meaningful).
    let plain_store = Arc::new(MemorySigningKeyStore::new());
    SigningKeys::builder(plain_store.clone(), SECRET)
        .plaintext_at_rest()
        .clock(clock.clone())
        .build()
        .await
        .unwrap();
    let plain = plain_store.load().await.unwrap().remove(0);
    assert!(!plain.private_key.is_sealed());
    assert!(contains(plain.private_key.as_bytes(), EC_OID));

    // Another fleet secret cannot open the keys: building fails, saying why.
    let error = ring_with(
        store.clone(),
        &clock,
        b"another-fleet-secret-of-32-bytes-or-more",
    )
    .await
    .unwrap_err();
    assert!(
        error.to_string().contains("another fleet secret"),
        "{error}"
    );
    // A short one is refused.
    let error = ring_with(MemorySigningKeyStore::new(), &clock, b"short")
        .await
        .unwrap_err();
    assert!(error.to_string().contains("at least 32 bytes"), "{error}");
    // A sealed key moved to another kid does not open either.
    let moved = StoredSigningKey::new(
        "ES256-1",
        stored.algorithm,
        stored.private_key.clone(),
        stored.public_jwk.clone(),
    )
    .with_times(T0, 1, 2);
    let tampered = MemorySigningKeyStore::new();
    tampered.insert(moved).await.unwrap();
    assert!(ring_with(tampered, &clock, SECRET).await.is_err());
}

#[tokio::test]
async fn refresh_tokens_issued_before_a_rotation_refresh_after_it_on_any_instance() {
    let clock = ManualClock::at(T0);
    let store = Arc::new(MemorySigningKeyStore::new());
    let sessions = Arc::new(MemoryRefreshStore::new());
    let keys_a = ring(store.clone(), &clock).await;
    let service = |keys: SigningKeys| {
        TokenService::new(
            TokenIssuer::rotating(keys, "https://auth.example.test"),
            sessions.clone(),
        )
        .clock(clock.clone())
    };
    let a = service(keys_a.clone());
    let account = Account::new("user_1", Scopes::parse("read").unwrap());
    let pair = a.login(Login::account(account)).await.unwrap();
    let before = kid_of(&pair.access_token);

    // A rotation on demand, then time past the new key's start.
    keys_a.rotate_now().await.unwrap();
    clock.advance(Duration::from_secs(AHEAD));
    keys_a.refresh().await.unwrap();
    let next = a
        .refresh(pair.refresh_token.as_deref().unwrap(), None)
        .await
        .unwrap();
    assert_ne!(kid_of(&next.access_token), before);
    assert!(
        a.validator()
            .validate(&next.access_token, T0 + AHEAD)
            .is_ok()
    );

    // Another instance sharing the fleet secret honours the rotated token.
    let b = service(ring(store.clone(), &clock).await);
    let third = b
        .refresh(next.refresh_token.as_deref().unwrap(), None)
        .await
        .unwrap();
    assert!(
        a.validator()
            .validate(&third.access_token, T0 + AHEAD)
            .is_ok()
    );
}

#[tokio::test]
async fn the_jwks_is_rfc_7517_and_enough_for_another_service() {
    let clock = ManualClock::at(T0);
    for algorithm in [Algorithm::ES256, Algorithm::EdDSA, Algorithm::RS256] {
        let keys = SigningKeys::builder(MemorySigningKeyStore::new(), SECRET)
            .algorithm(algorithm)
            .clock(clock.clone())
            .build()
            .await
            .unwrap();
        let jwks: Value = serde_json::from_str(&keys.jwks_json()).unwrap();
        let key = &jwks["keys"][0];
        assert_eq!(key["use"], "sig");
        assert_eq!(key["kid"], *keys.signing_kid(T0));
        assert_eq!(key["alg"], format!("{algorithm:?}"));
        for private in ["d", "p", "q", "dp", "dq", "qi"] {
            assert!(
                key.get(private).is_none(),
                "{algorithm:?} publishes {private}"
            );
        }
        // A service that has only the JWK set validates our tokens.
        let issuer = TokenIssuer::rotating(keys.clone(), "https://auth.example.test");
        let token = issuer.issue(&grant(), T0).unwrap();
        let remote = JwtValidator::jwks(
            &keys.jwks_json(),
            JwtOptions::new().issuer("https://auth.example.test"),
        )
        .unwrap();
        assert!(remote.validate(&token.token, T0).is_ok(), "{algorithm:?}");
        assert_eq!(issuer.jwks_json().as_deref(), Some(&*keys.jwks_json()));
    }
    // HMAC secrets are never published; HS256 issuers work as before.
    let hmac = SigningKey::hmac(Algorithm::HS256, SECRET).unwrap();
    let issuer = TokenIssuer::new(hmac, "https://auth.example.test");
    assert_eq!(issuer.jwks_json(), None);
    assert!(
        issuer
            .validator()
            .validate(&issuer.issue(&grant(), T0).unwrap().token, T0)
            .is_ok()
    );
    // HMAC cannot rotate.
    let error = SigningKeys::builder(MemorySigningKeyStore::new(), SECRET)
        .algorithm(Algorithm::HS256)
        .build()
        .await
        .unwrap_err();
    assert!(error.to_string().contains("HMAC"), "{error}");
}

#[tokio::test]
async fn debug_output_shows_no_private_material() {
    let clock = ManualClock::at(T0);
    let store = Arc::new(MemorySigningKeyStore::new());
    let keys = ring(store.clone(), &clock).await;
    let stored = store.load().await.unwrap().remove(0);
    let bytes = format!("{:?}", stored.private_key.as_bytes());
    let inner = &bytes[1..bytes.len() / 4]; // a run of the stored bytes, as Debug prints them
    let issuer = TokenIssuer::rotating(keys.clone(), "https://auth.example.test");
    for debug in [
        format!("{keys:?}"),
        format!("{issuer:?}"),
        format!("{stored:?}"),
        format!("{:?}", stored.private_key),
    ] {
        assert!(!debug.contains(inner), "{debug}");
        assert!(!debug.contains(SECRET.escape_ascii().to_string().as_str()));
    }
    assert!(format!("{keys:?}").contains(&*keys.signing_kid(T0)));
    assert!(format!("{:?}", stored.private_key).contains("redacted"));
}

/// A store of the app's own, outside the crate, that can be switched off.
#[derive(Default)]
struct FlakyStore {
    keys: Mutex<Vec<StoredSigningKey>>,
    down: AtomicBool,
    loads: std::sync::atomic::AtomicUsize,
}

impl FlakyStore {
    fn check(&self) -> Result<(), StoreError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(StoreError::new("connection refused"));
        }
        Ok(())
    }
}

impl SigningKeyStore for FlakyStore {
    async fn load(&self) -> Result<Vec<StoredSigningKey>, StoreError> {
        self.loads.fetch_add(1, Ordering::SeqCst);
        self.check()?;
        Ok(self.keys.lock().unwrap().clone())
    }

    async fn insert(&self, key: StoredSigningKey) -> Result<bool, StoreError> {
        self.check()?;
        let mut keys = self.keys.lock().unwrap();
        if keys.iter().any(|k| k.kid == key.kid) {
            return Ok(false);
        }
        keys.push(key);
        Ok(true)
    }

    async fn delete(&self, kid: &str) -> Result<bool, StoreError> {
        self.check()?;
        let mut keys = self.keys.lock().unwrap();
        let before = keys.len();
        keys.retain(|k| &*k.kid != kid);
        Ok(keys.len() < before)
    }
}

#[tokio::test]
async fn a_store_of_the_apps_own_that_goes_down() {
    let clock = ManualClock::at(T0);
    let store = Arc::new(FlakyStore::default());

    // Down at start: building fails, saying so.
    store.down.store(true, Ordering::SeqCst);
    let error = ring_with(store.clone(), &clock, SECRET).await.unwrap_err();
    assert!(
        error.to_string().contains("cannot load the signing keys"),
        "{error}"
    );
    assert!(error.to_string().contains("connection refused"), "{error}");

    store.down.store(false, Ordering::SeqCst);
    let keys = ring(store.clone(), &clock).await;
    let issuer = TokenIssuer::rotating(keys.clone(), "https://auth.example.test");
    let kid = keys.signing_kid(T0);

    // Down later: refresh fails, the keys loaded last stay, issuing and validating go on.
    store.down.store(true, Ordering::SeqCst);
    clock.advance(Duration::from_secs(2 * DAY));
    assert!(keys.refresh().await.is_err());
    assert_eq!(keys.published_kids(), std::slice::from_ref(&kid));
    let now = T0 + 2 * DAY;
    let token = issuer.issue(&grant(), now).unwrap();
    assert_eq!(kid_of(&token.token), &*kid, "the last key keeps signing");
    assert!(issuer.validator().validate(&token.token, now).is_ok());

    // Back: the late successor is published ahead of signing all the same.
    store.down.store(false, Ordering::SeqCst);
    keys.refresh().await.unwrap();
    assert_eq!(keys.published_kids().len(), 2);
    assert_eq!(keys.signing_kid(now), kid);
    assert_ne!(keys.signing_kid(now + AHEAD), kid);
}

#[tokio::test]
async fn settings_that_would_let_a_token_outrun_its_key_are_refused() {
    let build = |ahead: u64, reload: u64, every: u64| {
        SigningKeys::builder(MemorySigningKeyStore::new(), SECRET)
            .publish_ahead(Duration::from_secs(ahead))
            .reload_every(Duration::from_secs(reload))
            .rotate_every(Duration::from_secs(every))
            .build()
    };
    let error = build(60, 60, DAY).await.unwrap_err();
    assert!(
        error
            .to_string()
            .contains("publish_ahead must exceed reload_every"),
        "{error}"
    );
    let error = build(AHEAD, RELOAD, AHEAD).await.unwrap_err();
    assert!(error.to_string().contains("rotate_every"), "{error}");
    assert!(build(AHEAD, RELOAD, DAY).await.is_ok());
    // A rotating issuer's TTL is capped at the ring's: the ring keeps old keys only that long.
    let clock = ManualClock::at(T0);
    let keys = ring(MemorySigningKeyStore::new(), &clock).await;
    let issuer = TokenIssuer::rotating(keys, "https://auth.example.test")
        .access_token_ttl(Duration::from_secs(TTL * 10));
    assert_eq!(issuer.ttl_secs(), TTL);
    assert_eq!(issuer.issue(&grant(), T0).unwrap().expires_in, TTL);
}

/// The background task reloads every interval: a key another instance inserted reaches this
/// one's JWK set within one interval. On tokio's paused clock, which moves only when every task
/// waits: nothing sleeps for real.
#[cfg(feature = "fleet")]
#[tokio::test(start_paused = true)]
async fn the_background_task_picks_up_another_instances_rotation_within_one_interval() {
    let clock = ManualClock::at(T0);
    let store = Arc::new(MemorySigningKeyStore::new());
    let a = ring(store.clone(), &clock).await;
    let b = ring(store.clone(), &clock).await;
    let task = a.spawn_refresh();
    let new = b.rotate_now().await.unwrap();
    assert!(!a.published_kids().contains(&new));
    tokio::time::sleep(Duration::from_secs(RELOAD - 1)).await;
    assert!(
        !a.published_kids().contains(&new),
        "not before the interval"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(a.published_kids().contains(&new));
    // The task ends with the last handle of the ring.
    drop(a);
    tokio::time::sleep(Duration::from_secs(2 * RELOAD)).await;
    assert!(task.is_finished());
}

#[tokio::test]
async fn a_store_that_lost_the_keys_gets_them_back_and_tokens_stay_valid() {
    let clock = ManualClock::at(T0);
    let store = Arc::new(FlakyStore::default());
    let keys = ring(store.clone(), &clock).await;
    let issuer = TokenIssuer::rotating(keys.clone(), "https://auth.example.test");
    let token = issuer.issue(&grant(), T0).unwrap();
    let before = store.keys.lock().unwrap().clone();
    store.keys.lock().unwrap().clear(); // FLUSHALL
    keys.refresh().await.unwrap();
    assert_eq!(
        *store.keys.lock().unwrap(),
        before,
        "written back as they were (sealed)"
    );
    assert!(issuer.validator().validate(&token.token, T0).is_ok());
    // Another instance starting now loads them and accepts the token.
    let other = ring(store.clone(), &clock).await;
    let other = TokenIssuer::rotating(other, "https://auth.example.test");
    assert!(other.validator().validate(&token.token, T0).is_ok());
}

/// A retired key's replacement signs at once on the instance that retired it; another instance
/// that meets its kid before its own reload reloads then (over HTTP, through the auth layer), and
/// made-up kids cost the store at most one read per 5 seconds.
#[cfg(feature = "axum")]
#[tokio::test]
async fn an_unknown_kid_reloads_the_ring_at_most_once_per_five_seconds() {
    use axum::{Router, routing::get};
    use tower_api_auth::AuthLayer;

    let clock = ManualClock::at(T0);
    let store = Arc::new(FlakyStore::default());
    let a = ring(store.clone(), &clock).await;
    let b = ring(store.clone(), &clock).await;
    let issuer_a = TokenIssuer::rotating(a.clone(), "https://auth.example.test");
    let issuer_b = TokenIssuer::rotating(b.clone(), "https://auth.example.test");
    let auth = AuthLayer::builder()
        .jwt(issuer_b.validator())
        .clock(clock.clone())
        .build()
        .unwrap();
    let server = tower_api_auth_tests::serve(
        Router::new()
            .route("/me", get(|| async { "ok" }))
            .layer(auth),
    )
    .await;

    assert!(a.retire(&a.signing_kid(T0)).await.unwrap());
    let token = issuer_a.issue(&grant(), T0).unwrap();
    assert!(
        !b.published_kids()
            .iter()
            .any(|k| **k == *kid_of(&token.token))
    );
    let loads = store.loads.load(Ordering::SeqCst);
    let reply = server.get("/me").bearer(&token.token).send().await;
    assert_eq!(reply.status, 200, "b reloaded and found the replacement");
    assert_eq!(store.loads.load(Ordering::SeqCst), loads + 1);

    // Made-up kids: refused; within 5 s of the last reload, without reading the store.
    let forged = |kid: &str| {
        let mut header = jsonwebtoken::Header::new(Algorithm::ES256);
        header.kid = Some(kid.to_owned());
        header.typ = Some("at+jwt".to_owned());
        let claims = serde_json::json!({
            "iss": "https://auth.example.test", "sub": "x", "iat": T0, "exp": T0 + 60,
        });
        tower_api_auth_tests::jwt::sign(
            &header,
            &claims,
            &tower_api_auth_tests::jwt::encoding_key(Algorithm::ES256),
        )
    };
    let reply = server.get("/me").bearer(&forged("ES256-1")).send().await;
    assert_eq!(reply.status, 401);
    assert_eq!(
        store.loads.load(Ordering::SeqCst),
        loads + 1,
        "no second read within 5 s"
    );
    clock.advance(Duration::from_secs(5));
    let reply = server.get("/me").bearer(&forged("ES256-2")).send().await;
    assert_eq!(reply.status, 401);
    assert_eq!(store.loads.load(Ordering::SeqCst), loads + 2);
    let _ = issuer_b;
}

/// Another service built on this crate's `remote` feature, given only the URL where the JWK set
/// is served (a plain route here: the crate's endpoints serve it elsewhere), validates the
/// issuer's tokens across a rotation with no restart: the new key reaches its cache while only
/// the old one signs, and the old key leaves it once its tokens have expired. Over real HTTP.
#[cfg(all(feature = "remote", feature = "axum"))]
#[tokio::test]
async fn a_remote_service_follows_the_served_jwks_across_a_rotation() {
    use axum::{Router, routing::get};
    use tower_api_auth::remote::RemoteJwks;

    let clock = ManualClock::at(T0);
    let store = Arc::new(MemorySigningKeyStore::new());
    let keys = ring(store.clone(), &clock).await;
    let served = keys.clone();
    let server = tower_api_auth_tests::serve(Router::new().route(
        "/jwks",
        get(move || {
            let served = served.clone();
            async move {
                (
                    [("content-type", "application/jwk-set+json")],
                    served.jwks_json().to_string(),
                )
            }
        }),
    ))
    .await;
    let remote = RemoteJwks::builder(format!("{}/jwks", server.base()))
        .allow_http(true)
        .clock(clock.clone())
        .load()
        .await
        .unwrap();
    let other_service = JwtValidator::from_source(
        remote.clone(),
        JwtOptions::new().issuer("https://auth.example.test"),
    );
    let issuer = TokenIssuer::rotating(keys.clone(), "https://auth.example.test");
    let old = issuer.issue(&grant(), T0).unwrap();
    assert!(other_service.validate(&old.token, T0).is_ok());

    let end = signs_until(&store, &keys.signing_kid(T0)).await;
    clock.set(end - AHEAD - 2 * RELOAD);
    keys.refresh().await.unwrap();
    remote.refresh().await.unwrap(); // the consumer's cache refreshes within publish_ahead
    clock.set(end);
    let last_old = issuer.issue(&grant(), end - 1).unwrap();
    let new = issuer.issue(&grant(), end).unwrap();
    assert_ne!(kid_of(&new.token), kid_of(&last_old.token));
    for token in [&last_old, &new] {
        assert!(other_service.validate(&token.token, end).is_ok());
    }

    clock.set(end + TTL + LEEWAY);
    keys.refresh().await.unwrap();
    remote.refresh().await.unwrap();
    let kids: Vec<String> = remote
        .key_handle()
        .keys()
        .kids()
        .map(str::to_owned)
        .collect();
    assert_eq!(
        kids,
        [kid_of(&new.token)],
        "the old key left the consumer's set"
    );
    assert!(other_service.validate(&new.token, end + 60).is_ok());
}
