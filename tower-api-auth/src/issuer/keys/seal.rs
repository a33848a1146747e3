//! The fleet secret: it seals the private keys at rest and derives the refresh-token issuance key.

use aws_lc_rs::aead::{AES_256_GCM, Aad, NONCE_LEN, Nonce, RandomizedNonceKey};
use jsonwebtoken::Algorithm;

use crate::issuer::keys::KeysError;
use crate::store::algorithm_name;

const SEAL_CONTEXT: &str = "tower-api-auth 2026-12 signing key seal v1";
const ISSUANCE_CONTEXT: &str = "tower-api-auth 2026-12 fleet refresh token issuance key v1";

/// The sealed form's first byte: the format, so that another one can follow.
const VERSION: u8 = 1;

/// The fleet secret's two derived keys. The secret itself is not kept.
pub(crate) struct FleetKeys {
    seal: RandomizedNonceKey,
    /// The refresh-token issuance key: the same for every instance that shares the secret, and
    /// across rotations (it depends on no signing key).
    pub(crate) issuance: [u8; 32],
}

impl FleetKeys {
    pub(crate) fn new(secret: &[u8]) -> Result<Self, KeysError> {
        if secret.len() < 32 {
            return Err(KeysError::new(format!(
                "the fleet secret must be at least 32 bytes, not {}",
                secret.len()
            )));
        }
        let seal_key = blake3::derive_key(SEAL_CONTEXT, secret);
        let seal = RandomizedNonceKey::new(&AES_256_GCM, &seal_key)
            .map_err(|_| KeysError::new("AES-256-GCM is unavailable"))?;
        Ok(Self {
            seal,
            issuance: blake3::derive_key(ISSUANCE_CONTEXT, secret),
        })
    }

    /// Seals `der` as the key `kid` of `algorithm`: version, nonce, ciphertext and tag.
    pub(crate) fn seal(
        &self,
        kid: &str,
        algorithm: Algorithm,
        der: &[u8],
    ) -> Result<Vec<u8>, KeysError> {
        let mut in_out = der.to_vec();
        let nonce = self
            .seal
            .seal_in_place_append_tag(Aad::from(aad(kid, algorithm)), &mut in_out)
            .map_err(|_| KeysError::new("sealing a signing key failed"))?;
        let mut sealed = Vec::with_capacity(1 + NONCE_LEN + in_out.len());
        sealed.push(VERSION);
        sealed.extend_from_slice(nonce.as_ref());
        sealed.extend_from_slice(&in_out);
        Ok(sealed)
    }

    /// Opens what [`seal`](Self::seal) made for `kid` and `algorithm`.
    pub(crate) fn open(
        &self,
        kid: &str,
        algorithm: Algorithm,
        sealed: &[u8],
    ) -> Result<Vec<u8>, KeysError> {
        let wrong = || {
            KeysError::new(format!(
                "cannot open the sealed signing key {kid}: another fleet secret sealed it, or it \
                 was altered"
            ))
        };
        let [version, rest @ ..] = sealed else {
            return Err(wrong());
        };
        if *version != VERSION || rest.len() < NONCE_LEN {
            return Err(wrong());
        }
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| wrong())?;
        let mut in_out = ciphertext.to_vec();
        let plain = self
            .seal
            .open_in_place(nonce, Aad::from(aad(kid, algorithm)), &mut in_out)
            .map_err(|_| wrong())?;
        Ok(plain.to_vec())
    }
}

/// The associated data: a sealed key moved to another kid or algorithm does not open.
fn aad(kid: &str, algorithm: Algorithm) -> Vec<u8> {
    let mut aad = Vec::with_capacity(kid.len() + 8);
    aad.extend_from_slice(kid.as_bytes());
    aad.push(0);
    aad.extend_from_slice(algorithm_name(algorithm).as_bytes());
    aad
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_key_opens_only_with_its_secret_kid_and_algorithm() {
        let keys = FleetKeys::new(&[7; 32]).unwrap();
        let sealed = keys.seal("k1", Algorithm::ES256, b"private").unwrap();
        assert!(!sealed.windows(7).any(|w| w == b"private"));
        assert_eq!(
            keys.open("k1", Algorithm::ES256, &sealed).unwrap(),
            b"private"
        );
        assert!(keys.open("k2", Algorithm::ES256, &sealed).is_err());
        assert!(keys.open("k1", Algorithm::EdDSA, &sealed).is_err());
        let other = FleetKeys::new(&[8; 32]).unwrap();
        let error = other.open("k1", Algorithm::ES256, &sealed).unwrap_err();
        assert!(
            error.to_string().contains("another fleet secret"),
            "{error}"
        );
        assert!(keys.open("k1", Algorithm::ES256, &[]).is_err());
        assert!(keys.open("k1", Algorithm::ES256, &sealed[..5]).is_err());
        assert!(FleetKeys::new(&[7; 31]).is_err());
        // Two seals of one key differ (random nonces).
        assert_ne!(
            sealed,
            keys.seal("k1", Algorithm::ES256, b"private").unwrap()
        );
    }
}
