//! OAuth clients: [`ClientRecord`] and the [`ClientStore`] trait. A client with a secret is
//! confidential (client credentials, authorization code); one without is public (a browser or
//! native app: authorization code with PKCE only).

use std::future::Future;
use std::sync::Arc;

use crate::api_key::{ApiKeyHasher, KeyHash};
use crate::scope::Scopes;
use crate::store::StoreError;
use crate::tenant::Tenant;

/// An OAuth 2.0 client (RFC 6749 §2). A confidential client's secret is stored as a hash, made
/// with its store's [`secret_hasher`](ClientStore::secret_hasher); a public client has none.
/// Its redirect URIs are compared exactly, character for character (OAuth 2.1 §2.3.1, RFC 9700
/// §4.1.3): no prefix, pattern or wildcard matching.
///
/// ```
/// use tower_api_auth::{api_key::ApiKeyHasher, store::ClientRecord, scope::Scopes, Tenant};
///
/// let hasher = ApiKeyHasher::default();
/// let record = ClientRecord::new("client_billing", hasher.hash("the-secret"), Scopes::parse("billing:read").unwrap())
///     .with_tenants([Tenant::new("tn_billing").unwrap()])
///     .with_redirect_uris(["https://billing.example.com/callback"]);
/// assert!(record.secret_hash.unwrap().matches(&hasher.hash("the-secret")));
/// assert!(record.allows_redirect("https://billing.example.com/callback"));
/// assert!(!record.allows_redirect("https://billing.example.com/callback/"));
///
/// // A single-page app: no secret, so PKCE is all that binds its codes.
/// let spa = ClientRecord::public("spa", Scopes::parse("read").unwrap())
///     .with_redirect_uris(["https://app.example.com/cb"]);
/// assert!(spa.is_public());
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ClientRecord {
    /// The client id.
    pub client_id: Arc<str>,
    /// The keyed hash of the secret; `None` for a public client.
    pub secret_hash: Option<KeyHash>,
    /// The scopes the client may receive.
    pub scopes: Scopes,
    /// The client's tenants.
    pub tenants: Vec<Tenant>,
    /// The redirect URIs registered for the authorization-code grant, compared exactly. A client
    /// with none cannot use that grant.
    pub redirect_uris: Vec<Arc<str>>,
}

impl ClientRecord {
    /// A confidential client with no tenants and no redirect URI.
    pub fn new(client_id: impl Into<Arc<str>>, secret_hash: KeyHash, scopes: Scopes) -> Self {
        Self {
            client_id: client_id.into(),
            secret_hash: Some(secret_hash),
            scopes,
            tenants: Vec::new(),
            redirect_uris: Vec::new(),
        }
    }

    /// A public client (no secret), with no tenants and no redirect URI.
    pub fn public(client_id: impl Into<Arc<str>>, scopes: Scopes) -> Self {
        Self {
            client_id: client_id.into(),
            secret_hash: None,
            scopes,
            tenants: Vec::new(),
            redirect_uris: Vec::new(),
        }
    }

    /// Whether the client is public: it has no secret to authenticate with.
    pub fn is_public(&self) -> bool {
        self.secret_hash.is_none()
    }

    /// Sets the registered redirect URIs.
    #[must_use]
    pub fn with_redirect_uris<S: Into<Arc<str>>>(
        mut self,
        uris: impl IntoIterator<Item = S>,
    ) -> Self {
        self.redirect_uris = uris.into_iter().map(Into::into).collect();
        self
    }

    /// Whether `uri` is one of the registered redirect URIs, exactly.
    pub fn allows_redirect(&self, uri: &str) -> bool {
        self.redirect_uris
            .iter()
            .any(|registered| **registered == *uri)
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
