//! The refresh token's format: `rt_<family>_<generation>_<secret>`.
//!
//! * `family` (22 base62 characters, about 131 bits) names the session without being its public
//!   id: the session id is derived from it one way, so knowing a session id (it is in every access
//!   token) does not let anyone shape a token of that session.
//! * `generation` (decimal) counts the session's rotations, from 0.
//! * `secret` (43 base62 characters, about 256 bits) is what makes the token unguessable.
//!
//! Only a BLAKE3 hash of the whole token is stored, and only the session's current one.

use crate::crypto::random_secret;
use crate::store::{RefreshTokenHash, SealedToken};

const HASH_CONTEXT: &str = "tower-api-auth 2026-11 refresh token hash v1";

const SESSION_CONTEXT: &str = "tower-api-auth 2026-11 session id of a refresh family v1";

const SEAL_CONTEXT: &str = "tower-api-auth 2026-11 refresh successor seal v1";

const PREFIX: &str = "rt_";

const FAMILY_LEN: usize = 22;

pub(crate) const SECRET_LEN: usize = SealedToken::LEN;

/// `u64::MAX` has 20 digits.
const MAX_GENERATION_DIGITS: usize = 20;

/// The stored forms of refresh tokens are the issuer's to make: it knows the format.
impl RefreshTokenHash {
    /// Hashes a presented token; `None` when it is not shaped like one of ours (no store lookup).
    pub fn of(token: &str) -> Option<Self> {
        RefreshToken::parse(token).map(|parsed| parsed.hash)
    }

    /// The hash of a whole token, shaped like one of ours or not.
    pub(crate) fn hash(token: &str) -> Self {
        Self::from_bytes(
            *blake3::Hasher::new_derive_key(HASH_CONTEXT)
                .update(token.as_bytes())
                .finalize()
                .as_bytes(),
        )
    }
}

/// The one-time pad of the successor of `token`: a BLAKE3 XOF keyed by the whole token.
fn pad(token: &str) -> [u8; SECRET_LEN] {
    let mut pad = [0u8; SECRET_LEN];
    blake3::Hasher::new_derive_key(SEAL_CONTEXT)
        .update(token.as_bytes())
        .finalize_xof()
        .fill(&mut pad);
    pad
}

fn xor(a: &[u8; SECRET_LEN], b: &[u8; SECRET_LEN]) -> [u8; SECRET_LEN] {
    std::array::from_fn(|i| a[i] ^ b[i])
}

/// A presented refresh token, parsed.
#[derive(Clone, Copy)]
pub(crate) struct RefreshToken<'a> {
    pub(crate) token: &'a str,
    family: &'a str,
    pub(crate) generation: u64,
    pub(crate) hash: RefreshTokenHash,
}

impl<'a> RefreshToken<'a> {
    /// `None` when `token` is not shaped like one of ours.
    pub(crate) fn parse(token: &'a str) -> Option<Self> {
        let rest = token.strip_prefix(PREFIX)?;
        let (family, rest) = rest.split_at_checked(FAMILY_LEN)?;
        let (generation, secret) = rest.strip_prefix('_')?.split_once('_')?;
        let base62 = |s: &str| s.bytes().all(|b| b.is_ascii_alphanumeric());
        let canonical = !generation.is_empty()
            && generation.len() <= MAX_GENERATION_DIGITS
            && generation.bytes().all(|b| b.is_ascii_digit())
            && (generation == "0" || !generation.starts_with('0'));
        if !base62(family) || !canonical || secret.len() != SECRET_LEN || !base62(secret) {
            return None;
        }
        Some(Self {
            token,
            family,
            generation: generation.parse().ok()?,
            hash: RefreshTokenHash::hash(token),
        })
    }

    /// The id of the session the token names.
    pub(crate) fn session_id(&self) -> String {
        session_id_of(self.family)
    }

    /// The next token of the family, with a new secret.
    pub(crate) fn successor(&self) -> Option<NewRefreshToken> {
        Some(NewRefreshToken::of(
            self.family,
            self.generation.checked_add(1)?,
            &random_secret(SECRET_LEN),
        ))
    }

    /// Seals `successor`'s secret under this token.
    pub(crate) fn seal(&self, successor: &NewRefreshToken) -> SealedToken {
        SealedToken::from_bytes(&xor(&successor.secret, &pad(self.token)))
            .expect("a seal is SealedToken::LEN bytes")
    }

    /// Opens a successor this token sealed; `None` if it does not hash to `expected` (this token
    /// did not seal it, or the seal was tampered with).
    pub(crate) fn open(
        &self,
        sealed: &SealedToken,
        expected: &RefreshTokenHash,
    ) -> Option<NewRefreshToken> {
        let sealed: &[u8; SECRET_LEN] = sealed.as_bytes().try_into().ok()?;
        let secret = xor(sealed, &pad(self.token));
        let secret = std::str::from_utf8(&secret).ok()?;
        if !secret.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return None;
        }
        let successor = NewRefreshToken::of(self.family, self.generation.checked_add(1)?, secret);
        (successor.hash == *expected).then_some(successor)
    }
}

fn session_id_of(family: &str) -> String {
    let digest = blake3::Hasher::new_derive_key(SESSION_CONTEXT)
        .update(family.as_bytes())
        .finalize();
    format!("ses_{}", &digest.to_hex()[..32])
}

/// A new refresh token: the plaintext for the client, the hash for the store.
pub(crate) struct NewRefreshToken {
    pub(crate) token: String,
    pub(crate) hash: RefreshTokenHash,
    secret: [u8; SECRET_LEN],
}

impl NewRefreshToken {
    /// The first token of a new family.
    pub(crate) fn first() -> Self {
        Self::of(&random_secret(FAMILY_LEN), 0, &random_secret(SECRET_LEN))
    }

    fn of(family: &str, generation: u64, secret: &str) -> Self {
        let token = format!("{PREFIX}{family}_{generation}_{secret}");
        let hash = RefreshTokenHash::hash(&token);
        let secret = secret
            .as_bytes()
            .try_into()
            .expect("a secret is SECRET_LEN base62 characters");
        Self {
            token,
            hash,
            secret,
        }
    }

    /// The id of the session the token names.
    pub(crate) fn session_id(&self) -> String {
        RefreshToken::parse(&self.token)
            .expect("a generated token parses")
            .session_id()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_parse_only_in_their_canonical_shape() {
        let first = NewRefreshToken::first();
        let parsed = RefreshToken::parse(&first.token).unwrap();
        assert_eq!((parsed.generation, parsed.hash), (0, first.hash));
        assert!(first.session_id().starts_with("ses_"));
        let next = parsed.successor().unwrap();
        let next_parsed = RefreshToken::parse(&next.token).unwrap();
        assert_eq!(next_parsed.generation, 1);
        assert_eq!(next_parsed.session_id(), first.session_id());
        let family = &first.token[3..25];
        let secret = "A".repeat(43);
        for bad in [
            format!("rt_{family}_01_{secret}"),
            format!("rt_{family}__{secret}"),
            format!("rt_{family}_-1_{secret}"),
            format!("rt_{family}_1_{}", "A".repeat(42)),
            format!("rt_{family}_1_{}!", "A".repeat(42)),
            format!("rt_{family}_{}_{secret}", "9".repeat(21)),
            format!("rt_{}_1_{secret}", "A".repeat(21)),
            format!("xx_{family}_1_{secret}"),
        ] {
            assert!(RefreshToken::parse(&bad).is_none(), "{bad}");
        }
        assert!(RefreshToken::parse(&format!("rt_{family}_{}_{secret}", u64::MAX)).is_some());
    }

    #[test]
    fn only_the_replaced_token_opens_its_successor() {
        let first = NewRefreshToken::first();
        let presented = RefreshToken::parse(&first.token).unwrap();
        let successor = presented.successor().unwrap();
        let sealed = presented.seal(&successor);
        assert_ne!(sealed.as_bytes(), successor.token.as_bytes());
        let opened = presented.open(&sealed, &successor.hash).unwrap();
        assert_eq!(opened.token, successor.token);
        // Another token of another family, or a tampered seal, opens nothing.
        let other = NewRefreshToken::first();
        let other = RefreshToken::parse(&other.token).unwrap();
        assert!(other.open(&sealed, &successor.hash).is_none());
        let mut bytes = sealed.as_bytes().to_vec();
        bytes[0] ^= 1;
        let tampered = SealedToken::from_bytes(&bytes).unwrap();
        assert!(presented.open(&tampered, &successor.hash).is_none());
        assert_eq!(SealedToken::from_bytes(sealed.as_bytes()), Some(sealed));
        assert!(format!("{sealed:?}").contains("redacted"));
    }
}
