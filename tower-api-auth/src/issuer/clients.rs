//! Client authentication at the token and introspection endpoints (RFC 6749 §2.3, §3.2.1):
//! a confidential client proves its secret, a public client only names itself.

use std::fmt;

use crate::issuer::error::{GrantError, GrantErrorKind, grant_error};
use crate::issuer::service::TokenService;
use crate::store::ClientRecord;

/// How a client identified itself on a request: its id, and its secret unless it is public.
/// Read from HTTP Basic or the body (`client_secret_basic`, `client_secret_post`), or the id alone
/// (`none`, for public clients). `Debug` never shows the secret.
///
/// ```
/// use tower_api_auth::issuer::ClientCredentials;
///
/// let confidential = ClientCredentials::new("billing", Some("s3cret"));
/// let public = ClientCredentials::public("spa");
/// assert!(!format!("{confidential:?}").contains("s3cret"));
/// assert_eq!(public.client_id(), "spa");
/// ```
#[derive(Clone, Copy)]
pub struct ClientCredentials<'a> {
    client_id: &'a str,
    secret: Option<&'a str>,
}

impl fmt::Debug for ClientCredentials<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCredentials")
            .field("client_id", &self.client_id)
            .field("secret", &self.secret.map(|_| "<redacted>"))
            .finish()
    }
}

impl<'a> ClientCredentials<'a> {
    /// A client's id and, for a confidential client, its secret.
    pub fn new(client_id: &'a str, secret: Option<&'a str>) -> Self {
        Self { client_id, secret }
    }

    /// A public client's id.
    pub fn public(client_id: &'a str) -> Self {
        Self::new(client_id, None)
    }

    /// The client id.
    pub fn client_id(&self) -> &'a str {
        self.client_id
    }
}

impl TokenService {
    /// The registered client that `credentials` authenticate: a confidential client with its
    /// secret (compared in constant time; the presented secret is hashed whether or not the client
    /// exists), a public client with none. Anything else is `invalid_client`: an unknown id, a
    /// wrong or missing secret, a secret sent for a public client.
    pub async fn authenticate_client(
        &self,
        credentials: ClientCredentials<'_>,
    ) -> Result<ClientRecord, GrantError> {
        let clients = self.clients.as_ref().ok_or_else(|| {
            grant_error(
                GrantErrorKind::InvalidClient,
                "No OAuth clients are registered",
            )
        })?;
        let found = clients
            .client(credentials.client_id)
            .await
            .map_err(|e| GrantError::unavailable(&e))?;
        let presented = clients
            .secret_hasher()
            .hash(credentials.secret.unwrap_or_default());
        let authenticated = found.filter(|client| match (client.secret_hash, credentials.secret) {
            (Some(hash), Some(_)) => hash.matches(&presented),
            (None, None) => true,
            _ => false,
        });
        authenticated.ok_or_else(|| GrantError::new(GrantErrorKind::InvalidClient))
    }
}
