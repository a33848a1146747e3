//! The token service's hold on any store: each store trait made object safe (the boxed twin of
//! its `async fn`s), so that a `TokenService` is not generic over its stores.

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use crate::api_key::ApiKeyHasher;
use crate::store::{
    AuthorizationCode, ClientRecord, ClientStore, CodeHash, CodeStore, Redemption, RefreshStore,
    RefreshTokenHash, RevocationCheck, RevocationStore, Rotation, Session, StoreError,
    StoredSession,
};

pub(crate) type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// [`RefreshStore`] made object safe, for the service to hold any store behind one `Arc`.
pub(crate) trait DynRefreshStore: Send + Sync + 'static {
    fn start(
        &self,
        session: Session,
        first: RefreshTokenHash,
        max_per_subject: usize,
    ) -> BoxFuture<'_, Vec<Session>>;
    fn load<'a>(&'a self, session_id: &'a str) -> BoxFuture<'a, Option<StoredSession>>;
    fn rotate<'a>(&'a self, session_id: &'a str, rotation: Rotation) -> BoxFuture<'a, bool>;
    fn end<'a>(&'a self, session_id: &'a str) -> BoxFuture<'a, Option<Session>>;
    fn purge(&self, now: u64) -> BoxFuture<'_, usize>;
}

impl<S: RefreshStore> DynRefreshStore for S {
    fn start(
        &self,
        session: Session,
        first: RefreshTokenHash,
        max_per_subject: usize,
    ) -> BoxFuture<'_, Vec<Session>> {
        Box::pin(RefreshStore::start(self, session, first, max_per_subject))
    }

    fn load<'a>(&'a self, session_id: &'a str) -> BoxFuture<'a, Option<StoredSession>> {
        Box::pin(RefreshStore::load(self, session_id))
    }

    fn rotate<'a>(&'a self, session_id: &'a str, rotation: Rotation) -> BoxFuture<'a, bool> {
        Box::pin(RefreshStore::rotate(self, session_id, rotation))
    }

    fn end<'a>(&'a self, session_id: &'a str) -> BoxFuture<'a, Option<Session>> {
        Box::pin(RefreshStore::end(self, session_id))
    }

    fn purge(&self, now: u64) -> BoxFuture<'_, usize> {
        Box::pin(RefreshStore::purge(self, now))
    }
}

impl fmt::Debug for dyn DynRefreshStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("dyn RefreshStore")
    }
}

/// [`ClientStore`] made object safe.
pub(crate) trait DynClientStore: Send + Sync + 'static {
    fn client<'a>(&'a self, client_id: &'a str) -> BoxFuture<'a, Option<ClientRecord>>;
    fn secret_hasher(&self) -> ApiKeyHasher;
}

impl<C: ClientStore> DynClientStore for C {
    fn client<'a>(&'a self, client_id: &'a str) -> BoxFuture<'a, Option<ClientRecord>> {
        Box::pin(ClientStore::client(self, client_id))
    }

    fn secret_hasher(&self) -> ApiKeyHasher {
        ClientStore::secret_hasher(self)
    }
}

impl fmt::Debug for dyn DynClientStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("dyn ClientStore")
    }
}

/// [`CodeStore`] made object safe.
pub(crate) trait DynCodeStore: Send + Sync + 'static {
    fn save(&self, hash: CodeHash, code: AuthorizationCode) -> BoxFuture<'_, ()>;
    fn redeem<'a>(&'a self, hash: &'a CodeHash, session_id: &'a str) -> BoxFuture<'a, Redemption>;
    fn purge(&self, now: u64, keep_spent_for: u64) -> BoxFuture<'_, usize>;
}

impl<C: CodeStore> DynCodeStore for C {
    fn save(&self, hash: CodeHash, code: AuthorizationCode) -> BoxFuture<'_, ()> {
        Box::pin(CodeStore::save(self, hash, code))
    }

    fn redeem<'a>(&'a self, hash: &'a CodeHash, session_id: &'a str) -> BoxFuture<'a, Redemption> {
        Box::pin(CodeStore::redeem(self, hash, session_id))
    }

    fn purge(&self, now: u64, keep_spent_for: u64) -> BoxFuture<'_, usize> {
        Box::pin(CodeStore::purge(self, now, keep_spent_for))
    }
}

impl fmt::Debug for dyn DynCodeStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("dyn CodeStore")
    }
}

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
