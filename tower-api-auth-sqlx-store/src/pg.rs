//! [`PgStore`]: every store of the crate on one PostgreSQL pool.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

use crate::error::{config_error, db_error};
use crate::store::ACQUIRE_TIMEOUT;
use tower_api_auth::store::StoreError;

/// How long one statement of a pool built by [`PgStore::connect`] may run.
const STATEMENT_TIMEOUT: Duration = Duration::from_secs(10);

/// The PostgreSQL store: API keys ([`KeyStore`](tower_api_auth::store::KeyStore)), refresh sessions
/// ([`RefreshStore`](tower_api_auth::store::RefreshStore)), OAuth clients
/// ([`ClientStore`](tower_api_auth::store::ClientStore)) and the fleet's revocation feed
/// ([`FeedStore`](tower_api_auth::store::FeedStore), announced with `LISTEN/NOTIFY`), all in the tables
/// described in the [module docs](crate).
///
/// Cheap to clone: clones share the pool. `Debug` shows the pool's size and the channel, never
/// the connection string.
///
/// ```no_run
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use tower_api_auth::api_key::{ApiKeyFormat, ApiKeyHasher};
/// use tower_api_auth::store::KeyStore;
/// use tower_api_auth_sqlx_store::PgStore;
///
/// let store = PgStore::connect("postgres://app@localhost/app").await?.channel("auth_feed");
/// store.migrate().await?;
/// let (plaintext, record) = ApiKeyHasher::default().generate(&ApiKeyFormat::default()).into_parts();
/// store.create(record).await?; // only the hash is stored; show `plaintext` once
/// # let _ = plaintext;
/// # Ok(()) }
/// ```
///
/// On the app's own pool (here opened lazily, so this runs without a server):
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::time::Duration;
/// use tower_api_auth_sqlx_store::{PgStore, sqlx};
///
/// let pool = sqlx::postgres::PgPoolOptions::new()
///     .acquire_timeout(Duration::from_secs(3))
///     .connect_lazy("postgres://app:hunter2@localhost/app")?;
/// let store = PgStore::new(pool).channel("auth_feed");
/// let shown = format!("{store:?}");
/// assert!(shown.contains("auth_feed") && !shown.contains("hunter2"));
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct PgStore {
    pool: PgPool,
    channel: Arc<str>,
    /// The hasher of the OAuth clients' secrets.
    #[cfg(feature = "issuer")]
    client_hasher: tower_api_auth::api_key::ApiKeyHasher,
}

impl PgStore {
    /// The notification channel of the revocation feed unless [`channel`](Self::channel) sets
    /// another.
    pub const DEFAULT_CHANNEL: &str = "tower_api_auth_feed";

    /// A store on the app's own pool. Its timeouts are the app's: give it an `acquire_timeout`
    /// of a few seconds, so that requests fail fast (503) while the database is down.
    pub fn new(pool: PgPool) -> Self {
        Self {
            pool,
            channel: Arc::from(Self::DEFAULT_CHANNEL),
            #[cfg(feature = "issuer")]
            client_hasher: tower_api_auth::api_key::ApiKeyHasher::default(),
        }
    }

    /// A store on a pool of its own, built from a `postgres://` URL: a connection is waited for at
    /// most 3 s and a statement may run at most 10 s, so that a database that is down or stuck
    /// makes calls fail fast; broken connections are replaced as the database comes back.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let timeout = format!("{}", STATEMENT_TIMEOUT.as_millis());
        let options = PgConnectOptions::from_str(url)
            .map_err(config_error)?
            .options([("statement_timeout", timeout.as_str())]);
        let pool = PgPoolOptions::new()
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await
            .map_err(db_error)?;
        Ok(Self::new(pool))
    }

    /// The `LISTEN/NOTIFY` channel of the revocation feed (default
    /// [`DEFAULT_CHANNEL`](Self::DEFAULT_CHANNEL)): every instance of one fleet must use the
    /// same, and two fleets on one database different ones.
    #[must_use]
    pub fn channel(mut self, name: impl Into<Arc<str>>) -> Self {
        self.channel = name.into();
        self
    }

    pub(crate) fn channel_name(&self) -> &str {
        &self.channel
    }
}

/// The schema, in version order: every file of `migrations/postgres`, embedded (a test checks that
/// none is missing). An applied file is never edited, not even its comments: databases record
/// its checksum, and a test pins it; a change is a new file.
pub(crate) const MIGRATIONS: &[crate::store::Embedded] = &[
    crate::store::Embedded {
        version: 20261201000001,
        description: "tower api auth",
        sql: include_str!("../migrations/postgres/20261201000001_tower_api_auth.sql"),
    },
    crate::store::Embedded {
        version: 20261202000001,
        description: "sessions by subject",
        sql: include_str!("../migrations/postgres/20261202000001_sessions_by_subject.sql"),
    },
    crate::store::Embedded {
        version: 20261202190000,
        description: "authorization codes",
        sql: include_str!("../migrations/postgres/20261202190000_authorization_codes.sql"),
    },
    crate::store::Embedded {
        version: 20261203000010,
        description: "signing keys",
        sql: include_str!("../migrations/postgres/20261203000010_signing_keys.sql"),
    },
    crate::store::Embedded {
        version: 20261203120000,
        description: "feed key epoch",
        sql: include_str!("../migrations/postgres/20261203120000_feed_key_epoch.sql"),
    },
];

crate::store::impl_sql_store!(
    PgStore,
    sqlx::Postgres,
    sqlx::postgres::PgRow,
    PgPool,
    MIGRATIONS,
    channel,
    // The lock's key: "tower-api-auth" folded into 63 bits; taken for the transaction only.
    "BEGIN; SELECT pg_advisory_xact_lock(8243124720711413089)",
    "BYTEA",
    // Logins of one subject take turns (see `impl_refresh_store`): a transaction-scoped advisory
    // lock on the subject, in the two-key space ("tapi" and the subject's hash), apart from
    // the migrations' one-key lock.
    "SELECT pg_advisory_xact_lock(1952540777, hashtext($1))"
);
