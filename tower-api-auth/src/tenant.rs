//! Tenants and the rules that tie a request's `X-Tenant-ID` to its credential.
//!
//! One rule for every kind of credential (API key, JWT, opaque token), by the tenants it is bound
//! to: an API key's tenants, or a token's tenant claim (string or array, `tenant_id` by default).
//!
//! | credential bound to | without `X-Tenant-ID` | with `X-Tenant-ID` |
//! | --- | --- | --- |
//! | no tenant | accepted, acting for no tenant | `tenant_forbidden` (403): it may act for none |
//! | one tenant | acts for it | must name it (`tenant_forbidden` otherwise) |
//! | several | `tenant_required` (400): which one? | must name one of them |
//!
//! [`TenantHeader::Always`] makes the header required for every tenant-bound credential, even
//! one bound to a single tenant; a credential bound to no tenant still needs none.
//!
//! Tenant ids are checked before any use: 1 to [`max_len`](TenantRules::max_len) characters of
//! `A-Z a-z 0-9 _ - . :` (`invalid_request`, 400).
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
/// `tenant_forbidden` when the request has none (its credential is bound to no tenant).
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

/// When a request must name its tenant in the tenant header.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TenantHeader {
    /// Only to choose among several tenants (the default): a credential bound to one tenant acts
    /// for it without the header, one bound to several must name one (`tenant_required`).
    #[default]
    WhenAmbiguous,
    /// Always, for a tenant-bound credential: even one bound to a single tenant must name it
    /// (`tenant_required` otherwise), so that every request says which tenant it acts for.
    Always,
}

/// The tenant rules of a layer: when a request must name its tenant, and how long an id may be.
/// The same rules hold for API keys, JWTs and opaque tokens (see [the module](self)).
///
/// ```
/// use tower_api_auth::tenant::{TenantHeader, TenantRules};
/// use tower_api_auth::{AuthErrorKind, Tenant};
///
/// let mut rules = TenantRules::default();
/// rules.header = TenantHeader::Always; // every tenant-bound request must send X-Tenant-ID
/// assert_eq!(rules.parse("tn_demo").unwrap(), Tenant::new("tn_demo").unwrap());
/// assert_eq!(rules.parse("no spaces").unwrap_err().kind(), AuthErrorKind::InvalidRequest);
///
/// // In a configuration file: `[tenants]` with `header = "always"`.
/// let from_file: TenantRules = serde_json::from_str(r#"{"header":"always"}"#).unwrap();
/// assert_eq!(from_file, rules);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TenantRules {
    /// When the tenant header is required. Default: [`TenantHeader::WhenAmbiguous`].
    pub header: TenantHeader,
    /// The longest tenant id accepted from a request (at most 128). Default: 64.
    pub max_len: usize,
}

impl Default for TenantRules {
    fn default() -> Self {
        Self {
            header: TenantHeader::WhenAmbiguous,
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

    /// Picks the request's tenant among the credential's `allowed` tenants, by the rule of
    /// [the module](self).
    ///
    /// `requested` is the raw tenant header. The answer borrows one of `allowed`, so an accepted
    /// tenant reuses the credential's own `Tenant` (no allocation).
    pub(crate) fn select<'t>(
        &self,
        requested: Option<&str>,
        allowed: &'t [Tenant],
    ) -> Result<Option<&'t Tenant>, AuthError> {
        let Some(raw) = requested else {
            return match (allowed, self.header) {
                ([], _) => Ok(None),
                ([only], TenantHeader::WhenAmbiguous) => Ok(Some(only)),
                _ => Err(AuthError::new(AuthErrorKind::TenantRequired)),
            };
        };
        if !is_valid_tenant(raw, self.max_len.min(MAX_TENANT_LEN)) {
            return Err(self.parse(raw).unwrap_err());
        }
        if allowed.is_empty() {
            // A tenant asked of a credential bound to none: refused rather than ignored, so
            // that a client never believes it acts for a tenant it does not.
            return Err(AuthError::new(AuthErrorKind::TenantForbidden)
                .with_message("The credential is bound to no tenant"));
        }
        allowed
            .iter()
            .find(|t| t.as_str() == raw)
            .map(Some)
            .ok_or_else(|| AuthError::new(AuthErrorKind::TenantForbidden))
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
    fn select_applies_one_rule_by_the_number_of_tenants() {
        let pick = |header, requested, allowed: &[&str]| {
            let rules = TenantRules {
                header,
                ..TenantRules::default()
            };
            let allowed = tenants(allowed);
            rules
                .select(requested, &allowed)
                .map(|t| t.map(|t| t.as_str().to_owned()))
                .map_err(|e| e.kind())
        };
        use AuthErrorKind::{InvalidRequest, TenantForbidden, TenantRequired};
        use TenantHeader::{Always, WhenAmbiguous};
        for header in [WhenAmbiguous, Always] {
            // Bound to none: no header needed, and none may be named.
            assert_eq!(pick(header, None, &[]), Ok(None));
            assert_eq!(pick(header, Some("tn_a"), &[]), Err(TenantForbidden));
            // Bound to several: the header picks one of them, and is needed.
            let several = ["tn_a", "tn_b"];
            assert_eq!(
                pick(header, Some("tn_b"), &several),
                Ok(Some("tn_b".into()))
            );
            assert_eq!(pick(header, Some("tn_c"), &several), Err(TenantForbidden));
            assert_eq!(pick(header, None, &several), Err(TenantRequired));
            // A named tenant must match the one.
            assert_eq!(
                pick(header, Some("tn_a"), &["tn_a"]),
                Ok(Some("tn_a".into()))
            );
            assert_eq!(pick(header, Some("tn_b"), &["tn_a"]), Err(TenantForbidden));
            assert_eq!(pick(header, Some("bad id"), &["tn_a"]), Err(InvalidRequest));
        }
        // Bound to one: used by default, unless the header is always required.
        assert_eq!(
            pick(WhenAmbiguous, None, &["tn_a"]),
            Ok(Some("tn_a".into()))
        );
        assert_eq!(pick(Always, None, &["tn_a"]), Err(TenantRequired));
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
