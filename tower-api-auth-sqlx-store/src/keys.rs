//! API keys: [`KeyProvider`](tower_api_auth::KeyProvider) and [`KeyStore`](tower_api_auth::store::KeyStore) on
//! `auth_api_keys`, with `auth_api_key_tenants` as the index of the tenant filter.

use crate::row::Columns;
use tower_api_auth::api_key::{KeyHash, KeyRecord};
use tower_api_auth::store::StoreError;

/// The columns of `auth_api_keys`, in the order [`insert_key!`] binds them.
macro_rules! key_columns {
    () => {
        "key_id, hash, owner, name, tenants, scopes, expires_at, revoked, disabled, metadata, \
         created_at, last_used_at"
    };
}
pub(crate) use key_columns;

/// An `auth_api_keys` row.
pub(crate) fn key_record(row: &impl Columns) -> Result<KeyRecord, StoreError> {
    let mut record = KeyRecord::new(row.text("key_id")?, KeyHash::from_bytes(row.hash("hash")?));
    record.owner = row.opt_shared("owner")?;
    record.name = row.text("name")?;
    record.tenants = row.json("tenants")?;
    record.scopes = row.scopes("scopes")?;
    record.expires_at = row.opt_time("expires_at")?;
    record.revoked = row.flag("revoked")?;
    record.disabled = row.flag("disabled")?;
    record.metadata = row.json("metadata")?;
    record.created_at = row.opt_time("created_at")?;
    record.last_used_at = row.opt_time("last_used_at")?;
    Ok(record)
}

/// The error of a `create` whose id is taken.
pub(crate) fn duplicate_key() -> StoreError {
    StoreError::new("an API key with this id already exists")
}

/// Implements `KeyProvider` and `KeyStore` for `$store`, a store with a `pool` of database `$db`.
macro_rules! impl_key_store {
    ($store:ty, $db:ty) => {
        impl $store {
            /// Inserts `record` and its tenant index rows.
            async fn insert_key(
                conn: &mut <$db as ::sqlx::Database>::Connection,
                record: &::tower_api_auth::api_key::KeyRecord,
            ) -> Result<(), ::sqlx::Error> {
                use $crate::value::{json, opt_int};
                ::sqlx::query(concat!(
                    "INSERT INTO auth_api_keys (",
                    $crate::keys::key_columns!(),
                    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
                ))
                .bind(&*record.key_id)
                .bind(&record.hash.as_bytes()[..])
                .bind(record.owner.as_deref())
                .bind(&record.name)
                .bind(json(&record.tenants))
                .bind(record.scopes.as_str())
                .bind(opt_int(record.expires_at))
                .bind(record.revoked)
                .bind(record.disabled)
                .bind(json(&record.metadata))
                .bind(opt_int(record.created_at))
                .bind(opt_int(record.last_used_at))
                .execute(&mut *conn)
                .await?;
                Self::index_tenants(conn, record).await
            }

            /// Writes the tenant index rows of `record` (after its old ones were deleted).
            async fn index_tenants(
                conn: &mut <$db as ::sqlx::Database>::Connection,
                record: &::tower_api_auth::api_key::KeyRecord,
            ) -> Result<(), ::sqlx::Error> {
                for tenant in &record.tenants {
                    ::sqlx::query(
                        "INSERT INTO auth_api_key_tenants (tenant, key_id) VALUES ($1, $2) \
                         ON CONFLICT DO NOTHING",
                    )
                    .bind(tenant.as_str())
                    .bind(&*record.key_id)
                    .execute(&mut *conn)
                    .await?;
                }
                Ok(())
            }
        }

        impl ::tower_api_auth::KeyProvider for $store {
            fn lookup(&self, key_id: &str) -> ::tower_api_auth::store::Lookup<Option<::std::sync::Arc<::tower_api_auth::api_key::KeyRecord>>> {
                let pool = self.pool.clone();
                let key_id = key_id.to_owned();
                ::tower_api_auth::store::Lookup::pending(async move {
                    let row = ::sqlx::query(concat!(
                        "SELECT ",
                        $crate::keys::key_columns!(),
                        " FROM auth_api_keys WHERE key_id = $1"
                    ))
                    .bind(&key_id)
                    .fetch_optional(&pool)
                    .await
                    .map_err($crate::error::db_error)?;
                    row.map(|row| $crate::keys::key_record(&row).map(::std::sync::Arc::new))
                        .transpose()
                })
            }
        }

        impl ::tower_api_auth::store::KeyStore for $store {
            async fn create(
                &self,
                record: ::tower_api_auth::api_key::KeyRecord,
            ) -> Result<(), ::tower_api_auth::store::StoreError> {
                use $crate::error::{db_error, is_duplicate};
                let mut tx = self.pool.begin().await.map_err(db_error)?;
                match Self::insert_key(&mut tx, &record).await {
                    Err(error) if is_duplicate(&error) => Err($crate::keys::duplicate_key()),
                    Err(error) => Err(db_error(error)),
                    Ok(()) => tx.commit().await.map_err(db_error),
                }
            }

            async fn list(
                &self,
                filter: &::tower_api_auth::store::KeyFilter,
            ) -> Result<Vec<::tower_api_auth::api_key::KeyRecord>, ::tower_api_auth::store::StoreError> {
                let rows = ::sqlx::query(concat!(
                    "SELECT ",
                    $crate::keys::key_columns!(),
                    " FROM auth_api_keys k WHERE ($1 IS NULL OR owner = $1) \
                     AND ($2 IS NULL OR EXISTS (SELECT 1 FROM auth_api_key_tenants t \
                     WHERE t.key_id = k.key_id AND t.tenant = $2)) \
                     ORDER BY COALESCE(created_at, -1), key_id"
                ))
                .bind(filter.owner.as_deref())
                .bind(filter.tenant.as_ref().map(|tenant| tenant.as_str()))
                .fetch_all(&self.pool)
                .await
                .map_err($crate::error::db_error)?;
                rows.iter().map($crate::keys::key_record).collect()
            }

            async fn update(
                &self,
                key_id: &str,
                update: &::tower_api_auth::store::KeyUpdate,
            ) -> Result<Option<::tower_api_auth::api_key::KeyRecord>, ::tower_api_auth::store::StoreError> {
                use $crate::error::db_error;
                use $crate::value::{json, opt_int};
                let mut tx = self.pool.begin().await.map_err(db_error)?;
                let row = ::sqlx::query(concat!(
                    "UPDATE auth_api_keys SET name = COALESCE($2, name), \
                     scopes = COALESCE($3, scopes), tenants = COALESCE($4, tenants), \
                     expires_at = CASE WHEN $5 THEN $6 ELSE expires_at END, \
                     disabled = COALESCE($7, disabled), metadata = COALESCE($8, metadata) \
                     WHERE key_id = $1 RETURNING ",
                    $crate::keys::key_columns!()
                ))
                .bind(key_id)
                .bind(update.name.as_deref())
                .bind(update.scopes.as_ref().map(|scopes| scopes.as_str()))
                .bind(update.tenants.as_ref().map(json))
                .bind(update.expires_at.is_some())
                .bind(opt_int(update.expires_at.flatten()))
                .bind(update.disabled)
                .bind(update.metadata.as_ref().map(json))
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_error)?;
                let Some(row) = row else {
                    return Ok(None);
                };
                let record = $crate::keys::key_record(&row)?;
                if update.tenants.is_some() {
                    ::sqlx::query("DELETE FROM auth_api_key_tenants WHERE key_id = $1")
                        .bind(key_id)
                        .execute(&mut *tx)
                        .await
                        .map_err(db_error)?;
                    Self::index_tenants(&mut tx, &record)
                        .await
                        .map_err(db_error)?;
                }
                tx.commit().await.map_err(db_error)?;
                Ok(Some(record))
            }

            async fn revoke(&self, key_id: &str) -> Result<bool, ::tower_api_auth::store::StoreError> {
                let done = ::sqlx::query("UPDATE auth_api_keys SET revoked = $2 WHERE key_id = $1")
                    .bind(key_id)
                    .bind(true)
                    .execute(&self.pool)
                    .await
                    .map_err($crate::error::db_error)?;
                Ok(done.rows_affected() > 0)
            }

            async fn roll(
                &self,
                key_id: &str,
                successor: ::tower_api_auth::api_key::KeyRecord,
                old_expires_at: u64,
            ) -> Result<bool, ::tower_api_auth::store::StoreError> {
                use $crate::error::{db_error, is_duplicate};
                let mut tx = self.pool.begin().await.map_err(db_error)?;
                let shortened = ::sqlx::query(
                    "UPDATE auth_api_keys SET expires_at = CASE \
                     WHEN expires_at IS NULL OR expires_at > $2 THEN $2 ELSE expires_at END \
                     WHERE key_id = $1 AND NOT revoked",
                )
                .bind(key_id)
                .bind($crate::value::int(old_expires_at))
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
                if shortened.rows_affected() == 0 {
                    return Ok(false); // dropping the transaction rolls it back
                }
                match Self::insert_key(&mut tx, &successor).await {
                    Err(error) if is_duplicate(&error) => Ok(false),
                    Err(error) => Err(db_error(error)),
                    Ok(()) => tx.commit().await.map(|()| true).map_err(db_error),
                }
            }

            async fn record_usage(
                &self,
                used: &[(::std::sync::Arc<str>, u64)],
            ) -> Result<(), ::tower_api_auth::store::StoreError> {
                use $crate::error::db_error;
                if used.is_empty() {
                    return Ok(());
                }
                let mut tx = self.pool.begin().await.map_err(db_error)?;
                for (key_id, at) in used {
                    ::sqlx::query(
                        "UPDATE auth_api_keys SET last_used_at = $2 WHERE key_id = $1 \
                         AND (last_used_at IS NULL OR last_used_at < $2)",
                    )
                    .bind(&**key_id)
                    .bind($crate::value::int(*at))
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
                }
                tx.commit().await.map_err(db_error)
            }
        }
    };
}
pub(crate) use impl_key_store;
