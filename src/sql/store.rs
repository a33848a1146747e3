//! What every SQL store has: its pool, and the embedded migrations that make its tables.

use std::time::Duration;

/// How long a call waits for a connection before it fails: a database that is down answers
/// `Err` this fast, and the pool reconnects by itself once it is back.
pub(crate) const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

/// Implements `pool()` and `migrate()` for `$store`, whose pool is a `$pool`, with the migrations
/// embedded from `$migrations` (a directory at the crate root), and a `Debug` that shows the pool's
/// state and the field `$setting`, never the connection string.
macro_rules! impl_store_basics {
    ($store:ident, $pool:ty, $migrations:literal, $setting:ident) => {
        impl ::std::fmt::Debug for $store {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.debug_struct(stringify!($store))
                    .field("connections", &self.pool.size())
                    .field("idle", &self.pool.num_idle())
                    .field("closed", &self.pool.is_closed())
                    .field(stringify!($setting), &self.$setting)
                    .finish()
            }
        }

        impl $store {
            /// The pool, for the app's own queries (clones share it).
            pub fn pool(&self) -> &$pool {
                &self.pool
            }

            /// Creates or updates the tables (see the [module docs](crate::sql)): the migrations
            /// embedded in the crate, run in a transaction each and recorded in sqlx's
            /// `_sqlx_migrations` table. Running it again, or from several instances, is safe.
            /// Migrations the app itself recorded in that table are left alone.
            pub async fn migrate(&self) -> Result<(), $crate::store::StoreError> {
                let mut migrator = ::sqlx::migrate!($migrations);
                migrator.set_ignore_missing(true);
                migrator
                    .run(&self.pool)
                    .await
                    .map_err(|error| $crate::sql::error::db_error(error.into()))
            }
        }
    };
}
pub(crate) use impl_store_basics;

/// Everything a SQL store implements, for `$store` on database `$db` (rows `$row`, pool `$pool`),
/// from the shared implementations: see [`impl_store_basics`] for `$migrations` and `$setting`.
macro_rules! impl_sql_store {
    ($store:ident, $db:ty, $row:ty, $pool:ty, $migrations:literal, $setting:ident) => {
        $crate::sql::store::impl_store_basics!($store, $pool, $migrations, $setting);
        $crate::sql::row::columns_for!($row);
        $crate::sql::keys::impl_key_store!($store, $db);
        $crate::sql::revocations::impl_revocations!($store, $db);
        #[cfg(feature = "issuer")]
        $crate::sql::sessions::impl_refresh_store!($store);
        #[cfg(feature = "issuer")]
        $crate::sql::clients::impl_client_store!($store);
    };
}
pub(crate) use impl_sql_store;
