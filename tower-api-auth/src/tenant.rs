//! Tenants and the rules that tie a request's `X-Tenant-ID` to its credential.
//!
//! * With an API key the tenant header is [required](TenantRules::api_key_header) by default
//!   (`tenant_required`, 400) and must name one of the key's tenants (`tenant_forbidden`, 403).
//! * With a JWT the tenants come from a claim (string or array, `tenant_id` by default). A tenant
//!   header, when sent, must name one of them; without one, a single tenant in the claim is used.
//! * Tenant ids are checked before any use: 1 to [`max_len`](TenantRules::max_len) characters of
//!   `A-Z a-z 0-9 _ - . :` (`invalid_request`, 400).
//!
//! ```
//! use tower_api_auth::{Tenant, tenant::TenantRules};
//!
//! let rules = TenantRules::default();
//! assert_eq!(rules.parse("tn_abc123").unwrap(), Tenant::new("tn_abc123").unwrap());
//! assert!(rules.parse("tn abc").is_err());
//! ```

use std::borrow::Borrow;
use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::error::{AuthError, AuthErrorKind};

/// A validated tenant id. Cheap to clone.
///
/// With the `axum` feature it is also an extractor: it yields the request's tenant and rejects with
/// `tenant_required` when the request has none.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Tenant(Arc<str>);

/// The longest tenant id [`Tenant::new`] accepts.
pub const MAX_TENANT_LEN: usize = 128;

fn is_tenant_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':')
}

fn is_valid_tenant(id: &str, max_len: usize) -> bool {
    !id.is_empty() && id.len() <= max_len && id.bytes().all(is_tenant_byte)
}

impl Tenant {
    /// Validates `id` (1 to 128 characters of `A-Z a-z 0-9 _ - . :`).
    pub fn new(id: &str) -> Result<Self, InvalidTenant> {
        if is_valid_tenant(id, MAX_TENANT_LEN) {
            Ok(Self(Arc::from(id)))
        } else {
            Err(InvalidTenant)
        }
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for Tenant {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let id = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Tenant::new(&id).map_err(serde::de::Error::custom)
    }
}

impl Borrow<str> for Tenant {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Tenant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for Tenant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A string that is not a valid tenant id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidTenant;

impl fmt::Display for InvalidTenant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "a tenant id is 1 to {MAX_TENANT_LEN} characters of A-Z a-z 0-9 _ - . :"
        )
    }
}

impl std::error::Error for InvalidTenant {}

/// Whether a request must name its tenant in the tenant header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TenantHeader {
    /// The header must be present (`tenant_required` otherwise).
    Required,
    /// The header may be absent; the credential's single tenant is then used, if it has exactly one.
    Optional,
}

/// The tenant rules of a layer: whether a request must name its tenant, and how long an id may be.
///
/// ```
/// use tower_api_auth::tenant::{TenantHeader, TenantRules};
/// use tower_api_auth::{AuthErrorKind, Tenant};
///
/// let mut rules = TenantRules::default();
/// rules.jwt_header = TenantHeader::Required; // JWT requests too must send X-Tenant-ID
/// assert_eq!(rules.parse("tn_demo").unwrap(), Tenant::new("tn_demo").unwrap());
/// assert_eq!(rules.parse("no spaces").unwrap_err().kind(), AuthErrorKind::InvalidRequest);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TenantRules {
    /// Whether API-key requests must send the tenant header. Default: required.
    pub api_key_header: TenantHeader,
    /// Whether JWT requests must send the tenant header. Default: optional.
    pub jwt_header: TenantHeader,
    /// The longest tenant id accepted from a request (at most 128). Default: 64.
    pub max_len: usize,
}

impl Default for TenantRules {
    fn default() -> Self {
        Self {
            api_key_header: TenantHeader::Required,
            jwt_header: TenantHeader::Optional,
            max_len: 64,
        }
    }
}

impl TenantRules {
    /// Validates a tenant id taken from a request.
    pub fn parse(&self, id: &str) -> Result<Tenant, AuthError> {
        if is_valid_tenant(id, self.max_len.min(MAX_TENANT_LEN)) {
            Ok(Tenant(Arc::from(id)))
        } else {
            Err(AuthError::new(AuthErrorKind::InvalidRequest)
                .with_message("The X-Tenant-ID header is not a valid tenant id"))
        }
    }

    /// Picks the request's tenant among the credential's `allowed` tenants.
    ///
    /// `requested` is the raw tenant header. The answer borrows one of `allowed`, so an accepted
    /// tenant reuses the credential's own `Tenant` (no allocation).
    pub(crate) fn select<'t>(
        &self,
        requested: Option<&str>,
        allowed: &'t [Tenant],
        requirement: TenantHeader,
    ) -> Result<Option<&'t Tenant>, AuthError> {
        match requested {
            Some(raw) => {
                let tenant_ok = is_valid_tenant(raw, self.max_len.min(MAX_TENANT_LEN));
                if !tenant_ok {
                    return Err(self.parse(raw).unwrap_err());
                }
                allowed
                    .iter()
                    .find(|t| t.as_str() == raw)
                    .map(Some)
                    .ok_or_else(|| AuthError::new(AuthErrorKind::TenantForbidden))
            }
            None if requirement == TenantHeader::Required => {
                Err(AuthError::new(AuthErrorKind::TenantRequired))
            }
            None => Ok(match allowed {
                [only] => Some(only),
                _ => None,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenants(ids: &[&str]) -> Vec<Tenant> {
        ids.iter().map(|id| Tenant::new(id).unwrap()).collect()
    }

    #[test]
    fn tenant_ids_are_validated() {
        assert!(Tenant::new("tn_abc-1.2:3").is_ok());
        for bad in ["", "a b", "tn/1", "ü", &"x".repeat(129)] {
            assert_eq!(Tenant::new(bad), Err(InvalidTenant), "{bad:?}");
        }
    }

    #[test]
    fn select_applies_the_rules() {
        let rules = TenantRules::default();
        let allowed = tenants(&["tn_a", "tn_b"]);
        let pick = |req, requirement| rules.select(req, &allowed, requirement);
        assert_eq!(
            pick(Some("tn_b"), TenantHeader::Required)
                .unwrap()
                .unwrap()
                .as_str(),
            "tn_b"
        );
        assert_eq!(
            pick(Some("tn_c"), TenantHeader::Required)
                .unwrap_err()
                .kind(),
            AuthErrorKind::TenantForbidden
        );
        assert_eq!(
            pick(None, TenantHeader::Required).unwrap_err().kind(),
            AuthErrorKind::TenantRequired
        );
        assert_eq!(pick(None, TenantHeader::Optional).unwrap(), None);
        assert_eq!(
            pick(Some("bad id"), TenantHeader::Optional)
                .unwrap_err()
                .kind(),
            AuthErrorKind::InvalidRequest
        );
        let single = tenants(&["tn_only"]);
        assert_eq!(
            rules
                .select(None, &single, TenantHeader::Optional)
                .unwrap()
                .unwrap()
                .as_str(),
            "tn_only"
        );
    }

    #[test]
    fn max_len_is_enforced() {
        let rules = TenantRules {
            max_len: 4,
            ..TenantRules::default()
        };
        assert!(rules.parse("abcd").is_ok());
        assert_eq!(
            rules.parse("abcde").unwrap_err().kind(),
            AuthErrorKind::InvalidRequest
        );
    }
}
