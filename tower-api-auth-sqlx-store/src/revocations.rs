//! The fleet's revocations in `auth_revocations`: what both databases' feed backends store and
//! resync from. How they announce events differs, and lives with each store.

use crate::row::Columns;
use tower_api_auth::store::FeedEvent;
use tower_api_auth::store::StoreError;

/// `auth_revocations.kind` of a session revocation.
pub(crate) const SESSION: &str = "s";
/// `auth_revocations.kind` of a token revocation.
pub(crate) const TOKEN: &str = "j";

/// The row an event stores: `(kind, id, until)`, or nothing for a key event (only announced).
pub(crate) fn stored(event: &FeedEvent) -> Option<(&'static str, &str, u64)> {
    match event {
        FeedEvent::Session { id, until } => Some((SESSION, id, *until)),
        FeedEvent::Token { id, until } => Some((TOKEN, id, *until)),
        FeedEvent::Key { .. } | FeedEvent::Ping { .. } => None,
    }
}

/// An `auth_revocations` row.
pub(crate) fn revocation(row: &impl Columns) -> Result<FeedEvent, StoreError> {
    let (id, until) = (row.text("id")?, row.time("until")?);
    match row.text("kind")?.as_str() {
        SESSION => Ok(FeedEvent::session(id, until)),
        TOKEN => Ok(FeedEvent::token(id, until)),
        _ => Err(StoreError::new("column kind holds an unknown kind")),
    }
}

/// Implements, for `$store` with a `pool` of database `$db`, `store_and_announce` (the upsert that
/// keeps the latest `until`, or the key epoch's bump, and the store's own announcement, in one
/// transaction), `revocations_in_force` (deletes the lapsed rows, returns the rest) and
/// `stored_key_epoch`.
macro_rules! impl_revocations {
    ($store:ty, $db:ty) => {
        impl $store {
            /// In one transaction: stores the revocation of `event` and runs `announce`, the
            /// statement that tells the other instances (PostgreSQL's `pg_notify`, SQLite's log).
            pub(crate) async fn store_and_announce<'q>(
                &self,
                event: &::tower_api_auth::store::FeedEvent,
                announce: ::sqlx::query::Query<'q, $db, <$db as ::sqlx::Database>::Arguments>,
            ) -> Result<(), ::tower_api_auth::store::StoreError> {
                use $crate::error::db_error;
                let mut tx = self.pool.begin().await.map_err(db_error)?;
                Self::record_revocation(&mut tx, event).await?;
                announce.execute(&mut *tx).await.map_err(db_error)?;
                tx.commit().await.map_err(db_error)
            }

            /// Stores the revocation of `event` (nothing for a key event), keeping the later
            /// `until` of two.
            async fn record_revocation(
                conn: &mut <$db as ::sqlx::Database>::Connection,
                event: &::tower_api_auth::store::FeedEvent,
            ) -> Result<(), ::tower_api_auth::store::StoreError> {
                if let ::tower_api_auth::store::FeedEvent::Key { .. } = event {
                    return Self::count_key_event(conn).await;
                }
                let Some((kind, id, until)) = $crate::revocations::stored(event) else {
                    return Ok(());
                };
                ::sqlx::query(
                    "INSERT INTO auth_revocations (kind, id, until) VALUES ($1, $2, $3) \
                     ON CONFLICT (kind, id) DO UPDATE SET until = excluded.until \
                     WHERE excluded.until > auth_revocations.until",
                )
                .bind(kind)
                .bind(id)
                .bind($crate::value::int(until))
                .execute(&mut *conn)
                .await
                .map(drop)
                .map_err($crate::error::db_error)
            }

            /// Bumps the key epoch (`auth_feed_epochs`, row `keys`).
            async fn count_key_event(
                conn: &mut <$db as ::sqlx::Database>::Connection,
            ) -> Result<(), ::tower_api_auth::store::StoreError> {
                ::sqlx::query(
                    "INSERT INTO auth_feed_epochs (name, epoch) VALUES ('keys', 1) \
                     ON CONFLICT (name) DO UPDATE SET epoch = auth_feed_epochs.epoch + 1",
                )
                .execute(&mut *conn)
                .await
                .map(drop)
                .map_err($crate::error::db_error)
            }

            /// How many key events were announced ([`FeedStore::key_epoch`]).
            ///
            /// [`FeedStore::key_epoch`]: ::tower_api_auth::store::FeedStore::key_epoch
            pub(crate) async fn stored_key_epoch(
                &self,
            ) -> Result<Option<u64>, ::tower_api_auth::store::StoreError> {
                use $crate::row::Columns;
                let row = ::sqlx::query("SELECT epoch FROM auth_feed_epochs WHERE name = 'keys'")
                    .fetch_optional(&self.pool)
                    .await
                    .map_err($crate::error::db_error)?;
                match row {
                    Some(row) => row.time("epoch").map(Some),
                    None => Ok(Some(0)),
                }
            }

            /// Deletes the revocations lapsed at `now` and returns the others.
            pub(crate) async fn revocations_in_force(
                &self,
                now: u64,
            ) -> Result<Vec<::tower_api_auth::store::FeedEvent>, ::tower_api_auth::store::StoreError> {
                use $crate::error::db_error;
                let now = $crate::value::int(now);
                ::sqlx::query("DELETE FROM auth_revocations WHERE until <= $1")
                    .bind(now)
                    .execute(&self.pool)
                    .await
                    .map_err(db_error)?;
                let rows = ::sqlx::query(
                    "SELECT kind, id, until FROM auth_revocations WHERE until > $1 \
                     ORDER BY kind, id",
                )
                .bind(now)
                .fetch_all(&self.pool)
                .await
                .map_err(db_error)?;
                rows.iter()
                    .map($crate::revocations::revocation)
                    .collect()
            }
        }
    };
}
pub(crate) use impl_revocations;
