//! SQL stores (features `postgres` and `sqlite`): [`PgStore`] and [`SqliteStore`] keep API keys,
//! refresh sessions, OAuth clients and a fleet's revocations in the app's database, with sqlx.
//!
//! Each store implements [`KeyProvider`](tower_api_auth::KeyProvider) and
//! [`KeyStore`](tower_api_auth::store::KeyStore), [`RefreshStore`](tower_api_auth::store::RefreshStore),
//! [`ClientStore`](tower_api_auth::store::ClientStore) and [`CodeStore`](tower_api_auth::store::CodeStore)
//! (feature `issuer`), and
//! [`FeedStore`](tower_api_auth::store::FeedStore). Build it on the app's pool (`new`) or on a pool of
//! its own (`connect`, with short timeouts), then run [`migrate`](SqliteStore::migrate) once at
//! start-up. The queries are checked at run time: building needs no database. The sqlx this crate
//! uses is re-exported as [`sqlx`], so that pools passed to `new` are of the same version.
//!
//! ```
//! # #[cfg(feature = "sqlite")]
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use tower_api_auth::api_key::{ApiKeyFormat, ApiKeyHasher};
//! use tower_api_auth::store::KeyStore;
//! use tower_api_auth_sqlx_store::SqliteStore;
//! use tower_api_auth::{AuthLayer, KeyProvider};
//!
//! let store = SqliteStore::connect("sqlite::memory:").await?; // or PgStore::connect("postgres://…")
//! store.migrate().await?;
//! let (plaintext, record) = ApiKeyHasher::default().generate(&ApiKeyFormat::default()).into_parts();
//! let key_id = record.key_id.clone();
//! store.create(record).await?;
//! assert!(store.lookup(&key_id).resolve().await?.is_some());
//! let auth = AuthLayer::builder().api_keys(store.clone()).build()?;
//! # let _ = (auth, plaintext);
//! # Ok(()) }
//! # #[cfg(not(feature = "sqlite"))]
//! # fn main() {}
//! ```
//!
//! # The schema
//!
//! The migrations are in `migrations/postgres` and `migrations/sqlite` of the crate. The two
//! databases have the same tables and columns; PostgreSQL's `BIGINT`, `BYTEA` and `BOOLEAN` are
//! SQLite's `INTEGER`, `BLOB` and `INTEGER`. Times are unix seconds; a time past the largest
//! `BIGINT` ("never") is stored as that largest value. Lists and maps are JSON text. **No secret is
//! stored**: API keys and client secrets only as their keyed BLAKE3 hash, refresh tokens only as
//! their BLAKE3 hash, authorization codes only as their hash, and the successor of a rotation
//! only sealed under the token it replaced.
//!
//! **`auth_api_keys`**: one row per API key, primary key `key_id`, index on `owner`.
//!
//! | column | holds |
//! | --- | --- |
//! | `key_id` | the public key id (in PostgreSQL with the `"C"` collation, so lists sort by bytes) |
//! | `hash` | the 32-byte keyed hash of the whole key ([`KeyHash`](tower_api_auth::api_key::KeyHash)) |
//! | `owner` | who acts with the key, or `NULL` (the key id) |
//! | `name` | a human-readable name |
//! | `tenants` | the tenants it may act for, a JSON array |
//! | `scopes` | the scopes it grants, space-separated |
//! | `expires_at` | when it stops working, or `NULL` |
//! | `revoked`, `disabled` | revoked for good; switched off for now |
//! | `metadata` | free-form labels, a JSON object |
//! | `created_at`, `last_used_at` | when it was created; when it last authenticated a request |
//!
//! **`auth_api_key_tenants`**: the index of the tenant filter of
//! [`KeyStore::list`](tower_api_auth::store::KeyStore::list): one row `(tenant, key_id)` per tenant of a
//! key, primary key `(tenant, key_id)`, index on `key_id`, deleted with its key.
//!
//! **`auth_sessions`**: one row per refresh session, whose size does not grow with refreshes;
//! primary key `id`, unique `slot`, indexes on `expires_at`, on `(subject, created_at)` (a login
//! keeps its subject within the bound of live sessions, ending the oldest) and on `grace_until`
//! (where set).
//!
//! | column | holds |
//! | --- | --- |
//! | `id` | the session id (the `sid` of its access tokens) |
//! | `slot` | the subject-scoped slot: a new login in it ends this session |
//! | `subject`, `scopes`, `tenants`, `client_id`, `api_key_id` | what the session grants, as in [`Session`](tower_api_auth::store::Session) (`tenants` a JSON array) |
//! | `claims` | the app's claims of its access tokens, a JSON object |
//! | `created_at`, `expires_at`, `idle_timeout` | when it started; its absolute end; the seconds without a refresh that end it, or `NULL` |
//! | `generation` | how many times its refresh token was rotated |
//! | `current_hash` | the 32-byte hash of its one valid refresh token |
//! | `last_used` | when it was last refreshed (or started), for the idle timeout |
//! | `grace_sealed`, `grace_until` | the retry grace of the last rotation: the successor token sealed under the replaced one, and until when |
//!
//! **`auth_clients`**: one row per OAuth client, primary key `client_id`: `secret_hash` (the
//! 32-byte keyed hash of the secret, or `NULL` for a public client), `scopes` (space-separated),
//! `tenants` (a JSON array), `redirect_uris` (the registered redirect URIs, a JSON array of
//! strings, compared exactly).
//!
//! **`auth_codes`**: one row per authorization code not yet purged, primary key `hash`, index on
//! `expires_at`. A code is spent by one conditional `UPDATE` (`… SET spent_by = $1 WHERE hash =
//! $2 AND spent_by IS NULL`), so of concurrent redemptions exactly one wins; the row stays, with
//! the winner's session, until [`purge`](tower_api_auth::store::CodeStore::purge) deletes it at
//! `expires_at + keep_spent_for`, so that a replay finds the session to revoke.
//!
//! | column | holds |
//! | --- | --- |
//! | `hash` | the 32-byte hash of the code ([`CodeHash`](tower_api_auth::store::CodeHash)); the code itself is never stored |
//! | `client_id` | the client it was issued to (also in `code`), for the operator's own queries |
//! | `code` | what it grants, the [`AuthorizationCode`](tower_api_auth::store::AuthorizationCode) as JSON (client, redirect URI, subject, scopes, tenants, claims, PKCE challenge, times) |
//! | `expires_at` | when it stops being redeemable |
//! | `spent_by` | the session its first redemption started, or `NULL` while unspent |
//!
//! **`auth_signing_keys`** (migration `20261203000010`): the issuer's rotating signing keys
//! ([`SigningKeyStore`](tower_api_auth::store::SigningKeyStore)), primary key `kid` (inserted with
//! `ON CONFLICT (kid) DO NOTHING`: of instances rotating at once, one wins): `algorithm` (`ES256`…),
//! `sealed` and `private_key` (sealed under the fleet secret unless the app chose plaintext at
//! rest), `public_jwk` (JSON), `created_at`, `signs_from`, `signs_until`.
//!
//! **`auth_revocations`**: the fleet's revocations still in force, primary key `(kind, id)`, index
//! on `until`: `kind` is `s` (a session id) or `j` (an access token's `jti`), and `until` when the
//! revocation lapses (a second revocation keeps the later one). Lapsed rows are deleted by
//! [`snapshot`](tower_api_auth::store::FeedStore::snapshot).
//!
//! **`auth_feed_epochs`** (migration `20261203120000`): one row, `name` `keys`, whose `epoch` counts
//! the key events announced ([`key_epoch`](tower_api_auth::store::FeedStore::key_epoch)), bumped
//! in the transaction that announces one: an instance that lost the announcement sees the count
//! move at its next resync and drops its cached key answers.
//!
//! **`auth_feed_log`** (SQLite only): the feed's announcements, which SQLite cannot notify:
//! `seq` (`INTEGER PRIMARY KEY AUTOINCREMENT`), `event` (the event's
//! [wire form](tower_api_auth::store::FeedEvent::encode)) and `at` (when it was published, indexed); rows
//! are pruned ten minutes after. PostgreSQL announces with `pg_notify` on the store's
//! [channel](PgStore::channel) instead.
//!
//! **`auth_schema_migrations`**: which of the crate's migrations ran: `version`, `description`,
//! `checksum` (sqlx's SHA-384 of the migration, checked on every `migrate`), `applied_at`. A table
//! of its own, not sqlx's `_sqlx_migrations`: sqlx's migrator, and `sqlx migrate run`, refuse a
//! database whose `_sqlx_migrations` lists versions they do not know, so sharing it would break
//! the app's own migrations.

#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

// The code both databases share; without either feature the crate holds only this page (the
// stores are `PgStore` with `postgres`, `SqliteStore` with `sqlite`).
#[cfg(all(feature = "issuer", any(feature = "postgres", feature = "sqlite")))]
mod clients;
#[cfg(all(feature = "issuer", any(feature = "postgres", feature = "sqlite")))]
mod codes;
#[cfg(any(feature = "postgres", feature = "sqlite"))]
mod error;
#[cfg(any(feature = "postgres", feature = "sqlite"))]
mod keys;
#[cfg(any(feature = "postgres", feature = "sqlite"))]
mod revocations;
#[cfg(any(feature = "postgres", feature = "sqlite"))]
mod row;
#[cfg(all(feature = "issuer", any(feature = "postgres", feature = "sqlite")))]
mod sessions;
#[cfg(all(feature = "issuer", any(feature = "postgres", feature = "sqlite")))]
mod signing_keys;
#[cfg(any(feature = "postgres", feature = "sqlite"))]
mod store;
#[cfg(any(feature = "postgres", feature = "sqlite"))]
mod value;

#[cfg(feature = "postgres")]
mod pg;
#[cfg(feature = "postgres")]
mod pg_feed;
#[cfg(feature = "sqlite")]
mod sqlite;
#[cfg(feature = "sqlite")]
mod sqlite_feed;

#[cfg(feature = "postgres")]
pub use pg::PgStore;
#[cfg(feature = "postgres")]
pub use pg_feed::PgSubscription;
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteStore;
#[cfg(feature = "sqlite")]
pub use sqlite_feed::SqliteSubscription;

/// The sqlx this crate is built with: build the pools given to `PgStore::new` and
/// `SqliteStore::new` with it, so that they are of the same version.
///
/// ```
/// # #[cfg(feature = "sqlite")]
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::time::Duration;
/// use tower_api_auth_sqlx_store::{SqliteStore, sqlx};
///
/// // The app's own pool, with its own settings.
/// let pool = sqlx::sqlite::SqlitePoolOptions::new()
///     .max_connections(1)
///     .acquire_timeout(Duration::from_secs(2))
///     .connect("sqlite::memory:")
///     .await?;
/// let store = SqliteStore::new(pool);
/// store.migrate().await?;
/// # Ok(()) }
/// # #[cfg(not(feature = "sqlite"))]
/// # fn main() {}
/// ```
pub use sqlx;
