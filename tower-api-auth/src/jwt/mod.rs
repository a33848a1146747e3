//! JWT validation: keys bound to algorithms, signature before claims, registered claims read once.
//!
//! A [`JwtValidator`] is built from keys ([`JwtKey`], [`JwtKeySet`]) and [`JwtOptions`]; its
//! [`KeyHandle`] rotates the keys at run time.
//!
//! ```
//! # #[cfg(any(feature = "aws-lc-rs", feature = "rust-crypto"))]
//! # fn main() -> Result<(), tower_api_auth::jwt::KeyError> {
//! use std::time::Duration;
//! use tower_api_auth::JwtValidator;
//! use tower_api_auth::jwt::JwtOptions;
//!
//! let validator = JwtValidator::hs256(
//!     b"a-secret-of-at-least-thirty-two-bytes!!",
//!     JwtOptions::new()
//!         .issuer("https://auth.example.test")
//!         .audience("api")
//!         .leeway(Duration::from_secs(30))
//!         .require_typ("at+jwt"),
//! )?;
//! # let _ = validator;
//! # Ok(()) }
//! # #[cfg(not(any(feature = "aws-lc-rs", feature = "rust-crypto")))]
//! # fn main() {}
//! ```
//!
//! Checks, in order: the header (`alg` one of the supported algorithms — never `none` — no `crit`,
//! no JWE), the key (chosen by `kid`, its algorithm equal to `alg`), the signature, and only then
//! the claims: `exp` required, `nbf`, `iat` not in the future, `iss`, `aud` (any of), `typ`, the
//! maximum lifetime, `sub` required. `jku`, `x5u` and an embedded `jwk` are never used.

mod b64;
mod cache;
mod checks;
mod claims;
mod header;
mod keys;
mod known_headers;
mod options;
mod signature;
mod validator;
mod verified_token;

pub use cache::{TokenCacheConfig, TokenCacheStats};
pub use keys::{JwksPolicy, JwtKey, JwtKeySet, KeyError};
pub use options::JwtOptions;
pub use validator::{Issuer, JwtValidator, KeyHandle, KeySource, KeyWait};

pub(crate) use validator::Check;

pub use jsonwebtoken::Algorithm;

pub(crate) use verified_token::VerifiedJwt;

use crate::error::{AuthError, AuthErrorKind};

pub(crate) fn invalid(message: &'static str) -> AuthError {
    AuthError::new(AuthErrorKind::InvalidToken).with_message(message)
}

#[cfg(all(test, any(feature = "aws-lc-rs", feature = "rust-crypto")))]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"a-unit-test-secret-of-thirty-two-bytes!";

    fn token(typ: &str) -> String {
        crate::crypto::ensure_provider();
        let mut header = jsonwebtoken::Header::new(Algorithm::HS256);
        header.typ = Some(typ.to_owned());
        let claims = serde_json::json!({ "sub": "u", "exp": 4_000_000_000u64 });
        jsonwebtoken::encode(
            &header,
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(SECRET),
        )
        .unwrap()
    }

    #[test]
    fn a_required_typ_is_compared_without_its_media_type_prefix_on_both_sides() {
        let validator =
            JwtValidator::hs256(SECRET, JwtOptions::new().require_typ("application/at+jwt"))
                .unwrap();
        assert!(validator.validate(&token("at+jwt"), 1_800_000_000).is_ok());
        assert!(
            validator
                .validate(&token("application/AT+JWT"), 1_800_000_000)
                .is_ok()
        );
        let error = validator
            .validate(&token("JWT"), 1_800_000_000)
            .unwrap_err();
        assert_eq!(error.kind(), AuthErrorKind::InvalidToken);
    }

    #[test]
    fn validators_built_apart_share_no_cache_and_clones_share_it() {
        let lax = JwtValidator::hs256(SECRET, JwtOptions::new()).unwrap();
        let jwt_typ = token("JWT");
        assert!(lax.validate(&jwt_typ, 1_800_000_000).is_ok());
        assert_eq!(lax.clone().cache_stats().unwrap().entries, 1);
        // The same key with stricter options: nothing the lax one cached answers for it.
        let strict = JwtValidator::new(
            lax.key_handle().keys(),
            lax.options().clone().require_typ("at+jwt"),
        );
        let error = strict.validate(&jwt_typ, 1_800_000_000).unwrap_err();
        assert_eq!(error.kind(), AuthErrorKind::InvalidToken);
        assert!(lax.validate(&jwt_typ, 1_800_000_000).is_ok());
    }
}
