//! Helpers of `tests/lifecycle.rs`: a token service with known users, API keys and clients served
//! over real HTTP, a client that records status, headers and body, and stores that record or fail.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::routing::get;
use axum::{Json, Router};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::header::HeaderMap;
use serde_json::Value;
use tower_api_auth::issuer::{
    MemoryRefreshStore, RefreshStore, RefreshTokenHash, Rotation, Session, StoreFuture,
};
use tower_api_auth::{
    Algorithm, AuthLayer, Identity, MemoryKeyProvider, Tenant, api_key::ApiKeyFormat,
    api_key::ApiKeyHasher, api_key::ApiKeys, error::ErrorFormat, issuer::Account,
    issuer::MemoryClients, issuer::PasswordVerifier, issuer::SigningKey, issuer::TokenEndpoints,
    issuer::TokenIssuer, issuer::TokenService, scope::Scopes, store::StoreError,
};

/// The `iss` of every token here.
pub(crate) const ISSUER: &str = "https://auth.lifecycle.test";
/// The `aud` of every token here.
pub(crate) const AUDIENCE: &str = "lifecycle-api";
/// An HS256 secret (32 bytes or more).
pub(crate) const SECRET: &[u8] = b"a-lifecycle-test-secret-of-at-least-32-bytes";

/// Alice: two scopes and more, one tenant.
pub(crate) const ALICE: &str = "alice";
pub(crate) const ALICE_EMAIL: &str = "alice@example.test";
pub(crate) const ALICE_PASSWORD: &str = "correct horse battery staple";
pub(crate) const ALICE_SUB: &str = "user_alice";
pub(crate) const ALICE_SCOPES: &str = "conversations:read conversations:write profile";
/// Bob: one scope, two tenants.
pub(crate) const BOB: &str = "bob";
pub(crate) const BOB_PASSWORD: &str = "hunter2-but-longer";
pub(crate) const BOB_SUB: &str = "user_bob";
pub(crate) const BOB_SCOPES: &str = "conversations:read";
/// The API key's owner, tenants and scopes.
pub(crate) const KEY_OWNER: &str = "svc_reporting";
pub(crate) const KEY_SCOPES: &str = "reports:read reports:write";
/// The OAuth client.
pub(crate) const CLIENT_ID: &str = "client_billing";
pub(crate) const CLIENT_SCOPES: &str = "billing:read billing:write";

/// Now, in unix seconds.
pub(crate) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

/// The bytes of a PEM file in `tests/keys/`.
pub(crate) fn pem(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/keys/{name}.pem", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The decoded JSON header and payload of a JWT.
pub(crate) fn decode_jwt(token: &str) -> (Value, Value) {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "a JWS has three parts: {token}");
    let part = |i: usize| -> Value {
        let bytes = URL_SAFE_NO_PAD.decode(parts[i]).expect("base64url part");
        serde_json::from_slice(&bytes).expect("JSON part")
    };
    (part(0), part(1))
}

/// The payload of a JWT.
pub(crate) fn payload(token: &str) -> Value {
    decode_jwt(token).1
}

/// The hex of the stored hash of a refresh token.
pub(crate) fn hash_hex(refresh_token: &str) -> String {
    let hash = RefreshTokenHash::of(refresh_token).expect("shaped like a refresh token");
    hash.as_bytes().iter().map(|b| format!("{b:02x}")).collect()
}

/// A refresh-token hash of a well-shaped token numbered `n` (for driving a store directly).
pub(crate) fn nth_hash(n: usize) -> RefreshTokenHash {
    let token = format!("rt_{n:0>43}");
    RefreshTokenHash::of(&token).expect("well-shaped")
}

/// The users, by username and by email; wrong password and unknown user alike answer `None`.
pub(crate) struct Users {
    users: HashMap<&'static str, (&'static str, Account)>,
    /// When set, every verification fails like a database that is down.
    pub(crate) down: Arc<AtomicBool>,
}

impl Users {
    pub(crate) fn new() -> Self {
        let alice = Account::new(ALICE_SUB, Scopes::parse(ALICE_SCOPES).unwrap())
            .with_tenants([Tenant::new("tn_a").unwrap()]);
        let bob = Account::new(BOB_SUB, Scopes::parse(BOB_SCOPES).unwrap())
            .with_tenants([Tenant::new("tn_b").unwrap(), Tenant::new("tn_c").unwrap()]);
        let mut users = HashMap::new();
        users.insert(ALICE, (ALICE_PASSWORD, alice.clone()));
        users.insert(ALICE_EMAIL, (ALICE_PASSWORD, alice));
        users.insert(BOB, (BOB_PASSWORD, bob));
        Self {
            users,
            down: Arc::new(AtomicBool::new(false)),
        }
    }
}

impl PasswordVerifier for Users {
    fn verify<'a>(
        &'a self,
        username: &'a str,
        password: &'a str,
    ) -> StoreFuture<'a, Option<Account>> {
        if self.down.load(Ordering::SeqCst) {
            return Box::pin(std::future::ready(Err(StoreError::new(
                "user database is down",
            ))));
        }
        let account = self
            .users
            .get(username)
            .filter(|(expected, _)| *expected == password)
            .map(|(_, account)| account.clone());
        Box::pin(std::future::ready(Ok(account)))
    }
}

/// A refresh store that delegates to a shared [`MemoryRefreshStore`], records the sessions it
/// starts, and fails every call while `failing` is set.
#[derive(Clone)]
pub(crate) struct TestStore {
    pub(crate) inner: Arc<MemoryRefreshStore>,
    pub(crate) started: Arc<Mutex<Vec<Session>>>,
    pub(crate) failing: Arc<AtomicBool>,
}

impl TestStore {
    pub(crate) fn new() -> Self {
        Self {
            inner: Arc::new(MemoryRefreshStore::new()),
            started: Arc::default(),
            failing: Arc::new(AtomicBool::new(false)),
        }
    }

    fn down<T: Send + 'static>(&self) -> Option<StoreFuture<'_, T>> {
        self.failing.load(Ordering::SeqCst).then(|| {
            let failed: StoreFuture<'_, T> = Box::pin(std::future::ready(Err(StoreError::new(
                "refresh store is down",
            ))));
            failed
        })
    }

    /// The last session started.
    pub(crate) fn last_session(&self) -> Session {
        self.started
            .lock()
            .unwrap()
            .last()
            .cloned()
            .expect("a session started")
    }
}

impl RefreshStore for TestStore {
    fn start(&self, session: Session, first: RefreshTokenHash) -> StoreFuture<'_, Option<Session>> {
        if let Some(failed) = self.down() {
            return failed;
        }
        self.started.lock().unwrap().push(session.clone());
        self.inner.start(session, first)
    }

    fn rotate(
        &self,
        presented: RefreshTokenHash,
        next: RefreshTokenHash,
        now: u64,
    ) -> StoreFuture<'_, Rotation> {
        if let Some(failed) = self.down() {
            return failed;
        }
        self.inner.rotate(presented, next, now)
    }

    fn session_of(&self, token: RefreshTokenHash, now: u64) -> StoreFuture<'_, Option<Session>> {
        if let Some(failed) = self.down() {
            return failed;
        }
        self.inner.session_of(token, now)
    }

    fn end(&self, session_id: &str, now: u64) -> StoreFuture<'_, Option<Session>> {
        if let Some(failed) = self.down() {
            return failed;
        }
        self.inner.end(session_id, now)
    }
}

/// How to build a [`Fixture`].
#[derive(Clone, Default)]
pub(crate) struct Options {
    pub(crate) session_ttl: Option<Duration>,
    pub(crate) idle_timeout: Option<Duration>,
    pub(crate) body_limit: Option<usize>,
    pub(crate) error_format: Option<ErrorFormat>,
}

/// A token service with users, an API key and a client, served with the token endpoints under
/// `/v1` and a protected `GET /v1/me`.
pub(crate) struct Fixture {
    pub(crate) server: Server,
    pub(crate) tokens: Arc<TokenService>,
    pub(crate) store: TestStore,
    pub(crate) users_down: Arc<AtomicBool>,
    /// An `sk_live` key of [`KEY_OWNER`] for tenants `tn_a` and `tn_b` with [`KEY_SCOPES`].
    pub(crate) api_key: String,
    /// The secret of [`CLIENT_ID`].
    pub(crate) client_secret: String,
}

async fn me(identity: Identity) -> Json<Identity> {
    Json(identity)
}

/// The issuer every fixture signs with.
pub(crate) fn hs256_issuer() -> TokenIssuer {
    let key = SigningKey::hmac(Algorithm::HS256, SECRET)
        .expect("HS256 key")
        .with_kid("hs-1");
    TokenIssuer::new(key, ISSUER).audience(AUDIENCE)
}

impl Fixture {
    pub(crate) async fn start() -> Self {
        Self::with(Options::default()).await
    }

    pub(crate) async fn with(options: Options) -> Self {
        let users = Users::new();
        let users_down = users.down.clone();
        let (api_key, record) = ApiKeyHasher::default()
            .generate(&ApiKeyFormat::default())
            .with_record(|r| {
                r.with_owner(KEY_OWNER)
                    .with_tenants([Tenant::new("tn_a").unwrap(), Tenant::new("tn_b").unwrap()])
                    .with_scopes(Scopes::parse(KEY_SCOPES).unwrap())
            })
            .into_parts();
        let clients = Arc::new(MemoryClients::new(ApiKeyHasher::default()));
        let client_secret = clients.register(
            CLIENT_ID,
            Scopes::parse(CLIENT_SCOPES).unwrap(),
            vec![Tenant::new("tn_billing").unwrap()],
        );
        let store = TestStore::new();
        let mut service = TokenService::new(hs256_issuer(), store.clone())
            .passwords(users)
            .api_keys(ApiKeys::new(MemoryKeyProvider::from(vec![record])))
            .clients(clients);
        if let Some(ttl) = options.session_ttl {
            service = service.session_ttl(ttl);
        }
        if let Some(idle) = options.idle_timeout {
            service = service.idle_timeout(idle);
        }
        let tokens = Arc::new(service);
        let auth = || {
            let mut builder = AuthLayer::builder()
                .jwt(tokens.validator())
                .revocation(tokens.revocations());
            if let Some(format) = options.error_format {
                builder = builder.error_format(format);
            }
            builder.build().unwrap()
        };
        let mut endpoints = TokenEndpoints::new(tokens.clone());
        if let Some(limit) = options.body_limit {
            endpoints = endpoints.body_limit(limit);
        }
        let protected = Router::new().route("/v1/me", get(me)).route_layer(auth());
        let app = Router::new()
            .nest("/v1", endpoints.router(auth()))
            .merge(protected);
        Self {
            server: serve(app).await,
            tokens,
            store,
            users_down,
            api_key,
            client_secret,
        }
    }

    /// Logs `username` in with JSON and returns the successful grant.
    pub(crate) async fn login(&self, username: &str, password: &str) -> Grant {
        self.login_with(serde_json::json!({ "username": username, "password": password }))
            .await
    }

    /// Logs in with the JSON `body` and returns the successful grant.
    pub(crate) async fn login_with(&self, body: Value) -> Grant {
        let reply = self.server.post_json("/v1/auth/login", &body).await;
        reply.assert_granted()
    }

    /// Refreshes with `refresh_token` at `/v1/auth/refresh`.
    pub(crate) async fn refresh(&self, refresh_token: &str) -> Reply {
        self.server
            .post_json(
                "/v1/auth/refresh",
                &serde_json::json!({ "refresh_token": refresh_token }),
            )
            .await
    }

    /// `GET /v1/me` with `access_token`.
    pub(crate) async fn me(&self, access_token: &str) -> Reply {
        self.server.get("/v1/me").bearer(access_token).send().await
    }
}

/// A successful grant.
#[derive(Debug, Clone)]
pub(crate) struct Grant {
    pub(crate) access_token: String,
    pub(crate) refresh_token: Option<String>,
    pub(crate) scope: String,
    pub(crate) session_id: Option<String>,
    pub(crate) body: Value,
}

impl Grant {
    /// The refresh token, which must be there.
    pub(crate) fn refresh(&self) -> &str {
        self.refresh_token.as_deref().expect("a refresh token")
    }
}

/// What came back over HTTP.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) headers: HeaderMap,
    pub(crate) text: String,
}

impl Reply {
    /// A header as a string, if present.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(name)
            .map(|v| v.to_str().expect("visible ASCII header"))
    }

    /// The body as JSON.
    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {:?}", self.text))
    }

    /// Asserts an RFC 6749 §5.1 success and returns the grant.
    pub(crate) fn assert_granted(&self) -> Grant {
        assert_eq!(self.status, 200, "status of {:?}", self.text);
        assert_eq!(self.header("content-type"), Some("application/json"));
        assert_eq!(self.header("cache-control"), Some("no-store"));
        assert_eq!(self.header("pragma"), Some("no-cache"));
        let body = self.json();
        assert_eq!(body["token_type"], "Bearer", "{body}");
        assert_eq!(body["expires_in"], 900, "{body}");
        let access_token = body["access_token"]
            .as_str()
            .unwrap_or_else(|| panic!("access_token in {body}"))
            .to_owned();
        assert_eq!(access_token.split('.').count(), 3, "a JWS");
        let refresh_token = body.get("refresh_token").map(|r| {
            let r = r.as_str().expect("refresh_token is a string").to_owned();
            assert!(r.starts_with("rt_") && r.len() == 46, "refresh token shape");
            r
        });
        let scope = body["scope"]
            .as_str()
            .unwrap_or_else(|| panic!("scope in {body}"))
            .to_owned();
        let session_id = body
            .get("session_id")
            .map(|s| s.as_str().expect("session_id is a string").to_owned());
        Grant {
            access_token,
            refresh_token,
            scope,
            session_id,
            body,
        }
    }

    /// Asserts a default (`Nested`) error body with `code` and a message; returns the message.
    pub(crate) fn assert_error(&self, status: u16, code: &str) -> String {
        assert_eq!(self.status, status, "status of {:?}", self.text);
        assert_eq!(
            self.header("content-type"),
            Some("application/json"),
            "content type of {:?}",
            self.text
        );
        let body = self.json();
        assert_eq!(body["error"]["code"], code, "body: {body}");
        let message = body["error"]["message"]
            .as_str()
            .unwrap_or_else(|| panic!("message in {body}"))
            .to_owned();
        assert!(!message.is_empty());
        message
    }

    /// Asserts a token-endpoint error: the error body, `Cache-Control: no-store`, and no bearer
    /// challenge for a 400.
    pub(crate) fn assert_grant_error(&self, status: u16, code: &str) -> String {
        let message = self.assert_error(status, code);
        assert_eq!(self.header("cache-control"), Some("no-store"), "{code}");
        if status == 400 || status == 413 || status == 503 {
            assert_eq!(self.header("www-authenticate"), None, "{code}");
        }
        message
    }

    /// Asserts a 401 `token_revoked` with its RFC 6750 challenge.
    pub(crate) fn assert_revoked(&self) {
        self.assert_error(401, "token_revoked");
        assert_eq!(
            self.header("www-authenticate"),
            Some(
                r#"Bearer error="invalid_token", error_description="The access token has been revoked""#
            )
        );
    }

    /// Asserts neither the body nor any header contains `secret`.
    pub(crate) fn assert_no_leak(&self, secret: &str) {
        assert!(
            !self.text.contains(secret),
            "leaked in body {:?}",
            self.text
        );
        for (name, value) in &self.headers {
            let value = String::from_utf8_lossy(value.as_bytes());
            assert!(!value.contains(secret), "leaked in header {name}");
        }
    }
}

/// A request to the test server.
pub(crate) struct Call {
    builder: reqwest::RequestBuilder,
}

impl Call {
    /// Adds a header.
    pub(crate) fn header(mut self, name: &str, value: &str) -> Self {
        self.builder = self.builder.header(name, value);
        self
    }

    /// `Authorization: Bearer <token>`.
    pub(crate) fn bearer(self, token: &str) -> Self {
        self.header("authorization", &format!("Bearer {token}"))
    }

    /// `Authorization: Basic base64(<id>:<secret>)`.
    pub(crate) fn basic(self, id: &str, secret: &str) -> Self {
        let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
        self.header("authorization", &format!("Basic {encoded}"))
    }

    /// A JSON body.
    pub(crate) fn json(mut self, body: &Value) -> Self {
        self.builder = self
            .builder
            .header("content-type", "application/json")
            .body(body.to_string());
        self
    }

    /// An `application/x-www-form-urlencoded` body, given already encoded.
    pub(crate) fn form(mut self, body: &str) -> Self {
        self.builder = self
            .builder
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.to_owned());
        self
    }

    /// A raw body with `content_type`.
    pub(crate) fn raw(mut self, content_type: &str, body: impl Into<String>) -> Self {
        self.builder = self
            .builder
            .header("content-type", content_type)
            .body(body.into());
        self
    }

    /// Sends it.
    pub(crate) async fn send(self) -> Reply {
        let response = self.builder.send().await.expect("request sent");
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

/// A running test server.
#[derive(Clone)]
pub(crate) struct Server {
    base: String,
    client: reqwest::Client,
}

impl Server {
    /// `GET <path>`.
    pub(crate) fn get(&self, path: &str) -> Call {
        Call {
            builder: self.client.get(format!("{}{path}", self.base)),
        }
    }

    /// `POST <path>`.
    pub(crate) fn post(&self, path: &str) -> Call {
        Call {
            builder: self.client.post(format!("{}{path}", self.base)),
        }
    }

    /// `POST <path>` with a JSON body.
    pub(crate) async fn post_json(&self, path: &str, body: &Value) -> Reply {
        self.post(path).json(body).send().await
    }

    /// `POST <path>` with a form body.
    pub(crate) async fn post_form(&self, path: &str, body: &str) -> Reply {
        self.post(path).form(body).send().await
    }
}

/// Serves `app` on 127.0.0.1 with an OS-chosen port, in the background.
pub(crate) async fn serve(app: Router) -> Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("local addr");
    tokio::spawn(async move {
        axum::serve(listener, app).await.expect("server");
    });
    Server {
        base: format!("http://{addr}"),
        client: reqwest::Client::new(),
    }
}

/// Percent-encodes a form value (tokens are URL-safe already; this covers `+`, `/`, `=`, spaces).
pub(crate) fn form_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char);
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}
