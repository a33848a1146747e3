//! No token, password, secret or hash ever leaks: not in responses, `Debug` output or logs. Over
//! real HTTP.
#![cfg(all(
    feature = "issuer",
    feature = "axum",
    any(feature = "aws-lc-rs", feature = "rust-crypto")
))]

use tower_api_auth::issuer::Login;
use tower_api_auth_tests as common;

use serde_json::json;
use tower_api_auth::store::RefreshTokenHash;

use common::lifecycle::*;

// current_thread: the server's tasks run on this thread, under the scoped subscriber.
#[tokio::test(flavor = "current_thread")]
async fn no_token_leaks_into_responses_debug_output_or_logs() {
    let (captured, _guard) = common::capture_logs();

    let fx = Fixture::over_http().await;
    let mut replies = Vec::new();
    let mut secrets: Vec<String> = vec![
        ALICE_PASSWORD.into(),
        fx.api_key.clone(),
        fx.client_secret.clone(),
    ];

    let login = fx.login(ALICE, ALICE_PASSWORD).await;
    let r1 = login.refresh().to_owned();
    let rotated = fx.refresh(&r1).await;
    let r2 = rotated.assert_granted().refresh().to_owned();
    // From here on r1 is spent: nothing may ever show it again.
    replies.push(fx.refresh(&r1).await); // reuse: the session ends
    replies.push(fx.refresh(&r2).await);
    replies.push(fx.me(&login.access_token).await);
    let second = fx.login(ALICE, ALICE_PASSWORD).await;
    replies.push(
        fx.server
            .post("/v1/auth/logout")
            .bearer(&second.access_token)
            .send()
            .await,
    );
    replies.push(fx.refresh(second.refresh()).await);
    replies.push(
        fx.server
            .post_json("/v1/auth/revoke", &json!({ "token": r1 }))
            .await,
    );
    replies.push(
        fx.server
            .post_json(
                "/v1/auth/login",
                &json!({ "username": ALICE, "password": "wrong-password-in-logs?" }),
            )
            .await,
    );
    replies.push(
        fx.server
            .post_json("/v1/auth/token", &json!({ "api_key": fx.api_key }))
            .await,
    );
    replies.push(
        fx.server
            .post("/v1/auth/token")
            .basic(CLIENT_ID, &fx.client_secret)
            .form("grant_type=client_credentials")
            .send()
            .await,
    );
    let verify = fx
        .server
        .get("/v1/auth/verify")
        .bearer(&second.access_token)
        .send()
        .await;
    verify.assert_revoked();
    replies.push(verify);
    secrets.extend([
        "wrong-password-in-logs?".into(),
        login.access_token.clone(),
        second.access_token.clone(),
        r2.clone(),
        second.refresh().to_owned(),
    ]);

    for reply in &replies {
        reply.assert_no_leak(&r1);
        reply.assert_no_leak(&hash_hex(&r1));
        reply.assert_no_leak(&hash_hex(&r2));
        reply.assert_no_leak(ALICE_PASSWORD);
        reply.assert_no_leak(&fx.client_secret);
    }
    // The rejections among them carry no tokens at all.
    for reply in replies.iter().filter(|r| r.status >= 400) {
        for secret in &secrets {
            reply.assert_no_leak(secret);
        }
    }

    // Debug output.
    let service_login = fx
        .tokens
        .login(Login::password(ALICE, ALICE_PASSWORD))
        .await
        .unwrap();
    let debug = [
        format!("{service_login:?}"),
        format!("{:?}", fx.store.inner),
        format!("{:?}", fx.tokens),
        format!("{:?}", fx.store.last_session()),
        format!("{:?}", RefreshTokenHash::of(&r1).unwrap()),
        format!("{:?}", hs256_issuer()),
    ];
    secrets.extend([
        r1.clone(),
        hash_hex(&r1),
        service_login.access_token.clone(),
        service_login.refresh_token.clone().unwrap(),
        String::from_utf8_lossy(SECRET).into_owned(),
    ]);
    for text in &debug {
        for secret in &secrets {
            assert!(!text.contains(secret.as_str()), "{text} leaks a secret");
        }
    }
    assert!(debug[0].contains("<redacted>"), "{}", debug[0]);

    // Logs: there are some, and they hold no secret.
    drop(_guard);
    let logs = captured.text();
    assert!(
        logs.contains("refresh token reuse"),
        "the capture works: {logs}"
    );
    assert!(logs.contains("token endpoint request rejected"), "{logs}");
    for secret in &secrets {
        assert!(
            !logs.contains(secret.as_str()),
            "a secret is in the logs:\n{logs}"
        );
    }
}

/// The key ring's log lines: the start warns when private keys are kept in plaintext, rotation
/// and retirement are logged by kid, and no line holds the fleet secret or a private key.
#[cfg(feature = "aws-lc-rs")]
#[tokio::test(flavor = "current_thread")]
async fn the_key_ring_logs_kids_and_plaintext_choices_but_never_key_material() {
    use std::sync::Arc;
    use tower_api_auth::clock::ManualClock;
    use tower_api_auth::issuer::{MemorySigningKeyStore, SigningKeys};
    use tower_api_auth::store::SigningKeyStore;

    const SECRET: &[u8] = b"a-fleet-secret-that-must-not-be-logged!!";
    let (captured, _guard) = common::capture_logs();
    let store = Arc::new(MemorySigningKeyStore::new());
    let clock = ManualClock::at(1_800_000_000);
    let keys = SigningKeys::builder(store.clone(), SECRET)
        .plaintext_at_rest()
        .clock(clock.clone())
        .build()
        .await
        .unwrap();
    let new = keys.rotate_now().await.unwrap();
    let old = keys.signing_kid(1_800_000_000);
    assert!(keys.retire(&old).await.unwrap());
    // A wrong secret on a sealed store: the failure is logged nowhere with material either.
    let sealed = Arc::new(MemorySigningKeyStore::new());
    SigningKeys::builder(sealed.clone(), SECRET)
        .clock(clock.clone())
        .build()
        .await
        .unwrap();
    let _ = SigningKeys::builder(sealed.clone(), b"another-fleet-secret-of-32-bytes-or-more")
        .build()
        .await
        .unwrap_err();

    let logs = captured.text();
    assert!(logs.contains("plaintext at rest"), "{logs}");
    assert!(logs.contains(&*new) && logs.contains(&*old), "{logs}");
    assert!(!logs.contains(std::str::from_utf8(SECRET).unwrap()));
    let mut material: Vec<Vec<u8>> = store
        .load()
        .await
        .unwrap()
        .into_iter()
        .map(|key| key.private_key.as_bytes().to_vec())
        .collect();
    material.extend(
        sealed
            .load()
            .await
            .unwrap()
            .into_iter()
            .map(|key| key.private_key.as_bytes().to_vec()),
    );
    for bytes in material {
        let as_debug = format!("{bytes:?}");
        assert!(!logs.contains(&as_debug[1..40]), "{logs}");
        assert!(!logs.contains(&common::b64(&bytes)[..24]));
    }
}
