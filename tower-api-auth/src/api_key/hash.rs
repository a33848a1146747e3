//! Hashing keys for storage and comparing them in constant time.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use subtle::ConstantTimeEq;

use crate::api_key::format::{ApiKeyFormat, ID_LEN};
use crate::api_key::record::KeyRecord;
use crate::random::random_base62;

/// Domain separation for the BLAKE3 key derivation; changing it invalidates every stored hash.
const CONTEXT: &str = "tower-api-auth 2026-11 api key hash v1";

/// The stored form of an API key: a keyed BLAKE3 hash, 32 bytes, written as 64 hex digits.
///
/// API keys are high-entropy secrets, so a fast keyed hash is the right tool (a password hash would
/// only slow every request down). Comparison is constant time. `Debug` never shows the bytes.
#[derive(Clone, Copy)]
pub struct KeyHash([u8; 32]);

impl KeyHash {
    /// Parses 64 hex digits.
    pub fn from_hex(hex: &str) -> Option<Self> {
        let bytes = hex.as_bytes();
        if bytes.len() != 64 {
            return None;
        }
        let mut out = [0u8; 32];
        for (i, pair) in bytes.chunks_exact(2).enumerate() {
            let hi = (pair[0] as char).to_digit(16)?;
            let lo = (pair[1] as char).to_digit(16)?;
            out[i] = (hi * 16 + lo) as u8;
        }
        Some(Self(out))
    }

    /// 64 lower-case hex digits, for storing in a database or config file.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// A hash read back from a store's binary column (the bytes [`as_bytes`](Self::as_bytes) gave).
    ///
    /// ```
    /// use tower_api_auth::api_key::{ApiKeyHasher, KeyHash};
    ///
    /// let hash = ApiKeyHasher::default().hash("a key");
    /// assert_eq!(KeyHash::from_bytes(*hash.as_bytes()), hash);
    /// ```
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The 32 bytes, for a store's binary column.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Constant-time equality.
    pub fn matches(&self, other: &KeyHash) -> bool {
        // Compared as four 64-bit words, each through subtle's constant-time `ct_eq`: no branch
        // on the data, as with `[u8]::ct_eq`, but 9 optimisation barriers (subtle's `black_box`:
        // one per word's `ct_eq`, one per `&=`, one for the start) instead of 33, one per byte —
        // some 300 instructions less per API key.
        let words = |hash: &[u8; 32]| {
            let mut words = [0u64; 4];
            for (word, bytes) in words.iter_mut().zip(hash.chunks_exact(8)) {
                *word = u64::from_ne_bytes(bytes.try_into().expect("8 bytes"));
            }
            words
        };
        let (ours, theirs) = (words(&self.0), words(&other.0));
        let mut equal = subtle::Choice::from(1);
        for (a, b) in ours.iter().zip(&theirs) {
            equal &= a.ct_eq(b);
        }
        equal.into()
    }
}

impl PartialEq for KeyHash {
    fn eq(&self, other: &Self) -> bool {
        self.matches(other)
    }
}

impl Eq for KeyHash {}

impl fmt::Debug for KeyHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeyHash(<redacted>)")
    }
}

impl Serialize for KeyHash {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for KeyHash {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let hex = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        KeyHash::from_hex(&hex)
            .ok_or_else(|| serde::de::Error::custom("a key hash is 64 hex digits"))
    }
}

/// Hashes API keys for storage and lookup.
///
/// [`ApiKeyHasher::default`] derives its hashing key from a fixed context string. With
/// [`with_pepper`](Self::with_pepper) a server-side secret goes into the derivation too, so a leaked
/// table of hashes cannot be checked against candidate keys without it. Keys hashed with one hasher
/// only verify with an equal one.
///
/// ```
/// use tower_api_auth::{api_key::ApiKeyFormat, api_key::ApiKeyHasher};
///
/// let hasher = ApiKeyHasher::default();
/// let new_key = hasher.generate(&ApiKeyFormat::default());
/// let plaintext = new_key.plaintext().to_owned(); // show it to the user once
/// assert!(hasher.hash(&plaintext).matches(&new_key.record().hash));
/// ```
#[derive(Clone)]
pub struct ApiKeyHasher {
    key: [u8; 32],
}

impl Default for ApiKeyHasher {
    fn default() -> Self {
        Self::with_pepper(b"")
    }
}

impl fmt::Debug for ApiKeyHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKeyHasher(<redacted>)")
    }
}

impl ApiKeyHasher {
    /// A hasher whose key is derived from `pepper`, a server-side secret.
    pub fn with_pepper(pepper: &[u8]) -> Self {
        Self {
            key: blake3::derive_key(CONTEXT, pepper),
        }
    }

    /// The stored hash of a whole key string.
    pub fn hash(&self, key: &str) -> KeyHash {
        KeyHash(*blake3::keyed_hash(&self.key, key.as_bytes()).as_bytes())
    }

    /// Generates a new key: the plaintext (to show once) and the record to store.
    pub fn generate(&self, format: &ApiKeyFormat) -> NewApiKey {
        let id = random_base62(ID_LEN);
        let plaintext = format.compose(&id);
        let record = KeyRecord::new(id, self.hash(&plaintext));
        NewApiKey { plaintext, record }
    }
}

/// A freshly generated key: the plaintext, shown once, and the record to store.
pub struct NewApiKey {
    plaintext: String,
    record: KeyRecord,
}

impl NewApiKey {
    /// The key to hand to its owner. It is not kept anywhere: show it once.
    pub fn plaintext(&self) -> &str {
        &self.plaintext
    }

    /// The record to store (only the hash of the key is in it).
    pub fn record(&self) -> &KeyRecord {
        &self.record
    }

    /// Edits the record before storing it (tenants, scopes, name, expiry).
    #[must_use]
    pub fn with_record(mut self, edit: impl FnOnce(KeyRecord) -> KeyRecord) -> Self {
        self.record = edit(self.record);
        self
    }

    /// The plaintext and the record.
    pub fn into_parts(self) -> (String, KeyRecord) {
        (self.plaintext, self.record)
    }
}

impl fmt::Debug for NewApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewApiKey")
            .field("plaintext", &"<redacted>")
            .field("record", &self.record)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_matches_only_itself_whatever_bit_differs() {
        let hash = ApiKeyHasher::default().hash("sk_live_abcd_0123456789");
        assert!(hash.matches(&hash));
        for byte in 0..32 {
            for bit in 0..8 {
                let mut other = hash;
                other.0[byte] ^= 1 << bit;
                assert!(!hash.matches(&other), "byte {byte} bit {bit}");
                assert!(!other.matches(&hash), "byte {byte} bit {bit}");
            }
        }
    }

    #[test]
    fn hex_round_trip_and_rejects() {
        let hash = ApiKeyHasher::default().hash("sk_live_x");
        assert_eq!(KeyHash::from_hex(&hash.to_hex()), Some(hash));
        assert!(KeyHash::from_hex("zz").is_none());
        assert!(KeyHash::from_hex(&"g".repeat(64)).is_none());
    }

    #[test]
    fn pepper_changes_the_hash() {
        let plain = ApiKeyHasher::default().hash("k");
        let peppered = ApiKeyHasher::with_pepper(b"pepper").hash("k");
        assert!(!plain.matches(&peppered));
    }

    #[test]
    fn debug_output_hides_secrets() {
        let new_key = ApiKeyHasher::default().generate(&ApiKeyFormat::default());
        let debug = format!("{new_key:?} {:?}", ApiKeyHasher::default());
        assert!(!debug.contains(new_key.plaintext()));
        assert!(!debug.contains(&new_key.record().hash.to_hex()));
    }
}
