//! What every SQL store has: its pool, and the embedded migrations that make its tables.

use std::borrow::Cow;
use std::time::Duration;

use sqlx::migrate::{Migration, MigrationType};

/// How long a call waits for a connection before it fails: a database that is down answers
/// `Err` this fast, and the pool reconnects by itself once it is back.
pub(crate) const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

/// One migration as the crate embeds it: `migrations/<database>/<version>_<name>.sql`.
pub(crate) struct Embedded {
    pub(crate) version: i64,
    /// The file name's `<name>` with spaces for underscores, as `sqlx migrate` describes it.
    pub(crate) description: &'static str,
    pub(crate) sql: &'static str,
}

impl Embedded {
    /// The migration, with sqlx's checksum (SHA-384 of the SQL, as `sqlx::migrate!` computes it,
    /// so databases migrated by earlier versions of this crate match).
    pub(crate) fn migration(&self) -> Migration {
        Migration::new(
            self.version,
            Cow::Borrowed(self.description),
            MigrationType::Simple,
            sqlx::SqlSafeStr::into_sql_str(self.sql),
            false,
        )
    }
}

/// Implements `pool()` and `migrate()` for `$store`, whose pool is a `$pool`, with the migrations
/// `$migrations` (a `&[Embedded]`, in version order), and a `Debug` that shows the pool's
/// state and the field `$setting`, never the connection string. `$begin` opens the migration
/// transaction and takes the lock that serializes instances; `$bytes` is the byte-string type.
macro_rules! impl_store_basics {
    (
        $store:ident, $db:ty, $pool:ty, $migrations:expr, $setting:ident, $begin:literal,
        $bytes:literal
    ) => {
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

            /// Creates or updates the tables (see the [module docs](crate)): the migrations
            /// embedded in the crate, all in one transaction, recorded in a table of this
            /// crate's own, `auth_schema_migrations`. Running it again, or from several instances
            /// at once, is safe: the transaction holds a lock that makes them take turns (an
            /// advisory lock on PostgreSQL, the write lock on SQLite). The app's own sqlx
            /// migrations are never touched, and never see this crate's: sqlx's migrator (and
            /// `sqlx migrate run`) refuses to run where `_sqlx_migrations` lists versions it does
            /// not know, so sharing that table would break the app's migrations.
            pub async fn migrate(&self) -> Result<(), ::tower_api_auth::store::StoreError> {
                use $crate::error::db_error;
                let mut conn = self.pool.acquire().await.map_err(db_error)?;
                ::sqlx::Executor::execute(&mut *conn, $begin)
                    .await
                    .map_err(db_error)?;
                let outcome = Self::apply_migrations(&mut conn).await;
                let end = if outcome.is_ok() { "COMMIT" } else { "ROLLBACK" };
                let ended = ::sqlx::Executor::execute(&mut *conn, end).await;
                if ended.is_err() {
                    // Never hand a connection with an open transaction back to the pool.
                    conn.close_on_drop();
                }
                outcome.and(ended.map(drop)).map_err(db_error)
            }

            /// Applies the embedded migrations not yet recorded, inside the open transaction.
            async fn apply_migrations(
                conn: &mut <$db as ::sqlx::Database>::Connection,
            ) -> Result<(), ::sqlx::Error> {
                ::sqlx::Executor::execute(
                    &mut *conn,
                    concat!(
                        "CREATE TABLE IF NOT EXISTS auth_schema_migrations (",
                        "version BIGINT PRIMARY KEY, description TEXT NOT NULL, ",
                        "checksum ",
                        $bytes,
                        " NOT NULL, applied_at BIGINT NOT NULL)"
                    ),
                )
                .await?;
                for migration in $migrations.iter().map($crate::store::Embedded::migration) {
                    let applied: Option<Vec<u8>> = ::sqlx::query_scalar(
                        "SELECT checksum FROM auth_schema_migrations WHERE version = $1",
                    )
                    .bind(migration.version)
                    .fetch_optional(&mut *conn)
                    .await?;
                    match applied {
                        Some(checksum) if checksum == *migration.checksum => continue,
                        Some(_) => {
                            return Err(::sqlx::Error::Protocol(format!(
                                "tower-api-auth migration {} changed after it was applied",
                                migration.version
                            )));
                        }
                        None => {}
                    }
                    ::sqlx::Executor::execute(&mut *conn, migration.sql.clone()).await?;
                    ::sqlx::query(
                        "INSERT INTO auth_schema_migrations \
                         (version, description, checksum, applied_at) VALUES ($1, $2, $3, $4)",
                    )
                    .bind(migration.version)
                    .bind(&*migration.description)
                    .bind(&*migration.checksum)
                    .bind($crate::value::int(::tower_api_auth::clock::Clock::now(
                        &::tower_api_auth::clock::SystemClock,
                    )))
                    .execute(&mut *conn)
                    .await?;
                }
                Ok(())
            }
        }
    };
}
pub(crate) use impl_store_basics;

/// Everything a SQL store implements, for `$store` on database `$db` (rows `$row`, pool `$pool`),
/// from the shared implementations: see [`impl_store_basics`] for `$migrations` and `$setting`,
/// and [`impl_refresh_store`](crate::sessions::impl_refresh_store) for `$subject_lock`.
macro_rules! impl_sql_store {
    (
        $store:ident, $db:ty, $row:ty, $pool:ty, $migrations:expr, $setting:ident,
        $begin:literal, $bytes:literal $(, $subject_lock:literal)?
    ) => {
        $crate::store::impl_store_basics!(
            $store,
            $db,
            $pool,
            $migrations,
            $setting,
            $begin,
            $bytes
        );
        $crate::row::columns_for!($row);
        $crate::keys::impl_key_store!($store, $db);
        $crate::revocations::impl_revocations!($store, $db);
        #[cfg(feature = "issuer")]
        $crate::sessions::impl_refresh_store!($store $(, $subject_lock)?);
        #[cfg(feature = "issuer")]
        $crate::clients::impl_client_store!($store);
        #[cfg(feature = "issuer")]
        $crate::codes::impl_code_store!($store);
        #[cfg(feature = "issuer")]
        $crate::signing_keys::impl_signing_key_store!($store);
    };
}
pub(crate) use impl_sql_store;

#[cfg(test)]
mod tests {
    use super::Embedded;

    /// Every file of `migrations/<database>` is embedded, in version order, under the version
    /// and description its name gives, with its whole text.
    fn embeds_every_file(database: &str, embedded: &[Embedded]) {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("migrations")
            .join(database);
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .collect();
        files.sort();
        assert_eq!(
            files.len(),
            embedded.len(),
            "{dir:?}: a file is not embedded"
        );
        for (file, migration) in files.iter().zip(embedded) {
            let stem = file.file_stem().unwrap().to_str().unwrap();
            let (version, name) = stem.split_once('_').unwrap();
            assert_eq!(migration.version, version.parse::<i64>().unwrap(), "{stem}");
            assert_eq!(migration.description, name.replace('_', " "), "{stem}");
            assert_eq!(
                migration.sql,
                std::fs::read_to_string(file).unwrap(),
                "{stem}"
            );
        }
    }

    #[cfg(feature = "postgres")]
    #[test]
    fn postgres_embeds_every_migration() {
        embeds_every_file("postgres", crate::pg::MIGRATIONS);
    }

    #[cfg(feature = "sqlite")]
    #[test]
    fn sqlite_embeds_every_migration() {
        embeds_every_file("sqlite", crate::sqlite::MIGRATIONS);
    }

    fn hex(migration: &Embedded) -> String {
        let checksum = migration.migration().checksum;
        checksum.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The checksums are the ones `sqlx::migrate!` stored for these files in earlier versions of
    /// the crate (SHA-384 of the file), so their databases migrate on without a "changed" error.
    /// An applied migration is never edited: a fix is a new file.
    #[cfg(feature = "postgres")]
    #[test]
    fn postgres_checksums_are_the_ones_earlier_versions_stored() {
        let pinned = [
            "e38772be6345575ad8531f0e466c8bd2c391e843f31e06e84c3482ff8383a3d09f9af772e41394f30e3cfa7ea0375247",
            "e722e7f348ec7fe2efc1e832eec299439ac0b401772077ce2a1367c09d56784689ddee408edc5eff47a60d9718eb593d",
            "942fe6e963ac5e7db4a7790400dd23236ac51e8b3925eabe2a422bc85672b2da6f206b659aceb1cc53d2f103b00e2f41",
            "68929b0342a4575c773b63acc5361e640379dd383688f3a16bc12a8c2132689412e5ec65d44fb86d742cfd5ccecc18ea",
            "95ec1db0d34a9080014c0b0ab8e51646e15db7462e614796d574c540f665ca9b3b81b92bb0a06e37f1c3d2f8de413581",
        ];
        let embedded: Vec<String> = crate::pg::MIGRATIONS.iter().map(hex).collect();
        assert_eq!(embedded, pinned);
    }

    #[cfg(feature = "sqlite")]
    #[test]
    fn sqlite_checksums_are_the_ones_earlier_versions_stored() {
        let pinned = [
            "1648ebcec395b6a47d58fc8642808bcaf3c1d1b43a5fcfb48cc46847e8ee842f7c8986f2ea24864ae8fd1e7798e74831",
            "e722e7f348ec7fe2efc1e832eec299439ac0b401772077ce2a1367c09d56784689ddee408edc5eff47a60d9718eb593d",
            "52fbc94a1a30565b8a4354f81f9b3f56eaefc02ce15114ccc7d9fa42a5b989e8d4893af789acc50e95bc30e28ee986f1",
            "a965ace78346e90fa8d3e1fa42de14993038216166bf0cd63b7c6b302bef4ea9657d984e7f47397ca7399a5135e462b4",
            "ed0d47f538818abd635e7fdeff50e493d1c209863e64aec9fa36bcde70384b6839f6c7fc5aa0bf3298292b79bf4a8bdc",
        ];
        let embedded: Vec<String> = crate::sqlite::MIGRATIONS.iter().map(hex).collect();
        assert_eq!(embedded, pinned);
    }
}
