//! OAuth clients of the client-credentials grant: [`ClientRecord`], the [`ClientStore`] trait and
//! the in-memory [`MemoryClients`].

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, PoisonError, RwLock};

use crate::api_key::{ApiKeyHasher, KeyHash};
use crate::crypto::random_secret;
use crate::issuer::store::BoxFuture;
use crate::scope::Scopes;
use crate::store::StoreError;
use crate::tenant::Tenant;

/// An OAuth 2.0 client. Its secret is stored as a hash, made with its store's
/// [`secret_hasher`](ClientStore::secret_hasher).
///
/// ```
/// use tower_api_auth::{api_key::ApiKeyHasher, issuer::ClientRecord, scope::Scopes, Tenant};
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

/// Where the OAuth clients are registered: in memory ([`MemoryClients`]) or in the app's database.
/// Implement it with `async fn`. The store only finds records; the token service checks the
/// secret (in constant time). `Err` is answered with 503 `auth_unavailable`.
///
/// ```
/// use tower_api_auth::{issuer::ClientRecord, issuer::ClientStore, store::StoreError};
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

/// [`ClientStore`] made object safe.
pub(crate) trait DynClientStore: Send + Sync + 'static {
    fn client<'a>(&'a self, client_id: &'a str) -> BoxFuture<'a, Option<ClientRecord>>;
    fn secret_hasher(&self) -> ApiKeyHasher;
}

impl<C: ClientStore> DynClientStore for C {
    fn client<'a>(&'a self, client_id: &'a str) -> BoxFuture<'a, Option<ClientRecord>> {
        Box::pin(ClientStore::client(self, client_id))
    }

    fn secret_hasher(&self) -> ApiKeyHasher {
        ClientStore::secret_hasher(self)
    }
}

impl fmt::Debug for dyn DynClientStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("dyn ClientStore")
    }
}

/// The registered OAuth clients, in memory.
///
/// ```
/// use tower_api_auth::{api_key::ApiKeyHasher, issuer::MemoryClients, scope::Scopes};
///
/// let clients = MemoryClients::new(ApiKeyHasher::default());
/// let secret = clients.register("client_billing", Scopes::parse("billing:read").unwrap(), vec![]);
/// assert_eq!(secret.len(), 43); // show it to the client's owner once
/// assert_eq!(clients.len(), 1);
/// ```
#[derive(Default)]
pub struct MemoryClients {
    hasher: ApiKeyHasher,
    clients: RwLock<HashMap<Arc<str>, ClientRecord>>,
}

impl fmt::Debug for MemoryClients {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryClients")
            .field("clients", &self.len())
            .finish()
    }
}

impl MemoryClients {
    /// An empty registry hashing secrets with `hasher`.
    pub fn new(hasher: ApiKeyHasher) -> Self {
        Self {
            hasher,
            clients: RwLock::default(),
        }
    }

    /// Registers a client with a new random secret, which is returned (show it once).
    pub fn register(&self, client_id: &str, scopes: Scopes, tenants: Vec<Tenant>) -> String {
        let secret = random_secret(43);
        self.insert(
            ClientRecord::new(client_id, self.hasher.hash(&secret), scopes).with_tenants(tenants),
        );
        secret
    }

    /// Adds or replaces a client whose secret was hashed with this registry's hasher.
    pub fn insert(&self, record: ClientRecord) {
        let mut clients = self.clients.write().unwrap_or_else(PoisonError::into_inner);
        clients.insert(record.client_id.clone(), record);
    }

    /// Removes a client; `false` if the id is unknown.
    pub fn remove(&self, client_id: &str) -> bool {
        let mut clients = self.clients.write().unwrap_or_else(PoisonError::into_inner);
        clients.remove(client_id).is_some()
    }

    /// How many clients are registered.
    pub fn len(&self) -> usize {
        self.clients
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl ClientStore for MemoryClients {
    async fn client(&self, client_id: &str) -> Result<Option<ClientRecord>, StoreError> {
        let clients = self.clients.read().unwrap_or_else(PoisonError::into_inner);
        Ok(clients.get(client_id).cloned())
    }

    fn secret_hasher(&self) -> ApiKeyHasher {
        self.hasher.clone()
    }
}
