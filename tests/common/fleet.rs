//! A fleet for tests: instances that share stores and each follow the revocation feed, served
//! over real HTTP. Each instance has its own in-memory state (revocation list, verified-token
//! cache, API-key cache), exactly as separate processes would; only the stores are shared.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use tower_api_auth::api_key::{ApiKeys, CachedKeyProvider, KeyAdmin, KeyManager, KeyStore};
use tower_api_auth::clock::ManualClock;
use tower_api_auth::fleet::{FeedBackend, RevocationFeed};
use tower_api_auth::issuer::{
    ClientStore, MemoryClients, RefreshStore, TokenEndpoints, TokenService,
};
use tower_api_auth::{AuthLayer, Identity, RequireScopesLayer, api_key::ApiKeyHasher};

use super::lifecycle::hs256_issuer;
use super::{Reply, Server, serve};

/// One instance of the fleet.
pub(crate) struct Instance {
    pub(crate) server: Server,
    pub(crate) tokens: Arc<TokenService>,
    pub(crate) feed: RevocationFeed,
    pub(crate) keys: KeyManager,
}

async fn me(identity: Identity) -> String {
    identity.principal().to_owned()
}

/// How an instance is built.
pub(crate) struct Setup {
    pub(crate) clock: ManualClock,
    pub(crate) staleness: Duration,
    pub(crate) key_cache_ttl: Duration,
    /// Whether the API-key cache follows the feed (a control instance does not).
    pub(crate) follow: bool,
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
    pub(crate) async fn start<B, R, K>(&self, feed: B, refresh: R, keys: K) -> Instance
    where
        B: FeedBackend,
        R: RefreshStore + Clone,
        K: KeyStore + Clone,
    {
        self.start_with_clients(
            feed,
            refresh,
            keys,
            MemoryClients::new(ApiKeyHasher::default()),
        )
        .await
    }

    /// As [`start`](Self::start), with an OAuth client store.
    pub(crate) async fn start_with_clients<B, R, K, C>(
        &self,
        feed: B,
        refresh: R,
        keys: K,
        clients: C,
    ) -> Instance
    where
        B: FeedBackend,
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
            .announce(&feed);
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
pub(crate) async fn wait_until<F, Fut>(
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
pub(crate) fn worst(delays: &[Duration]) -> Duration {
    delays.iter().copied().max().unwrap_or_default()
}
