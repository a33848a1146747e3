//! A crypto provider for rustls before a `rediss://` connection.
//!
//! redis builds its TLS configuration with rustls's process-wide crypto provider, and rustls
//! panics when none is installed and its features name none or two (cargo unifies features, so
//! any other crate of the build may turn one on). A connection must fail, never panic.

use tower_api_auth::store::StoreError;

/// Makes sure rustls has a process-wide provider: one the application installed is kept; else,
/// with feature `aws-lc-rs`, aws-lc-rs is installed; else the connection is refused with an error
/// that says what to do.
pub(crate) fn ensure_provider() -> Result<(), StoreError> {
    use rustls::crypto::CryptoProvider;
    if CryptoProvider::get_default().is_some() {
        return Ok(());
    }
    #[cfg(feature = "aws-lc-rs")]
    {
        // An `Err` means another thread installed one first, which is just as good.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        Ok(())
    }
    #[cfg(not(feature = "aws-lc-rs"))]
    Err(crate::error::invalid(
        "connect",
        "TLS needs a rustls crypto provider: call rustls::crypto::CryptoProvider::install_default \
         before connecting, or enable the aws-lc-rs feature",
    ))
}
