//! The refresh token's format: `rt_<generation>_<secret>_<session key>`.
//!
//! * `generation` (decimal) counts the session's rotations, from 0.
//! * `session key` (43 base62 characters, about 256 bits, random) is the same in every token of
//!   one session and in no other place: the session id is derived from it one way (knowing a
//!   session id, which is in every access token, does not give the key), and the store never
//!   holds it.
//! * `secret` (43 base62 characters, about 253 bits) is derived from the session key and the
//!   generation under the issuer's *issuance key* (keyed BLAKE3; the issuance key is derived from
//!   the signing key, so the instances of a fleet that sign alike issue alike).
//!
//! Only a BLAKE3 hash of the whole token is stored, and only the session's current one, so a
//! session's record has the same size however often it rotates.
//!
//! Why: reuse detection ends a session when a spent token of it is presented — the sign that a
//! thief and the client both hold it. It must act only on tokens the server really issued, or
//! anyone could end others' sessions. A token names its session only with the session key, which
//! only the session's real tokens carry (a token made up around a logged prefix finds no
//! session), and it counts as a spent one only if its secret is the one the issuance key gives
//! for its generation: an invented secret, even next to a real key, is refused and ends nothing.
//! Deriving the secrets keeps the record constant in size and free of anything that could mint a
//! token (a per-session key kept in the store would let whoever reads the store mint tokens); the
//! price is that spent tokens of a retired signing key are refused without ending their session.
//! Tokens of the format before (`rt_<family>_<generation>_<secret>`) are refused: their holders
//! log in again.

use crate::crypto::random_secret;
use crate::store::{RefreshTokenHash, SealedToken};

const HASH_CONTEXT: &str = "tower-api-auth 2026-11 refresh token hash v1";

const SESSION_CONTEXT: &str = "tower-api-auth 2026-12 session id of a session key v2";

const SEAL_CONTEXT: &str = "tower-api-auth 2026-11 refresh successor seal v1";

const PREFIX: &str = "rt_";

/// A session key has as many characters as a secret: 256 bits.
const KEY_LEN: usize = SECRET_LEN;

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

const SECRET_CONTEXT: &str = "tower-api-auth 2026-12 refresh token secret v1";

/// The secret of generation `generation` of the session with `key`: 43 base62 characters from a
/// BLAKE3 XOF keyed by the issuance key (bytes of 248 and more are skipped, so every character is
/// uniform).
fn derived_secret(issuance: &[u8; 32], key: &str, generation: u64) -> String {
    const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut hasher = blake3::Hasher::new_keyed(issuance);
    hasher
        .update(SECRET_CONTEXT.as_bytes())
        .update(&[0])
        .update(key.as_bytes())
        .update(&generation.to_le_bytes());
    let mut stream = hasher.finalize_xof();
    let mut secret = String::with_capacity(SECRET_LEN);
    let mut block = [0u8; 64];
    while secret.len() < SECRET_LEN {
        stream.fill(&mut block);
        for &byte in block.iter().filter(|&&b| b < 248) {
            if secret.len() < SECRET_LEN {
                secret.push(char::from(ALPHABET[usize::from(byte % 62)]));
            }
        }
    }
    secret
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
    key: &'a str,
    secret: &'a str,
    pub(crate) generation: u64,
    pub(crate) hash: RefreshTokenHash,
}

impl<'a> RefreshToken<'a> {
    /// `None` when `token` is not shaped like one of ours.
    pub(crate) fn parse(token: &'a str) -> Option<Self> {
        let rest = token.strip_prefix(PREFIX)?;
        let (generation, rest) = rest.split_once('_')?;
        let (secret, key) = rest.split_once('_')?;
        let base62 = |s: &str| s.bytes().all(|b| b.is_ascii_alphanumeric());
        let canonical = !generation.is_empty()
            && generation.len() <= MAX_GENERATION_DIGITS
            && generation.bytes().all(|b| b.is_ascii_digit())
            && (generation == "0" || !generation.starts_with('0'));
        if !canonical
            || secret.len() != SECRET_LEN
            || !base62(secret)
            || key.len() != KEY_LEN
            || !base62(key)
        {
            return None;
        }
        Some(Self {
            token,
            key,
            secret,
            generation: generation.parse().ok()?,
            hash: RefreshTokenHash::hash(token),
        })
    }

    /// The id of the session the token names.
    pub(crate) fn session_id(&self) -> String {
        session_id_of(self.key)
    }

    /// The next token of the session.
    pub(crate) fn successor(&self, issuance: &[u8; 32]) -> Option<NewRefreshToken> {
        let generation = self.generation.checked_add(1)?;
        Some(NewRefreshToken::of(
            self.key,
            generation,
            &derived_secret(issuance, self.key, generation),
        ))
    }

    /// Whether the server issued this token: its secret is the one its generation has. Compared
    /// in constant time.
    pub(crate) fn issued(&self, issuance: &[u8; 32]) -> bool {
        let expected = derived_secret(issuance, self.key, self.generation);
        subtle::ConstantTimeEq::ct_eq(expected.as_bytes(), self.secret.as_bytes()).into()
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
        let successor = NewRefreshToken::of(self.key, self.generation.checked_add(1)?, secret);
        (successor.hash == *expected).then_some(successor)
    }
}

fn session_id_of(key: &str) -> String {
    let digest = blake3::Hasher::new_derive_key(SESSION_CONTEXT)
        .update(key.as_bytes())
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
    /// The first token of a new session.
    pub(crate) fn first(issuance: &[u8; 32]) -> Self {
        let key = random_secret(KEY_LEN);
        let secret = derived_secret(issuance, &key, 0);
        Self::of(&key, 0, &secret)
    }

    fn of(key: &str, generation: u64, secret: &str) -> Self {
        let token = format!("{PREFIX}{generation}_{secret}_{key}");
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

    const ISSUANCE: [u8; 32] = [7; 32];

    #[test]
    fn tokens_parse_only_in_their_canonical_shape() {
        let first = NewRefreshToken::first(&ISSUANCE);
        let parsed = RefreshToken::parse(&first.token).unwrap();
        assert_eq!((parsed.generation, parsed.hash), (0, first.hash));
        assert!(first.session_id().starts_with("ses_"));
        let next = parsed.successor(&ISSUANCE).unwrap();
        let next_parsed = RefreshToken::parse(&next.token).unwrap();
        assert_eq!(next_parsed.generation, 1);
        assert_eq!(next_parsed.session_id(), first.session_id());
        let key = first.token.rsplit('_').next().unwrap();
        assert_eq!(key.len(), 43);
        assert_eq!(
            next.token.rsplit('_').next().unwrap(),
            key,
            "one key per session"
        );
        let secret = "A".repeat(43);
        for bad in [
            format!("rt_01_{secret}_{key}"),
            format!("rt__{secret}_{key}"),
            format!("rt_-1_{secret}_{key}"),
            format!("rt_1_{}_{key}", "A".repeat(42)),
            format!("rt_1_{}!_{key}", "A".repeat(42)),
            format!("rt_{}_{secret}_{key}", "9".repeat(21)),
            format!("rt_1_{secret}_{}", &key[1..]),
            format!("rt_1_{secret}_{key}_"),
            format!("xx_1_{secret}_{key}"),
            // The format before: a family first.
            format!("rt_{}_1_{secret}", &key[..22]),
        ] {
            assert!(RefreshToken::parse(&bad).is_none(), "{bad}");
        }
        assert!(RefreshToken::parse(&format!("rt_{}_{secret}_{key}", u64::MAX)).is_some());
    }

    #[test]
    fn a_session_is_named_only_by_its_key() {
        let first = NewRefreshToken::first(&ISSUANCE);
        let parsed = RefreshToken::parse(&first.token).unwrap();
        let key = first.token.rsplit('_').next().unwrap();
        // Everything but the key made up: another session, or none.
        let forged = format!("rt_1_{}_{}", "B".repeat(43), "C".repeat(43));
        assert_ne!(
            RefreshToken::parse(&forged).unwrap().session_id(),
            parsed.session_id()
        );
        // Any secret with the key names the session (only the server's tokens carry it), but
        // only the derived one counts as issued.
        let with_key = format!("rt_0_{}_{key}", "B".repeat(43));
        let with_key = RefreshToken::parse(&with_key).unwrap();
        assert_eq!(with_key.session_id(), parsed.session_id());
        assert!(!with_key.issued(&ISSUANCE));
        assert!(parsed.issued(&ISSUANCE));
        let next = parsed.successor(&ISSUANCE).unwrap();
        assert!(RefreshToken::parse(&next.token).unwrap().issued(&ISSUANCE));
        // Under another issuance key (another signing key), nothing counts as issued.
        assert!(!parsed.issued(&[8; 32]));
        // Secrets are 43 base62 characters, different per generation.
        let secrets: Vec<&str> = [&first.token, &next.token]
            .iter()
            .map(|t| t.split('_').nth(2).unwrap())
            .collect();
        assert_ne!(secrets[0], secrets[1]);
        assert!(
            secrets
                .iter()
                .all(|s| s.len() == 43 && s.bytes().all(|b| b.is_ascii_alphanumeric()))
        );
    }

    #[test]
    fn only_the_replaced_token_opens_its_successor() {
        let first = NewRefreshToken::first(&ISSUANCE);
        let presented = RefreshToken::parse(&first.token).unwrap();
        let successor = presented.successor(&ISSUANCE).unwrap();
        let sealed = presented.seal(&successor);
        assert_ne!(sealed.as_bytes(), successor.token.as_bytes());
        let opened = presented.open(&sealed, &successor.hash).unwrap();
        assert_eq!(opened.token, successor.token);
        // Another token of another family, or a tampered seal, opens nothing.
        let other = NewRefreshToken::first(&ISSUANCE);
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
