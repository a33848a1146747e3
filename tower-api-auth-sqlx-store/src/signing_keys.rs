//! The issuer's signing keys: [`SigningKeyStore`](tower_api_auth::store::SigningKeyStore) on
//! `auth_signing_keys`, one row per key, inserted with `ON CONFLICT (kid) DO NOTHING`.

use crate::row::Columns;
use tower_api_auth::store::{PrivateKey, StoreError, StoredSigningKey};

/// An `auth_signing_keys` row.
pub(crate) fn signing_key(row: &impl Columns) -> Result<StoredSigningKey, StoreError> {
    let algorithm = row
        .text("algorithm")?
        .parse()
        .map_err(|_| StoreError::new("auth_signing_keys.algorithm is not a JWS algorithm"))?;
    let bytes = row.bytes("private_key")?;
    let private_key = if row.flag("sealed")? {
        PrivateKey::Sealed(bytes)
    } else {
        PrivateKey::Plaintext(bytes)
    };
    Ok(StoredSigningKey::new(
        row.text("kid")?,
        algorithm,
        private_key,
        row.text("public_jwk")?,
    )
    .with_times(
        row.time("created_at")?,
        row.time("signs_from")?,
        row.time("signs_until")?,
    ))
}

/// Implements `SigningKeyStore` for `$store`, a store with a `pool`.
macro_rules! impl_signing_key_store {
    ($store:ty) => {
        impl ::tower_api_auth::store::SigningKeyStore for $store {
            async fn load(
                &self,
            ) -> Result<
                Vec<::tower_api_auth::store::StoredSigningKey>,
                ::tower_api_auth::store::StoreError,
            > {
                ::sqlx::query(
                    "SELECT kid, algorithm, sealed, private_key, public_jwk, created_at, \
                     signs_from, signs_until FROM auth_signing_keys",
                )
                .fetch_all(&self.pool)
                .await
                .map_err($crate::error::db_error)?
                .iter()
                .map($crate::signing_keys::signing_key)
                .collect()
            }

            async fn insert(
                &self,
                key: ::tower_api_auth::store::StoredSigningKey,
            ) -> Result<bool, ::tower_api_auth::store::StoreError> {
                use $crate::value::int;
                let done = ::sqlx::query(
                    "INSERT INTO auth_signing_keys (kid, algorithm, sealed, private_key, \
                     public_jwk, created_at, signs_from, signs_until) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (kid) DO NOTHING",
                )
                .bind(&*key.kid)
                .bind(key.algorithm_name())
                .bind(key.private_key.is_sealed())
                .bind(key.private_key.as_bytes())
                .bind(&*key.public_jwk)
                .bind(int(key.created_at))
                .bind(int(key.signs_from))
                .bind(int(key.signs_until))
                .execute(&self.pool)
                .await
                .map_err($crate::error::db_error)?;
                Ok(done.rows_affected() == 1)
            }

            async fn delete(&self, kid: &str) -> Result<bool, ::tower_api_auth::store::StoreError> {
                let done = ::sqlx::query("DELETE FROM auth_signing_keys WHERE kid = $1")
                    .bind(kid)
                    .execute(&self.pool)
                    .await
                    .map_err($crate::error::db_error)?;
                Ok(done.rows_affected() > 0)
            }
        }
    };
}
pub(crate) use impl_signing_key_store;
