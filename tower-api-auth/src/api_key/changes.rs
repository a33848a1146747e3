//! The hooks that keep API-key answers in step with changes made elsewhere: a
//! [`CachedKeyProvider`](super::CachedKeyProvider) [follows](super::CachedKeyProvider::follow)
//! a [`KeyChanges`] source and drops what it cached when a key changes; a
//! [`KeyManager`](super::KeyManager) [announces](super::KeyManager::announce) its changes through
//! a [`KeyAnnouncer`]. The fleet's revocation feed (`fleet::RevocationFeed`, feature `fleet`)
//! implements both, and every feed backend is an announcer; anything else that hears of key
//! changes (a message bus, a webhook) can implement them from outside the crate.

use std::future::Future;
use std::pin::Pin;
use std::sync::Weak;

use crate::store::StoreError;

/// A source of "this API key changed" news that caches follow.
///
/// ```
/// use std::sync::{Mutex, Weak};
/// use tower_api_auth::api_key::{CachedKeyProvider, KeyChangeListener, KeyChanges};
/// use tower_api_auth::MemoryKeyStore;
///
/// /// Key changes heard on the app's own message bus.
/// #[derive(Clone, Default)]
/// struct Bus(std::sync::Arc<Mutex<Vec<Weak<dyn KeyChangeListener>>>>);
///
/// impl KeyChanges for Bus {
///     fn watch(&self, listener: Weak<dyn KeyChangeListener>) {
///         self.0.lock().unwrap().push(listener);
///     }
///     fn is_fresh(&self, _now: u64) -> bool {
///         true // the bus never misses a message
///     }
/// }
///
/// let bus = Bus::default();
/// let keys = CachedKeyProvider::new(MemoryKeyStore::new()).follow(&bus);
/// // A message "key k1 changed" arrives:
/// for listener in bus.0.lock().unwrap().iter().filter_map(Weak::upgrade) {
///     listener.key_changed(Some("k1"));
/// }
/// # let _ = keys;
/// ```
pub trait KeyChanges: Send + Sync + 'static {
    /// Registers `listener`, held weakly: it is told of every change from now on, and of
    /// `None` ("anything may have changed") whenever changes may have been missed (a reconnect).
    fn watch(&self, listener: Weak<dyn KeyChangeListener>);

    /// Whether no change can have been missed as of `now` (unix seconds). While it is `false`,
    /// a cache that follows this source answers from its store only.
    fn is_fresh(&self, now: u64) -> bool;
}

/// What a [`KeyChanges`] source tells: the key `key_id` changed, or with `None`, any key may have.
pub trait KeyChangeListener: Send + Sync + 'static {
    /// Drops what is known about `key_id`, or about every key when `None`.
    fn key_changed(&self, key_id: Option<&str>);
}

/// Tells every instance of a fleet that an API key changed, so that their caches drop it.
///
/// ```
/// use tower_api_auth::api_key::{KeyAnnouncer, KeyManager};
/// use tower_api_auth::store::StoreError;
/// use tower_api_auth::MemoryKeyStore;
///
/// /// Publishes on the app's own message bus.
/// struct Bus;
///
/// impl KeyAnnouncer for Bus {
///     async fn key_changed(&self, key_id: &str) -> Result<(), StoreError> {
///         println!("publish: key {key_id} changed");
///         Ok(())
///     }
/// }
///
/// let keys = KeyManager::new(MemoryKeyStore::new()).announce(Bus);
/// # let _ = keys;
/// ```
pub trait KeyAnnouncer: Send + Sync + 'static {
    /// Announces that `key_id` changed; an error means the fleet may not have heard.
    fn key_changed(&self, key_id: &str) -> impl Future<Output = Result<(), StoreError>> + Send;
}

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// [`KeyAnnouncer`] behind a pointer: the boxed twin the key manager holds.
pub(crate) trait DynKeyAnnouncer: Send + Sync + 'static {
    fn key_changed<'a>(&'a self, key_id: &'a str) -> BoxFuture<'a, ()>;
}

impl<A: KeyAnnouncer> DynKeyAnnouncer for A {
    fn key_changed<'a>(&'a self, key_id: &'a str) -> BoxFuture<'a, ()> {
        Box::pin(KeyAnnouncer::key_changed(self, key_id))
    }
}
