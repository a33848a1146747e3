//! A token exchanged for an API key lives no longer than the key: the auth layer refuses it as
//! soon as it refuses the key itself — revoked, disabled, expired or removed — whichever way the
//! key was changed (the provider's own calls, `KeyStore`, `KeyManager`, the admin API), and a
//! cached provider that follows key changes answers for both from memory. In process.
#![cfg(all(
    feature = "issuer",
    feature = "axum",
    any(feature = "aws-lc-rs", feature = "rust-crypto")
))]

use tower_api_auth::issuer::Login;
use tower_api_auth_tests as common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use axum::routing::get;
use tower_api_auth::api_key::{
    ApiKeys, CachedKeyProvider, KeyAnnouncer, KeyChangeListener, KeyChanges, KeyManager, KeyRecord,
    KeySpec,
};
use tower_api_auth::clock::ManualClock;
use tower_api_auth::endpoints::KeyAdmin;
use tower_api_auth::issuer::TokenService;
use tower_api_auth::scope::Scopes;
use tower_api_auth::store::{KeyStore, KeyUpdate, Lookup, StoreError};
use tower_api_auth::{AuthLayer, KeyProvider, MemoryKeyStore, RequireScopesLayer, Tenant};

use common::lifecycle::hs256_issuer;
use common::{Server, in_process};

const TENANT: &str = "tn_ops";

/// A key provider that counts the lookups that reach it.
#[derive(Clone)]
struct Counted {
    store: MemoryKeyStore,
    lookups: Arc<AtomicUsize>,
}

impl KeyProvider for Counted {
    fn lookup(&self, key_id: &str) -> Lookup<Option<Arc<KeyRecord>>> {
        self.lookups.fetch_add(1, Ordering::SeqCst);
        self.store.lookup(key_id)
    }
}

/// The app's bus for key changes: delivers at once, never misses one.
#[derive(Clone, Default)]
struct Bus(Arc<Mutex<Vec<Weak<dyn KeyChangeListener>>>>);

impl KeyChanges for Bus {
    fn watch(&self, listener: Weak<dyn KeyChangeListener>) {
        self.0.lock().unwrap().push(listener);
    }
    fn is_fresh(&self, _now: u64) -> bool {
        true
    }
}

impl KeyAnnouncer for Bus {
    async fn key_changed(&self, key_id: &str) -> Result<(), StoreError> {
        for listener in self.0.lock().unwrap().iter().filter_map(Weak::upgrade) {
            listener.key_changed(Some(key_id));
        }
        Ok(())
    }
}

struct App {
    server: Server,
    tokens: Arc<TokenService>,
    store: MemoryKeyStore,
    keys: KeyManager,
    clock: ManualClock,
    /// A `keys:admin` key for the admin API.
    operator: String,
}

/// The token service exchanging keys of `store`, and an auth layer reading `provider`, with the
/// admin API and `/me` behind it.
async fn app_with(
    store: MemoryKeyStore,
    provider: impl KeyProvider,
    keys: KeyManager,
    clock: ManualClock,
) -> App {
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
    let tokens = Arc::new(
        TokenService::new(
            hs256_issuer(),
            tower_api_auth::issuer::MemoryRefreshStore::new(),
        )
        .api_keys(store.clone())
        .clock(clock.clone()),
    );
    let auth = AuthLayer::builder()
        .jwt(tokens.validator())
        .revocation(tokens.revocations())
        .api_keys(ApiKeys::new(provider))
        .clock(clock.clone())
        .build()
        .unwrap();
    let app = axum::Router::new()
        .merge(KeyAdmin::new(keys.clone()).router())
        .layer(RequireScopesLayer::all(["keys:admin"]))
        .route("/me", get(|| async { "ok" }))
        .layer(auth);
    App {
        server: in_process(app),
        tokens,
        store,
        keys,
        clock,
        operator,
    }
}

async fn app() -> App {
    let store = MemoryKeyStore::new();
    let clock = ManualClock::at(1_800_000_000);
    let keys = KeyManager::new(store.clone()).clock(clock.clone());
    app_with(store.clone(), store, keys, clock).await
}

impl App {
    /// A new key, and the access and refresh tokens it was exchanged for.
    async fn exchanged(&self, spec: KeySpec) -> (String, String, String, String) {
        let spec = spec.tenants([Tenant::new(TENANT).unwrap()]);
        let created = self.keys.create(spec).await.unwrap();
        let pair = self
            .tokens
            .login(Login::api_key(&created.key))
            .await
            .unwrap();
        (
            created.key,
            created.info.key_id.to_string(),
            pair.access_token,
            pair.refresh_token.unwrap(),
        )
    }

    /// The status and error code `credential` (a token or a key) gets on `/me`.
    async fn answer(&self, credential: &str) -> (u16, String) {
        let call = self.server.get("/me");
        // API keys name their tenant in a header; the exchanged tokens carry it.
        let call = if credential.contains('.') {
            call.bearer(credential)
        } else {
            call.api_key(credential, TENANT)
        };
        let reply = call.send().await;
        let code = match reply.status {
            200 => String::new(),
            _ => reply.json()["error"]["code"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        };
        (reply.status, code)
    }
}

#[tokio::test]
async fn an_exchanged_token_is_refused_with_its_key_whichever_way_the_key_changed() {
    let app = app().await;
    type Path = fn(&App, String) -> std::pin::Pin<Box<dyn Future<Output = ()> + '_>>;
    let paths: [(&str, Path, &str); 6] = [
        (
            "MemoryKeyStore::revoke",
            |app, id| Box::pin(async move { assert!(app.store.revoke(&id)) }),
            "api_key_revoked",
        ),
        (
            "KeyStore::revoke",
            |app, id| {
                Box::pin(async move { assert!(KeyStore::revoke(&app.store, &id).await.unwrap()) })
            },
            "api_key_revoked",
        ),
        (
            "KeyManager::revoke",
            |app, id| Box::pin(async move { assert!(app.keys.revoke(&id).await.unwrap()) }),
            "api_key_revoked",
        ),
        (
            "KeyManager::update (disabled)",
            |app, id| {
                Box::pin(async move {
                    let disabled = KeyUpdate::default().disabled(true);
                    assert!(app.keys.update(&id, &disabled).await.unwrap().is_some());
                })
            },
            "api_key_revoked",
        ),
        (
            "the admin API",
            |app, id| {
                Box::pin(async move {
                    let reply = app
                        .server
                        .post(&format!("/keys/{id}/revoke"))
                        .api_key(&app.operator, TENANT)
                        .send()
                        .await;
                    assert_eq!(reply.status, 204, "{}", reply.text);
                })
            },
            "api_key_revoked",
        ),
        (
            "MemoryKeyStore::remove",
            |app, id| Box::pin(async move { assert!(app.store.remove(&id)) }),
            "token_revoked",
        ),
    ];
    for (path, change, code) in paths {
        let (key, key_id, access, refresh) = app.exchanged(KeySpec::default()).await;
        assert_eq!(app.answer(&access).await, (200, String::new()), "{path}");
        assert_eq!(app.answer(&key).await.0, 200, "{path}");
        change(&app, key_id).await;
        assert_eq!(
            app.answer(&access).await,
            (401, code.to_owned()),
            "{path}: the exchanged access token, at once"
        );
        assert_eq!(app.answer(&key).await.0, 401, "{path}: the key itself");
        let refreshed = app.tokens.refresh(&refresh, None).await.unwrap_err();
        assert_eq!(refreshed.code(), "invalid_grant", "{path}: and its session");
    }
}

#[tokio::test]
async fn an_exchanged_token_is_refused_once_its_key_expires() {
    let app = app().await;
    let expires_at = 1_800_000_000 + 60;
    let (key, _, access, _) = app
        .exchanged(KeySpec::default().expires_at(expires_at))
        .await;
    app.clock.advance(Duration::from_secs(59));
    assert_eq!(app.answer(&access).await.0, 200);
    app.clock.advance(Duration::from_secs(1));
    assert_eq!(app.answer(&access).await, (401, "api_key_expired".into()));
    assert_eq!(app.answer(&key).await, (401, "api_key_expired".into()));
}

#[tokio::test]
async fn tokens_of_other_keys_are_untouched() {
    let app = app().await;
    let (_, revoked_id, revoked, _) = app.exchanged(KeySpec::default()).await;
    let (_, _, other, _) = app.exchanged(KeySpec::default()).await;
    app.keys.revoke(&revoked_id).await.unwrap();
    assert_eq!(app.answer(&revoked).await.0, 401);
    assert_eq!(app.answer(&other).await, (200, String::new()));
}

/// Through a cache that follows the key changes, a known key is answered from memory for its
/// token as for itself (no store call per request), and a change the manager announces reaches
/// both at once; a change made behind the cache's back reaches both when the cache entry lapses.
#[tokio::test]
async fn through_a_followed_cache_the_token_goes_with_its_key() {
    let store = MemoryKeyStore::new();
    let clock = ManualClock::at(1_800_000_000);
    let bus = Bus::default();
    let lookups = Arc::new(AtomicUsize::new(0));
    let counted = Counted {
        store: store.clone(),
        lookups: lookups.clone(),
    };
    let cache = CachedKeyProvider::new(counted)
        .clock(clock.clone())
        .ttl(Duration::from_secs(30))
        .follow(&bus);
    let keys = KeyManager::new(store.clone())
        .clock(clock.clone())
        .announce(bus.clone());
    let app = app_with(store.clone(), cache, keys, clock.clone()).await;

    let (key, key_id, access, _) = app.exchanged(KeySpec::default()).await;
    assert_eq!(app.answer(&access).await.0, 200);
    let before = lookups.load(Ordering::SeqCst);
    for _ in 0..10 {
        assert_eq!(app.answer(&access).await.0, 200);
        assert_eq!(app.answer(&key).await.0, 200);
    }
    assert_eq!(
        lookups.load(Ordering::SeqCst),
        before,
        "a known key is answered from the cache"
    );
    app.keys.revoke(&key_id).await.unwrap();
    assert_eq!(app.answer(&access).await, (401, "api_key_revoked".into()));
    assert_eq!(app.answer(&key).await, (401, "api_key_revoked".into()));

    // Behind the cache's back: the same answer for both until the entry lapses, then both refused.
    let (key, key_id, access, _) = app.exchanged(KeySpec::default()).await;
    assert_eq!(app.answer(&access).await.0, 200);
    assert!(store.revoke(&key_id));
    assert_eq!(app.answer(&access).await.0, 200, "cached, as the key is");
    assert_eq!(app.answer(&key).await.0, 200);
    clock.advance(Duration::from_secs(30));
    assert_eq!(app.answer(&access).await, (401, "api_key_revoked".into()));
    assert_eq!(app.answer(&key).await, (401, "api_key_revoked".into()));
}
