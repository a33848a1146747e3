//! The verified-token cache: a token that passed every check is remembered, keyed by its exact
//! bytes, so that the next request with it skips signature and claim work.
//!
//! What a hit never skips: the `exp`/`nbf` clock check (re-done against the cached times), the key
//! that verified the entry (still trusted, under the same key-set generation: replacing the keys
//! drops every entry, a refresh of a remote key set those of the keys it removed), whether the
//! issuer's keys may be used at all (a remote key set too stale answers 503), and everything the
//! authenticator does after validation — revocation by `sid`/`jti`, tenant and scope rules.
//! Only tokens that passed are inserted, so a flood of invalid tokens cannot displace good entries;
//! once the cache is full, a flood of distinct valid ones meets quick_cache's S3-FIFO policy, which
//! lets new entries through a small probationary queue and keeps frequently used ones. Memory stays
//! within the byte bound either way; expired entries leave when presented again or pushed out.

use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;

use quick_cache::sync::Cache;
use quick_cache::{Equivalent, Weighter};

use crate::jwt::VerifiedJwt;

/// Verified-token cache settings.
///
/// ```
/// use std::time::Duration;
/// use tower_api_auth::jwt::{JwtOptions, TokenCacheConfig};
///
/// let options = JwtOptions::new().token_cache(
///     TokenCacheConfig::default()
///         .max_bytes(4 * 1024 * 1024)
///         .max_age(Duration::from_secs(60)),
/// );
/// let off = JwtOptions::new().token_cache(TokenCacheConfig::disabled());
/// # let _ = (options, off);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct TokenCacheConfig {
    /// Whether validated tokens are cached. Default: on.
    pub enabled: bool,
    /// The memory the cache may use, in bytes (tokens plus entries, estimated). Default 16 MiB.
    pub max_bytes: u64,
    /// The longest an entry is trusted without a full re-verification, in whole seconds (below one
    /// second nothing is cached). Default 5 minutes.
    pub max_age: Duration,
}

impl Default for TokenCacheConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            max_bytes: 16 * 1024 * 1024,
            max_age: Duration::from_secs(300),
        }
    }
}

impl TokenCacheConfig {
    /// No caching: every request verifies its token in full.
    pub fn disabled() -> Self {
        Self::default().enabled(false)
    }

    /// Turns the cache on or off.
    #[must_use]
    pub fn enabled(mut self, enabled: bool) -> Self {
        self.enabled = enabled;
        self
    }

    /// Bounds the cache's memory, in bytes.
    #[must_use]
    pub fn max_bytes(mut self, max_bytes: u64) -> Self {
        self.max_bytes = max_bytes;
        self
    }

    /// The longest an entry is trusted without a full re-verification (whole seconds).
    #[must_use]
    pub fn max_age(mut self, max_age: Duration) -> Self {
        self.max_age = max_age;
        self
    }
}

/// A snapshot of the cache, for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct TokenCacheStats {
    /// Tokens held.
    pub entries: usize,
    /// Their estimated size in bytes.
    pub bytes: u64,
    /// The bound on `bytes`.
    pub max_bytes: u64,
}

#[derive(Clone)]
pub(crate) struct Entry {
    pub(crate) verified: Arc<VerifiedJwt>,
    /// The validator's issuer whose keys verified it.
    pub(crate) issuer: usize,
    /// The key-set generation the token was verified under.
    pub(crate) generation: u64,
    /// The stamp of the key ring it was verified under.
    pub(crate) stamp: u64,
    /// Until when the entry may answer: the earliest of `exp + leeway` and insertion + max age.
    pub(crate) valid_until: u64,
    /// `nbf - leeway`, rechecked in case the clock stepped back.
    pub(crate) valid_from: u64,
}

/// Bytes an entry costs beyond its token: the map slot, the `Arc<VerifiedJwt>` and its strings.
const ENTRY_OVERHEAD: u64 = 512;

/// How many of a token's last bytes its cache slot is chosen by: 16, which foldhash reads on
/// its short path (some 40 instructions less per lookup than 32 bytes), and which are still some
/// 90 bits of the issuer's signature, spelled in base64url.
const HASHED_TAIL: usize = 16;

/// A cached token's bytes. Equal only to the same bytes, but hashed by their last
/// [`HASHED_TAIL`] bytes alone: the tail of a JWS is its signature (or MAC), which is as good a
/// hash as the whole token, and hashing 16 bytes instead of all of them (some 200 for HS256, 500
/// for RS256) saves 200–450 instructions on every cached request. Only tokens that verified are
/// ever inserted, and their signatures are the issuer's, so no client can choose tails that
/// crowd one slot; the hasher is still randomly seeded.
struct TokenKey(Box<[u8]>);

/// A token being looked up, hashed as its [`TokenKey`] would be.
struct TokenRef<'a>(&'a [u8]);

fn tail(token: &[u8]) -> &[u8] {
    &token[token.len().saturating_sub(HASHED_TAIL)..]
}

impl Hash for TokenKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        TokenRef(&self.0).hash(state);
    }
}

impl PartialEq for TokenKey {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}

impl Eq for TokenKey {}

impl Hash for TokenRef<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write(tail(self.0));
    }
}

impl Equivalent<TokenKey> for TokenRef<'_> {
    fn equivalent(&self, key: &TokenKey) -> bool {
        *self.0 == *key.0
    }
}

#[derive(Clone)]
struct ByTokenLength;

impl Weighter<TokenKey, Entry> for ByTokenLength {
    fn weight(&self, token: &TokenKey, entry: &Entry) -> u64 {
        // The payload the identity keeps for typed claims is about 3/4 of the token again.
        (token.0.len() + entry.verified.payload_len()) as u64 + ENTRY_OVERHEAD
    }
}

pub(crate) struct TokenCache {
    /// Keyed by bytes: a lookup needs no UTF-8 or charset check of the token first.
    entries: Cache<TokenKey, Entry, ByTokenLength>,
    max_age: u64,
    max_bytes: u64,
}

impl TokenCache {
    pub(crate) fn new(config: TokenCacheConfig) -> Option<Arc<Self>> {
        if !config.enabled || config.max_bytes == 0 {
            return None;
        }
        let estimated_items = (config.max_bytes / (ENTRY_OVERHEAD + 512)).max(16) as usize;
        Some(Arc::new(Self {
            entries: Cache::with_weighter(estimated_items, config.max_bytes, ByTokenLength),
            max_age: config.max_age.as_secs(),
            max_bytes: config.max_bytes,
        }))
    }

    /// The entry of `token`, if it is cached, still fresh at `now`, and its key still `trusted`.
    pub(crate) fn get(
        &self,
        token: &[u8],
        now: u64,
        trusted: impl FnOnce(&Entry) -> bool,
    ) -> Option<Entry> {
        let entry = self.entries.get(&TokenRef(token))?;
        let trusted = trusted(&entry);
        if trusted && entry.valid_from <= now && now < entry.valid_until {
            return Some(entry);
        }
        // Stale for good (expired, or verified by a key no longer trusted): free the room.
        if !trusted || now >= entry.valid_until {
            self.entries.remove(&TokenRef(token));
        }
        None
    }

    /// Drops the entries verified by the keys built as `removed`.
    pub(crate) fn forget_keys(&self, removed: &[u64]) {
        self.entries
            .retain(|_, entry| !removed.contains(&entry.verified.key));
    }

    pub(crate) fn insert(&self, token: &[u8], entry: Entry, now: u64) {
        let entry = Entry {
            valid_until: entry.valid_until.min(now.saturating_add(self.max_age)),
            ..entry
        };
        if now < entry.valid_until {
            self.entries.insert(TokenKey(Box::from(token)), entry);
        }
    }

    pub(crate) fn clear(&self) {
        self.entries.clear();
    }

    pub(crate) fn stats(&self) -> TokenCacheStats {
        TokenCacheStats {
            entries: self.entries.len(),
            bytes: self.entries.weight(),
            max_bytes: self.max_bytes,
        }
    }
}
