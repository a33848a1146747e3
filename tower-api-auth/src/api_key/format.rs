//! The API key format: `<prefix>_<id>_<secret><checksum>`.
//!
//! * `prefix` names the kind of key (`sk_live`, `sk_test`); it lets secret scanners find leaked keys
//!   and lets a Bearer token be recognised as an API key rather than a JWT.
//! * `id` (12 base62 characters) is public: it is what a store looks a key up by.
//! * `secret` (32 base62 characters, about 190 bits) is the part only the holder knows.
//! * `checksum` (6 base62 characters) is a CRC-32 of everything before it, so a mistyped or truncated
//!   key is refused without a store lookup.

use std::fmt;
use std::sync::Arc;

use crate::error::{AuthError, AuthErrorKind};
use crate::random::random_base62;

/// Length of a generated key id.
pub(crate) const ID_LEN: usize = 12;
/// Length of the secret part.
pub(crate) const SECRET_LEN: usize = 32;
/// Length of the checksum.
pub(crate) const CHECKSUM_LEN: usize = 6;
const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// The key format of a deployment: its prefix.
///
/// ```
/// use tower_api_auth::api_key::ApiKeyFormat;
///
/// let format = ApiKeyFormat::new("sk_live").unwrap();
/// let key = format.generate_plaintext();
/// let parsed = format.parse(&key).unwrap();
/// assert!(key.starts_with("sk_live_"));
/// assert_eq!(parsed.key_id().len(), 12);
///
/// // One changed character breaks the checksum: refused before any lookup.
/// let mut typo = key.clone().into_bytes();
/// let last = typo.len() - 10;
/// typo[last] = if typo[last] == b'a' { b'b' } else { b'a' };
/// assert!(format.parse(std::str::from_utf8(&typo).unwrap()).is_err());
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKeyFormat {
    prefix: Arc<str>,
}

/// A prefix that cannot start a key: 1 to 32 characters of `a-z 0-9 _`, not starting or ending with `_`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidPrefix;

impl fmt::Display for InvalidPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "an API key prefix is 1 to 32 characters of a-z 0-9 _, not starting or ending with _",
        )
    }
}

impl std::error::Error for InvalidPrefix {}

/// A string that is not a well-formed key of this format (wrong prefix, shape or checksum).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MalformedKey;

/// A well-formed key, split into its parts. Borrowed from the presented string.
#[derive(Clone, Copy)]
pub struct ParsedKey<'a> {
    key: &'a str,
    id: &'a str,
}

impl<'a> ParsedKey<'a> {
    /// The public key id.
    pub fn key_id(&self) -> &'a str {
        self.id
    }

    /// The whole key, as hashed for storage.
    pub(crate) fn full(&self) -> &'a str {
        self.key
    }
}

impl fmt::Debug for ParsedKey<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ParsedKey")
            .field("key_id", &self.id)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for ApiKeyFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKeyFormat")
            .field("prefix", &self.prefix)
            .finish()
    }
}

impl Default for ApiKeyFormat {
    /// The prefix `sk_live`.
    fn default() -> Self {
        Self {
            prefix: Arc::from("sk_live"),
        }
    }
}

fn checksum(body: &str) -> [u8; CHECKSUM_LEN] {
    let mut n = crc32fast::hash(body.as_bytes());
    let mut out = [b'0'; CHECKSUM_LEN];
    for slot in out.iter_mut().rev() {
        *slot = BASE62[(n % 62) as usize];
        n /= 62;
    }
    out
}

/// The value of each base62 digit, by byte; [`NOT_BASE62`] for any other byte.
const BASE62_VALUE: [u8; 256] = {
    let mut table = [NOT_BASE62; 256];
    let mut digit = 0;
    while digit < BASE62.len() {
        table[BASE62[digit] as usize] = digit as u8;
        digit += 1;
    }
    table
};
const NOT_BASE62: u8 = u8::MAX;

/// Whether `sum` is the [`checksum`] of `body`. The presented digits are read as a number and
/// compared with the CRC, rather than the CRC written out as digits and compared with them: six
/// multiply-adds instead of six divisions, some 80 instructions less on every API-key request.
/// The same answer: six digits hold any CRC-32 (62^6 > 2^32), so each has one spelling.
fn checksum_matches(body: &str, sum: &[u8; CHECKSUM_LEN]) -> bool {
    let mut presented: u64 = 0;
    for &byte in sum {
        let digit = BASE62_VALUE[byte as usize];
        if digit == NOT_BASE62 {
            return false;
        }
        presented = presented * 62 + u64::from(digit);
    }
    presented == u64::from(crc32fast::hash(body.as_bytes()))
}

fn is_base62(s: &str) -> bool {
    // No early exit: the compiler checks many bytes per instruction, and every key pays for this.
    s.bytes().fold(true, |ok, b| ok & b.is_ascii_alphanumeric())
}

impl ApiKeyFormat {
    /// A format with `prefix` (e.g. `sk_live`).
    pub fn new(prefix: &str) -> Result<Self, InvalidPrefix> {
        let valid = (1..=32).contains(&prefix.len())
            && !prefix.starts_with('_')
            && !prefix.ends_with('_')
            && prefix
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if valid {
            Ok(Self {
                prefix: Arc::from(prefix),
            })
        } else {
            Err(InvalidPrefix)
        }
    }

    /// The prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Whether `token` starts like a key of this format (`<prefix>_`), so it is not a JWT.
    pub fn claims(&self, token: &str) -> bool {
        self.claims_bytes(token.as_bytes())
    }

    /// [`claims`](Self::claims) of a token not yet known to be UTF-8.
    pub(crate) fn claims_bytes(&self, token: &[u8]) -> bool {
        token
            .strip_prefix(self.prefix.as_bytes())
            .is_some_and(|rest| rest.first() == Some(&b'_'))
    }

    /// Splits a presented key and checks its shape and checksum. Allocates nothing.
    pub fn parse<'a>(&self, key: &'a str) -> Result<ParsedKey<'a>, MalformedKey> {
        if !self.claims(key) {
            return Err(MalformedKey);
        }
        let rest = &key[self.prefix.len() + 1..];
        // memchr rather than `split_once`, whose generic search costs some 60 instructions more
        // on a key's dozen bytes.
        let underscore = memchr::memchr(b'_', rest.as_bytes()).ok_or(MalformedKey)?;
        let (id, tail) = (&rest[..underscore], &rest[underscore + 1..]);
        if !(4..=64).contains(&id.len()) || !is_base62(id) {
            return Err(MalformedKey);
        }
        if tail.len() != SECRET_LEN + CHECKSUM_LEN || !is_base62(tail) {
            return Err(MalformedKey);
        }
        let (body, sum) = key.split_at(key.len() - CHECKSUM_LEN);
        let sum = sum.as_bytes().try_into().map_err(|_| MalformedKey)?;
        if !checksum_matches(body, sum) {
            return Err(MalformedKey);
        }
        Ok(ParsedKey { key, id })
    }

    /// What to tell a client whose key is not of this format: the prefix this service's keys
    /// start with (public: every key shows it), never anything of the key presented.
    pub(crate) fn foreign_key_error(&self) -> AuthError {
        AuthError::new(AuthErrorKind::InvalidApiKey).with_message(format!(
            "The API key is not one of this service's: its keys start with {}_",
            self.prefix
        ))
    }

    /// A new random key's plaintext. Most callers want [`ApiKeyHasher::generate`](crate::api_key::ApiKeyHasher::generate),
    /// which also returns the record to store.
    pub fn generate_plaintext(&self) -> String {
        self.compose(&random_base62(ID_LEN))
    }

    /// A new key with a chosen public id (4 to 64 base62 characters).
    pub(crate) fn compose(&self, id: &str) -> String {
        let mut key =
            String::with_capacity(self.prefix.len() + id.len() + 2 + SECRET_LEN + CHECKSUM_LEN);
        key.push_str(&self.prefix);
        key.push('_');
        key.push_str(id);
        key.push('_');
        key.push_str(&random_base62(SECRET_LEN));
        let sum = checksum(&key);
        key.extend(sum.iter().map(|&b| b as char));
        key
    }
}

/// Whether `token` is a key of this crate's format under any prefix, checksum included:
/// `<prefix>_<id>_<secret><checksum>`. Such a token is an API key beyond reasonable doubt (a
/// random string passes the checksum once in 2^32), so it is never taken for a JWT or sent to an
/// introspection endpoint, whichever prefix it has.
pub(crate) fn is_key_of_any_prefix(token: &[u8]) -> bool {
    let Some((head, tail)) = split_last(token) else {
        return false;
    };
    let Some((prefix, id)) = split_last(head) else {
        return false;
    };
    let base62 = |s: &[u8]| s.iter().all(u8::is_ascii_alphanumeric);
    let prefix_ok = std::str::from_utf8(prefix).is_ok_and(|p| ApiKeyFormat::new(p).is_ok());
    if !prefix_ok || !(4..=64).contains(&id.len()) || !base62(id) {
        return false;
    }
    if tail.len() != SECRET_LEN + CHECKSUM_LEN || !base62(tail) {
        return false;
    }
    let (body, sum) = token.split_at(token.len() - CHECKSUM_LEN);
    // All ASCII by now.
    std::str::from_utf8(body).is_ok_and(|body| checksum(body).as_slice() == sum)
}

/// `s` split at its last `_`.
fn split_last(s: &[u8]) -> Option<(&[u8], &[u8])> {
    let at = s.iter().rposition(|&b| b == b'_')?;
    Some((&s[..at], &s[at + 1..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_are_validated() {
        assert!(ApiKeyFormat::new("sk_live").is_ok());
        assert!(ApiKeyFormat::new("pk").is_ok());
        for bad in ["", "_sk", "sk_", "SK", "sk-live", &"a".repeat(33)] {
            assert_eq!(ApiKeyFormat::new(bad), Err(InvalidPrefix), "{bad:?}");
        }
    }

    #[test]
    fn reading_the_checksum_digits_agrees_with_writing_the_crc_out() {
        let format = ApiKeyFormat::new("sk_test").unwrap();
        for _ in 0..2_000 {
            let key = format.generate_plaintext();
            let (body, sum) = key.split_at(key.len() - CHECKSUM_LEN);
            let sum: &[u8; CHECKSUM_LEN] = sum.as_bytes().try_into().unwrap();
            assert_eq!(&checksum(body), sum);
            assert!(checksum_matches(body, sum), "{key}");
            // Every other digit in every place is refused, and so is any byte not a digit.
            for place in 0..CHECKSUM_LEN {
                for &other in BASE62.iter().chain(b"_-+/= \0\xff") {
                    if other == sum[place] {
                        continue;
                    }
                    let mut changed = *sum;
                    changed[place] = other;
                    assert!(!checksum_matches(body, &changed), "{key} at {place}");
                }
            }
        }
        // The largest CRC still fits six digits, and the largest six digits are no CRC.
        assert!(62u64.pow(6) > u64::from(u32::MAX));
        assert!(!checksum_matches("x", b"zzzzzz"));
    }

    #[test]
    fn generated_keys_parse_and_other_shapes_do_not() {
        let format = ApiKeyFormat::new("sk_test").unwrap();
        let key = format.generate_plaintext();
        assert_eq!(
            key.len(),
            "sk_test_".len() + ID_LEN + 1 + SECRET_LEN + CHECKSUM_LEN
        );
        assert!(format.parse(&key).is_ok());
        assert!(
            ApiKeyFormat::default().parse(&key).is_err(),
            "another prefix"
        );
        assert!(format.parse(&key[..key.len() - 1]).is_err(), "truncated");
        assert!(format.parse(&format!("{key}x")).is_err(), "extended");
        assert!(format.parse("sk_test_abc").is_err());
        assert!(format.parse("eyJhbGciOiJIUzI1NiJ9.e30.sig").is_err());
    }

    #[test]
    fn keys_of_any_prefix_are_recognised_by_shape_and_checksum() {
        for prefix in ["sk_live", "rag_live", "pk", "a_b_c"] {
            let key = ApiKeyFormat::new(prefix).unwrap().generate_plaintext();
            assert!(is_key_of_any_prefix(key.as_bytes()), "{key}");
            let mut typo = key.clone().into_bytes();
            let at = typo.len() - 10;
            typo[at] = if typo[at] == b'a' { b'b' } else { b'a' };
            assert!(!is_key_of_any_prefix(&typo), "checksum");
            assert!(!is_key_of_any_prefix(&key.as_bytes()[1..]), "truncated");
        }
        for other in [
            "eyJhbGciOiJIUzI1NiJ9.e30.sig",
            "opaque-token-from-an-idp",
            "gho_16C7e42F292c6912E7710c838347Ae178B4a",
            "_abcd_0123456789abcdefghijklmnopqrstuvwxyzAB",
            "",
        ] {
            assert!(!is_key_of_any_prefix(other.as_bytes()), "{other}");
        }
    }

    #[test]
    fn claims_needs_the_separator() {
        let format = ApiKeyFormat::new("sk").unwrap();
        assert!(format.claims("sk_x"));
        assert!(!format.claims("skx_"));
        assert!(!format.claims("sk"));
    }
}
