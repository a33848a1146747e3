//! A fleet for tests: instances that share stores and each follow the revocation feed, served
//! over real HTTP. Each instance has its own in-memory state (revocation list, verified-token
//! cache, API-key cache), exactly as separate processes would; only the stores are shared.

use std::sync::Arc;
use std::time::{Duration, Instant};
use tower_api_auth::issuer::Login;

use serde_json::{Value, json};
use tower_api_auth::Tenant;
use tower_api_auth::api_key::KeySpec;
use tower_api_auth::scope::Scopes;

use axum::Router;
use axum::routing::get;
use tower_api_auth::api_key::{ApiKeys, CachedKeyProvider, KeyManager};
use tower_api_auth::clock::ManualClock;
use tower_api_auth::endpoints::KeyAdmin;
use tower_api_auth::endpoints::TokenEndpoints;
use tower_api_auth::fleet::RevocationFeed;
use tower_api_auth::issuer::{MemoryClientStore, TokenService};
use tower_api_auth::store::FeedStore;
use tower_api_auth::store::KeyStore;
use tower_api_auth::store::{ClientStore, RefreshStore};
use tower_api_auth::{AuthLayer, Identity, RequireScopesLayer, api_key::ApiKeyHasher};

use super::lifecycle::hs256_issuer;
use super::{Reply, Server, serve};

/// The tenant of every key the fleet helpers make.
pub const TENANT: &str = "tn_a";

/// One instance of the fleet.
pub struct Instance {
    pub server: Server,
    pub tokens: Arc<TokenService>,
    pub feed: RevocationFeed,
    pub keys: KeyManager,
}

async fn me(identity: Identity) -> String {
    identity.principal().to_owned()
}

/// How an instance is built.
pub struct Setup {
    pub clock: ManualClock,
    pub staleness: Duration,
    pub key_cache_ttl: Duration,
    /// Whether the API-key cache follows the feed (a control instance does not).
    pub follow: bool,
}

impl Default for Setup {
    fn default() -> Self {
        Self {
            clock: ManualClock::starting_now(),
            staleness: Duration::from_secs(30),
            key_cache_ttl: Duration::from_secs(3600),
            follow: true,
        }
    }
}

impl Setup {
    /// Starts an instance on `feed`, `refresh` and `keys`, and waits for its first sync.
    pub async fn start<B, R, K>(&self, feed: B, refresh: R, keys: K) -> Instance
    where
        B: FeedStore,
        R: RefreshStore + Clone,
        K: KeyStore + Clone,
    {
        self.start_with_clients(
            feed,
            refresh,
            keys,
            MemoryClientStore::new(ApiKeyHasher::default()),
        )
        .await
    }

    /// As [`start`](Self::start), with an OAuth client store.
    pub async fn start_with_clients<B, R, K, C>(
        &self,
        feed: B,
        refresh: R,
        keys: K,
        clients: C,
    ) -> Instance
    where
        B: FeedStore,
        R: RefreshStore + Clone,
        K: KeyStore + Clone,
        C: ClientStore,
    {
        let feed = RevocationFeed::builder(feed)
            .max_staleness(self.staleness)
            .resync_every(Duration::from_millis(500))
            .clock(self.clock.clone())
            .start();
        tokio::time::timeout(Duration::from_secs(10), feed.synced())
            .await
            .expect("the feed syncs");
        let mut cache = CachedKeyProvider::new(keys.clone())
            .clock(self.clock.clone())
            .ttl(self.key_cache_ttl);
        if self.follow {
            cache = cache.follow(&feed);
        }
        let api_keys = ApiKeys::new(cache);
        let tokens = Arc::new(
            TokenService::new(hs256_issuer(), refresh)
                .api_keys(ApiKeys::new(keys.clone()))
                .clients(clients)
                .revocation_store(feed.clone())
                .clock(self.clock.clone()),
        );
        let auth = || {
            AuthLayer::builder()
                .jwt(tokens.validator())
                .api_keys(api_keys.clone())
                .revocation(feed.clone())
                .clock(self.clock.clone())
                .build()
                .unwrap()
        };
        let manager = KeyManager::new(keys)
            .clock(self.clock.clone())
            .announce(feed.clone());
        let admin = KeyAdmin::new(manager.clone())
            .router()
            .layer(RequireScopesLayer::all(["keys:admin"]))
            .layer(auth());
        let app = Router::new()
            .route("/me", get(me).route_layer(auth()))
            .nest("/v1", TokenEndpoints::new(tokens.clone()).router(auth()))
            .nest("/admin", admin);
        Instance {
            server: serve(app).await,
            tokens,
            feed,
            keys: manager,
        }
    }
}

/// Polls `request` until `done` holds; the time it took. Fails the test after `limit`.
pub async fn wait_until<F, Fut>(
    limit: Duration,
    mut request: F,
    done: impl Fn(&Reply) -> bool,
) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Reply>,
{
    let start = Instant::now();
    loop {
        let reply = request().await;
        if done(&reply) {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < limit,
            "not reached within {limit:?}: last answer {} {:?}",
            reply.status,
            reply.text
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// The largest of `delays` (with 20 samples, the p95; the bound is on the p99, which the
/// maximum bounds from above).
pub fn worst(delays: &[Duration]) -> Duration {
    delays.iter().copied().max().unwrap_or_default()
}

/// A key of `user_1` for tenant [`TENANT`] with `scopes`, made on `instance`.
pub async fn key(instance: &Instance, scopes: &str) -> String {
    let spec = KeySpec::default()
        .owner("user_1")
        .tenants([Tenant::new(TENANT).unwrap()])
        .scopes(Scopes::parse(scopes).unwrap());
    instance.keys.create(spec).await.unwrap().key
}

/// 20 logouts on `a`, each refused on `b`; the worst delay.
pub async fn logout_propagation(a: &Instance, b: &Instance) -> Duration {
    let api_key = key(a, "read").await;
    let mut delays = Vec::new();
    for _ in 0..20 {
        let pair = a.tokens.login(Login::api_key(&api_key)).await.unwrap();
        let token = pair.access_token;
        assert_eq!(b.server.get("/me").bearer(&token).send().await.status, 200);
        let logout = a.server.post("/v1/auth/logout").bearer(&token).send().await;
        assert_eq!(logout.status, 204, "{}", logout.text);
        delays.push(
            wait_until(
                Duration::from_secs(1),
                || b.server.get("/me").bearer(&token).send(),
                |reply| reply.status == 401,
            )
            .await,
        );
        b.server
            .get("/me")
            .bearer(&token)
            .send()
            .await
            .assert_error(401, "token_revoked");
    }
    worst(&delays)
}

/// A key cached on `b` (used twice), revoked through `a`'s admin API, refused on `b`; the delay.
/// A `control` instance, whose cache does not follow the feed, uses the key too and still
/// accepts it afterwards: proof that `b` answered from its cache until the feed told it.
pub async fn key_revocation_propagation(
    a: &Instance,
    b: &Instance,
    control: Option<&Instance>,
) -> Duration {
    let admin = key(a, "keys:admin").await;
    let created = a
        .server
        .post("/admin/keys")
        .api_key(&admin, TENANT)
        .json(&json!({"owner": "user_7", "scopes": "read", "tenants": [TENANT]}))
        .send()
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let body = created.json();
    let user_key = body["key"].as_str().unwrap().to_owned();
    let key_id = body["key_id"].as_str().unwrap().to_owned();
    // A token exchanged for the key on A, which B and the control have never seen.
    let exchanged = a
        .tokens
        .login(Login::api_key(&user_key))
        .await
        .unwrap()
        .access_token;
    for instance in std::iter::once(b).chain(control) {
        for _ in 0..2 {
            let reply = instance
                .server
                .get("/me")
                .api_key(&user_key, TENANT)
                .send()
                .await;
            assert_eq!(reply.status, 200, "{}", reply.text);
            let reply = instance.server.get("/me").bearer(&exchanged).send().await;
            assert_eq!(reply.status, 200, "{}", reply.text);
        }
    }
    let revoked = a
        .server
        .post(&format!("/admin/keys/{key_id}/revoke"))
        .api_key(&admin, TENANT)
        .send()
        .await;
    assert_eq!(revoked.status, 204, "{}", revoked.text);
    let delay = wait_until(
        Duration::from_secs(1),
        || b.server.get("/me").api_key(&user_key, TENANT).send(),
        |reply| reply.status == 401,
    )
    .await;
    b.server
        .get("/me")
        .api_key(&user_key, TENANT)
        .send()
        .await
        .assert_error(401, "api_key_revoked");
    // The token exchanged for it goes with it: B answers both from the same cache entry.
    b.server
        .get("/me")
        .bearer(&exchanged)
        .send()
        .await
        .assert_error(401, "api_key_revoked");
    if let Some(control) = control {
        let reply = control
            .server
            .get("/me")
            .api_key(&user_key, TENANT)
            .send()
            .await;
        assert_eq!(
            reply.status, 200,
            "without the feed the cached answer is still served"
        );
        let reply = control.server.get("/me").bearer(&exchanged).send().await;
        assert_eq!(reply.status, 200, "for the key and its token alike");
    }
    delay
}

/// 64 refreshes of one token, half on each instance: one 200, 63 `invalid_grant`, and the
/// session is over everywhere.
pub async fn refresh_race(a: &Instance, b: &Instance) {
    let api_key = key(a, "read").await;
    let pair = a.tokens.login(Login::api_key(&api_key)).await.unwrap();
    let refresh_token = pair.refresh_token.unwrap();
    let tasks: Vec<_> = (0..64)
        .map(|i| {
            let server = if i % 2 == 0 {
                a.server.clone()
            } else {
                b.server.clone()
            };
            let body = json!({ "refresh_token": refresh_token });
            tokio::spawn(async move { server.post_json("/v1/auth/refresh", &body).await })
        })
        .collect();
    let mut replies = Vec::new();
    for task in tasks {
        replies.push(task.await.unwrap());
    }
    let winners: Vec<_> = replies.iter().filter(|r| r.status == 200).collect();
    assert_eq!(winners.len(), 1, "exactly one refresh wins");
    for loser in replies.iter().filter(|r| r.status != 200) {
        loser.assert_error(400, "invalid_grant");
    }
    let won: Value = winners[0].json();
    let access = won["access_token"].as_str().unwrap().to_owned();
    for instance in [a, b] {
        instance
            .server
            .post_json(
                "/v1/auth/refresh",
                &json!({ "refresh_token": won["refresh_token"] }),
            )
            .await
            .assert_error(400, "invalid_grant");
        wait_until(
            Duration::from_secs(1),
            || instance.server.get("/me").bearer(&access).send(),
            |reply| reply.status == 401,
        )
        .await;
    }
}

/// Two instances on the same stores.
pub async fn pair<B, R, K>(feed: (B, B), refresh: R, keys: K) -> (Instance, Instance)
where
    B: FeedStore,
    R: RefreshStore + Clone,
    K: KeyStore + Clone,
{
    let setup = Setup::default();
    let a = setup.start(feed.0, refresh.clone(), keys.clone()).await;
    let b = setup.start(feed.1, refresh, keys).await;
    (a, b)
}

/// After an outage: the session started before it refreshes (nothing was lost, nothing was
/// spent), and its access token is accepted again once the feed has resynced.
pub async fn refreshes_after_the_outage(a: &Instance, refresh_token: &str, access_token: &str) {
    let refreshed = a
        .server
        .post_json(
            "/v1/auth/refresh",
            &json!({ "refresh_token": refresh_token }),
        )
        .await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.text);
    wait_until(
        Duration::from_secs(10),
        || a.server.get("/me").bearer(access_token).send(),
        |reply| reply.status == 200,
    )
    .await;
}

/// Absolute lifetime and idle timeout, through the token service, on `store`: a session idle
/// past its timeout is refused, one refreshed in time lives on, and none outlives its absolute
/// end however often it is refreshed. Times are near the real now, since Redis expires keys by
/// its own clock.
pub async fn lifetimes_hold(store: impl RefreshStore) {
    use tower_api_auth::MemoryKeyStore;
    use tower_api_auth::api_key::KeyManager;
    use tower_api_auth::clock::ManualClock;
    use tower_api_auth::issuer::TokenService;

    let clock = ManualClock::starting_now();
    let keys = MemoryKeyStore::new();
    let key = KeyManager::new(keys.clone())
        .clock(clock.clone())
        .create(KeySpec::default())
        .await
        .unwrap()
        .key;
    let tokens = TokenService::new(hs256_issuer(), store)
        .api_keys(keys)
        .session_ttl(Duration::from_secs(300))
        .idle_timeout(Duration::from_secs(60))
        .clock(clock.clone());
    let refresh = |token: String| {
        let tokens = &tokens;
        async move { tokens.refresh(&token, None).await }
    };

    // Idle past the timeout: over.
    let idle = tokens.login(Login::api_key(&key)).await.unwrap();
    clock.advance(Duration::from_secs(60));
    let refused = refresh(idle.refresh_token.unwrap()).await.unwrap_err();
    assert_eq!(
        refused.code(),
        "invalid_grant",
        "idle for the whole timeout"
    );

    // Refreshed every 50 s: alive until the absolute end, never after.
    let mut token = tokens
        .login(Login::api_key(&key))
        .await
        .unwrap()
        .refresh_token
        .unwrap();
    for _ in 0..5 {
        clock.advance(Duration::from_secs(50));
        token = refresh(token)
            .await
            .expect("refreshed in time")
            .refresh_token
            .unwrap();
    }
    clock.advance(Duration::from_secs(50)); // 300 s after the start
    assert_eq!(
        refresh(token).await.unwrap_err().code(),
        "invalid_grant",
        "the absolute end"
    );
}

/// A token exchanged for an API key is refused as soon as its key is, on `store` (the instance's
/// key store, read uncached: start `a` with `key_cache_ttl: Duration::ZERO`): revoked by the
/// store's own call, revoked through the key manager, or disabled. The refresh token goes too.
pub async fn exchanged_tokens_follow_their_key(a: &Instance, store: &impl KeyStore) {
    use tower_api_auth::store::KeyUpdate;

    for path in [
        "KeyStore::revoke",
        "KeyManager::revoke",
        "KeyManager::update",
    ] {
        let spec = KeySpec::default()
            .owner("user_1")
            .tenants([Tenant::new(TENANT).unwrap()])
            .scopes(Scopes::parse("read").unwrap());
        let created = a.keys.create(spec).await.unwrap();
        let key_id = created.info.key_id.to_string();
        let pair = a.tokens.login(Login::api_key(&created.key)).await.unwrap();
        let me = || a.server.get("/me").bearer(&pair.access_token).send();
        assert_eq!(me().await.status, 200, "{path}");
        match path {
            "KeyStore::revoke" => assert!(store.revoke(&key_id).await.unwrap()),
            "KeyManager::revoke" => assert!(a.keys.revoke(&key_id).await.unwrap()),
            _ => {
                let disabled = KeyUpdate::default().disabled(true);
                assert!(a.keys.update(&key_id, &disabled).await.unwrap().is_some());
            }
        }
        me().await.assert_error(401, "api_key_revoked");
        let refresh = pair.refresh_token.as_deref().unwrap();
        let refused = a.tokens.refresh(refresh, None).await.unwrap_err();
        assert_eq!(refused.code(), "invalid_grant", "{path}");
    }
}

/// The service's defaults and bound on `store`: sessions carry the 15-day idle timeout, and a
/// login beyond `max_sessions_per_subject` ends the subject's oldest session as a logout does
/// (its refresh token fails, its access token is refused) while the others live on.
pub async fn sessions_are_bounded(store: impl RefreshStore) {
    use tower_api_auth::MemoryKeyStore;
    use tower_api_auth::clock::ManualClock;
    use tower_api_auth::issuer::TokenService;

    let clock = ManualClock::starting_now();
    let keys = MemoryKeyStore::new();
    let key = KeyManager::new(keys.clone())
        .clock(clock.clone())
        .create(KeySpec::default())
        .await
        .unwrap()
        .key;
    let tokens = TokenService::new(hs256_issuer(), store)
        .api_keys(keys)
        .max_sessions_per_subject(2)
        .clock(clock.clone());
    let auth = AuthLayer::builder()
        .jwt(tokens.validator())
        .revocation(tokens.revocations())
        .clock(clock.clone())
        .build()
        .unwrap();
    let server = super::in_process(Router::new().route("/me", get(me).route_layer(auth)));
    let mut pairs = Vec::new();
    for _ in 0..3 {
        pairs.push(tokens.login(Login::api_key(&key)).await.unwrap());
        clock.advance(Duration::from_secs(1));
    }
    let oldest = &pairs[0];
    let refused = tokens
        .refresh(oldest.refresh_token.as_deref().unwrap(), None)
        .await;
    assert_eq!(
        refused.unwrap_err().code(),
        "invalid_grant",
        "the oldest ended"
    );
    server
        .get("/me")
        .bearer(&oldest.access_token)
        .send()
        .await
        .assert_error(401, "token_revoked");
    for pair in &pairs[1..] {
        assert_eq!(
            server
                .get("/me")
                .bearer(&pair.access_token)
                .send()
                .await
                .status,
            200
        );
        tokens
            .refresh(pair.refresh_token.as_deref().unwrap(), None)
            .await
            .expect("the two newest live on");
    }

    // 15 idle days end a session by default, within its 30-day absolute lifetime.
    let idle = tokens.login(Login::api_key(&key)).await.unwrap();
    clock.advance(Duration::from_secs(15 * 24 * 60 * 60));
    let refused = tokens
        .refresh(idle.refresh_token.as_deref().unwrap(), None)
        .await;
    assert_eq!(refused.unwrap_err().code(), "invalid_grant", "15 days idle");
}
