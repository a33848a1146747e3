//! OAuth clients: [`ClientStore`](tower_api_auth::store::ClientStore) on `auth_clients`, and the
//! `register_client` / `remove_client` that fill it.

use crate::row::Columns;
use crate::value::hash_bytes;
use tower_api_auth::api_key::KeyHash;
use tower_api_auth::store::ClientRecord;
use tower_api_auth::store::StoreError;

/// An `auth_clients` row.
pub(crate) fn client(row: &impl Columns) -> Result<ClientRecord, StoreError> {
    let client_id = row.text("client_id")?;
    let scopes = row.scopes("scopes")?;
    // No secret hash: a public client.
    let record = match row.opt_bytes("secret_hash")? {
        Some(bytes) => ClientRecord::new(
            client_id,
            KeyHash::from_bytes(hash_bytes("secret_hash", &bytes)?),
            scopes,
        ),
        None => ClientRecord::public(client_id, scopes),
    };
    Ok(record
        .with_tenants(row.json::<Vec<_>>("tenants")?)
        .with_redirect_uris(row.json::<Vec<String>>("redirect_uris")?))
}

/// The error of a registration whose id is taken.
pub(crate) fn duplicate_client() -> StoreError {
    StoreError::new("an OAuth client with this id already exists")
}

/// Implements `ClientStore` and the inherent `register_client` / `remove_client` for `$store`, a
/// store with a `pool`.
macro_rules! impl_client_store {
    ($store:ty) => {
        impl $store {
            /// The hasher the OAuth clients' secret hashes are made with (default:
            /// [`ApiKeyHasher::default`](tower_api_auth::api_key::ApiKeyHasher::default)); the token
            /// service checks presented secrets with it
            /// ([`secret_hasher`](tower_api_auth::store::ClientStore::secret_hasher)). Give it a pepper
            /// with [`ApiKeyHasher::with_pepper`](tower_api_auth::api_key::ApiKeyHasher::with_pepper).
            #[must_use]
            pub fn client_hasher(
                mut self,
                hasher: ::tower_api_auth::api_key::ApiKeyHasher,
            ) -> Self {
                self.client_hasher = hasher;
                self
            }

            /// Registers an OAuth client whose secret was hashed with the store's
            /// [`client_hasher`](Self::client_hasher) (a public client has none), with its
            /// redirect URIs. An id already taken is an error: a client's secret is never
            /// replaced by accident.
            pub async fn register_client(
                &self,
                record: ::tower_api_auth::store::ClientRecord,
            ) -> Result<(), ::tower_api_auth::store::StoreError> {
                use $crate::error::{db_error, is_duplicate};
                ::sqlx::query(
                    "INSERT INTO auth_clients \
                     (client_id, secret_hash, scopes, tenants, redirect_uris) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(&*record.client_id)
                .bind(record.secret_hash.as_ref().map(|hash| &hash.as_bytes()[..]))
                .bind(record.scopes.as_str())
                .bind($crate::value::json(&record.tenants))
                .bind($crate::value::json(&record.redirect_uris))
                .execute(&self.pool)
                .await
                .map(drop)
                .map_err(|error| {
                    if is_duplicate(&error) {
                        $crate::clients::duplicate_client()
                    } else {
                        db_error(error)
                    }
                })
            }

            /// Removes an OAuth client; `false` if the id is unknown.
            pub async fn remove_client(
                &self,
                client_id: &str,
            ) -> Result<bool, ::tower_api_auth::store::StoreError> {
                let done = ::sqlx::query("DELETE FROM auth_clients WHERE client_id = $1")
                    .bind(client_id)
                    .execute(&self.pool)
                    .await
                    .map_err($crate::error::db_error)?;
                Ok(done.rows_affected() > 0)
            }
        }

        impl ::tower_api_auth::store::ClientStore for $store {
            fn secret_hasher(&self) -> ::tower_api_auth::api_key::ApiKeyHasher {
                self.client_hasher.clone()
            }

            async fn client(
                &self,
                client_id: &str,
            ) -> Result<
                Option<::tower_api_auth::store::ClientRecord>,
                ::tower_api_auth::store::StoreError,
            > {
                ::sqlx::query(
                    "SELECT client_id, secret_hash, scopes, tenants, redirect_uris \
                     FROM auth_clients WHERE client_id = $1",
                )
                .bind(client_id)
                .fetch_optional(&self.pool)
                .await
                .map_err($crate::error::db_error)?
                .map(|row| $crate::clients::client(&row))
                .transpose()
            }
        }
    };
}
pub(crate) use impl_client_store;
