//! No secret of a fleet leaks into its logs: every log line (TRACE and up, this crate, sqlx and
//! redis alike) written while keys are created, listed, rolled and revoked through the admin API,
//! sessions are started, refreshed, reused and ended over PostgreSQL and Redis, and the database
//! goes down and comes back, is free of plaintext keys, refresh and access tokens, and the
//! database password.

use tower_api_auth_tests as common;

use std::time::Duration;

use serde_json::json;
use tower_api_auth::Tenant;
use tower_api_auth::api_key::KeySpec;
use tower_api_auth::scope::Scopes;
use tower_api_auth_redis_store::RedisStore;
use tower_api_auth_sqlx_store::PgStore;

use common::fleet::{Setup, wait_until};
use common::servers::{Proxy, postgres_database, redis_prefix, redis_url};

/// Trust auth on loopback accepts any password: this one must never be printed.
const DB_PASSWORD: &str = "db-pw-that-must-not-leak";

// current_thread: the servers' and the feeds' tasks run on this thread, under the subscriber.
#[tokio::test(flavor = "current_thread")]
async fn no_secret_reaches_the_logs_of_a_fleet() {
    let (captured, _guard) = common::capture_logs();

    let database = postgres_database()
        .await
        .replace("postgres@", &format!("postgres:{DB_PASSWORD}@"));
    let proxy = Proxy::start("127.0.0.1:5432").await;
    let keys = PgStore::connect(&proxy.url_through(&database))
        .await
        .unwrap();
    keys.migrate().await.unwrap();
    let redis = RedisStore::connect(&redis_url())
        .await
        .unwrap()
        .prefix(&redis_prefix());
    let a = Setup {
        key_cache_ttl: Duration::ZERO,
        ..Setup::default()
    }
    .start(redis.clone(), redis, keys.clone())
    .await;
    let mut secrets = vec![DB_PASSWORD.to_owned()];

    let admin = a
        .keys
        .create(
            KeySpec::default()
                .tenants([Tenant::new("tn_a").unwrap()])
                .scopes(Scopes::parse("keys:admin read").unwrap()),
        )
        .await
        .unwrap()
        .key;
    secrets.push(admin.clone());
    let created = a
        .server
        .post("/admin/keys")
        .api_key(&admin, "tn_a")
        .json(&json!({"tenants": ["tn_a"], "scopes": "read"}))
        .send()
        .await
        .json();
    let user_key = created["key"].as_str().unwrap().to_owned();
    let key_id = created["key_id"].as_str().unwrap().to_owned();
    secrets.push(user_key.clone());
    let rolled = a
        .server
        .post(&format!("/admin/keys/{key_id}/roll"))
        .api_key(&admin, "tn_a")
        .send()
        .await
        .json();
    secrets.push(rolled["key"].as_str().unwrap().to_owned());
    a.server
        .get("/admin/keys")
        .api_key(&admin, "tn_a")
        .send()
        .await;

    let pair = a
        .server
        .post_json("/v1/auth/token", &json!({"api_key": user_key}))
        .await
        .json();
    let (access, first) = (
        pair["access_token"].as_str().unwrap().to_owned(),
        pair["refresh_token"].as_str().unwrap().to_owned(),
    );
    let next = a
        .server
        .post_json("/v1/auth/refresh", &json!({"refresh_token": first}))
        .await
        .json();
    let second = next["refresh_token"].as_str().unwrap().to_owned();
    a.server
        .post_json("/v1/auth/refresh", &json!({"refresh_token": first}))
        .await; // reuse
    a.server.get("/me").bearer(&access).send().await;
    a.server
        .post("/v1/auth/logout")
        .bearer(&access)
        .send()
        .await;
    secrets.extend([access, first, second]);

    // The key database goes down and comes back: its errors are logged, its URL is not.
    proxy.cut();
    let down = a.server.get("/me").api_key(&user_key, "tn_a").send().await;
    down.assert_error(503, "auth_unavailable");
    proxy.restore();
    wait_until(
        Duration::from_secs(10),
        || a.server.get("/me").api_key(&user_key, "tn_a").send(),
        |reply| reply.status == 200,
    )
    .await;
    a.server
        .post(&format!("/admin/keys/{key_id}/revoke"))
        .api_key(&admin, "tn_a")
        .send()
        .await;

    let logs = captured.text();
    assert!(logs.lines().count() > 20, "the flows were logged: {logs}");
    assert!(
        logs.contains("API key store failed"),
        "the outage was logged: {logs}"
    );
    for secret in &secrets {
        assert!(
            !logs.contains(secret.as_str()),
            "a secret reached the logs:\n{logs}"
        );
        // Keys and tokens also never appear by their secret halves.
        if let Some((_, tail)) = secret.rsplit_once('_') {
            assert!(
                tail.len() < 16 || !logs.contains(tail),
                "a secret's tail reached the logs"
            );
        }
    }
}
