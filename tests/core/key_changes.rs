//! The key-change hooks implemented outside the crate, as an app with its own message bus would:
//! a `CachedKeyProvider` that follows a `KeyChanges` of the app's drops a key when the bus says
//! it changed (and only then), answers from its store alone while the bus may have missed a
//! change, and a `KeyManager` announces every change through the app's `KeyAnnouncer`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};

use tower_api_auth::MemoryKeyStore;
use tower_api_auth::api_key::{
    ApiKeyFormat, ApiKeyHasher, CachedKeyProvider, KeyAnnouncer, KeyChangeListener, KeyChanges,
    KeyManager, KeySpec,
};
use tower_api_auth::store::{KeyProvider, StoreError};

/// The app's bus: it keeps the listeners, says whether it is connected, and delivers changes.
#[derive(Clone, Default)]
struct Bus {
    listeners: Arc<Mutex<Vec<Weak<dyn KeyChangeListener>>>>,
    disconnected: Arc<AtomicBool>,
}

impl Bus {
    fn deliver(&self, key_id: Option<&str>) {
        for listener in self
            .listeners
            .lock()
            .unwrap()
            .iter()
            .filter_map(Weak::upgrade)
        {
            listener.key_changed(key_id);
        }
    }
}

impl KeyChanges for Bus {
    fn watch(&self, listener: Weak<dyn KeyChangeListener>) {
        self.listeners.lock().unwrap().push(listener);
    }
    fn is_fresh(&self, _now: u64) -> bool {
        !self.disconnected.load(Ordering::SeqCst)
    }
}

async fn revoked(keys: &impl KeyProvider, key_id: &str) -> bool {
    keys.lookup(key_id)
        .resolve()
        .await
        .unwrap()
        .expect("the key exists")
        .revoked
}

#[tokio::test]
async fn a_cache_following_an_outside_bus_drops_a_key_when_the_bus_says_so() {
    let (_, record) = ApiKeyHasher::default()
        .generate(&ApiKeyFormat::default())
        .into_parts();
    let key_id = record.key_id.clone();
    let store = MemoryKeyStore::from(vec![record]);
    let bus = Bus::default();
    let cache = CachedKeyProvider::new(store.clone()).follow(&bus);
    assert!(!revoked(&cache, &key_id).await, "cached");

    store.revoke(&key_id);
    assert!(
        !revoked(&cache, &key_id).await,
        "the cache answers until it hears"
    );
    bus.deliver(Some("another_key"));
    assert!(
        !revoked(&cache, &key_id).await,
        "news of another key drops nothing"
    );
    bus.deliver(Some(&key_id));
    assert!(
        revoked(&cache, &key_id).await,
        "the change dropped the cached answer"
    );
}

#[tokio::test]
async fn a_cache_asks_its_store_while_its_bus_may_have_missed_a_change() {
    let (_, record) = ApiKeyHasher::default()
        .generate(&ApiKeyFormat::default())
        .into_parts();
    let key_id = record.key_id.clone();
    let store = MemoryKeyStore::from(vec![record]);
    let bus = Bus::default();
    let cache = CachedKeyProvider::new(store.clone()).follow(&bus);
    assert!(!revoked(&cache, &key_id).await);

    bus.disconnected.store(true, Ordering::SeqCst);
    store.revoke(&key_id);
    assert!(
        revoked(&cache, &key_id).await,
        "no answer from memory while the bus is stale"
    );
}

/// Records what it is asked to announce; fails when told to.
#[derive(Clone, Default)]
struct Announcements {
    heard: Arc<Mutex<Vec<String>>>,
    down: Arc<AtomicBool>,
}

impl KeyAnnouncer for Announcements {
    async fn key_changed(&self, key_id: &str) -> Result<(), StoreError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(StoreError::new("bus down"));
        }
        self.heard.lock().unwrap().push(key_id.to_owned());
        Ok(())
    }
}

#[tokio::test]
async fn a_key_manager_announces_each_change_through_an_outside_announcer() {
    let announcements = Announcements::default();
    let keys = KeyManager::new(MemoryKeyStore::new()).announce(announcements.clone());
    let created = keys.create(KeySpec::default()).await.unwrap();
    let key_id = created.info.key_id.to_string();
    assert!(keys.revoke(&key_id).await.unwrap());
    assert_eq!(
        *announcements.heard.lock().unwrap(),
        [key_id.clone(), key_id.clone()]
    );

    // A revocation the fleet may not have heard of is an error, not a silent success.
    announcements.down.store(true, Ordering::SeqCst);
    let another = keys.create(KeySpec::default()).await.unwrap();
    assert!(keys.revoke(&another.info.key_id).await.is_err());
}
