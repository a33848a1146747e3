//! [`KeysError`]: why the key ring could not load, open, make or store a key.

use std::fmt;

/// Why the key ring failed: the store did not answer, a stored key would not open (another
/// fleet secret sealed it), a setting is out of range. Never holds key material.
#[derive(Debug, Clone)]
pub struct KeysError(String);

impl KeysError {
    /// An error with `message`.
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

impl fmt::Display for KeysError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "signing keys: {}", self.0)
    }
}

impl std::error::Error for KeysError {}
