//! Scopes granted to a credential and the scopes a route requires.
//!
//! Matching is exact and case-sensitive, as RFC 6749 §3.3 defines scope tokens; there are no
//! wildcards or hierarchies (`conversations:*` is just a scope named `conversations:*`).
//!
//! ```
//! use tower_api_auth::{scope::ScopeRequirement, scope::Scopes};
//!
//! let granted = Scopes::parse("conversations:read messages:read").unwrap();
//! assert!(ScopeRequirement::all(["conversations:read"]).is_met_by(&granted));
//! assert!(!ScopeRequirement::all(["conversations:read", "conversations:write"]).is_met_by(&granted));
//! assert!(ScopeRequirement::any(["admin", "messages:read"]).is_met_by(&granted));
//! ```

use std::fmt;
use std::sync::{Arc, LazyLock};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A set of scope tokens, kept as one space-delimited string (cheap to clone: an `Arc<str>`).
///
/// ```
/// use tower_api_auth::scope::Scopes;
///
/// let scopes = Scopes::parse("conversations:read  conversations:write").unwrap();
/// assert!(scopes.contains("conversations:write"));
/// assert_eq!(scopes.as_str(), "conversations:read conversations:write");
/// assert!(Scopes::parse("bad\"scope").is_err());
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Scopes(Arc<str>);

/// A scope string that is not a valid RFC 6749 §3.3 scope list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidScope;

impl fmt::Display for InvalidScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "scope tokens must be non-empty printable ASCII without spaces, quotes or backslashes",
        )
    }
}

impl std::error::Error for InvalidScope {}

fn is_scope_byte(b: u8) -> bool {
    matches!(b, 0x21 | 0x23..=0x5B | 0x5D..=0x7E)
}

/// Whether `list` is exactly what [`Scopes::from_tokens`] would store for it: valid tokens, each
/// once, separated by single spaces.
fn is_canonical(list: &str) -> bool {
    // Bytes, not `str::split`: a claim's few short tokens cost less scanned byte by byte than
    // searched for with `memchr` call by call.
    let tokens = || list.as_bytes().split(|&b| b == b' ');
    tokens().enumerate().all(|(index, token)| {
        !token.is_empty()
            && token.iter().all(|&b| is_scope_byte(b))
            && !tokens().take(index).any(|earlier| earlier == token)
    })
}

/// RFC 6749 §3.3: `scope-token = 1*( %x21 / %x23-5B / %x5D-7E )`.
pub(crate) fn is_scope_token(token: &str) -> bool {
    !token.is_empty() && token.bytes().all(is_scope_byte)
}

impl Scopes {
    /// No scopes. Shares one allocation process-wide, so it costs nothing per request.
    pub fn empty() -> Self {
        static EMPTY: LazyLock<Arc<str>> = LazyLock::new(|| Arc::from(""));
        Self(Arc::clone(&EMPTY))
    }

    /// Parses a space-delimited scope list (the `scope` claim). Runs of spaces are tolerated.
    pub fn parse(list: &str) -> Result<Self, InvalidScope> {
        // A list already in the stored form (one space between distinct tokens, as issuers write
        // it) is kept as it is: one allocation, where joining it anew grows a string first.
        if list.is_empty() {
            return Ok(Self::empty());
        }
        if is_canonical(list) {
            return Ok(Self(Arc::from(list)));
        }
        Self::from_tokens(list.split(' ').filter(|t| !t.is_empty()))
    }

    /// Builds a set from separate tokens (the `scp` claim). Duplicates are dropped.
    pub fn from_tokens<'a>(
        tokens: impl IntoIterator<Item = &'a str>,
    ) -> Result<Self, InvalidScope> {
        let mut joined = String::new();
        for token in tokens {
            if !is_scope_token(token) {
                return Err(InvalidScope);
            }
            if joined.split(' ').any(|t| t == token) {
                continue;
            }
            if !joined.is_empty() {
                joined.push(' ');
            }
            joined.push_str(token);
        }
        Ok(Self(Arc::from(joined)))
    }

    /// Whether `scope` is granted (exact, case-sensitive).
    pub fn contains(&self, scope: &str) -> bool {
        self.iter().any(|granted| granted == scope)
    }

    /// The granted tokens in their original order.
    pub fn iter(&self) -> impl Iterator<Item = &str> + Clone + '_ {
        self.0.split(' ').filter(|t| !t.is_empty())
    }

    /// The space-delimited form, as in a `scope` claim.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether no scope is granted.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The scopes of `self` that are also in `other` (used to narrow a grant).
    pub fn intersect(&self, other: &Scopes) -> Scopes {
        Self::from_tokens(self.iter().filter(|t| other.contains(t)))
            .unwrap_or_else(|_| Self::empty())
    }
}

impl Default for Scopes {
    fn default() -> Self {
        Self::empty()
    }
}

impl fmt::Debug for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl fmt::Display for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for Scopes {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter())
    }
}

impl<'de> Deserialize<'de> for Scopes {
    /// Accepts a space-delimited string or an array of strings.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Form {
            List(String),
            Tokens(Vec<String>),
        }
        match Form::deserialize(deserializer)? {
            Form::List(list) => Scopes::parse(&list),
            Form::Tokens(tokens) => Scopes::from_tokens(tokens.iter().map(String::as_str)),
        }
        .map_err(serde::de::Error::custom)
    }
}

/// Whether every required scope must be granted, or at least one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScopeMatch {
    /// Every listed scope is required.
    All,
    /// Any one of the listed scopes suffices.
    Any,
}

/// Whether `granted` holds all (or any) of `required`; nothing required is always met.
pub(crate) fn is_met<'a>(
    mode: ScopeMatch,
    required: impl Iterator<Item = &'a str>,
    granted: &Scopes,
) -> bool {
    let mut required = required.peekable();
    if required.peek().is_none() {
        return true;
    }
    match mode {
        ScopeMatch::All => required.into_iter().all(|s| granted.contains(s)),
        ScopeMatch::Any => required.into_iter().any(|s| granted.contains(s)),
    }
}

/// The scopes a route requires: all of them, or any one.
///
/// ```
/// use tower_api_auth::scope::{ScopeRequirement, Scopes};
///
/// let granted = Scopes::parse("conversations:read messages:read").unwrap();
/// assert!(ScopeRequirement::all(["conversations:read"]).is_met_by(&granted));
/// assert!(!ScopeRequirement::all(["conversations:read", "conversations:write"]).is_met_by(&granted));
/// assert!(ScopeRequirement::any(["admin", "messages:read"]).is_met_by(&granted));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct ScopeRequirement {
    scopes: Scopes,
    mode: ScopeMatch,
}

impl ScopeRequirement {
    /// Every scope in `scopes` is required.
    ///
    /// # Panics
    /// If a scope is not a valid RFC 6749 scope token: requirements are written by the programmer,
    /// so a typo should fail at start-up, not on a request.
    pub fn all<I, S>(scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Self::new(scopes, ScopeMatch::All)
    }

    /// At least one scope in `scopes` is required.
    ///
    /// # Panics
    /// As [`all`](Self::all).
    pub fn any<I, S>(scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Self::new(scopes, ScopeMatch::Any)
    }

    fn new<I, S>(scopes: I, mode: ScopeMatch) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let owned: Vec<S> = scopes.into_iter().collect();
        let scopes = Scopes::from_tokens(owned.iter().map(AsRef::as_ref)).unwrap_or_else(|_| {
            panic!(
                "ScopeRequirement: invalid scope token in {:?}",
                owned.iter().map(AsRef::as_ref).collect::<Vec<_>>()
            )
        });
        Self { scopes, mode }
    }

    /// Whether `granted` satisfies this requirement. An empty requirement is always met.
    pub fn is_met_by(&self, granted: &Scopes) -> bool {
        is_met(self.mode, self.scopes.iter(), granted)
    }

    /// The required scopes.
    pub fn scopes(&self) -> &Scopes {
        &self.scopes
    }

    /// All-of or any-of.
    pub fn mode(&self) -> ScopeMatch {
        self.mode
    }
}

impl fmt::Debug for ScopeRequirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScopeRequirement")
            .field("scopes", &self.scopes)
            .field("mode", &self.mode)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_tolerates_space_runs_and_drops_duplicates() {
        let scopes = Scopes::parse("  a  b a ").unwrap();
        assert_eq!(scopes.as_str(), "a b");
        assert_eq!(scopes.iter().collect::<Vec<_>>(), ["a", "b"]);
    }

    #[test]
    fn a_list_in_stored_form_is_kept_and_any_other_is_normalised() {
        for canonical in ["a", "read write", "x:1 y:2 z:3"] {
            assert_eq!(Scopes::parse(canonical).unwrap().as_str(), canonical);
        }
        for (list, stored) in [
            ("a a", "a"),
            ("a b a", "a b"),
            (" a", "a"),
            ("a ", "a"),
            ("a  b", "a b"),
            ("   ", ""),
        ] {
            assert_eq!(Scopes::parse(list).unwrap().as_str(), stored, "{list:?}");
        }
        assert!(Scopes::parse("").unwrap().is_empty());
        // The fast path checks the character set as the slow one does.
        assert_eq!(Scopes::parse("a \"b"), Err(InvalidScope));
        assert_eq!(Scopes::parse("a\tb"), Err(InvalidScope));
    }

    #[test]
    fn invalid_tokens_are_rejected() {
        assert_eq!(Scopes::from_tokens(["a b"]), Err(InvalidScope));
        assert_eq!(Scopes::from_tokens(["quo\"te"]), Err(InvalidScope));
        assert_eq!(Scopes::from_tokens([""]), Err(InvalidScope));
        assert_eq!(Scopes::parse("é"), Err(InvalidScope));
    }

    #[test]
    fn matching_is_exact_and_case_sensitive() {
        let granted = Scopes::parse("read:all Admin").unwrap();
        assert!(!granted.contains("read"));
        assert!(!granted.contains("admin"));
        assert!(granted.contains("Admin"));
        assert!(!ScopeRequirement::all(["read:*"]).is_met_by(&granted));
    }

    #[test]
    fn empty_requirement_is_met_by_anything() {
        assert!(ScopeRequirement::all(Vec::<&str>::new()).is_met_by(&Scopes::empty()));
    }

    #[test]
    fn intersect_narrows() {
        let granted = Scopes::parse("a b c").unwrap();
        let asked = Scopes::parse("c a z").unwrap();
        assert_eq!(granted.intersect(&asked).as_str(), "a c");
    }
}
