//! Running several instances as one service: the revocation feed, and the timer that writes
//! API-key usage ([`flush_usage_every`]).
//!
//! Each instance checks revocations in memory on every request, with no network call; a
//! [`RevocationFeed`] keeps that memory in step with a store every instance shares, through the
//! store's notifications (PostgreSQL `LISTEN/NOTIFY`, Redis pub/sub, SQLite polling) and a
//! periodic full resync. The same feed tells [`CachedKeyProvider`](crate::api_key::CachedKeyProvider)s
//! that [follow](crate::api_key::CachedKeyProvider::follow) it when an API key changes.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use tower_api_auth::AuthLayer;
//! use tower_api_auth::fleet::{MemoryFeedStore, RevocationFeed};
//!
//! let feed = RevocationFeed::builder(MemoryFeedStore::new()).start();
//! feed.synced().await;
//! let auth = AuthLayer::builder().revocation(feed.clone());
//! # let _ = auth;
//! # }
//! ```

mod dyn_store;
mod feed;
mod memory;
mod usage;

pub use feed::{DEFAULT_MAX_STALENESS, DEFAULT_RESYNC_EVERY, FeedBuilder, RevocationFeed};
pub use memory::{MemoryFeedStore, MemoryFeedSubscription};
pub use usage::flush_usage_every;
