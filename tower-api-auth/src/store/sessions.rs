//! Where sessions and their refresh tokens live: the [`RefreshStore`] trait and what it stores,
//! down to the stored forms of the tokens ([`RefreshTokenHash`], [`SealedToken`]); the issuer
//! makes and checks them (`issuer`), stores keep their bytes.

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::scope::Scopes;
use crate::store::StoreError;
use crate::tenant::Tenant;

/// A login: what its tokens grant and how long it may last. Every refresh token of one login
/// names its session; ending the session ends them all.
///
/// Stores outside the crate rebuild it from their rows with [`Session::new`] and the `with_*`
/// methods, or keep it whole with serde.
///
/// ```
/// use tower_api_auth::{store::Session, scope::Scopes, Tenant};
///
/// let session = Session::new("ses_1", "user_1", Scopes::parse("read").unwrap(), 1_800_000_000, 1_802_592_000)
///     .with_tenants([Tenant::new("tn_a").unwrap()])
///     .with_idle_timeout(Some(3_600));
/// assert!(session.alive(1_800_003_599, 1_800_000_000));
/// assert!(!session.alive(1_800_003_600, 1_800_000_000), "an hour idle");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Session {
    /// The session id, the `sid` of its access tokens.
    pub id: Arc<str>,
    /// The `sub`.
    pub subject: Arc<str>,
    /// The scopes the login granted (refreshes may narrow them per token, never widen).
    pub scopes: Scopes,
    /// The tenants.
    #[serde(default)]
    pub tenants: Vec<Tenant>,
    /// The OAuth client that started the session, if any (`client_id` of its tokens).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<Arc<str>>,
    /// The API key the session was exchanged for (`api_key_id` of its tokens): refreshing
    /// re-checks it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_id: Option<Arc<str>>,
    /// The client-chosen session name (scoped to the subject): a new login in the same slot ends
    /// the previous session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slot: Option<Arc<str>>,
    /// When the session started (unix seconds).
    pub created_at: u64,
    /// The absolute end: rotation never extends it.
    pub expires_at: u64,
    /// Seconds without a refresh after which the session ends, if set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_timeout: Option<u64>,
    /// The app's claims, carried into every access token of the session.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub claims: Map<String, Value>,
}

impl Session {
    /// A session `id` of `subject` with `scopes`, from `created_at` to `expires_at` (unix
    /// seconds), with no tenant, client, API key, slot, idle timeout or claims.
    pub fn new(
        id: impl Into<Arc<str>>,
        subject: impl Into<Arc<str>>,
        scopes: Scopes,
        created_at: u64,
        expires_at: u64,
    ) -> Self {
        Self {
            id: id.into(),
            subject: subject.into(),
            scopes,
            tenants: Vec::new(),
            client_id: None,
            api_key_id: None,
            slot: None,
            created_at,
            expires_at,
            idle_timeout: None,
            claims: Map::new(),
        }
    }

    /// Sets the tenants.
    #[must_use]
    pub fn with_tenants(mut self, tenants: impl IntoIterator<Item = Tenant>) -> Self {
        self.tenants = tenants.into_iter().collect();
        self
    }

    /// Sets the OAuth client.
    #[must_use]
    pub fn with_client(mut self, client_id: Option<Arc<str>>) -> Self {
        self.client_id = client_id;
        self
    }

    /// Sets the API key the session was exchanged for.
    #[must_use]
    pub fn with_api_key(mut self, api_key_id: Option<Arc<str>>) -> Self {
        self.api_key_id = api_key_id;
        self
    }

    /// Sets the slot.
    #[must_use]
    pub fn with_slot(mut self, slot: Option<Arc<str>>) -> Self {
        self.slot = slot;
        self
    }

    /// Sets the idle timeout in seconds.
    #[must_use]
    pub fn with_idle_timeout(mut self, idle_timeout: Option<u64>) -> Self {
        self.idle_timeout = idle_timeout;
        self
    }

    /// Sets the claims of its access tokens.
    #[must_use]
    pub fn with_claims(mut self, claims: Map<String, Value>) -> Self {
        self.claims = claims;
        self
    }

    /// Whether the session is still alive at `now` when it was last refreshed (or started) at
    /// `last_used`: before its absolute end and, with an idle timeout, less than that long unused.
    pub fn alive(&self, now: u64, last_used: u64) -> bool {
        now < self.expires_at
            && self
                .idle_timeout
                .is_none_or(|idle| now < last_used.saturating_add(idle))
    }
}

/// The retry grace of a session's last rotation: its successor token, [sealed](SealedToken)
/// under the token it replaced, until `until`. See
/// [`TokenService::reuse_interval`](crate::issuer::TokenService::reuse_interval).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Grace {
    /// The successor, sealed.
    pub sealed: SealedToken,
    /// Until when (unix seconds, exclusive) the replaced token may be presented again.
    pub until: u64,
}

impl Grace {
    /// A grace read back from a store.
    pub fn new(sealed: SealedToken, until: u64) -> Self {
        Self { sealed, until }
    }
}

/// A session as its store keeps it — one row, whose size does not grow with refreshes: the session,
/// its refresh-token generation, the hash of its one valid refresh token, when it was last
/// refreshed, and the retry grace of its last rotation.
///
/// ```
/// use tower_api_auth::{store::RefreshTokenHash, store::Session, store::StoredSession, scope::Scopes};
///
/// let session = Session::new("ses_1", "user_1", Scopes::empty(), 1_000, 2_000);
/// let stored = StoredSession::new(session, RefreshTokenHash::from_bytes([7; 32]))
///     .with_generation(3)
///     .with_last_used(1_500);
/// assert!(stored.alive(1_999));
/// assert!(!stored.alive(2_000));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoredSession {
    /// The session.
    pub session: Session,
    /// How many times its refresh token was rotated.
    pub generation: u64,
    /// The hash of its current refresh token: every other token of the session is spent.
    pub current: RefreshTokenHash,
    /// When it was last refreshed, or started (unix seconds), for the idle timeout.
    pub last_used: u64,
    /// The retry grace of the last rotation, if one was granted.
    pub grace: Option<Grace>,
}

impl StoredSession {
    /// A session at generation 0 whose first refresh token hashes to `current`, last used when it
    /// started, with no grace.
    pub fn new(session: Session, current: RefreshTokenHash) -> Self {
        Self {
            last_used: session.created_at,
            session,
            generation: 0,
            current,
            grace: None,
        }
    }

    /// Sets the generation.
    #[must_use]
    pub fn with_generation(mut self, generation: u64) -> Self {
        self.generation = generation;
        self
    }

    /// Sets when it was last used.
    #[must_use]
    pub fn with_last_used(mut self, last_used: u64) -> Self {
        self.last_used = last_used;
        self
    }

    /// Sets the retry grace.
    #[must_use]
    pub fn with_grace(mut self, grace: Option<Grace>) -> Self {
        self.grace = grace;
        self
    }

    /// Whether the session is alive at `now` (see [`Session::alive`]).
    pub fn alive(&self, now: u64) -> bool {
        self.session.alive(now, self.last_used)
    }

    /// Applies a rotation (for stores that hold rows in memory).
    pub fn apply(&mut self, rotation: &Rotation) {
        self.generation = rotation.from_generation.saturating_add(1);
        self.current = rotation.next;
        self.last_used = rotation.at;
        self.grace = rotation.grace;
    }

    /// Whether `rotation` may be applied: the session still has the generation and current hash
    /// the rotation was decided on.
    pub fn admits(&self, rotation: &Rotation) -> bool {
        self.generation == rotation.from_generation && self.current == rotation.presented
    }
}

/// What a refresh writes, if nothing changed since the session was read: the compare-and-swap of
/// [`RefreshStore::rotate`].
///
/// ```
/// use tower_api_auth::store::{RefreshTokenHash, Rotation, Session, StoredSession};
/// use tower_api_auth::scope::Scopes;
///
/// let (first, second) = (RefreshTokenHash::from_bytes([1; 32]), RefreshTokenHash::from_bytes([2; 32]));
/// let mut row = StoredSession::new(Session::new("ses_1", "user_1", Scopes::empty(), 1_000, 2_000), first);
/// let rotation = Rotation::new(0, first, second, 1_010);
/// assert!(row.admits(&rotation));
/// row.apply(&rotation);
/// assert_eq!((row.generation, row.current, row.last_used), (1, second, 1_010));
/// assert!(!row.admits(&rotation), "a second swap from the same state fails");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Rotation {
    /// The generation the session must still have.
    pub from_generation: u64,
    /// The current hash the session must still have (the presented token's).
    pub presented: RefreshTokenHash,
    /// The new current hash, of generation `from_generation + 1`.
    pub next: RefreshTokenHash,
    /// The time of the refresh: the new `last_used`.
    pub at: u64,
    /// The new retry grace (`None` removes the previous one).
    pub grace: Option<Grace>,
}

impl Rotation {
    /// A rotation from `presented` (of generation `from_generation`) to `next`, at `at`, with no
    /// grace: what the service writes, and what a store's own tests may build.
    pub fn new(
        from_generation: u64,
        presented: RefreshTokenHash,
        next: RefreshTokenHash,
        at: u64,
    ) -> Self {
        Self {
            from_generation,
            presented,
            next,
            at,
            grace: None,
        }
    }

    /// Sets the retry grace.
    #[must_use]
    pub fn with_grace(mut self, grace: Option<Grace>) -> Self {
        self.grace = grace;
        self
    }
}

/// Where sessions live: one record ([`StoredSession`]) per session, whose size does not grow with
/// refreshes. The token service decides everything (reuse, expiry, the retry grace); a store only
/// keeps records and swaps a session's current hash atomically.
///
/// Implement it with `async fn`. [`rotate`](Self::rotate) must be a compare-and-swap: of many
/// concurrent calls for one session and generation, exactly one may succeed (SQL: `UPDATE sessions
/// SET generation = $next_gen, current_hash = $next, last_used = $at, grace = $grace WHERE id = $id
/// AND generation = $gen AND current_hash = $presented`; Redis: a Lua script comparing both).
/// Every error is answered with 503 `auth_unavailable` and changes nothing: clients retry.
///
/// ```
/// use std::collections::HashMap;
/// use std::sync::Mutex;
/// use tower_api_auth::store::{RefreshStore, RefreshTokenHash, Rotation, Session, StoredSession};
/// use tower_api_auth::store::StoreError;
///
/// /// A store in the app's own database; a map here.
/// #[derive(Default)]
/// struct MyStore(Mutex<HashMap<String, StoredSession>>);
///
/// impl RefreshStore for MyStore {
///     async fn start(&self, session: Session, first: RefreshTokenHash, max_per_subject: usize) -> Result<Vec<Session>, StoreError> {
///         let mut rows = self.0.lock().unwrap();
///         let now = session.created_at;
///         let mut ended = Vec::new();
///         // The previous session of the slot ends.
///         if let Some(slot) = &session.slot {
///             let old = rows.values().find(|s| s.session.slot.as_ref() == Some(slot)).map(|s| s.session.clone());
///             if let Some(old) = old { rows.remove(&*old.id); ended.push(old); }
///         }
///         // So do the subject's oldest live sessions beyond the bound (the new one counts).
///         let mut live: Vec<_> = rows.values()
///             .filter(|s| s.session.subject == session.subject && s.alive(now))
///             .map(|s| s.session.clone())
///             .collect();
///         live.sort_by_key(|s| std::cmp::Reverse(s.created_at));
///         for old in live.into_iter().skip(max_per_subject.max(1) - 1) {
///             rows.remove(&*old.id);
///             ended.push(old);
///         }
///         rows.insert(session.id.to_string(), StoredSession::new(session, first));
///         Ok(ended)
///     }
///
///     async fn load(&self, session_id: &str) -> Result<Option<StoredSession>, StoreError> {
///         Ok(self.0.lock().unwrap().get(session_id).cloned())
///     }
///
///     async fn rotate(&self, session_id: &str, rotation: Rotation) -> Result<bool, StoreError> {
///         let mut rows = self.0.lock().unwrap();
///         match rows.get_mut(session_id) {
///             Some(row) if row.admits(&rotation) => { row.apply(&rotation); Ok(true) }
///             _ => Ok(false),
///         }
///     }
///
///     async fn end(&self, session_id: &str) -> Result<Option<Session>, StoreError> {
///         Ok(self.0.lock().unwrap().remove(session_id).map(|row| row.session))
///     }
/// }
/// # let _ = tower_api_auth::issuer::MemoryRefreshStore::new();
/// ```
pub trait RefreshStore: Send + Sync + 'static {
    /// Saves a new session whose first refresh token (generation 0) hashes to `first`, and
    /// returns every session it ended to make room, which the service then ends as a logout does
    /// (their access tokens are revoked):
    ///
    /// - a session in the same [`slot`](Session::slot) is ended (removed);
    /// - the subject keeps at most `max_per_subject` live sessions (at least 1), the new one
    ///   included: the oldest (by [`created_at`](Session::created_at); among sessions started in
    ///   the same second, any) end first, as big identity providers revoke a user's oldest
    ///   refresh tokens. Sessions over at the new session's `created_at`
    ///   ([`StoredSession::alive`] is false) do not count, may be removed, and are not returned.
    ///
    /// The insert and the evictions are one atomic step for the subject (one transaction, one
    /// script), so that concurrent logins of one subject never leave more than the bound, and
    /// the work is bounded by `max_per_subject`, not by how many logins came before.
    fn start(
        &self,
        session: Session,
        first: RefreshTokenHash,
        max_per_subject: usize,
    ) -> impl Future<Output = Result<Vec<Session>, StoreError>> + Send;

    /// The record of `session_id`, if it is stored. Ended sessions are not; sessions past their
    /// end may be until [purged](Self::purge) (the service checks [`StoredSession::alive`]).
    fn load(
        &self,
        session_id: &str,
    ) -> impl Future<Output = Result<Option<StoredSession>, StoreError>> + Send;

    /// Applies `rotation` if the session is still stored with the generation and current hash
    /// it names ([`StoredSession::admits`]), atomically; returns whether it did.
    fn rotate(
        &self,
        session_id: &str,
        rotation: Rotation,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Ends a session: removes it, and returns it if it was stored.
    fn end(
        &self,
        session_id: &str,
    ) -> impl Future<Output = Result<Option<Session>, StoreError>> + Send;

    /// Removes the sessions that are over at `now` ([`StoredSession::alive`] is false) and the
    /// retry graces past their time; returns how many sessions were removed. The service calls it
    /// at most once a minute. The default does nothing, for stores whose records expire by
    /// themselves (e.g. Redis keys with a TTL at the session's end).
    fn purge(&self, now: u64) -> impl Future<Output = Result<usize, StoreError>> + Send {
        let _ = now;
        std::future::ready(Ok(0))
    }
}

impl<S: RefreshStore> RefreshStore for Arc<S> {
    fn start(
        &self,
        session: Session,
        first: RefreshTokenHash,
        max_per_subject: usize,
    ) -> impl Future<Output = Result<Vec<Session>, StoreError>> + Send {
        (**self).start(session, first, max_per_subject)
    }

    fn load(
        &self,
        session_id: &str,
    ) -> impl Future<Output = Result<Option<StoredSession>, StoreError>> + Send {
        (**self).load(session_id)
    }

    fn rotate(
        &self,
        session_id: &str,
        rotation: Rotation,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send {
        (**self).rotate(session_id, rotation)
    }

    fn end(
        &self,
        session_id: &str,
    ) -> impl Future<Output = Result<Option<Session>, StoreError>> + Send {
        (**self).end(session_id)
    }

    fn purge(&self, now: u64) -> impl Future<Output = Result<usize, StoreError>> + Send {
        (**self).purge(now)
    }
}

/// The stored form of a refresh token: a BLAKE3 hash (the token has 256 bits of secret).
///
/// Equality need not be constant time: comparing digests of 256-bit random tokens reveals
/// nothing an attacker can use. `Debug` never shows the bytes.
///
/// ```
/// use tower_api_auth::store::RefreshTokenHash;
///
/// assert!(RefreshTokenHash::of("not-a-refresh-token").is_none());
/// let stored = RefreshTokenHash::from_bytes([7; 32]); // read back from a store's column
/// assert_eq!(stored.as_bytes(), &[7; 32]);
/// assert_eq!(format!("{stored:?}"), "RefreshTokenHash(<redacted>)");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct RefreshTokenHash([u8; 32]);

impl fmt::Debug for RefreshTokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RefreshTokenHash(<redacted>)")
    }
}

impl RefreshTokenHash {
    /// A hash read back from a store (the bytes [`as_bytes`](Self::as_bytes) gave).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The bytes, for a store's column.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

/// A rotation's successor token, sealed under the token it replaced: only a client holding that
/// token can open it, so the store never holds a usable refresh token. Kept only for the service's
/// [reuse interval](crate::issuer::TokenService::reuse_interval). `Debug` never shows the bytes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SealedToken([u8; SealedToken::LEN]);

impl fmt::Debug for SealedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SealedToken(<redacted>)")
    }
}

impl SealedToken {
    /// The length of [`as_bytes`](Self::as_bytes).
    pub const LEN: usize = 43;

    /// A sealed token read back from a store; `None` unless `bytes` is [`LEN`](Self::LEN) long.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        Some(Self(bytes.try_into().ok()?))
    }

    /// The bytes, for a store's column.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}
