//! The real servers the store tests run against: a throwaway PostgreSQL database per test, a
//! fresh SQLite file, a Redis key prefix of its own, and [`Proxy`], a TCP proxy that can be cut
//! and restored to play a store that goes down and comes back.
//!
//! PostgreSQL and Redis must be running (`.ci/run` starts them): a missing server fails the test,
//! never skips it. `TEST_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`) and
//! `TEST_REDIS_URL` (default `redis://127.0.0.1:6379`) point elsewhere, and
//! `TEST_REDIS_CLUSTER_URLS` (comma-separated; default the three nodes `.ci/run` starts,
//! `redis://127.0.0.1:7001` to `7003`) at another Redis Cluster.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use tokio::io::copy_bidirectional;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// The administrative PostgreSQL URL the throwaway databases are created through.
pub fn postgres_admin_url() -> String {
    std::env::var("TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// The Redis URL.
pub fn redis_url() -> String {
    std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// The URLs of the Redis Cluster's nodes.
pub fn redis_cluster_urls() -> Vec<String> {
    std::env::var("TEST_REDIS_CLUSTER_URLS")
        .unwrap_or_else(|_| {
            "redis://127.0.0.1:7001,redis://127.0.0.1:7002,redis://127.0.0.1:7003".to_owned()
        })
        .split(',')
        .map(|url| url.trim().to_owned())
        .filter(|url| !url.is_empty())
        .collect()
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A name no other test of any run uses: process id, a counter, and the time.
pub fn unique_name(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "{prefix}_{}_{}_{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// Replaces the database name (the path) of a `postgres://` URL.
pub fn with_database(url: &str, database: &str) -> String {
    let (base, _) = url
        .rsplit_once('/')
        .expect("a postgres URL with a database");
    format!("{base}/{database}")
}

/// A fresh, empty PostgreSQL database for one test; its URL. Panics (fails the test) when the
/// server is not reachable: `.ci/run` starts it.
pub async fn postgres_database() -> String {
    use sqlx::Connection as _;
    let admin = postgres_admin_url();
    let mut conn = sqlx::PgConnection::connect(&admin)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL at {admin} is needed by this test: {e}"));
    let name = unique_name("taa_test");
    // The name is ours (letters, digits and underscores), never input.
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .expect("create the throwaway database");
    with_database(&admin, &name)
}

/// A fresh SQLite database in a temporary file; its URL. The file lives as long as the process's
/// temp dir (the OS cleans it up).
pub fn sqlite_url() -> String {
    let path = std::env::temp_dir().join(format!("{}.db", unique_name("taa_test")));
    format!("sqlite://{}?mode=rwc", path.display())
}

/// A Redis key prefix no other test uses.
pub fn redis_prefix() -> String {
    unique_name("taa_test")
}

/// A TCP proxy in front of a store, for outages on demand: [`cut`](Self::cut) closes every open
/// connection and refuses new ones, as a store that went down does; [`restore`](Self::restore)
/// lets connections through again.
#[derive(Clone)]
pub struct Proxy {
    addr: SocketAddr,
    up: Arc<AtomicBool>,
    cuts: watch::Sender<u64>,
}

impl Proxy {
    /// A proxy to `upstream` (`host:port`) on a free port of 127.0.0.1.
    pub async fn start(upstream: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let up = Arc::new(AtomicBool::new(true));
        let (cuts, _) = watch::channel(0u64);
        let proxy = Self { addr, up, cuts };
        let accepting = proxy.clone();
        let upstream = upstream.to_owned();
        tokio::spawn(async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else {
                    continue;
                };
                if !accepting.up.load(Ordering::SeqCst) {
                    drop(client); // refused: closed at once
                    continue;
                }
                let mut cut = accepting.cuts.subscribe();
                let upstream = upstream.clone();
                tokio::spawn(async move {
                    let Ok(mut server) = TcpStream::connect(&upstream).await else {
                        return;
                    };
                    tokio::select! {
                        _ = copy_bidirectional(&mut client, &mut server) => {}
                        _ = cut.changed() => {}
                    }
                });
            }
        });
        proxy
    }

    /// The proxy's `host:port`.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `url` with its `host:port` replaced by the proxy's.
    pub fn url_through(&self, url: &str) -> String {
        let (scheme, rest) = url.split_once("://").expect("a URL");
        let (authority, path) = rest.split_once('/').map_or((rest, ""), |(a, p)| (a, p));
        let userinfo = authority
            .rsplit_once('@')
            .map_or(String::new(), |(u, _)| format!("{u}@"));
        let path = if path.is_empty() {
            String::new()
        } else {
            format!("/{path}")
        };
        format!("{scheme}://{userinfo}{}{path}", self.addr)
    }

    /// The store goes down: open connections are closed, new ones refused.
    pub fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        self.cuts.send_modify(|n| *n += 1);
    }

    /// The store is back.
    pub fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}
