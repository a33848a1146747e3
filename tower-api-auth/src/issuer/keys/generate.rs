//! Making new key pairs (aws-lc-rs) and turning stored ones into signing keys.

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, ECDSA_P384_SHA384_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair,
};
use jsonwebtoken::Algorithm;

use crate::issuer::keys::KeysError;

/// Whether the ring can make keys of `algorithm`: checked at build, so that a wrong choice fails
/// at start, not at the first rotation.
pub(crate) fn supported(algorithm: Algorithm) -> Result<(), KeysError> {
    match algorithm {
        Algorithm::ES256
        | Algorithm::ES384
        | Algorithm::EdDSA
        | Algorithm::RS256
        | Algorithm::PS256 => Ok(()),
        other => Err(KeysError::new(format!(
            "rotating keys are ES256, ES384, EdDSA, RS256 or PS256, not {other:?} (HMAC secrets \
             are never published: use SigningKey::hmac)"
        ))),
    }
}

/// A new private key for `algorithm`: PKCS#8 DER for EC and Ed25519, PKCS#1 DER for RSA (as
/// jsonwebtoken reads them).
pub(crate) fn generate(algorithm: Algorithm) -> Result<Vec<u8>, KeysError> {
    supported(algorithm)?;
    let rng = SystemRandom::new();
    let failed = |_| KeysError::new(format!("generating a {algorithm:?} key failed"));
    let der = match algorithm {
        Algorithm::ES256 => EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .map_err(failed)?
            .as_ref()
            .to_vec(),
        Algorithm::ES384 => EcdsaKeyPair::generate_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, &rng)
            .map_err(failed)?
            .as_ref()
            .to_vec(),
        Algorithm::EdDSA => Ed25519KeyPair::generate_pkcs8v1(&rng)
            .map_err(failed)?
            .as_ref()
            .to_vec(),
        Algorithm::RS256 | Algorithm::PS256 => {
            let pair = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
                .map_err(failed)?;
            // jsonwebtoken reads RSA private keys as PKCS#1.
            let der: aws_lc_rs::encoding::Pkcs8V1Der<'_> = pair.as_der().map_err(failed)?;
            pkcs8_to_pkcs1(der.as_ref())?
        }
        other => return Err(KeysError::new(format!("cannot generate {other:?} keys"))),
    };
    Ok(der)
}

/// The PKCS#1 `RSAPrivateKey` inside a PKCS#8 `PrivateKeyInfo`: the OCTET STRING after the
/// version and the algorithm identifier.
fn pkcs8_to_pkcs1(pkcs8: &[u8]) -> Result<Vec<u8>, KeysError> {
    let bad = || KeysError::new("an RSA key in an unexpected PKCS#8 shape");
    let (tag, body, _) = der_item(pkcs8).ok_or_else(bad)?;
    if tag != 0x30 {
        return Err(bad());
    }
    let (tag, _, rest) = der_item(body).ok_or_else(bad)?; // version
    if tag != 0x02 {
        return Err(bad());
    }
    let (tag, _, rest) = der_item(rest).ok_or_else(bad)?; // algorithm
    if tag != 0x30 {
        return Err(bad());
    }
    let (tag, key, _) = der_item(rest).ok_or_else(bad)?;
    if tag != 0x04 {
        return Err(bad());
    }
    Ok(key.to_vec())
}

/// One DER item: its tag, its contents, and what follows.
fn der_item(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        (len, &rest[n..])
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}
