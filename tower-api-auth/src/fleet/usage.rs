//! The timer that writes API-key usage: [`flush_usage_every`].

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;

use crate::api_key::KeyUsage;

/// Writes `usage`'s batch to its store every `every` on a tokio task, until the last other
/// handle to `usage` is dropped; uses noted after the last flush are then lost (call
/// [`KeyUsage::flush`] on shutdown to keep them). A failed write is logged and kept for the next
/// flush. Must be called inside a tokio runtime.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use std::sync::Arc;
/// use std::time::Duration;
/// use tower_api_auth::api_key::{ApiKeys, KeyUsage};
/// use tower_api_auth::fleet::flush_usage_every;
/// use tower_api_auth::MemoryKeyStore;
///
/// let store = MemoryKeyStore::new();
/// let usage = Arc::new(KeyUsage::new(store.clone()));
/// let api_keys = ApiKeys::new(store).usage(usage.clone());
/// let task = flush_usage_every(&usage, Duration::from_secs(10));
/// # let _ = (api_keys, task);
/// # }
/// ```
pub fn flush_usage_every(usage: &Arc<KeyUsage>, every: Duration) -> JoinHandle<()> {
    let usage = Arc::downgrade(usage);
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every);
        ticks.tick().await;
        loop {
            ticks.tick().await;
            let Some(usage) = usage.upgrade() else { return };
            if let Err(error) = usage.flush().await {
                tracing::warn!(%error, "could not write API-key usage; kept for the next flush");
            }
        }
    })
}
