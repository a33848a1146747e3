//! The token service's hold on any [`RevocationStore`]: the store trait made object safe (the
//! boxed twin of its `async fn`s), so that a `TokenService` is not generic over its store.

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use crate::revocation::{RevocationCheck, RevocationStore};
use crate::store::StoreError;

type WriteFuture<'a> = Pin<Box<dyn Future<Output = Result<(), StoreError>> + Send + 'a>>;

/// [`RevocationStore`] made object safe, for the token service to hold any store.
pub(super) trait DynRevocationStore: RevocationCheck {
    fn revoke_session<'a>(&'a self, session_id: &'a str, until: u64) -> WriteFuture<'a>;
    fn revoke_token<'a>(&'a self, token_id: &'a str, until: u64) -> WriteFuture<'a>;
}

impl<R: RevocationStore> DynRevocationStore for R {
    fn revoke_session<'a>(&'a self, session_id: &'a str, until: u64) -> WriteFuture<'a> {
        Box::pin(RevocationStore::revoke_session(self, session_id, until))
    }

    fn revoke_token<'a>(&'a self, token_id: &'a str, until: u64) -> WriteFuture<'a> {
        Box::pin(RevocationStore::revoke_token(self, token_id, until))
    }
}

impl fmt::Debug for dyn DynRevocationStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("dyn RevocationStore")
    }
}
