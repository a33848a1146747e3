//! An authenticating reverse proxy on hyper and tower (no axum on the request path): it checks
//! each request's API key or Bearer JWT with the [`AuthLayer`], and forwards the request to one
//! upstream with the credentials removed and the verified identity in `x-auth-principal`,
//! `x-auth-tenant`, `x-auth-scopes`, `x-auth-method` and `x-auth-key-id` (see
//! [`tower_api_auth::forward`]: a client's own copies of those are always removed, so the upstream
//! can trust them). Both bodies stream through; the upstream's answer reaches the client as the
//! upstream sends it.
//!
//! ```text
//! UPSTREAM=http://127.0.0.1:8080 PORT=3002 JWT_SECRET=a-secret-of-at-least-thirty-two-bytes!! \
//!     cargo run -p tower-api-auth-examples --example proxy
//! ```
//!
//! `UPSTREAM` (default `http://127.0.0.1:8080`) is the service behind it, `http://host:port`
//! only; `PORT` (default 3002) where it listens, on 127.0.0.1. It prints a demo API key; with
//! `JWT_SECRET` (32 bytes or more) it also accepts HS256 JWTs signed with it. Answers of its own:
//! the layer's 401/400/403 JSON errors, `502 bad_gateway` when the upstream cannot be reached, and
//! `504 gateway_timeout` when its response head takes longer than 30 s. It serves HTTP/1.1 with a
//! 10 s limit on reading a request's headers and at most 512 connections at once.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::HOST;
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{Request, Response, StatusCode, Uri};
use http_body_util::{Either, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::{ServiceBuilder, ServiceExt as _, service_fn};
use tower_api_auth::client_ip::ClientAddr;
use tower_api_auth::forward::{ForwardIdentityLayer, IdentityHeaders};
use tower_api_auth::jwt::JwtOptions;
use tower_api_auth::{AuthLayer, JwtValidator, MemoryKeyStore, Tenant};

/// A response body: the upstream's, streamed, or one of the proxy's own errors.
type ProxyBody = Either<Incoming, Full<Bytes>>;

/// The one service behind the proxy, and how long its response head may take.
#[derive(Clone, Debug)]
pub(crate) struct Upstream {
    scheme: Scheme,
    authority: Authority,
    timeout: Duration,
    client: Client<HttpConnector, Incoming>,
}

impl Upstream {
    /// The upstream at `base` (`http://host:port`, nothing after it).
    pub(crate) fn new(base: &str, timeout: Duration) -> Result<Self, String> {
        let uri: Uri = base
            .parse()
            .map_err(|e| format!("UPSTREAM {base:?} is not a URL: {e}"))?;
        let (Some(scheme), Some(authority)) = (uri.scheme(), uri.authority()) else {
            return Err(format!("UPSTREAM {base:?} needs http://host:port"));
        };
        if *scheme != Scheme::HTTP || uri.path_and_query().is_some_and(|p| p.as_str() != "/") {
            return Err(format!(
                "UPSTREAM {base:?}: only http://host:port is supported"
            ));
        }
        Ok(Self {
            scheme: scheme.clone(),
            authority: authority.clone(),
            timeout,
            client: Client::builder(TokioExecutor::new()).build_http(),
        })
    }

    /// Sends `request` (already rewritten by `ForwardIdentity`) to the upstream: same method,
    /// path, query, headers and streaming body, `Host` set to the upstream's.
    async fn forward(self, mut request: Request<Incoming>) -> Response<ProxyBody> {
        let path = request
            .uri()
            .path_and_query()
            .cloned()
            .unwrap_or_else(|| PathAndQuery::from_static("/"));
        let uri = Uri::builder()
            .scheme(self.scheme)
            .authority(self.authority)
            .path_and_query(path)
            .build();
        match uri {
            Ok(uri) => *request.uri_mut() = uri,
            Err(error) => return proxy_error(StatusCode::BAD_REQUEST, "bad_request", &error),
        }
        // The client builds `Host` from the URI when there is none.
        request.headers_mut().remove(HOST);
        // Where the request came from, as this proxy saw it (`run` has ForwardIdentity drop a
        // client's own claims): an upstream trusting the first proxy's X-Forwarded-For gets no
        // forged address.
        if let Some(ClientAddr(peer)) = request.extensions().get::<ClientAddr>().copied()
            && let Ok(value) = http::HeaderValue::try_from(peer.ip().to_string())
        {
            request.headers_mut().insert("x-forwarded-for", value);
        }
        match tokio::time::timeout(self.timeout, self.client.request(request)).await {
            Ok(Ok(response)) => response.map(Either::Left),
            Ok(Err(error)) => proxy_error(StatusCode::BAD_GATEWAY, "bad_gateway", &error),
            Err(elapsed) => proxy_error(StatusCode::GATEWAY_TIMEOUT, "gateway_timeout", &elapsed),
        }
    }
}

/// One of the proxy's own answers, in the crate's error shape. The cause goes to the log, not to
/// the client.
fn proxy_error(
    status: StatusCode,
    code: &str,
    cause: &dyn std::error::Error,
) -> Response<ProxyBody> {
    // The whole chain: hyper-util's "client error (Connect)" says why only in its sources.
    let mut why = cause.to_string();
    let mut source = cause.source();
    while let Some(error) = source {
        why = format!("{why}: {error}");
        source = error.source();
    }
    eprintln!("proxy: {code}: {why}");
    let message = match status {
        StatusCode::BAD_GATEWAY => "The upstream service could not be reached",
        StatusCode::GATEWAY_TIMEOUT => "The upstream service did not answer in time",
        _ => "The request cannot be forwarded",
    };
    let body = serde_json::json!({ "error": { "code": code, "message": message } });
    let mut response = Response::new(Either::Right(Full::new(Bytes::from(body.to_string()))));
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    response
}

/// What the proxy allows its clients, as the other examples' serving loop
/// (`quickstart_support/serve.rs`, which serves an axum `Router`, so not this one) does.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// How long a client has to send a request's headers (and how long a keep-alive connection
    /// may idle): past it hyper closes the connection, so a client that never finishes holds no
    /// socket for long.
    pub(crate) header_read_timeout: Duration,
    /// How many connections are open at once; past it new clients wait in the listen backlog,
    /// and the process never runs out of file descriptors.
    pub(crate) max_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            max_connections: 512,
        }
    }
}

/// Serves the proxy on `listener` within `limits`: `auth` checks each request, `headers` names
/// what the upstream is told, `upstream` answers. There is no limit on a whole request's time:
/// a long download streams for as long as it takes (the upstream's response head has one).
/// The headers that say where a request came from: only this proxy may set them.
const FORWARDING_CLAIMS: [&str; 5] = [
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-proto",
    "forwarded",
    "x-real-ip",
];

pub(crate) async fn run(
    listener: TcpListener,
    auth: AuthLayer,
    headers: IdentityHeaders,
    upstream: Upstream,
    limits: Limits,
) {
    // A client's claims of where the request came from go, under any spelling (CGI-style
    // stacks read `x_forwarded_for` as the same variable); `forward` sets X-Forwarded-For.
    let headers = FORWARDING_CLAIMS
        .into_iter()
        .fold(headers, |headers, name| {
            headers.remove(http::HeaderName::from_static(name))
        });
    let service = ServiceBuilder::new()
        .layer(auth)
        .layer(ForwardIdentityLayer::new(headers))
        .service(service_fn(move |request| {
            let upstream = upstream.clone();
            async move { Ok::<_, Infallible>(upstream.forward(request).await) }
        }));
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    let connections = Arc::new(Semaphore::new(limits.max_connections));
    loop {
        // Room for one more connection before accepting it. The semaphore is never closed.
        let Ok(permit) = Arc::clone(&connections).acquire_owned().await else {
            return;
        };
        let (stream, remote) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of descriptors or memory: retrying at once would spin on the same error.
                eprintln!("proxy: accept error: {error}");
                tokio::time::sleep(Duration::from_millis(250)).await;
                continue;
            }
        };
        // The peer's address, for the layer's client-IP readers (the failed-auth throttle).
        let service = service
            .clone()
            .map_request(move |mut request: Request<Incoming>| {
                request.extensions_mut().insert(ClientAddr(remote));
                request
            });
        let connection =
            http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                eprintln!("proxy: connection error: {error}");
            }
            drop(permit);
        });
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let upstream = std::env::var("UPSTREAM").unwrap_or_else(|_| "http://127.0.0.1:8080".into());
    let upstream = Upstream::new(&upstream, Duration::from_secs(30))?;
    let port: u16 = match std::env::var("PORT") {
        Ok(port) => port.parse().map_err(|e| format!("PORT {port:?}: {e}"))?,
        Err(_) => 3002,
    };

    let (api_key, record) = tower_api_auth::api_key::ApiKeyHasher::default()
        .generate(&tower_api_auth::api_key::ApiKeyFormat::default())
        .with_record(|r| r.with_tenants([Tenant::new("tn_demo").expect("a valid tenant")]))
        .into_parts();
    let mut auth = AuthLayer::builder().api_keys(MemoryKeyStore::from(vec![record]));
    if let Ok(secret) = std::env::var("JWT_SECRET") {
        auth = auth.jwt(JwtValidator::hs256(secret.as_bytes(), JwtOptions::new())?);
    }

    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    let addr = listener.local_addr()?;
    println!("curl -i http://{addr}/ -H 'X-API-Key: {api_key}' -H 'X-Tenant-ID: tn_demo'");
    run(
        listener,
        auth.build()?,
        IdentityHeaders::new(),
        upstream,
        Limits::default(),
    )
    .await;
    Ok(())
}
