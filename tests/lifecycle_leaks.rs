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
