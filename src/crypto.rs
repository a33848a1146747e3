//! Choosing jsonwebtoken's crypto backend.
//!
//! jsonwebtoken 11 picks its backend from its own features and panics on first use when both are
//! on (which happens as soon as two crates in a build ask for different ones, or under
//! `--all-features`) unless a process-wide provider was installed. Every entry point of this crate
//! that touches JWT crypto calls [`ensure_provider`] first, so that panic can never be reached
//! through it: with both backends on, aws-lc-rs is installed (it is several times faster for RSA
//! and ECDSA). An application that calls jsonwebtoken directly before building any key of this
//! crate can call [`ensure_provider`] itself.

/// Installs the process-wide jsonwebtoken crypto provider when the choice is ambiguous. Idempotent
/// and cheap; a provider the application installed first is left in place.
pub fn ensure_provider() {
    #[cfg(all(feature = "aws-lc-rs", feature = "rust-crypto"))]
    {
        static INSTALLED: std::sync::Once = std::sync::Once::new();
        INSTALLED.call_once(|| {
            // An `Err` means a provider is already installed, which is just as good.
            let _ = jsonwebtoken::crypto::CryptoProvider::install_default(
                &jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER,
            );
        });
    }
}

/// A new random secret of `len` base62 characters from the OS CSPRNG (43 characters carry 256 bits),
/// e.g. an HS256 secret or an API-key hashing pepper.
///
/// ```
/// let secret = tower_api_auth::crypto::random_secret(43);
/// assert_eq!(secret.len(), 43);
/// ```
pub fn random_secret(len: usize) -> String {
    crate::random::random_base62(len)
}
