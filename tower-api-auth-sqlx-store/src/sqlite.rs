//! [`SqliteStore`]: every store of the crate in one SQLite database, for one host.

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};

use crate::error::{config_error, db_error};
use crate::store::ACQUIRE_TIMEOUT;
use tower_api_auth::store::StoreError;

/// How long a writer waits for another one before it fails.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The SQLite store: API keys ([`KeyStore`](tower_api_auth::store::KeyStore)), refresh sessions
/// ([`RefreshStore`](tower_api_auth::store::RefreshStore)), OAuth clients
/// ([`ClientStore`](tower_api_auth::store::ClientStore)) and the revocation feed
/// ([`FeedStore`](tower_api_auth::store::FeedStore), by polling `auth_feed_log`), all in the tables
/// described in the [module docs](crate). Several processes of one host may share the file.
///
/// Cheap to clone: clones share the pool. `Debug` shows the pool's size, never the path.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::time::Duration;
/// use tower_api_auth::api_key::{ApiKeyFormat, ApiKeyHasher};
/// use tower_api_auth::store::{KeyFilter, KeyStore};
/// use tower_api_auth_sqlx_store::SqliteStore;
///
/// let store = SqliteStore::connect("sqlite::memory:")
///     .await?
///     .poll_interval(Duration::from_millis(100));
/// store.migrate().await?;
/// let (plaintext, record) = ApiKeyHasher::default().generate(&ApiKeyFormat::default()).into_parts();
/// store.create(record).await?; // only the hash is stored; show `plaintext` once
/// assert_eq!(store.list(&KeyFilter::default()).await?.len(), 1);
/// # let _ = plaintext;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    poll_interval: Duration,
    /// The hasher of the OAuth clients' secrets.
    #[cfg(feature = "issuer")]
    client_hasher: tower_api_auth::api_key::ApiKeyHasher,
}

impl SqliteStore {
    /// How often a feed subscription looks for new events unless
    /// [`poll_interval`](Self::poll_interval) sets another.
    pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_millis(200);

    /// A store on the app's own pool (open it with foreign keys on, as sqlx does by default).
    pub fn new(pool: SqlitePool) -> Self {
        Self {
            pool,
            poll_interval: Self::DEFAULT_POLL_INTERVAL,
            #[cfg(feature = "issuer")]
            client_hasher: tower_api_auth::api_key::ApiKeyHasher::default(),
        }
    }

    /// A store on a pool of its own, from a `sqlite:` URL: the file is created if missing and
    /// opened in WAL mode, writers wait up to 5 s for each other, and a connection is waited for
    /// at most 3 s. `sqlite::memory:` is one in-memory database, alive as long as the store.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(config_error)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true);
        let mut pool = SqlitePoolOptions::new().acquire_timeout(ACQUIRE_TIMEOUT);
        if url.contains(":memory:") || url.contains("mode=memory") {
            // One connection that never closes: the database lives exactly as long as it.
            pool = pool
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None);
        }
        let pool = pool.connect_with(options).await.map_err(db_error)?;
        Ok(Self::new(pool))
    }

    /// How often a feed subscription looks for new events (default 200 ms): the delay before
    /// the other processes of the host learn of a revocation. Keep it well under the feed's
    /// [resync interval](tower_api_auth::fleet::FeedBuilder::resync_every): the feed's ping must come
    /// back within one interval, or the subscription is taken for dead.
    #[must_use]
    pub fn poll_interval(mut self, every: Duration) -> Self {
        self.poll_interval = every.max(Duration::from_millis(1));
        self
    }

    pub(crate) fn poll_every(&self) -> Duration {
        self.poll_interval
    }
}

/// The schema, in version order: every file of `migrations/sqlite`, embedded (a test checks that
/// none is missing). An applied file is never edited, not even its comments: databases record
/// its checksum, and a test pins it; a change is a new file.
pub(crate) const MIGRATIONS: &[crate::store::Embedded] = &[
    crate::store::Embedded {
        version: 20261201000001,
        description: "tower api auth",
        sql: include_str!("../migrations/sqlite/20261201000001_tower_api_auth.sql"),
    },
    crate::store::Embedded {
        version: 20261202000001,
        description: "sessions by subject",
        sql: include_str!("../migrations/sqlite/20261202000001_sessions_by_subject.sql"),
    },
    crate::store::Embedded {
        version: 20261202190000,
        description: "authorization codes",
        sql: include_str!("../migrations/sqlite/20261202190000_authorization_codes.sql"),
    },
    crate::store::Embedded {
        version: 20261203000010,
        description: "signing keys",
        sql: include_str!("../migrations/sqlite/20261203000010_signing_keys.sql"),
    },
    crate::store::Embedded {
        version: 20261203120000,
        description: "feed key epoch",
        sql: include_str!("../migrations/sqlite/20261203120000_feed_key_epoch.sql"),
    },
];

crate::store::impl_sql_store!(
    SqliteStore,
    sqlx::Sqlite,
    sqlx::sqlite::SqliteRow,
    SqlitePool,
    MIGRATIONS,
    poll_interval,
    // IMMEDIATE takes the write lock at once, so two instances migrating take turns.
    "BEGIN IMMEDIATE",
    "BLOB" // No subject lock: a login's first statement writes, which takes SQLite's one write
           // lock, so logins (of any subject) already take turns.
);
