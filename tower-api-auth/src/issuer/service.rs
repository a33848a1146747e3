//! [`TokenService`]: its configuration and what every grant shares (time, signing, revocation
//! deadlines, the store's purge). The grants are in `grants.rs`, the session lifecycle in
//! `sessions.rs`.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::api_key::ApiKeys;
use crate::clock::{Clock, SharedClock};
use crate::issuer::accounts::{DynPasswordVerifier, PasswordVerifier};
use crate::issuer::dyn_stores::{
    DynClientStore, DynCodeStore, DynRefreshStore, DynRevocationStore,
};
use crate::issuer::error::GrantError;
use crate::issuer::response::TokenResponse;
use crate::issuer::reuse::ReusableTokens;
use crate::issuer::signing::{AccessGrant, AccessToken, TokenIssuer};
use crate::jwt::{JwtOptions, JwtValidator};
use crate::revocation::MemoryRevocationStore;
use crate::scope::Scopes;
use crate::store::{
    ClientStore, CodeStore, RefreshStore, RevocationCheck, RevocationStore, Session,
};

/// Issues and manages tokens: the grants, refresh rotation with reuse detection, logout and
/// revocation. Plug [`revocations`](Self::revocations) into the auth layer and use
/// [`validator`](Self::validator) there, and access tokens of ended sessions are refused.
///
/// ```
/// # #[cfg(any(feature = "aws-lc-rs", feature = "rust-crypto"))]
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use tower_api_auth::api_key::{ApiKeyFormat, ApiKeyHasher};
/// use tower_api_auth::issuer::{Login, MemoryRefreshStore, SigningKey, TokenIssuer, TokenService};
/// use tower_api_auth::scope::Scopes;
/// use tower_api_auth::{Algorithm, AuthLayer, MemoryKeyStore};
///
/// let (key, record) = ApiKeyHasher::default().generate(&ApiKeyFormat::default()).into_parts();
/// let record = record.with_scopes(Scopes::parse("read write").unwrap());
/// let signing = SigningKey::hmac(Algorithm::HS256, b"a-secret-of-at-least-thirty-two-bytes!!").unwrap();
/// let tokens = TokenService::new(TokenIssuer::new(signing, "https://auth.example.test"), MemoryRefreshStore::new())
///     .api_keys(MemoryKeyStore::from(vec![record]))
///     .max_sessions_per_subject(10); // an 11th login of one subject ends its oldest session
///
/// let pair = tokens.login(Login::api_key(&key).scope("read")).await.unwrap();
/// assert_eq!(pair.scope, "read");
/// let next = tokens.refresh(pair.refresh_token.as_deref().unwrap(), None).await.unwrap();
/// // The first refresh token is spent: presenting it again revokes the whole session.
/// assert!(tokens.refresh(pair.refresh_token.as_deref().unwrap(), None).await.is_err());
/// assert!(tokens.refresh(next.refresh_token.as_deref().unwrap(), None).await.is_err());
///
/// let layer = AuthLayer::builder().jwt(tokens.validator()).revocation(tokens.revocations()).build();
/// # let _ = layer;
/// # }
/// # #[cfg(not(any(feature = "aws-lc-rs", feature = "rust-crypto")))]
/// # fn main() {}
/// ```
pub struct TokenService {
    pub(super) issuer: TokenIssuer,
    pub(super) validator: JwtValidator,
    pub(super) store: Arc<dyn DynRefreshStore>,
    pub(super) revocations: Arc<dyn DynRevocationStore>,
    /// The same store, as the auth layer reads it.
    revocation_check: Arc<dyn RevocationCheck>,
    pub(super) passwords: Option<Arc<dyn DynPasswordVerifier>>,
    pub(super) api_keys: Option<ApiKeys>,
    /// The API-key metadata entries that become claims.
    pub(super) metadata_claims: Vec<String>,
    pub(super) clients: Option<Arc<dyn DynClientStore>>,
    /// The authorization codes, when the authorization-code grant is enabled.
    pub(super) codes: Option<Arc<dyn DynCodeStore>>,
    /// How long a code may be redeemed, in seconds.
    pub(super) code_ttl: u64,
    pub(super) session_ttl: u64,
    pub(super) idle_timeout: Option<u64>,
    pub(super) max_sessions_per_subject: usize,
    pub(super) reuse_interval: u64,
    pub(super) refresh_policy: RefreshPolicy,
    /// The access tokens logins hand back while valid, when enabled.
    pub(super) reusable: Option<ReusableTokens>,
    pub(super) clock: SharedClock,
    /// When the store is next purged (unix seconds).
    next_purge: AtomicU64,
}

impl fmt::Debug for TokenService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenService")
            .field("issuer", &self.issuer)
            .field("session_ttl", &self.session_ttl)
            .field("idle_timeout", &self.idle_timeout)
            .field("max_sessions_per_subject", &self.max_sessions_per_subject)
            .field("reuse_interval", &self.reuse_interval)
            .field("refresh_policy", &self.refresh_policy)
            .field("reuse_access_tokens", &self.reusable.is_some())
            .field("clock", &self.clock)
            .finish_non_exhaustive()
    }
}

/// What a refresh does with the refresh token it was given: the seeds' two rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RefreshPolicy {
    /// Single use, with reuse detection (RFC 9700 §4.14.2): every refresh answers a new refresh
    /// token and spends the one presented; presenting a spent one again ends the whole session,
    /// since either the client or a thief is replaying it. A stolen refresh token is thus good
    /// for one use at most, and its theft shows. Costs a store write per refresh, and clients
    /// that lose a refresh answer are logged out (see
    /// [`reuse_interval`](TokenService::reuse_interval) for a grace).
    #[default]
    Rotate,
    /// One refresh token for the session's whole life (django-rest-framework-simplejwt's
    /// default, RAG Chats' API): a refresh answers a new access token only, and the same refresh
    /// token keeps working until the session ends — by its absolute lifetime, its idle timeout,
    /// logout, revocation or its API key's end. Simpler for clients, but a stolen refresh token
    /// works for the thief as long as it does for the owner, and nothing detects the theft:
    /// choose short [session lifetimes](TokenService::session_ttl) with it.
    Reuse,
}

/// Revocations outlive the token's `exp` plus leeway by this much.
const REVOCATION_MARGIN_SECS: u64 = 600;

/// How often the refresh store is purged of sessions that are over.
const PURGE_EVERY_SECS: u64 = 60;

/// The default authorization-code lifetime: 60 seconds. RFC 6749 §4.1.2 recommends at most ten
/// minutes; a code is redeemed by the client's back end the moment the browser lands on its
/// callback, so a minute is plenty and leaves a stolen code little time.
pub const DEFAULT_CODE_TTL: Duration = Duration::from_secs(60);

/// The longest authorization-code lifetime: ten minutes (RFC 6749 §4.1.2).
const MAX_CODE_TTL_SECS: u64 = 600;

/// Spent codes are kept this long past their expiry, so that a late replay still revokes what the
/// first redemption issued.
pub(super) const KEEP_SPENT_CODES_SECS: u64 = 600;

/// The default absolute session lifetime: 30 days.
pub const DEFAULT_SESSION_TTL: Duration = Duration::from_secs(30 * 24 * 60 * 60);

/// The default idle timeout: 15 days without a refresh end a session, within its 30-day
/// [absolute lifetime](DEFAULT_SESSION_TTL). The pair is Auth0's default (an inactivity lifetime
/// of 15 days in an absolute one of 30): a client used every other week stays logged in, while a
/// refresh token forgotten on a lost device or in a leaked backup stops working after half the
/// absolute lifetime instead of all of it.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(15 * 24 * 60 * 60);

/// The default bound on a subject's live sessions: 100. A login beyond it ends the subject's
/// oldest session, as Auth0 revokes a user's oldest refresh tokens past its cap. A hundred is
/// far more than the devices and browsers one person uses at once, so no real user is logged
/// out by it, while a client that logs in on every start and never logs out (or an attacker with
/// a stolen password) costs at most a hundred sessions, some 60 KiB, instead of growing without
/// end.
pub const DEFAULT_MAX_SESSIONS_PER_SUBJECT: usize = 100;

impl TokenService {
    /// A service issuing with `issuer`, keeping refresh tokens in `store`, revocations in memory,
    /// sessions for 30 days ending after 15 days without a refresh, at most 100 live sessions per
    /// subject, strict reuse detection, the system clock, and no grant enabled but refresh: add
    /// the ones you offer.
    pub fn new(issuer: TokenIssuer, store: impl RefreshStore) -> Self {
        let revocations = Arc::new(MemoryRevocationStore::new());
        Self {
            validator: issuer.validator(),
            issuer,
            store: Arc::new(store),
            revocations: revocations.clone(),
            revocation_check: revocations,
            passwords: None,
            api_keys: None,
            metadata_claims: Vec::new(),
            clients: None,
            codes: None,
            code_ttl: DEFAULT_CODE_TTL.as_secs(),
            session_ttl: DEFAULT_SESSION_TTL.as_secs(),
            idle_timeout: Some(DEFAULT_IDLE_TIMEOUT.as_secs()),
            max_sessions_per_subject: DEFAULT_MAX_SESSIONS_PER_SUBJECT,
            reuse_interval: 0,
            refresh_policy: RefreshPolicy::default(),
            reusable: None,
            clock: crate::clock::system(),
            next_purge: AtomicU64::new(0),
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

    /// Copies these entries of an exchanged API key's [`metadata`](crate::api_key::KeyRecord::metadata)
    /// into its access tokens, each as a string claim of the same name (entries the key does not
    /// have are left out). Default: none. Names among the
    /// [registered claims](crate::issuer::REGISTERED_CLAIMS) are ignored.
    #[must_use]
    pub fn api_key_claims<S: Into<String>>(mut self, names: impl IntoIterator<Item = S>) -> Self {
        self.metadata_claims = names.into_iter().map(Into::into).collect();
        self
    }

    /// Enables the client-credentials grant with the clients of `clients` (a [`MemoryClientStore`],
    /// an `Arc` of one, or the app's own [`ClientStore`]).
    ///
    /// [`MemoryClientStore`]: crate::issuer::MemoryClientStore
    #[must_use]
    pub fn clients(mut self, clients: impl ClientStore) -> Self {
        self.clients = Some(Arc::new(clients));
        self
    }

    /// Enables the authorization-code grant (RFC 6749 §4.1, with PKCE), its codes kept in `codes`
    /// (a [`MemoryCodeStore`](crate::issuer::MemoryCodeStore), or a store shared by the fleet).
    /// Its clients are the [registered clients](Self::clients) with redirect URIs.
    #[must_use]
    pub fn authorization_codes(mut self, codes: impl CodeStore) -> Self {
        self.codes = Some(Arc::new(codes));
        self
    }

    /// How long an authorization code may be redeemed (whole seconds, from one to ten minutes:
    /// longer is cut to ten, as RFC 6749 §4.1.2 recommends). Default [60 seconds](DEFAULT_CODE_TTL).
    #[must_use]
    pub fn code_ttl(mut self, ttl: Duration) -> Self {
        // RFC 6749 §4.1.2: "A maximum authorization code lifetime of 10 minutes is RECOMMENDED".
        self.code_ttl = ttl.as_secs().clamp(1, MAX_CODE_TTL_SECS);
        self
    }

    /// Whether the client-credentials grant is enabled (clients are registered).
    pub fn offers_client_credentials(&self) -> bool {
        self.clients.is_some()
    }

    /// Whether the authorization-code grant is enabled.
    pub fn offers_authorization_codes(&self) -> bool {
        self.codes.is_some()
    }

    /// The issuer's name, the `iss` of its tokens.
    pub fn issuer_url(&self) -> &str {
        self.issuer.issuer_url()
    }

    /// A shared revocation store: for several instances behind a load balancer, one they all
    /// see, such as a `fleet::RevocationFeed` on a shared store (the `tower-api-auth-sqlx-store`
    /// and `tower-api-auth-redis-store` crates). Default:
    /// a [`MemoryRevocationStore`] of this process.
    #[must_use]
    pub fn revocation_store(mut self, store: impl RevocationStore) -> Self {
        let store = Arc::new(store);
        self.revocation_check = store.clone();
        self.revocations = store;
        self
    }

    /// The absolute session lifetime; rotation never extends it. Default 30 days.
    #[must_use]
    pub fn session_ttl(mut self, ttl: Duration) -> Self {
        self.session_ttl = ttl.as_secs().max(1);
        self
    }

    /// Ends a session that goes unrefreshed for `idle` (whole seconds, at least one). Default
    /// [15 days](DEFAULT_IDLE_TIMEOUT); `Duration::MAX` switches it off (then only the
    /// [absolute lifetime](Self::session_ttl) ends a session).
    #[must_use]
    pub fn idle_timeout(mut self, idle: Duration) -> Self {
        self.idle_timeout = (idle != Duration::MAX).then(|| idle.as_secs().max(1));
        self
    }

    /// How many live sessions one subject (`sub`) may have: a login beyond it ends the subject's
    /// oldest session exactly as a logout does (its refresh tokens stop working, its access
    /// tokens are refused through the [revocation store](Self::revocation_store)). Sessions that
    /// are over do not count, and a new login in a session's
    /// [slot](crate::store::Session::slot) replaces it rather than adding one. At least 1.
    /// Default [100](DEFAULT_MAX_SESSIONS_PER_SUBJECT).
    ///
    /// Every store keeps to it atomically with the login, with work bounded by `max`.
    #[must_use]
    pub fn max_sessions_per_subject(mut self, max: usize) -> Self {
        self.max_sessions_per_subject = max.max(1);
        self
    }

    /// A retry grace, as Auth0's "reuse interval": for `interval` (whole seconds) after a refresh
    /// token is rotated, presenting it again succeeds and hands back the same successor token
    /// (with a new access token) instead of ending the session — a client whose response was lost,
    /// or several tabs refreshing at once, keep their session. Only the token the last rotation
    /// replaced is forgiven, and only while the session is alive; any other spent token, or the
    /// same one later, is a reuse and ends the session. The successor is kept for the interval
    /// only, sealed under the replaced token (the store never holds a usable token).
    ///
    /// Default 0: strict, every reuse ends the session.
    #[must_use]
    pub fn reuse_interval(mut self, interval: Duration) -> Self {
        self.reuse_interval = interval.as_secs();
        self
    }

    /// What a refresh does with the refresh token presented. Default: [`RefreshPolicy::Rotate`].
    #[must_use]
    pub fn refresh_policy(mut self, policy: RefreshPolicy) -> Self {
        self.refresh_policy = policy;
        self
    }

    /// Logins hand back the access token a previous login of the same kind still holds, instead
    /// of starting a session each time (the "same token while valid" of APIs whose clients log in
    /// before every batch of calls):
    ///
    /// * a login naming a [`session_id`](crate::issuer::Login::session_id) gets that session's
    ///   token while it is valid, and a new session (and token) for a name not seen before;
    /// * a login without one gets the token of the last such login;
    ///
    /// and in both cases only when the token says exactly what a fresh one would: the same
    /// subject, API key, tenants, scopes and claims (a narrower scope, another tenant or another
    /// key of the same owner gets a fresh token, and with a known session name replaces that
    /// session), and it does not outlive the credential as just verified.
    ///
    /// The credential is checked on every login all the same (a revoked key or a changed password
    /// is refused at once), the token is handed back only while its session is alive and not
    /// revoked, with `expires_in` counting down, and without a refresh token: the client keeps the
    /// one the first answer gave it.
    ///
    /// The tokens are kept in this process's memory only (at most 10,000; the least recently used
    /// goes first), never in a store, so each instance of a fleet hands back its own: two
    /// instances may answer the same client with two tokens, both valid. Default: off.
    #[must_use]
    pub fn reuse_access_tokens(mut self, reuse: bool) -> Self {
        self.reusable = reuse.then(ReusableTokens::new);
        self
    }

    /// The clock every `now` of the service is read from: session lifetimes, idle timeouts,
    /// revocations, API-key expiry and the tokens' `iat`/`exp`. Default: the system clock. Give
    /// the auth layer the same one.
    #[must_use]
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Whether refreshes answer a new refresh token ([`RefreshPolicy::Rotate`]).
    pub fn rotates_refresh_tokens(&self) -> bool {
        self.refresh_policy == RefreshPolicy::Rotate
    }

    /// A validator for this service's access tokens (add it to the auth layer with `.jwt(..)`).
    pub fn validator(&self) -> JwtValidator {
        self.validator.clone()
    }

    /// A validator for this service's access tokens with options of its own, e.g. a claims type
    /// for the [`Claims<C>`](crate::Claims) extractor:
    /// `tokens.validator_with(|options| options.claims::<AppClaims>())`. It trusts the same keys
    /// and starts from the same options as [`validator`](Self::validator), with its own cache.
    pub fn validator_with(&self, options: impl FnOnce(JwtOptions) -> JwtOptions) -> JwtValidator {
        // Through the issuer, so that a rotating issuer's validator follows its ring too.
        self.issuer
            .validator_for(options(self.validator.options().clone()))
    }

    /// The RFC 7517 JWK set of the issuer's public keys, for a JWKS endpoint: every published
    /// key of a rotating issuer, the one key of a fixed asymmetric one; `None` for an HMAC secret,
    /// which is never published.
    pub fn jwks_json(&self) -> Option<String> {
        self.issuer.jwks_json()
    }

    /// The revocation check for the auth layer (`.revocation(..)`).
    pub fn revocations(&self) -> Arc<dyn RevocationCheck> {
        self.revocation_check.clone()
    }

    /// The access-token lifetime in seconds.
    pub fn access_token_ttl(&self) -> u64 {
        self.issuer.ttl_secs()
    }

    /// Purges the refresh store of sessions that are over at the clock's time now; returns how
    /// many were removed. The service does it by itself at most once a minute.
    pub async fn purge_sessions(&self) -> Result<usize, GrantError> {
        let now = self.clock.now();
        self.store
            .purge(now)
            .await
            .map_err(|e| GrantError::unavailable(&e))
    }

    /// The time now, after purging the store if a minute has passed since it last was.
    pub(super) async fn begin(&self) -> u64 {
        let now = self.clock.now();
        let due = self.next_purge.load(Ordering::Relaxed);
        if now >= due
            && self
                .next_purge
                .compare_exchange(
                    due,
                    now.saturating_add(PURGE_EVERY_SECS),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                )
                .is_ok()
        {
            match self.store.purge(now).await {
                Ok(purged) => tracing::debug!(purged, "refresh store purged"),
                // The request goes on: a purge is housekeeping, never a reason to refuse.
                Err(error) => tracing::debug!(error = %error, "purging the refresh store failed"),
            }
            if let Some(codes) = &self.codes
                && let Err(error) = codes.purge(now, KEEP_SPENT_CODES_SECS).await
            {
                tracing::debug!(error = %error, "purging the code store failed");
            }
        }
        now
    }

    /// Until when a revocation of a token expiring at `exp` must be kept: validators accept a token
    /// up to its leeway past `exp`, and a layer may be configured with more than this service's
    /// validator, hence a margin.
    pub(super) fn token_deadline(&self, exp: u64) -> u64 {
        exp.saturating_add(self.validator.options().leeway.as_secs())
            .saturating_add(REVOCATION_MARGIN_SECS)
    }

    /// Until when the tokens of a session ending `now` must be refused: the newest one expires at
    /// most one access-token lifetime from now.
    pub(super) fn session_tokens_deadline(&self, now: u64) -> u64 {
        self.token_deadline(now.saturating_add(self.issuer.ttl_secs()))
    }

    /// Signs an access token of `session` with `scopes` at `now`, expiring no later than the
    /// session nor `key_end` (the expiry of the API key it was exchanged for, read anew).
    pub(super) fn sign(
        &self,
        session: &Session,
        scopes: &Scopes,
        key_end: Option<u64>,
        now: u64,
    ) -> Result<AccessToken, GrantError> {
        let mut grant = AccessGrant::new(session.subject.clone(), scopes.clone())
            .with_tenants(session.tenants.clone())
            .with_session(session.id.clone())
            .with_claims(session.claims.clone())
            // An access token never outlives its session (nor, so, the key it was exchanged for).
            .with_not_after(Some(
                key_end.map_or(session.expires_at, |end| end.min(session.expires_at)),
            ));
        grant.client_id = session.client_id.clone();
        grant.api_key_id = session.api_key_id.clone();
        self.issuer.issue(&grant, now)
    }

    /// The answer of a grant that started or refreshed `session`.
    pub(super) fn respond(
        session: &Session,
        access: AccessToken,
        scopes: &Scopes,
        refresh_token: Option<String>,
    ) -> TokenResponse {
        TokenResponse {
            access_token: access.token,
            token_type: "Bearer",
            expires_in: access.expires_in,
            refresh_token,
            scope: scopes.to_string(),
            session_id: Some(session.id.to_string()),
            expires_at: access.expires_at,
            user: None,
            token_id: access.token_id,
        }
    }
}
