//! Signature verification with keys prepared once.
//!
//! jsonwebtoken's `crypto::verify` builds and boxes a verifier on every call (and aws-lc parses the
//! public key again inside it). With the `aws-lc-rs` backend each key is prepared once, at
//! configuration: an HMAC key schedule or a parsed public key, shared by every request. With only
//! `rust-crypto`, verification goes through jsonwebtoken as before.

use jsonwebtoken::{Algorithm, DecodingKey};

use crate::jwt::keys::KeyError;

/// Room for the largest signature accepted, RSA-8192 (1024 bytes), plus the slack base64's
/// length estimate asks for.
#[cfg(feature = "aws-lc-rs")]
const MAX_SIGNATURE_LEN: usize = 1024 + 8;

/// Room for the largest HMAC tag, HS512's 64 bytes, plus the same slack: every HS256 request
/// would otherwise zero a kilobyte it never uses.
#[cfg(feature = "aws-lc-rs")]
const MAX_HMAC_TAG_LEN: usize = 64 + 8;

/// A key ready to verify, when the backend allows preparing one.
#[derive(Clone)]
pub(crate) enum Prepared {
    /// Verify through jsonwebtoken on each call.
    Generic,
    #[cfg(feature = "aws-lc-rs")]
    Hmac(std::sync::Arc<aws_lc_rs::hmac::Key>),
    #[cfg(feature = "aws-lc-rs")]
    Public(aws_lc_rs::signature::ParsedPublicKey),
}

impl Prepared {
    /// Prepares `key` for `algorithm`; a key the backend refuses is a configuration error.
    #[cfg(feature = "aws-lc-rs")]
    pub(crate) fn new(algorithm: Algorithm, key: &DecodingKey) -> Result<Self, KeyError> {
        use aws_lc_rs::{hmac, signature};
        use jsonwebtoken::DecodingKeyKind;

        let public: &'static dyn signature::VerificationAlgorithm = match algorithm {
            Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => {
                let hash = match algorithm {
                    Algorithm::HS384 => hmac::HMAC_SHA384,
                    Algorithm::HS512 => hmac::HMAC_SHA512,
                    _ => hmac::HMAC_SHA256,
                };
                let secret = key
                    .try_get_as_bytes()
                    .map_err(|_| KeyError::new("an HMAC key needs secret bytes"))?;
                return Ok(Self::Hmac(std::sync::Arc::new(hmac::Key::new(
                    hash, secret,
                ))));
            }
            Algorithm::RS256 => &signature::RSA_PKCS1_2048_8192_SHA256,
            Algorithm::RS384 => &signature::RSA_PKCS1_2048_8192_SHA384,
            Algorithm::RS512 => &signature::RSA_PKCS1_2048_8192_SHA512,
            Algorithm::PS256 => &signature::RSA_PSS_2048_8192_SHA256,
            Algorithm::PS384 => &signature::RSA_PSS_2048_8192_SHA384,
            Algorithm::PS512 => &signature::RSA_PSS_2048_8192_SHA512,
            Algorithm::ES256 => &signature::ECDSA_P256_SHA256_FIXED,
            Algorithm::ES384 => &signature::ECDSA_P384_SHA384_FIXED,
            Algorithm::EdDSA => &signature::ED25519,
            // An algorithm added to jsonwebtoken later: let it verify as it knows how.
            _ => return Ok(Self::Generic),
        };
        let der;
        let bytes: &[u8] = match key.kind() {
            DecodingKeyKind::SecretOrDer(bytes) => bytes,
            DecodingKeyKind::RsaModulusExponent { n, e } => {
                der = rsa_public_key_der(n, e);
                &der
            }
        };
        signature::ParsedPublicKey::new(public, bytes)
            .map(Self::Public)
            .map_err(|e| KeyError::new(format!("the key does not suit {algorithm:?}: {e}")))
    }

    #[cfg(not(feature = "aws-lc-rs"))]
    pub(crate) fn new(_algorithm: Algorithm, _key: &DecodingKey) -> Result<Self, KeyError> {
        Ok(Self::Generic)
    }

    /// Checks `signature` (base64url) over `message`.
    pub(crate) fn verify(
        &self,
        algorithm: Algorithm,
        key: &DecodingKey,
        message: &[u8],
        signature: &[u8],
    ) -> bool {
        match self {
            Self::Generic => std::str::from_utf8(signature).is_ok_and(|signature| {
                // Ran when the key was built; an atomic load from then on.
                crate::crypto::ensure_provider();
                jsonwebtoken::crypto::verify(signature, message, key, algorithm).unwrap_or(false)
            }),
            #[cfg(feature = "aws-lc-rs")]
            Self::Hmac(hmac_key) => with_decoded::<MAX_HMAC_TAG_LEN>(signature, |sig| {
                aws_lc_rs::hmac::verify(hmac_key, message, sig).is_ok()
            }),
            #[cfg(feature = "aws-lc-rs")]
            Self::Public(public) => with_decoded::<MAX_SIGNATURE_LEN>(signature, |sig| {
                public.verify_sig(message, sig).is_ok()
            }),
        }
    }
}

/// Decodes a base64url signature on the stack and hands it to `check`; `false` if malformed.
#[cfg(feature = "aws-lc-rs")]
fn with_decoded<const MAX: usize>(signature: &[u8], check: impl FnOnce(&[u8]) -> bool) -> bool {
    let mut buf = [0u8; MAX];
    crate::jwt::b64::decode_into(signature, &mut buf).is_some_and(|len| check(&buf[..len]))
}

/// PKCS#1 `RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }` in DER, for keys
/// that arrive as JWK components.
#[cfg(feature = "aws-lc-rs")]
fn rsa_public_key_der(n: &[u8], e: &[u8]) -> Vec<u8> {
    fn push_len(out: &mut Vec<u8>, len: usize) {
        if len < 0x80 {
            out.push(len as u8);
        } else {
            let bytes = len.to_be_bytes();
            let skip = bytes.iter().take_while(|&&b| b == 0).count();
            out.push(0x80 | (bytes.len() - skip) as u8);
            out.extend_from_slice(&bytes[skip..]);
        }
    }
    fn integer(out: &mut Vec<u8>, magnitude: &[u8]) {
        let magnitude = &magnitude[magnitude.iter().take_while(|&&b| b == 0).count()..];
        // A leading 1 bit would make the INTEGER negative: prefix a zero byte.
        let pad = magnitude.first().is_none_or(|&b| b & 0x80 != 0);
        out.push(0x02);
        push_len(out, magnitude.len() + usize::from(pad));
        if pad {
            out.push(0);
        }
        out.extend_from_slice(magnitude);
    }
    let mut body = Vec::with_capacity(n.len() + e.len() + 16);
    integer(&mut body, n);
    integer(&mut body, e);
    let mut der = Vec::with_capacity(body.len() + 8);
    der.push(0x30);
    push_len(&mut der, body.len());
    der.extend_from_slice(&body);
    der
}

#[cfg(all(test, feature = "aws-lc-rs"))]
mod tests {
    use super::*;

    #[test]
    fn der_of_small_components() {
        // n = 0x80 needs a pad byte; e = 65537.
        assert_eq!(
            rsa_public_key_der(&[0x80], &[0x01, 0x00, 0x01]),
            [
                0x30, 0x09, 0x02, 0x02, 0x00, 0x80, 0x02, 0x03, 0x01, 0x00, 0x01
            ]
        );
    }

    #[test]
    fn long_lengths_use_the_long_form() {
        let der = rsa_public_key_der(&[0x7f; 256], &[3]);
        assert_eq!(&der[..4], &[0x30, 0x82, 0x01, 0x07]);
        assert_eq!(&der[4..8], &[0x02, 0x82, 0x01, 0x00]);
    }
}
