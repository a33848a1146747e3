//! [`SigningKeys`]: the rotating key ring each instance holds, loaded from a shared store.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use arc_swap::{ArcSwap, Guard};
use jsonwebtoken::{Algorithm, EncodingKey, Header};

use crate::clock::{self, Clock, SharedClock};
use crate::issuer::keys::KeysError;
use crate::issuer::keys::generate::{generate, supported};
use crate::issuer::keys::schedule;
use crate::issuer::keys::seal::FleetKeys;
use crate::issuer::signing::{DEFAULT_ACCESS_TOKEN_TTL, SigningKey};
use crate::jwt::{JwtKeySet, KeyHandle, KeySource, KeyWait};
use crate::store::{PrivateKey, SigningKeyStore, StoreError, StoredSigningKey, algorithm_name};

/// How often keys rotate by default: every 30 days.
pub const DEFAULT_ROTATE_EVERY: Duration = Duration::from_secs(30 * 24 * 3600);
/// How long a new key is published before it signs by default: 1 hour.
pub const DEFAULT_PUBLISH_AHEAD: Duration = Duration::from_secs(3600);
/// How often instances re-read the store by default: every 60 seconds.
pub const DEFAULT_RELOAD_EVERY: Duration = Duration::from_secs(60);
/// The leeway validators allow past `exp` by default (as `JwtOptions`): 60 seconds.
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(60);

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// [`SigningKeyStore`] made object safe, so that the ring is not generic over its store.
trait DynStore: Send + Sync + 'static {
    fn load(&self) -> BoxFuture<'_, Vec<StoredSigningKey>>;
    fn insert(&self, key: StoredSigningKey) -> BoxFuture<'_, bool>;
    fn delete<'a>(&'a self, kid: &'a str) -> BoxFuture<'a, bool>;
}

impl<S: SigningKeyStore> DynStore for S {
    fn load(&self) -> BoxFuture<'_, Vec<StoredSigningKey>> {
        Box::pin(SigningKeyStore::load(self))
    }
    fn insert(&self, key: StoredSigningKey) -> BoxFuture<'_, bool> {
        Box::pin(SigningKeyStore::insert(self, key))
    }
    fn delete<'a>(&'a self, kid: &'a str) -> BoxFuture<'a, bool> {
        Box::pin(SigningKeyStore::delete(self, kid))
    }
}

/// One key of the ring, opened.
pub(crate) struct LiveKey {
    pub(crate) kid: Arc<str>,
    pub(crate) signs_from: u64,
    pub(crate) encoding: EncodingKey,
    /// `alg`, `kid` and `typ: at+jwt`, made once.
    pub(crate) header: Header,
    signing: SigningKey,
    /// As stored (sealed), to write back to a store that lost it.
    stored: StoredSigningKey,
    /// When its successor starts signing (`None`: no successor yet).
    signs_until: Option<u64>,
    /// When it leaves the JWK set: `keep` after `signs_until`.
    published_until: Option<u64>,
}

/// One published key of a [`SigningKeys`] ring, as [`SigningKeys::keys`] lists it: its schedule
/// as the whole set decides it (a key stops signing when its successor starts, and leaves the
/// JWK set once its last token has expired).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PublishedKey {
    /// The key id.
    pub kid: Arc<str>,
    /// The algorithm.
    pub algorithm: Algorithm,
    /// When it was published (inserted), unix seconds.
    pub published_at: u64,
    /// When it starts signing.
    pub signs_from: u64,
    /// When its successor starts signing; `None` while it has none.
    pub signs_until: Option<u64>,
    /// When it leaves the JWK set: `signs_until` plus the longest access-token lifetime plus
    /// leeway; `None` while it has no successor.
    pub published_until: Option<u64>,
}

/// What the ring holds between reloads, swapped whole.
pub(crate) struct KeyState {
    /// Sorted by `signs_from`; never empty.
    keys: Vec<LiveKey>,
    jwks: Arc<str>,
}

impl KeyState {
    /// The key that signs at `now`.
    pub(crate) fn signer(&self, now: u64) -> &LiveKey {
        let index = self
            .keys
            .iter()
            .rposition(|key| key.signs_from <= now)
            .unwrap_or(0);
        &self.keys[index]
    }
}

struct Settings {
    algorithm: Algorithm,
    rotate_every: u64,
    publish_ahead: u64,
    reload_every: u64,
    access_token_ttl: u64,
    /// Access-token lifetime plus leeway: how long a key stays published after it stops signing.
    keep: u64,
    plaintext_at_rest: bool,
}

struct Inner {
    store: Box<dyn DynStore>,
    fleet: FleetKeys,
    settings: Settings,
    clock: SharedClock,
    state: ArcSwap<KeyState>,
    handle: KeyHandle,
    /// When a token of an unknown kid last made the ring reload (unix seconds).
    last_miss_reload: AtomicU64,
}

/// The least time between two reloads for tokens of unknown kids: a key another instance made
/// sign at once (a retirement's replacement) is found within a request, while tokens of made-up
/// kids cost the store one read per this many seconds at most.
const MISS_RELOAD_EVERY: u64 = 5;

/// The issuer's rotating signing keys (feature `aws-lc-rs`), shared by every instance through a
/// [`SigningKeyStore`]: a new key is published [`publish_ahead`](SigningKeysBuilder::publish_ahead)
/// before it signs, and the old one stays published until the last token it signed has expired
/// (the access-token lifetime plus leeway), then is deleted.
///
/// * [`refresh`](Self::refresh) reloads the store, rotates when due and deletes ended keys;
///   [`spawn_refresh`](Self::spawn_refresh) calls it every reload interval.
/// * [`rotate_now`](Self::rotate_now) starts a rotation on demand; [`retire`](Self::retire) removes
///   a compromised key at once.
/// * [`jwks_json`](Self::jwks_json) is the public JWK set to serve; the ring is a
///   [`KeySource`], so `JwtValidator::from_source(ring, options)` trusts exactly the published keys
///   and follows rotations.
/// * The fleet secret seals the private keys in the store (AES-256-GCM, the kid and algorithm
///   bound) and derives the refresh-token issuance key, the same across rotations, so that the
///   instances sharing it honour each other's refresh tokens.
///
/// Give it to [`TokenIssuer::rotating`](crate::issuer::TokenIssuer::rotating).
///
/// ```
/// use std::time::Duration;
/// use tower_api_auth::clock::ManualClock;
/// use tower_api_auth::issuer::{MemorySigningKeyStore, SigningKeys};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let clock = ManualClock::at(1_800_000_000);
/// let keys = SigningKeys::builder(MemorySigningKeyStore::new(), b"a-fleet-secret-of-32-bytes-or-more!!")
///     .rotate_every(Duration::from_secs(7 * 24 * 3600))
///     .clock(clock.clone())
///     .build()
///     .await?;
/// let jwks: serde_json::Value = serde_json::from_str(&keys.jwks_json())?;
/// assert_eq!(jwks["keys"][0]["alg"], "ES256");
/// assert_eq!(jwks["keys"][0]["kid"], *keys.signing_kid(1_800_000_000));
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct SigningKeys(Arc<Inner>);

impl fmt::Debug for SigningKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.0.state.load();
        let kids: Vec<&str> = state.keys.iter().map(|key| &*key.kid).collect();
        f.debug_struct("SigningKeys")
            .field("algorithm", &self.0.settings.algorithm)
            .field("kids", &kids)
            .field("rotate_every", &self.0.settings.rotate_every)
            .field("publish_ahead", &self.0.settings.publish_ahead)
            .field("plaintext_at_rest", &self.0.settings.plaintext_at_rest)
            .finish_non_exhaustive()
    }
}

/// Settings of [`SigningKeys`], from [`SigningKeys::builder`].
pub struct SigningKeysBuilder {
    store: Box<dyn DynStore>,
    fleet: Result<FleetKeys, KeysError>,
    algorithm: Algorithm,
    rotate_every: Duration,
    publish_ahead: Duration,
    reload_every: Duration,
    access_token_ttl: Duration,
    leeway: Duration,
    clock: SharedClock,
    plaintext_at_rest: bool,
}

impl fmt::Debug for SigningKeysBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKeysBuilder")
            .field("algorithm", &self.algorithm)
            .field("rotate_every", &self.rotate_every)
            .field("publish_ahead", &self.publish_ahead)
            .field("reload_every", &self.reload_every)
            .finish_non_exhaustive()
    }
}

impl SigningKeysBuilder {
    /// The algorithm of new keys: `ES256` (default), `ES384`, `EdDSA`, `RS256` or `PS256` (RSA
    /// 2048). Keys of another algorithm already in the store keep signing until they rotate.
    #[must_use]
    pub fn algorithm(mut self, algorithm: Algorithm) -> Self {
        self.algorithm = algorithm;
        self
    }

    /// How long a key signs before its successor takes over. Default 30 days.
    #[must_use]
    pub fn rotate_every(mut self, every: Duration) -> Self {
        self.rotate_every = every;
        self
    }

    /// How long a new key is in the JWK set before it signs. Default 1 hour. Must exceed the
    /// consumers' JWKS cache time and the [reload interval](Self::reload_every), or a token may
    /// reach a validator that does not know its key yet.
    #[must_use]
    pub fn publish_ahead(mut self, ahead: Duration) -> Self {
        self.publish_ahead = ahead;
        self
    }

    /// How often [`spawn_refresh`](SigningKeys::spawn_refresh) re-reads the store. Default 60 s.
    #[must_use]
    pub fn reload_every(mut self, every: Duration) -> Self {
        self.reload_every = every;
        self
    }

    /// The longest access-token lifetime signed with these keys (the issuer's
    /// [TTL](crate::issuer::TokenIssuer::access_token_ttl) is capped to it). Default 15 minutes.
    #[must_use]
    pub fn access_token_ttl(mut self, ttl: Duration) -> Self {
        self.access_token_ttl = ttl;
        self
    }

    /// The validators' leeway past `exp`. Default 60 s, as `JwtOptions`.
    #[must_use]
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// The clock. Default the system's.
    #[must_use]
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Stores new private keys **in the clear**: whoever reads the store can then sign tokens
    /// as this issuer. Only for stores that are themselves encrypted and access-controlled; a
    /// warning is logged at start.
    #[must_use]
    pub fn plaintext_at_rest(mut self) -> Self {
        self.plaintext_at_rest = true;
        self
    }

    /// Loads the keys (making the first if the store has none). Fails if the store cannot be
    /// read, a stored key does not open with this fleet secret, or a setting is out of range.
    pub async fn build(self) -> Result<SigningKeys, KeysError> {
        let fleet = self.fleet?;
        let secs = |d: Duration| d.as_secs();
        let settings = Settings {
            algorithm: self.algorithm,
            rotate_every: secs(self.rotate_every),
            publish_ahead: secs(self.publish_ahead),
            reload_every: secs(self.reload_every).max(1),
            access_token_ttl: secs(self.access_token_ttl).max(1),
            keep: secs(self.access_token_ttl)
                .max(1)
                .saturating_add(secs(self.leeway)),
            plaintext_at_rest: self.plaintext_at_rest,
        };
        if settings.publish_ahead <= settings.reload_every {
            return Err(KeysError::new(
                "publish_ahead must exceed reload_every, or other instances may see a token before its key",
            ));
        }
        if settings.rotate_every <= settings.publish_ahead + settings.reload_every {
            return Err(KeysError::new(
                "rotate_every must exceed publish_ahead plus reload_every",
            ));
        }
        supported(settings.algorithm)?;
        if settings.plaintext_at_rest {
            tracing::warn!(
                "signing keys: new private keys are stored in plaintext at rest \
                 (plaintext_at_rest): whoever reads the key store can sign tokens"
            );
        }
        let now = self.clock.now();
        let mut stored =
            self.store.load().await.map_err(|error| {
                KeysError::new(format!("cannot load the signing keys: {error}"))
            })?;
        if stored.is_empty() {
            let (from, until) = schedule::first(now, settings.rotate_every);
            let key = new_key(&fleet, &settings, now, from, until)?;
            self.store.insert(key).await.map_err(|error| {
                KeysError::new(format!("cannot store the first signing key: {error}"))
            })?;
            stored = self.store.load().await.map_err(|error| {
                KeysError::new(format!("cannot load the signing keys: {error}"))
            })?;
            if stored.is_empty() {
                return Err(KeysError::new("the key store kept no key"));
            }
        }
        let state = build_state(&fleet, &settings, &stored, now, true)?;
        let handle = KeyHandle::new(state.key_set());
        let ring = SigningKeys(Arc::new(Inner {
            store: self.store,
            fleet,
            settings,
            clock: self.clock,
            state: ArcSwap::from_pointee(state.state),
            handle,
            last_miss_reload: AtomicU64::new(0),
        }));
        // Rotate at once if due (a store whose keys are old); a failure keeps the keys loaded.
        let _ = ring.refresh().await;
        Ok(ring)
    }
}

/// Opens every stored key; `strict`: the first that fails is the answer, otherwise it is left
/// out with an error logged.
fn open_all(
    fleet: &FleetKeys,
    stored: &[StoredSigningKey],
    strict: bool,
) -> Result<Vec<(StoredSigningKey, SigningKey)>, KeysError> {
    let mut opened = Vec::with_capacity(stored.len());
    for key in stored {
        match open(fleet, key) {
            Ok(signing) => opened.push((key.clone(), signing)),
            Err(error) if strict => return Err(error),
            Err(error) => {
                tracing::error!(kid = %key.kid, error = %error, "signing keys: a stored key is left out");
            }
        }
    }
    Ok(opened)
}

fn open(fleet: &FleetKeys, key: &StoredSigningKey) -> Result<SigningKey, KeysError> {
    let der = match &key.private_key {
        PrivateKey::Sealed(sealed) => fleet.open(&key.kid, key.algorithm, sealed)?,
        PrivateKey::Plaintext(der) => der.clone(),
    };
    SigningKey::from_private_der(key.algorithm, &der)
        .map(|signing| signing.with_kid(key.kid.clone()))
        .map_err(|error| KeysError::new(format!("the stored key {} is unusable: {error}", key.kid)))
}

/// The kid of the key that starts signing at `signs_from`: instances that rotate alike make the
/// same one.
fn kid_of(algorithm: Algorithm, signs_from: u64) -> String {
    format!("{}-{signs_from}", algorithm_name(algorithm))
}

fn new_key(
    fleet: &FleetKeys,
    settings: &Settings,
    now: u64,
    signs_from: u64,
    signs_until: u64,
) -> Result<StoredSigningKey, KeysError> {
    let algorithm = settings.algorithm;
    let kid = kid_of(algorithm, signs_from);
    let der = generate(algorithm)?;
    let signing = SigningKey::from_private_der(algorithm, &der)
        .map_err(|error| KeysError::new(format!("a generated key is unusable: {error}")))?
        .with_kid(kid.as_str());
    let jwk = signing
        .public_jwk()
        .ok_or_else(|| KeysError::new("a generated key has no public half"))?;
    let private_key = if settings.plaintext_at_rest {
        PrivateKey::Plaintext(der)
    } else {
        PrivateKey::Sealed(fleet.seal(&kid, algorithm, &der)?)
    };
    Ok(
        StoredSigningKey::new(kid, algorithm, private_key, jwk.to_string()).with_times(
            now,
            signs_from,
            signs_until,
        ),
    )
}

struct Built {
    state: KeyState,
    /// Keys whose last token has expired: to delete from the store.
    ended: Vec<Arc<str>>,
}

impl Built {
    fn key_set(&self) -> JwtKeySet {
        self.state.key_set()
    }
}

impl KeyState {
    fn key_set(&self) -> JwtKeySet {
        let mut set = JwtKeySet::new();
        for key in &self.keys {
            // Kids are unique in the store, so an insert cannot clash.
            let _ = set.insert(key.signing.verifying_key().clone());
        }
        set
    }
}

fn build_state(
    fleet: &FleetKeys,
    settings: &Settings,
    stored: &[StoredSigningKey],
    now: u64,
    strict: bool,
) -> Result<Built, KeysError> {
    let mut opened = open_all(fleet, stored, strict)?;
    if opened.is_empty() {
        return Err(KeysError::new("no usable signing key in the store"));
    }
    opened.sort_by(|a, b| (a.0.signs_from, &a.0.kid).cmp(&(b.0.signs_from, &b.0.kid)));
    let starts: Vec<u64> = opened.iter().map(|(key, _)| key.signs_from).collect();
    let mut keys = Vec::with_capacity(opened.len());
    let mut ended = Vec::new();
    let mut jwks = Vec::with_capacity(opened.len());
    for (index, (stored, signing)) in opened.into_iter().enumerate() {
        let published_until = schedule::published_until(&starts, index, settings.keep);
        let signs_until = starts.get(index + 1).copied();
        if published_until.is_some_and(|until| until <= now) {
            ended.push(stored.kid.clone());
            continue;
        }
        let mut header = Header::new(stored.algorithm);
        header.typ = Some("at+jwt".to_owned());
        header.kid = Some(stored.kid.to_string());
        if let Some(jwk) = signing.public_jwk() {
            jwks.push(jwk);
        }
        keys.push(LiveKey {
            kid: stored.kid.clone(),
            signs_from: stored.signs_from,
            encoding: signing.encoding().clone(),
            header,
            signing,
            stored,
            signs_until,
            published_until,
        });
    }
    let jwks = serde_json::json!({ "keys": jwks }).to_string();
    Ok(Built {
        state: KeyState {
            keys,
            jwks: jwks.into(),
        },
        ended,
    })
}

impl SigningKeys {
    /// Settings for a ring on `store`, sealing with `fleet_secret` (32 bytes or more, the same on
    /// every instance; a shorter one fails at [`build`](SigningKeysBuilder::build)).
    pub fn builder(
        store: impl SigningKeyStore,
        fleet_secret: impl AsRef<[u8]>,
    ) -> SigningKeysBuilder {
        SigningKeysBuilder {
            store: Box::new(store),
            fleet: FleetKeys::new(fleet_secret.as_ref()),
            algorithm: Algorithm::ES256,
            rotate_every: DEFAULT_ROTATE_EVERY,
            publish_ahead: DEFAULT_PUBLISH_AHEAD,
            reload_every: DEFAULT_RELOAD_EVERY,
            access_token_ttl: DEFAULT_ACCESS_TOKEN_TTL,
            leeway: DEFAULT_LEEWAY,
            clock: clock::system(),
            plaintext_at_rest: false,
        }
    }

    pub(crate) fn state(&self) -> Guard<Arc<KeyState>> {
        self.0.state.load()
    }

    /// The refresh-token issuance key, derived from the fleet secret.
    pub(crate) fn issuance_key(&self) -> &[u8; 32] {
        &self.0.fleet.issuance
    }

    /// The longest access-token lifetime these keys are kept for, in seconds.
    pub(crate) fn access_token_ttl_secs(&self) -> u64 {
        self.0.settings.access_token_ttl
    }

    /// The kid that signs at `now`.
    pub fn signing_kid(&self, now: u64) -> Arc<str> {
        self.state().signer(now).kid.clone()
    }

    /// The kids published now (in the JWK set), oldest first.
    pub fn published_kids(&self) -> Vec<Arc<str>> {
        self.state()
            .keys
            .iter()
            .map(|key| key.kid.clone())
            .collect()
    }

    /// Every published key and its schedule, oldest first, as loaded last.
    pub fn keys(&self) -> Vec<PublishedKey> {
        self.state()
            .keys
            .iter()
            .map(|key| PublishedKey {
                kid: key.kid.clone(),
                algorithm: key.stored.algorithm,
                published_at: key.stored.created_at,
                signs_from: key.signs_from,
                signs_until: key.signs_until,
                published_until: key.published_until,
            })
            .collect()
    }

    /// The RFC 7517 JWK set of every published public key (`kid`, `alg`, `use: "sig"`), as
    /// loaded last: serve it as `application/json` (`application/jwk-set+json`).
    pub fn jwks_json(&self) -> Arc<str> {
        self.state().jwks.clone()
    }

    /// Reloads the store, inserts the successor of the signing key when it is due (published
    /// `publish_ahead` before it signs), deletes the keys whose last token has expired, and
    /// publishes the result to the JWK set and the validators built on the ring.
    ///
    /// When the store fails, the keys loaded last stay (a warning is logged) and issuing goes
    /// on with them; the error is returned.
    pub async fn refresh(&self) -> Result<(), KeysError> {
        let now = self.0.clock.now();
        let mut stored = self.load().await?;
        if stored.is_empty() {
            // The store lost the set (flushed, restored from an old backup): write back the keys
            // this instance holds, so that tokens signed with them stay valid; instances doing the
            // same at once insert the same kids.
            tracing::warn!(
                "signing keys: the store holds no key; writing back the keys loaded last"
            );
            let held: Vec<StoredSigningKey> = self
                .state()
                .keys
                .iter()
                .map(|key| key.stored.clone())
                .collect();
            for key in held {
                if let Err(error) = self.0.store.insert(key).await {
                    tracing::warn!(error = %error, "signing keys: cannot write a key back");
                }
            }
            stored = self.load().await?;
        }
        stored.sort_by_key(|key| key.signs_from);
        let starts: Vec<u64> = stored.iter().map(|key| key.signs_from).collect();
        let due = stored
            .get(schedule::signer(&starts, now))
            .and_then(|signer| {
                schedule::successor(
                    &starts,
                    signer.signs_until,
                    now,
                    self.0.settings.publish_ahead,
                    self.0.settings.reload_every.saturating_mul(2),
                    self.0.settings.rotate_every,
                )
            });
        if let Some((from, until)) = due {
            let key = new_key(&self.0.fleet, &self.0.settings, now, from, until)?;
            let kid = key.kid.clone();
            match self.0.store.insert(key).await {
                Ok(inserted) => {
                    tracing::info!(kid = %kid, signs_from = from, inserted, "signing keys: successor published");
                    stored = self.load().await?;
                }
                Err(error) => {
                    tracing::warn!(error = %error, "signing keys: cannot store the successor key; retrying at the next refresh");
                }
            }
        }
        self.install(&stored, now).await
    }

    /// Publishes a new key at once; it signs after `publish_ahead`, and the current key stops
    /// signing then (its tokens stay valid until they expire). Returns the new kid. For a key
    /// that must stop being trusted now, see [`retire`](Self::retire).
    pub async fn rotate_now(&self) -> Result<Arc<str>, KeysError> {
        let now = self.0.clock.now();
        let from = now.saturating_add(self.0.settings.publish_ahead);
        let key = new_key(
            &self.0.fleet,
            &self.0.settings,
            now,
            from,
            from.saturating_add(self.0.settings.rotate_every),
        )?;
        let kid = key.kid.clone();
        self.0
            .store
            .insert(key)
            .await
            .map_err(|error| KeysError::new(format!("cannot store the new key: {error}")))?;
        tracing::info!(kid = %kid, signs_from = from, "signing keys: rotation on demand");
        let stored = self.load().await?;
        self.install(&stored, now).await?;
        Ok(kid)
    }

    /// Removes the key `kid` from the store and the JWK set now: the tokens it signed are refused
    /// from then on (by this instance at once, by the others at their next reload, by remote
    /// consumers when their JWKS cache expires). If it signs now, a new key takes over at once,
    /// unpublished before: the other instances' validators reload when they meet its kid (see
    /// the [`KeySource`] impl), remote consumers refetch their JWK set. Returns whether the key
    /// was there.
    pub async fn retire(&self, kid: &str) -> Result<bool, KeysError> {
        let now = self.0.clock.now();
        if &*self.signing_kid(now) == kid {
            let key = new_key(
                &self.0.fleet,
                &self.0.settings,
                now,
                now,
                now.saturating_add(self.0.settings.rotate_every),
            )?;
            self.0.store.insert(key).await.map_err(|error| {
                KeysError::new(format!("cannot store the replacement key: {error}"))
            })?;
        }
        let deleted = self
            .0
            .store
            .delete(kid)
            .await
            .map_err(|error| KeysError::new(format!("cannot delete the key {kid}: {error}")))?;
        tracing::warn!(kid, "signing keys: key retired");
        let stored = self.load().await?;
        self.install(&stored, now).await?;
        Ok(deleted)
    }

    /// Calls [`refresh`](Self::refresh) every reload interval on the tokio runtime, until every
    /// handle of the ring is dropped or the task is aborted.
    #[cfg(any(feature = "fleet", feature = "remote"))]
    pub fn spawn_refresh(&self) -> tokio::task::JoinHandle<()> {
        let weak = Arc::downgrade(&self.0);
        let every = Duration::from_secs(self.0.settings.reload_every);
        tokio::spawn(async move {
            let mut interval = tokio::time::interval(every);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            interval.tick().await; // the first tick is immediate: the ring was just loaded
            loop {
                interval.tick().await;
                let Some(inner) = weak.upgrade() else { break };
                let _ = SigningKeys(inner).refresh().await;
            }
        })
    }

    async fn load(&self) -> Result<Vec<StoredSigningKey>, KeysError> {
        self.0.store.load().await.map_err(|error| {
            tracing::warn!(error = %error, "signing keys: the store is unavailable; keeping the keys loaded last");
            KeysError::new(format!("cannot load the signing keys: {error}"))
        })
    }

    async fn install(&self, stored: &[StoredSigningKey], now: u64) -> Result<(), KeysError> {
        let built = match build_state(&self.0.fleet, &self.0.settings, stored, now, false) {
            Ok(built) => built,
            Err(error) => {
                tracing::warn!(error = %error, "signing keys: keeping the keys loaded last");
                return Err(error);
            }
        };
        for kid in &built.ended {
            match self.0.store.delete(kid).await {
                Ok(_) => tracing::info!(kid = %kid, "signing keys: ended key deleted"),
                Err(error) => {
                    tracing::warn!(kid = %kid, error = %error, "signing keys: cannot delete an ended key");
                }
            }
        }
        self.0.handle.update(built.key_set());
        self.0.state.store(Arc::new(built.state));
        Ok(())
    }
}

impl KeySource for SigningKeys {
    fn key_handle(&self) -> KeyHandle {
        self.0.handle.clone()
    }

    /// Always: the ring is built only once keys are loaded, and keeps them when the store fails.
    fn available(&self, _now: u64) -> bool {
        true
    }

    /// A scheduled key is published `publish_ahead` before it signs, so a validator on the ring
    /// knows it; but a retired key's replacement signs at once, and another instance may be
    /// using it before this one reloads. So an unknown kid reloads the store and the request
    /// waits for it (the store's own timeouts bound the wait) — at most once per 5 seconds, so
    /// that made-up kids cannot load the store; within that, an unknown kid is refused at once.
    fn key_missing(&self, now: u64) -> Option<KeyWait> {
        let last = self.0.last_miss_reload.load(Ordering::Acquire);
        if now < last.saturating_add(MISS_RELOAD_EVERY)
            || self
                .0
                .last_miss_reload
                .compare_exchange(last, now, Ordering::AcqRel, Ordering::Acquire)
                .is_err()
        {
            return None;
        }
        let ring = self.clone();
        Some(Box::pin(async move {
            let _ = ring.refresh().await;
        }))
    }
}
