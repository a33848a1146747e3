//! The JOSE header, parsed from a stack buffer (real headers are well under 200 bytes).

use std::borrow::Cow;
use std::sync::Arc;

use jsonwebtoken::Algorithm;
use serde::Deserialize;
use serde::de::IgnoredAny;

use crate::error::AuthError;
use crate::jwt::b64::decode_into;
use crate::jwt::claims::CowStr;
use crate::jwt::invalid;

/// The longest header accepted, decoded. Real headers are well under 200 bytes.
const MAX_HEADER_LEN: usize = 1024;

/// Header segments up to this long (~120 bytes decoded: `alg`, `typ` and a long `kid`) are
/// decoded into a small buffer.
const SMALL_HEADER_B64_LEN: usize = 160;

/// The longest `kid` looked up; no trusted key has a longer one.
const MAX_KID_LEN: usize = 128;

#[derive(Deserialize)]
struct RawHeader<'a> {
    #[serde(borrow)]
    alg: Cow<'a, str>,
    // serde borrows a bare Cow but not one inside an Option: CowStr borrows whenever it can.
    #[serde(borrow, default)]
    kid: Option<CowStr<'a>>,
    #[serde(borrow, default)]
    typ: Option<CowStr<'a>>,
    #[serde(default)]
    crit: Option<IgnoredAny>,
    #[serde(default)]
    enc: Option<IgnoredAny>,
}

/// What the validator needs from the header.
#[derive(Clone)]
pub(crate) struct Header {
    pub(crate) alg: Algorithm,
    pub(crate) kid: Option<Arc<str>>,
    pub(crate) typ_ok: bool,
}

fn algorithm(name: &str) -> Option<Algorithm> {
    Some(match name {
        "HS256" => Algorithm::HS256,
        "HS384" => Algorithm::HS384,
        "HS512" => Algorithm::HS512,
        "RS256" => Algorithm::RS256,
        "RS384" => Algorithm::RS384,
        "RS512" => Algorithm::RS512,
        "PS256" => Algorithm::PS256,
        "PS384" => Algorithm::PS384,
        "PS512" => Algorithm::PS512,
        "ES256" => Algorithm::ES256,
        "ES384" => Algorithm::ES384,
        "EdDSA" => Algorithm::EdDSA,
        _ => return None,
    })
}

/// RFC 9068 §4 / RFC 7515 §4.1.9: `typ` compares case-insensitively and may omit `application/`.
fn typ_matches(typ: &str, required: &str) -> bool {
    let bare = match typ.get(..12) {
        Some(prefix) if prefix.eq_ignore_ascii_case("application/") => &typ[12..],
        _ => typ,
    };
    bare.eq_ignore_ascii_case(required)
}

/// Parses the header segment. `required_typ` is checked here so the header is read once.
pub(crate) fn parse(segment: &[u8], required_typ: Option<&str>) -> Result<Header, AuthError> {
    // A typical header decodes to a few dozen bytes: zeroing all of a 1 KiB buffer for it cost
    // ~200 instructions per verification, so the large buffer is only for large headers.
    let (mut small, mut large);
    let buf: &mut [u8] = if segment.len() <= SMALL_HEADER_B64_LEN {
        small = [0u8; SMALL_HEADER_B64_LEN / 4 * 3 + 3];
        &mut small
    } else {
        large = [0u8; MAX_HEADER_LEN];
        &mut large
    };
    let len = decode_into(segment, buf)
        .ok_or_else(|| invalid("The token header is not valid base64url"))?;
    // RFC 7515 §4: the header is UTF-8 JSON. serde_json checks only the strings it reads, not
    // those of fields it skips, so the whole header is checked first.
    let json = std::str::from_utf8(&buf[..len])
        .map_err(|_| invalid("The token header is not valid UTF-8"))?;
    let raw: RawHeader<'_> = serde_json::from_str(json)
        .map_err(|_| invalid("The token header is not a valid JOSE header"))?;
    if raw.crit.is_some() {
        // RFC 7515 §4.1.11: we understand no extension, so any critical one must be refused.
        return Err(invalid(
            "The token header has critical extensions this service does not support",
        ));
    }
    if raw.enc.is_some() {
        return Err(invalid("Encrypted tokens (JWE) are not accepted"));
    }
    let alg =
        algorithm(&raw.alg).ok_or_else(|| invalid("The token's algorithm is not accepted"))?;
    let typ_ok = match required_typ {
        None => true,
        Some(required) => raw
            .typ
            .as_deref()
            .is_some_and(|typ| typ_matches(typ, required)),
    };
    let kid = match raw.kid {
        None => None,
        Some(kid) if kid.len() > MAX_KID_LEN => {
            return Err(invalid("The token's key id is not known"));
        }
        Some(kid) => Some(Arc::from(&*kid)),
    };
    Ok(Header { alg, kid, typ_ok })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typ_comparison_follows_rfc_9068() {
        assert!(typ_matches("at+jwt", "at+jwt"));
        assert!(typ_matches("application/AT+JWT", "at+jwt"));
        assert!(!typ_matches("JWT", "at+jwt"));
        assert!(!typ_matches("application/", "at+jwt"));
    }

    #[test]
    fn headers_of_every_length_up_to_the_limit_are_read_in_full() {
        use base64::Engine as _;
        let encode = |json: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json);
        // Around the small buffer's bound and up to the limit: the `kid` comes back whole.
        for kid_len in (1..=MAX_KID_LEN).chain([MAX_KID_LEN + 1]) {
            let kid = "k".repeat(kid_len);
            let segment = encode(&format!(r#"{{"alg":"HS256","typ":"JWT","kid":"{kid}"}}"#));
            let parsed = parse(segment.as_bytes(), None);
            if kid_len > MAX_KID_LEN {
                assert!(parsed.is_err(), "{kid_len}");
            } else {
                assert_eq!(
                    parsed.unwrap().kid.as_deref(),
                    Some(kid.as_str()),
                    "{kid_len}"
                );
            }
        }
        // Other members make a header long; it is still read, up to MAX_HEADER_LEN.
        let padding = "x".repeat(600);
        let segment = encode(&format!(r#"{{"alg":"HS256","x5u":"{padding}"}}"#));
        assert!(segment.len() > SMALL_HEADER_B64_LEN);
        assert_eq!(
            parse(segment.as_bytes(), None).unwrap().alg,
            Algorithm::HS256
        );
        let padding = "x".repeat(MAX_HEADER_LEN);
        let segment = encode(&format!(r#"{{"alg":"HS256","x5u":"{padding}"}}"#));
        assert!(parse(segment.as_bytes(), None).is_err());
    }

    #[test]
    fn algorithm_names_are_exact() {
        assert!(algorithm("none").is_none());
        assert!(algorithm("hs256").is_none());
        assert_eq!(algorithm("EdDSA"), Some(Algorithm::EdDSA));
    }
}
