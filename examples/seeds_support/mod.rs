//! What every seed example shares and an app has its own version of: reading `PORT`, choosing
//! the stores from `DATABASE_URL` / `REDIS_URL`, printing the demo credentials, serving (with time and connection limits: see
//! quickstart_support/serve.rs) — and a
//! demo user list (a real app verifies passwords against its own user table and hashes).
#![allow(dead_code, unreachable_pub)] // each example uses the parts it needs

use std::collections::HashMap;
use std::future::Future;

use axum::Router;
use serde_json::Value;
use subtle::ConstantTimeEq;
use tower_api_auth::MemoryKeyStore;
use tower_api_auth::api_key::{ApiKeyFormat, ApiKeys, KeyManager};
use tower_api_auth::clock::SharedClock;
use tower_api_auth::issuer::{Account, PasswordVerifier};
use tower_api_auth::store::StoreError;

#[path = "../quickstart_support/serve.rs"]
pub(crate) mod serve;
#[path = "../quickstart_support/stores.rs"]
pub(crate) mod stores;

pub(crate) use stores::Stores;

pub(crate) type Error = Box<dyn std::error::Error + Send + Sync>;

/// An example's app and the credentials a reader tries it with.
pub(crate) struct Demo {
    /// The app.
    pub(crate) router: Router,
    /// Printed as one line, `demo: {…}`.
    pub(crate) credentials: Value,
}

/// Users with plaintext passwords: DEMO ONLY.
pub(crate) struct DemoUsers(HashMap<String, (String, Account)>);

impl DemoUsers {
    /// `(username, password, account)` each.
    pub(crate) fn new<const N: usize>(users: [(&str, &str, Account); N]) -> Self {
        Self(
            users
                .into_iter()
                .map(|(name, password, account)| (name.to_owned(), (password.to_owned(), account)))
                .collect(),
        )
    }
}

impl PasswordVerifier for DemoUsers {
    async fn verify(&self, username: &str, password: &str) -> Result<Option<Account>, StoreError> {
        Ok(self.0.get(username).and_then(|(expected, account)| {
            let matches: bool = expected.as_bytes().ct_eq(password.as_bytes()).into();
            matches.then(|| account.clone())
        }))
    }
}

/// Runs an example: its stores from the environment, `demo: {…}` on stdout, then it serves on
/// `127.0.0.1:$PORT` (default 3000) until Ctrl-C.
pub(crate) async fn run<F, Fut>(demo: F) -> Result<(), Error>
where
    F: FnOnce(Stores, SharedClock) -> Fut,
    Fut: Future<Output = Result<Demo, Error>>,
{
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "tower_api_auth=info,info".into()),
        )
        .init();
    let port: u16 = match std::env::var("PORT") {
        Ok(port) => port
            .parse()
            .map_err(|_| format!("PORT={port:?} is not a port number"))?,
        Err(_) => 3000,
    };
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .map_err(|e| format!("cannot listen on port {port} ({e}): set PORT to a free one"))?;
    let stores = Stores::from_env().await.map_err(|e| e.to_string())?;
    eprintln!("State: {}.", stores.describe);
    let Demo {
        router,
        credentials,
    } = demo(stores, tower_api_auth::clock::system()).await?;
    println!("demo: {credentials}");
    eprintln!("Listening on http://{}", listener.local_addr()?);
    serve::serve(listener, router, serve::Limits::default(), async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await;
    Ok(())
}

/// API keys of `prefix` (`sk_live`): in memory, or in the shared database when `DATABASE_URL` is
/// set; and the manager that makes them in the same format.
pub(crate) async fn api_keys(
    stores: &Stores,
    prefix: &str,
) -> Result<(ApiKeys, KeyManager), Error> {
    let memory = MemoryKeyStore::new();
    let api_keys = ApiKeys::new(memory.clone()).format(ApiKeyFormat::new(prefix)?);
    let api_keys = stores
        .api_keys(api_keys, &[])
        .await
        .map_err(|e| e.to_string())?;
    let manager = stores
        .key_manager(&api_keys)
        .unwrap_or_else(|| api_keys.manager(memory));
    Ok((api_keys, manager))
}
