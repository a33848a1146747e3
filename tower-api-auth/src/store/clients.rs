//! OAuth clients of the client-credentials grant: [`ClientRecord`] and the [`ClientStore`] trait.

use std::future::Future;
use std::sync::Arc;

use crate::api_key::{ApiKeyHasher, KeyHash};
use crate::scope::Scopes;
use crate::store::StoreError;
use crate::tenant::Tenant;

/// An OAuth 2.0 client. Its secret is stored as a hash, made with its store's
/// [`secret_hasher`](ClientStore::secret_hasher).
///
/// ```
/// use tower_api_auth::{api_key::ApiKeyHasher, store::ClientRecord, scope::Scopes, Tenant};
///
/// let hasher = ApiKeyHasher::default();
/// let record = ClientRecord::new("client_billing", hasher.hash("the-secret"), Scopes::parse("billing:read").unwrap())
///     .with_tenants([Tenant::new("tn_billing").unwrap()]);
/// assert!(record.secret_hash.matches(&hasher.hash("the-secret")));
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ClientRecord {
    /// The client id.
    pub client_id: Arc<str>,
    /// The keyed hash of the secret.
    pub secret_hash: KeyHash,
    /// The scopes the client may receive.
    pub scopes: Scopes,
    /// The client's tenants.
    pub tenants: Vec<Tenant>,
}

impl ClientRecord {
    /// A client with no tenants.
    pub fn new(client_id: impl Into<Arc<str>>, secret_hash: KeyHash, scopes: Scopes) -> Self {
        Self {
            client_id: client_id.into(),
            secret_hash,
            scopes,
            tenants: Vec::new(),
        }
    }

    /// Sets the tenants.
    #[must_use]
    pub fn with_tenants(mut self, tenants: impl IntoIterator<Item = Tenant>) -> Self {
        self.tenants = tenants.into_iter().collect();
        self
    }
}

/// Where the OAuth clients are registered: in memory ([`MemoryClientStore`](crate::issuer::MemoryClientStore)) or in the app's database.
/// Implement it with `async fn`. The store only finds records; the token service checks the
/// secret (in constant time). `Err` is answered with 503 `auth_unavailable`.
///
/// ```
/// use tower_api_auth::{store::ClientRecord, store::ClientStore, store::StoreError};
///
/// struct Clients; // e.g. a database pool
///
/// impl ClientStore for Clients {
///     async fn client(&self, client_id: &str) -> Result<Option<ClientRecord>, StoreError> {
///         // sqlx::query!(…).fetch_optional(&self.pool).await.map_err(StoreError::new)? …
///         let _ = client_id;
///         Ok(None)
///     }
/// }
/// ```
pub trait ClientStore: Send + Sync + 'static {
    /// The client registered as `client_id`, if any.
    fn client(
        &self,
        client_id: &str,
    ) -> impl Future<Output = Result<Option<ClientRecord>, StoreError>> + Send;

    /// The hasher the stored secret hashes were made with. Default: [`ApiKeyHasher::default`].
    fn secret_hasher(&self) -> ApiKeyHasher {
        ApiKeyHasher::default()
    }
}

impl<C: ClientStore> ClientStore for Arc<C> {
    fn client(
        &self,
        client_id: &str,
    ) -> impl Future<Output = Result<Option<ClientRecord>, StoreError>> + Send {
        (**self).client(client_id)
    }

    fn secret_hasher(&self) -> ApiKeyHasher {
        (**self).secret_hasher()
    }
}
