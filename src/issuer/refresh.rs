//! Refresh tokens: opaque, single use, stored as hashes, grouped into sessions (families).

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};

use crate::random::random_base62;
use crate::scope::Scopes;
use crate::store::StoreError;
use crate::tenant::Tenant;

/// A store operation in progress.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

const CONTEXT: &str = "tower-api-auth 2026-11 refresh token hash v1";
const PREFIX: &str = "rt_";
const TOKEN_LEN: usize = 43; // base62: about 256 bits

/// The stored form of a refresh token: a BLAKE3 hash (the token itself has 256 bits of entropy).
///
/// Lookups go through a hash map, so equality need not be constant time: comparing digests of
/// 256-bit random tokens reveals nothing an attacker can use.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct RefreshTokenHash([u8; 32]);

impl fmt::Debug for RefreshTokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RefreshTokenHash(<redacted>)")
    }
}

impl RefreshTokenHash {
    /// Hashes a presented token; `None` when it is not shaped like one of ours (no store lookup).
    pub fn of(token: &str) -> Option<Self> {
        let body = token.strip_prefix(PREFIX)?;
        if body.len() != TOKEN_LEN || !body.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return None;
        }
        Some(Self(
            *blake3::Hasher::new_derive_key(CONTEXT)
                .update(token.as_bytes())
                .finalize()
                .as_bytes(),
        ))
    }

    /// The bytes, for a store's key column.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

/// A new refresh token: the plaintext for the client and the hash for the store.
pub(crate) fn new_refresh_token() -> (String, RefreshTokenHash) {
    let token = format!("{PREFIX}{}", random_base62(TOKEN_LEN));
    let hash = RefreshTokenHash::of(&token).expect("a generated token has the right shape");
    (token, hash)
}

/// A login: what its tokens grant and how long it may last. All refresh tokens of one login form
/// its family; ending the session revokes them all.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Session {
    /// The session id, the `sid` of its access tokens.
    pub id: Arc<str>,
    /// The `sub`.
    pub subject: Arc<str>,
    /// The scopes the login granted (refreshes may narrow them per token, never widen).
    pub scopes: Scopes,
    /// The tenants.
    pub tenants: Vec<Tenant>,
    /// The OAuth client, if any.
    pub client_id: Option<Arc<str>>,
    /// The API key the session was exchanged for: refreshing re-checks it.
    pub api_key_id: Option<Arc<str>>,
    /// The client-chosen session name (scoped to the subject): a new login in the same slot ends
    /// the previous session.
    pub slot: Option<Arc<str>>,
    /// When the session started (unix seconds).
    pub created_at: u64,
    /// The absolute end: rotation never extends it.
    pub expires_at: u64,
    /// Seconds without a refresh after which the session ends, if set.
    pub idle_timeout: Option<u64>,
}

/// The outcome of presenting a refresh token.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Rotation {
    /// The token was current: it is now spent and `next` is the session's current token.
    Rotated(Session),
    /// The token was already spent: the whole session was revoked (reuse detection).
    Reused(Session),
    /// The session ended: expired (absolute or idle) or revoked.
    Ended,
    /// No such token.
    Unknown,
}

/// Where refresh-token families live.
///
/// Implementations must make [`rotate`](Self::rotate) atomic: of many concurrent calls with the same
/// token exactly one may see [`Rotation::Rotated`] (SQL: a conditional `UPDATE … WHERE spent = false`;
/// Redis: a Lua script or `WATCH`/`MULTI`).
pub trait RefreshStore: Send + Sync + 'static {
    /// Starts `session` with its first token. A live session in the same [`slot`](Session::slot) is
    /// ended and returned.
    fn start(&self, session: Session, first: RefreshTokenHash) -> StoreFuture<'_, Option<Session>>;

    /// Spends `presented` and makes `next` current, if `presented` is the session's current,
    /// unspent token and the session is alive at `now`. A spent token revokes its session.
    fn rotate(
        &self,
        presented: RefreshTokenHash,
        next: RefreshTokenHash,
        now: u64,
    ) -> StoreFuture<'_, Rotation>;

    /// The live session `token` belongs to, spent or not.
    fn session_of(&self, token: RefreshTokenHash, now: u64) -> StoreFuture<'_, Option<Session>>;

    /// Ends a session and revokes its tokens; returns it if it was alive.
    fn end(&self, session_id: &str, now: u64) -> StoreFuture<'_, Option<Session>>;
}

impl fmt::Debug for dyn RefreshStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("dyn RefreshStore")
    }
}

struct Family {
    session: Session,
    current: RefreshTokenHash,
    last_used: u64,
    ended: bool,
}

impl Family {
    fn alive(&self, now: u64) -> bool {
        !self.ended
            && now < self.session.expires_at
            && self
                .session
                .idle_timeout
                .is_none_or(|idle| now < self.last_used.saturating_add(idle))
    }
}

#[derive(Default)]
struct Inner {
    /// Every token ever issued for a live family → its session id.
    tokens: HashMap<RefreshTokenHash, Arc<str>>,
    families: HashMap<Arc<str>, Family>,
    /// Slot → the session id that last started in it.
    slots: HashMap<Arc<str>, Arc<str>>,
    /// Purging walks every session under the lock, so it runs at most once a minute.
    next_purge: u64,
}

impl Inner {
    fn end(&mut self, session_id: &str) -> Option<Session> {
        let family = self.families.get_mut(session_id)?;
        let was_alive = !family.ended;
        family.ended = true;
        was_alive.then(|| family.session.clone())
    }

    /// Forgets families past their absolute end, and their tokens.
    fn purge(&mut self, now: u64) {
        self.families.retain(|_, f| now < f.session.expires_at);
        let families = &self.families;
        self.tokens.retain(|_, sid| families.contains_key(sid));
        self.slots.retain(|_, sid| families.contains_key(sid));
    }
}

/// The embedded refresh store: everything behind one mutex, so rotation is atomic.
///
/// Spent tokens are remembered until their session's absolute end so that reuse is detected for as
/// long as it matters; then the session and its tokens are forgotten.
#[derive(Default)]
pub struct MemoryRefreshStore {
    inner: Mutex<Inner>,
}

impl fmt::Debug for MemoryRefreshStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        f.debug_struct("MemoryRefreshStore")
            .field("sessions", &inner.families.len())
            .field("tokens", &inner.tokens.len())
            .finish()
    }
}

impl MemoryRefreshStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        f(&mut inner)
    }
}

impl RefreshStore for MemoryRefreshStore {
    fn start(&self, session: Session, first: RefreshTokenHash) -> StoreFuture<'_, Option<Session>> {
        let now = session.created_at;
        let replaced = self.with(|inner| {
            if now >= inner.next_purge {
                inner.purge(now);
                inner.next_purge = now.saturating_add(60);
            }
            let replaced = match &session.slot {
                Some(slot) => match inner.slots.insert(slot.clone(), session.id.clone()) {
                    Some(previous) => inner.end(&previous),
                    None => None,
                },
                None => None,
            };
            let id = session.id.clone();
            inner.tokens.insert(first, id.clone());
            inner.families.insert(
                id,
                Family {
                    session,
                    current: first,
                    last_used: now,
                    ended: false,
                },
            );
            replaced
        });
        Box::pin(std::future::ready(Ok(replaced)))
    }

    fn rotate(
        &self,
        presented: RefreshTokenHash,
        next: RefreshTokenHash,
        now: u64,
    ) -> StoreFuture<'_, Rotation> {
        let rotation = self.with(|inner| {
            let Some(sid) = inner.tokens.get(&presented).cloned() else {
                return Rotation::Unknown;
            };
            let Some(family) = inner.families.get_mut(&sid) else {
                return Rotation::Unknown;
            };
            if !family.alive(now) {
                family.ended = true;
                return Rotation::Ended;
            }
            if family.current != presented {
                // A spent token came back: whoever holds the family's tokens, it is compromised.
                family.ended = true;
                return Rotation::Reused(family.session.clone());
            }
            family.current = next;
            family.last_used = now;
            let session = family.session.clone();
            inner.tokens.insert(next, sid);
            Rotation::Rotated(session)
        });
        Box::pin(std::future::ready(Ok(rotation)))
    }

    fn session_of(&self, token: RefreshTokenHash, now: u64) -> StoreFuture<'_, Option<Session>> {
        let session = self.with(|inner| {
            let sid = inner.tokens.get(&token)?;
            let family = inner.families.get(sid)?;
            family.alive(now).then(|| family.session.clone())
        });
        Box::pin(std::future::ready(Ok(session)))
    }

    fn end(&self, session_id: &str, _now: u64) -> StoreFuture<'_, Option<Session>> {
        let session = self.with(|inner| inner.end(session_id));
        Box::pin(std::future::ready(Ok(session)))
    }
}
