//! [`JwtValidator`]: keys and options, built once, shared by every clone.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};

use arc_swap::ArcSwap;
use jsonwebtoken::Algorithm;
use serde::Deserialize;

use crate::error::{AuthError, AuthErrorKind};
use crate::identity::Identity;
use crate::jwt::cache::{Entry, TokenCache, TokenCacheConfig, TokenCacheStats};
use crate::jwt::checks::{Failure, Verifier};
use crate::jwt::claims::CowStr;
use crate::jwt::keys::{JwtKey, JwtKeySet, KeyError};
use crate::jwt::options::JwtOptions;
use crate::jwt::verified_token::Verified;
use crate::jwt::{b64, invalid};

/// Validates JWT access tokens: keys bound to algorithms, signature before claims, the checks of
/// its [`JwtOptions`], and a verified-token cache.
///
/// Built once from keys and options; a clone is a handle to the same validator: clones share the
/// keys (so a rotation through [`key_handle`](Self::key_handle) reaches the copy inside an auth
/// layer) and the token cache. Validators built separately share nothing.
///
/// ```
/// # #[cfg(any(feature = "aws-lc-rs", feature = "rust-crypto"))]
/// # fn main() -> Result<(), tower_api_auth::jwt::KeyError> {
/// use tower_api_auth::JwtValidator;
/// use tower_api_auth::jwt::JwtOptions;
///
/// let validator = JwtValidator::hs256(
///     b"a-secret-of-at-least-thirty-two-bytes!!",
///     JwtOptions::new().issuer("https://auth.example.test").audience("api"),
/// )?;
/// let error = validator.validate("not.a.jwt", 1_800_000_000).unwrap_err();
/// assert_eq!(error.code(), "invalid_token");
/// # Ok(()) }
/// # #[cfg(not(any(feature = "aws-lc-rs", feature = "rust-crypto")))]
/// # fn main() {}
/// ```
///
/// Tokens of several identity providers, each with its own keys and options, go through one
/// validator built with [`issuers`](Self::issuers): the token's `iss` picks the issuer before
/// anything is verified, and a token of an issuer not configured is refused without a key lookup.
#[derive(Clone)]
pub struct JwtValidator(Arc<Shared>);

struct Shared {
    /// One or more; with one, the token's `iss` is checked after the signature, as a claim.
    issuers: Box<[IssuerEntry]>,
    /// Several issuers: the token's `iss` picks one before verification.
    route: bool,
    cache: Option<Arc<TokenCache>>,
}

struct IssuerEntry {
    keys: KeyHandle,
    verifier: Verifier,
    source: Option<Arc<dyn KeySource>>,
}

impl fmt::Debug for JwtValidator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let [only] = &*self.0.issuers {
            return f
                .debug_struct("JwtValidator")
                .field("keys", &only.keys.keys())
                .field("options", only.verifier.options())
                .field("source", &only.source)
                .finish();
        }
        let mut list = f.debug_list();
        for issuer in &self.0.issuers {
            list.entry(&(
                issuer.verifier.options(),
                issuer.keys.keys(),
                &issuer.source,
            ));
        }
        list.finish()
    }
}

/// The trusted keys and their generation, bumped on every replacement.
pub(crate) struct KeyRing {
    pub(crate) set: JwtKeySet,
    pub(crate) generation: u64,
    /// This ring's number, one more than the ring it followed: no two rings of a handle share
    /// one (see [`HandleInner::stamp`]).
    pub(crate) stamp: u64,
}

/// What [`HandleInner::stamp`] holds while a ring is being replaced: no ring's stamp.
const REPLACING: u64 = u64::MAX;

/// Replaces a validator's keys at run time — key rotation, a refreshed JWK set — for every clone
/// of the validator, including the one inside an auth layer. Cheap to clone.
///
/// [`replace`](Self::replace) drops every token the validators of this handle cached, so a token
/// of a removed key is refused from the next request on; [`update`](Self::update), meant for key
/// sets refreshed from their source, drops only the tokens of the keys it removes.
///
/// ```
/// # #[cfg(any(feature = "aws-lc-rs", feature = "rust-crypto"))]
/// # fn main() -> Result<(), tower_api_auth::jwt::KeyError> {
/// use tower_api_auth::{Algorithm, JwtValidator};
/// use tower_api_auth::jwt::{JwtKey, JwtKeySet, JwtOptions};
///
/// let old = JwtKey::hmac(Algorithm::HS256, b"the-old-secret-of-thirty-two-bytes!!")?.with_kid("old");
/// let validator = JwtValidator::new(old.clone(), JwtOptions::new());
/// let rotation = validator.key_handle();
///
/// let new = JwtKey::hmac(Algorithm::HS256, b"the-new-secret-of-thirty-two-bytes!!")?.with_kid("new");
/// let mut both = JwtKeySet::from(old);
/// both.insert(new)?;
/// rotation.replace(both);
/// assert_eq!(validator.key_handle().keys().len(), 2);
/// # Ok(()) }
/// # #[cfg(not(any(feature = "aws-lc-rs", feature = "rust-crypto")))]
/// # fn main() {}
/// ```
#[derive(Clone)]
pub struct KeyHandle(Arc<HandleInner>);

struct HandleInner {
    ring: ArcSwap<KeyRing>,
    /// The stamp of the ring in `ring` ([`REPLACING`] while a new one goes in). A cache hit whose
    /// token was verified under the ring of this stamp is trusted on one atomic load, without
    /// loading the ring (an `ArcSwap` load, some 80 instructions of the ~3,300 a cached request
    /// costs over the bare router): that ring is still the one in use, so its keys are. Entries
    /// of an earlier ring are checked against the current one as before.
    stamp: AtomicU64,
    /// Held while a new ring is made and published: rings follow one another, so that a stamp
    /// is never reused and `stamp` is never left naming a ring that is gone.
    replacing: Mutex<()>,
    /// The token caches of the validators using these keys.
    caches: Mutex<Vec<Weak<TokenCache>>>,
}

impl fmt::Debug for KeyHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyHandle")
            .field("keys", &self.0.ring.load().set)
            .finish()
    }
}

impl KeyHandle {
    /// A handle trusting `keys`, for a [`KeySource`] to publish its keys through (validators
    /// built from it use them).
    pub fn new(keys: impl Into<JwtKeySet>) -> Self {
        Self(Arc::new(HandleInner {
            ring: ArcSwap::from_pointee(KeyRing {
                set: keys.into(),
                generation: 0,
                stamp: 0,
            }),
            stamp: AtomicU64::new(0),
            replacing: Mutex::new(()),
            caches: Mutex::new(Vec::new()),
        }))
    }

    /// Trusts `keys` instead of the current set, from the next request on; every token cached
    /// under the current set is verified again.
    pub fn replace(&self, keys: JwtKeySet) {
        self.publish(|ring| KeyRing {
            set: keys,
            generation: ring.generation + 1,
            stamp: 0,
        });
        for cache in self.caches() {
            cache.clear();
        }
    }

    /// Trusts `keys` instead of the current set, keeping the cached tokens of the keys that stay
    /// (same `kid`, algorithm and material) and dropping those of the keys that go. Returns
    /// whether the set changed; an unchanged set is left as it is.
    pub fn update(&self, keys: JwtKeySet) -> bool {
        if self.0.ring.load().set.same_keys(&keys) {
            return false;
        }
        let mut removed = Vec::new();
        self.publish(|ring| {
            let next = keys.carry_over(&ring.set);
            removed = ring.set.ids().filter(|id| !next.contains_id(*id)).collect();
            KeyRing {
                set: next,
                generation: ring.generation,
                stamp: 0,
            }
        });
        if !removed.is_empty() {
            for cache in self.caches() {
                cache.forget_keys(&removed);
            }
        }
        true
    }

    /// Puts the ring `next` makes of the current one in its place, stamped as its successor.
    /// Replacements wait for one another (they are rare: a rotation, a refreshed key set), so
    /// that two of them never make rings of the same generation or stamp.
    fn publish(&self, next: impl FnOnce(&KeyRing) -> KeyRing) {
        let _replacing = (self.0.replacing.lock()).unwrap_or_else(PoisonError::into_inner);
        let current = self.0.ring.load_full();
        let ring = KeyRing {
            stamp: current.stamp + 1,
            ..next(&current)
        };
        let stamp = ring.stamp;
        // No entry matches REPLACING: while the ring changes, hits check the ring itself.
        self.0.stamp.store(REPLACING, Ordering::SeqCst);
        self.0.ring.store(Arc::new(ring));
        self.0.stamp.store(stamp, Ordering::SeqCst);
    }

    /// Whether a token verified under the ring stamped `stamp` is verified under the current
    /// ring (see [`HandleInner::stamp`]).
    fn is_current(&self, stamp: u64) -> bool {
        self.0.stamp.load(Ordering::Acquire) == stamp
    }

    /// The keys trusted now.
    pub fn keys(&self) -> JwtKeySet {
        self.0.ring.load().set.clone()
    }

    fn register(&self, cache: &Arc<TokenCache>) {
        let mut caches = self.0.caches.lock().unwrap_or_else(PoisonError::into_inner);
        caches.retain(|cache| cache.strong_count() > 0);
        caches.push(Arc::downgrade(cache));
    }

    fn caches(&self) -> Vec<Arc<TokenCache>> {
        let caches = self.0.caches.lock().unwrap_or_else(PoisonError::into_inner);
        caches.iter().filter_map(Weak::upgrade).collect()
    }
}

/// A wait for a key set being fetched again, bounded by the [`KeySource`] that returns it.
pub type KeyWait = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// Keys that change at run time and come from somewhere: a JWK set URL, a discovery document.
///
/// The source publishes its keys through its [`KeyHandle`]; the validator reads them from there
/// without waiting, and asks the source two things: whether its keys may be used now (a source
/// that has never loaded, or whose last good keys are too old, answers no: 503
/// `auth_unavailable`), and what to do about a token that names a key id the set lacks. The
/// `remote` feature's `RemoteJwks` is one.
pub trait KeySource: Send + Sync + fmt::Debug + 'static {
    /// The handle the source publishes its keys through.
    fn key_handle(&self) -> KeyHandle;

    /// Whether the keys may be used at `now` (unix seconds).
    fn available(&self, now: u64) -> bool;

    /// A token of this source's issuer names a key id the set lacks. `Some(wait)` when a newer
    /// set is being fetched: the request waits for it (the source bounds the wait) and looks
    /// once more. `None`: the token is refused now.
    fn key_missing(&self, now: u64) -> Option<KeyWait>;
}

impl<S: KeySource + ?Sized> KeySource for Arc<S> {
    fn key_handle(&self) -> KeyHandle {
        (**self).key_handle()
    }

    fn available(&self, now: u64) -> bool {
        (**self).available(now)
    }

    fn key_missing(&self, now: u64) -> Option<KeyWait> {
        (**self).key_missing(now)
    }
}

/// One trusted token issuer of a validator built with [`JwtValidator::issuers`]: its `iss`, its
/// keys (fixed, or from a [`KeySource`]) and its options (audiences, leeway, `typ`, claim mapping).
///
/// ```
/// # #[cfg(any(feature = "aws-lc-rs", feature = "rust-crypto"))]
/// # fn main() -> Result<(), tower_api_auth::jwt::KeyError> {
/// use tower_api_auth::{Algorithm, JwtValidator};
/// use tower_api_auth::jwt::{Issuer, JwtKey, JwtOptions, TokenCacheConfig};
///
/// let validator = JwtValidator::issuers(
///     [
///         Issuer::new(
///             "https://a.example.test",
///             JwtKey::hmac(Algorithm::HS256, b"issuer-a-secret-of-thirty-two-bytes!")?,
///             JwtOptions::new().audience("api"),
///         ),
///         Issuer::new(
///             "https://b.example.test",
///             JwtKey::hmac(Algorithm::HS256, b"issuer-b-secret-of-thirty-two-bytes!")?,
///             JwtOptions::new().audience("api").scope_claim("realm_access.roles"),
///         ),
///     ],
///     TokenCacheConfig::default(),
/// )?;
/// assert_eq!(validator.issuer_names().count(), 2);
/// # Ok(()) }
/// # #[cfg(not(any(feature = "aws-lc-rs", feature = "rust-crypto")))]
/// # fn main() {}
/// ```
#[derive(Debug, Clone)]
pub struct Issuer {
    options: JwtOptions,
    keys: KeyHandle,
    source: Option<Arc<dyn KeySource>>,
}

impl Issuer {
    /// Tokens whose `iss` is `issuer`, verified with `keys`, checked as `options` says (its own
    /// `issuers` list is replaced by `issuer`).
    pub fn new(issuer: impl Into<String>, keys: impl Into<JwtKeySet>, options: JwtOptions) -> Self {
        Self {
            options: Self::named(issuer.into(), options),
            keys: KeyHandle::new(keys),
            source: None,
        }
    }

    /// Tokens whose `iss` is `issuer`, verified with the keys of `source`.
    pub fn with_source(
        issuer: impl Into<String>,
        source: impl KeySource,
        options: JwtOptions,
    ) -> Self {
        Self {
            options: Self::named(issuer.into(), options),
            keys: source.key_handle(),
            source: Some(Arc::new(source)),
        }
    }

    fn named(issuer: String, mut options: JwtOptions) -> JwtOptions {
        options.issuers = vec![issuer];
        options
    }

    /// The issuer's `iss`.
    pub fn name(&self) -> &str {
        &self.options.issuers[0]
    }
}

/// The claim a validator of several issuers routes by, read before verification and trusted for
/// nothing else.
#[derive(Deserialize)]
struct IssOnly<'a> {
    #[serde(borrow, default)]
    iss: Option<CowStr<'a>>,
}

/// The answer of [`JwtValidator::check`]: known now, or after the key set is fetched again.
pub(crate) enum Check {
    Done(Result<Verified, AuthError>),
    Wait(KeyWait),
}

fn unavailable() -> AuthError {
    AuthError::new(AuthErrorKind::AuthUnavailable)
        .with_message("The token's signing keys are not available")
}

impl JwtValidator {
    /// A validator trusting `keys`, checking what `options` asks. The keys are prepared and the
    /// token cache created here, once.
    pub fn new(keys: impl Into<JwtKeySet>, options: JwtOptions) -> Self {
        let cache = TokenCache::new(options.token_cache);
        let issuer = Issuer {
            options,
            keys: KeyHandle::new(keys),
            source: None,
        };
        Self::build(vec![issuer], cache, false)
    }

    /// A validator trusting the keys of `source` (a remote JWK set), checking what `options`
    /// asks. Until the source has loaded, and once its keys are older than it allows, tokens are
    /// answered 503 `auth_unavailable`.
    pub fn from_source(source: impl KeySource, options: JwtOptions) -> Self {
        let cache = TokenCache::new(options.token_cache);
        let issuer = Issuer {
            options,
            keys: source.key_handle(),
            source: Some(Arc::new(source)),
        };
        Self::build(vec![issuer], cache, false)
    }

    /// A validator of several issuers: the token's `iss` (read before verification, and used only
    /// to pick the issuer) chooses whose keys and options check it. A token whose `iss` names
    /// none of them is `invalid_token`, with no key looked up. `cache` is the token cache they
    /// share; each issuer's own `token_cache` option is ignored.
    ///
    /// Fails for an empty list and for two issuers of the same name.
    pub fn issuers(
        issuers: impl IntoIterator<Item = Issuer>,
        cache: TokenCacheConfig,
    ) -> Result<Self, KeyError> {
        let issuers: Vec<Issuer> = issuers.into_iter().collect();
        if issuers.is_empty() {
            return Err(KeyError::new("a validator needs at least one issuer"));
        }
        for (i, issuer) in issuers.iter().enumerate() {
            if issuers[..i]
                .iter()
                .any(|other| other.name() == issuer.name())
            {
                return Err(KeyError::new(format!(
                    "the issuer {:?} is configured twice",
                    issuer.name()
                )));
            }
        }
        let route = issuers.len() > 1;
        Ok(Self::build(issuers, TokenCache::new(cache), route))
    }

    fn build(issuers: Vec<Issuer>, cache: Option<Arc<TokenCache>>, route: bool) -> Self {
        let issuers = issuers
            .into_iter()
            .map(|issuer| {
                if let Some(cache) = &cache {
                    issuer.keys.register(cache);
                }
                IssuerEntry {
                    keys: issuer.keys,
                    verifier: Verifier::new(issuer.options),
                    source: issuer.source,
                }
            })
            .collect();
        Self(Arc::new(Shared {
            issuers,
            route,
            cache,
        }))
    }

    /// HS256 with `secret` (at least 32 bytes).
    pub fn hs256(secret: impl AsRef<[u8]>, options: JwtOptions) -> Result<Self, KeyError> {
        Self::hmac(Algorithm::HS256, secret.as_ref(), options)
    }

    /// HS384 with `secret` (at least 48 bytes).
    pub fn hs384(secret: impl AsRef<[u8]>, options: JwtOptions) -> Result<Self, KeyError> {
        Self::hmac(Algorithm::HS384, secret.as_ref(), options)
    }

    /// HS512 with `secret` (at least 64 bytes).
    pub fn hs512(secret: impl AsRef<[u8]>, options: JwtOptions) -> Result<Self, KeyError> {
        Self::hmac(Algorithm::HS512, secret.as_ref(), options)
    }

    fn hmac(algorithm: Algorithm, secret: &[u8], options: JwtOptions) -> Result<Self, KeyError> {
        Ok(Self::new(JwtKey::hmac(algorithm, secret)?, options))
    }

    /// A public key in PEM, bound to `algorithm`: RSA for `RS*`/`PS*`, P-256/P-384 for
    /// `ES256`/`ES384`, Ed25519 for `EdDSA`.
    pub fn public_pem(
        algorithm: Algorithm,
        pem: impl AsRef<[u8]>,
        options: JwtOptions,
    ) -> Result<Self, KeyError> {
        Ok(Self::new(
            JwtKey::from_pem(algorithm, pem.as_ref())?,
            options,
        ))
    }

    /// The keys of a JWK set document.
    pub fn jwks(json: &str, options: JwtOptions) -> Result<Self, KeyError> {
        Ok(Self::new(JwtKeySet::from_jwks(json)?, options))
    }

    /// What this validator checks (for several issuers: what the first one's tokens are checked
    /// against).
    pub fn options(&self) -> &JwtOptions {
        self.0.issuers[0].verifier.options()
    }

    /// The handle that rotates this validator's keys (for every clone of it); for several
    /// issuers, the first one's.
    pub fn key_handle(&self) -> KeyHandle {
        self.0.issuers[0].keys.clone()
    }

    /// The `iss` of each issuer, for a validator built with [`issuers`](Self::issuers) (for
    /// others, the accepted issuers of the options).
    pub fn issuer_names(&self) -> impl Iterator<Item = &str> {
        self.0
            .issuers
            .iter()
            .flat_map(|issuer| issuer.verifier.options().issuers.iter().map(String::as_str))
    }

    /// The verified-token cache's size, if the cache is on.
    pub fn cache_stats(&self) -> Option<TokenCacheStats> {
        self.0.cache.as_ref().map(|cache| cache.stats())
    }

    /// Validates `token` at `now` (unix seconds), as the auth layer does before its revocation,
    /// tenant and scope rules. The identity carries no tenant: choosing one among the token's is
    /// the layer's job. Unlike the layer, this never waits for a remote key set to be fetched
    /// again: a token of a key not yet known is `invalid_token`.
    pub fn validate(&self, token: &str, now: u64) -> Result<Identity, AuthError> {
        Ok(self.verified(token.as_bytes(), now)?.identity(None))
    }

    /// The verified token, never waiting for keys (see [`check`](Self::check)).
    pub(crate) fn verified(&self, token: &[u8], now: u64) -> Result<Verified, AuthError> {
        match self.run(token, now, false) {
            Check::Done(result) => result,
            Check::Wait(_) => unreachable!("no wait was allowed"),
        }
    }

    /// The verified token: from the cache when it holds these exact bytes, they are still fresh
    /// at `now` and their key still trusted, verified in full (and then cached) otherwise. A token
    /// naming a key id its issuer's remote key set lacks may have to wait for the set to be
    /// fetched again; then call [`verified`](Self::verified) after the wait.
    pub(crate) fn check(&self, token: &[u8], now: u64) -> Check {
        self.run(token, now, true)
    }

    fn run(&self, token: &[u8], now: u64, may_wait: bool) -> Check {
        let shared = &*self.0;
        if let Some(cache) = &shared.cache
            && let Some(hit) = cache.get(token, now, |entry| {
                let keys = &shared.issuers[entry.issuer].keys;
                keys.is_current(entry.stamp) || {
                    let ring = keys.0.ring.load();
                    ring.generation == entry.generation && ring.set.contains_id(entry.verified.key)
                }
            })
        {
            return Check::Done(match &shared.issuers[hit.issuer].source {
                Some(source) if !source.available(now) => Err(unavailable()),
                _ => Ok(Verified::Shared(hit.verified)),
            });
        }
        let index = match self.route(token) {
            Ok(index) => index,
            Err(error) => return Check::Done(Err(error)),
        };
        let issuer = &shared.issuers[index];
        if let Some(source) = &issuer.source
            && !source.available(now)
        {
            return Check::Done(Err(unavailable()));
        }
        let ring = issuer.keys.0.ring.load();
        let verified = match issuer.verifier.verify(token, now, &ring.set) {
            Ok(verified) => verified,
            Err(Failure::UnknownKid) => {
                // Only a token of this issuer may make its source fetch keys again: with several
                // issuers, routing checked `iss`; with one, look at it now.
                if may_wait
                    && let Some(source) = &issuer.source
                    && (shared.route || Self::names_issuer(token, issuer))
                    && let Some(wait) = source.key_missing(now)
                {
                    return Check::Wait(wait);
                }
                return Check::Done(Err(Failure::UnknownKid.into_error()));
            }
            Err(Failure::Rejected(error)) => return Check::Done(Err(error)),
        };
        let Some(cache) = &shared.cache else {
            return Check::Done(Ok(Verified::Alone(verified)));
        };
        let verified = Arc::new(verified);
        let leeway = issuer.verifier.leeway();
        let entry = Entry {
            verified: Arc::clone(&verified),
            issuer: index,
            generation: ring.generation,
            stamp: ring.stamp,
            valid_until: verified.expires_at.saturating_add(leeway),
            valid_from: verified.not_before.map_or(0, |nbf| {
                u64::try_from(nbf.saturating_sub_unsigned(leeway)).unwrap_or(0)
            }),
        };
        cache.insert(token, entry, now);
        Check::Done(Ok(Verified::Shared(verified)))
    }

    /// The token's `iss`, read from the unverified payload: `None` if there is none or the token
    /// is malformed.
    fn unverified_iss(token: &[u8], on: impl FnOnce(Option<&str>) -> bool) -> bool {
        let mut segments = token.split(|&b| b == b'.');
        let (Some(_), Some(payload), Some(_), None) = (
            segments.next(),
            segments.next(),
            segments.next(),
            segments.next(),
        ) else {
            return on(None);
        };
        let Some(payload) = b64::decode_vec(payload) else {
            return on(None);
        };
        match serde_json::from_slice::<IssOnly<'_>>(&payload) {
            Ok(claims) => on(claims.iss.as_deref()),
            Err(_) => on(None),
        }
    }

    /// Whether the unverified `iss` of `token` is one `issuer` accepts (any, if it names none).
    fn names_issuer(token: &[u8], issuer: &IssuerEntry) -> bool {
        let names = &issuer.verifier.options().issuers;
        names.is_empty()
            || Self::unverified_iss(token, |iss| {
                iss.is_some_and(|iss| names.iter().any(|name| name == iss))
            })
    }

    /// The index of the issuer whose keys verify `token`.
    fn route(&self, token: &[u8]) -> Result<usize, AuthError> {
        if !self.0.route {
            return Ok(0);
        }
        let mut found = Err(invalid("The token's issuer is not accepted"));
        Self::unverified_iss(token, |iss| {
            if let Some(iss) = iss {
                if let Some(index) =
                    self.0.issuers.iter().position(|issuer| {
                        issuer.verifier.options().issuers.iter().any(|n| n == iss)
                    })
                {
                    found = Ok(index);
                }
            } else {
                found = Err(invalid("The token has no issuer (iss)"));
            }
            true
        });
        found
    }
}

#[cfg(all(test, any(feature = "aws-lc-rs", feature = "rust-crypto")))]
mod tests {
    use super::*;

    #[test]
    fn concurrent_key_replacements_get_distinct_generations() {
        let validator = JwtValidator::hs256(
            b"a-unit-test-secret-of-thirty-two-bytes!",
            JwtOptions::new(),
        )
        .unwrap();
        std::thread::scope(|scope| {
            for _ in 0..8 {
                scope.spawn(|| validator.key_handle().replace(JwtKeySet::new()));
            }
        });
        assert_eq!(validator.0.issuers[0].keys.0.ring.load().generation, 8);
        assert_eq!(validator.0.issuers[0].keys.0.ring.load().stamp, 8);
        assert!(validator.key_handle().is_current(8));
    }

    /// A cache hit trusts its entry on the ring's stamp alone only while the ring it was verified
    /// under is in use: once another ring is published, the entry's key is looked for in it, even
    /// if the entry was never dropped (what a verification racing a key update leaves behind).
    #[test]
    fn a_cached_token_of_a_key_gone_from_the_ring_is_refused_though_its_entry_stayed() {
        let secret = b"a-unit-test-secret-of-thirty-two-bytes!";
        let validator = JwtValidator::hs256(secret, JwtOptions::new()).unwrap();
        let now = 1_800_000_000;
        let token = jsonwebtoken::encode(
            &jsonwebtoken::Header::new(Algorithm::HS256),
            &serde_json::json!({ "sub": "user_1", "exp": now + 600 }),
            &jsonwebtoken::EncodingKey::from_secret(secret),
        )
        .unwrap();
        assert_eq!(
            validator.validate(&token, now).unwrap().principal(),
            "user_1"
        );
        assert_eq!(validator.cache_stats().unwrap().entries, 1);
        let handle = validator.key_handle();
        assert!(handle.is_current(0));

        // The same keys again, stamped anew: the entry is checked against the ring and passes.
        handle.publish(|ring| KeyRing {
            set: ring.set.clone(),
            generation: ring.generation,
            stamp: 0,
        });
        assert!(!handle.is_current(0) && handle.is_current(1));
        assert!(validator.validate(&token, now).is_ok());
        assert_eq!(validator.cache_stats().unwrap().entries, 1, "still cached");

        // A ring without the key, the caches not told: the entry is refused (and dropped).
        handle.publish(|ring| KeyRing {
            set: JwtKeySet::new(),
            generation: ring.generation,
            stamp: 0,
        });
        assert!(validator.validate(&token, now).is_err());
        assert_eq!(validator.cache_stats().unwrap().entries, 0);
    }
}
