//! What a valid token says, owned, as the validator hands it to the authenticator and the cache.

use std::sync::Arc;

use crate::jwt::options::AnyClaims;
use crate::scope::Scopes;
use crate::tenant::Tenant;

/// The facts of a token that passed every check.
pub(crate) struct VerifiedJwt {
    pub(crate) subject: Arc<str>,
    pub(crate) scopes: Scopes,
    pub(crate) tenants: Vec<Tenant>,
    pub(crate) expires_at: u64,
    /// The later of `nbf` and `iat`: before it (less leeway) the token is not valid.
    pub(crate) not_before: Option<i64>,
    pub(crate) kid: Option<Arc<str>>,
    pub(crate) session_id: Option<Arc<str>>,
    pub(crate) token_id: Option<Arc<str>>,
    pub(crate) client_id: Option<Arc<str>>,
    pub(crate) api_key_id: Option<Arc<str>>,
    /// The [`JwtKey::id`](crate::jwt::JwtKey) of the key that verified it.
    pub(crate) key: u64,
    pub(crate) claims: Option<AnyClaims>,
}
