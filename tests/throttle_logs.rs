//! Failed logins are logged at `warn` with the username and the client's address — what an
//! operator alerts on — and throttled ones at `info`, never with the password. Over real HTTP.
//! A binary of its own, as `lifecycle_leaks`: it captures every log line of its thread.
#![cfg(all(
    feature = "rate-limit",
    feature = "issuer",
    feature = "axum",
    any(feature = "aws-lc-rs", feature = "rust-crypto")
))]

use tower_api_auth_tests as common;

use std::sync::Arc;

use axum::Router;
use serde_json::json;
use tower_api_auth::AuthLayer;
use tower_api_auth::clock::ManualClock;
use tower_api_auth::endpoints::TokenEndpoints;
use tower_api_auth::issuer::{Account, MemoryRefreshStore, PasswordVerifier, TokenService};
use tower_api_auth::rate_limit::{AuthThrottle, Quota};
use tower_api_auth::scope::Scopes;
use tower_api_auth::store::StoreError;

use common::lifecycle::hs256_issuer;

const PASSWORD: &str = "the-right-password-never-logged";
const WRONG_PASSWORD: &str = "a-wrong-password-never-logged";

struct OneUser;

impl PasswordVerifier for OneUser {
    async fn verify(&self, username: &str, password: &str) -> Result<Option<Account>, StoreError> {
        Ok((username == "alice" && password == PASSWORD)
            .then(|| Account::new("user_alice", Scopes::parse("profile").unwrap())))
    }
}

/// The lines of `text` at `level` that contain every one of `parts`.
fn lines_with<'t>(text: &'t str, level: &str, parts: &[&str]) -> Vec<&'t str> {
    text.lines()
        .filter(|line| line.contains(level) && parts.iter().all(|part| line.contains(part)))
        .collect()
}

// current_thread: the server's tasks run on this thread, under the scoped subscriber.
#[tokio::test(flavor = "current_thread")]
async fn failed_logins_are_logged_with_the_username_and_address_never_the_password() {
    let (captured, _guard) = common::capture_logs();
    let clock = ManualClock::starting_now();
    let tokens = Arc::new(
        TokenService::new(hs256_issuer(), MemoryRefreshStore::new())
            .passwords(OneUser)
            .clock(clock.clone()),
    );
    let throttle = AuthThrottle::new(Quota::per_minute(100))
        .per_username(Quota::per_hour(2))
        .clock(clock);
    let auth = AuthLayer::builder()
        .jwt(tokens.validator())
        .throttle_failures(throttle.clone())
        .build()
        .unwrap();
    let app = Router::new().nest(
        "/v1",
        TokenEndpoints::new(tokens)
            .throttle_failures(throttle)
            .router(auth),
    );
    let server = common::serve_with_peers(app).await.from_ip("127.0.0.2");
    let login = |password: &str| json!({ "username": "Alice", "password": password });

    for _ in 0..2 {
        let reply = server
            .post_json("/v1/auth/login", &login(WRONG_PASSWORD))
            .await;
        assert_eq!(reply.status, 400, "{}", reply.text);
    }
    let refused = server.post_json("/v1/auth/login", &login(PASSWORD)).await;
    assert_eq!(refused.status, 429, "{}", refused.text);

    let logs = captured.text();
    let failed = lines_with(
        &logs,
        "WARN",
        &["login failed", r#"username="Alice""#, "client_ip=127.0.0.2"],
    );
    assert_eq!(failed.len(), 2, "one warn line per failed login:\n{logs}");
    let blocked = lines_with(
        &logs,
        "WARN",
        &["username over its quota", r#"username="alice""#],
    );
    assert_eq!(blocked.len(), 1, "the block is logged once:\n{logs}");
    let throttled = lines_with(
        &logs,
        "INFO",
        &[
            "too many failed attempts",
            "client_ip=127.0.0.2",
            r#"username="alice""#,
        ],
    );
    assert_eq!(throttled.len(), 1, "the throttled login:\n{logs}");
    for password in [PASSWORD, WRONG_PASSWORD] {
        assert!(!logs.contains(password), "a password in the logs:\n{logs}");
    }
}
