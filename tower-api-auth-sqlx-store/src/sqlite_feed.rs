//! The SQLite revocation feed. SQLite has no notifications: every published event, key events
//! included, is appended to `auth_feed_log` in the transaction that stores it, and subscriptions
//! poll the log. SQLite has one writer at a time, so sequence numbers are committed in order and
//! a poll never skips an event.

use std::collections::VecDeque;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::SqlitePool;

use crate::SqliteStore;
use crate::error::db_error;
use crate::row::Columns;
use tower_api_auth::store::StoreError;
use tower_api_auth::store::{FeedEvent, FeedStore, FeedSubscription};

/// How long an event stays in `auth_feed_log`: far longer than any poll interval.
const LOG_KEPT_FOR: u64 = 600;

/// At most this many events are read per poll.
const POLL_BATCH: i64 = 500;

/// A subscription to a [`SqliteStore`]'s feed, from [`FeedStore::subscribe`]: it reads the
/// events appended to `auth_feed_log` after it started, every
/// [`poll_interval`](SqliteStore::poll_interval). A failed poll ends it with `Err`; an event that
/// does not decode is skipped.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use tower_api_auth::store::{FeedStore, FeedEvent, FeedSubscription};
/// use tower_api_auth_sqlx_store::SqliteStore;
///
/// let store = SqliteStore::connect("sqlite::memory:").await?;
/// store.migrate().await?;
/// let mut subscription = store.subscribe().await?;
/// store.publish(&FeedEvent::key("k1ABCDEFGHIJ")).await?;
/// assert_eq!(subscription.next().await?, FeedEvent::key("k1ABCDEFGHIJ"));
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct SqliteSubscription {
    pool: SqlitePool,
    every: Duration,
    /// The last sequence number read.
    last: i64,
    /// Read but not yet handed out.
    pending: VecDeque<FeedEvent>,
}

impl SqliteSubscription {
    /// Reads the events after `last` into `pending`.
    async fn poll(&mut self) -> Result<(), StoreError> {
        let rows = sqlx::query(
            "SELECT seq, event FROM auth_feed_log WHERE seq > $1 ORDER BY seq LIMIT $2",
        )
        .bind(self.last)
        .bind(POLL_BATCH)
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
        for row in &rows {
            self.last = row.opt_int("seq")?.unwrap_or(self.last);
            if let Some(event) = FeedEvent::decode(&row.text("event")?) {
                self.pending.push_back(event);
            }
        }
        Ok(())
    }
}

impl FeedSubscription for SqliteSubscription {
    async fn next(&mut self) -> Result<FeedEvent, StoreError> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Ok(event);
            }
            self.poll().await?;
            if self.pending.is_empty() {
                tokio::time::sleep(self.every).await;
            }
        }
    }
}

/// Unix seconds, for `auth_feed_log.at`.
fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
}

impl FeedStore for SqliteStore {
    type Subscription = SqliteSubscription;

    async fn publish(&self, event: &FeedEvent) -> Result<(), StoreError> {
        let log = sqlx::query("INSERT INTO auth_feed_log (event, at) VALUES ($1, $2)")
            .bind(event.encode())
            .bind(crate::value::int(unix_now()));
        self.store_and_announce(event, log).await
    }

    async fn subscribe(&self) -> Result<SqliteSubscription, StoreError> {
        let row = sqlx::query("SELECT MAX(seq) AS seq FROM auth_feed_log")
            .fetch_one(self.pool())
            .await
            .map_err(db_error)?;
        Ok(SqliteSubscription {
            pool: self.pool().clone(),
            every: self.poll_every(),
            last: row.opt_int("seq")?.unwrap_or(0),
            pending: VecDeque::new(),
        })
    }

    async fn snapshot(&self, now: u64) -> Result<Vec<FeedEvent>, StoreError> {
        sqlx::query("DELETE FROM auth_feed_log WHERE at < $1")
            .bind(crate::value::int(now.saturating_sub(LOG_KEPT_FOR)))
            .execute(self.pool())
            .await
            .map_err(db_error)?;
        self.revocations_in_force(now).await
    }

    async fn key_epoch(&self) -> Result<Option<u64>, StoreError> {
        self.stored_key_epoch().await
    }
}
