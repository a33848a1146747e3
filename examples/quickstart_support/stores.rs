//! Where the quickstart keeps its state: in memory (the default), or, with `DATABASE_URL`
//! (`postgres://…` or `sqlite://…`) and/or `REDIS_URL`, in the stores a fleet shares.
//!
//! | set | API keys | refresh sessions and authorization codes | revocation feed | rate limits |
//! | --- | --- | --- | --- | --- |
//! | nothing | memory | memory | none (one instance) | memory |
//! | `DATABASE_URL` | database | database | database (`LISTEN/NOTIFY`, or polling on SQLite) | memory (per instance) |
//! | `REDIS_URL` | memory | Redis | Redis pub/sub | Redis (one quota for the fleet) |
//! | both | database | Redis | Redis pub/sub | Redis |
//!
//! Included by `quickstart.rs` with `#[path]`; not an example of its own.

use std::sync::Arc;
use std::time::Duration;

use tower_api_auth::KeyProvider;
use tower_api_auth::api_key::{ApiKeys, CachedKeyProvider, KeyManager, KeyRecord, KeyUsage};
use tower_api_auth::fleet::RevocationFeed;
use tower_api_auth::health::Readiness;
use tower_api_auth::issuer::{MemoryCodeStore, MemoryRefreshStore, TokenIssuer, TokenService};
use tower_api_auth::store::FeedStore;
use tower_api_auth::store::KeyStore;

type Error = Box<dyn std::error::Error>;

/// The quickstart's stores, chosen from the environment.
pub(crate) struct Stores {
    /// One line for the console: what holds what.
    pub(crate) describe: String,
    /// The shared database's URL, for the command-line tool's walkthrough line.
    pub(crate) database_url: Option<String>,
    /// The revocation feed this instance follows, when there is a shared store.
    pub(crate) feed: Option<RevocationFeed>,
    keys: Option<SharedKeys>,
    sessions: Sessions,
    /// What `/v1/health` checks: the feed, and each store's own answer.
    readiness: Readiness,
}

/// API keys in a database: the manager that writes them, and a cache that follows the feed.
struct SharedKeys {
    manager: KeyManager,
    provider: Arc<dyn KeyProvider>,
    /// `last_used_at`, written every 10 s.
    usage: Arc<KeyUsage>,
    /// Writes `[[auth.api_keys.keys]]` of a configuration file into the database.
    import: Box<dyn Fn(KeyRecord) -> BoxFuture + Send + Sync>,
}

type BoxFuture = std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), Error>> + Send>>;

enum Sessions {
    Memory,
    Postgres(tower_api_auth_sqlx_store::PgStore),
    Sqlite(tower_api_auth_sqlx_store::SqliteStore),
    Redis(tower_api_auth_redis_store::RedisStore),
}

/// Writes a configuration file's key into the shared database, idempotently: instances of a
/// fleet start together, each may find the key absent and try to create it, and one wins. The
/// same key already stored (the same secret's hash) is left as it is — the database's state wins,
/// e.g. a revocation made since — and another key under the same id is a clear error naming it.
pub(crate) async fn import_key<S>(store: &S, record: KeyRecord) -> Result<(), Error>
where
    S: KeyStore + KeyProvider,
{
    let mut last_error = None;
    // Twice at most: a create that lost a race is answered by the winner's record.
    for _ in 0..2 {
        match KeyProvider::lookup(store, &record.key_id).resolve().await? {
            Some(stored) if stored.hash.matches(&record.hash) => return Ok(()),
            Some(_) => {
                return Err(format!(
                    "API key {}: the database holds another key under this id (another secret); \
                     give the file's key another key_id, or remove the stored one",
                    record.key_id
                )
                .into());
            }
            None => match store.create(record.clone()).await {
                Ok(()) => return Ok(()),
                Err(error) => last_error = Some(error),
            },
        }
    }
    Err(last_error.map_or_else(|| "importing an API key failed".into(), Into::into))
}

impl Stores {
    /// The readiness of this instance's stores and feed (none in memory: always ready).
    pub(crate) fn readiness(&self) -> Readiness {
        self.readiness.clone()
    }

    /// Reads `DATABASE_URL` and `REDIS_URL`; connects, migrates, and starts the feed.
    pub(crate) async fn from_env() -> Result<Self, Error> {
        let var = |name| std::env::var(name).ok().filter(|u: &String| !u.is_empty());
        Self::from_urls(var("DATABASE_URL"), var("REDIS_URL")).await
    }

    /// The stores of a database (PostgreSQL or SQLite) and a Redis server, each optional: memory
    /// for what is not given.
    pub(crate) async fn from_urls(
        database_url: Option<String>,
        redis_url: Option<String>,
    ) -> Result<Self, Error> {
        let mut stores = Self {
            describe:
                "in memory (set DATABASE_URL and/or REDIS_URL to share state between instances)"
                    .into(),
            database_url: database_url.clone(),
            feed: None,
            keys: None,
            sessions: Sessions::Memory,
            readiness: Readiness::new(),
        };
        if let Some(url) = &redis_url {
            stores.use_redis(url).await?;
        }
        if let Some(url) = &database_url {
            stores.use_database(url, redis_url.is_none()).await?;
        }
        if let Some(feed) = &stores.feed {
            stores.readiness = std::mem::take(&mut stores.readiness).feed(feed);
            tokio::time::timeout(Duration::from_secs(10), feed.synced())
                .await
                .map_err(|_| "the revocation feed did not sync within 10 s")?;
        }
        Ok(stores)
    }
    async fn use_redis(&mut self, url: &str) -> Result<(), Error> {
        let redis = tower_api_auth_redis_store::RedisStore::connect(url).await?;
        self.feed = Some(RevocationFeed::builder(redis.clone()).start());
        let pinged = redis.clone();
        self.readiness = std::mem::take(&mut self.readiness).check("redis", move || {
            let redis = pinged.clone();
            // The error to the log, a fixed reason to the endpoint's callers.
            async move {
                redis.ping().await.map_err(|error| {
                    tracing::warn!(%error, "readiness: Redis did not answer");
                    "Redis did not answer (the log says why)".to_owned()
                })
            }
        });
        self.sessions = Sessions::Redis(redis);
        self.describe = "sessions and revocations in Redis".into();
        Ok(())
    }

    async fn use_database(&mut self, url: &str, feed_here: bool) -> Result<(), Error> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return self.use_postgres(url, feed_here).await;
        }
        if url.starts_with("sqlite:") {
            return self.use_sqlite(url, feed_here).await;
        }
        Err("DATABASE_URL must start with postgres://, postgresql:// or sqlite:".into())
    }
    async fn use_postgres(&mut self, url: &str, feed_here: bool) -> Result<(), Error> {
        let store = tower_api_auth_sqlx_store::PgStore::connect(url).await?;
        store.migrate().await?;
        self.adopt(store.clone(), feed_here, "PostgreSQL");
        if feed_here {
            self.sessions = Sessions::Postgres(store);
        }
        Ok(())
    }
    async fn use_sqlite(&mut self, url: &str, feed_here: bool) -> Result<(), Error> {
        let store = tower_api_auth_sqlx_store::SqliteStore::connect(url).await?;
        store.migrate().await?;
        self.adopt(store.clone(), feed_here, "SQLite");
        if feed_here {
            self.sessions = Sessions::Sqlite(store);
        }
        Ok(())
    }

    /// Keys in `store`; sessions and the feed too when Redis does not hold them.
    fn adopt<S>(&mut self, store: S, feed_here: bool, name: &str)
    where
        S: KeyStore + FeedStore + Clone,
    {
        if feed_here {
            self.feed = Some(RevocationFeed::builder(store.clone()).start());
            self.describe = format!("API keys, sessions and revocations in {name}");
        } else {
            self.describe = format!("API keys in {name}; sessions and revocations in Redis");
        }
        let feed = self
            .feed
            .as_ref()
            .expect("a feed: the database's or Redis's");
        // The store itself, not the cache in front of it, which would answer from memory.
        self.readiness =
            std::mem::take(&mut self.readiness).key_store(name.to_lowercase(), store.clone());
        let importer = store.clone();
        let usage = Arc::new(KeyUsage::new(store.clone()));
        tower_api_auth::fleet::flush_usage_every(&usage, Duration::from_secs(10));
        self.keys = Some(SharedKeys {
            usage,
            manager: KeyManager::new(store.clone()).announce(feed.clone()),
            provider: Arc::new(CachedKeyProvider::new(store).follow(feed)),
            import: Box::new(move |record| {
                let store = importer.clone();
                Box::pin(async move { import_key(&store, record).await })
            }),
        });
    }

    /// `api_keys` (format, hasher, and the keys of a file) over the shared database, if any:
    /// a file's records are written into the database first, once.
    pub(crate) async fn api_keys(
        &self,
        api_keys: ApiKeys,
        records: &[KeyRecord],
    ) -> Result<ApiKeys, Error> {
        let Some(keys) = &self.keys else {
            return Ok(api_keys);
        };
        for record in records {
            (keys.import)(record.clone()).await?;
        }
        Ok(api_keys
            .with_provider(keys.provider.clone())
            .usage(keys.usage.clone()))
    }

    /// A key manager over the shared database, with `api_keys`' format and hasher.
    pub(crate) fn key_manager(&self, api_keys: &ApiKeys) -> Option<KeyManager> {
        let keys = self.keys.as_ref()?;
        Some(
            keys.manager
                .clone()
                .format(api_keys.key_format().clone())
                .hasher(api_keys.key_hasher().clone()),
        )
    }

    /// The limits counted where the fleet shares them: in Redis when there is one (its refusals
    /// remembered locally, so that a client far over its quota costs no round trip), else in
    /// each instance's memory.
    pub(crate) fn rate_limits(
        &self,
        limits: tower_api_auth::rate_limit::RateLimits,
    ) -> tower_api_auth::rate_limit::RateLimits {
        match &self.sessions {
            Sessions::Redis(store) => limits.backend(
                tower_api_auth::rate_limit::OverLimitCache::new(store.clone()),
            ),
            _ => limits,
        }
    }

    /// The token service on the sessions store, revoking through the feed.
    pub(crate) fn token_service(&self, issuer: TokenIssuer) -> TokenService {
        // Authorization codes where the sessions are: a code issued by one instance is redeemed
        // once, on any.
        let service = match &self.sessions {
            Sessions::Memory => TokenService::new(issuer, MemoryRefreshStore::new())
                .authorization_codes(MemoryCodeStore::new()),
            Sessions::Postgres(store) => {
                TokenService::new(issuer, store.clone()).authorization_codes(store.clone())
            }
            Sessions::Sqlite(store) => {
                TokenService::new(issuer, store.clone()).authorization_codes(store.clone())
            }
            Sessions::Redis(store) => {
                TokenService::new(issuer, store.clone()).authorization_codes(store.clone())
            }
        };
        match &self.feed {
            Some(feed) => service.revocation_store(feed.clone()),
            None => service,
        }
    }
}
