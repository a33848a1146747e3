//! The quickstart's import of a configuration file's API keys into the shared database (issue 20,
//! part 9): instances started at once all succeed and store the key once; the same key already
//! stored is left as the database has it; another key under the same id is a clear error.

use std::sync::Arc;

use tower_api_auth::KeyProvider;
use tower_api_auth::api_key::{ApiKeyFormat, ApiKeyHasher, KeyRecord};
use tower_api_auth::store::KeyStore;
use tower_api_auth_sqlx_store::PgStore;
use tower_api_auth_tests::servers::postgres_database;

use crate::generic_api_app::support::stores::import_key;

/// A key with the id `key_id` (the record of a file's `[[auth.api_keys.keys]]`).
fn record_with_id(key_id: &str) -> KeyRecord {
    let (_, mut record) = ApiKeyHasher::default()
        .generate(&ApiKeyFormat::default())
        .into_parts();
    record.key_id = Arc::from(key_id);
    record
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_started_at_once_import_a_files_key_once_and_all_start() {
    let store = PgStore::connect(&postgres_database().await).await.unwrap();
    store.migrate().await.unwrap();
    let record = record_with_id("k_fleet");
    // Eight instances starting at the same moment, each on a connection of its own.
    let mut starts = Vec::new();
    for _ in 0..8 {
        let (store, record) = (store.clone(), record.clone());
        starts.push(tokio::spawn(async move {
            import_key(&store, record).await.map_err(|e| e.to_string())
        }));
    }
    for start in starts {
        assert_eq!(start.await.unwrap(), Ok(()), "every instance starts");
    }
    let stored = KeyProvider::lookup(&store, "k_fleet")
        .resolve()
        .await
        .unwrap();
    assert_eq!(stored.as_deref(), Some(&record), "stored once, whole");

    // Revoked since (by the command-line tool): a restart with the same file keeps it revoked.
    assert!(store.revoke("k_fleet").await.unwrap());
    import_key(&store, record.clone()).await.unwrap();
    let stored = KeyProvider::lookup(&store, "k_fleet")
        .resolve()
        .await
        .unwrap()
        .unwrap();
    assert!(stored.revoked, "the database's state wins");

    // Another key (another secret) under the same id: refused, naming the id, the stored one kept.
    let error = import_key(&store, record_with_id("k_fleet"))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("API key k_fleet") && error.contains("another key"),
        "{error}"
    );
    let stored = KeyProvider::lookup(&store, "k_fleet")
        .resolve()
        .await
        .unwrap()
        .unwrap();
    assert!(stored.hash.matches(&record.hash));
}
