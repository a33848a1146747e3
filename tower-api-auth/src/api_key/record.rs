//! What a store keeps about one API key.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::api_key::hash::KeyHash;
use crate::scope::Scopes;
use crate::tenant::Tenant;

/// One API key as stored: its public id, the hash of the key, and what it grants.
///
/// ```
/// use tower_api_auth::{api_key::ApiKeyHasher, api_key::KeyRecord, scope::Scopes, Tenant};
///
/// let record = KeyRecord::new("k1ABCDEFGHIJ", ApiKeyHasher::default().hash("…"))
///     .with_name("CI deploy key")
///     .with_tenants([Tenant::new("tn_demo").unwrap()])
///     .with_scopes(Scopes::parse("conversations:read").unwrap());
/// assert_eq!(record.principal(), "k1ABCDEFGHIJ");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct KeyRecord {
    /// The public key id (the `<id>` part of the key).
    pub key_id: Arc<str>,
    /// The keyed hash of the whole key.
    pub hash: KeyHash,
    /// Who acts with this key; the key id when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<Arc<str>>,
    /// A human-readable name.
    #[serde(default)]
    pub name: String,
    /// The tenants the key may act for.
    #[serde(default)]
    pub tenants: Vec<Tenant>,
    /// The scopes the key grants.
    #[serde(default)]
    pub scopes: Scopes,
    /// When the key stops working (unix seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<u64>,
    /// Revoked for good.
    #[serde(default)]
    pub revoked: bool,
    /// Switched off for now.
    #[serde(default)]
    pub disabled: bool,
    /// Free-form labels, shown to nobody by this crate.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
    /// When the key was created (unix seconds), where the store records it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<u64>,
    /// When the key last authenticated a request (unix seconds), as batched by
    /// [`KeyUsage`](crate::api_key::KeyUsage): up to one flush interval behind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_used_at: Option<u64>,
}

impl KeyRecord {
    /// A record with no tenants, no scopes and no expiry.
    pub fn new(key_id: impl Into<Arc<str>>, hash: KeyHash) -> Self {
        Self {
            key_id: key_id.into(),
            hash,
            owner: None,
            name: String::new(),
            tenants: Vec::new(),
            scopes: Scopes::empty(),
            expires_at: None,
            revoked: false,
            disabled: false,
            metadata: BTreeMap::new(),
            created_at: None,
            last_used_at: None,
        }
    }

    /// Who acts with this key: the owner, or the key id.
    pub fn principal(&self) -> &str {
        self.owner.as_deref().unwrap_or(&self.key_id)
    }

    /// Sets the owner.
    #[must_use]
    pub fn with_owner(mut self, owner: impl Into<Arc<str>>) -> Self {
        self.owner = Some(owner.into());
        self
    }

    /// Sets the name.
    #[must_use]
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Sets the tenants.
    #[must_use]
    pub fn with_tenants(mut self, tenants: impl IntoIterator<Item = Tenant>) -> Self {
        self.tenants = tenants.into_iter().collect();
        self
    }

    /// Sets the scopes.
    #[must_use]
    pub fn with_scopes(mut self, scopes: Scopes) -> Self {
        self.scopes = scopes;
        self
    }

    /// Sets the expiry (unix seconds).
    #[must_use]
    pub fn with_expires_at(mut self, unix: u64) -> Self {
        self.expires_at = Some(unix);
        self
    }

    /// Marks the key revoked.
    #[must_use]
    pub fn revoked(mut self) -> Self {
        self.revoked = true;
        self
    }

    /// Adds a metadata label.
    #[must_use]
    pub fn with_metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.metadata.insert(key.into(), value.into());
        self
    }
}
