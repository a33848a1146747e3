//! Without a JWT crypto backend (neither `aws-lc-rs` nor `rust-crypto`), every key constructor
//! refuses with a clear error instead of reaching jsonwebtoken, which then has no provider and
//! panics. CI runs it as `cargo test -p tower-api-auth -p tower-api-auth-tests
//! --no-default-features --features issuer --test core no_backend`.
#![cfg(not(any(feature = "aws-lc-rs", feature = "rust-crypto")))]

use tower_api_auth_tests as common;

use tower_api_auth::Algorithm;
use tower_api_auth::jwt::{JwtKey, JwtKeySet};

use common::{HS256_SECRET, pem};

fn assert_no_backend<T: std::fmt::Debug>(result: Result<T, tower_api_auth::jwt::KeyError>) {
    let error = result
        .expect_err("a key without a crypto backend")
        .to_string();
    assert!(error.contains("no JWT crypto backend"), "{error}");
}

#[test]
fn verification_keys_need_a_backend() {
    assert_no_backend(JwtKey::hmac(Algorithm::HS256, HS256_SECRET));
    assert_no_backend(JwtKey::from_pem(Algorithm::RS256, &pem("rsa_public")));
    assert_no_backend(JwtKey::from_der(Algorithm::EdDSA, &[0; 32]));
    assert_no_backend(JwtKeySet::from_jwks(r#"{"keys":[]}"#));
}

#[cfg(feature = "issuer")]
#[test]
fn signing_keys_need_a_backend() {
    use tower_api_auth::issuer::SigningKey;

    assert_no_backend(SigningKey::hmac(Algorithm::HS256, HS256_SECRET));
    // Deriving the public key goes through jsonwebtoken's key utilities, which panic without one.
    for (algorithm, key) in [
        (Algorithm::RS256, "rsa_private"),
        (Algorithm::ES256, "ec256_private"),
        (Algorithm::EdDSA, "ed25519_private"),
    ] {
        assert_no_backend(SigningKey::from_pem(algorithm, &pem(key)));
    }
}
