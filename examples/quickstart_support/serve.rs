//! Serving an app as a production server should, with what `axum::serve` leaves out: a time limit
//! on request headers, one on each request, and a limit on open connections. Without them a few
//! hundred clients that open a connection and never finish their request hold as many sockets
//! for as long as they like, until the process runs out of file descriptors and answers no one.
//!
//! Built on hyper's HTTP/1 connection (`header_read_timeout`, on hyper-util's tokio timer),
//! tower-http's `TimeoutLayer` (408 for a request not answered in time, a stalled body included),
//! and a tokio semaphore around `accept`. HTTP/1 only: hyper-util's automatic HTTP/1-or-2
//! connection has no time limit while it reads the first bytes to tell the two apart, so a
//! client that sends nothing would be held forever; HTTP/2 belongs behind TLS (ALPN) anyway,
//! which a proxy in front of the app usually terminates.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{ConnectInfo, Request};
use http::StatusCode;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tower::ServiceExt as _;
use tower_http::timeout::TimeoutLayer;

/// The limits a server puts on its clients.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// How long a client has to send a request's headers, from when the connection opens or
    /// its previous request is answered (an idle keep-alive connection is closed then too).
    pub(crate) header_read_timeout: Duration,
    /// How long a request may take to be answered, its body's arrival included: 408 after.
    pub(crate) request_timeout: Duration,
    /// How many connections are open at once. Below the process's file-descriptor limit (often
    /// 1024), with room for the listener, the stores' pools and log files: past it the kernel
    /// holds new connections in the listen backlog until one closes, instead of `accept`
    /// failing with `EMFILE` for every client.
    pub(crate) max_connections: usize,
    /// How long to wait before accepting again after `accept` fails for want of resources
    /// (`EMFILE`, `ENFILE`, `ENOMEM`): retrying at once would spin on the same error.
    pub(crate) accept_backoff: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            max_connections: 512,
            accept_backoff: Duration::from_millis(250),
        }
    }
}

/// Serves `router` on `listener` within `limits` until `shutdown` completes, then stops
/// accepting and waits for the open connections to finish their requests. Each request carries
/// its peer's [`ConnectInfo<SocketAddr>`], as with `into_make_service_with_connect_info`.
pub(crate) async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) {
    let router = router.layer(TimeoutLayer::with_status_code(
        StatusCode::REQUEST_TIMEOUT,
        limits.request_timeout,
    ));
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    let connections = Arc::new(Semaphore::new(limits.max_connections));
    let mut full = FullLog::default();
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = accept(&listener, &connections, &mut full, limits) => accepted,
            () = &mut shutdown => break,
        };
        let (stream, peer, permit) = accepted;
        let service = router.clone().map_request(move |mut request: Request<_>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            request
        });
        let connection =
            http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%peer, %error, "connection closed on an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    tracing::info!("shutting down: waiting for open requests to finish");
    // Bounded: a client that never reads its answer must not hold the process forever.
    let grace = limits.header_read_timeout + limits.request_timeout;
    if tokio::time::timeout(grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            ?grace,
            "shutting down: connections still open after the grace period, closed"
        );
    }
}

/// The next connection, once there is room for one.
async fn accept(
    listener: &TcpListener,
    connections: &Arc<Semaphore>,
    full: &mut FullLog,
    limits: Limits,
) -> (tokio::net::TcpStream, SocketAddr, OwnedSemaphorePermit) {
    loop {
        let permit = match connections.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                full.note(limits.max_connections);
                connections
                    .clone()
                    .acquire_owned()
                    .await
                    .expect("the semaphore is never closed")
            }
        };
        match listener.accept().await {
            Ok((stream, peer)) => return (stream, peer, permit),
            Err(error) => {
                if let Some(wait) = backoff_after(&error, limits.accept_backoff) {
                    tracing::error!(
                        %error,
                        "accept failed: retrying in {wait:?} (at the file-descriptor limit? \
                         lower the connection limit or raise `ulimit -n`)"
                    );
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }
}

/// How long to wait after `error` before accepting again: not at all when only that one
/// connection failed (its client gave up before it was accepted), `backoff` when the process
/// lacks the resources to accept any (`EMFILE` and the like), which waiting may free.
pub(crate) fn backoff_after(error: &io::Error, backoff: Duration) -> Option<Duration> {
    match error.kind() {
        io::ErrorKind::ConnectionAborted
        | io::ErrorKind::ConnectionReset
        | io::ErrorKind::ConnectionRefused => None,
        _ => Some(backoff),
    }
}

/// Says when the connection limit is reached, once a minute at most: under a flood of stalled
/// clients it is reached again each time one is let go.
#[derive(Debug, Default)]
struct FullLog {
    last: Option<Instant>,
}

impl FullLog {
    fn note(&mut self, max_connections: usize) {
        if self
            .last
            .is_none_or(|last| last.elapsed() >= Duration::from_secs(60))
        {
            self.last = Some(Instant::now());
            tracing::warn!(
                "connection limit reached ({max_connections} open): new connections wait until \
                 one closes"
            );
        }
    }
}
