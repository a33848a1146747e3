//! Shared helpers of the integration tests: a real HTTP server (or the same router called in
//! process through `oneshot`), a client that records status, headers and JSON body, API keys, and
//! JWTs minted with jsonwebtoken. [`lifecycle`] adds the token service's fixtures.

// Fixtures are built with `new()` in the tests; a `Default` would only add a second spelling.
#![allow(clippy::new_without_default)]

/// The token lifecycle's fixtures, for the files that build the issuer.
#[cfg(all(
    feature = "issuer",
    feature = "axum",
    any(feature = "aws-lc-rs", feature = "rust-crypto")
))]
pub mod lifecycle;

/// A fleet of instances sharing stores, for the fleet tests.
#[cfg(all(
    feature = "fleet",
    feature = "issuer",
    feature = "axum",
    any(feature = "aws-lc-rs", feature = "rust-crypto")
))]
pub mod fleet;

/// The OAuth authorization server run as a fleet: codes, sessions and keys shared by instances.
#[cfg(all(
    feature = "fleet",
    feature = "issuer",
    feature = "axum",
    any(feature = "aws-lc-rs", feature = "rust-crypto")
))]
pub mod oauth;

/// Real PostgreSQL, SQLite and Redis for the store tests, and a TCP proxy to cut them off.
#[cfg(feature = "servers")]
pub mod servers;

/// The contract every store passes: API keys, refresh sessions, OAuth clients, the feed.
#[cfg(all(feature = "fleet", feature = "issuer"))]
pub mod contract;

/// What every `SigningKeyStore` must do, and two key rings racing on one store.
#[cfg(all(feature = "issuer", feature = "aws-lc-rs"))]
pub mod signing_keys;

/// A TCP client that sends exactly what a test writes: stalled bodies, unfinished headers.
pub mod raw_http;

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use http_body_util::BodyExt as _;
use reqwest::header::HeaderMap;
use serde_json::Value;
use tower::ServiceExt as _;
use tower_api_auth::{
    JwtValidator, Tenant, api_key::ApiKeyFormat, api_key::ApiKeyHasher, api_key::KeyRecord,
    jwt::TokenCacheConfig, scope::Scopes,
};

/// A fixed instant in the past: 2023-11-14T22:13:20Z.
pub const PAST: u64 = 1_700_000_000;
/// [`PAST`] in RFC 3339.
pub const PAST_RFC3339: &str = "2023-11-14T22:13:20Z";

/// An HS256 secret (32 bytes or more).
pub const HS256_SECRET: &[u8] = b"an-hs256-secret-of-at-least-32-bytes!!";

/// Now, in unix seconds.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

/// The bytes of a PEM file in `testdata/keys/`.
pub fn pem(name: &str) -> Vec<u8> {
    let path = format!("{}/../testdata/keys/{name}.pem", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Base64url without padding, as JWS uses.
pub fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A token assembled by hand from a header and a payload, with `signature` as is (for tokens
/// jsonwebtoken refuses to produce: `alg: none`, forged signatures, …).
pub fn forge(header: &Value, payload: &Value, signature: &str) -> String {
    format!(
        "{}.{}.{signature}",
        b64(header.to_string()),
        b64(payload.to_string())
    )
}

/// A fresh API key of `format` whose record has `tenants` and `scopes`.
pub fn api_key_with(format: &ApiKeyFormat, tenants: &[&str], scopes: &str) -> (String, KeyRecord) {
    ApiKeyHasher::default()
        .generate(format)
        .with_record(|r| {
            r.with_tenants(tenants.iter().map(|t| Tenant::new(t).expect("tenant")))
                .with_scopes(Scopes::parse(scopes).expect("scopes"))
        })
        .into_parts()
}

/// A key of `prefix` with the given public `id` and `secret` (32 base62 characters) and a valid
/// checksum: CRC-32 of everything before it, as 6 base62 digits.
pub fn key_with_secret(prefix: &str, id: &str, secret: &str) -> String {
    const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let body = format!("{prefix}_{id}_{secret}");
    let mut n = crc32fast::hash(body.as_bytes());
    let mut sum = [b'0'; 6];
    for slot in sum.iter_mut().rev() {
        *slot = BASE62[(n % 62) as usize];
        n /= 62;
    }
    body + std::str::from_utf8(&sum).expect("ascii")
}

/// A fresh `sk_live` API key for tenant `tn_a` (and `tn_b`) with `scopes`.
pub fn api_key(scopes: &str) -> (String, KeyRecord) {
    api_key_with(&ApiKeyFormat::default(), &["tn_a", "tn_b"], scopes)
}

/// What came back over HTTP.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub text: String,
}

impl Reply {
    /// A header as a string, if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(name)
            .map(|v| v.to_str().expect("visible ASCII header"))
    }

    /// The `WWW-Authenticate` header.
    pub fn challenge(&self) -> Option<&str> {
        self.header("www-authenticate")
    }

    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {:?}", self.text))
    }

    /// Asserts a default (`Nested`) error body with `code`, and returns the `error` object.
    pub fn assert_error(&self, status: u16, code: &str) -> Value {
        assert_eq!(self.status, status, "status of {:?}", self.text);
        assert_eq!(
            self.header("content-type"),
            Some("application/json"),
            "content type"
        );
        let body = self.json();
        let error = body["error"].clone();
        assert_eq!(error["code"], code, "body: {body}");
        assert!(
            error["message"].as_str().is_some_and(|m| !m.is_empty()),
            "message in {body}"
        );
        error
    }

    /// Asserts the whole challenge.
    pub fn assert_challenge(&self, expected: Option<&str>) {
        assert_eq!(
            self.challenge(),
            expected,
            "WWW-Authenticate of {:?}",
            self.text
        );
    }

    /// Asserts the RFC 6750 challenge `Bearer error="<error>", error_description="<message>"`,
    /// with the message taken from the body.
    pub fn assert_bearer_error(&self, oauth_error: &str) {
        let message = self.json()["error"]["message"]
            .as_str()
            .expect("message")
            .to_owned();
        let expected = format!(r#"Bearer error="{oauth_error}", error_description="{message}""#);
        self.assert_challenge(Some(&expected));
    }
}

/// The environment variable that picks the verified-token cache path of the JWT tests: unset or
/// `on` runs them with the cache on (the default) and every request sent twice, `off` with
/// [`TokenCacheConfig::disabled`]. CI runs the core suite's `jwt` tests both ways.
pub const TOKEN_CACHE_VAR: &str = "TOWER_API_AUTH_TEST_TOKEN_CACHE";

/// Whether the JWT tests run with the verified-token cache on (see [`TOKEN_CACHE_VAR`]).
pub fn token_cache_on() -> bool {
    match std::env::var(TOKEN_CACHE_VAR) {
        Err(std::env::VarError::NotPresent) => true,
        Ok(value) => match value.as_str() {
            "" | "on" => true,
            "off" => false,
            other => panic!("{TOKEN_CACHE_VAR}={other:?}: expected `on` or `off`"),
        },
        Err(e) => panic!("{TOKEN_CACHE_VAR}: {e}"),
    }
}

/// `validator` with the cache setting of [`token_cache_on`]: as it is when on, rebuilt from its
/// keys and options without a cache when off.
pub fn with_test_token_cache(validator: JwtValidator) -> JwtValidator {
    let validator = if token_cache_on() {
        validator
    } else {
        let options = validator
            .options()
            .clone()
            .token_cache(TokenCacheConfig::disabled());
        JwtValidator::new(validator.key_handle().keys(), options)
    };
    assert_eq!(
        validator.cache_stats().is_some(),
        token_cache_on(),
        "the validator's cache does not follow {TOKEN_CACHE_VAR}"
    );
    validator
}

/// A request to the test server.
pub struct Call {
    builder: reqwest::RequestBuilder,
    /// Send it twice and require identical answers (the second one is a cache hit for a token
    /// that passed validation). Only `GET`s are made, so a repeat changes nothing on the server.
    twice: bool,
    /// The validator behind the server, to check that tokens that passed were cached.
    validator: Option<JwtValidator>,
    /// Called in process through `oneshot` instead of over HTTP.
    router: Option<axum::Router>,
}

impl Call {
    /// Adds a header (appended: repeated names make repeated headers).
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.builder = self.builder.header(name, value);
        self
    }

    /// `Authorization: Bearer <token>`.
    pub fn bearer(self, token: &str) -> Self {
        self.header("authorization", &format!("Bearer {token}"))
    }

    /// `X-API-Key: <key>` with `X-Tenant-ID: <tenant>`.
    pub fn api_key(self, key: &str, tenant: &str) -> Self {
        self.header("x-api-key", key).header("x-tenant-id", tenant)
    }

    /// `Authorization: Basic base64(<id>:<secret>)`.
    pub fn basic(self, id: &str, secret: &str) -> Self {
        let encoded = STANDARD.encode(format!("{id}:{secret}"));
        self.header("authorization", &format!("Basic {encoded}"))
    }

    /// A JSON body.
    pub fn json(self, body: &Value) -> Self {
        self.raw("application/json", body.to_string())
    }

    /// An `application/x-www-form-urlencoded` body, given already encoded.
    pub fn form(self, body: &str) -> Self {
        self.raw("application/x-www-form-urlencoded", body)
    }

    /// A raw body with `content_type`.
    pub fn raw(mut self, content_type: &str, body: impl Into<String>) -> Self {
        self.builder = self
            .builder
            .header("content-type", content_type)
            .body(body.into());
        self
    }

    /// Sends it: once, or twice when the server repeats requests (then both answers must be the
    /// same in status, `WWW-Authenticate` and body, and the second one is returned).
    pub async fn send(self) -> Reply {
        if let Some(router) = self.router {
            return Self::call_in_process(router, self.builder).await;
        }
        if !self.twice {
            return Self::send_once(self.builder).await;
        }
        let again = self
            .builder
            .try_clone()
            .expect("a request without a streaming body");
        let first = Self::send_once(self.builder).await;
        if let Some(validator) = &self.validator
            && (200..300).contains(&first.status)
        {
            // The token passed: it is in the cache now, and the second request is a hit.
            let stats = validator.cache_stats().expect("the cache is on");
            assert!(stats.entries > 0, "a valid token was not cached: {stats:?}");
        }
        let second = Self::send_once(again).await;
        assert_eq!(
            (first.status, first.challenge(), first.text.as_str()),
            (second.status, second.challenge(), second.text.as_str()),
            "the repeated request (through the token cache) answered differently"
        );
        second
    }

    /// The same request through `router.oneshot(..)`, with no socket.
    async fn call_in_process(router: axum::Router, builder: reqwest::RequestBuilder) -> Reply {
        let request = builder.build().expect("request built");
        let url = request.url();
        let target = match url.query() {
            Some(query) => format!("{}?{query}", url.path()),
            None => url.path().to_owned(),
        };
        let body = request
            .body()
            .and_then(|body| body.as_bytes())
            .map(<[u8]>::to_vec)
            .unwrap_or_default();
        let mut http_request = http::Request::builder()
            .method(request.method().clone())
            .uri(target)
            .body(axum::body::Body::from(body))
            .expect("request");
        *http_request.headers_mut() = request.headers().clone();
        let response = router.oneshot(http_request).await.expect("infallible");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("body read")
            .to_bytes();
        Reply {
            status,
            headers,
            text: String::from_utf8(bytes.to_vec()).expect("UTF-8 body"),
        }
    }

    async fn send_once(builder: reqwest::RequestBuilder) -> Reply {
        let response = builder.send().await.expect("request sent");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.expect("body read");
        Reply {
            status,
            headers,
            text,
        }
    }
}

/// A running test server, or a router called in process.
#[derive(Clone)]
pub struct Server {
    base: String,
    client: reqwest::Client,
    /// Every request is sent twice (see [`Call::send`]).
    twice: bool,
    validator: Option<JwtValidator>,
    /// Set for a router called in process (see [`in_process`]).
    router: Option<axum::Router>,
}

impl Server {
    /// `GET <path>`.
    pub fn get(&self, path: &str) -> Call {
        self.call(self.client.get(format!("{}{path}", self.base)))
    }

    /// `POST <path>`.
    pub fn post(&self, path: &str) -> Call {
        self.call(self.client.post(format!("{}{path}", self.base)))
    }

    /// `PATCH <path>`.
    pub fn patch(&self, path: &str) -> Call {
        self.call(self.client.patch(format!("{}{path}", self.base)))
    }

    /// `POST <path>` with a JSON body.
    pub async fn post_json(&self, path: &str, body: &Value) -> Reply {
        self.post(path).json(body).send().await
    }

    /// `POST <path>` with a form body.
    pub async fn post_form(&self, path: &str, body: &str) -> Reply {
        self.post(path).form(body).send().await
    }

    fn call(&self, builder: reqwest::RequestBuilder) -> Call {
        Call {
            builder,
            twice: self.twice,
            validator: self.validator.clone(),
            router: self.router.clone(),
        }
    }

    /// Whether requests go over a socket.
    pub fn is_http(&self) -> bool {
        self.router.is_none()
    }

    /// The base URL, `http://127.0.0.1:<port>`.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The same server, called from `ip` as the connection's source address: a loopback
    /// address such as `127.0.0.2` (on Linux all of 127.0.0.0/8 is the loopback interface), so
    /// that one test plays several clients of a server that tells them apart by address (see
    /// [`serve_with_peers`]).
    pub fn from_ip(&self, ip: &str) -> Self {
        let ip: std::net::IpAddr = ip.parse().expect("an IP address");
        Self {
            client: reqwest::Client::builder()
                .local_address(ip)
                .build()
                .expect("client"),
            ..self.clone()
        }
    }

    /// A server that was started some other way (a plain hyper server).
    pub fn at(base: String) -> Self {
        Self {
            base,
            client: reqwest::Client::new(),
            twice: false,
            validator: None,
            router: None,
        }
    }
}

/// Calls `app` in process through `oneshot`, with the same [`Call`]s as a served one.
pub fn in_process(app: axum::Router) -> Server {
    Server {
        router: Some(app),
        ..Server::at("http://in-process.test".to_owned())
    }
}

/// Serves `app` on 127.0.0.1 with an OS-chosen port, in the background.
pub async fn serve(app: axum::Router) -> Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("local addr");
    tokio::spawn(async move {
        axum::serve(listener, app).await.expect("server");
    });
    Server::at(format!("http://{addr}"))
}

/// Serves `app` on 127.0.0.1 as axum apps that read the client's address are served
/// (`into_make_service_with_connect_info::<SocketAddr>()`): each request carries its peer
/// address. Call it from other addresses with [`Server::from_ip`].
pub async fn serve_with_peers(app: axum::Router) -> Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("local addr");
    tokio::spawn(async move {
        let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
        axum::serve(listener, app).await.expect("server");
    });
    Server::at(format!("http://{addr}"))
}

/// Serves `app` for the JWT tests: with the token cache on (see [`TOKEN_CACHE_VAR`]), every
/// request is sent twice so that the cache-hit path answers it too. `validator` is a clone of the
/// layer's validator (built with [`with_test_token_cache`]), if it has one.
pub async fn serve_jwt(app: axum::Router, validator: Option<JwtValidator>) -> Server {
    let mut server = serve(app).await;
    server.twice = token_cache_on();
    server.validator = validator.filter(|_| server.twice);
    server
}

/// Asserts that neither the body nor any header of `reply` contains `secret`.
pub fn assert_no_leak(reply: &Reply, secret: &str) {
    assert!(
        !reply.text.contains(secret),
        "secret leaked in body {:?}",
        reply.text
    );
    for (name, value) in &reply.headers {
        let value = String::from_utf8_lossy(value.as_bytes());
        assert!(!value.contains(secret), "secret leaked in header {name}");
    }
}

/// JWT minting, for the files that have a crypto backend.
#[cfg(any(feature = "aws-lc-rs", feature = "rust-crypto"))]
pub mod jwt {
    use jsonwebtoken::{Algorithm, EncodingKey, Header};
    use serde_json::{Value, json};

    use super::{HS256_SECRET, now, pem};

    /// The encoding key of `alg` (the HMAC secrets are `alg`-specific lengths).
    pub fn encoding_key(alg: Algorithm) -> EncodingKey {
        tower_api_auth::crypto::ensure_provider();
        match alg {
            Algorithm::HS256 => EncodingKey::from_secret(HS256_SECRET),
            Algorithm::HS384 => EncodingKey::from_secret(&hmac_secret(48)),
            Algorithm::HS512 => EncodingKey::from_secret(&hmac_secret(64)),
            Algorithm::RS256
            | Algorithm::RS384
            | Algorithm::RS512
            | Algorithm::PS256
            | Algorithm::PS384
            | Algorithm::PS512 => EncodingKey::from_rsa_pem(&pem("rsa_private")).expect("rsa"),
            Algorithm::ES256 => EncodingKey::from_ec_pem(&pem("ec256_private")).expect("ec256"),
            Algorithm::ES384 => EncodingKey::from_ec_pem(&pem("ec384_private")).expect("ec384"),
            Algorithm::EdDSA => EncodingKey::from_ed_pem(&pem("ed25519_private")).expect("ed"),
            other => panic!("no test key for {other:?}"),
        }
    }

    /// A deterministic HMAC secret of `len` bytes.
    pub fn hmac_secret(len: usize) -> Vec<u8> {
        (0..len).map(|i| b'a' + (i % 26) as u8).collect()
    }

    /// Signs `claims` with `header`.
    pub fn sign(header: &Header, claims: &Value, key: &EncodingKey) -> String {
        tower_api_auth::crypto::ensure_provider();
        jsonwebtoken::encode(header, claims, key).expect("token signed")
    }

    /// An HS256 token (the default test key) with `header` and `payload` exactly as written:
    /// duplicate keys, trailing bytes, bytes that are not UTF-8 and all.
    pub fn hs256_raw_parts(header: &[u8], payload: &[u8]) -> String {
        tower_api_auth::crypto::ensure_provider();
        let message = format!("{}.{}", super::b64(header), super::b64(payload));
        let signature = jsonwebtoken::crypto::sign(
            message.as_bytes(),
            &EncodingKey::from_secret(HS256_SECRET),
            Algorithm::HS256,
        )
        .expect("signed");
        format!("{message}.{signature}")
    }

    /// Signs `claims` with `alg`'s test key and a plain header.
    pub fn sign_with(alg: Algorithm, claims: &Value) -> String {
        sign(&Header::new(alg), claims, &encoding_key(alg))
    }

    /// An HS256 token (the default test key) with `claims`.
    pub fn hs256(claims: &Value) -> String {
        sign_with(Algorithm::HS256, claims)
    }

    /// Claims of a valid token for `sub`, valid for an hour.
    pub fn claims(sub: &str) -> Value {
        let now = now();
        json!({ "sub": sub, "iat": now, "exp": now + 3600 })
    }

    /// `base` with `extra`'s fields added (or replaced; `null` removes).
    pub fn with(base: Value, extra: Value) -> Value {
        let mut base = base;
        let map = base.as_object_mut().expect("claims object");
        for (key, value) in extra.as_object().expect("extra object") {
            if value.is_null() {
                map.remove(key);
            } else {
                map.insert(key.clone(), value.clone());
            }
        }
        base
    }
}

/// Every log line (TRACE and up, any crate) written on this thread while the returned guard
/// lives; read them with [`Captured::text`]. Use a current-thread runtime, so that the server's
/// and the background tasks run under the subscriber too.
pub fn capture_logs() -> (Captured, tracing::subscriber::DefaultGuard) {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .finish();
    (captured, tracing::subscriber::set_default(subscriber))
}

/// The log lines [`capture_logs`] collected.
#[derive(Clone, Default)]
pub struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl Captured {
    /// Everything written so far.
    pub fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
