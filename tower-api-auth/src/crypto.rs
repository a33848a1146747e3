//! Choosing jsonwebtoken's crypto backend.
//!
//! jsonwebtoken 11 picks its backend from its own features, and panics on first use when both of
//! them are on unless a process-wide provider was installed. Both are on whenever any two crates
//! in a build ask for different ones — cargo unifies features, so an application that depends on
//! this crate (`aws-lc-rs`) and on jsonwebtoken with `rust_crypto` gets both — or under
//! `--all-features`. So every entry point of this crate that reaches jsonwebtoken calls
//! [`ensure_provider`] first, whatever features other crates turned on: it installs this crate's
//! own backend, aws-lc-rs when the `aws-lc-rs` feature is on (it is several times faster for RSA
//! and ECDSA), rust-crypto otherwise. An application that calls jsonwebtoken directly before it
//! builds any key of this crate can call [`ensure_provider`] itself.

/// Installs this crate's backend (aws-lc-rs with the `aws-lc-rs` feature, else rust-crypto) as
/// jsonwebtoken's process-wide crypto provider. Idempotent and cheap after the first call; a
/// provider the application installed first is left in place. Without a backend feature it does
/// nothing (and this crate's keys refuse to build).
pub fn ensure_provider() {
    #[cfg(any(feature = "aws-lc-rs", feature = "rust-crypto"))]
    {
        static INSTALLED: std::sync::Once = std::sync::Once::new();
        INSTALLED.call_once(|| {
            // Each provider exists exactly when the feature of this crate that turns on its
            // jsonwebtoken feature is on, so this compiles whatever other crates enable.
            #[cfg(feature = "aws-lc-rs")]
            let provider = &jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER;
            #[cfg(not(feature = "aws-lc-rs"))]
            let provider = &jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER;
            // An `Err` means a provider is already installed, which is just as good.
            let _ = jsonwebtoken::crypto::CryptoProvider::install_default(provider);
        });
    }
}

/// [`ensure_provider`], when this crate has a JWT backend; why it cannot build keys otherwise.
/// Every constructor of a key calls it first: without a backend, jsonwebtoken itself may have none
/// and would panic.
///
/// ```
/// let ready = tower_api_auth::crypto::backend_available();
/// assert_eq!(ready.is_ok(), cfg!(any(feature = "aws-lc-rs", feature = "rust-crypto")));
/// ```
pub fn backend_available() -> Result<(), &'static str> {
    if cfg!(any(feature = "aws-lc-rs", feature = "rust-crypto")) {
        ensure_provider();
        Ok(())
    } else {
        Err(
            "no JWT crypto backend: enable the `aws-lc-rs` or `rust-crypto` feature of tower-api-auth",
        )
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
