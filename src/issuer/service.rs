//! [`TokenService`]: the grants (password, API key, refresh, client credentials), logout and
//! revocation, usable without axum.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

fn unix_now() -> u64 {
    SystemClock.now()
}

use serde::Serialize;

use crate::api_key::{ApiKeyHasher, ApiKeys, KeyHash};
use crate::clock::{Clock, SystemClock};
use crate::error::{AuthError, AuthErrorKind};
use crate::identity::Identity;
use crate::issuer::refresh::{
    RefreshStore, RefreshTokenHash, Rotation, Session, StoreFuture, new_refresh_token,
};
use crate::issuer::signing::{AccessGrant, TokenIssuer};
use crate::jwt::JwtValidator;
use crate::revocation::{MemoryRevocationList, RevocationStore};
use crate::scope::Scopes;
use crate::store::StoreError;
use crate::tenant::Tenant;

/// A verified user, as a [`PasswordVerifier`] reports it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Account {
    /// The `sub` of the user's tokens.
    pub subject: Arc<str>,
    /// What the user may do.
    pub scopes: Scopes,
    /// The user's tenants.
    pub tenants: Vec<Tenant>,
}

impl Account {
    /// An account with `scopes` and no tenants.
    pub fn new(subject: impl Into<Arc<str>>, scopes: Scopes) -> Self {
        Self {
            subject: subject.into(),
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

/// Checks a username and password. The app implements it against its own user store (and its own
/// password hashing: this crate never stores passwords).
///
/// Return `Ok(None)` for an unknown user or a wrong password alike, so that the answer (400
/// `invalid_grant`) does not tell which.
pub trait PasswordVerifier: Send + Sync + 'static {
    /// The account, if the password is right.
    fn verify<'a>(
        &'a self,
        username: &'a str,
        password: &'a str,
    ) -> StoreFuture<'a, Option<Account>>;
}

/// An OAuth 2.0 client for the client-credentials grant. Its secret is stored as a hash.
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

/// The registered OAuth clients, in memory.
#[derive(Default)]
pub struct MemoryClients {
    hasher: ApiKeyHasher,
    clients: RwLock<HashMap<Arc<str>, ClientRecord>>,
}

impl fmt::Debug for MemoryClients {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let clients = self.clients.read().unwrap_or_else(PoisonError::into_inner);
        f.debug_struct("MemoryClients")
            .field("clients", &clients.len())
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
        let secret = random_secret();
        self.insert(ClientRecord {
            client_id: Arc::from(client_id),
            secret_hash: self.hasher.hash(&secret),
            scopes,
            tenants,
        });
        secret
    }

    /// Adds a client whose secret was hashed with this registry's hasher.
    pub fn insert(&self, record: ClientRecord) {
        let mut clients = self.clients.write().unwrap_or_else(PoisonError::into_inner);
        clients.insert(record.client_id.clone(), record);
    }

    /// The client, if `secret` is right (compared in constant time).
    fn authenticate(&self, client_id: &str, secret: &str) -> Option<ClientRecord> {
        let clients = self.clients.read().unwrap_or_else(PoisonError::into_inner);
        let hash = self.hasher.hash(secret);
        clients
            .get(client_id)
            .filter(|c| c.secret_hash.matches(&hash))
            .cloned()
    }
}

fn random_secret() -> String {
    crate::random::random_base62(43)
}

/// Where a session's grant came from, when that source can be withdrawn.
#[derive(Default)]
struct Origin {
    /// The API key exchanged: re-checked on every refresh.
    api_key_id: Option<Arc<str>>,
    /// The source's own expiry: the session may not outlast it.
    not_after: Option<u64>,
}

/// A successful grant, as RFC 6749 §5.1 shapes it. `Debug` hides the tokens.
#[derive(Clone, Serialize)]
#[non_exhaustive]
pub struct TokenResponse {
    /// The access token.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// The refresh token (none for client credentials, RFC 6749 §4.4.3).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// The granted scopes, space-delimited.
    pub scope: String,
    /// The session the tokens belong to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
}

impl fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenResponse")
            .field("access_token", &"<redacted>")
            .field("expires_in", &self.expires_in)
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "<redacted>"),
            )
            .field("scope", &self.scope)
            .field("session_id", &self.session_id)
            .finish()
    }
}

fn error(kind: AuthErrorKind, message: &'static str) -> AuthError {
    AuthError::new(kind).with_message(message)
}

fn unavailable(error: StoreError) -> AuthError {
    tracing::debug!(error = %error, "token store failed");
    AuthError::new(AuthErrorKind::AuthUnavailable)
}

/// Narrows `granted` to `requested`; asking for anything not granted is `invalid_scope`.
fn narrow(granted: &Scopes, requested: Option<&str>) -> Result<Scopes, AuthError> {
    let Some(requested) = requested else {
        return Ok(granted.clone());
    };
    let requested = Scopes::parse(requested).map_err(|_| {
        error(
            AuthErrorKind::InvalidScope,
            "The requested scope is malformed",
        )
    })?;
    if requested.iter().all(|s| granted.contains(s)) {
        Ok(requested)
    } else {
        Err(error(
            AuthErrorKind::InvalidScope,
            "The requested scope exceeds the granted scope",
        ))
    }
}

/// Turns a client-chosen session id into a slot scoped to the subject, so that two users choosing
/// the same id never touch each other's sessions.
fn slot_for(subject: &str, chosen: Option<&str>) -> Result<Option<Arc<str>>, AuthError> {
    match chosen {
        None => Ok(None),
        Some(chosen) => {
            if chosen.is_empty()
                || chosen.len() > 128
                || !chosen.bytes().all(|b| b.is_ascii_graphic())
            {
                return Err(error(
                    AuthErrorKind::InvalidRequest,
                    "session_id must be 1 to 128 visible ASCII characters",
                ));
            }
            let digest = blake3::Hasher::new_derive_key("tower-api-auth 2026-11 session id v1")
                .update(subject.as_bytes())
                .update(&[0])
                .update(chosen.as_bytes())
                .finalize();
            Ok(Some(Arc::from(&digest.to_hex()[..32])))
        }
    }
}

/// Issues and manages tokens: the grants, refresh rotation with reuse detection, logout and
/// revocation. Plug [`revocations`](Self::revocations) into the auth layer and use
/// [`validator`](Self::validator) there, and access tokens of ended sessions are refused.
///
/// ```
/// # #[cfg(any(feature = "aws-lc-rs", feature = "rust-crypto"))]
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use tower_api_auth::api_key::{ApiKeyFormat, ApiKeyHasher};
/// use tower_api_auth::issuer::{MemoryRefreshStore, SigningKey, TokenIssuer, TokenService};
/// use tower_api_auth::scope::Scopes;
/// use tower_api_auth::{Algorithm, AuthLayer, MemoryKeyProvider};
///
/// let (key, record) = ApiKeyHasher::default().generate(&ApiKeyFormat::default()).into_parts();
/// let record = record.with_scopes(Scopes::parse("read write").unwrap());
/// let signing = SigningKey::hmac(Algorithm::HS256, b"a-secret-of-at-least-thirty-two-bytes!!").unwrap();
/// let tokens = TokenService::new(TokenIssuer::new(signing, "https://auth.example.test"), MemoryRefreshStore::new())
///     .api_keys(MemoryKeyProvider::from(vec![record]));
///
/// let pair = tokens.exchange_api_key(&key, None, Some("read"), None).await.unwrap();
/// assert_eq!(pair.scope, "read");
/// let next = tokens.refresh(pair.refresh_token.as_deref().unwrap(), None).await.unwrap();
/// // The first refresh token is spent: presenting it again revokes the whole session.
/// assert!(tokens.refresh(pair.refresh_token.as_deref().unwrap(), None).await.is_err());
/// assert!(tokens.refresh(next.refresh_token.as_deref().unwrap(), None).await.is_err());
///
/// let layer = AuthLayer::builder().jwt(tokens.validator()).revocation(tokens.revocations()).build().unwrap();
/// # let _ = layer;
/// # }
/// # #[cfg(not(any(feature = "aws-lc-rs", feature = "rust-crypto")))]
/// # fn main() {}
/// ```
pub struct TokenService {
    issuer: TokenIssuer,
    validator: JwtValidator,
    store: Arc<dyn RefreshStore>,
    revocations: Arc<dyn RevocationStore>,
    passwords: Option<Arc<dyn PasswordVerifier>>,
    api_keys: Option<ApiKeys>,
    clients: Option<Arc<MemoryClients>>,
    session_ttl: u64,
    idle_timeout: Option<u64>,
}

impl fmt::Debug for TokenService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenService")
            .field("issuer", &self.issuer)
            .field("session_ttl", &self.session_ttl)
            .field("idle_timeout", &self.idle_timeout)
            .finish_non_exhaustive()
    }
}

/// Revocations outlive the token's `exp` plus leeway by this much.
const REVOCATION_MARGIN_SECS: u64 = 600;

/// The default absolute session lifetime: 30 days.
pub const DEFAULT_SESSION_TTL: Duration = Duration::from_secs(30 * 24 * 60 * 60);

impl TokenService {
    /// A service issuing with `issuer`, keeping refresh tokens in `store`, revocations in memory,
    /// sessions for 30 days, and no grant enabled but refresh: add the ones you offer.
    pub fn new(issuer: TokenIssuer, store: impl RefreshStore) -> Self {
        Self {
            validator: issuer.validator(),
            issuer,
            store: Arc::new(store),
            revocations: Arc::new(MemoryRevocationList::new()),
            passwords: None,
            api_keys: None,
            clients: None,
            session_ttl: DEFAULT_SESSION_TTL.as_secs(),
            idle_timeout: None,
        }
    }

    /// Enables the password grant.
    #[must_use]
    pub fn passwords(mut self, verifier: impl PasswordVerifier) -> Self {
        self.passwords = Some(Arc::new(verifier));
        self
    }

    /// Enables the API-key exchange (pass a key provider, or [`ApiKeys`]).
    #[must_use]
    pub fn api_keys(mut self, api_keys: impl Into<ApiKeys>) -> Self {
        self.api_keys = Some(api_keys.into());
        self
    }

    /// Enables the client-credentials grant.
    #[must_use]
    pub fn clients(mut self, clients: Arc<MemoryClients>) -> Self {
        self.clients = Some(clients);
        self
    }

    /// A shared revocation store (for several instances behind a load balancer, one they all see).
    #[must_use]
    pub fn revocation_store(mut self, store: impl RevocationStore) -> Self {
        self.revocations = Arc::new(store);
        self
    }

    /// The absolute session lifetime; rotation never extends it. Default 30 days.
    #[must_use]
    pub fn session_ttl(mut self, ttl: Duration) -> Self {
        self.session_ttl = ttl.as_secs().max(1);
        self
    }

    /// Ends a session that goes unrefreshed for `idle`. Default: no idle timeout.
    #[must_use]
    pub fn idle_timeout(mut self, idle: Duration) -> Self {
        self.idle_timeout = Some(idle.as_secs().max(1));
        self
    }

    /// A validator for this service's access tokens (add it to the auth layer with `.jwt(..)`).
    pub fn validator(&self) -> JwtValidator {
        self.validator.clone()
    }

    /// The revocation check for the auth layer (`.revocation(..)`).
    pub fn revocations(&self) -> Arc<dyn RevocationStore> {
        self.revocations.clone()
    }

    /// The access-token lifetime in seconds.
    pub fn access_token_ttl(&self) -> u64 {
        self.issuer.ttl_secs()
    }

    /// Password grant.
    pub async fn password(
        &self,
        username: &str,
        password: &str,
        scope: Option<&str>,
        session_id: Option<&str>,
    ) -> Result<TokenResponse, AuthError> {
        let verifier = self.passwords.as_ref().ok_or_else(|| {
            error(
                AuthErrorKind::UnsupportedGrantType,
                "The password grant is not enabled",
            )
        })?;
        let account = verifier
            .verify(username, password)
            .await
            .map_err(unavailable)?
            .ok_or_else(|| {
                error(
                    AuthErrorKind::InvalidGrant,
                    "The username or password is wrong",
                )
            })?;
        let scopes = narrow(&account.scopes, scope)?;
        self.start_session(
            account.subject,
            scopes,
            account.tenants,
            Origin::default(),
            session_id,
        )
        .await
    }

    /// API-key exchange: the key's scopes (narrowed by `scope`) and tenants carry into the tokens.
    /// `tenant` picks one of the key's tenants.
    pub async fn exchange_api_key(
        &self,
        api_key: &str,
        tenant: Option<&str>,
        scope: Option<&str>,
        session_id: Option<&str>,
    ) -> Result<TokenResponse, AuthError> {
        let api_keys = self.api_keys.as_ref().ok_or_else(|| {
            error(
                AuthErrorKind::UnsupportedGrantType,
                "The API-key exchange is not enabled",
            )
        })?;
        let invalid = || {
            error(
                AuthErrorKind::InvalidGrant,
                "The API key is invalid, expired or revoked",
            )
        };
        let parsed = api_keys.format.parse(api_key).map_err(|_| invalid())?;
        let found = api_keys
            .provider
            .lookup(parsed.key_id())
            .resolve()
            .await
            .map_err(unavailable)?;
        let record = api_keys
            .check(parsed, found, unix_now())
            .map_err(|_| invalid())?;
        let tenants = match tenant {
            None => record.tenants.clone(),
            Some(wanted) => match record.tenants.iter().find(|t| t.as_str() == wanted) {
                Some(t) => vec![t.clone()],
                // RFC 6749 §5.2: the grant does not extend to what was asked for.
                None => {
                    return Err(error(
                        AuthErrorKind::InvalidGrant,
                        "The API key does not grant access to that tenant",
                    ));
                }
            },
        };
        let scopes = narrow(&record.scopes, scope)?;
        let subject = record
            .owner
            .clone()
            .unwrap_or_else(|| record.key_id.clone());
        // The session lives only as long as the key: it is re-checked on every refresh and the
        // session cannot outlast the key's expiry.
        let origin = Origin {
            api_key_id: Some(record.key_id.clone()),
            not_after: record.expires_at,
        };
        self.start_session(subject, scopes, tenants, origin, session_id)
            .await
    }

    /// Client-credentials grant (RFC 6749 §4.4): an access token, no refresh token.
    pub async fn client_credentials(
        &self,
        client_id: &str,
        client_secret: &str,
        scope: Option<&str>,
    ) -> Result<TokenResponse, AuthError> {
        let clients = self.clients.as_ref().ok_or_else(|| {
            error(
                AuthErrorKind::UnsupportedGrantType,
                "The client-credentials grant is not enabled",
            )
        })?;
        let client = clients
            .authenticate(client_id, client_secret)
            .ok_or_else(|| AuthError::new(AuthErrorKind::InvalidClient))?;
        let scopes = narrow(&client.scopes, scope)?;
        let grant = AccessGrant::new(client.client_id.clone(), scopes.clone())
            .with_tenants(client.tenants.clone())
            .with_client(client.client_id.clone());
        let access = self.issuer.issue(&grant, unix_now())?;
        Ok(TokenResponse {
            access_token: access.token,
            token_type: "Bearer",
            expires_in: access.expires_in,
            refresh_token: None,
            scope: scopes.to_string(),
            session_id: None,
        })
    }

    /// Refresh grant: spends `refresh_token` and returns a new pair. A spent token revokes its whole
    /// session. `scope` may narrow the session's scopes for the new access token.
    pub async fn refresh(
        &self,
        refresh_token: &str,
        scope: Option<&str>,
    ) -> Result<TokenResponse, AuthError> {
        let invalid = || {
            error(
                AuthErrorKind::InvalidGrant,
                "The refresh token is invalid, expired or revoked",
            )
        };
        let presented = RefreshTokenHash::of(refresh_token).ok_or_else(invalid)?;
        let now = unix_now();
        // Check the scope before spending the token: a refused scope must leave the token usable,
        // or the client's retry would look like reuse and end its session.
        if scope.is_some()
            && let Some(session) = self
                .store
                .session_of(presented, now)
                .await
                .map_err(unavailable)?
        {
            narrow(&session.scopes, scope)?;
        }
        let (next_token, next_hash) = new_refresh_token();
        match self
            .store
            .rotate(presented, next_hash, now)
            .await
            .map_err(unavailable)?
        {
            Rotation::Rotated(session) => {
                if let Some(key_id) = &session.api_key_id
                    && !self.api_key_still_valid(key_id, now).await?
                {
                    // The key behind the session was revoked, disabled or removed: so is the session.
                    self.end_session(&session.id, now).await?;
                    return Err(invalid());
                }
                let scopes = narrow(&session.scopes, scope)?;
                self.respond(&session, scopes, next_token, now)
            }
            Rotation::Reused(session) => {
                tracing::debug!(session_id = %session.id, "refresh token reuse: session revoked");
                self.revocations
                    .revoke_session(&session.id, self.session_tokens_deadline(now));
                Err(invalid())
            }
            Rotation::Ended | Rotation::Unknown => Err(invalid()),
        }
    }

    /// Ends the session of an authenticated request (logout with the access token): its refresh
    /// tokens stop working and its access tokens are refused from now on.
    pub async fn logout(&self, identity: &Identity) -> Result<(), AuthError> {
        let now = unix_now();
        match identity.session_id() {
            Some(session_id) => self.end_session(session_id, now).await,
            None => {
                // A token without a session (client credentials): revoke just this token.
                if let (Some(jti), Some(exp)) = (identity.token_id(), identity.expires_at()) {
                    self.revocations.revoke_token(jti, self.token_deadline(exp));
                }
                Ok(())
            }
        }
    }

    /// Revokes a token (RFC 7009): a refresh token ends its session; an access token of this issuer
    /// is refused from now on. Unknown or invalid tokens are not an error.
    pub async fn revoke(&self, token: &str) -> Result<(), AuthError> {
        let now = unix_now();
        if let Some(hash) = RefreshTokenHash::of(token) {
            if let Some(session) = self
                .store
                .session_of(hash, now)
                .await
                .map_err(unavailable)?
            {
                return self.end_session(&session.id, now).await;
            }
            return Ok(());
        }
        if let Ok(jwt) = self.validator.validate(token, now)
            && let Some(jti) = jwt.token_id()
        {
            self.revocations
                .revoke_token(jti, self.token_deadline(jwt.expires_at().unwrap_or(now)));
        }
        Ok(())
    }

    /// Whether the API key `key_id` still exists, unrevoked, enabled and unexpired.
    async fn api_key_still_valid(&self, key_id: &str, now: u64) -> Result<bool, AuthError> {
        let Some(api_keys) = &self.api_keys else {
            return Ok(false);
        };
        let found = api_keys
            .provider
            .lookup(key_id)
            .resolve()
            .await
            .map_err(unavailable)?;
        Ok(found.is_some_and(|record| {
            !record.revoked && !record.disabled && record.expires_at.is_none_or(|end| now < end)
        }))
    }

    async fn end_session(&self, session_id: &str, now: u64) -> Result<(), AuthError> {
        self.store.end(session_id, now).await.map_err(unavailable)?;
        // Access tokens of the session live at most one access-token lifetime longer.
        self.revocations
            .revoke_session(session_id, self.session_tokens_deadline(now));
        Ok(())
    }

    async fn start_session(
        &self,
        subject: Arc<str>,
        scopes: Scopes,
        tenants: Vec<Tenant>,
        origin: Origin,
        chosen_session: Option<&str>,
    ) -> Result<TokenResponse, AuthError> {
        let now = unix_now();
        let expires_at = now.saturating_add(self.session_ttl);
        let slot = slot_for(&subject, chosen_session)?;
        let id: Arc<str> = Arc::from(format!("ses_{}", crate::random::random_base62(22)));
        let session = Session {
            id,
            slot,
            subject,
            scopes: scopes.clone(),
            tenants,
            client_id: None,
            api_key_id: origin.api_key_id,
            created_at: now,
            expires_at: origin
                .not_after
                .map_or(expires_at, |end| end.min(expires_at)),
            idle_timeout: self.idle_timeout,
        };
        let (token, hash) = new_refresh_token();
        let replaced = self
            .store
            .start(session.clone(), hash)
            .await
            .map_err(unavailable)?;
        if let Some(replaced) = replaced {
            // The client asked for this session afresh: the one it replaces ends now.
            self.revocations
                .revoke_session(&replaced.id, self.session_tokens_deadline(now));
        }
        self.respond(&session, scopes, token, now)
    }

    /// Until when a revocation of a token expiring at `exp` must be kept: validators accept a token
    /// up to its leeway past `exp`, and a layer may be configured with more than this service's
    /// validator, hence a margin.
    fn token_deadline(&self, exp: u64) -> u64 {
        exp.saturating_add(self.validator.options().leeway.as_secs())
            .saturating_add(REVOCATION_MARGIN_SECS)
    }

    /// Until when the tokens of a session ending `now` must be refused: the newest one expires at
    /// most one access-token lifetime from now.
    fn session_tokens_deadline(&self, now: u64) -> u64 {
        self.token_deadline(now.saturating_add(self.issuer.ttl_secs()))
    }

    fn respond(
        &self,
        session: &Session,
        scopes: Scopes,
        refresh_token: String,
        now: u64,
    ) -> Result<TokenResponse, AuthError> {
        let mut grant = AccessGrant::new(session.subject.clone(), scopes.clone())
            .with_tenants(session.tenants.clone())
            .with_session(session.id.clone());
        grant.client_id = session.client_id.clone();
        let access = self.issuer.issue(&grant, now)?;
        Ok(TokenResponse {
            access_token: access.token,
            token_type: "Bearer",
            expires_in: access.expires_in,
            refresh_token: Some(refresh_token),
            scope: scopes.to_string(),
            session_id: Some(session.id.to_string()),
        })
    }
}
