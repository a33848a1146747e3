//! Rotating signing keys shared by a fleet: the key ring [`SigningKeys`] (feature `aws-lc-rs`,
//! which makes the keys), its embedded store [`MemorySigningKeyStore`], and [`KeysError`].
//!
//! * `schedule` — when each key signs and until when it is published (pure rules).
//! * `seal` — the fleet secret: sealing private keys at rest, the refresh-token issuance key.
//! * `generate` — new key pairs.
//! * `ring` — the ring: loading, rotating, purging, publishing.
//!
//! The store trait and the stored form are [`SigningKeyStore`](crate::store::SigningKeyStore) and
//! [`StoredSigningKey`](crate::store::StoredSigningKey).

mod error;
mod memory;

#[cfg(feature = "aws-lc-rs")]
mod generate;
#[cfg(feature = "aws-lc-rs")]
mod ring;
#[cfg(feature = "aws-lc-rs")]
mod schedule;
#[cfg(feature = "aws-lc-rs")]
mod seal;

pub use error::KeysError;
pub use memory::MemorySigningKeyStore;
#[cfg(feature = "aws-lc-rs")]
pub use ring::{
    DEFAULT_LEEWAY, DEFAULT_PUBLISH_AHEAD, DEFAULT_RELOAD_EVERY, DEFAULT_ROTATE_EVERY,
    PublishedKey, SigningKeys, SigningKeysBuilder,
};
