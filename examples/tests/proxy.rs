//! The reverse proxy example over real HTTP on 127.0.0.1: a client, the proxy (`proxy.rs`, whole)
//! and a real hyper upstream that records every request it receives and echoes its headers.

#[allow(dead_code)]
#[path = "../proxy.rs"]
mod proxy_app;

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt as _, Channel, Either, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;
use tokio::sync::{Mutex as AsyncMutex, oneshot};
use tower_api_auth::forward::IdentityHeaders;
use tower_api_auth::jwt::JwtOptions;
use tower_api_auth::{AuthLayer, JwtValidator, MemoryKeyStore};
use tower_api_auth_tests::jwt::{claims, hs256, with};
use tower_api_auth_tests::{HS256_SECRET, Reply, Server, api_key};

use proxy_app::{Limits, Upstream};

/// The headers of one request the upstream received: name → every value, in order.
type Seen = BTreeMap<String, Vec<String>>;

/// A real upstream: `/stream` answers `first`, then waits for the test to release `rest`;
/// `/hang` never answers; anything else echoes the request's headers and body length as JSON,
/// with a hop-by-hop header of its own (`Connection: x-upstream-hop`).
struct UpstreamServer {
    base: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl UpstreamServer {
    async fn start() -> (Self, oneshot::Sender<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (release_tx, release_rx) = oneshot::channel();
        let release = Arc::new(AsyncMutex::new(Some(release_rx)));
        let server = Self {
            base,
            seen: Arc::clone(&seen),
        };
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let seen = Arc::clone(&seen);
                let release = Arc::clone(&release);
                let service = hyper::service::service_fn(move |request| {
                    upstream_answer(request, Arc::clone(&seen), Arc::clone(&release))
                });
                tokio::spawn(
                    hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service),
                );
            }
        });
        (server, release_tx)
    }

    /// The requests that reached the upstream so far.
    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("not poisoned").clone()
    }
}

type UpstreamBody = Either<Full<Bytes>, Channel<Bytes>>;

async fn upstream_answer(
    request: Request<Incoming>,
    seen: Arc<Mutex<Vec<Seen>>>,
    release: Arc<AsyncMutex<Option<oneshot::Receiver<()>>>>,
) -> Result<Response<UpstreamBody>, Infallible> {
    let mut headers = Seen::new();
    for (name, value) in request.headers() {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        headers.entry(name.to_string()).or_default().push(value);
    }
    seen.lock().expect("not poisoned").push(headers.clone());
    match request.uri().path() {
        "/stream" => {
            let (mut sender, body) = Channel::<Bytes>::new(1);
            tokio::spawn(async move {
                let _ = sender.send_data(Bytes::from_static(b"first|")).await;
                let waiting = release.lock().await.take().expect("one /stream per test");
                let _ = waiting.await;
                let _ = sender.send_data(Bytes::from_static(b"rest")).await;
            });
            Ok(Response::new(Either::Right(body)))
        }
        "/hang" => std::future::pending().await,
        _ => {
            let path = request.uri().to_string();
            let body = request
                .into_body()
                .collect()
                .await
                .expect("body")
                .to_bytes();
            let echo = json!({ "path": path, "headers": headers, "body_len": body.len() });
            let response = Response::builder()
                .header("content-type", "application/json")
                .header("connection", "x-upstream-hop")
                .header("x-upstream-hop", "1")
                .body(Either::Left(Full::new(Bytes::from(echo.to_string()))))
                .expect("response");
            Ok(response)
        }
    }
}

/// The proxy in front of `upstream` with `auth` and the default identity headers.
async fn start_proxy(auth: AuthLayer, upstream: &str) -> Server {
    start_proxy_with(auth, upstream, Duration::from_secs(5), Limits::default()).await
}

async fn start_proxy_with(
    auth: AuthLayer,
    upstream: &str,
    timeout: Duration,
    limits: Limits,
) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let upstream = Upstream::new(upstream, timeout).expect("upstream URL");
    tokio::spawn(proxy_app::run(
        listener,
        auth,
        IdentityHeaders::new(),
        upstream,
        limits,
    ));
    Server::at(base)
}

/// A client that opens a connection to `server`, sends half a request's headers and stalls.
async fn stalled_client(server: &Server) -> tokio::net::TcpStream {
    let addr = server.base().trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: proxy.test\r\nX-API-Ke")
        .await
        .expect("write");
    stream
}

/// A layer that accepts `records`' API keys and HS256 JWTs of the test secret.
fn auth_layer(records: Vec<tower_api_auth::api_key::KeyRecord>) -> AuthLayer {
    AuthLayer::builder()
        .api_keys(MemoryKeyStore::from(records))
        .jwt(JwtValidator::hs256(HS256_SECRET, JwtOptions::new()).expect("hs256 key"))
        .build()
        .expect("layer")
}

/// The identity headers (and the credential headers) of one request the upstream saw.
fn identity_of(seen: &Seen) -> Value {
    let names = [
        "x-auth-principal",
        "x-auth-tenant",
        "x-auth-scopes",
        "x-auth-method",
        "x-auth-key-id",
        "authorization",
        "x-api-key",
        "x-tenant-id",
    ];
    names
        .iter()
        .filter_map(|name| Some((name.to_string(), json!(seen.get(*name)?))))
        .collect::<serde_json::Map<_, _>>()
        .into()
}

/// The forged identity every hostile client below sends.
fn forged(call: tower_api_auth_tests::Call) -> tower_api_auth_tests::Call {
    call.header("x-auth-principal", "admin")
        .header("x-auth-principal", "root")
        .header("X-Auth-Tenant", "tn_root")
        .header("x-auth-scopes", "admin:all")
        .header("x-auth-method", "jwt")
        .header("x-auth-key-id", "forged")
        .header("x_auth_principal", "admin")
        .header("x-forwarded-for", "203.0.113.66")
        .header("x_forwarded_for", "203.0.113.66")
        .header("x-forwarded-host", "admin.example.test")
        .header("forwarded", "for=203.0.113.66")
}

#[tokio::test]
async fn an_api_key_and_a_jwt_reach_the_upstream_as_identity_headers_without_credentials() {
    let (upstream, _release) = UpstreamServer::start().await;
    let (key, record) = api_key("reports:read reports:write");
    let key_id = record.key_id.to_string();
    let proxy = start_proxy(auth_layer(vec![record]), &upstream.base).await;

    let reply = proxy
        .get("/v1/reports?page=2")
        .api_key(&key, "tn_b")
        .send()
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(
        reply.json()["path"],
        "/v1/reports?page=2",
        "path and query forwarded"
    );
    assert_eq!(
        identity_of(&upstream.seen()[0]),
        json!({
            "x-auth-principal": [key_id],
            "x-auth-tenant": ["tn_b"],
            "x-auth-scopes": ["reports:read reports:write"],
            "x-auth-method": ["api_key"],
            "x-auth-key-id": [key_id],
        })
    );

    let token = hs256(&with(
        claims("user_42"),
        json!({ "tenant_id": "tn_a", "scope": "chats:read" }),
    ));
    let reply = proxy.get("/v1/chats").bearer(&token).send().await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(
        identity_of(&upstream.seen()[1]),
        json!({
            "x-auth-principal": ["user_42"],
            "x-auth-tenant": ["tn_a"],
            "x-auth-scopes": ["chats:read"],
            "x-auth-method": ["jwt"],
        }),
        "no key id: the validator's key has none"
    );
    // The upstream is told its own Host, not the proxy's.
    let host = upstream.base.trim_start_matches("http://");
    assert_eq!(upstream.seen()[1]["host"], [host]);
}

#[tokio::test]
async fn forged_identity_headers_with_a_valid_credential_never_reach_the_upstream() {
    let (upstream, _release) = UpstreamServer::start().await;
    let (key, record) = api_key("reports:read");
    let key_id = record.key_id.to_string();
    let proxy = start_proxy(auth_layer(vec![record]), &upstream.base).await;

    let reply = forged(proxy.get("/")).api_key(&key, "tn_a").send().await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    // One value each, the true one.
    assert_eq!(
        identity_of(&upstream.seen()[0]),
        json!({
            "x-auth-principal": [key_id],
            "x-auth-tenant": ["tn_a"],
            "x-auth-scopes": ["reports:read"],
            "x-auth-method": ["api_key"],
            "x-auth-key-id": [key_id],
        })
    );
    let seen = &upstream.seen()[0];
    assert!(!seen.contains_key("x_auth_principal"), "{seen:?}");
    for claimed in ["forwarded", "x_forwarded_for", "x-forwarded-host"] {
        assert!(!seen.contains_key(claimed), "{claimed}: {seen:?}");
    }
    assert_eq!(
        seen["x-forwarded-for"],
        ["127.0.0.1"],
        "the address the proxy saw, not the client's claim"
    );

    // A JWT with no tenant and no scope: the forged tenant, scopes and key id are gone, not kept
    // for want of a true value.
    let token = hs256(&claims("user_7"));
    let reply = forged(proxy.get("/")).bearer(&token).send().await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(
        identity_of(&upstream.seen()[1]),
        json!({ "x-auth-principal": ["user_7"], "x-auth-method": ["jwt"] })
    );
}

#[tokio::test]
async fn forged_identity_headers_without_a_credential_are_refused_before_the_upstream() {
    let (upstream, _release) = UpstreamServer::start().await;
    let proxy = start_proxy(auth_layer(vec![]), &upstream.base).await;

    let reply = forged(proxy.get("/")).send().await;
    reply.assert_error(401, "missing_credentials");
    assert!(
        reply.challenge().is_some_and(|c| c.starts_with("Bearer")),
        "{:?}",
        reply.challenge()
    );
    assert!(upstream.seen().is_empty(), "the upstream was called");
}

#[tokio::test]
async fn an_invalid_credential_gets_the_rfc_6750_challenge_and_never_reaches_the_upstream() {
    let (upstream, _release) = UpstreamServer::start().await;
    let (_, record) = api_key("reports:read");
    let (unknown_key, _) = api_key("reports:read");
    let proxy = start_proxy(auth_layer(vec![record]), &upstream.base).await;

    let reply = proxy.get("/").bearer("not.a-valid.jwt").send().await;
    reply.assert_error(401, "invalid_token");
    reply.assert_bearer_error("invalid_token");

    let expired = hs256(&with(claims("user_42"), json!({ "exp": 1_000_000_000 })));
    let reply = forged(proxy.get("/")).bearer(&expired).send().await;
    assert_eq!(reply.status, 401, "{}", reply.text);
    reply.assert_bearer_error("invalid_token");

    let reply = proxy.get("/").api_key(&unknown_key, "tn_a").send().await;
    assert_eq!(reply.status, 401, "{}", reply.text);
    reply.assert_bearer_error("invalid_token");
    tower_api_auth_tests::assert_no_leak(&reply, &unknown_key);

    assert!(upstream.seen().is_empty(), "the upstream was called");
}

#[tokio::test]
async fn the_upstream_answer_streams_back_before_the_upstream_has_finished() {
    let (upstream, release) = UpstreamServer::start().await;
    let (key, record) = api_key("");
    let proxy = start_proxy(auth_layer(vec![record]), &upstream.base).await;

    // The upstream holds `rest` back until released: the head and the first chunk can only have
    // come through a proxy that does not wait for the whole body (a buffering one would still be
    // waiting when the timeout fails the test).
    let client = reqwest::Client::new();
    let request = client
        .get(format!("{}/stream", proxy.base()))
        .header("x-api-key", &key)
        .header("x-tenant-id", "tn_a");
    let (mut response, first) = tokio::time::timeout(Duration::from_secs(2), async {
        let mut response = request.send().await.expect("response head");
        let first = response.chunk().await.expect("chunk read");
        (response, first)
    })
    .await
    .expect("the head and the first chunk arrived before the upstream finished");
    assert_eq!(response.status(), 200);
    assert_eq!(first.as_deref(), Some(&b"first|"[..]));
    release.send(()).expect("upstream waiting");
    let mut rest = Vec::new();
    while let Some(chunk) = response.chunk().await.expect("chunk read") {
        rest.extend_from_slice(&chunk);
    }
    assert_eq!(rest, b"rest");
}

#[tokio::test]
async fn the_request_body_streams_to_the_upstream() {
    let (upstream, _release) = UpstreamServer::start().await;
    let (key, record) = api_key("");
    let proxy = start_proxy(auth_layer(vec![record]), &upstream.base).await;

    let response = reqwest::Client::new()
        .post(format!("{}/upload", proxy.base()))
        .header("x-api-key", &key)
        .header("x-tenant-id", "tn_a")
        .body("x".repeat(200_000))
        .send()
        .await
        .expect("response");
    assert_eq!(response.status(), 200);
    let echo: Value = serde_json::from_str(&response.text().await.expect("body")).expect("JSON");
    assert_eq!(echo["body_len"], 200_000);
}

#[tokio::test]
async fn hop_by_hop_headers_are_removed_both_ways() {
    let (upstream, _release) = UpstreamServer::start().await;
    let (key, record) = api_key("");
    let proxy = start_proxy(auth_layer(vec![record]), &upstream.base).await;

    let reply = proxy
        .get("/")
        .api_key(&key, "tn_a")
        .header("connection", "keep-alive, x-client-hop")
        .header("x-client-hop", "1")
        .header("keep-alive", "timeout=5")
        .header("te", "gzip")
        .header("proxy-authorization", "Basic cHJveHk6c2VjcmV0")
        .header("x-end-to-end", "kept")
        .send()
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let seen = &upstream.seen()[0];
    for name in ["x-client-hop", "keep-alive", "te", "proxy-authorization"] {
        assert!(
            !seen.contains_key(name),
            "{name} reached the upstream: {seen:?}"
        );
    }
    assert_eq!(seen["x-end-to-end"], ["kept"]);
    // The upstream's own hop-by-hop header stays on its side too.
    assert_eq!(reply.header("x-upstream-hop"), None);
    assert_eq!(reply.header("content-type"), Some("application/json"));
}

#[tokio::test]
async fn a_principal_that_is_no_header_value_arrives_percent_encoded() {
    let (upstream, _release) = UpstreamServer::start().await;
    let proxy = start_proxy(auth_layer(vec![]), &upstream.base).await;

    let token = hs256(&claims("Zoë 50%\r\nx-auth-tenant: tn_root"));
    let reply = proxy.get("/").bearer(&token).send().await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let seen = &upstream.seen()[0];
    assert_eq!(
        seen["x-auth-principal"],
        ["Zo%C3%AB%2050%25%0D%0Ax-auth-tenant:%20tn_root"]
    );
    assert!(!seen.contains_key("x-auth-tenant"), "{seen:?}");
}

#[tokio::test]
async fn an_upstream_that_is_down_is_a_502_with_a_clear_body() {
    // A port that was just free: nothing listens on it.
    let closed = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let down = format!("http://{}", closed.local_addr().expect("addr"));
    drop(closed);
    let (key, record) = api_key("");
    let proxy = start_proxy(auth_layer(vec![record]), &down).await;

    let reply = proxy.get("/").api_key(&key, "tn_a").send().await;
    reply.assert_error(502, "bad_gateway");
    assert_eq!(
        reply.json()["error"]["message"],
        "The upstream service could not be reached"
    );
    // The proxy still answers the next request.
    let reply: Reply = proxy.get("/").api_key(&key, "tn_a").send().await;
    assert_eq!(reply.status, 502);
}

#[tokio::test]
async fn an_upstream_that_does_not_answer_in_time_is_a_504() {
    let (upstream, _release) = UpstreamServer::start().await;
    let (key, record) = api_key("");
    let proxy = start_proxy_with(
        auth_layer(vec![record]),
        &upstream.base,
        Duration::from_millis(200),
        Limits::default(),
    )
    .await;

    let reply = proxy.get("/hang").api_key(&key, "tn_a").send().await;
    reply.assert_error(504, "gateway_timeout");
    assert_eq!(upstream.seen().len(), 1, "the upstream got the request");
}

#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_cut_off() {
    let (upstream, _release) = UpstreamServer::start().await;
    let limits = Limits {
        header_read_timeout: Duration::from_millis(200),
        ..Limits::default()
    };
    let proxy = start_proxy_with(
        auth_layer(vec![]),
        &upstream.base,
        Duration::from_secs(5),
        limits,
    )
    .await;

    let mut stalled = stalled_client(&proxy).await;
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(2), stalled.read_to_end(&mut answer))
        .await
        .expect("the proxy closed the connection")
        .expect("read");
    // hyper closes it, with at most a 408 head: never a request that reached the upstream.
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "{answer}"
    );
    assert!(upstream.seen().is_empty());
}

#[tokio::test]
async fn past_the_connection_limit_a_client_waits_for_room() {
    let (upstream, _release) = UpstreamServer::start().await;
    let (key, record) = api_key("");
    let limits = Limits {
        header_read_timeout: Duration::from_millis(300),
        max_connections: 1,
    };
    let proxy = start_proxy_with(
        auth_layer(vec![record]),
        &upstream.base,
        Duration::from_secs(5),
        limits,
    )
    .await;

    // The one connection allowed is held by a stalled client until the header timeout cuts it.
    let _stalled = stalled_client(&proxy).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let started = std::time::Instant::now();
    let reply = proxy.get("/").api_key(&key, "tn_a").send().await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert!(
        started.elapsed() >= Duration::from_millis(200),
        "answered after {:?}, beside the stalled connection",
        started.elapsed()
    );
}

#[test]
fn an_upstream_that_is_not_http_host_port_is_refused_at_start() {
    for bad in [
        "127.0.0.1:8080",
        "https://api.test",
        "http://api.test/v1",
        "not a url",
    ] {
        let error = Upstream::new(bad, Duration::from_secs(1)).expect_err(bad);
        assert!(error.contains("UPSTREAM"), "{bad}: {error}");
    }
    assert!(Upstream::new("http://127.0.0.1:8080", Duration::from_secs(1)).is_ok());
}
