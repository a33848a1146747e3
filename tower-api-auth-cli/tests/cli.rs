//! The `tower-api-auth` command-line tool, run as a user runs it, against a real SQLite file: the
//! keys it makes work through the store the auth layer reads, rolls keep the old key for the
//! grace period, revocations stick (and end the tokens a key was exchanged for), nothing it prints
//! holds a hash, and mistakes are clear errors.

use tower_api_auth::issuer::Login;
use tower_api_auth_tests as common;

use std::process::{Command, Output};

use tower_api_auth::api_key::ApiKeys;
use tower_api_auth::store::KeyStore as _;
use tower_api_auth_sqlx_store::SqliteStore;

use common::servers::sqlite_url;

fn run(database: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tower-api-auth"))
        .env("DATABASE_URL", database)
        .env_remove("REDIS_URL")
        .args(args)
        .output()
        .expect("the tool runs")
}

fn stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).unwrap()
}

#[tokio::test]
async fn keys_made_by_the_tool_work_roll_and_revoke_through_the_store() {
    let database = sqlite_url();
    let created = stdout(&run(
        &database,
        &[
            "--json",
            "keys",
            "create",
            "--owner",
            "svc_1",
            "--tenant",
            "tn_a",
            "--scope",
            "read write",
            "--label",
            "team=data",
        ],
    ));
    let created: serde_json::Value = serde_json::from_str(created.trim()).unwrap();
    let key = created["key"].as_str().unwrap().to_owned();
    let key_id = created["key_id"].as_str().unwrap().to_owned();
    assert_eq!(created["metadata"]["team"], "data");

    let store = SqliteStore::connect(&database).await.unwrap();
    let api_keys = ApiKeys::new(store.clone());
    let now = common::now();
    let record = api_keys.verify(&key, now).await.expect("the new key works");
    assert_eq!(record.scopes.as_str(), "read write");

    let listed = stdout(&run(&database, &["keys", "list", "--tenant", "tn_a"]));
    assert!(listed.contains(&key_id) && listed.contains("svc_1"));
    let hash = store.list(&Default::default()).await.unwrap()[0]
        .hash
        .to_hex();
    assert!(
        !listed.contains(&hash) && !listed.contains(&key),
        "no hash, no plaintext: {listed}"
    );

    let rolled = stdout(&run(
        &database,
        &["--json", "keys", "roll", &key_id, "--grace", "1h"],
    ));
    let rolled: serde_json::Value = serde_json::from_str(rolled.trim()).unwrap();
    let new_key = rolled["key"].as_str().unwrap();
    assert!(api_keys.verify(new_key, now).await.is_ok());
    // The tool read its own clock: the old key's new expiry is an hour after that.
    let old = store.list(&Default::default()).await.unwrap();
    let old = old.iter().find(|r| *r.key_id == *key_id).unwrap();
    let until = old.expires_at.expect("the roll set an expiry");
    assert!(
        (now + 3_600..=now + 3_660).contains(&until),
        "{until} vs {now}"
    );
    assert!(
        api_keys.verify(&key, until - 1).await.is_ok(),
        "within the grace period"
    );
    assert_eq!(
        api_keys.verify(&key, until).await.unwrap_err().code(),
        "api_key_expired",
        "after the grace period"
    );

    let revoked = run(&database, &["keys", "revoke", &key_id]);
    assert!(revoked.status.success());
    assert_eq!(
        api_keys.verify(&key, now).await.unwrap_err().code(),
        "api_key_revoked"
    );
}

/// A token exchanged for a key the tool made is refused as soon as the tool revokes the key: the
/// auth layer checks the key behind the token in the database the tool wrote, as it checks the
/// key itself.
#[tokio::test]
async fn a_key_revoked_by_the_tool_ends_the_tokens_it_was_exchanged_for() {
    use tower_api_auth::AuthLayer;
    use tower_api_auth::issuer::{MemoryRefreshStore, TokenService};

    let database = sqlite_url();
    let created = stdout(&run(
        &database,
        &[
            "--json", "keys", "create", "--owner", "svc_1", "--scope", "read",
        ],
    ));
    let created: serde_json::Value = serde_json::from_str(created.trim()).unwrap();
    let key = created["key"].as_str().unwrap().to_owned();
    let key_id = created["key_id"].as_str().unwrap().to_owned();

    let store = SqliteStore::connect(&database).await.unwrap();
    let tokens = TokenService::new(common::lifecycle::hs256_issuer(), MemoryRefreshStore::new())
        .api_keys(ApiKeys::new(store.clone()));
    let pair = tokens
        .login(Login::api_key(&key))
        .await
        .expect("the tool's key is exchanged");
    let auth = AuthLayer::builder()
        .jwt(tokens.validator())
        .revocation(tokens.revocations())
        .api_keys(ApiKeys::new(store))
        .build()
        .unwrap();
    let app = axum::Router::new()
        .route("/me", axum::routing::get(|| async { "ok" }))
        .layer(auth);
    let server = common::in_process(app);
    let me = || server.get("/me").bearer(&pair.access_token).send();
    assert_eq!(me().await.status, 200);

    assert!(
        run(&database, &["keys", "revoke", &key_id])
            .status
            .success()
    );
    me().await.assert_error(401, "api_key_revoked");
    let refresh = pair.refresh_token.as_deref().unwrap();
    let refused = tokens.refresh(refresh, None).await.unwrap_err();
    assert_eq!(refused.code(), "invalid_grant");
}

#[test]
fn a_key_that_never_expires_in_practice_lists_without_a_panic() {
    let database = sqlite_url();
    stdout(&run(
        &database,
        &["keys", "create", "--expires-in", "100000years"],
    ));
    let listed = stdout(&run(&database, &["keys", "list"]));
    assert!(listed.contains("(unix seconds)"), "{listed}");
}

#[test]
fn mistakes_are_clear_errors_with_a_failing_exit_status() {
    let database = sqlite_url();
    let unknown = run(&database, &["keys", "revoke", "k_unknown"]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no API key has the id k_unknown"));

    let bad_scope = run(&database, &["keys", "create", "--scope", "bad\u{7f}scope"]);
    assert!(!bad_scope.status.success());
    assert!(String::from_utf8_lossy(&bad_scope.stderr).contains("--scope"));

    let bad_url = run("mysql://localhost/keys", &["keys", "list"]);
    assert!(!bad_url.status.success());
    assert!(
        String::from_utf8_lossy(&bad_url.stderr).contains("postgres://, postgresql:// or sqlite:")
    );

    let secret_url = run(
        "postgres://admin:hunter2@127.0.0.1:1/none",
        &["keys", "list"],
    );
    assert!(!secret_url.status.success());
    assert!(
        !String::from_utf8_lossy(&secret_url.stderr).contains("hunter2"),
        "no password in errors"
    );
}

#[test]
fn a_closed_stdout_ends_the_tool_quietly_not_with_a_panic() {
    // As in `tower-api-auth keys create | head -n1`, once `head` has its line and exits.
    let mut child = Command::new(env!("CARGO_BIN_EXE_tower-api-auth"))
        .env("DATABASE_URL", sqlite_url())
        .env_remove("REDIS_URL")
        .args(["keys", "create", "--owner", "svc_pipe"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take()); // the reader is gone before the tool writes
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "exit {:?}: {stderr}",
        output.status
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}
