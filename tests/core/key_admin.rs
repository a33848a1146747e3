//! Key management: [`KeyManager`] and the [`KeyAdmin`] router mounted behind the app's own auth
//! and a `keys:admin` scope. Keys are created (plaintext once), listed without hashes, edited,
//! rolled with a grace period and revoked; bad input is a 4xx (a body declared too long is refused
//! unread, a stalled one is 408), a store that is down a 503.
#![cfg(all(feature = "axum", any(feature = "aws-lc-rs", feature = "rust-crypto")))]

use tower_api_auth_tests as common;

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tower_api_auth::api_key::{ApiKeys, KeyManager, KeyRecord, KeySpec};
use tower_api_auth::clock::ManualClock;
use tower_api_auth::endpoints::KeyAdmin;
use tower_api_auth::scope::Scopes;
use tower_api_auth::store::Lookup;
use tower_api_auth::store::StoreError;
use tower_api_auth::store::{KeyFilter, KeyStore, KeyUpdate};
use tower_api_auth::{AuthLayer, KeyProvider, MemoryKeyStore, RequireScopesLayer, Tenant};

use common::raw_http::RawConnection;
use common::{Call, Server, in_process, serve};

const TENANT: &str = "tn_ops";

struct Admin {
    server: Server,
    operator: String,
    keys: KeyManager,
    store: MemoryKeyStore,
    clock: ManualClock,
}

/// The admin API behind an auth layer and `keys:admin`, with one operator key; `/me` answers
/// for any key, to see which keys work.
async fn admin() -> Admin {
    admin_with(|admin| admin, false).await
}

/// [`admin`], its router shaped by `shape`, served over real HTTP when `http`.
async fn admin_with(shape: impl FnOnce(KeyAdmin) -> KeyAdmin, http: bool) -> Admin {
    let store = MemoryKeyStore::new();
    let clock = ManualClock::at(1_800_000_000);
    let keys = KeyManager::new(store.clone()).clock(clock.clone());
    let operator = keys
        .create(
            KeySpec::default()
                .owner("ops")
                .scopes(Scopes::parse("keys:admin").unwrap())
                .tenants([Tenant::new(TENANT).unwrap()]),
        )
        .await
        .unwrap()
        .key;
    let auth = AuthLayer::builder()
        .api_keys(ApiKeys::new(store.clone()))
        .clock(clock.clone())
        .build()
        .unwrap();
    let app = axum::Router::new()
        .merge(shape(KeyAdmin::new(keys.clone())).router())
        .layer(RequireScopesLayer::all(["keys:admin"]))
        .route("/me", axum::routing::get(|| async { "ok" }))
        .layer(auth);
    Admin {
        server: if http {
            serve(app).await
        } else {
            in_process(app)
        },
        operator,
        keys,
        store,
        clock,
    }
}

impl Admin {
    /// `GET <path>` as the operator.
    fn get(&self, path: &str) -> Call {
        self.server.get(path).api_key(&self.operator, TENANT)
    }

    /// `POST <path>` as the operator.
    fn post(&self, path: &str) -> Call {
        self.server.post(path).api_key(&self.operator, TENANT)
    }

    /// `PATCH <path>` as the operator.
    fn patch(&self, path: &str) -> Call {
        self.server.patch(path).api_key(&self.operator, TENANT)
    }

    async fn create(&self, body: Value) -> Value {
        let reply = self
            .server
            .post("/keys")
            .api_key(&self.operator, TENANT)
            .json(&body)
            .send()
            .await;
        assert_eq!(reply.status, 201, "{}", reply.text);
        assert_eq!(reply.header("cache-control"), Some("no-store"));
        reply.json()
    }

    async fn status_of(&self, key: &str) -> u16 {
        self.server
            .get("/me")
            .api_key(key, TENANT)
            .send()
            .await
            .status
    }
}

#[tokio::test]
async fn keys_are_created_listed_edited_and_revoked_and_no_answer_holds_a_hash() {
    let admin = admin().await;
    let created = admin
        .create(json!({"owner": "user_1", "name": "CI", "tenants": [TENANT], "scopes": "reports:read", "metadata": {"team": "data"}}))
        .await;
    let key = created["key"].as_str().unwrap();
    let key_id = created["key_id"].as_str().unwrap();
    assert!(key.starts_with("sk_live_") && key.contains(key_id));
    assert_eq!(created["scopes"], json!(["reports:read"]));
    assert_eq!(created["created_at"], 1_800_000_000);
    assert_eq!(admin.status_of(key).await, 200);
    let stored_hash = admin.store.get(key_id).unwrap().hash.to_hex();

    admin
        .create(json!({"owner": "user_2", "tenants": ["tn_other"]}))
        .await;
    let listed = admin.get("/keys?owner=user_1").send().await;
    assert_eq!(listed.status, 200);
    let keys = listed.json()["keys"].as_array().unwrap().clone();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0]["key_id"], key_id);
    let by_tenant = admin.get("/keys?tenant=tn_other").send().await;
    assert_eq!(by_tenant.json()["keys"].as_array().unwrap().len(), 1);
    let all = admin.get("/keys").send().await;
    assert_eq!(
        all.json()["keys"].as_array().unwrap().len(),
        3,
        "operator, user_1, user_2"
    );
    for reply in [&listed, &by_tenant, &all] {
        assert!(
            !reply.text.contains(&stored_hash) && !reply.text.contains("hash"),
            "{}",
            reply.text
        );
        assert!(
            !reply.text.contains(key),
            "the plaintext is shown once only"
        );
    }

    let shown = admin.get(&format!("/keys/{key_id}")).send().await;
    assert_eq!(shown.json()["name"], "CI");
    assert!(!shown.text.contains("hash"));

    let patched = admin
        .patch(&format!("/keys/{key_id}"))
        .json(&json!({"scopes": "reports:read reports:write", "expires_at": 1_800_000_100}))
        .send()
        .await;
    assert_eq!(patched.status, 200, "{}", patched.text);
    assert_eq!(
        patched.json()["scopes"],
        json!(["reports:read", "reports:write"])
    );
    admin.clock.advance(Duration::from_secs(100));
    assert_eq!(admin.status_of(key).await, 401, "expired by the new expiry");
    let cleared = admin
        .patch(&format!("/keys/{key_id}"))
        .json(&json!({"expires_at": null}))
        .send()
        .await;
    assert_eq!(cleared.json()["expires_at"], Value::Null);
    assert_eq!(admin.status_of(key).await, 200, "null removes the expiry");

    let revoked = admin.post(&format!("/keys/{key_id}/revoke")).send().await;
    assert_eq!(revoked.status, 204);
    admin
        .server
        .get("/me")
        .api_key(key, TENANT)
        .send()
        .await
        .assert_error(401, "api_key_revoked");
    let listed = admin.get("/keys?owner=user_1").send().await;
    assert_eq!(
        listed.json()["keys"][0]["revoked"],
        true,
        "revoked keys stay listed"
    );
}

#[tokio::test]
async fn a_rolled_key_keeps_working_for_the_grace_period_and_its_successor_has_the_same_grants() {
    let admin = admin().await;
    let created = admin
        .create(json!({"owner": "user_1", "tenants": [TENANT], "scopes": "a b"}))
        .await;
    let (old_key, old_id) = (
        created["key"].as_str().unwrap(),
        created["key_id"].as_str().unwrap(),
    );
    let rolled = admin
        .post(&format!("/keys/{old_id}/roll"))
        .json(&json!({"grace_seconds": 3600}))
        .send()
        .await;
    assert_eq!(rolled.status, 201, "{}", rolled.text);
    let rolled = rolled.json();
    let new_key = rolled["key"].as_str().unwrap();
    assert_ne!(rolled["key_id"], old_id);
    assert_eq!(rolled["scopes"], json!(["a", "b"]));
    assert_eq!(rolled["owner"], "user_1");
    assert_eq!(rolled["metadata"]["rolled_from"], old_id);
    assert_eq!(
        admin.store.get(old_id).unwrap().expires_at,
        Some(1_800_003_600)
    );

    assert_eq!(
        admin.status_of(old_key).await,
        200,
        "within the grace period"
    );
    assert_eq!(admin.status_of(new_key).await, 200);
    admin.clock.advance(Duration::from_secs(3600));
    admin
        .server
        .get("/me")
        .api_key(old_key, TENANT)
        .send()
        .await
        .assert_error(401, "api_key_expired");
    assert_eq!(admin.status_of(new_key).await, 200);

    // Rolling never lengthens a key's life: a second roll with a longer grace keeps the deadline.
    let again = admin
        .keys
        .roll(old_id, Duration::from_secs(86_400))
        .await
        .unwrap();
    assert!(again.is_some());
    assert_eq!(
        admin.store.get(old_id).unwrap().expires_at,
        Some(1_800_003_600)
    );
    // A revoked key cannot be rolled back to life.
    assert!(admin.keys.revoke(old_id).await.unwrap());
    assert!(
        admin
            .keys
            .roll(old_id, Duration::ZERO)
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn bad_requests_are_4xx_and_unknown_keys_404() {
    let admin = admin().await;

    admin
        .post("/keys")
        .raw("application/json", "{not json")
        .send()
        .await
        .assert_error(400, "invalid_request");
    admin
        .post("/keys")
        .json(&json!({"scopes": "a", "colour": "red"}))
        .send()
        .await
        .assert_error(400, "invalid_request");
    admin
        .post("/keys")
        .json(&json!({"tenants": ["not a tenant!"]}))
        .send()
        .await
        .assert_error(400, "invalid_request");
    admin
        .post("/keys")
        .raw("text/plain", "{}")
        .send()
        .await
        .assert_error(400, "invalid_request");
    admin
        .post("/keys")
        .json(&json!({"name": "x".repeat(70_000)}))
        .send()
        .await
        .assert_error(413, "request_too_large");
    admin
        .post("/keys/k_unknown/revoke")
        .send()
        .await
        .assert_error(404, "key_not_found");
    admin
        .post("/keys/k_unknown/roll")
        .send()
        .await
        .assert_error(404, "key_not_found");
    admin
        .get("/keys/k_unknown")
        .send()
        .await
        .assert_error(404, "key_not_found");
    admin
        .patch("/keys/k_unknown")
        .json(&json!({"name": "x"}))
        .send()
        .await
        .assert_error(404, "key_not_found");

    // Without the admin scope, or without a key at all, the app's auth refuses first.
    let user = admin.create(json!({"tenants": [TENANT]})).await;
    admin
        .server
        .get("/keys")
        .api_key(user["key"].as_str().unwrap(), TENANT)
        .send()
        .await
        .assert_error(403, "insufficient_scope");
    assert_eq!(admin.server.get("/keys").send().await.status, 401);
}

/// A key store that is down: every call fails. Implemented outside the crate, as an app's own
/// store would be.
struct Down;

impl KeyProvider for Down {
    fn lookup(&self, _key_id: &str) -> Lookup<Option<Arc<KeyRecord>>> {
        Lookup::Ready(Err(StoreError::new("connection refused")))
    }
}

impl KeyStore for Down {
    async fn create(&self, _: KeyRecord) -> Result<(), StoreError> {
        Err(StoreError::new("connection refused"))
    }
    async fn list(&self, _: &KeyFilter) -> Result<Vec<KeyRecord>, StoreError> {
        Err(StoreError::new("connection refused"))
    }
    async fn update(&self, _: &str, _: &KeyUpdate) -> Result<Option<KeyRecord>, StoreError> {
        Err(StoreError::new("connection refused"))
    }
    async fn revoke(&self, _: &str) -> Result<bool, StoreError> {
        Err(StoreError::new("connection refused"))
    }
    async fn roll(&self, _: &str, _: KeyRecord, _: u64) -> Result<bool, StoreError> {
        Err(StoreError::new("connection refused"))
    }
    async fn record_usage(&self, _: &[(Arc<str>, u64)]) -> Result<(), StoreError> {
        Err(StoreError::new("connection refused"))
    }
}

#[tokio::test]
async fn a_store_that_is_down_is_503_on_every_admin_route() {
    let server = in_process(KeyAdmin::new(KeyManager::new(Down)).router());
    let replies = [
        server.post("/keys").json(&json!({})).send().await,
        server.get("/keys").send().await,
        server.get("/keys/k1").send().await,
        server
            .patch("/keys/k1")
            .json(&json!({"name": "x"}))
            .send()
            .await,
        server.post("/keys/k1/roll").send().await,
        server.post("/keys/k1/revoke").send().await,
    ];
    for reply in replies {
        reply.assert_error(503, "auth_unavailable");
        assert!(
            !reply.text.contains("connection refused"),
            "store errors stay in the logs"
        );
    }
}

#[tokio::test]
async fn bodies_declared_too_long_are_refused_unread_and_stalled_ones_time_out() {
    let timeout = Duration::from_millis(200);
    let admin = admin_with(|admin| admin.body_timeout(timeout), true).await;
    let head = |length: &str| {
        format!(
            "POST /keys HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: {}\r\nX-Tenant-ID: {TENANT}\r\n\
             Content-Type: application/json\r\n{length}\r\n",
            admin.operator
        )
    };
    // A terabyte declared: 413 unread (reading it would have ended in a 408).
    let mut client = RawConnection::open(admin.server.base()).await;
    client
        .send(format!("{}{{}}", head("Content-Length: 1000000000000\r\n")).as_bytes())
        .await;
    let answer = client.answer_then_close(Duration::from_secs(1)).await;
    assert_eq!(answer.status, 413, "{answer:?}");
    assert_eq!(answer.json()["error"]["code"], "request_too_large");

    // 10 bytes of 100, and a chunked body without its last chunk: 408 after the timeout.
    for (framing, part) in [
        ("Content-Length: 100\r\n", r#"{"name": "#),
        ("Transfer-Encoding: chunked\r\n", "3\r\n{\"n\r\n"),
    ] {
        let mut client = RawConnection::open(admin.server.base()).await;
        client
            .send(format!("{}{part}", head(framing)).as_bytes())
            .await;
        let answer = client.answer_then_close(Duration::from_secs(1)).await;
        assert_eq!(answer.status, 408, "{framing}: {answer:?}");
        assert_eq!(answer.json()["error"]["code"], "request_timeout");
        assert!(answer.elapsed >= timeout, "{:?}", answer.elapsed);
    }
    let keys = admin.keys.list(&KeyFilter::default()).await.unwrap();
    assert_eq!(keys.len(), 1, "only the operator's key: none was created");
}
