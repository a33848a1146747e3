//! [`LimitKey`]: whose quota a request spends.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use crate::tenant::Tenant;

/// One part of a [`LimitKey`]: an attribute of the caller that a quota is counted by.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeyPart {
    /// The authenticated principal ([`Identity::principal`](crate::Identity::principal)).
    Principal(Arc<str>),
    /// The tenant the request acts for.
    Tenant(Tenant),
    /// The API key behind the request ([`Identity::api_key_id`](crate::Identity::api_key_id)).
    ApiKey(Arc<str>),
    /// The OAuth client ([`Identity::client_id`](crate::Identity::client_id)).
    Client(Arc<str>),
    /// The client's IP address.
    Ip(IpAddr),
    /// The username a login named (failed-login throttling).
    Username(Arc<str>),
}

impl KeyPart {
    fn value(&self) -> PartValue<'_> {
        match self {
            Self::Principal(value)
            | Self::ApiKey(value)
            | Self::Client(value)
            | Self::Username(value) => PartValue::Str(value),
            Self::Tenant(tenant) => PartValue::Str(tenant.as_str()),
            Self::Ip(ip) => PartValue::Ip(*ip),
        }
    }

    /// The part's one-letter tag in [`LimitKey`]'s text form.
    pub(super) fn tag(&self) -> char {
        match self {
            Self::Principal(_) => 'p',
            Self::Tenant(_) => 't',
            Self::ApiKey(_) => 'k',
            Self::Client(_) => 'c',
            Self::Ip(_) => 'i',
            Self::Username(_) => 'u',
        }
    }
}

/// The most parts a key combines (tenant, API key and principal, say).
pub const MAX_KEY_PARTS: usize = 3;

/// Whose quota a request spends: the policy's name and the caller's attributes it counts by.
///
/// Built by the rate-limit layer from the [`Identity`](crate::Identity); a
/// [`RateLimitBackend`](super::RateLimitBackend) stores one counter per key. Building one does
/// not allocate (the parts share the identity's strings). Its [`Display`](fmt::Display) form is
/// unambiguous — `<policy>|<tag>=<value>…`, with `%`, `|` and the hash-tag braces in values
/// percent-encoded — so a remote store can use it as its key.
///
/// ```
/// use std::sync::Arc;
/// use tower_api_auth::Tenant;
/// use tower_api_auth::rate_limit::{KeyPart, LimitKey};
///
/// let key = LimitKey::new(
///     "hourly",
///     [KeyPart::Tenant(Tenant::new("acme")?), KeyPart::Principal(Arc::from("bob|x"))],
/// );
/// assert_eq!(key.to_string(), "hourly|t=acme|p=bob%7Cx");
/// assert_eq!(key.parts().count(), 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LimitKey {
    policy: Arc<str>,
    parts: [Option<KeyPart>; MAX_KEY_PARTS],
}

// By hand: the hash covers the parts only (each counter holds one policy's keys), in the form
// `hash_part` writes, which the layer also writes straight from an identity without building a
// key (see `LocalLimiter`).
impl std::hash::Hash for LimitKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        for part in self.parts() {
            hash_part(state, part.tag(), part.value());
        }
    }
}

/// A part's value, borrowed.
#[derive(Clone, Copy)]
pub(super) enum PartValue<'a> {
    Str(&'a str),
    Ip(IpAddr),
}

/// Writes one part: its length and tag in one word, then its value (the length makes `("ab")`
/// and `("a", "b")` differ; one word rather than two writes saves a hash round per part).
pub(super) fn hash_part(state: &mut impl std::hash::Hasher, tag: char, value: PartValue<'_>) {
    let bytes: &[u8] = match &value {
        PartValue::Str(text) => text.as_bytes(),
        PartValue::Ip(IpAddr::V4(ip)) => &ip.octets(),
        PartValue::Ip(IpAddr::V6(ip)) => &ip.octets(),
    };
    state.write_u64(((bytes.len() as u64) << 8) | u64::from(tag as u8));
    state.write(bytes);
}

impl LimitKey {
    /// The key of `policy` for `parts`; parts beyond [`MAX_KEY_PARTS`] are ignored.
    pub fn new(policy: impl Into<Arc<str>>, parts: impl IntoIterator<Item = KeyPart>) -> Self {
        let mut slots: [Option<KeyPart>; MAX_KEY_PARTS] = Default::default();
        for (slot, part) in slots.iter_mut().zip(parts) {
            *slot = Some(part);
        }
        Self {
            policy: policy.into(),
            parts: slots,
        }
    }

    /// A key from parts already in slots (the layer's allocation-free path).
    pub(crate) fn from_slots(policy: Arc<str>, parts: [Option<KeyPart>; MAX_KEY_PARTS]) -> Self {
        Self { policy, parts }
    }

    /// The name of the policy whose quota this is.
    pub fn policy(&self) -> &str {
        &self.policy
    }

    /// The caller's attributes the quota counts by, in the policy's order.
    pub fn parts(&self) -> impl Iterator<Item = &KeyPart> {
        self.parts.iter().flatten()
    }
}

impl fmt::Display for LimitKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        escaped(f, &self.policy)?;
        for part in self.parts() {
            write!(f, "|{}=", part.tag())?;
            match part {
                KeyPart::Principal(value)
                | KeyPart::ApiKey(value)
                | KeyPart::Client(value)
                | KeyPart::Username(value) => escaped(f, value)?,
                KeyPart::Tenant(tenant) => escaped(f, tenant.as_str())?,
                KeyPart::Ip(ip) => write!(f, "{ip}")?,
            }
        }
        Ok(())
    }
}

/// Writes `value` with the characters that would make the text form ambiguous (`|`, `=` and
/// `%`) or break a Redis Cluster hash tag (`{`, `}`) percent-encoded.
fn escaped(f: &mut fmt::Formatter<'_>, value: &str) -> fmt::Result {
    let mut rest = value;
    while let Some(at) = rest.find(['%', '|', '=', '{', '}']) {
        f.write_str(&rest[..at])?;
        write!(f, "%{:02X}", rest.as_bytes()[at])?;
        rest = &rest[at + 1..];
    }
    f.write_str(rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_form_never_makes_two_keys_one() {
        let principal = |value: &str| KeyPart::Principal(Arc::from(value));
        let keys = [
            LimitKey::new("p", [principal("a|p=b")]),
            LimitKey::new("p", [principal("a"), principal("b")]),
            LimitKey::new("p|p=a", [principal("b")]),
            LimitKey::new("p", [KeyPart::ApiKey(Arc::from("a"))]),
            LimitKey::new("p", [principal("a%7Cp=b")]),
            LimitKey::new("p", [principal("{a}")]),
        ];
        let texts: std::collections::HashSet<String> =
            keys.iter().map(ToString::to_string).collect();
        assert_eq!(texts.len(), keys.len(), "{texts:?}");
        assert_eq!(
            keys[5].to_string(),
            "p|p=%7Ba%7D",
            "no brace reaches a Redis hash tag"
        );
        let ip = LimitKey::new("anon", [KeyPart::Ip("2001:db8::1".parse().unwrap())]);
        assert_eq!(ip.to_string(), "anon|i=2001:db8::1");
    }
}
