//! What a valid token says, owned, as the validator hands it to the authenticator and the cache.

use std::ops::Deref;
use std::sync::Arc;

use crate::identity::{Identity, Parts};
use crate::tenant::Tenant;

/// The facts of a token that passed every check.
pub(crate) struct VerifiedJwt {
    /// What the token says of its holder, shared with every identity built from it.
    pub(crate) facts: Arc<Parts>,
    pub(crate) tenants: Vec<Tenant>,
    pub(crate) expires_at: u64,
    /// The later of `nbf` and `iat`: before it (less leeway) the token is not valid.
    pub(crate) not_before: Option<i64>,
    /// The [`JwtKey::id`](crate::jwt::JwtKey) of the key that verified it.
    pub(crate) key: u64,
}

impl VerifiedJwt {
    /// Keeps the token's decoded `payload` in its facts, for
    /// [`Identity::decode_claims`](crate::Identity::decode_claims). Called on a token just
    /// verified, whose facts nothing shares yet.
    pub(crate) fn with_payload(mut self, payload: String) -> Self {
        if let Some(facts) = Arc::get_mut(&mut self.facts) {
            facts.payload = Some(payload);
        }
        self
    }

    /// The payload's size, for the token cache's accounting.
    pub(crate) fn payload_len(&self) -> usize {
        self.facts.payload.as_ref().map_or(0, String::len)
    }

    /// The identity of this token, acting for `tenant`: no allocation.
    pub(crate) fn identity(&self, tenant: Option<Tenant>) -> Identity {
        Identity::shared(Arc::clone(&self.facts), tenant)
    }
}

/// A verified token as the validator answers it: shared with the token cache that now holds it
/// too, or the caller's alone when there is no cache (then sharing it would cost an allocation
/// per verification for nothing).
pub(crate) enum Verified {
    Shared(Arc<VerifiedJwt>),
    Alone(VerifiedJwt),
}

impl Deref for Verified {
    type Target = VerifiedJwt;

    fn deref(&self) -> &VerifiedJwt {
        match self {
            Self::Shared(verified) => verified,
            Self::Alone(verified) => verified,
        }
    }
}
